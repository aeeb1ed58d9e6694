//! Quoted-printable (RFC 2045 §6.7) for bodies: the encoder the writer
//! uses and the one decoder behind [`decode`], `decode_transfer` and the
//! streaming `TransferDecoder` (crate::decode).
//!
//! The encoder fixes what tcllib's gets wrong: a line holding only `.` stays a
//! line of its own (and a leading `.` is written `=2E`, so even a transport
//! that forgets dot-stuffing cannot end the data early), every control byte
//! (0x1F included) is escaped, white space at the end of a line is escaped,
//! and encoded lines never pass 76 characters, soft break included.

/// Longest encoded line, the `=` of a soft break included (RFC 2045).
const MAX_LINE: usize = 76;

/// Encodes `input`, whose line breaks are CRLF, appending to `out`. CRLF in
/// the input stays a hard line break; a CR or LF alone is encoded as `=0D` or
/// `=0A`, since it is data, not a line break.
///
/// ```
/// use postie_mime::quoted_printable::encode;
/// let mut out = Vec::new();
/// encode("caf\u{e9} \r\n.\r\n".as_bytes(), &mut out);
/// assert_eq!(out, b"caf=C3=A9=20\r\n=2E\r\n");
/// ```
pub fn encode(input: &[u8], out: &mut Vec<u8>) {
    let mut encoder = Encoder::default();
    encoder.push(input, out);
    encoder.finish(out);
}

/// Longest stretch of a line held back while streaming: past it, all but
/// the last byte is encoded (only a line's last byte needs to know that it
/// is last).
const MAX_PENDING: usize = 8 * 1024;

/// A streaming quoted-printable encoder: input in chunks of any size, CRLF
/// pairs split across chunks included; memory bounded by a line stretch.
///
/// ```
/// use postie_mime::quoted_printable::{encode, Encoder};
/// let input = "Grüße \r\n.\r\nend".as_bytes();
/// let mut whole = Vec::new();
/// encode(input, &mut whole);
/// let mut streamed = Vec::new();
/// let mut encoder = Encoder::default();
/// for chunk in input.chunks(3) {
///     encoder.push(chunk, &mut streamed);
/// }
/// encoder.finish(&mut streamed);
/// assert_eq!(streamed, whole);
/// ```
#[derive(Clone, Debug, Default)]
pub struct Encoder {
    pending: Vec<u8>,
    column: usize,
}

impl Encoder {
    /// Encodes what it can of `input`, appending to `out`.
    pub fn push(&mut self, input: &[u8], out: &mut Vec<u8>) {
        self.pending.extend_from_slice(input);
        let mut start = 0;
        while let Some(end) = self.pending.get(start..).and_then(find_crlf) {
            let line_end = start + end;
            let line = self.pending.get(start..line_end).unwrap_or_default();
            encode_bytes(line, out, &mut self.column, true);
            out.extend_from_slice(b"\r\n");
            self.column = 0;
            start = line_end + 2;
        }
        self.pending.drain(..start);
        if self.pending.len() > MAX_PENDING {
            // Keep the last byte (it may end the line, or be the CR of a
            // CRLF that the next chunk completes).
            let keep = if self.pending.ends_with(b"\r") { 2 } else { 1 };
            let cut = self.pending.len().saturating_sub(keep);
            let head = self.pending.get(..cut).unwrap_or_default();
            encode_bytes(head, out, &mut self.column, false);
            self.pending.drain(..cut);
        }
    }

    /// Encodes the rest: the last line, without a line break after it.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        let rest = std::mem::take(&mut self.pending);
        encode_bytes(&rest, out, &mut self.column, true);
        self.column = 0;
    }
}

fn find_crlf(bytes: &[u8]) -> Option<usize> {
    bytes.windows(2).position(|pair| pair == b"\r\n")
}

/// Encodes bytes of one line (no CRLF inside; a lone CR or LF is data)
/// from `column` on. `ends_line` says whether the last byte ends the line,
/// where white space must be escaped.
fn encode_bytes(line: &[u8], out: &mut Vec<u8>, column: &mut usize, ends_line: bool) {
    for (i, &byte) in line.iter().enumerate() {
        let is_last = ends_line && i + 1 == line.len();
        let mut literal = match byte {
            b' ' | b'\t' => !is_last,
            33..=126 => byte != b'=',
            _ => false,
        };
        let width = if literal { 1 } else { 3 };
        // Keep room for the '=' of a soft break, except for the line's last
        // token, which may use the last column.
        let limit = if is_last { MAX_LINE } else { MAX_LINE - 1 };
        if *column + width > limit {
            out.extend_from_slice(b"=\r\n");
            *column = 0;
        }
        if *column == 0 && byte == b'.' {
            literal = false;
        }
        if literal {
            out.push(byte);
            *column += 1;
        } else {
            push_escaped(byte, out);
            *column += 3;
        }
    }
}

