//! The writer's decisions, made once for both ways of getting a message
//! out: [`crate::Message::write_to`] pushes it into a `Write`, and
//! [`crate::MessageStream`] lets a caller (an async driver) pull it.
//!
//! [`write_entity`] walks the tree and writes every header field, delimiter
//! and encoding choice to an [`Output`]; the content of each leaf is handed
//! over as a [`LeafContent`], which the push writer encodes at once and the
//! pull stream encodes chunk by chunk, with the same encoders.

use std::borrow::Cow;
use std::io::{self, Write};
use std::path::Path;

use crate::fields::content_type::ContentType;
use crate::fields::header::{HeaderName, Headers};
use crate::message::{Body, LeafPlan, TransferEncoding};
use crate::regular_file::{for_each_chunk, open_at, FILE_CHUNK};
use crate::transfer_encoding::base64_stream::{self, Base64Writer};
use crate::transfer_encoding::quoted_printable;
use crate::write::content_fields as fields;
use crate::write::headers as write;
use crate::write::text_class::{self, TextClass};
use crate::Error;
use crate::Message;

/// Longest line a 7bit body may have, CRLF aside (RFC 5322 §2.1.1).
const MAX_7BIT_LINE: usize = 998;

/// The content of a leaf, after the writer has written its fields.
pub(crate) enum LeafContent<'a> {
    /// In-memory bytes, line breaks already repaired where asked.
    Memory {
        content: Cow<'a, [u8]>,
        encoding: TransferEncoding,
        /// Message text must end with a line break: one is added when the
        /// encoded content does not end with CRLF.
        end_line: bool,
    },
    /// A file, checked to still hold `len` bytes.
    File {
        path: &'a Path,
        len: u64,
        encoding: TransferEncoding,
    },
    /// Bytes sent as they are.
    Raw(&'a [u8]),
    /// A file's bytes from `offset` on, sent as they are.
    RawFile { path: &'a Path, offset: u64 },
}

/// Where [`write_entity`] puts what it writes.
pub(crate) trait Output<'a> {
    /// Header fields, blank lines and delimiters go here, in memory: they
    /// are small, and written piece by piece. An output passes them on
    /// before the next leaf's content (and, for the push writer, at the
    /// end: [`push_entity`]).
    fn text(&mut self) -> &mut Vec<u8>;
    /// The content of a leaf.
    fn leaf(&mut self, leaf: LeafContent<'a>) -> Result<(), Error>;
}

/// The push writer: everything goes into `w` as it is written, the text
/// between two leaves in one piece.
struct Push<'w> {
    w: &'w mut dyn Write,
    /// Text not yet with `w`.
    pending: Vec<u8>,
}

impl Push<'_> {
    fn flush_text(&mut self) -> io::Result<()> {
        if !self.pending.is_empty() {
            self.w.write_all(&self.pending)?;
            self.pending.clear();
        }
        Ok(())
    }
}

/// Writes one entity (the top one when `top`) into `w`.
pub(crate) fn push_entity(
    headers: &Headers,
    entity: &Message,
    w: &mut dyn Write,
    top: bool,
) -> Result<(), Error> {
    let mut push = Push {
        w,
        pending: Vec::with_capacity(1024),
    };
    write_entity(headers, entity, &mut push, top)?;
    push.flush_text()?;
    Ok(())
}

impl<'a> Output<'a> for Push<'_> {
    fn text(&mut self) -> &mut Vec<u8> {
        &mut self.pending
    }

    fn leaf(&mut self, leaf: LeafContent<'a>) -> Result<(), Error> {
        self.flush_text()?;
        let w = &mut *self.w;
        match leaf {
            LeafContent::Memory {
                content,
                encoding,
                end_line,
            } => match encoding {
                TransferEncoding::SevenBit => {
                    w.write_all(&content)?;
                    if end_line && !(content.is_empty() || content.ends_with(b"\r\n")) {
                        w.write_all(b"\r\n")?;
                    }
                }
                TransferEncoding::QuotedPrintable => {
                    let mut out = Vec::with_capacity(content.len() * 3 / 2);
                    quoted_printable::encode(&content, &mut out);
                    if end_line && !out.ends_with(b"\r\n") {
                        out.extend_from_slice(b"\r\n");
                    }
                    w.write_all(&out)?;
                }
                TransferEncoding::Base64 => {
                    let mut encoder = Base64Writer::for_input_len(&mut *w, content.len());
                    encoder.write_all(&content)?;
                    encoder.finish()?;
                }
            },
            LeafContent::File {
                path,
                len,
                encoding,
            } => match encoding {
                // The file's bytes as they are: the scan allowed 7bit only
                // for CRLF-only content, and quoted-printable keeps a lone
                // CR or LF as data, so the attachment reads back exactly.
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
            },
            LeafContent::Raw(bytes) => w.write_all(bytes)?,
            LeafContent::RawFile { path, offset } => {
                let mut file = open_at(path, offset)?;
                for_each_chunk(&mut file, FILE_CHUNK, |chunk| w.write_all(chunk))?;
            }
        }
        Ok(())
    }
}

