//! Decoding what a message carries: RFC 2047 encoded-words in header text,
//! body bytes in a named charset, and the content transfer encodings.
//!
//! Everything here is tolerant, as reading mail from the wild needs: an
//! unknown charset falls back to UTF-8 (when the bytes are valid UTF-8) or
//! windows-1252, a malformed encoded-word is kept as it is written, base64
//! with junk in it is decoded as far as it goes. Nothing here fails or
//! panics, whatever the input.
//!
//! ```
//! use postie_mime::decode::{decode_charset, decode_rfc2047, decode_transfer};
//!
//! assert_eq!(decode_rfc2047("=?ISO-8859-1?Q?Andr=E9?= Pirard"), "André Pirard");
//! assert_eq!(decode_charset(b"caf\xe9", Some("iso-8859-1")), ("café".to_owned(), false));
//! assert_eq!(decode_transfer(b"aGVsbG8=\r\n", Some("BASE64")), b"hello");
//! ```

use crate::charset::{self, Charset};
use crate::transfer_encoding::{base64_stream, quoted_printable};

/// Decodes the RFC 2047 encoded-words in `text` (unfolded or not).
///
/// * `=?charset?Q?...?=` and `=?charset?B?...?=`, in any case; the charset
///   may carry an RFC 2231 language suffix (`=?US-ASCII*EN?Q?...?=`) and is
///   looked up as in [`decode_charset`] (UTF-7 included). An unknown
///   charset decodes as UTF-8 when the bytes are valid UTF-8, else as
///   windows-1252.
/// * White space (folding included) between two adjacent encoded-words is
///   dropped (RFC 2047 §6.2); white space next to ordinary text is kept.
/// * Adjacent words in one charset are decoded together, so a character
///   that a sloppy encoder split between two words comes out whole.
/// * A malformed word (no closing `?=`, an encoding other than Q or B, a
///   `B` text with characters outside base64) is kept literally.
/// * Words not surrounded by white space (`a=?utf-8?q?b?=c`) are decoded
///   too, as most readers do.
/// * A character that is not ASCII inside a Q word (raw 8-bit text, which
///   RFC 2047 forbids but old mail has) is already text and is kept as it
///   is, not decoded a second time. The bytes of a field read from a
///   message come here through [`HeaderValue::as_text`] or
///   [`PartExt::header_text`](crate::reader::PartExt::header_text), which
///   read such bytes in the word's own charset.
///
/// ```
/// use postie_mime::decode::decode_rfc2047;
///
/// assert_eq!(decode_rfc2047("(=?ISO-8859-1?Q?a?= =?ISO-8859-1?Q?b?=)"), "(ab)");
/// assert_eq!(decode_rfc2047("(=?ISO-8859-1?Q?a?= b)"), "(a b)");
/// assert_eq!(decode_rfc2047("=?utf-8?x?oops?="), "=?utf-8?x?oops?=");
/// assert_eq!(decode_rfc2047("=?ISO-8859-1?Q?Fr\u{f6}sche?="), "Frösche");
/// ```
///
/// [`HeaderValue::as_text`]: crate::HeaderValue::as_text
pub fn decode_rfc2047(text: &str) -> String {
    crate::fields::encoded_word::decode::decode(text)
}

/// Decodes `bytes` in `charset` to UTF-8; the flag tells whether some bytes
/// were not valid in the charset and became U+FFFD.
///
/// Charset labels are looked up with `encoding_rs` (WHATWG labels, so
/// `iso-8859-1` reads as windows-1252, its superset, plus aliases such as
/// `cp932`); UTF-7 (RFC 2152), which `encoding_rs` lacks, is decoded too
/// (malformed UTF-7 is kept as written or replaced, and flagged). With no
/// charset, an unknown one (`unknown-8bit`, `x-user`...)
/// or `us-ascii` on bytes that are not ASCII, the bytes are read as UTF-8
/// when they are valid UTF-8, else as windows-1252. A byte order mark is
/// kept as a character.
///
/// ```
/// use postie_mime::decode::decode_charset;
///
/// assert_eq!(decode_charset(b"\x93hi\x94", Some("windows-1252")).0, "\u{201c}hi\u{201d}");
/// assert_eq!(decode_charset("é".as_bytes(), None), ("é".to_owned(), false));
/// assert_eq!(decode_charset(b"\xe9", None), ("é".to_owned(), false));
/// assert_eq!(decode_charset(b"a\xff", Some("utf-8")), ("a\u{fffd}".to_owned(), true));
/// assert_eq!(decode_charset(b"Hi Mom -+Jjo--!", Some("utf-7")), ("Hi Mom -\u{263a}-!".to_owned(), false));
/// ```
pub fn decode_charset(bytes: &[u8], charset: Option<&str>) -> (String, bool) {
    match charset {
        Some(label) if charset::is_ascii_label(label) => charset::fallback(bytes),
        Some(label) => charset::decode(bytes, Charset::for_label(label)),
        None => charset::fallback(bytes),
    }
}

