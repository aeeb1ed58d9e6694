//! Ending a header that stops short, as a sendmail does: `echo "disk full"
//! | sendmail admin@example.org` has no header at all, and a script's
//! message may have a few fields and then its text with no empty line
//! between. Postfix's cleanup (and msmtp, by passing it on) delivers such
//! mail: the header ends at the first line that is no header field, and
//! what follows is the body. This reader inserts the empty line there, so
//! the message postie parses is the one that goes on the wire; the fields
//! it lacks are then made as for any other message.

use std::io::{self, BufRead, Read};

use postie_mime::{header_line, HeaderLine};

/// The longest header line looked at: the reader refuses a header block
/// larger than this anyway, and a message that is one endless line must
/// not be held in memory. Past it the rest passes straight through.
const LONGEST_LINE: u64 = 4 * 1024 * 1024;

/// Passes `input` through, with an empty line before the first line that
/// cannot belong to the header (in that line's own line-break style).
pub(crate) struct HeaderEnded<R> {
    input: R,
    /// Bytes read and not yet handed out.
    pending: Vec<u8>,
    at: usize,
    /// The number of the next header line; `None` once in the body.
    line: Option<usize>,
    after_field: bool,
}

impl<R: BufRead> HeaderEnded<R> {
    pub(crate) fn new(input: R) -> Self {
        Self {
            input,
            pending: Vec::new(),
            at: 0,
            line: Some(1),
            after_field: false,
        }
    }

    /// Reads the next header line into `pending`, with the empty line
    /// before it when it is the first that is no header field.
    fn next_header_line(&mut self, number: usize) -> io::Result<()> {
        self.pending.clear();
        self.at = 0;
        let n = (&mut self.input)
            .take(LONGEST_LINE)
            .read_until(b'\n', &mut self.pending)?;
        if n == 0 {
            self.line = None;
            return Ok(());
        }
        if n as u64 == LONGEST_LINE && !self.pending.ends_with(b"\n") {
            // No header line is this long: leave it, and what follows, as
            // they are, for the reader to judge.
            self.line = None;
            return Ok(());
        }
        match header_line(&self.pending, number, self.after_field) {
            HeaderLine::Field | HeaderLine::Continuation => {
                self.after_field = true;
                self.line = Some(number + 1);
            }
            // A bare CR or NUL stays where it is, for the reader to refuse:
            // moved to the body it would pass unseen.
            HeaderLine::MboxFrom | HeaderLine::Unsafe => self.line = Some(number + 1),
            HeaderLine::Empty => self.line = None,
            _ => {
                let line_break: &[u8] = if self.pending.ends_with(b"\r\n") {
                    b"\r\n"
                } else {
                    b"\n"
                };
                self.pending.splice(0..0, line_break.iter().copied());
                self.line = None;
            }
        }
        Ok(())
    }
}

impl<R: BufRead> Read for HeaderEnded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at >= self.pending.len() {
            match self.line {
                Some(number) => self.next_header_line(number)?,
                // In the body: straight through.
                None => return self.input.read(buf),
            }
        }
        let n = (self.pending.len() - self.at).min(buf.len());
        if let (Some(dst), Some(src)) = (buf.get_mut(..n), self.pending.get(self.at..self.at + n)) {
            dst.copy_from_slice(src);
        }
        self.at += n;
        Ok(n)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn ended(input: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        // A tiny buffer, so every path through `read` is taken.
        let mut reader = HeaderEnded::new(io::BufReader::with_capacity(3, input));
        let mut buf = [0u8; 2];
        loop {
            let n = reader.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        out
    }

    #[test]
    fn a_message_without_a_header_gets_an_empty_one() {
        assert_eq!(ended(b"disk full\n"), b"\ndisk full\n");
        assert_eq!(ended(b"disk full"), b"\ndisk full");
        assert_eq!(
            ended(b"disk full\r\nsecond\r\n"),
            b"\r\ndisk full\r\nsecond\r\n"
        );
    }

    #[test]
    fn a_header_that_stops_short_ends_before_the_first_other_line() {
        assert_eq!(
            ended(b"Subject: df\n folded\nFilesystem  Size\n/dev/sda1: 99%\n"),
            b"Subject: df\n folded\n\nFilesystem  Size\n/dev/sda1: 99%\n"
        );
    }

    #[test]
    fn an_endless_first_line_passes_through_unheld() {
        // Longer than any header line may be: read in bounded pieces and
        // passed on unchanged, for the reader to refuse.
        let long = vec![b'x'; LONGEST_LINE as usize + 10];
        let mut reader = HeaderEnded::new(io::BufReader::new(&long[..]));
        let mut out = Vec::new();
        reader.read_to_end(&mut out).unwrap();
        assert_eq!(out, long);
        assert!(reader.pending.capacity() <= LONGEST_LINE as usize * 2);
    }

    #[test]
    fn a_complete_message_passes_unchanged() {
        for message in [
            &b"To: a@x\r\nSubject: s\r\n\r\nbody: not a header\r\n\r\nmore"[..],
            b"From a@x Sat Nov 28 00:00:00 2026\nTo: a@x\n\nbody\n",
            b"To: a@x\n",
            b"",
            b"To: a@x\rBcc: b@y\n\nbody\n",
        ] {
            assert_eq!(ended(message), message);
        }
    }
}
