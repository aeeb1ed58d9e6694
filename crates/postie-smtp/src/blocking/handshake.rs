//! The TLS handshake over a blocking stream, within a time limit, keeping
//! the first bytes the server sent: the driver's STARTTLS (and implicit
//! TLS) and `postie probe`'s, which words its failures its own way.

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::{ClientConfig, ClientConnection, StreamOwned};

use super::Stream;
use crate::net::FirstBytes;
use crate::step_io::is_timeout;
use crate::tls::{self, TlsError, TlsErrorKind};

/// Why [`tls_handshake`] did not finish.
#[derive(Debug)]
#[non_exhaustive]
pub enum HandshakeFailure {
    /// The limit ran out between two rounds of the handshake.
    TimedOut,
    /// The stream's time limits could not be set.
    Limits(io::Error),
    /// The handshake failed: rustls's error (see [`tls::rustls_error`]) or
    /// the stream's, with the first bytes the server sent (see
    /// [`tls::looks_like_smtp`]).
    Failed {
        /// What failed.
        error: io::Error,
        /// The first bytes read from the server (at most 64).
        first: Vec<u8>,
    },
}

/// Runs the handshake of `conn` over `stream` within `timeout` for the
/// whole of it (a server that answers slowly, round after round, gets no
/// more), and returns the TLS stream.
///
/// Nothing the server sent before the handshake may be waiting in a
/// buffer of the caller's: it would be lost, or read as if it came over
/// TLS.
pub fn tls_handshake<S: Stream>(
    stream: S,
    mut conn: ClientConnection,
    timeout: Duration,
) -> Result<StreamOwned<ClientConnection, S>, HandshakeFailure> {
    let deadline = Instant::now().checked_add(timeout);
    let mut recorder = FirstBytes::new(stream);
    while conn.is_handshaking() {
        // A limit too far off to compute (a huge timeout) is no limit.
        let left = deadline.map_or(timeout, |d| d.saturating_duration_since(Instant::now()));
        if left.is_zero() {
            return Err(HandshakeFailure::TimedOut);
        }
        let socket = recorder.get_ref();
        socket
            .set_read_timeout(left)
            .and_then(|()| socket.set_write_timeout(left))
            .map_err(HandshakeFailure::Limits)?;
        if let Err(error) = conn.complete_io(&mut recorder) {
            return Err(HandshakeFailure::Failed {
                error,
                first: recorder.first().to_vec(),
            });
        }
    }
    Ok(StreamOwned::new(conn, recorder.into_inner()))
}

/// The driver's handshake with `host`: its failures as [`TlsError`]s for
/// the core and the TLS policy.
pub(super) fn start_tls(
    stream: Box<dyn Stream>,
    config: Arc<ClientConfig>,
    host: &str,
    timeout: Duration,
) -> Result<StreamOwned<ClientConnection, Box<dyn Stream>>, TlsError> {
    let name = tls::server_name(host)?;
    let conn = ClientConnection::new(config, name)
        .map_err(|e| TlsError::new(TlsErrorKind::Setup, e.to_string()))?;
    tls_handshake(stream, conn, timeout).map_err(|failure| match failure {
        HandshakeFailure::TimedOut => TlsError::new(TlsErrorKind::Io, "TLS handshake timed out"),
        HandshakeFailure::Limits(e) => {
            TlsError::new(TlsErrorKind::Io, format!("TLS handshake: {e}"))
        }
        HandshakeFailure::Failed { error, .. }
            if tls::rustls_error(&error).is_none() && is_timeout(&error) =>
        {
            TlsError::handshake_timed_out()
        }
        HandshakeFailure::Failed { error, first } => TlsError::from_handshake(&error, host, &first),
    })
}
