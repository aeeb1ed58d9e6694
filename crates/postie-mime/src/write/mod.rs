//! Message to bytes: the walk that decides every field, delimiter and
//! transfer encoding ([`serialize`]), the header writer that folds and
//! encodes fields ([`headers`]) and the one for the Content-* fields the
//! writer makes itself ([`content_fields`]), the pull stream over the same bytes
//! ([`stream`]), and the rewrite for transports without 8BITMIME
//! ([`crate::seven_bit`]).
//!
//! This side depends on the message model; the model does not depend on
//! it. The 8BITMIME rewrite reads back what it re-encodes, so it alone
//! also uses the tolerant reader.

pub(crate) mod content_fields;
pub(crate) mod headers;
pub(crate) mod serialize;
pub mod seven_bit;
pub(crate) mod stream;
pub(crate) mod text_class;
