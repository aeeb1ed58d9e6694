//! SOCKS5 against a scripted proxy, on the driver `tests/common` picks:
//! the request a proxy gets (the server's name unresolved), each failure
//! reply code, a proxy that closes early, answers with another version,
//! refuses every method or says nothing; a tunnel to the scripted SMTP
//! server that STARTTLS runs through with the server's certificate, and
//! where PLAIN stays home; settings that cannot work, refused before
//! anything is sent.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use chrono::DateTime;
use postie_mime::Message;
use postie_smtp::connector::socks5::{Failure, ProxyError};
use postie_smtp::connector::Connectors;
use postie_smtp::{
    blocking, Cause, Credentials, Error, LocalEnv, ProxySettings, Secret, SendOptions,
};
use postie_testkit::{ca_file, closed_port, Cert, Script, ScriptedServer};

fn env() -> LocalEnv {
    LocalEnv {
        hostname: "client.test".to_owned(),
        user: "joe".to_owned(),
        now: DateTime::parse_from_rfc3339("2026-11-28T18:41:39+00:00").unwrap(),
    }
}

fn message() -> Message {
    let mut msg = Message::text("secret body\n");
    msg.headers_mut().set("Subject", "socks").unwrap();
    msg
}

/// What the scripted proxy does after it has read the client's greeting.
#[derive(Clone)]
enum Act {
    /// Choose no authentication, read the CONNECT request, and answer it
    /// with this reply code; on 0, tunnel to the address.
    Reply(u8, Option<SocketAddr>),
    /// Send these bytes and close.
    Raw(&'static [u8]),
    /// Say nothing for a while.
    Silent(Duration),
}

/// A SOCKS5 proxy for one connection, acting as told; it records what the
/// client sent before the tunnel (greeting and request).
struct Proxy {
    addr: SocketAddr,
    got: Arc<Mutex<Vec<u8>>>,
    thread: Option<JoinHandle<()>>,
}

impl Proxy {
    fn start(act: Act) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let got = Arc::new(Mutex::new(Vec::new()));
        let record = Arc::clone(&got);
        let thread = thread::spawn(move || {
            let Ok((mut client, _)) = listener.accept() else {
                return;
            };
            client
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let _ = serve(&mut client, &act, &record);
        });
        Self {
            addr,
            got,
            thread: Some(thread),
        }
    }

    fn settings(&self) -> ProxySettings {
        ProxySettings::new("127.0.0.1", self.addr.port())
    }

    /// The greeting and request the proxy got, once it is done.
    fn finish(mut self) -> Vec<u8> {
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
        self.got.lock().unwrap().clone()
    }
}

fn read_n(stream: &mut TcpStream, n: usize, record: &Mutex<Vec<u8>>) -> io::Result<Vec<u8>> {
    let mut buf = vec![0; n];
    stream.read_exact(&mut buf)?;
    record.lock().unwrap().extend_from_slice(&buf);
    Ok(buf)
}

fn serve(client: &mut TcpStream, act: &Act, record: &Mutex<Vec<u8>>) -> io::Result<()> {
    let head = read_n(client, 2, record)?;
    read_n(client, usize::from(head[1]), record)?;
    match act {
        Act::Raw(bytes) => {
            client.write_all(bytes)?;
            // Closed for writing, and what the client still sends read,
            // so that it sees the end of the stream rather than a reset.
            client.shutdown(Shutdown::Write)?;
            let _ = client.read_to_end(&mut Vec::new());
            return Ok(());
        }
        Act::Silent(time) => {
            thread::sleep(*time);
            return Ok(());
        }
        Act::Reply(..) => client.write_all(&[5, 0])?,
    }
    let request = read_n(client, 4, record)?;
    let len = match request[3] {
        1 => 4,
        4 => 16,
        _ => usize::from(read_n(client, 1, record)?[0]),
    };
    read_n(client, len + 2, record)?;
    let Act::Reply(code, target) = act else {
        unreachable!()
    };
    client.write_all(&[5, *code, 0, 1, 0, 0, 0, 0, 0, 0])?;
    if let (0, Some(target)) = (code, target) {
        tunnel(client, *target)?;
    }
    Ok(())
}

