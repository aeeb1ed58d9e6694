//! `postie probe` against the real test servers (`scripts/servers.sh`) and,
//! for what real servers will not do, the scripted one.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Command, Output, Stdio};

use postie_testkit::{closed_port, real_path, real_server, RealServer, Script, ScriptedServer};
use serde_json::Value;

fn postie(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_postie"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs `postie probe ARGS --json`, checks the exit code, and returns the
/// object it printed.
fn probe_json(args: &[&str], code: i32) -> Value {
    let mut all = vec!["probe"];
    all.extend_from_slice(args);
    all.push("--json");
    let out = postie(&all);
    assert_eq!(
        out.status.code(),
        Some(code),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(&out)))
}

/// The server by name, so that the certificate's name can match.
fn localhost(server: &RealServer) -> String {
    format!("localhost:{}", server.port)
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {value}"))
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

fn ca() -> String {
    real_path("POSTIE_TEST_CA").unwrap().display().to_string()
}

#[test]
fn plain_postfix_shows_its_greeting_and_extensions() {
    let Some(server) = real_server("POSTIE_TEST_POSTFIX") else {
        return;
    };
    let target = localhost(&server);
    let report = probe_json(&[&target], 0);
    assert_eq!(report["server"], target.as_str());
    assert_eq!(report["greeting"]["code"], 220);
    assert!(report["greeting"]["text"]
        .as_str()
        .unwrap()
        .contains("ESMTP"));
    assert_eq!(report["esmtp"], true);
    let caps = strings(&report["capabilities"]);
    for keyword in [
        "PIPELINING",
        "SIZE 10240000",
        "8BITMIME",
        "SMTPUTF8",
        "DSN",
        "CHUNKING",
    ] {
        assert!(caps.iter().any(|c| c == keyword), "{keyword}: {caps:?}");
    }
    assert!(!caps.iter().any(|c| c == "STARTTLS"), "{caps:?}");
    assert_eq!(report["size"], 10240000);
    assert_eq!(report["auth_before_tls"], serde_json::json!([]));
    assert_eq!(report["starttls"]["offered"], false);
    assert_eq!(report["starttls"]["ok"], Value::Null);
    assert_eq!(report["certificate"], Value::Null);
    assert_eq!(report["auth_after_tls"], Value::Null);
    assert_eq!(report["implicit_tls"], Value::Null);
    assert_eq!(report["error"], Value::Null);
}

#[test]
fn plain_postfix_in_words() {
    let Some(server) = real_server("POSTIE_TEST_POSTFIX") else {
        return;
    };
    let out = postie(&["probe", &localhost(&server)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("Greeting: 220 "), "{text}");
    assert!(text.contains("ESMTP: yes\n"), "{text}");
    assert!(text.contains("Capabilities: PIPELINING"), "{text}");
    assert!(text.contains("SIZE: 10240000\n"), "{text}");
    assert!(text.contains("AUTH before TLS: none\n"), "{text}");
    assert!(text.contains("STARTTLS: not offered\n"), "{text}");
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
}

#[test]
fn starttls_with_the_test_ca_verifies_and_shows_auth_only_after_tls() {
    let Some(server) = real_server("POSTIE_TEST_POSTFIX_STARTTLS") else {
        return;
    };
    let ca = ca();
    let report = probe_json(&[&localhost(&server), "--ca-file", &ca], 0);
    assert!(strings(&report["capabilities"]).contains(&"STARTTLS".to_owned()));
    assert_eq!(report["auth_before_tls"], serde_json::json!([]));
    let starttls = &report["starttls"];
    assert_eq!(starttls["offered"], true);
    assert_eq!(starttls["ok"], true);
    assert!(starttls["version"].as_str().unwrap().starts_with("TLSv1."));
    assert!(starttls["cipher"].as_str().unwrap().starts_with("TLS"));
    assert_eq!(starttls["error"], Value::Null);
    let cert = &report["certificate"];
    assert_eq!(cert["verified"], true, "{cert}");
    assert_eq!(cert["error"], Value::Null);
    assert_eq!(cert["error_kind"], Value::Null);
    assert!(cert["subject"].as_str().unwrap().contains("CN=localhost"));
    assert!(cert["issuer"].as_str().unwrap().contains("CN="));
    let names = strings(&cert["names"]);
    for name in ["localhost", "postfix.test", "127.0.0.1"] {
        assert!(names.contains(&name.to_owned()), "{names:?}");
    }
    assert!(cert["not_before"].as_str().unwrap().ends_with('Z'));
    assert!(cert["not_after"].as_str().unwrap().ends_with('Z'));
    assert!(cert["days_left"].as_i64().unwrap() >= 0);
    let after = strings(&report["auth_after_tls"]);
    assert!(after.contains(&"PLAIN".to_owned()), "{after:?}");
    assert!(after.contains(&"SCRAM-SHA-256".to_owned()), "{after:?}");
    let caps_after = strings(&report["capabilities_after_tls"]);
    assert!(caps_after.iter().any(|c| c.starts_with("AUTH ")));
    assert!(!caps_after.contains(&"STARTTLS".to_owned()));
    assert_eq!(report["size"], 10240000);
    assert_eq!(report["error"], Value::Null);
}

#[test]
fn starttls_in_words() {
    let Some(server) = real_server("POSTIE_TEST_POSTFIX_STARTTLS") else {
        return;
    };
    let ca = ca();
    let out = postie(&["probe", &localhost(&server), "--ca-file", &ca]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("AUTH before TLS: none\n"), "{text}");
    assert!(text.contains("STARTTLS: ok, TLSv1."), "{text}");
    assert!(text.contains("Certificate: subject CN=localhost"), "{text}");
    assert!(text.contains("Certificate names: localhost"), "{text}");
    assert!(text.contains("Certificate valid: "), "{text}");
    assert!(text.contains("Verifies for localhost: yes\n"), "{text}");
    assert!(text.contains("AUTH after TLS: PLAIN"), "{text}");
}

#[test]
fn a_certificate_from_an_unknown_ca_is_reported_not_fatal() {
    let Some(server) = real_server("POSTIE_TEST_POSTFIX_STARTTLS") else {
        return;
    };
    let report = probe_json(&[&localhost(&server)], 0);
    assert_eq!(report["starttls"]["ok"], true);
    let cert = &report["certificate"];
    assert_eq!(cert["verified"], false, "{cert}");
    assert_eq!(cert["error_kind"], "unknown_issuer");
    assert!(
        cert["error"].as_str().unwrap().contains("unknown issuer"),
        "{cert}"
    );
    // Read all the same, over the second connection.
    assert!(cert["subject"].as_str().unwrap().contains("CN=localhost"));
    assert!(strings(&cert["names"]).contains(&"localhost".to_owned()));
    assert!(strings(&report["auth_after_tls"]).contains(&"SCRAM-SHA-256".to_owned()));
    assert_eq!(report["error"], Value::Null);

    let out = postie(&["probe", &localhost(&server)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("Verifies for localhost: no (unknown issuer"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn implicit_tls_on_the_smtps_port() {
    let Some(server) = real_server("POSTIE_TEST_POSTFIX_SMTPS") else {
        return;
    };
    let ca = ca();
    let report = probe_json(
        &[&localhost(&server), "--tls", "implicit", "--ca-file", &ca],
        0,
    );
    let tls = &report["implicit_tls"];
    assert_eq!(tls["ok"], true, "{report}");
    assert!(tls["version"].as_str().unwrap().starts_with("TLSv1."));
    assert_eq!(report["starttls"], Value::Null);
    assert_eq!(report["greeting"]["code"], 220);
    assert_eq!(report["certificate"]["verified"], true);
    assert_eq!(report["auth_before_tls"], serde_json::json!([]));
    assert!(strings(&report["auth_after_tls"]).contains(&"PLAIN".to_owned()));
    assert_eq!(report["error"], Value::Null);
}

#[test]
fn a_certificate_for_another_name_says_which() {
    let Some(server) = real_server("POSTIE_TEST_POSTFIX_WRONG_NAME") else {
        return;
    };
    let ca = ca();
    let report = probe_json(&[&localhost(&server), "--ca-file", &ca], 0);
    let cert = &report["certificate"];
    assert_eq!(cert["verified"], false, "{cert}");
    assert_eq!(cert["error_kind"], "wrong_name");
    let error = cert["error"].as_str().unwrap();
    assert!(error.contains("wrong.example"), "{error}");
    assert!(error.contains("not localhost"), "{error}");
    assert_eq!(strings(&cert["names"]), ["wrong.example"]);
    assert_eq!(report["error"], Value::Null);
}

#[test]
fn a_self_signed_certificate_is_named_so() {
    let Some(server) = real_server("POSTIE_TEST_POSTFIX_SELF_SIGNED") else {
        return;
    };
    let ca = ca();
    let report = probe_json(&[&localhost(&server), "--ca-file", &ca], 0);
    let cert = &report["certificate"];
    assert_eq!(cert["verified"], false, "{cert}");
    assert_eq!(cert["error_kind"], "self_signed");
    let error = cert["error"].as_str().unwrap();
    assert!(error.contains("unknown issuer"), "{error}");
    assert!(error.contains("self-signed"), "{error}");
    assert_eq!(cert["subject"], cert["issuer"]);
}

#[test]
fn a_server_without_extensions() {
    let Some(server) = real_server("POSTIE_TEST_POSTFIX_BARE") else {
        return;
    };
    let report = probe_json(&[&localhost(&server)], 0);
    assert_eq!(report["esmtp"], true);
    let caps = strings(&report["capabilities"]);
    for keyword in ["PIPELINING", "8BITMIME", "SMTPUTF8", "DSN", "CHUNKING"] {
        assert!(!caps.iter().any(|c| c == keyword), "{keyword}: {caps:?}");
    }
    assert!(!caps.iter().any(|c| c.starts_with("SIZE")), "{caps:?}");
    assert_eq!(report["size"], Value::Null);
    assert_eq!(report["starttls"]["offered"], false);
}

#[test]
fn tls_required_without_starttls_is_69() {
    let Some(server) = real_server("POSTIE_TEST_POSTFIX") else {
        return;
    };
    let report = probe_json(&[&localhost(&server), "--tls", "required"], 69);
    assert_eq!(report["starttls"]["offered"], false);
    // What was learnt before is still there.
    assert_eq!(report["greeting"]["code"], 220);
    assert!(
        report["error"].as_str().unwrap().contains("STARTTLS"),
        "{report}"
    );
}

#[test]
fn the_smtps_port_without_tls_implicit_gets_a_hint() {
    let Some(server) = real_server("POSTIE_TEST_POSTFIX_SMTPS") else {
        return;
    };
    let out = postie(&["probe", &localhost(&server), "--timeout", "2"]);
    assert_eq!(out.status.code(), Some(69), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("no greeting"), "{err}");
    assert!(err.contains("use --tls implicit"), "{err}");
}

#[test]
fn implicit_tls_on_a_plain_port_gets_a_hint() {
    let Some(server) = real_server("POSTIE_TEST_POSTFIX") else {
        return;
    };
    let report = probe_json(&[&localhost(&server), "--tls", "implicit"], 69);
    assert_eq!(report["implicit_tls"]["ok"], false);
    assert!(
        report["hint"].as_str().unwrap().contains("--tls starttls"),
        "{report}"
    );
    assert!(
        report["error"].as_str().unwrap().contains("plain text"),
        "{report}"
    );
}

#[test]
fn nothing_listening_is_75() {
    let port = closed_port();
    let target = format!("127.0.0.1:{port}");
    let report = probe_json(&[&target, "--timeout", "5"], 75);
    assert!(
        report["error"].as_str().unwrap().contains("cannot connect"),
        "{report}"
    );
    assert_eq!(report["greeting"], Value::Null);
}

#[test]
fn a_name_that_does_not_resolve_is_68() {
    let report = probe_json(&["nonexistent.invalid", "--timeout", "10"], 68);
    assert_eq!(report["server"], "nonexistent.invalid:25");
    assert!(
        report["error"]
            .as_str()
            .unwrap()
            .contains("does not resolve"),
        "{report}"
    );
}

#[test]
fn bad_arguments_are_64() {
    for args in [
        vec!["probe", "host:0"],
        vec!["probe", "host:smtp"],
        vec!["probe", "[::1"],
        vec!["probe", "two words"],
        vec!["probe", "localhost", "--timeout", "0"],
        vec!["probe", "localhost", "--client", "a b"],
        vec!["probe", "localhost", "--ca-file", "/nonexistent/ca.pem"],
    ] {
        let out = postie(&args);
        assert_eq!(out.status.code(), Some(64), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).starts_with("postie probe: "),
            "{}",
            stderr(&out)
        );
    }
}

#[test]
fn the_dialogue_is_ehlo_and_quit_and_never_mail() {
    let server = ScriptedServer::start(vec![Script::new()
        .greet(&["SIZE 1000", "PIPELINING"])
        .reply("221 bye\r\n")
        .close()]);
    let target = format!("127.0.0.1:{}", server.port());
    let report = probe_json(&[&target, "--client", "probe.test"], 0);
    assert_eq!(report["size"], 1000);
    let sessions = server.finish();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].commands, ["EHLO probe.test", "QUIT"]);
}

#[test]
fn helo_after_a_refused_ehlo() {
    let server = ScriptedServer::start(vec![Script::new()
        .send("220 old.test SMTP\r\n")
        .reply("502 5.5.2 command not recognized\r\n")
        .reply("250 old.test\r\n")
        .reply("221 bye\r\n")
        .close()]);
    let target = format!("127.0.0.1:{}", server.port());
    let report = probe_json(&[&target, "--client", "probe.test"], 0);
    assert_eq!(report["esmtp"], false);
    assert_eq!(report["capabilities"], serde_json::json!([]));
    let sessions = server.finish();
    assert_eq!(
        sessions[0].commands,
        ["EHLO probe.test", "HELO probe.test", "QUIT"]
    );
}

#[test]
fn tls_where_the_greeting_should_be_gets_a_hint() {
    // The start of a TLS record (handshake, TLS 1.2) instead of "220".
    let server = ScriptedServer::start(vec![Script::new()
        .send(b"\x16\x03\x03\x00\x02\x02\x28")
        .close()]);
    let target = format!("127.0.0.1:{}", server.port());
    let report = probe_json(&[&target, "--timeout", "5"], 69);
    assert!(
        report["hint"].as_str().unwrap().contains("--tls implicit"),
        "{report}"
    );
}

#[test]
fn a_refusing_greeting_is_reported_and_quit() {
    let server = ScriptedServer::start(vec![Script::new()
        .send("554 5.3.2 no service for you\r\n")
        .reply("221 bye\r\n")
        .close()]);
    let target = format!("127.0.0.1:{}", server.port());
    let report = probe_json(&[&target], 69);
    assert_eq!(report["greeting"]["code"], 554);
    assert!(
        report["error"].as_str().unwrap().contains("554"),
        "{report}"
    );
    assert_eq!(server.finish()[0].commands, ["QUIT"]);
}

#[test]
fn bytes_after_the_starttls_reply_stop_the_probe() {
    // A reply smuggled behind the 220 would be taken as coming over TLS.
    let server = ScriptedServer::start(vec![Script::new()
        .greet(&["STARTTLS"])
        .reply("220 go ahead\r\n250 injected\r\n")
        .close()]);
    let target = format!("127.0.0.1:{}", server.port());
    let report = probe_json(&[&target, "--tls", "required"], 69);
    assert!(
        report["starttls"]["error"]
            .as_str()
            .unwrap()
            .contains("more after its reply to STARTTLS"),
        "{report}"
    );
}

/// A self-signed certificate marked as a CA (what `openssl req -x509` makes
/// by default) is named in words, not as webpki's `CaUsedAsEndEntity` or a
/// bad signature.
#[test]
fn a_self_signed_ca_certificate_is_named_in_words() {
    let session = || {
        Script::new()
            .greet(&["STARTTLS"])
            .reply("220 go ahead\r\n")
            .start_tls(postie_testkit::Cert::SelfSignedCa)
            .reply("250-localhost\r\n250 SIZE 1000\r\n")
            .reply("221 bye\r\n")
            .close()
    };
    let server = ScriptedServer::start(vec![session(), session(), session()]);
    let target = format!("localhost:{}", server.port());
    let out = postie(&["probe", &target, "--json"]);
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", stdout(&out), stderr(&out)));
    let cert = &report["certificate"];
    assert_eq!(cert["verified"], false, "{report}");
    assert_eq!(cert["error_kind"], "self_signed", "{report}");
    let error = cert["error"].as_str().unwrap();
    assert!(error.contains("self-signed and marked as a CA"), "{error}");
    assert!(
        !report.to_string().contains("CaUsedAsEndEntity"),
        "{report}"
    );
}

/// The handshake the probe shares with the blocking driver, over the
/// scripted server: verified with the test CA, and EHLO again over TLS.
#[test]
fn starttls_verified_against_the_scripted_server() {
    let server = ScriptedServer::start(vec![Script::new()
        .greet(&["STARTTLS"])
        .reply("220 go ahead\r\n")
        .start_tls(postie_testkit::Cert::Trusted)
        .reply("250-localhost\r\n250 SIZE 2000\r\n")
        .reply("221 bye\r\n")
        .close()]);
    let target = format!("localhost:{}", server.port());
    let ca = postie_testkit::ca_file().display().to_string();
    let report = probe_json(&[&target, "--ca-file", &ca, "--client", "probe.test"], 0);
    assert_eq!(report["starttls"]["ok"], true, "{report}");
    assert_eq!(report["certificate"]["verified"], true, "{report}");
    assert_eq!(report["size"], 2000);
    let sessions = server.finish();
    assert!(sessions[0].tls);
    assert_eq!(
        sessions[0].commands,
        ["EHLO probe.test", "STARTTLS", "EHLO probe.test", "QUIT"]
    );
}

/// A greeting where a ServerHello should be: the first bytes the shared
/// handshake keeps are recognised as SMTP.
#[test]
fn implicit_tls_on_a_scripted_plain_port_is_named_plain_text() {
    let server =
        ScriptedServer::start(vec![Script::new().send("220 plain.test ESMTP\r\n").close()]);
    let target = format!("localhost:{}", server.port());
    let report = probe_json(&[&target, "--tls", "implicit", "--timeout", "5"], 69);
    assert_eq!(report["implicit_tls"]["ok"], false, "{report}");
    assert!(
        report["error"].as_str().unwrap().contains("plain text"),
        "{report}"
    );
    assert!(
        report["hint"].as_str().unwrap().contains("--tls starttls"),
        "{report}"
    );
}

#[test]
fn lmtp_says_lhlo_and_never_falls_back_to_helo() {
    let server = ScriptedServer::start(vec![Script::new()
        .greet(&["PIPELINING", "ENHANCEDSTATUSCODES"])
        .reply("221 bye\r\n")
        .close()]);
    let target = format!("127.0.0.1:{}", server.port());
    let report = probe_json(
        &[&target, "--client", "probe.test", "--lmtp", "--tls", "none"],
        0,
    );
    assert_eq!(report["protocol"], "lmtp");
    assert_eq!(report["esmtp"], true);
    assert_eq!(server.finish()[0].commands, ["LHLO probe.test", "QUIT"]);

    // A refused LHLO is the answer: LMTP has no HELO.
    let server = ScriptedServer::start(vec![Script::new()
        .send("220 lmtp.test LMTP\r\n")
        .reply("500 5.5.1 unknown command\r\n")
        .reply("221 bye\r\n")
        .close()]);
    let target = format!("127.0.0.1:{}", server.port());
    let out = postie(&["probe", &target, "--lmtp", "--tls", "none"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("LHLO") || stdout(&out).contains("LHLO"),
        "{}",
        stderr(&out)
    );
    let commands = &server.finish()[0].commands;
    assert!(commands[0].starts_with("LHLO "), "{commands:?}");
    assert!(
        !commands.iter().any(|c| c.starts_with("HELO")),
        "{commands:?}"
    );
}

#[test]
fn the_test_lmtp_server_answers_a_probe() {
    let Some(server) = real_server("POSTIE_TEST_LMTP") else {
        return;
    };
    let target = format!("127.0.0.1:{}", server.port);
    let report = probe_json(&[&target, "--lmtp", "--tls", "none"], 0);
    assert_eq!(report["protocol"], "lmtp");
    assert_eq!(report["greeting"]["code"], 220);
    assert!(!strings(&report["capabilities"]).is_empty(), "{report}");
}

/// A directory of its own for a test's socket paths, empty.
fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("postie-probe-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The test LMTP server's Unix socket: a path is a socket, with no
/// address, no DNS and no TLS; everything else as over TCP.
#[test]
fn the_test_lmtp_server_answers_a_probe_over_its_unix_socket() {
    let Some(socket) = real_path("POSTIE_TEST_LMTP_SOCKET") else {
        return;
    };
    let path = socket.to_str().unwrap();
    let report = probe_json(&[path, "--lmtp", "--client", "probe.test"], 0);
    assert_eq!(report["server"], path);
    assert_eq!(report["address"], Value::Null);
    assert_eq!(report["protocol"], "lmtp");
    assert_eq!(report["greeting"]["code"], 220);
    assert!(
        report["greeting"]["text"]
            .as_str()
            .unwrap()
            .starts_with("lmtp.test"),
        "{report}"
    );
    assert_eq!(report["esmtp"], true);
    let caps = strings(&report["capabilities"]);
    for keyword in [
        "SIZE 33554432",
        "8BITMIME",
        "SMTPUTF8",
        "PIPELINING",
        "ENHANCEDSTATUSCODES",
    ] {
        assert!(caps.iter().any(|c| c == keyword), "{keyword}: {caps:?}");
    }
    assert_eq!(report["size"], 33554432);
    assert_eq!(report["auth_before_tls"], serde_json::json!([]));
    // Looked at, not tried: the server does not offer it anyway.
    assert_eq!(report["starttls"]["offered"], false);
    assert_eq!(report["starttls"]["ok"], Value::Null);
    assert_eq!(report["implicit_tls"], Value::Null);
    assert_eq!(report["certificate"], Value::Null);
    assert_eq!(report["error"], Value::Null);
    assert_eq!(report["hint"], Value::Null);
}

#[test]
fn the_test_lmtp_socket_in_words() {
    let Some(socket) = real_path("POSTIE_TEST_LMTP_SOCKET") else {
        return;
    };
    let path = socket.to_str().unwrap();
    let out = postie(&["probe", "--lmtp", path]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with(&format!("Server: {path}\n")), "{text}");
    assert!(text.contains("Greeting: 220 lmtp.test"), "{text}");
    assert!(text.contains("LMTP: yes (LHLO accepted)\n"), "{text}");
    assert!(text.contains("SIZE: 33554432\n"), "{text}");
    assert!(text.contains("STARTTLS: not offered\n"), "{text}");
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
}

/// Without --lmtp a path is still a socket, as for `postie send
/// --server`: EHLO and HELO go to the LMTP server, which refuses both.
#[test]
fn a_socket_without_lmtp_speaks_smtp_and_the_lmtp_server_refuses_it() {
    let Some(socket) = real_path("POSTIE_TEST_LMTP_SOCKET") else {
        return;
    };
    let path = socket.to_str().unwrap();
    let report = probe_json(&[path], 69);
    assert_eq!(report["protocol"], "smtp");
    assert_eq!(report["greeting"]["code"], 220);
    let error = report["error"].as_str().unwrap();
    assert!(
        error.starts_with(&format!("{path} refused HELO: 500")),
        "{report}"
    );
}

/// A path where nothing is, a socket nobody listens on, a regular file and
/// a directory: one line naming the path, exit 75 as for a refused TCP
/// connection (and as `postie send` exits for each of them).
#[test]
fn nothing_listening_on_a_socket_path_is_75() {
    let dir = scratch("nothing");
    let none = dir.join("none.sock");
    let dead = dir.join("dead.sock");
    drop(std::os::unix::net::UnixListener::bind(&dead).unwrap());
    let file = dir.join("file");
    std::fs::write(&file, "not a socket").unwrap();
    for (path, words) in [
        (&none, "no such file"),
        (&dead, "connection refused"),
        (&file, "not a socket but a regular file"),
        (&dir, "not a socket but a directory"),
    ] {
        let path = path.to_str().unwrap();
        let report = probe_json(&[path, "--lmtp"], 75);
        assert_eq!(report["server"], path);
        assert_eq!(report["greeting"], Value::Null);
        let error = report["error"].as_str().unwrap();
        assert!(
            error.starts_with(&format!("cannot connect to {path}: {words}")),
            "{report}"
        );

        let out = postie(&["probe", path, "--lmtp"]);
        assert_eq!(out.status.code(), Some(75), "{}", stderr(&out));
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with("postie probe: cannot connect to "), "{err}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A path that is a regular file, on its own: it is not a socket, and is
/// never read as one.
#[test]
fn a_regular_file_is_not_a_socket() {
    let dir = scratch("file");
    let file = dir.join("lmtp");
    std::fs::write(&file, "220 not a server\r\n").unwrap();
    let path = file.to_str().unwrap();
    let out = postie(&["probe", "--lmtp", path]);
    assert_eq!(out.status.code(), Some(75), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        format!("postie probe: cannot connect to {path}: not a socket but a regular file\n")
    );
    assert!(!stdout(&out).contains("Greeting"), "{}", stdout(&out));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// --tls required and implicit cannot be met on a socket: a usage error
/// before connecting (the path does not exist, which would be 75).
#[test]
fn tls_required_or_implicit_on_a_socket_is_64() {
    let dir = scratch("tls");
    let path = dir.join("lmtp.sock");
    let path = path.to_str().unwrap();
    for mode in ["required", "implicit"] {
        let out = postie(&["probe", path, "--lmtp", "--tls", mode]);
        assert_eq!(out.status.code(), Some(64), "{mode}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.starts_with(&format!(
                "postie probe: --tls {mode} cannot be met on a Unix socket ({path})"
            )),
            "{err}"
        );
        assert!(stdout(&out).is_empty(), "{}", stdout(&out));
    }
    // A relative path is neither a socket nor a host, and says why.
    let out = postie(&["probe", "run/lmtp", "--lmtp"]);
    assert_eq!(out.status.code(), Some(64), "{}", stderr(&out));
    assert!(stderr(&out).contains("starting with /"), "{}", stderr(&out));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A server on a Unix socket that offers STARTTLS: it is reported as
/// offered and not tried, as `postie send` does not try it there.
#[test]
fn starttls_is_not_tried_on_a_socket() {
    let dir = scratch("starttls");
    let path = dir.join("lmtp.sock");
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    // Two probes: JSON, then words.
    let server = std::thread::spawn(move || {
        (0..2)
            .map(|_| offer_starttls(listener.accept().unwrap().0))
            .collect::<Vec<_>>()
    });
    let socket = path.to_str().unwrap();
    let report = probe_json(&[socket, "--lmtp", "--client", "probe.test"], 0);
    assert_eq!(report["starttls"]["offered"], true);
    assert_eq!(report["starttls"]["ok"], Value::Null);
    assert_eq!(report["certificate"], Value::Null);
    let out = postie(&["probe", socket, "--lmtp"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("STARTTLS: offered, not tried on a Unix socket\n"),
        "{text}"
    );
    let sessions = server.join().unwrap();
    assert_eq!(sessions[0], ["LHLO probe.test", "QUIT"]);
    assert!(!sessions[1].iter().any(|c| c == "STARTTLS"), "{sessions:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// One LMTP session that offers STARTTLS after LHLO; the commands it got.
fn offer_starttls(stream: std::os::unix::net::UnixStream) -> Vec<String> {
    use std::io::{BufRead, BufReader, Write};

    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    writer.write_all(b"220 lmtp.test LMTP\r\n").unwrap();
    let mut commands = Vec::new();
    let mut line = String::new();
    while reader.read_line(&mut line).unwrap() > 0 {
        let command = line.trim_end().to_owned();
        line.clear();
        let reply: &[u8] = if command.starts_with("LHLO ") {
            b"250-lmtp.test\r\n250-STARTTLS\r\n250 PIPELINING\r\n"
        } else if command == "QUIT" {
            b"221 bye\r\n"
        } else {
            b"500 5.5.1 not expected\r\n"
        };
        writer.write_all(reply).unwrap();
        let quit = command == "QUIT";
        commands.push(command);
        if quit {
            break;
        }
    }
    commands
}

/// The SHA-256 fingerprint of a certificate of the test servers' TLS
/// directory (`selfsigned`, `server`), as openssl computes it, in the form
/// postie prints it (`sha256:` and upper-case pairs).
fn openssl_fingerprint(stem: &str) -> String {
    let dir = real_path("POSTIE_TEST_TLS_DIR").unwrap();
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(dir.join(format!("{stem}.pem")))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    // `sha256 Fingerprint=AB:CD:...`
    let text = String::from_utf8(out.stdout).unwrap();
    let hex = text.trim().split_once('=').unwrap().1;
    format!("sha256:{}", hex.to_ascii_uppercase())
}

/// The fingerprint is printed (text and JSON) for a certificate that
/// verifies and for one that does not, in the form `send
/// --tls-fingerprint` takes: copied from the probe's line, it is what the
/// self-signed server is then trusted by.
#[test]
fn the_certificate_fingerprint_is_shown_ready_to_pin() {
    let (Some(self_signed), Some(starttls)) = (
        real_server("POSTIE_TEST_POSTFIX_SELF_SIGNED"),
        real_server("POSTIE_TEST_POSTFIX_STARTTLS"),
    ) else {
        return;
    };
    let ca = ca();
    let report = probe_json(&[&localhost(&starttls), "--ca-file", &ca], 0);
    assert_eq!(report["certificate"]["verified"], true);
    assert_eq!(
        report["certificate"]["fingerprint"],
        openssl_fingerprint("server").as_str()
    );
    let expected = openssl_fingerprint("selfsigned");
    let report = probe_json(&[&localhost(&self_signed)], 0);
    assert_eq!(report["certificate"]["verified"], false);
    assert_eq!(report["certificate"]["fingerprint"], expected.as_str());
    let out = postie(&["probe", &localhost(&self_signed)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let copied = text
        .lines()
        .find_map(|line| line.strip_prefix("Certificate fingerprint: "))
        .unwrap_or_else(|| panic!("no fingerprint line: {text}"));
    assert_eq!(copied, expected);
    assert!(text.contains("--tls-fingerprint"), "{text}");
    let token = format!("pinned-from-probe-{}", std::process::id());
    let port = self_signed.port.to_string();
    let out = postie(&[
        "send",
        "--server",
        &self_signed.host,
        "--port",
        &port,
        "--tls",
        "required",
        "--tls-fingerprint",
        copied,
        "--to",
        "probe-pinned@example.org",
        "--body",
        &token,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let new = real_path("POSTIE_TEST_POSTFIX_MAIL")
        .unwrap()
        .join("example.org/probe-pinned/new");
    let delivered = postie_testkit::wait_for(std::time::Duration::from_secs(20), || {
        std::fs::read_dir(&new)
            .ok()?
            .flatten()
            .find(|e| std::fs::read_to_string(e.path()).is_ok_and(|text| text.contains(&token)))
    });
    assert!(delivered.is_some(), "not delivered to {}", new.display());
}

/// `postie probe ARGS` with `PROBE_PW` set to `password`.
fn probe_with_password(args: &[&str], password: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_postie"))
        .arg("probe")
        .args(args)
        .env("PROBE_PW", password)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn sasl_user() -> (String, String) {
    let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"));
    (
        var("POSTIE_TEST_SASL_USER"),
        var("POSTIE_TEST_SASL_PASSWORD"),
    )
}

#[test]
fn auth_is_tested_after_tls_with_scram_and_plain() {
    let Some(server) = real_server("POSTIE_TEST_POSTFIX_STARTTLS") else {
        return;
    };
    let (user, password) = sasl_user();
    let (target, ca) = (localhost(&server), ca());
    for mechanism in ["SCRAM-SHA-256", "PLAIN"] {
        let base = [
            target.as_str(),
            "--ca-file",
            &ca,
            "--username",
            &user,
            "--password-env",
            "PROBE_PW",
            "--auth",
            mechanism,
        ];
        let out = probe_with_password(&base, &password);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let text = stdout(&out);
        assert!(
            text.contains(&format!("\nAUTH {mechanism}: accepted\n")),
            "{text}"
        );
        let mut json_args = base.to_vec();
        json_args.push("--json");
        let out = probe_with_password(&json_args, &password);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        let auth = &report["auth"];
        assert_eq!(auth["mechanism"], mechanism, "{auth}");
        assert_eq!(auth["ok"], true, "{auth}");
        assert_eq!(auth["outcome"], "accepted", "{auth}");
        assert_eq!(auth["code"], 235, "{auth}");
        assert_eq!(report["error"], Value::Null);
        assert!(!stdout(&out).contains(&password) && !stderr(&out).contains(&password));
    }
    // The password from a file (send's flag), the mechanism chosen as send
    // chooses it: the strongest offered.
    let dir = scratch("auth-file");
    let file = dir.join("password");
    std::fs::write(&file, format!("{password}\n")).unwrap();
    std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let out = postie(&[
        "probe",
        &target,
        "--ca-file",
        &ca,
        "--username",
        &user,
        "--password-file",
        file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("\nAUTH SCRAM-SHA-256: accepted\n"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn a_wrong_password_at_probe_auth_is_77_and_never_shown() {
    let Some(server) = real_server("POSTIE_TEST_POSTFIX_STARTTLS") else {
        return;
    };
    let (user, _) = sasl_user();
    let wrong = "definitely-wrong-secret";
    let (target, ca) = (localhost(&server), ca());
    let args = [
        target.as_str(),
        "--ca-file",
        &ca,
        "--username",
        &user,
        "--password-env",
        "PROBE_PW",
    ];
    let mut json_args = args.to_vec();
    json_args.push("--json");
    let out = probe_with_password(&json_args, wrong);
    assert_eq!(out.status.code(), Some(77), "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let auth = &report["auth"];
    assert_eq!(auth["mechanism"], "SCRAM-SHA-256", "{auth}");
    assert_eq!(auth["ok"], false, "{auth}");
    assert_eq!(auth["outcome"], "refused", "{auth}");
    assert_eq!(auth["code"], 535, "{auth}");
    assert!(
        report["error"].as_str().unwrap().contains("535"),
        "{report}"
    );
    // In words, with the dialogue: AUTH redacted, then QUIT and no MAIL.
    for mechanism in ["SCRAM-SHA-256", "PLAIN"] {
        let mut verbose = args.to_vec();
        verbose.extend(["-v", "--auth", mechanism]);
        let out = probe_with_password(&verbose, wrong);
        assert_eq!(out.status.code(), Some(77), "{}", stderr(&out));
        let text = stdout(&out);
        assert!(
            text.contains(&format!("\nAUTH {mechanism}: refused: 535 5.7.8 ")),
            "{text}"
        );
        let transcript = stderr(&out);
        assert!(
            transcript.contains(&format!("C: AUTH {mechanism} [redacted]\n")),
            "{transcript}"
        );
        assert!(transcript.contains("C: QUIT\n"), "{transcript}");
        // Every line the client sent is one of these: no MAIL, and no AUTH
        // payload (the password, or its base64 in PLAIN) shown.
        for line in transcript.lines().filter(|l| l.starts_with("C: ")) {
            assert!(
                line.starts_with("C: EHLO ")
                    || ["C: STARTTLS", "C: [redacted]", "C: QUIT"].contains(&line)
                    || line == format!("C: AUTH {mechanism} [redacted]"),
                "{line}"
            );
        }
        assert!(!stdout(&out).contains(wrong) && !transcript.contains(wrong));
    }
}

#[test]
fn credentials_are_never_sent_over_an_unverified_certificate() {
    let Some(server) = real_server("POSTIE_TEST_POSTFIX_SELF_SIGNED") else {
        return;
    };
    let (user, password) = sasl_user();
    let out = probe_with_password(
        &[
            &localhost(&server),
            "--username",
            &user,
            "--password-env",
            "PROBE_PW",
            "--json",
            "-v",
        ],
        &password,
    );
    assert_eq!(out.status.code(), Some(69), "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["certificate"]["verified"], false);
    assert_eq!(report["auth"]["outcome"], "not_tried", "{report}");
    assert_eq!(report["auth"]["ok"], false, "{report}");
    assert!(
        report["auth"]["text"]
            .as_str()
            .unwrap()
            .contains("did not verify"),
        "{report}"
    );
    assert!(!stderr(&out).contains("C: AUTH"), "{}", stderr(&out));
}

/// Against the scripted server, in clear on loopback: EHLO, the AUTH
/// command with its initial response, QUIT; never MAIL.
#[test]
fn probe_auth_says_auth_then_quit_and_never_mail() {
    let server = ScriptedServer::start(vec![Script::new()
        .greet(&["AUTH PLAIN"])
        .reply("235 2.7.0 Authentication successful\r\n")
        .reply("221 bye\r\n")
        .close()]);
    let target = format!("127.0.0.1:{}", server.port());
    let out = probe_with_password(
        &[
            &target,
            "--tls",
            "none",
            "--client",
            "probe.test",
            "--username",
            "alice",
            "--password-env",
            "PROBE_PW",
        ],
        "s3cret",
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("\nAUTH PLAIN: accepted\n"),
        "{}",
        stdout(&out)
    );
    let sessions = server.finish();
    // PLAIN: authzid, user and password, NUL-separated, in base64.
    assert_eq!(
        sessions[0].commands,
        ["EHLO probe.test", "AUTH PLAIN AGFsaWNlAHMzY3JldA==", "QUIT"]
    );
}

#[test]
fn credential_flags_are_checked_before_connecting() {
    // Nothing listens there: a check made after connecting would be 75.
    let target = format!("127.0.0.1:{}", closed_port());
    let dir = scratch("auth-flags");
    let readable = dir.join("password");
    std::fs::write(&readable, "pw\n").unwrap();
    std::fs::set_permissions(
        &readable,
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    let readable = readable.display().to_string();
    for (args, code) in [
        (vec!["--password-env", "PROBE_PW"], 64),
        (vec!["--auth", "PLAIN"], 64),
        (vec!["--username", "alice"], 64),
        (
            vec!["--username", "alice", "--password-env", "POSTIE_UNSET_VAR"],
            78,
        ),
        (
            vec!["--username", "alice", "--password-file", &readable],
            78,
        ),
    ] {
        let mut all = vec![target.as_str()];
        all.extend(&args);
        let out = probe_with_password(&all, "pw");
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}", stderr(&out));
    }
}
