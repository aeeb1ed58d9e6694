//! The tokio driver's SOCKS5 connector: the [`Handshake`] over tokio's
//! sockets.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{io_failure, Failure, Handshake, Next, Socks5Proxy};
use crate::connector::tokio_io::{ConnectFuture, Connection, Connector, Stream, TcpConnector};
use crate::connector::{ConnectError, Opened};
use crate::server::ServerAddr;

/// Connects through a SOCKS5 proxy (see [`crate::connector::socks5`]), as
/// the blocking driver's
/// [`Socks5Connector`](crate::blocking::Socks5Connector) does: TCP to the
/// proxy, then the handshake, all within the connect limit. Never local.
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
    fn connect<'a>(&'a self, server: &'a ServerAddr, timeout: Duration) -> ConnectFuture<'a> {
        Box::pin(connect(&self.proxy, self.source, server, timeout))
    }
}

async fn connect(
    proxy: &Socks5Proxy,
    source: Option<std::net::IpAddr>,
    server: &ServerAddr,
    timeout: Duration,
) -> Result<Connection, ConnectError> {
    let timeout = timeout.max(Duration::from_millis(1));
    // The request is made (and the server's name checked) before the proxy
    // is reached.
    let handshake = proxy.handshake(server)?;
    let whole = async {
        let opened = TcpConnector::default()
            .source(source)
            .connect(proxy.addr(), timeout)
            .await
            .map_err(Failure::Unreachable)?;
        let mut stream = opened.stream;
        run(handshake, &mut stream, timeout).await?;
        Ok(stream)
    };
    let stream = match tokio::time::timeout(timeout, whole).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(failure)) => return Err(proxy.error(failure).into()),
        Err(_) => return Err(proxy.error(Failure::TimedOut(timeout)).into()),
    };
    Ok(Opened {
        stream,
        local: false,
    })
}

/// Runs `handshake` on `stream` (the caller limits the time).
async fn run(
    mut handshake: Handshake,
    stream: &mut Box<dyn Stream>,
    timeout: Duration,
) -> Result<(), Failure> {
    let io = |e| io_failure(e, timeout);
    let mut buf = [0u8; 255 + 2];
    loop {
        match handshake.poll() {
            Next::Write(bytes) => {
                stream.write_all(&bytes).await.map_err(io)?;
                stream.flush().await.map_err(io)?;
            }
            Next::Read(n) => {
                // The handshake never asks for more than a name and a port.
                let part = buf.get_mut(..n).ok_or(Failure::Unasked)?;
                stream.read_exact(part).await.map_err(io)?;
                handshake.received(part)?;
            }
            Next::Done => return Ok(()),
            // `received` returned the error first.
            Next::Failed => return Err(Failure::Unasked),
        }
    }
}
