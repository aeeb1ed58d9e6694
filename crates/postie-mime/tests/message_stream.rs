//! The pull stream gives exactly the bytes the push writer writes, for any
//! message and however it is read (one byte at a time, odd sizes, whole
//! chunks), and a file-backed leaf is read while the message is read.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::path::PathBuf;

use postie_mime::builder::MessageBuilder;
use postie_mime::content_type::ContentType;
use postie_mime::{Headers, Message};
use proptest::prelude::*;

/// Reads the whole stream in reads of `size` bytes.
fn pull(message: &Message, size: usize) -> Vec<u8> {
    let mut stream = message.stream().unwrap();
    let mut out = Vec::new();
    let mut buf = vec![0u8; size];
    loop {
        let n = stream.read(&mut buf).unwrap();
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&buf[..n]);
    }
}

fn chunks(message: &Message) -> Vec<u8> {
    let mut stream = message.stream().unwrap();
    let mut out = Vec::new();
    loop {
        let chunk = stream.next_chunk().unwrap();
        if chunk.is_empty() {
            return out;
        }
        out.extend_from_slice(chunk);
    }
}

/// The bytes written into a `Write` (the streaming writer), which
/// `to_bytes` must equal (it encodes into its vector directly).
fn written(message: &Message) -> Vec<u8> {
    let mut out = Vec::new();
    message.write_to(&mut out).unwrap();
    out
}

