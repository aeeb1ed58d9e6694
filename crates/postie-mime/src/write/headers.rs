//! The strict header writer: folding at 78, never past 998, encoded-words
//! for non-ASCII text.

use std::borrow::Cow;

use crate::fields::address::{self, Address};
use crate::fields::encoded_word::{self, Context};
use crate::fields::header::{is_address_field, HeaderName, HeaderValue};
use crate::Error;

/// Lines are folded to this length where white space allows (RFC 5322 §2.1.1).
const FOLD_AT: usize = 78;
/// A line holding an encoded-word may not be longer (RFC 2047 §2).
const ENCODED_LINE: usize = 76;
/// No line may be longer, CRLF aside (RFC 5322 §2.1.1).
const MAX_LINE: usize = 998;

/// Writes one field and its CRLF.
pub(crate) fn write_header(
    name: &HeaderName,
    value: &HeaderValue,
    w: &mut Vec<u8>,
) -> Result<(), Error> {
    if let Some(raw) = value.raw_bytes() {
        w.extend_from_slice(name.as_str().as_bytes());
        w.push(b':');
        w.extend_from_slice(raw);
        w.extend_from_slice(b"\r\n");
        return Ok(());
    }
    let text = value.as_text();
    write_text_field(name.as_str(), &text, w)
}

/// Writes `name: text` with the writer's rules: encoded-words where the
/// text is not ASCII, folded at white space. A short ASCII line (the common
/// case) goes out as it is, without building anything.
pub(crate) fn write_text_field(name: &str, text: &str, w: &mut Vec<u8>) -> Result<(), Error> {
    let fits = name.len() + 2 + text.len() <= FOLD_AT;
    if fits && plain_ascii(text.as_bytes()) {
        w.extend_from_slice(name.as_bytes());
        w.extend_from_slice(if text.is_empty() { b":" } else { b": " });
        w.extend_from_slice(text.as_bytes());
        w.extend_from_slice(b"\r\n");
        return Ok(());
    }
    let encoded: Cow<'_, str> = if !encoded_word::text_needs_encoding(text) {
        Cow::Borrowed(text)
    } else if is_address_field(name) {
        match address::parse_address_list(text) {
            Ok(list) => Cow::Owned(encode_address_list(&list)),
            Err(_) => Cow::Owned(encoded_word::encode_text(text, Context::Unstructured)),
        }
    } else {
        Cow::Owned(encoded_word::encode_text(text, Context::Unstructured))
    };
    let mut line = String::with_capacity(name.len() + 2 + encoded.len());
    line.push_str(name);
    line.push(':');
    if !encoded.is_empty() {
        line.push(' ');
        line.push_str(&encoded);
    }
    if !fold_into(&line, w) {
        return Err(Error::InvalidHeaderValue {
            name: name.to_string(),
            reason: "it has a word too long to fit a 998-character line",
        });
    }
    w.extend_from_slice(b"\r\n");
    Ok(())
}

/// Whether `text` is ASCII that cannot be taken for an encoded-word: one
/// branch-free pass for the high bit and a `?`, and the search for `=?`
/// and `?=` only when there is a `?`.
fn plain_ascii(text: &[u8]) -> bool {
    let (high, question) = high_bit_and_question(text);
    !(high || (question && looks_encoded(text)))
}

/// Whether `text` has a byte of 128 or more, and whether it has a `?`.
/// Eight bytes at a time: a field value is a few dozen bytes, too short for
/// the vector loop a compiler makes of a byte fold, whose tail is walked a
/// few bytes a step.
fn high_bit_and_question(text: &[u8]) -> (bool, bool) {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    const QUESTION: u64 = u64::from_ne_bytes([b'?'; 8]);
    let (words, tail) = text.as_chunks::<8>();
    let (any, question) = words.iter().fold((0u64, 0u64), |(any, question), word| {
        let x = u64::from_ne_bytes(*word);
        // A zero byte of x ^ '?'...: the borrow of the subtraction may mark
        // lanes above a zero byte too, but only when there is one, so the
        // answer (is there a '?') is exact.
        let q = x ^ QUESTION;
        (any | x, question | (q.wrapping_sub(ONES) & !q))
    });
    let (tail_any, tail_question) = tail.iter().fold((0u8, false), |(any, question), &b| {
        (any | b, question | (b == b'?'))
    });
    (
        any & HIGH != 0 || tail_any >= 0x80,
        question & HIGH != 0 || tail_question,
    )
}

