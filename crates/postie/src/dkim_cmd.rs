//! `postie dkim keygen|record|verify`: the keys a sender signs with, the
//! DNS records that publish them, and a check of what was signed.
//!
//! Keys of both algorithms are made by AWS-LC, the crypto library postie
//! signs with; `postie dkim record` prints the record of a key made
//! elsewhere (`openssl genpkey`).

mod dns;
mod txt_file;

use std::io::{self, Read as _, Write as _};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use zeroize::Zeroizing;

use postie_smtp::dkim::{self, SigningKey, Verdict, Verification};

use crate::args::{
    DkimAlgorithmArg, DkimArgs, DkimCommand, DkimKeygenArgs, DkimRecordArgs, DkimVerifyArgs,
};
use crate::exit;

/// The largest key file read: a 4096-bit RSA key in PEM is under 4 KiB.
const MAX_KEY_FILE: u64 = 64 * 1024;

/// `postie dkim ...`.
pub(crate) fn run(args: DkimArgs) -> u8 {
    match args.command {
        DkimCommand::Keygen(args) => keygen(&args),
        DkimCommand::Record(args) => record(&args),
        DkimCommand::Verify(args) => verify(&args),
    }
}

/// A failure: the line for standard error and the exit code.
struct Failed {
    code: u8,
    text: String,
}

impl Failed {
    fn new(code: u8, text: impl Into<String>) -> Self {
        Self {
            code,
            text: text.into(),
        }
    }
}

/// Prints `result`'s error, if any, as `postie dkim COMMAND: ...`.
fn finish(command: &str, result: Result<u8, Failed>) -> u8 {
    match result {
        Ok(code) => code,
        Err(failed) => {
            eprintln!("postie dkim {command}: {}", failed.text);
            failed.code
        }
    }
}

/// A domain or selector as DNS names them: dot-separated labels of letters,
/// digits, `-` and `_`, in lower case, without a final dot.
fn dns_name(what: &str, value: &str) -> Result<String, Failed> {
    let name = value
        .strip_suffix('.')
        .unwrap_or(value)
        .to_ascii_lowercase();
    let good = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    if good {
        Ok(name)
    } else {
        Err(Failed::new(
            exit::USAGE,
            format!("--{what} {value:?} is not a DNS name (letters, digits, '-' and '_' in labels; a name that is not ASCII in its xn-- form)"),
        ))
    }
}

/// The zone-file line that publishes `text` at `selector._domainkey.domain`:
/// its strings at most 255 bytes each (RFC 1035's limit; DNS joins them).
pub(crate) fn zone_line(selector: &str, domain: &str, text: &str) -> String {
    let strings: Vec<String> = text
        .as_bytes()
        .chunks(255)
        .map(|chunk| format!("\"{}\"", String::from_utf8_lossy(chunk)))
        .collect();
    format!(
        "{selector}._domainkey.{domain}. IN TXT {}",
        strings.join(" ")
    )
}

fn keygen(args: &DkimKeygenArgs) -> u8 {
    finish("keygen", keygen_inner(args))
}

fn keygen_inner(args: &DkimKeygenArgs) -> Result<u8, Failed> {
    let domain = dns_name("domain", &args.domain)?;
    let selector = dns_name("selector", &args.selector)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{selector}._domainkey.{domain}.pem")));
    // A link counts as taken, even one leading nowhere.
    if std::fs::symlink_metadata(&out).is_ok() {
        return Err(exists(&out));
    }
    let (algorithm, name) = match args.algorithm {
        DkimAlgorithmArg::Rsa2048 => (dkim::Algorithm::RsaSha256, "RSA, 2048 bits"),
        DkimAlgorithmArg::Ed25519 => (dkim::Algorithm::Ed25519Sha256, "Ed25519"),
    };
    let (key, pem) =
        SigningKey::generate(algorithm).map_err(|e| Failed::new(exit::SOFTWARE, e.to_string()))?;
    write_private(&out, pem.as_bytes())?;
    eprintln!(
        "postie dkim keygen: wrote the private key to {} ({name}, PKCS#8 PEM, mode 600); publish this TXT record in the DNS of {domain}:",
        out.display()
    );
    println!("{}", zone_line(&selector, &domain, &key.dns_record()));
    Ok(exit::OK)
}

fn exists(path: &Path) -> Failed {
    Failed::new(
        exit::CANTCREAT,
        format!(
            "{} exists: postie never overwrites a key (a signing key replaced by mistake is lost); choose another --out, or remove it first",
            path.display()
        ),
    )
}

