//! `postie spool flush`: each due message is claimed, sent with the flags
//! and account it was kept with, and then deleted, queued again, given up
//! or marked unknown.

use std::collections::HashMap;
use std::ffi::OsString;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Parser;
use postie_smtp::{Trace, TraceKind};

use postie_spool::backoff::{self, DEFAULT_MAX_AGE};
use postie_spool::inspect::Damage;
use postie_spool::judge::{self, Count, Judged};
use postie_spool::meta::Meta;
use postie_spool::relayer::recovered_line;
use postie_spool::store::{Claimed, DataMarker, Place, SpoolStore, State};
use postie_spool::{trust, Failure};

use crate::args::{Cli, Command, FlushArgs};
use crate::config::Account;
use crate::exit;

/// How the messages went.
#[derive(Default)]
struct Tally {
    sent: usize,
    kept: usize,
    dead: usize,
    /// Queued, not due yet.
    waiting: usize,
    /// Left in unknown/ (without `--force`).
    unknown: usize,
    /// Spool operations that failed.
    errors: usize,
    /// Damaged or planted entries moved to quarantine/ or dead/.
    damaged: usize,
    /// Entries of a newer postie, left alone.
    newer: usize,
}

struct Flush<'a> {
    spool: &'a dyn SpoolStore,
    args: &'a FlushArgs,
    /// The time the flush started: a message queued again by this flush is
    /// not due again in it.
    now: u64,
    tally: Tally,
    /// Accounts read so far, by config file and name: a flush of many
    /// messages reads each accounts file once (a password command still
    /// runs at each attempt).
    accounts: HashMap<(Option<PathBuf>, String), Result<Option<Account>, String>>,
}

/// Runs `postie spool flush` on `store`.
pub(crate) fn run(args: &FlushArgs, store: &super::Store) -> u8 {
    let spool = match super::open_store(store, false) {
        Ok(Some((spool, _))) => spool,
        Ok(None) => return exit::OK,
        Err((code, text)) => {
            eprintln!("postie: {text}");
            return code;
        }
    };
    let mut flush = Flush {
        spool: spool.as_ref(),
        args,
        now: backoff::now(),
        tally: Tally::default(),
        accounts: HashMap::new(),
    };
    flush.run();
    flush.summary();
    if args.json {
        let t = &flush.tally;
        println!(
            "{}",
            serde_json::json!({"summary": {
                "sent": t.sent, "kept": t.kept, "given_up": t.dead, "waiting": t.waiting,
                "unknown": t.unknown, "damaged": t.damaged, "left_for_newer": t.newer,
                "errors": t.errors,
            }})
        );
    }
    let tally = &flush.tally;
    judge::exit_code(tally.errors, tally.dead + tally.damaged, tally.kept)
}

