//! DKIM canonicalization (RFC 6376 §3.4): the header fields a signature
//! covers, and the body, streamed through a hash.
//!
//! The body canonicalizer is a byte machine, so a 50 MiB attachment is
//! hashed in one pass and bounded memory, whatever its line lengths and
//! however the chunks fall.

use aws_lc_rs::digest;

pub use crate::settings::Canonicalization;

/// One header field as written: its name, and the whole field (name,
/// colon, value, folding) with its closing CRLF.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Field<'a> {
    pub(crate) name: &'a str,
    pub(crate) raw: &'a [u8],
}

/// The fields of a header section (up to, not including, the empty line
/// that ends it), in order. A line that is no field is skipped: the writer
/// makes none, and a verifier would not count it either.
pub(crate) fn fields(section: &[u8]) -> Vec<Field<'_>> {
    let mut out: Vec<Field<'_>> = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < section.len() {
        let end = memchr::memchr(b'\n', &section[i..]).map_or(section.len(), |n| i + n + 1);
        let continues = matches!(section.get(end), Some(b' ' | b'\t'));
        if !continues {
            let raw = &section[start..end];
            if let Some(colon) = memchr::memchr(b':', raw) {
                if let Ok(name) = std::str::from_utf8(&raw[..colon]) {
                    let name = name.trim_end_matches([' ', '\t']);
                    if !name.is_empty() && !name.contains([' ', '\t']) {
                        out.push(Field { name, raw });
                    }
                }
            }
            start = end;
        }
        i = end;
    }
    out
}

/// `field` canonicalized, with its CRLF.
pub(crate) fn header(field: &[u8], canon: Canonicalization, out: &mut Vec<u8>) {
    match canon {
        Canonicalization::Simple => out.extend_from_slice(field),
        Canonicalization::Relaxed => {
            let colon = memchr::memchr(b':', field).unwrap_or(field.len());
            let name = trim_wsp_end(&field[..colon]);
            out.extend(name.iter().map(u8::to_ascii_lowercase));
            out.push(b':');
            relaxed_value(field.get(colon + 1..).unwrap_or_default(), out);
            out.extend_from_slice(b"\r\n");
        }
    }
}

