//! `Content-Type` (RFC 2045 §5) and `Content-Disposition` (RFC 2183) header
//! values: a media type or disposition type and its parameters.
//!
//! Parsing is tolerant, as reading mail from the wild needs: comments,
//! stray white space, quoted-strings with escapes, unquoted values holding
//! characters a token may not, missing or doubled `;` and RFC 2231
//! parameters (continuations, charsets) are all understood. Writing is
//! strict: values are quoted or RFC 2231-encoded as they need (see
//! [`crate::fields::rfc2231::param_pieces`]) and no written piece is longer than 76
//! characters, so a caller can fold the header between pieces.
//!
//! ```
//! use postie_mime::content_type::ContentType;
//!
//! let ct = ContentType::parse("Text/Plain; charset=\"UTF-8\" (a comment); format=flowed")?;
//! assert_eq!(ct.essence(), "text/plain");
//! assert_eq!(ct.charset(), Some("UTF-8"));
//! assert_eq!(ct.header_value(), "text/plain; charset=UTF-8; format=flowed");
//! # Ok::<(), postie_mime::content_type::ContentTypeError>(())
//! ```

use std::borrow::Cow;

use smallvec::{smallvec, SmallVec};
use std::fmt;
use std::str::FromStr;

use crate::fields::lexer::{Lexer, Strictness};
use crate::fields::rfc2231::{
    clean_name, decode_params, is_clean_name, is_token, is_token_byte, param_pieces,
};

/// Why a `Content-Type` or `Content-Disposition` value could not be built or
/// parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ContentTypeError {
    /// A type, subtype or disposition type given to a constructor is empty
    /// or not an RFC 2045 token.
    #[error("invalid {what} {value:?}: not an RFC 2045 token")]
    InvalidToken {
        /// Which part was refused: `"type"`, `"subtype"` or `"disposition"`.
        what: &'static str,
        /// The value as given.
        value: String,
    },
    /// The value does not start with a media type or disposition type.
    #[error("missing {what} at byte {position}")]
    MissingType {
        /// What was expected: `"media type"` or `"disposition type"`.
        what: &'static str,
        /// Byte offset in the parsed value where it was expected.
        position: usize,
    },
    /// A media type is not followed by `/` and a subtype.
    #[error("missing subtype at byte {position}")]
    MissingSubtype {
        /// Byte offset in the parsed value where the subtype (or the `/`
        /// before it) was expected.
        position: usize,
    },
}

/// A parameter of a [`ContentType`] or [`ContentDisposition`]: its
/// lowercase name and its decoded value. The name is a constant where
/// postie sets it (a multipart's `boundary`, made for every message, costs
/// no string), else owned.
pub type Param = (Cow<'static, str>, String);

/// The parameters of a value: most have one or none (a multipart's
/// boundary, a text's charset), kept in place; more go to the heap.
type Params = SmallVec<[Param; 1]>;

/// A parsed or built `Content-Type` value: a lowercase `type/subtype` and
/// parameters, each with a lowercase name and a decoded value.
///
/// ```
/// use postie_mime::content_type::ContentType;
///
/// let ct = ContentType::new("text", "plain")?.with_param("charset", "utf-8");
/// assert_eq!(ct.to_string(), "text/plain; charset=utf-8");
/// assert!(ct.is_text());
/// # Ok::<(), postie_mime::content_type::ContentTypeError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentType {
    /// Lowercase `type/subtype`: a constant for the types postie makes
    /// itself (multiparts, guessed attachment types), else built.
    mime_type: Cow<'static, str>,
    /// Length of the type, the index of the `/` in `mime_type`.
    slash: usize,
    /// Lowercase names, decoded values, at most one of each name.
    params: Params,
}

impl ContentType {
    /// A media type without parameters. Both parts must be RFC 2045 tokens;
    /// they are stored lowercase.
    ///
    /// ```
    /// use postie_mime::content_type::ContentType;
    ///
    /// assert_eq!(ContentType::new("Image", "PNG")?.essence(), "image/png");
    /// assert!(ContentType::new("text", "pl ain").is_err());
    /// # Ok::<(), postie_mime::content_type::ContentTypeError>(())
    /// ```
    pub fn new(type_: &str, subtype: &str) -> Result<Self, ContentTypeError> {
        if !is_token(type_) {
            return Err(ContentTypeError::InvalidToken {
                what: "type",
                value: type_.to_string(),
            });
        }
        if !is_token(subtype) {
            return Err(ContentTypeError::InvalidToken {
                what: "subtype",
                value: subtype.to_string(),
            });
        }
        Ok(Self::from_parts(type_, subtype, Vec::new()))
    }

