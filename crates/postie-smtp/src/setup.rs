//! What both drivers do before the first connection: measure the message
//! when its data may not be 7-bit, load the TLS configuration, gather the
//! message transforms, and fill the core's [`Config`].

use std::sync::Arc;
use std::time::Instant;

use postie_mime::Message;
use rustls::ClientConfig;

use crate::dsn::Dsn;
use crate::envelope::Prepared;
use crate::error::{Error, InvalidInput};
use crate::options::SendOptions;
use crate::proto::{AuthConfig, Config, Delivery};
use crate::server::ServerAddr;
use crate::settings::DsnSettings;
use crate::tls::{self, TlsMode, TlsPolicy, TlsProblem, TlsSettings};
use crate::transform::Transforms;

/// The DSN parameters the settings ask for, per recipient.
fn dsn(settings: &DsnSettings, recipients: &[String]) -> Result<Option<Dsn>, InvalidInput> {
    if !settings.is_asked() {
        return Ok(None);
    }
    if let Some(envid) = &settings.envid {
        crate::dsn::check_envid(envid)?;
    }
    let mut notify = vec![settings.notify; recipients.len()];
    for (given, value) in &settings.notify_for {
        let address = postie_mime::address::parse_mailbox(given)
            .map(|m| m.addr_spec())
            .map_err(|_| InvalidInput::DsnNotRecipient(given.clone()))?;
        let mut found = false;
        for (slot, recipient) in notify.iter_mut().zip(recipients) {
            if recipient.eq_ignore_ascii_case(&address) {
                *slot = Some(*value);
                found = true;
            }
        }
        if !found {
            return Err(InvalidInput::DsnNotRecipient(given.clone()));
        }
    }
    Ok(Some(Dsn {
        ret: settings.ret,
        envid: settings.envid.clone(),
        notify,
        orcpt: settings.orcpt,
    }))
}

/// The core's authentication: the credentials given, as the settings say.
fn auth(options: &SendOptions) -> Option<AuthConfig> {
    let settings = &options.transport.auth;
    options.credentials.clone().map(|credentials| AuthConfig {
        credentials,
        token: settings.token,
        mechanisms: (!settings.mechanisms.is_empty()).then(|| settings.mechanisms.clone()),
        allow_plaintext: settings.allow_plaintext,
    })
}

/// A proxy that cannot be used is an error before anything is sent: a
/// user without a password (or the reverse), a server no proxy can reach
/// (a Unix socket, a name SOCKS5 cannot carry), or connectors of one's own
/// that would bypass it.
fn check_proxy(options: &SendOptions, servers: &[ServerAddr]) -> Result<(), InvalidInput> {
    let Some(proxy) = options.socks5_proxy().map_err(InvalidInput::Proxy)? else {
        return Ok(());
    };
    if options.connectors.any() {
        return Err(InvalidInput::Proxy(
            proxy.error(crate::connector::socks5::Failure::WithConnectors),
        ));
    }
    for server in servers {
        proxy.handshake(server).map_err(InvalidInput::Proxy)?;
    }
    Ok(())
}

