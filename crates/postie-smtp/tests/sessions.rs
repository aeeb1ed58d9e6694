//! Sessions (many messages on one connection) and pools, on the driver
//! under test: the exact dialogue against the scripted server, a server
//! that closes idle connections (before or as MAIL arrives), and real
//! Postfix.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::DateTime;
use postie_mime::Message;
use postie_smtp::{Error, LocalEnv, SendOptions};
use postie_testkit::{real_path, real_server, wait_for, Script, ScriptedServer};

fn env() -> LocalEnv {
    LocalEnv {
        hostname: "client.test".to_owned(),
        user: "joe".to_owned(),
        now: DateTime::parse_from_rfc3339("2026-11-28T18:41:39+00:00").unwrap(),
    }
}

fn message(to: &str, n: usize) -> Message {
    let mut msg = Message::text(format!("message {n}\n"));
    msg.headers_mut().set("To", to).unwrap();
    msg.headers_mut()
        .set("Subject", &format!("session {n}"))
        .unwrap();
    msg
}

fn scripted_options(port: u16) -> SendOptions {
    SendOptions::new()
        .servers(["127.0.0.1"])
        .ports([port])
        .timeout(Duration::from_secs(5))
}

/// One transaction, answered in full (MAIL, one RCPT, DATA, the data).
fn transaction(script: Script, id: &str) -> Script {
    script
        .reply("250 2.1.0 Ok\r\n")
        .reply("250 2.1.5 Ok\r\n")
        .reply("354 go ahead\r\n")
        .read_data()
        .send(format!("250 2.0.0 Ok: queued as {id}\r\n"))
}

/// Counts the connections a send opened, from its transcript.
fn connection_counter() -> (SendOptions, Arc<Mutex<usize>>) {
    let count = Arc::new(Mutex::new(0usize));
    let seen = Arc::clone(&count);
    let options = SendOptions::new().on_trace(move |t| {
        if t.to_string().starts_with("* connecting to") {
            *seen.lock().unwrap() += 1;
        }
    });
    (options, count)
}

#[test]
fn a_session_sends_many_messages_on_one_connection() {
    let mut script = Script::new().greet(&["PIPELINING", "8BITMIME"]);
    for id in ["Q1", "Q2", "Q3"] {
        script = transaction(script, id);
    }
    let server = ScriptedServer::start(vec![script.reply("221 2.0.0 Bye\r\n")]);
    let mut session = common::Session::new(scripted_options(server.port()), env());
    for n in 1..=3 {
        let sent = session.send(&message("alice@example.org", n)).unwrap();
        assert_eq!(sent.queue_id().as_deref(), Some(format!("Q{n}").as_str()));
        assert!(session.is_connected());
    }
    session.close();
    let sessions = server.finish();
    assert_eq!(sessions.len(), 1, "one connection for three messages");
    let commands = &sessions[0].commands;
    let expected: Vec<String> = std::iter::once("EHLO client.test".to_owned())
        .chain((0..3).flat_map(|_| {
            [
                "MAIL FROM:<joe@client.test>".to_owned(),
                "RCPT TO:<alice@example.org>".to_owned(),
                "DATA".to_owned(),
            ]
        }))
        .chain(std::iter::once("QUIT".to_owned()))
        .collect();
    assert_eq!(commands, &expected);
    assert_eq!(sessions[0].data.len(), 3);
    assert!(String::from_utf8_lossy(&sessions[0].data[2]).contains("message 3"));
}

