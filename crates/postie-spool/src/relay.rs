//! How a relayer sends: one pool of connections per way of sending (the
//! kept transport settings, the account and its accounts file), made by
//! the host's [`MakeRoute`] and kept between batches, and a batch's
//! messages sent through them by a few threads at once, each with the
//! envelope it was kept with.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use postie_mime::Message;
use postie_smtp::blocking::Pool;
use postie_smtp::{Envelope, SendOptions, Sent};

use crate::backoff::DEFAULT_MAX_AGE;
use crate::judge::Failure;
use crate::meta::Meta;
use postie_smtp::sysexits as exit;

/// What a relayer's host says of one way of sending: the options its
/// messages go with (the stored transport settings with this host's
/// secrets: [`SendOptions::from`] a [`Meta::transport`], then the
/// credentials), how long they may be kept, and what to do once each
/// was tried (a log).
pub struct Route {
    options: SendOptions,
    max_age: Option<Duration>,
    on_outcome: Option<OnOutcome>,
}

/// Called once a message of a route was tried.
type OnOutcome = Box<dyn Fn(&Outcome<'_>) + Send + Sync>;

/// A message of a route, tried: for [`Route::on_outcome`].
#[non_exhaustive]
pub struct Outcome<'a> {
    /// The message as sent.
    pub message: &'a Message,
    /// The envelope it went with.
    pub envelope: &'a Envelope,
    /// The route's options.
    pub options: &'a SendOptions,
    /// What the server said.
    pub result: Result<&'a Sent, &'a postie_smtp::Error>,
}

impl Route {
    /// Messages go with `options` (their envelope is the kept one).
    pub fn new(options: SendOptions) -> Self {
        Self {
            options,
            max_age: None,
            on_outcome: None,
        }
    }

    /// How long a message of this route may be kept before it is given
    /// up: used unless the relayer's
    /// [`Settings::max_age`](crate::Settings::max_age) is given (which
    /// wins); without either, five days.
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = Some(max_age);
        self
    }

    /// Calls `f` once each message of this route was tried, from the
    /// thread that sent it, before its result is written.
    pub fn on_outcome(mut self, f: impl Fn(&Outcome<'_>) + Send + Sync + 'static) -> Self {
        self.on_outcome = Some(Box::new(f));
        self
    }
}

/// Makes the [`Route`] of a stored message: what its transport settings,
/// account and accounts file mean on this host. `Err` judges the message
/// as a failure before sending (a [`Failure::Input`] with the exit code:
/// 78, a setting to fix, is retried until the message is too old, by the
/// relayer's [`Settings::max_age`](crate::Settings::max_age), else five
/// days). Implemented for closures.
///
/// A route that adds this host's secrets (credentials, a client
/// certificate, a DKIM key) must not let the row choose where they go:
/// whoever can write a row could otherwise have the host's password sent
/// in AUTH to a server of their own. Take the servers, ports, TLS and
/// proxy from the host, and from [`Meta::transport`] only what concerns
/// the message (its delivery status settings, say), as the crate's
/// example does. Rows naming a secret source, a key or certificate, an
/// accounts file other than the host's, or an account together with
/// connection settings of their own are refused before the route is made
/// unless [`Settings::trust_rows`](crate::Settings::trust_rows) is set.
pub trait MakeRoute {
    /// The route for `meta`'s message.
    fn make_route(&mut self, meta: &Meta) -> Result<Route, Failure>;
}

impl<F: FnMut(&Meta) -> Result<Route, Failure>> MakeRoute for F {
    fn make_route(&mut self, meta: &Meta) -> Result<Route, Failure> {
        self(meta)
    }
}

/// A route ready: its pool and what to do with its outcomes.
pub(crate) struct Ready {
    pool: Pool,
    /// How long a message may be kept.
    pub(crate) max_age: Duration,
    on_outcome: Option<OnOutcome>,
    options: SendOptions,
}

/// A route made: for which transport settings, account and accounts
/// file, and when.
struct Made {
    transport: postie_smtp::TransportSettings,
    account: Option<String>,
    config: Option<PathBuf>,
    route: Arc<Ready>,
    at: Instant,
}

impl Made {
    /// Whether it is the route of `meta`'s message.
    fn serves(&self, meta: &Meta) -> bool {
        self.transport == meta.transport
            && self.account == meta.account
            && self.config == meta.config
    }
}

/// How long a route is used before it is made again (the account and its
/// secret read again), however busy the relayer is (a password changed, a
/// key rotated).
const ROUTE_MAX_AGE: Duration = Duration::from_secs(300);

/// The routes made so far (a few: one per way of sending, compared
/// directly rather than hashed). A route that could not be made (an
/// account missing, a password command failing) is not kept: the next
/// batch tries again, so a fixed setting takes effect without a restart.
pub(crate) struct Routes<'a> {
    made: Vec<Made>,
    maker: Box<dyn MakeRoute + Send + 'a>,
    connections: usize,
    max_age: Option<Duration>,
    /// Rows may name the relayer's secrets (see [`untrusted`]).
    trust_rows: bool,
    own_accounts_file: Option<PathBuf>,
}

