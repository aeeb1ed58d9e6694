//! AUTH, when the probe is given credentials (swaks' quit-after AUTH): the
//! mechanisms are `postie_smtp`'s, chosen as `postie send` chooses them,
//! and their challenges and responses go over the probe's own session.
//! The verdict is reported; nothing follows but QUIT.

use postie_smtp::capabilities::Extension;
use postie_smtp::sasl::{self, Credentials, Mechanism};
use postie_smtp::{Capabilities, Reply};
use serde::Serialize;

use crate::exit;

use super::failure::Failure;
use super::report::{one_line, Report};
use super::session::{ReadError, Session};
use super::Prober;

/// A server gets at most this many challenges in one exchange: the
/// mechanisms postie has need three at most, so more is a loop.
const MAX_CHALLENGES: usize = 8;

/// Who the probe authenticates as, and how.
pub(super) struct AuthRequest {
    pub(super) credentials: Credentials,
    /// The secret is an OAuth 2.0 token (OAUTHBEARER, XOAUTH2).
    pub(super) token: bool,
    /// `--auth`: only these, in this order; empty: the strongest first.
    pub(super) mechanisms: Vec<String>,
    /// `--allow-plaintext-auth`.
    pub(super) allow_plaintext: bool,
}

/// What became of AUTH.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum AuthOutcome {
    /// The server said 235 (and proved itself where the mechanism asks).
    Accepted,
    /// The server refused the credentials or the mechanism.
    Refused,
    /// The exchange broke on the client's side: a challenge the mechanism
    /// could not answer, or a server that did not prove itself.
    Failed,
    /// AUTH was not tried: nothing usable was offered, or the connection
    /// was not one to send credentials over.
    #[default]
    NotTried,
}

/// AUTH in the report.
#[derive(Debug, Default, Serialize)]
pub(super) struct AuthReport {
    /// The mechanism tried (the last one, when the server sent postie on
    /// to the next); `None` when none was.
    mechanism: Option<String>,
    outcome: AuthOutcome,
    /// Whether the server accepted the credentials.
    ok: bool,
    /// The server's last reply to the exchange.
    code: Option<u16>,
    enhanced: Option<String>,
    /// That reply's text, else why AUTH failed or was not tried.
    text: Option<String>,
}

impl AuthReport {
    /// AUTH was not tried, for `why`.
    pub(super) fn not_tried(why: impl Into<String>) -> Self {
        Self {
            text: Some(why.into()),
            ..Self::default()
        }
    }

    fn replied(mechanism: &str, outcome: AuthOutcome, reply: &Reply) -> Self {
        Self {
            mechanism: Some(mechanism.to_owned()),
            outcome,
            ok: outcome == AuthOutcome::Accepted,
            code: Some(reply.code()),
            enhanced: reply.enhanced().map(|e| e.to_string()),
            text: Some(reply.text()),
        }
    }

    /// The line of the text report: `AUTH SCRAM-SHA-256: accepted`,
    /// `AUTH PLAIN: refused: 535 5.7.8 ...`, `AUTH: not tried: ...`.
    pub(super) fn line(&self) -> String {
        let head = match &self.mechanism {
            Some(name) => format!("AUTH {name}"),
            None => "AUTH".to_owned(),
        };
        let text = one_line(self.text.as_deref().unwrap_or_default());
        let reply = match (self.code, &self.enhanced) {
            (Some(code), Some(enhanced)) => format!("{code} {enhanced} {text}"),
            (Some(code), None) => format!("{code} {text}"),
            (None, _) => text.clone(),
        };
        match self.outcome {
            AuthOutcome::Accepted => format!("{head}: accepted"),
            AuthOutcome::Refused => format!("{head}: refused: {reply}"),
            AuthOutcome::Failed => format!("{head}: failed: {text}"),
            AuthOutcome::NotTried => format!("{head}: not tried: {text}"),
        }
    }
}

