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

use clap::Parser as _;
use postie_smtp::{SecretSource, TransportSettings};
use serde::{Deserialize, Serialize};

use crate::args::{Cli, Command};

/// The format of `meta.json`; a newer postie refuses nothing older.
///
/// 2: how to send is `transport`, the settings whole (format 1 kept a list
/// of `postie send` flags, which is still read). `sha256` is optional in
/// both (the records of postie versions before it have none).
pub(crate) const VERSION: u32 = 2;

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
    /// How to send it, as the flags made it before the account filled it
    /// in (no envelope, no secret: where the secret comes from). Read from
    /// `flags` in a format 1 record.
    #[serde(default)]
    pub(crate) transport: TransportSettings,
    /// Format 1: the `postie send` flags saying how to send it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
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
        let mut meta: Self =
            serde_json::from_value(value).map_err(|e| Unreadable::Damaged(e.to_string()))?;
        if meta.version < 2 {
            meta.transport = settings_from_flags(&meta.flags).map_err(Unreadable::Damaged)?;
        }
        // The spool only keeps sources the flags name: a record that names a
        // command to run (or a secret it cannot hold) was not written by
        // postie, and nothing in it is run.
        let proxy_secret = meta
            .transport
            .proxy
            .as_ref()
            .and_then(|p| p.secret.as_ref());
        for secret in [meta.transport.auth.secret.as_ref(), proxy_secret] {
            match secret {
                None | Some(SecretSource::Env(_) | SecretSource::File(_)) => {}
                Some(other) => {
                    return Err(Unreadable::Damaged(format!(
                        "names a password source a kept message may not have: {other:?}"
                    )))
                }
            }
        }
        Ok(meta)
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

