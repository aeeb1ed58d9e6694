//! The lines of an msmtp configuration file, read as msmtp 1.8 reads them,
//! into typed settings grouped by account, inheritance applied.
//!
//! What was checked against msmtp 1.8.23 itself (`msmtp --pretend -C`):
//! the command is the line's first word, the argument the rest with the
//! blanks around it trimmed; a line whose first non-blank character is `#`
//! is a comment, and a `#` later on is part of the argument; an argument
//! that starts and ends with `"` loses those two characters and nothing
//! else (`\"` stays `\"`: a value means what it meant to msmtp); names are
//! case-sensitive; settings before any `account` or `defaults` line belong
//! to an account named `default`; a child account gets its parents'
//! settings, their parents' included, but not the defaults they had (it
//! has the defaults of its own line).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

use postie_smtp::dsn::{Notify, Ret};

/// One account: its name, and its settings in the order they apply (the
/// defaults in force at its `account` line, then its parents', then its
/// own): a later one for the same setting wins.
#[derive(Clone, Debug)]
pub(super) struct Section {
    pub(super) name: String,
    inherited: Vec<Entry>,
    /// Its parents' explicit settings, then its own: what a child of it
    /// inherits.
    explicit: Vec<Entry>,
}

impl Section {
    /// Each setting's last value, by slot; unknown keys all kept.
    pub(super) fn effective(&self) -> Effective {
        let mut slots = BTreeMap::new();
        let mut unknown = Vec::new();
        for entry in self.inherited.iter().chain(&self.explicit) {
            match &entry.value {
                Value::Unknown => unknown.push(entry.clone()),
                // Each ignored command is a setting of its own.
                Value::Ignored(_) => {
                    slots.insert(entry.key.clone(), entry.clone());
                }
                value => {
                    slots.insert(value.slot().to_owned(), entry.clone());
                }
            }
        }
        Effective { slots, unknown }
    }
}

/// The settings an account ends up with.
#[derive(Clone, Debug, Default)]
pub(super) struct Effective {
    /// By [`Value::slot`] (an ignored command by its key): the line that
    /// set it last.
    pub(super) slots: BTreeMap<String, Entry>,
    /// Lines whose key msmtp does not know either.
    pub(super) unknown: Vec<Entry>,
}

impl Effective {
    /// The values, in slot order.
    pub(super) fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.slots.values()
    }
}

/// A setting and the line that wrote it.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Entry {
    pub(super) line: usize,
    /// The key as written (`tls_nocertcheck`, not its slot `tls_certcheck`).
    pub(super) key: String,
    pub(super) value: Value,
}

/// A typed setting. `None` in an `Option` is msmtp's empty argument (or
/// `off`): the setting unset.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Value {
    Host(String),
    Port(u16),
    Socket(Option<PathBuf>),
    /// Seconds; `off` is `None`.
    Timeout(Option<u32>),
    /// `protocol lmtp`.
    Lmtp(bool),
    Domain(String),
    From(String),
    Auth(Auth),
    User(Option<String>),
    Password(Option<super::super::WrittenPassword>),
    PasswordEval(Option<String>),
    Tls(bool),
    Starttls(bool),
    TrustFile(Trust),
    CertCheck(bool),
    CertFile(Option<PathBuf>),
    KeyFile(Option<PathBuf>),
    DsnNotify(Option<Notify>),
    DsnReturn(Option<Ret>),
    SetFromHeader(FromHeader),
    Undisclosed(bool),
    Logfile(Option<PathBuf>),
    /// The facility (`LOG_USER` for `on`).
    Syslog(Option<String>),
    Aliases(Option<PathBuf>),
    ProxyHost(Option<String>),
    ProxyPort(Option<u16>),
    SourceIp(Option<IpAddr>),
    Fingerprint(Option<Fingerprint>),
    /// An msmtp command postie does not act on; `true` when its value asks
    /// for something other than what postie does anyway (so a warning).
    Ignored(bool),
    /// A key msmtp does not know either.
    Unknown,
}

