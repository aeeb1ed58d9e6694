//! The DATA path: what the message bytes become on the wire.
//!
//! Every line ending is made CRLF (a bare CR or bare LF never reaches the
//! server, which closes the "SMTP smuggling" class of 2023), a `.` at the
//! start of a line is doubled (RFC 5321 §4.5.2), and the data ends with
//! `CRLF . CRLF`. It works on a stream: state carries across chunks, so the
//! message never has to be in memory whole.

/// Transforms message bytes for the DATA command, chunk by chunk.
///
/// ```
/// use postie_smtp::data::DataEncoder;
/// let mut enc = DataEncoder::new();
/// let mut out = Vec::new();
/// enc.encode(b"Subject: x\n\n.hidden\r", &mut out);
/// enc.encode(b"\nlast", &mut out);
/// enc.finish(&mut out);
/// assert_eq!(out, b"Subject: x\r\n\r\n..hidden\r\nlast\r\n.\r\n");
/// ```
#[derive(Clone, Debug)]
pub struct DataEncoder {
    at_line_start: bool,
    pending_cr: bool,
    stuff_dots: bool,
    /// A bare CR or LF was turned into CRLF.
    repaired: bool,
}

impl Default for DataEncoder {
    fn default() -> Self {
        Self::new()
    }
}

impl DataEncoder {
    /// An encoder at the start of the data.
    pub fn new() -> Self {
        Self {
            at_line_start: true,
            pending_cr: false,
            stuff_dots: true,
            repaired: false,
        }
    }

    /// Whether a bare CR or LF was turned into CRLF so far (a line break
    /// added at the very end does not count).
    pub fn repaired(&self) -> bool {
        self.repaired
    }

    /// An encoder that only repairs line endings (no dot-stuffing): what
    /// RFC 1870 counts as the message's size, and what `--dry-run` shows.
    pub fn line_endings_only() -> Self {
        Self {
            stuff_dots: false,
            ..Self::new()
        }
    }

    /// Appends the wire form of `input` to `out`.
    pub fn encode(&mut self, input: &[u8], out: &mut Vec<u8>) {
        if self.copy_if_clean(input, out) {
            return;
        }
        out.reserve(input.len() + input.len() / 64 + 2);
        let mut rest = input;
        while !rest.is_empty() {
            if self.pending_cr {
                self.pending_cr = false;
                self.end_line(out);
                if let Some(after) = rest.strip_prefix(b"\n") {
                    rest = after;
                    continue;
                }
                self.repaired = true;
            }
            // Copy the run up to the next CR or LF in one go.
            let run_end = memchr::memchr2(b'\r', b'\n', rest).unwrap_or(rest.len());
            let (run, tail) = rest.split_at(run_end);
            if let Some(&first) = run.first() {
                if self.at_line_start && first == b'.' && self.stuff_dots {
                    out.push(b'.');
                }
                out.extend_from_slice(run);
                self.at_line_start = false;
            }
            match tail.first() {
                Some(b'\r') => self.pending_cr = true,
                Some(_) => {
                    self.repaired = true;
                    self.end_line(out);
                }
                None => {}
            }
            rest = tail.get(1..).unwrap_or_default();
        }
    }

    /// The common case in one pass: a chunk whose line breaks are all CRLF
    /// and where no line starts with a dot needs no change, so it is checked
    /// pairwise (a loop the compiler vectorises) and copied whole. False
    /// when it needs the careful path.
    fn copy_if_clean(&mut self, input: &[u8], out: &mut Vec<u8>) -> bool {
        let (Some(&first), Some(&last)) = (input.first(), input.last()) else {
            return false;
        };
        if self.pending_cr
            || input.len() < 2
            || first == b'\n'
            || last == b'\r'
            || (self.at_line_start && first == b'.' && self.stuff_dots)
        {
            return false;
        }
        let stuff = self.stuff_dots;
        let pairs = input.iter().zip(input.get(1..).unwrap_or_default());
        let needs_work = pairs.fold(false, |found, (&a, &b)| {
            found
                | ((b == b'\n') & (a != b'\r'))
                | ((a == b'\r') & (b != b'\n'))
                | ((a == b'\n') & (b == b'.') & stuff)
        });
        if needs_work {
            return false;
        }
        out.extend_from_slice(input);
        self.at_line_start = last == b'\n';
        true
    }