/// Whether `text` holds both `=?` and `?=`, so that a reader could take
/// part of it for an encoded-word. (A search per pair: `str::contains`
/// sets up a substring searcher, which costs more than these short values.)
pub(crate) fn looks_encoded(text: &[u8]) -> bool {
    has_pair(text, b'=', b'?') && has_pair(text, b'?', b'=')
}

/// Whether `first` is directly followed by `second` somewhere in `text`.
fn has_pair(text: &[u8], first: u8, second: u8) -> bool {
    memchr::memchr_iter(first, text).any(|at| text.get(at + 1) == Some(&second))
}

fn encode_address_list(list: &[Address]) -> String {
    let items: Vec<String> = list
        .iter()
        .map(|item| match item {
            Address::Mailbox(mailbox) => encode_mailbox(mailbox),
            Address::Group { name, members } => {
                let members: Vec<String> = members.iter().map(encode_mailbox).collect();
                // The colon follows the name's last word on its line: one
                // character less for each word.
                let name = encode_phrase(name, encoded_word::MAX_WORD - 1);
                format!("{name}: {};", members.join(", "))
            }
        })
        .collect();
    items.join(", ")
}

fn encode_mailbox(mailbox: &address::Mailbox) -> String {
    match mailbox.name() {
        Some(name) if encoded_word::text_needs_encoding(name) => {
            let name = encode_phrase(name, encoded_word::MAX_WORD);
            format!("{name} <{}>", mailbox.addr_spec())
        }
        _ => mailbox.to_string(),
    }
}

/// A display name as encoded-words of at most `max_word` characters when
/// it needs encoding, else as atoms or a quoted-string, as the address
/// model writes it.
fn encode_phrase(phrase: &str, max_word: usize) -> String {
    if encoded_word::text_needs_encoding(phrase) {
        encoded_word::encode_words_within(phrase, Context::Phrase, max_word).join(" ")
    } else {
        address::phrase_form(phrase).into_owned()
    }
}

/// Folds `line` before white space so lines stay within 78 characters where
/// possible, and a line that holds an encoded-word within 76 (RFC 2047 §2:
/// the whole line, whatever else stands on it), writing it into `out`;
/// false, with `out` as it was, when a line would still pass 998.
fn fold_into(line: &str, out: &mut Vec<u8>) -> bool {
    let before = out.len();
    let mut folder = Folder {
        out,
        column: 0,
        line_has_word: false,
    };
    // Pieces start where a run of white space does; only ASCII bytes are
    // cut at, so every piece is whole characters.
    let mut start = 0;
    let mut index = 0;
    let mut previous_was_space = false;
    let mut fits = true;
    for (at, b) in line.bytes().enumerate() {
        let is_space = b == b' ' || b == b'\t';
        if is_space && !previous_was_space && at > start {
            fits &= folder.piece(index, line.get(start..at).unwrap_or_default());
            index += 1;
            start = at;
        }
        previous_was_space = is_space;
    }
    fits &= folder.piece(index, line.get(start..).unwrap_or_default());
    if !fits {
        out.truncate(before);
    }
    fits
}

/// The state of [`fold_into`] between pieces.
struct Folder<'o> {
    out: &'o mut Vec<u8>,
    column: usize,
    /// Whether the line being filled holds an encoded-word already.
    line_has_word: bool,
}

