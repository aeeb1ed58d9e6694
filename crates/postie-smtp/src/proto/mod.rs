//! The sans-IO protocol core: one send, across servers, as a state machine.
//!
//! [`Delivery`] holds every rule of the dialogue (greeting, EHLO with HELO
//! fallback, failover before MAIL, MAIL/RCPT/DATA, the at-least-one
//! decision, RSET and QUIT) and none of the I/O. It never reads a clock:
//! every call that moves time takes `now`. A driver owns the socket and
//! loops:
//!
//! ```text
//!   loop match delivery.poll(now) {
//!       Step::Connect { server, timeout } => connect, then handle_connected / handle_connect_failed
//!       Step::Write { timeout }           => write delivery.take_output() (error: handle_io_error)
//!       Step::Read { timeout }            => read, then handle_input / handle_eof / handle_timeout / handle_io_error
//!       Step::Transform { offers }        => make the message's form for this server, then handle_transformed
//!       Step::Measure                     => count that form, then handle_measured
//!       Step::WriteBody { timeout }       => stream that form through a DataEncoder, then handle_body_written
//!       Step::Close                       => drop the connection
//!       Step::Done                        => return delivery.into_result()
//!   }
//! ```
//!
//! The blocking driver in [`crate::blocking`] is this loop over
//! `std::net::TcpStream`; the async driver and TLS plug into the same steps.

mod auth;
mod config;
mod dialogue;
mod failure;
mod silence;
mod transaction;
mod wire;

use std::time::{Duration, Instant};

use crate::capabilities::{Capabilities, Extension};
use crate::error::{Cause, Error, InvalidInput, ServerError, Stage};
use crate::outcome::{Refusal, Sent};
use crate::reply::{Reply, ReplyParser};
use crate::sasl::{self, Mechanism, Zeroizing};
use crate::server::ServerAddr;
use crate::tls::{TlsDecision, TlsError, TlsErrorKind, TlsInfo, TlsMode, TlsProblem};
use crate::trace::{Trace, TraceKind};

pub use crate::data::Framing;
pub use crate::error::AuthProblem;
pub use config::{AuthConfig, Config};
pub use wire::{Content, ServerOffers, Wire};

/// How long to wait for the reply to QUIT once the outcome is known.
const QUIT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longer limits are taken as this, so that `now + limit` cannot overflow
/// (a caller may pass `Duration::MAX` for "no limit").
const LONGEST_WAIT: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// What the driver must do next.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Step {
    /// Open a connection to `server` (every address of the name, each
    /// within `timeout`), then call [`Delivery::handle_connected`] or
    /// [`Delivery::handle_connect_failed`].
    Connect {
        /// The server to connect to.
        server: ServerAddr,
        /// The limit for connecting.
        timeout: Duration,
    },
    /// Write all of [`Delivery::take_output`], each write within `timeout`.
    Write {
        /// The limit for each write to make progress.
        timeout: Duration,
    },
    /// Read from the connection within `timeout` and pass what came.
    Read {
        /// The limit for the read.
        timeout: Duration,
    },
    /// Start TLS on the open connection (after the server's 220 to
    /// STARTTLS, or right after connecting for implicit TLS), verifying the
    /// certificate for `server_name`; then call
    /// [`Delivery::handle_tls_established`] or [`Delivery::handle_tls_failed`].
    /// The core has checked that nothing is buffered from before the
    /// handshake; the driver must not keep any plaintext read-ahead either.
    StartTls {
        /// The name to send (SNI) and to check the certificate against.
        server_name: String,
        /// The limit for the handshake.
        timeout: Duration,
    },
    /// Write the message through a [`crate::data::DataEncoder`], its
    /// terminator included, then call [`Delivery::handle_body_written`].
    WriteBody {
        /// The limit for each write to make progress.
        timeout: Duration,
        /// The time left for the whole send, if it has a deadline.
        remaining: Option<Duration>,
    },
    /// Make the message's form for this attempt from what the server
    /// offers (the message transforms: [`crate::transform`]), then call
    /// [`Delivery::handle_transformed`] (or
    /// [`Delivery::handle_transform_failed`]). Once before each MAIL, and
    /// only with [`Config::transform`].
    Transform {
        /// What the server offers that decides the form.
        offers: ServerOffers,
    },
    /// Count the message's octets as RFC 1870 does (a
    /// [`crate::data::SizeCounter`] over what `WriteBody` would write),
    /// then call [`Delivery::handle_measured`] (or
    /// [`Delivery::handle_measure_failed`]). Only with
    /// [`Config::measure_on_demand`].
    Measure,
    /// The greeting has been silent for a while: open a second connection
    /// to `server` the way [`Step::Connect`] does (the same connector),
    /// send a TLS ClientHello for `server_name` on it, and call
    /// [`Delivery::handle_tls_probed`] with whether a TLS record came back
    /// within `timeout`. The first connection stays open meanwhile. Asked
    /// at most once a connection, never on port 25 nor with implicit TLS
    /// (see `proto/silence.rs`).
    ProbeTls {
        /// The server, as for [`Step::Connect`].
        server: ServerAddr,
        /// The name for the ClientHello (SNI).
        server_name: String,
        /// The limit for connecting and for the answer.
        timeout: Duration,
    },
    /// Close the connection (without reading more), then poll again.
    Close,
    /// Finished: take the result with [`Delivery::into_result`].
    Done,
}

/// The reply being waited for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    Greeting,
    Ehlo,
    Helo,
    StartTls,
    Qued,
    Auth,
    AuthCancel,
    Mail,
    Rcpt(usize),
    Data,
    EndOfData,
    Rset,
    Quit,
}

impl Expect {
    fn stage(self) -> Stage {
        match self {
            Self::Greeting => Stage::Greeting,
            Self::Ehlo | Self::Helo => Stage::Ehlo,
            Self::StartTls => Stage::StartTls,
            Self::Qued => Stage::Ehlo,
            Self::Auth | Self::AuthCancel => Stage::Auth,
            Self::Mail => Stage::Mail,
            Self::Rcpt(_) => Stage::Rcpt,
            Self::Data | Self::Rset | Self::Quit => Stage::Data,
            Self::EndOfData => Stage::EndOfData,
        }
    }

    /// Before MAIL a failure moves on to the next server. AUTH counts: a
    /// connection lost, silent or closing (421) there has taken nothing
    /// (refused credentials are another matter: they end the send).
    fn before_mail(self) -> bool {
        matches!(
            self,
            Self::Greeting
                | Self::Ehlo
                | Self::Helo
                | Self::StartTls
                | Self::Qued
                | Self::Auth
                | Self::AuthCancel
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    NextServer,
    Connecting,
    Await(Expect),
    Handshake {
        implicit: bool,
    },
    SendingBody,
    Closing(After),
    Finished,
    /// Waiting for the driver to count the message.
    Measuring,
    /// Waiting for the driver to make the message's form for this attempt.
    Transforming,
    /// Waiting for the driver to offer TLS on a second connection, the
    /// greeting having been silent ([`Step::ProbeTls`]).
    ProbingTls,
    /// Done with a message, the connection open and clean for the next.
    Idle,
    /// A next message on an idle connection: MAIL is due.
    Ready,
}

/// Where to go once the connection is closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum After {
    NextServer,
    /// The same server again, without STARTTLS (the policy allowed it
    /// after a failed handshake).
    SameServer,
    Finish,
}

/// One send of one message, across the configured servers.
pub struct Delivery {
    config: Config,
    state: State,
    next_server: usize,
    server: Option<ServerAddr>,
    capabilities: Capabilities,
    parser: ReplyParser,
    out: Vec<u8>,
    started: Instant,
    stage_deadline: Instant,
    stage_timeout: Duration,
    attempts: Vec<ServerError>,
    result: Option<Result<Sent, Error>>,
    tls: Option<TlsInfo>,
    skip_starttls: bool,
    peer_is_loopback: bool,
    qued_sent: bool,
    /// The AUTH exchange under way, made anew when AUTH starts.
    auth: auth::AuthExchange,
    authenticated: Option<String>,
    traces: std::collections::VecDeque<Trace>,
    /// The mail transaction under way, made anew for each MAIL.
    tx: transaction::Transaction,
    /// The message as it goes on this attempt: made before MAIL, dropped
    /// when the connection or the message changes.
    wire: Option<Wire>,
    /// MAIL went on a connection kept from an earlier message and has not
    /// been answered yet: if the server turns out to have closed it (EOF,
    /// a write error, 421) or refuses MAIL for now (a 4xx: a server's limit
    /// of messages per connection), nothing was started, and the core sends
    /// the message again on a new connection.
    reused: bool,
    /// Transactions started (MAIL sent) on the current connection.
    messages_on_connection: u32,
    /// Whether a silent greeting gets TLS offered on the side.
    sniff: silence::Sniff,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("state", &self.state)
            .field("server", &self.server)
            .field("tls", &self.tls)
            .field("mechanism", &self.auth.mechanism.as_ref().map(|m| m.name()))
            .field("authenticated", &self.authenticated)
            .finish_non_exhaustive()
    }
}

impl Delivery {
    /// A send that starts at `now`. Refuses input that could not be sent
    /// safely: no servers, no recipients, CR/LF/NUL in any command argument.
    pub fn new(config: Config, now: Instant) -> Result<Self, InvalidInput> {
        check(&config)?;
        Ok(Self {
            config,
            state: State::NextServer,
            next_server: 0,
            server: None,
            capabilities: Capabilities::default(),
            parser: ReplyParser::default(),
            out: Vec::new(),
            started: now,
            stage_deadline: now,
            stage_timeout: Duration::ZERO,
            attempts: Vec::new(),
            result: None,
            tls: None,
            skip_starttls: false,
            peer_is_loopback: false,
            qued_sent: false,
            auth: auth::AuthExchange::default(),
            authenticated: None,
            traces: std::collections::VecDeque::new(),
            tx: transaction::Transaction::default(),
            wire: None,
            reused: false,
            messages_on_connection: 0,
            sniff: silence::Sniff::Off,
        })
    }

