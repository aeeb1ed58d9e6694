//! TLS settings, and errors that say what is wrong in words.
//!
//! postie uses rustls with the `aws-lc-rs` provider. Certificates are verified by
//! default against the system's roots (Debian's ca-certificates) plus any CA
//! the user adds, and the server name is sent (SNI). A certificate may be
//! pinned by its fingerprint instead of, or as well as, that ([`pin`] says
//! which check decides when). Accepting any certificate takes an explicit,
//! loudly named switch.

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use crate::reply::Reply;

pub mod pin;

pub use pin::{Fingerprint, FingerprintError, PinMismatch};

/// How TLS is used: the seed's `-usetls`, plus implicit TLS.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "lowercase")
)]
#[non_exhaustive]
pub enum TlsMode {
    /// Upgrade with STARTTLS when the server offers it (the seed's
    /// `-usetls 1`, and the default).
    #[default]
    StartTls,
    /// Never use TLS (`-usetls 0`).
    None,
    /// STARTTLS, and fail before MAIL when TLS cannot be set up.
    Required,
    /// TLS from the first byte (RFC 8314; port 465 by default).
    Implicit,
}

/// What the TLS policy is asked about.
#[derive(Debug)]
#[non_exhaustive]
pub enum TlsProblem<'a> {
    /// The server refused STARTTLS with this reply.
    Refused(&'a Reply),
    /// The handshake after STARTTLS failed, or the certificate was refused.
    Handshake(&'a TlsError),
}

/// The policy's answer: the seed's `secure` or `insecure`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "lowercase")
)]
pub enum TlsDecision {
    /// Drop this server and try the next.
    Secure,
    /// Go on without TLS (after a failed handshake: reconnect to the same
    /// server and do not STARTTLS).
    Insecure,
}

/// The seed's `-tlspolicy` callback.
pub type TlsPolicy = Arc<dyn Fn(&TlsProblem<'_>) -> TlsDecision + Send + Sync>;

/// The default policy: a refused STARTTLS goes on in clear (as the seed
/// does), a failed handshake or certificate never downgrades.
pub fn default_policy(problem: &TlsProblem<'_>) -> TlsDecision {
    match problem {
        TlsProblem::Refused(_) => TlsDecision::Insecure,
        TlsProblem::Handshake(_) => TlsDecision::Secure,
    }
}

/// What kind of TLS failure happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsErrorKind {
    /// The certificate is for another name.
    WrongName,
    /// The certificate is not signed by a trusted CA.
    UnknownIssuer,
    /// The certificate has expired or is not valid yet.
    Expired,
    /// The certificate is self-signed (its issuer is its subject) and not
    /// trusted, or trusted but marked as a CA, which a server's own
    /// certificate may not be.
    SelfSigned,
    /// The certificate is not the one pinned: its fingerprint is none of
    /// [`TlsSettings::fingerprints`].
    FingerprintMismatch,
    /// Another certificate problem.
    Certificate,
    /// The server answered in plain text: the port does not speak TLS first.
    PlaintextServer,
    /// The server speaks TLS from the first byte (implicit TLS), or seems
    /// to (no greeting on port 465).
    TlsServer,
    /// The handshake failed otherwise (alerts, no common version or cipher).
    Handshake,
    /// The connection failed or timed out during the handshake.
    Io,
    /// The settings could not be used (unreadable CA or key file, bad name).
    Setup,
}

/// A TLS failure, in words.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TlsError {
    kind: TlsErrorKind,
    message: String,
}

