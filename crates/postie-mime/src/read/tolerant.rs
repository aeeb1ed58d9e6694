//! A tolerant MIME reader: RFC 5322 / MIME bytes to a [`Message`] tree,
//! with a list of what was wrong instead of an error.
//!
//! Reading never fails and never panics, whatever the bytes: what cannot be
//! understood is kept as it is and reported as a [`Defect`]. Messages with
//! CRLF or bare LF line endings are read alike. No byte read is lost: each
//! lands in an entity's header section or body, a multipart's preamble,
//! delimiter lines or epilogue.
//!
//! # The tree
//!
//! * Every entity keeps its header fields as they were written (raw bytes,
//!   folding included), so [`Message::to_bytes`] writes a parsed message
//!   back closely.
//! * A leaf is [`Body::Raw`] holding its body still transfer-encoded;
//!   [`PartExt::decoded_body`] and [`PartExt::text`] decode it.
//! * A multipart is [`Body::Multipart`] with the parsed parts, in order. Its
//!   preamble and epilogue (the text before the first and after the last
//!   delimiter) are kept: [`Message::preamble`], [`Message::epilogue`]. The
//!   line break before each delimiter line belongs to the delimiter, not to
//!   the part before it (RFC 2046 §5.1.1).
//! * An entity whose first line is not a header field (prose labelled
//!   `message/rfc822`, a part missing the empty line that starts a part
//!   without fields) has no fields: its body starts at that line
//!   ([`DefectKind::NoHeaderSection`]). Lines that are not fields further
//!   down a header section are reported and skipped.
//! * A `message/rfc822` (or `message/global`) entity is
//!   `Body::Multipart { content_type, parts }` where `content_type` is the
//!   entity's own (`message/rfc822`) and `parts` holds exactly one entity:
//!   the enclosed message, parsed like any other. A base64 or
//!   quoted-printable encoding on it, which RFC 2046 forbids but mailers
//!   send, is undone first.
//! * In a `multipart/digest`, a part without a Content-Type is a
//!   `message/rfc822` (RFC 2046 §5.1.5); elsewhere it is `text/plain`.
//! * Multiparts and enclosed messages nest at most [`MAX_DEPTH`] levels;
//!   a deeper one is kept as a [`Body::Raw`] leaf and reported.
//!
//! ```
//! use postie_mime::reader::{self, PartExt};
//!
//! let raw = b"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\n\
//!             Content-Type: multipart/mixed; boundary=XX\n\
//!             \n\
//!             --XX\n\
//!             Content-Type: text/plain; charset=iso-8859-1\n\
//!             Content-Transfer-Encoding: quoted-printable\n\
//!             \n\
//!             caf=E9\n\
//!             --XX\n\
//!             Content-Type: application/octet-stream; name=a.bin\n\
//!             Content-Transfer-Encoding: base64\n\
//!             \n\
//!             AAEC\n\
//!             --XX--\n";
//! let parsed = reader::parse(raw);
//! assert!(parsed.defects.is_empty());
//! let msg = &parsed.message;
//! assert_eq!(msg.header_text("subject").as_deref(), Some("Grüße"));
//! assert_eq!(msg.parts()[0].text().as_deref(), Some("café"));
//! assert_eq!(msg.parts()[1].decoded_body(), [0, 1, 2]);
//! assert_eq!(msg.parts()[1].filename().as_deref(), Some("a.bin"));
//! assert_eq!(msg.preamble(), Some(&b""[..]));
//! ```

use std::fmt;
use std::io::Read;
use std::ops::Range;

use crate::fields::content_type::{ContentDisposition, ContentType};
use crate::fields::encoded_word::decode::{raw_value_text, Outside};
use crate::fields::header::{HeaderName, HeaderValue, Headers};
use crate::message::{Body, Message, MultipartLayout, ReadLayout};
use crate::read::decode::{self, decode_charset, decode_rfc2047, decode_transfer};

/// How many levels multiparts and enclosed messages may nest: an entity
/// this deep is kept as a leaf (and [`DefectKind::NestingTooDeep`] is
/// reported) rather than parsed further.
pub const MAX_DEPTH: usize = 64;

