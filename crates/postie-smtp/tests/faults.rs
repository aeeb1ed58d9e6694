//! The fault table: what postie does when the server misbehaves at each
//! stage of the dialogue, one `#[test]` per row, on the blocking driver and
//! (with `POSTIE_TEST_DRIVER=tokio`) on the tokio driver.
//!
//! The rules every row checks:
//!
//! - `Ok(Sent)` only after the 2xx to the end of data.
//! - A fault before MAIL moves on to the next server (failover); the
//!   faulty server's attempt names its stage. With no good server left the
//!   send fails with [`Error::NoServer`], outcome `not_sent`.
//! - A fault after MAIL is sent never moves on: [`Error::Transaction`] (or
//!   [`Error::Refused`]) naming the stage, outcome `not_sent`, and the next
//!   server is never contacted.
//! - A drop, a timeout or a garbled reply after the final dot and before
//!   its reply is outcome `unknown` (the server may have the message),
//!   distinct from `not_sent`.
//! - Every stage has a time limit and the deadline bounds the whole send:
//!   no row hangs.
//!
//! Rows (the stage named is the one the error reports):
//!
//! | row | fault | outcome |
//! |---|---|---|
//! | `close_before_greeting_fails_over` | connection closed at once | failover; greeting, closed |
//! | `close_at_ehlo_fails_over` | closed instead of the EHLO reply | failover; ehlo, closed |
//! | `close_at_starttls_fails_over` | closed instead of the STARTTLS reply | failover; starttls, closed |
//! | `close_in_the_tls_handshake_fails_over` | closed after `220` to STARTTLS | failover; starttls, TLS I/O error |
//! | `close_at_ehlo_after_starttls_fails_over` | closed instead of the EHLO reply over TLS | failover; ehlo, closed |
//! | `close_at_auth_fails_over` | closed instead of the AUTH reply | failover; auth, closed |
//! | `close_at_mail_is_not_sent` | closed instead of the MAIL reply | not sent; mail, closed; no failover |
//! | `close_at_first_rcpt_is_not_sent_pipelined` / `_unpipelined` | closed instead of the 1st of 3 RCPT replies | not sent; rcpt, closed; no failover |
//! | `close_after_the_first_rcpt_reply_is_not_sent_pipelined` / `_unpipelined` | `250` to the 1st RCPT, closed instead of the 2nd reply | not sent; rcpt, closed; no failover |
//! | `close_at_last_rcpt_is_not_sent_pipelined` / `_unpipelined` | closed instead of the 3rd RCPT reply | not sent; rcpt, closed; no failover |
//! | `close_at_data_is_not_sent_pipelined` / `_unpipelined` | closed after the last RCPT reply, instead of DATA's | not sent; data, closed; no failover |
//! | `close_mid_body_is_not_sent` | reset while the message streams | not sent; data, I/O error; no failover |
//! | `close_before_the_final_reply_is_unknown` | closed after the final dot, no reply | **unknown**; end of data, closed |
//! | `close_after_the_final_reply_is_sent` | closed after the `250` to the dot, before QUIT's reply | sent |
//! | `reply_421_greeting_fails_over` | `421` greeting | failover; greeting, 421 |
//! | `reply_421_to_ehlo_fails_over` | `421` to EHLO | failover; ehlo, 421; no HELO |
//! | `reply_421_to_starttls_fails_over_when_tls_is_required` | `421` to STARTTLS, TLS required | failover; starttls, 421 |
//! | `reply_421_to_starttls_fails_over_by_default` | `421` to STARTTLS, default policy | failover; starttls, 421 (a closing server is no refused STARTTLS) |
//! | `reply_421_to_auth_fails_over` | `421` to AUTH | failover; auth, 421 (not a verdict on the credentials) |
//! | `reply_421_to_mail_is_not_sent` | `421` to MAIL | not sent; mail, 421, temporary; no failover |
//! | `reply_421_to_the_only_rcpt_is_a_temporary_refusal` | `421` to the one RCPT | not sent; refused (421), temporary; no failover |
//! | `a_refusal_of_the_only_rcpt_then_a_hang_up_is_the_refusal` | `421` or `550` to the one RCPT, then closed, pipelined (DATA was in the batch) and not | not sent; refused with that code (550 stays permanent); no failover |
//! | `reply_421_to_the_first_of_three_rcpts_is_not_sent` | `421` to the 1st of 3 RCPT, then closed, pipelined and not | not sent; rcpt, closed, temporary; no failover |
//! | `reply_421_to_data_is_not_sent` | `421` to DATA | not sent; data, 421, temporary; no failover |
//! | `reply_421_to_end_of_data_is_not_sent` | `421` to the final dot | not sent (a reply came); end of data, 421 |
//! | `greeting_without_a_code_fails_over` | `hello` | failover; greeting, bad code |
//! | `greeting_with_a_bad_separator_fails_over` | `220x ok` | failover; greeting, bad separator |
//! | `greeting_line_over_4096_octets_fails_over` | one 5000-octet line | failover; greeting, line too long |
//! | `greeting_with_mixed_codes_fails_over` | `220-a` then `221 b` | failover; greeting, mixed codes |
//! | `ehlo_reply_with_mixed_codes_fails_over` | `250-a` then `251 b` | failover; ehlo, mixed codes |
//! | `ehlo_reply_over_64_kib_fails_over` | 70 KB of short lines | failover; ehlo, reply too long |
//! | `reply_lines_over_512_octets_are_accepted` | 600-octet greeting, EHLO line and final reply | sent (the bound is 4096 a line) |
//! | `bare_lf_replies_are_accepted` | every reply line ends in LF only | sent (documented in `reply.rs`) |
//! | `mail_reply_without_a_code_is_not_sent` | `hello` to MAIL | not sent; mail, bad code; no failover |
//! | `mail_reply_over_64_kib_is_not_sent` | 70 KB reply to MAIL | not sent; mail, reply too long; no failover |
//! | `rcpt_reply_with_a_bad_separator_is_not_sent` | `250x ok` to RCPT | not sent; rcpt, bad separator; no failover |
//! | `rcpt_reply_with_mixed_codes_is_not_sent` | `250-a` then `251 b` to RCPT | not sent; rcpt, mixed codes; no failover |
//! | `data_reply_line_over_4096_octets_is_not_sent` | 5000-octet reply to DATA | not sent; data, line too long; no failover |
//! | `malformed_reply_to_end_of_data_is_unknown` | `hello` to the final dot | **unknown**; end of data, bad code |
//! | `silence_before_greeting_times_out_and_fails_over` | no greeting | failover; greeting, timeout |
//! | `silence_at_ehlo_times_out_and_fails_over` | no EHLO reply | failover; ehlo, timeout |
//! | `silence_at_starttls_times_out_and_fails_over` | no STARTTLS reply | failover; starttls, timeout |
//! | `silence_in_the_tls_handshake_times_out_and_fails_over` | `220` to STARTTLS, then no handshake | failover; starttls, TLS I/O error ("timed out") |
//! | `silence_at_auth_fails_over` | no AUTH reply | failover; auth, timeout |
//! | `silence_at_mail_times_out_and_is_not_sent` | no MAIL reply | not sent; mail, timeout; no failover |
//! | `silence_at_rcpt_times_out_and_is_not_sent` | no reply to the 2nd RCPT | not sent; rcpt, timeout; no failover |
//! | `silence_at_data_times_out_and_is_not_sent` | no DATA reply | not sent; data, timeout; no failover |
//! | `silence_mid_body_times_out_and_is_not_sent` | the server stops reading the message | not sent; data, timeout; no failover |
//! | `silence_after_the_final_dot_is_unknown` | no reply to the final dot | **unknown**; end of data, timeout |
//! | `trickled_greeting_is_bounded_by_the_stage_timeout` | greeting at 1 byte / 50 ms, no deadline | failover; greeting, timeout (the limit is per reply, not per byte) |
//! | `trickled_greeting_is_cut_by_the_deadline` | greeting at 1 byte / 50 ms, 1 s deadline | not sent; greeting, deadline; no next server once it passed |
//! | `trickled_mail_reply_is_cut_by_the_deadline` | MAIL reply at 1 byte / 50 ms, 1 s deadline | not sent; mail, deadline; no failover |
//! | `trickled_final_reply_is_cut_by_the_deadline_and_unknown` | final reply at 1 byte / 50 ms, 1 s deadline | **unknown**; end of data, deadline |
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::ErrorKind;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use chrono::DateTime;
use postie_mime::Message;
use postie_smtp::reply::ReplyError;
use postie_smtp::tls::TlsErrorKind;
use postie_smtp::{
    Cause, Credentials, Error, LocalEnv, Outcome, Secret, SendOptions, Sent, ServerError, Stage,
    Timeouts, TlsMode, TlsSettings,
};
use postie_testkit::{ca_file, closed_port, Cert, Script, ScriptedServer, Session};

