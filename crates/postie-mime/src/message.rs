//! The message model: an entity is header fields and a body; a body is a
//! leaf (text, bytes, or a file read only while writing) or a multipart of
//! entities, nested to any depth. A message is the top entity.

use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};

use base64::Engine as _;

use crate::fields::content_type::ContentType;
use crate::fields::header::Headers;
use crate::read::strict::{self, ParseError};
use crate::write::serialize::{self, PlanCache, Push};
use crate::write::stream::MessageReader;
use crate::Error;

/// A message, or one entity (part) of a multipart.
///
/// Built from text with [`Message::text`], with the
/// [`crate::builder::MessageBuilder`], from parts with
/// [`Message::multipart`], or read from RFC 5322 bytes with
/// [`Message::parse`] or [`Message::parse_file`] (a file's body is read only
/// while the message is written, never held in memory).
#[derive(Clone, PartialEq, Eq)]
pub struct Message {
    headers: Headers,
    body: Body,
    /// How the writer encodes this leaf's body, decided at its first
    /// writing: the body never changes, so a message written twice (sized,
    /// then sent; sent again under other fields) is scanned once.
    plan: PlanCache,
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Message")
            .field("headers", &self.headers)
            .field("body", &self.body)
            .finish()
    }
}

/// A body.
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
    /// Bytes of the given type, encoded by the writer: text types as 7bit
    /// or quoted-printable when they can be, anything else as base64.
    Data {
        /// The content.
        data: Vec<u8>,
        /// Its type.
        content_type: ContentType,
    },
    /// A file of the given type, read only while the message is written,
    /// in chunks: a 1 GiB attachment never sits in memory. Binary types go
    /// out as base64; text types as 7bit when the file allows it (an extra
    /// reading pass decides), else base64. The file must not change while
    /// the message is sent: a different length is an error.
    File {
        /// The file.
        path: PathBuf,
        /// Its type.
        content_type: ContentType,
        /// Its length when it was attached.
        len: u64,
    },
    /// Parts, as `multipart/<subtype>` (mixed, alternative, related,
    /// digest...). The content type carries the boundary.
    Multipart {
        /// `multipart/<subtype>; boundary=...`.
        content_type: ContentType,
        /// The parts, in order.
        parts: Vec<Message>,
    },
    /// Bytes already in the form they are sent in (the body of a parsed
    /// message), under the entity's own Content-* fields.
    Raw(Vec<u8>),
    /// Like [`Body::Raw`], but read from `path`, starting at byte `offset`,
    /// only while the message is written.
    RawFile {
        /// The file holding the body.
        path: PathBuf,
        /// Where in the file the body starts.
        offset: u64,
    },
}

/// The Content-Transfer-Encoding the writer chose for a leaf.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransferEncoding {
    /// US-ASCII lines of at most 998 characters.
    SevenBit,
    /// Quoted-printable (RFC 2045 §6.7).
    QuotedPrintable,
    /// Base64 (RFC 2045 §6.8).
    Base64,
}

impl TransferEncoding {
    /// The name used in the Content-Transfer-Encoding field.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SevenBit => "7bit",
            Self::QuotedPrintable => "quoted-printable",
            Self::Base64 => "base64",
        }
    }
}

impl Message {
    /// A `text/plain` message from `text`; any line ending (LF, CRLF or CR)
    /// is sent as CRLF.
    pub fn text(text: impl Into<String>) -> Self {
        Self::from_parts(
            Headers::new(),
            Body::Text {
                text: text.into(),
                subtype: "plain".to_owned(),
            },
        )
    }

    /// A `text/html` entity.
    pub fn html(html: impl Into<String>) -> Self {
        Self::from_parts(
            Headers::new(),
            Body::Text {
                text: html.into(),
                subtype: "html".to_owned(),
            },
        )
    }

    /// A leaf of `content_type` holding `data`.
    pub fn data(data: impl Into<Vec<u8>>, content_type: ContentType) -> Self {
        Self::from_parts(
            Headers::new(),
            Body::Data {
                data: data.into(),
                content_type,
            },
        )
    }

    /// A leaf of `content_type` read from `path` while the message is
    /// written. The file must exist now and be a regular file (see
    /// [`regular_file`](crate::regular_file)); its length is remembered so
    /// that a change before sending is noticed.
    pub fn file(path: impl AsRef<Path>, content_type: ContentType) -> Result<Self, Error> {
        let path = path.as_ref();
        let len = crate::regular_file::open(path)?.metadata()?.len();
        Ok(Self::from_parts(
            Headers::new(),
            Body::File {
                path: path.to_owned(),
                content_type,
                len,
            },
        ))
    }