/// Copies both ways between `client` and `target` until both are done.
fn tunnel(client: &mut TcpStream, target: SocketAddr) -> io::Result<()> {
    let server = TcpStream::connect(target)?;
    client.set_read_timeout(None)?;
    let (mut c_in, mut s_out) = (client.try_clone()?, server.try_clone()?);
    let up = thread::spawn(move || {
        let _ = io::copy(&mut c_in, &mut s_out);
        let _ = s_out.shutdown(Shutdown::Write);
    });
    let (mut s_in, mut c_out) = (server, client.try_clone()?);
    let _ = io::copy(&mut s_in, &mut c_out);
    let _ = c_out.shutdown(Shutdown::Write);
    let _ = up.join();
    Ok(())
}

/// Options for `mx.example.test` (a name nothing here resolves), through
/// `proxy`.
fn options(proxy: ProxySettings) -> SendOptions {
    SendOptions::new()
        .servers(["mx.example.test"])
        .ports([25])
        .recipients("a@example.org")
        .timeout(Duration::from_secs(5))
        .proxy(proxy)
}

fn send(options: &SendOptions) -> Result<postie_smtp::Sent, Error> {
    common::send_with_env(&message(), options, &env())
}

/// The proxy's error in a failed send, and its I/O kind.
fn proxy_error(err: &Error) -> (&ProxyError, io::ErrorKind) {
    let Error::NoServer { attempts } = err else {
        panic!("not a connection failure: {err}");
    };
    match attempts[0].cause() {
        Cause::Connect(e) => (
            e.get_ref()
                .and_then(|inner| inner.downcast_ref::<ProxyError>())
                .unwrap_or_else(|| panic!("not a proxy's error: {e}")),
            e.kind(),
        ),
        other => panic!("not a connect failure: {other}"),
    }
}

/// The CONNECT request for `host`:`port` as a name (ATYP 3).
fn request_for_name(host: &str, port: u16) -> Vec<u8> {
    let mut out = vec![5, 1, 0, 3, u8::try_from(host.len()).unwrap()];
    out.extend_from_slice(host.as_bytes());
    out.extend_from_slice(&port.to_be_bytes());
    out
}

#[test]
fn each_failure_reply_is_an_error_naming_proxy_and_code() {
    let words = [
        (1, "the proxy failed (general SOCKS server failure)"),
        (2, "the proxy's rules do not allow this connection"),
        (3, "the network is unreachable from the proxy"),
        (4, "the destination is unreachable from the proxy"),
        (5, "connection refused by the destination"),
        (
            6,
            "the destination did not answer the proxy in time (TTL expired)",
        ),
        (7, "the proxy does not support CONNECT"),
        (8, "the proxy does not support this address type"),
        (9, "a reply code RFC 1928 does not define"),
    ];
    for (code, says) in words {
        let proxy = Proxy::start(Act::Reply(code, None));
        let port = proxy.addr.port();
        let err = send(&options(proxy.settings())).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains(&format!("SOCKS5 proxy 127.0.0.1:{port}: "))
                && text.contains(says)
                && text.contains(&format!("(REP {code})")),
            "REP {code}: {text}"
        );
        let (e, kind) = proxy_error(&err);
        assert!(matches!(e.failure(), Failure::Reply(c) if *c == code));
        if code == 5 {
            assert_eq!(kind, io::ErrorKind::ConnectionRefused);
            assert!(
                text.contains("connection refused by the destination (REP 5)"),
                "{text}"
            );
        }
        // The server's name went to the proxy as a name: it was never
        // resolved here (it would not have resolved).
        let got = proxy.finish();
        assert_eq!(got[..3], [5, 1, 0], "greeting: no authentication only");
        assert_eq!(got[3..], request_for_name("mx.example.test", 25));
    }
}

