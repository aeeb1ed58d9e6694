//! DKIM verification (RFC 6376 §6): every DKIM-Signature of a message
//! checked, each with its own verdict and reason. It exists so that a
//! sender can check what it sends (`postie dkim verify`) and so that the
//! tests can check what postie signs; it is not a receiving MTA's policy
//! engine (no DMARC alignment, no reputation).
//!
//! What it checks: the tags (`v=1`; `a=` `rsa-sha256` or `ed25519-sha256`,
//! `rsa-sha1` refused as too weak per RFC 8301; `h=` covering From; `i=`
//! within `d=`; `x=` not past), the key record (`k=`, `h=`, `s=`, `t=`;
//! an empty `p=` is a revoked key), the body hash (honouring `l=`, with a
//! warning that the rest of the body is unsigned) and the signature, with
//! AWS-LC: RSASSA-PKCS1-v1_5 with SHA-256, and Ed25519 over the SHA-256 of
//! the signed data (RFC 8463). RSA keys of 1024 bits and more are accepted
//! as RFC 8301 requires of verifiers, those under 2048 bits with a
//! warning; smaller ones fail.
//!
//! The canonicalization is the signer's own ([`super::canon`]), so the two
//! cannot disagree with each other without the tests against dkimpy and
//! OpenDKIM noticing. Keys come from a caller's lookup function, so it
//! works offline: a file of records, a test's table, or a DNS resolver.
//!
//! ```
//! use std::time::UNIX_EPOCH;
//! use postie_smtp::dkim::{verify, Signer, SigningKey, Verdict};
//!
//! let key = SigningKey::ed25519_from_seed(&[7u8; 32])?;
//! let record = key.dns_record();
//! let signer = Signer::new(key, "example.org", "mail")?;
//! let body = b"From: a@example.org\r\nSubject: hi\r\n\r\nhello\r\n";
//! let field = signer.sign_bytes(body, std::time::SystemTime::now())?;
//! let message = [format!("DKIM-Signature:{field}\r\n").as_bytes(), body].concat();
//! let results = verify(&message, |name: &str| {
//!     Ok((name == "mail._domainkey.example.org").then(|| record.clone()))
//! });
//! assert_eq!(results.len(), 1);
//! assert_eq!(results[0].verdict, Verdict::Pass);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod record;
mod tags;

use std::fmt;
use std::time::SystemTime;

use aws_lc_rs::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};

use super::canon::{self, BodyHasher, Canonicalization};
use super::Algorithm;

/// The outcome of one signature.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// The signature verified: the signed fields and the (signed part of
    /// the) body are as the signer made them.
    Pass,
    /// The signature does not verify, or cannot be used; the reason says
    /// which (RFC 6376's PERMFAIL).
    Fail(Failure),
    /// The key could not be fetched now (the lookup's error); trying again
    /// later may succeed (RFC 6376's TEMPFAIL).
    TempError(String),
}

