//! `postie probe`: what a server offers, without sending mail.
//!
//! msmtp's `--serverinfo` and swaks' quit-after in one command: connect,
//! read the greeting, EHLO, STARTTLS (or implicit TLS), look at the
//! certificate, EHLO again, QUIT.
//!
//! The dialogue is driven here rather than by `postie_smtp`'s send core
//! because a probe must go on where a send stops (a certificate that does
//! not verify is a finding to report, not the end) and stop where a send
//! goes on (it never says MAIL). The reply parser, the capability reader and
//! the TLS configuration are the library's, so the probe sees a server
//! exactly as `postie send` would.

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use postie_smtp::reply::ReplyParser;
use postie_smtp::{Capabilities, LocalEnv, Reply, TlsSettings};
use rustls::pki_types::ServerName;
use rustls::{CertificateError, ClientConfig, ClientConnection, StreamOwned};
use serde::Serialize;
use x509_cert::der::Decode;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::SubjectAltName;

use crate::args::{ProbeArgs, TlsArg};
use crate::exit;

/// The port probed when the target names none and TLS is implicit.
const IMPLICIT_TLS_PORT: u16 = 465;
/// The port probed otherwise.
const SMTP_PORT: u16 = 25;
/// How long a silent server gets to answer a ClientHello when the probe
/// checks whether it speaks implicit TLS: TLS servers answer at once.
const TLS_CHECK_LIMIT: Duration = Duration::from_secs(5);

/// Runs `postie probe`; returns the exit code.
pub(crate) fn run(args: &ProbeArgs) -> u8 {
    let prober = match Prober::from_args(args) {
        Ok(prober) => prober,
        Err(failure) => {
            eprintln!("postie probe: {}", failure.message);
            return failure.code;
        }
    };
    let mut report = Report {
        server: prober.target.to_string(),
        ..Report::default()
    };
    let code = match prober.probe(&mut report) {
        Ok(()) => exit::OK,
        Err(failure) => {
            report.error = Some(failure.message);
            if report.hint.is_none() {
                report.hint = failure.hint;
            }
            failure.code
        }
    };
    if args.json {
        // to_string keeps the fields in the order of the dialogue.
        match serde_json::to_string(&report) {
            Ok(json) => println!("{json}"),
            Err(e) => {
                eprintln!("postie probe: cannot write JSON: {e}");
                return exit::SOFTWARE;
            }
        }
    } else {
        print!("{}", report.text(&prober.target.host));
        if let Some(error) = &report.error {
            eprintln!("postie probe: {}", one_line(error));
        }
        if let Some(hint) = &report.hint {
            eprintln!("postie probe: hint: {hint}");
        }
    }
    code
}

// ---------------------------------------------------------------------------
// The target and the settings.

/// A host and port to probe.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Target {
    /// A name or an IP address, without brackets.
    host: String,
    port: u16,
}

impl Target {
    /// Reads `HOST`, `HOST:PORT`, `[IPv6]`, `[IPv6]:PORT` or a bare IPv6
    /// address; a missing port is `default_port`.
    fn parse(text: &str, default_port: u16) -> Result<Self, String> {
        let text = text.trim();
        let (host, port) = if let Some(rest) = text.strip_prefix('[') {
            let (host, after) = rest
                .split_once(']')
                .ok_or_else(|| format!("bad target {text:?}: '[' without ']'"))?;
            match after {
                "" => (host, None),
                _ => match after.strip_prefix(':') {
                    Some(port) => (host, Some(port)),
                    None => return Err(format!("bad target {text:?}: text after ']'")),
                },
            }
        } else if text.matches(':').count() > 1 {
            // More than one colon and no brackets: a bare IPv6 address.
            (text, None)
        } else {
            match text.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (text, None),
            }
        };
        let port = match port {
            None => default_port,
            Some(port) => port
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| format!("bad port {port:?} in {text:?}: give 1 to 65535"))?,
        };
        // The host doubles as the TLS server name, so it must be a DNS name
        // or an IP address; this also keeps spaces and control characters
        // out of every message that quotes it.
        if host.is_empty() || ServerName::try_from(host).is_err() {
            return Err(format!(
                "bad target {text:?}: {host:?} is not a host name or IP address"
            ));
        }
        Ok(Self {
            host: host.to_owned(),
            port,
        })
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// Why the probe stopped: the exit code, what went wrong, and advice when
/// the mistake is a common one.
#[derive(Debug)]
struct Failure {
    code: u8,
    message: String,
    hint: Option<String>,
}

impl Failure {
    fn new(code: u8, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            hint: None,
        }
    }

    fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

/// Everything the probe needs, checked before anything touches the
/// network.
struct Prober {
    target: Target,
    name: ServerName<'static>,
    mode: TlsArg,
    client: String,
    timeout: Duration,
    /// Verifies against the system's roots and `--ca-file`, as `postie
    /// send` does; `None` with `--tls none`.
    verifying: Option<Arc<ClientConfig>>,
}

impl Prober {
    fn from_args(args: &ProbeArgs) -> Result<Self, Failure> {
        let usage = |message: String| Failure::new(exit::USAGE, message);
        let default_port = match args.tls {
            TlsArg::Implicit => IMPLICIT_TLS_PORT,
            _ => SMTP_PORT,
        };
        let target = Target::parse(&args.target, default_port).map_err(usage)?;
        let name = ServerName::try_from(target.host.clone())
            .map_err(|_| usage(format!("{:?} is not a valid TLS name", target.host)))?;
        let timeout = Some(args.timeout)
            .filter(|t| t.is_finite() && *t > 0.0)
            .and_then(|t| Duration::try_from_secs_f64(t).ok())
            .ok_or_else(|| {
                usage(format!(
                    "bad --timeout {}: give seconds above 0",
                    args.timeout
                ))
            })?;
        let client = match &args.client {
            Some(name) => checked_client(name).map_err(usage)?,
            None => LocalEnv::from_system().hostname,
        };
        let verifying = match args.tls {
            TlsArg::None => None,
            _ => Some(
                TlsSettings {
                    ca_files: args.ca_file.clone(),
                    ..TlsSettings::default()
                }
                .client_config()
                .map_err(|e| usage(e.to_string()))?,
            ),
        };
        Ok(Self {
            target,
            name,
            mode: args.tls,
            client,
            timeout,
            verifying,
        })
    }
}

