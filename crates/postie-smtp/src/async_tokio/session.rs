//! One connection, many messages, on tokio.

use std::time::{Duration, Instant};

use postie_mime::Message;

use super::{drive, Conn};
use crate::envelope::LocalEnv;
use crate::error::Error;
use crate::given_envelope::Envelope;
use crate::kept::Kept;
use crate::options::SendOptions;
use crate::outbound::Outbound;
use crate::outcome::Sent;

/// [`crate::blocking::Session`] on tokio: a connection kept open between
/// messages, with the same rules (checked before reuse, replaced when the
/// server closed it before MAIL was answered, never retried after).
///
/// Unlike the blocking one it cannot say goodbye when dropped (that needs
/// to await): call [`Session::close`] to end it with QUIT; dropping it
/// just closes the socket.
///
/// ```no_run
/// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
/// use postie_mime::Message;
/// use postie_smtp::{async_tokio::Session, SendOptions};
///
/// let mut session = Session::new(SendOptions::new().servers(["mail.example.org"]));
/// for to in ["a@example.org", "b@example.org"] {
///     let mut msg = Message::text("Hello");
///     msg.headers_mut().set("To", to)?;
///     session.send(&msg).await?;
/// }
/// session.close().await;
/// # Ok(())
/// # }
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

    /// [`Session::new`] with the host name, user and time given.
    pub fn with_env(options: SendOptions, env: LocalEnv) -> Self {
        Self {
            kept: Kept::new(options, env, false),
        }
    }

    /// Closes the connection instead of reusing it when it has been idle
    /// for longer than `limit`.
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
        self.kept.options.connectors = connectors.tokio(connector);
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
    pub async fn send(&mut self, message: &Message) -> Result<Sent, Error> {
        self.send_with(message, None).await
    }

    /// [`Session::send`] with the message's own `envelope` instead of the
    /// options' originator and recipients (see [`Envelope`]).
    pub async fn send_to(&mut self, message: &Message, envelope: &Envelope) -> Result<Sent, Error> {
        self.send_with(message, Some(envelope)).await
    }

    pub(super) async fn send_with(
        &mut self,
        message: &Message,
        given: Option<&Envelope>,
    ) -> Result<Sent, Error> {
        let (prepared, setup) = self.kept.prepare(message, given)?;
        if self.kept.is_stale() {
            self.close().await;
        }
        let reusable = match self.kept.idle_conn() {
            Some(conn) => conn.looks_alive().await,
            None => false,
        };
        let mut link = self.kept.link_for(&setup, reusable)?;
        drive(
            &mut link.delivery,
            &mut link.conn,
            setup.tls_config.as_ref(),
            &self.kept.options,
            Some(Outbound::new(message, &prepared, &setup)),
        )
        .await;
        let result = link.delivery.take_result();
        self.kept.keep(link);
        result
    }

    /// Ends the connection politely (QUIT), if one is open. The session
    /// can still send: the next message connects again.
    pub async fn close(&mut self) {
        let Some(mut link) = self.kept.take() else {
            return;
        };
        link.delivery.close_idle(Instant::now());
        drive(
            &mut link.delivery,
            &mut link.conn,
            None,
            &self.kept.options,
            // Closing sends no message: the core never reaches the body.
            None,
        )
        .await;
    }
}
