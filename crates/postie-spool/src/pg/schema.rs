//! The store's tables: the migrations are postie-outbox's (the library
//! applications enqueue with, so that both always agree on the table),
//! applied here with the store's errors.

use std::io;

use postgres::Client;
use postie_outbox::MigrateError;

use super::connect::db_error;

pub(crate) use postie_outbox::{latest, NOTIFY_CHANNEL};

/// Brings the schema of the connection's `search_path` up to [`latest`];
/// returns the versions applied now (none when it was up to date). A
/// newer schema is `Unsupported` (exit 78: not used).
pub(crate) fn migrate(client: &mut Client) -> io::Result<Vec<i32>> {
    postie_outbox::migrate(client).map_err(|e| match e {
        MigrateError::Newer { .. } => io::Error::new(io::ErrorKind::Unsupported, e.to_string()),
        MigrateError::Database(e) => db_error(e),
        other => io::Error::other(other.to_string()),
    })
}
