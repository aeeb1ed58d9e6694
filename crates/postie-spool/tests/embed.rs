//! A service embedding the relayer, as postie-spool's documentation shows:
//! its own route for each stored message, its own report, its own stop
//! flag; against the real aiosmtpd (and PostgreSQL for the outbox), which
//! `scripts/servers.sh` starts. Outside CI, without them, the tests are
//! skipped; with `CI` set, a missing server fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use postie_smtp::tls::TlsMode;
use postie_smtp::{Credentials, SendOptions};
use postie_spool::store::{Place, State};
use postie_spool::{Digest, Location, Meta, Relayer, Report, Route, Settings};
use postie_testkit::{real_path, real_server, wait_for, RealServer};

/// A token of this run, so that messages of other tests and runs in the
/// shared aiosmtpd folder are not counted.
fn token(test: &str) -> String {
    format!(
        "embed-{test}-{}-{:08x}",
        std::process::id(),
        getrandom::u32().unwrap()
    )
}

/// How many times each message `{token}-{n}` reached aiosmtpd, by `n`.
fn deliveries(dir: &Path, token: &str) -> std::collections::BTreeMap<usize, usize> {
    let mut seen = std::collections::BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "eml") {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let Some(at) = text.find(&format!("{token}-")) else {
            continue;
        };
        let digits: String = text[at + token.len() + 1..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        *seen.entry(digits.parse().unwrap()).or_insert(0) += 1;
    }
    seen
}

/// The message `{token}-{n}`, as the service would build it.
fn message(token: &str, n: usize) -> postie_mime::Message {
    let mut m = postie_mime::Message::text(format!("body of {token}-{n}\n"));
    m.headers_mut().set("From", "shop@example.org").unwrap();
    m.headers_mut().set("To", "customer@example.com").unwrap();
    m.headers_mut()
        .set("Subject", format!("{token}-{n}").as_str())
        .unwrap();
    m
}

fn server_options(server: &RealServer) -> SendOptions {
    SendOptions::new()
        .servers([server.host.as_str()])
        .ports([server.port])
        .tls_mode(TlsMode::None)
}

/// What the service's report heard.
#[derive(Clone, Default)]
struct Heard(Arc<Mutex<Vec<(String, String)>>>);

impl Report for Heard {
    fn message(&mut self, id: &str, outcome: &str, _line: &str) {
        self.0
            .lock()
            .unwrap()
            .push((id.to_owned(), outcome.to_owned()));
    }
}

/// The service's route: the stored settings (servers, ports, TLS) with
/// nothing of the host's added (aiosmtpd wants no AUTH), counted.
fn routes(made: Arc<Mutex<usize>>) -> impl FnMut(&Meta) -> Result<Route, postie_spool::Failure> {
    move |meta: &Meta| {
        *made.lock().unwrap() += 1;
        Ok(Route::new(SendOptions::from(meta.transport.clone())))
    }
}

/// Keeps `message(token, n)` in `store` as `postie send --spool-on-failure`
/// keeps a message, to go by `transport`; its id.
fn keep(
    store: &dyn postie_spool::SpoolStore,
    token: &str,
    n: usize,
    transport: &postie_smtp::TransportSettings,
    account: Option<&str>,
) -> String {
    let bytes = message(token, n).to_bytes().unwrap();
    let mut entry = store.create().unwrap();
    let digest = entry.write_message(&mut |w| w.write_all(&bytes)).unwrap();
    let id = entry.id().to_owned();
    let mut meta = meta(&id, transport.clone(), digest);
    meta.account = account.map(str::to_owned);
    entry.commit(&meta, State::Queued).unwrap();
    id
}

