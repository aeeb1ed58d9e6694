//! msmtp's configuration file (`~/.msmtprc`, `$XDG_CONFIG_HOME/msmtp/config`,
//! `/etc/msmtprc`), read when postie's own accounts file is not there, so
//! that a user of msmtp switches by a symbolic link alone.
//!
//! [`syntax`] reads the lines as msmtp 1.8 does; this module turns the
//! account asked for into postie's [`Account`], and says on standard error
//! what it leaves out: a key msmtp does not know either (`FILE:LINE:
//! unknown key KEY; ignored`), and a key of msmtp's that postie does not
//! act on (`FILE:LINE: KEY is not supported by postie; ignored`). Neither
//! is an error, as the issue asks; a value msmtp would refuse is one
//! (`FILE: line N: KEY: ...`, exit 78), as it is for msmtp.
//!
//! How msmtp's settings map onto postie's is listed in docs/cli.md
//! ("Accounts from msmtp's file").

mod glob;
mod syntax;

use std::path::Path;

use postie_smtp::SecretSource;

use super::Account;
use crate::args::TlsArg;
use syntax::{Auth, Effective, Entry, FromHeader, Trust, Value};

/// The account of an msmtp file, as postie uses it.
pub(crate) struct Chosen {
    pub(crate) account: Account,
    /// The lines left out, each `FILE:LINE: ...`.
    pub(crate) warnings: Vec<String>,
}

/// The account `account` names, else (msmtp's rule) the first whose `from`
/// matches `sender` (the envelope sender `-f` gave), else the one named
/// `default`. `Ok(None)`: no account asked for, and none named `default`.
/// `meta` is the file's, as it was read: a password written in it is
/// taken only when no one else can read it.
pub(crate) fn choose(
    path: &Path,
    meta: &std::fs::Metadata,
    text: &str,
    account: Option<&str>,
    sender: Option<&str>,
) -> Result<Option<Chosen>, String> {
    let shown = path.display();
    let sections = syntax::parse(text).map_err(|e| format!("{shown}: {e}"))?;
    let by_sender = || {
        let sender = sender.filter(|s| !s.trim().is_empty())?;
        sections.iter().find(|s| {
            matches!(
                s.effective().slots.get("from").map(|e| &e.value),
                Some(Value::From(pattern)) if glob::matches_sender(&expand(pattern), sender)
            )
        })
    };
    let section = match account {
        Some(name) => match sections.iter().find(|s| s.name == name) {
            Some(section) => section,
            None => {
                let known: Vec<&str> = sections.iter().map(|s| s.name.as_str()).collect();
                return Err(format!(
                    "{shown}: no account {name:?} (accounts: {})",
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                ));
            }
        },
        None => match by_sender().or_else(|| sections.iter().find(|s| s.name == "default")) {
            Some(section) => section,
            None => return Ok(None),
        },
    };
    let name = section.name.clone();
    convert(path, meta, &name, &section.effective())
        .map(Some)
        .map_err(|e| format!("{shown}: account {name}: {e}"))
}

