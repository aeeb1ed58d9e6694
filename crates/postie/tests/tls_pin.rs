//! `postie send --tls-fingerprint`: certificate pinning from the command
//! line, against the real test Postfix (its self-signed port and its
//! STARTTLS port with the test CA).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use postie_testkit::{real_path, real_server, wait_for, RealServer};

/// `postie ARGS` with the spool in `spool` and no accounts file.
fn postie(args: &[&str], spool: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_postie"))
        .args(args)
        .env("POSTIE_SPOOL_DIR", spool)
        .env("XDG_CONFIG_HOME", spool.join("no-config"))
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// A directory of the test's own, empty.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("postie-pin-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The hex pairs of a test server certificate's SHA-256 fingerprint, as
/// openssl prints them (`AB:CD:...`).
fn openssl_pairs(stem: &str) -> String {
    let dir = real_path("POSTIE_TEST_TLS_DIR").unwrap();
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(dir.join(format!("{stem}.pem")))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    text.trim().split_once('=').unwrap().1.to_ascii_uppercase()
}

fn send_args<'a>(server: &'a RealServer, port: &'a str, to: &'a str) -> Vec<&'a str> {
    vec![
        "send",
        "--server",
        &server.host,
        "--port",
        port,
        "--to",
        to,
        "--body",
    ]
}

fn delivered(local: &str, token: &str) -> bool {
    let new = real_path("POSTIE_TEST_POSTFIX_MAIL")
        .unwrap()
        .join("example.org")
        .join(local)
        .join("new");
    wait_for(Duration::from_secs(20), || {
        std::fs::read_dir(&new)
            .ok()?
            .flatten()
            .find(|e| std::fs::read_to_string(e.path()).is_ok_and(|t| t.contains(token)))
    })
    .is_some()
}

#[test]
fn a_self_signed_server_takes_mail_when_its_certificate_is_pinned() {
    let Some(server) = real_server("POSTIE_TEST_POSTFIX_SELF_SIGNED") else {
        return;
    };
    let spool = scratch("self-signed");
    let port = server.port.to_string();
    let pairs = openssl_pairs("selfsigned");
    // msmtp's spelling (bare hex, here in lower case and without colons)
    // is taken as well as postie's own.
    for (i, pin) in [
        format!("sha256:{pairs}"),
        pairs.replace(':', "").to_ascii_lowercase(),
    ]
    .iter()
    .enumerate()
    {
        let token = format!("pinned-cli-{i}-{}", std::process::id());
        let mut args = send_args(&server, &port, "pinned-cli@example.org");
        args.extend([
            token.as_str(),
            "--tls",
            "required",
            "--tls-fingerprint",
            pin,
            "--json",
        ]);
        let out = postie(&args, &spool);
        assert_eq!(out.status.code(), Some(0), "{pin}: {}", stderr(&out));
        assert!(json(&out)["tls"].is_string(), "{}", json(&out));
        assert!(delivered("pinned-cli", &token), "{pin}");
    }
    // Without the pin the same server is refused, as before.
    let mut args = send_args(&server, &port, "never@example.org");
    args.extend(["b", "--tls", "required"]);
    let out = postie(&args, &spool);
    assert_eq!(out.status.code(), Some(69), "{}", stderr(&out));
    assert!(stderr(&out).contains("self-signed"), "{}", stderr(&out));
}

