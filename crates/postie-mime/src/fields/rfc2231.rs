//! MIME parameter values: RFC 2045 §5.1 tokens and quoted-strings, and the
//! RFC 2231 extensions (charset-tagged, percent-encoded values and
//! continuations) for values that are long or not plain ASCII.
//!
//! Writing goes through [`param_pieces`], which returns one `name=value`
//! segment per element so that a caller can fold the header between
//! segments; no segment is longer than [`MAX_PIECE`] characters unless the
//! parameter name alone leaves no room. Reading goes through
//! [`decode_params`], which takes the raw `(name, value)` pairs of a parsed
//! header and joins, decodes and lowercases them.
//!
//! ```
//! use postie_mime::rfc2231::{decode_params, param_pieces};
//!
//! let pieces = param_pieces("filename", "résumé.pdf");
//! assert_eq!(pieces, ["filename*=utf-8''r%C3%A9sum%C3%A9.pdf"]);
//!
//! let raw = vec![("FILENAME*".to_string(), "utf-8''r%C3%A9sum%C3%A9.pdf".to_string())];
//! assert_eq!(decode_params(&raw), [("filename".to_string(), "résumé.pdf".to_string())]);
//! ```

/// Longest segment [`param_pieces`] writes, in characters: the RFC 2045
/// line limit, so that a folded header line holding one segment (after a
/// leading space or tab) stays near it.
pub const MAX_PIECE: usize = 76;

/// Least room left for a value in one segment, however long the parameter
/// name: enough for the longest percent-encoded character (`%F0%9F%98%80`),
/// so that a character is never split across segments.
const MIN_ROOM: usize = 12;

/// Is `c` one of the RFC 2045 `tspecials`?
fn is_tspecial(c: char) -> bool {
    matches!(
        c,
        '(' | ')' | '<' | '>' | '@' | ',' | ';' | ':' | '\\' | '"' | '/' | '[' | ']' | '?' | '='
    )
}

/// Is `c` allowed in an RFC 2045 token: printable US-ASCII other than space
/// and the `tspecials`?
fn is_token_char(c: char) -> bool {
    c.is_ascii_graphic() && !is_tspecial(c)
}

/// [`is_token_char`] for a byte: a byte of a multi-byte character is never
/// printable ASCII, so a string's bytes pass exactly when its characters do
/// (and bytes are cheaper to walk than characters).
pub(crate) fn is_token_byte(b: u8) -> bool {
    class(b) & TOKEN != 0
}

/// [`is_name_char`] for a byte; see [`is_token_byte`].
fn is_name_byte(b: u8) -> bool {
    class(b) & NAME != 0
}

/// Is `s` a non-empty RFC 2045 token, which may stand bare as a parameter
/// value (or as a media type or subtype)?
///
/// ```
/// use postie_mime::rfc2231::is_token;
/// assert!(is_token("us-ascii"));
/// assert!(!is_token("two words"));
/// assert!(!is_token("a/b"));
/// assert!(!is_token(""));
/// ```
pub fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_byte)
}

/// Is `c` allowed in a parameter name: a token character other than the
/// three that RFC 2231 gives a meaning (`*`, `'`, `%`)?
fn is_name_char(c: char) -> bool {
    is_token_char(c) && !matches!(c, '*' | '\'' | '%')
}

/// `name` with every character that may not appear in a parameter name
/// dropped (see [`param_pieces`]).
pub(crate) fn clean_name(name: &str) -> String {
    name.chars().filter(|&c| is_name_char(c)).collect()
}

/// Whether [`clean_name`] would leave `name` as it is.
pub(crate) fn is_clean_name(name: &str) -> bool {
    name.bytes().all(is_name_byte)
}

/// Is `b` written as itself in an extended value? A conservative set of
/// RFC 2231 attribute-chars (the RFC 8187 `attr-char` set), so that every
/// reader, strict or sloppy, takes it literally.
fn is_attr_char(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#' | b'$' | b'&' | b'+' | b'-' | b'.' | b'^' | b'_' | b'`' | b'|' | b'~'
        )
}

