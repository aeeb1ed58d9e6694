//! Certificate pinning: the server's own certificate known in advance by
//! the SHA-256 of its DER bytes (msmtp's `tls_fingerprint`, postie's
//! `--tls-fingerprint`).
//!
//! Which checks decide, by what the settings hold:
//!
//! | fingerprints | CA files | the certificate is accepted when |
//! |---|---|---|
//! | none | any | it chains to a trusted CA (the system's, plus the files) and is valid for the name |
//! | some | none | its fingerprint is one of them; the chain, the name and the dates are not checked (as msmtp does: the fingerprint replaces the trust file), which is what a self-signed server needs |
//! | some | some | both: its fingerprint is one of them *and* it chains to a trusted CA for the name |
//!
//! In every case the handshake's signatures are checked against the
//! certificate's key, so the session is with whoever holds that key.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use aws_lc_rs::digest;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};

/// The SHA-256 of a certificate's DER bytes, written `sha256:AB:CD:...`
/// (what `postie probe` prints and `--tls-fingerprint` takes).
///
/// Parsing accepts that form and the common spellings of it: with or
/// without the `sha256:` prefix (msmtp's `tls_fingerprint` has none), with
/// or without colons between the pairs, in either case, and OpenSSL's
/// `sha256 Fingerprint=AB:CD:...`. A SHA-1 or MD5 fingerprint is refused
/// with the reason.
///
/// ```
/// use postie_smtp::tls::Fingerprint;
/// let hex = "ab".repeat(32);
/// let pin: Fingerprint = format!("SHA256:{hex}").parse()?;
/// assert!(pin.to_string().starts_with("sha256:AB:AB:"));
/// assert_eq!(pin, pin.to_string().parse()?);
/// let sha1 = "ab:".repeat(19) + "ab";
/// assert!(sha1.parse::<Fingerprint>().unwrap_err().to_string().contains("SHA-1"));
/// # Ok::<(), postie_smtp::tls::FingerprintError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// The fingerprint of a certificate given as DER bytes.
    pub fn of(der: &[u8]) -> Self {
        let mut bytes = [0; 32];
        // SHA-256's output is 32 bytes.
        bytes.copy_from_slice(digest::digest(&digest::SHA256, der).as_ref());
        Self(bytes)
    }

    /// The 32 bytes of the digest.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for Fingerprint {
    /// `sha256:` and the bytes as upper-case hex pairs joined by colons.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("sha256:")?;
        for (i, byte) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{byte:02X}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// How to get the fingerprint postie takes, for the errors that refuse
/// another.
const HOW_TO_GET: &str = "`postie probe HOST:PORT` prints it, as does \
     `openssl x509 -noout -fingerprint -sha256 -in CERT.pem`";

/// Why a text is not a fingerprint postie can pin.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FingerprintError {
    /// A SHA-1 fingerprint (20 bytes, or named so).
    #[error(
        "{0} is a SHA-1 fingerprint: postie pins certificates by SHA-256 only, since SHA-1 \
         collisions can be made (a second certificate with the same SHA-1 fingerprint); \
         give the SHA-256 one ({HOW_TO_GET})"
    )]
    Sha1(String),
    /// An MD5 fingerprint (16 bytes, or named so).
    #[error(
        "{0} is an MD5 fingerprint: postie pins certificates by SHA-256 only, since MD5 \
         collisions are easy to make; give the SHA-256 one ({HOW_TO_GET})"
    )]
    Md5(String),
    /// Named with a digest other than SHA-256.
    #[error(
        "{given}: unknown digest {algorithm:?}: give sha256: and 64 hex digits ({HOW_TO_GET})"
    )]
    Algorithm {
        /// The text given.
        given: String,
        /// The digest it names.
        algorithm: String,
    },
    /// Not hex digits in pairs.
    #[error(
        "{given:?} is not a fingerprint: {why}; expected sha256: and 64 hex digits, \
         in pairs that colons may separate ({HOW_TO_GET})"
    )]
    Malformed {
        /// The text given.
        given: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// Hex of a length no digest postie knows has.
    #[error(
        "{given}: {bytes} bytes, but a SHA-256 fingerprint has 32 (64 hex digits) ({HOW_TO_GET})"
    )]
    Length {
        /// The text given.
        given: String,
        /// How many bytes its hex makes.
        bytes: usize,
    },
}