    /// What the driver must do next.
    pub fn poll(&mut self, now: Instant) -> Step {
        loop {
            if !self.out.is_empty() {
                return Step::Write {
                    timeout: self.time_left(now, self.stage_timeout),
                };
            }
            match self.state {
                State::NextServer => {
                    if self.deadline_passed(now) && !self.attempts.is_empty() {
                        self.finish_without_server();
                        continue;
                    }
                    let Some(server) = self.config.servers.get(self.next_server).cloned() else {
                        self.finish_without_server();
                        continue;
                    };
                    self.next_server += 1;
                    let via = match &self.config.settings.proxy {
                        Some(proxy) => format!(" via SOCKS5 proxy {}", proxy.addr()),
                        None => String::new(),
                    };
                    self.trace(TraceKind::Info, format!("connecting to {server}{via}"));
                    self.server = Some(server);
                    self.skip_starttls = false;
                    self.state = State::Connecting;
                }
                State::Connecting => {
                    if let Some(server) = self.server.clone() {
                        return Step::Connect {
                            server,
                            timeout: self.time_left(now, self.config.timeouts.connect),
                        };
                    }
                    self.state = State::NextServer;
                }
                State::Await(expect) => {
                    if now >= self.stage_deadline {
                        self.handle_timeout(now);
                        continue;
                    }
                    let sniff_at = match expect {
                        Expect::Greeting => self.sniff.due(self.stage_deadline),
                        _ => None,
                    };
                    if let Some(at) = sniff_at {
                        if now >= at {
                            self.sniff = silence::Sniff::Asked;
                            self.state = State::ProbingTls;
                            continue;
                        }
                        return Step::Read { timeout: at - now };
                    }
                    return Step::Read {
                        timeout: self.stage_deadline - now,
                    };
                }
                State::ProbingTls => {
                    let server = self.current_server();
                    return Step::ProbeTls {
                        server_name: server.host.clone(),
                        server,
                        timeout: self
                            .time_left(now, silence::LIMIT)
                            .min(self.stage_deadline.saturating_duration_since(now)),
                    };
                }
                State::SendingBody => {
                    return Step::WriteBody {
                        timeout: self.time_left(now, self.config.timeouts.command),
                        remaining: self.remaining(now),
                    };
                }
                State::Closing(after) => {
                    self.parser.clear();
                    self.tls = None;
                    self.state = match after {
                        After::NextServer => State::NextServer,
                        After::SameServer => State::Connecting,
                        After::Finish => State::Finished,
                    };
                    return Step::Close;
                }
                State::Handshake { .. } => {
                    return Step::StartTls {
                        server_name: self.current_server().host,
                        timeout: self.time_left(now, self.config.timeouts.command),
                    };
                }
                State::Finished | State::Idle => return Step::Done,
                State::Measuring => return Step::Measure,
                State::Transforming => {
                    return Step::Transform {
                        offers: transaction::server_offers(&self.config, &self.capabilities),
                    }
                }
                State::Ready => {
                    self.reused = true;
                    self.start_mail(now);
                }
            }
        }
    }

    /// The bytes to write now, wiped when dropped: they may carry an AUTH
    /// response (the password itself, with PLAIN and LOGIN).
    pub fn take_output(&mut self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(std::mem::take(&mut self.out))
    }

    /// The connection is open; `peer_is_loopback` tells whether it goes to
    /// this machine (credentials that travel in clear are allowed there).
    pub fn handle_connected(&mut self, now: Instant, peer_is_loopback: bool) {
        if self.state == State::Connecting {
            self.capabilities = Capabilities::default();
            self.wire = None;
            self.messages_on_connection = 0;
            self.parser.clear();
            self.tls = None;
            self.authenticated = None;
            self.auth = auth::AuthExchange::default();
            self.peer_is_loopback = peer_is_loopback;
            if self.config.tls == TlsMode::Implicit {
                self.state = State::Handshake { implicit: true };
                self.sniff = silence::Sniff::Off;
            } else {
                self.expect(Expect::Greeting, now, self.config.timeouts.command);
                self.sniff =
                    silence::Sniff::on_connect(&self.current_server(), self.config.tls, now);
            }
        }
    }

    /// The answer to [`Step::ProbeTls`]: whether the second connection got
    /// a TLS record back. If it did, the port speaks implicit TLS and the
    /// greeting will never come: the attempt fails at once, permanently.
    /// If not, the greeting is awaited for the rest of its time.
    pub fn handle_tls_probed(&mut self, now: Instant, answered_tls: bool) {
        if self.state != State::ProbingTls {
            return;
        }
        self.sniff = silence::Sniff::Done;
        self.state = State::Await(Expect::Greeting);
        if answered_tls {
            let error = TlsError::new(
                TlsErrorKind::TlsServer,
                format!(
                    "no greeting within {:?}, and a second connection answered TLS: this port speaks implicit TLS; use --tls implicit",
                    silence::AFTER
                ),
            );
            self.fail(Cause::Tls(error), now);
        }
    }

    /// The TLS handshake succeeded.
    pub fn handle_tls_established(&mut self, now: Instant, info: TlsInfo) {
        let State::Handshake { implicit } = self.state else {
            return;
        };
        self.trace(
            TraceKind::Info,
            format!(
                "TLS established: {} {}{}",
                info.version,
                info.cipher,
                if info.resumed { " (resumed)" } else { "" }
            ),
        );
        self.tls = Some(info);
        if implicit {
            self.expect(Expect::Greeting, now, self.config.timeouts.command);
        } else {
            // RFC 3207 §4.2: forget everything learnt before TLS.
            self.capabilities = Capabilities::default();
            let command = self.hello();
            self.send(&command, Expect::Ehlo, now);
        }
    }

    /// The TLS handshake failed, or the certificate was refused.
    pub fn handle_tls_failed(&mut self, _now: Instant, error: TlsError) {
        let State::Handshake { implicit } = self.state else {
            return;
        };
        self.trace(TraceKind::Info, format!("TLS failed: {error}"));
        if implicit {
            self.record_attempt(Stage::Connect, Cause::Tls(error));
            self.state = State::Closing(After::NextServer);
            return;
        }
        let decision = match self.config.tls {
            TlsMode::Required => TlsDecision::Secure,
            _ => (self.config.policy)(&TlsProblem::Handshake(&error)),
        };
        self.record_attempt(Stage::StartTls, Cause::Tls(error));
        self.state = match decision {
            TlsDecision::Secure => State::Closing(After::NextServer),
            TlsDecision::Insecure => {
                // The connection is unusable after a broken handshake:
                // reconnect to the same server and stay in clear.
                self.skip_starttls = true;
                State::Closing(After::SameServer)
            }
        };
    }

    /// The TLS session, when the connection is encrypted.
    pub fn tls(&self) -> Option<&TlsInfo> {
        self.tls.as_ref()
    }

    /// The connection could not be opened.
    pub fn handle_connect_failed(&mut self, _now: Instant, cause: Cause) {
        if self.state == State::Connecting {
            self.record_attempt(Stage::Connect, cause);
            self.state = State::NextServer;
        }
    }

    /// Bytes arrived from the server.
    pub fn handle_input(&mut self, now: Instant, bytes: &[u8]) {
        let State::Await(_) = self.state else {
            if !bytes.is_empty() && !matches!(self.state, State::Closing(_) | State::Finished) {
                self.fail(Cause::Unexpected, now);
            }
            return;
        };
        // Any byte of a greeting ends the wait for it to be silent: a
        // server that sends `220-` and pauses is no implicit-TLS port.
        if self.state == State::Await(Expect::Greeting) && !bytes.is_empty() {
            self.sniff = silence::Sniff::Done;
        }
        if self.state == State::Await(Expect::Greeting)
            && !self.parser.has_buffered()
            && crate::net::is_tls_record(bytes)
        {
            // A TLS record where a greeting should be.
            let error = TlsError::new(
                TlsErrorKind::TlsServer,
                "the server answered with TLS: this port speaks implicit TLS; use --tls implicit",
            );
            self.fail(Cause::Tls(error), now);
            return;
        }
        self.parser.push(bytes);
        loop {
            let reply = match self.parser.next_reply() {
                Ok(Some(reply)) => reply,
                Ok(None) => return,
                Err(e) => {
                    self.fail(Cause::Protocol(e), now);
                    return;
                }
            };
            let State::Await(expect) = self.state else {
                // A reply while none is due.
                self.fail(Cause::Unexpected, now);
                return;
            };
            if self.config.trace {
                for line in reply.transcript_lines() {
                    self.trace(TraceKind::Received, line);
                }
            }
            // Bytes beyond the reply, before our next command: taking them
            // as the next answer would desynchronise the dialogue, and is
            // how response injection works (CVE-2021-22947). They are fine
            // only when more replies are due for a pipelined batch; the
            // reply to the end of data still counts (the message is in).
            let extra = self.parser.has_buffered();
            if extra && self.tx.due.is_empty() && expect != Expect::EndOfData {
                self.fail(Cause::Unexpected, now);
                return;
            }
            self.on_reply(expect, reply, now);
            if !extra {
                return;
            }
            if let State::Closing(_) = self.state {
                // Leaving this connection: what else it said (the rest of
                // a pipelined batch's replies) changes nothing.
                self.parser.clear();
                return;
            }
            // LMTP: the other recipients' replies may come in the same read.
            if expect == Expect::EndOfData && self.tx.lmtp_pending == 0 {
                self.fail(Cause::Unexpected, now);
                return;
            }
        }
    }