/// Splits a parameter into header segments, each without the leading `; `.
///
/// * A token value is written bare: `charset=utf-8`.
/// * Other printable ASCII is a quoted-string, `"` and `\` escaped:
///   `name="two words"`.
/// * A printable ASCII value too long for one segment is split into plain
///   RFC 2231 continuations: `name*0="..."`, `name*1="..."`.
/// * A value with non-ASCII or control characters is written in RFC 2231
///   extended notation, `name*=utf-8''%C3%A9t%C3%A9`, split into
///   `name*0*=utf-8''...`, `name*1*=...` when too long. A `%XX` triplet or
///   a character is never split across segments.
///
/// Every segment is at most [`MAX_PIECE`] characters unless the name is so
/// long that it cannot be. Characters that may not appear in a parameter
/// name (anything but printable ASCII outside the tspecials, `*`, `'` and
/// `%`) are dropped from `name`; if none is left, there is nothing to write
/// and the result is empty.
///
/// ```
/// use postie_mime::rfc2231::param_pieces;
///
/// assert_eq!(param_pieces("charset", "utf-8"), ["charset=utf-8"]);
/// assert_eq!(param_pieces("name", r#"say "hi".txt"#), [r#"name="say \"hi\".txt""#]);
/// let long = "x".repeat(100);
/// let pieces = param_pieces("filename", &long);
/// assert_eq!(pieces.len(), 2);
/// assert!(pieces[0].starts_with("filename*0="));
/// assert!(pieces.iter().all(|p| p.len() <= 76));
/// ```
pub fn param_pieces(name: &str, value: &str) -> Vec<String> {
    let name = clean_name(name);
    if name.is_empty() {
        return Vec::new();
    }
    if value.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        let token = is_token(value);
        let mut single = String::with_capacity(name.len() + value.len() + 3);
        single.push_str(&name);
        single.push('=');
        push_ascii_value(&mut single, value, token);
        // An empty value cannot be split: it stays one piece however long
        // the name (found by fuzzing: it used to vanish).
        if single.len() <= MAX_PIECE || value.is_empty() {
            return vec![single];
        }
        ascii_continuations(&name, value, token)
    } else {
        extended_pieces(&name, value)
    }
}

/// Appends `; name=value` segments for one parameter to `out`, as
/// [`param_pieces`] splits them (with `; ` before each segment).
///
/// ```
/// use postie_mime::rfc2231::write_param;
/// let mut header = String::from("attachment");
/// write_param("filename", "a b.txt", &mut header);
/// assert_eq!(header, r#"attachment; filename="a b.txt""#);
/// ```
pub fn write_param(name: &str, value: &str, out: &mut String) {
    // The common case, a clean name and a short printable ASCII value, is
    // written in place, as the one piece `param_pieces` would make of it.
    if let Some(piece) = PlainPiece::of(name, value) {
        out.push_str("; ");
        out.push_str(name);
        out.push('=');
        push_ascii_value(out, value, piece.token);
        return;
    }
    for piece in param_pieces(name, value) {
        out.push_str("; ");
        out.push_str(&piece);
    }
}

/// A parameter that [`param_pieces`] writes as one plain `name=value`
/// piece: a clean name and a printable ASCII value (bare when a token,
/// else quoted), at most [`MAX_PIECE`] characters in all (or with an empty
/// value, which is never split). What a writer needs to put it straight
/// into its output, without building the piece.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PlainPiece {
    /// The piece's length.
    pub(crate) len: usize,
    /// Whether the value is a token, written bare.
    pub(crate) token: bool,
    /// How many `"` and `\\` a quoted value escapes.
    escaped: usize,
    /// Whether the value has a `?`, without which it cannot look like an
    /// encoded-word.
    pub(crate) has_question_mark: bool,
}

/// What [`PlainPiece::of`] asks of each byte, looked up in [`CLASSES`]
/// rather than worked out by comparisons (a parameter value is walked for
/// every Content-Type written).
const PRINTABLE: u8 = 1;
const TOKEN: u8 = 2;
const ESCAPED: u8 = 4;
const QUESTION_MARK: u8 = 8;
const NAME: u8 = 16;

/// Every byte's classes.
static CLASSES: [u8; 256] = classes();

const fn classes() -> [u8; 256] {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        let mut class = 0;
        if c >= 0x20 && c < 0x7f {
            class |= PRINTABLE;
        }
        let tspecial = matches!(
            c,
            b'(' | b')'
                | b'<'
                | b'>'
                | b'@'
                | b','
                | b';'
                | b':'
                | b'\\'
                | b'"'
                | b'/'
                | b'['
                | b']'
                | b'?'
                | b'='
        );
        if c.is_ascii_graphic() && !tspecial {
            class |= TOKEN;
            if !matches!(c, b'*' | b'\'' | b'%') {
                class |= NAME;
            }
        }
        if c == b'"' || c == b'\\' {
            class |= ESCAPED;
        }
        if c == b'?' {
            class |= QUESTION_MARK;
        }
        table[b] = class;
        b += 1;
    }
    table
}

