//! How a relayer sends: one pool of connections per way of sending (the
//! kept transport settings, the account and its accounts file), kept
//! between batches, and a batch's messages sent through them by a few
//! threads at once, each with the envelope it was kept with.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use clap::Parser as _;
use postie_mime::Message;
use postie_smtp::blocking::Pool;
use postie_smtp::{envelope, Envelope, LocalEnv, Sent};

use super::backoff::DEFAULT_MAX_AGE;
use super::meta::Meta;
use crate::args::{Cli, Command, SendArgs};
use crate::config::Account;
use crate::deliver::Failure;
use crate::exit;
use crate::sent_log::LogTarget;

/// One way of sending, ready: its pool, the account as read, and what the
/// account says of the spool and the log.
pub(super) struct Route {
    pool: Pool,
    account: Option<Account>,
    /// How long a message may be kept.
    pub(super) max_age: Duration,
    log: LogTarget,
    /// The options the pool sends with, for the log's envelope.
    options: postie_smtp::SendOptions,
}

/// The transport settings (as JSON), the account and its accounts file.
type Key = (String, Option<String>, Option<PathBuf>);

/// The routes made so far. A route that could not be made (an account
/// missing, a password command failing) is not kept: the next batch tries
/// again, so a fixed setting takes effect without a restart.
pub(super) struct Routes {
    made: HashMap<Key, Arc<Route>>,
    connections: usize,
    verbose: bool,
    max_age: Option<Duration>,
}

impl Routes {
    /// No routes yet; each pool will have at most `connections`
    /// connections; `max_age` overrides the accounts'.
    pub(super) fn new(connections: usize, verbose: bool, max_age: Option<Duration>) -> Self {
        Self {
            made: HashMap::new(),
            connections,
            verbose,
            max_age,
        }
    }

    /// Closes every pool (QUIT on idle connections); the next batch reads
    /// the accounts (and their secrets) again.
    pub(super) fn clear(&mut self) {
        self.made.clear();
    }

    /// The route for `meta`'s message; `Err` has the exit code `postie
    /// send` would give and the reason.
    pub(super) fn route(&mut self, meta: &Meta) -> Result<Arc<Route>, Failure> {
        let transport = serde_json::to_string(&meta.transport)
            .map_err(|e| Failure::Input(exit::SOFTWARE, e.to_string()))?;
        let key = (transport, meta.account.clone(), meta.config.clone());
        if let Some(route) = self.made.get(&key) {
            return Ok(Arc::clone(route));
        }
        let route = Arc::new(self.make(meta)?);
        self.made.insert(key, Arc::clone(&route));
        Ok(route)
    }

    fn make(&self, meta: &Meta) -> Result<Route, Failure> {
        let input = |(code, text): (u8, String)| Failure::Input(code, text);
        let account = match &meta.account {
            Some(name) => super::flush::read_account(meta.config.as_deref(), name)
                .map_err(|text| Failure::Input(exit::CONFIG, text))?,
            None => None,
        };
        let mut args = send_args(self.verbose)?;
        let options = crate::deliver::options_with_account(
            &mut args,
            meta.transport.clone(),
            account.as_ref(),
            None,
        )
        .map_err(input)?;
        let log = crate::deliver::log_target(&args, account.as_ref()).map_err(input)?;
        let max_age = self
            .max_age
            .or_else(|| account.as_ref()?.spool_max_age)
            .unwrap_or(DEFAULT_MAX_AGE);
        let connections = self.connections;
        Ok(Route {
            pool: Pool::new(options.clone()).max_size(connections),
            account,
            max_age,
            log,
            options,
        })
    }
}

/// The flags of `postie send` a relayer sends with: none but `--verbose`
/// (the settings are the kept ones), and no progress bar (many messages
/// go at once).
fn send_args(verbose: bool) -> Result<SendArgs, Failure> {
    let mut argv = vec!["postie", "send", "--quiet"];
    if verbose {
        argv.push("--verbose");
    }
    match Cli::try_parse_from(argv) {
        Ok(Cli {
            command: Command::Send(args),
        }) => Ok(*args),
        Ok(_) => Err(Failure::Input(exit::SOFTWARE, "not a send".to_owned())),
        Err(e) => Err(Failure::Input(exit::SOFTWARE, e.to_string())),
    }
}

/// A message ready to go: where it is in the batch, the message, its
/// envelope and its route.
pub(super) struct Outgoing {
    pub(super) n: usize,
    pub(super) message: Message,
    pub(super) envelope: Envelope,
    pub(super) route: Arc<Route>,
}

/// What became of each outgoing message (by its place in the batch);
/// `None`: not sent, because the relayer is stopping.
pub(super) type Results = Vec<(usize, Option<Result<Sent, Failure>>)>;

/// Sends `outgoing` from `threads` threads at once (each message through
/// its route's pool, which holds the connections); once `stop` is set, no
/// more sends start. Meanwhile `keep_alive` is called every `every` on
/// this thread (a batch's lease renewed); when it fails, no more sends
/// start either: what cannot be recorded is not sent.
pub(super) fn send_all(
    outgoing: Vec<Outgoing>,
    threads: usize,
    stop: &AtomicBool,
    every: Duration,
    keep_alive: &mut dyn FnMut() -> bool,
) -> Results {
    let next = AtomicUsize::new(0);
    let halted = AtomicBool::new(false);
    let results = Mutex::new(Vec::with_capacity(outgoing.len()));
    let threads = threads.clamp(1, outgoing.len().max(1));
    std::thread::scope(|scope| {
        // Each worker holds a sender; when all are gone, all are done.
        let (done, finished) = std::sync::mpsc::channel::<()>();
        for _ in 0..threads {
            let done = done.clone();
            let (next, halted, results, outgoing) = (&next, &halted, &results, &outgoing);
            scope.spawn(move || {
                let _done = done;
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(one) = outgoing.get(i) else {
                        break;
                    };
                    let go = !stop.load(Ordering::SeqCst) && !halted.load(Ordering::SeqCst);
                    let result = go.then(|| send_one(one));
                    results
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push((one.n, result));
                }
            });
        }
        drop(done);
        while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = finished.recv_timeout(every) {
            if !halted.load(Ordering::SeqCst) && !keep_alive() {
                halted.store(true, Ordering::SeqCst);
            }
        }
    });
    results.into_inner().unwrap_or_else(PoisonError::into_inner)
}

fn send_one(one: &Outgoing) -> Result<Sent, Failure> {
    let route = &one.route;
    let result = route.pool.send_to(&one.message, &one.envelope);
    if route.log.is_on() {
        let options = route
            .options
            .clone()
            .originator(one.envelope.originator())
            .recipients(one.envelope.recipients());
        if let Ok(prepared) = envelope::prepare(&one.message, &options, &LocalEnv::from_system()) {
            crate::deliver::log_outcome(
                &route.log,
                route.account.as_ref(),
                &one.message,
                &prepared,
                result.as_ref(),
            );
        }
    }
    result.map_err(Failure::Send)
}

/// The envelope a message was kept with.
pub(super) fn kept_envelope(meta: &Meta) -> Envelope {
    Envelope::new(meta.reverse_path.clone(), &meta.recipients)
}
