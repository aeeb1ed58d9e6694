//! SOCKS5 through the real proxies `scripts/servers.sh` starts (microsocks,
//! without authentication and with a user and password) to the test
//! Postfix, on the driver `tests/common` picks: plain SMTP, STARTTLS and
//! implicit TLS through the tunnel (certificates checked against the
//! server's name), a name the proxy resolves, the proxy's user and a wrong
//! password, a destination that refuses. With `CI` set a missing server
//! fails; elsewhere these tests skip.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use postie_mime::Message;
use postie_smtp::connector::socks5::{Failure, ProxyError};
use postie_smtp::tls::TlsErrorKind;
use postie_smtp::{
    Cause, Credentials, Error, ProxySettings, Secret, SendOptions, Stage, TlsMode, TlsSettings,
};
use postie_testkit::{closed_port, real_path, real_server, wait_for, RealServer};

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
    let mut msg = Message::text(format!("Through the proxy.\ntoken {token}\n"));
    msg.headers_mut()
        .set("Subject", &format!("socks {token}"))
        .unwrap();
    msg
}

/// Waits for a message holding `token` in the Maildir of `local`@example.org.
fn delivered(mail: &Path, local: &str, token: &str) -> bool {
    let dir: PathBuf = mail.join("example.org").join(local).join("new");
    wait_for(Duration::from_secs(20), || {
        fs::read_dir(&dir)
            .ok()?
            .flatten()
            .find(|e| fs::read_to_string(e.path()).is_ok_and(|t| t.contains(token)))
    })
    .is_some()
}

struct Setup {
    proxy: RealServer,
    auth_proxy: RealServer,
    mail: PathBuf,
    ca: PathBuf,
}

fn setup() -> Option<Setup> {
    Some(Setup {
        proxy: real_server("POSTIE_TEST_SOCKS")?,
        auth_proxy: real_server("POSTIE_TEST_SOCKS_AUTH")?,
        mail: real_path("POSTIE_TEST_POSTFIX_MAIL")?,
        ca: real_path("POSTIE_TEST_CA")?,
    })
}

fn proxy(server: &RealServer) -> ProxySettings {
    ProxySettings::new(server.host.clone(), server.port)
}

/// Options for the real server in `var`, named `host` (its port kept),
/// through `proxy`, trusting the test CA.
fn options(s: &Setup, var: &str, host: &str, proxy: ProxySettings) -> SendOptions {
    let server = real_server(var).unwrap();
    SendOptions::new()
        .servers([host])
        .ports([server.port])
        .timeout(Duration::from_secs(20))
        .tls_settings(TlsSettings {
            ca_files: vec![s.ca.clone()],
            ..TlsSettings::default()
        })
        .proxy(proxy)
}

/// The proxy's error in a failed send.
fn proxy_error(err: &Error) -> &ProxyError {
    let Error::NoServer { attempts } = err else {
        panic!("not a connection failure: {err}");
    };
    match attempts[0].cause() {
        Cause::Connect(e) => e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<ProxyError>())
            .unwrap_or_else(|| panic!("not a proxy's error: {e}")),
        other => panic!("not a connect failure: {other}"),
    }
}

#[test]
fn plain_smtp_through_the_proxy_delivers() {
    let Some(s) = setup() else { return };
    let server = real_server("POSTIE_TEST_POSTFIX").unwrap();
    let token = token();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&lines);
    let options = options(&s, "POSTIE_TEST_POSTFIX", &server.host, proxy(&s.proxy))
        .recipients("socks-plain@example.org")
        .on_trace(move |line| seen.lock().unwrap().push(line.to_string()));
    let sent = common::send(&message(&token), &options).unwrap();
    assert!(sent.tls().is_none());
    assert!(delivered(&s.mail, "socks-plain", &token));
    assert_eq!(
        lines.lock().unwrap()[0],
        format!(
            "* connecting to {}:{} via SOCKS5 proxy {}:{}",
            server.host, server.port, s.proxy.host, s.proxy.port
        )
    );
}

#[test]
fn a_name_is_resolved_by_the_proxy() {
    let Some(s) = setup() else { return };
    let token = token();
    let options = options(&s, "POSTIE_TEST_POSTFIX", "localhost", proxy(&s.proxy))
        .recipients("socks-name@example.org");
    let sent = common::send(&message(&token), &options).unwrap();
    assert_eq!(sent.server().host, "localhost");
    assert!(delivered(&s.mail, "socks-name", &token));
}

