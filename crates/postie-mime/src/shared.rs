//! The content of a text or data leaf: owned, or shared with other
//! messages without a copy.
//!
//! A sender often puts the same body or attachment into many messages (a
//! newsletter, an invoice template, one message per recipient). Given as a
//! `String` or `Vec<u8>`, every message needs its own copy; given as an
//! `Arc<str>` / `Arc<[u8]>` (or a `&'static` one), every message holds the
//! same bytes, and building one costs a reference count, not a copy.
//!
//! ```
//! use std::sync::Arc;
//! use postie_mime::builder::MessageBuilder;
//!
//! let invoice: Arc<[u8]> = Arc::from(&b"%PDF-1.7 ..."[..]);
//! let text: Arc<str> = Arc::from("Your invoice is attached.");
//! for to in ["ann@example.org", "bob@example.org"] {
//!     let msg = MessageBuilder::new()
//!         .to(to)
//!         .text(Arc::clone(&text))
//!         .attach_bytes("invoice.pdf", Arc::clone(&invoice), None)
//!         .build()?;
//!     assert!(msg.to_bytes()?.ends_with(b"--\r\n"));
//! }
//! # Ok::<(), postie_mime::Error>(())
//! ```
//!
//! Both types take what the builder took before (`String`, `&str`,
//! `Vec<u8>`, `&[u8]` and the like, copied into an owned value as before),
//! so existing callers are unchanged.

use std::borrow::Cow;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

/// Text for a [`Body::Text`](crate::Body::Text) leaf: a `String`, or text
/// shared without a copy (`Arc<str>`, `&'static str` through
/// [`SharedText::from_static`]). Reads as a `str`.
#[derive(Clone)]
pub struct SharedText(TextRepr);

#[derive(Clone)]
enum TextRepr {
    Owned(String),
    Shared(Arc<str>),
    Static(&'static str),
}

impl SharedText {
    /// Text that lives for the whole program, held without a copy.
    pub const fn from_static(text: &'static str) -> Self {
        Self(TextRepr::Static(text))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            TextRepr::Owned(text) => text,
            TextRepr::Shared(text) => text,
            TextRepr::Static(text) => text,
        }
    }

    /// The text as a `String` (a copy unless it was one).
    pub fn into_string(self) -> String {
        match self.0 {
            TextRepr::Owned(text) => text,
            other => Self(other).as_str().to_owned(),
        }
    }
}

impl Deref for SharedText {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for SharedText {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<[u8]> for SharedText {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl fmt::Debug for SharedText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for SharedText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq for SharedText {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for SharedText {}

impl PartialEq<str> for SharedText {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for SharedText {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl From<String> for SharedText {
    fn from(text: String) -> Self {
        Self(TextRepr::Owned(text))
    }
}

/// Copied: a borrowed `&str` may not outlive the message (for a
/// `&'static str` without a copy, see [`SharedText::from_static`]).
impl From<&str> for SharedText {
    fn from(text: &str) -> Self {
        Self(TextRepr::Owned(text.to_owned()))
    }
}

impl From<&mut str> for SharedText {
    fn from(text: &mut str) -> Self {
        Self::from(&*text)
    }
}

impl From<&String> for SharedText {
    fn from(text: &String) -> Self {
        Self::from(text.as_str())
    }
}

impl From<Box<str>> for SharedText {
    fn from(text: Box<str>) -> Self {
        Self::from(String::from(text))
    }
}

impl From<Cow<'_, str>> for SharedText {
    fn from(text: Cow<'_, str>) -> Self {
        Self::from(text.into_owned())
    }
}

impl From<char> for SharedText {
    fn from(c: char) -> Self {
        Self::from(String::from(c))
    }
}

impl From<Arc<str>> for SharedText {
    fn from(text: Arc<str>) -> Self {
        Self(TextRepr::Shared(text))
    }
}

impl From<&Arc<str>> for SharedText {
    fn from(text: &Arc<str>) -> Self {
        Self(TextRepr::Shared(Arc::clone(text)))
    }
}

/// Bytes for a [`Body::Data`](crate::Body::Data) leaf: a `Vec<u8>`, or
/// bytes shared without a copy (`Arc<[u8]>`, `&'static [u8]` through
/// [`SharedBytes::from_static`]). Reads as a `[u8]`.
#[derive(Clone)]
pub struct SharedBytes(BytesRepr);

#[derive(Clone)]
enum BytesRepr {
    Owned(Vec<u8>),
    Shared(Arc<[u8]>),
    Static(&'static [u8]),
}

impl SharedBytes {
    /// Bytes that live for the whole program, held without a copy.
    pub const fn from_static(bytes: &'static [u8]) -> Self {
        Self(BytesRepr::Static(bytes))
    }

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        match &self.0 {
            BytesRepr::Owned(bytes) => bytes,
            BytesRepr::Shared(bytes) => bytes,
            BytesRepr::Static(bytes) => bytes,
        }
    }

