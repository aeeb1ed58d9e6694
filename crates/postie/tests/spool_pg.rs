//! The spool commands on the PostgreSQL store (feature `postgres`), against
//! the real server `scripts/servers.sh start postgres` runs
//! (POSTIE_TEST_POSTGRES): `postie spool init`, `postie send
//! --spool-on-failure` keeping a message in the database, `spool
//! list|show|flush|remove` on it, the store chosen by `--store`, by
//! `POSTIE_SPOOL_STORE` and by the account's `spool_store`; and store URLs
//! refused. Each test works in a schema of its own (made with psql, the
//! URL's `options=-csearch_path=...` choosing it), dropped at the end.
#![cfg(feature = "postgres")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod spool_common;

use std::process::Output;
use std::time::{Duration, Instant};

use postie_testkit::{closed_port, real_server, Script, ScriptedServer};
use spool_common::pg::{delivered, kept_id, send, Db};
use spool_common::{accepting, stderr, text, Sink};

#[test]
fn init_makes_the_tables_once_and_a_folder_needs_nothing() {
    let Some(db) = Db::new("init") else {
        return;
    };
    let out = db.postie(&["spool", "init", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["store"], "postgres");
    assert_eq!(json["applied"], serde_json::json!([1, 2, 3]));
    assert_eq!(json["schema_version"], 3);
    assert!(
        !json["location"].as_str().unwrap().contains("options"),
        "{json}"
    );
    // Again: nothing to do.
    let out = db.postie(&["spool", "init"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("the schema is at version 3: nothing to do"),
        "{}",
        text(&out)
    );
    assert_eq!(
        db.psql(&format!(
            "SELECT count(*) FROM {}.postie_schema_version",
            db.schema
        ))
        .trim(),
        "3"
    );
    // A folder store: nothing to do, nothing made.
    let folder = db.dir.join("folder-spool");
    let out = db.postie(&[
        "spool",
        "init",
        "--json",
        "--store",
        folder.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["store"], "folder");
    assert_eq!(json["applied"], serde_json::json!([]));
    assert!(!folder.exists());
}

#[test]
fn a_failed_send_is_kept_in_the_database_listed_flushed_and_removed() {
    let Some(db) = Db::new("flush") else {
        return;
    };
    let port = closed_port();
    let out = send(&db, port, "pg spool one", &["--json"]);
    assert_eq!(out.status.code(), Some(75), "{}", text(&out));
    assert!(
        stderr(&out).contains("`postie spool flush` retries it"),
        "{}",
        text(&out)
    );
    let id = kept_id(&out);
    let rows = db.list();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["id"], id.as_str());
    assert_eq!(rows[0]["state"], "queued");
    assert_eq!(
        rows[0]["recipients"],
        serde_json::json!(["bob@example.org", "hidden@example.org"])
    );
    assert_eq!(db.state(&id), "queued");

    // show: the record, where it is (no password), and the header, which
    // has no Bcc.
    let out = db.postie(&["spool", "show", &id]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(shown.contains("state: queued"), "{shown}");
    assert!(
        shown.contains(&format!("path: {} table postie_spool id {id}", db.base)),
        "{shown}"
    );
    assert!(shown.contains("Subject: pg spool one"), "{shown}");
    let header = shown.split_once("\n\n").unwrap().1;
    assert!(!header.contains("hidden@"), "{shown}");

    // Still nobody there: tried, queued again.
    let out = db.postie(&["spool", "flush"]);
    assert_eq!(out.status.code(), Some(75), "{}", text(&out));
    assert_eq!(db.list()[0]["attempts"], 1);

    // The server is back: --force sends it once; the row is kept as sent
    // (without the message), and no command shows it any more.
    let maildir = db.dir.join("maildir");
    let _sink = Sink::start(port, &maildir);
    let out = db.postie(&["spool", "flush", "--force"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        stderr(&out).contains(&format!("{id}: sent to 127.0.0.1:{port}")),
        "{}",
        text(&out)
    );
    let got = delivered(&maildir);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].contains("Subject: pg spool one"), "{}", got[0]);
    assert!(got[0].contains("\n.dot line"), "{}", got[0]);
    assert!(db.list().is_empty());
    assert_eq!(db.state(&id), "sent");
    assert_eq!(
        db.psql(&format!(
            "SELECT message IS NULL FROM {}.postie_spool WHERE id = '{id}'",
            db.schema
        ))
        .trim(),
        "t"
    );
    let out = db.postie(&["spool", "show", &id]);
    assert_eq!(out.status.code(), Some(66), "{}", text(&out));

    // Another, kept and removed unsent; --store (here the same URL) is
    // taken over the variable, before or after the command.
    let closed = closed_port();
    let out = db
        .command(&[
            "send",
            "--spool-on-failure",
            "--store",
            &db.url,
            "--server",
            "127.0.0.1",
            "--port",
            &closed.to_string(),
            "--tls",
            "none",
            "--from",
            "ann@example.org",
            "--to",
            "bob@example.org",
            "--body",
            "two",
            "--json",
        ])
        .env("POSTIE_SPOOL_STORE", db.dir.join("not-used"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(75), "{}", text(&out));
    let second = kept_id(&out);
    assert!(!db.dir.join("not-used").exists());
    let out = db.postie(&["spool", "--store", &db.url, "remove", &second]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(db.state(&second), "");
    let out = db.postie(&["spool", "remove", &second, "--store", &db.url, "--json"]);
    assert_eq!(out.status.code(), Some(66), "{}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json[0]["id"], second.as_str(), "{json}");
    assert_eq!(json[0]["removed"], false, "{json}");
    assert!(
        json[0]["error"].as_str().unwrap().contains("no message"),
        "{json}"
    );
    assert!(db.list().is_empty());
}

#[test]
fn an_unknown_outcome_waits_for_force_and_a_refusal_is_dead() {
    let Some(db) = Db::new("unknown") else {
        return;
    };
    // The data taken and the connection closed without a reply: unknown.
    // Then, for --force, a server that refuses it for good: dead.
    let server = ScriptedServer::start(vec![
        accepting(Script::new().greet(&[])).close(),
        accepting(Script::new().greet(&[]))
            .send("554 5.7.1 no thanks\r\n")
            .reply("221 bye\r\n"),
    ]);
    let out = send(&db, server.port(), "pg unknown", &["--json"]);
    assert_eq!(out.status.code(), Some(75), "{}", text(&out));
    assert!(stderr(&out).contains("marked unknown"), "{}", text(&out));
    let id = kept_id(&out);
    let rows = db.list();
    assert_eq!(rows[0]["state"], "unknown", "{rows:?}");
    assert_eq!(rows[0]["maybe_delivered"], true);

    let out = db.postie(&["spool", "flush"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        stderr(&out).contains("1 unknown (sent again only with --force)"),
        "{}",
        text(&out)
    );
    let out = db.postie(&["spool", "flush", "--force"]);
    assert_eq!(out.status.code(), Some(69), "{}", text(&out));
    let rows = db.list();
    assert_eq!(rows[0]["state"], "dead", "{rows:?}");
    assert!(
        rows[0]["dead_reason"].as_str().unwrap().contains("554"),
        "{rows:?}"
    );
    assert_eq!(db.state(&id), "dead");
    let sessions = server.finish();
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions[0].data, sessions[1].data);
}

#[test]
fn the_accounts_spool_store_is_used_when_nothing_else_names_one() {
    let Some(db) = Db::new("account") else {
        return;
    };
    let config = db.dir.join("config").join("postie").join("config.toml");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    let port = closed_port();
    std::fs::write(
        &config,
        format!(
            "default = \"work\"\n[accounts.work]\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\n\
             spool_on_failure = true\nspool_store = \"{}\"\n",
            db.url
        ),
    )
    .unwrap();
    let bare = |args: &[&str]| {
        db.command(args)
            .env_remove("POSTIE_SPOOL_STORE")
            .output()
            .unwrap()
    };
    let out = bare(&[
        "send",
        "--from",
        "ann@example.org",
        "--to",
        "bob@example.org",
        "--body",
        "acct",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(75), "{}", text(&out));
    let id = kept_id(&out);
    assert_eq!(db.state(&id), "queued");
    // The spool commands find it through the default account, or the one
    // --account names.
    for args in [
        &["spool", "list"][..],
        &["spool", "list", "--account", "work"][..],
    ] {
        let out = bare(args);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stdout).starts_with(&format!("{id}\tqueued")),
            "{args:?}: {}",
            text(&out)
        );
    }
    // An account that does not exist names no store: refused, not guessed.
    let out = bare(&["spool", "list", "--account", "nobody"]);
    assert_eq!(out.status.code(), Some(78), "{}", text(&out));
}

#[test]
fn a_store_url_with_a_password_is_refused_wherever_it_is_given() {
    let Some(db) = Db::new("password") else {
        return;
    };
    let with_password = db.url.replacen(
        "postgres://postie_test@",
        "postgres://postie_test:s3cret@",
        1,
    );
    assert_ne!(with_password, db.url);
    let checks = |out: &Output| {
        assert_eq!(out.status.code(), Some(78), "{}", text(out));
        let said = stderr(out);
        assert!(
            said.contains("holds a password") && said.contains("PGPASSFILE"),
            "{said}"
        );
        assert!(!said.contains("s3cret"), "{said}");
    };
    // On the command line, before anything is sent.
    let port = closed_port();
    let out = send(&db, port, "pg refused", &["--store", &with_password]);
    checks(&out);
    assert!(!stderr(&out).contains("cannot connect"), "{}", text(&out));
    checks(&db.postie(&["spool", "list", "--store", &with_password]));
    // In the variable.
    checks(
        &db.command(&["spool", "flush"])
            .env("POSTIE_SPOOL_STORE", &with_password)
            .output()
            .unwrap(),
    );
    // As a URL parameter too.
    checks(&db.postie(&[
        "spool",
        "list",
        "--store",
        &format!("{}&password=s3cret", db.url),
    ]));
    // A wrong password (from PGPASSWORD, with no password file): the login
    // is refused, exit 78, naming the role.
    let out = db
        .command(&["spool", "list"])
        .env_remove("PGPASSFILE")
        .env("PGPASSWORD", "not-the-password")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78), "{}", text(&out));
    assert!(
        stderr(&out).contains("password authentication failed"),
        "{}",
        text(&out)
    );
    assert!(!stderr(&out).contains("not-the-password"), "{}", text(&out));
}

/// The full run's flush to a real MTA: kept in the database while the
/// account points nowhere, then flushed to the test Postfix
/// (POSTIE_TEST_POSTFIX, delivering into POSTIE_TEST_POSTFIX_MAIL) once
/// the account points there; a flush reads the account again.
#[test]
fn a_kept_message_is_flushed_from_the_database_to_postfix() {
    let Some(db) = Db::new("postfix") else {
        return;
    };
    let Some(postfix) = real_server("POSTIE_TEST_POSTFIX") else {
        return;
    };
    let mail = postie_testkit::real_path("POSTIE_TEST_POSTFIX_MAIL").unwrap();
    let config = db.dir.join("config").join("postie").join("config.toml");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    let account = |host: &str, port: u16| {
        format!(
            "default = \"pg\"\n[accounts.pg]\nhost = \"{host}\"\nport = {port}\n\
             tls = \"none\"\nspool_on_failure = true\n"
        )
    };
    std::fs::write(&config, account("127.0.0.1", closed_port())).unwrap();
    let token = postie_mime::new_message_id("x")
        .unwrap()
        .replace(['<', '>', '@', '-', '_', '.'], "");
    let subject = format!("pg spool postfix {token}");
    let out = db.postie(&[
        "send",
        "--to",
        "frank@example.org",
        "--subject",
        &subject,
        "--body",
        "via the database",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(75), "{}", text(&out));
    let id = kept_id(&out);
    assert_eq!(db.state(&id), "queued");

    std::fs::write(&config, account(&postfix.host, postfix.port)).unwrap();
    let out = db.postie(&["spool", "flush", "--force"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(db.state(&id), "sent");
    let dir = mail.join("example.org/frank/new");
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let found = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| std::fs::read_to_string(e.path()).is_ok_and(|t| t.contains(&token)));
        if found {
            break;
        }
        assert!(
            Instant::now() < until,
            "not delivered to frank in {}",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