#[test]
fn a_certificate_other_than_the_pinned_one_is_69_naming_both_and_never_kept() {
    let Some(server) = real_server("POSTIE_TEST_POSTFIX_STARTTLS") else {
        return;
    };
    let spool = scratch("mismatch");
    let port = server.port.to_string();
    let ca = real_path("POSTIE_TEST_CA").unwrap().display().to_string();
    let wrong = format!("sha256:{}", openssl_pairs("selfsigned"));
    let presented = format!("sha256:{}", openssl_pairs("server"));
    // With the CA that vouches for the server (both must pass), and
    // without it (the pin alone decides): refused either way.
    for with_ca in [true, false] {
        let mut args = send_args(&server, &port, "never@example.org");
        args.extend([
            "b",
            "--tls-fingerprint",
            &wrong,
            "--spool-on-failure",
            "--json",
        ]);
        if with_ca {
            args.extend(["--ca-file", &ca]);
        }
        let out = postie(&args, &spool);
        assert_eq!(out.status.code(), Some(69), "{}", stderr(&out));
        let error = &json(&out)["error"];
        assert_eq!(error["stage"], "starttls", "{error}");
        assert_eq!(error["temporary"], false, "{error}");
        let text = error["text"].as_str().unwrap();
        assert!(text.contains("not the pinned one"), "{text}");
        assert!(text.contains(&presented) && text.contains(&wrong), "{text}");
    }
    // A certificate refusal is not a temporary failure: nothing was kept
    // to be tried again.
    let out = postie(&["spool", "list", "--json"], &spool);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(json(&out), serde_json::json!([]));
    // The right pin with the CA: sent.
    let token = format!("pinned-ca-cli-{}", std::process::id());
    let mut args = send_args(&server, &port, "pinned-ca-cli@example.org");
    args.extend([
        token.as_str(),
        "--ca-file",
        &ca,
        "--tls-fingerprint",
        &presented,
    ]);
    let out = postie(&args, &spool);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(delivered("pinned-ca-cli", &token));
}

#[test]
fn fingerprint_values_postie_cannot_pin_are_usage_errors() {
    let spool = scratch("bad-values");
    let sha1 = "AB:".repeat(19) + "AB";
    let sha256 = "sha256:".to_owned() + &"AB:".repeat(31) + "AB";
    for (value, extra, says) in [
        (sha1.as_str(), None, "SHA-1"),
        ("md5:0123456789abcdef0123456789abcdef", None, "MD5"),
        ("sha256:AB:CD", None, "32"),
        ("sha256:AB::CD", None, "colon"),
        ("not-hex", None, "not a fingerprint"),
        (
            sha256.as_str(),
            Some("--insecure-skip-verify"),
            "cannot be used with",
        ),
    ] {
        let mut args = vec![
            "send",
            "--server",
            "localhost",
            "--to",
            "x@example.org",
            "--body",
            "b",
            "--tls-fingerprint",
            value,
        ];
        args.extend(extra);
        let out = postie(&args, &spool);
        assert_eq!(out.status.code(), Some(64), "{value}: {}", stderr(&out));
        assert!(stderr(&out).contains(says), "{value}: {}", stderr(&out));
    }
}

/// A pin names the one server trusted: with the default STARTTLS, a server
/// that does not offer it (or a man in the middle that strips it) does not
/// get the mail in clear; with TLS off the flags contradict each other.
#[test]
fn a_pin_never_lets_mail_go_in_clear() {
    let Some(server) = real_server("POSTIE_TEST_POSTFIX") else {
        return;
    };
    let spool = scratch("clear");
    let port = server.port.to_string();
    let pin = format!("sha256:{}", openssl_pairs("server"));
    let mut args = send_args(&server, &port, "pinned-clear@example.org");
    args.extend(["never in clear", "--tls-fingerprint", &pin, "--json"]);
    let out = postie(&args, &spool);
    assert_eq!(out.status.code(), Some(69), "{}", stderr(&out));
    assert_eq!(json(&out)["error"]["stage"], "starttls", "{}", stderr(&out));

    args.extend(["--tls", "none"]);
    let out = postie(&args, &spool);
    assert_eq!(out.status.code(), Some(64), "{}", stderr(&out));
    let error = json(&out)["error"]["text"].to_string();
    assert!(error.contains("--tls-fingerprint"), "{error}");
    let _ = std::fs::remove_dir_all(spool);
}