impl Flush<'_> {
    fn run(&mut self) {
        match self.spool.recover() {
            Ok(recovered) => {
                for entry in recovered {
                    match entry.state {
                        Some(State::Unknown) => self.tally.kept += 1,
                        None => self.tally.damaged += 1,
                        Some(_) => {}
                    }
                    self.say(&recovered_line(&entry));
                }
            }
            Err(e) => self.error(&e),
        }
        // Both listings before any attempt: a message that becomes unknown
        // in this run must not be sent again by this same `--force` run.
        let mut states = vec![State::Queued];
        if self.args.force {
            states.push(State::Unknown);
        }
        let mut work = Vec::new();
        for state in states {
            match self.spool.ids(state) {
                Ok(ids) => work.extend(ids.into_iter().map(|id| (state, id))),
                Err(e) => self.error(&e),
            }
        }
        let total = work.len();
        let bar = crate::progress::enabled(self.args.quiet) && total > 1;
        for (done, (state, id)) in work.into_iter().enumerate() {
            if bar {
                crate::progress::show(&format!("postie: flushing {} of {total}", done + 1));
            }
            if let Err(e) = self.one(state, &id) {
                self.error(&io::Error::new(e.kind(), format!("{id}: {e}")));
            }
        }
        if !self.args.force {
            self.tally.unknown = self
                .spool
                .ids(State::Unknown)
                .map_or(0, |ids| self.wanted_count(State::Unknown, &ids));
        }
    }

    fn wanted_count(&self, state: State, ids: &[String]) -> usize {
        ids.iter()
            .filter(|id| {
                matches!(self.spool.look(id, &Place::At(state), false), Ok(Ok(m)) if self.wanted(&m))
            })
            .count()
    }

    /// `--account` picks the messages of one account.
    fn wanted(&self, meta: &Meta) -> bool {
        self.args.account.is_none() || meta.account == self.args.account
    }

    fn due(&self, state: State, meta: &Meta) -> bool {
        match state {
            State::Queued => self.args.force || meta.next_attempt <= self.now,
            State::Unknown => self.args.force,
            State::Dead => false,
        }
    }

    fn one(&mut self, state: State, id: &str) -> io::Result<()> {
        // A look before claiming, so that the entries left alone (not
        // due, another account's) are not moved at all.
        let meta = match self.spool.look(id, &Place::At(state), false) {
            Ok(Ok(meta)) => meta,
            Ok(Err(Damage::Newer(reason))) => {
                self.tally.newer += 1;
                self.say(&format!("{id}: {reason}"));
                return Ok(());
            }
            // A planted link or someone else's entry: moved aside without
            // being claimed, so nothing is ever written into it.
            Ok(Err(damage)) => {
                match self.spool.quarantine(state, id) {
                    Ok(to) => self.quarantined(id, &to, damage.reason()),
                    // Taken by another flush meanwhile, which judges it.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
                return Ok(());
            }
            // Claimed or removed since the listing.
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        if !self.wanted(&meta) {
            return Ok(());
        }
        if !self.due(state, &meta) {
            self.tally.waiting += 1;
            return Ok(());
        }
        let Some(claim) = self.spool.claim(state, id)? else {
            return Ok(());
        };
        // Looked at again, now that it is this process's: another flush
        // may have tried it since, and the message is checked against
        // its record (size and hash) before it is sent.
        let meta = match claim.check() {
            Ok(Ok(meta)) => meta,
            Ok(Err(Damage::Newer(reason))) => {
                self.tally.newer += 1;
                self.say(&format!("{id}: {reason}"));
                return claim.release(state);
            }
            Ok(Err(Damage::Mismatch(meta, reason))) => return self.bury(claim, *meta, reason),
            Ok(Err(damage)) => {
                let to = claim.quarantine()?;
                self.quarantined(id, &to, damage.reason());
                return Ok(());
            }
            Err(e) => {
                claim.release(state)?;
                return Err(e);
            }
        };
        if !self.due(state, &meta) {
            self.tally.waiting += 1;
            return claim.release(state);
        }
        // Made before anything is sent: a full disk stops the attempt
        // here, with the entry back where it was.
        let marker = match claim.prepare_marker() {
            Ok(marker) => marker,
            Err(e) => {
                claim.clear_data_sent()?;
                claim.release(state)?;
                return Err(io::Error::new(
                    e.kind(),
                    format!("cannot prepare the attempt, left {}: {e}", state.name()),
                ));
            }
        };
        self.attempt(claim, meta, marker)
    }

    fn quarantined(&mut self, id: &str, to: &str, reason: &str) {
        self.tally.damaged += 1;
        self.tell(
            id,
            "damaged",
            &format!("{id}: damaged, moved unread to {to}: {reason}"),
        );
    }

    /// The account a message names, from the accounts file it names,
    /// read only when that file is the user's (see [`trust::accounts_file`]).
    fn account(&mut self, meta: &Meta) -> Result<Option<Account>, String> {
        let Some(name) = &meta.account else {
            return Ok(None);
        };
        self.accounts
            .entry((meta.config.clone(), name.clone()))
            .or_insert_with(|| read_account(meta.config.as_deref(), name))
            .clone()
    }

    fn attempt(
        &mut self,
        claim: Box<dyn Claimed + '_>,
        meta: Meta,
        marker: Box<dyn DataMarker>,
    ) -> io::Result<()> {
        let account = self.account(&meta);
        let max_age = self
            .args
            .max_age
            .or_else(|| account.as_ref().ok()?.as_ref()?.spool_max_age)
            .unwrap_or(DEFAULT_MAX_AGE);
        let result = match account {
            Ok(account) => self.send(claim.as_ref(), &meta, account.as_ref(), marker),
            Err(text) => Err(Failure::Input(exit::CONFIG, text)),
        };
        let judged = judge::attempt(meta, result, backoff::now(), max_age);
        self.carry_out(claim, judged)
    }

    /// Gives a message up: to dead/, with the reason.
    fn bury(&mut self, claim: Box<dyn Claimed + '_>, meta: Meta, reason: String) -> io::Result<()> {
        self.carry_out(claim, judge::give_up(meta, reason))
    }

    /// Writes what was judged (for a sent message, the deletion in here
    /// is the moment it counts as sent), then counts and says it.
    fn carry_out(&mut self, claim: Box<dyn Claimed + '_>, judged: Judged) -> io::Result<()> {
        let outcome = judged.outcome();
        judge::apply(claim, judged.disposition)?;
        match judged.count {
            Count::Sent => self.tally.sent += 1,
            Count::Kept => self.tally.kept += 1,
            Count::Dead => self.tally.dead += 1,
        }
        self.tell(&judged.id, outcome, &judged.line);
        Ok(())
    }

    /// Sends the claimed message as `postie send` would, with the settings
    /// it was kept with and its envelope.
    fn send(
        &self,
        claim: &dyn Claimed,
        meta: &Meta,
        account: Option<&Account>,
        marker: Box<dyn DataMarker>,
    ) -> Result<postie_smtp::Sent, Failure> {
        let mut argv: Vec<OsString> = vec!["postie".into(), "send".into()];
        argv.push(format!("--originator={}", meta.reverse_path).into());
        argv.push(format!("--recipients={}", meta.recipients.join(", ")).into());
        if self.args.verbose {
            argv.push("--verbose".into());
        }
        argv.push("--".into());
        argv.push(claim.message_file().into());
        let args = match Cli::try_parse_from(argv) {
            Ok(Cli {
                command: Command::Send(args),
            }) => *args,
            Ok(_) => return Err(Failure::Input(exit::SOFTWARE, "not a send".to_owned())),
            Err(e) => {
                let text = e.to_string();
                let first = text.lines().next().unwrap_or_default().to_owned();
                return Err(Failure::Input(exit::USAGE, first));
            }
        };
        crate::deliver::resend(args, meta.transport.clone(), account, data_marker(marker))
    }

    /// Says what became of message `id` (`outcome`, as `--json` names
    /// it): the line, and with `--json` its object on standard output.
    fn tell(&self, id: &str, outcome: &str, line: &str) {
        if self.args.json {
            println!("{}", judge::event(id, outcome, line));
        }
        self.say(line);
    }

    fn say(&self, line: &str) {
        if !self.args.quiet {
            if crate::progress::enabled(false) {
                crate::progress::clear();
            }
            eprintln!("postie: {line}");
        }
    }

    fn error(&mut self, error: &io::Error) {
        self.tally.errors += 1;
        eprintln!("postie: spool: {error}");
    }

    fn summary(&self) {
        let t = &self.tally;
        let any = t.sent + t.kept + t.dead + t.waiting + t.unknown + t.errors + t.damaged + t.newer;
        if self.args.quiet || any == 0 {
            return;
        }
        let mut line = format!(
            "postie: spool flush: {} sent, {} kept, {} given up",
            t.sent, t.kept, t.dead
        );
        if t.waiting > 0 {
            line.push_str(&format!("; {} wait for their next attempt", t.waiting));
        }
        if t.unknown > 0 {
            line.push_str(&format!(
                "; {} unknown (sent again only with --force)",
                t.unknown
            ));
        }
        if t.damaged > 0 {
            line.push_str(&format!(
                "; {} damaged (moved to quarantine/ or dead/)",
                t.damaged
            ));
        }
        if t.newer > 0 {
            line.push_str(&format!("; {} left for a newer postie", t.newer));
        }
        eprintln!("{line}");
    }
}

/// The account `name` from the accounts file `config` (else the default
/// one), read only when that file is the user's (see
/// [`trust::accounts_file`]).
pub(super) fn read_account(
    config: Option<&std::path::Path>,
    name: &str,
) -> Result<Option<Account>, String> {
    let named = config
        .map(std::path::Path::to_path_buf)
        .or_else(crate::config::default_path)
        .ok_or_else(|| "no accounts file: HOME is not set".to_owned())?;
    let checked = trust::accounts_file(&named)?;
    crate::config::load(Some(&checked), Some(name))
}

/// The trace callback that records, durably, that the data is about to
/// go out: the core reports DATA and BDAT to the callback before it
/// writes them. Without the record a crash would look like "never
/// offered" and the message could be sent twice, so when the record
/// cannot be made the process stops here, before the data goes.
///
/// The record is made ahead when the entry is claimed, and here only
/// renamed, so a full disk (blocks or inodes) is found before the send
/// starts and this rarely fails. When it does (an I/O error), the entry is
/// put back where it rested and the process exits 71 (it used to abort,
/// dumping core, exit 134): the callback cannot stop the send any other
/// way, and an exit is safe where a crash is.
fn data_marker(marker: Box<dyn DataMarker>) -> postie_smtp::TraceFn {
    let done = std::sync::atomic::AtomicBool::new(false);
    Arc::new(move |line: &Trace| {
        let data =
            line.kind == TraceKind::Sent && (line.text == "DATA" || line.text.starts_with("BDAT "));
        if data && !done.swap(true, std::sync::atomic::Ordering::SeqCst) {
            if let Err(e) = marker.set() {
                let back = match marker.give_back() {
                    Ok(()) => "it is back where it was".to_owned(),
                    Err(back) => format!(
                        "it stays claimed ({back}) until the next spool command takes it back"
                    ),
                };
                eprintln!(
                    "postie: spool: cannot record that the data goes out ({e}): stopped before it did; {back}"
                );
                std::process::exit(i32::from(exit::OS_ERR));
            }
        }
    })
}
