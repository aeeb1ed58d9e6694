//! A relayer's batch on PostgreSQL: the due rows claimed in one statement
//! under one claim token, their data marked in one, and their results
//! written in one transaction. Every write names the token (and the row's
//! `sending` state), so rows whose lease ran out and were taken back by
//! another process are left alone, and the data of those is never sent.

use std::io;

use postgres::types::ToSql;

use super::connect::{db_error, random_u64};
use super::record::{mismatch, read_meta, record_assignments, Columns, META_JSON};
use super::store::{state_name, PgStore};
use crate::digest;
use crate::inspect::Damage;
use crate::judge::Disposition;
use crate::store::{Batch, BatchLimit, State, Taken};

/// The newest record format this postie reads: a row of a newer one is
/// left for a newer relayer, never claimed (claiming it only to put it
/// back would wake every relayer for it again and again).
pub(super) const FORMAT_KNOWN: i32 = crate::meta::VERSION as i32;

/// The columns a claim's end clears.
const UNCLAIM: &str =
    "claimed_from = NULL, relayer = NULL, claim = NULL, lease_until = NULL, data_sent_at = NULL";

/// The rows of one batch, and their messages.
pub(crate) struct PgBatch<'a> {
    store: &'a PgStore,
    /// The token every row of the batch was claimed with.
    token: i64,
    taken: Vec<Taken>,
    messages: Vec<Vec<u8>>,
}

impl<'a> PgBatch<'a> {
    /// Claims up to `limit` queued rows due now (of `account` only, if
    /// given), the longest due first; rows another process is claiming at
    /// this moment are skipped, not waited for.
    pub(crate) fn claim_due(
        store: &'a PgStore,
        limit: BatchLimit,
        account: Option<&str>,
    ) -> io::Result<Self> {
        let token = i64::from_ne_bytes(random_u64()?.to_ne_bytes());
        let lease = store.lease_millis();
        let bytes = i64::try_from(limit.bytes).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit.messages).unwrap_or(i64::MAX);
        // The due rows locked (skipping those another relayer is taking),
        // then as many of them, in order, as fit in the byte limit (the
        // first one always: a message larger than the limit still goes,
        // alone): the batch's messages are held in memory.
        let sql = format!(
            "WITH locked AS (SELECT id, size, next_attempt, created FROM postie_spool \
                   WHERE state = 'queued' AND next_attempt <= now() AND format <= $6 \
                     AND ($5::text IS NULL OR account = $5) \
                   ORDER BY next_attempt, created, id LIMIT $4 \
                   FOR UPDATE SKIP LOCKED), \
                  due AS (SELECT id AS due_id FROM \
                   (SELECT id, sum(size) OVER w AS total, row_number() OVER w AS n FROM locked \
                    WINDOW w AS (ORDER BY next_attempt, created, id)) sized \
                   WHERE n = 1 OR total <= $7::bigint) \
             UPDATE postie_spool s SET state = 'sending', claimed_from = s.state, \
               relayer = $1, claim = $2, \
               lease_until = now() + $3::bigint * interval '1 millisecond', \
               data_sent_at = NULL \
             FROM due \
             WHERE s.id = due.due_id \
             RETURNING s.id, {META_JSON}, s.message"
        );
        let rows = store
            .client()?
            .query(
                &sql,
                &[
                    &store.relayer,
                    &token,
                    &lease,
                    &limit,
                    &account,
                    &FORMAT_KNOWN,
                    &bytes,
                ],
            )
            .map_err(db_error)?;
        let mut taken = Vec::with_capacity(rows.len());
        let mut messages = Vec::with_capacity(rows.len());
        let mut rows = rows;
        // In the order they were due (UPDATE returns them in any order);
        // ids sort by the time they were made.
        rows.sort_by_key(|row| row.get::<_, String>(0));
        for row in rows {
            let id: String = row.get(0);
            let message: Option<Vec<u8>> = row.get(2);
            let message = message.unwrap_or_default();
            let location = store.locate_id(&id);
            let meta = read_meta(row.get(1), &location).and_then(|meta| {
                let found = digest::of_bytes(&message);
                match mismatch(&meta, found.size, Some(found.sha256.as_str())) {
                    None => Ok(meta),
                    Some(reason) => Err(Damage::Mismatch(
                        Box::new(meta),
                        format!("{location}: {reason}"),
                    )),
                }
            });
            taken.push(Taken {
                id,
                from: State::Queued,
                meta,
                moved: None,
            });
            messages.push(message);
        }
        Ok(Self {
            store,
            token,
            taken,
            messages,
        })
    }

    /// The ids of the taken rows at `which`.
    fn ids(&self, which: impl Iterator<Item = usize>) -> Vec<String> {
        which.map(|n| self.taken[n].id.clone()).collect()
    }
}

