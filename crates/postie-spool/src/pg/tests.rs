//! The database store against a real PostgreSQL (`scripts/servers.sh
//! start postgres`): each test works in a schema of its own, made fresh
//! and dropped after, so the tests run side by side on one database.
#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]

use std::io::Write;
use std::time::Duration;

use postgres::Client;

use super::connect::{open_client, Target};
use super::store::PgStore;
use super::{passfile, schema, tls};
use crate::inspect::Damage;
use crate::judge::Disposition;
use crate::meta::{self, Meta};
use crate::owner::Owner;
use crate::store::DEFAULT_LEASE;
use crate::store::{contract, Batch, BatchLimit, Place, SpoolStore, State};

/// A schema of its own for one test, dropped with everything in it when
/// the test ends (passed or not).
struct Scratch {
    target: Target,
    name: String,
}

impl Scratch {
    /// A new schema; `None` when the server's variables are not set
    /// (outside CI: the test is skipped).
    fn new(test: &str) -> Option<Self> {
        let server = postie_testkit::real_server("POSTIE_TEST_POSTGRES")?;
        let var = |name: &str| {
            std::env::var(name).unwrap_or_else(|_| {
                panic!("{name} is not set (scripts/servers.sh sets it with POSTIE_TEST_POSTGRES)")
            })
        };
        let name = format!(
            "postie_t_{test}_{}_{:08x}",
            std::process::id(),
            getrandom::u32().unwrap()
        );
        let mut target = Target {
            host: server.host,
            port: server.port,
            database: var("POSTIE_TEST_POSTGRES_DB"),
            user: var("POSTIE_TEST_POSTGRES_USER"),
            passfile: Some(var("POSTIE_TEST_POSTGRES_PASSFILE").into()),
            schema: None,
            url: None,
            // Plain TCP, as before TLS: the TLS tests below set their own.
            tls: tls::Settings {
                mode: tls::Mode::Disable,
                ..tls::Settings::default()
            },
        };
        open_client(&target)
            .unwrap()
            .execute(&format!("CREATE SCHEMA {name}"), &[])
            .unwrap();
        target.schema = Some(name.clone());
        Some(Self { target, name })
    }

    fn store(&self) -> PgStore {
        PgStore::connect(&self.target, DEFAULT_LEASE).unwrap()
    }

    /// A connection of the test's own, on the schema.
    fn sql(&self) -> Client {
        open_client(&self.target).unwrap()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let mut target = self.target.clone();
        target.schema = None;
        if let Ok(mut client) = open_client(&target) {
            let _ = client.execute(&format!("DROP SCHEMA {} CASCADE", self.name), &[]);
        }
    }
}

fn meta(id: &str) -> Meta {
    Meta {
        created: 1_700_000_000,
        account: Some("work".into()),
        config: Some("/home/a/.config/postie/config.toml".into()),
        recipients: vec!["b@x.org".into(), "c@x.org".into()],
        next_attempt: 1_700_000_000,
        last_attempt: 1_700_000_000,
        last_error: "450 try later".into(),
        ..meta::sample(id)
    }
}

const MESSAGE: &[u8] = b"Subject: pg\r\n\r\nhello\r\n";

/// A message committed to `state`; its id.
fn add(store: &PgStore, state: State) -> String {
    let mut entry = store.create().unwrap();
    let id = entry.id().to_owned();
    let digest = entry.write_message(&mut |w| w.write_all(MESSAGE)).unwrap();
    let mut record = meta(&id);
    record.size = digest.size;
    record.sha256 = Some(digest.sha256);
    entry.commit(&record, state).unwrap();
    id
}

/// The row's state and whether each claim column is set.
fn row(sql: &mut Client, id: &str) -> (String, bool, bool, bool) {
    let row = sql
        .query_one(
            "SELECT state, lease_until IS NOT NULL, data_sent_at IS NOT NULL, message IS NOT NULL \
             FROM postie_spool WHERE id = $1",
            &[&id],
        )
        .unwrap();
    (row.get(0), row.get(1), row.get(2), row.get(3))
}

#[test]
fn the_database_store_keeps_the_stores_contract() {
    let Some(scratch) = Scratch::new("contract") else {
        return;
    };
    contract::holds(&scratch.store(), &meta);
}

