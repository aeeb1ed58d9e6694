//! How the blocking driver opens a connection: the [`Connector`] trait,
//! the [`Stream`] it returns, and the connectors postie brings (see
//! [`crate::connector`] for the seam as a whole).

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
#[cfg(unix)]
use std::os::unix::net::UnixStream;
use std::time::Duration;

use crate::connector::{no_address_reached, ConnectError, Opened};
use crate::net;
use crate::server::ServerAddr;

/// A connection the blocking driver can speak SMTP over, in clear or, after
/// STARTTLS, under rustls.
///
/// Implemented for [`TcpStream`] and (on Unix) [`UnixStream`]; a connector
/// that wraps a socket (a proxy's, say) implements it for its wrapper.
pub trait Stream: Read + Write + Send {
    /// Limits each read from now on to `limit` (never zero): a read that
    /// waits longer fails with `WouldBlock` or `TimedOut`, as std's sockets
    /// do with `set_read_timeout`. The driver sets it before every read.
    fn set_read_timeout(&self, limit: Duration) -> io::Result<()>;

    /// Limits each write from now on to `limit` (never zero), as
    /// [`Stream::set_read_timeout`] does reads. While the body is written
    /// it is set again as the send's deadline nears.
    fn set_write_timeout(&self, limit: Duration) -> io::Result<()>;

    /// Whether an idle connection still looks open before it is reused: a
    /// server that closed it, or announced it would (421), has left
    /// something to read. It must not block or cost a round trip. The
    /// default, true, is always safe: a connection found closed when the
    /// next message starts is replaced then.
    fn looks_alive(&mut self) -> bool {
        true
    }

    /// Acknowledges what was read at once instead of after the delayed-ACK
    /// timer. The driver calls it after each read of replies: a server that
    /// holds a reply back until its previous one is acknowledged (Nagle's
    /// algorithm, as Haraka's sockets run) would otherwise wait about 40 ms
    /// for every pipelined batch. The default does nothing.
    fn acknowledge(&self) {}
}

/// A boxed stream is a stream: the driver keeps its connection as
/// `Box<dyn Stream>`, and a connector may return one it got boxed.
impl<S: Stream + ?Sized> Stream for Box<S> {
    fn set_read_timeout(&self, limit: Duration) -> io::Result<()> {
        (**self).set_read_timeout(limit)
    }

    fn set_write_timeout(&self, limit: Duration) -> io::Result<()> {
        (**self).set_write_timeout(limit)
    }

    fn looks_alive(&mut self) -> bool {
        (**self).looks_alive()
    }

    fn acknowledge(&self) {
        (**self).acknowledge();
    }
}

impl Stream for TcpStream {
    fn set_read_timeout(&self, limit: Duration) -> io::Result<()> {
        TcpStream::set_read_timeout(self, Some(limit))
    }

    fn set_write_timeout(&self, limit: Duration) -> io::Result<()> {
        TcpStream::set_write_timeout(self, Some(limit))
    }

    /// A non-blocking peek.
    fn looks_alive(&mut self) -> bool {
        let mut byte = [0u8; 1];
        quiet(self, TcpStream::set_nonblocking, |t| {
            would_block(t.peek(&mut byte))
        })
    }

    fn acknowledge(&self) {
        crate::net::quick_ack(socket2::SockRef::from(self));
    }
}

#[cfg(unix)]
impl Stream for UnixStream {
    fn set_read_timeout(&self, limit: Duration) -> io::Result<()> {
        UnixStream::set_read_timeout(self, Some(limit))
    }

    fn set_write_timeout(&self, limit: Duration) -> io::Result<()> {
        UnixStream::set_write_timeout(self, Some(limit))
    }

    /// A non-blocking read: std has no peek on Unix sockets, and a byte
    /// read here would only be the start of a goodbye (the connection is
    /// dropped then).
    fn looks_alive(&mut self) -> bool {
        let mut byte = [0u8; 1];
        quiet(self, UnixStream::set_nonblocking, |mut u| {
            would_block(u.read(&mut byte))
        })
    }
}

fn would_block(r: io::Result<usize>) -> bool {
    matches!(r, Err(ref e) if e.kind() == io::ErrorKind::WouldBlock)
}