/// The EHLO name goes into a command line, so it must be one word of
/// printable ASCII.
fn checked_client(name: &str) -> Result<String, String> {
    if !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(name.to_owned())
    } else {
        Err(format!(
            "bad --client {name:?}: give a host name (printable ASCII, no spaces)"
        ))
    }
}

// ---------------------------------------------------------------------------
// The probe itself.

impl Prober {
    /// Connects and walks through the dialogue, filling `report` as it
    /// goes, so that a failure still shows what was learnt before it.
    fn probe(&self, report: &mut Report) -> Result<(), Failure> {
        let addrs = resolve(&self.target, self.timeout)?;
        let (tcp, addr) = connect_any(&self.target, &addrs, self.timeout)?;
        report.address = Some(addr.to_string());
        match self.mode {
            TlsArg::Implicit => self.implicit(tcp, addr, report),
            _ => self.plain_first(tcp, addr, report),
        }
    }

    /// `--tls none`, `starttls` and `required`: greeting and EHLO in clear,
    /// then STARTTLS when asked for and offered.
    fn plain_first(
        &self,
        tcp: TcpStream,
        addr: SocketAddr,
        report: &mut Report,
    ) -> Result<(), Failure> {
        let mut session = Session::new(Conn::Plain(tcp), self.timeout);
        let caps = self.greet(&mut session, report)?;
        report.auth_before_tls = Some(caps.auth_mechanisms().to_vec());
        // `verifying` is there unless the command said --tls none.
        let Some(verifying) = &self.verifying else {
            session.quit();
            return Ok(());
        };
        let required = self.mode == TlsArg::Required;
        let offered = caps.has("STARTTLS");
        let starttls = report.starttls.insert(TlsReport::offered(offered));
        if !offered {
            session.quit();
            return if required {
                Err(Failure::new(
                    exit::UNAVAILABLE,
                    format!("{} does not offer STARTTLS (--tls required)", self.target),
                ))
            } else {
                Ok(())
            };
        }
        let tcp = match self.start_tls(session) {
            Ok(tcp) => tcp,
            Err(failure) => {
                starttls.error = Some(failure.message.clone());
                // A refused STARTTLS is a finding unless TLS is required.
                return if required { Err(failure) } else { Ok(()) };
            }
        };
        let result = handshake(tcp, Arc::clone(verifying), &self.name, self.timeout);
        self.after_handshake(result, addr, report, required)
    }

    /// `--tls implicit`: TLS from the first byte, then greeting and EHLO.
    fn implicit(
        &self,
        tcp: TcpStream,
        addr: SocketAddr,
        report: &mut Report,
    ) -> Result<(), Failure> {
        report.implicit_tls = Some(TlsReport::offered(true));
        // Nothing is said in clear on an implicit TLS port.
        report.auth_before_tls = Some(Vec::new());
        let Some(verifying) = &self.verifying else {
            return Err(Failure::new(exit::SOFTWARE, "no TLS configuration"));
        };
        let result = handshake(tcp, Arc::clone(verifying), &self.name, self.timeout);
        self.after_handshake(result, addr, report, true)
    }

    /// Records a verified handshake and goes on over it; after a
    /// certificate that does not verify, records why and reads the
    /// certificate over a second connection; after any other failure,
    /// records it and stops (an error only when TLS was required).
    fn after_handshake(
        &self,
        result: Result<TlsStream, HandshakeError>,
        addr: SocketAddr,
        report: &mut Report,
        required: bool,
    ) -> Result<(), Failure> {
        match result {
            Ok(stream) => {
                report.tls_mut().record(&stream.conn);
                report.certificate = Some(CertReport::of(&stream.conn, None, &self.target.host));
                self.over_tls(stream, report)
            }
            Err(HandshakeError::Certificate(problem)) => {
                // Recorded now, so that it is reported even if the second
                // connection fails.
                report.certificate = Some(CertReport::unread(&problem, &self.target.host));
                let result = self.reread(problem, addr, report);
                if let Err(failure) = &result {
                    report.tls_mut().error =
                        Some(format!("reading the certificate: {}", failure.message));
                }
                result
            }
            Err(other) => {
                let failure = other.failure(&self.target, self.mode == TlsArg::Implicit);
                let tls = report.tls_mut();
                tls.ok = Some(false);
                tls.error = Some(failure.message.clone());
                if required {
                    Err(failure)
                } else {
                    Ok(())
                }
            }
        }
    }

    /// The certificate did not verify: the verifying handshake ended the
    /// connection, so connect again and shake hands with a verifier that
    /// accepts anything, only to read the certificate (and the EHLO reply
    /// over TLS) for the report. Nothing but EHLO and QUIT goes over it.
    fn reread(
        &self,
        problem: CertificateError,
        addr: SocketAddr,
        report: &mut Report,
    ) -> Result<(), Failure> {
        let accept_any = TlsSettings {
            accept_invalid_certificates: true,
            ..TlsSettings::default()
        }
        .client_config()
        .map_err(|e| Failure::new(exit::SOFTWARE, e.to_string()))?;
        let tcp = connect_one(addr, self.timeout).map_err(|e| {
            Failure::new(
                exit::TEMPFAIL,
                format!("cannot connect again to {addr} to read the certificate: {e}"),
            )
        })?;
        let tcp = match self.mode {
            TlsArg::Implicit => tcp,
            _ => {
                let mut session = Session::new(Conn::Plain(tcp), self.timeout);
                self.greet_quietly(&mut session)?;
                self.start_tls(session)?
            }
        };
        let result = handshake(tcp, accept_any, &self.name, self.timeout);
        let stream = result.map_err(|e| e.failure(&self.target, self.mode == TlsArg::Implicit))?;
        report.tls_mut().record(&stream.conn);
        report.certificate = Some(CertReport::of(
            &stream.conn,
            Some(&problem),
            &self.target.host,
        ));
        self.over_tls(stream, report)
    }

