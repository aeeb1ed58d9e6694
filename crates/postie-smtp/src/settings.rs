//! How to send, as one value: the servers, TLS, authentication (where the
//! secret comes from, never the secret), the time limits and the ESMTP
//! extensions. [`crate::SendOptions`] holds one, the core's
//! [`crate::proto::Config`] carries it whole, and what keeps a message to
//! send later (postie's spool, an application's outbox) stores it whole,
//! so a setting added here reaches every layer without being copied field
//! by field.
//!
//! With the `serde` feature it serializes to a documented form (JSON shown;
//! a field left out takes its default, an unknown field is refused so that
//! nothing is silently dropped by an older reader):
//!
//! ```json
//! {
//!   "servers": ["mx1.example.org", "mx2.example.org"], "ports": [587],
//!   "client": "laptop.example.org",
//!   "tls": "required", "ca_files": ["/etc/ssl/my-ca.pem"],
//!   "tls_fingerprints": ["sha256:9F:86:D0:81:88:4C:7D:65:9A:2F:EA:A0:C5:5A:D0:15:A3:BF:4F:1B:2B:0B:82:2C:D1:5D:6C:15:B0:F0:0A:08"],
//!   "auth": {"username": "alice", "secret": {"env": "SMTP_PASSWORD"},
//!            "mechanisms": ["SCRAM-SHA-256"]},
//!   "timeouts": {"command": 30.0, "end_of_data": 600.0, "deadline": 300.0},
//!   "pipelining": true, "chunking": true, "require_tls": false, "lmtp": false,
//!   "dsn": {"notify": "SUCCESS,FAILURE", "ret": "hdrs", "envid": "order-4711"},
//!   "proxy": {"host": "127.0.0.1", "port": 1080, "username": "bob",
//!             "secret": {"env": "PROXY_PASSWORD"}}
//! }
//! ```
//!
//! Settings that are unset (`None`, or an empty list) take the library's
//! default when a message is sent; a layer above (postie's accounts file)
//! may fill them in first.

use std::path::PathBuf;
use std::time::Duration;

use crate::dsn::{Notify, Ret};
use crate::tls::{Fingerprint, TlsDecision, TlsMode};

/// How to send: everything but the message, its envelope, the secret and
/// the callbacks. See the [module documentation](self) for its stored form.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
#[non_exhaustive]
pub struct TransportSettings {
    /// Servers in the order to try them; empty: `localhost`.
    pub servers: Vec<String>,
    /// Ports paired one-to-one with the servers; a server without one gets
    /// 25 (465 with implicit TLS).
    pub ports: Vec<u16>,
    /// The EHLO/HELO name; `None`: `localhost` when the only server is
    /// `localhost`, else this machine's host name.
    pub client: Option<String>,
    /// Send when at least one recipient is accepted (else all or nothing).
    pub at_least_one: bool,
    /// Time limits, each unset one at its default.
    pub timeouts: TimeoutSettings,
    /// How TLS is used; `None`: STARTTLS when offered.
    pub tls: Option<TlsMode>,
    /// A fixed answer for when STARTTLS is refused or its handshake fails;
    /// `None`: [`crate::tls::default_policy`]. A policy callback given to
    /// [`crate::SendOptions::tls_policy`] comes first.
    pub tls_policy: Option<TlsDecision>,
    /// Extra CA certificates (PEM files) trusted besides the system's.
    pub ca_files: Vec<PathBuf>,
    /// Accept any certificate (dangerous).
    pub accept_invalid_certificates: bool,
    /// Pinned certificates (SHA-256 of the server's own certificate, stored
    /// as `"sha256:AB:CD:..."`): with no `ca_files` the fingerprint alone
    /// decides, with them both must pass; see [`crate::tls::pin`].
    pub tls_fingerprints: Vec<Fingerprint>,
    /// A client certificate chain and its key (PEM files).
    pub client_certificate: Option<(PathBuf, PathBuf)>,
    /// Authentication: who, and where the secret comes from.
    pub auth: AuthSettings,
    /// PIPELINING (RFC 2920) where offered; on by default.
    pub pipelining: bool,
    /// CHUNKING (RFC 3030) where offered; on by default.
    pub chunking: bool,
    /// REQUIRETLS (RFC 8689).
    pub require_tls: bool,
    /// Speak LMTP (RFC 2033) instead of SMTP.
    pub lmtp: bool,
    /// Ask the server to queue the message (`XQUE`/`QUED`).
    pub queue: bool,
    /// Delivery status notifications (RFC 3461).
    pub dsn: DsnSettings,
    /// A SOCKS5 proxy every connection goes through; `None`: connect
    /// directly.
    pub proxy: Option<ProxySettings>,
    /// The local address every connection is made from (msmtp's
    /// `source_ip`), for a host with several; `None`: the system chooses.
    /// With a proxy, the connection to the proxy.
    #[cfg_attr(feature = "serde", serde(default))]
    pub source_ip: Option<std::net::IpAddr>,
    /// DKIM signatures to add, each with its key's file (never the key:
    /// it is read at each send, so a kept message is signed when it goes).
    pub dkim: Vec<DkimSettings>,
}

