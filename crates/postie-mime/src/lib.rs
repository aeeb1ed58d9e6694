//! MIME messages for postie: the message model, a strict writer and the
//! pieces of RFC 5322 that sending mail needs. There is no network code here;
//! the SMTP side lives in `postie-smtp`.
//!
//! The writer is strict: every line ends in CRLF, header values that a user
//! gives can never hold a CR, LF or NUL (so header injection is an error at
//! construction, not a surprise on the wire), non-ASCII header text goes out
//! as RFC 2047 encoded-words, and a text body gets the lightest transfer
//! encoding that carries it (7bit, else quoted-printable).
//!
//! ```
//! use postie_mime::Message;
//!
//! let mut msg = Message::text("Hello from postie.\n.leading dot line\nlast line");
//! msg.headers_mut().set("Subject", "postie seed test")?;
//! let bytes = msg.to_bytes()?;
//! let text = String::from_utf8(bytes).unwrap();
//! assert!(text.starts_with("Subject: postie seed test\r\n"));
//! assert!(text.contains("Content-Type: text/plain; charset=us-ascii\r\n"));
//! assert!(text.ends_with("last line\r\n"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

// The source is grouped by concern: `fields` (header fields and their
// values), `read` (bytes to message), `write` (message to bytes) and
// `transfer_encoding` (base64 and quoted-printable, used by both sides),
// around the message model (`message`, `builder`), with `charset` (labels
// to decoders) under both reading and header fields. The public paths stay
// flat, as they were before the grouping, through the re-exports below.
mod charset;
mod fields;
mod read;
mod transfer_encoding;
mod write;

pub mod builder;
mod error;
mod message;
pub mod regular_file;
mod shared;

pub use fields::{address, content_type, date, header, mime_types, rfc2231};
pub use read::{decode, tolerant as reader};
pub use transfer_encoding::{base64_stream, quoted_printable};
pub use write::seven_bit;

pub use error::Error;
pub use fields::header::{HeaderName, HeaderValue, Headers};
pub use fields::message_id::{after_fork, new_content_id, new_message_id};
pub use message::{Body, Message, TransferEncoding};
pub use read::strict::{header_line, HeaderLine, ParseError};
pub use shared::{SharedBytes, SharedText};
pub use write::stream::MessageStream;
