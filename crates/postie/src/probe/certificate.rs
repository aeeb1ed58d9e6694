//! The leaf certificate: its X.509 fields, and why it did not verify, in
//! words.

use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use postie_smtp::tls::Fingerprint;
use rustls::{CertificateError, ClientConnection};
use serde::Serialize;
use x509_cert::der::Decode;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{BasicConstraints, SubjectAltName};

/// What the leaf certificate says, and whether it verified.
#[derive(Debug, Default, Serialize)]
pub(super) struct CertReport {
    pub(super) subject: Option<String>,
    pub(super) issuer: Option<String>,
    /// DNS names and IP addresses of subjectAltName.
    pub(super) names: Vec<String>,
    pub(super) not_before: Option<String>,
    pub(super) not_after: Option<String>,
    /// Whole days until `not_after`; negative once expired.
    pub(super) days_left: Option<i64>,
    /// The SHA-256 of the certificate's DER bytes, `sha256:AB:CD:...`: the
    /// form `--tls-fingerprint` takes, to be copied from here.
    pub(super) fingerprint: Option<String>,
    pub(super) verified: bool,
    /// Marked as a CA (basicConstraints CA:TRUE).
    #[serde(skip)]
    ca: bool,
    /// A fixed word for scripts: `unknown_issuer`, `self_signed`,
    /// `wrong_name`, `expired`, `not_yet_valid`, `revoked`, `bad_signature`,
    /// `wrong_purpose`, `unreadable`, `invalid`.
    error_kind: Option<&'static str>,
    /// Why it did not verify, in words.
    pub(super) error: Option<String>,
}

impl CertReport {
    /// Reads the leaf certificate of `conn`; `problem` is what the
    /// verifying handshake said about it (`None`: it verified).
    pub(super) fn of(
        conn: &ClientConnection,
        problem: Option<&CertificateError>,
        host: &str,
    ) -> Self {
        let leaf = conn.peer_certificates().and_then(|chain| chain.first());
        let mut report = match leaf.map(|der| Self::parse(der.as_ref())) {
            Some(Ok(report)) => report,
            Some(Err(e)) => Self {
                error_kind: Some("unreadable"),
                error: Some(format!("cannot read the certificate: {e}")),
                ..Self::default()
            },
            None => Self {
                error_kind: Some("unreadable"),
                error: Some("the server sent no certificate".to_owned()),
                ..Self::default()
            },
        };
        report.fingerprint = leaf.map(|der| Fingerprint::of(der.as_ref()).to_string());
        report.verified = problem.is_none();
        if let Some(problem) = problem {
            let (kind, words) = report.explain(problem, host);
            report.error_kind = Some(kind);
            report.error = Some(words);
        }
        report
    }

    /// A certificate that did not verify and has not been read (yet).
    pub(super) fn unread(problem: &CertificateError, host: &str) -> Self {
        let mut report = Self::default();
        let (kind, words) = report.explain(problem, host);
        report.error_kind = Some(kind);
        report.error = Some(words);
        report
    }

    /// Subject, issuer, names and validity from DER.
    fn parse(der: &[u8]) -> Result<Self, String> {
        let cert = x509_cert::Certificate::from_der(der).map_err(|e| e.to_string())?;
        let tbs = cert.tbs_certificate();
        let validity = tbs.validity();
        let names = match tbs.get_extension::<SubjectAltName>() {
            Ok(Some((_, san))) => san.0.iter().filter_map(general_name).collect(),
            _ => Vec::new(),
        };
        let ca = matches!(tbs.get_extension::<BasicConstraints>(), Ok(Some((_, bc))) if bc.ca);
        let not_after = validity.not_after.to_unix_duration();
        Ok(Self {
            subject: Some(tbs.subject().to_string()),
            issuer: Some(tbs.issuer().to_string()),
            names,
            not_before: Some(validity.not_before.to_string()),
            not_after: Some(validity.not_after.to_string()),
            days_left: Some(days_until(not_after, SystemTime::now())),
            ca,
            ..Self::default()
        })
    }

