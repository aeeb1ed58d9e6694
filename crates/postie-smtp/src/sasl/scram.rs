//! SCRAM-SHA-1 (RFC 5802) and SCRAM-SHA-256 (RFC 7677), one implementation
//! generic over the hash.
//!
//! ```text
//! C: n,,n=user,r=<client nonce>                        (initial response)
//! S: r=<client nonce><server nonce>,s=<salt>,i=<count> (server-first)
//! C: c=biws,r=<nonce>,p=<client proof>                 (client-final)
//! S: v=<server signature>                              (server-final)
//! C: (empty)
//! S: 235
//! ```
//!
//! No channel binding (`n` in the GS2 header): the client does not offer
//! the `-PLUS` variants. The username and password go through SASLprep
//! (RFC 4013); the username and authzid are escaped (`,` → `=2C`,
//! `=` → `=3D`). The server signature is compared in constant time, and
//! [`Mechanism::complete`] fails until it has been verified.

use std::marker::PhantomData;
use std::num::NonZeroU32;

use aws_lc_rs::{digest, hmac, pbkdf2};
use encodify::base64::STANDARD as B64;

use super::{
    assemble, ct_eq, gs2_escape, printable, random_base64, saslprep, Credentials, Mechanism,
    SaslError, Secret, Zeroizing,
};

/// Iteration counts above this are refused: a hostile server could
/// otherwise make the client spin for minutes.
pub(crate) const MAX_ITERATIONS: u32 = 1_000_000;

/// The hash a SCRAM variant is built on: its HMAC, digest and PBKDF2
/// (RFC 5802's `Hi`), all from AWS-LC, the crate's one crypto library.
pub(crate) trait ScramHash: 'static {
    /// The mechanism's IANA name.
    const NAME: &'static str;
    /// `H`.
    const DIGEST: &'static digest::Algorithm;
    /// `HMAC` over `H`.
    const HMAC: hmac::Algorithm;
    /// PBKDF2 with `HMAC` over `H`.
    const PBKDF2: pbkdf2::Algorithm;

    /// `HMAC(key, concatenation of parts)`. AWS-LC brings the key to the
    /// block size as RFC 2104 says and zeroes its context on drop; the
    /// result is wiped on drop too (keyed with the salted password it is a
    /// password equivalent).
    fn hmac(key: &[u8], parts: &[&[u8]]) -> Zeroizing<Vec<u8>> {
        let key = hmac::Key::new(Self::HMAC, key);
        let mut context = hmac::Context::with_key(&key);
        for part in parts {
            context.update(part);
        }
        Zeroizing::new(context.sign().as_ref().to_vec())
    }

    /// `H(data)`.
    fn hash(data: &[u8]) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(digest::digest(Self::DIGEST, data).as_ref().to_vec())
    }

    /// `Hi(password, salt, i)`: PBKDF2 with HMAC of this hash, as long as
    /// the hash's output. The salted password, a password equivalent: wiped
    /// on drop.
    fn hi(password: &[u8], salt: &[u8], iterations: NonZeroU32) -> Zeroizing<Vec<u8>> {
        let mut salted = Zeroizing::new(vec![0; Self::DIGEST.output_len()]);
        pbkdf2::derive(Self::PBKDF2, iterations, salt, password, &mut salted);
        salted
    }
}

/// SCRAM-SHA-1.
pub(crate) enum Sha1 {}

/// SCRAM-SHA-256.
pub(crate) enum Sha256 {}

impl ScramHash for Sha1 {
    const NAME: &'static str = "SCRAM-SHA-1";
    // SHA-1 is what RFC 5802 specifies for this mechanism; AWS-LC names it
    // "for legacy use only", which this is.
    const DIGEST: &'static digest::Algorithm = &digest::SHA1_FOR_LEGACY_USE_ONLY;
    const HMAC: hmac::Algorithm = hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY;
    const PBKDF2: pbkdf2::Algorithm = pbkdf2::PBKDF2_HMAC_SHA1;
}

