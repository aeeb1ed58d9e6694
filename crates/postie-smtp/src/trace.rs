//! The dialogue transcript, for `-v` and for logs.
//!
//! The core writes it; secrets never enter it: the payload of every AUTH
//! exchange is replaced by `[redacted]` before a line is made.

use std::fmt;

/// Who said a line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TraceKind {
    /// The client sent it.
    Sent,
    /// The server sent it.
    Received,
    /// A note from the client (connecting, TLS, decisions).
    Info,
}

/// One line of the transcript.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trace {
    /// Who said it.
    pub kind: TraceKind,
    /// What was said, without the line ending; secrets redacted.
    pub text: String,
}

impl fmt::Display for Trace {
    /// `C: ...`, `S: ...` or `* ...`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let prefix = match self.kind {
            TraceKind::Sent => "C:",
            TraceKind::Received => "S:",
            TraceKind::Info => "*",
        };
        write!(f, "{prefix} {}", self.text.escape_debug())
    }
}
