//! Internationalized domains: A-labels for SMTP, U-labels for display.

use super::*;

/// A non-ASCII dot-atom domain in A-labels, or an
/// [`AddressErrorKind::InvalidIdn`] error naming it.
pub(super) fn idn_to_ascii(domain: &str) -> Result<String, AddressError> {
    let invalid = || {
        // idna does not say where it failed: point at the first label that
        // fails on its own (a bidi rule can span labels: then at the start).
        let mut start = 0;
        for label in domain.split('.') {
            if idna_label_to_ascii(label).is_none() {
                return AddressError::new(domain, start, AddressErrorKind::InvalidIdn);
            }
            start += label.len() + 1;
        }
        AddressError::new(domain, 0, AddressErrorKind::InvalidIdn)
    };
    let ascii = idna::domain_to_ascii(domain).map_err(|_| invalid())?;
    // UTS #46 maps some characters to ASCII specials (full-width `＠`, `＜`,
    // ideographic space): what comes out must still be a plain dot-atom, or
    // it would change the address it is put into.
    if ascii.is_ascii() && validate_domain(&ascii).is_ok() {
        Ok(ascii)
    } else {
        Err(invalid())
    }
}

/// One label in A-label form, if IDNA takes it and it stays a label.
pub(super) fn idna_label_to_ascii(label: &str) -> Option<String> {
    let ascii = idna::domain_to_ascii(label).ok()?;
    (ascii.is_ascii() && !ascii.contains('.') && validate_domain(&ascii).is_ok()).then_some(ascii)
}

/// One label for display: an A-label (`xn--`, any case) decoded, when it
/// decodes to a valid label free of controls and dots; anything else as is.
pub(super) fn a_label_to_unicode(label: &str) -> Cow<'_, str> {
    let is_a_label = label
        .get(..4)
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case("xn--"));
    if !is_a_label {
        return Cow::Borrowed(label);
    }
    match idna::domain_to_unicode(label) {
        (unicode, Ok(())) if !unicode.contains('.') && !unicode.chars().any(char::is_control) => {
            Cow::Owned(unicode)
        }
        _ => Cow::Borrowed(label),
    }
}
