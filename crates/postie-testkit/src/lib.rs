//! Test support for postie.
//!
//! - [`ScriptedServer`]: an SMTP server on loopback whose every reply a test
//!   scripts byte for byte, and which records everything the client sent.
//!   It is for what real servers will not do: a 421 greeting, a drop in the
//!   middle of a reply, a reply nobody asked for, silence.
//! - [`real_server`]: where the real servers that `scripts/test.sh` starts
//!   are. When `CI` is set a missing server fails the test; elsewhere the
//!   test is skipped with a note.
//! - [`freed`] (Linux): what a dropped buffer left in the memory it freed,
//!   for the tests that check that secrets are wiped.
//! - [`dkim`]: the DKIM verifiers (dkimpy, OpenDKIM) over stored messages.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

pub mod dkim;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// How long the scripted server waits for a connection or for a line before
/// it gives up, so that a broken test fails instead of hanging.
const PATIENCE: Duration = Duration::from_secs(20);

/// One thing the server does.
#[derive(Clone, Debug)]
enum Action {
    Send(Vec<u8>),
    ReadLine,
    ReadData,
    ReadBdat,
    Sleep(Duration),
    Trickle(Vec<u8>, Duration),
    ReadSlowly {
        chunk: usize,
        delay: Duration,
        limit: Duration,
    },
    Close,
    Abort,
    StartTls(Cert),
}

/// Which certificate the scripted server presents in a TLS handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cert {
    /// Signed by the test CA ([`ca_file`]) for `localhost` and `127.0.0.1`.
    Trusted,
    /// Signed by the test CA, for `wrong.example` only.
    WrongName,
    /// Self-signed, for `localhost` and `127.0.0.1`.
    SelfSigned,
    /// Self-signed and marked as a CA (basicConstraints CA:TRUE), as
    /// `openssl req -x509` makes by default; for `localhost` and `127.0.0.1`.
    SelfSignedCa,
}

impl Cert {
    fn stem(self) -> &'static str {
        match self {
            Self::Trusted => "server",
            Self::WrongName => "wrongname",
            Self::SelfSigned => "selfsigned",
            Self::SelfSignedCa => "selfsigned_ca",
        }
    }
}

/// The test CA that signed [`Cert::Trusted`] and [`Cert::WrongName`].
pub fn ca_file() -> PathBuf {
    certs_dir().join("ca.pem")
}

fn certs_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("certs")
}

fn server_config(cert: Cert) -> Arc<rustls::ServerConfig> {
    let dir = certs_dir();
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(dir.join(format!("{}.pem", cert.stem())))
            .expect("cert file")
            .collect::<Result<_, _>>()
            .expect("cert");
    let key = PrivateKeyDer::from_pem_file(dir.join(format!("{}.key", cert.stem()))).expect("key");
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("server config");
    Arc::new(config)
}

/// What the server does on one connection, in order.
///
/// ```
/// use postie_testkit::Script;
/// let script = Script::new()
///     .send("220 scripted ESMTP\r\n")
///     .reply("250 ok\r\n")      // read the client's EHLO, answer it
///     .close();
/// ```
#[derive(Clone, Debug, Default)]
pub struct Script(Vec<Action>);

impl Script {
    /// Nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sends these bytes as they are.
    pub fn send(mut self, bytes: impl AsRef<[u8]>) -> Self {
        self.0.push(Action::Send(bytes.as_ref().to_vec()));
        self
    }

    /// Reads one line from the client (recorded).
    pub fn read_line(mut self) -> Self {
        self.0.push(Action::ReadLine);
        self
    }

    /// Reads one line, then sends `bytes`.
    pub fn reply(self, bytes: impl AsRef<[u8]>) -> Self {
        self.read_line().send(bytes)
    }

    /// Reads message data up to and including the line holding only `.`.
    pub fn read_data(mut self) -> Self {
        self.0.push(Action::ReadData);
        self
    }

    /// Reads a `BDAT <n> [LAST]` command (recorded) and exactly the `n`
    /// octets after it (recorded as data).
    pub fn read_bdat(mut self) -> Self {
        self.0.push(Action::ReadBdat);
        self
    }

    /// Waits.
    pub fn sleep(mut self, time: Duration) -> Self {
        self.0.push(Action::Sleep(time));
        self
    }

