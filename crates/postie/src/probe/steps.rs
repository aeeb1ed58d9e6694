//! The steps of the dialogue, each one exchange: the greeting, EHLO (or
//! HELO) and STARTTLS, with the failures their answers mean.

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use postie_smtp::{Capabilities, Reply};

use crate::args::TlsArg;
use crate::exit;

use super::failure::Failure;
use super::report::{capability_list, ReplyReport, Report};
use super::session::{ReadError, Session};
use super::target::Target;
use super::tls::answers_tls;
use super::{Prober, IMPLICIT_TLS_PORT};

/// How long a silent server gets to answer a ClientHello when the probe
/// checks whether it speaks implicit TLS: TLS servers answer at once.
const TLS_CHECK_LIMIT: Duration = Duration::from_secs(5);

impl Prober {
    /// Reads the greeting and says EHLO (HELO after a 5xx), recording
    /// both.
    pub(super) fn greet(
        &self,
        session: &mut Session,
        report: &mut Report,
    ) -> Result<Capabilities, Failure> {
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
    pub(super) fn greet_quietly(&self, session: &mut Session) -> Result<(), Failure> {
        let greeting = self.read_greeting(session)?;
        self.check_greeting(session, &greeting)?;
        self.hello(session).map(|_| ())
    }

    /// The greeting, with the common mistakes named: TLS bytes where a
    /// greeting should be, silence on the implicit TLS port.
    fn read_greeting(&self, session: &mut Session) -> Result<Reply, Failure> {
        session.read_reply().map_err(|e| match e {
            ReadError::TlsRecord => {
                let failure = Failure::new(
                    exit::UNAVAILABLE,
                    format!(
                        "{} answered with TLS where a greeting should be",
                        self.target
                    ),
                );
                // TLS is not tried on a Unix socket: no flag would help.
                if self.target.is_unix() {
                    failure
                } else {
                    failure.with_hint("this port speaks implicit TLS: use --tls implicit")
                }
            }
            ReadError::Timeout if self.mode != TlsArg::Implicit => self.silent(session.peer_addr()),
            other => other.failure("greeting", &self.target),
        })
    }

    /// No greeting came. A port that speaks implicit TLS waits in silence
    /// for a ClientHello, so one is sent on a second connection before the
    /// server is called silent.
    fn silent(&self, peer: Option<SocketAddr>) -> Failure {
        let message = format!("no greeting from {} within {:?}", self.target, self.timeout);
        let limit = self.timeout.min(TLS_CHECK_LIMIT);
        // There is neither an address nor a TLS name for a Unix socket.
        let peer = peer.zip(self.name.as_ref());
        if peer.is_some_and(|(addr, name)| answers_tls(addr, name, limit)) {
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

    /// EHLO, or HELO when EHLO gets a 5xx (LHLO with `--lmtp`, which has
    /// no fallback); whether the server speaks ESMTP (or LMTP) and what it
    /// offers.
    pub(super) fn hello(&self, session: &mut Session) -> Result<(bool, Capabilities), Failure> {
        let verb = if self.lmtp { "LHLO" } else { "EHLO" };
        let stage_error = |e: ReadError| e.failure(verb, &self.target);
        let ehlo = session
            .command(&format!("{verb} {}", self.client))
            .map_err(stage_error)?;
        if ehlo.code() == 250 {
            return Ok((true, Capabilities::from_ehlo(&ehlo)));
        }
        if !ehlo.is_permanent() || self.lmtp {
            return Err(refused(&self.target, verb, &ehlo));
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
    pub(super) fn start_tls(&self, mut session: Session) -> Result<TcpStream, Failure> {
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
