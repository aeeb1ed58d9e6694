//! The sans-IO protocol core (`postie_smtp::proto::Delivery`) against a
//! fuzzed server, with a simulated clock.
//!
//! Input layout (a 13-byte header, then what the server sends):
//!
//! | byte | bits | meaning |
//! |------|------|---------|
//! | 0 | 0-1 | TLS mode: none, STARTTLS, required, implicit |
//! | 0 | 2-3 | auth: none, password (default order), token, the list in byte 3 |
//! | 0 | 4 | allow plaintext auth |
//! | 0 | 5 | the peer is loopback |
//! | 0 | 6 | at-least-one |
//! | 0 | 7 | queue (QUED after XQUE) |
//! | 1 | 0-1 | recipients: 1, 2, 3, or 1 ASCII + 1 UTF-8 (SMTPUTF8) |
//! | 1 | 2 | two servers instead of one |
//! | 1 | 3-4 | TLS policy: default, always insecure, always secure, default |
//! | 1 | 5 | a deadline of 120 s for the whole send |
//! | 1 | 6 | message size known (1000 bytes) |
//! | 1 | 7 | port 465 instead of 25 |
//! | 2 | bit j | the j-th TLS handshake (mod 8) fails |
//! | 3 | bit i | auth mode 3: SCRAM-SHA-256, SCRAM-SHA-1, DIGEST-MD5, CRAM-MD5, LOGIN, PLAIN, XOAUTH2, OAUTHBEARER (none: an unknown name) |
//! | 4 | 0 | an authzid |
//! | 4 | 1 | keep a trace |
//! | 4 | 2 | chaos: call handlers out of order at each write |
//! | 4 | 3 | the first connection attempt fails |
//! | 4 | 4 | writing the body fails the first time |
//! | 4 | 5-6 | username: plain, non-ASCII, with `,` and `=`, with a control character |
//! | 5-12 | | the read plan, one byte per read, cycling |
//!
//! A plan byte `p` at a read: `p >= 0xE0` injects an event instead of data
//! (`p & 3`: 0 EOF, 1 the clock jumps past the read's limit, 2 the driver
//! reports a timeout, 3 an I/O error). Otherwise the next chunk of server
//! bytes is fed (`p & 3`: 0 or 1 up to the end of the next whole reply, 2
//! the next line, 3 `(p >> 2) + 1` bytes) after `(p >> 2) & 7` seconds.
//! When the server bytes run out every read gets EOF. An all-zero plan
//! feeds one reply per read, which is how a well-behaved server talks.
//!
//! Invariants, besides "no panic":
//! - every write is whole CRLF lines: no bare CR or LF, and ends in CRLF;
//! - never `RCPT TO:<>`; the secret never appears as such on the wire or
//!   in a trace line of what was sent;
//! - no `MAIL FROM` before authentication when credentials were given;
//! - with TLS required or implicit, no AUTH or MAIL outside TLS;
//! - no plaintext-equivalent mechanism in clear to another host unless
//!   allowed;
//! - the loop ends in `Step::Done` within the step bound, and a successful
//!   result only after the body was written.
#![no_main]

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use postie_smtp::proto::{AuthConfig, Config, Content, Delivery, Step, Wire};
use postie_smtp::transform::TransformError;
use postie_smtp::sasl::{Credentials, Secret};
use postie_smtp::tls::{TlsDecision, TlsError, TlsInfo, TlsMode, TlsProblem, TlsSettings};
use postie_smtp::{Cause, ServerAddr, Timeouts, TraceKind, TransportSettings};

const HEADER: usize = 13;
const MAX_STEPS: usize = 20_000;
const MAX_SERVER_BYTES: usize = 8192;
const SECRET: &str = "S3cr3t-pencil-Pw0rd";
const MECHANISMS: [&str; 8] = [
    "SCRAM-SHA-256",
    "SCRAM-SHA-1",
    "DIGEST-MD5",
    "CRAM-MD5",
    "LOGIN",
    "PLAIN",
    "XOAUTH2",
    "OAUTHBEARER",
];

/// A real `TlsError` (its constructor is crate-private): the setup error
/// for a CA file that does not exist, made once.
fn tls_error() -> TlsError {
    static ERROR: OnceLock<TlsError> = OnceLock::new();
    ERROR
        .get_or_init(|| {
            let settings = TlsSettings {
                ca_files: vec!["/nonexistent/postie-fuzz/ca.pem".into()],
                ..TlsSettings::default()
            };
            match settings.client_config() {
                Err(e) => e,
                Ok(_) => panic!("harness: expected a TLS setup error"),
            }
        })
        .clone()
}

/// `POSTIE_FUZZ_DEBUG=1` prints the dialogue and the result (to see how
/// far a seed or a crash input gets).
fn debug() -> bool {
    static DEBUG: OnceLock<bool> = OnceLock::new();
    *DEBUG.get_or_init(|| std::env::var_os("POSTIE_FUZZ_DEBUG").is_some())
}

