//! Errors that say what failed, at which server, at which stage of the
//! dialogue, with the server's code and text.

use std::fmt;
use std::io;
use std::time::Duration;

use crate::connector::ConnectError;
use crate::outcome::Refusal;
use crate::reply::{EnhancedCode, Reply, ReplyError};
use crate::server::ServerAddr;

/// The stage of the SMTP dialogue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Stage {
    /// Resolving the name and opening the TCP connection.
    Connect,
    /// Waiting for the server's 220.
    Greeting,
    /// EHLO, or HELO after a refused EHLO.
    Ehlo,
    /// LHLO, LMTP's greeting (RFC 2033).
    Lhlo,
    /// STARTTLS and the TLS handshake.
    StartTls,
    /// SASL authentication.
    Auth,
    /// MAIL FROM.
    Mail,
    /// RCPT TO.
    Rcpt,
    /// The DATA command, and the message bytes after its 354.
    Data,
    /// Waiting for the reply to the final `.`.
    EndOfData,
}

impl Stage {
    /// The name used in JSON output: `connect`, `greeting`, `ehlo`,
    /// `lhlo`, `starttls`, `auth`, `mail`, `rcpt`, `data`, `end_of_data`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connect => "connect",
            Self::Greeting => "greeting",
            Self::Ehlo => "ehlo",
            Self::Lhlo => "lhlo",
            Self::StartTls => "starttls",
            Self::Auth => "auth",
            Self::Mail => "mail",
            Self::Rcpt => "rcpt",
            Self::Data => "data",
            Self::EndOfData => "end_of_data",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Connect => "connect",
            Self::Greeting => "greeting",
            Self::Ehlo => "EHLO",
            Self::Lhlo => "LHLO",
            Self::StartTls => "STARTTLS",
            Self::Auth => "AUTH",
            Self::Mail => "MAIL FROM",
            Self::Rcpt => "RCPT TO",
            Self::Data => "DATA",
            Self::EndOfData => "end of data",
        })
    }
}