/// The push writer for a message serialized into memory: the same walk and
/// the same encoders as [`Push`], with the in-memory leaves encoded
/// straight into the vector rather than through an encoder's own buffer.
struct PushVec<'v> {
    out: &'v mut Vec<u8>,
}

impl<'a> Output<'a> for PushVec<'_> {
    fn text(&mut self) -> &mut Vec<u8> {
        self.out
    }

    fn leaf(&mut self, leaf: LeafContent<'a>) -> Result<(), Error> {
        let out = &mut *self.out;
        match leaf {
            LeafContent::Memory {
                content,
                encoding: TransferEncoding::Base64,
                ..
            } => {
                base64_stream::encode_append(&content, out);
                Ok(())
            }
            LeafContent::Memory {
                content,
                encoding: TransferEncoding::QuotedPrintable,
                end_line,
            } => {
                let start = out.len();
                quoted_printable::encode(&content, out);
                if end_line && !out.get(start..).unwrap_or_default().ends_with(b"\r\n") {
                    out.extend_from_slice(b"\r\n");
                }
                Ok(())
            }
            // 7bit text straight into the vector, without the push
            // writer's `dyn Write` call.
            LeafContent::Memory {
                content,
                encoding: TransferEncoding::SevenBit,
                end_line,
            } => {
                out.extend_from_slice(&content);
                if end_line && !(content.is_empty() || content.ends_with(b"\r\n")) {
                    out.extend_from_slice(b"\r\n");
                }
                Ok(())
            }
            // Files and raw bodies: as the push writer does.
            other => Push {
                w: out,
                pending: Vec::new(),
            }
            .leaf(other),
        }
    }
}

/// About how many bytes `entity` under `headers` serializes to, for sizing
/// the output once: exact for base64, a little over for the rest.
fn size_hint(headers: &Headers, entity: &Message) -> usize {
    // Generous room for the fields the writer adds to each entity.
    const WRITER_FIELDS: usize = 160;
    let fields: usize = headers
        .iter()
        .map(|f| {
            // Text values are borrowed here; only raw ones have bytes.
            let value = f
                .value()
                .raw_bytes()
                .map_or_else(|| f.value().as_text().len(), <[u8]>::len);
            f.name().as_str().len() + value + 8
        })
        .sum();
    let base64 =
        |len: usize| usize::try_from(base64_stream::encoded_len(len as u64)).unwrap_or(usize::MAX);
    let body = match entity.body() {
        // Line breaks may double and quoted-printable may grow text; a
        // sixteenth covers the common cases, and the vector grows past it.
        Body::Text { text, .. } => text.len() + text.len() / 16 + 2,
        Body::Data { data, content_type } if !content_type.is_text() => base64(data.len()),
        Body::Data { data, .. } => data.len() + data.len() / 16 + 2,
        Body::File { len, .. } => base64(usize::try_from(*len).unwrap_or(usize::MAX)),
        Body::Raw(bytes) => bytes.len(),
        Body::RawFile { .. } => 0,
        Body::Multipart {
            content_type,
            parts,
        } => {
            let delimiter = content_type.param("boundary").map_or(0, str::len) + 8;
            parts
                .iter()
                .map(|p| size_hint(p.headers(), p).saturating_add(delimiter))
                .fold(delimiter, usize::saturating_add)
        }
    };
    fields.saturating_add(WRITER_FIELDS).saturating_add(body)
}

