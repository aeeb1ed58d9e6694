#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, UNIX_EPOCH};

use super::*;
use crate::dkim::{Signer, SigningKey};

/// RFC 8463 Appendix A: the message with its two signatures, and the two
/// key records (the RSA one is 1024 bits).
const RFC8463: &str = include_str!("../testdata/rfc8463.eml");
const RFC8463_RSA: &str = "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB";
const RFC8463_ED25519: &str = "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";

/// A lookup answering from a table of `(name, record)`.
fn table(records: &[(&str, &str)]) -> impl Fn(&str) -> Result<Option<String>, String> {
    let records: Vec<(String, String)> = records
        .iter()
        .map(|(n, r)| ((*n).to_owned(), (*r).to_owned()))
        .collect();
    move |name: &str| {
        Ok(records
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, r)| r.clone()))
    }
}

fn rfc8463_keys() -> impl Fn(&str) -> Result<Option<String>, String> {
    table(&[
        ("brisbane._domainkey.football.example.com", RFC8463_ED25519),
        ("test._domainkey.football.example.com", RFC8463_RSA),
    ])
}

fn fail_reason(v: &Verification) -> &Failure {
    match &v.verdict {
        Verdict::Fail(f) => f,
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[test]
fn both_signatures_of_the_rfc_8463_example_pass() {
    let results = verify(RFC8463.as_bytes(), rfc8463_keys());
    assert_eq!(results.len(), 2);
    let (ed, rsa) = (&results[0], &results[1]);
    assert_eq!(ed.verdict, Verdict::Pass, "{ed:?}");
    assert_eq!(
        (
            ed.domain.as_str(),
            ed.selector.as_str(),
            ed.algorithm.as_str()
        ),
        ("football.example.com", "brisbane", "ed25519-sha256")
    );
    assert_eq!(ed.identity.as_deref(), Some("@football.example.com"));
    assert_eq!(ed.signed_at, Some(1_528_637_909));
    assert!(ed.warnings.is_empty());
    // The RSA key has 1024 bits: accepted (RFC 8301), with a warning.
    assert_eq!(rsa.verdict, Verdict::Pass, "{rsa:?}");
    assert_eq!(rsa.key_bits, Some(1024));
    assert_eq!(rsa.warnings, [Warning::WeakKey { bits: 1024 }]);
    // The same with LF line ends, as a Unix mail store keeps it.
    let lf = RFC8463.replace("\r\n", "\n");
    assert!(verify(lf.as_bytes(), rfc8463_keys())
        .iter()
        .all(Verification::passed));
}

#[test]
fn the_rfc_8463_example_changed_fails_each_signature_with_the_reason() {
    let changed = RFC8463.replace("Is dinner ready?", "Is lunch ready?");
    for v in verify(changed.as_bytes(), rfc8463_keys()) {
        assert_eq!(fail_reason(&v), &Failure::Signature);
    }
    let changed = RFC8463.replace("We lost", "We won");
    for v in verify(changed.as_bytes(), rfc8463_keys()) {
        assert_eq!(fail_reason(&v), &Failure::BodyHash);
    }
    // Two keys swapped: each signature checked against the other's key.
    let swapped = table(&[
        ("brisbane._domainkey.football.example.com", RFC8463_RSA),
        ("test._domainkey.football.example.com", RFC8463_ED25519),
    ]);
    for v in verify(RFC8463.as_bytes(), swapped) {
        assert!(
            matches!(fail_reason(&v), Failure::BadKey { reason, .. } if reason.starts_with("k=")),
            "{v:?}"
        );
    }
}

const MESSAGE: &[u8] = b"From: Ann <ann@example.org>\r\nTo: bob@example.net\r\nSubject: the  report\r\n\tfor May\r\nDate: Sat, 05 Dec 2026 10:00:00 +0000\r\nMessage-ID: <1@example.org>\r\nMIME-Version: 1.0\r\n\r\nHello,  Bob.\r\n\r\nSee you.\r\n\r\n\r\n";

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_796_000_000)
}