    /// A constant `type/subtype`, used as it is when it is already in the
    /// form [`ContentType::new`] would store (two lowercase tokens), which
    /// saves building a string per message; otherwise built as by
    /// [`ContentType::parse`].
    pub(crate) fn from_static(essence: &'static str) -> Result<Self, ContentTypeError> {
        // One pass: lowercase token bytes around exactly one '/', with at
        // least one byte on each side.
        let mut slash = None;
        let mut ok = true;
        for (at, b) in essence.bytes().enumerate() {
            if b == b'/' && slash.is_none() {
                slash = Some(at);
            } else {
                ok &= is_token_byte(b) && !b.is_ascii_uppercase();
            }
        }
        match slash {
            Some(slash) if ok && slash > 0 && slash + 1 < essence.len() => Ok(Self {
                mime_type: Cow::Borrowed(essence),
                slash,
                params: Params::new(),
            }),
            _ => Self::parse(essence),
        }
    }

    /// A `multipart/<subtype>` constant of postie's own, with no check:
    /// `essence` is `multipart/` and a lowercase token (the tests check
    /// each constant against [`ContentType::from_static`]).
    pub(crate) fn multipart_static(essence: &'static str) -> Self {
        debug_assert!(essence.starts_with("multipart/"));
        Self {
            mime_type: Cow::Borrowed(essence),
            slash: "multipart".len(),
            params: Params::new(),
        }
    }

    fn from_parts(type_: &str, subtype: &str, params: Vec<Param>) -> Self {
        let mut mime_type = String::with_capacity(type_.len() + 1 + subtype.len());
        mime_type.push_str(type_);
        mime_type.push('/');
        mime_type.push_str(subtype);
        mime_type.make_ascii_lowercase();
        Self {
            mime_type: Cow::Owned(mime_type),
            slash: type_.len(),
            params: Params::from_vec(params),
        }
    }

    /// Parses a `Content-Type` header value (unfolded or not).
    ///
    /// Tolerant of comments, white space, quoted-strings with escapes,
    /// unquoted values with special characters (read up to the next `;`),
    /// empty parameters and parameters without `=` (skipped). RFC 2231
    /// parameters are joined and decoded; a parameter whose name could not
    /// be written back (one holding `'` or `%`, say) is dropped. A value without a type, or
    /// whose type has no `/subtype`, is an error that gives the position.
    ///
    /// ```
    /// use postie_mime::content_type::{ContentType, ContentTypeError};
    ///
    /// let ct = ContentType::parse(
    ///     "application/pdf; name*0*=utf-8''%E6%97%A5%E6%9C%AC; name*1*=.pdf",
    /// )?;
    /// assert_eq!(ct.param("NAME"), Some("日本.pdf"));
    /// assert_eq!(
    ///     ContentType::parse("text; charset=us-ascii"),
    ///     Err(ContentTypeError::MissingSubtype { position: 4 })
    /// );
    /// # Ok::<(), ContentTypeError>(())
    /// ```
    pub fn parse(value: &str) -> Result<Self, ContentTypeError> {
        let mut cursor = Cursor::new(value);
        cursor.skip_cfws();
        let type_start = cursor.lex.pos;
        let type_ = cursor.token();
        if type_.is_empty() {
            return Err(ContentTypeError::MissingType {
                what: "media type",
                position: type_start,
            });
        }
        cursor.skip_cfws();
        if !cursor.lex.eat('/') {
            return Err(ContentTypeError::MissingSubtype {
                position: cursor.lex.pos,
            });
        }
        cursor.skip_cfws();
        let subtype_start = cursor.lex.pos;
        let subtype = cursor.token();
        if subtype.is_empty() {
            return Err(ContentTypeError::MissingSubtype {
                position: subtype_start,
            });
        }
        let params = cursor.params();
        Ok(Self::from_parts(type_, subtype, params))
    }

    /// Sets parameter `name` (stored lowercase) to `value`, replacing any
    /// earlier value of that name. Characters that may not appear in a
    /// parameter name are dropped from `name` (see
    /// [`crate::fields::rfc2231::param_pieces`]); if none is left, nothing is set.
    ///
    /// ```
    /// use postie_mime::content_type::ContentType;
    ///
    /// let ct = ContentType::new("multipart", "mixed")?
    ///     .with_param("boundary", "=_b1")
    ///     .with_param("Boundary", "=_b2");
    /// assert_eq!(ct.header_value(), r#"multipart/mixed; boundary="=_b2""#);
    /// # Ok::<(), postie_mime::content_type::ContentTypeError>(())
    /// ```
    #[must_use]
    pub fn with_param(mut self, name: &str, value: &str) -> Self {
        set_param(&mut self.params, name, value);
        self
    }

    /// Sets a parameter in place; see [`ContentType::with_param`].
    pub fn set_param(&mut self, name: &str, value: &str) {
        set_param(&mut self.params, name, value);
    }

