//! The spool store seam: what `postie send` (keeping a message it could
//! not send), `postie spool flush` and the `list`, `show` and `remove`
//! commands need of the place where messages wait, and nothing of how it
//! keeps them.
//!
//! The folder store (`Location::Folder`) keeps each entry as a directory and
//! every change of state as one `rename(2)`; the PostgreSQL store
//! (`crate::pg`, feature `postgres`) keeps each as a row.
//! Whatever the store, its contract is the same:
//!
//! - an entry is in exactly one place at a time (resting in a [`State`],
//!   claimed by one live process, or quarantined), and a change of place is
//!   atomic and durable when the call returns;
//! - a claim is exclusive: of two flushes only one gets an entry;
//! - an entry claimed by a process that died is taken back by
//!   [`SpoolStore::recover`]: to the queue if its data never went out, to
//!   `unknown` if it may have ([`DataMarker`]);
//! - nothing it did not make is trusted: an entry is checked (its record,
//!   and its message against the record's size and hash) before use, and a
//!   damaged one is reported as [`Damage`], never sent.

use std::io::{self, Write};
use std::path::PathBuf;

use crate::digest::Digest;
use crate::inspect::Damage;
use crate::meta::Meta;
use crate::owner::Owner;

/// How long a claim of a database store holds a message before
/// [`SpoolStore::recover`] may take it back, unless renewed: longer than
/// any one send (it is renewed with the data mark, just before sending).
/// `postie spool run --lease` sets a relayer's.
pub const DEFAULT_LEASE: std::time::Duration = std::time::Duration::from_secs(600);

/// Where an entry rests between flushes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Waiting for its next attempt.
    Queued,
    /// The last attempt ended after the final dot without a reply.
    Unknown,
    /// Given up: refused permanently, or expired.
    Dead,
}

impl State {
    /// Every resting state.
    pub const ALL: [State; 3] = [State::Queued, State::Unknown, State::Dead];

    /// The name shown by `postie spool list`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Unknown => "unknown",
            Self::Dead => "dead",
        }
    }
}

/// Where an entry is now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Place {
    /// Resting.
    At(State),
    /// Claimed by a live process.
    Claimed(Owner),
    /// Moved aside as damaged or planted.
    Quarantined,
}

impl Place {
    /// The state `postie spool list` shows for it (and the PostgreSQL
    /// store's `state` column holds).
    pub fn state_name(&self) -> &'static str {
        match self {
            Self::At(state) => state.name(),
            Self::Claimed(_) => "sending",
            Self::Quarantined => "damaged",
        }
    }
}

/// An entry [`SpoolStore::recover`] took back from a dead process.
#[derive(Clone, Debug)]
pub struct Recovered {
    /// Its id.
    pub id: String,
    /// The process that had it.
    pub owner: Owner,
    /// Where it went; `None`: to `quarantine/`.
    pub state: Option<State>,
    /// Why it went to `quarantine/`.
    pub reason: Option<String>,
}

/// Where kept messages wait.
pub trait SpoolStore: Send + Sync {
    /// Starts a new entry; it is not in the spool until committed, and is
    /// removed if dropped before.
    fn create(&self) -> io::Result<Box<dyn NewEntry + '_>>;

    /// Takes back the entries whose claiming process has died.
    fn recover(&self) -> io::Result<Vec<Recovered>>;

    /// The ids resting in `state`, oldest first.
    fn ids(&self, state: State) -> io::Result<Vec<String>>;

    /// Every entry, resting, claimed or quarantined, with its place.
    fn entries(&self) -> io::Result<Vec<(String, Place)>>;

    /// Where `id` is, if anywhere.
    fn find(&self, id: &str) -> io::Result<Option<Place>>;

    /// The record of `id` at `place`, checked, without claiming it; with
    /// `message`, its message is checked against the record too.
    fn look(&self, id: &str, place: &Place, message: bool) -> io::Result<Result<Meta, Damage>>;

    /// The header section of the message of `id` at `place`, as text.
    /// Only after [`SpoolStore::look`] found the entry sound.
    fn header(&self, id: &str, place: &Place) -> io::Result<String>;