impl FromStr for Fingerprint {
    type Err = FingerprintError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let given = text.trim();
        let (algorithm, hex) = split_algorithm(given);
        match algorithm.as_deref() {
            None | Some("sha256") => {}
            Some("sha1") => return Err(FingerprintError::Sha1(given.to_owned())),
            Some("md5") => return Err(FingerprintError::Md5(given.to_owned())),
            Some(other) => {
                return Err(FingerprintError::Algorithm {
                    given: given.to_owned(),
                    algorithm: other.to_owned(),
                })
            }
        }
        let bytes = hex_pairs(hex).map_err(|why| FingerprintError::Malformed {
            given: given.to_owned(),
            why,
        })?;
        match <[u8; 32]>::try_from(bytes.as_slice()) {
            Ok(digest) => Ok(Self(digest)),
            // Named by their length alone, as msmtp's bare hex is.
            Err(_) if algorithm.is_none() && bytes.len() == 20 => {
                Err(FingerprintError::Sha1(given.to_owned()))
            }
            Err(_) if algorithm.is_none() && bytes.len() == 16 => {
                Err(FingerprintError::Md5(given.to_owned()))
            }
            Err(_) => Err(FingerprintError::Length {
                given: given.to_owned(),
                bytes: bytes.len(),
            }),
        }
    }
}

/// The digest a fingerprint names (lower case, without `-`: `sha256`,
/// `sha1`, `md5`), if it names one, and the hex after the name.
///
/// `sha256:AB:..` and OpenSSL's `SHA256 Fingerprint=AB:..` name one; a
/// bare `AB:CD:..` or `ABCD..` does not (what comes before its first colon
/// is a hex pair).
fn split_algorithm(given: &str) -> (Option<String>, &str) {
    // A digest's name: a letter first, then letters, digits and `-`; hex
    // digits alone are not one.
    let name_of = |name: &str| {
        let name = name.trim();
        let is_name = name.starts_with(|c: char| c.is_ascii_alphabetic())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !name.bytes().all(|b| b.is_ascii_hexdigit());
        is_name.then(|| name.to_ascii_lowercase().replace('-', ""))
    };
    if let Some((name, hex)) = given.split_once('=') {
        let name = name.trim_end();
        let name = match name.len().checked_sub(" fingerprint".len()) {
            Some(cut)
                if name
                    .get(cut..)
                    .is_some_and(|end| end.eq_ignore_ascii_case(" fingerprint")) =>
            {
                name.get(..cut).unwrap_or(name)
            }
            _ => name,
        };
        if let Some(algorithm) = name_of(name) {
            return (Some(algorithm), hex.trim_start());
        }
        return (None, given);
    }
    match given.split_once(':') {
        Some((first, rest)) => match name_of(first) {
            Some(algorithm) => (Some(algorithm), rest),
            None => (None, given),
        },
        None => (None, given),
    }
}

/// Hex digits in pairs, a colon allowed between two pairs (not at either
/// end, not twice in a row).
fn hex_pairs(hex: &str) -> Result<Vec<u8>, &'static str> {
    let mut bytes = Vec::with_capacity(32);
    let mut high: Option<u8> = None;
    let mut after_colon = false;
    for c in hex.chars() {
        if c == ':' {
            if high.is_some() || bytes.is_empty() || after_colon {
                return Err("a colon may only stand between two hex pairs");
            }
            after_colon = true;
            continue;
        }
        let digit = c
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
            .ok_or("it holds a character that is not a hex digit")?;
        after_colon = false;
        match high.take() {
            Some(h) => bytes.push(h << 4 | digit),
            None => high = Some(digit),
        }
    }
    if high.is_some() {
        return Err("an odd number of hex digits");
    }
    if after_colon {
        return Err("a colon may only stand between two hex pairs");
    }
    if bytes.is_empty() {
        return Err("no hex digits");
    }
    Ok(bytes)
}