/// The policy callback, else the settings' fixed answer, else the default.
fn policy(options: &SendOptions) -> TlsPolicy {
    match (&options.tls_policy, options.transport.tls_policy) {
        (Some(callback), _) => Arc::clone(callback),
        (None, Some(decision)) => Arc::new(move |_: &TlsProblem<'_>| decision),
        (None, None) => Arc::new(tls::default_policy),
    }
}

/// The TLS configuration the messages of a session share: built at the
/// first message (the system's roots copied, the user's CA files read),
/// not again for every one.
#[derive(Default)]
pub(crate) struct TlsCache(Option<Option<Arc<ClientConfig>>>);

impl TlsCache {
    fn get(&mut self, options: &SendOptions) -> Result<Option<Arc<ClientConfig>>, Error> {
        if let Some(config) = &self.0 {
            return Ok(config.clone());
        }
        let transport = &options.transport;
        let config = match transport.tls_mode() {
            TlsMode::None => None,
            _ => {
                let settings = TlsSettings {
                    ca_files: transport.ca_files.clone(),
                    accept_invalid_certificates: transport.accept_invalid_certificates,
                    fingerprints: transport.tls_fingerprints.clone(),
                    client_certificate: transport.client_certificate.clone(),
                    client_config: options.client_config.clone(),
                };
                Some(settings.client_config().map_err(InvalidInput::Tls)?)
            }
        };
        self.0 = Some(config.clone());
        Ok(config)
    }
}

/// `options` with the TLS configuration built once, for a pool whose
/// sessions then share it: rustls keeps its session tickets there, so a
/// connection any of them opens resumes a session another one made. When
/// the configuration cannot be built, `options` are left as they are (each
/// send reports the error).
pub(crate) fn share_tls_config(mut options: SendOptions) -> SendOptions {
    if options.client_config.is_none() {
        if let Ok(Some(config)) = TlsCache::default().get(&options) {
            options.client_config = Some(config);
        }
    }
    options
}

/// A send, ready for a driver to run.
pub(crate) struct Setup {
    /// What the core needs for this message.
    pub(crate) config: Config,
    pub(crate) tls_config: Option<Arc<ClientConfig>>,
    /// The non-ASCII envelope paths' ASCII forms, for servers without
    /// SMTPUTF8.
    pub(crate) ascii_forms: Vec<(String, String)>,
    /// What gives the message its form for each server.
    pub(crate) transforms: Transforms,
}

impl Setup {
    /// `keep_open` keeps the connection for more messages (a session).
    pub(crate) fn new(
        message: &Message,
        prepared: &Prepared,
        options: &SendOptions,
        keep_open: bool,
        tls: &mut TlsCache,
    ) -> Result<Self, Error> {
        // What postie's writer encodes is 7-bit by construction: its size is
        // counted only if the server will use it. A raw message is read
        // now, since its 8-bit or binary data decides how it is sent.
        let measure = if message.is_seven_bit_by_construction() {
            None
        } else {
            Some(prepared.measure(message).map_err(InvalidInput::Message)?)
        };
        // Built before connecting, so that an unreadable CA or key file is
        // an error before anything is sent, not a reason to fall back to
        // clear.
        let settings = &options.transport;
        let mut tls_mode = settings.tls_mode();
        if settings.require_tls {
            match tls_mode {
                TlsMode::None => return Err(InvalidInput::RequireTls("TLS is off").into()),
                TlsMode::StartTls => tls_mode = TlsMode::Required,
                _ => {}
            }
            if settings.accept_invalid_certificates {
                return Err(InvalidInput::RequireTls("certificate checks are off").into());
            }
            // RFC 8689 §4.2.1 asks for the chain checked against a trust
            // anchor (PKIX) or DANE; a fingerprint alone checks neither.
            if !settings.tls_fingerprints.is_empty() && settings.ca_files.is_empty() {
                return Err(InvalidInput::RequireTls(
                    "a pinned fingerprint without a CA file does not check the certificate's chain (add --ca-file)",
                )
                .into());
            }
        }
        // A pinned certificate names the one server the user trusts: mail
        // must not go to it in clear because it (or a man in the middle)
        // did not offer STARTTLS.
        if !settings.tls_fingerprints.is_empty() {
            match tls_mode {
                TlsMode::None => {
                    return Err(InvalidInput::Tls(crate::tls::TlsError::new(
                        crate::tls::TlsErrorKind::Setup,
                        "a pinned certificate (--tls-fingerprint) with TLS off (--tls none)",
                    ))
                    .into())
                }
                TlsMode::StartTls => tls_mode = TlsMode::Required,
                _ => {}
            }
        }
        check_proxy(options, prepared.servers())?;
        let tls_config = tls.get(options)?;
        let mut config = Config::new(
            prepared.servers().to_vec(),
            prepared.client(),
            prepared.reverse_path(),
            prepared.recipients(),
            Arc::clone(settings),
        );
        config.size = measure.map(|m| m.size);
        // A transform may change the message; its new form is counted
        // where the server needs the number.
        config.measure_on_demand = true;
        config.eight_bit = measure.is_some_and(|m| m.eight_bit);
        config.binary = measure.is_some_and(|m| m.binary);
        config.repaired = measure.is_some_and(|m| m.repaired);
        // Raw fields holding UTF-8 (not other 8-bit bytes, whose charset
        // nobody can tell: those go as they are, as before).
        config.utf8_header = measure.is_some_and(|m| m.eight_bit)
            && prepared
                .headers()
                .iter()
                .any(|field| crate::transform::raw_utf8(field.value()).is_some());
        // DKIM from the settings: each key read now, from its file, so a
        // kept message is signed with the key as it is when it goes.
        let mut added = options.transforms.clone();
        for dkim in &settings.dkim {
            let signer = crate::dkim::Signer::from_settings(dkim)
                .map_err(|e| InvalidInput::Dkim(e.to_string()))?;
            added.push(Arc::new(signer));
        }
        let transforms = Transforms::with(&added);
        // The stage is skipped where nothing in it could change the
        // message (most sends: postie's own adaptations have nothing to do
        // for 7-bit data and ASCII paths), which saves a step per message.
        let ascii_paths =
            config.reverse_path.is_ascii() && config.recipients.iter().all(|p| p.is_ascii());
        let content = crate::proto::Content::new(config.eight_bit, config.binary, config.repaired)
            .with_utf8_header(config.utf8_header);
        config.transform = transforms.may_change(content, ascii_paths);
        config.tls = tls_mode;
        config.policy = policy(options);
        config.auth = auth(options);
        config.trace = options.on_trace.is_some();
        config.keep_open = keep_open;
        config.dsn = dsn(&settings.dsn, &config.recipients)?;
        Ok(Self {
            config,
            tls_config,
            ascii_forms: prepared.ascii_forms(),
            transforms,
        })
    }

    /// The setup of a single send: the connection is not kept, and the TLS
    /// configuration is built for it alone.
    pub(crate) fn once(
        message: &Message,
        prepared: &Prepared,
        options: &SendOptions,
    ) -> Result<Self, Error> {
        Self::new(message, prepared, options, false, &mut TlsCache::default())
    }

    /// A delivery of this message on a new connection.
    pub(crate) fn delivery(&self) -> Result<Delivery, Error> {
        Ok(Delivery::new(self.config.clone(), Instant::now())?)
    }
}

/// A MIME writer's failure as the I/O error the drivers report: its own
/// I/O error as it is, anything else in words.
pub(crate) fn mime_io(e: postie_mime::Error) -> std::io::Error {
    match e {
        postie_mime::Error::Io(e) => e,
        other => std::io::Error::other(other.to_string()),
    }
}
