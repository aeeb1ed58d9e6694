//! Accounts: `$XDG_CONFIG_HOME/postie/config.toml` (or `--config FILE`).
//!
//! ```toml
//! default = "work"            # the account used without --account
//!
//! [defaults]                  # inherited by every account
//! tls = "starttls"
//!
//! [accounts.work]
//! host = "smtp.example.org"   # or hosts = ["mx1.example.org", "mx2.example.org"]
//! port = 587                  # or ports = [587, 25]
//! tls = "required"            # starttls | none | required | implicit
//! ca_file = "/etc/ssl/my-ca.pem"
//! username = "alice@example.org"
//! password_command = "pass show mail/work"   # or password_env = "VAR",
//!                                            # or password_file = "~/.mailpass"
//! from = "Alice <alice@example.org>"
//! auth = ["SCRAM-SHA-256"]
//! timeout = 30
//! client = "laptop.example.org"
//! spool_on_failure = true     # as --spool-on-failure
//! spool_max_age_days = 3      # `postie spool flush` gives up after (default 5)
//! spool_store = "postgres://postie@db.example.org/mail"   # or a folder's path
//! ```
//!
//! A password is never written in the file itself (the key is refused), and
//! a `password_file` that group or others have any permission on, or that
//! belongs to another user, is refused: a secret must not sit where another
//! user can read it (`--password-file` follows the same rule). The accounts
//! file itself is refused when group or others can write it or another user
//! owns it: its `password_command` runs as the user. Flags given on the
//! command line win over the account, the account over `[defaults]`.
//!
//! Without `--config`, the file is the first found of postie's user file,
//! msmtp's user files, `/etc/postie/config.toml` and `/etc/msmtprc`
//! ([`lookup`]); an msmtp file is read by [`msmtprc`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use zeroize::Zeroizing;

use postie_smtp::SecretSource;

use crate::args::TlsArg;

mod lookup;
mod msmtprc;

/// Reads a secret from where an account says it comes from. The error
/// names the source as the accounts file does (`password_command "pass show
/// work" exited 1`), never the secret; the caller adds the account's name.
pub(crate) fn read_secret(source: &SecretSource) -> Result<Zeroizing<String>, String> {
    match source {
        SecretSource::Env(var) => std::env::var(var)
            .map(Zeroizing::new)
            .map_err(|_| format!("password_env {var} is not set")),
        SecretSource::File(path) => {
            read_password_file(path).map_err(|e| format!("password_file {e}"))
        }
        SecretSource::Command(command) => {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(command)
                .stdin(std::process::Stdio::null())
                .stderr(std::process::Stdio::inherit())
                .output()
                .map_err(|e| format!("cannot run password_command {command:?}: {e}"))?;
            // Wiped whatever happens next: it holds the secret.
            let stdout = Zeroizing::new(out.stdout);
            if !out.status.success() {
                let how = match out.status.code() {
                    Some(code) => format!("exited {code}"),
                    None => format!("ended without an exit code ({})", out.status),
                };
                return Err(format!("password_command {command:?} {how}"));
            }
            let text = std::str::from_utf8(&stdout).map_err(|_| {
                format!("password_command {command:?} printed something that is not UTF-8")
            })?;
            Ok(first_line(text))
        }
        other => Err(format!("{other:?} is not a source an account can name")),
    }
}

/// The first line of `text`, in a buffer wiped on drop.
fn first_line(text: &str) -> Zeroizing<String> {
    Zeroizing::new(text.lines().next().unwrap_or_default().to_owned())
}

/// The first line of a password file, after [`private_file_problem`]: the one rule
/// for `--password-file` and the accounts file's `password_file`. The file
/// is checked through the handle it is read from, so it cannot be swapped
/// in between. The error starts with the path and says what to do.
pub(crate) fn read_password_file(path: &Path) -> Result<Zeroizing<String>, String> {
    use std::io::Read as _;
    let mut file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let meta = file
        .metadata()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    private_file_problem(path, &meta)?;
    // Sized up front, so that no smaller copy is left behind by a regrowth.
    let size = usize::try_from(meta.len()).unwrap_or(0);
    let mut text = Zeroizing::new(String::with_capacity(size.saturating_add(1)));
    file.read_to_string(&mut text)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(first_line(&text))
}

