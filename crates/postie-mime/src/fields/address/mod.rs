//! RFC 5322 §3.4 addresses: parsing address lists, checking mailboxes and
//! writing them back in header form.
//!
//! The parser takes what real mail carries, not only what RFC 5322 lets a
//! writer produce:
//!
//! - mailboxes as `local@domain`, `<local@domain>` or `Name <local@domain>`,
//!   with the display name made of atoms, quoted-strings and (obsolete) dots
//!   such as `Joe Q. Public`;
//! - comments wherever CFWS may stand, nested and with quoted-pairs; they are
//!   dropped, except that a mailbox with no display name takes the text of a
//!   trailing comment as its name (`a@b (Fred)` is named `Fred`), as many
//!   mailers do;
//! - quoted local parts (`"john doe"@example.com`), domain literals
//!   (`jdoe@[192.168.0.1]`), groups (`Team: a@b, c@d;`, `Undisclosed
//!   recipients:;`), RFC 822 source routes (`<@a.test,@b.test:user@c.test>`,
//!   the route is dropped), empty list members (`a@b, , c@d`), obsolete
//!   white space and comments around the dots of a local part or domain, and
//!   stray dots in a local part (`foo.@docomo.ne.jp`);
//! - a mailbox with no domain (`root`, `<root>`, `Fred <fred>`): its domain
//!   is `None` and [`Mailbox::with_default_domain`] can supply one;
//! - RFC 6532 UTF-8 in display names, local parts and domains, and folding
//!   white space (CRLF followed by a space or tab) wherever white space is
//!   allowed.
//!
//! RFC 2047 encoded-words in a display name are kept as they are; decoding
//! them is another module's job.
//!
//! [`parse_address_details`] is tcllib's `mime::parseaddress`: one
//! [`ParsedAddress`] per mailbox, with the comments, source route and group
//! that the other entry points drop, and one bad member of a list reported
//! on its own rather than failing the whole list.
//!
//! Internationalized domains (IDNA) are kept as written; a [`Mailbox`] gives
//! them in ASCII (punycode A-labels) for SMTP without SMTPUTF8
//! ([`Mailbox::domain_ascii`], [`Mailbox::addr_spec_ascii`]) and in Unicode
//! for display ([`Mailbox::domain_unicode`]).
//!
//! It refuses, with an [`AddressError`] that names the byte where things went
//! wrong: a CR or LF that is not part of folding white space, NUL and every
//! other control character (TAB counts as white space), an unbalanced `<`,
//! `"`, `(` or `[`, an empty local part or domain, doubled or trailing dots
//! in a domain, two addresses not separated by a comma, and anything left
//! over after an address.
//!
//! ```
//! use postie_mime::address::{mailboxes, parse_address_list};
//!
//! let list = parse_address_list(
//!     r#""Smith, Mary" <mary@example.net>, Team: jdoe@example.org, root;"#,
//! )?;
//! let all = mailboxes(&list);
//! assert_eq!(all.len(), 3);
//! assert_eq!(all[0].name(), Some("Smith, Mary"));
//! assert_eq!(all[2].domain(), None);
//! assert_eq!(list[0].to_string(), r#""Smith, Mary" <mary@example.net>"#);
//! # Ok::<(), postie_mime::address::AddressError>(())
//! ```

mod chars;
mod error;
mod idn;
mod parser;
mod plain;
mod tcllib;

use crate::fields::excerpt::excerpt;
use std::borrow::Cow;
use std::fmt;
use std::ops::Range;
use std::str::FromStr;

pub(crate) use chars::phrase_form;
use chars::*;
pub use error::*;
use idn::*;
use parser::*;
pub use tcllib::*;

// ---------------------------------------------------------------------------
// Mailbox
// ---------------------------------------------------------------------------

/// One mailbox: an optional display name, a local part and (usually) a domain.
///
/// Every field is free of control characters (C0, DEL and C1, TAB included),
/// so a mailbox can go into a header or an SMTP command without risk of
/// injecting a line break. Build one with [`Mailbox::new`] or by parsing
/// ([`parse_mailbox`], [`str::parse`]).
///
/// ```
/// use postie_mime::address::Mailbox;
///
/// let m: Mailbox = "Fred Bloggs <fred@example.com>".parse()?;
/// assert_eq!(m.name(), Some("Fred Bloggs"));
/// assert_eq!(m.local(), "fred");
/// assert_eq!(m.domain(), Some("example.com"));
/// # Ok::<(), postie_mime::address::AddressError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Mailbox {
    /// Decoded display name; never `Some("")`.
    name: Option<String>,
    /// Semantic (unquoted) local part; never empty.
    local: String,
    /// A dot-atom or a `[domain literal]`; never `Some("")`.
    domain: Option<String>,
}

impl Mailbox {
    /// Builds a mailbox from its parts, checking them.
    ///
    /// - No part may hold a control character (CR, LF, NUL, TAB, DEL or any
    ///   other C0 or C1 control).
    /// - `local` is the semantic value (`a b`, not `"a b"`) and must not be
    ///   empty; it may hold any other character, and is quoted when written.
    /// - `domain`, when given, is a dot-atom (`example.com`) or a domain
    ///   literal (`[192.0.2.1]`).
    /// - An empty `name` means no name.
    ///
    /// UTF-8 (RFC 6532) is allowed in all three parts.
    ///
    /// ```
    /// use postie_mime::address::Mailbox;
    ///
    /// let m = Mailbox::new(Some("Fred"), "fred", Some("example.com"))?;
    /// assert_eq!(m.to_string(), "Fred <fred@example.com>");
    /// assert!(Mailbox::new(None, "fred\r\nBcc: x", Some("example.com")).is_err());
    /// assert!(Mailbox::new(None, "fred", Some("example..com")).is_err());
    /// # Ok::<(), postie_mime::address::AddressError>(())
    /// ```
    pub fn new(
        name: Option<&str>,
        local: &str,
        domain: Option<&str>,
    ) -> Result<Mailbox, AddressError> {
        let name = name.filter(|n| !n.is_empty());
        if let Some(name) = name {
            check_no_controls(name)?;
        }
        if local.is_empty() {
            return Err(AddressError::new(
                local,
                0,
                AddressErrorKind::EmptyLocalPart,
            ));
        }
        check_no_controls(local)?;
        if let Some(domain) = domain {
            validate_domain(domain)?;
        }
        Ok(Mailbox {
            name: name.map(str::to_owned),
            local: local.to_owned(),
            domain: domain.map(str::to_owned),
        })
    }

    /// The decoded display name (quotes removed, quoted-pairs unescaped), or
    /// `None` when there is none or it is empty.
    ///
    /// RFC 2047 encoded-words are returned as they were written.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The local part in its unquoted form: `a b` for `"a b"@x`.
    pub fn local(&self) -> &str {
        &self.local
    }

    /// The domain, a dot-atom or a `[domain literal]`, if there is one.
    pub fn domain(&self) -> Option<&str> {
        self.domain.as_deref()
    }

