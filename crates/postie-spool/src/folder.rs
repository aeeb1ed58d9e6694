//! The folder store: the spool as a directory tree on local disk.
//!
//! ```text
//! SPOOL/                       mode 0700: it holds mail
//!   tmp/<id>.<owner>/          being written by `postie send`, or being deleted
//!   queue/<id>/                waiting for `postie spool flush`
//!   active/<id>.<owner>/       claimed by a running flush
//!   unknown/<id>/              the server may have it: only `flush --force` sends it
//!   dead/<id>/                 given up; meta.json says why
//!   quarantine/<id>[.<n>]      damaged or planted: moved aside unread (see below)
//! ```
//!
//! Each entry is a directory holding `message.eml` and `meta.json`. Every
//! change of state is one `rename(2)` of that directory, which is atomic:
//! an entry is always wholly in one place. Before a rename the files are
//! fsynced, and after it the directories on both sides, so a crash (or a
//! power cut) at any point leaves the entry where it was or where it went,
//! complete. `<owner>` names the process (see [`Owner`]); an entry whose
//! owner has died is taken back by [`SpoolStore::recover`].
//!
//! Nothing here follows a symbolic link or trusts what it did not make:
//! the root and its folders are checked at every open, each entry before
//! it is used ([`inspect`](crate::inspect)), every file is opened with
//! `O_NOFOLLOW`, and new ones are created with `O_EXCL`. An entry that is
//! a link, or holds one, or is someone else's, is renamed into
//! `quarantine/` (the link itself, never its target) and never read.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::digest::{Digest, Digesting};
use crate::inspect::{self, Damage};
use crate::meta::Meta;
use crate::owner::Owner;
use crate::stats::Stats;
use crate::store::{Claimed, DataMarker, Place, Recovered, SpoolStore, State};
use crate::trust::{self, Kind};

pub(crate) use crate::inspect::{MESSAGE, META};
/// Created in a claimed entry just before the DATA (or BDAT) command goes
/// out, and removed once the attempt has a definite outcome. An entry
/// found without it after its flush died was never offered to a server
/// (a server takes a message only after its data), so it goes back to the
/// queue; with it, the server may have the message: unknown.
pub(crate) const DATA_SENT: &str = "data-sent";
/// The [`DATA_SENT`] marker made ahead, when the entry is claimed: at the
/// DATA command it only has to be renamed, which needs no new inode or
/// block, so a full disk is found while nothing has been sent yet.
const DATA_PENDING: &str = "data-sent.pending";

const TMP: &str = "tmp";
const ACTIVE: &str = "active";
/// Entries that are damaged or not to be trusted, moved out of the way.
const QUARANTINE: &str = "quarantine";

/// The default spool directory, when nothing chose a store
/// ([`super::choice`]): `$XDG_STATE_HOME/postie/spool`, else
/// `~/.local/state/postie/spool`.
pub(crate) fn location() -> Result<PathBuf, String> {
    let set = |var: &str| std::env::var_os(var).filter(|v| !v.is_empty());
    // The XDG base directory spec ignores a relative path.
    if let Some(state) = set("XDG_STATE_HOME").map(PathBuf::from) {
        if state.is_absolute() {
            return Ok(state.join("postie").join("spool"));
        }
    }
    match set("HOME") {
        Some(home) => Ok(PathBuf::from(home).join(".local/state/postie/spool")),
        None => Err(
            "no spool directory: give --store, or set POSTIE_SPOOL_STORE (HOME is not set)"
                .to_owned(),
        ),
    }
}

/// The folder a resting state lives in.
fn dir(state: State) -> &'static str {
    match state {
        State::Queued => "queue",
        State::Unknown => "unknown",
        State::Dead => "dead",
    }
}

/// An opened spool.
pub(crate) struct Spool {
    root: PathBuf,
    me: Owner,
}

impl Spool {
    /// Opens the spool at `root`, creating it (mode 0700) and its folders,
    /// and checks that each is a directory (not a link) that is this
    /// user's and writable by nobody else: an error that
    /// [`trust::is_untrusted`] recognises when not.
    pub(crate) fn open(root: PathBuf) -> io::Result<Self> {
        create_private_dir_all(&root)?;
        trust::check(&root, Kind::Dir)?.map_err(trust::untrusted)?;
        for dir in [TMP, ACTIVE, "queue", "unknown", "dead", QUARANTINE] {
            let path = root.join(dir);
            match create_private_dir(&path) {
                Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
                _ => {}
            }
            trust::check(&path, Kind::Dir)?.map_err(trust::untrusted)?;
        }
        Ok(Self {
            root,
            me: Owner::me(),
        })
    }

