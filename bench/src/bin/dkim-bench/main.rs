//! DKIM signing alone: postie against lettre 0.11 (its `dkim` feature) and
//! mail-auth 0.13 (the signer of mail-send; mail-send 0.7's `dkim` feature
//! takes mail-auth 0.14, which needs mail-parser 1.0 and so rustc 1.98, newer
//! than this toolchain), in one interleaved run. Run through bench/dkim.sh.
//!
//! ```text
//! dkim-bench [--count N] [--rounds R] [--algorithms rsa,ed25519]
//!            [--clients postie,lettre,mail-auth] [--keys DIR] [--parts]
//! ```
//!
//! The message is the W5 message of bench-workloads.md, built and
//! serialized once by postie (CRLF line ends). Each client signs it N times
//! (default 10,000) per batch with `rsa-sha256` (the 2048-bit key
//! `keys/rsa2048.pem`) and `ed25519-sha256` (`keys/ed25519.pem`; lettre
//! takes the raw seed, `keys/ed25519.seed.b64`, which is checked to be the
//! same key), `c=relaxed/relaxed`, `d=example.org`, signing the same
//! fields. What one signature is, per client (the time is taken around the
//! N of them, the clock read for `t=` included):
//!
//! - postie: `Signer::sign_bytes(&bytes, SystemTime::now())`, the field's
//!   value as a String (folded, base64 included). postie signs the fields
//!   of its default list that the message has (From, To, Subject, Date,
//!   Message-ID, MIME-Version, Content-Type) and over-signs From (one more
//!   `from` in `h=`, which adds no bytes to the hash).
//! - lettre: `dkim_sign(&mut message.clone(), &config)`. lettre signs a
//!   `Message`, not bytes, so the message is made once as a lettre
//!   `Message` whose header fields are postie's, pre-encoded, and whose
//!   body is postie's body as raw bytes; its `formatted()` is checked to be
//!   byte for byte the message the others sign. `dkim_sign` adds the field
//!   to the message it is given, so each signature works on a clone: the
//!   clone is in lettre's time, and is also timed alone (the "clone" line)
//!   so that it can be taken out. lettre copies the body for each
//!   signature (`body_raw`), as it does whenever it signs a `Message`.
//! - mail-auth: `DkimSigner::sign(&bytes)` then `Signature::to_header()`
//!   (the field as text, like postie's String). Its default crypto,
//!   aws-lc-rs.
//!
//! Rounds are interleaved: in each round every algorithm runs every client
//! once, one batch each, in an order rotated from round to round, so slow
//! drift of a shared machine hits all alike. The table shows the median and
//! the range over the rounds, and the ratio of the medians postie / fastest
//! peer (signatures per second; above 1, postie is faster).
//!
//! Checks, so that a broken signer cannot look fast: before the rounds,
//! each client's signature is verified with `postie_smtp::dkim::verify` (the
//! key's TXT record from postie's `SigningKey::dns_record`), and its `a=`,
//! `c=`, `d=` and `h=` (the same fields for all) are checked; after every
//! batch one more signature by the same signer is checked the same way
//! (outside the time). Any failure ends the run with exit 1.
//!
//! `--parts` adds a second table, timed in the same rounds: the crypto
//! under postie and under mail-auth (aws-lc-rs for both) alone, and postie's
//! signer on the header section alone (see `parts.rs`).

mod parts;

use std::collections::BTreeSet;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

use postie_smtp::dkim::{Signer, SigningKey};

const DOMAIN: &str = "example.org";
/// The fields every client signs (those of postie's default list the W5
/// message has).
const FIELDS: &[&str] = &[
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "MIME-Version",
    "Content-Type",
];
const CLIENTS: &[&str] = &["postie", "lettre", "mail-auth"];
const ALGORITHMS: &[&str] = &["rsa", "ed25519"];

fn fail(what: &str) -> ! {
    eprintln!("dkim-bench: {what}");
    std::process::exit(1)
}

fn usage() -> ! {
    eprintln!(
        "usage: dkim-bench [--count N] [--rounds R] [--algorithms rsa,ed25519] \
         [--clients postie,lettre,mail-auth] [--keys DIR] [--parts]"
    );
    std::process::exit(2)
}

struct Options {
    count: u64,
    rounds: usize,
    algorithms: Vec<&'static str>,
    clients: Vec<&'static str>,
    keys: PathBuf,
    parts: bool,
}