/// `simple` or `relaxed` (RFC 6376 §3.4).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum Canonicalization {
    /// The bytes as they are (trailing empty lines of the body aside).
    Simple,
    /// White space folded, header names in lower case: survives the
    /// re-folding and re-spacing relays do. The default.
    #[default]
    Relaxed,
}

impl Canonicalization {
    /// `relaxed/simple` and the like, as the `c=` tag writes it (header,
    /// then body); one word is both (RFC 6376's `c=simple`).
    pub fn parse_pair(text: &str) -> Result<(Self, Self), String> {
        let one = |word: &str| {
            match word.trim() {
            "relaxed" => Ok(Self::Relaxed),
            "simple" => Ok(Self::Simple),
            other => Err(format!(
                "DKIM canonicalization {other:?}: relaxed or simple (HEADER/BODY, e.g. relaxed/simple)"
            )),
        }
        };
        match text.split_once('/') {
            Some((header, body)) => Ok((one(header)?, one(body)?)),
            None => {
                let both = one(text)?;
                Ok((both, both))
            }
        }
    }

    /// Its name in the `c=` tag.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Simple => "simple",
            Self::Relaxed => "relaxed",
        }
    }
}

/// One DKIM signature to add at each send: where its key is, and how to
/// sign. See [`crate::dkim`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(deny_unknown_fields)
)]
pub struct DkimSettings {
    /// The private key (PEM or DER; RSA or Ed25519). It must be readable by
    /// its owner alone, as a password file.
    pub key_file: PathBuf,
    /// `s=`.
    pub selector: String,
    /// `d=`; `None`: the domain of each message's From address.
    #[cfg_attr(feature = "serde", serde(default))]
    pub domain: Option<String>,
    /// `c=` for the header.
    #[cfg_attr(feature = "serde", serde(default))]
    pub header_canonicalization: Canonicalization,
    /// `c=` for the body.
    #[cfg_attr(feature = "serde", serde(default))]
    pub body_canonicalization: Canonicalization,
    /// The fields to sign; `None`: the default list.
    #[cfg_attr(feature = "serde", serde(default))]
    pub headers: Option<Vec<String>>,
    /// Seconds after signing when the signature expires (`x=`).
    #[cfg_attr(feature = "serde", serde(default))]
    pub expire_after_secs: Option<u64>,
}

impl DkimSettings {
    /// Signs with the key in `key_file` at `selector`, as the From's domain,
    /// relaxed/relaxed.
    pub fn new(key_file: impl Into<PathBuf>, selector: impl Into<String>) -> Self {
        Self {
            key_file: key_file.into(),
            selector: selector.into(),
            domain: None,
            header_canonicalization: Canonicalization::Relaxed,
            body_canonicalization: Canonicalization::Relaxed,
            headers: None,
            expire_after_secs: None,
        }
    }
}

