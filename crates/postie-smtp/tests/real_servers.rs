//! Sends to the real servers `scripts/test.sh` starts: Postfix and aiosmtpd.
//! With `CI` set a missing server fails these tests; elsewhere they skip.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use postie_mime::Message;
use postie_smtp::{Error, SendOptions, Sent};
use postie_testkit::{real_path, real_server, wait_for, RealServer};

/// A token unique to this run (the Message-ID generator is random).
fn token() -> String {
    let id = postie_mime::new_message_id("x").unwrap();
    id.trim_start_matches('<')
        .split('@')
        .next()
        .unwrap()
        .replace(['-', '_'], "x")
}

/// The seed example with a unique subject, so the test can find it.
fn seed(token: &str) -> Message {
    let mut msg = Message::text(format!(
        "This is the message.\n.leading dot line\ntoken {token}\n"
    ));
    msg.headers_mut()
        .set("Subject", &format!("This is the subject. {token}"))
        .unwrap();
    msg
}

fn options(server: &RealServer) -> SendOptions {
    SendOptions::new()
        .servers([server.host.clone()])
        .ports([server.port])
        .timeout(Duration::from_secs(20))
}

/// Messages in a Postfix Maildir that contain `token`.
fn postfix_delivered(mail: &Path, local: &str, token: &str) -> Option<String> {
    let dir = mail.join("example.org").join(local).join("new");
    wait_for(Duration::from_secs(20), || {
        fs::read_dir(&dir).ok()?.flatten().find_map(|entry| {
            let text = fs::read_to_string(entry.path()).ok()?;
            text.contains(token).then_some(text)
        })
    })
}

fn postfix_has(mail: &Path, local: &str, token: &str) -> bool {
    let dir = mail.join("example.org").join(local).join("new");
    fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .any(|e| fs::read_to_string(e.path()).is_ok_and(|t| t.contains(token)))
        })
        .unwrap_or(false)
}

#[test]
fn postfix_delivers_the_seed_example_with_the_default_originator() {
    let Some(server) = real_server("POSTIE_TEST_POSTFIX") else {
        return;
    };
    let mail = real_path("POSTIE_TEST_POSTFIX_MAIL").unwrap();
    let token = token();
    let sent = common::send(
        &seed(&token),
        &options(&server).recipients("alice@example.org, Bob <bob@example.org>"),
    )
    .unwrap();
    assert_eq!(sent.reply().code(), 250);
    assert!(
        sent.queue_id().is_some(),
        "Postfix names its queue id: {}",
        sent.reply()
    );

    for local in ["alice", "bob"] {
        let text = postfix_delivered(&mail, local, &token)
            .unwrap_or_else(|| panic!("not delivered to {local}"));
        assert!(text.contains(&format!("Subject: This is the subject. {token}")));
        // Dot-stuffing was undone by the server: the line is intact.
        assert!(text.contains("\n.leading dot line"), "{text}");
        let user = postie_smtp::LocalEnv::from_system().user;
        assert!(text.contains(&format!("From: {user}@")), "{text}");
        assert!(text.contains("Message-ID: <"));
        assert!(text.contains("Date: "));
    }
}

#[test]
fn postfix_refusals_follow_the_at_least_one_rules() {
    let Some(server) = real_server("POSTIE_TEST_POSTFIX") else {
        return;
    };
    let mail = real_path("POSTIE_TEST_POSTFIX_MAIL").unwrap();

    // All or nothing: one permanent refusal stops the message.
    let token_a = token();
    let err: Error = common::send(
        &seed(&token_a),
        &options(&server).recipients("carol@example.org, nobody@example.org"),
    )
    .unwrap_err();
    let refused = err.refused();
    assert_eq!(refused.len(), 1, "{err}");
    assert_eq!(refused[0].address(), "nobody@example.org");
    assert_eq!(refused[0].code(), 550);
    assert_eq!(refused[0].enhanced().unwrap().to_string(), "5.1.1");
    assert!(
        refused[0].text().contains("no such user"),
        "{}",
        refused[0].text()
    );

    // At least one: delivered to carol, the refusals returned.
    let token_b = token();
    let sent: Sent = common::send(
        &seed(&token_b),
        &options(&server)
            .recipients("carol@example.org, nobody@example.org, busy@example.org, x@elsewhere.test")
            .at_least_one(true),
    )
    .unwrap();
    let codes: Vec<(String, u16)> = sent
        .refused()
        .iter()
        .map(|r| (r.address().to_owned(), r.code()))
        .collect();
    assert_eq!(codes[0], ("nobody@example.org".to_owned(), 550));
    assert_eq!(codes[1], ("busy@example.org".to_owned(), 450));
    assert_eq!(codes[2].0, "x@elsewhere.test");
    assert!(codes[2].1 >= 500, "relaying is refused: {codes:?}");
    assert!(postfix_delivered(&mail, "carol", &token_b).is_some());
    assert!(
        !postfix_has(&mail, "carol", &token_a),
        "the all-or-nothing send went out"
    );
}

