//! Failures: of the connection, of a transaction, and the attempts recorded.

use super::*;

impl Delivery {
    /// A failure of the connection itself (not a reply).
    pub(super) fn fail(&mut self, cause: Cause, now: Instant) {
        self.out.clear();
        self.tx.due.clear();
        if self.reused && self.state == State::Await(Expect::Mail) {
            // The server closed the kept connection before it saw MAIL
            // (idle timeout): nothing was started, so start afresh.
            self.reconnect(format!("the kept connection is gone ({cause})"));
            return;
        }
        if self.state == State::Idle {
            self.state = State::Closing(After::Finish);
            return;
        }
        if let State::Await(Expect::Rcpt(_) | Expect::Data) = self.state {
            // A batch whose outcome the server already gave: MAIL refused
            // (its replies were being drained), or every recipient refused
            // with DATA still due. A server that hangs up then (as many do
            // after 421 or 554) changes nothing: report its refusal, with
            // its code, not the lost connection.
            if self.tx.draining && self.result.is_some() {
                self.state = State::Closing(After::Finish);
                return;
            }
            if self.state == State::Await(Expect::Data)
                && self.tx.accepted.is_empty()
                && !self.tx.refused.is_empty()
            {
                self.result = Some(Err(Error::Refused {
                    server: self.current_server(),
                    stage: Stage::Rcpt,
                    refused: std::mem::take(&mut self.tx.refused),
                }));
                self.state = State::Closing(After::Finish);
                return;
            }
        }
        let stage = match self.state {
            State::Await(Expect::Quit | Expect::Rset) => {
                // The outcome is already known; the goodbye does not matter.
                self.state = State::Closing(After::Finish);
                return;
            }
            State::Await(expect) if expect.before_mail() => {
                self.record_attempt(self.stage_of(expect), cause);
                self.state = State::Closing(After::NextServer);
                return;
            }
            State::Await(expect) => self.stage_of(expect),
            State::ProbingTls => {
                self.record_attempt(Stage::Greeting, cause);
                self.state = State::Closing(After::NextServer);
                return;
            }
            State::Handshake { .. } => {
                self.record_attempt(Stage::StartTls, cause);
                self.state = State::Closing(After::NextServer);
                return;
            }
            State::SendingBody => Stage::Data,
            State::Connecting => {
                self.handle_connect_failed(now, cause);
                return;
            }
            State::NextServer
            | State::Closing(_)
            | State::Finished
            | State::Ready
            | State::Measuring
            | State::Transforming => return,
            State::Idle => return,
        };
        self.result = Some(Err(Error::Transaction(ServerError::new(
            self.current_server(),
            stage,
            cause,
        ))));
        self.state = State::Closing(After::Finish);
    }

    /// Drops a kept connection that turned out dead before MAIL was
    /// answered, and starts the message again from the first server.
    pub(super) fn reconnect(&mut self, why: String) {
        self.trace(TraceKind::Info, format!("{why}: reconnecting"));
        tracing::info!(target: "postie_smtp", "{why}: reconnecting");
        self.reused = false;
        self.out.clear();
        self.tx = transaction::Transaction::default();
        self.result = None;
        self.next_server = 0;
        self.state = State::Closing(After::NextServer);
    }

    /// A failure that ends the send on a connection that still works.
    pub(super) fn fail_transaction(&mut self, stage: Stage, cause: Cause, now: Instant) {
        self.result = Some(Err(Error::Transaction(ServerError::new(
            self.current_server(),
            stage,
            cause,
        ))));
        if stage == Stage::Auth {
            // Never kept: the next message on it would go unauthenticated.
            self.say_goodbye(now);
        } else {
            self.quit(now);
        }
    }

    pub(super) fn record_attempt(&mut self, stage: Stage, cause: Cause) {
        let failure = ServerError::new(self.current_server(), stage, cause);
        tracing::info!(target: "postie_smtp", "server failed before MAIL, trying the next: {failure}");
        self.attempts.push(failure);
    }

    pub(super) fn finish_without_server(&mut self) {
        self.result = Some(Err(Error::NoServer {
            attempts: std::mem::take(&mut self.attempts),
        }));
        self.state = State::Finished;
    }
}
