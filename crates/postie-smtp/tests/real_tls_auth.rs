//! TLS and authentication against the real servers `scripts/test.sh`
//! starts: Postfix with Cyrus SASL (sasldb) on a STARTTLS port, a
//! STARTTLS-required port, an SMTPS port and a plain AUTH port, with a CA
//! the set-up generates; aiosmtpd for XOAUTH2 and OAUTHBEARER. With `CI`
//! set a missing server fails; elsewhere these tests skip.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use postie_mime::Message;
use postie_smtp::tls::{Fingerprint, TlsErrorKind};
use postie_smtp::{
    Cause, Credentials, Error, Secret, SendOptions, Sent, Stage, TlsMode, TlsSettings,
};
use postie_testkit::{real_path, real_server, wait_for, RealServer};

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"))
}

fn token() -> String {
    let id = postie_mime::new_message_id("x").unwrap();
    id.trim_start_matches('<')
        .split('@')
        .next()
        .unwrap()
        .replace(['-', '_'], "x")
}

fn message(token: &str) -> Message {
    let mut msg = Message::text(format!("This is the message.\ntoken {token}\n"));
    msg.headers_mut()
        .set("Subject", &format!("tls-auth {token}"))
        .unwrap();
    msg
}

fn options(server: &RealServer, ca: &Path) -> SendOptions {
    SendOptions::new()
        .servers([server.host.clone()])
        .ports([server.port])
        .timeout(Duration::from_secs(20))
        .tls_settings(TlsSettings {
            ca_files: vec![ca.to_owned()],
            ..TlsSettings::default()
        })
}

fn alice() -> Credentials {
    Credentials {
        username: var("POSTIE_TEST_SASL_USER"),
        secret: Secret::new(var("POSTIE_TEST_SASL_PASSWORD")),
        authzid: None,
    }
}

/// Waits for a message holding `token` in the Maildir of `domain/local`.
fn delivered(mail: &Path, domain: &str, local: &str, token: &str) -> bool {
    let dir: PathBuf = mail.join(domain).join(local).join("new");
    wait_for(Duration::from_secs(20), || {
        fs::read_dir(&dir)
            .ok()?
            .flatten()
            .find(|e| fs::read_to_string(e.path()).is_ok_and(|t| t.contains(token)))
    })
    .is_some()
}

struct Setup {
    ca: PathBuf,
    mail: PathBuf,
}

fn setup() -> Option<Setup> {
    real_server("POSTIE_TEST_POSTFIX")?;
    Some(Setup {
        ca: real_path("POSTIE_TEST_CA")?,
        mail: real_path("POSTIE_TEST_POSTFIX_MAIL")?,
    })
}

#[test]
fn starttls_with_the_generated_ca_delivers_encrypted() {
    let Some(s) = setup() else { return };
    let server = real_server("POSTIE_TEST_POSTFIX_STARTTLS").unwrap();
    let token = token();
    let sent = common::send(
        &message(&token),
        &options(&server, &s.ca).recipients("tls-user@example.org"),
    )
    .unwrap();
    let tls = sent.tls().expect("STARTTLS was used");
    assert!(tls.version.starts_with("TLSv1."), "{tls:?}");
    assert!(delivered(&s.mail, "example.org", "tls-user", &token));
}

/// Sends through the STARTTLS-required port with `mechanism` forced (or the
/// automatic choice), relaying to relay.test, which Postfix only accepts
/// from an authenticated client.
fn relay_with(s: &Setup, credentials: Credentials, mechanism: Option<&str>) -> (Sent, String) {
    let server = real_server("POSTIE_TEST_POSTFIX_STARTTLS_REQUIRED").unwrap();
    let token = token();
    let local = format!("via-{}", mechanism.unwrap_or("auto").to_ascii_lowercase());
    let mut opts = options(&server, &s.ca)
        .tls_mode(TlsMode::Required)
        .recipients(format!("{local}@relay.test"))
        .credentials(credentials);
    if let Some(m) = mechanism {
        opts = opts.auth_mechanisms([m]);
    }
    let sent =
        common::send(&message(&token), &opts).unwrap_or_else(|e| panic!("{mechanism:?}: {e}"));
    assert!(
        delivered(&s.mail, "relay.test", &local, &token),
        "{mechanism:?}: relayed message not delivered"
    );
    (sent, token)
}

#[test]
fn each_mechanism_forced_once_authenticates_and_relays() {
    let Some(s) = setup() else { return };
    for mechanism in [
        "PLAIN",
        "LOGIN",
        "CRAM-MD5",
        "DIGEST-MD5",
        "SCRAM-SHA-1",
        "SCRAM-SHA-256",
    ] {
        let (sent, _) = relay_with(&s, alice(), Some(mechanism));
        assert_eq!(sent.auth(), Some(mechanism));
        assert!(sent.tls().is_some());
    }
}

