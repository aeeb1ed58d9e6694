//! The throughput benchmark's command-line interface, shared by every
//! client binary (postie-bench, lettre-bench, mail-send-bench), so that
//! any harness can drive them alike:
//!
//! ```text
//! BIN --host H --port P --count N --size S --connections C [--driver blocking|tokio]
//!     [--max-secs T]
//!     N messages (From, To, Subject, Date, Message-ID and a text body of
//!     exactly S bytes) over C connections opened once and reused
//! BIN --host H --port P --count 1 --size 1024 --connections 1 --attach FILE
//!     one message with FILE as a streamed base64 attachment
//! BIN --build-only --count N [--out FILE]
//!     build and serialize N typical messages (multipart/alternative text +
//!     HTML and one small attachment), no network
//! ```
//!
//! Exit 0 only when every message got its 250 (or was built); 1 when one
//! failed; 2 for bad arguments; 3 for a mode the binary does not support.
//! Prints `RESULT msgs=N secs=T msgs_per_s=R`. With `--max-secs T` no new
//! message is started after T seconds (for slow peers); `msgs` then counts
//! the messages sent.

use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The sender and recipient of every benchmark message.
pub const FROM: &str = "bench@example.org";
/// The recipient: discard.test, which the test Postfix (scripts/servers.sh)
/// queues and throws away, and which smtp-sink takes like anything else.
pub const TO: &str = "sink@discard.test";

/// What a run was asked to do.
#[derive(Clone, Debug, Default)]
pub struct Args {
    pub host: String,
    pub port: u16,
    pub count: u64,
    pub size: usize,
    pub connections: usize,
    pub driver: String,
    pub attach: Option<PathBuf>,
    pub build_only: bool,
    pub out: Option<PathBuf>,
    pub max_secs: Option<f64>,
    /// Binary-specific switches (`--no-chunking`...), for the binary to
    /// accept or refuse.
    pub extra: Vec<String>,
}

/// Exit codes.
pub const EXIT_FAILED: i32 = 1;
pub const EXIT_USAGE: i32 = 2;
pub const EXIT_UNSUPPORTED: i32 = 3;

impl Args {
    /// Parses the process's arguments; exits 2 with a message when they
    /// are wrong.
    pub fn from_env(bin: &str) -> Self {
        match Self::parse(std::env::args().skip(1)) {
            Ok(args) => args,
            Err(e) => {
                eprintln!("{bin}: {e}");
                std::process::exit(EXIT_USAGE);
            }
        }
    }

    fn parse(mut it: impl Iterator<Item = String>) -> Result<Self, String> {
        let mut args = Args {
            host: "127.0.0.1".to_owned(),
            port: 25,
            count: 1,
            size: 1024,
            connections: 1,
            driver: "blocking".to_owned(),
            ..Args::default()
        };
        while let Some(flag) = it.next() {
            let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
            match flag.as_str() {
                "--host" => args.host = value("--host")?,
                "--port" => args.port = num(&value("--port")?)?,
                "--count" => args.count = num(&value("--count")?)?,
                "--size" => args.size = num(&value("--size")?)?,
                "--connections" => args.connections = num(&value("--connections")?)?,
                "--driver" => args.driver = value("--driver")?,
                "--attach" => args.attach = Some(value("--attach")?.into()),
                "--out" => args.out = Some(value("--out")?.into()),
                "--max-secs" => args.max_secs = Some(num(&value("--max-secs")?)?),
                "--build-only" => args.build_only = true,
                other if other.starts_with("--") => args.extra.push(other.to_owned()),
                other => return Err(format!("unexpected argument {other:?}")),
            }
        }
        if args.connections == 0 {
            return Err("--connections must be at least 1".to_owned());
        }
        Ok(args)
    }

    /// The time after which no new message starts.
    pub fn stop_at(&self, start: Instant) -> Option<Instant> {
        self.max_secs
            .map(|s| start + Duration::from_secs_f64(s.max(0.0)))
    }

    /// How many of the N messages connection `index` of C sends.
    pub fn share(&self, index: usize) -> u64 {
        let c = self.connections as u64;
        self.count / c + u64::from((index as u64) < self.count % c)
    }
}

fn num<T: std::str::FromStr>(text: &str) -> Result<T, String> {
    text.parse().map_err(|_| format!("not a number: {text:?}"))
}

/// A text body of exactly `size` bytes: lines of 70 characters and CRLF
/// (the last one shorter), ASCII, no line starting with a dot.
pub fn body_text(size: usize, seed: u64) -> String {
    let mut out = String::with_capacity(size);
    let mut n = seed;
    while out.len() < size {
        let left = size - out.len();
        if left <= 2 {
            out.push_str(&"x".repeat(left));
            break;
        }
        let line = (left - 2).min(70);
        for _ in 0..line {
            n = n.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            out.push(char::from(b'a' + (n >> 59) as u8 % 26));
        }
        out.push_str("\r\n");
    }
    out
}

/// Prints the result line and exits: 0 when `failed` is 0.
pub fn finish(sent: u64, failed: u64, start: Instant) -> ! {
    let secs = start.elapsed().as_secs_f64();
    let rate = if secs > 0.0 { sent as f64 / secs } else { 0.0 };
    println!("RESULT msgs={sent} secs={secs:.3} msgs_per_s={rate:.1}");
    if failed > 0 {
        eprintln!("{failed} message(s) failed");
        std::process::exit(EXIT_FAILED);
    }
    std::process::exit(0);
}

/// `--build-only`: builds and serializes `args.count` typical messages
/// with `build` (each client's own builder), into `--out` or a sink, then
/// prints the result and exits.
pub fn build_only(bin: &str, args: &Args, build: impl Fn(crate::Inputs) -> Vec<u8>) -> ! {
    use std::io::Write as _;
    let inputs = crate::Inputs::typical();
    let mut out: Box<dyn std::io::Write> = match &args.out {
        Some(path) => match std::fs::File::create(path) {
            Ok(file) => Box::new(std::io::BufWriter::new(file)),
            Err(e) => {
                eprintln!("{bin}: {}: {e}", path.display());
                std::process::exit(EXIT_FAILED);
            }
        },
        None => Box::new(std::io::sink()),
    };
    let start = Instant::now();
    let mut failed = 0;
    for _ in 0..args.count {
        if out.write_all(&build(inputs.clone())).is_err() {
            failed += 1;
        }
    }
    if out.flush().is_err() {
        failed += 1;
    }
    finish(args.count - failed.min(args.count), failed, start)
}

/// Reports the one message of `--attach` and exits.
pub fn finish_one<E: std::fmt::Display>(bin: &str, result: Result<(), E>, start: Instant) -> ! {
    match result {
        Ok(()) => finish(1, 0, start),
        Err(e) => {
            eprintln!("{bin}: {e}");
            finish(0, 1, start)
        }
    }
}

/// Exits 3: the binary does not do what was asked.
pub fn unsupported(bin: &str, what: &str) -> ! {
    eprintln!("{bin}: unsupported: {what}");
    std::process::exit(EXIT_UNSUPPORTED);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_have_the_exact_size() {
        for size in [0, 1, 2, 3, 71, 72, 73, 1024, 1 << 20] {
            let body = body_text(size, 7);
            assert_eq!(body.len(), size);
            assert!(!body.contains("\r\n."));
        }
    }

    #[test]
    fn shares_add_up() {
        let args = Args {
            count: 10,
            connections: 4,
            ..Args::default()
        };
        assert_eq!((0..4).map(|i| args.share(i)).sum::<u64>(), 10);
    }
}