#[test]
fn migrations_apply_once_and_a_newer_schema_is_refused() {
    let Some(scratch) = Scratch::new("migrate") else {
        return;
    };
    drop(scratch.store());
    let mut sql = scratch.sql();
    assert!(schema::migrate(&mut sql).unwrap().is_empty());
    let versions: Vec<i32> = sql
        .query("SELECT version FROM postie_schema_version ORDER BY 1", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(versions, (1..=schema::latest()).collect::<Vec<_>>());
    // Two processes starting at once: each migration applied once.
    let fresh = Scratch::new("migrate2").unwrap();
    std::thread::scope(|s| {
        let a = s.spawn(|| fresh.store());
        let b = s.spawn(|| fresh.store());
        a.join().unwrap();
        b.join().unwrap();
    });
    sql.execute(
        "INSERT INTO postie_schema_version (version, description) VALUES (1000, 'from the future')",
        &[],
    )
    .unwrap();
    let error = PgStore::connect(&scratch.target, DEFAULT_LEASE)
        .err()
        .unwrap();
    assert!(error.to_string().contains("newer"), "{error}");
}

#[test]
fn every_state_transition_is_one_row_changing_state() {
    let Some(scratch) = Scratch::new("states") else {
        return;
    };
    let store = scratch.store();
    let mut sql = scratch.sql();

    // queued -> sending -> queued: the claim's columns set, then cleared.
    let id = add(&store, State::Queued);
    assert_eq!(row(&mut sql, &id), ("queued".into(), false, false, true));
    let claim = store.claim(State::Queued, &id).unwrap().unwrap();
    assert_eq!(row(&mut sql, &id), ("sending".into(), true, false, true));
    let relayer: String = sql
        .query_one("SELECT relayer FROM postie_spool WHERE id = $1", &[&id])
        .unwrap()
        .get(0);
    assert!(relayer.ends_with(&format!("/{}", Owner::me())), "{relayer}");
    assert_eq!(store.find(&id).unwrap(), Some(Place::Claimed(Owner::me())));
    let file = claim.message_file();
    assert_eq!(std::fs::read(&file).unwrap(), MESSAGE);
    claim.release(State::Queued).unwrap();
    assert!(!file.exists(), "the claim's file outlived it");
    assert_eq!(row(&mut sql, &id), ("queued".into(), false, false, true));

    // sending -> dead, the record saved with the reason.
    let claim = store.claim(State::Queued, &id).unwrap().unwrap();
    let mut record = claim.check().unwrap().unwrap();
    record.attempts = 3;
    record.last_attempt = 1_800_000_000;
    record.dead_reason = Some("550 no such user".into());
    claim.save(&record).unwrap();
    claim.release(State::Dead).unwrap();
    let dead = store
        .look(&id, &Place::At(State::Dead), true)
        .unwrap()
        .unwrap();
    assert_eq!(dead, record);

    // dead -> sending -> unknown; unknown -> sending, the data mark set
    // and cleared, -> sent: kept without its bytes, seen by no listing,
    // until purged.
    store
        .claim(State::Dead, &id)
        .unwrap()
        .unwrap()
        .release(State::Unknown)
        .unwrap();
    assert_eq!(
        store.ids(State::Unknown).unwrap(),
        std::slice::from_ref(&id)
    );
    let claim = store.claim(State::Unknown, &id).unwrap().unwrap();
    let marker = claim.prepare_marker().unwrap();
    assert_eq!(row(&mut sql, &id), ("sending".into(), true, false, true));
    marker.set().unwrap();
    assert_eq!(row(&mut sql, &id), ("sending".into(), true, true, true));
    claim.clear_data_sent().unwrap();
    assert_eq!(row(&mut sql, &id), ("sending".into(), true, false, true));
    claim.delete().unwrap();
    assert_eq!(row(&mut sql, &id), ("sent".into(), false, false, false));
    assert_eq!(store.find(&id).unwrap(), None);
    assert!(store.entries().unwrap().is_empty());
    assert_eq!(store.remove(&id).unwrap(), Err(None));
    assert_eq!(store.purge_sent(Duration::from_secs(3600)).unwrap(), 0);
    assert_eq!(store.purge_sent(Duration::ZERO).unwrap(), 1);

    // The mark given back (it could not be set): to where it rested.
    let id = add(&store, State::Unknown);
    let claim = store.claim(State::Unknown, &id).unwrap().unwrap();
    claim.prepare_marker().unwrap().give_back().unwrap();
    assert_eq!(row(&mut sql, &id), ("unknown".into(), false, false, true));
    // The claim is over: it writes nothing more.
    assert!(claim.release(State::Queued).is_err());
    assert_eq!(store.find(&id).unwrap(), Some(Place::At(State::Unknown)));

    // Damaged: resting or claimed, moved aside with why.
    store.quarantine(State::Unknown, &id).unwrap();
    assert_eq!(store.find(&id).unwrap(), Some(Place::Quarantined));
    let other = add(&store, State::Queued);
    let to = store
        .claim(State::Queued, &other)
        .unwrap()
        .unwrap()
        .quarantine()
        .unwrap();
    assert!(to.contains(&other) && !to.contains("password"), "{to}");
    let damage: String = sql
        .query_one("SELECT damage FROM postie_spool WHERE id = $1", &[&other])
        .unwrap()
        .get(0);
    assert_eq!(damage, "moved aside from queued as damaged");
    assert!(store.quarantine(State::Queued, &other).is_err());
    assert_eq!(store.remove(&other).unwrap(), Ok(()));
}

#[test]
fn an_expired_lease_comes_back_by_its_data_mark_and_its_holder_is_locked_out() {
    let Some(scratch) = Scratch::new("lease") else {
        return;
    };
    let store = scratch.store();
    let mut sql = scratch.sql();
    let before = add(&store, State::Queued);
    let after = add(&store, State::Queued);
    let live = add(&store, State::Queued);
    let claim_before = store.claim(State::Queued, &before).unwrap().unwrap();
    let claim_after = store.claim(State::Queued, &after).unwrap().unwrap();
    let _claim_live = store.claim(State::Queued, &live).unwrap().unwrap();
    let marker_before = claim_before.prepare_marker().unwrap();
    claim_after.prepare_marker().unwrap().set().unwrap();
    // Not expired yet: nothing is taken back.
    assert!(store.recover().unwrap().is_empty());
    sql.execute(
        "UPDATE postie_spool SET lease_until = now() - interval '1 second' WHERE id <> $1",
        &[&live],
    )
    .unwrap();
    // Expired: the mark can no longer be set (another may send it now).
    assert!(marker_before.set().is_err());
    let mut recovered = store.recover().unwrap();
    recovered.sort_by(|a, b| a.id.cmp(&b.id));
    let mut expected = vec![
        (before.clone(), State::Queued),
        (after.clone(), State::Unknown),
    ];
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        recovered
            .iter()
            .map(|r| (r.id.clone(), r.state.unwrap()))
            .collect::<Vec<_>>(),
        expected
    );
    assert!(recovered.iter().all(|r| r.owner == Owner::me()));
    let unknown = store
        .look(&after, &Place::At(State::Unknown), true)
        .unwrap()
        .unwrap();
    assert!(unknown.maybe_delivered);
    assert!(
        unknown.last_error.starts_with("interrupted"),
        "{}",
        unknown.last_error
    );
    assert_eq!(
        row(&mut sql, &before),
        ("queued".into(), false, false, true)
    );
    // The old holders change nothing any more.
    assert!(claim_before.clear_data_sent().is_err());
    assert!(claim_after.release(State::Queued).is_err());
    assert_eq!(store.find(&after).unwrap(), Some(Place::At(State::Unknown)));
    // Recovered once only.
    assert!(store.recover().unwrap().is_empty());
    // A live claim cannot be removed; its holder is named.
    assert_eq!(store.remove(&live).unwrap(), Err(Some(Owner::me())));
}