impl TlsError {
    pub(crate) fn new(kind: TlsErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// What kind of failure.
    pub fn kind(&self) -> TlsErrorKind {
        self.kind
    }

    /// Whether trying again later may help (only for I/O failures).
    pub fn is_temporary(&self) -> bool {
        self.kind == TlsErrorKind::Io
    }

    /// Explains a rustls error for the server `name`.
    pub(crate) fn from_rustls(error: &rustls::Error, name: &str, first_bytes: &[u8]) -> Self {
        use rustls::Error as E;
        if looks_like_smtp(first_bytes) {
            return Self::new(
                TlsErrorKind::PlaintextServer,
                format!(
                    "the server answered in plain text ({:?}): this port speaks SMTP before TLS; use STARTTLS (--tls starttls) instead of implicit TLS",
                    String::from_utf8_lossy(first_bytes.get(..first_bytes.len().min(40)).unwrap_or_default()).trim_end()
                ),
            );
        }
        match error {
            E::InvalidCertificate(cert) => match cert {
                CertificateError::NotValidForName => Self::new(
                    TlsErrorKind::WrongName,
                    format!("the certificate is not valid for {name}"),
                ),
                CertificateError::NotValidForNameContext { presented, .. } => Self::new(
                    TlsErrorKind::WrongName,
                    format!(
                        "the certificate is for {}, not {name}",
                        presented.iter().map(|p| plain_name(p)).collect::<Vec<_>>().join(", ")
                    ),
                ),
                CertificateError::UnknownIssuer => Self::new(
                    TlsErrorKind::UnknownIssuer,
                    format!("the certificate of {name} is not signed by a trusted CA (add its CA with --ca-file)"),
                ),
                CertificateError::Expired | CertificateError::ExpiredContext { .. } => Self::new(
                    TlsErrorKind::Expired,
                    format!("the certificate of {name} has expired"),
                ),
                CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                    Self::new(
                        TlsErrorKind::Expired,
                        format!("the certificate of {name} is not valid yet"),
                    )
                }
                CertificateError::Other(other) => {
                    if let Some(mismatch) = other.0.downcast_ref::<PinMismatch>() {
                        return Self::pin_mismatch(mismatch, name);
                    }
                    Self::other_certificate_error(other, name)
                }
                other => Self::new(
                    TlsErrorKind::Certificate,
                    format!("the certificate of {name} was refused: {}", certificate_words(other)),
                ),
            },
            other => Self::new(TlsErrorKind::Handshake, format!("TLS handshake failed: {other}")),
        }
    }

    /// A certificate that is not the pinned one.
    fn pin_mismatch(mismatch: &PinMismatch, name: &str) -> Self {
        Self::new(
            TlsErrorKind::FingerprintMismatch,
            format!(
                "the certificate of {name} is not the pinned one: its fingerprint is {}, expected {} (--tls-fingerprint); if the server's certificate was replaced on purpose, pin the new one",
                mismatch.presented,
                mismatch.expected_words()
            ),
        )
    }

    /// A refusal rustls carries unnamed: a self-signed certificate, or one
    /// of webpki's errors.
    fn other_certificate_error(other: &rustls::OtherError, name: &str) -> Self {
        match other.0.downcast_ref::<SelfSigned>() {
                    Some(SelfSigned { ca_flag: false }) => Self::new(
                        TlsErrorKind::SelfSigned,
                        format!("the certificate of {name} is self-signed (its issuer is its subject), so no trusted CA vouches for it; if it is the right one, trust it with --ca-file or pin its fingerprint with --tls-fingerprint (`postie probe` shows it)"),
                    ),
                    Some(SelfSigned { ca_flag: true }) => Self::new(
                        TlsErrorKind::SelfSigned,
                        format!("the certificate of {name} is self-signed and marked as a CA (basicConstraints CA:TRUE), which a server's own certificate may not be, even when trusted with --ca-file; the server needs a certificate without CA:TRUE"),
                    ),
                    None => Self::new(
                        TlsErrorKind::Certificate,
                        format!(
                            "the certificate of {name} was refused: {}",
                            webpki_words(other.0.downcast_ref::<webpki::Error>())
                        ),
                    ),
        }
    }
}

/// A certificate problem in words (the name and date problems are worded
/// with their details by the caller).
pub fn certificate_words(problem: &CertificateError) -> String {
    use CertificateError as E;
    match problem {
        E::BadEncoding => "it cannot be parsed (bad encoding)".to_owned(),
        E::Expired | E::ExpiredContext { .. } => "it has expired".to_owned(),
        E::NotValidYet | E::NotValidYetContext { .. } => "it is not valid yet".to_owned(),
        E::Revoked => "it has been revoked".to_owned(),
        E::UnhandledCriticalExtension => {
            "it has a critical extension that cannot be checked".to_owned()
        }
        E::UnknownIssuer => "it is not signed by a trusted CA".to_owned(),
        E::UnknownRevocationStatus => "its revocation status is unknown".to_owned(),
        E::ExpiredRevocationList | E::ExpiredRevocationListContext { .. } => {
            "the revocation list has expired".to_owned()
        }
        E::BadSignature => "its signature does not check against its issuer".to_owned(),
        E::NotValidForName | E::NotValidForNameContext { .. } => {
            "it is for another name".to_owned()
        }
        E::InvalidPurpose | E::InvalidPurposeContext { .. } => {
            "it is not for TLS servers (extended key usage)".to_owned()
        }
        E::ApplicationVerificationFailure => "the application refused it".to_owned(),
        E::Other(other) => match (
            other.0.downcast_ref::<SelfSigned>(),
            other.0.downcast_ref::<PinMismatch>(),
        ) {
            (Some(_), _) => "it is self-signed".to_owned(),
            (None, Some(mismatch)) => mismatch.to_string(),
            (None, None) => webpki_words(other.0.downcast_ref::<webpki::Error>()),
        },
        other => format!("{other}"),
    }
}