    /// EHLO over TLS (after the greeting, for implicit TLS), then QUIT.
    fn over_tls(&self, stream: TlsStream, report: &mut Report) -> Result<(), Failure> {
        let mut session = Session::new(Conn::Tls(Box::new(stream)), self.timeout);
        let caps = if self.mode == TlsArg::Implicit {
            self.greet(&mut session, report)?
        } else {
            let (esmtp, caps) = self.hello(&mut session)?;
            if esmtp {
                report.capabilities_after_tls = Some(capability_list(&caps));
            }
            caps
        };
        report.auth_after_tls = Some(caps.auth_mechanisms().to_vec());
        if caps.size().is_some() {
            report.size = caps.size();
        }
        session.quit();
        Ok(())
    }

    /// Reads the greeting and says EHLO (HELO after a 5xx), recording
    /// both.
    fn greet(&self, session: &mut Session, report: &mut Report) -> Result<Capabilities, Failure> {
        let greeting = self.read_greeting(session)?;
        report.greeting = Some(ReplyReport::of(&greeting));
        self.check_greeting(session, &greeting)?;
        let (esmtp, caps) = self.hello(session)?;
        report.esmtp = Some(esmtp);
        report.capabilities = capability_list(&caps);
        report.size = caps.size();
        Ok(caps)
    }

    /// The same, on the second connection, where only the certificate is
    /// new.
    fn greet_quietly(&self, session: &mut Session) -> Result<(), Failure> {
        let greeting = self.read_greeting(session)?;
        self.check_greeting(session, &greeting)?;
        self.hello(session).map(|_| ())
    }

    /// The greeting, with the common mistakes named: TLS bytes where a
    /// greeting should be, silence on the implicit TLS port.
    fn read_greeting(&self, session: &mut Session) -> Result<Reply, Failure> {
        session.read_reply().map_err(|e| match e {
            ReadError::TlsRecord => Failure::new(
                exit::UNAVAILABLE,
                format!(
                    "{} answered with TLS where a greeting should be",
                    self.target
                ),
            )
            .with_hint("this port speaks implicit TLS: use --tls implicit"),
            ReadError::Timeout if self.mode != TlsArg::Implicit => {
                self.silent(session.conn.tcp().peer_addr().ok())
            }
            other => other.failure("greeting", &self.target),
        })
    }

    /// No greeting came. A port that speaks implicit TLS waits in silence
    /// for a ClientHello, so one is sent on a second connection before the
    /// server is called silent.
    fn silent(&self, peer: Option<SocketAddr>) -> Failure {
        let message = format!("no greeting from {} within {:?}", self.target, self.timeout);
        let limit = self.timeout.min(TLS_CHECK_LIMIT);
        if peer.is_some_and(|addr| answers_tls(addr, &self.name, limit)) {
            Failure::new(exit::UNAVAILABLE, message)
                .with_hint("this port speaks implicit TLS: use --tls implicit")
        } else if self.target.port == IMPLICIT_TLS_PORT {
            Failure::new(exit::UNAVAILABLE, message)
                .with_hint("port 465 usually speaks implicit TLS: try --tls implicit")
        } else {
            Failure::new(exit::TEMPFAIL, message)
        }
    }

    /// A greeting other than 220 refuses the session: say QUIT and stop.
    fn check_greeting(&self, session: &mut Session, greeting: &Reply) -> Result<(), Failure> {
        if greeting.code() == 220 {
            return Ok(());
        }
        // RFC 5321 §3.1: after a 554 greeting the client should still QUIT.
        let _ = session.command("QUIT");
        Err(Failure::new(
            reply_exit(greeting),
            format!(
                "{} refused the session at the greeting: {greeting}",
                self.target
            ),
        ))
    }

    /// EHLO, or HELO when EHLO gets a 5xx; whether the server speaks ESMTP
    /// and what it offers.
    fn hello(&self, session: &mut Session) -> Result<(bool, Capabilities), Failure> {
        let stage_error = |e: ReadError| e.failure("EHLO", &self.target);
        let ehlo = session
            .command(&format!("EHLO {}", self.client))
            .map_err(stage_error)?;
        if ehlo.code() == 250 {
            return Ok((true, Capabilities::from_ehlo(&ehlo)));
        }
        if !ehlo.is_permanent() {
            return Err(refused(&self.target, "EHLO", &ehlo));
        }
        let helo = session
            .command(&format!("HELO {}", self.client))
            .map_err(stage_error)?;
        if helo.code() == 250 {
            Ok((false, Capabilities::default()))
        } else {
            Err(refused(&self.target, "HELO", &helo))
        }
    }

    /// STARTTLS; on 220, the connection ready for the handshake.
    fn start_tls(&self, mut session: Session) -> Result<TcpStream, Failure> {
        let reply = session
            .command("STARTTLS")
            .map_err(|e| e.failure("STARTTLS", &self.target))?;
        if reply.code() != 220 {
            session.quit();
            return Err(refused(&self.target, "STARTTLS", &reply));
        }
        session.into_plain().ok_or_else(|| {
            // Bytes after the 220 would be read as if they came over TLS
            // (the STARTTLS command injection of CVE-2011-0411 and kin).
            Failure::new(
                exit::UNAVAILABLE,
                format!(
                    "{} sent more after its reply to STARTTLS: refusing to go on",
                    self.target
                ),
            )
        })
    }
}