/// The keys postie signs with in these tests, and their records.
fn keys() -> Vec<(SigningKey, String)> {
    let rsa = SigningKey::from_bytes(include_bytes!("../testdata/rsa2048.pem")).unwrap();
    let ed = SigningKey::from_bytes(include_bytes!("../testdata/ed25519.pem")).unwrap();
    [rsa, ed]
        .into_iter()
        .map(|k| {
            let record = k.dns_record();
            (k, record)
        })
        .collect()
}

/// `message` with `signer`'s DKIM-Signature on top.
fn signed(signer: &Signer, message: &[u8]) -> Vec<u8> {
    let value = signer.sign_bytes(message, now()).unwrap();
    [format!("DKIM-Signature:{value}\r\n").as_bytes(), message].concat()
}

const CANONS: [(Canonicalization, Canonicalization); 4] = [
    (Canonicalization::Relaxed, Canonicalization::Relaxed),
    (Canonicalization::Simple, Canonicalization::Simple),
    (Canonicalization::Relaxed, Canonicalization::Simple),
    (Canonicalization::Simple, Canonicalization::Relaxed),
];

#[test]
fn postie_signatures_pass_in_every_canonicalization_and_changes_fail() {
    for (key, record) in keys() {
        let algorithm = key.algorithm();
        let lookup = table(&[("sel._domainkey.example.org", &record)]);
        let signer = Signer::new(key, "example.org", "sel").unwrap();
        for (hc, bc) in CANONS {
            let signer = signer.clone().canonicalization(hc, bc);
            let message = signed(&signer, MESSAGE);
            let results = verify_at(&message, &lookup, now());
            assert_eq!(results.len(), 1);
            let v = &results[0];
            assert_eq!(v.verdict, Verdict::Pass, "{hc:?}/{bc:?}: {v:?}");
            assert!(v.warnings.is_empty(), "{v:?}");
            assert_eq!(v.algorithm, algorithm.as_str());
            assert_eq!(
                (v.domain.as_str(), v.selector.as_str()),
                ("example.org", "sel")
            );
            let check = |message: &[u8]| verify_at(message, &lookup, now()).remove(0);
            // A signed header field changed.
            let text = String::from_utf8(message.clone()).unwrap();
            let subject = text.replace("the  report", "the report!");
            assert_eq!(fail_reason(&check(subject.as_bytes())), &Failure::Signature);
            // A body byte changed.
            let body = text.replace("See you.", "See you!");
            assert_eq!(fail_reason(&check(body.as_bytes())), &Failure::BodyHash);
            // A second From, added anywhere: From is over-signed.
            let top = format!("From: mallory@example.com\r\n{text}");
            assert_eq!(fail_reason(&check(top.as_bytes())), &Failure::Signature);
            let bottom = text.replace("MIME-Version", "From: mallory@example.com\r\nMIME-Version");
            assert_eq!(fail_reason(&check(bottom.as_bytes())), &Failure::Signature);
            // An unsigned field added: still passes.
            let received = format!("Received: from x by y\r\n{text}");
            assert!(check(received.as_bytes()).passed());
        }
    }
}

#[test]
fn two_signatures_on_one_message_are_checked_apart() {
    let keys = keys();
    let lookup = table(&[
        ("rsa._domainkey.example.org", &keys[0].1),
        ("ed._domainkey.example.org", &keys[1].1),
    ]);
    let mut keys = keys.into_iter();
    let rsa = Signer::new(keys.next().unwrap().0, "example.org", "rsa").unwrap();
    let ed = Signer::new(keys.next().unwrap().0, "example.org", "ed").unwrap();
    let message = signed(&ed, &signed(&rsa, MESSAGE));
    let results = verify_at(&message, &lookup, now());
    let verdicts: Vec<(&str, &Verdict)> = results
        .iter()
        .map(|v| (v.algorithm.as_str(), &v.verdict))
        .collect();
    assert_eq!(
        verdicts,
        [
            ("ed25519-sha256", &Verdict::Pass),
            ("rsa-sha256", &Verdict::Pass)
        ]
    );
    // One key withdrawn: only its signature fails.
    let revoked = table(&[
        ("rsa._domainkey.example.org", "v=DKIM1; k=rsa; p="),
        ("ed._domainkey.example.org", &keys_ed_record()),
    ]);
    let results = verify_at(&message, &revoked, now());
    assert!(results[0].passed());
    assert_eq!(
        fail_reason(&results[1]),
        &Failure::Revoked("rsa._domainkey.example.org".to_owned())
    );
    assert!(fail_reason(&results[1]).to_string().contains("revoked"));
}