impl Batch for PgBatch<'_> {
    fn taken(&self) -> &[Taken] {
        &self.taken
    }

    fn message(&self, n: usize) -> io::Result<postie_mime::Message> {
        postie_mime::Message::parse(&self.messages[n])
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))
    }

    fn mark(&mut self, which: &[usize]) -> io::Result<Vec<usize>> {
        if which.is_empty() {
            return Ok(Vec::new());
        }
        // The lease renewed with the mark, and only while it runs: after
        // it, another process may take the row back and send it.
        let ids = self.ids(which.iter().copied());
        let lease = self.store.lease_millis();
        let rows = self
            .store
            .client()?
            .query(
                "UPDATE postie_spool SET data_sent_at = now(), \
                   lease_until = now() + $3::bigint * interval '1 millisecond' \
                 WHERE claim = $1 AND id = ANY($2) AND state = 'sending' \
                   AND lease_until > now() \
                 RETURNING id",
                &[&self.token, &ids, &lease],
            )
            .map_err(db_error)?;
        let held: std::collections::HashSet<String> =
            rows.iter().map(|row| row.get::<_, String>(0)).collect();
        Ok(which
            .iter()
            .copied()
            .filter(|&n| held.contains(&self.taken[n].id))
            .collect())
    }

    fn renew(&self) -> io::Result<()> {
        // Only claims still running: one that ran out may have been taken
        // back already, and is another's now.
        let renewed = self
            .store
            .client()?
            .execute(
                "UPDATE postie_spool SET lease_until = now() + $2::bigint * interval '1 millisecond' \
                 WHERE claim = $1 AND state = 'sending' AND lease_until > now()",
                &[&self.token, &self.store.lease_millis()],
            )
            .map_err(db_error)?;
        if renewed == 0 && !self.taken.is_empty() {
            return Err(io::Error::other(
                "the batch's claims ran out and were taken back: nothing more of it is sent",
            ));
        }
        Ok(())
    }

    fn finish(&mut self, results: &[Option<Disposition>]) -> io::Result<Vec<usize>> {
        let mut sent = Vec::new();
        let mut back = Vec::new();
        let mut damaged = Vec::new();
        let mut rest = Vec::new();
        let mut expected = Vec::new();
        for (n, result) in results.iter().enumerate() {
            let id = self.taken[n].id.clone();
            match result {
                None => continue,
                Some(Disposition::Sent) => sent.push(id.clone()),
                Some(Disposition::Back(_)) => back.push(id.clone()),
                Some(Disposition::Quarantine) => damaged.push(id.clone()),
                Some(Disposition::Rest(meta, state)) => rest.push((n, meta, *state)),
            }
            expected.push((n, id));
        }
        let mut client = self.store.client()?;
        // One transaction: the batch's results are durable together, with
        // one commit; every write names the claim's token, so it can be
        // made again after a failure.
        let mut tx = client.transaction().map_err(db_error)?;
        let mut written = std::collections::HashSet::new();
        for (sql, ids) in [
            ("state = 'sent', sent_at = now(), message = NULL", &sent),
            ("state = claimed_from", &back),
            (
                "state = 'damaged', damage = 'moved aside from ' || claimed_from || ' as damaged'",
                &damaged,
            ),
        ] {
            if ids.is_empty() {
                continue;
            }
            let rows = tx
                .query(
                    &format!(
                        "UPDATE postie_spool SET {sql}, {UNCLAIM} \
                         WHERE claim = $1 AND id = ANY($2) AND state = 'sending' RETURNING id"
                    ),
                    &[&self.token, ids],
                )
                .map_err(db_error)?;
            written.extend(rows.iter().map(|row| row.get::<_, String>(0)));
        }
        let assignments = record_assignments(4);
        for (n, meta, state) in &rest {
            let columns = Columns::of(meta)?;
            let state = state_name(*state);
            let mut params: Vec<&(dyn ToSql + Sync)> =
                vec![&self.taken[*n].id, &self.token, &state];
            params.extend(columns.params(meta));
            let changed = tx
                .execute(
                    &format!(
                        "UPDATE postie_spool SET {assignments}, state = $3, {UNCLAIM} \
                         WHERE id = $1 AND claim = $2 AND state = 'sending'"
                    ),
                    &params,
                )
                .map_err(db_error)?;
            if changed > 0 {
                written.insert(self.taken[*n].id.clone());
            }
        }
        tx.commit().map_err(db_error)?;
        Ok(expected
            .into_iter()
            .filter(|(_, id)| !written.contains(id))
            .map(|(n, _)| n)
            .collect())
    }
}
