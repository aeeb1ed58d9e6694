//! SMTP replies (RFC 5321 §4.2) and an incremental parser for them.
//!
//! The parser is a push parser in the httparse style: bytes go in as they
//! arrive, a whole reply comes out once its last line is there, and "not
//! enough data yet" is not an error. It bounds what a server can make it
//! hold: a line longer than [`Limits::max_line`] or a reply larger than
//! [`Limits::max_reply`] is an error, never an allocation.

use std::fmt;

/// A reply from the server: its code, the enhanced status code when the
/// server gave one (RFC 2034, RFC 3463), and the text of each line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    code: u16,
    enhanced: Option<EnhancedCode>,
    lines: Vec<String>,
}

impl Reply {
    /// A reply from its parts; mostly for tests and for servers.
    pub fn new(code: u16, enhanced: Option<EnhancedCode>, lines: Vec<String>) -> Self {
        Self {
            code,
            enhanced,
            lines,
        }
    }

    /// The three-digit reply code.
    pub fn code(&self) -> u16 {
        self.code
    }

    /// The enhanced status code of the first line, like `5.1.1`.
    pub fn enhanced(&self) -> Option<EnhancedCode> {
        self.enhanced
    }

    /// The text of each line, with the code and enhanced code removed.
    pub fn lines(&self) -> &[String] {
        &self.lines
    }

    /// The text of all lines joined by spaces.
    pub fn text(&self) -> String {
        self.lines.join(" ")
    }

    /// 2xx: the command succeeded.
    pub fn is_positive(&self) -> bool {
        (200..300).contains(&self.code)
    }

    /// 3xx: go on (354 after DATA, 334 during AUTH).
    pub fn is_intermediate(&self) -> bool {
        (300..400).contains(&self.code)
    }

    /// 4xx: failed, may work later.
    pub fn is_transient(&self) -> bool {
        (400..500).contains(&self.code)
    }

    /// 5xx: failed, will fail again.
    pub fn is_permanent(&self) -> bool {
        (500..600).contains(&self.code)
    }

    /// The reply's lines as the server wrote them, without line endings
    /// (`250-first`, ..., `250 last`, the enhanced code on the first): for
    /// a transcript.
    pub fn transcript_lines(&self) -> Vec<String> {
        let count = self.lines.len();
        self.lines
            .iter()
            .enumerate()
            .map(|(i, text)| {
                let sep = if i + 1 == count { ' ' } else { '-' };
                match self.enhanced {
                    Some(e) if i == 0 => format!("{}{sep}{e} {text}", self.code),
                    _ => format!("{}{sep}{text}", self.code),
                }
            })
            .collect()
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code)?;
        if let Some(enhanced) = self.enhanced {
            write!(f, " {enhanced}")?;
        }
        let text = self.text();
        if !text.is_empty() {
            write!(f, " {text}")?;
        }
        Ok(())
    }
}

/// An enhanced mail system status code (RFC 3463): class.subject.detail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EnhancedCode {
    /// 2, 4 or 5.
    pub class: u8,
    /// 0 to 999.
    pub subject: u16,
    /// 0 to 999.
    pub detail: u16,
}

impl EnhancedCode {
    /// Reads `class.subject.detail` at the start of `text`; returns it and
    /// the rest of the text after the following space.
    fn split_from(text: &str) -> Option<(Self, &str)> {
        let (token, rest) = match text.split_once(' ') {
            Some((token, rest)) => (token, rest),
            None => (text, ""),
        };
        let mut parts = token.split('.');
        let class = parts.next()?;
        let subject = parts.next()?;
        let detail = parts.next()?;
        if parts.next().is_some() {
            return None;
        }
        let number = |s: &str, max_len: usize| {
            (!s.is_empty() && s.len() <= max_len && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse::<u16>().ok())
                .flatten()
        };
        let class = u8::try_from(number(class, 1)?).ok()?;
        if !matches!(class, 2 | 4 | 5) {
            return None;
        }
        Some((
            Self {
                class,
                subject: number(subject, 3)?,
                detail: number(detail, 3)?,
            },
            rest,
        ))
    }
}

impl fmt::Display for EnhancedCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.class, self.subject, self.detail)
    }
}

