//! The tolerant reader: hand-written fixtures (tests/data/eml), encoded
//! header fields, malformed input, a writer → reader round trip, and a
//! no-panic loop over mutated fixtures. (The RFC 2047 §8 examples are in
//! tests/rfc_tables.rs.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use postie_mime::builder::MessageBuilder;
use postie_mime::content_type::ContentType;
use postie_mime::decode::{decode_charset, decode_rfc2047, decode_transfer};
use postie_mime::reader::{self, Defect, DefectKind, Parsed, PartExt, MAX_DEPTH};
use postie_mime::{Body, Message};

const FIXTURES: &[&str] = &[
    "b64_cp1252.eml",
    "b64_latin1.eml",
    "b64_sjis.eml",
    "b64_utf8.eml",
    "bad_base64.eml",
    "bare_lf.eml",
    "digest.eml",
    "garbage_headers.eml",
    "missing_close.eml",
    "nested.eml",
    "no_boundary.eml",
    "qp_cp1252.eml",
    "qp_latin1.eml",
    "qp_sjis.eml",
    "qp_utf8.eml",
    "rfc2231.eml",
    "rfc822.eml",
    "simple.eml",
    "subjects.eml",
];

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/eml/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Parses a fixture that must have no defects.
fn clean(name: &str) -> Message {
    let parsed = reader::parse(&fixture(name));
    assert!(parsed.defects.is_empty(), "{name}: {:?}", parsed.defects);
    parsed.message
}

fn kinds(parsed: &Parsed) -> Vec<DefectKind> {
    parsed.defects.iter().map(|d| d.kind.clone()).collect()
}

/// `type/subtype(children...)`, for comparing structures.
fn shape(msg: &Message) -> String {
    let ct = msg.content_type();
    match msg.body() {
        Body::Multipart { parts, .. } => format!(
            "{}({})",
            ct.essence(),
            parts.iter().map(shape).collect::<Vec<_>>().join(",")
        ),
        _ => ct.essence().to_owned(),
    }
}

fn crlf(text: &str) -> String {
    text.replace("\r\n", "\n").replace('\n', "\r\n")
}

// ---------------------------------------------------------------- simple

#[test]
fn simple_text_message() {
    let msg = clean("simple.eml");
    assert!(matches!(msg.body(), Body::Raw(_)));
    assert_eq!(
        msg.header_text("subject").as_deref(),
        Some("Lunch on Friday")
    );
    assert_eq!(
        msg.header_text("FROM").as_deref(),
        Some("Ann Example <ann@example.org>")
    );
    assert_eq!(
        msg.header_text("Received").as_deref(),
        Some(
            "from mx.example.org (mx.example.org [192.0.2.1])\tby mail.example.net with ESMTP \
             id 1234\tfor <bob@example.net>; Sat, 28 Nov 2026 10:00:00 +0000"
        )
    );
    assert_eq!(msg.headers().len(), 7);
    assert_eq!(msg.header_text("X-Missing"), None);
    let ct = msg.content_type();
    assert_eq!(ct.header_value(), "text/plain; charset=us-ascii");
    assert_eq!(msg.content_transfer_encoding(), None);
    let text = msg.text().unwrap();
    assert!(text.starts_with("Hi Bob,\r\n\r\nare we still on"));
    assert!(text.ends_with("Ann\r\n"));
    assert_eq!(msg.size(), text.len());
    assert_eq!(msg.filename(), None);
    assert_eq!(msg.walk().len(), 1);
    // Written back unchanged but for the header order the writer keeps.
    assert_eq!(msg.to_bytes().unwrap(), fixture("simple.eml"));
}

#[test]
fn parse_reader_reads_everything() {
    let bytes = fixture("nested.eml");
    let parsed = reader::parse_reader(&bytes[..]).unwrap();
    assert_eq!(parsed, reader::parse(&bytes));
}

#[test]
fn degenerate_inputs() {
    for input in [
        &b""[..],
        b"\n",
        b"\r\n\r\n",
        b"Subject: only a header",
        b"Subject: x\r\n",
        b"\xEF\xBB\xBFSubject: bom\r\n\r\nbody",
        b"From \r\n",
        b"no colon at all",
    ] {
        let parsed = reader::parse(input);
        let _ = parsed.message.text();
        let _ = parsed.message.to_bytes();
    }
    let parsed = reader::parse(b"Subject: only a header");
    assert!(parsed.defects.is_empty());
    assert_eq!(parsed.message.decoded_body(), b"");
    let parsed = reader::parse(b"\xEF\xBB\xBFSubject: bom\r\n\r\nbody");
    assert_eq!(
        parsed.message.header_text("subject").as_deref(),
        Some("bom")
    );
}

// ---------------------------------------------------------------- charsets

#[test]
fn transfer_encodings_and_charsets() {
    let utf8 = "Grüße aus Köln — naïve café ☕\nZweite Zeile.\n";
    let latin1 = "Grüße aus Köln, café à la crème\nZweite Zeile.\n";
    let cp1252 = "“Smart quotes” cost 5 € – ok\n";
    let sjis = "日本語のテキストです。\n二行目。\n";
    let table = [
        ("qp_utf8.eml", utf8, "quoted-printable", "utf-8"),
        ("b64_utf8.eml", utf8, "base64", "utf-8"),
        ("qp_latin1.eml", latin1, "quoted-printable", "iso-8859-1"),
        ("b64_latin1.eml", latin1, "base64", "iso-8859-1"),
        ("qp_cp1252.eml", cp1252, "quoted-printable", "windows-1252"),
        ("b64_cp1252.eml", cp1252, "base64", "windows-1252"),
        ("qp_sjis.eml", sjis, "quoted-printable", "shift_jis"),
        ("b64_sjis.eml", sjis, "base64", "shift_jis"),
    ];
    for (name, text, cte, charset) in table {
        let msg = clean(name);
        assert_eq!(msg.header_text("subject").as_deref(), Some(name));
        assert_eq!(
            msg.content_transfer_encoding().as_deref(),
            Some(cte),
            "{name}"
        );
        assert_eq!(msg.content_type().charset(), Some(charset), "{name}");
        assert_eq!(msg.text().as_deref(), Some(crlf(text).as_str()), "{name}");
        let decoded = msg.decoded_body();
        assert_eq!(msg.size(), decoded.len());
        let (again, replaced) = decode_charset(&decoded, Some(charset));
        assert!(!replaced, "{name}");
        assert_eq!(again, crlf(text));
    }
}

