//! The connector seam, on both drivers against the scripted server: a
//! connector of the test's own opens every connection (to another port
//! than the options name), wraps the socket in a stream of its own that
//! records what went out, and the dialogue (STARTTLS included) runs over
//! that stream; sessions and pools take it too; whether PLAIN may go in
//! clear is the connector's to say; and a connector given for one driver
//! only is never bypassed by the other.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::DateTime;
use postie_mime::Message;
use postie_smtp::blocking::{self, Connection};
use postie_smtp::connector::{ConnectError, Connectors};
use postie_smtp::{Credentials, LocalEnv, Secret, SendOptions, ServerAddr};
use postie_testkit::{ca_file, closed_port, Cert, Script, ScriptedServer};

fn env() -> LocalEnv {
    LocalEnv {
        hostname: "client.test".to_owned(),
        user: "joe".to_owned(),
        now: DateTime::parse_from_rfc3339("2026-11-28T18:41:39+00:00").unwrap(),
    }
}

fn message(n: usize) -> Message {
    let mut msg = Message::text(format!("secret body {n}\n"));
    msg.headers_mut().set("Subject", "connector").unwrap();
    msg
}

/// Options that name `localhost` (the test certificate's name) on a port
/// where nothing listens: only a connector that goes elsewhere reaches
/// the scripted server.
fn options() -> SendOptions {
    SendOptions::new()
        .servers(["localhost"])
        .ports([closed_port()])
        .recipients("a@example.org")
        .timeout(Duration::from_secs(5))
}

fn tls_options() -> SendOptions {
    options().tls_settings(postie_smtp::TlsSettings {
        ca_files: vec![ca_file()],
        ..postie_smtp::TlsSettings::default()
    })
}

/// What the test's connectors saw: the connections they opened and every
/// byte written through their streams.
#[derive(Clone, Default)]
struct Tap {
    connections: Arc<AtomicUsize>,
    written: Arc<Mutex<Vec<u8>>>,
}

impl Tap {
    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    fn written(&self) -> String {
        String::from_utf8_lossy(&self.written.lock().unwrap()).into_owned()
    }
}

/// Connects to the scripted server at `port` whatever the options say, and
/// says the connection is local only when told to.
#[derive(Clone)]
struct Redirect {
    port: u16,
    local: bool,
    tap: Tap,
}

impl Redirect {
    fn to(server: &ScriptedServer) -> Self {
        Self {
            port: server.port(),
            local: true,
            tap: Tap::default(),
        }
    }
}

/// The blocking connector's stream: a TCP socket that records writes.
struct Tapped {
    tcp: TcpStream,
    written: Arc<Mutex<Vec<u8>>>,
}

impl Read for Tapped {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.tcp.read(buf)
    }
}

impl Write for Tapped {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.tcp.write(buf)?;
        self.written
            .lock()
            .unwrap()
            .extend_from_slice(buf.get(..n).unwrap_or_default());
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tcp.flush()
    }
}

impl blocking::Stream for Tapped {
    fn set_read_timeout(&self, limit: Duration) -> io::Result<()> {
        self.tcp.set_read_timeout(Some(limit))
    }

    fn set_write_timeout(&self, limit: Duration) -> io::Result<()> {
        self.tcp.set_write_timeout(Some(limit))
    }

    fn looks_alive(&mut self) -> bool {
        blocking::Stream::looks_alive(&mut self.tcp)
    }
}

impl blocking::Connector for Redirect {
    fn connect(&self, server: &ServerAddr, timeout: Duration) -> Result<Connection, ConnectError> {
        assert_eq!(server.host, "localhost");
        self.tap.connections.fetch_add(1, Ordering::SeqCst);
        let addr = ([127, 0, 0, 1], self.port).into();
        let tcp = TcpStream::connect_timeout(&addr, timeout)?;
        tcp.set_nodelay(true)?;
        let stream = Tapped {
            tcp,
            written: Arc::clone(&self.tap.written),
        };
        Ok(Connection::new(stream).local(self.local))
    }
}