    /// The same mailbox with `domain` as its domain when it has none (tcllib's
    /// bare `root` becoming `root@host`); a mailbox that has a domain keeps
    /// it.
    ///
    /// `domain` is checked as in [`Mailbox::new`] either way, so a bad default
    /// is reported on first use rather than only when it is needed.
    ///
    /// ```
    /// use postie_mime::address::parse_mailbox;
    ///
    /// let m = parse_mailbox("root")?.with_default_domain("host.example")?;
    /// assert_eq!(m.addr_spec(), "root@host.example");
    /// let m = parse_mailbox("a@b.example")?.with_default_domain("host.example")?;
    /// assert_eq!(m.addr_spec(), "a@b.example");
    /// # Ok::<(), postie_mime::address::AddressError>(())
    /// ```
    pub fn with_default_domain(mut self, domain: &str) -> Result<Mailbox, AddressError> {
        validate_domain(domain)?;
        if self.domain.is_none() {
            self.domain = Some(domain.to_owned());
        }
        Ok(self)
    }

    /// `local@domain` as it must appear on the wire: the local part as a
    /// dot-atom when it is one, else as a quoted-string with `"` and `\`
    /// escaped; with no domain, just the local part.
    ///
    /// ```
    /// use postie_mime::address::Mailbox;
    ///
    /// let m = Mailbox::new(None, "john doe", Some("example.com"))?;
    /// assert_eq!(m.addr_spec(), r#""john doe"@example.com"#);
    /// # Ok::<(), postie_mime::address::AddressError>(())
    /// ```
    pub fn addr_spec(&self) -> String {
        let mut out = local_form(&self.local).into_owned();
        if let Some(domain) = &self.domain {
            out.push('@');
            out.push_str(domain);
        }
        out
    }

    /// Whether `self` and `other` are the same address: local parts equal
    /// exactly (RFC 5321 leaves their case to the receiving host), domains
    /// equal ignoring ASCII case. Display names are not compared.
    ///
    /// ```
    /// use postie_mime::address::parse_mailbox;
    ///
    /// let a = parse_mailbox("Fred <fred@Example.COM>")?;
    /// let b = parse_mailbox("fred@example.com")?;
    /// assert!(a.same_address(&b));
    /// assert!(!a.same_address(&parse_mailbox("Fred@example.com")?));
    /// # Ok::<(), postie_mime::address::AddressError>(())
    /// ```
    pub fn same_address(&self, other: &Mailbox) -> bool {
        self.local == other.local
            && match (&self.domain, &other.domain) {
                (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
                (None, None) => true,
                _ => false,
            }
    }
}

/// Internationalized addresses (RFC 6530 to 6533, IDNA).
impl Mailbox {
    /// Whether the address, local part and domain, is all ASCII, so that it
    /// can be sent without the SMTPUTF8 extension. The display name does not
    /// count: the header writer encodes it (RFC 2047).
    ///
    /// A non-ASCII domain alone can still go out without SMTPUTF8, in its
    /// A-label form: see [`Mailbox::addr_spec_ascii`].
    ///
    /// ```
    /// use postie_mime::address::parse_mailbox;
    ///
    /// assert!(parse_mailbox("Jörg <joerg@example.org>")?.is_ascii());
    /// assert!(!parse_mailbox("user@bücher.example")?.is_ascii());
    /// # Ok::<(), postie_mime::address::AddressError>(())
    /// ```
    pub fn is_ascii(&self) -> bool {
        self.local.is_ascii() && self.domain.as_deref().unwrap_or_default().is_ascii()
    }

    /// The domain in ASCII, as DNS and SMTP without SMTPUTF8 need it: an
    /// internationalized domain name becomes its A-labels (punycode,
    /// `bücher.example` → `xn--bcher-kva.example`) by the UTS #46 mapping of
    /// the `idna` crate's `domain_to_ascii`, which also lowercases it. An
    /// ASCII domain, and a domain literal, come back as they are, case kept.
    /// `None` when the mailbox has no domain.
    ///
    /// An invalid internationalized name (a code point IDNA disallows, a bad
    /// `xn--` label, a bidi rule broken, or a mapping that would give
    /// something other than a dot-atom, like a full-width `＠`) is an
    /// [`AddressErrorKind::InvalidIdn`] error whose input is the domain and
    /// whose position is the start of the first label found at fault. So is
    /// a domain literal that is not ASCII (RFC 6532 lets one through), at its
    /// first non-ASCII character.
    ///
    /// ```
    /// use postie_mime::address::parse_mailbox;
    ///
    /// let m = parse_mailbox("user@Bücher.example")?;
    /// assert_eq!(m.domain_ascii()?.as_deref(), Some("xn--bcher-kva.example"));
    /// let m = parse_mailbox("user@EXAMPLE.org")?;
    /// assert_eq!(m.domain_ascii()?.as_deref(), Some("EXAMPLE.org"));
    /// # Ok::<(), postie_mime::address::AddressError>(())
    /// ```
    pub fn domain_ascii(&self) -> Result<Option<String>, AddressError> {
        match &self.domain {
            None => Ok(None),
            Some(domain) if domain.is_ascii() => Ok(Some(domain.clone())),
            Some(domain) if domain.starts_with('[') => {
                // RFC 6532 lets a literal hold UTF-8; it has no ASCII form.
                let at = domain.find(|c: char| !c.is_ascii()).unwrap_or_default();
                Err(AddressError::new(domain, at, AddressErrorKind::InvalidIdn))
            }
            Some(domain) => idn_to_ascii(domain).map(Some),
        }
    }

    /// The domain for display: each A-label (`xn--…`) turned back into
    /// Unicode, `xn--bcher-kva.example` → `bücher.example`. Other labels are
    /// kept as written, and so is an A-label that does not decode to a valid
    /// IDNA label (shown as is rather than garbled). Domain literals are
    /// unchanged. `None` when the mailbox has no domain.
    ///
    /// For display only: what goes on the wire is [`Mailbox::domain`] or
    /// [`Mailbox::domain_ascii`].
    ///
    /// ```
    /// use postie_mime::address::parse_mailbox;
    ///
    /// let m = parse_mailbox("user@xn--bcher-kva.example")?;
    /// assert_eq!(m.domain_unicode().as_deref(), Some("bücher.example"));
    /// # Ok::<(), postie_mime::address::AddressError>(())
    /// ```
    pub fn domain_unicode(&self) -> Option<String> {
        let domain = self.domain.as_deref()?;
        if domain.starts_with('[') {
            return Some(domain.to_owned());
        }
        let labels: Vec<Cow<'_, str>> = domain.split('.').map(a_label_to_unicode).collect();
        Some(labels.join("."))
    }