#[test]
fn decode_charset_fallbacks() {
    // Unknown or missing: UTF-8 if valid, else windows-1252.
    assert_eq!(decode_charset("é".as_bytes(), None), ("é".into(), false));
    assert_eq!(decode_charset(b"\x80", None), ("€".into(), false));
    assert_eq!(
        decode_charset(b"\xe9", Some("x-unknown")),
        ("é".into(), false)
    );
    assert_eq!(
        decode_charset("日本".as_bytes(), Some("unknown-8bit")),
        ("日本".into(), false)
    );
    // US-ASCII is a frequent label for UTF-8.
    assert_eq!(
        decode_charset("é".as_bytes(), Some("us-ascii")),
        ("é".into(), false)
    );
    // Labels and aliases.
    assert_eq!(
        decode_charset(b"\x93\xfa", Some("CP932")),
        ("日".into(), false)
    );
    assert_eq!(decode_charset(b"\xe9", Some("\"Latin1\"")).0, "é");
    assert_eq!(decode_charset(b"\xa4", Some("iso-8859-15")).0, "€");
    assert_eq!(decode_charset(b"\xc0\xe4", Some("koi8-r")).0, "юД");
    // Invalid bytes in a known charset are replaced, and said so.
    assert_eq!(
        decode_charset(b"ok\xff", Some("utf-8")),
        ("ok\u{fffd}".into(), true)
    );
    // UTF-16 by label.
    assert_eq!(decode_charset(b"h\0i\0", Some("utf-16le")).0, "hi");
}

/// UTF-7 (RFC 2152) is a registered charset that `encoding_rs` lacks; it is
/// decoded wherever a charset applies: bodies, encoded-words, RFC 2231
/// parameters.
#[test]
fn utf7_is_decoded_wherever_a_charset_applies() {
    // RFC 2152's examples.
    assert_eq!(
        decode_charset(b"Hi Mom -+Jjo--!", Some("UTF-7")),
        ("Hi Mom -\u{263a}-!".into(), false)
    );
    assert_eq!(
        decode_charset(b"+ZeVnLIqe-", Some("utf-7")),
        ("日本語".into(), false)
    );
    assert_eq!(
        decode_charset(b"A+ImIDkQ.", Some("unicode-1-1-utf-7")).0,
        "A\u{2262}\u{391}."
    );
    assert_eq!(
        decode_charset(b"Item 3 is +AKM-1.", Some("utf-7")).0,
        "Item 3 is \u{a3}1."
    );
    assert_eq!(
        decode_rfc2047("=?utf-7?Q?+ZeVnLIqe-?= =?UTF-7?B?K1plVm5MSXFlLQ==?="),
        "日本語日本語"
    );
    let raw = b"Subject: =?utf-7?q?Hi_Mom_-+Jjo--!?=\r\n\
        Content-Type: text/plain; charset=utf-7\r\n\
        Content-Disposition: attachment; filename*=utf-7''%2BZeVnLIqe-.txt\r\n\
        \r\n\
        1 +- 1 = 2, +2D3eAA-\r\n";
    let parsed = reader::parse(raw);
    assert!(parsed.defects.is_empty(), "{:?}", parsed.defects);
    let msg = &parsed.message;
    assert_eq!(
        msg.header_text("subject").as_deref(),
        Some("Hi Mom -\u{263a}-!")
    );
    assert_eq!(msg.text().as_deref(), Some("1 + 1 = 2, \u{1f600}\r\n"));
    assert_eq!(msg.filename().as_deref(), Some("日本語.txt"));
}

#[test]
fn decode_transfer_table() {
    let table: &[(&[u8], Option<&str>, &[u8])] = &[
        (b"aGVsbG8gd29ybGQ=", Some("base64"), b"hello world"),
        (
            b"aGVs\r\nbG8g\r\nd29y\r\nbGQ=\r\n",
            Some(" Base64 "),
            b"hello world",
        ),
        (b"aGVs!bG8", Some("base64"), b"hello"),
        (b"a=3Db=\r\nc", Some("Quoted-Printable"), b"a=bc"),
        (b"a=3db  \nc", Some("quoted-printable"), b"a=b\nc"),
        (b"=e9=", Some("quoted-printable"), b"\xe9"),
        (b"=XY", Some("quoted-printable"), b"=XY"),
        (b"raw =41", Some("7bit"), b"raw =41"),
        (b"raw =41", Some("8bit"), b"raw =41"),
        (b"raw =41", Some("binary"), b"raw =41"),
        (b"raw =41", Some("x-uuencode"), b"raw =41"),
        (b"raw =41", None, b"raw =41"),
    ];
    for (input, encoding, expected) in table {
        assert_eq!(
            decode_transfer(input, *encoding),
            *expected,
            "{:?} {encoding:?}",
            String::from_utf8_lossy(input)
        );
    }
}

// ---------------------------------------------------------------- RFC 2047

// The RFC 2047 §8 examples, and more encoded-words, are a table in
// data/rfc2047.txt, run by tests/rfc_tables.rs.

#[test]
fn encoded_header_fields_of_a_message() {
    let msg = clean("subjects.eml");
    let table = [
        ("From", "Keith Moore <moore@cs.utk.edu>"),
        ("To", "Keld Jørn Simonsen <keld@dkuug.dk>"),
        ("Cc", "André Pirard <PIRARD@vm1.ulg.ac.be>"),
        (
            "Subject",
            "If you can read this you understand the example.",
        ),
        ("X-Japanese", "日本語"),
        ("X-Mixed", "plain café and 😂 end"),
        ("X-Lang", "Keith Moore"),
        // Raw 8-bit header text that is not UTF-8 reads as windows-1252.
        ("X-Raw-8bit", "café au lait"),
    ];
    for (name, expected) in table {
        assert_eq!(msg.header_text(name).as_deref(), Some(expected), "{name}");
    }
}

