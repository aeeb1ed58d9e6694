//! The message as it goes on one attempt, as far as the core needs to know
//! it: the envelope paths, what the data holds, its size. The drivers'
//! message transforms ([`crate::transform`]) make it after EHLO, from what
//! the server offers ([`ServerOffers`]); a caller of the core without
//! transforms gets it from [`Config`] unchanged.

use super::Config;

/// What the message's data holds, as the counting pass found it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Content {
    /// Some byte has the high bit set (`BODY=8BITMIME`, RFC 6152).
    pub eight_bit: bool,
    /// A NUL or a line over 998 octets (only `BODY=BINARYMIME` carries it).
    pub binary: bool,
    /// A bare CR or LF was turned into CRLF on the way, so the bytes are
    /// not sent exactly as they are (which BINARYMIME needs).
    pub repaired: bool,
    /// The message's header holds UTF-8 as it is (a raw message's fields):
    /// only a server offering SMTPUTF8 may get it so (RFC 6531 §3.4).
    pub utf8_header: bool,
}

impl Content {
    /// Data of the given kinds.
    pub fn new(eight_bit: bool, binary: bool, repaired: bool) -> Self {
        Self {
            eight_bit,
            binary,
            repaired,
            utf8_header: false,
        }
    }

    /// The same, with a header holding UTF-8 or not.
    pub fn with_utf8_header(mut self, yes: bool) -> Self {
        self.utf8_header = yes;
        self
    }

    /// Nothing but 7-bit lines: no `BODY` parameter is needed.
    pub fn is_seven_bit(&self) -> bool {
        !self.eight_bit && !self.binary
    }
}

/// What the server of this attempt offers that decides the message's form.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerOffers {
    /// 8-bit data can go as it is (`BODY=8BITMIME`, RFC 6152).
    pub eight_bit_mime: bool,
    /// Binary data can go as it is: the server offers BINARYMIME and
    /// CHUNKING, and the settings let BDAT be used (RFC 3030).
    pub binary_mime: bool,
    /// Non-ASCII addresses can go as they are (RFC 6531).
    pub smtputf8: bool,
}

impl ServerOffers {
    /// Offers as given (for tests and callers of the core).
    pub fn new(eight_bit_mime: bool, binary_mime: bool, smtputf8: bool) -> Self {
        Self {
            eight_bit_mime,
            binary_mime,
            smtputf8,
        }
    }
}

/// The message of one attempt, as the core sends it: passed to
/// [`super::Delivery::handle_transformed`] at [`super::Step::Transform`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Wire {
    /// The MAIL FROM path; empty for the null reverse-path.
    pub reverse_path: String,
    /// The RCPT TO paths, one for each of [`Config::recipients`], in order.
    pub recipients: Vec<String>,
    /// What the data holds.
    pub content: Content,
    /// The size as RFC 1870 counts it, when known; otherwise the core asks
    /// for it ([`super::Step::Measure`]) where the server would use it.
    pub size: Option<u64>,
    /// What the transcript should say about the changes made.
    pub notes: Vec<String>,
}

impl Wire {
    /// The message with this envelope, content and size, and no notes.
    pub fn new(
        reverse_path: String,
        recipients: Vec<String>,
        content: Content,
        size: Option<u64>,
    ) -> Self {
        Self {
            reverse_path,
            recipients,
            content,
            size,
            notes: Vec::new(),
        }
    }

    /// The message as [`Config`] describes it, unchanged.
    pub(super) fn from_config(config: &Config) -> Self {
        Self::new(
            config.reverse_path.clone(),
            config.recipients.clone(),
            Content::new(config.eight_bit, config.binary, config.repaired)
                .with_utf8_header(config.utf8_header),
            config.size,
        )
    }
}