    /// [`ContentType::with_param`] for a value the caller gives away (a
    /// multipart's new boundary), kept without a copy.
    #[must_use]
    pub(crate) fn with_param_owned(mut self, name: &str, value: String) -> Self {
        set_param_owned(&mut self.params, name, value);
        self
    }

    /// A multipart's new `boundary`, given away: on a type without
    /// parameters (the multipart constants) the list is made with room for
    /// just this one, without the name checks and search of
    /// [`ContentType::with_param_owned`].
    #[must_use]
    pub(crate) fn with_boundary(mut self, boundary: String) -> Self {
        if self.params.is_empty() {
            // The name as a constant: no string made for it.
            self.params = smallvec![(Cow::Borrowed("boundary"), boundary)];
            self
        } else {
            self.with_param_owned("boundary", boundary)
        }
    }

    /// Removes parameter `name` (any case), giving back its value.
    pub fn remove_param(&mut self, name: &str) -> Option<String> {
        remove_param(&mut self.params, name)
    }

    /// The value of parameter `name`, whose case does not matter.
    pub fn param(&self, name: &str) -> Option<&str> {
        find_param(&self.params, name)
    }

    /// All parameters, as (lowercase name, decoded value), in header order.
    pub fn params(&self) -> &[Param] {
        &self.params
    }

    /// The lowercase top-level type, such as `text`.
    pub fn type_(&self) -> &str {
        self.mime_type.get(..self.slash).unwrap_or_default()
    }

    /// The lowercase subtype, such as `plain`.
    pub fn subtype(&self) -> &str {
        self.mime_type.get(self.slash + 1..).unwrap_or_default()
    }

    /// The lowercase `type/subtype`, without parameters.
    pub fn essence(&self) -> &str {
        &self.mime_type
    }

    /// Is the top-level type `multipart`?
    pub fn is_multipart(&self) -> bool {
        self.type_() == "multipart"
    }

    /// Is the top-level type `text`?
    pub fn is_text(&self) -> bool {
        self.type_() == "text"
    }

    /// The `charset` parameter, as written (charset names are
    /// case-insensitive).
    pub fn charset(&self) -> Option<&str> {
        self.param("charset")
    }

    /// The `boundary` parameter of a multipart type.
    pub fn boundary(&self) -> Option<&str> {
        self.param("boundary")
    }

    /// The value split where a header may be folded: `type/subtype` first,
    /// then one piece per parameter segment (each at most 76 characters
    /// unless a parameter name is absurdly long). Join with `"; "`, or with
    /// `";\r\n "` to fold.
    ///
    /// ```
    /// use postie_mime::content_type::ContentType;
    ///
    /// let ct = ContentType::new("text", "plain")?.with_param("name", "ünï.txt");
    /// assert_eq!(ct.pieces(), ["text/plain", "name*=utf-8''%C3%BCn%C3%AF.txt"]);
    /// # Ok::<(), postie_mime::content_type::ContentTypeError>(())
    /// ```
    pub fn pieces(&self) -> Vec<String> {
        pieces_of(&self.mime_type, &self.params)
    }

    /// The whole value on one line: [`ContentType::pieces`] joined with
    /// `"; "`. The caller folds it.
    pub fn header_value(&self) -> String {
        value_of(&self.mime_type, &self.params)
    }
}

impl fmt::Display for ContentType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.header_value())
    }
}

impl FromStr for ContentType {
    type Err = ContentTypeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// A parsed or built `Content-Disposition` value (RFC 2183): a lowercase
/// disposition type (`attachment`, `inline` or another token) and
/// parameters, each with a lowercase name and a decoded value.
///
/// ```
/// use postie_mime::content_type::ContentDisposition;
///
/// let cd = ContentDisposition::attachment().with_param("filename", "Grüße.txt");
/// assert_eq!(cd.header_value(), "attachment; filename*=utf-8''Gr%C3%BC%C3%9Fe.txt");
///
/// let back = ContentDisposition::parse(&cd.header_value())?;
/// assert_eq!(back.filename(), Some("Grüße.txt"));
/// # Ok::<(), postie_mime::content_type::ContentTypeError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentDisposition {
    /// Lowercase disposition type.
    kind: String,
    /// Lowercase names, decoded values, at most one of each name.
    params: Params,
}

impl ContentDisposition {
    /// A disposition of type `kind`, which must be an RFC 2045 token; it is
    /// stored lowercase.
    ///
    /// ```
    /// use postie_mime::content_type::ContentDisposition;
    ///
    /// assert_eq!(ContentDisposition::new("Form-Data")?.kind(), "form-data");
    /// assert!(ContentDisposition::new("").is_err());
    /// # Ok::<(), postie_mime::content_type::ContentTypeError>(())
    /// ```
    pub fn new(kind: &str) -> Result<Self, ContentTypeError> {
        if !is_token(kind) {
            return Err(ContentTypeError::InvalidToken {
                what: "disposition",
                value: kind.to_string(),
            });
        }
        Ok(Self {
            kind: kind.to_ascii_lowercase(),
            params: Params::new(),
        })
    }

