//! Header fields: validated names and values, and an ordered, case-insensitive
//! list of them.
//!
//! A [`HeaderValue`] built from user text can never hold CR, LF or NUL, so a
//! value cannot smuggle a second header or end the header block. Values read
//! from an existing message keep their original bytes, folding included, so
//! that passing a message through changes nothing it need not change.

use std::borrow::Cow;
use std::fmt;

use crate::fields::encoded_word::decode::{raw_value_text, Outside};
use crate::Error;

/// A header field name: printable US-ASCII except `:` (RFC 5322 §2.2).
/// Compared without regard to case.
///
/// ```
/// use postie_mime::HeaderName;
/// assert_eq!(HeaderName::new("subject")?, HeaderName::new("Subject")?);
/// assert!(HeaderName::new("Bad Name").is_err());
/// # Ok::<(), postie_mime::Error>(())
/// ```
#[derive(Clone, Debug, Eq)]
pub struct HeaderName(Cow<'static, str>);

impl HeaderName {
    /// Checks `name` and wraps it.
    pub fn new(name: &str) -> Result<Self, Error> {
        Self::check(name)?;
        Ok(Self(match Self::known(name) {
            // The fields every message has need no copy of their name.
            Some(known) => Cow::Borrowed(known),
            None => Cow::Owned(name.to_owned()),
        }))
    }

    /// [`HeaderName::new`] for a name the caller gives away: kept without
    /// a copy.
    pub(crate) fn from_string(name: String) -> Result<Self, Error> {
        Self::check(&name)?;
        Ok(Self(match Self::known(&name) {
            Some(known) => Cow::Borrowed(known),
            None => Cow::Owned(name),
        }))
    }

    /// A name of postie's own, a constant known to be valid: not checked
    /// again for every message (debug builds still check).
    pub(crate) fn from_static(name: &'static str) -> Self {
        debug_assert!(Self::check(name).is_ok(), "{name}");
        Self(Cow::Borrowed(name))
    }

    /// The name as one of [`KNOWN_NAMES`], when it is written as one.
    fn known(name: &str) -> Option<&'static str> {
        KNOWN_NAMES.iter().find(|known| **known == name).copied()
    }

    fn check(name: &str) -> Result<(), Error> {
        let reason = if name.is_empty() {
            Some("it is empty")
        } else if name.len() > 76 {
            Some("it is longer than 76 characters")
        } else if !name.bytes().all(|b| (33..=126).contains(&b) && b != b':') {
            Some("only printable ASCII other than ':' is allowed")
        } else {
            None
        };
        match reason {
            Some(reason) => Err(Error::InvalidHeaderName {
                name: name.escape_debug().to_string(),
                reason,
            }),
            None => Ok(()),
        }
    }

    /// The name as it was written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is `other`, ignoring case.
    pub fn is(&self, other: &str) -> bool {
        self.0.eq_ignore_ascii_case(other)
    }
}

/// Names written as they are here are kept without a copy.
const KNOWN_NAMES: &[&str] = &[
    "From",
    "To",
    "Cc",
    "Bcc",
    "Reply-To",
    "Sender",
    "Subject",
    "Date",
    "Message-ID",
    "In-Reply-To",
    "References",
    "Content-Disposition",
    "Content-ID",
];

impl PartialEq for HeaderName {
    fn eq(&self, other: &Self) -> bool {
        self.0.eq_ignore_ascii_case(&other.0)
    }
}

impl fmt::Display for HeaderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A header field value.
///
/// Either text that the writer folds and, where it is not ASCII, encodes
/// (built with [`HeaderValue::new`]), or the raw bytes of a field read from a
/// message, written back unchanged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeaderValue(Repr);

#[derive(Clone, Debug, PartialEq, Eq)]
enum Repr {
    /// Unfolded text; no CR, LF, NUL or other control character but TAB.
    Text(String),
    /// Everything after the colon, continuation lines joined with CRLF.
    Raw(Box<[u8]>),
}

