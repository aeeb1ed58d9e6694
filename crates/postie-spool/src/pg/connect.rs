//! Connecting: where the database is ([`Target`], from a store URL with
//! no password in it), the password (`PGPASSWORD` or the password file),
//! the schema; and what every query shares (the lock on the one
//! connection, errors, who claims).

use std::io;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use postgres::config::Host;
use postgres::error::SqlState;
use postgres::Client;
use zeroize::Zeroizing;

use super::passfile;
use super::tls::{self, Mode, Roots};
use crate::owner::Owner;

/// Where the database is. No password: it comes from the password file.
#[derive(Clone, Debug)]
pub struct Target {
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
    /// TLS: the URL's `sslmode` and `sslrootcert` (rust-postgres knows
    /// neither `verify-ca`, `verify-full` nor `sslrootcert`, so they are
    /// taken out of the URL before it parses the rest).
    pub(crate) tls: tls::Settings,
}

impl Target {
    /// The target of a store URL, `postgres://ROLE@HOST[:PORT]/DB[?PARAM=VALUE&...]`
    /// (parsed by rust-postgres as libpq parses it). Refused: a password in
    /// it (the contract keeps secrets off command lines and out of files
    /// others may read), more than one host or port (the password file is
    /// looked up for one), an `sslmode` postie does not take (see
    /// docs/cli.md, "TLS to the database"). The error never repeats the URL, which may hold a
    /// password.
    pub fn from_url(text: &str) -> Result<Self, String> {
        let (rest, tls) = split_tls(text)?;
        let mut url: postgres::Config = rest
            .parse()
            .map_err(|e| format!("not a PostgreSQL URL (postgres://ROLE@HOST[:PORT]/DB): {e}"))?;
        url.ssl_mode(tls.mode.ssl_mode());
        if url.get_password().is_some() {
            return Err("the store URL holds a password: it would show in `ps`, shell histories and files others may read. \
                 Leave it out and put it in a password file (PGPASSFILE, else ~/.pgpass: HOST:PORT:DB:ROLE:PASSWORD, mode 600) \
                 or in the variable PGPASSWORD"
                .to_owned());
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
            tls,
        })
    }

    /// Where the database is, for messages: a URL without a password.
    pub fn display(&self) -> String {
        format!(
            "postgres://{}@{}:{}/{}",
            self.user, self.host, self.port, self.database
        )
    }
}

/// A store URL without its `sslmode`, `sslrootcert`, `sslcert` and
/// `sslkey` parameters, and the
/// TLS settings they give. Only the URL form
/// (`postgres://...?sslmode=...`) is read so; a `key=value` string keeps
/// them, for rust-postgres to take (`disable`, `prefer`, `require`) or
/// refuse.
fn split_tls(text: &str) -> Result<(String, tls::Settings), String> {
    let mut settings = tls::Settings::default();
    let is_url = text.starts_with("postgres://") || text.starts_with("postgresql://");
    let Some((base, query)) = text.split_once('?').filter(|_| is_url) else {
        if !is_url {
            // rust-postgres reads `sslmode` in a key=value string itself.
            let config: Result<postgres::Config, _> = text.parse();
            if let Ok(config) = config {
                settings.mode = match config.get_ssl_mode() {
                    postgres::config::SslMode::Disable => Mode::Disable,
                    postgres::config::SslMode::Require => Mode::Require,
                    _ => Mode::Prefer,
                };
            }
        }
        return Ok((text.to_owned(), settings));
    };
    let mut kept = Vec::new();
    let (mut cert, mut cert_key) = (None, None);
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "sslmode" => settings.mode = Mode::parse(&percent_decode(value)?)?,
            "sslrootcert" => {
                let value = percent_decode(value)?;
                settings.roots = match value.as_str() {
                    "" => return Err("sslrootcert names no file".to_owned()),
                    // libpq's word for the system's roots, which postie
                    // trusts anyway.
                    "system" => Roots::default(),
                    _ => Roots {
                        file: Some(PathBuf::from(value)),
                    },
                };
            }
            "sslcert" => cert = Some(PathBuf::from(percent_decode(value)?)),
            "sslkey" => cert_key = Some(PathBuf::from(percent_decode(value)?)),
            _ => kept.push(pair),
        }
    }
    settings.client = match (cert, cert_key) {
        (None, None) => None,
        (Some(cert), Some(key)) if !cert.as_os_str().is_empty() && !key.as_os_str().is_empty() => {
            if settings.mode == Mode::Disable {
                return Err(
                    "sslcert and sslkey with sslmode=disable: the certificate would never be sent"
                        .to_owned(),
                );
            }
            Some(tls::ClientCert { cert, key })
        }
        _ => {
            return Err(
                "sslcert and sslkey go together: give both files (PEM), or neither".to_owned(),
            )
        }
    };
    let rest = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((rest, settings))
}

