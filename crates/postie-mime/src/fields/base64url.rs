//! Unpadded URL-safe base64 (RFC 4648 §5) for the random parts of
//! Message-IDs, Content-IDs and boundaries: a few bytes per message, for
//! which setting up a general engine costs more than the encoding. Its
//! alphabet holds no `=`, which boundaries rely on.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Appends `bytes` to `out` in unpadded URL-safe base64.
pub(crate) fn push(bytes: &[u8], out: &mut String) {
    // Up to 48 bytes at a time go through a buffer on the stack and into
    // `out` at once: pushing characters one by one costs a capacity check
    // and a character encoding each.
    for piece in bytes.chunks(48) {
        let mut buffer = [0u8; 64];
        let mut len = 0;
        let (groups, rest) = piece.as_chunks::<3>();
        for &[a, b, c] in groups {
            len += put_group(
                u32::from(a) << 16 | u32::from(b) << 8 | u32::from(c),
                4,
                &mut buffer,
                len,
            );
        }
        len += match *rest {
            [a] => put_group(u32::from(a) << 16, 2, &mut buffer, len),
            [a, b] => put_group(u32::from(a) << 16 | u32::from(b) << 8, 3, &mut buffer, len),
            _ => 0,
        };
        // Always ASCII, from the alphabet.
        if let Ok(text) = std::str::from_utf8(buffer.get(..len).unwrap_or_default()) {
            out.push_str(text);
        }
    }
}

/// Puts the first `chars` characters of the 24-bit group `n` into
/// `buffer` at `at`; how many.
#[inline(always)]
fn put_group(n: u32, chars: usize, buffer: &mut [u8; 64], at: usize) -> usize {
    let group = [18, 12, 6, 0].map(|shift| ALPHABET[(n >> shift) as usize & 63]);
    if let (Some(to), Some(from)) = (buffer.get_mut(at..at + chars), group.get(..chars)) {
        to.copy_from_slice(from);
    }
    chars
}

#[cfg(test)]
mod tests {

    #[test]
    fn the_same_as_encodify() {
        let data: Vec<u8> = (0..=255u8).rev().chain(0..=255).collect();
        for len in 0..40 {
            for start in [0, 100, 250, 400] {
                let bytes = &data[start..start + len];
                let mut ours = String::new();
                super::push(bytes, &mut ours);
                let theirs = encodify::base64::URL_SAFE_NO_PAD.encode(bytes);
                assert_eq!(ours, theirs, "{bytes:?}");
            }
        }
    }
}