    /// The server closed the connection.
    pub fn handle_eof(&mut self, now: Instant) {
        self.fail(Cause::Closed, now);
    }

    /// Reading or writing failed.
    pub fn handle_io_error(&mut self, now: Instant, error: std::io::Error) {
        self.fail(Cause::Io(error), now);
    }

    /// The time limit of the current step passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        // The greeting's read stopped early to offer TLS on the side: not
        // a timeout yet (poll asks for the check).
        if self.state == State::Await(Expect::Greeting)
            && now < self.stage_deadline
            && !self.deadline_passed(now)
            && self.sniff.due(self.stage_deadline).is_some()
        {
            return;
        }
        let silent_465 = self.state == State::Await(Expect::Greeting)
            && self.config.tls != TlsMode::Implicit
            && self
                .server
                .as_ref()
                .is_some_and(|s| s.port == crate::server::IMPLICIT_TLS_PORT);
        let cause = if self.deadline_passed(now) {
            Cause::Deadline
        } else if silent_465 {
            Cause::Tls(TlsError::new(
                TlsErrorKind::TlsServer,
                format!(
                    "no greeting within {:?}: port 465 usually speaks implicit TLS; use --tls implicit",
                    self.stage_timeout
                ),
            ))
        } else {
            Cause::Timeout(self.stage_timeout)
        };
        self.fail(cause, now);
    }

    /// The driver counted the message: MAIL goes now, with SIZE (and BDAT)
    /// where offered.
    pub fn handle_measured(&mut self, now: Instant, size: u64) {
        if self.state == State::Measuring {
            if let Some(wire) = &mut self.wire {
                wire.size = Some(size);
            }
            if !self.config.transform {
                // The same on every attempt: not counted again.
                self.config.size = Some(size);
            }
            self.start_mail(now);
        }
    }

    /// The message could not be read to count it: nothing was sent.
    pub fn handle_measure_failed(&mut self, now: Instant, error: std::io::Error) {
        if self.state == State::Measuring {
            self.fail_transaction(Stage::Mail, Cause::Io(error), now);
        }
    }

    /// The message's form for this attempt, made at [`Step::Transform`].
    /// A form the core could not send safely (a path with CR, LF or NUL;
    /// not one path per recipient) fails the message, as a failed
    /// transform does.
    pub fn handle_transformed(&mut self, now: Instant, wire: Wire) {
        if self.state != State::Transforming {
            return;
        }
        let paths_safe = path_is_safe(&wire.reverse_path, true)
            && wire.recipients.iter().all(|p| path_is_safe(p, false));
        if !paths_safe || wire.recipients.len() != self.config.recipients.len() {
            let problem = crate::error::TransformError::new(
                "envelope",
                "a transform gave paths that cannot be sent (one per recipient, no control characters)",
            );
            self.fail_transaction(Stage::Mail, Cause::Transform(problem), now);
            return;
        }
        for note in &wire.notes {
            self.trace(TraceKind::Info, note.clone());
        }
        self.wire = Some(wire);
        self.start_mail(now);
    }

    /// A transform failed: nothing was sent, and the message fails.
    pub fn handle_transform_failed(&mut self, now: Instant, error: crate::error::TransformError) {
        if self.state == State::Transforming {
            self.fail_transaction(Stage::Mail, Cause::Transform(error), now);
        }
    }

    /// The message and its terminator were written.
    pub fn handle_body_written(&mut self, now: Instant) {
        if self.state == State::SendingBody {
            // BDAT sends no terminating dot (RFC 3030).
            let what = match self.tx.bdat_size {
                Some(_) => "(the message)",
                None => "(the message, then \".\")",
            };
            self.trace(TraceKind::Sent, what.to_owned());
            if self.config.settings.lmtp {
                self.tx.lmtp_pending = self.tx.accepted.len();
                self.tx.lmtp_replies.clear();
            }
            self.expect(Expect::EndOfData, now, self.config.timeouts.end_of_data);
        }
    }

    /// The capabilities of the current server (empty after HELO).
    pub fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    /// Whether the connection is open and clean for another message (after
    /// [`Step::Done`], with [`Config::keep_open`]).
    pub fn is_idle(&self) -> bool {
        self.state == State::Idle
    }

    /// The result of the message just finished, leaving the delivery (and
    /// its idle connection) for [`Delivery::next_message`].
    pub fn take_result(&mut self) -> Result<Sent, Error> {
        match self.result.take() {
            Some(result) => result,
            None => Err(Error::NoServer {
                attempts: std::mem::take(&mut self.attempts),
            }),
        }
    }

    /// Starts another message on the idle connection: its envelope and
    /// size (the message fields of `config`: reverse path, recipients,
    /// ASCII forms, size, 8-bit, at-least-one) replace the last one's; the
    /// connection's settings stay those of the first. MAIL is sent at the
    /// next poll, with no RSET (the last transaction ended clean). If the
    /// server closed the connection meanwhile (EOF, a failed write, or 421
    /// before MAIL is answered), the core reconnects, from the first
    /// server, as for a new send: nothing had been started.
    ///
    /// # Errors
    ///
    /// The same input checks as [`Delivery::new`]; also refused when the
    /// connection is not idle.
    pub fn next_message(&mut self, config: Config, now: Instant) -> Result<(), InvalidInput> {
        check(&config)?;
        if self.state != State::Idle {
            return Err(InvalidInput::NotIdle);
        }
        // All of it: what the session fixes (servers, TLS, AUTH) is the
        // same in every message's config, and everything else (envelope,
        // size, body type, DSN) belongs to this message alone.
        self.config = config;
        self.started = now;
        self.tx = transaction::Transaction::default();
        self.wire = None;
        self.attempts.clear();
        self.result = None;
        self.state = State::Ready;
        Ok(())
    }

    /// Ends an idle connection politely: QUIT, then [`Step::Close`] and
    /// [`Step::Done`]. Does nothing unless idle.
    pub fn close_idle(&mut self, now: Instant) {
        if self.state == State::Idle {
            self.started = now;
            self.say_goodbye(now);
        }
    }

    /// The result, once [`Step::Done`] was returned.
    pub fn into_result(self) -> Result<Sent, Error> {
        match self.result {
            Some(result) => result,
            None => Err(Error::NoServer {
                attempts: self.attempts,
            }),
        }
    }

    /// The mechanism the server accepted, once authenticated.
    pub fn authenticated(&self) -> Option<&str> {
        self.authenticated.as_deref()
    }

    /// The next line of the transcript (when [`Config::trace`] is set).
    /// Secrets never appear: AUTH payloads are replaced by `[redacted]`.
    pub fn poll_trace(&mut self) -> Option<Trace> {
        self.traces.pop_front()
    }

    fn trace(&mut self, kind: TraceKind, text: String) {
        let line = Trace { kind, text };
        tracing::debug!(target: "postie_smtp::dialogue", "{line}");
        if self.config.trace {
            self.traces.push_back(line);
        }
    }

    /// The stage the send is in, for logs and spans.
    pub fn stage(&self) -> Option<Stage> {
        match self.state {
            State::Connecting => Some(Stage::Connect),
            State::Await(expect) => Some(self.stage_of(expect)),
            State::ProbingTls => Some(Stage::Greeting),
            State::Handshake { .. } => Some(Stage::StartTls),
            State::SendingBody => Some(Stage::Data),
            State::Ready | State::Measuring | State::Transforming => Some(Stage::Mail),
            State::NextServer | State::Closing(_) | State::Finished | State::Idle => None,
        }
    }

    /// The stage of waiting for `expect`'s reply: LHLO is its own stage.
    fn stage_of(&self, expect: Expect) -> Stage {
        match expect.stage() {
            Stage::Ehlo if self.config.settings.lmtp && expect == Expect::Ehlo => Stage::Lhlo,
            stage => stage,
        }
    }

    /// The size of the body to write at [`Step::WriteBody`], when it was
    /// counted: for progress reports.
    pub fn body_size(&self) -> Option<u64> {
        self.wire.as_ref().and_then(|wire| wire.size)
    }

    /// How to frame the body at [`Step::WriteBody`].
    pub fn body_framing(&self) -> Framing {
        match self.tx.bdat_size {
            Some(size) => Framing::Bdat { size },
            None => Framing::Data,
        }
    }

    /// How many messages were started (MAIL sent) on the current
    /// connection: sessions close it at their limit
    /// (`max_messages_per_connection`).
    pub fn messages_on_connection(&self) -> u32 {
        self.messages_on_connection
    }

    /// The server being tried.
    pub fn server(&self) -> Option<&ServerAddr> {
        self.server.as_ref()
    }

    /// The end of a message: QUIT, or with [`Config::keep_open`] an idle
    /// connection kept for the next.
    fn quit(&mut self, now: Instant) {
        if self.config.keep_open {
            self.tx = transaction::Transaction::default();
            self.state = State::Idle;
            return;
        }
        self.say_goodbye(now);
    }

    fn say_goodbye(&mut self, now: Instant) {
        self.send("QUIT", Expect::Quit, now);
        self.stage_timeout = self.stage_timeout.min(QUIT_TIMEOUT);
        self.stage_deadline = now + self.time_left(now, self.stage_timeout);
    }

    fn send(&mut self, command: &str, expect: Expect, now: Instant) {
        self.send_secret(command, command, expect, now);
    }

    /// Queues `command`; the transcript shows `shown` instead. The space is
    /// reserved first, so that the output buffer is not regrown once it
    /// holds the command (a regrowth would free a copy without wiping it).
    fn send_secret(&mut self, command: &str, shown: &str, expect: Expect, now: Instant) {
        self.trace(TraceKind::Sent, shown.to_owned());
        self.out.reserve(command.len() + 2);
        self.out.extend_from_slice(command.as_bytes());
        self.out.extend_from_slice(b"\r\n");
        self.expect(expect, now, self.config.timeouts.command);
    }

    fn expect(&mut self, expect: Expect, now: Instant, timeout: Duration) {
        self.state = State::Await(expect);
        self.stage_timeout = timeout;
        self.stage_deadline = now + self.time_left(now, timeout);
    }

    fn current_server(&self) -> ServerAddr {
        self.server.clone().unwrap_or(ServerAddr {
            host: String::new(),
            port: 0,
        })
    }

    fn remaining(&self, now: Instant) -> Option<Duration> {
        self.config.timeouts.deadline.map(|d| {
            let end = self.started + d.min(LONGEST_WAIT);
            end.saturating_duration_since(now)
        })
    }

    fn deadline_passed(&self, now: Instant) -> bool {
        self.remaining(now).is_some_and(|r| r.is_zero())
    }

    /// `limit`, cut short by the deadline.
    fn time_left(&self, now: Instant, limit: Duration) -> Duration {
        let limit = limit.min(LONGEST_WAIT);
        match self.remaining(now) {
            Some(remaining) => limit.min(remaining),
            None => limit,
        }
    }
}