/// The stage limit in the silence rows.
const SHORT: Duration = Duration::from_millis(300);
/// How long a silent server stays silent: well past [`SHORT`].
const SILENCE: Duration = Duration::from_millis(1200);
/// No row may take this long: the limits hold, nothing hangs.
const NO_HANG: Duration = Duration::from_secs(4);
/// One byte every this long, in the trickle rows.
const DRIP: Duration = Duration::from_millis(50);
/// The deadline in the trickle rows.
const DEADLINE: Duration = Duration::from_secs(1);

const THREE: &str = "a@example.org, b@example.org, c@example.org";

fn env() -> LocalEnv {
    LocalEnv {
        hostname: "client.test".to_owned(),
        user: "joe".to_owned(),
        now: DateTime::parse_from_rfc3339("2026-11-28T18:41:39+00:00").unwrap(),
    }
}

fn message() -> Message {
    let mut msg = Message::text("A message for the fault table.\nSecond line.");
    msg.headers_mut().set("Subject", "faults").unwrap();
    msg
}

/// 16 MiB: far more than the socket buffers hold, so the client is still
/// writing it when the server stops reading or resets.
fn big_message() -> Message {
    let line = "0123456789".repeat(7);
    let mut text = String::with_capacity(16 << 20);
    while text.len() < 16 << 20 {
        text.push_str(&line);
        text.push('\n');
    }
    let mut msg = Message::text(text);
    msg.headers_mut().set("Subject", "big").unwrap();
    msg
}

/// One recipient, roomy limits (the close, 421 and malformed rows never
/// wait for them), the test CA trusted for the STARTTLS rows.
fn options(ports: &[u16]) -> SendOptions {
    SendOptions::new()
        .servers(ports.iter().map(|_| "127.0.0.1"))
        .ports(ports.iter().copied())
        .recipients("a@example.org")
        .timeouts(Timeouts {
            connect: Duration::from_secs(2),
            command: Duration::from_secs(3),
            end_of_data: Duration::from_secs(3),
            deadline: None,
        })
        .tls_settings(TlsSettings {
            ca_files: vec![ca_file()],
            ..TlsSettings::default()
        })
}

/// The silence rows: every stage limit [`SHORT`].
fn short(opts: SendOptions) -> SendOptions {
    opts.timeouts(Timeouts {
        connect: Duration::from_secs(2),
        command: SHORT,
        end_of_data: SHORT,
        deadline: None,
    })
}