/// Why a signature failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Failure {
    /// The field is not a tag list, or a tag is missing or unreadable.
    #[error("the signature cannot be read: {0}")]
    Malformed(String),
    /// `v=` is not 1.
    #[error("v={0} is not a DKIM-Signature version this verifier knows (1)")]
    Version(String),
    /// An `a=` this verifier does not know.
    #[error("a={0} is not an algorithm this verifier knows (rsa-sha256, ed25519-sha256)")]
    UnknownAlgorithm(String),
    /// `a=rsa-sha1`, which RFC 8301 says must not be counted.
    #[error("a=rsa-sha1 is too weak to count (RFC 8301): not verified")]
    Sha1,
    /// `h=` leaves out From.
    #[error("h= does not cover From, which every signature must")]
    FromNotSigned,
    /// `i=` names a domain outside `d=`.
    #[error("i={identity} is not in d={domain} or one of its subdomains")]
    Identity {
        /// `i=`.
        identity: String,
        /// `d=`.
        domain: String,
    },
    /// `i=` is in a subdomain of `d=`, which the key (`t=s`) forbids.
    #[error("i={identity} is in a subdomain of d={domain}, which the key forbids (t=s)")]
    StrictIdentity {
        /// `i=`.
        identity: String,
        /// `d=`.
        domain: String,
    },
    /// `q=` names no query method this verifier knows.
    #[error("q={0} names no key query method this verifier knows (dns/txt)")]
    QueryMethod(String),
    /// `x=` is past.
    #[error("the signature expired at {} (x={expires}); it is now {}", time(*.expires), time(*.now))]
    Expired {
        /// `x=`, in seconds since 1970.
        expires: u64,
        /// The time of the check.
        now: u64,
    },
    /// No key record at the name.
    #[error("no key record at {0}")]
    NoKey(String),
    /// The record's `p=` is empty: the key was withdrawn.
    #[error("the key at {0} is revoked (its p= is empty)")]
    Revoked(String),
    /// The record cannot be used for this signature.
    #[error("the key record at {name} cannot be used: {reason}")]
    BadKey {
        /// Where it was looked up (`selector._domainkey.domain`).
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An RSA key under 1024 bits (RFC 8301: never valid).
    #[error(
        "the RSA key has {0} bits, and RFC 8301 counts no signature made with fewer than 1024"
    )]
    KeyTooSmall(usize),
    /// `l=` is longer than the body.
    #[error("l={length} is longer than the body ({actual} bytes once canonicalized)")]
    BodyLength {
        /// `l=`.
        length: u64,
        /// The canonicalized body's length.
        actual: u64,
    },
    /// The body is not the one signed.
    #[error("body hash mismatch: the body was changed after signing")]
    BodyHash,
    /// The signature does not match the signed header fields.
    #[error("signature mismatch: a signed header field was changed or added after signing, or the key is not the signer's")]
    Signature,
}

/// Something a passing signature leaves open.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Warning {
    /// An RSA key under 2048 bits: valid (RFC 8301 asks verifiers to
    /// accept 1024), but weak.
    WeakKey {
        /// The modulus's size.
        bits: usize,
    },
    /// `l=`: only the start of the body is signed; anything after it could
    /// have been appended by anyone.
    PartialBody {
        /// How many canonicalized body bytes are signed.
        signed: u64,
        /// How many there are.
        total: u64,
    },
    /// The key record says the domain is testing DKIM (`t=y`).
    Testing,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WeakKey { bits } => write!(
                f,
                "weak key: {bits}-bit RSA (RFC 8301 asks signers for 2048 bits or more)"
            ),
            Self::PartialBody { signed, total } => write!(
                f,
                "l={signed}: the signature covers only the first {signed} of the body's {total} bytes; the rest is unsigned"
            ),
            Self::Testing => f.write_str("the key is in test mode (t=y)"),
        }
    }
}

/// One DKIM-Signature of a message, checked. The tags are as the field has
/// them (empty when missing or unreadable), so a failure can still be told
/// apart from another.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Verification {
    /// `d=`, the signing domain (in lower case).
    pub domain: String,
    /// `s=`, the selector.
    pub selector: String,
    /// `a=`, as written.
    pub algorithm: String,
    /// `i=`, the agent or user identifier, when given.
    pub identity: Option<String>,
    /// `t=`, when it was signed (seconds since 1970).
    pub signed_at: Option<u64>,
    /// `x=`, when it expires (seconds since 1970).
    pub expires: Option<u64>,
    /// `l=`, how many canonicalized body bytes it covers, when limited.
    pub body_length: Option<u64>,
    /// The RSA key's size in bits, once the key was read.
    pub key_bits: Option<usize>,
    /// What a pass leaves open (a weak key, a partly signed body).
    pub warnings: Vec<Warning>,
    /// Pass, fail with the reason, or a temporary error.
    pub verdict: Verdict,
}

impl Verification {
    /// Whether the signature verified.
    pub fn passed(&self) -> bool {
        self.verdict == Verdict::Pass
    }

    /// `selector._domainkey.domain`, where the key is published.
    pub fn key_name(&self) -> String {
        format!("{}._domainkey.{}", self.selector, self.domain)
    }
}

