//! The tokio driver: the sans-IO core over `tokio::net::TcpStream` and
//! tokio-rustls (feature `tokio`).
//!
//! It makes the same calls into [`crate::proto::Delivery`] as the
//! [`crate::blocking`] driver, with the same options, TLS and SASL: every
//! decision is the core's, so the two drivers behave alike by
//! construction, and the integration tests run on both.
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use postie_mime::Message;
//! use postie_smtp::SendOptions;
//!
//! let mut msg = Message::text("This is the message.");
//! msg.headers_mut().set("Subject", "This is the subject.")?;
//! let options = SendOptions::new().recipients("someone@example.org");
//! let sent = postie_smtp::async_tokio::send(&msg, &options).await?;
//! println!("accepted: {}", sent.reply());
//! # Ok(())
//! # }
//! ```
//!
//! The message is pulled through [`postie_mime::MessageStream`], a chunk at
//! a time, so memory stays bounded whatever its size. A file attached to
//! the message is read on the task between writes, in 57 KiB reads; that
//! suits local files (the page cache answers at once), not a slow network
//! file system.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use postie_mime::{Message, MessageStream};
use rustls::ClientConfig;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tracing::Instrument as _;

use crate::data::BodyFramer;
use crate::envelope::{self, LocalEnv, Prepared};
use crate::error::{Cause, Error, ServerAddr, Stage};
use crate::options::SendOptions;
use crate::outcome::Sent;
use crate::proto::{Delivery, Step};
use crate::setup::{body_reader, mime_io, Setup};
use crate::tls::{self, TlsError, TlsErrorKind, TlsInfo};

mod pool;
mod session;

pub use pool::Pool;
pub use session::Session;

/// Bytes gathered before a write while streaming the body.
const BODY_BUFFER: usize = 16 * 1024;

/// [`crate::blocking::send`] on tokio: returns what the server accepted
/// (and the refused recipients, with the at-least-one option), or an error
/// naming the server, the stage, the code and the text. The caller's
/// message is not changed.
pub async fn send(message: &Message, options: &SendOptions) -> Result<Sent, Error> {
    send_with_env(message, options, &LocalEnv::from_system()).await
}

/// [`send`] with the host name, user and time given rather than read from
/// the system.
pub async fn send_with_env(
    message: &Message,
    options: &SendOptions,
    env: &LocalEnv,
) -> Result<Sent, Error> {
    let prepared = envelope::prepare(message, options, env)?;
    send_prepared(message, &prepared, options).await
}

/// Sends a message whose envelope and fields were already derived with
/// [`envelope::prepare`].
pub async fn send_prepared(
    message: &Message,
    prepared: &Prepared,
    options: &SendOptions,
) -> Result<Sent, Error> {
    let span = tracing::info_span!(
        "postie_smtp::send",
        recipients = prepared.recipients().len()
    );
    async {
        let setup = Setup::once(message, prepared, options)?;
        let Setup {
            config: _,
            tls_config,
            seven_bit,
        } = &setup;
        let mut delivery = setup.delivery()?;
        let body =
            |seven_bit_body| body_reader(message, prepared, seven_bit.as_ref(), seven_bit_body);
        let mut conn = None;
        drive(&mut delivery, &mut conn, tls_config.as_ref(), options, body).await;
        delivery.into_result()
    }
    .instrument(span)
    .await
}

/// Runs the core to the end (or to an idle kept connection).
async fn drive<'m>(
    delivery: &mut Delivery,
    conn: &mut Option<Conn>,
    tls_config: Option<&Arc<ClientConfig>>,
    options: &SendOptions,
    body: impl Fn(bool) -> Result<MessageStream<'m>, postie_mime::Error>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let step = delivery.poll(Instant::now());
        if let Some(callback) = options.on_trace.as_ref() {
            while let Some(line) = delivery.poll_trace() {
                callback(&line);
            }
        }
        let span = tracing::debug_span!(
            "smtp",
            server = %delivery.server().map(ToString::to_string).unwrap_or_default(),
            stage = delivery.stage().map(Stage::as_str).unwrap_or("none"),
        );
        let done = run_step(step, delivery, conn, &mut buf, (tls_config, options), &body)
            .instrument(span)
            .await;
        if done {
            return;
        }
    }
}

