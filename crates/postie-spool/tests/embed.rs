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
use postie_smtp::SendOptions;
use postie_spool::store::State;
use postie_spool::{Location, Meta, Relayer, Report, Route, Settings};
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

#[test]
fn a_service_relays_a_folder_store_once_with_its_own_routes_and_report() {
    let Some(server) = real_server("POSTIE_TEST_AIOSMTPD") else {
        return;
    };
    let dir = real_path("POSTIE_TEST_AIOSMTPD_DIR").unwrap();
    let token = token("folder");
    let root = std::env::temp_dir().join(format!("postie-embed-{token}"));
    let _ = std::fs::remove_dir_all(&root);
    let store = Location::Folder(root.clone())
        .open(true, Duration::from_secs(600))
        .unwrap()
        .expect("made");

    // Ten messages kept as `postie send --spool-on-failure` keeps them.
    let transport = server_options(&server).transport_settings().clone();
    let mut ids = Vec::new();
    for n in 0..10 {
        let bytes = message(&token, n).to_bytes().unwrap();
        let mut entry = store.create().unwrap();
        let digest = entry.write_message(&mut |w| w.write_all(&bytes)).unwrap();
        let id = entry.id().to_owned();
        let meta = meta(&id, transport.clone(), digest.size, Some(digest.sha256));
        entry.commit(&meta, State::Queued).unwrap();
        ids.push(id);
    }

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
    assert_eq!(tally.exit_code(), 0);
    // One route for the ten (one way of sending), one pool.
    assert_eq!(*made.lock().unwrap(), 1);
    let mut told: Vec<(String, String)> = heard.0.lock().unwrap().clone();
    told.sort();
    ids.sort();
    assert_eq!(
        told,
        ids.iter()
            .map(|id| (id.clone(), "sent".to_owned()))
            .collect::<Vec<_>>()
    );
    let seen = wait_for(Duration::from_secs(10), || {
        let seen = deliveries(&dir, &token);
        (seen.len() == 10).then_some(seen)
    })
    .expect("all ten delivered");
    assert!(seen.values().all(|&n| n == 1), "{seen:?}");
    assert!(store.entries().unwrap().is_empty(), "sent ones are deleted");
    let _ = std::fs::remove_dir_all(&root);
}

fn meta(
    id: &str,
    transport: postie_smtp::TransportSettings,
    size: u64,
    sha256: Option<String>,
) -> Meta {
    let now = postie_spool::backoff::now();
    Meta {
        version: postie_spool::meta::VERSION,
        id: id.to_owned(),
        created: now,
        account: None,
        config: None,
        transport,
        flags: Vec::new(),
        reverse_path: "shop@example.org".to_owned(),
        recipients: vec!["customer@example.com".to_owned()],
        size,
        sha256,
        attempts: 0,
        next_attempt: now,
        last_attempt: now,
        last_error: String::new(),
        maybe_delivered: false,
        dead_reason: None,
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

    let location = Location::parse(&db.url).unwrap();
    let store = location
        .open(false, Duration::from_secs(30))
        .unwrap()
        .expect("a database store is always there");
    let stop = AtomicBool::new(false);
    let heard = Heard::default();
    let made = Arc::new(Mutex::new(0));
    let tally = std::thread::scope(|scope| {
        let relayer = scope.spawn(|| {
            let mut settings = Settings::default();
            settings.lease = Duration::from_secs(30);
            // Long: the rows enqueued later are found by NOTIFY, not polls.
            settings.poll = Duration::from_secs(60);
            Relayer::new(store.as_ref(), settings, routes(Arc::clone(&made)))
                .report(heard.clone())
                .run(&stop)
        });
        let all = |count: usize| {
            wait_for(Duration::from_secs(20), || {
                let seen = deliveries(&dir, &token);
                (seen.len() >= count).then_some(seen)
            })
        };
        assert!(all(20).is_some(), "the committed rows delivered");
        // A row committed while the relayer waits goes at once.
        let started = std::time::Instant::now();
        let mut tx = db.client.transaction().unwrap();
        for n in 20..25 {
            postie_outbox::enqueue(&mut tx, &row(n)).unwrap();
        }
        tx.commit().unwrap();
        assert!(all(25).is_some(), "the later rows delivered");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "woken by NOTIFY, not by the 60 s poll: {:?}",
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
        (25, 0, 0, 0)
    );
    let seen = deliveries(&dir, &token);
    assert_eq!(
        seen.keys().copied().collect::<Vec<_>>(),
        (0..25).collect::<Vec<_>>(),
        "only the committed rows, never the rolled-back ones"
    );
    assert!(seen.values().all(|&n| n == 1), "none twice: {seen:?}");
    assert_eq!(heard.0.lock().unwrap().len(), 25);
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
