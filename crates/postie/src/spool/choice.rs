//! Which store the spool is, and where: `--store PATH|URL`, else
//! `$POSTIE_SPOOL_STORE` (or `$POSTIE_SPOOL_DIR`, a folder), else the
//! account's `spool_store`, else the default folder
//! ([`Store::default_folder`]). The first one given wins, even when it cannot
//! be used: falling through to the next would put messages where the user
//! did not say.

use std::path::PathBuf;

use crate::exit;

/// A chosen store: where it is.
pub(crate) use postie_spool::Location as Store;

/// What the value of `spool_store` in an account is, by the account's
/// name: looked up only when neither the flag nor the variables chose.
pub(crate) type AccountStore<'a> = &'a dyn Fn() -> Result<Option<(String, String)>, String>;

/// The store to use. `flag` is `--store`; `account` gives the account's
/// name and `spool_store`, if it has one. `Err` has the exit code (78 for
/// any store named wrongly, wherever named: the fix is a setting) and the
/// message, which names where the value came from and never repeats a URL
/// (it may hold a password).
pub(crate) fn choose(flag: Option<&str>, account: AccountStore<'_>) -> Result<Store, (u8, String)> {
    let set = |var: &str| std::env::var(var).ok().filter(|v| !v.is_empty());
    let config = |text: String| (exit::CONFIG, text);
    if let Some(value) = flag {
        return Store::parse(value).map_err(|e| config(format!("--store: {e}")));
    }
    if let Some(value) = set("POSTIE_SPOOL_STORE") {
        return Store::parse(&value).map_err(|e| config(format!("POSTIE_SPOOL_STORE: {e}")));
    }
    // Today's variable: a folder, whatever it holds.
    if let Some(dir) = std::env::var_os("POSTIE_SPOOL_DIR").filter(|v| !v.is_empty()) {
        return Ok(Store::Folder(PathBuf::from(dir)));
    }
    if let Some((name, value)) = account().map_err(config)? {
        return Store::parse(&value)
            .map_err(|e| config(format!("account {name:?}: spool_store: {e}")));
    }
    Store::default_folder().map_err(|text| (exit::OS_ERR, text))
}