/// Writing, and what the writer decides, as methods of the model.
impl Message {
    /// The transfer encoding the writer will use for an in-memory leaf it
    /// encodes (`None` for files, multiparts and raw bodies).
    pub fn transfer_encoding(&self) -> Option<TransferEncoding> {
        match self.body() {
            Body::Text { text, .. } => {
                Some(self.plan().get_or(|| plan_text(text.as_bytes())).encoding)
            }
            Body::Data { data, content_type } => Some(
                self.plan()
                    .get_or(|| plan_data(data, content_type))
                    .encoding,
            ),
            _ => None,
        }
    }

    /// Writes the message with CRLF line endings.
    pub fn write_to(&self, w: &mut dyn Write) -> Result<(), Error> {
        self.write_with_headers(self.headers(), w)
    }

    /// Writes this message's body under `headers` instead of its own, so a
    /// sender can add and remove fields without touching the caller's message.
    pub fn write_with_headers(&self, headers: &Headers, w: &mut dyn Write) -> Result<(), Error> {
        push_entity(headers, self, w, true)
    }

    /// The whole message as bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>, Error> {
        let mut out = Vec::with_capacity(size_hint(self.headers(), self));
        write_entity(self.headers(), self, &mut PushVec { out: &mut out }, true)?;
        Ok(out)
    }
}

/// The MIME fields a body decides for itself; a caller's would contradict.
/// (Asked of every field of every entity: a name not starting with `M` or
/// `C` is let through on its first byte.)
fn is_mime_field(name: &HeaderName) -> bool {
    matches!(
        name.as_str().as_bytes().first(),
        Some(b'M' | b'm' | b'C' | b'c')
    ) && (name.is("MIME-Version")
        || name.is("Content-Type")
        || name.is("Content-Transfer-Encoding"))
}

/// Writes one entity (the top one when `top`) to `out`.
pub(crate) fn write_entity<'a>(
    headers: &'a Headers,
    entity: &'a Message,
    out: &mut dyn Output<'a>,
    top: bool,
) -> Result<(), Error> {
    let body = entity.body();
    match body {
        Body::Raw(bytes) => {
            write_headers(headers, out.text())?;
            out.text().extend_from_slice(b"\r\n");
            return out.leaf(LeafContent::Raw(bytes));
        }
        Body::RawFile { path, offset } => {
            write_headers(headers, out.text())?;
            out.text().extend_from_slice(b"\r\n");
            return out.leaf(LeafContent::RawFile {
                path,
                offset: *offset,
            });
        }
        _ => {}
    }
    for field in headers.iter() {
        if !is_mime_field(field.name()) {
            write::write_header(field.name(), field.value(), out.text())?;
        }
    }
    if top {
        fields::write_mime_version(out.text());
    }
    match body {
        Body::Text { text, subtype } => {
            let plan = entity.plan().get_or(|| plan_text(text.as_bytes()));
            fields::write_text_type(out.text(), subtype, plan.charset)?;
            write_leaf(
                out,
                text.as_bytes(),
                plan.encoding,
                LineBreaks::Repair {
                    crlf_only: plan.crlf_only,
                },
            )
        }
        Body::Data { data, content_type } => {
            let plan = entity.plan().get_or(|| plan_data(data, content_type));
            // Text without a charset gets the one its content needs.
            let charset = (content_type.is_text() && content_type.param("charset").is_none())
                .then_some(("charset", plan.charset));
            write_type_of(out.text(), content_type, charset)?;
            write_leaf(out, data, plan.encoding, LineBreaks::Keep)
        }
        Body::File {
            path,
            content_type,
            len,
        } => write_file(out, path, content_type, *len),
        Body::Multipart {
            content_type,
            parts,
        } if content_type.type_() == "message" => {
            // An encapsulated message (message/rfc822): one entity, no
            // delimiters, written as the message it is.
            write_type_of(out.text(), content_type, None)?;
            out.text().extend_from_slice(b"\r\n");
            for part in parts {
                write_entity(part.headers(), part, out, true)?;
            }
            Ok(())
        }
        Body::Multipart {
            content_type,
            parts,
        } => {
            let boundary = content_type.param("boundary").unwrap_or_default();
            write_type_of(out.text(), content_type, None)?;
            out.text().extend_from_slice(b"\r\n");
            for part in parts {
                write_delimiter(out.text(), boundary, b"\r\n");
                write_entity(part.headers(), part, out, false)?;
                out.text().extend_from_slice(b"\r\n");
            }
            write_delimiter(out.text(), boundary, b"--\r\n");
            Ok(())
        }
        Body::Raw(_) | Body::RawFile { .. } => Ok(()),
    }
}

