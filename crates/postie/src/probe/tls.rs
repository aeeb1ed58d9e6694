//! The TLS handshake and why it failed, and the checks that tell a port
//! speaking TLS from one speaking plain SMTP. The handshake itself, the
//! capture of the first bytes and the test for an SMTP greeting are
//! `postie_smtp`'s, shared with the blocking driver.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use postie_smtp::blocking::{tls_handshake, HandshakeFailure};
use postie_smtp::tls::{looks_like_smtp, rustls_error};
use rustls::pki_types::ServerName;
use rustls::{CertificateError, ClientConfig, ClientConnection, StreamOwned};

use crate::exit;

use super::connect::connect_one;
use super::failure::Failure;
use super::target::Target;

pub(super) type TlsStream = StreamOwned<ClientConnection, TcpStream>;

/// Why a handshake failed.
#[derive(Debug)]
pub(super) enum HandshakeError {
    /// The certificate did not verify.
    Certificate(CertificateError),
    /// The server answered the ClientHello with an SMTP greeting.
    Plaintext(String),
    Timeout,
    Other(String),
}

impl HandshakeError {
    /// The failure; a plain-text answer gets its hint only with implicit
    /// TLS (after STARTTLS it is a broken server, not a wrong flag).
    pub(super) fn failure(self, target: &Target, implicit: bool) -> Failure {
        match self {
            Self::Certificate(e) => Failure::new(
                exit::UNAVAILABLE,
                format!("the certificate of {target} was refused: {e}"),
            ),
            Self::Plaintext(first) => {
                let failure = Failure::new(
                    exit::UNAVAILABLE,
                    format!("{target} answered the TLS handshake in plain text ({first:?})"),
                );
                if implicit {
                    failure.with_hint("this port speaks plain SMTP: use --tls starttls")
                } else {
                    failure
                }
            }
            Self::Timeout => Failure::new(
                exit::UNAVAILABLE,
                format!("the TLS handshake with {target} timed out"),
            ),
            Self::Other(e) => Failure::new(
                exit::UNAVAILABLE,
                format!("the TLS handshake with {target} failed: {e}"),
            ),
        }
    }
}

/// Runs the TLS handshake on `tcp` within `timeout`, as the blocking
/// driver does (keeping the first bytes the server sent, so that a
/// plain-text answer can be named).
pub(super) fn handshake(
    tcp: TcpStream,
    config: Arc<ClientConfig>,
    name: &ServerName<'static>,
    timeout: Duration,
) -> Result<TlsStream, HandshakeError> {
    let conn = ClientConnection::new(config, name.clone())
        .map_err(|e| HandshakeError::Other(e.to_string()))?;
    tls_handshake(tcp, conn, timeout).map_err(|failure| match failure {
        HandshakeFailure::TimedOut => HandshakeError::Timeout,
        HandshakeFailure::Limits(e) => HandshakeError::Other(e.to_string()),
        HandshakeFailure::Failed { error, first } => classify(&error, &first),
        other => HandshakeError::Other(format!("{other:?}")),
    })
}

/// Names a failed handshake from the error and the first bytes received.
fn classify(error: &io::Error, first: &[u8]) -> HandshakeError {
    if looks_like_smtp(first) {
        let shown = first.get(..first.len().min(60)).unwrap_or_default();
        return HandshakeError::Plaintext(String::from_utf8_lossy(shown).trim_end().to_owned());
    }
    match rustls_error(error) {
        Some(rustls::Error::InvalidCertificate(problem)) => {
            HandshakeError::Certificate(problem.clone())
        }
        Some(other) => HandshakeError::Other(other.to_string()),
        None => match error.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => HandshakeError::Timeout,
            io::ErrorKind::UnexpectedEof => {
                HandshakeError::Other("the server closed the connection".to_owned())
            }
            _ => HandshakeError::Other(error.to_string()),
        },
    }
}

/// Whether the server at `addr` answers a ClientHello with a TLS record
/// within `limit` (the drivers' check, over a TCP connection of the
/// probe's own). Only the first bytes of its answer are read.
pub(super) fn answers_tls(addr: SocketAddr, name: &ServerName<'static>, limit: Duration) -> bool {
    let Some(hello) = postie_smtp::net::client_hello(&name.to_str()) else {
        return false;
    };
    let Ok(mut tcp) = connect_one(addr, limit) else {
        return false;
    };
    let mut first = [0u8; 2];
    let answered = tcp
        .set_read_timeout(Some(limit))
        .and_then(|()| tcp.set_write_timeout(Some(limit)))
        .and_then(|()| tcp.write_all(&hello))
        .and_then(|()| tcp.read_exact(&mut first));
    answered.is_ok() && postie_smtp::net::is_tls_record(&first)
}