/// A format 1 record's flags, read as `postie send` reads them.
fn settings_from_flags(flags: &[String]) -> Result<TransportSettings, String> {
    let argv = ["postie", "send"]
        .into_iter()
        .map(str::to_owned)
        .chain(flags.iter().cloned());
    match Cli::try_parse_from(argv) {
        Ok(Cli {
            command: Command::Send(args),
        }) => args.transport.settings(),
        Ok(_) => Err("its flags are not those of postie send".to_owned()),
        Err(e) => Err(format!(
            "its flags do not parse: {}",
            e.to_string().lines().next().unwrap_or_default()
        )),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;
    use crate::args::TransportArgs;

    fn settings(argv: &[String]) -> TransportSettings {
        let full = ["postie".to_owned(), "send".to_owned()]
            .into_iter()
            .chain(argv.iter().cloned());
        match Cli::try_parse_from(full).unwrap().command {
            Command::Send(args) => args.transport.settings().unwrap(),
            _ => panic!("not send"),
        }
    }

    fn record(transport: TransportSettings) -> Meta {
        Meta {
            version: VERSION,
            id: "1-2-3".into(),
            created: 1,
            account: None,
            config: None,
            transport,
            flags: Vec::new(),
            reverse_path: "a@x.org".into(),
            recipients: vec!["b@x.org".into()],
            size: 5,
            sha256: None,
            attempts: 0,
            next_attempt: 1,
            last_attempt: 1,
            last_error: "e".into(),
            maybe_delivered: false,
            dead_reason: None,
        }
    }

    /// A value for each flag that takes one (beyond clap's possible
    /// values), and the flags it needs.
    fn samples(id: &str) -> Option<Vec<&'static str>> {
        Some(match id {
            "servers" => vec!["--server=mx1.example.org"],
            "ports" => vec!["--port=2525"],
            "client" => vec!["--client=laptop.example.org"],
            "timeout" => vec!["--timeout=2.5"],
            "deadline" => vec!["--deadline=30"],
            "ca_file" => vec!["--ca-file=ca.pem"],
            "tls_fingerprint" => vec![
                "--tls-fingerprint=sha256:9F:86:D0:81:88:4C:7D:65:9A:2F:EA:A0:C5:5A:D0:15:A3:BF:4F:1B:2B:0B:82:2C:D1:5D:6C:15:B0:F0:0A:08",
                "--tls-fingerprint=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            ],
            "client_cert" | "client_key" => vec!["--client-cert=c.pem", "--client-key=k.pem"],
            "username" => vec!["--username=alice"],
            "password_env" => vec!["--password-env=PW"],
            "password_file" => vec!["--password-file=pw"],
            "oauth_token_env" => vec!["--oauth-token-env=TOKEN"],
            "auth" => vec!["--auth=SCRAM-SHA-256,PLAIN"],
            "dsn_notify" => vec!["--dsn-notify=success,delay"],
            "dsn_ret" => vec!["--dsn-ret=hdrs"],
            // A value that looks like a flag.
            "envid" => vec!["--envid=-odd"],
            "proxy" => vec!["--proxy=socks5://proxy.example:1081"],
            "proxy_password_env" => vec![
                "--proxy=socks5://bob@proxy.example",
                "--proxy-password-env=PROXY_PW",
            ],
            "source_ip" => vec!["--source-ip=192.0.2.7"],
            "dkim_key" | "dkim_selector" => {
                vec!["--dkim-key=/keys/mail.pem", "--dkim-selector=mail"]
            }
            "dkim_domain" => vec![
                "--dkim-key=/keys/mail.pem",
                "--dkim-selector=mail",
                "--dkim-domain=example.org",
            ],
            "dkim_canon" => vec![
                "--dkim-key=/keys/mail.pem",
                "--dkim-selector=mail",
                "--dkim-canon=simple/relaxed",
            ],
            "dkim_headers" => vec![
                "--dkim-key=/keys/mail.pem",
                "--dkim-selector=mail",
                "--dkim-headers=from:subject",
            ],
            _ => return None,
        })
    }

    /// Every flag clap defines for how to send changes the settings, and
    /// the settings come back whole from the record a kept message has
    /// (keep) and are what its retry sends with (flush). A flag added to
    /// `TransportArgs` without a way into the settings fails here.
    #[test]
    fn every_transport_flag_survives_keep_and_flush() {
        let mut command = <TransportArgs as clap::Args>::augment_args(clap::Command::new("t"));
        // Settles what each flag takes (clap fills it in when it builds).
        command.build();
        let mut checked = 0;
        let flags = command.get_arguments().filter(|arg| {
            // --help, which building adds.
            !matches!(
                arg.get_action(),
                clap::ArgAction::Help | clap::ArgAction::HelpShort | clap::ArgAction::HelpLong
            )
        });
        for arg in flags {
            let id = arg.get_id().as_str();
            let long = arg
                .get_long()
                .unwrap_or_else(|| panic!("{id} has no long name"));
            let takes_value = arg.get_num_args().is_some_and(|n| n.takes_values());
            let argvs: Vec<Vec<String>> = if !takes_value {
                vec![vec![format!("--{long}")]]
            } else if !arg.get_possible_values().is_empty() {
                arg.get_possible_values()
                    .iter()
                    .map(|v| vec![format!("--{long}={}", v.get_name())])
                    .collect()
            } else {
                let sample = samples(id)
                    .unwrap_or_else(|| panic!("--{long}: add a sample value to this test"));
                vec![sample.into_iter().map(str::to_owned).collect()]
            };
            for argv in argvs {
                let made = settings(&argv);
                assert_ne!(
                    made,
                    TransportSettings::default(),
                    "{argv:?} changes nothing"
                );
                // Keep: what `postie send --spool-on-failure` records.
                let kept = record(made.clone()).to_json().unwrap();
                // Flush: what `postie spool flush` reads and sends with.
                let read = Meta::from_json(&kept).unwrap();
                assert_eq!(read.transport, made, "{argv:?}");
                let options = postie_smtp::SendOptions::from(read.transport);
                assert_eq!(options.transport_settings(), &made, "{argv:?}");
                checked += 1;
            }
        }
        assert!(checked >= 28, "{checked}");
    }

    #[test]
    fn the_settings_hold_where_the_secret_comes_from_never_a_secret() {
        std::env::set_var("POSTIE_TEST_META_PW", "hunter2-not-kept");
        let made = settings(&[
            "--username=alice".into(),
            "--password-env=POSTIE_TEST_META_PW".into(),
        ]);
        let text = String::from_utf8(record(made).to_json().unwrap()).unwrap();
        assert!(text.contains("POSTIE_TEST_META_PW"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }

    #[test]
    fn a_format_1_record_reads_its_flags() {
        // As postie wrote it before the settings were kept whole (and
        // before the hash was recorded).
        let old = br#"{"version":1,"id":"1-2-3","created":1,"account":null,"config":null,
            "flags":["--server=mx1","--port=2525","--tls=required","--username=alice",
                     "--password-env=PW","--envid=-odd","--timeout=2.5","--lmtp"],
            "reverse_path":"a@x.org","recipients":["b@x.org"],"size":5,
            "attempts":0,"next_attempt":1,"last_attempt":1,"last_error":"e",
            "maybe_delivered":false}"#;
        let meta = Meta::from_json(old).unwrap();
        assert_eq!((meta.size, meta.sha256.as_deref()), (5, None));
        let flags: Vec<String> = [
            "--server=mx1",
            "--port=2525",
            "--tls=required",
            "--username=alice",
            "--password-env=PW",
            "--envid=-odd",
            "--timeout=2.5",
            "--lmtp",
        ]
        .map(str::to_owned)
        .to_vec();
        assert_eq!(meta.transport, settings(&flags));
        assert_eq!(meta.transport.dsn.envid.as_deref(), Some("-odd"));
        assert_eq!(
            Meta::from_json(br#"{"version":3,"whatever":true}"#),
            Err(Unreadable::Newer(3))
        );
        assert!(matches!(
            Meta::from_json(b"{\"version\":1,"),
            Err(Unreadable::Damaged(_))
        ));
    }

    #[test]
    fn a_record_naming_a_command_is_damaged_and_nothing_runs() {
        let mut transport = TransportSettings::default();
        transport.auth.username = Some("alice".into());
        transport.auth.secret = Some(SecretSource::Command("touch /tmp/postie-pwned".into()));
        let bytes = record(transport).to_json().unwrap();
        assert!(
            matches!(Meta::from_json(&bytes), Err(Unreadable::Damaged(e)) if e.contains("Command"))
        );
    }

    #[test]
    fn a_record_naming_a_command_for_the_proxy_is_damaged_too() {
        let mut transport = TransportSettings::default();
        transport.proxy = Some(postie_smtp::ProxySettings::new("proxy.example", 1080).user(
            "bob",
            Some(SecretSource::Command("touch /tmp/postie-pwned".into())),
        ));
        let bytes = record(transport).to_json().unwrap();
        assert!(
            matches!(Meta::from_json(&bytes), Err(Unreadable::Damaged(e)) if e.contains("Command"))
        );
    }

    #[test]
    fn paths_become_absolute() {
        let made = settings(&["--ca-file=ca.pem".into(), "--password-file=pw".into()]);
        assert!(made.ca_files.iter().all(|p| p.is_absolute()), "{made:?}");
        assert!(
            matches!(&made.auth.secret, Some(SecretSource::File(p)) if p.is_absolute()),
            "{made:?}"
        );
    }
}