#[test]
fn two_connections_never_both_claim_one_message() {
    let Some(scratch) = Scratch::new("race") else {
        return;
    };
    let stores = [scratch.store(), scratch.store()];
    let ids: Vec<String> = (0..100).map(|_| add(&stores[0], State::Queued)).collect();
    let barrier = std::sync::Barrier::new(2);
    let won: Vec<Vec<String>> = std::thread::scope(|s| {
        let runs: Vec<_> = stores
            .iter()
            .enumerate()
            .map(|(n, store)| {
                let ids = &ids;
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    let mut mine = Vec::new();
                    // One from the front, the other from the back, so
                    // they meet in the middle.
                    let order: Vec<&String> = if n == 0 {
                        ids.iter().collect()
                    } else {
                        ids.iter().rev().collect()
                    };
                    for id in order {
                        if let Some(claim) = store.claim(State::Queued, id).unwrap() {
                            mine.push(id.clone());
                            drop(claim);
                        }
                    }
                    mine
                })
            })
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    let mut all: Vec<String> = won.concat();
    all.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(all, expected, "each message claimed exactly once");

    // A row another transaction holds locked is skipped, not waited for.
    let id = add(&stores[0], State::Queued);
    let mut sql = scratch.sql();
    let mut tx = sql.transaction().unwrap();
    tx.query(
        "SELECT 1 FROM postie_spool WHERE id = $1 FOR UPDATE",
        &[&id],
    )
    .unwrap();
    let started = std::time::Instant::now();
    assert!(stores[1].claim(State::Queued, &id).unwrap().is_none());
    assert!(started.elapsed() < Duration::from_secs(5));
    tx.rollback().unwrap();
    assert!(stores[1].claim(State::Queued, &id).unwrap().is_some());
}

