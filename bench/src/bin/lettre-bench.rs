//! lettre's client for the throughput benchmark; the interface is in
//! `postie_bench::throughput` (shared with postie-bench and mail-send-bench).
//!
//! `--driver blocking`: one `SmtpTransport` with lettre's connection pool
//! (max_size C) shared by C threads; `--driver tokio`: one
//! `AsyncSmtpTransport<Tokio1Executor>` with the same pool shared by C tasks
//! on a 2-worker runtime. lettre neither pipelines nor streams: `--attach`
//! reads the whole file first. No extra switches.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use lettre::message::header::{ContentTransferEncoding, ContentType, MIME_VERSION_1_0};
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::PoolConfig;
use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, SmtpTransport, Tokio1Executor, Transport,
};
use postie_bench::throughput::{self, body_text, Args, FROM, TO};

const BIN: &str = "lettre-bench";

/// The fixed Date of every message: Tue, 01 Jul 2025 10:00:00 +0000.
fn date() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(postie_bench::DATE_UNIX as u64)
}

fn main() {
    let args = Args::from_env(BIN);
    if let Some(extra) = args.extra.first() {
        throughput::unsupported(BIN, extra);
    }
    if args.build_only {
        build_only(&args);
    }
    if args.driver != "blocking" && args.driver != "tokio" {
        throughput::unsupported(BIN, &format!("--driver {}", args.driver));
    }
    let (from, to) = match (FROM.parse::<Mailbox>(), TO.parse::<Mailbox>()) {
        (Ok(from), Ok(to)) => (from, to),
        _ => fail("bad FROM or TO"),
    };
    if let Some(file) = &args.attach {
        attach(&args, from, to, file);
    }
    match args.driver.as_str() {
        "blocking" => blocking(&args, &from, &to),
        _ => tokio_driver(&args, &from, &to),
    }
}

fn fail(what: &str) -> ! {
    eprintln!("{BIN}: {what}");
    std::process::exit(throughput::EXIT_FAILED);
}

/// A 7bit text/plain part of exactly `body`, for the attachment message
/// (lettre would pick the encoding itself without the explicit
/// Content-Transfer-Encoding; it picks 7bit for these bodies anyway).
fn text_part(body: String) -> SinglePart {
    SinglePart::builder()
        .header(ContentType::TEXT_PLAIN)
        .header(ContentTransferEncoding::SevenBit)
        .body(body)
}

/// Message `n`: From, To, Subject, Date, Message-ID, MIME-Version and a
/// 7bit text/plain body of exactly `body`. A raw `body()` rather than a
/// `singlepart()`: lettre formats a single part with an extra CRLF after
/// the body.
fn message(n: u64, from: &Mailbox, to: &Mailbox, body: &str) -> Message {
    Message::builder()
        .from(from.clone())
        .to(to.clone())
        .subject(format!("lettre bench {n}"))
        .date(date())
        .message_id(Some(format!("<{n}.bench@example.org>")))
        .header(MIME_VERSION_1_0)
        .header(ContentType::TEXT_PLAIN)
        .header(ContentTransferEncoding::SevenBit)
        .body(body.to_owned())
        .expect("lettre bench message")
}

fn pool(args: &Args) -> PoolConfig {
    PoolConfig::new().max_size(u32::try_from(args.connections).unwrap_or(u32::MAX))
}

/// Counts a failure, printing the first one.
fn failure(failed: &AtomicU64, e: &dyn std::fmt::Display) {
    if failed.fetch_add(1, Ordering::Relaxed) == 0 {
        eprintln!("{BIN}: {e}");
    }
}