/// A refusal of `command` as a failure: 4xx may pass, 5xx will not.
fn refused(target: &Target, command: &str, reply: &Reply) -> Failure {
    Failure::new(
        reply_exit(reply),
        format!("{target} refused {command}: {reply}"),
    )
}

/// The exit code for a refusal: 75 for 4xx, 69 otherwise.
fn reply_exit(reply: &Reply) -> u8 {
    if reply.is_transient() {
        exit::TEMPFAIL
    } else {
        exit::UNAVAILABLE
    }
}

// ---------------------------------------------------------------------------
// Connecting.

/// Resolves the target within `timeout`. The system resolver blocks with
/// no limit of its own, so it runs on a helper thread that is abandoned if
/// it takes too long.
fn resolve(target: &Target, timeout: Duration) -> Result<Vec<SocketAddr>, Failure> {
    let not_found = |why: String| {
        Failure::new(
            exit::NOHOST,
            format!("{} does not resolve: {why}", target.host),
        )
    };
    let query = (target.host.clone(), target.port);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("postie-resolve".to_owned())
        .spawn(move || {
            let result = query.to_socket_addrs().map(Iterator::collect::<Vec<_>>);
            let _ = tx.send(result);
        })
        .map_err(|e| Failure::new(exit::OS_ERR, format!("cannot start the resolver: {e}")))?;
    match rx.recv_timeout(timeout) {
        Ok(Ok(addrs)) if !addrs.is_empty() => Ok(addrs),
        Ok(Ok(_)) => Err(not_found("the name has no addresses".to_owned())),
        Ok(Err(e)) => Err(not_found(e.to_string())),
        Err(_) => Err(not_found(format!("no answer within {timeout:?}"))),
    }
}

/// Tries every address in the resolver's order, each within `timeout`, so
/// one address that swallows packets does not hide the others.
fn connect_any(
    target: &Target,
    addrs: &[SocketAddr],
    timeout: Duration,
) -> Result<(TcpStream, SocketAddr), Failure> {
    let mut errors = Vec::new();
    for &addr in addrs {
        match connect_one(addr, timeout) {
            Ok(tcp) => return Ok((tcp, addr)),
            Err(e) => errors.push(format!("{addr}: {e}")),
        }
    }
    Err(Failure::new(
        exit::TEMPFAIL,
        format!("cannot connect to {target}: {}", errors.join("; ")),
    ))
}

fn connect_one(addr: SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
    let tcp = TcpStream::connect_timeout(&addr, timeout)?;
    // Each command is one small write; without NODELAY each would wait
    // for the server's delayed ACK.
    tcp.set_nodelay(true)?;
    Ok(tcp)
}

/// A point in time a step must finish by; a limit too far off to compute
/// (a huge --timeout) is no limit.
struct Deadline(Option<Instant>, Duration);

impl Deadline {
    fn after(limit: Duration) -> Self {
        Self(Instant::now().checked_add(limit), limit)
    }

    /// What is left of the limit.
    fn left(&self) -> Duration {
        match self.0 {
            Some(deadline) => deadline.saturating_duration_since(Instant::now()),
            None => self.1,
        }
    }
}

// ---------------------------------------------------------------------------
// The SMTP dialogue.

type TlsStream = StreamOwned<ClientConnection, TcpStream>;

/// A connection in clear or over TLS.
enum Conn {
    Plain(TcpStream),
    Tls(Box<TlsStream>),
}

impl Conn {
    fn tcp(&self) -> &TcpStream {
        match self {
            Self::Plain(tcp) => tcp,
            Self::Tls(stream) => &stream.sock,
        }
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Plain(tcp) => tcp.read(buf),
            Self::Tls(stream) => stream.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Plain(tcp) => tcp.write(buf),
            Self::Tls(stream) => stream.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Plain(tcp) => tcp.flush(),
            Self::Tls(stream) => stream.flush(),
        }
    }
}

/// Why no reply came.
#[derive(Debug)]
enum ReadError {
    /// A TLS record where the greeting should be.
    TlsRecord,
    Timeout,
    Closed,
    Io(io::Error),
    Protocol(postie_smtp::reply::ReplyError),
}

impl ReadError {
    fn from_io(e: io::Error) -> Self {
        match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Self::Timeout,
            io::ErrorKind::UnexpectedEof => Self::Closed,
            _ => Self::Io(e),
        }
    }

    /// The failure at `stage`: a dropped or silent connection may work
    /// later (75), a broken reply will not (69).
    fn failure(self, stage: &str, target: &Target) -> Failure {
        match self {
            Self::TlsRecord => Failure::new(
                exit::UNAVAILABLE,
                format!("{target} answered with TLS at the {stage}"),
            ),
            Self::Timeout => Failure::new(
                exit::TEMPFAIL,
                format!("{target} did not answer at the {stage} in time"),
            ),
            Self::Closed => Failure::new(
                exit::TEMPFAIL,
                format!("{target} closed the connection at the {stage}"),
            ),
            Self::Io(e) => Failure::new(exit::TEMPFAIL, format!("{target}: {stage}: {e}")),
            Self::Protocol(e) => Failure::new(
                exit::UNAVAILABLE,
                format!("{target} broke the protocol at the {stage}: {e}"),
            ),
        }
    }
}

/// One SMTP connection: commands out, replies in, each within the timeout.
struct Session {
    conn: Conn,
    parser: ReplyParser,
    timeout: Duration,
    /// Whether anything was received yet (to recognise TLS at the
    /// greeting).
    received: bool,
}

impl Session {
    fn new(conn: Conn, timeout: Duration) -> Self {
        Self {
            conn,
            parser: ReplyParser::default(),
            timeout,
            received: false,
        }
    }

    /// Sends one command line and reads its reply.
    fn command(&mut self, line: &str) -> Result<Reply, ReadError> {
        self.conn
            .tcp()
            .set_write_timeout(Some(self.timeout))
            .map_err(ReadError::Io)?;
        self.conn
            .write_all(format!("{line}\r\n").as_bytes())
            .and_then(|()| self.conn.flush())
            .map_err(ReadError::from_io)?;
        self.read_reply()
    }

