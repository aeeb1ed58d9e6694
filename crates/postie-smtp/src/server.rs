//! Where a message goes: a server and its port.

use std::fmt;

/// The port used when a server has none.
pub const DEFAULT_PORT: u16 = 25;
/// The port used when a server has none and TLS is implicit (RFC 8314).
pub const IMPLICIT_TLS_PORT: u16 = 465;

/// A server and port, as tried.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ServerAddr {
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
}

impl ServerAddr {
    /// Whether this is a Unix socket (a path starting with `/`), as for a
    /// local LMTP server; the port is then unused.
    pub fn is_unix(&self) -> bool {
        self.host.starts_with('/')
    }
}

impl fmt::Display for ServerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_unix() {
            write!(f, "{}", self.host)
        } else if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}