/// The Content-Type field of `content_type`, with `extra` as one more
/// parameter after its own.
fn write_type_of(
    out: &mut Vec<u8>,
    content_type: &ContentType,
    extra: Option<(&str, &str)>,
) -> Result<(), Error> {
    let (type_, subtype) = content_type.essence().split_at(content_type.type_().len());
    let params = content_type
        .params()
        .iter()
        .map(|(name, value)| (name.as_ref(), value.as_str()))
        .chain(extra);
    fields::write_content_type(out, [type_, subtype], params)
}

fn write_delimiter(out: &mut Vec<u8>, boundary: &str, end: &[u8]) {
    out.extend_from_slice(b"--");
    out.extend_from_slice(boundary.as_bytes());
    out.extend_from_slice(end);
}

/// What the writer does with the line breaks of an in-memory leaf.
#[derive(Clone, Copy, PartialEq, Eq)]
enum LineBreaks {
    /// Message text: every line break becomes CRLF, and the text ends with
    /// one (`crlf_only`: the text is known to need no repair).
    Repair { crlf_only: bool },
    /// An attachment: the bytes read back exactly (7bit was only chosen for
    /// CRLF-only content; quoted-printable keeps a lone CR or LF as data).
    Keep,
}

/// Writes Content-Transfer-Encoding and the blank line of an in-memory leaf
/// (its Content-Type written already), then hands its content over.
fn write_leaf<'a>(
    out: &mut dyn Output<'a>,
    data: &'a [u8],
    encoding: TransferEncoding,
    breaks: LineBreaks,
) -> Result<(), Error> {
    fields::write_encoding_and_end(out.text(), encoding);
    let content = match (encoding, breaks) {
        (TransferEncoding::Base64, _)
        | (_, LineBreaks::Keep)
        | (_, LineBreaks::Repair { crlf_only: true }) => Cow::Borrowed(data),
        (_, LineBreaks::Repair { crlf_only: false }) => Cow::Owned(repair_line_breaks(data)),
    };
    out.leaf(LeafContent::Memory {
        content,
        encoding,
        end_line: matches!(breaks, LineBreaks::Repair { .. }),
    })
}

/// Writes the fields of a file leaf and hands it over: binary types as
/// base64; text types as 7bit when the file is clean, else the shorter of
/// quoted-printable and base64 (a first reading pass decides).
fn write_file<'a>(
    out: &mut dyn Output<'a>,
    path: &'a Path,
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
    let charset = (content_type.is_text() && content_type.param("charset").is_none()).then(|| {
        let charset = match (encoding, scan.as_ref().map(|s| s.utf8)) {
            (TransferEncoding::SevenBit, _) => "us-ascii",
            (_, Some(true)) => "utf-8",
            _ => "unknown-8bit",
        };
        ("charset", charset)
    });
    write_type_of(out.text(), content_type, charset)?;
    fields::write_encoding_and_end(out.text(), encoding);
    out.leaf(LeafContent::File {
        path,
        len,
        encoding,
    })
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
        if qp <= crate::transfer_encoding::base64_stream::encoded_len(len) {
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
    let mut file = crate::regular_file::open(path)?;
    // The start of a UTF-8 sequence cut by the chunk boundary.
    let mut carry: Vec<u8> = Vec::new();
    for_each_chunk(&mut file, FILE_CHUNK, |chunk| {
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
        Ok(())
    })?;
    scan.utf8 &= carry.is_empty();
    if previous == b'\r' {
        // A CR at the very end, without its LF.
        scan.seven_bit = false;
        scan.escaped += 1;
    }
    Ok(scan)
}

/// The error for a file whose length is no longer the one it had when it
/// was attached.
pub(crate) fn changed(path: &Path, len: u64, total: u64) -> Error {
    Error::Io(changed_io(path, len, total))
}

fn changed_io(path: &Path, len: u64, total: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "{} changed after it was attached ({len} bytes then, at least {total} now)",
            path.display()
        ),
    )
}