/// How much a server may make the parser hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Longest reply line, line ending included. RFC 5321 §4.5.3.1.5 says
    /// 512; real servers exceed that a little, so the default is 4096.
    pub max_line: usize,
    /// Largest whole reply (all its lines). Default 64 KiB.
    pub max_reply: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_line: 4096,
            max_reply: 64 * 1024,
        }
    }
}

/// A reply that breaks the rules badly enough that the dialogue cannot go on.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplyError {
    /// A line does not start with a three-digit code from 200 to 599.
    #[error("reply line without a valid code: {0:?}")]
    BadCode(String),
    /// The fourth character of a line is neither space nor `-`.
    #[error("reply line with {0:?} after the code")]
    BadSeparator(String),
    /// Lines of one multi-line reply carry different codes.
    #[error("multi-line reply mixes codes {first} and {other}")]
    MixedCodes {
        /// The code of the first line.
        first: u16,
        /// The different code of a later line.
        other: u16,
    },
    /// A line is longer than the limit.
    #[error("reply line longer than {0} bytes")]
    LineTooLong(usize),
    /// The whole reply is larger than the limit.
    #[error("reply larger than {0} bytes")]
    ReplyTooLong(usize),
}

/// Turns bytes from the server into [`Reply`] values.
///
/// ```
/// use postie_smtp::reply::ReplyParser;
/// let mut parser = ReplyParser::default();
/// parser.push(b"250-mail.example.org\r\n250-SIZE 1000");
/// assert_eq!(parser.next_reply()?, None); // the last line is not complete yet
/// parser.push(b"\r\n250 8BITMIME\r\n");
/// let reply = parser.next_reply()?.unwrap();
/// assert_eq!(reply.code(), 250);
/// assert_eq!(reply.lines(), ["mail.example.org", "SIZE 1000", "8BITMIME"]);
/// # Ok::<(), postie_smtp::reply::ReplyError>(())
/// ```
#[derive(Debug, Default)]
pub struct ReplyParser {
    buf: Vec<u8>,
    limits: Limits,
}

impl ReplyParser {
    /// A parser with the given limits.
    pub fn with_limits(limits: Limits) -> Self {
        Self {
            buf: Vec::new(),
            limits,
        }
    }

    /// Adds bytes received from the server.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Whether bytes are held that are not yet part of a returned reply.
    pub fn has_buffered(&self) -> bool {
        !self.buf.is_empty()
    }

    /// Throws away whatever is buffered.
    pub fn clear(&mut self) {
        self.buf.clear();
    }

    /// The next complete reply, if the buffer holds one.
    pub fn next_reply(&mut self) -> Result<Option<Reply>, ReplyError> {
        let mut start = 0;
        let mut code = None;
        let mut enhanced = None;
        let mut lines = Vec::new();
        loop {
            let rest = self.buf.get(start..).unwrap_or_default();
            let Some(newline) = rest.iter().position(|&b| b == b'\n') else {
                if rest.len() > self.limits.max_line {
                    return Err(ReplyError::LineTooLong(self.limits.max_line));
                }
                if start > self.limits.max_reply {
                    return Err(ReplyError::ReplyTooLong(self.limits.max_reply));
                }
                return Ok(None);
            };
            if newline + 1 > self.limits.max_line {
                return Err(ReplyError::LineTooLong(self.limits.max_line));
            }
            let raw = rest.get(..newline).unwrap_or_default();
            // A bare LF ends a line too: broken servers send it, and reading
            // it costs nothing in safety on the reply side.
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            let line = String::from_utf8_lossy(raw);
            start += newline + 1;
            if start > self.limits.max_reply {
                return Err(ReplyError::ReplyTooLong(self.limits.max_reply));
            }
            let (line_code, last, text) = split_line(&line)?;
            match code {
                None => code = Some(line_code),
                Some(first) if first != line_code => {
                    return Err(ReplyError::MixedCodes {
                        first,
                        other: line_code,
                    })
                }
                Some(_) => {}
            }
            let text = match EnhancedCode::split_from(text) {
                Some((found, rest)) if u16::from(found.class) == line_code / 100 => {
                    enhanced.get_or_insert(found);
                    rest
                }
                _ => text,
            };
            lines.push(text.to_owned());
            if last {
                self.buf.drain(..start);
                return Ok(Some(Reply {
                    code: line_code,
                    enhanced,
                    lines,
                }));
            }
        }
    }
}

