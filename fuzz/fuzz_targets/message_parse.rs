//! `Message::parse` on arbitrary bytes. A message that parses must write
//! (`to_bytes`), its header section in CRLF lines (a bare CR or NUL in the
//! header is refused when parsing, so none can come back out), and what it writes
//! must parse again and write the same bytes (a fixed point).
#![no_main]

use libfuzzer_sys::fuzz_target;
use postie_mime::{Body, Message};

fuzz_target!(|data: &[u8]| {
    let Ok(message) = Message::parse(data) else {
        return;
    };
    for field in message.headers().iter() {
        let _ = (field.name(), field.value());
    }
    let _ = message.transfer_encoding();
    let bytes = message
        .to_bytes()
        .unwrap_or_else(|e| panic!("a parsed message does not write: {e}"));
    let body_len = match message.body() {
        Body::Raw(body) => body.len(),
        other => panic!("parse gave a {other:?} body"),
    };
    assert!(bytes.len() >= body_len + 2);
    let header_section = &bytes[..bytes.len() - body_len];
    assert!(header_section.ends_with(b"\r\n"));
    // A header holding a bare CR or a NUL does not parse, so every CR
    // written is part of a CRLF and every LF follows a CR.
    for (i, &b) in header_section.iter().enumerate() {
        match b {
            b'\r' => assert_eq!(header_section.get(i + 1), Some(&b'\n'), "bare CR in the header section"),
            b'\n' => assert!(i > 0 && header_section[i - 1] == b'\r', "bare LF in the header section"),
            0 => panic!("NUL in the header section"),
            _ => {}
        }
    }
    let again = Message::parse(&bytes)
        .unwrap_or_else(|e| panic!("what a parsed message writes does not parse: {e}"));
    let bytes_again = again
        .to_bytes()
        .unwrap_or_else(|e| panic!("the second parse does not write: {e}"));
    assert!(bytes_again == bytes, "writing is not a fixed point");
});
