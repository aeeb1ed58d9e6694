//! The blocking driver: the sans-IO core over `std::net::TcpStream`.
//!
//! It owns the socket and nothing else; every decision is the core's.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use postie_mime::Message;

use crate::data::DataEncoder;
use crate::envelope::{self, LocalEnv, Prepared};
use crate::error::{Cause, Error, InvalidInput, ServerAddr};
use crate::options::SendOptions;
use crate::outcome::Sent;
use crate::proto::{Config, Delivery, Step};

/// Bytes gathered before a write while streaming the body.
const BODY_BUFFER: usize = 64 * 1024;

/// Sends `message` as tcllib's `::smtp::sendmessage` does, with postie's
/// fixes: returns what the server accepted (and, with the at-least-one
/// option, the recipients it refused), or an error that names the server,
/// the stage, the code and the text.
///
/// The caller's message is not changed.
///
/// ```no_run
/// use postie_mime::Message;
/// use postie_smtp::SendOptions;
///
/// let mut msg = Message::text("This is the message.");
/// msg.headers_mut().set("Subject", "This is the subject.")?;
/// let sent = postie_smtp::send(&msg, &SendOptions::new().recipients("someone@example.org"))?;
/// for refusal in sent.refused() {
///     println!("{}\t{}\t{}", refusal.address(), refusal.code(), refusal.text());
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn send(message: &Message, options: &SendOptions) -> Result<Sent, Error> {
    send_with_env(message, options, &LocalEnv::from_system())
}

/// [`send`] with the host name, user and time given rather than read from
/// the system.
pub fn send_with_env(
    message: &Message,
    options: &SendOptions,
    env: &LocalEnv,
) -> Result<Sent, Error> {
    let prepared = envelope::prepare(message, options, env)?;
    send_prepared(message, &prepared, options)
}

/// Sends a message whose envelope and fields were already derived with
/// [`envelope::prepare`].
pub fn send_prepared(
    message: &Message,
    prepared: &Prepared,
    options: &SendOptions,
) -> Result<Sent, Error> {
    let size = prepared.size(message).map_err(InvalidInput::Message)?;
    let config = Config {
        servers: prepared.servers().to_vec(),
        client: prepared.client().to_owned(),
        reverse_path: prepared.reverse_path(),
        recipients: prepared.recipients(),
        size: Some(size),
        at_least_one: options.at_least_one,
        timeouts: options.timeouts,
    };
    let mut delivery = Delivery::new(config, Instant::now())?;
    drive(&mut delivery, |w| prepared.write_message(message, w))?;
    delivery.into_result()
}

/// Runs the core to the end over TCP. `write_body` writes the message
/// (before dot-stuffing) when the server is ready for it.
fn drive(
    delivery: &mut Delivery,
    mut write_body: impl FnMut(&mut dyn Write) -> Result<(), postie_mime::Error>,
) -> Result<(), Error> {
    let mut conn: Option<TcpStream> = None;
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let now = Instant::now();
        match delivery.poll(now) {
            Step::Connect { server, timeout } => match connect(&server, timeout) {
                Ok(stream) => {
                    conn = Some(stream);
                    delivery.handle_connected(Instant::now());
                }
                Err(cause) => delivery.handle_connect_failed(Instant::now(), cause),
            },
            Step::Write { timeout } => {
                let out = delivery.take_output();
                let result = match conn.as_mut() {
                    Some(stream) => write_all(stream, &out, timeout),
                    None => Err(not_connected()),
                };
                if let Err(e) = result {
                    report_io(delivery, e);
                }
            }
            Step::Read { timeout } => {
                let Some(stream) = conn.as_mut() else {
                    delivery.handle_io_error(Instant::now(), not_connected());
                    continue;
                };
                let result = stream
                    .set_read_timeout(Some(timeout.max(Duration::from_millis(1))))
                    .and_then(|()| stream.read(&mut buf));
                match result {
                    Ok(0) => delivery.handle_eof(Instant::now()),
                    Ok(n) => {
                        delivery.handle_input(Instant::now(), buf.get(..n).unwrap_or_default())
                    }
                    Err(e) if is_timeout(&e) => delivery.handle_timeout(Instant::now()),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => delivery.handle_io_error(Instant::now(), e),
                }
            }
            Step::WriteBody { timeout, remaining } => {
                let Some(stream) = conn.as_mut() else {
                    delivery.handle_io_error(Instant::now(), not_connected());
                    continue;
                };
                let deadline = remaining.map(|r| Instant::now() + r);
                let mut writer = BodyWriter::new(stream, timeout, deadline);
                let result = match write_body(&mut writer) {
                    Ok(()) => writer.finish(),
                    Err(postie_mime::Error::Io(e)) => Err(e),
                    Err(other) => Err(io::Error::other(other.to_string())),
                };
                match result {
                    Ok(()) => delivery.handle_body_written(Instant::now()),
                    Err(e) => report_io(delivery, e),
                }
            }
            Step::Close => conn = None,
            Step::Done => return Ok(()),
        }
    }
}