/// The canonical name of a Content-Transfer-Encoding value: comments and
/// quotes dropped, trimmed, lowercase (`"Base64 (yes)"` → `base64`).
pub(crate) fn normalize_encoding(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut depth = 0usize;
    for c in value.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            '"' => {}
            c if depth == 0 && !c.is_whitespace() => out.push(c.to_ascii_lowercase()),
            _ => {}
        }
    }
    out
}

/// Undoes a Content-Transfer-Encoding: `base64` (leniently: line breaks,
/// white space and junk are skipped), `quoted-printable` (tolerant: see
/// below); `7bit`, `8bit`, `binary`, an unknown encoding or none give the
/// bytes as they are. The name is compared without regard to case.
///
/// Quoted-printable is decoded by
/// [`quoted_printable::decode`](crate::quoted_printable::decode), the one
/// decoder: `=XX` in either case is a byte, `=` at a line end (white space
/// after it allowed) is a soft line break, white space at the end of a
/// line is transport padding and dropped (RFC 2045 §6.7 (3)), a `=` that
/// starts none of these stays as it is, and line breaks (CRLF or LF alone)
/// are kept as they are.
///
/// ```
/// use postie_mime::decode::decode_transfer;
///
/// assert_eq!(decode_transfer(b"caf=C3=A9 =\r\nau lait  \r\n", Some("quoted-printable")),
///            "café au lait\r\n".as_bytes());
/// assert_eq!(decode_transfer(b"aGk=", Some("base64")), b"hi");
/// assert_eq!(decode_transfer(b"=41", Some("8bit")), b"=41");
/// ```
pub fn decode_transfer(bytes: &[u8], encoding: Option<&str>) -> Vec<u8> {
    match encoding.map(normalize_encoding).as_deref() {
        Some("base64") => base64_stream::decode_lenient(bytes),
        Some("quoted-printable") => quoted_printable::decode(bytes),
        _ => bytes.to_vec(),
    }
}

/// [`decode_transfer`] a chunk at a time, for a body too large to hold:
/// the same bytes out however the input is cut.
///
/// ```
/// use postie_mime::decode::{decode_transfer, TransferDecoder};
///
/// let encoded = b"caf=C3=A9 =\r\nau lait  \r\nfin";
/// let mut decoder = TransferDecoder::new(Some("quoted-printable"));
/// let mut out = Vec::new();
/// for chunk in encoded.chunks(5) {
///     decoder.push(chunk, &mut out);
/// }
/// decoder.finish(&mut out);
/// assert_eq!(out, decode_transfer(encoded, Some("quoted-printable")));
/// ```
#[derive(Clone, Debug)]
pub struct TransferDecoder {
    kind: DecoderKind,
}

#[derive(Clone, Debug)]
enum DecoderKind {
    Identity,
    Base64(base64_stream::Base64Decoder),
    /// Quoted-printable decodes whole lines; the bytes after the last LF
    /// wait for the rest of their line.
    QuotedPrintable(Vec<u8>),
}

impl TransferDecoder {
    /// A decoder for a Content-Transfer-Encoding (anything but base64 and
    /// quoted-printable passes through).
    pub fn new(encoding: Option<&str>) -> Self {
        let kind = match encoding.map(normalize_encoding).as_deref() {
            Some("base64") => DecoderKind::Base64(base64_stream::Base64Decoder::default()),
            Some("quoted-printable") => DecoderKind::QuotedPrintable(Vec::new()),
            _ => DecoderKind::Identity,
        };
        Self { kind }
    }

