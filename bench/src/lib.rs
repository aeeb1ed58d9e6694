//! Shared fixtures for the benchmarks.
//!
//! The throughput and build workloads of `bench-workloads.md` (the spec):
//! the common fields, the text body of exactly S bytes ([`text_body`]), the
//! W5 message's inputs ([`W5Inputs`]) and each library's way of building and
//! serializing a W5 message ([`postie_w5`], [`lettre_w5`],
//! [`mail_builder_w5`]); every message gets a fresh Date and Message-ID.
//!
//! For the criterion benchmarks (`run.sh`): the same message content for
//! postie, lettre and mail-builder with a fixed Date and Message-ID
//! ([`Inputs`]), a deterministic byte generator and a check that each
//! library's output really carries that content.

pub mod throughput;

use std::io::{self, Write};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

/// The spec's From: `"Bench Sender" <sender@example.org>`.
pub const BENCH_FROM_NAME: &str = "Bench Sender";
pub const BENCH_FROM_ADDR: &str = "sender@example.org";
/// The From field as text, for the libraries that take one.
pub const BENCH_FROM: &str = "\"Bench Sender\" <sender@example.org>";
/// The spec's To: `"Bench Sink" <sink@example.com>`.
pub const BENCH_TO_NAME: &str = "Bench Sink";
pub const BENCH_TO_ADDR: &str = "sink@example.com";
pub const BENCH_TO: &str = "\"Bench Sink\" <sink@example.com>";
/// The envelope: MAIL FROM the From address, RCPT TO a recipient at
/// discard.test, which the test Postfix (scripts/servers.sh) accepts from
/// anyone, queues and throws away (smtp-sink takes anything). The header's
/// To stays the spec's.
pub const ENVELOPE_FROM: &str = BENCH_FROM_ADDR;
pub const ENVELOPE_TO: &str = "sink@discard.test";
/// The right side of the Message-IDs postie-bench makes (the other
/// libraries make theirs their own way).
pub const MESSAGE_ID_DOMAIN: &str = "example.org";

/// The words of the text body, used in a cycle.
pub const LOREM: &str = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do \
     eiusmod tempor incididunt ut labore et dolore magna aliqua, ut enim ad minim veniam, quis \
     nostrud exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat";
/// The longest line of the text body, without its CRLF.
pub const LINE_MAX: usize = 72;