/// Carries out one step; true at [`Step::Done`].
async fn run_step<'m>(
    step: Step,
    delivery: &mut Delivery,
    conn: &mut Option<Conn>,
    buf: &mut [u8],
    (tls_config, options): (Option<&Arc<ClientConfig>>, &SendOptions),
    body: &impl Fn(bool) -> Result<MessageStream<'m>, postie_mime::Error>,
) -> bool {
    match step {
        #[cfg(unix)]
        Step::Connect { server, timeout } if server.is_unix() => {
            let connecting = tokio::net::UnixStream::connect(&server.host);
            match within(timeout, connecting).await {
                Ok(stream) => {
                    *conn = Some(Conn::Unix(stream));
                    // A local socket: as private as loopback.
                    delivery.handle_connected(Instant::now(), true);
                }
                Err(e) => delivery.handle_connect_failed(Instant::now(), Cause::Connect(e)),
            }
        }
        Step::Connect { server, timeout } => match connect(&server, timeout).await {
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
                Some(stream) => within(timeout, stream.write_all_flush(&out)).await,
                None => Err(not_connected()),
            };
            if let Err(e) = result {
                report_io(delivery, e);
            }
        }
        Step::Read { timeout } => {
            let Some(stream) = conn.as_mut() else {
                delivery.handle_io_error(Instant::now(), not_connected());
                return false;
            };
            match within(timeout, stream.read(buf)).await {
                Ok(0) => delivery.handle_eof(Instant::now()),
                Ok(n) => delivery.handle_input(Instant::now(), buf.get(..n).unwrap_or_default()),
                // A TLS peer that closes without close_notify.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    delivery.handle_eof(Instant::now())
                }
                Err(e) => report_io(delivery, e),
            }
        }
        Step::WriteBody { timeout, remaining } => {
            let Some(stream) = conn.as_mut() else {
                delivery.handle_io_error(Instant::now(), not_connected());
                return false;
            };
            let deadline = remaining.and_then(|r| Instant::now().checked_add(r));
            let result = match body(delivery.seven_bit_body()) {
                Ok(reader) => {
                    let progress = options
                        .on_progress
                        .as_ref()
                        .map(|callback| (callback, delivery.body_size()));
                    let limits = (timeout, deadline);
                    write_body(stream, reader, limits, delivery.body_framing(), progress).await
                }
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
                    start_tls(tcp, Arc::clone(config), &server_name, timeout).await
                }
                _ => Err(TlsError::new(
                    TlsErrorKind::Setup,
                    "TLS was asked for on a connection that cannot start it",
                )),
            };
            match result {
                Ok(stream) => {
                    let info = TlsInfo::of(stream.get_ref().1);
                    *conn = Some(Conn::Tls(Box::new(stream)));
                    delivery.handle_tls_established(Instant::now(), info);
                }
                Err(e) => delivery.handle_tls_failed(Instant::now(), e),
            }
        }
        Step::Measure => {
            let measured = body(delivery.seven_bit_body()).and_then(|mut reader| {
                let mut counter = crate::data::SizeCounter::default();
                loop {
                    let chunk = reader.next_chunk()?;
                    if chunk.is_empty() {
                        return Ok(counter.finish());
                    }
                    counter.add(chunk);
                }
            });
            match measured {
                Ok(size) => delivery.handle_measured(Instant::now(), size),
                Err(e) => delivery.handle_measure_failed(Instant::now(), mime_io(e)),
            }
        }
        Step::Close => *conn = None,
        Step::Done => return true,
    }
    false
}