/// One account, `[defaults]` applied.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Account {
    pub(crate) name: String,
    pub(crate) hosts: Vec<String>,
    pub(crate) ports: Vec<u16>,
    pub(crate) tls: Option<TlsArg>,
    pub(crate) ca_files: Vec<PathBuf>,
    pub(crate) username: Option<String>,
    pub(crate) secret: Option<SecretSource>,
    pub(crate) from: Option<String>,
    pub(crate) auth: Vec<String>,
    pub(crate) timeout: Option<f64>,
    pub(crate) client: Option<String>,
    pub(crate) spool_on_failure: bool,
    /// How long `postie spool flush` keeps trying this account's messages.
    pub(crate) spool_max_age: Option<std::time::Duration>,
    /// The spool its messages are kept in, and the spool commands use
    /// with this account (a folder's path or a postgres:// URL), unless
    /// `--store` or the environment says otherwise; checked when used.
    pub(crate) spool_store: Option<String>,
    /// A password written in the file: msmtp's `password`, taken only from
    /// a file no one else can read (postie's own file refuses it).
    pub(crate) password: Option<WrittenPassword>,
    /// The secret is an OAuth 2.0 token (msmtp's `auth oauthbearer`).
    pub(crate) token: bool,
    /// Accept any certificate (msmtp's `tls_certcheck off`): warned about
    /// on every use, as `--insecure-skip-verify`.
    pub(crate) accept_invalid_certificates: bool,
    /// A TLS client certificate chain and its key (PEM files).
    pub(crate) client_certificate: Option<(PathBuf, PathBuf)>,
    /// Speak LMTP (msmtp's `protocol lmtp`).
    pub(crate) lmtp: bool,
    /// DSN: when to report (msmtp's `dsn_notify`).
    pub(crate) dsn_notify: Option<postie_smtp::dsn::Notify>,
    /// DSN: what a report returns (msmtp's `dsn_return`).
    pub(crate) dsn_ret: Option<postie_smtp::dsn::Ret>,
    /// From is always the envelope sender, replacing the message's own
    /// (msmtp's `set_from_header on`).
    pub(crate) from_header_always: bool,
    /// The recipients are not shown: To is `undisclosed-recipients:;`
    /// (msmtp's `undisclosed_recipients on`).
    pub(crate) undisclosed_recipients: bool,
    /// The file the account was read from: a retry reads this one again.
    pub(crate) file: Option<PathBuf>,
    /// Where each message's outcome is logged (`log_file`, `syslog`;
    /// msmtp's `logfile`, `syslog`).
    pub(crate) log: crate::sent_log::LogTarget,
    /// The aliases file for recipients without a domain (msmtp's
    /// `aliases`).
    pub(crate) aliases: Option<PathBuf>,
    /// Pinned certificates (`tls_fingerprint`).
    pub(crate) tls_fingerprints: Vec<postie_smtp::tls::Fingerprint>,
    /// A SOCKS5 proxy (`proxy`, with `proxy_password_env`; msmtp's
    /// `proxy_host` and `proxy_port`).
    pub(crate) proxy: Option<postie_smtp::ProxySettings>,
    /// The local address connections come from (`source_ip`).
    pub(crate) source_ip: Option<std::net::IpAddr>,
    /// DKIM signatures to add (`[[accounts.NAME.dkim]]`).
    pub(crate) dkim: Vec<postie_smtp::settings::DkimSettings>,
}

impl Account {
    /// Whether the account says where its secret comes from.
    pub(crate) fn has_secret(&self) -> bool {
        self.secret.is_some() || self.password.is_some()
    }

    /// The account's secret, read now from its source. The error names the
    /// source, never the secret.
    pub(crate) fn read_secret(&self) -> Result<Zeroizing<String>, String> {
        match (&self.secret, &self.password) {
            (Some(source), _) => read_secret(source),
            (None, Some(written)) => Ok(written.0.clone()),
            (None, None) => Err("no password source".to_owned()),
        }
    }
}

/// A password written in an accounts file: wiped on drop, and never shown
/// by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct WrittenPassword(Zeroizing<String>);

impl WrittenPassword {
    pub(crate) fn new(text: String) -> Self {
        Self(Zeroizing::new(text))
    }
}

impl std::fmt::Debug for WrittenPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WrittenPassword([redacted])")
    }
}

