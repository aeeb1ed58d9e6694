//! postie's durable outbound spool, and the relayer loop that sends what
//! it holds.
//!
//! A message that could not be sent now (or is kept on purpose for a
//! relayer: an outbox row, `postie send --defer`) waits in a store: a
//! folder on one machine ([`folder`]), or a PostgreSQL table that many
//! hosts share ([`pg`], feature `postgres`). [`store`] is the seam both
//! stand behind: entries, claims, the durable "data is being sent" mark,
//! batches. [`Location`] says where a store is and opens it.
//!
//! [`Relayer`] is the loop `postie spool run` runs, for a service to run
//! in a thread of its own: it claims the due messages a batch at a time,
//! sends them through pools of connections (one per way of sending, made
//! by a [`MakeRoute`] the service gives: which options, and so which
//! secrets, a stored message is sent with is the host's to say), writes
//! their results together, and between batches waits for news (a
//! PostgreSQL NOTIFY) or the next message due, until told to stop.
//!
//! ```no_run
//! use std::sync::atomic::AtomicBool;
//! use std::time::Duration;
//! use postie_smtp::{Credentials, SendOptions};
//! use postie_spool::{Location, Relayer, Route, Settings};
//!
//! let store = Location::parse("/var/spool/my-service")?
//!     .open(true, Duration::from_secs(600))?
//!     .expect("made");
//! let stop = AtomicBool::new(false);
//! let mut relayer = Relayer::new(store.as_ref(), Settings::default(), |meta: &postie_spool::Meta| {
//!     // The stored transport settings (servers, TLS, extensions), with
//!     // this host's own secret.
//!     let options = SendOptions::from(meta.transport.clone())
//!         .credentials(Credentials::new("relay", "secret from the host"));
//!     Ok(Route::new(options))
//! });
//! let tally = relayer.run(&stop);
//! println!("{} sent", tally.sent);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! What the relayer cannot record it does not send: a batch's data mark is
//! written before its first message goes, leases are renewed while it
//! goes, and a store that fails stops the sending until it answers again.
#![forbid(unsafe_code)]

pub mod backoff;
mod claimed_batch;
pub mod digest;
pub mod folder;
pub mod inspect;
pub mod judge;
mod location;
pub mod meta;
pub mod metrics;
pub mod owner;
#[cfg(feature = "postgres")]
pub mod pg;
pub mod relay;
pub mod relayer;
pub mod stats;
pub mod store;
pub mod trust;

pub use judge::Failure;
pub use location::Location;
pub use meta::Meta;
pub use relay::{MakeRoute, Route};
pub use relayer::{Relayer, Report, Settings, Tally};
pub use store::SpoolStore;