impl Value {
    /// The setting a value sets: a later line for the same slot wins
    /// (old names share their new name's slot).
    fn slot(&self) -> &'static str {
        match self {
            Self::Host(_) => "host",
            Self::Port(_) => "port",
            Self::Socket(_) => "socket",
            Self::Timeout(_) => "timeout",
            Self::Lmtp(_) => "protocol",
            Self::Domain(_) => "domain",
            Self::From(_) => "from",
            Self::Auth(_) => "auth",
            Self::User(_) => "user",
            Self::Password(_) => "password",
            Self::PasswordEval(_) => "passwordeval",
            Self::Tls(_) => "tls",
            Self::Starttls(_) => "tls_starttls",
            Self::TrustFile(_) => "tls_trust_file",
            Self::CertCheck(_) => "tls_certcheck",
            Self::CertFile(_) => "tls_cert_file",
            Self::KeyFile(_) => "tls_key_file",
            Self::DsnNotify(_) => "dsn_notify",
            Self::DsnReturn(_) => "dsn_return",
            Self::SetFromHeader(_) => "set_from_header",
            Self::Undisclosed(_) => "undisclosed_recipients",
            Self::Logfile(_) => "logfile",
            Self::Syslog(_) => "syslog",
            Self::Aliases(_) => "aliases",
            Self::ProxyHost(_) => "proxy_host",
            Self::ProxyPort(_) => "proxy_port",
            Self::SourceIp(_) => "source_ip",
            Self::Fingerprint(_) => "tls_fingerprint",
            // Never looked up: see `Section::effective`.
            Self::Ignored(_) | Self::Unknown => "",
        }
    }
}

/// `auth`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Auth {
    /// `off` (msmtp's default): no AUTH, whatever `user` says.
    Off,
    /// `on` or empty: the best mechanism the server offers.
    Auto,
    /// One mechanism, as postie names it (`SCRAM-SHA-256`).
    Method(String),
}

/// `tls_trust_file`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Trust {
    /// `system` (msmtp's default): the system's CAs.
    System,
    /// An empty argument: msmtp then trusts no CA (only a fingerprint).
    Nothing,
    File(PathBuf),
}

/// `set_from_header`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum FromHeader {
    /// Add a From the message lacks (msmtp's default, postie's behaviour).
    Auto,
    /// Always write From from the envelope sender.
    On,
    /// Never add one.
    Off,
}

/// `tls_fingerprint`: a certificate's digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Fingerprint {
    /// `SHA256` (32 bytes), or for old files `SHA1` (20) or `MD5` (16).
    pub(crate) algorithm: &'static str,
    pub(crate) digest: Vec<u8>,
}

/// The file's accounts, in order.
pub(super) fn parse(text: &str) -> Result<Vec<Section>, String> {
    let mut defaults: Vec<Entry> = Vec::new();
    let mut accounts: Vec<Section> = Vec::new();
    // Where settings go: `None` is the defaults.
    let mut current: Option<usize> = None;
    let mut seen_section = false;
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let (key, rest) = match trimmed.find([' ', '\t']) {
            Some(at) => trimmed.split_at(at),
            None => (trimmed, ""),
        };
        let arg = unquote(rest.trim());
        match key {
            "defaults" => {
                if !arg.is_empty() {
                    return Err(format!("line {line}: defaults takes no argument"));
                }
                current = None;
                seen_section = true;
            }
            "account" => {
                let section = new_account(line, arg, &defaults, &accounts)?;
                accounts.push(section);
                current = Some(accounts.len() - 1);
                seen_section = true;
            }
            _ => {
                if !seen_section {
                    // msmtp 1.2's form, still read: settings before any
                    // account belong to one named `default`.
                    accounts.push(Section {
                        name: "default".to_owned(),
                        inherited: Vec::new(),
                        explicit: Vec::new(),
                    });
                    current = Some(accounts.len() - 1);
                    seen_section = true;
                }
                let value = value(key, arg).map_err(|e| format!("line {line}: {key}: {e}"))?;
                let entry = Entry {
                    line,
                    key: key.to_owned(),
                    value,
                };
                match current.and_then(|i| accounts.get_mut(i)) {
                    Some(section) => section.explicit.push(entry),
                    None => defaults.push(entry),
                }
            }
        }
    }
    Ok(accounts)
}

