//! `--parts`: where a signature's time goes. The crypto under postie's
//! signer and under mail-auth's (both aws-lc-rs), timed alone on the same
//! inputs, and postie's signer on the message's header section alone
//! (an empty body), so that the body's share (canonicalization and
//! SHA-256) shows as the difference.

use std::hint::black_box;
use std::time::{Instant, SystemTime};

use postie_smtp::dkim::{Signer, SigningKey};

use crate::{fail, pem_body, Keys, DOMAIN};

/// One part: its label and one run of it.
pub struct Part {
    pub label: String,
    run: Box<dyn Fn()>,
}

impl Part {
    fn new(label: impl Into<String>, run: impl Fn() + 'static) -> Self {
        Self {
            label: label.into(),
            run: Box::new(run),
        }
    }
}

/// The parts for `algorithms`, on `message` (postie's W5 bytes).
pub fn parts(algorithms: &[&str], keys: &Keys, message: &[u8]) -> Vec<Part> {
    let split = memchr_empty_line(message).unwrap_or_else(|| fail("no empty line"));
    let head: Vec<u8> = message[..split + 2].to_vec(); // with its last CRLF
    let body: Vec<u8> = message[split + 4..].to_vec();
    let head_only: Vec<u8> = [head.as_slice(), b"\r\n"].concat();
    // What an RSA or Ed25519 key signs in DKIM is about the header
    // section's size (the canonical signed fields and the new field).
    let data: Vec<u8> = head.clone();
    let mut out = Vec::new();
    for &algorithm in algorithms {
        let pem = keys.pem(algorithm).to_owned();
        let key = SigningKey::from_bytes(pem.as_bytes())
            .unwrap_or_else(|e| fail(&format!("{algorithm} key: {e}")));
        let signer = Signer::new(key, DOMAIN, "sel").unwrap_or_else(|e| fail(&e.to_string()));
        let head_only = head_only.clone();
        out.push(Part::new(
            format!(
                "postie sign_bytes, header section alone ({} B, empty body), {algorithm}",
                head_only.len()
            ),
            move || {
                black_box(
                    signer
                        .sign_bytes(black_box(&head_only), SystemTime::now())
                        .unwrap_or_else(|e| fail(&e.to_string())),
                );
            },
        ));
        let der = pem_body(&pem);
        if algorithm == "rsa" {
            let aws_key = aws_lc_rs::signature::RsaKeyPair::from_der(&der)
                .unwrap_or_else(|e| fail(&format!("aws-lc RSA: {e}")));
            let d = data.clone();
            out.push(Part::new(
                format!(
                    "aws-lc RSA-2048 PKCS#1 SHA-256 sign of {} B (postie and mail-auth)",
                    d.len()
                ),
                move || {
                    let rng = aws_lc_rs::rand::SystemRandom::new();
                    let mut sig = vec![0u8; aws_key.public_modulus_len()];
                    aws_key
                        .sign(&aws_lc_rs::signature::RSA_PKCS1_SHA256, &rng, &d, &mut sig)
                        .unwrap_or_else(|e| fail(&format!("aws-lc: {e}")));
                    black_box(sig);
                },
            ));
        } else {
            let aws_key = aws_lc_rs::signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der)
                .unwrap_or_else(|e| fail(&format!("aws-lc Ed25519: {e}")));
            let d = data.clone();
            out.push(Part::new(
                format!(
                    "aws-lc SHA-256 of {} B + Ed25519 sign (postie and mail-auth)",
                    d.len()
                ),
                move || {
                    let hash = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &d);
                    black_box(aws_key.sign(hash.as_ref()));
                },
            ));
        }
    }
    let b = body;
    out.push(Part::new(
        format!("aws-lc SHA-256 of the body as it is ({} B)", b.len()),
        move || {
            black_box(aws_lc_rs::digest::digest(
                &aws_lc_rs::digest::SHA256,
                black_box(&b),
            ));
        },
    ));
    out
}

/// Times `count` runs of `part`, in seconds.
pub fn time(part: &Part, count: u64) -> f64 {
    let t = Instant::now();
    for _ in 0..count {
        (part.run)();
    }
    t.elapsed().as_secs_f64()
}

/// Where the header section ends (the index of its last CRLF's CR).
fn memchr_empty_line(message: &[u8]) -> Option<usize> {
    message.windows(4).position(|w| w == b"\r\n\r\n")
}