/// A URL parameter's value with its `%XX` escapes decoded (as
/// rust-postgres decodes the others).
fn percent_decode(value: &str) -> Result<String, String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = value
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or("a bad %-escape in the store URL")?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "a store URL parameter is not UTF-8".to_owned())
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
    // A database that goes silent (a half-open connection after a network
    // partition) is noticed in about a minute rather than the kernel's
    // two hours, so that a relayer stops sending what it could not
    // record; a URL's own settings win.
    if config.get_tcp_user_timeout().is_none() {
        config.tcp_user_timeout(Duration::from_secs(60));
    }
    if config.get_keepalives_interval().is_none() {
        config
            .keepalives_idle(Duration::from_secs(30))
            .keepalives_interval(Duration::from_secs(10));
    }
    // Without a URL (the tests' targets), the mode is the target's too.
    if target.url.is_none() {
        config.ssl_mode(target.tls.mode.ssl_mode());
    }
    let connector = target.tls.connector()?;
    let mut client = config.connect(connector).map_err(db_error)?;
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
    let tls = tls_refused(&error);
    let refused = tls
        || error.code().is_some_and(|code| {
            *code == SqlState::INVALID_PASSWORD
                || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
        });
    let mut text = match error.as_db_error() {
        Some(db) => format!("database: {db}"),
        None => match std::error::Error::source(&error) {
            Some(source) => format!("database: {error}: {source}"),
            None => format!("database: {error}"),
        },
    };
    if tls {
        // What to change: the CA, or TLS off where the network is trusted.
        text.push_str(
            " (the certificate is checked against the system's CAs and the URL's \
             sslrootcert=PEM, for the host's name; sslmode=verify-ca skips the name, \
             sslmode=disable connects without TLS)",
        );
    }
    if refused {
        io::Error::new(io::ErrorKind::PermissionDenied, text)
    } else {
        io::Error::other(text)
    }
}

/// Whether `error` is TLS refused for a reason a retry does not change: a
/// certificate that does not verify, or a server without TLS when TLS is
/// required (settings to fix, as a refused login is).
fn tls_refused(error: &postgres::Error) -> bool {
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let rustls = cause
            .downcast_ref::<io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            .or_else(|| cause.downcast_ref::<rustls::Error>());
        if matches!(
            rustls,
            Some(rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented)
        ) {
            return true;
        }
        if cause.to_string() == "server does not support TLS" {
            return true;
        }
        source = cause.source();
    }
    false
}

/// 64 random bits (claim tokens, names of the claims' folders).
pub(super) fn random_u64() -> io::Result<u64> {
    getrandom::u64().map_err(|e| io::Error::other(format!("no random numbers: {e}")))
}

#[cfg(test)]
mod url_tests {
    use super::*;

    #[test]
    fn sslmode_and_sslrootcert_are_read_and_taken_out_of_the_url() {
        let target = Target::from_url(
            "postgres://a@db/m?application_name=x&sslmode=verify-ca&sslrootcert=%2Fca.pem",
        )
        .unwrap();
        assert_eq!(target.tls.mode, Mode::VerifyCa);
        assert_eq!(target.tls.roots.file, Some(PathBuf::from("/ca.pem")));
        let url = target.url.unwrap();
        assert_eq!(url.get_application_name(), Some("x"));
        assert_eq!(url.get_ssl_mode(), postgres::config::SslMode::Require);
        // No sslmode: libpq's default, prefer (verified when offered).
        let target = Target::from_url("postgres://a@db/m").unwrap();
        assert_eq!(target.tls.mode, Mode::Prefer);
        let target = Target::from_url("postgres://a@db/m?sslmode=disable").unwrap();
        assert_eq!(
            target.url.unwrap().get_ssl_mode(),
            postgres::config::SslMode::Disable
        );
        // `system`: the system's roots, which are always there.
        let target = Target::from_url("postgres://a@db/m?sslrootcert=system").unwrap();
        assert_eq!(target.tls.roots.file, None);
    }

    #[test]
    fn sslcert_and_sslkey_go_together_and_never_without_tls() {
        let target = Target::from_url(
            "postgres://a@db/m?sslcert=%2Fc%2Fclient.pem&sslkey=%2Fc%2Fclient.key&sslmode=verify-full",
        )
        .unwrap();
        assert_eq!(
            target.tls.client,
            Some(tls::ClientCert {
                cert: "/c/client.pem".into(),
                key: "/c/client.key".into(),
            })
        );
        assert_eq!(target.url.unwrap().get_hosts().len(), 1);
        for (url, says) in [
            ("postgres://a@db/m?sslcert=%2Fc.pem", "go together"),
            ("postgres://a@db/m?sslkey=%2Fc.key", "go together"),
            ("postgres://a@db/m?sslcert=&sslkey=%2Fc.key", "go together"),
            (
                "postgres://a@db/m?sslcert=%2Fc.pem&sslkey=%2Fc.key&sslmode=disable",
                "never be sent",
            ),
        ] {
            let error = Target::from_url(url).unwrap_err();
            assert!(error.contains(says), "{url}: {error}");
        }
    }
}
