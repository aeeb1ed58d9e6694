//! A claimed row: taken with `FOR UPDATE SKIP LOCKED` and a lease, and
//! every later write made only while the row is still this claim's (its
//! `claim` token), so a holder whose lease ran out and was taken back
//! changes nothing and sends nothing.
//!
//! The seam sends from a file ([`Claimed::message_file`]), so the claim
//! writes the message into a private folder of its own under the temporary
//! directory (mode 0700, the file 0600, made with `O_EXCL`), removed when
//! the claim ends.

use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use postgres::Client;

use super::connect::{db_error, lock, random_u64};
use super::record::{mismatch, read_meta, record_assignments, Columns, META_JSON};
use super::store::{gone, state_name, PgStore};
use crate::inspect::Damage;
use crate::meta::Meta;
use crate::store::{Claimed, DataMarker, State};

/// A row this process has claimed.
pub(crate) struct PgClaim<'a> {
    store: &'a PgStore,
    id: String,
    /// The claim's token: every write below names it.
    token: i64,
    /// The folder holding the message file.
    dir: PathBuf,
}

/// What a write through a lost claim says.
fn lost(id: &str) -> io::Error {
    io::Error::other(format!(
        "{id}: the claim is lost (its lease ran out and it was taken back): nothing changed"
    ))
}

impl<'a> PgClaim<'a> {
    /// Claims `id` resting in `state`: `None` when it is not there, or
    /// another process is claiming it at this moment (its row is locked;
    /// it is skipped, not waited for).
    pub(crate) fn take(store: &'a PgStore, state: State, id: &str) -> io::Result<Option<Self>> {
        let token = i64::from_ne_bytes(random_u64()?.to_ne_bytes());
        let lease = store.lease_millis();
        let row = store
            .client()?
            .query_opt(
                "UPDATE postie_spool s SET state = 'sending', claimed_from = s.state, \
                   relayer = $3, claim = $4, \
                   lease_until = now() + $5::bigint * interval '1 millisecond', \
                   data_sent_at = NULL \
                 FROM (SELECT id FROM postie_spool WHERE id = $1 AND state = $2 \
                       FOR UPDATE SKIP LOCKED) free \
                 WHERE s.id = free.id \
                 RETURNING s.message",
                &[&id, &state_name(state), &store.relayer, &token, &lease],
            )
            .map_err(db_error)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let message: Option<Vec<u8>> = row.get(0);
        let mut claim = Self {
            store,
            id: id.to_owned(),
            token,
            dir: PathBuf::new(),
        };
        // The file to send from; where it cannot be written the row goes
        // straight back (nothing was sent).
        match write_message_file(id, message.as_deref().unwrap_or_default()) {
            Ok(dir) => {
                claim.dir = dir;
                Ok(Some(claim))
            }
            Err(e) => {
                let _ = Box::new(claim).release(state);
                Err(e)
            }
        }
    }

    /// Runs `sql` (with `$1` the id and `$2` the token, then `params`) on
    /// the row while it is this claim's; an error when it is not.
    fn update(&self, sql: &str, params: &[&(dyn postgres::types::ToSql + Sync)]) -> io::Result<()> {
        let mut all: Vec<&(dyn postgres::types::ToSql + Sync)> = vec![&self.id, &self.token];
        all.extend_from_slice(params);
        let changed = self
            .store
            .client()?
            .execute(
                &format!("UPDATE postie_spool SET {sql} WHERE id = $1 AND claim = $2 AND state = 'sending'"),
                &all,
            )
            .map_err(db_error)?;
        if changed == 0 {
            return Err(lost(&self.id));
        }
        Ok(())
    }

    /// Puts the row to rest as `state` with its claim cleared (`extra`:
    /// more `column = value` settings).
    fn finish(&self, state: &str, extra: &str) -> io::Result<()> {
        self.update(
            &format!(
                "state = $3, claimed_from = NULL, relayer = NULL, claim = NULL, \
                 lease_until = NULL, data_sent_at = NULL{extra}"
            ),
            &[&state],
        )
    }
}

