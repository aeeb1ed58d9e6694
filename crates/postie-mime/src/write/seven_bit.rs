//! Making a message fit a transport without 8BITMIME.
//!
//! What postie's writer makes is always 7-bit. A message read from bytes
//! or a file may not be: an `8bit` or `binary` body, raw UTF-8 in a text
//! part, raw UTF-8 header fields. [`to_seven_bit`] rewrites only what
//! needs it: each leaf holding 8-bit data gets the encoding the writer
//! would choose for it (quoted-printable or base64, whichever is shorter
//! for text; base64 for anything else), and each header field holding
//! 8-bit text becomes RFC 2047 encoded-words. Everything else, 7-bit
//! leaves, the order of fields and the parts' boundaries, stays as it was.
//!
//! ```
//! use postie_mime::{seven_bit, Message};
//!
//! let raw = "Subject: caf\u{e9}\r\nContent-Type: text/plain; charset=utf-8\r\n\
//!            Content-Transfer-Encoding: 8bit\r\n\r\nd\u{e9}j\u{e0} vu, once more with feeling\r\n";
//! let msg = Message::parse(raw.as_bytes())?;
//! assert!(seven_bit::needs_rewrite(&msg)?);
//! let out = seven_bit::to_seven_bit(&msg)?.to_bytes()?;
//! assert!(out.is_ascii());
//! let text = String::from_utf8(out).unwrap();
//! assert!(text.contains("Subject: =?utf-8?"));
//! assert!(text.contains("Content-Transfer-Encoding: quoted-printable\r\n"));
//! assert!(text.contains("d=C3=A9j=C3=A0 vu, once more"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A body kept in a file ([`Message::parse_file`]) is read into memory to
//! be rewritten: the rewrite needs the parts' structure, and it is only
//! done for the rare server that lacks 8BITMIME.

use std::io::Write;

use crate::fields::header::{HeaderValue, Headers};
use crate::message::{Body, Message};
use crate::read::tolerant::{self, PartExt};
use crate::write::serialize;
use crate::Error;

/// Longest line, CRLF aside, that a 7-bit body may have.
const MAX_LINE: usize = 998;

/// Whether `message` as written holds 8-bit data (or lines a 7-bit
/// transport cannot take), so that [`to_seven_bit`] would change it.
/// Writes the message once into a counter; nothing is kept.
pub fn needs_rewrite(message: &Message) -> Result<bool, Error> {
    needs_rewrite_with_headers(message, message.headers())
}

/// [`needs_rewrite`] for `message` written under `headers`.
pub fn needs_rewrite_with_headers(message: &Message, headers: &Headers) -> Result<bool, Error> {
    let mut check = Check::default();
    serialize::push_entity(headers, message, &mut check, true)?;
    Ok(!check.clean())
}

/// `message` rewritten for a 7-bit transport; see the
/// [module documentation](self).
pub fn to_seven_bit(message: &Message) -> Result<Message, Error> {
    to_seven_bit_with_headers(message, message.headers())
}

/// [`to_seven_bit`] for `message` written under `headers` (as a sender
/// that added its own fields writes it).
pub fn to_seven_bit_with_headers(message: &Message, headers: &Headers) -> Result<Message, Error> {
    entity(headers, message, true)
}

fn entity(headers: &Headers, message: &Message, top: bool) -> Result<Message, Error> {
    match message.body() {
        Body::Raw(_) | Body::RawFile { .. } => {
            // A body kept as it was: read its structure first.
            let mut bytes = Vec::new();
            serialize::push_entity(headers, message, &mut bytes, top)?;
            let parsed = tolerant::parse(&bytes).message;
            match parsed.body() {
                Body::Multipart { .. } => entity(parsed.headers(), &parsed, top),
                _ => leaf(&parsed),
            }
        }
        Body::Multipart {
            content_type,
            parts,
        } => {
            let parts = parts
                .iter()
                .map(|part| entity(part.headers(), part, false))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Message::from_parts(
                seven_bit_headers(headers)?,
                Body::Multipart {
                    content_type: content_type.clone(),
                    parts,
                },
            ))
        }
        // The writer encodes these itself; only the fields may need it.
        other => Ok(Message::from_parts(
            seven_bit_headers(headers)?,
            other.clone(),
        )),
    }
}

/// A leaf read from a message: kept when its body is 7-bit, else decoded
/// and handed to the writer to encode.
fn leaf(part: &Message) -> Result<Message, Error> {
    let headers = seven_bit_headers(part.headers())?;
    let Some(raw) = part.raw_body() else {
        return Ok(Message::from_parts(headers, part.body().clone()));
    };
    if is_seven_bit(raw) {
        return Ok(Message::from_parts(headers, Body::Raw(raw.to_vec())));
    }
    Ok(Message::from_parts(
        headers,
        Body::Data {
            data: part.decoded_body().into(),
            content_type: part.content_type(),
        },
    ))
}

/// The fields, with each one holding 8-bit text turned into text the
/// writer encodes (a field whose text cannot be a header value is kept).
fn seven_bit_headers(headers: &Headers) -> Result<Headers, Error> {
    let mut out = Headers::new();
    for field in headers.iter() {
        let value = field.value();
        let eight_bit = value.raw_bytes().is_some_and(|raw| !raw.is_ascii());
        let value = if eight_bit {
            let text = crate::read::decode::decode_rfc2047(&tolerant::value_text(value));
            HeaderValue::new(field.name().as_str(), &text).unwrap_or_else(|_| value.clone())
        } else {
            value.clone()
        };
        out.append_value(field.name().clone(), value);
    }
    Ok(out)
}