    /// Where a person finds `id` at `place` (a path, for the folder store).
    fn locate(&self, id: &str, place: &Place) -> String;

    /// Moves the damaged entry `id` resting in `state` aside, unread;
    /// returns where it went.
    fn quarantine(&self, state: State, id: &str) -> io::Result<String>;

    /// Takes `id` out of `state` for this process; `None` when it is not
    /// there (any more).
    fn claim(&self, state: State, id: &str) -> io::Result<Option<Box<dyn Claimed + '_>>>;

    /// Deletes `id` (resting or quarantined). `Err(Some(owner))` when a
    /// live process has it claimed, `Err(None)` when there is no such
    /// entry.
    fn remove(&self, id: &str) -> io::Result<Result<(), Option<Owner>>>;

    /// Claims at once up to `limit` queued messages due at `now` (of
    /// `account` only, if given), the longest due first, for a relayer:
    /// their data is marked and their results written a batch at a time.
    /// (The folder store makes it of one claim after another.)
    fn claim_due(
        &self,
        limit: BatchLimit,
        now: u64,
        account: Option<&str>,
    ) -> io::Result<Box<dyn Batch + '_>>;

    /// How long until the next queued message (of `account` only, if
    /// given) is due, if the store can tell cheaply; `None`: none queued,
    /// or ask again after a while.
    fn next_due(&self, _account: Option<&str>) -> io::Result<Option<std::time::Duration>> {
        Ok(None)
    }

    /// Waits up to `limit` for news of a message queued; `true` when
    /// there was some. By default it just waits: a store that cannot tell
    /// is polled.
    fn wait(&self, limit: std::time::Duration) -> io::Result<bool> {
        std::thread::sleep(limit);
        Ok(false)
    }

    /// Whether others than this user may write the store (a shared
    /// database): then a relayer does not let a message choose which of
    /// its secrets to send where, unless told to trust the writers. A
    /// folder store is its user's alone (its trust checks see to that).
    fn shared(&self) -> bool {
        false
    }

    /// How long a claim holds a message before others may take it back
    /// (a database store's lease, given when it was opened); `None`: as
    /// long as the claiming process lives (the folder store). A relayer
    /// renews its claims every third of it while a batch goes.
    fn lease(&self) -> Option<std::time::Duration> {
        None
    }

    /// How many messages are in each state, and how lately they went.
    fn stats(&self) -> io::Result<crate::stats::Stats>;

    /// Deletes what the store keeps of messages sent longer than `kept`
    /// ago; returns how many (a store that deletes them at once keeps
    /// none).
    fn purge_sent(&self, _kept: std::time::Duration) -> io::Result<u64> {
        Ok(0)
    }
}

/// How much one [`Batch`] may hold.
#[derive(Clone, Copy, Debug)]
pub struct BatchLimit {
    /// At most this many messages.
    pub messages: usize,
    /// Their sizes adding up to at most this many bytes (the first
    /// message always fits: a larger one goes alone).
    pub bytes: u64,
}

/// A message claimed in a [`Batch`].
pub struct Taken {
    /// Its id.
    pub id: String,
    /// Where it rested.
    pub from: State,
    /// Its record, checked (its message against it too), or what is wrong.
    pub meta: Result<Meta, Damage>,
    /// Found damaged before it was claimed, and moved aside unclaimed
    /// already (as `postie spool flush` does): where it went. Nothing is
    /// left to do with it.
    pub moved: Option<String>,
}

/// Where a claimed message goes.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Disposition {
    /// Delivered: deleted (the folder store), or kept as sent without its
    /// bytes (PostgreSQL).
    Sent,
    /// To rest in the state, with the record saved (after an attempt that
    /// failed, or a message given up: then `dead_reason` says why).
    Rest(Box<Meta>, State),
    /// Not attempted: back where it rested, its record unchanged.
    Back(State),
    /// Damaged: moved aside unread.
    Quarantine,
}