#[test]
fn a_proxy_that_closes_early_is_an_error() {
    for bytes in [&b""[..], &[5], &[5, 0]] {
        let proxy = Proxy::start(Act::Raw(bytes));
        let err = send(&options(proxy.settings())).unwrap_err();
        let (e, kind) = proxy_error(&err);
        assert!(matches!(e.failure(), Failure::Closed), "{bytes:?}: {err}");
        assert_eq!(kind, io::ErrorKind::UnexpectedEof);
        assert!(
            err.to_string()
                .contains("it closed the connection during the handshake"),
            "{err}"
        );
        proxy.finish();
    }
}

#[test]
fn a_reply_of_another_version_or_garbage_is_an_error() {
    let proxy = Proxy::start(Act::Raw(&[4, 0]));
    let err = send(&options(proxy.settings())).unwrap_err();
    assert!(
        err.to_string()
            .contains("it does not speak SOCKS5: a reply has version 4, not 5"),
        "{err}"
    );
    assert_eq!(proxy_error(&err).1, io::ErrorKind::InvalidData);
    proxy.finish();

    // An HTTP proxy's answer.
    let proxy = Proxy::start(Act::Raw(b"HTTP/1.1 400 Bad Request\r\n\r\n"));
    let err = send(&options(proxy.settings())).unwrap_err();
    assert!(matches!(
        proxy_error(&err).0.failure(),
        Failure::Version(b'H')
    ));
    proxy.finish();

    // A method that was not offered.
    let proxy = Proxy::start(Act::Raw(&[5, 2]));
    let err = send(&options(proxy.settings())).unwrap_err();
    assert!(
        err.to_string()
            .contains("chose authentication method 0x02, which was not offered"),
        "{err}"
    );
    proxy.finish();
}

#[test]
fn every_method_refused_is_an_error_that_suggests_a_user() {
    let proxy = Proxy::start(Act::Raw(&[5, 0xFF]));
    let err = send(&options(proxy.settings())).unwrap_err();
    let (e, kind) = proxy_error(&err);
    assert!(matches!(
        e.failure(),
        Failure::NoAcceptableMethod {
            offered_password: false
        }
    ));
    assert_eq!(kind, io::ErrorKind::PermissionDenied);
    assert!(
        err.to_string().contains(
            "accepts none of the authentication methods offered (none; it may want a user and password)"
        ),
        "{err}"
    );
    proxy.finish();

    // With a user, both methods were offered.
    let proxy = Proxy::start(Act::Raw(&[5, 0xFF]));
    let settings = proxy.settings().user("bob", None);
    let err = send(&options(settings).proxy_password(Secret::new("pw"))).unwrap_err();
    assert!(
        err.to_string().contains("(none, username/password)"),
        "{err}"
    );
    assert_eq!(proxy.finish(), [5, 2, 0, 2]);
}

#[test]
fn a_silent_proxy_fails_within_the_connect_limit() {
    let proxy = Proxy::start(Act::Silent(Duration::from_secs(2)));
    let started = Instant::now();
    let err = send(&options(proxy.settings()).timeout(Duration::from_millis(300))).unwrap_err();
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    let (e, kind) = proxy_error(&err);
    assert!(matches!(e.failure(), Failure::TimedOut(_)), "{err}");
    assert_eq!(kind, io::ErrorKind::TimedOut);
    assert!(
        err.to_string()
            .contains("the handshake did not end within the connect limit"),
        "{err}"
    );
    proxy.finish();
}

#[test]
fn a_proxy_that_is_not_there_is_named() {
    let port = closed_port();
    let err = send(&options(ProxySettings::new("127.0.0.1", port))).unwrap_err();
    let (e, kind) = proxy_error(&err);
    assert!(matches!(e.failure(), Failure::Unreachable(_)), "{err}");
    assert_eq!(kind, io::ErrorKind::ConnectionRefused);
    assert!(!e.is_from_the_destination());
    assert!(
        err.to_string()
            .contains(&format!("SOCKS5 proxy 127.0.0.1:{port}: cannot reach it: ")),
        "{err}"
    );
}

