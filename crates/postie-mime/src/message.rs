//! The message: header fields and a body.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::header::{HeaderName, HeaderValue, Headers};
use crate::parse::{self, ParseError};
use crate::{quoted_printable, write, Error};

/// Longest line a 7bit body may have, CRLF aside (RFC 5322 §2.1.1).
const MAX_7BIT_LINE: usize = 998;

/// A message: header fields and a body.
///
/// Built from text with [`Message::text`], or read from RFC 5322 bytes with
/// [`Message::parse`] or [`Message::parse_file`] (a file's body is read only
/// while the message is written, never held in memory).
#[derive(Clone, Debug)]
pub struct Message {
    headers: Headers,
    body: Body,
}

/// A message body.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Body {
    /// Text that the writer encodes: line breaks become CRLF, and it goes out
    /// as 7bit when it can, else as quoted-printable, with
    /// `Content-Type: text/<subtype>` and the charset it needs.
    Text {
        /// The text.
        text: String,
        /// The MIME subtype, `plain` by default.
        subtype: String,
    },
    /// Bytes already in the form they are sent in (the body of a parsed
    /// message), under the message's own Content-* fields.
    Bytes(Vec<u8>),
    /// Like [`Body::Bytes`], but read from `path`, starting at byte `offset`,
    /// only while the message is written.
    File {
        /// The file holding the body.
        path: PathBuf,
        /// Where in the file the body starts.
        offset: u64,
    },
}

/// The Content-Transfer-Encoding of a body the writer encodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransferEncoding {
    /// US-ASCII lines of at most 998 characters.
    SevenBit,
    /// Quoted-printable (RFC 2045 §6.7).
    QuotedPrintable,
}

impl TransferEncoding {
    /// The name used in the Content-Transfer-Encoding field.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SevenBit => "7bit",
            Self::QuotedPrintable => "quoted-printable",
        }
    }
}

impl Message {
    /// A `text/plain` message from `text`; any line ending (LF, CRLF or CR)
    /// is sent as CRLF.
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            headers: Headers::new(),
            body: Body::Text {
                text: text.into(),
                subtype: "plain".to_owned(),
            },
        }
    }

    /// A message from its parts.
    pub fn from_parts(headers: Headers, body: Body) -> Self {
        Self { headers, body }
    }

    /// Reads an RFC 5322 message: the header fields are parsed, the body is
    /// kept as it is.
    pub fn parse(bytes: &[u8]) -> Result<Self, ParseError> {
        let mut reader = bytes;
        let (headers, consumed) = parse::header_block(&mut reader)?;
        let body = bytes.get(consumed..).unwrap_or_default().to_vec();
        Ok(Self {
            headers,
            body: Body::Bytes(body),
        })
    }

    /// Reads the header fields of the message in `path`; the body stays in
    /// the file and is streamed from it while the message is written.
    pub fn parse_file(path: impl AsRef<Path>) -> Result<Self, ParseError> {
        let path = path.as_ref();
        let file = File::open(path).map_err(ParseError::io)?;
        let mut reader = BufReader::new(file);
        let (headers, consumed) = parse::header_block(&mut reader)?;
        Ok(Self {
            headers,
            body: Body::File {
                path: path.to_owned(),
                offset: consumed as u64,
            },
        })
    }

    /// The header fields.
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// The header fields, to change.
    pub fn headers_mut(&mut self) -> &mut Headers {
        &mut self.headers
    }

    /// The body.
    pub fn body(&self) -> &Body {
        &self.body
    }

    /// The transfer encoding the writer will use, for a body it encodes.
    pub fn transfer_encoding(&self) -> Option<TransferEncoding> {
        match &self.body {
            Body::Text { text, .. } => Some(choose_encoding(text)),
            Body::Bytes(_) | Body::File { .. } => None,
        }
    }

    /// Writes the message with CRLF line endings.
    pub fn write_to(&self, w: &mut dyn Write) -> Result<(), Error> {
        self.write_with_headers(&self.headers, w)
    }

    /// Writes this message's body under `headers` instead of its own, so a
    /// sender can add and remove fields without touching the caller's message.
    pub fn write_with_headers(&self, headers: &Headers, w: &mut dyn Write) -> Result<(), Error> {
        match &self.body {
            Body::Text { text, subtype } => {
                let encoding = choose_encoding(text);
                let charset = if text.is_ascii() { "us-ascii" } else { "utf-8" };
                // The body decides its own MIME fields; a stale one from the
                // caller would contradict them.
                for field in headers.iter() {
                    let name = field.name();
                    if !(name.is("MIME-Version")
                        || name.is("Content-Type")
                        || name.is("Content-Transfer-Encoding"))
                    {
                        write::write_header(name, field.value(), w)?;
                    }
                }
                let content_type = format!("text/{subtype}; charset={charset}");
                write_field(w, "MIME-Version", "1.0")?;
                write_field(w, "Content-Type", &content_type)?;
                write_field(w, "Content-Transfer-Encoding", encoding.as_str())?;
                w.write_all(b"\r\n")?;
                let crlf = to_crlf(text);
                match encoding {
                    TransferEncoding::SevenBit => w.write_all(crlf.as_bytes())?,
                    TransferEncoding::QuotedPrintable => {
                        let mut out = Vec::with_capacity(crlf.len() * 3 / 2);
                        quoted_printable::encode(crlf.as_bytes(), &mut out);
                        w.write_all(&out)?;
                    }
                }
                if !crlf.is_empty() && !crlf.ends_with("\r\n") {
                    w.write_all(b"\r\n")?;
                }
            }
            Body::Bytes(bytes) => {
                write_headers(headers, w)?;
                w.write_all(bytes)?;
            }
            Body::File { path, offset } => {
                write_headers(headers, w)?;
                let mut file = File::open(path)?;
                file.seek(SeekFrom::Start(*offset))?;
                copy(&mut file, w)?;
            }
        }
        Ok(())
    }

    /// The whole message as bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>, Error> {
        let mut out = Vec::new();
        self.write_to(&mut out)?;
        Ok(out)
    }
}