/// Checks every DKIM-Signature of `message` (top first) now, fetching each
/// key with `lookup`: given `selector._domainkey.domain`, it answers the
/// TXT record's text (its strings joined), `Ok(None)` when there is none,
/// or `Err` when it could not ask (a temporary error).
///
/// The message is read as SMTP carries it: a bare LF or CR is taken for
/// CRLF (a message saved by a Unix mail store has LF line ends). A message
/// without a DKIM-Signature gives an empty list.
pub fn verify(
    message: &[u8],
    lookup: impl Fn(&str) -> Result<Option<String>, String>,
) -> Vec<Verification> {
    verify_at(message, lookup, SystemTime::now())
}

/// [`verify`] as at `now` (for `x=`).
pub fn verify_at(
    message: &[u8],
    lookup: impl Fn(&str) -> Result<Option<String>, String>,
    now: SystemTime,
) -> Vec<Verification> {
    let now = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let message = wire_form(message);
    let (header, body) = split(&message);
    let fields = canon::fields(&header);
    let mut bodies = Bodies {
        body,
        done: Vec::new(),
    };
    fields
        .iter()
        .filter(|f| f.name.eq_ignore_ascii_case("dkim-signature"))
        .map(|field| {
            let mut check = Check {
                fields: &fields,
                field,
                bodies: &mut bodies,
                lookup: &lookup,
                now,
            };
            check.run()
        })
        .collect()
}

/// The message with its line ends made CRLF, as the data encoder sends
/// it (and as the signer signed it).
fn wire_form(message: &[u8]) -> Vec<u8> {
    let mut encoder = crate::data::DataEncoder::line_endings_only();
    let mut out = Vec::with_capacity(message.len() + 2);
    encoder.encode(message, &mut out);
    encoder.finish_lines(&mut out);
    out
}

/// The header section (each field with its CRLF) and the body.
fn split(message: &[u8]) -> (Vec<u8>, &[u8]) {
    if let Some(body) = message.strip_prefix(b"\r\n") {
        return (Vec::new(), body);
    }
    match memchr::memmem::find(message, b"\r\n\r\n") {
        Some(at) => (message[..at + 2].to_vec(), &message[at + 4..]),
        // All header: wire_form ended it with a CRLF.
        None => (message.to_vec(), &[]),
    }
}

/// The body hashed once for each canonicalization and length asked for.
struct Bodies<'m> {
    body: &'m [u8],
    done: Vec<BodyKey>,
}

/// A body hash: what it was computed for, and what came out.
struct BodyKey {
    canon: Canonicalization,
    limit: Option<u64>,
    hash: Vec<u8>,
    total: u64,
}

impl Bodies<'_> {
    /// The hash of the body canonicalized with `canon` and cut at `limit`,
    /// and the canonicalized body's whole length.
    fn hash(&mut self, canon: Canonicalization, limit: Option<u64>) -> (Vec<u8>, u64) {
        if let Some(done) = self
            .done
            .iter()
            .find(|d| d.canon == canon && d.limit == limit)
        {
            return (done.hash.clone(), done.total);
        }
        let mut hasher = BodyHasher::with_limit(canon, limit);
        hasher.update(self.body);
        let (hash, total) = hasher.finish_counted();
        let hash = hash.as_ref().to_vec();
        self.done.push(BodyKey {
            canon,
            limit,
            hash: hash.clone(),
            total,
        });
        (hash, total)
    }
}

/// One signature being checked.
struct Check<'c, 'm, L> {
    fields: &'c [canon::Field<'m>],
    field: &'c canon::Field<'m>,
    bodies: &'c mut Bodies<'m>,
    lookup: &'c L,
    now: u64,
}

/// The tags of a signature, read and checked (RFC 6376 §6.1.1).
struct Signature {
    algorithm: Algorithm,
    header_canon: Canonicalization,
    body_canon: Canonicalization,
    headers: Vec<String>,
    body_hash: Vec<u8>,
    signature: Vec<u8>,
    /// Where `b=`'s value is in the field's raw bytes.
    b_span: std::ops::Range<usize>,
}

impl<L: Fn(&str) -> Result<Option<String>, String>> Check<'_, '_, L> {
    fn run(&mut self) -> Verification {
        let mut result = Verification {
            domain: String::new(),
            selector: String::new(),
            algorithm: String::new(),
            identity: None,
            signed_at: None,
            expires: None,
            body_length: None,
            key_bits: None,
            warnings: Vec::new(),
            verdict: Verdict::Pass,
        };
        if let Err(verdict) = self.check(&mut result) {
            result.verdict = verdict;
            // A failure's warnings would only distract from its reason.
            result.warnings.clear();
        }
        result
    }