/// webpki's errors that rustls passes on unnamed, in words.
fn webpki_words(error: Option<&webpki::Error>) -> String {
    use webpki::Error as W;
    match error {
        Some(W::CaUsedAsEndEntity) => {
            "it is a CA certificate (CA:TRUE), not a server's own certificate".to_owned()
        }
        Some(W::EndEntityUsedAsCa) => {
            "a server certificate in its chain is used as a CA".to_owned()
        }
        Some(W::PathLenConstraintViolated) => {
            "its chain is longer than a CA in it allows".to_owned()
        }
        Some(W::MaximumPathDepthExceeded | W::MaximumPathBuildCallsExceeded) => {
            "its chain is too long or too tangled to check".to_owned()
        }
        Some(W::NameConstraintViolation) => {
            "a CA in its chain may not issue certificates for that name".to_owned()
        }
        Some(
            W::SignatureAlgorithmMismatch
            | W::UnsupportedSignatureAlgorithmContext(_)
            | W::UnsupportedSignatureAlgorithmForPublicKeyContext(_),
        ) => "it is signed with an algorithm that cannot be checked here".to_owned(),
        Some(W::InvalidCertValidity) => "its validity dates are inconsistent".to_owned(),
        Some(other) => format!("the check failed ({other})"),
        None => "the check failed".to_owned(),
    }
}

/// A refused certificate that is its own issuer; `ca_flag`: it is marked
/// as a CA, so it fails even when trusted. Carried in the rustls error so
/// that the failure can be named in words.
#[derive(Debug)]
struct SelfSigned {
    ca_flag: bool,
}

impl fmt::Display for SelfSigned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the certificate is self-signed")
    }
}

impl std::error::Error for SelfSigned {}

/// Whether a DER certificate names itself as its issuer.
fn is_self_signed(cert: &CertificateDer<'_>) -> bool {
    webpki::EndEntityCert::try_from(cert).is_ok_and(|c| c.issuer() == c.subject())
}

/// The standard verifier, with one addition: when it refuses a certificate
/// that is its own issuer for a reason a self-signed certificate causes
/// (unknown issuer, a signature that does not check, a CA used as a
/// server's certificate), the error says "self-signed".
#[derive(Debug)]
struct NamingVerifier {
    inner: Arc<rustls::client::WebPkiServerVerifier>,
}

impl ServerCertVerifier for NamingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let result = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        );
        let Err(rustls::Error::InvalidCertificate(problem)) = &result else {
            return result;
        };
        let ca_flag = match problem {
            CertificateError::UnknownIssuer | CertificateError::BadSignature => false,
            CertificateError::Other(other)
                if other.0.downcast_ref::<webpki::Error>()
                    == Some(&webpki::Error::CaUsedAsEndEntity) =>
            {
                true
            }
            _ => return result,
        };
        if !is_self_signed(end_entity) {
            return result;
        }
        Err(rustls::Error::InvalidCertificate(CertificateError::Other(
            rustls::OtherError(Arc::new(SelfSigned { ca_flag })),
        )))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// `DnsName("mx.example")` as rustls describes a presented name, made
/// plain: `mx.example`.
fn plain_name(presented: &str) -> &str {
    match (presented.find('"'), presented.rfind('"')) {
        (Some(start), Some(end)) if end > start => {
            presented.get(start + 1..end).unwrap_or(presented)
        }
        _ => presented,
    }
}

/// Whether bytes that came during a TLS handshake (see
/// [`crate::net::FirstBytes`]) are an SMTP reply line: the server speaks
/// plain SMTP on that port.
///
/// ```
/// use postie_smtp::tls::looks_like_smtp;
/// assert!(looks_like_smtp(b"220 mx.example ESMTP\r\n"));
/// assert!(!looks_like_smtp(&[0x16, 0x03, 0x03, 0x00]));
/// ```
pub fn looks_like_smtp(first: &[u8]) -> bool {
    matches!(first, [a, b, c, d, ..] if a.is_ascii_digit() && b.is_ascii_digit() && c.is_ascii_digit() && matches!(d, b' ' | b'-'))
}

