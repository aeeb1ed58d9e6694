//! Pulling a message's bytes out a chunk at a time: [`MessageStream`], an
//! [`io::Read`] over what [`crate::Message::write_to`] writes. ("Reader"
//! in this crate means the other direction, bytes to message:
//! [`crate::reader`].)
//!
//! The stream is planned by the same walk as the push writer
//! ([`crate::write::serialize::write_entity`]): header fields, delimiters and
//! every encoding decision come out of it as they do for
//! [`crate::Message::write_to`], and each leaf's content is then encoded
//! on demand with the same encoders. Memory is one chunk, whatever the
//! size of a file-backed leaf.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;

use crate::fields::header::Headers;
use crate::message::TransferEncoding;
use crate::regular_file::{open_at, FILE_CHUNK};
use crate::transfer_encoding::base64_stream::Base64Writer;
use crate::transfer_encoding::quoted_printable;
use crate::write::serialize::{self, changed, LeafContent, Output};
use crate::Error;
use crate::Message;

/// A message as a [`Read`]: the bytes [`crate::Message::write_to`] writes,
/// encoded as they are asked for.
///
/// Made by [`crate::Message::stream`]. [`MessageStream::next_chunk`] hands
/// out the next encoded chunk without a copy; [`Read`] is there for
/// everything else. A file attached to the message is read while the
/// message is read, and a file whose length changed since it was attached
/// is an error (of kind [`io::ErrorKind::InvalidData`] through `Read`).
///
/// ```
/// use postie_mime::Message;
///
/// let msg = Message::text("Hello\n");
/// let mut stream = msg.stream()?;
/// let mut all = Vec::new();
/// loop {
///     let chunk = stream.next_chunk()?;
///     if chunk.is_empty() {
///         break;
///     }
///     all.extend_from_slice(chunk);
/// }
/// assert_eq!(all, msg.to_bytes()?);
/// # Ok::<(), postie_mime::Error>(())
/// ```
pub struct MessageStream<'a> {
    segments: VecDeque<Segment<'a>>,
    active: Option<Active<'a>>,
    /// Encoded bytes; `out[pos..]` is not yet handed out.
    out: Vec<u8>,
    pos: usize,
}

impl std::fmt::Debug for MessageStream<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageStream")
            .field("segments_left", &self.segments.len())
            .field("buffered", &(self.out.len() - self.pos))
            .finish_non_exhaustive()
    }
}

enum Segment<'a> {
    /// Header fields and delimiters, already written.
    Text(Vec<u8>),
    Leaf(LeafContent<'a>),
}

/// Collects what the walk writes into segments.
struct Planner<'a> {
    segments: VecDeque<Segment<'a>>,
    pending: Vec<u8>,
}

impl<'a> Output<'a> for Planner<'a> {
    fn text(&mut self) -> &mut Vec<u8> {
        &mut self.pending
    }

    fn leaf(&mut self, leaf: LeafContent<'a>) -> Result<(), Error> {
        if !self.pending.is_empty() {
            self.segments
                .push_back(Segment::Text(std::mem::take(&mut self.pending)));
        }
        self.segments.push_back(Segment::Leaf(leaf));
        Ok(())
    }
}

/// Pulling the written bytes, as methods of the model.
impl Message {
    /// The message as a byte stream: the same bytes [`Message::write_to`]
    /// writes, produced as they are read, so a caller that pulls (an async
    /// driver) needs no more memory than a chunk. Decisions that need the
    /// whole content (a text file's encoding) are made here, before the
    /// first byte.
    ///
    /// ```
    /// use std::io::Read;
    /// use postie_mime::Message;
    ///
    /// let msg = Message::text("Hello");
    /// let mut pulled = Vec::new();
    /// msg.stream()?.read_to_end(&mut pulled)?;
    /// assert_eq!(pulled, msg.to_bytes()?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn stream(&self) -> Result<MessageStream<'_>, Error> {
        MessageStream::new(self.headers(), self)
    }

    /// [`Message::stream`] with `headers` instead of the message's own, as
    /// in [`Message::write_with_headers`].
    pub fn stream_with_headers<'a>(
        &'a self,
        headers: &'a Headers,
    ) -> Result<MessageStream<'a>, Error> {
        MessageStream::new(headers, self)
    }
}

impl<'a> MessageStream<'a> {
    pub(crate) fn new(headers: &'a Headers, entity: &'a Message) -> Result<Self, Error> {
        let mut planner = Planner {
            segments: VecDeque::new(),
            pending: Vec::new(),
        };
        serialize::write_entity(headers, entity, &mut planner, true)?;
        if !planner.pending.is_empty() {
            planner.segments.push_back(Segment::Text(planner.pending));
        }
        Ok(Self {
            segments: planner.segments,
            active: None,
            out: Vec::new(),
            pos: 0,
        })
    }

    /// The next encoded bytes; empty once the whole message was read.
    ///
    /// # Errors
    ///
    /// Reading an attached file failed, or the file's length is no longer
    /// the one it had when it was attached.
    pub fn next_chunk(&mut self) -> Result<&[u8], Error> {
        if self.pos >= self.out.len() {
            self.out.clear();
            self.pos = 0;
            while self.out.is_empty() && self.refill()? {}
        }
        let chunk = self.out.get(self.pos..).unwrap_or_default();
        self.pos = self.out.len();
        Ok(chunk)
    }

    /// Encodes more into `out`; false when nothing is left.
    fn refill(&mut self) -> Result<bool, Error> {
        if let Some(active) = self.active.as_mut() {
            if !active.step(&mut self.out)? {
                self.active = None;
            }
            return Ok(true);
        }
        match self.segments.pop_front() {
            None => Ok(false),
            Some(Segment::Text(bytes)) => {
                self.out = bytes;
                Ok(true)
            }
            Some(Segment::Leaf(leaf)) => {
                self.active = Some(Active::start(leaf)?);
                Ok(true)
            }
        }
    }
}

