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
use std::sync::OnceLock;

use postie_smtp::{SecretSource, TransportSettings};
use serde::{Deserialize, Serialize};

use crate::digest::Digest;

/// The format of `meta.json`; a newer postie refuses nothing older.
///
/// 2: how to send is `transport`, the settings whole (format 1 kept a list
/// of `postie send` flags, which is still read). `sha256` is optional in
/// both (the records of postie versions before it have none).
pub const VERSION: u32 = 2;

/// The record of one spooled message.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Meta {
    /// The format ([`VERSION`]).
    pub version: u32,
    /// The message's spool id.
    pub id: String,
    /// When it was spooled (seconds since the Unix epoch).
    pub created: u64,
    /// The account it was sent with, by name; `None`: no account.
    pub account: Option<String>,
    /// The accounts file that account is read from.
    pub config: Option<PathBuf>,
    /// How to send it, as the flags made it before the account filled it
    /// in (no envelope, no secret: where the secret comes from). Read from
    /// `flags` in a format 1 record.
    #[serde(default)]
    pub transport: TransportSettings,
    /// Format 1: the `postie send` flags saying how to send it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<String>,
    /// The envelope sender (empty: the null sender `<>`).
    pub reverse_path: String,
    /// The envelope recipients.
    pub recipients: Vec<String>,
    /// The message's size in bytes, as kept: checked before each attempt.
    pub size: u64,
    /// SHA-256 of the message's bytes as kept (hex), checked before each
    /// attempt; `None` in the records of postie versions before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Attempts made by `postie spool flush` (the first send not counted).
    pub attempts: u32,
    /// When a flush may try it next (seconds since the epoch).
    pub next_attempt: u64,
    /// When it was last tried, by the first send or a flush.
    pub last_attempt: u64,
    /// The error of the last attempt, one line.
    pub last_error: String,
    /// An attempt ended after the final dot without a reply: the server
    /// may have the message. Only `flush --force` sends it again, and this
    /// stays set until an attempt has a definite outcome.
    pub maybe_delivered: bool,
    /// Why it was given up (in `dead/` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_reason: Option<String>,
}

impl Meta {
    /// The record of a message just stored (`stored`: its size and digest
    /// as kept) at `now`, from `reverse_path` to `recipients`: due at once,
    /// sent with default settings and no account, not tried yet. The rest
    /// is set by struct update (`Meta { transport, ..Meta::new(…) }`).
    pub fn new(
        id: &str,
        now: u64,
        stored: Digest,
        reverse_path: String,
        recipients: Vec<String>,
    ) -> Meta {
        Meta {
            version: VERSION,
            id: id.to_owned(),
            created: now,
            account: None,
            config: None,
            transport: TransportSettings::default(),
            flags: Vec::new(),
            reverse_path,
            recipients,
            size: stored.size,
            sha256: Some(stored.sha256),
            attempts: 0,
            next_attempt: now,
            last_attempt: now,
            last_error: String::new(),
            maybe_delivered: false,
            dead_reason: None,
        }
    }

    /// Serialized for the file.
    pub fn to_json(&self) -> std::io::Result<Vec<u8>> {
        let mut bytes = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        bytes.push(b'\n');
        Ok(bytes)
    }

    /// Read back from the file. The version is looked at first: a newer
    /// format may not parse as this one, and is not damaged for that.
    pub fn from_json(bytes: &[u8]) -> Result<Self, Unreadable> {
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
            let Some(read) = FLAGS_READER.get() else {
                return Err(Unreadable::NeedsCommand);
            };
            meta.transport = read(&meta.flags).map_err(Unreadable::Damaged)?;
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
pub enum Unreadable {
    /// Not JSON, or not a record.
    Damaged(String),
    /// Written by a newer postie, in this format.
    Newer(u64),
    /// A format 1 record, and no reader of its flags registered
    /// ([`read_format_1_with`]): left for the postie command.
    NeedsCommand,
}

impl std::fmt::Display for Unreadable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Damaged(e) => write!(f, "damaged: {e}"),
            Self::Newer(version) => write!(
                f,
                "written by a newer postie (format {version}; this one reads {VERSION}): left for it"
            ),
            Self::NeedsCommand => write!(
                f,
                "a format 1 record (postie send flags), which only the postie command reads: left for it"
            ),
        }
    }
}

/// What reads a format 1 record's `postie send` flags into settings:
/// the `postie` command registers its own parser
/// ([`read_format_1_with`]); elsewhere such a record (written by a postie
/// before format 2, only ever in a folder store) is not read.
pub type FlagsReader = fn(&[String]) -> Result<TransportSettings, String>;

static FLAGS_READER: OnceLock<FlagsReader> = OnceLock::new();

/// Registers how format 1 records' flags are read (once per process; a
/// second call changes nothing).
pub fn read_format_1_with(reader: FlagsReader) {
    let _ = FLAGS_READER.set(reader);
}

/// A record for tests: message `id`, queued at time 1, from a@x.org to
/// b@x.org, five bytes.
#[cfg(test)]
pub(crate) fn sample(id: &str) -> Meta {
    let stored = Digest {
        size: 5,
        sha256: String::new(),
    };
    Meta {
        sha256: None,
        last_error: "e".into(),
        ..Meta::new(id, 1, stored, "a@x.org".into(), vec!["b@x.org".into()])
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    fn record(transport: TransportSettings) -> Meta {
        Meta {
            transport,
            ..sample("1-2-3")
        }
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
    fn a_format_1_record_is_left_alone_without_a_reader() {
        let old = br#"{"version":1,"id":"1-2-3","created":1,"account":null,"config":null,
            "flags":["--server=mx1"],"reverse_path":"a@x.org","recipients":["b@x.org"],
            "size":5,"attempts":0,"next_attempt":1,"last_attempt":1,"last_error":"e",
            "maybe_delivered":false}"#;
        assert_eq!(Meta::from_json(old), Err(Unreadable::NeedsCommand));
        assert_eq!(
            Meta::from_json(br#"{"version":3,"whatever":true}"#),
            Err(Unreadable::Newer(3))
        );
    }
}
