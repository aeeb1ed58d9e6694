//! From the transport flags and the account to one
//! [`TransportSettings`], and from its secret's source to the credentials.
//!
//! The flags make the settings ([`TransportArgs::settings`]); the spool
//! keeps those whole, before the account fills in what they leave out
//! ([`fill_from_account`]), so that a retry reads the account (and its
//! secret) again as it is then.

use std::path::{Path, PathBuf};
use std::time::Duration;

use postie_smtp::dkim::Canonicalization;
use postie_smtp::{
    AuthSettings, Credentials, ProxySettings, Secret, SecretSource, TlsDecision, TlsMode,
    TransportSettings,
};
use zeroize::Zeroizing;

use crate::args::{CredentialArgs, PolicyArg, TlsArg, TransportArgs};
use crate::config::Account;
use crate::exit;

/// The reply to the end of data gets at least this long (RFC 5321
/// §4.5.3.2.6 asks for 10 minutes): servers scan messages before they answer.
const END_OF_DATA_MIN: Duration = Duration::from_secs(600);

impl TransportArgs {
    /// The settings these flags make; what they leave out stays unset, for
    /// the account or the defaults. Paths are made absolute: a kept
    /// message may be sent again from another directory.
    pub(crate) fn settings(&self) -> Result<TransportSettings, String> {
        let mut s = TransportSettings::default();
        s.servers = self.servers.iter().map(|h| h.trim().to_owned()).collect();
        s.ports.clone_from(&self.ports);
        s.client.clone_from(&self.client);
        s.at_least_one = self.at_least_one;
        if let Some(secs) = self.timeout {
            set_stage_timeout(&mut s, seconds("--timeout", secs)?);
        }
        s.timeouts.deadline = self
            .deadline
            .map(|d| seconds("--deadline", d))
            .transpose()?;
        s.tls = self.tls.map(TlsArg::mode);
        s.tls_policy = self.tls_policy.map(|p| match p {
            PolicyArg::Secure => TlsDecision::Secure,
            PolicyArg::Insecure => TlsDecision::Insecure,
        });
        s.ca_files = self.ca_file.iter().map(|p| absolute(p)).collect();
        s.accept_invalid_certificates = self.insecure_skip_verify;
        s.client_certificate = self
            .client_cert
            .as_deref()
            .map(absolute)
            .zip(self.client_key.as_deref().map(absolute));
        s.tls_fingerprints.clone_from(&self.tls_fingerprint);
        s.auth = self.credentials.auth_settings();
        s.pipelining = !self.no_pipelining;
        s.chunking = !self.no_chunking;
        s.require_tls = self.requiretls;
        s.lmtp = self.lmtp;
        s.queue = self.queue;
        s.dsn.notify = self.dsn_notify;
        s.dsn.ret = self.dsn_ret;
        s.dsn.envid.clone_from(&self.envid);
        s.source_ip = self.source_ip;
        s.dkim = dkim_settings(
            &self.dkim_key,
            &self.dkim_selector,
            &self.dkim_domain,
            self.dkim_canon.as_deref(),
            self.dkim_headers.as_deref(),
        )?;
        // Read here rather than by clap, whose error would repeat the URL
        // with a password someone put in it.
        s.proxy = self
            .proxy
            .as_deref()
            .map(|url| ProxySettings::from_url(url).map_err(|e| proxy_url_error(&e)))
            .transpose()?
            .map(|mut proxy| {
                proxy.secret = self.proxy_password_env.clone().map(SecretSource::Env);
                proxy
            });
        Ok(s)
    }
}

impl CredentialArgs {
    /// The authentication settings these flags make: the user, where the
    /// secret comes from (never the secret), the mechanisms.
    pub(crate) fn auth_settings(&self) -> AuthSettings {
        let mut auth = AuthSettings::default();
        auth.username.clone_from(&self.username);
        auth.secret = if let Some(var) = &self.oauth_token_env {
            auth.token = true;
            Some(SecretSource::Env(var.clone()))
        } else if let Some(var) = &self.password_env {
            Some(SecretSource::Env(var.clone()))
        } else {
            self.password_file
                .as_deref()
                .map(|p| SecretSource::File(absolute(p)))
        };
        auth.mechanisms = self.auth.iter().map(|m| m.trim().to_owned()).collect();
        auth.allow_plaintext = self.allow_plaintext_auth;
        auth
    }
}

