//! [`PgStore`]: the seam's operations on whole rows ([`SpoolStore`]);
//! claims are in [`super::claim`], new entries in [`super::entry`].

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use postgres::fallible_iterator::FallibleIterator;
use std::time::Duration;

use postgres::Client;

use super::connect::{db_error, lock, open_client, owner_of, relayer, Target};
use super::record::{mismatch, read_meta, META_JSON};
use super::schema::NOTIFY_CHANNEL;
use super::{batch, claim, entry, schema};
use crate::inspect::Damage;
use crate::meta::Meta;
use crate::owner::Owner;
use crate::stats::Stats;
use crate::store::{Batch, BatchLimit, Claimed, NewEntry, Place, Recovered, SpoolStore, State};

/// The spool in a PostgreSQL database.
pub struct PgStore {
    /// One connection, shared with the data markers (which the send's
    /// trace callback holds on another thread).
    pub(super) client: Arc<Mutex<Client>>,
    /// Who claims: `<host>/<pid>-<start>` ([`Owner`]), in `relayer`.
    pub(super) relayer: String,
    /// How long a claim's lease lasts.
    pub(super) lease: Duration,
    /// Where the table is, for messages (no password).
    pub(super) location: String,
    /// Where the database is, to connect again after losing it.
    target: Target,
    /// The schema the table is in: a notification for another schema's
    /// table is not news for this store.
    schema: String,
    /// Whether this connection listens for news of queued messages
    /// (`LISTEN`, made at the first wait, again after a reconnection).
    listening: AtomicBool,
}