#[test]
fn a_service_relays_a_folder_store_once_with_its_own_routes_and_report() {
    let Some(server) = real_server("POSTIE_TEST_AIOSMTPD") else {
        return;
    };
    let dir = real_path("POSTIE_TEST_AIOSMTPD_DIR").unwrap();
    let token = token("folder");
    let (root, store) = folder_store(&token);

    // Ten messages kept as `postie send --spool-on-failure` keeps them.
    let transport = server_options(&server).transport_settings().clone();
    let ids: Vec<String> = (0..10)
        .map(|n| keep(store.as_ref(), &token, n, &transport, None))
        .collect();
    // And one kept by a postie of format 1 (`postie send` flags), which
    // only the command reads: left where it is, never moved aside.
    let old = keep(store.as_ref(), &token, 99, &transport, None);
    let record = root.join("queue").join(&old).join("meta.json");
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&record).unwrap()).unwrap();
    json["version"] = 1.into();
    json["flags"] = serde_json::json!(["--server=127.0.0.1"]);
    std::fs::write(&record, serde_json::to_vec(&json).unwrap()).unwrap();

    let mut settings = Settings::default();
    settings.once = true;
    let heard = Heard::default();
    let made = Arc::new(Mutex::new(0));
    let stop = AtomicBool::new(false);
    let tally = Relayer::new(store.as_ref(), settings, routes(Arc::clone(&made)))
        .report(heard.clone())
        .run(&stop);

    assert_eq!(
        (tally.sent, tally.kept, tally.dead, tally.errors),
        (10, 0, 0, 0)
    );
    // Not claimed at all by the folder store (no claim to give back), and
    // not damaged.
    assert_eq!(tally.damaged, 0);
    assert_eq!(tally.exit_code(), 0);
    // One route for the ten (one way of sending), one pool.
    assert_eq!(*made.lock().unwrap(), 1);
    let mut told: Vec<(String, String)> = heard.0.lock().unwrap().clone();
    told.sort();
    let mut expected: Vec<(String, String)> = ids
        .iter()
        .map(|id| (id.clone(), "sent".to_owned()))
        .collect();
    expected.sort();
    assert_eq!(told, expected);
    let seen = wait_for(Duration::from_secs(10), || {
        let seen = deliveries(&dir, &token);
        (seen.len() == 10).then_some(seen)
    })
    .expect("all ten delivered");
    assert!(seen.values().all(|&n| n == 1), "{seen:?}");
    assert!(!seen.contains_key(&99), "the format 1 one is not sent");
    // The sent ones are deleted; the format 1 one is where it was.
    let left: Vec<String> = store
        .entries()
        .unwrap()
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(left, [old]);
    let _ = std::fs::remove_dir_all(&root);
}

/// What a service's route says counts: a route that cannot be made is
/// judged as a failed attempt (kept for later: a setting to fix), a
/// route's max age gives a message up when it fails, and the route's
/// outcome hook hears of every message tried.
#[test]
fn a_route_that_cannot_be_made_is_kept_and_a_routes_max_age_gives_up() {
    let (root, store) = folder_store(&token("routes"));
    // Two messages: one of an account this host does not have, one to a
    // port where nothing listens.
    let mut to_closed = postie_smtp::TransportSettings::default();
    to_closed.servers = vec!["127.0.0.1".to_owned()];
    to_closed.ports = vec![postie_testkit::closed_port()];
    to_closed.tls = Some(TlsMode::None);
    let account = keep(store.as_ref(), "routes", 0, &to_closed, Some("gone"));
    let closed = keep(store.as_ref(), "routes", 1, &to_closed, None);
    let tried = Arc::new(Mutex::new(Vec::new()));
    let hook = Arc::clone(&tried);
    let routes = move |meta: &Meta| -> Result<Route, postie_spool::Failure> {
        if meta.account.is_some() {
            return Err(postie_spool::Failure::Input(
                postie_smtp::sysexits::CONFIG,
                "no account \"gone\" on this host".to_owned(),
            ));
        }
        let hook = Arc::clone(&hook);
        Ok(Route::new(SendOptions::from(meta.transport.clone()))
            .max_age(Duration::ZERO)
            .on_outcome(move |outcome| {
                hook.lock().unwrap().push((
                    outcome.envelope.originator().to_owned(),
                    outcome.result.is_ok(),
                ));
            }))
    };
    let mut settings = Settings::default();
    settings.once = true;
    let heard = Heard::default();
    let tally = Relayer::new(store.as_ref(), settings, routes)
        .report(heard.clone())
        .run(&AtomicBool::new(false));
    assert_eq!((tally.sent, tally.kept, tally.dead), (0, 1, 1));
    assert_eq!(tally.exit_code(), postie_smtp::sysexits::UNAVAILABLE);
    let told = heard.0.lock().unwrap().clone();
    assert!(
        told.contains(&(account.clone(), "kept".to_owned())),
        "{told:?}"
    );
    assert!(
        told.contains(&(closed.clone(), "dead".to_owned())),
        "{told:?}"
    );
    // The hook heard of the one message tried, and of its failure.
    assert_eq!(
        *tried.lock().unwrap(),
        [("shop@example.org".to_owned(), false)]
    );
    // The kept one waits for its next attempt, with the reason.
    let kept = store
        .look(&account, &Place::At(State::Queued), false)
        .unwrap()
        .unwrap();
    assert_eq!(kept.attempts, 1);
    assert!(
        kept.last_error.contains("no account"),
        "{}",
        kept.last_error
    );
    assert!(kept.next_attempt > kept.last_attempt);
    let dead = store
        .look(&closed, &Place::At(State::Dead), false)
        .unwrap()
        .unwrap();
    let reason = dead.dead_reason.unwrap_or_default();
    assert!(reason.contains("expired"), "{reason}");
    // The refused connection's likely fix, as `postie send` says it.
    assert!(
        reason.contains("hint: nothing listens on that port"),
        "{reason}"
    );
    let _ = std::fs::remove_dir_all(&root);
}