    /// [`addr_spec`](Mailbox::addr_spec) with the domain in ASCII
    /// ([`Mailbox::domain_ascii`]): what a `MAIL FROM` or `RCPT TO` carries to
    /// a server without SMTPUTF8.
    ///
    /// A local part that is not ASCII has no ASCII form: that is an
    /// [`AddressErrorKind::NonAsciiLocalPart`] error (the message needs a
    /// server that offers SMTPUTF8, RFC 6531), whose input is the local part
    /// and position its first non-ASCII character. An invalid
    /// internationalized domain is an error as in [`Mailbox::domain_ascii`].
    ///
    /// ```
    /// use postie_mime::address::{parse_mailbox, AddressErrorKind};
    ///
    /// let m = parse_mailbox("Jörg <user@bücher.example>")?;
    /// assert_eq!(m.addr_spec_ascii()?, "user@xn--bcher-kva.example");
    ///
    /// let err = parse_mailbox("jörg@bücher.example")?.addr_spec_ascii().unwrap_err();
    /// assert_eq!(err.reason(), &AddressErrorKind::NonAsciiLocalPart);
    /// # Ok::<(), postie_mime::address::AddressError>(())
    /// ```
    pub fn addr_spec_ascii(&self) -> Result<String, AddressError> {
        if let Some((i, _)) = self.local.char_indices().find(|(_, c)| !c.is_ascii()) {
            return Err(AddressError::new(
                &self.local,
                i,
                AddressErrorKind::NonAsciiLocalPart,
            ));
        }
        let mut out = local_form(&self.local).into_owned();
        if let Some(domain) = self.domain_ascii()? {
            out.push('@');
            out.push_str(&domain);
        }
        Ok(out)
    }
}

/// The header form: the [`addr_spec`](Mailbox::addr_spec) alone when there
/// is no name, else `name <addr_spec>`, the name written as atoms when it is
/// a phrase of atoms separated by single spaces and as a quoted-string
/// otherwise. Non-ASCII names are written raw; encoding them is the header
/// writer's job.
///
/// ```
/// use postie_mime::address::Mailbox;
///
/// let m = Mailbox::new(Some("Joe Q. Public"), "john.q.public", Some("example.com"))?;
/// assert_eq!(m.to_string(), r#""Joe Q. Public" <john.q.public@example.com>"#);
/// # Ok::<(), postie_mime::address::AddressError>(())
/// ```
impl fmt::Display for Mailbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            None => f.write_str(&self.addr_spec()),
            Some(name) => write!(f, "{} <{}>", phrase_form(name), self.addr_spec()),
        }
    }
}

/// Parses exactly one mailbox, as [`parse_mailbox`] does.
impl FromStr for Mailbox {
    type Err = AddressError;

    fn from_str(s: &str) -> Result<Mailbox, AddressError> {
        parse_mailbox(s)
    }
}

// ---------------------------------------------------------------------------
// Address
// ---------------------------------------------------------------------------

/// An address in a list: a mailbox or a named group of mailboxes (possibly
/// empty, like `undisclosed-recipients:;`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// A single mailbox.
    Mailbox(Mailbox),
    /// A named group (RFC 5322 §3.4). The fields are public, so a group built
    /// by hand is not checked: its name should hold no control characters.
    Group {
        /// The group's display name, decoded.
        name: String,
        /// The members, in order; may be empty.
        members: Vec<Mailbox>,
    },
}

impl Address {
    /// The mailboxes of this address: the group's members, or the one
    /// mailbox.
    ///
    /// ```
    /// use postie_mime::address::parse_address_list;
    ///
    /// let list = parse_address_list("Team: a@x.test, b@x.test;")?;
    /// let locals: Vec<&str> = list[0].mailboxes().map(|m| m.local()).collect();
    /// assert_eq!(locals, ["a", "b"]);
    /// # Ok::<(), postie_mime::address::AddressError>(())
    /// ```
    pub fn mailboxes(&self) -> impl Iterator<Item = &Mailbox> {
        match self {
            Address::Mailbox(mailbox) => std::slice::from_ref(mailbox).iter(),
            Address::Group { members, .. } => members.iter(),
        }
    }
}

impl From<Mailbox> for Address {
    fn from(mailbox: Mailbox) -> Address {
        Address::Mailbox(mailbox)
    }
}

