//! `postie probe`: what a server offers, without sending mail.
//!
//! msmtp's `--serverinfo` and swaks' quit-after in one command: connect,
//! read the greeting, EHLO, STARTTLS (or implicit TLS), look at the
//! certificate, EHLO again, and with credentials AUTH (swaks'
//! quit-after AUTH), then QUIT. A target that is a path starting with
//! `/` is a Unix socket, as for `postie send --server`: greeting, EHLO (or
//! LHLO) and QUIT there, without TLS.
//!
//! The dialogue is driven here rather than by `postie_smtp`'s send core
//! because a probe must go on where a send stops (a certificate that does
//! not verify is a finding to report, not the end) and stop where a send
//! goes on (it never says MAIL). The reply parser, the capability reader and
//! the TLS configuration are the library's, so the probe sees a server
//! exactly as `postie send` would.

mod auth;
mod certificate;
mod connect;
mod deadline;
mod failure;
mod report;
mod session;
mod socket;
mod steps;
mod target;
mod tls;

use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::Duration;

use postie_smtp::capabilities::Extension;
use postie_smtp::{LocalEnv, TlsSettings, TransportSettings};
use rustls::pki_types::ServerName;
use rustls::{CertificateError, ClientConfig};

use crate::args::{ProbeArgs, TlsArg};
use crate::exit;

use self::auth::{AuthReport, AuthRequest};
use self::certificate::CertReport;
use self::connect::{connect_any, connect_one, resolve};
use self::failure::Failure;
use self::report::{capability_list, one_line, Report, TlsReport};
use self::session::{Conn, Session};
use self::target::{checked_client, Target};
use self::tls::{handshake, HandshakeError, TlsStream};

/// The port probed when the target names none and TLS is implicit.
const IMPLICIT_TLS_PORT: u16 = 465;
/// The port probed otherwise.
const SMTP_PORT: u16 = 25;
/// LMTP has no port of its own (RFC 2033 §5 keeps it off 25); 24, "any
/// private mail system", is where servers such as Dovecot put it.
const LMTP_PORT: u16 = 24;

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
        protocol: if prober.lmtp { "lmtp" } else { "smtp" },
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

/// `--tls` on a Unix socket: `starttls` (the default) and `none` are
/// fine, STARTTLS not being tried there as `postie send` does not try it;
/// `required` and `implicit` cannot be met, so they are refused before
/// connecting (`send` fails on them only once connected).
fn unix_tls(target: &Target, mode: TlsArg) -> Result<(), String> {
    let flag = match mode {
        TlsArg::Required => "required",
        TlsArg::Implicit => "implicit",
        TlsArg::Starttls | TlsArg::None => return Ok(()),
    };
    Err(format!(
        "--tls {flag} cannot be met on a Unix socket ({target}): TLS is not used there \
         (no certificate names a path); leave --tls out or give --tls none"
    ))
}

/// Everything the probe needs, checked before anything touches the
/// network.
struct Prober {
    target: Target,
    /// The TLS server name: the host; `None` for a Unix socket, where TLS
    /// is not tried.
    name: Option<ServerName<'static>>,
    mode: TlsArg,
    client: String,
    timeout: Duration,
    /// LHLO instead of EHLO (`--lmtp`).
    lmtp: bool,
    /// Verifies against the system's roots and `--ca-file`, as `postie
    /// send` does; `None` with `--tls none`.
    verifying: Option<Arc<ClientConfig>>,
    /// The credentials to test AUTH with (`--username` and a secret).
    auth: Option<AuthRequest>,
    /// `-v`: the dialogue on standard error.
    verbose: bool,
}