impl Default for TransportSettings {
    fn default() -> Self {
        Self {
            servers: Vec::new(),
            ports: Vec::new(),
            client: None,
            at_least_one: false,
            timeouts: TimeoutSettings::default(),
            tls: None,
            tls_policy: None,
            ca_files: Vec::new(),
            accept_invalid_certificates: false,
            tls_fingerprints: Vec::new(),
            client_certificate: None,
            auth: AuthSettings::default(),
            pipelining: true,
            chunking: true,
            require_tls: false,
            lmtp: false,
            queue: false,
            dsn: DsnSettings::default(),
            proxy: None,
            source_ip: None,
            dkim: Vec::new(),
        }
    }
}

impl TransportSettings {
    /// The defaults: `localhost`, port 25, STARTTLS when offered.
    pub fn new() -> Self {
        Self::default()
    }

    /// How TLS is used, the default filled in.
    pub fn tls_mode(&self) -> TlsMode {
        self.tls.unwrap_or_default()
    }
}

/// Time limits. Each stage (connecting, each reply) has its own; the
/// deadline, when set, bounds the whole send, every server included.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// Opening the TCP connection, for each address of a host. Default 60 s.
    pub connect: Duration,
    /// Waiting for each reply, and for each write to make progress.
    /// Default 60 s.
    pub command: Duration,
    /// Waiting for the reply to the final `.`, while the server may be
    /// scanning the message. Default 600 s (RFC 5321 §4.5.3.2.6).
    pub end_of_data: Duration,
    /// The whole send. Default: none.
    pub deadline: Option<Duration>,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(60),
            command: Duration::from_secs(60),
            end_of_data: Duration::from_secs(600),
            deadline: None,
        }
    }
}

/// Time limits; an unset one takes its default (see [`Timeouts`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
pub struct TimeoutSettings {
    /// Opening the connection, for each address of a host.
    #[cfg_attr(feature = "serde", serde(with = "seconds"))]
    pub connect: Option<Duration>,
    /// Each reply, and each write making progress.
    #[cfg_attr(feature = "serde", serde(with = "seconds"))]
    pub command: Option<Duration>,
    /// The reply to the end of data.
    #[cfg_attr(feature = "serde", serde(with = "seconds"))]
    pub end_of_data: Option<Duration>,
    /// The whole send, every server included.
    #[cfg_attr(feature = "serde", serde(with = "seconds"))]
    pub deadline: Option<Duration>,
}

impl TimeoutSettings {
    /// The limits to use: each unset one at its default.
    pub fn resolved(&self) -> Timeouts {
        let default = Timeouts::default();
        Timeouts {
            connect: self.connect.unwrap_or(default.connect),
            command: self.command.unwrap_or(default.command),
            end_of_data: self.end_of_data.unwrap_or(default.end_of_data),
            deadline: self.deadline.or(default.deadline),
        }
    }
}

impl From<Timeouts> for TimeoutSettings {
    fn from(t: Timeouts) -> Self {
        Self {
            connect: Some(t.connect),
            command: Some(t.command),
            end_of_data: Some(t.end_of_data),
            deadline: t.deadline,
        }
    }
}

/// Authentication settings; nothing is sent without a username.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
pub struct AuthSettings {
    /// Authenticate as this user.
    pub username: Option<String>,
    /// Where the password or token comes from.
    pub secret: Option<SecretSource>,
    /// The secret is an OAuth 2.0 token (OAUTHBEARER, XOAUTH2).
    pub token: bool,
    /// Only these SASL mechanisms, in this order; empty: the strongest
    /// offered first.
    pub mechanisms: Vec<String>,
    /// Allow PLAIN, LOGIN and the OAuth mechanisms over an unencrypted
    /// connection to a host that is not this machine.
    pub allow_plaintext: bool,
}

