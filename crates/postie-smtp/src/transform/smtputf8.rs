//! The SMTPUTF8 fallback: IDN domains as punycode and UTF-8 header fields
//! RFC 2047-encoded for a server without SMTPUTF8.

use postie_mime::address::{self, Address, Mailbox};
use postie_mime::{HeaderValue, Headers};

use super::{MessageTransform, Order, Outgoing};
use crate::proto::ServerOffers;

/// Where the server lacks SMTPUTF8:
///
/// - puts the ASCII form of each non-ASCII envelope path (its IDN domain
///   as punycode). A path whose local part is not ASCII has no such form
///   and stays: the core then refuses the message for this server, naming
///   it (RFC 6531 §3.2).
/// - rewrites the header fields a raw message holds as UTF-8 (RFC 6532) in
///   ASCII: addresses with their domains as punycode and display names as
///   encoded-words, unstructured text as encoded-words (RFC 2047). A field
///   that cannot be (an address whose local part is not ASCII, or a field
///   where RFC 2047 allows no encoded-word, such as Message-ID) fails the
///   message with the field's name: it cannot go to this server.
#[derive(Clone, Copy, Debug, Default)]
pub struct SmtpUtf8Fallback;

/// Fields whose syntax has no room for an encoded-word (RFC 2047 §5):
/// their UTF-8 cannot be rewritten.
const NO_ENCODED_WORDS: &[&str] = &[
    "Message-ID",
    "In-Reply-To",
    "References",
    "Resent-Message-ID",
    "Date",
    "Resent-Date",
    "Received",
    "Return-Path",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
    "Content-Disposition",
    "Content-ID",
];

fn one_of(name: &str, list: &[&str]) -> bool {
    list.iter().any(|f| f.eq_ignore_ascii_case(name))
}

/// The text of a value read from a message that holds UTF-8 as it is
/// (RFC 6532); `None` for ASCII, for text the writer encodes, and for other
/// 8-bit bytes, whose charset nobody can tell.
pub(crate) fn raw_utf8(value: &HeaderValue) -> Option<&str> {
    value
        .raw_bytes()
        .filter(|raw| !raw.is_ascii())
        .and_then(|raw| std::str::from_utf8(raw).ok())
}

/// `headers` with every raw UTF-8 field rewritten in ASCII, or why one
/// cannot be.
fn ascii_header(headers: &Headers) -> Result<Headers, String> {
    let mut out = Headers::new();
    for field in headers.iter() {
        let name = field.name().as_str();
        if raw_utf8(field.value()).is_none() {
            out.append_value(field.name().clone(), field.value().clone());
            continue;
        }
        let text = field.value().as_text();
        let rewritten = if postie_mime::header::is_address_field(name) {
            ascii_addresses(name, &text)?
        } else if one_of(name, NO_ENCODED_WORDS) {
            return Err(format!(
                "the {name} field holds UTF-8, which only a server offering SMTPUTF8 can take (no encoded-word is allowed there)"
            ));
        } else {
            // Unstructured: the writer encodes it (RFC 2047).
            text.into_owned()
        };
        let value = HeaderValue::new(name, &rewritten).map_err(|e| e.to_string())?;
        out.append_value(field.name().clone(), value);
    }
    Ok(out)
}

/// An address list with each domain as punycode; the writer encodes the
/// display names.
fn ascii_addresses(name: &str, text: &str) -> Result<String, String> {
    let list = address::parse_address_list(text).map_err(|e| {
        format!("the {name} field holds UTF-8 and cannot be read as addresses: {e}")
    })?;
    let ascii = |m: &Mailbox| -> Result<Mailbox, String> {
        let domain = m
            .domain_ascii()
            .map_err(|e| format!("the {name} field: {e}"))?;
        if !m.local().is_ascii() {
            return Err(format!(
                "the {name} field's address {} has a non-ASCII local part, which only a server offering SMTPUTF8 can take",
                m.addr_spec()
            ));
        }
        Mailbox::new(m.name(), m.local(), domain.as_deref()).map_err(|e| e.to_string())
    };
    let mut items = Vec::with_capacity(list.len());
    for item in &list {
        let converted = match item {
            Address::Mailbox(m) => Address::Mailbox(ascii(m)?),
            Address::Group {
                name: group,
                members,
            } => Address::Group {
                name: group.clone(),
                members: members.iter().map(ascii).collect::<Result<_, _>>()?,
            },
        };
        items.push(converted.to_string());
    }
    Ok(items.join(", "))
}