    /// The bytes as a `Vec<u8>` (a copy unless they were one).
    pub fn into_vec(self) -> Vec<u8> {
        match self.0 {
            BytesRepr::Owned(bytes) => bytes,
            other => Self(other).as_slice().to_vec(),
        }
    }
}

impl Deref for SharedBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl AsRef<[u8]> for SharedBytes {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl fmt::Debug for SharedBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_slice(), f)
    }
}

impl PartialEq for SharedBytes {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for SharedBytes {}

impl PartialEq<[u8]> for SharedBytes {
    fn eq(&self, other: &[u8]) -> bool {
        self.as_slice() == other
    }
}

impl From<Vec<u8>> for SharedBytes {
    fn from(bytes: Vec<u8>) -> Self {
        Self(BytesRepr::Owned(bytes))
    }
}

/// Copied: borrowed bytes may not outlive the message (for a
/// `&'static [u8]` without a copy, see [`SharedBytes::from_static`]).
impl From<&[u8]> for SharedBytes {
    fn from(bytes: &[u8]) -> Self {
        Self::from(bytes.to_vec())
    }
}

impl From<&mut [u8]> for SharedBytes {
    fn from(bytes: &mut [u8]) -> Self {
        Self::from(bytes.to_vec())
    }
}

impl From<&Vec<u8>> for SharedBytes {
    fn from(bytes: &Vec<u8>) -> Self {
        Self::from(bytes.clone())
    }
}

impl<const N: usize> From<[u8; N]> for SharedBytes {
    fn from(bytes: [u8; N]) -> Self {
        Self::from(bytes.to_vec())
    }
}

impl<const N: usize> From<&[u8; N]> for SharedBytes {
    fn from(bytes: &[u8; N]) -> Self {
        Self::from(bytes.to_vec())
    }
}

impl From<Box<[u8]>> for SharedBytes {
    fn from(bytes: Box<[u8]>) -> Self {
        Self::from(Vec::from(bytes))
    }
}

impl From<Cow<'_, [u8]>> for SharedBytes {
    fn from(bytes: Cow<'_, [u8]>) -> Self {
        Self::from(bytes.into_owned())
    }
}

impl From<String> for SharedBytes {
    fn from(text: String) -> Self {
        Self::from(text.into_bytes())
    }
}

impl From<&str> for SharedBytes {
    fn from(text: &str) -> Self {
        Self::from(text.as_bytes())
    }
}

impl From<Arc<[u8]>> for SharedBytes {
    fn from(bytes: Arc<[u8]>) -> Self {
        Self(BytesRepr::Shared(bytes))
    }
}

impl From<&Arc<[u8]>> for SharedBytes {
    fn from(bytes: &Arc<[u8]>) -> Self {
        Self(BytesRepr::Shared(Arc::clone(bytes)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_reads_the_same_and_compares_by_content() {
        let arc: Arc<str> = Arc::from("text");
        let forms = [
            SharedText::from("text"),
            SharedText::from(String::from("text")),
            SharedText::from(&arc),
            SharedText::from_static("text"),
        ];
        for form in &forms {
            assert_eq!(form, &forms[0]);
            assert_eq!(&**form, "text");
            assert_eq!(format!("{form:?}"), "\"text\"");
            assert_eq!(form.clone().into_string(), "text");
        }
        let bytes: Arc<[u8]> = Arc::from(&b"abc"[..]);
        let forms = [
            SharedBytes::from(b"abc"),
            SharedBytes::from(b"abc".to_vec()),
            SharedBytes::from(&bytes),
            SharedBytes::from_static(b"abc"),
        ];
        for form in &forms {
            assert_eq!(form, &forms[0]);
            assert_eq!(&**form, b"abc");
            assert_eq!(form.clone().into_vec(), b"abc");
        }
    }

    #[test]
    fn shared_content_is_not_copied() {
        let arc: Arc<[u8]> = Arc::from(vec![7u8; 1000]);
        let held = SharedBytes::from(&arc);
        assert_eq!(held.as_slice().as_ptr(), arc.as_ptr());
        assert_eq!(Arc::strong_count(&arc), 2);
        let text: Arc<str> = Arc::from("shared");
        assert_eq!(SharedText::from(&text).as_str().as_ptr(), text.as_ptr());
    }
}