    /// Sends these bytes one at a time, waiting `delay` after each: a
    /// slow server (slowloris in reverse), for the time limits.
    pub fn trickle(mut self, bytes: impl AsRef<[u8]>, delay: Duration) -> Self {
        self.0.push(Action::Trickle(bytes.as_ref().to_vec(), delay));
        self
    }

    /// Reads at most `chunk` bytes from the connection every `delay`, for
    /// at most `limit` or until the client closes: a server that takes the
    /// data slowly, so each of the client's writes makes a little progress
    /// and then blocks, for the deadline. What it reads is dropped.
    pub fn read_slowly(mut self, chunk: usize, delay: Duration, limit: Duration) -> Self {
        self.0.push(Action::ReadSlowly {
            chunk,
            delay,
            limit,
        });
        self
    }

    /// Closes the connection. Before it does, what the client still sends
    /// is read and recorded, until the client closes too or is quiet for
    /// 200 ms, so the close is an orderly one (FIN).
    pub fn close(mut self) -> Self {
        self.0.push(Action::Close);
        self
    }

    /// Closes the connection at once, reading nothing more: whatever the
    /// client sent that was not read yet makes the close a reset (RST), as
    /// when a server dies in the middle of the message.
    pub fn abort(mut self) -> Self {
        self.0.push(Action::Abort);
        self
    }

    /// Runs a TLS handshake as the server, presenting `cert`; what follows
    /// goes over TLS. A failed handshake ends the script.
    pub fn start_tls(mut self, cert: Cert) -> Self {
        self.0.push(Action::StartTls(cert));
        self
    }

    /// The usual opening: greeting, then an EHLO answered with `caps`
    /// (each a capability line; none gives a one-line 250).
    pub fn greet(self, caps: &[&str]) -> Self {
        let mut ehlo = String::new();
        if caps.is_empty() {
            ehlo.push_str("250 scripted.test\r\n");
        } else {
            ehlo.push_str("250-scripted.test\r\n");
            for (i, cap) in caps.iter().enumerate() {
                let sep = if i + 1 == caps.len() { ' ' } else { '-' };
                ehlo.push_str(&format!("250{sep}{cap}\r\n"));
            }
        }
        self.send("220 scripted.test ESMTP\r\n").reply(ehlo)
    }
}

/// What one connection saw from the client.
#[derive(Clone, Debug, Default)]
pub struct Session {
    /// Every byte the client sent, in order.
    pub bytes: Vec<u8>,
    /// The lines read with `read_line`, without CRLF.
    pub commands: Vec<String>,
    /// The data read with `read_data`, as on the wire (dot-stuffed, CRLF).
    pub data: Vec<Vec<u8>>,
    /// Whether a TLS handshake completed.
    pub tls: bool,
    /// Whether a TLS handshake was tried and failed.
    pub tls_failed: bool,
}

impl Session {
    /// Everything the client sent, as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
}

/// A server that plays one [`Script`] per connection, in order.
pub struct ScriptedServer {
    addr: SocketAddr,
    thread: Option<JoinHandle<Vec<Session>>>,
}

impl ScriptedServer {
    /// Listens on a free loopback port and plays `scripts`, one connection
    /// each.
    pub fn start(scripts: Vec<Script>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        listener.set_nonblocking(true).expect("nonblocking");
        let thread = thread::spawn(move || {
            let mut sessions = Vec::new();
            for script in scripts {
                let Some(stream) = accept(&listener) else {
                    break;
                };
                sessions.push(play(stream, script));
            }
            sessions
        });
        Self {
            addr,
            thread: Some(thread),
        }
    }

    /// The address to connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The port to connect to.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Waits for the scripts to end and returns what each connection saw.
    pub fn finish(mut self) -> Vec<Session> {
        self.thread
            .take()
            .map(|t| t.join().expect("scripted server thread"))
            .unwrap_or_default()
    }
}

fn accept(listener: &TcpListener) -> Option<TcpStream> {
    let until = Instant::now() + PATIENCE;
    while Instant::now() < until {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false).ok()?;
                return Some(stream);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(5));
            }
            Err(_) => return None,
        }
    }
    None
}

trait ReadWrite: Read + Write + Send {}
impl<T: Read + Write + Send> ReadWrite for T {}
type Io = Box<dyn ReadWrite>;

