//! STARTTLS and implicit TLS against the scripted server: the seed's
//! `-usetls` and `-tlspolicy`, certificate checks, and what real servers
//! will not do (bytes injected after the 220, a refused STARTTLS).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::DateTime;
use postie_mime::Message;
use postie_smtp::tls::{Fingerprint, TlsErrorKind};
use postie_smtp::{
    Cause, Error, LocalEnv, SendOptions, Stage, TlsDecision, TlsMode, TlsProblem, TlsSettings,
};
use postie_testkit::{ca_file, Cert, Script, ScriptedServer};

fn env() -> LocalEnv {
    LocalEnv {
        hostname: "client.test".to_owned(),
        user: "joe".to_owned(),
        now: DateTime::parse_from_rfc3339("2026-11-28T18:41:39+00:00").unwrap(),
    }
}

fn message() -> Message {
    let mut msg = Message::text("secret body");
    msg.headers_mut().set("Subject", "tls").unwrap();
    msg
}

/// Options for the scripted server at `ports`, by the name its certificate
/// carries, trusting the test CA.
fn options(ports: &[u16]) -> SendOptions {
    SendOptions::new()
        .servers(ports.iter().map(|_| "localhost"))
        .ports(ports.iter().copied())
        .recipients("a@example.org")
        .timeout(Duration::from_secs(5))
        .tls_settings(TlsSettings {
            ca_files: vec![ca_file()],
            ..TlsSettings::default()
        })
}

fn send(options: &SendOptions) -> Result<postie_smtp::Sent, Error> {
    common::send_with_env(&message(), options, &env())
}

/// After the handshake: EHLO again, then a whole transaction.
fn after_tls(script: Script) -> Script {
    script
        .reply("250-scripted.test\r\n250 SIZE 1000000\r\n")
        .reply("250 2.1.0 Ok\r\n")
        .reply("250 2.1.5 Ok\r\n")
        .reply("354 go\r\n")
        .read_data()
        .send("250 2.0.0 Ok: queued as T1\r\n")
        .reply("221 bye\r\n")
}

fn plain_transaction(script: Script) -> Script {
    script
        .reply("250 2.1.0 Ok\r\n")
        .reply("250 2.1.5 Ok\r\n")
        .reply("354 go\r\n")
        .read_data()
        .send("250 2.0.0 Ok: queued as P1\r\n")
        .reply("221 bye\r\n")
}

fn starttls_offer() -> Script {
    Script::new().greet(&["STARTTLS", "AUTH PLAIN"])
}

#[test]
fn starttls_upgrades_then_says_ehlo_again() {
    let server = ScriptedServer::start(vec![after_tls(
        starttls_offer()
            .reply("220 2.0.0 go ahead\r\n")
            .start_tls(Cert::Trusted),
    )]);
    let sent = send(&options(&[server.port()])).unwrap();
    let tls = sent.tls().expect("sent over TLS");
    assert!(tls.version.starts_with("TLSv1."), "{tls:?}");
    let session = &server.finish()[0];
    assert!(session.tls);
    assert_eq!(
        session.commands[..3],
        ["EHLO localhost", "STARTTLS", "EHLO localhost"]
    );
    assert!(session.commands[3].starts_with("MAIL FROM:<joe@client.test> SIZE="));
}

#[test]
fn bytes_injected_after_the_220_fail_closed() {
    // An attacker on the path answers STARTTLS and appends a forged reply
    // in the same segment; it must never be read as the encrypted EHLO.
    let server = ScriptedServer::start(vec![starttls_offer()
        .reply("220 2.0.0 go ahead\r\n250-injected\r\n250 AUTH PLAIN\r\n")
        .start_tls(Cert::Trusted)]);
    let err = send(&options(&[server.port()])).unwrap_err();
    let Error::NoServer { attempts } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(attempts[0].stage(), Stage::StartTls);
    assert!(matches!(attempts[0].cause(), Cause::Unexpected), "{err}");
    let session = &server.finish()[0];
    assert!(!session.tls, "no handshake after injected bytes");
    assert!(!session.text().contains("MAIL"));
}