/// msmtp's settings as postie's account.
fn convert(
    path: &Path,
    meta: &std::fs::Metadata,
    name: &str,
    settings: &Effective,
) -> Result<Chosen, String> {
    let at = |entry: &Entry| format!("{}:{}", path.display(), entry.line);
    let mut warnings: Vec<String> = settings
        .unknown
        .iter()
        .map(|u| format!("{}: unknown key {}; ignored", at(u), u.key))
        .collect();
    let not_supported = |entry: &Entry| {
        format!(
            "{}: {} is not supported by postie; ignored",
            at(entry),
            entry.key
        )
    };
    let mut account = Account {
        name: name.to_owned(),
        file: Some(path.to_owned()),
        ..Account::default()
    };
    let (mut proxy_host, mut proxy_port) = (None, None);
    let (mut host, mut port, mut socket) = (None, None, None);
    let (mut tls, mut starttls, mut certcheck) = (false, true, true);
    let (mut auth, mut user, mut password, mut eval) = (Auth::Off, None, None, None);
    let (mut cert, mut key) = (None, None);
    for entry in settings.entries() {
        match &entry.value {
            Value::Host(h) => host = Some(h.clone()),
            Value::Port(p) => port = Some(*p),
            Value::Socket(s) => socket.clone_from(s),
            Value::Timeout(t) => account.timeout = t.map(f64::from),
            Value::Lmtp(yes) => account.lmtp = *yes,
            Value::Domain(d) => account.client = Some(expand(d)).filter(|d| !d.is_empty()),
            Value::From(f) => {
                // A pattern (msmtp: `*`, `?` or `[`) only chooses the
                // account for a sender; it is no address to send from.
                let from = expand(f);
                account.from = (!from.is_empty() && !glob::is_pattern(&from)).then_some(from);
            }
            Value::Auth(a) => auth = a.clone(),
            Value::User(u) => user.clone_from(u),
            Value::Password(p) => password = p.clone().map(|p| (p, entry)),
            Value::PasswordEval(c) => eval.clone_from(c),
            Value::Tls(yes) => tls = *yes,
            Value::Starttls(yes) => starttls = *yes,
            Value::TrustFile(trust) => {
                account.ca_files = match trust {
                    Trust::File(file) => vec![file.clone()],
                    Trust::System | Trust::Nothing => Vec::new(),
                }
            }
            Value::CertCheck(yes) => certcheck = *yes,
            Value::CertFile(file) => cert.clone_from(file),
            Value::KeyFile(file) => key.clone_from(file),
            Value::DsnNotify(n) => account.dsn_notify = *n,
            Value::DsnReturn(r) => account.dsn_ret = *r,
            Value::SetFromHeader(how) => {
                account.from_header_always = *how == FromHeader::On;
                if *how == FromHeader::Off {
                    warnings.push(format!(
                        "{}: set_from_header off is not supported by postie (a message without From gets one, as RFC 5322 asks); ignored",
                        at(entry)
                    ));
                }
            }
            Value::Undisclosed(yes) => account.undisclosed_recipients = *yes,
            Value::Logfile(v) => account.log.file.clone_from(v),
            Value::Syslog(v) => {
                account.log.syslog = match v.as_deref() {
                    Some(facility) => crate::sent_log::Syslog::parse_switch(facility, None)
                        .map_err(|e| format!("{}: {e}", at(entry)))?,
                    None => None,
                };
            }
            Value::Aliases(v) => account.aliases.clone_from(v),
            Value::ProxyHost(v) => proxy_host.clone_from(v),
            Value::ProxyPort(v) => proxy_port = *v,
            Value::SourceIp(v) => account.source_ip = *v,
            Value::Fingerprint(v) => {
                // postie's own parser decides (a SHA-1 or MD5 value is
                // refused there, saying why).
                account.tls_fingerprints = v
                    .iter()
                    .map(|f| {
                        let hex: Vec<String> =
                            f.digest.iter().map(|b| format!("{b:02X}")).collect();
                        hex.join(":")
                            .parse::<postie_smtp::tls::Fingerprint>()
                            .map_err(|e| format!("{}: {e}", at(entry)))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
            }
            Value::Ignored(true) => warnings.push(not_supported(entry)),
            Value::Ignored(false) | Value::Unknown => {}
        }
    }
    account.hosts = match (socket, host) {
        // msmtp: a socket overrides host and port.
        (Some(socket), _) => vec![socket.display().to_string()],
        (None, Some(host)) => {
            account.ports = port.into_iter().collect();
            vec![host]
        }
        (None, None) => return Err("no host (msmtp needs one too): add host NAME".to_owned()),
    };
    account.tls = Some(match (tls, starttls) {
        // msmtp's default is tls off: no TLS, not even when offered.
        (false, _) => TlsArg::None,
        (true, true) => TlsArg::Required,
        (true, false) => TlsArg::Implicit,
    });
    // Without TLS there is no certificate to check (nor a warning to give).
    account.accept_invalid_certificates = tls && !certcheck;
    // msmtp: a SOCKS proxy at proxy_host, on proxy_port (default 1080).
    if let Some(host) = proxy_host {
        account.proxy = Some(postie_smtp::ProxySettings::new(
            host,
            proxy_port.unwrap_or(1080),
        ));
    }
    // msmtp: with tls_fingerprint, tls_trust_file is not used (postie would
    // check both when both are given).
    if !account.tls_fingerprints.is_empty() {
        account.ca_files.clear();
    }
    account.client_certificate = match (cert, key) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (None, None) => None,
        (Some(_), None) => return Err("tls_cert_file needs tls_key_file".to_owned()),
        (None, Some(_)) => return Err("tls_key_file needs tls_cert_file".to_owned()),
    };
    let mechanism = match auth {
        // msmtp's default: no AUTH, whatever user says.
        Auth::Off => return Ok(Chosen { account, warnings }),
        Auth::Auto => None,
        Auth::Method(m) => Some(m),
    };
    let Some(user) = user else {
        return Err("auth is on but no user is set: add user NAME".to_owned());
    };
    account.token = matches!(mechanism.as_deref(), Some("OAUTHBEARER" | "XOAUTH2"));
    account.auth = mechanism.into_iter().collect();
    account.username = Some(user);
    match (password, eval) {
        // msmtp runs passwordeval only when no password is written
        // (checked with msmtp 1.8.23 against a server).
        (None, Some(command)) => account.secret = Some(SecretSource::Command(command)),
        (Some((password, entry)), _) => {
            written_password_allowed(path, meta).map_err(|e| format!("{}: {e}", at(entry)))?;
            warnings.push(format!(
                "{}: the password is written in the file; passwordeval is safer (a command that prints it, e.g. passwordeval \"pass show mail\")",
                at(entry)
            ));
            account.password = Some(password);
        }
        (None, None) => {
            return Err(
                "auth is on but there is no password: add passwordeval CMD (a command that prints it: postie reads no keyring, ~/.netrc or terminal)"
                    .to_owned(),
            )
        }
    }
    Ok(Chosen { account, warnings })
}

/// msmtp's rule for a password in the file, made strict: the file is the
/// user's own (by effective uid) and no one else may read it.
fn written_password_allowed(path: &Path, meta: &std::fs::Metadata) -> Result<(), String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        let shown = path.display();
        let me = rustix::process::geteuid().as_raw();
        if meta.uid() != me {
            return Err(format!(
                "a password is written in {shown}, which belongs to uid {}, not to you (uid {me}): use passwordeval, or a file of your own with mode 600",
                meta.uid()
            ));
        }
        if meta.mode() & 0o077 != 0 {
            return Err(format!(
                "a password is written in {shown}, which group or others can open (mode {:03o}): run chmod 600 {shown}, or better use passwordeval",
                meta.mode() & 0o777
            ));
        }
    }
    #[cfg(not(unix))]
    let _ = (path, meta);
    Ok(())
}

/// msmtp's substitutions in `from` and `domain`: `%U` the user, `%H` (and
/// `%C`, its canonical name, which postie takes as it is) the host name,
/// `%M` the first line of `/etc/mailname` (the host name without it).
fn expand(text: &str) -> String {
    if !text.contains('%') {
        return text.to_owned();
    }
    let env = postie_smtp::LocalEnv::from_system();
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.trim().is_empty())
        .unwrap_or_else(|| env.hostname.clone());
    let mailname = || {
        std::fs::read_to_string("/etc/mailname")
            .ok()
            .and_then(|t| t.lines().next().map(|l| l.trim().to_owned()))
            .filter(|l| !l.is_empty())
            .unwrap_or_else(|| host.clone())
    };
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('U') => out.push_str(&env.user),
            Some('H' | 'C') => out.push_str(&host),
            Some('M') => out.push_str(&mailname()),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    out
}

#[cfg(test)]
mod tests;
