//! AUTH against the scripted server: mechanism choice, the replies that
//! move to the next mechanism and the ones that end the send, mutual
//! authentication, redaction, and the seed's -queue.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::DateTime;
use postie_mime::Message;
use postie_smtp::{AuthProblem, Cause, Credentials, Error, LocalEnv, Secret, SendOptions, Stage};
use postie_testkit::{Script, ScriptedServer};

const PASSWORD: &str = "s3cret-pass";

fn b64(bytes: &[u8]) -> String {
    encodify::base64::STANDARD.encode(bytes)
}

fn env() -> LocalEnv {
    LocalEnv {
        hostname: "client.test".to_owned(),
        user: "joe".to_owned(),
        now: DateTime::parse_from_rfc3339("2026-11-28T18:41:39+00:00").unwrap(),
    }
}

fn options(port: u16) -> SendOptions {
    SendOptions::new()
        .servers(["127.0.0.1"])
        .ports([port])
        .recipients("a@example.org")
        .timeout(Duration::from_secs(5))
        .credentials(Credentials {
            username: "alice".to_owned(),
            secret: Secret::new(PASSWORD),
            authzid: None,
        })
}

fn send(options: &SendOptions) -> Result<postie_smtp::Sent, Error> {
    let mut msg = Message::text("body");
    msg.headers_mut().set("Subject", "auth").unwrap();
    common::send_with_env(&msg, options, &env())
}

fn transaction(script: Script) -> Script {
    script
        .reply("250 2.1.0 Ok\r\n")
        .reply("250 2.1.5 Ok\r\n")
        .reply("354 go\r\n")
        .read_data()
        .send("250 2.0.0 Ok: queued as A1\r\n")
        .reply("221 bye\r\n")
}

#[test]
fn plain_on_loopback_with_the_initial_response() {
    let server = ScriptedServer::start(vec![transaction(
        Script::new()
            .greet(&["AUTH PLAIN"])
            .reply("235 2.7.0 Authentication successful\r\n"),
    )]);
    let sent = send(&options(server.port())).unwrap();
    assert_eq!(sent.auth(), Some("PLAIN"));
    let commands = &server.finish()[0].commands;
    let expected = format!(
        "AUTH PLAIN {}",
        b64(format!("\0alice\0{PASSWORD}").as_bytes())
    );
    assert_eq!(commands[1], expected);
    assert!(commands[2].starts_with("MAIL FROM:"));
}

#[test]
fn the_strongest_offered_mechanism_goes_first() {
    // CRAM-MD5 before LOGIN and PLAIN (the seed's order).
    let challenge = b"<1896.697170952@postoffice.reston.mci.net>";
    let server = ScriptedServer::start(vec![transaction(
        Script::new()
            .greet(&["AUTH PLAIN LOGIN CRAM-MD5"])
            .reply(format!("334 {}\r\n", b64(challenge)))
            .reply("235 2.7.0 ok\r\n"),
    )]);
    let sent = send(&options(server.port())).unwrap();
    assert_eq!(sent.auth(), Some("CRAM-MD5"));
    let commands = &server.finish()[0].commands;
    assert_eq!(commands[1], "AUTH CRAM-MD5");
    let answer = encodify::base64::STANDARD.decode(&commands[2]).unwrap();
    let answer = String::from_utf8(answer).unwrap();
    assert!(answer.starts_with("alice "), "{answer}");
    assert_eq!(answer.len(), "alice ".len() + 32, "lower-case hex HMAC-MD5");
}

#[test]
fn a_mechanism_the_server_cannot_use_moves_to_the_next() {
    let server = ScriptedServer::start(vec![transaction(
        Script::new()
            .greet(&["AUTH CRAM-MD5 PLAIN"])
            .reply("504 5.5.4 Unrecognized authentication type\r\n")
            .reply("235 2.7.0 ok\r\n"),
    )]);
    let sent = send(&options(server.port())).unwrap();
    assert_eq!(sent.auth(), Some("PLAIN"));
    let commands = &server.finish()[0].commands;
    assert_eq!(commands[1], "AUTH CRAM-MD5");
    assert!(commands[2].starts_with("AUTH PLAIN "));
}

#[test]
fn refused_credentials_end_the_send_and_never_send_unauthenticated() {
    let server = ScriptedServer::start(vec![Script::new()
        .greet(&["AUTH PLAIN LOGIN"])
        .reply("535 5.7.8 Error: authentication failed: bad password\r\n")
        .reply("221 bye\r\n")]);
    let err = send(&options(server.port())).unwrap_err();
    assert_eq!(err.stage(), Some(Stage::Auth));
    assert_eq!(err.code(), Some(535));
    assert!(!err.is_temporary());
    let session = &server.finish()[0];
    assert!(!session.text().contains("MAIL FROM"), "{}", session.text());
    let tries = session
        .commands
        .iter()
        .filter(|c| c.starts_with("AUTH "))
        .count();
    assert_eq!(
        tries, 1,
        "no second mechanism after a 535: {:?}",
        session.commands
    );
}

