//! Interoperability: postie against every real MTA the test servers run
//! besides Postfix (`scripts/servers/*.sh`): Exim, Dovecot (submission and
//! LMTP), chasquid, Haraka and OpenSMTPD. Each gets the same checks, through
//! the command a user runs (`postie send`) and, for many messages on one
//! connection, the library's session:
//!
//! * a plain message, delivered;
//! * a multipart message with a 1 MiB binary attachment and UTF-8 subject
//!   and names, read back from the server's Maildir byte for byte;
//! * STARTTLS and implicit TLS, the certificate checked against the test
//!   CA (and refused without it);
//! * every SASL mechanism the server offers, for both test users (one with
//!   a UTF-8 password holding a space); a wrong password exits 77 before
//!   MAIL;
//! * a refused recipient, with and without `--at-least-one`;
//! * 200 messages on one session (OpenSMTPD ends a connection after 100:
//!   the session carries on on a new one, and nothing is lost);
//! * for LMTP, one result per recipient, a failure after the data included.
//!
//! What each server offers comes from its script's `POSTIE_TEST_<NAME>_*`
//! variables; the matrix in README lists them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use postie_mime::reader::PartExt as _;
use postie_mime::Message;
use postie_smtp::{Credentials, LocalEnv, Secret, SendOptions, TlsMode, TlsSettings};
use postie_testkit::{real_path, real_server, wait_for, RealServer};
use serde_json::Value;

/// How long a queueing server may take to put a message in its Maildir.
const DELIVERY: Duration = Duration::from_secs(30);

/// One server under test, as its script exports it.
struct Mta {
    /// Its name in test output.
    name: &'static str,
    /// The prefix of its variables, e.g. `POSTIE_TEST_EXIM`.
    var: &'static str,
    /// A port-25 listener that takes mail for example.org without AUTH
    /// (`<var>_SMTP`); without one, mail goes through submission.
    smtp: bool,
    /// STARTTLS on the port-25 listener (OpenSMTPD 6.8's TLS does not work
    /// with Debian 12's OpenSSL 3).
    tls: bool,
    /// The server hashes a DIGEST-MD5 password in UTF-8 even where RFC 2831
    /// §2.1.2.1 says ISO 8859-1 (Dovecot 2.3): postie follows the RFC, so
    /// bob's password (which fits ISO 8859-1) fails there, and only there.
    digest_md5_utf8: bool,
    /// The server names the message in its reply to the data, in a form
    /// postie reads as a queue id.
    queue_id: bool,
}

impl Mta {
    fn server(&self, suffix: &str) -> RealServer {
        real_server(&format!("{}_{suffix}", self.var)).unwrap()
    }

    fn present(&self) -> bool {
        let first = if self.smtp { "SMTP" } else { "SUBMISSION" };
        real_server(&format!("{}_{first}", self.var)).is_some()
    }

    /// Where a message to LOCAL@example.org lands: `<base>/LOCAL/new/`.
    fn maildir(&self) -> PathBuf {
        real_path(&format!("{}_MAIL", self.var)).unwrap()
    }

    fn mechanisms(&self) -> Vec<String> {
        let var = format!("{}_MECHS", self.var);
        let value = std::env::var(&var).unwrap_or_else(|_| panic!("{var} is not set"));
        let mechs: Vec<String> = value.split_whitespace().map(str::to_owned).collect();
        assert!(!mechs.is_empty(), "{var} is empty");
        mechs
    }

    /// `postie send` arguments that reach the server the usual way: its
    /// port-25 listener (STARTTLS verified against the test CA where it
    /// has TLS), else submission as alice.
    fn route(&self) -> Vec<String> {
        if self.smtp {
            let server = self.server("SMTP");
            let mut args = to_strings(&["--server", "localhost", "--port"]);
            args.push(server.port.to_string());
            if self.tls {
                args.extend(to_strings(&["--tls", "required", "--ca-file", &ca()]));
            } else {
                args.extend(to_strings(&["--tls", "none"]));
            }
            args
        } else {
            self.submission("SUBMISSION", "required", None)
        }
    }

    /// Submission as alice over `<var>_<suffix>` with `--tls MODE`, with
    /// one mechanism or any.
    fn submission(&self, suffix: &str, mode: &str, mechanism: Option<&str>) -> Vec<String> {
        self.submission_as(suffix, mode, mechanism, &alice(self))
    }