/// Creates `path` new (O_EXCL: never an existing file, never through a
/// link) with mode 600, and writes `contents` to disk. A file left half
/// written is removed.
fn write_private(path: &Path, contents: &[u8]) -> Result<(), Failed> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|e| {
        if e.kind() == io::ErrorKind::AlreadyExists {
            exists(path)
        } else {
            Failed::new(exit::CANTCREAT, format!("{}: {e}", path.display()))
        }
    })?;
    if let Err(e) = file.write_all(contents).and_then(|()| file.sync_all()) {
        drop(file);
        let _ = std::fs::remove_file(path);
        return Err(Failed::new(
            exit::CANTCREAT,
            format!("{}: {e}", path.display()),
        ));
    }
    Ok(())
}

fn record(args: &DkimRecordArgs) -> u8 {
    finish("record", record_inner(args))
}

fn record_inner(args: &DkimRecordArgs) -> Result<u8, Failed> {
    let domain = dns_name("domain", &args.domain)?;
    let selector = dns_name("selector", &args.selector)?;
    let bytes = read_key_file(&args.key)?;
    let key = SigningKey::from_bytes(&bytes)
        .map_err(|e| Failed::new(exit::DATAERR, format!("{}: {e}", args.key.display())))?;
    println!("{}", zone_line(&selector, &domain, &key.dns_record()));
    Ok(exit::OK)
}

/// A private key file's bytes, wiped on drop, after the rule for files
/// holding a secret (yours or root's, no permission for group or others),
/// checked on the handle it is read from.
fn read_key_file(path: &Path) -> Result<Zeroizing<Vec<u8>>, Failed> {
    let unreadable = |e: io::Error| Failed::new(exit::NOINPUT, format!("{}: {e}", path.display()));
    let file = std::fs::File::open(path).map_err(unreadable)?;
    let meta = file.metadata().map_err(unreadable)?;
    if !meta.is_file() {
        return Err(Failed::new(
            exit::NOINPUT,
            format!("{} is not a regular file", path.display()),
        ));
    }
    crate::config::private_file_problem(path, &meta).map_err(|e| Failed::new(exit::CONFIG, e))?;
    if meta.len() > MAX_KEY_FILE {
        return Err(Failed::new(
            exit::DATAERR,
            format!("{} is too large to be a key", path.display()),
        ));
    }
    let mut bytes = Zeroizing::new(Vec::with_capacity(MAX_KEY_FILE as usize));
    file.take(MAX_KEY_FILE)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    Ok(bytes)
}

/// What `postie dkim verify` found, over all signatures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Summary {
    Pass,
    Fail,
    TempError,
    Unsigned,
}

impl Summary {
    fn of(results: &[Verification]) -> Self {
        if results.is_empty() {
            Self::Unsigned
        } else if results
            .iter()
            .any(|v| matches!(v.verdict, Verdict::Fail(_)))
        {
            Self::Fail
        } else if results.iter().all(Verification::passed) {
            Self::Pass
        } else {
            Self::TempError
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Fail => "fail",
            Self::TempError => "temperror",
            Self::Unsigned => "none",
        }
    }

    fn code(self) -> u8 {
        match self {
            Self::Pass => exit::OK,
            Self::Fail => exit::DATAERR,
            Self::TempError => exit::TEMPFAIL,
            Self::Unsigned => exit::UNSIGNED,
        }
    }
}

fn verify(args: &DkimVerifyArgs) -> u8 {
    match verify_inner(args) {
        Ok(code) => code,
        Err(failed) => {
            if args.json {
                let stage = if failed.code == exit::USAGE {
                    "usage"
                } else {
                    "input"
                };
                println!(
                    "{}",
                    json!({
                        "outcome": "error",
                        "signatures": [],
                        "error": {"stage": stage, "text": failed.text},
                    })
                );
            }
            eprintln!("postie dkim verify: {}", failed.text);
            failed.code
        }
    }
}

