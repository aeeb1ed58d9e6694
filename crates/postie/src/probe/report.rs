//! What the probe found, and how it is shown: lines for people, JSON for
//! scripts.

use postie_smtp::{Capabilities, Reply};
use rustls::ClientConnection;
use serde::Serialize;

use super::auth::AuthReport;
use super::certificate::CertReport;

/// A reply as the report shows it.
#[derive(Debug, Serialize)]
pub(super) struct ReplyReport {
    code: u16,
    text: String,
}

impl ReplyReport {
    pub(super) fn of(reply: &Reply) -> Self {
        Self {
            code: reply.code(),
            text: reply.text(),
        }
    }
}

/// STARTTLS or implicit TLS.
#[derive(Debug, Default, Serialize)]
pub(super) struct TlsReport {
    /// Whether the server offered STARTTLS (always true for implicit TLS).
    offered: bool,
    /// Whether a handshake completed (`null` when none was tried).
    pub(super) ok: Option<bool>,
    version: Option<String>,
    cipher: Option<String>,
    pub(super) error: Option<String>,
    /// Why no handshake was tried although STARTTLS was offered, for the
    /// text, after "not tried" (JSON says it with `ok: null`).
    #[serde(skip)]
    not_tried: Option<&'static str>,
}

impl TlsReport {
    pub(super) fn offered(offered: bool) -> Self {
        Self {
            offered,
            ..Self::default()
        }
    }

    /// Whether STARTTLS is offered, where it is not tried, and why not.
    pub(super) fn not_tried(offered: bool, why: &'static str) -> Self {
        Self {
            offered,
            not_tried: Some(why),
            ..Self::default()
        }
    }

    /// A completed handshake: its version and cipher suite.
    pub(super) fn record(&mut self, conn: &ClientConnection) {
        self.ok = Some(true);
        self.error = None;
        self.version = Some(match conn.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3".to_owned(),
            Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2".to_owned(),
            Some(other) => format!("{other:?}"),
            None => "unknown".to_owned(),
        });
        self.cipher = conn
            .negotiated_cipher_suite()
            .map(|s| format!("{:?}", s.suite()));
    }
}

/// Everything the probe found; `--json` prints it as it is.
#[derive(Debug, Default, Serialize)]
pub(super) struct Report {
    /// `host:port` as probed, or the path of a Unix socket.
    pub(super) server: String,
    /// The address that answered (`None` over a Unix socket, which has
    /// no other address than its path).
    pub(super) address: Option<String>,
    pub(super) greeting: Option<ReplyReport>,
    /// Whether EHLO (LHLO with `--lmtp`) was accepted (`false`: HELO was
    /// needed).
    pub(super) esmtp: Option<bool>,
    /// `smtp`, or `lmtp` with `--lmtp`.
    pub(super) protocol: &'static str,
    /// The first EHLO reply's extensions, each `KEYWORD [params]`.
    pub(super) capabilities: Vec<String>,
    /// The SIZE limit of the last EHLO reply (0: SIZE without a limit).
    pub(super) size: Option<u64>,
    /// AUTH mechanisms offered in clear (`[]` with implicit TLS).
    pub(super) auth_before_tls: Option<Vec<String>>,
    pub(super) starttls: Option<TlsReport>,
    pub(super) implicit_tls: Option<TlsReport>,
    pub(super) certificate: Option<CertReport>,
    /// The EHLO reply's extensions after STARTTLS.
    pub(super) capabilities_after_tls: Option<Vec<String>>,
    /// AUTH mechanisms offered over TLS.
    pub(super) auth_after_tls: Option<Vec<String>>,
    /// AUTH tested with the credentials given (`None` without them).
    pub(super) auth: Option<AuthReport>,
    pub(super) hint: Option<String>,
    pub(super) error: Option<String>,
}

impl Report {
    /// The STARTTLS or implicit TLS part, whichever this probe uses.
    pub(super) fn tls_mut(&mut self) -> &mut TlsReport {
        match (&mut self.implicit_tls, &mut self.starttls) {
            (Some(tls), _) => tls,
            (None, slot) => slot.get_or_insert_with(|| TlsReport::offered(true)),
        }
    }

