//! One outbox row: the message as it will be sent, its envelope, and how
//! to send it, ready for any client to insert with [`INSERT`].

use std::path::PathBuf;

use postie_mime::Message;
use postie_smtp::{envelope, LocalEnv, SecretSource, SendOptions};

use crate::error::EnqueueError;

/// The statement that inserts a [`Row`], with [`Row`]'s values as
/// parameters in this order: `$1` the transport settings as JSON text,
/// `$2` the envelope sender (empty: the null sender `<>`), `$3` the
/// envelope recipients (`text[]`), `$4` the message (`bytea`), `$5` the
/// account's name (or null), `$6` its accounts file (or null: the
/// relayer's default). It returns the row's spool id. The database fills
/// in the rest: the id, state `queued`, due now, the size and the SHA-256
/// (schema version 3), and wakes the relayers (version 2).
pub const INSERT: &str = "INSERT INTO postie_spool \
    (transport, reverse_path, recipients, message, account, config) \
    VALUES ($1::text::jsonb, $2, $3, $4, $5, $6) RETURNING id";

/// A message ready to be enqueued.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    transport: String,
    reverse_path: String,
    recipients: Vec<String>,
    message: Vec<u8>,
    account: Option<String>,
    config: Option<String>,
}

impl Row {
    /// The row of `message` sent with `options`, prepared now as a send
    /// would prepare it: the envelope found (the options' originator and
    /// recipients, else the header's From, To, Cc and Bcc), Date and
    /// Message-ID added when missing, Bcc removed, the header options
    /// merged. The relayer sends exactly these bytes.
    ///
    /// Secrets stay with the relayers: name an account of theirs with
    /// [`Row::account`] and leave the options' connection settings and
    /// credentials alone. Credentials that say where a relayer finds the
    /// secret (an environment variable or a file of its host) are kept,
    /// but relayers send such a row only when run with `--trust-rows`; a
    /// secret given in memory, an account of this host's accounts file or
    /// a command is refused here.
    pub fn new(message: &Message, options: &SendOptions) -> Result<Self, EnqueueError> {
        let settings = options.transport_settings();
        let proxy = settings.proxy.as_ref().and_then(|p| p.secret.as_ref());
        for (what, secret) in [
            ("the password", settings.auth.secret.as_ref()),
            ("the proxy's password", proxy),
        ] {
            match secret {
                None | Some(SecretSource::Env(_) | SecretSource::File(_)) => {}
                Some(SecretSource::Given) => {
                    return Err(EnqueueError::Secret(format!(
                        "{what} was given in memory, which an outbox row cannot hold: name an environment variable or a file the relayer reads (SecretSource::Env, SecretSource::File), or a relayer's account (Row::account)"
                    )))
                }
                Some(other) => {
                    return Err(EnqueueError::Secret(format!(
                        "{what} comes from {other:?}, which relayers do not run or read for a row: name an environment variable or a file, or a relayer's account (Row::account)"
                    )))
                }
            }
        }
        let prepared = envelope::prepare(message, options, &LocalEnv::from_system())?;
        let mut bytes = Vec::new();
        prepared
            .write_message(message, &mut bytes)
            .map_err(EnqueueError::Write)?;
        Ok(Self {
            transport: serde_json::to_string(settings).map_err(EnqueueError::Settings)?,
            reverse_path: prepared.reverse_path(),
            recipients: prepared.recipients(),
            message: bytes,
            account: None,
            config: None,
        })
    }

    /// Sends it with the account `name` of the relayer's accounts file
    /// (`accounts_file`, else the relayer's default one), as `postie send
    /// --account` would: its servers, TLS and secret fill in what the
    /// options left out.
    pub fn account(mut self, name: impl Into<String>, accounts_file: Option<PathBuf>) -> Self {
        self.account = Some(name.into());
        self.config = accounts_file.map(|p| p.to_string_lossy().into_owned());
        self
    }

    /// `$1`: the transport settings, as JSON.
    pub fn transport_json(&self) -> &str {
        &self.transport
    }

    /// `$2`: the envelope sender (empty: `<>`).
    pub fn reverse_path(&self) -> &str {
        &self.reverse_path
    }

    /// `$3`: the envelope recipients.
    pub fn recipients(&self) -> &[String] {
        &self.recipients
    }

    /// `$4`: the message's bytes, as they will be sent (before
    /// dot-stuffing).
    pub fn message(&self) -> &[u8] {
        &self.message
    }

    /// `$5`: the account's name, if any.
    pub fn account_name(&self) -> Option<&str> {
        self.account.as_deref()
    }

    /// `$6`: the accounts file, if named.
    pub fn accounts_file(&self) -> Option<&str> {
        self.config.as_deref()
    }

    /// The six values of [`INSERT`], in order, for this crate's clients.
    #[cfg(any(feature = "postgres", feature = "tokio-postgres"))]
    pub(crate) fn params(&self) -> [&crate::error::Param; 6] {
        [
            &self.transport,
            &self.reverse_path,
            &self.recipients,
            &self.message,
            &self.account,
            &self.config,
        ]
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn message() -> Message {
        let mut m = Message::text("hello\n");
        m.headers_mut().set("From", "ann@example.org").unwrap();
        m.headers_mut().set("To", "bob@example.org").unwrap();
        m.headers_mut().set("Bcc", "hidden@example.org").unwrap();
        m.headers_mut().set("Subject", "outbox").unwrap();
        m
    }

    #[test]
    fn a_row_is_the_message_as_a_send_prepares_it() {
        let row = Row::new(&message(), &SendOptions::new().servers(["mx.example.org"])).unwrap();
        let text = String::from_utf8(row.message().to_vec()).unwrap();
        assert!(text.contains("Subject: outbox"), "{text}");
        assert!(
            text.contains("\nDate: ") && text.contains("\nMessage-ID: <"),
            "{text}"
        );
        assert!(!text.contains("hidden@"), "Bcc is not sent: {text}");
        assert_eq!(row.reverse_path(), "ann@example.org");
        assert_eq!(row.recipients(), ["bob@example.org", "hidden@example.org"]);
        let transport: serde_json::Value = serde_json::from_str(row.transport_json()).unwrap();
        assert_eq!(transport["servers"][0], "mx.example.org", "{transport}");
        let row = row.account("shop", Some("/etc/postie/config.toml".into()));
        assert_eq!(row.account_name(), Some("shop"));
        assert_eq!(row.accounts_file(), Some("/etc/postie/config.toml"));
    }

    #[test]
    fn a_secret_a_relayer_cannot_read_is_refused() {
        let given = SendOptions::new().credentials(postie_smtp::Credentials::new("u", "p"));
        assert!(matches!(
            Row::new(&message(), &given),
            Err(EnqueueError::Secret(text)) if text.contains("in memory")
        ));
        let mut settings = postie_smtp::TransportSettings::default();
        settings.auth.secret = Some(SecretSource::Command("pass show mail".into()));
        assert!(matches!(
            Row::new(&message(), &SendOptions::from(settings.clone())),
            Err(EnqueueError::Secret(_))
        ));
        settings.auth.secret = Some(SecretSource::Env("MAIL_PASSWORD".into()));
        settings.auth.username = Some("shop".into());
        assert!(Row::new(&message(), &SendOptions::from(settings)).is_ok());
    }

    #[test]
    fn a_message_without_recipients_is_refused() {
        let mut m = Message::text("x");
        m.headers_mut().set("From", "ann@example.org").unwrap();
        assert!(matches!(
            Row::new(&m, &SendOptions::new()),
            Err(EnqueueError::Invalid(_))
        ));
    }
}
