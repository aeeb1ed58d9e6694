//! The message model: an entity is header fields and a body; a body is a
//! leaf (text, bytes, or a file read only while writing) or a multipart of
//! entities, nested to any depth. A message is the top entity.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use base64::Engine as _;

use crate::base64_stream::Base64Writer;
use crate::content_type::ContentType;
use crate::header::{HeaderName, Headers};
use crate::parse::{self, ParseError};
use crate::{quoted_printable, write, Error};

/// Longest line a 7bit body may have, CRLF aside (RFC 5322 §2.1.1).
const MAX_7BIT_LINE: usize = 998;
/// How much of a file is read at a time while writing (a multiple of 57,
/// so base64 lines come out whole).
const FILE_CHUNK: usize = 57 * 1024;

/// A message, or one entity (part) of a multipart.
///
/// Built from text with [`Message::text`], with the
/// [`crate::builder::MessageBuilder`], from parts with
/// [`Message::multipart`], or read from RFC 5322 bytes with
/// [`Message::parse`] or [`Message::parse_file`] (a file's body is read only
/// while the message is written, never held in memory).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    headers: Headers,
    body: Body,
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
    /// written. The file must exist now; its length is remembered so that a
    /// change before sending is noticed.
    pub fn file(path: impl AsRef<Path>, content_type: ContentType) -> Result<Self, Error> {
        let path = path.as_ref();
        let len = std::fs::metadata(path)?.len();
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
        Self { headers, body }
    }

    /// Reads an RFC 5322 message: the header fields are parsed, the body is
    /// kept as it is.
    pub fn parse(bytes: &[u8]) -> Result<Self, ParseError> {
        let mut reader = bytes;
        let (headers, consumed) = parse::header_block(&mut reader)?;
        let body = bytes.get(consumed..).unwrap_or_default().to_vec();
        Ok(Self::from_parts(headers, Body::Raw(body)))
    }

    /// Reads the header fields of the message in `path`; the body stays in
    /// the file and is streamed from it while the message is written.
    pub fn parse_file(path: impl AsRef<Path>) -> Result<Self, ParseError> {
        let path = path.as_ref();
        let file = File::open(path).map_err(ParseError::io)?;
        let mut reader = BufReader::new(file);
        let (headers, consumed) = parse::header_block(&mut reader)?;
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

    /// The transfer encoding the writer will use for an in-memory leaf it
    /// encodes (`None` for files, multiparts and raw bodies).
    pub fn transfer_encoding(&self) -> Option<TransferEncoding> {
        match &self.body {
            Body::Text { text, .. } => Some(choose_text_encoding(text.as_bytes())),
            Body::Data { data, content_type } => Some(choose_data_encoding(data, content_type)),
            _ => None,
        }
    }

    /// Writes the message with CRLF line endings.
    pub fn write_to(&self, w: &mut dyn Write) -> Result<(), Error> {
        self.write_with_headers(&self.headers, w)
    }

    /// Writes this message's body under `headers` instead of its own, so a
    /// sender can add and remove fields without touching the caller's message.
    pub fn write_with_headers(&self, headers: &Headers, w: &mut dyn Write) -> Result<(), Error> {
        write_entity(headers, &self.body, w, true)
    }

    /// The whole message as bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>, Error> {
        let mut out = Vec::new();
        self.write_to(&mut out)?;
        Ok(out)
    }
}

fn content_type_reason(_e: &crate::content_type::ContentTypeError) -> &'static str {
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

/// The MIME fields a body decides for itself; a caller's would contradict.
fn is_mime_field(name: &HeaderName) -> bool {
    name.is("MIME-Version") || name.is("Content-Type") || name.is("Content-Transfer-Encoding")
}