#[test]
fn postfix_header_options_and_bcc() {
    let Some(server) = real_server("POSTIE_TEST_POSTFIX") else {
        return;
    };
    let mail = real_path("POSTIE_TEST_POSTFIX_MAIL").unwrap();
    let token = token();
    let mut msg = seed(&token);
    msg.headers_mut().set("To", "dave@example.org").unwrap();
    msg.headers_mut().set("Bcc", "erin@example.org").unwrap();
    common::send(
        &msg,
        &options(&server).header("From", "Sam Sender <sam@example.org>"),
    )
    .unwrap();
    let to_dave = postfix_delivered(&mail, "dave", &token).expect("To recipient");
    let to_erin = postfix_delivered(&mail, "erin", &token).expect("Bcc recipient");
    for text in [&to_dave, &to_erin] {
        assert!(!text.to_lowercase().contains("\nbcc:"), "{text}");
        assert!(text.contains("From: Sam Sender <sam@example.org>"));
        assert!(text.contains("Return-Path: <sam@example.org>"), "{text}");
    }
}

fn aiosmtpd_messages(dir: &Path, token: &str) -> Option<(String, serde_like::Envelope)> {
    wait_for(Duration::from_secs(10), || {
        let mut entries: Vec<PathBuf> = fs::read_dir(dir)
            .ok()?
            .flatten()
            .map(|e| e.path())
            .collect();
        entries.sort();
        entries
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .find_map(|eml| {
                let text = fs::read_to_string(eml).ok()?;
                if !text.contains(token) {
                    return None;
                }
                let json = fs::read_to_string(eml.with_extension("json")).ok()?;
                Some((text, serde_like::Envelope::parse(&json)))
            })
    })
}

/// Just enough JSON reading for the aiosmtpd handler's envelope files.
mod serde_like {
    #[derive(Debug)]
    pub(crate) struct Envelope {
        pub(crate) raw: String,
    }

    impl Envelope {
        pub(crate) fn parse(json: &str) -> Self {
            Self {
                raw: json.to_owned(),
            }
        }

        pub(crate) fn mentions(&self, address: &str) -> bool {
            self.raw.contains(&format!("\"{address}\""))
        }
    }
}

#[test]
fn aiosmtpd_receives_the_seed_example_byte_for_byte() {
    let Some(server) = real_server("POSTIE_TEST_AIOSMTPD") else {
        return;
    };
    let dir = real_path("POSTIE_TEST_AIOSMTPD_DIR").unwrap();
    let token = token();
    let msg = seed(&token);
    let sent = common::send(
        &msg,
        &options(&server).recipients("alice@example.org, Bob <bob@example.org>"),
    )
    .unwrap();
    assert_eq!(sent.reply().code(), 250);
    let (text, envelope) = aiosmtpd_messages(&dir, &token).expect("stored by aiosmtpd");
    assert!(envelope.mentions("alice@example.org") && envelope.mentions("bob@example.org"));
    assert!(text.contains("\r\n.leading dot line\r\n"), "{text:?}");
    assert!(text.contains("Content-Transfer-Encoding: 7bit\r\n"));
    assert_eq!(text.matches("Content-Transfer-Encoding").count(), 1);
}