#[test]
fn an_untrusted_certificate_never_downgrades_by_default() {
    let server = ScriptedServer::start(vec![starttls_offer()
        .reply("220 go ahead\r\n")
        .start_tls(Cert::SelfSigned)]);
    let err = send(&options(&[server.port()])).unwrap_err();
    let failure = err.server_error().unwrap();
    assert_eq!(failure.stage(), Stage::StartTls);
    let Cause::Tls(tls) = failure.cause() else {
        panic!("{err}")
    };
    assert_eq!(tls.kind(), TlsErrorKind::SelfSigned);
    assert!(tls.to_string().contains("is self-signed"), "{tls}");
    assert!(!err.is_temporary());
    let session = &server.finish()[0];
    assert!(!session.text().contains("MAIL"), "nothing sent in clear");
}

/// A self-signed certificate is named so in words, also one marked as a CA
/// (what `openssl req -x509` makes by default), which webpki refuses as a
/// server's certificate whether or not it is trusted: no rustls or webpki
/// identifier (`CaUsedAsEndEntity`) in the error.
#[test]
fn a_self_signed_certificate_is_named_in_words() {
    for trusted in [false, true] {
        let server = ScriptedServer::start(vec![starttls_offer()
            .reply("220 go ahead\r\n")
            .start_tls(Cert::SelfSignedCa)]);
        let mut ca_files = vec![ca_file()];
        if trusted {
            ca_files.push(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../postie-testkit/certs/selfsigned_ca.pem"),
            );
        }
        let opts = options(&[server.port()]).tls_settings(TlsSettings {
            ca_files,
            ..TlsSettings::default()
        });
        let err = send(&opts).unwrap_err();
        let Cause::Tls(tls) = err.server_error().unwrap().cause() else {
            panic!("{err}")
        };
        assert_eq!(tls.kind(), TlsErrorKind::SelfSigned, "{tls}");
        let text = tls.to_string();
        assert!(text.contains("is self-signed"), "{text}");
        // Refused for its CA flag before its issuer is looked for, so the
        // error says so whether or not it is trusted: trusting it would
        // not help.
        assert!(text.contains("marked as a CA"), "{text}");
        assert!(
            !text.contains("CaUsedAsEndEntity") && !text.contains("Other("),
            "{text}"
        );
        server.finish();
    }
}

#[test]
fn a_wrong_name_is_named_in_the_error() {
    let server = ScriptedServer::start(vec![starttls_offer()
        .reply("220 go ahead\r\n")
        .start_tls(Cert::WrongName)]);
    let err = send(&options(&[server.port()])).unwrap_err();
    let Cause::Tls(tls) = err.server_error().unwrap().cause() else {
        panic!("{err}")
    };
    assert_eq!(tls.kind(), TlsErrorKind::WrongName);
    assert!(
        tls.to_string()
            .contains("the certificate is for wrong.example, not localhost"),
        "{tls}"
    );
    server.finish();
}

#[test]
fn insecure_policy_after_a_failed_handshake_reconnects_without_starttls() {
    let asked = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&asked);
    let server = ScriptedServer::start(vec![
        starttls_offer()
            .reply("220 go ahead\r\n")
            .start_tls(Cert::SelfSigned),
        plain_transaction(starttls_offer()),
    ]);
    let opts = options(&[server.port()]).tls_policy(move |problem| {
        assert!(matches!(problem, TlsProblem::Handshake(_)));
        counter.fetch_add(1, Ordering::SeqCst);
        TlsDecision::Insecure
    });
    let sent = send(&opts).unwrap();
    assert!(sent.tls().is_none());
    assert_eq!(asked.load(Ordering::SeqCst), 1);
    let sessions = server.finish();
    assert!(sessions[0].tls_failed);
    assert!(!sessions[1].commands.contains(&"STARTTLS".to_owned()));
    assert!(sessions[1]
        .commands
        .iter()
        .any(|c| c.starts_with("MAIL FROM")));
}

