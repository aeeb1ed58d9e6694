//! The dialogue against the scripted server: what real servers will not do
//! on demand (a 421 greeting, a drop after the final dot, silence, a reply
//! nobody asked for), and the exact bytes the client sends.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use chrono::DateTime;
use postie_mime::reader::PartExt;
use postie_mime::Message;
use postie_smtp::{Cause, Error, LocalEnv, Outcome, SendOptions, Stage};
use postie_testkit::{closed_port, Script, ScriptedServer};

fn env() -> LocalEnv {
    LocalEnv {
        hostname: "client.test".to_owned(),
        user: "joe".to_owned(),
        now: DateTime::parse_from_rfc3339("2026-11-28T18:41:39+00:00").unwrap(),
    }
}

fn seed_message() -> Message {
    let mut msg = Message::text("Hello from postie.\n.leading dot line\nlast line");
    msg.headers_mut()
        .set("Subject", "postie seed test")
        .unwrap();
    msg
}

fn options(ports: &[u16]) -> SendOptions {
    SendOptions::new()
        .servers(ports.iter().map(|_| "127.0.0.1"))
        .ports(ports.iter().copied())
        .recipients("alice@example.org, Bob <bob@example.org>")
        .timeout(Duration::from_secs(5))
}

fn send(options: &SendOptions) -> Result<postie_smtp::Sent, Error> {
    common::send_with_env(&seed_message(), options, &env())
}

/// A whole successful transaction after `greet`.
fn accept_all(script: Script, rcpts: usize) -> Script {
    let mut script = script.reply("250 2.1.0 Ok\r\n");
    for _ in 0..rcpts {
        script = script.reply("250 2.1.5 Ok\r\n");
    }
    script
        .reply("354 End data with <CR><LF>.<CR><LF>\r\n")
        .read_data()
        .send("250 2.0.0 Ok: queued as 4XyZ\r\n")
        .reply("221 2.0.0 Bye\r\n")
}

#[test]
fn seed_example_dialogue_byte_for_byte() {
    let server = ScriptedServer::start(vec![accept_all(
        Script::new().greet(&["SIZE 10240000", "8BITMIME"]),
        2,
    )]);
    let sent = send(&options(&[server.port()])).unwrap();
    let sessions = server.finish();
    let session = &sessions[0];

    assert_eq!(sent.reply().code(), 250);
    assert_eq!(sent.queue_id().as_deref(), Some("4XyZ"));
    assert!(sent.refused().is_empty());
    assert_eq!(sent.accepted(), ["alice@example.org", "bob@example.org"]);

    let size = session.commands[1]
        .strip_prefix("MAIL FROM:<joe@client.test> SIZE=")
        .expect("MAIL with SIZE")
        .parse::<usize>()
        .unwrap();
    assert_eq!(
        session.commands,
        [
            "EHLO client.test".to_owned(),
            format!("MAIL FROM:<joe@client.test> SIZE={size}"),
            "RCPT TO:<alice@example.org>".to_owned(),
            "RCPT TO:<bob@example.org>".to_owned(),
            "DATA".to_owned(),
            "QUIT".to_owned(),
        ]
    );
    let data = String::from_utf8(session.data[0].clone()).unwrap();
    // SIZE is the exact octet count: the data minus stuffing and terminator.
    assert_eq!(size, data.len() - ".\r\n".len() - 1);
    assert!(data.contains("\r\n..leading dot line\r\n"), "{data}");
    assert!(data.contains("From: joe@client.test\r\n"));
    assert!(data.contains("Date: Sat, 28 Nov 2026 18:41:39 +0000\r\n"));
    assert!(data.contains("Message-ID: <"));
    assert!(!data.contains("Bcc"));
    assert!(data.ends_with("last line\r\n.\r\n"));
}

