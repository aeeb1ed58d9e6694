//! How an input is shown in a parse error.

use std::fmt;

/// The input as the error message shows it: quoted and escaped (so a stray
/// CR cannot break a log line), and cut down to the part around the error
/// when it is long (a header can hold thousands of addresses).
pub(crate) fn excerpt(input: &str, position: usize) -> Excerpt<'_> {
    Excerpt { input, position }
}

pub(crate) struct Excerpt<'a> {
    input: &'a str,
    position: usize,
}

impl fmt::Display for Excerpt<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const WHOLE: usize = 80;
        const CONTEXT: usize = 32;
        let input = self.input;
        if input.len() <= WHOLE {
            return write!(f, "{input:?}");
        }
        let start = floor_char_boundary(input, self.position.saturating_sub(CONTEXT));
        let end = ceil_char_boundary(input, self.position.saturating_add(CONTEXT));
        let window = input.get(start..end).unwrap_or_default();
        let before = if start > 0 { "…" } else { "" };
        let after = if end < input.len() { "…" } else { "" };
        write!(f, "{before}{window:?}{after}")
    }
}

/// The largest char boundary at or below `i` (`str::floor_char_boundary` is
/// newer than this crate's minimum Rust).
fn floor_char_boundary(s: &str, i: usize) -> usize {
    let mut i = i.min(s.len());
    while !s.is_char_boundary(i) {
        // Cannot underflow: 0 is always a char boundary.
        i -= 1;
    }
    i
}

/// The smallest char boundary at or above `i`, capped at `s.len()`.
fn ceil_char_boundary(s: &str, i: usize) -> usize {
    let mut i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i += 1;
    }
    i
}
