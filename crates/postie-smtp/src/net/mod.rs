//! Network I/O that does not depend on a driver: name resolution with a
//! time limit, the first bytes a server sends during a TLS handshake, and
//! offering TLS to a silent server.
//!
//! The blocking driver, the tokio driver and `postie probe` all use these,
//! so a name that does not resolve, or a plain-text answer to a
//! ClientHello, is recognised and worded the same way everywhere. How a
//! connection is opened is the [connector seam](crate::connector); the
//! words for a failed handshake are in [`crate::tls`].

mod first_bytes;
mod resolve;
mod tls_probe;

pub use first_bytes::FirstBytes;
pub use resolve::{resolve, ResolveError};
pub(crate) use tls_probe::answers_tls_blocking;
pub use tls_probe::{client_hello, is_tls_record};

#[cfg(feature = "tokio")]
/// `future`, or a `TimedOut` error after `limit`.
pub(crate) async fn within<T>(
    limit: std::time::Duration,
    future: impl std::future::Future<Output = std::io::Result<T>>,
) -> std::io::Result<T> {
    match tokio::time::timeout(limit.max(std::time::Duration::from_millis(1)), future).await {
        Ok(result) => result,
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "timed out",
        )),
    }
}

/// Asks the kernel to acknowledge received data at once (TCP_QUICKACK) on
/// Linux, where the delayed ACK otherwise holds it up to 40 ms; a no-op
/// elsewhere. Linux clears the flag as it sees fit, so it is set again
/// after every read; setting it also sends an ACK that is owed. A failure
/// only leaves the delayed ACK in place.
pub(crate) fn quick_ack(socket: socket2::SockRef<'_>) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let _ = socket.set_tcp_quickack(true);
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        let _ = socket;
    }
}
