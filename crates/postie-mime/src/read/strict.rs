//! Reading the header block of an RFC 5322 message.
//!
//! Values are kept byte for byte (folding included) so that a message passed
//! through is written back as it came. The whole tolerant MIME parser is
//! built on top of this later; for now the body is left as bytes.

use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use crate::fields::header::{HeaderName, HeaderValue, Headers};
use crate::message::{Body, Message};

/// A header block larger than this is refused rather than held in memory.
const MAX_HEADER_BLOCK: usize = 4 * 1024 * 1024;

/// Why a message could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// A line of the header block is neither a field nor a continuation.
    #[error("malformed header at line {line}: {reason}")]
    Malformed {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// Reading failed.
    #[error("cannot read the message: {0}")]
    Io(#[from] io::Error),
}

impl ParseError {
    pub(crate) fn io(err: io::Error) -> Self {
        Self::Io(err)
    }
}

/// Reading, as methods of the model.
impl Message {
    /// Reads an RFC 5322 message: the header fields are parsed, the body is
    /// kept as it is.
    pub fn parse(bytes: &[u8]) -> Result<Self, ParseError> {
        let mut reader = bytes;
        let (headers, consumed) = header_block(&mut reader)?;
        let body = bytes.get(consumed..).unwrap_or_default().to_vec();
        Ok(Self::from_parts(headers, Body::Raw(body)))
    }

    /// Reads the header fields of the message in `path`; the body stays in
    /// the file and is streamed from it while the message is written.
    pub fn parse_file(path: impl AsRef<Path>) -> Result<Self, ParseError> {
        let path = path.as_ref();
        let file = crate::regular_file::open(path).map_err(ParseError::io)?;
        let mut reader = BufReader::new(file);
        let (headers, consumed) = header_block(&mut reader)?;
        Ok(Self::from_parts(
            headers,
            Body::RawFile {
                path: path.to_owned(),
                offset: consumed as u64,
            },
        ))
    }
}

/// What one line at the top of a message is, by the rules [`Message::parse`]
/// reads a header with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HeaderLine {
    /// A field: a name (printable ASCII, no colon), maybe white space,
    /// then `:`.
    Field,
    /// White space first, after a field: more of that field.
    Continuation,
    /// `From ` on the first line: an mbox separator, skipped.
    MboxFrom,
    /// The empty line that ends the header.
    Empty,
    /// A bare CR or a NUL: the reader refuses the message rather than
    /// guess where the line ends (a server would see two lines).
    Unsafe,
    /// Anything else: not part of a header (a continuation before any
    /// field, no colon, a bad name).
    NotHeader,
}

/// Classifies `line` (its line break included or not), the `number`th
/// (from 1) of a message, `after_field` when a field came before it. A
/// sendmail that is given a message whose header stops short (or that has
/// none) ends the header at the first [`HeaderLine::NotHeader`] line, as
/// Postfix's cleanup does.
pub fn header_line(line: &[u8], number: usize, after_field: bool) -> HeaderLine {
    let content = strip_line_end(line);
    if control_in_line(content).is_some() {
        return HeaderLine::Unsafe;
    }
    if content.is_empty() {
        return HeaderLine::Empty;
    }
    if number == 1 && content.starts_with(b"From ") {
        return HeaderLine::MboxFrom;
    }
    if matches!(content.first(), Some(b' ' | b'\t')) {
        return if after_field {
            HeaderLine::Continuation
        } else {
            HeaderLine::NotHeader
        };
    }
    match field_name(content) {
        Some(_) => HeaderLine::Field,
        None => HeaderLine::NotHeader,
    }
}

/// The name of the field on `content` (a line without its break) and the
/// value after the colon, when it is a field line.
fn field_name(content: &[u8]) -> Option<(HeaderName, &[u8])> {
    let colon = content.iter().position(|&b| b == b':')?;
    let (name, value) = content.split_at(colon);
    // RFC 822 allowed white space before the colon; drop it.
    let name = std::str::from_utf8(name).ok()?.trim_end();
    let name = HeaderName::new(name).ok()?;
    Some((name, value.get(1..).unwrap_or_default()))
}

/// Reads header fields up to and including the empty line that ends them;
/// returns them and the number of bytes consumed. A message with no empty
/// line is all header. A leading mbox `From ` line is skipped.
pub(crate) fn header_block(reader: &mut dyn BufRead) -> Result<(Headers, usize), ParseError> {
    let mut headers = Headers::new();
    let mut consumed = 0;
    let mut line = Vec::new();
    let mut current: Option<(HeaderName, Vec<u8>)> = None;
    let mut number = 0;
    loop {
        line.clear();
        // Bounded even when a line never ends.
        let room = (MAX_HEADER_BLOCK + 1).saturating_sub(consumed) as u64;
        let n = (&mut *reader).take(room).read_until(b'\n', &mut line)?;
        if n == 0 {
            break;
        }
        consumed += n;
        number += 1;
        if consumed > MAX_HEADER_BLOCK {
            return Err(ParseError::Malformed {
                line: number,
                reason: "the header block is larger than 4 MiB",
            });
        }
        let content = strip_line_end(&line);
        // The wire turns a bare CR into a line break (and a NUL is no text):
        // a field that holds one would be read here as one field and by the
        // server as two, so a hidden `Bcc:` or second `From:` could pass
        // unseen. Such a header is refused rather than guessed at.
        if let Some(reason) = control_in_line(content) {
            return Err(ParseError::Malformed {
                line: number,
                reason,
            });
        }
        if content.is_empty() {
            break;
        }
        if number == 1 && content.starts_with(b"From ") {
            continue;
        }
        if matches!(content.first(), Some(b' ' | b'\t')) {
            match current.as_mut() {
                Some((_, value)) => {
                    value.extend_from_slice(b"\r\n");
                    value.extend_from_slice(content);
                }
                None => {
                    return Err(ParseError::Malformed {
                        line: number,
                        reason: "a continuation line comes before any field",
                    })
                }
            }
            continue;
        }
        let (name, value) = field_name(content).ok_or(ParseError::Malformed {
            line: number,
            reason: if content.contains(&b':') {
                "the field name is empty or holds characters RFC 5322 forbids"
            } else {
                "no ':' after the field name"
            },
        })?;
        if let Some((name, value)) = current.take() {
            headers.append_value(name, HeaderValue::raw(value));
        }
        current = Some((name, value.to_vec()));
    }
    if let Some((name, value)) = current.take() {
        headers.append_value(name, HeaderValue::raw(value));
    }
    Ok((headers, consumed))
}

