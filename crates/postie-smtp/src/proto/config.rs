//! What the core is given for one send: the message's facts and envelope,
//! and how to send it ([`TransportSettings`], carried whole).

use std::sync::Arc;

use crate::sasl::Credentials;
use crate::server::ServerAddr;
use crate::settings::Timeouts;
use crate::settings::TransportSettings;
use crate::tls::{self, TlsMode, TlsPolicy};

/// What the core needs for one send. Built with [`Config::new`]; the
/// drivers fill it from [`crate::SendOptions`].
#[derive(Clone)]
#[non_exhaustive]
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
    /// The size is not known yet and can be had: the core asks for it
    /// ([`super::Step::Measure`]) only where it needs it (the server offers
    /// SIZE, or CHUNKING to be used), so a message is not read an extra
    /// time for a server that would not use the number.
    pub measure_on_demand: bool,
    /// Whether the message holds 8-bit data: declared with
    /// `BODY=8BITMIME` where the server offers it (RFC 6152).
    pub eight_bit: bool,
    /// The message holds binary data (a NUL, or a line over 998 octets):
    /// it goes as `BODY=BINARYMIME` over BDAT where the server offers both
    /// and nothing was repaired on the way, else as its 7-bit rewrite.
    pub binary: bool,
    /// A bare CR or LF in the message was turned into CRLF (so its bytes
    /// are not sent exactly as they are, which BINARYMIME needs).
    pub repaired: bool,
    /// The message's header holds UTF-8 as it is: the transaction needs
    /// SMTPUTF8 (RFC 6531 §3.4), or a transform that rewrites the fields.
    pub utf8_header: bool,
    /// The driver makes the message's form for each attempt: before MAIL,
    /// once the server's offers are known, the core asks for it
    /// ([`super::Step::Transform`]) and sends what it is given (the paths,
    /// content and size of [`super::Wire`]). Without it, the message goes
    /// as the fields above describe it, 8-bit data as it is.
    pub transform: bool,
    /// How to send, as the caller gave it: the core reads the extension
    /// settings (at-least-one, PIPELINING, CHUNKING, REQUIRETLS, LMTP,
    /// `-queue`) from here. What needs resolving first (time limits, the
    /// TLS mode, DSN per recipient, credentials) is in the fields below.
    pub settings: Arc<TransportSettings>,
    /// Time limits, defaults filled in.
    pub timeouts: Timeouts,
    /// How TLS is used (REQUIRETLS makes STARTTLS required).
    pub tls: TlsMode,
    /// What to do when STARTTLS is refused or its handshake fails (the
    /// seed's `-tlspolicy`); see [`crate::tls::default_policy`].
    pub policy: TlsPolicy,
    /// Authentication, when credentials were given.
    pub auth: Option<AuthConfig>,
    /// Keep a transcript of the dialogue ([`super::Delivery::poll_trace`]).
    pub trace: bool,
    /// Keep the connection for more messages: after the message (sent or
    /// refused, the transaction reset), [`super::Step::Done`] comes with
    /// the connection still open and [`super::Delivery::is_idle`] true,
    /// instead of QUIT; [`super::Delivery::next_message`] then starts the
    /// next one on it.
    pub keep_open: bool,
    /// Delivery status notifications to ask for (RFC 3461), per recipient,
    /// where the server offers DSN.
    pub dsn: Option<crate::dsn::Dsn>,
}

impl Config {
    /// A send of a 7-bit message of unknown size from `reverse_path` to
    /// `recipients` through `servers`, as `settings` say; the fields are
    /// public for the rest.
    pub fn new(
        servers: Vec<ServerAddr>,
        client: impl Into<String>,
        reverse_path: impl Into<String>,
        recipients: Vec<String>,
        settings: Arc<TransportSettings>,
    ) -> Self {
        Self {
            servers,
            client: client.into(),
            reverse_path: reverse_path.into(),
            recipients,
            size: None,
            measure_on_demand: false,
            eight_bit: false,
            binary: false,
            repaired: false,
            utf8_header: false,
            transform: false,
            timeouts: settings.timeouts.resolved(),
            tls: settings.tls_mode(),
            policy: Arc::new(tls::default_policy),
            settings,
            auth: None,
            trace: false,
            keep_open: false,
            dsn: None,
        }
    }
}

/// How to authenticate.
#[derive(Clone, Debug)]
pub struct AuthConfig {
    /// Who, and the password or token.
    pub credentials: Credentials,
    /// Whether the secret is an OAuth 2.0 token (XOAUTH2, OAUTHBEARER)
    /// rather than a password.
    pub token: bool,
    /// Only these mechanisms, in this order; `None`: the strongest first
    /// ([`crate::sasl::PASSWORD_ORDER`] or [`crate::sasl::TOKEN_ORDER`]).
    pub mechanisms: Option<Vec<String>>,
    /// Allow mechanisms that expose the secret (PLAIN, LOGIN, the OAuth
    /// ones) over an unencrypted connection to a host that is not this
    /// machine.
    pub allow_plaintext: bool,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("servers", &self.servers)
            .field("client", &self.client)
            .field("reverse_path", &self.reverse_path)
            .field("recipients", &self.recipients)
            .field("size", &self.size)
            .field("transform", &self.transform)
            .field("settings", &self.settings)
            .field("timeouts", &self.timeouts)
            .field("tls", &self.tls)
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}
