//! What the command prints: the refused recipients as TSV lines, one-line
//! errors, the JSON object of the contract, and the sink's log.

use std::net::SocketAddr;
use std::path::PathBuf;

use postie_smtp::{Error, Outcome, Refusal, Reply, Sent};
use serde_json::{json, Value};

use crate::sink::{Observer, Received};

/// `address<TAB>code<TAB>text`, one line per refused recipient.
pub(crate) fn refusal_lines(refused: &[Refusal]) -> String {
    refused
        .iter()
        .map(|r| format!("{}\t{}\t{}\n", r.address(), r.code(), one_line(&r.text())))
        .collect()
}

fn one_line(text: &str) -> String {
    text.replace(['\t', '\r', '\n'], " ")
}

fn reply_json(reply: &Reply) -> Value {
    json!({
        "code": reply.code(),
        "enhanced": reply.enhanced().map(|e| e.to_string()),
        "text": reply.text(),
    })
}

fn refused_json(refused: &[Refusal]) -> Value {
    Value::Array(
        refused
            .iter()
            .map(|r| {
                json!({
                    "address": r.address(),
                    "code": r.code(),
                    "enhanced": r.enhanced().map(|e| e.to_string()),
                    "text": r.text(),
                })
            })
            .collect(),
    )
}

/// The JSON object for a message the server accepted.
pub(crate) fn sent_json(sent: &Sent) -> Value {
    json!({
        "outcome": "sent",
        "accepted": true,
        "server": sent.server().to_string(),
        "tls": sent.tls().map(|t| t.version.clone()),
        "auth": sent.auth(),
        "reply": reply_json(sent.reply()),
        "queue_id": sent.queue_id(),
        "refused": refused_json(sent.refused()),
        "error": null,
    })
}

/// The JSON object for a message kept in the spool without being sent
/// (`--defer`), as `id`.
pub(crate) fn queued_json(id: &str) -> Value {
    json!({
        "outcome": "queued",
        "accepted": false,
        "server": null,
        "tls": null,
        "auth": null,
        "reply": null,
        "queue_id": null,
        "refused": [],
        "spooled": id,
        "error": null,
    })
}

/// The JSON object for a message that was not sent (or may not have been).
pub(crate) fn error_json(error: &Error) -> Value {
    let outcome = match error.outcome() {
        Outcome::Unknown => "unknown",
        Outcome::NotSent => "not_sent",
    };
    let text = match error.reply() {
        Some(reply) => reply.text(),
        None => error
            .server_error()
            .map(|e| e.cause().to_string())
            .unwrap_or_else(|| error.to_string()),
    };
    json!({
        "outcome": outcome,
        "accepted": false,
        "server": error.server().map(|s| s.to_string()),
        "tls": null,
        "auth": null,
        "reply": null,
        "queue_id": null,
        "refused": refused_json(error.refused()),
        "error": {
            "server": error.server().map(|s| s.to_string()),
            "stage": error.stage().map(|s| s.as_str()),
            "code": error.code(),
            "enhanced": error.enhanced().map(|e| e.to_string()),
            "text": text,
            "temporary": error.is_temporary(),
        },
        "attempts": attempts_json(error),
    })
}

/// The contract's stage for a failure before any send, by its exit code:
/// bad flags, an unreadable input file, a bad accounts file (a bad message
/// has none: it is not a stage of the dialogue).
fn stage_before_sending(code: u8) -> Option<&'static str> {
    match code {
        crate::exit::USAGE => Some("usage"),
        crate::exit::NOINPUT => Some("input"),
        crate::exit::CONFIG => Some("config"),
        _ => None,
    }
}

/// A JSON object for a failure before any send (bad flags, input or
/// file), exiting with `code`.
pub(crate) fn input_error_json(code: u8, message: &str) -> Value {
    json!({
        "outcome": "not_sent",
        "accepted": false,
        "server": null,
        "tls": null,
        "auth": null,
        "reply": null,
        "queue_id": null,
        "refused": [],
        "error": {
            "server": null,
            "stage": stage_before_sending(code),
            "code": null,
            "enhanced": null,
            "text": message,
            "temporary": false,
        },
        "attempts": [],
    })
}

/// The one-line error for standard error.
pub(crate) fn error_line(error: &Error) -> String {
    one_line(&format!(
        "postie: {}",
        postie_spool::judge::error_text(error)
    ))
}

/// The error for a person at a terminal: [`error_line`], and where
/// several servers were tried, each on a line of its own.
pub(crate) fn error_lines(error: &Error) -> String {
    let mut text = error_line(error);
    if let Error::NoServer { attempts } = error {
        if attempts.len() > 1 {
            for attempt in attempts {
                text.push_str("\npostie:   tried ");
                text.push_str(&one_line(&attempt.to_string()));
            }
        }
    }
    text
}

/// Each server tried, for the JSON `attempts`.
fn attempts_json(error: &Error) -> Value {
    let Error::NoServer { attempts } = error else {
        return Value::Array(Vec::new());
    };
    attempts
        .iter()
        .map(|a| {
            json!({
                "server": a.server().to_string(),
                "stage": a.stage().as_str(),
                "code": a.reply().map(|r| r.code()),
                "text": a.reply().map_or_else(|| a.cause().to_string(), |r| r.text()),
            })
        })
        .collect()
}

/// The sink's log on standard error.
pub(crate) struct SinkPrinter {
    pub(crate) verbose: bool,
    pub(crate) maildir: Option<PathBuf>,
}

impl Observer for SinkPrinter {
    fn line(&self, peer: SocketAddr, line: &str) {
        if self.verbose {
            eprintln!("{peer} {line}");
        }
    }

    fn message(&self, peer: SocketAddr, message: &Received, id: u64) {
        let place = match &self.maildir {
            Some(dir) => format!(", kept in {}", dir.join("new").display()),
            None => String::new(),
        };
        eprintln!(
            "{peer} message {id}: from <{}> to {}: {} bytes{place}",
            message.mail_from,
            message
                .rcpt_to
                .iter()
                .map(|r| format!("<{r}>"))
                .collect::<Vec<_>>()
                .join(", "),
            message.data.len()
        );
    }
}
