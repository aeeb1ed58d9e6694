//! Connecting: where the database is ([`Target`]), the password from the
//! password file, the schema; and what every query shares (the lock on
//! the one connection, errors, who claims).

use std::io;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use postgres::{Client, NoTls};

use super::super::owner::Owner;
use super::passfile;

/// Where the database is. No password: it comes from the password file.
#[derive(Clone, Debug)]
pub(crate) struct Target {
    /// Host name or address.
    pub(crate) host: String,
    /// Port.
    pub(crate) port: u16,
    /// Database.
    pub(crate) database: String,
    /// Role.
    pub(crate) user: String,
    /// The password file; `None`: `$PGPASSFILE`, else `~/.pgpass`.
    pub(crate) passfile: Option<PathBuf>,
    /// The schema the tables are in; `None`: the role's `search_path`.
    pub(crate) schema: Option<String>,
}

/// A connection to `target`, its password from the password file, its
/// `search_path` the target's schema.
pub(super) fn open_client(target: &Target) -> io::Result<Client> {
    let mut config = postgres::Config::new();
    config
        .host(&target.host)
        .port(target.port)
        .dbname(&target.database)
        .user(&target.user)
        .application_name("postie")
        .connect_timeout(Duration::from_secs(10));
    if let Some(path) = passfile::location(target.passfile.as_deref()) {
        let lookup = passfile::Lookup {
            host: &target.host,
            port: target.port,
            database: &target.database,
            user: &target.user,
        };
        if let Some(password) = passfile::password(&path, &lookup)? {
            config.password(password.as_bytes());
        }
    }
    let mut client = config.connect(NoTls).map_err(db_error)?;
    if let Some(schema) = &target.schema {
        // A parameter, not SQL text: any schema name is safe.
        client
            .execute("SELECT set_config('search_path', $1, false)", &[schema])
            .map_err(db_error)?;
    }
    Ok(client)
}

/// This process, as the claims name it: the host name and the [`Owner`].
pub(super) fn relayer() -> String {
    let uname = rustix::system::uname();
    let host = uname.nodename().to_string_lossy();
    format!("{host}/{}", Owner::me())
}

/// The [`Owner`] in a `relayer` value; a claim written by another program
/// (no `/<pid>-<start>`) shows as process 0.
pub(super) fn owner_of(relayer: Option<&str>) -> Owner {
    let parsed = relayer
        .and_then(|r| r.rsplit_once('/'))
        .and_then(|(_, owner)| Owner::parse(owner));
    parsed.unwrap_or_else(|| Owner::parse("0-0").unwrap_or_else(Owner::me))
}

/// The shared connection locked; a poisoned lock (a panic while it was
/// held) is an error, not a panic here too.
pub(super) fn lock(client: &Mutex<Client>) -> io::Result<MutexGuard<'_, Client>> {
    client
        .lock()
        .map_err(|_| io::Error::other("the database connection was lost to a panic"))
}

/// A database error as an I/O error, with the server's message.
pub(crate) fn db_error(error: postgres::Error) -> io::Error {
    let text = match error.as_db_error() {
        Some(db) => format!("database: {db}"),
        None => match std::error::Error::source(&error) {
            Some(source) => format!("database: {error}: {source}"),
            None => format!("database: {error}"),
        },
    };
    io::Error::other(text)
}

/// 64 random bits (claim tokens, names of the claims' folders).
pub(super) fn random_u64() -> io::Result<u64> {
    getrandom::u64().map_err(|e| io::Error::other(format!("no random numbers: {e}")))
}
