//! The blocking driver's SOCKS5 connector: the [`Handshake`] over std's
//! sockets.

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use super::{io_failure, Failure, Handshake, Next, Socks5Proxy};
use crate::connector::blocking_io::{Connection, Connector, Stream, TcpConnector};
use crate::connector::{ConnectError, Opened};
use crate::server::ServerAddr;

/// Connects through a SOCKS5 proxy (see [`crate::connector::socks5`]):
/// TCP to the proxy, then the handshake, all within the connect limit.
/// Never local.
#[derive(Clone, Debug)]
pub struct Socks5Connector {
    proxy: Socks5Proxy,
    /// The local address the connection to the proxy is made from.
    source: Option<std::net::IpAddr>,
}

impl Socks5Connector {
    /// The connection to the proxy from `source` (`None`: the system
    /// chooses).
    pub fn source(mut self, source: Option<std::net::IpAddr>) -> Self {
        self.source = source;
        self
    }

    /// A connector through `proxy`.
    pub fn new(proxy: Socks5Proxy) -> Self {
        Self {
            proxy,
            source: None,
        }
    }
}

impl Connector for Socks5Connector {
    fn connect(&self, server: &ServerAddr, timeout: Duration) -> Result<Connection, ConnectError> {
        let timeout = timeout.max(Duration::from_millis(1));
        // The request is made (and the server's name checked) before the
        // proxy is reached.
        let handshake = self.proxy.handshake(server)?;
        let started = Instant::now();
        let opened = TcpConnector::default()
            .source(self.source)
            .connect(self.proxy.addr(), timeout)
            .map_err(|e| self.proxy.error(Failure::Unreachable(e)))?;
        let mut stream = opened.stream;
        let left = || {
            timeout
                .checked_sub(started.elapsed())
                .filter(|d| !d.is_zero())
                .ok_or(Failure::TimedOut(timeout))
        };
        run(handshake, &mut stream, left, timeout).map_err(|e| self.proxy.error(e))?;
        Ok(Opened {
            stream,
            local: false,
        })
    }
}

/// Runs `handshake` on `stream`, each read and write limited to what
/// `left` says remains of the connect limit (`timeout`).
fn run(
    mut handshake: Handshake,
    stream: &mut Box<dyn Stream>,
    left: impl Fn() -> Result<Duration, Failure>,
    timeout: Duration,
) -> Result<(), Failure> {
    let io = |e: io::Error| io_failure(e, timeout);
    let mut buf = [0u8; 255 + 2];
    loop {
        match handshake.poll() {
            Next::Write(bytes) => {
                stream.set_write_timeout(left()?).map_err(io)?;
                stream.write_all(&bytes).map_err(io)?;
                stream.flush().map_err(io)?;
            }
            Next::Read(n) => {
                // The handshake never asks for more than a name and a port.
                let part = buf.get_mut(..n).ok_or(Failure::Unasked)?;
                stream.set_read_timeout(left()?).map_err(io)?;
                stream.read_exact(part).map_err(io)?;
                handshake.received(part)?;
            }
            Next::Done => return Ok(()),
            // `received` returned the error first.
            Next::Failed => return Err(Failure::Unasked),
        }
    }
}