fn pick(list: &str, known: &'static [&'static str]) -> Vec<&'static str> {
    let mut out = Vec::new();
    for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match known.iter().find(|k| **k == item) {
            Some(k) => out.push(*k),
            None => {
                eprintln!("dkim-bench: unknown {item:?} (known: {})", known.join(","));
                usage()
            }
        }
    }
    out
}

fn options() -> Options {
    let mut options = Options {
        count: 10_000,
        rounds: 5,
        algorithms: ALGORITHMS.to_vec(),
        clients: CLIENTS.to_vec(),
        keys: Path::new(env!("CARGO_MANIFEST_DIR")).join("keys"),
        parts: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage());
        match arg.as_str() {
            "--count" => options.count = value().parse().unwrap_or_else(|_| usage()),
            "--rounds" => options.rounds = value().parse().unwrap_or_else(|_| usage()),
            "--algorithms" => options.algorithms = pick(&value(), ALGORITHMS),
            "--clients" => options.clients = pick(&value(), CLIENTS),
            "--keys" => options.keys = PathBuf::from(value()),
            "--parts" => options.parts = true,
            _ => usage(),
        }
    }
    if options.count == 0 || options.rounds == 0 || options.algorithms.is_empty() {
        usage()
    }
    // postie always runs: the ratios are against it.
    if !options.clients.contains(&"postie") {
        options.clients.insert(0, "postie");
    }
    options
}

/// The keys, read once: the RSA key (PKCS#1 PEM), the Ed25519 key (PKCS#8
/// PEM) and its raw seed (base64, for lettre).
struct Keys {
    rsa_pem: String,
    ed25519_pem: String,
    ed25519_seed_b64: String,
}

impl Keys {
    fn read(dir: &Path) -> Self {
        let read = |name: &str| {
            std::fs::read_to_string(dir.join(name))
                .unwrap_or_else(|e| fail(&format!("{}: {e}", dir.join(name).display())))
        };
        let keys = Self {
            rsa_pem: read("rsa2048.pem"),
            ed25519_pem: read("ed25519.pem"),
            ed25519_seed_b64: read("ed25519.seed.b64").trim().to_owned(),
        };
        // The seed must be the PKCS#8 key's (its DER ends with the 32-byte
        // seed), so that lettre signs with the same key as the others.
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        let der = pem_body(&keys.ed25519_pem);
        let seed = b64
            .decode(&keys.ed25519_seed_b64)
            .unwrap_or_else(|e| fail(&format!("ed25519.seed.b64: {e}")));
        if seed.len() != 32 || !der.ends_with(&seed) {
            fail("ed25519.seed.b64 is not the seed of ed25519.pem");
        }
        keys
    }

    fn pem(&self, algorithm: &str) -> &str {
        if algorithm == "rsa" {
            &self.rsa_pem
        } else {
            &self.ed25519_pem
        }
    }
}

/// The DER inside a one-block PEM.
fn pem_body(pem: &str) -> Vec<u8> {
    use base64::Engine as _;
    let text: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<Vec<_>>()
        .concat();
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .unwrap_or_else(|e| fail(&format!("PEM: {e}")))
}

fn selector(algorithm: &str) -> &'static str {
    if algorithm == "rsa" {
        "rsa"
    } else {
        "ed"
    }
}

// ---------------------------------------------------------------------------
// The three signers, each giving the DKIM-Signature field of one signature.
// ---------------------------------------------------------------------------

enum MailAuth {
    Rsa(
        mail_auth::dkim::DkimSigner<
            mail_auth::common::crypto::RsaKey<mail_auth::common::crypto::Sha256>,
            mail_auth::dkim::Done,
        >,
    ),
    Ed25519(
        mail_auth::dkim::DkimSigner<mail_auth::common::crypto::Ed25519Key, mail_auth::dkim::Done>,
    ),
}

struct Lettre {
    config: lettre::message::dkim::DkimConfig,
    message: lettre::Message,
}

enum Client {
    Postie(Signer),
    Lettre(Box<Lettre>),
    MailAuth(Box<MailAuth>),
}

