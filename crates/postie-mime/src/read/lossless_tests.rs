//! The tolerant reader loses no byte: whatever the input, the bytes its
//! tree holds account for every input byte, each exactly once, in order.
//!
//! What is checked, precisely. For each entity, in order: its header
//! section as read (`ReadLayout::header_section`: the fields as written,
//! lines that are not fields, a byte order mark or mbox `From ` line, the
//! empty line that ends the section), then its body:
//!
//! * a leaf: its raw body ([`Body::Raw`], what `PartExt::raw_body` gives);
//! * a multipart: its preamble ([`Message::preamble`]), then each
//!   delimiter line followed by that part's bytes, then the closing
//!   delimiter line when there is one, then its epilogue
//!   ([`Message::epilogue`]);
//! * an enclosed message (`message/rfc822`): the enclosed entity's bytes,
//!   or, when the reader undid a transfer encoding on it, the encoded body
//!   as read (the enclosed entity then holds the decoded bytes).
//!
//! Put together, these must be the input, byte for byte: a byte dropped,
//! doubled or moved fails. And no entity's header section may begin with
//! a line that is not a field (nor a continuation line): such a line
//! starts the body (`DefectKind::NoHeaderSection`), so that text is never
//! hidden among skipped header lines.

use proptest::prelude::*;

use super::tolerant::parse;
use crate::fields::header::HeaderName;
use crate::message::{Body, Message};

/// The bytes the tree holds, in order (see the module documentation).
fn reassemble(message: &Message, out: &mut Vec<u8>) {
    let layout = message
        .layout()
        .expect("every entity the reader makes records its layout");
    out.extend_from_slice(&layout.header_section);
    match message.body() {
        Body::Raw(bytes) => out.extend_from_slice(bytes),
        Body::Multipart { parts, .. } => match (&layout.multipart, &layout.encoded_body) {
            (Some(multipart), _) => {
                assert_eq!(Some(multipart.preamble.as_slice()), message.preamble());
                assert_eq!(Some(multipart.epilogue.as_slice()), message.epilogue());
                let extra = multipart.delimiters.len().checked_sub(parts.len());
                assert!(matches!(extra, Some(0 | 1)), "delimiters and parts");
                out.extend_from_slice(&multipart.preamble);
                for (delimiter, part) in multipart.delimiters.iter().zip(parts) {
                    out.extend_from_slice(delimiter);
                    reassemble(part, out);
                }
                for closing in multipart.delimiters.get(parts.len()..).unwrap_or_default() {
                    out.extend_from_slice(closing);
                }
                out.extend_from_slice(&multipart.epilogue);
            }
            (None, Some(encoded)) => out.extend_from_slice(encoded),
            (None, None) => {
                assert_eq!(parts.len(), 1, "an enclosed message is one entity");
                parts.iter().for_each(|part| reassemble(part, out));
            }
        },
        other => panic!("the reader made a body it never makes: {other:?}"),
    }
}

/// The first line of each entity's header section, when there is one, is
/// a field, a continuation line, or (at the root) an mbox `From ` line,
/// after a byte order mark.
fn check_header_sections(message: &Message) {
    let mut stack = vec![(message, true)];
    while let Some((entity, root)) = stack.pop() {
        stack.extend(entity.parts().iter().map(|p| (p, false)));
        let section = &entity.layout().expect("a layout").header_section;
        let mut lines = section.split(|&b| b == b'\n');
        let mut first = lines.next().unwrap_or_default();
        if root {
            first = first.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(first);
            if first.starts_with(b"From ") {
                first = lines.next().unwrap_or_default();
            }
        }
        let first = first.strip_suffix(b"\r").unwrap_or(first);
        // As the reader sees it: a bare CR or a NUL is a space.
        let first: Vec<u8> = first
            .iter()
            .map(|&b| if b == b'\r' || b == 0 { b' ' } else { b })
            .collect();
        let is_field = first.iter().position(|&b| b == b':').is_some_and(|colon| {
            std::str::from_utf8(&first[..colon])
                .is_ok_and(|name| HeaderName::new(name.trim_end_matches([' ', '\t'])).is_ok())
        });
        assert!(
            first.is_empty() || matches!(first[0], b' ' | b'\t') || is_field,
            "a header section begins with a line that is no field: {:?}",
            String::from_utf8_lossy(&first)
        );
    }
}

