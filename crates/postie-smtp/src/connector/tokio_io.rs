//! How the tokio driver opens a connection: the [`Connector`] trait, the
//! [`Stream`] it returns, and the connectors postie brings (see
//! [`crate::connector`] for the seam as a whole).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::Context;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
#[cfg(unix)]
use tokio::net::UnixStream;

use crate::connector::{no_address_reached, ConnectError, Opened};
use crate::net::within;
use crate::net::ResolveError;
use crate::server::ServerAddr;

/// A connection the tokio driver can speak SMTP over, in clear or, after
/// STARTTLS, under tokio-rustls. Time limits are the driver's (tokio's
/// timers), not the stream's.
///
/// Implemented for tokio's [`TcpStream`] and (on Unix) `UnixStream`; a
/// connector that wraps a socket (a proxy's, say) implements it for its
/// wrapper.
pub trait Stream: AsyncRead + AsyncWrite + Send + Unpin {
    /// Whether an idle connection still looks open before it is reused: a
    /// server that closed it, or announced it would (421), has left
    /// something to read. Called once, inside a poll: it must answer at
    /// once, from one poll of its own (`cx` is that poll's context), not
    /// wait. The default, true, is always safe: a connection found closed
    /// when the next message starts is replaced then.
    fn looks_alive(&mut self, cx: &mut Context<'_>) -> bool {
        let _ = cx;
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
    fn looks_alive(&mut self, cx: &mut Context<'_>) -> bool {
        (**self).looks_alive(cx)
    }

    fn acknowledge(&self) {
        (**self).acknowledge();
    }
}

impl Stream for TcpStream {
    /// One poll of a peek: alive while it has nothing to show.
    fn looks_alive(&mut self, cx: &mut Context<'_>) -> bool {
        let mut byte = [0u8; 1];
        let mut buf = ReadBuf::new(&mut byte);
        self.poll_peek(cx, &mut buf).is_pending()
    }

    fn acknowledge(&self) {
        crate::net::quick_ack(socket2::SockRef::from(self));
    }
}

#[cfg(unix)]
impl Stream for UnixStream {
    /// One poll of readiness (tokio has no peek on Unix sockets).
    fn looks_alive(&mut self, cx: &mut Context<'_>) -> bool {
        self.poll_read_ready(cx).is_pending()
    }
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

/// What [`Connector::connect`] returns: boxed, so that connectors can be
/// chosen at run time (`dyn Connector`); one allocation per connection.
pub type ConnectFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Connection, ConnectError>> + Send + 'a>>;

/// Opens the tokio driver's connections; see [`crate::connector`].
///
/// ```
/// use std::time::Duration;
/// use postie_smtp::async_tokio::{ConnectFuture, Connector, TcpConnector};
/// use postie_smtp::ServerAddr;
///
/// /// Connects to port 2525 whatever port the server has.
/// struct Port2525;
///
/// impl Connector for Port2525 {
///     fn connect<'a>(&'a self, server: &'a ServerAddr, timeout: Duration) -> ConnectFuture<'a> {
///         Box::pin(async move {
///             let server = ServerAddr { host: server.host.clone(), port: 2525 };
///             TcpConnector::default().connect(&server, timeout).await
///         })
///     }
/// }
/// ```
pub trait Connector: Send + Sync {
    /// Opens a connection to `server`. `timeout` is the limit for
    /// connecting (already cut to what the send's deadline leaves); honour
    /// it, for each step that can wait (resolving, each address tried).
    fn connect<'a>(&'a self, server: &'a ServerAddr, timeout: Duration) -> ConnectFuture<'a>;
}

/// TCP: resolves the name with tokio's resolver within the limit, tries
/// each address in the resolver's order, each within the limit, and sets
/// TCP_NODELAY; as the blocking driver's
/// [`TcpConnector`](crate::blocking::TcpConnector) does. Local when the
/// peer is a loopback address.
#[derive(Clone, Copy, Debug, Default)]
pub struct TcpConnector {
    source: Option<std::net::IpAddr>,
}

impl TcpConnector {
    /// Connections from `source` (`None`: the system chooses), as the
    /// blocking driver's [`TcpConnector::source`](crate::blocking::TcpConnector::source).
    pub fn source(mut self, source: Option<std::net::IpAddr>) -> Self {
        self.source = source;
        self
    }
}

impl Connector for TcpConnector {
    fn connect<'a>(&'a self, server: &'a ServerAddr, timeout: Duration) -> ConnectFuture<'a> {
        Box::pin(connect_tcp(server, timeout, self.source))
    }
}

/// A connection to `addr`, from `source` when one is given.
async fn open(addr: SocketAddr, source: Option<std::net::IpAddr>) -> io::Result<TcpStream> {
    let Some(source) = source else {
        return TcpStream::connect(addr).await;
    };
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket
        .bind(SocketAddr::new(source, 0))
        .map_err(|e| crate::connector::bind_error(source, e))?;
    socket.connect(addr).await
}

async fn connect_tcp(
    server: &ServerAddr,
    timeout: Duration,
    source: Option<std::net::IpAddr>,
) -> Result<Connection, ConnectError> {
    let timeout = timeout.max(Duration::from_millis(1));
    let lookup = tokio::net::lookup_host((server.host.as_str(), server.port));
    let addrs: Vec<SocketAddr> = match tokio::time::timeout(timeout, lookup).await {
        Ok(Ok(addrs)) => addrs.collect(),
        Ok(Err(e)) => return Err(ConnectError::Resolve(e)),
        Err(_) => return Err(ResolveError::TimedOut.into()),
    };
    if addrs.is_empty() {
        return Err(ResolveError::NoAddresses.into());
    }
    let addrs = crate::connector::of_the_source_family(addrs, source, server)?;
    let mut last_error = None;
    for addr in addrs {
        match tokio::time::timeout(timeout, open(addr, source)).await {
            Ok(Ok(stream)) => {
                // Commands and the end of data are small writes; without
                // NODELAY each waits for the server's delayed ACK.
                stream.set_nodelay(true)?;
                let local = stream.peer_addr().is_ok_and(|a| a.ip().is_loopback());
                return Ok(Connection::new(stream).local(local));
            }
            Ok(Err(e)) => last_error = Some(e),
            Err(_) => {
                last_error = Some(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "connection timed out",
                ))
            }
        }
    }
    Err(last_error.unwrap_or_else(no_address_reached).into())
}

/// A Unix socket at the server's host, a path (local LMTP servers listen
/// on one), within the limit. Always local.
#[cfg(unix)]
#[derive(Clone, Copy, Debug, Default)]
pub struct UnixConnector;

#[cfg(unix)]
impl Connector for UnixConnector {
    fn connect<'a>(&'a self, server: &'a ServerAddr, timeout: Duration) -> ConnectFuture<'a> {
        Box::pin(async move {
            let stream = within(timeout, UnixStream::connect(&server.host)).await?;
            Ok(Connection::new(stream).local(true))
        })
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
    pub fn source(mut self, source: Option<std::net::IpAddr>) -> Self {
        self.tcp = self.tcp.source(source);
        self
    }
}

impl Connector for DirectConnector {
    fn connect<'a>(&'a self, server: &'a ServerAddr, timeout: Duration) -> ConnectFuture<'a> {
        #[cfg(unix)]
        if server.is_unix() {
            return UnixConnector.connect(server, timeout);
        }
        self.tcp.connect(server, timeout)
    }
}
