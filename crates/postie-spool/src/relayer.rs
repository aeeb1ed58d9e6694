//! The relayer loop (`postie spool run`, or a service's thread): it
//! claims the due messages a batch at a time ([`Batch`]), sends them
//! through pools ([`crate::relay`]), writes their results together, and
//! between batches waits for news (a PostgreSQL store's NOTIFY) or the
//! next message due, until its stop flag is set (or, with
//! [`Settings::once`], until nothing is due).
//!
//! What it cannot record it does not send: the batch's data mark is
//! written before its first message goes, and a store that fails (a
//! database restarting) stops the relayer's sending until it answers
//! again; the claims it held then run out and are taken back, to the
//! queue if nothing had been marked, else as unknown.

use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use postie_smtp::sysexits as exit;

use crate::backoff;
use crate::inspect::Damage;
use crate::judge::{self, Count, Disposition, Failure, Judged};
use crate::metrics::Counters;
use crate::relay::{self, MakeRoute, Outgoing, Routes};
use crate::store::{Batch, BatchLimit, Recovered, SpoolStore, DEFAULT_LEASE};

/// How often claims of relayers that stopped are looked for.
const RECOVER_EVERY: Duration = Duration::from_secs(30);
/// How often sent rows past [`Settings::keep_sent`] are deleted.
const PURGE_EVERY: Duration = Duration::from_secs(600);
/// Pools idle this long are closed, and the routes made again.
const ROUTES_IDLE: Duration = Duration::from_secs(60);
/// The longest wait after the store failed before trying it again.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How often the spool's numbers are read for the counters.
const STATS_EVERY: Duration = Duration::from_secs(10);
/// The shortest wait after a batch that found nothing to claim.
const MIN_WAIT: Duration = Duration::from_millis(200);
/// The shortest poll: a poll of nothing would spin.
const MIN_POLL: Duration = Duration::from_millis(100);
/// How long a wait may last before the stop flag is looked at.
const STOP_CHECK: Duration = Duration::from_millis(250);

/// How a relayer runs: `postie spool run`'s flags.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Settings {
    /// Until nothing is due, rather than until stopped (`--once`).
    pub once: bool,
    /// Messages claimed at once (`--batch`, default 100).
    pub batch: usize,
    /// Bytes claimed at once, at least one message (`--batch-bytes`,
    /// default 64 MiB): a batch's messages are held in memory.
    pub batch_bytes: u64,
    /// Connections per way of sending, and threads sending (default 4).
    pub connections: usize,
    /// Only this account's messages (`--account`).
    pub account: Option<String>,
    /// How long a message may be kept, whatever its route says.
    pub max_age: Option<Duration>,
    /// The longest wait between two looks at the store (default 10 s, at
    /// least 100 ms; a PostgreSQL store also wakes the relayer at once by
    /// NOTIFY). The claims' lease is the store's ([`SpoolStore::lease`],
    /// given to [`crate::Location::open`]).
    pub poll: Duration,
    /// How long a PostgreSQL store keeps the rows of sent messages
    /// (default 7 days).
    pub keep_sent: Duration,
    /// Rows may name this host's secrets (see [`crate::relay::untrusted`]):
    /// set for a store only trusted writers can write (a folder store is
    /// always trusted).
    pub trust_rows: bool,
    /// This host's own accounts file, which rows may name without
    /// `trust_rows`.
    pub own_accounts_file: Option<PathBuf>,
    /// Whether the store's numbers are read into the counters every ten
    /// seconds (for a metrics endpoint).
    pub count_spool: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            once: false,
            batch: 100,
            batch_bytes: 64 << 20,
            connections: 4,
            account: None,
            max_age: None,
            poll: Duration::from_secs(10),
            keep_sent: Duration::from_secs(7 * 86400),
            trust_rows: false,
            own_accounts_file: None,
            count_spool: false,
        }
    }
}

/// What a relayer tells as it goes; every method does nothing unless
/// implemented (`()` says nothing).
pub trait Report {
    /// What became of message `id`: `outcome` is `sent`, `kept` (queued for
    /// its next attempt), `unknown`, `dead`, `damaged` (moved aside) or
    /// `left` (a record this program cannot read: written by a newer
    /// postie, say; left where it is); `line` says it in words.
    fn message(&mut self, id: &str, outcome: &str, line: &str) {
        let _ = (id, outcome, line);
    }