#[test]
fn failover_closed_port_then_421_greeting_then_good_server() {
    let busy = ScriptedServer::start(vec![Script::new().send("421 4.3.2 busy, try later\r\n")]);
    let good = ScriptedServer::start(vec![accept_all(Script::new().greet(&[]), 2)]);
    let sent = send(&options(&[closed_port(), busy.port(), good.port()])).unwrap();
    assert_eq!(sent.server().port, good.port());

    let busy_session = &busy.finish()[0];
    assert!(
        busy_session.bytes.is_empty(),
        "nothing after a 421: {:?}",
        busy_session.text()
    );
    assert_eq!(good.finish()[0].commands[0], "EHLO client.test");
}

#[test]
fn all_servers_failing_reports_each_attempt_and_the_last() {
    let busy = ScriptedServer::start(vec![Script::new().send("554 5.7.1 go away\r\n")]);
    let closed = closed_port();
    let err = send(&options(&[closed, busy.port()])).unwrap_err();
    let Error::NoServer { attempts } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0].stage(), Stage::Connect);
    assert!(matches!(attempts[0].cause(), Cause::Connect(_)));
    assert_eq!(attempts[1].stage(), Stage::Greeting);
    assert_eq!(err.code(), Some(554));
    assert_eq!(err.enhanced().unwrap().to_string(), "5.7.1");
    assert!(!err.is_temporary() || attempts[0].is_temporary());
    assert!(err.to_string().contains("go away"), "{err}");
    busy.finish();
}

#[test]
fn ehlo_5xx_falls_back_to_helo_without_size() {
    let server = ScriptedServer::start(vec![accept_all(
        Script::new()
            .send("220 old.test SMTP\r\n")
            .reply("502 5.5.2 EHLO not implemented\r\n")
            .reply("250 old.test\r\n"),
        2,
    )]);
    send(&options(&[server.port()])).unwrap();
    let commands = &server.finish()[0].commands;
    assert_eq!(commands[0], "EHLO client.test");
    assert_eq!(commands[1], "HELO client.test");
    assert_eq!(commands[2], "MAIL FROM:<joe@client.test>");
}

#[test]
fn ehlo_4xx_is_no_helo_but_the_next_server() {
    let refusing = ScriptedServer::start(vec![Script::new()
        .send("220 x\r\n")
        .reply("421 4.7.0 not now\r\n")]);
    let good = ScriptedServer::start(vec![accept_all(Script::new().greet(&[]), 2)]);
    send(&options(&[refusing.port(), good.port()])).unwrap();
    let first = &refusing.finish()[0];
    assert_eq!(first.commands, ["EHLO client.test"]);
    assert!(!first.text().contains("HELO"));
    good.finish();
}

fn one_refused(at_least_one: bool) -> (Result<postie_smtp::Sent, Error>, Vec<String>) {
    let script = Script::new()
        .greet(&[])
        .reply("250 2.1.0 Ok\r\n")
        .reply("250 2.1.5 Ok\r\n")
        .reply("550 5.1.1 <bob@example.org>: no such user\r\n");
    let script = if at_least_one {
        script
            .reply("354 go\r\n")
            .read_data()
            .send("250 2.0.0 Ok: queued as A1\r\n")
            .reply("221 bye\r\n")
    } else {
        script.reply("250 2.0.0 Ok\r\n").reply("221 bye\r\n")
    };
    let server = ScriptedServer::start(vec![script]);
    let result = send(&options(&[server.port()]).at_least_one(at_least_one));
    (result, server.finish()[0].commands.clone())
}

#[test]
fn refused_recipient_all_or_nothing_sends_nothing_and_resets() {
    let (result, commands) = one_refused(false);
    let err = result.unwrap_err();
    let refused = err.refused();
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].address(), "bob@example.org");
    assert_eq!(refused[0].code(), 550);
    assert_eq!(refused[0].enhanced().unwrap().to_string(), "5.1.1");
    assert_eq!(refused[0].text(), "<bob@example.org>: no such user");
    assert_eq!(err.outcome(), Outcome::NotSent);
    assert!(!commands.contains(&"DATA".to_owned()), "{commands:?}");
    assert_eq!(commands[commands.len() - 2..], ["RSET", "QUIT"]);
}

