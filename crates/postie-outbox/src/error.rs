//! What can go wrong making a row, inserting it, or migrating the schema.

/// The database client's error (both clients share it).
#[cfg(feature = "tokio-postgres")]
pub(crate) type DbError = tokio_postgres::Error;
/// The database client's error.
#[cfg(all(feature = "postgres", not(feature = "tokio-postgres")))]
pub(crate) type DbError = postgres::Error;

/// A statement parameter of the database client.
#[cfg(feature = "tokio-postgres")]
pub(crate) type Param = dyn tokio_postgres::types::ToSql + Sync;
/// A statement parameter of the database client.
#[cfg(all(feature = "postgres", not(feature = "tokio-postgres")))]
pub(crate) type Param = dyn postgres::types::ToSql + Sync;

/// Why a message was not enqueued. Nothing was inserted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EnqueueError {
    /// The message or the options break a rule of the send (no recipient,
    /// an address that does not parse, a header option that is refused).
    #[error("the message cannot be sent as given: {0}")]
    Invalid(#[from] postie_smtp::InvalidInput),
    /// The message could not be serialized (a body read from a file that
    /// cannot be read).
    #[error("the message cannot be written: {0}")]
    Write(#[source] postie_mime::Error),
    /// The settings name a secret a relayer cannot read on its host.
    #[error("{0}")]
    Secret(String),
    /// The settings could not be stored as JSON.
    #[error("the transport settings cannot be stored: {0}")]
    Settings(#[source] serde_json::Error),
    /// The insert failed (the transaction is then aborted, as after any
    /// failed statement: roll it back).
    #[cfg(any(feature = "postgres", feature = "tokio-postgres"))]
    #[error("the outbox row could not be inserted: {0}")]
    Database(#[source] DbError),
}

/// Why the schema was not brought up to date. Nothing was changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MigrateError {
    /// The schema is newer than this library knows: it may hold states
    /// this version would mishandle, so it is not used.
    #[error("the spool's schema is version {found}, newer than this postie's {known}: not used")]
    Newer {
        /// The schema's version.
        found: i32,
        /// The newest this library knows.
        known: i32,
    },
    /// A statement failed.
    #[cfg(any(feature = "postgres", feature = "tokio-postgres"))]
    #[error("the spool's schema could not be migrated: {0}")]
    Database(#[source] DbError),
}
