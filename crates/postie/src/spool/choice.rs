//! Which store the spool is, and where: `--store PATH|URL`, else
//! `$POSTIE_SPOOL_STORE` (or `$POSTIE_SPOOL_DIR`, a folder), else the
//! account's `spool_store`, else the default folder
//! ([`folder::location`]). The first one given wins, even when it cannot
//! be used: falling through to the next would put messages where the user
//! did not say.

use std::path::PathBuf;

use super::folder;
use crate::exit;

/// A chosen store.
pub(crate) enum Store {
    /// The folder store at this path.
    Folder(PathBuf),
    /// The PostgreSQL store (feature `postgres`).
    #[cfg(feature = "postgres")]
    Postgres(Box<super::pg::Target>),
}

/// What the value of `spool_store` in an account is, by the account's
/// name: looked up only when neither the flag nor the variables chose.
pub(crate) type AccountStore<'a> = &'a dyn Fn() -> Result<Option<(String, String)>, String>;

impl Store {
    /// Where it is, for messages (a URL without a password).
    pub(crate) fn describe(&self) -> String {
        match self {
            Self::Folder(path) => path.display().to_string(),
            #[cfg(feature = "postgres")]
            Self::Postgres(target) => target.display(),
        }
    }
}

/// The store to use. `flag` is `--store`; `account` gives the account's
/// name and `spool_store`, if it has one. `Err` has the exit code (78 for
/// any store named wrongly, wherever named: the fix is a setting) and the
/// message, which names where the value came from and never repeats a URL
/// (it may hold a password).
pub(crate) fn choose(flag: Option<&str>, account: AccountStore<'_>) -> Result<Store, (u8, String)> {
    let set = |var: &str| std::env::var(var).ok().filter(|v| !v.is_empty());
    let config = |text: String| (exit::CONFIG, text);
    if let Some(value) = flag {
        return parse(value).map_err(|e| config(format!("--store: {e}")));
    }
    if let Some(value) = set("POSTIE_SPOOL_STORE") {
        return parse(&value).map_err(|e| config(format!("POSTIE_SPOOL_STORE: {e}")));
    }
    // Today's variable: a folder, whatever it holds.
    if let Some(dir) = std::env::var_os("POSTIE_SPOOL_DIR").filter(|v| !v.is_empty()) {
        return Ok(Store::Folder(PathBuf::from(dir)));
    }
    if let Some((name, value)) = account().map_err(config)? {
        return parse(&value).map_err(|e| config(format!("account {name:?}: spool_store: {e}")));
    }
    folder::location()
        .map(Store::Folder)
        .map_err(|text| (exit::OS_ERR, text))
}

/// Whether `value` is a PostgreSQL URL (by its scheme, in any case).
fn is_postgres(value: &str) -> bool {
    ["postgres://", "postgresql://"].iter().any(|scheme| {
        value
            .get(..scheme.len())
            .is_some_and(|start| start.eq_ignore_ascii_case(scheme))
    })
}

/// A store's path or URL.
fn parse(value: &str) -> Result<Store, String> {
    if is_postgres(value) {
        return postgres(value);
    }
    if let Some((scheme, _)) = value.split_once("://") {
        return Err(format!(
            "{scheme}:// is not a store: give a folder's path or a postgres:// URL"
        ));
    }
    Ok(Store::Folder(PathBuf::from(value)))
}

#[cfg(feature = "postgres")]
fn postgres(value: &str) -> Result<Store, String> {
    // The scheme in any case, as for the other URLs (rust-postgres wants
    // it in lower case).
    let url = match value.split_once("://") {
        Some((scheme, rest)) => format!("{}://{rest}", scheme.to_ascii_lowercase()),
        None => value.to_owned(),
    };
    super::pg::Target::from_url(&url).map(|target| Store::Postgres(Box::new(target)))
}

#[cfg(not(feature = "postgres"))]
fn postgres(_: &str) -> Result<Store, String> {
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
        parse(value).map(|store| store.describe())
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
