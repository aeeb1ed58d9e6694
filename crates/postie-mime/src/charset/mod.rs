//! Charsets: from the label a message gives (a `charset` parameter, an
//! encoded-word, an RFC 2231 value) to a decoder, and the fallback for
//! bytes whose charset is unknown.
//!
//! `encoding_rs` decodes the WHATWG encodings. UTF-7 (RFC 2152), which
//! IANA registers and old mail still carries but WHATWG leaves out, is
//! decoded by [`utf7`]. Bodies, header fields and parameters all find their
//! decoder here, so a label means the same wherever it stands. This module
//! depends on no other part of the crate.

mod utf7;

use encoding_rs::Encoding;

/// A charset this crate can decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Charset {
    /// One of `encoding_rs`'s (WHATWG) encodings.
    Whatwg(&'static Encoding),
    /// UTF-7 (RFC 2152).
    Utf7,
}

impl Charset {
    /// The charset `label` names: a WHATWG label, one of a few aliases that
    /// mail uses (`cp932`, `latin-1`...), or a UTF-7 label. `None` for
    /// unknown labels and for those WHATWG maps to its "replacement"
    /// encoding (which decodes nothing).
    pub(crate) fn for_label(label: &str) -> Option<Self> {
        let label = clean_label(label).to_ascii_lowercase();
        if UTF7_LABELS.contains(&label.as_str()) {
            return Some(Self::Utf7);
        }
        let alias = match label.as_str() {
            "cp932" | "ms932" | "windows-932" | "x-sjis" => "shift_jis",
            "cp936" | "ms936" | "windows-936" => "gbk",
            "cp949" | "ms949" | "windows-949" | "ks_c_5601" | "ks_c_5601-1989" => "euc-kr",
            "cp950" | "ms950" | "windows-950" => "big5",
            "utf8" => "utf-8",
            "latin-1" | "iso8859_1" | "iso_8859_1" => "iso-8859-1",
            "ascii" | "ansi_x3.4-1968" => "us-ascii",
            other => other,
        };
        Encoding::for_label(alias.as_bytes())
            .filter(|e| *e != encoding_rs::REPLACEMENT)
            .map(Self::Whatwg)
    }

    /// Decodes `bytes` (no byte order mark is looked for); the flag tells
    /// whether some were not valid in the charset and became U+FFFD.
    pub(crate) fn decode(self, bytes: &[u8]) -> (String, bool) {
        match self {
            Self::Whatwg(encoding) => {
                let (text, had_errors) = encoding.decode_without_bom_handling(bytes);
                (text.into_owned(), had_errors)
            }
            Self::Utf7 => utf7::decode(bytes),
        }
    }
}

/// Labels of UTF-7: its IANA name and aliases, and the names some mailers
/// wrote for it.
const UTF7_LABELS: &[&str] = &[
    "utf-7",
    "utf7",
    "csutf7",
    "unicode-1-1-utf-7",
    "csunicode11utf7",
    "unicode-2-0-utf-7",
    "x-unicode-2-0-utf-7",
];

/// A label without the white space and quotes mail puts around it.
fn clean_label(label: &str) -> &str {
    label.trim().trim_matches(|c| c == '"' || c == '\'')
}

/// Whether `label` names US-ASCII, which mail often uses for text that is
/// in fact UTF-8.
pub(crate) fn is_ascii_label(label: &str) -> bool {
    matches!(
        clean_label(label).to_ascii_lowercase().as_str(),
        "us-ascii" | "ascii" | "ansi_x3.4-1968" | "iso-ir-6" | "us" | "iso646-us" | "csascii"
    )
}

/// Decodes `bytes` in `charset`, or by [`fallback`] when it is unknown.
pub(crate) fn decode(bytes: &[u8], charset: Option<Charset>) -> (String, bool) {
    match charset {
        Some(charset) => charset.decode(bytes),
        None => fallback(bytes),
    }
}

/// Bytes whose charset is unknown: UTF-8 if they are valid UTF-8, else
/// windows-1252 (which gives every byte a character, so nothing is
/// replaced). Raw 8-bit text in mail is mostly one or the other.
pub(crate) fn fallback(bytes: &[u8]) -> (String, bool) {
    match std::str::from_utf8(bytes) {
        Ok(text) => (text.to_owned(), false),
        Err(_) => (windows_1252(bytes), false),
    }
}

/// `bytes` as windows-1252, which has a character for every byte (WHATWG
/// maps the five bytes it leaves undefined to the C1 controls).
pub(crate) fn windows_1252(bytes: &[u8]) -> String {
    encoding_rs::WINDOWS_1252
        .decode_without_bom_handling(bytes)
        .0
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        assert_eq!(Charset::for_label(" \"UTF-7\" "), Some(Charset::Utf7));
        assert_eq!(Charset::for_label("utf7"), Some(Charset::Utf7));
        assert_eq!(
            Charset::for_label("CP932"),
            Some(Charset::Whatwg(encoding_rs::SHIFT_JIS))
        );
        assert_eq!(
            Charset::for_label("latin1"),
            Some(Charset::Whatwg(encoding_rs::WINDOWS_1252))
        );
        assert_eq!(Charset::for_label("iso-2022-kr"), None);
        assert_eq!(Charset::for_label("x-unknown"), None);
        assert!(is_ascii_label("'US-ASCII'"));
        assert!(!is_ascii_label("utf-8"));
    }

    #[test]
    fn the_fallback_gives_every_byte_a_character() {
        assert_eq!(fallback("é".as_bytes()), ("é".to_owned(), false));
        assert_eq!(fallback(b"\xe9\x80"), ("é€".to_owned(), false));
        assert_eq!(
            decode(b"+AKM-", Some(Charset::Utf7)),
            ("£".to_owned(), false)
        );
    }
}
