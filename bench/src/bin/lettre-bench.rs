//! lettre's client for the throughput benchmark; the interface is in
//! `postie_bench::throughput` (shared with postie-bench and mail-send-bench).
//!
//! `--driver blocking` (the default): one `SmtpTransport` with lettre's
//! connection pool (max_size C) shared by C threads; `--driver tokio`: one
//! `AsyncSmtpTransport<Tokio1Executor>` with the same pool shared by C tasks
//! on a 2-worker runtime. Every message is built with lettre's builder
//! (`date` left to lettre, which adds the current time; `message_id(None)`
//! for a fresh one) and formatted by the transport as it sends. lettre
//! neither pipelines nor streams: `--attach` reads the whole file first.
//! With `--tls starttls`: STARTTLS required, the CA file as the only root,
//! AUTH PLAIN. No extra switches.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lettre::address::Envelope;
use lettre::message::header::{ContentType, MIME_VERSION_1_0};
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::transport::smtp::PoolConfig;
use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, SmtpTransport, Tokio1Executor, Transport,
};
use postie_bench::throughput::{self, Args};
use postie_bench::{text_body, text_subject, BENCH_FROM, BENCH_TO, ENVELOPE_FROM, ENVELOPE_TO};

const BIN: &str = "lettre-bench";

fn main() {
    let args = Args::from_env(BIN);
    if let Some(extra) = args.extra.first() {
        throughput::unsupported(BIN, extra);
    }
    if args.build_only {
        throughput::build_only(BIN, &args, postie_bench::lettre_w5);
    }
    let driver = args.driver_or("blocking");
    if driver != "blocking" && driver != "tokio" {
        throughput::unsupported(BIN, &format!("--driver {driver}"));
    }
    let settings = Settings::new(&args);
    if let Some(file) = &args.attach {
        attach(&args, driver == "tokio", &settings, file);
    }
    if driver == "tokio" {
        tokio_driver(&args, &settings)
    } else {
        blocking(&args, &settings)
    }
}

fn fail(what: &str) -> ! {
    throughput::fail(BIN, what)
}

/// How every transport of the run is set up.
struct Settings {
    host: String,
    port: u16,
    pool: PoolConfig,
    tls: Tls,
    credentials: Option<Credentials>,
    envelope: Envelope,
}

impl Settings {
    fn new(args: &Args) -> Self {
        let (tls, credentials) = match args.tls(BIN) {
            None => (Tls::None, None),
            Some(tls) => {
                let pem = std::fs::read(&tls.ca_file)
                    .unwrap_or_else(|e| fail(&format!("{}: {e}", tls.ca_file.display())));
                let ca = Certificate::from_pem(&pem).unwrap_or_else(|e| fail(&e.to_string()));
                let parameters = TlsParameters::builder(args.host.clone())
                    .certificate_store(CertificateStore::None)
                    .add_root_certificate(ca)
                    .build_rustls()
                    .unwrap_or_else(|e| fail(&e.to_string()));
                let credentials = tls
                    .login
                    .map(|login| Credentials::new(login.username, login.password));
                (Tls::Required(parameters), credentials)
            }
        };
        let envelope = Envelope::new(
            Some(ENVELOPE_FROM.parse().expect("envelope sender")),
            vec![ENVELOPE_TO.parse().expect("envelope recipient")],
        )
        .expect("envelope");
        Self {
            host: args.host.clone(),
            port: args.port,
            pool: PoolConfig::new().max_size(u32::try_from(args.connections).unwrap_or(u32::MAX)),
            tls,
            credentials,
            envelope,
        }
    }

    fn blocking(&self) -> SmtpTransport {
        let mut builder = SmtpTransport::builder_dangerous(self.host.as_str())
            .port(self.port)
            .timeout(Some(Duration::from_secs(60)))
            .pool_config(self.pool.clone())
            .tls(self.tls.clone());
        if let Some(credentials) = &self.credentials {
            builder = builder
                .credentials(credentials.clone())
                .authentication(vec![Mechanism::Plain]);
        }
        builder.build()
    }

    fn tokio(&self) -> AsyncSmtpTransport<Tokio1Executor> {
        let mut builder =
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(self.host.as_str())
                .port(self.port)
                .timeout(Some(Duration::from_secs(60)))
                .pool_config(self.pool.clone())
                .tls(self.tls.clone());
        if let Some(credentials) = &self.credentials {
            builder = builder
                .credentials(credentials.clone())
                .authentication(vec![Mechanism::Plain]);
        }
        builder.build()
    }
}

