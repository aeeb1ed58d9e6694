//! The blocking driver: the sans-IO core over `std::net::TcpStream`.
//!
//! It owns the socket and nothing else; every decision is the core's.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
#[cfg(unix)]
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use postie_mime::Message;
use rustls::{ClientConfig, ClientConnection, StreamOwned};

use crate::data::BodyFramer;
use crate::envelope::{self, LocalEnv, Prepared};
use crate::error::{Cause, Error, ServerAddr, Stage};
use crate::options::SendOptions;
use crate::outcome::Sent;
use crate::proto::{Delivery, Step};
use crate::setup::mime_io;
use crate::tls::{self, TlsError, TlsErrorKind, TlsInfo};

mod pool;
mod session;

pub use crate::pool_defaults::{DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_SIZE};
pub use pool::Pool;
pub use session::Session;

/// Bytes gathered before a write while streaming the body.
const BODY_BUFFER: usize = 16 * 1024;
/// How much longer than the time left a body write may wait as the
/// deadline nears: the socket's limit is set again only when the time
/// left falls this far below it (setting it before every 16 KiB write was
/// a system call each).
const TIMEOUT_SLACK: Duration = Duration::from_millis(10);

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
    let span = tracing::info_span!(
        "postie_smtp::send",
        recipients = prepared.recipients().len()
    );
    let _entered = span.enter();
    let setup = crate::setup::Setup::once(message, prepared, options)?;
    let mut delivery = setup.delivery()?;
    let mut conn = None;
    drive(
        &mut delivery,
        &mut conn,
        setup.tls_config.as_ref(),
        options,
        |w, seven_bit_body| {
            crate::setup::write_body(
                message,
                prepared,
                setup.seven_bit.as_ref(),
                seven_bit_body,
                w,
            )
        },
    )?;
    delivery.into_result()
}

