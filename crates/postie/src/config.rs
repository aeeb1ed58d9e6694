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
//! ```
//!
//! A password is never written in the file itself (the key is refused), and
//! a `password_file` that others can read (group or world bits) is refused:
//! a secret must not sit where another user can read it. Flags given on the
//! command line win over the account, the account over `[defaults]`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::args::TlsArg;

/// Where the secret of an account comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum SecretSource {
    /// The first line a shell command prints (`pass show mail`).
    Command(String),
    /// An environment variable.
    Env(String),
    /// The first line of a file only its owner can read.
    File(PathBuf),
}

impl SecretSource {
    /// Reads the secret.
    pub(crate) fn read(&self) -> Result<String, String> {
        match self {
            Self::Env(var) => {
                std::env::var(var).map_err(|_| format!("the environment variable {var} is not set"))
            }
            Self::File(path) => {
                check_private(path)?;
                let text = std::fs::read_to_string(path).map_err(|e| {
                    format!("cannot read the password file {}: {e}", path.display())
                })?;
                Ok(text.lines().next().unwrap_or_default().to_owned())
            }
            Self::Command(command) => {
                let out = std::process::Command::new("sh")
                    .arg("-c")
                    .arg(command)
                    .stdin(std::process::Stdio::null())
                    .stderr(std::process::Stdio::inherit())
                    .output()
                    .map_err(|e| format!("cannot run the password command: {e}"))?;
                if !out.status.success() {
                    return Err(format!("the password command failed ({})", out.status));
                }
                let text = String::from_utf8(out.stdout)
                    .map_err(|_| "the password command printed something that is not UTF-8")?;
                Ok(text.lines().next().unwrap_or_default().to_owned())
            }
        }
    }
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

/// The account to use: `--account NAME`, else the file's `default`. `Ok(None)`
/// when there is no accounts file (and none was asked for) or it names no
/// default. Every problem with the file is an error (exit 78).
pub(crate) fn load(
    config: Option<&Path>,
    account: Option<&str>,
) -> Result<Option<Account>, String> {
    let (path, explicit) = match config {
        Some(path) => (path.to_owned(), true),
        None => match default_path() {
            Some(path) => (path, false),
            None if account.is_some() => return Err("no accounts file: HOME is not set".to_owned()),
            None => return Ok(None),
        },
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit && account.is_none() => {
            return Ok(None)
        }
        Err(e) => {
            return Err(format!(
                "cannot read the accounts file {}: {e}",
                path.display()
            ))
        }
    };
    let spec: FileSpec =
        basic_toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
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
        .map(Some)
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
        check_private(path)?;
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
    Ok(Account {
        name: name.to_owned(),
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
    })
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

/// A file holding a secret must be readable by its owner only.
fn check_private(path: &Path) -> Result<(), String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let meta = std::fs::metadata(path)
            .map_err(|e| format!("cannot read the password file {}: {e}", path.display()))?;
        let mode = meta.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(format!(
                "the password file {} can be read by others (mode {:o}): chmod 600 it",
                path.display(),
                mode & 0o777
            ));
        }
    }
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
        ] {
            let err = parse(text, Some("a")).unwrap_err();
            assert!(err.contains(want), "{text:?}: {err}");
        }
    }

    #[test]
    fn a_password_file_others_can_read_is_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = std::env::temp_dir().join(format!("postie-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let secret = dir.join("pw");
        std::fs::write(&secret, "s3cret\n").unwrap();
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
        let text = format!(
            "[accounts.a]\nusername = \"u\"\npassword_file = \"{}\"\n",
            secret.display()
        );
        let err = parse(&text, Some("a")).unwrap_err();
        assert!(err.contains("can be read by others"), "{err}");
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
        let account = parse(&text, Some("a")).unwrap().unwrap();
        assert_eq!(account.secret.unwrap().read().unwrap(), "s3cret");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_password_command_gives_its_first_line() {
        let source = SecretSource::Command("printf 'from-command\\nignored\\n'".into());
        assert_eq!(source.read().unwrap(), "from-command");
        assert!(SecretSource::Command("exit 3".into()).read().is_err());
    }
}
