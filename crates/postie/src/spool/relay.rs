//! How a relayer sends: one pool of connections per way of sending (the
//! kept transport settings, the account and its accounts file), kept
//! between batches, and a batch's messages sent through them by a few
//! threads at once, each with the envelope it was kept with.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
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

/// A route made: for which transport settings, account and accounts
/// file, and when.
struct Made {
    transport: postie_smtp::TransportSettings,
    account: Option<String>,
    config: Option<PathBuf>,
    route: Arc<Route>,
    at: std::time::Instant,
}

impl Made {
    /// Whether it is the route of `meta`'s message.
    fn serves(&self, meta: &Meta) -> bool {
        self.transport == meta.transport
            && self.account == meta.account
            && self.config == meta.config
    }
}

/// The routes made so far (a few: one per way of sending, compared
/// directly rather than hashed). A route that could not be made (an
/// account missing, a password command failing) is not kept: the next
/// batch tries again, so a fixed setting takes effect without a restart.
pub(super) struct Routes {
    made: Vec<Made>,
    connections: usize,
    verbose: bool,
    max_age: Option<Duration>,
    /// Rows may name the relayer's secrets: `--trust-rows`, or a store
    /// only its user can write (the folder store).
    trust_rows: bool,
}

/// How long a route is used before the account and its secret are read
/// again, however busy the relayer is (a password changed, a key rotated).
const ROUTE_MAX_AGE: Duration = Duration::from_secs(300);

/// Why a row may not be sent by a relayer that does not trust the table's
/// writers with its secrets (`--trust-rows`), if it may not. Whoever
/// writes a row chooses where it goes; it must not also choose which of
/// the relayer's secrets goes there: a password source (an environment
/// variable or file of the relayer's host), a DKIM key or client
/// certificate of the relayer's, or another accounts file. A row may name
/// an account, whose own servers and secret are then used, with no
/// connection settings of its own (else it could send the account's
/// password to a server of its choosing).
pub(super) fn untrusted(meta: &Meta) -> Option<String> {
    let t = &meta.transport;
    let defaults = postie_smtp::TransportSettings::default();
    let reason = if t.auth.secret.is_some() {
        "names a password source"
    } else if t.proxy.as_ref().is_some_and(|p| p.secret.is_some()) {
        "names a proxy password source"
    } else if !t.dkim.is_empty() {
        "names a DKIM key file"
    } else if t.client_certificate.is_some() {
        "names a client certificate"
    } else if meta
        .config
        .as_ref()
        .is_some_and(|named| Some(named) != crate::config::default_path().as_ref())
    {
        "names an accounts file other than this relayer's"
    } else if meta.account.is_some()
        && (t.servers != defaults.servers
            || t.ports != defaults.ports
            || t.proxy.is_some()
            || t.tls != defaults.tls
            || t.tls_policy != defaults.tls_policy
            || t.ca_files != defaults.ca_files
            || t.tls_fingerprints != defaults.tls_fingerprints
            || t.accept_invalid_certificates
            || t.lmtp)
    {
        "names an account and connection settings of its own (servers, ports, TLS, a proxy)"
    } else {
        return None;
    };
    Some(format!(
        "{reason}: not sent, as this relayer does not trust the table's writers with its secrets (start it with --trust-rows if they are trusted)"
    ))
}

impl Routes {
    /// No routes yet; each pool will have at most `connections`
    /// connections; `max_age` overrides the accounts'.
    pub(super) fn new(
        connections: usize,
        verbose: bool,
        max_age: Option<Duration>,
        trust_rows: bool,
    ) -> Self {
        Self {
            made: Vec::new(),
            connections,
            verbose,
            max_age,
            trust_rows,
        }
    }

    /// Forgets the route of `meta`'s message: the next one reads its
    /// account and secret again (after an authentication refused).
    pub(super) fn forget(&mut self, meta: &Meta) {
        self.made.retain(|made| !made.serves(meta));
    }

    /// Closes every pool (QUIT on idle connections); the next batch reads
    /// the accounts (and their secrets) again.
    pub(super) fn clear(&mut self) {
        self.made.clear();
    }