fn check(input: &[u8]) {
    let parsed = parse(input);
    let mut out = Vec::with_capacity(input.len());
    reassemble(&parsed.message, &mut out);
    assert!(
        out == input,
        "the tree holds other bytes than were read:\n  read: {:?}\n  held: {:?}",
        String::from_utf8_lossy(input),
        String::from_utf8_lossy(&out)
    );
    check_header_sections(&parsed.message);
}

#[test]
fn message_rfc822_holding_prose() {
    let input = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n\
        preamble\r\n--b\r\nContent-Type: message/rfc822\r\n\r\n\
        Only prose here,\r\nno header at all.\r\n\r\nMore prose.\r\n--b--\r\nepilogue\r\n";
    check(input);
    let msg = parse(input).message;
    assert_eq!(msg.preamble(), Some(&b"preamble"[..]));
    assert_eq!(msg.epilogue(), Some(&b"epilogue\r\n"[..]));
    assert_eq!(
        msg.parts()[0].parts()[0]
            .layout()
            .map(|l| l.header_section.len()),
        Some(0)
    );
}

#[test]
fn every_fixture() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/eml");
    let mut count = 0;
    for entry in std::fs::read_dir(dir).expect("the fixtures") {
        let bytes = std::fs::read(entry.expect("an entry").path()).expect("a fixture");
        check(&bytes);
        count += 1;
    }
    assert!(count > 10);
}

#[test]
fn edge_cases() {
    for input in [
        &b""[..],
        b"\xEF\xBB\xBFSubject: bom\r\n\r\nbody",
        b"From someone\r\nno header\r\n",
        b"From someone\r\n\r\n",
        b"prose only",
        b" leading continuation\r\nTo: x\r\n\r\nbody",
        b"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\nU3ViamVjdDogaQ0KDQpoaQ==\r\n",
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\n--b\r\n\r\n--b--",
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nno blank line\r\n--b\r\nA: b",
    ] {
        check(input);
    }
    // Nested past the limit: the deepest is kept whole.
    let mut raw = b"Content-Type: text/plain\r\n\r\nx".to_vec();
    for _ in 0..80 {
        let mut outer = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n".to_vec();
        outer.extend_from_slice(&raw);
        outer.extend_from_slice(b"\r\n--b--\r\n");
        raw = outer;
    }
    check(&raw);
}

/// A line break as mail has them, or none.
fn line_break() -> impl Strategy<Value = &'static str> {
    prop_oneof![4 => Just("\r\n"), 2 => Just("\n"), 1 => Just("")]
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9 .,:=-]{0,30}",
        "[ -~\t\r\n]{0,40}",
        "[àéü日本 \r\n]{0,10}",
    ]
}

/// Header lines: fields, folded fields, and what the reader skips.
fn header_lines() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        (
            prop_oneof![
                "Subject: [a-z =?]{0,20}",
                "X-[A-Z]{1,5}: [ -~]{0,20}",
                Just("Content-Transfer-Encoding: base64".to_owned()),
                Just("Content-Transfer-Encoding: quoted-printable".to_owned()),
                Just(" folded continuation".to_owned()),
                Just("not a field at all".to_owned()),
                Just("Bad Name: x".to_owned()),
                Just(": empty name".to_owned()),
                Just("From nobody Mon Jan  1 00:00:00 2024".to_owned()),
            ],
            line_break(),
        )
            .prop_map(|(line, end)| format!("{line}{end}")),
        0..5,
    )
    .prop_map(|lines| lines.concat())
}

fn leaf() -> impl Strategy<Value = Vec<u8>> {
    (
        header_lines(),
        prop_oneof![Just("Content-Type: text/plain\r\n"), Just("")],
        line_break(),
        text(),
    )
        .prop_map(|(headers, ct, end, body)| format!("{ct}{headers}{end}{body}").into_bytes())
}