#[test]
fn the_automatic_choice_is_the_strongest_offered() {
    let Some(s) = setup() else { return };
    let (sent, _) = relay_with(&s, alice(), None);
    assert_eq!(sent.auth(), Some("SCRAM-SHA-256"));
}

#[test]
fn a_non_ascii_password_goes_through_saslprep() {
    let Some(s) = setup() else { return };
    let bob = Credentials {
        username: var("POSTIE_TEST_SASL_USER2"),
        secret: Secret::new(var("POSTIE_TEST_SASL_PASSWORD2")),
        authzid: None,
    };
    let (sent, _) = relay_with(&s, bob.clone(), None);
    assert_eq!(sent.auth(), Some("SCRAM-SHA-256"));
    let (sent, _) = relay_with(&s, bob, Some("PLAIN"));
    assert_eq!(sent.auth(), Some("PLAIN"));
}

#[test]
fn a_wrong_password_is_535_and_nothing_is_delivered() {
    let Some(s) = setup() else { return };
    let server = real_server("POSTIE_TEST_POSTFIX_STARTTLS_REQUIRED").unwrap();
    let token = token();
    let wrong = Credentials {
        username: var("POSTIE_TEST_SASL_USER"),
        secret: Secret::new("not-the-password"),
        authzid: None,
    };
    let err = common::send(
        &message(&token),
        &options(&server, &s.ca)
            .tls_mode(TlsMode::Required)
            .recipients("wrong-pass@relay.test")
            .credentials(wrong)
            .auth_mechanisms(["PLAIN"]),
    )
    .unwrap_err();
    assert_eq!(err.stage(), Some(Stage::Auth));
    assert_eq!(err.code(), Some(535));
    assert!(!err.to_string().contains("not-the-password"));
    std::thread::sleep(Duration::from_millis(500));
    assert!(!s.mail.join("relay.test/wrong-pass").exists());
}

#[test]
fn implicit_tls_on_the_smtps_port() {
    let Some(s) = setup() else { return };
    let server = real_server("POSTIE_TEST_POSTFIX_SMTPS").unwrap();
    let token = token();
    let sent = common::send(
        &message(&token),
        &options(&server, &s.ca)
            .tls_mode(TlsMode::Implicit)
            .recipients("smtps-relay@relay.test")
            .credentials(alice()),
    )
    .unwrap();
    assert!(sent.tls().is_some());
    assert_eq!(sent.auth(), Some("SCRAM-SHA-256"));
    assert!(delivered(&s.mail, "relay.test", "smtps-relay", &token));
}

/// STARTTLS (the default) aimed at a port that speaks implicit TLS: the
/// greeting never comes, so after a few seconds TLS is offered on a second
/// connection, answered, and the send fails at once and for good, saying
/// what to do, instead of waiting out its minute and being retried.
#[test]
fn starttls_aimed_at_an_implicit_tls_port_fails_at_once_with_the_fix() {
    let Some(s) = setup() else { return };
    let server = real_server("POSTIE_TEST_POSTFIX_SMTPS").unwrap();
    for mode in [TlsMode::StartTls, TlsMode::Required, TlsMode::None] {
        let started = std::time::Instant::now();
        let err = common::send(
            &message(&token()),
            &options(&server, &s.ca)
                .tls_mode(mode)
                .timeout(Duration::from_secs(60))
                .recipients("x@example.org"),
        )
        .unwrap_err();
        let waited = started.elapsed();
        let text = err.to_string();
        assert!(text.contains("use --tls implicit"), "{mode:?}: {text}");
        assert!(!err.is_temporary(), "{mode:?}: {text}");
        let Error::NoServer { attempts } = &err else {
            panic!("{mode:?}: {err:?}");
        };
        assert_eq!(attempts[0].stage(), Stage::Greeting, "{text}");
        // Well short of the minute the greeting had.
        assert!(
            waited < Duration::from_secs(30),
            "{mode:?}: waited {waited:?}"
        );
    }
}

#[test]
fn challenge_response_mechanisms_work_without_tls_on_loopback() {
    let Some(s) = setup() else { return };
    let server = real_server("POSTIE_TEST_POSTFIX_AUTH_PLAIN").unwrap();
    for mechanism in ["CRAM-MD5", "DIGEST-MD5", "SCRAM-SHA-256"] {
        let token = token();
        let local = format!("plain-{}", mechanism.to_ascii_lowercase());
        let sent = common::send(
            &message(&token),
            &options(&server, &s.ca)
                .recipients(format!("{local}@relay.test"))
                .credentials(alice())
                .auth_mechanisms([mechanism]),
        )
        .unwrap_or_else(|e| panic!("{mechanism}: {e}"));
        assert!(sent.tls().is_none());
        assert!(delivered(&s.mail, "relay.test", &local, &token));
    }
}