/// Runs `check` on `socket` in non-blocking mode; false if the mode cannot
/// be switched.
fn quiet<S>(
    socket: &S,
    set_nonblocking: fn(&S, bool) -> io::Result<()>,
    check: impl FnOnce(&S) -> bool,
) -> bool {
    if set_nonblocking(socket, true).is_err() {
        return false;
    }
    let alive = check(socket);
    set_nonblocking(socket, false).is_ok() && alive
}

/// An open connection, as a [`Connector`] returns it.
pub type Connection = Opened<dyn Stream>;

impl Connection {
    /// A connection over `stream`, not local (see [`Opened::local`]).
    pub fn new(stream: impl Stream + 'static) -> Self {
        Opened {
            stream: Box::new(stream),
            local: false,
        }
    }
}

/// Opens the blocking driver's connections; see [`crate::connector`].
pub trait Connector: Send + Sync {
    /// Opens a connection to `server`. `timeout` is the limit for
    /// connecting (already cut to what the send's deadline leaves); honour
    /// it, for each step that can wait (resolving, each address tried).
    fn connect(&self, server: &ServerAddr, timeout: Duration) -> Result<Connection, ConnectError>;
}

/// TCP: resolves the name within the limit (on a helper thread, see
/// [`net::resolve`]), tries each address in the resolver's order (IPv6 and
/// IPv4), each within the limit, so an address that swallows packets does
/// not keep the others from being tried, and sets TCP_NODELAY. Local when
/// the peer is a loopback address. With a source address
/// ([`TcpConnector::source`]) each connection is made from it, and only
/// the server's addresses of its family are tried.
#[derive(Clone, Copy, Debug, Default)]
pub struct TcpConnector {
    source: Option<IpAddr>,
}

impl TcpConnector {
    /// Connections from `source` (`None`: the system chooses).
    pub fn source(mut self, source: Option<IpAddr>) -> Self {
        self.source = source;
        self
    }
}

impl Connector for TcpConnector {
    fn connect(&self, server: &ServerAddr, timeout: Duration) -> Result<Connection, ConnectError> {
        let timeout = timeout.max(Duration::from_millis(1));
        let addrs = net::resolve(&server.host, server.port, timeout)?;
        let addrs = crate::connector::of_the_source_family(addrs, self.source, server)?;
        let mut last_error = None;
        for addr in addrs {
            let connected = match self.source {
                None => TcpStream::connect_timeout(&addr, timeout),
                Some(source) => connect_from(source, addr, timeout),
            };
            match connected {
                Ok(stream) => {
                    // Commands and the end of data are small writes;
                    // without NODELAY each waits for the server's delayed
                    // ACK.
                    stream.set_nodelay(true)?;
                    let local = stream.peer_addr().is_ok_and(|a| a.ip().is_loopback());
                    return Ok(Connection::new(stream).local(local));
                }
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or_else(no_address_reached).into())
    }
}

/// A connection to `addr` from `source` (any port), within `timeout`.
fn connect_from(source: IpAddr, addr: SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket
        .bind(&SocketAddr::new(source, 0).into())
        .map_err(|e| crate::connector::bind_error(source, e))?;
    socket.connect_timeout(&addr.into(), timeout)?;
    Ok(socket.into())
}

/// A Unix socket at the server's host, a path (local LMTP servers listen
/// on one). Always local. The connection is made without a limit: a local
/// socket accepts or refuses at once.
#[cfg(unix)]
#[derive(Clone, Copy, Debug, Default)]
pub struct UnixConnector;

#[cfg(unix)]
impl Connector for UnixConnector {
    fn connect(&self, server: &ServerAddr, _timeout: Duration) -> Result<Connection, ConnectError> {
        let stream = UnixStream::connect(&server.host)?;
        Ok(Connection::new(stream).local(true))
    }
}

/// The default: a Unix socket for a server given as a path
/// ([`ServerAddr::is_unix`], on Unix), TCP otherwise (from the source
/// address, if one is set).
#[derive(Clone, Copy, Debug, Default)]
pub struct DirectConnector {
    tcp: TcpConnector,
}

impl DirectConnector {
    /// TCP connections from `source` (`None`: the system chooses).
    pub fn source(mut self, source: Option<IpAddr>) -> Self {
        self.tcp = self.tcp.source(source);
        self
    }
}

impl Connector for DirectConnector {
    fn connect(&self, server: &ServerAddr, timeout: Duration) -> Result<Connection, ConnectError> {
        #[cfg(unix)]
        if server.is_unix() {
            return UnixConnector.connect(server, timeout);
        }
        self.tcp.connect(server, timeout)
    }
}