/// A message read by [`parse`], and what was wrong with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parsed {
    /// The message, as well as it could be read.
    pub message: Message,
    /// What was wrong, in the order it was found (an empty list for a
    /// well-formed message).
    pub defects: Vec<Defect>,
}

/// One thing wrong with a parsed message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Defect {
    /// Where: the indexes of the parts leading from the root to the entity
    /// (empty for the root itself; the message inside a `message/rfc822`
    /// entity is its part 0).
    pub part: Vec<usize>,
    /// What.
    pub kind: DefectKind,
}

/// What is wrong; see [`Defect`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DefectKind {
    /// A line of a header block, after its first, is neither a field nor
    /// the continuation of one (no colon, a field name with forbidden
    /// characters, or a continuation before any field). The line, and the
    /// continuation lines that follow it, were skipped as fields (their
    /// bytes stay in the entity's header section as read). A first line
    /// that is no field is [`DefectKind::NoHeaderSection`] instead.
    MalformedHeader {
        /// 1-based line number within the entity's header block.
        line: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A header line holding a bare CR (a CR not followed by LF) or a NUL.
    /// Each such byte was read as a space, which is also what the message
    /// gives a server when it is written again.
    ControlInHeader {
        /// 1-based line number within the entity's header block.
        line: usize,
    },
    /// An entity whose first line is neither a header field nor the empty
    /// line that ends a header section: prose in a `message/rfc822` part,
    /// a part that lacks the empty line a part without fields starts with
    /// (RFC 2046 §5.1.1). It was read as having no fields, its body
    /// starting at that line.
    NoHeaderSection,
    /// A multipart without a `boundary` parameter, or with an empty one.
    /// The body was kept as a leaf.
    MissingBoundary,
    /// A multipart whose body never holds its opening delimiter line. The
    /// body was kept as a leaf.
    BoundaryNotFound,
    /// A multipart without its closing delimiter line: the parts up to the
    /// end of the body were kept, the last one running to the end.
    UnterminatedMultipart,
    /// A multipart or enclosed message deeper than [`MAX_DEPTH`]. It was
    /// kept as a leaf.
    NestingTooDeep,
    /// A Content-Type field that cannot be parsed; the entity was read as
    /// `text/plain` (RFC 2045 §5.2).
    InvalidContentType,
    /// A base64 body with bytes outside the base64 alphabet, data after
    /// the padding, or a truncated last group. It decodes leniently (junk
    /// skipped) all the same.
    BadBase64,
    /// A quoted-printable body with a `=` that starts neither `=XX` nor a
    /// soft line break. Such a `=` decodes as itself.
    BadQuotedPrintable,
    /// A Content-Transfer-Encoding other than 7bit, 8bit, binary, base64
    /// and quoted-printable. The body decodes as it is.
    UnknownTransferEncoding {
        /// The encoding named, lowercase.
        encoding: String,
    },
}

impl fmt::Display for DefectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MalformedHeader { line, reason } => {
                write!(f, "malformed header line {line}: {reason}")
            }
            Self::ControlInHeader { line } => {
                write!(f, "header line {line}: a bare CR or NUL, read as a space")
            }
            Self::NoHeaderSection => {
                f.write_str("the first line is not a header field: read as the start of the body")
            }
            Self::MissingBoundary => f.write_str("multipart without a boundary parameter"),
            Self::BoundaryNotFound => f.write_str("multipart boundary never found in the body"),
            Self::UnterminatedMultipart => f.write_str("multipart without its closing delimiter"),
            Self::NestingTooDeep => write!(f, "nested deeper than {MAX_DEPTH} levels"),
            Self::InvalidContentType => f.write_str("invalid Content-Type"),
            Self::BadBase64 => f.write_str("junk in a base64 body"),
            Self::BadQuotedPrintable => f.write_str("malformed quoted-printable"),
            Self::UnknownTransferEncoding { encoding } => {
                write!(f, "unknown Content-Transfer-Encoding {encoding:?}")
            }
        }
    }
}

impl fmt::Display for Defect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.part.is_empty() {
            write!(f, "message: {}", self.kind)
        } else {
            let path: Vec<String> = self.part.iter().map(|i| i.to_string()).collect();
            write!(f, "part {}: {}", path.join("."), self.kind)
        }
    }
}