impl PgStore {
    /// Connects to `target` and brings its schema up to date. A claim
    /// holds a row for `lease` at a time: at least a second (a shorter one
    /// would run out before a message is sent).
    pub fn connect(target: &Target, lease: Duration) -> io::Result<Self> {
        if lease < Duration::from_secs(1) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("a lease of {lease:?} holds nothing: give at least 1s"),
            ));
        }
        let mut client = open_client(target)?;
        schema::migrate(&mut client)?;
        let current: Option<String> = client
            .query_one("SELECT current_schema()", &[])
            .map_err(db_error)?
            .get(0);
        let table = target.schema.as_deref().map_or_else(
            || "postie_spool".to_owned(),
            |s| format!("{s}.postie_spool"),
        );
        Ok(Self {
            client: Arc::new(Mutex::new(client)),
            relayer: relayer(),
            lease,
            location: format!("{} table {table}", target.display()),
            target: target.clone(),
            schema: current.unwrap_or_default(),
            listening: AtomicBool::new(false),
        })
    }

    /// `postie spool init`: makes the tables of `target`, or brings them
    /// up to date; returns the migrations applied now (none when they were
    /// up to date) and the schema's version.
    pub fn init(target: &Target) -> io::Result<(Vec<i32>, i32)> {
        let mut client = open_client(target)?;
        let applied = schema::migrate(&mut client)?;
        Ok((applied, schema::latest()))
    }

    /// The connection, for one statement or transaction; a connection the
    /// database closed (a restart, a network failure) is replaced first,
    /// so that a long-running relayer outlives its database's restarts.
    /// Nothing is lost by it: every change of state is one statement or
    /// transaction, committed or not.
    pub(super) fn client(&self) -> io::Result<MutexGuard<'_, Client>> {
        let mut client = lock(&self.client)?;
        if client.is_closed() {
            *client = open_client(&self.target)?;
            self.listening.store(false, Ordering::SeqCst);
        }
        Ok(client)
    }

    /// The lease in milliseconds, as the SQL takes it.
    pub(super) fn lease_millis(&self) -> i64 {
        i64::try_from(self.lease.as_millis()).unwrap_or(i64::MAX)
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

/// `id` is not (any more) where it was asked for.
pub(super) fn gone(id: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{id} is not in the spool there (any more)"),
    )
}

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
        self.look_at(id, place.state_name(), message)
    }

    fn header(&self, id: &str, place: &Place) -> io::Result<String> {
        let row = self
            .client()?
            .query_opt(
                "SELECT message FROM postie_spool WHERE id = $1 AND state = $2",
                &[&id, &place.state_name()],
            )
            .map_err(db_error)?
            .ok_or_else(|| gone(id))?;
        let message: Option<&[u8]> = row.get(0);
        crate::folder::header_text(message.unwrap_or_default())
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

    fn claim_due(
        &self,
        limit: BatchLimit,
        _now: u64,
        account: Option<&str>,
    ) -> io::Result<Box<dyn Batch + '_>> {
        // Due by the database's clock, which every relayer shares.
        Ok(Box::new(batch::PgBatch::claim_due(self, limit, account)?))
    }

    fn next_due(&self, account: Option<&str>) -> io::Result<Option<Duration>> {
        // By the database's clock, as the claims are: a relayer whose own
        // clock is off neither spins nor oversleeps. Rows of a newer
        // format are none of this relayer's.
        let row = self
            .client()?
            .query_one(
                "SELECT (extract(epoch FROM min(next_attempt) - now()) * 1000)::bigint \
                 FROM postie_spool WHERE state = 'queued' AND format <= $1 \
                 AND ($2::text IS NULL OR account = $2)",
                &[&super::batch::FORMAT_KNOWN, &account],
            )
            .map_err(db_error)?;
        let millis: Option<i64> = row.get(0);
        // Overdue is due now (a negative wait).
        Ok(millis.map(|ms| Duration::from_millis(u64::try_from(ms).unwrap_or(0))))
    }

    fn wait(&self, limit: Duration) -> io::Result<bool> {
        let mut client = self.client()?;
        if !self.listening.load(Ordering::SeqCst) {
            // The trigger of schema version 2 notifies this channel of
            // every row that becomes queued, whoever writes it.
            client
                .batch_execute(&format!("LISTEN {NOTIFY_CHANNEL}"))
                .map_err(db_error)?;
            self.listening.store(true, Ordering::SeqCst);
        }
        let mut notifications = client.notifications();
        let ours = |n: &postgres::Notification| n.payload() == self.schema;
        let mut woken = false;
        let until = std::time::Instant::now() + limit;
        // Another schema's news does not end the wait.
        while !woken {
            let left = until.saturating_duration_since(std::time::Instant::now());
            match notifications.timeout_iter(left).next().map_err(db_error)? {
                Some(note) => woken = ours(&note),
                None => break,
            }
        }
        // One wake for everything already there.
        while let Some(note) = notifications.iter().next().map_err(db_error)? {
            woken |= ours(&note);
        }
        Ok(woken)
    }

    fn shared(&self) -> bool {
        true
    }

    fn lease(&self) -> Option<Duration> {
        Some(self.lease)
    }

    fn stats(&self) -> io::Result<Stats> {
        // One statement, one snapshot: the states by the index on state.
        let rows = self
            .client()?
            .query(
                "SELECT state, count(*), \
                   floor(extract(epoch FROM now() - min(created)))::bigint, \
                   count(*) FILTER (WHERE sent_at > now() - interval '1 minute'), \
                   count(*) FILTER (WHERE sent_at > now() - interval '1 hour'), \
                   count(*) FILTER (WHERE state <> 'sent' AND (attempts > 0 OR dead_reason IS NOT NULL) \
                                    AND last_attempt > now() - interval '1 minute'), \
                   count(*) FILTER (WHERE state <> 'sent' AND (attempts > 0 OR dead_reason IS NOT NULL) \
                                    AND last_attempt > now() - interval '1 hour') \
                 FROM postie_spool GROUP BY state",
                &[],
            )
            .map_err(db_error)?;
        let mut stats = Stats::empty(Some((0, 0)));
        for row in rows {
            let state: &str = row.get(0);
            let count = |n: usize| u64::try_from(row.get::<_, i64>(n)).unwrap_or(0);
            if let Some(slot) = stats.states.iter_mut().find(|(name, _, _)| *name == state) {
                slot.1 = count(1);
                slot.2 = row
                    .get::<_, Option<i64>>(2)
                    .map(|age| u64::try_from(age).unwrap_or(0));
            }
            if let Some(sent) = &mut stats.sent {
                sent.0 += count(3);
                sent.1 += count(4);
            }
            stats.failed.0 += count(5);
            stats.failed.1 += count(6);
        }
        Ok(stats)
    }

    fn purge_sent(&self, kept: Duration) -> io::Result<u64> {
        // Sent rows are kept meanwhile so that what was sent can be
        // looked up (they hold no message bytes).
        let millis = i64::try_from(kept.as_millis()).unwrap_or(i64::MAX);
        self.client()?
            .execute(
                "DELETE FROM postie_spool WHERE state = 'sent' \
                 AND sent_at < now() - $1::bigint * interval '1 millisecond'",
                &[&millis],
            )
            .map_err(db_error)
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
