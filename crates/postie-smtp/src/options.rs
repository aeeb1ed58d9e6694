//! The options of a send: tcllib `::smtp::sendmessage`'s, with the same
//! meaning (see `docs/tcllib-differences.md` for where postie differs).

use std::time::Duration;

use std::sync::Arc;

use crate::sasl::Credentials;
use crate::server::ServerAddr;
pub use crate::server::{DEFAULT_PORT, IMPLICIT_TLS_PORT};
pub use crate::settings::Timeouts;
use crate::settings::{SecretSource, TransportSettings};
use crate::tls::{TlsDecision, TlsMode, TlsPolicy, TlsProblem, TlsSettings};

/// How to send a message: servers, envelope, headers and limits.
///
/// ```
/// use postie_smtp::SendOptions;
/// let options = SendOptions::new()
///     .servers(["mx1.example.org", "mx2.example.org"])
///     .ports([2525])
///     .recipients("someone@example.org, Bob <bob@example.org>")
///     .header("Subject", "This is the subject.")
///     .at_least_one(true);
/// let servers = options.server_list();
/// assert_eq!(servers[0].to_string(), "mx1.example.org:2525");
/// assert_eq!(servers[1].to_string(), "mx2.example.org:25");
/// ```
#[derive(Clone)]
pub struct SendOptions {
    /// How to send: everything that can be stored to send later.
    pub(crate) transport: Arc<TransportSettings>,
    pub(crate) originator: Option<String>,
    pub(crate) recipients: Option<String>,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) tls_policy: Option<TlsPolicy>,
    /// A ready rustls configuration, overriding the TLS settings.
    pub(crate) client_config: Option<Arc<rustls::ClientConfig>>,
    /// The secret itself, which the settings never hold.
    pub(crate) credentials: Option<Credentials>,
    /// The proxy user's password, which the settings never hold either.
    pub(crate) proxy_password: Option<crate::sasl::Secret>,
    pub(crate) on_trace: Option<TraceFn>,
    pub(crate) on_progress: Option<ProgressFn>,
    /// How connections are opened, per driver.
    pub(crate) connectors: crate::connector::Connectors,
    /// The caller's message transforms, run among postie's own.
    pub(crate) transforms: Vec<Arc<dyn crate::transform::MessageTransform>>,
}

/// Receives each transcript line as it happens.
pub type TraceFn = Arc<dyn Fn(&crate::trace::Trace) + Send + Sync>;

/// Receives the progress of the message's upload.
pub type ProgressFn = Arc<dyn Fn(Progress) + Send + Sync>;

/// How much of the message has gone to the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Progress {
    /// Octets of the message written so far (after dot-stuffing).
    pub sent: u64,
    /// The message's size as RFC 1870 counts it, when it was counted (the
    /// count does not include dot-stuffing, so `sent` may end a little
    /// above it).
    pub total: Option<u64>,
}

