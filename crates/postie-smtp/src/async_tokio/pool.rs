//! Sessions shared between tasks.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use postie_mime::Message;
use tokio::sync::Semaphore;

use super::Session;
use crate::envelope::LocalEnv;
use crate::error::Error;
use crate::given_envelope::Envelope;
use crate::options::SendOptions;
use crate::outcome::Sent;
use crate::pool_defaults::{DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_SIZE};
use crate::pool_rate::{Pacer, RateLimit};

/// [`crate::blocking::Pool`] on tokio: at most `max_size` connections,
/// each reused for message after message, shared by any number of tasks,
/// with the same limit per server and the same [`Pool::rate_limit`].
///
/// ```no_run
/// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use postie_mime::Message;
/// use postie_smtp::{async_tokio::Pool, SendOptions};
///
/// let pool = Arc::new(Pool::new(SendOptions::new().servers(["mail.example.org"])));
/// let mut msg = Message::text("Hello");
/// msg.headers_mut().set("To", "someone@example.org")?;
/// pool.send(&msg).await?;
/// pool.close_idle().await;
/// # Ok(())
/// # }
/// ```
pub struct Pool {
    options: SendOptions,
    env: Option<LocalEnv>,
    idle_timeout: Duration,
    max_messages: Option<u32>,
    max_size: usize,
    pacer: Option<Pacer>,
    permits: Semaphore,
    /// Sessions not in use, the most recently used last.
    idle: Mutex<Vec<Session>>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("max_size", &self.max_size)
            .field("idle_timeout", &self.idle_timeout)
            .field("max_messages", &self.max_messages)
            .field("idle", &self.lock().len())
            .finish_non_exhaustive()
    }
}

impl Pool {
    /// A pool sending with `options`, at most [`DEFAULT_MAX_SIZE`]
    /// connections.
    pub fn new(options: SendOptions) -> Self {
        Self {
            // One TLS configuration for all the pool's connections: a new
            // one resumes a TLS session an earlier one made.
            options: crate::setup::share_tls_config(options),
            env: None,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_messages: None,
            max_size: DEFAULT_MAX_SIZE,
            pacer: None,
            permits: Semaphore::new(DEFAULT_MAX_SIZE),
            idle: Mutex::new(Vec::new()),
        }
    }

    /// At most `n` connections at once (at least 1).
    pub fn max_size(mut self, n: usize) -> Self {
        self.max_size = n.max(1);
        self.permits = Semaphore::new(self.max_size);
        self
    }

    /// Close rather than reuse a connection idle for longer than `limit`.
    pub fn idle_timeout(mut self, limit: Duration) -> Self {
        self.idle_timeout = limit;
        self
    }

    /// Each connection carries at most `n` messages (at least 1), then is
    /// closed and replaced; none by default. See
    /// [`Session::max_messages_per_connection`].
    pub fn max_messages_per_connection(mut self, n: u32) -> Self {
        self.max_messages = Some(n.max(1));
        self
    }

    /// Starts at most `limit.messages` sends per `limit.period`, evenly
    /// spaced, across every task using the pool: [`Pool::send`] waits for
    /// its turn once it has a connection. None by default.
    pub fn rate_limit(mut self, limit: RateLimit) -> Self {
        self.pacer = Some(Pacer::new(limit));
        self
    }

    /// Opens its connections with `connector` rather than as the
    /// options say (see [`crate::connector`]).
    pub fn connector(mut self, connector: impl super::Connector + 'static) -> Self {
        let connectors = std::mem::take(&mut self.options.connectors);
        self.options.connectors = connectors.tokio(connector);
        self
    }

    /// The host name, user and time to use rather than the system's.
    pub fn env(mut self, env: LocalEnv) -> Self {
        self.env = Some(env);
        self
    }

    /// Sends `message` on a pooled connection, waiting while `max_size`
    /// are in use.
    pub async fn send(&self, message: &Message) -> Result<Sent, Error> {
        self.send_with(message, None).await
    }

    /// [`Pool::send`] with the message's own `envelope` instead of the
    /// options' originator and recipients (see [`Envelope`]).
    pub async fn send_to(&self, message: &Message, envelope: &Envelope) -> Result<Sent, Error> {
        self.send_with(message, Some(envelope)).await
    }

    async fn send_with(&self, message: &Message, given: Option<&Envelope>) -> Result<Sent, Error> {
        // The semaphore is never closed, so acquiring only waits.
        let permit = self.permits.acquire().await;
        // The slot is taken with the connection's permit in hand: slots
        // taken while waiting for one would all come due at once.
        if let Some(pacer) = &self.pacer {
            let wait = pacer.reserve(std::time::Instant::now());
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
        }
        let taken = self.lock().pop();
        let mut session = match taken {
            Some(session) => session,
            None => {
                let session = match self.env.clone() {
                    Some(env) => Session::with_env(self.options.clone(), env),
                    None => Session::new(self.options.clone()),
                };
                let session = session.idle_timeout(self.idle_timeout);
                match self.max_messages {
                    Some(n) => session.max_messages_per_connection(n),
                    None => session,
                }
            }
        };
        let result = session.send_with(message, given).await;
        self.lock().push(session);
        drop(permit);
        result
    }

    /// Closes every idle connection with QUIT.
    pub async fn close_idle(&self) {
        let idle = std::mem::take(&mut *self.lock());
        for mut session in idle {
            session.close().await;
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Session>> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