impl Read for MessageStream<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.out.len() {
            self.next_chunk().map_err(into_io)?;
            // next_chunk handed the whole buffer out; take it back to copy
            // from it.
            self.pos = 0;
        }
        let available = self.out.get(self.pos..).unwrap_or_default();
        let n = available.len().min(buf.len());
        if let (Some(dst), Some(src)) = (buf.get_mut(..n), available.get(..n)) {
            dst.copy_from_slice(src);
        }
        self.pos += n;
        Ok(n)
    }
}

fn into_io(e: Error) -> io::Error {
    match e {
        Error::Io(e) => e,
        other => io::Error::other(other),
    }
}

/// A leaf being encoded.
struct Active<'a> {
    source: Source<'a>,
    encoder: Encoder,
    /// Message text must end with a line break (see
    /// [`LeafContent::Memory`]).
    end_line: bool,
    seven_bit: bool,
    /// The last two bytes this leaf produced, and how many it produced.
    tail: [u8; 2],
    produced: u64,
}

enum Source<'a> {
    Memory {
        content: Cow<'a, [u8]>,
        at: usize,
    },
    File {
        path: &'a Path,
        file: File,
        len: u64,
        total: u64,
        buf: Vec<u8>,
    },
    RawFile {
        file: File,
        buf: Vec<u8>,
    },
}

enum Encoder {
    Copy,
    QuotedPrintable(quoted_printable::Encoder),
    Base64(Base64Writer<Vec<u8>>),
}

impl Encoder {
    fn new(encoding: TransferEncoding) -> Self {
        match encoding {
            TransferEncoding::SevenBit => Self::Copy,
            TransferEncoding::QuotedPrintable => {
                Self::QuotedPrintable(quoted_printable::Encoder::default())
            }
            TransferEncoding::Base64 => Self::Base64(Base64Writer::new(Vec::new())),
        }
    }

    fn push(&mut self, input: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
        match self {
            Self::Copy => out.extend_from_slice(input),
            Self::QuotedPrintable(encoder) => encoder.push(input, out),
            Self::Base64(encoder) => {
                encoder.write_all(input)?;
                out.append(encoder.get_mut());
            }
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        match std::mem::replace(self, Self::Copy) {
            Self::Copy => {}
            Self::QuotedPrintable(mut encoder) => encoder.finish(out),
            Self::Base64(encoder) => out.append(&mut encoder.finish()?),
        }
        Ok(())
    }
}

impl<'a> Active<'a> {
    fn start(leaf: LeafContent<'a>) -> Result<Self, Error> {
        let (source, encoding, end_line) = match leaf {
            LeafContent::Memory {
                content,
                encoding,
                end_line,
            } => (Source::Memory { content, at: 0 }, encoding, end_line),
            LeafContent::File {
                path,
                len,
                encoding,
            } => (
                Source::File {
                    path,
                    file: crate::regular_file::open(path)?,
                    len,
                    total: 0,
                    buf: vec![0; FILE_CHUNK],
                },
                encoding,
                false,
            ),
            LeafContent::Raw(bytes) => (
                Source::Memory {
                    content: Cow::Borrowed(bytes),
                    at: 0,
                },
                TransferEncoding::SevenBit,
                false,
            ),
            LeafContent::RawFile { path, offset } => (
                Source::RawFile {
                    file: open_at(path, offset)?,
                    buf: vec![0; FILE_CHUNK],
                },
                TransferEncoding::SevenBit,
                false,
            ),
        };
        let end_line = end_line && encoding != TransferEncoding::Base64;
        Ok(Self {
            source,
            encoder: Encoder::new(encoding),
            end_line,
            seven_bit: encoding == TransferEncoding::SevenBit,
            tail: [0; 2],
            produced: 0,
        })
    }

    /// Encodes the next chunk of input into `out`; false once the leaf is
    /// done (its last bytes are in `out`).
    fn step(&mut self, out: &mut Vec<u8>) -> Result<bool, Error> {
        let before = out.len();
        let more = match &mut self.source {
            Source::Memory { content, at } => {
                let rest = content.get(*at..).unwrap_or_default();
                let take = rest.len().min(FILE_CHUNK);
                self.encoder
                    .push(rest.get(..take).unwrap_or_default(), out)?;
                *at += take;
                *at < content.len()
            }
            Source::File {
                path,
                file,
                len,
                total,
                buf,
            } => {
                let n = read_some(file, buf)?;
                *total += n as u64;
                if *total > *len || (n == 0 && *total != *len) {
                    return Err(changed(path, *len, *total));
                }
                self.encoder.push(buf.get(..n).unwrap_or_default(), out)?;
                n > 0
            }
            Source::RawFile { file, buf } => {
                let n = read_some(file, buf)?;
                out.extend_from_slice(buf.get(..n).unwrap_or_default());
                n > 0
            }
        };
        if !more {
            self.encoder.finish(out)?;
        }
        self.note(out.get(before..).unwrap_or_default());
        if !more && self.end_line {
            // As the push writer: 7bit text gets a CRLF unless empty or
            // already ending in one; quoted-printable unless its output
            // ends in one.
            let needs = self.tail != *b"\r\n" && !(self.seven_bit && self.produced == 0);
            if needs {
                out.extend_from_slice(b"\r\n");
            }
        }
        Ok(more)
    }

    fn note(&mut self, produced: &[u8]) {
        match produced {
            [] => {}
            [one] => self.tail = [self.tail[1], *one],
            [.., a, b] => self.tail = [*a, *b],
        }
        self.produced += produced.len() as u64;
    }
}

fn read_some(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match file.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}
