use crate::fields::random_pool;
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
    let random = random_pool::take16()?;
    let domain = if is_dot_atom(domain) {
        domain
    } else {
        "postie.invalid"
    };
    // 16 bytes are 22 base64 characters.
    let mut id = String::with_capacity(domain.len() + 25);
    id.push('<');
    crate::fields::base64url::push(&random, &mut id);
    id.push('@');
    id.push_str(domain);
    id.push('>');
    Ok(id)
}

/// Makes the calling thread's next Message-ID or Content-ID draw fresh
/// random bytes. Only a child process made without the C library's
/// `fork()` needs it: one made by `_Fork()` or by a `clone` system call
/// made directly holds a copy of its parent's random bytes and is not
/// told so (a child of `fork()`, which `libc::fork` and `nix::unistd::fork`
/// call, is told, and needs nothing). Call it in such a child before its
/// first id, so that it never hands out one its parent hands out too.
///
/// ```
/// let before = postie_mime::new_message_id("example.org")?;
/// postie_mime::after_fork();
/// assert_ne!(postie_mime::new_message_id("example.org")?, before);
/// # Ok::<(), postie_mime::Error>(())
/// ```
pub fn after_fork() {
    random_pool::forget();
}

fn is_dot_atom(domain: &str) -> bool {
    // Labels of letters, digits and hyphens, none empty: no dot at either
    // end nor two in a row. One pass over the bytes, no splitting.
    let bytes = domain.as_bytes();
    let mut previous = b'.';
    for &b in bytes {
        if !(b.is_ascii_alphanumeric() || b == b'-' || (b == b'.' && previous != b'.')) {
            return false;
        }
        previous = b;
    }
    !bytes.is_empty() && previous != b'.'
}

/// A new Content-ID value (without angle brackets) for a part that HTML
/// refers to as `cid:...`: random, like [`new_message_id`], so unique across
/// processes and machines.
///
/// ```
/// let id = postie_mime::new_content_id("example.org")?;
/// assert!(id.ends_with("@example.org") && !id.contains('<'));
/// # Ok::<(), postie_mime::Error>(())
/// ```
pub fn new_content_id(domain: &str) -> Result<String, Error> {
    let id = new_message_id(domain)?;
    Ok(id.trim_start_matches('<').trim_end_matches('>').to_owned())
}

#[cfg(test)]
mod tests {
    use super::is_dot_atom;

    #[test]
    fn dot_atoms_are_labels_of_letters_digits_and_hyphens() {
        let split = |d: &str| {
            !d.is_empty()
                && d.split('.').all(|label| {
                    !label.is_empty()
                        && label
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                })
        };
        for domain in [
            "example.org",
            "a",
            "a-b.c",
            "",
            ".",
            "a.",
            ".a",
            "a..b",
            "a b",
            "é.org",
            "x_y.z",
            "mail.example.org",
            "1.2.3.4",
            "-.-",
        ] {
            assert_eq!(is_dot_atom(domain), split(domain), "{domain:?}");
        }
    }
}