fn keys_ed_record() -> String {
    keys().remove(1).1
}

#[test]
fn a_missing_key_fails_and_a_failed_lookup_is_temporary() {
    let (key, _) = keys().remove(1);
    let message = signed(&Signer::new(key, "example.org", "sel").unwrap(), MESSAGE);
    let v = verify_at(&message, table(&[]), now()).remove(0);
    assert_eq!(
        fail_reason(&v),
        &Failure::NoKey("sel._domainkey.example.org".to_owned())
    );
    let v = verify_at(&message, |_: &str| Err("SERVFAIL".to_owned()), now()).remove(0);
    assert_eq!(
        v.verdict,
        Verdict::TempError("looking up sel._domainkey.example.org: SERVFAIL".to_owned())
    );
    // Another key at the name: the signature does not match it.
    let other = SigningKey::ed25519_from_seed(&[3u8; 32])
        .unwrap()
        .dns_record();
    let v = verify_at(
        &message,
        table(&[("sel._domainkey.example.org", &other)]),
        now(),
    )
    .remove(0);
    assert_eq!(fail_reason(&v), &Failure::Signature);
}

#[test]
fn an_expired_signature_fails_with_the_time() {
    let (key, record) = keys().remove(1);
    let signer = Signer::new(key, "example.org", "sel")
        .unwrap()
        .expires_after(Duration::from_secs(3600));
    let message = signed(&signer, MESSAGE);
    let lookup = table(&[("sel._domainkey.example.org", &record)]);
    let v = verify_at(&message, &lookup, now() + Duration::from_secs(3599)).remove(0);
    assert!(v.passed(), "{v:?}");
    assert_eq!(v.expires, Some(1_796_003_600));
    let v = verify_at(&message, &lookup, now() + Duration::from_secs(3601)).remove(0);
    assert_eq!(
        fail_reason(&v),
        &Failure::Expired {
            expires: 1_796_003_600,
            now: 1_796_003_601
        }
    );
    let text = fail_reason(&v).to_string();
    assert!(
        text.contains("expired at 2026-11-30 ") && text.contains("x=1796003600"),
        "{text}"
    );
}

/// A signature made by hand from `tags` (all but `b=`, which comes last):
/// for the tags postie's signer never writes (`l=`, `i=`, `a=rsa-sha1`).
fn hand_signed(key: &SigningKey, message: &[u8], tags: &str) -> Vec<u8> {
    hand_signed_with(key, message, tags, Canonicalization::Relaxed)
}

/// The same with the header canonicalized by `canon`.
fn hand_signed_with(
    key: &SigningKey,
    message: &[u8],
    tags: &str,
    canon: Canonicalization,
) -> Vec<u8> {
    let end = memchr::memmem::find(message, b"\r\n\r\n").map_or(message.len(), |at| at + 2);
    let fields = canon::fields(&message[..end]);
    // Read by hand: some of these lists are broken on purpose.
    let names: Vec<String> = tags
        .split(';')
        .find_map(|t| t.trim().strip_prefix("h="))
        .unwrap()
        .split(':')
        .map(str::to_owned)
        .collect();
    let mut data = canon::selected(&fields, &names, canon);
    let field = format!("DKIM-Signature: {tags} b=\r\n");
    canon::header(field.as_bytes(), canon, &mut data);
    data.truncate(data.len() - 2);
    let b = encodify::base64::STANDARD.encode(key.sign(&data).unwrap());
    [
        format!("DKIM-Signature: {tags} b={b}\r\n").as_bytes(),
        message,
    ]
    .concat()
}

