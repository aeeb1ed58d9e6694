//! A builder for what users send most: text, HTML with a text alternative,
//! attachments from files or bytes, inline images referenced by Content-ID.
//!
//! The structure follows from what is given, the way mail clients expect:
//!
//! ```text
//! multipart/mixed                      (only with attachments)
//! ├── multipart/alternative            (only with both text and HTML)
//! │   ├── text/plain
//! │   └── multipart/related            (only with inline images)
//! │       ├── text/html
//! │       └── image/png  Content-ID: <logo>
//! └── application/pdf  Content-Disposition: attachment; filename=...
//! ```
//!
//! ```
//! use postie_mime::builder::MessageBuilder;
//!
//! let msg = MessageBuilder::new()
//!     .from("Ann <ann@example.org>")
//!     .to("bob@example.org")
//!     .subject("Report")
//!     .text("See the attachment.")
//!     .html("<p>See the <b>attachment</b>.</p>")
//!     .attach_bytes("notes.txt", b"hello".to_vec(), None)
//!     .build()?;
//! let bytes = msg.to_bytes()?;
//! let text = String::from_utf8_lossy(&bytes);
//! assert!(text.contains("Content-Type: multipart/mixed;"));
//! assert!(text.contains("filename=notes.txt"));
//! # Ok::<(), postie_mime::Error>(())
//! ```

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use crate::fields::address;
use crate::fields::content_type::ContentType;
use crate::fields::header::{Header, HeaderName, HeaderValue, Headers};
use crate::fields::{mime_types, rfc2231};
use crate::message::Message;
use crate::shared::{SharedBytes, SharedText};
use crate::Error;

/// Where an attachment's content comes from.
#[derive(Clone, Debug)]
enum Source {
    Bytes(SharedBytes),
    File(PathBuf),
}

#[derive(Clone, Debug)]
struct Attachment {
    source: Source,
    file_name: String,
    content_type: Option<ContentType>,
    content_id: Option<String>,
}

/// Builds a [`Message`]; see the module documentation.
#[derive(Clone, Debug, Default)]
pub struct MessageBuilder {
    /// Names are the builder's own constants (borrowed, known valid) or a
    /// caller's (owned, checked at `build`).
    headers: Vec<(Cow<'static, str>, String)>,
    text: Option<SharedText>,
    html: Option<SharedText>,
    inline: Vec<Attachment>,
    attachments: Vec<Attachment>,
}

const ADDRESS_FIELDS: &[&str] = &["From", "Sender", "To", "Cc", "Bcc", "Reply-To"];

/// Field names [`MessageBuilder::header`] keeps as constants when given
/// with exactly this spelling (valid names all).
const KNOWN_FIELDS: &[&str] = &[
    "Date",
    "Message-ID",
    "From",
    "Sender",
    "To",
    "Cc",
    "Bcc",
    "Reply-To",
    "Subject",
    "In-Reply-To",
    "References",
    "MIME-Version",
];

impl MessageBuilder {
    /// An empty message.
    pub fn new() -> Self {
        Self {
            // Room for the usual fields (From, To, Subject, Date,
            // Message-ID and a few more) without growing.
            headers: Vec::with_capacity(8),
            ..Self::default()
        }
    }

    /// Sets From.
    pub fn from(self, address: impl Into<String>) -> Self {
        self.set("From", address)
    }

    /// Adds To recipients (an address or a comma-separated list).
    pub fn to(self, addresses: impl Into<String>) -> Self {
        self.add_addresses("To", addresses)
    }

    /// Adds Cc recipients.
    pub fn cc(self, addresses: impl Into<String>) -> Self {
        self.add_addresses("Cc", addresses)
    }

    /// Adds Bcc recipients (a sender strips the field and delivers to them).
    pub fn bcc(self, addresses: impl Into<String>) -> Self {
        self.add_addresses("Bcc", addresses)
    }