fn write_entity(headers: &Headers, body: &Body, w: &mut dyn Write, top: bool) -> Result<(), Error> {
    match body {
        Body::Raw(bytes) => {
            write_headers(headers, w)?;
            w.write_all(b"\r\n")?;
            w.write_all(bytes)?;
            return Ok(());
        }
        Body::RawFile { path, offset } => {
            write_headers(headers, w)?;
            w.write_all(b"\r\n")?;
            let mut file = File::open(path)?;
            file.seek(SeekFrom::Start(*offset))?;
            copy(&mut file, w)?;
            return Ok(());
        }
        _ => {}
    }
    for field in headers.iter() {
        if !is_mime_field(field.name()) {
            write::write_header(field.name(), field.value(), w)?;
        }
    }
    if top {
        write_field(w, "MIME-Version", "1.0")?;
    }
    match body {
        Body::Text { text, subtype } => {
            let charset = if text.is_ascii() { "us-ascii" } else { "utf-8" };
            let content_type = format!("text/{subtype}; charset={charset}");
            write_leaf(
                w,
                &content_type,
                text.as_bytes(),
                choose_text_encoding(text.as_bytes()),
                LineBreaks::Repair,
            )
        }
        Body::Data { data, content_type } => {
            let encoding = choose_data_encoding(data, content_type);
            let mut content_type = content_type.clone();
            if content_type.is_text() && content_type.param("charset").is_none() {
                let charset = match std::str::from_utf8(data) {
                    Ok(text) if text.is_ascii() => "us-ascii",
                    Ok(_) => "utf-8",
                    Err(_) => "unknown-8bit",
                };
                content_type = content_type.with_param("charset", charset);
            }
            write_leaf(
                w,
                &content_type.header_value(),
                data,
                encoding,
                LineBreaks::Keep,
            )
        }
        Body::File {
            path,
            content_type,
            len,
        } => write_file(w, path, content_type, *len),
        Body::Multipart {
            content_type,
            parts,
        } if content_type.type_() == "message" => {
            // An encapsulated message (message/rfc822): one entity, no
            // delimiters, written as the message it is.
            write_field(w, "Content-Type", &content_type.header_value())?;
            w.write_all(b"\r\n")?;
            for part in parts {
                write_entity(&part.headers, &part.body, w, true)?;
            }
            Ok(())
        }
        Body::Multipart {
            content_type,
            parts,
        } => {
            let boundary = content_type
                .param("boundary")
                .unwrap_or_default()
                .to_owned();
            write_field(w, "Content-Type", &content_type.header_value())?;
            w.write_all(b"\r\n")?;
            for part in parts {
                w.write_all(b"--")?;
                w.write_all(boundary.as_bytes())?;
                w.write_all(b"\r\n")?;
                write_entity(&part.headers, &part.body, w, false)?;
                w.write_all(b"\r\n")?;
            }
            w.write_all(b"--")?;
            w.write_all(boundary.as_bytes())?;
            w.write_all(b"--\r\n")?;
            Ok(())
        }
        Body::Raw(_) | Body::RawFile { .. } => Ok(()),
    }
}

/// What the writer does with the line breaks of an in-memory leaf.
#[derive(Clone, Copy, PartialEq, Eq)]
enum LineBreaks {
    /// Message text: every line break becomes CRLF, and the text ends with
    /// one.
    Repair,
    /// An attachment: the bytes read back exactly (7bit was only chosen for
    /// CRLF-only content; quoted-printable keeps a lone CR or LF as data).
    Keep,
}

/// Writes Content-Type, Content-Transfer-Encoding, the blank line and the
/// encoded content of an in-memory leaf.
fn write_leaf(
    w: &mut dyn Write,
    content_type: &str,
    data: &[u8],
    encoding: TransferEncoding,
    breaks: LineBreaks,
) -> Result<(), Error> {
    write_field(w, "Content-Type", content_type)?;
    write_field(w, "Content-Transfer-Encoding", encoding.as_str())?;
    w.write_all(b"\r\n")?;
    let content = match (encoding, breaks) {
        (TransferEncoding::Base64, _) | (_, LineBreaks::Keep) => std::borrow::Cow::Borrowed(data),
        (_, LineBreaks::Repair) => to_crlf(data),
    };
    let ends_line = |bytes: &[u8]| bytes.is_empty() || bytes.ends_with(b"\r\n");
    match encoding {
        TransferEncoding::SevenBit => {
            w.write_all(&content)?;
            if breaks == LineBreaks::Repair && !ends_line(&content) {
                w.write_all(b"\r\n")?;
            }
        }
        TransferEncoding::QuotedPrintable => {
            let mut out = Vec::with_capacity(content.len() * 3 / 2);
            quoted_printable::encode(&content, &mut out);
            if breaks == LineBreaks::Repair && !out.ends_with(b"\r\n") {
                out.extend_from_slice(b"\r\n");
            }
            w.write_all(&out)?;
        }
        TransferEncoding::Base64 => {
            let mut encoder = Base64Writer::for_input_len(&mut *w, content.len());
            encoder.write_all(&content)?;
            encoder.finish()?;
        }
    }
    Ok(())
}

