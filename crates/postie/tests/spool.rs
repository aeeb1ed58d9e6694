//! The durable outbound spool: `postie send --spool-on-failure` and
//! `postie spool list|show|remove|flush`, against `postie sink`, the
//! scripted server and the real aiosmtpd; and the crash test, which kills
//! flushes with SIGKILL at random moments and checks that no message is
//! lost and none is sent twice but those marked unknown.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use postie_testkit::{closed_port, real_server, Script, ScriptedServer};

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

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn token() -> String {
    postie_mime::new_message_id("x")
        .unwrap()
        .replace(['<', '>', '@', '-', '_', '.'], "")
}

/// `postie sink` on `port`, keeping messages in `maildir`; killed on drop.
struct Sink(Child);

impl Sink {
    fn start(port: u16, maildir: &Path) -> Self {
        let listen = format!("127.0.0.1:{port}");
        let child = Command::new(env!("CARGO_BIN_EXE_postie"))
            .args(["sink", "--listen", &listen, "--maildir"])
            .arg(maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Polled often: the crash test starts a sink many times.
        let until = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(&listen).is_err() {
            assert!(Instant::now() < until, "the sink did not start on {listen}");
            std::thread::sleep(Duration::from_millis(5));
        }
        Self(child)
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
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
    let out = env.postie(&["spool", "flush", "--force"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&format!("{id}: sent to 127.0.0.1:{port}")),
        "{}",
        text(&out)
    );
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
    let (envelope, message) = got
        .split_once("\r\n")
        .unwrap()
        .1
        .split_once("\r\n")
        .unwrap();
    assert_eq!(
        envelope,
        "X-Postie-Envelope-To: <bob@example.org>, <hidden@example.org>"
    );
    assert_eq!(message, kept.replace("\r\n", "\n").replace('\n', "\r\n"));
    assert!(message.contains("\r\n.dot line"), "{message}");
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
fn accepting(script: Script) -> Script {
    script
        .reply("250 2.1.0 Ok\r\n")
        .reply("250 2.1.5 Ok\r\n")
        .reply("250 2.1.5 Ok\r\n")
        .reply("354 go\r\n")
        .read_data()
}

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