/// Reads `path` in chunks into `each`, and fails if it does not hold
/// exactly `len` bytes: a file that changed after it was attached would
/// make the message differ from the one whose size was announced.
fn read_chunks(
    path: &Path,
    len: u64,
    mut each: impl FnMut(&[u8]) -> io::Result<()>,
) -> Result<(), Error> {
    let mut file = crate::regular_file::open(path)?;
    let mut total: u64 = 0;
    for_each_chunk(&mut file, FILE_CHUNK, |chunk| {
        total += chunk.len() as u64;
        if total > len {
            return Err(changed_io(path, len, total));
        }
        each(chunk)
    })?;
    if total != len {
        return Err(changed(path, len, total));
    }
    Ok(())
}

fn write_headers(headers: &Headers, w: &mut Vec<u8>) -> Result<(), Error> {
    for field in headers.iter() {
        write::write_header(field.name(), field.value(), w)?;
    }
    Ok(())
}

/// 7bit when the text allows it, else quoted-printable; from one pass
/// over the text (plus a search for line breaks and '=', which skip).
pub(crate) fn plan_text(text: &[u8]) -> LeafPlan {
    let class = text_class::classify(text);
    let encoding = if seven_bit_given(text, class) {
        TransferEncoding::SevenBit
    } else {
        TransferEncoding::QuotedPrintable
    };
    // Clean text is ASCII; only unclean text needs the second look.
    let ascii = class.clean || text.is_ascii();
    LeafPlan {
        encoding,
        charset: if ascii { "us-ascii" } else { "utf-8" },
        crlf_only: class.crlf_only,
    }
}

/// [`choose_data_encoding`], and the charset of text data.
pub(crate) fn plan_data(data: &[u8], content_type: &ContentType) -> LeafPlan {
    let encoding = choose_data_encoding(data, content_type);
    let charset = if !content_type.is_text() || content_type.param("charset").is_some() {
        // Not used: the type has its own or takes none.
        "us-ascii"
    } else {
        match std::str::from_utf8(data) {
            Ok(text) if text.is_ascii() => "us-ascii",
            Ok(_) => "utf-8",
            Err(_) => "unknown-8bit",
        }
    };
    LeafPlan {
        encoding,
        charset,
        crlf_only: false,
    }
}

/// Whether `data`, classified as `class`, can go as 7bit: ASCII without
/// NUL or controls other than CR, LF and TAB, lines of at most 998
/// octets, and no line that looks like one of our boundaries.
fn seven_bit_given(data: &[u8], class: TextClass) -> bool {
    // A line that looks like a boundary of ours is encoded so it cannot
    // end a part early (rare: only checked where a '=' is).
    class.clean && lines_fit(data) && !contains_boundary_marker(data)
}

/// Whether no line is longer than 998 octets. Each step looks for the
/// last line break within the next 999 bytes (searching backwards), so it
/// jumps a window at a time rather than a line at a time.
fn lines_fit(data: &[u8]) -> bool {
    let mut start = 0;
    while data.len() - start > MAX_7BIT_LINE {
        let window = data.get(start..=start + MAX_7BIT_LINE).unwrap_or_default();
        match memchr::memrchr2(b'\r', b'\n', window) {
            Some(at) => start += at + 1,
            None => return false,
        }
    }
    true
}

fn contains_boundary_marker(data: &[u8]) -> bool {
    let mut rest = data;
    while let Some(at) = memchr::memchr(b'=', rest) {
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
    let class = text_class::classify(data);
    if class.crlf_only && seven_bit_given(data, class) {
        return TransferEncoding::SevenBit;
    }
    let mut qp = Vec::with_capacity(data.len() * 3 / 2);
    quoted_printable::encode(data, &mut qp);
    let base64_len = crate::transfer_encoding::base64_stream::encoded_len(data.len() as u64);
    if (qp.len() as u64) <= base64_len {
        TransferEncoding::QuotedPrintable
    } else {
        TransferEncoding::Base64
    }
}

/// Every line ending (CRLF, LF, or CR alone) as CRLF; runs between line
/// breaks are copied in bulk. Borrows when the text needs no change.
#[cfg(test)]
pub(crate) fn to_crlf(data: &[u8]) -> Cow<'_, [u8]> {
    if text_class::classify(data).crlf_only {
        return Cow::Borrowed(data);
    }
    Cow::Owned(repair_line_breaks(data))
}

/// [`to_crlf`] for text already known to need it.
fn repair_line_breaks(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 32 + 2);
    let mut rest = data;
    while let Some(at) = memchr::memchr2(b'\r', b'\n', rest) {
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
    out
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
