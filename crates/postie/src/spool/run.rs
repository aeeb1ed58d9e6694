//! `postie spool run`: a relayer. It claims the due messages a batch at a
//! time ([`Batch`]), sends them through pools ([`super::relay`]), writes
//! their results together, and between batches waits for news (a
//! PostgreSQL store's NOTIFY) or the next message due, until SIGTERM or
//! SIGINT (or, with `--once`, until nothing is due).
//!
//! What it cannot record it does not send: the batch's data mark is
//! written before its first message goes, and a store that fails (a
//! database restarting) stops the relayer's sending until it answers
//! again; the claims it held then run out and are taken back, to the
//! queue if nothing had been marked, else as unknown.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::backoff;
use super::inspect::Damage;
use super::judge::{self, Count, Disposition, Judged};
use super::metrics::{self, Counters};
use super::relay::{self, Outgoing, Routes};
use super::store::{Batch, BatchLimit, SpoolStore};
use crate::args::RunArgs;
use crate::deliver::Failure;
use crate::exit;

/// How often claims of relayers that stopped are looked for.
const RECOVER_EVERY: Duration = Duration::from_secs(30);
/// How often sent rows past `--keep-sent` are deleted.
const PURGE_EVERY: Duration = Duration::from_secs(600);
/// Pools idle this long are closed, and the accounts read again.
const ROUTES_IDLE: Duration = Duration::from_secs(60);
/// The longest wait after the store failed before trying it again.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How often the spool's numbers are read for `--metrics`.
const STATS_EVERY: Duration = Duration::from_secs(10);
/// The shortest wait after a batch that found nothing to claim.
const MIN_WAIT: Duration = Duration::from_millis(200);
/// How long a wait may last before the stop flag is looked at.
const STOP_CHECK: Duration = Duration::from_millis(250);

/// How the messages went.
#[derive(Default)]
struct Tally {
    sent: usize,
    kept: usize,
    dead: usize,
    damaged: usize,
    newer: usize,
    errors: usize,
}

struct Relayer<'a> {
    spool: &'a dyn SpoolStore,
    args: &'a RunArgs,
    stop: &'a AtomicBool,
    routes: Routes,
    tally: Tally,
    /// What `--metrics` serves.
    counters: Arc<Counters>,
}

/// Runs `postie spool run` on `store`.
pub(crate) fn run(args: &RunArgs, store: &super::Store) -> u8 {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        // The second signal ends the process at once (exit 1): for a
        // relayer stuck on a server that does not answer.
        let registered =
            signal_hook::flag::register_conditional_shutdown(signal, 1, Arc::clone(&stop))
                .and_then(|_| signal_hook::flag::register(signal, Arc::clone(&stop)));
        if let Err(e) = registered {
            eprintln!("postie: cannot handle signal {signal}: {e}");
            return exit::OS_ERR;
        }
    }
    // A lease shorter than a second is held by nothing (claims would run
    // out before a message is sent); a poll of nothing would spin.
    if args.lease < Duration::from_secs(1) || args.poll < Duration::from_millis(100) {
        eprintln!("postie: spool run: --lease must be at least 1s and --poll at least 100ms");
        return exit::USAGE;
    }
    let counters = Arc::new(Counters::default());
    if let Some(addr) = &args.metrics {
        let served = metrics::loopback(addr).and_then(|addr| {
            metrics::serve(addr, Arc::clone(&counters))
                .map_err(|e| format!("--metrics {addr}: {e}"))
        });
        match served {
            Ok(addr) => {
                if !args.quiet {
                    eprintln!("postie: spool run: metrics at http://{addr}/metrics");
                }
            }
            Err(text) => {
                eprintln!("postie: {text}");
                return exit::USAGE;
            }
        }
    }
    // A relayer that runs on made the folder if there was none; one that
    // runs once has nothing to do without it.
    let spool = match super::open_store_leasing(store, !args.once, args.lease) {
        Ok(Some((spool, _))) => spool,
        Ok(None) => return exit::OK,
        Err((code, text)) => {
            eprintln!("postie: {text}");
            return code;
        }
    };
    let mut relayer = Relayer {
        spool: spool.as_ref(),
        args,
        stop: &stop,
        routes: Routes::new(
            usize::try_from(args.connections).unwrap_or(1),
            args.verbose,
            args.max_age,
            args.trust_rows || !spool.shared(),
        ),
        tally: Tally::default(),
        counters,
    };
    relayer.run();
    relayer.summary();
    if args.json {
        relayer.json_summary();
    }
    let tally = &relayer.tally;
    if !args.once {
        // Stopped as asked.
        return exit::OK;
    }
    judge::exit_code(tally.errors, tally.dead + tally.damaged, tally.kept)
}