impl Folder<'_> {
    /// Writes piece number `index`, after a fold when it would not fit;
    /// false when the line passes 998.
    fn piece(&mut self, index: usize, piece: &str) -> bool {
        // Fold right after the field name only for an encoded-word, whose
        // line RFC 2047 §2 limits to 76: a first line holding only "Name:"
        // reads badly to some parsers otherwise.
        let may_fold = index > 1 || (index == 1 && piece.trim_start().starts_with("=?"));
        let piece_has_word = has_pair(piece.as_bytes(), b'=', b'?');
        // A plain piece after an encoded-word counts against the word's
        // line as much as a word after plain text does.
        let limit = if self.line_has_word || piece_has_word {
            ENCODED_LINE
        } else {
            FOLD_AT
        };
        if may_fold && self.column + piece.len() > limit {
            self.out.extend_from_slice(b"\r\n");
            self.column = 0;
            self.line_has_word = false;
        }
        self.out.extend_from_slice(piece.as_bytes());
        self.column += piece.len();
        self.line_has_word |= piece_has_word;
        self.column <= MAX_LINE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The word-at-a-time scan answers as the byte-by-byte definition,
        /// whatever the bytes and wherever they fall in a word.
        #[test]
        fn high_bit_and_question_is_the_definition(
            text in proptest::collection::vec(
                proptest::prop_oneof![
                    4 => proptest::prelude::Just(b'a'),
                    1 => proptest::prelude::Just(b'?'),
                    1 => proptest::prelude::Just(b'>'),
                    1 => proptest::prelude::Just(b'@'),
                    1 => proptest::prelude::Just(0u8),
                    1 => proptest::prelude::any::<u8>(),
                ],
                0..40,
            )
        ) {
            proptest::prop_assert_eq!(
                high_bit_and_question(&text),
                (text.iter().any(|&b| b >= 0x80), text.contains(&b'?'))
            );
        }
    }

    fn written(name: &str, value: &str) -> String {
        let mut out = Vec::new();
        write_header(
            &HeaderName::new(name).unwrap(),
            &HeaderValue::new(name, value).unwrap(),
            &mut out,
        )
        .unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn short_fields_are_one_line() {
        assert_eq!(written("Subject", "hello"), "Subject: hello\r\n");
    }

    #[test]
    fn long_fields_fold_before_white_space() {
        let value = "word ".repeat(40);
        let out = written("Subject", value.trim());
        for line in out.trim_end().split("\r\n") {
            assert!(line.len() <= FOLD_AT, "{line}");
        }
        assert_eq!(
            out.replace("\r\n", ""),
            format!("Subject: {}", value.trim())
        );
    }

    #[test]
    fn lines_with_encoded_words_stay_within_76() {
        let out = written("Subject", &"é".repeat(60));
        for line in out.trim_end().split("\r\n") {
            assert!(line.len() <= 76, "{} chars: {line}", line.len());
        }
    }

    /// Every line of `out` that holds an encoded-word, within 76 octets
    /// (RFC 2047 §2).
    fn assert_encoded_lines_within_76(out: &str) {
        for line in out.trim_end().split("\r\n") {
            if line.contains("=?") {
                assert!(line.len() <= ENCODED_LINE, "{} octets: {line}", line.len());
            }
        }
    }

    #[test]
    fn an_address_after_an_encoded_display_name_keeps_the_line_within_76() {
        // The display name's word fills the line to 66 octets; with
        // " <a@b.test>" after it the line would be 77.
        let out = written("From", "Jörg Jörg Jörg Jörg Jörg Jörg <a@b.test>");
        assert_encoded_lines_within_76(&out);
        assert!(out.ends_with("\r\n <a@b.test>\r\n"), "{out}");
        for name in ["Ünïcödé Ünïcödé Ünïcödé", &"é ".repeat(12)] {
            let out = written("To", &format!("{} <a@b.test>, x@y.test", name.trim()));
            assert_encoded_lines_within_76(&out);
        }
    }

    #[test]
    fn a_group_name_and_its_colon_stay_within_76() {
        // A 75-octet word and the colon after it would make a 77-octet
        // line even alone.
        for n in 1..90 {
            for name in [
                "Grüppe ".repeat(n).trim().to_owned(),
                // Mostly ASCII: Q words, which can fill all 75 octets.
                format!("é{}", "x".repeat(n)),
            ] {
                let out = written("To", &format!("{name}: a@b.test;"));
                assert_encoded_lines_within_76(&out);
            }
        }
    }

    #[test]
    fn unstructured_text_after_an_encoded_word_keeps_the_line_within_76() {
        for n in 1..30 {
            let out = written("Subject", &format!("{} end", "Jörg ".repeat(n).trim()));
            assert_encoded_lines_within_76(&out);
        }
    }

    #[test]
    fn an_ascii_group_name_keeps_its_quotes_when_a_member_is_encoded() {
        // A member's name needs encoding, so the list is written again from
        // its parts; the group's name must stay a quoted-string.
        assert_eq!(
            written("Cc", "\"Team: A, B\": Jörg Mueller <j@example.org>;"),
            "Cc: \"Team: A, B\": =?utf-8?q?J=C3=B6rg_Mueller?= <j@example.org>;\r\n"
        );
    }

    #[test]
    fn a_word_over_998_is_encoded_so_it_folds() {
        let out = written("X-Long", &"x".repeat(1200));
        assert!(out.contains("=?utf-8?"), "{out}");
        for line in out.trim_end().split("\r\n") {
            assert!(line.len() <= 78, "{} octets", line.len());
        }
    }

    #[test]
    fn non_ascii_display_names_are_encoded_as_phrases() {
        assert_eq!(
            written("From", "Jörg Mueller <j@example.org>"),
            "From: =?utf-8?q?J=C3=B6rg_Mueller?= <j@example.org>\r\n"
        );
    }
}
