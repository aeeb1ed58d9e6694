//! postie's client for the throughput benchmark; the interface is in
//! `postie_bench::throughput` (shared with the peers' binaries).
//!
//! `--driver blocking` (the default): one `blocking::Session` per
//! connection, each on its own thread; `--driver tokio`: one
//! `async_tokio::Session` per connection, each a task on a 2-worker
//! runtime. Every message is built with postie's `MessageBuilder` (a fresh
//! Date and Message-ID from postie's own functions) and serialized by the
//! session as it sends.
//!
//! Extra switches: `--no-chunking` (DATA even where CHUNKING is offered),
//! `--no-pipelining`, and for servers that take mail only for their own
//! domain (bench/pipelining.sh's interop servers) `--mail-from=ADDR` and
//! `--rcpt-to=ADDR`, the envelope instead of the spec's; `--pool-rate=R`
//! (bench/rate_limit.sh): one `blocking::Pool` of C connections shared by C
//! threads, limited to R messages a second.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use postie_bench::throughput::{self, Args};
use postie_bench::{
    postie_date_now, postie_message_id, text_body, text_subject, BENCH_FROM, BENCH_TO,
    ENVELOPE_FROM, ENVELOPE_TO,
};
use postie_mime::builder::MessageBuilder;
use postie_mime::Message;
use postie_smtp::{Credentials, SendOptions, TlsMode, TlsSettings};

const BIN: &str = "postie-bench";

fn main() {
    let args = Args::from_env(BIN);
    let mut chunking = true;
    let mut pipelining = true;
    let mut mail_from = ENVELOPE_FROM.to_owned();
    let mut rcpt_to = ENVELOPE_TO.to_owned();
    let mut pool_rate: Option<u32> = None;
    for extra in &args.extra {
        match extra.as_str() {
            "--no-chunking" => chunking = false,
            "--no-pipelining" => pipelining = false,
            other => {
                if let Some(from) = other.strip_prefix("--mail-from=") {
                    mail_from = from.to_owned();
                } else if let Some(to) = other.strip_prefix("--rcpt-to=") {
                    rcpt_to = to.to_owned();
                } else if let Some(rate) = other.strip_prefix("--pool-rate=") {
                    pool_rate = Some(rate.parse().unwrap_or_else(|_| {
                        throughput::fail(BIN, &format!("--pool-rate={rate}: not a number"))
                    }));
                } else {
                    throughput::unsupported(BIN, other);
                }
            }
        }
    }
    if args.build_only {
        throughput::build_only(BIN, &args, postie_bench::postie_w5);
    }
    let driver = args.driver_or("blocking");
    if driver != "blocking" && driver != "tokio" {
        throughput::unsupported(BIN, &format!("--driver {driver}"));
    }
    let mut options = SendOptions::new()
        .servers([args.host.clone()])
        .ports([args.port])
        .originator(mail_from)
        .recipients(rcpt_to)
        .timeout(Duration::from_secs(60))
        .chunking(chunking)
        .pipelining(pipelining);
    options = match args.tls(BIN) {
        // Plain SMTP, as the peers' plain clients.
        None => options.tls_mode(TlsMode::None),
        Some(tls) => {
            let settings = TlsSettings {
                ca_files: vec![tls.ca_file],
                ..TlsSettings::default()
            };
            let options = options.tls_mode(TlsMode::Required).tls_settings(settings);
            match tls.login {
                Some(login) => options
                    .credentials(Credentials::new(login.username, login.password))
                    .auth_mechanisms(["PLAIN"]),
                None => options,
            }
        }
    };
    if let Some(file) = &args.attach {
        attach(&args, driver == "tokio", &options, file);
    }
    if let Some(rate) = pool_rate {
        pooled(&args, options, rate)
    } else if driver == "tokio" {
        tokio_driver(&args, &options)
    } else {
        blocking(&args, &options)
    }
}

/// Message `n`, built from scratch: the spec's From and To, its Subject, a
/// fresh Date and Message-ID, the text body (copied: the builder takes an
/// owned String).
fn message(body: &str, n: u64) -> Result<Message, postie_mime::Error> {
    MessageBuilder::new()
        .from(BENCH_FROM)
        .to(BENCH_TO)
        .subject(text_subject(n))
        .header("Date", postie_date_now())
        .header("Message-ID", postie_message_id())
        .text(body.to_owned())
        .build()
}

fn blocking(args: &Args, options: &SendOptions) -> ! {
    // A session per thread; dropping it at the thread's end says QUIT.
    let start = Instant::now();
    let (sent, failed) = on_threads(args, args.stop_at(start), |_| {
        let mut session = postie_smtp::blocking::Session::new(options.clone());
        move |msg: &Message| session.send(msg).map(drop).map_err(|e| e.to_string())
    });
    throughput::finish(args, sent, failed, args.count, start)
}

