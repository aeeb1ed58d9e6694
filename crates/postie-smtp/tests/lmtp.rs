//! LMTP (RFC 2033) against the test LMTP server (aiosmtpd's LMTP with one
//! reply per recipient after the data), over TCP and over its Unix socket,
//! on the driver under test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::time::Duration;

use postie_mime::Message;
use postie_smtp::{Error, SendOptions};
use postie_testkit::{real_path, real_server, wait_for};

fn token() -> String {
    postie_mime::new_message_id("x")
        .unwrap()
        .trim_start_matches('<')
        .split('@')
        .next()
        .unwrap()
        .replace(['-', '_'], "x")
}

fn message(token: &str) -> Message {
    let mut msg = Message::text(format!("lmtp {token}\n.leading dot\n"));
    msg.headers_mut()
        .set("Subject", &format!("lmtp {token}"))
        .unwrap();
    msg
}

fn stored(dir: &Path, local: &str, token: &str) -> bool {
    let dir = dir.join(local);
    wait_for(Duration::from_secs(10), || {
        std::fs::read_dir(&dir)
            .ok()?
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
            .any(|e| std::fs::read_to_string(e.path()).is_ok_and(|t| t.contains(token)))
            .then_some(())
    })
    .is_some()
}

/// Both ways in: TCP, and the Unix socket (a server given as a path).
fn servers() -> Option<Vec<SendOptions>> {
    let tcp = real_server("POSTIE_TEST_LMTP")?;
    let socket = real_path("POSTIE_TEST_LMTP_SOCKET")?;
    Some(vec![
        SendOptions::new()
            .servers([tcp.host.clone()])
            .ports([tcp.port]),
        SendOptions::new().servers([socket.display().to_string()]),
    ])
}

#[test]
fn each_recipient_gets_its_own_reply_after_the_data() {
    let Some(servers) = servers() else {
        return;
    };
    let dir = real_path("POSTIE_TEST_LMTP_DIR").unwrap();
    for options in servers {
        let token = token();
        let options = options
            .lmtp(true)
            .timeout(Duration::from_secs(10))
            .at_least_one(true)
            .recipients(
                "ann@example.org, lmtpfail-bob@example.org, lmtpdefer-cy@example.org, \
                 reject-dee@example.org",
            );
        let sent = common::send(&message(&token), &options).unwrap();
        assert_eq!(sent.accepted(), ["ann@example.org"]);
        let refused: Vec<(&str, u16)> = sent
            .refused()
            .iter()
            .map(|r| (r.address(), r.code()))
            .collect();
        assert_eq!(
            refused,
            [
                ("reject-dee@example.org", 550),
                ("lmtpfail-bob@example.org", 550),
                ("lmtpdefer-cy@example.org", 452),
            ],
            "{}",
            sent.server()
        );
        assert_eq!(sent.refused()[2].enhanced().unwrap().to_string(), "4.2.2");
        assert!(stored(&dir, "ann", &token), "{}", sent.server());
        assert!(!dir.join("lmtpfail-bob").exists());
    }
}

#[test]
fn no_recipient_delivered_is_a_refusal_with_every_reply() {
    let Some(servers) = servers() else {
        return;
    };
    for options in servers {
        let options = options
            .lmtp(true)
            .timeout(Duration::from_secs(10))
            .recipients("lmtpfail-a@example.org, lmtpdefer-b@example.org");
        let err = common::send(&message(&token()), &options).unwrap_err();
        let Error::Refused { refused, .. } = &err else {
            panic!("{err}")
        };
        let codes: Vec<u16> = refused.iter().map(|r| r.code()).collect();
        assert_eq!(codes, [550, 452]);
    }
}

#[test]
fn lmtp_sessions_keep_the_connection() {
    let Some(servers) = servers() else {
        return;
    };
    let dir = real_path("POSTIE_TEST_LMTP_DIR").unwrap();
    for options in servers {
        let token = token();
        let mut session = common::Session::new(
            options
                .lmtp(true)
                .timeout(Duration::from_secs(10))
                .recipients("eve@example.org"),
            postie_smtp::LocalEnv::from_system(),
        );
        for n in 0..3 {
            session.send(&message(&format!("{token}n{n}"))).unwrap();
            assert!(session.is_connected());
        }
        session.close();
        for n in 0..3 {
            assert!(stored(&dir, "eve", &format!("{token}n{n}")));
        }
    }
}