impl Client {
    fn new(name: &str, algorithm: &str, keys: &Keys, message: &[u8]) -> Self {
        match name {
            "postie" => {
                let key = SigningKey::from_bytes(keys.pem(algorithm).as_bytes())
                    .unwrap_or_else(|e| fail(&format!("postie: {algorithm} key: {e}")));
                let signer = Signer::new(key, DOMAIN, selector(algorithm))
                    .unwrap_or_else(|e| fail(&format!("postie: signer: {e}")));
                Client::Postie(signer)
            }
            "lettre" => Client::Lettre(Box::new(lettre_client(algorithm, keys, message))),
            "mail-auth" => Client::MailAuth(Box::new(mail_auth_client(algorithm, keys))),
            other => fail(&format!("unknown client {other}")),
        }
    }

    /// One signature; `Some(the field)` when `keep`, for the check.
    #[inline(never)]
    fn sign(&self, message: &[u8], keep: bool) -> Option<String> {
        match self {
            Client::Postie(signer) => {
                let value = signer
                    .sign_bytes(message, SystemTime::now())
                    .unwrap_or_else(|e| fail(&format!("postie: {e}")));
                let value = black_box(value);
                keep.then(|| format!("DKIM-Signature:{value}\r\n"))
            }
            Client::Lettre(l) => {
                let mut signed = l.message.clone();
                lettre::message::dkim::dkim_sign(&mut signed, &l.config);
                let signed = black_box(signed);
                keep.then(|| String::from_utf8_lossy(&signed.formatted()).into_owned())
            }
            Client::MailAuth(m) => {
                let signature = match m.as_ref() {
                    MailAuth::Rsa(s) => s.sign(message),
                    MailAuth::Ed25519(s) => s.sign(message),
                }
                .unwrap_or_else(|e| fail(&format!("mail-auth: {e}")));
                use mail_auth::common::headers::HeaderWriter as _;
                let field = black_box(signature.to_header());
                keep.then_some(field)
            }
        }
    }

    /// The whole signed message, from what `sign` kept.
    fn signed_message(&self, kept: &str, message: &[u8]) -> Vec<u8> {
        match self {
            // lettre gives the whole message (its field last among the
            // header fields).
            Client::Lettre(_) => kept.as_bytes().to_vec(),
            _ => [kept.as_bytes(), message].concat(),
        }
    }
}

fn lettre_client(algorithm: &str, keys: &Keys, message: &[u8]) -> Lettre {
    use lettre::message::dkim::{
        DkimCanonicalization, DkimCanonicalizationType, DkimConfig, DkimSigningAlgorithm,
        DkimSigningKey,
    };
    use lettre::message::header::HeaderName;
    let key = if algorithm == "rsa" {
        DkimSigningKey::new(&keys.rsa_pem, DkimSigningAlgorithm::Rsa)
    } else {
        DkimSigningKey::new(&keys.ed25519_seed_b64, DkimSigningAlgorithm::Ed25519)
    }
    .unwrap_or_else(|e| fail(&format!("lettre: {algorithm} key: {e}")));
    let headers = FIELDS
        .iter()
        .map(|f| HeaderName::new_from_ascii((*f).to_owned()).expect("field name"))
        .collect();
    let config = DkimConfig::new(
        selector(algorithm).to_owned(),
        DOMAIN.to_owned(),
        key,
        headers,
        DkimCanonicalization {
            header: DkimCanonicalizationType::Relaxed,
            body: DkimCanonicalizationType::Relaxed,
        },
    );
    Lettre {
        config,
        message: lettre_message(message),
    }
}

