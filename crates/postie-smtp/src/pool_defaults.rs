//! The defaults both drivers' pools start from, in one place so that a
//! blocking and a tokio pool built alike behave alike. Re-exported as
//! `blocking::DEFAULT_MAX_SIZE` and `blocking::DEFAULT_IDLE_TIMEOUT` (their
//! first home) and under `async_tokio`.

use std::time::Duration;

/// How many connections a pool opens at most, by default.
pub const DEFAULT_MAX_SIZE: usize = 4;
/// How long a pooled connection may stay idle before it is closed rather
/// than reused, by default: under Postfix's 300 s.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
