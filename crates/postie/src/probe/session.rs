//! One SMTP connection, in clear or over TLS: commands out, replies in.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use postie_smtp::reply::ReplyParser;
use postie_smtp::Reply;

use crate::exit;

use super::deadline::Deadline;
use super::failure::Failure;
use super::target::Target;
use super::tls::TlsStream;

/// A connection in clear or over TLS.
pub(super) enum Conn {
    Plain(TcpStream),
    Tls(Box<TlsStream>),
}

impl Conn {
    fn tcp(&self) -> &TcpStream {
        match self {
            Self::Plain(tcp) => tcp,
            Self::Tls(stream) => &stream.sock,
        }
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Plain(tcp) => tcp.read(buf),
            Self::Tls(stream) => stream.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Plain(tcp) => tcp.write(buf),
            Self::Tls(stream) => stream.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Plain(tcp) => tcp.flush(),
            Self::Tls(stream) => stream.flush(),
        }
    }
}

/// Why no reply came.
#[derive(Debug)]
pub(super) enum ReadError {
    /// A TLS record where the greeting should be.
    TlsRecord,
    Timeout,
    Closed,
    Io(io::Error),
    Protocol(postie_smtp::reply::ReplyError),
}

impl ReadError {
    fn from_io(e: io::Error) -> Self {
        match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Self::Timeout,
            io::ErrorKind::UnexpectedEof => Self::Closed,
            _ => Self::Io(e),
        }
    }

    /// The failure at `stage`: a dropped or silent connection may work
    /// later (75), a broken reply will not (69).
    pub(super) fn failure(self, stage: &str, target: &Target) -> Failure {
        match self {
            Self::TlsRecord => Failure::new(
                exit::UNAVAILABLE,
                format!("{target} answered with TLS at the {stage}"),
            ),
            Self::Timeout => Failure::new(
                exit::TEMPFAIL,
                format!("{target} did not answer at the {stage} in time"),
            ),
            Self::Closed => Failure::new(
                exit::TEMPFAIL,
                format!("{target} closed the connection at the {stage}"),
            ),
            Self::Io(e) => Failure::new(exit::TEMPFAIL, format!("{target}: {stage}: {e}")),
            Self::Protocol(e) => Failure::new(
                exit::UNAVAILABLE,
                format!("{target} broke the protocol at the {stage}: {e}"),
            ),
        }
    }
}

/// One SMTP connection: commands out, replies in, each within the timeout.
pub(super) struct Session {
    conn: Conn,
    parser: ReplyParser,
    timeout: Duration,
    /// Whether anything was received yet (to recognise TLS at the
    /// greeting).
    received: bool,
}

impl Session {
    pub(super) fn new(conn: Conn, timeout: Duration) -> Self {
        Self {
            conn,
            parser: ReplyParser::default(),
            timeout,
            received: false,
        }
    }

    /// Sends one command line and reads its reply.
    pub(super) fn command(&mut self, line: &str) -> Result<Reply, ReadError> {
        self.conn
            .tcp()
            .set_write_timeout(Some(self.timeout))
            .map_err(ReadError::Io)?;
        self.conn
            .write_all(format!("{line}\r\n").as_bytes())
            .and_then(|()| self.conn.flush())
            .map_err(ReadError::from_io)?;
        self.read_reply()
    }

    /// The next reply, within the timeout as a whole (a server that
    /// trickles bytes does not get more time).
    pub(super) fn read_reply(&mut self) -> Result<Reply, ReadError> {
        let deadline = Deadline::after(self.timeout);
        let mut buf = [0u8; 4096];
        loop {
            if let Some(reply) = self.parser.next_reply().map_err(ReadError::Protocol)? {
                return Ok(reply);
            }
            let left = deadline.left();
            if left.is_zero() {
                return Err(ReadError::Timeout);
            }
            self.conn
                .tcp()
                .set_read_timeout(Some(left))
                .map_err(ReadError::Io)?;
            let n = self.conn.read(&mut buf).map_err(ReadError::from_io)?;
            let bytes = buf.get(..n).unwrap_or_default();
            if bytes.is_empty() {
                return Err(ReadError::Closed);
            }
            // A handshake record (0x16) or alert (0x15) of TLS 1.x.
            if !self.received && matches!(bytes, [0x15 | 0x16, 0x03, ..]) {
                return Err(ReadError::TlsRecord);
            }
            self.received = true;
            self.parser.push(bytes);
        }
    }

    /// The TCP connection, for the TLS handshake after STARTTLS; `None`
    /// when bytes are waiting that came before it.
    pub(super) fn into_plain(self) -> Option<TcpStream> {
        match self.conn {
            Conn::Plain(tcp) if !self.parser.has_buffered() => Some(tcp),
            _ => None,
        }
    }

    /// The server's address, to connect to it again.
    pub(super) fn peer_addr(&self) -> Option<SocketAddr> {
        self.conn.tcp().peer_addr().ok()
    }

    /// QUIT, politely: the reply is read but whatever happens is ignored,
    /// since everything worth knowing is known.
    pub(super) fn quit(mut self) {
        let _ = self.command("QUIT");
        if let Conn::Tls(stream) = &mut self.conn {
            stream.conn.send_close_notify();
            let _ = stream.flush();
        }
    }
}