fn tls_failure(var_name: &str, ca: &Path) -> postie_smtp::tls::TlsError {
    let server = real_server(var_name).unwrap();
    let err: Error = common::send(
        &message(&token()),
        &options(&server, ca).recipients("never@example.org"),
    )
    .unwrap_err();
    let failure = err.server_error().unwrap();
    assert_eq!(failure.stage(), Stage::StartTls, "{err}");
    match failure.cause() {
        Cause::Tls(tls) => tls.clone(),
        other => panic!("{other}"),
    }
}

#[test]
fn certificates_are_checked_against_name_and_ca() {
    let Some(s) = setup() else { return };
    let wrong = tls_failure("POSTIE_TEST_POSTFIX_WRONG_NAME", &s.ca);
    assert_eq!(wrong.kind(), TlsErrorKind::WrongName, "{wrong}");
    assert!(wrong.to_string().contains("127.0.0.1"), "{wrong}");
    let untrusted = tls_failure("POSTIE_TEST_POSTFIX_SELF_SIGNED", &s.ca);
    assert_eq!(untrusted.kind(), TlsErrorKind::SelfSigned, "{untrusted}");
    assert!(
        untrusted.to_string().contains("is self-signed"),
        "{untrusted}"
    );
    // Without the generated CA the good server is untrusted too.
    let server = real_server("POSTIE_TEST_POSTFIX_STARTTLS").unwrap();
    let err = common::send(
        &message(&token()),
        &SendOptions::new()
            .servers([server.host.clone()])
            .ports([server.port])
            .recipients("never@example.org"),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("not signed by a trusted CA"),
        "{err}"
    );
}

fn oauth(token_value: &str, mechanism: Option<&str>) -> Result<Sent, Error> {
    let server = real_server("POSTIE_TEST_AIOSMTPD_OAUTH").unwrap();
    let credentials = Credentials {
        username: var("POSTIE_TEST_OAUTH_USER"),
        secret: Secret::new(token_value),
        authzid: None,
    };
    let mut opts = SendOptions::new()
        .servers([server.host.clone()])
        .ports([server.port])
        .timeout(Duration::from_secs(20))
        .recipients("oauth@example.org")
        .oauth_token(credentials);
    if let Some(m) = mechanism {
        opts = opts.auth_mechanisms([m]);
    }
    common::send(&message(&token()), &opts)
}

#[test]
fn oauth_tokens_with_xoauth2_and_oauthbearer() {
    if real_server("POSTIE_TEST_AIOSMTPD_OAUTH").is_none() {
        return;
    }
    let good = var("POSTIE_TEST_OAUTH_TOKEN");
    assert_eq!(oauth(&good, None).unwrap().auth(), Some("OAUTHBEARER"));
    assert_eq!(
        oauth(&good, Some("XOAUTH2")).unwrap().auth(),
        Some("XOAUTH2")
    );
    for mechanism in ["XOAUTH2", "OAUTHBEARER"] {
        let err = oauth("ya29.wrong", Some(mechanism)).unwrap_err();
        assert_eq!(err.stage(), Some(Stage::Auth), "{mechanism}: {err}");
        assert_eq!(err.code(), Some(535), "{mechanism}: {err}");
    }
}

#[test]
fn a_client_certificate_is_presented_and_verified() {
    let Some(s) = setup() else { return };
    let server = real_server("POSTIE_TEST_POSTFIX_CLIENT_CERT").unwrap();
    let cert = real_path("POSTIE_TEST_CLIENT_CERT").unwrap();
    let key = real_path("POSTIE_TEST_CLIENT_KEY").unwrap();
    let token = token();
    // Postfix lets only a verified client certificate relay on this port.
    let sent = common::send(
        &message(&token),
        &options(&server, &s.ca)
            .tls_settings(TlsSettings {
                ca_files: vec![s.ca.clone()],
                client_certificate: Some((cert, key)),
                ..TlsSettings::default()
            })
            .tls_mode(TlsMode::Required)
            .recipients("with-cert@relay.test"),
    )
    .unwrap();
    assert!(sent.tls().is_some());
    assert!(delivered(&s.mail, "relay.test", "with-cert", &token));
    // Without it the server hangs up after the handshake.
    let err = common::send(
        &message(&token),
        &options(&server, &s.ca)
            .tls_mode(TlsMode::Required)
            .recipients("without-cert@relay.test"),
    )
    .unwrap_err();
    assert_eq!(err.code(), Some(421), "{err}");
    assert!(err.to_string().contains("No client certificate"), "{err}");
}

