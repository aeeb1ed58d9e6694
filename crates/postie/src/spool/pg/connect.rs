//! Connecting: where the database is ([`Target`], from a store URL with
//! no password in it), the password (`PGPASSWORD` or the password file),
//! the schema; and what every query shares (the lock on the one
//! connection, errors, who claims).

use std::io;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use postgres::config::{Host, SslMode};
use postgres::error::SqlState;
use postgres::{Client, NoTls};
use zeroize::Zeroizing;

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
    /// The schema the tables are in; `None`: the role's `search_path`
    /// (or the URL's `options=-csearch_path=...`).
    pub(crate) schema: Option<String>,
    /// The store URL as parsed, carried whole into every connection: its
    /// other parameters (`options`, `application_name`,
    /// `connect_timeout`, keepalives...) are the user's. Never a password
    /// ([`Target::from_url`] refuses one). `None`: from the fields above.
    pub(crate) url: Option<postgres::Config>,
}

impl Target {
    /// The target of a store URL, `postgres://ROLE@HOST[:PORT]/DB[?PARAM=VALUE&...]`
    /// (parsed by rust-postgres as libpq parses it). Refused: a password in
    /// it (the contract keeps secrets off command lines and out of files
    /// others may read), more than one host or port (the password file is
    /// looked up for one), and `sslmode=require` (TLS to the database is not
    /// there yet: refused rather than sent in clear). The error never
    /// repeats the URL, which may hold a password.
    pub(crate) fn from_url(text: &str) -> Result<Self, String> {
        let url: postgres::Config = text
            .parse()
            .map_err(|e| format!("not a PostgreSQL URL (postgres://ROLE@HOST[:PORT]/DB): {e}"))?;
        if url.get_password().is_some() {
            return Err("the store URL holds a password: it would show in `ps`, shell histories and files others may read. \
                 Leave it out and put it in a password file (PGPASSFILE, else ~/.pgpass: HOST:PORT:DB:ROLE:PASSWORD, mode 600) \
                 or in the variable PGPASSWORD"
                .to_owned());
        }
        if url.get_ssl_mode() == SslMode::Require {
            return Err(
                "sslmode=require: this postie does not speak TLS to the database yet; \
                 reach it over loopback, a Unix socket or a tunnel (sslmode=disable)"
                    .to_owned(),
            );
        }
        let host = match url.get_hosts() {
            [Host::Tcp(host)] => host.clone(),
            [Host::Unix(path)] => path.display().to_string(),
            [] => {
                return Err(
                    "the store URL names no host (postgres://ROLE@HOST[:PORT]/DB)".to_owned(),
                )
            }
            _ => return Err("the store URL names more than one host: give one".to_owned()),
        };
        let port = match url.get_ports() {
            [] => 5432,
            [port] => *port,
            _ => return Err("the store URL names more than one port: give one".to_owned()),
        };
        // As libpq: the role defaults to the login name, the database to
        // the role.
        let user = match url.get_user() {
            Some(user) => user.to_owned(),
            None => ["USER", "LOGNAME"]
                .iter()
                .find_map(|var| std::env::var(var).ok().filter(|v| !v.is_empty()))
                .ok_or(
                    "the store URL names no role (postgres://ROLE@HOST/DB), and USER is not set",
                )?,
        };
        let database = url.get_dbname().unwrap_or(&user).to_owned();
        Ok(Self {
            host,
            port,
            database,
            user,
            passfile: None,
            schema: None,
            url: Some(url),
        })
    }

    /// Where the database is, for messages: a URL without a password.
    pub(crate) fn display(&self) -> String {
        format!(
            "postgres://{}@{}:{}/{}",
            self.user, self.host, self.port, self.database
        )
    }
}

/// The password for `target`: from the password file the target names,
/// else `PGPASSWORD`, else `$PGPASSFILE` or `~/.pgpass` (libpq's order,
/// with a file named outright first: it is the most particular).
fn password(target: &Target) -> io::Result<Option<Zeroizing<String>>> {
    if target.passfile.is_none() {
        if let Some(password) = std::env::var("PGPASSWORD").ok().filter(|p| !p.is_empty()) {
            return Ok(Some(Zeroizing::new(password)));
        }
    }
    let Some(path) = passfile::location(target.passfile.as_deref()) else {
        return Ok(None);
    };
    let lookup = passfile::Lookup {
        host: &target.host,
        port: target.port,
        database: &target.database,
        user: &target.user,
    };
    passfile::password(&path, &lookup)
}

/// A connection to `target`, its password from the password file, its
/// `search_path` the target's schema.
pub(super) fn open_client(target: &Target) -> io::Result<Client> {
    let mut config = match &target.url {
        Some(url) => url.clone(),
        None => {
            let mut config = postgres::Config::new();
            config.host(&target.host).port(target.port);
            config
        }
    };
    config.dbname(&target.database).user(&target.user);
    if config.get_application_name().is_none() {
        config.application_name("postie");
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(10));
    }
    if let Some(password) = password(target)? {
        config.password(password.as_bytes());
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

/// A database error as an I/O error, with the server's message; a refused
/// login is `PermissionDenied` (a setting to fix, exit 78, not a failure
/// to retry).
pub(crate) fn db_error(error: postgres::Error) -> io::Error {
    let refused = error.code().is_some_and(|code| {
        *code == SqlState::INVALID_PASSWORD
            || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
    });
    let text = match error.as_db_error() {
        Some(db) => format!("database: {db}"),
        None => match std::error::Error::source(&error) {
            Some(source) => format!("database: {error}: {source}"),
            None => format!("database: {error}"),
        },
    };
    if refused {
        io::Error::new(io::ErrorKind::PermissionDenied, text)
    } else {
        io::Error::other(text)
    }
}

/// 64 random bits (claim tokens, names of the claims' folders).
pub(super) fn random_u64() -> io::Result<u64> {
    getrandom::u64().map_err(|e| io::Error::other(format!("no random numbers: {e}")))
}