/// Reads a message; see the [module documentation](self). Never fails:
/// what is wrong is in [`Parsed::defects`].
pub fn parse(bytes: &[u8]) -> Parsed {
    let mut reader = Reader {
        defects: Vec::new(),
        path: Vec::new(),
    };
    // A UTF-8 byte order mark before the first field is not part of it; it
    // is kept with the header section as read.
    const BOM: &[u8] = b"\xEF\xBB\xBF";
    let (bom, bytes) = match bytes.strip_prefix(BOM) {
        Some(rest) => (BOM, rest),
        None => (&[][..], bytes),
    };
    let mut message = reader.entity(bytes, 0, Fallback::Text, true);
    message
        .layout_mut()
        .header_section
        .splice(0..0, bom.iter().copied());
    Parsed {
        message,
        defects: reader.defects,
    }
}

/// Reads all of `r` and parses it with [`parse`]; only reading can fail.
pub fn parse_reader(mut r: impl Read) -> std::io::Result<Parsed> {
    let mut bytes = Vec::new();
    r.read_to_end(&mut bytes)?;
    Ok(parse(&bytes))
}

/// The type of an entity without a Content-Type field.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fallback {
    /// `text/plain; charset=us-ascii`.
    Text,
    /// `message/rfc822`, in a multipart/digest.
    Message,
}

struct Reader {
    defects: Vec<Defect>,
    /// The path of the entity being read.
    path: Vec<usize>,
}

impl Reader {
    fn flag(&mut self, kind: DefectKind) {
        self.defects.push(Defect {
            part: self.path.clone(),
            kind,
        });
    }

    /// Reads one entity: its header block, then its body by its type.
    /// Recursion is bounded by `depth` < [`MAX_DEPTH`].
    fn entity(&mut self, bytes: &[u8], depth: usize, default: Fallback, root: bool) -> Message {
        let (headers, body_start) = self.header_block(bytes, root);
        let mut layout = ReadLayout {
            header_section: bytes.get(..body_start).unwrap_or_default().to_vec(),
            ..ReadLayout::default()
        };
        let body = bytes.get(body_start..).unwrap_or_default();
        let body = self.body(&headers, body, depth, default, &mut layout);
        let mut message = Message::from_parts(headers, body);
        *message.layout_mut() = layout;
        message
    }

    /// Reads an entity's body by its type; what the body holds besides its
    /// parts (a multipart's preamble, delimiter lines and epilogue, an
    /// enclosed message's encoded form) goes to `layout`.
    fn body(
        &mut self,
        headers: &Headers,
        body: &[u8],
        depth: usize,
        default: Fallback,
        layout: &mut ReadLayout,
    ) -> Body {
        let content_type = match headers.get("Content-Type") {
            Some(value) => match ContentType::parse(&value_text(value)) {
                Ok(ct) => Some(ct),
                Err(_) => {
                    self.flag(DefectKind::InvalidContentType);
                    None
                }
            },
            None => None,
        };
        let content_type = content_type.unwrap_or_else(|| match default {
            Fallback::Text => default_content_type(),
            Fallback::Message => message_rfc822(),
        });

        if content_type.is_multipart() {
            let boundary = content_type
                .boundary()
                .map(|b| b.trim_end_matches([' ', '\t']))
                .unwrap_or_default()
                .to_owned();
            if boundary.is_empty() {
                self.flag(DefectKind::MissingBoundary);
                return self.leaf(headers, body);
            }
            if depth >= MAX_DEPTH {
                self.flag(DefectKind::NestingTooDeep);
                return Body::Raw(body.to_vec());
            }
            let split = split_multipart(body, boundary.as_bytes());
            if !split.found {
                self.flag(DefectKind::BoundaryNotFound);
                return self.leaf(headers, body);
            }
            if !split.closed {
                self.flag(DefectKind::UnterminatedMultipart);
            }
            let piece = |range: &Range<usize>| body.get(range.clone()).unwrap_or_default().to_vec();
            layout.multipart = Some(MultipartLayout {
                preamble: piece(&split.preamble),
                delimiters: split.delimiters.iter().map(piece).collect(),
                epilogue: piece(&split.epilogue),
            });
            let child_default = if content_type.subtype() == "digest" {
                Fallback::Message
            } else {
                Fallback::Text
            };
            let mut parts = Vec::with_capacity(split.parts.len());
            for (index, range) in split.parts.into_iter().enumerate() {
                self.path.push(index);
                let part_bytes = body.get(range).unwrap_or_default();
                parts.push(self.entity(part_bytes, depth + 1, child_default, false));
                self.path.pop();
            }
            return Body::Multipart {
                content_type,
                parts,
            };
        }

        if is_message(&content_type) {
            if depth >= MAX_DEPTH {
                self.flag(DefectKind::NestingTooDeep);
                return Body::Raw(body.to_vec());
            }
            let encoding = headers
                .get("Content-Transfer-Encoding")
                .map(|v| decode::normalize_encoding(&value_text(v)));
            self.check_encoding(encoding.as_deref(), body);
            let inner_bytes = decode_transfer(body, encoding.as_deref());
            if inner_bytes != body {
                // The enclosed entity holds the decoded bytes; the ones read
                // are kept here.
                layout.encoded_body = Some(body.to_vec());
            }
            self.path.push(0);
            let inner = self.entity(&inner_bytes, depth + 1, Fallback::Text, false);
            self.path.pop();
            return Body::Multipart {
                content_type,
                parts: vec![inner],
            };
        }

        self.leaf(headers, body)
    }

