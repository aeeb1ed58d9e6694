//! The record ([`Meta`], the folder store's `meta.json`) as the row's
//! columns: written column by column, so that other programs can read the
//! table, and read back through `Meta::from_json`, so that a row gets the
//! checks a `meta.json` gets.

use std::io;

use crate::inspect::Damage;
use crate::meta::{Meta, Unreadable};

/// The record as `meta.json` would hold it, built in SQL from the columns
/// (`config` and `account` may be null; times in whole seconds).
pub(super) const META_JSON: &str = "jsonb_build_object(\
    'version', format, 'id', id, \
    'created', floor(extract(epoch FROM created))::bigint, \
    'account', account, 'config', config, 'transport', transport, \
    'reverse_path', reverse_path, 'recipients', to_jsonb(recipients), \
    'size', size, 'sha256', sha256, 'attempts', attempts, \
    'next_attempt', floor(extract(epoch FROM next_attempt))::bigint, \
    'last_attempt', floor(extract(epoch FROM last_attempt))::bigint, \
    'last_error', last_error, 'maybe_delivered', maybe_delivered, \
    'dead_reason', dead_reason)::text";

/// The record read back, with the checks `meta.json` gets.
pub(super) fn read_meta(json: String, location: &str) -> Result<Meta, Damage> {
    match Meta::from_json(json.as_bytes()) {
        Ok(meta) => Ok(meta),
        Err(e @ (Unreadable::Newer(_) | Unreadable::NeedsCommand)) => {
            Err(Damage::Newer(format!("{location}: {e}")))
        }
        Err(e @ Unreadable::Damaged(_)) => Err(Damage::Unreadable(format!("{location}: {e}"))),
    }
}

/// Why a message of `size` bytes with hash `sha256` is not what `meta`
/// kept, or `None` when it is.
pub(super) fn mismatch(meta: &Meta, size: u64, sha256: Option<&str>) -> Option<String> {
    if size != meta.size {
        return Some(format!(
            "the message is {size} bytes but {} were kept: damaged, not sent",
            meta.size
        ));
    }
    match (&meta.sha256, sha256) {
        (Some(kept), Some(found)) if !kept.eq_ignore_ascii_case(found) => Some(
            "the message does not have the SHA-256 it was kept with: changed or damaged, not sent"
                .to_owned(),
        ),
        _ => None,
    }
}

/// The record's columns as parameters, in the order of [`RECORD`].
pub(super) struct Columns {
    config: Option<String>,
    transport: String,
    size: i64,
    attempts: i32,
    created: i64,
    next_attempt: i64,
    last_attempt: i64,
}

/// The record's columns, each with the SQL its parameter goes through
/// (`$` stands for the parameter), in the order of [`Columns::params`].
const RECORD: [(&str, &str); 15] = [
    ("format", "$"),
    ("created", "to_timestamp($::bigint)"),
    ("account", "$"),
    ("config", "$"),
    ("transport", "$::text::jsonb"),
    ("reverse_path", "$"),
    ("recipients", "$"),
    ("size", "$"),
    ("sha256", "$"),
    ("attempts", "$"),
    ("next_attempt", "to_timestamp($::bigint)"),
    ("last_attempt", "to_timestamp($::bigint)"),
    ("last_error", "$"),
    ("maybe_delivered", "$"),
    ("dead_reason", "$"),
];

/// The record's values for SQL, its parameters numbered from `$first`.
fn record_values(first: usize) -> impl Iterator<Item = (&'static str, String)> {
    RECORD
        .iter()
        .enumerate()
        .map(move |(n, (name, value))| (*name, value.replace('$', &format!("${}", first + n))))
}

/// `column = value, ...` of the record, its parameters from `$first`.
pub(super) fn record_assignments(first: usize) -> String {
    record_values(first)
        .map(|(name, value)| format!("{name} = {value}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The record's column names, and their values from `$first`, for an
/// INSERT.
pub(super) fn record_insert(first: usize) -> (String, String) {
    let (names, values): (Vec<&str>, Vec<String>) = record_values(first).unzip();
    (names.join(", "), values.join(", "))
}

impl Columns {
    /// The columns of `meta`; an error for what a column cannot hold.
    pub(super) fn of(meta: &Meta) -> io::Result<Self> {
        let big = |n: u64, what: &str| {
            i64::try_from(n).map_err(|_| {
                io::Error::new(io::ErrorKind::InvalidData, format!("{what} too large"))
            })
        };
        let config = match &meta.config {
            None => None,
            Some(path) => Some(
                path.to_str()
                    .ok_or_else(|| {
                        io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!("{}: not UTF-8, cannot be kept", path.display()),
                        )
                    })?
                    .to_owned(),
            ),
        };
        Ok(Self {
            config,
            transport: serde_json::to_string(&meta.transport).map_err(io::Error::other)?,
            size: big(meta.size, "size")?,
            attempts: i32::try_from(meta.attempts).unwrap_or(i32::MAX),
            created: big(meta.created, "created")?,
            next_attempt: big(meta.next_attempt, "next_attempt")?,
            last_attempt: big(meta.last_attempt, "last_attempt")?,
        })
    }

    /// The parameters of [`RECORD`]. The format is this postie's:
    /// an older record read back has its transport filled in already.
    pub(super) fn params<'a>(
        &'a self,
        meta: &'a Meta,
    ) -> [&'a (dyn postgres::types::ToSql + Sync); 15] {
        [
            &FORMAT,
            &self.created,
            &meta.account,
            &self.config,
            &self.transport,
            &meta.reverse_path,
            &meta.recipients,
            &self.size,
            &meta.sha256,
            &self.attempts,
            &self.next_attempt,
            &self.last_attempt,
            &meta.last_error,
            &meta.maybe_delivered,
            &meta.dead_reason,
        ]
    }
}

/// [`crate::meta::VERSION`] as the column holds it.
const FORMAT: i32 = crate::meta::VERSION as i32;