/// Runs the core to the end over TCP. `write_body` writes the message
/// (before dot-stuffing) when the server is ready for it: its 7-bit
/// rewrite when the flag says so.
fn drive(
    delivery: &mut Delivery,
    conn: &mut Option<Conn>,
    tls_config: Option<&Arc<ClientConfig>>,
    options: &SendOptions,
    mut write_body: impl FnMut(&mut dyn Write, bool) -> Result<(), postie_mime::Error>,
) -> Result<(), Error> {
    let on_trace = options.on_trace.as_ref();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let now = Instant::now();
        let step = delivery.poll(now);
        let span = tracing::debug_span!(
            "smtp",
            server = %delivery.server().map(ToString::to_string).unwrap_or_default(),
            stage = delivery.stage().map(Stage::as_str).unwrap_or("none"),
        );
        let _entered = span.enter();
        if let Some(callback) = on_trace {
            while let Some(line) = delivery.poll_trace() {
                callback(&line);
            }
        }
        match step {
            #[cfg(unix)]
            Step::Connect { server, .. } if server.is_unix() => {
                match UnixStream::connect(&server.host) {
                    Ok(stream) => {
                        *conn = Some(Conn::Unix(stream));
                        // A local socket: as private as loopback.
                        delivery.handle_connected(Instant::now(), true);
                    }
                    Err(e) => delivery.handle_connect_failed(Instant::now(), Cause::Connect(e)),
                }
            }
            Step::Connect { server, timeout } => match connect(&server, timeout) {
                Ok(stream) => {
                    let loopback = stream.peer_addr().is_ok_and(|a| a.ip().is_loopback());
                    *conn = Some(Conn::Plain(stream));
                    delivery.handle_connected(Instant::now(), loopback);
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
                    .set_read_timeout(timeout)
                    .and_then(|()| stream.read(&mut buf));
                match result {
                    Ok(0) => delivery.handle_eof(Instant::now()),
                    // A TLS peer that closes without close_notify.
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                        delivery.handle_eof(Instant::now())
                    }
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
                let deadline = remaining.and_then(|r| Instant::now().checked_add(r));
                let mut writer =
                    BodyWriter::new(stream, timeout, deadline, delivery.body_framing());
                writer.progress = options
                    .on_progress
                    .as_ref()
                    .map(|callback| (callback, delivery.body_size()));
                let result = match write_body(&mut writer, delivery.seven_bit_body()) {
                    Ok(()) => writer.finish(),
                    Err(e) => Err(mime_io(e)),
                };
                match result {
                    Ok(()) => delivery.handle_body_written(Instant::now()),
                    Err(e) => report_io(delivery, e),
                }
            }
            Step::StartTls {
                server_name,
                timeout,
            } => {
                let result = match (conn.take(), tls_config) {
                    (Some(Conn::Plain(tcp)), Some(config)) => {
                        start_tls(tcp, Arc::clone(config), &server_name, timeout)
                    }
                    _ => Err(TlsError::new(
                        TlsErrorKind::Setup,
                        "TLS was asked for on a connection that cannot start it",
                    )),
                };
                match result {
                    Ok(stream) => {
                        let info = TlsInfo::of(&stream.conn);
                        *conn = Some(Conn::Tls(Box::new(stream)));
                        delivery.handle_tls_established(Instant::now(), info);
                    }
                    Err(e) => delivery.handle_tls_failed(Instant::now(), e),
                }
            }
            Step::Measure => {
                let mut counter = crate::data::SizeCounter::default();
                match write_body(&mut counter, delivery.seven_bit_body()) {
                    Ok(()) => delivery.handle_measured(Instant::now(), counter.finish()),
                    Err(e) => delivery.handle_measure_failed(Instant::now(), mime_io(e)),
                }
            }
            Step::Close => *conn = None,
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

fn write_all(stream: &mut Conn, bytes: &[u8], timeout: Duration) -> io::Result<()> {
    stream.set_write_timeout(timeout)?;
    stream.write_all(bytes)?;
    stream.flush()
}

/// The connection: TCP in clear or in TLS, or a Unix socket (LMTP).
enum Conn {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
    #[cfg(unix)]
    Unix(UnixStream),
}

impl Conn {
    /// Whether an idle connection still looks open: a server that closed
    /// it, or announced it would (421), has left something to read. A
    /// non-blocking peek, no round trip.
    fn looks_alive(&self) -> bool {
        let mut byte = [0u8; 1];
        let would_block =
            |r: io::Result<usize>| matches!(r, Err(ref e) if e.kind() == io::ErrorKind::WouldBlock);
        match self {
            Self::Plain(tcp) => quiet(tcp, TcpStream::set_nonblocking, |t| {
                would_block(t.peek(&mut byte))
            }),
            Self::Tls(stream) => quiet(stream.get_ref(), TcpStream::set_nonblocking, |t| {
                would_block(t.peek(&mut byte))
            }),
            #[cfg(unix)]
            // No peek on Unix sockets in std: a byte read here would only
            // be the start of a goodbye, and the connection is dropped then.
            Self::Unix(unix) => quiet(unix, UnixStream::set_nonblocking, |mut u| {
                would_block(u.read(&mut byte))
            }),
        }
    }

    fn set_read_timeout(&self, timeout: Duration) -> io::Result<()> {
        let timeout = Some(timeout.max(Duration::from_millis(1)));
        match self {
            Self::Plain(tcp) => tcp.set_read_timeout(timeout),
            Self::Tls(stream) => stream.get_ref().set_read_timeout(timeout),
            #[cfg(unix)]
            Self::Unix(unix) => unix.set_read_timeout(timeout),
        }
    }

    fn set_write_timeout(&self, timeout: Duration) -> io::Result<()> {
        let timeout = Some(timeout.max(Duration::from_millis(1)));
        match self {
            Self::Plain(tcp) => tcp.set_write_timeout(timeout),
            Self::Tls(stream) => stream.get_ref().set_write_timeout(timeout),
            #[cfg(unix)]
            Self::Unix(unix) => unix.set_write_timeout(timeout),
        }
    }
}

/// Runs `check` on `socket` in non-blocking mode; false if the mode cannot
/// be switched.
fn quiet<S>(
    socket: &S,
    set_nonblocking: fn(&S, bool) -> io::Result<()>,
    check: impl FnOnce(&S) -> bool,
) -> bool {
    if set_nonblocking(socket, true).is_err() {
        return false;
    }
    let alive = check(socket);
    set_nonblocking(socket, false).is_ok() && alive
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Plain(tcp) => tcp.read(buf),
            Self::Tls(stream) => stream.read(buf),
            #[cfg(unix)]
            Self::Unix(unix) => unix.read(buf),
        }
    }
}

impl Conn {
    /// Writes all of `bytes`, each system call that writes bounded by
    /// `limit` (see [`WriteLimit`]). TLS records are written here rather
    /// than by rustls's stream, whose write and flush may make several
    /// socket calls (and a flush may wait to read) under one limit.
    fn write_all_within(&mut self, bytes: &[u8], limit: &mut WriteLimit) -> io::Result<()> {
        match self {
            Self::Plain(tcp) => write_each(tcp, bytes, limit, |t, d| t.set_write_timeout(Some(d))),
            #[cfg(unix)]
            Self::Unix(unix) => write_each(unix, bytes, limit, |u, d| u.set_write_timeout(Some(d))),
            Self::Tls(stream) => {
                let StreamOwned { conn, sock } = &mut **stream;
                let mut rest = bytes;
                loop {
                    while conn.wants_write() {
                        limit.apply(|d| sock.set_write_timeout(Some(d)))?;
                        match conn.write_tls(sock) {
                            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                            Ok(_) => {}
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                            Err(e) => return Err(e),
                        }
                    }
                    if rest.is_empty() {
                        return Ok(());
                    }
                    // rustls takes what fits in its buffer (the buffer is
                    // empty here, so at least some).
                    match conn.writer().write(rest)? {
                        0 => return Err(io::ErrorKind::WriteZero.into()),
                        n => rest = rest.get(n..).unwrap_or_default(),
                    }
                }
            }
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Plain(tcp) => tcp.write(buf),
            Self::Tls(stream) => stream.write(buf),
            #[cfg(unix)]
            Self::Unix(unix) => unix.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Plain(tcp) => tcp.flush(),
            Self::Tls(stream) => stream.flush(),
            #[cfg(unix)]
            Self::Unix(unix) => unix.flush(),
        }
    }
}

/// Runs the TLS handshake on `tcp`, keeping the first bytes the server
/// sent so that a plain-text answer can be recognised and named.
fn start_tls(
    tcp: TcpStream,
    config: Arc<ClientConfig>,
    host: &str,
    timeout: Duration,
) -> Result<StreamOwned<ClientConnection, TcpStream>, TlsError> {
    let name = tls::server_name(host)?;
    let mut conn = ClientConnection::new(config, name)
        .map_err(|e| TlsError::new(TlsErrorKind::Setup, e.to_string()))?;
    let deadline = Instant::now().checked_add(timeout);
    let io_error = |e: io::Error| TlsError::new(TlsErrorKind::Io, format!("TLS handshake: {e}"));
    let mut recorder = FirstBytes {
        tcp: &tcp,
        first: Vec::new(),
    };
    while conn.is_handshaking() {
        let left = deadline.map_or(timeout, |d| d.saturating_duration_since(Instant::now()));
        if left.is_zero() {
            return Err(TlsError::new(TlsErrorKind::Io, "TLS handshake timed out"));
        }
        tcp.set_read_timeout(Some(left)).map_err(io_error)?;
        tcp.set_write_timeout(Some(left)).map_err(io_error)?;
        if let Err(e) = conn.complete_io(&mut recorder) {
            let first = recorder.first.as_slice();
            return Err(
                match e
                    .get_ref()
                    .and_then(|inner| inner.downcast_ref::<rustls::Error>())
                {
                    Some(tls_error) => TlsError::from_rustls(tls_error, host, first),
                    None if is_timeout(&e) => TlsError::new(
                        TlsErrorKind::Io,
                        "TLS handshake timed out (does this port speak TLS?)",
                    ),
                    None => match TlsError::from_rustls(
                        &rustls::Error::General(e.to_string()),
                        host,
                        first,
                    ) {
                        plain if plain.kind() == TlsErrorKind::PlaintextServer => plain,
                        _ => io_error(e),
                    },
                },
            );
        }
    }
    Ok(StreamOwned::new(conn, tcp))
}

/// Passes reads and writes through, keeping the first bytes read.
struct FirstBytes<'a> {
    tcp: &'a TcpStream,
    first: Vec<u8>,
}

