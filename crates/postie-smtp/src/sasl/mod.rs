//! SASL mechanisms for SMTP AUTH (RFC 4954).
//!
//! The protocol core drives a [`Mechanism`]: it sends `AUTH NAME` with the
//! base64 of [`Mechanism::initial_response`] when there is one, base64-decodes
//! every `334` challenge and hands the raw bytes to [`Mechanism::respond`],
//! base64-encodes the answer, and on `235` calls [`Mechanism::complete`], which
//! fails when the mechanism promised mutual authentication (SCRAM, DIGEST-MD5)
//! and the server did not prove that it knows the password.
//!
//! | name            | module         | standard              | server proves itself | secret on the wire |
//! |-----------------|----------------|-----------------------|----------------------|--------------------|
//! | `SCRAM-SHA-256` | `scram`        | RFC 5802, RFC 7677    | yes                  | no                 |
//! | `SCRAM-SHA-1`   | `scram`        | RFC 5802              | yes                  | no                 |
//! | `DIGEST-MD5`    | `digest_md5`   | RFC 2831 (historic)   | yes                  | no                 |
//! | `CRAM-MD5`      | `cram_md5`     | RFC 2195              | no                   | no                 |
//! | `LOGIN`         | `login`        | draft-murchison-sasl-login | no              | yes                |
//! | `PLAIN`         | `plain`        | RFC 4616              | no                   | yes                |
//! | `OAUTHBEARER`   | `oauth`        | RFC 7628              | no                   | yes (the token)    |
//! | `XOAUTH2`       | `oauth`        | Google's XOAUTH2      | no                   | yes (the token)    |
//!
//! Secrets are held in [`Secret`], whose `Debug` and `Display` print
//! `[redacted]`, and no [`SaslError`] ever contains one.
//!
//! ```
//! use postie_smtp::sasl::{self, Credentials, Secret};
//!
//! let creds = Credentials::new("tim", Secret::new("tanstaaftanstaaf"));
//! let mut mech = sasl::mechanism("cram-md5", &creds, "mail.example.org", 587)?
//!     .expect("CRAM-MD5 is known");
//! assert_eq!(mech.name(), "CRAM-MD5");
//! assert_eq!(mech.initial_response()?, None);
//! let answer = mech.respond(b"<1896.697170952@postoffice.reston.mci.net>")?;
//! assert_eq!(*answer, b"tim b913a602c7eda7a495b4e6e7334d3890");
//! mech.complete()?;
//! # Ok::<(), sasl::SaslError>(())
//! ```

use std::fmt;

use hmac::digest::{Digest, KeyInit};
use hmac::{Mac, SimpleHmac};

mod cram_md5;
mod digest_md5;
mod login;
mod oauth;
mod plain;
mod scram;

/// Wipes its buffer when dropped: what [`Mechanism`] answers with (the
/// responses carry the password, or values derived from it), so that the
/// memory it is freed to does not keep a copy. Re-exported from the
/// `zeroize` crate for the implementations of [`Mechanism`].
pub use zeroize::Zeroizing;

/// A secret (password or OAuth token): `Debug` and `Display` print
/// `[redacted]`, so it is never logged by accident, and its memory is
/// wiped when it is dropped (clones included), so that no freed copy is
/// left for a core file or a memory disclosure to show.
#[derive(Clone)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// Wraps a password or token. The string is moved in, not copied: the
    /// caller has no copy left to wipe.
    pub fn new(s: impl Into<String>) -> Self {
        Self(Zeroizing::new(s.into()))
    }

    /// The secret itself, for the code that has to use it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Self::new(s)
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Self::new(s)
    }
}

/// The inner [`Zeroizing`] wipes the string when a `Secret` is dropped.
impl zeroize::ZeroizeOnDrop for Secret {}