    fn end_line(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"\r\n");
        self.at_line_start = true;
    }

    /// Ends the data: a CRLF if the last line lacked one, then `.` CRLF.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        self.finish_lines(out);
        out.extend_from_slice(b".\r\n");
    }

    /// Ends the data without the terminator: a CRLF if the last line
    /// lacked one.
    pub fn finish_lines(&mut self, out: &mut Vec<u8>) {
        if self.pending_cr {
            self.pending_cr = false;
            self.repaired = true;
            self.end_line(out);
        }
        if !self.at_line_start {
            self.end_line(out);
        }
    }
}

/// Frames the message for the body step of [`crate::proto::Delivery`]:
/// dot-stuffed with its terminator after DATA, or behind `BDAT <size>
/// LAST` with exactly `size` octets ([`crate::proto::Framing`]). Both
/// drivers use it, so the byte-exactness of BDAT is enforced in one place.
#[derive(Clone, Debug)]
pub struct BodyFramer {
    encoder: DataEncoder,
    /// For BDAT: the octets announced, and those framed so far.
    bdat: Option<(u64, u64)>,
}

impl BodyFramer {
    /// A framer for `framing`; for BDAT the command goes into `out` first.
    pub fn new(framing: Framing, out: &mut Vec<u8>) -> Self {
        match framing {
            Framing::Bdat { size } => {
                out.extend_from_slice(format!("BDAT {size} LAST\r\n").as_bytes());
                Self {
                    encoder: DataEncoder::line_endings_only(),
                    bdat: Some((size, 0)),
                }
            }
            _ => Self {
                encoder: DataEncoder::new(),
                bdat: None,
            },
        }
    }

    /// Appends the framed form of `input` to `out`.
    ///
    /// # Errors
    ///
    /// For BDAT, more octets than announced (the message changed since it
    /// was measured); `out` must then not be sent.
    pub fn encode(&mut self, input: &[u8], out: &mut Vec<u8>) -> std::io::Result<()> {
        let before = out.len();
        self.encoder.encode(input, out);
        self.count(out.len() - before)
    }

    /// Ends the body: the terminator after DATA; for BDAT a last CRLF if
    /// missing, and a check that exactly the announced octets went out.
    ///
    /// # Errors
    ///
    /// For BDAT, a count that differs from the one announced.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> std::io::Result<()> {
        let before = out.len();
        match self.bdat {
            Some(_) => {
                self.encoder.finish_lines(out);
                self.count(out.len() - before)?;
                match self.bdat {
                    Some((size, sent)) if sent != size => Err(changed(size, sent)),
                    _ => Ok(()),
                }
            }
            None => {
                self.encoder.finish(out);
                Ok(())
            }
        }
    }

    fn count(&mut self, added: usize) -> std::io::Result<()> {
        if let Some((size, sent)) = self.bdat.as_mut() {
            *sent += added as u64;
            if *sent > *size {
                return Err(changed(*size, *sent));
            }
        }
        Ok(())
    }
}

fn changed(size: u64, sent: u64) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!(
            "the message changed while it was sent: BDAT announced {size} octets, it has {sent}"
        ),
    )
}

/// How much input the encoders take at a time from one large write.
pub(crate) const SLICE: usize = 64 * 1024;

/// Counts the octets of a message as RFC 1870 defines its size: line
/// endings as CRLF, without dot-stuffing or the final `.` CRLF.
///
/// ```
/// use postie_smtp::data::SizeCounter;
/// let mut counter = SizeCounter::default();
/// counter.add(b"a\n.b");
/// assert_eq!(counter.finish(), 7); // "a\r\n.b\r\n"
/// ```
#[derive(Clone, Debug)]
pub struct SizeCounter {
    encoder: DataEncoder,
    total: u64,
    scratch: Vec<u8>,
    eight_bit: bool,
    nul: bool,
    /// Octets on the current line so far, and the longest line seen.
    line: u64,
    longest: u64,
}

impl Default for SizeCounter {
    fn default() -> Self {
        Self {
            encoder: DataEncoder::line_endings_only(),
            total: 0,
            scratch: Vec::new(),
            eight_bit: false,
            nul: false,
            line: 0,
            longest: 0,
        }
    }
}

impl SizeCounter {
    /// Counts another chunk.
    pub fn add(&mut self, input: &[u8]) {
        // In slices, so the scratch buffer stays small and in cache
        // whatever the size of one write.
        for slice in input.chunks(SLICE) {
            self.add_slice(slice);
        }
    }