/// Splits a line into its code, whether it is the last line, and its text.
fn split_line(line: &str) -> Result<(u16, bool, &str), ReplyError> {
    let digits = line
        .get(..3)
        .filter(|d| d.bytes().all(|b| b.is_ascii_digit()));
    let code = digits
        .and_then(|d| d.parse::<u16>().ok())
        .filter(|c| (200..600).contains(c))
        .ok_or_else(|| ReplyError::BadCode(truncated(line)))?;
    match line.as_bytes().get(3) {
        None => Ok((code, true, "")),
        Some(b' ') => Ok((code, true, line.get(4..).unwrap_or_default())),
        Some(b'-') => Ok((code, false, line.get(4..).unwrap_or_default())),
        Some(_) => Err(ReplyError::BadSeparator(truncated(line))),
    }
}

fn truncated(line: &str) -> String {
    line.chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(input: &[u8]) -> Result<Vec<Reply>, ReplyError> {
        let mut parser = ReplyParser::default();
        parser.push(input);
        let mut out = Vec::new();
        while let Some(reply) = parser.next_reply()? {
            out.push(reply);
        }
        Ok(out)
    }

    #[test]
    fn single_and_multi_line() {
        let replies = parse_all(b"220 hi there\r\n250-a\r\n250 b\r\n").unwrap();
        assert_eq!(replies.len(), 2);
        assert_eq!(replies[0].code(), 220);
        assert_eq!(replies[0].text(), "hi there");
        assert_eq!(replies[1].lines(), ["a", "b"]);
    }

    #[test]
    fn enhanced_codes_are_split_off_when_the_class_matches() {
        let reply = &parse_all(b"550 5.1.1 <x@y>: no such user\r\n").unwrap()[0];
        assert_eq!(reply.enhanced().unwrap().to_string(), "5.1.1");
        assert_eq!(reply.text(), "<x@y>: no such user");
        let mismatch = &parse_all(b"250 5.1.1 odd\r\n").unwrap()[0];
        assert_eq!(mismatch.enhanced(), None);
        assert_eq!(mismatch.text(), "5.1.1 odd");
    }

    #[test]
    fn bare_code_and_bare_lf() {
        let replies = parse_all(b"250\n354 go\n").unwrap();
        assert_eq!(replies[0].text(), "");
        assert_eq!(replies[1].code(), 354);
    }

    #[test]
    fn byte_at_a_time() {
        let input = b"250-one\r\n250 two\r\n";
        let mut parser = ReplyParser::default();
        for (i, b) in input.iter().enumerate() {
            parser.push(&[*b]);
            let got = parser.next_reply().unwrap();
            assert_eq!(got.is_some(), i == input.len() - 1);
        }
        assert!(!parser.has_buffered());
    }

    #[test]
    fn malformed_replies_are_errors() {
        assert!(matches!(
            parse_all(b"hello\r\n"),
            Err(ReplyError::BadCode(_))
        ));
        assert!(matches!(parse_all(b"25\r\n"), Err(ReplyError::BadCode(_))));
        assert!(matches!(
            parse_all(b"600 x\r\n"),
            Err(ReplyError::BadCode(_))
        ));
        assert!(matches!(
            parse_all(b"250x\r\n"),
            Err(ReplyError::BadSeparator(_))
        ));
        assert!(matches!(
            parse_all(b"250-a\r\n550 b\r\n"),
            Err(ReplyError::MixedCodes {
                first: 250,
                other: 550
            })
        ));
    }

    #[test]
    fn limits_hold_without_a_newline() {
        let long = vec![b'2'; 5000];
        assert!(matches!(
            parse_all(&long),
            Err(ReplyError::LineTooLong(4096))
        ));
        let mut many = Vec::new();
        for _ in 0..2000 {
            many.extend_from_slice(b"250-0123456789012345678901234567890123456789\r\n");
        }
        assert!(matches!(parse_all(&many), Err(ReplyError::ReplyTooLong(_))));
    }

    #[test]
    fn display_shows_code_enhanced_and_text() {
        let reply = &parse_all(b"451 4.3.0 try again\r\n").unwrap()[0];
        assert_eq!(reply.to_string(), "451 4.3.0 try again");
    }
}