/// Each message with its own envelope: the session and the pool send it
/// as given (not as the header fields or the options say), and the next
/// message without one goes as the options say again.
#[test]
fn each_message_can_bring_its_own_envelope() {
    let script = || {
        let mut script = Script::new().greet(&["PIPELINING"]);
        script = transaction(script, "Q1");
        script = script
            .reply("250 2.1.0 Ok\r\n")
            .reply("250 2.1.5 Ok\r\n")
            .reply("250 2.1.5 Ok\r\n")
            .reply("354 go ahead\r\n")
            .read_data()
            .send("250 2.0.0 Ok: queued as Q2\r\n");
        transaction(script, "Q3").reply("221 2.0.0 Bye\r\n")
    };
    let expected = [
        "EHLO client.test",
        "MAIL FROM:<bounces@example.org>",
        "RCPT TO:<carol@example.net>",
        "DATA",
        "MAIL FROM:<>",
        "RCPT TO:<dave@example.net>",
        "RCPT TO:<erin@example.net>",
        "DATA",
        "MAIL FROM:<joe@client.test>",
        "RCPT TO:<alice@example.org>",
        "DATA",
        "QUIT",
    ];
    let first = postie_smtp::Envelope::new("bounces@example.org", ["carol@example.net"]);
    let second = postie_smtp::Envelope::new("", ["dave@example.net", "erin@example.net"]);
    for pooled in [false, true] {
        let server = ScriptedServer::start(vec![script()]);
        let options = scripted_options(server.port());
        if pooled {
            let pool = common::Pool::new(options, env(), 1);
            pool.send_to(&message("alice@example.org", 1), &first)
                .unwrap();
            pool.send_to(&message("alice@example.org", 2), &second)
                .unwrap();
            pool.send(&message("alice@example.org", 3)).unwrap();
            pool.close_idle();
        } else {
            let mut session = common::Session::new(options, env());
            session
                .send_to(&message("alice@example.org", 1), &first)
                .unwrap();
            session
                .send_to(&message("alice@example.org", 2), &second)
                .unwrap();
            session.send(&message("alice@example.org", 3)).unwrap();
            session.close();
        }
        let sessions = server.finish();
        assert_eq!(sessions.len(), 1, "pooled: {pooled}");
        assert_eq!(sessions[0].commands, expected, "pooled: {pooled}");
        // The header fields are the message's: To still names alice.
        let data = String::from_utf8_lossy(&sessions[0].data[1]).into_owned();
        assert!(data.contains("To: alice@example.org"), "{data}");
    }
}

/// An envelope of its own without a recipient is refused before anything
/// is sent (it does not fall back to the header's To).
#[test]
fn an_envelope_without_recipients_is_refused() {
    let mut session = common::Session::new(scripted_options(postie_testkit::closed_port()), env());
    let empty = postie_smtp::Envelope::new("a@example.org", Vec::<String>::new());
    let error = session
        .send_to(&message("alice@example.org", 1), &empty)
        .unwrap_err();
    assert!(
        matches!(
            error,
            Error::Invalid(postie_smtp::InvalidInput::NoRecipients)
        ),
        "{error:?}"
    );
}

/// A message without a Date gets the time it is sent, however old the
/// session is (it once got the time the session was made).
#[test]
fn each_message_of_a_session_is_dated_when_it_is_sent() {
    let script = transaction(
        transaction(Script::new().greet(&["PIPELINING"]), "Q1"),
        "Q2",
    );
    let server = ScriptedServer::start(vec![script.reply("221 2.0.0 Bye\r\n")]);
    let mut session = common::Session::from_system(scripted_options(server.port()));
    session.send(&message("alice@example.org", 1)).unwrap();
    // Date has whole seconds.
    std::thread::sleep(Duration::from_millis(1100));
    session.send(&message("alice@example.org", 2)).unwrap();
    session.close();
    let data = &server.finish()[0].data;
    let date = |bytes: &[u8]| {
        let text = String::from_utf8_lossy(bytes).into_owned();
        let line = text
            .lines()
            .find(|l| l.starts_with("Date: "))
            .unwrap()
            .to_owned();
        DateTime::parse_from_rfc2822(line.trim_start_matches("Date: ")).unwrap()
    };
    let (first, second) = (date(&data[0]), date(&data[1]));
    assert!(second > first, "{first} then {second}");
}

