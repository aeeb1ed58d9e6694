//! Sessions shared between threads.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use postie_mime::Message;

use super::Session;
use crate::envelope::LocalEnv;
use crate::error::Error;
use crate::given_envelope::Envelope;
use crate::options::SendOptions;
use crate::outcome::Sent;
use crate::pool_defaults::{DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_SIZE};
use crate::pool_rate::{Pacer, RateLimit};

/// A pool of [`Session`]s for sending from many threads: at most
/// `max_size` connections, each reused for message after message.
///
/// [`Pool::send`] takes the most recently used idle session (so the others
/// can age out), or opens a new one while fewer than `max_size` exist, or
/// waits for one to come back. Before a connection is reused it is checked
/// without a round trip (a peek: a server that closed it or said 421 has
/// left something to read) and closed if it was idle longer than the idle
/// timeout; if the server closed it anyway before MAIL was answered, the
/// message goes on a new connection. Once MAIL was answered, a failure is
/// reported, never retried: the message might have been taken.
///
/// `max_size` is also the pool's limit per server: its connections all go
/// to the first server of the list that answers (the others only take
/// over when it fails). With [`Pool::rate_limit`] the pool starts at most
/// so many messages per period, however many threads share it, spaced
/// evenly (a provider's "100 messages a minute").
///
/// ```no_run
/// use postie_mime::Message;
/// use postie_smtp::{blocking::Pool, SendOptions};
///
/// let pool = Pool::new(SendOptions::new().servers(["mail.example.org"])).max_size(8);
/// std::thread::scope(|scope| {
///     for n in 0..32 {
///         let pool = &pool;
///         scope.spawn(move || {
///             let mut msg = Message::text(format!("message {n}"));
///             msg.headers_mut().set("To", "someone@example.org").unwrap();
///             pool.send(&msg)
///         });
///     }
/// });
/// ```
pub struct Pool {
    options: SendOptions,
    env: Option<LocalEnv>,
    max_size: usize,
    idle_timeout: Duration,
    max_messages: Option<u32>,
    pacer: Option<Pacer>,
    state: Mutex<State>,
    returned: Condvar,
}

struct State {
    /// Sessions not in use, the most recently used last.
    idle: Vec<Session>,
    /// Sessions in existence, in use or idle.
    open: usize,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.lock();
        f.debug_struct("Pool")
            .field("max_size", &self.max_size)
            .field("idle_timeout", &self.idle_timeout)
            .field("max_messages", &self.max_messages)
            .field("open", &state.open)
            .field("idle", &state.idle.len())
            .finish_non_exhaustive()
    }
}

impl Pool {
    /// A pool sending with `options`; connections open as messages need
    /// them.
    pub fn new(options: SendOptions) -> Self {
        Self {
            // One TLS configuration for all the pool's connections: a new
            // one resumes a TLS session an earlier one made.
            options: crate::setup::share_tls_config(options),
            env: None,
            max_size: DEFAULT_MAX_SIZE,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_messages: None,
            pacer: None,
            state: Mutex::new(State {
                idle: Vec::new(),
                open: 0,
            }),
            returned: Condvar::new(),
        }
    }

    /// At most `n` connections at once (at least 1).
    pub fn max_size(mut self, n: usize) -> Self {
        self.max_size = n.max(1);
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
    /// spaced, across every thread using the pool: [`Pool::send`] waits
    /// for its turn once it has a connection. None by default.
    pub fn rate_limit(mut self, limit: RateLimit) -> Self {
        self.pacer = Some(Pacer::new(limit));
        self
    }

    /// Opens its connections with `connector` rather than as the
    /// options say (see [`crate::connector`]).
    pub fn connector(mut self, connector: impl super::Connector + 'static) -> Self {
        let connectors = std::mem::take(&mut self.options.connectors);
        self.options.connectors = connectors.blocking(connector);
        self
    }

    /// The host name, user and time to use rather than the system's.
    pub fn env(mut self, env: LocalEnv) -> Self {
        self.env = Some(env);
        self
    }

    /// How many sessions exist, in use or idle (at most `max_size`).
    pub fn size(&self) -> usize {
        self.lock().open
    }

    /// Sends `message` on a pooled connection; see the [type's
    /// documentation](Pool).
    pub fn send(&self, message: &Message) -> Result<Sent, Error> {
        self.send_with(message, None)
    }

    /// [`Pool::send`] with the message's own `envelope` instead of the
    /// options' originator and recipients (see [`Envelope`]).
    pub fn send_to(&self, message: &Message, envelope: &Envelope) -> Result<Sent, Error> {
        self.send_with(message, Some(envelope))
    }

    fn send_with(&self, message: &Message, given: Option<&Envelope>) -> Result<Sent, Error> {
        let mut session = self.checkout();
        // The slot is taken with the connection in hand: slots taken while
        // waiting for one would all come due at once when it comes back.
        if let Some(pacer) = &self.pacer {
            std::thread::sleep(pacer.reserve(std::time::Instant::now()));
        }
        let result = session.send_with(message, given);
        self.checkin(session);
        result
    }

    /// Closes every idle connection (QUIT). Sessions in use close when
    /// they come back only if the pool is dropped.
    pub fn close_idle(&self) {
        let idle = std::mem::take(&mut self.lock().idle);
        let count = idle.len();
        drop(idle);
        self.lock().open -= count;
        self.returned.notify_all();
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn checkout(&self) -> Session {
        let mut state = self.lock();
        loop {
            // A session past its idle limit says goodbye itself at its
            // next send (it was made with the pool's limit).
            if let Some(session) = state.idle.pop() {
                return session;
            }
            if state.open < self.max_size {
                state.open += 1;
                drop(state);
                let session = match self.env.clone() {
                    Some(env) => Session::with_env(self.options.clone(), env),
                    None => Session::new(self.options.clone()),
                };
                let session = session.idle_timeout(self.idle_timeout);
                return match self.max_messages {
                    Some(n) => session.max_messages_per_connection(n),
                    None => session,
                };
            }
            state = self
                .returned
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn checkin(&self, session: Session) {
        self.lock().idle.push(session);
        self.returned.notify_one();
    }
}
