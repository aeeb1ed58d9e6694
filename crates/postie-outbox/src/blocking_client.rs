//! The outbox on the `postgres` crate's blocking client (feature
//! `postgres`).

use postgres::GenericClient;

use crate::error::{EnqueueError, MigrateError};
use crate::row::{Row, INSERT};
use crate::schema::{self, CURRENT, MIGRATE_LOCK, MIGRATIONS, RECORD, VERSION_TABLE};

/// Inserts `row` with `client` (a `Transaction` of the application's, or a
/// `Client`: then it is committed at once) into `postie_spool` of the
/// `search_path`; returns its spool id. Nothing is sent until the
/// transaction commits, and nothing at all if it rolls back.
pub fn enqueue(client: &mut impl GenericClient, row: &Row) -> Result<String, EnqueueError> {
    let row = client
        .query_one(INSERT, &row.params())
        .map_err(EnqueueError::Database)?;
    Ok(row.get(0))
}

/// Brings the schema of the connection's `search_path` up to
/// [`schema::latest`], in one transaction; returns the versions applied
/// now (none when it was up to date).
pub fn migrate(client: &mut postgres::Client) -> Result<Vec<i32>, MigrateError> {
    let db = MigrateError::Database;
    let mut tx = client.transaction().map_err(db)?;
    tx.execute(MIGRATE_LOCK, &[]).map_err(db)?;
    tx.batch_execute(VERSION_TABLE).map_err(db)?;
    let current: i32 = tx.query_one(CURRENT, &[]).map_err(db)?.get(0);
    if current > schema::latest() {
        return Err(MigrateError::Newer {
            found: current,
            known: schema::latest(),
        });
    }
    let mut applied = Vec::new();
    for migration in MIGRATIONS.iter().filter(|m| m.version > current) {
        tx.batch_execute(migration.sql).map_err(db)?;
        tx.execute(RECORD, &[&migration.version, &migration.description])
            .map_err(db)?;
        applied.push(migration.version);
    }
    tx.commit().map_err(db)?;
    Ok(applied)
}