#[test]
fn a_refused_message_leaves_the_session_reset_and_usable() {
    let script = Script::new()
        .greet(&[])
        .reply("250 2.1.0 Ok\r\n")
        .reply("550 5.1.1 no such user\r\n")
        .reply("250 2.0.0 reset\r\n");
    let script = transaction(script, "Q2").reply("221 2.0.0 Bye\r\n");
    let server = ScriptedServer::start(vec![script]);
    let mut session = common::Session::new(scripted_options(server.port()), env());
    let err = session.send(&message("nobody@example.org", 1)).unwrap_err();
    assert!(matches!(err, Error::Refused { .. }), "{err}");
    assert!(session.is_connected());
    let sent = session.send(&message("alice@example.org", 2)).unwrap();
    assert_eq!(sent.queue_id().as_deref(), Some("Q2"));
    session.close();
    let sessions = server.finish();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].commands[3], "RSET");
}

/// The server closed the idle connection (its idle timeout, with a 421
/// first): the next message notices before sending anything and goes on a
/// new connection.
#[test]
fn a_connection_the_server_closed_while_idle_is_replaced() {
    let first = transaction(Script::new().greet(&["PIPELINING"]), "Q1")
        .send("421 4.4.2 idle timeout\r\n")
        .close();
    let second = transaction(Script::new().greet(&["PIPELINING"]), "Q2").reply("221 Bye\r\n");
    let server = ScriptedServer::start(vec![first, second]);
    let mut session = common::Session::new(scripted_options(server.port()), env());
    session.send(&message("alice@example.org", 1)).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let sent = session.send(&message("alice@example.org", 2)).unwrap();
    assert_eq!(sent.queue_id().as_deref(), Some("Q2"));
    session.close();
    let sessions = server.finish();
    assert_eq!(sessions.len(), 2);
    // Nothing was sent on the dead connection.
    assert_eq!(sessions[0].commands.len(), 4, "{:?}", sessions[0].commands);
}

/// The server closes just as MAIL arrives (it read it, never answered):
/// nothing was started, so the message goes on a new connection.
#[test]
fn a_connection_closed_as_mail_arrives_is_replaced() {
    let first = transaction(Script::new().greet(&[]), "Q1")
        .read_line()
        .close();
    let second = transaction(Script::new().greet(&[]), "Q2").reply("221 Bye\r\n");
    let server = ScriptedServer::start(vec![first, second]);
    let mut session = common::Session::new(scripted_options(server.port()), env());
    session.send(&message("alice@example.org", 1)).unwrap();
    let sent = session.send(&message("alice@example.org", 2)).unwrap();
    assert_eq!(sent.queue_id().as_deref(), Some("Q2"));
    session.close();
    let sessions = server.finish();
    assert_eq!(sessions.len(), 2);
    assert_eq!(
        sessions[0].commands.last().unwrap(),
        "MAIL FROM:<joe@client.test>"
    );
}

/// After MAIL was answered a failure is reported: retrying could send the
/// message twice.
#[test]
fn a_connection_lost_after_mail_is_reported_not_retried() {
    let first = transaction(Script::new().greet(&[]), "Q1")
        .reply("250 2.1.0 Ok\r\n")
        .read_line()
        .close();
    let server = ScriptedServer::start(vec![first]);
    let mut session = common::Session::new(scripted_options(server.port()), env());
    session.send(&message("alice@example.org", 1)).unwrap();
    let err = session.send(&message("alice@example.org", 2)).unwrap_err();
    assert!(matches!(err, Error::Transaction(_)), "{err}");
    assert!(!session.is_connected());
    assert_eq!(server.finish().len(), 1);
}

