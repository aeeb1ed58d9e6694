//! Shared fixtures for the benchmarks: the same message content for postie,
//! lettre and mail-builder, a deterministic byte generator and a check that
//! each library's output really carries that content.

pub mod throughput;

use std::io::{self, Write};
use std::time::{Duration, SystemTime};

/// Fixed Date (2025-07-01 10:00:00 UTC) and Message-ID, given to every
/// library so none of them spends time on the clock, the host name or a
/// random id that another skips.
pub const DATE_UNIX: i64 = 1_751_364_000;
/// [`DATE_UNIX`] as an RFC 5322 date-time, for postie (which takes text).
pub const DATE_TEXT: &str = "Tue, 01 Jul 2025 10:00:00 +0000";
/// Message-ID without its angle brackets.
pub const MESSAGE_ID: &str = "20250701100000.4f2a9c@example.org";
/// From, To and Subject.
pub const FROM_NAME: &str = "Ann Example";
pub const FROM_ADDR: &str = "ann@example.org";
pub const TO_NAME: &str = "Bob Example";
pub const TO_ADDR: &str = "bob@example.org";
pub const SUBJECT: &str = "Quarterly report, July 2025";
/// The attachment's name (its type, application/pdf, follows from it).
pub const ATTACHMENT_NAME: &str = "report.pdf";
pub const ATTACHMENT_TYPE: &str = "application/pdf";

/// A cheap deterministic byte soup (xorshift32), covering all byte values.
pub fn pseudo_random(len: usize, seed: u32) -> Vec<u8> {
    let mut out = vec![0u8; len];
    fill_pseudo_random(&mut out, &mut (seed | 1));
    out
}

/// Fills `buf` from the xorshift32 state `x`, four bytes per step.
pub fn fill_pseudo_random(buf: &mut [u8], x: &mut u32) {
    let mut chunks = buf.chunks_exact_mut(4);
    for chunk in &mut chunks {
        *x ^= *x << 13;
        *x ^= *x >> 17;
        *x ^= *x << 5;
        chunk.copy_from_slice(&x.to_le_bytes());
    }
    for b in chunks.into_remainder() {
        *x ^= *x << 13;
        *x ^= *x >> 17;
        *x ^= *x << 5;
        *b = *x as u8;
    }
}

/// What the user hands to each library, owned (every API here takes
/// ownership or a Cow, so none pays for a copy the user would not make).
#[derive(Clone, Debug)]
pub struct Inputs {
    /// About 1 KiB of ASCII prose in lines of under 78 characters.
    pub text: String,
    /// About 2 KiB of ASCII HTML.
    pub html: String,
    /// 10 KiB of pseudo-random bytes; empty for no attachment (the message
    /// is then multipart/alternative alone).
    pub attachment: Vec<u8>,
}

const PROSE: &[&str] = &[
    "Hello Bob,",
    "",
    "please find attached the quarterly report for July. The numbers are in",
    "line with the forecast we discussed last month, with two exceptions that",
    "are explained in section three: shipping costs rose faster than expected",
    "and the new warehouse opened two weeks late.",
    "",
    "Revenue grew by four percent over the previous quarter, mostly from the",
    "subscription plans; one-off sales were flat. Margins held steady.",
    "",
    "Could you look at the appendix before Thursday's meeting? I would like to",
    "settle the budget for the autumn campaign then, and the appendix has the",
    "three options with their costs and the expected reach of each.",
    "",
    "Let me know if anything in the report is unclear or if you need the raw",
    "data behind the charts; I can send the spreadsheet separately.",
    "",
    "Best regards,",
    "Ann",
];

impl Inputs {
    /// The typical message of the `build_serialize` benchmark.
    pub fn typical() -> Self {
        let mut text = String::new();
        while text.len() < 1024 {
            for line in PROSE {
                text.push_str(line);
                text.push('\n');
            }
        }
        text.truncate(text[..1024].rfind('\n').map_or(1024, |i| i + 1));
        let mut html = String::from(
            "<!DOCTYPE html>\n<html>\n<head><meta charset=\"us-ascii\">\
             <title>Quarterly report</title></head>\n<body>\n",
        );
        'outer: loop {
            for line in PROSE {
                let piece = if line.is_empty() {
                    "<br>\n".to_owned()
                } else {
                    // Short lines: all three libraries then send it as 7bit
                    // (lettre and mail-builder choose quoted-printable for
                    // lines over 76 characters, postie only over 998).
                    format!("<p style=\"margin:0 0 8px 0\">\n{line}\n</p>\n")
                };
                if html.len() + piece.len() > 2048 - 16 {
                    break 'outer;
                }
                html.push_str(&piece);
            }
        }
        html.push_str("</body>\n</html>\n");
        Self {
            text,
            html,
            attachment: pseudo_random(10 * 1024, 0x1234_5678),
        }
    }

    /// [`Inputs::typical`] without the attachment: the cost of headers,
    /// structure and text alone.
    pub fn text_only() -> Self {
        Self {
            attachment: Vec::new(),
            ..Self::typical()
        }
    }
}

/// postie-mime: build, then serialize into a `Vec`.
pub fn postie(inputs: Inputs) -> Vec<u8> {
    let mut builder = postie_mime::builder::MessageBuilder::new()
        .from(format!("{FROM_NAME} <{FROM_ADDR}>"))
        .to(format!("{TO_NAME} <{TO_ADDR}>"))
        .subject(SUBJECT)
        .header("Date", DATE_TEXT)
        .header("Message-ID", format!("<{MESSAGE_ID}>"))
        .text(inputs.text)
        .html(inputs.html);
    if !inputs.attachment.is_empty() {
        builder = builder.attach_bytes(ATTACHMENT_NAME, inputs.attachment, None);
    }
    let msg = builder.build().expect("postie build");
    msg.to_bytes().expect("postie serialize")
}