fn push_escaped(byte: u8, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push(b'=');
    out.push(HEX[usize::from(byte >> 4)]);
    out.push(HEX[usize::from(byte & 0x0f)]);
}

/// Decodes quoted-printable by the rules of RFC 2045 §6.7, tolerantly:
///
/// 1. `=XY` with two hex digits is the byte XY (lower-case digits are read
///    too); a `=` that starts neither this nor a soft line break is kept as
///    it is written, as the RFC advises a robust decoder to do.
/// 2. Other bytes stand for themselves.
/// 3. White space (space, tab) at the end of a line is transport padding
///    and deleted.
/// 4. Line breaks, CRLF or LF alone, are kept as they are; a CR not
///    followed by LF is data.
/// 5. A `=` that ends a line (once the padding after it is deleted) is a
///    soft line break: it and the line break go. A `=` that ends the data
///    is one too.
///
/// The output is never longer than the input.
///
/// ```
/// use postie_mime::quoted_printable::decode;
/// assert_eq!(decode(b"caf=C3=A9=\r\n!"), "caf\u{e9}!".as_bytes());
/// assert_eq!(decode(b"soft = \r\nbreak  \r\n=zz"), b"soft break\r\n=zz");
/// ```
pub fn decode(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    for (content, ending) in Lines::new(input) {
        let content = trim_end_white_space(content);
        let mut i = 0;
        let mut soft = false;
        while let Some(&byte) = content.get(i) {
            if byte != b'=' {
                out.push(byte);
                i += 1;
                continue;
            }
            if let Some(value) = content.get(i + 1..i + 3).and_then(hex_pair) {
                out.push(value);
                i += 3;
            } else if i + 1 == content.len() {
                soft = true;
                i += 1;
            } else {
                out.push(b'=');
                i += 1;
            }
        }
        if !soft {
            out.extend_from_slice(ending);
        }
    }
    out
}

/// Whether `input` holds a `=` that [`decode`] keeps as written: one that
/// starts neither `=XY` nor a soft line break.
pub(crate) fn is_malformed(input: &[u8]) -> bool {
    Lines::new(input).any(|(content, _)| {
        let content = trim_end_white_space(content);
        let mut i = 0;
        while let Some(&byte) = content.get(i) {
            if byte == b'=' {
                if content.get(i + 1..i + 3).and_then(hex_pair).is_some() {
                    i += 3;
                    continue;
                }
                if i + 1 != content.len() {
                    return true;
                }
            }
            i += 1;
        }
        false
    })
}

fn hex_pair(pair: &[u8]) -> Option<u8> {
    let digit = |b: u8| (b as char).to_digit(16);
    match pair {
        [hi, lo] => Some(u8::try_from(digit(*hi)? * 16 + digit(*lo)?).ok()?),
        _ => None,
    }
}

fn trim_end_white_space(mut line: &[u8]) -> &[u8] {
    while let Some((&last, rest)) = line.split_last() {
        if last == b' ' || last == b'\t' {
            line = rest;
        } else {
            break;
        }
    }
    line
}

/// The lines of encoded data, each as its content and its line break
/// (`\r\n`, `\n`, or nothing for a last line without one).
struct Lines<'a> {
    rest: &'a [u8],
}

impl<'a> Lines<'a> {
    fn new(input: &'a [u8]) -> Self {
        Self { rest: input }
    }
}

