//! The TLS handshake and why it failed, and the checks that tell a port
//! speaking TLS from one speaking plain SMTP.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use postie_smtp::TlsSettings;
use rustls::pki_types::ServerName;
use rustls::{CertificateError, ClientConfig, ClientConnection, StreamOwned};

use crate::exit;

use super::connect::connect_one;
use super::deadline::Deadline;
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

/// Runs the TLS handshake on `tcp` within `timeout`, keeping the first
/// bytes the server sent so that a plain-text answer can be named.
pub(super) fn handshake(
    tcp: TcpStream,
    config: Arc<ClientConfig>,
    name: &ServerName<'static>,
    timeout: Duration,
) -> Result<TlsStream, HandshakeError> {
    let mut conn = ClientConnection::new(config, name.clone())
        .map_err(|e| HandshakeError::Other(e.to_string()))?;
    let deadline = Deadline::after(timeout);
    let mut recorder = FirstBytes {
        tcp: &tcp,
        first: Vec::new(),
    };
    while conn.is_handshaking() {
        let left = deadline.left();
        if left.is_zero() {
            return Err(HandshakeError::Timeout);
        }
        tcp.set_read_timeout(Some(left))
            .and_then(|()| tcp.set_write_timeout(Some(left)))
            .map_err(|e| HandshakeError::Other(e.to_string()))?;
        if let Err(e) = conn.complete_io(&mut recorder) {
            return Err(classify(&e, &recorder.first));
        }
    }
    Ok(StreamOwned::new(conn, tcp))
}

/// Names a failed handshake from the error and the first bytes received.
fn classify(error: &io::Error, first: &[u8]) -> HandshakeError {
    if looks_like_smtp(first) {
        let shown = first.get(..first.len().min(60)).unwrap_or_default();
        return HandshakeError::Plaintext(String::from_utf8_lossy(shown).trim_end().to_owned());
    }
    match error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
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
/// within `limit`. Only the first bytes of its answer are read.
pub(super) fn answers_tls(addr: SocketAddr, name: &ServerName<'static>, limit: Duration) -> bool {
    let Ok(config) = TlsSettings::default().client_config() else {
        return false;
    };
    let Ok(mut conn) = ClientConnection::new(config, name.clone()) else {
        return false;
    };
    let Ok(mut tcp) = connect_one(addr, limit) else {
        return false;
    };
    let mut first = [0u8; 2];
    let answered = tcp
        .set_read_timeout(Some(limit))
        .and_then(|()| tcp.set_write_timeout(Some(limit)))
        .and_then(|()| conn.write_tls(&mut tcp))
        .and_then(|_| tcp.read_exact(&mut first));
    answered.is_ok() && matches!(first, [0x15 | 0x16, 0x03])
}

/// Whether bytes received during a handshake are an SMTP reply line.
fn looks_like_smtp(first: &[u8]) -> bool {
    matches!(first, [a, b, c, d, ..]
        if a.is_ascii_digit() && b.is_ascii_digit() && c.is_ascii_digit() && matches!(d, b' ' | b'-'))
}

/// Passes reads and writes through to the socket, keeping the first bytes
/// read.
struct FirstBytes<'a> {
    tcp: &'a TcpStream,
    first: Vec<u8>,
}

impl Read for FirstBytes<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = (&mut &*self.tcp).read(buf)?;
        let take = n.min(64usize.saturating_sub(self.first.len()));
        self.first
            .extend_from_slice(buf.get(..take).unwrap_or_default());
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn smtp_is_recognised_in_a_handshake() {
        assert!(looks_like_smtp(b"220 mx ESMTP\r\n"));
        assert!(looks_like_smtp(b"554-no\r\n"));
        assert!(!looks_like_smtp(&[0x16, 0x03, 0x03, 0x00]));
    }
}
