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
//!       Step::WriteBody { timeout }       => stream the message through a DataEncoder, then handle_body_written
//!       Step::Close                       => drop the connection
//!       Step::Done                        => return delivery.into_result()
//!   }
//! ```
//!
//! The blocking driver in [`crate::blocking`] is this loop over
//! `std::net::TcpStream`; the async driver and TLS plug into the same steps.

use std::time::{Duration, Instant};

use crate::capabilities::Capabilities;
use crate::error::{Cause, Error, InvalidInput, ServerAddr, ServerError, Stage};
use crate::options::Timeouts;
use crate::outcome::{Refusal, Sent};
use crate::reply::{Reply, ReplyParser};

/// How long to wait for the reply to QUIT once the outcome is known.
const QUIT_TIMEOUT: Duration = Duration::from_secs(10);

/// What the core needs for one send.
#[derive(Clone, Debug)]
pub struct Config {
    /// Servers in the order to try them.
    pub servers: Vec<ServerAddr>,
    /// The EHLO/HELO name.
    pub client: String,
    /// The MAIL FROM address; empty for the null reverse-path.
    pub reverse_path: String,
    /// The RCPT TO addresses.
    pub recipients: Vec<String>,
    /// The message's size for the SIZE parameter, when known.
    pub size: Option<u64>,
    /// Send when at least one recipient is accepted.
    pub at_least_one: bool,
    /// Time limits.
    pub timeouts: Timeouts,
}

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
    /// Write the message through a [`crate::data::DataEncoder`], its
    /// terminator included, then call [`Delivery::handle_body_written`].
    WriteBody {
        /// The limit for each write to make progress.
        timeout: Duration,
        /// The time left for the whole send, if it has a deadline.
        remaining: Option<Duration>,
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
            Self::Mail => Stage::Mail,
            Self::Rcpt(_) => Stage::Rcpt,
            Self::Data | Self::Rset | Self::Quit => Stage::Data,
            Self::EndOfData => Stage::EndOfData,
        }
    }

    /// Before MAIL a failure moves on to the next server.
    fn before_mail(self) -> bool {
        matches!(self, Self::Greeting | Self::Ehlo | Self::Helo)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    NextServer,
    Connecting,
    Await(Expect),
    SendingBody,
    /// Close, then go to the next server (`true`) or finish.
    Closing {
        next_server: bool,
    },
    Finished,
}

/// One send of one message, across the configured servers.
#[derive(Debug)]
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
    accepted: Vec<String>,
    refused: Vec<Refusal>,
    attempts: Vec<ServerError>,
    result: Option<Result<Sent, Error>>,
}