    /// A leaf: the body kept encoded, its encoding checked.
    fn leaf(&mut self, headers: &Headers, body: &[u8]) -> Body {
        let encoding = headers
            .get("Content-Transfer-Encoding")
            .map(|v| decode::normalize_encoding(&value_text(v)));
        self.check_encoding(encoding.as_deref(), body);
        Body::Raw(body.to_vec())
    }

    fn check_encoding(&mut self, encoding: Option<&str>, body: &[u8]) {
        match encoding {
            None | Some("7bit" | "8bit" | "binary" | "") => {}
            Some("base64") => {
                if decode::base64_is_malformed(body) {
                    self.flag(DefectKind::BadBase64);
                }
            }
            Some("quoted-printable") => {
                if crate::transfer_encoding::quoted_printable::is_malformed(body) {
                    self.flag(DefectKind::BadQuotedPrintable);
                }
            }
            Some(other) => self.flag(DefectKind::UnknownTransferEncoding {
                encoding: other.to_owned(),
            }),
        }
    }

    /// Reads header fields up to the empty line that ends them (or the end
    /// of `bytes`); gives them and where the body starts. A first line that
    /// is not a field starts the body (there are no fields); later lines
    /// that are not fields are reported and skipped, with their
    /// continuation lines. On the root, a first line `From ` (an mbox
    /// separator) is skipped.
    fn header_block(&mut self, bytes: &[u8], root: bool) -> (Headers, usize) {
        let mut headers = Headers::new();
        let mut current: Option<(HeaderName, Vec<u8>)> = None;
        // After a malformed line, its continuation lines are skipped too.
        let mut skipping = false;
        // Whether the next line is the first that may hold a field (the
        // root's mbox `From ` line aside).
        let mut first = true;
        let mut pos = 0;
        let mut number = 0;
        let body_start = loop {
            if pos >= bytes.len() {
                break bytes.len();
            }
            let line_start = pos;
            let rest = bytes.get(pos..).unwrap_or_default();
            // Only a CR right before the LF is part of the line break.
            let (line, next) = match rest.iter().position(|&b| b == b'\n') {
                Some(lf) => {
                    let line = rest.get(..lf).unwrap_or_default();
                    (line.strip_suffix(b"\r").unwrap_or(line), pos + lf + 1)
                }
                None => (rest, bytes.len()),
            };
            pos = next;
            number += 1;
            // A bare CR would be a line break on the wire and a NUL is no
            // text: either is read as a space, so that the fields kept are
            // the fields a server is given when the message is written.
            let control = crate::read::strict::control_in_line(line).is_some();
            let cleaned;
            let line = if control {
                cleaned = line
                    .iter()
                    .map(|&b| if b == b'\r' || b == 0 { b' ' } else { b })
                    .collect::<Vec<u8>>();
                &cleaned[..]
            } else {
                line
            };
            if line.is_empty() {
                break next;
            }
            let continuation = matches!(line.first(), Some(b' ' | b'\t'));
            let mbox = number == 1 && root && line.starts_with(b"From ");
            if first && !mbox {
                first = false;
                // A first line that is no field (prose labelled
                // message/rfc822, a part without its empty line) starts
                // the body: skipping it would lose it.
                if !continuation && field_name(line).is_err() {
                    self.flag(DefectKind::NoHeaderSection);
                    break line_start;
                }
            }
            if control {
                self.flag(DefectKind::ControlInHeader { line: number });
            }
            if mbox {
                continue;
            }
            if continuation {
                match current.as_mut() {
                    Some((_, value)) => {
                        value.extend_from_slice(b"\r\n");
                        value.extend_from_slice(line);
                    }
                    None if skipping => {}
                    None => {
                        self.flag(DefectKind::MalformedHeader {
                            line: number,
                            reason: "a continuation line comes before any field",
                        });
                        skipping = true;
                    }
                }
                continue;
            }
            if let Some((name, value)) = current.take() {
                headers.append_value(name, HeaderValue::raw(value));
            }
            skipping = false;
            match field_name(line) {
                Ok((name, colon)) => {
                    let value = line.get(colon + 1..).unwrap_or_default().to_vec();
                    current = Some((name, value));
                }
                Err(reason) => {
                    self.flag(DefectKind::MalformedHeader {
                        line: number,
                        reason,
                    });
                    skipping = true;
                }
            }
        };
        if let Some((name, value)) = current.take() {
            headers.append_value(name, HeaderValue::raw(value));
        }
        (headers, body_start)
    }
}