    /// The spool directory.
    #[cfg(test)]
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    fn state_dir(&self, state: State) -> PathBuf {
        self.root.join(dir(state))
    }

    /// The entry `id` resting in `state`.
    pub(crate) fn entry(&self, state: State, id: &str) -> PathBuf {
        self.state_dir(state).join(id)
    }

    /// Starts a new entry in `tmp/`: removed again unless committed.
    pub(crate) fn create(&self) -> io::Result<TmpEntry<'_>> {
        let base = new_id();
        for attempt in 0..100u32 {
            let id = if attempt == 0 {
                base.clone()
            } else {
                format!("{base}-{attempt}")
            };
            let path = self.root.join(TMP).join(format!("{id}.{}", self.me));
            match create_private_dir(&path) {
                Ok(()) => {
                    return Ok(TmpEntry {
                        spool: self,
                        id,
                        path,
                        committed: false,
                    })
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::other("cannot find a free spool id"))
    }

    /// The ids resting in `state`, oldest first.
    pub(crate) fn ids(&self, state: State) -> io::Result<Vec<String>> {
        let mut ids: Vec<String> = fs::read_dir(self.state_dir(state))?
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|name| is_id(name))
            .collect();
        ids.sort_by_key(|id| id_order(id));
        Ok(ids)
    }

    /// The entries claimed now: (id, owner, path).
    pub(crate) fn claimed(&self) -> io::Result<Vec<(String, Owner, PathBuf)>> {
        let mut claims: Vec<_> = fs::read_dir(self.root.join(ACTIVE))?
            .filter_map(|e| {
                let e = e.ok()?;
                let name = e.file_name().into_string().ok()?;
                let (id, owner) = name.split_once('.')?;
                Some((id.to_owned(), Owner::parse(owner)?, e.path()))
            })
            .collect();
        claims.sort_by_key(|claim| id_order(&claim.0));
        Ok(claims)
    }

    /// Where `id` is, and its directory.
    pub(crate) fn find(&self, id: &str) -> io::Result<Option<(Place, PathBuf)>> {
        if !is_id(id) {
            return Ok(None);
        }
        for state in State::ALL {
            let path = self.entry(state, id);
            // Not `is_dir`, which follows a link: a planted one is found
            // (and then shown as damaged).
            if fs::symlink_metadata(&path).is_ok() {
                return Ok(Some((Place::At(state), path)));
            }
        }
        if let Some((_, path)) = self.quarantined()?.into_iter().find(|(name, _)| name == id) {
            return Ok(Some((Place::Quarantined, path)));
        }
        Ok(self
            .claimed()?
            .into_iter()
            .find(|(claimed, _, _)| claimed == id)
            .map(|(_, owner, path)| (Place::Claimed(owner), path)))
    }

    /// What is in `quarantine/`: (name, path), by name.
    pub(crate) fn quarantined(&self) -> io::Result<Vec<(String, PathBuf)>> {
        let mut found: Vec<(String, PathBuf)> = fs::read_dir(self.root.join(QUARANTINE))?
            .filter_map(|e| {
                let e = e.ok()?;
                Some((e.file_name().into_string().ok()?, e.path()))
            })
            .collect();
        found.sort();
        Ok(found)
    }

    /// Moves the entry at `path` (a link is moved itself, never followed)
    /// to `quarantine/`, as `id`, or `id.N` when that is taken. Returns
    /// its new path.
    pub(crate) fn quarantine(&self, path: &Path, id: &str) -> io::Result<PathBuf> {
        let dir = self.root.join(QUARANTINE);
        for n in 0..1000u32 {
            let name = if n == 0 {
                id.to_owned()
            } else {
                format!("{id}.{n}")
            };
            let to = dir.join(name);
            // rename(2) would replace an empty directory there.
            if fs::symlink_metadata(&to).is_ok() {
                continue;
            }
            fs::rename(path, &to)?;
            if let Some(from) = path.parent() {
                sync_dir(from)?;
            }
            sync_dir(&dir)?;
            return Ok(to);
        }
        Err(io::Error::other(format!(
            "{}: no free name for {id}",
            dir.display()
        )))
    }

