//! The `postie` command: outputs and exit codes as the contract's table
//! says, against the scripted server and the real ones.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use postie_testkit::{
    closed_port, real_path, real_server, wait_for, RealServer, Script, ScriptedServer,
};

fn postie(args: &[&str]) -> Output {
    postie_with_stdin(args, None)
}

fn postie_with_stdin(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_postie"))
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input).unwrap();
    }
    child.wait_with_output().unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(out)))
}

#[test]
fn demo_sends_the_seed_example_to_its_own_sink() {
    let out = postie(&["demo"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let text = stdout(&out);
    assert!(
        text.contains("C: RCPT TO:<someone@somewhere.com>"),
        "{text}"
    );
    assert!(text.contains("Subject: This is the subject."));
    assert!(text.contains("This is the message."));
    assert!(text.contains("S: 250 2.0.0 Ok: queued as 1"));
    assert!(text.contains("refused recipients: none"));
}

#[test]
fn dry_run_prints_the_message_and_the_envelope() {
    let out = postie(&[
        "send",
        "--dry-run",
        "--from",
        "Ann <ann@x.org>",
        "--to",
        "b@x.org",
        "--bcc",
        "c@x.org",
        "--subject",
        "Hi",
        "--body",
        "Hello\n.dot",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let message = stdout(&out);
    assert!(message.contains("From: Ann <ann@x.org>\r\n"));
    assert!(message.contains("To: b@x.org\r\n"));
    assert!(!message.contains("c@x.org"), "Bcc is never sent: {message}");
    // Before dot-stuffing.
    assert!(
        message.ends_with("\r\n\r\nHello\r\n.dot\r\n"),
        "{message:?}"
    );
    assert_eq!(
        stderr(&out),
        "MAIL FROM:<ann@x.org>\nRCPT TO:<b@x.org>\nRCPT TO:<c@x.org>\n"
    );
}

#[test]
fn a_message_from_standard_input() {
    let raw = b"From: a@x.org\nTo: b@x.org\nBcc: hidden@x.org\nSubject: piped\n\nbody\n";
    let out = postie_with_stdin(&["send", "--dry-run"], Some(raw));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("Subject: piped"));
    assert!(!stdout(&out).contains("hidden@x.org"));
    assert!(stderr(&out).contains("RCPT TO:<hidden@x.org>"));
}

#[test]
fn injected_header_is_a_data_error_before_anything_is_sent() {
    let port = closed_port().to_string();
    let out = postie(&[
        "send",
        "--server",
        "127.0.0.1",
        "--port",
        &port,
        "--to",
        "a@x.org",
        "--header",
        "Subject: hi\rBcc: victim@x.org",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(65), "{}", stderr(&out));
    assert_eq!(json(&out)["outcome"], "not_sent");
}

/// A bare CR (or a NUL) in a raw message's header would be a line break on
/// the wire, making fields postie never saw (a Bcc that is not stripped, a
/// second From); every entry point refuses it with exit 65 naming the line,
/// before connecting.
#[test]
fn a_bare_cr_or_nul_in_a_raw_header_is_a_data_error_naming_the_line() {
    let port = closed_port().to_string();
    let dir = std::env::temp_dir().join(format!("postie-bare-cr-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (raw, what) in [
        (
            &b"From: a@x.org\r\nTo: b@x.org\r\nSubject: x\rBcc: hidden@x.org\r\n\r\nbody\r\n"[..],
            "line 3: a bare CR",
        ),
        (
            b"From: a@x.org\nTo: b@x.org\nSubject: x\r\r\nMore: y\n\nbody\n",
            "line 3: a bare CR",
        ),
        (
            b"From: a@x.org\nTo: b@x.org\nSubject: x\0y\n\nbody\n",
            "line 3: a NUL",
        ),
    ] {
        let file = dir.join("message.eml");
        std::fs::write(&file, raw).unwrap();
        let file = file.to_str().unwrap();
        let runs: [(&[&str], Option<&[u8]>); 5] = [
            (
                &["send", "--server", "127.0.0.1", "--port", &port, file],
                None,
            ),
            (
                &["send", "--server", "127.0.0.1", "--port", &port, "-"],
                Some(raw),
            ),
            (&["send", "--dry-run", file], None),
            (&["send", "--dry-run", "--json", file], None),
            (
                &["sendmail", "-t", "-i", "-C", "/nonexistent/postie.toml"],
                Some(raw),
            ),
        ];
        for (args, input) in runs {
            let out = postie_with_stdin(args, input);
            assert_eq!(out.status.code(), Some(65), "{args:?}: {}", stderr(&out));
            let message = if args.contains(&"--json") {
                json(&out)["error"]["text"].as_str().unwrap().to_owned()
            } else {
                stderr(&out)
            };
            assert!(message.contains(what), "{args:?}: {message}");
            assert!(
                out.stdout.is_empty() || args.contains(&"--json"),
                "{args:?}"
            );
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// With --json anywhere in the arguments, one object for every exit code:
/// flag errors (64, stage `usage`), an unreadable input (66, `input`), a bad
/// accounts file (78, `config`) and a bad message (65).
#[test]
fn json_is_printed_for_every_exit_code() {
    let dir = std::env::temp_dir().join(format!("postie-json-codes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("config.toml");
    std::fs::write(&config, "this is not toml [").unwrap();
    let config = config.to_str().unwrap();
    let cases: [(&[&str], i32, serde_json::Value); 5] = [
        (&["send", "--json", "--no-such-flag"], 64, "usage".into()),
        (
            &["send", "--json", "--timeout", "soon", "--to", "a@x.org"],
            64,
            "usage".into(),
        ),
        (
            &["send", "--json", "/nonexistent/message.eml"],
            66,
            "input".into(),
        ),
        (
            &[
                "send",
                "--json",
                "--config",
                config,
                "--account",
                "x",
                "--to",
                "a@x.org",
                "--dry-run",
            ],
            78,
            "config".into(),
        ),
        (
            &["send", "--json", "--dry-run", "--subject", "no recipients"],
            65,
            serde_json::Value::Null,
        ),
    ];
    for (args, code, stage) in cases {
        let out = postie(args);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}", stderr(&out));
        let v = json(&out);
        assert_eq!(v["outcome"], "not_sent", "{args:?}: {v}");
        assert_eq!(v["accepted"], false);
        assert_eq!(v["error"]["stage"], stage, "{args:?}: {v}");
        assert_eq!(v["error"]["server"], serde_json::Value::Null);
        assert_eq!(v["error"]["code"], serde_json::Value::Null);
        assert!(!v["error"]["text"].as_str().unwrap().is_empty(), "{v}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// An attachment, inline part or message that is a directory, a device
/// or a FIFO is exit 66 before connecting (a FIFO attachment used to hang
/// the open, /dev/zero to fail as a connection error at MAIL).
#[test]
fn attachments_must_be_regular_files() {
    let port = closed_port().to_string();
    let dir = std::env::temp_dir().join(format!("postie-not-regular-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let fifo = fifo.to_str().unwrap();
    let dir_name = dir.to_str().unwrap();
    for (flag, file, what) in [
        ("--attach", dir_name, "a directory"),
        ("--attach", "/dev/zero", "a character device"),
        ("--attach", fifo, "a FIFO"),
        ("--inline", fifo, "a FIFO"),
    ] {
        let args = [
            "send",
            "--server",
            "127.0.0.1",
            "--port",
            &port,
            "--to",
            "a@x.org",
            "--html",
            "<p>x</p>",
            flag,
            file,
        ];
        let started = std::time::Instant::now();
        let out = postie(&args);
        assert_eq!(out.status.code(), Some(66), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(what), "{args:?}: {}", stderr(&out));
        assert!(started.elapsed() < Duration::from_secs(5), "{args:?}");
    }
    for message in [dir_name, "/dev/zero"] {
        let out = postie(&["send", "--server", "127.0.0.1", "--port", &port, message]);
        assert_eq!(out.status.code(), Some(66), "{message}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("not a regular file"),
            "{}",
            stderr(&out)
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn exit_codes_for_input_and_usage() {
    assert_eq!(postie(&["send", "--no-such-flag"]).status.code(), Some(64));
    assert_eq!(
        postie(&["send", "/nonexistent/message.eml"]).status.code(),
        Some(66)
    );
    let out = postie(&["send", "--dry-run", "--subject", "no recipients"]);
    assert_eq!(out.status.code(), Some(65));
    assert!(stderr(&out).contains("no recipients"), "{}", stderr(&out));
    let out = postie(&["send", "--dry-run", "--to", "a@x.org b@x.org"]);
    assert_eq!(out.status.code(), Some(65));
    assert!(stderr(&out).contains("a@x.org b@x.org"), "{}", stderr(&out));
}

#[test]
fn a_failover_error_lists_every_server_tried() {
    let closed = closed_port().to_string();
    let turned_away = ScriptedServer::start(vec![Script::new().send("554 5.7.1 go away\r\n")]);
    let ports = format!("{closed},{}", turned_away.port());
    let args = [
        "send",
        "--server",
        "127.0.0.1,127.0.0.1",
        "--port",
        &ports,
        "--to",
        "a@x.org",
    ];
    let out = postie(&args);
    let err = stderr(&out);
    let tried: Vec<&str> = err.lines().filter(|l| l.contains("tried ")).collect();
    assert_eq!(tried.len(), 2, "{err}");
    assert!(
        tried[0].contains(&format!("127.0.0.1:{closed}: connect")),
        "{err}"
    );
    assert!(
        tried[1].contains("greeting") && tried[1].contains("go away"),
        "{err}"
    );
    turned_away.finish();

    let turned_away = ScriptedServer::start(vec![Script::new().send("554 5.7.1 go away\r\n")]);
    let ports = format!("{closed},{}", turned_away.port());
    let mut args = args.to_vec();
    args[4] = &ports;
    args.push("--json");
    let v = json(&postie(&args));
    let attempts = v["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{v}");
    assert_eq!(attempts[0]["stage"], "connect");
    assert_eq!(attempts[1]["stage"], "greeting");
    assert_eq!(attempts[1]["code"], 554);
    assert_eq!(attempts[1]["text"], "go away");
    turned_away.finish();
}

#[test]
fn unreachable_server_is_a_temporary_failure_in_json() {
    let port = closed_port().to_string();
    let out = postie(&[
        "send",
        "--server",
        "127.0.0.1",
        "--port",
        &port,
        "--to",
        "a@x.org",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(75));
    let v = json(&out);
    assert_eq!(v["outcome"], "not_sent");
    assert_eq!(v["accepted"], false);
    assert_eq!(v["error"]["stage"], "connect");
    assert_eq!(v["error"]["temporary"], true);
    assert_eq!(v["error"]["server"], format!("127.0.0.1:{port}"));
    // Without --json the one-line error names the likely mistake.
    let out = postie(&[
        "send",
        "--server",
        "127.0.0.1",
        "--port",
        &port,
        "--to",
        "a@x.org",
    ]);
    let err = stderr(&out);
    assert!(
        err.contains(&format!("127.0.0.1:{port}: connect:")),
        "{err}"
    );
    assert!(err.contains("hint: nothing listens on that port"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");

    // A Unix socket nobody listens on has no port to blame.
    let dir = std::env::temp_dir().join(format!("postie-cli-dead-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let socket = dir.join("dead.sock");
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    let out = postie(&[
        "send",
        "--lmtp",
        "--server",
        socket.to_str().unwrap(),
        "--to",
        "a@x.org",
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(75), "{err}");
    assert!(err.contains("connect:"), "{err}");
    assert!(!err.contains("hint"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_name_that_does_not_resolve_is_exit_68() {
    let out = postie(&[
        "send",
        "--server",
        "no-such-host.invalid",
        "--to",
        "a@x.org",
    ]);
    assert_eq!(out.status.code(), Some(68), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no-such-host.invalid:25"),
        "{}",
        stderr(&out)
    );
}

fn refusing_server(at_least_one: bool) -> ScriptedServer {
    let script = Script::new()
        .greet(&["ENHANCEDSTATUSCODES"])
        .reply("250 2.1.0 Ok\r\n")
        .reply("250 2.1.5 Ok\r\n")
        .reply("550 5.1.1 <bad@x.org>: Recipient address rejected: no such user\r\n");
    let script = if at_least_one {
        script
            .reply("354 go\r\n")
            .read_data()
            .send("250 2.0.0 Ok: queued as 4XyZ\r\n")
            .reply("221 bye\r\n")
    } else {
        script.reply("250 2.0.0 Ok\r\n").reply("221 bye\r\n")
    };
    ScriptedServer::start(vec![script])
}

#[test]
fn refused_recipient_prints_tsv_and_exits_67() {
    let server = refusing_server(false);
    let port = server.port().to_string();
    let out = postie(&[
        "send",
        "--server",
        "127.0.0.1",
        "--port",
        &port,
        "--recipients",
        "good@x.org, bad@x.org",
        "--subject",
        "s",
        "--body",
        "b",
    ]);
    assert_eq!(out.status.code(), Some(67), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "bad@x.org\t550\t<bad@x.org>: Recipient address rejected: no such user\n"
    );
    assert!(stderr(&out).contains("not sent"), "{}", stderr(&out));
    server.finish();
}

#[test]
fn at_least_one_sends_and_reports_the_refusal_in_json() {
    let server = refusing_server(true);
    let port = server.port().to_string();
    let out = postie(&[
        "send",
        "--server",
        "127.0.0.1",
        "--port",
        &port,
        "--recipients",
        "good@x.org, bad@x.org",
        "--subject",
        "s",
        "--body",
        "b",
        "--at-least-one",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["outcome"], "sent");
    assert_eq!(v["accepted"], true);
    assert_eq!(v["queue_id"], "4XyZ");
    assert_eq!(v["reply"]["code"], 250);
    assert_eq!(v["reply"]["enhanced"], "2.0.0");
    assert_eq!(v["refused"][0]["address"], "bad@x.org");
    assert_eq!(v["refused"][0]["code"], 550);
    assert_eq!(v["refused"][0]["enhanced"], "5.1.1");
    assert!(v["error"].is_null());
    server.finish();
}

#[test]
fn drop_after_the_dot_is_unknown_and_exit_75() {
    let server = ScriptedServer::start(vec![Script::new()
        .greet(&[])
        .reply("250 Ok\r\n")
        .reply("250 Ok\r\n")
        .reply("354 go\r\n")
        .read_data()
        .close()]);
    let port = server.port().to_string();
    let out = postie(&[
        "send",
        "--server",
        "127.0.0.1",
        "--port",
        &port,
        "--to",
        "a@x.org",
        "--body",
        "b",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(75));
    let v = json(&out);
    assert_eq!(v["outcome"], "unknown");
    assert_eq!(v["error"]["stage"], "end_of_data");
    server.finish();
}

#[test]
fn permanent_failure_at_mail_is_exit_69() {
    let server = ScriptedServer::start(vec![Script::new()
        .greet(&[])
        .reply("553 5.7.1 sender rejected\r\n")
        .reply("221 bye\r\n")]);
    let port = server.port().to_string();
    let out = postie(&[
        "send",
        "--server",
        "127.0.0.1",
        "--port",
        &port,
        "--to",
        "a@x.org",
        "--body",
        "b",
    ]);
    assert_eq!(out.status.code(), Some(69));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("127.0.0.1:{port}"))
            && err.contains("MAIL FROM")
            && err.contains("553 5.7.1 sender rejected"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    server.finish();
}

#[test]
fn send_through_postfix_from_the_command_line() {
    let Some(server) = real_server("POSTIE_TEST_POSTFIX") else {
        return;
    };
    let mail = real_path("POSTIE_TEST_POSTFIX_MAIL").unwrap();
    let token = postie_mime::new_message_id("x")
        .unwrap()
        .replace(['<', '>', '@', '-', '_'], "");
    let port = server.port.to_string();
    let subject = format!("This is the subject. {token}");
    let out = postie(&[
        "send",
        "--server",
        &server.host,
        "--port",
        &port,
        "--to",
        "frank@example.org",
        "--subject",
        &subject,
        "--body",
        "This is the message.",
        "--json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let v = json(&out);
    assert_eq!(v["outcome"], "sent");
    assert!(v["queue_id"].is_string(), "{v}");
    let dir = mail.join("example.org/frank/new");
    let found = wait_for(Duration::from_secs(20), || {
        std::fs::read_dir(&dir)
            .ok()?
            .flatten()
            .find(|e| std::fs::read_to_string(e.path()).is_ok_and(|t| t.contains(&token)))
    });
    assert!(found.is_some(), "delivered to frank");
}

#[test]
fn sink_keeps_messages_in_a_maildir() {
    let dir = std::env::temp_dir().join(format!("postie-sink-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let port = closed_port();
    let listen = format!("127.0.0.1:{port}");
    let mut sink = Command::new(env!("CARGO_BIN_EXE_postie"))
        .args(["sink", "--listen", &listen, "--maildir"])
        .arg(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let ready = wait_for(Duration::from_secs(10), || {
        std::net::TcpStream::connect(&listen).ok()
    });
    assert!(ready.is_some(), "sink did not start");
    let port_s = port.to_string();
    let out = postie(&[
        "send",
        "--server",
        "127.0.0.1",
        "--port",
        &port_s,
        "--to",
        "a@x.org",
        "--bcc",
        "b@x.org",
        "--subject",
        "captured",
        "--body",
        "hello\n.dot",
    ]);
    let _ = sink.kill();
    let sink_out = sink.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let entries: Vec<_> = std::fs::read_dir(dir.join("new"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(entries.len(), 1);
    let text = std::fs::read_to_string(entries[0].path()).unwrap();
    assert!(text.starts_with("Return-Path: <"), "{text}");
    assert!(
        text.contains("X-Postie-Envelope-To: <a@x.org>, <b@x.org>\n"),
        "{text}"
    );
    assert!(text.contains("Subject: captured\n"));
    // Dot-stuffing undone by the sink; lines end in LF, as in any Maildir.
    assert!(text.ends_with("\n\nhello\n.dot\n"), "{text:?}");
    assert!(!text.contains('\r'), "{text:?}");
    assert!(String::from_utf8_lossy(&sink_out.stderr).contains("message 1"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn send_the_seed_example_to_aiosmtpd_from_the_command_line() {
    let Some(server) = real_server("POSTIE_TEST_AIOSMTPD") else {
        return;
    };
    let dir = real_path("POSTIE_TEST_AIOSMTPD_DIR").unwrap();
    let token = postie_mime::new_message_id("x")
        .unwrap()
        .replace(['<', '>', '@', '-', '_'], "");
    let port = server.port.to_string();
    let subject = format!("This is the subject. {token}");
    let out = postie(&[
        "send",
        "--server",
        &server.host,
        "--port",
        &port,
        "--recipients",
        "someone@somewhere.com, reject-this@somewhere.com",
        "--at-least-one",
        "--subject",
        &subject,
        "--body",
        "This is the message.",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "reject-this@somewhere.com\t550\tno such user\n"
    );
    let stored = wait_for(Duration::from_secs(10), || {
        std::fs::read_dir(&dir).ok()?.flatten().find_map(|e| {
            let text = std::fs::read_to_string(e.path()).ok()?;
            text.contains(&token).then_some(text)
        })
    })
    .expect("stored by aiosmtpd");
    assert!(
        stored.contains("\r\n\r\nThis is the message.\r\n"),
        "{stored:?}"
    );
}

fn tls_auth_env() -> Option<(RealServer, String, String, String)> {
    let server = real_server("POSTIE_TEST_POSTFIX_STARTTLS_REQUIRED")?;
    let ca = real_path("POSTIE_TEST_CA")?;
    let user = std::env::var("POSTIE_TEST_SASL_USER").unwrap();
    let password = std::env::var("POSTIE_TEST_SASL_PASSWORD").unwrap();
    Some((server, ca.display().to_string(), user, password))
}

fn postie_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_postie"));
    cmd.args(args).stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

#[test]
fn submission_with_starttls_and_a_password_from_the_environment() {
    let Some((server, ca, user, password)) = tls_auth_env() else {
        return;
    };
    let port = server.port.to_string();
    let out = postie_env(
        &[
            "send",
            "--server",
            &server.host,
            "--port",
            &port,
            "--tls",
            "required",
            "--ca-file",
            &ca,
            "--username",
            &user,
            "--password-env",
            "SMTP_PASSWORD",
            "--to",
            "cli-user@relay.test",
            "--subject",
            "submission",
            "--body",
            "hello",
            "--json",
            "-v",
        ],
        &[("SMTP_PASSWORD", &password)],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["outcome"], "sent");
    assert_eq!(v["auth"], "SCRAM-SHA-256");
    assert!(v["tls"].as_str().unwrap().starts_with("TLSv1."), "{v}");
    let transcript = stderr(&out);
    assert!(transcript.contains("C: STARTTLS"), "{transcript}");
    assert!(transcript.contains("[redacted]"), "{transcript}");
    assert!(
        !transcript.contains(&password),
        "the password leaked into -v"
    );
}

#[test]
fn a_wrong_password_is_exit_77() {
    let Some((server, ca, user, _)) = tls_auth_env() else {
        return;
    };
    let port = server.port.to_string();
    let out = postie_env(
        &[
            "send",
            "--server",
            &server.host,
            "--port",
            &port,
            "--ca-file",
            &ca,
            "--username",
            &user,
            "--password-env",
            "SMTP_PASSWORD",
            "--to",
            "x@relay.test",
            "--body",
            "b",
            "--json",
        ],
        &[("SMTP_PASSWORD", "definitely-wrong")],
    );
    assert_eq!(out.status.code(), Some(77), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["error"]["stage"], "auth");
    assert_eq!(v["error"]["code"], 535);
    assert!(!stdout(&out).contains("definitely-wrong"));
}

/// The default STARTTLS aimed at an implicit-TLS port: not "no reply
/// within 60s" and exit 75 (spooled, retried for days), but a permanent
/// failure at once that says what to do; nothing is kept in the spool.
#[test]
fn starttls_at_an_implicit_tls_port_is_a_permanent_failure_with_the_fix() {
    let Some(server) = real_server("POSTIE_TEST_POSTFIX_SMTPS") else {
        return;
    };
    let spool = std::env::temp_dir().join(format!("postie-cli-implicit-{}", std::process::id()));
    let port = server.port.to_string();
    let out = postie_env(
        &[
            "send",
            "--server",
            &server.host,
            "--port",
            &port,
            "--to",
            "a@example.org",
            "--body",
            "b",
            "--spool-on-failure",
            "--json",
        ],
        &[("POSTIE_SPOOL_DIR", spool.to_str().unwrap())],
    );
    assert_eq!(out.status.code(), Some(69), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["error"]["stage"], "greeting", "{v}");
    assert_eq!(v["error"]["temporary"], false, "{v}");
    assert!(
        v["error"]["text"]
            .as_str()
            .unwrap()
            .contains("use --tls implicit"),
        "{v}"
    );
    assert!(v["spooled"].is_null(), "{v}");
    let _ = std::fs::remove_dir_all(spool);
}

#[test]
fn tls_flags_reach_the_library() {
    let Some(server) = real_server("POSTIE_TEST_POSTFIX_SMTPS") else {
        return;
    };
    let ca = real_path("POSTIE_TEST_CA").unwrap().display().to_string();
    let port = server.port.to_string();
    // Implicit TLS with the CA: sent.
    let out = postie(&[
        "send",
        "--server",
        &server.host,
        "--port",
        &port,
        "--tls",
        "implicit",
        "--ca-file",
        &ca,
        "--to",
        "implicit@example.org",
        "--body",
        "b",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(json(&out)["tls"].is_string());
    // Without the CA the certificate is refused: exit 69, a warning-free error.
    let out = postie(&[
        "send",
        "--server",
        &server.host,
        "--port",
        &port,
        "--tls",
        "implicit",
        "--to",
        "implicit@example.org",
        "--body",
        "b",
    ]);
    assert_eq!(out.status.code(), Some(69), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not signed by a trusted CA"),
        "{}",
        stderr(&out)
    );
    // Accepting any certificate works, and warns.
    let out = postie(&[
        "send",
        "--server",
        &server.host,
        "--port",
        &port,
        "--tls",
        "implicit",
        "--insecure-skip-verify",
        "--to",
        "implicit@example.org",
        "--body",
        "b",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("warning: --insecure-skip-verify accepts any certificate"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_unreadable_ca_file_is_a_usage_error() {
    let out = postie(&[
        "send",
        "--server",
        "127.0.0.1",
        "--port",
        "1",
        "--ca-file",
        "/nonexistent/ca.pem",
        "--to",
        "a@x.org",
        "--body",
        "b",
    ]);
    assert_eq!(out.status.code(), Some(64), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("/nonexistent/ca.pem"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn the_secret_is_never_a_flag() {
    let out = postie(&[
        "send",
        "--username",
        "u",
        "--password",
        "p",
        "--to",
        "a@x.org",
    ]);
    assert_eq!(out.status.code(), Some(64));
    let out = postie(&["send", "--username", "u", "--to", "a@x.org", "--dry-run"]);
    assert_eq!(out.status.code(), Some(64), "{}", stderr(&out));
}

#[test]
fn message_flags_build_html_attachments_and_inline_images() {
    let dir = std::env::temp_dir().join(format!("postie-cli-mime-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pdf = dir.join("report.pdf");
    std::fs::write(&pdf, b"%PDF-1.4 not really").unwrap();
    let logo = dir.join("logo.png");
    std::fs::write(&logo, [0x89u8, b'P', b'N', b'G', 0, 1, 2, 3]).unwrap();
    let html = dir.join("body.html");
    std::fs::write(&html, "<p>hi <img src=\"cid:logo.png\"></p>").unwrap();
    let (pdf_s, logo_s, html_s) = (
        pdf.display().to_string(),
        logo.display().to_string(),
        html.display().to_string(),
    );
    let out = postie(&[
        "send",
        "--dry-run",
        "--from",
        "a@x.org",
        "--to",
        "b@x.org",
        "--reply-to",
        "r@x.org",
        "--subject",
        "mime",
        "--body",
        "text part",
        "--html",
        &html_s,
        "--attach",
        &pdf_s,
        "--inline",
        &logo_s,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("Reply-To: r@x.org\r\n"), "{text}");
    assert!(text.contains("Content-Type: multipart/mixed;"), "{text}");
    assert!(
        text.contains("Content-Type: multipart/alternative;"),
        "{text}"
    );
    assert!(text.contains("Content-Type: multipart/related;"), "{text}");
    assert!(text.contains("Content-ID: <logo.png>"), "{text}");
    assert!(text.contains("Content-Type: application/pdf"), "{text}");
    assert!(
        text.contains("Content-Disposition: attachment; filename=report.pdf"),
        "{text}"
    );
    assert!(
        text.contains("<p>hi <img src=3D\"cid:logo.png\"></p>")
            || text.contains("<p>hi <img src=\"cid:logo.png\"></p>"),
        "{text}"
    );
    // A missing attachment is an unreadable input.
    let out = postie(&[
        "send",
        "--dry-run",
        "--to",
        "b@x.org",
        "--attach",
        "/nonexistent.pdf",
    ]);
    assert_eq!(out.status.code(), Some(66));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn dsn_flags_reach_postfix_and_a_server_without_dsn_gets_a_warning() {
    let Some(server) = real_server("POSTIE_TEST_POSTFIX") else {
        return;
    };
    let bare = real_server("POSTIE_TEST_POSTFIX_BARE").expect("the bare Postfix with the other");
    for (server, offered) in [(server, true), (bare, false)] {
        let port = server.port.to_string();
        let out = postie(&[
            "send",
            "--server",
            &server.host,
            "--port",
            &port,
            "--from",
            "olga@example.org",
            "--to",
            "frank@example.org",
            "--subject",
            "dsn from the command line",
            "--body",
            "hello",
            "--dsn-notify",
            "failure,delay",
            "--dsn-ret",
            "hdrs",
            "--envid",
            "cli=1",
            "-v",
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let err = stderr(&out);
        if offered {
            assert!(err.contains(" RET=HDRS ENVID=cli+3D1"), "{err}");
            assert!(
                err.contains(" NOTIFY=FAILURE,DELAY ORCPT=rfc822;frank@example.org"),
                "{err}"
            );
            assert!(!err.contains("warning"), "{err}");
        } else {
            assert!(!err.contains("NOTIFY="), "{err}");
            assert!(err.contains("does not offer DSN"), "{err}");
        }
    }
}

#[test]
fn bad_dsn_flags_are_usage_errors() {
    for args in [
        ["--dsn-notify", "never,success"],
        ["--dsn-ret", "everything"],
        ["--envid", "two\u{e9}"],
    ] {
        let mut all = vec!["send", "--to", "a@example.org", "--body", "x", "--dry-run"];
        all.extend(args);
        let out = postie(&all);
        assert_eq!(out.status.code(), Some(64), "{args:?}: {}", stderr(&out));
    }
}

/// Postfix 3.7 does not offer REQUIRETLS: with --requiretls the message is
/// not sent there, even over verified TLS, and the exit is 69.
#[test]
fn requiretls_to_a_postfix_without_it_is_not_sent() {
    let Some(server) = real_server("POSTIE_TEST_POSTFIX_STARTTLS") else {
        return;
    };
    let ca = real_path("POSTIE_TEST_CA").unwrap();
    let port = server.port.to_string();
    let out = postie(&[
        "send",
        "--server",
        "localhost",
        "--port",
        &port,
        "--ca-file",
        ca.to_str().unwrap(),
        "--requiretls",
        "--to",
        "frank@example.org",
        "--body",
        "only over TLS",
        "-v",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(69), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("TLS established"), "{err}");
    assert!(!err.contains("MAIL FROM"), "{err}");
    let v = json(&out);
    assert_eq!(v["outcome"], "not_sent");
    assert!(
        v["error"]["text"].as_str().unwrap().contains("REQUIRETLS"),
        "{v}"
    );
}

/// `--lmtp` to the test LMTP server's Unix socket: one line per recipient
/// whose delivery failed, exit 0 since one was delivered.
#[test]
fn lmtp_over_a_unix_socket_from_the_command_line() {
    let Some(socket) = real_path("POSTIE_TEST_LMTP_SOCKET") else {
        return;
    };
    let out = postie(&[
        "send",
        "--lmtp",
        "--server",
        socket.to_str().unwrap(),
        "--to",
        "gil@example.org, lmtpfail-hal@example.org",
        "--at-least-one",
        "--subject",
        "lmtp from the command line",
        "--body",
        "hello",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines = stdout(&out);
    assert!(
        lines.starts_with("lmtpfail-hal@example.org\t550\t"),
        "{lines}"
    );
}

/// An accounts file with the host, TLS, CA, user, a password command and a
/// from address: `postie send --account` authenticates and relays with
/// nothing else on the command line; the secret never shows.
#[test]
fn an_account_from_the_accounts_file_submits_with_a_password_command() {
    let Some((server, ca, user, password)) = tls_auth_env() else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("postie-accounts-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let secret = dir.join("secret");
    std::fs::write(&secret, format!("{password}\n")).unwrap();
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "default = \"other\"\n\
             [defaults]\ntls = \"required\"\n\
             [accounts.other]\nhost = \"unused.invalid\"\n\
             [accounts.submission]\nhost = \"{}\"\nport = {}\nca_file = \"{ca}\"\n\
             username = \"{user}\"\npassword_command = \"cat {}\"\n\
             from = \"Alice <alice@example.org>\"\n",
            server.host,
            server.port,
            secret.display()
        ),
    )
    .unwrap();
    let config_arg = config.to_str().unwrap();
    let out = postie(&[
        "send",
        "--config",
        config_arg,
        "--account",
        "submission",
        "--to",
        "account-user@relay.test",
        "--subject",
        "via an account",
        "--body",
        "hello",
        "--json",
        "-v",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["outcome"], "sent");
    assert!(v["auth"].is_string(), "{v}");
    let transcript = stderr(&out);
    assert!(
        transcript.contains("MAIL FROM:<alice@example.org>"),
        "{transcript}"
    );
    assert!(!transcript.contains(&password));

    // A bad accounts file, an unknown account, a password in the file:
    // exit 78, nothing sent.
    std::fs::write(&config, "[accounts.x]\nhost = \"h\"\npassword = \"p\"\n").unwrap();
    for account in ["x", "missing"] {
        let out = postie(&[
            "send",
            "--config",
            config_arg,
            "--account",
            account,
            "--to",
            "a@b.example",
            "--body",
            "x",
        ]);
        assert_eq!(out.status.code(), Some(78), "{account}: {}", stderr(&out));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Completions and man pages come from the clap definitions, so every
/// flag is in them.
#[test]
fn completions_and_man_pages_know_every_command() {
    for shell in ["bash", "zsh", "fish"] {
        let out = postie(&["completions", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}");
        let script = stdout(&out);
        for word in ["dsn-notify", "spool-on-failure", "probe", "spool"] {
            assert!(script.contains(word), "{shell}: {word}");
        }
    }
    assert_eq!(postie(&["completions", "tcsh"]).status.code(), Some(64));
    let page = stdout(&postie(&["man"]));
    assert!(
        page.starts_with(".ie") || page.contains(".TH postie 1"),
        "{page}"
    );
    let dir = std::env::temp_dir().join(format!("postie-man-{}", std::process::id()));
    let out = postie(&["man", "--dir", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let send = std::fs::read_to_string(dir.join("postie-send.1")).unwrap();
    assert!(send.contains(".TH postie-send 1"), "{send}");
    assert!(send.contains("requiretls"), "{send}");
    // A page for every command, nested ones included (postie-spool(1)
    // lists postie-spool-flush(1): it must exist), each with the sections
    // a user looks for, rendered by man(1) without a warning.
    for name in [
        "postie",
        "postie-send",
        "postie-sendmail",
        "postie-probe",
        "postie-spool",
        "postie-spool-list",
        "postie-spool-show",
        "postie-spool-remove",
        "postie-spool-flush",
        "postie-spool-init",
        "postie-sink",
        "postie-demo",
        "postie-completions",
        "postie-man",
    ] {
        let page = std::fs::read_to_string(dir.join(format!("{name}.1")))
            .unwrap_or_else(|e| panic!("{name}.1: {e}"));
        for section in [
            ".SH NAME",
            ".SH SYNOPSIS",
            ".SH EXAMPLES",
            ".SH \"EXIT STATUS\"",
            ".SH ENVIRONMENT",
            ".SH FILES",
            ".SH \"SEE ALSO\"",
        ] {
            assert!(page.contains(section), "{name}.1 lacks {section}");
        }
        // NAME is "postie-send - what it does", never "postie - postie: ...".
        assert!(!page.contains("postie: "), "{name}.1 repeats its name");
    }
    assert!(!dir.join("postie-spool-help.1").exists());
    if let Ok(out) = std::process::Command::new("man")
        .args(["--warnings", "-l"])
        .arg(dir.join("postie-spool-flush.1"))
        .output()
    {
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("EXIT STATUS") && text.contains("postie spool flush"),
            "{text}"
        );
        assert!(
            out.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// On a terminal (a pty made by script(1)) a large upload shows its
/// progress line; with --quiet it does not.
#[test]
fn a_large_upload_shows_progress_on_a_terminal_only() {
    let Some(server) = real_server("POSTIE_TEST_AIOSMTPD") else {
        return;
    };
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(
            std::env::var_os("CI").is_none(),
            "script(1) is needed under CI"
        );
        return;
    }
    let dir = std::env::temp_dir().join(format!("postie-progress-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let big = dir.join("big.bin");
    std::fs::write(
        &big,
        (0..6_000_000u32)
            .map(|i| (i % 251) as u8)
            .collect::<Vec<u8>>(),
    )
    .unwrap();
    let run = |quiet: bool| {
        let command = format!(
            "{} send --server {} --port {} --to progress@example.org --subject big --body x --attach {}{}",
            env!("CARGO_BIN_EXE_postie"),
            server.host,
            server.port,
            big.display(),
            if quiet { " --quiet" } else { "" }
        );
        let out = Command::new("script")
            .args(["-qefc", &command, "/dev/null"])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let shown = run(false);
    assert!(shown.contains("postie: sending "), "{shown:?}");
    assert!(shown.contains(" MiB ("), "{shown:?}");
    let quiet = run(true);
    assert!(!quiet.contains("postie: sending"), "{quiet:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A fresh directory for one test.
fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("postie-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn set_mode(path: &std::path::Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// `--password-file` follows the accounts file's `password_file` rule: a
/// file group or others can read, directly or through a symbolic link, is
/// refused with exit 78 (EX_CONFIG), the file and the chmod to run named;
/// so is a missing one. Mode 600 is read.
#[test]
fn the_password_file_flag_follows_the_password_file_rule() {
    let dir = scratch("password-file");
    let secret = dir.join("pw");
    std::fs::write(&secret, "s3cret\n").unwrap();
    let link = dir.join("link");
    std::os::unix::fs::symlink(&secret, &link).unwrap();
    let send = |file: &std::path::Path| {
        postie(&[
            "send",
            "--dry-run",
            "--username",
            "u",
            "--password-file",
            file.to_str().unwrap(),
            "--from",
            "a@x.org",
            "--to",
            "b@x.org",
            "--body",
            "x",
        ])
    };
    set_mode(&secret, 0o644);
    for file in [&secret, &link] {
        let out = send(file);
        assert_eq!(out.status.code(), Some(78), "{}", stderr(&out));
        let text = stderr(&out);
        assert!(
            text.contains(&format!(
                "--password-file {} is open to group or others (mode 644): run chmod 600 {}",
                file.display(),
                file.display()
            )),
            "{text}"
        );
    }
    set_mode(&secret, 0o600);
    let out = send(&link);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = send(&dir.join("missing"));
    assert_eq!(out.status.code(), Some(78), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("missing: No such file"),
        "{}",
        stderr(&out)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// An accounts file group or others can write is refused with exit 78 and
/// the `chmod go-w FILE` to run: its password_command runs as the user.
#[test]
fn an_accounts_file_others_can_write_is_exit_78() {
    let dir = scratch("accounts-writable");
    let config = dir.join("config.toml");
    std::fs::write(&config, "[accounts.a]\nhost = \"h.invalid\"\n").unwrap();
    let send = || {
        postie(&[
            "send",
            "--dry-run",
            "--config",
            config.to_str().unwrap(),
            "--account",
            "a",
            "--from",
            "a@x.org",
            "--to",
            "b@x.org",
            "--body",
            "x",
        ])
    };
    set_mode(&config, 0o666);
    let out = send();
    assert_eq!(out.status.code(), Some(78), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("run chmod go-w {}", config.display())),
        "{}",
        stderr(&out)
    );
    set_mode(&config, 0o644);
    let out = send();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// An account whose secret cannot be read (a failing password_command, a
/// missing password_file, an unset password_env) exits 78, naming the
/// account and the source; nothing is sent.
#[test]
fn an_unreadable_account_secret_is_exit_78_naming_the_account() {
    let dir = scratch("account-secret");
    let config = dir.join("config.toml");
    let missing = dir.join("missing");
    for (source, want) in [
        (
            "password_command = \"exit 3\"".to_owned(),
            "account \"work\": password_command \"exit 3\" exited 3".to_owned(),
        ),
        (
            format!("password_command = \"cat {}\"", missing.display()),
            format!(
                "account \"work\": password_command \"cat {}\" exited 1",
                missing.display()
            ),
        ),
        (
            "password_env = \"POSTIE_TEST_NEVER_SET\"".to_owned(),
            "account \"work\": password_env POSTIE_TEST_NEVER_SET is not set".to_owned(),
        ),
    ] {
        std::fs::write(
            &config,
            format!("[accounts.work]\nhost = \"h.invalid\"\nusername = \"u\"\n{source}\n"),
        )
        .unwrap();
        set_mode(&config, 0o600);
        let out = postie(&[
            "send",
            "--dry-run",
            "--config",
            config.to_str().unwrap(),
            "--account",
            "work",
            "--from",
            "a@x.org",
            "--to",
            "b@x.org",
            "--body",
            "x",
        ]);
        assert_eq!(out.status.code(), Some(78), "{source}: {}", stderr(&out));
        assert!(stderr(&out).contains(&want), "{want}: {}", stderr(&out));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The secret is read by a process that cannot dump core: the password
/// command looks at its parent, postie. The kernel gives the `/proc` files
/// of a non-dumpable process to root, and the core size limit (which the
/// command inherits) is 0. Run as another user (65534) when the test runs
/// as root, since root owns its `/proc` files either way; the command's
/// own `/proc` entry is the control that shows the owner is observable.
#[cfg(target_os = "linux")]
#[test]
fn the_secret_is_read_by_a_process_that_cannot_dump_core() {
    use std::os::unix::process::CommandExt as _;
    let dir = scratch("not-dumpable");
    set_mode(&dir, 0o755);
    // A copy every user can run: the build directory may be private.
    let binary = dir.join("postie");
    std::fs::copy(env!("CARGO_BIN_EXE_postie"), &binary).unwrap();
    set_mode(&binary, 0o755);
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        "[accounts.a]\nhost = \"h.invalid\"\nusername = \"u\"\n\
         password_command = \"echo parent=$(stat -c %u /proc/$PPID/environ) self=$(stat -c %u /proc/$$/environ) core=$(ulimit -S -c)/$(ulimit -H -c) >&2; echo pw\"\n",
    )
    .unwrap();
    set_mode(&config, 0o644);
    // The test's own effective uid: the owner of its /proc entry.
    let euid = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self").unwrap());
    // A soft core limit above 0 to start from, as a shell might give.
    let mut cmd = Command::new("sh");
    cmd.args([
        "-c",
        "ulimit -S -c unlimited 2>/dev/null; exec \"$@\"",
        "sh",
    ])
    .arg(&binary)
    .args(["send", "--dry-run", "--config"])
    .arg(&config)
    .args(["--account", "a", "--from", "a@x.org", "--to", "b@x.org"])
    .args(["--body", "x"])
    .stdin(Stdio::null());
    let me = if euid == 0 {
        cmd.uid(65534).gid(65534);
        65534
    } else {
        euid
    };
    let out = cmd.output().unwrap();
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains(&format!("self={me} ")), "{text}");
    assert!(text.contains("parent=0 "), "{text}");
    assert!(text.contains("core=0/0"), "{text}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `--html-file` reads a file; `--html` with a mistyped file name is an
/// error (exit 66), never the name sent as the HTML.
#[test]
fn html_from_a_file_and_a_mistyped_file_name() {
    let dir = std::env::temp_dir().join(format!("postie-cli-html-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let page = dir.join("page.html");
    std::fs::write(&page, "<p>from the file</p>").unwrap();
    let out = postie(&[
        "send",
        "--dry-run",
        "--to",
        "a@x.org",
        "--html-file",
        page.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Content-Type: text/html"), "{text}");
    assert!(text.contains("from the file"), "{text}");

    let typo = dir.join("pgae.html");
    for value in [typo.to_str().unwrap(), "bodyy.html", "Report.HTM"] {
        let out = postie(&["send", "--dry-run", "--to", "a@x.org", "--html", value]);
        assert_eq!(out.status.code(), Some(66), "{value}: {}", stderr(&out));
        assert!(stderr(&out).contains("no such file"), "{}", stderr(&out));
        assert!(out.stdout.is_empty());
    }
    // HTML text, even ending in ".html", is text.
    let out = postie(&[
        "send",
        "--dry-run",
        "--to",
        "a@x.org",
        "--html",
        "<a href=\"x.html\">see x.html</a>",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("see x.html"));
    // Not both.
    let out = postie(&[
        "send",
        "--dry-run",
        "--to",
        "a@x.org",
        "--html",
        "<p>x</p>",
        "--html-file",
        page.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(64), "{}", stderr(&out));
    std::fs::remove_dir_all(dir).unwrap();
}

/// `--log-file` over STARTTLS and AUTH: the line names the TLS version and
/// the mechanism, and holds neither the password nor the AUTH exchange.
#[test]
fn the_sent_log_names_tls_and_auth_but_never_the_secret() {
    let Some((server, ca, user, password)) = tls_auth_env() else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("postie-cli-log-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("sent.log");
    let port = server.port.to_string();
    let out = postie_env(
        &[
            "send",
            "--server",
            &server.host,
            "--port",
            &port,
            "--ca-file",
            &ca,
            "--username",
            &user,
            "--password-env",
            "SMTP_PASSWORD",
            "--auth",
            "PLAIN",
            "--to",
            "logged@relay.test",
            "--body",
            "b",
            "--log-file",
            log.to_str().unwrap(),
        ],
        &[("SMTP_PASSWORD", &password)],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let line = std::fs::read_to_string(&log).unwrap();
    assert!(line.contains("tls=TLSv1."), "{line}");
    assert!(line.contains("auth=PLAIN"), "{line}");
    assert!(line.contains("recipients=logged@relay.test"), "{line}");
    assert!(!line.contains(&password), "{line}");
    std::fs::remove_dir_all(dir).unwrap();
}

/// `--source-ip` reaches the connection: an address this host does not
/// have fails, naming it.
#[test]
fn the_source_ip_flag_reaches_the_connection() {
    let port = closed_port().to_string();
    let out = postie(&[
        "send",
        "--server",
        "127.0.0.1",
        "--port",
        &port,
        "--source-ip",
        "192.0.2.1",
        "--to",
        "a@example.org",
        "--body",
        "b",
    ]);
    assert_eq!(out.status.code(), Some(75), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot connect from the source address 192.0.2.1"),
        "{}",
        stderr(&out)
    );
}
