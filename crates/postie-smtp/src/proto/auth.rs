//! AUTH: choosing the mechanisms, the exchange, and what a reply to it means.

use super::*;

/// One AUTH exchange: the mechanisms left to try, the one under way, and
/// the last refusal (reported if none works). Made anew when AUTH starts.
#[derive(Default)]
pub(super) struct AuthExchange {
    candidates: std::collections::VecDeque<String>,
    /// The mechanism whose exchange is under way.
    pub(super) mechanism: Option<Box<dyn Mechanism>>,
    last_refusal: Option<Reply>,
}

impl AuthExchange {
    fn new(candidates: Vec<String>) -> Self {
        Self {
            candidates: candidates.into(),
            mechanism: None,
            last_refusal: None,
        }
    }
}

impl Delivery {
    /// Chooses the mechanisms to try: the user's list or the strongest
    /// first, among those offered, without the ones that expose the secret
    /// when the connection is in clear to another host.
    pub(super) fn start_auth(&mut self, now: Instant) {
        let Some(auth) = self.config.auth.as_ref() else {
            return;
        };
        let offered = self.capabilities.auth_mechanisms().to_vec();
        if offered.is_empty() {
            let hint = if self.tls.is_none() && self.capabilities.offers(Extension::StartTls) {
                " (it offers STARTTLS: many servers offer AUTH only after it)"
            } else {
                ""
            };
            let problem = AuthProblem::NotOffered(hint);
            self.fail_transaction(Stage::Auth, Cause::Auth(problem), now);
            return;
        }
        let wanted = sasl::preference(auth.mechanisms.as_deref().unwrap_or_default(), auth.token);
        let mut candidates: Vec<String> = wanted
            .iter()
            .filter(|m| offered.contains(m))
            .cloned()
            .collect();
        let in_clear = self.tls.is_none() && !self.peer_is_loopback && !auth.allow_plaintext;
        if in_clear && candidates.iter().any(|m| sasl::is_plaintext_equivalent(m)) {
            candidates.retain(|m| !sasl::is_plaintext_equivalent(m));
            if candidates.is_empty() {
                let cause = Cause::Auth(AuthProblem::PlaintextRefused);
                self.fail_transaction(Stage::Auth, cause, now);
                return;
            }
        }
        if candidates.is_empty() {
            let problem = AuthProblem::NoCommonMechanism { offered, wanted };
            self.fail_transaction(Stage::Auth, Cause::Auth(problem), now);
            return;
        }
        self.auth = AuthExchange::new(candidates);
        self.try_next_mechanism(now);
    }

    pub(super) fn try_next_mechanism(&mut self, now: Instant) {
        self.auth.mechanism = None;
        let Some(auth) = self.config.auth.clone() else {
            return;
        };
        let server = self.current_server();
        while let Some(name) = self.auth.candidates.pop_front() {
            let built = sasl::mechanism(&name, &auth.credentials, &server.host, server.port);
            let mut mechanism = match built {
                Ok(Some(m)) => m,
                Ok(None) => continue,
                Err(e) => {
                    // The credentials cannot be carried by this mechanism
                    // (SASLprep, a NUL...): nothing was sent, try the next.
                    self.trace(TraceKind::Info, format!("{name} cannot be used: {e}"));
                    continue;
                }
            };
            // Wiped on drop, as the response it carries.
            let command = match mechanism.initial_response() {
                Ok(Some(initial)) if initial.is_empty() => Zeroizing::new(format!("AUTH {name} =")),
                Ok(Some(initial)) => {
                    let prefix = format!("AUTH {name} ");
                    sasl::response_line(&prefix, &initial)
                }
                Ok(None) => Zeroizing::new(format!("AUTH {name}")),
                Err(e) => {
                    self.trace(TraceKind::Info, format!("{name} cannot be used: {e}"));
                    continue;
                }
            };
            self.auth.mechanism = Some(mechanism);
            let shown = if command.len() > "AUTH ".len() + name.len() {
                format!("AUTH {name} [redacted]")
            } else {
                command.to_string()
            };
            self.send_secret(&command, &shown, Expect::Auth, now);
            return;
        }
        let cause = match self.auth.last_refusal.take() {
            Some(reply) => Cause::Reply(reply),
            None => Cause::Auth(AuthProblem::NoMechanismWorked),
        };
        self.fail_transaction(Stage::Auth, cause, now);
    }

    pub(super) fn on_auth_reply(&mut self, reply: Reply, now: Instant) {
        let name = self.auth.mechanism.as_ref().map_or("", |m| m.name());
        if reply.code() == 421 {
            // The server is closing: not a verdict on the credentials.
            self.record_attempt(Stage::Auth, Cause::Reply(reply));
            self.state = State::Closing(After::NextServer);
            return;
        }
        match reply.code() {
            334 => {
                let challenge = reply
                    .lines()
                    .first()
                    .map(String::as_str)
                    .unwrap_or_default();
                let response = match (
                    sasl::decode_challenge(challenge.trim()),
                    self.auth.mechanism.as_mut(),
                ) {
                    (Some(bytes), Some(m)) => m.respond(&bytes),
                    (None, _) => Err(sasl::SaslError::MalformedChallenge {
                        mechanism: "AUTH",
                        reason: "the challenge is not base64".to_owned(),
                    }),
                    (_, None) => Err(sasl::SaslError::UnexpectedChallenge { mechanism: "AUTH" }),
                };
                match response {
                    Ok(answer) => {
                        let line = sasl::response_line("", &answer);
                        self.send_secret(&line, "[redacted]", Expect::Auth, now);
                    }
                    Err(e) => {
                        // RFC 4954 §4: "*" cancels the exchange.
                        self.trace(TraceKind::Info, format!("{name}: {e}; cancelling"));
                        self.send("*", Expect::AuthCancel, now);
                    }
                }
            }
            235 => match self.auth.mechanism.as_ref().map(|m| m.complete()) {
                Some(Err(e)) => {
                    // The server did not prove it knows the secret.
                    let cause = Cause::Auth(AuthProblem::Mechanism(e));
                    self.fail_transaction(Stage::Auth, cause, now);
                }
                _ => {
                    self.authenticated = Some(name.to_owned());
                    self.auth = AuthExchange::default();
                    self.start_mail(now);
                }
            },
            // "This mechanism cannot be used here": try the next one.
            504 | 534 | 538 | 454 => {
                self.auth.last_refusal = Some(reply);
                self.try_next_mechanism(now);
            }
            // 535 and anything else: the credentials were refused. Never go
            // on unauthenticated when credentials were given.
            _ => self.fail_transaction(Stage::Auth, Cause::Reply(reply), now),
        }
    }
}