/// Old mail puts raw 8-bit bytes inside encoded-words (`=?iso-8859-1?Q?Fr\xF6sche?=`
/// with a raw 0xF6, not `=F6`). Such bytes are in the word's declared
/// charset: decoded once, in it, never first as windows-1252 or UTF-8.
#[test]
fn raw_8bit_bytes_in_encoded_words_are_read_in_the_words_charset() {
    let raw: &[u8] = b"Subject: =?iso-8859-1?Q?Fr\xF6sche?=\r\n\
        From: =?koi8-r?q?\xf0\xd5\xdb\xcb\xc9\xce?= <p@example.ru>\r\n\
        X-Mixed: caf\xe9 =?shift_jis?Q?\x93\xfa=96{?= =?shift_jis?q?\x95\\?=\r\n\
        \r\n\
        body\r\n";
    let parsed = reader::parse(raw);
    assert!(parsed.defects.is_empty(), "{:?}", parsed.defects);
    let msg = &parsed.message;
    let table = [
        ("Subject", "Frösche"),
        ("From", "Пушкин <p@example.ru>"),
        // Outside the words the value still reads as windows-1252.
        ("X-Mixed", "café 日本表"),
    ];
    for (name, expected) in table {
        assert_eq!(msg.header_text(name).as_deref(), Some(expected), "{name}");
    }
    // `as_text` leaves encoded-words as they are, but spells the raw bytes
    // so that decoding the word reads them in its own charset; the strict
    // reader's fields say the same.
    let strict = Message::parse(raw).unwrap();
    for headers in [msg.headers(), strict.headers()] {
        for (name, expected) in &table[..2] {
            let text = headers.get(name).unwrap().as_text();
            assert!(!text.contains('\u{fffd}'), "{name}: {text}");
            assert_eq!(decode_rfc2047(&text), *expected, "{name}");
        }
        assert_eq!(
            headers.get("Subject").unwrap().as_text(),
            "=?iso-8859-1?Q?Fr=F6sche?="
        );
        // Outside the words, `as_text` shows bytes that are not UTF-8 as
        // U+FFFD, as it always did.
        assert_eq!(
            headers.get("X-Mixed").unwrap().as_text(),
            "caf\u{fffd} =?shift_jis?Q?=93=FA=96{?= =?shift_jis?q?=95\\?="
        );
    }
}

/// A raw value that is valid UTF-8 is UTF-8 (RFC 6532), inside encoded-words
/// too: its characters are not decoded a second time.
#[test]
fn raw_utf8_header_text_stays_utf8() {
    let raw = "Subject: Grüße =?utf-8?q?caf=C3=A9?= =?iso-8859-1?q?Fr\u{f6}sche?=\r\n\r\n";
    let msg = reader::parse(raw.as_bytes()).message;
    assert_eq!(
        msg.header_text("subject").as_deref(),
        Some("Grüße caféFrösche")
    );
    assert_eq!(
        msg.headers().get("subject").unwrap().as_text(),
        "Grüße =?utf-8?q?caf=C3=A9?= =?iso-8859-1?q?Fr\u{f6}sche?="
    );
    assert_eq!(decode_rfc2047("=?iso-8859-1?Q?Fr\u{f6}sche?="), "Frösche");
}

// ---------------------------------------------------------------- structure

#[test]
fn nested_mixed_alternative_related() {
    let msg = clean("nested.eml");
    assert_eq!(
        shape(&msg),
        "multipart/mixed(multipart/alternative(text/plain,\
         multipart/related(text/html,image/png)),application/pdf)"
    );
    let walk = msg.walk();
    let paths: Vec<Vec<usize>> = walk.iter().map(|(p, _)| p.clone()).collect();
    assert_eq!(
        paths,
        [
            vec![],
            vec![0],
            vec![0, 0],
            vec![0, 1],
            vec![0, 1, 0],
            vec![0, 1, 1],
            vec![1]
        ]
    );
    let part = |path: &[usize]| walk.iter().find(|(p, _)| p == path).unwrap().1;

    assert_eq!(
        part(&[0, 0]).text().as_deref(),
        Some("Plain text with a logo: café.")
    );
    let html = part(&[0, 1, 0]);
    assert_eq!(
        html.text().as_deref(),
        Some("<p>HTML with a logo: <img src=\"cid:logo@example.org\"></p>")
    );
    assert_eq!(html.content_transfer_encoding().as_deref(), Some("7bit"));

    let png: Vec<u8> = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        .into_iter()
        .chain((0..=255u8).chain(0..=255u8))
        .collect();
    let logo = part(&[0, 1, 1]);
    assert_eq!(logo.decoded_body(), png);
    assert_eq!(logo.size(), png.len());
    assert_eq!(logo.text(), None);
    assert_eq!(logo.filename().as_deref(), Some("logo.png"));
    assert_eq!(
        logo.header_text("content-id").as_deref(),
        Some("<logo@example.org>")
    );
    let related = part(&[0, 1]);
    assert_eq!(related.content_type().param("type"), Some("text/html"));
    assert_eq!(related.content_type().boundary(), Some("rel-boundary"));
    assert_eq!(related.decoded_body(), b"");

    let pdf = part(&[1]);
    assert_eq!(pdf.filename().as_deref(), Some("report.pdf"));
    let expected_pdf: &[u8] = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\n\
                                endobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n";
    assert_eq!(pdf.decoded_body(), expected_pdf);

    // The decoded size of a multipart is that of its leaves.
    let leaves: usize = walk
        .iter()
        .filter(|(_, m)| m.parts().is_empty())
        .map(|(_, m)| m.decoded_body().len())
        .sum();
    assert_eq!(msg.size(), leaves);
}

