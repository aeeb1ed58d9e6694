//! What a successful send returns.

use std::fmt;

use crate::reply::{EnhancedCode, Reply};
use crate::server::ServerAddr;

/// A recipient the server refused, with its reply: the seed's
/// `{address code diagnostic}` triple, plus the enhanced code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    address: String,
    reply: Reply,
}

impl Refusal {
    pub(crate) fn new(address: String, reply: Reply) -> Self {
        Self { address, reply }
    }

    /// The address as sent in RCPT TO.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The server's whole reply.
    pub fn reply(&self) -> &Reply {
        &self.reply
    }

    /// The reply code, e.g. 550.
    pub fn code(&self) -> u16 {
        self.reply.code()
    }

    /// The enhanced status code, e.g. 5.1.1.
    pub fn enhanced(&self) -> Option<EnhancedCode> {
        self.reply.enhanced()
    }

    /// The reply's text.
    pub fn text(&self) -> String {
        self.reply.text()
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.address, self.reply)
    }
}

/// A message the server accepted.
///
/// With the at-least-one option some recipients may have been refused; they
/// are in [`Sent::refused`], as tcllib's `sendmessage` returns them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sent {
    pub(crate) server: ServerAddr,
    pub(crate) reply: Reply,
    pub(crate) refused: Vec<Refusal>,
    pub(crate) accepted: Vec<String>,
    pub(crate) tls: Option<crate::tls::TlsInfo>,
    pub(crate) auth: Option<String>,
    pub(crate) dsn: bool,
}

impl Sent {
    /// The server that took the message.
    pub fn server(&self) -> &ServerAddr {
        &self.server
    }

    /// The server's reply to the end of data.
    pub fn reply(&self) -> &Reply {
        &self.reply
    }

    /// Recipients the server refused (only with the at-least-one option).
    pub fn refused(&self) -> &[Refusal] {
        &self.refused
    }

    /// The TLS session the message went over, if it was encrypted.
    pub fn tls(&self) -> Option<&crate::tls::TlsInfo> {
        self.tls.as_ref()
    }

    /// The SASL mechanism the server accepted, when the send authenticated.
    pub fn auth(&self) -> Option<&str> {
        self.auth.as_deref()
    }

    /// Whether the DSN parameters (NOTIFY, RET, ENVID, ORCPT) went with the
    /// message: false when none were asked for, or when the server does not
    /// offer DSN (the message was sent without them).
    pub fn dsn(&self) -> bool {
        self.dsn
    }

    /// Recipients the server accepted, as sent in RCPT TO.
    pub fn accepted(&self) -> &[String] {
        &self.accepted
    }

    /// The queue ID in the final reply, when the server names one the usual
    /// ways (`queued as ID`, `id=ID`, OpenSMTPD's leading id, Haraka's
    /// `Message Queued (ID)`, Dovecot LMTP's `<rcpt> ID Saved`).
    ///
    /// ```
    /// # use postie_smtp::Reply;
    /// assert_eq!(postie_smtp::queue_id(&Reply::new(250, None, vec!["Ok: queued as 4XyZ".into()])), Some("4XyZ".into()));
    /// ```
    pub fn queue_id(&self) -> Option<String> {
        queue_id(&self.reply)
    }
}

/// The first word of `text` when it names the message the way OpenSMTPD
/// and sendmail do: an id of letters and digits (with a digit in it)
/// followed by "Message accepted for delivery".
fn leading_id(text: &str) -> Option<&str> {
    let (first, rest) = text.split_once(' ')?;
    let is_id = first.len() >= 6
        && first.bytes().all(|b| b.is_ascii_alphanumeric())
        && first.bytes().any(|b| b.is_ascii_digit());
    (is_id
        && rest
            .trim()
            .eq_ignore_ascii_case("Message accepted for delivery"))
    .then_some(first)
}

/// Haraka's `Message Queued (52C88A72-ED81-416B-886A-BDD5F278B761.1)`: the
/// connection's UUID and the message's number within it.
fn parenthesised_id(text: &str) -> Option<&str> {
    let rest = text.strip_prefix("Message Queued (")?;
    let (id, _) = rest.split_once(')')?;
    Some(id)
}

/// Dovecot's LMTP `<alice@example.org> wKKEMYlrFWsFZQAAg+zDdQ Saved`: a
/// base64 GUID (`+` and `/` included) after the recipient, with `:R2`...
/// for later recipients of the same transaction.
fn saved_id(text: &str) -> Option<&str> {
    let rest = text.strip_prefix('<')?;
    let (_, rest) = rest.split_once("> ")?;
    let id = rest.strip_suffix(" Saved")?;
    (!id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b':')))
    .then_some(id)
}

/// The queue ID a server names in its reply to the end of data, if any.
pub fn queue_id(reply: &Reply) -> Option<String> {
    let text = reply.text();
    if let Some(id) = parenthesised_id(&text).or_else(|| saved_id(&text)) {
        return Some(id.to_owned());
    }
    let after = if let Some(i) = text.find("queued as ") {
        &text[i + "queued as ".len()..]
    } else if let Some(i) = text.find("id=") {
        &text[i + "id=".len()..]
    } else {
        // OpenSMTPD (and sendmail): `250 2.0.0 4f254f31 Message accepted
        // for delivery`, the id first.
        leading_id(&text)?
    };
    let id: String = after
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect();
    let id = id.trim_end_matches('.').to_owned();
    (!id.is_empty()).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(text: &str) -> Option<String> {
        queue_id(&Reply::new(250, None, vec![text.to_owned()]))
    }

    #[test]
    fn queue_ids_as_the_common_servers_name_them() {
        assert_eq!(id("2.0.0 Ok: queued as 4XyZ").as_deref(), Some("4XyZ"));
        assert_eq!(
            id("OK id=1abc-0002Xy-9Z").as_deref(),
            Some("1abc-0002Xy-9Z")
        );
        // OpenSMTPD.
        assert_eq!(
            id("4f254f31 Message accepted for delivery").as_deref(),
            Some("4f254f31")
        );
        // Haraka.
        assert_eq!(
            id("Message Queued (52C88A72-ED81-416B-886A-BDD5F278B761.1)").as_deref(),
            Some("52C88A72-ED81-416B-886A-BDD5F278B761.1")
        );
        // Dovecot's LMTP, first and later recipients.
        assert_eq!(
            id("<alice@example.org> wKKEMYlrFWsFZQAAg+zDdQ Saved").as_deref(),
            Some("wKKEMYlrFWsFZQAAg+zDdQ")
        );
        assert_eq!(
            id("<Bob@Example.ORG> wKKEMYlrFWsFZQAAg+zDdQ:R4 Saved").as_deref(),
            Some("wKKEMYlrFWsFZQAAg+zDdQ:R4")
        );
        // Words that are not an id.
        assert_eq!(id("<alice@example.org> Saved"), None);
        assert_eq!(id("Message Queued"), None);
        assert_eq!(id("Message accepted for delivery"), None);
        assert_eq!(id("Thanks Message accepted for delivery"), None);
        assert_eq!(
            id("2.0.0 You ascend to the status of Demigod(dess)..."),
            None
        );
    }
}
