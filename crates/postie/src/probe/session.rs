//! One SMTP connection, in clear or over TLS, over TCP or a Unix socket:
//! commands out, replies in.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use postie_smtp::reply::ReplyParser;
use postie_smtp::{Reply, Trace, TraceKind};
use zeroize::Zeroizing;

use crate::exit;

use super::deadline::Deadline;
use super::failure::Failure;
use super::target::Target;
use super::tls::TlsStream;

/// A connection in clear or over TLS.
pub(super) enum Conn {
    /// TCP, in clear.
    Plain(TcpStream),
    /// TCP, after the TLS handshake.
    Tls(Box<TlsStream>),
    /// A Unix socket, always in clear: TLS is not tried on one.
    Unix(UnixStream),
}

impl Conn {
    /// The TCP connection under it, if any.
    fn tcp(&self) -> Option<&TcpStream> {
        match self {
            Self::Plain(tcp) => Some(tcp),
            Self::Tls(stream) => Some(&stream.sock),
            Self::Unix(_) => None,
        }
    }

    /// How long the next read may wait.
    fn set_read_timeout(&self, limit: Duration) -> io::Result<()> {
        match self {
            Self::Plain(tcp) => tcp.set_read_timeout(Some(limit)),
            Self::Tls(stream) => stream.sock.set_read_timeout(Some(limit)),
            Self::Unix(unix) => unix.set_read_timeout(Some(limit)),
        }
    }

    /// How long the next write may wait.
    fn set_write_timeout(&self, limit: Duration) -> io::Result<()> {
        match self {
            Self::Plain(tcp) => tcp.set_write_timeout(Some(limit)),
            Self::Tls(stream) => stream.sock.set_write_timeout(Some(limit)),
            Self::Unix(unix) => unix.set_write_timeout(Some(limit)),
        }
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Plain(tcp) => tcp.read(buf),
            Self::Tls(stream) => stream.read(buf),
            Self::Unix(unix) => unix.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Plain(tcp) => tcp.write(buf),
            Self::Tls(stream) => stream.write(buf),
            Self::Unix(unix) => unix.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Plain(tcp) => tcp.flush(),
            Self::Tls(stream) => stream.flush(),
            Self::Unix(unix) => unix.flush(),
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
    /// `-v`: the dialogue on standard error, as `postie send -v` shows it.
    verbose: bool,
}

impl Session {
    pub(super) fn new(conn: Conn, timeout: Duration) -> Self {
        Self {
            conn,
            parser: ReplyParser::default(),
            timeout,
            received: false,
            verbose: false,
        }
    }

    /// With `verbose`, the dialogue goes to standard error (secrets
    /// redacted).
    pub(super) fn verbose(mut self, verbose: bool) -> Self {
        self.verbose = verbose;
        self
    }

    /// A line of the transcript, with `-v`.
    pub(super) fn trace(&self, kind: TraceKind, text: &str) {
        if self.verbose {
            let text = text.to_owned();
            eprintln!("{}", Trace { kind, text });
        }
    }

    /// Sends one command line and reads its reply.
    pub(super) fn command(&mut self, line: &str) -> Result<Reply, ReadError> {
        self.trace(TraceKind::Sent, line);
        self.exchange(format!("{line}\r\n").as_bytes())
    }

    /// Sends a line that carries a secret (an AUTH response) and reads its
    /// reply: the line and its CRLF go out of one buffer of the exact size,
    /// wiped on drop, so that no copy of the secret is left behind. The
    /// transcript shows `shown` instead.
    pub(super) fn command_secret(&mut self, line: &str, shown: &str) -> Result<Reply, ReadError> {
        self.trace(TraceKind::Sent, shown);
        let mut wire = Zeroizing::new(Vec::with_capacity(line.len() + 2));
        wire.extend_from_slice(line.as_bytes());
        wire.extend_from_slice(b"\r\n");
        self.exchange(&wire)
    }

    /// Writes `wire` (whole lines) and reads the reply.
    fn exchange(&mut self, wire: &[u8]) -> Result<Reply, ReadError> {
        self.conn
            .set_write_timeout(self.timeout)
            .map_err(ReadError::Io)?;
        self.conn
            .write_all(wire)
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
                for line in reply.transcript_lines() {
                    self.trace(TraceKind::Received, &line);
                }
                return Ok(reply);
            }
            let left = deadline.left();
            if left.is_zero() {
                return Err(ReadError::Timeout);
            }
            self.conn.set_read_timeout(left).map_err(ReadError::Io)?;
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

    /// The server's address, to connect to it again; `None` over a Unix
    /// socket.
    pub(super) fn peer_addr(&self) -> Option<SocketAddr> {
        self.conn.tcp().and_then(|tcp| tcp.peer_addr().ok())
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