#[test]
fn a_damaged_row_is_found_before_it_is_sent() {
    let Some(scratch) = Scratch::new("damage") else {
        return;
    };
    let store = scratch.store();
    let mut sql = scratch.sql();
    let queued = Place::At(State::Queued);

    // Other bytes than were kept: found by a look and by the claim.
    let changed = add(&store, State::Queued);
    sql.execute(
        "UPDATE postie_spool SET message = 'Subject: pg\r\n\r\nHELLO\r\n' WHERE id = $1",
        &[&changed],
    )
    .unwrap();
    assert!(matches!(
        store.look(&changed, &queued, true).unwrap(),
        Err(Damage::Mismatch(..))
    ));
    assert!(store.look(&changed, &queued, false).unwrap().is_ok());
    let claim = store.claim(State::Queued, &changed).unwrap().unwrap();
    assert!(matches!(claim.check().unwrap(), Err(Damage::Mismatch(..))));
    claim.release(State::Queued).unwrap();

    // A password source a kept message may not name, and a newer format.
    let command = add(&store, State::Queued);
    sql.execute(
        "UPDATE postie_spool SET transport = jsonb_set(transport, '{auth,secret}', \
         '{\"Command\": \"cat /etc/shadow\"}') WHERE id = $1",
        &[&command],
    )
    .unwrap();
    let found = store.look(&command, &queued, false).unwrap();
    assert!(matches!(found, Err(Damage::Unreadable(_))), "{found:?}");
    let newer = add(&store, State::Queued);
    sql.execute(
        "UPDATE postie_spool SET format = 3 WHERE id = $1",
        &[&newer],
    )
    .unwrap();
    assert!(matches!(
        store.look(&newer, &queued, false).unwrap(),
        Err(Damage::Newer(_))
    ));
    // A row gone since the listing is "not found", as a moved entry is.
    let error = store.look("1-2-3", &queued, false).unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::NotFound);
}

#[test]
fn the_password_comes_from_the_file_and_a_wrong_one_is_refused() {
    let Some(scratch) = Scratch::new("password") else {
        return;
    };
    let path = scratch.target.passfile.clone().unwrap();
    let lookup = passfile::Lookup {
        host: &scratch.target.host,
        port: scratch.target.port,
        database: &scratch.target.database,
        user: &scratch.target.user,
    };
    assert!(passfile::password(&path, &lookup).unwrap().is_some());
    let wrong = std::env::temp_dir().join(format!("postie-pgpass-wrong-{}", std::process::id()));
    let _ = std::fs::remove_file(&wrong);
    {
        use std::os::unix::fs::OpenOptionsExt;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&wrong)
            .unwrap();
        file.write_all(b"*:*:*:*:not-the-password\n").unwrap();
    }
    let target = Target {
        passfile: Some(wrong.clone()),
        ..scratch.target.clone()
    };
    let error = PgStore::connect(&target, DEFAULT_LEASE).err().unwrap();
    std::fs::remove_file(&wrong).unwrap();
    assert!(error.to_string().contains("password"), "{error}");
}

/// The scratch target over TLS with `mode`, its roots the test CA (or
/// `roots`), and its host `host` (the name checked against the
/// certificate); `None` when the server has no CA (outside CI).
fn over_tls(scratch: &Scratch, mode: tls::Mode, roots: Option<String>) -> Option<Target> {
    let ca = std::env::var("POSTIE_TEST_POSTGRES_CA").ok()?;
    Some(Target {
        tls: tls::Settings {
            mode,
            roots: tls::Roots {
                file: Some(roots.unwrap_or(ca).into()),
            },
            client: None,
        },
        ..scratch.target.clone()
    })
}

/// Whether the session of `client` is TLS, as the server sees it.
fn is_tls(client: &mut Client) -> bool {
    client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .unwrap()
        .get(0)
}

