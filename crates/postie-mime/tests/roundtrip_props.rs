//! Property tests: whatever the builder is given, the writer's output reads
//! back the same through the tolerant reader, with no defects, and keeps the
//! writer's promises (CRLF only, no line over 998 octets, one MIME-Version).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use postie_mime::builder::MessageBuilder;
use postie_mime::reader::{self, PartExt};
use proptest::prelude::*;

/// Header text: any characters but controls, no white space at the ends
/// (header values are trimmed), no runs of white space (folding keeps
/// them, but some are collapsed by design between encoded-words).
fn header_text() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            "[a-zA-Z0-9]{1,12}",
            "[àéîõüßçñøå日本語テキスト]{1,6}",
            "[!#$%&*+/=?^_`{|}~.,;:()<>@\\[\\]\"'-]{1,3}",
        ],
        1..8,
    )
    .prop_map(|words| words.join(" "))
}

fn file_name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z]{1,20}\\.(pdf|png|txt|bin)",
        "[a-zé ü日本]{1,30}\\.(txt|dat)",
    ]
}

fn body_text() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            "[ -~]{0,120}",
            "[a-zäöü ]{0,2000}",
            Just(".".to_owned()),
            Just("From the start".to_owned()),
            Just("=_postie_ looks like a boundary".to_owned()),
        ],
        0..6,
    )
    .prop_map(|lines| lines.join("\n"))
}

fn crlf(text: &str) -> String {
    let mut out = text
        .replace("\r\n", "\n")
        .replace('\r', "\n")
        .replace('\n', "\r\n");
    if !out.is_empty() && !out.ends_with("\r\n") {
        out.push_str("\r\n");
    }
    out
}

fn check_wire(bytes: &[u8]) {
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'\n' {
            assert_eq!(bytes.get(i.wrapping_sub(1)), Some(&b'\r'), "bare LF at {i}");
        }
        if b == b'\r' {
            assert_eq!(bytes.get(i + 1), Some(&b'\n'), "bare CR at {i}");
        }
    }
    for line in bytes.split(|&b| b == b'\n') {
        assert!(line.len() <= 999, "line of {} octets", line.len());
    }
    let text = String::from_utf8_lossy(bytes);
    assert_eq!(
        text.matches("\r\nMIME-Version: ").count()
            + usize::from(text.starts_with("MIME-Version: ")),
        1
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn built_messages_read_back_the_same(
        subject in header_text(),
        name in header_text(),
        text in body_text(),
        html in proptest::option::of(body_text()),
        attachments in proptest::collection::vec(
            (file_name(), proptest::collection::vec(any::<u8>(), 0..3000)),
            0..3,
        ),
    ) {
        let mut builder = MessageBuilder::new()
            .from(format!("\"{}\" <ann@example.org>", name.replace(['"', '\\'], "")))
            .to("bob@example.org")
            .subject(subject.clone())
            .text(text.clone());
        if let Some(html) = &html {
            builder = builder.html(html.clone());
        }
        for (file, data) in &attachments {
            builder = builder.attach_bytes(file.clone(), data.clone(), None);
        }
        let message = builder.build().unwrap();
        let bytes = message.to_bytes().unwrap();
        check_wire(&bytes);

        let parsed = reader::parse(&bytes);
        prop_assert!(parsed.defects.is_empty(), "{:?}", parsed.defects);
        let root = &parsed.message;
        prop_assert_eq!(root.header_text("Subject").unwrap(), subject);
        let leaves: Vec<_> = root
            .walk()
            .into_iter()
            .filter(|(_, part)| part.parts().is_empty())
            .map(|(_, part)| part)
            .collect();
        prop_assert_eq!(leaves[0].text().unwrap(), crlf(&text));
        let mut next = 1;
        if let Some(html) = &html {
            prop_assert_eq!(leaves[1].text().unwrap(), crlf(html));
            next = 2;
        }
        for (i, (file, data)) in attachments.iter().enumerate() {
            let part = leaves[next + i];
            prop_assert_eq!(part.filename().unwrap(), file.clone());
            prop_assert_eq!(&part.decoded_body(), data);
        }
    }
}