    /// A `multipart/<subtype>` of `parts`, with a new random boundary.
    pub fn multipart(subtype: &str, parts: Vec<Message>) -> Result<Self, Error> {
        let boundary = new_boundary()?;
        let content_type = ContentType::new("multipart", subtype)
            .map_err(|e| Error::InvalidHeaderValue {
                name: "Content-Type".to_owned(),
                reason: content_type_reason(&e),
            })?
            .with_param("boundary", &boundary);
        Ok(Self::from_parts(
            Headers::new(),
            Body::Multipart {
                content_type,
                parts,
            },
        ))
    }

    /// A message from its parts.
    pub fn from_parts(headers: Headers, body: Body) -> Self {
        Self {
            headers,
            body,
            plan: PlanCache::default(),
        }
    }

    /// Reads an RFC 5322 message: the header fields are parsed, the body is
    /// kept as it is.
    pub fn parse(bytes: &[u8]) -> Result<Self, ParseError> {
        let mut reader = bytes;
        let (headers, consumed) = strict::header_block(&mut reader)?;
        let body = bytes.get(consumed..).unwrap_or_default().to_vec();
        Ok(Self::from_parts(headers, Body::Raw(body)))
    }

    /// Reads the header fields of the message in `path`; the body stays in
    /// the file and is streamed from it while the message is written.
    pub fn parse_file(path: impl AsRef<Path>) -> Result<Self, ParseError> {
        let path = path.as_ref();
        let file = crate::regular_file::open(path).map_err(ParseError::io)?;
        let mut reader = BufReader::new(file);
        let (headers, consumed) = strict::header_block(&mut reader)?;
        Ok(Self::from_parts(
            headers,
            Body::RawFile {
                path: path.to_owned(),
                offset: consumed as u64,
            },
        ))
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

    /// The parts of a multipart, empty for a leaf.
    pub fn parts(&self) -> &[Message] {
        match &self.body {
            Body::Multipart { parts, .. } => parts,
            _ => &[],
        }
    }

    /// Whether what the writer writes for this message is 7-bit whatever
    /// its content: no body anywhere in it is kept as it was read
    /// ([`Body::Raw`], [`Body::RawFile`]), so every leaf is encoded by the
    /// writer and every field was given as text (a field read from a
    /// message only comes with such a body).
    pub fn is_seven_bit_by_construction(&self) -> bool {
        let mut stack = vec![self];
        while let Some(entity) = stack.pop() {
            match &entity.body {
                Body::Raw(_) | Body::RawFile { .. } => return false,
                Body::Multipart { parts, .. } => stack.extend(parts),
                _ => {}
            }
        }
        true
    }

    /// The transfer encoding the writer will use for an in-memory leaf it
    /// encodes (`None` for files, multiparts and raw bodies).
    pub fn transfer_encoding(&self) -> Option<TransferEncoding> {
        match &self.body {
            Body::Text { text, .. } => Some(
                self.plan
                    .get_or(|| serialize::plan_text(text.as_bytes()))
                    .encoding,
            ),
            Body::Data { data, content_type } => Some(
                self.plan
                    .get_or(|| serialize::plan_data(data, content_type))
                    .encoding,
            ),
            _ => None,
        }
    }

    /// Where the writer keeps its plan for this leaf's body.
    pub(crate) fn plan(&self) -> &PlanCache {
        &self.plan
    }

    /// Writes the message with CRLF line endings.
    pub fn write_to(&self, w: &mut dyn Write) -> Result<(), Error> {
        self.write_with_headers(&self.headers, w)
    }

    /// Writes this message's body under `headers` instead of its own, so a
    /// sender can add and remove fields without touching the caller's message.
    pub fn write_with_headers(&self, headers: &Headers, w: &mut dyn Write) -> Result<(), Error> {
        serialize::write_entity(headers, self, &mut Push { w }, true)
    }

    /// The message as a reader: the same bytes [`Message::write_to`]
    /// writes, produced as they are read, so a caller that pulls (an async
    /// driver) needs no more memory than a chunk. Decisions that need the
    /// whole content (a text file's encoding) are made here, before the
    /// first byte.
    ///
    /// ```
    /// use std::io::Read;
    /// use postie_mime::Message;
    ///
    /// let msg = Message::text("Hello");
    /// let mut pulled = Vec::new();
    /// msg.reader()?.read_to_end(&mut pulled)?;
    /// assert_eq!(pulled, msg.to_bytes()?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn reader(&self) -> Result<MessageReader<'_>, Error> {
        MessageReader::new(&self.headers, self)
    }