/// The name of the field a header line starts, and where its colon is; or
/// why the line starts none.
fn field_name(line: &[u8]) -> Result<(HeaderName, usize), &'static str> {
    let colon = line
        .iter()
        .position(|&b| b == b':')
        .ok_or("no ':' after the field name")?;
    let name = line.get(..colon).unwrap_or_default();
    std::str::from_utf8(name)
        .ok()
        .map(|n| n.trim_end_matches([' ', '\t']))
        .and_then(|n| HeaderName::new(n).ok())
        .map(|name| (name, colon))
        .ok_or("the field name is empty or holds characters RFC 5322 forbids")
}

/// Where the pieces of a multipart body are. They follow one another
/// with no gap and no overlap: the preamble, then each part after its
/// delimiter line, then (when closed) the closing delimiter line and the
/// epilogue.
struct Split {
    /// Whether any delimiter line was found.
    found: bool,
    /// Whether the closing delimiter line was found.
    closed: bool,
    /// Before the first delimiter line.
    preamble: Range<usize>,
    /// Each delimiter line, with the line break before it and its own.
    delimiters: Vec<Range<usize>>,
    /// Each part.
    parts: Vec<Range<usize>>,
    /// After the closing delimiter line (empty when there is none).
    epilogue: Range<usize>,
}

/// Finds the delimiter lines `--boundary` (and the closing
/// `--boundary--`) of a multipart body: at the start of a line, followed by
/// nothing but white space to the end of the line. The line break before a
/// delimiter line belongs to it, unless it is the line break of the
/// delimiter line just before.
fn split_multipart(body: &[u8], boundary: &[u8]) -> Split {
    let mut split = Split {
        found: false,
        closed: false,
        preamble: 0..0,
        delimiters: Vec::new(),
        parts: Vec::new(),
        epilogue: body.len()..body.len(),
    };
    // Where the piece being read (the preamble, then a part) starts.
    let mut piece_start = 0;
    let mut line_start = 0;
    while line_start < body.len() {
        let rest = body.get(line_start..).unwrap_or_default();
        let line_end = rest.iter().position(|&b| b == b'\n');
        let next = line_end.map_or(body.len(), |lf| line_start + lf + 1);
        if let Some(close) = delimiter(rest, boundary) {
            // The CRLF (or LF) before the delimiter line is the delimiter's.
            let mut end = line_start;
            if end > piece_start && body.get(end - 1) == Some(&b'\n') {
                end -= 1;
                if end > piece_start && body.get(end - 1) == Some(&b'\r') {
                    end -= 1;
                }
            }
            if split.found {
                split.parts.push(piece_start..end);
            } else {
                split.preamble = 0..end;
            }
            split.found = true;
            split.delimiters.push(end..next);
            piece_start = next;
            if close {
                split.closed = true;
                split.epilogue = next..body.len();
                return split;
            }
        }
        line_start = next;
    }
    if split.found {
        split.parts.push(piece_start..body.len());
    }
    split
}