fn postfix_maildir_has(local: &str, token: &str) -> bool {
    let mail = real_path("POSTIE_TEST_POSTFIX_MAIL").unwrap();
    let dir = mail.join("example.org").join(local).join("new");
    wait_for(Duration::from_secs(20), || {
        std::fs::read_dir(&dir)
            .ok()?
            .flatten()
            .any(|e| std::fs::read_to_string(e.path()).is_ok_and(|t| t.contains(token)))
            .then_some(())
    })
    .is_some()
}

fn token() -> String {
    postie_mime::new_message_id("x")
        .unwrap()
        .trim_start_matches('<')
        .split('@')
        .next()
        .unwrap()
        .replace(['-', '_'], "x")
}

#[test]
fn postfix_takes_many_messages_on_one_session() {
    let Some(server) = real_server("POSTIE_TEST_POSTFIX") else {
        return;
    };
    let (options, connections) = connection_counter();
    let options = options
        .servers([server.host.clone()])
        .ports([server.port])
        .timeout(Duration::from_secs(20));
    let token = token();
    let mut session = common::Session::new(options, LocalEnv::from_system());
    for n in 0..5 {
        let mut msg = message("kate@example.org", n);
        msg.headers_mut()
            .set("Subject", &format!("{token} {n}"))
            .unwrap();
        session.send(&msg).unwrap();
    }
    session.close();
    assert_eq!(*connections.lock().unwrap(), 1);
    for n in 0..5 {
        assert!(
            postfix_maildir_has("kate", &format!("{token} {n}")),
            "message {n}"
        );
    }
}

/// A Postfix whose smtpd_timeout is 2 s closes the pooled connection while
/// it is idle; the next message goes on a new one.
#[test]
fn the_pool_survives_postfix_closing_idle_connections() {
    let Some(server) = real_server("POSTIE_TEST_POSTFIX_SHORT_IDLE") else {
        return;
    };
    let (options, connections) = connection_counter();
    let options = options
        .servers([server.host.clone()])
        .ports([server.port])
        .timeout(Duration::from_secs(20));
    let token = token();
    let pool = common::Pool::new(options, LocalEnv::from_system(), 1);
    let mut first = message("lena@example.org", 1);
    first
        .headers_mut()
        .set("Subject", &format!("{token} 1"))
        .unwrap();
    pool.send(&first).unwrap();
    std::thread::sleep(Duration::from_millis(3500));
    let mut second = message("lena@example.org", 2);
    second
        .headers_mut()
        .set("Subject", &format!("{token} 2"))
        .unwrap();
    pool.send(&second).unwrap();
    pool.close_idle();
    assert_eq!(*connections.lock().unwrap(), 2);
    assert!(postfix_maildir_has("lena", &format!("{token} 1")));
    assert!(postfix_maildir_has("lena", &format!("{token} 2")));
}

#[test]
fn a_pool_shares_at_most_max_size_connections_between_workers() {
    let Some(server) = real_server("POSTIE_TEST_POSTFIX") else {
        return;
    };
    let (options, connections) = connection_counter();
    let options = options
        .servers([server.host.clone()])
        .ports([server.port])
        .timeout(Duration::from_secs(20));
    let token = token();
    let messages: Vec<Message> = (0..12)
        .map(|n| {
            let mut msg = message("mona@example.org", n);
            msg.headers_mut()
                .set("Subject", &format!("{token} {n}"))
                .unwrap();
            msg
        })
        .collect();
    let results = common::send_pooled(options, LocalEnv::from_system(), (2, None), 4, messages);
    for (n, result) in results.iter().enumerate() {
        assert!(result.is_ok(), "message {n}: {:?}", result.as_ref().err());
    }
    let opened = *connections.lock().unwrap();
    assert!((1..=2).contains(&opened), "{opened} connections");
    for n in 0..12 {
        assert!(
            postfix_maildir_has("mona", &format!("{token} {n}")),
            "message {n}"
        );
    }
}