/// Messages a relayer claimed together: the data marked for all of them
/// before the first is sent, and their results written together, so that
/// a batch costs a few writes to the store rather than a few per message.
/// A relayer killed while it holds a batch leaves the messages of that
/// batch unknown (their data marked), never more.
pub trait Batch {
    /// What was claimed, in order.
    fn taken(&self) -> &[Taken];

    /// The message of the `n`th taken, to send.
    fn message(&self, n: usize) -> io::Result<postie_mime::Message>;

    /// Records durably that the data of the messages `which` (indexes into
    /// [`Batch::taken`]) goes out now; returns those still this
    /// process's (a claim whose lease ran out is another's to send).
    fn mark(&mut self, which: &[usize]) -> io::Result<Vec<usize>>;

    /// Renews the claims of the batch while its messages are being sent
    /// (a slow server, a rate limit: a batch may take longer than a
    /// lease); an error when they cannot be renewed any more (the store
    /// is lost, or the claims were taken back), after which nothing more
    /// of the batch may be sent. A store whose claims last as long as
    /// their process has nothing to renew.
    fn renew(&self) -> io::Result<()> {
        Ok(())
    }

    /// Writes where each taken message goes (`results[n]` for the `n`th;
    /// `None` for one moved already), all together where the store can;
    /// returns the taken messages whose claims were lost (taken back by
    /// another process, whose they are now). On an error nothing may have
    /// been written, and it may be called again with the same results.
    fn finish(&mut self, results: &[Option<Disposition>]) -> io::Result<Vec<usize>>;
}

/// An entry being written.
pub trait NewEntry {
    /// Its id.
    fn id(&self) -> &str;

    /// Writes the message with `write`, durably; returns its size and
    /// hash, for the record.
    fn write_message(
        &mut self,
        write: &mut dyn FnMut(&mut dyn Write) -> io::Result<()>,
    ) -> io::Result<Digest>;

    /// The message as written, read back.
    fn written(&self) -> io::Result<postie_mime::Message>;

    /// Writes `meta` and puts the entry to rest in `state`: from then on it
    /// is in the spool, durably.
    fn commit(self: Box<Self>, meta: &Meta, state: State) -> io::Result<()>;
}

/// An entry this process has claimed.
pub trait Claimed {
    /// Its record, checked, its message against it too.
    fn check(&self) -> io::Result<Result<Meta, Damage>>;

    /// A file holding the message, to send it from.
    fn message_file(&self) -> PathBuf;

    /// Replaces the record, durably.
    fn save(&self, meta: &Meta) -> io::Result<()>;

    /// Makes ahead what records that the data went out, so that a full
    /// store is found before anything is sent.
    fn prepare_marker(&self) -> io::Result<Box<dyn DataMarker>>;

    /// Removes that record: the attempt's outcome is known and saved.
    fn clear_data_sent(&self) -> io::Result<()>;

    /// Moves the entry aside as damaged; returns where it went.
    fn quarantine(self: Box<Self>) -> io::Result<String>;

    /// Puts the entry to rest in `state`.
    fn release(self: Box<Self>, state: State) -> io::Result<()>;

    /// Deletes the entry: the message was delivered.
    fn delete(self: Box<Self>) -> io::Result<()>;
}

/// The record, made ahead by [`Claimed::prepare_marker`], that a claimed
/// entry's data went out; owned, so a trace callback can hold it.
pub trait DataMarker: Send + Sync {
    /// Records, durably, that the data goes out now.
    fn set(&self) -> io::Result<()>;

    /// After [`DataMarker::set`] failed, before the data went out: takes
    /// the record away and puts the entry back where it rested.
    fn give_back(&self) -> io::Result<()>;
}

/// The contract above as a test any store must pass, through the seam
/// alone (the folder store and the PostgreSQL store both run it).
#[cfg(test)]
pub mod contract {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use super::*;

    const MESSAGE: &[u8] = b"Subject: kept\r\nTo: b@x.org\r\n\r\nhello\r\n";

