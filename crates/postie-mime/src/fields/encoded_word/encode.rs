//! Writing encoded-words for non-ASCII header text.
//!
//! Only the words that need it are encoded, so `Grüße from Ada` keeps `from
//! Ada` readable. Each encoded-word stays within 75 characters and is never
//! split inside a UTF-8 character; Q or B is chosen per run, whichever is
//! shorter.

/// Longest encoded-word (RFC 2047 §2).
pub(crate) const MAX_WORD: usize = 75;
const Q_PREFIX: &str = "=?utf-8?q?";
const B_PREFIX: &str = "=?utf-8?b?";
const SUFFIX: &str = "?=";

/// Where the text will stand; phrases (display names) allow fewer literal
/// characters in Q encoding than unstructured text (RFC 2047 §5).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Context {
    Unstructured,
    Phrase,
}

/// Whether a whitespace-separated token must be encoded: it is not ASCII,
/// or it could be mistaken for an encoded-word.
fn needs_encoding(token: &str) -> bool {
    // A word too long for a 998-octet line is encoded too: encoded-words
    // can be split where the word cannot.
    !token.is_ascii()
        || (token.contains("=?") && token.contains("?="))
        || token.len() > LONGEST_PLAIN_WORD
}

/// Longer ASCII words in unstructured text are encoded so they can fold.
const LONGEST_PLAIN_WORD: usize = 900;

/// Whether `text` needs any encoding at all.
pub(crate) fn text_needs_encoding(text: &str) -> bool {
    text.split([' ', '\t']).any(needs_encoding)
}

/// Encodes the tokens of `text` that need it; runs of neighbouring such
/// tokens (and the spaces between them) become one sequence of words.
pub(crate) fn encode_text(text: &str, context: Context) -> String {
    let tokens: Vec<&str> = text.split(' ').collect();
    let mut out = String::with_capacity(text.len() * 2);
    let mut i = 0;
    while i < tokens.len() {
        if i > 0 {
            out.push(' ');
        }
        let token = tokens.get(i).copied().unwrap_or_default();
        if needs_encoding(token) {
            // Extend the run over encodable tokens, and over empty ones
            // (double spaces) followed by one: white space between two
            // encoded-words is dropped by decoders, so it goes inside.
            let mut end = i + 1;
            loop {
                let mut next = end;
                while tokens.get(next).is_some_and(|t| t.is_empty()) {
                    next += 1;
                }
                if tokens.get(next).is_some_and(|t| needs_encoding(t)) {
                    end = next + 1;
                } else {
                    break;
                }
            }
            let run = tokens.get(i..end).unwrap_or_default().join(" ");
            out.push_str(&encode_words(&run, context).join(" "));
            i = end;
        } else {
            out.push_str(token);
            i += 1;
        }
    }
    out
}

/// Encodes all of `run` as encoded-words.
pub(crate) fn encode_words(run: &str, context: Context) -> Vec<String> {
    encode_words_within(run, context, MAX_WORD)
}

/// Like [`encode_words`], each word at most `max_word` characters (fewer
/// than 75 when something must follow a word on its line, as the `:` after
/// a group's name does).
pub(crate) fn encode_words_within(run: &str, context: Context, max_word: usize) -> Vec<String> {
    // Room for at least one character of any kind (a 4-byte one is 12 in Q).
    let max_word = max_word.clamp(Q_PREFIX.len() + SUFFIX.len() + 12, MAX_WORD);
    let q_len: usize = run.chars().map(|c| q_width(c, context)).sum();
    let b_len = run.len().div_ceil(3) * 4;
    if q_len <= b_len {
        chunk(
            run,
            Q_PREFIX,
            max_word,
            |c| q_width(c, context),
            |s| q_encode(s, context),
        )
    } else {
        // Base64 of n bytes takes 4 * ceil(n / 3) characters; count bytes and
        // check the encoded length of the chunk as it grows.
        chunk_b(run, max_word)
    }
}

fn chunk(
    run: &str,
    prefix: &str,
    max_word: usize,
    width: impl Fn(char) -> usize,
    encode: impl Fn(&str) -> String,
) -> Vec<String> {
    let room = max_word - prefix.len() - SUFFIX.len();
    let mut words = Vec::new();
    let mut start = 0;
    let mut used = 0;
    for (index, c) in run.char_indices() {
        let w = width(c);
        if used + w > room && index > start {
            words.push(wrap(prefix, &encode(&run[start..index])));
            start = index;
            used = 0;
        }
        used += w;
    }
    if start < run.len() || words.is_empty() {
        words.push(wrap(prefix, &encode(&run[start..])));
    }
    words
}