    /// The route for `meta`'s message, and whether it was made now (not
    /// kept from an earlier batch); `Err` has the exit code `postie send`
    /// would give and the reason.
    pub(super) fn route(&mut self, meta: &Meta) -> Result<(Arc<Route>, bool), Failure> {
        if !self.trust_rows {
            if let Some(reason) = untrusted(meta) {
                return Err(Failure::Input(exit::NOPERM, reason));
            }
        }
        if let Some(made) = self.made.iter().find(|made| made.serves(meta)) {
            if made.at.elapsed() < ROUTE_MAX_AGE {
                return Ok((Arc::clone(&made.route), false));
            }
        }
        let route = Arc::new(self.make(meta)?);
        self.forget(meta);
        self.made.push(Made {
            transport: meta.transport.clone(),
            account: meta.account.clone(),
            config: meta.config.clone(),
            route: Arc::clone(&route),
            at: std::time::Instant::now(),
        });
        Ok((route, true))
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
/// more sends start. The claims hold for `lease` from now: `keep_alive`
/// (the lease renewed) is called every third of it on this thread, and no
/// send starts later than three quarters of a lease after the last
/// renewal that worked (a renewal that fails, or hangs on a database that
/// went silent, stops the sending): what cannot be recorded is not sent.
pub(super) fn send_all(
    outgoing: Vec<Outgoing>,
    threads: usize,
    stop: &AtomicBool,
    lease: Duration,
    keep_alive: &mut dyn FnMut() -> bool,
) -> Results {
    let every = (lease / 3).max(Duration::from_millis(100));
    let margin = lease * 3 / 4;
    let base = std::time::Instant::now();
    let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    // Milliseconds after `base` until which a send may start.
    let alive_until = AtomicU64::new(millis(margin));
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
            let alive_until = &alive_until;
            scope.spawn(move || {
                let _done = done;
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(one) = outgoing.get(i) else {
                        break;
                    };
                    let go = !stop.load(Ordering::SeqCst)
                        && !halted.load(Ordering::SeqCst)
                        && millis(base.elapsed()) < alive_until.load(Ordering::SeqCst);
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
            if halted.load(Ordering::SeqCst) {
                continue;
            }
            let asked = base.elapsed();
            if keep_alive() {
                alive_until.store(millis(asked + margin), Ordering::SeqCst);
            } else {
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use postie_smtp::settings::DkimSettings;
    use postie_smtp::{SecretSource, TransportSettings};

    fn meta(transport: TransportSettings, account: Option<&str>) -> Meta {
        let mut meta: Meta = serde_json::from_value(serde_json::json!({
            "version": 2, "id": "1-1-1", "created": 0, "account": null, "config": null,
            "reverse_path": "a@x.org", "recipients": ["b@x.org"], "size": 1,
            "attempts": 0, "next_attempt": 0, "last_attempt": 0, "last_error": "",
            "maybe_delivered": false
        }))
        .unwrap();
        meta.transport = transport;
        meta.account = account.map(str::to_owned);
        meta
    }

    #[test]
    fn a_row_may_not_choose_which_secret_of_the_relayer_goes_where() {
        let mut servers = TransportSettings::default();
        servers.servers = vec!["mx.example.org".into()];
        // Its own servers, no secret: its mail goes where it says.
        assert_eq!(untrusted(&meta(servers.clone(), None)), None);
        // An account alone: the account's servers and secret.
        assert_eq!(
            untrusted(&meta(TransportSettings::default(), Some("shop"))),
            None
        );
        let mut dsn = TransportSettings::default();
        dsn.pipelining = false;
        assert_eq!(untrusted(&meta(dsn, Some("shop"))), None);

        let mut secret = servers.clone();
        secret.auth.secret = Some(SecretSource::Env("PGPASSWORD".into()));
        let mut dkim = servers.clone();
        dkim.dkim = vec![DkimSettings::new("/etc/postie/dkim.pem", "s1")];
        let mut cert = servers.clone();
        cert.client_certificate = Some(("/c.pem".into(), "/k.pem".into()));
        let mut insecure = TransportSettings::default();
        insecure.accept_invalid_certificates = true;
        for (transport, account, reason) in [
            (secret, None, "password source"),
            (dkim, None, "DKIM key"),
            (cert, None, "client certificate"),
            (servers, Some("shop"), "an account and connection settings"),
            (insecure, Some("shop"), "an account and connection settings"),
        ] {
            let said = untrusted(&meta(transport, account)).unwrap();
            assert!(
                said.contains(reason) && said.contains("--trust-rows"),
                "{said}"
            );
        }
        let mut named_file = meta(TransportSettings::default(), Some("shop"));
        named_file.config = Some("/home/other/.config/postie/config.toml".into());
        assert!(untrusted(&named_file).unwrap().contains("accounts file"));
        // The relayer's own accounts file may be named.
        named_file.config = crate::config::default_path();
        assert_eq!(untrusted(&named_file), None);
    }
}