    /// `attachment`, without parameters.
    pub fn attachment() -> Self {
        Self {
            kind: "attachment".to_string(),
            params: Params::new(),
        }
    }

    /// `inline`, without parameters.
    pub fn inline() -> Self {
        Self {
            kind: "inline".to_string(),
            params: Params::new(),
        }
    }

    /// Parses a `Content-Disposition` header value, with the tolerance of
    /// [`ContentType::parse`]. A value without a disposition type is an
    /// error that gives the position.
    ///
    /// ```
    /// use postie_mime::content_type::ContentDisposition;
    ///
    /// let cd = ContentDisposition::parse(r#"ATTACHMENT; filename="a \"b\".txt"; size=12"#)?;
    /// assert!(cd.is_attachment());
    /// assert_eq!(cd.filename(), Some(r#"a "b".txt"#));
    /// assert_eq!(cd.param("Size"), Some("12"));
    /// # Ok::<(), postie_mime::content_type::ContentTypeError>(())
    /// ```
    pub fn parse(value: &str) -> Result<Self, ContentTypeError> {
        let mut cursor = Cursor::new(value);
        cursor.skip_cfws();
        let start = cursor.lex.pos;
        let kind = cursor.token();
        if kind.is_empty() {
            return Err(ContentTypeError::MissingType {
                what: "disposition type",
                position: start,
            });
        }
        let kind = kind.to_ascii_lowercase();
        let params = cursor.params();
        Ok(Self {
            kind,
            params: Params::from_vec(params),
        })
    }

    /// The lowercase disposition type, such as `attachment`.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// Is the disposition type `attachment`?
    pub fn is_attachment(&self) -> bool {
        self.kind == "attachment"
    }

    /// Is the disposition type `inline`?
    pub fn is_inline(&self) -> bool {
        self.kind == "inline"
    }

    /// Sets parameter `name` (stored lowercase) to `value`, replacing any
    /// earlier value of that name; see [`ContentType::with_param`].
    #[must_use]
    pub fn with_param(mut self, name: &str, value: &str) -> Self {
        set_param(&mut self.params, name, value);
        self
    }

    /// Sets a parameter in place; see [`ContentType::with_param`].
    pub fn set_param(&mut self, name: &str, value: &str) {
        set_param(&mut self.params, name, value);
    }

    /// Removes parameter `name` (any case), giving back its value.
    pub fn remove_param(&mut self, name: &str) -> Option<String> {
        remove_param(&mut self.params, name)
    }

    /// The value of parameter `name`, whose case does not matter.
    pub fn param(&self, name: &str) -> Option<&str> {
        find_param(&self.params, name)
    }

    /// All parameters, as (lowercase name, decoded value), in header order.
    pub fn params(&self) -> &[Param] {
        &self.params
    }

    /// The `filename` parameter, RFC 2231-decoded (RFC 2047 encoded-words
    /// that some mailers put in quoted filenames are left as they are).
    pub fn filename(&self) -> Option<&str> {
        self.param("filename")
    }

    /// The value split where a header may be folded: the disposition type
    /// first, then one piece per parameter segment; see
    /// [`ContentType::pieces`].
    pub fn pieces(&self) -> Vec<String> {
        pieces_of(&self.kind, &self.params)
    }

    /// The whole value on one line: [`ContentDisposition::pieces`] joined
    /// with `"; "`. The caller folds it.
    pub fn header_value(&self) -> String {
        value_of(&self.kind, &self.params)
    }
}

impl fmt::Display for ContentDisposition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.header_value())
    }
}

