//! Reading encoded-words: in text ([`decode`]), and in the raw bytes of a
//! field read from a message ([`raw_value_text`]), where old mail puts
//! 8-bit bytes inside a word (`=?iso-8859-1?Q?Fr\xF6sche?=` with a raw
//! 0xF6). Such a byte belongs to the word's declared charset: it is
//! decoded once, in that charset, and never first as some other one.
//!
//! One parser ([`parse_word`]) finds the words for both, so a word is a
//! word in the same places whichever way it is read.

use crate::charset::{self, Charset};
use crate::transfer_encoding::base64_stream;

/// Decodes the encoded-words in `text`; see `crate::decode::decode_rfc2047`,
/// which documents the rules.
pub(crate) fn decode(text: &str) -> String {
    if !text.contains("=?") {
        return text.to_owned();
    }
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    // The run of adjacent encoded-words in one charset, not yet decoded.
    let mut pending: Option<Run> = None;
    // Whether the last thing seen was an encoded-word (so that white space
    // alone up to the next one is dropped).
    let mut after_word = false;
    let mut pos = 0;
    while let Some(start) = find_word_start(bytes, pos) {
        // Words start and end at ASCII bytes, so these are whole characters.
        let between = text.get(pos..start).unwrap_or_default();
        match parse_word(bytes, start) {
            Some(word) => {
                let joins = after_word && between.chars().all(is_fws);
                if !joins {
                    flush(&mut pending, &mut out);
                    out.push_str(between);
                }
                let charset = Charset::for_label(word.charset);
                if pending.as_ref().is_none_or(|run| run.charset != charset) {
                    flush(&mut pending, &mut out);
                }
                let run = pending.get_or_insert_with(|| Run {
                    charset,
                    pieces: Vec::new(),
                });
                let encoded = text.get(word.text.clone()).unwrap_or_default();
                match word.kind {
                    Kind::Q => decode_q(encoded, run),
                    Kind::B => run.push_bytes(&base64_stream::decode_lenient(encoded.as_bytes())),
                }
                after_word = true;
                pos = word.end;
            }
            None => {
                flush(&mut pending, &mut out);
                out.push_str(between);
                out.push_str("=?");
                after_word = false;
                pos = start + 2;
            }
        }
    }
    flush(&mut pending, &mut out);
    out.push_str(text.get(pos..).unwrap_or_default());
    out
}

/// How the bytes of a raw value that stand outside encoded-words are read
/// when the value is not UTF-8.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outside {
    /// As UTF-8, invalid sequences shown as U+FFFD.
    Replacement,
    /// As windows-1252, which gives every byte a character.
    Windows1252,
}

/// The text of a raw header value (the bytes after the colon, continuation
/// lines included): unfolded, trimmed, with its encoded-words left as they
/// are written.
///
/// A value that is valid UTF-8 is UTF-8 throughout (RFC 6532), its
/// encoded-words included: a character there is text, which [`decode`]
/// takes as it is. In a value that is not, an 8-bit byte inside a Q
/// encoded-word is a byte of the word's charset and is written `=XX`, so
/// that the word, now plain RFC 2047, decodes in that charset (a character
/// of a multi-byte charset may mix raw and escaped bytes, or have an ASCII
/// second byte, and still comes out whole); the other bytes are read as
/// `outside` says.
pub(crate) fn raw_value_text(raw: &[u8], outside: Outside) -> String {
    let mut unfolded = Vec::with_capacity(raw.len());
    let mut i = 0;
    while let Some(&b) = raw.get(i) {
        if b == b'\r' && raw.get(i + 1) == Some(&b'\n') {
            i += 2;
            continue;
        }
        if b != b'\n' {
            unfolded.push(b);
        }
        i += 1;
    }
    let text = match String::from_utf8(unfolded) {
        Ok(text) => text,
        Err(err) => spell_8bit_words(err.as_bytes(), outside),
    };
    text.trim().to_owned()
}