/// `account NAME [: PARENT[, PARENT...]]`.
fn new_account(
    line: usize,
    arg: &str,
    defaults: &[Entry],
    accounts: &[Section],
) -> Result<Section, String> {
    let (name, parents) = match arg.split_once(':') {
        Some((name, parents)) => (name.trim(), Some(parents)),
        None => (arg, None),
    };
    if name.is_empty() {
        return Err(format!("line {line}: account needs a name"));
    }
    if name.contains([',', ':']) {
        return Err(format!(
            "line {line}: an account name may not hold a colon or a comma: {name:?}"
        ));
    }
    if accounts.iter().any(|a| a.name == name) {
        return Err(format!("line {line}: account {name} is defined twice"));
    }
    let mut explicit = Vec::new();
    for parent in parents.map(|p| p.split(',')).into_iter().flatten() {
        let parent = parent.trim();
        if parent.is_empty() {
            return Err(format!(
                "line {line}: an empty account name after the colon"
            ));
        }
        let Some(from) = accounts.iter().find(|a| a.name == parent) else {
            return Err(format!(
                "line {line}: account {parent} is not defined (above this line)"
            ));
        };
        explicit.extend(from.explicit.iter().cloned());
    }
    Ok(Section {
        name: name.to_owned(),
        inherited: defaults.to_vec(),
        explicit,
    })
}

/// msmtp's quoting: one pair of enclosing double quotes is taken off.
fn unquote(arg: &str) -> &str {
    match arg.strip_prefix('"').and_then(|a| a.strip_suffix('"')) {
        Some(inner) if arg.len() >= 2 => inner,
        _ => arg,
    }
}

/// The typed value of `key arg`; an error says what is wrong with `arg`.
fn value(key: &str, arg: &str) -> Result<Value, String> {
    let text = || (!arg.is_empty()).then(|| arg.to_owned());
    let path = || (!arg.is_empty()).then(|| super::super::expand_home(arg.as_ref()));
    Ok(match key {
        "host" => Value::Host(needed(arg)?.to_owned()),
        "port" => Value::Port(port(needed(arg)?)?),
        "socket" => Value::Socket(path()),
        "timeout" | "connect_timeout" => Value::Timeout(match needed(arg)? {
            "off" => None,
            n => Some(positive(n)?),
        }),
        "protocol" => Value::Lmtp(match needed(arg)? {
            "smtp" => false,
            "lmtp" => true,
            other => return Err(format!("smtp or lmtp, not {other:?}")),
        }),
        "domain" => Value::Domain(arg.to_owned()),
        "from" => Value::From(arg.to_owned()),
        "auth" => Value::Auth(auth(arg)?),
        "user" => Value::User(text()),
        "password" => Value::Password(text().map(super::super::WrittenPassword::new)),
        "passwordeval" => Value::PasswordEval(text()),
        "tls" => Value::Tls(on_off(arg)?),
        "tls_starttls" => Value::Starttls(on_off(arg)?),
        "tls_nostarttls" => Value::Starttls(!no_argument(arg)?),
        "tls_trust_file" => Value::TrustFile(match arg {
            "" => Trust::Nothing,
            "system" => Trust::System,
            _ => Trust::File(super::super::expand_home(arg.as_ref())),
        }),
        "tls_certcheck" => Value::CertCheck(on_off(arg)?),
        "tls_nocertcheck" => Value::CertCheck(!no_argument(arg)?),
        "tls_cert_file" => Value::CertFile(path()),
        "tls_key_file" => Value::KeyFile(path()),
        "dsn_notify" => Value::DsnNotify(match needed(arg)? {
            "off" => None,
            list => Some(Notify::parse(list).map_err(|e| e.to_string())?),
        }),
        "dsn_return" => Value::DsnReturn(match needed(arg)? {
            "off" => None,
            "headers" | "hdrs" => Some(Ret::Headers),
            "full" => Some(Ret::Full),
            other => return Err(format!("off, headers or full, not {other:?}")),
        }),
        "set_from_header" => Value::SetFromHeader(match arg {
            "auto" => FromHeader::Auto,
            "" | "on" => FromHeader::On,
            "off" => FromHeader::Off,
            other => return Err(format!("auto, on or off, not {other:?}")),
        }),
        "add_missing_from_header" => Value::SetFromHeader(if on_off(arg)? {
            FromHeader::Auto
        } else {
            FromHeader::Off
        }),
        "undisclosed_recipients" => Value::Undisclosed(on_off(arg)?),
        "logfile" => Value::Logfile(path()),
        "syslog" => Value::Syslog(match arg {
            "" | "on" => Some("LOG_USER".to_owned()),
            "off" => None,
            facility if is_facility(facility) => Some(facility.to_owned()),
            other => {
                return Err(format!(
                    "on, off, LOG_USER, LOG_MAIL or LOG_LOCAL0 to LOG_LOCAL7, not {other:?}"
                ))
            }
        }),
        "aliases" => Value::Aliases(path()),
        "proxy_host" => Value::ProxyHost(text()),
        "proxy_port" => Value::ProxyPort(if arg.is_empty() {
            None
        } else {
            Some(port(arg)?)
        }),
        "source_ip" => Value::SourceIp(if arg.is_empty() {
            None
        } else {
            Some(
                arg.parse()
                    .map_err(|_| format!("an IP address, not {arg:?}"))?,
            )
        }),
        "tls_fingerprint" => Value::Fingerprint(if arg.is_empty() {
            None
        } else {
            Some(fingerprint(arg)?)
        }),
        _ => match ignored(key, arg) {
            Some(asks) => Value::Ignored(asks),
            None => Value::Unknown,
        },
    })
}