    /// Takes `id` out of `state` for this process: an atomic rename, so of
    /// two flushes only one gets it. `None` when it is not there (any
    /// more).
    pub(crate) fn claim(&self, state: State, id: &str) -> io::Result<Option<Claim<'_>>> {
        let from = self.entry(state, id);
        let to = self.claim_path(id);
        match fs::rename(&from, &to) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        }
        sync_dir(&self.state_dir(state))?;
        sync_dir(&self.root.join(ACTIVE))?;
        Ok(Some(Claim {
            spool: self,
            id: id.to_owned(),
            path: to,
            from: state,
        }))
    }

    fn claim_path(&self, id: &str) -> PathBuf {
        self.root.join(ACTIVE).join(format!("{id}.{}", self.me))
    }

    /// Deletes an entry that rests in `queue/`, `unknown/`, `dead/` or
    /// `quarantine/` (there by its name in that folder).
    /// `Err(Some(owner))` when a live process has it claimed, `Err(None)`
    /// when there is no such entry.
    pub(crate) fn remove(&self, id: &str) -> io::Result<Result<(), Option<Owner>>> {
        let quarantined = self
            .quarantined()?
            .into_iter()
            .find(|(name, _)| name == id)
            .map(|(_, path)| path);
        if !is_id(id) && quarantined.is_none() {
            return Ok(Err(None));
        }
        let places = State::ALL
            .into_iter()
            .filter(|_| is_id(id))
            .map(|state| self.entry(state, id))
            .chain(quarantined);
        for path in places {
            let gone =
                self.root
                    .join(TMP)
                    .join(format!("{}.{}.removed", id.replace('.', "-"), self.me));
            match fs::rename(&path, &gone) {
                Ok(()) => {
                    if let Some(dir) = path.parent() {
                        sync_dir(dir)?;
                    }
                    self.discard(&gone)?;
                    return Ok(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(Err(self
            .claimed()?
            .into_iter()
            .find(|(claimed, _, _)| claimed == id)
            .map(|(_, owner, _)| owner)))
    }

    /// Deletes a directory already renamed into `tmp/` (so a crash halfway
    /// leaves a leftover there, never half an entry in the spool).
    fn discard(&self, path: &Path) -> io::Result<()> {
        let tmp = self.root.join(TMP);
        sync_dir(&tmp)?;
        remove_any(path)?;
        sync_dir(&tmp)
    }

    /// Cleans up after processes that died: deletes their leftovers in
    /// `tmp/`, and takes back the entries they had claimed. An entry whose
    /// data had gone out (or whose outcome was unknown already) goes to
    /// `unknown/`; one that never reached the DATA command goes back to
    /// where a flush takes it from.
    pub(crate) fn recover(&self) -> io::Result<Vec<Recovered>> {
        let tmp = self.root.join(TMP);
        for entry in fs::read_dir(&tmp)?.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let owner = name.split('.').nth(1).and_then(Owner::parse);
            if owner.is_some_and(|o| o != self.me && !o.is_alive()) {
                match remove_any(&entry.path()) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                    _ => {}
                }
            }
        }
        sync_dir(&tmp)?;
        let mut recovered = Vec::new();
        for (id, owner, path) in self.claimed()? {
            if owner == self.me || owner.is_alive() {
                continue;
            }
            // Taken over with a rename like any claim, so that of two
            // processes recovering at once only one does it.
            let to = self.claim_path(&id);
            match fs::rename(&path, &to) {
                Ok(()) => sync_dir(&self.root.join(ACTIVE))?,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            }
            let claim = Claim {
                spool: self,
                id: id.clone(),
                path: to,
                // Where it came from is not known; where it goes is
                // decided below.
                from: State::Unknown,
            };
            let state = match inspect::inspect(&claim.path, false)? {
                // Planted or someone else's: nothing in it is written to.
                Err(Damage::Untrusted(reason) | Damage::Unreadable(reason)) => {
                    self.quarantine(&claim.path, &id)?;
                    recovered.push(Recovered {
                        id,
                        owner,
                        state: None,
                        reason: Some(reason),
                    });
                    continue;
                }
                Ok(mut meta) if claim.data_sent() && !meta.maybe_delivered => {
                    meta.maybe_delivered = true;
                    meta.last_error = format!(
                        "interrupted: the flush sending it (process {}) stopped after the data went out; the server may have it",
                        owner.pid()
                    );
                    claim.save(&meta)?;
                    State::Unknown
                }
                Ok(meta) if meta.maybe_delivered => State::Unknown,
                Ok(_) => State::Queued,
                // A newer postie's: nothing can be known about it here.
                Err(_) => State::Unknown,
            };
            claim.release(state)?;
            recovered.push(Recovered {
                id,
                owner,
                state: Some(state),
                reason: None,
            });
        }
        Ok(recovered)
    }
}

/// An entry being written in `tmp/`.
pub(crate) struct TmpEntry<'a> {
    spool: &'a Spool,
    id: String,
    path: PathBuf,
    committed: bool,
}