/// A relayer may be made on one thread and run on another.
#[test]
fn a_relayer_is_send() {
    fn send<T: Send>() {}
    send::<Relayer<'static>>();
}

/// A new folder store under the temporary directory, named by `token`,
/// and its root (removed by the test at its end).
fn folder_store(token: &str) -> (std::path::PathBuf, Box<dyn postie_spool::SpoolStore>) {
    let root = std::env::temp_dir().join(format!("postie-embed-{token}"));
    let _ = std::fs::remove_dir_all(&root);
    let store = Location::Folder(root.clone())
        .open(true, Duration::from_secs(600))
        .unwrap()
        .expect("made");
    (root, store)
}

fn meta(id: &str, transport: postie_smtp::TransportSettings, stored: Digest) -> Meta {
    let now = postie_spool::backoff::now();
    Meta {
        transport,
        ..Meta::new(
            id,
            now,
            stored,
            "shop@example.org".to_owned(),
            vec!["customer@example.com".to_owned()],
        )
    }
}

/// A schema of its own on the test PostgreSQL, dropped at the end.
#[cfg(feature = "postgres")]
struct Schema {
    client: postgres::Client,
    name: String,
    url: String,
}

#[cfg(feature = "postgres")]
impl Schema {
    fn new(test: &str) -> Option<Self> {
        let server = real_server("POSTIE_TEST_POSTGRES")?;
        let passfile =
            std::path::PathBuf::from(std::env::var("POSTIE_TEST_POSTGRES_PASSFILE").unwrap());
        // The store reads its password from the password file, as libpq.
        std::env::set_var("PGPASSFILE", &passfile);
        let text = std::fs::read_to_string(&passfile).unwrap();
        let fields: Vec<&str> = text.lines().next().unwrap().splitn(5, ':').collect();
        let name = format!(
            "postie_embed_{test}_{}_{:08x}",
            std::process::id(),
            getrandom::u32().unwrap()
        );
        let mut client = postgres::Client::connect(
            &format!(
                "host={} port={} dbname={} user={} password={}",
                fields[0], fields[1], fields[2], fields[3], fields[4]
            ),
            postgres::NoTls,
        )
        .unwrap();
        client
            .batch_execute(&format!("CREATE SCHEMA {name}; SET search_path = {name}"))
            .unwrap();
        postie_outbox::migrate(&mut client).unwrap();
        let url = format!(
            "postgres://{}@{}:{}/{}?sslmode=disable&options=-csearch_path%3D{name}",
            fields[3], server.host, server.port, fields[2]
        );
        Some(Self { client, name, url })
    }
}