impl FromStr for ContentDisposition {
    type Err = ContentTypeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

fn set_param(params: &mut Params, name: &str, value: &str) {
    set_param_owned(params, name, value.to_owned());
}

/// [`set_param`] for a value the caller gives away.
fn set_param_owned(params: &mut Params, name: &str, value: String) {
    // A name that is clean and lowercase already (every name postie sets)
    // is copied once, not cleaned into one string and lowered into another.
    let name = if is_clean_lowercase(name) {
        name.to_owned()
    } else {
        clean_name(name).to_ascii_lowercase()
    };
    if name.is_empty() {
        return;
    }
    match params.iter_mut().find(|(n, _)| *n == name) {
        Some((_, v)) => *v = value,
        None => params.push((Cow::Owned(name), value)),
    }
}

/// Whether `clean_name(name).to_ascii_lowercase()` is `name` itself.
fn is_clean_lowercase(name: &str) -> bool {
    is_clean_name(name) && !name.bytes().any(|b| b.is_ascii_uppercase())
}

fn remove_param(params: &mut Params, name: &str) -> Option<String> {
    let index = params
        .iter()
        .position(|(n, _)| n.eq_ignore_ascii_case(name))?;
    Some(params.remove(index).1)
}

fn find_param<'a>(params: &'a [Param], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// [`pieces_of`] joined with `"; "`, written into one string.
fn value_of(head: &str, params: &[Param]) -> String {
    let mut value = String::with_capacity(head.len() + 48);
    value.push_str(head);
    for (name, param) in params {
        crate::fields::rfc2231::write_param(name, param, &mut value);
    }
    value
}

fn pieces_of(head: &str, params: &[Param]) -> Vec<String> {
    let mut pieces = vec![head.to_string()];
    for (name, value) in params {
        pieces.extend(param_pieces(name, value));
    }
    pieces
}

/// A position in a header value being parsed: the shared [`Lexer`], read
/// tolerantly ([`Strictness::Tolerant`]: nothing is an error, as mail from
/// the wild needs), plus the MIME parameter syntax on top of it.
struct Cursor<'a> {
    lex: Lexer<'a>,
}

impl<'a> Cursor<'a> {
    fn new(s: &'a str) -> Self {
        Self {
            lex: Lexer::new(s, Strictness::Tolerant),
        }
    }

    fn peek(&self) -> Option<char> {
        self.lex.peek()
    }

    /// Skips white space (folding included) and comments, nested and with
    /// `\` escapes.
    fn skip_cfws(&mut self) {
        // Tolerant: the only error is an unclosed comment, which runs to
        // the end of the value, where the lexer has left the cursor.
        let _unclosed = self.lex.cfws(None);
    }

    /// Consumes a run of RFC 2045 token characters (possibly empty).
    fn token(&mut self) -> &'a str {
        self.lex.run(|c| c.is_ascii_graphic() && !is_tspecial(c))
    }

    /// Consumes a quoted-string (the cursor is on its opening `"`), giving
    /// its content with escapes resolved.
    fn quoted_string(&mut self) -> String {
        let mut out = String::new();
        // Tolerant: the only error is an unclosed quoted-string, which runs
        // to the end of the value and keeps what it holds.
        let _unclosed = self.lex.quoted_string(&mut out);
        out
    }

    /// Consumes an unquoted value: everything up to the next `;`, or up to
    /// a comment (a `(` after white space), trimmed. Lenient on purpose:
    /// `name=My File.pdf` and `boundary=--=_x` are common in the wild.
    fn bare_value(&mut self) -> &'a str {
        let mut prev_space = false;
        self.lex
            .run(|c| {
                let end = c == ';' || (c == '(' && prev_space);
                prev_space = matches!(c, ' ' | '\t' | '\r' | '\n');
                !end
            })
            .trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n'))
    }

    /// Skips to the next `;` (not consumed) or the end, stepping over
    /// quoted-strings.
    fn skip_to_semicolon(&mut self) {
        while let Some(c) = self.peek() {
            match c {
                ';' => break,
                '"' => {
                    self.quoted_string();
                }
                _ => {
                    self.lex.bump();
                }
            }
        }
    }

    /// Reads and decodes the parameters that follow a type, dropping those
    /// whose names could not be written back (such as `a'b`, or `x**`).
    fn params(&mut self) -> Vec<Param> {
        let mut params = decode_params(&self.raw_params());
        params.retain(|(name, _)| clean_name(name) == *name);
        params
            .into_iter()
            .map(|(name, value)| (Cow::Owned(name), value))
            .collect()
    }

    /// Reads the `; name=value` list that follows a type, giving raw
    /// (name, unquoted value) pairs for [`decode_params`].
    fn raw_params(&mut self) -> Vec<(String, String)> {
        let mut raw = Vec::new();
        loop {
            self.skip_cfws();
            let Some(c) = self.peek() else { break };
            if c == ';' {
                self.lex.bump();
                continue;
            }
            let name = self.token();
            if name.is_empty() {
                // Junk such as a second `/subtype`: skip to the next `;`
                // (this always moves, as the cursor is not on a `;`).
                self.skip_to_semicolon();
                continue;
            }
            self.skip_cfws();
            if !self.lex.eat('=') {
                self.skip_to_semicolon();
                continue;
            }
            self.skip_cfws();
            let value = if self.peek() == Some('"') {
                let value = self.quoted_string();
                self.skip_cfws();
                self.skip_to_semicolon();
                value
            } else {
                self.bare_value().to_string()
            };
            raw.push((name.to_string(), value));
        }
        raw
    }
}