/// A line's content without its line break: LF or CRLF. A CR at the very
/// end of the input, with no LF after it, stays (it is a bare CR).
fn strip_line_end(line: &[u8]) -> &[u8] {
    match line.strip_suffix(b"\n") {
        Some(line) => line.strip_suffix(b"\r").unwrap_or(line),
        None => line,
    }
}

/// Why a header line (without its line break) cannot be sent as it was
/// read: it holds a CR that does not end the line, or a NUL.
pub(crate) fn control_in_line(content: &[u8]) -> Option<&'static str> {
    if memchr::memchr(b'\r', content).is_some() {
        Some("a bare CR (a CR not followed by LF) in the header; the server would read it as a line break")
    } else if memchr::memchr(0, content).is_some() {
        Some("a NUL byte in the header")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(input: &[u8]) -> Result<(Headers, usize), ParseError> {
        let mut reader = input;
        header_block(&mut reader)
    }

    #[test]
    fn fields_continuations_and_body_offset() {
        let input = b"To: a@x\nSubject: one\n two\n\nbody";
        let (headers, consumed) = parse(input).unwrap();
        assert_eq!(headers.len(), 2);
        assert_eq!(headers.get("subject").unwrap().as_text(), "one two");
        assert_eq!(&input[consumed..], b"body");
    }

    #[test]
    fn mbox_from_line_is_skipped() {
        let (headers, _) = parse(b"From a@x Sat Nov 28 00:00:00 2026\r\nTo: b@y\r\n\r\n").unwrap();
        assert_eq!(headers.len(), 1);
    }

    #[test]
    fn each_line_is_classified_as_the_reader_reads_it() {
        use HeaderLine::*;
        let cases: &[(&[u8], usize, bool, HeaderLine)] = &[
            (b"To: a@x\r\n", 1, false, Field),
            (b"Subject : old style\n", 2, true, Field),
            (b"  more\r\n", 2, true, Continuation),
            (b"  more\r\n", 1, false, NotHeader),
            (b"From a@x Sat Nov 28 00:00:00 2026\n", 1, false, MboxFrom),
            (b"From a@x Sat Nov 28 00:00:00 2026\n", 2, true, NotHeader),
            (b"\r\n", 3, true, Empty),
            (b"disk full\n", 1, false, NotHeader),
            (b"a b: c\n", 1, false, NotHeader),
            (b": c\n", 1, false, NotHeader),
            (b"To: a\rb\n", 1, false, Unsafe),
            (b"not\0a field\n", 1, false, Unsafe),
        ];
        for &(line, number, after, kind) in cases {
            assert_eq!(
                header_line(line, number, after),
                kind,
                "{:?}",
                String::from_utf8_lossy(line)
            );
            // The reader agrees: a NotHeader line is the one it refuses.
            assert_eq!(after, number > 1);
            let mut message = b"X-First: 1\r\n".repeat(usize::from(after));
            message.extend_from_slice(line);
            message.extend_from_slice(b"\r\n");
            assert_eq!(
                parse(&message).is_err(),
                matches!(kind, NotHeader | Unsafe),
                "{:?}",
                String::from_utf8_lossy(line)
            );
        }
    }

    #[test]
    fn malformed_lines_name_their_line() {
        let err = parse(b"To: a@x\r\nnot a header\r\n\r\n").unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
        assert!(parse(b" leading continuation\r\n\r\n").is_err());
    }

    #[test]
    fn bare_cr_and_nul_in_the_header_are_refused_with_their_line() {
        for (input, line) in [
            (&b"To: a@x\r\nSubject: x\rBcc: hidden@y\r\n\r\nbody"[..], 2),
            (b"To: a@x\nSubject: x\r\r\nDate: later\n\nbody", 2),
            (b"To: a@x\n\rFrom: b@y\n\nbody", 2),
            (b"To: a@x\nSubject: a\n continued\rFrom: b@y\n\nbody", 3),
            (b"To: a@x\nSubject: end\r", 2),
        ] {
            let err = parse(input).unwrap_err().to_string();
            assert!(err.contains(&format!("line {line}: a bare CR")), "{err}");
        }
        let err = parse(b"To: a@x\r\nSubject: x\0y\r\n\r\n").unwrap_err();
        assert!(err.to_string().contains("line 2: a NUL"), "{err}");
        // The body is not the header: a bare CR there is the writer's to
        // turn into CRLF.
        let (headers, consumed) = parse(b"To: a@x\r\n\r\nbody\rmore").unwrap();
        assert_eq!((headers.len(), consumed), (1, 11));
    }

    #[test]
    fn headers_only_message() {
        let (headers, consumed) = parse(b"To: a@x").unwrap();
        assert_eq!(headers.len(), 1);
        assert_eq!(consumed, 7);
    }
}
