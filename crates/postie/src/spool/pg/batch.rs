//! A relayer's batch on PostgreSQL: the due rows claimed in one statement
//! under one claim token, their data marked in one, and their results
//! written in one transaction. Every write names the token (and the row's
//! `sending` state), so rows whose lease ran out and were taken back by
//! another process are left alone, and the data of those is never sent.

use std::io;

use postgres::types::ToSql;

use super::super::digest;
use super::super::inspect::Damage;
use super::super::judge::Disposition;
use super::super::store::{Batch, State, Taken};
use super::connect::{db_error, random_u64};
use super::record::{mismatch, read_meta, record_assignments, Columns, META_JSON};
use super::store::{state_name, PgStore};

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
        limit: usize,
        account: Option<&str>,
    ) -> io::Result<Self> {
        let token = i64::from_ne_bytes(random_u64()?.to_ne_bytes());
        let lease = store.lease_millis();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let sql = format!(
            "UPDATE postie_spool s SET state = 'sending', claimed_from = s.state, \
               relayer = $1, claim = $2, \
               lease_until = now() + $3::bigint * interval '1 millisecond', \
               data_sent_at = NULL \
             FROM (SELECT id AS due_id FROM postie_spool \
                   WHERE state = 'queued' AND next_attempt <= now() \
                     AND ($5::text IS NULL OR account = $5) \
                   ORDER BY next_attempt, created, id LIMIT $4 \
                   FOR UPDATE SKIP LOCKED) due \
             WHERE s.id = due.due_id \
             RETURNING s.id, {META_JSON}, s.message"
        );
        let rows = store
            .client()?
            .query(&sql, &[&store.relayer, &token, &lease, &limit, &account])
            .map_err(db_error)?;
        let mut taken = Vec::with_capacity(rows.len());
        let mut messages = Vec::with_capacity(rows.len());
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

    fn finish(self: Box<Self>, results: Vec<Option<Disposition>>) -> io::Result<()> {
        let mut sent = Vec::new();
        let mut back = Vec::new();
        let mut damaged = Vec::new();
        let mut rest = Vec::new();
        for (n, result) in results.into_iter().enumerate() {
            match result {
                None => {}
                Some(Disposition::Sent) => sent.push(self.taken[n].id.clone()),
                Some(Disposition::Back(_)) => back.push(self.taken[n].id.clone()),
                Some(Disposition::Quarantine) => damaged.push(self.taken[n].id.clone()),
                Some(Disposition::Rest(meta, state)) => rest.push((n, meta, state)),
            }
        }
        let expected = sent.len() + back.len() + damaged.len() + rest.len();
        let mut client = self.store.client()?;
        // One transaction: the batch's results are durable together, with
        // one commit.
        let mut tx = client.transaction().map_err(db_error)?;
        let mut changed = 0;
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
            changed += tx
                .execute(
                    &format!(
                        "UPDATE postie_spool SET {sql}, {UNCLAIM} \
                         WHERE claim = $1 AND id = ANY($2) AND state = 'sending'"
                    ),
                    &[&self.token, ids],
                )
                .map_err(db_error)?;
        }
        let assignments = record_assignments(4);
        for (n, meta, state) in &rest {
            let columns = Columns::of(meta)?;
            let state = state_name(*state);
            let mut params: Vec<&(dyn ToSql + Sync)> =
                vec![&self.taken[*n].id, &self.token, &state];
            params.extend(columns.params(meta));
            changed += tx
                .execute(
                    &format!(
                        "UPDATE postie_spool SET {assignments}, state = $3, {UNCLAIM} \
                         WHERE id = $1 AND claim = $2 AND state = 'sending'"
                    ),
                    &params,
                )
                .map_err(db_error)?;
        }
        tx.commit().map_err(db_error)?;
        let lost = u64::try_from(expected).unwrap_or(u64::MAX) - changed.min(expected as u64);
        if lost > 0 {
            return Err(io::Error::other(format!(
                "{lost} of the batch's claims were lost (their lease ran out and another process took them back): their results were not written"
            )));
        }
        Ok(())
    }
}
