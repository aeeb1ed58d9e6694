//! What a server offers, from its EHLO reply (RFC 5321 §4.1.1.1).
//!
//! Keywords are matched without regard to case, and every `AUTH` line
//! counts, `AUTH=` forms included (tcllib matches case-sensitively and reads
//! only the first AUTH line).

use crate::reply::Reply;

/// An ESMTP extension the client uses, so a lookup cannot be misspelt:
/// [`Capabilities::offers`]. Adding one is adding its variant and keyword
/// here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Extension {
    /// STARTTLS (RFC 3207).
    StartTls,
    /// PIPELINING (RFC 2920).
    Pipelining,
    /// SIZE (RFC 1870).
    Size,
    /// 8BITMIME (RFC 6152).
    EightBitMime,
    /// CHUNKING: BDAT (RFC 3030).
    Chunking,
    /// BINARYMIME (RFC 3030).
    BinaryMime,
    /// SMTPUTF8 (RFC 6531).
    SmtpUtf8,
    /// DSN (RFC 3461).
    Dsn,
    /// REQUIRETLS (RFC 8689).
    RequireTls,
    /// ENHANCEDSTATUSCODES (RFC 2034).
    EnhancedStatusCodes,
    /// AUTH (RFC 4954).
    Auth,
    /// XQUE: the server queues on `QUED` (tcllib's `-queue`).
    Xque,
}

impl Extension {
    /// The EHLO keyword, as the RFC spells it.
    pub fn keyword(self) -> &'static str {
        match self {
            Self::StartTls => "STARTTLS",
            Self::Pipelining => "PIPELINING",
            Self::Size => "SIZE",
            Self::EightBitMime => "8BITMIME",
            Self::Chunking => "CHUNKING",
            Self::BinaryMime => "BINARYMIME",
            Self::SmtpUtf8 => "SMTPUTF8",
            Self::Dsn => "DSN",
            Self::RequireTls => "REQUIRETLS",
            Self::EnhancedStatusCodes => "ENHANCEDSTATUSCODES",
            Self::Auth => "AUTH",
            Self::Xque => "XQUE",
        }
    }
}

/// The extensions named in an EHLO reply. A server greeted with HELO offers
/// none.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Capabilities {
    entries: Vec<(String, Vec<String>)>,
    auth: Vec<String>,
}

impl Capabilities {
    /// Reads the lines after the first of an EHLO reply.
    ///
    /// ```
    /// use postie_smtp::{Capabilities, Reply};
    /// let reply = Reply::new(250, None, vec![
    ///     "mx.example.org".into(), "size 10240000".into(),
    ///     "AUTH=LOGIN".into(), "AUTH PLAIN login CRAM-MD5".into(), "STARTTLS".into(),
    /// ]);
    /// let caps = Capabilities::from_ehlo(&reply);
    /// assert!(caps.offers(postie_smtp::capabilities::Extension::StartTls));
    /// assert_eq!(caps.size(), Some(10240000));
    /// assert_eq!(caps.auth_mechanisms(), ["LOGIN", "PLAIN", "CRAM-MD5"]);
    /// ```
    pub fn from_ehlo(reply: &Reply) -> Self {
        let mut caps = Self::default();
        for line in reply.lines().iter().skip(1) {
            let mut words = line.split_ascii_whitespace();
            let Some(first) = words.next() else { continue };
            let (keyword, mut params): (String, Vec<String>) = match first.split_once('=') {
                // Old servers wrote `AUTH=LOGIN PLAIN`.
                Some((keyword, value)) if keyword.eq_ignore_ascii_case("AUTH") => {
                    (keyword.to_ascii_uppercase(), vec![value.to_owned()])
                }
                _ => (first.to_ascii_uppercase(), Vec::new()),
            };
            params.extend(words.map(str::to_owned));
            if keyword == "AUTH" {
                for mechanism in &params {
                    let mechanism = mechanism.to_ascii_uppercase();
                    if !mechanism.is_empty() && !caps.auth.contains(&mechanism) {
                        caps.auth.push(mechanism);
                    }
                }
            }
            caps.entries.push((keyword, params));
        }
        caps
    }

    /// Whether the server offers `extension`.
    pub fn offers(&self, extension: Extension) -> bool {
        self.has(extension.keyword())
    }

    /// Whether the server names `keyword` (any case): for keywords postie
    /// does not use (see [`Capabilities::offers`] for those it does).
    pub fn has(&self, keyword: &str) -> bool {
        self.entries
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case(keyword))
    }

    /// The parameters of the first line naming `keyword`.
    pub fn params(&self, keyword: &str) -> Option<&[String]> {
        self.entries
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(keyword))
            .map(|(_, p)| p.as_slice())
    }

    /// The SIZE limit (RFC 1870): `Some(0)` when SIZE is offered without a
    /// limit, `None` when SIZE is not offered.
    pub fn size(&self) -> Option<u64> {
        let params = self.params(Extension::Size.keyword())?;
        Some(params.first().and_then(|p| p.parse().ok()).unwrap_or(0))
    }

    /// Every SASL mechanism offered, upper-cased, from all AUTH lines, in
    /// the order first seen.
    pub fn auth_mechanisms(&self) -> &[String] {
        &self.auth
    }

    /// The keywords, upper-cased, in the order offered.
    pub fn keywords(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(k, _)| k.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(lines: &[&str]) -> Capabilities {
        let lines = std::iter::once("host").chain(lines.iter().copied());
        Capabilities::from_ehlo(&Reply::new(250, None, lines.map(String::from).collect()))
    }

    #[test]
    fn keywords_match_in_any_case() {
        let c = caps(&["starttls", "8bitmime"]);
        assert!(c.has("STARTTLS") && c.has("8BitMime"));
        assert!(!c.has("PIPELINING"));
    }

    #[test]
    fn size_without_limit_is_zero() {
        assert_eq!(caps(&["SIZE"]).size(), Some(0));
        assert_eq!(caps(&[]).size(), None);
    }

    #[test]
    fn auth_lines_merge_without_duplicates() {
        let c = caps(&["AUTH=LOGIN", "auth plain LOGIN", "AUTH SCRAM-SHA-256"]);
        assert_eq!(c.auth_mechanisms(), ["LOGIN", "PLAIN", "SCRAM-SHA-256"]);
    }

    #[test]
    fn first_line_is_the_domain_not_a_keyword() {
        assert!(!caps(&[]).has("host"));
    }
}