#[test]
fn refused_recipient_with_at_least_one_sends_and_returns_the_refusal() {
    let (result, commands) = one_refused(true);
    let sent = result.unwrap();
    assert_eq!(sent.refused().len(), 1);
    assert_eq!(sent.refused()[0].address(), "bob@example.org");
    assert_eq!(sent.accepted(), ["alice@example.org"]);
    assert!(commands.contains(&"DATA".to_owned()));
}

#[test]
fn all_refused_is_not_sent_even_with_at_least_one() {
    let server = ScriptedServer::start(vec![Script::new()
        .greet(&[])
        .reply("250 Ok\r\n")
        .reply("450 4.2.0 busy\r\n")
        .reply("450 4.2.0 busy\r\n")
        .reply("250 Ok\r\n")
        .reply("221 bye\r\n")]);
    let err = send(&options(&[server.port()]).at_least_one(true)).unwrap_err();
    assert_eq!(err.refused().len(), 2);
    assert!(err.is_temporary(), "all 4xx refusals are temporary");
    let commands = &server.finish()[0].commands;
    assert!(!commands.contains(&"DATA".to_owned()));
}

#[test]
fn mail_refused_is_an_error_at_mail_and_no_failover() {
    let first = ScriptedServer::start(vec![Script::new()
        .greet(&[])
        .reply("553 5.7.1 sender rejected\r\n")
        .reply("250 2.0.0 Ok\r\n")
        .reply("221 bye\r\n")]);
    let second = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    second.set_nonblocking(true).unwrap();
    let second_port = second.local_addr().unwrap().port();
    let err = send(&options(&[first.port(), second_port])).unwrap_err();
    assert_eq!(err.stage(), Some(Stage::Mail));
    assert_eq!(err.code(), Some(553));
    assert!(!err.is_temporary());
    // The abandoned transaction is reset before leaving.
    let commands = &first.finish()[0].commands;
    assert_eq!(commands[commands.len() - 2..], ["RSET", "QUIT"]);
    // The second server was never contacted: failover stops at MAIL.
    let attempt = second.accept();
    assert!(
        matches!(&attempt, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "{attempt:?}"
    );
}

#[test]
fn drop_after_the_final_dot_is_an_unknown_outcome() {
    let server = ScriptedServer::start(vec![Script::new()
        .greet(&[])
        .reply("250 Ok\r\n")
        .reply("250 Ok\r\n")
        .reply("250 Ok\r\n")
        .reply("354 go\r\n")
        .read_data()
        .close()]);
    let err = send(&options(&[server.port()])).unwrap_err();
    assert_eq!(err.stage(), Some(Stage::EndOfData));
    assert_eq!(err.outcome(), Outcome::Unknown);
    assert!(err.is_temporary());
    server.finish();
}

#[test]
fn drop_before_the_final_dot_is_not_sent() {
    let server = ScriptedServer::start(vec![Script::new()
        .greet(&[])
        .reply("250 Ok\r\n")
        .reply("250 Ok\r\n")
        .reply("250 Ok\r\n")
        .reply("554 5.3.0 no data today\r\n")
        .reply("221 bye\r\n")]);
    let err = send(&options(&[server.port()])).unwrap_err();
    assert_eq!(err.stage(), Some(Stage::Data));
    assert_eq!(err.outcome(), Outcome::NotSent);
    server.finish();
}

#[test]
fn a_silent_server_times_out_naming_the_stage() {
    let server = ScriptedServer::start(vec![Script::new()
        .greet(&[])
        .read_line()
        .sleep(Duration::from_secs(1))]);
    let started = Instant::now();
    let err = send(&options(&[server.port()]).timeout(Duration::from_millis(400))).unwrap_err();
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(err.stage(), Some(Stage::Mail));
    assert!(
        matches!(err.server_error().unwrap().cause(), Cause::Timeout(_)),
        "{err}"
    );
    server.finish();
}

#[test]
fn the_deadline_bounds_the_whole_send() {
    // Each line comes within the stage limit, but the whole takes longer.
    let slow = Script::new()
        .sleep(Duration::from_millis(300))
        .send("220 slow\r\n")
        .read_line()
        .sleep(Duration::from_millis(300))
        .send("250 ok\r\n")
        .read_line()
        .sleep(Duration::from_millis(300))
        .send("250 ok\r\n")
        .sleep(Duration::from_secs(1));
    let server = ScriptedServer::start(vec![slow]);
    let started = Instant::now();
    let err = send(
        &options(&[server.port()])
            .timeout(Duration::from_secs(1))
            .deadline(Duration::from_millis(700)),
    )
    .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    assert!(
        matches!(err.server_error().unwrap().cause(), Cause::Deadline),
        "{err}"
    );
    server.finish();
}

/// A server that takes the data slowly (a little at a time, so each write
/// makes some progress) cannot stretch the deadline by a stage timeout,
/// in clear or over TLS: every system call that writes is bounded by what
/// the deadline leaves.
#[test]
fn a_server_reading_the_data_slowly_cannot_stretch_the_deadline() {
    let body = "x".repeat(76) + "\r\n";
    let raw = format!(
        "From: a@example.org\r\nTo: b@example.org\r\nSubject: big\r\n\r\n{}",
        body.repeat(16 * 1024 * 1024 / body.len())
    );
    let msg = Message::parse(raw.as_bytes()).unwrap();
    for tls in [false, true] {
        let script = if tls {
            Script::new()
                .greet(&["STARTTLS"])
                .reply("220 go ahead\r\n")
                .start_tls(postie_testkit::Cert::Trusted)
                .reply("250 localhost\r\n")
        } else {
            Script::new().greet(&[])
        };
        let server = ScriptedServer::start(vec![script
            .reply("250 2.1.0 Ok\r\n")
            .reply("250 2.1.5 Ok\r\n")
            .reply("354 go on\r\n")
            .read_slowly(64, Duration::from_millis(50), Duration::from_secs(3))]);
        let opts = SendOptions::new()
            .servers(["localhost"])
            .ports([server.port()])
            .tls_settings(postie_smtp::TlsSettings {
                ca_files: vec![postie_testkit::ca_file()],
                ..postie_smtp::TlsSettings::default()
            })
            .timeout(Duration::from_secs(20))
            .deadline(Duration::from_millis(1500));
        let started = Instant::now();
        let err = common::send_with_env(&msg, &opts, &env()).unwrap_err();
        let elapsed = started.elapsed();
        assert!(
            elapsed < Duration::from_millis(2500),
            "tls {tls}: {elapsed:?}: {err}"
        );
        assert_eq!(err.server_error().unwrap().stage(), Stage::Data, "{err}");
        assert!(
            matches!(err.server_error().unwrap().cause(), Cause::Deadline),
            "{err}"
        );
        server.finish();
    }
}

#[test]
fn a_reply_nobody_asked_for_fails_closed() {
    // Two replies in one segment after EHLO: the second must not be read as
    // the answer to MAIL.
    let server = ScriptedServer::start(vec![Script::new()
        .send("220 x\r\n")
        .reply("250 x\r\n250 2.1.0 injected\r\n")]);
    let err = send(&options(&[server.port()])).unwrap_err();
    let Error::NoServer { attempts } = &err else {
        panic!("{err:?}")
    };
    assert!(matches!(attempts[0].cause(), Cause::Unexpected), "{err}");
    let session = &server.finish()[0];
    assert!(!session.text().contains("MAIL"), "{}", session.text());
}

#[test]
fn a_message_over_the_size_limit_is_refused_before_mail() {
    let server = ScriptedServer::start(vec![Script::new()
        .greet(&["SIZE 100"])
        .reply("221 bye\r\n")]);
    let err = send(&options(&[server.port()])).unwrap_err();
    assert!(
        matches!(
            err.server_error().unwrap().cause(),
            Cause::TooLarge { limit: 100, .. }
        ),
        "{err}"
    );
    assert_eq!(server.finish()[0].commands, ["EHLO client.test", "QUIT"]);
}

#[test]
fn bad_input_is_refused_before_connecting() {
    let server = ScriptedServer::start(vec![]);
    let port = server.port();
    for opts in [
        options(&[port]).header("Subject", "hi\r\nBcc: victim@example.org"),
        options(&[port]).recipients(""),
        options(&[port]).recipients("undisclosed-recipients:;"),
        options(&[port]).originator("a@b\r\nRCPT TO:<x@y>"),
        options(&[port]).client("bad name"),
        options(&[port]).header("Content-Type", "text/html"),
    ] {
        let mut msg = Message::text("x");
        msg.headers_mut().set("Subject", "s").unwrap();
        let err = common::send_with_env(&msg, &opts, &env()).unwrap_err();
        assert!(matches!(err, Error::Invalid(_)), "{err:?}");
    }
    assert!(server.finish().is_empty(), "nothing may connect");
}

#[test]
fn bare_line_endings_in_a_raw_message_never_reach_the_wire() {
    let raw = b"From: a@example.org\nTo: b@example.org\nSubject: s\n\nline one\rline two\n.\nlast";
    let msg = Message::parse(raw).unwrap();
    let server = ScriptedServer::start(vec![accept_all(Script::new().greet(&[]), 1)]);
    let opts = SendOptions::new()
        .servers(["127.0.0.1"])
        .ports([server.port()])
        .timeout(Duration::from_secs(5));
    common::send_with_env(&msg, &opts, &env()).unwrap();
    let data = server.finish()[0].data[0].clone();
    for (i, &b) in data.iter().enumerate() {
        if b == b'\r' {
            assert_eq!(data.get(i + 1), Some(&b'\n'), "bare CR at {i}");
        }
        if b == b'\n' {
            assert_eq!(data[i - 1], b'\r', "bare LF at {i}");
        }
    }
    let text = String::from_utf8(data).unwrap();
    assert!(
        text.contains("line one\r\nline two\r\n..\r\nlast\r\n.\r\n"),
        "{text}"
    );
}

/// A bare CR in a header would be a line break on the wire: the strict
/// reader refuses the message, naming the line; a message the tolerant
/// reader took (each bare CR read as a space) goes out over DATA and BDAT
/// with exactly the fields it was read with: no hidden Bcc, no second From,
/// postie's own Date still in the header.
#[test]
fn a_bare_cr_in_a_header_never_makes_a_field_on_the_wire() {
    let raw = b"From: a@example.org\r\nTo: b@example.org\r\n\
        Subject: x\rBcc: hidden@example.org\r\n\
        X-A: y\r\rFrom: evil@example.org\r\n\r\nbody\r\n";
    let err = Message::parse(raw).unwrap_err().to_string();
    assert!(err.contains("line 3: a bare CR"), "{err}");
    let parsed = postie_mime::reader::parse(raw);
    assert_eq!(parsed.defects.len(), 2, "{:?}", parsed.defects);
    for chunking in [false, true] {
        let script = Script::new().greet(&["CHUNKING"]);
        let script = if chunking {
            script
                .reply("250 2.1.0 Ok\r\n")
                .reply("250 2.1.5 Ok\r\n")
                .read_bdat()
                .send("250 2.0.0 Ok\r\n")
                .reply("221 Bye\r\n")
        } else {
            accept_all(script, 1)
        };
        let server = ScriptedServer::start(vec![script]);
        let opts = SendOptions::new()
            .servers(["127.0.0.1"])
            .ports([server.port()])
            .chunking(chunking)
            .timeout(Duration::from_secs(5));
        common::send_with_env(&parsed.message, &opts, &env()).unwrap();
        let session = &server.finish()[0];
        let rcpts: Vec<_> = session
            .commands
            .iter()
            .filter(|c| c.starts_with("RCPT"))
            .collect();
        assert_eq!(rcpts, ["RCPT TO:<b@example.org>"]);
        let data = String::from_utf8(session.data[0].clone()).unwrap();
        let header = &data[..data.find("\r\n\r\n").unwrap()];
        let names: Vec<_> = header
            .split("\r\n")
            .filter_map(|line| line.split_once(':').map(|(n, _)| n.to_ascii_lowercase()))
            .collect();
        assert!(!names.contains(&"bcc".to_owned()), "{header}");
        assert_eq!(names.iter().filter(|n| *n == "from").count(), 1, "{header}");
        assert!(names.contains(&"date".to_owned()), "{header}");
        assert!(
            header.contains("Subject: x Bcc: hidden@example.org"),
            "{header}"
        );
    }
}

#[test]
fn every_address_of_a_name_is_tried() {
    // `localhost` usually resolves to ::1 and 127.0.0.1; the server listens
    // on 127.0.0.1 only, so when ::1 comes first its refusal must not end
    // the attempt.
    let server = ScriptedServer::start(vec![accept_all(Script::new().greet(&[]), 2)]);
    let opts = options(&[server.port()]).servers(["localhost"]);
    let sent = send(&opts).unwrap();
    assert_eq!(sent.server().host, "localhost");
    server.finish();
}

#[test]
fn the_client_option_is_the_ehlo_and_helo_name() {
    let server = ScriptedServer::start(vec![accept_all(
        Script::new()
            .send("220 old.test\r\n")
            .reply("500 what\r\n")
            .reply("250 old.test\r\n"),
        2,
    )]);
    send(&options(&[server.port()]).client("me.example")).unwrap();
    let commands = &server.finish()[0].commands;
    assert_eq!(commands[..2], ["EHLO me.example", "HELO me.example"]);
}

#[test]
fn eight_bit_data_is_declared_where_8bitmime_is_offered_and_re_encoded_where_not() {
    let raw = "From: a@example.org\r\nTo: b@example.org\r\nSubject: Gr\u{fc}\u{df}e\r\n\
               Content-Type: text/plain; charset=utf-8\r\n\
               Content-Transfer-Encoding: 8bit\r\n\r\nGr\u{fc}\u{df}e\r\n";
    let msg = Message::parse(raw.as_bytes()).unwrap();
    let opts = |port| {
        SendOptions::new()
            .servers(["127.0.0.1"])
            .ports([port])
            .timeout(Duration::from_secs(5))
    };
    let offering = ScriptedServer::start(vec![accept_all(
        Script::new().greet(&["8BITMIME", "SIZE 100000"]),
        1,
    )]);
    common::send_with_env(&msg, &opts(offering.port()), &env()).unwrap();
    let session = &offering.finish()[0];
    assert!(session.commands[1].contains(" BODY=8BITMIME"));
    // Sent as it is: the raw UTF-8 body and field.
    let data = String::from_utf8(session.data[0].clone()).unwrap();
    assert!(data.contains("\r\n\r\nGr\u{fc}\u{df}e\r\n"), "{data}");

    // Not offered: not declared (the parameter would be refused), and the
    // message goes re-encoded, with SIZE counting what is sent.
    let plain = ScriptedServer::start(vec![accept_all(Script::new().greet(&["SIZE 100000"]), 1)]);
    common::send_with_env(&msg, &opts(plain.port()), &env()).unwrap();
    let session = &plain.finish()[0];
    assert!(!session.commands[1].contains("BODY="));
    let data = &session.data[0];
    assert!(data.is_ascii(), "{}", String::from_utf8_lossy(data));
    let declared: usize = session.commands[1]
        .split(" SIZE=")
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    // The exact octet count: the data without the terminator (nothing
    // here is dot-stuffed).
    let body = data.strip_suffix(b".\r\n").unwrap();
    assert_eq!(declared, body.len());
    let back = postie_mime::reader::parse(body);
    assert!(back.defects.is_empty(), "{:?}", back.defects);
    assert_eq!(
        back.message.header_text("Subject").unwrap(),
        "Gr\u{fc}\u{df}e"
    );
    assert_eq!(back.message.text().unwrap(), "Gr\u{fc}\u{df}e\r\n");

    // What postie writes itself is 7bit: never declared.
    let built = ScriptedServer::start(vec![accept_all(Script::new().greet(&["8BITMIME"]), 2)]);
    send(&options(&[built.port()])).unwrap();
    assert!(!built.finish()[0].commands[1].contains("BODY="));
}

#[test]
fn idn_domains_go_as_punycode_without_smtputf8() {
    let opts = |port| {
        SendOptions::new()
            .servers(["127.0.0.1"])
            .ports([port])
            .recipients("user@bücher.example")
            .timeout(Duration::from_secs(5))
    };
    let plain = ScriptedServer::start(vec![accept_all(Script::new().greet(&[]), 1)]);
    send(&opts(plain.port())).unwrap();
    let commands = &plain.finish()[0].commands;
    assert_eq!(commands[2], "RCPT TO:<user@xn--bcher-kva.example>");
    assert!(!commands[1].contains("SMTPUTF8"));
    // With SMTPUTF8 the address goes as it is, declared.
    let utf8 = ScriptedServer::start(vec![accept_all(Script::new().greet(&["SMTPUTF8"]), 1)]);
    send(&opts(utf8.port())).unwrap();
    let commands = &utf8.finish()[0].commands;
    assert!(commands[1].ends_with(" SMTPUTF8"), "{}", commands[1]);
    assert_eq!(commands[2], "RCPT TO:<user@bücher.example>");
    // A non-ASCII local part cannot be converted: a clear error, before MAIL.
    let refusing = ScriptedServer::start(vec![Script::new().greet(&[]).reply("221 bye\r\n")]);
    let err = send(&opts(refusing.port()).recipients("jörg@example.org")).unwrap_err();
    assert!(
        matches!(err.server_error().unwrap().cause(), Cause::NeedsSmtpUtf8(_)),
        "{err}"
    );
    assert!(err.to_string().contains("jörg@example.org"), "{err}");
    assert!(!refusing.finish()[0].text().contains("MAIL"));
}

/// The dispatch in `common` really sends with the driver asked for: the
/// tokio driver runs inside a runtime, the blocking one does not.
#[test]
fn the_driver_under_test_is_the_one_asked_for() {
    let server = ScriptedServer::start(vec![accept_all(Script::new().greet(&[]), 2)]);
    let in_runtime = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let seen = std::sync::Arc::clone(&in_runtime);
    let opts = options(&[server.port()]).on_trace(move |_| {
        seen.store(
            tokio::runtime::Handle::try_current().is_ok(),
            std::sync::atomic::Ordering::SeqCst,
        );
    });
    send(&opts).unwrap();
    server.finish();
    assert_eq!(
        in_runtime.load(std::sync::atomic::Ordering::SeqCst),
        common::driver() == common::Driver::Tokio
    );
}

/// CHUNKING (RFC 3030): one `BDAT <size> LAST` with the exact octets, not
/// dot-stuffed, no DATA and no 354; without it (or switched off), DATA.
#[test]
fn bdat_where_chunking_is_offered_and_data_where_not() {
    let chunking = ScriptedServer::start(vec![Script::new()
        .greet(&["CHUNKING", "SIZE 100000"])
        .reply("250 2.1.0 Ok\r\n")
        .reply("250 2.1.5 Ok\r\n")
        .reply("250 2.1.5 Ok\r\n")
        .read_bdat()
        .send("250 2.0.0 Ok: queued as B1\r\n")
        .reply("221 Bye\r\n")]);
    let sent = send(&options(&[chunking.port()])).unwrap();
    assert_eq!(sent.queue_id().as_deref(), Some("B1"));
    let session = &chunking.finish()[0];
    let size: usize = session.commands[1]
        .split(" SIZE=")
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(session.commands[4], format!("BDAT {size} LAST"));
    assert_eq!(session.commands.len(), 6, "{:?}", session.commands);
    let data = String::from_utf8(session.data[0].clone()).unwrap();
    assert_eq!(data.len(), size);
    assert!(
        data.contains("\r\n.leading dot line\r\n"),
        "not stuffed: {data}"
    );
    assert!(data.ends_with("last line\r\n"));

    // Switched off: DATA even though CHUNKING is offered.
    let off = ScriptedServer::start(vec![accept_all(Script::new().greet(&["CHUNKING"]), 2)]);
    send(&options(&[off.port()]).chunking(false)).unwrap();
    assert_eq!(off.finish()[0].commands[4], "DATA");
}

/// A binary message (a NUL, CRLF line ends) goes as BODY=BINARYMIME over
/// BDAT, byte for byte, where both are offered; where BINARYMIME is not,
/// its binary part goes re-encoded (base64), still over BDAT.
#[test]
fn binarymime_where_offered_and_a_rewrite_where_not() {
    let raw = b"From: a@example.org\r\nTo: b@example.org\r\nSubject: bin\r\n\
        MIME-Version: 1.0\r\nContent-Type: application/octet-stream\r\n\
        Content-Transfer-Encoding: binary\r\n\r\n\x00\x01\xff\r\n";
    let msg = Message::parse(raw).unwrap();
    let opts = |port| {
        SendOptions::new()
            .servers(["127.0.0.1"])
            .ports([port])
            .timeout(Duration::from_secs(5))
    };
    let script = |caps: &[&str]| {
        Script::new()
            .greet(caps)
            .reply("250 2.1.0 Ok\r\n")
            .reply("250 2.1.5 Ok\r\n")
            .read_bdat()
            .send("250 2.0.0 Ok\r\n")
            .reply("221 Bye\r\n")
    };
    let binary = ScriptedServer::start(vec![script(&["CHUNKING", "BINARYMIME", "8BITMIME"])]);
    common::send_with_env(&msg, &opts(binary.port()), &env()).unwrap();
    let session = &binary.finish()[0];
    assert!(
        session.commands[1].ends_with(" BODY=BINARYMIME"),
        "{:?}",
        session.commands
    );
    assert!(session.data[0].ends_with(b"\r\n\r\n\x00\x01\xff\r\n"));

    let no_binary = ScriptedServer::start(vec![script(&["CHUNKING", "8BITMIME"])]);
    common::send_with_env(&msg, &opts(no_binary.port()), &env()).unwrap();
    let session = &no_binary.finish()[0];
    assert!(
        !session.commands[1].contains("BODY="),
        "{:?}",
        session.commands
    );
    let data = &session.data[0];
    assert!(data.is_ascii());
    let back = postie_mime::reader::parse(data).message;
    assert_eq!(back.content_transfer_encoding().as_deref(), Some("base64"));
    assert_eq!(back.decoded_body(), b"\x00\x01\xff\r\n");
}

/// The upload reports its progress: increasing counts against the size
/// announced, ending with everything written.
#[test]
fn the_upload_reports_its_progress() {
    let server = ScriptedServer::start(vec![accept_all(
        Script::new().greet(&["SIZE 100000000"]),
        2,
    )]);
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = std::sync::Arc::clone(&seen);
    let opts = options(&[server.port()]).on_progress(move |p| sink.lock().unwrap().push(p));
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let msg = postie_mime::builder::MessageBuilder::new()
        .to("alice@example.org")
        .text("see attached")
        .attach_bytes("big.bin", data, None)
        .build()
        .unwrap();
    common::send_with_env(&msg, &opts, &env()).unwrap();
    let session = &server.finish()[0];
    let size: u64 = session.commands[1]
        .split(" SIZE=")
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let seen = seen.lock().unwrap();
    assert!(seen.len() >= 3, "{} reports", seen.len());
    assert!(seen.windows(2).all(|w| w[0].sent < w[1].sent));
    assert!(seen.iter().all(|p| p.total == Some(size)));
    assert_eq!(seen.last().unwrap().sent, session.data[0].len() as u64);
}