fn play(stream: TcpStream, script: Script) -> Session {
    let mut session = Session::default();
    stream.set_read_timeout(Some(PATIENCE)).ok();
    let raw = stream.try_clone().expect("clone stream");
    let mut reader = BufReader::new(Box::new(stream) as Io);
    for action in script.0 {
        match action {
            Action::Send(bytes) => {
                let io = reader.get_mut();
                if io.write_all(&bytes).and_then(|()| io.flush()).is_err() {
                    break;
                }
            }
            Action::ReadLine => {
                let mut line = Vec::new();
                match reader.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        session.bytes.extend_from_slice(&line);
                        let text = String::from_utf8_lossy(&line);
                        session
                            .commands
                            .push(text.trim_end_matches(['\r', '\n']).to_owned());
                    }
                }
            }
            Action::ReadData => {
                let mut data = Vec::new();
                let mut ok = true;
                loop {
                    let mut line = Vec::new();
                    match reader.read_until(b'\n', &mut line) {
                        Ok(0) | Err(_) => {
                            ok = false;
                            break;
                        }
                        Ok(_) => {
                            session.bytes.extend_from_slice(&line);
                            let end = line == b".\r\n";
                            data.extend_from_slice(&line);
                            if end {
                                break;
                            }
                        }
                    }
                }
                session.data.push(data);
                if !ok {
                    break;
                }
            }
            Action::ReadBdat => {
                let mut line = Vec::new();
                if !matches!(reader.read_until(b'\n', &mut line), Ok(n) if n > 0) {
                    break;
                }
                session.bytes.extend_from_slice(&line);
                let text = String::from_utf8_lossy(&line)
                    .trim_end_matches(['\r', '\n'])
                    .to_owned();
                let size = text
                    .split_whitespace()
                    .nth(1)
                    .and_then(|n| n.parse::<usize>().ok());
                session.commands.push(text);
                let Some(size) = size else {
                    break;
                };
                let mut data = vec![0u8; size];
                if reader.read_exact(&mut data).is_err() {
                    break;
                }
                session.bytes.extend_from_slice(&data);
                session.data.push(data);
            }
            Action::Sleep(time) => thread::sleep(time),
            Action::Trickle(bytes, delay) => {
                let io = reader.get_mut();
                let sent = bytes.iter().all(|byte| {
                    let ok = io
                        .write_all(std::slice::from_ref(byte))
                        .and_then(|()| io.flush())
                        .is_ok();
                    thread::sleep(delay);
                    ok
                });
                if !sent {
                    break;
                }
            }
            Action::ReadSlowly {
                chunk,
                delay,
                limit,
            } => {
                let until = Instant::now() + limit;
                // What the line reader already holds is dropped first; the
                // rest is read from the connection itself, so the client's
                // kernel sees a steady trickle rather than a buffer's worth
                // taken at once now and then.
                let held = reader.buffer().len();
                reader.consume(held);
                let io = reader.get_mut();
                let mut buf = vec![0; chunk];
                while Instant::now() < until {
                    match io.read(&mut buf) {
                        Ok(0) => break,
                        Ok(_) => thread::sleep(delay),
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                        Err(_) => break,
                    }
                }
            }
            Action::Close => break,
            Action::Abort => return session,
            Action::StartTls(cert) => {
                let io = reader.into_inner();
                let conn =
                    rustls::ServerConnection::new(server_config(cert)).expect("server connection");
                let mut tls = rustls::StreamOwned::new(conn, io);
                let mut ok = true;
                while tls.conn.is_handshaking() {
                    if tls.conn.complete_io(&mut tls.sock).is_err() {
                        ok = false;
                        break;
                    }
                }
                reader = BufReader::new(Box::new(tls) as Io);
                if !ok {
                    session.tls_failed = true;
                    break;
                }
                session.tls = true;
            }
        }
    }
    // Whatever else the client sends before it closes (QUIT, say).
    let _ = raw.set_read_timeout(Some(Duration::from_millis(200)));
    let mut rest = Vec::new();
    let _ = reader.read_to_end(&mut rest);
    session.bytes.extend_from_slice(&rest);
    session
}