/// A field's value under relaxed canonicalization: unfolded (CR and LF
/// dropped), each run of white space one space, none at either end.
/// Copied a word at a time.
pub(crate) fn relaxed_value(value: &[u8], out: &mut Vec<u8>) {
    let mut pending_space = false;
    let mut started = false;
    let mut rest = value;
    while !rest.is_empty() {
        let run = rest
            .iter()
            .position(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
            .unwrap_or(rest.len());
        if run > 0 {
            if pending_space {
                out.push(b' ');
                pending_space = false;
            }
            started = true;
            out.extend_from_slice(&rest[..run]);
        }
        match rest.get(run) {
            Some(b' ' | b'\t') => pending_space = started,
            Some(_) => {}
            None => break,
        }
        rest = &rest[run + 1..];
    }
}

fn trim_wsp_end(bytes: &[u8]) -> &[u8] {
    let end = bytes
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(0, |i| i + 1);
    &bytes[..end]
}

/// The header fields `names` select (RFC 6376 §5.4.2): for each name, the
/// last instance not yet taken, from the bottom up; a name with none left
/// selects nothing (which is how over-signing works). Canonicalized, each
/// with its CRLF, in `names`' order.
pub(crate) fn selected(
    fields: &[Field<'_>],
    names: &[impl AsRef<str>],
    canon: Canonicalization,
) -> Vec<u8> {
    let mut taken = vec![false; fields.len()];
    let mut out = Vec::with_capacity(1024);
    for name in names {
        let found = (0..fields.len())
            .rev()
            .find(|&i| !taken[i] && fields[i].name.eq_ignore_ascii_case(name.as_ref()));
        if let Some(i) = found {
            taken[i] = true;
            header(fields[i].raw, canon, &mut out);
        }
    }
    out
}

/// How much canonical body is gathered before it is hashed: one call into
/// the hash per line would cost more than the hashing.
const BUF_SIZE: usize = 8 * 1024;

/// The body, canonicalized as it streams by and hashed with SHA-256.
pub(crate) struct BodyHasher {
    canon: Canonicalization,
    hash: digest::Context,
    /// A CR waiting to see whether an LF follows.
    pending_cr: bool,
    /// White space seen in the line and not yet written (relaxed).
    pending_wsp: bool,
    /// Line breaks owed: written only before more content, so that the
    /// body's trailing empty lines are dropped.
    owed_crlf: usize,
    /// Whether the current line has had content.
    line_has_content: bool,
    /// Whether anything at all was hashed.
    any: bool,
    buf: Vec<u8>,
    /// How many canonical bytes to hash at most (a verifier's `l=`).
    limit: Option<u64>,
    /// How many canonical bytes there were (hashed or not).
    length: u64,
}

impl BodyHasher {
    pub(crate) fn new(canon: Canonicalization) -> Self {
        Self {
            canon,
            hash: digest::Context::new(&digest::SHA256),
            pending_cr: false,
            pending_wsp: false,
            owed_crlf: 0,
            line_has_content: false,
            any: false,
            buf: Vec::with_capacity(BUF_SIZE),
            limit: None,
            length: 0,
        }
    }

    /// A hasher of only the first `limit` canonical bytes (a signature's
    /// `l=`); [`BodyHasher::finish_counted`] still counts them all.
    pub(crate) fn with_limit(canon: Canonicalization, limit: Option<u64>) -> Self {
        Self {
            limit,
            ..Self::new(canon)
        }
    }

    /// More of the body. The canonical body differs from the body only
    /// where white space is reduced (relaxed) and at its end (trailing
    /// empty lines), so runs free of such white space are copied whole,
    /// line breaks and all; only the bytes around them are looked at one
    /// by one.
    pub(crate) fn update(&mut self, bytes: &[u8]) {
        let mut rest = bytes;
        while let Some(&first) = rest.first() {
            if self.pending_cr {
                self.pending_cr = false;
                if first == b'\n' {
                    self.end_line();
                    rest = &rest[1..];
                    continue;
                }
                // A CR alone is data.
                self.content(b"\r");
            }
            if self.pending_wsp {
                // Relaxed: white space waits to learn whether its line ends.
                match first {
                    b' ' | b'\t' => {
                        rest = &rest[1..];
                        continue;
                    }
                    b'\r' => {
                        self.pending_cr = true;
                        rest = &rest[1..];
                        continue;
                    }
                    _ => {}
                }
            }
            let run = match self.canon {
                Canonicalization::Simple => rest.len(),
                Canonicalization::Relaxed => ordinary_run(rest),
            };
            if run > 0 {
                self.lines(&rest[..run]);
                rest = &rest[run..];
            } else {
                // White space that relaxed canonicalization changes.
                self.pending_wsp = true;
                rest = &rest[1..];
            }
        }
    }

    /// `run`, bytes whose canonical form is themselves except for line
    /// breaks at its end, which are owed until more content comes.
    fn lines(&mut self, run: &[u8]) {
        let mut end = run.len();
        let cr_at_end = run.ends_with(b"\r");
        if cr_at_end {
            end -= 1;
        }
        let mut breaks = 0;
        while run[..end].ends_with(b"\r\n") {
            end -= 2;
            breaks += 1;
        }
        if end > 0 {
            self.content(&run[..end]);
        }
        for _ in 0..breaks {
            self.end_line();
        }
        self.pending_cr = cr_at_end;
    }

    /// `run`, content (ending in none of the line breaks it may hold),
    /// after the line breaks and the space it is owed.
    fn content(&mut self, run: &[u8]) {
        // Many empty lines before this content must not grow the buffer
        // past its size.
        for _ in 0..self.owed_crlf {
            self.buf.extend_from_slice(b"\r\n");
            if self.buf.len() >= BUF_SIZE {
                self.flush();
            }
        }
        self.owed_crlf = 0;
        if self.pending_wsp {
            self.buf.push(b' ');
            self.pending_wsp = false;
        }
        if run.len() >= BUF_SIZE / 2 {
            // A long run goes to the hash without a copy.
            self.flush();
            self.hash(run);
        } else {
            self.buf.extend_from_slice(run);
            if self.buf.len() >= BUF_SIZE {
                self.flush();
            }
        }
        self.line_has_content = true;
        self.any = true;
    }

    fn end_line(&mut self) {
        // Relaxed: white space at the end of a line goes.
        self.pending_wsp = false;
        self.owed_crlf += 1;
        self.line_has_content = false;
    }

    fn flush(&mut self) {
        let buf = std::mem::take(&mut self.buf);
        self.hash(&buf);
        self.buf = buf;
        self.buf.clear();
    }

    /// Canonical bytes, hashed up to the limit and counted.
    fn hash(&mut self, bytes: &[u8]) {
        let take = match self.limit {
            Some(limit) => {
                let left = limit.saturating_sub(self.length);
                usize::try_from(left).map_or(bytes.len(), |left| left.min(bytes.len()))
            }
            None => bytes.len(),
        };
        self.hash.update(&bytes[..take]);
        self.length += bytes.len() as u64;
    }

    /// The body hash (`bh=`). A last line without its CRLF gets one; the
    /// body's trailing empty lines are dropped; an empty body is "" with
    /// relaxed and one CRLF with simple.
    pub(crate) fn finish(self) -> digest::Digest {
        self.finish_counted().0
    }

    /// The body hash, and the length of the whole canonical body (which
    /// is more than was hashed when a limit cut it).
    pub(crate) fn finish_counted(mut self) -> (digest::Digest, u64) {
        if self.pending_cr {
            self.pending_cr = false;
            self.content(b"\r");
        }
        // A last line (with or without its CRLF) ends in one CRLF; so does
        // an empty body under simple, and nothing else is added.
        let last_line = self.line_has_content || self.owed_crlf > 0 && self.any;
        let empty_simple = !self.any && self.canon == Canonicalization::Simple;
        if last_line || empty_simple {
            self.buf.extend_from_slice(b"\r\n");
        }
        self.flush();
        (self.hash.finish(), self.length)
    }
}

/// Two spaces in a row, searched once per line: the searcher is built
/// once (building it per search cost more than the search).
static DOUBLE_SPACE: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
    std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b"  "));

