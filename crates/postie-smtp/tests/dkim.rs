//! DKIM signing on the driver under test, checked by two independent
//! verifiers (dkimpy and OpenDKIM, `scripts/servers/dkim.sh`): messages
//! signed with RSA and Ed25519 at once are sent through a server with
//! 8BITMIME and DATA (aiosmtpd), one with CHUNKING (Postfix: BDAT) and one
//! without 8BITMIME (Postfix's bare port: the 8-bit body is rewritten to
//! 7-bit before it is signed), read back as stored and verified in one
//! batch; copies changed after signing (a header added, a body byte
//! changed, a second From) fail in both verifiers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use postie_mime::Message;
use postie_smtp::dkim::{Canonicalization, Signer, SigningKey};
use postie_smtp::{LocalEnv, SendOptions};
use postie_testkit::{dkim, real_path, real_server, wait_for, RealServer};

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"))
}

fn token() -> String {
    postie_mime::new_message_id("x")
        .unwrap()
        .replace(['<', '>', '@', '-', '_', '.'], "")
}

/// The two test keys (from the DKIM test set-up) as signers.
fn signers(canon: (Canonicalization, Canonicalization)) -> Vec<Signer> {
    let domain = var("POSTIE_TEST_DKIM_DOMAIN");
    ["RSA", "ED25519"]
        .iter()
        .map(|kind| {
            let pem = std::fs::read(var(&format!("POSTIE_TEST_DKIM_{kind}_KEY"))).unwrap();
            let key = SigningKey::from_bytes(&pem).unwrap();
            Signer::new(
                key,
                domain.clone(),
                var(&format!("POSTIE_TEST_DKIM_{kind}_SELECTOR")),
            )
            .unwrap()
            .canonicalization(canon.0, canon.1)
        })
        .collect()
}

/// A message with an 8-bit body and header, so a server without 8BITMIME
/// calls for the 7-bit rewrite.
fn message(to: &str, token: &str) -> Message {
    let mut msg = Message::text(format!(
        "Grüße aus Köln.\n\nA line with  two spaces and a tab\there.\n.a line starting with a dot\n{token}\n"
    ));
    let headers = msg.headers_mut();
    headers.set("From", "Ann <ann@example.org>").unwrap();
    headers.set("To", to).unwrap();
    headers
        .set("Subject", &format!("signed {token} — Grüße"))
        .unwrap();
    msg
}

fn options(server: &RealServer, signers: Vec<Signer>) -> SendOptions {
    let mut options = SendOptions::new()
        .servers([server.host.clone()])
        .ports([server.port])
        .timeout(Duration::from_secs(20));
    for signer in signers {
        options = options.dkim(signer);
    }
    options
}

/// The file holding `token` in `dir` (recursively), once it is there and
/// whole: a Maildir's `tmp/` and aiosmtpd's `.tmp-*.part` files are being
/// written, and only renamed into place when complete.
fn stored(dir: &Path, token: &str) -> PathBuf {
    fn find(dir: &Path, token: &str) -> Option<PathBuf> {
        for entry in std::fs::read_dir(dir).ok()?.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name == "tmp" || name.starts_with('.') {
                continue;
            }
            if path.is_dir() {
                if let Some(found) = find(&path, token) {
                    return Some(found);
                }
            } else if std::fs::read(&path)
                .is_ok_and(|b| memchr::memmem::find(&b, token.as_bytes()).is_some())
            {
                return Some(path);
            }
        }
        None
    }
    wait_for(Duration::from_secs(20), || find(dir, token))
        .unwrap_or_else(|| panic!("no message {token} in {}", dir.display()))
}

#[test]
fn signed_messages_verify_in_dkimpy_and_opendkim_through_every_kind_of_server() {
    let Some(aiosmtpd) = real_server("POSTIE_TEST_AIOSMTPD") else {
        return;
    };
    if !dkim::available() {
        return;
    }
    let postfix = real_server("POSTIE_TEST_POSTFIX").unwrap();
    let bare = real_server("POSTIE_TEST_POSTFIX_BARE").unwrap();
    let aiosmtpd_dir = real_path("POSTIE_TEST_AIOSMTPD_DIR").unwrap();
    let postfix_mail = real_path("POSTIE_TEST_POSTFIX_MAIL").unwrap();
    use Canonicalization::{Relaxed, Simple};
    let mut sent = Vec::new();
    for canon in [(Relaxed, Relaxed), (Simple, Simple), (Relaxed, Simple)] {
        for (server, dir, local) in [
            (&aiosmtpd, aiosmtpd_dir.clone(), "dkim-data"),
            (&postfix, postfix_mail.join("example.org"), "dkim-bdat"),
            (&bare, postfix_mail.join("example.org"), "dkim-7bit"),
        ] {
            let token = token();
            let msg = message(&format!("{local}@example.org"), &token);
            common::send_with_env(
                &msg,
                &options(server, signers(canon)),
                &LocalEnv::from_system(),
            )
            .unwrap_or_else(|e| panic!("{local} {canon:?}: {e}"));
            sent.push((format!("{local} {canon:?}"), stored(&dir, &token)));
        }
    }
    // The changed copies of the first stored message.
    let original = std::fs::read(&sent[0].1).unwrap();
    let scratch = std::env::temp_dir().join(format!("postie-dkim-changed-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    let changed = |name: &str, bytes: Vec<u8>| {
        let path = scratch.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    };
    let text = String::from_utf8_lossy(&original).into_owned();
    let tampered = [
        changed(
            "subject",
            text.replacen("Subject: signed", "Subject: Signed", 1)
                .into_bytes(),
        ),
        changed(
            "body",
            text.replacen("A line with", "A line wiht", 1).into_bytes(),
        ),
        changed(
            "from",
            // In the stored file's own line ends.
            text.replacen(
                "From: Ann",
                if text.contains("\r\n") {
                    "From: mallory@example.com\r\nFrom: Ann"
                } else {
                    "From: mallory@example.com\nFrom: Ann"
                },
                1,
            )
            .into_bytes(),
        ),
    ];
    let mut paths: Vec<PathBuf> = sent.iter().map(|(_, p)| p.clone()).collect();
    paths.extend(tampered.iter().cloned());
    let results = dkim::verify(&paths);
    for ((what, path), result) in sent.iter().zip(&results) {
        assert!(
            dkim::both_pass(result),
            "{what} ({}): {result:#}",
            path.display()
        );
        // Two signatures, each verified.
        assert_eq!(
            result["dkimpy"]["signatures"].as_array().unwrap().len(),
            2,
            "{result:#}"
        );
    }
    for (path, result) in tampered.iter().zip(&results[sent.len()..]) {
        assert!(dkim::both_fail(result), "{}: {result:#}", path.display());
    }
    // The bare port had no 8BITMIME: what arrived there is 7-bit.
    let seven = std::fs::read(&sent[2].1).unwrap();
    assert!(seven.is_ascii(), "the bare server got 8-bit data");
    let _ = std::fs::remove_dir_all(scratch);
}
