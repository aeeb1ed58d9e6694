//! The body step of the blocking driver: the message written through the
//! framing buffer, each socket write bounded by what the deadline leaves.

use std::io::{self, Write};
use std::time::{Duration, Instant};

use super::conn::Conn;
use crate::body_buffer::{BodyBuffer, BODY_BUFFER};
use crate::options::ProgressFn;
use crate::proto::Framing;
use crate::step_io::write_limit;

/// How much longer than the time left a body write may wait as the
/// deadline nears: the socket's limit is set again only when the time
/// left falls this far below it (setting it before every 16 KiB write was
/// a system call each).
const TIMEOUT_SLACK: Duration = Duration::from_millis(10);

/// Dot-stuffs and CRLF-repairs the message on its way to the socket,
/// through a bounded buffer, so memory does not grow with the message.
pub(super) struct BodyWriter<'a> {
    stream: &'a mut Conn,
    body: BodyBuffer<'a>,
    limit: WriteLimit,
}

impl<'a> BodyWriter<'a> {
    pub(super) fn new(
        stream: &'a mut Conn,
        (timeout, deadline): (Duration, Option<Instant>),
        framing: Framing,
        progress: Option<(&'a ProgressFn, Option<u64>)>,
    ) -> Self {
        Self {
            stream,
            body: BodyBuffer::new(framing, progress),
            limit: WriteLimit {
                timeout,
                deadline,
                applied: None,
            },
        }
    }

    fn flush_buf(&mut self) -> io::Result<()> {
        self.stream
            .write_all_within(self.body.pending(), &mut self.limit)?;
        self.body.written();
        Ok(())
    }

    /// Ends the data with its terminator, written together with the last
    /// bytes of the message.
    pub(super) fn finish(mut self) -> io::Result<()> {
        self.body.finish()?;
        self.flush_buf()
    }
}

impl Write for BodyWriter<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        // A slice at a time, so the buffer stays bounded however large one
        // write is (an in-memory attachment comes in one piece).
        for slice in data.chunks(BODY_BUFFER) {
            if self.body.is_full() {
                self.flush_buf()?;
            }
            self.body.encode(slice)?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// How long one socket write of the body may block: the stage's limit, cut
/// to what the deadline leaves. It is applied before every system call
/// that writes, not once per buffer: a server that takes a few bytes at a
/// time lets each call make some progress, so a limit per buffer (or per
/// `write_all`) would let it stretch the send far past the deadline.
pub(super) struct WriteLimit {
    timeout: Duration,
    deadline: Option<Instant>,
    /// The write limit the socket has now, so it is set again only when
    /// it must change.
    applied: Option<Duration>,
}

impl WriteLimit {
    /// Sets the socket's write limit (through `set`) when it must change;
    /// an error once the deadline has passed.
    pub(super) fn apply(&mut self, set: impl FnOnce(Duration) -> io::Result<()>) -> io::Result<()> {
        let timeout = write_limit(self.timeout, self.deadline)?;
        let stale = self
            .applied
            .is_none_or(|set| timeout > set || set - timeout > TIMEOUT_SLACK);
        if stale {
            set(timeout.max(Duration::from_millis(1)))?;
            self.applied = Some(timeout);
        }
        Ok(())
    }
}

/// Writes all of `bytes` to a socket, setting its write limit before each
/// system call.
pub(super) fn write_each<S: Write + ?Sized>(
    socket: &mut S,
    bytes: &[u8],
    limit: &mut WriteLimit,
    set: impl Fn(&S, Duration) -> io::Result<()>,
) -> io::Result<()> {
    let mut rest = bytes;
    while !rest.is_empty() {
        limit.apply(|d| set(socket, d))?;
        match socket.write(rest) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => rest = rest.get(n..).unwrap_or_default(),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    /// A socket whose every write blocks for the whole limit it was given
    /// and then takes a few bytes, as a kernel's send does (SO_SNDTIMEO)
    /// when the server reads a little at a time.
    struct Trickle {
        limit: Cell<Duration>,
        taken: usize,
    }

    impl Write for Trickle {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            std::thread::sleep(self.limit.get());
            let n = bytes.len().min(4);
            self.taken += n;
            Ok(n)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn each_write_call_is_bounded_by_what_the_deadline_leaves() {
        let mut socket = Trickle {
            limit: Cell::new(Duration::ZERO),
            taken: 0,
        };
        let started = Instant::now();
        let mut limit = WriteLimit {
            timeout: Duration::from_secs(10),
            deadline: started.checked_add(Duration::from_millis(300)),
            applied: None,
        };
        let err = write_each(&mut socket, &[b'x'; 1024], &mut limit, |s, d| {
            s.limit.set(d);
            Ok(())
        })
        .unwrap_err();
        let elapsed = started.elapsed();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        // A limit set once for the buffer would let each of its 256
        // partial writes wait the 300 ms again.
        assert!(elapsed < Duration::from_millis(900), "{elapsed:?}");
        assert!(socket.taken < 1024);
    }
}
