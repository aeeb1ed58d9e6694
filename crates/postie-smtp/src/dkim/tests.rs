#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use std::time::UNIX_EPOCH;

fn b64(text: &str) -> Vec<u8> {
    let clean: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    encodify::base64::STANDARD.decode(clean).unwrap()
}

/// RFC 8463 Appendix A: the message, with its two signatures.
const RFC8463: &str = include_str!("testdata/rfc8463.eml");

/// RFC 8463 Appendix A's Ed25519 private key (the seed) and public key.
const RFC8463_SEED: &str = "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=";
const RFC8463_PUBLIC: &str = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";

/// A tag's value in a DKIM-Signature field (white space removed).
fn tag(field: &str, name: &str) -> String {
    let value = field.split_once(':').unwrap().1;
    value
        .split(';')
        .find_map(|t| {
            let (k, v) = t.split_once('=')?;
            (k.trim() == name).then(|| v.chars().filter(|c| !c.is_whitespace()).collect())
        })
        .unwrap_or_default()
}

/// What a verifier hashes for the signature in `field` over `header`: the
/// fields `h=` names, then the field with its `b=` value removed.
fn signed_data(header: &[u8], field: &str, canon: Canonicalization) -> Vec<u8> {
    let fields = canon::fields(header);
    let names: Vec<String> = tag(field, "h").split(':').map(str::to_owned).collect();
    let mut data = canon::selected(&fields, &names, canon);
    // The b= tag is the last one in these fields: cut its value.
    let at = field.rfind("b=").unwrap();
    let without = format!("{}\r\n", &field[..at + 2]);
    canon::header(without.as_bytes(), canon, &mut data);
    data.truncate(data.len() - 2);
    data
}

#[test]
fn the_rfc_8463_example_is_reproduced_bit_for_bit() {
    let (header, body) = RFC8463.split_once("\r\n\r\n").unwrap();
    // The body hash both signatures carry.
    let mut hasher = canon::BodyHasher::new(Canonicalization::Relaxed);
    hasher.update(body.as_bytes());
    assert_eq!(
        hasher.finish().as_ref(),
        b64("2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=").as_slice()
    );
    let header = format!("{header}\r\n");
    let fields = canon::fields(header.as_bytes());
    let ed_field = std::str::from_utf8(fields[0].raw).unwrap().trim_end();
    let data = signed_data(header.as_bytes(), ed_field, Canonicalization::Relaxed);
    // Ed25519 is deterministic: the same key signs the same data to the
    // same bytes.
    let key = SigningKey::ed25519_from_seed(&b64(RFC8463_SEED)).unwrap();
    assert_eq!(key.public_key_record(), b64(RFC8463_PUBLIC));
    assert_eq!(key.sign(&data).unwrap(), b64(&tag(ed_field, "b")));
}

/// Whether `message`, with the DKIM-Signature `field_value` on top (as
/// the transform puts it), verifies with the key `record` publishes.
fn verify(message: &[u8], field_value: &str, record: &str) -> bool {
    let mut full = format!("DKIM-Signature:{field_value}\r\n").into_bytes();
    full.extend_from_slice(message);
    let results = super::verify(&full, |_| Ok(Some(record.to_owned())));
    !results.is_empty() && results.iter().all(|r| r.verdict == Verdict::Pass)
}

const MESSAGE: &[u8] = b"From: Ann <ann@example.org>\r\nTo: bob@example.net\r\nSubject: the  report\r\n\tfor May\r\nDate: Sat, 05 Dec 2026 10:00:00 +0000\r\nMessage-ID: <1@example.org>\r\nMIME-Version: 1.0\r\nList-Id: <news.example.org>\r\n\r\nHello,  Bob.\r\n\r\nSee you.\r\n\r\n\r\n";

#[test]
fn signatures_verify_for_each_algorithm_and_canonicalization() {
    let now = UNIX_EPOCH + Duration::from_secs(1_796_000_000);
    let keys = [
        SigningKey::from_bytes(include_bytes!("testdata/rsa2048.pem")).unwrap(),
        SigningKey::from_bytes(include_bytes!("testdata/ed25519.pem")).unwrap(),
    ];
    use Canonicalization::{Relaxed, Simple};
    for key in keys {
        let public = key.dns_record();
        let signer = Signer::new(key, "example.org", "sel").unwrap();
        for (hc, bc) in [
            (Relaxed, Relaxed),
            (Simple, Simple),
            (Relaxed, Simple),
            (Simple, Relaxed),
        ] {
            let signer = signer.clone().canonicalization(hc, bc);
            let value = signer.sign_bytes(MESSAGE, now).unwrap();
            assert!(verify(MESSAGE, &value, &public), "{value}");
            // From is over-signed, List-Id signed, the time given.
            let h = tag(&format!("x:{value}"), "h");
            assert_eq!(
                h, "from:to:subject:date:message-id:mime-version:list-id:from",
                "{value}"
            );
            assert_eq!(tag(&format!("x:{value}"), "t"), "1796000000");
            // Every line of the field fits.
            assert!(value.split("\r\n").all(|l| l.len() < 80), "{value}");
            // Changed after signing: fails.
            let body_changed = [&MESSAGE[..MESSAGE.len() - 8], b"See me.\r\n"].concat();
            assert!(!verify(&body_changed, &value, &public));
            let second_from = [b"From: mallory@example.com\r\n".as_slice(), MESSAGE].concat();
            assert!(!verify(&second_from, &value, &public));
        }
    }
}