    fn check(&mut self, result: &mut Verification) -> Result<(), Verdict> {
        let fail = |f: Failure| Verdict::Fail(f);
        let raw = self.field.raw;
        // The value: after the colon, without the field's own CRLF.
        let colon = memchr::memchr(b':', raw).unwrap_or(raw.len());
        let value_start = colon + 1;
        let value_end = raw.len() - usize::from(raw.ends_with(b"\r\n")) * 2;
        let value = raw.get(value_start..value_end).unwrap_or_default();
        let list = tags::parse(value).map_err(|e| fail(Failure::Malformed(e)))?;
        let text = |name: &str| tags::find(&list, name).map(tags::Tag::text);
        result.domain = text("d").unwrap_or_default().to_ascii_lowercase();
        result.selector = text("s").unwrap_or_default();
        result.algorithm = text("a").unwrap_or_default();
        result.identity = text("i");
        let number = |name: &str| -> Result<Option<u64>, Verdict> {
            text(name)
                .map(|t| {
                    t.parse::<u64>().map_err(|_| {
                        fail(Failure::Malformed(format!("{name}={t} is not a number")))
                    })
                })
                .transpose()
        };
        result.signed_at = number("t")?;
        result.expires = number("x")?;
        result.body_length = number("l")?;
        let signature = self.signature(&list, result).map_err(fail)?;
        let name = result.key_name();
        let record = match (self.lookup)(&name) {
            Err(e) => return Err(Verdict::TempError(format!("looking up {name}: {e}"))),
            Ok(None) => return Err(fail(Failure::NoKey(name))),
            Ok(Some(record)) => record,
        };
        let key = record::parse(&name, &record, signature.algorithm).map_err(fail)?;
        if key.testing {
            result.warnings.push(Warning::Testing);
        }
        if key.strict {
            if let Some(identity) = &result.identity {
                if identity_domain(identity).is_some_and(|d| d != result.domain) {
                    return Err(fail(Failure::StrictIdentity {
                        identity: identity.clone(),
                        domain: result.domain.clone(),
                    }));
                }
            }
        }
        // The body (§6.1.3, first step).
        let (hash, total) = self.bodies.hash(signature.body_canon, result.body_length);
        if let Some(length) = result.body_length {
            if length > total {
                return Err(fail(Failure::BodyLength {
                    length,
                    actual: total,
                }));
            }
            if length < total {
                result.warnings.push(Warning::PartialBody {
                    signed: length,
                    total,
                });
            }
        }
        if hash != signature.body_hash {
            return Err(fail(Failure::BodyHash));
        }
        // The header: the fields h= selects, then this field with b= empty
        // and without its final CRLF (RFC 6376 §3.7).
        let mut data = canon::selected(self.fields, &signature.headers, signature.header_canon);
        let span = value_start + signature.b_span.start..value_start + signature.b_span.end;
        let mut own = raw[..span.start].to_vec();
        own.extend_from_slice(&raw[span.end..]);
        canon::header(&own, signature.header_canon, &mut data);
        data.truncate(data.len().saturating_sub(2));
        let good = match &key.public {
            record::Public::Ed25519(public) => {
                let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &data);
                UnparsedPublicKey::new(&signature::ED25519, public)
                    .verify(digest.as_ref(), &signature.signature)
                    .is_ok()
            }
            record::Public::Rsa { n, e, bits } => {
                result.key_bits = Some(*bits);
                let parameters = if *bits >= 2048 {
                    &signature::RSA_PKCS1_2048_8192_SHA256
                } else {
                    result.warnings.push(Warning::WeakKey { bits: *bits });
                    &signature::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY
                };
                RsaPublicKeyComponents { n, e }
                    .verify(parameters, &data, &signature.signature)
                    .is_ok()
            }
        };
        if good {
            Ok(())
        } else {
            Err(fail(Failure::Signature))
        }
    }

    /// The tags checked as RFC 6376 §6.1.1 says, before any key is fetched.
    fn signature(
        &self,
        list: &[tags::Tag<'_>],
        result: &Verification,
    ) -> Result<Signature, Failure> {
        let required = |name: &str| {
            tags::find(list, name)
                .ok_or_else(|| Failure::Malformed(format!("it has no {name}= tag")))
        };
        let version = required("v")?.text();
        if version != "1" {
            return Err(Failure::Version(version));
        }
        let algorithm = match result.algorithm.to_ascii_lowercase().as_str() {
            "rsa-sha256" => Algorithm::RsaSha256,
            "ed25519-sha256" => Algorithm::Ed25519Sha256,
            "rsa-sha1" => return Err(Failure::Sha1),
            _ => {
                required("a")?;
                return Err(Failure::UnknownAlgorithm(result.algorithm.clone()));
            }
        };
        let base64 = |name: &str| {
            let tag = required(name)?;
            encodify::base64::STANDARD
                .decode(tag.compact())
                .map_err(|_| Failure::Malformed(format!("{name}= is not base64")))
                .map(|bytes| (bytes, tag.span.clone()))
        };
        let (signature, b_span) = base64("b")?;
        let (body_hash, _) = base64("bh")?;
        required("d")?;
        required("s")?;
        if result.domain.is_empty() || result.selector.is_empty() {
            return Err(Failure::Malformed("d= or s= is empty".to_owned()));
        }
        let headers: Vec<String> = required("h")?
            .compact()
            .split(':')
            .map(str::to_owned)
            .collect();
        if headers.iter().any(String::is_empty) {
            return Err(Failure::Malformed("h= names an empty field".to_owned()));
        }
        if !headers.iter().any(|h| h.eq_ignore_ascii_case("from")) {
            return Err(Failure::FromNotSigned);
        }
        let (header_canon, body_canon) = canonicalizations(list)?;
        if let Some(q) = tags::find(list, "q") {
            let methods = q.compact();
            if !methods
                .split(':')
                .any(|m| m.eq_ignore_ascii_case("dns/txt"))
            {
                return Err(Failure::QueryMethod(methods));
            }
        }
        if let Some(identity) = &result.identity {
            let domain = identity_domain(identity)
                .ok_or_else(|| Failure::Malformed(format!("i={identity} has no @")))?;
            let inside =
                domain == result.domain || domain.ends_with(&format!(".{}", result.domain));
            if !inside {
                return Err(Failure::Identity {
                    identity: identity.clone(),
                    domain: result.domain.clone(),
                });
            }
        }
        if let Some(expires) = result.expires {
            if result.signed_at.is_some_and(|t| expires < t) {
                return Err(Failure::Malformed(format!(
                    "x={expires} is before t={}",
                    result.signed_at.unwrap_or_default()
                )));
            }
            if self.now > expires {
                return Err(Failure::Expired {
                    expires,
                    now: self.now,
                });
            }
        }
        Ok(Signature {
            algorithm,
            header_canon,
            body_canon,
            headers,
            body_hash,
            signature,
            b_span,
        })
    }
}

