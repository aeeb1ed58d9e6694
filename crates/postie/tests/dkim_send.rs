//! `postie send --dkim-key ... --dkim-selector ...` and the accounts'
//! `[[accounts.NAME.dkim]]`: what the command signs verifies in dkimpy and
//! OpenDKIM (`scripts/servers/dkim.sh`); a key file others can read is
//! refused (exit 78) before anything is sent; a message kept in the spool
//! is kept unsigned, with where its key is (never the key), and signed
//! when `postie spool flush` sends it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use postie_testkit::{closed_port, dkim, real_path, real_server, wait_for};

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"))
}

fn token() -> String {
    postie_mime::new_message_id("x")
        .unwrap()
        .replace(['<', '>', '@', '-', '_', '.'], "")
}

/// A scratch directory holding private copies (mode 600) of the test keys.
struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("postie-dkim-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for kind in ["RSA", "ED25519"] {
            let to = dir.join(format!("{}.pem", kind.to_ascii_lowercase()));
            std::fs::copy(var(&format!("POSTIE_TEST_DKIM_{kind}_KEY")), &to).unwrap();
            std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        Self { dir }
    }

    fn key(&self, kind: &str) -> String {
        self.dir.join(format!("{kind}.pem")).display().to_string()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn postie(args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_postie"));
    command.args(args).stdin(Stdio::null());
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().unwrap()
}

fn shown(out: &Output) -> String {
    format!(
        "exit {:?}: {}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The aiosmtpd message holding `token`.
fn stored(token: &str) -> PathBuf {
    let dir = real_path("POSTIE_TEST_AIOSMTPD_DIR").unwrap();
    wait_for(Duration::from_secs(20), || {
        std::fs::read_dir(&dir).ok()?.flatten().find_map(|e| {
            let path = e.path();
            (path.extension().is_some_and(|x| x == "eml")
                && std::fs::read_to_string(&path).is_ok_and(|t| t.contains(token)))
            .then_some(path)
        })
    })
    .unwrap_or_else(|| panic!("no message {token}"))
}

#[test]
fn send_signs_with_both_keys_and_a_key_others_can_read_is_refused() {
    let Some(server) = real_server("POSTIE_TEST_AIOSMTPD") else {
        return;
    };
    if !dkim::available() {
        return;
    }
    let scratch = Scratch::new("send");
    let (rsa, ed) = (scratch.key("rsa"), scratch.key("ed25519"));
    let (rsa_sel, ed_sel) = (
        var("POSTIE_TEST_DKIM_RSA_SELECTOR"),
        var("POSTIE_TEST_DKIM_ED25519_SELECTOR"),
    );
    let port = server.port.to_string();
    let token = token();
    let subject = format!("signed by the command {token}");
    let no_config = scratch.dir.join("no-config");
    let out = postie(
        &[
            "send",
            "--server",
            &server.host,
            "--port",
            &port,
            "--tls",
            "none",
            "--from",
            "Ann <ann@example.org>",
            "--to",
            "bob@example.net",
            "--subject",
            &subject,
            "--body",
            "Grüße aus Köln.\n",
            "--dkim-key",
            &rsa,
            "--dkim-selector",
            &rsa_sel,
            "--dkim-key",
            &ed,
            "--dkim-selector",
            &ed_sel,
            "--dkim-canon",
            "relaxed/simple",
        ],
        &[("XDG_CONFIG_HOME", &no_config)],
    );
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    let message = stored(&token);
    let text = std::fs::read_to_string(&message).unwrap();
    // d= is the From's domain; both signatures, relaxed/simple.
    assert_eq!(text.matches("DKIM-Signature:").count(), 2, "{text}");
    assert!(
        text.contains(" d=example.org;") && text.contains("c=relaxed/simple"),
        "{text}"
    );
    let results = dkim::verify(&[message]);
    assert!(dkim::both_pass(&results[0]), "{:#}", results[0]);

    // A key others can read: refused before connecting, exit 78.
    std::fs::set_permissions(&ed, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = postie(
        &[
            "send",
            "--server",
            &server.host,
            "--port",
            &port,
            "--tls",
            "none",
            "--to",
            "bob@example.net",
            "--body",
            "never sent",
            "--dkim-key",
            &ed,
            "--dkim-selector",
            &ed_sel,
            "--json",
        ],
        &[("XDG_CONFIG_HOME", &no_config)],
    );
    assert_eq!(out.status.code(), Some(78), "{}", shown(&out));
    assert!(shown(&out).contains("chmod 600"), "{}", shown(&out));
    // Keys and selectors go in pairs.
    let out = postie(
        &[
            "send",
            "--dry-run",
            "--to",
            "b@x.org",
            "--body",
            "b",
            "--dkim-key",
            &rsa,
            "--dkim-selector",
            "a",
            "--dkim-selector",
            "b",
        ],
        &[("XDG_CONFIG_HOME", &no_config)],
    );
    assert_eq!(out.status.code(), Some(64), "{}", shown(&out));
}

/// The account's `[[accounts.NAME.dkim]]`, a message kept in the spool
/// after a temporary failure: kept unsigned (the record names the key's
/// file, never the key), signed by the flush that sends it.
#[test]
fn the_spool_keeps_the_message_unsigned_and_the_flush_signs_it() {
    let Some(server) = real_server("POSTIE_TEST_AIOSMTPD") else {
        return;
    };
    if !dkim::available() {
        return;
    }
    let scratch = Scratch::new("spool");
    let config_home = scratch.dir.join("config");
    std::fs::create_dir_all(config_home.join("postie")).unwrap();
    let config = config_home.join("postie/config.toml");
    let account = |port: u16| {
        format!(
            "default = \"mail\"\n[accounts.mail]\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\n\
             from = \"Ann <ann@example.org>\"\n\
             [[accounts.mail.dkim]]\nkey_file = {:?}\nselector = {:?}\ndomain = \"example.org\"\n",
            scratch.key("ed25519"),
            var("POSTIE_TEST_DKIM_ED25519_SELECTOR"),
        )
    };
    std::fs::write(&config, account(closed_port())).unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
    let spool = scratch.dir.join("spool");
    let env: [(&str, &Path); 2] = [
        ("XDG_CONFIG_HOME", &config_home),
        ("POSTIE_SPOOL_DIR", &spool),
    ];
    let token = token();
    let subject = format!("kept then signed {token}");
    let out = postie(
        &[
            "send",
            "--to",
            "bob@example.net",
            "--subject",
            &subject,
            "--body",
            "later",
            "--spool-on-failure",
        ],
        &env,
    );
    assert_eq!(out.status.code(), Some(75), "{}", shown(&out));
    // Kept unsigned; the record names the key's file, not the key.
    let mut kept_text = String::new();
    for entry in walk(&spool) {
        kept_text.push_str(&String::from_utf8_lossy(&std::fs::read(&entry).unwrap()));
    }
    assert!(kept_text.contains(&token), "the message is kept");
    assert!(!kept_text.contains("DKIM-Signature"), "kept signed");
    assert!(
        !kept_text.contains("PRIVATE KEY"),
        "the key is in the spool"
    );

    // The account now names the server: the flush signs and sends.
    std::fs::write(&config, account(server.port)).unwrap();
    let out = postie(&["spool", "flush", "--force"], &env);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    let message = stored(&token);
    let results = dkim::verify(&[message]);
    assert!(dkim::both_pass(&results[0]), "{:#}", results[0]);
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// A message that arrives already signed, with 8-bit data, at a server
/// without 8BITMIME: re-encoding it would break its signature, so it is
/// refused (exit 69) and nothing is sent; with 8BITMIME it goes as it is.
#[test]
fn an_already_signed_message_is_never_re_encoded() {
    let (Some(bare), Some(plain)) = (
        real_server("POSTIE_TEST_POSTFIX_BARE"),
        real_server("POSTIE_TEST_POSTFIX"),
    ) else {
        return;
    };
    let scratch = Scratch::new("signed");
    let token = token();
    let message = scratch.dir.join("signed.eml");
    std::fs::write(
        &message,
        format!(
            "DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=x; h=from; bh=AA==; b=AA==\r\n\
             From: ann@example.org\r\nTo: already-signed@example.org\r\nSubject: {token}\r\n\
             MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Content-Transfer-Encoding: 8bit\r\n\r\nGrüße\r\n"
        ),
    )
    .unwrap();
    let no_config = scratch.dir.join("no-config");
    let send = |server: &postie_testkit::RealServer| {
        let port = server.port.to_string();
        postie(
            &[
                "send",
                "--server",
                &server.host,
                "--port",
                &port,
                "--tls",
                "none",
                "--json",
                message.to_str().unwrap(),
            ],
            &[("XDG_CONFIG_HOME", &no_config)],
        )
    };
    let out = send(&bare);
    assert_eq!(out.status.code(), Some(69), "{}", shown(&out));
    assert!(
        shown(&out).contains("would break the signature"),
        "{}",
        shown(&out)
    );
    let out = send(&plain);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
}
