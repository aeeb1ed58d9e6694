//! [`PgStore`]: the connection, and the seam's operations on resting
//! rows ([`SpoolStore`]); claims are in [`super::claim`], new entries in
//! [`super::entry`].

use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use postgres::{Client, NoTls};

use super::super::inspect::Damage;
use super::super::meta::{Meta, Unreadable};
use super::super::owner::Owner;
use super::super::store::{Claimed, NewEntry, Place, Recovered, SpoolStore, State};
use super::{claim, entry, passfile, schema};

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

/// How long a claim holds a row before [`SpoolStore::recover`] may take it
/// back, unless renewed: longer than any one send (the lease is renewed
/// when the data mark is made ready, just before sending).
pub(crate) const DEFAULT_LEASE: Duration = Duration::from_secs(600);

/// The spool in a PostgreSQL database.
pub(crate) struct PgStore {
    /// One connection, shared with the data markers (which the send's
    /// trace callback holds on another thread).
    pub(super) client: Arc<Mutex<Client>>,
    /// Who claims: `<host>/<pid>-<start>` ([`Owner`]), in `relayer`.
    pub(super) relayer: String,
    /// How long a claim's lease lasts.
    pub(super) lease: Duration,
    /// Where the table is, for messages (no password).
    pub(super) location: String,
}

impl PgStore {
    /// Connects to `target` and brings its schema up to date. A claim
    /// holds a row for `lease` at a time.
    pub(crate) fn connect(target: &Target, lease: Duration) -> io::Result<Self> {
        let mut client = open_client(target)?;
        schema::migrate(&mut client)?;
        let table = target.schema.as_deref().map_or_else(
            || "postie_spool".to_owned(),
            |s| format!("{s}.postie_spool"),
        );
        Ok(Self {
            client: Arc::new(Mutex::new(client)),
            relayer: relayer(),
            lease,
            location: format!(
                "postgres://{}@{}:{}/{} table {table}",
                target.user, target.host, target.port, target.database
            ),
        })
    }

    /// The connection, for one statement or transaction.
    pub(super) fn client(&self) -> io::Result<MutexGuard<'_, Client>> {
        lock(&self.client)
    }

    /// Deletes the rows of messages sent longer than `kept` ago; returns
    /// how many. Sent rows are kept meanwhile so that what was sent can be
    /// looked up (they hold no message bytes).
    pub(crate) fn purge_sent(&self, kept: Duration) -> io::Result<u64> {
        let millis = i64::try_from(kept.as_millis()).unwrap_or(i64::MAX);
        self.client()?
            .execute(
                "DELETE FROM postie_spool WHERE state = 'sent' \
                 AND sent_at < now() - $1::bigint * interval '1 millisecond'",
                &[&millis],
            )
            .map_err(db_error)
    }

    /// The record and message check of the row `id` in `state`.
    fn look_at(&self, id: &str, state: &str, message: bool) -> io::Result<Result<Meta, Damage>> {
        let query = format!(
            "SELECT {META_JSON}, octet_length(message), encode(sha256(message), 'hex') \
             FROM postie_spool WHERE id = $1 AND state = $2"
        );
        let row = self
            .client()?
            .query_opt(&query, &[&id, &state])
            .map_err(db_error)?
            .ok_or_else(|| gone(id))?;
        let meta = match read_meta(row.get(0), &self.locate_id(id)) {
            Ok(meta) => meta,
            Err(damage) => return Ok(Err(damage)),
        };
        if !message {
            return Ok(Ok(meta));
        }
        let size: Option<i32> = row.get(1);
        let sha256: Option<String> = row.get(2);
        let Some(size) = size else {
            return Ok(Err(Damage::Unreadable(format!(
                "{}: the message is missing",
                self.locate_id(id)
            ))));
        };
        Ok(
            match mismatch(&meta, u64::try_from(size).unwrap_or(0), sha256.as_deref()) {
                None => Ok(meta),
                Some(reason) => Err(Damage::Mismatch(
                    Box::new(meta),
                    format!("{}: {reason}", self.locate_id(id)),
                )),
            },
        )
    }

    /// Where a person finds the row `id`.
    pub(super) fn locate_id(&self, id: &str) -> String {
        format!("{} id {id}", self.location)
    }
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
fn relayer() -> String {
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

/// `id` is not (any more) where it was asked for.
pub(super) fn gone(id: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{id} is not in the spool there (any more)"),
    )
}

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
        Err(e @ Unreadable::Newer(_)) => Err(Damage::Newer(format!("{location}: {e}"))),
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

/// [`super::super::meta::VERSION`] as the column holds it.
const FORMAT: i32 = super::super::meta::VERSION as i32;

/// A state's name in the `state` column.
pub(super) fn state_name(state: State) -> &'static str {
    state.name()
}

/// A `state` column's value as a place, with the claim's holder.
fn place(state: &str, relayer: Option<&str>) -> Option<Place> {
    Some(match state {
        "queued" => Place::At(State::Queued),
        "unknown" => Place::At(State::Unknown),
        "dead" => Place::At(State::Dead),
        "sending" => Place::Claimed(owner_of(relayer)),
        "damaged" => Place::Quarantined,
        _ => return None,
    })
}