#[test]
fn accept_any_certificate_is_an_explicit_switch() {
    let server = ScriptedServer::start(vec![after_tls(
        starttls_offer()
            .reply("220 go ahead\r\n")
            .start_tls(Cert::SelfSigned),
    )]);
    let opts = options(&[server.port()]).tls_settings(TlsSettings {
        accept_invalid_certificates: true,
        ..TlsSettings::default()
    });
    assert!(send(&opts).unwrap().tls().is_some());
    server.finish();
}

/// The fingerprint of a test kit certificate (`server`, `selfsigned`).
fn fingerprint(stem: &str) -> Fingerprint {
    use rustls::pki_types::pem::PemObject;
    let file = ca_file().with_file_name(format!("{stem}.pem"));
    Fingerprint::of(
        rustls::pki_types::CertificateDer::from_pem_file(file)
            .unwrap()
            .as_ref(),
    )
}

#[test]
fn a_pinned_self_signed_certificate_is_accepted_without_a_ca() {
    let server = ScriptedServer::start(vec![after_tls(
        starttls_offer()
            .reply("220 go ahead\r\n")
            .start_tls(Cert::SelfSigned),
    )]);
    // No CA file: the pin alone decides, and nothing vouches for this
    // certificate but its fingerprint.
    let opts = options(&[server.port()])
        .tls_settings(TlsSettings::default())
        .tls_fingerprint(fingerprint("selfsigned"));
    let sent = send(&opts).unwrap();
    assert!(sent.tls().is_some());
    server.finish();
}

#[test]
fn a_certificate_other_than_the_pinned_one_is_refused_for_good() {
    let server = ScriptedServer::start(vec![starttls_offer()
        .reply("220 go ahead\r\n")
        .start_tls(Cert::Trusted)]);
    // The test CA vouches for this one, but it is not the one pinned (and
    // with the CA file both checks must pass).
    let opts = options(&[server.port()]).tls_fingerprint(fingerprint("selfsigned"));
    let err = send(&opts).unwrap_err();
    assert!(!err.is_temporary(), "{err}");
    let failure = err.server_error().unwrap();
    assert_eq!(failure.stage(), Stage::StartTls, "{err}");
    let Cause::Tls(tls) = failure.cause() else {
        panic!("{err}")
    };
    assert_eq!(tls.kind(), TlsErrorKind::FingerprintMismatch, "{tls}");
    let text = tls.to_string();
    assert!(text.contains(&fingerprint("server").to_string()), "{text}");
    assert!(
        text.contains(&fingerprint("selfsigned").to_string()),
        "{text}"
    );
    let sessions = server.finish();
    assert!(
        !sessions[0].text().contains("MAIL FROM"),
        "{}",
        sessions[0].text()
    );
}

fn refused_starttls() -> Script {
    starttls_offer().reply("454 4.7.0 TLS not available due to local problem\r\n")
}

#[test]
fn refused_starttls_goes_on_in_clear_by_default_as_the_seed_does() {
    let server = ScriptedServer::start(vec![plain_transaction(refused_starttls())]);
    let sent = send(&options(&[server.port()])).unwrap();
    assert!(sent.tls().is_none());
    server.finish();
}

#[test]
fn refused_starttls_with_secure_policy_tries_the_next_server() {
    let asked = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&asked);
    let first = ScriptedServer::start(vec![refused_starttls()]);
    let second = ScriptedServer::start(vec![after_tls(
        starttls_offer()
            .reply("220 go ahead\r\n")
            .start_tls(Cert::Trusted),
    )]);
    let opts = options(&[first.port(), second.port()]).tls_policy(move |problem| {
        match problem {
            TlsProblem::Refused(reply) => assert_eq!(reply.code(), 454),
            other => panic!("{other:?}"),
        }
        counter.fetch_add(1, Ordering::SeqCst);
        TlsDecision::Secure
    });
    let sent = send(&opts).unwrap();
    assert_eq!(sent.server().port, second.port());
    assert_eq!(asked.load(Ordering::SeqCst), 1);
    assert!(!first.finish()[0].text().contains("MAIL"));
    second.finish();
}