    /// Something else worth a line: claims of stopped relayers taken
    /// back, an entry found damaged before it was claimed and moved aside
    /// unread (counted as damaged).
    fn note(&mut self, line: &str) {
        let _ = line;
    }

    /// The store failed (the relayer backs off and tries again).
    fn store_error(&mut self, error: &io::Error) {
        let _ = error;
    }
}

impl Report for () {}

/// How the messages went.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Tally {
    /// Sent.
    pub sent: usize,
    /// Kept for a later attempt (or as unknown).
    pub kept: usize,
    /// Given up.
    pub dead: usize,
    /// Found damaged and moved aside.
    pub damaged: usize,
    /// Left for a newer postie.
    pub newer: usize,
    /// Failures of the store.
    pub errors: usize,
}

impl Tally {
    /// The exit code of a run that ended (`postie spool run --once`,
    /// `flush`), in sendmail's convention: 71 after failures of the store,
    /// 69 when messages were given up or damaged, 75 when some are kept
    /// for later, else 0.
    pub fn exit_code(&self) -> u8 {
        judge::exit_code(self.errors, self.dead + self.damaged, self.kept)
    }
}

/// A relayer on one store. It may be made on one thread and run on
/// another (its routes and report are `Send`); it runs on the calling
/// thread, with a few threads of its own sending each batch.
pub struct Relayer<'a> {
    spool: &'a dyn SpoolStore,
    settings: Settings,
    routes: Routes<'a>,
    report: Box<dyn Report + Send + 'a>,
    tally: Tally,
    counters: Arc<Counters>,
}

impl<'a> Relayer<'a> {
    /// A relayer sending `store`'s messages as `settings` say, each
    /// through the route `maker` makes of its stored settings.
    pub fn new(
        store: &'a dyn SpoolStore,
        settings: Settings,
        maker: impl MakeRoute + Send + 'a,
    ) -> Self {
        let mut settings = settings;
        // A folder store is its user's alone.
        settings.trust_rows |= !store.shared();
        Self {
            spool: store,
            routes: Routes::new(Box::new(maker), &settings),
            settings,
            report: Box::new(()),
            tally: Tally::default(),
            counters: Arc::new(Counters::default()),
        }
    }

    /// Tells `report` what happens.
    pub fn report(mut self, report: impl Report + Send + 'a) -> Self {
        self.report = Box::new(report);
        self
    }

    /// Counts into `counters` (served by [`crate::metrics::serve`], or
    /// rendered by [`Counters::text`] for the host's own endpoint; with
    /// [`Settings::count_spool`], the store's numbers too).
    pub fn counters(mut self, counters: Arc<Counters>) -> Self {
        self.counters = counters;
        self
    }

    /// How the messages went so far.
    pub fn tally(&self) -> &Tally {
        &self.tally
    }

    /// Runs until `stop` is set (sends in flight finish; the rest of the
    /// batch goes back to the queue) or, with [`Settings::once`], until
    /// nothing is due; returns how the messages went.
    pub fn run(&mut self, stop: &AtomicBool) -> Tally {
        self.run_until(stop);
        self.tally.clone()
    }
}

