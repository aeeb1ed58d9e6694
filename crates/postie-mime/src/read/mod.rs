//! Bytes to message: the strict header reader behind
//! [`Message::parse`](crate::Message::parse), the tolerant MIME reader
//! ([`crate::reader`]) and the decoders it uses ([`crate::decode`]).
//!
//! This side depends on the message model and the header fields, never on
//! the writer.

pub mod decode;
#[cfg(test)]
mod lossless_tests;
pub(crate) mod strict;
pub mod tolerant;