/// Pulls the message through the dot-stuffing encoder into a bounded
/// buffer; the end of data goes out with the last bytes of the message.
async fn write_body(
    stream: &mut Conn,
    mut reader: MessageStream<'_>,
    (timeout, deadline): (Duration, Option<Instant>),
    framing: crate::proto::Framing,
    progress: Option<(&crate::options::ProgressFn, Option<u64>)>,
) -> io::Result<()> {
    let mut out = Vec::with_capacity(BODY_BUFFER + BODY_BUFFER / 8);
    let mut framer = BodyFramer::new(framing, &mut out);
    let mut sent = 0u64;
    let mut report = |n: usize| {
        sent += n as u64;
        if let Some((callback, total)) = progress {
            callback(crate::options::Progress { sent, total });
        }
    };
    loop {
        let chunk = reader.next_chunk().map_err(mime_io)?;
        if chunk.is_empty() {
            break;
        }
        // A full buffer goes out only when more follows, so the last
        // bytes of the message always leave with the end of data.
        for slice in chunk.chunks(BODY_BUFFER) {
            if out.len() >= BODY_BUFFER {
                write_limited(stream, &out, timeout, deadline).await?;
                report(out.len());
                out.clear();
            }
            framer.encode(slice, &mut out)?;
        }
    }
    framer.finish(&mut out)?;
    write_limited(stream, &out, timeout, deadline).await?;
    report(out.len());
    Ok(())
}

async fn write_limited(
    stream: &mut Conn,
    bytes: &[u8],
    timeout: Duration,
    deadline: Option<Instant>,
) -> io::Result<()> {
    let limit = match deadline {
        Some(deadline) => {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "deadline passed"));
            }
            timeout.min(left)
        }
        None => timeout,
    };
    within(limit, stream.write_all_flush(bytes)).await
}

/// `future`, or a `TimedOut` error after `limit`.
async fn within<T>(
    limit: Duration,
    future: impl std::future::Future<Output = io::Result<T>>,
) -> io::Result<T> {
    match tokio::time::timeout(limit.max(Duration::from_millis(1)), future).await {
        Ok(result) => result,
        Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "timed out")),
    }
}

fn report_io(delivery: &mut Delivery, e: io::Error) {
    if matches!(
        e.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
    ) {
        delivery.handle_timeout(Instant::now());
    } else {
        delivery.handle_io_error(Instant::now(), e);
    }
}

fn not_connected() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "no connection")
}

/// The connection: TCP in clear or in TLS, or a Unix socket (LMTP).
enum Conn {
    Plain(TcpStream),
    Tls(Box<TlsStream<FirstBytes>>),
    #[cfg(unix)]
    Unix(tokio::net::UnixStream),
}

impl Conn {
    /// Whether an idle connection still looks open: a server that closed
    /// it, or announced it would (421), has left something to read. One
    /// poll of a peek, no round trip.
    async fn looks_alive(&mut self) -> bool {
        // One poll, answered at once: a timer (even of zero) would wait
        // for the next tick of tokio's clock, a millisecond per message.
        std::future::poll_fn(|cx| {
            let mut byte = [0u8; 1];
            let mut buf = ReadBuf::new(&mut byte);
            let ready = match self {
                Self::Plain(tcp) => tcp.poll_peek(cx, &mut buf).map(|_| ()),
                Self::Tls(stream) => stream.get_ref().0.tcp.poll_peek(cx, &mut buf).map(|_| ()),
                #[cfg(unix)]
                Self::Unix(unix) => unix.poll_read_ready(cx).map(|_| ()),
            };
            Poll::Ready(ready.is_pending())
        })
        .await
    }