    /// Decodes what it can of `input`, appending to `out`.
    pub fn push(&mut self, input: &[u8], out: &mut Vec<u8>) {
        match &mut self.kind {
            DecoderKind::Identity => out.extend_from_slice(input),
            DecoderKind::Base64(decoder) => decoder.push(input, out),
            DecoderKind::QuotedPrintable(carry) => {
                carry.extend_from_slice(input);
                if let Some(lf) = carry.iter().rposition(|&b| b == b'\n') {
                    out.extend_from_slice(&quoted_printable::decode(
                        carry.get(..=lf).unwrap_or_default(),
                    ));
                    carry.drain(..=lf);
                }
            }
        }
    }

    /// Decodes the rest.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        match &mut self.kind {
            DecoderKind::Identity => {}
            DecoderKind::Base64(decoder) => decoder.finish(out),
            DecoderKind::QuotedPrintable(carry) => {
                out.extend_from_slice(&quoted_printable::decode(carry));
                carry.clear();
            }
        }
    }
}

/// Whether a base64 body holds junk: bytes other than the alphabet, `=`
/// and white space, data after the `=` padding, or a lone character left
/// over at the end (which cannot make a byte).
pub(crate) fn base64_is_malformed(input: &[u8]) -> bool {
    let mut count = 0usize;
    let mut padded = false;
    for &b in input {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'+' | b'/' => {
                if padded {
                    return true;
                }
                count += 1;
            }
            b'=' => {
                if count % 4 < 2 && !padded {
                    return true;
                }
                padded = true;
            }
            b' ' | b'\t' | b'\r' | b'\n' => {}
            _ => return true,
        }
    }
    count % 4 == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q_and_b_words() {
        assert_eq!(decode_rfc2047("=?utf-8?q?caf=C3=A9?="), "café");
        assert_eq!(decode_rfc2047("=?UTF-8?B?Y2Fmw6k=?="), "café");
        assert_eq!(decode_rfc2047("=?utf-8?Q?a=5Fb_c?="), "a_b c");
    }

    #[test]
    fn split_characters_are_joined() {
        // "é" is C3 A9, split between two B words.
        assert_eq!(decode_rfc2047("=?utf-8?b?ww==?= =?utf-8?b?qQ==?="), "é");
    }

    #[test]
    fn malformed_words_stay() {
        for text in [
            "=?",
            "=?utf-8?",
            "=?utf-8?q?",
            "=?utf-8?q?abc",
            "=?utf-8?q?abc?",
            "=??q?abc?=",
            "=?utf-8?z?abc?=",
            "=?utf-8?b?a!b?=",
            "a =? b ?= c",
        ] {
            assert_eq!(decode_rfc2047(text), text);
        }
    }

    #[test]
    fn unknown_charsets_fall_back() {
        assert_eq!(decode_rfc2047("=?x-nope?q?caf=C3=A9?="), "café");
        assert_eq!(decode_rfc2047("=?x-nope?q?caf=E9?="), "café");
        assert_eq!(
            decode_charset(b"caf\xc3\xa9", Some("unknown-8bit")).0,
            "café"
        );
    }

    #[test]
    fn qp_details() {
        let qp = |b: &[u8]| decode_transfer(b, Some("quoted-printable"));
        assert_eq!(qp(b"a=\nb"), b"ab");
        assert_eq!(qp(b"a= \t\r\nb"), b"ab");
        assert_eq!(qp(b"a=zz=4"), b"a=zz=4");
        assert_eq!(qp(b"a=4a=4A"), b"aJJ");
        assert_eq!(qp(b"x  \ny\t"), b"x\ny");
        assert!(!quoted_printable::is_malformed(b"a=3D=\r\nb"));
        assert!(quoted_printable::is_malformed(b"a=zz"));
    }

    #[test]
    fn base64_checks() {
        assert!(!base64_is_malformed(b"aGVs\r\nbG8=\r\n"));
        assert!(!base64_is_malformed(b"aGk"));
        assert!(base64_is_malformed(b"aGk=aGk="));
        assert!(base64_is_malformed(b"aG!k"));
        assert!(base64_is_malformed(b"aGkxa"));
        assert!(base64_is_malformed(b"=aGk"));
    }

    #[test]
    fn encoding_names() {
        assert_eq!(normalize_encoding(" Base64 (comment)"), "base64");
        assert_eq!(
            normalize_encoding("\"Quoted-Printable\""),
            "quoted-printable"
        );
    }
}
