//! Base64 for bodies (RFC 2045 §6.8), streaming: [`Base64Writer`] encodes
//! whatever is written to it into CRLF-terminated lines of 76 characters,
//! [`encoded_len`] tells the exact size of that output in advance (for the
//! SMTP `SIZE` parameter) and [`decode_lenient`] reads base64 as mail in the
//! wild has it.
//!
//! ```
//! use std::io::Write;
//! use postie_mime::base64_stream::{decode_lenient, encoded_len, Base64Writer};
//!
//! let data = vec![0xA5u8; 100];
//! let mut w = Base64Writer::new(Vec::new());
//! w.write_all(&data[..10])?;
//! w.write_all(&data[10..])?;
//! let out = w.finish()?;
//! assert_eq!(out.len() as u64, encoded_len(100));
//! assert!(out.split(|&b| b == b'\n').all(|line| line.len() <= 77));
//! assert_eq!(decode_lenient(&out), data);
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io::{self, Write};

use encodify::base64::{Base64, LineEnding, STANDARD};

/// The body engine: standard alphabet, padded, lines of 76 characters each
/// ended by CRLF, the last one too. Its kernels wrap the lines as they
/// encode, so whole lines need no second pass to insert the CRLFs.
const BODY: Base64 = STANDARD.wrapped(LINE_OUT, LineEnding::CrLf);

/// Input bytes per full output line: 57 bytes make 76 characters.
const LINE_IN: usize = 57;
/// Characters per full output line, CRLF excluded.
const LINE_OUT: usize = 76;
/// A full output line with its CRLF.
const LINE_WITH_CRLF: usize = LINE_OUT + 2;
/// Full lines encoded per `write` call at most, which bounds the buffer.
const LINES_PER_CHUNK: usize = 512;
/// Input bytes taken per `write` call at most.
#[cfg(test)]
const CHUNK_IN: usize = LINE_IN * LINES_PER_CHUNK;
/// A streaming base64 encoder for message bodies.
///
/// Bytes written are encoded at once, except for at most two that wait for
/// a third to make a base64 quantum. The output is lines of exactly 76
/// characters, each ending in CRLF; [`Base64Writer::finish`] writes the
/// last, shorter line (padded with `=`) and its CRLF. Empty input gives
/// empty output. Output goes to the inner writer in large blocks.
///
/// [`Base64Writer::finish`] must be called: dropping the writer loses the
/// last line. After the inner writer fails, a later call reports the
/// failure again (output is kept buffered until it is written), as
/// [`std::io::BufWriter`] does.
///
/// ```
/// use std::io::Write;
/// use postie_mime::base64_stream::Base64Writer;
///
/// let mut w = Base64Writer::new(Vec::new());
/// w.write_all(b"hello, world")?;
/// assert_eq!(w.finish()?, b"aGVsbG8sIHdvcmxk\r\n");
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Base64Writer<W: Write> {
    inner: W,
    /// Input bytes waiting for a whole quantum (`pending_len` < 3 between
    /// calls).
    pending: [u8; 3],
    pending_len: usize,
    /// Characters already on the current output line: a multiple of 4,
    /// less than 76.
    column: usize,
    /// Encoded output; `buf[written..filled]` is not yet with `inner`.
    buf: Vec<u8>,
    filled: usize,
    written: usize,
    /// Input bytes encoded per round: whole lines, so the buffer can hold
    /// them with two lines to spare.
    chunk_in: usize,
}

impl<W: Write> Base64Writer<W> {
    /// An encoder writing to `inner`.
    pub fn new(inner: W) -> Self {
        Self::with_lines(inner, LINES_PER_CHUNK)
    }

    /// An encoder for about `input_len` bytes: its buffer is no larger than
    /// that needs (small parts do not pay for a 40 KiB buffer), never larger
    /// than the default.
    pub fn for_input_len(inner: W, input_len: usize) -> Self {
        Self::with_lines(inner, (input_len / LINE_IN + 1).min(LINES_PER_CHUNK))
    }

