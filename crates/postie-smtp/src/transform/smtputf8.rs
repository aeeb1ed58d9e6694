//! The SMTPUTF8 fallback: IDN domains as punycode for a server without
//! SMTPUTF8.

use super::{MessageTransform, Order, Outgoing};
use crate::proto::ServerOffers;

/// Where the server lacks SMTPUTF8, puts the ASCII form of each non-ASCII
/// path (its IDN domain as punycode) in the envelope. A path whose local
/// part is not ASCII has no such form and stays: the core then refuses the
/// message for this server, naming it (RFC 6531 §3.2).
#[derive(Clone, Copy, Debug, Default)]
pub struct SmtpUtf8Fallback;

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
        let ascii = |outgoing: &Outgoing<'_>, path: &str| -> Option<String> {
            (!path.is_ascii())
                .then(|| outgoing.ascii_form(path).map(str::to_owned))
                .flatten()
        };
        // All or nothing: a message that cannot go keeps its paths, so the
        // refusal names the one without an ASCII form.
        let from = match ascii(outgoing, outgoing.reverse_path()) {
            Some(path) => Some(path),
            None if !outgoing.reverse_path().is_ascii() => return Ok(()),
            None => None,
        };
        let mut paths = Vec::with_capacity(outgoing.recipients().len());
        for path in outgoing.recipients() {
            match ascii(outgoing, path) {
                Some(converted) => paths.push(Some(converted)),
                None if !path.is_ascii() => return Ok(()),
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
        Ok(())
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
