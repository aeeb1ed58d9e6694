//! The key record a signer publishes in DNS (RFC 6376 §3.6.1), read for one
//! signature's algorithm: `v=DKIM1; k=rsa; p=BASE64` and its other tags.

use super::tags;
use super::Failure;
use crate::dkim::Algorithm;

/// A public key fit for one signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Key {
    /// The key itself.
    pub(super) public: Public,
    /// `t=y`: the domain is testing DKIM.
    pub(super) testing: bool,
    /// `t=s`: `i=` must be in `d=` itself, not a subdomain.
    pub(super) strict: bool,
}

/// The key material.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Public {
    /// An RSA key: modulus and exponent (big-endian, no leading zeros), and
    /// the modulus's size in bits.
    Rsa { n: Vec<u8>, e: Vec<u8>, bits: usize },
    /// An Ed25519 key's 32 bytes (RFC 8463 §4).
    Ed25519(Vec<u8>),
}

/// Reads the record `text`, found at `name`, for a signature made with
/// `algorithm`.
pub(super) fn parse(name: &str, text: &str, algorithm: Algorithm) -> Result<Key, Failure> {
    let bad = |reason: String| Failure::BadKey {
        name: name.to_owned(),
        reason,
    };
    let list = tags::parse(text.as_bytes()).map_err(&bad)?;
    if let Some(v) = tags::find(&list, "v") {
        if list[0].name != "v" {
            return Err(bad("v= is not its first tag".to_owned()));
        }
        if v.value != b"DKIM1" {
            return Err(bad(format!("v={} is not DKIM1", v.text())));
        }
    }
    if let Some(h) = tags::find(&list, "h") {
        let hashes = h.compact();
        if !hashes.split(':').any(|x| x == "sha256") {
            return Err(bad(format!("h={hashes} does not allow sha256")));
        }
    }
    if let Some(s) = tags::find(&list, "s") {
        let services = s.compact();
        if !services.split(':').any(|x| x == "*" || x == "email") {
            return Err(bad(format!("s={services} is not for email")));
        }
    }
    let flags = tags::find(&list, "t")
        .map(|t| t.compact())
        .unwrap_or_default();
    let flag = |f: &str| flags.split(':').any(|x| x == f);
    let kind = tags::find(&list, "k").map_or_else(|| "rsa".to_owned(), |k| k.text());
    if kind != algorithm.key_type() {
        return Err(bad(format!(
            "k={kind}, but the signature is {}",
            algorithm.as_str()
        )));
    }
    let p = tags::find(&list, "p")
        .ok_or_else(|| bad("it has no p= (the key)".to_owned()))?
        .compact();
    if p.is_empty() {
        return Err(Failure::Revoked(name.to_owned()));
    }
    let der = encodify::base64::STANDARD
        .decode(&p)
        .map_err(|_| bad("p= is not base64".to_owned()))?;
    let public = match algorithm {
        Algorithm::Ed25519Sha256 => {
            if der.len() != 32 {
                return Err(bad(format!(
                    "p= holds {} bytes, and an Ed25519 key is 32",
                    der.len()
                )));
            }
            Public::Ed25519(der)
        }
        Algorithm::RsaSha256 => {
            let (n, e) = rsa_public_key(&der).map_err(|reason| bad(reason.to_owned()))?;
            let bits = bit_length(&n);
            if bits < 1024 {
                return Err(Failure::KeyTooSmall(bits));
            }
            if bits > 8192 {
                return Err(bad(format!(
                    "its RSA key has {bits} bits: this verifier checks up to 8192"
                )));
            }
            Public::Rsa { n, e, bits }
        }
    };
    Ok(Key {
        public,
        testing: flag("y"),
        strict: flag("s"),
    })
}

/// The number of bits of a big-endian number without leading zeros.
fn bit_length(n: &[u8]) -> usize {
    n.first()
        .map_or(0, |&top| n.len() * 8 - top.leading_zeros() as usize)
}

/// DER `rsaEncryption` (1.2.840.113549.1.1.1).
const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

/// The modulus and exponent of an RSA public key, from the
/// SubjectPublicKeyInfo DKIM records hold (what `openssl rsa -pubout`
/// writes), or from a bare PKCS#1 RSAPublicKey, which RFC 6376's text
/// names and some records hold.
fn rsa_public_key(der: &[u8]) -> Result<(Vec<u8>, Vec<u8>), &'static str> {
    const NOT_RSA: &str = "p= is not an RSA public key in DER";
    let (outer, rest) = element(der, 0x30).ok_or(NOT_RSA)?;
    if !rest.is_empty() {
        return Err(NOT_RSA);
    }
    let pkcs1 = if outer.first() == Some(&0x30) {
        // SubjectPublicKeyInfo: an AlgorithmIdentifier, then a BIT STRING.
        let (algorithm, rest) = element(outer, 0x30).ok_or(NOT_RSA)?;
        let (oid, _parameters) = element(algorithm, 0x06).ok_or(NOT_RSA)?;
        if oid != RSA_ENCRYPTION {
            return Err("p= holds a key of another kind than RSA");
        }
        let (bits, rest) = element(rest, 0x03).ok_or(NOT_RSA)?;
        if !rest.is_empty() {
            return Err(NOT_RSA);
        }
        // No unused bits: a DER key fills whole bytes.
        let inner = bits.strip_prefix(&[0]).ok_or(NOT_RSA)?;
        let (pkcs1, rest) = element(inner, 0x30).ok_or(NOT_RSA)?;
        if !rest.is_empty() {
            return Err(NOT_RSA);
        }
        pkcs1
    } else {
        outer
    };
    let (n, rest) = element(pkcs1, 0x02).ok_or(NOT_RSA)?;
    let (e, rest) = element(rest, 0x02).ok_or(NOT_RSA)?;
    if !rest.is_empty() {
        return Err(NOT_RSA);
    }
    let unsigned = |int: &[u8]| {
        let start = int.iter().position(|&b| b != 0).unwrap_or(int.len());
        int[start..].to_vec()
    };
    Ok((unsigned(n), unsigned(e)))
}