#[test]
fn message_rfc822_is_one_enclosed_entity() {
    let msg = clean("rfc822.eml");
    assert_eq!(
        shape(&msg),
        "multipart/mixed(text/plain,message/rfc822(multipart/alternative(text/plain,text/html)))"
    );
    let attached = &msg.parts()[1];
    let Body::Multipart {
        content_type,
        parts,
    } = attached.body()
    else {
        panic!("message/rfc822 is not a one-part container: {attached:?}");
    };
    assert_eq!(content_type.essence(), "message/rfc822");
    assert_eq!(parts.len(), 1);
    assert_eq!(attached.filename().as_deref(), Some("original.eml"));
    let inner = &parts[0];
    assert_eq!(
        inner.header_text("subject").as_deref(),
        Some("The original ✓")
    );
    assert_eq!(
        inner.header_text("from").as_deref(),
        Some("Carl <carl@example.com>")
    );
    assert_eq!(
        inner.parts()[0].text().as_deref(),
        Some("Inner plain text.")
    );
    assert_eq!(
        inner.parts()[1].text().as_deref(),
        Some("<p>Inner HTML.</p>")
    );
    let paths: Vec<Vec<usize>> = msg.walk().into_iter().map(|(p, _)| p).collect();
    assert!(paths.contains(&vec![1, 0, 1]), "{paths:?}");
}

/// A `message/rfc822` part whose body is prose, not a message: nothing of
/// it may be lost. Its first line is not a header field, so the enclosed
/// entity has no header section and the prose is its body.
#[test]
fn message_rfc822_holding_prose_keeps_the_prose() {
    let prose = "This is not a message, only prose\r\n\
                 that a mailer labelled message/rfc822.\r\n\
                 \r\n\
                 Second paragraph.";
    let raw = format!(
        "Content-Type: multipart/mixed; boundary=b\r\n\r\n\
         --b\r\nContent-Type: message/rfc822\r\n\r\n{prose}\r\n--b--\r\n"
    );
    let parsed = reader::parse(raw.as_bytes());
    let enclosed = &parsed.message.parts()[0];
    assert_eq!(enclosed.content_type().essence(), "message/rfc822");
    let inner = &enclosed.parts()[0];
    assert!(inner.headers().is_empty());
    assert_eq!(inner.text().as_deref(), Some(prose));
    // Said once, at the enclosed entity.
    assert_eq!(parsed.defects.len(), 1, "{:?}", parsed.defects);
    assert_eq!(parsed.defects[0].part, [0, 0]);
    assert!(parsed.defects[0].to_string().contains("not a header field"));
}

#[test]
fn encoded_message_rfc822_is_decoded_first() {
    let inner = "Subject: inside\r\n\r\nhello\r\n";
    let raw = format!(
        "Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
        "U3ViamVjdDogaW5zaWRlDQoNCmhlbGxvDQo="
    );
    assert_eq!(
        decode_transfer(b"U3ViamVjdDogaW5zaWRlDQoNCmhlbGxvDQo=", Some("base64")),
        inner.as_bytes()
    );
    let parsed = reader::parse(raw.as_bytes());
    assert!(parsed.defects.is_empty(), "{:?}", parsed.defects);
    let inner = &parsed.message.parts()[0];
    assert_eq!(inner.header_text("subject").as_deref(), Some("inside"));
    assert_eq!(inner.text().as_deref(), Some("hello\r\n"));
}

#[test]
fn digest_parts_default_to_message_rfc822() {
    let msg = clean("digest.eml");
    assert_eq!(
        shape(&msg),
        "multipart/digest(message/rfc822(text/plain),message/rfc822(text/plain),text/plain)"
    );
    assert_eq!(
        msg.parts()[1].parts()[0].header_text("subject").as_deref(),
        Some("Second")
    );
    assert_eq!(
        msg.parts()[0].parts()[0].text().as_deref(),
        Some("First message.")
    );
}

#[test]
fn rfc2231_and_encoded_word_file_names() {
    let msg = clean("rfc2231.eml");
    let names: Vec<Option<String>> = msg.parts().iter().map(|p| p.filename()).collect();
    assert_eq!(
        names,
        [
            Some("日本語のファイル.txt".to_owned()),
            Some("résumé.pdf".to_owned()),
            Some("naïve name.bin".to_owned()),
            Some("déjà vu.txt".to_owned()),
            Some("über.dat".to_owned()),
        ]
    );
    for part in msg.parts() {
        assert_eq!(part.decoded_body(), b"hello");
    }
}

// ---------------------------------------------------------------- malformed

#[test]
fn missing_closing_delimiter_keeps_the_parts() {
    let parsed = reader::parse(&fixture("missing_close.eml"));
    assert_eq!(
        parsed.defects,
        [Defect {
            part: vec![],
            kind: DefectKind::UnterminatedMultipart
        }]
    );
    let texts: Vec<String> = parsed
        .message
        .parts()
        .iter()
        .map(|p| p.text().unwrap())
        .collect();
    assert_eq!(
        texts,
        [
            "first part",
            "second part, and then the message just stops\r\n"
        ]
    );
}

#[test]
fn multipart_without_boundary_is_kept_raw() {
    let parsed = reader::parse(&fixture("no_boundary.eml"));
    assert_eq!(kinds(&parsed), [DefectKind::MissingBoundary]);
    let Body::Raw(body) = parsed.message.body() else {
        panic!("{:?}", parsed.message.body());
    };
    assert!(body.starts_with(b"--whatever\r\n"));
    assert_eq!(parsed.message.content_type().essence(), "multipart/mixed");
    assert_eq!(parsed.message.decoded_body(), *body);

    let parsed = reader::parse(b"Content-Type: multipart/mixed; boundary=\"\"\r\n\r\n--\r\n");
    assert_eq!(kinds(&parsed), [DefectKind::MissingBoundary]);
}

