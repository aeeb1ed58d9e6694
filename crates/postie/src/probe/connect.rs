//! Resolving the target and connecting to it, each within the timeout.

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use postie_smtp::net::{self, ResolveError};

use crate::exit;

use super::failure::Failure;
use super::target::Target;

/// Resolves the target within `timeout`, as the drivers do (see
/// [`postie_smtp::net::resolve`]).
pub(super) fn resolve(target: &Target, timeout: Duration) -> Result<Vec<SocketAddr>, Failure> {
    let not_found = |why: String| {
        Failure::new(
            exit::NOHOST,
            format!("{} does not resolve: {why}", target.host),
        )
    };
    net::resolve(&target.host, target.port, timeout).map_err(|e| match e {
        ResolveError::Spawn(e) => {
            Failure::new(exit::OS_ERR, format!("cannot start the resolver: {e}"))
        }
        ResolveError::TimedOut => not_found(format!("no answer within {timeout:?}")),
        other => not_found(other.to_string()),
    })
}

/// Tries every address in the resolver's order, each within `timeout`, so
/// one address that swallows packets does not hide the others.
pub(super) fn connect_any(
    target: &Target,
    addrs: &[SocketAddr],
    timeout: Duration,
) -> Result<(TcpStream, SocketAddr), Failure> {
    let mut errors = Vec::new();
    for &addr in addrs {
        match connect_one(addr, timeout) {
            Ok(tcp) => return Ok((tcp, addr)),
            Err(e) => errors.push(format!("{addr}: {e}")),
        }
    }
    Err(Failure::new(
        exit::TEMPFAIL,
        format!("cannot connect to {target}: {}", errors.join("; ")),
    ))
}

pub(super) fn connect_one(addr: SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
    let tcp = TcpStream::connect_timeout(&addr, timeout)?;
    // Each command is one small write; without NODELAY each would wait
    // for the server's delayed ACK.
    tcp.set_nodelay(true)?;
    Ok(tcp)
}