impl ScramHash for Sha256 {
    const NAME: &'static str = "SCRAM-SHA-256";
    const DIGEST: &'static digest::Algorithm = &digest::SHA256;
    const HMAC: hmac::Algorithm = hmac::HMAC_SHA256;
    const PBKDF2: pbkdf2::Algorithm = pbkdf2::PBKDF2_HMAC_SHA256;
}

/// A run of SCRAM over hash `H`.
pub(crate) struct Scram<H> {
    /// `n,,` or `n,a=<authzid>,`.
    gs2_header: String,
    /// `n=<username>,r=<client nonce>`.
    client_first_bare: String,
    client_nonce: String,
    /// After SASLprep.
    password: Secret,
    state: State,
    server_error: Option<String>,
    hash: PhantomData<fn() -> H>,
}

enum State {
    /// Nothing sent yet.
    Initial,
    /// client-first sent; waiting for server-first.
    SentFirst,
    /// client-final sent; the server-final must carry this signature.
    AwaitFinal {
        server_signature: Zeroizing<Vec<u8>>,
    },
    /// The server signature was verified.
    Verified,
    /// An error ended the run.
    Failed,
}

impl<H: ScramHash> Scram<H> {
    /// With a client nonce of 24 random bytes, in base64.
    pub(crate) fn new(credentials: &Credentials) -> Result<Self, SaslError> {
        Self::with_nonce(credentials, random_base64(24)?)
    }

    /// With a chosen client nonce, for tests. It must be printable ASCII
    /// without `,`.
    pub(crate) fn with_nonce(credentials: &Credentials, nonce: String) -> Result<Self, SaslError> {
        let invalid = |reason| SaslError::InvalidInput {
            mechanism: H::NAME,
            reason,
        };
        let username = saslprep(
            &credentials.username,
            H::NAME,
            "the username is not valid under SASLprep (RFC 4013)",
        )?;
        if username.is_empty() {
            return Err(invalid("the username is empty"));
        }
        let password = saslprep(
            credentials.secret.expose(),
            H::NAME,
            "the password is not valid under SASLprep (RFC 4013)",
        )?;
        if nonce.is_empty() || !nonce.bytes().all(is_printable) {
            return Err(invalid("the client nonce is not printable ASCII"));
        }
        let gs2_header = match credentials.authzid.as_deref() {
            None | Some("") => "n,,".to_owned(),
            Some(a) => format!("n,a={},", gs2_escape(a)),
        };
        Ok(Self {
            gs2_header,
            client_first_bare: format!("n={},r={nonce}", gs2_escape(&username)),
            client_nonce: nonce,
            password: Secret::new(password),
            state: State::Initial,
            server_error: None,
            hash: PhantomData,
        })
    }

    fn client_first(&self) -> Zeroizing<Vec<u8>> {
        assemble(&[
            self.gs2_header.as_bytes(),
            self.client_first_bare.as_bytes(),
        ])
    }

    fn malformed(reason: impl Into<String>) -> SaslError {
        SaslError::MalformedChallenge {
            mechanism: H::NAME,
            reason: reason.into(),
        }
    }

    fn unsupported(reason: String) -> SaslError {
        SaslError::Unsupported {
            mechanism: H::NAME,
            reason,
        }
    }