    fn add_slice(&mut self, input: &[u8]) {
        self.eight_bit |= !input.is_ascii();
        self.scratch.clear();
        self.encoder.encode(input, &mut self.scratch);
        self.total += self.scratch.len() as u64;
        self.nul |= memchr::memchr(0, input).is_some();
        let mut start = 0;
        for at in memchr::memchr_iter(b'\n', &self.scratch) {
            // The CR before the LF is not part of the line.
            let line = self.line + (at - start).saturating_sub(1) as u64;
            self.longest = self.longest.max(line);
            self.line = 0;
            start = at + 1;
        }
        self.line += (self.scratch.len() - start) as u64;
        self.longest = self.longest.max(self.line);
    }

    /// Whether the message is binary: a NUL, or a line longer than the
    /// 998 octets RFC 5321 allows, so that neither DATA nor 8BITMIME can
    /// carry it as it is (only BINARYMIME can, RFC 3030).
    pub fn is_binary(&self) -> bool {
        self.nul || self.longest > 998
    }

    /// Whether a bare CR or LF had to be turned into CRLF: then the bytes
    /// sent are not the message's own, which BINARYMIME would need.
    pub fn repaired(&self) -> bool {
        self.encoder.repaired()
    }

    /// Whether any byte counted so far has the high bit set (the message
    /// then needs `BODY=8BITMIME`, RFC 6152).
    pub fn is_eight_bit(&self) -> bool {
        self.eight_bit
    }

    /// The size, a final CRLF included when the data lacked one.
    pub fn finish(mut self) -> u64 {
        self.scratch.clear();
        self.encoder.finish_lines(&mut self.scratch);
        self.total + self.scratch.len() as u64
    }
}

