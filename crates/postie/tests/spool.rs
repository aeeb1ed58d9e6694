//! The durable outbound spool: `postie send --spool-on-failure` and
//! `postie spool list|show|remove|flush`, against `postie sink`, the
//! scripted server and the real aiosmtpd; and the crash test, which kills
//! flushes with SIGKILL at random moments and checks that no message is
//! lost and none is sent twice but those marked unknown.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod spool_common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use postie_testkit::{closed_port, real_server, Script, ScriptedServer};
use spool_common::{accepting, stderr, text, Sink};

/// A spool and an empty config home of its own, removed at the end.
struct Env {
    dir: PathBuf,
}

impl Env {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("postie-spool-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("config")).unwrap();
        Self { dir }
    }

    fn spool(&self) -> PathBuf {
        self.dir.join("spool")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_postie"));
        cmd.args(args)
            .env("POSTIE_SPOOL_DIR", self.spool())
            .env("XDG_CONFIG_HOME", self.dir.join("config"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    fn postie(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// `postie spool list --json`.
    fn list(&self) -> Vec<serde_json::Value> {
        let out = self.postie(&["spool", "list", "--json"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        match serde_json::from_slice(&out.stdout) {
            Ok(serde_json::Value::Array(rows)) => rows,
            other => panic!("not a JSON array: {other:?}: {}", text(&out)),
        }
    }

    /// The ids in one folder of the spool.
    fn ids_in(&self, folder: &str) -> Vec<String> {
        match std::fs::read_dir(self.spool().join(folder)) {
            Ok(entries) => entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect(),
            Err(_) => Vec::new(),
        }
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn token() -> String {
    postie_mime::new_message_id("x")
        .unwrap()
        .replace(['<', '>', '@', '-', '_', '.'], "")
}

/// The messages a sink kept, by the token in their subject.
fn delivered(maildir: &Path) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for entry in std::fs::read_dir(maildir.join("new"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let text = std::fs::read_to_string(entry.path()).unwrap();
        let subject = text
            .lines()
            .find_map(|l| l.strip_prefix("Subject: spool test "))
            .unwrap_or_default()
            .to_owned();
        *counts.entry(subject).or_default() += 1;
    }
    counts
}

/// Spools a message for `to` through `postie send` to a closed `port`.
fn spool_one(env: &Env, port: u16, token: &str, extra: &[&str]) -> Output {
    let port = port.to_string();
    let subject = format!("spool test {token}");
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
        "Ann <ann@example.org>",
        "--to",
        "bob@example.org",
        "--bcc",
        "hidden@example.org",
        "--subject",
        &subject,
        "--body",
        "hello\n.dot line",
    ];
    args.extend_from_slice(extra);
    env.postie(&args)
}

#[test]
fn a_temporary_failure_is_kept_and_sent_once_the_server_is_back() {
    let started = Instant::now();
    let env = Env::new("temporary");
    let port = closed_port();
    let tok = token();
    let out = spool_one(&env, port, &tok, &["--json"]);
    assert_eq!(out.status.code(), Some(75), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("postie: kept in the spool as ")
            && stderr.contains("`postie spool flush` retries it"),
        "{stderr}"
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["outcome"], "not_sent");
    let rows = env.list();
    assert_eq!(rows.len(), 1, "{rows:?}");
    let id = rows[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(json["spooled"], id.as_str());
    assert_eq!(rows[0]["state"], "queued");
    assert_eq!(rows[0]["attempts"], 0);
    assert_eq!(
        rows[0]["recipients"],
        serde_json::json!(["bob@example.org", "hidden@example.org"])
    );
    // Private: it holds mail.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |p: PathBuf| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(env.spool()), 0o700);
        let entry = env.spool().join("queue").join(&id);
        assert_eq!(mode(entry.join("message.eml")), 0o600);
        assert_eq!(mode(entry.join("meta.json")), 0o600);
    }
    let kept = std::fs::read(env.spool().join("queue").join(&id).join("message.eml")).unwrap();
    let kept = String::from_utf8(kept).unwrap();
    assert!(!kept.contains("hidden@"), "Bcc is not kept: {kept}");

    // Still nobody there: queued again, tried once, not due for a while.
    let out = env.postie(&["spool", "flush"]);
    assert_eq!(out.status.code(), Some(75), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("next attempt in 1m"),
        "{}",
        text(&out)
    );
    let rows = env.list();
    assert_eq!(rows[0]["state"], "queued");
    assert_eq!(rows[0]["attempts"], 1);
    let next = rows[0]["next_attempt"].as_u64().unwrap();
    let tried = rows[0]["last_attempt"].as_u64().unwrap();
    assert!(next >= tried + 60, "{rows:?}");
    let line = String::from_utf8_lossy(&env.postie(&["spool", "list"]).stdout).into_owned();
    let fields: Vec<&str> = line.trim_end().split('\t').collect();
    assert_eq!(fields[..2], [id.as_str(), "queued"], "{line}");
    assert_eq!(fields[3], "1", "{line}");
    assert!(fields[4].starts_with("in "), "{line}");
    assert!(fields[6].contains("cannot connect"), "{line}");

    // The server is back, on the same port: a plain flush leaves it to
    // its backoff; --force ignores that and sends it, once.
    let maildir = env.dir.join("maildir");
    let _sink = Sink::start(port, &maildir);
    let out = env.postie(&["spool", "flush"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("1 wait for their next attempt"),
        "{}",
        text(&out)
    );
    assert_eq!(delivered(&maildir).len(), 0);
    let out = env.postie(&["spool", "flush", "--force", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&format!("{id}: sent to 127.0.0.1:{port}")),
        "{}",
        text(&out)
    );
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events[0]["id"], id.as_str(), "{events:?}");
    assert_eq!(events[0]["outcome"], "sent", "{events:?}");
    assert_eq!(events[1]["summary"]["sent"], 1, "{events:?}");
    assert_eq!(delivered(&maildir), BTreeMap::from([(tok.clone(), 1)]));
    assert!(env.list().is_empty());

    // Exactly the bytes kept (Date and Message-ID of the first attempt,
    // no Bcc), to both envelope recipients.
    let file = std::fs::read_dir(maildir.join("new"))
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    let got = std::fs::read_to_string(file).unwrap();
    // The sink's Maildir lines end in LF.
    let (envelope, message) = got.split_once('\n').unwrap().1.split_once('\n').unwrap();
    assert_eq!(
        envelope,
        "X-Postie-Envelope-To: <bob@example.org>, <hidden@example.org>"
    );
    assert_eq!(message, kept.replace("\r\n", "\n"));
    assert!(message.contains("\n.dot line"), "{message}");
    eprintln!("took {:?}", started.elapsed());
}

#[test]
fn a_permanent_refusal_goes_to_dead_with_the_reason() {
    let Some(server) = real_server("POSTIE_TEST_AIOSMTPD") else {
        return;
    };
    let env = Env::new("dead");
    let port = closed_port();
    // The account is read again at each attempt: it first names a port
    // where nobody listens, then aiosmtpd, which refuses reject*@ (550).
    let config = env.dir.join("config").join("postie").join("config.toml");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    let account = |host: &str, port: u16| {
        format!(
            "[accounts.test]\nhost = \"{host}\"\nport = {port}\ntls = \"none\"\nspool_on_failure = true\n"
        )
    };
    std::fs::write(&config, account("127.0.0.1", port)).unwrap();
    let tok = token();
    let subject = format!("spool test {tok}");
    let out = env.postie(&[
        "send",
        "--account",
        "test",
        "--from",
        "ann@example.org",
        "--to",
        "reject-this@example.org",
        "--subject",
        &subject,
        "--body",
        "refused later",
    ]);
    assert_eq!(out.status.code(), Some(75), "{}", text(&out));
    let rows = env.list();
    assert_eq!(
        rows.len(),
        1,
        "kept by the account's spool_on_failure: {rows:?}"
    );
    assert_eq!(rows[0]["account"], "test");
    let id = rows[0]["id"].as_str().unwrap().to_owned();
    // --account picks messages: another account's flush leaves it.
    let out = env.postie(&["spool", "flush", "--account", "other"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(env.list()[0]["attempts"], 0);
    assert!(env
        .postie(&["spool", "list", "--account", "other"])
        .stdout
        .is_empty());

    std::fs::write(&config, account(&server.host, server.port)).unwrap();
    let out = env.postie(&["spool", "flush", "--account", "test"]);
    assert_eq!(out.status.code(), Some(69), "{}", text(&out));
    let rows = env.list();
    assert_eq!(rows[0]["state"], "dead", "{rows:?}");
    let reason = rows[0]["dead_reason"].as_str().unwrap();
    assert!(reason.contains("550"), "the server's reason: {reason}");
    assert_eq!(env.ids_in("dead"), std::slice::from_ref(&id));
    // Dead ones stay dead, even with --force.
    let out = env.postie(&["spool", "flush", "--force"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    let out = env.postie(&["spool", "show", &id]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(shown.contains("state: dead"), "{shown}");
    assert!(shown.contains(&format!("Subject: {subject}")), "{shown}");
    let out = env.postie(&["spool", "show", &id, "--json"]);
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(shown["header"].as_str().unwrap().contains(&subject));

    let out = env.postie(&["spool", "remove", &id]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(env.list().is_empty());
    let out = env.postie(&["spool", "remove", &id]);
    assert_eq!(out.status.code(), Some(66), "{}", text(&out));
    let out = env.postie(&["spool", "show", "../../etc"]);
    assert_eq!(out.status.code(), Some(66), "{}", text(&out));
}

/// A whole transaction after the greeting, the data kept by the script.

#[test]
fn an_unknown_outcome_is_only_sent_again_with_force() {
    let env = Env::new("unknown");
    // First the data is taken and the connection closed without a reply;
    // then, for --force, a server that accepts.
    let server = ScriptedServer::start(vec![
        accepting(Script::new().greet(&[])).close(),
        accepting(Script::new().greet(&[]))
            .send("250 2.0.0 Ok: queued as X1\r\n")
            .reply("221 bye\r\n"),
    ]);
    let tok = token();
    let out = spool_one(&env, server.port(), &tok, &[]);
    assert_eq!(out.status.code(), Some(75), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("marked unknown"), "{stderr}");
    let rows = env.list();
    assert_eq!(rows[0]["state"], "unknown", "{rows:?}");
    assert_eq!(rows[0]["maybe_delivered"], true);

    // Not without --force: the server may have it.
    let out = env.postie(&["spool", "flush"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("1 unknown (sent again only with --force)"),
        "{}",
        text(&out)
    );
    assert_eq!(env.list()[0]["attempts"], 0);

    let out = env.postie(&["spool", "flush", "--force"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(env.list().is_empty());
    let sessions = server.finish();
    assert_eq!(sessions.len(), 2);
    // The same message both times: same Message-ID, same bytes.
    assert_eq!(sessions[0].data, sessions[1].data);
    assert!(String::from_utf8_lossy(&sessions[1].data[0]).contains(&tok));
}

#[test]
fn two_flushes_at_once_send_each_message_once() {
    let started = Instant::now();
    let env = Env::new("concurrent");
    let port = closed_port();
    let tokens: Vec<String> = (0..20).map(|_| token()).collect();
    for tok in &tokens {
        let out = spool_one(&env, port, tok, &[]);
        assert_eq!(out.status.code(), Some(75), "{}", text(&out));
    }
    assert_eq!(env.ids_in("queue").len(), 20);
    let maildir = env.dir.join("maildir");
    let _sink = Sink::start(port, &maildir);
    let flushes: Vec<Child> = (0..2)
        .map(|_| env.command(&["spool", "flush"]).spawn().unwrap())
        .collect();
    for flush in flushes {
        let out = flush.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    }
    let counts = delivered(&maildir);
    for tok in &tokens {
        assert_eq!(counts.get(tok), Some(&1), "{tok}: {counts:?}");
    }
    assert_eq!(counts.len(), 20, "{counts:?}");
    assert!(env.list().is_empty());
    eprintln!("took {:?}", started.elapsed());
}

/// `postie spool run` on a folder store: the same batches as on
/// PostgreSQL, made of single claims; two relayers at once send each
/// message once, and each runs until nothing is due (`--once`).
#[test]
fn two_relayers_on_a_folder_send_each_message_once() {
    let env = Env::new("relayers");
    let port = closed_port();
    let tokens: Vec<String> = (0..12).map(|_| token()).collect();
    for tok in &tokens {
        let out = spool_one(&env, port, tok, &[]);
        assert_eq!(out.status.code(), Some(75), "{}", text(&out));
    }
    let maildir = env.dir.join("maildir");
    let _sink = Sink::start(port, &maildir);
    let relayers: Vec<Child> = (0..2)
        .map(|_| {
            env.command(&[
                "spool",
                "run",
                "--once",
                "--batch",
                "5",
                "--connections",
                "2",
            ])
            .spawn()
            .unwrap()
        })
        .collect();
    for relayer in relayers {
        let out = relayer.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        assert!(
            stderr(&out).contains("postie: spool run: "),
            "{}",
            text(&out)
        );
    }
    let counts = delivered(&maildir);
    for tok in &tokens {
        assert_eq!(counts.get(tok), Some(&1), "{tok}: {counts:?}");
    }
    assert!(env.list().is_empty());
    // Nothing left: a relayer that runs once says so and exits 0.
    let out = env.postie(&["spool", "run", "--once"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

/// `postie send --defer` and sendmail's `-odq`: kept without trying (the
/// server is up and gets nothing), exit 0, `"outcome": "queued"`; a relayer
/// sends them.
#[test]
fn a_deferred_message_is_kept_untried_and_a_relayer_sends_it() {
    let env = Env::new("defer");
    let port = closed_port();
    let maildir = env.dir.join("maildir");
    let _sink = Sink::start(port, &maildir);
    let tok = token();
    // The secret is the relayer's to read: a variable not set here does
    // not stop the message from being kept.
    let out = spool_one(
        &env,
        port,
        &format!("nosecret{tok}"),
        &[
            "--defer",
            "--username",
            "u",
            "--password-env",
            "POSTIE_TEST_UNSET_VARIABLE",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let unsent = serde_json::from_slice::<serde_json::Value>(&out.stdout)
        .map(|j| j["spooled"].clone())
        .unwrap_or_default();
    let out = env.postie(&["spool", "list", "--json"]);
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let nosecret = listed[0]["id"].as_str().unwrap().to_owned();
    let _ = unsent;
    assert_eq!(
        env.postie(&["spool", "remove", &nosecret]).status.code(),
        Some(0)
    );
    let out = spool_one(&env, port, &tok, &["--defer", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["outcome"], "queued", "{json}");
    let id = json["spooled"].as_str().unwrap().to_owned();
    assert!(
        stderr(&out).contains("not sent (--defer)"),
        "{}",
        text(&out)
    );
    // As sendmail, from standard input, with the accounts file's account.
    std::fs::create_dir_all(env.dir.join("config/postie")).unwrap();
    std::fs::write(
        env.dir.join("config/postie/config.toml"),
        format!(
            "default = \"local\"\n[accounts.local]\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\nfrom = \"ann@example.org\"\n"
        ),
    )
    .unwrap();
    let mut sendmail = env
        .command(&["sendmail", "-odq", "--", "carol@example.org"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write as _;
        let mut input = sendmail.stdin.take().unwrap();
        write!(
            input,
            "From: ann@example.org\nTo: carol@example.org\nSubject: spool test odq{tok}\n\nqueued\n"
        )
        .unwrap();
    }
    let out = sendmail.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let rows = env.list();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(rows.iter().any(|r| r["id"] == id.as_str()));
    assert!(rows
        .iter()
        .all(|r| r["state"] == "queued" && r["attempts"] == 0));
    assert!(delivered(&maildir).is_empty(), "sent although deferred");
    let out = env.postie(&["spool", "stats", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stats: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(stats["states"]["queued"]["count"], 2, "{stats}");
    assert_eq!(
        stats["sent_last_minute"],
        serde_json::Value::Null,
        "{stats}"
    );
    // A relayer sends both: the first as its flags said, the second with
    // the account.
    let out = env.postie(&["spool", "run", "--once", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 3, "{events:?}");
    assert!(
        events[..2].iter().all(|e| e["outcome"] == "sent"),
        "{events:?}"
    );
    assert!(events.iter().any(|e| e["id"] == id.as_str()), "{events:?}");
    assert_eq!(events[2]["summary"]["sent"], 2, "{events:?}");
    let counts = delivered(&maildir);
    assert_eq!(counts.get(&tok), Some(&1), "{counts:?}");
    assert_eq!(counts.get(&format!("odq{tok}")), Some(&1), "{counts:?}");
    assert!(env.list().is_empty());
}

/// A small xorshift: the kill delays, reproducible from the printed seed.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Which token each message in a spool folder carries.
fn tokens_in(env: &Env, folder: &str) -> BTreeMap<String, String> {
    env.ids_in(folder)
        .into_iter()
        .filter_map(|id| {
            let text =
                std::fs::read_to_string(env.spool().join(folder).join(&id).join("message.eml"))
                    .ok()?;
            let tok = text
                .lines()
                .find_map(|l| l.strip_prefix("Subject: spool test "))?
                .trim_end()
                .to_owned();
            Some((tok, id))
        })
        .collect()
}

/// Spools one message per token at once (in parallel: the test's time
/// goes to the kills, not to the spooling).
fn spool_many(env: &Env, port: u16, tokens: &[String]) {
    let port = port.to_string();
    let children: Vec<Child> = tokens
        .iter()
        .map(|tok| {
            let subject = format!("spool test {tok}");
            env.command(&[
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
                "--subject",
                &subject,
                "--body",
                "crash test",
            ])
            .spawn()
            .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(75), "{}", text(&out));
    }
}

#[test]
fn killed_flushes_lose_nothing_and_send_nothing_twice_but_unknowns() {
    const MAX_KILLS: usize = 100;
    const PER_ROUND: usize = 60;
    // The kill loop stops here even short of MAX_KILLS (a busy machine).
    const BUDGET: Duration = Duration::from_secs(25);
    let started = Instant::now();
    let seed = std::env::var("POSTIE_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!("crash test: seed {seed} (POSTIE_CRASH_SEED={seed} repeats the delays)");
    let mut rng = XorShift(seed);
    let env = Env::new("crash");
    let port = closed_port();
    let maildir = env.dir.join("maildir");
    let mut tokens: Vec<String> = Vec::new();
    let (mut kills, mut finished, mut rounds) = (0, 0, 0);
    // Each round spools a batch while nobody listens, then starts the
    // sink on that port and kills flushes at random moments until the
    // batch is sent (or only unknown ones are left).
    while kills < MAX_KILLS && started.elapsed() < BUDGET {
        rounds += 1;
        let batch: Vec<String> = (0..PER_ROUND).map(|_| token()).collect();
        spool_many(&env, port, &batch);
        tokens.extend(batch);
        let _sink = Sink::start(port, &maildir);
        while kills < MAX_KILLS && started.elapsed() < BUDGET {
            let mut flush = env.command(&["spool", "flush", "-q"]).spawn().unwrap();
            std::thread::sleep(Duration::from_millis(rng.next() % 151));
            match flush.try_wait().unwrap() {
                Some(_) => finished += 1,
                None => {
                    flush.kill().unwrap();
                    kills += 1;
                }
            }
            flush.wait().unwrap();
            if env.ids_in("queue").is_empty() && env.ids_in("active").is_empty() {
                break;
            }
        }
    }
    assert!(
        kills > 0,
        "seed {seed}: no flush was killed in {rounds} rounds (a machine too slow for the budget)"
    );
    // One flush allowed to finish (no --force): it takes back the claims
    // of the killed ones and sends what is queued.
    let _sink = Sink::start(port, &maildir);
    let last = env.postie(&["spool", "flush"]);
    assert!(
        matches!(last.status.code(), Some(0 | 75)),
        "seed {seed}: {}",
        text(&last)
    );

    let counts = delivered(&maildir);
    let unknown = tokens_in(&env, "unknown");
    let queued = tokens_in(&env, "queue");
    assert!(env.ids_in("active").is_empty(), "seed {seed}: claims left");
    assert!(
        queued.is_empty(),
        "seed {seed}: still queued after the last flush: {queued:?}"
    );
    assert!(env.ids_in("dead").is_empty(), "seed {seed}");
    for tok in &tokens {
        let sent = counts.get(tok).copied().unwrap_or(0);
        let kept = unknown.contains_key(tok);
        // None lost: delivered, or kept as unknown.
        assert!(sent >= 1 || kept, "seed {seed}: {tok} was lost");
        // None sent twice: --force is never used, so even an unknown one
        // went to the server at most once.
        assert!(
            sent <= 1,
            "seed {seed}: {tok} was delivered {sent} times (in unknown/: {kept})"
        );
    }
    assert_eq!(
        counts.keys().filter(|t| !tokens.contains(t)).count(),
        0,
        "seed {seed}: strangers delivered: {counts:?}"
    );
    eprintln!(
        "crash test: seed {seed}: {rounds} rounds, {} messages, {kills} kills, \
         {finished} flushes done before their kill, {} delivered, {} unknown \
         (of which {} delivered), took {:?}",
        tokens.len(),
        counts.values().sum::<usize>(),
        unknown.len(),
        unknown.keys().filter(|t| counts.contains_key(*t)).count(),
        started.elapsed()
    );
}

// ---------------------------------------------------------------------
// Hostile and damaged spools: planted links, shared folders, someone
// else's files, cut-short messages, damaged records, a full disk.
// ---------------------------------------------------------------------

/// Spools one message (to a port where nobody listens): its id, its
/// folder in queue/, and the token in its subject.
fn kept_one(env: &Env) -> (String, PathBuf, String) {
    let tok = token();
    let out = spool_one(env, closed_port(), &tok, &[]);
    assert_eq!(out.status.code(), Some(75), "{}", text(&out));
    let ids = env.ids_in("queue");
    let id = ids
        .iter()
        .find(|id| {
            std::fs::read_to_string(env.spool().join("queue").join(id).join("message.eml"))
                .is_ok_and(|m| m.contains(&tok))
        })
        .unwrap()
        .clone();
    let entry = env.spool().join("queue").join(&id);
    (id, entry, tok)
}

/// Makes the kept entry's settings name the server on `port` (a spooled
/// message is sent where it was first sent; the tests' sinks start later).
fn aim_at(entry: &Path, port: u16) {
    let meta_path = entry.join("meta.json");
    let mut meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&meta_path).unwrap()).unwrap();
    let transport = &mut meta["transport"];
    transport["servers"] = serde_json::json!(["127.0.0.1"]);
    transport["ports"] = serde_json::json!([port]);
    transport["tls"] = "none".into();
    std::fs::write(&meta_path, serde_json::to_vec(&meta).unwrap()).unwrap();
}

fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Gives `path` to `nobody` (uid 65534); false where this process may
/// not (not root).
fn give_to_nobody(path: &Path) -> bool {
    match std::os::unix::fs::chown(path, Some(65534), Some(65534)) {
        Ok(()) => true,
        Err(e) => {
            eprintln!(
                "cannot chown {} ({e}): that case is left out",
                path.display()
            );
            false
        }
    }
}

#[test]
fn a_shared_or_foreign_spool_root_is_refused_with_the_fix() {
    let env = Env::new("root-mode");
    let (_, _, _) = kept_one(&env);
    // World-writable and sticky, as /tmp: anyone could plant entries.
    chmod(&env.spool(), 0o1777);
    let root = env.spool().display().to_string();
    for args in [
        &["spool", "list"][..],
        &["spool", "flush"],
        &["spool", "show", "1-1-1"],
    ] {
        let out = env.postie(args);
        assert_eq!(out.status.code(), Some(78), "{args:?}: {}", text(&out));
        let err = stderr(&out);
        assert!(
            err.contains(&format!("chmod go-w {root}")),
            "{args:?}: {err}"
        );
    }
    // postie send cannot keep a message there, and says so.
    let out = spool_one(&env, closed_port(), &token(), &[]);
    assert_eq!(out.status.code(), Some(75), "{}", text(&out));
    assert!(
        stderr(&out).contains("could not be kept") && stderr(&out).contains("chmod go-w"),
        "{}",
        text(&out)
    );
    // A folder inside, writable by others, is refused the same way.
    chmod(&env.spool(), 0o700);
    chmod(&env.spool().join("queue"), 0o777);
    let out = env.postie(&["spool", "list"]);
    assert_eq!(out.status.code(), Some(78), "{}", text(&out));
    assert!(stderr(&out).contains("queue"), "{}", text(&out));
    chmod(&env.spool().join("queue"), 0o700);
    assert_eq!(env.postie(&["spool", "list"]).status.code(), Some(0));
    // Someone else's spool.
    if give_to_nobody(&env.spool()) {
        let out = env.postie(&["spool", "flush"]);
        assert_eq!(out.status.code(), Some(78), "{}", text(&out));
        assert!(
            stderr(&out).contains("owned by uid 65534") && stderr(&out).contains("chown"),
            "{}",
            text(&out)
        );
    }
}

/// A victim file outside the spool, with its content.
fn victim(env: &Env, name: &str, content: &str) -> PathBuf {
    let path = env.dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

#[test]
fn a_planted_data_sent_link_is_never_written_through() {
    let env = Env::new("link-data-sent");
    let (id, entry, tok) = kept_one(&env);
    let target = victim(&env, "precious.txt", "precious data\n");
    std::os::unix::fs::symlink(&target, entry.join("data-sent")).unwrap();
    let maildir = env.dir.join("maildir");
    let port = closed_port();
    let _sink = Sink::start(port, &maildir);
    // A server that takes the data: the marker would be made as the DATA
    // command goes out.
    aim_at(&entry, port);
    let out = env.postie(&["spool", "flush"]);
    assert_eq!(
        std::fs::read_to_string(&target).unwrap(),
        "precious data\n",
        "the link's target was written: {}",
        text(&out)
    );
    assert_eq!(out.status.code(), Some(69), "{}", text(&out));
    assert!(stderr(&out).contains("symbolic link"), "{}", text(&out));
    assert!(!delivered(&maildir).contains_key(&tok));
    // Moved aside (the link with it, its target untouched), and listed.
    assert!(env.ids_in("queue").is_empty());
    assert_eq!(env.ids_in("quarantine"), std::slice::from_ref(&id));
    assert!(
        std::fs::symlink_metadata(env.spool().join("quarantine").join(&id).join("data-sent"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    let out = env.postie(&["spool", "list"]);
    assert_eq!(out.status.code(), Some(74), "{}", text(&out));
    let line = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(line.starts_with(&format!("{id}\tdamaged\t")), "{line}");
    assert!(line.contains("symbolic link"), "{line}");
    // And removable.
    let out = env.postie(&["spool", "remove", &id]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious data\n");
    assert_eq!(env.postie(&["spool", "list"]).status.code(), Some(0));
}

#[test]
fn a_planted_meta_json_new_link_is_never_written_through() {
    let env = Env::new("link-meta-new");
    let (id, entry, _) = kept_one(&env);
    let target = victim(&env, "bashrc", "alias ls='ls -F'\n");
    std::os::unix::fs::symlink(&target, entry.join("meta.json.new")).unwrap();
    // Nobody listens: the attempt fails and its record would be saved
    // through meta.json.new.
    let out = env.postie(&["spool", "flush"]);
    assert_eq!(
        std::fs::read_to_string(&target).unwrap(),
        "alias ls='ls -F'\n",
        "the link's target was overwritten: {}",
        text(&out)
    );
    assert_eq!(out.status.code(), Some(69), "{}", text(&out));
    assert_eq!(env.ids_in("quarantine"), [id]);
}

#[test]
fn a_planted_message_link_is_neither_mailed_nor_shown() {
    let env = Env::new("link-message");
    let (id, entry, tok) = kept_one(&env);
    let secret = token();
    let target = victim(
        &env,
        "id_ed25519",
        &format!("Subject: spool test {tok}\nX-Key: {secret}\n\nPRIVATE KEY {secret}\n"),
    );
    std::fs::remove_file(entry.join("message.eml")).unwrap();
    std::os::unix::fs::symlink(&target, entry.join("message.eml")).unwrap();
    let out = env.postie(&["spool", "show", &id]);
    assert_eq!(out.status.code(), Some(74), "{}", text(&out));
    assert!(!text(&out).contains(&secret), "shown: {}", text(&out));
    assert!(stderr(&out).is_empty() || !stderr(&out).contains(&secret));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("state: damaged"),
        "{}",
        text(&out)
    );
    let maildir = env.dir.join("maildir");
    let port = closed_port();
    let _sink = Sink::start(port, &maildir);
    aim_at(&entry, port);
    let out = env.postie(&["spool", "flush"]);
    assert_eq!(out.status.code(), Some(69), "{}", text(&out));
    assert!(
        delivered(&maildir).is_empty(),
        "mailed: {:?}",
        delivered(&maildir)
    );
    assert_eq!(env.ids_in("quarantine"), [id]);
}

#[test]
fn an_entry_that_is_a_link_is_never_written_into() {
    let env = Env::new("link-entry");
    let (id, entry, _) = kept_one(&env);
    // The real entry moves out of the spool; a link takes its place.
    let elsewhere = env.dir.join("elsewhere");
    std::fs::rename(&entry, &elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &entry).unwrap();
    let before: Vec<(String, Vec<u8>)> = files(&elsewhere);
    let out = env.postie(&["spool", "flush"]);
    assert_eq!(files(&elsewhere), before, "written into: {}", text(&out));
    assert_eq!(out.status.code(), Some(69), "{}", text(&out));
    let moved = env.spool().join("quarantine").join(&id);
    assert!(std::fs::symlink_metadata(&moved)
        .unwrap()
        .file_type()
        .is_symlink());
    let out = env.postie(&["spool", "list", "--json"]);
    assert_eq!(out.status.code(), Some(74), "{}", text(&out));
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows[0]["state"], "damaged", "{rows}");
    assert!(
        rows[0]["damage"]
            .as_str()
            .unwrap()
            .contains("symbolic link"),
        "{rows}"
    );
}

/// The files in a folder with their bytes, by name.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut found: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    found.sort();
    found
}

#[test]
fn a_spooled_record_never_runs_a_command_from_a_file_others_can_write() {
    let env = Env::new("planted-config");
    let (_, entry, _) = kept_one(&env);
    let marker = env.dir.join("command-ran");
    let accounts = env.dir.join("accounts.toml");
    std::fs::write(
        &accounts,
        format!(
            "[accounts.evil]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\nusername = \"u\"\npassword_command = \"touch {}\"\n",
            closed_port(),
            marker.display()
        ),
    )
    .unwrap();
    // The record is this user's (the entry passes every check); it names
    // an accounts file anyone can write.
    let meta_path = entry.join("meta.json");
    let mut meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&meta_path).unwrap()).unwrap();
    meta["account"] = "evil".into();
    meta["config"] = accounts.display().to_string().into();
    std::fs::write(&meta_path, serde_json::to_vec(&meta).unwrap()).unwrap();
    chmod(&accounts, 0o666);
    let out = env.postie(&["spool", "flush"]);
    assert!(!marker.exists(), "the password_command ran: {}", text(&out));
    // A setting to fix: kept for a later attempt, the fix named.
    assert_eq!(out.status.code(), Some(75), "{}", text(&out));
    assert!(
        stderr(&out).contains(&format!("chmod go-w {}", accounts.display())),
        "{}",
        text(&out)
    );
    // Through a link, the file it leads to is what is checked.
    let link = env.dir.join("linked.toml");
    std::os::unix::fs::symlink(&accounts, &link).unwrap();
    meta["config"] = link.display().to_string().into();
    std::fs::write(&meta_path, serde_json::to_vec(&meta).unwrap()).unwrap();
    let out = env.postie(&["spool", "flush", "--force"]);
    assert!(!marker.exists(), "the password_command ran: {}", text(&out));
    assert_eq!(out.status.code(), Some(75), "{}", text(&out));
    // Someone else's file, even one only they can write.
    chmod(&accounts, 0o644);
    if give_to_nobody(&accounts) {
        let out = env.postie(&["spool", "flush", "--force"]);
        assert!(!marker.exists(), "the password_command ran: {}", text(&out));
        assert!(
            stderr(&out).contains("owned by uid 65534"),
            "{}",
            text(&out)
        );
    }
    // The user's own private file is read, and its command runs.
    std::os::unix::fs::chown(&accounts, Some(current_uid()), None).unwrap();
    chmod(&accounts, 0o600);
    let out = env.postie(&["spool", "flush", "--force"]);
    assert!(
        marker.exists(),
        "the user's own file was not used: {}",
        text(&out)
    );
}

fn current_uid() -> u32 {
    use std::os::unix::fs::MetadataExt as _;
    // A file this process just made is its effective user's.
    let probe = std::env::temp_dir().join(format!("postie-uid-{}", std::process::id()));
    std::fs::write(&probe, "").unwrap();
    let uid = std::fs::metadata(&probe).unwrap().uid();
    std::fs::remove_file(&probe).unwrap();
    uid
}

#[test]
fn a_cut_short_message_is_not_sent_but_given_up_with_the_reason() {
    let env = Env::new("truncated");
    let (id, entry, tok) = kept_one(&env);
    let message = entry.join("message.eml");
    let bytes = std::fs::read(&message).unwrap();
    // Cut after the header and part of the body: still a message.
    std::fs::write(&message, &bytes[..bytes.len() - 4]).unwrap();
    let out = env.postie(&["spool", "list"]);
    assert_eq!(out.status.code(), Some(74), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("damaged"),
        "{}",
        text(&out)
    );
    let maildir = env.dir.join("maildir");
    let port = closed_port();
    let _sink = Sink::start(port, &maildir);
    aim_at(&entry, port);
    let out = env.postie(&["spool", "flush"]);
    assert!(
        !delivered(&maildir).contains_key(&tok),
        "sent: {}",
        text(&out)
    );
    assert_eq!(out.status.code(), Some(69), "{}", text(&out));
    assert_eq!(env.ids_in("dead"), std::slice::from_ref(&id));
    let rows = env.list();
    assert_eq!(rows[0]["state"], "dead", "{rows:?}");
    let reason = rows[0]["dead_reason"].as_str().unwrap();
    assert!(reason.contains("were kept"), "{reason}");
    let out = env.postie(&["spool", "list"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "given up, not damaged: {}",
        text(&out)
    );
    // As many bytes as were kept, one of them changed: the hash finds it.
    let (changed_id, entry, _) = kept_one(&env);
    let message = entry.join("message.eml");
    let mut changed = std::fs::read(&message).unwrap();
    let last = changed.len() - 3;
    changed[last] ^= 0x20;
    std::fs::write(&message, &changed).unwrap();
    let out = env.postie(&["spool", "list"]);
    assert_eq!(out.status.code(), Some(74), "{}", text(&out));
    let listed = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        listed.contains(&format!("{changed_id}\tdamaged\t")) && listed.contains("SHA-256"),
        "{listed}"
    );
    let out = env.postie(&["spool", "show", &changed_id]);
    assert_eq!(out.status.code(), Some(74), "{}", text(&out));
}

#[test]
fn damaged_and_newer_records_are_listed_with_exit_74_and_flush_goes_on() {
    let env = Env::new("damaged-meta");
    let (broken, broken_entry, _) = kept_one(&env);
    let (newer, newer_entry, _) = kept_one(&env);
    let (good, good_entry, good_tok) = kept_one(&env);
    std::fs::write(broken_entry.join("meta.json"), "{\"version\": 1, \"id\": ").unwrap();
    let meta_path = newer_entry.join("meta.json");
    let mut meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&meta_path).unwrap()).unwrap();
    meta["version"] = 99.into();
    std::fs::write(&meta_path, serde_json::to_vec(&meta).unwrap()).unwrap();

    let out = env.postie(&["spool", "list", "--json"]);
    assert_eq!(out.status.code(), Some(74), "{}", text(&out));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let state = |id: &str| {
        rows.iter()
            .find(|r| r["id"] == id)
            .unwrap_or_else(|| panic!("{id} not listed: {rows:?}"))
            .clone()
    };
    assert_eq!(state(&good)["state"], "queued");
    assert_eq!(state(&broken)["state"], "damaged");
    assert!(
        state(&broken)["damage"]
            .as_str()
            .unwrap()
            .contains("meta.json"),
        "{rows:?}"
    );
    assert_eq!(state(&newer)["state"], "damaged");
    assert!(
        state(&newer)["damage"]
            .as_str()
            .unwrap()
            .contains("newer postie"),
        "{rows:?}"
    );
    let out = env.postie(&["spool", "list"]);
    assert_eq!(out.status.code(), Some(74), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().count(),
        3,
        "{}",
        text(&out)
    );

    let maildir = env.dir.join("maildir");
    let port = closed_port();
    let _sink = Sink::start(port, &maildir);
    aim_at(&good_entry, port);
    // The good one is sent; the damaged one is moved aside, the newer
    // one left for its postie: not a failure of every flush.
    let out = env.postie(&["spool", "flush"]);
    assert_eq!(out.status.code(), Some(69), "{}", text(&out));
    assert_eq!(delivered(&maildir).get(&good_tok), Some(&1));
    assert_eq!(env.ids_in("quarantine"), std::slice::from_ref(&broken));
    assert_eq!(env.ids_in("queue"), std::slice::from_ref(&newer));
    let out = env.postie(&["spool", "flush"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(stderr(&out).contains("newer postie"), "{}", text(&out));
}

/// A tmpfs mounted for one test, unmounted when dropped.
struct Mounted(PathBuf);

impl Mounted {
    /// A tiny tmpfs (few inodes) at `at`, mode 0700; `None` where this
    /// process may not mount (not root, or in a container that forbids it).
    fn tiny(at: &Path) -> Option<Self> {
        std::fs::create_dir_all(at).unwrap();
        let status = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                "size=1m,nr_inodes=64,mode=0700",
                "tmpfs",
            ])
            .arg(at)
            .stderr(Stdio::null())
            .status();
        status
            .is_ok_and(|s| s.success())
            .then(|| Self(at.to_owned()))
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_at_the_data_marker_exits_71_and_loses_nothing() {
    let env = Env::new("full-disk");
    // The spool on a file system with 64 inodes, filled up after the
    // message is kept; where no file system can be mounted, the debug
    // build's fault switch makes the same write fail the same way.
    let mounted = Mounted::tiny(&env.spool());
    let (id, entry, tok) = kept_one(&env);
    let maildir = env.dir.join("maildir");
    let port = closed_port();
    let _sink = Sink::start(port, &maildir);
    aim_at(&entry, port);
    let filler = env.spool().join("filler");
    let mut flush = env.command(&["spool", "flush"]);
    if mounted.is_some() {
        eprintln!("a tmpfs with 64 inodes, filled up");
        std::fs::create_dir(&filler).unwrap();
        let full = (0..1000)
            .map(|n| std::fs::write(filler.join(n.to_string()), ""))
            .find_map(Result::err)
            .expect("the tmpfs never filled up");
        assert_eq!(full.kind(), std::io::ErrorKind::StorageFull, "{full}");
    } else {
        eprintln!("no tmpfs could be mounted: the fault switch stands in");
        flush.env("POSTIE_TEST_SPOOL_FAULT", "marker");
    }
    let out = flush.output().unwrap();
    assert_eq!(out.status.code(), Some(71), "{}", text(&out));
    assert!(stderr(&out).contains("left queued"), "{}", text(&out));
    assert!(delivered(&maildir).is_empty(), "sent: {}", text(&out));
    assert_eq!(env.ids_in("queue"), std::slice::from_ref(&id));
    assert!(env.ids_in("active").is_empty());

    // The marker made ahead, the rename at the DATA command fails: the
    // process stops before the data goes, and the message is back.
    let _ = std::fs::remove_dir_all(&filler);
    let out = env
        .command(&["spool", "flush"])
        .env("POSTIE_TEST_SPOOL_FAULT", "data-sent")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(71), "{}", text(&out));
    assert!(
        stderr(&out).contains("stopped before it did; it is back where it was"),
        "{}",
        text(&out)
    );
    assert!(delivered(&maildir).is_empty(), "sent: {}", text(&out));
    assert_eq!(env.ids_in("queue"), std::slice::from_ref(&id));
    let files = std::fs::read_dir(env.spool().join("queue").join(&id))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect::<Vec<_>>();
    assert!(!files.contains(&"data-sent".to_owned()), "{files:?}");

    // Space again: sent, once.
    let out = env.postie(&["spool", "flush"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(delivered(&maildir), BTreeMap::from([(tok, 1)]));
    drop(mounted);
}

#[test]
fn sendmail_exits_0_only_when_the_message_is_kept() {
    let env = Env::new("sendmail-kept");
    let config = env.dir.join("config").join("postie").join("config.toml");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(
        &config,
        format!(
            "default = \"local\"\n[accounts.local]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\nspool_on_failure = true\n",
            closed_port()
        ),
    )
    .unwrap();
    let sendmail = |spool: &Path, fault: Option<&str>| {
        let tok = token();
        let mut cmd = env.command(&["sendmail", "-i", "bob@example.org"]);
        cmd.env("POSTIE_SPOOL_DIR", spool).stdin(Stdio::piped());
        if let Some(point) = fault {
            cmd.env("POSTIE_TEST_SPOOL_FAULT", point);
        }
        let mut child = cmd.spawn().unwrap();
        use std::io::Write as _;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("Subject: spool test {tok}\n\nfrom cron\n").as_bytes())
            .unwrap();
        (child.wait_with_output().unwrap(), tok)
    };
    // Kept, durably: accepted, as a mail server that queued it.
    let (out, tok) = sendmail(&env.spool(), None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        stderr(&out).contains("kept in the spool as"),
        "{}",
        text(&out)
    );
    let rows = env.list();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["state"], "queued");
    let entry = env
        .spool()
        .join("queue")
        .join(rows[0]["id"].as_str().unwrap());
    let message = std::fs::read(entry.join("message.eml")).unwrap();
    assert!(String::from_utf8_lossy(&message).contains(&tok));
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(entry.join("meta.json")).unwrap()).unwrap();
    assert_eq!(meta["size"], message.len());
    assert_eq!(meta["sha256"].as_str().map(str::len), Some(64), "{meta}");

    // Not kept: the failure's code, so the caller keeps the message.
    let not_a_folder = env.dir.join("a-file");
    std::fs::write(&not_a_folder, "").unwrap();
    let (out, _) = sendmail(&not_a_folder, None);
    assert_eq!(out.status.code(), Some(75), "{}", text(&out));
    assert!(stderr(&out).contains("could not be kept"), "{}", text(&out));
    let shared = env.dir.join("shared-spool");
    std::fs::create_dir(&shared).unwrap();
    chmod(&shared, 0o1777);
    let (out, _) = sendmail(&shared, None);
    assert_eq!(out.status.code(), Some(75), "{}", text(&out));
    assert!(stderr(&out).contains("chmod go-w"), "{}", text(&out));
    // A full disk while the message or its record is written.
    for point in ["message", "meta"] {
        let (out, _) = sendmail(&env.spool(), Some(point));
        assert_eq!(out.status.code(), Some(75), "{point}: {}", text(&out));
        assert!(stderr(&out).contains("could not be kept"), "{}", text(&out));
    }
    assert_eq!(env.list().len(), 1);
}

#[test]
fn the_store_is_chosen_by_flag_then_variable_and_a_folder_needs_no_init() {
    let env = Env::new("choice");
    // --store wins over POSTIE_SPOOL_DIR; POSTIE_SPOOL_STORE over it too.
    let flagged = env.dir.join("flagged");
    let port = closed_port();
    let out = spool_one(
        &env,
        port,
        &token(),
        &["--store", flagged.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(75), "{}", text(&out));
    assert_eq!(std::fs::read_dir(flagged.join("queue")).unwrap().count(), 1);
    assert!(env.list().is_empty());
    let out = env
        .command(&["spool", "list"])
        .env("POSTIE_SPOOL_STORE", &flagged)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("\tqueued\t"),
        "{}",
        text(&out)
    );
    // init on a folder: nothing to do, exit 0.
    let out = env.postie(&["spool", "init"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("nothing to do"),
        "{}",
        text(&out)
    );
    // Another scheme is not a store.
    let out = env.postie(&["spool", "list", "--store", "mysql://u@h/db"]);
    assert_eq!(out.status.code(), Some(78), "{}", text(&out));
}

/// Without the `postgres` feature a database store is a setting this
/// postie cannot serve: exit 78, saying so, before anything is sent.
#[cfg(not(feature = "postgres"))]
#[test]
fn a_postgres_store_without_the_feature_is_refused() {
    let env = Env::new("nofeature");
    let url = "postgres://postie@127.0.0.1:1/mail";
    let out = spool_one(&env, closed_port(), &token(), &["--store", url]);
    assert_eq!(out.status.code(), Some(78), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("without its `postgres` feature"),
        "{}",
        text(&out)
    );
    let out = env
        .command(&["spool", "list"])
        .env("POSTIE_SPOOL_STORE", url)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78), "{}", text(&out));
}