#[test]
fn boundary_never_found_is_kept_raw() {
    let raw = b"Content-Type: multipart/mixed; boundary=nope\r\n\r\njust text\r\n--nopeish\r\n";
    let parsed = reader::parse(raw);
    assert_eq!(kinds(&parsed), [DefectKind::BoundaryNotFound]);
    assert_eq!(parsed.message.decoded_body(), b"just text\r\n--nopeish\r\n");
}

#[test]
fn delimiters_with_trailing_white_space_and_odd_parts() {
    let raw = b"Content-Type: multipart/mixed; boundary=\"b \"\r\n\r\n\
                --b \t\r\n\r\none\r\n\
                --b\r\n\
                --b\r\nContent-Type: text/plain\r\n\
                --b-- \r\n";
    let parsed = reader::parse(raw);
    assert!(parsed.defects.is_empty(), "{:?}", parsed.defects);
    let parts = parsed.message.parts();
    assert_eq!(parts.len(), 3);
    assert_eq!(parts[0].text().as_deref(), Some("one"));
    assert_eq!(parts[1].decoded_body(), b"");
    assert_eq!(parts[2].headers().len(), 1);
    assert_eq!(parts[2].decoded_body(), b"");

    // A line that merely starts with the delimiter is content.
    let raw =
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\n--bb\r\n--b-x\r\n--b--\r\n";
    let parsed = reader::parse(raw);
    assert!(parsed.defects.is_empty());
    assert_eq!(parsed.message.parts()[0].decoded_body(), b"--bb\r\n--b-x");
}