/// The fingerprint of a certificate of the test servers' TLS directory
/// (`server`: the test CA's, which the STARTTLS port presents;
/// `selfsigned`: the self-signed port's), read from its PEM file.
fn fingerprint(stem: &str) -> Fingerprint {
    use rustls::pki_types::pem::PemObject;
    let dir = real_path("POSTIE_TEST_TLS_DIR").unwrap();
    let der = rustls::pki_types::CertificateDer::from_pem_file(dir.join(format!("{stem}.pem")))
        .unwrap_or_else(|e| panic!("{stem}.pem: {e}"));
    Fingerprint::of(der.as_ref())
}

/// The STARTTLS failure of a send with `options`, which must not be a
/// temporary one.
fn refused_certificate(options: SendOptions) -> postie_smtp::tls::TlsError {
    let err =
        common::send(&message(&token()), &options.recipients("never@example.org")).unwrap_err();
    assert!(!err.is_temporary(), "{err}");
    let failure = err.server_error().unwrap();
    assert_eq!(failure.stage(), Stage::StartTls, "{err}");
    match failure.cause() {
        Cause::Tls(tls) => tls.clone(),
        other => panic!("{other}"),
    }
}

#[test]
fn a_self_signed_server_is_trusted_by_its_pinned_fingerprint_alone() {
    let Some(s) = setup() else { return };
    let server = real_server("POSTIE_TEST_POSTFIX_SELF_SIGNED").unwrap();
    let pinned = || {
        SendOptions::new()
            .servers([server.host.clone()])
            .ports([server.port])
            .timeout(Duration::from_secs(20))
            .tls_mode(TlsMode::Required)
            .tls_fingerprint(fingerprint("selfsigned"))
    };
    // No CA file: the fingerprint decides, as msmtp's tls_fingerprint.
    let token = token();
    let sent = common::send(&message(&token), &pinned().recipients("pinned@example.org")).unwrap();
    assert!(sent.tls().is_some());
    assert!(delivered(&s.mail, "example.org", "pinned", &token));
    // With a CA file both must pass, and no CA vouches for this one.
    let both = pinned().tls_settings(TlsSettings {
        ca_files: vec![s.ca.clone()],
        fingerprints: vec![fingerprint("selfsigned")],
        ..TlsSettings::default()
    });
    let refused = refused_certificate(both);
    assert_eq!(refused.kind(), TlsErrorKind::SelfSigned, "{refused}");
}

#[test]
fn a_pin_with_the_ca_needs_both_and_a_wrong_pin_names_both_fingerprints() {
    let Some(s) = setup() else { return };
    let server = real_server("POSTIE_TEST_POSTFIX_STARTTLS").unwrap();
    // The test CA vouches for the certificate, and it is the pinned one.
    let token = token();
    let sent = common::send(
        &message(&token),
        &options(&server, &s.ca)
            .tls_mode(TlsMode::Required)
            .tls_fingerprint(fingerprint("server"))
            .recipients("pinned-ca@example.org"),
    )
    .unwrap();
    assert!(sent.tls().is_some());
    assert!(delivered(&s.mail, "example.org", "pinned-ca", &token));
    // The CA vouches for it, but another certificate is pinned: refused,
    // for good, naming what was presented and what was expected.
    for with_ca in [true, false] {
        let ca_files = if with_ca {
            vec![s.ca.clone()]
        } else {
            Vec::new()
        };
        let options = SendOptions::new()
            .servers([server.host.clone()])
            .ports([server.port])
            .timeout(Duration::from_secs(20))
            .tls_settings(TlsSettings {
                ca_files,
                fingerprints: vec![fingerprint("selfsigned")],
                ..TlsSettings::default()
            });
        let refused = refused_certificate(options);
        assert_eq!(
            refused.kind(),
            TlsErrorKind::FingerprintMismatch,
            "{refused}"
        );
        let text = refused.to_string();
        assert!(text.contains(&fingerprint("server").to_string()), "{text}");
        assert!(
            text.contains(&fingerprint("selfsigned").to_string()),
            "{text}"
        );
    }
}

/// A connection that follows another one to the same server resumes its
/// TLS session (the ticket rustls kept from the first): no certificate
/// exchange the second time. One message per connection, so each send
/// opens a new one. This Postfix (OpenSSL) issues one ticket after a full
/// handshake and none after a resumed one (`openssl s_client -sess_in`
/// shows the same), so every other connection resumes.
#[test]
fn a_new_connection_of_a_session_resumes_tls() {
    let Some(s) = setup() else { return };
    let server = real_server("POSTIE_TEST_POSTFIX_STARTTLS").unwrap();
    let token = token();
    let mut session = common::Session::with_max_messages(
        options(&server, &s.ca).recipients("tls-user@example.org"),
        postie_smtp::LocalEnv::from_system(),
        1,
    );
    let resumed: Vec<bool> = (0..4)
        .map(|_| {
            let sent = session.send(&message(&token)).unwrap();
            sent.tls().expect("STARTTLS was used").resumed
        })
        .collect();
    session.close();
    assert_eq!(resumed, [false, true, false, true]);
}