impl Delivery {
    /// A send that starts at `now`. Refuses input that could not be sent
    /// safely: no servers, no recipients, CR/LF/NUL in any command argument.
    pub fn new(config: Config, now: Instant) -> Result<Self, InvalidInput> {
        if config.servers.is_empty() {
            return Err(InvalidInput::NoServers);
        }
        if config.recipients.is_empty() {
            return Err(InvalidInput::NoRecipients);
        }
        let unsafe_arg = |s: &str| s.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0));
        if config.client.is_empty() || unsafe_arg(&config.client) || config.client.contains(' ') {
            return Err(InvalidInput::ClientName(config.client.clone()));
        }
        for path in std::iter::once(&config.reverse_path).chain(&config.recipients) {
            if unsafe_arg(path) {
                return Err(InvalidInput::UnsafeEnvelope(
                    path.escape_debug().to_string(),
                ));
            }
        }
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
            accepted: Vec::new(),
            refused: Vec::new(),
            attempts: Vec::new(),
            result: None,
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
                    self.server = Some(server);
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
                State::Await(_) => {
                    if now >= self.stage_deadline {
                        self.handle_timeout(now);
                        continue;
                    }
                    return Step::Read {
                        timeout: self.stage_deadline - now,
                    };
                }
                State::SendingBody => {
                    return Step::WriteBody {
                        timeout: self.time_left(now, self.config.timeouts.command),
                        remaining: self.remaining(now),
                    };
                }
                State::Closing { next_server } => {
                    self.parser.clear();
                    self.state = if next_server {
                        State::NextServer
                    } else {
                        State::Finished
                    };
                    return Step::Close;
                }
                State::Finished => return Step::Done,
            }
        }
    }

    /// The bytes to write now.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    /// The connection is open.
    pub fn handle_connected(&mut self, now: Instant) {
        if self.state == State::Connecting {
            self.capabilities = Capabilities::default();
            self.parser.clear();
            self.expect(Expect::Greeting, now, self.config.timeouts.command);
        }
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
            if !bytes.is_empty() && !matches!(self.state, State::Closing { .. } | State::Finished) {
                self.fail(Cause::Unexpected, now);
            }
            return;
        };
        self.parser.push(bytes);
        match self.parser.next_reply() {
            Ok(Some(reply)) => {
                let State::Await(expect) = self.state else {
                    return;
                };
                // Bytes beyond the reply, before our next command: taking
                // them as the next answer would desynchronise the dialogue,
                // and is how response injection works (CVE-2021-22947). The
                // reply to the end of data still counts: the message is in.
                let extra = self.parser.has_buffered();
                if extra && expect != Expect::EndOfData {
                    self.fail(Cause::Unexpected, now);
                    return;
                }
                self.on_reply(expect, reply, now);
                if extra {
                    self.fail(Cause::Unexpected, now);
                }
            }
            Ok(None) => {}
            Err(e) => self.fail(Cause::Protocol(e), now),
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
        let cause = if self.deadline_passed(now) {
            Cause::Deadline
        } else {
            Cause::Timeout(self.stage_timeout)
        };
        self.fail(cause, now);
    }

    /// The message and its terminator were written.
    pub fn handle_body_written(&mut self, now: Instant) {
        if self.state == State::SendingBody {
            self.expect(Expect::EndOfData, now, self.config.timeouts.end_of_data);
        }
    }

    /// The capabilities of the current server (empty after HELO).
    pub fn capabilities(&self) -> &Capabilities {
        &self.capabilities
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

    fn on_reply(&mut self, expect: Expect, reply: Reply, now: Instant) {
        match expect {
            Expect::Greeting if reply.code() == 220 => {
                let command = format!("EHLO {}", self.config.client);
                self.send(&command, Expect::Ehlo, now);
            }
            Expect::Ehlo if reply.is_positive() => {
                self.capabilities = Capabilities::from_ehlo(&reply);
                self.after_hello(now);
            }
            // RFC 5321 §4.1.4: an old server refuses EHLO with 5xx; HELO
            // may still work. A 4xx is a real refusal.
            Expect::Ehlo if reply.is_permanent() => {
                let command = format!("HELO {}", self.config.client);
                self.send(&command, Expect::Helo, now);
            }
            Expect::Helo if reply.is_positive() => {
                self.capabilities = Capabilities::default();
                self.after_hello(now);
            }
            Expect::Mail if reply.is_positive() => self.send_rcpt(0, now),
            Expect::Rcpt(index) => {
                let address = self
                    .config
                    .recipients
                    .get(index)
                    .cloned()
                    .unwrap_or_default();
                if reply.is_positive() {
                    self.accepted.push(address);
                } else {
                    self.refused.push(Refusal::new(address, reply));
                }
                if index + 1 < self.config.recipients.len() {
                    self.send_rcpt(index + 1, now);
                } else {
                    self.after_recipients(now);
                }
            }
            Expect::Data if reply.code() == 354 => {
                self.state = State::SendingBody;
            }
            Expect::EndOfData if reply.is_positive() => {
                self.result = Some(Ok(Sent {
                    server: self.current_server(),
                    reply,
                    refused: std::mem::take(&mut self.refused),
                    accepted: std::mem::take(&mut self.accepted),
                }));
                self.quit(now);
            }
            Expect::Rset => self.quit(now),
            Expect::Quit => self.state = State::Closing { next_server: false },
            other => {
                let cause = Cause::Reply(reply);
                if other.before_mail() {
                    self.record_attempt(other.stage(), cause);
                    self.state = State::Closing { next_server: true };
                } else {
                    self.result = Some(Err(Error::Transaction(ServerError::new(
                        self.current_server(),
                        other.stage(),
                        cause,
                    ))));
                    self.quit(now);
                }
            }
        }
    }

    /// After EHLO or HELO: where STARTTLS and AUTH will go; then MAIL.
    fn after_hello(&mut self, now: Instant) {
        if let (Some(size), Some(limit)) = (self.config.size, self.capabilities.size()) {
            if limit > 0 && size > limit {
                self.fail_transaction(Stage::Mail, Cause::TooLarge { size, limit }, now);
                return;
            }
        }
        let needs_utf8 = std::iter::once(&self.config.reverse_path)
            .chain(&self.config.recipients)
            .find(|p| !p.is_ascii())
            .cloned();
        let smtputf8 = self.capabilities.has("SMTPUTF8");
        if let Some(path) = needs_utf8.as_ref().filter(|_| !smtputf8) {
            self.fail_transaction(Stage::Mail, Cause::NeedsSmtpUtf8(path.clone()), now);
            return;
        }
        let mut command = format!("MAIL FROM:<{}>", self.config.reverse_path);
        if let (Some(size), Some(_)) = (self.config.size, self.capabilities.size()) {
            command.push_str(&format!(" SIZE={size}"));
        }
        if needs_utf8.is_some() {
            command.push_str(" SMTPUTF8");
        }
        self.send(&command, Expect::Mail, now);
    }

    fn send_rcpt(&mut self, index: usize, now: Instant) {
        let address = self
            .config
            .recipients
            .get(index)
            .cloned()
            .unwrap_or_default();
        self.send(&format!("RCPT TO:<{address}>"), Expect::Rcpt(index), now);
    }

    /// The at-least-one decision (tcllib §1.7): DATA when some recipient
    /// was accepted and none refused, or when partial delivery is allowed.
    fn after_recipients(&mut self, now: Instant) {
        let go = !self.accepted.is_empty() && (self.refused.is_empty() || self.config.at_least_one);
        if go {
            self.send("DATA", Expect::Data, now);
        } else {
            self.result = Some(Err(Error::Refused {
                server: self.current_server(),
                refused: std::mem::take(&mut self.refused),
            }));
            self.send("RSET", Expect::Rset, now);
        }
    }

    fn quit(&mut self, now: Instant) {
        self.send("QUIT", Expect::Quit, now);
        self.stage_timeout = self.stage_timeout.min(QUIT_TIMEOUT);
        self.stage_deadline = now + self.time_left(now, self.stage_timeout);
    }

    fn send(&mut self, command: &str, expect: Expect, now: Instant) {
        self.out.extend_from_slice(command.as_bytes());
        self.out.extend_from_slice(b"\r\n");
        self.expect(expect, now, self.config.timeouts.command);
    }

    fn expect(&mut self, expect: Expect, now: Instant, timeout: Duration) {
        self.state = State::Await(expect);
        self.stage_timeout = timeout;
        self.stage_deadline = now + self.time_left(now, timeout);
    }

    /// A failure of the connection itself (not a reply).
    fn fail(&mut self, cause: Cause, now: Instant) {
        self.out.clear();
        let stage = match self.state {
            State::Await(Expect::Quit | Expect::Rset) => {
                // The outcome is already known; the goodbye does not matter.
                self.state = State::Closing { next_server: false };
                return;
            }
            State::Await(expect) if expect.before_mail() => {
                self.record_attempt(expect.stage(), cause);
                self.state = State::Closing { next_server: true };
                return;
            }
            State::Await(expect) => expect.stage(),
            State::SendingBody => Stage::Data,
            State::Connecting => {
                self.handle_connect_failed(now, cause);
                return;
            }
            State::NextServer | State::Closing { .. } | State::Finished => return,
        };
        self.result = Some(Err(Error::Transaction(ServerError::new(
            self.current_server(),
            stage,
            cause,
        ))));
        self.state = State::Closing { next_server: false };
    }

    /// A failure that ends the send on a connection that still works.
    fn fail_transaction(&mut self, stage: Stage, cause: Cause, now: Instant) {
        self.result = Some(Err(Error::Transaction(ServerError::new(
            self.current_server(),
            stage,
            cause,
        ))));
        self.quit(now);
    }

    fn record_attempt(&mut self, stage: Stage, cause: Cause) {
        self.attempts
            .push(ServerError::new(self.current_server(), stage, cause));
    }

    fn finish_without_server(&mut self) {
        self.result = Some(Err(Error::NoServer {
            attempts: std::mem::take(&mut self.attempts),
        }));
        self.state = State::Finished;
    }

    fn current_server(&self) -> ServerAddr {
        self.server.clone().unwrap_or(ServerAddr {
            host: String::new(),
            port: 0,
        })
    }

    fn remaining(&self, now: Instant) -> Option<Duration> {
        self.config
            .timeouts
            .deadline
            .map(|d| (self.started + d).saturating_duration_since(now))
    }

    fn deadline_passed(&self, now: Instant) -> bool {
        self.remaining(now).is_some_and(|r| r.is_zero())
    }

    /// `limit`, cut short by the deadline.
    fn time_left(&self, now: Instant, limit: Duration) -> Duration {
        match self.remaining(now) {
            Some(remaining) => limit.min(remaining),
            None => limit,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(servers: usize) -> Config {
        Config {
            servers: (0..servers)
                .map(|i| ServerAddr {
                    host: format!("mx{i}.test"),
                    port: 25,
                })
                .collect(),
            client: "client.test".to_owned(),
            reverse_path: "a@x.test".to_owned(),
            recipients: vec!["b@y.test".to_owned()],
            size: Some(10),
            at_least_one: false,
            timeouts: Timeouts::default(),
        }
    }

    /// Polls until the core wants to read; returns what it wrote meanwhile.
    fn written_until_read(d: &mut Delivery, now: Instant) -> String {
        let mut out = Vec::new();
        loop {
            match d.poll(now) {
                Step::Write { .. } => out.extend(d.take_output()),
                Step::Read { .. } => return String::from_utf8(out).unwrap(),
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn a_whole_send_in_memory() {
        let t = Instant::now();
        let mut d = Delivery::new(config(1), t).unwrap();
        assert!(matches!(d.poll(t), Step::Connect { .. }));
        d.handle_connected(t);
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

    #[test]
    fn time_is_passed_in_so_timeouts_need_no_sleeping() {
        let t = Instant::now();
        let mut d = Delivery::new(config(2), t).unwrap();
        assert!(matches!(d.poll(t), Step::Connect { .. }));
        d.handle_connected(t);
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
        d.handle_connected(t);
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
}