/// For an msmtp command postie does not act on: whether this argument
/// asks for something postie does not do anyway. `None`: not msmtp's.
fn ignored(key: &str, arg: &str) -> Option<bool> {
    let on = arg.is_empty() || arg == "on";
    Some(match key {
        // What postie always does: a Date and a Message-ID the message
        // lacks are added, Bcc is never sent, -f wins over `from`.
        "set_date_header" | "set_msgid_header" => arg != "auto",
        "add_missing_date_header" | "remove_bcc_headers" | "allow_from_override" => !on,
        "auto_from" | "keepbcc" | "tls_force_sslv3" => on,
        "eval" => true,
        "tls_crl_file"
        | "tls_priorities"
        | "tls_min_dh_prime_bits"
        | "tls_host_override"
        | "ntlmdomain"
        | "maildomain"
        | "logfile_time_format" => !arg.is_empty(),
        _ => return None,
    })
}

fn needed(arg: &str) -> Result<&str, String> {
    if arg.is_empty() {
        Err("needs a value".to_owned())
    } else {
        Ok(arg)
    }
}

fn on_off(arg: &str) -> Result<bool, String> {
    match arg {
        "" | "on" => Ok(true),
        "off" => Ok(false),
        other => Err(format!("on or off, not {other:?}")),
    }
}

/// msmtp 1.2's `tls_nocertcheck` and `tls_nostarttls`: no argument.
fn no_argument(arg: &str) -> Result<bool, String> {
    if arg.is_empty() {
        Ok(true)
    } else {
        Err("takes no value".to_owned())
    }
}

fn port(arg: &str) -> Result<u16, String> {
    arg.parse::<u16>()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| format!("a port from 1 to 65535, not {arg:?}"))
}

fn positive(arg: &str) -> Result<u32, String> {
    arg.parse::<u32>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("off or a number of seconds, not {arg:?}"))
}

fn auth(arg: &str) -> Result<Auth, String> {
    Ok(match arg {
        "" | "on" => Auth::Auto,
        "off" => Auth::Off,
        "plain" | "login" | "cram-md5" | "digest-md5" | "scram-sha-1" | "scram-sha-256"
        | "oauthbearer" | "xoauth2" => Auth::Method(arg.to_ascii_uppercase()),
        "external" | "gssapi" | "ntlm" => {
            return Err(format!(
                "postie has no {arg} mechanism: use on (the best offered) or one of plain, login, cram-md5, digest-md5, scram-sha-1, scram-sha-256, oauthbearer, xoauth2"
            ))
        }
        other => return Err(format!("on, off or a mechanism, not {other:?}")),
    })
}

fn is_facility(text: &str) -> bool {
    matches!(text, "LOG_USER" | "LOG_MAIL")
        || text
            .strip_prefix("LOG_LOCAL")
            .is_some_and(|n| matches!(n, "0" | "1" | "2" | "3" | "4" | "5" | "6" | "7"))
}