impl Read for FirstBytes<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = (&mut &*self.tcp).read(buf)?;
        if self.first.len() < 64 {
            let take = n.min(64 - self.first.len());
            self.first
                .extend_from_slice(buf.get(..take).unwrap_or_default());
        }
        Ok(n)
    }
}

impl Write for FirstBytes<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&mut &*self.tcp).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        (&mut &*self.tcp).flush()
    }
}

/// Resolves `server` (within `timeout`) and tries each of its addresses
/// (IPv6 and IPv4, in the resolver's order), each within `timeout`, so an
/// address that swallows packets does not keep the others from being tried.
/// The core has already cut `timeout` down to what the deadline leaves.
fn connect(server: &ServerAddr, timeout: Duration) -> Result<TcpStream, Cause> {
    let addrs = resolve(server, timeout)?;
    let mut last_error = None;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout.max(Duration::from_millis(1))) {
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

/// The system resolver blocks with no limit of its own, so it runs on a
/// helper thread that is abandoned if it takes longer than `timeout`.
fn resolve(server: &ServerAddr, timeout: Duration) -> Result<Vec<SocketAddr>, Cause> {
    let target = (server.host.clone(), server.port);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("postie-resolve".to_owned())
        .spawn(move || {
            let result = target
                .to_socket_addrs()
                .map(|addrs| addrs.collect::<Vec<_>>());
            let _ = tx.send(result);
        })
        .map_err(Cause::Resolve)?;
    let addrs = match rx.recv_timeout(timeout.max(Duration::from_millis(1))) {
        Ok(result) => result.map_err(Cause::Resolve)?,
        Err(_) => {
            return Err(Cause::Resolve(io::Error::new(
                io::ErrorKind::TimedOut,
                "name resolution timed out",
            )))
        }
    };
    if addrs.is_empty() {
        return Err(Cause::Resolve(io::Error::new(
            io::ErrorKind::NotFound,
            "the name has no addresses",
        )));
    }
    Ok(addrs)
}

/// Dot-stuffs and CRLF-repairs the message on its way to the socket,
/// through a bounded buffer, so memory does not grow with the message.
struct BodyWriter<'a> {
    stream: &'a mut Conn,
    framer: BodyFramer,
    buf: Vec<u8>,
    limit: WriteLimit,
    /// Who hears of the progress, and the size to report against.
    progress: Option<(&'a crate::options::ProgressFn, Option<u64>)>,
    sent: u64,
}

impl<'a> BodyWriter<'a> {
    fn new(
        stream: &'a mut Conn,
        timeout: Duration,
        deadline: Option<Instant>,
        framing: crate::proto::Framing,
    ) -> Self {
        let mut buf = Vec::with_capacity(BODY_BUFFER + BODY_BUFFER / 8);
        let framer = BodyFramer::new(framing, &mut buf);
        Self {
            stream,
            framer,
            buf,
            limit: WriteLimit {
                timeout,
                deadline,
                applied: None,
            },
            progress: None,
            sent: 0,
        }
    }

    fn flush_buf(&mut self) -> io::Result<()> {
        self.stream.write_all_within(&self.buf, &mut self.limit)?;
        self.sent += self.buf.len() as u64;
        self.buf.clear();
        if let Some((callback, total)) = self.progress {
            callback(crate::options::Progress {
                sent: self.sent,
                total,
            });
        }
        Ok(())
    }

    /// Ends the data with its terminator, written together with the last
    /// bytes of the message.
    fn finish(mut self) -> io::Result<()> {
        self.framer.finish(&mut self.buf)?;
        self.flush_buf()
    }
}

/// How long one socket write of the body may block: the stage's limit, cut
/// to what the deadline leaves. It is applied before every system call
/// that writes, not once per buffer: a server that takes a few bytes at a
/// time lets each call make some progress, so a limit per buffer (or per
/// `write_all`) would let it stretch the send far past the deadline.
struct WriteLimit {
    timeout: Duration,
    deadline: Option<Instant>,
    /// The write limit the socket has now, so it is set again only when
    /// it must change.
    applied: Option<Duration>,
}

impl WriteLimit {
    /// Sets the socket's write limit (through `set`) when it must change;
    /// an error once the deadline has passed.
    fn apply(&mut self, set: impl FnOnce(Duration) -> io::Result<()>) -> io::Result<()> {
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
        let stale = self
            .applied
            .is_none_or(|set| timeout > set || set - timeout > TIMEOUT_SLACK);
        if stale {
            set(timeout.max(Duration::from_millis(1)))?;
            self.applied = Some(timeout);
        }
        Ok(())
    }
}

/// Writes all of `bytes` to a socket, setting its write limit before each
/// system call.
fn write_each<S: Write>(
    socket: &mut S,
    bytes: &[u8],
    limit: &mut WriteLimit,
    set: impl Fn(&S, Duration) -> io::Result<()>,
) -> io::Result<()> {
    let mut rest = bytes;
    while !rest.is_empty() {
        limit.apply(|d| set(socket, d))?;
        match socket.write(rest) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => rest = rest.get(n..).unwrap_or_default(),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

impl Write for BodyWriter<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        // A slice at a time, so the buffer stays bounded however large one
        // write is (an in-memory attachment comes in one piece).
        // A full buffer goes out only when more follows, so the last bytes
        // of the message always leave with the end of data.
        for slice in data.chunks(BODY_BUFFER) {
            if self.buf.len() >= BODY_BUFFER {
                self.flush_buf()?;
            }
            self.framer.encode(slice, &mut self.buf)?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    /// A socket whose every write blocks for the whole limit it was given
    /// and then takes a few bytes, as a kernel's send does (SO_SNDTIMEO)
    /// when the server reads a little at a time.
    struct Trickle {
        limit: Cell<Duration>,
        taken: usize,
    }

    impl Write for Trickle {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            std::thread::sleep(self.limit.get());
            let n = bytes.len().min(4);
            self.taken += n;
            Ok(n)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn each_write_call_is_bounded_by_what_the_deadline_leaves() {
        let mut socket = Trickle {
            limit: Cell::new(Duration::ZERO),
            taken: 0,
        };
        let started = Instant::now();
        let mut limit = WriteLimit {
            timeout: Duration::from_secs(10),
            deadline: started.checked_add(Duration::from_millis(300)),
            applied: None,
        };
        let err = write_each(&mut socket, &[b'x'; 1024], &mut limit, |s, d| {
            s.limit.set(d);
            Ok(())
        })
        .unwrap_err();
        let elapsed = started.elapsed();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        // A limit set once for the buffer would let each of its 256
        // partial writes wait the 300 ms again.
        assert!(elapsed < Duration::from_millis(900), "{elapsed:?}");
        assert!(socket.taken < 1024);
    }
}
