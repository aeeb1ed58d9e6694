//! msmtp's configuration files, as a user switching from msmtp has them:
//! `~/.msmtprc`, `$XDG_CONFIG_HOME/msmtp/config` and `/etc/msmtprc` (the
//! files in `tests/msmtprc/`), read by postie through the `sendmail` link
//! and delivered by the test Postfix; the lookup order, the refusals, the
//! warnings. msmtp itself, where installed, reads the same files the same
//! way.
//!
//! The system files are put at their real paths, `/etc/msmtprc` and
//! `/etc/postie/config.toml`, inside a private mount namespace (`unshare
//! --mount`), over which an overlay lays the test's files on the real
//! `/etc`: the machine's own `/etc` is never changed, and postie has no
//! way (no variable, no flag) to look elsewhere for its system files.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use postie_testkit::{closed_port, real_path, real_server, wait_for, RealServer};

const GMAIL: &str = include_str!("msmtprc/gmail.msmtprc");
const INHERITANCE: &str = include_str!("msmtprc/inheritance.msmtprc");
const SYSTEM: &str = include_str!("msmtprc/system.msmtprc");

/// A user with a home and a config folder of their own, and a `sendmail`
/// link to postie.
struct User {
    dir: PathBuf,
}

impl Drop for User {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl User {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("postie-msmtprc-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("home")).unwrap();
        std::fs::create_dir_all(dir.join("config")).unwrap();
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_postie"), dir.join("sendmail")).unwrap();
        let user = Self { dir };
        // Stand-ins for the password tools the files' passwordeval runs.
        for tool in ["gpg2", "pass"] {
            user.write(&user.bin().join(tool), "#!/bin/sh\necho stand-in\n", 0o755);
        }
        user
    }

    fn bin(&self) -> PathBuf {
        self.dir.join("bin")
    }

    /// PATH with the stand-ins first.
    fn path(&self) -> String {
        let path = std::env::var("PATH").unwrap_or_default();
        format!("{}:{path}", self.bin().display())
    }

    fn home(&self) -> PathBuf {
        self.dir.join("home")
    }

    fn config(&self) -> PathBuf {
        self.dir.join("config")
    }