    /// The human-readable lines, in the order of the dialogue.
    pub(super) fn text(&self, host: &str) -> String {
        let mut out = Vec::new();
        match &self.address {
            Some(address) => out.push(format!("Server: {} ({address})", self.server)),
            None => out.push(format!("Server: {}", self.server)),
        }
        if let Some(tls) = &self.implicit_tls {
            out.push(format!("Implicit TLS: {}", tls_line(tls)));
        }
        if let Some(greeting) = &self.greeting {
            out.push(format!(
                "Greeting: {} {}",
                greeting.code,
                one_line(&greeting.text)
            ));
        }
        if let Some(esmtp) = self.esmtp {
            if self.protocol == "lmtp" {
                out.push("LMTP: yes (LHLO accepted)".to_owned());
            } else {
                out.push(format!(
                    "ESMTP: {}",
                    if esmtp { "yes" } else { "no (HELO)" }
                ));
            }
            out.push(format!(
                "Capabilities: {}",
                list_or_none(&self.capabilities, ", ")
            ));
        }
        if let Some(size) = self.size {
            out.push(match size {
                0 => "SIZE: offered, no limit".to_owned(),
                n => format!("SIZE: {n}"),
            });
        }
        if let Some(auth) = &self.auth_before_tls {
            if self.implicit_tls.is_none() {
                out.push(format!("AUTH before TLS: {}", list_or_none(auth, " ")));
            }
        }
        if let Some(tls) = &self.starttls {
            out.push(format!("STARTTLS: {}", tls_line(tls)));
        }
        if let Some(cert) = &self.certificate {
            cert_lines(cert, host, &mut out);
        }
        if let Some(caps) = &self.capabilities_after_tls {
            out.push(format!(
                "Capabilities after TLS: {}",
                list_or_none(caps, ", ")
            ));
        }
        if let Some(auth) = &self.auth_after_tls {
            out.push(format!("AUTH after TLS: {}", list_or_none(auth, " ")));
        }
        if let Some(auth) = &self.auth {
            out.push(auth.line());
        }
        out.iter().map(|line| format!("{line}\n")).collect()
    }
}

/// What became of STARTTLS or implicit TLS, in a few words.
fn tls_line(tls: &TlsReport) -> String {
    if !tls.offered {
        return "not offered".to_owned();
    }
    match (tls.ok, &tls.error) {
        (Some(true), _) => format!(
            "ok, {} {}",
            tls.version.as_deref().unwrap_or("?"),
            tls.cipher.as_deref().unwrap_or("?")
        ),
        (_, Some(error)) => format!("failed: {}", one_line(error)),
        _ => match tls.not_tried {
            Some(why) => format!("offered, not tried {why}"),
            None => "offered, not tried".to_owned(),
        },
    }
}

fn cert_lines(cert: &CertReport, host: &str, out: &mut Vec<String>) {
    if let (Some(subject), Some(issuer)) = (&cert.subject, &cert.issuer) {
        out.push(format!("Certificate: subject {subject}; issuer {issuer}"));
        out.push(format!(
            "Certificate names: {}",
            list_or_none(&cert.names, ", ")
        ));
    }
    if let (Some(from), Some(until), Some(days)) =
        (&cert.not_before, &cert.not_after, cert.days_left)
    {
        let plural = |n: u64| if n == 1 { "" } else { "s" };
        let left = if days < 0 {
            let ago = days.unsigned_abs();
            format!("expired {ago} day{} ago", plural(ago))
        } else {
            format!("{days} day{} left", plural(days.unsigned_abs()))
        };
        out.push(format!("Certificate valid: {from} to {until} ({left})"));
    }
    if let Some(fingerprint) = &cert.fingerprint {
        out.push(format!("Certificate fingerprint: {fingerprint}"));
    }
    let verdict = match (cert.verified, &cert.error) {
        (true, _) => "yes".to_owned(),
        (false, Some(why)) => format!("no ({})", one_line(why)),
        (false, None) => "no".to_owned(),
    };
    out.push(format!("Verifies for {host}: {verdict}"));
}

fn list_or_none(items: &[String], separator: &str) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(separator)
    }
}

/// Each extension as `KEYWORD [params]`, without repeats.
pub(super) fn capability_list(caps: &Capabilities) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for keyword in caps.keywords() {
        let entry = match caps.params(keyword) {
            Some(params) if !params.is_empty() => format!("{keyword} {}", params.join(" ")),
            _ => keyword.to_owned(),
        };
        if !out.contains(&entry) {
            out.push(entry);
        }
    }
    out
}

/// Server text can hold anything: one line of it, for a terminal.
pub(super) fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_keep_their_parameters() {
        let reply = Reply::new(
            250,
            None,
            [
                "host",
                "PIPELINING",
                "size 1000",
                "AUTH PLAIN LOGIN",
                "AUTH=LOGIN",
            ]
            .map(String::from)
            .to_vec(),
        );
        let list = capability_list(&Capabilities::from_ehlo(&reply));
        assert_eq!(list, ["PIPELINING", "SIZE 1000", "AUTH PLAIN LOGIN"]);
    }
}
