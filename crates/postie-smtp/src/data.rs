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
        }
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
            }
            // Copy the run up to the next CR or LF in one go.
            let run_end = rest
                .iter()
                .position(|&b| b == b'\r' || b == b'\n')
                .unwrap_or(rest.len());
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
                Some(_) => self.end_line(out),
                None => {}
            }
            rest = tail.get(1..).unwrap_or_default();
        }
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
            self.end_line(out);
        }
        if !self.at_line_start {
            self.end_line(out);
        }
    }
}

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
}

impl Default for SizeCounter {
    fn default() -> Self {
        Self {
            encoder: DataEncoder::line_endings_only(),
            total: 0,
            scratch: Vec::new(),
            eight_bit: false,
        }
    }
}

impl SizeCounter {
    /// Counts another chunk.
    pub fn add(&mut self, input: &[u8]) {
        self.eight_bit |= !input.is_ascii();
        self.scratch.clear();
        self.encoder.encode(input, &mut self.scratch);
        self.total += self.scratch.len() as u64;
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
    fn size_counts_crlf_but_not_stuffing() {
        let mut counter = SizeCounter::default();
        counter.add(b".a\nb");
        assert_eq!(counter.finish(), 7);
    }
}