#[test]
fn aiosmtpd_refusals_come_back_with_code_and_text() {
    let Some(server) = real_server("POSTIE_TEST_AIOSMTPD") else {
        return;
    };
    let dir = real_path("POSTIE_TEST_AIOSMTPD_DIR").unwrap();
    let token = token();
    let sent = common::send(
        &seed(&token),
        &options(&server)
            .recipients("ok@example.org, reject-me@example.org, defer-me@example.org")
            .at_least_one(true),
    )
    .unwrap();
    let refused: Vec<(String, u16, String)> = sent
        .refused()
        .iter()
        .map(|r| (r.address().to_owned(), r.code(), r.text()))
        .collect();
    assert_eq!(refused.len(), 2, "{refused:?}");
    assert_eq!(
        (refused[0].0.as_str(), refused[0].1),
        ("reject-me@example.org", 550)
    );
    assert_eq!(
        (refused[1].0.as_str(), refused[1].1),
        ("defer-me@example.org", 450)
    );
    let (_, envelope) = aiosmtpd_messages(&dir, &token).expect("stored");
    assert!(envelope.mentions("ok@example.org"));
    assert!(!envelope.mentions("reject-me@example.org"));
}

#[test]
fn postfix_delivers_a_built_message_with_attachments_intact() {
    use aws_lc_rs::digest::{digest, SHA256};
    let Some(server) = real_server("POSTIE_TEST_POSTFIX") else {
        return;
    };
    let mail = real_path("POSTIE_TEST_POSTFIX_MAIL").unwrap();
    let token = token();
    let pdf: Vec<u8> = (0..200_000u32).map(|i| (i * 13 + i / 7) as u8).collect();
    let png: Vec<u8> = (0..5_000u32).map(|i| (i * 31) as u8).collect();
    let msg = postie_mime::builder::MessageBuilder::new()
        .from("Ann Sender <ann@example.org>")
        .to("gina@example.org")
        .subject(format!("Grüße {token}"))
        .text("plain body")
        .html("<p>html <img src=\"cid:logo\"></p>")
        .inline_bytes("logo", "logo.png", png.clone(), None)
        .attach_bytes("Bericht – final.pdf", pdf.clone(), None)
        .build()
        .unwrap();
    common::send(&msg, &options(&server)).unwrap();
    // Only the non-ASCII word of the Subject is encoded: the token stays
    // readable in the delivered file.
    let text = postfix_delivered(&mail, "gina", &token).expect("delivered to gina");
    let script = r#"
import sys, hashlib
from email import message_from_bytes, policy
msg = message_from_bytes(sys.stdin.buffer.read(), policy=policy.default)
print("subject", msg["subject"])
for part in msg.walk():
    if not part.is_multipart():
        print(part.get_content_type(), part.get_filename(), hashlib.sha256(part.get_payload(decode=True)).hexdigest())
"#;
    let mut child = std::process::Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap();
    let hex = |d: &[u8]| {
        digest(&SHA256, d)
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    assert!(out.contains(&format!("subject Grüße {token}")), "{out}");
    assert!(
        out.contains(&format!("image/png logo.png {}", hex(&png))),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "application/pdf Bericht – final.pdf {}",
            hex(&pdf)
        )),
        "{out}"
    );
}

