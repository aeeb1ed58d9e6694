//! The signing keys: RSA (2048 to 4096 bits, `rsa-sha256`) and Ed25519
//! (`ed25519-sha256`, RFC 8463), read from PEM or DER (PKCS#1 and PKCS#8
//! RSA, PKCS#8 Ed25519). The crypto is AWS-LC's (aws-lc-rs); nothing here is
//! hand-written. The key bytes are wiped when dropped.

use std::fmt;

use aws_lc_rs::encoding::{AsDer as _, Pkcs8V1Der};
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _, RsaKeyPair};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::PrivateKeyDer;
use zeroize::Zeroizing;

/// The signature algorithm (`a=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    /// `rsa-sha256`.
    RsaSha256,
    /// `ed25519-sha256` (RFC 8463).
    Ed25519Sha256,
}

impl Algorithm {
    /// Its name in the `a=` tag.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RsaSha256 => "rsa-sha256",
            Self::Ed25519Sha256 => "ed25519-sha256",
        }
    }

    /// The key type in the DNS record (`k=`).
    pub fn key_type(self) -> &'static str {
        match self {
            Self::RsaSha256 => "rsa",
            Self::Ed25519Sha256 => "ed25519",
        }
    }
}

/// Why a key could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// Neither PEM nor DER of a key postie signs with.
    #[error(
        "not a private key postie can sign with (PEM or DER: PKCS#1 or PKCS#8 RSA, PKCS#8 Ed25519)"
    )]
    Unreadable,
    /// An RSA key outside 2048–4096 bits, or one AWS-LC refused.
    #[error("the RSA key was refused: {0} (postie signs with RSA keys of 2048 to 4096 bits)")]
    Rsa(String),
    /// An Ed25519 key AWS-LC refused.
    #[error("the Ed25519 key was refused: {0}")]
    Ed25519(String),
    /// An elliptic-curve key of another curve (SEC1).
    #[error("an EC key of another curve: DKIM signs with RSA or Ed25519 only")]
    OtherCurve,
}

/// A private key to sign with.
pub struct SigningKey {
    inner: Inner,
}

enum Inner {
    Rsa(RsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("algorithm", &self.algorithm())
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Reads a key from PEM (`PRIVATE KEY`, `RSA PRIVATE KEY`) or DER.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        // The DER decoded from PEM is a copy of the key: wiped on drop.
        let der = match PrivateKeyDer::from_pem_slice(bytes) {
            Ok(der) => Zeroizing::new(der),
            Err(_) => {
                // DER: PKCS#8 first (it says what it holds), then PKCS#1.
                let der = Zeroizing::new(bytes.to_vec());
                if let Ok(key) = Self::from_pkcs8(&der) {
                    return Ok(key);
                }
                return RsaKeyPair::from_der(&der)
                    .map_err(|_| KeyError::Unreadable)
                    .and_then(Self::rsa);
            }
        };
        match &*der {
            PrivateKeyDer::Pkcs8(pkcs8) => Self::from_pkcs8(pkcs8.secret_pkcs8_der()),
            PrivateKeyDer::Pkcs1(pkcs1) => RsaKeyPair::from_der(pkcs1.secret_pkcs1_der())
                .map_err(rsa_refused)
                .and_then(Self::rsa),
            PrivateKeyDer::Sec1(_) => Err(KeyError::OtherCurve),
            _ => Err(KeyError::Unreadable),
        }
    }

    /// An Ed25519 key from its 32-byte seed (as RFC 8463's example gives
    /// it).
    pub fn ed25519_from_seed(seed: &[u8]) -> Result<Self, KeyError> {
        Ed25519KeyPair::from_seed_unchecked(seed)
            .map(|pair| Self {
                inner: Inner::Ed25519(pair),
            })
            .map_err(|e| KeyError::Ed25519(e.to_string()))
    }

