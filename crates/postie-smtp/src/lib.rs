//! An SMTP client: tcllib's `::smtp::sendmessage`, done to the standard of
//! the best Rust networking crates.
//!
//! - [`proto`] is a **sans-IO** protocol core: bytes in, bytes out, time
//!   passed in, no sockets. Every rule of the dialogue lives there.
//! - [`blocking`] is a thin driver over std's sockets; `async_tokio`
//!   (feature `tokio`) is the same over tokio and tokio-rustls. Both make
//!   the same calls into the same core.
//! - [`connector`] is how a driver opens a connection (TCP, a Unix socket,
//!   or your own); [`net`] holds the I/O both drivers share.
//! - [`transform`] is where the message is given its form for each
//!   server (the 7-bit rewrite, IDN paths as punycode; a signer next).
//! - [`envelope`] derives the envelope and the header fields to send from a
//!   message and [`SendOptions`], before anything touches the network.
//!
//! ```no_run
//! use postie_mime::Message;
//! use postie_smtp::SendOptions;
//!
//! // The seed's example: send_simple_message someone@somewhere.com localhost ...
//! let mut msg = Message::text("This is the message.");
//! msg.headers_mut().set("Subject", "This is the subject.")?;
//! let sent = postie_smtp::send(
//!     &msg,
//!     &SendOptions::new().recipients("someone@somewhere.com").servers(["localhost"]),
//! )?;
//! println!("accepted by {}: {}", sent.server(), sent.reply());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! `send` returns `Ok` only after the server's 2xx to the end of data. A
//! message that was not sent is an [`Error`] naming the server, the
//! [`Stage`], the code, the enhanced code and the text; refused recipients
//! come back as [`Refusal`]s.
#![forbid(unsafe_code)]

#[cfg(feature = "tokio")]
pub mod async_tokio;
pub mod blocking;
mod body_buffer;
pub mod capabilities;
pub mod connector;
pub mod data;
pub mod dkim;
pub mod dsn;
pub mod envelope;
mod error;
mod given_envelope;
mod kept;
pub mod net;
mod options;
mod outbound;
mod outcome;
mod pool_defaults;
mod pool_rate;
pub mod proto;
pub mod reply;
pub mod sasl;
pub mod security;
mod server;
pub mod settings;
mod setup;
mod step_io;
pub mod sysexits;
pub mod tls;
pub mod trace;
pub mod transform;
pub mod transport;

pub use blocking::send;
pub use capabilities::Capabilities;
pub use envelope::{LocalEnv, Prepared};
pub use error::{Cause, Error, InvalidInput, Outcome, ServerError, Stage};
pub use given_envelope::Envelope;
pub use options::{
    Progress, ProgressFn, SendOptions, Timeouts, TraceFn, DEFAULT_PORT, IMPLICIT_TLS_PORT,
};
pub use outcome::{queue_id, Refusal, Sent};
pub use proto::AuthProblem;
pub use reply::{EnhancedCode, Reply};
pub use sasl::{Credentials, Secret};
pub use server::ServerAddr;
pub use settings::{
    AuthSettings, DsnSettings, ProxySettings, SecretSource, TimeoutSettings, TransportSettings,
};
pub use tls::{TlsDecision, TlsMode, TlsPolicy, TlsProblem, TlsSettings};
pub use trace::{Trace, TraceKind};