/// The content of the DER element at the start of `input` if its tag is
/// `tag`, and what follows it. Definite lengths only, as DER has them.
fn element(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&first, rest) = input.split_first()?;
    if first != tag {
        return None;
    }
    let (&len, rest) = rest.split_first()?;
    let (len, rest) = if len < 0x80 {
        (usize::from(len), rest)
    } else {
        let count = usize::from(len & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let (bytes, rest) = rest.split_at(count);
        let len = bytes
            .iter()
            .fold(0usize, |acc, &b| acc << 8 | usize::from(b));
        (len, rest)
    };
    (rest.len() >= len).then(|| rest.split_at(len))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    const RFC8463_RSA: &str = "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB";

    fn reason(result: Result<Key, Failure>) -> String {
        result.unwrap_err().to_string()
    }

    #[test]
    fn an_rsa_subject_public_key_info_is_read_to_its_modulus() {
        let key = parse("test._domainkey.x", RFC8463_RSA, Algorithm::RsaSha256).unwrap();
        let Public::Rsa { n, e, bits } = key.public else {
            panic!("not RSA")
        };
        assert_eq!(bits, 1024);
        assert_eq!(n.len(), 128);
        assert_eq!(n[0], 0xe4);
        assert_eq!(e, [1, 0, 1]);
        assert!(!key.testing && !key.strict);
    }

    #[test]
    fn a_bare_rsa_public_key_is_read_too() {
        // The RSAPublicKey inside the SPKI above, on its own.
        let spki = encodify::base64::STANDARD
            .decode(RFC8463_RSA.split_once("p=").unwrap().1)
            .unwrap();
        let bare = &spki[22..];
        assert_eq!(bare[0], 0x30);
        let (n, e) = rsa_public_key(bare).unwrap();
        assert_eq!((n.len(), e.as_slice()), (128, [1u8, 0, 1].as_slice()));
        assert!(rsa_public_key(&spki[..spki.len() - 1]).is_err());
        assert!(rsa_public_key(b"\x30\x00").is_err());
    }

    #[test]
    fn records_that_do_not_fit_the_signature_are_refused_with_the_reason() {
        let ed = Algorithm::Ed25519Sha256;
        let rsa = Algorithm::RsaSha256;
        let good_ed = "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
        assert!(parse("n", good_ed, ed).is_ok());
        assert!(
            reason(parse("n", good_ed, rsa)).contains("k=ed25519, but the signature is rsa-sha256")
        );
        assert!(reason(parse("n", RFC8463_RSA, ed)).contains("k=rsa"));
        assert!(matches!(
            parse("n", "v=DKIM1; k=ed25519; p=", ed),
            Err(Failure::Revoked(_))
        ));
        assert!(reason(parse("n", "v=DKIM2; k=ed25519; p=AAAA", ed)).contains("not DKIM1"));
        assert!(reason(parse("n", "k=ed25519; v=DKIM1; p=AAAA", ed)).contains("first tag"));
        assert!(reason(parse("n", "k=ed25519; p=AAAA", ed)).contains("3 bytes"));
        assert!(reason(parse("n", "k=ed25519; p=!!", ed)).contains("not base64"));
        assert!(reason(parse("n", "k=ed25519", ed)).contains("no p="));
        assert!(reason(parse("n", &format!("{good_ed}; h=sha1"), ed)).contains("sha256"));
        assert!(reason(parse("n", &format!("{good_ed}; s=tlsrpt"), ed)).contains("not for email"));
        assert!(reason(parse("n", "v=DKIM1; p=MAA=", rsa)).contains("not an RSA public key"));
        // The flags.
        let key = parse("n", &format!("{good_ed}; t=y:s; s=email; h=sha256"), ed).unwrap();
        assert!(key.testing && key.strict);
    }

    #[test]
    fn rsa_keys_under_1024_bits_are_refused() {
        // A 512-bit modulus with its top bit set, as a bare RSAPublicKey.
        let mut n = vec![0x00, 0xc0];
        n.extend([0x11; 63]);
        let mut pkcs1 = vec![0x30, 0x48, 0x02, 0x41];
        pkcs1.extend(&n);
        pkcs1.extend([0x02, 0x03, 0x01, 0x00, 0x01]);
        let record = format!("p={}", encodify::base64::STANDARD.encode(&pkcs1));
        assert_eq!(
            parse("n", &record, Algorithm::RsaSha256),
            Err(Failure::KeyTooSmall(512))
        );
    }
}