impl Prober {
    fn from_args(args: &ProbeArgs) -> Result<Self, Failure> {
        let usage = |message: String| Failure::new(exit::USAGE, message);
        let default_port = match args.tls {
            TlsArg::Implicit => IMPLICIT_TLS_PORT,
            _ if args.lmtp => LMTP_PORT,
            _ => SMTP_PORT,
        };
        let target = target::parse(&args.target, default_port).map_err(usage)?;
        let name = if target.is_unix() {
            unix_tls(&target, args.tls).map_err(usage)?;
            None
        } else {
            Some(
                ServerName::try_from(target.host.clone())
                    .map_err(|_| usage(format!("{:?} is not a valid TLS name", target.host)))?,
            )
        };
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
            lmtp: args.lmtp,
            verifying,
            auth: auth_request(args)?,
            verbose: args.verbose,
        })
    }

    /// With credentials asked for, the probe cannot test AUTH for `why`
    /// (a TLS failure): recorded, and exit 69 as `postie send` exits when
    /// it cannot have TLS; without them, nothing to do.
    fn auth_not_tried(&self, report: &mut Report, why: String) -> Result<(), Failure> {
        if self.auth.is_none() {
            return Ok(());
        }
        let failure = Failure::new(exit::UNAVAILABLE, format!("AUTH not tried: {why}"));
        report.auth = Some(AuthReport::not_tried(why));
        Err(failure)
    }

    /// A session over `conn`, with the transcript when `-v` asks for it.
    fn session(&self, conn: Conn) -> Session {
        Session::new(conn, self.timeout).verbose(self.verbose)
    }

    /// The TLS server name, for a handshake: there is none for a Unix
    /// socket, which never comes to one.
    fn tls_name(&self) -> Result<&ServerName<'static>, Failure> {
        self.name
            .as_ref()
            .ok_or_else(|| Failure::new(exit::SOFTWARE, "no TLS name for a Unix socket"))
    }

    /// Connects and walks through the dialogue, filling `report` as it
    /// goes, so that a failure still shows what was learnt before it.
    fn probe(&self, report: &mut Report) -> Result<(), Failure> {
        if self.target.is_unix() {
            let unix = socket::connect(&self.target.host)?;
            return self.over_socket(unix, report);
        }
        let addrs = resolve(&self.target, self.timeout)?;
        let (tcp, addr) = connect_any(&self.target, &addrs, self.timeout)?;
        report.address = Some(addr.to_string());
        match self.mode {
            TlsArg::Implicit => self.implicit(tcp, addr, report),
            _ => self.plain_first(tcp, addr, report),
        }
    }

    /// A Unix socket: greeting and EHLO (LHLO) in clear, then QUIT.
    /// Opportunistic STARTTLS is not tried there, as `postie send` does not
    /// try it (the socket is local, and no certificate names a path);
    /// whether the server offers it is still reported.
    fn over_socket(&self, unix: UnixStream, report: &mut Report) -> Result<(), Failure> {
        let mut session = self.session(Conn::Unix(unix));
        let caps = self.greet(&mut session, report)?;
        report.auth_before_tls = Some(caps.auth_mechanisms().to_vec());
        // --tls none asks for no STARTTLS at all, as over TCP.
        if self.mode == TlsArg::Starttls {
            report.starttls = Some(TlsReport::not_tried(
                caps.offers(Extension::StartTls),
                "on a Unix socket",
            ));
        }
        let result = self.authenticate(&mut session, &caps, false, report);
        session.quit();
        result
    }

    /// `--tls none`, `starttls` and `required`: greeting and EHLO in clear,
    /// then STARTTLS when asked for and offered.
    fn plain_first(
        &self,
        tcp: TcpStream,
        addr: SocketAddr,
        report: &mut Report,
    ) -> Result<(), Failure> {
        let mut session = self.session(Conn::Plain(tcp));
        let caps = self.greet(&mut session, report)?;
        report.auth_before_tls = Some(caps.auth_mechanisms().to_vec());
        // `verifying` is there unless the command said --tls none.
        let Some(verifying) = &self.verifying else {
            let result = self.authenticate(&mut session, &caps, false, report);
            session.quit();
            return result;
        };
        let required = self.mode == TlsArg::Required;
        let offered = caps.offers(Extension::StartTls);
        let starttls = report.starttls.insert(TlsReport::offered(offered));
        if !offered {
            if required {
                session.quit();
                return Err(Failure::new(
                    exit::UNAVAILABLE,
                    format!("{} does not offer STARTTLS (--tls required)", self.target),
                ));
            }
            // As `postie send` goes on in clear without STARTTLS.
            let result = self.authenticate(&mut session, &caps, false, report);
            session.quit();
            return result;
        }
        let tcp = match self.start_tls(session) {
            Ok(tcp) => tcp,
            Err(failure) => {
                starttls.error = Some(failure.message.clone());
                // A refused STARTTLS is a finding unless TLS is required.
                return if required {
                    Err(failure)
                } else {
                    let why = format!("STARTTLS failed ({})", failure.message);
                    self.auth_not_tried(report, why)
                };
            }
        };
        let result = handshake(tcp, Arc::clone(verifying), self.tls_name()?, self.timeout);
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
        let result = handshake(tcp, Arc::clone(verifying), self.tls_name()?, self.timeout);
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
                self.over_tls(stream, report, true)
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
                    let why = format!("the TLS handshake failed ({})", failure.message);
                    self.auth_not_tried(report, why)
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
                let mut session = self.session(Conn::Plain(tcp));
                self.greet_quietly(&mut session)?;
                self.start_tls(session)?
            }
        };
        let result = handshake(tcp, accept_any, self.tls_name()?, self.timeout);
        let stream = result.map_err(|e| e.failure(&self.target, self.mode == TlsArg::Implicit))?;
        report.tls_mut().record(&stream.conn);
        report.certificate = Some(CertReport::of(
            &stream.conn,
            Some(&problem),
            &self.target.host,
        ));
        self.over_tls(stream, report, false)
    }

    /// EHLO over TLS (after the greeting, for implicit TLS), AUTH when
    /// asked for, then QUIT. `verified`: the certificate verified; over a
    /// connection whose certificate did not, credentials are never sent.
    fn over_tls(
        &self,
        stream: TlsStream,
        report: &mut Report,
        verified: bool,
    ) -> Result<(), Failure> {
        let mut session = self.session(Conn::Tls(Box::new(stream)));
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
        let result = if verified {
            self.authenticate(&mut session, &caps, true, report)
        } else {
            let why = format!(
                "the certificate of {} did not verify, and credentials are never sent over such a connection",
                self.target
            );
            self.auth_not_tried(report, why)
        };
        session.quit();
        result
    }
}

/// The credentials the flags name (`--username` and where its secret
/// comes from), the secret read now: one that is missing or cannot be read
/// is an error before anything is sent.
fn auth_request(args: &ProbeArgs) -> Result<Option<AuthRequest>, Failure> {
    let mut settings = TransportSettings::default();
    settings.auth = args.credentials.auth_settings();
    let credentials = crate::settings::credentials(&settings, None)
        .map_err(|(code, message)| Failure::new(code, message))?;
    Ok(credentials.map(|credentials| AuthRequest {
        credentials,
        token: settings.auth.token,
        mechanisms: settings.auth.mechanisms.clone(),
        allow_plaintext: settings.auth.allow_plaintext,
    }))
}
