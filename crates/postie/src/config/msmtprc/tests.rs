//! msmtp files as postie's accounts: the mapping, the warnings, and the
//! rules for a password written in the file.

use std::os::unix::fs::PermissionsExt as _;
use std::path::PathBuf;

use super::*;
use postie_smtp::dsn::{Notify, Ret};

/// A file in a fresh folder, with `mode`.
struct File {
    dir: PathBuf,
    path: PathBuf,
}

impl Drop for File {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn file(tag: &str, text: &str, mode: u32) -> File {
    let dir = std::env::temp_dir().join(format!("postie-msmtprc-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("msmtprc");
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    File { dir, path }
}

fn pick(f: &File, account: Option<&str>, sender: Option<&str>) -> Result<Option<Chosen>, String> {
    let meta = std::fs::metadata(&f.path).unwrap();
    let text = std::fs::read_to_string(&f.path).unwrap();
    choose(&f.path, &meta, &text, account, sender)
}

fn account(tag: &str, text: &str, name: Option<&str>) -> Chosen {
    let f = file(tag, text, 0o600);
    pick(&f, name, None).unwrap().unwrap()
}

const GMAIL: &str = "\
# Gmail, as its help pages suggest for msmtp
defaults
auth           on
tls            on
tls_trust_file /etc/ssl/certs/ca-certificates.crt
logfile        ~/.msmtp.log

account        gmail
host           smtp.gmail.com
port           587
from           joe.smith@gmail.com
user           joe.smith@gmail.com
passwordeval   \"gpg --quiet --for-your-eyes-only --no-tty --decrypt ~/.msmtp-gmail.gpg\"

account        gmail-ssl : gmail
port           465
tls_starttls   off

account default : gmail
";

#[test]
fn a_gmail_file_maps_onto_postie_s_account() {
    let chosen = account("gmail", GMAIL, None);
    let a = &chosen.account;
    assert_eq!(a.name, "default");
    assert_eq!(a.hosts, ["smtp.gmail.com"]);
    assert_eq!(a.ports, [587]);
    assert_eq!(a.tls, Some(TlsArg::Required));
    assert_eq!(
        a.ca_files,
        [PathBuf::from("/etc/ssl/certs/ca-certificates.crt")]
    );
    assert_eq!(a.username.as_deref(), Some("joe.smith@gmail.com"));
    assert_eq!(a.from.as_deref(), Some("joe.smith@gmail.com"));
    assert!(a.auth.is_empty(), "auth on: the best offered");
    assert_eq!(
        a.secret,
        Some(SecretSource::Command(
            "gpg --quiet --for-your-eyes-only --no-tty --decrypt ~/.msmtp-gmail.gpg".into()
        ))
    );
    assert!(a.password.is_none() && !a.token && !a.accept_invalid_certificates);
    assert!(a.file.as_deref().is_some_and(|p| p.ends_with("msmtprc")));
    // The log file is postie's log file.
    let home = std::env::var("HOME").unwrap_or_default();
    assert_eq!(
        a.log.file,
        Some(PathBuf::from(format!("{home}/.msmtp.log")))
    );
    assert!(chosen.warnings.is_empty(), "{:?}", chosen.warnings);
    let ssl = account("gmail-ssl", GMAIL, Some("gmail-ssl")).account;
    assert_eq!(ssl.tls, Some(TlsArg::Implicit));
    assert_eq!(ssl.ports, [465]);
    assert_eq!(ssl.name, "gmail-ssl");
}

#[test]
fn tls_follows_msmtp_s_defaults() {
    for (lines, want) in [
        ("", TlsArg::None),
        ("tls off\ntls_starttls off\n", TlsArg::None),
        ("tls\n", TlsArg::Required),
        ("tls on\ntls_starttls on\n", TlsArg::Required),
        ("tls on\ntls_starttls off\n", TlsArg::Implicit),
        ("tls on\ntls_nostarttls\n", TlsArg::Implicit),
    ] {
        let text = format!("account default\nhost h\n{lines}");
        let a = account("tls", &text, None).account;
        assert_eq!(a.tls, Some(want), "{lines:?}");
    }
    let a = account(
        "certcheck",
        "account default\nhost h\ntls on\ntls_certcheck off\ntls_trust_file system\n",
        None,
    )
    .account;
    assert!(a.accept_invalid_certificates && a.ca_files.is_empty());
    // Without TLS there is no certificate to check.
    let a = account(
        "certcheck-off",
        "account default\nhost h\ntls_certcheck off\n",
        None,
    )
    .account;
    assert!(!a.accept_invalid_certificates);
}

#[test]
fn the_other_settings_map_too() {
    let text = "account default\nhost mx.example.org\nport 2525\ntimeout 45\nprotocol lmtp\n\
                domain client.example.org\ndsn_notify success,failure\ndsn_return full\n\
                set_from_header on\ntls on\ntls_cert_file /k/cert.pem\ntls_key_file /k/key.pem\n\
                auth xoauth2\nuser ann@example.org\npasswordeval oauth-token ann\n";
    let a = account("other", text, None).account;
    assert_eq!(a.timeout, Some(45.0));
    assert!(a.lmtp && a.from_header_always && a.token && !a.undisclosed_recipients);
    assert_eq!(a.client.as_deref(), Some("client.example.org"));
    assert_eq!(
        a.dsn_notify,
        Some(Notify::parse("success,failure").unwrap())
    );
    assert_eq!(a.dsn_ret, Some(Ret::Full));
    assert_eq!(
        a.client_certificate,
        Some((PathBuf::from("/k/cert.pem"), PathBuf::from("/k/key.pem")))
    );
    assert_eq!(a.auth, ["XOAUTH2"]);
    let a = account(
        "undisclosed",
        "account default\nhost h\nundisclosed_recipients\n",
        None,
    )
    .account;
    assert!(a.undisclosed_recipients);
    // A socket overrides host and port, as in msmtp.
    let a = account(
        "socket",
        "account default\nhost h\nport 24\nsocket /run/lmtp\n",
        None,
    )
    .account;
    assert_eq!(
        (a.hosts.as_slice(), a.ports.as_slice()),
        (&["/run/lmtp".to_owned()][..], &[][..])
    );
    // %U in from is the user.
    let user = postie_smtp::LocalEnv::from_system().user;
    let a = account(
        "subst",
        "account default\nhost h\nfrom %U@example.org\n",
        None,
    )
    .account;
    assert_eq!(a.from, Some(format!("{user}@example.org")));
    // A pattern chooses the account; it is no address to send from.
    let a = account(
        "pattern",
        "account default\nhost h\nfrom *@example.org\n",
        None,
    )
    .account;
    assert_eq!(a.from, None);
}

/// msmtp's default is auth off: a user alone logs in to nothing.
#[test]
fn auth_is_msmtp_s() {
    let a = account(
        "auth-off",
        "account default\nhost h\nuser u\npasswordeval echo x\n",
        None,
    )
    .account;
    assert!(a.username.is_none() && !a.has_secret());
    for (text, want) in [
        (
            "account default\nhost h\nauth on\n",
            "auth is on but no user is set",
        ),
        (
            "account default\nhost h\nauth on\nuser u\n",
            "add passwordeval CMD",
        ),
        ("account default\nport 25\n", "no host"),
        (
            "account default\nhost h\ntls_cert_file /c.pem\n",
            "tls_cert_file needs tls_key_file",
        ),
    ] {
        let f = file("auth-bad", text, 0o600);
        let err = pick(&f, None, None).err().unwrap();
        assert!(err.contains(want), "{text:?}: {err}");
        assert!(err.contains("account default: "), "{err}");
    }
    // A written password wins over passwordeval, as in msmtp.
    let a = account(
        "both",
        "account default\nhost h\nauth plain\nuser u\npasswordeval echo evaluated\npassword written\n",
        None,
    )
    .account;
    assert_eq!(*a.read_secret().unwrap(), "written");
    assert_eq!(a.auth, ["PLAIN"]);
}

/// Accepted from a file no one else can read, with a warning; refused
/// from any other, and never shown.
#[test]
fn a_password_in_the_file_needs_a_private_file() {
    let text =
        "defaults\ntls on\n\naccount default\nhost h\nauth on\nuser u\npassword hunter2-secret\n";
    let f = file("password", text, 0o600);
    let chosen = pick(&f, None, None).unwrap().unwrap();
    assert_eq!(*chosen.account.read_secret().unwrap(), "hunter2-secret");
    assert!(
        chosen.warnings.iter().any(|w| w.ends_with(
            "msmtprc:8: the password is written in the file; passwordeval is safer (a command that prints it, e.g. passwordeval \"pass show mail\")"
        )),
        "{:?}",
        chosen.warnings
    );
    assert!(!format!("{:?}", chosen.account).contains("hunter2"));
    for mode in [0o640, 0o604, 0o644] {
        std::fs::set_permissions(&f.path, std::fs::Permissions::from_mode(mode)).unwrap();
        let err = pick(&f, None, None).err().unwrap();
        assert!(
            err.contains(&format!("chmod 600 {}", f.path.display())),
            "{err}"
        );
        assert!(err.contains("msmtprc:8: a password is written in"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }
    std::fs::set_permissions(&f.path, std::fs::Permissions::from_mode(0o600)).unwrap();
    if std::os::unix::fs::chown(&f.path, Some(65534), None).is_ok() {
        let err = pick(&f, None, None).err().unwrap();
        assert!(err.contains("belongs to uid 65534"), "{err}");
    }
}

#[test]
fn unknown_and_unsupported_keys_are_warnings_naming_the_line() {
    let text = "defaults\nsyslog LOG_MAIL\nbogus_key 1\naccount default\nhost h\n\
                proxy_host 127.0.0.1\nproxy_port 9050\nsource_ip 192.0.2.7\naliases /etc/aliases\n\
                tls_fingerprint 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF\n\
                set_date_header off\nremove_bcc_headers on\nlogfile\nset_from_header off\n\
                tls_priorities NORMAL\n";
    let chosen = account("warn", text, None);
    let lines: Vec<&str> = chosen
        .warnings
        .iter()
        .map(|w| w.split_once("msmtprc:").unwrap().1)
        .collect();
    let mut want = vec![
        "3: unknown key bogus_key; ignored",
        "11: set_date_header is not supported by postie; ignored",
        "14: set_from_header off is not supported by postie (a message without From gets one, as RFC 5322 asks); ignored",
        "15: tls_priorities is not supported by postie; ignored",
    ];
    let mut got = lines.clone();
    got.sort_unstable();
    want.sort_unstable();
    // remove_bcc_headers on is what postie does, and `logfile` (empty)
    // asks for no log: neither is warned about.
    assert_eq!(got, want, "{:?}", chosen.warnings);
    let a = &chosen.account;
    assert_eq!(a.log.syslog.as_ref().map(|s| s.facility), Some(2));
    assert_eq!(a.aliases, Some(PathBuf::from("/etc/aliases")));
    assert_eq!(a.tls_fingerprints.len(), 1);
    assert!(
        a.ca_files.is_empty(),
        "msmtp: a fingerprint replaces tls_trust_file"
    );
    assert_eq!(a.source_ip, Some("192.0.2.7".parse().unwrap()));
    // `logfile` (empty) asks for no log.
    assert_eq!(a.log.file, None);
}

#[test]
fn the_account_is_named_else_found_by_sender_else_default() {
    let text = "account work\nhost mx.work.example\nfrom ann@work.example\n\
                account lists\nhost mx.lists.example\nfrom *@lists.example\n\
                account default\nhost mx.home.example\nfrom ann@home.example\n";
    let f = file("choose", text, 0o600);
    let host =
        |account, sender| pick(&f, account, sender).unwrap().unwrap().account.hosts[0].clone();
    assert_eq!(host(None, None), "mx.home.example");
    assert_eq!(host(Some("work"), None), "mx.work.example");
    assert_eq!(host(None, Some("Ann+x@Work.Example")), "mx.work.example");
    assert_eq!(host(None, Some("bot@lists.example")), "mx.lists.example");
    assert_eq!(
        host(None, Some("other@elsewhere.example")),
        "mx.home.example"
    );
    // --account wins over the sender.
    assert_eq!(
        host(Some("default"), Some("ann@work.example")),
        "mx.home.example"
    );
    let err = pick(&f, Some("nope"), None).err().unwrap();
    assert!(
        err.ends_with("no account \"nope\" (accounts: work, lists, default)"),
        "{err}"
    );
    // No account default, none asked for: none (as postie's own file).
    let f = file("nodefault", "account work\nhost h\n", 0o600);
    assert!(pick(&f, None, None).unwrap().is_none());
}

/// The file `tests/msmtprc.rs` also gives msmtp itself (`msmtp --pretend`),
/// which reads it the same way: this is the table both check.
#[test]
fn the_inheritance_file_reads_as_msmtp_reads_it() {
    let text = include_str!("../../../tests/msmtprc/inheritance.msmtprc");
    let f = file("manual", text, 0o600);
    let gpg = "gpg2 --no-tty -q -d ~/.msmtp-password.gpg";
    // account, host, port, tls, from, user, mechanisms, passwordeval
    for (name, host, port, tls, from, user, auth, eval) in [
        (
            "freemail",
            "smtp.freemail.example",
            587,
            TlsArg::Required,
            "joe_smith@freemail.example",
            "joe.smith",
            "",
            gpg,
        ),
        (
            "freemail2",
            "smtp.freemail.example",
            587,
            TlsArg::Required,
            "joey@freemail.example",
            "joe.smith",
            "",
            gpg,
        ),
        (
            "isp",
            "mail.isp.example",
            465,
            TlsArg::Implicit,
            "smithjoe@isp.example",
            "12345",
            "SCRAM-SHA-256",
            "pass show isp",
        ),
        (
            "work",
            "mail.isp.example",
            465,
            TlsArg::Implicit,
            "joe@work.example",
            "12345",
            "SCRAM-SHA-256",
            "pass show isp",
        ),
        (
            "default",
            "smtp.freemail.example",
            587,
            TlsArg::Required,
            "joey@freemail.example",
            "joe.smith",
            "",
            gpg,
        ),
    ] {
        let chosen = pick(&f, Some(name), None).unwrap().unwrap();
        let a = chosen.account;
        assert_eq!(a.hosts, [host], "{name}");
        assert_eq!(a.ports, [port], "{name}");
        assert_eq!(a.tls, Some(tls), "{name}");
        assert_eq!(a.from.as_deref(), Some(from), "{name}");
        assert_eq!(a.username.as_deref(), Some(user), "{name}");
        assert_eq!(a.auth.join(","), auth, "{name}");
        assert_eq!(a.secret, Some(SecretSource::Command(eval.into())), "{name}");
        assert_eq!(a.timeout, Some(30.0), "{name}");
        assert!(a.ca_files.is_empty(), "tls_trust_file system: {name}");
        assert!(chosen.warnings.is_empty(), "{name}: {:?}", chosen.warnings);
        let dsn = (name == "work").then(|| Notify::parse("failure,delay").unwrap());
        assert_eq!(a.dsn_notify, dsn, "{name}");
        assert_eq!(
            a.dsn_ret,
            (name == "work").then_some(Ret::Headers),
            "{name}"
        );
    }
}

#[test]
fn the_system_file_logs_to_syslog_and_reads_aliases() {
    let text = include_str!("../../../tests/msmtprc/system.msmtprc")
        .replace("{HOST}", "relay.example.org")
        .replace("{PORT}", "25");
    let chosen = account("system", &text, None);
    let a = &chosen.account;
    assert_eq!((a.hosts[0].as_str(), a.ports[0]), ("relay.example.org", 25));
    assert_eq!(a.tls, Some(TlsArg::None));
    assert_eq!(a.client.as_deref(), Some("client.example.org"));
    assert!(a.username.is_none() && !a.from_header_always);
    let lines: Vec<&str> = chosen
        .warnings
        .iter()
        .map(|w| w.split_once("msmtprc:").unwrap().1)
        .collect();
    assert!(lines.is_empty(), "{lines:?}");
    assert_eq!(a.log.syslog.as_ref().map(|s| s.facility), Some(2));
    assert_eq!(a.aliases, Some(PathBuf::from("/etc/aliases")));
}
