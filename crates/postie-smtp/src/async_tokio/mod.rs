//! The tokio driver: the sans-IO core over tokio's sockets and
//! tokio-rustls (feature `tokio`).
//!
//! A [`Connector`] opens the connection (TCP, or a Unix socket for LMTP, by
//! default; see [`crate::connector`]), and the driver speaks SMTP over the
//! [`Stream`] it returns, under tokio-rustls after STARTTLS.
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

use crate::net::within;
use std::sync::Arc;
use std::time::{Duration, Instant};

use postie_mime::{Message, MessageStream};
use rustls::ClientConfig;
use tracing::Instrument as _;

use crate::body_buffer::{BodyBuffer, BODY_BUFFER};
use crate::envelope::{self, LocalEnv, Prepared};
use crate::error::Error;
use crate::options::SendOptions;
use crate::outbound::Outbound;
use crate::outcome::Sent;
use crate::proto::{Delivery, Step};
use crate::setup::{mime_io, Setup};
use crate::step_io::{
    can_start_tls, cannot_start_tls, handle_read, no_message, not_connected, report_io, step_span,
    write_limit,
};
use crate::tls::TlsInfo;

mod conn;
mod pool;
mod session;

use conn::Conn;

pub use crate::connector::socks5::tokio_io::Socks5Connector;
#[cfg(unix)]
pub use crate::connector::tokio_io::UnixConnector;
pub use crate::connector::tokio_io::{
    ConnectFuture, Connection, Connector, DirectConnector, Stream, TcpConnector,
};
pub use crate::pool_defaults::{DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_SIZE};
pub use crate::pool_rate::RateLimit;
pub use pool::Pool;
pub use session::Session;

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
        let mut delivery = setup.delivery()?;
        let outbound = Some(Outbound::new(message, prepared, &setup));
        let mut conn = None;
        let tls_config = setup.tls_config.as_ref();
        drive(&mut delivery, &mut conn, tls_config, options, outbound).await;
        delivery.into_result()
    }
    .instrument(span)
    .await
}

/// Runs the core to the end (or to an idle kept connection). `outbound` is
/// the message (none when an idle connection is only being closed).
async fn drive(
    delivery: &mut Delivery,
    conn: &mut Option<Conn>,
    tls_config: Option<&Arc<ClientConfig>>,
    options: &SendOptions,
    mut outbound: Option<Outbound<'_>>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let step = delivery.poll(Instant::now());
        if let Some(callback) = options.on_trace.as_ref() {
            while let Some(line) = delivery.poll_trace() {
                callback(&line);
            }
        }
        let span = step_span(delivery);
        let done = run_step(
            step,
            delivery,
            conn,
            &mut buf,
            (tls_config, options),
            &mut outbound,
        )
        .instrument(span)
        .await;
        if done {
            return;
        }
    }
}

/// Carries out one step; true at [`Step::Done`].
async fn run_step(
    step: Step,
    delivery: &mut Delivery,
    conn: &mut Option<Conn>,
    buf: &mut [u8],
    (tls_config, options): (Option<&Arc<ClientConfig>>, &SendOptions),
    outbound: &mut Option<Outbound<'_>>,
) -> bool {
    match step {
        Step::Connect { server, timeout } => {
            let opened = match options.tokio_connector() {
                Ok(connector) => connector.connect(&server, timeout).await,
                Err(e) => Err(e),
            };
            match opened {
                Ok(connection) => {
                    *conn = Some(Conn::Plain(connection.stream));
                    delivery.handle_connected(Instant::now(), connection.local);
                }
                Err(e) => delivery.handle_connect_failed(Instant::now(), e.into()),
            }
        }
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
            let result = within(timeout, stream.read(buf)).await;
            handle_read(delivery, result, buf);
        }
        Step::WriteBody { timeout, remaining } => {
            let Some(stream) = conn.as_mut() else {
                delivery.handle_io_error(Instant::now(), not_connected());
                return false;
            };
            let deadline = remaining.and_then(|r| Instant::now().checked_add(r));
            let message = match outbound.as_ref() {
                Some(outbound) => outbound.stream(),
                None => Err(postie_mime::Error::Io(no_message())),
            };
            let result = match message {
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
            let possible = can_start_tls(delivery);
            let result = match (conn.take(), tls_config) {
                (Some(Conn::Plain(stream)), Some(config)) if possible => {
                    conn::start_tls(stream, Arc::clone(config), &server_name, timeout).await
                }
                _ => Err(cannot_start_tls()),
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
        Step::Transform { offers } => match outbound.as_mut() {
            Some(outbound) => match outbound.transform(&offers) {
                Ok(wire) => delivery.handle_transformed(Instant::now(), wire),
                Err(e) => delivery.handle_transform_failed(Instant::now(), e),
            },
            None => delivery.handle_transform_failed(
                Instant::now(),
                crate::error::TransformError::new("driver", no_message()),
            ),
        },
        Step::Measure => {
            let stream = match outbound.as_ref() {
                Some(outbound) => outbound.stream(),
                None => Err(postie_mime::Error::Io(no_message())),
            };
            let measured = stream.and_then(|mut reader| {
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
        Step::ProbeTls {
            server,
            server_name,
            timeout,
        } => {
            // A second connection, opened the same way as the first; the
            // first stays open.
            let answered = match options.tokio_connector() {
                Ok(connector) => match connector.connect(&server, timeout).await {
                    Ok(mut side) => answers_tls(&mut *side.stream, &server_name, timeout).await,
                    Err(_) => false,
                },
                Err(_) => false,
            };
            delivery.handle_tls_probed(Instant::now(), answered);
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
    let mut body = BodyBuffer::new(framing, progress);
    loop {
        let chunk = reader.next_chunk().map_err(mime_io)?;
        if chunk.is_empty() {
            break;
        }
        for slice in chunk.chunks(BODY_BUFFER) {
            if body.is_full() {
                write_limited(stream, body.pending(), timeout, deadline).await?;
                body.written();
            }
            body.encode(slice)?;
        }
    }
    body.finish()?;
    write_limited(stream, body.pending(), timeout, deadline).await?;
    body.written();
    Ok(())
}

/// Writes `bytes` within the stage's limit, cut to what the deadline
/// leaves.
async fn write_limited(
    stream: &mut Conn,
    bytes: &[u8],
    timeout: Duration,
    deadline: Option<Instant>,
) -> io::Result<()> {
    let limit = write_limit(timeout, deadline)?;
    within(limit, stream.write_all_flush(bytes)).await
}

/// The tokio form of the check behind [`Step::ProbeTls`]: send a
/// ClientHello on `stream`, read two bytes, each within `limit`.
async fn answers_tls(
    stream: &mut dyn crate::connector::tokio_io::Stream,
    server_name: &str,
    limit: std::time::Duration,
) -> bool {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let Some(hello) = crate::net::client_hello(server_name) else {
        return false;
    };
    let mut first = [0u8; 2];
    let exchange = async {
        stream.write_all(&hello).await?;
        stream.flush().await?;
        stream.read_exact(&mut first).await
    };
    within(limit, exchange).await.is_ok() && crate::net::is_tls_record(&first)
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