/// `01:23:...`: SHA-256 (32 bytes), SHA-1 (20) or MD5 (16), bytes
/// separated by colons (or, as msmtp also reads, blanks).
fn fingerprint(arg: &str) -> Result<Fingerprint, String> {
    let bad = || format!("a SHA-256 fingerprint like 01:23:...:EF (32 bytes), not {arg:?}");
    let digest = arg
        .split([':', ' '])
        .map(|pair| {
            (pair.len() == 2)
                .then(|| u8::from_str_radix(pair, 16).ok())
                .flatten()
        })
        .collect::<Option<Vec<u8>>>()
        .ok_or_else(bad)?;
    let algorithm = match digest.len() {
        32 => "SHA256",
        20 => "SHA1",
        16 => "MD5",
        _ => return Err(bad()),
    };
    Ok(Fingerprint { algorithm, digest })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str, name: &str) -> Effective {
        parse(text)
            .unwrap()
            .into_iter()
            .find(|s| s.name == name)
            .unwrap()
            .effective()
    }

    fn get<'a>(e: &'a Effective, slot: &str) -> Option<&'a Value> {
        e.slots.get(slot).map(|entry| &entry.value)
    }

    #[test]
    fn quotes_comments_and_blanks_are_msmtps() {
        let text = "# a comment\n\n  \t# indented comment\naccount default\n\
                    host   mail.example.org # not a comment\n\
                    from \"Joe \\\"Q\\\" <joe@example.org>\"\n\
                    passwordeval \"  gpg -d x  \"\n\
                    user \"abc\n\
                    domain \"\"\n";
        let e = one(text, "default");
        assert_eq!(
            get(&e, "host"),
            Some(&Value::Host("mail.example.org # not a comment".into()))
        );
        // msmtp keeps a backslash before a quote as it is.
        assert_eq!(
            get(&e, "from"),
            Some(&Value::From("Joe \\\"Q\\\" <joe@example.org>".into()))
        );
        assert_eq!(
            get(&e, "passwordeval"),
            Some(&Value::PasswordEval(Some("  gpg -d x  ".into())))
        );
        assert_eq!(get(&e, "user"), Some(&Value::User(Some("\"abc".into()))));
        assert_eq!(get(&e, "domain"), Some(&Value::Domain(String::new())));
    }

    /// msmtp 1.8.23 gives the same for this file (`--pretend`).
    #[test]
    fn defaults_and_inheritance_are_msmtps() {
        let text = "defaults\nport 1\naccount a\nhost A\ndefaults\nport 2\nfrom d@x\n\
                    account b : a\naccount default : b\nport 3\n\
                    account c : a, default\nauth on\n";
        let b = one(text, "b");
        // The defaults of b's own line, a's explicit host (not a's port 1).
        assert_eq!(get(&b, "host"), Some(&Value::Host("A".into())));
        assert_eq!(get(&b, "port"), Some(&Value::Port(2)));
        assert_eq!(get(&b, "from"), Some(&Value::From("d@x".into())));
        let d = one(text, "default");
        assert_eq!(get(&d, "port"), Some(&Value::Port(3)));
        assert_eq!(get(&d, "host"), Some(&Value::Host("A".into())));
        // Grandparents count: c gets default's port 3 and, through b, A.
        let c = one(text, "c");
        assert_eq!(get(&c, "port"), Some(&Value::Port(3)));
        assert_eq!(get(&c, "host"), Some(&Value::Host("A".into())));
        assert_eq!(get(&c, "auth"), Some(&Value::Auth(Auth::Auto)));
    }

    #[test]
    fn settings_before_any_account_are_account_default() {
        let sections = parse("host a\nport 26\n").unwrap();
        assert_eq!(sections.len(), 1);
        assert_eq!(sections[0].name, "default");
        assert_eq!(
            get(&sections[0].effective(), "port"),
            Some(&Value::Port(26))
        );
    }

    #[test]
    fn values_are_typed() {
        let text = "account default\ntls\ntls_starttls off\ntls_certcheck off\ntimeout 30\n\
                    protocol lmtp\nauth scram-sha-256\ntls_trust_file system\n\
                    dsn_notify failure,delay\ndsn_return headers\nset_from_header on\n\
                    syslog LOG_MAIL\nsource_ip 192.0.2.1\nproxy_port 9050\n\
                    tls_fingerprint 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff\n";
        let e = one(text, "default");
        assert_eq!(get(&e, "tls"), Some(&Value::Tls(true)));
        assert_eq!(get(&e, "tls_starttls"), Some(&Value::Starttls(false)));
        assert_eq!(get(&e, "tls_certcheck"), Some(&Value::CertCheck(false)));
        assert_eq!(get(&e, "timeout"), Some(&Value::Timeout(Some(30))));
        assert_eq!(get(&e, "protocol"), Some(&Value::Lmtp(true)));
        assert_eq!(
            get(&e, "auth"),
            Some(&Value::Auth(Auth::Method("SCRAM-SHA-256".into())))
        );
        assert_eq!(
            get(&e, "tls_trust_file"),
            Some(&Value::TrustFile(Trust::System))
        );
        assert_eq!(
            get(&e, "dsn_notify"),
            Some(&Value::DsnNotify(Some(
                Notify::parse("failure,delay").unwrap()
            )))
        );
        assert_eq!(
            get(&e, "dsn_return"),
            Some(&Value::DsnReturn(Some(Ret::Headers)))
        );
        assert_eq!(
            get(&e, "set_from_header"),
            Some(&Value::SetFromHeader(FromHeader::On))
        );
        assert_eq!(
            get(&e, "syslog"),
            Some(&Value::Syslog(Some("LOG_MAIL".into())))
        );
        assert_eq!(
            get(&e, "source_ip"),
            Some(&Value::SourceIp(Some("192.0.2.1".parse().unwrap())))
        );
        assert_eq!(get(&e, "proxy_port"), Some(&Value::ProxyPort(Some(9050))));
        let Some(Value::Fingerprint(Some(f))) = get(&e, "tls_fingerprint") else {
            panic!("{e:?}")
        };
        assert_eq!(
            (f.algorithm, f.digest.len(), f.digest[10]),
            ("SHA256", 32, 0xAA)
        );
    }

    #[test]
    fn old_names_share_the_new_names_slot() {
        let e = one(
            "account default\ntls_certcheck off\ntls_nocertcheck\ntls_nostarttls\nconnect_timeout 5\n",
            "default",
        );
        assert_eq!(get(&e, "tls_certcheck"), Some(&Value::CertCheck(false)));
        assert_eq!(get(&e, "tls_starttls"), Some(&Value::Starttls(false)));
        assert_eq!(get(&e, "timeout"), Some(&Value::Timeout(Some(5))));
        let e = one(
            "account default\ntls_nocertcheck\ntls_certcheck on\n",
            "default",
        );
        assert_eq!(get(&e, "tls_certcheck"), Some(&Value::CertCheck(true)));
    }

    /// What msmtp refuses, postie refuses, naming the line.
    #[test]
    fn mistakes_name_their_line() {
        for (text, want) in [
            (
                "account default\nhost a\ntls maybe\n",
                "line 3: tls: on or off, not \"maybe\"",
            ),
            (
                "account default : nope\n",
                "line 1: account nope is not defined",
            ),
            ("defaults x\n", "line 1: defaults takes no argument"),
            (
                "account a\naccount a\n",
                "line 2: account a is defined twice",
            ),
            ("account a,b\n", "may not hold a colon or a comma"),
            ("account  a  :  \n", "line 1: an empty account name"),
            ("account\n", "line 1: account needs a name"),
            (
                "account a\nport 0\n",
                "line 2: port: a port from 1 to 65535",
            ),
            ("account a\nport\n", "line 2: port: needs a value"),
            ("account a\nhost \"\"\n", "line 2: host: needs a value"),
            (
                "account a\ntimeout -1\n",
                "line 2: timeout: off or a number",
            ),
            ("account a\nauth ntlm\n", "postie has no ntlm mechanism"),
            ("account a\ndsn_notify sometimes\n", "line 2: dsn_notify:"),
            ("account a\nsyslog LOG_KERN\n", "line 2: syslog:"),
            (
                "account a\ntls_fingerprint 00:11\n",
                "line 2: tls_fingerprint:",
            ),
            ("account a\ntls_nocertcheck off\n", "takes no value"),
        ] {
            let err = parse(text).unwrap_err();
            assert!(err.contains(want), "{text:?}: {err}");
        }
    }

    #[test]
    fn unknown_and_ignored_keys_are_kept_with_their_line() {
        let e = one(
            "defaults\nbogus 1\naccount default\nTLS on\nset_date_header off\nremove_bcc_headers on\n",
            "default",
        );
        let unknown: Vec<(usize, &str)> =
            e.unknown.iter().map(|u| (u.line, u.key.as_str())).collect();
        // Names are case-sensitive, as msmtp's.
        assert_eq!(unknown, [(2, "bogus"), (4, "TLS")]);
        let ignored: Vec<(&str, &Value)> = e
            .entries()
            .map(|entry| (entry.key.as_str(), &entry.value))
            .collect();
        assert!(ignored.contains(&("set_date_header", &Value::Ignored(true))));
        assert!(ignored.contains(&("remove_bcc_headers", &Value::Ignored(false))));
    }
}