/// The `state` column a place is.
fn state_of(place: &Place) -> &'static str {
    match place {
        Place::At(state) => state_name(*state),
        Place::Claimed(_) => "sending",
        Place::Quarantined => "damaged",
    }
}

impl SpoolStore for PgStore {
    fn create(&self) -> io::Result<Box<dyn NewEntry + '_>> {
        Ok(Box::new(entry::PgEntry::new(self)?))
    }

    fn recover(&self) -> io::Result<Vec<Recovered>> {
        // One statement: the expired claims, locked (skipping any another
        // process is taking back now), put to rest by their data mark.
        let rows = self
            .client()?
            .query(
                "UPDATE postie_spool s SET \
                   state = CASE WHEN s.data_sent_at IS NOT NULL OR s.maybe_delivered \
                           THEN 'unknown' ELSE 'queued' END, \
                   last_error = CASE WHEN s.data_sent_at IS NOT NULL AND NOT s.maybe_delivered \
                           THEN 'interrupted: the relayer sending it (' || s.relayer || \
                                ') stopped after the data went out; the server may have it' \
                           ELSE s.last_error END, \
                   maybe_delivered = s.maybe_delivered OR s.data_sent_at IS NOT NULL, \
                   claimed_from = NULL, relayer = NULL, claim = NULL, lease_until = NULL, \
                   data_sent_at = NULL \
                 FROM (SELECT id, relayer FROM postie_spool \
                       WHERE state = 'sending' AND lease_until < now() \
                       ORDER BY created, id FOR UPDATE SKIP LOCKED) expired \
                 WHERE s.id = expired.id \
                 RETURNING s.id, expired.relayer, s.state",
                &[],
            )
            .map_err(db_error)?;
        Ok(rows
            .iter()
            .map(|row| {
                let relayer: Option<&str> = row.get(1);
                let state: &str = row.get(2);
                Recovered {
                    id: row.get(0),
                    owner: owner_of(relayer),
                    state: Some(if state == "unknown" {
                        State::Unknown
                    } else {
                        State::Queued
                    }),
                    reason: None,
                }
            })
            .collect())
    }

    fn ids(&self, state: State) -> io::Result<Vec<String>> {
        let rows = self
            .client()?
            .query(
                "SELECT id FROM postie_spool WHERE state = $1 ORDER BY created, id",
                &[&state_name(state)],
            )
            .map_err(db_error)?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    fn entries(&self) -> io::Result<Vec<(String, Place)>> {
        let rows = self
            .client()?
            .query(
                "SELECT id, state, relayer FROM postie_spool WHERE state <> 'sent' \
                 ORDER BY created, id",
                &[],
            )
            .map_err(db_error)?;
        Ok(rows
            .iter()
            .filter_map(|row| Some((row.get(0), place(row.get(1), row.get(2))?)))
            .collect())
    }

    fn find(&self, id: &str) -> io::Result<Option<Place>> {
        let row = self
            .client()?
            .query_opt(
                "SELECT state, relayer FROM postie_spool WHERE id = $1",
                &[&id],
            )
            .map_err(db_error)?;
        Ok(row.and_then(|row| place(row.get(0), row.get(1))))
    }

    fn look(&self, id: &str, place: &Place, message: bool) -> io::Result<Result<Meta, Damage>> {
        self.look_at(id, state_of(place), message)
    }

    fn header(&self, id: &str, place: &Place) -> io::Result<String> {
        let row = self
            .client()?
            .query_opt(
                "SELECT message FROM postie_spool WHERE id = $1 AND state = $2",
                &[&id, &state_of(place)],
            )
            .map_err(db_error)?
            .ok_or_else(|| gone(id))?;
        let message: Option<&[u8]> = row.get(0);
        super::super::folder::header_text(message.unwrap_or_default())
    }

    fn locate(&self, id: &str, _place: &Place) -> String {
        self.locate_id(id)
    }

    fn quarantine(&self, state: State, id: &str) -> io::Result<String> {
        let moved = self
            .client()?
            .execute(
                "UPDATE postie_spool SET state = 'damaged', \
                 damage = 'moved aside from ' || state || ' as damaged' \
                 WHERE id = $1 AND state = $2",
                &[&id, &state_name(state)],
            )
            .map_err(db_error)?;
        if moved == 0 {
            return Err(gone(id));
        }
        Ok(self.locate_id(id))
    }

    fn claim(&self, state: State, id: &str) -> io::Result<Option<Box<dyn Claimed + '_>>> {
        Ok(claim::PgClaim::take(self, state, id)?.map(|claim| Box::new(claim) as Box<dyn Claimed>))
    }

    fn remove(&self, id: &str) -> io::Result<Result<(), Option<Owner>>> {
        let mut client = self.client()?;
        let deleted = client
            .execute(
                "DELETE FROM postie_spool WHERE id = $1 \
                 AND state IN ('queued', 'unknown', 'dead', 'damaged')",
                &[&id],
            )
            .map_err(db_error)?;
        if deleted > 0 {
            return Ok(Ok(()));
        }
        let holder = client
            .query_opt(
                "SELECT relayer FROM postie_spool WHERE id = $1 AND state = 'sending'",
                &[&id],
            )
            .map_err(db_error)?;
        Ok(Err(holder.map(|row| owner_of(row.get(0)))))
    }
}
