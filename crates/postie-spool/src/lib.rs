//! postie's durable outbound spool, and the relayer loop that sends what
//! it holds.
//!
//! A message that could not be sent now (or is kept on purpose for a
//! relayer: an outbox row, `postie send --defer`) waits in a store: a
//! folder on one machine ([`Location::Folder`]), or a PostgreSQL table that many
//! hosts share (`pg`, feature `postgres`). [`store`] is the seam both
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
//! use postie_smtp::{Credentials, SendOptions, TransportSettings};
//! use postie_spool::{Failure, Location, Meta, Relayer, Route, Settings};
//!
//! let store = Location::parse("/var/spool/my-service")?
//!     .open(true, Duration::from_secs(600))?
//!     .expect("made");
//! // This host's relay: where mail goes, and how (its secret is this
//! // host's too).
//! let mut relay = TransportSettings::default();
//! relay.servers = vec!["smtp.example.org".into()];
//! relay.ports = vec![587];
//! let routes = |meta: &Meta| -> Result<Route, Failure> {
//!     // Never the row's servers with this host's password: whoever wrote
//!     // the row would choose where the password goes. From the row, only
//!     // what concerns the message (the envelope and bytes are its own).
//!     let mut settings = relay.clone();
//!     settings.dsn = meta.transport.dsn.clone();
//!     let options = SendOptions::from(settings)
//!         .credentials(Credentials::new("relay", "secret from the host"));
//!     Ok(Route::new(options))
//! };
//! let stop = AtomicBool::new(false); // set by the service when it stops
//! let tally = Relayer::new(store.as_ref(), Settings::default(), routes).run(&stop);
//! println!("{} sent", tally.sent);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! What the relayer cannot record it does not send: a batch's data mark is
//! written before its first message goes, leases are renewed while it
//! goes, and a store that fails stops the sending until it answers again.
#![forbid(unsafe_code)]

// The modules marked hidden are the postie command's helpers (its spool
// commands print spans, judge attempts one at a time, check accounts
// files): public so that it can use them, not part of the stable API.
#[doc(hidden)]
pub mod backoff;
mod claimed_batch;
#[doc(hidden)]
pub mod digest;
mod folder;
#[doc(hidden)]
pub mod inspect;
#[doc(hidden)]
pub mod judge;
mod location;
pub mod meta;
pub mod metrics;
#[doc(hidden)]
pub mod owner;
#[cfg(feature = "postgres")]
pub mod pg;
pub mod relay;
pub mod relayer;
pub mod stats;
pub mod store;
#[doc(hidden)]
pub mod trust;

pub use digest::Digest;
pub use inspect::Damage;
pub use judge::Failure;
pub use location::Location;
pub use meta::Meta;
pub use owner::Owner;
pub use relay::{MakeRoute, Route};
pub use relayer::{Relayer, Report, Settings, Tally};
pub use store::SpoolStore;