    /// Why the certificate did not verify for `host`, as a fixed word and
    /// as words, using what was read from it where that says more.
    fn explain(&self, problem: &CertificateError, host: &str) -> (&'static str, String) {
        use CertificateError as E;
        let self_signed = self.subject.is_some() && self.subject == self.issuer;
        // A self-signed certificate fails as an unknown issuer, a signature
        // that does not check (its issuer's name is a trusted CA's) or a CA
        // used as a server's certificate (CA:TRUE): each is named for what
        // it is.
        let self_signed_failure =
            matches!(problem, E::UnknownIssuer | E::BadSignature | E::Other(_));
        match problem {
            E::Other(_) if self_signed && self.ca => (
                "self_signed",
                "self-signed and marked as a CA (basicConstraints CA:TRUE): a server's own \
                 certificate may not be a CA certificate, even when trusted with --ca-file; \
                 the server needs a certificate without CA:TRUE"
                    .to_owned(),
            ),
            _ if self_signed && self_signed_failure => (
                "self_signed",
                "unknown issuer: the certificate is self-signed (its issuer is its subject); \
                 if it is the right one, trust it with --ca-file or pin its fingerprint \
                 with --tls-fingerprint"
                    .to_owned(),
            ),
            E::UnknownIssuer => (
                "unknown_issuer",
                match &self.issuer {
                    Some(issuer) => format!(
                        "unknown issuer: the certificate is issued by {issuer}, \
                         which is not a trusted CA here; add that CA with --ca-file"
                    ),
                    None => "unknown issuer: the certificate is not issued by a trusted CA; \
                             add its CA with --ca-file"
                        .to_owned(),
                },
            ),
            E::NotValidForName | E::NotValidForNameContext { .. } => (
                "wrong_name",
                format!(
                    "wrong name: the certificate is for {}, not {host}",
                    self.presented_names(problem)
                ),
            ),
            E::Expired | E::ExpiredContext { .. } => (
                "expired",
                format!(
                    "expired: the certificate was valid until {}",
                    self.not_after.as_deref().unwrap_or("an earlier date")
                ),
            ),
            E::NotValidYet | E::NotValidYetContext { .. } => (
                "not_yet_valid",
                format!(
                    "not valid yet: the certificate is valid from {}",
                    self.not_before.as_deref().unwrap_or("a later date")
                ),
            ),
            E::Revoked => ("revoked", "the certificate was revoked".to_owned()),
            E::BadSignature => (
                "bad_signature",
                "bad signature: the certificate's signature does not check".to_owned(),
            ),
            E::InvalidPurpose | E::InvalidPurposeContext { .. } => (
                "wrong_purpose",
                "wrong purpose: the certificate is not for TLS servers".to_owned(),
            ),
            other => (
                "invalid",
                format!(
                    "the certificate was refused: {}",
                    postie_smtp::tls::certificate_words(other)
                ),
            ),
        }
    }

    /// The names the certificate holds, as read from it, else as rustls
    /// reported them, else its subject.
    fn presented_names(&self, problem: &CertificateError) -> String {
        if !self.names.is_empty() {
            return self.names.join(", ");
        }
        if let CertificateError::NotValidForNameContext { presented, .. } = problem {
            if !presented.is_empty() {
                return presented.join(", ");
            }
        }
        self.subject
            .clone()
            .unwrap_or_else(|| "other names".to_owned())
    }
}

/// A DNS name or IP address from subjectAltName; other kinds do not
/// matter for a server's name.
fn general_name(name: &GeneralName) -> Option<String> {
    match name {
        GeneralName::DnsName(dns) => Some(dns.to_string()),
        GeneralName::IpAddress(octets) => {
            let bytes = octets.as_bytes();
            let ip = match bytes.len() {
                4 => <[u8; 4]>::try_from(bytes).ok().map(IpAddr::from),
                16 => <[u8; 16]>::try_from(bytes).ok().map(IpAddr::from),
                _ => None,
            };
            ip.map(|ip| ip.to_string())
        }
        _ => None,
    }
}

/// Whole days from `now` to `until` (since the Unix epoch), rounded down:
/// negative once it has passed.
fn days_until(until: Duration, now: SystemTime) -> i64 {
    let now = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
    secs(until).saturating_sub(secs(now)).div_euclid(86_400)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn days_round_down_and_go_negative() {
        let now = UNIX_EPOCH + Duration::from_secs(10 * 86_400);
        assert_eq!(days_until(Duration::from_secs(12 * 86_400 + 5), now), 2);
        assert_eq!(days_until(Duration::from_secs(10 * 86_400 - 1), now), -1);
    }

    #[test]
    fn a_certificate_is_read_in_full() {
        let dir = postie_testkit::ca_file();
        let pem = std::fs::read(dir.with_file_name("server.pem")).unwrap();
        use rustls::pki_types::pem::PemObject;
        let der = rustls::pki_types::CertificateDer::from_pem_slice(&pem).unwrap();
        let cert = CertReport::parse(der.as_ref()).unwrap();
        assert_eq!(cert.subject.as_deref(), Some("CN=server"));
        assert_eq!(cert.issuer.as_deref(), Some("CN=postie test CA"));
        assert!(
            cert.names.contains(&"localhost".to_owned()),
            "{:?}",
            cert.names
        );
        assert!(
            cert.names.contains(&"127.0.0.1".to_owned()),
            "{:?}",
            cert.names
        );
        assert!(cert.not_after.unwrap().ends_with('Z'));
    }
}
