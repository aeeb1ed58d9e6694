//! What an attempt's result does to a kept message: where it goes next
//! (sent, back to the queue with a wait, unknown, dead), its record
//! updated, and the line that says so. `postie spool flush` and the
//! relayers of `postie spool run` judge alike; only how they write the
//! result differs (one message at a time, or a batch at once).
//!
//! Failures are judged by their exit code in sendmail's convention
//! ([`postie_smtp::sysexits`]): temporary ones and setups someone can fix
//! are retried until the message is too old, an unknown outcome is kept
//! as unknown, the rest is given up.

use std::io;
use std::time::Duration;

use postie_smtp::Outcome;

use crate::backoff;
use crate::meta::Meta;
use crate::store::{Claimed, State};
use postie_smtp::sysexits as exit;

/// Why a kept message was not sent.
#[derive(Debug)]
#[non_exhaustive]
pub enum Failure {
    /// Before anything was sent: the exit code `postie send` would give
    /// ([`postie_smtp::sysexits`]: 75 and 68 and a setup to fix, 78 or
    /// 64, are retried; the rest gives the message up), and the reason.
    Input(u8, String),
    /// The send failed.
    Send(postie_smtp::Error),
}

/// A failed send as one line: the error, for an unknown outcome that the
/// message may have been delivered, and the likely fix where there is one
/// (as `postie send` says it).
pub fn error_text(error: &postie_smtp::Error) -> String {
    let mut line = error.to_string();
    if error.outcome() == Outcome::Unknown {
        line.push_str(
            " (the message may have been delivered: the connection ended after the final dot)",
        );
    }
    if let Some(hint) = error.hint() {
        line.push_str(&format!(" (hint: {hint})"));
    }
    line
}

pub use crate::store::Disposition;

/// How a judged message counts in a run's summary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Count {
    /// Sent.
    Sent,
    /// Kept for a later attempt (or as unknown).
    Kept,
    /// Given up.
    Dead,
}

/// A result judged: where the message goes, how it counts, what to say.
pub struct Judged {
    /// Where the message goes.
    pub disposition: Disposition,
    /// How it counts.
    pub count: Count,
    /// What to say of it, one line.
    pub line: String,
    /// The message's id.
    pub id: String,
}

impl Judged {
    /// What became of the message, as `--json` names it: `sent`, `kept`
    /// (queued for its next attempt), `unknown` or `dead`.
    pub fn outcome(&self) -> &'static str {
        match &self.disposition {
            Disposition::Sent => "sent",
            Disposition::Rest(_, State::Unknown) => "unknown",
            Disposition::Rest(_, State::Dead) => "dead",
            Disposition::Rest(_, State::Queued) | Disposition::Back(_) => "kept",
            Disposition::Quarantine => "damaged",
        }
    }
}

/// One message's `--json` line: its id, what became of it, and the line
/// `postie spool flush` or `run` says about it (without the prefix).
pub fn event(id: &str, outcome: &str, text: &str) -> serde_json::Value {
    serde_json::json!({"id": id, "outcome": outcome, "text": text})
}

/// What to do with a message after a failed attempt.
enum Verdict {
    /// Try again after a wait (or give up when it is too old).
    Retry,
    /// The server may have it.
    Unknown,
    /// Give up.
    Dead,
}

/// Judges the attempt on `meta`'s message that ended at `now` with
/// `result`; `max_age` is how long it may be kept.
pub fn attempt(
    mut meta: Meta,
    result: Result<postie_smtp::Sent, Failure>,
    now: u64,
    max_age: Duration,
) -> Judged {
    meta.last_attempt = now;
    let failure = match result {
        Ok(sent) => {
            let refused: Vec<String> = sent
                .refused()
                .iter()
                .map(|r| format!("{} {} {}", r.address(), r.code(), r.text()))
                .collect();
            let refused = if refused.is_empty() {
                String::new()
            } else {
                format!("; refused: {}", refused.join("; "))
            };
            return Judged {
                id: meta.id.clone(),
                disposition: Disposition::Sent,
                count: Count::Sent,
                line: format!(
                    "{}: sent to {} ({}){refused}",
                    meta.id,
                    sent.server(),
                    meta.recipients.join(", ")
                ),
            };
        }
        Err(failure) => failure,
    };
    meta.attempts = meta.attempts.saturating_add(1);
    meta.last_error = failure_text(&failure);
    match verdict(&failure) {
        Verdict::Unknown => {
            meta.maybe_delivered = true;
            meta.next_attempt = now;
            let line = format!(
                "{}: {}: kept as unknown (the server may have it); `postie spool flush --force` sends it again",
                meta.id, meta.last_error
            );
            kept(meta, State::Unknown, line)
        }
        Verdict::Retry if !expired(meta.created, now, max_age) => {
            meta.next_attempt = now + backoff::delay(meta.attempts);
            let state = if meta.maybe_delivered {
                State::Unknown
            } else {
                State::Queued
            };
            let line = format!(
                "{}: {}: kept{}; next attempt in {}",
                meta.id,
                meta.last_error,
                if meta.maybe_delivered {
                    " as unknown"
                } else {
                    ""
                },
                backoff::span(meta.next_attempt - now)
            );
            kept(meta, state, line)
        }
        Verdict::Retry => {
            let reason = format!(
                "expired: kept for {} (the limit is {}), {} attempts; last error: {}",
                backoff::span(now.saturating_sub(meta.created)),
                backoff::span(max_age.as_secs()),
                meta.attempts,
                meta.last_error
            );
            give_up(meta, reason)
        }
        Verdict::Dead => {
            let reason = meta.last_error.clone();
            give_up(meta, reason)
        }
    }
}