impl TmpEntry<'_> {
    /// Its id.
    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    /// Where its message goes.
    pub(crate) fn message_path(&self) -> PathBuf {
        self.path.join(MESSAGE)
    }

    /// Writes the message with `write`, then fsyncs it; returns its size
    /// and hash, for the record.
    pub(crate) fn write_message(
        &self,
        write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
    ) -> io::Result<Digest> {
        fault("message")?;
        let file = trust::create_new(&self.message_path())?;
        let mut out = Digesting::new(io::BufWriter::new(file));
        write(&mut out)?;
        let (out, digest) = out.finish();
        let file = out.into_inner().map_err(io::IntoInnerError::into_error)?;
        file.sync_all()?;
        Ok(digest)
    }

    /// Writes `meta` and moves the entry into `state`: from then on it is
    /// in the spool, durably.
    pub(crate) fn commit(mut self, meta: &Meta, state: State) -> io::Result<()> {
        fault("meta")?;
        let file = trust::create_new(&self.path.join(META))?;
        write_and_sync(file, &meta.to_json()?)?;
        sync_dir(&self.path)?;
        let target = self.spool.entry(state, &self.id);
        // rename(2) would replace an empty directory there without a word.
        if fs::symlink_metadata(&target).is_ok() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} exists", target.display()),
            ));
        }
        fs::rename(&self.path, &target)?;
        self.committed = true;
        sync_dir(&self.spool.state_dir(state))?;
        sync_dir(&self.spool.root.join(TMP))
    }
}

impl Drop for TmpEntry<'_> {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

/// An entry this process has claimed, in `active/`.
pub(crate) struct Claim<'a> {
    spool: &'a Spool,
    id: String,
    path: PathBuf,
    /// Where it was claimed from.
    from: State,
}

impl Claim<'_> {
    /// Its directory.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The message file.
    pub(crate) fn message_path(&self) -> PathBuf {
        self.path.join(MESSAGE)
    }

    /// Replaces the record atomically: a new file, fsynced, renamed over
    /// the old one, and the directory fsynced.
    pub(crate) fn save(&self, meta: &Meta) -> io::Result<()> {
        let new = self.path.join(format!("{META}.new"));
        // A leftover of a crash (the entry was checked when claimed: a
        // file, not a link); `create_new` below would refuse it.
        remove_if_there(&new)?;
        fault("meta")?;
        let file = trust::create_new(&new)?;
        write_and_sync(file, &meta.to_json()?)?;
        fs::rename(&new, self.path.join(META))?;
        sync_dir(&self.path)
    }

    /// Makes the [`DATA_SENT`] marker ahead, as [`DATA_PENDING`]: where
    /// the disk is full, this fails, before anything is sent.
    pub(crate) fn prepare_marker(&self) -> io::Result<Marker> {
        let pending = self.path.join(DATA_PENDING);
        remove_if_there(&pending)?;
        fault("marker")?;
        trust::create_new(&pending)?.sync_all()?;
        sync_dir(&self.path)?;
        Ok(Marker {
            pending,
            sent: self.path.join(DATA_SENT),
            entry: self.path.clone(),
            rest: self.spool.entry(self.from, &self.id),
        })
    }

    /// Whether the marker is there.
    pub(crate) fn data_sent(&self) -> bool {
        fs::symlink_metadata(self.path.join(DATA_SENT)).is_ok()
    }

    /// Removes the marker (and the one made ahead): the attempt's outcome
    /// is known and recorded.
    pub(crate) fn clear_data_sent(&self) -> io::Result<()> {
        let sent = remove_if_there(&self.path.join(DATA_SENT))?;
        let pending = remove_if_there(&self.path.join(DATA_PENDING))?;
        if sent || pending {
            sync_dir(&self.path)?;
        }
        Ok(())
    }

    /// Moves the claimed entry to `quarantine/`; returns its new path.
    pub(crate) fn quarantine(self) -> io::Result<PathBuf> {
        self.spool.quarantine(&self.path, &self.id)
    }

    /// Puts the entry to rest in `state`.
    pub(crate) fn release(self, state: State) -> io::Result<()> {
        fs::rename(&self.path, self.spool.entry(state, &self.id))?;
        sync_dir(&self.spool.root.join(ACTIVE))?;
        sync_dir(&self.spool.state_dir(state))
    }

    /// Deletes the entry: the message was delivered. The rename out of
    /// `active/` is the moment that counts; the deletion after it may be
    /// cut short, and [`SpoolStore::recover`] finishes it.
    pub(crate) fn delete(self) -> io::Result<()> {
        let gone = self
            .spool
            .root
            .join(TMP)
            .join(format!("{}.{}.sent", self.id, self.spool.me));
        fs::rename(&self.path, &gone)?;
        sync_dir(&self.spool.root.join(ACTIVE))?;
        self.spool.discard(&gone)
    }
}

