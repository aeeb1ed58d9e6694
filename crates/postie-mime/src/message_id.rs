use base64::Engine as _;

use crate::Error;

/// A new Message-ID (RFC 5322 §3.6.4) in angle brackets: 128 random bits,
/// so it is unique across processes and machines, at `domain` (or
/// `postie.invalid` when `domain` is not a usable dot-atom).
///
/// ```
/// let id = postie_mime::new_message_id("mail.example.org")?;
/// assert!(id.starts_with('<') && id.ends_with("@mail.example.org>"));
/// assert_ne!(id, postie_mime::new_message_id("mail.example.org")?);
/// # Ok::<(), postie_mime::Error>(())
/// ```
pub fn new_message_id(domain: &str) -> Result<String, Error> {
    let mut random = [0u8; 16];
    getrandom::fill(&mut random).map_err(|e| Error::Random(e.to_string()))?;
    let left = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random);
    let domain = if is_dot_atom(domain) {
        domain
    } else {
        "postie.invalid"
    };
    Ok(format!("<{left}@{domain}>"))
}

fn is_dot_atom(domain: &str) -> bool {
    !domain.is_empty()
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}