/// What the user gave.
#[derive(Clone, Debug)]
pub struct Credentials {
    /// The authentication identity (the login name).
    pub username: String,
    /// The password, or the OAuth 2.0 access token for `OAUTHBEARER` and
    /// `XOAUTH2`.
    pub secret: Secret,
    /// The identity to act as, when it differs from `username`. Carried by
    /// PLAIN, SCRAM, DIGEST-MD5 and OAUTHBEARER; LOGIN, CRAM-MD5 and XOAUTH2
    /// have no place for it (see [`supports_authzid`]).
    pub authzid: Option<String>,
}

impl Credentials {
    /// Credentials without an authorization identity.
    pub fn new(username: impl Into<String>, secret: impl Into<Secret>) -> Self {
        Self {
            username: username.into(),
            secret: secret.into(),
            authzid: None,
        }
    }

    /// The same credentials, asking to act as `authzid`.
    #[must_use]
    pub fn with_authzid(mut self, authzid: impl Into<String>) -> Self {
        self.authzid = Some(authzid.into());
        self
    }
}

/// Why a mechanism cannot go on (malformed challenge, server proof wrong,
/// SASLprep failure...). Its `Display` never contains the secret; text that
/// came from the server is shown with control characters escaped and cut to
/// a reasonable length.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SaslError {
    /// The credentials (or the host name) cannot be used with this
    /// mechanism: a NUL in a PLAIN field, a string SASLprep rejects, a
    /// character DIGEST-MD5 cannot encode...
    #[error("{mechanism}: {reason}")]
    InvalidInput {
        /// The mechanism's name.
        mechanism: &'static str,
        /// What is wrong; never contains the secret.
        reason: &'static str,
    },
    /// The server's challenge does not follow the mechanism's syntax.
    #[error("{mechanism}: malformed server challenge: {reason}")]
    MalformedChallenge {
        /// The mechanism's name.
        mechanism: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The server sent a challenge when the mechanism expected none (after
    /// the exchange was over, or after an earlier error).
    #[error("{mechanism}: unexpected server challenge")]
    UnexpectedChallenge {
        /// The mechanism's name.
        mechanism: &'static str,
    },
    /// The server asked for something this client refuses to do: a SCRAM
    /// mandatory extension, an iteration count out of range, a DIGEST-MD5
    /// challenge without `qop=auth`...
    #[error("{mechanism}: unsupported server request: {reason}")]
    Unsupported {
        /// The mechanism's name.
        mechanism: &'static str,
        /// What was asked.
        reason: String,
    },
    /// The server's proof that it knows the password is wrong: it is not
    /// the server the password was set up with (or a man in the middle).
    #[error("{mechanism}: the server's proof of identity is wrong")]
    ServerProofMismatch {
        /// The mechanism's name.
        mechanism: &'static str,
    },
    /// The server accepted the authentication without having proved its
    /// identity, which this mechanism requires.
    #[error("{mechanism}: the server accepted authentication without proving its identity")]
    MutualAuthMissing {
        /// The mechanism's name.
        mechanism: &'static str,
    },
    /// The server reported an error inside the exchange: a SCRAM `e=`
    /// server-final, or the JSON status of OAUTHBEARER/XOAUTH2.
    #[error("{mechanism}: server error: {message}")]
    Server {
        /// The mechanism's name.
        mechanism: &'static str,
        /// The server's text, control characters escaped.
        message: String,
    },
    /// The operating system could not provide random bytes for a nonce.
    #[error("cannot get random bytes for a client nonce: {0}")]
    Random(getrandom::Error),
}

/// One run of a mechanism.
pub trait Mechanism: Send {
    /// The IANA name, e.g. `"SCRAM-SHA-256"`.
    fn name(&self) -> &'static str;

    /// The initial response to send with AUTH, when the mechanism has one
    /// (client-first for SCRAM, the PLAIN message, the XOAUTH2/OAUTHBEARER
    /// message). `None` for LOGIN, CRAM-MD5, DIGEST-MD5 (server speaks
    /// first).
    ///
    /// A core that does not send it (say, because the line would be too
    /// long) may skip this call: the mechanisms that have an initial
    /// response answer the server's empty `334` with it instead.
    ///
    /// Like every response, in a buffer wiped when dropped.
    fn initial_response(&mut self) -> Result<Option<Zeroizing<Vec<u8>>>, SaslError>;

    /// The answer to one decoded server challenge, in a buffer wiped when
    /// dropped.
    fn respond(&mut self, challenge: &[u8]) -> Result<Zeroizing<Vec<u8>>, SaslError>;

    /// Called when the server says 235: `Err` if the mechanism requires
    /// mutual authentication that did not happen (SCRAM: server signature
    /// not received/verified; DIGEST-MD5: rspauth not received/verified), or
    /// if the server reported an error during the exchange.
    fn complete(&self) -> Result<(), SaslError>;

    /// The error the server reported inside the exchange, if any: the JSON
    /// status of OAUTHBEARER/XOAUTH2 (answered so that the server can send
    /// its final failure reply) or a SCRAM `e=` value. The core should show
    /// it along with the failure reply that follows. Control characters are
    /// escaped.
    fn server_error(&self) -> Option<&str> {
        None
    }
}

/// Whether a mechanism exposes the secret to anyone who reads the
/// connection (PLAIN, LOGIN, XOAUTH2, OAUTHBEARER: true), so that it should
/// only be used under TLS. Case-insensitive; an unknown name counts as
/// plaintext-equivalent, the safe assumption.
pub fn is_plaintext_equivalent(name: &str) -> bool {
    !["SCRAM-SHA-256", "SCRAM-SHA-1", "DIGEST-MD5", "CRAM-MD5"]
        .iter()
        .any(|m| m.eq_ignore_ascii_case(name))
}

/// Whether mechanism `name` (case-insensitive) can carry
/// [`Credentials::authzid`]. LOGIN, CRAM-MD5 and XOAUTH2 cannot; they
/// ignore it, so a core that must honour an authzid should skip them.
pub fn supports_authzid(name: &str) -> bool {
    [
        "SCRAM-SHA-256",
        "SCRAM-SHA-1",
        "DIGEST-MD5",
        "PLAIN",
        "OAUTHBEARER",
    ]
    .iter()
    .any(|m| m.eq_ignore_ascii_case(name))
}

/// The order tried when the user names none and gives a password: the
/// strongest first.
pub const PASSWORD_ORDER: &[&str] = &[
    "SCRAM-SHA-256",
    "SCRAM-SHA-1",
    "DIGEST-MD5",
    "CRAM-MD5",
    "LOGIN",
    "PLAIN",
];

/// The order tried when the user names none and gives an OAuth 2.0 token.
pub const TOKEN_ORDER: &[&str] = &["OAUTHBEARER", "XOAUTH2"];

/// Builds mechanism `name` (case-insensitive) for these credentials; `host`
/// is the server's name (for DIGEST-MD5's digest-uri fallback and
/// OAUTHBEARER's `host`), `port` its port. Random client nonces come from
/// `getrandom` here. `Ok(None)` for an unknown name.
///
/// Credentials the mechanism cannot carry are refused here, before anything
/// is sent: a NUL in PLAIN, a username or password SASLprep rejects for
/// SCRAM, a control character in an OAuth token...
pub fn mechanism(
    name: &str,
    credentials: &Credentials,
    host: &str,
    port: u16,
) -> Result<Option<Box<dyn Mechanism>>, SaslError> {
    let upper = name.to_ascii_uppercase();
    let mech: Box<dyn Mechanism> = match upper.as_str() {
        "PLAIN" => Box::new(plain::Plain::new(credentials)?),
        "LOGIN" => Box::new(login::Login::new(credentials)),
        "CRAM-MD5" => Box::new(cram_md5::CramMd5::new(credentials)),
        "DIGEST-MD5" => Box::new(digest_md5::DigestMd5::new(credentials, host)?),
        "SCRAM-SHA-1" => Box::new(scram::Scram::<scram::Sha1>::new(credentials)?),
        "SCRAM-SHA-256" => Box::new(scram::Scram::<scram::Sha256>::new(credentials)?),
        "XOAUTH2" => Box::new(oauth::XOAuth2::new(credentials)?),
        "OAUTHBEARER" => Box::new(oauth::OAuthBearer::new(credentials, host, port)?),
        _ => return Ok(None),
    };
    Ok(Some(mech))
}

/// The mechanisms to try, in order, before they are matched with those the
/// server offers: the user's list (`wanted`, upper-cased) when there is
/// one, else [`TOKEN_ORDER`] for an OAuth token or [`PASSWORD_ORDER`].
pub fn preference(wanted: &[String], token: bool) -> Vec<String> {
    if !wanted.is_empty() {
        return wanted
            .iter()
            .map(|m| m.trim().to_ascii_uppercase())
            .collect();
    }
    let order = if token { TOKEN_ORDER } else { PASSWORD_ORDER };
    order.iter().map(|m| (*m).to_owned()).collect()
}

/// `prefix` and then the base64 of a mechanism's response: the line that
/// carries it (`AUTH NAME <initial>`, or the answer to a challenge with an
/// empty prefix). In one buffer of the exact size, wiped on drop, as the
/// response is.
pub fn response_line(prefix: &str, response: &[u8]) -> Zeroizing<String> {
    let mut line = Zeroizing::new(String::with_capacity(
        prefix.len() + response.len().div_ceil(3) * 4,
    ));
    line.push_str(prefix);
    encodify::base64::STANDARD.encode_append(response, &mut *line);
    line
}

/// The bytes of a `334` challenge's text (base64; empty or `=` is an empty
/// challenge); `None` when it is not base64.
pub fn decode_challenge(text: &str) -> Option<Vec<u8>> {
    if text.is_empty() || text == "=" {
        return Some(Vec::new());
    }
    encodify::base64::STANDARD.decode(text).ok()
}

// ---------------------------------------------------------------------------
// Helpers shared by the mechanisms.

/// `n` random bytes, base64 (standard alphabet). With `n` a multiple of 3
/// there is no padding.
fn random_base64(n: usize) -> Result<String, SaslError> {
    let mut buf = vec![0u8; n];
    getrandom::fill(&mut buf).map_err(SaslError::Random)?;
    Ok(encodify::base64::STANDARD.encode(buf))
}

/// The concatenation of `parts`, in one buffer of the exact size (a
/// regrowth would free a copy without wiping it), wiped on drop: for
/// messages that carry a secret, where `format!` would leave copies.
fn assemble(parts: &[&[u8]]) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(parts.iter().map(|p| p.len()).sum()));
    for part in parts {
        out.extend_from_slice(part);
    }
    out
}

