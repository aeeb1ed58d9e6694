//! mail-send's client for the throughput benchmark; the interface is in
//! `postie_bench::throughput` (shared with postie-bench and lettre-bench).
//!
//! mail-send is tokio-only: `--driver tokio` is required (the default,
//! `blocking`, exits 3). C tasks on a 2-worker runtime, each with one
//! `SmtpClient` connected once (plain, no STARTTLS) and reused for its
//! share: `send` runs MAIL, RCPT and DATA one command at a time (no
//! pipelining) and a completed transaction needs no RSET; after a failure
//! the task sends RSET before the next message. Messages are built with
//! mail-builder (mail-send's own re-export, the same 0.4 crate as the
//! bench's). `--attach` reads the whole file (no streaming). No extra
//! switches.

use std::time::{Duration, Instant};

use mail_send::mail_builder::MessageBuilder;
use mail_send::SmtpClientBuilder;
use postie_bench::throughput::{self, body_text, Args, FROM, TO};
use tokio::io::{AsyncRead, AsyncWrite};

const BIN: &str = "mail-send-bench";

fn main() {
    let args = Args::from_env(BIN);
    if let Some(extra) = args.extra.first() {
        throughput::unsupported(BIN, extra);
    }
    if args.build_only {
        build_only(&args);
    }
    if args.driver != "tokio" {
        throughput::unsupported(
            BIN,
            &format!(
                "--driver {} (mail-send has only a tokio client)",
                args.driver
            ),
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail(&format!("tokio: {e}")));
    if let Some(file) = &args.attach {
        attach(&args, &runtime, file);
    }
    tokio_driver(&args, &runtime)
}

fn fail(what: &str) -> ! {
    eprintln!("{BIN}: {what}");
    std::process::exit(throughput::EXIT_FAILED);
}

fn client_builder(args: &Args) -> SmtpClientBuilder<String> {
    SmtpClientBuilder::new(args.host.clone(), args.port)
        .implicit_tls(false)
        .timeout(Duration::from_secs(60))
}

/// Message `n`: From, To, Subject, Date, Message-ID and a text body of
/// exactly `body` (mail-builder picks 7bit for it: ASCII, short lines).
fn message(n: u64, body: &str) -> MessageBuilder<'_> {
    MessageBuilder::new()
        .from(FROM)
        .to(TO)
        .subject(format!("mail-send bench {n}"))
        .date(postie_bench::DATE_UNIX)
        .message_id(format!("{n}.bench@example.org"))
        .text_body(body)
}

/// Sends `share` messages on `client`: (sent, failed), printing the first
/// failure when `first` is set.
async fn send_share<T: AsyncRead + AsyncWrite + Unpin>(
    client: &mut mail_send::SmtpClient<T>,
    share: u64,
    body: &str,
    stop: Option<Instant>,
    first: &std::sync::atomic::AtomicBool,
) -> (u64, u64) {
    let (mut sent, mut failed) = (0u64, 0u64);
    for n in 0..share {
        if stop.is_some_and(|s| Instant::now() >= s) {
            break;
        }
        match client.send(message(n, body)).await {
            Ok(()) => sent += 1,
            Err(e) => {
                if !first.swap(true, std::sync::atomic::Ordering::Relaxed) {
                    eprintln!("{BIN}: {e}");
                }
                failed += 1;
                // Leave the transaction the failure may have left open.
                let _ = client.rset().await;
            }
        }
    }
    (sent, failed)
}

fn tokio_driver(args: &Args, runtime: &tokio::runtime::Runtime) -> ! {
    let body = std::sync::Arc::new(body_text(args.size, 1));
    let first = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let start = Instant::now();
    let stop = args.stop_at(start);
    let (sent, failed) = runtime.block_on(async {
        let mut tasks = Vec::new();
        for index in 0..args.connections {
            let share = args.share(index);
            let (body, first) = (body.clone(), first.clone());
            let builder = client_builder(args);
            tasks.push(tokio::spawn(async move {
                let mut client = match builder.connect_plain().await {
                    Ok(client) => client,
                    Err(e) => {
                        if !first.swap(true, std::sync::atomic::Ordering::Relaxed) {
                            eprintln!("{BIN}: {e}");
                        }
                        return (0, share);
                    }
                };
                let result = send_share(&mut client, share, &body, stop, &first).await;
                let _ = client.quit().await;
                result
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

fn attach(args: &Args, runtime: &tokio::runtime::Runtime, file: &std::path::Path) -> ! {
    let start = Instant::now();
    // mail-builder takes the attachment as bytes in memory: no streaming.
    let bytes = std::fs::read(file).unwrap_or_else(|e| fail(&format!("{}: {e}", file.display())));
    let name = file.file_name().map_or_else(
        || "attachment".to_owned(),
        |n| n.to_string_lossy().into_owned(),
    );
    let message = MessageBuilder::new()
        .from(FROM)
        .to(TO)
        .subject("mail-send bench attachment")
        .date(postie_bench::DATE_UNIX)
        .text_body(body_text(args.size, 2))
        .attachment("application/octet-stream", name, bytes);
    let result = runtime.block_on(async {
        let mut client = client_builder(args).connect_plain().await?;
        client.send(message).await?;
        client.quit().await
    });
    match result {
        Ok(()) => throughput::finish(1, 0, start),
        Err(e) => {
            eprintln!("{BIN}: {e}");
            throughput::finish(0, 1, start)
        }
    }
}

fn build_only(args: &Args) -> ! {
    throughput::build_only(BIN, args, postie_bench::mail_builder)
}