impl PlainPiece {
    /// `None` when the parameter needs [`param_pieces`]: a name to clean,
    /// a value that is not printable ASCII, or one too long for a piece.
    pub(crate) fn of(name: &str, value: &str) -> Option<Self> {
        let name_ok = name.bytes().fold(true, |ok, b| ok & is_name_byte(b));
        if name.is_empty() || !name_ok {
            return None;
        }
        let words = Words::of(value.as_bytes());
        if !words.printable {
            return None;
        }
        // A search that stops at the first byte outside the token set (a
        // boundary's leading '=').
        let token = !value.is_empty() && value.bytes().all(is_token_byte);
        let escaped = if words.quote_or_backslash {
            value.bytes().filter(|&b| class(b) & ESCAPED != 0).count()
        } else {
            0
        };
        let quoting = if token { 0 } else { 2 + escaped };
        let len = name.len() + 1 + value.len() + quoting;
        (len <= MAX_PIECE || value.is_empty()).then_some(Self {
            len,
            token,
            escaped,
            has_question_mark: words.question_mark,
        })
    }

    /// Appends `name=value` (the value bare or quoted, as [`PlainPiece::of`]
    /// found) to `out`.
    pub(crate) fn write(self, name: &str, value: &str, out: &mut Vec<u8>) {
        out.extend_from_slice(name.as_bytes());
        out.push(b'=');
        if self.token {
            out.extend_from_slice(value.as_bytes());
            return;
        }
        out.push(b'"');
        if self.escaped == 0 {
            out.extend_from_slice(value.as_bytes());
        } else {
            for &b in value.as_bytes() {
                if class(b) & ESCAPED != 0 {
                    out.push(b'\\');
                }
                out.push(b);
            }
        }
        out.push(b'"');
    }
}

/// What a parameter value's bytes hold, found eight at a time (a value is
/// short, too short for the vector code a compiler makes of a byte loop
/// to pay off, and a byte loop with a table costs a load per byte).
struct Words {
    /// Every byte is printable ASCII (32 to 126).
    printable: bool,
    /// Some byte is `"` or `\\`.
    quote_or_backslash: bool,
    /// Some byte is `?`.
    question_mark: bool,
}

impl Words {
    fn of(bytes: &[u8]) -> Self {
        const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
        const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
        // Non-zero exactly when some byte of `x` is zero (the per-byte
        // marks may be wrong above a zero byte; whether there is one is
        // not).
        let zero_byte = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
        let (words, tail) = bytes.as_chunks::<8>();
        let (mut odd, mut escape, mut question) = (0u64, 0u64, 0u64);
        for word in words {
            let x = u64::from_ne_bytes(*word);
            // 128 and above; below 32 (exact once no byte is 128 or
            // above, as for `zero_byte`); DEL.
            odd |= (x & HIGH)
                | (x.wrapping_sub(0x20 * ONES) & !x & HIGH)
                | zero_byte(x ^ (0x7f * ONES));
            escape |=
                zero_byte(x ^ (u64::from(b'"') * ONES)) | zero_byte(x ^ (u64::from(b'\\') * ONES));
            question |= zero_byte(x ^ (u64::from(b'?') * ONES));
        }
        let mut words = Self {
            printable: odd == 0,
            quote_or_backslash: escape != 0,
            question_mark: question != 0,
        };
        for &b in tail {
            words.printable &= class(b) & PRINTABLE != 0;
            words.quote_or_backslash |= class(b) & ESCAPED != 0;
            words.question_mark |= b == b'?';
        }
        words
    }
}

fn class(b: u8) -> u8 {
    CLASSES[usize::from(b)]
}

