//! The durable outbound spool: `postie send --spool-on-failure` keeps a
//! message that failed temporarily, `postie spool flush` sends it again.
//!
//! The spool itself is postie-spool's: [`store`] is the seam (what the
//! commands need of the place where entries wait), its folder store keeps
//! them on disk behind it (atomic renames, fsyncs, claims), [`meta`] is
//! what is recorded of each, [`backoff`] says when to try again, and its
//! relayer is `postie spool run` ([`run`]). Here are the commands:
//! [`flush`] retries the entries, `list`, `show`, `remove`, `init` and
//! `stats` look at them. An entry moves like this:
//!
//! ```text
//! send fails temporarily ──► queue/ ──flush claims──► active/ ──sent──► (deleted)
//!                              ▲                        │ │ └─ 5xx, auth, expired ──► dead/
//!                              └── temporary failure ───┘ └── no reply after the dot ─► unknown/
//! send ends after the dot ────────────────────────────────────────────────────────────► unknown/
//! unknown/ ──flush --force claims──► active/ (as above; a temporary failure goes back to unknown/)
//! ```
//!
//! A flush that dies leaves its claim in `active/`; the next spool
//! command gives it back to `queue/` when the DATA command had not gone
//! out yet, else to `unknown/`.
//!
//! Which store, and where, is chosen once per command ([`choice`]): a
//! folder, or (feature `postgres`) a PostgreSQL database, opened in
//! [`open_store`] alone.
//!
//! The spool trusts nothing on disk it has not checked ([`trust`]): an
//! entry that is damaged or planted is shown as `damaged` and moved out of
//! the way, never followed or sent.

mod choice;
mod flush;
mod format1;
mod relay;
mod run;
mod stats;

use std::io;
use std::path::PathBuf;

use postie_mime::Message;
use postie_smtp::{envelope, Error, LocalEnv, Outcome, Prepared, SendOptions};
use postie_spool::meta::Meta;
use postie_spool::store::{self, Place, SpoolStore, State};
use postie_spool::{backoff, judge, trust};
use serde_json::{json, Value};

use crate::args::{SendArgs, SpoolArgs, SpoolCommand};
use crate::exit;
pub(crate) use choice::Store;
pub(crate) use format1::settings_from_flags;

/// What a retry needs of the `postie send` command line: how to send, as
/// the flags made it, and the account by name.
#[derive(Clone)]
pub(crate) struct Retry {
    transport: postie_smtp::TransportSettings,
    account: Option<String>,
    config: Option<PathBuf>,
}

impl Retry {
    /// From the settings the flags made (before the account fills them in)
    /// and the account in use.
    pub(crate) fn new(
        args: &SendArgs,
        transport: &postie_smtp::TransportSettings,
        account: Option<&crate::config::Account>,
    ) -> Self {
        // The file the account came from, named outright: a retry must not
        // find another file (or another default account) there.
        let config = account
            .and_then(|a| a.file.clone().or_else(|| args.config.clone()))
            .map(|path| std::path::absolute(&path).unwrap_or(path));
        Self {
            transport: transport.clone(),
            account: account.map(|a| a.name.clone()),
            config,
        }
    }
}

/// Whether the contract keeps a message that failed with `error`: a
/// temporary failure (exit 75), a name that does not resolve (68), and an
/// unknown outcome (kept as unknown).
pub(crate) fn keeps(error: &Error) -> bool {
    error.outcome() == Outcome::Unknown
        || matches!(exit::for_error(error), exit::TEMPFAIL | exit::NOHOST)
}

/// A message kept by `postie send`.
pub(crate) struct Kept {
    /// Its spool id.
    pub(crate) id: String,
    unknown: bool,
    /// Kept without trying (`--defer`).
    deferred: bool,
}

