//! `postie dkim keygen|record|verify`: keys written private and never over
//! another file, the records they print, and verification of messages
//! postie_smtp signs, with the key records from each form of --txt file.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::SystemTime;

use postie_smtp::dkim::{Signer, SigningKey};

/// A fresh directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("postie-dkim-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn postie_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_postie"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Exit code, standard output, standard error.
fn run(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = postie_in(dir, args);
    (
        out.status.code().unwrap_or(-1),
        text(&out.stdout),
        text(&out.stderr),
    )
}

/// The text of a zone-file TXT line: its quoted strings joined.
fn record_text(line: &str) -> String {
    let (_, strings) = line.split_once(" IN TXT ").unwrap();
    strings
        .trim()
        .split("\" \"")
        .map(|s| s.trim_matches('"'))
        .collect()
}

const MESSAGE: &[u8] = b"From: Ann <ann@example.org>\r\nTo: bob@example.net\r\nSubject: the report\r\nDate: Sat, 05 Dec 2026 10:00:00 +0000\r\nMessage-ID: <1@example.org>\r\n\r\nHello Bob,\r\n\r\nthe figures are in.\r\n";

/// `message` with a DKIM-Signature of `key` for `domain` and `selector`.
fn sign(key: SigningKey, domain: &str, selector: &str, message: &[u8]) -> Vec<u8> {
    let signer = Signer::new(key, domain, selector).unwrap();
    let value = signer.sign_bytes(message, SystemTime::now()).unwrap();
    [format!("DKIM-Signature:{value}\r\n").as_bytes(), message].concat()
}

const RSA_PEM: &[u8] = include_bytes!("../../postie-smtp/src/dkim/testdata/rsa2048.pem");

fn private_copy(dir: &Path, name: &str, bytes: &[u8], mode: u32) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}