/// `bytes` (not UTF-8) as text, 8-bit bytes inside Q words escaped.
fn spell_8bit_words(bytes: &[u8], outside: Outside) -> String {
    let read_outside = |plain: &[u8]| match outside {
        Outside::Replacement => String::from_utf8_lossy(plain).into_owned(),
        Outside::Windows1252 => charset::windows_1252(plain),
    };
    let mut out = String::with_capacity(bytes.len() + 16);
    let mut plain_start = 0;
    let mut pos = 0;
    while let Some(start) = find_word_start(bytes, pos) {
        let Some(word) = parse_word(bytes, start) else {
            pos = start + 2;
            continue;
        };
        out.push_str(&read_outside(
            bytes.get(plain_start..start).unwrap_or_default(),
        ));
        // `=?charset?Q?`: ASCII, as parse_word checked.
        let head = bytes.get(start..word.text.start).unwrap_or_default();
        out.push_str(&String::from_utf8_lossy(head));
        for &b in bytes.get(word.text.clone()).unwrap_or_default() {
            if b.is_ascii() {
                out.push(char::from(b));
            } else {
                push_hex_escape(b, &mut out);
            }
        }
        out.push_str("?=");
        pos = word.end;
        plain_start = pos;
    }
    out.push_str(&read_outside(bytes.get(plain_start..).unwrap_or_default()));
    out
}

fn push_hex_escape(byte: u8, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push('=');
    out.push(char::from(HEX[usize::from(byte >> 4)]));
    out.push(char::from(HEX[usize::from(byte & 0x0f)]));
}

/// Where the next `=?` at or after `pos` starts.
fn find_word_start(bytes: &[u8], pos: usize) -> Option<usize> {
    let rest = bytes.get(pos..)?;
    rest.windows(2)
        .position(|pair| pair == b"=?")
        .map(|found| pos + found)
}

/// Folding white space, as it may stand between two encoded-words.
fn is_fws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// The two encodings of RFC 2047 §4.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Q,
    B,
}

/// An encoded-word found in a header's bytes.
struct Word<'a> {
    /// The charset label, without an RFC 2231 `*language` suffix.
    charset: &'a str,
    kind: Kind,
    /// Where its encoded text is.
    text: std::ops::Range<usize>,
    /// Where it ends (after its `?=`).
    end: usize,
}

/// Reads the encoded-word at `start` (where `=?` stands), if it is one:
/// `=?charset?Q|B?text?=`. The charset is printable ASCII but `?`, `=`,
/// `"`, `(` and `)`, at most 64 characters; the text runs to the next `?`,
/// which must start `?=`. A Q text may hold any other byte (8-bit bytes
/// included, which the RFC forbids but mail has); a B text only base64
/// characters and spaces.
fn parse_word(bytes: &[u8], start: usize) -> Option<Word<'_>> {
    let charset_start = start + 2;
    let charset_len = bytes
        .get(charset_start..)?
        .iter()
        .position(|&b| b == b'?')?;
    let charset = bytes.get(charset_start..charset_start + charset_len)?;
    if charset.is_empty()
        || charset.len() > 64
        || !charset
            .iter()
            .all(|&b| b.is_ascii_graphic() && !matches!(b, b'?' | b'=' | b'"' | b'(' | b')'))
    {
        return None;
    }
    let kind_start = charset_start + charset_len + 1;
    let kind_len = bytes.get(kind_start..)?.iter().position(|&b| b == b'?')?;
    let kind = match bytes.get(kind_start..kind_start + kind_len)? {
        b"Q" | b"q" => Kind::Q,
        b"B" | b"b" => Kind::B,
        _ => return None,
    };
    let text_start = kind_start + kind_len + 1;
    let text_len = bytes.get(text_start..)?.iter().position(|&b| b == b'?')?;
    let text_end = text_start + text_len;
    if bytes.get(text_end + 1) != Some(&b'=') {
        return None;
    }
    let text = bytes.get(text_start..text_end)?;
    if kind == Kind::B
        && !text
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b' '))
    {
        return None;
    }
    // RFC 2231 §5: `charset*language`. ASCII, as checked above.
    let label = std::str::from_utf8(charset).ok()?;
    Some(Word {
        charset: label.split('*').next().unwrap_or_default(),
        kind,
        text: text_start..text_end,
        end: text_end + 2,
    })
}

/// Adjacent encoded-words in one charset, decoded together so that a
/// character a sloppy encoder split between two words comes out whole.
struct Run {
    charset: Option<Charset>,
    pieces: Vec<Piece>,
}