/// `message` (postie's bytes) as a lettre `Message`: its header fields
/// pre-encoded as they are, its body raw; checked to format to the same
/// bytes.
fn lettre_message(message: &[u8]) -> lettre::Message {
    use lettre::message::header::{ContentTransferEncoding, HeaderName, HeaderValue};
    use lettre::message::Body;
    let text = std::str::from_utf8(message).unwrap_or_else(|_| fail("the message is not UTF-8"));
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| fail("the message has no empty line"));
    // Fields: a line starting with a space or tab continues the last one.
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in head.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            let last = fields
                .last_mut()
                .unwrap_or_else(|| fail("continuation first"));
            last.1.push_str("\r\n");
            last.1.push_str(line);
        } else {
            let (name, value) = line
                .split_once(": ")
                .unwrap_or_else(|| fail(&format!("field without \": \": {line:?}")));
            fields.push((name.to_owned(), value.to_owned()));
        }
    }
    let mut builder = lettre::Message::builder();
    for (name, value) in &fields {
        let unfolded = value.replace("\r\n", "");
        let name = HeaderName::new_from_ascii(name.clone())
            .unwrap_or_else(|_| fail(&format!("lettre: field name {name:?}")));
        builder = builder.raw_header(HeaderValue::dangerous_new_pre_encoded(
            name,
            unfolded,
            value.clone(),
        ));
    }
    // The body as it is; `body` sets a Content-Transfer-Encoding field,
    // which is put back as postie had it (or removed).
    let mut built = builder
        .body(Body::dangerous_pre_encoded(
            body.as_bytes().to_vec(),
            ContentTransferEncoding::SevenBit,
        ))
        .unwrap_or_else(|e| fail(&format!("lettre: build: {e}")));
    let cte = fields
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("Content-Transfer-Encoding"));
    match cte {
        Some((name, value)) => {
            built
                .headers_mut()
                .insert_raw(HeaderValue::dangerous_new_pre_encoded(
                    HeaderName::new_from_ascii(name.clone()).expect("field name"),
                    value.replace("\r\n", ""),
                    value.clone(),
                ))
        }
        None => {
            built.headers_mut().remove_raw("Content-Transfer-Encoding");
        }
    }
    if built.formatted() != message {
        fail("lettre: the Message made from postie's bytes does not format to the same bytes");
    }
    built
}

fn mail_auth_client(algorithm: &str, keys: &Keys) -> MailAuth {
    use mail_auth::common::crypto::{Ed25519Key, RsaKey, Sha256};
    use mail_auth::dkim::{Canonicalization, DkimSigner};
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    let pem = keys.pem(algorithm).as_bytes();
    if algorithm == "rsa" {
        let der = PrivateKeyDer::from_pem_slice(pem)
            .unwrap_or_else(|e| fail(&format!("mail-auth: RSA PEM: {e}")));
        let key = RsaKey::<Sha256>::from_key_der(der)
            .unwrap_or_else(|e| fail(&format!("mail-auth: RSA key: {e}")));
        MailAuth::Rsa(
            DkimSigner::from_key(key)
                .domain(DOMAIN)
                .selector(selector(algorithm))
                .headers(FIELDS.iter().copied())
                .header_canonicalization(Canonicalization::Relaxed)
                .body_canonicalization(Canonicalization::Relaxed),
        )
    } else {
        let der = PrivatePkcs8KeyDer::from_pem_slice(pem)
            .unwrap_or_else(|e| fail(&format!("mail-auth: Ed25519 PEM: {e}")));
        // OpenSSL's PKCS#8 v1 (no public key in it).
        let key = Ed25519Key::from_pkcs8_maybe_unchecked_der(der.secret_pkcs8_der())
            .unwrap_or_else(|e| fail(&format!("mail-auth: Ed25519 key: {e}")));
        MailAuth::Ed25519(
            DkimSigner::from_key(key)
                .domain(DOMAIN)
                .selector(selector(algorithm))
                .headers(FIELDS.iter().copied())
                .header_canonicalization(Canonicalization::Relaxed)
                .body_canonicalization(Canonicalization::Relaxed),
        )
    }
}

// ---------------------------------------------------------------------------
// The check: postie's verifier, and the tags every client must agree on.
// ---------------------------------------------------------------------------

/// The TXT records of both keys, from postie's key.
struct Records {
    rsa: String,
    ed25519: String,
}

impl Records {
    fn new(keys: &Keys) -> Self {
        let record = |algorithm: &str| {
            SigningKey::from_bytes(keys.pem(algorithm).as_bytes())
                .unwrap_or_else(|e| fail(&format!("{algorithm} key: {e}")))
                .dns_record()
        };
        Self {
            rsa: record("rsa"),
            ed25519: record("ed25519"),
        }
    }

    fn lookup(&self, name: &str) -> Result<Option<String>, String> {
        Ok(match name {
            "rsa._domainkey.example.org" => Some(self.rsa.clone()),
            "ed._domainkey.example.org" => Some(self.ed25519.clone()),
            _ => None,
        })
    }
}

/// The value of tag `tag` in a DKIM-Signature field (whitespace removed).
fn tag(field: &str, tag: &str) -> Option<String> {
    let value = field.split_once(':')?.1;
    let flat: String = value.chars().filter(|c| !c.is_whitespace()).collect();
    flat.split(';').find_map(|t| {
        let (name, value) = t.split_once('=')?;
        (name == tag).then(|| value.to_owned())
    })
}