/// `--proxy`'s error, naming the flag that takes the password where the
/// URL held one.
fn proxy_url_error(e: &postie_smtp::connector::socks5::ProxyUrlError) -> String {
    if e.reason().contains("password") {
        format!("--proxy: {e}: with --proxy-password-env VAR")
    } else {
        format!("--proxy: {e}")
    }
}

impl TlsArg {
    /// The library's mode for this `--tls` value.
    pub(crate) fn mode(self) -> TlsMode {
        match self {
            Self::Starttls => TlsMode::StartTls,
            Self::None => TlsMode::None,
            Self::Required => TlsMode::Required,
            Self::Implicit => TlsMode::Implicit,
        }
    }
}

/// `--timeout`'s meaning: connecting and each reply; the reply to the end
/// of data gets at least [`END_OF_DATA_MIN`].
fn set_stage_timeout(s: &mut TransportSettings, stage: Duration) {
    s.timeouts.connect = Some(stage);
    s.timeouts.command = Some(stage);
    s.timeouts.end_of_data = Some(stage.max(END_OF_DATA_MIN));
}

fn seconds(flag: &str, secs: f64) -> Result<Duration, String> {
    Duration::try_from_secs_f64(secs)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("{flag} takes a positive number of seconds, not {secs}"))
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}

/// Fills what the flags left out from the account (flags win): servers
/// (and their ports), TLS, CA files (added), user, mechanisms, time
/// limit, client name, the secret's source, and what an msmtp file can
/// also say: certificate checks off, a client certificate, LMTP, DSN.
pub(crate) fn fill_from_account(s: &mut TransportSettings, account: &Account) {
    if s.servers.is_empty() {
        s.servers.clone_from(&account.hosts);
        if s.ports.is_empty() {
            s.ports.clone_from(&account.ports);
        }
    }
    s.tls = s.tls.or(account.tls.map(TlsArg::mode));
    s.ca_files.extend(account.ca_files.iter().cloned());
    if s.auth.username.is_none() {
        s.auth.username.clone_from(&account.username);
    }
    if s.auth.secret.is_none() && account.has_secret() {
        s.auth.secret = Some(SecretSource::Account(account.name.clone()));
        s.auth.token = account.token;
    }
    if s.auth.mechanisms.is_empty() {
        s.auth.mechanisms.clone_from(&account.auth);
    }
    if s.timeouts.command.is_none() {
        if let Some(stage) = account
            .timeout
            .and_then(|t| Duration::try_from_secs_f64(t).ok())
        {
            set_stage_timeout(s, stage);
        }
    }
    if s.client.is_none() {
        s.client.clone_from(&account.client);
    }
    s.accept_invalid_certificates |= account.accept_invalid_certificates;
    if s.client_certificate.is_none() {
        s.client_certificate.clone_from(&account.client_certificate);
    }
    s.lmtp |= account.lmtp;
    if s.tls_fingerprints.is_empty() {
        s.tls_fingerprints.clone_from(&account.tls_fingerprints);
    }
    if s.proxy.is_none() {
        s.proxy.clone_from(&account.proxy);
    }
    s.source_ip = s.source_ip.or(account.source_ip);
    if s.dkim.is_empty() {
        s.dkim.clone_from(&account.dkim);
    }
    s.dsn.notify = s.dsn.notify.or(account.dsn_notify);
    s.dsn.ret = s.dsn.ret.or(account.dsn_ret);
}

/// The proxy user's password, read now from where the settings' proxy
/// says (the password flags' rules: a source that cannot be read is
/// EX_CONFIG, 78). A user without a source, or a source without a user, is
/// a usage error (64).
pub(crate) fn proxy_password(s: &TransportSettings) -> Result<Option<Secret>, (u8, String)> {
    let Some(proxy) = &s.proxy else {
        return Ok(None);
    };
    let source = match (&proxy.username, &proxy.secret) {
        (None, None) => return Ok(None),
        (Some(user), None) => {
            return Err((
                exit::USAGE,
                format!(
                    "--proxy names the user {user:?}: give the password with --proxy-password-env"
                ),
            ))
        }
        (None, Some(_)) => {
            return Err((
                exit::USAGE,
                "--proxy-password-env needs a user in --proxy (socks5://USER@HOST:PORT)".to_owned(),
            ))
        }
        (Some(_), Some(source)) => source,
    };
    // Before the secret is in memory: no core file may hold it.
    crate::hardening::no_core_dumps();
    let config = |text: String| (exit::CONFIG, text);
    let password = match source {
        SecretSource::Env(var) => std::env::var(var)
            .map(Zeroizing::new)
            .map_err(|_| config(format!("--proxy-password-env {var} is not set")))?,
        SecretSource::File(path) => crate::config::read_password_file(path)
            .map_err(|e| config(format!("the proxy's password file {e}")))?,
        other => {
            return Err(config(format!(
                "the proxy password source {other:?} is not one postie's command reads"
            )))
        }
    };
    // Copied once into the Secret, which wipes it when dropped.
    Ok(Some(Secret::new(password.as_str())))
}