/// The file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSpec {
    default: Option<String>,
    defaults: Option<AccountSpec>,
    #[serde(default)]
    accounts: BTreeMap<String, AccountSpec>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountSpec {
    host: Option<String>,
    hosts: Option<Vec<String>>,
    port: Option<u16>,
    ports: Option<Vec<u16>>,
    tls: Option<String>,
    ca_file: Option<PathBuf>,
    username: Option<String>,
    password_command: Option<String>,
    password_env: Option<String>,
    password_file: Option<PathBuf>,
    /// Only to refuse it with a clear message.
    password: Option<serde::de::IgnoredAny>,
    from: Option<String>,
    auth: Option<Vec<String>>,
    timeout: Option<f64>,
    client: Option<String>,
    spool_on_failure: Option<bool>,
    spool_max_age_days: Option<f64>,
    spool_store: Option<String>,
    log_file: Option<PathBuf>,
    syslog: Option<SyslogSpec>,
    syslog_socket: Option<PathBuf>,
    aliases: Option<PathBuf>,
    tls_fingerprint: Option<OneOrMany>,
    proxy: Option<String>,
    proxy_password_env: Option<String>,
    source_ip: Option<std::net::IpAddr>,
    dkim: Option<Vec<DkimSpec>>,
}

/// One `[[accounts.NAME.dkim]]` table.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DkimSpec {
    key_file: PathBuf,
    selector: String,
    domain: Option<String>,
    canon: Option<String>,
    headers: Option<Vec<String>>,
    expire_after_days: Option<f64>,
}

/// `syslog = true` (LOG_USER, as msmtp) or `syslog = "LOG_MAIL"`.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
enum SyslogSpec {
    On(bool),
    Facility(String),
}

/// A key that takes one value or a list.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl AccountSpec {
    /// `self`, with what it leaves out taken from `base`.
    fn over(self, base: &AccountSpec) -> AccountSpec {
        let base = base.clone();
        AccountSpec {
            host: self.host.or(base.host),
            hosts: self.hosts.or(base.hosts),
            port: self.port.or(base.port),
            ports: self.ports.or(base.ports),
            tls: self.tls.or(base.tls),
            ca_file: self.ca_file.or(base.ca_file),
            username: self.username.or(base.username),
            password_command: self.password_command.or(base.password_command),
            password_env: self.password_env.or(base.password_env),
            password_file: self.password_file.or(base.password_file),
            password: self.password.or(base.password),
            from: self.from.or(base.from),
            auth: self.auth.or(base.auth),
            timeout: self.timeout.or(base.timeout),
            client: self.client.or(base.client),
            spool_on_failure: self.spool_on_failure.or(base.spool_on_failure),
            spool_max_age_days: self.spool_max_age_days.or(base.spool_max_age_days),
            spool_store: self.spool_store.or(base.spool_store),
            log_file: self.log_file.or(base.log_file),
            syslog: self.syslog.or(base.syslog),
            syslog_socket: self.syslog_socket.or(base.syslog_socket),
            aliases: self.aliases.or(base.aliases),
            tls_fingerprint: self.tls_fingerprint.or(base.tls_fingerprint),
            proxy: self.proxy.or(base.proxy),
            proxy_password_env: self.proxy_password_env.or(base.proxy_password_env),
            source_ip: self.source_ip.or(base.source_ip),
            dkim: self.dkim.or(base.dkim),
        }
    }
}

/// The accounts file `--config` names, else the default one.
pub(crate) fn default_path() -> Option<PathBuf> {
    let base = match std::env::var_os("XDG_CONFIG_HOME") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(std::env::var_os("HOME")?).join(".config"),
    };
    Some(base.join("postie").join("config.toml"))
}

/// What the lookup gave for `postie send`.
pub(crate) enum Chosen {
    /// The account to use.
    Account(Box<Account>),
    /// A file, which names no default account (and none was asked for).
    NoDefault(PathBuf),
    /// No accounts file: the places looked at, in order.
    NoFile(Vec<PathBuf>),
}

impl Chosen {
    /// The account, if there is one.
    pub(crate) fn account(&self) -> Option<&Account> {
        match self {
            Self::Account(account) => Some(account),
            _ => None,
        }
    }

