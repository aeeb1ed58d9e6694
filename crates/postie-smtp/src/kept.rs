//! A connection kept between messages, whatever the driver: the part of a
//! session that decides whether the open connection can take the next
//! message, and keeps it afterwards. The drivers' `Session`s add only the
//! I/O (the liveness check, driving the core, QUIT).

use std::time::{Duration, Instant};

use postie_mime::Message;

use crate::envelope::{self, LocalEnv, Prepared};
use crate::error::Error;
use crate::given_envelope::Envelope;
use crate::options::SendOptions;
use crate::proto::Delivery;
use crate::setup::{Setup, TlsCache};

/// The open connection `C` and the core that drives it.
pub(crate) struct Link<C> {
    pub(crate) delivery: Delivery,
    pub(crate) conn: Option<C>,
    idle_since: Instant,
}

/// A session's state, for connections of type `C`.
pub(crate) struct Kept<C> {
    pub(crate) options: SendOptions,
    env: LocalEnv,
    /// The time in `env` is read again for each message (a session made
    /// from the system's clock; one given a fixed time keeps it).
    live_clock: bool,
    link: Option<Link<C>>,
    idle_timeout: Option<Duration>,
    /// Messages after which a connection is closed rather than reused.
    max_messages: Option<u32>,
    tls: TlsCache,
}

impl<C> Kept<C> {
    pub(crate) fn new(options: SendOptions, env: LocalEnv, live_clock: bool) -> Self {
        Self {
            options,
            env,
            live_clock,
            link: None,
            idle_timeout: None,
            max_messages: None,
            tls: TlsCache::default(),
        }
    }

    pub(crate) fn set_idle_timeout(&mut self, limit: Duration) {
        self.idle_timeout = Some(limit);
    }

    pub(crate) fn idle_timeout(&self) -> Option<Duration> {
        self.idle_timeout
    }

    pub(crate) fn set_max_messages(&mut self, n: u32) {
        self.max_messages = Some(n.max(1));
    }

    pub(crate) fn max_messages(&self) -> Option<u32> {
        self.max_messages
    }

    pub(crate) fn is_connected(&self) -> bool {
        self.link.as_ref().is_some_and(|l| l.conn.is_some())
    }

    pub(crate) fn idle_for(&self) -> Option<Duration> {
        self.link.as_ref().map(|l| l.idle_since.elapsed())
    }

    /// The envelope and the core's settings for `message` (with its own
    /// `given` envelope, if any), the connection kept open after it.
    pub(crate) fn prepare(
        &mut self,
        message: &Message,
        given: Option<&Envelope>,
    ) -> Result<(Prepared, Setup), Error> {
        if self.live_clock {
            self.env.now = postie_mime::date::now();
        }
        // A copy only for a message with its own envelope: the transport
        // settings inside are shared, not copied.
        let own;
        let options = match given {
            // An envelope of its own with no recipient would fall back to
            // the header's, which is not what it says.
            Some(given) if given.recipients().trim().is_empty() => {
                return Err(crate::error::InvalidInput::NoRecipients.into());
            }
            Some(given) => {
                own = self
                    .options
                    .clone()
                    .originator(given.originator())
                    .recipients(given.recipients());
                &own
            }
            None => &self.options,
        };
        let prepared = envelope::prepare(message, options, &self.env)?;
        let setup = Setup::new(message, &prepared, options, true, &mut self.tls)?;
        Ok((prepared, setup))
    }

    /// Whether the open connection is not to be reused: idle longer than
    /// the limit (servers close idle connections; better to say goodbye
    /// first), or it carried as many messages as allowed (servers limit
    /// them too; better to rotate before their refusal).
    pub(crate) fn is_stale(&self) -> bool {
        let Some(link) = &self.link else {
            return false;
        };
        let idle = self
            .idle_timeout
            .is_some_and(|limit| link.idle_since.elapsed() > limit);
        let spent = self
            .max_messages
            .is_some_and(|max| link.delivery.messages_on_connection() >= max);
        idle || spent
    }

    /// The open connection, for its owner to check or close.
    pub(crate) fn take(&mut self) -> Option<Link<C>> {
        self.link.take()
    }

    /// The connection of an idle link, for the liveness check.
    pub(crate) fn idle_conn(&mut self) -> Option<&mut C> {
        self.link
            .as_mut()
            .filter(|l| l.delivery.is_idle())
            .and_then(|l| l.conn.as_mut())
    }

    /// The link to send `setup`'s message on: the kept one when the caller
    /// found it `reusable`, else a new one (a dead connection is dropped
    /// without QUIT: there is nobody to say it to).
    pub(crate) fn link_for(&mut self, setup: &Setup, reusable: bool) -> Result<Link<C>, Error> {
        match self.link.take() {
            Some(mut link) if reusable => {
                link.delivery
                    .next_message(setup.config.clone(), Instant::now())?;
                Ok(link)
            }
            _ => Ok(Link {
                delivery: setup.delivery()?,
                conn: None,
                idle_since: Instant::now(),
            }),
        }
    }

    /// Keeps `link` when the core left it idle and open.
    pub(crate) fn keep(&mut self, mut link: Link<C>) {
        if link.delivery.is_idle() && link.conn.is_some() {
            link.idle_since = Instant::now();
            self.link = Some(link);
        }
    }
}