    /// Writes a file of the user's with `mode`.
    fn write(&self, path: &Path, text: &str, mode: u32) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    fn command(&self, program: &Path, args: &[&str]) -> Command {
        let mut command = Command::new(program);
        command
            .args(args)
            .env("HOME", self.home())
            .env("XDG_CONFIG_HOME", self.config())
            .env("PATH", self.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }

    fn sendmail(&self, args: &[&str], message: &str) -> Output {
        run(self.command(&self.dir.join("sendmail"), args), message)
    }

    fn postie(&self, args: &[&str]) -> Output {
        run(
            self.command(Path::new(env!("CARGO_BIN_EXE_postie")), args),
            "",
        )
    }
}

fn run(mut command: Command, stdin: &str) -> Output {
    let mut child = command.spawn().unwrap();
    // A refusal exits before reading: the pipe may be closed.
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    child.wait_with_output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn ok(out: &Output) {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        stderr(out)
    );
}

fn fill(text: &str, server: &RealServer) -> String {
    let ca = real_path("POSTIE_TEST_CA").unwrap_or_default();
    text.replace("{HOST}", &server.host)
        .replace("{PORT}", &server.port.to_string())
        .replace("{CA}", &ca.display().to_string())
}

fn token() -> String {
    postie_mime::new_message_id("x")
        .unwrap()
        .replace(['<', '>', '@', '-', '_', '.'], "")
}

/// The message Postfix delivered to `local@example.org` holding `token`.
fn delivered(local: &str, token: &str) -> Option<String> {
    let dir = real_path("POSTIE_TEST_POSTFIX_MAIL")?
        .join("example.org")
        .join(local)
        .join("new");
    wait_for(Duration::from_secs(20), || {
        std::fs::read_dir(&dir).ok()?.flatten().find_map(|e| {
            let text = std::fs::read_to_string(e.path()).ok()?;
            text.contains(token).then_some(text)
        })
    })
}

/// The envelope sender `postie send --dry-run` would use: which file, and
/// which account, was read.
fn dry_run_sender(out: &Output) -> String {
    let err = stderr(out);
    err.lines()
        .find_map(|l| l.strip_prefix("MAIL FROM:<"))
        .and_then(|l| l.strip_suffix('>'))
        .unwrap_or_else(|| panic!("no MAIL FROM in {err}"))
        .to_owned()
}

const DRY_RUN: &[&str] = &[
    "send",
    "--dry-run",
    "--to",
    "x@example.org",
    "--subject",
    "s",
    "--body",
    "b",
];

/// The Gmail user's file, pointed at the test Postfix's STARTTLS port:
/// `tls on`, `tls_trust_file`, `auth on`, `user`, `passwordeval`, through
/// the sendmail link as mail(1) calls it.
#[test]
fn a_gmail_msmtprc_sends_over_starttls_with_auth_through_the_sendmail_link() {
    let Some(mut server) = real_server("POSTIE_TEST_POSTFIX_STARTTLS") else {
        return;
    };
    // The test CA's certificate names localhost.
    server.host = "localhost".to_owned();
    let user = User::new("gmail");
    user.write(&user.home().join(".msmtprc"), &fill(GMAIL, &server), 0o600);
    let token = token();
    let msg = format!("Subject: via msmtprc {token}\nTo: gil@example.org\n\nhello\n");
    let out = user.sendmail(&["-i", "-v", "--", "gil@example.org"], &msg);
    ok(&out);
    let err = stderr(&out);
    assert!(err.contains("STARTTLS"), "{err}");
    assert!(err.contains("AUTH "), "{err}");
    assert!(!err.contains("wonderland-secret"), "{err}");
    assert!(!err.contains("not supported"), "{err}");
    let got = delivered("gil", &token).expect("delivered to gil");
    // msmtp's logfile is postie's log: one line, no secret.
    let log = std::fs::read_to_string(user.home().join(".msmtp.log")).unwrap();
    assert!(
        log.contains("account=default") && log.contains("recipients=gil@example.org"),
        "{log}"
    );
    assert!(log.contains("auth=") && !log.contains("auth=off"), "{log}");
    assert!(!log.contains("wonderland-secret"), "{log}");
    assert!(got.contains("Return-Path: <alice@example.org>"), "{got}");
}

/// `$XDG_CONFIG_HOME/msmtp/config` without `~/.msmtprc`; msmtp's default
/// (no TLS, no AUTH); cron's exact command; an unknown key warned about,
/// naming the file and line, and the mail still goes.
#[test]
fn a_plain_msmtp_config_in_the_xdg_folder_delivers_with_a_warning() {
    let Some(server) = real_server("POSTIE_TEST_POSTFIX") else {
        return;
    };
    let user = User::new("xdg");
    let rc = user.config().join("msmtp/config");
    let text = format!(
        "account local\nhost {}\nport {}\nfrom cron@example.org\nmystery_option yes\n\naccount default : local\n",
        server.host, server.port
    );
    user.write(&rc, &text, 0o644);
    let token = token();
    let msg = format!("Subject: Cron <root@host> backup {token}\nTo: hal\n\ndone\n");
    let out = user.sendmail(
        &[
            "-FCronDaemon",
            "-i",
            "-B8BITMIME",
            "-oem",
            "hal@example.org",
        ],
        &msg,
    );
    ok(&out);
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "postie: warning: {}:5: unknown key mystery_option; ignored",
            rc.display()
        )),
        "{err}"
    );
    let got = delivered("hal", &token).expect("delivered to hal");
    assert!(got.contains("Return-Path: <cron@example.org>"), "{got}");
    // -F names the account's address, as msmtp's From does.
    assert!(got.contains("From: CronDaemon <cron@example.org>"), "{got}");
}