    /// Why no account was used, for the error of a send that failed
    /// without one (at the contract's default server, localhost).
    pub(crate) fn why_none(&self) -> Option<String> {
        match self {
            Self::Account(_) => None,
            Self::NoDefault(path) => Some(format!(
                "{} names no default account (postie: default = \"NAME\"; msmtp: account default : NAME), so none was used",
                path.display()
            )),
            Self::NoFile(looked) => Some(format!(
                "no accounts file was found, so none was used (looked for {})",
                looked
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }
}

/// The account to use: `--account NAME`, else the file's `default` (in an
/// msmtp file, the first account whose `from` matches `sender`, else
/// `default`), from the file `config` names or else the first found of the
/// places [`lookup`] lists. Every problem with the file is an error (exit
/// 78); a warning about an msmtp file's lines is printed on standard error.
pub(crate) fn find(
    config: Option<&Path>,
    account: Option<&str>,
    sender: Option<&str>,
) -> Result<Chosen, String> {
    let places = lookup::places(config);
    let Some(found) = lookup::first_found(&places)? else {
        let looked: Vec<PathBuf> = places.into_iter().map(|p| p.path).collect();
        if let Some(name) = account {
            let home = if std::env::var_os("HOME").is_some() {
                ""
            } else {
                "; HOME is not set"
            };
            return Err(format!(
                "no account {name:?}: no accounts file was found (looked for {}{home})",
                looked
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        return Ok(Chosen::NoFile(looked));
    };
    let chosen = match found.format {
        lookup::Format::Toml => from_toml(&found.path, &found.text, account)?,
        lookup::Format::Msmtp => {
            match msmtprc::choose(&found.path, &found.meta, &found.text, account, sender)? {
                Some(chosen) => {
                    for warning in &chosen.warnings {
                        eprintln!("postie: warning: {warning}");
                    }
                    Some(chosen.account)
                }
                None => None,
            }
        }
    };
    Ok(match chosen {
        Some(account) => Chosen::Account(Box::new(account)),
        None => Chosen::NoDefault(found.path),
    })
}

/// [`find`] for an account by name, or the default one; `Ok(None)` when
/// there is none.
pub(crate) fn load(
    config: Option<&Path>,
    account: Option<&str>,
) -> Result<Option<Account>, String> {
    Ok(match find(config, account, None)? {
        Chosen::Account(account) => Some(*account),
        Chosen::NoDefault(_) | Chosen::NoFile(_) => None,
    })
}

/// The account of postie's TOML file at `path`.
fn from_toml(path: &Path, text: &str, account: Option<&str>) -> Result<Option<Account>, String> {
    let spec: FileSpec =
        basic_toml::from_str(text).map_err(|e| format!("{}: {e}", path.display()))?;
    let Some(name) = account.map(str::to_owned).or(spec.default.clone()) else {
        return Ok(None);
    };
    let Some(chosen) = spec.accounts.get(&name).cloned() else {
        let known: Vec<&str> = spec.accounts.keys().map(String::as_str).collect();
        return Err(format!(
            "{}: no account {name:?} (accounts: {})",
            path.display(),
            if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            }
        ));
    };
    let merged = match &spec.defaults {
        Some(defaults) => chosen.over(defaults),
        None => chosen,
    };
    resolve(&name, merged)
        .map(|account| {
            Some(Account {
                file: Some(path.to_owned()),
                ..account
            })
        })
        .map_err(|e| format!("{}: account {name}: {e}", path.display()))
}

fn resolve(name: &str, spec: AccountSpec) -> Result<Account, String> {
    if spec.password.is_some() {
        return Err(
            "a password may not be written in the accounts file: use password_command, password_env or password_file"
                .to_owned(),
        );
    }
    let sources = [
        spec.password_command.clone().map(SecretSource::Command),
        spec.password_env.clone().map(SecretSource::Env),
        spec.password_file
            .as_deref()
            .map(|p| SecretSource::File(expand_home(p))),
    ];
    let mut given = sources.into_iter().flatten();
    let secret = given.next();
    if given.next().is_some() {
        return Err("give one of password_command, password_env and password_file".to_owned());
    }
    if let Some(SecretSource::File(path)) = &secret {
        // Refused now, before anything else is done, as well as when read.
        let meta = std::fs::metadata(path)
            .map_err(|e| format!("password_file {}: {e}", path.display()))?;
        private_file_problem(path, &meta).map_err(|e| format!("password_file {e}"))?;
    }
    if secret.is_some() && spec.username.is_none() {
        return Err("a password source needs a username".to_owned());
    }
    let tls = spec.tls.as_deref().map(parse_tls).transpose()?;
    let hosts = match (spec.host, spec.hosts) {
        (Some(_), Some(_)) => return Err("give host or hosts, not both".to_owned()),
        (Some(host), None) => vec![host],
        (None, Some(hosts)) => hosts,
        (None, None) => Vec::new(),
    };
    let ports = match (spec.port, spec.ports) {
        (Some(_), Some(_)) => return Err("give port or ports, not both".to_owned()),
        (Some(port), None) => vec![port],
        (None, Some(ports)) => ports,
        (None, None) => Vec::new(),
    };
    if let Some(timeout) = spec.timeout {
        if !(timeout.is_finite() && timeout > 0.0) {
            return Err(format!(
                "timeout must be a positive number of seconds, not {timeout}"
            ));
        }
    }
    let spool_max_age = spec
        .spool_max_age_days
        .map(|days| {
            std::time::Duration::try_from_secs_f64(days * 86400.0).map_err(|_| {
                format!("spool_max_age_days must be a number of days, 0 or more, not {days}")
            })
        })
        .transpose()?;
    let syslog = match spec.syslog {
        None | Some(SyslogSpec::On(false)) => None,
        Some(SyslogSpec::On(true)) => Some("on".to_owned()),
        Some(SyslogSpec::Facility(name)) => Some(name),
    };
    let log = crate::sent_log::LogTarget {
        file: spec.log_file.as_deref().map(expand_home),
        syslog: match syslog {
            Some(v) => crate::sent_log::Syslog::parse_switch(&v, spec.syslog_socket.as_deref())?,
            None => None,
        },
    };
    let tls_fingerprints = match spec.tls_fingerprint {
        None => Vec::new(),
        Some(OneOrMany::One(one)) => vec![one],
        Some(OneOrMany::Many(many)) => many,
    }
    .iter()
    .map(|f| {
        f.parse::<postie_smtp::tls::Fingerprint>()
            .map_err(|e| format!("tls_fingerprint: {e}"))
    })
    .collect::<Result<Vec<_>, _>>()?;
    let proxy = spec
        .proxy
        .as_deref()
        .map(|url| {
            postie_smtp::ProxySettings::from_url(url).map(|mut proxy| {
                proxy.secret = spec.proxy_password_env.clone().map(SecretSource::Env);
                proxy
            })
        })
        .transpose()
        .map_err(|e| format!("proxy: {e}"))?;
    if proxy.is_none() && spec.proxy_password_env.is_some() {
        return Err("proxy_password_env without a proxy".to_owned());
    }
    Ok(Account {
        name: name.to_owned(),
        proxy,
        source_ip: spec.source_ip,
        dkim: dkim_settings(spec.dkim.unwrap_or_default())?,
        log,
        aliases: spec.aliases.as_deref().map(expand_home),
        tls_fingerprints,
        hosts,
        ports,
        tls,
        ca_files: spec
            .ca_file
            .as_deref()
            .map(expand_home)
            .into_iter()
            .collect(),
        username: spec.username,
        secret,
        from: spec.from,
        auth: spec.auth.unwrap_or_default(),
        timeout: spec.timeout,
        client: spec.client,
        spool_on_failure: spec.spool_on_failure.unwrap_or(false),
        spool_max_age,
        // A folder's path may start with ~, as the other paths here.
        spool_store: spec.spool_store.map(|store| {
            if store.contains("://") {
                store
            } else {
                expand_home(Path::new(&store)).display().to_string()
            }
        }),
        ..Account::default()
    })
}

/// The account's DKIM tables as settings; a key's file is read (and its
/// mode checked) when a message is signed.
fn dkim_settings(specs: Vec<DkimSpec>) -> Result<Vec<postie_smtp::settings::DkimSettings>, String> {
    specs
        .into_iter()
        .map(|spec| {
            let mut settings = postie_smtp::settings::DkimSettings::new(
                expand_home(&spec.key_file),
                spec.selector,
            );
            settings.domain = spec.domain;
            if let Some(canon) = &spec.canon {
                let (header, body) = postie_smtp::dkim::Canonicalization::parse_pair(canon)?;
                settings.header_canonicalization = header;
                settings.body_canonicalization = body;
            }
            settings.headers = spec.headers;
            settings.expire_after_secs = spec
                .expire_after_days
                .map(|days| {
                    std::time::Duration::try_from_secs_f64(days * 86400.0)
                        .map(|d| d.as_secs())
                        .map_err(|_| {
                            format!("dkim expire_after_days must be 0 or more, not {days}")
                        })
                })
                .transpose()?;
            Ok(settings)
        })
        .collect()
}

fn parse_tls(text: &str) -> Result<TlsArg, String> {
    match text {
        "starttls" => Ok(TlsArg::Starttls),
        "none" => Ok(TlsArg::None),
        "required" => Ok(TlsArg::Required),
        "implicit" => Ok(TlsArg::Implicit),
        other => Err(format!(
            "tls must be starttls, none, required or implicit, not {other:?}"
        )),
    }
}

/// `~/x` is the home directory's `x`.
fn expand_home(path: &Path) -> PathBuf {
    match (path.strip_prefix("~"), std::env::var_os("HOME")) {
        (Ok(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => path.to_owned(),
    }
}

/// The rule for an accounts file in the user's care (postie's or msmtp's,
/// and one `--config` names): no one but its owner can change it, and its
/// owner is the user (or root): its `password_command` runs as the user, so
/// whoever can write it can run anything as the user. `meta` is the open
/// file's, so what was checked is what is read.
fn owner_problem(path: &Path, meta: &std::fs::Metadata) -> Result<(), String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        let mode = meta.mode();
        if mode & 0o022 != 0 {
            return Err(format!(
                "the accounts file {0} can be written by group or others (mode {1:03o}), and its password_command runs as you: run chmod go-w {0}",
                path.display(),
                mode & 0o777
            ));
        }
        if let Some(problem) = foreign_owner(meta.uid()) {
            return Err(format!(
                "the accounts file {} {problem}: its owner could make password_command run anything as you; use a file of your own",
                path.display()
            ));
        }
    }
    #[cfg(not(unix))]
    let _ = (path, meta);
    Ok(())
}

/// Why `uid`, the owner of a file, may not hold the user's secrets or
/// settings: `None` when it is the user (effective uid) or root, who can
/// read and change anything anyway.
#[cfg(unix)]
pub(crate) fn foreign_owner(uid: u32) -> Option<String> {
    let me = rustix::process::geteuid().as_raw();
    (uid != me && uid != 0).then(|| format!("belongs to uid {uid}, not to you (uid {me})"))
}

/// The rule for a file holding a secret (`--password-file` and
/// `password_file` alike): no group or other permission bits, and owned by
/// the user or root. Symbolic links are followed: what counts is the file
/// that is read, not the link (whose own mode is always 777). `Err` starts
/// with the path and says what to run.
pub(crate) fn private_file_problem(path: &Path, meta: &std::fs::Metadata) -> Result<(), String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        let mode = meta.mode();
        if mode & 0o077 != 0 {
            return Err(format!(
                "{0} is open to group or others (mode {1:03o}): run chmod 600 {0}",
                path.display(),
                mode & 0o777
            ));
        }
        if let Some(problem) = foreign_owner(meta.uid()) {
            return Err(format!(
                "{} {problem}, who can read it: use a file of your own, mode 600",
                path.display()
            ));
        }
    }
    #[cfg(not(unix))]
    let _ = (path, meta);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, account: Option<&str>) -> Result<Option<Account>, String> {
        let dir = std::env::temp_dir().join(format!(
            "postie-config-{}-{}",
            std::process::id(),
            text.len()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("config.toml");
        std::fs::write(&path, text).unwrap();
        // Whatever the umask: a file group or others can write is refused.
        private(&path, 0o600);
        let result = load(Some(&path), account);
        std::fs::remove_dir_all(&dir).unwrap();
        result
    }

    #[test]
    fn defaults_then_the_account_then_the_default_name() {
        let text = r#"
            default = "work"
            [defaults]
            tls = "required"
            timeout = 20
            spool_max_age_days = 1.5
            spool_store = "postgres://postie@db.example.org/mail"
            [accounts.work]
            spool_on_failure = true
            hosts = ["mx1.example.org", "mx2.example.org"]
            port = 587
            username = "alice"
            password_env = "WORK_PASSWORD"
            from = "Alice <alice@example.org>"
            [accounts.home]
            host = "smtp.home.example"
            tls = "implicit"
        "#;
        let work = parse(text, None).unwrap().unwrap();
        assert_eq!(work.hosts, ["mx1.example.org", "mx2.example.org"]);
        assert_eq!(work.ports, [587]);
        assert_eq!(work.tls, Some(TlsArg::Required));
        assert_eq!(work.timeout, Some(20.0));
        assert_eq!(work.secret, Some(SecretSource::Env("WORK_PASSWORD".into())));
        assert!(work.spool_on_failure);
        assert_eq!(
            work.spool_max_age,
            Some(std::time::Duration::from_secs(36 * 3600))
        );
        assert_eq!(
            work.spool_store.as_deref(),
            Some("postgres://postie@db.example.org/mail")
        );
        let home = parse(text, Some("home")).unwrap().unwrap();
        assert_eq!(home.tls, Some(TlsArg::Implicit));
        assert!(home.secret.is_none());
        let err = parse(text, Some("nope")).unwrap_err();
        assert!(
            err.contains("no account \"nope\" (accounts: home, work)"),
            "{err}"
        );
    }

    #[test]
    fn a_password_in_the_file_is_refused() {
        let err = parse(
            "[accounts.a]\nhost = \"h\"\nusername = \"u\"\npassword = \"hunter2\"\n",
            Some("a"),
        )
        .unwrap_err();
        assert!(err.contains("may not be written"), "{err}");
        assert!(!err.contains("hunter2"));
    }

    #[test]
    fn logging_aliases_pins_and_a_proxy_are_account_settings() {
        let text = "default = \"a\"\n[defaults]\nlog_file = \"/var/log/x.log\"\n[accounts.a]\nhost = \"h\"\n\
            syslog = true\naliases = \"/etc/aliases\"\nproxy = \"socks5://carol@127.0.0.1:1080\"\n\
            proxy_password_env = \"PROXY_PW\"\ntls_fingerprint = [\"sha256:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF\"]\n";
        let a = parse(text, None).unwrap().unwrap();
        assert_eq!(a.log.file.as_deref(), Some(Path::new("/var/log/x.log")));
        assert_eq!(a.log.syslog.as_ref().map(|s| s.facility), Some(1));
        assert_eq!(a.aliases.as_deref(), Some(Path::new("/etc/aliases")));
        assert_eq!(a.tls_fingerprints.len(), 1);
        let proxy = a.proxy.unwrap();
        assert_eq!(proxy.secret, Some(SecretSource::Env("PROXY_PW".to_owned())));
    }

    #[test]
    fn mistakes_are_named() {
        for (text, want) in [
            ("[accounts.a]\nhots = \"h\"\n", "unknown field"),
            ("[accounts.a]\ntls = \"maybe\"\n", "tls must be"),
            (
                "[accounts.a]\nhost = \"a\"\nhosts = [\"b\"]\n",
                "host or hosts",
            ),
            (
                "[accounts.a]\nusername = \"u\"\npassword_env = \"A\"\npassword_command = \"b\"\n",
                "give one of",
            ),
            ("[accounts.a]\npassword_env = \"A\"\n", "needs a username"),
            (
                "[accounts.a]\nspool_max_age_days = -1\n",
                "spool_max_age_days",
            ),
            ("[accounts.a]\nproxy = \"http://p:8080\"\n", "proxy:"),
            (
                "[accounts.a]\nproxy_password_env = \"P\"\n",
                "without a proxy",
            ),
            ("[accounts.a]\nsyslog = \"LOG_KERN\"\n", "syslog"),
            (
                "[accounts.a]\ntls_fingerprint = \"AB:CD\"\n",
                "tls_fingerprint",
            ),
        ] {
            let err = parse(text, Some("a")).unwrap_err();
            assert!(err.contains(want), "{text:?}: {err}");
        }
    }

    fn private(path: &Path, mode: u32) {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    /// A fresh directory for one test.
    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("postie-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_password_file_others_can_read_is_refused() {
        let dir = scratch("secret");
        let secret = dir.join("pw");
        std::fs::write(&secret, "s3cret\n").unwrap();
        let text = format!(
            "[accounts.a]\nusername = \"u\"\npassword_file = \"{}\"\n",
            secret.display()
        );
        for mode in [0o644, 0o640, 0o604, 0o620] {
            private(&secret, mode);
            let err = parse(&text, Some("a")).unwrap_err();
            assert!(err.contains("is open to group or others"), "{err}");
            assert!(
                err.contains(&format!("chmod 600 {}", secret.display())),
                "{err}"
            );
            // Also when it is read (the file may change after loading).
            let err = read_secret(&SecretSource::File(secret.clone())).unwrap_err();
            assert!(err.contains("chmod 600"), "{err}");
        }
        private(&secret, 0o600);
        let account = parse(&text, Some("a")).unwrap().unwrap();
        assert_eq!(*read_secret(&account.secret.unwrap()).unwrap(), "s3cret");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Its password_command runs as the user: whoever can write the file
    /// can run anything as the user.
    #[test]
    fn an_accounts_file_others_can_write_is_refused() {
        let dir = scratch("accounts-mode");
        let path = dir.join("config.toml");
        std::fs::write(&path, "[accounts.a]\nhost = \"h\"\n").unwrap();
        for mode in [0o664, 0o646, 0o666, 0o620] {
            private(&path, mode);
            let err = load(Some(&path), Some("a")).unwrap_err();
            assert!(err.contains("can be written by group or others"), "{err}");
            assert!(
                err.contains(&format!("chmod go-w {}", path.display())),
                "{err}"
            );
        }
        // Read permission for others is fine: there is no secret in it.
        private(&path, 0o644);
        assert_eq!(load(Some(&path), Some("a")).unwrap().unwrap().hosts, ["h"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A file that belongs to another user (not root) is refused, as an
    /// accounts file (its owner could rewrite the password command) and as
    /// a password file (its owner can read it), whatever its mode. Only
    /// root can give a file away, so elsewhere this checks nothing.
    #[test]
    fn files_of_another_user_are_refused() {
        let dir = scratch("accounts-owner");
        let secret = dir.join("pw");
        std::fs::write(&secret, "s3cret\n").unwrap();
        private(&secret, 0o600);
        let path = dir.join("config.toml");
        std::fs::write(
            &path,
            format!(
                "[accounts.a]\nusername = \"u\"\npassword_file = \"{}\"\n",
                secret.display()
            ),
        )
        .unwrap();
        private(&path, 0o600);
        assert!(load(Some(&path), Some("a")).is_ok());
        let nobody = 65534;
        if std::os::unix::fs::chown(&secret, Some(nobody), None).is_err() {
            eprintln!("not root: cannot give a file to another user; skipped");
            std::fs::remove_dir_all(&dir).unwrap();
            return;
        }
        let err = load(Some(&path), Some("a")).unwrap_err();
        assert!(err.contains("belongs to uid 65534"), "{err}");
        assert!(err.contains("use a file of your own"), "{err}");
        let err = read_secret(&SecretSource::File(secret.clone())).unwrap_err();
        assert!(err.contains("belongs to uid 65534"), "{err}");
        std::os::unix::fs::chown(&secret, Some(0), None).unwrap();
        std::os::unix::fs::chown(&path, Some(nobody), None).unwrap();
        let err = load(Some(&path), Some("a")).unwrap_err();
        assert!(err.contains("the accounts file"), "{err}");
        assert!(err.contains("belongs to uid 65534"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_password_command_gives_its_first_line() {
        let source = SecretSource::Command("printf 'from-command\\nignored\\n'".into());
        assert_eq!(*read_secret(&source).unwrap(), "from-command");
        assert!(read_secret(&SecretSource::Command("exit 3".into())).is_err());
    }

    /// The password read from a file or a command is handed over in a
    /// buffer wiped when dropped: the CLI keeps no stray copy.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_secret_read_is_wiped_when_dropped() {
        use postie_testkit::freed;
        const PASSWORD: &str = "correct-horse-battery-staple-0123456789";
        freed::check_control(PASSWORD.as_bytes());
        let dir = scratch("wiped");
        let file = dir.join("pw");
        std::fs::write(&file, format!("{PASSWORD}\nsecond line\n")).unwrap();
        private(&file, 0o600);
        for source in [
            SecretSource::File(file.clone()),
            SecretSource::Command(format!("echo {PASSWORD}")),
        ] {
            let secret = read_secret(&source).unwrap();
            assert_eq!(*secret, PASSWORD);
            let (addr, len) = (secret.as_ptr(), secret.len());
            let memory = freed::after_drop(secret, addr, len);
            assert!(!freed::holds(&memory, PASSWORD.as_bytes()), "{source:?}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Each failure names the source as the accounts file writes it.
    #[test]
    fn an_unreadable_secret_names_its_source() {
        let err = read_secret(&SecretSource::Command("exit 3".into())).unwrap_err();
        assert_eq!(err, "password_command \"exit 3\" exited 3");
        let err = read_secret(&SecretSource::Env("POSTIE_TEST_NEVER_SET".into())).unwrap_err();
        assert_eq!(err, "password_env POSTIE_TEST_NEVER_SET is not set");
        let err = read_secret(&SecretSource::File("/nonexistent/pw".into())).unwrap_err();
        assert!(
            err.starts_with("password_file /nonexistent/pw: No such file"),
            "{err}"
        );
    }
}