#[test]
fn verify_full_with_the_test_ca_is_tls_and_passes_the_contract() {
    let Some(scratch) = Scratch::new("tls_full") else {
        return;
    };
    let Some(target) = over_tls(&scratch, tls::Mode::VerifyFull, None) else {
        return;
    };
    assert!(is_tls(&mut open_client(&target).unwrap()));
    // `require` verifies as `verify-full` does, and `prefer` takes the
    // TLS the server offers.
    for mode in [tls::Mode::Require, tls::Mode::Prefer] {
        let target = over_tls(&scratch, mode, None).unwrap();
        assert!(is_tls(&mut open_client(&target).unwrap()), "{mode:?}");
    }
    // Channel binding: SCRAM-SHA-256-PLUS with tls-server-end-point, which
    // the server checks against its own certificate (the test CA's are
    // ECDSA with SHA-256).
    let mut url = postgres::Config::new();
    url.host(&target.host)
        .port(target.port)
        .ssl_mode(postgres::config::SslMode::Require)
        .channel_binding(postgres::config::ChannelBinding::Require);
    let bound = Target {
        url: Some(url),
        ..target.clone()
    };
    assert!(is_tls(&mut open_client(&bound).unwrap()));
    let store = PgStore::connect(&target, DEFAULT_LEASE).unwrap();
    contract::holds(&store, &meta);
}

/// The role that logs in with a client certificate only (pg_hba `cert`),
/// the test client certificate, and its key copied with `mode` (the
/// test CA's files are readable by all); `None` outside CI.
fn client_cert(dir: &std::path::Path, mode: u32) -> Option<(String, tls::ClientCert)> {
    use std::os::unix::fs::PermissionsExt;
    let user = match std::env::var("POSTIE_TEST_POSTGRES_CERT_USER") {
        Ok(user) => user,
        Err(_) if std::env::var_os("CI").is_some() => {
            panic!("POSTIE_TEST_POSTGRES_CERT_USER is not set: scripts/servers.sh sets it, and CI must not skip")
        }
        Err(_) => return None,
    };
    let cert = std::env::var("POSTIE_TEST_CLIENT_CERT").unwrap();
    let key = dir.join(format!("client-{mode:o}.key"));
    std::fs::copy(std::env::var("POSTIE_TEST_CLIENT_KEY").unwrap(), &key).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(mode)).unwrap();
    Some((
        user,
        tls::ClientCert {
            cert: cert.into(),
            key,
        },
    ))
}