impl Kept {
    /// The line `postie send` prints about it.
    pub(crate) fn notice(&self) -> String {
        if self.deferred {
            format!(
                "postie: kept in the spool as {}, not sent (--defer): `postie spool run` or `postie spool flush` sends it",
                self.id
            )
        } else if self.unknown {
            format!(
                "postie: kept in the spool as {}, marked unknown (the server may have it): only `postie spool flush --force` sends it again",
                self.id
            )
        } else {
            format!(
                "postie: kept in the spool as {}; `postie spool flush` retries it",
                self.id
            )
        }
    }
}

/// The store `postie send --spool-on-failure` keeps a message in:
/// `--store` (`flag`), else the environment, else `account`'s
/// `spool_store`, else the default folder. Chosen before the message is
/// sent, so that a store named wrongly stops the send (exit 78) rather
/// than the keeping of a message that failed. `Err` has the exit code and
/// the message.
pub(crate) fn store_for_send(
    flag: Option<&str>,
    account: Option<&crate::config::Account>,
) -> Result<Store, (u8, String)> {
    choice::choose(flag, &|| {
        Ok(account.and_then(|a| Some((a.name.clone(), a.spool_store.clone()?))))
    })
}

/// Keeps the message `postie send` failed to send with `error` (`None`:
/// did not try, `--defer`) in `store`: the bytes exactly as prepared (so
/// a retry has the same Date and Message-ID, and no Bcc), the envelope,
/// and `retry`. Durable when this returns `Ok`.
pub(crate) fn keep(
    retry: Retry,
    store: &Store,
    message: &Message,
    prepared: &Prepared,
    error: Option<&Error>,
) -> Result<Kept, String> {
    let (spool, root) = open_store(store, true)
        .map_err(|(_, text)| text)?
        .ok_or("the spool could not be made")?;
    let at = |e: io::Error| opening_error(&root, &e);
    let mut entry = spool.create().map_err(at)?;
    let digest = entry
        .write_message(&mut |w| {
            prepared.write_message(message, w).map_err(|e| match e {
                postie_mime::Error::Io(io) => io,
                other => io::Error::other(other.to_string()),
            })
        })
        .map_err(at)?;
    if let Some(change) = retry_changes(entry.written(), prepared) {
        eprintln!("postie: warning: {change}");
    }
    let unknown = error.is_some_and(|e| e.outcome() == Outcome::Unknown);
    let now = backoff::now();
    let id = entry.id().to_owned();
    // Due at once: someone who runs `postie spool flush` by hand wants it
    // tried.
    let meta = Meta {
        account: retry.account,
        config: retry.config,
        transport: retry.transport,
        last_error: error
            .map(|e| judge::record_text(&judge::error_text(e)))
            .unwrap_or_default(),
        maybe_delivered: unknown,
        ..Meta::new(
            &id,
            now,
            digest,
            prepared.reverse_path(),
            prepared.recipients(),
        )
    };
    let state = if unknown {
        State::Unknown
    } else {
        State::Queued
    };
    entry.commit(&meta, state).map_err(at)?;
    Ok(Kept {
        id,
        unknown,
        deferred: error.is_none(),
    })
}

/// A retry prepares the kept message again (with no header flags and the
/// envelope fixed), which must leave its fields as they are. That holds
/// for every message but a few in Resent mode (`--header Resent-*`): one
/// without a Date, or whose From differs from the sender, gets Date or
/// Sender added. Says what would change, if anything.
fn retry_changes(written: io::Result<Message>, prepared: &Prepared) -> Option<String> {
    let again = written.ok()?;
    let options = SendOptions::new()
        .servers(["localhost"])
        .client(prepared.client().to_owned())
        .originator(prepared.reverse_path())
        .recipients(prepared.recipients().join(", "));
    let redone = match envelope::prepare(&again, &options, &LocalEnv::from_system()) {
        Ok(redone) => redone,
        Err(e) => return Some(format!("a retry from the spool will fail: {e}")),
    };
    if redone.headers() == again.headers() {
        return None;
    }
    let added: Vec<String> = redone
        .headers()
        .iter()
        .map(|h| h.name().to_string())
        .filter(|name| !again.headers().contains(name))
        .collect();
    Some(format!(
        "a retry from the spool will add {} to the header",
        if added.is_empty() {
            "fields".to_owned()
        } else {
            added.join(", ")
        }
    ))
}