/// A whole transaction after the greeting (and TLS, if any).
fn transaction(script: Script, id: &str) -> Script {
    script
        .reply("250 2.1.0 Ok\r\n")
        .reply("250 2.1.5 Ok\r\n")
        .reply("354 go\r\n")
        .read_data()
        .send(format!("250 2.0.0 Ok: queued as {id}\r\n"))
}

fn plain_server(messages: usize) -> ScriptedServer {
    let mut script = Script::new().greet(&["PIPELINING"]);
    for n in 0..messages {
        script = transaction(script, &format!("C{n}"));
    }
    ScriptedServer::start(vec![script.reply("221 bye\r\n")])
}

fn starttls_server() -> ScriptedServer {
    let script = Script::new()
        .greet(&["STARTTLS"])
        .reply("220 2.0.0 go ahead\r\n")
        .start_tls(Cert::Trusted)
        .reply("250-scripted.test\r\n250 PIPELINING\r\n");
    ScriptedServer::start(vec![transaction(script, "T1").reply("221 bye\r\n")])
}

fn auth_server() -> ScriptedServer {
    let script = Script::new()
        .greet(&["AUTH PLAIN"])
        .reply("235 2.7.0 Authentication successful\r\n");
    ScriptedServer::start(vec![transaction(script, "A1").reply("221 bye\r\n")])
}

fn with_credentials(options: SendOptions) -> SendOptions {
    options.credentials(Credentials {
        username: "alice".to_owned(),
        secret: Secret::new("pw"),
        authzid: None,
    })
}

/// Checks a plain send that went through the connector.
fn check_plain(server: ScriptedServer, tap: &Tap) {
    assert_eq!(tap.connections(), 1);
    let sessions = server.finish();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].commands[0], "EHLO localhost");
    // Everything the server got went through the connector's stream.
    assert!(tap.written().starts_with("EHLO localhost\r\n"));
    assert!(tap.written().contains("secret body 1"));
    assert_eq!(tap.written().as_bytes(), sessions[0].bytes);
}

/// Checks a STARTTLS send over the connector's stream: the handshake and
/// everything after it went through the stream, encrypted.
fn check_starttls(sent: &postie_smtp::Sent, server: ScriptedServer, tap: &Tap) {
    assert!(sent.tls().is_some());
    assert_eq!(tap.connections(), 1);
    let sessions = server.finish();
    assert!(sessions[0].tls);
    assert_eq!(
        sessions[0].commands[..3],
        ["EHLO localhost", "STARTTLS", "EHLO localhost"]
    );
    let written = tap.written();
    assert!(written.starts_with("EHLO localhost\r\nSTARTTLS\r\n"));
    assert!(written.len() > "EHLO localhost\r\nSTARTTLS\r\n".len() + 200);
    assert!(!written.contains("secret body"), "the body went in clear");
    assert!(!written.contains("MAIL FROM"), "MAIL went in clear");
}

#[test]
fn blocking_a_connector_opens_the_connection_the_dialogue_runs_over() {
    let server = plain_server(1);
    let redirect = Redirect::to(&server);
    let options = options().connectors(Connectors::new().blocking(redirect.clone()));
    let sent = blocking::send_with_env(&message(1), &options, &env()).unwrap();
    assert_eq!(sent.queue_id().as_deref(), Some("C0"));
    // The server is reported as the options named it.
    assert_eq!(sent.server().host, "localhost");
    check_plain(server, &redirect.tap);
}

#[test]
fn blocking_starttls_runs_over_the_connectors_stream() {
    let server = starttls_server();
    let redirect = Redirect::to(&server);
    let options = tls_options().connectors(Connectors::new().blocking(redirect.clone()));
    let sent = blocking::send_with_env(&message(1), &options, &env()).unwrap();
    check_starttls(&sent, server, &redirect.tap);
}