/// A transaction after the greeting (and TLS, if any).
fn transaction(script: Script) -> Script {
    script
        .reply("250 2.1.0 Ok\r\n")
        .reply("250 2.1.5 Ok\r\n")
        .reply("354 go\r\n")
        .read_data()
        .send("250 2.0.0 Ok: queued as S1\r\n")
        .reply("221 bye\r\n")
}

#[test]
fn starttls_runs_through_the_tunnel_against_the_servers_name() {
    let script = Script::new()
        .greet(&["STARTTLS"])
        .reply("220 2.0.0 go ahead\r\n")
        .start_tls(Cert::Trusted)
        .reply("250-scripted.test\r\n250 PIPELINING\r\n");
    let server = ScriptedServer::start(vec![transaction(script)]);
    let proxy = Proxy::start(Act::Reply(0, Some(server.addr())));
    // The test certificate is for localhost: checked against the server's
    // name, not the proxy's address.
    let options = options(proxy.settings())
        .servers(["localhost"])
        .ports([closed_port()])
        .tls_mode(postie_smtp::TlsMode::Required)
        .tls_settings(postie_smtp::TlsSettings {
            ca_files: vec![ca_file()],
            ..postie_smtp::TlsSettings::default()
        });
    let sent = send(&options).unwrap();
    assert!(sent.tls().is_some());
    assert_eq!(sent.queue_id().as_deref(), Some("S1"));
    let sessions = server.finish();
    assert!(sessions[0].tls);
    let got = proxy.finish();
    assert_eq!(
        got[3..],
        request_for_name("localhost", options.server_list()[0].port)
    );
}

#[test]
fn a_proxy_on_loopback_does_not_make_the_server_local() {
    let script = Script::new()
        .greet(&["AUTH PLAIN"])
        .reply("235 2.7.0 Authentication successful\r\n");
    let server = ScriptedServer::start(vec![transaction(script)]);
    let proxy = Proxy::start(Act::Reply(0, Some(server.addr())));
    let options = options(proxy.settings()).credentials(Credentials::new("alice", "pw"));
    let err = send(&options).unwrap_err();
    assert!(err.to_string().contains("password in clear"), "{err}");
    assert!(!server.finish()[0].text().contains("AUTH"));
    proxy.finish();
}

#[test]
fn the_transcript_names_the_proxy() {
    let server = ScriptedServer::start(vec![transaction(Script::new().greet(&["PIPELINING"]))]);
    let proxy = Proxy::start(Act::Reply(0, Some(server.addr())));
    let port = proxy.addr.port();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&lines);
    let options =
        options(proxy.settings()).on_trace(move |line| seen.lock().unwrap().push(line.to_string()));
    send(&options).unwrap();
    let lines = lines.lock().unwrap();
    assert_eq!(
        lines[0],
        format!("* connecting to mx.example.test:25 via SOCKS5 proxy 127.0.0.1:{port}")
    );
    server.finish();
    proxy.finish();
}

#[test]
fn settings_that_cannot_work_are_refused_before_connecting() {
    // The proxy is never reached: each case fails before any connection.
    let nowhere = ProxySettings::new("127.0.0.1", closed_port());
    let cases: Vec<(SendOptions, &str)> = vec![
        (
            options(nowhere.clone().user("bob", None)),
            "user \"bob\" has no password",
        ),
        (
            options(nowhere.clone()).proxy_password(Secret::new("pw")),
            "a password is given without a user",
        ),
        (
            options(nowhere.clone())
                .servers(["/run/dovecot/lmtp"])
                .lmtp(true),
            "is a Unix socket, which cannot be reached through a proxy",
        ),
        (
            options(nowhere.clone()).servers([&"a".repeat(256)]),
            "SOCKS5 carries at most 255",
        ),
        (
            options(nowhere.clone())
                .connectors(Connectors::new().blocking(blocking::TcpConnector::default())),
            "connectors of their own",
        ),
    ];
    for (options, says) in cases {
        let err = send(&options).unwrap_err();
        assert!(
            matches!(err, Error::Invalid(postie_smtp::InvalidInput::Proxy(_))),
            "{err}"
        );
        assert!(err.to_string().contains(says), "{err}");
    }
}
