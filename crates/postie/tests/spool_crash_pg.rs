//! The relayers' crash test on the PostgreSQL store, in a test binary
//! of its own: it restarts the database, which no other test may see
//! (cargo runs test binaries one after another).
#![cfg(feature = "postgres")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod spool_common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use postie_testkit::closed_port;
use spool_common::pg::{deliveries, eventually, keep, Db};
use spool_common::Sink;

/// A small xorshift: the kill times and victims, reproducible from the
/// printed seed.
struct XorShift(u64);

impl XorShift {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// A number from the environment, else `default`.
fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The crash test: four relayers send from one table while they are
/// SIGKILLed at random and started again, and the database itself is
/// restarted once mid-run; a sink records every delivery. Every message
/// ends sent and delivered exactly once, or unknown (its relayer was
/// killed, or lost the database, after its batch's data mark) and
/// delivered at most once; none is lost or sent twice. 2,000 messages and
/// 10 kills here (POSTIE_CRASH_MESSAGES, POSTIE_CRASH_KILLS: `bench/
/// spool_crash.sh` runs 10,000 and 50).
#[test]
fn killed_relayers_and_a_database_restart_lose_nothing_and_send_nothing_twice() {
    let Some(db) = Db::new("run_crash") else {
        return;
    };
    let restart = std::env::var("POSTIE_TEST_POSTGRES_RESTART")
        .expect("POSTIE_TEST_POSTGRES_RESTART (scripts/servers.sh sets it)");
    let count = usize::try_from(setting("POSTIE_CRASH_MESSAGES", 2000)).unwrap();
    let kills = setting("POSTIE_CRASH_KILLS", 10);
    let seed = setting(
        "POSTIE_CRASH_SEED",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
            | 1,
    );
    eprintln!("crash test: {count} messages, {kills} kills, seed {seed}");
    let mut rng = XorShift(seed);
    let started = Instant::now();
    let port = closed_port();
    keep(&db, port, "crash", count);
    let maildir = db.dir.join("maildir");
    let _sink = Sink::start(port, &maildir);
    let relayer = || {
        db.command(&[
            "spool",
            "run",
            "--batch",
            "20",
            "--connections",
            "2",
            "--lease",
            "3s",
            "--poll",
            "1s",
            "--quiet",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
    };
    let mut relayers: Vec<_> = (0..4).map(|_| relayer()).collect();
    for kill in 0..kills {
        std::thread::sleep(Duration::from_millis(30 + rng.below(150)));
        let victim = usize::try_from(rng.below(4)).unwrap();
        relayers[victim].kill().unwrap();
        relayers[victim].wait().unwrap();
        relayers[victim] = relayer();
        if kill == kills / 2 {
            let restarted = std::process::Command::new("bash")
                .arg(&restart)
                .status()
                .unwrap();
            assert!(restarted.success(), "the database did not restart");
        }
    }
    // Everything ends sent or unknown: the claims of killed relayers run
    // out and are taken back by the others.
    eventually(
        Duration::from_secs(90),
        "every message sent or unknown",
        || {
            let states = db.states();
            !states.contains("queued") && !states.contains("sending")
        },
    );
    for mut relayer in relayers {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &relayer.id().to_string()])
            .status();
        relayer.wait().unwrap();
    }
    let seen = deliveries(&maildir, "crash");
    let rows = db.psql(&format!(
        "SELECT state || ' ' || substring(convert_from(message, 'UTF8') FROM 'Subject: crash #([0-9]+)') \
         FROM {}.postie_spool WHERE state = 'unknown'",
        db.schema
    ));
    let unknown: Vec<usize> = rows
        .lines()
        .filter_map(|l| l.split(' ').nth(1)?.parse().ok())
        .collect();
    let twice: Vec<_> = seen.iter().filter(|(_, &n)| n > 1).collect();
    assert!(twice.is_empty(), "delivered twice: {twice:?} (seed {seed})");
    let sent_rows = db.psql(&format!(
        "SELECT count(*) FROM {}.postie_spool WHERE state = 'sent'",
        db.schema
    ));
    let sent_rows: usize = sent_rows.trim().parse().unwrap();
    assert_eq!(
        sent_rows + unknown.len(),
        count,
        "{} (seed {seed})",
        db.states()
    );
    // Sent rows were each delivered; the others (unknown) at most once.
    let delivered_unknown = unknown.iter().filter(|n| seen.contains_key(n)).count();
    assert_eq!(
        seen.len(),
        sent_rows + delivered_unknown,
        "a message recorded as sent was not delivered (seed {seed})"
    );
    eprintln!(
        "crash test: {count} messages, {kills} kills and a database restart in {:?}: {sent_rows} sent, {} unknown ({delivered_unknown} of them delivered): {unknown:?}",
        started.elapsed(),
        unknown.len()
    );
}