/// Refuses input that could not be sent safely.
fn check(config: &Config) -> Result<(), InvalidInput> {
    if config.servers.is_empty() {
        return Err(InvalidInput::NoServers);
    }
    if config.recipients.is_empty() {
        return Err(InvalidInput::NoRecipients);
    }
    let client_ok = !config.client.is_empty()
        && config
            .client
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'<' && b != b'>');
    if !client_ok {
        return Err(InvalidInput::ClientName(config.client.clone()));
    }
    if !path_is_safe(&config.reverse_path, true) {
        return Err(InvalidInput::UnsafeEnvelope(
            config.reverse_path.escape_debug().to_string(),
        ));
    }
    for path in &config.recipients {
        if !path_is_safe(path, false) {
            return Err(InvalidInput::UnsafeEnvelope(
                path.escape_debug().to_string(),
            ));
        }
    }
    Ok(())
}

/// Whether `path` can stand between `<` and `>` in MAIL or RCPT without
/// changing the command: no control characters anywhere, and no space,
/// `<` or `>` outside a leading quoted local part. Empty only for the null
/// reverse-path.
fn path_is_safe(path: &str, may_be_empty: bool) -> bool {
    if path.is_empty() {
        return may_be_empty;
    }
    if path.chars().any(char::is_control) {
        return false;
    }
    let rest = match path.strip_prefix('"') {
        Some(quoted) => {
            let mut escaped = false;
            let mut end = None;
            for (i, c) in quoted.char_indices() {
                match c {
                    _ if escaped => escaped = false,
                    '\\' => escaped = true,
                    '"' => {
                        end = Some(i + 1);
                        break;
                    }
                    _ => {}
                }
            }
            match end.and_then(|e| quoted.get(e..)) {
                Some(rest) => rest,
                None => return false,
            }
        }
        None => path,
    };
    !rest.contains([' ', '<', '>'])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sasl::Credentials;

    #[test]
    fn paths_that_could_change_a_command_are_refused() {
        assert!(path_is_safe("a@b", false));
        assert!(path_is_safe("\"a b>c\"@b", false));
        assert!(path_is_safe("", true));
        assert!(!path_is_safe("", false));
        assert!(!path_is_safe("a@b> SIZE=1", false));
        assert!(!path_is_safe("\"a\"@b> X", false));
        assert!(!path_is_safe("\"unterminated@b", false));
        assert!(!path_is_safe("a@b\tc", false));
    }

    fn config(servers: usize) -> Config {
        let servers = (0..servers)
            .map(|i| ServerAddr {
                host: format!("mx{i}.test"),
                port: 25,
            })
            .collect();
        let settings = crate::settings::TransportSettings {
            chunking: false,
            ..Default::default()
        };
        let mut c = Config::new(
            servers,
            "client.test",
            "a@x.test",
            vec!["b@y.test".to_owned()],
            std::sync::Arc::new(settings),
        );
        c.size = Some(10);
        c
    }

    /// `c`'s settings, to change one.
    fn settings(c: &mut Config) -> &mut crate::settings::TransportSettings {
        std::sync::Arc::make_mut(&mut c.settings)
    }

    /// Polls until the core wants to read; returns what it wrote meanwhile.
    fn written_until_read(d: &mut Delivery, now: Instant) -> String {
        let mut out = Vec::new();
        loop {
            match d.poll(now) {
                Step::Write { .. } => out.extend_from_slice(&d.take_output()),
                Step::Read { .. } | Step::Measure => return String::from_utf8(out).unwrap(),
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn a_whole_send_in_memory() {
        let t = Instant::now();
        let mut d = Delivery::new(config(1), t).unwrap();
        assert!(matches!(d.poll(t), Step::Connect { .. }));
        d.handle_connected(t, true);
        assert_eq!(written_until_read(&mut d, t), "");
        d.handle_input(t, b"220 hi\r\n");
        assert_eq!(written_until_read(&mut d, t), "EHLO client.test\r\n");
        d.handle_input(t, b"250-mx\r\n250 SIZE 100\r\n");
        assert_eq!(
            written_until_read(&mut d, t),
            "MAIL FROM:<a@x.test> SIZE=10\r\n"
        );
        d.handle_input(t, b"250 ok\r\n");
        assert_eq!(written_until_read(&mut d, t), "RCPT TO:<b@y.test>\r\n");
        d.handle_input(t, b"250 ok\r\n");
        assert_eq!(written_until_read(&mut d, t), "DATA\r\n");
        d.handle_input(t, b"354 go\r\n");
        assert!(matches!(d.poll(t), Step::WriteBody { .. }));
        d.handle_body_written(t);
        assert_eq!(
            d.poll(t),
            Step::Read {
                timeout: Duration::from_secs(600)
            }
        );
        d.handle_input(t, b"250 2.0.0 queued as Q1\r\n");
        assert_eq!(written_until_read(&mut d, t), "QUIT\r\n");
        d.handle_input(t, b"221 bye\r\n");
        assert_eq!(d.poll(t), Step::Close);
        assert_eq!(d.poll(t), Step::Done);
        let sent = d.into_result().unwrap();
        assert_eq!(sent.queue_id().as_deref(), Some("Q1"));
    }

    /// A config for one server on `port`, with STARTTLS as the default.
    fn config_on_port(port: u16) -> Config {
        let mut c = config(1);
        c.servers[0].port = port;
        c
    }

    #[test]
    fn a_silent_greeting_gets_tls_offered_on_the_side_and_a_tls_answer_fails_at_once() {
        let t = Instant::now();
        let mut d = Delivery::new(config_on_port(587), t).unwrap();
        assert!(matches!(d.poll(t), Step::Connect { .. }));
        d.handle_connected(t, false);
        // The greeting's read stops after a few seconds of silence...
        assert_eq!(
            d.poll(t),
            Step::Read {
                timeout: silence::AFTER
            }
        );
        let t1 = t + silence::AFTER;
        d.handle_timeout(t1);
        // ...for a check on a second connection, the first kept open.
        let Step::ProbeTls {
            server,
            server_name,
            timeout,
        } = d.poll(t1)
        else {
            panic!("no TLS check");
        };
        assert_eq!(
            (server.host.as_str(), server.port, server_name.as_str()),
            ("mx0.test", 587, "mx0.test")
        );
        assert_eq!(timeout, silence::LIMIT);
        d.handle_tls_probed(t1, true);
        assert_eq!(d.poll(t1), Step::Close);
        assert_eq!(d.poll(t1), Step::Done);
        let err = d.into_result().unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("speaks implicit TLS; use --tls implicit"),
            "{text}"
        );
        assert!(!err.is_temporary(), "{text}");
    }

    #[test]
    fn a_silent_greeting_that_is_no_tls_port_is_awaited_to_its_limit() {
        let t = Instant::now();
        let mut d = Delivery::new(config_on_port(587), t).unwrap();
        assert!(matches!(d.poll(t), Step::Connect { .. }));
        d.handle_connected(t, false);
        let t1 = t + silence::AFTER;
        d.handle_timeout(t1);
        assert!(matches!(d.poll(t1), Step::ProbeTls { .. }));
        d.handle_tls_probed(t1 + Duration::from_secs(1), false);
        // The rest of the greeting's minute, and no second check.
        let t2 = t1 + Duration::from_secs(1);
        assert_eq!(
            d.poll(t2),
            Step::Read {
                timeout: Duration::from_secs(60) - silence::AFTER - Duration::from_secs(1)
            }
        );
        d.handle_input(t2, b"220 slow but here\r\n");
        assert_eq!(written_until_read(&mut d, t2), "EHLO client.test\r\n");
    }

    #[test]
    fn a_greeting_that_has_begun_is_never_taken_for_silence() {
        let t = Instant::now();
        let mut d = Delivery::new(config_on_port(587), t).unwrap();
        assert!(matches!(d.poll(t), Step::Connect { .. }));
        d.handle_connected(t, false);
        d.handle_input(t, b"220-mx.example greets you\r\n");
        // The rest comes late: no side check, the greeting's minute.
        let t1 = t + silence::AFTER;
        assert_eq!(
            d.poll(t1),
            Step::Read {
                timeout: Duration::from_secs(60) - silence::AFTER
            }
        );
        d.handle_input(t1, b"220 and goes on\r\n");
        assert_eq!(written_until_read(&mut d, t1), "EHLO client.test\r\n");
    }

    #[test]
    fn port_25_and_implicit_tls_never_get_the_side_check() {
        let t = Instant::now();
        let mut d = Delivery::new(config_on_port(25), t).unwrap();
        assert!(matches!(d.poll(t), Step::Connect { .. }));
        d.handle_connected(t, false);
        assert_eq!(
            d.poll(t),
            Step::Read {
                timeout: Duration::from_secs(60)
            }
        );
        d.handle_timeout(t + Duration::from_secs(60));
        assert!(matches!(d.poll(t + Duration::from_secs(60)), Step::Close));

        let mut c = config_on_port(2465);
        c.tls = TlsMode::Implicit;
        let mut d = Delivery::new(c, t).unwrap();
        assert!(matches!(d.poll(t), Step::Connect { .. }));
        d.handle_connected(t, false);
        assert!(matches!(d.poll(t), Step::StartTls { .. }));
        d.handle_tls_established(
            t,
            TlsInfo {
                version: "TLSv1.3".into(),
                cipher: "x".into(),
                resumed: false,
            },
        );
        assert_eq!(
            d.poll(t),
            Step::Read {
                timeout: Duration::from_secs(60)
            }
        );
    }

    #[test]
    fn time_is_passed_in_so_timeouts_need_no_sleeping() {
        let t = Instant::now();
        let mut d = Delivery::new(config(2), t).unwrap();
        assert!(matches!(d.poll(t), Step::Connect { .. }));
        d.handle_connected(t, true);
        assert_eq!(
            d.poll(t),
            Step::Read {
                timeout: Duration::from_secs(60)
            }
        );
        // Ten seconds later the read limit has shrunk accordingly.
        let t10 = t + Duration::from_secs(10);
        assert_eq!(
            d.poll(t10),
            Step::Read {
                timeout: Duration::from_secs(50)
            }
        );
        // Past the limit: the greeting timed out; the core closes and moves on.
        let t61 = t + Duration::from_secs(61);
        assert_eq!(d.poll(t61), Step::Close);
        match d.poll(t61) {
            Step::Connect { server, .. } => assert_eq!(server.host, "mx1.test"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_deadline_shortens_every_limit_and_stops_failover() {
        let t = Instant::now();
        let mut c = config(3);
        c.timeouts.deadline = Some(Duration::from_secs(5));
        let mut d = Delivery::new(c, t).unwrap();
        assert_eq!(
            d.poll(t),
            Step::Connect {
                server: ServerAddr {
                    host: "mx0.test".into(),
                    port: 25
                },
                timeout: Duration::from_secs(5)
            }
        );
        d.handle_connected(t, true);
        let t6 = t + Duration::from_secs(6);
        assert_eq!(d.poll(t6), Step::Close);
        // No further server: the deadline covers all of them.
        assert_eq!(d.poll(t6), Step::Done);
        let err = d.into_result().unwrap_err();
        assert!(
            matches!(err.server_error().unwrap().cause(), Cause::Deadline),
            "{err}"
        );
    }

    fn with_password_auth(allow_plaintext: bool) -> Config {
        let mut c = config(1);
        c.tls = TlsMode::None;
        c.auth = Some(AuthConfig {
            credentials: Credentials {
                username: "alice".into(),
                secret: sasl::Secret::new("pw"),
                authzid: None,
            },
            token: false,
            mechanisms: None,
            allow_plaintext,
        });
        c
    }

    /// Runs to the AUTH decision against a server offering `offered`; what
    /// the client writes next.
    fn first_auth_command(offered: &str, loopback: bool, allow_plaintext: bool) -> String {
        let ehlo = format!("250-mx\r\n250 AUTH {offered}\r\n");
        run_to_ehlo(
            with_password_auth(allow_plaintext),
            loopback,
            ehlo.as_bytes(),
        )
        .1
    }

    #[test]
    fn secrets_never_go_in_clear_to_another_host() {
        // PLAIN and LOGIN only, no TLS, not loopback: refused, nothing sent.
        assert_eq!(first_auth_command("PLAIN LOGIN", false, false), "QUIT\r\n");
        // A mechanism that does not expose the password is still used.
        assert_eq!(
            first_auth_command("PLAIN CRAM-MD5", false, false),
            "AUTH CRAM-MD5\r\n"
        );
        // On loopback, or when explicitly allowed, PLAIN is fine.
        assert!(first_auth_command("PLAIN", true, false).starts_with("AUTH PLAIN "));
        assert!(first_auth_command("PLAIN", false, true).starts_with("AUTH PLAIN "));
    }

    /// The AUTH line the driver is handed (the password in base64, with
    /// PLAIN) is wiped when the driver drops it.
    #[cfg(target_os = "linux")]
    #[test]
    fn the_auth_line_is_wiped_when_the_driver_drops_it() {
        use postie_testkit::freed;
        let mut c = with_password_auth(false);
        if let Some(auth) = c.auth.as_mut() {
            auth.credentials.secret = sasl::Secret::new("correct-horse-battery-staple-0123456789");
        }
        let t = Instant::now();
        let mut d = Delivery::new(c, t).unwrap();
        assert!(matches!(d.poll(t), Step::Connect { .. }));
        d.handle_connected(t, true);
        written_until_read(&mut d, t);
        d.handle_input(t, b"220 hi\r\n");
        written_until_read(&mut d, t);
        d.handle_input(t, b"250-mx\r\n250 AUTH PLAIN\r\n");
        assert!(matches!(d.poll(t), Step::Write { .. }));
        let out = d.take_output();
        let copy = out.to_vec();
        assert!(copy.starts_with(b"AUTH PLAIN "), "{copy:?}");
        freed::check_control(&copy);
        let (addr, len) = (out.as_ptr(), out.len());
        let memory = freed::after_drop(out, addr, len);
        assert!(!freed::holds(&memory, &copy), "{memory:?}");
    }

    #[test]
    fn the_refusal_in_clear_says_why_and_how() {
        let (mut d, written, t) = run_to_ehlo(
            with_password_auth(false),
            false,
            b"250-mx\r\n250 AUTH PLAIN\r\n",
        );
        assert_eq!(written, "QUIT\r\n");
        d.handle_input(t, b"221 bye\r\n");
        assert_eq!(d.poll(t), Step::Close);
        assert_eq!(d.poll(t), Step::Done);
        let err = d.into_result().unwrap_err();
        assert_eq!(err.stage(), Some(Stage::Auth));
        let text = err.to_string();
        assert!(
            text.contains("--allow-plaintext-auth") && text.contains("TLS"),
            "{text}"
        );
    }

    #[test]
    fn the_transform_step_comes_after_ehlo_and_mail_sends_the_form_it_made() {
        let mut c = config(2);
        c.transform = true;
        c.measure_on_demand = true;
        let (mut d, t) = answer_ehlo(c, false, b"250-mx\r\n250-SIZE 100\r\n250 SMTPUTF8\r\n");
        assert_eq!(
            d.poll(t),
            Step::Transform {
                offers: ServerOffers::new(false, false, true)
            }
        );
        assert_eq!(d.stage(), Some(Stage::Mail));
        // The form's paths go in MAIL and RCPT; its size is unknown, so it
        // is counted first (the server offers SIZE).
        let mut wire = Wire::new(
            "a@x.test".into(),
            vec!["b@\u{fc}.test".into()],
            Content::default(),
            None,
        );
        wire.notes.push("changed".into());
        d.handle_transformed(t, wire);
        assert_eq!(d.poll(t), Step::Measure);
        d.handle_measured(t, 42);
        assert_eq!(
            written_until_read(&mut d, t),
            "MAIL FROM:<a@x.test> SIZE=42 SMTPUTF8\r\n"
        );
        d.handle_input(t, b"250 ok\r\n");
        assert_eq!(written_until_read(&mut d, t), "RCPT TO:<b@\u{fc}.test>\r\n");
        assert_eq!(d.body_size(), Some(42));
    }

    #[test]
    fn a_form_with_unsafe_or_missing_paths_fails_the_message() {
        for recipients in [vec!["b@y.test\r\nRSET".to_owned()], Vec::new()] {
            let mut c = config(1);
            c.transform = true;
            let (mut d, t) = answer_ehlo(c, false, b"250 mx\r\n");
            assert!(matches!(d.poll(t), Step::Transform { .. }));
            let wire = Wire::new("a@x.test".into(), recipients, Content::default(), Some(1));
            d.handle_transformed(t, wire);
            assert_eq!(written_until_read(&mut d, t), "QUIT\r\n");
            d.handle_input(t, b"221 bye\r\n");
            assert_eq!(d.poll(t), Step::Close);
            assert_eq!(d.poll(t), Step::Done);
            let err = d.into_result().unwrap_err();
            assert!(
                matches!(err.server_error().unwrap().cause(), Cause::Transform(_)),
                "{err}"
            );
        }
    }

    #[test]
    fn the_transcript_shows_no_dot_after_bdat() {
        for (chunking, shown) in [
            (true, "(the message)"),
            (false, "(the message, then \".\")"),
        ] {
            let mut c = config(1);
            settings(&mut c).chunking = chunking;
            c.trace = true;
            let (mut d, _, t) = run_to_ehlo(c, true, b"250-mx\r\n250 CHUNKING\r\n");
            d.handle_input(t, b"250 ok\r\n");
            written_until_read(&mut d, t);
            d.handle_input(t, b"250 ok\r\n");
            if !chunking {
                written_until_read(&mut d, t);
                d.handle_input(t, b"354 go\r\n");
            }
            assert!(matches!(d.poll(t), Step::WriteBody { .. }));
            d.handle_body_written(t);
            let lines: Vec<String> = std::iter::from_fn(|| d.poll_trace())
                .map(|line| line.text)
                .collect();
            assert_eq!(lines.last().map(String::as_str), Some(shown), "{lines:?}");
        }
    }

    /// Connects, greets, and answers EHLO with `ehlo`, polling no further.
    fn answer_ehlo(c: Config, loopback: bool, ehlo: &[u8]) -> (Delivery, Instant) {
        let t = Instant::now();
        let mut d = Delivery::new(c, t).unwrap();
        assert!(matches!(d.poll(t), Step::Connect { .. }));
        d.handle_connected(t, loopback);
        written_until_read(&mut d, t);
        d.handle_input(t, b"220 hi\r\n");
        written_until_read(&mut d, t);
        d.handle_input(t, ehlo);
        (d, t)
    }

    /// [`answer_ehlo`], and what the client writes next.
    fn run_to_ehlo(c: Config, loopback: bool, ehlo: &[u8]) -> (Delivery, String, Instant) {
        let (mut d, t) = answer_ehlo(c, loopback, ehlo);
        let next = written_until_read(&mut d, t);
        (d, next, t)
    }

    fn two_recipients(at_least_one: bool) -> Config {
        let mut c = config(1);
        c.recipients = vec!["b@y.test".into(), "c@y.test".into()];
        settings(&mut c).at_least_one = at_least_one;
        c
    }

    #[test]
    fn pipelining_sends_mail_and_every_rcpt_in_one_write() {
        let (mut d, batch, t) =
            run_to_ehlo(two_recipients(false), true, b"250-mx\r\n250 PIPELINING\r\n");
        assert_eq!(
            batch,
            "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nRCPT TO:<c@y.test>\r\n"
        );
        // All replies in one segment; one refused: all are read and matched,
        // then all-or-nothing resets instead of sending DATA.
        d.handle_input(t, b"250 ok\r\n250 ok\r\n550 5.1.1 no\r\n");
        assert_eq!(written_until_read(&mut d, t), "RSET\r\n");
        d.handle_input(t, b"250 ok\r\n");
        written_until_read(&mut d, t);
        d.handle_input(t, b"221 bye\r\n");
        d.poll(t);
        assert_eq!(d.poll(t), Step::Done);
        let err = d.into_result().unwrap_err();
        assert_eq!(err.refused().len(), 1);
        assert_eq!(err.refused()[0].address(), "c@y.test");
    }

    #[test]
    fn with_at_least_one_data_joins_the_batch() {
        let (mut d, batch, t) =
            run_to_ehlo(two_recipients(true), true, b"250-mx\r\n250 PIPELINING\r\n");
        assert!(batch.ends_with("RCPT TO:<c@y.test>\r\nDATA\r\n"), "{batch}");
        d.handle_input(t, b"250 ok\r\n550 no\r\n250 ok\r\n354 go\r\n");
        assert!(matches!(d.poll(t), Step::WriteBody { .. }));
    }

    #[test]
    fn one_recipient_sends_data_with_the_batch_in_either_mode() {
        for at_least_one in [false, true] {
            let mut c = config(1);
            settings(&mut c).at_least_one = at_least_one;
            let (mut d, batch, t) = run_to_ehlo(c, true, b"250-mx\r\n250 PIPELINING\r\n");
            assert_eq!(
                batch,
                "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n"
            );
            d.handle_input(t, b"250 ok\r\n250 ok\r\n354 go\r\n");
            assert!(matches!(d.poll(t), Step::WriteBody { .. }));
        }
    }

    /// A server that hangs up after refusing (the sole recipient with DATA
    /// still due, or MAIL with its batch being drained) leaves its refusal
    /// as the result, not the lost connection.
    #[test]
    fn a_hang_up_after_a_refusal_keeps_the_refusal() {
        for silent in [false, true] {
            let (mut d, _, t) = run_to_ehlo(config(1), true, b"250-mx\r\n250 PIPELINING\r\n");
            d.handle_input(t, b"250 ok\r\n550 5.1.1 no such user\r\n");
            if silent {
                d.handle_timeout(t + Duration::from_secs(3600));
            } else {
                d.handle_eof(t);
            }
            assert_eq!(d.poll(t), Step::Close);
            let err = d.into_result().unwrap_err();
            assert_eq!(err.refused().len(), 1, "{err}");
            assert_eq!(err.refused()[0].code(), 550);
            assert!(!err.is_temporary(), "{err}");
        }
        let (mut d, _, t) =
            run_to_ehlo(two_recipients(true), true, b"250-mx\r\n250 PIPELINING\r\n");
        d.handle_input(t, b"553 5.7.1 sender rejected\r\n");
        d.handle_eof(t);
        assert_eq!(d.poll(t), Step::Close);
        let err = d.into_result().unwrap_err();
        assert_eq!(err.stage(), Some(Stage::Mail));
        assert_eq!(err.code(), Some(553));
    }

    /// The sole recipient refused with DATA already sent: no data goes,
    /// whether the server refuses DATA (as RFC 2920 says it must) or,
    /// broken, invites it.
    #[test]
    fn a_sole_refused_recipient_gets_no_data_whatever_the_server_says_to_data() {
        for (data_reply, after) in [
            (&b"554 5.5.1 no valid recipients\r\n"[..], "RSET\r\n"),
            // Invited to send data for nobody: it leaves instead.
            (b"354 go ahead\r\n", ""),
        ] {
            let (mut d, _, t) = run_to_ehlo(config(1), true, b"250-mx\r\n250 PIPELINING\r\n");
            d.handle_input(t, b"250 ok\r\n550 5.1.1 no such user\r\n");
            d.handle_input(t, data_reply);
            let mut written = String::new();
            loop {
                match d.poll(t) {
                    Step::Write { .. } => {
                        written.push_str(&String::from_utf8_lossy(&d.take_output()));
                    }
                    Step::WriteBody { .. } => panic!("data sent to a refused recipient"),
                    Step::Read { .. } if written == "RSET\r\n" => {
                        d.handle_input(t, b"250 ok\r\n");
                    }
                    Step::Read { .. } => d.handle_input(t, b"221 bye\r\n"),
                    Step::Done => break,
                    _ => {}
                }
            }
            if after.is_empty() {
                assert!(!written.contains("RSET"), "{written:?}");
            } else {
                assert!(written.starts_with(after), "{written:?}");
            }
            let err = d.into_result().unwrap_err();
            assert_eq!(err.refused().len(), 1, "{err}");
            assert_eq!(err.refused()[0].code(), 550);
        }
    }

    #[test]
    fn a_refused_mail_in_a_batch_drains_every_reply_then_resets() {
        let (mut d, _, t) =
            run_to_ehlo(two_recipients(true), true, b"250-mx\r\n250 PIPELINING\r\n");
        d.handle_input(t, b"553 5.7.1 sender rejected\r\n503 5.5.1 need MAIL\r\n");
        d.handle_input(
            t,
            b"503 5.5.1 need MAIL\r\n554 5.5.1 no valid recipients\r\n",
        );
        assert_eq!(written_until_read(&mut d, t), "RSET\r\n");
        d.handle_input(t, b"250 ok\r\n");
        written_until_read(&mut d, t);
        d.handle_input(t, b"221 bye\r\n");
        d.poll(t);
        let err = d.into_result().unwrap_err();
        assert_eq!(err.stage(), Some(Stage::Mail));
        assert_eq!(err.code(), Some(553));
    }

    #[test]
    fn pipelining_can_be_turned_off_and_needs_the_offer() {
        let mut c = two_recipients(false);
        settings(&mut c).pipelining = false;
        let (_, batch, _) = run_to_ehlo(c, true, b"250-mx\r\n250 PIPELINING\r\n");
        assert_eq!(batch, "MAIL FROM:<a@x.test>\r\n");
        let (_, batch, _) = run_to_ehlo(two_recipients(false), true, b"250 mx\r\n");
        assert_eq!(batch, "MAIL FROM:<a@x.test>\r\n");
    }

    #[test]
    fn more_replies_than_the_batch_asked_for_fail_closed() {
        let (mut d, _, t) =
            run_to_ehlo(two_recipients(false), true, b"250-mx\r\n250 PIPELINING\r\n");
        d.handle_input(t, b"250 ok\r\n250 ok\r\n250 ok\r\n354 injected\r\n");
        assert_eq!(d.poll(t), Step::Close);
        assert!(d.into_result().is_err());
    }

    #[test]
    fn commands_cannot_carry_line_breaks() {
        let t = Instant::now();
        let mut c = config(1);
        c.recipients = vec!["b@y.test>\r\nRCPT TO:<c@z.test".to_owned()];
        assert!(matches!(
            Delivery::new(c, t),
            Err(InvalidInput::UnsafeEnvelope(_))
        ));
        let mut c = config(1);
        c.client = "x\r\nMAIL FROM:<>".to_owned();
        assert!(matches!(
            Delivery::new(c, t),
            Err(InvalidInput::ClientName(_))
        ));
    }

    // ------------------------------------------------------------ sessions

    fn kept(recipient: &str) -> Config {
        let mut c = config(1);
        c.keep_open = true;
        c.recipients = vec![recipient.to_owned()];
        c
    }

    /// Sends one message to one recipient on the connection as it stands
    /// (MAIL, RCPT and DATA already written as `batch`), to its 250.
    fn finish_pipelined(d: &mut Delivery, batch: &str, t: Instant) -> Result<Sent, Error> {
        assert!(batch.starts_with("MAIL FROM:"), "{batch}");
        assert!(batch.ends_with("\r\nDATA\r\n"), "{batch}");
        d.handle_input(t, b"250 ok\r\n250 ok\r\n354 go\r\n");
        assert!(matches!(d.poll(t), Step::WriteBody { .. }));
        d.handle_body_written(t);
        assert!(matches!(d.poll(t), Step::Read { .. }));
        d.handle_input(t, b"250 2.0.0 queued\r\n");
        assert_eq!(d.poll(t), Step::Done, "no QUIT: the connection is kept");
        assert!(d.is_idle());
        d.take_result()
    }

    #[test]
    fn a_kept_connection_sends_the_next_message_with_mail_alone() {
        let (mut d, batch, t) =
            run_to_ehlo(kept("b@y.test"), true, b"250-mx\r\n250 PIPELINING\r\n");
        let first = finish_pipelined(&mut d, &batch, t).unwrap();
        assert_eq!(first.accepted(), ["b@y.test"]);

        d.next_message(kept("c@y.test"), t).unwrap();
        // No EHLO, no RSET: straight to MAIL on the same connection.
        let batch = written_until_read(&mut d, t);
        assert_eq!(
            batch,
            "MAIL FROM:<a@x.test>\r\nRCPT TO:<c@y.test>\r\nDATA\r\n"
        );
        let second = finish_pipelined(&mut d, &batch, t).unwrap();
        assert_eq!(second.accepted(), ["c@y.test"]);

        d.close_idle(t);
        assert_eq!(written_until_read(&mut d, t), "QUIT\r\n");
        d.handle_input(t, b"221 bye\r\n");
        assert_eq!(d.poll(t), Step::Close);
        assert_eq!(d.poll(t), Step::Done);
        assert!(!d.is_idle());
    }

    /// Nothing of one message's settings carries over to the next on a
    /// kept connection: DSN parameters here (and with them the per-
    /// recipient NOTIFY list), the body type too.
    #[test]
    fn the_next_message_on_a_kept_connection_has_its_own_settings() {
        use crate::dsn::{Dsn, Ret};
        let caps = b"250-mx\r\n250-DSN\r\n250 PIPELINING\r\n";
        let (mut d, batch, t) = run_to_ehlo(kept("b@y.test"), true, caps);
        assert_eq!(
            batch,
            "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n"
        );
        finish_pipelined(&mut d, &batch, t).unwrap();

        let mut with_dsn = kept("c@y.test");
        with_dsn.dsn = Some(Dsn {
            ret: Some(Ret::Headers),
            envid: None,
            notify: vec![None],
            orcpt: false,
        });
        d.next_message(with_dsn, t).unwrap();
        let batch = written_until_read(&mut d, t);
        assert_eq!(
            batch,
            "MAIL FROM:<a@x.test> RET=HDRS\r\nRCPT TO:<c@y.test>\r\nDATA\r\n"
        );
        finish_pipelined(&mut d, &batch, t).unwrap();

        d.next_message(kept("e@y.test"), t).unwrap();
        let batch = written_until_read(&mut d, t);
        assert_eq!(
            batch,
            "MAIL FROM:<a@x.test>\r\nRCPT TO:<e@y.test>\r\nDATA\r\n"
        );
    }

    #[test]
    fn a_refused_message_leaves_the_kept_connection_reset_and_idle() {
        let (mut d, batch, t) =
            run_to_ehlo(kept("b@y.test"), true, b"250-mx\r\n250 PIPELINING\r\n");
        assert!(batch.starts_with("MAIL"));
        d.handle_input(
            t,
            b"250 ok\r\n550 no such user\r\n554 5.5.1 no valid recipients\r\n",
        );
        assert_eq!(written_until_read(&mut d, t), "RSET\r\n");
        d.handle_input(t, b"250 reset\r\n");
        assert_eq!(d.poll(t), Step::Done);
        assert!(d.is_idle());
        assert!(matches!(d.take_result(), Err(Error::Refused { .. })));
        // A next message may not start while one is under way.
        d.next_message(kept("c@y.test"), t).unwrap();
        assert!(matches!(
            d.next_message(kept("c@y.test"), t),
            Err(InvalidInput::NotIdle)
        ));
    }

    /// The server closed the idle connection (its idle timeout) before it
    /// read MAIL: nothing was started, so the core reconnects and sends.
    #[test]
    fn a_kept_connection_closed_by_the_server_is_replaced_before_mail() {
        for fault in ["eof", "421", "write", "452"] {
            let (mut d, batch, t) =
                run_to_ehlo(kept("b@y.test"), true, b"250-mx\r\n250 PIPELINING\r\n");
            finish_pipelined(&mut d, &batch, t).unwrap();
            d.next_message(kept("c@y.test"), t).unwrap();
            match fault {
                "write" => {
                    assert!(matches!(d.poll(t), Step::Write { .. }));
                    d.take_output();
                    d.handle_io_error(t, std::io::Error::other("broken pipe"));
                }
                "452" => {
                    written_until_read(&mut d, t);
                    assert_eq!(d.messages_on_connection(), 2);
                    // The whole pipelined batch answered at once: MAIL
                    // refused for now (a per-connection limit), the rest
                    // refused for want of it.
                    d.handle_input(t, b"452 4.5.3 too many\r\n503 5.5.1 no\r\n503 5.5.1 no\r\n");
                    assert!(matches!(d.poll(t), Step::Write { .. }));
                    assert_eq!(&d.take_output()[..], b"QUIT\r\n");
                }
                _ => {
                    written_until_read(&mut d, t);
                    if fault == "eof" {
                        d.handle_eof(t);
                    } else {
                        d.handle_input(t, b"421 4.4.2 idle too long\r\n");
                    }
                }
            }
            assert_eq!(d.poll(t), Step::Close, "{fault}");
            assert!(matches!(d.poll(t), Step::Connect { .. }), "{fault}");
            d.handle_connected(t, true);
            written_until_read(&mut d, t);
            d.handle_input(t, b"220 hi again\r\n");
            assert_eq!(written_until_read(&mut d, t), "EHLO client.test\r\n");
            d.handle_input(t, b"250-mx\r\n250 PIPELINING\r\n");
            let batch = written_until_read(&mut d, t);
            let sent = finish_pipelined(&mut d, &batch, t).unwrap();
            assert_eq!(sent.accepted(), ["c@y.test"], "{fault}");
            assert_eq!(d.messages_on_connection(), 1, "{fault}");
        }
    }

    /// Once MAIL was answered the transaction is under way: a failure then
    /// is reported, never retried (the message might have been taken).
    #[test]
    fn a_kept_connection_failing_after_mail_is_reported_not_retried() {
        let (mut d, batch, t) =
            run_to_ehlo(kept("b@y.test"), true, b"250-mx\r\n250 PIPELINING\r\n");
        finish_pipelined(&mut d, &batch, t).unwrap();
        d.next_message(kept("c@y.test"), t).unwrap();
        written_until_read(&mut d, t);
        d.handle_input(t, b"250 ok\r\n");
        d.handle_eof(t);
        assert_eq!(d.poll(t), Step::Close);
        assert_eq!(d.poll(t), Step::Done);
        let err = d.take_result().unwrap_err();
        assert!(
            matches!(err, Error::Transaction(ref e) if e.stage() == Stage::Rcpt),
            "{err}"
        );
    }

    #[test]
    fn dsn_parameters_go_per_recipient_where_offered() {
        use crate::dsn::{Dsn, Notify, Ret};
        let mut c = two_recipients(false);
        c.recipients = vec!["b@y.test".into(), "jürgen@y.test".into()];
        c.dsn = Some(Dsn {
            ret: Some(Ret::Full),
            envid: Some("a b".into()),
            notify: vec![Some(Notify::never()), Some(Notify::parse("delay").unwrap())],
            orcpt: true,
        });
        let (_, batch, _) = run_to_ehlo(
            c.clone(),
            true,
            b"250-mx\r\n250-DSN\r\n250-SMTPUTF8\r\n250 PIPELINING\r\n",
        );
        assert_eq!(
            batch,
            "MAIL FROM:<a@x.test> SMTPUTF8 RET=FULL ENVID=a+20b\r\n\
             RCPT TO:<b@y.test> NOTIFY=NEVER ORCPT=rfc822;b@y.test\r\n\
             RCPT TO:<jürgen@y.test> NOTIFY=DELAY ORCPT=utf-8;jürgen@y.test\r\n"
        );
        let (_, batch, _) = run_to_ehlo(c, true, b"250-mx\r\n250-SMTPUTF8\r\n250 PIPELINING\r\n");
        assert_eq!(
            batch,
            "MAIL FROM:<a@x.test> SMTPUTF8\r\nRCPT TO:<b@y.test>\r\nRCPT TO:<jürgen@y.test>\r\n"
        );
    }

    // ---------------------------------------------------------------- LMTP

    fn lmtp_config() -> Config {
        let mut c = config(1);
        settings(&mut c).lmtp = true;
        c.tls = TlsMode::None;
        c.recipients = vec!["a@y.test".into(), "b@y.test".into(), "c@y.test".into()];
        settings(&mut c).at_least_one = true;
        c
    }

    /// Runs an LMTP transaction where RCPT refuses `c` and the replies
    /// after the data are `after`.
    fn lmtp_run(after: &[u8]) -> Result<Sent, Error> {
        let t = Instant::now();
        let mut d = Delivery::new(lmtp_config(), t).unwrap();
        assert!(matches!(d.poll(t), Step::Connect { .. }));
        d.handle_connected(t, true);
        written_until_read(&mut d, t);
        d.handle_input(t, b"220 lmtp ready\r\n");
        assert_eq!(written_until_read(&mut d, t), "LHLO client.test\r\n");
        d.handle_input(t, b"250-lmtp\r\n250 PIPELINING\r\n");
        let batch = written_until_read(&mut d, t);
        assert!(batch.ends_with("RCPT TO:<c@y.test>\r\nDATA\r\n"), "{batch}");
        d.handle_input(
            t,
            b"250 ok\r\n250 ok\r\n250 ok\r\n550 no such user\r\n354 go\r\n",
        );
        assert!(matches!(d.poll(t), Step::WriteBody { .. }));
        d.handle_body_written(t);
        assert!(matches!(d.poll(t), Step::Read { .. }));
        d.handle_input(t, after);
        if matches!(d.poll(t), Step::Write { .. }) {
            assert_eq!(*d.take_output(), b"QUIT\r\n");
            d.handle_input(t, b"221 bye\r\n");
        }
        assert_eq!(d.poll(t), Step::Close);
        assert_eq!(d.poll(t), Step::Done);
        d.into_result()
    }

    #[test]
    fn lmtp_reads_one_reply_per_accepted_recipient_after_the_data() {
        let sent = lmtp_run(b"250 2.0.0 a delivered\r\n452 4.2.2 b mailbox full\r\n").unwrap();
        assert_eq!(sent.accepted(), ["a@y.test"]);
        let refused: Vec<(&str, u16)> = sent
            .refused()
            .iter()
            .map(|r| (r.address(), r.code()))
            .collect();
        assert_eq!(refused, [("c@y.test", 550), ("b@y.test", 452)]);
        assert_eq!(sent.reply().code(), 250);
    }

    #[test]
    fn lmtp_with_no_recipient_delivered_is_refused() {
        let err = lmtp_run(b"550 5.2.1 a unavailable\r\n450 4.2.1 b later\r\n").unwrap_err();
        assert_eq!(
            err.stage(),
            Some(Stage::EndOfData),
            "refused after the data"
        );
        let Error::Refused { refused, .. } = err else {
            panic!("{err}")
        };
        let codes: Vec<u16> = refused.iter().map(Refusal::code).collect();
        assert_eq!(codes, [550, 550, 450]);
    }

    #[test]
    fn lmtp_replies_beyond_the_recipients_close_the_connection() {
        // Three replies for two accepted recipients: the third is a reply
        // nobody asked for. The two that were due count (the message is
        // in); the connection is not trusted further, so no QUIT is sent
        // to be answered by the stray reply.
        let t = Instant::now();
        let mut d = Delivery::new(lmtp_config(), t).unwrap();
        d.poll(t);
        d.handle_connected(t, true);
        written_until_read(&mut d, t);
        d.handle_input(t, b"220 lmtp\r\n");
        written_until_read(&mut d, t);
        d.handle_input(t, b"250 lmtp\r\n");
        written_until_read(&mut d, t);
        d.handle_input(t, b"250 ok\r\n");
        written_until_read(&mut d, t);
        d.handle_input(t, b"250 ok\r\n");
        written_until_read(&mut d, t);
        d.handle_input(t, b"250 ok\r\n");
        written_until_read(&mut d, t);
        d.handle_input(t, b"550 no\r\n");
        written_until_read(&mut d, t);
        d.handle_input(t, b"354 go\r\n");
        assert!(matches!(d.poll(t), Step::WriteBody { .. }));
        d.handle_body_written(t);
        d.poll(t);
        d.handle_input(t, b"250 a\r\n250 b\r\n250 injected\r\n");
        assert_eq!(d.poll(t), Step::Close);
        assert_eq!(d.poll(t), Step::Done);
        let sent = d.into_result().unwrap();
        assert_eq!(sent.accepted(), ["a@y.test", "b@y.test"]);
    }

    #[test]
    fn lmtp_has_no_helo_fallback() {
        let t = Instant::now();
        let mut c = lmtp_config();
        c.servers.truncate(1);
        let mut d = Delivery::new(c, t).unwrap();
        d.poll(t);
        d.handle_connected(t, true);
        written_until_read(&mut d, t);
        d.handle_input(t, b"220 lmtp\r\n");
        assert_eq!(written_until_read(&mut d, t), "LHLO client.test\r\n");
        d.handle_input(t, b"500 unknown command\r\n");
        assert_eq!(d.poll(t), Step::Close);
        assert_eq!(d.poll(t), Step::Done);
        let err = d.into_result().unwrap_err();
        assert_eq!(err.stage(), Some(Stage::Lhlo), "{err}");
        assert!(err.to_string().contains("LHLO"), "{err}");
    }

    // ---------------------------------------------------------- REQUIRETLS

    fn tls_session(ehlo_after_tls: &[u8]) -> (Delivery, String, Instant) {
        let mut c = config(1);
        c.tls = TlsMode::Required;
        settings(&mut c).require_tls = true;
        let t = Instant::now();
        let mut d = Delivery::new(c, t).unwrap();
        d.poll(t);
        d.handle_connected(t, false);
        written_until_read(&mut d, t);
        d.handle_input(t, b"220 hi\r\n");
        written_until_read(&mut d, t);
        d.handle_input(t, b"250-mx\r\n250 STARTTLS\r\n");
        assert_eq!(written_until_read(&mut d, t), "STARTTLS\r\n");
        d.handle_input(t, b"220 go ahead\r\n");
        assert!(matches!(d.poll(t), Step::StartTls { .. }));
        d.handle_tls_established(
            t,
            TlsInfo {
                version: "TLSv1.3".into(),
                cipher: "TLS13_AES_128_GCM_SHA256".into(),
                resumed: false,
            },
        );
        assert_eq!(written_until_read(&mut d, t), "EHLO client.test\r\n");
        d.handle_input(t, ehlo_after_tls);
        let next = match d.poll(t) {
            Step::Write { .. } => String::from_utf8(d.take_output().to_vec()).unwrap(),
            other => format!("{other:?}"),
        };
        (d, next, t)
    }

    #[test]
    fn requiretls_goes_on_mail_where_offered_over_tls() {
        let (_, mail, _) = tls_session(b"250-mx\r\n250 REQUIRETLS\r\n");
        assert_eq!(mail, "MAIL FROM:<a@x.test> REQUIRETLS\r\n");
    }

    #[test]
    fn requiretls_skips_a_server_that_does_not_offer_it() {
        let (mut d, next, t) = tls_session(b"250 mx\r\n");
        assert_eq!(next, "Close");
        while !matches!(d.poll(t), Step::Done | Step::Connect { .. }) {}
        let err = d.into_result().unwrap_err();
        let Error::NoServer { attempts } = &err else {
            panic!("{err}")
        };
        assert!(
            matches!(attempts[0].cause(), Cause::RequireTlsNotOffered),
            "{err}"
        );
    }

    // ------------------------------------------------- measuring on demand

    fn on_demand() -> Config {
        let mut c = config(1);
        c.size = None;
        c.measure_on_demand = true;
        c
    }

    #[test]
    fn the_size_is_asked_for_only_where_the_server_uses_it() {
        let (mut d, next, t) = run_to_ehlo(on_demand(), true, b"250-mx\r\n250 SIZE 5000\r\n");
        assert_eq!(next, "");
        assert_eq!(d.poll(t), Step::Measure);
        d.handle_measured(t, 1234);
        assert_eq!(
            written_until_read(&mut d, t),
            "MAIL FROM:<a@x.test> SIZE=1234\r\n"
        );

        // Over the limit once counted: refused before MAIL.
        let (mut d, _, t) = run_to_ehlo(on_demand(), true, b"250-mx\r\n250 SIZE 5000\r\n");
        assert_eq!(d.poll(t), Step::Measure);
        d.handle_measured(t, 9999);
        assert_eq!(written_until_read(&mut d, t), "QUIT\r\n");

        // Neither SIZE nor CHUNKING: never counted.
        let (_, next, _) = run_to_ehlo(on_demand(), true, b"250 mx\r\n");
        assert_eq!(next, "MAIL FROM:<a@x.test>\r\n");
    }

    #[test]
    fn a_message_that_cannot_be_counted_is_not_sent() {
        let (mut d, _, t) = run_to_ehlo(on_demand(), true, b"250-mx\r\n250 SIZE 5000\r\n");
        assert_eq!(d.poll(t), Step::Measure);
        d.handle_measure_failed(t, std::io::Error::other("the file went away"));
        assert_eq!(written_until_read(&mut d, t), "QUIT\r\n");
        d.handle_input(t, b"221 bye\r\n");
        while !matches!(d.poll(t), Step::Done) {}
        let err = d.into_result().unwrap_err();
        assert_eq!(err.stage(), Some(Stage::Mail), "{err}");
    }

    /// Found by fuzzing: a kept connection whose authentication failed was
    /// left idle, and the next message went out unauthenticated on it.
    #[test]
    fn a_connection_whose_auth_failed_is_never_kept() {
        let mut c = kept("b@y.test");
        c.auth = Some(AuthConfig {
            credentials: crate::sasl::Credentials {
                username: "user".into(),
                secret: crate::sasl::Secret::new("pw"),
                authzid: None,
            },
            token: false,
            mechanisms: None,
            allow_plaintext: true,
        });
        let (mut d, next, t) = run_to_ehlo(c, true, b"250-mx\r\n250 AUTH PLAIN\r\n");
        assert!(next.starts_with("AUTH PLAIN"), "{next}");
        d.handle_input(t, b"535 5.7.8 no\r\n");
        assert_eq!(written_until_read(&mut d, t), "QUIT\r\n");
        d.handle_input(t, b"221 bye\r\n");
        assert_eq!(d.poll(t), Step::Close);
        assert_eq!(d.poll(t), Step::Done);
        assert!(!d.is_idle());
        assert!(d.take_result().is_err());
        assert!(matches!(
            d.next_message(kept("c@y.test"), t),
            Err(InvalidInput::NotIdle)
        ));
    }
}