impl MessageTransform for SmtpUtf8Fallback {
    fn name(&self) -> &str {
        "SMTPUTF8 fallback"
    }

    fn order(&self) -> Order {
        Order::Adapt
    }

    fn apply(
        &self,
        outgoing: &mut Outgoing<'_>,
        offers: &ServerOffers,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        if offers.smtputf8 {
            return Ok(());
        }
        if outgoing.content().utf8_header {
            let rewritten = ascii_header(outgoing.headers())?;
            *outgoing.headers_mut() = rewritten;
            let content = outgoing.content().with_utf8_header(false);
            outgoing.set_content(content);
            outgoing.note(
                "the server does not offer SMTPUTF8: the header's UTF-8 fields go RFC 2047-encoded, their domains as punycode",
            );
        }
        convert_paths(outgoing);
        Ok(())
    }
}

/// The envelope paths' ASCII forms, all or nothing: a message that cannot
/// go keeps its paths, so the refusal names the one without an ASCII form.
fn convert_paths(outgoing: &mut Outgoing<'_>) {
    let ascii = |outgoing: &Outgoing<'_>, path: &str| -> Option<String> {
        (!path.is_ascii())
            .then(|| outgoing.ascii_form(path).map(str::to_owned))
            .flatten()
    };
    let from = match ascii(outgoing, outgoing.reverse_path()) {
        Some(path) => Some(path),
        None if !outgoing.reverse_path().is_ascii() => return,
        None => None,
    };
    let mut paths = Vec::with_capacity(outgoing.recipients().len());
    for path in outgoing.recipients() {
        match ascii(outgoing, path) {
            Some(converted) => paths.push(Some(converted)),
            None if !path.is_ascii() => return,
            None => paths.push(None),
        }
    }
    if let Some(from) = from {
        outgoing.set_reverse_path(from);
    }
    for (slot, converted) in outgoing.recipients_mut().iter_mut().zip(paths) {
        if let Some(converted) = converted {
            *slot = converted;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::Content;
    use postie_mime::{Headers, Message};

    fn paths_after(recipients: &[&str], smtputf8: bool) -> (String, Vec<String>) {
        let message = Message::text("hi");
        let headers = Headers::new();
        let forms = [
            (
                "b@b\u{fc}cher.test".to_owned(),
                "b@xn--bcher-kva.test".to_owned(),
            ),
            ("a@\u{e9}.test".to_owned(), "a@xn--9ca.test".to_owned()),
        ];
        let mut outgoing = Outgoing::new(
            &message,
            &headers,
            (
                "a@\u{e9}.test".to_owned(),
                recipients.iter().map(|r| (*r).to_owned()).collect(),
            ),
            &forms,
            (Content::default(), None),
        );
        let offers = ServerOffers::new(true, false, smtputf8);
        SmtpUtf8Fallback.apply(&mut outgoing, &offers).unwrap();
        (
            outgoing.reverse_path().to_owned(),
            outgoing.recipients().to_vec(),
        )
    }

    #[test]
    fn idn_paths_go_as_punycode_only_where_smtputf8_is_missing() {
        assert_eq!(
            paths_after(&["b@b\u{fc}cher.test", "c@y.test"], false),
            (
                "a@xn--9ca.test".to_owned(),
                vec!["b@xn--bcher-kva.test".to_owned(), "c@y.test".to_owned()]
            )
        );
        assert_eq!(
            paths_after(&["b@b\u{fc}cher.test"], true),
            (
                "a@\u{e9}.test".to_owned(),
                vec!["b@b\u{fc}cher.test".to_owned()]
            )
        );
        // A path without an ASCII form: nothing changes, so the core's
        // refusal names it.
        assert_eq!(
            paths_after(&["b@b\u{fc}cher.test", "j\u{f6}rg@y.test"], false).1,
            ["b@b\u{fc}cher.test", "j\u{f6}rg@y.test"]
        );
    }
}