#[test]
fn a_client_certificate_logs_in_as_the_role_it_maps_to_and_nothing_else_does() {
    let Some(scratch) = Scratch::new("tls_cert") else {
        return;
    };
    let Some(with_ca) = over_tls(&scratch, tls::Mode::VerifyFull, None) else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("postie-pg-cert-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let Some((user, cert)) = client_cert(&dir, 0o600) else {
        return;
    };
    let mut tls = with_ca.tls.clone();
    tls.client = Some(cert);
    // The password file has no line for this role: only the certificate
    // can log it in.
    let target = Target {
        user: user.clone(),
        schema: None,
        tls,
        ..with_ca.clone()
    };
    let mut client = open_client(&target).unwrap();
    assert!(is_tls(&mut client));
    let who: String = client
        .query_one("SELECT current_user::text", &[])
        .unwrap()
        .get(0);
    assert_eq!(who, user);
    // The store works as this role, on a schema of its own.
    let schema = format!(
        "postie_t_cert_{}_{:08x}",
        std::process::id(),
        getrandom::u32().unwrap()
    );
    client
        .execute(&format!("CREATE SCHEMA {schema}"), &[])
        .unwrap();
    let on_schema = Target {
        schema: Some(schema.clone()),
        ..target.clone()
    };
    let store = PgStore::connect(&on_schema, DEFAULT_LEASE).unwrap();
    contract::holds(&store, &meta);
    drop(store);
    client
        .execute(&format!("DROP SCHEMA {schema} CASCADE"), &[])
        .unwrap();

    // Without the certificate the server refuses the role.
    let without = Target {
        tls: tls::Settings {
            client: None,
            ..target.tls.clone()
        },
        ..target.clone()
    };
    let refused = open_client(&without)
        .err()
        .expect("refused without a certificate");
    assert!(refused.to_string().contains("certificate"), "{refused}");
    // A key others may read is not used (nothing is sent), naming the fix.
    let (_, readable) = client_cert(&dir, 0o644).unwrap();
    let open_key = Target {
        tls: tls::Settings {
            client: Some(readable),
            ..target.tls.clone()
        },
        ..target
    };
    let refused = open_client(&open_key).err().expect("an open key refused");
    assert!(refused.to_string().contains("chmod 600"), "{refused}");
    assert_eq!(refused.kind(), std::io::ErrorKind::PermissionDenied);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sslmode_disable_stays_plain() {
    let Some(scratch) = Scratch::new("tls_off") else {
        return;
    };
    assert!(!is_tls(&mut scratch.sql()));
}

#[test]
fn a_certificate_from_another_ca_is_refused_in_every_tls_mode() {
    let Some(scratch) = Scratch::new("tls_wrong_ca") else {
        return;
    };
    let Ok(dir) = std::env::var("POSTIE_TEST_TLS_DIR") else {
        return;
    };
    // A certificate the server's chain does not end in.
    let other = format!("{dir}/selfsigned.pem");
    for mode in [
        tls::Mode::Prefer,
        tls::Mode::Require,
        tls::Mode::VerifyCa,
        tls::Mode::VerifyFull,
    ] {
        let Some(target) = over_tls(&scratch, mode, Some(other.clone())) else {
            return;
        };
        let error = open_client(&target).err().unwrap();
        // A setting to fix (exit 78), not a failure to retry.
        assert_eq!(
            error.kind(),
            std::io::ErrorKind::PermissionDenied,
            "{error}"
        );
        let error = error.to_string();
        assert!(error.contains("certificate"), "{mode:?}: {error}");
    }
}

#[test]
fn a_certificate_for_another_name_is_refused_but_verify_ca_takes_it() {
    let Some(scratch) = Scratch::new("tls_wrong_name") else {
        return;
    };
    // The server's certificate names localhost and 127.0.0.1; the server
    // is reached under a name the certificate does not hold: the URL's
    // `hostaddr` gives the address, the host is only the name to check.
    let Some(full) = over_tls(&scratch, tls::Mode::VerifyFull, None) else {
        return;
    };
    let url: postgres::Config = format!(
        "postgres://{}@wrong.example:{}/{}?hostaddr={}",
        full.user, full.port, full.database, full.host
    )
    .parse()
    .unwrap();
    let named = |mode| Target {
        url: Some({
            let mut url = url.clone();
            url.ssl_mode(tls::Mode::ssl_mode(mode));
            url
        }),
        // The password file's line names the address, not the name.
        host: full.host.clone(),
        ..over_tls(&scratch, mode, None).unwrap()
    };
    let error = open_client(&named(tls::Mode::VerifyFull))
        .err()
        .unwrap()
        .to_string();
    assert!(error.contains("certificate not valid for name"), "{error}");
    // verify-ca checks the chain only.
    assert!(is_tls(
        &mut open_client(&named(tls::Mode::VerifyCa)).unwrap()
    ));
}

/// A server that answers the TLS request with `N` (no TLS), then reads what
/// the client sends next; the bytes read after the `N` come back through
/// the handle.
fn no_tls_server() -> (u16, std::thread::JoinHandle<Vec<u8>>) {
    use std::io::Read;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let (mut socket, _) = listener.accept().unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        // SSLRequest: length 8, code 80877103.
        let mut request = [0; 8];
        socket.read_exact(&mut request).unwrap();
        assert_eq!(request, [0, 0, 0, 8, 4, 210, 22, 47]);
        socket.write_all(b"N").unwrap();
        let mut next = [0; 8];
        let n = socket.read(&mut next).unwrap_or(0);
        next[..n].to_vec()
    });
    (port, handle)
}

fn empty_passfile() -> std::path::PathBuf {
    use std::os::unix::fs::OpenOptionsExt;
    let path = std::env::temp_dir().join(format!("postie-no-tls-{}.pgpass", std::process::id()));
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .unwrap();
    path
}

fn no_tls_target(port: u16, mode: tls::Mode) -> Target {
    Target {
        host: "127.0.0.1".to_owned(),
        port,
        database: "d".to_owned(),
        user: "u".to_owned(),
        // An empty password file (so that PGPASSWORD is not read): the
        // fake server never asks.
        passfile: Some(empty_passfile()),
        schema: None,
        url: None,
        tls: tls::Settings {
            mode,
            ..tls::Settings::default()
        },
    }
}

#[test]
fn a_server_without_tls_is_refused_when_tls_is_required_and_plain_under_prefer() {
    for mode in [
        tls::Mode::Require,
        tls::Mode::VerifyCa,
        tls::Mode::VerifyFull,
    ] {
        let (port, server) = no_tls_server();
        let error = open_client(&no_tls_target(port, mode)).err().unwrap();
        // A setting to fix (exit 78): nothing went out in clear.
        assert_eq!(
            error.kind(),
            std::io::ErrorKind::PermissionDenied,
            "{mode:?}: {error}"
        );
        assert!(
            error.to_string().contains("does not support TLS"),
            "{error}"
        );
        assert_eq!(server.join().unwrap(), b"", "{mode:?}");
    }
    // prefer: on in clear, the startup message (protocol 3.0) follows.
    let (port, server) = no_tls_server();
    assert!(open_client(&no_tls_target(port, tls::Mode::Prefer)).is_err());
    assert_eq!(&server.join().unwrap()[4..8], &[0, 3, 0, 0]);
    let _ = std::fs::remove_file(empty_passfile());
}

