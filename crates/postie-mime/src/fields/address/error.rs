//! What is wrong with an address, and where.

use super::*;

/// An address that could not be parsed or built: the input, the byte offset
/// of the trouble in it, and why.
///
/// For [`Mailbox::new`] and [`Mailbox::with_default_domain`], the input is
/// the offending part (the local part, the domain or the name).
///
/// ```
/// use postie_mime::address::parse_mailbox;
///
/// let err = parse_mailbox("a@@b").unwrap_err();
/// assert_eq!(err.input(), "a@@b");
/// assert_eq!(err.position(), 2);
/// assert_eq!(
///     err.to_string(),
///     r#"invalid address "a@@b" at byte 2: unexpected '@' (expected a domain)"#
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid address {} at byte {position}: {reason}", excerpt(.input, *.position))]
pub struct AddressError {
    pub(super) input: String,
    pub(super) position: usize,
    pub(super) reason: AddressErrorKind,
}

impl AddressError {
    pub(super) fn new(input: &str, position: usize, reason: AddressErrorKind) -> AddressError {
        AddressError {
            input: input.to_owned(),
            position,
            reason,
        }
    }

    /// The text that was being parsed or checked.
    pub fn input(&self) -> &str {
        &self.input
    }

    /// The byte offset in [`input`](AddressError::input) where the problem
    /// was found (the input's length when it ended too early).
    pub fn position(&self) -> usize {
        self.position
    }

    /// Why the address was refused.
    pub fn reason(&self) -> &AddressErrorKind {
        &self.reason
    }
}

/// Why an address was refused; see [`AddressError::reason`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AddressErrorKind {
    /// A character that cannot stand here.
    Unexpected {
        /// The character found.
        found: char,
        /// What could have stood here, in words.
        expected: &'static str,
    },
    /// The input ended too early.
    UnexpectedEnd {
        /// What was still needed, in words.
        expected: &'static str,
    },
    /// A control character (C0, DEL or C1) outside folding white space.
    ControlCharacter(char),
    /// A CR or LF that is not part of folding white space (CRLF followed by
    /// a space or tab).
    BareLineBreak,
    /// A `"` with no closing `"`.
    UnclosedQuote,
    /// A `(` with no closing `)`.
    UnclosedComment,
    /// A `<` with no closing `>`.
    UnclosedAngle,
    /// A `[` with no closing `]`.
    UnclosedDomainLiteral,
    /// The local part (before `@`) is empty.
    EmptyLocalPart,
    /// Something other than a comma after a complete address (tcllib's "junk
    /// after local@domain").
    JunkAfterAddress(char),
    /// A group inside a group.
    NestedGroup,
    /// A group where a single mailbox was wanted.
    GroupNotAllowed,
    /// More than one address where a single mailbox was wanted.
    MultipleAddresses,
    /// A local part that is not ASCII where an ASCII address was wanted
    /// ([`Mailbox::addr_spec_ascii`]): it can only be sent to a server that
    /// offers SMTPUTF8 (RFC 6531).
    NonAsciiLocalPart,
    /// An internationalized domain name that IDNA (UTS #46) refuses, so that
    /// it has no ASCII form ([`Mailbox::domain_ascii`]).
    InvalidIdn,
}

impl fmt::Display for AddressErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddressErrorKind::Unexpected { found, expected } => {
                write!(f, "unexpected {found:?} (expected {expected})")
            }
            AddressErrorKind::UnexpectedEnd { expected } => {
                write!(f, "unexpected end of input (expected {expected})")
            }
            AddressErrorKind::ControlCharacter(c) => write!(f, "control character {c:?}"),
            AddressErrorKind::BareLineBreak => {
                f.write_str("CR or LF that is not part of folding white space")
            }
            AddressErrorKind::UnclosedQuote => f.write_str("unbalanced '\"'"),
            AddressErrorKind::UnclosedComment => f.write_str("unbalanced '('"),
            AddressErrorKind::UnclosedAngle => f.write_str("unbalanced '<'"),
            AddressErrorKind::UnclosedDomainLiteral => f.write_str("unbalanced '['"),
            AddressErrorKind::EmptyLocalPart => f.write_str("empty local part"),
            AddressErrorKind::JunkAfterAddress(c) => {
                write!(
                    f,
                    "junk after address: {c:?} (addresses are separated by ',')"
                )
            }
            AddressErrorKind::NestedGroup => f.write_str("a group cannot contain a group"),
            AddressErrorKind::GroupNotAllowed => {
                f.write_str("a group where a mailbox was expected")
            }
            AddressErrorKind::MultipleAddresses => {
                f.write_str("more than one address where one mailbox was expected")
            }
            AddressErrorKind::NonAsciiLocalPart => {
                f.write_str("non-ASCII local part (needs SMTPUTF8; it has no ASCII form)")
            }
            AddressErrorKind::InvalidIdn => f.write_str("invalid internationalized domain name"),
        }
    }
}
