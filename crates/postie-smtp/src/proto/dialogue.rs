//! The replies of the dialogue, dispatched by what was waited for; after EHLO and after TLS.

use super::*;

impl Delivery {
    pub(super) fn on_reply(&mut self, expect: Expect, reply: Reply, now: Instant) {
        match expect {
            Expect::Greeting if reply.code() == 220 => {
                let command = self.hello();
                self.send(&command, Expect::Ehlo, now);
            }
            Expect::Ehlo if reply.is_positive() => {
                self.capabilities = Capabilities::from_ehlo(&reply);
                self.qued_sent = false;
                self.after_hello(now);
            }
            // RFC 5321 §4.1.4: an old server refuses EHLO with 5xx; HELO
            // may still work. A 4xx is a real refusal.
            // LMTP has no HELO (RFC 2033 §4.1).
            Expect::Ehlo if reply.is_permanent() && !self.config.settings.lmtp => {
                let command = format!("HELO {}", self.config.client);
                self.send(&command, Expect::Helo, now);
            }
            Expect::Helo if reply.is_positive() => {
                self.capabilities = Capabilities::default();
                self.after_hello(now);
            }
            Expect::StartTls if reply.code() == 220 => {
                self.state = State::Handshake { implicit: false };
            }
            // 421: the server is closing the connection, whatever the
            // policy would say of a refused STARTTLS.
            Expect::StartTls if reply.code() == 421 => {
                self.record_attempt(Stage::StartTls, Cause::Reply(reply));
                self.state = State::Closing(After::NextServer);
            }
            Expect::StartTls => {
                let decision = match self.config.tls {
                    TlsMode::Required => TlsDecision::Secure,
                    _ => (self.config.policy)(&TlsProblem::Refused(&reply)),
                };
                match decision {
                    TlsDecision::Insecure => self.after_tls(now),
                    TlsDecision::Secure => {
                        self.record_attempt(Stage::StartTls, Cause::Reply(reply));
                        self.state = State::Closing(After::NextServer);
                    }
                }
            }
            Expect::Qued => self.after_hello(now),
            Expect::Auth => self.on_auth_reply(reply, now),
            Expect::AuthCancel => self.try_next_mechanism(now),
            Expect::Mail if reply.is_positive() => {
                self.reused = false;
                if self.tx.due.is_empty() {
                    self.send_rcpt(0, now);
                } else {
                    self.next_due(now);
                }
            }
            Expect::Rcpt(index) => {
                let address = self.tx.paths.get(index).cloned().unwrap_or_default();
                if self.tx.draining {
                    // MAIL failed: these replies only keep the count.
                } else if reply.is_positive() {
                    self.tx.accepted.push(address);
                } else {
                    self.tx.refused.push(Refusal::new(address, reply));
                }
                if !self.tx.due.is_empty() {
                    self.next_due(now);
                } else if index + 1 < self.tx.paths.len() {
                    self.send_rcpt(index + 1, now);
                } else if self.tx.draining {
                    self.send("RSET", Expect::Rset, now);
                } else {
                    self.after_recipients(now);
                }
            }
            // DATA went with the batch: its reply decides now.
            Expect::Data if self.tx.draining => {
                if reply.code() == 354 {
                    // The server would take data for a transaction that
                    // failed: leave without sending any.
                    self.state = State::Closing(After::Finish);
                } else {
                    self.send("RSET", Expect::Rset, now);
                }
            }
            Expect::Data if reply.code() == 354 && !self.tx.accepted.is_empty() => {
                self.state = State::SendingBody;
            }
            Expect::Data if self.tx.accepted.is_empty() && !self.tx.refused.is_empty() => {
                // Pipelined DATA after every recipient was refused.
                if reply.code() == 354 {
                    self.state = State::Closing(After::Finish);
                } else {
                    self.send("RSET", Expect::Rset, now);
                }
                self.result = Some(Err(Error::Refused {
                    server: self.current_server(),
                    refused: std::mem::take(&mut self.tx.refused),
                    stage: Stage::Rcpt,
                }));
            }
            Expect::EndOfData if self.config.settings.lmtp => self.on_lmtp_reply(reply, now),
            Expect::EndOfData if reply.is_positive() => {
                self.result = Some(Ok(Sent {
                    server: self.current_server(),
                    reply,
                    refused: std::mem::take(&mut self.tx.refused),
                    accepted: std::mem::take(&mut self.tx.accepted),
                    tls: self.tls.clone(),
                    auth: self.authenticated.clone(),
                    dsn: self.tx.dsn_sent,
                }));
                self.quit(now);
            }
            Expect::Rset if reply.is_positive() => self.quit(now),
            // A connection that cannot reset is not kept.
            Expect::Rset => self.say_goodbye(now),
            Expect::Quit => self.state = State::Closing(After::Finish),
            Expect::Mail if self.reused && reply.code() == 421 => {
                self.reconnect(format!(
                    "the kept connection was closed by the server ({})",
                    reply.code()
                ));
            }
            // A 4xx to MAIL opened no transaction (a server's limit of
            // messages per connection: OpenSMTPD's 452 4.5.3 after 100):
            // on a kept connection, the message goes once more on a new
            // one. Never after a RCPT or DATA was answered.
            Expect::Mail if self.reused && reply.is_transient() => {
                let why = format!(
                    "the server refused MAIL on the kept connection for now ({} {})",
                    reply.code(),
                    reply.text()
                );
                self.reconnect(why);
                // Said, not waited for: the replies to a pipelined batch
                // may still come first, and nothing here needs them.
                self.trace(TraceKind::Sent, "QUIT".to_owned());
                self.out.extend_from_slice(b"QUIT\r\n");
                self.stage_timeout = self.config.timeouts.command.min(QUIT_TIMEOUT);
            }
            other => {
                let cause = Cause::Reply(reply);
                if other.before_mail() {
                    self.record_attempt(self.stage_of(other), cause);
                    self.state = State::Closing(After::NextServer);
                } else {
                    self.result = Some(Err(Error::Transaction(ServerError::new(
                        self.current_server(),
                        self.stage_of(other),
                        cause,
                    ))));
                    if self.tx.due.is_empty() {
                        // The transaction is abandoned: reset it before
                        // leaving (tcllib does the same).
                        self.send("RSET", Expect::Rset, now);
                    } else {
                        // Replies are still due for the batch: read them all
                        // first (RFC 2920 §3.1), then reset.
                        self.tx.draining = true;
                        self.next_due(now);
                    }
                }
            }
        }
    }