/// Whether the line at the start of `rest` is a delimiter line for
/// `boundary`: `Some(true)` for the closing one, `Some(false)` for
/// another, `None` for an ordinary line.
fn delimiter(rest: &[u8], boundary: &[u8]) -> Option<bool> {
    let after = rest.strip_prefix(b"--")?.strip_prefix(boundary)?;
    let (close, after) = match after.strip_prefix(b"--") {
        Some(after) => (true, after),
        None => (false, after),
    };
    for &b in after {
        match b {
            b' ' | b'\t' => {}
            b'\n' => return Some(close),
            b'\r' => {}
            _ => return None,
        }
    }
    Some(close)
}

/// Whether an entity of this type encloses a message.
fn is_message(content_type: &ContentType) -> bool {
    matches!(content_type.essence(), "message/rfc822" | "message/global")
}

/// `text/plain; charset=us-ascii`, the type of an entity without a
/// Content-Type (RFC 2045 §5.2).
#[allow(clippy::expect_used)] // Constant tokens: cannot fail (see the tests).
fn default_content_type() -> ContentType {
    ContentType::new("text", "plain")
        .expect("text/plain is a valid type")
        .with_param("charset", "us-ascii")
}

/// `message/rfc822`, the type of a digest part without a Content-Type.
#[allow(clippy::expect_used)] // Constant tokens: cannot fail (see the tests).
fn message_rfc822() -> ContentType {
    ContentType::new("message", "rfc822").expect("message/rfc822 is a valid type")
}

/// A header value as text: unfolded, trimmed, encoded-words left as they
/// are. When read from a message, its bytes are UTF-8 when they are valid
/// UTF-8; when not, 8-bit bytes inside an encoded-word are kept for the
/// word's own charset (see [`HeaderValue::as_text`]) and the others read
/// as windows-1252 (raw 8-bit header text in the wild is mostly one or the
/// other).
pub(crate) fn value_text(value: &HeaderValue) -> String {
    match value.raw_bytes() {
        Some(bytes) => raw_value_text(bytes, Outside::Windows1252),
        None => value.as_text().into_owned(),
    }
}

/// What a parsed (or built) entity can tell about itself: its type and
/// encoding, its decoded content and its decoded header fields. Implemented
/// for [`Message`].
///
/// For an entity that was built rather than read (a [`Body::Text`],
/// [`Body::Data`] or [`Body::File`] leaf), the answers are those of the
/// content as given, before the writer encodes it.
pub trait PartExt {
    /// The content type: the body's for a built leaf or a multipart, else
    /// the Content-Type field, and `text/plain; charset=us-ascii` when
    /// there is none or it cannot be parsed (RFC 2045 §5.2).
    fn content_type(&self) -> ContentType;

    /// The Content-Transfer-Encoding, lowercase, comments dropped
    /// (`base64`, `quoted-printable`, `7bit`...): the field's value, or for
    /// a built in-memory leaf the encoding the writer will choose. `None`
    /// when neither applies. (Named apart from the inherent
    /// [`Message::transfer_encoding`], which gives only the writer's
    /// choice.)
    fn content_transfer_encoding(&self) -> Option<String>;

    /// The content with its transfer encoding undone (for a leaf read from
    /// a message), or as given (for a built leaf; a file is read, and
    /// unreadable gives nothing). Empty for a multipart or enclosed
    /// message.
    fn decoded_body(&self) -> Vec<u8>;

    /// For a `text/*` leaf, the decoded content as text, by its charset
    /// (see [`decode_charset`]; bytes not valid in it become U+FFFD). Line
    /// breaks stay as they are. `None` for other types.
    fn text(&self) -> Option<String>;