/// Verifies one client's signed message; the reason when it does not pass.
fn check(client: &str, algorithm: &str, signed: &[u8], records: &Records) -> Result<(), String> {
    let results = postie_smtp::dkim::verify(signed, |name| records.lookup(name));
    if results.len() != 1 {
        return Err(format!("{} DKIM-Signature fields, not 1", results.len()));
    }
    let result = &results[0];
    if !result.passed() {
        return Err(format!("does not verify: {:?}", result.verdict));
    }
    let want = if algorithm == "rsa" {
        "rsa-sha256"
    } else {
        "ed25519-sha256"
    };
    if result.algorithm != want || result.domain != DOMAIN {
        return Err(format!("a={} d={}", result.algorithm, result.domain));
    }
    // The field as signed, for c= and h=.
    let text = String::from_utf8_lossy(signed);
    let field = dkim_field(&text).ok_or("no DKIM-Signature field")?;
    let canon = tag(&field, "c").unwrap_or_default();
    if canon != "relaxed/relaxed" {
        return Err(format!("c={canon}"));
    }
    let h: BTreeSet<String> = tag(&field, "h")
        .unwrap_or_default()
        .split(':')
        .map(str::to_ascii_lowercase)
        .collect();
    let want: BTreeSet<String> = FIELDS.iter().map(|f| f.to_ascii_lowercase()).collect();
    if h != want {
        return Err(format!("h= covers {h:?}, not {want:?} ({client})"));
    }
    Ok(())
}

/// The DKIM-Signature field (unfolded lines joined) of a message.
fn dkim_field(message: &str) -> Option<String> {
    let head = message.split("\r\n\r\n").next()?;
    let mut field: Option<String> = None;
    for line in head.split("\r\n") {
        if let Some(f) = &mut field {
            if line.starts_with([' ', '\t']) {
                f.push_str(line);
                continue;
            }
            break;
        }
        if line.len() > 15 && line[..15].eq_ignore_ascii_case("dkim-signature:") {
            field = Some(line.to_owned());
        }
    }
    field
}