fn verify_inner(args: &DkimVerifyArgs) -> Result<u8, Failed> {
    let message = read_message(&args.message)?;
    let results = match &args.txt {
        Some(path) => {
            let keys = txt_file::TxtFile::read(path).map_err(|e| match e {
                txt_file::Error::Io(e) => {
                    Failed::new(exit::NOINPUT, format!("{}: {e}", path.display()))
                }
                txt_file::Error::Syntax { line, reason } => Failed::new(
                    exit::DATAERR,
                    format!("{} line {line}: {reason}", path.display()),
                ),
            })?;
            dkim::verify(&message, |name: &str| Ok(keys.lookup(name)))
        }
        None => {
            let resolver = match args.dns_server {
                Some(server) => dns::Resolver::with_server(server),
                None => dns::Resolver::system(),
            };
            dkim::verify(&message, |name: &str| resolver.txt(name))
        }
    };
    let summary = Summary::of(&results);
    if args.json {
        let signatures: Vec<Value> = results.iter().map(signature_json).collect();
        println!(
            "{}",
            json!({"outcome": summary.name(), "signatures": signatures, "error": null})
        );
    } else if results.is_empty() {
        println!("none: the message has no DKIM-Signature");
    } else {
        for v in &results {
            println!("{}", signature_line(v));
        }
    }
    Ok(summary.code())
}

/// The error for a verify without --txt: how to fetch the records it needs.
/// The message file's bytes, or standard input's for `-`.
fn read_message(path: &Path) -> Result<Vec<u8>, Failed> {
    let mut bytes = Vec::new();
    if path.as_os_str() == "-" {
        io::stdin()
            .lock()
            .read_to_end(&mut bytes)
            .map_err(|e| Failed::new(exit::NOINPUT, format!("standard input: {e}")))?;
        return Ok(bytes);
    }
    let unreadable = |e: io::Error| Failed::new(exit::NOINPUT, format!("{}: {e}", path.display()));
    let mut file = std::fs::File::open(path).map_err(unreadable)?;
    if !file.metadata().map_err(unreadable)?.is_file() {
        return Err(Failed::new(
            exit::NOINPUT,
            format!("{} is not a regular file", path.display()),
        ));
    }
    file.read_to_end(&mut bytes).map_err(unreadable)?;
    Ok(bytes)
}

/// `pass d=example.org s=sel a=ed25519-sha256`, `fail ...: REASON`.
fn signature_line(v: &Verification) -> String {
    let what = format!("d={} s={} a={}", v.domain, v.selector, v.algorithm);
    match &v.verdict {
        Verdict::Pass if v.warnings.is_empty() => format!("pass {what}"),
        Verdict::Pass => {
            let warnings: Vec<String> = v.warnings.iter().map(ToString::to_string).collect();
            format!("pass {what} ({})", warnings.join("; "))
        }
        Verdict::Fail(reason) => format!("fail {what}: {reason}"),
        Verdict::TempError(reason) => format!("temperror {what}: {reason}"),
        // A verdict of a later postie_smtp.
        other => format!("fail {what}: {other:?}"),
    }
}

fn signature_json(v: &Verification) -> Value {
    let (result, reason) = match &v.verdict {
        Verdict::Pass => ("pass", None),
        Verdict::Fail(reason) => ("fail", Some(reason.to_string())),
        Verdict::TempError(reason) => ("temperror", Some(reason.clone())),
        other => ("fail", Some(format!("{other:?}"))),
    };
    let warnings: Vec<String> = v.warnings.iter().map(ToString::to_string).collect();
    json!({
        "result": result,
        "domain": v.domain,
        "selector": v.selector,
        "algorithm": v.algorithm,
        "identity": v.identity,
        "signed_at": v.signed_at,
        "expires": v.expires,
        "body_length": v.body_length,
        "key_bits": v.key_bits,
        "reason": reason,
        "warnings": warnings,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn long_records_are_split_into_strings_of_255_bytes() {
        let text = "x".repeat(600);
        let line = zone_line("sel", "example.org", &text);
        let strings: Vec<&str> = line.split_once(" IN TXT ").unwrap().1.split(' ').collect();
        let lengths: Vec<usize> = strings.iter().map(|s| s.len() - 2).collect();
        assert_eq!(lengths, [255, 255, 90]);
        assert!(line.starts_with("sel._domainkey.example.org. IN TXT \"xxx"));
    }

    #[test]
    fn names_are_checked_and_lowered() {
        assert_eq!(
            dns_name("domain", "Example.ORG.").ok().unwrap(),
            "example.org"
        );
        for bad in ["", "a b.org", "a..org", "x;y", "é.org", &"a".repeat(64)] {
            assert!(dns_name("domain", bad).is_err(), "{bad:?}");
        }
    }
}
