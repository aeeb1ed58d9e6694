//! An independent oracle: what the writer produces is read back by Python's
//! `email` package (stdlib, `policy.default`) and compared field by field,
//! part by part, byte for byte after decoding.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::process::{Command, Stdio};

use postie_mime::builder::MessageBuilder;
use postie_mime::content_type::ContentType;
use postie_mime::Message;
use serde_json::Value;
use sha2::{Digest, Sha256};

const READER: &str = r#"
import sys, json, hashlib
from email import message_from_bytes, policy
data = sys.stdin.buffer.read()
msg = message_from_bytes(data, policy=policy.default)
def defects(part):
    return [type(d).__name__ for d in part.defects]
out = {
    "subject": str(msg.get("subject", "")),
    "from": str(msg.get("from", "")),
    "to": str(msg.get("to", "")),
    "reply_to": str(msg.get("reply-to", "")),
    "defects": defects(msg),
    "mime_version_count": len(msg.get_all("mime-version") or []),
    "parts": [],
}
for part in msg.walk():
    entry = {"type": part.get_content_type(), "defects": defects(part),
             "cte_count": len(part.get_all("content-transfer-encoding") or [])}
    if not part.is_multipart():
        payload = part.get_payload(decode=True) or b""
        entry["sha256"] = hashlib.sha256(payload).hexdigest()
        entry["filename"] = part.get_filename()
        entry["disposition"] = part.get_content_disposition()
        entry["content_id"] = part.get("content-id")
        if part.get_content_maintype() == "text":
            entry["text"] = part.get_content().replace("\r\n", "\n")
    out["parts"].append(entry)
print(json.dumps(out))
"#;

/// Python's reading of `msg`, or `None` when python3 is missing outside CI.
fn python_reads(msg: &Message) -> Option<Value> {
    python_reads_bytes(&msg.to_bytes().unwrap())
}

/// Python's reading of raw bytes, or `None` when python3 is missing
/// outside CI.
fn python_reads_bytes(bytes: &[u8]) -> Option<Value> {
    let child = Command::new("python3")
        .args(["-c", READER])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(e) if std::env::var_os("CI").is_none() => {
            eprintln!("skipping: python3 not available: {e}");
            return None;
        }
        Err(e) => panic!("python3 is needed for this test in CI: {e}"),
    };
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).unwrap())
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn leaves(v: &Value) -> Vec<&Value> {
    v["parts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| !p["type"].as_str().unwrap().starts_with("multipart/"))
        .collect()
}

fn assert_clean(v: &Value) {
    assert_eq!(v["defects"], serde_json::json!([]), "{v}");
    assert_eq!(v["mime_version_count"], 1, "{v}");
    for part in v["parts"].as_array().unwrap() {
        assert_eq!(part["defects"], serde_json::json!([]), "{part}");
        assert!(part["cte_count"].as_u64().unwrap() <= 1, "{part}");
    }
}

#[test]
fn text_message_with_non_ascii_headers() {
    let msg = MessageBuilder::new()
        .from("Jörg Müller <joerg@example.org>")
        .to("\"Smith, Jane\" <jane@example.org>, bob@example.org")
        .reply_to("Ünïcödé Team <team@example.org>")
        .subject(
            "Grüße aus Köln — a subject long enough that it has to be folded somewhere, surely",
        )
        .text("Hallo Jörg,\n.a line with a leading dot\nline three\n")
        .build()
        .unwrap();
    let Some(v) = python_reads(&msg) else { return };
    assert_clean(&v);
    assert_eq!(
        v["subject"],
        "Grüße aus Köln — a subject long enough that it has to be folded somewhere, surely"
    );
    assert_eq!(v["from"], "Jörg Müller <joerg@example.org>");
    assert_eq!(
        v["to"],
        "\"Smith, Jane\" <jane@example.org>, bob@example.org"
    );
    assert_eq!(v["reply_to"], "Ünïcödé Team <team@example.org>");
    let parts = leaves(&v);
    assert_eq!(parts.len(), 1);
    assert_eq!(
        parts[0]["text"],
        "Hallo Jörg,\n.a line with a leading dot\nline three\n"
    );
}

#[test]
fn alternative_related_and_attachments() {
    let pdf: Vec<u8> = (0..70_000u32).map(|i| (i * 7 + i / 13) as u8).collect();
    let png: Vec<u8> = (0..3_000u32).map(|i| (i * 31) as u8).collect();
    let notes = "Käse\r\n=3D is not an escape here\r\n.\r\n"
        .as_bytes()
        .to_vec();
    let msg = MessageBuilder::new()
        .from("ann@example.org")
        .to("bob@example.org")
        .subject("report")
        .text("plain body")
        .html("<p>html body <img src=\"cid:logo\"></p>")
        .inline_bytes("logo", "logo.png", png.clone(), None)
        .attach_bytes("report 2026 – final.pdf", pdf.clone(), None)
        .attach_bytes(
            "notes.txt",
            notes.clone(),
            Some(ContentType::new("text", "plain").unwrap()),
        )
        .build()
        .unwrap();
    let Some(v) = python_reads(&msg) else { return };
    assert_clean(&v);
    let types: Vec<&str> = v["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "multipart/mixed",
            "multipart/alternative",
            "text/plain",
            "multipart/related",
            "text/html",
            "image/png",
            "application/pdf",
            "text/plain"
        ]
    );
    let parts = leaves(&v);
    assert_eq!(parts[0]["text"], "plain body\n");
    assert_eq!(parts[2]["content_id"], "<logo>");
    assert_eq!(parts[2]["disposition"], "inline");
    assert_eq!(parts[2]["sha256"], sha256(&png));
    assert_eq!(parts[3]["filename"], "report 2026 – final.pdf");
    assert_eq!(parts[3]["disposition"], "attachment");
    assert_eq!(parts[3]["sha256"], sha256(&pdf));
    assert_eq!(parts[4]["filename"], "notes.txt");
    assert_eq!(parts[4]["sha256"], sha256(&notes));
}