/// The [`DATA_SENT`] marker of a claimed entry, made ahead (see
/// [`Claimed::prepare_marker`]): owned, so the trace callback can hold it.
pub(crate) struct Marker {
    pending: PathBuf,
    sent: PathBuf,
    entry: PathBuf,
    /// Where the entry rested before its claim.
    rest: PathBuf,
}

impl Marker {
    /// Records, durably, that the data goes out: a rename (no new inode
    /// or block needed), then the directory fsynced.
    pub(crate) fn set(&self) -> io::Result<()> {
        fault("data-sent")?;
        fs::rename(&self.pending, &self.sent)?;
        sync_dir(&self.entry)
    }

    /// After [`set`](Self::set) failed, before the data went out: takes
    /// the marker away and puts the entry back where it rested, so no
    /// server has it and the next flush sends it. Best effort: where this
    /// fails too, the next spool command finds the claim of a process
    /// that has ended and does the same.
    pub(crate) fn give_back(&self) -> io::Result<()> {
        remove_if_there(&self.sent)?;
        sync_dir(&self.entry)?;
        fs::rename(&self.entry, &self.rest)?;
        for dir in [self.entry.parent(), self.rest.parent()]
            .into_iter()
            .flatten()
        {
            sync_dir(dir)?;
        }
        Ok(())
    }
}

/// A fault made on purpose, for the tests of a full disk where no small
/// file system can be mounted: `POSTIE_TEST_SPOOL_FAULT=POINT` makes the
/// spool write at POINT (`message`, `meta`, `marker`, `data-sent`) fail
/// as a full disk does. Only in debug builds: a release build has no such
/// switch.
fn fault(point: &str) -> io::Result<()> {
    if cfg!(debug_assertions)
        && std::env::var_os("POSTIE_TEST_SPOOL_FAULT").is_some_and(|p| p == point)
    {
        return Err(io::Error::new(
            io::ErrorKind::StorageFull,
            format!("no space left on device (POSTIE_TEST_SPOOL_FAULT={point})"),
        ));
    }
    Ok(())
}

/// Removes the file at `path` if there is one (a link itself, never its
/// target); whether there was.
fn remove_if_there(path: &Path) -> io::Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Removes what is at `path`: a directory with its contents, or a file or
/// link (never following one).
fn remove_any(path: &Path) -> io::Result<()> {
    if fs::symlink_metadata(path)?.is_dir() {
        fs::remove_dir_all(path)
    } else {
        fs::remove_file(path)
    }
}

/// Whether `text` can be a spool id (digits and dashes: no `/` or `..`
/// can reach a path through it).
pub(crate) fn is_id(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 64
        && text.bytes().all(|b| b.is_ascii_digit() || b == b'-')
        && text.bytes().next().is_some_and(|b| b.is_ascii_digit())
}

/// Ids sort by creation: `<seconds>-<microseconds>-<pid>[-<n>]`.
fn id_order(id: &str) -> Vec<u64> {
    id.split('-')
        .map(|n| n.parse().unwrap_or(u64::MAX))
        .collect()
}

