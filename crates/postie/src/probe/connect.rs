//! Resolving the target and connecting to it, each within the timeout.

use std::io;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use crate::exit;

use super::failure::Failure;
use super::target::Target;

/// Resolves the target within `timeout`. The system resolver blocks with
/// no limit of its own, so it runs on a helper thread that is abandoned if
/// it takes too long.
pub(super) fn resolve(target: &Target, timeout: Duration) -> Result<Vec<SocketAddr>, Failure> {
    let not_found = |why: String| {
        Failure::new(
            exit::NOHOST,
            format!("{} does not resolve: {why}", target.host),
        )
    };
    let query = (target.host.clone(), target.port);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("postie-resolve".to_owned())
        .spawn(move || {
            let result = query.to_socket_addrs().map(Iterator::collect::<Vec<_>>);
            let _ = tx.send(result);
        })
        .map_err(|e| Failure::new(exit::OS_ERR, format!("cannot start the resolver: {e}")))?;
    match rx.recv_timeout(timeout) {
        Ok(Ok(addrs)) if !addrs.is_empty() => Ok(addrs),
        Ok(Ok(_)) => Err(not_found("the name has no addresses".to_owned())),
        Ok(Err(e)) => Err(not_found(e.to_string())),
        Err(_) => Err(not_found(format!("no answer within {timeout:?}"))),
    }
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
