use crate::fields::address::AddressError;

/// What can go wrong while building or writing a message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A header name is empty or holds a character RFC 5322 forbids
    /// (controls, space, colon, non-ASCII).
    #[error("invalid header name {name:?}: {reason}")]
    InvalidHeaderName {
        /// The name as given.
        name: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A header value holds a CR, LF, NUL or another control character, or a
    /// word too long to fold under the 998-octet line limit.
    #[error("invalid value for header {name}: {reason}")]
    InvalidHeaderValue {
        /// The header the value was meant for.
        name: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// An address did not parse.
    #[error(transparent)]
    Address(#[from] AddressError),
    /// The system's random source failed while making a Message-ID.
    #[error("no random bytes for a Message-ID: {0}")]
    Random(String),
    /// Reading a body file or writing the output failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}