/// `postie spool ...`.
pub(crate) fn run(args: SpoolArgs) -> u8 {
    // The account whose spool_store counts: the one `--account` names
    // (list, flush), else the accounts file's default.
    let account = match &args.command {
        SpoolCommand::List { account, .. } => account.clone(),
        SpoolCommand::Flush(flags) => flags.account.clone(),
        SpoolCommand::Run(flags) => flags.account.clone(),
        _ => None,
    };
    let lookup = || {
        let account = crate::config::load(None, account.as_deref())?;
        Ok(account.and_then(|a| Some((a.name, a.spool_store?))))
    };
    let store = match choice::choose(args.store.store.as_deref(), &lookup) {
        Ok(store) => store,
        Err((code, text)) => return fail(code, &text),
    };
    match args.command {
        SpoolCommand::List { json, account } => list(&store, json, account.as_deref()),
        SpoolCommand::Show { id, json } => show(&store, &id, json),
        SpoolCommand::Remove { ids, json } => remove(&store, &ids, json),
        SpoolCommand::Init { json } => init(&store, json),
        SpoolCommand::Flush(flags) => flush::run(&flags, &store),
        SpoolCommand::Run(flags) => run::run(&flags, &store),
        SpoolCommand::Stats { json } => stats::run(&store, json),
    }
}

