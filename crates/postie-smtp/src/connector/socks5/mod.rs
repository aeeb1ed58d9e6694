//! SOCKS5 (RFC 1928): connecting to each server through a proxy, with a
//! username and password (RFC 1929) when the proxy asks for them.
//!
//! The proxy is asked for the server by name (address type 3), so the
//! name is resolved by the proxy and never looked up on this machine; an
//! IP address goes as one (types 1 and 4). TLS, STARTTLS or implicit, runs
//! through the tunnel as over any connection, and the certificate is
//! checked against the server's name, not the proxy's. A connection
//! through a proxy is never local, even to a proxy on loopback: PLAIN and
//! LOGIN still need TLS there.
//!
//! The handshake is [`Handshake`], without I/O, shared by the blocking
//! [`Socks5Connector`](crate::blocking::Socks5Connector) and the tokio
//! one; each does the whole handshake (reaching the proxy included)
//! within the connect limit. A send uses them when its settings name a
//! proxy ([`crate::SendOptions::proxy`]); an application can also give one
//! through [`crate::SendOptions::connectors`].
//!
//! ```
//! use postie_smtp::connector::socks5::Socks5Proxy;
//! use postie_smtp::connector::Connectors;
//! use postie_smtp::{blocking, ProxySettings, Secret, SendOptions};
//!
//! // Through the settings: the transcript names the proxy, and a spool
//! // keeps it with the message.
//! let proxy = ProxySettings::from_url("socks5://bob@127.0.0.1:1080")?;
//! let options = SendOptions::new()
//!     .proxy(proxy)
//!     .proxy_password(Secret::new(std::env::var("PROXY_PASSWORD").unwrap_or_default()));
//!
//! // Or as a connector of one's own.
//! let proxy = Socks5Proxy::new("127.0.0.1", 1080);
//! let options = SendOptions::new()
//!     .connectors(Connectors::new().blocking(blocking::Socks5Connector::new(proxy)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub(crate) mod blocking_io;
mod codec;
#[cfg(feature = "tokio")]
pub(crate) mod tokio_io;
mod url;

use std::fmt;
use std::io;
use std::time::Duration;

pub use codec::{
    auth_reply, auth_request, connect_request, greeting, method_choice, reply_head, reply_meaning,
    Handshake, Next,
};
pub use url::{ProxyUrlError, DEFAULT_PROXY_PORT};

use crate::connector::ConnectError;
use crate::sasl::Secret;
use crate::server::ServerAddr;
use crate::settings::ProxySettings;

/// What went wrong with a SOCKS5 proxy; [`ProxyError`] adds which proxy.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Failure {
    /// The proxy itself could not be reached.
    #[error("{}", unreachable(.0))]
    Unreachable(#[source] ConnectError),
    /// Reading or writing failed during the handshake.
    #[error("the connection failed during the handshake: {0}")]
    Io(#[source] io::Error),
    /// The proxy closed the connection during the handshake.
    #[error("it closed the connection during the handshake")]
    Closed,
    /// The handshake did not end within the connect limit.
    #[error("the handshake did not end within the connect limit ({0:?})")]
    TimedOut(Duration),
    /// A reply's version byte is not SOCKS5's: not a SOCKS5 proxy.
    #[error("it does not speak SOCKS5: a reply has version {0}, not 5")]
    Version(u8),
    /// The proxy takes none of the authentication methods offered (0xFF).
    #[error(
        "it accepts none of the authentication methods offered ({})",
        if *offered_password { "none, username/password" } else { "none; it may want a user and password" }
    )]
    NoAcceptableMethod {
        /// Whether username/password was among them.
        offered_password: bool,
    },
    /// The proxy chose a method that was not offered.
    #[error("it chose authentication method {0:#04x}, which was not offered")]
    UnofferedMethod(u8),
    /// The reply to the username and password is not RFC 1929's.
    #[error("its answer to the username and password has version {0}, not 1 (RFC 1929)")]
    AuthVersion(u8),
    /// The proxy refused the username and password.
    #[error("it refused the username and password (status {0})")]
    AuthRefused(u8),
    /// The proxy could not connect to the server: the reply code (REP) of
    /// RFC 1928 §6.
    #[error("{meaning} (REP {code})", code = .0, meaning = reply_meaning(*.0).unwrap_or("succeeded"))]
    Reply(u8),
    /// The reply's reserved byte is not 0.
    #[error("its reply has {0} in the reserved byte, not 0")]
    Reserved(u8),
    /// The reply's address type is none of RFC 1928's.
    #[error("its reply has an unknown address type {0}")]
    AddressType(u8),
    /// The reply names its bound address with an empty name.
    #[error("its reply gives an empty name as the bound address")]
    EmptyBoundName,
    /// Bytes were given to the handshake that it did not ask for (a caller
    /// of [`Handshake`] out of step).
    #[error("the handshake was given bytes it did not ask for")]
    Unasked,
    /// The server is a Unix socket, which no proxy can reach.
    #[error("{0} is a Unix socket, which cannot be reached through a proxy")]
    UnixSocket(String),
    /// The server's name cannot go in a SOCKS5 request.
    #[error("the server name {0:?} cannot be sent to a proxy: it must be ASCII without control characters (an IDN as its xn-- form)")]
    BadName(String),
    /// The server's name is longer than SOCKS5 can carry.
    #[error("the server name is {0} bytes long; SOCKS5 carries at most 255")]
    NameTooLong(usize),
    /// The user is empty or longer than RFC 1929 allows.
    #[error("the user must be 1 to 255 bytes long, not {0}")]
    UserLength(usize),
    /// The password is empty or longer than RFC 1929 allows.
    #[error("the password must be 1 to 255 bytes long, not {0}")]
    PasswordLength(usize),
    /// A user is named without a password.
    #[error("user {0:?} has no password")]
    NoPassword(String),
    /// A password is given without a user.
    #[error("a password is given without a user")]
    PasswordWithoutUser,
    /// The settings name a proxy while the options also give connectors
    /// of their own, which would not go through it.
    #[error("the options also give connectors of their own, which would not go through the proxy: give one or the other")]
    WithConnectors,
}

