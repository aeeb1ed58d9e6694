//! DKIM signing (RFC 6376) with `rsa-sha256` and `ed25519-sha256` (RFC
//! 8463), on the bytes the server receives.
//!
//! A [`Signer`] is a [message transform](crate::transform) of the last
//! order: it runs at each attempt after every rewrite that depends on the
//! server (7-bit, SMTPUTF8 fallback), so what it signs is what goes, with
//! DATA or BDAT, to a server with or without 8BITMIME. It reads the message
//! once, as a stream: the header section is kept (it is small), the body is
//! canonicalized and hashed as it passes, so a 50 MiB attachment is signed
//! in bounded memory. It can also sign bytes on its own
//! ([`Signer::sign_bytes`]), for those who send otherwise.
//!
//! ```
//! use std::time::{Duration, UNIX_EPOCH};
//! use postie_smtp::dkim::{Signer, SigningKey};
//!
//! let key = SigningKey::ed25519_from_seed(&[7u8; 32])?;
//! let signer = Signer::new(key, "example.org", "mail")?;
//! let message = b"From: a@example.org\r\nTo: b@example.net\r\nSubject: hi\r\n\r\nhello\r\n";
//! let field = signer.sign_bytes(message, UNIX_EPOCH + Duration::from_secs(1_700_000_000))?;
//! assert!(field.starts_with(" v=1; a=ed25519-sha256; c=relaxed/relaxed; d=example.org;"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod canon;
mod key;
mod verify;

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

pub use canon::Canonicalization;
pub use key::{Algorithm, KeyError, SigningKey};
pub use verify::{verify, verify_at, Failure, Verdict, Verification, Warning};

use crate::transform::{MessageTransform, Order, Outgoing, ServerOffers};

/// The fields signed by default, when the message has them (RFC 6376
/// §5.4.1's advice), and every `List-*` field. From is signed once more
/// than it appears (over-signed), so a From added later breaks the
/// signature.
const DEFAULT_HEADERS: &[&str] = &[
    "from",
    "to",
    "cc",
    "subject",
    "date",
    "message-id",
    "reply-to",
    "in-reply-to",
    "references",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
];

/// The longest header section the signer keeps (the reader's limit).
const MAX_HEADER: usize = 4 * 1024 * 1024;