/// The trickle rows: stage limits that a trickle never trips, and a
/// deadline of [`DEADLINE`].
fn deadline(opts: SendOptions) -> SendOptions {
    opts.timeouts(Timeouts {
        connect: Duration::from_secs(2),
        command: Duration::from_secs(5),
        end_of_data: Duration::from_secs(5),
        deadline: Some(DEADLINE),
    })
}

fn with_auth(opts: SendOptions) -> SendOptions {
    opts.credentials(Credentials {
        username: "alice".to_owned(),
        secret: Secret::new("s3cret-pass"),
        authzid: None,
    })
}

fn same(opts: SendOptions) -> SendOptions {
    opts
}

fn send(msg: &Message, opts: &SendOptions) -> Result<Sent, Error> {
    common::send_with_env(msg, opts, &env())
}

/// The rest of a good transaction for `rcpts` recipients.
fn accept(script: Script, rcpts: usize) -> Script {
    let mut script = script.reply("250 2.1.0 Ok\r\n");
    for _ in 0..rcpts {
        script = script.reply("250 2.1.5 Ok\r\n");
    }
    script
        .reply("354 End data with <CR><LF>.<CR><LF>\r\n")
        .read_data()
        .send("250 2.0.0 Ok: queued as GOOD\r\n")
        .reply("221 2.0.0 Bye\r\n")
}

/// A good server with these capabilities, for one recipient.
fn good(caps: &[&str]) -> Script {
    accept(Script::new().greet(caps), 1)
}

/// A good server that takes AUTH PLAIN.
fn good_with_auth() -> Script {
    accept(
        Script::new()
            .greet(&["AUTH PLAIN"])
            .reply("235 2.7.0 Authentication successful\r\n"),
        1,
    )
}

/// Up to the server's `354`: greeting, EHLO, MAIL and `rcpts` RCPT.
fn up_to_354(caps: &[&str], rcpts: usize) -> Script {
    let mut script = Script::new().greet(caps).reply("250 2.1.0 Ok\r\n");
    for _ in 0..rcpts {
        script = script.reply("250 2.1.5 Ok\r\n");
    }
    script.reply("354 go ahead\r\n")
}

/// A second server that must never be contacted: a listener on which
/// nobody accepts, so that a connection shows up in its backlog.
struct Spare(TcpListener);

impl Spare {
    fn new() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        Self(listener)
    }

    fn port(&self) -> u16 {
        self.0.local_addr().unwrap().port()
    }

    fn assert_untouched(&self) {
        match self.0.accept() {
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            other => panic!("the next server was contacted after MAIL: {other:?}"),
        }
    }
}

/// What one row did.
struct Ran {
    result: Result<Sent, Error>,
    session: Session,
    elapsed: Duration,
}

impl Ran {
    fn err(&self) -> &Error {
        match &self.result {
            Ok(sent) => panic!("sent, but the row expects a failure: {sent:?}"),
            Err(e) => e,
        }
    }
}

/// Sends `msg` to a server playing `script`, with a [`Spare`] after it that
/// must never be contacted: after MAIL there is no failover, and a server
/// that took the message needs no other.
fn run(msg: &Message, script: Script, opts: impl FnOnce(SendOptions) -> SendOptions) -> Ran {
    let server = ScriptedServer::start(vec![script]);
    let spare = Spare::new();
    let opts = opts(options(&[server.port(), spare.port()]));
    let started = Instant::now();
    let result = send(msg, &opts);
    let elapsed = started.elapsed();
    let mut sessions = server.finish();
    spare.assert_untouched();
    assert!(elapsed < NO_HANG, "took {elapsed:?}");
    assert_eq!(sessions.len(), 1);
    Ran {
        result,
        session: sessions.remove(0),
        elapsed,
    }
}

/// A failed transaction at `stage` with the outcome `outcome`, temporary.
fn transaction_failed(ran: &Ran, stage: Stage, outcome: Outcome) -> &ServerError {
    let err = ran.err();
    let Error::Transaction(failure) = err else {
        panic!("expected a transaction error: {err:?}")
    };
    assert_eq!(failure.stage(), stage, "{err}");
    assert_eq!(err.outcome(), outcome, "{err}");
    assert!(err.is_temporary(), "{err}");
    failure
}

/// Not sent, at `stage` (before the final dot).
fn not_sent(ran: &Ran, stage: Stage) -> &ServerError {
    let failure = transaction_failed(ran, stage, Outcome::NotSent);
    assert!(
        ran.session.data.is_empty(),
        "the data never ended: {:?}",
        ran.session.text()
    );
    failure
}

/// May have been delivered: the final dot went, its reply did not come.
fn unknown(ran: &Ran) -> &ServerError {
    let failure = transaction_failed(ran, Stage::EndOfData, Outcome::Unknown);
    assert_eq!(ran.session.data.len(), 1, "the whole message went");
    failure
}