impl HeaderValue {
    /// Checks user text for a header value: CR, LF, NUL and the other control
    /// characters (TAB aside) are refused, since any of them could end the
    /// field early. Leading and trailing white space is trimmed.
    ///
    /// ```
    /// use postie_mime::HeaderValue;
    /// assert!(HeaderValue::new("Subject", "hello").is_ok());
    /// assert!(HeaderValue::new("Subject", "hi\r\nBcc: victim@example.org").is_err());
    /// ```
    pub fn new(name: &str, value: &str) -> Result<Self, Error> {
        check_text(name, value)?;
        Ok(Self(Repr::Text(value.trim().to_owned())))
    }

    /// [`HeaderValue::new`] for a string the caller gives away: kept
    /// without a copy when it needs no trimming.
    pub(crate) fn from_string(name: &str, value: String) -> Result<Self, Error> {
        check_text(name, &value)?;
        // Ends that are visible ASCII (the usual case) need no trimming,
        // which would walk them as characters.
        let visible = |b: Option<&u8>| b.is_some_and(u8::is_ascii_graphic);
        if visible(value.as_bytes().first()) && visible(value.as_bytes().last()) {
            return Ok(Self(Repr::Text(value)));
        }
        let trimmed = value.trim();
        if trimmed.len() == value.len() {
            return Ok(Self(Repr::Text(value)));
        }
        Ok(Self(Repr::Text(trimmed.to_owned())))
    }

    /// A value the caller folded itself, written byte for byte after the
    /// colon (a signer's field, whose bytes are signed as they will go):
    /// lines joined by CRLF, each continuation starting with a space or a
    /// tab, no other CR or LF, no NUL, no line over 998 octets with the
    /// name, and ASCII only.
    ///
    /// ```
    /// use postie_mime::HeaderValue;
    /// assert!(HeaderValue::folded(b" v=1; a=ed25519-sha256;\r\n\tb=abc".to_vec()).is_ok());
    /// assert!(HeaderValue::folded(b" v=1\r\nBcc: x@y".to_vec()).is_err());
    /// ```
    pub fn folded(bytes: Vec<u8>) -> Result<Self, Error> {
        let bad = |reason: &'static str| Error::InvalidHeaderValue {
            name: "(folded)".to_owned(),
            reason,
        };
        if !bytes.is_ascii() || bytes.contains(&0) {
            return Err(bad("a folded value must be ASCII without NUL"));
        }
        let text = std::str::from_utf8(&bytes).map_err(|_| bad("not ASCII"))?;
        for (i, line) in text.split("\r\n").enumerate() {
            if line.contains(['\r', '\n']) {
                return Err(bad("a folded value may break lines with CRLF only"));
            }
            if i > 0 && !line.starts_with([' ', '\t']) {
                return Err(bad("each continuation line must start with white space"));
            }
            if line.len() > 900 {
                return Err(bad("a line of a folded value is too long for a header"));
            }
        }
        Ok(Self::raw(bytes))
    }

    /// A value read from a message: the bytes after the colon, with
    /// continuation lines joined by CRLF. Kept as they are.
    pub(crate) fn raw(bytes: Vec<u8>) -> Self {
        Self(Repr::Raw(bytes.into_boxed_slice()))
    }

    /// The value as text, unfolded and trimmed, RFC 2047 encoded-words left
    /// as they are written.
    ///
    /// A raw value (read from a message) that is valid UTF-8 is read as
    /// UTF-8 (RFC 6532). In one that is not, an 8-bit byte inside a Q
    /// encoded-word, which old mail has, is a byte of the word's charset:
    /// it is written `=XX`, so that decoding the word
    /// ([`decode_rfc2047`](crate::decode::decode_rfc2047)) reads it in that
    /// charset. Other bytes that are not UTF-8 are shown as U+FFFD.
    ///
    /// ```
    /// use postie_mime::{decode::decode_rfc2047, Message};
    ///
    /// let msg = Message::parse(b"Subject: =?iso-8859-1?Q?Fr\xF6sche?=\r\n\r\n")?;
    /// let text = msg.headers().get("subject").unwrap().as_text();
    /// assert_eq!(text, "=?iso-8859-1?Q?Fr=F6sche?=");
    /// assert_eq!(decode_rfc2047(&text), "Frösche");
    /// # Ok::<(), postie_mime::ParseError>(())
    /// ```
    pub fn as_text(&self) -> Cow<'_, str> {
        match &self.0 {
            Repr::Text(text) => Cow::Borrowed(text),
            Repr::Raw(bytes) => Cow::Owned(raw_value_text(bytes, Outside::Replacement)),
        }
    }

    /// The bytes of a value read from a message, as they are written back
    /// (`None` for text, which the writer folds and encodes).
    pub fn raw_bytes(&self) -> Option<&[u8]> {
        match &self.0 {
            Repr::Raw(bytes) => Some(bytes),
            Repr::Text(_) => None,
        }
    }
}