/// How long a prefix of `bytes` relaxed canonicalization leaves as it
/// is: up to a tab, two spaces in a row, or a space that is last or before
/// a CR (it may end its line). Single spaces between words and line breaks
/// are ordinary, so the search goes a line at a time, not a word.
fn ordinary_run(bytes: &[u8]) -> usize {
    let mut from = 0;
    loop {
        let stop = memchr::memchr2(b'\t', b'\r', &bytes[from..]).map_or(bytes.len(), |i| from + i);
        if let Some(i) = DOUBLE_SPACE.find(&bytes[from..stop]) {
            return from + i;
        }
        // (bytes[from - 1], when there is one, is a CR.)
        if stop > from && bytes[stop - 1] == b' ' {
            return stop - 1;
        }
        if bytes.get(stop) != Some(&b'\r') {
            return stop;
        }
        from = stop + 1;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    /// What the canonicalizer hashes, for the tests: the same machine,
    /// writing to a buffer.
    fn body(canon: Canonicalization, input: &[u8], chunk: usize) -> Vec<u8> {
        // Recomputed through the hash: compare digests of the expected text.
        let mut hasher = BodyHasher::new(canon);
        for piece in input.chunks(chunk.max(1)) {
            hasher.update(piece);
        }
        hasher.finish().as_ref().to_vec()
    }

    fn sha(bytes: &[u8]) -> Vec<u8> {
        digest::digest(&digest::SHA256, bytes).as_ref().to_vec()
    }

    /// RFC 6376 §3.4.5's example, both ways.
    #[test]
    fn the_rfc_6376_example() {
        let section = b"A: X\r\nB : Y\t\r\n\tZ  \r\n";
        let fields = fields(section);
        let names = vec!["a".to_owned(), "b".to_owned()];
        assert_eq!(
            selected(&fields, &names, Canonicalization::Relaxed),
            b"a:X\r\nb:Y Z\r\n"
        );
        assert_eq!(
            selected(&fields, &names, Canonicalization::Simple),
            b"A: X\r\nB : Y\t\r\n\tZ  \r\n"
        );
        let input = b" C \r\nD \t E\r\n\r\n\r\n";
        for chunk in [1, 2, 3, 100] {
            assert_eq!(
                body(Canonicalization::Relaxed, input, chunk),
                sha(b" C\r\nD E\r\n")
            );
            assert_eq!(
                body(Canonicalization::Simple, input, chunk),
                sha(b" C \r\nD \t E\r\n")
            );
        }
    }

    #[test]
    fn empty_bodies_and_missing_final_line_breaks() {
        for chunk in [1, 5] {
            assert_eq!(body(Canonicalization::Relaxed, b"", chunk), sha(b""));
            assert_eq!(body(Canonicalization::Simple, b"", chunk), sha(b"\r\n"));
            assert_eq!(
                body(Canonicalization::Relaxed, b"\r\n\r\n", chunk),
                sha(b"")
            );
            assert_eq!(
                body(Canonicalization::Simple, b"\r\n\r\n", chunk),
                sha(b"\r\n")
            );
            assert_eq!(body(Canonicalization::Relaxed, b"x", chunk), sha(b"x\r\n"));
            assert_eq!(body(Canonicalization::Simple, b"x", chunk), sha(b"x\r\n"));
            // A line of white space is empty when relaxed.
            assert_eq!(
                body(Canonicalization::Relaxed, b"x\r\n \t \r\n", chunk),
                sha(b"x\r\n")
            );
            assert_eq!(
                body(Canonicalization::Simple, b"x\r\n \t \r\n", chunk),
                sha(b"x\r\n \t \r\n")
            );
            // Inner empty lines stay.
            assert_eq!(
                body(Canonicalization::Relaxed, b"a\r\n\r\nb\r\n", chunk),
                sha(b"a\r\n\r\nb\r\n")
            );
        }
    }

    #[test]
    fn a_limit_hashes_only_the_first_bytes_and_counts_them_all() {
        let input = b" C \r\nD \t E\r\n\r\n\r\n";
        for chunk in [1, 2, 3, 100] {
            for (limit, hashed) in [
                (0, &b""[..]),
                (5, b" C\r\nD"),
                (9, b" C\r\nD E\r\n"),
                (50, b" C\r\nD E\r\n"),
            ] {
                let mut hasher = BodyHasher::with_limit(Canonicalization::Relaxed, Some(limit));
                for piece in input.chunks(chunk) {
                    hasher.update(piece);
                }
                let (hash, length) = hasher.finish_counted();
                assert_eq!(hash.as_ref(), sha(hashed).as_slice(), "l={limit}");
                assert_eq!(length, 9);
            }
        }
    }

    /// RFC 6376 §3.4.3 and §3.4.4 read as plainly as possible, over the
    /// whole body at once: the reference the streaming hasher must match.
    fn reference(canon: Canonicalization, input: &[u8]) -> Vec<u8> {
        let mut lines: Vec<Vec<u8>> = Vec::new();
        let mut rest = input;
        while let Some(at) = rest.windows(2).position(|w| w == b"\r\n") {
            lines.push(rest[..at].to_vec());
            rest = &rest[at + 2..];
        }
        if !rest.is_empty() {
            lines.push(rest.to_vec());
        }
        if canon == Canonicalization::Relaxed {
            for line in &mut lines {
                let mut out = Vec::new();
                let mut wsp = false;
                for &b in line.iter() {
                    if b == b' ' || b == b'\t' {
                        wsp = true;
                    } else {
                        if wsp {
                            out.push(b' ');
                        }
                        wsp = false;
                        out.push(b);
                    }
                }
                *line = out;
            }
        }
        while lines.last().is_some_and(Vec::is_empty) {
            lines.pop();
        }
        if lines.is_empty() && canon == Canonicalization::Simple {
            return b"\r\n".to_vec();
        }
        lines
            .iter()
            .flat_map(|l| [l.as_slice(), b"\r\n"])
            .flatten()
            .copied()
            .collect()
    }

    proptest::proptest! {
        #[test]
        fn the_streaming_hasher_matches_the_plain_reading(
            input in proptest::collection::vec(
                proptest::sample::select(vec![b'a', b'b', b' ', b'\t', b'\r', b'\n']),
                0..80,
            ),
            chunk in 1usize..20,
            long in proptest::bool::ANY,
        ) {
            // Long runs too, which go to the hash without a copy.
            let input = if long {
                input.iter().flat_map(|&b| if b == b'a' { vec![b'a'; 5000] } else { vec![b] }).collect()
            } else {
                input
            };
            for canon in [Canonicalization::Relaxed, Canonicalization::Simple] {
                proptest::prop_assert_eq!(
                    body(canon, &input, chunk),
                    sha(&reference(canon, &input)),
                    "{:?} {:?}", canon, String::from_utf8_lossy(&input)
                );
            }
        }
    }

    #[test]
    fn selection_takes_the_last_instance_first_and_over_signs() {
        let section = b"Received: one\r\nFrom: a@x\r\nReceived: two\r\n";
        let fields = fields(section);
        let names: Vec<String> = ["received", "received", "from", "from"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        assert_eq!(
            selected(&fields, &names, Canonicalization::Relaxed),
            b"received:two\r\nreceived:one\r\nfrom:a@x\r\n"
        );
    }
}