#[test]
fn a_file_attachment_is_streamed_and_read_back_intact() {
    let dir = std::env::temp_dir().join(format!("postie-oracle-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("données.bin");
    let data: Vec<u8> = (0..1_000_003u32).map(|i| (i ^ (i >> 7)) as u8).collect();
    std::fs::write(&path, &data).unwrap();
    let text_path = dir.join("readme.txt");
    std::fs::write(&text_path, "line one\nline two\n").unwrap();
    let german = dir.join("grüße.txt");
    let german_text = "Grüße aus Köln,\r\nund noch eine Zeile mit = und Tab\t\r\n".repeat(500);
    std::fs::write(&german, &german_text).unwrap();
    let msg = MessageBuilder::new()
        .to("bob@example.org")
        .text("see attached")
        .attach_file(&path)
        .attach_file(&text_path)
        .attach_file(&german)
        .build()
        .unwrap();
    let wire = String::from_utf8(msg.to_bytes().unwrap()).unwrap();
    // Text files keep their bytes: the LF-only readme and the CRLF German
    // text as quoted-printable, the binary file as base64.
    assert_eq!(
        wire.matches("Content-Transfer-Encoding: quoted-printable")
            .count(),
        2
    );
    assert_eq!(wire.matches("Content-Transfer-Encoding: base64").count(), 1);
    let Some(v) = python_reads(&msg) else { return };
    assert_clean(&v);
    let parts = leaves(&v);
    assert_eq!(parts[1]["filename"], "données.bin");
    assert_eq!(parts[1]["type"], "application/octet-stream");
    assert_eq!(parts[1]["sha256"], sha256(&data));
    assert_eq!(parts[2]["type"], "text/plain");
    assert_eq!(parts[2]["text"], "line one\nline two\n");
    assert_eq!(parts[3]["filename"], "grüße.txt");
    assert_eq!(parts[3]["text"], german_text.replace("\r\n", "\n"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_file_that_changes_after_attaching_is_an_error() {
    let dir = std::env::temp_dir().join(format!("postie-oracle-change-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("grows.bin");
    std::fs::write(&path, [1u8; 100]).unwrap();
    let msg = MessageBuilder::new()
        .text("x")
        .attach_file(&path)
        .build()
        .unwrap();
    std::fs::write(&path, [1u8; 200]).unwrap();
    let err = msg.to_bytes().unwrap_err();
    assert!(err.to_string().contains("changed"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn parsed_and_rewritten_messages_read_the_same_in_python() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/eml");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let original = std::fs::read(&path).unwrap();
        let parsed = postie_mime::reader::parse(&original);
        if !parsed.defects.is_empty() {
            // Broken on purpose: the rewrite repairs it, so Python's
            // reading may rightly differ.
            continue;
        }
        let rewritten = parsed.message.to_bytes().unwrap();
        let (Some(before), Some(after)) = (
            python_reads_bytes(&original),
            python_reads_bytes(&rewritten),
        ) else {
            if std::env::var_os("CI").is_some() {
                panic!("python3 is needed in CI");
            }
            return;
        };
        // What a reader sees: subjects, addresses, and each part's type,
        // name and decoded content.
        let strip = |mut v: Value| {
            v["defects"] = Value::Null;
            for part in v["parts"].as_array_mut().unwrap() {
                part["defects"] = Value::Null;
                part["cte_count"] = Value::Null;
            }
            v
        };
        assert_eq!(strip(before), strip(after), "{}", path.display());
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} well-formed fixtures");
}