/// postie's own file, then `~/.msmtprc`, then `$XDG_CONFIG_HOME/msmtp/config`:
/// the first found is the only one read.
#[test]
fn the_user_files_are_read_in_order_first_found_wins() {
    let user = User::new("order");
    let rc = |from: &str| format!("account default\nhost h.example\nfrom {from}\n");
    user.write(
        &user.config().join("msmtp/config"),
        &rc("xdg@example.org"),
        0o600,
    );
    assert_eq!(dry_run_sender(&user.postie(DRY_RUN)), "xdg@example.org");
    user.write(
        &user.home().join(".msmtprc"),
        &rc("home@example.org"),
        0o600,
    );
    assert_eq!(dry_run_sender(&user.postie(DRY_RUN)), "home@example.org");
    user.write(
        &user.config().join("postie/config.toml"),
        "default = \"a\"\n[accounts.a]\nhost = \"h.example\"\nfrom = \"toml@example.org\"\n",
        0o600,
    );
    assert_eq!(dry_run_sender(&user.postie(DRY_RUN)), "toml@example.org");
    // --config names one file, of either kind, and no other is read.
    let named = user.dir.join("other-rc");
    user.write(&named, &rc("named@example.org"), 0o600);
    let mut args = vec!["send", "--config", named.to_str().unwrap()];
    args.extend(&DRY_RUN[1..]);
    assert_eq!(dry_run_sender(&user.postie(&args)), "named@example.org");
    // The inheritance file's default account: freemail2's from.
    user.write(&named, INHERITANCE, 0o600);
    assert_eq!(dry_run_sender(&user.postie(&args)), "joey@freemail.example");
    let mut with_account = args.clone();
    with_account.extend(["--account", "work"]);
    assert_eq!(
        dry_run_sender(&user.postie(&with_account)),
        "joe@work.example"
    );
}