#[test]
fn starttls_through_the_proxy_checks_the_servers_name() {
    let Some(s) = setup() else { return };
    let token = token();
    let options = options(
        &s,
        "POSTIE_TEST_POSTFIX_STARTTLS",
        "localhost",
        proxy(&s.proxy),
    )
    .tls_mode(TlsMode::Required)
    .recipients("socks-starttls@example.org");
    let sent = common::send(&message(&token), &options).unwrap();
    let tls = sent.tls().expect("STARTTLS was used");
    assert!(tls.version.starts_with("TLSv1."), "{tls:?}");
    assert!(delivered(&s.mail, "socks-starttls", &token));

    // The certificate of a server with another name is refused through the
    // tunnel as it is directly.
    let options = self::options(
        &s,
        "POSTIE_TEST_POSTFIX_WRONG_NAME",
        "localhost",
        proxy(&s.proxy),
    )
    .recipients("never@example.org");
    let err = common::send(&message(&token), &options).unwrap_err();
    let failure = err.server_error().unwrap();
    assert_eq!(failure.stage(), Stage::StartTls, "{err}");
    match failure.cause() {
        Cause::Tls(tls) => assert_eq!(tls.kind(), TlsErrorKind::WrongName, "{tls}"),
        other => panic!("{other}"),
    }
}

#[test]
fn implicit_tls_and_auth_through_the_proxy() {
    let Some(s) = setup() else { return };
    let token = token();
    let options = options(
        &s,
        "POSTIE_TEST_POSTFIX_SMTPS",
        "localhost",
        proxy(&s.proxy),
    )
    .tls_mode(TlsMode::Implicit)
    .credentials(Credentials {
        username: var("POSTIE_TEST_SASL_USER"),
        secret: Secret::new(var("POSTIE_TEST_SASL_PASSWORD")),
        authzid: None,
    })
    .recipients("socks-smtps@example.org");
    let sent = common::send(&message(&token), &options).unwrap();
    assert!(sent.tls().is_some());
    assert!(sent.auth().is_some());
    assert!(delivered(&s.mail, "socks-smtps", &token));
}

#[test]
fn the_proxys_user_and_password_open_the_way() {
    let Some(s) = setup() else { return };
    let token = token();
    let user = var("POSTIE_TEST_SOCKS_USER");
    let with_user = proxy(&s.auth_proxy).user(&user, None);
    let options = options(&s, "POSTIE_TEST_POSTFIX", "localhost", with_user.clone())
        .proxy_password(Secret::new(var("POSTIE_TEST_SOCKS_PASSWORD")))
        .recipients("socks-auth@example.org");
    common::send(&message(&token), &options).unwrap();
    assert!(delivered(&s.mail, "socks-auth", &token));

    // A wrong password.
    let options = self::options(&s, "POSTIE_TEST_POSTFIX", "localhost", with_user)
        .proxy_password(Secret::new("not-the-password"))
        .recipients("never@example.org");
    let err = common::send(&message(&token), &options).unwrap_err();
    assert!(
        matches!(proxy_error(&err).failure(), Failure::AuthRefused(_)),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains(&format!(
            "SOCKS5 proxy {}:{}: it refused the username and password (status ",
            s.auth_proxy.host, s.auth_proxy.port
        )),
        "{text}"
    );
    assert!(!text.contains("not-the-password"), "{text}");

    // No user at all: the proxy takes no method offered.
    let options = self::options(&s, "POSTIE_TEST_POSTFIX", "localhost", proxy(&s.auth_proxy))
        .recipients("never@example.org");
    let err = common::send(&message(&token), &options).unwrap_err();
    assert!(
        matches!(
            proxy_error(&err).failure(),
            Failure::NoAcceptableMethod {
                offered_password: false
            }
        ),
        "{err}"
    );
}

#[test]
fn a_destination_that_refuses_is_rep_5() {
    let Some(s) = setup() else { return };
    let options = SendOptions::new()
        .servers(["127.0.0.1"])
        .ports([closed_port()])
        .timeout(Duration::from_secs(20))
        .recipients("never@example.org")
        .proxy(proxy(&s.proxy));
    let err = common::send(&message(&token()), &options).unwrap_err();
    assert!(
        err.to_string().contains(&format!(
            "SOCKS5 proxy {}:{}: connection refused by the destination (REP 5)",
            s.proxy.host, s.proxy.port
        )),
        "{err}"
    );
    assert!(proxy_error(&err).is_from_the_destination());
}