/// A mailbox as [`Mailbox`]'s `Display` writes it; a group as `name: a, b;`,
/// or `name:;` when it is empty, the name written as atoms or a
/// quoted-string like a mailbox's.
impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Mailbox(mailbox) => mailbox.fmt(f),
            Address::Group { name, members } => {
                write!(f, "{}:", phrase_form(name))?;
                for (i, member) in members.iter().enumerate() {
                    let separator = if i == 0 { " " } else { ", " };
                    write!(f, "{separator}{member}")?;
                }
                f.write_str(";")
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Entry points
// ---------------------------------------------------------------------------

/// Parses an RFC 5322 address-list: mailboxes and groups separated by
/// commas. A single address is a list of one; an empty or all-white-space
/// input (comments count as white space) gives an empty `Vec`, and empty
/// members (`a@b, , c@d`) are skipped.
///
/// A group missing its closing `;` at the very end of the input is accepted.
///
/// ```
/// use postie_mime::address::{parse_address_list, Address};
///
/// let list = parse_address_list("a@b.test, Undisclosed recipients:;")?;
/// assert_eq!(list.len(), 2);
/// assert!(matches!(&list[1], Address::Group { members, .. } if members.is_empty()));
/// assert!(parse_address_list("  ")?.is_empty());
///
/// let err = parse_address_list("a@b c@d").unwrap_err();
/// assert_eq!(err.position(), 4);
/// # Ok::<(), postie_mime::address::AddressError>(())
/// ```
pub fn parse_address_list(input: &str) -> Result<Vec<Address>, AddressError> {
    match plain::address_list(input) {
        Some(list) => Ok(list),
        None => Parser::new(input).address_list(),
    }
}

/// Whether [`parse_address_list`] takes `input`, without building the list
/// when it is plain (`local@domain`, `Name <local@domain>` and the like).
pub(crate) fn check_address_list(input: &str) -> Result<(), AddressError> {
    if plain::scan(input, |_| {}) {
        return Ok(());
    }
    Parser::new(input).address_list().map(drop)
}

/// Parses exactly one mailbox. A group, or a comma and a second address, is
/// an error that says so ([`AddressErrorKind::GroupNotAllowed`],
/// [`AddressErrorKind::MultipleAddresses`]).
///
/// ```
/// use postie_mime::address::{parse_mailbox, AddressErrorKind};
///
/// let m = parse_mailbox("Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>")?;
/// assert_eq!((m.name(), m.local(), m.domain()), (Some("Pete"), "pete", Some("silly.test")));
///
/// let err = parse_mailbox("a@b.test, c@d.test").unwrap_err();
/// assert_eq!(err.reason(), &AddressErrorKind::MultipleAddresses);
/// # Ok::<(), postie_mime::address::AddressError>(())
/// ```
pub fn parse_mailbox(input: &str) -> Result<Mailbox, AddressError> {
    let mut parser = Parser::new(input);
    parser.skip_cfws()?;
    if parser.peek().is_none() {
        return Err(parser.unexpected("a mailbox"));
    }
    let mailbox = parser.mailbox(AddressErrorKind::GroupNotAllowed)?;
    match parser.peek() {
        None => Ok(mailbox),
        Some(',') => Err(parser.error_here(AddressErrorKind::MultipleAddresses)),
        Some(_) => Err(parser.junk()),
    }
}

/// All mailboxes of a list, groups flattened, in order, as a new `Vec` of
/// clones. For a borrowing iterator, use
/// `list.iter().flat_map(Address::mailboxes)`.
///
/// ```
/// use postie_mime::address::{mailboxes, parse_address_list};
///
/// let list = parse_address_list("a@x.test, G: b@x.test, c@x.test;, d@x.test")?;
/// let locals: Vec<String> = mailboxes(&list).iter().map(|m| m.local().to_owned()).collect();
/// assert_eq!(locals, ["a", "b", "c", "d"]);
/// # Ok::<(), postie_mime::address::AddressError>(())
/// ```
pub fn mailboxes(list: &[Address]) -> Vec<Mailbox> {
    list.iter().flat_map(Address::mailboxes).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mb(name: Option<&str>, local: &str, domain: Option<&str>) -> Mailbox {
        Mailbox::new(name, local, domain).unwrap()
    }

    fn one(name: Option<&str>, local: &str, domain: Option<&str>) -> Address {
        Address::Mailbox(mb(name, local, domain))
    }

    fn group(name: &str, members: Vec<Mailbox>) -> Address {
        Address::Group {
            name: name.to_owned(),
            members,
        }
    }

    /// (input, name, local, domain) for `parse_mailbox`.
    const MAILBOXES: &[(&str, Option<&str>, &str, Option<&str>)] = &[
        // Plain forms.
        ("a@b.c", None, "a", Some("b.c")),
        ("<a@b.c>", None, "a", Some("b.c")),
        ("  <a@b.c>  ", None, "a", Some("b.c")),
        ("Name <a@b.c>", Some("Name"), "a", Some("b.c")),
        ("Name<a@b.c>", Some("Name"), "a", Some("b.c")),
        (
            "\"Quoted, Name\" <a@b.c>",
            Some("Quoted, Name"),
            "a",
            Some("b.c"),
        ),
        (r#""a \"q\" b" <x@y>"#, Some(r#"a "q" b"#), "x", Some("y")),
        (
            r#""back\\slash" <x@y>"#,
            Some(r"back\slash"),
            "x",
            Some("y"),
        ),
        ("\"\" <a@b>", None, "a", Some("b")),
        // Obsolete phrase with a dot, and words with odd spacing.
        (
            "Joe Q. Public <john.q.public@example.com>",
            Some("Joe Q. Public"),
            "john.q.public",
            Some("example.com"),
        ),
        (
            "Mary   Smith <mary@x.test>",
            Some("Mary Smith"),
            "mary",
            Some("x.test"),
        ),
        (
            "Mary\tSmith <mary@x.test>",
            Some("Mary Smith"),
            "mary",
            Some("x.test"),
        ),
        ("\"Joe\"Smith <j@x>", Some("JoeSmith"), "j", Some("x")),
        ("\"tab\there\" <j@x>", Some("tab here"), "j", Some("x")),
        // Comments.
        ("a@b.c (Comment)", Some("Comment"), "a", Some("b.c")),
        ("a@b (Fred)", Some("Fred"), "a", Some("b")),
        ("a@b (Fred) (Bloggs)", Some("Fred Bloggs"), "a", Some("b")),
        (
            "a@b (Fred (the (man)))",
            Some("Fred (the (man))"),
            "a",
            Some("b"),
        ),
        (r"a@b (Fred \) \( \\)", Some(r"Fred ) ( \"), "a", Some("b")),
        ("a@b ( )", None, "a", Some("b")),
        ("<a@b> (Fred)", Some("Fred"), "a", Some("b")),
        ("Name <a@b> (not the name)", Some("Name"), "a", Some("b")),
        ("(lead) a@b", None, "a", Some("b")),
        (
            "(lead)Name(mid)<(x)a(y)@(z)b(w)>(tail)",
            Some("Name"),
            "a",
            Some("b"),
        ),
        ("root (Charlie Root)", Some("Charlie Root"), "root", None),
        (
            r"Pete(A nice \) chap) <pete(his account)@silly.test(his host)>",
            Some("Pete"),
            "pete",
            Some("silly.test"),
        ),
        (
            "pete(his account)@silly.test(his host)",
            Some("his host"),
            "pete",
            Some("silly.test"),
        ),
        // Quoted and obsolete local parts.
        (
            "\"john doe\"@example.com",
            None,
            "john doe",
            Some("example.com"),
        ),
        (
            "\"john\".doe@example.com",
            None,
            "john.doe",
            Some("example.com"),
        ),
        (
            "john . doe @ example . com",
            None,
            "john.doe",
            Some("example.com"),
        ),
        ("foo.@docomo.ne.jp", None, "foo.", Some("docomo.ne.jp")),
        ("a..b@x", None, "a..b", Some("x")),
        ("\"a@b\"@c", None, "a@b", Some("c")),
        // Domain literals.
        ("jdoe@[192.168.0.1]", None, "jdoe", Some("[192.168.0.1]")),
        (
            "<jdoe@[IPv6:2001:db8::1]>",
            None,
            "jdoe",
            Some("[IPv6:2001:db8::1]"),
        ),
        ("jdoe@[ 192.168.0.1 ]", None, "jdoe", Some("[192.168.0.1]")),
        // Source routes.
        (
            "<@a.test,@b.test:user@c.test>",
            None,
            "user",
            Some("c.test"),
        ),
        (
            "Mary <@node.test:mary@example.net>",
            Some("Mary"),
            "mary",
            Some("example.net"),
        ),
        (
            "< @a.test , , @b.test : user@c.test >",
            None,
            "user",
            Some("c.test"),
        ),
        // No domain.
        ("root", None, "root", None),
        ("<root>", None, "root", None),
        ("Fred <fred>", Some("Fred"), "fred", None),
        ("\"a b\"", None, "a b", None),
        // RFC 6532 UTF-8.
        (
            "Jörg Müller <jörg@münchen.example>",
            Some("Jörg Müller"),
            "jörg",
            Some("münchen.example"),
        ),
        (
            "日本 <用户@例子.广告>",
            Some("日本"),
            "用户",
            Some("例子.广告"),
        ),
        ("\"Dvořák, A.\" <a@b>", Some("Dvořák, A."), "a", Some("b")),
        // Folding white space.
        (
            "Mary\r\n Smith\r\n\t<mary@x.test>",
            Some("Mary Smith"),
            "mary",
            Some("x.test"),
        ),
        (
            "\"Mary\r\n Smith\" <mary@x.test>",
            Some("Mary Smith"),
            "mary",
            Some("x.test"),
        ),
        (
            "a@b (folded\r\n comment)",
            Some("folded comment"),
            "a",
            Some("b"),
        ),
        // Encoded-words are left alone.
        (
            "=?utf-8?q?J=C3=B6rg?= <j@x>",
            Some("=?utf-8?q?J=C3=B6rg?="),
            "j",
            Some("x"),
        ),
    ];

    #[test]
    fn parses_mailboxes() {
        for &(input, name, local, domain) in MAILBOXES {
            let m = parse_mailbox(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
            assert_eq!(
                (m.name(), m.local(), m.domain()),
                (name, local, domain),
                "{input:?}"
            );
            // The same input through the list parser gives the same mailbox.
            assert_eq!(
                parse_address_list(input).unwrap(),
                [Address::Mailbox(m.clone())]
            );
            assert_eq!(input.parse::<Mailbox>().unwrap(), m);
        }
    }

    #[test]
    fn parses_lists() {
        let cases: Vec<(&str, Vec<Address>)> = vec![
            ("", vec![]),
            ("   \t ", vec![]),
            ("(just a comment)", vec![]),
            (",", vec![]),
            ("a@b, , c@d", vec![one(None, "a", Some("b")), one(None, "c", Some("d"))]),
            (",a@b,,", vec![one(None, "a", Some("b"))]),
            ("root, a@b", vec![one(None, "root", None), one(None, "a", Some("b"))]),
            (
                "a@b (A), c@d (C)",
                vec![one(Some("A"), "a", Some("b")), one(Some("C"), "c", Some("d"))],
            ),
            (
                "\"Smith, Mary\" <m@x>, \"Jones, Ed\" <e@x>",
                vec![
                    one(Some("Smith, Mary"), "m", Some("x")),
                    one(Some("Jones, Ed"), "e", Some("x")),
                ],
            ),
            // RFC 5322 Appendix A.1.2.
            (
                "Mary Smith <mary@x.test>, jdoe@example.org, Who? <one@y.test>",
                vec![
                    one(Some("Mary Smith"), "mary", Some("x.test")),
                    one(None, "jdoe", Some("example.org")),
                    one(Some("Who?"), "one", Some("y.test")),
                ],
            ),
            (
                "<boss@nil.test>, \"Giant; \\\"Big\\\" Box\" <sysservices@example.net>",
                vec![
                    one(None, "boss", Some("nil.test")),
                    one(Some("Giant; \"Big\" Box"), "sysservices", Some("example.net")),
                ],
            ),
            // RFC 5322 Appendix A.1.3.
            (
                "A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;",
                vec![group(
                    "A Group",
                    vec![
                        mb(Some("Ed Jones"), "c", Some("a.test")),
                        mb(None, "joe", Some("where.test")),
                        mb(Some("John"), "jdoe", Some("one.test")),
                    ],
                )],
            ),
            ("Undisclosed recipients:;", vec![group("Undisclosed recipients", vec![])]),
            ("undisclosed-recipients:;", vec![group("undisclosed-recipients", vec![])]),
            // Missing `;` at the end, tolerated.
            ("undisclosed-recipients:", vec![group("undisclosed-recipients", vec![])]),
            (
                "G: a@b, c@d",
                vec![group(
                    "G",
                    vec![mb(None, "a", Some("b")), mb(None, "c", Some("d"))],
                )],
            ),
            (
                "a@b, G: , c@d,, ; , e@f",
                vec![
                    one(None, "a", Some("b")),
                    group("G", vec![mb(None, "c", Some("d"))]),
                    one(None, "e", Some("f")),
                ],
            ),
            ("\"\":;", vec![group("", vec![])]),
            ("G: root;", vec![group("G", vec![mb(None, "root", None)])]),
            // RFC 5322 Appendix A.5.
            (
                "A Group(Some people)\r\n     :Chris Jones <c@(Chris's host.)public.example>,\r\n         joe@example.org,\r\n  John <jdoe@one.test> (my dear friend); (the end of the group)",
                vec![group(
                    "A Group",
                    vec![
                        mb(Some("Chris Jones"), "c", Some("public.example")),
                        mb(None, "joe", Some("example.org")),
                        mb(Some("John"), "jdoe", Some("one.test")),
                    ],
                )],
            ),
            (
                "(Empty list)(start)Hidden recipients  :(nobody(that I know))  ;",
                vec![group("Hidden recipients", vec![])],
            ),
            // RFC 5322 Appendix A.6.1 (obsolete forms).
            (
                "Mary Smith <@node.test:mary@example.net>, , jdoe@test  . example",
                vec![
                    one(Some("Mary Smith"), "mary", Some("example.net")),
                    one(None, "jdoe", Some("test.example")),
                ],
            ),
        ];
        for (input, expected) in cases {
            let got = parse_address_list(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
            assert_eq!(got, expected, "{input:?}");
        }
    }

    #[test]
    fn rfc5322_a1_1_single_mailboxes() {
        for (input, name, local, domain) in [
            (
                "John Doe <jdoe@machine.example>",
                "John Doe",
                "jdoe",
                "machine.example",
            ),
            (
                "Mary Smith <mary@example.net>",
                "Mary Smith",
                "mary",
                "example.net",
            ),
            (
                "\"Joe Q. Public\" <john.q.public@example.com>",
                "Joe Q. Public",
                "john.q.public",
                "example.com",
            ),
            (
                "\"Mary Smith: Personal Account\" <smith@home.example>",
                "Mary Smith: Personal Account",
                "smith",
                "home.example",
            ),
        ] {
            assert_eq!(
                parse_mailbox(input).unwrap(),
                mb(Some(name), local, Some(domain))
            );
        }
    }

    /// (input, byte position, reason) for inputs both parsers refuse.
    fn error_cases() -> Vec<(&'static str, usize, AddressErrorKind)> {
        use AddressErrorKind::*;
        let unexpected = |found, expected| Unexpected { found, expected };
        vec![
            ("a@@b", 2, unexpected('@', "a domain")),
            (
                "a@",
                2,
                UnexpectedEnd {
                    expected: "a domain",
                },
            ),
            (
                "a@ (c)",
                6,
                UnexpectedEnd {
                    expected: "a domain",
                },
            ),
            ("@b", 0, EmptyLocalPart),
            ("<@b>", 3, unexpected('>', "':' after a source route")),
            ("\"\"@b", 0, EmptyLocalPart),
            ("<>", 1, EmptyLocalPart),
            ("Name <>", 6, EmptyLocalPart),
            (".@b", 1, EmptyLocalPart),
            ("a@b c@d", 4, JunkAfterAddress('c')),
            ("a@b.c>", 5, JunkAfterAddress('>')),
            ("a@b;", 3, JunkAfterAddress(';')),
            ("a@b)", 3, JunkAfterAddress(')')),
            ("Name <a@b> x", 11, JunkAfterAddress('x')),
            ("<a@b.c", 0, UnclosedAngle),
            ("Name <a@b.c, d@e>", 11, unexpected(',', "'>'")),
            ("<a@b c>", 5, unexpected('c', "'>'")),
            ("<a b@c>", 3, unexpected('b', "'.' or '@' in a local part")),
            ("<a", 0, UnclosedAngle),
            ("\"abc@d", 0, UnclosedQuote),
            ("\"abc\\", 0, UnclosedQuote),
            ("Name \"abc <a@b>", 5, UnclosedQuote),
            ("a@b (x", 4, UnclosedComment),
            ("a(b(c)@d", 1, UnclosedComment),
            ("a@b (x \\", 4, UnclosedComment),
            (")", 0, unexpected(')', "an address")),
            ("a)@b", 1, unexpected(')', "'@' or '<'")),
            (">", 0, unexpected('>', "an address")),
            (";", 0, unexpected(';', "an address")),
            ("a@b\r\nc@d", 3, BareLineBreak),
            ("a@b\r\n", 3, BareLineBreak),
            ("a@b\rc", 3, BareLineBreak),
            ("a\n@b", 1, BareLineBreak),
            ("a\n @b", 1, BareLineBreak),
            ("\"a\nb\"@c", 2, BareLineBreak),
            ("a@b (x\ry)", 6, BareLineBreak),
            ("a@b\0", 3, ControlCharacter('\0')),
            ("a\u{1}b@c", 1, ControlCharacter('\u{1}')),
            ("\"a\u{7}\"@b", 2, ControlCharacter('\u{7}')),
            ("\"a\\\0\"@b", 3, ControlCharacter('\0')),
            ("a@b (\u{7f})", 5, ControlCharacter('\u{7f}')),
            ("a@b\u{85}", 3, ControlCharacter('\u{85}')),
            ("\"a\tb\"@c", 0, ControlCharacter('\t')),
            ("a@b..c", 4, unexpected('.', "a domain label after '.'")),
            (
                "a@b.",
                4,
                UnexpectedEnd {
                    expected: "a domain label after '.'",
                },
            ),
            ("a@.b", 2, unexpected('.', "a domain")),
            ("a b@c", 2, unexpected('b', "'.' or '@' in a local part")),
            (
                "Fred Smith",
                10,
                UnexpectedEnd {
                    expected: "'<' after a display name",
                },
            ),
            (
                "Fred Smith, a@b",
                10,
                unexpected(',', "'<' after a display name"),
            ),
            ("a@[1.2.3.4", 2, UnclosedDomainLiteral),
            ("a@[]", 3, unexpected(']', "domain literal text")),
            (
                "a@[a\\]b]",
                4,
                unexpected('\\', "domain literal text or ']'"),
            ),
            ("a@[a[b]", 4, unexpected('[', "domain literal text or ']'")),
            ("a@[a\r\nb]", 4, BareLineBreak),
            (":;", 0, unexpected(':', "a group name before ':'")),
            ("G: H: a@b;;", 4, NestedGroup),
            ("G: a@b c@d;", 7, JunkAfterAddress('c')),
            ("G: a@b; c@d", 8, JunkAfterAddress('c')),
            ("a@b, G: <x", 8, UnclosedAngle),
        ]
    }

    #[test]
    fn rejects_bad_lists() {
        for (input, position, reason) in error_cases() {
            let err = parse_address_list(input).expect_err(input);
            assert_eq!(
                (err.position(), err.reason()),
                (position, &reason),
                "{input:?}: {err}"
            );
            assert_eq!(err.input(), input);
            // The message names the input (escaped) and the position.
            let message = err.to_string();
            assert!(message.contains(&format!("{input:?}")), "{message}");
            assert!(
                message.contains(&format!("at byte {position}:")),
                "{message}"
            );
        }
    }

    #[test]
    fn rejects_bad_single_mailboxes() {
        use AddressErrorKind::*;
        for (input, position, reason) in [
            (
                "",
                0,
                UnexpectedEnd {
                    expected: "a mailbox",
                },
            ),
            (
                "  (c) ",
                6,
                UnexpectedEnd {
                    expected: "a mailbox",
                },
            ),
            (
                ",a@b",
                0,
                Unexpected {
                    found: ',',
                    expected: "an address",
                },
            ),
            ("G:;", 1, GroupNotAllowed),
            ("Undisclosed recipients: a@b;", 22, GroupNotAllowed),
            ("a@b, c@d", 3, MultipleAddresses),
            ("a@b,", 3, MultipleAddresses),
            ("a@b c@d", 4, JunkAfterAddress('c')),
        ] {
            let err = parse_mailbox(input).expect_err(input);
            assert_eq!(
                (err.position(), err.reason()),
                (position, &reason),
                "{input:?}: {err}"
            );
        }
        // Every list error is a single-mailbox error too, except the ones
        // about groups, which it reports as groups not being allowed.
        for (input, _, _) in error_cases() {
            assert!(parse_mailbox(input).is_err(), "{input:?}");
        }
    }

    #[test]
    fn error_messages() {
        let cases = [
            (
                parse_mailbox("a@@b"),
                r#"invalid address "a@@b" at byte 2: unexpected '@' (expected a domain)"#,
            ),
            (
                parse_mailbox("a@b c@d"),
                r#"invalid address "a@b c@d" at byte 4: junk after address: 'c' (addresses are separated by ',')"#,
            ),
            (
                parse_mailbox("a@b\r\nBcc: x@y"),
                r#"invalid address "a@b\r\nBcc: x@y" at byte 3: CR or LF that is not part of folding white space"#,
            ),
            (
                parse_mailbox("\"abc"),
                r#"invalid address "\"abc" at byte 0: unbalanced '"'"#,
            ),
            (
                parse_mailbox("a\0@b"),
                r#"invalid address "a\0@b" at byte 1: control character '\0'"#,
            ),
        ];
        for (result, message) in cases {
            assert_eq!(result.unwrap_err().to_string(), message);
        }
    }

    #[test]
    fn long_input_errors_show_an_excerpt() {
        let mut input = "a@b.test, ".repeat(50);
        let bad = input.len() + 2;
        input.push_str("é@@b, ");
        input.push_str(&"c@d.test, ".repeat(50));
        let err = parse_address_list(&input).unwrap_err();
        assert_eq!(err.position(), bad + 1); // `é` is two bytes
        assert_eq!(err.input(), input);
        let message = err.to_string();
        assert!(message.contains("é@@b"), "{message}");
        assert!(message.starts_with("invalid address …\""), "{message}");
        assert!(message.len() < 160, "{message}");
        // Windows cut inside a multi-byte character stay on char boundaries.
        let wide = "é".repeat(100);
        for position in 0..=wide.len() + 3 {
            let shown = excerpt(&wide, position).to_string();
            assert!(shown.contains('é'));
        }
    }

    /// (name, local, domain) given to `Mailbox::new`, then the error's
    /// (input, position, reason).
    type BadPart = (
        Option<&'static str>,
        &'static str,
        Option<&'static str>,
        &'static str,
        usize,
        AddressErrorKind,
    );

    #[test]
    fn new_validates_parts() {
        use AddressErrorKind::*;
        let ok = [
            (None, "a", Some("b.c")),
            (Some("Name"), "a b", Some("b")),
            (Some("Jörg"), "jörg", Some("münchen.de")),
            (None, "root", None),
            (None, "\"quoted\\\"", Some("[192.0.2.1]")),
            (None, "x", Some("[IPv6:::1]")),
        ];
        for (name, local, domain) in ok {
            let m = Mailbox::new(name, local, domain).unwrap();
            assert_eq!((m.name(), m.local(), m.domain()), (name, local, domain));
        }
        assert_eq!(Mailbox::new(Some(""), "a", None).unwrap().name(), None);

        let bad: [BadPart; 13] = [
            (None, "", Some("b"), "", 0, EmptyLocalPart),
            (
                None,
                "a\r\nb",
                Some("b"),
                "a\r\nb",
                1,
                ControlCharacter('\r'),
            ),
            (None, "a\tb", None, "a\tb", 1, ControlCharacter('\t')),
            (Some("x\ny"), "a", None, "x\ny", 1, ControlCharacter('\n')),
            (Some("x\0"), "a", None, "x\0", 1, ControlCharacter('\0')),
            (
                None,
                "a",
                Some(""),
                "",
                0,
                UnexpectedEnd {
                    expected: "a domain",
                },
            ),
            (
                None,
                "a",
                Some("b..c"),
                "b..c",
                2,
                Unexpected {
                    found: '.',
                    expected: "a domain label",
                },
            ),
            (
                None,
                "a",
                Some(".b"),
                ".b",
                0,
                Unexpected {
                    found: '.',
                    expected: "a domain label",
                },
            ),
            (
                None,
                "a",
                Some("b."),
                "b.",
                2,
                UnexpectedEnd {
                    expected: "a domain label after '.'",
                },
            ),
            (
                None,
                "a",
                Some("b c"),
                "b c",
                1,
                Unexpected {
                    found: ' ',
                    expected: "a dot-atom or [domain literal]",
                },
            ),
            (None, "a", Some("[1.2"), "[1.2", 0, UnclosedDomainLiteral),
            (
                None,
                "a",
                Some("[]"),
                "[]",
                1,
                Unexpected {
                    found: ']',
                    expected: "domain literal text",
                },
            ),
            (
                None,
                "a",
                Some("[a b]"),
                "[a b]",
                2,
                Unexpected {
                    found: ' ',
                    expected: "domain literal text",
                },
            ),
        ];
        for (name, local, domain, input, position, reason) in bad {
            let err = Mailbox::new(name, local, domain).unwrap_err();
            assert_eq!(
                (err.input(), err.position(), err.reason()),
                (input, position, &reason),
                "{name:?} {local:?} {domain:?}"
            );
        }
    }

    #[test]
    fn default_domain() {
        let root = parse_mailbox("root").unwrap();
        assert_eq!(
            root.clone().with_default_domain("host.example").unwrap(),
            mb(None, "root", Some("host.example"))
        );
        let full = parse_mailbox("Fred <fred@x.test>").unwrap();
        assert_eq!(
            full.clone().with_default_domain("host.example").unwrap(),
            full
        );
        assert!(root.clone().with_default_domain("bad host").is_err());
        assert!(full.with_default_domain("").is_err());
        assert_eq!(
            root.with_default_domain("[127.0.0.1]").unwrap().addr_spec(),
            "root@[127.0.0.1]"
        );
    }

    #[test]
    fn same_address() {
        let a = mb(Some("A"), "user", Some("Example.COM"));
        assert!(a.same_address(&mb(None, "user", Some("example.com"))));
        assert!(!a.same_address(&mb(None, "User", Some("example.com"))));
        assert!(!a.same_address(&mb(None, "user", None)));
        assert!(mb(None, "root", None).same_address(&mb(Some("x"), "root", None)));
        assert!(!mb(None, "a", Some("b.c")).same_address(&mb(None, "a", Some("b.d"))));
    }

    #[test]
    fn addr_spec_quoting() {
        for (local, domain, expected) in [
            ("a", Some("x"), "a@x"),
            ("john.q.public", Some("x"), "john.q.public@x"),
            ("a b", Some("x"), r#""a b"@x"#),
            ("a\"b", Some("x"), r#""a\"b"@x"#),
            ("a\\b", Some("x"), r#""a\\b"@x"#),
            (".a", Some("x"), r#"".a"@x"#),
            ("a.", Some("x"), r#""a."@x"#),
            ("a..b", Some("x"), r#""a..b"@x"#),
            ("a@b", Some("x"), r#""a@b"@x"#),
            ("a,b", Some("x"), r#""a,b"@x"#),
            ("jörg", Some("münchen.de"), "jörg@münchen.de"),
            ("root", None, "root"),
            ("a b", None, r#""a b""#),
            ("x", Some("[192.0.2.1]"), "x@[192.0.2.1]"),
        ] {
            assert_eq!(mb(None, local, domain).addr_spec(), expected);
        }
    }

    #[test]
    fn display_forms() {
        for (mailbox, expected) in [
            (mb(None, "a", Some("b")), "a@b"),
            (mb(Some("John Doe"), "jdoe", Some("x")), "John Doe <jdoe@x>"),
            (mb(Some("Who?"), "one", Some("y.test")), "Who? <one@y.test>"),
            (mb(Some("Jr."), "j", Some("x")), r#""Jr." <j@x>"#),
            (mb(Some("a,b"), "j", Some("x")), r#""a,b" <j@x>"#),
            (mb(Some("\""), "j", Some("x")), r#""\"" <j@x>"#),
            (mb(Some("\\"), "j", Some("x")), r#""\\" <j@x>"#),
            (mb(Some(" lead"), "j", Some("x")), r#"" lead" <j@x>"#),
            (
                mb(Some("two  spaces"), "j", Some("x")),
                r#""two  spaces" <j@x>"#,
            ),
            (mb(Some("Jörg Müller"), "j", Some("x")), "Jörg Müller <j@x>"),
            (mb(Some("Fred"), "fred", None), "Fred <fred>"),
            (mb(Some("N"), "a b", Some("x")), r#"N <"a b"@x>"#),
        ] {
            assert_eq!(mailbox.to_string(), expected);
        }
        assert_eq!(
            group("Undisclosed recipients", vec![]).to_string(),
            "Undisclosed recipients:;"
        );
        assert_eq!(
            group(
                "A Group",
                vec![
                    mb(Some("Ed"), "c", Some("a.test")),
                    mb(None, "joe", Some("w.test"))
                ]
            )
            .to_string(),
            "A Group: Ed <c@a.test>, joe@w.test;"
        );
        assert_eq!(
            group("a;b", vec![mb(None, "c", None)]).to_string(),
            r#""a;b": c;"#
        );
    }

    #[test]
    fn display_round_trips() {
        let names = [
            "a,b",
            "\"",
            "\\",
            "Jr.",
            "Joe Q. Public",
            "Smith, John \"Jack\" Jr.",
            " lead",
            "trail ",
            "two  spaces",
            "(paren)",
            "<angle>",
            "a@b",
            "colon: semi;",
            "Müller, Jörg",
            "日本語",
            "=?utf-8?q?J=C3=B6rg?=",
            "''",
            "a\\\"b",
            "[x]",
            ".",
        ];
        let locals = ["a", "a b", "a\"b", "a\\b", ".a", "a..b", "é", "a(b)", "x@y"];
        let domains = [Some("b.c"), Some("[192.0.2.1]"), Some("münchen.de"), None];
        for name in names.iter().map(|n| Some(*n)).chain([None]) {
            for local in locals {
                for domain in domains {
                    let m = mb(name, local, domain);
                    let written = m.to_string();
                    let parsed =
                        parse_mailbox(&written).unwrap_or_else(|e| panic!("{written:?}: {e}"));
                    assert_eq!(parsed, m, "{written:?}");
                }
            }
        }
        let list = vec![
            group(
                "A Group",
                vec![mb(Some("a,b"), "c", Some("d")), mb(None, "e", None)],
            ),
            one(Some("Jr."), "x", Some("y")),
            group("Empty; really", vec![]),
        ];
        let written = list
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        assert_eq!(parse_address_list(&written).unwrap(), list, "{written}");
    }

    #[test]
    fn mailbox_iterators() {
        let list = parse_address_list("a@x, G: b@x, c@x;, E:;, d@x").unwrap();
        let all = mailboxes(&list);
        let locals: Vec<&str> = all.iter().map(Mailbox::local).collect();
        assert_eq!(locals, ["a", "b", "c", "d"]);
        assert_eq!(list[1].mailboxes().count(), 2);
        assert_eq!(list[2].mailboxes().count(), 0);
        assert_eq!(list[0].mailboxes().next().map(Mailbox::local), Some("a"));
        assert_eq!(Address::from(mb(None, "a", Some("x"))), list[0]);
    }

    #[test]
    fn deep_and_long_inputs() {
        // Comment nesting is counted, not recursed: no stack overflow.
        let deep = format!("a@b {}x{}", "(".repeat(100_000), ")".repeat(100_000));
        assert!(parse_mailbox(&deep).is_ok());
        let unclosed = format!("a@b {}", "(".repeat(100_000));
        assert_eq!(parse_mailbox(&unclosed).unwrap_err().position(), 4);
        let many = "a@b.test, ".repeat(20_000);
        assert_eq!(parse_address_list(&many).unwrap().len(), 20_000);
    }

    /// `parse_address_details` against `parse_address_list` on one input:
    /// what the strict parser takes comes back whole and `Ok`, and what it
    /// refuses gives at least one `Err`.
    fn check_details_agree(input: &str) {
        let details = parse_address_details(input);
        match parse_address_list(input) {
            Ok(list) => {
                let strict = mailboxes(&list);
                assert_eq!(details.len(), strict.len(), "{input:?}: {details:?}");
                for (entry, m) in details.iter().zip(&strict) {
                    let p = entry.as_ref().unwrap_or_else(|e| panic!("{input:?}: {e}"));
                    assert_eq!(
                        (p.local.as_str(), p.domain.as_deref()),
                        (m.local(), m.domain()),
                        "{input:?}"
                    );
                    assert_eq!(p.address, m.addr_spec(), "{input:?}");
                    if p.phrase.is_some() {
                        assert_eq!(p.phrase.as_deref(), m.name(), "{input:?}");
                    }
                }
            }
            Err(_) => assert!(details.iter().any(Result::is_err), "{input:?}: {details:?}"),
        }
        for err in details.iter().filter_map(|e| e.as_ref().err()) {
            assert_eq!(err.input(), input);
            assert!(err.position() <= input.len());
        }
    }

    #[test]
    fn details_agree_with_the_strict_parser() {
        for &(input, ..) in MAILBOXES {
            check_details_agree(input);
        }
        for (input, ..) in error_cases() {
            check_details_agree(input);
        }
        for input in [
            "a@b, G: , c@d,, ; , e@f",
            "G: root;",
            "\"\":;",
            "undisclosed-recipients:",
            "G: a@b; c@d",
            "G:;x",
            "G: a@b;; c@d",
            "<a<b>@c>",
            "a@[1,2]",
            "<@a,@b:u@c>, d@e",
            "(a,b) c@d (e:f), \"g;h\" <i@j>",
        ] {
            check_details_agree(input);
        }
    }

    #[test]
    fn details_keep_comments_route_and_phrase_apart() {
        let list = parse_address_details("Name <@r.test:a@b> (c)");
        let p = list[0].as_ref().unwrap();
        assert_eq!(p.phrase.as_deref(), Some("Name"));
        assert_eq!(p.comment.as_deref(), Some("c"));
        assert_eq!(p.route.as_deref(), Some("@r.test"));
        // A route made of commas only is no route.
        let list = parse_address_details("<,:a@b>");
        assert_eq!(list[0].as_ref().unwrap().route, None);
        // The strict parser still drops it all.
        assert_eq!(
            parse_mailbox("Name <@r.test:a@b> (c)").unwrap(),
            mb(Some("Name"), "a", Some("b"))
        );
    }

    #[test]
    fn details_on_deep_and_long_inputs() {
        let deep = format!("a@b {}x{}, c@d", "(".repeat(100_000), ")".repeat(100_000));
        assert_eq!(parse_address_details(&deep).len(), 2);
        let unclosed = format!("a@b, <{}", "(".repeat(100_000));
        let list = parse_address_details(&unclosed);
        assert_eq!(list.len(), 2);
        assert!(list[1].is_err());
        let many = "a@b.test, ".repeat(20_000);
        assert_eq!(parse_address_details(&many).len(), 20_000);
    }

    /// A few thousand deterministic pseudo-random inputs: no panic, no hang,
    /// and whatever parses satisfies `Mailbox::new` and survives a
    /// write-and-reparse round trip.
    #[test]
    fn pseudo_random_inputs_never_panic() {
        const ALPHABET: &[char] = &[
            'a', '@', '.', '<', '>', '"', ',', ':', ';', '(', ')', '\\', ' ', '\r', '\n', '\t',
            '[', ']', 'é',
        ];
        let mut state: u64 = 0x5EED;
        let mut next = move || {
            // Knuth's MMIX LCG; the high bits are the good ones.
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) as usize
        };
        let mut parsed = 0;
        for _ in 0..20_000 {
            let len = next() % 24;
            let input: String = (0..len)
                .map(|_| ALPHABET[next() % ALPHABET.len()])
                .collect();
            let _ = parse_mailbox(&input);
            check_details_agree(&input);
            let Ok(list) = parse_address_list(&input) else {
                continue;
            };
            parsed += 1;
            for m in mailboxes(&list) {
                assert_eq!(
                    Mailbox::new(m.name(), m.local(), m.domain()),
                    Ok(m.clone()),
                    "{input:?}"
                );
            }
            let written = list
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            assert_eq!(
                parse_address_list(&written),
                Ok(list),
                "{input:?} -> {written:?}"
            );
        }
        // The alphabet is hostile; still, some inputs must get through.
        assert!(parsed > 100, "only {parsed} parsed");
    }
}