fn new_id() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!(
        "{}-{:06}-{}",
        now.as_secs(),
        now.subsec_micros(),
        std::process::id()
    )
}

fn write_and_sync(mut file: File, bytes: &[u8]) -> io::Result<()> {
    file.write_all(bytes)?;
    file.sync_all()
}

/// fsync of a directory: makes the renames and creations in it durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
        .open(dir)?
        .sync_all()
}

fn create_private_dir(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new().mode(0o700).create(path)
}

fn create_private_dir_all(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
}

/// The folder store behind the seam: every call is one of the methods
/// above, on paths made from the id and place.
impl SpoolStore for Spool {
    fn create(&self) -> io::Result<Box<dyn crate::store::NewEntry + '_>> {
        Ok(Box::new(Spool::create(self)?))
    }

    fn recover(&self) -> io::Result<Vec<Recovered>> {
        Spool::recover(self)
    }

    fn ids(&self, state: State) -> io::Result<Vec<String>> {
        Spool::ids(self, state)
    }

    fn entries(&self) -> io::Result<Vec<(String, Place)>> {
        let mut entries = Vec::new();
        for state in State::ALL {
            entries.extend(
                Spool::ids(self, state)?
                    .into_iter()
                    .map(|id| (id, Place::At(state))),
            );
        }
        for (id, owner, _) in self.claimed()? {
            entries.push((id, Place::Claimed(owner)));
        }
        for (name, _) in self.quarantined()? {
            entries.push((name, Place::Quarantined));
        }
        Ok(entries)
    }

    fn find(&self, id: &str) -> io::Result<Option<Place>> {
        Ok(Spool::find(self, id)?.map(|(place, _)| place))
    }

    fn look(&self, id: &str, place: &Place, message: bool) -> io::Result<Result<Meta, Damage>> {
        inspect::inspect(&self.path_of(id, place), message)
    }

    fn header(&self, id: &str, place: &Place) -> io::Result<String> {
        header(&self.path_of(id, place).join(MESSAGE))
    }

    fn locate(&self, id: &str, place: &Place) -> String {
        self.path_of(id, place).display().to_string()
    }

    fn quarantine(&self, state: State, id: &str) -> io::Result<String> {
        let to = Spool::quarantine(self, &self.entry(state, id), id)?;
        Ok(to.display().to_string())
    }

    fn claim(&self, state: State, id: &str) -> io::Result<Option<Box<dyn Claimed + '_>>> {
        Ok(Spool::claim(self, state, id)?.map(|claim| Box::new(claim) as Box<dyn Claimed>))
    }

    fn remove(&self, id: &str) -> io::Result<Result<(), Option<Owner>>> {
        Spool::remove(self, id)
    }

    fn claim_due(
        &self,
        limit: crate::store::BatchLimit,
        now: u64,
        account: Option<&str>,
    ) -> io::Result<Box<dyn crate::store::Batch + '_>> {
        crate::claimed_batch::claim_due(self, limit, now, account)
    }

    fn stats(&self) -> io::Result<Stats> {
        stats_of_entries(self)
    }
}

impl Spool {
    /// The directory of `id` at `place` (in `quarantine/`, `id` is its
    /// name there).
    fn path_of(&self, id: &str, place: &Place) -> PathBuf {
        match place {
            Place::At(state) => self.entry(*state, id),
            // As listed: a planted name need not be the one `Display`
            // would make (`+5`, `007`).
            Place::Claimed(owner) => self
                .claimed()
                .ok()
                .and_then(|claims| {
                    claims
                        .into_iter()
                        .find(|(claimed, o, _)| claimed == id && o == owner)
                })
                .map_or_else(
                    || self.root.join(ACTIVE).join(format!("{id}.{owner}")),
                    |(_, _, path)| path,
                ),
            Place::Quarantined => self.root.join(QUARANTINE).join(id),
        }
    }
}

impl crate::store::NewEntry for TmpEntry<'_> {
    fn id(&self) -> &str {
        TmpEntry::id(self)
    }

    fn write_message(
        &mut self,
        write: &mut dyn FnMut(&mut dyn Write) -> io::Result<()>,
    ) -> io::Result<Digest> {
        TmpEntry::write_message(self, write)
    }

    fn written(&self) -> io::Result<postie_mime::Message> {
        postie_mime::Message::parse_file(self.message_path())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))
    }

    fn commit(self: Box<Self>, meta: &Meta, state: State) -> io::Result<()> {
        TmpEntry::commit(*self, meta, state)
    }
}