    fn with_lines(inner: W, lines: usize) -> Self {
        Self {
            inner,
            pending: [0; 3],
            pending_len: 0,
            column: 0,
            buf: vec![0; LINE_WITH_CRLF * (lines + 2)],
            filled: 0,
            written: 0,
            chunk_in: LINE_IN * lines,
        }
    }

    /// The inner writer. Output may still be buffered here.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    /// The inner writer, mutably. Writing to it directly mixes its output
    /// with the encoder's.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    /// Encodes the last one or two pending bytes (with `=` padding), ends
    /// the last line with CRLF, writes everything to the inner writer,
    /// flushes it and gives it back.
    ///
    /// # Errors
    ///
    /// Any error of the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.flush_buf()?;
        self.filled = 0;
        self.written = 0;
        if self.pending_len > 0 {
            let pending = self.pending;
            let tail = pending.get(..self.pending_len).unwrap_or_default();
            let dst = self.buf.get_mut(..4).ok_or_else(overflow)?;
            STANDARD.encode_slice(tail, dst).map_err(|_| overflow())?;
            self.filled = 4;
            self.column += 4;
            self.pending_len = 0;
        }
        if self.column > 0 {
            self.push_crlf()?;
        }
        self.flush_buf()?;
        self.inner.flush()?;
        Ok(self.inner)
    }

    /// Writes `buf[written..filled]` to the inner writer, retrying on
    /// `Interrupted`.
    fn flush_buf(&mut self) -> io::Result<()> {
        while self.written < self.filled {
            let data = self
                .buf
                .get(self.written..self.filled)
                .ok_or_else(overflow)?;
            match self.inner.write(data) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        "failed to write base64 output",
                    ))
                }
                Ok(n) => self.written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.filled = 0;
        self.written = 0;
        Ok(())
    }

    fn push_crlf(&mut self) -> io::Result<()> {
        let dst = self
            .buf
            .get_mut(self.filled..self.filled + 2)
            .ok_or_else(overflow)?;
        dst.copy_from_slice(b"\r\n");
        self.filled += 2;
        self.column = 0;
        Ok(())
    }

    /// Encodes `input` (a multiple of 3 bytes that fits on the current
    /// line) at the current column, ending the line if it is full.
    fn encode_on_line(&mut self, input: &[u8]) -> io::Result<()> {
        let len = input.len() / 3 * 4;
        let dst = self
            .buf
            .get_mut(self.filled..self.filled + len)
            .ok_or_else(overflow)?;
        let n = STANDARD.encode_slice(input, dst).map_err(|_| overflow())?;
        self.filled += n;
        self.column += n;
        if self.column >= LINE_OUT {
            self.push_crlf()?;
        }
        Ok(())
    }

    /// Encodes `data` (at most [`CHUNK_IN`] bytes) into the empty buffer.
    fn encode(&mut self, mut data: &[u8]) -> io::Result<()> {
        // Complete a pending quantum.
        if self.pending_len > 0 {
            let start = self.pending_len;
            let n = (3 - start).min(data.len());
            let (head, rest) = data.split_at(n);
            if let Some(dst) = self.pending.get_mut(start..start + n) {
                dst.copy_from_slice(head);
            }
            self.pending_len += n;
            data = rest;
            if self.pending_len < 3 {
                return Ok(());
            }
            self.pending_len = 0;
            let quantum = self.pending;
            self.encode_on_line(&quantum)?;
        }
        // Fill up a started line.
        if self.column > 0 {
            let room = (LINE_OUT - self.column) / 4 * 3;
            let n = room.min(data.len() / 3 * 3);
            let (head, rest) = data.split_at(n);
            if n > 0 {
                self.encode_on_line(head)?;
            }
            data = rest;
        }
        // Whole lines: one engine call for all of them, CRLFs included.
        // (`column` is 0 here, or `data` is shorter than a line.)
        let lines = data.len() / LINE_IN;
        if lines > 0 {
            let (whole, rest) = data.split_at(lines * LINE_IN);
            let end = self.filled + lines * LINE_WITH_CRLF;
            let dst = self.buf.get_mut(self.filled..end).ok_or_else(overflow)?;
            if BODY.encode_slice(whole, dst).map_err(|_| overflow())? != dst.len() {
                return Err(overflow());
            }
            self.filled = end;
            data = rest;
        }
        // The start of a new line, then at most two bytes left pending.
        let n = data.len() / 3 * 3;
        let (head, rest) = data.split_at(n);
        if n > 0 {
            self.encode_on_line(head)?;
        }
        if let Some(dst) = self.pending.get_mut(..rest.len()) {
            dst.copy_from_slice(rest);
            self.pending_len = rest.len();
        }
        Ok(())
    }
}