/// RFC 2045 `tspecials`: what a token may not hold.
fn is_tspecial(c: char) -> bool {
    matches!(
        c,
        '(' | ')' | '<' | '>' | '@' | ',' | ';' | ':' | '\\' | '"' | '/' | '[' | ']' | '?' | '='
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_constant_type_is_the_type_new_would_make() {
        for essence in crate::mime_types::all_types().chain([
            "multipart/mixed",
            "multipart/alternative",
            "multipart/related",
        ]) {
            let (type_, subtype) = essence.split_once('/').unwrap();
            let made = ContentType::from_static(essence).unwrap();
            assert!(matches!(made.mime_type, Cow::Borrowed(_)), "{essence}");
            assert_eq!(made, ContentType::new(type_, subtype).unwrap());
            assert_eq!((made.type_(), made.subtype()), (type_, subtype));
        }
        // Anything else is parsed.
        for odd in ["Text/Plain", "a/b/c", "/x", "x/", "x", "a b/c"] {
            assert_eq!(
                ContentType::from_static(odd),
                ContentType::parse(odd),
                "{odd}"
            );
        }
    }

    fn ct(s: &str) -> ContentType {
        ContentType::parse(s).unwrap()
    }

    fn params(list: &[(&str, &str)]) -> Vec<Param> {
        list.iter()
            .map(|(n, v)| (Cow::Owned(n.to_string()), v.to_string()))
            .collect()
    }

    #[test]
    fn new_validates_and_lowercases() {
        let t = ContentType::new("Text", "HTML").unwrap();
        assert_eq!(t.essence(), "text/html");
        assert_eq!(t.type_(), "text");
        assert_eq!(t.subtype(), "html");
        assert!(t.is_text());
        assert!(!t.is_multipart());
        assert_eq!(
            ContentType::new("te xt", "plain"),
            Err(ContentTypeError::InvalidToken {
                what: "type",
                value: "te xt".to_string()
            })
        );
        assert!(ContentType::new("text", "").is_err());
        assert!(ContentType::new("text", "a/b").is_err());
        assert!(ContentType::new("téxt", "plain").is_err());
        assert!(ContentType::new("text", "plain\r\n").is_err());
    }

    #[test]
    fn parse_simple_and_case() {
        let t = ct("Multipart/Mixed; BOUNDARY=\"=_abc\"");
        assert_eq!(t.essence(), "multipart/mixed");
        assert!(t.is_multipart());
        assert_eq!(t.boundary(), Some("=_abc"));
        assert_eq!(t.param("boundary"), Some("=_abc"));
        assert_eq!(t.params(), params(&[("boundary", "=_abc")]));
    }

    #[test]
    fn parse_comments_spaces_and_folding() {
        let t = ct(" (lead) text (c1) / (c2 (nested) \\) ) plain (c3) ;\r\n\tcharset = \"us-ascii\" (Plain text) ; format=flowed");
        assert_eq!(t.essence(), "text/plain");
        assert_eq!(
            t.params(),
            params(&[("charset", "us-ascii"), ("format", "flowed")])
        );
        let t = ct("text/plain; charset=us-ascii (Plain text)");
        assert_eq!(t.charset(), Some("us-ascii"));
    }

    #[test]
    fn parse_quoted_string_escapes() {
        let t = ct(r#"text/plain; name="a \"quoted\" \\ name; with semicolon.txt"; x=1"#);
        assert_eq!(
            t.param("name"),
            Some(r#"a "quoted" \ name; with semicolon.txt"#)
        );
        assert_eq!(t.param("x"), Some("1"));
    }

    #[test]
    fn parse_lenient_values() {
        let t = ct("application/octet-stream; name=My File(1).pdf; boundary=----=_Part_1_2.3");
        assert_eq!(t.param("name"), Some("My File(1).pdf"));
        assert_eq!(t.param("boundary"), Some("----=_Part_1_2.3"));
        let t = ct("text/plain;; ;charset=utf-8;;novalue; =x; \"junk\"; a=\"b\" trailing; c=");
        assert_eq!(
            t.params(),
            params(&[("charset", "utf-8"), ("a", "b"), ("c", "")])
        );
        let t = ct("text/plain; name=\"unterminated");
        assert_eq!(t.param("name"), Some("unterminated"));
        let t = ct("text/plain; name=\"ünïcödé raw\"");
        assert_eq!(t.param("name"), Some("ünïcödé raw"));
        let t = ct("text/plain/extra; charset=x");
        assert_eq!(t.essence(), "text/plain");
        assert_eq!(t.charset(), Some("x"));
    }

    #[test]
    fn parse_rfc2231() {
        let t = ct("message/external-body; access-type=URL;\r\n URL*0=\"ftp://\";\r\n URL*1=\"cs.utk.edu/pub/moore/bulk-mailer/bulk-mailer.tar\"");
        assert_eq!(
            t.param("url"),
            Some("ftp://cs.utk.edu/pub/moore/bulk-mailer/bulk-mailer.tar")
        );
        let t = ct("application/x-stuff; title*=us-ascii'en-us'This%20is%20%2A%2A%2Afun%2A%2A%2A");
        assert_eq!(t.param("title"), Some("This is ***fun***"));
        let t = ct("application/x-stuff; title*0*=us-ascii'en'This%20is%20even%20more%20; title*1*=%2A%2A%2Afun%2A%2A%2A%20; title*2=\"isn't it!\"");
        assert_eq!(
            t.param("title"),
            Some("This is even more ***fun*** isn't it!")
        );
    }

    #[test]
    fn parse_errors_give_positions() {
        assert_eq!(
            ContentType::parse(""),
            Err(ContentTypeError::MissingType {
                what: "media type",
                position: 0
            })
        );
        assert_eq!(
            ContentType::parse("  ; charset=x"),
            Err(ContentTypeError::MissingType {
                what: "media type",
                position: 2
            })
        );
        assert_eq!(
            ContentType::parse("text"),
            Err(ContentTypeError::MissingSubtype { position: 4 })
        );
        assert_eq!(
            ContentType::parse("text/ ; charset=x"),
            Err(ContentTypeError::MissingSubtype { position: 6 })
        );
        assert_eq!(
            ContentType::parse("text (c) plain"),
            Err(ContentTypeError::MissingSubtype { position: 9 })
        );
        let err = ContentType::parse("text").unwrap_err();
        assert_eq!(err.to_string(), "missing subtype at byte 4");
    }

    #[test]
    fn parse_never_panics_on_odd_input() {
        let inputs = [
            "(",
            "\\",
            "\"",
            "text/plain; a=\"\\",
            "text/plain; a=(",
            "text/plain (é\\",
            "text/plain; é=é",
            "text/plain; a*0*=%",
            "é/é",
            "text/plain;\u{0}=\u{0}",
            "text/plain; a=\"é\\é\"",
            "text/plain ((((",
            "text/plain; a=b (\\é",
        ];
        for input in inputs {
            let _ = ContentType::parse(input);
            let _ = ContentDisposition::parse(input);
        }
        // Every prefix of a tricky value, cut at every char boundary.
        let tricky = "text/plain (c\\) é) ; name*0*=utf-8''%C3%A9; name*1=\"\\\"ü\\\\\"; x=y (z)";
        for (i, _) in tricky.char_indices() {
            let _ = ContentType::parse(&tricky[..i]);
            let _ = ContentDisposition::parse(&tricky[i..]);
        }
    }

    /// A small deterministic generator of awkward header values.
    fn soup(seed: u32, len: usize) -> String {
        const PARTS: &[&str] = &[
            "text", "/", "plain", ";", " ", "=", "\"", "\\", "(", ")", "*", "0", "1", "'", "%",
            "%4", "%C3%A9", "é", "日", "\r\n ", "\t", "a", "name", "utf-8''", ",", "\u{0}",
        ];
        let mut x = seed.wrapping_mul(2_654_435_761) | 1;
        let mut out = String::new();
        for _ in 0..len {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            out.push_str(PARTS[(x as usize) % PARTS.len()]);
        }
        out
    }

    #[test]
    fn random_input_never_panics_and_reparses_to_itself() {
        let mut with_params = 0;
        for seed in 0..20_000 {
            let mut input = String::from("text/plain");
            for k in 0..seed % 5 {
                const NAMES: &[&str] = &[
                    "a", "Name", "t*", "t*0*", "t*1*", "t*1", "t*0", "f*2", "f*0*", "(c)n",
                ];
                let name = NAMES[((seed / 5 + k * 7) as usize) % NAMES.len()];
                let value = soup(seed * 31 + k, ((seed + k) % 9) as usize);
                if (seed + k) % 3 == 0 {
                    let quoted = value.replace('\\', "\\\\").replace('"', "\\\"");
                    input.push_str(&format!("; {name}=\"{quoted}\""));
                } else {
                    input.push_str(&format!(";{name}={value}"));
                }
            }
            input.push_str(&soup(seed, (seed % 4) as usize));
            let _ = ContentDisposition::parse(&soup(seed, 12));
            let Ok(parsed) = ContentType::parse(&input) else {
                continue;
            };
            with_params += usize::from(!parsed.params().is_empty());
            let written = parsed.header_value();
            assert!(parsed.pieces().iter().all(|p| p.len() <= 76), "{input:?}");
            assert!(!written.contains(['\r', '\n', '\0']), "{written:?}");
            assert_eq!(ct(&written), parsed, "{input:?} -> {written:?}");
            let cd = ContentDisposition::parse(&input.replacen("text/plain", "inline", 1)).unwrap();
            assert_eq!(ContentDisposition::parse(&cd.header_value()).unwrap(), cd);
        }
        assert!(with_params > 5_000, "{with_params}");
    }

    #[test]
    fn header_value_and_pieces() {
        let t = ContentType::new("text", "plain")
            .unwrap()
            .with_param("charset", "utf-8")
            .with_param("Name", "a b.txt")
            .with_param("format", "flowed");
        assert_eq!(
            t.header_value(),
            r#"text/plain; charset=utf-8; name="a b.txt"; format=flowed"#
        );
        assert_eq!(t.to_string(), t.header_value());
        assert_eq!(t.pieces().len(), 4);
        let long = "日本語のファイル名".repeat(8);
        let t = t.with_param("name", &long);
        let pieces = t.pieces();
        assert!(pieces.len() > 3);
        assert!(pieces.iter().all(|p| p.len() <= 76));
        assert!(pieces[2].starts_with("name*0*=utf-8''"));
        let back = ct(&pieces.join(";\r\n "));
        assert_eq!(back, t);
    }

    #[test]
    fn set_remove_and_bad_names() {
        let mut t = ContentType::new("text", "plain").unwrap();
        t.set_param("charset", "us-ascii");
        t.set_param("CHARSET", "utf-8");
        t.set_param("bad\r\nname", "x");
        t.set_param("\"", "dropped");
        assert_eq!(
            t.params(),
            params(&[("charset", "utf-8"), ("badname", "x")])
        );
        assert_eq!(t.remove_param("Charset"), Some("utf-8".to_string()));
        assert_eq!(t.remove_param("charset"), None);
        assert_eq!(t.header_value(), "text/plain; badname=x");
    }

    #[test]
    fn round_trip_through_header_value() {
        let values = [
            "plain",
            "two words",
            "quote\"back\\slash",
            "ctrl\tchar",
            "ünïcødé",
            "",
        ];
        for v in values {
            let t = ContentType::new("application", "x-test")
                .unwrap()
                .with_param("v", v);
            assert_eq!(ct(&t.header_value()), t, "value {v:?}");
            assert_eq!(t.header_value().parse::<ContentType>().unwrap(), t);
        }
        let long = "x".repeat(200);
        let t = ContentType::new("a", "b").unwrap().with_param("v", &long);
        assert_eq!(ct(&t.header_value()), t);
    }

    #[test]
    fn disposition_basics() {
        let cd = ContentDisposition::attachment();
        assert!(cd.is_attachment());
        assert!(!cd.is_inline());
        assert_eq!(cd.header_value(), "attachment");
        assert!(ContentDisposition::inline().is_inline());
        assert_eq!(
            ContentDisposition::new("X-Custom").unwrap().kind(),
            "x-custom"
        );
        assert!(matches!(
            ContentDisposition::new("bad kind"),
            Err(ContentTypeError::InvalidToken {
                what: "disposition",
                ..
            })
        ));
        assert_eq!(
            ContentDisposition::parse(" ; filename=x"),
            Err(ContentTypeError::MissingType {
                what: "disposition type",
                position: 1
            })
        );
    }

    #[test]
    fn disposition_parse_and_filename() {
        let cd = ContentDisposition::parse(
            "Attachment; filename=\"fallback.txt\";\r\n filename*=UTF-8''%E2%82%AC%20rates.txt; size=42",
        )
        .unwrap();
        assert_eq!(cd.kind(), "attachment");
        assert_eq!(cd.filename(), Some("€ rates.txt"));
        assert_eq!(cd.param("SIZE"), Some("42"));
        let cd = ContentDisposition::parse("inline").unwrap();
        assert_eq!(cd.filename(), None);
        let cd: ContentDisposition = "attachment; filename=report.pdf".parse().unwrap();
        assert_eq!(cd.filename(), Some("report.pdf"));
    }

    #[test]
    fn disposition_round_trip_long_filenames() {
        let names = [
            "x".repeat(200),
            "日本語のとても長いファイル名の添付書類です_令和六年度報告書_最終版.pdf".to_string(),
            r#"a "quoted" \name\.txt"#.repeat(6),
        ];
        for name in names {
            let cd = ContentDisposition::attachment().with_param("filename", &name);
            let pieces = cd.pieces();
            assert_eq!(pieces[0], "attachment");
            assert!(pieces.iter().all(|p| p.len() <= 76), "{pieces:?}");
            let back = ContentDisposition::parse(&pieces.join(";\r\n ")).unwrap();
            assert_eq!(back.filename(), Some(name.as_str()));
            assert_eq!(back, cd);
            let mut cd2 = back.clone();
            assert_eq!(cd2.remove_param("filename"), Some(name.clone()));
            cd2.set_param("filename", "b");
            assert_eq!(cd2.to_string(), "attachment; filename=b");
        }
    }
}