/// A fault before MAIL. Alone (then a closed port) the faulty server fails
/// the send, and its attempt, the first, names `stage`; the error is
/// returned for the row to check the cause. Followed by a good server, the
/// message goes there.
fn fails_over(
    bad: impl Fn() -> Script,
    good: Script,
    opts: impl Fn(SendOptions) -> SendOptions,
    stage: Stage,
) -> Error {
    let bad_alone = ScriptedServer::start(vec![bad()]);
    let bad_first = ScriptedServer::start(vec![bad()]);
    let good = ScriptedServer::start(vec![good]);

    let started = Instant::now();
    let err = send(
        &message(),
        &opts(options(&[bad_alone.port(), closed_port()])),
    )
    .unwrap_err();
    let elapsed = started.elapsed();
    assert!(elapsed < NO_HANG, "took {elapsed:?}: {err}");
    {
        let Error::NoServer { attempts } = &err else {
            panic!("expected every server to fail before MAIL: {err:?}")
        };
        assert_eq!(attempts.len(), 2, "{err}");
        assert_eq!(attempts[0].server().port, bad_alone.port(), "{err}");
        assert_eq!(attempts[0].stage(), stage, "{err}");
        assert!(attempts[0].is_temporary(), "{err}");
        assert_eq!(attempts[1].stage(), Stage::Connect, "{err}");
        assert_eq!(err.outcome(), Outcome::NotSent);
    }

    let started = Instant::now();
    let sent = send(&message(), &opts(options(&[bad_first.port(), good.port()])))
        .unwrap_or_else(|e| panic!("no failover: {e}"));
    assert!(started.elapsed() < NO_HANG, "took {:?}", started.elapsed());
    assert_eq!(sent.server().port, good.port());
    assert_eq!(sent.queue_id().as_deref(), Some("GOOD"));

    for server in [bad_alone, bad_first] {
        for session in server.finish() {
            assert!(!session.text().contains("MAIL FROM"), "{}", session.text());
        }
    }
    let good_session = &good.finish()[0];
    assert!(good_session.text().contains("MAIL FROM"));
    assert_eq!(good_session.data.len(), 1);
    err
}

/// The first attempt of a [`fails_over`] error.
fn first(err: &Error) -> &ServerError {
    match err {
        Error::NoServer { attempts } => &attempts[0],
        other => panic!("{other:?}"),
    }
}

fn is_closed(cause: &Cause) -> bool {
    matches!(cause, Cause::Closed)
}

fn is_reply(cause: &Cause, code: u16) -> bool {
    matches!(cause, Cause::Reply(reply) if reply.code() == code)
}

fn is_timeout(cause: &Cause, limit: Duration) -> bool {
    matches!(cause, Cause::Timeout(t) if *t == limit)
}

fn is_tls_io(cause: &Cause) -> bool {
    matches!(cause, Cause::Tls(e) if e.kind() == TlsErrorKind::Io)
}

fn starttls_offer() -> Script {
    Script::new().greet(&["STARTTLS"])
}

/// STARTTLS and its handshake done, ready for the EHLO over TLS.
fn after_handshake() -> Script {
    starttls_offer()
        .reply("220 2.0.0 Ready to start TLS\r\n")
        .start_tls(Cert::Trusted)
}

fn auth_offer() -> Script {
    Script::new().greet(&["AUTH PLAIN"])
}

// ---------------------------------------------------------------- close

#[test]
fn close_before_greeting_fails_over() {
    let err = fails_over(|| Script::new().close(), good(&[]), same, Stage::Greeting);
    assert!(is_closed(first(&err).cause()), "{err}");
}

#[test]
fn close_at_ehlo_fails_over() {
    let err = fails_over(
        || Script::new().send("220 x ESMTP\r\n").read_line().close(),
        good(&[]),
        same,
        Stage::Ehlo,
    );
    assert!(is_closed(first(&err).cause()), "{err}");
}

#[test]
fn close_at_starttls_fails_over() {
    let err = fails_over(
        || starttls_offer().read_line().close(),
        good(&[]),
        same,
        Stage::StartTls,
    );
    assert!(is_closed(first(&err).cause()), "{err}");
}

#[test]
fn close_in_the_tls_handshake_fails_over() {
    let err = fails_over(
        || starttls_offer().reply("220 2.0.0 go ahead\r\n").close(),
        good(&[]),
        same,
        Stage::StartTls,
    );
    assert!(is_tls_io(first(&err).cause()), "{err}");
}

#[test]
fn close_at_ehlo_after_starttls_fails_over() {
    let err = fails_over(
        || after_handshake().read_line().close(),
        good(&[]),
        same,
        Stage::Ehlo,
    );
    assert!(is_closed(first(&err).cause()), "{err}");
}

#[test]
fn close_at_auth_fails_over() {
    let err = fails_over(
        || auth_offer().read_line().close(),
        good_with_auth(),
        with_auth,
        Stage::Auth,
    );
    assert!(is_closed(first(&err).cause()), "{err}");
}

#[test]
fn close_at_mail_is_not_sent() {
    let ran = run(
        &message(),
        Script::new().greet(&[]).read_line().close(),
        same,
    );
    let failure = not_sent(&ran, Stage::Mail);
    assert!(is_closed(failure.cause()), "{}", ran.err());
}

/// Three recipients; the server closes instead of answering RCPT number
/// `at` (0-based).
fn close_at_rcpt(at: usize, pipelining: bool) {
    let caps: &[&str] = if pipelining { &["PIPELINING"] } else { &[] };
    let mut script = Script::new().greet(caps).reply("250 2.1.0 Ok\r\n");
    for _ in 0..at {
        script = script.reply("250 2.1.5 Ok\r\n");
    }
    let ran = run(&message(), script.read_line().close(), |o| {
        o.recipients(THREE).pipelining(pipelining)
    });
    let failure = not_sent(&ran, Stage::Rcpt);
    assert!(is_closed(failure.cause()), "{}", ran.err());
    let rcpts = ran
        .session
        .commands
        .iter()
        .filter(|c| c.starts_with("RCPT TO:"))
        .count();
    assert_eq!(rcpts, at + 1, "{:?}", ran.session.commands);
    // Pipelined, every RCPT went in one write with MAIL; unpipelined, none
    // after the one unanswered.
    let written = ran.session.text().matches("RCPT TO:").count();
    assert_eq!(written, if pipelining { 3 } else { at + 1 });
    assert!(!ran.session.text().contains("DATA"));
}

#[test]
fn close_at_first_rcpt_is_not_sent_pipelined() {
    close_at_rcpt(0, true);
}

#[test]
fn close_at_first_rcpt_is_not_sent_unpipelined() {
    close_at_rcpt(0, false);
}