#[cfg(feature = "postgres")]
impl Drop for Schema {
    fn drop(&mut self) {
        let _ = self
            .client
            .batch_execute(&format!("DROP SCHEMA {} CASCADE", self.name));
    }
}

#[cfg(feature = "postgres")]
#[test]
fn an_embedded_relayer_sends_committed_outbox_rows_until_its_service_stops_it() {
    let Some(server) = real_server("POSTIE_TEST_AIOSMTPD") else {
        return;
    };
    let dir = real_path("POSTIE_TEST_AIOSMTPD_DIR").unwrap();
    let Some(mut db) = Schema::new("outbox") else {
        return;
    };
    let token = token("outbox");
    let options = server_options(&server);
    let row = |n: usize| postie_outbox::Row::new(&message(&token, n), &options).unwrap();
    // Twenty rows committed with the service's own write, five rolled back.
    let mut tx = db.client.transaction().unwrap();
    for n in 0..20 {
        postie_outbox::enqueue(&mut tx, &row(n)).unwrap();
    }
    tx.commit().unwrap();
    let mut tx = db.client.transaction().unwrap();
    for n in 100..105 {
        postie_outbox::enqueue(&mut tx, &row(n)).unwrap();
    }
    tx.rollback().unwrap();
    // A row naming where a password comes from: its writer would choose
    // which of the relayer's secrets goes to its server. Given up, never
    // sent, as this relayer does not trust the table's writers.
    let mut secret = options.transport_settings().clone();
    secret.auth.username = Some("relay".to_owned());
    secret.auth.secret = Some(postie_smtp::SecretSource::Env("RELAY_PASSWORD".to_owned()));
    let chooser =
        postie_outbox::Row::new(&message(&token, 200), &SendOptions::new().transport(secret))
            .unwrap();
    let mut tx = db.client.transaction().unwrap();
    let refused = postie_outbox::enqueue(&mut tx, &chooser).unwrap();
    tx.commit().unwrap();

    // A long lease: a wait is capped at half of it, so the rows enqueued
    // later can only be found at once by NOTIFY.
    let store = Location::parse(&db.url)
        .unwrap()
        .open(false, Duration::from_secs(120))
        .unwrap()
        .expect("a database store is always there");
    let stop = AtomicBool::new(false);
    let heard = Heard::default();
    let made = Arc::new(Mutex::new(0));
    let counters = Arc::new(postie_spool::metrics::Counters::default());
    let tally = std::thread::scope(|scope| {
        let relayer = scope.spawn(|| {
            let mut settings = Settings::default();
            settings.poll = Duration::from_secs(60);
            Relayer::new(store.as_ref(), settings, routes(Arc::clone(&made)))
                .report(heard.clone())
                .counters(Arc::clone(&counters))
                .run(&stop)
        });
        let all = |count: usize| {
            wait_for(Duration::from_secs(20), || {
                let seen = deliveries(&dir, &token);
                (seen.len() >= count).then_some(seen)
            })
        };
        assert!(all(20).is_some(), "the committed rows delivered");
        // Rows committed while the relayer waits go at once.
        let started = std::time::Instant::now();
        let mut tx = db.client.transaction().unwrap();
        for n in 20..25 {
            postie_outbox::enqueue(&mut tx, &row(n)).unwrap();
        }
        tx.commit().unwrap();
        assert!(all(25).is_some(), "the later rows delivered");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "woken by NOTIFY, not by a poll: {:?}",
            started.elapsed()
        );
        // The service stops its relayer.
        let asked = std::time::Instant::now();
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let tally = relayer.join().unwrap();
        assert!(
            asked.elapsed() < Duration::from_secs(5),
            "stopped in {:?}",
            asked.elapsed()
        );
        tally
    });
    assert_eq!(
        (tally.sent, tally.kept, tally.dead, tally.errors),
        (25, 0, 1, 0)
    );
    let told = heard.0.lock().unwrap().clone();
    assert_eq!(told.len(), 26);
    assert!(told.contains(&(refused, "dead".to_owned())), "{told:?}");
    let metrics = counters.text();
    for line in [
        "postie_relay_messages_total{outcome=\"sent\"} 25",
        "postie_relay_messages_total{outcome=\"dead\"} 1",
    ] {
        assert!(metrics.contains(line), "{metrics}");
    }
    let seen = deliveries(&dir, &token);
    assert_eq!(
        seen.keys().copied().collect::<Vec<_>>(),
        (0..25).collect::<Vec<_>>(),
        "only the committed rows, never the rolled-back or the refused one"
    );
    assert!(seen.values().all(|&n| n == 1), "none twice: {seen:?}");
    let sent: i64 = db
        .client
        .query_one(
            &format!(
                "SELECT count(*) FROM {}.postie_spool WHERE state = 'sent'",
                db.name
            ),
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(sent, 25);
}