#[test]
fn keygen_writes_a_private_pkcs8_key_and_prints_its_record() {
    let dir = scratch("keygen");
    let (code, out, err) = run(
        &dir,
        &[
            "dkim",
            "keygen",
            "--domain",
            "Example.org",
            "--selector",
            "mail2026",
            "--out",
            "k.pem",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("wrote the private key to k.pem"), "{err}");
    let path = dir.join("k.pem");
    let meta = std::fs::metadata(&path).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let pem = std::fs::read(&path).unwrap();
    assert!(
        pem.starts_with(b"-----BEGIN PRIVATE KEY-----\n"),
        "{}",
        text(&pem)
    );
    let key = SigningKey::from_bytes(&pem).unwrap();
    assert_eq!(key.algorithm().as_str(), "ed25519-sha256");
    // One line on standard output: the record, whose p= is this key's.
    let line = out.trim_end();
    assert!(!line.contains('\n'), "{out}");
    assert!(
        line.starts_with("mail2026._domainkey.example.org. IN TXT \"v=DKIM1; k=ed25519; p="),
        "{line}"
    );
    // The key in the file is the one the record publishes (and a message
    // signed with it verifies with the record: the round trip below).
    assert_eq!(record_text(line), key.dns_record());

    // Never over an existing file, nor through a link (even a dangling one).
    let before = std::fs::read(&path).unwrap();
    let (code, _, err) = run(
        &dir,
        &[
            "dkim",
            "keygen",
            "--domain",
            "example.org",
            "--selector",
            "s",
            "--out",
            "k.pem",
        ],
    );
    assert_eq!(code, 73, "{err}");
    assert!(
        err.contains("k.pem exists") && err.contains("never overwrites"),
        "{err}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), before);
    std::os::unix::fs::symlink(dir.join("nowhere"), dir.join("link.pem")).unwrap();
    let (code, _, err) = run(
        &dir,
        &[
            "dkim",
            "keygen",
            "--domain",
            "example.org",
            "--selector",
            "s",
            "--out",
            "link.pem",
        ],
    );
    assert_eq!(code, 73, "{err}");
    assert!(!dir.join("nowhere").exists());

    // Without --out: named after the record, in the current directory.
    let (code, _, err) = run(
        &dir,
        &[
            "dkim",
            "keygen",
            "--domain",
            "example.org",
            "--selector",
            "s2",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(dir.join("s2._domainkey.example.org.pem").is_file());

    // A name that is none.
    let (code, _, err) = run(
        &dir,
        &[
            "dkim",
            "keygen",
            "--domain",
            "exa mple.org",
            "--selector",
            "s",
        ],
    );
    assert_eq!(code, 64, "{err}");
    assert!(err.contains("not a DNS name"), "{err}");
}

#[test]
fn keygen_of_rsa_writes_a_2048_bit_key_that_openssl_reads() {
    let dir = scratch("keygen-rsa");
    let (code, out, err) = run(
        &dir,
        &[
            "dkim",
            "keygen",
            "--domain",
            "example.org",
            "--selector",
            "rsa1",
            "--algorithm",
            "rsa2048",
            "--out",
            "my key.pem",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("RSA, 2048 bits"), "{err}");
    let path = dir.join("my key.pem");
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let pem = std::fs::read(&path).unwrap();
    assert!(pem.starts_with(b"-----BEGIN PRIVATE KEY-----\n"));
    let key = SigningKey::from_bytes(&pem).unwrap();
    assert_eq!(key.algorithm().as_str(), "rsa-sha256");
    let line = out.trim_end();
    assert!(
        line.starts_with("rsa1._domainkey.example.org. IN TXT \"v=DKIM1; k=rsa; p=MIIB"),
        "{line}"
    );
    assert_eq!(record_text(line), key.dns_record());
    // Another tool reads the key as the RSA key of 2048 bits it is.
    let openssl = Command::new("openssl")
        .args(["pkey", "-noout", "-text", "-in"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(openssl.status.success(), "{}", text(&openssl.stderr));
    assert!(
        text(&openssl.stdout).contains("Private-Key: (2048 bit"),
        "{}",
        text(&openssl.stdout)
    );
}

#[test]
fn record_prints_an_rsa_keys_record_in_strings_of_255_bytes() {
    let dir = scratch("record");
    let key = private_copy(&dir, "rsa.pem", RSA_PEM, 0o600);
    let (code, out, err) = run(
        &dir,
        &[
            "dkim",
            "record",
            "--key",
            key.to_str().unwrap(),
            "--domain",
            "example.org",
            "--selector",
            "rsa1",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let line = out.trim_end();
    assert!(
        line.starts_with("rsa1._domainkey.example.org. IN TXT \"v=DKIM1; k=rsa; p=MIIB"),
        "{line}"
    );
    let strings: Vec<&str> = line
        .split_once(" IN TXT ")
        .unwrap()
        .1
        .split("\" \"")
        .map(|s| s.trim_matches('"'))
        .collect();
    assert!(strings.len() >= 2, "{line}");
    assert_eq!(strings[0].len(), 255, "{line}");
    assert!(strings.iter().all(|s| s.len() <= 255), "{line}");
    assert_eq!(
        record_text(line),
        SigningKey::from_bytes(RSA_PEM).unwrap().dns_record()
    );

    // A key others can read is refused, as --dkim-key and password files are.
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (code, _, err) = run(
        &dir,
        &[
            "dkim",
            "record",
            "--key",
            "rsa.pem",
            "--domain",
            "example.org",
            "--selector",
            "rsa1",
        ],
    );
    assert_eq!(code, 78, "{err}");
    assert!(err.contains("chmod 600"), "{err}");
    // Something that is no key; a key that is missing.
    private_copy(&dir, "junk.pem", b"not a key", 0o600);
    let (code, _, err) = run(
        &dir,
        &[
            "dkim",
            "record",
            "--key",
            "junk.pem",
            "--domain",
            "example.org",
            "--selector",
            "s",
        ],
    );
    assert_eq!(code, 65, "{err}");
    assert!(err.contains("not a private key"), "{err}");
    let (code, _, err) = run(
        &dir,
        &[
            "dkim",
            "record",
            "--key",
            "none.pem",
            "--domain",
            "example.org",
            "--selector",
            "s",
        ],
    );
    assert_eq!(code, 66, "{err}");
}

#[test]
fn a_key_from_keygen_signs_and_verifies_with_its_printed_record() {
    for (algorithm, signed_as) in [("ed25519", "ed25519-sha256"), ("rsa2048", "rsa-sha256")] {
        let dir = scratch(&format!("roundtrip-{algorithm}"));
        let (code, record, err) = run(
            &dir,
            &[
                "dkim",
                "keygen",
                "--domain",
                "example.org",
                "--selector",
                "sel",
                "--algorithm",
                algorithm,
                "--out",
                "k.pem",
            ],
        );
        assert_eq!(code, 0, "{err}");
        // keygen's output is itself a --txt file.
        std::fs::write(dir.join("keys.txt"), &record).unwrap();
        let key = SigningKey::from_bytes(&std::fs::read(dir.join("k.pem")).unwrap()).unwrap();
        std::fs::write(
            dir.join("signed.eml"),
            sign(key, "example.org", "sel", MESSAGE),
        )
        .unwrap();
        let (code, out, err) = run(&dir, &["dkim", "verify", "signed.eml", "--txt", "keys.txt"]);
        assert_eq!(
            (code, out.as_str()),
            (
                0,
                format!("pass d=example.org s=sel a={signed_as}\n").as_str()
            ),
            "{err}"
        );
    }
}

/// A message signed twice (RSA and Ed25519), its records, and a scratch dir.
fn dual_signed(name: &str) -> (PathBuf, String, String) {
    let dir = scratch(name);
    let rsa = SigningKey::from_bytes(RSA_PEM).unwrap();
    let ed = SigningKey::ed25519_from_seed(&[4u8; 32]).unwrap();
    let (rsa_record, ed_record) = (rsa.dns_record(), ed.dns_record());
    let once = sign(rsa, "example.org", "rsa1", MESSAGE);
    let twice = sign(ed, "example.org", "ed1", &once);
    std::fs::write(dir.join("signed.eml"), &twice).unwrap();
    // As a Unix mail store keeps it: LF line ends.
    std::fs::write(
        dir.join("signed-lf.eml"),
        text(&twice).replace("\r\n", "\n"),
    )
    .unwrap();
    std::fs::write(
        dir.join("tampered.eml"),
        text(&twice).replace("the figures are in.", "the figures are out."),
    )
    .unwrap();
    std::fs::write(
        dir.join("second-from.eml"),
        format!("From: mallory@example.com\r\n{}", text(&twice)),
    )
    .unwrap();
    std::fs::write(dir.join("unsigned.eml"), MESSAGE).unwrap();
    (dir, rsa_record, ed_record)
}

/// `text` as zone-file strings of at most 255 bytes.
fn quoted(text: &str) -> String {
    text.as_bytes()
        .chunks(255)
        .map(|c| format!("\"{}\"", String::from_utf8_lossy(c)))
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn verify_passes_signed_messages_and_fails_changed_ones_with_the_reason() {
    let (dir, rsa, ed) = dual_signed("verify");
    // Plain `NAME VALUE` lines, and zone-file lines as dig +noall +answer prints them.
    std::fs::write(
        dir.join("plain.txt"),
        format!("rsa1._domainkey.example.org {rsa}\ned1._domainkey.example.org {ed}\n"),
    )
    .unwrap();
    std::fs::write(
        dir.join("zone.txt"),
        format!(
            "; <<>> DiG 9.18 <<>> +noall +answer\nrsa1._domainkey.example.org. 3600 IN TXT {}\ned1._domainkey.example.org. 3600 IN TXT {}\n",
            quoted(&rsa),
            quoted(&ed)
        ),
    )
    .unwrap();
    let both =
        "pass d=example.org s=ed1 a=ed25519-sha256\npass d=example.org s=rsa1 a=rsa-sha256\n";
    for txt in ["plain.txt", "zone.txt"] {
        for message in ["signed.eml", "signed-lf.eml"] {
            let (code, out, err) = run(&dir, &["dkim", "verify", message, "--txt", txt]);
            assert_eq!((code, out.as_str()), (0, both), "{txt} {message}: {err}");
        }
        let (code, out, _) = run(&dir, &["dkim", "verify", "tampered.eml", "--txt", txt]);
        assert_eq!(code, 65, "{out}");
        assert_eq!(
            out,
            "fail d=example.org s=ed1 a=ed25519-sha256: body hash mismatch: the body was changed after signing\n\
             fail d=example.org s=rsa1 a=rsa-sha256: body hash mismatch: the body was changed after signing\n"
        );
        let (code, out, _) = run(&dir, &["dkim", "verify", "second-from.eml", "--txt", txt]);
        assert_eq!(code, 65, "{out}");
        assert!(
            out.lines()
                .all(|l| l.starts_with("fail ") && l.contains("signature mismatch")),
            "{out}"
        );
    }
    // From standard input.
    let out = Command::new(env!("CARGO_BIN_EXE_postie"))
        .args(["dkim", "verify", "-", "--txt", "plain.txt"])
        .current_dir(&dir)
        .stdin(std::fs::File::open(dir.join("signed.eml")).unwrap())
        .output()
        .unwrap();
    assert_eq!(
        (out.status.code(), text(&out.stdout)),
        (Some(0), both.to_owned())
    );
}

#[test]
fn dig_short_output_a_missing_key_and_json() {
    let (dir, _rsa, ed) = dual_signed("verify-json");
    // dig +short TXT ed1._domainkey.example.org: the strings alone, which
    // answer for any name: the RSA signature then meets the Ed25519 key.
    std::fs::write(dir.join("short.txt"), format!("{}\n", quoted(&ed))).unwrap();
    let (code, out, _) = run(
        &dir,
        &["dkim", "verify", "signed.eml", "--txt", "short.txt"],
    );
    assert_eq!(code, 65, "{out}");
    assert_eq!(
        out,
        "pass d=example.org s=ed1 a=ed25519-sha256\n\
         fail d=example.org s=rsa1 a=rsa-sha256: the key record at rsa1._domainkey.example.org cannot be used: k=ed25519, but the signature is rsa-sha256\n"
    );
    // A file naming only one of the keys.
    std::fs::write(
        dir.join("one.txt"),
        format!("ed1._domainkey.example.org {ed}\n"),
    )
    .unwrap();
    let (code, out, _) = run(
        &dir,
        &["dkim", "verify", "signed.eml", "--txt", "one.txt", "--json"],
    );
    assert_eq!(code, 65, "{out}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["outcome"], "fail");
    assert_eq!(json["error"], serde_json::Value::Null);
    let sigs = json["signatures"].as_array().unwrap();
    assert_eq!(sigs.len(), 2);
    assert_eq!(sigs[0]["result"], "pass");
    assert_eq!(sigs[0]["domain"], "example.org");
    assert_eq!(sigs[0]["selector"], "ed1");
    assert_eq!(sigs[0]["algorithm"], "ed25519-sha256");
    assert_eq!(sigs[0]["reason"], serde_json::Value::Null);
    assert!(sigs[0]["signed_at"].as_u64().unwrap() > 1_700_000_000);
    assert_eq!(sigs[1]["result"], "fail");
    assert_eq!(
        sigs[1]["reason"],
        "no key record at rsa1._domainkey.example.org"
    );
    // All pass: outcome pass, exit 0.
    let (code, out, _) = run(
        &dir,
        &[
            "dkim",
            "verify",
            "unsigned.eml",
            "--txt",
            "one.txt",
            "--json",
        ],
    );
    assert_eq!(code, 1, "{out}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["outcome"], "none");
    assert_eq!(json["signatures"].as_array().unwrap().len(), 0);
}

#[test]
fn the_rfc_8463_example_passes_with_a_warning_for_its_1024_bit_key() {
    let dir = scratch("rfc8463");
    let message = include_str!("../../postie-smtp/src/dkim/testdata/rfc8463.eml");
    std::fs::write(dir.join("rfc8463.eml"), message).unwrap();
    std::fs::write(
        dir.join("keys.txt"),
        "brisbane._domainkey.football.example.com. IN TXT \"v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\"\n\
         test._domainkey.football.example.com v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB\n",
    )
    .unwrap();
    let (code, out, err) = run(
        &dir,
        &["dkim", "verify", "rfc8463.eml", "--txt", "keys.txt"],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        out,
        "pass d=football.example.com s=brisbane a=ed25519-sha256\n\
         pass d=football.example.com s=test a=rsa-sha256 (weak key: 1024-bit RSA (RFC 8301 asks signers for 2048 bits or more))\n"
    );
}

#[test]
fn verify_without_a_dns_answer_is_a_temporary_error_and_bad_inputs_fail() {
    let (dir, _, _) = dual_signed("verify-usage");
    // A resolver that is not there: each key is a temporary error (75).
    let nobody = format!("127.0.0.1:{}", postie_testkit::closed_port());
    let (code, out, err) = run(
        &dir,
        &["dkim", "verify", "signed.eml", "--dns-server", &nobody],
    );
    assert_eq!(code, 75, "{out}{err}");
    assert!(
        out.contains("temperror d=example.org s=ed1 a=ed25519-sha256")
            && out.contains(&format!("the DNS server {nobody}"))
            && out.contains("ed1._domainkey.example.org"),
        "{out}"
    );
    let (code, out, _) = run(
        &dir,
        &[
            "dkim",
            "verify",
            "signed.eml",
            "--dns-server",
            &nobody,
            "--json",
        ],
    );
    assert_eq!(code, 75);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["outcome"], "temperror");
    // --dns-server is an address; --txt and --dns-server do not go together.
    let (code, _, err) = run(
        &dir,
        &[
            "dkim",
            "verify",
            "signed.eml",
            "--dns-server",
            "dns.example",
        ],
    );
    assert_eq!(code, 64, "{err}");
    assert!(err.contains("is not an IP address"), "{err}");
    let (code, _, _) = run(
        &dir,
        &[
            "dkim",
            "verify",
            "signed.eml",
            "--dns-server",
            "127.0.0.1",
            "--txt",
            "k",
        ],
    );
    assert_eq!(code, 64);
    // No signature: nothing to fetch; its own outcome.
    let (code, out, _) = run(&dir, &["dkim", "verify", "unsigned.eml"]);
    assert_eq!(
        (code, out.as_str()),
        (1, "none: the message has no DKIM-Signature\n")
    );
    // Unreadable inputs, and a --txt line that is no record.
    let (code, _, err) = run(&dir, &["dkim", "verify", "missing.eml", "--txt", "x"]);
    assert_eq!(code, 66, "{err}");
    let (code, _, err) = run(
        &dir,
        &["dkim", "verify", "signed.eml", "--txt", "missing.txt"],
    );
    assert_eq!(code, 66, "{err}");
    std::fs::write(dir.join("bad.txt"), "# keys\nname \"never closed\n").unwrap();
    let (code, _, err) = run(&dir, &["dkim", "verify", "signed.eml", "--txt", "bad.txt"]);
    assert_eq!(code, 65, "{err}");
    assert!(
        err.contains("bad.txt line 2: a quoted string that never ends"),
        "{err}"
    );
}

#[test]
fn every_dkim_command_has_its_man_page() {
    let dir = scratch("man");
    let (code, _, err) = run(&dir, &["man", "--dir", "."]);
    assert_eq!(code, 0, "{err}");
    for name in [
        "postie-dkim",
        "postie-dkim-keygen",
        "postie-dkim-record",
        "postie-dkim-verify",
    ] {
        let page = std::fs::read_to_string(dir.join(format!("{name}.1")))
            .unwrap_or_else(|e| panic!("{name}.1: {e}"));
        for section in [
            ".SH NAME",
            ".SH SYNOPSIS",
            ".SH EXAMPLES",
            ".SH \"EXIT STATUS\"",
        ] {
            assert!(page.contains(section), "{name}.1 lacks {section}");
        }
    }
    let postie = std::fs::read_to_string(dir.join("postie.1")).unwrap();
    assert!(
        postie.contains("postie\\-dkim"),
        "postie.1 does not list dkim"
    );
}

/// An independent signer: the sample dkimpy signed when the DKIM test
/// set-up started (`scripts/servers/dkim.sh`: RSA simple/simple over
/// Ed25519 relaxed/relaxed, LF line ends as in a Maildir), and its copy
/// with a body word changed.
#[test]
fn a_message_signed_by_dkimpy_verifies_and_its_changed_copy_fails() {
    let Some(dir) = postie_testkit::real_path("POSTIE_TEST_DKIM_DIR") else {
        return;
    };
    let keys = postie_testkit::real_path("POSTIE_TEST_DKIM_KEYS").unwrap();
    let keys: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&std::fs::read(keys).unwrap()).unwrap();
    let work = scratch("dkimpy");
    let lines: String = keys
        .iter()
        .map(|(name, record)| format!("{name} {}\n", record.as_str().unwrap()))
        .collect();
    std::fs::write(work.join("keys.txt"), lines).unwrap();
    let rsa = std::env::var("POSTIE_TEST_DKIM_RSA_SELECTOR").unwrap();
    let ed = std::env::var("POSTIE_TEST_DKIM_ED25519_SELECTOR").unwrap();
    let domain = std::env::var("POSTIE_TEST_DKIM_DOMAIN").unwrap();
    let sample = dir.join("sample.eml");
    let (code, out, err) = run(
        &work,
        &[
            "dkim",
            "verify",
            sample.to_str().unwrap(),
            "--txt",
            "keys.txt",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        out,
        format!("pass d={domain} s={rsa} a=rsa-sha256\npass d={domain} s={ed} a=ed25519-sha256\n")
    );
    let tampered = dir.join("sample-tampered.eml");
    let (code, out, _) = run(
        &work,
        &[
            "dkim",
            "verify",
            tampered.to_str().unwrap(),
            "--txt",
            "keys.txt",
        ],
    );
    assert_eq!(code, 65, "{out}");
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(
        out.lines().all(|l| l.starts_with("fail ")
            && l.ends_with("body hash mismatch: the body was changed after signing")),
        "{out}"
    );
}

/// The keys of the repository's test data, served by the test DNS server
/// (scripts/servers/dns.sh) under example.org.
fn dns_server() -> Option<String> {
    postie_testkit::real_server("POSTIE_TEST_DNS").map(|s| format!("{}:{}", s.host, s.port))
}

#[test]
fn verify_looks_the_keys_up_in_dns() {
    let Some(server) = dns_server() else { return };
    let dir = scratch("verify-dns");
    let rsa = SigningKey::from_bytes(RSA_PEM).unwrap();
    let ed = || SigningKey::from_bytes(ED25519_PEM).unwrap();
    let signed = sign(
        ed(),
        "example.org",
        "ed25519",
        &sign(rsa, "example.org", "rsa2048", MESSAGE),
    );
    std::fs::write(dir.join("signed.eml"), &signed).unwrap();
    let (code, out, err) = run(
        &dir,
        &["dkim", "verify", "signed.eml", "--dns-server", &server],
    );
    assert_eq!(
        (code, out.as_str()),
        (
            0,
            "pass d=example.org s=ed25519 a=ed25519-sha256\npass d=example.org s=rsa2048 a=rsa-sha256\n"
        ),
        "{err}"
    );
    // Changed after signing: both fail, the keys found.
    let changed = text(&signed).replace("the figures are in.", "the figures are out.");
    std::fs::write(dir.join("changed.eml"), changed).unwrap();
    let (code, out, _) = run(
        &dir,
        &["dkim", "verify", "changed.eml", "--dns-server", &server],
    );
    assert_eq!(code, 65, "{out}");
    assert_eq!(out.matches("body hash mismatch").count(), 2, "{out}");
    // A record too big for a UDP answer comes over TCP.
    std::fs::write(
        dir.join("big.eml"),
        sign(ed(), "example.org", "big", MESSAGE),
    )
    .unwrap();
    let (code, out, err) = run(
        &dir,
        &["dkim", "verify", "big.eml", "--dns-server", &server],
    );
    assert_eq!(
        (code, out.as_str()),
        (0, "pass d=example.org s=big a=ed25519-sha256\n"),
        "{err}"
    );
    // No such name (NXDOMAIN) fails the signature: the key does not exist.
    std::fs::write(
        dir.join("nokey.eml"),
        sign(ed(), "example.org", "gone", MESSAGE),
    )
    .unwrap();
    let (code, out, _) = run(
        &dir,
        &["dkim", "verify", "nokey.eml", "--dns-server", &server],
    );
    assert_eq!(code, 65, "{out}");
    assert!(
        out.contains("fail d=example.org s=gone")
            && out.contains("no key record at gone._domainkey.example.org"),
        "{out}"
    );
    // An empty p= is a revoked key.
    std::fs::write(
        dir.join("revoked.eml"),
        sign(
            SigningKey::from_bytes(RSA_PEM).unwrap(),
            "example.org",
            "revoked",
            MESSAGE,
        ),
    )
    .unwrap();
    let (code, out, _) = run(
        &dir,
        &["dkim", "verify", "revoked.eml", "--dns-server", &server],
    );
    assert_eq!(code, 65, "{out}");
    assert!(out.contains("revoked"), "{out}");
}

const ED25519_PEM: &[u8] = include_bytes!("../../postie-smtp/src/dkim/testdata/ed25519.pem");