/// Streams a file leaf: binary types as base64; text types as 7bit when
/// the file is clean, else the shorter of quoted-printable and base64 (a
/// first reading pass decides).
fn write_file(
    w: &mut dyn Write,
    path: &Path,
    content_type: &ContentType,
    len: u64,
) -> Result<(), Error> {
    let scan = if content_type.is_text() {
        Some(scan_text_file(path)?)
    } else {
        None
    };
    let encoding = scan
        .as_ref()
        .map_or(TransferEncoding::Base64, |s| s.encoding(len));
    let mut content_type = content_type.clone();
    if content_type.is_text() && content_type.param("charset").is_none() {
        let charset = match (encoding, scan.as_ref().map(|s| s.utf8)) {
            (TransferEncoding::SevenBit, _) => "us-ascii",
            (_, Some(true)) => "utf-8",
            _ => "unknown-8bit",
        };
        content_type = content_type.with_param("charset", charset);
    }
    write_field(w, "Content-Type", &content_type.header_value())?;
    write_field(w, "Content-Transfer-Encoding", encoding.as_str())?;
    w.write_all(b"\r\n")?;
    match encoding {
        // The file's bytes as they are: the scan allowed 7bit only for
        // CRLF-only content, and quoted-printable keeps a lone CR or LF as
        // data, so the attachment reads back exactly.
        TransferEncoding::SevenBit => read_chunks(path, len, |chunk| w.write_all(chunk))?,
        TransferEncoding::QuotedPrintable => {
            let mut out = Vec::with_capacity(FILE_CHUNK * 2);
            let mut encoder = quoted_printable::Encoder::default();
            read_chunks(path, len, |chunk| {
                out.clear();
                encoder.push(chunk, &mut out);
                w.write_all(&out)
            })?;
            out.clear();
            encoder.finish(&mut out);
            w.write_all(&out)?;
        }
        TransferEncoding::Base64 => {
            let mut encoder = Base64Writer::new(&mut *w);
            read_chunks(path, len, |chunk| encoder.write_all(chunk))?;
            encoder.finish()?;
        }
    }
    Ok(())
}

/// What a first pass over a text file learns.
struct TextScan {
    seven_bit: bool,
    /// Whether the whole file is UTF-8.
    utf8: bool,
    /// Bytes that quoted-printable must escape.
    escaped: u64,
}

impl TextScan {
    fn encoding(&self, len: u64) -> TransferEncoding {
        if self.seven_bit {
            return TransferEncoding::SevenBit;
        }
        // Each escape costs two more bytes; a soft break every 75 columns
        // three.
        let encoded = len + 2 * self.escaped;
        let qp = encoded + encoded / 75 * 3;
        if qp <= crate::base64_stream::encoded_len(len) {
            TransferEncoding::QuotedPrintable
        } else {
            TransferEncoding::Base64
        }
    }
}

fn scan_text_file(path: &Path) -> Result<TextScan, Error> {
    let mut scan = TextScan {
        seven_bit: true,
        utf8: true,
        escaped: 0,
    };
    let mut line = 0usize;
    let mut previous = 0u8;
    let mut file = File::open(path)?;
    let mut buf = vec![0u8; FILE_CHUNK];
    // The start of a UTF-8 sequence cut by the chunk boundary.
    let mut carry: Vec<u8> = Vec::new();
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => {
                scan.utf8 &= carry.is_empty();
                if previous == b'\r' {
                    // A CR at the very end, without its LF.
                    scan.seven_bit = false;
                    scan.escaped += 1;
                }
                return Ok(scan);
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        let chunk = buf.get(..n).unwrap_or_default();
        if scan.utf8 {
            carry.extend_from_slice(chunk);
            match std::str::from_utf8(&carry) {
                Ok(_) => carry.clear(),
                Err(e) if e.error_len().is_none() => {
                    carry.drain(..e.valid_up_to());
                }
                Err(_) => scan.utf8 = false,
            }
        }
        for &b in chunk {
            // A CR not followed by LF is data, not a line break.
            if previous == b'\r' && b != b'\n' {
                scan.seven_bit = false;
                scan.escaped += 1;
            }
            let bare_lf = b == b'\n' && previous != b'\r';
            previous = b;
            match b {
                b'\n' if bare_lf => {
                    line = 0;
                    scan.seven_bit = false;
                    scan.escaped += 1;
                }
                b'\n' => line = 0,
                b'\r' => {}
                b'\t' | 32..=126 => {
                    line += 1;
                    if line > MAX_7BIT_LINE {
                        scan.seven_bit = false;
                    }
                    if b == b'=' {
                        scan.escaped += 1;
                    }
                }
                _ => {
                    scan.seven_bit = false;
                    scan.escaped += 1;
                }
            }
        }
    }
}

/// Reads `path` in chunks into `each`, and fails if it does not hold
/// exactly `len` bytes: a file that changed after it was attached would
/// make the message differ from the one whose size was announced.
fn read_chunks(
    path: &Path,
    len: u64,
    mut each: impl FnMut(&[u8]) -> io::Result<()>,
) -> Result<(), Error> {
    let mut file = File::open(path)?;
    let mut buf = vec![0u8; FILE_CHUNK];
    let mut total: u64 = 0;
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        total += n as u64;
        if total > len {
            break;
        }
        each(buf.get(..n).unwrap_or_default())?;
    }
    if total != len {
        return Err(Error::Io(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{} changed after it was attached ({len} bytes then, at least {total} now)",
                path.display()
            ),
        )));
    }
    Ok(())
}