/// `c=`: header/body, `simple` when missing (RFC 6376 §3.5).
fn canonicalizations(
    list: &[tags::Tag<'_>],
) -> Result<(Canonicalization, Canonicalization), Failure> {
    let Some(c) = tags::find(list, "c") else {
        return Ok((Canonicalization::Simple, Canonicalization::Simple));
    };
    let text = c.compact().to_ascii_lowercase();
    let (header, body) = text.split_once('/').unwrap_or((&text, "simple"));
    let one = |name: &str| match name {
        "simple" => Ok(Canonicalization::Simple),
        "relaxed" => Ok(Canonicalization::Relaxed),
        _ => Err(Failure::Malformed(format!(
            "c={text}: {name:?} is not simple or relaxed"
        ))),
    };
    Ok((one(header)?, one(body)?))
}

/// The domain of an `i=` (after its last `@`), in lower case.
fn identity_domain(identity: &str) -> Option<String> {
    identity
        .rsplit_once('@')
        .map(|(_, domain)| domain.to_ascii_lowercase())
}

/// Seconds since 1970 as an RFC 3339 time, for messages.
fn time(seconds: u64) -> String {
    i64::try_from(seconds)
        .ok()
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .map_or_else(
            || seconds.to_string(),
            |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        )
}

#[cfg(test)]
mod tests;