/// Why a row may not be sent by a relayer that does not trust the table's
/// writers with its secrets (`--trust-rows`), if it may not. Whoever
/// writes a row chooses where it goes; it must not also choose which of
/// the relayer's secrets goes there: a password source (an environment
/// variable or file of the relayer's host), a DKIM key or client
/// certificate of the relayer's, or another accounts file. A row may name
/// an account, whose own servers and secret are then used, with no
/// connection settings of its own (else it could send the account's
/// password to a server of its choosing).
pub fn untrusted(meta: &Meta, own_accounts_file: Option<&Path>) -> Option<String> {
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
        .is_some_and(|named| Some(named.as_path()) != own_accounts_file)
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

impl<'a> Routes<'a> {
    /// No routes yet; `maker` makes them; each pool will have at most
    /// `connections` connections; `max_age` overrides the routes'.
    pub(crate) fn new(maker: Box<dyn MakeRoute + Send + 'a>, settings: &crate::Settings) -> Self {
        Self {
            made: Vec::new(),
            maker,
            connections: settings.connections.max(1),
            max_age: settings.max_age,
            trust_rows: settings.trust_rows,
            own_accounts_file: settings.own_accounts_file.clone(),
        }
    }

    /// Forgets the route of `meta`'s message: the next one is made again
    /// (after an authentication refused: the secret may have changed).
    pub(crate) fn forget(&mut self, meta: &Meta) {
        self.made.retain(|made| !made.serves(meta));
    }

    /// Closes every pool (QUIT on idle connections); the next batch makes
    /// its routes again.
    pub(crate) fn clear(&mut self) {
        self.made.clear();
    }

    /// The route for `meta`'s message, and whether it was made now (not
    /// kept from an earlier batch).
    pub(crate) fn route(&mut self, meta: &Meta) -> Result<(Arc<Ready>, bool), Failure> {
        if !self.trust_rows {
            if let Some(reason) = untrusted(meta, self.own_accounts_file.as_deref()) {
                return Err(Failure::Input(exit::NOPERM, reason));
            }
        }
        if let Some(made) = self.made.iter().find(|made| made.serves(meta)) {
            if made.at.elapsed() < ROUTE_MAX_AGE {
                return Ok((Arc::clone(&made.route), false));
            }
        }
        let route = self.maker.make_route(meta)?;
        let ready = Arc::new(Ready {
            pool: Pool::new(route.options.clone()).max_size(self.connections),
            max_age: self.max_age.or(route.max_age).unwrap_or(DEFAULT_MAX_AGE),
            on_outcome: route.on_outcome,
            options: route.options,
        });
        self.forget(meta);
        self.made.push(Made {
            transport: meta.transport.clone(),
            account: meta.account.clone(),
            config: meta.config.clone(),
            route: Arc::clone(&ready),
            at: Instant::now(),
        });
        Ok((ready, true))
    }
}

/// A message ready to go: where it is in the batch, the message, its
/// envelope and its route.
pub(crate) struct Outgoing {
    pub(crate) n: usize,
    pub(crate) message: Message,
    pub(crate) envelope: Envelope,
    pub(crate) route: Arc<Ready>,
}

/// What became of each outgoing message (by its place in the batch);
/// `None`: not sent, because the relayer is stopping.
pub(crate) type Results = Vec<(usize, Option<Result<Sent, Failure>>)>;

/// Sends `outgoing` from `threads` threads at once (each message through
/// its route's pool, which holds the connections); once `stop` is set, no
/// more sends start. The claims hold for `lease` from now: `keep_alive`
/// (the lease renewed) is called every third of it on this thread, and no
/// send starts later than three quarters of a lease after the last
/// renewal that worked (a renewal that fails, or hangs on a database that
/// went silent, stops the sending): what cannot be recorded is not sent.
pub(crate) fn send_all(
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
    if let Some(on_outcome) = &route.on_outcome {
        on_outcome(&Outcome {
            message: &one.message,
            envelope: &one.envelope,
            options: &route.options,
            result: result.as_ref(),
        });
    }
    result.map_err(Failure::Send)
}

/// The envelope a message was kept with.
pub(crate) fn kept_envelope(meta: &Meta) -> Envelope {
    Envelope::new(meta.reverse_path.clone(), &meta.recipients)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use postie_smtp::settings::DkimSettings;
    use postie_smtp::{SecretSource, TransportSettings};

    const OWN: &str = "/home/relay/.config/postie/config.toml";

    fn untrusted_here(meta: &Meta) -> Option<String> {
        untrusted(meta, Some(Path::new(OWN)))
    }

    fn meta(transport: TransportSettings, account: Option<&str>) -> Meta {
        Meta {
            transport,
            account: account.map(str::to_owned),
            ..crate::meta::sample("1-1-1")
        }
    }

    #[test]
    fn a_row_may_not_choose_which_secret_of_the_relayer_goes_where() {
        let mut servers = TransportSettings::default();
        servers.servers = vec!["mx.example.org".into()];
        // Its own servers, no secret: its mail goes where it says.
        assert_eq!(untrusted_here(&meta(servers.clone(), None)), None);
        // An account alone: the account's servers and secret.
        assert_eq!(
            untrusted_here(&meta(TransportSettings::default(), Some("shop"))),
            None
        );
        let mut dsn = TransportSettings::default();
        dsn.pipelining = false;
        assert_eq!(untrusted_here(&meta(dsn, Some("shop"))), None);

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
            let said = untrusted_here(&meta(transport, account)).unwrap();
            assert!(
                said.contains(reason) && said.contains("--trust-rows"),
                "{said}"
            );
        }
        let mut named_file = meta(TransportSettings::default(), Some("shop"));
        named_file.config = Some("/home/other/.config/postie/config.toml".into());
        assert!(untrusted_here(&named_file)
            .unwrap()
            .contains("accounts file"));
        // The relayer's own accounts file may be named.
        named_file.config = Some(PathBuf::from(OWN));
        assert_eq!(untrusted_here(&named_file), None);
    }
}