impl std::fmt::Debug for SendOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendOptions")
            .field("transport", &self.transport)
            .field("originator", &self.originator)
            .field("recipients", &self.recipients)
            .field("headers", &self.headers)
            .field("tls_policy", &self.tls_policy.as_ref().map(|_| "custom"))
            .field(
                "client_config",
                &self.client_config.as_ref().map(|_| "custom"),
            )
            .field("credentials", &self.credentials)
            .field("proxy_password", &self.proxy_password)
            .field("on_trace", &self.on_trace.as_ref().map(|_| "callback"))
            .field(
                "on_progress",
                &self.on_progress.as_ref().map(|_| "callback"),
            )
            .field("connectors", &self.connectors)
            .field(
                "transforms",
                &self.transforms.iter().map(|t| t.name()).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Default for SendOptions {
    fn default() -> Self {
        Self::from(TransportSettings::default())
    }
}

impl From<TransportSettings> for SendOptions {
    /// Options that send as `settings` say, with no envelope, headers or
    /// credentials yet.
    fn from(settings: TransportSettings) -> Self {
        Self {
            transport: Arc::new(settings),
            originator: None,
            recipients: None,
            headers: Vec::new(),
            tls_policy: None,
            client_config: None,
            credentials: None,
            proxy_password: None,
            on_trace: None,
            on_progress: None,
            connectors: crate::connector::Connectors::default(),
            transforms: Vec::new(),
        }
    }
}

impl SendOptions {
    /// The defaults: `localhost`, port 25, all-or-nothing recipients.
    pub fn new() -> Self {
        Self::default()
    }

    /// `-servers`: the servers to try, in order, replacing the default
    /// `localhost`. Empty names are skipped.
    pub fn servers<I, S>(mut self, servers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.settings().servers = servers.into_iter().map(Into::into).collect();
        self
    }

    /// `-ports`: paired one-to-one with the servers; a server without a
    /// port gets 25.
    pub fn ports(mut self, ports: impl IntoIterator<Item = u16>) -> Self {
        self.settings().ports = ports.into_iter().collect();
        self
    }

    /// `-client`: the name sent in EHLO/HELO. Default: `localhost` when the
    /// only server is `localhost`, else this machine's host name.
    pub fn client(mut self, name: impl Into<String>) -> Self {
        self.settings().client = Some(name.into());
        self
    }

    /// `-originator`: the envelope sender. An empty string is the null
    /// sender `<>`, and then no From is added. Default: the From header
    /// (Resent-From in Resent mode), else `$USER@` the host name.
    pub fn originator(mut self, originator: impl Into<String>) -> Self {
        self.originator = Some(originator.into());
        self
    }

    /// `-recipients`: comma-separated RFC 5322 addresses, exactly the
    /// envelope recipients. Default: the To, Cc and Bcc given as header
    /// options, else the message's own.
    pub fn recipients(mut self, recipients: impl Into<String>) -> Self {
        self.recipients = Some(recipients.into());
        self
    }

    /// `-header`: a field added to the message and consulted first for the
    /// originator and recipients. For a field that may occur once (From,
    /// Sender, To, Cc, Bcc, Subject, Date, Message-ID, Reply-To,
    /// In-Reply-To, References) it replaces the message's own. A `Resent-`
    /// field switches to Resent mode.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// `-atleastone`: send when at least one recipient is accepted. Off:
    /// all or nothing.
    pub fn at_least_one(mut self, yes: bool) -> Self {
        self.settings().at_least_one = yes;
        self
    }

    /// All time limits at once.
    pub fn timeouts(mut self, timeouts: Timeouts) -> Self {
        self.settings().timeouts = timeouts.into();
        self
    }

    /// The limit for connecting and for each reply but the last.
    pub fn timeout(mut self, limit: Duration) -> Self {
        let timeouts = &mut self.settings().timeouts;
        timeouts.connect = Some(limit);
        timeouts.command = Some(limit);
        self
    }

    /// The limit for the reply to the end of data.
    pub fn end_of_data_timeout(mut self, limit: Duration) -> Self {
        self.settings().timeouts.end_of_data = Some(limit);
        self
    }

    /// A limit for the whole send.
    pub fn deadline(mut self, limit: Duration) -> Self {
        self.settings().timeouts.deadline = Some(limit);
        self
    }

    /// `-usetls`, extended: STARTTLS when offered (the default), never,
    /// required, or implicit TLS from the first byte.
    pub fn tls_mode(mut self, mode: TlsMode) -> Self {
        self.settings().tls = Some(mode);
        self
    }

    /// `-tlspolicy`: called when STARTTLS is refused (with the reply) or its
    /// handshake or certificate check fails (with the error); answers
    /// [`TlsDecision::Secure`] (try the next server) or
    /// [`TlsDecision::Insecure`] (go on in clear). Not consulted with
    /// [`TlsMode::Required`] or [`TlsMode::Implicit`].
    ///
    /// ```
    /// use postie_smtp::{SendOptions, TlsDecision, TlsProblem};
    /// // Never send in clear: a refused STARTTLS moves to the next server.
    /// let options = SendOptions::new().tls_policy(|_: &TlsProblem<'_>| TlsDecision::Secure);
    /// ```
    pub fn tls_policy(
        mut self,
        policy: impl Fn(&TlsProblem<'_>) -> TlsDecision + Send + Sync + 'static,
    ) -> Self {
        self.tls_policy = Some(Arc::new(policy));
        self
    }

    /// Certificates and client identity.
    pub fn tls_settings(mut self, settings: TlsSettings) -> Self {
        let transport = self.settings();
        transport.ca_files = settings.ca_files;
        transport.accept_invalid_certificates = settings.accept_invalid_certificates;
        transport.tls_fingerprints = settings.fingerprints;
        transport.client_certificate = settings.client_certificate;
        self.client_config = settings.client_config;
        self
    }

    /// Pins the server's certificate by its SHA-256 fingerprint (more than
    /// one call: any of them): with no CA file given, the fingerprint alone
    /// decides, as msmtp's `tls_fingerprint` does (for a self-signed
    /// server); with CA files (see [`Self::tls_settings`]), the CA check
    /// must pass too. See [`crate::tls::pin`]. A certificate that is not
    /// the pinned one fails with [`crate::tls::TlsErrorKind::FingerprintMismatch`],
    /// never as a temporary failure.
    ///
    /// ```
    /// use postie_smtp::tls::Fingerprint;
    /// use postie_smtp::SendOptions;
    /// let pin: Fingerprint = "sha256:9F:86:D0:81:88:4C:7D:65:9A:2F:EA:A0:C5:5A:D0:15:\
    ///     A3:BF:4F:1B:2B:0B:82:2C:D1:5D:6C:15:B0:F0:0A:08".replace(' ', "").parse()?;
    /// let options = SendOptions::new().servers(["mx.example.org"]).tls_fingerprint(pin);
    /// assert_eq!(options.transport_settings().tls_fingerprints, [pin]);
    /// # Ok::<(), postie_smtp::tls::FingerprintError>(())
    /// ```
    pub fn tls_fingerprint(mut self, fingerprint: crate::tls::Fingerprint) -> Self {
        self.settings().tls_fingerprints.push(fingerprint);
        self
    }

    /// `-username`/`-password`: authenticate with a password. The
    /// mechanisms are tried strongest first (SCRAM-SHA-256, SCRAM-SHA-1,
    /// DIGEST-MD5, CRAM-MD5, LOGIN, PLAIN) among those offered; a refusal
    /// of the credentials (535) ends the send with an error, never a send
    /// without authentication.
    ///
    /// ```
    /// use postie_smtp::{Credentials, Secret, SendOptions};
    /// let password = std::env::var("SMTP_PASSWORD").unwrap_or_default();
    /// let options = SendOptions::new().credentials(Credentials {
    ///     username: "alice".into(),
    ///     secret: Secret::new(password),
    ///     authzid: None,
    /// });
    /// ```
    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.set_credentials(credentials, false);
        self
    }

    /// Authenticate with an OAuth 2.0 bearer token (OAUTHBEARER, then
    /// XOAUTH2).
    pub fn oauth_token(mut self, credentials: Credentials) -> Self {
        self.set_credentials(credentials, true);
        self
    }

    /// The settings name the user; where the secret came from stays as the
    /// settings say when they say it (it was read from there), else it was
    /// given in memory.
    fn set_credentials(&mut self, credentials: Credentials, token: bool) {
        let auth = &mut self.settings().auth;
        auth.username = Some(credentials.username.clone());
        auth.token = token;
        if auth.secret.is_none() {
            auth.secret = Some(SecretSource::Given);
        }
        self.credentials = Some(credentials);
    }

    /// Only these SASL mechanisms, in this order.
    pub fn auth_mechanisms<I, S>(mut self, mechanisms: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.settings().auth.mechanisms = mechanisms.into_iter().map(Into::into).collect();
        self
    }

    /// Allow PLAIN, LOGIN and the OAuth mechanisms over an unencrypted
    /// connection to a host that is not this machine.
    pub fn allow_plaintext_auth(mut self, yes: bool) -> Self {
        self.settings().auth.allow_plaintext = yes;
        self
    }

    /// PIPELINING (RFC 2920), on by default: MAIL and every RCPT go in one
    /// write when the server offers it, DATA too with
    /// [`SendOptions::at_least_one`] or a single recipient, and every reply
    /// is matched to its command. Off: one command, then its reply.
    pub fn pipelining(mut self, yes: bool) -> Self {
        self.settings().pipelining = yes;
        self
    }

    /// DSN (RFC 3461): when the server should report on each recipient
    /// (`NOTIFY`); see [`crate::dsn`]. Sent only where DSN is offered.
    pub fn dsn_notify(mut self, notify: crate::dsn::Notify) -> Self {
        self.settings().dsn.notify = Some(notify);
        self
    }

    /// DSN: `NOTIFY` for one recipient, instead of [`Self::dsn_notify`].
    /// The address must be one of the message's recipients.
    pub fn dsn_notify_for(mut self, address: &str, notify: crate::dsn::Notify) -> Self {
        self.settings()
            .dsn
            .notify_for
            .push((address.to_owned(), notify));
        self
    }

    /// DSN: how much of the message a report returns (`RET`).
    pub fn dsn_ret(mut self, ret: crate::dsn::Ret) -> Self {
        self.settings().dsn.ret = Some(ret);
        self
    }

    /// DSN: the envelope identifier reports quote (`ENVID`): 1 to 100
    /// printable ASCII characters, checked before sending.
    pub fn envid(mut self, id: &str) -> Self {
        self.settings().dsn.envid = Some(id.to_owned());
        self
    }

    /// DSN: send each recipient's address as `ORCPT` with the other DSN
    /// parameters (on by default).
    pub fn dsn_orcpt(mut self, yes: bool) -> Self {
        self.settings().dsn.orcpt = yes;
        self
    }

    /// CHUNKING (RFC 3030), on by default: where the server offers it, the
    /// message goes as one `BDAT <size> LAST` (no dot-stuffing, no wait for
    /// DATA's 354); a binary message can then go as `BODY=BINARYMIME` where
    /// that is offered too. Off: always DATA.
    pub fn chunking(mut self, yes: bool) -> Self {
        self.settings().chunking = yes;
        self
    }

    /// REQUIRETLS (RFC 8689): the message may only travel over TLS with
    /// verified certificates, here and on every later hop. STARTTLS becomes
    /// required; a server that does not offer REQUIRETLS after it is
    /// skipped (the next one is tried), and the message is not sent there.
    /// Refused with `TlsMode::None` or with certificate checks off.
    pub fn require_tls(mut self, yes: bool) -> Self {
        self.settings().require_tls = yes;
        self
    }

    /// Speak LMTP (RFC 2033) instead of SMTP: LHLO, and one reply per
    /// recipient after the data (a recipient whose delivery failed is
    /// reported in [`crate::Sent::refused`]; when none was delivered the
    /// send fails). A server given as a path starting with `/` is a Unix
    /// socket, as LMTP servers often are.
    pub fn lmtp(mut self, yes: bool) -> Self {
        self.settings().lmtp = yes;
        self
    }

    /// Called as the message goes to the server, after each write of the
    /// body (every 256 KiB or so, and once at the end): for a progress bar.
    pub fn on_progress(mut self, callback: impl Fn(Progress) + Send + Sync + 'static) -> Self {
        self.on_progress = Some(Arc::new(callback));
        self
    }

    /// `-queue`: ask the server to queue the message (`QUED` where the
    /// server offers `XQUE`).
    pub fn queue(mut self, yes: bool) -> Self {
        self.settings().queue = yes;
        self
    }

    /// Receives the dialogue as it happens, AUTH payloads redacted (the
    /// seed's `-debug`).
    pub fn on_trace(
        mut self,
        callback: impl Fn(&crate::trace::Trace) + Send + Sync + 'static,
    ) -> Self {
        self.on_trace = Some(Arc::new(callback));
        self
    }

    /// Makes every connection from this local address (msmtp's
    /// `source_ip`), for a host with several; with a proxy, the connection
    /// to the proxy. Only the server's addresses of the same family (IPv4
    /// or IPv6) are tried. Honoured by postie's own connectors; with an
    /// application's connectors the send fails before connecting.
    pub fn source_ip(mut self, source: std::net::IpAddr) -> Self {
        self.settings().source_ip = Some(source);
        self
    }

    /// Connects to every server through this SOCKS5 proxy (RFC 1928; see
    /// [`crate::connector::socks5`]): the proxy resolves the servers'
    /// names, and TLS runs through it with each server's certificate
    /// checked against the server's name. A proxy user needs
    /// [`SendOptions::proxy_password`].
    ///
    /// ```
    /// use postie_smtp::{ProxySettings, SendOptions};
    /// let options = SendOptions::new()
    ///     .servers(["smtp.example.org"])
    ///     .proxy(ProxySettings::from_url("socks5://127.0.0.1:1080")?);
    /// # Ok::<(), postie_smtp::connector::socks5::ProxyUrlError>(())
    /// ```
    pub fn proxy(mut self, proxy: crate::settings::ProxySettings) -> Self {
        let proxy = match (proxy.secret.is_none(), &self.proxy_password) {
            (true, Some(_)) => crate::settings::ProxySettings {
                secret: Some(SecretSource::Given),
                ..proxy
            },
            _ => proxy,
        };
        self.settings().proxy = Some(proxy);
        self
    }

    /// The proxy user's password (RFC 1929), given when the proxy asks for
    /// one. The settings record where it came from as their proxy says,
    /// else as given in memory.
    pub fn proxy_password(mut self, password: crate::sasl::Secret) -> Self {
        if let Some(proxy) = &mut self.settings().proxy {
            proxy.secret.get_or_insert(SecretSource::Given);
        }
        self.proxy_password = Some(password);
        self
    }

    /// The SOCKS5 proxy the settings name, with its password.
    pub(crate) fn socks5_proxy(
        &self,
    ) -> Result<Option<crate::connector::socks5::Socks5Proxy>, crate::connector::socks5::ProxyError>
    {
        self.transport
            .proxy
            .as_ref()
            .map(|proxy| {
                crate::connector::socks5::Socks5Proxy::from_settings(
                    proxy,
                    self.proxy_password.as_ref(),
                )
            })
            .transpose()
    }

    /// The connector the blocking driver opens connections with.
    pub(crate) fn blocking_connector(
        &self,
    ) -> Result<
        std::sync::Arc<dyn crate::connector::blocking_io::Connector>,
        crate::connector::ConnectError,
    > {
        self.connectors
            .for_blocking(self.socks5_proxy()?, self.transport.source_ip)
    }

    /// The connector the tokio driver opens connections with.
    #[cfg(feature = "tokio")]
    pub(crate) fn tokio_connector(
        &self,
    ) -> Result<
        std::sync::Arc<dyn crate::connector::tokio_io::Connector>,
        crate::connector::ConnectError,
    > {
        self.connectors
            .for_tokio(self.socks5_proxy()?, self.transport.source_ip)
    }

    /// The servers and ports paired one-to-one, as they will be tried.
    pub fn server_list(&self) -> Vec<ServerAddr> {
        let default_port = match self.transport.tls_mode() {
            TlsMode::Implicit => IMPLICIT_TLS_PORT,
            _ => DEFAULT_PORT,
        };
        let localhost = ["localhost".to_owned()];
        let servers = match self.transport.servers.as_slice() {
            [] => &localhost[..],
            given => given,
        };
        servers
            .iter()
            .enumerate()
            .filter_map(|(i, host)| {
                let host = host.trim();
                let host = host
                    .strip_prefix('[')
                    .and_then(|h| h.strip_suffix(']'))
                    .unwrap_or(host);
                (!host.is_empty()).then(|| ServerAddr {
                    host: host.to_owned(),
                    port: self.transport.ports.get(i).copied().unwrap_or(default_port),
                })
            })
            .collect()
    }

    /// The time limits, each unset one at its default.
    pub fn timeout_settings(&self) -> Timeouts {
        self.transport.timeouts.resolved()
    }

    /// Replaces how to send with `settings` whole (servers, TLS, the
    /// secret's source, limits, extensions); the envelope, headers,
    /// credentials and callbacks stay.
    pub fn transport(mut self, settings: TransportSettings) -> Self {
        self.transport = Arc::new(settings);
        self
    }

    /// How to send: what a spool or outbox stores to send the message
    /// later (never the secret).
    pub fn transport_settings(&self) -> &TransportSettings {
        &self.transport
    }

    /// The settings, to change one (copied first if a clone shares them).
    fn settings(&mut self) -> &mut TransportSettings {
        Arc::make_mut(&mut self.transport)
    }

    /// How connections are opened, for each driver: see
    /// [`crate::connector`]. Default: TCP, or a Unix socket for a server
    /// given as a path.
    pub fn connectors(mut self, connectors: crate::connector::Connectors) -> Self {
        self.connectors = connectors;
        self
    }

    /// Adds a message transform: it runs on each attempt, after EHLO,
    /// where its [`crate::transform::Order`] puts it among postie's own
    /// (see [`crate::transform`]).
    pub fn transform(mut self, transform: Arc<dyn crate::transform::MessageTransform>) -> Self {
        self.transforms.push(transform);
        self
    }

    /// Signs every message with DKIM (see [`crate::dkim`]): on each
    /// attempt, after every rewrite the server calls for, so the signature
    /// covers exactly what the server gets. Call it again to sign twice
    /// (an RSA and an Ed25519 signature, as RFC 8463 suggests).
    pub fn dkim(self, signer: crate::dkim::Signer) -> Self {
        self.transform(Arc::new(signer))
    }
}
