//! The content transfer encodings a body goes out in, each both ways:
//! streamed base64 and quoted-printable. The writer encodes with them and
//! the reader's decoders decode with them, so they belong to neither side.

pub mod base64_stream;
pub mod quoted_printable;