#[test]
fn keys_are_read_from_pem_and_der_and_small_or_other_keys_refused() {
    assert_eq!(
        SigningKey::from_bytes(include_bytes!("testdata/rsa2048-pkcs1.pem"))
            .unwrap()
            .algorithm(),
        Algorithm::RsaSha256
    );
    assert_eq!(
        SigningKey::from_bytes(include_bytes!("testdata/ed25519.der"))
            .unwrap()
            .algorithm(),
        Algorithm::Ed25519Sha256
    );
    let small = SigningKey::from_bytes(include_bytes!("testdata/rsa1024.pem")).unwrap_err();
    assert!(
        small.to_string().contains("smaller than 2048 bits"),
        "{small}"
    );
    // AWS-LC would sign with it; RFC 8301's verifiers need not accept it.
    let large = SigningKey::from_bytes(include_bytes!("testdata/rsa6144.pem")).unwrap_err();
    assert!(
        large.to_string().contains("6144 bits") && large.to_string().contains("2048 to 4096"),
        "{large}"
    );
    let other = SigningKey::from_bytes(include_bytes!("testdata/p256.pem")).unwrap_err();
    assert!(
        other.to_string().contains("RSA") && other.to_string().contains("Ed25519"),
        "{other}"
    );
    assert!(SigningKey::from_bytes(b"not a key").is_err());
}

#[test]
fn the_public_key_record_of_rsa_is_a_subject_public_key_info() {
    // openssl's own SPKI for the same key, as `openssl pkey -pubout` gives.
    let key = SigningKey::from_bytes(include_bytes!("testdata/rsa2048.pem")).unwrap();
    let spki = key.public_key_record();
    assert_eq!(spki[0], 0x30);
    // rsaEncryption's OID inside.
    assert!(memchr::memmem::find(
        &spki,
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01]
    )
    .is_some());
}

#[test]
fn a_message_without_from_and_bad_names_are_refused() {
    let key = || SigningKey::ed25519_from_seed(&[1u8; 32]).unwrap();
    let signer = Signer::new(key(), "example.org", "s").unwrap();
    assert!(matches!(
        signer.sign_bytes(b"To: b@x\r\n\r\nbody\r\n", UNIX_EPOCH),
        Err(DkimError::NoFrom)
    ));
    assert!(Signer::new(key(), "exa mple.org", "s").is_err());
    assert!(Signer::new(key(), "example.org", "s;x=1").is_err());
}

#[test]
fn the_body_is_hashed_however_the_chunks_fall() {
    let signer = Signer::new(
        SigningKey::ed25519_from_seed(&[2u8; 32]).unwrap(),
        "example.org",
        "s",
    )
    .unwrap();
    let now = UNIX_EPOCH;
    let whole = signer.sign_bytes(MESSAGE, now).unwrap();
    for size in [1, 2, 3, 7, 64] {
        let mut state = Signing::new(&signer);
        for chunk in MESSAGE.chunks(size) {
            state.update(chunk).unwrap();
        }
        assert_eq!(state.finish(now).unwrap(), whole, "chunks of {size}");
    }
}

#[test]
fn without_a_domain_the_from_addresses_domain_signs() {
    let signer =
        Signer::for_from_domain(SigningKey::ed25519_from_seed(&[3u8; 32]).unwrap(), "s").unwrap();
    let value = signer.sign_bytes(MESSAGE, UNIX_EPOCH).unwrap();
    assert!(value.contains(" d=example.org;"), "{value}");
    let idn = b"From: =?utf-8?q?J=C3=B6rg?= <j@b\xc3\xbccher.example>\r\n\r\nx\r\n";
    let value = signer.sign_bytes(idn, UNIX_EPOCH).unwrap();
    assert!(value.contains(" d=xn--bcher-kva.example;"), "{value}");
    assert!(matches!(
        signer.sign_bytes(b"From: undisclosed:;\r\n\r\nx\r\n", UNIX_EPOCH),
        Err(DkimError::NoDomain(_))
    ));
}

#[test]
fn a_message_without_a_header_is_a_body_however_it_is_cut() {
    let signer = Signer::new(
        SigningKey::ed25519_from_seed(&[4u8; 32]).unwrap(),
        "example.org",
        "s",
    )
    .unwrap();
    let mut whole = Signing::new(&signer);
    whole.update(b"\r\nbody\r\n").unwrap();
    let mut cut = Signing::new(&signer);
    for piece in [&b"\r"[..], b"\nbo", b"dy\r\n"] {
        cut.update(piece).unwrap();
    }
    assert!(whole.header.is_empty() && cut.header.is_empty());
    // Both refuse the same way (no From): nothing was taken for a field.
    assert!(matches!(whole.finish(UNIX_EPOCH), Err(DkimError::NoFrom)));
    assert!(matches!(cut.finish(UNIX_EPOCH), Err(DkimError::NoFrom)));
}
