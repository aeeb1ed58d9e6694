//! The first bytes a server sends during a TLS handshake.

use std::io::{self, Read, Write};

/// How many of the first bytes are kept: enough for an SMTP greeting's
/// code and the start of its text, which is all the error quotes.
const KEPT: usize = 64;

/// A stream that passes reads and writes through, keeping the first bytes
/// read, so that a failed TLS handshake can tell a server that answered
/// in plain text (an SMTP greeting where a ServerHello should be) from
/// one that broke TLS itself; see [`crate::tls::looks_like_smtp`].
///
/// It works over a blocking stream ([`Read`] and [`Write`]) and, with the
/// `tokio` feature, over an async one (`AsyncRead` and `AsyncWrite`).
///
/// ```
/// use std::io::Read;
/// use postie_smtp::net::FirstBytes;
///
/// let mut stream = FirstBytes::new(&b"220 mx.example ESMTP\r\n"[..]);
/// let mut buf = [0u8; 8];
/// stream.read(&mut buf)?;
/// assert_eq!(stream.first(), b"220 mx.e");
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct FirstBytes<S> {
    inner: S,
    first: Vec<u8>,
}

impl<S> FirstBytes<S> {
    /// Wraps `inner`; nothing is kept yet.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            first: Vec::new(),
        }
    }

    /// The first bytes read (at most 64).
    pub fn first(&self) -> &[u8] {
        &self.first
    }

    /// The stream inside.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The stream inside, to change its settings.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The stream inside, once the handshake is over.
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// Keeps what fits of `read`, which the stream has just returned.
    fn keep(&mut self, read: &[u8]) {
        let take = read.len().min(KEPT.saturating_sub(self.first.len()));
        self.first
            .extend_from_slice(read.get(..take).unwrap_or_default());
    }
}

impl<S: Read> Read for FirstBytes<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.keep(buf.get(..n).unwrap_or_default());
        Ok(n)
    }
}

impl<S: Write> Write for FirstBytes<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(feature = "tokio")]
mod tokio_io {
    use std::io;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

    use super::FirstBytes;

    impl<S: AsyncRead + Unpin> AsyncRead for FirstBytes<S> {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            let before = buf.filled().len();
            let this = &mut *self;
            let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
            this.keep(buf.filled().get(before..).unwrap_or_default());
            polled
        }
    }

    impl<S: AsyncWrite + Unpin> AsyncWrite for FirstBytes<S> {
        fn poll_write(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            Pin::new(&mut self.inner).poll_write(cx, buf)
        }

        fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.inner).poll_flush(cx)
        }

        fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.inner).poll_shutdown(cx)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn only_the_first_64_bytes_are_kept_across_reads() {
        let data = [b'x'; 100];
        let mut stream = FirstBytes::new(&data[..]);
        let mut buf = [0u8; 40];
        assert_eq!(stream.read(&mut buf).unwrap(), 40);
        assert_eq!(stream.read(&mut buf).unwrap(), 40);
        assert_eq!(stream.read(&mut buf).unwrap(), 20);
        assert_eq!(stream.first(), &data[..64]);
    }

    #[test]
    fn writes_pass_through_and_are_not_kept() {
        let mut stream = FirstBytes::new(Vec::new());
        stream.write_all(b"EHLO").unwrap();
        assert!(stream.first().is_empty());
        assert_eq!(stream.into_inner(), b"EHLO");
    }
}