impl<'a> Iterator for Lines<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let rest = self.rest;
        match rest.iter().position(|&b| b == b'\n') {
            Some(lf) => {
                let content_end = if lf > 0 && rest.get(lf - 1) == Some(&b'\r') {
                    lf - 1
                } else {
                    lf
                };
                self.rest = rest.get(lf + 1..).unwrap_or_default();
                Some((
                    rest.get(..content_end).unwrap_or_default(),
                    rest.get(content_end..=lf).unwrap_or_default(),
                ))
            }
            None => {
                self.rest = &[];
                Some((rest, &[]))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(input: &str) -> String {
        let mut out = Vec::new();
        encode(input.as_bytes(), &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn plain_ascii_is_unchanged() {
        assert_eq!(enc("Hello\r\nworld"), "Hello\r\nworld");
    }

    #[test]
    fn lone_dot_line_stays_a_line_and_is_escaped() {
        assert_eq!(enc("a\r\n.\r\nb\r\n"), "a\r\n=2E\r\nb\r\n");
        assert_eq!(enc(".leading"), "=2Eleading");
    }

    #[test]
    fn controls_equals_and_trailing_space_are_escaped() {
        assert_eq!(enc("a\x1fb=c \r\nd\t"), "a=1Fb=3Dc=20\r\nd=09");
    }

    #[test]
    fn lone_cr_and_lf_are_data() {
        assert_eq!(enc("a\rb\nc"), "a=0Db=0Ac");
        assert_eq!(decode(enc("a\rb\nc \n").as_bytes()), b"a\rb\nc \n");
    }

    #[test]
    fn long_lines_get_soft_breaks_within_76() {
        let input = "é".repeat(100) + " " + &"x".repeat(200);
        let encoded = enc(&input);
        for line in encoded.split("\r\n") {
            assert!(line.len() <= 76, "{} chars: {line}", line.len());
        }
        assert_eq!(decode(encoded.as_bytes()), input.as_bytes());
    }

    #[test]
    fn exactly_76_fits_without_soft_break() {
        let line = "y".repeat(76);
        assert_eq!(enc(&line), line);
        let line77 = "y".repeat(77);
        assert_eq!(enc(&line77), format!("{}=\r\nyy", "y".repeat(75)));
    }

    #[test]
    fn streaming_in_any_chunks_matches_the_whole() {
        let input: Vec<u8> = "line one  \r\n.\r\nGrüße\r"
            .bytes()
            .chain((0..=255u8).cycle().take(20_000))
            .collect();
        let mut whole = Vec::new();
        encode(&input, &mut whole);
        for size in [1, 2, 3, 7, 64, 1000, 9000] {
            let mut streamed = Vec::new();
            let mut encoder = Encoder::default();
            for chunk in input.chunks(size) {
                encoder.push(chunk, &mut streamed);
            }
            encoder.finish(&mut streamed);
            assert_eq!(streamed, whole, "chunks of {size}");
        }
    }

    #[test]
    fn soft_breaks_after_trailing_white_space() {
        // RFC 2045 §6.7 (3): white space may stand between `=` and the
        // line break; once it is deleted the `=` ends the line.
        assert_eq!(decode(b"a= \t\r\nb"), b"ab");
        assert_eq!(decode(b"a=  \nb"), b"ab");
        assert_eq!(decode(b"a=\nb=\r\nc"), b"abc");
    }

    #[test]
    fn trailing_white_space_is_transport_padding() {
        // RFC 2045 §6.7 (3): deleted on decoding; `=20` and `=09` stay.
        assert_eq!(decode(b"x  \r\ny\t"), b"x\r\ny");
        assert_eq!(decode(b"x=20 \ny=09\t\r\n"), b"x \ny\t\r\n");
        assert_eq!(decode(b"in the middle  stays"), b"in the middle  stays");
    }

    #[test]
    fn malformed_equals_signs_stay_as_written() {
        assert_eq!(decode(b"a=zz=4"), b"a=zz=4");
        assert_eq!(decode(b"=4a=4A=3d"), b"JJ=");
        assert_eq!(decode(b"1 =\x00 2 =G1"), b"1 =\x00 2 =G1");
        // A `=` ending the data is a soft line break with nothing after it.
        assert_eq!(decode(b"no final line break="), b"no final line break");
    }

    #[test]
    fn line_breaks_are_kept_as_they_are() {
        assert_eq!(decode(b"a\r\nb\nc\rd"), b"a\r\nb\nc\rd");
    }

    #[test]
    fn round_trip_of_every_byte() {
        let input: Vec<u8> = (0..=255u8).cycle().take(2000).collect();
        let mut out = Vec::new();
        encode(&input, &mut out);
        assert_eq!(decode(&out), input);
        for line in out.split(|&b| b == b'\n') {
            assert!(line.len() <= 77);
        }
    }
}