#[test]
fn blocking_sessions_and_pools_open_through_their_connector() {
    let server = plain_server(2);
    let redirect = Redirect::to(&server);
    let mut session = blocking::Session::with_env(options(), env()).connector(redirect.clone());
    for n in 1..=2 {
        session.send(&message(n)).unwrap();
    }
    session.close();
    assert_eq!(
        redirect.tap.connections(),
        1,
        "one connection, two messages"
    );
    assert_eq!(server.finish()[0].data.len(), 2);

    let server = plain_server(1);
    let redirect = Redirect::to(&server);
    let pool = blocking::Pool::new(options())
        .env(env())
        .connector(redirect.clone());
    pool.send(&message(1)).unwrap();
    pool.close_idle();
    check_plain(server, &redirect.tap);
}

#[test]
fn blocking_plain_auth_in_clear_only_where_the_connector_says_local() {
    let server = auth_server();
    let redirect = Redirect::to(&server);
    let options = with_credentials(options()).connectors(Connectors::new().blocking(redirect));
    let sent = blocking::send_with_env(&message(1), &options, &env()).unwrap();
    assert_eq!(sent.auth(), Some("PLAIN"));
    server.finish();

    // A connection the connector does not call local (a proxy's, say),
    // though its socket is on loopback: the password stays home.
    let server = auth_server();
    let redirect = Redirect {
        local: false,
        ..Redirect::to(&server)
    };
    let options =
        with_credentials(self::options()).connectors(Connectors::new().blocking(redirect));
    let err = blocking::send_with_env(&message(1), &options, &env()).unwrap_err();
    assert!(err.to_string().contains("password in clear"), "{err}");
    assert!(!server.finish()[0].text().contains("AUTH"));
}

#[cfg(feature = "tokio")]
mod on_tokio {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use postie_smtp::async_tokio::{self, ConnectFuture};
    use postie_smtp::Error;
    use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

    use super::*;

    /// Whether `err` is the refusal of a driver that was given no
    /// connector, with a cause of `Connect`.
    fn refused_for_want_of_a_connector(err: &Error, other: &str) -> bool {
        let cause = err.server_error().map(postie_smtp::ServerError::cause);
        matches!(cause, Some(postie_smtp::Cause::Connect(_)))
            && err
                .to_string()
                .contains(&format!("a connector for the {other} driver only"))
    }

    fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(future)
    }

    /// The tokio connector's stream: a TCP socket that records writes.
    struct AsyncTapped {
        tcp: tokio::net::TcpStream,
        written: Arc<Mutex<Vec<u8>>>,
    }

    impl AsyncRead for AsyncTapped {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            Pin::new(&mut self.tcp).poll_read(cx, buf)
        }
    }

    impl AsyncWrite for AsyncTapped {
        fn poll_write(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            let this = &mut *self;
            let polled = Pin::new(&mut this.tcp).poll_write(cx, buf);
            if let Poll::Ready(Ok(n)) = polled {
                this.written
                    .lock()
                    .unwrap()
                    .extend_from_slice(buf.get(..n).unwrap_or_default());
            }
            polled
        }

        fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.tcp).poll_flush(cx)
        }

        fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.tcp).poll_shutdown(cx)
        }
    }

    impl async_tokio::Stream for AsyncTapped {
        fn looks_alive(&mut self, cx: &mut Context<'_>) -> bool {
            async_tokio::Stream::looks_alive(&mut self.tcp, cx)
        }
    }

    impl async_tokio::Connector for Redirect {
        fn connect<'a>(&'a self, server: &'a ServerAddr, timeout: Duration) -> ConnectFuture<'a> {
            Box::pin(async move {
                assert_eq!(server.host, "localhost");
                self.tap.connections.fetch_add(1, Ordering::SeqCst);
                let connecting = tokio::net::TcpStream::connect(("127.0.0.1", self.port));
                let tcp = tokio::time::timeout(timeout, connecting)
                    .await
                    .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
                tcp.set_nodelay(true)?;
                let stream = AsyncTapped {
                    tcp,
                    written: Arc::clone(&self.tap.written),
                };
                Ok(async_tokio::Connection::new(stream).local(self.local))
            })
        }
    }

    #[test]
    fn tokio_a_connector_opens_the_connection_the_dialogue_runs_over() {
        let server = plain_server(1);
        let redirect = Redirect::to(&server);
        let options = options().connectors(Connectors::new().tokio(redirect.clone()));
        let sent = block_on(async_tokio::send_with_env(&message(1), &options, &env())).unwrap();
        assert_eq!(sent.queue_id().as_deref(), Some("C0"));
        assert_eq!(sent.server().host, "localhost");
        check_plain(server, &redirect.tap);
    }

    #[test]
    fn tokio_starttls_runs_over_the_connectors_stream() {
        let server = starttls_server();
        let redirect = Redirect::to(&server);
        let options = tls_options().connectors(Connectors::new().tokio(redirect.clone()));
        let sent = block_on(async_tokio::send_with_env(&message(1), &options, &env())).unwrap();
        check_starttls(&sent, server, &redirect.tap);
    }

    #[test]
    fn tokio_sessions_and_pools_open_through_their_connector() {
        let server = plain_server(2);
        let redirect = Redirect::to(&server);
        block_on(async {
            let mut session =
                async_tokio::Session::with_env(options(), env()).connector(redirect.clone());
            for n in 1..=2 {
                session.send(&message(n)).await.unwrap();
            }
            session.close().await;
        });
        assert_eq!(
            redirect.tap.connections(),
            1,
            "one connection, two messages"
        );
        assert_eq!(server.finish()[0].data.len(), 2);

        let server = plain_server(1);
        let redirect = Redirect::to(&server);
        let pool = async_tokio::Pool::new(options())
            .env(env())
            .connector(redirect.clone());
        block_on(async {
            pool.send(&message(1)).await.unwrap();
            pool.close_idle().await;
        });
        check_plain(server, &redirect.tap);
    }

    #[test]
    fn tokio_plain_auth_in_clear_only_where_the_connector_says_local() {
        let server = auth_server();
        let redirect = Redirect {
            local: false,
            ..Redirect::to(&server)
        };
        let options = with_credentials(options()).connectors(Connectors::new().tokio(redirect));
        let err = block_on(async_tokio::send_with_env(&message(1), &options, &env())).unwrap_err();
        assert!(err.to_string().contains("password in clear"), "{err}");
        assert!(!server.finish()[0].text().contains("AUTH"));
    }

    /// Options meant for a proxy on one driver must not connect directly
    /// on the other: each driver refuses when only the other has one.
    #[test]
    fn a_connector_for_one_driver_only_is_never_bypassed_by_the_other() {
        // A server that would take the message, named directly.
        let server = plain_server(1);
        let direct = SendOptions::new()
            .servers(["127.0.0.1"])
            .ports([server.port()])
            .recipients("a@example.org")
            .timeout(Duration::from_secs(5));
        let redirect = Redirect::to(&server);

        let blocking_only = direct
            .clone()
            .connectors(Connectors::new().blocking(redirect.clone()));
        let err = block_on(async_tokio::send_with_env(
            &message(1),
            &blocking_only,
            &env(),
        ))
        .unwrap_err();
        assert!(refused_for_want_of_a_connector(&err, "blocking"), "{err}");

        let tokio_only = direct.connectors(Connectors::new().tokio(redirect.clone()));
        let err = blocking::send_with_env(&message(1), &tokio_only, &env()).unwrap_err();
        assert!(refused_for_want_of_a_connector(&err, "tokio"), "{err}");
        assert_eq!(redirect.tap.connections(), 0);

        // Neither connected: the server's one script is still there for
        // the driver that has its connector.
        let options = SendOptions::new()
            .servers(["localhost"])
            .ports([closed_port()])
            .recipients("a@example.org")
            .timeout(Duration::from_secs(5))
            .connectors(Connectors::new().blocking(redirect.clone()));
        blocking::send_with_env(&message(1), &options, &env()).unwrap();
        assert_eq!(redirect.tap.connections(), 1);
        assert_eq!(server.finish().len(), 1);
    }
}