/// Message `n`, built from scratch: the spec's From and To (parsed),
/// Subject, Date (lettre's), a fresh Message-ID, MIME-Version and a
/// text/plain body of exactly `body` (lettre picks its transfer encoding:
/// 7bit for these bodies). A raw `body()` rather than a `singlepart()`:
/// lettre writes a single part with an extra CRLF after the body.
fn message(n: u64, body: &str, envelope: &Envelope) -> Result<Message, String> {
    let from: Mailbox = BENCH_FROM.parse().map_err(|e| format!("From: {e}"))?;
    let to: Mailbox = BENCH_TO.parse().map_err(|e| format!("To: {e}"))?;
    Message::builder()
        .from(from)
        .to(to)
        .subject(text_subject(n))
        .message_id(None)
        .header(MIME_VERSION_1_0)
        .header(ContentType::TEXT_PLAIN)
        .envelope(envelope.clone())
        .body(body.to_owned())
        .map_err(|e| e.to_string())
}

fn blocking(args: &Args, settings: &Settings) -> ! {
    let transport = settings.blocking();
    let body = text_body(args.size);
    let sent = AtomicU64::new(0);
    let failed = AtomicU64::new(0);
    let start = Instant::now();
    let stop = args.stop_at(start);
    std::thread::scope(|scope| {
        for index in 0..args.connections {
            let (transport, body, sent, failed) = (&transport, &body, &sent, &failed);
            let envelope = &settings.envelope;
            let numbers = args.numbers(index);
            scope.spawn(move || {
                for n in numbers {
                    if stop.is_some_and(|s| Instant::now() >= s) {
                        break;
                    }
                    let result = message(n, body, envelope)
                        .and_then(|m| transport.send(&m).map_err(|e| e.to_string()));
                    match result {
                        Ok(_) => {
                            sent.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => throughput::failure(BIN, failed, &e),
                    }
                }
            });
        }
    });
    // QUIT on the pooled connections.
    transport.shutdown();
    throughput::finish(
        args,
        sent.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed),
        args.count,
        start,
    )
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
    built.unwrap_or_else(|e| fail(&format!("tokio: {e}")))
}

fn tokio_driver(args: &Args, settings: &Settings) -> ! {
    let runtime = runtime(2);
    let body = Arc::new(text_body(args.size));
    let failed = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let stop = args.stop_at(start);
    let sent = runtime.block_on(async {
        // Built inside the runtime: the pool spawns its cleanup task.
        let transport = settings.tokio();
        let mut tasks = Vec::new();
        for index in 0..args.connections {
            let (transport, body, failed) = (transport.clone(), body.clone(), failed.clone());
            let envelope = settings.envelope.clone();
            let numbers = args.numbers(index);
            tasks.push(tokio::spawn(async move {
                let mut sent = 0u64;
                for n in numbers {
                    if stop.is_some_and(|s| Instant::now() >= s) {
                        break;
                    }
                    let result = match message(n, &body, &envelope) {
                        Ok(m) => transport.send(m).await.map_err(|e| e.to_string()),
                        Err(e) => Err(e),
                    };
                    match result {
                        Ok(_) => sent += 1,
                        Err(e) => throughput::failure(BIN, &failed, &e),
                    }
                }
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
        transport.shutdown().await;
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

/// W4: the text body and FILE as a base64 attachment, one message. lettre
/// takes the attachment as bytes in memory: no streaming.
fn attach(args: &Args, tokio: bool, settings: &Settings, file: &std::path::Path) -> ! {
    let start = Instant::now();
    let bytes = std::fs::read(file).unwrap_or_else(|e| fail(&format!("{}: {e}", file.display())));
    let name = file.file_name().map_or_else(
        || "attachment".to_owned(),
        |n| n.to_string_lossy().into_owned(),
    );
    let content_type = ContentType::parse("application/octet-stream").expect("content type");
    let (from, to): (Mailbox, Mailbox) = match (BENCH_FROM.parse(), BENCH_TO.parse()) {
        (Ok(from), Ok(to)) => (from, to),
        _ => fail("bad From or To"),
    };
    let built = Message::builder()
        .from(from)
        .to(to)
        .subject(text_subject(1))
        .message_id(None)
        .envelope(settings.envelope.clone())
        .multipart(
            MultiPart::mixed()
                .singlepart(SinglePart::plain(text_body(args.size)))
                .singlepart(Attachment::new(name).body(bytes, content_type)),
        );
    let message = built.unwrap_or_else(|e| fail(&e.to_string()));
    let result = if tokio {
        runtime(1).block_on(async {
            let transport = settings.tokio();
            let result = transport.send(message).await;
            transport.shutdown().await;
            result
        })
    } else {
        let transport = settings.blocking();
        let result = transport.send(&message);
        transport.shutdown();
        result
    };
    match result {
        Ok(_) => throughput::finish(args, 1, 0, 1, start),
        Err(e) => {
            eprintln!("{BIN}: {e}");
            throughput::finish(args, 0, 1, 1, start)
        }
    }
}