#[test]
fn postfix_delivered_messages_read_the_same_as_sent() {
    use postie_mime::reader::{self, PartExt};
    let Some(server) = real_server("POSTIE_TEST_POSTFIX") else {
        return;
    };
    let mail = real_path("POSTIE_TEST_POSTFIX_MAIL").unwrap();
    let token = token();
    let msg = postie_mime::builder::MessageBuilder::new()
        .from("Ann Sender <ann@example.org>")
        .to("hank@example.org")
        .subject(format!("Délivré {token}"))
        .text("Première ligne\n.ligne avec un point\n")
        .html("<p>Première</p>")
        .attach_bytes(
            "données.bin",
            (0..50_000u32).map(|i| (i % 251) as u8).collect::<Vec<u8>>(),
            None,
        )
        .attach_bytes("notes.txt", b"unix\nline endings\n".to_vec(), None)
        .build()
        .unwrap();
    let options = options(&server);
    let env = postie_smtp::LocalEnv::from_system();
    let prepared = postie_smtp::envelope::prepare(&msg, &options, &env).unwrap();
    let mut sent_bytes = Vec::new();
    prepared.write_message(&msg, &mut sent_bytes).unwrap();
    common::send_prepared(&msg, &prepared, &options).unwrap();
    let delivered = postfix_delivered(&mail, "hank", &token).expect("delivered to hank");

    let sent = reader::parse(&sent_bytes);
    let got = reader::parse(delivered.as_bytes());
    assert!(got.defects.is_empty(), "{:?}", got.defects);
    // The fields Postfix adds are set aside; everything else is equal.
    let added = ["Received", "Return-Path", "Delivered-To", "X-Original-To"];
    let fields = |m: &postie_mime::Message| -> Vec<(String, String)> {
        m.headers()
            .iter()
            .filter(|h| !added.iter().any(|a| h.name().is(a)))
            .map(|h| {
                (
                    h.name().to_string(),
                    m.header_text(h.name().as_str()).unwrap_or_default(),
                )
            })
            .collect()
    };
    assert_eq!(fields(&got.message), fields(&sent.message));
    let leaves = |m: &postie_mime::Message| -> Vec<(String, Option<String>, Vec<u8>)> {
        m.walk()
            .into_iter()
            .filter(|(_, p)| p.parts().is_empty())
            .map(|(_, p)| {
                (
                    p.content_type().essence().to_owned(),
                    p.filename(),
                    p.decoded_body(),
                )
            })
            .collect()
    };
    let (sent_leaves, got_leaves) = (leaves(&sent.message), leaves(&got.message));
    assert_eq!(sent_leaves.len(), 4);
    for (s, g) in sent_leaves.iter().zip(&got_leaves) {
        assert_eq!((&s.0, &s.1), (&g.0, &g.1));
        // Maildir files have LF line endings: compare content modulo CRLF.
        let norm = |b: &[u8]| {
            String::from_utf8_lossy(b)
                .replace("\r\n", "\n")
                .into_bytes()
        };
        assert_eq!(norm(&s.2), norm(&g.2), "{:?}", s.1);
    }
    assert_eq!(
        got_leaves[2].2, sent_leaves[2].2,
        "binary attachment byte for byte"
    );
}

/// A raw message with an 8-bit body and a raw UTF-8 field: declared
/// `BODY=8BITMIME` to the Postfix that offers it and delivered as it is;
/// to the Postfix that does not (port "BARE"), re-encoded to 7 bits. Both
/// read back the same.
#[test]
fn eight_bit_messages_go_as_they_are_or_re_encoded_through_postfix() {
    use postie_mime::reader::{self, PartExt};
    let Some(offering) = real_server("POSTIE_TEST_POSTFIX") else {
        return;
    };
    let bare = real_server("POSTIE_TEST_POSTFIX_BARE").expect("the bare Postfix with the other");
    let mail = real_path("POSTIE_TEST_POSTFIX_MAIL").unwrap();
    for (server, local, as_is) in [(offering, "irene", true), (bare, "jules", false)] {
        let token = token();
        let raw = format!(
            "From: ann@example.org\r\nTo: {local}@example.org\r\n\
             Subject: Gr\u{fc}\u{df}e {token}\r\n\
             MIME-Version: 1.0\r\n\
             Content-Type: text/plain; charset=utf-8\r\n\
             Content-Transfer-Encoding: 8bit\r\n\r\n\
             D\u{e9}j\u{e0} vu, {token}\r\n"
        );
        let msg = Message::parse(raw.as_bytes()).unwrap();
        let trace = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = std::sync::Arc::clone(&trace);
        let options = options(&server).on_trace(move |t| sink.lock().unwrap().push(t.to_string()));
        common::send(&msg, &options).unwrap();
        let mail_line = trace
            .lock()
            .unwrap()
            .iter()
            .find(|l| l.contains("MAIL FROM"))
            .cloned()
            .unwrap();
        assert_eq!(mail_line.contains("BODY=8BITMIME"), as_is, "{mail_line}");
        let delivered = postfix_delivered(&mail, local, &token).expect("delivered");
        let body_start = delivered.find("\n\n").unwrap();
        assert_eq!(delivered[body_start..].is_ascii(), !as_is, "{delivered}");
        let got = reader::parse(delivered.as_bytes()).message;
        assert_eq!(
            got.header_text("Subject").unwrap(),
            format!("Grüße {token}")
        );
        assert_eq!(
            got.text().unwrap().replace("\r\n", "\n"),
            format!("Déjà vu, {token}\n")
        );
    }
}

