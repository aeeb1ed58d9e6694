//! A [`Batch`] made of single claims, for a store without batch
//! operations of its own (the folder store): each message claimed, marked
//! and put to rest on its own, in the order and with the checks of
//! `postie spool flush`.

use std::io;

use crate::inspect::Damage;
use crate::judge::{self, Disposition};
use crate::store::{Batch, BatchLimit, Claimed, DataMarker, Place, SpoolStore, State, Taken};

/// The claims of one batch.
struct ClaimedBatch<'a> {
    taken: Vec<Taken>,
    /// The claim of each taken message (`None`: moved aside unclaimed).
    claims: Vec<Option<Box<dyn Claimed + 'a>>>,
}

/// Claims up to `limit` queued messages of `store` due at `now` (of
/// `account` only, if given), one after another.
pub(crate) fn claim_due<'a, S: SpoolStore + ?Sized>(
    store: &'a S,
    limit: BatchLimit,
    now: u64,
    account: Option<&str>,
) -> io::Result<Box<dyn Batch + 'a>> {
    let mut batch = ClaimedBatch {
        taken: Vec::new(),
        claims: Vec::new(),
    };
    match fill(store, &mut batch, limit, now, account) {
        Ok(()) => Ok(Box::new(batch)),
        Err(e) => {
            // The claims taken so far go back: a relayer lives on, and a
            // claim of a live process is never taken back by anyone else.
            for claim in batch.claims.into_iter().flatten() {
                let _ = claim.release(State::Queued);
            }
            Err(e)
        }
    }
}

/// Claims into `batch` what [`claim_due`] claims.
fn fill<'a, S: SpoolStore + ?Sized>(
    store: &'a S,
    batch: &mut ClaimedBatch<'a>,
    limit: BatchLimit,
    now: u64,
    account: Option<&str>,
) -> io::Result<()> {
    let mut bytes = 0u64;
    for id in store.ids(State::Queued)? {
        if batch.taken.len() >= limit.messages {
            break;
        }
        // A look before claiming: what is not due or another account's is
        // not moved at all.
        let meta = match store.look(&id, &Place::At(State::Queued), false) {
            Ok(Ok(meta)) => meta,
            // Left for a newer postie.
            Ok(Err(Damage::Newer(_))) => continue,
            // A planted link or someone else's entry: moved aside without
            // being claimed, so nothing is ever written into it.
            Ok(Err(damage)) => {
                match store.quarantine(State::Queued, &id) {
                    Ok(to) => batch.push_moved(id, damage, to),
                    // Taken by another process meanwhile, which judges it.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
                continue;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        if meta.next_attempt > now || (account.is_some() && meta.account.as_deref() != account) {
            continue;
        }
        if !batch.taken.is_empty() && bytes.saturating_add(meta.size) > limit.bytes {
            break;
        }
        bytes = bytes.saturating_add(meta.size);
        let Some(claim) = store.claim(State::Queued, &id)? else {
            continue;
        };
        // Looked at again now that it is this process's: the message
        // against its record.
        let meta = match claim.check() {
            Ok(meta) => meta,
            Err(e) => {
                claim.release(State::Queued)?;
                return Err(e);
            }
        };
        batch.taken.push(Taken {
            id,
            from: State::Queued,
            meta,
            moved: None,
        });
        batch.claims.push(Some(claim));
    }
    Ok(())
}

impl ClaimedBatch<'_> {
    fn push_moved(&mut self, id: String, damage: Damage, to: String) {
        self.taken.push(Taken {
            id,
            from: State::Queued,
            meta: Err(damage),
            moved: Some(to),
        });
        self.claims.push(None);
    }
}

impl Batch for ClaimedBatch<'_> {
    fn taken(&self) -> &[Taken] {
        &self.taken
    }

    fn message(&self, n: usize) -> io::Result<postie_mime::Message> {
        let claim = self.claims[n]
            .as_ref()
            .ok_or_else(|| io::Error::other("moved aside: nothing to send"))?;
        let path = claim.message_file();
        postie_mime::Message::parse_file(&path).map_err(|e| match e {
            postie_mime::ParseError::Io(io) => io,
            other => io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {other}", path.display()),
            ),
        })
    }

    fn mark(&mut self, which: &[usize]) -> io::Result<Vec<usize>> {
        let mut held = Vec::with_capacity(which.len());
        for &n in which {
            let Some(claim) = &self.claims[n] else {
                continue;
            };
            let marker: Box<dyn DataMarker> = claim.prepare_marker()?;
            marker.set()?;
            held.push(n);
        }
        Ok(held)
    }

    fn finish(&mut self, results: &[Option<Disposition>]) -> io::Result<Vec<usize>> {
        let mut first_error = None;
        for (claim, result) in self.claims.iter_mut().zip(results) {
            if let (Some(_), Some(disposition)) = (claim.as_ref(), result) {
                // Each on its own: one that fails does not keep the others
                // from being written (a claim is used once: called again,
                // only what was not written yet is).
                if let Some(claim) = claim.take() {
                    if let Err(e) = judge::apply(claim, disposition.clone()) {
                        first_error.get_or_insert(e);
                    }
                }
            }
        }
        // A folder claim is its process's until it ends: none is lost.
        first_error.map_or(Ok(Vec::new()), Err)
    }
}