    fn submission_as(
        &self,
        suffix: &str,
        mode: &str,
        mechanism: Option<&str>,
        user: &User,
    ) -> Vec<String> {
        let server = self.server(suffix);
        let mut args = to_strings(&["--server", "localhost", "--port"]);
        args.push(server.port.to_string());
        args.extend(to_strings(&[
            "--tls",
            mode,
            "--ca-file",
            &ca(),
            "--username",
            &user.name,
            "--password-env",
            &user.password_var,
        ]));
        if let Some(mechanism) = mechanism {
            args.extend(to_strings(&["--auth", mechanism]));
        }
        args
    }
}

struct User {
    name: String,
    /// The variable holding the password (given to `--password-env`).
    password_var: String,
}

impl User {
    /// The test user `n` (1 or 2): the server's own login for it where
    /// its script exports one (`<var>_USER`, `<var>_PASSWORD`: chasquid
    /// logs in as `alice@example.org`), else the shared one.
    fn of(mta: &Mta, n: u8) -> Self {
        let suffix = if n == 1 { "" } else { "2" };
        let own = format!("{}_USER{suffix}", mta.var);
        match std::env::var(&own) {
            Ok(name) => Self {
                name,
                password_var: format!("{}_PASSWORD{suffix}", mta.var),
            },
            Err(_) => Self {
                name: var(&format!("POSTIE_TEST_SASL_USER{suffix}")),
                password_var: format!("POSTIE_TEST_SASL_PASSWORD{suffix}"),
            },
        }
    }

    fn password(&self) -> String {
        var(&self.password_var)
    }
}

fn alice(mta: &Mta) -> User {
    User::of(mta, 1)
}

fn bob(mta: &Mta) -> User {
    User::of(mta, 2)
}

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"))
}

fn ca() -> String {
    real_path("POSTIE_TEST_CA").unwrap().display().to_string()
}

fn to_strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|&a| a.to_owned()).collect()
}

fn postie(args: &[String], stdin: Option<&[u8]>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_postie"));
    command
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
    let mut child = command.spawn().unwrap();
    if let Some(bytes) = stdin {
        use std::io::Write as _;
        child.stdin.take().unwrap().write_all(bytes).unwrap();
    }
    child.wait_with_output().unwrap()
}