/// Appends printable ASCII `value`, bare when `token`, else as a
/// quoted-string.
fn push_ascii_value(out: &mut String, value: &str, token: bool) {
    if token {
        out.push_str(value);
        return;
    }
    out.push('"');
    for c in value.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

/// `name*N=` segments of a printable ASCII value that is too long for one.
fn ascii_continuations(name: &str, value: &str, token: bool) -> Vec<String> {
    let quotes = if token { 0 } else { 2 };
    let mut pieces = Vec::new();
    let mut rest = value;
    let mut section = 0usize;
    while !rest.is_empty() {
        let prefix = format!("{name}*{section}=");
        let room = MAX_PIECE
            .saturating_sub(prefix.len() + quotes)
            .max(MIN_ROOM);
        // The value is ASCII, so every byte index is a char boundary.
        let mut used = 0;
        let mut take = 0;
        for b in rest.bytes() {
            let cost = if !token && (b == b'"' || b == b'\\') {
                2
            } else {
                1
            };
            if used + cost > room {
                break;
            }
            used += cost;
            take += 1;
        }
        let (segment, tail) = rest.split_at(take.max(1).min(rest.len()));
        let mut piece = prefix;
        push_ascii_value(&mut piece, segment, token);
        pieces.push(piece);
        rest = tail;
        section += 1;
    }
    pieces
}

/// RFC 2231 extended segments (`name*=` or `name*N*=`) of a value that is
/// not printable ASCII.
fn extended_pieces(name: &str, value: &str) -> Vec<String> {
    const CHARSET: &str = "utf-8''";
    // One encoded unit per character, so a character never straddles two
    // segments.
    let mut units: Vec<String> = Vec::with_capacity(value.len());
    let mut utf8 = [0u8; 4];
    for c in value.chars() {
        let mut unit = String::new();
        for &b in c.encode_utf8(&mut utf8).as_bytes() {
            push_encoded_byte(&mut unit, b);
        }
        units.push(unit);
    }
    let encoded_len: usize = units.iter().map(String::len).sum();
    if name.len() + 2 + CHARSET.len() + encoded_len <= MAX_PIECE {
        let mut piece = format!("{name}*={CHARSET}");
        units.iter().for_each(|u| piece.push_str(u));
        return vec![piece];
    }
    let mut pieces = Vec::new();
    let mut units = units.iter().peekable();
    let mut section = 0usize;
    while units.peek().is_some() {
        let mut piece = format!("{name}*{section}*=");
        if section == 0 {
            piece.push_str(CHARSET);
        }
        let limit = piece.len() + MAX_PIECE.saturating_sub(piece.len()).max(MIN_ROOM);
        while let Some(unit) = units.next_if(|u| piece.len() + u.len() <= limit) {
            piece.push_str(unit);
        }
        pieces.push(piece);
        section += 1;
    }
    pieces
}

/// Appends byte `b` of an extended value, percent-encoded unless it is an
/// attribute-char.
fn push_encoded_byte(out: &mut String, b: u8) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    if is_attr_char(b) {
        out.push(char::from(b));
    } else {
        out.push('%');
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
}

/// One raw parameter of a name, as found in the header.
struct Segment<'a> {
    /// Continuation number, if the name had one (`name*3`).
    section: Option<u32>,
    /// Did the name end in `*` (percent-encoded, maybe charset-tagged)?
    extended: bool,
    value: &'a str,
}