    /// The next reply, within the timeout as a whole (a server that
    /// trickles bytes does not get more time).
    fn read_reply(&mut self) -> Result<Reply, ReadError> {
        let deadline = Deadline::after(self.timeout);
        let mut buf = [0u8; 4096];
        loop {
            if let Some(reply) = self.parser.next_reply().map_err(ReadError::Protocol)? {
                return Ok(reply);
            }
            let left = deadline.left();
            if left.is_zero() {
                return Err(ReadError::Timeout);
            }
            self.conn
                .tcp()
                .set_read_timeout(Some(left))
                .map_err(ReadError::Io)?;
            let n = self.conn.read(&mut buf).map_err(ReadError::from_io)?;
            let bytes = buf.get(..n).unwrap_or_default();
            if bytes.is_empty() {
                return Err(ReadError::Closed);
            }
            // A handshake record (0x16) or alert (0x15) of TLS 1.x.
            if !self.received && matches!(bytes, [0x15 | 0x16, 0x03, ..]) {
                return Err(ReadError::TlsRecord);
            }
            self.received = true;
            self.parser.push(bytes);
        }
    }

    /// The TCP connection, for the TLS handshake after STARTTLS; `None`
    /// when bytes are waiting that came before it.
    fn into_plain(self) -> Option<TcpStream> {
        match self.conn {
            Conn::Plain(tcp) if !self.parser.has_buffered() => Some(tcp),
            _ => None,
        }
    }

    /// QUIT, politely: the reply is read but whatever happens is ignored,
    /// since everything worth knowing is known.
    fn quit(mut self) {
        let _ = self.command("QUIT");
        if let Conn::Tls(stream) = &mut self.conn {
            stream.conn.send_close_notify();
            let _ = stream.flush();
        }
    }
}

// ---------------------------------------------------------------------------
// TLS.

/// Why a handshake failed.
#[derive(Debug)]
enum HandshakeError {
    /// The certificate did not verify.
    Certificate(CertificateError),
    /// The server answered the ClientHello with an SMTP greeting.
    Plaintext(String),
    Timeout,
    Other(String),
}

impl HandshakeError {
    /// The failure; a plain-text answer gets its hint only with implicit
    /// TLS (after STARTTLS it is a broken server, not a wrong flag).
    fn failure(self, target: &Target, implicit: bool) -> Failure {
        match self {
            Self::Certificate(e) => Failure::new(
                exit::UNAVAILABLE,
                format!("the certificate of {target} was refused: {e}"),
            ),
            Self::Plaintext(first) => {
                let failure = Failure::new(
                    exit::UNAVAILABLE,
                    format!("{target} answered the TLS handshake in plain text ({first:?})"),
                );
                if implicit {
                    failure.with_hint("this port speaks plain SMTP: use --tls starttls")
                } else {
                    failure
                }
            }
            Self::Timeout => Failure::new(
                exit::UNAVAILABLE,
                format!("the TLS handshake with {target} timed out"),
            ),
            Self::Other(e) => Failure::new(
                exit::UNAVAILABLE,
                format!("the TLS handshake with {target} failed: {e}"),
            ),
        }
    }
}

/// Runs the TLS handshake on `tcp` within `timeout`, keeping the first
/// bytes the server sent so that a plain-text answer can be named.
fn handshake(
    tcp: TcpStream,
    config: Arc<ClientConfig>,
    name: &ServerName<'static>,
    timeout: Duration,
) -> Result<TlsStream, HandshakeError> {
    let mut conn = ClientConnection::new(config, name.clone())
        .map_err(|e| HandshakeError::Other(e.to_string()))?;
    let deadline = Deadline::after(timeout);
    let mut recorder = FirstBytes {
        tcp: &tcp,
        first: Vec::new(),
    };
    while conn.is_handshaking() {
        let left = deadline.left();
        if left.is_zero() {
            return Err(HandshakeError::Timeout);
        }
        tcp.set_read_timeout(Some(left))
            .and_then(|()| tcp.set_write_timeout(Some(left)))
            .map_err(|e| HandshakeError::Other(e.to_string()))?;
        if let Err(e) = conn.complete_io(&mut recorder) {
            return Err(classify(&e, &recorder.first));
        }
    }
    Ok(StreamOwned::new(conn, tcp))
}

/// Names a failed handshake from the error and the first bytes received.
fn classify(error: &io::Error, first: &[u8]) -> HandshakeError {
    if looks_like_smtp(first) {
        let shown = first.get(..first.len().min(60)).unwrap_or_default();
        return HandshakeError::Plaintext(String::from_utf8_lossy(shown).trim_end().to_owned());
    }
    match error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(rustls::Error::InvalidCertificate(problem)) => {
            HandshakeError::Certificate(problem.clone())
        }
        Some(other) => HandshakeError::Other(other.to_string()),
        None => match error.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => HandshakeError::Timeout,
            io::ErrorKind::UnexpectedEof => {
                HandshakeError::Other("the server closed the connection".to_owned())
            }
            _ => HandshakeError::Other(error.to_string()),
        },
    }
}

/// Whether the server at `addr` answers a ClientHello with a TLS record
/// within `limit`. Only the first bytes of its answer are read.
fn answers_tls(addr: SocketAddr, name: &ServerName<'static>, limit: Duration) -> bool {
    let Ok(config) = TlsSettings::default().client_config() else {
        return false;
    };
    let Ok(mut conn) = ClientConnection::new(config, name.clone()) else {
        return false;
    };
    let Ok(mut tcp) = connect_one(addr, limit) else {
        return false;
    };
    let mut first = [0u8; 2];
    let answered = tcp
        .set_read_timeout(Some(limit))
        .and_then(|()| tcp.set_write_timeout(Some(limit)))
        .and_then(|()| conn.write_tls(&mut tcp))
        .and_then(|_| tcp.read_exact(&mut first));
    answered.is_ok() && matches!(first, [0x15 | 0x16, 0x03])
}

