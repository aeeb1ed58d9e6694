//! The outbox on tokio-postgres (feature `tokio-postgres`).

use tokio_postgres::GenericClient;

use crate::error::{EnqueueError, MigrateError};
use crate::row::{Row, INSERT};
use crate::schema::{self, CURRENT, MIGRATE_LOCK, MIGRATIONS, RECORD, VERSION_TABLE};

/// [`enqueue`](crate::enqueue) on tokio-postgres: inserts `row` with
/// `client` (a `Transaction` of the application's, or a `Client`);
/// returns its spool id. Nothing is sent until the transaction commits.
pub async fn enqueue_async(client: &impl GenericClient, row: &Row) -> Result<String, EnqueueError> {
    let row = client
        .query_one(INSERT, &row.params())
        .await
        .map_err(EnqueueError::Database)?;
    Ok(row.get(0))
}

/// [`migrate`](crate::migrate) on tokio-postgres.
pub async fn migrate_async(client: &mut tokio_postgres::Client) -> Result<Vec<i32>, MigrateError> {
    let db = MigrateError::Database;
    let tx = client.transaction().await.map_err(db)?;
    tx.execute(MIGRATE_LOCK, &[]).await.map_err(db)?;
    tx.batch_execute(VERSION_TABLE).await.map_err(db)?;
    let current: i32 = tx.query_one(CURRENT, &[]).await.map_err(db)?.get(0);
    if current > schema::latest() {
        return Err(MigrateError::Newer {
            found: current,
            known: schema::latest(),
        });
    }
    let mut applied = Vec::new();
    for migration in MIGRATIONS.iter().filter(|m| m.version > current) {
        tx.batch_execute(migration.sql).await.map_err(db)?;
        tx.execute(RECORD, &[&migration.version, &migration.description])
            .await
            .map_err(db)?;
        applied.push(migration.version);
    }
    tx.commit().await.map_err(db)?;
    Ok(applied)
}