fn body_hash(body: &[u8], limit: Option<u64>) -> String {
    let mut hasher = BodyHasher::with_limit(Canonicalization::Relaxed, limit);
    hasher.update(body);
    encodify::base64::STANDARD.encode(hasher.finish())
}

#[test]
fn l_is_honoured_and_reported_and_one_longer_than_the_body_fails() {
    let key = SigningKey::ed25519_from_seed(&[5u8; 32]).unwrap();
    let lookup = table(&[("s._domainkey.example.org", &key.dns_record())]);
    let message = b"From: a@example.org\r\nSubject: x\r\n\r\nline one\r\nline two\r\n";
    let body = b"line one\r\nline two\r\n";
    let tags = |l: u64| {
        format!(
            "v=1; a=ed25519-sha256; c=relaxed/relaxed; d=example.org; s=s; l={l}; h=from:subject; bh={};",
            body_hash(body, Some(l))
        )
    };
    // Whole body: no warning.
    let whole = hand_signed(&key, message, &tags(20));
    let v = verify_at(&whole, &lookup, now()).remove(0);
    assert!(v.passed() && v.warnings.is_empty(), "{v:?}");
    assert_eq!(v.body_length, Some(20));
    // The first line only; something appended after signing still passes,
    // with the warning saying how much is unsigned.
    let part = hand_signed(&key, message, &tags(10));
    let appended = [part.as_slice(), b"click here\r\n"].concat();
    let v = verify_at(&appended, &lookup, now()).remove(0);
    assert!(v.passed(), "{v:?}");
    assert_eq!(
        v.warnings,
        [Warning::PartialBody {
            signed: 10,
            total: 32
        }]
    );
    assert!(v.warnings[0]
        .to_string()
        .contains("first 10 of the body's 32 bytes"));
    // Within the signed part, a change still fails.
    let changed = String::from_utf8(part.clone())
        .unwrap()
        .replace("line one", "line 1!!");
    let v = verify_at(changed.as_bytes(), &lookup, now()).remove(0);
    assert_eq!(fail_reason(&v), &Failure::BodyHash);
    // l= longer than the body.
    let long = hand_signed(&key, message, &tags(21));
    let v = verify_at(&long, &lookup, now()).remove(0);
    assert_eq!(
        fail_reason(&v),
        &Failure::BodyLength {
            length: 21,
            actual: 20
        }
    );
}

#[test]
fn identities_outside_the_domain_and_strict_keys() {
    let key = SigningKey::ed25519_from_seed(&[6u8; 32]).unwrap();
    let record = key.dns_record();
    let message = b"From: a@mail.example.org\r\n\r\nhi\r\n";
    let bh = body_hash(b"hi\r\n", None);
    let sign = |i: &str| {
        hand_signed(
            &key,
            message,
            &format!("v=1; a=ed25519-sha256; c=relaxed/relaxed; d=Example.org; s=s; i={i}; h=from; bh={bh};"),
        )
    };
    let lookup = table(&[("s._domainkey.example.org", &record)]);
    let check = |m: &[u8], lookup: &dyn Fn(&str) -> Result<Option<String>, String>| {
        verify_at(m, lookup, now()).remove(0)
    };
    assert!(check(&sign("a@example.org"), &lookup).passed());
    assert!(check(&sign("a@mail.EXAMPLE.org"), &lookup).passed());
    assert!(matches!(
        fail_reason(&check(&sign("a@example.net"), &lookup)),
        Failure::Identity { .. }
    ));
    assert!(matches!(
        fail_reason(&check(&sign("a@badexample.org"), &lookup)),
        Failure::Identity { .. }
    ));
    let strict = table(&[("s._domainkey.example.org", &format!("{record}; t=s"))]);
    assert!(check(&sign("@example.org"), &strict).passed());
    assert!(matches!(
        fail_reason(&check(&sign("@mail.example.org"), &strict)),
        Failure::StrictIdentity { .. }
    ));
    let testing = table(&[("s._domainkey.example.org", &format!("{record}; t=y"))]);
    assert_eq!(
        check(&sign("@example.org"), &testing).warnings,
        [Warning::Testing]
    );
}

