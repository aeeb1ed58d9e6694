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

pub mod address;
pub mod base64_stream;
pub mod builder;
pub mod content_type;
pub mod date;
pub mod decode;
mod encoded_word;
mod error;
mod excerpt;
pub mod header;
mod message;
mod message_id;
pub mod mime_types;
mod parse;
mod pull;
pub mod quoted_printable;
pub mod reader;
pub mod regular_file;
pub mod rfc2231;
mod serialize;
pub mod seven_bit;
mod text_class;
mod write;

pub use error::Error;
pub use header::{HeaderName, HeaderValue, Headers};
pub use message::{Body, Message, TransferEncoding};
pub use message_id::{new_content_id, new_message_id};
pub use parse::ParseError;
pub use pull::MessageReader;