fn shown(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `postie send ARGS --json`, its exit code checked; the JSON it printed.
fn send_json(args: &[String], stdin: Option<&[u8]>, code: i32) -> Value {
    let mut all = to_strings(&["send", "--json", "--timeout", "30"]);
    all.extend_from_slice(args);
    let out = postie(&all, stdin);
    assert_eq!(out.status.code(), Some(code), "{}", shown(&out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", shown(&out)))
}

/// A local part no other test (nor an earlier run against the same
/// servers) uses.
fn local_part(mta: &Mta, what: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{}-{what}-{:x}{:x}{}",
        mta.name,
        std::process::id(),
        nanos,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// The messages in LOCAL's Maildir once there are `count`, oldest first.
fn delivered(mta: &Mta, local: &str, count: usize) -> Vec<Vec<u8>> {
    let dir = mta.maildir().join(local).join("new");
    let files = wait_for(DELIVERY, || {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .ok()?
            .map(|e| e.unwrap().path())
            .collect();
        (files.len() >= count).then(|| {
            files.sort_by_key(|f| std::fs::metadata(f).unwrap().modified().unwrap());
            files
        })
    })
    .unwrap_or_else(|| {
        panic!(
            "{}: {count} message(s) for {local} did not reach {} within {DELIVERY:?}",
            mta.name,
            dir.display()
        )
    });
    assert_eq!(
        files.len(),
        count,
        "{}: too many messages in {}",
        mta.name,
        dir.display()
    );
    files.iter().map(|f| std::fs::read(f).unwrap()).collect()
}

/// Nothing reached LOCAL's Maildir.
fn nothing_for(mta: &Mta, local: &str) -> bool {
    !mta.maildir().join(local).join("new").exists()
}

fn lf(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\r' && bytes.get(i + 1) == Some(&b'\n') {
            i += 1;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// `stored` is `sent` with trace fields before it and nothing else:
/// line ends aside, every byte postie sent is the byte stored.
fn assert_stored_as_sent(mta: &Mta, stored: &[u8], sent: &[u8]) {
    let (stored, sent) = (lf(stored), lf(sent));
    assert!(
        stored.ends_with(&sent),
        "{}: the stored message does not end with the message as sent\n--- stored (start) ---\n{}",
        mta.name,
        String::from_utf8_lossy(&stored[..stored.len().min(2000)])
    );
    let prefix = String::from_utf8_lossy(&stored[..stored.len() - sent.len()]).into_owned();
    for line in prefix.lines() {
        let field = line
            .split(':')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        assert!(
            line.starts_with([' ', '\t'])
                || [
                    "received",
                    "received-spf",
                    "return-path",
                    "delivered-to",
                    "x-original-to",
                    "authentication-results"
                ]
                .contains(&field.as_str()),
            "{}: the server added {line:?} before the message",
            mta.name
        );
    }
}

// ---------------------------------------------------------------------------
// The checks, one function each, run for every server by `interop!` below.
// ---------------------------------------------------------------------------

fn plain_message(mta: &Mta) {
    let local = local_part(mta, "plain");
    let mut args = mta.route();
    args.extend(to_strings(&[
        "--from",
        "sender@postie.test",
        "--to",
        &format!("{local}@example.org"),
        "--subject",
        "plain interop",
        "--body",
        "A plain message.\n",
    ]));
    let report = send_json(&args, None, 0);
    assert_eq!(report["outcome"], "sent", "{report}");
    assert_eq!(
        report["queue_id"].is_string(),
        mta.queue_id,
        "{}: {report}",
        mta.name
    );
    let stored = &delivered(mta, &local, 1)[0];
    let text = String::from_utf8_lossy(stored);
    assert!(text.contains("Subject: plain interop"), "{text}");
    assert!(text.contains("A plain message."), "{text}");
}

/// 1 MiB that no text encoding would leave alone: every byte value.
fn binary_attachment() -> Vec<u8> {
    let mut state = 0x9E37_79B9_7F4A_7C15_u64;
    (0..1 << 20)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 32) as u8
        })
        .collect()
}

const UTF8_SUBJECT: &str = "Grüße aus Köln — 東京 ✉";
const UTF8_FROM_NAME: &str = "Jörg Müller";
const UTF8_TO_NAME: &str = "Zoë Ångström";

fn multipart_read_back(mta: &Mta) {
    let local = local_part(mta, "multipart");
    let dir = tempdir(mta, "multipart");
    let attachment = dir.join("report.bin");
    let bytes = binary_attachment();
    std::fs::write(&attachment, &bytes).unwrap();
    // The message exactly as postie would send it.
    let built = postie(
        &to_strings(&[
            "send",
            "--dry-run",
            "--from",
            &format!("{UTF8_FROM_NAME} <sender@postie.test>"),
            "--to",
            &format!("{UTF8_TO_NAME} <{local}@example.org>"),
            "--subject",
            UTF8_SUBJECT,
            "--body",
            "Der Bericht hängt an. 報告書を添付します。\n",
            "--attach",
            attachment.to_str().unwrap(),
        ]),
        None,
    );
    assert_eq!(built.status.code(), Some(0), "{}", shown(&built));
    let sent = built.stdout;
    let mut args = mta.route();
    args.push("-".to_owned());
    let report = send_json(&args, Some(&sent), 0);
    assert_eq!(report["outcome"], "sent", "{report}");
    let stored = &delivered(mta, &local, 1)[0];
    assert_stored_as_sent(mta, stored, &sent);
    // And read back as a message: the names, the subject, the attachment.
    let parsed = postie_mime::reader::parse(stored);
    assert!(
        parsed.defects.is_empty(),
        "{}: {:?}",
        mta.name,
        parsed.defects
    );
    let message = parsed.message;
    assert_eq!(message.header_text("Subject").unwrap(), UTF8_SUBJECT);
    assert!(message
        .header_text("From")
        .unwrap()
        .contains(UTF8_FROM_NAME));
    assert!(message.header_text("To").unwrap().contains(UTF8_TO_NAME));
    let part = message
        .parts()
        .iter()
        .find(|p| p.filename().as_deref() == Some("report.bin"))
        .unwrap_or_else(|| panic!("{}: no report.bin part", mta.name));
    assert!(
        part.decoded_body() == bytes,
        "{}: the attachment changed",
        mta.name
    );
    std::fs::remove_dir_all(dir).unwrap();
}

fn tempdir(mta: &Mta, what: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(local_part(mta, what));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// STARTTLS and implicit TLS, each verified against the test CA; without
/// the CA the certificate is refused (exit 69) and nothing is sent.
fn starttls_and_implicit_tls(mta: &Mta) {
    for (suffix, mode) in [("SUBMISSION", "required"), ("SUBMISSIONS", "implicit")] {
        let local = local_part(mta, "tls");
        let mut args = mta.submission(suffix, mode, None);
        args.extend(to_strings(&[
            "--from",
            "sender@postie.test",
            "--to",
            &format!("{local}@example.org"),
            "--subject",
            "tls interop",
            "--body",
            "Over TLS.\n",
        ]));
        let report = send_json(&args, None, 0);
        assert!(
            report["tls"]
                .as_str()
                .unwrap_or_default()
                .starts_with("TLSv1."),
            "{}: {suffix}: {report}",
            mta.name
        );
        delivered(mta, &local, 1);

        // Without the test CA the server's certificate is not trusted.
        let at = args.iter().position(|a| a == "--ca-file").unwrap();
        let mut untrusted = args.clone();
        untrusted.drain(at..at + 2);
        let report = send_json(&untrusted, None, 69);
        assert!(
            report["error"]
                .to_string()
                .to_lowercase()
                .contains("certificate"),
            "{}: {suffix}: {report}",
            mta.name
        );
    }
}

fn every_auth_mechanism(mta: &Mta) {
    for mechanism in mta.mechanisms() {
        for user in [alice(mta), bob(mta)] {
            let local = local_part(mta, &mechanism.to_ascii_lowercase());
            let deviation = mta.digest_md5_utf8
                && mechanism == "DIGEST-MD5"
                && user.password_var == bob(mta).password_var;
            let mut args = mta.submission_as("SUBMISSION", "required", Some(&mechanism), &user);
            args.extend(to_strings(&[
                "--from",
                "sender@postie.test",
                "--to",
                &format!("{local}@example.org"),
                "--subject",
                &format!("auth {mechanism}"),
                "--body",
                "Authenticated.\n",
            ]));
            if deviation {
                let report = send_json(&args, None, 77);
                assert_eq!(report["error"]["code"], 535, "{report}");
                continue;
            }
            let report = send_json(&args, None, 0);
            assert_eq!(
                report["auth"].as_str(),
                Some(mechanism.as_str()),
                "{} as {}: {report}",
                mta.name,
                user.name
            );
            delivered(mta, &local, 1);
        }
    }
}

fn wrong_password(mta: &Mta) {
    let local = local_part(mta, "wrongpw");
    let mut args = mta.submission("SUBMISSION", "required", None);
    // The same flags, the password from a variable holding the wrong one.
    let at = args
        .iter()
        .position(|a| *a == alice(mta).password_var)
        .unwrap();
    args[at] = "POSTIE_INTEROP_WRONG_PASSWORD".to_owned();
    args.extend(to_strings(&[
        "-v",
        "--from",
        "sender@postie.test",
        "--to",
        &format!("{local}@example.org"),
        "--subject",
        "wrong password",
        "--body",
        "Never sent.\n",
    ]));
    let mut all = to_strings(&["send", "--json", "--timeout", "30"]);
    all.extend(args);
    let mut command = Command::new(env!("CARGO_BIN_EXE_postie"));
    let out = command
        .args(&all)
        .env("POSTIE_INTEROP_WRONG_PASSWORD", "not-the-password")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(77), "{}: {}", mta.name, shown(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["error"]["stage"], "auth", "{report}");
    assert_eq!(report["error"]["code"], 535, "{report}");
    let transcript = String::from_utf8_lossy(&out.stderr);
    assert!(
        !transcript.contains("MAIL FROM"),
        "{}: {transcript}",
        mta.name
    );
    assert!(nothing_for(mta, &local));
}

/// `nobody@example.org` is refused at RCPT: all or nothing by default
/// (exit 67, no data sent), the others delivered with `--at-least-one`.
fn refused_recipient(mta: &Mta) {
    let local = local_part(mta, "refused");
    let message = |verbose: bool| {
        let mut args = mta.route();
        if verbose {
            args.push("-v".to_owned());
        }
        args.extend(to_strings(&[
            "--from",
            "sender@postie.test",
            "--to",
            &format!("{local}@example.org, nobody@example.org"),
            "--subject",
            "refused recipient",
            "--body",
            "One of two.\n",
        ]));
        args
    };
    let mut all = to_strings(&["send", "--json", "--timeout", "30"]);
    all.extend(message(true));
    let out = postie(&all, None);
    assert_eq!(out.status.code(), Some(67), "{}: {}", mta.name, shown(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["refused"][0]["address"], "nobody@example.org",
        "{report}"
    );
    assert_eq!(report["refused"][0]["code"], 550, "{report}");
    let transcript = String::from_utf8_lossy(&out.stderr);
    assert!(
        !transcript.contains("\n> DATA") && !transcript.contains("\n> BDAT"),
        "{}: data sent although a recipient was refused:\n{transcript}",
        mta.name
    );

    let mut args = message(false);
    args.push("--at-least-one".to_owned());
    let report = send_json(&args, None, 0);
    assert_eq!(
        report["refused"][0]["address"], "nobody@example.org",
        "{report}"
    );
    // Only the second send delivered.
    let stored = delivered(mta, &local, 1);
    assert!(String::from_utf8_lossy(&stored[0]).contains("One of two."));
}

/// 200 messages on one session: one connection (two for a server that
/// ends a connection after `<var>_MAX_MAILS` messages), every message
/// delivered once.
fn two_hundred_messages_on_one_session(mta: &Mta) {
    use std::sync::{Arc, Mutex};
    let local = local_part(mta, "session");
    let connections = Arc::new(Mutex::new(0usize));
    let seen = Arc::clone(&connections);
    let mut options = SendOptions::new()
        .on_trace(move |t| {
            if t.to_string().starts_with("* connecting to") {
                *seen.lock().unwrap() += 1;
            }
        })
        .timeout(Duration::from_secs(30))
        .tls_settings(TlsSettings {
            ca_files: vec![PathBuf::from(ca())],
            ..TlsSettings::default()
        });
    options = if mta.smtp {
        let server = mta.server("SMTP");
        options
            .servers(["localhost"])
            .ports([server.port])
            .tls_mode(if mta.tls {
                TlsMode::Required
            } else {
                TlsMode::None
            })
    } else {
        let server = mta.server("SUBMISSION");
        options
            .servers(["localhost"])
            .ports([server.port])
            .tls_mode(TlsMode::Required)
            .credentials(Credentials {
                username: alice(mta).name,
                secret: Secret::new(alice(mta).password()),
                authzid: None,
            })
    };
    let mut session = postie_smtp::blocking::Session::with_env(options, LocalEnv::from_system());
    for n in 0..200 {
        let mut message = Message::text(format!("message {n}\n"));
        message
            .headers_mut()
            .set("To", &format!("{local}@example.org"))
            .unwrap();
        message
            .headers_mut()
            .set("From", "sender@postie.test")
            .unwrap();
        message
            .headers_mut()
            .set("Subject", &format!("session {n}"))
            .unwrap();
        session
            .send(&message)
            .unwrap_or_else(|e| panic!("{}: message {n}: {e}", mta.name));
    }
    session.close();
    let expected = match std::env::var(format!("{}_MAX_MAILS", mta.var)) {
        Ok(max) => 200usize.div_ceil(max.parse::<usize>().unwrap()),
        Err(_) => 1,
    };
    assert_eq!(
        *connections.lock().unwrap(),
        expected,
        "{}: connections",
        mta.name
    );
    let stored = delivered(mta, &local, 200);
    let mut subjects: Vec<usize> = stored
        .iter()
        .map(|m| {
            let text = String::from_utf8_lossy(m);
            let line = text
                .lines()
                .find(|l| l.starts_with("Subject: session "))
                .unwrap();
            line["Subject: session ".len()..].trim().parse().unwrap()
        })
        .collect();
    subjects.sort_unstable();
    assert_eq!(subjects, (0..200).collect::<Vec<_>>(), "{}", mta.name);
}

/// Generates one test per check for a server, each skipped (or failing
/// under CI) when the server's variables are not set.
macro_rules! interop {
    ($module:ident: $mta:expr; $($check:ident),+ $(,)?) => {
        mod $module {
            $(
                #[test]
                fn $check() {
                    let mta: super::Mta = $mta;
                    if mta.present() {
                        super::$check(&mta);
                    }
                }
            )+
        }
    };
}

interop!(exim: super::Mta { name: "exim", var: "POSTIE_TEST_EXIM", smtp: true, tls: true, digest_md5_utf8: false, queue_id: true };
    plain_message, multipart_read_back, starttls_and_implicit_tls, every_auth_mechanism,
    wrong_password, refused_recipient, two_hundred_messages_on_one_session);

/// Dovecot's LMTP: one result per recipient. An unknown user is refused
/// at RCPT, a mailbox over its quota fails after the data, and the
/// delivery to the others stands (exit 0); when every delivery fails after
/// the data, the recipients were refused (exit 67) at `end_of_data`.
fn lmtp_results_per_recipient(mta: &Mta) {
    let server = mta.server("LMTP");
    let base = real_path(&format!("{}_LMTP_MAIL", mta.var)).unwrap();
    let token = local_part(mta, "lmtp");
    // Larger than the quota of "full".
    let body = "Over quota for one.\n".repeat(400);
    let route = |recipients: &str| {
        let mut args = to_strings(&[
            "--lmtp",
            "--server",
            "127.0.0.1",
            "--port",
            &server.port.to_string(),
            "--tls",
            "none",
            "--from",
            "sender@postie.test",
            "--recipients",
            recipients,
            "--subject",
            &token,
            "--body",
            &body,
        ]);
        args.push("--header".to_owned());
        args.push("To: alice@example.org".to_owned());
        args
    };
    let mut args = route("alice@example.org, full@example.org, nosuch@example.org");
    args.push("--at-least-one".to_owned());
    let report = send_json(&args, None, 0);
    let refused = report["refused"].as_array().unwrap();
    let code_of = |address: &str| {
        refused
            .iter()
            .find(|r| r["address"] == address)
            .unwrap_or_else(|| panic!("{address} not refused: {report}"))["code"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(code_of("nosuch@example.org"), 550, "{report}");
    assert_eq!(code_of("full@example.org"), 552, "{report}");
    assert_eq!(refused.len(), 2, "{report}");
    let inbox = base.join("alice").join("new");
    wait_for(DELIVERY, || {
        std::fs::read_dir(&inbox).ok()?.find_map(|e| {
            let text = std::fs::read(e.unwrap().path()).ok()?;
            String::from_utf8_lossy(&text)
                .contains(&token)
                .then_some(())
        })
    })
    .unwrap_or_else(|| panic!("no message {token} in {}", inbox.display()));

    let report = send_json(&route("full@example.org"), None, 67);
    assert_eq!(report["error"]["stage"], "end_of_data", "{report}");
    assert_eq!(report["error"]["code"], 552, "{report}");
}

interop!(opensmtpd: super::Mta { name: "opensmtpd", var: "POSTIE_TEST_OPENSMTPD", smtp: true, tls: false, digest_md5_utf8: false, queue_id: true };
    plain_message, multipart_read_back, refused_recipient, two_hundred_messages_on_one_session);

interop!(dovecot: super::Mta { name: "dovecot", var: "POSTIE_TEST_DOVECOT", smtp: false, tls: true, digest_md5_utf8: true, queue_id: true };
    plain_message, multipart_read_back, starttls_and_implicit_tls, every_auth_mechanism,
    wrong_password, refused_recipient, two_hundred_messages_on_one_session,
    lmtp_results_per_recipient);

interop!(haraka: super::Mta { name: "haraka", var: "POSTIE_TEST_HARAKA", smtp: true, tls: true, digest_md5_utf8: false, queue_id: true };
    plain_message, multipart_read_back, starttls_and_implicit_tls, every_auth_mechanism,
    wrong_password, refused_recipient, two_hundred_messages_on_one_session);

interop!(chasquid: super::Mta { name: "chasquid", var: "POSTIE_TEST_CHASQUID", smtp: true, tls: true, digest_md5_utf8: false, queue_id: false };
    plain_message, multipart_read_back, starttls_and_implicit_tls, every_auth_mechanism,
    wrong_password, refused_recipient, two_hundred_messages_on_one_session);