    /// Sets Reply-To.
    pub fn reply_to(self, addresses: impl Into<String>) -> Self {
        self.set("Reply-To", addresses)
    }

    /// Sets Subject.
    pub fn subject(self, subject: impl Into<String>) -> Self {
        self.set("Subject", subject)
    }

    /// Sets In-Reply-To (a message id such as `<id@host>`).
    pub fn in_reply_to(self, id: impl Into<String>) -> Self {
        self.set("In-Reply-To", id)
    }

    /// Sets References (message ids separated by spaces).
    pub fn references(self, ids: impl Into<String>) -> Self {
        self.set("References", ids)
    }

    /// Adds any other field.
    pub fn header(
        mut self,
        name: impl AsRef<str> + Into<String>,
        value: impl Into<String>,
    ) -> Self {
        // A usual name spelt as its constant is kept as the constant: no
        // copy of the name, and no check of it at `build`.
        let name = match KNOWN_FIELDS.iter().find(|known| **known == name.as_ref()) {
            Some(known) => Cow::Borrowed(*known),
            None => Cow::Owned(name.into()),
        };
        self.headers.push((name, value.into()));
        self
    }

    /// The plain-text body: a `String`, a `&str`, or text shared with
    /// other messages without a copy (an `Arc<str>`: [`SharedText`]).
    pub fn text(mut self, text: impl Into<SharedText>) -> Self {
        self.text = Some(text.into());
        self
    }

    /// The HTML body; with a text body too, the two become
    /// multipart/alternative.
    pub fn html(mut self, html: impl Into<SharedText>) -> Self {
        self.html = Some(html.into());
        self
    }

    /// Attaches a file, read only while the message is written; its type is
    /// guessed from its name.
    pub fn attach_file(mut self, path: impl AsRef<Path>) -> Self {
        let path = path.as_ref();
        self.attachments.push(Attachment {
            source: Source::File(path.to_owned()),
            file_name: file_name(path),
            content_type: None,
            content_id: None,
        });
        self
    }

    /// Attaches bytes under `file_name`; the type is guessed from the name
    /// when not given. The bytes are a `Vec<u8>` (moved in, not copied), a
    /// `&[u8]` (copied), or bytes shared with other messages without a copy
    /// (an `Arc<[u8]>`: [`SharedBytes`]).
    pub fn attach_bytes(
        mut self,
        file_name: impl Into<String>,
        data: impl Into<SharedBytes>,
        content_type: Option<ContentType>,
    ) -> Self {
        self.attachments.push(Attachment {
            source: Source::Bytes(data.into()),
            file_name: file_name.into(),
            content_type,
            content_id: None,
        });
        self
    }

    /// An inline image (or other part) from a file, for the HTML to show as
    /// `cid:<content_id>`; the parts become multipart/related.
    pub fn inline_file(mut self, path: impl AsRef<Path>, content_id: impl Into<String>) -> Self {
        let path = path.as_ref();
        self.inline.push(Attachment {
            source: Source::File(path.to_owned()),
            file_name: file_name(path),
            content_type: None,
            content_id: Some(content_id.into()),
        });
        self
    }

    /// An inline part from bytes, shown by the HTML as `cid:<content_id>`;
    /// the bytes as for [`MessageBuilder::attach_bytes`].
    pub fn inline_bytes(
        mut self,
        content_id: impl Into<String>,
        file_name: impl Into<String>,
        data: impl Into<SharedBytes>,
        content_type: Option<ContentType>,
    ) -> Self {
        self.inline.push(Attachment {
            source: Source::Bytes(data.into()),
            file_name: file_name.into(),
            content_type,
            content_id: Some(content_id.into()),
        });
        self
    }

