//! postie's client for the throughput benchmark; the interface is in
//! `postie_bench::throughput` (shared with the peers' binaries).
//!
//! Extra switches: `--no-chunking` (DATA even where CHUNKING is offered),
//! `--no-pipelining`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use postie_bench::throughput::{self, body_text, Args, FROM, TO};
use postie_mime::builder::MessageBuilder;
use postie_mime::Message;
use postie_smtp::SendOptions;

const BIN: &str = "postie-bench";

fn main() {
    let args = Args::from_env(BIN);
    let mut chunking = true;
    let mut pipelining = true;
    for extra in &args.extra {
        match extra.as_str() {
            "--no-chunking" => chunking = false,
            "--no-pipelining" => pipelining = false,
            other => throughput::unsupported(BIN, other),
        }
    }
    if args.build_only {
        build_only(&args);
    }
    let options = SendOptions::new()
        .servers([args.host.clone()])
        .ports([args.port])
        .originator(FROM)
        .recipients(TO)
        .timeout(Duration::from_secs(60))
        .chunking(chunking)
        .pipelining(pipelining);
    if let Some(file) = &args.attach {
        attach(&args, options, file);
    }
    match args.driver.as_str() {
        "blocking" => blocking(&args, &options),
        "tokio" => tokio_driver(&args, &options),
        other => throughput::unsupported(BIN, &format!("--driver {other}")),
    }
}

/// The message every connection sends: From, To, Date and a text body of
/// exactly `size` bytes; [`number`] gives each send its own Subject and
/// Message-ID. One message, renumbered, as a program that sends one text
/// to many would do (mail-send's bench borrows its body the same way),
/// so the loop measures sending, not copying a body per message.
fn message(body: String) -> Message {
    let mut msg = Message::text(body);
    let headers = msg.headers_mut();
    let ok = headers.set("From", FROM).is_ok()
        && headers.set("To", TO).is_ok()
        && headers
            .set("Date", "Tue, 01 Jul 2025 10:00:00 +0000")
            .is_ok();
    assert!(ok, "bench headers");
    msg
}

/// Makes `msg` message number `n`.
fn number(msg: &mut Message, n: u64) -> &Message {
    let headers = msg.headers_mut();
    let ok = headers.set("Subject", &format!("postie bench {n}")).is_ok()
        && headers
            .set("Message-ID", &format!("<{n}.bench@example.org>"))
            .is_ok();
    assert!(ok, "bench headers");
    msg
}

fn blocking(args: &Args, options: &SendOptions) -> ! {
    let body = body_text(args.size, 1);
    let sent = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let stop = args.stop_at(start);
    std::thread::scope(|scope| {
        for index in 0..args.connections {
            let share = args.share(index);
            let (sent, failed) = (Arc::clone(&sent), Arc::clone(&failed));
            let mut msg = message(body.clone());
            let mut session = postie_smtp::blocking::Session::new(options.clone());
            scope.spawn(move || {
                for n in 0..share {
                    if stop.is_some_and(|s| Instant::now() >= s) {
                        break;
                    }
                    match session.send(number(&mut msg, n)) {
                        Ok(_) => sent.fetch_add(1, Ordering::Relaxed),
                        Err(e) => {
                            // The first failure says why; the rest only count.
                            if failed.fetch_add(1, Ordering::Relaxed) == 0 {
                                eprintln!("{BIN}: {e}");
                            }
                            1
                        }
                    };
                }
                session.close();
            });
        }
    });
    throughput::finish(
        sent.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed),
        start,
    )
}

fn tokio_driver(args: &Args, options: &SendOptions) -> ! {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("{BIN}: tokio: {e}");
            std::process::exit(throughput::EXIT_FAILED);
        }
    };
    let body = body_text(args.size, 1);
    let start = Instant::now();
    let stop = args.stop_at(start);
    let (sent, failed) = runtime.block_on(async {
        let mut tasks = Vec::new();
        for index in 0..args.connections {
            let share = args.share(index);
            let mut msg = message(body.clone());
            let mut session = postie_smtp::async_tokio::Session::new(options.clone());
            tasks.push(tokio::spawn(async move {
                let (mut sent, mut failed) = (0u64, 0u64);
                for n in 0..share {
                    if stop.is_some_and(|s| Instant::now() >= s) {
                        break;
                    }
                    match session.send(number(&mut msg, n)).await {
                        Ok(_) => sent += 1,
                        Err(e) => {
                            if failed == 0 {
                                eprintln!("{BIN}: {e}");
                            }
                            failed += 1;
                        }
                    }
                }
                session.close().await;
                (sent, failed)
            }));
        }
        let (mut sent, mut failed) = (0, 0);
        for task in tasks {
            match task.await {
                Ok((s, f)) => {
                    sent += s;
                    failed += f;
                }
                Err(_) => failed += 1,
            }
        }
        (sent, failed)
    });
    throughput::finish(sent, failed, start)
}

fn attach(args: &Args, options: SendOptions, file: &std::path::Path) -> ! {
    if args.driver != "blocking" && args.driver != "tokio" {
        throughput::unsupported(BIN, &format!("--driver {}", args.driver));
    }
    let start = Instant::now();
    let built = MessageBuilder::new()
        .from(FROM)
        .to(TO)
        .subject("postie bench attachment")
        .text(body_text(args.size, 2))
        .attach_file(file)
        .build();
    let message = match built {
        Ok(message) => message,
        Err(e) => {
            eprintln!("{BIN}: {e}");
            std::process::exit(throughput::EXIT_FAILED);
        }
    };
    let result = if args.driver == "tokio" {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string());
        match runtime {
            Ok(runtime) => runtime
                .block_on(postie_smtp::async_tokio::send(&message, &options))
                .map_err(|e| e.to_string()),
            Err(e) => Err(e),
        }
    } else {
        postie_smtp::send(&message, &options).map_err(|e| e.to_string())
    };
    match result {
        Ok(_) => throughput::finish(1, 0, start),
        Err(e) => {
            eprintln!("{BIN}: {e}");
            throughput::finish(0, 1, start)
        }
    }
}

fn build_only(args: &Args) -> ! {
    throughput::build_only(BIN, args, postie_bench::postie)
}
