//! `meta.json`: what a spooled message needs to be sent again, and how its
//! attempts went.
//!
//! The message itself is `message.eml`, written exactly as it was prepared
//! for the first attempt (Date and Message-ID already added, Bcc already
//! removed), so every retry sends the same bytes. What is kept of the
//! command line is only what says how to send it: servers, TLS, the
//! secret's source (never the secret), the extension flags. The envelope
//! is kept as it was derived the first time, and the account by name, so
//! its settings and its secret are read again at each attempt.

use std::path::PathBuf;

use clap::ValueEnum;
use serde::{Deserialize, Serialize};

use crate::args::SendArgs;

/// The format of `meta.json`; a newer postie refuses nothing older.
///
/// Still 1 with `sha256` added: the field is optional on read, and an
/// older postie ignores it, so both read each other's records. (A new
/// version would make an older postie show every message this one keeps
/// as damaged.)
pub(crate) const VERSION: u32 = 1;

/// The record of one spooled message.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub(crate) struct Meta {
    /// The format ([`VERSION`]).
    pub(crate) version: u32,
    /// The message's spool id.
    pub(crate) id: String,
    /// When it was spooled (seconds since the Unix epoch).
    pub(crate) created: u64,
    /// The account it was sent with, by name; `None`: no account.
    pub(crate) account: Option<String>,
    /// The accounts file that account is read from.
    pub(crate) config: Option<PathBuf>,
    /// `postie send` flags saying how to send it (no message flags, no
    /// envelope, no secrets).
    pub(crate) flags: Vec<String>,
    /// The envelope sender (empty: the null sender `<>`).
    pub(crate) reverse_path: String,
    /// The envelope recipients.
    pub(crate) recipients: Vec<String>,
    /// The message's size in bytes, as kept: checked before each attempt.
    pub(crate) size: u64,
    /// SHA-256 of the message's bytes as kept (hex), checked before each
    /// attempt; `None` in the records of postie versions before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) sha256: Option<String>,
    /// Attempts made by `postie spool flush` (the first send not counted).
    pub(crate) attempts: u32,
    /// When a flush may try it next (seconds since the epoch).
    pub(crate) next_attempt: u64,
    /// When it was last tried, by the first send or a flush.
    pub(crate) last_attempt: u64,
    /// The error of the last attempt, one line.
    pub(crate) last_error: String,
    /// An attempt ended after the final dot without a reply: the server
    /// may have the message. Only `flush --force` sends it again, and this
    /// stays set until an attempt has a definite outcome.
    pub(crate) maybe_delivered: bool,
    /// Why it was given up (in `dead/` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) dead_reason: Option<String>,
}

impl Meta {
    /// Serialized for the file.
    pub(crate) fn to_json(&self) -> std::io::Result<Vec<u8>> {
        let mut bytes = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        bytes.push(b'\n');
        Ok(bytes)
    }

    /// Read back from the file. The version is looked at first: a newer
    /// format may not parse as this one, and is not damaged for that.
    pub(crate) fn from_json(bytes: &[u8]) -> Result<Self, Unreadable> {
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| Unreadable::Damaged(e.to_string()))?;
        if let Some(version) = value.get("version").and_then(serde_json::Value::as_u64) {
            if version > u64::from(VERSION) {
                return Err(Unreadable::Newer(version));
            }
        }
        serde_json::from_value(value).map_err(|e| Unreadable::Damaged(e.to_string()))
    }
}

/// Why a `meta.json` cannot be read.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Unreadable {
    /// Not JSON, or not a record.
    Damaged(String),
    /// Written by a newer postie, in this format.
    Newer(u64),
}

impl std::fmt::Display for Unreadable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Damaged(e) => write!(f, "damaged: {e}"),
            Self::Newer(version) => write!(
                f,
                "written by a newer postie (format {version}; this one reads {VERSION}): left for it"
            ),
        }
    }
}

/// The flags of `args` that say how to send (not what): as `postie send`
/// arguments, paths made absolute (a flush may run in another directory).
/// Called before the account fills in what the flags leave out, so the
/// account is read again when the message is retried.
pub(crate) fn transport_flags(args: &SendArgs) -> Vec<String> {
    let mut flags = Flags::default();
    for server in &args.servers {
        flags.value("--server", server);
    }
    for port in &args.ports {
        flags.value("--port", &port.to_string());
    }
    flags.option("--client", args.client.as_deref());
    flags.switch("--at-least-one", args.at_least_one);
    flags.option("--timeout", args.timeout.map(|t| t.to_string()).as_deref());
    flags.option(
        "--deadline",
        args.deadline.map(|t| t.to_string()).as_deref(),
    );
    let name = |v: Option<clap::builder::PossibleValue>| v.map(|v| v.get_name().to_owned());
    flags.option(
        "--tls",
        name(args.tls.and_then(|t| t.to_possible_value())).as_deref(),
    );
    flags.option(
        "--tls-policy",
        name(args.tls_policy.and_then(|p| p.to_possible_value())).as_deref(),
    );
    for file in &args.ca_file {
        flags.path("--ca-file", file);
    }
    flags.switch("--insecure-skip-verify", args.insecure_skip_verify);
    if let Some(cert) = &args.client_cert {
        flags.path("--client-cert", cert);
    }
    if let Some(key) = &args.client_key {
        flags.path("--client-key", key);
    }
    flags.option("--username", args.username.as_deref());
    flags.option("--password-env", args.password_env.as_deref());
    if let Some(file) = &args.password_file {
        flags.path("--password-file", file);
    }
    flags.option("--oauth-token-env", args.oauth_token_env.as_deref());
    for mechanism in &args.auth {
        flags.value("--auth", mechanism);
    }
    flags.switch("--allow-plaintext-auth", args.allow_plaintext_auth);
    flags.switch("--no-pipelining", args.no_pipelining);
    flags.option(
        "--dsn-notify",
        args.dsn_notify.map(|n| n.to_string()).as_deref(),
    );
    flags.option(
        "--dsn-ret",
        args.dsn_ret.map(|r| match r {
            postie_smtp::dsn::Ret::Full => "full",
            postie_smtp::dsn::Ret::Headers => "hdrs",
        }),
    );
    flags.option("--envid", args.envid.as_deref());
    flags.switch("--requiretls", args.requiretls);
    flags.switch("--lmtp", args.lmtp);
    flags.switch("--no-chunking", args.no_chunking);
    flags.switch("--queue", args.queue);
    flags.0
}

