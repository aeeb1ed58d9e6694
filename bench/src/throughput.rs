//! The benchmark client's interface (`bench-workloads.md`), shared by every
//! client binary (postie-bench, lettre-bench, mail-send-bench; the Python
//! client, bench/python_bench.py, speaks it too), so that a harness drives
//! them alike:
//!
//! ```text
//! BIN --host H --port P --count N --size S --connections C       W1 W2 W3 PF
//!     N messages, each built fresh with the library's builder (the spec's
//!     From, To, a Subject, a fresh Date and Message-ID, the text body of
//!     exactly S bytes), over C connections opened once and reused (N
//!     split evenly)
//! BIN --host H --port P --count 1 --size 1024 --connections 1 --attach FILE   W4
//!     one message: the text body of S bytes and FILE as a base64 attachment
//! BIN --build-only --count N [--out FILE]                                W5
//!     build and serialize N W5 messages, no network; FILE gets the last
//!     message only, exactly as serialized
//! W6 adds: --tls starttls --ca-file FILE --username U --password-env VAR
//!     STARTTLS required, the server's certificate verified against FILE,
//!     AUTH PLAIN as U with the password in the environment variable VAR
//! [--driver blocking|tokio]
//!     which of the library's clients (each binary has its default)
//! [--max-secs T]
//!     not in the spec, for a harness that caps slow peers: no message is
//!     started after T seconds; `msgs` in the RESULT line then counts the
//!     messages sent
//! ```
//!
//! Exit 0 only when every message got its 2xx after the data (or was
//! built): all N, or with `--max-secs` all that were started; 1 when one
//! did not; 2 for bad arguments; 3 for a mode the binary does not support.
//! Prints `RESULT msgs=N secs=T msgs_per_s=R`; the harness times the whole
//! process and takes only `msgs` from it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// What a run was asked to do.
#[derive(Clone, Debug, Default)]
pub struct Args {
    pub host: String,
    pub port: u16,
    pub count: u64,
    pub size: usize,
    pub connections: usize,
    /// `--driver`; `None` for the binary's default.
    pub driver: Option<String>,
    pub attach: Option<PathBuf>,
    pub build_only: bool,
    pub out: Option<PathBuf>,
    /// `--tls`: only `starttls` is defined.
    pub tls: Option<String>,
    pub ca_file: Option<PathBuf>,
    pub username: Option<String>,
    pub password_env: Option<String>,
    /// `--max-secs`: no message starts after this many seconds.
    pub max_secs: Option<f64>,
    /// Binary-specific switches (`--no-chunking`...), for the binary to
    /// accept or refuse.
    pub extra: Vec<String>,
}

/// Exit codes.
pub const EXIT_FAILED: i32 = 1;
pub const EXIT_USAGE: i32 = 2;
pub const EXIT_UNSUPPORTED: i32 = 3;

/// The login for W6: user name and password.
#[derive(Clone, Debug)]
pub struct Login {
    pub username: String,
    pub password: String,
}

/// What W6 asks for: STARTTLS with this CA, AUTH with this login.
#[derive(Clone, Debug)]
pub struct Tls {
    pub ca_file: PathBuf,
    pub login: Option<Login>,
}

impl Args {
    /// Parses the process's arguments; exits 2 with a message when they
    /// are wrong, 3 for a `--tls` mode other than `starttls`.
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
                "--driver" => args.driver = Some(value("--driver")?),
                "--attach" => args.attach = Some(value("--attach")?.into()),
                "--out" => args.out = Some(value("--out")?.into()),
                "--tls" => args.tls = Some(value("--tls")?),
                "--ca-file" => args.ca_file = Some(value("--ca-file")?.into()),
                "--username" => args.username = Some(value("--username")?),
                "--password-env" => args.password_env = Some(value("--password-env")?),
                "--max-secs" => args.max_secs = Some(num(&value("--max-secs")?)?),
                "--build-only" => args.build_only = true,
                other if other.starts_with("--") => args.extra.push(other.to_owned()),
                other => return Err(format!("unexpected argument {other:?}")),
            }
        }
        if args.connections == 0 {
            return Err("--connections must be at least 1".to_owned());
        }
        if args.username.is_some() != args.password_env.is_some() {
            return Err("--username and --password-env go together".to_owned());
        }
        if args.tls.is_some() && args.ca_file.is_none() {
            return Err("--tls needs --ca-file".to_owned());
        }
        if args.tls.is_none() && (args.ca_file.is_some() || args.username.is_some()) {
            return Err("--ca-file, --username and --password-env go with --tls".to_owned());
        }
        Ok(args)
    }

    /// The driver asked for, or `default`.
    pub fn driver_or<'a>(&'a self, default: &'a str) -> &'a str {
        self.driver.as_deref().unwrap_or(default)
    }

    /// W6's settings: `None` without `--tls`; exits 3 for a mode other
    /// than `starttls`, 1 when the password variable is not set.
    pub fn tls(&self, bin: &str) -> Option<Tls> {
        let mode = self.tls.as_deref()?;
        if mode != "starttls" {
            unsupported(bin, &format!("--tls {mode}"));
        }
        let login = match (&self.username, &self.password_env) {
            (Some(username), Some(var)) => match std::env::var(var) {
                Ok(password) => Some(Login {
                    username: username.clone(),
                    password,
                }),
                Err(_) => {
                    eprintln!("{bin}: the variable {var} (--password-env) is not set");
                    std::process::exit(EXIT_FAILED);
                }
            },
            _ => None,
        };
        Some(Tls {
            ca_file: self.ca_file.clone().expect("checked by parse"),
            login,
        })
    }

    /// The time after which no new message starts (`--max-secs`).
    pub fn stop_at(&self, start: Instant) -> Option<Instant> {
        self.max_secs
            .map(|s| start + std::time::Duration::from_secs_f64(s.max(0.0)))
    }

    /// How many of the N messages connection `index` of C sends.
    pub fn share(&self, index: usize) -> u64 {
        let c = self.connections as u64;
        self.count / c + u64::from((index as u64) < self.count % c)
    }

    /// The numbers (from 1) of the messages connection `index` sends: each
    /// message of the run has its own.
    pub fn numbers(&self, index: usize) -> std::ops::RangeInclusive<u64> {
        let first = (0..index).map(|i| self.share(i)).sum::<u64>() + 1;
        first..=first + self.share(index) - 1
    }
}