/// DSN both ways: the Postfix that offers it takes NOTIFY=SUCCESS, RET,
/// ENVID and ORCPT and sends the success report (quoting the ENVID) to the
/// sender's Maildir; the one that does not gets the message without them.
#[test]
fn dsn_is_asked_for_where_postfix_offers_it() {
    use postie_smtp::dsn::{Notify, Ret};
    let Some(offering) = real_server("POSTIE_TEST_POSTFIX") else {
        return;
    };
    let bare = real_server("POSTIE_TEST_POSTFIX_BARE").expect("the bare Postfix with the other");
    let mail = real_path("POSTIE_TEST_POSTFIX_MAIL").unwrap();
    for (server, offered) in [(offering, true), (bare, false)] {
        let token = token();
        let trace = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = std::sync::Arc::clone(&trace);
        let options = options(&server)
            .originator("olga@example.org")
            .recipients("nina@example.org")
            .dsn_notify(Notify::parse("success,failure").unwrap())
            .dsn_ret(Ret::Headers)
            .envid(&format!("env+{token}"))
            .on_trace(move |t| sink.lock().unwrap().push(t.to_string()));
        let sent = common::send(&seed(&token), &options).unwrap();
        assert_eq!(sent.dsn(), offered);
        let lines = trace.lock().unwrap().clone();
        let mail_line = lines.iter().find(|l| l.contains("MAIL FROM")).unwrap();
        let rcpt_line = lines.iter().find(|l| l.contains("RCPT TO")).unwrap();
        if offered {
            assert!(
                mail_line.ends_with(&format!(" RET=HDRS ENVID=env+2B{token}")),
                "{mail_line}"
            );
            assert!(
                rcpt_line.ends_with(" NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;nina@example.org"),
                "{rcpt_line}"
            );
        } else {
            assert!(!mail_line.contains("RET=") && !rcpt_line.contains("NOTIFY="));
            assert!(lines.iter().any(|l| l.contains("does not offer DSN")));
        }
        assert!(postfix_delivered(&mail, "nina", &token).is_some());
        if offered {
            // Postfix reports the successful delivery to the sender.
            let report = postfix_delivered(&mail, "olga", &format!("env+{token}"))
                .expect("a success DSN for the sender");
            assert!(report.contains("multipart/report"), "{report}");
            assert!(report.contains("Action: delivered"), "{report}");
            assert!(
                report.contains("Original-Recipient: rfc822;nina@example.org"),
                "{report}"
            );
        }
    }
}

/// CHUNKING both ways: BDAT to the Postfix that offers it, DATA to the one
/// that does not; the leading-dot line arrives intact either way.
#[test]
fn bdat_where_postfix_offers_chunking_and_data_where_not() {
    let Some(offering) = real_server("POSTIE_TEST_POSTFIX") else {
        return;
    };
    let bare = real_server("POSTIE_TEST_POSTFIX_BARE").expect("the bare Postfix with the other");
    let mail = real_path("POSTIE_TEST_POSTFIX_MAIL").unwrap();
    for (server, chunking) in [(offering, true), (bare, false)] {
        let token = token();
        let trace = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = std::sync::Arc::clone(&trace);
        let options = options(&server)
            .recipients("oscar@example.org")
            .on_trace(move |t| sink.lock().unwrap().push(t.to_string()));
        common::send(&seed(&token), &options).unwrap();
        let lines = trace.lock().unwrap().clone();
        assert_eq!(
            lines
                .iter()
                .any(|l| l.starts_with("C: BDAT ") && l.ends_with(" LAST")),
            chunking,
            "{lines:?}"
        );
        assert_eq!(lines.iter().any(|l| l == "C: DATA"), !chunking, "{lines:?}");
        let delivered = postfix_delivered(&mail, "oscar", &token).expect("delivered");
        assert!(delivered.contains("\n.leading dot line\n"), "{delivered}");
    }
}