fn check_text(name: &str, value: &str) -> Result<(), Error> {
    // Printable ASCII, the common case, in one quick pass; anything else
    // (a TAB, a control, a byte of a non-ASCII character) is looked at
    // character by character below.
    if is_printable_ascii(value.as_bytes()) {
        return Ok(());
    }
    let bad = |reason| Error::InvalidHeaderValue {
        name: name.to_owned(),
        reason,
    };
    for c in value.chars() {
        match c {
            '\r' | '\n' => return Err(bad("it contains a CR or LF")),
            '\0' => return Err(bad("it contains a NUL")),
            '\t' => {}
            c if c.is_control() => return Err(bad("it contains a control character")),
            _ => {}
        }
    }
    Ok(())
}

/// Whether every byte of `bytes` is printable ASCII (32 to 126). Eight
/// bytes at a time: a header value is short, too short for the vector code
/// a compiler makes of a byte loop to pay off.
fn is_printable_ascii(bytes: &[u8]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    let (words, tail) = bytes.as_chunks::<8>();
    let odd = words.iter().fold(0u64, |odd, word| {
        let x = u64::from_ne_bytes(*word);
        // A byte of 128 or more; one below 32 (exact for a byte below 128
        // whose high bit is clear, the only ones it is asked about once
        // the first test passes); a DEL (a zero byte of x ^ 0x7f...).
        let del = x ^ (0x7f * ONES);
        odd | (x & HIGH)
            | (x.wrapping_sub(0x20 * ONES) & !x & HIGH)
            | (del.wrapping_sub(ONES) & !del & HIGH)
    });
    odd == 0 && tail.iter().all(|&b| (b' '..=b'~').contains(&b))
}

const ADDRESS_FIELDS: &[&str] = &[
    "From",
    "Sender",
    "Reply-To",
    "To",
    "Cc",
    "Bcc",
    "Resent-From",
    "Resent-Sender",
    "Resent-To",
    "Resent-Cc",
    "Resent-Bcc",
];

/// Whether `name` holds an address list (RFC 5322 §3.6.2–3.6.3, the
/// Resent-* ones included), whose display names are encoded as phrases
/// rather than as unstructured text.
pub fn is_address_field(name: &str) -> bool {
    ADDRESS_FIELDS.iter().any(|f| f.eq_ignore_ascii_case(name))
}

/// One header field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    name: HeaderName,
    value: HeaderValue,
}

impl Header {
    /// A field of a checked name and value.
    pub(crate) fn new(name: HeaderName, value: HeaderValue) -> Self {
        Self { name, value }
    }

    /// The field's name.
    pub fn name(&self) -> &HeaderName {
        &self.name
    }

    /// The field's value.
    pub fn value(&self) -> &HeaderValue {
        &self.value
    }
}