#[test]
fn garbage_header_lines_are_flagged_and_skipped() {
    let parsed = reader::parse(&fixture("garbage_headers.eml"));
    let lines: Vec<usize> = parsed
        .defects
        .iter()
        .map(|d| match &d.kind {
            DefectKind::MalformedHeader { line, .. } => *line,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(lines, [2, 6, 7, 8]);
    let msg = &parsed.message;
    let names: Vec<&str> = msg.headers().iter().map(|h| h.name().as_str()).collect();
    assert_eq!(names, ["From", "Subject", "To"]);
    assert_eq!(
        msg.header_text("subject").as_deref(),
        Some("Garbage in the header still the subject continuation of garbage? no, of the subject")
    );
    assert_eq!(msg.text().as_deref(), Some("Body survives.\r\n"));
    assert!(parsed.defects[0]
        .to_string()
        .contains("malformed header line 2"));

    let parsed = reader::parse(b" leading continuation\r\n more\r\nTo: x\r\n\r\n");
    assert_eq!(parsed.defects.len(), 1);
    assert_eq!(parsed.message.headers().len(), 1);
}

#[test]
fn base64_with_junk_is_flagged_and_decoded() {
    let parsed = reader::parse(&fixture("bad_base64.eml"));
    assert_eq!(kinds(&parsed), [DefectKind::BadBase64]);
    assert_eq!(parsed.message.decoded_body(), b"hello world");
    assert_eq!(parsed.message.size(), 11);
}

#[test]
fn other_encoding_and_type_defects() {
    let parsed = reader::parse(
        b"Content-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n100=% sure\r\n",
    );
    assert_eq!(kinds(&parsed), [DefectKind::BadQuotedPrintable]);
    assert_eq!(parsed.message.text().as_deref(), Some("100=% sure\r\n"));

    let parsed = reader::parse(b"Content-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644 a\r\n");
    assert_eq!(
        kinds(&parsed),
        [DefectKind::UnknownTransferEncoding {
            encoding: "x-uuencode".into()
        }]
    );
    assert_eq!(parsed.message.decoded_body(), b"begin 644 a\r\n");

    let parsed = reader::parse(b"Content-Type: /;;\r\n\r\nsome text");
    assert_eq!(kinds(&parsed), [DefectKind::InvalidContentType]);
    assert_eq!(
        parsed.message.content_type().header_value(),
        "text/plain; charset=us-ascii"
    );
    assert_eq!(parsed.message.text().as_deref(), Some("some text"));
}

#[test]
fn defects_name_their_part() {
    let raw = b"Content-Type: multipart/mixed; boundary=o\r\n\r\n--o\r\n\r\nfine\r\n\
                --o\r\nContent-Type: multipart/alternative; boundary=i\r\n\r\n\
                --i\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!!\r\n--i--\r\n--o--\r\n";
    let parsed = reader::parse(raw);
    assert_eq!(
        parsed.defects,
        [Defect {
            part: vec![1, 0],
            kind: DefectKind::BadBase64
        }]
    );
    assert_eq!(
        parsed.defects[0].to_string(),
        "part 1.0: junk in a base64 body"
    );
}

/// A multipart nested `levels` deep around one text part.
fn deep_multipart(levels: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for level in 0..levels {
        out.extend_from_slice(
            format!("Content-Type: multipart/mixed; boundary=\"b{level}\"\r\n\r\n--b{level}\r\n")
                .as_bytes(),
        );
    }
    out.extend_from_slice(b"Content-Type: text/plain\r\n\r\ndeep inside\r\n");
    for level in (0..levels).rev() {
        out.extend_from_slice(format!("--b{level}--\r\n").as_bytes());
    }
    out
}

fn deepest(msg: &Message) -> usize {
    msg.walk().iter().map(|(p, _)| p.len()).max().unwrap()
}

#[test]
fn nesting_200_deep_is_cut_at_the_limit() {
    // A small stack shows that the depth, not luck, bounds the recursion.
    let handle = std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(|| {
            let parsed = reader::parse(&deep_multipart(200));
            assert_eq!(
                parsed.defects,
                [Defect {
                    part: vec![0; MAX_DEPTH],
                    kind: DefectKind::NestingTooDeep
                }]
            );
            let msg = &parsed.message;
            assert_eq!(deepest(msg), MAX_DEPTH);
            let (_, bottom) = msg
                .walk()
                .into_iter()
                .find(|(p, _)| p.len() == MAX_DEPTH)
                .unwrap();
            assert!(matches!(bottom.body(), Body::Raw(_)));
            assert!(bottom.decoded_body().starts_with(b"--b64\r\n"));
            let _ = msg.size();
            let _ = msg.to_bytes().unwrap();

            // Just within the limit is parsed whole.
            let parsed = reader::parse(&deep_multipart(MAX_DEPTH));
            assert!(parsed.defects.is_empty(), "{:?}", parsed.defects);
            assert_eq!(deepest(&parsed.message), MAX_DEPTH);

            // Enclosed messages count too.
            let mut raw = b"Content-Type: text/plain\r\n\r\nbottom\r\n".to_vec();
            for _ in 0..200 {
                let mut outer = b"Content-Type: message/rfc822\r\n\r\n".to_vec();
                outer.extend_from_slice(&raw);
                raw = outer;
            }
            let parsed = reader::parse(&raw);
            assert_eq!(kinds(&parsed), [DefectKind::NestingTooDeep]);
            assert_eq!(deepest(&parsed.message), MAX_DEPTH);
        })
        .unwrap();
    handle.join().unwrap();
}

#[test]
fn bare_lf_mbox_message() {
    let raw = fixture("bare_lf.eml");
    assert!(!raw.contains(&b'\r'));
    let parsed = reader::parse(&raw);
    assert!(parsed.defects.is_empty(), "{:?}", parsed.defects);
    let msg = &parsed.message;
    assert_eq!(
        msg.header_text("subject").as_deref(),
        Some("Bare LF line endings")
    );
    assert_eq!(msg.headers().len(), 5, "the mbox From line is not a field");
    assert_eq!(msg.parts().len(), 2);
    assert_eq!(msg.parts()[0].text().as_deref(), Some("café"));
    assert_eq!(msg.parts()[1].text().as_deref(), Some("<p>café</p>"));
}

#[test]
fn bare_lf_and_crlf_read_alike() {
    let without_cr = |summary: Vec<Summary>| -> Vec<Summary> {
        summary
            .into_iter()
            .map(|(path, ct, body, name, subject)| {
                let body = body.into_iter().filter(|&b| b != b'\r').collect();
                (path, ct, body, name, subject)
            })
            .collect()
    };
    for name in FIXTURES {
        let crlf = fixture(name);
        let lf: Vec<u8> = String::from_utf8_lossy(&crlf)
            .replace("\r\n", "\n")
            .into_bytes();
        let crlf = String::from_utf8_lossy(&crlf).into_owned().into_bytes();
        let (a, b) = (reader::parse(&crlf), reader::parse(&lf));
        assert_eq!(a.defects, b.defects, "{name}");
        assert_eq!(
            without_cr(summary(&a.message)),
            without_cr(summary(&b.message)),
            "{name}"
        );
    }
}

// ---------------------------------------------------------------- writing back

/// Structure, decoded leaves and decoded headers, to compare two readings.
/// Path, type, decoded body, file name and subject of one entity.
type Summary = (Vec<usize>, String, Vec<u8>, Option<String>, Option<String>);

fn summary(msg: &Message) -> Vec<Summary> {
    msg.walk()
        .into_iter()
        .map(|(path, m)| {
            (
                path,
                m.content_type().essence().to_owned(),
                m.decoded_body(),
                m.filename(),
                m.header_text("subject"),
            )
        })
        .collect()
}

#[test]
fn parsed_messages_are_written_back_faithfully() {
    for name in FIXTURES {
        let first = reader::parse(&fixture(name));
        let written = first.message.to_bytes().unwrap();
        let second = reader::parse(&written);
        assert_eq!(
            summary(&first.message),
            summary(&second.message),
            "{name}:\n{}",
            String::from_utf8_lossy(&written)
        );
        let body_defects = |p: &Parsed| {
            p.defects
                .iter()
                .filter(|d| {
                    !matches!(
                        d.kind,
                        // Skipped lines are gone; the writer closes multiparts.
                        DefectKind::MalformedHeader { .. } | DefectKind::UnterminatedMultipart
                    )
                })
                .count()
        };
        assert_eq!(body_defects(&first), body_defects(&second), "{name}");
    }
}

#[test]
fn parsed_message_rfc822_is_written_back() {
    for name in ["rfc822.eml", "digest.eml"] {
        let first = reader::parse(&fixture(name));
        let written = first.message.to_bytes().unwrap();
        let second = reader::parse(&written);
        assert!(second.defects.is_empty(), "{name}: {:?}", second.defects);
        assert_eq!(summary(&first.message), summary(&second.message), "{name}");
    }
}

// ---------------------------------------------------------------- round trip

/// What the writer makes of text: line breaks as CRLF, and a last line
/// break added when there is none.
fn as_written_text(text: &str) -> Vec<u8> {
    let mut out = text
        .replace("\r\n", "\n")
        .replace('\r', "\n")
        .replace('\n', "\r\n");
    if !out.is_empty() && !out.ends_with("\r\n") {
        out.push_str("\r\n");
    }
    out.into_bytes()
}

/// Path, content type, decoded body and file name of a leaf.
type Leaf<'a> = (Vec<usize>, &'a str, Vec<u8>, Option<&'a str>);

struct Expected<'a> {
    subject: &'a str,
    from: &'a str,
    /// (path, content type, decoded body, file name)
    leaves: Vec<Leaf<'a>>,
}

fn check_round_trip(msg: &Message, expected: &Expected<'_>) {
    let bytes = msg.to_bytes().unwrap();
    let shown = String::from_utf8_lossy(&bytes);
    let parsed = reader::parse(&bytes);
    assert!(parsed.defects.is_empty(), "{:?}\n{shown}", parsed.defects);
    let read = &parsed.message;
    assert_eq!(
        read.header_text("subject").as_deref(),
        Some(expected.subject),
        "{shown}"
    );
    assert_eq!(
        read.header_text("from").as_deref(),
        Some(expected.from),
        "{shown}"
    );
    let walk = read.walk();
    let leaves: Vec<_> = walk
        .iter()
        .filter(|(_, m)| m.parts().is_empty())
        .map(|(path, m)| {
            (
                path.clone(),
                m.content_type().essence().to_owned(),
                m.decoded_body(),
                m.filename(),
            )
        })
        .collect();
    assert_eq!(leaves.len(), expected.leaves.len(), "{shown}");
    for (got, want) in leaves.iter().zip(&expected.leaves) {
        assert_eq!(got.0, want.0, "{shown}");
        assert_eq!(got.1, want.1, "{shown}");
        assert!(
            got.2 == want.2,
            "body of {:?}: got {:?}, want {:?}\n{shown}",
            got.0,
            String::from_utf8_lossy(&got.2),
            String::from_utf8_lossy(&want.2)
        );
        assert_eq!(got.3.as_deref(), want.3, "{shown}");
    }
    // The built message and its reading agree on sizes.
    assert_eq!(
        read.walk().len(),
        msg.walk().len(),
        "the same number of entities"
    );
}

#[test]
fn round_trip_text_only() {
    let subject =
        "Grüße aus Köln — a subject long enough to be folded over more than one line, ✓ done";
    let from = "Jörg Müller <joerg@example.org>";
    for text in [
        "Hello.\nSecond line.\n",
        "No line break at the end",
        "Non-ASCII: café, 日本語, 😂\n",
        "From the start\n.\n..dots\n",
        "=?utf-8?q?looks_encoded?= but is body text\n",
        "",
    ] {
        let msg = MessageBuilder::new()
            .from(from)
            .to("bob@example.net")
            .subject(subject)
            .text(text)
            .build()
            .unwrap();
        let want = as_written_text(text);
        check_round_trip(
            &msg,
            &Expected {
                subject,
                from,
                leaves: vec![(vec![], "text/plain", want, None)],
            },
        );
        // text() gives the text back by its charset.
        let read = reader::parse(&msg.to_bytes().unwrap()).message;
        assert_eq!(
            read.text().unwrap().into_bytes(),
            as_written_text(text),
            "{text:?}"
        );
    }
}

#[test]
fn round_trip_text_html_inline_and_attachments() {
    let subject = "Rapport trimestriel — résumé 2026 =?not-a-word?= ✓";
    let from = "\"Ann, the Sender\" <ann@example.org>";
    let text = "Dear all,\nsee the attachments: résumé and 日本語.\n";
    let html = "<p>See <img src=\"cid:logo\"> and the <b>attachments</b>: résumé.</p>\n";
    let logo: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
    let pdf: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
    let long_name = "日本語のとても長いファイル名がここにありますので継続行が必要になります.bin";
    let bin: Vec<u8> = vec![0, 1, 2, 3, 255, 254, b'\r', b'\n', b'\n', b'\r'];
    let csv = "a;b\r\n1;2\r\n";
    let msg = MessageBuilder::new()
        .from(from)
        .to("Bob <bob@example.net>")
        .cc("Zoë <zoe@example.net>")
        .subject(subject)
        .text(text)
        .html(html)
        .inline_bytes("logo", "lögo.png", logo.clone(), None)
        .attach_bytes("résumé 2026.pdf", pdf.clone(), None)
        .attach_bytes(long_name, bin.clone(), None)
        .attach_bytes(
            "data \"quoted\"; name.csv",
            csv.as_bytes().to_vec(),
            Some(ContentType::new("text", "csv").unwrap()),
        )
        .build()
        .unwrap();
    check_round_trip(
        &msg,
        &Expected {
            subject,
            from,
            leaves: vec![
                (vec![0, 0], "text/plain", as_written_text(text), None),
                (vec![0, 1, 0], "text/html", as_written_text(html), None),
                (vec![0, 1, 1], "image/png", logo, Some("lögo.png")),
                (vec![1], "application/pdf", pdf, Some("résumé 2026.pdf")),
                (vec![2], "application/octet-stream", bin, Some(long_name)),
                (
                    vec![3],
                    "text/csv",
                    csv.as_bytes().to_vec(),
                    Some("data \"quoted\"; name.csv"),
                ),
            ],
        },
    );
    let read = reader::parse(&msg.to_bytes().unwrap()).message;
    assert_eq!(
        read.header_text("cc").as_deref(),
        Some("Zoë <zoe@example.net>")
    );
    assert_eq!(
        read.parts()[0].parts()[1].parts()[1]
            .header_text("content-id")
            .as_deref(),
        Some("<logo>")
    );
    assert_eq!(
        read.parts()[0].parts()[0].text().as_deref(),
        Some(crlf(text).as_str())
    );
}

fn text_attachment_round_trip(data: &[u8]) {
    let subject = "text attachments";
    let from = "ann@example.org";
    let msg = MessageBuilder::new()
        .from(from)
        .subject(subject)
        .text("see attached\n")
        .attach_bytes("notes.txt", data.to_vec(), None)
        .build()
        .unwrap();
    check_round_trip(
        &msg,
        &Expected {
            subject,
            from,
            leaves: vec![
                (
                    vec![0],
                    "text/plain",
                    as_written_text("see attached\n"),
                    None,
                ),
                (vec![1], "text/plain", data.to_vec(), Some("notes.txt")),
            ],
        },
    );
}

#[test]
fn round_trip_canonical_text_attachments() {
    for data in [
        &b"crlf line breaks\r\nto the end\r\n"[..],
        "caf\u{e9}\r\n".as_bytes(),
        b"\xff\xfe not UTF-8\r\n",
        b"",
    ] {
        text_attachment_round_trip(data);
    }
}

#[test]
fn round_trip_text_attachments_keep_their_bytes() {
    for data in [
        &b"no final line break"[..],
        b"unix\nline\nbreaks\n",
        "\u{e9}, non-ASCII without a final line break".as_bytes(),
        b"lone\rcarriage return\r\n",
    ] {
        text_attachment_round_trip(data);
    }
}

#[test]
fn round_trip_display_names() {
    for name in [
        "Müller, Jörg",
        "Zoë \"Z\" Smith",
        "日本 太郎",
        "plain ASCII",
        "a =?utf-8?q?x?= é",
        "trailing é",
    ] {
        let from = postie_mime::address::Mailbox::new(Some(name), "user", Some("example.org"))
            .unwrap()
            .to_string();
        let msg = MessageBuilder::new()
            .from(from.as_str())
            .subject(name)
            .text("x")
            .build()
            .unwrap();
        let bytes = msg.to_bytes().unwrap();
        let read = reader::parse(&bytes);
        assert!(read.defects.is_empty());
        assert_eq!(read.message.header_text("subject").as_deref(), Some(name));
        // Decode the display name after parsing the address, as RFC 2047
        // §6.2 says (decoding first could expose a comma or quotes).
        let raw = read.message.headers().get("from").unwrap().as_text();
        let list = postie_mime::address::parse_address_list(&raw).unwrap();
        let mailboxes = postie_mime::address::mailboxes(&list);
        assert_eq!(mailboxes.len(), 1, "{raw}");
        let decoded = mailboxes[0].name().map(decode_rfc2047);
        assert_eq!(decoded.as_deref(), Some(name), "{raw}");
        assert_eq!(mailboxes[0].addr_spec(), "user@example.org");
    }
}

// ---------------------------------------------------------------- no panics

/// xorshift64*: deterministic pseudo-random numbers.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Bytes that matter to the parser, so that mutations hit interesting
/// places more often than uniform noise would.
const SPICE: &[u8] = b"\r\n:-=?_ \t;\"()<>*%'\\\x00\xff\xc3";

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    let edits = 1 + rng.below(8);
    for _ in 0..edits {
        let at = rng.below(out.len() + 1);
        let byte = if rng.below(2) == 0 {
            SPICE[rng.below(SPICE.len())]
        } else {
            rng.next() as u8
        };
        match rng.below(6) {
            0 if at < out.len() => out[at] ^= 1 << rng.below(8),
            1 if at < out.len() => out[at] = byte,
            2 => out.insert(at, byte),
            3 if at < out.len() => {
                out.remove(at);
            }
            4 => {
                // Duplicate a slice (repeats boundaries and headers).
                let len = rng.below(64).min(out.len() - at.min(out.len()));
                let piece = out[at..at + len].to_vec();
                let to = rng.below(out.len() + 1);
                out.splice(to..to, piece);
            }
            _ => {
                // Cut the message short.
                out.truncate(at);
            }
        }
    }
    out
}