    /// Answers server-first with client-final; returns it and the server
    /// signature to expect.
    #[allow(clippy::type_complexity)]
    fn client_final(
        &self,
        server_first: &[u8],
    ) -> Result<(Zeroizing<Vec<u8>>, Zeroizing<Vec<u8>>), SaslError> {
        let server_first = std::str::from_utf8(server_first)
            .map_err(|_| Self::malformed("server-first is not UTF-8"))?;
        let mut nonce = None;
        let mut salt = None;
        let mut iterations = None;
        for (n, attr) in server_first.split(',').enumerate() {
            let (key, value) = split_attribute(attr).ok_or_else(|| {
                Self::malformed(format!("bad attribute {:?}", printable(attr.as_bytes())))
            })?;
            let slot = match key {
                'm' if n == 0 => {
                    return Err(Self::unsupported(
                        "a mandatory extension (m=) this client does not know".to_owned(),
                    ))
                }
                'r' => &mut nonce,
                's' => &mut salt,
                'i' => &mut iterations,
                // Extensions the client does not know are ignored.
                _ => continue,
            };
            if slot.replace(value).is_some() {
                return Err(Self::malformed(format!("{key}= appears more than once")));
            }
        }
        let nonce = nonce.ok_or_else(|| Self::malformed("no nonce (r=)"))?;
        let salt = salt.ok_or_else(|| Self::malformed("no salt (s=)"))?;
        let iterations = iterations.ok_or_else(|| Self::malformed("no iteration count (i=)"))?;

        if !nonce.starts_with(&self.client_nonce) {
            return Err(Self::malformed("the server nonce does not start with ours"));
        }
        if !nonce.bytes().all(is_printable) {
            return Err(Self::malformed("the server nonce is not printable ASCII"));
        }
        let salt = B64
            .decode(salt)
            .map_err(|_| Self::malformed("the salt is not base64"))?;
        if iterations.is_empty() || !iterations.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Self::malformed(format!(
                "iteration count {:?} is not a number",
                printable(iterations.as_bytes())
            )));
        }
        let iterations = match iterations.parse::<NonZeroU32>() {
            Ok(i) if i.get() <= MAX_ITERATIONS => i,
            _ => {
                return Err(Self::unsupported(format!(
                    "iteration count {} (accepted: 1 to {MAX_ITERATIONS})",
                    printable(iterations.as_bytes())
                )))
            }
        };

        let without_proof = format!("c={},r={nonce}", B64.encode(&self.gs2_header));
        let auth_message = [
            self.client_first_bare.as_bytes(),
            b",",
            server_first.as_bytes(),
            b",",
            without_proof.as_bytes(),
        ];
        let salted = H::hi(self.password.expose().as_bytes(), &salt, iterations);
        let client_key = H::hmac(&salted, &[b"Client Key"]);
        let stored_key = H::hash(&client_key);
        let client_signature = H::hmac(&stored_key, &auth_message);
        let proof: Zeroizing<Vec<u8>> = Zeroizing::new(
            client_key
                .iter()
                .zip(client_signature.iter())
                .map(|(k, s)| k ^ s)
                .collect(),
        );
        let server_key = H::hmac(&salted, &[b"Server Key"]);
        let server_signature = H::hmac(&server_key, &auth_message);

        let mut proof_b64 = Zeroizing::new(String::with_capacity(proof.len().div_ceil(3) * 4));
        B64.encode_append(&*proof, &mut *proof_b64);
        let client_final = assemble(&[without_proof.as_bytes(), b",p=", proof_b64.as_bytes()]);
        Ok((client_final, server_signature))
    }

    /// Checks server-final.
    fn verify(&mut self, server_final: &[u8], expected: &[u8]) -> Result<(), SaslError> {
        let first = server_final
            .split(|&b| b == b',')
            .next()
            .unwrap_or_default();
        if let Some(error) = first.strip_prefix(b"e=") {
            let message = printable(error);
            self.server_error = Some(message.clone());
            return Err(SaslError::Server {
                mechanism: H::NAME,
                message,
            });
        }
        let Some(signature) = first.strip_prefix(b"v=") else {
            return Err(Self::malformed(format!(
                "server-final {:?} has neither v= nor e=",
                printable(server_final)
            )));
        };
        let signature = B64
            .decode(signature)
            .map_err(|_| Self::malformed("the server signature is not base64"))?;
        if !ct_eq(&signature, expected) {
            return Err(SaslError::ServerProofMismatch { mechanism: H::NAME });
        }
        Ok(())
    }
}

