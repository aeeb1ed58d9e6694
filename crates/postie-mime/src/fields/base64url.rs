//! Unpadded URL-safe base64 (RFC 4648 §5) for the random parts of
//! Message-IDs, Content-IDs and boundaries: a few bytes per message, for
//! which setting up a general engine costs more than the encoding. Its
//! alphabet holds no `=`, which boundaries rely on.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Appends `bytes` to `out` in unpadded URL-safe base64.
pub(crate) fn push(bytes: &[u8], out: &mut String) {
    let (groups, rest) = bytes.as_chunks::<3>();
    for &[a, b, c] in groups {
        push_group(
            u32::from(a) << 16 | u32::from(b) << 8 | u32::from(c),
            4,
            out,
        );
    }
    match *rest {
        [a] => push_group(u32::from(a) << 16, 2, out),
        [a, b] => push_group(u32::from(a) << 16 | u32::from(b) << 8, 3, out),
        _ => {}
    }
}

/// The first `chars` characters of the 24-bit group `n`.
fn push_group(n: u32, chars: usize, out: &mut String) {
    for shift in [18, 12, 6, 0].into_iter().take(chars) {
        out.push(char::from(ALPHABET[(n >> shift) as usize & 63]));
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;

    #[test]
    fn the_same_as_the_base64_crate() {
        let data: Vec<u8> = (0..=255u8).rev().chain(0..=255).collect();
        for len in 0..40 {
            for start in [0, 100, 250, 400] {
                let bytes = &data[start..start + len];
                let mut ours = String::new();
                super::push(bytes, &mut ours);
                let theirs = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
                assert_eq!(ours, theirs, "{bytes:?}");
            }
        }
    }
}