impl std::io::Write for SizeCounter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.add(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// How the driver frames the message at [`crate::proto::Step::WriteBody`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Framing {
    /// After DATA's 354: dot-stuffed through a
    /// [`DataEncoder`], ending with `CRLF . CRLF`.
    Data,
    /// `BDAT <size> LAST` CRLF, then exactly `size` octets: the message
    /// with its line endings made CRLF
    /// ([`DataEncoder::line_endings_only`] and `finish_lines`),
    /// not dot-stuffed. More or fewer octets than announced would leave the
    /// server reading data as commands (or commands as data): the driver
    /// must fail the body instead of sending them.
    Bdat {
        /// The octets announced.
        size: u64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(chunks: &[&[u8]]) -> Vec<u8> {
        let mut enc = DataEncoder::new();
        let mut out = Vec::new();
        for chunk in chunks {
            enc.encode(chunk, &mut out);
        }
        enc.finish(&mut out);
        out
    }

    #[test]
    fn smuggling_sequences_never_end_the_data_early() {
        for body in [
            &b"a\n.\nb"[..],
            b"a\r\n.\nb",
            b"a\n.\r\nb",
            b"a\r.\r\nb",
            b"a\r\n.\rb",
        ] {
            let out = wire(&[body]);
            let end = out.windows(5).position(|w| w == b"\r\n.\r\n").unwrap();
            assert_eq!(end + 5, out.len(), "{:?}", String::from_utf8_lossy(&out));
            // No CR or LF outside a CRLF pair.
            for (i, &b) in out.iter().enumerate() {
                if b == b'\r' {
                    assert_eq!(out.get(i + 1), Some(&b'\n'));
                }
                if b == b'\n' {
                    assert_eq!(out.get(i.wrapping_sub(1)), Some(&b'\r'));
                }
            }
        }
    }

    #[test]
    fn dots_are_stuffed_at_every_line_start_including_the_first() {
        assert_eq!(wire(&[b".a\r\n..b\r\nc.d"]), b"..a\r\n...b\r\nc.d\r\n.\r\n");
    }

    #[test]
    fn crlf_split_across_chunks_stays_one_line_break() {
        assert_eq!(wire(&[b"a\r", b"\n", b"b\r"]), b"a\r\nb\r\n.\r\n");
        assert_eq!(wire(&[b"a\r", b"\r\n"]), b"a\r\n\r\n.\r\n");
    }

    #[test]
    fn empty_data_is_just_the_terminator() {
        assert_eq!(wire(&[]), b".\r\n");
        assert_eq!(wire(&[b"x\r\n"]), b"x\r\n.\r\n");
    }

    #[test]
    fn chunking_does_not_change_the_output() {
        let input = b"l1\n.l2\r\r\nl3\r.l4\n\n.";
        let whole = wire(&[input]);
        for split in 0..input.len() {
            let (a, b) = input.split_at(split);
            assert_eq!(wire(&[a, b]), whole, "split at {split}");
        }
    }

    #[test]
    fn binary_and_repairs_are_noticed() {
        let mut counter = SizeCounter::default();
        counter.add(&[b'x'; 998]);
        counter.add(b"\r\nok\r\n");
        assert!(!counter.is_binary() && !counter.repaired());
        counter.add(&[b'y'; 500]);
        counter.add(&[b'y'; 499]);
        assert!(counter.is_binary(), "a line of 999 octets across chunks");
        let mut counter = SizeCounter::default();
        counter.add(b"a\0b\r\n");
        assert!(counter.is_binary());
        let mut counter = SizeCounter::default();
        counter.add(b"a\r");
        counter.add(b"\nb\n");
        assert!(counter.repaired(), "the bare LF after b");
        let mut counter = SizeCounter::default();
        counter.add(b"a\r");
        counter.add(b"\nb");
        assert!(
            !counter.repaired(),
            "a split CRLF and a missing last one are no repair"
        );
    }

    #[test]
    fn size_counts_crlf_but_not_stuffing() {
        let mut counter = SizeCounter::default();
        counter.add(b".a\nb");
        assert_eq!(counter.finish(), 7);
    }

    #[test]
    fn bdat_framing_sends_exactly_what_it_announced() {
        use crate::proto::Framing;
        let mut out = Vec::new();
        let mut framer = BodyFramer::new(Framing::Bdat { size: 10 }, &mut out);
        framer.encode(b".a\nb", &mut out).unwrap();
        framer.encode(b"\r\nc", &mut out).unwrap();
        framer.finish(&mut out).unwrap();
        assert_eq!(out, b"BDAT 10 LAST\r\n.a\r\nb\r\nc\r\n");

        // More than announced: refused before it could be sent.
        let mut out = Vec::new();
        let mut framer = BodyFramer::new(Framing::Bdat { size: 3 }, &mut out);
        let err = framer.encode(b"abcd", &mut out).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
        // Fewer: refused at the end.
        let mut out = Vec::new();
        let mut framer = BodyFramer::new(Framing::Bdat { size: 10 }, &mut out);
        framer.encode(b"abc\r\n", &mut out).unwrap();
        assert!(framer.finish(&mut out).is_err());
        // DATA framing is the dot-stuffing encoder.
        let mut out = Vec::new();
        let mut framer = BodyFramer::new(Framing::Data, &mut out);
        framer.encode(b".x", &mut out).unwrap();
        framer.finish(&mut out).unwrap();
        assert_eq!(out, b"..x\r\n.\r\n");
    }

    /// The encoder (its one-pass copy of clean chunks included) against a
    /// plain reference, on every input of up to 7 bytes over the characters
    /// that matter, whole and cut in two everywhere.
    #[test]
    fn every_short_input_matches_the_reference() {
        fn reference(input: &[u8]) -> Vec<u8> {
            let mut lines: Vec<Vec<u8>> = vec![Vec::new()];
            let mut i = 0;
            while let Some(&b) = input.get(i) {
                match b {
                    b'\r' if input.get(i + 1) == Some(&b'\n') => {
                        lines.push(Vec::new());
                        i += 1;
                    }
                    b'\r' | b'\n' => lines.push(Vec::new()),
                    _ => lines.last_mut().unwrap().push(b),
                }
                i += 1;
            }
            if lines.last().is_some_and(Vec::is_empty) {
                lines.pop();
            }
            let mut out = Vec::new();
            for line in lines {
                if line.first() == Some(&b'.') {
                    out.push(b'.');
                }
                out.extend_from_slice(&line);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b".\r\n");
            out
        }
        let alphabet = [b'a', b'.', b'\r', b'\n'];
        for len in 0..=7u32 {
            for n in 0..4usize.pow(len) {
                let input: Vec<u8> = (0..len).map(|k| alphabet[n / 4usize.pow(k) % 4]).collect();
                let want = reference(&input);
                assert_eq!(wire(&[&input]), want, "{input:?}");
                for cut in 0..input.len() {
                    let (a, b) = input.split_at(cut);
                    assert_eq!(wire(&[a, b]), want, "{input:?} cut at {cut}");
                }
            }
        }
    }
}