#[test]
fn required_tls_fails_before_mail_when_refused_or_not_offered() {
    let refused = ScriptedServer::start(vec![refused_starttls()]);
    let not_offered = ScriptedServer::start(vec![Script::new().greet(&["SIZE 1000"])]);
    let err = send(&options(&[refused.port(), not_offered.port()]).tls_mode(TlsMode::Required))
        .unwrap_err();
    let Error::NoServer { attempts } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(attempts.len(), 2);
    assert!(
        attempts.iter().all(|a| a.stage() == Stage::StartTls),
        "{err}"
    );
    assert_eq!(attempts[0].reply().unwrap().code(), 454);
    assert!(
        attempts[1].to_string().contains("does not offer STARTTLS"),
        "{err}"
    );
    for server in [refused, not_offered] {
        assert!(!server.finish()[0].text().contains("MAIL"));
    }
}

#[test]
fn tls_none_never_sends_starttls() {
    let server = ScriptedServer::start(vec![plain_transaction(starttls_offer())]);
    send(&options(&[server.port()]).tls_mode(TlsMode::None)).unwrap();
    assert!(!server.finish()[0].commands.contains(&"STARTTLS".to_owned()));
}

#[test]
fn implicit_tls_from_the_first_byte() {
    let server = ScriptedServer::start(vec![plain_transaction(
        Script::new()
            .start_tls(Cert::Trusted)
            .send("220 scripted.test ESMTP\r\n")
            .reply("250-scripted.test\r\n250 STARTTLS\r\n"),
    )]);
    let sent = send(&options(&[server.port()]).tls_mode(TlsMode::Implicit)).unwrap();
    assert!(sent.tls().is_some());
    let session = &server.finish()[0];
    assert!(session.tls);
    assert!(
        !session.commands.contains(&"STARTTLS".to_owned()),
        "no STARTTLS inside implicit TLS"
    );
}

#[test]
fn implicit_tls_on_a_plain_port_says_so() {
    let server = ScriptedServer::start(vec![Script::new().send("220 plain.test ESMTP\r\n")]);
    let err = send(&options(&[server.port()]).tls_mode(TlsMode::Implicit)).unwrap_err();
    let Cause::Tls(tls) = err.server_error().unwrap().cause() else {
        panic!("{err}")
    };
    assert_eq!(tls.kind(), TlsErrorKind::PlaintextServer, "{tls}");
    assert!(tls.to_string().contains("use STARTTLS"), "{tls}");
    server.finish();
}

#[test]
fn implicit_tls_defaults_to_port_465() {
    let options = SendOptions::new()
        .servers(["mail.example.org"])
        .tls_mode(TlsMode::Implicit);
    assert_eq!(options.server_list()[0].port, 465);
}

#[test]
fn tls_bytes_where_a_greeting_should_be_say_use_implicit() {
    // What a client in clear sees from a port that speaks TLS first and
    // answers with an alert record.
    let server = ScriptedServer::start(vec![Script::new().send(b"\x15\x03\x03\x00\x02\x02\x46")]);
    let err = send(&options(&[server.port()])).unwrap_err();
    let Cause::Tls(tls) = err.server_error().unwrap().cause() else {
        panic!("{err}")
    };
    assert_eq!(tls.kind(), TlsErrorKind::TlsServer);
    assert!(tls.to_string().contains("use --tls implicit"), "{tls}");
    server.finish();
}