#[test]
fn close_after_the_first_rcpt_reply_is_not_sent_pipelined() {
    close_at_rcpt(1, true);
}

#[test]
fn close_after_the_first_rcpt_reply_is_not_sent_unpipelined() {
    close_at_rcpt(1, false);
}

#[test]
fn close_at_last_rcpt_is_not_sent_pipelined() {
    close_at_rcpt(2, true);
}

#[test]
fn close_at_last_rcpt_is_not_sent_unpipelined() {
    close_at_rcpt(2, false);
}

fn close_at_data(pipelining: bool) {
    let caps: &[&str] = if pipelining { &["PIPELINING"] } else { &[] };
    let script = Script::new()
        .greet(caps)
        .reply("250 2.1.0 Ok\r\n")
        .reply("250 2.1.5 Ok\r\n")
        .reply("250 2.1.5 Ok\r\n")
        .reply("250 2.1.5 Ok\r\n")
        .read_line()
        .close();
    let ran = run(&message(), script, |o| {
        o.recipients(THREE).pipelining(pipelining)
    });
    let failure = not_sent(&ran, Stage::Data);
    assert!(is_closed(failure.cause()), "{}", ran.err());
    assert_eq!(ran.session.commands.last().unwrap(), "DATA");
}

#[test]
fn close_at_data_is_not_sent_pipelined() {
    close_at_data(true);
}

#[test]
fn close_at_data_is_not_sent_unpipelined() {
    close_at_data(false);
}

#[test]
fn close_mid_body_is_not_sent() {
    let script = up_to_354(&[], 1)
        .read_line()
        .read_line()
        .read_line()
        .abort();
    let ran = run(&big_message(), script, same);
    let failure = not_sent(&ran, Stage::Data);
    assert!(
        matches!(failure.cause(), Cause::Io(_)),
        "a write error: {}",
        ran.err()
    );
}

#[test]
fn close_before_the_final_reply_is_unknown() {
    let ran = run(&message(), up_to_354(&[], 1).read_data().close(), same);
    let failure = unknown(&ran);
    assert!(is_closed(failure.cause()), "{}", ran.err());
}

#[test]
fn close_after_the_final_reply_is_sent() {
    let script = up_to_354(&[], 1)
        .read_data()
        .send("250 2.0.0 Ok: queued as LAST\r\n")
        .close();
    let ran = run(&message(), script, same);
    let sent = ran.result.as_ref().unwrap();
    assert_eq!(sent.reply().code(), 250);
    assert_eq!(sent.queue_id().as_deref(), Some("LAST"));
    assert_eq!(sent.accepted(), ["a@example.org"]);
    assert_eq!(ran.session.data.len(), 1);
}

// ------------------------------------------------------------------ 421

const BYE: &str = "421 4.3.2 Service shutting down\r\n";

#[test]
fn reply_421_greeting_fails_over() {
    let err = fails_over(|| Script::new().send(BYE), good(&[]), same, Stage::Greeting);
    assert!(is_reply(first(&err).cause(), 421), "{err}");
}

#[test]
fn reply_421_to_ehlo_fails_over() {
    let bad = ScriptedServer::start(vec![Script::new().send("220 x ESMTP\r\n").reply(BYE)]);
    let good_server = ScriptedServer::start(vec![good(&[])]);
    let sent = send(&message(), &options(&[bad.port(), good_server.port()])).unwrap();
    assert_eq!(sent.server().port, good_server.port());
    // A 4xx to EHLO is a refusal, not an old server: no HELO.
    assert_eq!(bad.finish()[0].commands, ["EHLO client.test"]);
    good_server.finish();

    let err = fails_over(
        || Script::new().send("220 x ESMTP\r\n").reply(BYE),
        good(&[]),
        same,
        Stage::Ehlo,
    );
    assert!(is_reply(first(&err).cause(), 421), "{err}");
}

#[test]
fn reply_421_to_starttls_fails_over_when_tls_is_required() {
    let err = fails_over(
        || starttls_offer().reply(BYE),
        after_handshake_good(),
        |o| o.tls_mode(TlsMode::Required),
        Stage::StartTls,
    );
    assert!(is_reply(first(&err).cause(), 421), "{err}");
}

/// A good server over STARTTLS.
fn after_handshake_good() -> Script {
    accept(after_handshake().reply("250 scripted.test\r\n"), 1)
}

#[test]
fn reply_421_to_starttls_fails_over_by_default() {
    let err = fails_over(
        || starttls_offer().reply(BYE),
        good(&[]),
        same,
        Stage::StartTls,
    );
    assert!(is_reply(first(&err).cause(), 421), "{err}");
}

#[test]
fn reply_421_to_auth_fails_over() {
    let err = fails_over(
        || auth_offer().reply(BYE),
        good_with_auth(),
        with_auth,
        Stage::Auth,
    );
    assert!(is_reply(first(&err).cause(), 421), "{err}");
}

#[test]
fn reply_421_to_mail_is_not_sent() {
    let ran = run(&message(), Script::new().greet(&[]).reply(BYE), same);
    let failure = not_sent(&ran, Stage::Mail);
    assert!(is_reply(failure.cause(), 421), "{}", ran.err());
}

#[test]
fn reply_421_to_the_only_rcpt_is_a_temporary_refusal() {
    let script = Script::new()
        .greet(&[])
        .reply("250 2.1.0 Ok\r\n")
        .reply(BYE);
    let ran = run(&message(), script, same);
    let err = ran.err();
    let Error::Refused { refused, .. } = err else {
        panic!("{err:?}")
    };
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].address(), "a@example.org");
    assert_eq!(refused[0].code(), 421);
    assert_eq!(err.stage(), Some(Stage::Rcpt));
    assert_eq!(err.outcome(), Outcome::NotSent);
    assert!(err.is_temporary(), "{err}");
    assert!(!ran.session.text().contains("DATA"));
}