impl Drop for PgClaim<'_> {
    fn drop(&mut self) {
        if !self.dir.as_os_str().is_empty() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Writes `message` into a new private folder; returns the folder.
fn write_message_file(id: &str, message: &[u8]) -> io::Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    let random = random_u64()?;
    let dir = std::env::temp_dir().join(format!("postie-pg-{id}-{random:016x}"));
    // Never one that exists: a folder someone planted is not used.
    std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
    let written = crate::trust::create_new(&dir.join(MESSAGE)).and_then(|mut file| {
        file.write_all(message)?;
        file.flush()
    });
    if let Err(e) = written {
        let _ = std::fs::remove_dir_all(&dir);
        return Err(e);
    }
    Ok(dir)
}

/// The message file's name in the claim's folder.
const MESSAGE: &str = "message.eml";

impl Claimed for PgClaim<'_> {
    fn check(&self) -> io::Result<Result<Meta, Damage>> {
        let row = self
            .store
            .client()?
            .query_opt(
                &format!("SELECT {META_JSON} FROM postie_spool WHERE id = $1 AND claim = $2"),
                &[&self.id, &self.token],
            )
            .map_err(db_error)?
            .ok_or_else(|| gone(&self.id))?;
        let meta = match read_meta(row.get(0), &self.store.locate_id(&self.id)) {
            Ok(meta) => meta,
            Err(damage) => return Ok(Err(damage)),
        };
        // The file that will be sent, against the record.
        let found = crate::digest::of_file(&self.message_file())?;
        Ok(
            match mismatch(&meta, found.size, Some(found.sha256.as_str())) {
                None => Ok(meta),
                Some(reason) => Err(Damage::Mismatch(
                    Box::new(meta),
                    format!("{}: {reason}", self.store.locate_id(&self.id)),
                )),
            },
        )
    }

    fn message_file(&self) -> PathBuf {
        self.dir.join(MESSAGE)
    }

    fn save(&self, meta: &Meta) -> io::Result<()> {
        let columns = Columns::of(meta)?;
        // $1 and $2 are the id and the token.
        self.update(&record_assignments(3), &columns.params(meta))
    }

    fn prepare_marker(&self) -> io::Result<Box<dyn DataMarker>> {
        // The lease renewed now, just before the attempt: a lost database
        // or claim is found here, before anything is sent.
        let lease = self.store.lease_millis();
        self.update(
            "lease_until = now() + $3::bigint * interval '1 millisecond'",
            &[&lease],
        )?;
        Ok(Box::new(PgMarker {
            client: Arc::clone(&self.store.client),
            id: self.id.clone(),
            token: self.token,
        }))
    }

    fn clear_data_sent(&self) -> io::Result<()> {
        self.update("data_sent_at = NULL", &[])
    }

    fn quarantine(self: Box<Self>) -> io::Result<String> {
        self.finish(
            "damaged",
            ", damage = 'moved aside from ' || claimed_from || ' as damaged'",
        )?;
        Ok(self.store.locate_id(&self.id))
    }

    fn release(self: Box<Self>, state: State) -> io::Result<()> {
        self.finish(state_name(state), "")
    }

    fn delete(self: Box<Self>) -> io::Result<()> {
        // Kept as sent, without its bytes, until purged.
        self.finish("sent", ", sent_at = now(), message = NULL")
    }
}

/// The "data is being sent" mark of a claimed row, owned (the send's
/// trace callback holds it): its own handle on the connection.
struct PgMarker {
    client: Arc<Mutex<Client>>,
    id: String,
    token: i64,
}

impl DataMarker for PgMarker {
    fn set(&self) -> io::Result<()> {
        // Only while the lease runs: after it, another process may take
        // the row back and send it, so this one must not.
        let set = lock(&self.client)?
            .execute(
                "UPDATE postie_spool SET data_sent_at = now() \
                 WHERE id = $1 AND claim = $2 AND state = 'sending' AND lease_until > now()",
                &[&self.id, &self.token],
            )
            .map_err(db_error)?;
        if set == 0 {
            return Err(lost(&self.id));
        }
        Ok(())
    }

    fn give_back(&self) -> io::Result<()> {
        let back = lock(&self.client)?
            .execute(
                "UPDATE postie_spool SET state = claimed_from, claimed_from = NULL, \
                 relayer = NULL, claim = NULL, lease_until = NULL, data_sent_at = NULL \
                 WHERE id = $1 AND claim = $2 AND state = 'sending'",
                &[&self.id, &self.token],
            )
            .map_err(db_error)?;
        if back == 0 {
            return Err(lost(&self.id));
        }
        Ok(())
    }
}