    async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Plain(tcp) => tcp.read(buf).await,
            Self::Tls(stream) => stream.read(buf).await,
            #[cfg(unix)]
            Self::Unix(unix) => unix.read(buf).await,
        }
    }

    async fn write_all_flush(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Self::Plain(tcp) => {
                tcp.write_all(bytes).await?;
                tcp.flush().await
            }
            Self::Tls(stream) => {
                stream.write_all(bytes).await?;
                stream.flush().await
            }
            #[cfg(unix)]
            Self::Unix(unix) => {
                unix.write_all(bytes).await?;
                unix.flush().await
            }
        }
    }
}

/// Runs the TLS handshake on `tcp`, keeping the first bytes the server
/// sent so that a plain-text answer can be recognised and named.
async fn start_tls(
    tcp: TcpStream,
    config: Arc<ClientConfig>,
    host: &str,
    timeout: Duration,
) -> Result<TlsStream<FirstBytes>, TlsError> {
    let name = tls::server_name(host)?;
    let connector = tokio_rustls::TlsConnector::from(config);
    let recorder = FirstBytes {
        tcp,
        first: Vec::new(),
    };
    let handshake = connector.connect(name, recorder).into_fallible();
    let (e, recorder) = match tokio::time::timeout(timeout, handshake).await {
        Ok(Ok(stream)) => return Ok(stream),
        Ok(Err(failed)) => failed,
        Err(_) => {
            return Err(TlsError::new(
                TlsErrorKind::Io,
                "TLS handshake timed out (does this port speak TLS?)",
            ))
        }
    };
    let first = recorder.first.as_slice();
    let io_error = |e: io::Error| TlsError::new(TlsErrorKind::Io, format!("TLS handshake: {e}"));
    Err(
        match e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            Some(tls_error) => TlsError::from_rustls(tls_error, host, first),
            None => {
                match TlsError::from_rustls(&rustls::Error::General(e.to_string()), host, first) {
                    plain if plain.kind() == TlsErrorKind::PlaintextServer => plain,
                    _ => io_error(e),
                }
            }
        },
    )
}

/// Passes reads and writes through, keeping the first bytes read.
struct FirstBytes {
    tcp: TcpStream,
    first: Vec<u8>,
}

impl AsyncRead for FirstBytes {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        let polled = Pin::new(&mut this.tcp).poll_read(cx, buf);
        if this.first.len() < 64 {
            let new = buf.filled().get(before..).unwrap_or_default();
            let take = new.len().min(64 - this.first.len());
            this.first
                .extend_from_slice(new.get(..take).unwrap_or_default());
        }
        polled
    }
}

impl AsyncWrite for FirstBytes {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

/// Resolves `server` (within `timeout`) and tries each of its addresses in
/// the resolver's order, each within `timeout`.
async fn connect(server: &ServerAddr, timeout: Duration) -> Result<TcpStream, Cause> {
    let timeout = timeout.max(Duration::from_millis(1));
    let lookup = tokio::net::lookup_host((server.host.as_str(), server.port));
    let addrs: Vec<SocketAddr> = match tokio::time::timeout(timeout, lookup).await {
        Ok(Ok(addrs)) => addrs.collect(),
        Ok(Err(e)) => return Err(Cause::Resolve(e)),
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
    let mut last_error = None;
    for addr in addrs {
        match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => {
                // Commands and the end of data are small writes; without
                // NODELAY each waits for the server's delayed ACK.
                stream.set_nodelay(true).map_err(Cause::Connect)?;
                return Ok(stream);
            }
            Ok(Err(e)) => last_error = Some(e),
            Err(_) => {
                last_error = Some(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "connection timed out",
                ))
            }
        }
    }
    Err(Cause::Connect(last_error.unwrap_or_else(|| {
        io::Error::new(io::ErrorKind::NotConnected, "no address could be reached")
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>(_: &T) {}

    /// A send can be spawned on a multi-threaded runtime.
    #[test]
    fn the_send_future_is_send() {
        let message = Message::text("x");
        let options = SendOptions::new().recipients("a@example.org");
        let future = send(&message, &options);
        assert_send(&future);
    }
}