    /// After EHLO or HELO: STARTTLS when it is wanted and offered.
    pub(super) fn after_hello(&mut self, now: Instant) {
        // The seed's -queue: QUED where XQUE is offered, reply ignored;
        // again after a new EHLO.
        if self.config.settings.queue
            && !self.qued_sent
            && self.capabilities.offers(Extension::Xque)
        {
            self.qued_sent = true;
            self.send("QUED", Expect::Qued, now);
            return;
        }
        // Opportunistic STARTTLS is not tried over a Unix socket (local by
        // nature); required TLS still is, and fails there if it cannot.
        let wants_tls = match self.config.tls {
            TlsMode::StartTls => !self.current_server().is_unix(),
            TlsMode::Required => true,
            _ => false,
        };
        if self.tls.is_none() && wants_tls && !self.skip_starttls {
            if self.capabilities.offers(Extension::StartTls) {
                self.send("STARTTLS", Expect::StartTls, now);
                return;
            }
            if self.config.tls == TlsMode::Required {
                let cause = Cause::Tls(TlsError::new(
                    TlsErrorKind::Setup,
                    "TLS is required but the server does not offer STARTTLS",
                ));
                self.record_attempt(Stage::StartTls, cause);
                self.state = State::Closing(After::NextServer);
                return;
            }
        }
        self.after_tls(now);
    }

    /// After TLS was set up or passed over: AUTH when credentials were
    /// given, then MAIL.
    pub(super) fn after_tls(&mut self, now: Instant) {
        if self.config.auth.is_some() && self.authenticated.is_none() {
            self.start_auth(now);
        } else {
            self.start_mail(now);
        }
    }
}