/// Whether bytes received during a handshake are an SMTP reply line.
fn looks_like_smtp(first: &[u8]) -> bool {
    matches!(first, [a, b, c, d, ..]
        if a.is_ascii_digit() && b.is_ascii_digit() && c.is_ascii_digit() && matches!(d, b' ' | b'-'))
}

/// Passes reads and writes through to the socket, keeping the first bytes
/// read.
struct FirstBytes<'a> {
    tcp: &'a TcpStream,
    first: Vec<u8>,
}

impl Read for FirstBytes<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = (&mut &*self.tcp).read(buf)?;
        let take = n.min(64usize.saturating_sub(self.first.len()));
        self.first
            .extend_from_slice(buf.get(..take).unwrap_or_default());
        Ok(n)
    }
}

impl Write for FirstBytes<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&mut &*self.tcp).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        (&mut &*self.tcp).flush()
    }
}

// ---------------------------------------------------------------------------
// The certificate.

/// What the leaf certificate says, and whether it verified.
#[derive(Debug, Default, Serialize)]
struct CertReport {
    subject: Option<String>,
    issuer: Option<String>,
    /// DNS names and IP addresses of subjectAltName.
    names: Vec<String>,
    not_before: Option<String>,
    not_after: Option<String>,
    /// Whole days until `not_after`; negative once expired.
    days_left: Option<i64>,
    verified: bool,
    /// A fixed word for scripts: `unknown_issuer`, `self_signed`,
    /// `wrong_name`, `expired`, `not_yet_valid`, `revoked`, `bad_signature`,
    /// `wrong_purpose`, `unreadable`, `invalid`.
    error_kind: Option<&'static str>,
    /// Why it did not verify, in words.
    error: Option<String>,
}

impl CertReport {
    /// Reads the leaf certificate of `conn`; `problem` is what the
    /// verifying handshake said about it (`None`: it verified).
    fn of(conn: &ClientConnection, problem: Option<&CertificateError>, host: &str) -> Self {
        let leaf = conn.peer_certificates().and_then(|chain| chain.first());
        let mut report = match leaf.map(|der| Self::parse(der.as_ref())) {
            Some(Ok(report)) => report,
            Some(Err(e)) => Self {
                error_kind: Some("unreadable"),
                error: Some(format!("cannot read the certificate: {e}")),
                ..Self::default()
            },
            None => Self {
                error_kind: Some("unreadable"),
                error: Some("the server sent no certificate".to_owned()),
                ..Self::default()
            },
        };
        report.verified = problem.is_none();
        if let Some(problem) = problem {
            let (kind, words) = report.explain(problem, host);
            report.error_kind = Some(kind);
            report.error = Some(words);
        }
        report
    }

    /// A certificate that did not verify and has not been read (yet).
    fn unread(problem: &CertificateError, host: &str) -> Self {
        let mut report = Self::default();
        let (kind, words) = report.explain(problem, host);
        report.error_kind = Some(kind);
        report.error = Some(words);
        report
    }

    /// Subject, issuer, names and validity from DER.
    fn parse(der: &[u8]) -> Result<Self, String> {
        let cert = x509_cert::Certificate::from_der(der).map_err(|e| e.to_string())?;
        let tbs = cert.tbs_certificate();
        let validity = tbs.validity();
        let names = match tbs.get_extension::<SubjectAltName>() {
            Ok(Some((_, san))) => san.0.iter().filter_map(general_name).collect(),
            _ => Vec::new(),
        };
        let not_after = validity.not_after.to_unix_duration();
        Ok(Self {
            subject: Some(tbs.subject().to_string()),
            issuer: Some(tbs.issuer().to_string()),
            names,
            not_before: Some(validity.not_before.to_string()),
            not_after: Some(validity.not_after.to_string()),
            days_left: Some(days_until(not_after, SystemTime::now())),
            ..Self::default()
        })
    }

    /// Why the certificate did not verify for `host`, as a fixed word and
    /// as words, using what was read from it where that says more.
    fn explain(&self, problem: &CertificateError, host: &str) -> (&'static str, String) {
        use CertificateError as E;
        let self_signed = self.subject.is_some() && self.subject == self.issuer;
        match problem {
            E::UnknownIssuer if self_signed => (
                "self_signed",
                "unknown issuer: the certificate is self-signed (its issuer is its subject); \
                 trust it with --ca-file if it is the right one"
                    .to_owned(),
            ),
            E::UnknownIssuer => (
                "unknown_issuer",
                match &self.issuer {
                    Some(issuer) => format!(
                        "unknown issuer: the certificate is issued by {issuer}, \
                         which is not a trusted CA here; add that CA with --ca-file"
                    ),
                    None => "unknown issuer: the certificate is not issued by a trusted CA; \
                             add its CA with --ca-file"
                        .to_owned(),
                },
            ),
            E::NotValidForName | E::NotValidForNameContext { .. } => (
                "wrong_name",
                format!(
                    "wrong name: the certificate is for {}, not {host}",
                    self.presented_names(problem)
                ),
            ),
            E::Expired | E::ExpiredContext { .. } => (
                "expired",
                format!(
                    "expired: the certificate was valid until {}",
                    self.not_after.as_deref().unwrap_or("an earlier date")
                ),
            ),
            E::NotValidYet | E::NotValidYetContext { .. } => (
                "not_yet_valid",
                format!(
                    "not valid yet: the certificate is valid from {}",
                    self.not_before.as_deref().unwrap_or("a later date")
                ),
            ),
            E::Revoked => ("revoked", "the certificate was revoked".to_owned()),
            E::BadSignature => (
                "bad_signature",
                "bad signature: the certificate's signature does not check".to_owned(),
            ),
            E::InvalidPurpose | E::InvalidPurposeContext { .. } => (
                "wrong_purpose",
                "wrong purpose: the certificate is not for TLS servers".to_owned(),
            ),
            other => ("invalid", format!("the certificate was refused: {other}")),
        }
    }

