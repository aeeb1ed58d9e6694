//! The message model: an entity is header fields and a body; a body is a
//! leaf (text, bytes, or a file read only while writing) or a multipart of
//! entities, nested to any depth. A message is the top entity.
//!
//! The model depends on the header fields and nothing else: writing
//! (`write/`: [`Message::write_to`], [`Message::stream`],
//! [`Message::transfer_encoding`]) and reading (`read/`:
//! [`Message::parse`], [`Message::parse_file`]) are methods of it defined
//! on their own side, so that side depends on the model and never the
//! other way round.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::fields::content_type::ContentType;
use crate::fields::header::Headers;
use crate::shared::{SharedBytes, SharedText};
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
    /// For an entity the tolerant reader read: the bytes read that the
    /// fields, the parts and the body do not hold.
    layout: Option<Box<ReadLayout>>,
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
        /// The text (owned, or shared with other messages: [`SharedText`]).
        text: SharedText,
        /// The MIME subtype, `plain` by default.
        subtype: Cow<'static, str>,
    },
    /// Bytes of the given type, encoded by the writer: text types as 7bit
    /// or quoted-printable when they can be, anything else as base64.
    Data {
        /// The content (owned, or shared with other messages:
        /// [`SharedBytes`]).
        data: SharedBytes,
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
    /// A `text/plain` message from `text` (a `String`, a `&str`, or text
    /// shared without a copy: [`SharedText`]); any line ending (LF, CRLF or
    /// CR) is sent as CRLF.
    pub fn text(text: impl Into<SharedText>) -> Self {
        Self::from_parts(
            Headers::new(),
            Body::Text {
                text: text.into(),
                subtype: Cow::Borrowed("plain"),
            },
        )
    }

    /// A `text/html` entity.
    pub fn html(html: impl Into<SharedText>) -> Self {
        Self::from_parts(
            Headers::new(),
            Body::Text {
                text: html.into(),
                subtype: Cow::Borrowed("html"),
            },
        )
    }

    /// A leaf of `content_type` holding `data` (a `Vec<u8>`, a `&[u8]`, or
    /// bytes shared without a copy: [`SharedBytes`]).
    pub fn data(data: impl Into<SharedBytes>, content_type: ContentType) -> Self {
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
        // The usual subtypes as constants: no string built per message.
        let content_type = match MULTIPART_CONSTANTS
            .iter()
            .find(|c| c.get("multipart/".len()..) == Some(subtype))
        {
            Some(essence) => ContentType::multipart_static(essence),
            None => {
                ContentType::new("multipart", subtype).map_err(|e| Error::InvalidHeaderValue {
                    name: "Content-Type".to_owned(),
                    reason: content_type_reason(&e),
                })?
            }
        }
        .with_boundary(boundary);
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
            layout: None,
        }
    }

    /// For a multipart read from bytes ([`crate::reader::parse`]): its
    /// preamble, the bytes before its first delimiter line (the line break
    /// just before that line belongs to the delimiter, RFC 2046 §5.1.1).
    /// `None` for other entities and for multiparts that were built.
    pub fn preamble(&self) -> Option<&[u8]> {
        self.multipart_layout().map(|m| m.preamble.as_slice())
    }

    /// For a multipart read from bytes: its epilogue, the bytes after the
    /// line break that ends its closing delimiter line (empty when there
    /// is no closing delimiter). `None` for other entities and for
    /// multiparts that were built.
    pub fn epilogue(&self) -> Option<&[u8]> {
        self.multipart_layout().map(|m| m.epilogue.as_slice())
    }

    fn multipart_layout(&self) -> Option<&MultipartLayout> {
        self.layout()?.multipart.as_ref()
    }

    /// What the reader recorded of the bytes it read this entity from.
    pub(crate) fn layout(&self) -> Option<&ReadLayout> {
        self.layout.as_deref()
    }

    /// The reader's record, made empty when there is none yet.
    pub(crate) fn layout_mut(&mut self) -> &mut ReadLayout {
        self.layout.get_or_insert_default()
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

    /// Where the writer keeps its plan for this leaf's body.
    pub(crate) fn plan(&self) -> &PlanCache {
        &self.plan
    }
}