impl Claimed for Claim<'_> {
    fn check(&self) -> io::Result<Result<Meta, Damage>> {
        inspect::inspect(self.path(), true)
    }

    fn message_file(&self) -> PathBuf {
        self.message_path()
    }

    fn save(&self, meta: &Meta) -> io::Result<()> {
        Claim::save(self, meta)
    }

    fn prepare_marker(&self) -> io::Result<Box<dyn DataMarker>> {
        Ok(Box::new(Claim::prepare_marker(self)?))
    }

    fn clear_data_sent(&self) -> io::Result<()> {
        Claim::clear_data_sent(self)
    }

    fn quarantine(self: Box<Self>) -> io::Result<String> {
        Ok(Claim::quarantine(*self)?.display().to_string())
    }

    fn release(self: Box<Self>, state: State) -> io::Result<()> {
        Claim::release(*self, state)
    }

    fn delete(self: Box<Self>) -> io::Result<()> {
        Claim::delete(*self)
    }
}

impl DataMarker for Marker {
    fn set(&self) -> io::Result<()> {
        Marker::set(self)
    }

    fn give_back(&self) -> io::Result<()> {
        Marker::give_back(self)
    }
}

/// The message's header fields, as text.
fn header(path: &Path) -> io::Result<String> {
    header_text(trust::open_read(path)?)
}

/// The header fields of the message `message` reads, as text (shared with
/// the database store, whose messages are bytes).
pub(crate) fn header_text(message: impl io::Read) -> io::Result<String> {
    use io::BufRead;
    let mut reader = io::BufReader::new(message);
    let mut text = String::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        let content = String::from_utf8_lossy(&line);
        let content = content.trim_end_matches(['\r', '\n']);
        if content.is_empty() {
            break;
        }
        text.push_str(content);
        text.push('\n');
    }
    Ok(text)
}