/// `postie spool init`: the database store's migrations; a folder store
/// has nothing to do (it is made when a message is first kept).
fn init(store: &Store, json: bool) -> u8 {
    let (kind, applied, version) = match store {
        Store::Folder(_) => ("folder", Vec::<i32>::new(), None::<i32>),
        #[cfg(feature = "postgres")]
        Store::Postgres(target) => match postie_spool::pg::PgStore::init(target) {
            Ok((applied, version)) => ("postgres", applied, Some(version)),
            Err(e) => {
                return fail(database_code(&e), &format!("{}: {e}", target.display()));
            }
        },
        other => {
            return fail(
                exit::SOFTWARE,
                &format!("{}: a store this postie cannot make", other.describe()),
            );
        }
    };
    let location = store.describe();
    if json {
        println!(
            "{}",
            json!({
                "store": kind,
                "location": location,
                "applied": applied,
                "schema_version": version,
            })
        );
        return exit::OK;
    }
    match version {
        None => println!(
            "postie: the spool is a folder ({location}): nothing to do; it is made when a message is first kept"
        ),
        Some(version) if applied.is_empty() => {
            println!("postie: {location}: the schema is at version {version}: nothing to do");
        }
        Some(version) => println!(
            "postie: {location}: applied migration{} {}; the schema is at version {version}",
            if applied.len() == 1 { "" } else { "s" },
            applied
                .iter()
                .map(i32::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
    exit::OK
}

/// The exit code for a database store that cannot be opened or used: 78
/// for what a setting fixes (a login refused, a password file others may
/// read, a schema newer than this postie), else 71.
fn database_code(error: &io::Error) -> u8 {
    match error.kind() {
        io::ErrorKind::PermissionDenied | io::ErrorKind::Unsupported => exit::CONFIG,
        _ => exit::OS_ERR,
    }
}

/// The error of a spool that cannot be opened or used, naming where it
/// is: for one that is not to be trusted, what to fix.
fn opening_error(root: &str, error: &io::Error) -> String {
    if trust::is_untrusted(error) {
        format!("the spool is not used: {error}")
    } else {
        format!("{root}: {error}")
    }
}

/// The exit code for a spool that cannot be opened: 78 for one that is
/// not to be trusted (a setting to fix), else 71.
fn opening_code(error: &io::Error) -> u8 {
    if trust::is_untrusted(error) {
        exit::CONFIG
    } else {
        exit::OS_ERR
    }
}

/// Opens the spool when it exists (`Ok(None)` when it does not: nothing
/// was ever kept), after cleaning up after dead processes. `Err` has the
/// exit code and the message.
fn open_existing(store: &Store) -> Result<Option<Box<dyn SpoolStore>>, (u8, String)> {
    let Some((spool, root)) = open_store(store, false)? else {
        return Ok(None);
    };
    let at = |e: io::Error| (opening_code(&e), opening_error(&root, &e));
    for recovered in spool.recover().map_err(at)? {
        eprintln!(
            "postie: {}",
            postie_spool::relayer::recovered_line(&recovered)
        );
    }
    Ok(Some(spool))
}

/// An opened store, and where it is, for messages.
type Opened = (Box<dyn SpoolStore>, String);

/// The one place a store is opened, with where it is, for messages.
/// Without `create`, `Ok(None)` when a folder store is not there yet (a
/// database store is always there: opening it makes its tables, as
/// `postie spool init` does). `Err` has the exit code and the message.
fn open_store(store: &Store, create: bool) -> Result<Option<Opened>, (u8, String)> {
    open_store_leasing(store, create, store::DEFAULT_LEASE)
}

/// [`open_store`] whose claims hold a message for `lease` at a time (a
/// database store's; a folder store's claims last as long as their
/// process).
fn open_store_leasing(
    store: &Store,
    create: bool,
    lease: std::time::Duration,
) -> Result<Option<Opened>, (u8, String)> {
    let shown = store.describe();
    match store.open(create, lease) {
        Ok(opened) => Ok(opened.map(|spool| (spool, shown))),
        Err(e) => Err((store_code(store, &e), opening_error(&shown, &e))),
    }
}

/// The exit code for a store that cannot be opened: a database's by
/// [`database_code`], a folder's by [`opening_code`].
fn store_code(store: &Store, error: &io::Error) -> u8 {
    match store {
        Store::Folder(_) => opening_code(error),
        _ => database_code(error),
    }
}

/// One entry as `list` and `show` see it.
struct Row {
    place: Place,
    meta: Meta,
}

/// An entry found damaged, as `list` and `show` see it.
struct Damaged {
    /// Its name in its folder (the id, for all but planted names).
    id: String,
    place: Place,
    reason: String,
    /// Where to find it ([`SpoolStore::locate`]).
    location: String,
}

impl Damaged {
    fn folder(&self) -> &'static str {
        match self.place {
            Place::At(state) => state.name(),
            Place::Claimed(_) => "sending",
            Place::Quarantined => "quarantine",
        }
    }

    fn line(&self) -> String {
        let fields = [
            self.id.as_str(),
            "damaged",
            "-",
            "-",
            "never",
            "-",
            self.reason.as_str(),
        ];
        fields
            .map(|f| f.replace(['\t', '\r', '\n'], " "))
            .join("\t")
    }

    fn json(&self) -> Value {
        json!({
            "id": self.id,
            "state": "damaged",
            "folder": self.folder(),
            "damage": self.reason,
            "path": self.location,
        })
    }
}

impl Row {
    fn state(&self) -> &'static str {
        self.place.state_name()
    }

    /// When a flush tries it next, in words.
    fn next(&self, now: u64) -> String {
        match self.place {
            Place::At(State::Queued) if self.meta.next_attempt <= now => "now".to_owned(),
            Place::At(State::Queued) => {
                format!("in {}", backoff::span(self.meta.next_attempt - now))
            }
            Place::At(State::Unknown) => "--force".to_owned(),
            Place::At(State::Dead) | Place::Quarantined => "never".to_owned(),
            Place::Claimed(_) => "-".to_owned(),
        }
    }

    fn line(&self, now: u64) -> String {
        let fields = [
            self.meta.id.clone(),
            self.state().to_owned(),
            backoff::span(now.saturating_sub(self.meta.created)),
            self.meta.attempts.to_string(),
            self.next(now),
            self.meta.recipients.join(","),
            self.meta
                .dead_reason
                .clone()
                .unwrap_or_else(|| self.meta.last_error.clone()),
        ];
        fields
            .map(|f| f.replace(['\t', '\r', '\n'], " "))
            .join("\t")
    }

    fn json(&self, now: u64) -> Value {
        let meta = &self.meta;
        json!({
            "id": meta.id,
            "state": self.state(),
            "pid": match self.place { Place::Claimed(owner) => Some(owner.pid()), _ => None },
            "created": meta.created,
            "age": now.saturating_sub(meta.created),
            "attempts": meta.attempts,
            "next_attempt": matches!(self.place, Place::At(State::Queued)).then_some(meta.next_attempt),
            "last_attempt": meta.last_attempt,
            "account": meta.account,
            "reverse_path": meta.reverse_path,
            "recipients": meta.recipients,
            "size": meta.size,
            "maybe_delivered": meta.maybe_delivered,
            "last_error": meta.last_error,
            "dead_reason": meta.dead_reason,
        })
    }
}

/// Whether `list` and `show` check the message of an entry there against
/// its record: not in `dead/`, whose messages are never sent again (and
/// where a flush puts the ones that failed the check, with the reason).
fn checks_message(place: &Place) -> bool {
    !matches!(place, Place::At(State::Dead))
}

/// Every entry, oldest first, and the damaged ones (each checked as a
/// flush would, the message's size and hash included where it can still
/// be sent).
fn rows(spool: &dyn SpoolStore) -> io::Result<(Vec<Row>, Vec<Damaged>)> {
    let mut rows = Vec::new();
    let mut damaged = Vec::new();
    for (id, place) in spool.entries()? {
        let quarantined = place == Place::Quarantined;
        let reason = match spool.look(&id, &place, checks_message(&place)) {
            Ok(Ok(meta)) if !quarantined => {
                rows.push(Row { place, meta });
                continue;
            }
            Ok(Ok(_)) => {
                "quarantined (it reads well now: `postie spool remove` it, or move it back by hand)"
                    .to_owned()
            }
            Ok(Err(damage)) => damage.reason().to_owned(),
            // Moved since the listing: shown where it went, or not at all.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) if quarantined => format!("{}: {e}", spool.locate(&id, &place)),
            Err(e) => return Err(e),
        };
        let location = spool.locate(&id, &place);
        damaged.push(Damaged {
            id,
            place,
            reason,
            location,
        });
    }
    // Quarantined ones last, as they were listed.
    damaged.sort_by_key(|d| d.place == Place::Quarantined);
    rows.sort_by(|a, b| (a.meta.created, &a.meta.id).cmp(&(b.meta.created, &b.meta.id)));
    Ok((rows, damaged))
}

fn list(store: &Store, json: bool, account: Option<&str>) -> u8 {
    let spool = match open_existing(store) {
        Ok(spool) => spool,
        Err((code, text)) => return fail(code, &text),
    };
    let (rows, damaged) = match spool.as_deref().map(rows).transpose() {
        Ok(found) => found.unwrap_or_default(),
        Err(e) => return fail(exit::OS_ERR, &e.to_string()),
    };
    let rows = rows
        .into_iter()
        .filter(|row| account.is_none() || row.meta.account.as_deref() == account);
    // Damaged ones are shown whatever --account says: their record, if
    // any, cannot be trusted to say whose they are.
    let now = backoff::now();
    if json {
        let values = rows
            .map(|row| row.json(now))
            .chain(damaged.iter().map(Damaged::json));
        println!("{}", Value::Array(values.collect()));
    } else {
        for row in rows {
            println!("{}", row.line(now));
        }
        for entry in &damaged {
            println!("{}", entry.line());
        }
    }
    if damaged.is_empty() {
        exit::OK
    } else {
        eprintln!(
            "postie: {} damaged spool {} (`postie spool flush` moves them to quarantine/ or dead/, `postie spool remove ID` deletes one)",
            damaged.len(),
            if damaged.len() == 1 { "entry" } else { "entries" }
        );
        exit::IO_ERR
    }
}

fn show(store: &Store, id: &str, json: bool) -> u8 {
    let spool = match open_existing(store) {
        Ok(Some(spool)) => spool,
        Ok(None) => return fail(exit::NOINPUT, &format!("no message {id} in the spool")),
        Err((code, text)) => return fail(code, &text),
    };
    let place = match spool.find(id) {
        Ok(Some(found)) => found,
        Ok(None) => return fail(exit::NOINPUT, &format!("no message {id} in the spool")),
        Err(e) => return fail(exit::OS_ERR, &e.to_string()),
    };
    // Checked before anything in it is read: a planted link is never
    // followed, so never printed.
    let location = spool.locate(id, &place);
    let meta = match spool.look(id, &place, checks_message(&place)) {
        Ok(Ok(meta)) if place != Place::Quarantined => meta,
        Ok(found) => {
            let reason = match found {
                Err(damage) => damage.reason().to_owned(),
                Ok(_) => "quarantined".to_owned(),
            };
            let damaged = Damaged {
                id: id.to_owned(),
                place,
                reason,
                location,
            };
            if json {
                println!("{}", damaged.json());
            } else {
                println!("id: {}", damaged.id);
                println!("state: damaged ({})", damaged.folder());
                println!("damage: {}", damaged.reason);
                println!("path: {}", damaged.location);
            }
            return exit::IO_ERR;
        }
        Err(e) => return fail(exit::OS_ERR, &format!("{location}: {e}")),
    };
    let header = match spool.header(id, &place) {
        Ok(header) => header,
        Err(e) => return fail(exit::OS_ERR, &e.to_string()),
    };
    let row = Row { place, meta };
    let now = backoff::now();
    if json {
        let mut value = row.json(now);
        if let Some(object) = value.as_object_mut() {
            object.insert("transport".to_owned(), json!(row.meta.transport));
            object.insert("header".to_owned(), json!(header));
            object.insert("path".to_owned(), json!(location));
        }
        println!("{value}");
        return exit::OK;
    }
    let meta = &row.meta;
    let reverse_path = format!("<{}>", meta.reverse_path);
    let lines = [
        ("id", meta.id.clone()),
        ("state", row.state().to_owned()),
        (
            "age",
            backoff::span(now.saturating_sub(meta.created)).to_string(),
        ),
        ("attempts", meta.attempts.to_string()),
        ("next attempt", row.next(now)),
        (
            "account",
            meta.account.clone().unwrap_or_else(|| "-".into()),
        ),
        ("from", reverse_path),
        ("to", meta.recipients.join(", ")),
        ("size", format!("{} bytes", meta.size)),
        (
            "transport",
            serde_json::to_string(&meta.transport).unwrap_or_default(),
        ),
        ("last error", meta.last_error.clone()),
        ("dead because", meta.dead_reason.clone().unwrap_or_default()),
        ("path", location),
    ];
    for (name, value) in lines {
        if !value.is_empty() {
            println!("{name}: {value}");
        }
    }
    println!();
    print!("{header}");
    exit::OK
}

fn remove(store: &Store, ids: &[String], json: bool) -> u8 {
    let spool = match open_existing(store) {
        Ok(spool) => spool,
        Err((code, text)) => return fail(code, &text),
    };
    let mut code = exit::OK;
    let mut results = Vec::new();
    for id in ids {
        let removed = match &spool {
            Some(spool) => spool.remove(id),
            None => Ok(Err(None)),
        };
        let failure = match removed {
            Ok(Ok(())) => None,
            Ok(Err(None)) => Some((exit::NOINPUT, format!("no message {id} in the spool"))),
            Ok(Err(Some(owner))) => Some((
                exit::TEMPFAIL,
                format!(
                    "{id} is being sent by a flush (process {}); remove it after that ends",
                    owner.pid()
                ),
            )),
            Err(e) => Some((exit::OS_ERR, format!("{id}: {e}"))),
        };
        results.push(json!({
            "id": id,
            "removed": failure.is_none(),
            "error": failure.as_ref().map(|(_, text)| text.clone()),
        }));
        if let Some((failed, text)) = failure {
            code = fail(failed, &text);
        }
    }
    if json {
        println!("{}", Value::Array(results));
    }
    code
}

fn fail(code: u8, text: &str) -> u8 {
    eprintln!("postie: {text}");
    code
}