/// Where the bytes of an entity that the tolerant reader read went, beyond
/// its fields, its parts and its raw body: with them, every byte read is
/// accounted for. Plain data, which the reader fills in; it describes the
/// bytes as read and is not updated when the entity is changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ReadLayout {
    /// The header section as read, from the entity's first byte to its
    /// body: the fields as written (line breaks and folding included), the
    /// lines that were not fields, a leading byte order mark or mbox `From `
    /// line, and the empty line that ends the section.
    pub(crate) header_section: Vec<u8>,
    /// For a multipart, what stands around its parts.
    pub(crate) multipart: Option<MultipartLayout>,
    /// For an enclosed message whose transfer encoding was undone, its body
    /// as it was, encoded; the enclosed entity accounts for the decoded
    /// bytes.
    pub(crate) encoded_body: Option<Vec<u8>>,
}

/// The bytes of a multipart body around its parts, as read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct MultipartLayout {
    /// Before the first delimiter line.
    pub(crate) preamble: Vec<u8>,
    /// Each delimiter line with the line break before it and its own: one
    /// before each part, then the closing one when there is one.
    pub(crate) delimiters: Vec<Vec<u8>>,
    /// After the closing delimiter line.
    pub(crate) epilogue: Vec<u8>,
}

/// What the writer decides for an in-memory leaf before writing it: its
/// transfer encoding, charset and whether its line breaks need repair.
///
/// The writer makes it (`write::serialize`, from the content alone); the
/// model only holds it, in [`PlanCache`], so that a message written twice
/// (sized, then sent) or cloned is scanned once. Plain data, so holding it
/// here ties the model to no writer code.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LeafPlan {
    pub(crate) encoding: TransferEncoding,
    /// The charset the content needs (used for text without one).
    pub(crate) charset: &'static str,
    /// Whether its line breaks are all CRLF already (text only: data keeps
    /// its line breaks as they are).
    pub(crate) crlf_only: bool,
}

/// A message's [`LeafPlan`], made at its first writing and kept by its
/// clones. A cache, not content: it takes no part in equality.
///
/// The plan packs into one atomic word (see [`LeafPlan::pack`]), so a kept
/// plan is read with a plain load, and a new one stored with a plain store:
/// two threads writing the same new message at once may both make the plan,
/// from the same unchanging body, and store the same word. (A `OnceLock`
/// costs two locked instructions and a call through a pointer per leaf,
/// on every message built.)
#[derive(Default)]
pub(crate) struct PlanCache(AtomicU32);

impl Clone for PlanCache {
    fn clone(&self) -> Self {
        Self(AtomicU32::new(self.0.load(Ordering::Relaxed)))
    }
}

impl PlanCache {
    /// The kept plan, or `plan`'s, kept from now on.
    pub(crate) fn get_or(&self, plan: impl FnOnce() -> LeafPlan) -> LeafPlan {
        // Relaxed: the word is the whole plan, nothing else is published
        // through it.
        if let Some(kept) = LeafPlan::unpack(self.0.load(Ordering::Relaxed)) {
            return kept;
        }
        let made = plan();
        if let Some(packed) = made.pack() {
            self.0.store(packed, Ordering::Relaxed);
        }
        made
    }
}

/// The charsets a plan names, by their index in a packed plan.
const PLAN_CHARSETS: [&str; 3] = ["us-ascii", "utf-8", "unknown-8bit"];

impl LeafPlan {
    /// The plan as a word: bit 0 set (a plan is kept), bits 1-2 the
    /// encoding, bits 3-4 the charset's index in [`PLAN_CHARSETS`], bit 5
    /// `crlf_only`. `None` for a charset not in the list (never made
    /// today), which is then simply not kept.
    fn pack(self) -> Option<u32> {
        let charset = PLAN_CHARSETS.iter().position(|c| *c == self.charset)?;
        let encoding = match self.encoding {
            TransferEncoding::SevenBit => 0,
            TransferEncoding::QuotedPrintable => 1,
            TransferEncoding::Base64 => 2,
        };
        Some(1 | encoding << 1 | (charset as u32) << 3 | u32::from(self.crlf_only) << 5)
    }

    /// The plan [`LeafPlan::pack`] made `word` of; `None` for no plan.
    fn unpack(word: u32) -> Option<Self> {
        if word & 1 == 0 {
            return None;
        }
        let encoding = match (word >> 1) & 3 {
            0 => TransferEncoding::SevenBit,
            1 => TransferEncoding::QuotedPrintable,
            _ => TransferEncoding::Base64,
        };
        Some(Self {
            encoding,
            charset: PLAN_CHARSETS.get((word >> 3 & 3) as usize)?,
            crlf_only: word & 1 << 5 != 0,
        })
    }
}