    fn from_pkcs8(der: &[u8]) -> Result<Self, KeyError> {
        // OpenSSL writes Ed25519 keys as PKCS#8 v1 (no public key), which
        // AWS-LC checks only in its "maybe unchecked" form.
        if let Ok(pair) = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der) {
            return Ok(Self {
                inner: Inner::Ed25519(pair),
            });
        }
        RsaKeyPair::from_pkcs8(der)
            .map_err(rsa_refused)
            .and_then(Self::rsa)
    }

    /// An RSA key of 2048 to 4096 bits: AWS-LC itself refuses keys under
    /// 2048 bits but signs with up to 8192, which some verifiers refuse
    /// (RFC 8301 asks verifiers to accept only up to 4096).
    fn rsa(pair: RsaKeyPair) -> Result<Self, KeyError> {
        match pair.public_modulus_len() * 8 {
            2048..=4096 => Ok(Self {
                inner: Inner::Rsa(pair),
            }),
            bits => Err(KeyError::Rsa(format!("it has {bits} bits"))),
        }
    }

    /// The algorithm this key signs with.
    pub fn algorithm(&self) -> Algorithm {
        match self.inner {
            Inner::Rsa(_) => Algorithm::RsaSha256,
            Inner::Ed25519(_) => Algorithm::Ed25519Sha256,
        }
    }

    /// The public key as the DNS record's `p=` holds it (before base64):
    /// an RSA SubjectPublicKeyInfo, or Ed25519's 32 bytes (RFC 8463).
    pub fn public_key_record(&self) -> Vec<u8> {
        match &self.inner {
            Inner::Rsa(pair) => rsa_spki(pair.public_key().as_ref()),
            Inner::Ed25519(pair) => pair.public_key().as_ref().to_vec(),
        }
    }

    /// The text of the DNS TXT record that publishes this key at
    /// `selector._domainkey.domain`: `v=DKIM1; k=ed25519; p=BASE64` (or
    /// `k=rsa`), before it is split into strings of 255 bytes.
    pub fn dns_record(&self) -> String {
        format!(
            "v=DKIM1; k={}; p={}",
            self.algorithm().key_type(),
            encodify::base64::STANDARD.encode(self.public_key_record())
        )
    }

    /// A new key from the system's random source (RSA: 2048 bits), and its
    /// PKCS#8 document as PEM (`-----BEGIN PRIVATE KEY-----`) to store, in
    /// a buffer wiped on drop.
    pub fn generate(algorithm: Algorithm) -> Result<(Self, Zeroizing<String>), KeyError> {
        let der = match algorithm {
            Algorithm::Ed25519Sha256 => {
                let rng = aws_lc_rs::rand::SystemRandom::new();
                let document = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| {
                    KeyError::Ed25519("the system's random source failed".to_owned())
                })?;
                Zeroizing::new(document.as_ref().to_vec())
            }
            Algorithm::RsaSha256 => {
                let pair = RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
                    .map_err(|_| KeyError::Rsa("key generation failed".to_owned()))?;
                let document: Pkcs8V1Der<'static> = pair
                    .as_der()
                    .map_err(|_| KeyError::Rsa("the new key could not be encoded".to_owned()))?;
                Zeroizing::new(document.as_ref().to_vec())
            }
        };
        let key = Self::from_pkcs8(&der)?;
        let text = Zeroizing::new(encodify::base64::STANDARD.encode(&*der));
        let mut pem = Zeroizing::new(String::with_capacity(text.len() + text.len() / 64 + 60));
        pem.push_str("-----BEGIN PRIVATE KEY-----\n");
        for line in text.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).unwrap_or_default());
            pem.push('\n');
        }
        pem.push_str("-----END PRIVATE KEY-----\n");
        Ok((key, pem))
    }

    /// The signature of `data`, the header hash input: RSASSA-PKCS1-v1_5
    /// over SHA-256 of it, or Ed25519 over its SHA-256 (RFC 8463 §3).
    pub(crate) fn sign(&self, data: &[u8]) -> Result<Vec<u8>, KeyError> {
        match &self.inner {
            Inner::Rsa(pair) => {
                let rng = aws_lc_rs::rand::SystemRandom::new();
                let mut signature = vec![0u8; pair.public_modulus_len()];
                pair.sign(
                    &aws_lc_rs::signature::RSA_PKCS1_SHA256,
                    &rng,
                    data,
                    &mut signature,
                )
                .map_err(|e| KeyError::Rsa(e.to_string()))?;
                Ok(signature)
            }
            Inner::Ed25519(pair) => {
                let hash = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data);
                Ok(pair.sign(hash.as_ref()).as_ref().to_vec())
            }
        }
    }
}

/// AWS-LC's refusal of an RSA key, in words.
fn rsa_refused(e: aws_lc_rs::error::KeyRejected) -> KeyError {
    match e.to_string().as_str() {
        "WrongAlgorithm" => KeyError::Unreadable,
        "TooSmall" => KeyError::Rsa("it is smaller than 2048 bits".to_owned()),
        "TooLarge" => KeyError::Rsa("it is larger than 4096 bits".to_owned()),
        other => KeyError::Rsa(other.to_owned()),
    }
}

/// The RSA public key (PKCS#1 RSAPublicKey DER, as AWS-LC gives it) wrapped
/// in a SubjectPublicKeyInfo, which DKIM's `p=` holds (RFC 6376 §3.6.1).
fn rsa_spki(pkcs1: &[u8]) -> Vec<u8> {
    // AlgorithmIdentifier: rsaEncryption with NULL parameters.
    const ALGORITHM: &[u8] = &[
        0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
    ];
    let mut bit_string = vec![0u8];
    bit_string.extend_from_slice(pkcs1);
    let mut body = ALGORITHM.to_vec();
    body.extend(der_header(0x03, bit_string.len()));
    body.extend(bit_string);
    let mut out = der_header(0x30, body.len());
    out.extend(body);
    out
}

/// A DER tag and length.
fn der_header(tag: u8, len: usize) -> Vec<u8> {
    let mut out = vec![tag];
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .iter()
            .copied()
            .skip_while(|&b| b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out
}