/// The credentials the settings name: the user, and the secret read from
/// its source now. A source that cannot be read, or a password file others
/// could read, is EX_CONFIG (78), named with the flag or the account; a
/// user without any source (or a source or mechanisms without a user) is a
/// usage error (64).
pub(crate) fn credentials(
    s: &TransportSettings,
    account: Option<&Account>,
) -> Result<Option<Credentials>, (u8, String)> {
    let Some(username) = s.auth.username.clone() else {
        if !s.auth.mechanisms.is_empty() || s.auth.secret.is_some() {
            return Err((
                exit::USAGE,
                "--auth and the password flags need --username".to_owned(),
            ));
        }
        return Ok(None);
    };
    let Some(source) = &s.auth.secret else {
        return Err((
            exit::USAGE,
            "--username needs --password-env, --password-file or --oauth-token-env".to_owned(),
        ));
    };
    // Before the secret is in memory: no core file may hold it.
    crate::hardening::no_core_dumps();
    let config = |text: String| (exit::CONFIG, text);
    let secret = match source {
        SecretSource::Account(name) => {
            let Some(own) = account.filter(|a| &a.name == name) else {
                return Err(config(format!("account {name:?}: no password source")));
            };
            own.read_secret()
                .map_err(|e| config(format!("account {name:?}: {e}")))?
        }
        SecretSource::Env(var) => {
            let flag = if s.auth.token {
                "--oauth-token-env"
            } else {
                "--password-env"
            };
            std::env::var(var)
                .map(Zeroizing::new)
                .map_err(|_| config(format!("{flag} {var} is not set")))?
        }
        SecretSource::File(path) => crate::config::read_password_file(path)
            .map_err(|e| config(format!("--password-file {e}")))?,
        other => {
            return Err(config(format!(
                "the password source {other:?} is not one postie's command reads"
            )))
        }
    };
    Ok(Some(Credentials {
        username,
        // Copied once into the Secret, which wipes it when dropped; the
        // buffer it came from is wiped as it goes out of scope.
        secret: postie_smtp::Secret::new(secret.as_str()),
        authzid: None,
    }))
}

/// The DKIM signatures the flags (or an account's `dkim` entries) ask
/// for: keys paired with selectors, and domains one for all or one each.
pub(crate) fn dkim_settings(
    keys: &[PathBuf],
    selectors: &[String],
    domains: &[String],
    canon: Option<&str>,
    headers: Option<&str>,
) -> Result<Vec<postie_smtp::settings::DkimSettings>, String> {
    if keys.len() != selectors.len() {
        return Err(format!(
            "--dkim-key and --dkim-selector go in pairs: {} keys, {} selectors",
            keys.len(),
            selectors.len()
        ));
    }
    if domains.len() > 1 && domains.len() != keys.len() {
        return Err(format!(
            "--dkim-domain: give one for every key, or one each ({} keys, {} domains)",
            keys.len(),
            domains.len()
        ));
    }
    let (header_canon, body_canon) = match canon {
        None => (Canonicalization::Relaxed, Canonicalization::Relaxed),
        Some(text) => Canonicalization::parse_pair(text)?,
    };
    let headers = headers.map(|list| {
        list.split(':')
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty())
            .collect::<Vec<_>>()
    });
    Ok(keys
        .iter()
        .zip(selectors)
        .enumerate()
        .map(|(i, (key, selector))| {
            let mut settings =
                postie_smtp::settings::DkimSettings::new(absolute(key), selector.clone());
            settings.domain = domains.get(i).or(domains.first()).cloned();
            settings.header_canonicalization = header_canon;
            settings.body_canonicalization = body_canon;
            settings.headers.clone_from(&headers);
            settings
        })
        .collect())
}