    /// The names the certificate holds, as read from it, else as rustls
    /// reported them, else its subject.
    fn presented_names(&self, problem: &CertificateError) -> String {
        if !self.names.is_empty() {
            return self.names.join(", ");
        }
        if let CertificateError::NotValidForNameContext { presented, .. } = problem {
            if !presented.is_empty() {
                return presented.join(", ");
            }
        }
        self.subject
            .clone()
            .unwrap_or_else(|| "other names".to_owned())
    }
}

/// A DNS name or IP address from subjectAltName; other kinds do not
/// matter for a server's name.
fn general_name(name: &GeneralName) -> Option<String> {
    match name {
        GeneralName::DnsName(dns) => Some(dns.to_string()),
        GeneralName::IpAddress(octets) => {
            let bytes = octets.as_bytes();
            let ip = match bytes.len() {
                4 => <[u8; 4]>::try_from(bytes).ok().map(IpAddr::from),
                16 => <[u8; 16]>::try_from(bytes).ok().map(IpAddr::from),
                _ => None,
            };
            ip.map(|ip| ip.to_string())
        }
        _ => None,
    }
}

/// Whole days from `now` to `until` (since the Unix epoch), rounded down:
/// negative once it has passed.
fn days_until(until: Duration, now: SystemTime) -> i64 {
    let now = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
    secs(until).saturating_sub(secs(now)).div_euclid(86_400)
}

// ---------------------------------------------------------------------------
// The report.

/// A reply as the report shows it.
#[derive(Debug, Serialize)]
struct ReplyReport {
    code: u16,
    text: String,
}

impl ReplyReport {
    fn of(reply: &Reply) -> Self {
        Self {
            code: reply.code(),
            text: reply.text(),
        }
    }
}

/// STARTTLS or implicit TLS.
#[derive(Debug, Default, Serialize)]
struct TlsReport {
    /// Whether the server offered STARTTLS (always true for implicit TLS).
    offered: bool,
    /// Whether a handshake completed (`null` when none was tried).
    ok: Option<bool>,
    version: Option<String>,
    cipher: Option<String>,
    error: Option<String>,
}

impl TlsReport {
    fn offered(offered: bool) -> Self {
        Self {
            offered,
            ..Self::default()
        }
    }

    /// A completed handshake: its version and cipher suite.
    fn record(&mut self, conn: &ClientConnection) {
        self.ok = Some(true);
        self.error = None;
        self.version = Some(match conn.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3".to_owned(),
            Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2".to_owned(),
            Some(other) => format!("{other:?}"),
            None => "unknown".to_owned(),
        });
        self.cipher = conn
            .negotiated_cipher_suite()
            .map(|s| format!("{:?}", s.suite()));
    }
}

/// Everything the probe found; `--json` prints it as it is.
#[derive(Debug, Default, Serialize)]
struct Report {
    /// `host:port` as probed.
    server: String,
    /// The address that answered.
    address: Option<String>,
    greeting: Option<ReplyReport>,
    /// Whether EHLO was accepted (`false`: HELO was needed).
    esmtp: Option<bool>,
    /// The first EHLO reply's extensions, each `KEYWORD [params]`.
    capabilities: Vec<String>,
    /// The SIZE limit of the last EHLO reply (0: SIZE without a limit).
    size: Option<u64>,
    /// AUTH mechanisms offered in clear (`[]` with implicit TLS).
    auth_before_tls: Option<Vec<String>>,
    starttls: Option<TlsReport>,
    implicit_tls: Option<TlsReport>,
    certificate: Option<CertReport>,
    /// The EHLO reply's extensions after STARTTLS.
    capabilities_after_tls: Option<Vec<String>>,
    /// AUTH mechanisms offered over TLS.
    auth_after_tls: Option<Vec<String>>,
    hint: Option<String>,
    error: Option<String>,
}

impl Report {
    /// The STARTTLS or implicit TLS part, whichever this probe uses.
    fn tls_mut(&mut self) -> &mut TlsReport {
        match (&mut self.implicit_tls, &mut self.starttls) {
            (Some(tls), _) => tls,
            (None, slot) => slot.get_or_insert_with(|| TlsReport::offered(true)),
        }
    }

    /// The human-readable lines, in the order of the dialogue.
    fn text(&self, host: &str) -> String {
        let mut out = Vec::new();
        match &self.address {
            Some(address) => out.push(format!("Server: {} ({address})", self.server)),
            None => out.push(format!("Server: {}", self.server)),
        }
        if let Some(tls) = &self.implicit_tls {
            out.push(format!("Implicit TLS: {}", tls_line(tls)));
        }
        if let Some(greeting) = &self.greeting {
            out.push(format!(
                "Greeting: {} {}",
                greeting.code,
                one_line(&greeting.text)
            ));
        }
        if let Some(esmtp) = self.esmtp {
            out.push(format!(
                "ESMTP: {}",
                if esmtp { "yes" } else { "no (HELO)" }
            ));
            out.push(format!(
                "Capabilities: {}",
                list_or_none(&self.capabilities, ", ")
            ));
        }
        if let Some(size) = self.size {
            out.push(match size {
                0 => "SIZE: offered, no limit".to_owned(),
                n => format!("SIZE: {n}"),
            });
        }
        if let Some(auth) = &self.auth_before_tls {
            if self.implicit_tls.is_none() {
                out.push(format!("AUTH before TLS: {}", list_or_none(auth, " ")));
            }
        }
        if let Some(tls) = &self.starttls {
            out.push(format!("STARTTLS: {}", tls_line(tls)));
        }
        if let Some(cert) = &self.certificate {
            cert_lines(cert, host, &mut out);
        }
        if let Some(caps) = &self.capabilities_after_tls {
            out.push(format!(
                "Capabilities after TLS: {}",
                list_or_none(caps, ", ")
            ));
        }
        if let Some(auth) = &self.auth_after_tls {
            out.push(format!("AUTH after TLS: {}", list_or_none(auth, " ")));
        }
        out.iter().map(|line| format!("{line}\n")).collect()
    }
}