#[test]
fn credentials_without_auth_offered_are_an_error_with_a_hint() {
    let server = ScriptedServer::start(vec![Script::new()
        .greet(&["STARTTLS", "SIZE 1000"])
        .reply("221 bye\r\n")]);
    let opts = options(server.port()).tls_mode(postie_smtp::TlsMode::None);
    let err = send(&opts).unwrap_err();
    let Cause::Auth(AuthProblem::NotOffered(hint)) = err.server_error().unwrap().cause() else {
        panic!("{err}")
    };
    assert!(hint.contains("STARTTLS"), "{hint}");
    assert!(!server.finish()[0].text().contains("MAIL FROM"));
}

#[test]
fn a_chosen_mechanism_list_is_obeyed() {
    let server = ScriptedServer::start(vec![transaction(
        Script::new()
            .greet(&["AUTH PLAIN LOGIN"])
            .reply("334 VXNlcm5hbWU6\r\n")
            .reply("334 UGFzc3dvcmQ6\r\n")
            .reply("235 2.7.0 ok\r\n"),
    )]);
    let sent = send(&options(server.port()).auth_mechanisms(["login"])).unwrap();
    assert_eq!(sent.auth(), Some("LOGIN"));
    let commands = &server.finish()[0].commands;
    assert_eq!(commands[1], "AUTH LOGIN");
    assert_eq!(commands[2], b64(b"alice"));
    assert_eq!(commands[3], b64(PASSWORD.as_bytes()));
}

#[test]
fn digest_md5_with_a_wrong_rspauth_fails() {
    let challenge = br#"realm="scripted.test",nonce="OA6MG9tEQGm2hh",qop="auth",charset=utf-8,algorithm=md5-sess"#;
    let server = ScriptedServer::start(vec![Script::new()
        .greet(&["AUTH DIGEST-MD5"])
        .reply(format!("334 {}\r\n", b64(challenge)))
        .reply(format!(
            "334 {}\r\n",
            b64(b"rspauth=00000000000000000000000000000000")
        ))
        .reply("501 5.7.0 cancelled\r\n")
        .reply("221 bye\r\n")]);
    let err = send(&options(server.port())).unwrap_err();
    assert_eq!(err.stage(), Some(Stage::Auth));
    let session = &server.finish()[0];
    assert_eq!(session.commands[3], "*", "the exchange is cancelled");
    let response = encodify::base64::STANDARD
        .decode(&session.commands[2])
        .unwrap();
    let response = String::from_utf8(response).unwrap();
    assert!(
        response.contains("digest-uri=\"smtp/scripted.test\""),
        "{response}"
    );
    assert!(!session.text().contains("MAIL FROM"));
}

#[test]
fn the_transcript_never_shows_a_secret() {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&lines);
    let server = ScriptedServer::start(vec![transaction(
        Script::new()
            .greet(&["AUTH LOGIN PLAIN"])
            .reply("334 VXNlcm5hbWU6\r\n")
            .reply("334 UGFzc3dvcmQ6\r\n")
            .reply("235 2.7.0 ok\r\n"),
    )]);
    let opts = options(server.port())
        .auth_mechanisms(["LOGIN"])
        .on_trace(move |line| sink.lock().unwrap().push(line.to_string()));
    send(&opts).unwrap();
    server.finish();
    let lines = lines.lock().unwrap();
    let all = lines.join("\n");
    assert!(all.contains("C: AUTH LOGIN"), "{all}");
    assert!(all.contains("C: [redacted]"), "{all}");
    assert!(all.contains("S: 235 2.7.0 ok"), "{all}");
    for secret in [PASSWORD.to_owned(), b64(PASSWORD.as_bytes()), b64(b"alice")] {
        assert!(!all.contains(&secret), "{secret} leaked:\n{all}");
    }
}

#[test]
fn queue_sends_qued_where_xque_is_offered_and_ignores_the_reply() {
    let server = ScriptedServer::start(vec![transaction(
        Script::new()
            .greet(&["XQUE"])
            .reply("500 5.5.1 whatever\r\n"),
    )]);
    let opts = SendOptions::new()
        .servers(["127.0.0.1"])
        .ports([server.port()])
        .recipients("a@example.org")
        .queue(true);
    send(&opts).unwrap();
    let commands = &server.finish()[0].commands;
    assert_eq!(commands[1], "QUED");
    assert!(commands[2].starts_with("MAIL FROM"));
}

#[test]
fn queue_is_not_sent_without_xque() {
    let server = ScriptedServer::start(vec![transaction(Script::new().greet(&["SIZE 1000"]))]);
    let opts = SendOptions::new()
        .servers(["127.0.0.1"])
        .ports([server.port()])
        .recipients("a@example.org")
        .queue(true);
    send(&opts).unwrap();
    assert!(!server.finish()[0].commands.contains(&"QUED".to_owned()));
}