#[cfg(feature = "serde")]
impl serde::Serialize for Fingerprint {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for Fingerprint {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A certificate whose fingerprint is not one of those pinned: what the
/// verifier refuses it with (inside rustls's
/// `CertificateError::Other`), so that the error can name both.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PinMismatch {
    /// The fingerprints pinned.
    pub expected: Vec<Fingerprint>,
    /// The fingerprint of the certificate the server presented.
    pub presented: Fingerprint,
}

impl PinMismatch {
    /// The pinned fingerprints, in words: one, or "one of" several.
    pub fn expected_words(&self) -> String {
        match self.expected.as_slice() {
            [one] => one.to_string(),
            many => format!(
                "one of {}",
                many.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

impl fmt::Display for PinMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the certificate's fingerprint is {}, not the pinned {}",
            self.presented,
            self.expected_words()
        )
    }
}

impl std::error::Error for PinMismatch {}

/// Accepts the server's certificate when its fingerprint is pinned and,
/// when `chain` is given, that verifier accepts it too. The handshake's
/// signatures are always checked, with the provider's algorithms.
#[derive(Debug)]
pub(super) struct PinningVerifier {
    pub(super) pins: Vec<Fingerprint>,
    /// The CA check that must pass as well (the user gave CA files);
    /// `None`: the fingerprint alone decides.
    pub(super) chain: Option<Arc<dyn ServerCertVerifier>>,
    pub(super) provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinningVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let presented = Fingerprint::of(end_entity.as_ref());
        // Checked first: a certificate that is not the pinned one is
        // named as such, whatever else is wrong with it.
        if !self.pins.contains(&presented) {
            return Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                rustls::OtherError(Arc::new(PinMismatch {
                    expected: self.pins.clone(),
                    presented,
                })),
            )));
        }
        match &self.chain {
            Some(chain) => {
                chain.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            }
            None => Ok(ServerCertVerified::assertion()),
        }
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
    use crate::tls::{TlsError, TlsErrorKind, TlsSettings};
    use rustls::pki_types::pem::PemObject;

    /// A certificate of the test kit (`server`: the test CA's, for
    /// localhost; `selfsigned`; `wrongname`: the CA's, for another name).
    fn cert(stem: &str) -> CertificateDer<'static> {
        let file = postie_testkit::ca_file().with_file_name(format!("{stem}.pem"));
        CertificateDer::from_pem_file(file).unwrap()
    }

    fn pin(stem: &str) -> Fingerprint {
        Fingerprint::of(cert(stem).as_ref())
    }

    /// What the settings' verifier says of certificate `stem` for
    /// localhost, now.
    fn verify(settings: &TlsSettings, stem: &str) -> Result<ServerCertVerified, rustls::Error> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let verifier = settings.verifier(provider).unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        verifier.verify_server_cert(&cert(stem), &[], &name, &[], UnixTime::now())
    }

    fn pinned(stems: &[&str], ca: bool) -> TlsSettings {
        TlsSettings {
            fingerprints: stems.iter().map(|s| pin(s)).collect(),
            ca_files: if ca {
                vec![postie_testkit::ca_file()]
            } else {
                Vec::new()
            },
            ..TlsSettings::default()
        }
    }

    fn mismatch(result: Result<ServerCertVerified, rustls::Error>) -> PinMismatch {
        match result {
            Err(rustls::Error::InvalidCertificate(CertificateError::Other(other))) => other
                .0
                .downcast_ref::<PinMismatch>()
                .cloned()
                .unwrap_or_else(|| panic!("{other:?}")),
            Err(other) => panic!("{other:?}"),
            Ok(_) => panic!("accepted"),
        }
    }

    #[test]
    fn a_pin_alone_accepts_its_certificate_whatever_the_ca_and_name() {
        // Self-signed: no CA vouches for it, and none is asked to.
        assert!(verify(&pinned(&["selfsigned"], false), "selfsigned").is_ok());
        // Not for localhost: the name is not checked either.
        assert!(verify(&pinned(&["wrongname"], false), "wrongname").is_ok());
        // Any of several pins will do.
        assert!(verify(&pinned(&["server", "selfsigned"], false), "selfsigned").is_ok());
        // Without the pin the same certificate is refused.
        assert!(verify(&TlsSettings::default(), "selfsigned").is_err());
    }

    #[test]
    fn a_pin_alone_refuses_every_other_certificate() {
        // A certificate the test CA signed for the right name is still
        // not the pinned one: the system's roots and the CA do not count.
        let settings = TlsSettings {
            ca_files: Vec::new(),
            ..pinned(&["selfsigned"], false)
        };
        let refused = mismatch(verify(&settings, "server"));
        assert_eq!(refused.presented, pin("server"));
        assert_eq!(refused.expected, [pin("selfsigned")]);
    }

    #[test]
    fn with_a_ca_file_both_the_pin_and_the_ca_must_pass() {
        // Both pass.
        assert!(verify(&pinned(&["server"], true), "server").is_ok());
        // The CA vouches for it, but it is not the pinned one.
        let refused = mismatch(verify(&pinned(&["selfsigned"], true), "server"));
        assert_eq!(refused.presented, pin("server"));
        // Pinned, but no CA vouches for it.
        let unvouched = verify(&pinned(&["selfsigned"], true), "selfsigned").unwrap_err();
        let words = TlsError::from_rustls(&unvouched, "localhost", &[]);
        assert_eq!(words.kind(), TlsErrorKind::SelfSigned, "{words}");
        // Pinned and from the CA, but for another name.
        let wrong = verify(&pinned(&["wrongname"], true), "wrongname").unwrap_err();
        let words = TlsError::from_rustls(&wrong, "localhost", &[]);
        assert_eq!(words.kind(), TlsErrorKind::WrongName, "{words}");
    }

    #[test]
    fn a_mismatch_names_both_fingerprints_and_is_not_temporary() {
        let refused = verify(&pinned(&["selfsigned"], false), "server").unwrap_err();
        let error = TlsError::from_rustls(&refused, "mx.example.org", &[]);
        assert_eq!(error.kind(), TlsErrorKind::FingerprintMismatch);
        assert!(!error.is_temporary());
        let text = error.to_string();
        assert!(text.contains("mx.example.org"), "{text}");
        assert!(text.contains(&pin("server").to_string()), "{text}");
        assert!(text.contains(&pin("selfsigned").to_string()), "{text}");
        let two = verify(&pinned(&["selfsigned", "wrongname"], false), "server").unwrap_err();
        let text = TlsError::from_rustls(&two, "mx", &[]).to_string();
        assert!(text.contains("expected one of sha256:"), "{text}");
    }

    #[test]
    fn a_pin_and_accepting_anything_contradict() {
        let settings = TlsSettings {
            accept_invalid_certificates: true,
            ..pinned(&["server"], false)
        };
        let error = settings.client_config().unwrap_err();
        assert_eq!(error.kind(), TlsErrorKind::Setup);
        assert!(error.to_string().contains("contradict"), "{error}");
    }

    #[test]
    fn the_fingerprint_is_what_openssl_computes() {
        let file = postie_testkit::ca_file().with_file_name("selfsigned.pem");
        let out = std::process::Command::new("openssl")
            .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
            .arg(&file)
            .output()
            .expect("openssl runs");
        assert!(out.status.success(), "{out:?}");
        // `sha256 Fingerprint=AB:...` (OpenSSL 3) or `SHA256 Fingerprint=`.
        let line = String::from_utf8(out.stdout).unwrap();
        let parsed: Fingerprint = line.parse().unwrap();
        assert_eq!(parsed, pin("selfsigned"));
        let hex = line.split_once('=').unwrap().1.trim();
        assert_eq!(
            parsed.to_string(),
            format!("sha256:{}", hex.to_ascii_uppercase())
        );
    }

    #[test]
    fn the_written_form_and_its_spellings_parse() {
        let fp = pin("server");
        let written = fp.to_string();
        assert_eq!(written.len(), "sha256:".len() + 32 * 3 - 1);
        let bare_hex: String = written["sha256:".len()..].replace(':', "");
        for form in [
            written.clone(),
            written.to_ascii_lowercase(),
            written.replace("sha256:", "SHA256:"),
            written.replace("sha256:", "SHA-256:"),
            format!("sha256:{bare_hex}"),
            bare_hex.clone(),
            bare_hex.to_ascii_lowercase(),
            written["sha256:".len()..].to_owned(),
            format!("SHA256 Fingerprint={}", &written["sha256:".len()..]),
            format!("  {written}\n"),
        ] {
            assert_eq!(form.parse::<Fingerprint>(), Ok(fp), "{form}");
        }
    }

    #[test]
    fn sha1_and_md5_are_refused_with_the_reason() {
        let sha1 = "AB:".repeat(19) + "AB";
        for form in [
            sha1.clone(),
            sha1.replace(':', ""),
            format!("sha1:{sha1}"),
            format!("SHA1 Fingerprint={sha1}"),
        ] {
            let error = form.parse::<Fingerprint>().unwrap_err();
            assert!(
                matches!(error, FingerprintError::Sha1(_)),
                "{form}: {error}"
            );
            let text = error.to_string();
            assert!(
                text.contains("SHA-1") && text.contains("SHA-256 only"),
                "{text}"
            );
            assert!(text.contains("postie probe"), "{text}");
        }
        let md5 = "ab".repeat(16);
        for form in [md5.clone(), format!("md5:{md5}")] {
            let error = form.parse::<Fingerprint>().unwrap_err();
            assert!(matches!(error, FingerprintError::Md5(_)), "{form}: {error}");
        }
    }

    #[test]
    fn malformed_fingerprints_say_what_is_wrong() {
        let good = "ab".repeat(32);
        let cases = [
            ("", "no hex digits"),
            ("sha256:", "no hex digits"),
            (&format!("{good}a")[..], "odd number"),
            (&format!(":{good}")[..], "colon"),
            (&format!("{good}:")[..], "colon"),
            (
                &format!("a{}", &good[1..])[..].replacen('b', ":b", 1)[..],
                "colon",
            ),
            (&format!("ab::{}", &good[2..])[..], "colon"),
            (&format!("zz{}", &good[2..])[..], "not a hex digit"),
        ];
        for (form, why) in cases {
            let error = form.parse::<Fingerprint>().unwrap_err();
            assert!(
                matches!(error, FingerprintError::Malformed { .. }),
                "{form:?}: {error:?}"
            );
            assert!(error.to_string().contains(why), "{form:?}: {error}");
        }
        let short = "sha256:".to_owned() + &"ab".repeat(31);
        assert_eq!(
            short.parse::<Fingerprint>(),
            Err(FingerprintError::Length {
                given: short.clone(),
                bytes: 31
            })
        );
        let error = format!("sha512:{good}").parse::<Fingerprint>().unwrap_err();
        assert!(
            matches!(&error, FingerprintError::Algorithm { algorithm, .. } if algorithm == "sha512"),
            "{error:?}"
        );
    }
}