/// How one mechanism's exchange ended.
enum Exchange {
    /// 235, and the mechanism is content.
    Accepted(Reply),
    /// Any other final reply.
    Refused(Reply),
    /// The mechanism refused to go on (its error, and the server's reply to
    /// the cancelling `*`, or to the 235 it did not trust).
    Failed(sasl::SaslError, Reply),
    /// The mechanism cannot carry these credentials: nothing was sent.
    Unusable(sasl::SaslError),
}

impl Prober {
    /// AUTH on `session`, with what its last EHLO offered; `encrypted`:
    /// the session is over verified TLS. Records the verdict; a refusal, or
    /// no usable mechanism, is exit 77 (as for `postie send`).
    pub(super) fn authenticate(
        &self,
        session: &mut Session,
        caps: &Capabilities,
        encrypted: bool,
        report: &mut Report,
    ) -> Result<(), Failure> {
        let Some(request) = &self.auth else {
            return Ok(());
        };
        let candidates = match self.candidates(request, session, caps, encrypted) {
            Ok(candidates) => candidates,
            Err(why) => {
                let failure = Failure::new(exit::NOPERM, format!("AUTH not tried: {why}"));
                report.auth = Some(AuthReport::not_tried(why));
                return Err(failure);
            }
        };
        let (host, port) = (&self.target.host, self.target.port);
        let mut last = AuthReport::not_tried("no mechanism could carry these credentials");
        for name in candidates {
            let mechanism = match sasl::mechanism(&name, &request.credentials, host, port) {
                Ok(Some(mechanism)) => mechanism,
                Ok(None) => continue,
                Err(e) => {
                    last = AuthReport::not_tried(format!("{name} cannot be used: {e}"));
                    continue;
                }
            };
            let exchange = exchange(session, mechanism, &name)
                .map_err(|e| e.failure(&format!("AUTH {name}"), &self.target))?;
            let (report_now, failure) = match exchange {
                Exchange::Accepted(reply) => {
                    report.auth = Some(AuthReport::replied(&name, AuthOutcome::Accepted, &reply));
                    return Ok(());
                }
                // "This mechanism cannot be used here": the next one is
                // tried, as `postie send` does.
                Exchange::Refused(reply) if matches!(reply.code(), 504 | 534 | 538 | 454) => {
                    last = AuthReport::replied(&name, AuthOutcome::Refused, &reply);
                    continue;
                }
                Exchange::Refused(reply) => {
                    // 421: the server is closing, not judging.
                    let code = if reply.code() == 421 {
                        exit::TEMPFAIL
                    } else {
                        exit::NOPERM
                    };
                    let message = format!(
                        "{} refused AUTH {name} as {}: {reply}",
                        self.target, request.credentials.username
                    );
                    (
                        AuthReport::replied(&name, AuthOutcome::Refused, &reply),
                        Failure::new(code, message),
                    )
                }
                Exchange::Failed(error, reply) => {
                    let mut failed = AuthReport::replied(&name, AuthOutcome::Failed, &reply);
                    failed.text = Some(error.to_string());
                    let message = format!("AUTH {name} with {} failed: {error}", self.target);
                    (failed, Failure::new(exit::NOPERM, message))
                }
                Exchange::Unusable(error) => {
                    last = AuthReport::not_tried(format!("{name} cannot be used: {error}"));
                    continue;
                }
            };
            report.auth = Some(report_now);
            return Err(failure);
        }
        let message = format!("AUTH with {} failed: {}", self.target, last.line());
        report.auth = Some(last);
        Err(Failure::new(exit::NOPERM, message))
    }

