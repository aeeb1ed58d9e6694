//! Every SASL mechanism against fuzzed server challenges.
//!
//! Input: one control byte, then challenges separated by 0xFF bytes (at
//! most 8). Control bits 0-1 pick the username (plain, with an authzid,
//! non-ASCII, with `,` and `=`), bit 2 a non-ASCII password, bit 3 skips
//! `initial_response` (the server then asks with an empty challenge).
//!
//! For each name in `PASSWORD_ORDER` and `TOKEN_ORDER`: build it, take the
//! initial response, feed every challenge to `respond` (going on after
//! errors), then `complete` and `server_error`.
//!
//! SCRAM needs the server nonce to start with the client's random nonce,
//! which no input can guess: the literal `CNONCE` in a challenge is replaced
//! by the client nonce taken from client-first. PBKDF2 runs as many
//! iterations as the server asks (up to 10,000,000, by design), so SCRAM
//! challenges asking for more than 20,000 are skipped to keep the fuzzer
//! fast.
//!
//! Invariants: a mechanism that does not expose the secret (SCRAM,
//! DIGEST-MD5, CRAM-MD5) never puts it in a response, and no error's text
//! contains it (checked when the input itself does not contain it).
#![no_main]

use libfuzzer_sys::fuzz_target;
use postie_smtp::sasl::{self, Credentials, Secret};

const MAX_CHALLENGES: usize = 8;
const MAX_ITERATIONS: u64 = 20_000;

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

fn replace(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut i = 0;
    while i < haystack.len() {
        if haystack[i..].starts_with(needle) {
            out.extend_from_slice(with);
            i += needle.len();
        } else {
            out.push(haystack[i]);
            i += 1;
        }
    }
    out
}

/// Whether a SCRAM server-first asks for more PBKDF2 iterations than the
/// fuzzer can afford.
fn too_many_iterations(challenge: &[u8]) -> bool {
    challenge.split(|&b| b == b',').any(|attr| {
        attr.strip_prefix(b"i=").is_some_and(|digits| {
            !digits.is_empty()
                && digits.iter().all(u8::is_ascii_digit)
                && digits
                    .iter()
                    .try_fold(0u64, |n, d| n.checked_mul(10)?.checked_add(u64::from(d - b'0')))
                    .is_none_or(|n| n > MAX_ITERATIONS)
        })
    })
}

/// The client nonce of a SCRAM client-first (`n,,n=user,r=NONCE`).
fn client_nonce(client_first: &[u8]) -> Option<Vec<u8>> {
    let at = client_first.windows(3).position(|w| w == b",r=")?;
    let rest = &client_first[at + 3..];
    let end = rest.iter().position(|&b| b == b',').unwrap_or(rest.len());
    Some(rest[..end].to_vec())
}

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, rest)) = data.split_first() else {
        return;
    };
    let secret = if ctl & 4 != 0 {
        "S3cr3t-p\u{e9}ncil-Pw0rd"
    } else {
        "S3cr3t-pencil-Pw0rd"
    };
    let username = match ctl & 3 {
        0 | 1 => "user",
        2 => "us\u{e9}r\u{2163}",
        _ => "a,b=c",
    };
    let mut credentials = Credentials::new(username, Secret::new(secret));
    if ctl & 3 == 1 {
        credentials = credentials.with_authzid("admin,x=y");
    }
    let skip_initial = ctl & 8 != 0;
    let challenges: Vec<&[u8]> = rest.split(|&b| b == 0xFF).take(MAX_CHALLENGES).collect();
    let may_check_secret = !contains(data, secret.as_bytes());

    let check_error = |e: &sasl::SaslError| {
        let text = e.to_string();
        if may_check_secret {
            assert!(!text.contains(secret), "secret in an error: {text}");
        }
    };

    for name in sasl::PASSWORD_ORDER.iter().chain(sasl::TOKEN_ORDER) {
        let mut mechanism = match sasl::mechanism(name, &credentials, "mx.example.org", 587) {
            Ok(Some(m)) => m,
            Ok(None) => panic!("{name} is listed but unknown"),
            Err(e) => {
                check_error(&e);
                continue;
            }
        };
        assert!(mechanism.name().eq_ignore_ascii_case(name));
        let hides_secret = !sasl::is_plaintext_equivalent(name);
        let is_scram = name.starts_with("SCRAM");
        let mut nonce = None;
        if !skip_initial {
            match mechanism.initial_response() {
                Ok(Some(initial)) => {
                    if hides_secret && may_check_secret {
                        assert!(!contains(&initial, secret.as_bytes()), "{name}: secret in the initial response");
                    }
                    nonce = client_nonce(&initial);
                }
                Ok(None) => {}
                Err(e) => check_error(&e),
            }
        }
        for challenge in &challenges {
            let challenge = match (&nonce, is_scram) {
                (Some(n), true) => replace(challenge, b"CNONCE", n),
                _ => challenge.to_vec(),
            };
            if is_scram && too_many_iterations(&challenge) {
                break;
            }
            match mechanism.respond(&challenge) {
                Ok(answer) => {
                    if hides_secret && may_check_secret {
                        assert!(!contains(&answer, secret.as_bytes()), "{name}: secret in a response");
                    }
                    if is_scram && nonce.is_none() {
                        nonce = client_nonce(&answer);
                    }
                }
                Err(e) => check_error(&e),
            }
        }
        if let Err(e) = mechanism.complete() {
            check_error(&e);
        }
        if let Some(text) = mechanism.server_error() {
            assert!(!text.chars().any(|c| c.is_control() && c != ' '), "{name}: control character in server_error {text:?}");
        }
    }
});
