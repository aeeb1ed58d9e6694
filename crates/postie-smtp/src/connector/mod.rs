//! How a connection is opened: the connector seam.
//!
//! Each driver asks a connector for the connection to a server when the
//! core says [`Step::Connect`](crate::proto::Step::Connect), and speaks
//! SMTP over whatever stream it gets back: the greeting, STARTTLS (rustls
//! runs over that stream), AUTH, the message. The blocking driver's
//! connectors implement [`blocking::Connector`](blocking_io::Connector)
//! and return a [`blocking::Stream`](crate::blocking::Stream) (it reads,
//! writes and takes time limits); the tokio driver's implement
//! `async_tokio::Connector` and return an `async_tokio::Stream` (it is
//! `AsyncRead` and `AsyncWrite`).
//!
//! Each driver comes with these connectors:
//!
//! - `TcpConnector`: resolves the name (within the connect limit), then
//!   tries each address in the resolver's order, each within the limit, and
//!   sets TCP_NODELAY (commands and the end of data are small writes;
//!   without it each waits for the server's delayed ACK);
//! - `UnixConnector` (Unix): the server's host is the path of a Unix
//!   socket, as local LMTP servers often are;
//! - `DirectConnector`, the default: a Unix socket for a server given as a
//!   path starting with `/`, TCP otherwise;
//! - `Socks5Connector`: through a SOCKS5 proxy ([`socks5`]), which resolves
//!   the server's name and connects to it; used in place of the default
//!   when the settings name a proxy ([`SendOptions::proxy`](crate::SendOptions::proxy)).
//!
//! Give your own through [`SendOptions::connectors`](crate::SendOptions::connectors)
//! (the sessions and pools of both drivers take it from their options, and
//! have a `connector` method of their own too). Settings that name a proxy
//! and connectors of one's own do not go together: the send is refused
//! before it connects, rather than bypass the proxy.
//!
//! A connector also says whether the connection stays on this machine
//! (loopback, or a Unix socket): only there may PLAIN and LOGIN go without
//! TLS. It is false unless the connector says so.
//!
//! ```
//! use std::sync::atomic::{AtomicUsize, Ordering};
//! use std::sync::Arc;
//! use std::time::Duration;
//! use postie_smtp::blocking::{Connection, Connector, DirectConnector};
//! use postie_smtp::connector::{ConnectError, Connectors};
//! use postie_smtp::{SendOptions, ServerAddr};
//!
//! /// Counts the connections it opens.
//! #[derive(Default)]
//! struct Counting(Arc<AtomicUsize>);
//!
//! impl Connector for Counting {
//!     fn connect(&self, server: &ServerAddr, timeout: Duration) -> Result<Connection, ConnectError> {
//!         self.0.fetch_add(1, Ordering::Relaxed);
//!         DirectConnector::default().connect(server, timeout)
//!     }
//! }
//!
//! let options = SendOptions::new().connectors(Connectors::new().blocking(Counting::default()));
//! ```

pub(crate) mod blocking_io;
pub mod socks5;
#[cfg(feature = "tokio")]
pub(crate) mod tokio_io;

use std::fmt;
use std::io;
use std::net::IpAddr;
use std::sync::Arc;

use crate::net::ResolveError;
use socks5::{Failure, Socks5Proxy};

/// Why a connector opened no connection. The drivers report it as
/// [`Cause::Resolve`](crate::Cause::Resolve) or [`Cause::Connect`](crate::Cause::Connect), and failover moves to the next
/// server either way.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The server's name does not resolve (or did not within the limit).
    #[error("host name does not resolve: {0}")]
    Resolve(#[source] io::Error),
    /// No address of the server accepted a connection (or the connection
    /// could not be set up).
    #[error("cannot connect: {0}")]
    Connect(#[source] io::Error),
}

impl From<io::Error> for ConnectError {
    /// An I/O error while connecting: [`ConnectError::Connect`].
    fn from(e: io::Error) -> Self {
        Self::Connect(e)
    }
}

impl From<ResolveError> for ConnectError {
    fn from(e: ResolveError) -> Self {
        Self::Resolve(e.into())
    }
}

/// The connectors a send uses, one per driver, for
/// [`SendOptions::connectors`](crate::SendOptions::connectors); a driver
/// with none uses its `DirectConnector`.
///
/// When connectors are given for one driver only, the other driver refuses
/// to connect (each server fails with [`Cause::Connect`](crate::Cause::Connect)) rather than
/// connect directly: a connector that goes through a proxy must not be
/// bypassed because the options ended up with the other driver.
#[derive(Clone, Default)]
pub struct Connectors {
    blocking: Option<Arc<dyn blocking_io::Connector>>,
    #[cfg(feature = "tokio")]
    tokio: Option<Arc<dyn tokio_io::Connector>>,
}

impl fmt::Debug for Connectors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("Connectors");
        s.field("blocking", &self.blocking.as_ref().map(|_| "custom"));
        #[cfg(feature = "tokio")]
        s.field("tokio", &self.tokio.as_ref().map(|_| "custom"));
        s.finish()
    }
}

impl Connectors {
    /// None given: each driver connects directly.
    pub fn new() -> Self {
        Self::default()
    }

    /// The blocking driver's connector.
    pub fn blocking(mut self, connector: impl blocking_io::Connector + 'static) -> Self {
        self.blocking = Some(Arc::new(connector));
        self
    }

