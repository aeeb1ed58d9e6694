//! A new entry: the message kept in memory until [`NewEntry::commit`]
//! inserts it with its record, in one statement. An entry dropped before
//! leaves nothing, as the contract asks, without any cleaning up.

use std::io::{self, Write};

use super::connect::{db_error, random_u64};
use super::record::{record_insert, Columns};
use super::store::{state_name, PgStore};
use crate::digest::{Digest, Digesting};
use crate::meta::Meta;
use crate::store::{NewEntry, State};

/// An entry being written.
pub(crate) struct PgEntry<'a> {
    store: &'a PgStore,
    id: String,
    message: Vec<u8>,
}

impl<'a> PgEntry<'a> {
    /// A new entry with a fresh id.
    pub(crate) fn new(store: &'a PgStore) -> io::Result<Self> {
        Ok(Self {
            store,
            id: new_id()?,
            message: Vec::new(),
        })
    }
}

/// `<seconds>-<microseconds>-<random>`: sorts by creation as the folder
/// store's ids do, and the random part (not the pid, as there) keeps ids
/// made on many hosts apart. A clash makes the insert fail, never
/// overwrite.
fn new_id() -> io::Result<String> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let random = random_u64()? % 1_000_000_000;
    Ok(format!(
        "{}-{:06}-{random}",
        now.as_secs(),
        now.subsec_micros()
    ))
}

impl NewEntry for PgEntry<'_> {
    fn id(&self) -> &str {
        &self.id
    }

    fn write_message(
        &mut self,
        write: &mut dyn FnMut(&mut dyn Write) -> io::Result<()>,
    ) -> io::Result<Digest> {
        let mut out = Digesting::new(Vec::new());
        write(&mut out)?;
        let (bytes, digest) = out.finish();
        self.message = bytes;
        Ok(digest)
    }

    fn written(&self) -> io::Result<postie_mime::Message> {
        postie_mime::Message::parse(&self.message)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))
    }

    fn commit(self: Box<Self>, meta: &Meta, state: State) -> io::Result<()> {
        let columns = Columns::of(meta)?;
        let params = columns.params(meta);
        let mut all: Vec<&(dyn postgres::types::ToSql + Sync)> = vec![&self.id];
        all.extend(params);
        let state = state_name(state);
        all.push(&state);
        all.push(&self.message);
        let (names, values) = record_insert(2);
        let sql = format!(
            "INSERT INTO postie_spool (id, {names}, state, message) VALUES ($1, {values}, $17, $18)"
        );
        let inserted = self.store.client()?.execute(&sql, &all);
        match inserted {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some(&postgres::error::SqlState::UNIQUE_VIOLATION) => {
                Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{} is in the spool already", self.id),
                ))
            }
            Err(e) => Err(db_error(e)),
        }
    }
}
