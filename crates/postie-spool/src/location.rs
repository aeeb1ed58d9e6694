//! Where a store is, parsed from a folder's path or a `postgres://` URL,
//! and the one place a store is opened.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use crate::folder::Spool;
use crate::store::SpoolStore;

/// Where a store is.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Location {
    /// The folder store at this path.
    Folder(PathBuf),
    /// The PostgreSQL store (feature `postgres`).
    #[cfg(feature = "postgres")]
    Postgres(Box<crate::pg::Target>),
}

impl Location {
    /// A store's path or URL: a `postgres://` (or `postgresql://`) URL, in
    /// any case, is the PostgreSQL store; another scheme is refused; else a
    /// folder's path. A URL holding a password is refused (the error never
    /// repeats it).
    pub fn parse(value: &str) -> Result<Self, String> {
        if is_postgres(value) {
            return postgres(value);
        }
        if let Some((scheme, _)) = value.split_once("://") {
            return Err(format!(
                "{scheme}:// is not a store: give a folder's path or a postgres:// URL"
            ));
        }
        Ok(Self::Folder(PathBuf::from(value)))
    }

    /// The default folder store, when nothing chose another:
    /// `$XDG_STATE_HOME/postie/spool`, else `~/.local/state/postie/spool`
    /// (an error when neither variable is set).
    pub fn default_folder() -> Result<Self, String> {
        crate::folder::location().map(Self::Folder)
    }

    /// Where it is, for messages (a URL without a password).
    pub fn describe(&self) -> String {
        match self {
            Self::Folder(path) => path.display().to_string(),
            #[cfg(feature = "postgres")]
            Self::Postgres(target) => target.display(),
        }
    }

    /// Opens the store, its claims holding a message for `lease` at a time
    /// (a database store's; a folder store's claims last as long as their
    /// process). Without `create`, `Ok(None)` when a folder store is not
    /// there yet (a database store is always there: opening it makes its
    /// tables, as `postie spool init` does).
    pub fn open(
        &self,
        create: bool,
        #[cfg_attr(not(feature = "postgres"), allow(unused_variables))] lease: Duration,
    ) -> io::Result<Option<Box<dyn SpoolStore>>> {
        match self {
            Self::Folder(root) => {
                if !create && std::fs::symlink_metadata(root).is_err() {
                    return Ok(None);
                }
                Ok(Some(Box::new(Spool::open(root.clone())?)))
            }
            #[cfg(feature = "postgres")]
            Self::Postgres(target) => {
                Ok(Some(Box::new(crate::pg::PgStore::connect(target, lease)?)))
            }
        }
    }
}

/// Whether `value` is a PostgreSQL URL (by its scheme, in any case).
fn is_postgres(value: &str) -> bool {
    ["postgres://", "postgresql://"].iter().any(|scheme| {
        value
            .get(..scheme.len())
            .is_some_and(|start| start.eq_ignore_ascii_case(scheme))
    })
}

#[cfg(feature = "postgres")]
fn postgres(value: &str) -> Result<Location, String> {
    // The scheme in any case, as for the other URLs (rust-postgres wants
    // it in lower case).
    let url = match value.split_once("://") {
        Some((scheme, rest)) => format!("{}://{rest}", scheme.to_ascii_lowercase()),
        None => value.to_owned(),
    };
    crate::pg::Target::from_url(&url).map(|target| Location::Postgres(Box::new(target)))
}

#[cfg(not(feature = "postgres"))]
fn postgres(_: &str) -> Result<Location, String> {
    Err(
        "a PostgreSQL store, but this postie was built without its `postgres` feature \
         (cargo install postie --features postgres); or give a folder's path"
            .to_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(value: &str) -> Result<String, String> {
        Location::parse(value).map(|store| store.describe())
    }

    #[test]
    fn a_path_is_a_folder_and_another_scheme_is_refused() {
        assert_eq!(
            parsed("/var/spool/postie").as_deref(),
            Ok("/var/spool/postie")
        );
        let error = parsed("mysql://u@h/db").unwrap_err();
        assert!(error.contains("mysql:// is not a store"), "{error}");
    }

    #[test]
    fn a_url_with_a_password_is_refused_without_repeating_it() {
        for url in [
            "postgres://alice:s3cret@db.example/mail",
            "postgresql://alice@db.example/mail?password=s3cret",
            "POSTGRES://alice:s3cret@db.example/mail",
        ] {
            let error = parsed(url).unwrap_err();
            assert!(!error.contains("s3cret"), "{error}");
            if cfg!(feature = "postgres") {
                assert!(
                    error.contains("PGPASSFILE") && error.contains("PGPASSWORD"),
                    "{error}"
                );
            } else {
                assert!(error.contains("`postgres` feature"), "{error}");
            }
        }
    }

    #[cfg(feature = "postgres")]
    #[test]
    fn a_url_names_one_database_with_libpqs_defaults() {
        assert_eq!(
            parsed("postgres://alice@db.example:6543/mail?options=-csearch_path%3Dq").as_deref(),
            Ok("postgres://alice@db.example:6543/mail")
        );
        assert_eq!(
            parsed("postgresql://alice@db.example").as_deref(),
            Ok("postgres://alice@db.example:5432/alice")
        );
        // TLS parameters rust-postgres does not know are taken out before
        // it parses the rest.
        assert_eq!(
            parsed("postgres://alice@db/mail?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem&application_name=x")
                .as_deref(),
            Ok("postgres://alice@db:5432/mail")
        );
        for (url, says) in [
            ("postgres://alice@a,b/mail", "more than one host"),
            ("postgres://alice@db/mail?sslmode=allow", "in clear first"),
            ("postgres://alice@db/mail?sslmode=verify-any", "none of"),
            ("postgres://alice@db/mail?sslrootcert=", "names no file"),
            ("postgres://alice@db:x/mail", "not a PostgreSQL URL"),
        ] {
            let error = parsed(url).unwrap_err();
            assert!(error.contains(says), "{url}: {error}");
        }
    }
}