fn tls_info() -> TlsInfo {
    TlsInfo {
        version: "TLSv1.3".to_owned(),
        cipher: "TLS13_AES_128_GCM_SHA256".to_owned(),
        resumed: false,
    }
}

/// The end of the chunk that starts at `start`: one whole reply (`lines`
/// false) or one line, LF included; the rest of the input when no LF.
fn chunk_end(server: &[u8], start: usize, whole_reply: bool) -> usize {
    let mut pos = start;
    loop {
        let Some(nl) = server[pos..].iter().position(|&b| b == b'\n') else {
            return server.len();
        };
        let line = &server[pos..pos + nl];
        pos += nl + 1;
        if !whole_reply || line.get(3) != Some(&b'-') {
            return pos;
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn check_output(out: &[u8]) {
    for (i, &b) in out.iter().enumerate() {
        match b {
            b'\r' => assert_eq!(out.get(i + 1), Some(&b'\n'), "bare CR in {out:?}"),
            b'\n' => assert!(i > 0 && out[i - 1] == b'\r', "bare LF in {out:?}"),
            _ => {}
        }
    }
    assert!(out.ends_with(b"\r\n"), "output not ending in CRLF: {out:?}");
    assert!(!contains(out, b"RCPT TO:<>"), "empty RCPT TO in {out:?}");
    assert!(!contains(out, SECRET.as_bytes()), "secret on the wire");
}

struct Setup {
    /// The driver cannot read the message when asked to count it.
    measure_fails: bool,
    config: Config,
    loopback: bool,
    tls_fail_bits: u8,
    chaos: bool,
    first_connect_fails: bool,
    body_write_fails: bool,
}

fn setup(h: &[u8; HEADER]) -> Setup {
    let (c0, c1, c2, c3, c4) = (h[0], h[1], h[2], h[3], h[4]);
    let tls = match c0 & 3 {
        0 => TlsMode::None,
        1 => TlsMode::StartTls,
        2 => TlsMode::Required,
        _ => TlsMode::Implicit,
    };
    let username = match (c4 >> 5) & 3 {
        0 => "user",
        1 => "us\u{e9}r\u{00df}",
        2 => "a,b=c",
        _ => "bad\u{7}name",
    };
    let credentials = Credentials {
        username: username.to_owned(),
        secret: Secret::new(SECRET),
        authzid: (c4 & 1 != 0).then(|| "admin".to_owned()),
    };
    let allow_plaintext = c0 & 0x10 != 0;
    let auth = match (c0 >> 2) & 3 {
        0 => None,
        1 => Some(AuthConfig {
            credentials,
            token: false,
            mechanisms: None,
            allow_plaintext,
        }),
        2 => Some(AuthConfig {
            credentials,
            token: true,
            mechanisms: None,
            allow_plaintext,
        }),
        _ => {
            let mut list: Vec<String> = MECHANISMS
                .iter()
                .enumerate()
                .filter(|(i, _)| c3 & (1 << i) != 0)
                .map(|(_, m)| (*m).to_owned())
                .collect();
            if list.is_empty() {
                list.push(" x-unknown ".to_owned());
            }
            Some(AuthConfig {
                credentials,
                token: c3 & 1 != 0,
                mechanisms: Some(list),
                allow_plaintext,
            })
        }
    };
    let recipients: Vec<String> = match c1 & 3 {
        0 => vec!["b@y.test".into()],
        1 => vec!["b@y.test".into(), "c@z.test".into()],
        2 => vec!["b@y.test".into(), "\"c d\"@z.test".into(), "e@[192.0.2.1]".into()],
        _ => vec!["b@y.test".into(), "j\u{fc}rgen@\u{e9}x.test".into()],
    };
    let port = if c1 & 0x80 != 0 { 465 } else { 25 };
    let servers = (0..if c1 & 4 != 0 { 2 } else { 1 })
        .map(|i| ServerAddr {
            host: format!("mx{i}.test"),
            port,
        })
        .collect();
    let policy: postie_smtp::TlsPolicy = match (c1 >> 3) & 3 {
        1 => Arc::new(|_: &TlsProblem<'_>| TlsDecision::Insecure),
        2 => Arc::new(|_: &TlsProblem<'_>| TlsDecision::Secure),
        _ => Arc::new(postie_smtp::tls::default_policy),
    };
    let timeouts = Timeouts {
        deadline: (c1 & 0x20 != 0).then(|| Duration::from_secs(120)),
        ..Timeouts::default()
    };
    let mut settings = TransportSettings::default();
    settings.at_least_one = c0 & 0x40 != 0;
    settings.queue = c0 & 0x80 != 0;
    settings.pipelining = c4 & 0x20 != 0;
    settings.chunking = c3 & 0x80 != 0;
    settings.require_tls = c3 & 0x40 != 0 && c0 & 0x10 != 0;
    settings.lmtp = c3 & 0x20 != 0 && c0 & 0x08 != 0;
    let reverse_path = if c1 & 3 == 2 { "" } else { "a@x.test" };
    let mut config = Config::new(
        servers,
        "client.test",
        reverse_path,
        recipients,
        Arc::new(settings),
    );
    config.size = (c1 & 0x40 != 0).then_some(1000);
    config.measure_on_demand = c1 & 0x40 == 0 && c2 & 0x20 != 0;
    config.eight_bit = c1 & 0x08 != 0;
    // With 8-bit data, the harness plays a driver whose transforms make a
    // 7-bit form (of unknown size) at every attempt.
    config.transform = c1 & 0x08 != 0;
    config.timeouts = timeouts;
    config.tls = tls;
    config.policy = policy;
    config.auth = auth;
    config.trace = c4 & 2 != 0;
    config.keep_open = c4 & 0x40 != 0;
    config.binary = c2 & 0x40 != 0;
    config.repaired = c2 & 0x80 != 0;
    config.dsn = (c4 & 0x80 != 0).then(|| postie_smtp::dsn::Dsn {
        ret: Some(postie_smtp::dsn::Ret::Headers),
        envid: Some("id+1=x".to_owned()),
        notify: vec![postie_smtp::dsn::Notify::parse("success,delay").ok()],
        orcpt: true,
    });
    Setup {
        config,
        loopback: c0 & 0x20 != 0,
        tls_fail_bits: c2,
        chaos: c4 & 4 != 0,
        first_connect_fails: c4 & 8 != 0,
        body_write_fails: c4 & 0x10 != 0,
        measure_fails: c2 & 0x10 != 0,
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() < HEADER {
        return;
    }
    let (header, server) = data.split_at(HEADER);
    let header: &[u8; HEADER] = header.try_into().unwrap();
    let server = &server[..server.len().min(MAX_SERVER_BYTES)];
    let plan = &header[5..13];
    let s = setup(header);
    let tls_mode = s.config.tls;
    let auth = s.config.auth.clone();
    let trace = s.config.trace;

    let t0 = Instant::now();
    let mut now = t0;
    let next_config = s.config.clone();
    let mut messages = 1usize;
    let mut d = match Delivery::new(s.config, now) {
        Ok(d) => d,
        Err(e) => panic!("harness: config refused: {e}"),
    };

    let mut pos = 0usize;
    let mut reads = 0usize;
    let mut handshakes = 0usize;
    let mut connects = 0usize;
    let mut body_attempts = 0usize;
    let mut body_written = false;
    let mut done = false;

    for _ in 0..MAX_STEPS {
        match d.poll(now) {
            Step::Connect { .. } => {
                connects += 1;
                if s.first_connect_fails && connects == 1 {
                    let error = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
                    d.handle_connect_failed(now, Cause::Connect(error));
                } else {
                    d.handle_connected(now, s.loopback);
                }
            }
            Step::Write { timeout } => {
                assert!(timeout <= Duration::from_secs(600));
                if s.chaos {
                    match (reads + connects) % 6 {
                        0 => d.handle_tls_established(now, tls_info()),
                        1 => d.handle_tls_failed(now, tls_error()),
                        2 => d.handle_body_written(now),
                        3 => d.handle_connected(now, s.loopback),
                        4 => d.handle_connect_failed(now, Cause::Closed),
                        _ => {}
                    }
                }
                let out = d.take_output();
                if out.is_empty() {
                    // Chaos may have failed the connection and dropped
                    // what was queued.
                    assert!(s.chaos, "Step::Write with nothing to write");
                    continue;
                }
                if debug() {
                    eprint!("C: {}", String::from_utf8_lossy(&out));
                }
                check_output(&out);
                let sends_auth = out.starts_with(b"AUTH ");
                let sends_mail = out.starts_with(b"MAIL FROM:");
                if sends_mail && auth.is_some() {
                    assert!(
                        d.authenticated().is_some(),
                        "MAIL FROM before authentication: {:?}",
                        String::from_utf8_lossy(&out)
                    );
                }
                if (sends_auth || sends_mail)
                    && matches!(tls_mode, TlsMode::Required | TlsMode::Implicit)
                {
                    assert!(
                        d.tls().is_some(),
                        "{:?} outside TLS although TLS is {tls_mode:?}",
                        String::from_utf8_lossy(&out)
                    );
                }
                if sends_auth && d.tls().is_none() && !s.loopback {
                    let name = out[5..]
                        .split(|&b| b == b' ' || b == b'\r')
                        .next()
                        .unwrap_or_default();
                    let name = String::from_utf8_lossy(name);
                    if postie_smtp::sasl::is_plaintext_equivalent(&name) {
                        assert!(
                            auth.as_ref().is_some_and(|a| a.allow_plaintext),
                            "AUTH {name} in clear to another host"
                        );
                    }
                }
            }
            Step::Read { timeout } => {
                let p = plan[reads % plan.len()];
                reads += 1;
                if pos >= server.len() {
                    d.handle_eof(now);
                } else if p >= 0xE0 {
                    match p & 3 {
                        0 => d.handle_eof(now),
                        1 => now += timeout,
                        2 => d.handle_timeout(now),
                        _ => d.handle_io_error(now, std::io::Error::other("connection reset")),
                    }
                } else {
                    now += Duration::from_secs(u64::from((p >> 2) & 7));
                    let end = match p & 3 {
                        0 | 1 => chunk_end(server, pos, true),
                        2 => chunk_end(server, pos, false),
                        _ => (pos + usize::from(p >> 2) + 1).min(server.len()),
                    };
                    if debug() {
                        eprint!("S: {}", String::from_utf8_lossy(&server[pos..end]));
                    }
                    d.handle_input(now, &server[pos..end]);
                    pos = end;
                }
            }
            Step::StartTls { server_name, .. } => {
                assert!(!server_name.is_empty());
                let fails = s.tls_fail_bits & (1 << (handshakes % 8)) != 0;
                handshakes += 1;
                if fails {
                    d.handle_tls_failed(now, tls_error());
                } else {
                    d.handle_tls_established(now, tls_info());
                }
            }
            Step::WriteBody { .. } => {
                body_attempts += 1;
                if s.body_write_fails && body_attempts == 1 {
                    d.handle_io_error(now, std::io::Error::other("broken pipe"));
                } else {
                    body_written = true;
                    d.handle_body_written(now);
                }
            }
            Step::Transform { .. } => {
                let mut wire = Wire::new(
                    next_config.reverse_path.clone(),
                    next_config.recipients.clone(),
                    Content::default(),
                    None,
                );
                if s.measure_fails && s.chaos {
                    d.handle_transform_failed(now, TransformError::new("fuzz", "key unreadable"));
                } else {
                    if s.chaos && s.body_write_fails {
                        // A transform's unsafe path must fail the message,
                        // never reach the wire.
                        wire.reverse_path.push_str("\r\nRSET");
                    }
                    d.handle_transformed(now, wire);
                }
            }
            Step::Measure => {
                if s.measure_fails {
                    d.handle_measure_failed(now, std::io::Error::other("file changed"));
                } else {
                    d.handle_measured(now, 4321);
                }
            }
            Step::ProbeTls { timeout, .. } => {
                // A silent greeting: the side connection answers TLS or
                // not, after some of its time.
                now += timeout / 2;
                d.handle_tls_probed(now, s.tls_fail_bits & 0x80 != 0);
            }
            Step::Close => {}
            Step::Done => {
                // A kept connection: take this message's result and send
                // another on it (up to three per run).
                if d.is_idle() && messages < 3 {
                    messages += 1;
                    if d.take_result().is_ok() {
                        assert!(body_written, "a success without the body written");
                    }
                    body_written = false;
                    d.next_message(next_config.clone(), now)
                        .unwrap_or_else(|e| panic!("next message refused: {e}"));
                    continue;
                }
                done = true;
                break;
            }
            other => panic!("harness: unknown step {other:?}"),
        }
        if trace {
            while let Some(line) = d.poll_trace() {
                let text = line.to_string();
                if line.kind == TraceKind::Sent {
                    assert!(!text.contains(SECRET), "secret in the trace");
                }
            }
        }
    }
    assert!(done, "no Step::Done within {MAX_STEPS} steps");
    assert_eq!(d.poll(now), Step::Done, "Done is not final");
    let _ = format!("{d:?}");
    let result = d.into_result();
    if debug() {
        match &result {
            Ok(sent) => eprintln!("=> sent: {}", sent.reply()),
            Err(e) => eprintln!("=> error: {e}"),
        }
    }
    match result {
        Ok(sent) => {
            assert!(body_written, "a success without the body written");
            let _ = (format!("{sent:?}"), sent.reply().to_string(), sent.queue_id());
            assert!(!sent.accepted().is_empty(), "a success with no recipient accepted");
            if auth.is_some() {
                assert!(sent.auth().is_some(), "a success without authenticating");
            }
            if matches!(tls_mode, TlsMode::Required | TlsMode::Implicit) {
                assert!(sent.tls().is_some(), "a success outside TLS although TLS is {tls_mode:?}");
            }
        }
        Err(e) => {
            let _ = e.to_string();
            let _ = (e.stage(), e.code(), e.reply(), e.is_temporary(), e.outcome());
        }
    }
});
