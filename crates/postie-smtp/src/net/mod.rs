//! Network I/O that does not depend on a driver: name resolution with a
//! time limit, and the first bytes a server sends during a TLS handshake.
//!
//! The blocking driver, the tokio driver and `postie probe` all use these,
//! so a name that does not resolve, or a plain-text answer to a
//! ClientHello, is recognised and worded the same way everywhere. How a
//! connection is opened is the [connector seam](crate::connector); the
//! words for a failed handshake are in [`crate::tls`].

mod first_bytes;
mod resolve;

pub use first_bytes::FirstBytes;
pub use resolve::{resolve, ResolveError};
