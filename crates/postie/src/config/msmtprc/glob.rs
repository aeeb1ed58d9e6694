//! msmtp's choice of an account by the envelope sender (`-f ADDR`, or the
//! message's From with `--read-envelope-from`): an account's `from` is the
//! address, compared without regard to case, or a shell pattern (`*`, `?`,
//! `[...]`); a sender with a subaddress (`joe+lists@example.org`) also
//! matches the account of `joe@example.org`.

/// Whether `from` is a pattern rather than an address.
pub(super) fn is_pattern(from: &str) -> bool {
    from.contains(['*', '?', '['])
}

/// Whether the account whose `from` is `pattern` is the one for `sender`.
pub(super) fn matches_sender(pattern: &str, sender: &str) -> bool {
    let sender = sender.trim().trim_start_matches('<').trim_end_matches('>');
    let pattern: Vec<char> = pattern.to_lowercase().chars().collect();
    let candidates = [Some(sender.to_owned()), without_detail(sender)];
    candidates.into_iter().flatten().any(|candidate| {
        let candidate: Vec<char> = candidate.to_lowercase().chars().collect();
        glob(&pattern, &candidate)
    })
}

/// `user+detail@domain` without `+detail`.
fn without_detail(address: &str) -> Option<String> {
    let (local, domain) = address.rsplit_once('@')?;
    let (user, _) = local.split_once('+')?;
    Some(format!("{user}@{domain}"))
}

/// fnmatch(3) without flags, on characters: `*` any run, `?` any one,
/// `[abc]`, `[a-z]`, `[!...]` (or `[^...]`) a set; anything else itself.
fn glob(pattern: &[char], text: &[char]) -> bool {
    // The position after the last `*`, and where in the text it resumes.
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        let step = match pattern.get(p) {
            Some('*') => {
                star = Some((p + 1, t));
                p += 1;
                continue;
            }
            Some('?') => Some(1),
            Some('[') => set(&pattern[p..], text[t]),
            Some(c) if *c == text[t] => Some(1),
            _ => None,
        };
        match (step, star) {
            (Some(len), _) => {
                p += len;
                t += 1;
            }
            (None, Some((after, from))) => {
                // Let the last `*` take one more character.
                p = after;
                t = from + 1;
                star = Some((after, from + 1));
            }
            (None, None) => return false,
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
}

/// `[...]` at the start of `pattern` against `c`: `Some(length of the
/// set)` when it matches; a `[` with no `]` is a plain `[`.
fn set(pattern: &[char], c: char) -> Option<usize> {
    let mut i = 1;
    let negated = matches!(pattern.get(i), Some('!' | '^'));
    if negated {
        i += 1;
    }
    let start = i;
    let mut found = false;
    while let Some(&member) = pattern.get(i) {
        if member == ']' && i > start {
            return (found != negated).then_some(i + 1);
        }
        match (pattern.get(i + 1), pattern.get(i + 2)) {
            (Some('-'), Some(&end)) if end != ']' => {
                found |= member <= c && c <= end;
                i += 3;
            }
            _ => {
                found |= member == c;
                i += 1;
            }
        }
    }
    (c == '[').then_some(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_subaddresses_and_patterns() {
        assert!(matches_sender("joe@example.org", "Joe@Example.ORG"));
        assert!(matches_sender("joe@example.org", "<joe@example.org>"));
        assert!(matches_sender("joe@example.org", "joe+lists@example.org"));
        assert!(!matches_sender("joe@example.org", "joey@example.org"));
        assert!(matches_sender("*@example.org", "ann@example.org"));
        assert!(!matches_sender("*@example.org", "ann@example.net"));
        assert!(matches_sender("?o?@example.org", "bob@example.org"));
        assert!(matches_sender("[a-c]*@*.example.org", "bea@mx.example.org"));
        assert!(!matches_sender("[!a-c]*@example.org", "bea@example.org"));
        assert!(matches_sender("a*b*c", "aXXbYYbZc"));
        assert!(!matches_sender("a*b*c", "aXXbYYbZ"));
        assert!(matches_sender("[x", "[x"));
        assert!(is_pattern("*@example.org") && !is_pattern("a@example.org"));
    }
}
