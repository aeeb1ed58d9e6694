//! The message on its way to the socket, in both drivers: framed
//! (dot-stuffed after DATA, counted behind BDAT) into a bounded buffer,
//! so memory does not grow with the message, and the progress reported as
//! the buffer goes out. The drivers differ only in how they write it.

use crate::data::BodyFramer;
use crate::options::{Progress, ProgressFn};
use crate::proto::Framing;

/// Bytes gathered before a write while streaming the body.
pub(crate) const BODY_BUFFER: usize = 16 * 1024;

/// The framed bytes waiting to be written, and what went out so far. Its
/// small methods are marked `#[inline]`: they run once per 16 KiB of the
/// body, from the drivers' modules.
pub(crate) struct BodyBuffer<'a> {
    framer: BodyFramer,
    buf: Vec<u8>,
    /// Who hears of the progress, and the size to report against.
    progress: Option<(&'a ProgressFn, Option<u64>)>,
    sent: u64,
}

impl<'a> BodyBuffer<'a> {
    /// An empty buffer for `framing` (BDAT's command goes in first).
    pub(crate) fn new(framing: Framing, progress: Option<(&'a ProgressFn, Option<u64>)>) -> Self {
        // Room for a full buffer plus what framing one more slice adds
        // (dot-stuffing and CRLF repair), so it is allocated once.
        let mut buf = Vec::with_capacity(BODY_BUFFER + BODY_BUFFER / 8);
        let framer = BodyFramer::new(framing, &mut buf);
        Self {
            framer,
            buf,
            progress,
            sent: 0,
        }
    }

    /// Whether the buffer must go out before more is framed. A full buffer
    /// goes out only when more follows, so the last bytes of the message
    /// always leave with the end of data.
    #[inline]
    pub(crate) fn is_full(&self) -> bool {
        self.buf.len() >= BODY_BUFFER
    }

    /// Frames `slice` (at most [`BODY_BUFFER`] bytes) into the buffer.
    #[inline]
    pub(crate) fn encode(&mut self, slice: &[u8]) -> std::io::Result<()> {
        self.framer.encode(slice, &mut self.buf)
    }

    /// Ends the data: its terminator (or BDAT's check) goes into the buffer.
    pub(crate) fn finish(&mut self) -> std::io::Result<()> {
        self.framer.finish(&mut self.buf)
    }

    /// The bytes to write now.
    #[inline]
    pub(crate) fn pending(&self) -> &[u8] {
        &self.buf
    }

    /// The pending bytes were written: counts them, tells the progress
    /// callback, and empties the buffer.
    #[inline]
    pub(crate) fn written(&mut self) {
        self.sent += self.buf.len() as u64;
        self.buf.clear();
        if let Some((callback, total)) = self.progress {
            callback(Progress {
                sent: self.sent,
                total,
            });
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[test]
    fn progress_counts_what_was_written() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        let callback: ProgressFn = Arc::new(move |p: Progress| log.lock().unwrap().push(p.sent));
        let mut body = BodyBuffer::new(Framing::Data, Some((&callback, Some(4))));
        body.encode(b".hi\n").unwrap();
        assert!(!body.is_full());
        body.finish().unwrap();
        assert_eq!(body.pending(), b"..hi\r\n.\r\n");
        body.written();
        assert!(body.pending().is_empty());
        assert_eq!(*seen.lock().unwrap(), [9]);
    }
}
