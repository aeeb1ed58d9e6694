//! Character classes and checks shared by the parser, `new` and `Display`.

use super::*;

/// RFC 5322 `atext`, widened by RFC 6532 to every non-ASCII character that
/// is not a control.
pub(super) fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || "!#$%&'*+-/=?^_`{|}~".contains(c)
        || (!c.is_ascii() && !c.is_control())
}

/// RFC 5322 `dtext` (printable ASCII but `[`, `]` and `\`), widened by
/// RFC 6532.
pub(super) fn is_dtext(c: char) -> bool {
    matches!(c, '!'..='Z' | '^'..='~') || (!c.is_ascii() && !c.is_control())
}

/// Whether `s` is a dot-atom: atoms joined by single dots.
pub(super) fn is_dot_atom(s: &str) -> bool {
    !s.is_empty()
        && s.split('.')
            .all(|w| !w.is_empty() && w.chars().all(is_atext))
}

/// Whether `s` can be written as a phrase of atoms: atoms joined by single
/// spaces, so that parsing it gives `s` back.
pub(super) fn is_atom_phrase(s: &str) -> bool {
    !s.is_empty()
        && s.split(' ')
            .all(|w| !w.is_empty() && w.chars().all(is_atext))
}

/// `s` as a display name or group name is written: as is when it is a phrase
/// of atoms, else as a quoted-string.
pub(crate) fn phrase_form(s: &str) -> Cow<'_, str> {
    if is_atom_phrase(s) {
        Cow::Borrowed(s)
    } else {
        let mut out = String::with_capacity(s.len() + 2);
        push_quoted(&mut out, s);
        Cow::Owned(out)
    }
}

/// A local part as it is written: as is when it is a dot-atom, else as a
/// quoted-string.
pub(super) fn local_form(local: &str) -> Cow<'_, str> {
    if is_dot_atom(local) {
        Cow::Borrowed(local)
    } else {
        let mut out = String::with_capacity(local.len() + 2);
        push_quoted(&mut out, local);
        Cow::Owned(out)
    }
}

/// Appends `s` as an RFC 5322 quoted-string: `"` and `\` become
/// quoted-pairs, everything else is written as is.
pub(super) fn push_quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

/// The error for a character that cannot stand at byte `position` of
/// `input`: control characters get their own message.
pub(super) fn bad_char(
    input: &str,
    position: usize,
    c: char,
    expected: &'static str,
) -> AddressError {
    let reason = if c.is_control() {
        AddressErrorKind::ControlCharacter(c)
    } else {
        AddressErrorKind::Unexpected { found: c, expected }
    };
    AddressError::new(input, position, reason)
}

pub(super) fn check_no_controls(s: &str) -> Result<(), AddressError> {
    match s.char_indices().find(|(_, c)| c.is_control()) {
        Some((i, c)) => Err(AddressError::new(
            s,
            i,
            AddressErrorKind::ControlCharacter(c),
        )),
        None => Ok(()),
    }
}

/// Checks a domain as [`Mailbox::new`] takes it: a dot-atom or a non-empty
/// domain literal, with no white space or comments.
pub(super) fn validate_domain(domain: &str) -> Result<(), AddressError> {
    if domain.is_empty() {
        let reason = AddressErrorKind::UnexpectedEnd {
            expected: "a domain",
        };
        return Err(AddressError::new(domain, 0, reason));
    }
    if domain.starts_with('[') {
        let Some(inner) = domain.get(1..).and_then(|rest| rest.strip_suffix(']')) else {
            let reason = AddressErrorKind::UnclosedDomainLiteral;
            return Err(AddressError::new(domain, 0, reason));
        };
        if inner.is_empty() {
            return Err(bad_char(domain, 1, ']', "domain literal text"));
        }
        return match inner.char_indices().find(|&(_, c)| !is_dtext(c)) {
            Some((i, c)) => Err(bad_char(domain, i + 1, c, "domain literal text")),
            None => Ok(()),
        };
    }
    // A dot-atom: no empty label anywhere.
    let mut label_empty = true;
    for (i, c) in domain.char_indices() {
        if c == '.' {
            if label_empty {
                return Err(bad_char(domain, i, c, "a domain label"));
            }
            label_empty = true;
        } else if is_atext(c) {
            label_empty = false;
        } else {
            return Err(bad_char(domain, i, c, "a dot-atom or [domain literal]"));
        }
    }
    if label_empty {
        let reason = AddressErrorKind::UnexpectedEnd {
            expected: "a domain label after '.'",
        };
        return Err(AddressError::new(domain, domain.len(), reason));
    }
    Ok(())
}