    /// A new entry holding [`MESSAGE`], committed to `state` with a record
    /// made by `meta` (its size and hash set from what was written).
    fn add(store: &dyn SpoolStore, state: State, meta: &dyn Fn(&str) -> Meta) -> String {
        let mut entry = store.create().unwrap();
        let id = entry.id().to_owned();
        let digest = entry.write_message(&mut |w| w.write_all(MESSAGE)).unwrap();
        let written = entry.written().unwrap();
        let subject = written
            .headers()
            .get("Subject")
            .map(|v| v.as_text().into_owned());
        assert_eq!(subject.as_deref(), Some("kept"));
        let mut record = meta(&id);
        record.size = digest.size;
        record.sha256 = Some(digest.sha256);
        entry.commit(&record, state).unwrap();
        id
    }

    fn place_of(store: &dyn SpoolStore, id: &str) -> Option<Place> {
        let found = store.find(id).unwrap();
        let listed: Vec<Place> = store
            .entries()
            .unwrap()
            .into_iter()
            .filter(|(listed, _)| listed == id)
            .map(|(_, place)| place)
            .collect();
        assert_eq!(
            listed,
            found.clone().into_iter().collect::<Vec<_>>(),
            "{id}"
        );
        found
    }

    /// Runs the contract against an empty `store`; `meta` makes a record
    /// for an id.
    pub fn holds(store: &dyn SpoolStore, meta: &dyn Fn(&str) -> Meta) {
        // Written but never committed: not in the spool.
        {
            let mut entry = store.create().unwrap();
            entry.write_message(&mut |w| w.write_all(b"x")).unwrap();
        }
        assert!(store.entries().unwrap().is_empty());

        // Committed: resting, its record and message sound.
        let id = add(store, State::Queued, meta);
        assert_eq!(store.ids(State::Queued).unwrap(), std::slice::from_ref(&id));
        assert_eq!(place_of(store, &id), Some(Place::At(State::Queued)));
        let at = Place::At(State::Queued);
        let record = store.look(&id, &at, true).unwrap().unwrap();
        assert_eq!(record.id, id);
        assert_eq!(
            store.header(&id, &at).unwrap(),
            "Subject: kept\nTo: b@x.org\n"
        );

        // A claim is exclusive, and sees the message as written.
        let claim = store.claim(State::Queued, &id).unwrap().unwrap();
        assert!(store.claim(State::Queued, &id).unwrap().is_none());
        assert!(matches!(place_of(store, &id), Some(Place::Claimed(_))));
        let mut record = claim.check().unwrap().unwrap();
        assert_eq!(std::fs::read(claim.message_file()).unwrap(), MESSAGE);
        // The data marker, then the outcome saved: back to rest where asked.
        let marker = claim.prepare_marker().unwrap();
        marker.set().unwrap();
        record.attempts = 1;
        claim.save(&record).unwrap();
        claim.clear_data_sent().unwrap();
        claim.release(State::Unknown).unwrap();
        assert!(store.ids(State::Queued).unwrap().is_empty());
        assert_eq!(place_of(store, &id), Some(Place::At(State::Unknown)));
        let unknown = Place::At(State::Unknown);
        assert_eq!(
            store.look(&id, &unknown, true).unwrap().unwrap().attempts,
            1
        );

        // Damaged: moved aside, then removed by id.
        let claim = store.claim(State::Unknown, &id).unwrap().unwrap();
        claim.quarantine().unwrap();
        assert_eq!(place_of(store, &id), Some(Place::Quarantined));
        assert_eq!(store.remove(&id).unwrap(), Ok(()));
        assert_eq!(store.remove(&id).unwrap(), Err(None));
        assert_eq!(place_of(store, &id), None);

        // Sent: deleted. Damaged while resting: quarantined unclaimed.
        let sent = add(store, State::Queued, meta);
        store
            .claim(State::Queued, &sent)
            .unwrap()
            .unwrap()
            .delete()
            .unwrap();
        assert_eq!(place_of(store, &sent), None);
        let dead = add(store, State::Dead, meta);
        store.quarantine(State::Dead, &dead).unwrap();
        assert_eq!(place_of(store, &dead), Some(Place::Quarantined));
        assert_eq!(store.remove(&dead).unwrap(), Ok(()));
        assert!(store.entries().unwrap().is_empty());
        assert!(store.recover().unwrap().is_empty());
    }
}