/// A port on loopback where nothing listens (bound, then released).
///
/// It is taken below 32768, outside the range the kernel hands out for
/// port 0: a port released from that range can be given at once to a
/// server another test starts meanwhile, which then answers where the
/// test expected a refused connection (seen in CI as a "connection
/// reset" at the greeting of the "closed" port).
pub fn closed_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    // Spread by process, so parallel test binaries rarely try the same
    // ports (a clash would only mean two tests share a closed port).
    let base = 20_000 + (std::process::id() % 4_000) as u16 * 2;
    for _ in 0..4_000 {
        let offset = NEXT.fetch_add(1, Ordering::Relaxed) % 12_000;
        let port = 20_000 + (base - 20_000 + offset) % 12_000;
        if let Ok(listener) = TcpListener::bind(("127.0.0.1", port)) {
            drop(listener);
            return port;
        }
    }
    panic!("no free port below 32768 on loopback");
}

/// A real server started by `scripts/test.sh`, from its environment
/// variable (e.g. `POSTIE_TEST_POSTFIX=127.0.0.1:10025`).
#[derive(Clone, Debug)]
pub struct RealServer {
    /// Host part.
    pub host: String,
    /// Port.
    pub port: u16,
}

/// The real server named by `var`. Without it: a failure when `CI` is set,
/// else `None` and a note on stderr (the test then returns early).
pub fn real_server(var: &str) -> Option<RealServer> {
    let value = match std::env::var(var) {
        Ok(v) if !v.trim().is_empty() => v,
        _ => {
            if std::env::var_os("CI").is_some() {
                panic!("{var} is not set: scripts/test.sh starts the real servers, and CI must not skip them");
            }
            eprintln!("skipping: {var} is not set (run scripts/test.sh to start the real servers)");
            return None;
        }
    };
    let (host, port) = value
        .rsplit_once(':')
        .unwrap_or_else(|| panic!("{var}={value} is not HOST:PORT"));
    Some(RealServer {
        host: host.to_owned(),
        port: port
            .parse()
            .unwrap_or_else(|_| panic!("{var}={value}: bad port")),
    })
}

/// The value of a path variable that goes with a real server (e.g. where it
/// stores messages). Same rules as [`real_server`].
pub fn real_path(var: &str) -> Option<std::path::PathBuf> {
    match std::env::var_os(var) {
        Some(v) if !v.is_empty() => Some(v.into()),
        _ => {
            if std::env::var_os("CI").is_some() {
                panic!("{var} is not set: scripts/test.sh sets it, and CI must not skip");
            }
            None
        }
    }
}

/// Polls `check` until it returns `Some` or `limit` passes.
pub fn wait_for<T>(limit: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let until = Instant::now() + limit;
    loop {
        if let Some(found) = check() {
            return Some(found);
        }
        if Instant::now() >= until {
            return None;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// For the tests that check that memory holding a secret is wiped before
/// it is freed: safe code reading `/proc/self/mem`.
#[cfg(target_os = "linux")]
pub mod freed {
    use std::os::unix::fs::FileExt as _;

    /// Drops `value`, then reads what the `len` bytes at `addr` (a buffer
    /// `value` owned) hold, through `/proc/self/mem`: no unsafe code, and
    /// nothing is allocated between the drop and the read, which could
    /// reuse the freed block. Freed memory keeps its bytes unless they were
    /// wiped (the allocator writes only its bookkeeping at the start).
    pub fn after_drop<T>(value: T, addr: *const u8, len: usize) -> Vec<u8> {
        let mem = std::fs::File::open("/proc/self/mem").unwrap();
        let mut buf = vec![0xaa_u8; len];
        drop(value);
        let n = mem
            .read_at(&mut buf, u64::try_from(addr.addr()).unwrap())
            .unwrap();
        buf.truncate(n);
        buf
    }

    /// Whether `memory` still holds 8 bytes in a row of `secret`, past the
    /// first 16 bytes, where the allocator keeps its free-list pointers.
    pub fn holds(memory: &[u8], secret: &[u8]) -> bool {
        let tail = memory.get(16..).unwrap_or_default();
        secret.windows(8).any(|w| tail.windows(8).any(|m| m == w))
    }

    /// A control: a plain `Vec` dropped with `secret` in it is still found
    /// by [`holds`], so that a test passing means the bytes were wiped, not
    /// that this way of looking cannot see them.
    pub fn check_control(secret: &[u8]) {
        let mut plain = vec![0_u8; 16];
        plain.extend_from_slice(secret);
        let (addr, len) = (plain.as_ptr(), plain.len());
        let memory = after_drop(plain, addr, len);
        assert!(
            holds(&memory, secret),
            "freed memory is not readable here: the wipe tests would prove nothing"
        );
    }
}