/// Why a message could not be signed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DkimError {
    /// The key could not sign.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// A domain or selector that cannot be one.
    #[error("{what} {value:?} is not a domain name")]
    Name {
        /// `d=` or `s=`.
        what: &'static str,
        /// As given.
        value: String,
    },
    /// The message has no From field, which every signature must cover.
    #[error("the message has no From field, which a DKIM signature must cover")]
    NoFrom,
    /// No domain was given and the From address has none to take.
    #[error("no DKIM domain was given, and the From field {0:?} names no address with a domain to sign as")]
    NoDomain(String),
    /// The key file cannot be used: unreadable, or open to group or
    /// others, or someone else's.
    #[error("the key file {0}")]
    KeyFile(String),
    /// The header section never ends, or is larger than 4 MiB.
    #[error("the message's header section is larger than 4 MiB or never ends")]
    Header,
    /// Reading the message failed.
    #[error("reading the message to sign: {0}")]
    Io(#[from] std::io::Error),
    /// Writing the message failed.
    #[error("reading the message to sign: {0}")]
    Mime(#[from] postie_mime::Error),
}

/// Signs messages with one key for one domain and selector.
#[derive(Clone, Debug)]
pub struct Signer {
    key: Arc<SigningKey>,
    /// `d=`; `None`: the domain of the message's From address.
    domain: Option<String>,
    selector: String,
    header_canon: Canonicalization,
    body_canon: Canonicalization,
    headers: Option<Vec<String>>,
    expire_after: Option<Duration>,
}

impl Signer {
    /// Signs with `key` as `domain` (`d=`), whose DNS publishes the public
    /// key at `selector._domainkey.domain`.
    pub fn new(
        key: SigningKey,
        domain: impl Into<String>,
        selector: impl Into<String>,
    ) -> Result<Self, DkimError> {
        let (domain, selector) = (domain.into(), selector.into());
        check_name("d=", &domain)?;
        check_name("s=", &selector)?;
        Ok(Self {
            key: Arc::new(key),
            domain: Some(domain.to_ascii_lowercase()),
            selector,
            header_canon: Canonicalization::Relaxed,
            body_canon: Canonicalization::Relaxed,
            headers: None,
            expire_after: None,
        })
    }

    /// Signs with `key` as the domain of each message's From address (in
    /// its A-label form), at `selector`: for a sender whose key is
    /// published under the domain it mails from.
    pub fn for_from_domain(
        key: SigningKey,
        selector: impl Into<String>,
    ) -> Result<Self, DkimError> {
        let selector = selector.into();
        check_name("s=", &selector)?;
        Ok(Self {
            key: Arc::new(key),
            domain: None,
            selector,
            header_canon: Canonicalization::Relaxed,
            body_canon: Canonicalization::Relaxed,
            headers: None,
            expire_after: None,
        })
    }

    /// The signer `settings` describe, its key read now from its file. The
    /// file must be the user's (effective uid) or root's and give group and
    /// others no permission at all, as a password file (the key is a
    /// secret: whoever reads it signs as the domain); a link is followed
    /// and the file it leads to is checked, on the open file.
    pub fn from_settings(settings: &crate::settings::DkimSettings) -> Result<Self, DkimError> {
        let key = SigningKey::from_bytes(&read_key_file(&settings.key_file)?)?;
        let signer = match &settings.domain {
            Some(domain) => Self::new(key, domain.clone(), settings.selector.clone())?,
            None => Self::for_from_domain(key, settings.selector.clone())?,
        }
        .canonicalization(
            settings.header_canonicalization,
            settings.body_canonicalization,
        );
        let signer = match &settings.headers {
            Some(headers) => signer.headers(headers.clone()),
            None => signer,
        };
        Ok(match settings.expire_after_secs {
            Some(secs) => signer.expires_after(Duration::from_secs(secs)),
            None => signer,
        })
    }

    /// The canonicalizations (`c=`): relaxed/relaxed by default.
    pub fn canonicalization(mut self, header: Canonicalization, body: Canonicalization) -> Self {
        self.header_canon = header;
        self.body_canon = body;
        self
    }

    /// The fields to sign instead of the default list (From is added when
    /// missing, and over-signed either way).
    pub fn headers<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.headers = Some(
            names
                .into_iter()
                .map(|n| n.into().trim().to_ascii_lowercase())
                .filter(|n| !n.is_empty())
                .collect(),
        );
        self
    }

    /// Signatures expire this long after they are made (`x=`); none by
    /// default.
    pub fn expires_after(mut self, after: Duration) -> Self {
        self.expire_after = Some(after);
        self
    }

    /// The algorithm the key signs with.
    pub fn algorithm(&self) -> Algorithm {
        self.key.algorithm()
    }

    /// The DKIM-Signature value for `message`, as it goes on the wire
    /// (CRLF line ends, before dot-stuffing), signed at `now`: to be
    /// written after `DKIM-Signature:` at the top of the message.
    pub fn sign_bytes(&self, message: &[u8], now: SystemTime) -> Result<String, DkimError> {
        let mut state = Signing::new(self);
        state.update(message)?;
        state.finish(now)
    }

    /// The same, reading the message from `reader`.
    pub fn sign_reader(&self, mut reader: impl Read, now: SystemTime) -> Result<String, DkimError> {
        let mut state = Signing::new(self);
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = reader.read(&mut buf)?;
            if n == 0 {
                break;
            }
            state.update(&buf[..n])?;
        }
        state.finish(now)
    }

    /// The field names to sign for a header section holding `fields`.
    fn names<'a>(&'a self, fields: &[canon::Field<'a>]) -> Vec<Cow<'a, str>> {
        let has = |name: &str| fields.iter().any(|f| f.name.eq_ignore_ascii_case(name));
        let mut names: Vec<Cow<'a, str>> = match &self.headers {
            Some(list) => list.iter().map(|n| Cow::Borrowed(n.as_str())).collect(),
            // Each listed name once per field of that name, then List-*.
            None => DEFAULT_HEADERS
                .iter()
                .flat_map(|&name| {
                    fields
                        .iter()
                        .filter(move |f| f.name.eq_ignore_ascii_case(name))
                        .map(move |_| Cow::Borrowed(name))
                })
                .chain(fields.iter().filter_map(|f| {
                    let list = f.name.len() > 5 && f.name[..5].eq_ignore_ascii_case("list-");
                    list.then(|| Cow::Owned(f.name.to_ascii_lowercase()))
                }))
                .collect(),
        };
        if !names.iter().any(|n| n == "from") && has("from") {
            names.insert(0, Cow::Borrowed("from"));
        }
        // Over-signing: one more "from" than there are From fields.
        names.push(Cow::Borrowed("from"));
        names
    }
}