/// The spec's text body of exactly `size` bytes: the words of [`LOREM`] in
/// a cycle, filled greedily into lines of at most [`LINE_MAX`] characters,
/// each ended by CRLF. When the next full line and its CRLF would not fit
/// strictly inside the bytes left, the last line is that line cut to the
/// bytes left less two, a trailing space replaced by `x`, then CRLF; a
/// single byte left is `x`. 7-bit, no trailing blanks, no line starting
/// with a dot.
pub fn text_body(size: usize) -> String {
    let words: Vec<&str> = LOREM.split(' ').collect();
    let mut out = String::with_capacity(size);
    let mut line = String::with_capacity(LINE_MAX);
    let mut next = 0;
    loop {
        let left = size - out.len();
        if left == 0 {
            break;
        }
        if left == 1 {
            out.push('x');
            break;
        }
        line.clear();
        loop {
            let word = words[next % words.len()];
            let len = if line.is_empty() {
                word.len()
            } else {
                line.len() + 1 + word.len()
            };
            if len > LINE_MAX {
                break;
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
            next += 1;
        }
        if line.len() + 2 < left {
            out.push_str(&line);
            out.push_str("\r\n");
        } else {
            line.truncate(left - 2);
            if line.ends_with(' ') {
                line.pop();
                line.push('x');
            }
            out.push_str(&line);
            out.push_str("\r\n");
            break;
        }
    }
    out
}

/// The W5 HTML part's opening and closing lines.
pub const HTML_OPEN: &str = "<html><body><p>\r\n";
pub const HTML_CLOSE: &str = "</p></body></html>\r\n";
/// The W5 HTML part: 2048 bytes.
pub const HTML_SIZE: usize = 2048;
/// The W5 text part's size.
pub const W5_TEXT_SIZE: usize = 1024;
/// The W5 attachment: name, type, size.
pub const PDF_NAME: &str = "invoice.pdf";
pub const PDF_TYPE: &str = "application/pdf";
pub const PDF_SIZE: usize = 4096;

/// `<html><body><p>` CRLF, the text body of 2048 − 17 − 20 bytes,
/// `</p></body></html>` CRLF: 2048 bytes.
pub fn html_body() -> String {
    let mut html = String::with_capacity(HTML_SIZE);
    html.push_str(HTML_OPEN);
    html.push_str(&text_body(HTML_SIZE - HTML_OPEN.len() - HTML_CLOSE.len()));
    html.push_str(HTML_CLOSE);
    html
}

/// 4096 bytes, byte i being (i × 31 + 7) mod 256.
pub fn invoice_pdf() -> Vec<u8> {
    (0..PDF_SIZE).map(|i| ((i * 31 + 7) % 256) as u8).collect()
}

/// The W5 message's Subject for message `n`.
pub fn w5_subject(n: u64) -> String {
    format!("Your order {n} has shipped")
}

/// The W1-W3, PF and W6 messages' Subject for message `n`.
pub fn text_subject(n: u64) -> String {
    format!("Bench message {n}")
}

/// The inputs of a W5 message, made once per process and borrowed by every
/// build, as the spec allows ("the text, HTML and PDF inputs may be
/// borrowed"): mail-builder borrows them, postie's builder keeps the
/// `'static` borrows without a copy or a reference count
/// (`SharedText::from_static`, `SharedBytes::from_static`), and lettre,
/// which takes only owned values, gets a copy, as its users would.
#[derive(Clone, Copy, Debug)]
pub struct W5Inputs {
    pub text: &'static str,
    pub html: &'static str,
    pub pdf: &'static [u8],
}

impl W5Inputs {
    pub fn new() -> Self {
        static MADE: OnceLock<(String, String, Vec<u8>)> = OnceLock::new();
        let (text, html, pdf) =
            MADE.get_or_init(|| (text_body(W5_TEXT_SIZE), html_body(), invoice_pdf()));
        Self { text, html, pdf }
    }
}

impl Default for W5Inputs {
    fn default() -> Self {
        Self::new()
    }
}

/// A fresh Date field in postie's format (the local time now).
pub fn postie_date_now() -> String {
    postie_mime::date::now_text()
}

/// A fresh Message-ID from postie.
pub fn postie_message_id() -> String {
    postie_mime::new_message_id(MESSAGE_ID_DOMAIN).expect("postie: Message-ID")
}

/// W5 message `n` with postie's builder, serialized. The builder borrows
/// the inputs (`'static`: no copy, no reference count); the attachment's
/// type follows from its name.
pub fn postie_w5(inputs: &W5Inputs, n: u64) -> Vec<u8> {
    postie_mime::builder::MessageBuilder::new()
        .from(BENCH_FROM)
        .to(BENCH_TO)
        .subject(w5_subject(n))
        .header("Date", postie_date_now())
        .header("Message-ID", postie_message_id())
        .text(postie_mime::SharedText::from_static(inputs.text))
        .html(postie_mime::SharedText::from_static(inputs.html))
        .attach_bytes(
            PDF_NAME,
            postie_mime::SharedBytes::from_static(inputs.pdf),
            None,
        )
        .build()
        .expect("postie: build")
        .to_bytes()
        .expect("postie: serialize")
}

/// W5 message `n` with lettre's builder, serialized (`formatted()`).
/// lettre adds the Date itself; `message_id(None)` makes a fresh
/// Message-ID. Its parts take owned text and bytes.
pub fn lettre_w5(inputs: &W5Inputs, n: u64) -> Vec<u8> {
    use lettre::message::{header::ContentType, Attachment, Mailbox, MultiPart, SinglePart};
    let from: Mailbox = BENCH_FROM.parse().expect("lettre: From");
    let to: Mailbox = BENCH_TO.parse().expect("lettre: To");
    let pdf_type = ContentType::parse(PDF_TYPE).expect("lettre: content type");
    lettre::Message::builder()
        .from(from)
        .to(to)
        .subject(w5_subject(n))
        .message_id(None)
        .multipart(
            MultiPart::mixed()
                .multipart(
                    MultiPart::alternative()
                        .singlepart(SinglePart::plain(inputs.text.to_string()))
                        .singlepart(SinglePart::html(inputs.html.to_string())),
                )
                .singlepart(
                    Attachment::new(PDF_NAME.to_owned()).body(inputs.pdf.to_vec(), pdf_type),
                ),
        )
        .expect("lettre: build")
        .formatted()
}

/// W5 message `n` with mail-builder 2.x, serialized (`write_to_vec()`).
/// mail-builder borrows the inputs and adds a fresh Date and Message-ID
/// itself when it writes.
pub fn mail_builder_w5(inputs: &W5Inputs, n: u64) -> Vec<u8> {
    mail_builder::MessageBuilder::new()
        .from((BENCH_FROM_NAME, BENCH_FROM_ADDR))
        .to((BENCH_TO_NAME, BENCH_TO_ADDR))
        .subject(w5_subject(n))
        .text_body(inputs.text)
        .html_body(inputs.html)
        .attachment(PDF_TYPE, PDF_NAME, inputs.pdf)
        .write_to_vec()
        .expect("mail-builder: serialize")
}

// ---------------------------------------------------------------------------
// The criterion benchmarks' fixture (run.sh): fixed Date and Message-ID.
// ---------------------------------------------------------------------------

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

#[cfg(test)]
mod tests {
    use super::*;
    use mail_parser::{MessageParser, MimeHeaders};

    const SIZES: &[usize] = &[
        1,
        2,
        3,
        4,
        5,
        8,
        70,
        71,
        72,
        73,
        74,
        75,
        143,
        144,
        145,
        146,
        1000,
        1023,
        1024,
        1025,
        2011,
        4096,
        65_536,
        1 << 20,
    ];

    /// Checks every rule of the spec's text body of `size` bytes.
    fn check_body(size: usize) {
        let body = text_body(size);
        assert_eq!(body.len(), size, "size {size}");
        assert!(body.is_ascii(), "size {size}: not 7-bit");
        assert!(!body.contains('\t'), "size {size}: a tab");
        let lines: Vec<&str> = body.split("\r\n").collect();
        let (last, full) = lines.split_last().expect("split gives one piece at least");
        // Everything ends with CRLF except a lone final "x".
        assert!(
            last.is_empty() || *last == "x",
            "size {size}: ends {last:?}"
        );
        for line in full.iter().chain(std::iter::once(last)) {
            assert!(line.len() <= LINE_MAX, "size {size}: {line:?} too long");
            assert!(!line.contains(['\r', '\n']), "size {size}: bare CR or LF");
            assert!(!line.ends_with(' '), "size {size}: trailing blank {line:?}");
            assert!(
                !line.starts_with('.'),
                "size {size}: line starts with a dot"
            );
        }
        // The words in order, in a cycle, each full line filled greedily:
        // the next word would not have fitted. The last line may be cut.
        let words: Vec<&str> = LOREM.split(' ').collect();
        let mut next = 0;
        let cut_line = if last.is_empty() {
            full.len().checked_sub(1)
        } else {
            None
        };
        for (i, line) in full.iter().enumerate() {
            if Some(i) == cut_line {
                // A prefix of the next full line, maybe with its trailing
                // space turned into x.
                let mut expect = String::new();
                for w in 0.. {
                    let word = words[(next + w) % words.len()];
                    if !expect.is_empty() && expect.len() + 1 + word.len() > LINE_MAX {
                        break;
                    }
                    if !expect.is_empty() {
                        expect.push(' ');
                    }
                    expect.push_str(word);
                }
                let mut expect = expect[..line.len()].to_owned();
                if expect.ends_with(' ') {
                    expect.pop();
                    expect.push('x');
                }
                assert_eq!(*line, expect, "size {size}: last line");
                continue;
            }
            let in_line: Vec<&str> = line.split(' ').collect();
            for word in &in_line {
                assert_eq!(*word, words[next % words.len()], "size {size}: word order");
                next += 1;
            }
            let following = words[next % words.len()];
            assert!(
                line.len() + 1 + following.len() > LINE_MAX,
                "size {size}: {line:?} could have taken {following:?}"
            );
        }
    }

    #[test]
    fn text_bodies_follow_the_spec() {
        for &size in SIZES {
            check_body(size);
        }
        for size in 0..=600 {
            check_body(size);
        }
    }

    #[test]
    fn small_and_edge_bodies() {
        assert_eq!(text_body(0), "");
        assert_eq!(text_body(1), "x");
        assert_eq!(text_body(2), "\r\n");
        assert_eq!(text_body(3), "L\r\n");
        // "Lorem " cut at six characters: the trailing space becomes x.
        assert_eq!(text_body(8), "Loremx\r\n");
        let first = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod";
        assert_eq!(first.len(), 71);
        // The first full line and its CRLF fill 73 bytes: it fits strictly
        // inside 74 (one byte, x, left), not inside 73 (the last-line rule
        // gives the same line).
        assert_eq!(text_body(74), format!("{first}\r\nx"));
        assert_eq!(text_body(73), format!("{first}\r\n"));
        assert_eq!(text_body(72), format!("{}\r\n", &first[..70]));
        assert_eq!(text_body(76), format!("{first}\r\nt\r\n"));
        assert_eq!(text_body(82), format!("{first}\r\ntemporx\r\n"));
        assert!(text_body(1024).ends_with("\r\n"));
    }

    #[test]
    fn w5_inputs_have_the_spec_sizes() {
        let inputs = W5Inputs::new();
        assert_eq!(inputs.text.len(), 1024);
        assert_eq!(inputs.html.len(), 2048);
        assert!(inputs.html.starts_with("<html><body><p>\r\nLorem ipsum"));
        assert!(inputs.html.ends_with("\r\n</p></body></html>\r\n"));
        assert_eq!(&inputs.html[17..2028], text_body(2011));
        assert_eq!(inputs.pdf.len(), 4096);
        assert_eq!(&inputs.pdf[..4], &[7, 38, 69, 100]);
        assert_eq!(inputs.pdf[9], ((9 * 31 + 7) % 256) as u8);
    }

    /// The MIME tree as text, e.g. `multipart/mixed(text/plain,...)`.
    fn shape(message: &mail_parser::Message<'_>, id: u32) -> String {
        let part = &message.parts[id as usize];
        let ct = part.content_type().expect("every part has a Content-Type");
        let name = format!(
            "{}/{}",
            ct.ctype().to_ascii_lowercase(),
            ct.subtype().unwrap_or("").to_ascii_lowercase()
        );
        match part.sub_parts() {
            Some(ids) => format!(
                "{name}({})",
                ids.iter()
                    .map(|&i| shape(message, i))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            None => name,
        }
    }

    fn check_w5(lib: &str, build: fn(&W5Inputs, u64) -> Vec<u8>) {
        let inputs = W5Inputs::new();
        let a = build(&inputs, 41);
        let b = build(&inputs, 42);
        let msg = MessageParser::default().parse(&b[..]).expect("parses");
        assert_eq!(
            shape(&msg, 0),
            "multipart/mixed(multipart/alternative(text/plain,text/html),application/pdf)",
            "{lib}"
        );
        assert_eq!(msg.subject(), Some("Your order 42 has shipped"), "{lib}");
        let from = msg.from().and_then(|a| a.first()).expect("From");
        assert_eq!(
            (from.name(), from.address()),
            (Some("Bench Sender"), Some("sender@example.org")),
            "{lib}"
        );
        let to = msg.to().and_then(|a| a.first()).expect("To");
        assert_eq!(
            (to.name(), to.address()),
            (Some("Bench Sink"), Some("sink@example.com")),
            "{lib}"
        );
        assert!(msg.date().is_some(), "{lib}: Date");
        let id_b = msg.message_id().expect("Message-ID").to_owned();
        let other = MessageParser::default().parse(&a[..]).expect("parses");
        assert_ne!(other.message_id(), Some(id_b.as_str()), "{lib}: same id");
        let trim = |s: &str| s.trim_end_matches(['\r', '\n']).replace("\r\n", "\n");
        assert_eq!(
            trim(&msg.body_text(0).expect("text")),
            trim(inputs.text),
            "{lib}"
        );
        assert_eq!(
            trim(&msg.body_html(0).expect("html")),
            trim(inputs.html),
            "{lib}"
        );
        let pdf = msg.attachment(0).expect("attachment");
        assert_eq!(pdf.attachment_name(), Some("invoice.pdf"), "{lib}");
        assert_eq!(
            pdf.content_transfer_encoding().map(str::to_ascii_lowercase),
            Some("base64".to_owned()),
            "{lib}"
        );
        assert_eq!(pdf.contents(), inputs.pdf, "{lib}");
    }

    #[test]
    fn the_criterion_fixture_checks_out_for_every_library() {
        for inputs in [Inputs::typical(), Inputs::text_only()] {
            check_output("postie", &postie(inputs.clone()), &inputs);
            check_output("lettre", &lettre(inputs.clone()), &inputs);
            check_output("mail-builder", &mail_builder(inputs.clone()), &inputs);
        }
    }

    #[test]
    fn every_library_builds_the_w5_message() {
        check_w5("postie", postie_w5);
        check_w5("lettre", lettre_w5);
        check_w5("mail-builder", mail_builder_w5);
    }
}