/// Why the proxy could not be reached, in words that do not repeat the
/// "cannot connect" the driver's error puts first.
fn unreachable(e: &ConnectError) -> String {
    match e {
        ConnectError::Resolve(e) => format!("its name does not resolve: {e}"),
        ConnectError::Connect(e) => format!("cannot reach it: {e}"),
    }
}

impl Failure {
    /// The kind of I/O error this is, for callers that look at kinds: a
    /// destination that refused is `ConnectionRefused`, a handshake out of
    /// time `TimedOut`, a refused user `PermissionDenied`, a reply that
    /// makes no sense `InvalidData`, a setting that cannot work
    /// `InvalidInput`.
    pub fn kind(&self) -> io::ErrorKind {
        use io::ErrorKind as K;
        match self {
            Self::Unreachable(ConnectError::Resolve(e) | ConnectError::Connect(e))
            | Self::Io(e) => e.kind(),
            Self::Closed => K::UnexpectedEof,
            Self::TimedOut(_) | Self::Reply(6) => K::TimedOut,
            Self::Reply(3) => K::NetworkUnreachable,
            Self::Reply(4) => K::HostUnreachable,
            Self::Reply(5) => K::ConnectionRefused,
            Self::Reply(2) | Self::NoAcceptableMethod { .. } | Self::AuthRefused(_) => {
                K::PermissionDenied
            }
            Self::Reply(7 | 8) => K::Unsupported,
            Self::Reply(_) => K::Other,
            Self::Version(_)
            | Self::UnofferedMethod(_)
            | Self::AuthVersion(_)
            | Self::Reserved(_)
            | Self::AddressType(_)
            | Self::EmptyBoundName
            | Self::Unasked => K::InvalidData,
            Self::UnixSocket(_)
            | Self::BadName(_)
            | Self::NameTooLong(_)
            | Self::UserLength(_)
            | Self::PasswordLength(_)
            | Self::NoPassword(_)
            | Self::PasswordWithoutUser
            | Self::WithConnectors => K::InvalidInput,
        }
    }
}

/// A SOCKS5 proxy's failure, naming the proxy:
/// `SOCKS5 proxy 127.0.0.1:1080: connection refused by the destination (REP 5)`.
///
/// A connector reports it as [`ConnectError::Connect`] with an
/// [`io::Error`] of [`Failure::kind`] that holds it (reach it with
/// `get_ref` and `downcast_ref`).
#[derive(Debug, thiserror::Error)]
#[error("SOCKS5 proxy {proxy}: {failure}")]
pub struct ProxyError {
    proxy: ServerAddr,
    #[source]
    failure: Failure,
}

impl ProxyError {
    /// `failure` at the proxy at `proxy`.
    pub fn new(proxy: ServerAddr, failure: Failure) -> Self {
        Self { proxy, failure }
    }

    /// The proxy.
    pub fn proxy(&self) -> &ServerAddr {
        &self.proxy
    }

    /// What went wrong.
    pub fn failure(&self) -> &Failure {
        &self.failure
    }

    /// Whether the proxy was reached and answered for the server (a
    /// failure reply, REP), rather than failing itself or being
    /// unreachable.
    pub fn is_from_the_destination(&self) -> bool {
        matches!(self.failure, Failure::Reply(3..=6))
    }
}

impl From<ProxyError> for io::Error {
    fn from(e: ProxyError) -> Self {
        io::Error::new(e.failure.kind(), e)
    }
}