/// A store's numbers, counted from its entries (the folder store has no
/// cheaper way).
fn stats_of_entries(store: &(impl SpoolStore + ?Sized)) -> io::Result<Stats> {
    let now = crate::backoff::now();
    let mut stats = Stats::empty(None);
    for (id, place) in store.entries()? {
        let state = place.state_name();
        let record = match &place {
            Place::Quarantined => None,
            _ => store.look(&id, &place, false).ok().and_then(Result::ok),
        };
        if let Some(slot) = stats.states.iter_mut().find(|(name, _, _)| *name == state) {
            slot.1 += 1;
            if let Some(meta) = &record {
                let age = now.saturating_sub(meta.created);
                slot.2 = Some(slot.2.map_or(age, |oldest: u64| oldest.max(age)));
            }
        }
        if let Some(meta) = record.filter(|m| m.attempts > 0 || m.dead_reason.is_some()) {
            let ago = now.saturating_sub(meta.last_attempt);
            stats.failed.0 += u64::from(ago < 60);
            stats.failed.1 += u64::from(ago < 3600);
        }
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::meta::sample as meta;

    fn temp_spool(name: &str) -> Spool {
        let dir = std::env::temp_dir().join(format!("postie-store-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        Spool::open(dir).unwrap()
    }

    fn add(spool: &Spool) -> String {
        let entry = spool.create().unwrap();
        let id = entry.id().to_owned();
        entry.write_message(|w| w.write_all(b"hello")).unwrap();
        entry.commit(&meta(&id), State::Queued).unwrap();
        id
    }

    #[test]
    fn a_claim_is_taken_once_and_released_where_asked() {
        let spool = temp_spool("claim");
        let id = add(&spool);
        assert_eq!(spool.ids(State::Queued).unwrap(), std::slice::from_ref(&id));
        let claim = spool.claim(State::Queued, &id).unwrap().unwrap();
        assert!(spool.claim(State::Queued, &id).unwrap().is_none());
        assert!(matches!(
            spool.find(&id).unwrap(),
            Some((Place::Claimed(_), _))
        ));
        assert_eq!(fs::read(claim.message_path()).unwrap(), b"hello");
        claim.release(State::Dead).unwrap();
        assert_eq!(spool.ids(State::Dead).unwrap(), std::slice::from_ref(&id));
        assert_eq!(spool.remove(&id).unwrap(), Ok(()));
        assert_eq!(spool.remove(&id).unwrap(), Err(None));
        fs::remove_dir_all(spool.root()).unwrap();
    }

    #[test]
    fn the_folder_store_keeps_the_stores_contract() {
        let spool = temp_spool("contract");
        crate::store::contract::holds(&spool, &meta);
        fs::remove_dir_all(spool.root()).unwrap();
    }

    #[test]
    fn an_uncommitted_entry_leaves_nothing() {
        let spool = temp_spool("uncommitted");
        let entry = spool.create().unwrap();
        entry.write_message(|w| w.write_all(b"x")).unwrap();
        drop(entry);
        assert_eq!(fs::read_dir(spool.root().join(TMP)).unwrap().count(), 0);
        fs::remove_dir_all(spool.root()).unwrap();
    }

    #[test]
    fn a_dead_owners_claims_come_back_by_whether_the_data_went_out() {
        let spool = temp_spool("recover");
        let before = add(&spool);
        let after = add(&spool);
        // A process that has ended.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        let dead = Owner::parse(&format!("{pid}-1")).unwrap();
        for id in [&before, &after] {
            let to = spool.root().join(ACTIVE).join(format!("{id}.{dead}"));
            fs::rename(spool.entry(State::Queued, id), &to).unwrap();
        }
        trust::create_new(
            &spool
                .root()
                .join(ACTIVE)
                .join(format!("{after}.{dead}"))
                .join(DATA_SENT),
        )
        .unwrap();
        let recovered = spool.recover().unwrap();
        assert_eq!(recovered.len(), 2);
        assert_eq!(spool.ids(State::Queued).unwrap(), [before]);
        assert_eq!(
            spool.ids(State::Unknown).unwrap(),
            std::slice::from_ref(&after)
        );
        let meta = inspect::inspect(&spool.entry(State::Unknown, &after), true)
            .unwrap()
            .unwrap();
        assert!(meta.maybe_delivered);
        assert!(
            meta.last_error.contains("interrupted"),
            "{}",
            meta.last_error
        );
        fs::remove_dir_all(spool.root()).unwrap();
    }

    #[test]
    fn a_dead_owners_planted_claim_is_quarantined_never_written_into() {
        let spool = temp_spool("planted-claim");
        let id = add(&spool);
        // The entry moves out of the spool; a link in active/, named as a
        // dead flush's claim whose data went out, leads to it.
        let victim = spool.root().with_extension("victim");
        let _ = fs::remove_dir_all(&victim);
        fs::rename(spool.entry(State::Queued, &id), &victim).unwrap();
        trust::create_new(&victim.join(DATA_SENT)).unwrap();
        let before: Vec<(std::ffi::OsString, Vec<u8>)> = fs::read_dir(&victim)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (e.file_name(), fs::read(e.path()).unwrap())
            })
            .collect();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        let dead = Owner::parse(&format!("{pid}-1")).unwrap();
        let claim = spool.root().join(ACTIVE).join(format!("{id}.{dead}"));
        std::os::unix::fs::symlink(&victim, &claim).unwrap();
        let recovered = spool.recover().unwrap();
        assert_eq!(recovered.len(), 1);
        assert_eq!(recovered[0].state, None);
        assert!(
            recovered[0]
                .reason
                .as_deref()
                .unwrap()
                .contains("symbolic link"),
            "{:?}",
            recovered[0].reason
        );
        let after: Vec<(std::ffi::OsString, Vec<u8>)> = fs::read_dir(&victim)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (e.file_name(), fs::read(e.path()).unwrap())
            })
            .collect();
        assert_eq!(before, after, "written into the link's target");
        let moved = spool.quarantined().unwrap();
        assert_eq!(moved.len(), 1);
        assert!(fs::symlink_metadata(&moved[0].1)
            .unwrap()
            .file_type()
            .is_symlink());
        fs::remove_dir_all(spool.root()).unwrap();
        fs::remove_dir_all(&victim).unwrap();
    }

    #[test]
    fn ids_cannot_name_paths() {
        assert!(is_id("1732838400-123456-4242"));
        for bad in ["", "..", "../x", "a", "1/2", "-1"] {
            assert!(!is_id(bad), "{bad}");
        }
    }
}