#[test]
fn a_refusal_of_the_only_rcpt_then_a_hang_up_is_the_refusal() {
    for pipelining in [true, false] {
        for (refusal, code) in [(BYE, 421), ("550 5.1.1 No such user\r\n", 550)] {
            let caps: &[&str] = if pipelining { &["PIPELINING"] } else { &[] };
            let script = Script::new()
                .greet(caps)
                .reply("250 2.1.0 Ok\r\n")
                .reply(refusal)
                .close();
            let ran = run(&message(), script, |o| o.pipelining(pipelining));
            let err = ran.err();
            let Error::Refused { refused, .. } = err else {
                panic!("{err:?}")
            };
            assert_eq!(refused.len(), 1);
            assert_eq!(refused[0].code(), code, "{err}");
            assert_eq!(err.stage(), Some(Stage::Rcpt));
            assert_eq!(err.outcome(), Outcome::NotSent);
            // A 550 stays permanent whatever the connection did after it.
            assert_eq!(err.is_temporary(), code == 421, "{err}");
            assert!(ran.session.data.is_empty());
        }
    }
}

#[test]
fn reply_421_to_the_first_of_three_rcpts_is_not_sent() {
    for pipelining in [true, false] {
        let caps: &[&str] = if pipelining { &["PIPELINING"] } else { &[] };
        let script = Script::new()
            .greet(caps)
            .reply("250 2.1.0 Ok\r\n")
            .reply(BYE)
            .close();
        let ran = run(&message(), script, |o| {
            o.recipients(THREE).pipelining(pipelining)
        });
        // The 421 is taken as the first recipient's refusal; the next
        // RCPT reply then finds the connection closed.
        let failure = not_sent(&ran, Stage::Rcpt);
        assert!(is_closed(failure.cause()), "{}", ran.err());
        assert!(!ran.session.text().contains("DATA"));
    }
}

#[test]
fn reply_421_to_data_is_not_sent() {
    let script = Script::new()
        .greet(&[])
        .reply("250 2.1.0 Ok\r\n")
        .reply("250 2.1.5 Ok\r\n")
        .reply(BYE);
    let ran = run(&message(), script, same);
    let failure = not_sent(&ran, Stage::Data);
    assert!(is_reply(failure.cause(), 421), "{}", ran.err());
}

#[test]
fn reply_421_to_end_of_data_is_not_sent() {
    let ran = run(&message(), up_to_354(&[], 1).read_data().send(BYE), same);
    // A reply came: the server refused the message, temporarily.
    let failure = transaction_failed(&ran, Stage::EndOfData, Outcome::NotSent);
    assert!(is_reply(failure.cause(), 421), "{}", ran.err());
}

// ------------------------------------------------------------ malformed

fn is_protocol(cause: &Cause, check: impl Fn(&ReplyError) -> bool) -> bool {
    matches!(cause, Cause::Protocol(e) if check(e))
}

#[test]
fn greeting_without_a_code_fails_over() {
    let err = fails_over(
        || Script::new().send("hello\r\n"),
        good(&[]),
        same,
        Stage::Greeting,
    );
    assert!(
        is_protocol(first(&err).cause(), |e| matches!(e, ReplyError::BadCode(_))),
        "{err}"
    );
}

#[test]
fn greeting_with_a_bad_separator_fails_over() {
    let err = fails_over(
        || Script::new().send("220x ok\r\n"),
        good(&[]),
        same,
        Stage::Greeting,
    );
    assert!(
        is_protocol(first(&err).cause(), |e| matches!(
            e,
            ReplyError::BadSeparator(_)
        )),
        "{err}"
    );
}

#[test]
fn greeting_line_over_4096_octets_fails_over() {
    let long = format!("220 {}\r\n", "x".repeat(5000));
    let err = fails_over(
        || Script::new().send(&long),
        good(&[]),
        same,
        Stage::Greeting,
    );
    assert!(
        is_protocol(first(&err).cause(), |e| *e == ReplyError::LineTooLong(4096)),
        "{err}"
    );
}

#[test]
fn greeting_with_mixed_codes_fails_over() {
    let err = fails_over(
        || Script::new().send("220-a\r\n221 b\r\n"),
        good(&[]),
        same,
        Stage::Greeting,
    );
    assert!(
        is_protocol(first(&err).cause(), |e| *e
            == ReplyError::MixedCodes {
                first: 220,
                other: 221
            }),
        "{err}"
    );
}

#[test]
fn ehlo_reply_with_mixed_codes_fails_over() {
    let err = fails_over(
        || Script::new().send("220 x\r\n").reply("250-a\r\n251 b\r\n"),
        good(&[]),
        same,
        Stage::Ehlo,
    );
    assert!(
        is_protocol(first(&err).cause(), |e| *e
            == ReplyError::MixedCodes {
                first: 250,
                other: 251
            }),
        "{err}"
    );
}

/// A multi-line reply of 70 lines of 1000 octets: each line within the
/// 4096 bound, the whole over 64 KiB.
fn huge_reply(code: u16) -> String {
    let mut reply = String::new();
    for _ in 0..70 {
        reply.push_str(&format!("{code}-{}\r\n", "y".repeat(994)));
    }
    reply.push_str(&format!("{code} end\r\n"));
    assert!(reply.len() > 64 * 1024);
    reply
}

#[test]
fn ehlo_reply_over_64_kib_fails_over() {
    let err = fails_over(
        || Script::new().send("220 x\r\n").reply(huge_reply(250)),
        good(&[]),
        same,
        Stage::Ehlo,
    );
    assert!(
        is_protocol(first(&err).cause(), |e| *e
            == ReplyError::ReplyTooLong(64 * 1024)),
        "{err}"
    );
}