/// What msmtp users may have and postie does not accept: exit 78, naming
/// the file and what to run.
#[test]
fn unsafe_or_wrong_files_are_refused_with_exit_78() {
    let user = User::new("refused");
    let rc = user.home().join(".msmtprc");
    for (text, mode, want) in [
        (
            "account default\nhost h.example\n",
            0o666,
            format!("can be written by group or others (mode 666), and its password_command runs as you: run chmod go-w {}", rc.display()),
        ),
        (
            "account default\nhost h.example\nauth on\nuser u\npassword hunter2\n",
            0o644,
            format!("{}:5: a password is written in {0}, which group or others can open (mode 644): run chmod 600 {0}", rc.display()),
        ),
        (
            "account default\nhost h.example\ntls maybe\n",
            0o600,
            format!("{}: line 3: tls: on or off, not \"maybe\"", rc.display()),
        ),
    ] {
        user.write(&rc, text, mode);
        let out = user.sendmail(&["ivy@example.org"], "Subject: x\n\nx\n");
        assert_eq!(out.status.code(), Some(78), "{text:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains(&want), "{text:?}: {err}");
        assert!(!err.contains("hunter2"), "{err}");
    }
    // A written password in a private file is taken, with a warning.
    user.write(
        &rc,
        "account default\nhost h.example\nauth on\nuser u\npassword hunter2\n",
        0o600,
    );
    let out = user.postie(DRY_RUN);
    ok(&out);
    let err = stderr(&out);
    assert!(
        err.contains(".msmtprc:5: the password is written in the file; passwordeval is safer"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
}

/// msmtp's `undisclosed_recipients on`: every recipient gets the mail, and
/// none of their addresses is in it.
#[test]
fn undisclosed_recipients_hides_to_and_cc() {
    let Some(server) = real_server("POSTIE_TEST_POSTFIX") else {
        return;
    };
    let user = User::new("undisclosed");
    let text = format!(
        "account default\nhost {}\nport {}\nfrom list@example.org\nundisclosed_recipients on\n",
        server.host, server.port
    );
    user.write(&user.home().join(".msmtprc"), &text, 0o600);
    let token = token();
    let msg = format!(
        "To: Lou <lou@example.org>\nCc: max@example.org\nBcc: ned@example.org\nSubject: {token}\n\nhi\n"
    );
    let out = user.sendmail(&["-t", "-i", "oda@example.org"], &msg);
    ok(&out);
    for local in ["lou", "max", "ned", "oda"] {
        let got = delivered(local, &token).unwrap_or_else(|| panic!("delivered to {local}"));
        let header = got.split_once("\n\n").unwrap().0;
        assert!(header.contains("To: undisclosed-recipients:;"), "{got}");
        for other in ["lou@", "max@", "ned@", "oda@"] {
            let shown = header
                .lines()
                .filter(|l| !l.starts_with("Delivered-To:") && !l.starts_with("\tfor <"))
                .any(|l| l.contains(other));
            assert!(!shown, "{other} shown to {local}: {got}");
        }
    }
}

/// No accounts file anywhere: sent to the contract's default server
/// (localhost), and the failure says that no file was found and where
/// postie looked.
#[test]
fn without_any_file_a_failed_send_says_where_postie_looked() {
    let user = User::new("none");
    let port = closed_port().to_string();
    let mut args = DRY_RUN.to_vec();
    args.retain(|a| *a != "--dry-run");
    args.extend(["--port", &port]);
    let out = user.postie(&args);
    assert_eq!(out.status.code(), Some(75), "{}", stderr(&out));
    let err = stderr(&out);
    let home = user.home();
    let config = user.config();
    let want = format!(
        "postie: no accounts file was found, so none was used (looked for {}, {}, {}, /etc/postie/config.toml, /etc/msmtprc)",
        config.join("postie/config.toml").display(),
        home.join(".msmtprc").display(),
        config.join("msmtp/config").display(),
    );
    assert!(err.contains(&want), "{err}");
    assert!(err.contains("localhost"), "{err}");
    // A file without a default account says so instead.
    user.write(
        &home.join(".msmtprc"),
        "account work\nhost h.example\n",
        0o600,
    );
    let out = user.postie(&args);
    assert_eq!(out.status.code(), Some(75), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "{} names no default account (postie: default = \"NAME\"; msmtp: account default : NAME), so none was used",
            home.join(".msmtprc").display()
        )),
        "{err}"
    );
    // With --server the account was not needed: no word about it.
    let mut with_server = args.clone();
    with_server.extend(["--server", "127.0.0.1"]);
    let out = user.postie(&with_server);
    assert!(
        !stderr(&out).contains("so none was used"),
        "{}",
        stderr(&out)
    );
}

/// msmtp's `--read-envelope-from`: the envelope sender is the message's
/// From, and (msmtp's rule) it chooses the account whose `from` it is.
#[test]
fn read_envelope_from_chooses_the_account_and_the_sender() {
    let Some(server) = real_server("POSTIE_TEST_POSTFIX") else {
        return;
    };
    let user = User::new("envfrom");
    let text = format!(
        "account default\nhost 127.0.0.1\nport {}\nfrom nobody@example.org\n\n\
         account lists\nhost {}\nport {}\nfrom *@lists.example.org\n",
        closed_port(),
        server.host,
        server.port
    );
    user.write(&user.home().join(".msmtprc"), &text, 0o600);
    let token = token();
    let msg = format!(
        "From: Bot <bot+weekly@lists.example.org>\nTo: jo@example.org\nSubject: {token}\n\nnews\n"
    );
    let out = user.sendmail(&["--read-envelope-from", "--read-recipients"], &msg);
    ok(&out);
    let got = delivered("jo", &token).expect("delivered to jo");
    assert!(
        got.contains("Return-Path: <bot+weekly@lists.example.org>"),
        "{got}"
    );
}

/// Runs `program args` in a private mount namespace where `/etc` is the
/// real one with `etc` (a folder standing for `/etc`, owners and modes as
/// they are) laid over it; `None` where namespaces cannot be made (not
/// root): a failure when `CI` is set.
fn in_namespace(
    user: &User,
    etc: &Path,
    program: &Path,
    args: &[&str],
    home: bool,
    stdin: &str,
) -> Option<Output> {
    let probe = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "true"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        assert!(
            std::env::var_os("CI").is_none(),
            "unshare --mount fails: CI runs as root and must not skip this"
        );
        eprintln!("skipping: unshare --mount is not allowed here (not root?)");
        return None;
    }
    let layer = user.dir.join("layer");
    std::fs::create_dir_all(&layer).unwrap();
    // tmpfs: an overlay's upper folder may not be on another overlay.
    let script = r#"set -e
layer=$1; etc=$2; shift 2
mount -t tmpfs tmpfs "$layer"
mkdir "$layer/upper" "$layer/work"
cp -a "$etc/." "$layer/upper/"
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$layer/upper,workdir=$layer/work" /etc
exec "$@""#;
    let mut command = user.command(Path::new("unshare"), &[]);
    command
        .args([
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            script,
            "sh",
        ])
        .arg(&layer)
        .arg(etc)
        .arg(program)
        .args(args);
    if !home {
        command.env_remove("HOME").env_remove("XDG_CONFIG_HOME");
    }
    Some(run(command, stdin))
}

