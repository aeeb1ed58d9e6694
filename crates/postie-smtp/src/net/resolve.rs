//! Name resolution within a time limit.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::mpsc;
use std::time::Duration;

/// Why [`resolve`] found no address.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResolveError {
    /// The helper thread the lookup runs on could not be started.
    #[error("cannot start the resolver: {0}")]
    Spawn(#[source] io::Error),
    /// The resolver answered with an error (an unknown name, say).
    #[error("{0}")]
    Lookup(#[source] io::Error),
    /// The resolver did not answer within the limit.
    #[error("name resolution timed out")]
    TimedOut,
    /// The resolver answered with no address.
    #[error("the name has no addresses")]
    NoAddresses,
}

impl From<ResolveError> for io::Error {
    /// The error as the drivers report it in [`crate::Cause::Resolve`]: the
    /// system's own error where there is one.
    fn from(e: ResolveError) -> Self {
        match e {
            ResolveError::Spawn(e) | ResolveError::Lookup(e) => e,
            ResolveError::TimedOut => io::Error::new(io::ErrorKind::TimedOut, e.to_string()),
            ResolveError::NoAddresses => io::Error::new(io::ErrorKind::NotFound, e.to_string()),
        }
    }
}

/// The addresses of `host` (a name or an IP address) with `port`, in the
/// resolver's order, or an error once `timeout` has passed.
///
/// The system resolver blocks with no limit of its own, so it runs on a
/// helper thread that is abandoned (left to finish on its own) if it takes
/// longer than `timeout`. A zero `timeout` gives up at once.
///
/// ```
/// use std::time::Duration;
/// let addrs = postie_smtp::net::resolve("127.0.0.1", 25, Duration::from_secs(5))?;
/// assert_eq!(addrs[0].to_string(), "127.0.0.1:25");
/// # Ok::<(), postie_smtp::net::ResolveError>(())
/// ```
pub fn resolve(host: &str, port: u16, timeout: Duration) -> Result<Vec<SocketAddr>, ResolveError> {
    // No time at all: not even a lookup that happens to be quick (which
    // would make the outcome a race).
    if timeout.is_zero() {
        return Err(ResolveError::TimedOut);
    }
    let query = (host.to_owned(), port);
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("postie-resolve".to_owned())
        .spawn(move || {
            let result = query.to_socket_addrs().map(Iterator::collect::<Vec<_>>);
            // The caller may have stopped waiting: nobody to tell then.
            let _ = tx.send(result);
        })
        .map_err(ResolveError::Spawn)?;
    match rx.recv_timeout(timeout) {
        Ok(Ok(addrs)) if !addrs.is_empty() => Ok(addrs),
        Ok(Ok(_)) => Err(ResolveError::NoAddresses),
        Ok(Err(e)) => Err(ResolveError::Lookup(e)),
        Err(_) => Err(ResolveError::TimedOut),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn an_address_resolves_to_itself_with_the_port() {
        let addrs = resolve("::1", 587, Duration::from_secs(5)).unwrap();
        assert_eq!(addrs, ["[::1]:587".parse::<SocketAddr>().unwrap()]);
    }

    #[test]
    fn a_zero_limit_gives_up_at_once() {
        let err = resolve("localhost", 25, Duration::ZERO).unwrap_err();
        assert!(matches!(err, ResolveError::TimedOut), "{err:?}");
        assert_eq!(io::Error::from(err).kind(), io::ErrorKind::TimedOut);
    }

    #[test]
    fn the_drivers_see_the_words_they_always_saw() {
        let none = io::Error::from(ResolveError::NoAddresses);
        assert_eq!(none.kind(), io::ErrorKind::NotFound);
        assert_eq!(none.to_string(), "the name has no addresses");
        let late = io::Error::from(ResolveError::TimedOut);
        assert_eq!(late.to_string(), "name resolution timed out");
    }
}