fn exercise(bytes: &[u8]) {
    let parsed = reader::parse(bytes);
    for defect in &parsed.defects {
        let _ = defect.to_string();
    }
    let msg = &parsed.message;
    for (_, part) in msg.walk() {
        let _ = part.content_type();
        let _ = part.content_transfer_encoding();
        let _ = part.decoded_body();
        let _ = part.text();
        let _ = part.filename();
        let _ = part.header_text("subject");
        let _ = part.header_text("from");
        let _ = part.size();
    }
    // Writing back may refuse (an unwritable boundary, say) but not panic;
    // what it writes reads again.
    if let Ok(written) = msg.to_bytes() {
        let _ = reader::parse(&written);
    }
}

#[test]
fn mutated_fixtures_never_panic() {
    let seeds: Vec<Vec<u8>> = FIXTURES
        .iter()
        .map(|name| fixture(name))
        .chain([deep_multipart(80)])
        .collect();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for round in 0..5000 {
        let seed = &seeds[round % seeds.len()];
        let mut input = mutate(&mut rng, seed);
        if round % 7 == 0 {
            // Mutate a mutant: errors compound.
            input = mutate(&mut rng, &input);
        }
        exercise(&input);
    }
}

#[test]
fn decoders_never_panic_on_noise() {
    let mut rng = Rng(42);
    for _ in 0..2000 {
        let len = rng.below(80);
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                if rng.below(3) == 0 {
                    SPICE[rng.below(SPICE.len())]
                } else {
                    {
                        let pool = b"=?utf-8qQbB?=AZaz09+/";
                        pool[rng.below(pool.len())]
                    }
                }
            })
            .collect();
        let text = String::from_utf8_lossy(&bytes);
        let _ = decode_rfc2047(&text);
        let _ = decode_transfer(&bytes, Some("base64"));
        let _ = decode_transfer(&bytes, Some("quoted-printable"));
        for charset in [
            "utf-8",
            "shift_jis",
            "iso-2022-jp",
            "utf-16",
            "gb18030",
            "x-bogus",
        ] {
            let _ = decode_charset(&bytes, Some(charset));
        }
    }
}