/// lettre: build, then `formatted()`.
pub fn lettre(inputs: Inputs) -> Vec<u8> {
    use lettre::message::{header::ContentType, Attachment, Mailbox, MultiPart, SinglePart};
    let from: Mailbox = format!("{FROM_NAME} <{FROM_ADDR}>").parse().expect("from");
    let to: Mailbox = format!("{TO_NAME} <{TO_ADDR}>").parse().expect("to");
    let content_type = ContentType::parse(ATTACHMENT_TYPE).expect("content type");
    let alternative = MultiPart::alternative()
        .singlepart(SinglePart::plain(inputs.text))
        .singlepart(SinglePart::html(inputs.html));
    let body = if inputs.attachment.is_empty() {
        alternative
    } else {
        MultiPart::mixed().multipart(alternative).singlepart(
            Attachment::new(ATTACHMENT_NAME.to_owned()).body(inputs.attachment, content_type),
        )
    };
    let msg = lettre::Message::builder()
        .from(from)
        .to(to)
        .subject(SUBJECT)
        .date(SystemTime::UNIX_EPOCH + Duration::from_secs(DATE_UNIX as u64))
        .message_id(Some(format!("<{MESSAGE_ID}>")))
        .multipart(body)
        .expect("lettre build");
    msg.formatted()
}

/// mail-builder: build, then `write_to_vec()`.
pub fn mail_builder(inputs: Inputs) -> Vec<u8> {
    let mut builder = mail_builder::MessageBuilder::new()
        .from((FROM_NAME, FROM_ADDR))
        .to((TO_NAME, TO_ADDR))
        .subject(SUBJECT)
        .date(DATE_UNIX)
        .message_id(MESSAGE_ID)
        .text_body(inputs.text)
        .html_body(inputs.html);
    if !inputs.attachment.is_empty() {
        builder = builder.attachment(ATTACHMENT_TYPE, ATTACHMENT_NAME, inputs.attachment);
    }
    builder.write_to_vec().expect("mail-builder serialize")
}

/// Checks that `out` is a multipart/mixed message (multipart/alternative
/// when there is no attachment) whose text, HTML and base64 attachment
/// decode back to `inputs` (text parts compared with
/// CRLF line ends and trailing white space ignored). Panics otherwise.
pub fn check_output(lib: &str, out: &[u8], inputs: &Inputs) {
    let text = std::str::from_utf8(out).unwrap_or_else(|_| panic!("{lib}: output is not UTF-8"));
    assert!(text.is_ascii(), "{lib}: output is not ASCII");
    let lower = text.to_ascii_lowercase();
    let with_attachment = !inputs.attachment.is_empty();
    for needle in ["multipart/alternative", "text/plain", "text/html"] {
        assert!(lower.contains(needle), "{lib}: no {needle}");
    }
    assert_eq!(
        lower.contains("multipart/mixed"),
        with_attachment,
        "{lib}: mixed?"
    );
    assert_eq!(
        text.contains(ATTACHMENT_NAME),
        with_attachment,
        "{lib}: attachment name?"
    );
    // Every part: split at lines starting with "--", take header + body.
    let mut found_attachment = !with_attachment;
    let mut found_text = false;
    let mut found_html = false;
    for part in text.split("\r\n--").skip(1) {
        let Some((head, body)) = part.split_once("\r\n\r\n") else {
            continue;
        };
        let head_lower = head.to_ascii_lowercase();
        let b64 = head_lower.contains("content-transfer-encoding: base64");
        let qp = head_lower.contains("content-transfer-encoding: quoted-printable");
        let decoded: Vec<u8> = if qp {
            decode_qp(body)
        } else if b64 {
            let clean: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
            use base64::Engine as _;
            match base64::engine::general_purpose::STANDARD.decode(clean) {
                Ok(d) => d,
                Err(e) => panic!("{lib}: bad base64: {e}"),
            }
        } else {
            body.as_bytes().to_vec()
        };
        let norm = |s: &[u8]| {
            String::from_utf8_lossy(s)
                .replace("\r\n", "\n")
                .trim_end()
                .to_owned()
        };
        if head_lower.contains("application/pdf") {
            assert_eq!(decoded, inputs.attachment, "{lib}: attachment differs");
            found_attachment = true;
        } else if head_lower.contains("text/plain") {
            assert_eq!(
                norm(&decoded),
                inputs.text.trim_end(),
                "{lib}: text differs"
            );
            found_text = true;
        } else if head_lower.contains("text/html") {
            assert_eq!(
                norm(&decoded),
                inputs.html.trim_end(),
                "{lib}: html differs"
            );
            found_html = true;
        }
    }
    assert!(
        found_attachment && found_text && found_html,
        "{lib}: parts missing"
    );
}

/// Quoted-printable decoding, enough for the check.
fn decode_qp(body: &str) -> Vec<u8> {
    let b = body.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'=' {
            if b.get(i + 1..i + 3) == Some(b"\r\n") {
                i += 3;
                continue;
            }
            if let Some(hex) = body.get(i + 1..i + 3) {
                if let Ok(v) = u8::from_str_radix(hex, 16) {
                    out.push(v);
                    i += 3;
                    continue;
                }
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// A writer that throws everything away, like `io::sink()`, but counts the
/// bytes so the output size can be shown and checked.
#[derive(Debug, Default)]
pub struct CountingSink {
    pub bytes: u64,
    pub writes: u64,
}

impl Write for CountingSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.bytes += buf.len() as u64;
        self.writes += 1;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// VmHWM (peak resident set) and VmRSS from /proc/self/status, in KiB.
pub fn rss_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}