fn multipart(inner: BoxedStrategy<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    (
        // Mostly distinct at each level, sometimes the same as another's.
        prop_oneof![
            3 => "[a-z0-9]{1,8}",
            1 => Just("b".to_owned()),
            1 => Just("\"x y\"".to_owned()),
        ],
        header_lines(),
        text(),
        proptest::collection::vec(
            (
                inner,
                line_break(),
                prop_oneof![Just(""), Just(" \t"), Just("junk")],
            ),
            0..4,
        ),
        proptest::option::of((line_break(), text())),
    )
        .prop_map(|(boundary, headers, preamble, parts, close)| {
            let bare = boundary.trim_matches('"');
            let mut out = format!(
                "Content-Type: multipart/mixed; boundary={boundary}\r\n{headers}\r\n{preamble}"
            )
            .into_bytes();
            for (part, end, padding) in parts {
                out.extend_from_slice(format!("{end}--{bare}{padding}{end}").as_bytes());
                out.extend_from_slice(&part);
            }
            if let Some((end, epilogue)) = close {
                out.extend_from_slice(format!("{end}--{bare}--{end}{epilogue}").as_bytes());
            }
            out
        })
}

fn enclosed(inner: BoxedStrategy<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    (
        prop_oneof![inner, text().prop_map(String::into_bytes)],
        prop_oneof![Just(""), Just("base64"), Just("quoted-printable")],
        line_break(),
    )
        .prop_map(|(inner, encoding, end)| {
            use base64::Engine as _;
            let mut out = b"Content-Type: message/rfc822\r\n".to_vec();
            let body = if encoding == "base64" {
                base64::engine::general_purpose::STANDARD
                    .encode(&inner)
                    .into_bytes()
            } else {
                inner
            };
            if !encoding.is_empty() {
                out.extend_from_slice(
                    format!("Content-Transfer-Encoding: {encoding}\r\n").as_bytes(),
                );
            }
            out.extend_from_slice(end.as_bytes());
            out.extend_from_slice(&body);
            out
        })
}

/// Entities nested a few levels: leaves, multiparts, enclosed messages.
fn entity() -> impl Strategy<Value = Vec<u8>> {
    leaf().prop_recursive(5, 64, 3, |inner| {
        prop_oneof![multipart(inner.clone().boxed()), enclosed(inner.boxed())]
    })
}

/// Pieces of MIME structure in any order, and any byte.
fn soup() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![
            Just(b"Content-Type: multipart/mixed; boundary=b\r\n".to_vec()),
            Just(b"Content-Type: message/rfc822\r\n".to_vec()),
            Just(b"Content-Transfer-Encoding: base64\r\n".to_vec()),
            Just(b"--b\r\n".to_vec()),
            Just(b"--b--".to_vec()),
            Just(b"\r\n".to_vec()),
            Just(b"\n".to_vec()),
            Just(b"\r".to_vec()),
            Just(b"\0".to_vec()),
            Just(b"From ".to_vec()),
            Just(b"\xEF\xBB\xBF".to_vec()),
            Just(b"A: b".to_vec()),
            Just(b" ".to_vec()),
            Just(b"prose".to_vec()),
            any::<u8>().prop_map(|b| vec![b]),
        ],
        0..60,
    )
    .prop_map(|pieces| pieces.concat())
}

/// `input` with some bytes replaced, inserted or removed.
fn mutated() -> impl Strategy<Value = Vec<u8>> {
    (
        entity(),
        proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0..3u8), 0..6),
    )
        .prop_map(|(mut input, edits)| {
            for (at, byte, kind) in edits {
                if input.is_empty() {
                    input.push(byte);
                    continue;
                }
                let i = at.index(input.len());
                match kind {
                    0 => input[i] = byte,
                    1 => input.insert(i, byte),
                    _ => {
                        input.remove(i);
                    }
                }
            }
            input
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn every_input_byte_is_held_once_in_order(
        input in prop_oneof![
            3 => entity(),
            2 => mutated(),
            2 => soup(),
            1 => proptest::collection::vec(any::<u8>(), 0..300),
        ]
    ) {
        check(&input);
    }
}