/// `/etc/msmtprc` and `/etc/postie/config.toml` at their real paths: used
/// when the user has no file (also without HOME), postie's before msmtp's,
/// the user's before both; refused when not root's alone.
#[test]
fn system_files_are_read_after_the_user_s_and_must_be_root_s() {
    let Some(server) = real_server("POSTIE_TEST_POSTFIX") else {
        return;
    };
    let user = User::new("system");
    let etc = user.dir.join("etc");
    let msmtprc = etc.join("msmtprc");
    user.write(&msmtprc, &fill(SYSTEM, &server), 0o644);
    let postie = Path::new(env!("CARGO_BIN_EXE_postie"));
    let etc_before = [
        Path::new("/etc/msmtprc").exists(),
        Path::new("/etc/postie").exists(),
    ];
    // Only /etc/msmtprc, and no HOME (a daemon, another user's cron):
    // delivered through it by the sendmail link.
    let token = token();
    let msg = format!("Subject: system {token}\nTo: kai@example.org\n\nx\n");
    let sendmail = user.dir.join("sendmail");
    let Some(out) = in_namespace(&user, &etc, &sendmail, &["-t", "-i"], false, &msg) else {
        return;
    };
    ok(&out);
    let err = stderr(&out);
    // syslog LOG_MAIL and aliases are postie's own now (a machine without a
    // syslog daemon gets a warning that /dev/log is missing, and the mail).
    assert!(!err.contains("not supported"), "{err}");
    let got = delivered("kai", &token).expect("delivered to kai");
    assert!(
        got.contains("Return-Path: <system-relay@example.org>"),
        "{got}"
    );
    let dry_run = |home| in_namespace(&user, &etc, postie, DRY_RUN, home, "").unwrap();
    assert_eq!(dry_run_sender(&dry_run(true)), "system-relay@example.org");
    // postie's system file comes before msmtp's.
    user.write(
        &etc.join("postie/config.toml"),
        "default = \"a\"\n[accounts.a]\nhost = \"h.example\"\nfrom = \"sys-toml@example.org\"\n",
        0o644,
    );
    let out = dry_run(true);
    assert_eq!(dry_run_sender(&out), "sys-toml@example.org");
    // The user's own file comes before both.
    user.write(
        &user.home().join(".msmtprc"),
        "account default\nhost h.example\nfrom mine@example.org\n",
        0o600,
    );
    let out = dry_run(true);
    assert_eq!(dry_run_sender(&out), "mine@example.org");
    std::fs::remove_file(user.home().join(".msmtprc")).unwrap();
    std::fs::remove_file(etc.join("postie/config.toml")).unwrap();
    // Writable by group, or another user's (also behind a link): refused.
    std::fs::set_permissions(&msmtprc, std::fs::Permissions::from_mode(0o664)).unwrap();
    let out = dry_run(true);
    assert_eq!(out.status.code(), Some(78), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("the system accounts file /etc/msmtprc is not read: group or others can write it (mode 664); run chmod go-w /etc/msmtprc"),
        "{}",
        stderr(&out)
    );
    std::fs::set_permissions(&msmtprc, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::os::unix::fs::chown(&msmtprc, Some(65534), None).unwrap();
    let out = dry_run(true);
    assert_eq!(out.status.code(), Some(78), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("it belongs to uid 65534, not to root"),
        "{}",
        stderr(&out)
    );
    let elsewhere = user.dir.join("elsewhere/msmtprc");
    std::fs::create_dir_all(elsewhere.parent().unwrap()).unwrap();
    std::fs::rename(&msmtprc, &elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &msmtprc).unwrap();
    let out = dry_run(true);
    assert_eq!(out.status.code(), Some(78), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("/etc/msmtprc (a link to {})", elsewhere.display())),
        "{err}"
    );
    // Nothing of this reached the machine's own /etc.
    let etc_after = [
        Path::new("/etc/msmtprc").exists(),
        Path::new("/etc/postie").exists(),
    ];
    assert_eq!(etc_before, etc_after);
}