/// The rustls error inside an I/O error from a handshake, if that is what
/// it carries (rustls's streams wrap their own errors in `io::Error`).
pub fn rustls_error(error: &std::io::Error) -> Option<&rustls::Error> {
    error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
}

impl TlsError {
    /// A handshake with `host` that failed with `error` after the server
    /// sent `first`, in words; both drivers word it so.
    pub(crate) fn from_handshake(error: &std::io::Error, host: &str, first: &[u8]) -> Self {
        if let Some(tls_error) = rustls_error(error) {
            return Self::from_rustls(tls_error, host, first);
        }
        // A socket error: still a plain-text server if that is what it sent
        // (it may have closed after its greeting).
        match Self::from_rustls(&rustls::Error::General(error.to_string()), host, first) {
            plain if plain.kind() == TlsErrorKind::PlaintextServer => plain,
            _ => Self::new(TlsErrorKind::Io, format!("TLS handshake: {error}")),
        }
    }

    /// The server said nothing TLS understood within the limit: most often
    /// a port that waits for the client to speak SMTP first.
    pub(crate) fn handshake_timed_out() -> Self {
        Self::new(
            TlsErrorKind::Io,
            "TLS handshake timed out (does this port speak TLS?)",
        )
    }
}

/// How certificates are checked and what the client presents.
#[derive(Clone, Default)]
pub struct TlsSettings {
    /// Extra CA certificates (PEM files) trusted besides the system's.
    pub ca_files: Vec<PathBuf>,
    /// Accept any certificate. Dangerous: anyone on the path can read and
    /// change the mail. The command prints a warning on every use.
    pub accept_invalid_certificates: bool,
    /// Pinned certificates: the server's own certificate must have one of
    /// these fingerprints. Without `ca_files` the fingerprint alone
    /// decides (the chain, the name and the dates are not checked, as
    /// msmtp's `tls_fingerprint` does); with them, both checks must pass.
    /// See [`pin`].
    pub fingerprints: Vec<Fingerprint>,
    /// A client certificate chain and its key (PEM files).
    pub client_certificate: Option<(PathBuf, PathBuf)>,
    /// A ready rustls configuration; overrides everything above.
    pub client_config: Option<Arc<ClientConfig>>,
}

impl fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSettings")
            .field("ca_files", &self.ca_files)
            .field(
                "accept_invalid_certificates",
                &self.accept_invalid_certificates,
            )
            .field("fingerprints", &self.fingerprints)
            .field("client_certificate", &self.client_certificate)
            .field(
                "client_config",
                &self.client_config.as_ref().map(|_| "custom"),
            )
            .finish()
    }
}

impl TlsSettings {
    /// The rustls configuration these settings describe.
    pub fn client_config(&self) -> Result<Arc<ClientConfig>, TlsError> {
        if let Some(config) = &self.client_config {
            return Ok(Arc::clone(config));
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::new(TlsErrorKind::Setup, e.to_string()))?;
        let verifier = self.verifier(provider)?;
        let builder = builder
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let config = match &self.client_certificate {
            Some((cert_file, key_file)) => {
                let chain = CertificateDer::pem_file_iter(cert_file)
                    .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
                    .map_err(|e| setup_error("client certificate", cert_file, e))?;
                let key = PrivateKeyDer::from_pem_file(key_file)
                    .map_err(|e| setup_error("client key", key_file, e))?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| setup_error("client certificate", cert_file, e))?
            }
            None => builder.with_no_client_auth(),
        };
        Ok(Arc::new(config))
    }

    /// What checks the server's certificate: anything (the explicit
    /// switch), the pin (and the CA files when given), or the CAs.
    fn verifier(
        &self,
        provider: Arc<CryptoProvider>,
    ) -> Result<Arc<dyn ServerCertVerifier>, TlsError> {
        if self.accept_invalid_certificates && !self.fingerprints.is_empty() {
            return Err(TlsError::new(
                TlsErrorKind::Setup,
                "a pinned fingerprint and accepting any certificate contradict each other: \
                 give one or the other",
            ));
        }
        Ok(if self.accept_invalid_certificates {
            Arc::new(AcceptAnyCertificate { provider })
        } else if self.fingerprints.is_empty() {
            self.ca_verifier(provider)?
        } else {
            // The user's CA files ask for the CA check as well; without
            // them the pin replaces it, system roots included.
            let chain = if self.ca_files.is_empty() {
                None
            } else {
                Some(self.ca_verifier(Arc::clone(&provider))?)
            };
            Arc::new(pin::PinningVerifier {
                pins: self.fingerprints.clone(),
                chain,
                provider,
            })
        })
    }

    /// The standard check: the system's roots and the CA files, for the
    /// name, with self-signed certificates named as such.
    fn ca_verifier(
        &self,
        provider: Arc<CryptoProvider>,
    ) -> Result<Arc<dyn ServerCertVerifier>, TlsError> {
        let mut roots = (*system_roots()).clone();
        for file in &self.ca_files {
            let certs = CertificateDer::pem_file_iter(file)
                .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
                .map_err(|e| setup_error("CA file", file, e))?;
            if certs.is_empty() {
                return Err(TlsError::new(
                    TlsErrorKind::Setup,
                    format!("the CA file {} holds no certificate", file.display()),
                ));
            }
            for cert in certs {
                roots
                    .add(cert)
                    .map_err(|e| setup_error("CA file", file, e))?;
            }
        }
        let inner =
            rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| TlsError::new(TlsErrorKind::Setup, e.to_string()))?;
        Ok(Arc::new(NamingVerifier { inner }))
    }
}

