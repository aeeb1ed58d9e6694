//! RFC 2047 encoded-words, both ways: writing them for non-ASCII header
//! text (`encode`) and reading them, from text or from the raw bytes of a
//! field read from a message (`decode`).

pub(crate) mod decode;
mod encode;

pub(crate) use encode::{encode_text, encode_words_within, text_needs_encoding, Context, MAX_WORD};
