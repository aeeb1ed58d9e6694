//! The tokio driver's connection: a connector's stream, in clear or under
//! tokio-rustls after STARTTLS (or from the first byte).

use std::io;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use rustls::ClientConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::client::TlsStream;

use super::Stream;
use crate::net::FirstBytes;
use crate::tls::{self, TlsError};

/// A connection in clear, or in TLS over the same stream.
pub(super) enum Conn {
    Plain(Box<dyn Stream>),
    Tls(Box<TlsStream<FirstBytes<Box<dyn Stream>>>>),
}

impl Conn {
    /// Whether an idle connection still looks open: a server that closed
    /// it, or announced it would (421), has left something to read. One
    /// poll, no round trip.
    pub(super) async fn looks_alive(&mut self) -> bool {
        // One poll, answered at once: a timer (even of zero) would wait
        // for the next tick of tokio's clock, a millisecond per message.
        std::future::poll_fn(|cx| {
            Poll::Ready(match self {
                Self::Plain(stream) => stream.looks_alive(cx),
                Self::Tls(tls) => tls.get_mut().0.get_mut().looks_alive(cx),
            })
        })
        .await
    }

    /// Reads replies, acknowledging them at once (see
    /// [`Stream::acknowledge`]).
    pub(super) async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = match self {
            Self::Plain(stream) => stream.read(buf).await,
            Self::Tls(tls) => tls.read(buf).await,
        }?;
        if n > 0 {
            match self {
                Self::Plain(stream) => stream.acknowledge(),
                Self::Tls(tls) => tls.get_ref().0.get_ref().acknowledge(),
            }
        }
        Ok(n)
    }

    pub(super) async fn write_all_flush(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Self::Plain(stream) => {
                stream.write_all(bytes).await?;
                stream.flush().await
            }
            Self::Tls(tls) => {
                tls.write_all(bytes).await?;
                tls.flush().await
            }
        }
    }
}

/// Runs the TLS handshake on `stream`, keeping the first bytes the server
/// sent so that a plain-text answer can be recognised and named.
pub(super) async fn start_tls(
    stream: Box<dyn Stream>,
    config: Arc<ClientConfig>,
    host: &str,
    timeout: Duration,
) -> Result<TlsStream<FirstBytes<Box<dyn Stream>>>, TlsError> {
    let name = tls::server_name(host)?;
    let connector = tokio_rustls::TlsConnector::from(config);
    let handshake = connector
        .connect(name, FirstBytes::new(stream))
        .into_fallible();
    match tokio::time::timeout(timeout, handshake).await {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err((e, recorder))) => Err(TlsError::from_handshake(&e, host, recorder.first())),
        Err(_) => Err(TlsError::handshake_timed_out()),
    }
}