fn blocking(args: &Args, from: &Mailbox, to: &Mailbox) -> ! {
    let transport = SmtpTransport::builder_dangerous(args.host.as_str())
        .port(args.port)
        .timeout(Some(Duration::from_secs(60)))
        .pool_config(pool(args))
        .build();
    let body = body_text(args.size, 1);
    let sent = AtomicU64::new(0);
    let failed = AtomicU64::new(0);
    let start = Instant::now();
    let stop = args.stop_at(start);
    std::thread::scope(|scope| {
        for index in 0..args.connections {
            let share = args.share(index);
            let (transport, body, sent, failed) = (&transport, &body, &sent, &failed);
            scope.spawn(move || {
                for n in 0..share {
                    if stop.is_some_and(|s| Instant::now() >= s) {
                        break;
                    }
                    match transport.send(&message(n, from, to, body)) {
                        Ok(_) => {
                            sent.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => failure(failed, &e),
                    }
                }
            });
        }
    });
    // QUIT on the pooled connections.
    transport.shutdown();
    throughput::finish(
        sent.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed),
        start,
    )
}

fn runtime(multi_thread: bool) -> tokio::runtime::Runtime {
    let built = if multi_thread {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    };
    built.unwrap_or_else(|e| fail(&format!("tokio: {e}")))
}

fn tokio_driver(args: &Args, from: &Mailbox, to: &Mailbox) -> ! {
    let runtime = runtime(true);
    let body = body_text(args.size, 1);
    let start = Instant::now();
    let stop = args.stop_at(start);
    let (sent, failed) = runtime.block_on(async {
        // Built inside the runtime: the pool spawns its cleanup task.
        let transport: AsyncSmtpTransport<Tokio1Executor> =
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(args.host.as_str())
                .port(args.port)
                .timeout(Some(Duration::from_secs(60)))
                .pool_config(pool(args))
                .build();
        let failed = std::sync::Arc::new(AtomicU64::new(0));
        let mut tasks = Vec::new();
        for index in 0..args.connections {
            let share = args.share(index);
            let (transport, body, failed) = (transport.clone(), body.clone(), failed.clone());
            let (from, to) = (from.clone(), to.clone());
            tasks.push(tokio::spawn(async move {
                let mut sent = 0u64;
                for n in 0..share {
                    if stop.is_some_and(|s| Instant::now() >= s) {
                        break;
                    }
                    match transport.send(message(n, &from, &to, &body)).await {
                        Ok(_) => sent += 1,
                        Err(e) => failure(&failed, &e),
                    }
                }
                sent
            }));
        }
        let mut sent = 0;
        for task in tasks {
            match task.await {
                Ok(s) => sent += s,
                Err(e) => failure(&failed, &e),
            }
        }
        transport.shutdown().await;
        (sent, failed.load(Ordering::Relaxed))
    });
    throughput::finish(sent, failed, start)
}

fn attach(args: &Args, from: Mailbox, to: Mailbox, file: &std::path::Path) -> ! {
    let start = Instant::now();
    // lettre takes the attachment as bytes in memory: no streaming.
    let bytes = std::fs::read(file).unwrap_or_else(|e| fail(&format!("{}: {e}", file.display())));
    let name = file.file_name().map_or_else(
        || "attachment".to_owned(),
        |n| n.to_string_lossy().into_owned(),
    );
    let content_type = ContentType::parse("application/octet-stream").expect("content type");
    let text = text_part(body_text(args.size, 2));
    let built = Message::builder()
        .from(from)
        .to(to)
        .subject("lettre bench attachment")
        .date(date())
        .multipart(
            MultiPart::mixed()
                .singlepart(text)
                .singlepart(Attachment::new(name).body(bytes, content_type)),
        );
    let message = built.unwrap_or_else(|e| fail(&e.to_string()));
    let result = if args.driver == "tokio" {
        runtime(false).block_on(async {
            let transport: AsyncSmtpTransport<Tokio1Executor> =
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(args.host.as_str())
                    .port(args.port)
                    .timeout(Some(Duration::from_secs(60)))
                    .build();
            let result = transport.send(message).await;
            transport.shutdown().await;
            result
        })
    } else {
        let transport = SmtpTransport::builder_dangerous(args.host.as_str())
            .port(args.port)
            .timeout(Some(Duration::from_secs(60)))
            .build();
        let result = transport.send(&message);
        transport.shutdown();
        result
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
    throughput::build_only(BIN, args, postie_bench::lettre)
}