/// The buffer arithmetic went wrong: cannot happen, but reported as an
/// error rather than a panic.
fn overflow() -> io::Error {
    io::Error::other("base64 writer: internal buffer overflow")
}

impl<W: Write> Write for Base64Writer<W> {
    /// Encodes up to about 29 KiB of `buf` per call and returns how much it
    /// took. An error of the inner writer is returned only if no input was
    /// taken; otherwise it comes back on the next call.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        self.flush_buf()?;
        let take = buf.len().min(self.chunk_in);
        let (chunk, _) = buf.split_at(take);
        self.encode(chunk)?;
        // The input is taken; a failure here is kept for the next call.
        let _ = self.flush_buf();
        Ok(take)
    }

    /// Writes all encoded output and flushes the inner writer. Up to two
    /// pending input bytes stay pending: only [`Base64Writer::finish`] can
    /// end the encoding.
    fn flush(&mut self) -> io::Result<()> {
        self.flush_buf()?;
        self.inner.flush()
    }
}

/// Appends to `out` what [`Base64Writer`] writes for `data` written whole
/// and finished: the same lines, from the same engine, without the writer's
/// intermediate buffer (for a message serialized into memory).
pub(crate) fn encode_append(data: &[u8], out: &mut Vec<u8>) {
    BODY.encode_append(data, out);
}

/// The exact size, CRLFs included, of what [`Base64Writer`] writes for
/// `input_len` bytes (saturating at `u64::MAX`).
///
/// ```
/// use postie_mime::base64_stream::encoded_len;
/// assert_eq!(encoded_len(0), 0);
/// assert_eq!(encoded_len(1), 6); // "AA==\r\n"
/// assert_eq!(encoded_len(57), 78);
/// assert_eq!(encoded_len(58), 84);
/// ```
pub fn encoded_len(input_len: u64) -> u64 {
    const IN: u64 = LINE_IN as u64;
    const OUT: u64 = LINE_WITH_CRLF as u64;
    let lines = input_len / IN;
    let rest = input_len % IN;
    let last = if rest == 0 {
        0
    } else {
        rest.div_ceil(3) * 4 + 2
    };
    lines.saturating_mul(OUT).saturating_add(last)
}

/// Marks bytes outside the base64 alphabet in [`DECODE`].
const INVALID: u8 = 0xFF;

/// Sextet value of each byte of the standard alphabet; [`INVALID`] for all
/// other bytes.
const DECODE: [u8; 256] = {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut table = [INVALID; 256];
    let mut i = 0;
    while i < alphabet.len() {
        table[alphabet[i] as usize] = i as u8;
        i += 1;
    }
    table
};

/// Decodes base64 leniently, as bodies in the wild need: line breaks, white
/// space and any other byte outside the alphabet are skipped, and missing
/// padding is fine. A `=` ends a quantum early (so that pieces encoded
/// separately and glued together decode as they were meant to); a lone
/// sextet left over at an end (which cannot make a byte) is dropped.
///
/// ```
/// use postie_mime::base64_stream::decode_lenient;
///
/// assert_eq!(decode_lenient(b"aGVs\r\nbG8 "), b"hello");
/// assert_eq!(decode_lenient(b"aGk"), b"hi");
/// assert_eq!(decode_lenient(b"aGk=aGk="), b"hihi");
/// assert_eq!(decode_lenient(b"a!G*k\x00"), b"hi");
/// ```
pub fn decode_lenient(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len() / 4 * 3 + 3);
    let mut decoder = Base64Decoder::default();
    decoder.push(input, &mut out);
    decoder.finish(&mut out);
    out
}