/// What went wrong at a server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Cause {
    /// The host name does not resolve.
    #[error("host name does not resolve: {0}")]
    Resolve(#[source] io::Error),
    /// No address of the host accepted a connection.
    #[error("cannot connect: {0}")]
    Connect(#[source] io::Error),
    /// The server sent no (complete) reply within the stage's time limit.
    #[error("no reply within {0:?}")]
    Timeout(Duration),
    /// The whole send took longer than the deadline.
    #[error("the deadline for the whole send passed")]
    Deadline,
    /// The server closed the connection.
    #[error("the server closed the connection")]
    Closed,
    /// Reading or writing failed.
    #[error("connection error: {0}")]
    Io(#[source] io::Error),
    /// The server answered with a failure reply.
    #[error("{0}")]
    Reply(Reply),
    /// The server's reply could not be parsed.
    #[error("malformed reply: {0}")]
    Protocol(#[from] ReplyError),
    /// The server sent bytes when no reply was due.
    #[error("the server sent data nobody asked for")]
    Unexpected,
    /// The message is larger than the server's SIZE limit (RFC 1870).
    #[error("the message is {size} bytes, the server takes at most {limit}")]
    TooLarge {
        /// The message's size.
        size: u64,
        /// The server's limit.
        limit: u64,
    },
    /// Authentication could not be done (no mechanism, clear text refused,
    /// the server did not prove itself).
    #[error("{0}")]
    Auth(AuthProblem),
    /// TLS could not be set up, or the certificate was refused.
    #[error("{0}")]
    Tls(crate::tls::TlsError),
    /// An address is not ASCII and the server does not offer SMTPUTF8.
    #[error("{0} is not ASCII and the server does not offer SMTPUTF8")]
    NeedsSmtpUtf8(String),
    /// REQUIRETLS was asked for, and this server was not reached over TLS
    /// or does not offer it (RFC 8689): it must not get the message.
    #[error("REQUIRETLS was asked for and the server does not offer it over TLS")]
    RequireTlsNotOffered,
    /// A message transform could not make the message's form for this
    /// server (nothing was sent).
    #[error("{0}")]
    Transform(TransformError),
}

/// A message transform's failure ([`crate::transform`]): which one, and why.
#[derive(Debug, thiserror::Error)]
#[error("the {name} transform failed: {source}")]
pub struct TransformError {
    name: String,
    #[source]
    source: Box<dyn std::error::Error + Send + Sync>,
}

impl TransformError {
    /// `name` failed because of `source`.
    pub fn new(
        name: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self {
            name: name.into(),
            source: source.into(),
        }
    }

    /// The transform's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Cause {
    fn reply(&self) -> Option<&Reply> {
        match self {
            Self::Reply(reply) => Some(reply),
            _ => None,
        }
    }

    /// Whether trying again later may succeed: 4xx replies, timeouts and
    /// lost connections. Resolution failures count as temporary too (DNS
    /// may be down), as sendmail's EX_TEMPFAIL/EX_NOHOST split has it.
    fn is_temporary(&self) -> bool {
        match self {
            Self::Reply(reply) => !reply.is_permanent(),
            Self::Resolve(_)
            | Self::Connect(_)
            | Self::Timeout(_)
            | Self::Deadline
            | Self::Closed
            | Self::Io(_)
            | Self::Protocol(_)
            | Self::Unexpected => true,
            Self::Tls(e) => e.is_temporary(),
            Self::Auth(_) => false,
            Self::TooLarge { .. } | Self::NeedsSmtpUtf8(_) | Self::RequireTlsNotOffered => false,
            // A local problem (a key file, a bug): trying later changes
            // nothing until someone fixes it.
            Self::Transform(_) => false,
        }
    }
}

/// A failure at one server, at one stage.
#[derive(Debug, thiserror::Error)]
#[error("{server}: {stage}: {cause}")]
pub struct ServerError {
    server: ServerAddr,
    stage: Stage,
    #[source]
    cause: Cause,
}

impl ServerError {
    pub(crate) fn new(server: ServerAddr, stage: Stage, cause: Cause) -> Self {
        Self {
            server,
            stage,
            cause,
        }
    }

    /// The server.
    pub fn server(&self) -> &ServerAddr {
        &self.server
    }

    /// The stage that failed.
    pub fn stage(&self) -> Stage {
        self.stage
    }

    /// What went wrong.
    pub fn cause(&self) -> &Cause {
        &self.cause
    }

    /// The server's reply, when the failure was a reply.
    pub fn reply(&self) -> Option<&Reply> {
        self.cause.reply()
    }

    /// Whether trying again later may succeed.
    pub fn is_temporary(&self) -> bool {
        self.cause.is_temporary()
    }
}

/// Input that cannot be sent, found before anything went on the wire.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidInput {
    /// An address in an option or header did not parse.
    #[error("invalid address in {field}: {source}")]
    Address {
        /// Where the address came from, e.g. `--recipients` or `To`.
        field: String,
        /// What is wrong with it.
        source: postie_mime::address::AddressError,
    },
    /// The originator names more than one mailbox.
    #[error("{field} names more than one mailbox ({value}); give the originator explicitly")]
    TooManyOriginators {
        /// The field.
        field: String,
        /// Its value.
        value: String,
    },
    /// A header given as an option, or the message itself, is invalid.
    #[error("invalid message: {0}")]
    Message(#[from] postie_mime::Error),
    /// A header that sending decides cannot be given as an option.
    #[error("{0} cannot be given as a header option: the MIME writer sets it")]
    ReservedHeader(String),
    /// A field that may occur once was given more than once.
    #[error("header {0} was given more than once")]
    RepeatedHeader(String),
    /// Neither options nor headers name a recipient.
    #[error("no recipients: give them as recipients, or in To, Cc or Bcc")]
    NoRecipients,
    /// The EHLO name is empty or holds white space or a control character.
    #[error("invalid client name {0:?}: it must be a domain or an address literal")]
    ClientName(String),
    /// An envelope address holds CR, LF or NUL, which would let it add
    /// commands to the dialogue.
    #[error("envelope address {0:?} holds CR, LF or NUL")]
    UnsafeEnvelope(String),
    /// The TLS settings cannot be used (an unreadable CA, certificate or
    /// key file).
    #[error("TLS settings: {0}")]
    Tls(crate::tls::TlsError),
    /// No server was given.
    #[error("no server to send to")]
    NoServers,
    /// REQUIRETLS was asked for without TLS, or with certificate checks
    /// turned off.
    #[error("REQUIRETLS needs TLS with verified certificates: {0}")]
    RequireTls(&'static str),
    /// A DSN option cannot be sent.
    #[error("{0}")]
    Dsn(#[from] crate::dsn::DsnError),
    /// A per-recipient DSN option names an address that is not a
    /// recipient.
    #[error("DSN notify for {0}: not one of the recipients")]
    DsnNotRecipient(String),
    /// The proxy settings cannot be used (a user without a password, a
    /// Unix socket as a server, connectors of one's own besides).
    #[error("{0}")]
    Proxy(crate::connector::socks5::ProxyError),
    /// A DKIM signature cannot be made: its key file is unreadable, not a
    /// key, or open to others; a domain or selector that cannot be one.
    #[error("DKIM: {0}")]
    Dkim(String),
    /// A next message was started on a connection that is not idle.
    #[error("the connection is not idle: finish the last message first")]
    NotIdle,
}

/// Why a message was not sent, or may not have been.
///
/// Every variant but [`Error::Transaction`] at [`Stage::EndOfData`] means the
/// message was not delivered; see [`Error::outcome`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Bad input: nothing was sent, and sending again will not help.
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    /// Every server failed before a transaction could start: each
    /// server's failure is kept and shown, in the order tried.
    #[error("no server could be used: {}", .attempts.iter().map(|a| a.to_string()).collect::<Vec<_>>().join("; "))]
    NoServer {
        /// Each server's failure, in the order tried.
        attempts: Vec<ServerError>,
    },
    /// The server failed during the transaction (after MAIL was sent).
    #[error(transparent)]
    Transaction(ServerError),
    /// Recipients were refused, so the message was not sent: none was
    /// accepted, or some were refused without the at-least-one option.
    #[error("{server}: message not sent: {} recipient(s) refused, first: {}", .refused.len(), .refused.first().map(|r| r.to_string()).unwrap_or_default())]
    Refused {
        /// The server.
        server: ServerAddr,
        /// Each refused recipient with the server's reply.
        refused: Vec<Refusal>,
        /// Where they were refused: at RCPT, or with LMTP after the data
        /// ([`Stage::EndOfData`]).
        stage: Stage,
    },
}

/// Whether a failed message may have been delivered anyway.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Not delivered.
    NotSent,
    /// The connection was lost after the final `.` and before the reply:
    /// the server may have taken the message. Sending again may duplicate it.
    Unknown,
}

impl Error {
    /// Whether the message may have been delivered anyway.
    pub fn outcome(&self) -> Outcome {
        match self {
            Self::Transaction(e) if e.stage == Stage::EndOfData && e.reply().is_none() => {
                Outcome::Unknown
            }
            _ => Outcome::NotSent,
        }
    }

    /// The failure that decided the outcome: the transaction's, or the last
    /// server's when none could be used.
    pub fn server_error(&self) -> Option<&ServerError> {
        match self {
            Self::NoServer { attempts } => attempts.last(),
            Self::Transaction(e) => Some(e),
            Self::Invalid(_) | Self::Refused { .. } => None,
        }
    }

    /// The stage that failed, when a server was involved.
    pub fn stage(&self) -> Option<Stage> {
        match self {
            Self::Refused { stage, .. } => Some(*stage),
            _ => self.server_error().map(ServerError::stage),
        }
    }

    /// The server involved, if any.
    pub fn server(&self) -> Option<&ServerAddr> {
        match self {
            Self::Refused { server, .. } => Some(server),
            _ => self.server_error().map(ServerError::server),
        }
    }

    /// The server's reply that ended the attempt, if it was a reply.
    pub fn reply(&self) -> Option<&Reply> {
        match self {
            Self::Refused { refused, .. } => refused
                .iter()
                .find(|r| r.reply().is_permanent())
                .or(refused.first())
                .map(Refusal::reply),
            _ => self.server_error().and_then(ServerError::reply),
        }
    }

    /// The reply code, if a reply ended the attempt.
    pub fn code(&self) -> Option<u16> {
        self.reply().map(Reply::code)
    }

    /// The enhanced status code, if the server gave one.
    pub fn enhanced(&self) -> Option<EnhancedCode> {
        self.reply().and_then(Reply::enhanced)
    }

    /// The refused recipients, when recipients were refused.
    pub fn refused(&self) -> &[Refusal] {
        match self {
            Self::Refused { refused, .. } => refused,
            _ => &[],
        }
    }

    /// Whether sending again later may succeed: a temporary failure (4xx,
    /// timeouts, lost connections, servers out of reach), or refused
    /// recipients that were all refused temporarily.
    pub fn is_temporary(&self) -> bool {
        match self {
            Self::Invalid(_) => false,
            Self::NoServer { attempts } => attempts.iter().any(ServerError::is_temporary),
            Self::Transaction(e) => e.is_temporary(),
            Self::Refused { refused, .. } => refused.iter().all(|r| r.reply().is_transient()),
        }
    }

    /// Whether every server failed because its name did not resolve.
    pub fn is_unresolved(&self) -> bool {
        match self {
            Self::NoServer { attempts } => {
                !attempts.is_empty()
                    && attempts
                        .iter()
                        .all(|a| matches!(a.cause(), Cause::Resolve(_)))
            }
            _ => false,
        }
    }

    /// The likely fix, in words, where the error points at one: a
    /// refused TCP connection is most often the wrong port (a refused
    /// Unix socket has no port to blame, nor does a SOCKS5 proxy that
    /// refused: its own port is not the server's).
    pub fn hint(&self) -> Option<&'static str> {
        use crate::connector::socks5::ProxyError;
        let Self::NoServer { attempts } = self else {
            return None;
        };
        let refused = attempts.iter().any(|a| {
            !a.server().is_unix()
                && matches!(a.cause(), Cause::Connect(e)
                    if e.kind() == io::ErrorKind::ConnectionRefused
                        && e.get_ref()
                            .and_then(|inner| inner.downcast_ref::<ProxyError>())
                            .is_none_or(ProxyError::is_from_the_destination))
        });
        refused.then_some(
            "nothing listens on that port: submission is usually 587 with STARTTLS, implicit TLS 465, relaying 25",
        )
    }
}

/// Why authentication could not start or finish, when no reply says it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthProblem {
    /// The server offers no AUTH at all.
    #[error("credentials were given but the server offers no AUTH{0}")]
    NotOffered(&'static str),
    /// None of the wanted mechanisms is offered.
    #[error("no usable SASL mechanism: the server offers {}, postie would use {}", .offered.join(" "), .wanted.join(" "))]
    NoCommonMechanism {
        /// What the server offers.
        offered: Vec<String>,
        /// What postie would use.
        wanted: Vec<String>,
    },
    /// Only mechanisms that expose the secret are left, and the connection
    /// is in clear to another host.
    #[error("refusing to send the password in clear: the connection is not encrypted and the server is not this machine; use TLS (--tls required or implicit), or --allow-plaintext-auth to accept the risk")]
    PlaintextRefused,
    /// No mechanism could even start.
    #[error("no SASL mechanism could be used with these credentials")]
    NoMechanismWorked,
    /// The mechanism failed (e.g. the server did not prove it knows the
    /// password).
    #[error("{0}")]
    Mechanism(crate::sasl::SaslError),
}

impl From<ConnectError> for Cause {
    /// As the drivers report a connector's failure.
    fn from(e: ConnectError) -> Self {
        match e {
            ConnectError::Resolve(e) => Cause::Resolve(e),
            ConnectError::Connect(e) => Cause::Connect(e),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::net::ResolveError;

    #[test]
    fn connect_errors_become_the_causes_they_always_were() {
        let resolve: Cause = ConnectError::from(ResolveError::NoAddresses).into();
        assert!(matches!(resolve, Cause::Resolve(ref e) if e.kind() == io::ErrorKind::NotFound));
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        let connect: Cause = ConnectError::from(refused).into();
        assert!(
            matches!(connect, Cause::Connect(ref e) if e.kind() == io::ErrorKind::ConnectionRefused)
        );
    }
}