/// `--pool-rate=R`: C threads share one pool of C connections limited to
/// R messages a second.
fn pooled(args: &Args, options: SendOptions, rate: u32) -> ! {
    let pool = postie_smtp::blocking::Pool::new(options)
        .max_size(args.connections)
        .rate_limit(postie_smtp::blocking::RateLimit::new(
            rate,
            Duration::from_secs(1),
        ));
    let start = Instant::now();
    let (sent, failed) = on_threads(args, None, |_| {
        |msg: &Message| pool.send(msg).map(drop).map_err(|e| e.to_string())
    });
    pool.close_idle();
    throughput::finish(args, sent, failed, args.count, start)
}

/// Sends the run's messages from C threads, thread `index` through the
/// sender `make(index)` gives it (a session of its own, or the shared
/// pool), until `stop` if given; returns how many were sent and failed.
fn on_threads<F, S>(args: &Args, stop: Option<Instant>, make: F) -> (u64, u64)
where
    F: Fn(usize) -> S + Sync,
    S: FnMut(&Message) -> Result<(), String>,
{
    let body = text_body(args.size);
    let sent = AtomicU64::new(0);
    let failed = AtomicU64::new(0);
    std::thread::scope(|scope| {
        for index in 0..args.connections {
            let (body, sent, failed, make) = (&body, &sent, &failed, &make);
            let numbers = args.numbers(index);
            scope.spawn(move || {
                let mut send = make(index);
                for n in numbers {
                    if stop.is_some_and(|s| Instant::now() >= s) {
                        break;
                    }
                    match message(body, n)
                        .map_err(|e| e.to_string())
                        .and_then(|msg| send(&msg))
                    {
                        Ok(()) => {
                            sent.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => throughput::failure(BIN, failed, &e),
                    }
                }
            });
        }
    });
    (sent.into_inner(), failed.into_inner())
}

fn runtime(workers: usize) -> tokio::runtime::Runtime {
    let built = if workers > 1 {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    };
    built.unwrap_or_else(|e| throughput::fail(BIN, &format!("tokio: {e}")))
}

fn tokio_driver(args: &Args, options: &SendOptions) -> ! {
    let runtime = runtime(2);
    let body = std::sync::Arc::new(text_body(args.size));
    let failed = std::sync::Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let stop = args.stop_at(start);
    let sent = runtime.block_on(async {
        let mut tasks = Vec::new();
        for index in 0..args.connections {
            let (body, failed) = (body.clone(), failed.clone());
            let mut session = postie_smtp::async_tokio::Session::new(options.clone());
            let numbers = args.numbers(index);
            tasks.push(tokio::spawn(async move {
                let mut sent = 0u64;
                for n in numbers {
                    if stop.is_some_and(|s| Instant::now() >= s) {
                        break;
                    }
                    let result = match message(&body, n) {
                        Ok(msg) => session.send(&msg).await.map_err(|e| e.to_string()),
                        Err(e) => Err(e.to_string()),
                    };
                    match result {
                        Ok(_) => sent += 1,
                        Err(e) => throughput::failure(BIN, &failed, &e),
                    }
                }
                session.close().await;
                sent
            }));
        }
        let mut sent = 0;
        for task in tasks {
            match task.await {
                Ok(s) => sent += s,
                Err(e) => throughput::failure(BIN, &failed, &e),
            }
        }
        sent
    });
    throughput::finish(
        args,
        sent,
        failed.load(Ordering::Relaxed),
        args.count,
        start,
    )
}

/// W4: the text body and FILE as an attachment (streamed from the file
/// while sending), one message.
fn attach(args: &Args, tokio: bool, options: &SendOptions, file: &std::path::Path) -> ! {
    let start = Instant::now();
    let built = MessageBuilder::new()
        .from(BENCH_FROM)
        .to(BENCH_TO)
        .subject(text_subject(1))
        .header("Date", postie_date_now())
        .header("Message-ID", postie_message_id())
        .text(text_body(args.size))
        .attach_file(file)
        .build();
    let message = built.unwrap_or_else(|e| throughput::fail(BIN, &e.to_string()));
    let result = if tokio {
        runtime(1)
            .block_on(postie_smtp::async_tokio::send(&message, options))
            .map_err(|e| e.to_string())
    } else {
        postie_smtp::send(&message, options).map_err(|e| e.to_string())
    };
    match result {
        Ok(_) => throughput::finish(args, 1, 0, 1, start),
        Err(e) => {
            eprintln!("{BIN}: {e}");
            throughput::finish(args, 0, 1, 1, start)
        }
    }
}