fn setup_error(what: &str, file: &std::path::Path, e: impl fmt::Display) -> TlsError {
    TlsError::new(
        TlsErrorKind::Setup,
        format!("cannot use the {what} {}: {e}", file.display()),
    )
}

/// The system's roots (rustls-native-certs), read once per process and
/// shared by everything in it that verifies a certificate (SMTP here, the
/// command's database connections).
pub fn system_roots() -> Arc<RootCertStore> {
    static ROOTS: OnceLock<Arc<RootCertStore>> = OnceLock::new();
    Arc::clone(ROOTS.get_or_init(|| {
        let mut roots = RootCertStore::empty();
        let found = rustls_native_certs::load_native_certs();
        roots.add_parsable_certificates(found.certs);
        Arc::new(roots)
    }))
}

/// The server name for SNI and verification: a DNS name or an IP address.
pub(crate) fn server_name(host: &str) -> Result<ServerName<'static>, TlsError> {
    ServerName::try_from(host.to_owned()).map_err(|_| {
        TlsError::new(
            TlsErrorKind::Setup,
            format!("{host:?} is not a valid name for TLS"),
        )
    })
}

/// Facts about an established TLS session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsInfo {
    /// `TLSv1.3` or `TLSv1.2`.
    pub version: String,
    /// The cipher suite.
    pub cipher: String,
    /// Whether the session was resumed (a ticket or session id from an
    /// earlier connection of the same session or pool: no certificate
    /// exchange, one round trip less).
    pub resumed: bool,
}

impl TlsInfo {
    pub(crate) fn of(conn: &rustls::ClientConnection) -> Self {
        let version = match conn.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3".to_owned(),
            Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2".to_owned(),
            Some(other) => format!("{other:?}"),
            None => "unknown".to_owned(),
        };
        let cipher = conn
            .negotiated_cipher_suite()
            .map(|s| format!("{:?}", s.suite()))
            .unwrap_or_default();
        let resumed = conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
        Self {
            version,
            cipher,
            resumed,
        }
    }
}

/// Accepts any certificate but still checks the handshake signatures, so
/// the session is at least with whoever holds the presented key.
#[derive(Debug)]
struct AcceptAnyCertificate {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn smtp_is_recognised_in_a_handshake() {
        assert!(looks_like_smtp(b"220 mx ESMTP\r\n"));
        assert!(looks_like_smtp(b"554-no\r\n"));
        assert!(!looks_like_smtp(&[0x16, 0x03, 0x03, 0x00]));
        assert!(!looks_like_smtp(b"220"));
    }

    #[test]
    fn a_handshake_failure_is_named_from_what_the_server_sent() {
        let closed = std::io::Error::from(std::io::ErrorKind::UnexpectedEof);
        let plain = TlsError::from_handshake(&closed, "mx.test", b"220 mx.test ESMTP\r\n");
        assert_eq!(plain.kind(), TlsErrorKind::PlaintextServer);
        assert!(plain.to_string().contains("220 mx.test ESMTP"), "{plain}");
        let io = TlsError::from_handshake(&closed, "mx.test", &[0x15, 0x03]);
        assert_eq!(io.kind(), TlsErrorKind::Io);
        assert!(io.to_string().starts_with("TLS handshake: "), "{io}");
        let alert = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::AlertReceived(rustls::AlertDescription::HandshakeFailure),
        );
        let named = TlsError::from_handshake(&alert, "mx.test", &[]);
        assert_eq!(named.kind(), TlsErrorKind::Handshake);
    }
}