/// A bare CR or NUL in a header line is a defect and reads as a space, in
/// the root and in a part, so that what is kept is what a writer gives a
/// server (where a bare CR would be a line break making another field).
#[test]
fn a_bare_cr_or_nul_in_a_header_reads_as_a_space() {
    let raw = b"Subject: x\rBcc: hidden@y\r\nX-N: a\0b\r\n\
        Content-Type: multipart/mixed; boundary=B\r\n\r\n\
        --B\r\nX-P: p\rFrom: evil@y\r\n\r\npart\r\n--B--\r\n";
    let parsed = reader::parse(raw);
    assert_eq!(
        kinds(&parsed),
        [
            DefectKind::ControlInHeader { line: 1 },
            DefectKind::ControlInHeader { line: 2 },
            DefectKind::ControlInHeader { line: 1 },
        ]
    );
    let msg = &parsed.message;
    assert_eq!(
        msg.header_text("subject").as_deref(),
        Some("x Bcc: hidden@y")
    );
    assert_eq!(msg.header_text("x-n").as_deref(), Some("a b"));
    assert!(msg.headers().get("bcc").is_none());
    let part = &msg.parts()[0];
    assert_eq!(part.header_text("x-p").as_deref(), Some("p From: evil@y"));
    let written = msg.to_bytes().unwrap();
    assert!(!written.windows(2).any(|w| w[0] == b'\r' && w[1] != b'\n'));
    assert!(!written.contains(&0));
}
