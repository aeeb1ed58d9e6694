//! mail-send's client for the throughput benchmark; the interface is in
//! `postie_bench::throughput` (shared with postie-bench and lettre-bench).
//!
//! mail-send 0.7 is tokio-only: `--driver tokio` is the default and the
//! only driver (`blocking` exits 3). C tasks on a 2-worker runtime, each
//! with one `SmtpClient` connected once and reused for its share: `send`
//! runs MAIL, RCPT and DATA one command at a time (no pipelining) and a
//! completed transaction needs no RSET; after a failure the task sends RSET
//! before the next message. Every message is built with mail-builder 2.x
//! (mail-send's own re-export), which adds a fresh Date and Message-ID as
//! it writes, and sent with the bench's envelope. `--attach` reads the
//! whole file (no streaming). With `--tls starttls`: STARTTLS (mail-send
//! requires it when TLS is not implicit), the CA file as the only root,
//! then AUTH with the mechanisms the server offers (the W6 listener offers
//! PLAIN alone). No extra switches.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mail_send::mail_builder::MessageBuilder;
use mail_send::smtp::message::Message;
use mail_send::{Credentials, SmtpClient, SmtpClientBuilder};
use postie_bench::throughput::{self, Args};
use postie_bench::{
    text_body, text_subject, BENCH_FROM_ADDR, BENCH_FROM_NAME, BENCH_TO_ADDR, BENCH_TO_NAME,
    ENVELOPE_FROM, ENVELOPE_TO,
};
use tokio::io::{AsyncRead, AsyncWrite};

const BIN: &str = "mail-send-bench";

fn main() {
    let args = Args::from_env(BIN);
    if let Some(extra) = args.extra.first() {
        throughput::unsupported(BIN, extra);
    }
    if args.build_only {
        throughput::build_only(BIN, &args, postie_bench::mail_builder_w5);
    }
    let driver = args.driver_or("tokio");
    if driver != "tokio" {
        throughput::unsupported(
            BIN,
            &format!("--driver {driver} (mail-send has only a tokio client)"),
        );
    }
    let tls = args.tls(BIN);
    let config = match &tls {
        Some(tls) => throughput::rustls_config(&tls.ca_file).unwrap_or_else(|e| fail(&e)),
        // Never used: the plain runs call connect_plain.
        None => no_roots(),
    };
    let mut builder = SmtpClientBuilder::new_with_tls_connector(
        args.host.clone(),
        args.port,
        tokio_rustls::TlsConnector::from(config),
    )
    .implicit_tls(false)
    .timeout(Duration::from_secs(60));
    if let Some(login) = tls.as_ref().and_then(|t| t.login.clone()) {
        builder = builder.credentials(Credentials::new(login.username, login.password));
    }
    let setup = Setup {
        builder,
        tls: tls.is_some(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail(&format!("tokio: {e}")));
    if let Some(file) = &args.attach {
        attach(&args, &runtime, &setup, file);
    }
    tokio_driver(&args, &runtime, Arc::new(setup))
}

fn fail(what: &str) -> ! {
    throughput::fail(BIN, what)
}

fn no_roots() -> Arc<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap_or_else(|e| fail(&e.to_string()))
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    Arc::new(config)
}

struct Setup {
    builder: SmtpClientBuilder<String>,
    tls: bool,
}

/// Message `n`, built from scratch with mail-builder (the spec's From and
/// To, Subject, the text body borrowed; Date and Message-ID added by
/// mail-builder) and written out, with the bench's envelope.
fn message(n: u64, body: &str) -> Result<Message<'static>, std::io::Error> {
    let bytes = MessageBuilder::new()
        .from((BENCH_FROM_NAME, BENCH_FROM_ADDR))
        .to((BENCH_TO_NAME, BENCH_TO_ADDR))
        .subject(text_subject(n))
        .text_body(body)
        .write_to_vec()?;
    Ok(Message::new(ENVELOPE_FROM, [ENVELOPE_TO], bytes))
}

