//! The driver the integration tests send with: the blocking one, or the
//! tokio one when `POSTIE_TEST_DRIVER=tokio` (built with `--features
//! tokio`). `scripts/test.sh` runs the integration tests once with each, so
//! every dialogue, fault and real-server test holds for both drivers.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use postie_mime::Message;
use postie_smtp::envelope::Prepared;
use postie_smtp::{Error, LocalEnv, SendOptions, Sent};

/// Which driver this run tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Driver {
    Blocking,
    Tokio,
}

pub(crate) fn driver() -> Driver {
    match std::env::var("POSTIE_TEST_DRIVER").as_deref() {
        Ok("tokio") => Driver::Tokio,
        Ok("blocking") | Err(_) => Driver::Blocking,
        Ok(other) => panic!("POSTIE_TEST_DRIVER={other}: expected blocking or tokio"),
    }
}

#[cfg(feature = "tokio")]
fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

#[cfg(not(feature = "tokio"))]
fn block_on<T>(_future: impl std::future::Future<Output = T>) -> T {
    panic!("POSTIE_TEST_DRIVER=tokio needs the tests built with --features tokio")
}

pub(crate) fn send(message: &Message, options: &SendOptions) -> Result<Sent, Error> {
    send_with_env(message, options, &LocalEnv::from_system())
}

pub(crate) fn send_with_env(
    message: &Message,
    options: &SendOptions,
    env: &LocalEnv,
) -> Result<Sent, Error> {
    match driver() {
        Driver::Blocking => postie_smtp::blocking::send_with_env(message, options, env),
        #[cfg(feature = "tokio")]
        Driver::Tokio => block_on(postie_smtp::async_tokio::send_with_env(
            message, options, env,
        )),
        #[cfg(not(feature = "tokio"))]
        Driver::Tokio => block_on(async { unreachable!() }),
    }
}

pub(crate) fn send_prepared(
    message: &Message,
    prepared: &Prepared,
    options: &SendOptions,
) -> Result<Sent, Error> {
    match driver() {
        Driver::Blocking => postie_smtp::blocking::send_prepared(message, prepared, options),
        #[cfg(feature = "tokio")]
        Driver::Tokio => block_on(postie_smtp::async_tokio::send_prepared(
            message, prepared, options,
        )),
        #[cfg(not(feature = "tokio"))]
        Driver::Tokio => block_on(async { unreachable!() }),
    }
}

/// A session on the driver under test.
pub(crate) enum Session {
    Blocking(postie_smtp::blocking::Session),
    #[cfg(feature = "tokio")]
    Tokio(postie_smtp::async_tokio::Session, tokio::runtime::Runtime),
}

impl Session {
    pub(crate) fn new(options: SendOptions, env: LocalEnv) -> Self {
        match driver() {
            Driver::Blocking => {
                Self::Blocking(postie_smtp::blocking::Session::with_env(options, env))
            }
            #[cfg(feature = "tokio")]
            Driver::Tokio => Self::Tokio(
                postie_smtp::async_tokio::Session::with_env(options, env),
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap(),
            ),
            #[cfg(not(feature = "tokio"))]
            Driver::Tokio => block_on(async { unreachable!() }),
        }
    }

    /// A session that rotates its connection after `n` messages.
    pub(crate) fn with_max_messages(options: SendOptions, env: LocalEnv, n: u32) -> Self {
        match Self::new(options, env) {
            Self::Blocking(session) => Self::Blocking(session.max_messages_per_connection(n)),
            #[cfg(feature = "tokio")]
            Self::Tokio(session, runtime) => {
                Self::Tokio(session.max_messages_per_connection(n), runtime)
            }
        }
    }

    /// A session that reads the host, user and clock from the system.
    #[allow(dead_code)]
    pub(crate) fn from_system(options: SendOptions) -> Self {
        match driver() {
            Driver::Blocking => Self::Blocking(postie_smtp::blocking::Session::new(options)),
            #[cfg(feature = "tokio")]
            Driver::Tokio => Self::Tokio(
                postie_smtp::async_tokio::Session::new(options),
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap(),
            ),
            #[cfg(not(feature = "tokio"))]
            Driver::Tokio => block_on(async { unreachable!() }),
        }
    }

    pub(crate) fn send(&mut self, message: &Message) -> Result<Sent, Error> {
        match self {
            Self::Blocking(session) => session.send(message),
            #[cfg(feature = "tokio")]
            Self::Tokio(session, runtime) => runtime.block_on(session.send(message)),
        }
    }

    /// Sends `message` with its own envelope.
    #[allow(dead_code)]
    pub(crate) fn send_to(
        &mut self,
        message: &Message,
        envelope: &postie_smtp::Envelope,
    ) -> Result<Sent, Error> {
        match self {
            Self::Blocking(session) => session.send_to(message, envelope),
            #[cfg(feature = "tokio")]
            Self::Tokio(session, runtime) => runtime.block_on(session.send_to(message, envelope)),
        }
    }

    pub(crate) fn is_connected(&self) -> bool {
        match self {
            Self::Blocking(session) => session.is_connected(),
            #[cfg(feature = "tokio")]
            Self::Tokio(session, _) => session.is_connected(),
        }
    }