/// ASCII without NUL, every CR and LF in a CRLF pair, lines of at most 998
/// octets.
fn is_seven_bit(bytes: &[u8]) -> bool {
    let mut check = Check::default();
    check.feed(bytes);
    check.clean()
}

/// Watches bytes go by for what a 7-bit transport cannot take.
#[derive(Default)]
struct Check {
    bad: bool,
    line: usize,
    previous: u8,
}

impl Check {
    fn feed(&mut self, bytes: &[u8]) {
        if self.bad {
            return;
        }
        for &b in bytes {
            let lone_cr = self.previous == b'\r' && b != b'\n';
            let lone_lf = b == b'\n' && self.previous != b'\r';
            if b >= 128 || b == 0 || lone_cr || lone_lf {
                self.bad = true;
                return;
            }
            if b == b'\n' {
                self.line = 0;
            } else if b != b'\r' {
                self.line += 1;
                if self.line > MAX_LINE {
                    self.bad = true;
                    return;
                }
            }
            self.previous = b;
        }
    }

    fn clean(&self) -> bool {
        !self.bad && self.previous != b'\r'
    }
}

impl Write for Check {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.feed(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builder::MessageBuilder;

    fn written(msg: &Message) -> String {
        let bytes = msg.to_bytes().unwrap();
        assert!(is_seven_bit(&bytes), "{}", String::from_utf8_lossy(&bytes));
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn built_messages_need_nothing() {
        let msg = MessageBuilder::new()
            .from("Zoë <z@example.org>")
            .to("b@example.org")
            .subject("Grüße")
            .text("déjà vu")
            .attach_bytes("x.bin", vec![0, 255, 10, 13], None)
            .build()
            .unwrap();
        assert!(!needs_rewrite(&msg).unwrap());
    }

    #[test]
    fn eight_bit_parts_are_encoded_and_seven_bit_parts_kept() {
        let raw = b"From: a@example.org\r\n\
            Subject: plain\r\n\
            MIME-Version: 1.0\r\n\
            Content-Type: multipart/mixed; boundary=\"b1\"\r\n\
            \r\n\
            preamble\r\n\
            --b1\r\n\
            Content-Type: text/plain; charset=iso-8859-1\r\n\
            Content-Transfer-Encoding: 8bit\r\n\
            \r\n\
            caf\xe9\r\n\
            --b1\r\n\
            Content-Type: text/plain\r\n\
            \r\n\
            ascii stays as it is\r\n\
            --b1\r\n\
            Content-Type: application/octet-stream\r\n\
            Content-Transfer-Encoding: binary\r\n\
            \r\n\
            \x00\x01\xff\xfe\r\n\
            --b1--\r\n";
        let msg = Message::parse(raw).unwrap();
        assert!(needs_rewrite(&msg).unwrap());
        let out = written(&to_seven_bit(&msg).unwrap());
        assert_eq!(out.matches("MIME-Version").count(), 1);
        assert!(out.contains("--b1\r\n"), "the boundary is kept");
        assert!(out.contains("charset=iso-8859-1"));
        assert!(out.contains("caf=E9"));
        assert!(out.contains("\r\n\r\nascii stays as it is\r\n--b1"));
        assert!(out.contains("Content-Transfer-Encoding: base64\r\n\r\nAAH//g==\r\n"));

        let back = tolerant::parse(out.as_bytes());
        assert!(back.defects.is_empty(), "{:?}", back.defects);
        let parts = back.message.parts();
        assert_eq!(parts[0].text().unwrap(), "caf\u{e9}");
        assert_eq!(parts[2].decoded_body(), b"\x00\x01\xff\xfe");
    }

    #[test]
    fn raw_utf8_header_fields_become_encoded_words() {
        let raw = "From: Zo\u{eb} <z@example.org>\r\nSubject: Gr\u{fc}\u{df}e\r\nX-Plain: ok\r\n\r\nbody\r\n";
        let msg = Message::parse(raw.as_bytes()).unwrap();
        let out = written(&to_seven_bit(&msg).unwrap());
        assert!(out.contains("X-Plain: ok\r\n"));
        let back = tolerant::parse(out.as_bytes()).message;
        assert_eq!(back.header_text("Subject").unwrap(), "Grüße");
        assert!(back.header_text("From").unwrap().contains("Zoë"));
    }

    #[test]
    fn raw_8bit_bytes_in_encoded_words_keep_their_charset() {
        let raw = b"Subject: =?iso-8859-1?Q?Fr\xF6sche?= und caf\xe9\r\n\r\nbody\r\n";
        let msg = Message::parse(raw).unwrap();
        let out = written(&to_seven_bit(&msg).unwrap());
        assert!(out.is_ascii());
        let back = tolerant::parse(out.as_bytes()).message;
        assert_eq!(back.header_text("Subject").unwrap(), "Frösche und café");
    }

    #[test]
    fn long_lines_are_rewritten_too() {
        let raw = format!("Subject: x\r\n\r\n{}\r\n", "a".repeat(1200));
        let msg = Message::parse(raw.as_bytes()).unwrap();
        assert!(needs_rewrite(&msg).unwrap());
        let out = written(&to_seven_bit(&msg).unwrap());
        let back = tolerant::parse(out.as_bytes()).message;
        assert_eq!(back.text().unwrap(), format!("{}\r\n", "a".repeat(1200)));
    }

    #[test]
    fn clean_bytes_and_what_is_not() {
        assert!(is_seven_bit(b"a\r\nb\r\n"));
        assert!(!is_seven_bit(b"a\nb"));
        assert!(!is_seven_bit(b"a\rb"));
        assert!(!is_seven_bit(b"a\r"));
        assert!(!is_seven_bit(b"\x00"));
        assert!(!is_seven_bit("é".as_bytes()));
    }
}