fn tls_line(tls: &TlsReport) -> String {
    if !tls.offered {
        return "not offered".to_owned();
    }
    match (tls.ok, &tls.error) {
        (Some(true), _) => format!(
            "ok, {} {}",
            tls.version.as_deref().unwrap_or("?"),
            tls.cipher.as_deref().unwrap_or("?")
        ),
        (_, Some(error)) => format!("failed: {}", one_line(error)),
        _ => "offered, not tried".to_owned(),
    }
}

fn cert_lines(cert: &CertReport, host: &str, out: &mut Vec<String>) {
    if let (Some(subject), Some(issuer)) = (&cert.subject, &cert.issuer) {
        out.push(format!("Certificate: subject {subject}; issuer {issuer}"));
        out.push(format!(
            "Certificate names: {}",
            list_or_none(&cert.names, ", ")
        ));
    }
    if let (Some(from), Some(until), Some(days)) =
        (&cert.not_before, &cert.not_after, cert.days_left)
    {
        let plural = |n: u64| if n == 1 { "" } else { "s" };
        let left = if days < 0 {
            let ago = days.unsigned_abs();
            format!("expired {ago} day{} ago", plural(ago))
        } else {
            format!("{days} day{} left", plural(days.unsigned_abs()))
        };
        out.push(format!("Certificate valid: {from} to {until} ({left})"));
    }
    let verdict = match (cert.verified, &cert.error) {
        (true, _) => "yes".to_owned(),
        (false, Some(why)) => format!("no ({})", one_line(why)),
        (false, None) => "no".to_owned(),
    };
    out.push(format!("Verifies for {host}: {verdict}"));
}

fn list_or_none(items: &[String], separator: &str) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(separator)
    }
}

/// Each extension as `KEYWORD [params]`, without repeats.
fn capability_list(caps: &Capabilities) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for keyword in caps.keywords() {
        let entry = match caps.params(keyword) {
            Some(params) if !params.is_empty() => format!("{keyword} {}", params.join(" ")),
            _ => keyword.to_owned(),
        };
        if !out.contains(&entry) {
            out.push(entry);
        }
    }
    out
}

/// Server text can hold anything: one line of it, for a terminal.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn targets_with_and_without_ports() {
        let t = |text: &str| Target::parse(text, 25);
        assert_eq!(
            t("mail.example.org").unwrap(),
            Target {
                host: "mail.example.org".into(),
                port: 25
            }
        );
        assert_eq!(t("localhost:2525").unwrap().port, 2525);
        assert_eq!(t("[::1]:587").unwrap().host, "::1");
        assert_eq!(t("[::1]:587").unwrap().port, 587);
        assert_eq!(t("[::1]").unwrap().port, 25);
        assert_eq!(t("::1").unwrap().host, "::1");
        assert_eq!(t("[::1]:587").unwrap().to_string(), "[::1]:587");
        assert_eq!(
            Target::parse("x.org", 465).unwrap().to_string(),
            "x.org:465"
        );
    }

    #[test]
    fn bad_targets_are_refused() {
        for bad in [
            "",
            ":25",
            "host:",
            "host:0",
            "host:70000",
            "host:smtp",
            "[::1",
            "[::1]x",
            "two words",
            "a\r\nb",
        ] {
            assert!(Target::parse(bad, 25).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_client_name_is_one_printable_word() {
        assert!(checked_client("client.example").is_ok());
        assert!(checked_client("a b").is_err());
        assert!(checked_client("a\r\nMAIL FROM:<x>").is_err());
        assert!(checked_client("").is_err());
    }

    #[test]
    fn capabilities_keep_their_parameters() {
        let reply = Reply::new(
            250,
            None,
            [
                "host",
                "PIPELINING",
                "size 1000",
                "AUTH PLAIN LOGIN",
                "AUTH=LOGIN",
            ]
            .map(String::from)
            .to_vec(),
        );
        let list = capability_list(&Capabilities::from_ehlo(&reply));
        assert_eq!(list, ["PIPELINING", "SIZE 1000", "AUTH PLAIN LOGIN"]);
    }

    #[test]
    fn days_round_down_and_go_negative() {
        let now = UNIX_EPOCH + Duration::from_secs(10 * 86_400);
        assert_eq!(days_until(Duration::from_secs(12 * 86_400 + 5), now), 2);
        assert_eq!(days_until(Duration::from_secs(10 * 86_400 - 1), now), -1);
    }

    #[test]
    fn a_certificate_is_read_in_full() {
        let dir = postie_testkit::ca_file();
        let pem = std::fs::read(dir.with_file_name("server.pem")).unwrap();
        use rustls::pki_types::pem::PemObject;
        let der = rustls::pki_types::CertificateDer::from_pem_slice(&pem).unwrap();
        let cert = CertReport::parse(der.as_ref()).unwrap();
        assert_eq!(cert.subject.as_deref(), Some("CN=server"));
        assert_eq!(cert.issuer.as_deref(), Some("CN=postie test CA"));
        assert!(
            cert.names.contains(&"localhost".to_owned()),
            "{:?}",
            cert.names
        );
        assert!(
            cert.names.contains(&"127.0.0.1".to_owned()),
            "{:?}",
            cert.names
        );
        assert!(cert.not_after.unwrap().ends_with('Z'));
    }

    #[test]
    fn smtp_is_recognised_in_a_handshake() {
        assert!(looks_like_smtp(b"220 mx ESMTP\r\n"));
        assert!(looks_like_smtp(b"554-no\r\n"));
        assert!(!looks_like_smtp(&[0x16, 0x03, 0x03, 0x00]));
    }
}
