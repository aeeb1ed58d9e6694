//! The builder and the strict writer. The input gives a subject, a text
//! body, attachment bytes and (optionally) an HTML body and an attachment
//! file name, separated by 0xFF bytes, after one control byte: bit 0 adds
//! the HTML body, bit 1 gives the attachment the type `text/plain` (so it
//! may go out as 7bit or quoted-printable instead of base64), bit 2 takes
//! the file name from the input, bit 3 leaves the attachment out, bit 4
//! adds an inline part (with the HTML body).
//!
//! Build errors are fine (a CR or LF in the subject is one), and so is the
//! documented write error for a header word too long to fold. What builds
//! must otherwise write, and what it writes must have CRLF line endings only, no line
//! over 998 octets, exactly one `MIME-Version` in the top header section
//! (and none elsewhere that the input did not bring), and parse back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use postie_mime::builder::MessageBuilder;
use postie_mime::content_type::ContentType;
use postie_mime::Message;

fn count_lines_starting(haystack: &[u8], prefix: &[u8]) -> usize {
    haystack
        .split(|&b| b == b'\n')
        .filter(|line| line.len() >= prefix.len() && line[..prefix.len()].eq_ignore_ascii_case(prefix))
        .count()
}

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, rest)) = data.split_first() else {
        return;
    };
    let mut parts = rest.split(|&b| b == 0xFF);
    let subject = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let text = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let attachment = parts.next().unwrap_or_default().to_vec();
    let html = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let file_name = match parts.next() {
        Some(name) if ctl & 4 != 0 => String::from_utf8_lossy(name).into_owned(),
        _ => "report.pdf".to_owned(),
    };

    let mut builder = MessageBuilder::new()
        .from("Ann Example <ann@example.org>")
        .to("bob@example.org, \"Carl, Jr.\" <carl@example.net>")
        .subject(subject)
        .text(text);
    if ctl & 1 != 0 || ctl & 0x10 != 0 {
        builder = builder.html(html);
    }
    if ctl & 8 == 0 {
        let content_type = (ctl & 2 != 0).then(|| ContentType::parse("text/plain").expect("a valid type"));
        builder = builder.attach_bytes(file_name, attachment, content_type);
    }
    if ctl & 0x10 != 0 {
        builder = builder.inline_bytes("logo@example.org", "logo.png", b"\x89PNG\r\n\x1a\n".to_vec(), None);
    }
    let Ok(message) = builder.build() else {
        return;
    };
    let bytes = match message.to_bytes() {
        Ok(bytes) => bytes,
        // Documented (`Error::InvalidHeaderValue`): a word too long to fold
        // under 998 octets is refused when written, not when built.
        Err(postie_mime::Error::InvalidHeaderValue { .. }) => return,
        Err(e) => panic!("a built message does not write: {e}"),
    };

    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'\r' => assert_eq!(bytes.get(i + 1), Some(&b'\n'), "bare CR at byte {i}"),
            b'\n' => assert!(i > 0 && bytes[i - 1] == b'\r', "bare LF at byte {i}"),
            _ => {}
        }
    }
    for (n, line) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        assert!(line.len() <= 998, "line {n} has {} octets", line.len());
    }
    let header_end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(bytes.len(), |p| p + 2);
    let top = &bytes[..header_end];
    assert_eq!(count_lines_starting(top, b"MIME-Version:"), 1, "MIME-Version in the top header section");
    let brought = data
        .windows(13)
        .filter(|w| w.eq_ignore_ascii_case(b"MIME-Version:"))
        .count();
    assert!(
        count_lines_starting(&bytes, b"MIME-Version:") <= 1 + brought,
        "MIME-Version in a part"
    );
    Message::parse(&bytes).unwrap_or_else(|e| panic!("a built message does not parse: {e}"));
});
