//! What both drivers do with the outcome of a step's I/O: the same
//! outcome (a read of nothing, a timeout, a write that ran into the
//! deadline) becomes the same call into the core whichever driver met it.

use std::io;
use std::time::{Duration, Instant};

use crate::error::Stage;
use crate::proto::Delivery;
use crate::server::ServerAddr;
use crate::tls::{TlsError, TlsErrorKind};

/// The span a step runs in: the server and the stage, for `tracing`.
pub(crate) fn step_span(delivery: &Delivery) -> tracing::Span {
    tracing::debug_span!(
        "smtp",
        server = %delivery.server().map(ToString::to_string).unwrap_or_default(),
        stage = delivery.stage().map(Stage::as_str).unwrap_or("none"),
    )
}

/// Whether an I/O error is a time limit running out: std's sockets say
/// `WouldBlock` or `TimedOut` depending on the system.
pub(crate) fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// A failed write (or read) for the core: a timeout, or another error.
pub(crate) fn report_io(delivery: &mut Delivery, e: io::Error) {
    if is_timeout(&e) {
        delivery.handle_timeout(Instant::now());
    } else {
        delivery.handle_io_error(Instant::now(), e);
    }
}

/// The error of a step that needs a connection when none is open.
pub(crate) fn not_connected() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "no connection")
}

/// The core asked for the message where the driver has none (an idle
/// connection being closed): never expected, but not a hang.
pub(crate) fn no_message() -> io::Error {
    io::Error::other("no message: the connection is only being closed")
}

/// A read's outcome for the core: what came, the end of the stream, a
/// timeout, or an error. An interrupted read passes nothing: the core asks
/// for the read again.
pub(crate) fn handle_read(delivery: &mut Delivery, result: io::Result<usize>, buf: &[u8]) {
    match result {
        Ok(0) => delivery.handle_eof(Instant::now()),
        Ok(n) => delivery.handle_input(Instant::now(), buf.get(..n).unwrap_or_default()),
        // A TLS peer that closes without close_notify.
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => delivery.handle_eof(Instant::now()),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
        Err(e) => report_io(delivery, e),
    }
}

/// Whether the open connection can take a TLS handshake: not one to a
/// server given as a Unix socket's path, which no certificate can name.
pub(crate) fn can_start_tls(delivery: &Delivery) -> bool {
    !delivery.server().is_some_and(ServerAddr::is_unix)
}

/// The failure of a STARTTLS step on a connection that cannot take it.
pub(crate) fn cannot_start_tls() -> TlsError {
    TlsError::new(
        TlsErrorKind::Setup,
        "TLS was asked for on a connection that cannot start it",
    )
}

/// How long a write may block: the stage's `timeout`, cut to what the
/// `deadline` leaves; an error once the deadline has passed.
#[inline]
pub(crate) fn write_limit(timeout: Duration, deadline: Option<Instant>) -> io::Result<Duration> {
    match deadline {
        Some(deadline) => {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "deadline passed"));
            }
            Ok(timeout.min(left))
        }
        None => Ok(timeout),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn the_write_limit_is_the_stage_limit_cut_to_the_deadline() {
        let minute = Duration::from_secs(60);
        assert_eq!(write_limit(minute, None).unwrap(), minute);
        let soon = Instant::now().checked_add(Duration::from_secs(5));
        assert!(write_limit(minute, soon).unwrap() <= Duration::from_secs(5));
        let past = Instant::now().checked_sub(Duration::from_secs(1));
        let err = write_limit(minute, past).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    }
}