    /// The mechanisms to try, in order: the user's or the strongest first,
    /// among those offered, without those that send the secret itself
    /// over a connection in clear to another machine. `Err`: why none.
    fn candidates(
        &self,
        request: &AuthRequest,
        session: &Session,
        caps: &Capabilities,
        encrypted: bool,
    ) -> Result<Vec<String>, String> {
        let offered = caps.auth_mechanisms();
        if offered.is_empty() {
            let hint = if !encrypted && caps.offers(Extension::StartTls) {
                " (it offers STARTTLS: many servers offer AUTH only after it)"
            } else {
                ""
            };
            return Err(format!("{} offers no AUTH{hint}", self.target));
        }
        let wanted = sasl::preference(&request.mechanisms, request.token);
        let mut candidates: Vec<String> = wanted
            .iter()
            .filter(|m| offered.contains(m))
            .cloned()
            .collect();
        if candidates.is_empty() {
            return Err(format!(
                "no mechanism in common: {} offers {}, postie would use {}",
                self.target,
                offered.join(" "),
                wanted.join(" ")
            ));
        }
        // A Unix socket (no address) is this machine, as loopback is.
        let local = session
            .peer_addr()
            .is_none_or(|addr| addr.ip().is_loopback());
        if !encrypted && !local && !request.allow_plaintext {
            let exposed: Vec<String> = candidates
                .iter()
                .filter(|m| sasl::is_plaintext_equivalent(m))
                .cloned()
                .collect();
            candidates.retain(|m| !sasl::is_plaintext_equivalent(m));
            if candidates.is_empty() {
                return Err(format!(
                    "{} would send the secret in clear to {}: use TLS, or --allow-plaintext-auth",
                    exposed.join(" and "),
                    self.target
                ));
            }
        }
        Ok(candidates)
    }
}

/// One mechanism's exchange: `AUTH NAME [initial response]`, each `334`
/// challenge answered, until a final reply. Every line that carries a
/// response goes out from a buffer wiped on drop.
fn exchange(
    session: &mut Session,
    mut mechanism: Box<dyn Mechanism>,
    name: &str,
) -> Result<Exchange, ReadError> {
    let redacted = format!("AUTH {name} [redacted]");
    let (command, shown) = match mechanism.initial_response() {
        // RFC 4954 §4: an empty initial response is sent as `=`.
        Ok(Some(initial)) if initial.is_empty() => {
            let command = format!("AUTH {name} =");
            (sasl::Zeroizing::new(command.clone()), command)
        }
        Ok(Some(initial)) => (
            sasl::response_line(&format!("AUTH {name} "), &initial),
            redacted,
        ),
        Ok(None) => {
            let command = format!("AUTH {name}");
            (sasl::Zeroizing::new(command.clone()), command)
        }
        Err(e) => return Ok(Exchange::Unusable(e)),
    };
    let mut reply = session.command_secret(&command, &shown)?;
    for _ in 0..MAX_CHALLENGES {
        match reply.code() {
            334 => {
                let challenge = reply.lines().first().map(String::as_str).unwrap_or("");
                let answer = match sasl::decode_challenge(challenge.trim()) {
                    Some(bytes) => mechanism.respond(&bytes),
                    None => Err(sasl::SaslError::MalformedChallenge {
                        mechanism: mechanism.name(),
                        reason: "the challenge is not base64".to_owned(),
                    }),
                };
                match answer {
                    Ok(answer) => {
                        let line = sasl::response_line("", &answer);
                        reply = session.command_secret(&line, "[redacted]")?;
                    }
                    Err(e) => {
                        // RFC 4954 §4: "*" cancels the exchange.
                        let cancelled = session.command("*")?;
                        return Ok(Exchange::Failed(e, cancelled));
                    }
                }
            }
            235 => {
                return Ok(match mechanism.complete() {
                    Ok(()) => Exchange::Accepted(reply),
                    // The server did not prove it knows the secret.
                    Err(e) => Exchange::Failed(e, reply),
                });
            }
            _ => return Ok(Exchange::Refused(reply)),
        }
    }
    let cancelled = session.command("*")?;
    Ok(Exchange::Failed(
        sasl::SaslError::UnexpectedChallenge {
            mechanism: mechanism.name(),
        },
        cancelled,
    ))
}