/// A batch of at most `n` messages, whatever their size.
fn most(n: usize) -> BatchLimit {
    BatchLimit {
        messages: n,
        bytes: u64::MAX,
    }
}

/// The ids of a batch, in order.
fn batch_ids(batch: &dyn Batch) -> Vec<String> {
    batch.taken().iter().map(|t| t.id.clone()).collect()
}

#[test]
fn a_batch_claims_what_is_due_marks_it_and_writes_every_result_at_once() {
    let Some(scratch) = Scratch::new("batch") else {
        return;
    };
    let store = scratch.store();
    let other = scratch.store();
    let mut sql = scratch.sql();
    let ids: Vec<String> = (0..5).map(|_| add(&store, State::Queued)).collect();
    let later = add(&store, State::Queued);
    sql.execute(
        "UPDATE postie_spool SET next_attempt = now() + interval '1 hour' WHERE id = $1",
        &[&later],
    )
    .unwrap();
    let elsewhere = add(&store, State::Queued);
    sql.execute(
        "UPDATE postie_spool SET account = 'home' WHERE id = $1",
        &[&elsewhere],
    )
    .unwrap();
    let dead = add(&store, State::Dead);

    // Three of the due ones of the account, oldest first; the other
    // relayer gets the other two, never the same.
    let mut batch = store.claim_due(most(3), 0, Some("work")).unwrap();
    assert_eq!(batch_ids(batch.as_ref()), ids[..3]);
    let rest = other.claim_due(most(10), 0, Some("work")).unwrap();
    assert_eq!(batch_ids(rest.as_ref()), ids[3..]);
    drop(rest);
    assert!(batch.taken().iter().all(|t| t.meta.is_ok()));
    let message = batch.message(0).unwrap();
    assert_eq!(message.headers().get("Subject").unwrap().as_text(), "pg");
    // The mark, on the two that will be sent.
    assert_eq!(batch.mark(&[0, 1]).unwrap(), vec![0, 1]);
    assert_eq!(row(&mut sql, &ids[0]), ("sending".into(), true, true, true));
    assert_eq!(
        row(&mut sql, &ids[2]),
        ("sending".into(), true, false, true)
    );

    let mut failed = batch.taken()[1].meta.as_ref().unwrap().clone();
    failed.attempts = 1;
    failed.last_error = "451 later".into();
    let lost = batch
        .finish(&[
            Some(Disposition::Sent),
            Some(Disposition::Rest(Box::new(failed), State::Queued)),
            Some(Disposition::Back(State::Queued)),
        ])
        .unwrap();
    assert!(lost.is_empty());
    assert_eq!(row(&mut sql, &ids[0]), ("sent".into(), false, false, false));
    assert_eq!(
        row(&mut sql, &ids[1]),
        ("queued".into(), false, false, true)
    );
    assert_eq!(
        row(&mut sql, &ids[2]),
        ("queued".into(), false, false, true)
    );
    let kept = store
        .look(&ids[1], &Place::At(State::Queued), true)
        .unwrap()
        .unwrap();
    assert_eq!((kept.attempts, kept.last_error.as_str()), (1, "451 later"));
    // Not due, another account's, dead: never claimed.
    for id in [&later, &elsewhere, &dead] {
        assert_ne!(row(&mut sql, id).0, "sending");
    }
    // Without an account: the other account's too, once due.
    let all = store.claim_due(most(10), 0, None).unwrap();
    assert!(batch_ids(all.as_ref()).contains(&elsewhere));
    assert!(!batch_ids(all.as_ref()).contains(&later));
}

