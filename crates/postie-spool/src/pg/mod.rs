//! The PostgreSQL store: the spool as one table that any number of hosts
//! share, behind the same seam as the folder store ([`super::store`]).
//!
//! Each message is one row of `postie_spool` (`schema` makes and
//! migrates it), in one of the states of the spool's state table:
//!
//! ```text
//! state     the folder store's     what the row holds besides the record
//! queued    queue/                 -
//! sending   active/<id>.<owner>    claimed_from, relayer, claim, lease_until,
//!                                  data_sent_at (the "data is being sent" mark)
//! unknown   unknown/               -
//! dead      dead/                  dead_reason
//! damaged   quarantine/            damage
//! sent      (deleted)              sent_at; the message bytes are dropped
//! ```
//!
//! Every change of state is one statement, so one transaction: durable
//! when the call returns, as a rename and an fsync are in the folder
//! store. A claim is `FOR UPDATE SKIP LOCKED` with a lease instead of a
//! rename with the owner's pid: of two processes (on any hosts) claiming
//! one row, only one gets it, and a claim whose holder stopped renewing it
//! is taken back by [`SpoolStore::recover`](super::store::SpoolStore::recover)
//! once its lease has run out (to `unknown` if the data mark is set, else
//! to `queued`). Every write through a claim names the claim's random
//! token, so a holder whose lease was taken back can change nothing.
//!
//! The record is the folder store's `meta.json` ([`Meta`](super::meta::Meta)),
//! spread over columns so that other programs can read and (later) insert
//! rows; it is read back through `Meta::from_json`, so the same checks
//! apply (a newer format, a password source a kept message may not have).
//! No secret is stored: `transport` says where a secret comes from.
//!
//! The connection is TCP, with TLS through rustls (`tls`) as the URL's
//! `sslmode` says (verified certificates only), or a Unix socket.
//! Passwords come from `PGPASSWORD` or a password file (`passfile`),
//! never from a URL or a command line: [`Target::from_url`] refuses a URL
//! holding one.
#![forbid(unsafe_code)]

mod batch;
mod claim;
mod connect;
mod entry;
mod passfile;
mod record;
mod schema;
mod store;
#[cfg(test)]
mod tests;
mod tls;

pub use connect::Target;
pub use store::PgStore;