fn num<T: std::str::FromStr>(text: &str) -> Result<T, String> {
    text.parse().map_err(|_| format!("not a number: {text:?}"))
}

/// Prints the result line and exits: 0 only when none failed and all
/// `count` messages were sent (with `--max-secs`: at least one).
pub fn finish(args: &Args, sent: u64, failed: u64, count: u64, start: Instant) -> ! {
    let secs = start.elapsed().as_secs_f64();
    let rate = if secs > 0.0 { sent as f64 / secs } else { 0.0 };
    println!("RESULT msgs={sent} secs={secs:.3} msgs_per_s={rate:.1}");
    let complete = if args.max_secs.is_some() {
        sent > 0 || count == 0
    } else {
        sent == count
    };
    if failed > 0 || !complete {
        eprintln!("{failed} message(s) failed, {sent} of {count} sent");
        std::process::exit(EXIT_FAILED);
    }
    std::process::exit(0);
}

/// Counts a failure, printing the first one.
pub fn failure(bin: &str, failed: &std::sync::atomic::AtomicU64, e: &dyn std::fmt::Display) {
    if failed.fetch_add(1, std::sync::atomic::Ordering::Relaxed) == 0 {
        eprintln!("{bin}: {e}");
    }
}

/// `--build-only`: builds and serializes `args.count` W5 messages with
/// `build` (each client's own builder; message numbers from 1), writes the
/// last one to `--out` when asked, prints the result and exits.
pub fn build_only(bin: &str, args: &Args, build: fn(&crate::W5Inputs, u64) -> Vec<u8>) -> ! {
    let inputs = crate::W5Inputs::new();
    let start = Instant::now();
    let mut last = Vec::new();
    for n in 1..=args.count {
        last = std::hint::black_box(build(&inputs, n));
    }
    if let Some(path) = &args.out {
        if let Err(e) = std::fs::write(path, &last) {
            eprintln!("{bin}: {}: {e}", path.display());
            std::process::exit(EXIT_FAILED);
        }
    }
    finish(args, args.count, 0, args.count, start)
}

/// Exits 3: the binary does not do what was asked.
pub fn unsupported(bin: &str, what: &str) -> ! {
    eprintln!("{bin}: unsupported: {what}");
    std::process::exit(EXIT_UNSUPPORTED);
}

/// Exits 1 with a message.
pub fn fail(bin: &str, what: &str) -> ! {
    eprintln!("{bin}: {what}");
    std::process::exit(EXIT_FAILED);
}

/// A rustls client configuration (ring) that trusts the certificates of
/// `ca_file` alone, for the peers whose TLS the bench sets up itself.
pub fn rustls_config(ca_file: &std::path::Path) -> Result<Arc<rustls::ClientConfig>, String> {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore::empty();
    for cert in
        CertificateDer::pem_file_iter(ca_file).map_err(|e| format!("{}: {e}", ca_file.display()))?
    {
        let cert = cert.map_err(|e| format!("{}: {e}", ca_file.display()))?;
        roots
            .add(cert)
            .map_err(|e| format!("{}: {e}", ca_file.display()))?;
    }
    if roots.is_empty() {
        return Err(format!("{}: no certificate", ca_file.display()));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, String> {
        Args::parse(args.iter().map(|s| (*s).to_owned()))
    }

    #[test]
    fn shares_and_numbers_add_up() {
        let args = Args {
            count: 10,
            connections: 4,
            ..Args::default()
        };
        assert_eq!((0..4).map(|i| args.share(i)).sum::<u64>(), 10);
        let numbers: Vec<u64> = (0..4).flat_map(|i| args.numbers(i)).collect();
        assert_eq!(numbers, (1..=10).collect::<Vec<_>>());
        let one = Args {
            count: 3,
            connections: 1,
            ..Args::default()
        };
        assert_eq!(one.numbers(0), 1..=3);
    }

    #[test]
    fn the_spec_interface_parses() {
        let args = parse(&[
            "--host",
            "h",
            "--port",
            "2525",
            "--count",
            "7",
            "--size",
            "9",
            "--connections",
            "2",
        ])
        .unwrap();
        assert_eq!(
            (args.host.as_str(), args.port, args.count, args.size),
            ("h", 2525, 7, 9)
        );
        assert_eq!(args.connections, 2);
        assert_eq!(args.driver_or("tokio"), "tokio");
        let w6 = parse(&[
            "--tls",
            "starttls",
            "--ca-file",
            "ca.pem",
            "--username",
            "u",
            "--password-env",
            "PW",
        ])
        .unwrap();
        assert_eq!(w6.tls.as_deref(), Some("starttls"));
        assert!(parse(&["--tls", "starttls"]).is_err());
        assert!(parse(&["--username", "u"]).is_err());
        assert!(parse(&["--connections", "0"]).is_err());
        let w5 = parse(&["--build-only", "--count", "5", "--out", "f"]).unwrap();
        assert!(w5.build_only && w5.out.is_some());
    }
}