#[test]
fn bad_tags_fail_before_any_key_is_fetched() {
    let key = SigningKey::ed25519_from_seed(&[6u8; 32]).unwrap();
    let message = b"From: a@example.org\r\nTo: b@example.net\r\n\r\nhi\r\n";
    let bh = body_hash(b"hi\r\n", None);
    let no_lookup = |name: &str| -> Result<Option<String>, String> {
        panic!("{name} looked up for a signature that cannot pass")
    };
    let reason = |tags: String| {
        let message = hand_signed(&key, message, &tags);
        let v = verify_at(&message, no_lookup, now()).remove(0);
        fail_reason(&v).clone()
    };
    let base = "a=ed25519-sha256; c=relaxed/relaxed; d=example.org; s=s";
    assert_eq!(
        reason(format!(
            "v=1; a=rsa-sha1; d=example.org; s=s; h=from; bh={bh};"
        )),
        Failure::Sha1
    );
    assert!(reason(format!(
        "v=1; a=rsa-sha1; d=example.org; s=s; h=from; bh={bh};"
    ))
    .to_string()
    .contains("too weak"));
    assert_eq!(
        reason(format!("v=1; {base}; h=to; bh={bh};")),
        Failure::FromNotSigned
    );
    assert_eq!(
        reason(format!("v=2; {base}; h=from; bh={bh};")),
        Failure::Version("2".to_owned())
    );
    assert_eq!(
        reason(format!(
            "v=1; a=hmac-sha256; d=example.org; s=s; h=from; bh={bh};"
        )),
        Failure::UnknownAlgorithm("hmac-sha256".to_owned())
    );
    assert!(matches!(
        reason(format!("v=1; {base}; h=from;")),
        Failure::Malformed(m) if m.contains("no bh=")
    ));
    assert!(matches!(
        reason(format!("v=1; {base}; h=from; d=example.com; bh={bh};")),
        Failure::Malformed(m) if m.contains("twice")
    ));
    assert!(matches!(
        reason(format!("v=1; {base}; h=from; t=soon; bh={bh};")),
        Failure::Malformed(m) if m.contains("t=soon is not a number")
    ));
    assert!(matches!(
        reason(format!("v=1; {base}; h=from; t=100; x=50; bh={bh};")),
        Failure::Malformed(m) if m.contains("before t=")
    ));
    assert!(matches!(
        reason(format!("v=1; {base}; h=from; q=dns/xyz; bh={bh};")),
        Failure::QueryMethod(_)
    ));
    assert!(matches!(
        reason(format!("v=1; a=ed25519-sha256; c=loose; d=example.org; s=s; h=from; bh={bh};")),
        Failure::Malformed(m) if m.contains("loose")
    ));
}

#[test]
fn a_message_without_signature_gives_no_results() {
    assert!(verify(MESSAGE, table(&[])).is_empty());
    assert!(verify(b"", table(&[])).is_empty());
    // A header only, no body.
    assert!(verify(b"From: a@example.org", table(&[])).is_empty());
}

#[test]
fn a_message_without_body_and_simple_c_by_default() {
    let key = SigningKey::ed25519_from_seed(&[8u8; 32]).unwrap();
    let lookup = table(&[("s._domainkey.example.org", &key.dns_record())]);
    let message = b"From: a@example.org\r\nSubject:  no   body\r\n";
    // postie's signer, simple/simple.
    let signer = Signer::new(key, "example.org", "s")
        .unwrap()
        .canonicalization(Canonicalization::Simple, Canonicalization::Simple);
    let v = verify_at(&signed(&signer, message), &lookup, now()).remove(0);
    assert!(v.passed(), "{v:?}");
    // Without c=, both are simple: a signature made so passes, one made
    // with the header relaxed does not.
    let key = SigningKey::ed25519_from_seed(&[8u8; 32]).unwrap();
    let mut empty = BodyHasher::new(Canonicalization::Simple);
    empty.update(b"");
    let bh = encodify::base64::STANDARD.encode(empty.finish());
    let tags = format!("v=1; a=ed25519-sha256; d=example.org; s=s; h=from:subject; bh={bh};");
    let simple = hand_signed_with(&key, message, &tags, Canonicalization::Simple);
    assert!(verify_at(&simple, &lookup, now())[0].passed());
    let relaxed = hand_signed_with(&key, message, &tags, Canonicalization::Relaxed);
    assert_eq!(
        fail_reason(&verify_at(&relaxed, &lookup, now())[0]),
        &Failure::Signature
    );
}

