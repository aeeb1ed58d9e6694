//! A second independent reader: Stalwart's mail-parser. What postie writes
//! reads as intended there, and a message postie parsed and wrote back
//! reads the same as the original.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mail_parser::{MessageParser, MimeHeaders};
use postie_mime::builder::MessageBuilder;

/// Subject, from, and per part its type, file name and decoded content.
type View = (
    Option<String>,
    Option<String>,
    Vec<(String, Option<String>, Vec<u8>)>,
);

/// What a reader sees.
fn view(bytes: &[u8]) -> View {
    let message = MessageParser::default()
        .parse(bytes)
        .expect("mail-parser reads it");
    let from = message
        .from()
        .and_then(|a| a.first())
        .and_then(|a| a.address())
        .map(str::to_owned);
    let parts = message
        .parts
        .iter()
        .filter(|p| !matches!(p.body, mail_parser::PartType::Multipart(_)))
        .map(|p| {
            let ct = p
                .content_type()
                .map(|ct| format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or_default()))
                .unwrap_or_default();
            // A digest's parts are message/rfc822 by default; written back
            // the type is explicit. The same for a reader.
            let ct = match &p.body {
                mail_parser::PartType::Message(_) if ct.is_empty() => "message/rfc822".to_owned(),
                _ => ct,
            };
            let contents = match &p.body {
                mail_parser::PartType::Text(t) | mail_parser::PartType::Html(t) => {
                    t.replace("\r\n", "\n").into_bytes()
                }
                // An enclosed message is compared by what a reader sees in
                // it, not byte for byte.
                mail_parser::PartType::Message(inner) => {
                    format!("{:?}", view(inner.raw_message())).into_bytes()
                }
                _ => p.contents().to_vec(),
            };
            (ct, p.attachment_name().map(str::to_owned), contents)
        })
        .collect();
    (message.subject().map(str::to_owned), from, parts)
}

#[test]
fn built_messages_read_as_intended() {
    let pdf: Vec<u8> = (0..40_000u32).map(|i| (i * 17 + i / 5) as u8).collect();
    let msg = MessageBuilder::new()
        .from("Jörg Müller <joerg@example.org>")
        .to("bob@example.org")
        .subject("Grüße — a subject")
        .text("plain body\nsecond line")
        .html("<p>html</p>")
        .attach_bytes("Bericht – final.pdf", pdf.clone(), None)
        .build()
        .unwrap();
    let (subject, from, parts) = view(&msg.to_bytes().unwrap());
    assert_eq!(subject.as_deref(), Some("Grüße — a subject"));
    assert_eq!(from.as_deref(), Some("joerg@example.org"));
    assert_eq!(parts.len(), 3);
    assert_eq!(parts[0].0, "text/plain");
    assert_eq!(parts[0].2, b"plain body\nsecond line\n");
    assert_eq!(parts[1].0, "text/html");
    assert_eq!(parts[2].1.as_deref(), Some("Bericht – final.pdf"));
    assert_eq!(parts[2].2, pdf);
}

#[test]
fn parsed_and_rewritten_messages_read_the_same() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/eml");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let original = std::fs::read(&path).unwrap();
        let parsed = postie_mime::reader::parse(&original);
        if !parsed.defects.is_empty() {
            // Broken on purpose: the rewrite repairs it.
            continue;
        }
        let rewritten = parsed.message.to_bytes().unwrap();
        assert_eq!(view(&original), view(&rewritten), "{}", path.display());
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} well-formed fixtures");
}