fn write_headers(headers: &Headers, w: &mut dyn Write) -> Result<(), Error> {
    for field in headers.iter() {
        write::write_header(field.name(), field.value(), w)?;
    }
    Ok(())
}

/// Writes a field the writer makes itself (MIME-Version, Content-Type,
/// Content-Transfer-Encoding): names are constants and values are built
/// from checked parts, so only a last check for line breaks is needed.
fn write_field(w: &mut dyn Write, name: &str, value: &str) -> Result<(), Error> {
    if value.contains(['\r', '\n', '\0']) {
        return Err(Error::InvalidHeaderValue {
            name: name.to_owned(),
            reason: "it contains a CR, LF or NUL",
        });
    }
    write::write_text_field(name, value, w)
}

/// Streams a file through a fixed buffer.
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

/// 7bit when the text allows it, else quoted-printable.
fn choose_text_encoding(text: &[u8]) -> TransferEncoding {
    if is_7bit(text) {
        TransferEncoding::SevenBit
    } else {
        TransferEncoding::QuotedPrintable
    }
}

fn is_7bit(data: &[u8]) -> bool {
    // ASCII without NUL or controls other than CR, LF and TAB, lines of at
    // most 998 octets. Written as whole-slice passes without early exits,
    // which the compiler vectorises; a byte-by-byte state machine was the
    // writer's hottest spot.
    if !data.is_ascii() {
        return false;
    }
    let control = data.iter().fold(false, |found, &b| {
        found | ((b < 32) & (b != b'\t') & (b != b'\n') & (b != b'\r')) | (b == 127)
    });
    if control {
        return false;
    }
    let mut rest = data;
    while rest.len() > MAX_7BIT_LINE {
        let window = rest.get(..=MAX_7BIT_LINE).unwrap_or(rest);
        match window.iter().position(|&b| b == b'\n' || b == b'\r') {
            Some(at) => rest = rest.get(at + 1..).unwrap_or_default(),
            None => return false,
        }
    }
    // A line that looks like a boundary of ours is encoded so it cannot
    // end a part early (rare: only checked where a '=' is).
    !contains_boundary_marker(data)
}

fn contains_boundary_marker(data: &[u8]) -> bool {
    let mut rest = data;
    while let Some(at) = rest.iter().position(|&b| b == b'=') {
        let tail = rest.get(at..).unwrap_or_default();
        if tail.starts_with(b"=_postie_") {
            return true;
        }
        rest = tail.get(1..).unwrap_or_default();
    }
    false
}

/// Text types: 7bit if clean, else quoted-printable or base64, whichever
/// is shorter; everything else base64.
fn choose_data_encoding(data: &[u8], content_type: &ContentType) -> TransferEncoding {
    if !content_type.is_text() {
        return TransferEncoding::Base64;
    }
    if is_7bit(data) && crlf_only(data) {
        return TransferEncoding::SevenBit;
    }
    let mut qp = Vec::with_capacity(data.len() * 3 / 2);
    quoted_printable::encode(data, &mut qp);
    let base64_len = crate::base64_stream::encoded_len(data.len() as u64);
    if (qp.len() as u64) <= base64_len {
        TransferEncoding::QuotedPrintable
    } else {
        TransferEncoding::Base64
    }
}

/// Whether every CR and LF in `data` is part of a CRLF pair.
fn crlf_only(data: &[u8]) -> bool {
    let mut previous = 0u8;
    for (i, &b) in data.iter().enumerate() {
        if b == b'\n' && previous != b'\r' {
            return false;
        }
        if b == b'\r' && data.get(i + 1) != Some(&b'\n') {
            return false;
        }
        previous = b;
    }
    true
}

/// Every line ending (CRLF, LF, or CR alone) as CRLF; runs between line
/// breaks are copied in bulk. Borrows when the text needs no change.
fn to_crlf(data: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if crlf_only(data) {
        return std::borrow::Cow::Borrowed(data);
    }
    let mut out = Vec::with_capacity(data.len() + data.len() / 32 + 2);
    let mut rest = data;
    while let Some(at) = rest.iter().position(|&b| b == b'\r' || b == b'\n') {
        out.extend_from_slice(rest.get(..at).unwrap_or_default());
        out.extend_from_slice(b"\r\n");
        let skip = if rest.get(at..at + 2) == Some(b"\r\n") {
            2
        } else {
            1
        };
        rest = rest.get(at + skip..).unwrap_or_default();
    }
    out.extend_from_slice(rest);
    std::borrow::Cow::Owned(out)
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