#[test]
fn a_batch_whose_lease_ran_out_marks_nothing_and_writes_nothing() {
    let Some(scratch) = Scratch::new("batch_lease") else {
        return;
    };
    let store = scratch.store();
    let mut sql = scratch.sql();
    let id = add(&store, State::Queued);
    let mut batch = store.claim_due(most(10), 0, None).unwrap();
    assert_eq!(batch_ids(batch.as_ref()), std::slice::from_ref(&id));
    sql.execute(
        "UPDATE postie_spool SET lease_until = now() - interval '1 second'",
        &[],
    )
    .unwrap();
    // Not this relayer's to send any more.
    assert!(batch.mark(&[0]).unwrap().is_empty());
    // Taken back by another relayer (to the queue: no mark), and sent
    // by it; the first one's results change nothing.
    assert_eq!(scratch.store().recover().unwrap().len(), 1);
    let second = scratch.store();
    let again = second.claim_due(most(10), 0, None).unwrap();
    assert_eq!(batch_ids(again.as_ref()), std::slice::from_ref(&id));
    assert_eq!(batch.finish(&[Some(Disposition::Sent)]).unwrap(), [0]);
    assert_eq!(row(&mut sql, &id), ("sending".into(), true, false, true));
}

#[test]
fn a_batch_holds_at_most_its_bytes_but_always_one_message() {
    let Some(scratch) = Scratch::new("batch_bytes") else {
        return;
    };
    let store = scratch.store();
    let ids: Vec<String> = (0..3).map(|_| add(&store, State::Queued)).collect();
    let size = MESSAGE.len() as u64;
    let two = BatchLimit {
        messages: 10,
        bytes: 2 * size,
    };
    let batch = store.claim_due(two, 0, None).unwrap();
    assert_eq!(batch_ids(batch.as_ref()), ids[..2]);
    drop(batch);
    let tiny = BatchLimit {
        messages: 10,
        bytes: 1,
    };
    let batch = store.claim_due(tiny, 0, None).unwrap();
    assert_eq!(batch_ids(batch.as_ref()), ids[2..]);
}

#[test]
fn a_row_of_a_newer_format_is_never_claimed() {
    let Some(scratch) = Scratch::new("batch_newer") else {
        return;
    };
    let store = scratch.store();
    let mut sql = scratch.sql();
    let id = add(&store, State::Queued);
    sql.execute("UPDATE postie_spool SET format = format + 1", &[])
        .unwrap();
    assert!(store
        .claim_due(most(10), 0, None)
        .unwrap()
        .taken()
        .is_empty());
    assert_eq!(store.next_due(None).unwrap(), None);
    assert_eq!(row(&mut sql, &id).0, "queued");
}

#[test]
fn a_damaged_row_in_a_batch_is_found_before_it_is_sent() {
    let Some(scratch) = Scratch::new("batch_damage") else {
        return;
    };
    let store = scratch.store();
    let mut sql = scratch.sql();
    let id = add(&store, State::Queued);
    sql.execute(
        "UPDATE postie_spool SET message = message || '\\x41'::bytea WHERE id = $1",
        &[&id],
    )
    .unwrap();
    let batch = store.claim_due(most(10), 0, None).unwrap();
    assert!(
        matches!(&batch.taken()[0].meta, Err(Damage::Mismatch(_, reason)) if reason.contains("bytes")),
        "{:?}",
        batch.taken()[0].meta
    );
}

#[test]
fn a_waiting_relayer_is_woken_by_a_row_queued_by_anyone() {
    let Some(scratch) = Scratch::new("notify") else {
        return;
    };
    let store = scratch.store();
    // Nothing queued: the wait runs out.
    assert!(!store.wait(Duration::from_millis(100)).unwrap());
    // Queued by another process (here another connection): woken.
    add(&scratch.store(), State::Queued);
    assert!(store.wait(Duration::from_secs(5)).unwrap());
    // Once for all of it; a row that becomes dead wakes nobody.
    add(&scratch.store(), State::Dead);
    assert!(!store.wait(Duration::from_millis(200)).unwrap());
    // How long until the next one is due, by the database's clock: it is
    // overdue; another account has none.
    assert_eq!(store.next_due(None).unwrap(), Some(Duration::ZERO));
    assert_eq!(store.next_due(Some("nobody")).unwrap(), None);
}

#[test]
fn a_relayer_outlives_a_lost_connection() {
    let Some(scratch) = Scratch::new("reconnect") else {
        return;
    };
    let store = scratch.store();
    let id = add(&store, State::Queued);
    let pid: i32 = store
        .client()
        .unwrap()
        .query_one("SELECT pg_backend_pid()", &[])
        .unwrap()
        .get(0);
    // The server ends the store's connection (as a restart would).
    scratch
        .sql()
        .execute("SELECT pg_terminate_backend($1)", &[&pid])
        .unwrap();
    // The first use fails (the statement was not run), the next connects
    // again.
    let first = store.ids(State::Queued);
    let ids = match first {
        Ok(ids) => ids,
        Err(_) => store.ids(State::Queued).unwrap(),
    };
    assert_eq!(ids, [id]);
}