/// A reply line of exactly `octets` octets, CRLF included.
fn line_of(prefix: &str, octets: usize) -> String {
    let line = format!("{prefix}{}\r\n", "z".repeat(octets - prefix.len() - 2));
    assert_eq!(line.len(), octets);
    line
}

#[test]
fn reply_lines_over_512_octets_are_accepted() {
    // RFC 5321 §4.5.3.1.5 says 512; the parser's bound is 4096 a line.
    let script = Script::new()
        .send(line_of("220 ", 600))
        .reply(format!("{}250 SIZE 100000\r\n", line_of("250-", 600)))
        .reply("250 2.1.0 Ok\r\n")
        .reply("250 2.1.5 Ok\r\n")
        .reply("354 go\r\n")
        .read_data()
        .send(line_of("250 2.0.0 Ok: queued as LONG ", 600))
        .reply("221 bye\r\n");
    let ran = run(&message(), script, same);
    let sent = ran.result.as_ref().unwrap();
    assert_eq!(sent.queue_id().as_deref(), Some("LONG"));
    assert!(sent.reply().text().len() > 512);
    assert!(ran.session.commands[1].contains(" SIZE="), "EHLO was read");
}

#[test]
fn bare_lf_replies_are_accepted() {
    // reply.rs: "A bare LF ends a line too: broken servers send it".
    let script = Script::new()
        .send("220 bare ESMTP\n")
        .reply("250-bare.test\n250 SIZE 100000\n")
        .reply("250 2.1.0 Ok\n")
        .reply("250 2.1.5 Ok\n")
        .reply("354 go\n")
        .read_data()
        .send("250 2.0.0 Ok: queued as LF1\n")
        .reply("221 bye\n");
    let ran = run(&message(), script, same);
    let sent = ran.result.as_ref().unwrap();
    assert_eq!(sent.queue_id().as_deref(), Some("LF1"));
    assert!(
        ran.session.commands[1].contains(" SIZE="),
        "{:?}",
        ran.session.commands
    );
    assert_eq!(ran.session.commands.last().unwrap(), "QUIT");
}

#[test]
fn mail_reply_without_a_code_is_not_sent() {
    let ran = run(
        &message(),
        Script::new().greet(&[]).reply("hello\r\n"),
        same,
    );
    let failure = not_sent(&ran, Stage::Mail);
    assert!(
        is_protocol(failure.cause(), |e| matches!(e, ReplyError::BadCode(_))),
        "{}",
        ran.err()
    );
}

#[test]
fn mail_reply_over_64_kib_is_not_sent() {
    let ran = run(
        &message(),
        Script::new().greet(&[]).reply(huge_reply(250)),
        same,
    );
    let failure = not_sent(&ran, Stage::Mail);
    assert!(
        is_protocol(failure.cause(), |e| *e
            == ReplyError::ReplyTooLong(64 * 1024)),
        "{}",
        ran.err()
    );
}

#[test]
fn rcpt_reply_with_a_bad_separator_is_not_sent() {
    let script = Script::new()
        .greet(&[])
        .reply("250 2.1.0 Ok\r\n")
        .reply("250x ok\r\n");
    let ran = run(&message(), script, same);
    let failure = not_sent(&ran, Stage::Rcpt);
    assert!(
        is_protocol(failure.cause(), |e| matches!(
            e,
            ReplyError::BadSeparator(_)
        )),
        "{}",
        ran.err()
    );
}

#[test]
fn rcpt_reply_with_mixed_codes_is_not_sent() {
    let script = Script::new()
        .greet(&[])
        .reply("250 2.1.0 Ok\r\n")
        .reply("250-a\r\n251 b\r\n");
    let ran = run(&message(), script, same);
    let failure = not_sent(&ran, Stage::Rcpt);
    assert!(
        is_protocol(failure.cause(), |e| *e
            == ReplyError::MixedCodes {
                first: 250,
                other: 251
            }),
        "{}",
        ran.err()
    );
}

#[test]
fn data_reply_line_over_4096_octets_is_not_sent() {
    let script = Script::new()
        .greet(&[])
        .reply("250 2.1.0 Ok\r\n")
        .reply("250 2.1.5 Ok\r\n")
        .reply(format!("354 {}\r\n", "x".repeat(5000)));
    let ran = run(&message(), script, same);
    let failure = not_sent(&ran, Stage::Data);
    assert!(
        is_protocol(failure.cause(), |e| *e == ReplyError::LineTooLong(4096)),
        "{}",
        ran.err()
    );
}

#[test]
fn malformed_reply_to_end_of_data_is_unknown() {
    // Something came, but not a reply: it cannot say whether the message
    // was taken.
    let ran = run(
        &message(),
        up_to_354(&[], 1).read_data().send("hello\r\n"),
        same,
    );
    let failure = unknown(&ran);
    assert!(
        is_protocol(failure.cause(), |e| matches!(e, ReplyError::BadCode(_))),
        "{}",
        ran.err()
    );
}

// -------------------------------------------------------------- silence

#[test]
fn silence_before_greeting_times_out_and_fails_over() {
    let err = fails_over(
        || Script::new().sleep(SILENCE),
        good(&[]),
        short,
        Stage::Greeting,
    );
    assert!(is_timeout(first(&err).cause(), SHORT), "{err}");
}

#[test]
fn silence_at_ehlo_times_out_and_fails_over() {
    let err = fails_over(
        || Script::new().send("220 x\r\n").read_line().sleep(SILENCE),
        good(&[]),
        short,
        Stage::Ehlo,
    );
    assert!(is_timeout(first(&err).cause(), SHORT), "{err}");
}

