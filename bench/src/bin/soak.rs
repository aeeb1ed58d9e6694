//! The soak run's client (bench/soak.sh): one `blocking::Pool` shared by
//! several threads sends N messages, each with its own Message-ID
//! (`<soak-N-RUN@postie.bench>`), and records what the pool told its
//! caller for each. As an application would, it sends a message again
//! when the pool said it was not sent (`Outcome::NotSent`: the server was
//! down), after 100 ms, for up to two minutes; never when the outcome is
//! unknown (the connection was lost after the data: sending again could
//! duplicate it). Meanwhile it samples its own resident set every 200 ms.
//!
//! ```text
//! soak --host H --port P --count N --threads T --run RUN --out FILE [--warmup F]
//! ```
//!
//! FILE gets one line per message, `N accepted QUEUEID`, `N unknown WHY`
//! or `N failed WHY` (given up); standard output gets a summary with `RSS warm=KiB peak=KiB`: the
//! resident set when a fraction F (default 0.1) of the messages were done,
//! and its peak after that.

use std::io::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use postie_mime::builder::MessageBuilder;
use postie_smtp::SendOptions;

fn usage() -> ! {
    eprintln!(
        "usage: soak --host H --port P --count N --threads T --run RUN --out FILE [--warmup F]"
    );
    std::process::exit(2)
}

/// This process's resident set in KiB (Linux's /proc/self/status).
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut host, mut port, mut count, mut threads) = (String::new(), 0u16, 0u64, 4usize);
    let (mut run, mut out, mut warmup) = (String::new(), String::new(), 0.1f64);
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--host" => host = value,
            "--port" => port = value.parse().unwrap_or_else(|_| usage()),
            "--count" => count = value.parse().unwrap_or_else(|_| usage()),
            "--threads" => threads = value.parse().unwrap_or_else(|_| usage()),
            "--run" => run = value,
            "--out" => out = value,
            "--warmup" => warmup = value.parse().unwrap_or_else(|_| usage()),
            _ => usage(),
        }
    }
    if host.is_empty() || port == 0 || count == 0 || run.is_empty() || out.is_empty() {
        usage();
    }
    let options = SendOptions::new()
        .servers([host])
        .ports([port])
        .originator("soak@postie.test")
        .recipients("soak@discard.test")
        .timeout(Duration::from_secs(10));
    let pool = postie_smtp::blocking::Pool::new(options).max_size(threads);
    let next = AtomicU64::new(0);
    let done = AtomicU64::new(0);
    let finished = AtomicBool::new(false);
    let lines = Mutex::new(std::io::BufWriter::new(
        std::fs::File::create(&out).unwrap_or_else(|e| {
            eprintln!("soak: {out}: {e}");
            std::process::exit(1)
        }),
    ));
    let warm_at = ((count as f64) * warmup) as u64;
    let (warm, peak) = (AtomicU64::new(0), AtomicU64::new(0));
    let (accepted, failed, retries) = (AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0));
    let start = Instant::now();
    std::thread::scope(|scope| {
        // The resident set, once warm and at its peak after that.
        scope.spawn(|| {
            while !finished.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(200));
                if done.load(Ordering::Relaxed) >= warm_at {
                    let rss = rss_kib();
                    if warm.load(Ordering::Relaxed) == 0 {
                        warm.store(rss, Ordering::Relaxed);
                    }
                    peak.fetch_max(rss, Ordering::Relaxed);
                }
            }
        });
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= count {
                        break;
                    }
                    let message = MessageBuilder::new()
                        .from("Soak <soak@postie.test>")
                        .to("soak@discard.test")
                        .subject(format!("soak {n}"))
                        .header("Date", postie_bench::postie_date_now())
                        .header("Message-ID", format!("<soak-{n}-{run}@postie.bench>"))
                        .text(format!("Soak message {n} of run {run}.\n"))
                        .build()
                        .unwrap_or_else(|e| {
                            eprintln!("soak: build: {e}");
                            std::process::exit(1)
                        });
                    let give_up = Instant::now() + Duration::from_secs(120);
                    let line = loop {
                        match pool.send(&message) {
                            Ok(sent) => {
                                accepted.fetch_add(1, Ordering::Relaxed);
                                break format!(
                                    "{n} accepted {}\n",
                                    sent.queue_id().unwrap_or_default()
                                );
                            }
                            Err(e)
                                if e.outcome() == postie_smtp::Outcome::NotSent
                                    && Instant::now() < give_up =>
                            {
                                retries.fetch_add(1, Ordering::Relaxed);
                                std::thread::sleep(Duration::from_millis(100));
                            }
                            Err(e) => {
                                failed.fetch_add(1, Ordering::Relaxed);
                                let kind = match e.outcome() {
                                    postie_smtp::Outcome::Unknown => "unknown",
                                    postie_smtp::Outcome::NotSent => "failed",
                                };
                                break format!("{n} {kind} {}\n", e.to_string().replace('\n', " "));
                            }
                        }
                    };
                    let _ = lines
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .write_all(line.as_bytes());
                    done.fetch_add(1, Ordering::Relaxed);
                })
            })
            .collect();
        for worker in workers {
            let _ = worker.join();
        }
        finished.store(true, Ordering::Relaxed);
    });
    pool.close_idle();
    let _ = lines
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .flush();
    let secs = start.elapsed().as_secs_f64();
    println!(
        "RESULT msgs={count} accepted={} failed={} retries={} secs={secs:.1} RSS warm={} peak={}",
        accepted.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed),
        retries.load(Ordering::Relaxed),
        warm.load(Ordering::Relaxed),
        peak.load(Ordering::Relaxed)
    );
}