mod random {
    //! Random messages, signed by postie and checked by this verifier.
    use super::*;
    use proptest::prelude::*;

    /// A header field value: printable ASCII, spaces and tabs, some 8-bit
    /// (UTF-8) text, sometimes folded.
    fn value() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop_oneof![
                8 => "[ -~]{0,30}",
                2 => "[ \t]{1,4}",
                1 => "[éü€日本]{1,5}",
                1 => Just("\r\n\t".to_owned()),
                1 => Just("\r\n ".to_owned()),
            ],
            0..6,
        )
        .prop_map(|parts| parts.concat())
    }

    /// A body line: any byte but CR and LF, runs of white space, 8-bit
    /// bytes, sometimes long.
    fn line() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            4 => prop::collection::vec(any::<u8>().prop_filter("no CR or LF", |b| *b != b'\r' && *b != b'\n'), 0..80),
            2 => Just(Vec::new()),
            2 => "[ \t]{1,6}".prop_map(String::into_bytes),
            1 => prop::collection::vec(prop_oneof![Just(b'x'), Just(b' ')], 900..2000),
        ]
    }

    fn message() -> impl Strategy<Value = Vec<u8>> {
        let names = prop::sample::select(vec![
            "To",
            "Cc",
            "Subject",
            "Date",
            "Message-ID",
            "Reply-To",
            "List-Id",
            "X-Note",
            "Received",
            "subject",
            "content-type",
        ]);
        (
            value(),
            prop::collection::vec((names, value()), 0..8),
            prop::collection::vec(line(), 0..12),
            0..3usize,
        )
            .prop_map(|(from, fields, lines, trailing)| {
                let mut out = format!("From:{from}\r\n").into_bytes();
                for (name, value) in fields {
                    out.extend(format!("{name}:{value}\r\n").into_bytes());
                }
                out.extend_from_slice(b"\r\n");
                for (i, line) in lines.iter().enumerate() {
                    out.extend_from_slice(line);
                    // The last line sometimes lacks its CRLF.
                    if i + 1 < lines.len() || trailing > 0 {
                        out.extend_from_slice(b"\r\n");
                    }
                }
                for _ in 1..trailing {
                    out.extend_from_slice(b"\r\n");
                }
                out
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn every_signed_message_verifies(message in message(), canon in 0..4usize) {
            let (hc, bc) = CANONS[canon];
            let keys = keys();
            let lookup = table(&[
                ("rsa._domainkey.example.org", &keys[0].1),
                ("ed._domainkey.example.org", &keys[1].1),
            ]);
            let mut signed_message = message.clone();
            for ((key, _), selector) in keys.into_iter().zip(["rsa", "ed"]) {
                let signer = Signer::new(key, "example.org", selector)
                    .unwrap()
                    .canonicalization(hc, bc);
                let value = signer.sign_bytes(&message, now()).unwrap();
                signed_message = [format!("DKIM-Signature:{value}\r\n").as_bytes(), &signed_message].concat();
            }
            let results = verify_at(&signed_message, &lookup, now());
            prop_assert_eq!(results.len(), 2);
            for v in &results {
                prop_assert_eq!(&v.verdict, &Verdict::Pass, "{:?}", String::from_utf8_lossy(&signed_message));
            }
            // A letter added to the body breaks both.
            let changed = [signed_message.as_slice(), b"P.S.\r\n"].concat();
            for v in verify_at(&changed, &lookup, now()) {
                prop_assert_eq!(&v.verdict, &Verdict::Fail(Failure::BodyHash));
            }
        }
    }
}
