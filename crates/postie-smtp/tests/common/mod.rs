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