/// An authentication refused on a route kept from an earlier batch may be
/// a password changed since: the route is made again (the secret read
/// anew) and the message tried again, not given up; refused on a route
/// made just now, it is given up.
#[test]
fn a_refused_login_on_a_kept_route_makes_the_route_again_before_giving_up() {
    use postie_testkit::{Script, ScriptedServer};
    let accepted = Script::new()
        .greet(&["AUTH PLAIN"])
        .reply("235 2.7.0 Authentication successful\r\n")
        .reply("250 2.1.0 Ok\r\n")
        .reply("250 2.1.5 Ok\r\n")
        .reply("354 go\r\n")
        .read_data()
        .send("250 2.0.0 Ok: queued as A1\r\n")
        // The server ends the connection: the next batch connects anew.
        .close();
    let refused = || {
        Script::new()
            .greet(&["AUTH PLAIN"])
            .reply("535 5.7.8 Authentication credentials invalid\r\n")
            .reply("221 bye\r\n")
    };
    let server = ScriptedServer::start(vec![accepted, refused(), refused()]);

    let (root, store) = folder_store(&token("login"));
    let mut transport = postie_smtp::TransportSettings::default();
    transport.servers = vec!["127.0.0.1".to_owned()];
    transport.ports = vec![server.port()];
    transport.tls = Some(TlsMode::None);
    keep(store.as_ref(), "login", 0, &transport, None);
    // The second is due two seconds later: a batch of its own.
    let later = {
        let bytes = message("login", 1).to_bytes().unwrap();
        let mut entry = store.create().unwrap();
        let digest = entry.write_message(&mut |w| w.write_all(&bytes)).unwrap();
        let id = entry.id().to_owned();
        let mut meta = meta(&id, transport.clone(), digest);
        meta.next_attempt += 2;
        entry.commit(&meta, State::Queued).unwrap();
        id
    };

    let made = Arc::new(Mutex::new(0));
    let counted = Arc::clone(&made);
    let routes = move |meta: &Meta| -> Result<Route, postie_spool::Failure> {
        *counted.lock().unwrap() += 1;
        Ok(Route::new(
            SendOptions::from(meta.transport.clone())
                .credentials(Credentials::new("relay", "secret of the host"))
                .timeout(Duration::from_secs(5)),
        ))
    };
    let stop = AtomicBool::new(false);
    let tally = std::thread::scope(|scope| {
        let relayer = scope.spawn(|| {
            let mut settings = Settings::default();
            settings.poll = Duration::from_millis(100);
            Relayer::new(store.as_ref(), settings, routes).run(&stop)
        });
        let given_up = wait_for(Duration::from_secs(20), || {
            store
                .look(&later, &Place::At(State::Dead), false)
                .ok()
                .and_then(Result::ok)
        });
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let tally = relayer.join().unwrap();
        let dead = given_up.expect("the second message given up");
        assert!(dead.last_error.contains("535"), "{}", dead.last_error);
        tally
    });
    assert_eq!((tally.sent, tally.dead, tally.kept), (1, 1, 0));
    // Made for the first batch, and again after the refusal on the kept
    // route.
    assert_eq!(*made.lock().unwrap(), 2);
    let sessions = server.finish();
    assert_eq!(sessions.len(), 3, "{sessions:?}");
    for session in &sessions {
        assert!(session.commands[1].starts_with("AUTH PLAIN"), "{session:?}");
    }
    let _ = std::fs::remove_dir_all(&root);
}