    /// [`Message::reader`] with `headers` instead of the message's own, as
    /// in [`Message::write_with_headers`].
    pub fn reader_with_headers<'a>(
        &'a self,
        headers: &'a Headers,
    ) -> Result<MessageReader<'a>, Error> {
        MessageReader::new(headers, self)
    }

    /// The whole message as bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>, Error> {
        let mut out = Vec::new();
        self.write_to(&mut out)?;
        Ok(out)
    }
}

fn content_type_reason(_e: &crate::fields::content_type::ContentTypeError) -> &'static str {
    "the MIME type is not a valid token"
}

/// A boundary that cannot occur in what the writer produces: base64 and
/// quoted-printable never contain `=_`, and 7bit text is checked. 96 random
/// bits per process and a counter make it unique without a system call per
/// part.
fn new_boundary() -> Result<String, Error> {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;
    static SEED: OnceLock<Result<[u8; 12], String>> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let seed = SEED
        .get_or_init(|| {
            let mut seed = [0u8; 12];
            getrandom::fill(&mut seed)
                .map(|()| seed)
                .map_err(|e| e.to_string())
        })
        .clone()
        .map_err(Error::Random)?;
    let count = COUNTER.fetch_add(1, Ordering::Relaxed).to_be_bytes();
    let mut raw = [0u8; 18];
    raw[..12].copy_from_slice(&seed);
    raw[12..].copy_from_slice(&count[2..]);
    let tail = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
    Ok(format!("=_postie_{tail}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kept_plan_is_no_part_of_equality_and_follows_clones() {
        let body = "caf\u{e9}\nline two\n";
        let written = Message::text(body);
        let fresh = Message::text(body);
        let first = written.to_bytes().unwrap();
        // Written once (plan kept) or never: still equal.
        assert_eq!(written, fresh);
        let clone = written.clone();
        assert_eq!(clone.to_bytes().unwrap(), first);
        assert_eq!(fresh.to_bytes().unwrap(), first);
        assert_eq!(written.to_bytes().unwrap(), first);
        assert_eq!(
            written.transfer_encoding(),
            Some(TransferEncoding::QuotedPrintable)
        );
        assert_eq!(format!("{written:?}"), format!("{fresh:?}"));
    }

    #[test]
    fn text_data_keeps_its_charset_and_encoding_when_written_again() {
        let ct = ContentType::parse("text/csv").unwrap();
        let msg = Message::data(b"a,b\r\n\xff,c\r\n".to_vec(), ct);
        let once = String::from_utf8_lossy(&msg.to_bytes().unwrap()).into_owned();
        let twice = String::from_utf8_lossy(&msg.to_bytes().unwrap()).into_owned();
        assert_eq!(once, twice);
        assert!(once.contains("charset=unknown-8bit"), "{once}");
    }

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
        use crate::write::serialize::to_crlf;
        assert_eq!(&*to_crlf(b"a\nb\rc\r\nd"), b"a\r\nb\r\nc\r\nd");
        assert_eq!(&*to_crlf(b"a\r\rb\r"), b"a\r\n\r\nb\r\n");
        assert!(matches!(to_crlf(b"ok\r\n"), std::borrow::Cow::Borrowed(_)));
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

    #[test]
    fn multipart_with_boundaries_and_one_mime_version() {
        let msg = Message::multipart(
            "alternative",
            vec![Message::text("plain"), Message::html("<p>html</p>")],
        )
        .unwrap();
        let out = text_of(&msg);
        let Body::Multipart { content_type, .. } = msg.body() else {
            panic!()
        };
        let boundary = content_type.param("boundary").unwrap();
        assert!(boundary.starts_with("=_postie_"));
        assert_eq!(out.matches("MIME-Version").count(), 1);
        assert_eq!(out.matches(&format!("--{boundary}\r\n")).count(), 2);
        assert!(out.ends_with(&format!("--{boundary}--\r\n")));
        assert!(out.contains("Content-Type: text/html; charset=us-ascii\r\n"));
    }

    #[test]
    fn binary_data_is_base64_and_text_data_picks_the_shorter() {
        let png = ContentType::new("image", "png").unwrap();
        assert_eq!(
            Message::data(vec![0u8, 1, 2], png).transfer_encoding(),
            Some(TransferEncoding::Base64)
        );
        let text = ContentType::new("text", "plain").unwrap();
        assert_eq!(
            Message::data("mostly ascii é".as_bytes().to_vec(), text.clone()).transfer_encoding(),
            Some(TransferEncoding::QuotedPrintable)
        );
        assert_eq!(
            Message::data("ééééééééééééééééééé".as_bytes().to_vec(), text).transfer_encoding(),
            Some(TransferEncoding::Base64)
        );
    }
}