/// A SOCKS5 proxy (RFC 1928) to connect through: the proxy opens the
/// connection to each server, and resolves the servers' names itself, so
/// no name is looked up on this machine. A proxy user authenticates with
/// a username and password (RFC 1929); the settings say where the password
/// comes from, never the password.
///
/// [`ProxySettings::from_url`] reads `socks5://[user@]host[:port]`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(deny_unknown_fields)
)]
#[non_exhaustive]
pub struct ProxySettings {
    /// The proxy's host name or address (an IPv6 address without
    /// brackets).
    pub host: String,
    /// The proxy's port (1080 when a URL leaves it out).
    pub port: u16,
    /// The proxy user, when the proxy asks for one.
    #[cfg_attr(feature = "serde", serde(default))]
    pub username: Option<String>,
    /// Where the proxy user's password comes from.
    #[cfg_attr(feature = "serde", serde(default))]
    pub secret: Option<SecretSource>,
}

impl ProxySettings {
    /// The proxy at `host` and `port`, without a user.
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        Self {
            host: host.into(),
            port,
            username: None,
            secret: None,
        }
    }

    /// The same proxy, authenticating as `username` with the password
    /// from `secret`.
    #[must_use]
    pub fn user(mut self, username: impl Into<String>, secret: Option<SecretSource>) -> Self {
        self.username = Some(username.into());
        self.secret = secret;
        self
    }

    /// The proxy as `HOST:PORT` (`[ADDR]:PORT` for IPv6), as the
    /// transcript and errors name it.
    pub fn addr(&self) -> crate::ServerAddr {
        crate::ServerAddr {
            host: self.host.clone(),
            port: self.port,
        }
    }
}

/// Where a secret comes from. The settings hold this, never the secret:
/// whoever sends reads it at that moment (postie's command and spool do,
/// with their checks; an application reads it and gives the secret with
/// [`crate::SendOptions::credentials`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "snake_case")
)]
#[non_exhaustive]
pub enum SecretSource {
    /// An environment variable.
    Env(String),
    /// The first line of a file only its owner can read.
    File(PathBuf),
    /// The first line a shell command prints.
    Command(String),
    /// The secret of an account of postie's accounts file, by name.
    Account(String),
    /// Given to [`crate::SendOptions::credentials`] in memory: not kept
    /// anywhere, so settings holding this cannot be used to send later.
    Given,
}

/// Delivery status notifications to ask for (RFC 3461), where the server
/// offers DSN.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
pub struct DsnSettings {
    /// When to report on each recipient.
    pub notify: Option<Notify>,
    /// `NOTIFY` for single recipients (each one of the message's), instead
    /// of `notify`.
    pub notify_for: Vec<(String, Notify)>,
    /// How much of the message a report returns.
    pub ret: Option<Ret>,
    /// The envelope identifier reports quote.
    pub envid: Option<String>,
    /// Send each recipient's address as `ORCPT`; on by default.
    pub orcpt: bool,
}

impl Default for DsnSettings {
    fn default() -> Self {
        Self {
            notify: None,
            notify_for: Vec::new(),
            ret: None,
            envid: None,
            orcpt: true,
        }
    }
}

impl DsnSettings {
    /// Whether any DSN parameter is asked for.
    pub fn is_asked(&self) -> bool {
        self.notify.is_some()
            || !self.notify_for.is_empty()
            || self.ret.is_some()
            || self.envid.is_some()
    }
}

/// Durations as seconds (a number, fractions allowed).
#[cfg(feature = "serde")]
mod seconds {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub(super) fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&d.as_secs_f64()),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        Option::<f64>::deserialize(d)?
            .map(|secs| {
                Duration::try_from_secs_f64(secs).map_err(|_| {
                    serde::de::Error::custom(format!("not a number of seconds: {secs}"))
                })
            })
            .transpose()
    }
}