    /// The message. Checks every field (a CR or LF is an error, addresses
    /// must parse) and that each attached file exists.
    pub fn build(self) -> Result<Message, Error> {
        // Each (name, value) becomes a checked field in the same place: a
        // field is the size of the pair, so the builder's list becomes the
        // message's without a new allocation.
        let fields = self
            .headers
            .into_iter()
            .map(|(name, value)| {
                if ADDRESS_FIELDS.iter().any(|f| f.eq_ignore_ascii_case(&name)) {
                    address::check_address_list(&value)?;
                }
                let value = HeaderValue::from_string(&name, value)?;
                let name = match name {
                    Cow::Borrowed(name) => HeaderName::from_static(name),
                    Cow::Owned(name) => HeaderName::from_string(name)?,
                };
                Ok(Header::new(name, value))
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let headers = Headers::from_fields(fields);

        let text = self.text.map(Message::text);
        let html = match self.html {
            Some(html) if !self.inline.is_empty() => {
                let mut parts = vec![Message::html(html)];
                for inline in self.inline {
                    parts.push(attachment_part(inline, "inline")?);
                }
                Some(Message::multipart("related", parts)?)
            }
            Some(html) => Some(Message::html(html)),
            None if !self.inline.is_empty() => {
                return Err(Error::InvalidHeaderValue {
                    name: "Content-ID".to_owned(),
                    reason: "inline parts need an HTML body that refers to them",
                })
            }
            None => None,
        };
        let body = match (text, html) {
            (Some(text), Some(html)) => Some(Message::multipart("alternative", vec![text, html])?),
            (text, html) => text.or(html),
        };
        let mut message = if self.attachments.is_empty() {
            body.unwrap_or_else(|| Message::text(""))
        } else {
            let mut parts = Vec::with_capacity(1 + self.attachments.len());
            parts.extend(body);
            for attachment in self.attachments {
                parts.push(attachment_part(attachment, "attachment")?);
            }
            Message::multipart("mixed", parts)?
        };
        *message.headers_mut() = headers;
        Ok(message)
    }

    fn set(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((Cow::Borrowed(name), value.into()));
        self
    }

    fn add_addresses(mut self, name: &'static str, value: impl Into<String>) -> Self {
        let value = value.into();
        match self
            .headers
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            Some((_, existing)) => {
                existing.push_str(", ");
                existing.push_str(&value);
            }
            None => self.headers.push((Cow::Borrowed(name), value)),
        }
        self
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "attachment".to_owned())
}

/// One attachment or inline part, with its Content-Disposition (file name
/// in RFC 2231 form when it needs it) and Content-ID.
fn attachment_part(attachment: Attachment, disposition: &str) -> Result<Message, Error> {
    let content_type = match &attachment.content_type {
        Some(ct) => ct.clone(),
        None => {
            // The table's types are bare lowercase `type/subtype`
            // constants: no parsing, no copy.
            ContentType::from_static(mime_types::guess(&attachment.file_name)).map_err(|_| {
                Error::InvalidHeaderValue {
                    name: "Content-Type".to_owned(),
                    reason: "the guessed MIME type is not valid",
                }
            })?
        }
    };
    let mut part = match attachment.source {
        // Moved, not copied: a large attachment is in memory once.
        Source::Bytes(data) => Message::data(data, content_type),
        Source::File(path) => Message::file(path, content_type)?,
    };
    let mut value = String::with_capacity(attachment.file_name.len() + 24);
    value.push_str(disposition);
    rfc2231::write_param("filename", &attachment.file_name, &mut value);
    let value = HeaderValue::from_string("Content-Disposition", value)?;
    part.headers_mut()
        .append_value(HeaderName::from_static("Content-Disposition"), value);
    if let Some(id) = attachment.content_id {
        let valid = !id.is_empty()
            && id
                .bytes()
                .all(|b| b.is_ascii_graphic() && !matches!(b, b'<' | b'>' | b'"' | b'\\'));
        if !valid {
            return Err(Error::InvalidHeaderValue {
                name: "Content-ID".to_owned(),
                reason: "a content id is printable ASCII without <, >, quotes or spaces",
            });
        }
        part.headers_mut()
            .append("Content-ID", &format!("<{id}>"))?;
    }
    Ok(part)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Body;

    fn shape(msg: &Message) -> String {
        match msg.body() {
            Body::Multipart { content_type, .. } => format!(
                "{}({})",
                content_type.essence(),
                msg.parts().iter().map(shape).collect::<Vec<_>>().join(",")
            ),
            Body::Text { subtype, .. } => format!("text/{subtype}"),
            Body::Data { content_type, .. } | Body::File { content_type, .. } => {
                content_type.essence().to_owned()
            }
            _ => "raw".to_owned(),
        }
    }

    #[test]
    fn structure_follows_what_is_given() {
        let b = || MessageBuilder::new().to("a@x.org");
        assert_eq!(shape(&b().text("t").build().unwrap()), "text/plain");
        assert_eq!(shape(&b().html("h").build().unwrap()), "text/html");
        assert_eq!(
            shape(&b().text("t").html("h").build().unwrap()),
            "multipart/alternative(text/plain,text/html)"
        );
        assert_eq!(
            shape(
                &b().text("t")
                    .html("<img src=cid:logo>")
                    .inline_bytes("logo", "logo.png", vec![1, 2], None)
                    .attach_bytes("a.pdf", vec![3], None)
                    .build()
                    .unwrap()
            ),
            "multipart/mixed(multipart/alternative(text/plain,multipart/related(text/html,image/png)),application/pdf)"
        );
    }

    #[test]
    fn bad_addresses_and_injected_fields_are_errors() {
        assert!(MessageBuilder::new().to("a@x.org b@x.org").build().is_err());
        assert!(MessageBuilder::new()
            .subject("a\r\nBcc: x@y")
            .build()
            .is_err());
        assert!(MessageBuilder::new()
            .inline_bytes("x", "x.png", vec![], None)
            .build()
            .is_err());
        assert!(MessageBuilder::new()
            .html("h")
            .inline_bytes("bad id", "x.png", vec![], None)
            .build()
            .is_err());
    }

    #[test]
    fn recipients_accumulate_and_single_fields_replace() {
        let msg = MessageBuilder::new()
            .to("a@x.org")
            .to("b@x.org")
            .subject("one")
            .subject("two")
            .build()
            .unwrap();
        assert_eq!(
            msg.headers().get("To").unwrap().as_text(),
            "a@x.org, b@x.org"
        );
        assert_eq!(msg.headers().get_all("Subject").count(), 1);
    }

    #[test]
    fn header_names_keep_their_spelling() {
        let msg = MessageBuilder::new()
            .header("Date", "Mon, 7 Dec 2026 10:00:00 +0000")
            .header("message-id", "<a@x.org>")
            .header(String::from("X-Tag"), "1")
            .header("Message-ID", "<b@x.org>")
            .text("t")
            .build()
            .unwrap();
        let out = String::from_utf8(msg.to_bytes().unwrap()).unwrap();
        assert!(out.starts_with("Date: Mon, 7 Dec 2026 10:00:00 +0000\r\nmessage-id: <a@x.org>\r\nX-Tag: 1\r\nMessage-ID: <b@x.org>\r\n"), "{out}");
        assert!(MessageBuilder::new()
            .header("Bad Name", "x")
            .build()
            .is_err());
    }

    #[test]
    fn non_ascii_file_names_use_rfc_2231() {
        let msg = MessageBuilder::new()
            .text("t")
            .attach_bytes("résumé 2026.pdf", vec![1], None)
            .build()
            .unwrap();
        let out = String::from_utf8(msg.to_bytes().unwrap()).unwrap();
        assert!(
            out.contains("filename*=utf-8''r%C3%A9sum%C3%A9%202026.pdf"),
            "{out}"
        );
        assert!(out.is_ascii());
    }
}