impl PartialEq for PlanCache {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for PlanCache {}

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
    // The prefix and the seed's 16 characters, encoded once per process:
    // 12 bytes are whole base64 groups, so the seed's text followed by the
    // counter's is the text of the two together.
    static HEAD: OnceLock<Result<String, String>> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let head = HEAD.get_or_init(|| {
        let mut seed = [0u8; 12];
        getrandom::fill(&mut seed).map_err(|e| e.to_string())?;
        let mut head = String::with_capacity(BOUNDARY_PREFIX.len() + 16);
        head.push_str(BOUNDARY_PREFIX);
        crate::fields::base64url::push(&seed, &mut head);
        Ok(head)
    });
    let head = head.as_ref().map_err(|e| Error::Random(e.clone()))?;
    let count = COUNTER.fetch_add(1, Ordering::Relaxed).to_be_bytes();
    // 18 bytes in all are 24 characters: 16 of the seed, 8 of the counter.
    let mut boundary = String::with_capacity(BOUNDARY_PREFIX.len() + 24);
    boundary.push_str(head);
    crate::fields::base64url::push(count.get(2..).unwrap_or_default(), &mut boundary);
    Ok(boundary)
}

/// The usual multipart types as constants: no string built per message.
const MULTIPART_CONSTANTS: [&str; 3] = [
    "multipart/mixed",
    "multipart/alternative",
    "multipart/related",
];

/// How every boundary of ours starts (see [`new_boundary`]).
const BOUNDARY_PREFIX: &str = "=_postie_";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries_are_the_prefix_and_24_url_safe_characters_each_new() {
        let a = new_boundary().unwrap();
        let b = new_boundary().unwrap();
        assert_ne!(a, b);
        for boundary in [&a, &b] {
            let rest = boundary.strip_prefix(BOUNDARY_PREFIX).unwrap();
            assert_eq!(rest.len(), 24, "{boundary}");
            assert!(
                rest.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
                "{boundary}"
            );
        }
        // The seed's 16 characters are the same within the process; the
        // counter's 8 differ.
        assert_eq!(
            a.get(..BOUNDARY_PREFIX.len() + 16),
            b.get(..BOUNDARY_PREFIX.len() + 16)
        );
    }

    #[test]
    fn multipart_constants_are_what_from_static_makes() {
        for essence in MULTIPART_CONSTANTS {
            assert_eq!(
                ContentType::multipart_static(essence),
                ContentType::from_static(essence).unwrap()
            );
            let subtype = essence.get("multipart/".len()..).unwrap();
            let built = Message::multipart(subtype, Vec::new()).unwrap();
            match built.body() {
                Body::Multipart { content_type, .. } => {
                    assert_eq!(content_type.essence(), essence);
                    assert_eq!(content_type.subtype(), subtype);
                    assert!(content_type.param("boundary").is_some());
                    // The name is the constant, not a string made per
                    // message; a parsed one is owned and equal.
                    let (name, value) = &content_type.params()[0];
                    assert!(matches!(name, Cow::Borrowed("boundary")));
                    let parsed = ContentType::parse(&content_type.header_value()).unwrap();
                    assert_eq!(&parsed, content_type);
                    assert!(matches!(parsed.params()[0].0, Cow::Owned(_)));
                    assert_eq!(&parsed.params()[0].1, value);
                }
                _ => panic!("not a multipart"),
            }
        }
    }

    #[test]
    fn every_plan_packs_and_unpacks_to_itself() {
        for encoding in [
            TransferEncoding::SevenBit,
            TransferEncoding::QuotedPrintable,
            TransferEncoding::Base64,
        ] {
            for charset in PLAN_CHARSETS {
                for crlf_only in [false, true] {
                    let plan = LeafPlan {
                        encoding,
                        charset,
                        crlf_only,
                    };
                    let back = LeafPlan::unpack(plan.pack().unwrap()).unwrap();
                    assert_eq!(
                        (back.encoding, back.charset, back.crlf_only),
                        (encoding, charset, crlf_only)
                    );
                    let cache = PlanCache::default();
                    let made = cache.get_or(|| plan);
                    let kept = cache.clone().get_or(|| unreachable!("kept"));
                    assert_eq!((made.encoding, kept.encoding), (encoding, encoding));
                    assert_eq!((kept.charset, kept.crlf_only), (charset, crlf_only));
                }
            }
        }
        assert_eq!(LeafPlan::unpack(0).map(|p| p.charset), None);
    }
}
