//! The blocking driver's connection: a connector's stream, in clear or
//! under rustls after STARTTLS (or from the first byte).

use std::io::{self, Read, Write};
use std::time::Duration;

use rustls::{ClientConnection, StreamOwned};

use super::body::{write_each, WriteLimit};
use super::Stream;

/// A connection in clear, or in TLS over the same stream.
pub(super) enum Conn {
    Plain(Box<dyn Stream>),
    Tls(Box<StreamOwned<ClientConnection, Box<dyn Stream>>>),
}

impl Conn {
    /// The stream under TLS, if any.
    fn stream(&self) -> &dyn Stream {
        match self {
            Self::Plain(stream) => stream.as_ref(),
            Self::Tls(tls) => tls.sock.as_ref(),
        }
    }

    /// Whether an idle connection still looks open (see
    /// [`Stream::looks_alive`]).
    pub(super) fn looks_alive(&mut self) -> bool {
        match self {
            Self::Plain(stream) => stream.looks_alive(),
            Self::Tls(tls) => tls.sock.looks_alive(),
        }
    }

    pub(super) fn set_read_timeout(&self, timeout: Duration) -> io::Result<()> {
        self.stream()
            .set_read_timeout(timeout.max(Duration::from_millis(1)))
    }

    pub(super) fn set_write_timeout(&self, timeout: Duration) -> io::Result<()> {
        self.stream()
            .set_write_timeout(timeout.max(Duration::from_millis(1)))
    }

    /// Writes all of `bytes`, each system call that writes bounded by
    /// `limit` (see [`WriteLimit`]). TLS records are written here rather
    /// than by rustls's stream, whose write and flush may make several
    /// socket calls (and a flush may wait to read) under one limit.
    pub(super) fn write_all_within(
        &mut self,
        bytes: &[u8],
        limit: &mut WriteLimit,
    ) -> io::Result<()> {
        match self {
            Self::Plain(stream) => {
                write_each(stream.as_mut(), bytes, limit, |s, d| s.set_write_timeout(d))
            }
            Self::Tls(tls) => {
                let StreamOwned { conn, sock } = &mut **tls;
                let mut rest = bytes;
                loop {
                    while conn.wants_write() {
                        limit.apply(|d| sock.set_write_timeout(d))?;
                        match conn.write_tls(sock) {
                            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                            Ok(_) => {}
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                            Err(e) => return Err(e),
                        }
                    }
                    if rest.is_empty() {
                        return Ok(());
                    }
                    // rustls takes what fits in its buffer (the buffer is
                    // empty here, so at least some).
                    match conn.writer().write(rest)? {
                        0 => return Err(io::ErrorKind::WriteZero.into()),
                        n => rest = rest.get(n..).unwrap_or_default(),
                    }
                }
            }
        }
    }
}

impl Read for Conn {
    /// Reads replies, acknowledging them at once (see
    /// [`Stream::acknowledge`]).
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = match self {
            Self::Plain(stream) => stream.read(buf),
            Self::Tls(tls) => tls.read(buf),
        }?;
        if n > 0 {
            self.stream().acknowledge();
        }
        Ok(n)
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Plain(stream) => stream.write(buf),
            Self::Tls(tls) => tls.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Plain(stream) => stream.flush(),
            Self::Tls(tls) => tls.flush(),
        }
    }
}
