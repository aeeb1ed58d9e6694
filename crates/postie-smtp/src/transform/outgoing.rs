//! What a transform sees and changes: the envelope paths and the message
//! as it will be written on this attempt.

use std::borrow::Cow;

use postie_mime::{Headers, Message, MessageStream};

use crate::proto::{Content, Wire};

/// The message of one attempt, as the transforms so far left it.
///
/// It starts as the caller's message under the fields postie added (Date,
/// Message-ID, …; Bcc removed), the envelope as derived, and what the
/// counting pass found in the data. Nothing is copied until a transform
/// changes it.
pub struct Outgoing<'m> {
    reverse_path: String,
    recipients: Vec<String>,
    ascii_forms: &'m [(String, String)],
    message: Cow<'m, Message>,
    headers: Cow<'m, Headers>,
    content: Content,
    size: Option<u64>,
    notes: Vec<String>,
}

impl<'m> Outgoing<'m> {
    /// `message` written under `headers`, to `recipients` from
    /// `reverse_path`; `ascii_forms` pairs non-ASCII paths with their ASCII
    /// forms; `content` and `size` are what counting found, when it was
    /// done.
    pub fn new(
        message: &'m Message,
        headers: &'m Headers,
        (reverse_path, recipients): (String, Vec<String>),
        ascii_forms: &'m [(String, String)],
        (content, size): (Content, Option<u64>),
    ) -> Self {
        Self {
            reverse_path,
            recipients,
            ascii_forms,
            message: Cow::Borrowed(message),
            headers: Cow::Borrowed(headers),
            content,
            size,
            notes: Vec::new(),
        }
    }

    /// The MAIL FROM path (empty for the null reverse-path).
    pub fn reverse_path(&self) -> &str {
        &self.reverse_path
    }

    /// Changes the MAIL FROM path.
    pub fn set_reverse_path(&mut self, path: String) {
        self.reverse_path = path;
    }

    /// The RCPT TO paths, one per recipient.
    pub fn recipients(&self) -> &[String] {
        &self.recipients
    }

    /// The RCPT TO paths to change in place (their number stays: DSN
    /// parameters and the outcome are per recipient).
    pub fn recipients_mut(&mut self) -> &mut [String] {
        &mut self.recipients
    }

    /// The envelope's ASCII form of a non-ASCII `path` (its domain as
    /// punycode), when its local part is ASCII.
    pub fn ascii_form(&self, path: &str) -> Option<&str> {
        self.ascii_forms
            .iter()
            .find(|(unicode, _)| unicode == path)
            .map(|(_, ascii)| ascii.as_str())
    }

    /// The message (its body and parts; its top-level fields as written
    /// are [`Outgoing::headers`]).
    pub fn message(&self) -> &Message {
        &self.message
    }

    /// The top-level header fields as they will be written.
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// What the data holds.
    pub fn content(&self) -> Content {
        self.content
    }

    /// The size as RFC 1870 counts it, when known.
    pub fn size(&self) -> Option<u64> {
        self.size
    }

    /// Replaces the message with `message`, written under its own fields,
    /// whose data holds `content`. Its size is counted again when needed.
    pub fn replace(&mut self, message: Message, content: Content) {
        self.headers = Cow::Owned(message.headers().clone());
        self.message = Cow::Owned(message);
        self.content = content;
        self.size = None;
    }

    /// The top-level header fields, to change (the size is counted again
    /// when needed).
    pub fn headers_mut(&mut self) -> &mut Headers {
        self.size = None;
        self.headers.to_mut()
    }

    /// Says what the data holds now, after a change.
    pub fn set_content(&mut self, content: Content) {
        self.content = content;
    }

    /// Adds a header field at the top (as a signer does). The size is
    /// counted again when needed (postie counts what it writes, so that
    /// BDAT and SIZE always match the bytes).
    pub fn prepend_field(
        &mut self,
        name: postie_mime::HeaderName,
        value: postie_mime::HeaderValue,
    ) {
        self.headers.to_mut().prepend_value(name, value);
        self.size = None;
    }

    /// Says in the transcript what was changed.
    pub fn note(&mut self, text: impl Into<String>) {
        self.notes.push(text.into());
    }

    /// Writes the message as it will go, before dot-stuffing.
    pub fn write_to(&self, w: &mut dyn std::io::Write) -> Result<(), postie_mime::Error> {
        self.message.write_with_headers(&self.headers, w)
    }

    /// The message as it will go, pulled in chunks.
    pub fn stream(&self) -> Result<MessageStream<'_>, postie_mime::Error> {
        self.message.stream_with_headers(&self.headers)
    }

    /// What the core needs to know of it.
    pub(crate) fn wire(&mut self) -> Wire {
        let mut wire = Wire::new(
            self.reverse_path.clone(),
            self.recipients.clone(),
            self.content,
            self.size,
        );
        wire.notes = std::mem::take(&mut self.notes);
        wire
    }
}

impl std::fmt::Debug for Outgoing<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outgoing")
            .field("reverse_path", &self.reverse_path)
            .field("recipients", &self.recipients)
            .field("content", &self.content)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}