/// A rate limit holds across every worker sharing the pool: 12 messages
/// from 4 workers at 20 a second start at least 50 ms apart, so they take
/// at least 11 intervals (a lower bound only: how fast a send is is for the
/// benchmarks, bench/rate_limit.sh).
#[test]
fn a_pool_keeps_to_its_rate_limit_across_workers() {
    let Some(server) = real_server("POSTIE_TEST_POSTFIX") else {
        return;
    };
    let options = SendOptions::new()
        .servers([server.host.clone()])
        .ports([server.port])
        .timeout(Duration::from_secs(20));
    let token = token();
    let messages: Vec<Message> = (0..12)
        .map(|n| {
            let mut msg = message("mona@example.org", n);
            msg.headers_mut()
                .set("Subject", &format!("{token} rate {n}"))
                .unwrap();
            msg
        })
        .collect();
    let rate = postie_smtp::blocking::RateLimit::new(20, Duration::from_secs(1));
    let start = std::time::Instant::now();
    let results = common::send_pooled(
        options,
        LocalEnv::from_system(),
        (2, Some(rate)),
        4,
        messages,
    );
    let elapsed = start.elapsed();
    for (n, result) in results.iter().enumerate() {
        assert!(result.is_ok(), "message {n}: {:?}", result.as_ref().err());
    }
    assert!(
        elapsed >= Duration::from_millis(550),
        "12 messages at 20/s in {elapsed:?}"
    );
}

/// A server's limit of messages per connection (OpenSMTPD answers MAIL
/// with 452 4.5.3 after 100): the message goes once more on a new
/// connection, and the kept one is said goodbye to.
#[test]
fn a_4xx_to_mail_on_a_kept_connection_sends_the_message_on_a_new_one() {
    let first = transaction(Script::new().greet(&[]), "Q1")
        .reply("452 4.5.3 Too many messages on this connection\r\n")
        .read_line();
    let second = transaction(Script::new().greet(&[]), "Q2").reply("221 Bye\r\n");
    let server = ScriptedServer::start(vec![first, second]);
    let mut session = common::Session::new(scripted_options(server.port()), env());
    session.send(&message("alice@example.org", 1)).unwrap();
    let sent = session.send(&message("alice@example.org", 2)).unwrap();
    assert_eq!(sent.queue_id().as_deref(), Some("Q2"));
    session.close();
    let sessions = server.finish();
    assert_eq!(sessions.len(), 2);
    // The refused connection got QUIT.
    assert_eq!(sessions[0].commands.last().unwrap(), "QUIT");
    // On a new connection the same refusal is the outcome: no loop.
    let refusing = Script::new()
        .greet(&[])
        .reply("452 4.5.3 Try later\r\n")
        .reply("250 Ok\r\n")
        .reply("221 Bye\r\n");
    let server = ScriptedServer::start(vec![refusing]);
    let mut session = common::Session::new(scripted_options(server.port()), env());
    let err = session.send(&message("alice@example.org", 1)).unwrap_err();
    assert!(err.is_temporary(), "{err}");
    session.close();
    assert_eq!(server.finish().len(), 1);
}

#[test]
fn a_session_rotates_its_connection_at_its_message_limit() {
    let first = transaction(transaction(Script::new().greet(&[]), "Q1"), "Q2").reply("221 Bye\r\n");
    let second = transaction(Script::new().greet(&[]), "Q3").reply("221 Bye\r\n");
    let server = ScriptedServer::start(vec![first, second]);
    let mut session = common::Session::with_max_messages(scripted_options(server.port()), env(), 2);
    for n in 1..=3 {
        session.send(&message("alice@example.org", n)).unwrap();
    }
    session.close();
    let sessions = server.finish();
    assert_eq!(
        sessions.len(),
        2,
        "two messages on the first connection, one on the second"
    );
    assert_eq!(sessions[0].commands.last().unwrap(), "QUIT");
    assert_eq!(sessions[0].data.len(), 2);
    assert_eq!(sessions[1].data.len(), 1);
}