fn kept(meta: Meta, state: State, line: String) -> Judged {
    Judged {
        id: meta.id.clone(),
        disposition: Disposition::Rest(Box::new(meta), state),
        count: Count::Kept,
        line,
    }
}

/// Gives a message up: to dead, with the reason.
pub fn give_up(mut meta: Meta, reason: String) -> Judged {
    let line = format!("{}: given up (in dead/): {reason}", meta.id);
    meta.dead_reason = Some(reason);
    Judged {
        id: meta.id.clone(),
        disposition: Disposition::Rest(Box::new(meta), State::Dead),
        count: Count::Dead,
        line,
    }
}

/// Carries out `disposition` on one claimed entry. The order keeps a crash
/// in between safe: a record that says the server may have the message is
/// saved before the "data went out" mark goes; otherwise the mark goes
/// first (the outcome is known: not sent), so a crash from there on finds
/// it not sent.
pub fn apply(claim: Box<dyn Claimed + '_>, disposition: Disposition) -> io::Result<()> {
    match disposition {
        Disposition::Sent => claim.delete(),
        Disposition::Rest(meta, state) => {
            if meta.maybe_delivered {
                claim.save(&meta)?;
                claim.clear_data_sent()?;
            } else {
                claim.clear_data_sent()?;
                claim.save(&meta)?;
            }
            claim.release(state)
        }
        Disposition::Back(state) => {
            claim.clear_data_sent()?;
            claim.release(state)
        }
        Disposition::Quarantine => claim.quarantine().map(drop),
    }
}

/// The exit code of a run of `spool flush` or `spool run --once` that
/// had `errors` failures of the store, gave `given_up` messages up (or
/// found them damaged) and kept `kept` for later.
pub fn exit_code(errors: usize, given_up: usize, kept: usize) -> u8 {
    if errors > 0 {
        exit::OS_ERR
    } else if given_up > 0 {
        exit::UNAVAILABLE
    } else if kept > 0 {
        exit::TEMPFAIL
    } else {
        exit::OK
    }
}

/// Where a failure leaves the message.
fn verdict(failure: &Failure) -> Verdict {
    let code = match failure {
        Failure::Send(error) if error.outcome() == Outcome::Unknown => return Verdict::Unknown,
        Failure::Send(error) => exit::for_error(error),
        Failure::Input(code, _) => *code,
    };
    match code {
        // Temporary, or a setup someone can fix (an account, a variable
        // holding the password, a CA file): tried again until it expires.
        exit::TEMPFAIL | exit::NOHOST | exit::CONFIG | exit::USAGE => Verdict::Retry,
        // Refused for good: 5xx, recipients refused, authentication, a
        // message the server cannot take.
        _ => Verdict::Dead,
    }
}

/// The failure as a record keeps it ([`record_text`]).
fn failure_text(failure: &Failure) -> String {
    match failure {
        Failure::Send(error) => record_text(&error_text(error)),
        Failure::Input(_, text) => record_text(text),
    }
}

/// `text` as a record keeps it: one line, without the characters a store
/// cannot keep (a NUL in a server's reply would make PostgreSQL refuse the
/// row, or a whole batch's results) or a line could not show.
pub fn record_text(text: &str) -> String {
    text.chars()
        .filter(|c| *c != '\0')
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Whether a message kept since `created` is too old to try again at
/// `now`. (Checked after a failed attempt: a message that waited long, say
/// on a laptop that was offline, still gets one more try.)
fn expired(created: u64, now: u64, max_age: Duration) -> bool {
    now.saturating_sub(created) >= max_age.as_secs()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_setup_someone_can_fix_is_retried_and_a_bad_message_is_given_up() {
        let input = |code| Failure::Input(code, String::new());
        for code in [exit::CONFIG, exit::USAGE, exit::TEMPFAIL, exit::NOHOST] {
            assert!(matches!(verdict(&input(code)), Verdict::Retry), "{code}");
        }
        for code in [exit::DATAERR, exit::NOINPUT, exit::SOFTWARE] {
            assert!(matches!(verdict(&input(code)), Verdict::Dead), "{code}");
        }
    }

    #[test]
    fn a_failure_is_kept_as_one_line_without_a_nul() {
        let text = failure_text(&Failure::Input(exit::TEMPFAIL, "451 a\0b\r\nc".into()));
        assert_eq!(text, "451 ab  c");
    }

    #[test]
    fn a_message_expires_at_its_max_age() {
        let day = Duration::from_secs(86400);
        assert!(!expired(0, 86399, day));
        assert!(expired(0, 86400, day));
        assert!(expired(0, 0, Duration::ZERO));
    }
}