    /// The file name: Content-Disposition's `filename` (RFC 2231
    /// continuations and charsets understood), else Content-Type's `name`,
    /// with RFC 2047 encoded-words decoded (as some mailers put them in
    /// quoted names). `None` when neither is given or both are empty.
    fn filename(&self) -> Option<String>;

    /// The first field `name` (any case), unfolded, trimmed and with
    /// RFC 2047 encoded-words decoded; raw 8-bit text is read as UTF-8, or
    /// when it is not UTF-8, inside an encoded-word in the word's charset
    /// and elsewhere as windows-1252.
    fn header_text(&self, name: &str) -> Option<String>;

    /// Writes the decoded content to `w` in chunks: a built file leaf, and
    /// a body kept in a file ([`Message::parse_file`]), are streamed from
    /// their file, decoded on the way (never held whole); other leaves are
    /// decoded from memory. Nothing for a multipart.
    fn write_decoded(&self, w: &mut dyn std::io::Write) -> std::io::Result<()>;

    /// The body as it stands in the message, transfer encoding and all, for
    /// a leaf read from a message (`None` for built entities and for
    /// bodies kept in a file).
    fn raw_body(&self) -> Option<&[u8]>;

    /// The decoded size in bytes: of the content for a leaf, of all the
    /// leaves within for a multipart or enclosed message.
    fn size(&self) -> usize;

    /// This entity and every entity within it, depth first, in order, each
    /// with its path of part indexes (empty for `self`; an enclosed
    /// message is part 0 of its `message/rfc822` entity). Does not recurse,
    /// so any depth is safe.
    fn walk(&self) -> Vec<(Vec<usize>, &Message)>;
}

impl PartExt for Message {
    fn write_decoded(&self, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        match self.body() {
            Body::File { path, .. } => {
                let mut file = crate::regular_file::open(path)?;
                std::io::copy(&mut file, w).map(|_| ())
            }
            Body::RawFile { path, offset } => {
                // Read and decoded a chunk at a time: a large body in a
                // file is never held whole.
                let mut file = crate::regular_file::open_at(path, *offset)?;
                let mut decoder =
                    decode::TransferDecoder::new(self.content_transfer_encoding().as_deref());
                let mut out = Vec::with_capacity(crate::regular_file::FILE_CHUNK);
                crate::regular_file::for_each_chunk(
                    &mut file,
                    crate::regular_file::FILE_CHUNK,
                    |chunk| {
                        out.clear();
                        decoder.push(chunk, &mut out);
                        w.write_all(&out)
                    },
                )?;
                out.clear();
                decoder.finish(&mut out);
                w.write_all(&out)
            }
            Body::Multipart { .. } => Ok(()),
            _ => w.write_all(&self.decoded_body()),
        }
    }

    fn raw_body(&self) -> Option<&[u8]> {
        match self.body() {
            Body::Raw(bytes) => Some(bytes),
            _ => None,
        }
    }

    fn content_type(&self) -> ContentType {
        match self.body() {
            Body::Multipart { content_type, .. }
            | Body::Data { content_type, .. }
            | Body::File { content_type, .. } => content_type.clone(),
            Body::Text { text, subtype } => {
                let charset = if text.is_ascii() { "us-ascii" } else { "utf-8" };
                ContentType::new("text", subtype)
                    .map(|ct| ct.with_param("charset", charset))
                    .unwrap_or_else(|_| default_content_type())
            }
            _ => self
                .headers()
                .get("Content-Type")
                .and_then(|v| ContentType::parse(&value_text(v)).ok())
                .unwrap_or_else(default_content_type),
        }
    }

    fn content_transfer_encoding(&self) -> Option<String> {
        if let Some(encoding) = self.transfer_encoding() {
            return Some(encoding.as_str().to_owned());
        }
        self.headers()
            .get("Content-Transfer-Encoding")
            .map(|v| decode::normalize_encoding(&value_text(v)))
            .filter(|encoding| !encoding.is_empty())
    }

    fn decoded_body(&self) -> Vec<u8> {
        match self.body() {
            Body::Text { text, .. } => text.as_bytes().to_vec(),
            Body::Data { data, .. } => data.to_vec(),
            Body::File { path, .. } => std::fs::read(path).unwrap_or_default(),
            Body::Raw(bytes) => decode_transfer(bytes, self.content_transfer_encoding().as_deref()),
            Body::RawFile { .. } => {
                let mut out = Vec::new();
                match self.write_decoded(&mut out) {
                    Ok(()) => out,
                    Err(_) => Vec::new(),
                }
            }
            _ => Vec::new(),
        }
    }