/// The header fields of a message or part, in order. Names compare without
/// regard to case; repeated fields are kept.
///
/// ```
/// use postie_mime::Headers;
/// let mut h = Headers::new();
/// h.append("Received", "from a")?;
/// h.append("received", "from b")?;
/// h.set("Subject", "first")?;
/// h.set("SUBJECT", "second")?;
/// assert_eq!(h.get_all("RECEIVED").count(), 2);
/// assert_eq!(h.get("subject").unwrap().as_text(), "second");
/// # Ok::<(), postie_mime::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Headers {
    fields: Vec<Header>,
}

impl Headers {
    /// No fields.
    pub fn new() -> Self {
        Self::default()
    }

    /// These fields, in this order.
    pub(crate) fn from_fields(fields: Vec<Header>) -> Self {
        Self { fields }
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&HeaderValue> {
        self.fields
            .iter()
            .find(|f| f.name.is(name))
            .map(|f| &f.value)
    }

    /// Every value of `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a HeaderValue> + 'a {
        self.fields
            .iter()
            .filter(move |f| f.name.is(name))
            .map(|f| &f.value)
    }

    /// Whether a field `name` exists.
    pub fn contains(&self, name: &str) -> bool {
        self.fields.iter().any(|f| f.name.is(name))
    }

    /// Adds a field at the end, after checking name and value.
    pub fn append(&mut self, name: &str, value: &str) -> Result<(), Error> {
        let value = HeaderValue::new(name, value)?;
        self.append_value(HeaderName::new(name)?, value);
        Ok(())
    }

    /// Adds a field at the end.
    pub fn append_value(&mut self, name: HeaderName, value: HeaderValue) {
        self.fields.push(Header { name, value });
    }

    /// Adds a field at the start.
    pub fn prepend_value(&mut self, name: HeaderName, value: HeaderValue) {
        self.fields.insert(0, Header { name, value });
    }

    /// Replaces every field `name` by one with `value`, at the position of the
    /// first; appends when there was none.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), Error> {
        let value = HeaderValue::new(name, value)?;
        self.set_value(HeaderName::new(name)?, value);
        Ok(())
    }

    /// Like [`Headers::set`] with a checked name and value.
    pub fn set_value(&mut self, name: HeaderName, value: HeaderValue) {
        match self.fields.iter().position(|f| f.name == name) {
            Some(first) => {
                let mut index = 0;
                self.fields.retain(|f| {
                    let keep = index <= first || f.name != name;
                    index += 1;
                    keep
                });
                self.fields[first] = Header { name, value };
            }
            None => self.fields.push(Header { name, value }),
        }
    }

    /// Removes every field `name`; returns how many there were.
    pub fn remove(&mut self, name: &str) -> usize {
        let before = self.fields.len();
        self.fields.retain(|f| !f.name.is(name));
        before - self.fields.len()
    }

    /// The fields in order.
    pub fn iter(&self) -> impl Iterator<Item = &Header> {
        self.fields.iter()
    }

    /// How many fields there are.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_ascii_by_words_agrees_with_byte_by_byte() {
        let reference = |bytes: &[u8]| bytes.iter().all(|b| (b' '..=b'~').contains(b));
        for b in 0..=255u8 {
            for len in [1, 7, 8, 9, 16, 35] {
                for at in [0, len / 2, len - 1] {
                    let mut bytes = vec![b'a'; len];
                    bytes[at] = b;
                    assert_eq!(
                        is_printable_ascii(&bytes),
                        reference(&bytes),
                        "{b} at {at} of {len}"
                    );
                    // A lane after a borrow must not hide or invent one.
                    if at + 1 < len {
                        bytes[at + 1] = 0x1f;
                        assert_eq!(
                            is_printable_ascii(&bytes),
                            reference(&bytes),
                            "{b} then 0x1f"
                        );
                    }
                }
            }
        }
        assert!(is_printable_ascii(b""));
        assert!(HeaderValue::new("Subject", "a\tb").is_ok());
    }
}