#[test]
fn silence_at_starttls_times_out_and_fails_over() {
    let err = fails_over(
        || starttls_offer().read_line().sleep(SILENCE),
        good(&[]),
        short,
        Stage::StartTls,
    );
    assert!(is_timeout(first(&err).cause(), SHORT), "{err}");
}

#[test]
fn silence_in_the_tls_handshake_times_out_and_fails_over() {
    let err = fails_over(
        || {
            starttls_offer()
                .reply("220 2.0.0 go ahead\r\n")
                .sleep(SILENCE)
        },
        good(&[]),
        short,
        Stage::StartTls,
    );
    let cause = first(&err).cause();
    assert!(is_tls_io(cause), "{err}");
    assert!(cause.to_string().contains("timed out"), "{err}");
}

#[test]
fn silence_at_auth_fails_over() {
    let err = fails_over(
        || auth_offer().read_line().sleep(SILENCE),
        good_with_auth(),
        |o| with_auth(short(o)),
        Stage::Auth,
    );
    assert!(is_timeout(first(&err).cause(), SHORT), "{err}");
}

#[test]
fn silence_at_mail_times_out_and_is_not_sent() {
    let ran = run(
        &message(),
        Script::new().greet(&[]).read_line().sleep(SILENCE),
        short,
    );
    let failure = not_sent(&ran, Stage::Mail);
    assert!(is_timeout(failure.cause(), SHORT), "{}", ran.err());
}

#[test]
fn silence_at_rcpt_times_out_and_is_not_sent() {
    let script = Script::new()
        .greet(&[])
        .reply("250 2.1.0 Ok\r\n")
        .reply("250 2.1.5 Ok\r\n")
        .read_line()
        .sleep(SILENCE);
    let ran = run(&message(), script, |o| short(o).recipients(THREE));
    let failure = not_sent(&ran, Stage::Rcpt);
    assert!(is_timeout(failure.cause(), SHORT), "{}", ran.err());
}

#[test]
fn silence_at_data_times_out_and_is_not_sent() {
    let script = Script::new()
        .greet(&[])
        .reply("250 2.1.0 Ok\r\n")
        .reply("250 2.1.5 Ok\r\n")
        .read_line()
        .sleep(SILENCE);
    let ran = run(&message(), script, short);
    let failure = not_sent(&ran, Stage::Data);
    assert!(is_timeout(failure.cause(), SHORT), "{}", ran.err());
}

#[test]
fn silence_mid_body_times_out_and_is_not_sent() {
    // The server stops reading after its 354: the client's writes stall.
    let script = up_to_354(&[], 1).read_line().sleep(SILENCE);
    let ran = run(&big_message(), script, short);
    let failure = not_sent(&ran, Stage::Data);
    assert!(is_timeout(failure.cause(), SHORT), "{}", ran.err());
}

#[test]
fn silence_after_the_final_dot_is_unknown() {
    let ran = run(
        &message(),
        up_to_354(&[], 1).read_data().sleep(SILENCE),
        short,
    );
    let failure = unknown(&ran);
    assert!(is_timeout(failure.cause(), SHORT), "{}", ran.err());
}

// -------------------------------------------------------------- trickle

#[test]
fn trickled_greeting_is_bounded_by_the_stage_timeout() {
    // 40 octets at one per 50 ms take 2 s; each byte comes well within
    // the 500 ms limit, but the limit is for the whole reply.
    let limit = Duration::from_millis(500);
    let greeting = line_of("220 ", 40);
    let err = fails_over(
        || Script::new().trickle(&greeting, DRIP),
        good(&[]),
        |o| {
            o.timeouts(Timeouts {
                connect: Duration::from_secs(2),
                command: limit,
                end_of_data: limit,
                deadline: None,
            })
        },
        Stage::Greeting,
    );
    assert!(is_timeout(first(&err).cause(), limit), "{err}");
}

/// Asserts the send took at least the deadline and not much more.
fn bounded_by_the_deadline(ran: &Ran) {
    assert!(
        ran.elapsed >= DEADLINE && ran.elapsed < DEADLINE + Duration::from_millis(900),
        "took {:?}: {}",
        ran.elapsed,
        ran.err()
    );
}

#[test]
fn trickled_greeting_is_cut_by_the_deadline() {
    let ran = run(
        &message(),
        Script::new().trickle(line_of("220 ", 40), DRIP),
        deadline,
    );
    bounded_by_the_deadline(&ran);
    let err = ran.err();
    // Once the deadline has passed no next server is tried (the spare
    // saw no connection).
    let Error::NoServer { attempts } = err else {
        panic!("{err:?}")
    };
    assert_eq!(attempts.len(), 1, "{err}");
    assert_eq!(attempts[0].stage(), Stage::Greeting);
    assert!(matches!(attempts[0].cause(), Cause::Deadline), "{err}");
    assert_eq!(err.outcome(), Outcome::NotSent);
    assert!(err.is_temporary());
}

#[test]
fn trickled_mail_reply_is_cut_by_the_deadline() {
    let script = Script::new()
        .greet(&[])
        .read_line()
        .trickle(line_of("250 2.1.0 ", 40), DRIP);
    let ran = run(&message(), script, deadline);
    bounded_by_the_deadline(&ran);
    let failure = not_sent(&ran, Stage::Mail);
    assert!(matches!(failure.cause(), Cause::Deadline), "{}", ran.err());
}

#[test]
fn trickled_final_reply_is_cut_by_the_deadline_and_unknown() {
    let script = up_to_354(&[], 1)
        .read_data()
        .trickle(line_of("250 2.0.0 Ok: queued as SLOW ", 40), DRIP);
    let ran = run(&message(), script, deadline);
    bounded_by_the_deadline(&ran);
    let failure = unknown(&ran);
    assert!(matches!(failure.cause(), Cause::Deadline), "{}", ran.err());
}