// ---------------------------------------------------------------------------
// The run.
// ---------------------------------------------------------------------------

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn range(values: &[f64]) -> (f64, f64) {
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (min, max)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn main() {
    let options = options();
    let keys = Keys::read(&options.keys);
    let records = Records::new(&keys);
    let inputs = postie_bench::W5Inputs::new();
    let message = postie_bench::postie_w5(&inputs, 1);
    let crlf_only = message
        .iter()
        .enumerate()
        .all(|(i, &b)| b != b'\n' || (i > 0 && message[i - 1] == b'\r'));
    if !crlf_only {
        fail("postie's W5 message has a bare LF");
    }
    println!(
        "dkim-bench: the W5 message, {} bytes, serialized by postie; {} signatures per batch, {} round(s)",
        message.len(),
        options.count,
        options.rounds
    );

    // clients[a][c]: algorithm a, client c.
    let clients: Vec<Vec<Client>> = options
        .algorithms
        .iter()
        .map(|a| {
            options
                .clients
                .iter()
                .map(|c| Client::new(c, a, &keys, &message))
                .collect()
        })
        .collect();
    for (a, algorithm) in options.algorithms.iter().enumerate() {
        for (c, client) in clients[a].iter().enumerate() {
            let name = options.clients[c];
            let kept = client.sign(&message, true).expect("kept");
            let signed = client.signed_message(&kept, &message);
            if let Err(why) = check(name, algorithm, &signed, &records) {
                fail(&format!(
                    "{name} {algorithm}: the signature is wrong: {why}"
                ));
            }
            println!("check: {name} {algorithm}: verifies with postie_smtp::dkim::verify; c=relaxed/relaxed; h= the same fields");
        }
    }
    let lettre_message = options
        .clients
        .contains(&"lettre")
        .then(|| lettre_message(&message));

    let parts = if options.parts {
        parts::parts(&options.algorithms, &keys, &message)
    } else {
        Vec::new()
    };
    let mut parts_secs = vec![Vec::new(); parts.len()];

    let load_before = loadavg();
    // secs[a][c][round]; clone_secs[round].
    let mut secs = vec![vec![Vec::new(); options.clients.len()]; options.algorithms.len()];
    let mut clone_secs = Vec::new();
    let start = Instant::now();
    for round in 0..options.rounds {
        for (a, algorithm) in options.algorithms.iter().enumerate() {
            let n = options.clients.len();
            for i in 0..n {
                let c = (i + round) % n;
                let client = &clients[a][c];
                let name = options.clients[c];
                let t = Instant::now();
                for _ in 0..options.count {
                    client.sign(&message, false);
                }
                let elapsed = t.elapsed().as_secs_f64();
                secs[a][c].push(elapsed);
                // One more signature by the same signer, kept and checked
                // outside the time.
                let kept = client.sign(&message, true).expect("kept");
                let signed = client.signed_message(&kept, &message);
                if let Err(why) = check(name, algorithm, &signed, &records) {
                    fail(&format!("{name} {algorithm}: a signature is wrong: {why}"));
                }
            }
        }
        for i in 0..parts.len() {
            let p = (i + round) % parts.len();
            parts_secs[p].push(parts::time(&parts[p], options.count));
        }
        if let Some(m) = &lettre_message {
            let t = Instant::now();
            for _ in 0..options.count {
                black_box(black_box(m).clone());
            }
            clone_secs.push(t.elapsed().as_secs_f64());
        }
        eprintln!(
            "dkim-bench: round {} of {} done ({:.0} s)",
            round + 1,
            options.rounds,
            start.elapsed().as_secs_f64()
        );
    }

    println!();
    println!(
        "{} interleaved round(s) of {} signatures per client and algorithm; {} cores; load average before {}, after {}.",
        options.rounds,
        options.count,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_before,
        loadavg()
    );
    println!("sig/s: signatures per second, median [min-max] over the rounds; postie/this: ratio of the medians (> 1: postie faster).");
    let mut verdicts = Vec::new();
    for (a, algorithm) in options.algorithms.iter().enumerate() {
        let name = if *algorithm == "rsa" {
            "rsa-sha256, 2048-bit key"
        } else {
            "ed25519-sha256"
        };
        println!();
        println!(
            "DKIM {name}, relaxed/relaxed, the W5 message ({} bytes)",
            message.len()
        );
        println!(
            "  {:<11}{:>10}  {:<21}{:>12}  {:>11}",
            "signer", "sig/s", "[min-max]", "us/sig", "postie/this"
        );
        let rates: Vec<Vec<f64>> = secs[a]
            .iter()
            .map(|s| s.iter().map(|x| options.count as f64 / x).collect())
            .collect();
        let postie = median(&rates[0]);
        let mut fastest: Option<(&str, f64)> = None;
        for (c, client) in options.clients.iter().enumerate() {
            let med = median(&rates[c]);
            let (lo, hi) = range(&rates[c]);
            let ratio = if c == 0 {
                String::new()
            } else {
                format!("{:.2}", postie / med)
            };
            println!(
                "  {:<11}{:>10.0}  {:<21}{:>12.1}  {:>11}",
                client,
                med,
                format!("[{lo:.0}-{hi:.0}]"),
                1e6 / med,
                ratio
            );
            if c > 0 && fastest.is_none_or(|(_, r)| med > r) {
                fastest = Some((client, med));
            }
        }
        if let Some((peer, rate)) = fastest {
            let ratio = postie / rate;
            verdicts.push(format!(
                "{}  DKIM {algorithm}: postie/fastest peer ({peer}) = {ratio:.2} (target >= 1.00)",
                if ratio >= 1.0 { "PASS" } else { "FAIL" }
            ));
        }
    }
    if !clone_secs.is_empty() {
        let per = median(&clone_secs) / options.count as f64 * 1e6;
        println!();
        println!("lettre's times include one Message::clone per signature: {per:.1} us alone (median over the rounds).");
    }
    if !parts.is_empty() {
        println!();
        println!(
            "Parts (--parts), timed alone in the same rounds, {} runs each:",
            options.count
        );
        println!("  {:<78}{:>9}", "part", "us/run");
        for (part, secs) in parts.iter().zip(&parts_secs) {
            println!(
                "  {:<78}{:>9.1}",
                part.label,
                median(secs) / options.count as f64 * 1e6
            );
        }
    }
    println!();
    for v in verdicts {
        println!("{v}");
    }
}