fn chunk_b(run: &str, max_word: usize) -> Vec<String> {
    let room = max_word - B_PREFIX.len() - SUFFIX.len();
    let engine = encodify::base64::STANDARD;
    let mut words = Vec::new();
    let mut start = 0;
    for (index, c) in run.char_indices() {
        let end = index + c.len_utf8();
        if (end - start).div_ceil(3) * 4 > room && index > start {
            words.push(wrap(B_PREFIX, &engine.encode(&run[start..index])));
            start = index;
        }
    }
    if start < run.len() || words.is_empty() {
        words.push(wrap(B_PREFIX, &engine.encode(&run[start..])));
    }
    words
}

fn wrap(prefix: &str, payload: &str) -> String {
    format!("{prefix}{payload}{SUFFIX}")
}

fn q_literal(byte: u8, context: Context) -> bool {
    match context {
        Context::Phrase => byte.is_ascii_alphanumeric() || b"!*+-/".contains(&byte),
        Context::Unstructured => (33..=126).contains(&byte) && !matches!(byte, b'=' | b'?' | b'_'),
    }
}

fn q_width(c: char, context: Context) -> usize {
    let mut buf = [0u8; 4];
    c.encode_utf8(&mut buf)
        .bytes()
        .map(|b| {
            if b == b' ' || q_literal(b, context) {
                1
            } else {
                3
            }
        })
        .sum()
}

fn q_encode(text: &str, context: Context) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        if byte == b' ' {
            out.push('_');
        } else if q_literal(byte, context) {
            out.push(char::from(byte));
        } else {
            out.push('=');
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_text_is_left_alone() {
        assert_eq!(
            encode_text("plain subject", Context::Unstructured),
            "plain subject"
        );
    }

    #[test]
    fn only_non_ascii_words_are_encoded() {
        assert_eq!(
            encode_text("Grüsse from Ada", Context::Unstructured),
            "=?utf-8?q?Gr=C3=BCsse?= from Ada"
        );
    }

    #[test]
    fn neighbouring_words_keep_their_space() {
        // B is shorter here; the space between the words is inside it.
        let out = encode_text("a Grüße Grüße b", Context::Unstructured);
        let inner = out
            .strip_prefix("a =?utf-8?b?")
            .unwrap()
            .strip_suffix("?= b")
            .unwrap();
        let engine = encodify::base64::STANDARD;
        assert_eq!(engine.decode(inner).unwrap(), "Grüße Grüße".as_bytes());
    }

    #[test]
    fn double_spaces_between_encoded_words_survive() {
        let out = encode_text("é  é", Context::Unstructured);
        // One word whose payload keeps both spaces ("é  é").
        assert_eq!(out, "=?utf-8?b?w6kgIMOp?=");
    }

    #[test]
    fn lookalike_encoded_words_are_encoded() {
        let out = encode_text("=?utf-8?q?x?=", Context::Unstructured);
        assert_ne!(out, "=?utf-8?q?x?=");
        assert!(out.starts_with("=?utf-8?"));
    }

    #[test]
    fn long_runs_split_on_char_boundaries_within_75() {
        let text = "日本語のテキスト".repeat(10);
        let words = encode_words(&text, Context::Unstructured);
        assert!(words.len() > 1);
        let engine = encodify::base64::STANDARD;
        let mut decoded = Vec::new();
        for word in &words {
            assert!(word.len() <= MAX_WORD, "{word}");
            let payload = word
                .strip_prefix(B_PREFIX)
                .unwrap()
                .strip_suffix(SUFFIX)
                .unwrap();
            let bytes = engine.decode(payload).unwrap();
            // Every word must decode to whole characters on its own.
            assert!(std::str::from_utf8(&bytes).is_ok());
            decoded.extend(bytes);
        }
        assert_eq!(decoded, text.as_bytes());
    }

    #[test]
    fn words_can_leave_room_after_them() {
        // Mostly ASCII: Q words that fill all 75 characters.
        let text = format!("é{}", "x".repeat(200));
        let full = encode_words(&text, Context::Phrase);
        assert!(full.iter().any(|w| w.len() == MAX_WORD), "{full:?}");
        for text in [text, "é".repeat(80), "日本語".repeat(30)] {
            for max in [MAX_WORD - 1, 40, 0] {
                let within = encode_words_within(&text, Context::Phrase, max);
                let max = max.max(Q_PREFIX.len() + SUFFIX.len() + 12);
                assert!(within.iter().all(|w| w.len() <= max), "{within:?}");
                let decoded: String = within
                    .iter()
                    .map(|w| crate::fields::encoded_word::decode::decode(w))
                    .collect();
                assert_eq!(decoded, text);
            }
        }
    }

    #[test]
    fn phrase_context_escapes_specials() {
        assert_eq!(
            encode_words("abcdefghijk,é", Context::Phrase),
            vec!["=?utf-8?q?abcdefghijk=2C=C3=A9?="]
        );
        // Shorter in B, so B.
        assert_eq!(
            encode_words("é,\"", Context::Phrase),
            vec!["=?utf-8?b?w6ksIg==?="]
        );
    }
}