impl From<ProxyError> for ConnectError {
    /// [`ConnectError::Connect`]: the proxy, or the server through it,
    /// could not be reached; failover moves to the next server.
    fn from(e: ProxyError) -> Self {
        ConnectError::Connect(e.into())
    }
}

/// The failure an I/O error during the handshake is: the proxy closed the
/// connection, the time ran out, or another I/O error.
pub(crate) fn io_failure(e: io::Error, timeout: Duration) -> Failure {
    match e.kind() {
        io::ErrorKind::UnexpectedEof => Failure::Closed,
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Failure::TimedOut(timeout),
        _ => Failure::Io(e),
    }
}

/// A SOCKS5 proxy: where it is, and the user and password to give it if
/// it asks for them.
#[derive(Clone)]
pub struct Socks5Proxy {
    addr: ServerAddr,
    credentials: Option<(String, Secret)>,
}

impl fmt::Debug for Socks5Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Socks5Proxy")
            .field("addr", &self.addr)
            .field("user", &self.credentials.as_ref().map(|(user, _)| user))
            .finish()
    }
}

impl Socks5Proxy {
    /// The proxy at `host` (a name, resolved here, or an address) and
    /// `port`, without a user.
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        Self {
            addr: ServerAddr {
                host: host.into(),
                port,
            },
            credentials: None,
        }
    }

    /// The same proxy, with a user and password (each 1 to 255 bytes,
    /// RFC 1929) for when it asks.
    pub fn credentials(
        mut self,
        user: impl Into<String>,
        password: Secret,
    ) -> Result<Self, ProxyError> {
        let user = user.into();
        // Checked now rather than at the first connection.
        codec::check_credential_lengths(&user, &password).map_err(|e| self.error(e))?;
        self.credentials = Some((user, password));
        Ok(self)
    }

    /// The proxy the settings name, with `password` for its user.
    pub fn from_settings(
        settings: &ProxySettings,
        password: Option<&Secret>,
    ) -> Result<Self, ProxyError> {
        let proxy = Self::new(settings.host.clone(), settings.port);
        match (&settings.username, password) {
            (None, None) => Ok(proxy),
            (Some(user), Some(password)) => proxy.credentials(user.clone(), password.clone()),
            (Some(user), None) => Err(proxy.error(Failure::NoPassword(user.clone()))),
            (None, Some(_)) => Err(proxy.error(Failure::PasswordWithoutUser)),
        }
    }

    /// Where the proxy is.
    pub fn addr(&self) -> &ServerAddr {
        &self.addr
    }

    /// A handshake asking for `server`.
    pub fn handshake(&self, server: &ServerAddr) -> Result<Handshake, ProxyError> {
        let credentials = self.credentials.as_ref().map(|(u, p)| (u.as_str(), p));
        Handshake::new(&server.host, server.port, credentials).map_err(|e| self.error(e))
    }

    /// `failure`, naming this proxy.
    pub fn error(&self, failure: Failure) -> ProxyError {
        ProxyError::new(self.addr.clone(), failure)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_proxy_and_keep_a_kind() {
        let proxy = Socks5Proxy::new("127.0.0.1", 1080);
        let e = proxy.error(Failure::Reply(5));
        assert_eq!(
            e.to_string(),
            "SOCKS5 proxy 127.0.0.1:1080: connection refused by the destination (REP 5)"
        );
        assert!(e.is_from_the_destination());
        let io: io::Error = e.into();
        assert_eq!(io.kind(), io::ErrorKind::ConnectionRefused);
        let inner = io.get_ref().and_then(|e| e.downcast_ref::<ProxyError>());
        assert!(matches!(
            inner.map(ProxyError::failure),
            Some(Failure::Reply(5))
        ));
        let v6 = Socks5Proxy::new("::1", 1080).error(Failure::Closed);
        assert_eq!(
            v6.to_string(),
            "SOCKS5 proxy [::1]:1080: it closed the connection during the handshake"
        );
    }

    #[test]
    fn settings_need_a_password_exactly_when_they_name_a_user() {
        let password = Secret::new("hunter2");
        let plain = ProxySettings::new("p.example", 1080);
        assert!(Socks5Proxy::from_settings(&plain, None).is_ok());
        assert!(matches!(
            Socks5Proxy::from_settings(&plain, Some(&password)).map_err(|e| e.failure),
            Err(Failure::PasswordWithoutUser)
        ));
        let user = ProxySettings::new("p.example", 1080).user("bob", None);
        assert!(matches!(
            Socks5Proxy::from_settings(&user, None).map_err(|e| e.failure),
            Err(Failure::NoPassword(u)) if u == "bob"
        ));
        let proxy = Socks5Proxy::from_settings(&user, Some(&password)).unwrap();
        let shown = format!("{proxy:?}");
        assert!(
            shown.contains("bob") && !shown.contains("hunter2"),
            "{shown}"
        );
    }
}