fn write_headers(headers: &Headers, w: &mut dyn Write) -> Result<(), Error> {
    for field in headers.iter() {
        write::write_header(field.name(), field.value(), w)?;
    }
    w.write_all(b"\r\n")?;
    Ok(())
}

fn write_field(w: &mut dyn Write, name: &str, value: &str) -> Result<(), Error> {
    write::write_header(&HeaderName::new(name)?, &HeaderValue::new(name, value)?, w)
}

/// Streams a file through a fixed buffer; `io::copy` would do the same, but
/// through `&mut dyn Write` this keeps the buffer size under our control.
fn copy(from: &mut File, to: &mut dyn Write) -> io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        to.write_all(buf.get(..n).unwrap_or_default())?;
    }
}

fn choose_encoding(text: &str) -> TransferEncoding {
    let seven_bit = text.is_ascii()
        && !text
            .bytes()
            .any(|b| b == 0 || (b.is_ascii_control() && !b"\r\n\t".contains(&b)))
        && text
            .split(['\n', '\r'])
            .all(|line| line.len() <= MAX_7BIT_LINE);
    if seven_bit {
        TransferEncoding::SevenBit
    } else {
        TransferEncoding::QuotedPrintable
    }
}

/// Every line ending (CRLF, LF, or CR alone) as CRLF.
fn to_crlf(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 32);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push_str("\r\n");
            }
            '\n' => out.push_str("\r\n"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text_of(msg: &Message) -> String {
        String::from_utf8(msg.to_bytes().unwrap()).unwrap()
    }

    #[test]
    fn seed_example_is_7bit_with_crlf() {
        let mut msg = Message::text("Hello from tcllib.\n.leading dot line\nlast line");
        msg.headers_mut()
            .set("Subject", "tcllib smtp seed test")
            .unwrap();
        assert_eq!(
            text_of(&msg),
            "Subject: tcllib smtp seed test\r\n\
             MIME-Version: 1.0\r\n\
             Content-Type: text/plain; charset=us-ascii\r\n\
             Content-Transfer-Encoding: 7bit\r\n\
             \r\n\
             Hello from tcllib.\r\n.leading dot line\r\nlast line\r\n"
        );
    }

    #[test]
    fn non_ascii_text_is_quoted_printable_utf8() {
        let msg = Message::text("caf\u{e9}\r\n");
        let out = text_of(&msg);
        assert!(out.contains("Content-Type: text/plain; charset=utf-8\r\n"));
        assert!(out.contains("Content-Transfer-Encoding: quoted-printable\r\n"));
        assert!(out.ends_with("\r\n\r\ncaf=C3=A9\r\n"));
    }

    #[test]
    fn one_transfer_encoding_field_even_if_the_caller_set_one() {
        let mut msg = Message::text("x");
        msg.headers_mut()
            .set("Content-Transfer-Encoding", "base64")
            .unwrap();
        msg.headers_mut().set("MIME-Version", "1.0").unwrap();
        let out = text_of(&msg);
        assert_eq!(out.matches("Content-Transfer-Encoding").count(), 1);
        assert_eq!(out.matches("MIME-Version").count(), 1);
    }

    #[test]
    fn long_lines_are_not_7bit() {
        assert_eq!(
            Message::text("x".repeat(999)).transfer_encoding(),
            Some(TransferEncoding::QuotedPrintable)
        );
        assert_eq!(
            Message::text("x".repeat(998)).transfer_encoding(),
            Some(TransferEncoding::SevenBit)
        );
    }

    #[test]
    fn line_endings_become_crlf() {
        assert_eq!(to_crlf("a\nb\rc\r\nd"), "a\r\nb\r\nc\r\nd");
    }

    #[test]
    fn parsed_message_is_written_back_unchanged() {
        let raw = b"From: a@example.org\r\nSubject: folded\r\n  line\r\n\r\nbody\r\n";
        let msg = Message::parse(raw).unwrap();
        assert_eq!(
            msg.headers().get("subject").unwrap().as_text(),
            "folded  line"
        );
        assert_eq!(msg.to_bytes().unwrap(), raw);
    }
}