/// The key file's bytes (wiped when dropped), after the owner and mode
/// checks of [`Signer::from_settings`].
fn read_key_file(path: &std::path::Path) -> Result<zeroize::Zeroizing<Vec<u8>>, DkimError> {
    let shown = path.display();
    let problem = |what: String| DkimError::KeyFile(format!("{shown} {what}"));
    let mut file =
        std::fs::File::open(path).map_err(|e| problem(format!("cannot be read: {e}")))?;
    let meta = file
        .metadata()
        .map_err(|e| problem(format!("cannot be read: {e}")))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        if !meta.is_file() {
            return Err(problem("is not a regular file".to_owned()));
        }
        let mode = meta.mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(problem(format!(
                "is open to group or others (mode {mode:03o}), and whoever reads it signs as your domain: run chmod 600 {shown}"
            )));
        }
        let me = rustix::process::geteuid().as_raw();
        if meta.uid() != me && meta.uid() != 0 {
            return Err(problem(format!(
                "belongs to uid {}, not to you (uid {me}), who can read it: use a key file of your own, mode 600",
                meta.uid()
            )));
        }
    }
    let mut bytes = zeroize::Zeroizing::new(Vec::with_capacity(
        usize::try_from(meta.len()).unwrap_or(0).saturating_add(1),
    ));
    file.read_to_end(&mut bytes)
        .map_err(|e| problem(format!("cannot be read: {e}")))?;
    Ok(bytes)
}

/// A domain or selector: dot-separated labels of letters, digits and
/// hyphens (A-labels for a name that is not ASCII).
fn check_name(what: &'static str, value: &str) -> Result<(), DkimError> {
    let good = !value.is_empty()
        && value.len() <= 253
        && value.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    if good {
        Ok(())
    } else {
        Err(DkimError::Name {
            what,
            value: value.to_owned(),
        })
    }
}

/// One message being signed: its header section kept until it ends, then
/// its body hashed as it passes.
struct Signing<'s> {
    signer: &'s Signer,
    header: Vec<u8>,
    body: Option<canon::BodyHasher>,
}

impl<'s> Signing<'s> {
    fn new(signer: &'s Signer) -> Self {
        Self {
            signer,
            header: Vec::new(),
            body: None,
        }
    }

    fn update(&mut self, bytes: &[u8]) -> Result<(), DkimError> {
        if let Some(body) = &mut self.body {
            body.update(bytes);
            return Ok(());
        }
        if self.header.is_empty() && bytes.starts_with(b"\r\n") {
            // No header at all: the body starts after the empty line.
            let mut body = canon::BodyHasher::new(self.signer.body_canon);
            body.update(&bytes[2..]);
            self.body = Some(body);
            return Ok(());
        }
        // Where the empty line ends, in `bytes`: it may straddle the
        // header kept so far and these bytes (the kept part is at most 3
        // of its 4 bytes), else it lies in `bytes`. Only the header is
        // kept; the body goes straight to the hash.
        let keep = self.header.len().min(3);
        let mut joint = [0u8; 6];
        let tail = &self.header[self.header.len() - keep..];
        let head = &bytes[..bytes.len().min(3)];
        joint[..keep].copy_from_slice(tail);
        joint[keep..keep + head.len()].copy_from_slice(head);
        let end = match memchr::memmem::find(&joint[..keep + head.len()], b"\r\n\r\n") {
            Some(at) => Some(at + 4 - keep),
            None => memchr::memmem::find(bytes, b"\r\n\r\n").map(|at| at + 4),
        };
        match end {
            Some(end) => {
                self.header.extend_from_slice(&bytes[..end]);
                // The empty line's CRLF is no part of the fields.
                self.header.truncate(self.header.len() - 2);
                let mut body = canon::BodyHasher::new(self.signer.body_canon);
                body.update(&bytes[end..]);
                self.body = Some(body);
            }
            None => {
                self.header.extend_from_slice(bytes);
                if self.header.starts_with(b"\r\n") {
                    // No header, its empty line split across the chunks.
                    let mut body = canon::BodyHasher::new(self.signer.body_canon);
                    body.update(&self.header[2..]);
                    self.header.clear();
                    self.body = Some(body);
                } else if self.header.len() > MAX_HEADER {
                    return Err(DkimError::Header);
                }
            }
        }
        Ok(())
    }