fn assert_same(message: &Message) {
    let pushed = message.to_bytes().unwrap();
    assert_eq!(written(message), pushed);
    for size in [1, 7, 76, 4096, 200_000] {
        assert_eq!(pull(message, size), pushed, "reads of {size} bytes");
    }
    assert_eq!(chunks(message), pushed);
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("postie-pull-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn text_html_attachments_and_nesting() {
    let message = MessageBuilder::new()
        .from("Ann <ann@example.org>")
        .to("bob@example.org")
        .subject("Grüße, with an attachment")
        .text("Hello\n.\nline without end")
        .html("<p>caf\u{e9}</p>")
        .attach_bytes(
            "a.bin",
            (0..=255u8).cycle().take(10_000).collect::<Vec<u8>>(),
            None,
        )
        .attach_bytes("notes.txt", b"one\r\ntwo\r\n".to_vec(), None)
        .build()
        .unwrap();
    assert_same(&message);

    let inner =
        Message::multipart("alternative", vec![Message::text(""), Message::html("x")]).unwrap();
    let mut rfc822 = Message::text("enclosed");
    rfc822.headers_mut().set("Subject", "inner").unwrap();
    let digest = Message::multipart("digest", vec![rfc822]).unwrap();
    let outer = Message::multipart("mixed", vec![inner, digest]).unwrap();
    assert_same(&outer);
}

#[test]
fn file_leaves_of_every_encoding_match_the_writer() {
    let dir = TempDir::new("files");
    // Binary (base64), clean CRLF text (7bit), text with bare LF and
    // non-ASCII (quoted-printable), mostly non-ASCII text (base64), and a
    // file larger than one chunk.
    let binary = dir.file(
        "b.bin",
        &(0..=255u8).cycle().take(200_001).collect::<Vec<_>>(),
    );
    let clean = dir.file("clean.txt", "line\r\n".repeat(30_000).as_bytes());
    let qp = dir.file(
        "qp.txt",
        "caf\u{e9} is ok\r\nnext line  \r\nand a bare LF\n"
            .repeat(9_000)
            .as_bytes(),
    );
    let b64 = dir.file("b64.txt", "日本語テキスト\n".repeat(5_000).as_bytes());
    let empty = dir.file("empty.txt", b"");
    let text = ContentType::new("text", "plain").unwrap();
    let parts = vec![
        Message::text("see the files"),
        Message::file(
            &binary,
            ContentType::new("application", "octet-stream").unwrap(),
        )
        .unwrap(),
        Message::file(&clean, text.clone()).unwrap(),
        Message::file(&qp, text.clone()).unwrap(),
        Message::file(&b64, text.clone()).unwrap(),
        Message::file(&empty, text).unwrap(),
    ];
    let message = Message::multipart("mixed", parts).unwrap();
    assert_same(&message);
    let pushed = message.to_bytes().unwrap();
    let out = String::from_utf8(pushed).unwrap();
    for encoding in ["7bit", "quoted-printable", "base64"] {
        assert!(out.contains(&format!("Content-Transfer-Encoding: {encoding}\r\n")));
    }
}

#[test]
fn a_raw_file_message_is_streamed_from_its_offset() {
    let dir = TempDir::new("raw");
    let path = dir.file(
        "m.eml",
        b"Subject: raw\r\nFrom: a@example.org\r\n\r\nbody line\r\n.dot\r\n",
    );
    let message = Message::parse_file(&path).unwrap();
    assert_same(&message);
    assert!(chunks(&message).ends_with(b"\r\n\r\nbody line\r\n.dot\r\n"));
}

#[test]
fn a_file_that_changed_after_it_was_attached_is_an_error() {
    let dir = TempDir::new("changed");
    let path = dir.file("grow.bin", &[1u8; 1000]);
    let message = Message::file(
        &path,
        ContentType::new("application", "octet-stream").unwrap(),
    )
    .unwrap();
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(b"more")
        .unwrap();
    let mut stream = message.stream().unwrap();
    let mut sink = Vec::new();
    let err = stream.read_to_end(&mut sink).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    assert!(
        err.to_string().contains("changed after it was attached"),
        "{err}"
    );

    std::fs::write(&path, [1u8; 10]).unwrap();
    let mut stream = message.stream().unwrap();
    assert!(
        stream.read_to_end(&mut Vec::new()).is_err(),
        "a shorter file too"
    );
}

#[test]
fn other_headers_are_used_when_given() {
    let message = Message::text("body");
    let mut headers = Headers::new();
    headers.set("Subject", "replaced").unwrap();
    let mut pushed = Vec::new();
    message.write_with_headers(&headers, &mut pushed).unwrap();
    let mut pulled = Vec::new();
    message
        .stream_with_headers(&headers)
        .unwrap()
        .read_to_end(&mut pulled)
        .unwrap();
    assert_eq!(pulled, pushed);
    assert!(pulled.starts_with(b"Subject: replaced\r\n"));
}

#[test]
fn the_stream_holds_one_chunk_not_the_file() {
    let dir = TempDir::new("big");
    let path = dir.file("big.bin", &vec![7u8; 8 * 1024 * 1024]);
    let message = Message::file(
        &path,
        ContentType::new("application", "octet-stream").unwrap(),
    )
    .unwrap();
    let mut stream = message.stream().unwrap();
    let mut largest = 0;
    let mut total = 0;
    loop {
        let chunk = stream.next_chunk().unwrap();
        if chunk.is_empty() {
            break;
        }
        largest = largest.max(chunk.len());
        total += chunk.len();
    }
    assert!(total > 8 * 1024 * 1024 * 4 / 3);
    assert!(largest <= 256 * 1024, "a chunk of {largest} bytes");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(120))]

    #[test]
    fn pulled_bytes_equal_written_bytes(
        subject in "[a-zé日 ]{0,40}",
        text in proptest::collection::vec(
            prop_oneof!["[ -~]{0,200}", "[a-zäöü ]{0,3000}", Just(".".to_owned()), Just("\r".to_owned())],
            0..5,
        ).prop_map(|lines| lines.join("\n")),
        html in proptest::option::of("[ -~\n]{0,500}"),
        attachments in proptest::collection::vec(
            proptest::collection::vec(any::<u8>(), 0..5000),
            0..3,
        ),
        read_size in 1usize..9000,
    ) {
        let mut builder = MessageBuilder::new()
            .from("ann@example.org")
            .to("bob@example.org")
            .subject(subject)
            .text(text);
        if let Some(html) = html {
            builder = builder.html(html);
        }
        for (i, data) in attachments.into_iter().enumerate() {
            let name = if i % 2 == 0 { "data.bin" } else { "data.txt" };
            builder = builder.attach_bytes(name, data, None);
        }
        let message = builder.build().unwrap();
        let pushed = message.to_bytes().unwrap();
        prop_assert_eq!(&written(&message), &pushed);
        prop_assert_eq!(pull(&message, read_size), pushed);
    }
}