impl Relayer<'_> {
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// How often expired claims are taken back: often enough that a claim
    /// which ran out waits at most half a lease more.
    fn recover_every(&self) -> Duration {
        RECOVER_EVERY.min(self.args.lease / 2)
    }

    fn run(&mut self) {
        let mut recovered_at: Option<Instant> = None;
        let mut purged_at: Option<Instant> = None;
        let mut last_work = Instant::now();
        let mut counted_at: Option<Instant> = None;
        let mut backoff = Duration::ZERO;
        while !self.stopping() {
            if recovered_at.is_none_or(|at| at.elapsed() >= self.recover_every()) {
                match self.spool.recover() {
                    Ok(recovered) => {
                        for entry in recovered {
                            self.say(&super::flush::recovered_line(&entry));
                        }
                        recovered_at = Some(Instant::now());
                    }
                    Err(e) => {
                        self.error(&e);
                        if self.args.once {
                            break;
                        }
                        backoff = self.back_off(backoff);
                        continue;
                    }
                }
            }
            if purged_at.is_none_or(|at| at.elapsed() >= PURGE_EVERY) {
                match self.spool.purge_sent(self.args.keep_sent) {
                    Ok(_) => purged_at = Some(Instant::now()),
                    Err(e) => self.error(&e),
                }
            }
            if self.args.metrics.is_some()
                && counted_at.is_none_or(|at| at.elapsed() >= STATS_EVERY)
            {
                match self.spool.stats() {
                    Ok(stats) => {
                        self.counters.set_spool(stats);
                        counted_at = Some(Instant::now());
                    }
                    Err(e) => self.error(&e),
                }
            }
            match self.batch() {
                Ok(0) => {
                    if self.args.once {
                        break;
                    }
                    if last_work.elapsed() >= ROUTES_IDLE {
                        self.routes.clear();
                    }
                    if let Err(e) = self.wait() {
                        self.error(&e);
                        backoff = self.back_off(backoff);
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
                    if self.args.once {
                        break;
                    }
                    backoff = self.back_off(backoff);
                    continue;
                }
            }
            backoff = Duration::ZERO;
        }
    }

    /// Waits after a failure of the store, longer each time (up to
    /// [`MAX_BACKOFF`]); returns the next wait.
    fn back_off(&self, last: Duration) -> Duration {
        let wait = (last * 2).clamp(Duration::from_secs(1), MAX_BACKOFF);
        self.sleep(wait);
        wait
    }

    fn sleep(&self, wait: Duration) {
        let until = Instant::now() + wait;
        while !self.stopping() {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            std::thread::sleep(left.min(STOP_CHECK));
        }
    }

    /// Waits for news of a queued message, the next one due, or `--poll`;
    /// at least [`MIN_WAIT`], so that messages due but claimed by others
    /// (or a clock ahead of the store's) never make it spin.
    fn wait(&self) -> io::Result<()> {
        let mut wait = self.args.poll.min(self.recover_every());
        if let Some(due) = self.spool.next_due(self.args.account.as_deref())? {
            wait = wait.min(due);
        }
        let wait = wait.max(MIN_WAIT);
        let until = Instant::now() + wait;
        while !self.stopping() {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() || self.spool.wait(left.min(STOP_CHECK))? {
                break;
            }
        }
        Ok(())
    }

    /// Claims, sends and records one batch; returns how many messages it
    /// claimed.
    fn batch(&mut self) -> io::Result<usize> {
        let now = backoff::now();
        let limit = BatchLimit {
            messages: usize::try_from(self.args.batch).unwrap_or(1),
            bytes: self.args.batch_bytes,
        };
        let mut batch = self
            .spool
            .claim_due(limit, now, self.args.account.as_deref())?;
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
                self.say(&format!(
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
                    let max_age = self.args.max_age.unwrap_or(backoff::DEFAULT_MAX_AGE);
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
        let threads = usize::try_from(self.args.connections).unwrap_or(1);
        // The claims renewed a few times per lease while the batch goes:
        // a slow server or a rate limit must not let them run out.
        let mut renew_error = None;
        let sent =
            relay::send_all(
                outgoing,
                threads,
                self.stop,
                self.args.lease,
                &mut || match batch.renew() {
                    Ok(()) => true,
                    Err(e) => {
                        renew_error = Some(e);
                        false
                    }
                },
            );
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
        let until = Instant::now() + self.args.lease / 2;
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

    fn say(&self, line: &str) {
        if !self.args.quiet {
            eprintln!("postie: {line}");
        }
    }

    /// Says what became of message `id` (`outcome`, as `--json` names
    /// it): the line on standard error, and with `--json` its object on
    /// standard output.
    fn tell(&self, id: &str, outcome: &str, line: &str) {
        if self.args.json {
            println!("{}", judge::event(id, outcome, line));
        }
        self.say(line);
    }

    fn error(&mut self, error: &io::Error) {
        self.tally.errors += 1;
        Counters::add(&self.counters.store_errors, 1);
        eprintln!("postie: spool: {error}");
    }

    fn summary(&self) {
        let t = &self.tally;
        if self.args.quiet {
            return;
        }
        let mut line = format!(
            "postie: spool run: {} sent, {} kept, {} given up",
            t.sent, t.kept, t.dead
        );
        if t.damaged > 0 {
            line.push_str(&format!("; {} damaged (moved aside)", t.damaged));
        }
        if t.newer > 0 {
            line.push_str(&format!("; {} left for a newer postie", t.newer));
        }
        if t.errors > 0 {
            line.push_str(&format!("; {} errors of the store", t.errors));
        }
        eprintln!("{line}");
    }

    /// `--json`'s last line.
    fn json_summary(&self) {
        let t = &self.tally;
        println!(
            "{}",
            serde_json::json!({"summary": {
                "sent": t.sent, "kept": t.kept, "given_up": t.dead, "damaged": t.damaged,
                "left_for_newer": t.newer, "store_errors": t.errors,
            }})
        );
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
