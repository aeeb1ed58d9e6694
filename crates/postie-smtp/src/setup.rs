//! What both drivers do before the first connection: measure the message,
//! make its 7-bit rewrite when it holds 8-bit data, load the TLS
//! configuration, and fill the core's [`Config`].

use std::sync::Arc;
use std::time::Instant;

use postie_mime::Message;
#[cfg(feature = "tokio")]
use postie_mime::MessageStream;
use rustls::ClientConfig;

use crate::dsn::Dsn;
use crate::envelope::Prepared;
use crate::error::{Error, InvalidInput};
use crate::options::SendOptions;
use crate::proto::{Config, Delivery};
use crate::tls::{self, TlsMode};

/// The DSN parameters the options ask for, per recipient.
fn dsn(options: &SendOptions, recipients: &[String]) -> Result<Option<Dsn>, InvalidInput> {
    if options.dsn_notify.is_none()
        && options.dsn_notify_for.is_empty()
        && options.dsn_ret.is_none()
        && options.envid.is_none()
    {
        return Ok(None);
    }
    if let Some(envid) = &options.envid {
        crate::dsn::check_envid(envid)?;
    }
    let mut notify = vec![options.dsn_notify; recipients.len()];
    for (given, value) in &options.dsn_notify_for {
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
        ret: options.dsn_ret,
        envid: options.envid.clone(),
        notify,
        orcpt: options.orcpt,
    }))
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
        let config = match options.tls_mode {
            TlsMode::None => None,
            _ => Some(options.tls.client_config().map_err(InvalidInput::Tls)?),
        };
        self.0 = Some(config.clone());
        Ok(config)
    }
}

/// A send, ready for a driver to run.
pub(crate) struct Setup {
    /// What the core needs for this message.
    pub(crate) config: Config,
    pub(crate) tls_config: Option<Arc<ClientConfig>>,
    /// The message rewritten for a server without 8BITMIME, when it holds
    /// 8-bit data.
    pub(crate) seven_bit: Option<Message>,
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
        let eight_bit = measure.is_some_and(|m| m.eight_bit);
        let binary = measure.is_some_and(|m| m.binary);
        // Made only for a message holding 8-bit or binary data (never one
        // postie's writer built), in case the server cannot take it.
        let seven_bit = if eight_bit || binary {
            let rewritten = prepared.seven_bit(message).map_err(InvalidInput::Message)?;
            let mut counter = crate::data::SizeCounter::default();
            rewritten
                .write_to(&mut counter)
                .map_err(InvalidInput::Message)?;
            Some((rewritten, counter.finish()))
        } else {
            None
        };
        // Built before connecting, so that an unreadable CA or key file is
        // an error before anything is sent, not a reason to fall back to
        // clear.
        let mut tls_mode = options.tls_mode;
        if options.require_tls {
            match tls_mode {
                TlsMode::None => return Err(InvalidInput::RequireTls("TLS is off").into()),
                TlsMode::StartTls => tls_mode = TlsMode::Required,
                _ => {}
            }
            if options.tls.accept_invalid_certificates {
                return Err(InvalidInput::RequireTls("certificate checks are off").into());
            }
        }
        let tls_config = tls.get(options)?;
        let config = Config {
            servers: prepared.servers().to_vec(),
            client: prepared.client().to_owned(),
            reverse_path: prepared.reverse_path(),
            recipients: prepared.recipients(),
            ascii_forms: prepared.ascii_forms(),
            size: measure.map(|m| m.size),
            measure_on_demand: measure.is_none(),
            eight_bit,
            binary,
            repaired: measure.is_some_and(|m| m.repaired),
            chunking: options.chunking,
            seven_bit_size: seven_bit.as_ref().map(|(_, size)| *size),
            at_least_one: options.at_least_one,
            timeouts: options.timeouts,
            tls: tls_mode,
            policy: options
                .tls_policy
                .clone()
                .unwrap_or_else(|| Arc::new(tls::default_policy)),
            auth: options.auth.clone(),
            queue: options.queue,
            trace: options.on_trace.is_some(),
            pipelining: options.pipelining,
            keep_open,
            require_tls: options.require_tls,
            lmtp: options.lmtp,
            dsn: dsn(options, &prepared.recipients())?,
        };
        Ok(Self {
            config,
            tls_config,
            seven_bit: seven_bit.map(|(message, _)| message),
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

/// Writes what goes at the body step: the message under the prepared
/// fields, or its 7-bit rewrite when the core asks for it.
pub(crate) fn write_body(
    message: &Message,
    prepared: &Prepared,
    seven_bit: Option<&Message>,
    seven_bit_body: bool,
    w: &mut dyn std::io::Write,
) -> Result<(), postie_mime::Error> {
    match (seven_bit, seven_bit_body) {
        (Some(rewritten), true) => rewritten.write_to(w),
        _ => prepared.write_message(message, w),
    }
}

#[cfg(feature = "tokio")]
/// [`write_body`] for a driver that pulls the bytes.
pub(crate) fn body_reader<'a>(
    message: &'a Message,
    prepared: &'a Prepared,
    seven_bit: Option<&'a Message>,
    seven_bit_body: bool,
) -> Result<MessageStream<'a>, postie_mime::Error> {
    match (seven_bit, seven_bit_body) {
        (Some(rewritten), true) => rewritten.stream(),
        _ => message.stream_with_headers(prepared.headers()),
    }
}