    fn finish(self, now: SystemTime) -> Result<String, DkimError> {
        let signer = self.signer;
        let (header, body) = match self.body {
            Some(body) => (self.header, body),
            // A message that is all header: its body is empty.
            None => {
                let mut header = self.header;
                if !header.ends_with(b"\r\n") {
                    header.extend_from_slice(b"\r\n");
                }
                (header, canon::BodyHasher::new(signer.body_canon))
            }
        };
        let fields = canon::fields(&header);
        if !fields.iter().any(|f| f.name.eq_ignore_ascii_case("from")) {
            return Err(DkimError::NoFrom);
        }
        let names = signer.names(&fields);
        let domain = match &signer.domain {
            Some(domain) => domain.clone(),
            None => from_domain(&fields)?,
        };
        let body_hash = body.finish();
        let b64 = encodify::base64::STANDARD;
        let time = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        // (Writing to a String cannot fail.)
        let mut value = String::with_capacity(768);
        let _ = write!(
            value,
            " v=1; a={}; c={}/{}; d={domain};\r\n\ts={}; t={time};",
            signer.key.algorithm().as_str(),
            signer.header_canon.as_str(),
            signer.body_canon.as_str(),
            signer.selector,
        );
        if let Some(after) = signer.expire_after {
            let _ = write!(value, " x={};", time + after.as_secs().max(1));
        }
        fold_list(&mut value, "h=", &names);
        value.push_str("\r\n\tbh=");
        b64.encode_append(body_hash.as_ref(), &mut value);
        value.push_str(";\r\n\tb=");
        // What is signed: the selected fields, then this field with an
        // empty b= and no CRLF after it (RFC 6376 §3.7).
        let mut data = canon::selected(&fields, &names, signer.header_canon);
        match signer.header_canon {
            Canonicalization::Simple => {
                data.extend_from_slice(b"DKIM-Signature:");
                data.extend_from_slice(value.as_bytes());
            }
            Canonicalization::Relaxed => {
                data.extend_from_slice(b"dkim-signature:");
                canon::relaxed_value(value.as_bytes(), &mut data);
            }
        }
        let signature = signer.key.sign(&data)?;
        fold_base64(&mut value, &b64.encode(signature));
        Ok(value)
    }
}

/// The domain of the (last, as signed) From field's first address, in
/// its A-label form.
fn from_domain(fields: &[canon::Field<'_>]) -> Result<String, DkimError> {
    let field = fields
        .iter()
        .rev()
        .find(|f| f.name.eq_ignore_ascii_case("from"))
        .ok_or(DkimError::NoFrom)?;
    let value =
        String::from_utf8_lossy(&field.raw[field.name.len() + 1..]).replace(['\r', '\n'], "");
    let value = value.trim().to_owned();
    let domain = postie_mime::address::parse_address_list(&value)
        .ok()
        .and_then(|list| postie_mime::address::mailboxes(&list).into_iter().next())
        .and_then(|mailbox| mailbox.domain_ascii().ok().flatten());
    match domain {
        Some(domain) if check_name("d=", &domain).is_ok() => Ok(domain.to_ascii_lowercase()),
        _ => Err(DkimError::NoDomain(value)),
    }
}

/// `\r\n\th=a:b:...;` added to `out`, folded so that no line is long.
fn fold_list(out: &mut String, tag: &str, names: &[impl AsRef<str>]) {
    out.push_str("\r\n\t");
    out.push_str(tag);
    let mut line = 1 + tag.len();
    for (i, name) in names.iter().enumerate() {
        let name = name.as_ref();
        let width = name.len() + usize::from(i > 0);
        if line + width > 72 {
            out.push_str("\r\n\t");
            line = 1;
        }
        if i > 0 {
            out.push(':');
        }
        out.push_str(name);
        line += width;
    }
    out.push(';');
}

/// A base64 value added to `out`, folded into lines of 72 characters.
fn fold_base64(out: &mut String, text: &str) {
    for (i, chunk) in text.as_bytes().chunks(72).enumerate() {
        if i > 0 {
            out.push_str("\r\n\t");
        }
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
    }
}

impl MessageTransform for Signer {
    fn name(&self) -> &str {
        "DKIM"
    }

    fn order(&self) -> Order {
        Order::Sign
    }

    fn apply(
        &self,
        outgoing: &mut Outgoing<'_>,
        _offers: &ServerOffers,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        // The bytes as the wire has them: line ends repaired as the data
        // encoder repairs them (dot-stuffing is undone by the server).
        let mut stream = outgoing.stream()?;
        let mut encoder = crate::data::DataEncoder::line_endings_only();
        let mut state = Signing::new(self);
        let mut out = Vec::new();
        loop {
            let chunk = stream.next_chunk()?;
            if chunk.is_empty() {
                break;
            }
            out.clear();
            encoder.encode(chunk, &mut out);
            state.update(&out)?;
        }
        out.clear();
        encoder.finish_lines(&mut out);
        state.update(&out)?;
        drop(stream);
        let value = state.finish(SystemTime::now())?;
        let name = postie_mime::HeaderName::new("DKIM-Signature")?;
        let value = postie_mime::HeaderValue::folded(value.into_bytes())?;
        outgoing.prepend_field(name, value);
        outgoing.note(format!(
            "signed with DKIM ({}, s={})",
            self.key.algorithm().as_str(),
            self.selector
        ));
        Ok(())
    }
}

#[cfg(test)]
mod tests;