#[test]
fn a_handshake_that_breaks_is_a_starttls_failure_without_downgrade() {
    let server = ScriptedServer::start(vec![starttls_offer().reply("220 go ahead\r\n").close()]);
    let err = send(&options(&[server.port()])).unwrap_err();
    let failure = err.server_error().unwrap();
    assert_eq!(failure.stage(), Stage::StartTls);
    let Cause::Tls(tls) = failure.cause() else {
        panic!("{err}")
    };
    assert_eq!(tls.kind(), TlsErrorKind::Io, "{tls}");
    assert!(err.is_temporary(), "a broken connection may work later");
    assert!(!server.finish()[0].text().contains("MAIL"));
}

/// REQUIRETLS (RFC 8689): STARTTLS becomes required, MAIL carries the
/// parameter where the server offers it after TLS, and a server that does
/// not offer it never gets the message (the next one does).
#[test]
fn requiretls_only_to_a_server_that_offers_it_over_tls() {
    let without = starttls_offer()
        .reply("220 2.0.0 go ahead\r\n")
        .start_tls(Cert::Trusted)
        .reply("250-scripted.test\r\n250 SIZE 1000000\r\n");
    let with = starttls_offer()
        .reply("220 2.0.0 go ahead\r\n")
        .start_tls(Cert::Trusted)
        .reply("250-scripted.test\r\n250 REQUIRETLS\r\n")
        .reply("250 2.1.0 Ok\r\n")
        .reply("250 2.1.5 Ok\r\n")
        .reply("354 go\r\n")
        .read_data()
        .send("250 2.0.0 Ok: queued as R1\r\n")
        .reply("221 bye\r\n");
    let first = ScriptedServer::start(vec![without]);
    let second = ScriptedServer::start(vec![with]);
    let sent = send(&options(&[first.port(), second.port()]).require_tls(true)).unwrap();
    assert_eq!(sent.queue_id().as_deref(), Some("R1"));
    let skipped = &first.finish()[0];
    assert!(
        !skipped.commands.iter().any(|c| c.starts_with("MAIL")),
        "{:?}",
        skipped.commands
    );
    let used = &second.finish()[0];
    assert_eq!(used.commands[3], "MAIL FROM:<joe@client.test> REQUIRETLS");
}

#[test]
fn requiretls_without_tls_or_without_checks_is_refused_before_connecting() {
    let port = postie_testkit::closed_port();
    let err = send(&options(&[port]).require_tls(true).tls_mode(TlsMode::None)).unwrap_err();
    assert!(matches!(err, Error::Invalid(_)), "{err}");
    let lax = options(&[port])
        .require_tls(true)
        .tls_settings(TlsSettings {
            accept_invalid_certificates: true,
            ..TlsSettings::default()
        });
    let err = send(&lax).unwrap_err();
    assert!(
        err.to_string().contains("certificate checks are off"),
        "{err}"
    );
    // A pin alone does not check the chain against a CA, which RFC 8689
    // asks for; with a CA file (both checks) it may go.
    let pinned = options(&[port])
        .require_tls(true)
        .tls_settings(TlsSettings::default())
        .tls_fingerprint(fingerprint("server"));
    let err = send(&pinned).unwrap_err();
    assert!(matches!(err, Error::Invalid(_)), "{err}");
    assert!(err.to_string().contains("pinned fingerprint"), "{err}");
    let both = options(&[port])
        .require_tls(true)
        .tls_fingerprint(fingerprint("server"));
    let err = send(&both).unwrap_err();
    assert!(!matches!(err, Error::Invalid(_)), "{err}");
}

/// A server that offers no STARTTLS at all cannot take a REQUIRETLS
/// message: required TLS fails there before MAIL.
#[test]
fn requiretls_to_a_server_without_starttls_sends_nothing() {
    let server = ScriptedServer::start(vec![Script::new().greet(&["SIZE 1000"])]);
    let err = send(&options(&[server.port()]).require_tls(true)).unwrap_err();
    assert!(matches!(err, Error::NoServer { .. }), "{err}");
    let session = &server.finish()[0];
    assert!(!session.commands.iter().any(|c| c.starts_with("MAIL")));
}
