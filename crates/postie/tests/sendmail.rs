//! `sendmail` as its callers use it (mail(1), cron, git send-email, `-t`),
//! through a symlink named sendmail and as `postie sendmail`, with the
//! accounts file's default account pointing at the test Postfix; what the
//! server delivered is checked.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use postie_testkit::{real_path, real_server, wait_for, RealServer};

struct Setup {
    dir: PathBuf,
    mail: PathBuf,
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A config home whose default account is the plain test Postfix, and a
/// `sendmail` symlink to the postie binary.
fn setup(tag: &str) -> Option<Setup> {
    setup_with(tag, "")
}

/// The same, with `extra` lines added to the account.
fn setup_with(tag: &str, extra: &str) -> Option<Setup> {
    let server: RealServer = real_server("POSTIE_TEST_POSTFIX")?;
    let mail = real_path("POSTIE_TEST_POSTFIX_MAIL")?;
    let dir = std::env::temp_dir().join(format!("postie-sendmail-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("postie")).unwrap();
    std::fs::write(
        dir.join("postie/config.toml"),
        format!(
            "default = \"local\"\n[accounts.local]\nhost = \"{}\"\nport = {}\ntls = \"none\"\n{extra}",
            server.host, server.port
        ),
    )
    .unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_postie"), dir.join("sendmail")).unwrap();
    Some(Setup { dir, mail })
}

fn run(setup: &Setup, program: &Path, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(program)
        .args(args)
        .env("XDG_CONFIG_HOME", &setup.dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A usage error exits before reading: the pipe may be closed.
    let _ = child.stdin.take().unwrap().write_all(stdin);
    child.wait_with_output().unwrap()
}

fn sendmail(setup: &Setup, args: &[&str], stdin: &[u8]) -> Output {
    run(setup, &setup.dir.join("sendmail"), args, stdin)
}

fn delivered(setup: &Setup, local: &str, token: &str) -> Option<String> {
    let dir = setup.mail.join("example.org").join(local).join("new");
    wait_for(Duration::from_secs(20), || {
        std::fs::read_dir(&dir).ok()?.flatten().find_map(|e| {
            let text = std::fs::read_to_string(e.path()).ok()?;
            text.contains(token).then_some(text)
        })
    })
}

fn token() -> String {
    postie_mime::new_message_id("x")
        .unwrap()
        .replace(['<', '>', '@', '-', '_', '.'], "")
}

fn ok(out: &Output) {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn mail_1_pipes_a_message_with_recipients_after_dashes() {
    let Some(s) = setup("mail") else { return };
    let token = token();
    let msg =
        format!("Subject: from mail(1) {token}\nTo: kim@example.org\n\nhello\n.\nstill the body\n");
    let out = sendmail(&s, &["-i", "--", "kim@example.org"], msg.as_bytes());
    ok(&out);
    let got = delivered(&s, "kim", &token).expect("delivered to kim");
    // -i: the lone dot is data, the line after it arrived.
    assert!(got.contains("\n.\nstill the body\n"), "{got}");
    assert!(got.contains("From: "), "a From was added: {got}");
}

#[test]
fn cron_gets_its_full_name_in_the_from_it_lacks() {
    let Some(s) = setup("cron") else { return };
    let token = token();
    let msg = format!("Subject: Cron <root@host> run-parts {token}\nTo: lee\n\noutput\n");
    let out = sendmail(
        &s,
        &[
            "-FCronDaemon",
            "-i",
            "-B8BITMIME",
            "-oem",
            "lee@example.org",
        ],
        msg.as_bytes(),
    );
    ok(&out);
    let got = delivered(&s, "lee", &token).expect("delivered to lee");
    // The name as a phrase, quoted only where it needs to be.
    assert!(
        got.contains("From: CronDaemon <") || got.contains("From: \"CronDaemon\" <"),
        "{got}"
    );
}

/// `echo "disk full" | sendmail admin@…`: no header at all, or one that
/// stops short, is delivered as Postfix's cleanup would: the header ends
/// at the first line that is no field, and the missing fields are made.
#[test]
fn a_message_without_a_header_or_with_one_that_stops_short_is_delivered() {
    let Some(s) = setup("noheader") else { return };
    let token = token();
    let out = sendmail(
        &s,
        &["ada@example.org"],
        format!("disk full {token}\n").as_bytes(),
    );
    ok(&out);
    let got = delivered(&s, "ada", &token).expect("delivered to ada");
    let (header, body) = got.split_once("\n\n").expect("a header and a body");
    assert_eq!(body, format!("disk full {token}\n"));
    for field in ["From: ", "Date: ", "Message-ID: "] {
        assert!(header.contains(field), "{field} made: {got}");
    }

    // The same with cron's exact command, and a header that stops short.
    let msg = format!("Subject: df {token}\nFilesystem  Use%\n/dev/sda1: 99%\n");
    let out = sendmail(
        &s,
        &[
            "-FCronDaemon",
            "-i",
            "-B8BITMIME",
            "-oem",
            "bea@example.org",
        ],
        msg.as_bytes(),
    );
    ok(&out);
    let got = delivered(&s, "bea", &token).expect("delivered to bea");
    let (header, body) = got.split_once("\n\n").expect("a header and a body");
    assert!(header.contains(&format!("Subject: df {token}")), "{got}");
    assert_eq!(body, "Filesystem  Use%\n/dev/sda1: 99%\n");
}

#[test]
fn git_send_email_gives_the_sender_and_recipients() {
    let Some(s) = setup("git") else { return };
    let token = token();
    let msg = format!(
        "From: Ann <ann@example.org>\nTo: mo@example.org\nCc: nia@example.org\n\
         Subject: [PATCH] fix {token}\n\n---\n.leading dot\n-- \n2.43.0\n"
    );
    let out = run(
        &s,
        Path::new(env!("CARGO_BIN_EXE_postie")),
        &[
            "sendmail",
            "-i",
            "-f",
            "ann@example.org",
            "mo@example.org",
            "nia@example.org",
        ],
        msg.as_bytes(),
    );
    ok(&out);
    for local in ["mo", "nia"] {
        let got = delivered(&s, local, &token).expect("delivered");
        assert!(got.contains("Return-Path: <ann@example.org>"), "{got}");
        assert!(got.contains("\n.leading dot\n"), "{got}");
    }
}

#[test]
fn t_reads_the_recipients_from_the_message_and_drops_bcc() {
    let Some(s) = setup("t") else { return };
    let token = token();
    let msg = format!(
        "From: ann@example.org\nTo: oli@example.org\nBcc: pam@example.org\n\
         Subject: -t {token}\n\nbody\n.\nnot sent: after the dot\n"
    );
    let out = sendmail(&s, &["-t"], msg.as_bytes());
    ok(&out);
    let to = delivered(&s, "oli", &token).expect("to oli");
    let bcc = delivered(&s, "pam", &token).expect("bcc pam");
    for got in [&to, &bcc] {
        assert!(!got.contains("Bcc"), "{got}");
        // Without -i a lone dot ends the message.
        assert!(!got.contains("after the dot"), "{got}");
    }
}

#[test]
fn bad_flags_and_no_recipients_are_usage_errors() {
    let Some(s) = setup("bad") else { return };
    for args in [&["-bs"][..], &["-q"], &["-i"]] {
        let out = sendmail(&s, args, b"Subject: x\n\nx\n");
        assert_eq!(out.status.code(), Some(64), "{args:?}");
    }
}

/// `sendmail --help` (through the link, as a user types it) lists the
/// flags, exits 0 and reads nothing.
#[test]
fn sendmail_help_lists_the_flags() {
    let Some(s) = setup("help") else { return };
    let out = sendmail(&s, &["--help"], b"");
    ok(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "Usage: sendmail",
        "-t, --read-recipients",
        "--read-envelope-from",
        "-f, -r",
        "--logfile",
        "Examples:",
    ] {
        assert!(text.contains(flag), "{flag}: {text}");
    }
}

/// cron mails `root`: with the account's aliases file that becomes the
/// admin's address; without one it would go to root@ this host.
#[test]
fn cron_mail_to_root_follows_the_accounts_aliases() {
    let dir = std::env::temp_dir().join(format!("postie-aliases-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let aliases = dir.join("aliases");
    std::fs::write(&aliases, "# as /etc/aliases\nroot: cleo@example.org\n").unwrap();
    let Some(s) = setup_with(
        "aliases",
        &format!("aliases = {:?}\n", aliases.display().to_string()),
    ) else {
        return;
    };
    let token = token();
    let msg = format!("Subject: Cron <root@host> job {token}\nTo: root\n\noutput\n");
    let out = sendmail(
        &s,
        &["-FCronDaemon", "-i", "-B8BITMIME", "-oem", "root"],
        msg.as_bytes(),
    );
    ok(&out);
    let got = delivered(&s, "cleo", &token).expect("root's mail reached cleo");
    assert!(got.contains("output"), "{got}");
    std::fs::remove_dir_all(dir).unwrap();
}

/// One line per message in the account's log, never the password; and the
/// same line to syslog, on a socket the test binds in place of /dev/log.
#[test]
fn each_message_is_logged_to_the_file_and_to_syslog_without_secrets() {
    let dir = std::env::temp_dir().join(format!("postie-sentlog-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("sent.log");
    let socket = dir.join("log.sock");
    let syslog = std::os::unix::net::UnixDatagram::bind(&socket).unwrap();
    syslog
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let extra = format!(
        "log_file = {:?}\nsyslog = \"LOG_MAIL\"\nsyslog_socket = {:?}\n",
        log.display().to_string(),
        socket.display().to_string()
    );
    let Some(s) = setup_with("sentlog", &extra) else {
        return;
    };
    let token = token();
    let msg = format!("Subject: logged {token}\n\nbody\n");
    ok(&sendmail(
        &s,
        &["-i", "-f", "dina@example.org", "dora@example.org"],
        msg.as_bytes(),
    ));
    delivered(&s, "dora", &token).expect("delivered");
    let text = std::fs::read_to_string(&log).unwrap();
    let line = text.lines().last().unwrap();
    for part in [
        "account=local",
        "tls=off",
        "auth=off",
        "from=dina@example.org",
        "recipients=dora@example.org",
        "code=250",
        "exit=0",
    ] {
        assert!(line.contains(part), "{part}: {line}");
    }
    assert!(
        line.contains("queue_id=") && !line.contains("queue_id=-"),
        "{line}"
    );
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(&log).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let mut buf = [0u8; 2048];
    let n = syslog.recv(&mut buf).unwrap();
    let datagram = String::from_utf8_lossy(&buf[..n]);
    // LOG_MAIL (2) * 8 + LOG_INFO (6).
    assert!(datagram.starts_with("<22>"), "{datagram}");
    assert!(datagram.contains(" postie["), "{datagram}");
    assert!(
        datagram.contains("recipients=dora@example.org"),
        "{datagram}"
    );

    // A refused recipient is logged too, as an error (LOG_ERR: <19>).
    let out = sendmail(&s, &["-i", "nobody@example.org"], msg.as_bytes());
    assert_eq!(out.status.code(), Some(67));
    let text = std::fs::read_to_string(&log).unwrap();
    let line = text.lines().last().unwrap();
    assert!(
        line.contains("recipients=nobody@example.org") && line.contains("exit=67"),
        "{line}"
    );
    let n = syslog.recv(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("<19>"));
    std::fs::remove_dir_all(dir).unwrap();
}