fn report_io(delivery: &mut Delivery, e: io::Error) {
    if is_timeout(&e) {
        delivery.handle_timeout(Instant::now());
    } else {
        delivery.handle_io_error(Instant::now(), e);
    }
}

fn not_connected() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "no connection")
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

fn write_all(stream: &mut TcpStream, bytes: &[u8], timeout: Duration) -> io::Result<()> {
    stream.set_write_timeout(Some(timeout.max(Duration::from_millis(1))))?;
    stream.write_all(bytes)?;
    stream.flush()
}

/// Resolves `server` and tries each of its addresses (IPv6 and IPv4, in
/// the resolver's order) until one accepts, all within `timeout`.
fn connect(server: &ServerAddr, timeout: Duration) -> Result<TcpStream, Cause> {
    let deadline = Instant::now() + timeout;
    let addrs: Vec<SocketAddr> = (server.host.as_str(), server.port)
        .to_socket_addrs()
        .map_err(Cause::Resolve)?
        .collect();
    if addrs.is_empty() {
        return Err(Cause::Resolve(io::Error::new(
            io::ErrorKind::NotFound,
            "the name has no addresses",
        )));
    }
    let mut last_error = None;
    for addr in addrs {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            last_error = Some(io::Error::new(io::ErrorKind::TimedOut, "connect timed out"));
            break;
        }
        match TcpStream::connect_timeout(&addr, left) {
            Ok(stream) => {
                // Commands and the end of data are small writes; without
                // NODELAY each waits for the server's delayed ACK.
                stream.set_nodelay(true).map_err(Cause::Connect)?;
                return Ok(stream);
            }
            Err(e) => last_error = Some(e),
        }
    }
    Err(Cause::Connect(last_error.unwrap_or_else(|| {
        io::Error::new(io::ErrorKind::NotConnected, "no address could be reached")
    })))
}

/// Dot-stuffs and CRLF-repairs the message on its way to the socket,
/// through a bounded buffer, so memory does not grow with the message.
struct BodyWriter<'a> {
    stream: &'a mut TcpStream,
    encoder: DataEncoder,
    buf: Vec<u8>,
    timeout: Duration,
    deadline: Option<Instant>,
}

impl<'a> BodyWriter<'a> {
    fn new(stream: &'a mut TcpStream, timeout: Duration, deadline: Option<Instant>) -> Self {
        Self {
            stream,
            encoder: DataEncoder::new(),
            buf: Vec::with_capacity(BODY_BUFFER + BODY_BUFFER / 8),
            timeout,
            deadline,
        }
    }

    fn flush_buf(&mut self) -> io::Result<()> {
        let timeout = match self.deadline {
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(io::Error::new(io::ErrorKind::TimedOut, "deadline passed"));
                }
                self.timeout.min(left)
            }
            None => self.timeout,
        };
        write_all(self.stream, &self.buf, timeout)?;
        self.buf.clear();
        Ok(())
    }

    /// Ends the data with its terminator, written together with the last
    /// bytes of the message.
    fn finish(mut self) -> io::Result<()> {
        self.encoder.finish(&mut self.buf);
        self.flush_buf()
    }
}

impl Write for BodyWriter<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.encoder.encode(data, &mut self.buf);
        if self.buf.len() >= BODY_BUFFER {
            self.flush_buf()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