#[derive(Default)]
struct Flags(Vec<String>);

impl Flags {
    /// `--flag=value`: one argument, so a value that starts with `-`
    /// cannot be read as a flag.
    fn value(&mut self, flag: &str, value: &str) {
        self.0.push(format!("{flag}={value}"));
    }

    fn option(&mut self, flag: &str, value: Option<&str>) {
        if let Some(value) = value {
            self.value(flag, value);
        }
    }

    fn switch(&mut self, flag: &str, on: bool) {
        if on {
            self.0.push(flag.to_owned());
        }
    }

    fn path(&mut self, flag: &str, path: &std::path::Path) {
        let path = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
        self.value(flag, &path.to_string_lossy());
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;
    use crate::args::{Cli, Command};
    use clap::Parser;

    fn send_args(argv: &[&str]) -> SendArgs {
        let full = ["postie", "send"].iter().chain(argv);
        match Cli::try_parse_from(full).unwrap().command {
            Command::Send(args) => *args,
            _ => panic!("not send"),
        }
    }

    #[test]
    fn the_flags_that_say_how_survive_and_the_message_flags_do_not() {
        let args = send_args(&[
            "--server",
            "mx1,mx2",
            "--port",
            "2525,25",
            "--tls",
            "required",
            "--tls-policy",
            "insecure",
            "--username",
            "alice",
            "--password-env",
            "PW",
            "--dsn-notify",
            "success,delay",
            "--dsn-ret",
            "hdrs",
            // A value that looks like a flag survives as `--envid=-odd`.
            "--envid=-odd",
            "--timeout",
            "2.5",
            "--at-least-one",
            "--lmtp",
            "--to",
            "b@x.org",
            "--subject",
            "secret plans",
            "--header",
            "X-Tag: 1",
            "--originator",
            "a@x.org",
        ]);
        let flags = transport_flags(&args);
        let again = send_args(&flags.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(again.servers, ["mx1", "mx2"]);
        assert_eq!(again.ports, [2525, 25]);
        assert_eq!(again.tls, args.tls);
        assert_eq!(again.tls_policy, args.tls_policy);
        assert_eq!(again.username.as_deref(), Some("alice"));
        assert_eq!(again.password_env.as_deref(), Some("PW"));
        assert_eq!(again.dsn_notify, args.dsn_notify);
        assert_eq!(again.dsn_ret, args.dsn_ret);
        assert_eq!(again.envid.as_deref(), Some("-odd"));
        assert_eq!(again.timeout, Some(2.5));
        assert!(again.at_least_one && again.lmtp);
        let text = flags.join(" ");
        for absent in ["b@x.org", "secret", "X-Tag", "a@x.org"] {
            assert!(!text.contains(absent), "{text}");
        }
    }

    #[test]
    fn a_record_without_a_hash_still_reads_and_a_newer_one_is_named() {
        // As postie wrote it before the hash was recorded.
        let old = br#"{"version":1,"id":"1-2-3","created":1,"account":null,"config":null,
            "flags":[],"reverse_path":"a@x.org","recipients":["b@x.org"],"size":5,
            "attempts":0,"next_attempt":1,"last_attempt":1,"last_error":"e",
            "maybe_delivered":false}"#;
        let meta = Meta::from_json(old).unwrap();
        assert_eq!((meta.size, meta.sha256), (5, None));
        assert_eq!(
            Meta::from_json(br#"{"version":2,"whatever":true}"#),
            Err(Unreadable::Newer(2))
        );
        assert!(matches!(
            Meta::from_json(b"{\"version\":1,"),
            Err(Unreadable::Damaged(_))
        ));
    }

    #[test]
    fn paths_become_absolute() {
        let args = send_args(&["--ca-file", "ca.pem", "--password-file", "pw"]);
        let flags = transport_flags(&args);
        for name in ["--ca-file=", "--password-file="] {
            let flag = flags.iter().find(|f| f.starts_with(name));
            let path = flag.and_then(|f| f.strip_prefix(name));
            assert!(
                path.is_some_and(|p| std::path::Path::new(p).is_absolute()),
                "{name} in {flags:?}"
            );
        }
    }
}
