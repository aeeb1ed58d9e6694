//! The transactional outbox of postie: a message is enqueued **inside the
//! application's own PostgreSQL transaction**, as one row of the spool
//! table that `postie spool run` relayers send from. The mail goes out if
//! and only if the transaction commits: a rolled-back transaction leaves
//! no row, so nothing is sent; a committed one is sent by whichever
//! relayer claims it first, once (or, after a relayer's crash at the
//! wrong moment, left `unknown` for a person to decide: never twice).
//!
//! ```no_run
//! # #[cfg(feature = "postgres")]
//! # fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use postie_mime::Message;
//! use postie_smtp::SendOptions;
//!
//! let mut db = postgres::Client::connect("host=db user=shop dbname=shop", postgres::NoTls)?;
//! postie_outbox::migrate(&mut db)?; // or `postie spool init`, once per deployment
//!
//! let mut tx = db.transaction()?;
//! tx.execute("UPDATE orders SET state = 'shipped' WHERE id = $1", &[&42_i64])?;
//! let mut mail = Message::text("Your order 42 has shipped.");
//! mail.headers_mut().set("From", "shop@example.org")?;
//! mail.headers_mut().set("To", "customer@example.com")?;
//! mail.headers_mut().set("Subject", "Shipped")?;
//! let row = postie_outbox::Row::new(&mail, &SendOptions::new())?.account("shop", None);
//! let id = postie_outbox::enqueue(&mut tx, &row)?;
//! tx.commit()?; // the mail exists from here on; `postie spool run` sends it
//! # let _ = id; Ok(()) }
//! ```
//!
//! A row holds the message as it will be sent (Date, Message-ID and From
//! added, Bcc removed, as `postie send` would), its envelope, and how to
//! send it: the [`TransportSettings`](postie_smtp::TransportSettings) of
//! the options, which say where a secret comes from (an environment
//! variable or a file on the relayer's host, or an account of the
//! relayer's accounts file), never a secret. Relayers read credentials and
//! DKIM keys on their own hosts.
//!
//! The schema ([`MIGRATIONS`], made by [`migrate`] or `postie spool
//! init`) and the row ([`Row`], [`INSERT`]) are documented so that other
//! clients (sqlx, diesel, any language) insert rows themselves: only the
//! transport settings, the envelope and the message bytes are needed; the
//! database fills in the id, the state (`queued`), the times, the size and
//! the SHA-256 a relayer checks before sending, and wakes the relayers.
#![forbid(unsafe_code)]

#[cfg(feature = "tokio-postgres")]
mod async_client;
#[cfg(feature = "postgres")]
mod blocking_client;
mod error;
mod row;
mod schema;

#[cfg(feature = "tokio-postgres")]
pub use async_client::{enqueue_async, migrate_async};
#[cfg(feature = "postgres")]
pub use blocking_client::{enqueue, migrate};
pub use error::{EnqueueError, MigrateError};
pub use row::{Row, INSERT};
pub use schema::{latest, Migration, MIGRATE_LOCK, MIGRATIONS, NOTIFY_CHANNEL, VERSION_TABLE};