    fn text(&self) -> Option<String> {
        if let Body::Text { text, .. } = self.body() {
            return Some(text.as_str().to_owned());
        }
        let content_type = self.content_type();
        if !content_type.is_text() {
            return None;
        }
        Some(decode_charset(&self.decoded_body(), content_type.charset()).0)
    }

    fn filename(&self) -> Option<String> {
        let from_disposition = self
            .headers()
            .get("Content-Disposition")
            .and_then(|v| ContentDisposition::parse(&value_text(v)).ok())
            .and_then(|cd| cd.filename().map(str::to_owned))
            .filter(|name| !name.trim().is_empty());
        let name = from_disposition.or_else(|| {
            self.content_type()
                .param("name")
                .map(str::to_owned)
                .filter(|name| !name.trim().is_empty())
        })?;
        Some(decode_rfc2047(&name))
    }

    fn header_text(&self, name: &str) -> Option<String> {
        self.headers()
            .get(name)
            .map(|v| decode_rfc2047(&value_text(v)))
    }

    fn size(&self) -> usize {
        self.walk()
            .into_iter()
            .filter(|(_, m)| !matches!(m.body(), Body::Multipart { .. }))
            .map(|(_, m)| match m.body() {
                Body::Text { text, .. } => text.len(),
                Body::Data { data, .. } => data.len(),
                Body::File { len, .. } => usize::try_from(*len).unwrap_or(usize::MAX),
                _ => m.decoded_body().len(),
            })
            .fold(0usize, usize::saturating_add)
    }

    fn walk(&self) -> Vec<(Vec<usize>, &Message)> {
        let mut out = Vec::new();
        let mut stack: Vec<(Vec<usize>, &Message)> = vec![(Vec::new(), self)];
        while let Some((path, message)) = stack.pop() {
            for (index, part) in message.parts().iter().enumerate().rev() {
                let mut child = path.clone();
                child.push(index);
                stack.push((child, part));
            }
            out.push((path, message));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_types() {
        assert_eq!(
            default_content_type().header_value(),
            "text/plain; charset=us-ascii"
        );
        assert_eq!(message_rfc822().essence(), "message/rfc822");
    }

    #[test]
    fn delimiter_lines() {
        assert_eq!(delimiter(b"--b\r\nx", b"b"), Some(false));
        assert_eq!(delimiter(b"--b--", b"b"), Some(true));
        assert_eq!(delimiter(b"--b \t\r\n", b"b"), Some(false));
        assert_eq!(delimiter(b"--bc\r\n", b"b"), None);
        assert_eq!(delimiter(b"--b--x", b"b"), None);
        assert_eq!(delimiter(b"-b", b"b"), None);
    }

    #[test]
    fn split_gives_the_line_break_to_the_delimiter() {
        let body = b"pre\r\n--b\r\none\r\n--b\nH: v\n\ntwo\n--b--\r\nepilogue";
        let split = split_multipart(body, b"b");
        assert!(split.found && split.closed);
        let parts: Vec<&[u8]> = split.parts.iter().map(|r| &body[r.clone()]).collect();
        assert_eq!(parts, [&b"one"[..], b"H: v\n\ntwo"]);
        let delimiters: Vec<&[u8]> = split.delimiters.iter().map(|r| &body[r.clone()]).collect();
        assert_eq!(
            delimiters,
            [&b"\r\n--b\r\n"[..], b"\r\n--b\n", b"\n--b--\r\n"]
        );
        assert_eq!(&body[split.preamble], b"pre");
        assert_eq!(&body[split.epilogue], b"epilogue");
        // A delimiter line right after another one: the line break between
        // them ends the first, and the part between is empty.
        let body = b"--b\n--b\nx\n--b--";
        let split = split_multipart(body, b"b");
        assert_eq!(split.delimiters, [0..4, 4..8, 9..15]);
        assert_eq!(split.parts, [4..4, 8..9]);
    }
}