    /// The tokio driver's connector.
    #[cfg(feature = "tokio")]
    pub fn tokio(mut self, connector: impl tokio_io::Connector + 'static) -> Self {
        self.tokio = Some(Arc::new(connector));
        self
    }

    /// Whether any connector was given (a proxy in the settings does not
    /// go with one).
    pub(crate) fn any(&self) -> bool {
        #[cfg(feature = "tokio")]
        let tokio = self.tokio.is_some();
        #[cfg(not(feature = "tokio"))]
        let tokio = false;
        self.blocking.is_some() || tokio
    }

    /// The connector the blocking driver uses: through `proxy` when the
    /// settings name one.
    pub(crate) fn for_blocking(
        &self,
        proxy: Option<Socks5Proxy>,
        source: Option<IpAddr>,
    ) -> Result<Arc<dyn blocking_io::Connector>, ConnectError> {
        if source.is_some() && self.any() {
            return Err(source_with_connectors());
        }
        match (&self.blocking, proxy) {
            (_, Some(proxy)) if self.any() => Err(proxy.error(Failure::WithConnectors).into()),
            (_, Some(proxy)) => Ok(Arc::new(
                socks5::blocking_io::Socks5Connector::new(proxy).source(source),
            )),
            (Some(connector), None) => Ok(Arc::clone(connector)),
            (None, None) if self.any() => Err(only_for_the_other("tokio")),
            (None, None) => Ok(Arc::new(
                blocking_io::DirectConnector::default().source(source),
            )),
        }
    }

    /// The connector the tokio driver uses: through `proxy` when the
    /// settings name one.
    #[cfg(feature = "tokio")]
    pub(crate) fn for_tokio(
        &self,
        proxy: Option<Socks5Proxy>,
        source: Option<IpAddr>,
    ) -> Result<Arc<dyn tokio_io::Connector>, ConnectError> {
        if source.is_some() && self.any() {
            return Err(source_with_connectors());
        }
        match (&self.tokio, proxy) {
            (_, Some(proxy)) if self.any() => Err(proxy.error(Failure::WithConnectors).into()),
            (_, Some(proxy)) => Ok(Arc::new(
                socks5::tokio_io::Socks5Connector::new(proxy).source(source),
            )),
            (Some(connector), None) => Ok(Arc::clone(connector)),
            (None, None) if self.any() => Err(only_for_the_other("blocking")),
            (None, None) => Ok(Arc::new(
                tokio_io::DirectConnector::default().source(source),
            )),
        }
    }
}

/// A source address with the application's own connectors: they open
/// connections as they will, so the setting could not be honoured.
fn source_with_connectors() -> ConnectError {
    ConnectError::Connect(io::Error::new(
        io::ErrorKind::Unsupported,
        "a source address (source_ip) is honoured by postie's own connectors only, and the options give others",
    ))
}

/// `addrs` of the source address's family (all of them without one): an
/// IPv4 source cannot reach an IPv6 address. None left is an error naming
/// both.
pub(crate) fn of_the_source_family(
    addrs: Vec<std::net::SocketAddr>,
    source: Option<IpAddr>,
    server: &crate::server::ServerAddr,
) -> Result<Vec<std::net::SocketAddr>, ConnectError> {
    let Some(source) = source else {
        return Ok(addrs);
    };
    let kept: Vec<_> = addrs
        .into_iter()
        .filter(|a| a.is_ipv4() == source.is_ipv4())
        .collect();
    if kept.is_empty() {
        let family = if source.is_ipv4() { "IPv4" } else { "IPv6" };
        return Err(ConnectError::Connect(io::Error::new(
            io::ErrorKind::AddrNotAvailable,
            format!(
                "{} has no {family} address, and the source address {source} is {family}",
                server.host
            ),
        )));
    }
    Ok(kept)
}

/// Binding to `source` failed: say which address (usually one this host
/// does not have).
pub(crate) fn bind_error(source: IpAddr, error: io::Error) -> io::Error {
    io::Error::new(
        error.kind(),
        format!("cannot connect from the source address {source}: {error}"),
    )
}

/// The error of a TCP connector when a name had addresses and none was
/// tried.
pub(crate) fn no_address_reached() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "no address could be reached")
}

/// The refusal of a driver that was given no connector while the other
/// driver was.
fn only_for_the_other(driver: &str) -> ConnectError {
    ConnectError::Connect(io::Error::new(
        io::ErrorKind::Unsupported,
        format!("the options give a connector for the {driver} driver only"),
    ))
}

/// An open connection over a driver's stream type `S` (the drivers name
/// theirs `Connection`): the stream, and whether it stays on this machine.
pub struct Opened<S: ?Sized> {
    pub(crate) stream: Box<S>,
    pub(crate) local: bool,
}

impl<S: ?Sized> Opened<S> {
    /// Whether the connection stays on this machine (loopback, a Unix
    /// socket), where PLAIN and LOGIN may go without TLS. Say so only when
    /// the server itself is here: a proxy on loopback does not make the
    /// server local.
    pub fn local(mut self, yes: bool) -> Self {
        self.local = yes;
        self
    }
}

impl<S: ?Sized> fmt::Debug for Opened<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("local", &self.local)
            .finish_non_exhaustive()
    }
}