impl Relayer<'_> {
    /// How often expired claims are taken back: often enough that a claim
    /// which ran out waits at most half a lease more.
    fn recover_every(&self) -> Duration {
        RECOVER_EVERY.min(self.lease() / 2)
    }

    /// How long the store's claims hold (the folder store's, as long as
    /// the process: the default lease serves for the send deadline).
    fn lease(&self) -> Duration {
        self.spool.lease().unwrap_or(DEFAULT_LEASE)
    }

    fn run_until(&mut self, stop: &AtomicBool) {
        let mut recovered_at: Option<Instant> = None;
        let mut purged_at: Option<Instant> = None;
        let mut last_work = Instant::now();
        let mut counted_at: Option<Instant> = None;
        let mut backoff = Duration::ZERO;
        while !stop.load(Ordering::SeqCst) {
            if recovered_at.is_none_or(|at| at.elapsed() >= self.recover_every()) {
                match self.spool.recover() {
                    Ok(recovered) => {
                        for entry in recovered {
                            self.report.note(&recovered_line(&entry));
                        }
                        recovered_at = Some(Instant::now());
                    }
                    Err(e) => {
                        self.error(&e);
                        if self.settings.once {
                            break;
                        }
                        backoff = self.back_off(backoff, stop);
                        continue;
                    }
                }
            }
            if purged_at.is_none_or(|at| at.elapsed() >= PURGE_EVERY) {
                match self.spool.purge_sent(self.settings.keep_sent) {
                    Ok(_) => purged_at = Some(Instant::now()),
                    Err(e) => self.error(&e),
                }
            }
            if self.settings.count_spool && counted_at.is_none_or(|at| at.elapsed() >= STATS_EVERY)
            {
                match self.spool.stats() {
                    Ok(stats) => {
                        self.counters.set_spool(stats);
                        counted_at = Some(Instant::now());
                    }
                    Err(e) => self.error(&e),
                }
            }
            match self.batch(stop) {
                Ok(0) => {
                    if self.settings.once {
                        break;
                    }
                    if last_work.elapsed() >= ROUTES_IDLE {
                        self.routes.clear();
                    }
                    if let Err(e) = self.wait(stop) {
                        self.error(&e);
                        backoff = self.back_off(backoff, stop);
                        continue;
                    }
                    // Nothing claimed, the store answered: its failures
                    // are over.
                    backoff = Duration::ZERO;
                    continue;
                }
                Ok(_) => last_work = Instant::now(),
                Err(e) => {
                    self.error(&e);
                    if self.settings.once {
                        break;
                    }
                    backoff = self.back_off(backoff, stop);
                    continue;
                }
            }
            backoff = Duration::ZERO;
        }
    }

    /// Waits after a failure of the store, longer each time (up to
    /// [`MAX_BACKOFF`]); returns the next wait.
    fn back_off(&self, last: Duration, stop: &AtomicBool) -> Duration {
        let wait = (last * 2).clamp(Duration::from_secs(1), MAX_BACKOFF);
        sleep(wait, stop);
        wait
    }

    /// Waits for news of a queued message, the next one due, or `--poll`;
    /// at least [`MIN_WAIT`], so that messages due but claimed by others
    /// (or a clock ahead of the store's) never make it spin.
    fn wait(&self, stop: &AtomicBool) -> io::Result<()> {
        let mut wait = self.settings.poll.max(MIN_POLL).min(self.recover_every());
        if let Some(due) = self.spool.next_due(self.settings.account.as_deref())? {
            wait = wait.min(due);
        }
        let wait = wait.max(MIN_WAIT);
        let until = Instant::now() + wait;
        while !stop.load(Ordering::SeqCst) {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() || self.spool.wait(left.min(STOP_CHECK))? {
                break;
            }
        }
        Ok(())
    }

    /// Claims, sends and records one batch; returns how many messages it
    /// claimed.
    fn batch(&mut self, stop: &AtomicBool) -> io::Result<usize> {
        let now = backoff::now();
        let limit = BatchLimit {
            messages: self.settings.batch.max(1),
            bytes: self.settings.batch_bytes,
        };
        let mut batch = self
            .spool
            .claim_due(limit, now, self.settings.account.as_deref())?;
        let count = batch.taken().len();
        if count == 0 {
            return Ok(0);
        }
        let mut results: Vec<Option<Disposition>> = (0..count).map(|_| None).collect();
        // What to say of each judged message once the batch is written.
        let mut lines: Vec<Said> = Vec::new();
        let mut outgoing = Vec::new();
        let mut ready = Vec::new();
        for (n, taken) in batch.taken().iter().enumerate() {
            if let Some(to) = &taken.moved {
                let reason = taken.meta.as_ref().err().map_or("", Damage::reason);
                self.tally.damaged += 1;
                Counters::add(&self.counters.damaged, 1);
                self.report.note(&format!(
                    "{}: damaged, moved unread to {to}: {reason}",
                    taken.id
                ));
                continue;
            }
            let meta = match &taken.meta {
                Ok(meta) => meta.clone(),
                Err(Damage::Newer(reason)) => {
                    self.tally.newer += 1;
                    self.tell(&taken.id, "left", &format!("{}: {reason}", taken.id));
                    results[n] = Some(Disposition::Back(taken.from));
                    continue;
                }
                Err(Damage::Mismatch(meta, reason)) => {
                    let (said, disposition) =
                        Said::of(judge::give_up(*meta.clone(), reason.clone()));
                    lines.push(said);
                    results[n] = Some(disposition);
                    continue;
                }
                Err(damage) => {
                    self.tally.damaged += 1;
                    Counters::add(&self.counters.damaged, 1);
                    self.tell(
                        &taken.id,
                        "damaged",
                        &format!("{}: damaged, moved aside: {}", taken.id, damage.reason()),
                    );
                    results[n] = Some(Disposition::Quarantine);
                    continue;
                }
            };
            // Before anything is sent: a route that cannot be made (an
            // account missing, a password command failing, a row this
            // relayer does not trust with its secrets) or a message that
            // cannot be read is judged as `postie spool flush` would.
            let prepared = if meta.recipients.is_empty() {
                Err(Failure::Input(
                    exit::DATAERR,
                    "the row has no envelope recipients".to_owned(),
                ))
            } else {
                self.routes.route(&meta).and_then(|(route, fresh)| {
                    let message = batch.message(n).map_err(|e| match e.kind() {
                        io::ErrorKind::InvalidData => Failure::Input(exit::DATAERR, e.to_string()),
                        _ => Failure::Input(exit::TEMPFAIL, e.to_string()),
                    })?;
                    Ok((route, fresh, message))
                })
            };
            match prepared {
                Ok((route, fresh, message)) => {
                    outgoing.push(Outgoing {
                        n,
                        message,
                        envelope: relay::kept_envelope(&meta),
                        route: Arc::clone(&route),
                    });
                    ready.push((n, (meta, route, !fresh)));
                }
                Err(failure) => {
                    let max_age = self.settings.max_age.unwrap_or(backoff::DEFAULT_MAX_AGE);
                    let (said, disposition) =
                        Said::of(judge::attempt(meta, Err(failure), now, max_age));
                    lines.push(said);
                    results[n] = Some(disposition);
                }
            }
        }
        let which: Vec<usize> = ready.iter().map(|(n, _)| *n).collect();
        let held = match batch.mark(&which) {
            Ok(held) => held,
            Err(e) => {
                // Nothing was sent: all of it back where it rested.
                let back = give_back(batch.as_ref(), results);
                let _ = batch.finish(&back);
                return Err(e);
            }
        };
        // A claim lost before its mark is another relayer's now: neither
        // sent nor written here.
        outgoing.retain(|one| held.contains(&one.n));
        let threads = self.settings.connections.max(1);
        // The claims renewed a few times per lease while the batch goes:
        // a slow server or a rate limit must not let them run out.
        let mut renew_error = None;
        let sent = relay::send_all(outgoing, threads, stop, self.lease(), &mut || match batch
            .renew()
        {
            Ok(()) => true,
            Err(e) => {
                renew_error = Some(e);
                false
            }
        });
        if let Some(e) = renew_error {
            self.error(&e);
        }
        let mut ready: std::collections::HashMap<usize, _> = ready.into_iter().collect();
        for (n, result) in sent {
            let Some((meta, route, kept_route)) = ready.remove(&n) else {
                continue;
            };
            let from = batch.taken()[n].from;
            let result = match result {
                // Not sent: the relayer is stopping, or its claims could
                // not be renewed.
                None => {
                    results[n] = Some(Disposition::Back(from));
                    continue;
                }
                // Refused authentication with a secret read in an earlier
                // batch: it may have changed since. Read again, and the
                // message tried again, rather than given up on an old
                // password.
                Some(Err(Failure::Send(error)))
                    if kept_route && exit::for_error(&error) == exit::NOPERM =>
                {
                    self.routes.forget(&meta);
                    results[n] = Some(Disposition::Back(from));
                    continue;
                }
                Some(result) => result,
            };
            let (said, disposition) =
                Said::of(judge::attempt(meta, result, backoff::now(), route.max_age));
            lines.push(said);
            results[n] = Some(disposition);
        }
        // The results written (retried while the claims last: a database
        // restarting now must not turn a sent batch into an unknown one);
        // from here on they count.
        let lost = self.finish(batch.as_mut(), &results)?;
        let lines: Vec<Said> = lines
            .into_iter()
            .filter(|said| !lost.contains(&said.id))
            .collect();
        Counters::add(&self.counters.batches, 1);
        for said in lines {
            let (tally, counter) = match said.count {
                Count::Sent => (&mut self.tally.sent, &self.counters.sent),
                Count::Kept => (&mut self.tally.kept, &self.counters.kept),
                Count::Dead => (&mut self.tally.dead, &self.counters.dead),
            };
            *tally += 1;
            Counters::add(counter, 1);
            self.tell(&said.id, said.outcome, &said.line);
        }
        Ok(count)
    }

    /// Writes a batch's results, trying again while its claims last when
    /// the store fails (a database restarting: the connection comes back);
    /// returns the ids whose claims were lost (taken back by another
    /// relayer: their results are that one's now).
    fn finish(
        &mut self,
        batch: &mut dyn Batch,
        results: &[Option<Disposition>],
    ) -> io::Result<Vec<String>> {
        let until = Instant::now() + self.lease() / 2;
        let mut wait = Duration::from_millis(200);
        loop {
            match batch.finish(results) {
                Ok(lost) => {
                    let ids: Vec<String> =
                        lost.iter().map(|&n| batch.taken()[n].id.clone()).collect();
                    if !ids.is_empty() {
                        self.error(&io::Error::other(format!(
                            "{}: the claims ran out and were taken back before the results were written: the relayer that took them decides",
                            ids.join(", ")
                        )));
                    }
                    return Ok(ids);
                }
                Err(e) if Instant::now() + wait < until => {
                    self.error(&e);
                    std::thread::sleep(wait);
                    wait = (wait * 2).min(Duration::from_secs(5));
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn tell(&mut self, id: &str, outcome: &str, line: &str) {
        self.report.message(id, outcome, line);
    }

    fn error(&mut self, error: &io::Error) {
        self.tally.errors += 1;
        Counters::add(&self.counters.store_errors, 1);
        self.report.store_error(error);
    }
}

/// Sleeps for `wait`, or until `stop` is set.
fn sleep(wait: Duration, stop: &AtomicBool) {
    let until = Instant::now() + wait;
    while !stop.load(Ordering::SeqCst) {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        std::thread::sleep(left.min(STOP_CHECK));
    }
}

/// The line that says what became of a claim of a relayer or flush that
/// stopped.
pub fn recovered_line(recovered: &Recovered) -> String {
    match recovered.state {
        None => format!(
            "{}: the flush sending it (process {}) stopped, and it is damaged: moved to quarantine/: {}",
            recovered.id,
            recovered.owner.pid(),
            recovered.reason.as_deref().unwrap_or_default()
        ),
        Some(crate::store::State::Unknown) => format!(
            "{}: the flush sending it (process {}) stopped after the data went out: kept as unknown; `postie spool flush --force` sends it again",
            recovered.id,
            recovered.owner.pid()
        ),
        _ => format!(
            "{}: the flush sending it (process {}) stopped before the data went out: back in the queue",
            recovered.id,
            recovered.owner.pid()
        ),
    }
}

/// What is said of a judged message, kept until its batch is written.
struct Said {
    id: String,
    outcome: &'static str,
    count: Count,
    line: String,
}

impl Said {
    /// What to say of `judged`, and where its message goes.
    fn of(judged: Judged) -> (Self, Disposition) {
        let outcome = judged.outcome();
        (
            Self {
                id: judged.id,
                outcome,
                count: judged.count,
                line: judged.line,
            },
            judged.disposition,
        )
    }
}

/// Every taken message not judged yet, put back where it rested.
fn give_back(batch: &dyn Batch, results: Vec<Option<Disposition>>) -> Vec<Option<Disposition>> {
    results
        .into_iter()
        .zip(batch.taken())
        .map(|(result, taken)| match result {
            None if taken.moved.is_none() => Some(Disposition::Back(taken.from)),
            other => other,
        })
        .collect()
}
