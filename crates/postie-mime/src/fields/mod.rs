//! Header fields and the values they carry: the field list itself, and
//! the structured values (addresses, content types, dates, message ids,
//! MIME parameters, encoded-words) in both directions, parsing and
//! formatting. Nothing here knows about bodies or about how a whole
//! message is written or read.
//!
//! The three RFC 5322 parsers (addresses, content types, dates) read their
//! white space, comments, quoted-strings and tokens through one shared
//! lexer (`lexer`), each at its own strictness.

pub mod address;
pub(crate) mod base64url;
pub mod content_type;
pub mod date;
pub(crate) mod encoded_word;
mod excerpt;
pub mod header;
mod lexer;
pub(crate) mod message_id;
pub mod mime_types;
mod random_pool;
pub mod rfc2231;