/// `printable` of RFC 5802: `%x21-2B / %x2D-7E`.
fn is_printable(b: u8) -> bool {
    (0x21..=0x7e).contains(&b) && b != b','
}

/// `x=value` → (`x`, `value`), for a single ASCII letter `x`.
fn split_attribute(attr: &str) -> Option<(char, &str)> {
    let mut chars = attr.chars();
    let key = chars.next().filter(char::is_ascii_alphabetic)?;
    let value = chars.as_str().strip_prefix('=')?;
    Some((key, value))
}

impl<H: ScramHash> Mechanism for Scram<H> {
    fn name(&self) -> &'static str {
        H::NAME
    }

    fn initial_response(&mut self) -> Result<Option<Zeroizing<Vec<u8>>>, SaslError> {
        if let State::Initial = self.state {
            self.state = State::SentFirst;
        }
        Ok(Some(self.client_first()))
    }

    fn respond(&mut self, challenge: &[u8]) -> Result<Zeroizing<Vec<u8>>, SaslError> {
        match std::mem::replace(&mut self.state, State::Failed) {
            // AUTH went without an initial response; the server asks for
            // client-first with an empty challenge.
            State::Initial if challenge.is_empty() => {
                self.state = State::SentFirst;
                Ok(self.client_first())
            }
            State::SentFirst => {
                let (client_final, server_signature) = self.client_final(challenge)?;
                self.state = State::AwaitFinal { server_signature };
                Ok(client_final)
            }
            State::AwaitFinal { server_signature } => {
                self.verify(challenge, &server_signature)?;
                self.state = State::Verified;
                Ok(Zeroizing::new(Vec::new()))
            }
            State::Initial | State::Verified | State::Failed => {
                Err(SaslError::UnexpectedChallenge { mechanism: H::NAME })
            }
        }
    }

    fn complete(&self) -> Result<(), SaslError> {
        match (&self.state, &self.server_error) {
            (State::Verified, _) => Ok(()),
            (_, Some(message)) => Err(SaslError::Server {
                mechanism: H::NAME,
                message: message.clone(),
            }),
            _ => Err(SaslError::MutualAuthMissing { mechanism: H::NAME }),
        }
    }

    fn server_error(&self) -> Option<&str> {
        self.server_error.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha1_user() -> Scram<Sha1> {
        Scram::with_nonce(
            &Credentials::new("user", "pencil"),
            "fyko+d2lbbFgONRv9qkxdawL".into(),
        )
        .unwrap()
    }

    const SHA1_SERVER_FIRST: &[u8] =
        b"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096";
    const SHA1_CLIENT_FINAL: &[u8] =
        b"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=";
    const SHA1_SERVER_FINAL: &[u8] = b"v=rmF9pqV8S7suAoZWja4dJRkFsKQ=";

    fn sha256_user() -> Scram<Sha256> {
        Scram::with_nonce(
            &Credentials::new("user", "pencil"),
            "rOprNGfwEbeRWgbNEkqO".into(),
        )
        .unwrap()
    }

    const SHA256_SERVER_FIRST: &[u8] =
        b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";

    /// `Hi` is PBKDF2: RFC 6070's vectors for SHA-1, RFC 7914's (first 32
    /// bytes) for SHA-256, and an empty password and salt, which a server
    /// can make us use (`s=` is an empty salt), agreeing with Python's
    /// hashlib.pbkdf2_hmac.
    #[test]
    fn hi_is_pbkdf2() {
        fn hi<H: ScramHash>(password: &[u8], salt: &[u8], i: u32) -> String {
            super::super::hex(&H::hi(password, salt, NonZeroU32::new(i).unwrap()))
        }
        assert_eq!(
            hi::<Sha1>(b"password", b"salt", 1),
            "0c60c80f961f0e71f3a9b524af6012062fe037a6"
        );
        assert_eq!(
            hi::<Sha1>(b"password", b"salt", 4096),
            "4b007901b765489abead49d926f721d065a429c1"
        );
        assert_eq!(
            hi::<Sha256>(b"passwd", b"salt", 1),
            "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
        );
        assert_eq!(
            hi::<Sha1>(b"", b"", 1),
            "1e437a1c79d75be61e91141dae20affc4892cc99"
        );
        assert_eq!(
            hi::<Sha256>(b"", b"salt", 2),
            "62384466264daadc4144018c6bd864648272b34da8980d31521ffcce92ae003b"
        );
    }

    #[test]
    fn rfc5802_sha1_exchange() {
        let mut m = sha1_user();
        assert_eq!(m.name(), "SCRAM-SHA-1");
        assert_eq!(
            m.initial_response().unwrap().unwrap().to_vec(),
            b"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL"
        );
        assert_eq!(
            m.respond(SHA1_SERVER_FIRST).unwrap().to_vec(),
            SHA1_CLIENT_FINAL
        );
        assert!(matches!(
            m.complete(),
            Err(SaslError::MutualAuthMissing { .. })
        ));
        assert_eq!(m.respond(SHA1_SERVER_FINAL).unwrap().to_vec(), b"");
        m.complete().unwrap();
        assert!(matches!(
            m.respond(b""),
            Err(SaslError::UnexpectedChallenge { .. })
        ));
    }

    #[test]
    fn rfc7677_sha256_exchange() {
        let mut m = sha256_user();
        assert_eq!(m.name(), "SCRAM-SHA-256");
        assert_eq!(
            m.initial_response().unwrap().unwrap().to_vec(),
            b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
        );
        assert_eq!(
            m.respond(SHA256_SERVER_FIRST).unwrap().to_vec(),
            b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
              p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
                .as_slice()
        );
        assert_eq!(
            m.respond(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
                .unwrap()
                .to_vec(),
            b""
        );
        m.complete().unwrap();
    }

    #[test]
    fn without_initial_response_the_empty_challenge_gets_client_first() {
        let mut m = sha1_user();
        assert_eq!(
            m.respond(b"").unwrap().to_vec(),
            b"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL"
        );
        assert_eq!(
            m.respond(SHA1_SERVER_FIRST).unwrap().to_vec(),
            SHA1_CLIENT_FINAL
        );
        m.respond(SHA1_SERVER_FINAL).unwrap();
        m.complete().unwrap();
    }

    #[test]
    fn wrong_server_signature_is_an_error() {
        let mut m = sha1_user();
        m.initial_response().unwrap();
        m.respond(SHA1_SERVER_FIRST).unwrap();
        assert!(matches!(
            m.respond(b"v=rmF9pqV8S7suAoZWja4dJRkFsKA="),
            Err(SaslError::ServerProofMismatch { .. })
        ));
        assert!(m.complete().is_err());
        // Nothing goes on after a failure.
        assert!(m.respond(SHA1_SERVER_FINAL).is_err());
        assert!(m.complete().is_err());

        // A truncated signature, and one of the right length for SHA-256
        // given to SHA-1.
        for bad in [&b"v=rmF9pqV8S7suAoZWja4d"[..], b"v=", b"v=!!!!"] {
            let mut m = sha1_user();
            m.initial_response().unwrap();
            m.respond(SHA1_SERVER_FIRST).unwrap();
            assert!(m.respond(bad).is_err());
            assert!(m.complete().is_err());
        }
    }

    #[test]
    fn missing_server_final_fails_complete() {
        let mut m = sha256_user();
        assert!(m.complete().is_err());
        m.initial_response().unwrap();
        assert!(m.complete().is_err());
        m.respond(SHA256_SERVER_FIRST).unwrap();
        assert!(matches!(
            m.complete(),
            Err(SaslError::MutualAuthMissing { .. })
        ));
    }

    #[test]
    fn server_nonce_must_extend_ours() {
        let mut m = sha1_user();
        m.initial_response().unwrap();
        assert!(m
            .respond(b"r=fyko+d2lbbFgONRv9qkxdawX3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096")
            .is_err());
        let mut m = sha1_user();
        m.initial_response().unwrap();
        assert!(m
            .respond(b"r=3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096")
            .is_err());
        assert!(m.complete().is_err());
    }

    #[test]
    fn server_error_value_is_reported() {
        let mut m = sha1_user();
        m.initial_response().unwrap();
        m.respond(SHA1_SERVER_FIRST).unwrap();
        match m.respond(b"e=invalid-proof") {
            Err(SaslError::Server { message, .. }) => assert_eq!(message, "invalid-proof"),
            other => panic!("{other:?}"),
        }
        assert_eq!(m.server_error(), Some("invalid-proof"));
        assert!(matches!(m.complete(), Err(SaslError::Server { .. })));
    }

    #[test]
    fn bad_server_first_messages() {
        let bad: &[&[u8]] = &[
            b"",
            b"m=ext,r=fyko+d2lbbFgONRv9qkxdawLx,s=QSXCR+Q6sek8bf92,i=4096",
            b"r=fyko+d2lbbFgONRv9qkxdawLx,s=QSXCR+Q6sek8bf92,i=0",
            b"r=fyko+d2lbbFgONRv9qkxdawLx,s=QSXCR+Q6sek8bf92,i=10000001",
            b"r=fyko+d2lbbFgONRv9qkxdawLx,s=QSXCR+Q6sek8bf92,i=99999999999999999999",
            b"r=fyko+d2lbbFgONRv9qkxdawLx,s=QSXCR+Q6sek8bf92,i=-1",
            b"r=fyko+d2lbbFgONRv9qkxdawLx,s=QSXCR+Q6sek8bf92,i=+4096",
            b"r=fyko+d2lbbFgONRv9qkxdawLx,s=QSXCR+Q6sek8bf92,i=",
            b"r=fyko+d2lbbFgONRv9qkxdawLx,s=QSXCR+Q6sek8bf92",
            b"r=fyko+d2lbbFgONRv9qkxdawLx,i=4096",
            b"s=QSXCR+Q6sek8bf92,i=4096",
            b"r=fyko+d2lbbFgONRv9qkxdawLx,s=not base64!,i=4096",
            b"r=fyko+d2lbbFgONRv9qkxdawLx,s=QSXCR+Q6sek8bf92,i=4096,r=again",
            b"r=fyko+d2lbbFgONRv9qkxdawL\x7f,s=QSXCR+Q6sek8bf92,i=4096",
            b"r=fyko+d2lbbFgONRv9qkxdawLx,s=QSXCR+Q6sek8bf92,i=4096,,",
            b"r=fyko+d2lbbFgONRv9qkxdawLx,s=QSXCR+Q6sek8bf92,i=4096,garbage",
            b"\xff",
        ];
        for challenge in bad {
            let mut m = sha1_user();
            m.initial_response().unwrap();
            assert!(
                m.respond(challenge).is_err(),
                "{}",
                String::from_utf8_lossy(challenge)
            );
            assert!(m.complete().is_err());
        }
    }

    #[test]
    fn unknown_extensions_after_iterations_are_ignored() {
        let mut m = sha1_user();
        m.initial_response().unwrap();
        let mut first = SHA1_SERVER_FIRST.to_vec();
        first.extend_from_slice(b",x=future");
        // The extension is part of AuthMessage, so the proof differs from
        // the RFC's, but the exchange goes on.
        assert!(m.respond(&first).is_ok());
    }

    #[test]
    fn smallest_iteration_count_is_accepted() {
        let mut m = sha1_user();
        m.initial_response().unwrap();
        assert!(m
            .respond(b"r=fyko+d2lbbFgONRv9qkxdawLx,s=QSXCR+Q6sek8bf92,i=1")
            .is_ok());
    }

    #[test]
    fn gs2_header_and_escaping() {
        let c = Credentials::new("us,er=x", "pencil").with_authzid("ad=min,1");
        let mut m = Scram::<Sha256>::with_nonce(&c, "abc".into()).unwrap();
        assert_eq!(
            m.initial_response().unwrap().unwrap().to_vec(),
            b"n,a=ad=3Dmin=2C1,n=us=2Cer=3Dx,r=abc"
        );
        let r = m.respond(b"r=abcdef,s=QSXCR+Q6sek8bf92,i=1").unwrap();
        let expected_c = format!("c={},", B64.encode("n,a=ad=3Dmin=2C1,"));
        assert!(r.starts_with(expected_c.as_bytes()));
    }

    #[test]
    fn saslprep_is_applied() {
        // RFC 4013 §3: U+00AD (soft hyphen) maps to nothing, U+00A0 to a
        // space, and U+2168 (ROMAN NUMERAL NINE) to "IX".
        let proof = |user: &str, pass: &str| {
            let c = Credentials::new(user, pass);
            let mut m = Scram::<Sha1>::with_nonce(&c, "n".into()).unwrap();
            let first = m.initial_response().unwrap().unwrap();
            let last = m.respond(b"r=nn,s=QSXCR+Q6sek8bf92,i=2").unwrap();
            (first, last)
        };
        assert_eq!(proof("user", "I\u{ad}X"), proof("user", "IX"));
        assert_eq!(proof("user", "\u{2168}"), proof("user", "IX"));
        assert_eq!(proof("us\u{ad}er", "a\u{a0}b"), proof("user", "a b"));
        assert_ne!(proof("user", "IX"), proof("user", "IY"));
    }

    #[test]
    fn saslprep_failures_are_refused_without_showing_the_secret() {
        let err = Scram::<Sha1>::with_nonce(&Credentials::new("user", "hunter\u{7}2"), "n".into())
            .err()
            .unwrap();
        assert!(matches!(err, SaslError::InvalidInput { .. }));
        assert!(!format!("{err} {err:?}").contains("hunter"));
        assert!(
            Scram::<Sha1>::with_nonce(&Credentials::new("us\u{0}er", "p"), "n".into()).is_err()
        );
        assert!(Scram::<Sha1>::with_nonce(&Credentials::new("", "p"), "n".into()).is_err());
        assert!(Scram::<Sha1>::with_nonce(&Credentials::new("u", "p"), "a,b".into()).is_err());
    }

    #[test]
    fn random_nonce_is_used() {
        let mut m = Scram::<Sha256>::new(&Credentials::new("user", "pencil")).unwrap();
        let first = String::from_utf8(m.initial_response().unwrap().unwrap().to_vec()).unwrap();
        let nonce = first.strip_prefix("n,,n=user,r=").unwrap();
        assert_eq!(nonce.len(), 32);
        assert!(nonce.bytes().all(is_printable));
    }

    /// Valid server messages with a byte or two changed: the parser must
    /// answer or refuse, never panic.
    #[test]
    fn no_panic_on_mutated_server_messages() {
        let mut seed: u64 = 0x1234_5678_9abc_def1;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let first = b"r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92,i=3";
        for _ in 0..2000 {
            let mut msg = first.to_vec();
            for _ in 0..=(next() % 3) {
                let pos = (next() % msg.len() as u64) as usize;
                match next() % 3 {
                    0 => msg[pos] = next() as u8,
                    1 => {
                        msg.remove(pos);
                    }
                    _ => msg.insert(pos, b",=ei9"[(next() % 5) as usize]),
                }
            }
            let mut m = sha1_user();
            m.initial_response().unwrap();
            if m.respond(&msg).is_ok() {
                let mut fin = b"v=".to_vec();
                fin.extend((0..(next() % 40)).map(|_| next() as u8));
                let _ = m.respond(&fin);
            }
            let _ = m.complete();
        }
    }
}