/// msmtp itself (where installed) reads the test files as postie does:
/// `msmtp --pretend` prints the settings it would use.
#[test]
fn msmtp_reads_the_test_files_the_same_way() {
    let Ok(version) = Command::new("msmtp").arg("--version").output() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "msmtp is not installed: scripts/servers.sh installs it, and CI must not skip this"
        );
        eprintln!("skipping: msmtp is not installed (apt-get install msmtp)");
        return;
    };
    assert!(version.status.success());
    // passwordeval runs under --pretend: the user's stand-ins answer.
    let user = User::new("msmtp");
    let server = RealServer {
        host: "localhost".to_owned(),
        port: 10032,
    };
    let pretend = |text: &str, account: &str| -> String {
        let rc = user.dir.join("rc");
        user.write(&rc, text, 0o600);
        let out = Command::new("msmtp")
            .args(["--pretend", "-C"])
            .arg(&rc)
            .args(["-a", account, "x@example.org"])
            .env("HOME", user.home())
            .env("PATH", user.path())
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(out.status.success(), "{account}: {}", stderr(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let check = |text: &str, account: &str, want: &[&str]| {
        let got = pretend(text, account);
        for line in want {
            assert!(
                got.lines().any(|l| l == *line),
                "{account}: {line:?} in {got}"
            );
        }
    };
    let gpg = "passwordeval = gpg2 --no-tty -q -d ~/.msmtp-password.gpg";
    // The table the unit test the_inheritance_file_reads_as_msmtp_reads_it
    // checks postie's reading against.
    for (account, host, port, starttls, from, user_name, auth, eval) in [
        (
            "freemail",
            "smtp.freemail.example",
            "587",
            "on",
            "joe_smith@freemail.example",
            "joe.smith",
            "choose",
            gpg,
        ),
        (
            "freemail2",
            "smtp.freemail.example",
            "587",
            "on",
            "joey@freemail.example",
            "joe.smith",
            "choose",
            gpg,
        ),
        (
            "isp",
            "mail.isp.example",
            "465",
            "off",
            "smithjoe@isp.example",
            "12345",
            "SCRAM-SHA-256",
            "passwordeval = pass show isp",
        ),
        (
            "work",
            "mail.isp.example",
            "465",
            "off",
            "joe@work.example",
            "12345",
            "SCRAM-SHA-256",
            "passwordeval = pass show isp",
        ),
        (
            "default",
            "smtp.freemail.example",
            "587",
            "on",
            "joey@freemail.example",
            "joe.smith",
            "choose",
            gpg,
        ),
    ] {
        let lines = [
            format!("host = {host}"),
            format!("port = {port}"),
            "tls = on".to_owned(),
            format!("tls_starttls = {starttls}"),
            "tls_trust_file = system".to_owned(),
            "timeout = 30 seconds".to_owned(),
            format!("from = {from}"),
            format!("user = {user_name}"),
            format!("auth = {auth}"),
            eval.to_owned(),
        ];
        let want: Vec<&str> = lines.iter().map(String::as_str).collect();
        check(INHERITANCE, account, &want);
    }
    check(
        &fill(GMAIL, &server),
        "default",
        &[
            "host = localhost",
            "port = 10032",
            "tls = on",
            "tls_starttls = on",
            "auth = choose",
            "user = alice",
            "from = alice@example.org",
            "passwordeval = echo wonderland-secret",
        ],
    );
    check(
        &fill(SYSTEM, &server),
        "default",
        &[
            "host = localhost",
            "tls = off",
            "auth = none",
            "from = system-relay@example.org",
            "domain = client.example.org",
            "syslog = LOG_MAIL",
            "aliases = /etc/aliases",
        ],
    );
}