/// Turns the raw `(name, value)` pairs of a parsed header (values already
/// unquoted) into plain `(lowercase name, value)` pairs.
///
/// RFC 2231 continuations (`name*0`, `name*1*`, ...) are joined in numeric
/// order, `*` segments are percent-decoded and their charset decoded
/// (UTF-8, US-ASCII, ISO-8859-1 and windows-1252 natively; bytes in any
/// other charset are read as UTF-8, lossily). The result has one pair per
/// name, in the order of each name's first appearance.
///
/// Tolerant, as mail in the wild needs: a missing or repeated segment,
/// segments out of order and bad `%` escapes (kept literally) are all
/// accepted. When a name comes both plain and in RFC 2231 form (a common
/// fallback, `filename="x"; filename*=utf-8''...`), the RFC 2231 value wins;
/// when it comes twice the same way, the first one wins.
///
/// ```
/// use postie_mime::rfc2231::decode_params;
///
/// let raw: Vec<(String, String)> = [
///     ("title*0*", "us-ascii'en'This%20is%20even%20more%20"),
///     ("title*1*", "%2A%2A%2Afun%2A%2A%2A%20"),
///     ("title*2", "isn't it!"),
/// ]
/// .iter()
/// .map(|(n, v)| (n.to_string(), v.to_string()))
/// .collect();
/// assert_eq!(
///     decode_params(&raw),
///     [("title".to_string(), "This is even more ***fun*** isn't it!".to_string())]
/// );
/// ```
pub fn decode_params(pieces: &[(String, String)]) -> Vec<(String, String)> {
    let mut groups: Vec<(String, Vec<Segment<'_>>)> = Vec::new();
    for (name, value) in pieces {
        let lower = name.trim().to_ascii_lowercase();
        let (base, extended) = match lower.strip_suffix('*') {
            Some(base) => (base, true),
            None => (lower.as_str(), false),
        };
        let (base, section) = match base.rsplit_once('*') {
            Some((head, digits))
                if !head.is_empty()
                    && !digits.is_empty()
                    && digits.bytes().all(|b| b.is_ascii_digit()) =>
            {
                match digits.parse::<u32>() {
                    Ok(n) => (head, Some(n)),
                    Err(_) => (base, None),
                }
            }
            _ => (base, None),
        };
        if base.is_empty() {
            continue;
        }
        let segment = Segment {
            section,
            extended,
            value,
        };
        match groups.iter_mut().find(|(n, _)| n == base) {
            Some((_, segments)) => segments.push(segment),
            None => groups.push((base.to_string(), vec![segment])),
        }
    }
    groups
        .into_iter()
        .map(|(name, segments)| {
            let value = resolve(segments);
            (name, value)
        })
        .collect()
}

/// The value of one parameter name from all its segments.
fn resolve(mut segments: Vec<Segment<'_>>) -> String {
    // `name*=charset'lang'value` first, then continuations, then plain.
    if let Some(single) = segments.iter().find(|s| s.section.is_none() && s.extended) {
        return join_segments(&[single]);
    }
    if segments.iter().any(|s| s.section.is_some()) {
        segments.retain(|s| s.section.is_some());
        // Stable, so that of two segments with one number the first wins.
        segments.sort_by_key(|s| s.section);
        segments.dedup_by_key(|s| s.section);
        let refs: Vec<&Segment<'_>> = segments.iter().collect();
        return join_segments(&refs);
    }
    segments
        .first()
        .map(|s| s.value.to_string())
        .unwrap_or_default()
}

/// Joins ordered segments: runs of extended ones are percent-decoded and
/// then charset-decoded together (a character may straddle two segments);
/// plain ones are taken as they are.
fn join_segments(segments: &[&Segment<'_>]) -> String {
    let mut out = String::new();
    let mut charset = String::new();
    let mut pending: Vec<u8> = Vec::new();
    for (i, segment) in segments.iter().enumerate() {
        if !segment.extended {
            out.push_str(&decode_charset(&charset, &pending));
            pending.clear();
            out.push_str(segment.value);
            continue;
        }
        let mut data = segment.value;
        if i == 0 {
            // charset'language'data; tolerate a first segment without it.
            if let Some((cs, rest)) = data.split_once('\'') {
                if let Some((_language, rest)) = rest.split_once('\'') {
                    charset = cs.trim().to_ascii_lowercase();
                    data = rest;
                }
            }
        }
        percent_decode(data, &mut pending);
    }
    out.push_str(&decode_charset(&charset, &pending));
    out
}

/// Appends the bytes of `%XX`-encoded `data` to `out`; a `%` not followed by
/// two hex digits is kept literally.
fn percent_decode(data: &str, out: &mut Vec<u8>) {
    let bytes = data.as_bytes();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hi = bytes.get(i + 1).and_then(|&h| hex_value(h));
            let lo = bytes.get(i + 2).and_then(|&l| hex_value(l));
            if let (Some(hi), Some(lo)) = (hi, lo) {
                out.push(hi << 4 | lo);
                i += 3;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// windows-1252 characters for bytes 0x80..=0x9F (the five undefined ones
/// map to the C1 control of the same number, as WHATWG does).
const CP1252_HIGH: [char; 32] = [
    '\u{20AC}', '\u{81}', '\u{201A}', '\u{0192}', '\u{201E}', '\u{2026}', '\u{2020}', '\u{2021}',
    '\u{02C6}', '\u{2030}', '\u{0160}', '\u{2039}', '\u{0152}', '\u{8D}', '\u{017D}', '\u{8F}',
    '\u{90}', '\u{2018}', '\u{2019}', '\u{201C}', '\u{201D}', '\u{2022}', '\u{2013}', '\u{2014}',
    '\u{02DC}', '\u{2122}', '\u{0161}', '\u{203A}', '\u{0153}', '\u{9D}', '\u{017E}', '\u{0178}',
];

/// Decodes `bytes` in `charset` (lowercase): UTF-8 (also for an empty or
/// unknown charset, lossily), US-ASCII (read as UTF-8, since mislabelled
/// UTF-8 is common), ISO-8859-1, windows-1252 and UTF-7 (RFC 2152, by the
/// crate's charset decoder).
fn decode_charset(charset: &str, bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return String::new();
    }
    match charset {
        "iso-8859-1" | "iso8859-1" | "iso_8859-1" | "iso_8859-1:1987" | "latin1" | "latin-1"
        | "l1" | "cp819" | "ibm819" | "iso-ir-100" | "csisolatin1" => {
            bytes.iter().map(|&b| char::from(b)).collect()
        }
        "windows-1252" | "cp1252" | "x-cp1252" => bytes
            .iter()
            .map(|&b| match b {
                0x80..=0x9f => CP1252_HIGH
                    .get(usize::from(b - 0x80))
                    .copied()
                    .unwrap_or(char::REPLACEMENT_CHARACTER),
                _ => char::from(b),
            })
            .collect(),
        label => match crate::charset::Charset::for_label(label) {
            Some(utf7 @ crate::charset::Charset::Utf7) => utf7.decode(bytes).0,
            _ => String::from_utf8_lossy(bytes).into_owned(),
        },
    }
}

#[cfg(test)]
mod empty_value_tests {
    use super::*;

    #[test]
    fn an_empty_value_with_a_long_name_is_kept() {
        let name = "n".repeat(80);
        assert_eq!(param_pieces(&name, ""), vec![format!("{name}=\"\"")]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_agree_with_the_byte_table() {
        for b in 0..=255u8 {
            for len in [1, 8, 9, 17, 33] {
                for at in [0, len / 2, len - 1] {
                    for filler in [b'a', b'=', 0x1f] {
                        let mut bytes = vec![filler; len];
                        bytes[at] = b;
                        let words = Words::of(&bytes);
                        let every = |c: u8| bytes.iter().all(|&x| class(x) & c != 0);
                        let some = |c: u8| bytes.iter().any(|&x| class(x) & c != 0);
                        assert_eq!(words.printable, every(PRINTABLE), "{bytes:?}");
                        assert_eq!(words.quote_or_backslash, some(ESCAPED), "{bytes:?}");
                        assert_eq!(words.question_mark, some(QUESTION_MARK), "{bytes:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn the_byte_table_agrees_with_the_character_rules() {
        for b in 0..=255u8 {
            let c = char::from(b);
            assert_eq!(is_token_byte(b), is_token_char(c), "{b}");
            assert_eq!(is_name_byte(b), is_name_char(c), "{b}");
            assert_eq!(class(b) & PRINTABLE != 0, (0x20..0x7f).contains(&b), "{b}");
            assert_eq!(class(b) & ESCAPED != 0, c == '"' || c == '\\', "{b}");
        }
    }

    fn raw(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        raw(list)
    }

    /// Parses pieces as a header reader would: split at the first `=`,
    /// unquote quoted-strings.
    fn reparse(pieces: &[String]) -> Vec<(String, String)> {
        pieces
            .iter()
            .map(|p| {
                let (name, value) = p.split_once('=').unwrap();
                let value = if let Some(inner) =
                    value.strip_prefix('"').and_then(|v| v.strip_suffix('"'))
                {
                    let mut out = String::new();
                    let mut chars = inner.chars();
                    while let Some(c) = chars.next() {
                        if c == '\\' {
                            out.push(chars.next().unwrap());
                        } else {
                            assert_ne!(c, '"', "unescaped quote in {p}");
                            out.push(c);
                        }
                    }
                    out
                } else {
                    assert!(is_token(value) || value.is_empty(), "bad bare value {p}");
                    value.to_string()
                };
                (name.to_string(), value)
            })
            .collect()
    }

    fn round_trip(name: &str, value: &str) -> Vec<String> {
        let pieces = param_pieces(name, value);
        for p in &pieces {
            assert!(p.len() <= MAX_PIECE, "piece too long ({}): {p}", p.len());
            assert!(p.is_ascii(), "non-ASCII piece {p}");
            assert!(!p.bytes().any(|b| b.is_ascii_control()), "control in {p}");
        }
        let decoded = decode_params(&reparse(&pieces));
        assert_eq!(decoded, pairs(&[(&name.to_ascii_lowercase(), value)]));
        pieces
    }

    #[test]
    fn token_values_are_bare() {
        assert_eq!(param_pieces("charset", "utf-8"), ["charset=utf-8"]);
        assert_eq!(param_pieces("x", "a*b'c%d{}"), ["x=a*b'c%d{}"]);
    }

    #[test]
    fn tspecials_and_spaces_are_quoted() {
        assert_eq!(
            param_pieces("boundary", "=_part/1"),
            [r#"boundary="=_part/1""#]
        );
        assert_eq!(param_pieces("name", "a b"), [r#"name="a b""#]);
        assert_eq!(param_pieces("name", ""), [r#"name="""#]);
    }

    #[test]
    fn quotes_and_backslashes_are_escaped() {
        let pieces = round_trip("filename", r#"we said "hi" \ bye.txt"#);
        assert_eq!(pieces, [r#"filename="we said \"hi\" \\ bye.txt""#]);
    }

    #[test]
    fn long_quoted_value_with_escapes_round_trips() {
        let value = r#"a "quoted" \path\ "#.repeat(12);
        let pieces = round_trip("filename", &value);
        assert!(pieces.len() > 2);
        assert!(pieces[0].starts_with("filename*0=\""));
        assert!(pieces[1].starts_with("filename*1=\""));
    }

    #[test]
    fn long_ascii_filename_uses_plain_continuations() {
        let value: String = (0..200)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        let pieces = round_trip("filename", &value);
        // 65 characters fit after `filename*N=`.
        assert_eq!(pieces.len(), 4);
        assert_eq!(pieces[0].len(), 76);
        for (i, p) in pieces.iter().enumerate() {
            assert!(p.starts_with(&format!("filename*{i}=")), "{p}");
            assert!(!p.contains("*="), "{p}");
        }
        let spaced = format!("{} with spaces.txt", "long name ".repeat(20));
        let pieces = round_trip("filename", &spaced);
        assert!(pieces.iter().all(|p| p.contains("=\"")));
    }

    #[test]
    fn non_ascii_uses_extended_notation() {
        assert_eq!(
            param_pieces("filename", "naïve file.txt"),
            ["filename*=utf-8''na%C3%AFve%20file.txt"]
        );
        round_trip("filename", "naïve file.txt");
    }

    #[test]
    fn control_characters_use_extended_notation() {
        assert_eq!(param_pieces("name", "a\tb"), ["name*=utf-8''a%09b"]);
        assert_eq!(param_pieces("name", "a\r\nb"), ["name*=utf-8''a%0D%0Ab"]);
        assert_eq!(param_pieces("name", "\u{7f}"), ["name*=utf-8''%7F"]);
        round_trip("name", "line\r\nbreak\0nul");
    }

    #[test]
    fn long_japanese_filename_round_trips() {
        let value = "日本語のとても長いファイル名の添付書類です_令和六年度報告書_最終版.pdf";
        let pieces = round_trip("filename", value);
        assert!(pieces.len() > 3);
        assert!(pieces[0].starts_with("filename*0*=utf-8''"));
        for (i, p) in pieces.iter().enumerate().skip(1) {
            assert!(p.starts_with(&format!("filename*{i}*=")), "{p}");
        }
        // Each segment decodes to whole characters: none is split.
        for p in &pieces {
            let data = p.rsplit('=').next().unwrap().trim_start_matches("utf-8''");
            let mut bytes = Vec::new();
            percent_decode(data, &mut bytes);
            assert!(String::from_utf8(bytes).is_ok(), "split character in {p}");
        }
    }

    #[test]
    fn emoji_and_mixed_scripts_round_trip() {
        round_trip("filename", &"😀 ünïcødé Ελληνικά ".repeat(10));
        round_trip("title", "é");
        round_trip("Title", "plain");
    }

    #[test]
    fn every_piece_fits_for_many_lengths() {
        for len in 0..300 {
            round_trip("filename", &"x".repeat(len));
            round_trip("filename", &"é".repeat(len));
            round_trip("filename", &"a\"".repeat(len / 2));
            round_trip("filename", &"ab cd".repeat(len / 5));
        }
    }

    #[test]
    fn random_values_round_trip() {
        const CHARS: &[char] = &[
            'a', 'Z', '0', ' ', '"', '\\', ';', '=', '*', '\'', '%', '\t', '\r', '\n', '\0', 'é',
            'ß', '日', '😀', '\u{7f}', '\u{85}', '~', '(', '/',
        ];
        let mut x: u32 = 0x9e37_79b9;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as usize
        };
        for _ in 0..5_000 {
            let len = next() % 120;
            let value: String = (0..len).map(|_| CHARS[next() % CHARS.len()]).collect();
            round_trip("filename", &value);
        }
    }

    #[test]
    fn very_long_name_still_terminates_and_round_trips() {
        let name = "n".repeat(90);
        let pieces = param_pieces(&name, &"é".repeat(40));
        assert!(pieces.len() > 1);
        let decoded = decode_params(&reparse(&pieces));
        assert_eq!(decoded, pairs(&[(&name, &"é".repeat(40))]));
        let pieces = param_pieces(&name, &"x".repeat(40));
        assert_eq!(
            decode_params(&reparse(&pieces)),
            pairs(&[(&name, &"x".repeat(40))])
        );
    }

    #[test]
    fn bad_name_characters_are_dropped() {
        assert_eq!(param_pieces("file\r\nname", "x"), ["filename=x"]);
        assert_eq!(param_pieces("a*b", "x"), ["ab=x"]);
        assert!(param_pieces("\"*%", "x").is_empty());
        let mut out = String::new();
        write_param(";", "x", &mut out);
        assert_eq!(out, "");
    }

    #[test]
    fn write_param_appends_segments() {
        let mut out = String::from("text/plain");
        write_param("charset", "utf-8", &mut out);
        write_param("name", "é", &mut out);
        assert_eq!(out, "text/plain; charset=utf-8; name*=utf-8''%C3%A9");
    }

    #[test]
    fn out_of_order_missing_and_repeated_segments() {
        let raw = raw(&[
            ("name*2", "c"),
            ("name*0", "a"),
            ("name*3", "d"),
            ("name*0", "ignored"),
        ]);
        assert_eq!(decode_params(&raw), pairs(&[("name", "acd")]));
        let raw10 = raw_numbers(12);
        assert_eq!(decode_params(&raw10), pairs(&[("n", "abcdefghijkl")]));
    }

    fn raw_numbers(count: u8) -> Vec<(String, String)> {
        (0..count)
            .rev()
            .map(|i| (format!("n*{i}"), char::from(b'a' + i).to_string()))
            .collect()
    }

    #[test]
    fn character_split_across_segments() {
        let raw = raw(&[("f*0*", "utf-8''%E6%97"), ("f*1*", "%A5.txt")]);
        assert_eq!(decode_params(&raw), pairs(&[("f", "日.txt")]));
    }

    #[test]
    fn bad_percent_escapes_are_kept() {
        let raw = raw(&[("f*", "utf-8''100%_%4%zz%41%")]);
        assert_eq!(decode_params(&raw), pairs(&[("f", "100%_%4%zzA%")]));
    }

    #[test]
    fn charsets() {
        let raw = raw(&[
            ("a*", "iso-8859-1''caf%E9"),
            ("b*", "windows-1252'fr'%80%20%93q%94"),
            ("c*", "UTF-8''caf%C3%A9"),
            ("d*", "koi8-r''%C3%A9"),
            ("e*", "utf-8''%FF"),
            ("f*", "''%C3%A9"),
            ("g*", "%C3%A9 no charset"),
            ("h*", "UTF-7''%2BZeVnLIqe-%2B-"),
        ]);
        assert_eq!(
            decode_params(&raw),
            pairs(&[
                ("a", "café"),
                ("b", "€ “q”"),
                ("c", "café"),
                ("d", "é"),
                ("e", "\u{fffd}"),
                ("f", "é"),
                ("g", "é no charset"),
                ("h", "日本語+"),
            ])
        );
    }

    #[test]
    fn extended_wins_over_plain_and_first_plain_wins() {
        let raw = raw(&[
            ("filename", "fallback.txt"),
            ("FileName*", "utf-8''r%C3%A9el.txt"),
            ("charset", "first"),
            ("charset", "second"),
        ]);
        assert_eq!(
            decode_params(&raw),
            pairs(&[("filename", "réel.txt"), ("charset", "first")])
        );
        let raw = raw_plain_and_continued();
        assert_eq!(decode_params(&raw), pairs(&[("name", "long")]));
    }

    fn raw_plain_and_continued() -> Vec<(String, String)> {
        raw(&[("name", "short"), ("name*1", "ng"), ("name*0", "lo")])
    }

    #[test]
    fn odd_names_do_not_panic() {
        let raw = raw(&[
            ("*", "x"),
            ("**", "x"),
            ("*0*", "x"),
            ("a*99999999999999999999", "big"),
            ("a**", "y"),
            ("", "z"),
            (" Spaced ", "v"),
        ]);
        let out = decode_params(&raw);
        assert!(out.contains(&("spaced".to_string(), "v".to_string())));
        assert!(out.contains(&("a*99999999999999999999".to_string(), "big".to_string())));
    }
}
