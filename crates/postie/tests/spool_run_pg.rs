//! `postie spool run`, the relayer, on the PostgreSQL store, against the
//! real server of `scripts/servers.sh start postgres`: a batch sent and
//! recorded, a relayer woken by NOTIFY and stopped by SIGTERM, two
//! relayers sharing one table without sending any message twice, and
//! messages that fail kept for their next attempt.
#![cfg(feature = "postgres")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod spool_common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use postie_testkit::closed_port;
use spool_common::pg::{delivered, deliveries, eventually, keep, kept_id, send, Db};
use spool_common::{text, Sink};

#[test]
fn a_relayer_sends_a_batch_once_and_records_each_message_as_sent() {
    let Some(db) = Db::new("run_once") else {
        return;
    };
    let port = closed_port();
    keep(&db, port, "relayed", 25);
    // Nobody there: each attempt fails before the data, kept for later.
    let out = db.postie(&["spool", "run", "--once", "--batch", "10"]);
    assert_eq!(out.status.code(), Some(75), "{}", text(&out));
    assert_eq!(db.states(), "queued=25");
    assert_eq!(db.list()[0]["attempts"], 1);
    // Due again now, and the server is there: sent in three batches, each
    // exactly once, every row kept as sent without its bytes.
    db.psql(&format!(
        "UPDATE {}.postie_spool SET next_attempt = now()",
        db.schema
    ));
    let maildir = db.dir.join("maildir");
    let _sink = Sink::start(port, &maildir);
    let out = db.postie(&[
        "spool",
        "run",
        "--once",
        "--batch",
        "10",
        "--connections",
        "3",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("spool run: 25 sent, 0 kept, 0 given up"),
        "{}",
        text(&out)
    );
    let seen = deliveries(&maildir, "relayed");
    assert_eq!(seen.len(), 25, "{seen:?}");
    assert!(seen.values().all(|&n| n == 1), "{seen:?}");
    assert_eq!(db.states(), "sent=25");
    let bytes = db.psql(&format!(
        "SELECT count(*) FROM {}.postie_spool WHERE message IS NOT NULL",
        db.schema
    ));
    assert_eq!(bytes.trim(), "0");
    // The numbers: nothing waiting, 25 sent in the last minute.
    let out = db.postie(&["spool", "stats", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stats: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(stats["sent_last_minute"], 25, "{stats}");
    assert_eq!(stats["failed_last_hour"], 0, "{stats}");
    assert_eq!(stats["states"]["queued"]["count"], 0, "{stats}");
    // The Bcc recipient got it too, from the kept envelope (no Bcc field).
    let message = delivered(&maildir).pop().unwrap();
    assert!(
        message.contains("X-Postie-Envelope-To: <bob@example.org>, <hidden@example.org>"),
        "{message}"
    );
    assert!(!message.contains("Bcc:"), "{message}");
}

#[test]
fn a_waiting_relayer_is_woken_by_a_queued_row_and_stops_on_sigterm() {
    let Some(db) = Db::new("run_notify") else {
        return;
    };
    let port = closed_port();
    let maildir = db.dir.join("maildir");
    // A kept message, made to wait for a day.
    let out = send(&db, port, "woken", &["--json"]);
    let id = kept_id(&out);
    db.psql(&format!(
        "UPDATE {}.postie_spool SET next_attempt = now() + interval '1 day'",
        db.schema
    ));
    let _sink = Sink::start(port, &maildir);
    // The numbers while it waits: one queued, for a day.
    let out = db.postie(&["spool", "stats"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("queued   1 (oldest "), "{}", text(&out));
    // Polls only every 10 minutes: only NOTIFY can wake it in time.
    let metrics = format!("127.0.0.1:{}", closed_port());
    let mut relayer = db
        .command(&["spool", "run", "--poll", "10m", "--metrics", &metrics])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert!(delivered(&maildir).is_empty());
    let started = Instant::now();
    db.copies(&id, "woken", 3);
    eventually(Duration::from_secs(10), "the woken relayer sends", || {
        delivered(&maildir).len() == 3
    });
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "woken late: {:?}",
        started.elapsed()
    );
    eventually(Duration::from_secs(5), "the results recorded", || {
        db.states() == "sent=3"
    });
    // Its metrics, in Prometheus' text format.
    let page = {
        use std::io::{Read as _, Write as _};
        let mut stream = std::net::TcpStream::connect(&metrics).unwrap();
        write!(stream, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut page = String::new();
        stream.read_to_string(&mut page).unwrap();
        page
    };
    assert!(page.starts_with("HTTP/1.1 200 OK"), "{page}");
    assert!(
        page.contains("postie_relay_messages_total{outcome=\"sent\"} 3\n"),
        "{page}"
    );
    assert!(
        page.contains("postie_spool_messages{state=\"queued\"} "),
        "{page}"
    );
    // SIGTERM: a clean stop, exit 0, with the summary.
    let pid = relayer.id().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let until = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = relayer.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < until,
            "the relayer did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = relayer.wait_with_output().unwrap();
    assert_eq!(status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("spool run: 3 sent"), "{}", text(&out));
}

#[test]
fn two_relayers_share_one_table_and_send_no_message_twice() {
    let Some(db) = Db::new("run_two") else {
        return;
    };
    let port = closed_port();
    keep(&db, port, "shared", 300);
    let maildir = db.dir.join("maildir");
    let _sink = Sink::start(port, &maildir);
    let relayers: Vec<_> = (0..2)
        .map(|_| {
            db.command(&[
                "spool",
                "run",
                "--once",
                "--batch",
                "7",
                "--connections",
                "2",
            ])
            .spawn()
            .unwrap()
        })
        .collect();
    let mut sent = 0;
    for relayer in relayers {
        let out = relayer.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let summary = text(&out);
        let line = summary
            .lines()
            .find_map(|l| l.strip_prefix("postie: spool run: "))
            .unwrap_or_else(|| panic!("no summary: {summary}"));
        sent += line.split(' ').next().unwrap().parse::<usize>().unwrap();
    }
    assert_eq!(sent, 300, "the relayers' counts add up");
    let seen = deliveries(&maildir, "shared");
    assert_eq!(seen.len(), 300);
    let twice: Vec<_> = seen.iter().filter(|(_, &n)| n > 1).collect();
    assert!(twice.is_empty(), "sent twice: {twice:?}");
    assert_eq!(db.states(), "sent=300");
}

/// The outbox: rows enqueued by an application inside its own
/// transactions (the `postgres` and `tokio-postgres` clients), and one
/// inserted with plain SQL as another client would; a relayer sends
/// exactly the ones whose transaction committed.
#[test]
fn an_outbox_row_is_sent_if_and_only_if_its_transaction_commits() {
    let Some(db) = Db::new("outbox") else {
        return;
    };
    let out = db.postie(&["spool", "init"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let port = closed_port();
    let maildir = db.dir.join("maildir");
    let _sink = Sink::start(port, &maildir);
    let options = postie_smtp::SendOptions::new()
        .servers(["127.0.0.1"])
        .ports([port])
        .tls_mode(postie_smtp::tls::TlsMode::None);
    let mail = |subject: &str| {
        let mut m = postie_mime::Message::text("from the outbox\n");
        m.headers_mut().set("From", "shop@example.org").unwrap();
        m.headers_mut().set("To", "customer@example.com").unwrap();
        m.headers_mut().set("Subject", subject).unwrap();
        postie_outbox::Row::new(&m, &options).unwrap()
    };

    // The blocking client: one transaction commits, one rolls back.
    let mut client = postgres::Client::connect(&db.client_config(), postgres::NoTls).unwrap();
    let mut tx = client.transaction().unwrap();
    tx.execute("CREATE TABLE orders (id int, state text)", &[])
        .unwrap();
    tx.execute("INSERT INTO orders VALUES (42, 'shipped')", &[])
        .unwrap();
    let committed = postie_outbox::enqueue(&mut tx, &mail("outbox #1")).unwrap();
    tx.commit().unwrap();
    let mut tx = client.transaction().unwrap();
    tx.execute("UPDATE orders SET state = 'cancelled'", &[])
        .unwrap();
    let rolled_back = postie_outbox::enqueue(&mut tx, &mail("outbox #2")).unwrap();
    tx.rollback().unwrap();

    // tokio-postgres, the same.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (mut client, connection) =
            tokio_postgres::connect(&db.client_config(), tokio_postgres::NoTls)
                .await
                .unwrap();
        tokio::spawn(connection);
        let tx = client.transaction().await.unwrap();
        postie_outbox::enqueue_async(&tx, &mail("outbox #3"))
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let tx = client.transaction().await.unwrap();
        postie_outbox::enqueue_async(&tx, &mail("outbox #4"))
            .await
            .unwrap();
        drop(tx); // rolled back
    });

    // Plain SQL, as sqlx or diesel would: the documented statement with
    // the row's six values.
    let row = mail("outbox #5");
    client
        .query_one(
            postie_outbox::INSERT,
            &[
                &row.transport_json(),
                &row.reverse_path(),
                &row.recipients(),
                &row.message(),
                &row.account_name(),
                &row.accounts_file(),
            ],
        )
        .unwrap();

    assert_eq!(db.state(&committed), "queued");
    assert_eq!(db.state(&rolled_back), "", "a rolled-back row is not there");
    let out = db.postie(&["spool", "run", "--once"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let seen = deliveries(&maildir, "outbox");
    let mut numbers: Vec<usize> = seen.keys().copied().collect();
    numbers.sort_unstable();
    assert_eq!(numbers, [1, 3, 5], "only the committed ones: {seen:?}");
    assert!(seen.values().all(|&n| n == 1));
    assert_eq!(db.states(), "sent=3");
}

/// A batch that takes longer than a lease (a slow server): its claims are
/// renewed while it goes, so another process's recovery (here `spool
/// list`, run mid-batch) takes nothing back, and every message is recorded
/// as sent once.
#[test]
fn a_batch_slower_than_its_lease_keeps_its_claims() {
    let Some(db) = Db::new("run_renew") else {
        return;
    };
    // Each message answered after 700 ms: 3 messages take over 2 s.
    let mut script = postie_testkit::Script::new().greet(&["PIPELINING"]);
    for n in 0..3 {
        script = spool_common::accepting(script)
            .sleep(Duration::from_millis(700))
            .send(format!("250 2.0.0 Ok: queued as S{n}\r\n"));
    }
    let server = postie_testkit::ScriptedServer::start(vec![script.reply("221 2.0.0 Bye\r\n")]);
    keep(&db, closed_port(), "slow", 3);
    db.psql(&format!(
        "UPDATE {}.postie_spool SET transport = jsonb_set(transport, '{{ports}}', '[{}]')",
        db.schema,
        server.port()
    ));
    let relayer = db
        .command(&[
            "spool",
            "run",
            "--once",
            "--batch",
            "3",
            "--connections",
            "1",
            "--lease",
            "1s",
        ])
        .spawn()
        .unwrap();
    // Mid-batch, well past the first lease: a spool command recovers
    // whatever ran out.
    std::thread::sleep(Duration::from_millis(1600));
    let out = db.postie(&["spool", "list"]);
    assert!(!text(&out).contains("stopped"), "{}", text(&out));
    let out = relayer.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(db.states(), "sent=3", "{}", text(&out));
    let sessions = server.finish();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].data.len(), 3);
}

/// SIGTERM while a batch goes: the message being sent finishes and is
/// recorded as sent, the rest of the batch goes back to the queue unsent
/// (not unknown), and the relayer exits 0.
#[test]
fn sigterm_mid_batch_finishes_the_send_under_way_and_puts_the_rest_back() {
    let Some(db) = Db::new("run_sigterm") else {
        return;
    };
    let mut script = postie_testkit::Script::new().greet(&["PIPELINING"]);
    for n in 0..4 {
        script = spool_common::accepting(script)
            .sleep(Duration::from_millis(600))
            .send(format!("250 2.0.0 Ok: queued as T{n}\r\n"));
    }
    let server = postie_testkit::ScriptedServer::start(vec![script.reply("221 2.0.0 Bye\r\n")]);
    keep(&db, closed_port(), "term", 4);
    db.psql(&format!(
        "UPDATE {}.postie_spool SET transport = jsonb_set(transport, '{{ports}}', '[{}]')",
        db.schema,
        server.port()
    ));
    let relayer = db
        .command(&["spool", "run", "--batch", "4", "--connections", "1"])
        .spawn()
        .unwrap();
    // The batch is marked, and its first message under way (answered
    // after 600 ms).
    eventually(Duration::from_secs(10), "the batch marked", || {
        db.psql(&format!(
            "SELECT count(*) FROM {}.postie_spool WHERE data_sent_at IS NOT NULL",
            db.schema
        ))
        .trim()
            == "4"
    });
    std::thread::sleep(Duration::from_millis(150));
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &relayer.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = relayer.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // One (on a slow machine two) sent; the others back, none unknown.
    let states = db.states();
    assert!(
        states == "queued=3 sent=1" || states == "queued=2 sent=2",
        "{states}: {}",
        text(&out)
    );
    let sent: usize = states.rsplit('=').next().unwrap().parse().unwrap();
    assert_eq!(server.finish()[0].data.len(), sent);
}

/// A relayer does not let a row choose which of its secrets goes where:
/// a row naming a password source (here kept by `postie send --defer
/// --password-env`) is given up with the reason,
/// unless the relayer trusts the table's writers (`--trust-rows`).
#[test]
fn a_row_naming_a_secret_is_refused_unless_the_relayer_trusts_rows() {
    let Some(db) = Db::new("run_trust") else {
        return;
    };
    let port = closed_port();
    let out = send(
        &db,
        port,
        "secret",
        &[
            "--json",
            "--defer",
            "--username",
            "shop",
            "--password-env",
            "SHOP_PASSWORD",
        ],
    );
    let id = kept_id(&out);
    let out = db.postie(&["spool", "run", "--once", "--json"]);
    assert_eq!(out.status.code(), Some(69), "{}", text(&out));
    assert!(text(&out).contains("--trust-rows"), "{}", text(&out));
    assert_eq!(db.state(&id), "dead");
    // Trusted: tried (nobody listens there: kept for later).
    db.psql(&format!(
        "UPDATE {}.postie_spool SET state = 'queued', dead_reason = NULL",
        db.schema
    ));
    let out = db
        .command(&["spool", "run", "--once", "--trust-rows"])
        .env("SHOP_PASSWORD", "not used: nobody answers")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(75), "{}", text(&out));
    assert_eq!(db.state(&id), "queued");
}