    pub(crate) fn close(&mut self) {
        match self {
            Self::Blocking(session) => session.close(),
            #[cfg(feature = "tokio")]
            Self::Tokio(session, runtime) => runtime.block_on(session.close()),
        }
    }
}

/// Sends every message through a pool of at most `max_size` connections
/// on the driver under test, from `workers` threads (or tasks) at once;
/// the results in the order of `messages`.
pub(crate) fn send_pooled(
    options: SendOptions,
    env: LocalEnv,
    (max_size, rate): (usize, Option<postie_smtp::blocking::RateLimit>),
    workers: usize,
    messages: Vec<Message>,
) -> Vec<Result<Sent, Error>> {
    let count = messages.len();
    let messages: Vec<(usize, Message)> = messages.into_iter().enumerate().collect();
    let shares: Vec<Vec<(usize, Message)>> = (0..workers)
        .map(|w| {
            messages
                .iter()
                .filter(|(i, _)| i % workers == w)
                .cloned()
                .collect()
        })
        .collect();
    let mut results: Vec<Option<Result<Sent, Error>>> = (0..count).map(|_| None).collect();
    match driver() {
        Driver::Blocking => {
            let mut pool = postie_smtp::blocking::Pool::new(options)
                .max_size(max_size)
                .env(env);
            if let Some(rate) = rate {
                pool = pool.rate_limit(rate);
            }
            let done: Vec<(usize, Result<Sent, Error>)> = std::thread::scope(|scope| {
                let handles: Vec<_> = shares
                    .into_iter()
                    .map(|share| {
                        let pool = &pool;
                        scope.spawn(move || {
                            share
                                .into_iter()
                                .map(|(i, m)| (i, pool.send(&m)))
                                .collect::<Vec<_>>()
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .flat_map(|h| h.join().unwrap())
                    .collect()
            });
            assert!(pool.size() <= max_size);
            for (i, r) in done {
                results[i] = Some(r);
            }
        }
        #[cfg(feature = "tokio")]
        Driver::Tokio => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            let mut pool = postie_smtp::async_tokio::Pool::new(options)
                .max_size(max_size)
                .env(env);
            if let Some(rate) = rate {
                pool = pool.rate_limit(rate);
            }
            let pool = std::sync::Arc::new(pool);
            let done = runtime.block_on(async {
                let handles: Vec<_> = shares
                    .into_iter()
                    .map(|share| {
                        let pool = std::sync::Arc::clone(&pool);
                        tokio::spawn(async move {
                            let mut out = Vec::new();
                            for (i, m) in share {
                                out.push((i, pool.send(&m).await));
                            }
                            out
                        })
                    })
                    .collect();
                let mut all = Vec::new();
                for handle in handles {
                    all.extend(handle.await.unwrap());
                }
                pool.close_idle().await;
                all
            });
            for (i, r) in done {
                results[i] = Some(r);
            }
        }
        #[cfg(not(feature = "tokio"))]
        Driver::Tokio => block_on(async { unreachable!() }),
    }
    results.into_iter().map(Option::unwrap).collect()
}

/// A pool on the driver under test, used from this thread.
pub(crate) enum Pool {
    Blocking(postie_smtp::blocking::Pool),
    #[cfg(feature = "tokio")]
    Tokio(postie_smtp::async_tokio::Pool, tokio::runtime::Runtime),
}

impl Pool {
    pub(crate) fn new(options: SendOptions, env: LocalEnv, max_size: usize) -> Self {
        match driver() {
            Driver::Blocking => Self::Blocking(
                postie_smtp::blocking::Pool::new(options)
                    .max_size(max_size)
                    .env(env),
            ),
            #[cfg(feature = "tokio")]
            Driver::Tokio => Self::Tokio(
                postie_smtp::async_tokio::Pool::new(options)
                    .max_size(max_size)
                    .env(env),
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap(),
            ),
            #[cfg(not(feature = "tokio"))]
            Driver::Tokio => block_on(async { unreachable!() }),
        }
    }

    pub(crate) fn send(&self, message: &Message) -> Result<Sent, Error> {
        match self {
            Self::Blocking(pool) => pool.send(message),
            #[cfg(feature = "tokio")]
            Self::Tokio(pool, runtime) => runtime.block_on(pool.send(message)),
        }
    }

    /// Sends `message` with its own envelope.
    #[allow(dead_code)]
    pub(crate) fn send_to(
        &self,
        message: &Message,
        envelope: &postie_smtp::Envelope,
    ) -> Result<Sent, Error> {
        match self {
            Self::Blocking(pool) => pool.send_to(message, envelope),
            #[cfg(feature = "tokio")]
            Self::Tokio(pool, runtime) => runtime.block_on(pool.send_to(message, envelope)),
        }
    }

    pub(crate) fn close_idle(&self) {
        match self {
            Self::Blocking(pool) => pool.close_idle(),
            #[cfg(feature = "tokio")]
            Self::Tokio(pool, runtime) => runtime.block_on(pool.close_idle()),
        }
    }
}
