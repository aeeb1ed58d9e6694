//! One connection, many messages, on tokio.

use std::time::{Duration, Instant};

use postie_mime::Message;

use super::{drive, Conn};
use crate::envelope::{self, LocalEnv};
use crate::error::Error;
use crate::options::SendOptions;
use crate::outcome::Sent;
use crate::proto::Delivery;
use crate::setup::{body_reader, Setup};

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
    options: SendOptions,
    env: LocalEnv,
    link: Option<Link>,
    idle_timeout: Option<Duration>,
}

struct Link {
    delivery: Delivery,
    conn: Option<Conn>,
    idle_since: Instant,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("connected", &self.is_connected())
            .field("idle_timeout", &self.idle_timeout)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// A session that sends with `options`; it connects at the first
    /// message.
    pub fn new(options: SendOptions) -> Self {
        Self::with_env(options, LocalEnv::from_system())
    }

    /// [`Session::new`] with the host name, user and time given.
    pub fn with_env(options: SendOptions, env: LocalEnv) -> Self {
        Self {
            options,
            env,
            link: None,
            idle_timeout: None,
        }
    }

    /// Closes the connection instead of reusing it when it has been idle
    /// for longer than `limit`.
    pub fn idle_timeout(mut self, limit: Duration) -> Self {
        self.idle_timeout = Some(limit);
        self
    }

    /// Whether a connection is open and idle.
    pub fn is_connected(&self) -> bool {
        self.link.as_ref().is_some_and(|l| l.conn.is_some())
    }

    /// How long the connection has been idle, if one is open.
    pub fn idle_for(&self) -> Option<Duration> {
        self.link.as_ref().map(|l| l.idle_since.elapsed())
    }

    /// Sends `message`, on the open connection when there is one.
    pub async fn send(&mut self, message: &Message) -> Result<Sent, Error> {
        let prepared = envelope::prepare(message, &self.options, &self.env)?;
        let setup = Setup::new(message, &prepared, &self.options, true)?;
        let stale = self.link.as_ref().is_some_and(|link| {
            self.idle_timeout
                .is_some_and(|limit| link.idle_since.elapsed() > limit)
        });
        if stale {
            self.close().await;
        }
        let idle = self.link.as_ref().is_some_and(|l| l.delivery.is_idle());
        let reusable = match self.link.as_mut().and_then(|l| l.conn.as_mut()) {
            Some(conn) if idle => conn.looks_alive().await,
            _ => false,
        };
        let mut link = match self.link.take() {
            Some(mut link) if reusable => {
                link.delivery
                    .next_message(setup.config.clone(), Instant::now())?;
                link
            }
            _ => Link {
                delivery: setup.delivery()?,
                conn: None,
                idle_since: Instant::now(),
            },
        };
        let body = |seven_bit_body| {
            body_reader(message, &prepared, setup.seven_bit.as_ref(), seven_bit_body)
        };
        drive(
            &mut link.delivery,
            &mut link.conn,
            setup.tls_config.as_ref(),
            &self.options,
            body,
        )
        .await;
        let result = link.delivery.take_result();
        if link.delivery.is_idle() && link.conn.is_some() {
            link.idle_since = Instant::now();
            self.link = Some(link);
        }
        result
    }

    /// Ends the connection politely (QUIT), if one is open. The session
    /// can still send: the next message connects again.
    pub async fn close(&mut self) {
        let Some(mut link) = self.link.take() else {
            return;
        };
        link.delivery.close_idle(Instant::now());
        drive(
            &mut link.delivery,
            &mut link.conn,
            None,
            &self.options,
            |_| Err(postie_mime::Error::Random("no message to send".to_owned())),
        )
        .await;
    }
}