/// What a word's text gives: bytes in the word's charset, or characters
/// that stood in it as text.
enum Piece {
    Bytes(Vec<u8>),
    Text(String),
}

impl Run {
    fn push_bytes(&mut self, bytes: &[u8]) {
        match self.pieces.last_mut() {
            Some(Piece::Bytes(last)) => last.extend_from_slice(bytes),
            _ => self.pieces.push(Piece::Bytes(bytes.to_vec())),
        }
    }

    fn push_byte(&mut self, byte: u8) {
        self.push_bytes(&[byte]);
    }

    fn push_char(&mut self, c: char) {
        match self.pieces.last_mut() {
            Some(Piece::Text(last)) => last.push(c),
            _ => self.pieces.push(Piece::Text(c.to_string())),
        }
    }
}

fn flush(pending: &mut Option<Run>, out: &mut String) {
    let Some(run) = pending.take() else {
        return;
    };
    for piece in run.pieces {
        match piece {
            Piece::Bytes(bytes) => out.push_str(&charset::decode(&bytes, run.charset).0),
            Piece::Text(text) => out.push_str(&text),
        }
    }
}

/// The Q encoding (RFC 2047 §4.2): `_` is a space, `=XX` a byte; a `=`
/// not followed by two hex digits stays as it is. A character that is not
/// ASCII is already text (raw UTF-8 in the field) and stays as it is.
fn decode_q(encoded: &str, run: &mut Run) {
    let bytes = encoded.as_bytes();
    let mut i = 0;
    for (index, c) in encoded.char_indices() {
        if index < i {
            continue;
        }
        i = index + c.len_utf8();
        match c {
            '_' => run.push_byte(b' '),
            '=' => {
                let hi = bytes.get(index + 1).and_then(|&h| hex(h));
                let lo = bytes.get(index + 2).and_then(|&l| hex(l));
                match (hi, lo) {
                    (Some(hi), Some(lo)) => {
                        run.push_byte(hi << 4 | lo);
                        i = index + 3;
                    }
                    _ => run.push_byte(b'='),
                }
            }
            c if c.is_ascii() => run.push_byte(c as u8),
            c => run.push_char(c),
        }
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_found_in_bytes_with_8bit_text() {
        let raw = b"x =?iso-8859-1?Q?Fr\xF6sche?= y";
        let word = parse_word(raw, 2).unwrap();
        assert_eq!(word.charset, "iso-8859-1");
        assert_eq!(word.kind, Kind::Q);
        assert_eq!(&raw[word.text.clone()], b"Fr\xF6sche");
        assert_eq!(&raw[word.end..], b" y");
        // 8-bit bytes are no base64.
        assert!(parse_word(b"=?utf-8?B?w\xF6==?=", 0).is_none());
        assert!(parse_word(b"=?utf-8\xF6?Q?a?=", 0).is_none());
    }

    #[test]
    fn raw_values_spell_8bit_word_bytes_as_escapes() {
        let raw = b" caf\xe9 =?ISO-8859-1*de?q?Fr\xF6sche?= \r\n =?utf-8?b?w\xF6?=\r\n";
        assert_eq!(
            raw_value_text(raw, Outside::Windows1252),
            "café =?ISO-8859-1*de?q?Fr=F6sche?=  =?utf-8?b?wö?="
        );
        assert_eq!(
            raw_value_text(raw, Outside::Replacement),
            "caf\u{fffd} =?ISO-8859-1*de?q?Fr=F6sche?=  =?utf-8?b?w\u{fffd}?="
        );
        // Valid UTF-8 is kept as it is.
        let utf8 = " Grüße =?latin1?q?Fr\u{f6}sche?=\r\n tail ".as_bytes();
        assert_eq!(
            raw_value_text(utf8, Outside::Windows1252),
            "Grüße =?latin1?q?Fr\u{f6}sche?= tail"
        );
    }

    #[test]
    fn characters_inside_q_words_are_text() {
        assert_eq!(decode("=?iso-8859-1?q?Fr\u{f6}sche?="), "Frösche");
        // Text and bytes in one run keep their order.
        assert_eq!(decode("=?utf-8?q?=C3=A9\u{e8}=C3=AA?="), "éèê");
        assert_eq!(decode("=?utf-8?q?a=\u{e9}?="), "a=é");
    }
}