/// Sends messages `numbers` on `client`: (sent, failed), printing the
/// first failure.
async fn send_share<T: AsyncRead + AsyncWrite + Unpin>(
    client: &mut SmtpClient<T>,
    numbers: std::ops::RangeInclusive<u64>,
    body: &str,
    stop: Option<Instant>,
    failed: &AtomicU64,
) -> u64 {
    let mut sent = 0u64;
    for n in numbers {
        if stop.is_some_and(|s| Instant::now() >= s) {
            break;
        }
        let result = match message(n, body) {
            Ok(m) => client.send(m).await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match result {
            Ok(_) => sent += 1,
            Err(e) => {
                throughput::failure(BIN, failed, &e);
                // Leave the transaction the failure may have left open.
                let _ = client.rset().await;
            }
        }
    }
    sent
}

/// One connection's work: connect (plain, or STARTTLS and AUTH), send its
/// share, QUIT.
async fn connection(
    setup: &Setup,
    numbers: std::ops::RangeInclusive<u64>,
    body: &str,
    stop: Option<Instant>,
    failed: &AtomicU64,
) -> u64 {
    let count = numbers.clone().count() as u64;
    let refused = |e: &dyn std::fmt::Display| {
        throughput::failure(BIN, failed, e);
        failed.fetch_add(count.saturating_sub(1), Ordering::Relaxed);
        0
    };
    if setup.tls {
        match setup.builder.connect().await {
            Ok(mut client) => {
                let sent = send_share(&mut client, numbers, body, stop, failed).await;
                let _ = client.quit().await;
                sent
            }
            Err(e) => refused(&e),
        }
    } else {
        match setup.builder.connect_plain().await {
            Ok(mut client) => {
                let sent = send_share(&mut client, numbers, body, stop, failed).await;
                let _ = client.quit().await;
                sent
            }
            Err(e) => refused(&e),
        }
    }
}

fn tokio_driver(args: &Args, runtime: &tokio::runtime::Runtime, setup: Arc<Setup>) -> ! {
    let body = Arc::new(text_body(args.size));
    let failed = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let stop = args.stop_at(start);
    let sent = runtime.block_on(async {
        let mut tasks = Vec::new();
        for index in 0..args.connections {
            let (body, failed, setup) = (body.clone(), failed.clone(), setup.clone());
            let numbers = args.numbers(index);
            tasks.push(tokio::spawn(async move {
                connection(&setup, numbers, &body, stop, &failed).await
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

/// W4: the text body and FILE as a base64 attachment, one message.
/// mail-builder takes the attachment as bytes in memory: no streaming.
fn attach(
    args: &Args,
    runtime: &tokio::runtime::Runtime,
    setup: &Setup,
    file: &std::path::Path,
) -> ! {
    let start = Instant::now();
    let bytes = std::fs::read(file).unwrap_or_else(|e| fail(&format!("{}: {e}", file.display())));
    let name = file.file_name().map_or_else(
        || "attachment".to_owned(),
        |n| n.to_string_lossy().into_owned(),
    );
    let text = text_body(args.size);
    let built = MessageBuilder::new()
        .from((BENCH_FROM_NAME, BENCH_FROM_ADDR))
        .to((BENCH_TO_NAME, BENCH_TO_ADDR))
        .subject(text_subject(1))
        .text_body(text.as_str())
        .attachment("application/octet-stream", name, bytes)
        .write_to_vec()
        .unwrap_or_else(|e| fail(&e.to_string()));
    let message = Message::new(ENVELOPE_FROM, [ENVELOPE_TO], built);
    let failed = AtomicU64::new(0);
    if setup.tls {
        throughput::unsupported(BIN, "--attach with --tls");
    }
    let sent = runtime.block_on(async {
        match setup.builder.connect_plain().await {
            Ok(mut client) => {
                let result = client.send(message).await;
                let _ = client.quit().await;
                match result {
                    Ok(_) => 1,
                    Err(e) => {
                        throughput::failure(BIN, &failed, &e);
                        0
                    }
                }
            }
            Err(e) => {
                throughput::failure(BIN, &failed, &e);
                0
            }
        }
    });
    throughput::finish(args, sent, failed.load(Ordering::Relaxed), 1, start)
}
