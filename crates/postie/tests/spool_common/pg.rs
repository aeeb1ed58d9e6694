//! The PostgreSQL test server as the spool's test files use it: a schema
//! of its own per test, psql, postie pointed at it, and the helpers that
//! keep messages there.
#![allow(dead_code)] // each test file uses its own part

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use postie_testkit::real_server;

use super::text;

/// A schema of its own on the test server, and a home and config folder
/// of its own; all removed at the end.
pub(crate) struct Db {
    /// The store URL: the test role and database, the schema by
    /// `search_path`. No password: it is in the password file.
    pub(crate) url: String,
    /// The URL without the schema (for psql).
    pub(crate) base: String,
    pub(crate) schema: String,
    pub(crate) passfile: PathBuf,
    pub(crate) dir: PathBuf,
}

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set (scripts/servers.sh sets it with POSTIE_TEST_POSTGRES)")
    })
}

impl Db {
    /// `None` when the server's variables are not set (outside CI: the
    /// test is skipped).
    pub(crate) fn new(test: &str) -> Option<Self> {
        let server = real_server("POSTIE_TEST_POSTGRES")?;
        let base = format!(
            "postgres://{}@{}:{}/{}",
            var("POSTIE_TEST_POSTGRES_USER"),
            server.host,
            server.port,
            var("POSTIE_TEST_POSTGRES_DB")
        );
        let schema = format!("postie_cli_{test}_{}", std::process::id());
        let dir =
            std::env::temp_dir().join(format!("postie-spool-pg-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("config")).unwrap();
        std::fs::create_dir_all(dir.join("home")).unwrap();
        // Over TLS, the certificate verified against the test CA, when the
        // server has it (scripts/servers/postgres.sh); plain otherwise.
        let tls = match std::env::var("POSTIE_TEST_POSTGRES_CA") {
            Ok(ca) if !ca.is_empty() => format!("sslmode=verify-full&sslrootcert={ca}"),
            _ => "sslmode=disable".to_owned(),
        };
        let db = Self {
            url: format!("{base}?{tls}&options=-csearch_path%3D{schema}"),
            base,
            schema,
            passfile: var("POSTIE_TEST_POSTGRES_PASSFILE").into(),
            dir,
        };
        db.psql(&format!(
            "DROP SCHEMA IF EXISTS {0} CASCADE; CREATE SCHEMA {0};",
            db.schema
        ));
        Some(db)
    }

    /// Runs `sql` with psql (on its standard input), as the test role.
    pub(crate) fn psql(&self, sql: &str) -> String {
        let mut child = Command::new("psql")
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", &self.base])
            .env("PGPASSFILE", &self.passfile)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("psql (postgresql-client) runs");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(sql.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "psql: {}", text(&out));
        String::from_utf8(out.stdout).unwrap()
    }

    /// postie with the store chosen by `POSTIE_SPOOL_STORE`, the password
    /// from the password file, and no accounts file, `~/.pgpass` or
    /// password variable of the user running the tests.
    pub(crate) fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_postie"));
        cmd.args(args)
            .env("POSTIE_SPOOL_STORE", &self.url)
            .env_remove("POSTIE_SPOOL_DIR")
            .env_remove("PGPASSWORD")
            .env("PGPASSFILE", &self.passfile)
            .env("HOME", self.dir.join("home"))
            .env("XDG_CONFIG_HOME", self.dir.join("config"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    pub(crate) fn postie(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// `postie spool list --json`.
    pub(crate) fn list(&self) -> Vec<serde_json::Value> {
        let out = self.postie(&["spool", "list", "--json"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        match serde_json::from_slice(&out.stdout) {
            Ok(serde_json::Value::Array(rows)) => rows,
            other => panic!("not a JSON array: {other:?}: {}", text(&out)),
        }
    }

    /// Replaces the kept row `id`, whose message has `subject`, by `n`
    /// copies due now, their subjects `<subject> #1` to `#n` (each copy's
    /// size and hash its own): many messages without many sends.
    pub(crate) fn copies(&self, id: &str, subject: &str, n: usize) {
        self.psql(&format!(
            "SET search_path = {schema};
             INSERT INTO postie_spool (id, state, format, created, account, config, transport,
                 reverse_path, recipients, message, size, sha256, next_attempt, last_attempt)
             SELECT s.id || '-' || g, 'queued', s.format, s.created, s.account, s.config,
                 s.transport, s.reverse_path, s.recipients, m.bytes, octet_length(m.bytes),
                 encode(sha256(m.bytes), 'hex'), now(), now()
             FROM postie_spool s, generate_series(1, {n}) g,
                 LATERAL (SELECT convert_to(replace(convert_from(s.message, 'UTF8'),
                     'Subject: {subject}', 'Subject: {subject} #' || g), 'UTF8') AS bytes) m
             WHERE s.id = '{id}';
             DELETE FROM postie_spool WHERE id = '{id}';",
            schema = self.schema
        ));
    }

    /// libpq-style connection settings for the `postgres` crates (which
    /// read no password file): the test role, its password from the file,
    /// the test's schema.
    pub(crate) fn client_config(&self) -> String {
        let text = std::fs::read_to_string(&self.passfile).unwrap();
        let line = text.lines().next().unwrap();
        let fields: Vec<&str> = line.splitn(5, ':').collect();
        format!(
            "host={} port={} dbname={} user={} password={} options=-csearch_path={}",
            fields[0], fields[1], fields[2], fields[3], fields[4], self.schema
        )
    }

    /// How many rows are in each state, as `state=count` sorted.
    pub(crate) fn states(&self) -> String {
        self.psql(&format!(
            "SELECT string_agg(state || '=' || n, ' ' ORDER BY state) FROM \
             (SELECT state, count(*) AS n FROM {}.postie_spool GROUP BY state) c",
            self.schema
        ))
        .trim()
        .to_owned()
    }

    /// The row's `state` column ('' when there is none).
    pub(crate) fn state(&self, id: &str) -> String {
        self.psql(&format!(
            "SELECT state FROM {}.postie_spool WHERE id = '{id}'",
            self.schema
        ))
        .trim()
        .to_owned()
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = Command::new("psql")
            .args([
                "-X",
                "-q",
                "-c",
                &format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema),
                &self.base,
            ])
            .env("PGPASSFILE", &self.passfile)
            .stdin(Stdio::null())
            .output();
    }
}

/// The messages a sink kept.
pub(crate) fn delivered(maildir: &Path) -> Vec<String> {
    std::fs::read_dir(maildir.join("new"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect()
}

/// `postie send --spool-on-failure` of a message with `subject` to
/// `port`, with `extra` flags.
pub(crate) fn send(db: &Db, port: u16, subject: &str, extra: &[&str]) -> Output {
    let port = port.to_string();
    let mut args = vec![
        "send",
        "--spool-on-failure",
        "--server",
        "127.0.0.1",
        "--port",
        &port,
        "--tls",
        "none",
        "--from",
        "ann@example.org",
        "--to",
        "bob@example.org",
        "--bcc",
        "hidden@example.org",
        "--subject",
        subject,
        "--body",
        "hello\n.dot line",
    ];
    args.extend_from_slice(extra);
    db.postie(&args)
}

/// The id `postie send` printed for a kept message.
pub(crate) fn kept_id(out: &Output) -> String {
    let json: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(out)));
    json["spooled"]
        .as_str()
        .unwrap_or_else(|| panic!("not kept: {}", text(out)))
        .to_owned()
}

/// How many times each subject `<subject> #n` was delivered.
pub(crate) fn deliveries(maildir: &Path, subject: &str) -> HashMap<usize, usize> {
    let mut seen = HashMap::new();
    for message in delivered(maildir) {
        let line = message
            .lines()
            .find_map(|l| l.strip_prefix(&format!("Subject: {subject} #")))
            .unwrap_or_else(|| panic!("no numbered subject: {message}"));
        *seen.entry(line.trim().parse().unwrap()).or_insert(0) += 1;
    }
    seen
}

/// Keeps `n` messages with `subject` for `port` (nobody listens there yet).
pub(crate) fn keep(db: &Db, port: u16, subject: &str, n: usize) {
    let out = send(db, port, subject, &["--json"]);
    assert_eq!(out.status.code(), Some(75), "{}", text(&out));
    db.copies(&kept_id(&out), subject, n);
}

/// Waits until `check` holds, for at most `limit`.
pub(crate) fn eventually(limit: Duration, what: &str, check: impl Fn() -> bool) {
    let until = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < until, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