/// Server text made safe to show: invalid UTF-8 replaced, control
/// characters escaped, at most 200 characters.
fn printable(bytes: &[u8]) -> String {
    const MAX: usize = 200;
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i == MAX {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Compares two byte strings in time that depends only on their lengths.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// Lowercase hex.
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

/// HMAC-MD5 over the concatenation of `parts`, for CRAM-MD5. AWS-LC, the
/// crate's crypto library (SCRAM's HMAC is there), has no MD5, so this one
/// is RustCrypto's `hmac` over `md-5`. The key is brought to the block size
/// the way HMAC does it (hashed when longer, zero-padded), which lets us use
/// the infallible constructor. The result is wiped on drop: with a password
/// for key it is a password equivalent.
fn hmac_md5(key: &[u8], parts: &[&[u8]]) -> Zeroizing<Vec<u8>> {
    let mut block = hmac::digest::Key::<SimpleHmac<md5::Md5>>::default();
    let hashed;
    let key = if key.len() > block.len() {
        hashed = md5::Md5::digest(key);
        hashed.as_slice()
    } else {
        key
    };
    for (slot, byte) in block.iter_mut().zip(key) {
        *slot = *byte;
    }
    let mut mac = <SimpleHmac<md5::Md5> as KeyInit>::new(&block);
    // The block is the password.
    zeroize::Zeroize::zeroize(block.as_mut_slice());
    for part in parts {
        Mac::update(&mut mac, part);
    }
    Zeroizing::new(mac.finalize().into_bytes().to_vec())
}

/// SASLprep (RFC 4013), for SCRAM.
fn saslprep(s: &str, mechanism: &'static str, reason: &'static str) -> Result<String, SaslError> {
    stringprep::saslprep(s)
        .map(std::borrow::Cow::into_owned)
        .map_err(|_| SaslError::InvalidInput { mechanism, reason })
}

/// The GS2 `saslname` encoding of RFC 5801/5802: `,` → `=2C`, `=` → `=3D`.
fn gs2_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            ',' => out.push_str("=2C"),
            '=' => out.push_str("=3D"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_os = "linux")]
    use postie_testkit::freed;

    /// A dropped [`Secret`], and a dropped clone of one, leave no copy of
    /// the password in the memory they free.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_dropped_secret_leaves_no_copy() {
        const PASSWORD: &str = "correct-horse-battery-staple-0123456789";
        freed::check_control(PASSWORD.as_bytes());
        let secret = Secret::new(PASSWORD);
        let clone = secret.clone();
        for s in [secret, clone] {
            let (addr, len) = (s.expose().as_ptr(), s.expose().len());
            let memory = freed::after_drop(s, addr, len);
            assert!(!freed::holds(&memory, PASSWORD.as_bytes()), "{memory:?}");
        }
    }

    /// Every response of every mechanism (the PLAIN and LOGIN ones carry
    /// the password, XOAUTH2 and OAUTHBEARER the token, the others values
    /// derived from the password) is wiped when dropped.
    #[cfg(target_os = "linux")]
    #[test]
    fn every_response_is_wiped_when_dropped() {
        const PASSWORD: &str = "correct-horse-battery-staple-0123456789";
        freed::check_control(PASSWORD.as_bytes());
        let c = Credentials::new("alice.longname@example.org", PASSWORD);
        let mut checked = 0;
        let mut check = |response: Zeroizing<Vec<u8>>| {
            let copy = response.to_vec();
            if copy.len() < 24 {
                return;
            }
            let (addr, len) = (response.as_ptr(), response.len());
            let memory = freed::after_drop(response, addr, len);
            assert!(
                !freed::holds(&memory, &copy),
                "{}",
                String::from_utf8_lossy(&copy)
            );
            checked += 1;
        };
        for name in ["PLAIN", "XOAUTH2", "OAUTHBEARER"] {
            let mut m = mechanism(name, &c, "mx.example.org", 587).unwrap().unwrap();
            check(m.initial_response().unwrap().unwrap());
        }
        let mut m = mechanism("LOGIN", &c, "h", 25).unwrap().unwrap();
        check(m.respond(b"Username:").unwrap());
        check(m.respond(b"Password:").unwrap());
        let mut m = mechanism("CRAM-MD5", &c, "h", 25).unwrap().unwrap();
        check(
            m.respond(b"<1896.697170952@postoffice.reston.mci.net>")
                .unwrap(),
        );
        let mut m = mechanism("DIGEST-MD5", &c, "h", 25).unwrap().unwrap();
        check(
            m.respond(b"realm=\"elwood.innosoft.com\",nonce=\"OA6MG9tEQGm2hh\",qop=\"auth\",algorithm=md5-sess,charset=utf-8")
                .unwrap(),
        );
        for name in ["SCRAM-SHA-1", "SCRAM-SHA-256"] {
            let mut m = mechanism(name, &c, "h", 25).unwrap().unwrap();
            let first = m.initial_response().unwrap().unwrap();
            let text = String::from_utf8(first.to_vec()).unwrap();
            let nonce = text.split(",r=").nth(1).unwrap().to_owned();
            check(first);
            let server_first = format!("r={nonce}server,s=QSXCR+Q6sek8bf92,i=4096");
            check(m.respond(server_first.as_bytes()).unwrap());
        }
        assert_eq!(checked, 11);
    }

    #[test]
    fn assemble_concatenates_into_an_exact_buffer() {
        let out = assemble(&[b"ab", b"", b"cde"]);
        assert_eq!(*out, b"abcde");
        assert_eq!(out.capacity(), 5);
    }

    fn creds() -> Credentials {
        Credentials::new("user", "pencil-secret")
    }

    #[test]
    fn secret_is_redacted() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "[redacted]");
        assert_eq!(format!("{s}"), "[redacted]");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn credentials_debug_hides_password() {
        let c = Credentials::new("alice", "correct horse battery staple").with_authzid("bob");
        let dbg = format!("{c:?}");
        assert!(dbg.contains("alice"));
        assert!(dbg.contains("bob"));
        assert!(dbg.contains("[redacted]"));
        assert!(!dbg.contains("correct horse"));
        let dbg = format!("{c:#?}");
        assert!(!dbg.contains("battery"));
    }

    #[test]
    fn orders_are_as_specified() {
        assert_eq!(
            PASSWORD_ORDER,
            &[
                "SCRAM-SHA-256",
                "SCRAM-SHA-1",
                "DIGEST-MD5",
                "CRAM-MD5",
                "LOGIN",
                "PLAIN"
            ]
        );
        assert_eq!(TOKEN_ORDER, &["OAUTHBEARER", "XOAUTH2"]);
    }

    #[test]
    fn every_listed_mechanism_is_built_case_insensitively() {
        for name in PASSWORD_ORDER.iter().chain(TOKEN_ORDER) {
            let m = mechanism(name, &creds(), "mx.example.org", 25)
                .unwrap()
                .unwrap();
            assert_eq!(m.name(), *name);
            let lower = name.to_ascii_lowercase();
            let m = mechanism(&lower, &creds(), "mx.example.org", 25)
                .unwrap()
                .unwrap();
            assert_eq!(m.name(), *name);
        }
        assert!(mechanism("GSSAPI", &creds(), "h", 25).unwrap().is_none());
        assert!(mechanism("", &creds(), "h", 25).unwrap().is_none());
    }

    #[test]
    fn plaintext_equivalence() {
        for m in ["PLAIN", "LOGIN", "XOAUTH2", "OAUTHBEARER", "plain", "Login"] {
            assert!(is_plaintext_equivalent(m), "{m}");
        }
        for m in [
            "SCRAM-SHA-256",
            "SCRAM-SHA-1",
            "DIGEST-MD5",
            "CRAM-MD5",
            "cram-md5",
        ] {
            assert!(!is_plaintext_equivalent(m), "{m}");
        }
        assert!(is_plaintext_equivalent("X-UNKNOWN"));
    }

    #[test]
    fn authzid_support() {
        for m in [
            "PLAIN",
            "SCRAM-SHA-1",
            "scram-sha-256",
            "DIGEST-MD5",
            "OAUTHBEARER",
        ] {
            assert!(supports_authzid(m), "{m}");
        }
        for m in ["LOGIN", "CRAM-MD5", "XOAUTH2", "NOPE"] {
            assert!(!supports_authzid(m), "{m}");
        }
    }

    #[test]
    fn random_nonces_differ() {
        let a = random_base64(24).unwrap();
        let b = random_base64(24).unwrap();
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
    }

    #[test]
    fn printable_escapes_and_truncates() {
        assert_eq!(printable(b"a\r\nb\x01"), "a\\r\\nb\\u{1}");
        assert_eq!(printable(b"\xff"), "\u{fffd}");
        let long = vec![b'x'; 500];
        assert_eq!(printable(&long).chars().count(), 201);
    }

    #[test]
    fn ct_eq_works() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
        assert!(ct_eq(b"", b""));
    }

    #[test]
    fn hmac_md5_rfc2202() {
        // RFC 2202 test cases 2 and 6 (a key longer than the block).
        assert_eq!(
            hex(&hmac_md5(b"Jefe", &[b"what do ya want ", b"for nothing?"])),
            "750c783e6ab0b503eaa86e310a5db738"
        );
        assert_eq!(
            hex(&hmac_md5(
                &[0xaa; 80],
                &[b"Test Using Larger Than Block-Size Key - Hash Key First"]
            )),
            "6b1ab7fe4bd7bf8f0b62e6ce61b9d0cd"
        );
    }

    #[test]
    fn hmac_sha_rfc2202_rfc4231() {
        use scram::ScramHash as _;
        // RFC 2202 test case 6 for HMAC-SHA1 (a key longer than the block),
        // split into parts; RFC 4231 test case 2 for HMAC-SHA-256.
        assert_eq!(
            hex(&scram::Sha1::hmac(
                &[0xaa; 80],
                &[
                    b"Test Using Larger Than ",
                    b"Block-Size Key - Hash Key First"
                ]
            )),
            "aa4ae5e15272d00e95705637ce8a3b55ed402112"
        );
        assert_eq!(
            hex(&scram::Sha256::hmac(
                b"Jefe",
                &[b"what do ya want ", b"for nothing?"]
            )),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn gs2_escaping() {
        assert_eq!(gs2_escape("a,b=c"), "a=2Cb=3Dc");
        assert_eq!(gs2_escape("plain"), "plain");
    }

    /// splitmix64: deterministic pseudo-random numbers for the no-panic test.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    /// Challenges that look a little like the real ones, so that the
    /// parsers get past their first checks.
    fn fuzz_input(rng: &mut Rng) -> Vec<u8> {
        const PIECES: &[&[u8]] = &[
            b"r=",
            b"s=",
            b"i=",
            b"v=",
            b"e=",
            b"m=",
            b",",
            b"=",
            b"\"",
            b"\\",
            b" ",
            b"\t",
            b"realm=",
            b"nonce=",
            b"qop=",
            b"auth",
            b"auth-int",
            b"charset=",
            b"utf-8",
            b"algorithm=",
            b"md5-sess",
            b"rspauth=",
            b"QSXCR+Q6sek8bf92",
            b"==",
            b"\x00",
            b"\x01",
            b"\xff",
            b"\xc3\xa9",
            b"{\"status\":\"401\"}",
            b"1",
            b"0",
            b"4096",
        ];
        let len = rng.below(40);
        let mut out = Vec::new();
        if rng.below(2) == 0 {
            for _ in 0..len {
                out.push((rng.next() & 0xff) as u8);
            }
        } else {
            for _ in 0..len {
                out.extend_from_slice(PIECES[rng.below(PIECES.len())]);
            }
        }
        out
    }

    #[test]
    fn no_panic_on_arbitrary_challenges() {
        let mut rng = Rng(0x5eed_1234_abcd_0001);
        let c = creds().with_authzid("admin");
        for name in PASSWORD_ORDER.iter().chain(TOKEN_ORDER) {
            for round in 0..3000 {
                let mut m = mechanism(name, &c, "mx.example.org", 587).unwrap().unwrap();
                if round % 2 == 0 {
                    let _ = m.initial_response();
                }
                for _ in 0..=rng.below(4) {
                    let input = fuzz_input(&mut rng);
                    let _ = m.respond(&input);
                }
                let _ = m.complete();
                let _ = m.server_error();
            }
        }
    }

    #[test]
    fn errors_never_show_the_password() {
        // SASLprep rejects U+0007 in a password; the error must not echo it.
        let c = Credentials::new("user", "sekrit\u{7}word");
        let err = mechanism("SCRAM-SHA-256", &c, "h", 25).err().unwrap();
        let text = format!("{err} {err:?}");
        assert!(!text.contains("sekrit"), "{text}");
        let c = Credentials::new("user", "sek\0rit");
        let err = mechanism("PLAIN", &c, "h", 25).err().unwrap();
        let text = format!("{err} {err:?}");
        assert!(!text.contains("sek"), "{text}");
    }
}
