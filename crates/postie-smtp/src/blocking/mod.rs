//! The blocking driver: the sans-IO core over std's sockets.
//!
//! It owns the connection and nothing else; every decision is the core's.
//! A [`Connector`] opens the connection (TCP, or a Unix socket for LMTP, by
//! default; see [`crate::connector`]), and the driver speaks SMTP over the
//! [`Stream`] it returns, under rustls after STARTTLS.

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Instant;

use postie_mime::Message;
use rustls::ClientConfig;

use crate::envelope::{self, LocalEnv, Prepared};
use crate::error::Error;
use crate::options::SendOptions;
use crate::outbound::Outbound;
use crate::outcome::Sent;
use crate::proto::{Delivery, Step};
use crate::setup::mime_io;
use crate::step_io::{
    can_start_tls, cannot_start_tls, handle_read, no_message, not_connected, report_io, step_span,
};
use crate::tls::TlsInfo;

mod body;
mod conn;
mod handshake;
mod pool;
mod session;

use body::BodyWriter;
use conn::Conn;

#[cfg(unix)]
pub use crate::connector::blocking_io::UnixConnector;
pub use crate::connector::blocking_io::{
    Connection, Connector, DirectConnector, Stream, TcpConnector,
};
pub use crate::connector::socks5::blocking_io::Socks5Connector;
pub use crate::pool_defaults::{DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_SIZE};
pub use crate::pool_rate::RateLimit;
pub use handshake::{tls_handshake, HandshakeFailure};
pub use pool::Pool;
pub use session::Session;

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
    let outbound = Outbound::new(message, prepared, &setup);
    drive(
        &mut delivery,
        &mut conn,
        setup.tls_config.as_ref(),
        options,
        Some(outbound),
    )?;
    delivery.into_result()
}

/// Runs the core to the end. `outbound` is the message, given its form for
/// each server and written when the server is ready for it (none when an
/// idle connection is only being closed).
fn drive(
    delivery: &mut Delivery,
    conn: &mut Option<Conn>,
    tls_config: Option<&Arc<ClientConfig>>,
    options: &SendOptions,
    mut outbound: Option<Outbound<'_>>,
) -> Result<(), Error> {
    let on_trace = options.on_trace.as_ref();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let now = Instant::now();
        let step = delivery.poll(now);
        let span = step_span(delivery);
        let _entered = span.enter();
        if let Some(callback) = on_trace {
            while let Some(line) = delivery.poll_trace() {
                callback(&line);
            }
        }
        match step {
            Step::Connect { server, timeout } => {
                let opened = options
                    .blocking_connector()
                    .and_then(|connector| connector.connect(&server, timeout));
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
                    Some(stream) => stream
                        .set_write_timeout(timeout)
                        .and_then(|()| stream.write_all(&out))
                        .and_then(|()| stream.flush()),
                    None => Err(not_connected()),
                };
                if let Err(e) = result {
                    report_io(delivery, e);
                }
            }
            Step::Read { timeout } => {
                let result = match conn.as_mut() {
                    Some(stream) => stream
                        .set_read_timeout(timeout)
                        .and_then(|()| stream.read(&mut buf)),
                    None => {
                        delivery.handle_io_error(Instant::now(), not_connected());
                        continue;
                    }
                };
                handle_read(delivery, result, &buf);
            }
            Step::WriteBody { timeout, remaining } => {
                let Some(stream) = conn.as_mut() else {
                    delivery.handle_io_error(Instant::now(), not_connected());
                    continue;
                };
                let deadline = remaining.and_then(|r| Instant::now().checked_add(r));
                let progress = options
                    .on_progress
                    .as_ref()
                    .map(|callback| (callback, delivery.body_size()));
                let mut writer = BodyWriter::new(
                    stream,
                    (timeout, deadline),
                    delivery.body_framing(),
                    progress,
                );
                let result = match outbound.as_ref().map(|o| o.write_to(&mut writer)) {
                    Some(Ok(())) => writer.finish(),
                    Some(Err(e)) => Err(mime_io(e)),
                    None => Err(no_message()),
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
                        handshake::start_tls(stream, Arc::clone(config), &server_name, timeout)
                    }
                    _ => Err(cannot_start_tls()),
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
                let mut counter = crate::data::SizeCounter::default();
                match outbound.as_ref().map(|o| o.write_to(&mut counter)) {
                    Some(Ok(())) => delivery.handle_measured(Instant::now(), counter.finish()),
                    Some(Err(e)) => delivery.handle_measure_failed(Instant::now(), mime_io(e)),
                    None => delivery.handle_measure_failed(Instant::now(), no_message()),
                }
            }
            Step::ProbeTls {
                server,
                server_name,
                timeout,
            } => {
                // A second connection, opened the same way as the first
                // (through the same proxy, say); the first stays open.
                let answered = options
                    .blocking_connector()
                    .and_then(|connector| connector.connect(&server, timeout))
                    .is_ok_and(|mut side| {
                        let stream = &mut *side.stream;
                        stream.set_read_timeout(timeout).is_ok()
                            && stream.set_write_timeout(timeout).is_ok()
                            && crate::net::answers_tls_blocking(stream, &server_name)
                    });
                delivery.handle_tls_probed(Instant::now(), answered);
            }
            Step::Close => *conn = None,
            Step::Done => return Ok(()),
        }
    }
}
