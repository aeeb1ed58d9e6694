//! UTF-7 (RFC 2152): Unicode in 7-bit text. ASCII stands for itself; other
//! characters are written as their UTF-16 code units in a modified base64
//! (the usual alphabet, no `=` padding) between `+` and an optional `-`,
//! which ends the run and is dropped; `+-` is a `+`. A surrogate pair is two
//! code units of one run.
//!
//! Decoding is tolerant, like the crate's other decoders: it never panics,
//! and nothing malformed is dropped unseen. It is kept or replaced, and the
//! flag returned says so:
//!
//! * a `+` that starts neither a run nor `+-` is kept as a `+`;
//! * a byte above 0x7F, never part of UTF-7, becomes U+FFFD;
//! * a lone surrogate, and a run that stops inside a code unit, become
//!   U+FFFD;
//! * bits left over at the end of a run that are not zero (a careless
//!   encoder) hold no character, but are flagged.

/// Decodes UTF-7; the flag tells whether anything was malformed.
pub(super) fn decode(bytes: &[u8]) -> (String, bool) {
    let mut out = String::with_capacity(bytes.len());
    let mut malformed = false;
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        i += 1;
        match byte {
            b'+' => {
                let rest = bytes.get(i..).unwrap_or_default();
                let run_len = rest.iter().take_while(|&&b| sextet(b).is_some()).count();
                if run_len == 0 {
                    if bytes.get(i) == Some(&b'-') {
                        i += 1;
                    } else {
                        malformed = true;
                    }
                    out.push('+');
                    continue;
                }
                malformed |= decode_run(rest.get(..run_len).unwrap_or_default(), &mut out);
                i += run_len;
                // Any other character after the run stands for itself.
                if bytes.get(i) == Some(&b'-') {
                    i += 1;
                }
            }
            0..=0x7f => out.push(char::from(byte)),
            _ => {
                out.push(char::REPLACEMENT_CHARACTER);
                malformed = true;
            }
        }
    }
    (out, malformed)
}

/// The value of a modified-base64 character.
fn sextet(b: u8) -> Option<u32> {
    match b {
        b'A'..=b'Z' => Some(u32::from(b - b'A')),
        b'a'..=b'z' => Some(u32::from(b - b'a') + 26),
        b'0'..=b'9' => Some(u32::from(b - b'0') + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// Decodes one run of modified base64 (the characters after its `+`) onto
/// `out`; true when it was malformed.
fn decode_run(run: &[u8], out: &mut String) -> bool {
    let mut units = Vec::with_capacity(run.len() * 6 / 16);
    // `held` bits are waiting in the low bits of `bits` (fewer than 16
    // between characters, so the 32 bits never overflow).
    let mut bits: u32 = 0;
    let mut held = 0;
    for value in run.iter().filter_map(|&b| sextet(b)) {
        bits = (bits << 6) | value;
        held += 6;
        if held >= 16 {
            held -= 16;
            units.push(((bits >> held) & 0xFFFF) as u16);
            bits &= (1 << held) - 1;
        }
    }
    let mut malformed = false;
    for c in char::decode_utf16(units) {
        out.push(c.unwrap_or_else(|_| {
            malformed = true;
            char::REPLACEMENT_CHARACTER
        }));
    }
    if held >= 6 {
        // A whole character more than the code units need: a unit cut off.
        out.push(char::REPLACEMENT_CHARACTER);
        malformed = true;
    } else if bits != 0 {
        malformed = true;
    }
    malformed
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plain encoder, to check that decoding gives back what it encoded:
    /// ASCII but `+` as itself, `+` as `+-`, anything else in runs closed
    /// by `-`.
    fn encode(text: &str) -> String {
        let engine = encodify::base64::STANDARD_NO_PAD;
        let mut out = String::new();
        let mut run: Vec<u8> = Vec::new();
        let flush = |run: &mut Vec<u8>, out: &mut String| {
            if !run.is_empty() {
                out.push('+');
                out.push_str(&engine.encode(&run));
                out.push('-');
                run.clear();
            }
        };
        for c in text.chars() {
            if c.is_ascii() {
                flush(&mut run, &mut out);
                if c == '+' {
                    out.push_str("+-");
                } else {
                    out.push(c);
                }
            } else {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    run.extend_from_slice(&unit.to_be_bytes());
                }
            }
        }
        flush(&mut run, &mut out);
        out
    }

    #[test]
    fn rfc_2152_examples() {
        assert_eq!(
            decode(b"A+ImIDkQ."),
            ("A\u{2262}\u{391}.".to_owned(), false)
        );
        assert_eq!(
            decode(b"Hi Mom -+Jjo--!"),
            ("Hi Mom -\u{263a}-!".to_owned(), false)
        );
        assert_eq!(decode(b"+ZeVnLIqe-"), ("日本語".to_owned(), false));
        assert_eq!(
            decode(b"Item 3 is +AKM-1."),
            ("Item 3 is \u{a3}1.".to_owned(), false)
        );
    }

    #[test]
    fn plus_minus_and_run_ends() {
        assert_eq!(decode(b"1 +- 1 = 2"), ("1 + 1 = 2".to_owned(), false));
        // A run ends at any character outside base64; only `-` is dropped.
        assert_eq!(decode(b"+AKM 1"), ("\u{a3} 1".to_owned(), false));
        assert_eq!(decode(b"+AKM--"), ("\u{a3}-".to_owned(), false));
        assert_eq!(decode(b"+AKM"), ("\u{a3}".to_owned(), false));
    }

    #[test]
    fn surrogate_pairs_join_within_a_run() {
        assert_eq!(decode(b"+2D3eAA-"), ("\u{1f600}".to_owned(), false));
        assert_eq!(encode("\u{1f600}"), "+2D3eAA-");
    }

    #[test]
    fn malformed_input_is_kept_or_replaced_and_flagged() {
        // A `+` starting nothing stays.
        assert_eq!(decode(b"a+!b"), ("a+!b".to_owned(), true));
        assert_eq!(decode(b"ends with +"), ("ends with +".to_owned(), true));
        // 8-bit bytes are not UTF-7.
        assert_eq!(decode(b"a\xffb"), ("a\u{fffd}b".to_owned(), true));
        // A high surrogate with no low one after it, and a low one alone.
        assert_eq!(decode(b"+2D0-x"), ("\u{fffd}x".to_owned(), true));
        assert_eq!(decode(b"+3gA-"), ("\u{fffd}".to_owned(), true));
        // A run cut inside its third code unit.
        assert_eq!(decode(b"+ZeVnLIq-"), ("日本\u{fffd}".to_owned(), true));
        // Left-over bits that are not zero: the character is whole.
        assert_eq!(decode(b"+Jjp-"), ("\u{263a}".to_owned(), true));
    }

    proptest::proptest! {
        #[test]
        fn decodes_what_was_encoded(input in "\\PC{0,40}") {
            proptest::prop_assert_eq!(decode(encode(&input).as_bytes()), (input, false));
        }

        #[test]
        fn any_bytes_decode_and_ascii_outside_runs_is_kept(
            input in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)
        ) {
            let (out, malformed) = decode(&input);
            // Without a `+`, every byte gives one character: itself when
            // ASCII, else U+FFFD and the flag.
            if !input.contains(&b'+') {
                proptest::prop_assert_eq!(out.chars().count(), input.len());
                proptest::prop_assert_eq!(malformed, !input.is_ascii());
            }
        }
    }
}
