//! One connection, many messages.

use std::time::{Duration, Instant};

use postie_mime::Message;

use super::{drive, Conn};
use crate::envelope::LocalEnv;
use crate::error::Error;
use crate::given_envelope::Envelope;
use crate::kept::Kept;
use crate::options::SendOptions;
use crate::outcome::Sent;

/// A connection kept open between messages: the first [`Session::send`]
/// connects (with failover, TLS and authentication as [`super::send`]
/// does), the next ones send MAIL on the same connection, with no new
/// greeting, EHLO, handshake or AUTH.
///
/// Each message is reported as [`super::send`] reports it. A message that
/// is refused leaves the connection reset and usable; one that fails the
/// connection closes it, and the next message connects again. When the
/// server has closed the idle connection (its idle timeout), the next
/// message notices before MAIL is answered (a peek before reuse, else EOF
/// or 421 to MAIL) and reconnects: nothing had been started. After MAIL is
/// answered a failure is reported, never retried.
///
/// ```no_run
/// use postie_mime::Message;
/// use postie_smtp::{blocking::Session, SendOptions};
///
/// let mut session = Session::new(SendOptions::new().servers(["mail.example.org"]));
/// for to in ["a@example.org", "b@example.org"] {
///     let mut msg = Message::text("Hello");
///     msg.headers_mut().set("To", to)?;
///     session.send(&msg)?;
/// }
/// session.close();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Session {
    kept: Kept<Conn>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("connected", &self.is_connected())
            .field("idle_timeout", &self.kept.idle_timeout())
            .field("max_messages", &self.kept.max_messages())
            .finish_non_exhaustive()
    }
}

impl Session {
    /// A session that sends with `options`; it connects at the first
    /// message.
    /// A message without a Date is dated when it is sent, not when the
    /// session was made.
    pub fn new(options: SendOptions) -> Self {
        Self {
            kept: Kept::new(options, LocalEnv::from_system(), true),
        }
    }

    /// [`Session::new`] with the host name, user and time given rather than
    /// read from the system.
    pub fn with_env(options: SendOptions, env: LocalEnv) -> Self {
        Self {
            kept: Kept::new(options, env, false),
        }
    }

    /// Closes the connection (QUIT) instead of reusing it when it has been
    /// idle for longer than `limit`; servers close idle connections after
    /// a while (Postfix after 300 s), so a client that waits longer saves
    /// a failed attempt.
    pub fn idle_timeout(mut self, limit: Duration) -> Self {
        self.kept.set_idle_timeout(limit);
        self
    }

    /// Closes the connection (QUIT) and opens a new one after `n` messages
    /// (at least 1); none by default. Servers and providers limit the
    /// messages per connection (OpenSMTPD to 100, some providers to a few
    /// thousand), and a session that rotates first never meets their
    /// refusal. (When it does meet one, a 4xx to MAIL on a kept
    /// connection, it sends the message again on a new connection.)
    pub fn max_messages_per_connection(mut self, n: u32) -> Self {
        self.kept.set_max_messages(n);
        self
    }

    /// Opens its connections with `connector` rather than as the
    /// options say (see [`crate::connector`]).
    pub fn connector(mut self, connector: impl super::Connector + 'static) -> Self {
        let connectors = std::mem::take(&mut self.kept.options.connectors);
        self.kept.options.connectors = connectors.blocking(connector);
        self
    }

    /// Whether a connection is open and idle.
    pub fn is_connected(&self) -> bool {
        self.kept.is_connected()
    }

    /// How long the connection has been idle, if one is open.
    pub fn idle_for(&self) -> Option<Duration> {
        self.kept.idle_for()
    }

    /// Sends `message`, on the open connection when there is one.
    pub fn send(&mut self, message: &Message) -> Result<Sent, Error> {
        self.send_with(message, None)
    }

    /// [`Session::send`] with the message's own `envelope` instead of the
    /// options' originator and recipients (see [`Envelope`]).
    pub fn send_to(&mut self, message: &Message, envelope: &Envelope) -> Result<Sent, Error> {
        self.send_with(message, Some(envelope))
    }

    pub(super) fn send_with(
        &mut self,
        message: &Message,
        given: Option<&Envelope>,
    ) -> Result<Sent, Error> {
        let span = tracing::info_span!("postie_smtp::session_send");
        let _entered = span.enter();
        let (prepared, setup) = self.kept.prepare(message, given)?;
        if self.kept.is_stale() {
            self.close();
        }
        let reusable = self.kept.idle_conn().is_some_and(|conn| conn.looks_alive());
        let mut link = self.kept.link_for(&setup, reusable)?;
        let driven = drive(
            &mut link.delivery,
            &mut link.conn,
            setup.tls_config.as_ref(),
            &self.kept.options,
            Some(crate::outbound::Outbound::new(message, &prepared, &setup)),
        );
        let result = driven.and_then(|()| link.delivery.take_result());
        self.kept.keep(link);
        result
    }

    /// Ends the connection politely (QUIT), if one is open. The session
    /// can still send: the next message connects again.
    pub fn close(&mut self) {
        let Some(mut link) = self.kept.take() else {
            return;
        };
        link.delivery.close_idle(Instant::now());
        let _ = drive(
            &mut link.delivery,
            &mut link.conn,
            None,
            &self.kept.options,
            None,
        );
    }
}

impl Drop for Session {
    /// QUIT on an open connection (within the core's short QUIT limit).
    fn drop(&mut self) {
        self.close();
    }
}