/// [`decode_lenient`] a chunk at a time: the same bytes out, however the
/// input is cut.
///
/// ```
/// use postie_mime::base64_stream::{decode_lenient, Base64Decoder};
///
/// let mut decoder = Base64Decoder::default();
/// let mut out = Vec::new();
/// decoder.push(b"aGVs\r\nb", &mut out);
/// decoder.push(b"G8=", &mut out);
/// decoder.finish(&mut out);
/// assert_eq!(out, decode_lenient(b"aGVs\r\nbG8="));
/// ```
#[derive(Clone, Debug, Default)]
pub struct Base64Decoder {
    acc: u32,
    count: u8,
}

impl Base64Decoder {
    /// Decodes what `input` completes, appending to `out`.
    pub fn push(&mut self, input: &[u8], out: &mut Vec<u8>) {
        out.reserve(input.len() / 4 * 3 + 3);
        for &b in input {
            let value = DECODE[usize::from(b)];
            if value != INVALID {
                self.acc = self.acc << 6 | u32::from(value);
                self.count += 1;
                if self.count == 4 {
                    let acc = self.acc;
                    out.extend_from_slice(&[(acc >> 16) as u8, (acc >> 8) as u8, acc as u8]);
                    self.acc = 0;
                    self.count = 0;
                }
            } else if b == b'=' {
                flush_partial(out, self.acc, self.count);
                self.acc = 0;
                self.count = 0;
            }
        }
    }

    /// Decodes a quantum cut short at the end.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        flush_partial(out, self.acc, self.count);
        self.acc = 0;
        self.count = 0;
    }
}

/// Bytes from a quantum cut short after `count` sextets.
fn flush_partial(out: &mut Vec<u8>, acc: u32, count: u8) {
    match count {
        2 => out.push((acc >> 4) as u8),
        3 => out.extend_from_slice(&[(acc >> 10) as u8, (acc >> 2) as u8]),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    // The reference is another crate's engine, not the one under test.
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine as _;

    fn sample(len: usize) -> Vec<u8> {
        // A cheap deterministic byte soup covering all byte values.
        let mut x: u32 = 0x1234_5678;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                (x >> 24) as u8
            })
            .collect()
    }

    fn encode_all(data: &[u8]) -> Vec<u8> {
        let mut w = Base64Writer::new(Vec::new());
        w.write_all(data).unwrap();
        w.finish().unwrap()
    }

    /// The reference: the engine's one-shot encoding, wrapped at 76.
    fn reference(data: &[u8]) -> Vec<u8> {
        let text = STANDARD.encode(data);
        let mut out = Vec::new();
        for line in text.as_bytes().chunks(76) {
            out.extend_from_slice(line);
            out.extend_from_slice(b"\r\n");
        }
        out
    }

    fn check_lines(out: &[u8]) {
        if out.is_empty() {
            return;
        }
        assert!(out.ends_with(b"\r\n"));
        let body = &out[..out.len() - 2];
        let lines: Vec<&[u8]> = body.split(|&b| b == b'\n').collect();
        let last = lines.len() - 1;
        for (i, line) in lines.iter().enumerate() {
            let text = line.strip_suffix(b"\r").unwrap_or(line);
            if i < last {
                assert!(line.ends_with(b"\r"), "line {i} lacks CR");
                assert_eq!(text.len(), 76, "line {i}");
            } else {
                assert!(!text.is_empty() && text.len() <= 76);
                assert_eq!(text.len() % 4, 0);
            }
            assert!(!text.contains(&b'\r'));
        }
    }

    #[test]
    fn matches_reference_and_line_lengths() {
        for len in (0..400).chain([5_700, 57_000, 100_003, CHUNK_IN * 3 + 5]) {
            let data = sample(len);
            let out = encode_all(&data);
            assert_eq!(out, reference(&data), "len {len}");
            check_lines(&out);
            assert_eq!(out.len() as u64, encoded_len(len as u64), "len {len}");
        }
    }

    #[test]
    fn the_one_shot_encoding_is_the_writers() {
        for len in (0..400).chain([4_096, 5_700, 57_000, CHUNK_IN * 2 + 7]) {
            let data = sample(len);
            let mut appended = b"before".to_vec();
            encode_append(&data, &mut appended);
            assert_eq!(&appended[..6], b"before");
            assert_eq!(&appended[6..], encode_all(&data), "len {len}");
        }
    }

    #[test]
    fn empty_input_gives_empty_output() {
        assert_eq!(encode_all(b""), b"");
        let mut w = Base64Writer::new(Vec::new());
        assert_eq!(w.write(b"").unwrap(), 0);
        w.flush().unwrap();
        assert_eq!(w.finish().unwrap(), b"");
    }

    #[test]
    fn every_two_way_split_matches_one_write() {
        let data = sample(250);
        let whole = encode_all(&data);
        for i in 0..=data.len() {
            let mut w = Base64Writer::new(Vec::new());
            w.write_all(&data[..i]).unwrap();
            w.write_all(&data[i..]).unwrap();
            assert_eq!(w.finish().unwrap(), whole, "split at {i}");
        }
    }

    #[test]
    fn every_three_way_split_matches_one_write() {
        let data = sample(130);
        let whole = encode_all(&data);
        for i in 0..=data.len() {
            for j in i..=data.len() {
                let mut w = Base64Writer::new(Vec::new());
                w.write_all(&data[..i]).unwrap();
                w.write_all(&data[i..j]).unwrap();
                w.flush().unwrap();
                w.write_all(&data[j..]).unwrap();
                assert_eq!(w.finish().unwrap(), whole, "split at {i}, {j}");
            }
        }
    }

    #[test]
    fn byte_at_a_time_and_odd_chunks() {
        let data = sample(1000);
        let whole = encode_all(&data);
        let mut w = Base64Writer::new(Vec::new());
        for b in &data {
            w.write_all(std::slice::from_ref(b)).unwrap();
            assert!(w.pending_len < 3);
        }
        assert_eq!(w.finish().unwrap(), whole);
        for size in [2, 5, 56, 57, 58, 113, 999] {
            let mut w = Base64Writer::new(Vec::new());
            for chunk in data.chunks(size) {
                w.write_all(chunk).unwrap();
            }
            assert_eq!(w.finish().unwrap(), whole, "chunks of {size}");
        }
    }

    #[test]
    fn large_write_is_taken_in_chunks() {
        let data = sample(CHUNK_IN * 2 + 100);
        let mut w = Base64Writer::new(Vec::new());
        assert_eq!(w.write(&data).unwrap(), CHUNK_IN);
        w.write_all(&data[CHUNK_IN..]).unwrap();
        assert_eq!(w.finish().unwrap(), reference(&data));
    }

    /// A writer that takes a few bytes at a time, is often interrupted and
    /// fails now and then, until made reliable.
    struct Flaky {
        out: Vec<u8>,
        calls: usize,
        reliable: bool,
    }

    impl Write for Flaky {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.calls += 1;
            match self.calls % 7 {
                0 => Err(io::Error::new(io::ErrorKind::Interrupted, "again")),
                3 if !self.reliable => Err(io::Error::new(io::ErrorKind::WouldBlock, "later")),
                _ => {
                    let n = buf.len().min(5);
                    self.out.extend_from_slice(&buf[..n]);
                    Ok(n)
                }
            }
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn partial_and_failing_inner_writes_lose_nothing() {
        let data = sample(3_000);
        let mut w = Base64Writer::new(Flaky {
            out: Vec::new(),
            calls: 0,
            reliable: false,
        });
        let mut rest = &data[..];
        let mut errors = 0;
        while !rest.is_empty() {
            match w.write(&rest[..rest.len().min(100)]) {
                Ok(n) => rest = &rest[n..],
                Err(e) => {
                    assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
                    errors += 1;
                }
            }
        }
        assert!(errors > 0);
        w.get_mut().reliable = true;
        let flaky = w.finish().unwrap();
        assert_eq!(flaky.out, reference(&data));
    }

    #[test]
    fn write_zero_is_an_error() {
        struct Full;
        impl Write for Full {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Ok(0)
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut w = Base64Writer::new(Full);
        assert_eq!(w.write(b"abc").unwrap(), 3);
        let err = w.write(b"def").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WriteZero);
        assert!(w.finish().is_err());
    }

    #[test]
    fn encoded_len_small_and_large() {
        for len in 0..300u64 {
            let out = encode_all(&sample(len as usize));
            assert_eq!(encoded_len(len), out.len() as u64, "len {len}");
        }
        assert_eq!(encoded_len(57 * 1000), 78 * 1000);
        assert_eq!(encoded_len(57 * 1000 + 1), 78 * 1000 + 6);
        assert_eq!(encoded_len(u64::MAX), u64::MAX);
        // 1 GiB: 18_837_575 full lines and 49 bytes (68 characters) over.
        assert_eq!(encoded_len(1 << 30), 18_837_575 * 78 + 68 + 2);
    }

    #[test]
    fn encoded_len_matches_a_large_stream() {
        let len = 3_000_017usize;
        let mut w = Base64Writer::new(Vec::new());
        let data = sample(len);
        for chunk in data.chunks(8_191) {
            w.write_all(chunk).unwrap();
        }
        let out = w.finish().unwrap();
        assert_eq!(out.len() as u64, encoded_len(len as u64));
        check_lines(&out);
    }

    #[test]
    fn decode_round_trip() {
        for len in (0..200).chain([4_096, 100_000]) {
            let data = sample(len);
            assert_eq!(decode_lenient(&encode_all(&data)), data, "len {len}");
        }
    }

    #[test]
    fn decode_is_lenient() {
        let data = sample(100);
        let text = STANDARD.encode(&data);
        // Missing padding.
        assert_eq!(decode_lenient(text.trim_end_matches('=').as_bytes()), data);
        // LF line breaks, tabs, spaces and junk.
        let mut messy = Vec::new();
        for (i, b) in text.bytes().enumerate() {
            messy.push(b);
            if i % 10 == 9 {
                messy.extend_from_slice(b" \t\n\r.!*\x00\xff");
            }
        }
        assert_eq!(decode_lenient(&messy), data);
        // Glued pieces, each padded.
        let glued = format!("{}\r\n{}", STANDARD.encode(b"ab"), STANDARD.encode(b"cde"));
        assert_eq!(decode_lenient(glued.as_bytes()), b"abcde");
        // A lone trailing sextet is dropped; junk alone decodes to nothing.
        assert_eq!(decode_lenient(b"aGk=Q"), b"hi");
        assert_eq!(decode_lenient(b"==\r\n-_ "), b"");
        assert_eq!(decode_lenient(b""), b"");
    }
}

#[cfg(test)]
mod sized_tests {
    use super::*;

    #[test]
    fn a_small_buffer_gives_the_same_output() {
        for len in [0usize, 1, 56, 57, 58, 200, 5_000, 100_000] {
            let data: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let mut big = Base64Writer::new(Vec::new());
            big.write_all(&data).unwrap();
            let mut small = Base64Writer::for_input_len(Vec::new(), len.min(100));
            small.write_all(&data).unwrap();
            assert_eq!(small.finish().unwrap(), big.finish().unwrap(), "{len}");
        }
    }
}
