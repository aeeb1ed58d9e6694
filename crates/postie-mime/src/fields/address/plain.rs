//! Plain address lists read without the full parser: `local@domain`,
//! `<local@domain>`, `Name Words <local@domain>` and
//! `"Quoted Name" <local@domain>`, separated by commas. These are nearly
//! every address a program sends to, and checking them this way costs a
//! single pass with no allocation.
//!
//! Anything else (comments, folding, tabs, escapes, non-ASCII, groups,
//! domain literals, dots in a display name, a missing domain, empty
//! members...) is left to the full parser: [`scan`] answers `false` and
//! decides nothing. What it accepts, the parser reads the same way (a test
//! holds the two together).

use super::{Address, Mailbox};

/// One plain mailbox, borrowed from the input.
pub(super) struct Parts<'a> {
    pub(super) name: Option<&'a str>,
    pub(super) local: &'a str,
    pub(super) domain: &'a str,
}

/// Calls `each` for every mailbox of `input` in order, and answers whether
/// all of `input` is a non-empty list of plain mailboxes. When it answers
/// `false`, what `each` was given means nothing.
pub(super) fn scan<'a>(input: &'a str, mut each: impl FnMut(Parts<'a>)) -> bool {
    let bytes = input.as_bytes();
    let mut at = skip_spaces(bytes, 0);
    loop {
        let Some((parts, end)) = mailbox(input, at) else {
            return false;
        };
        each(parts);
        at = skip_spaces(bytes, end);
        match bytes.get(at) {
            None => return true,
            Some(b',') => at = skip_spaces(bytes, at + 1),
            Some(_) => return false,
        }
    }
}

/// The list as the parser would give it, when it is plain.
pub(super) fn address_list(input: &str) -> Option<Vec<Address>> {
    let mut list = Vec::new();
    let plain = scan(input, |parts| {
        list.push(Address::Mailbox(Mailbox {
            name: parts.name.map(str::to_owned),
            local: parts.local.to_owned(),
            domain: Some(parts.domain.to_owned()),
        }));
    });
    plain.then_some(list)
}

/// One mailbox starting at `at` (no white space there), and where it ends.
fn mailbox(input: &str, at: usize) -> Option<(Parts<'_>, usize)> {
    let bytes = input.as_bytes();
    match bytes.get(at)? {
        b'<' => angle(input, at, None),
        b'"' => {
            let start = at + 1;
            let len = bytes
                .get(start..)?
                .iter()
                .position(|&b| !has(b, QTEXT_OR_SPACE))?;
            // Only a closing quote may end it (a backslash or a control
            // is the parser's), and an empty name is no name to it.
            if len == 0 || bytes.get(start + len) != Some(&b'"') {
                return None;
            }
            let name = input.get(start..start + len)?;
            let after = skip_spaces(bytes, start + len + 1);
            angle(input, after, Some(name))
        }
        _ => {
            let word_end = run(bytes, at, ATEXT);
            match bytes.get(word_end) {
                // An addr-spec: the whole dot-atom, then `@`.
                Some(b'@' | b'.') => {
                    let (local, domain, end) = addr_spec(input, at)?;
                    Some((
                        Parts {
                            name: None,
                            local,
                            domain,
                        },
                        end,
                    ))
                }
                // A display name of atoms, one space between two of them.
                Some(b' ' | b'<') if word_end > at => {
                    let mut name_end = word_end;
                    while bytes.get(name_end) == Some(&b' ') {
                        let next = run(bytes, name_end + 1, ATEXT);
                        if next == name_end + 1 {
                            break;
                        }
                        name_end = next;
                    }
                    let name = input.get(at..name_end)?;
                    angle(input, skip_spaces(bytes, name_end), Some(name))
                }
                _ => None,
            }
        }
    }
}

/// `<local@domain>` at `at`, under `name`.
fn angle<'a>(input: &'a str, at: usize, name: Option<&'a str>) -> Option<(Parts<'a>, usize)> {
    let bytes = input.as_bytes();
    if bytes.get(at) != Some(&b'<') {
        return None;
    }
    let (local, domain, end) = addr_spec(input, at + 1)?;
    if bytes.get(end) != Some(&b'>') {
        return None;
    }
    Some((
        Parts {
            name,
            local,
            domain,
        },
        end + 1,
    ))
}

/// `local@domain` at `at`: a dot-atom of ASCII atext, then a domain of
/// letters, digits and hyphens in dot-separated labels.
fn addr_spec(input: &str, at: usize) -> Option<(&str, &str, usize)> {
    let bytes = input.as_bytes();
    let local_end = dot_atom(bytes, at, ATEXT)?;
    if bytes.get(local_end) != Some(&b'@') {
        return None;
    }
    let domain_end = dot_atom(bytes, local_end + 1, LABEL)?;
    Some((
        input.get(at..local_end)?,
        input.get(local_end + 1..domain_end)?,
        domain_end,
    ))
}

/// The end of the dot-atom of `class` characters at `at`: runs of at least
/// one character joined by single dots.
fn dot_atom(bytes: &[u8], at: usize, class: u8) -> Option<usize> {
    let mut end = at;
    loop {
        let next = run(bytes, end, class);
        if next == end {
            return None;
        }
        end = next;
        if bytes.get(end) != Some(&b'.') {
            return Some(end);
        }
        end += 1;
    }
}

/// Where the run of `class` characters that starts at `at` ends.
fn run(bytes: &[u8], at: usize, class: u8) -> usize {
    let rest = bytes.get(at..).unwrap_or_default();
    at + rest
        .iter()
        .position(|&b| !has(b, class))
        .unwrap_or(rest.len())
}

fn skip_spaces(bytes: &[u8], at: usize) -> usize {
    run(bytes, at, SPACE)
}

/// The character classes of this module, looked up in [`CLASSES`] rather
/// than worked out per byte: `atext` alone is nineteen comparisons, and
/// every byte of every address is classed.
const ATEXT: u8 = 1;
/// A domain label's letters, digits and hyphens.
const LABEL: u8 = 2;
/// Printable ASCII but `"` and `\`, or a space: what a quoted display
/// name holds as it is.
const QTEXT_OR_SPACE: u8 = 4;
/// A space (the only white space this path takes).
const SPACE: u8 = 8;

/// Every byte's classes.
static CLASSES: [u8; 256] = classes();

const fn classes() -> [u8; 256] {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        let mut class = 0;
        if is_atext(c) {
            class |= ATEXT;
        }
        if is_label_char(c) {
            class |= LABEL;
        }
        if is_qtext_or_space(c) {
            class |= QTEXT_OR_SPACE;
        }
        if c == b' ' {
            class |= SPACE;
        }
        table[b] = class;
        b += 1;
    }
    table
}

/// Whether `b` is in `class`.
#[inline(always)]
fn has(b: u8, class: u8) -> bool {
    CLASSES[b as usize] & class != 0
}

/// RFC 5322 `atext`, ASCII only.
const fn is_atext(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'/'
                | b'='
                | b'?'
                | b'^'
                | b'_'
                | b'`'
                | b'{'
                | b'|'
                | b'}'
                | b'~'
        )
}

const fn is_label_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-'
}

const fn is_qtext_or_space(b: u8) -> bool {
    b >= b' ' && b <= b'~' && b != b'"' && b != b'\\'
}

#[cfg(test)]
mod tests {
    use super::super::Parser;
    use super::*;
    use proptest::prelude::*;

    /// What the fast path gives must be what the full parser gives, and
    /// the check without a list must answer as the list does.
    fn agrees(input: &str) -> bool {
        let full = Parser::new(input).address_list();
        assert_eq!(
            super::super::check_address_list(input).is_ok(),
            full.is_ok(),
            "{input:?}"
        );
        match address_list(input) {
            Some(fast) => {
                assert_eq!(full.as_ref(), Ok(&fast), "{input:?}");
                assert!(scan(input, |_| {}));
                true
            }
            None => {
                assert!(!scan(input, |_| {}));
                false
            }
        }
    }

    #[test]
    fn the_class_table_is_the_definitions() {
        let atext = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(&b);
        for b in 0..=255u8 {
            assert_eq!(has(b, ATEXT), atext(b), "{b}");
            assert_eq!(has(b, LABEL), b.is_ascii_alphanumeric() || b == b'-', "{b}");
            assert_eq!(
                has(b, QTEXT_OR_SPACE),
                (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\',
                "{b}"
            );
            assert_eq!(has(b, SPACE), b == b' ', "{b}");
        }
    }

    #[test]
    fn plain_forms_are_read_as_the_parser_reads_them() {
        for input in [
            "sender@example.org",
            "\"Bench Sender\" <sender@example.org>",
            "Bench Sink <sink@example.com>",
            "<a@b>",
            "  a.b.c@x-y.example ,  Ann <ann@x.test>,\"Smith, Mary\" <m@x.test>  ",
            "Name<a@b.c>",
            "\"Name\"<a@b.c>",
            "\"  spaced  \" <a@b>",
            "a@b,c@d",
            "=?utf-8?q?x?= <a@b>",
            "o'brien+tag@example.org",
        ] {
            assert!(agrees(input), "{input:?} should take the fast path");
        }
    }

    #[test]
    fn the_rest_is_left_to_the_parser() {
        for input in [
            "",
            " ",
            "a@b, , c@d",
            "a@b,",
            ",a@b",
            "root",
            "Fred <fred>",
            "a@[192.0.2.1]",
            "a@b (Fred)",
            "Joe Q. Public <j@b>",
            "\"\" <a@b>",
            "\"a\\\"b\" <a@b>",
            "a..b@c",
            ".a@c",
            "a@b.",
            "a@b..c",
            "a@b c@d",
            "Team: a@b;",
            "J\u{f6}rg <j@b>",
            "a@b\r\n",
            "a\t<a@b>",
            "<a@b",
            "a@b>",
            "Fred Smith",
            "Ann  Lee <a@b>",
            "a@b_c",
        ] {
            assert!(!agrees(input), "{input:?} should be left to the parser");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        /// Inputs made of the pieces addresses are made of: whenever the
        /// fast path takes one, the parser gives the same list.
        #[test]
        fn the_fast_path_and_the_parser_agree(
            pieces in proptest::collection::vec(
                prop_oneof![
                    Just("a"), Just("bob"), Just("x-y"), Just("@"), Just("."), Just(" "),
                    Just("  "), Just(","), Just("<"), Just(">"), Just("\""), Just("\\"),
                    Just("("), Just(")"), Just(":"), Just(";"), Just("\t"), Just("é"),
                    Just("["), Just("]"), Just("_"), Just("+"), Just("="), Just("?"),
                    Just("\r\n "), Just("example.org"), Just("Ann Lee"),
                ],
                0..14,
            ),
        ) {
            agrees(&pieces.concat());
        }

        /// Any printable ASCII: the fast path never takes what the parser
        /// reads otherwise or refuses.
        #[test]
        fn any_ascii_agrees(input in "[ -~]{0,40}") {
            agrees(&input);
        }

        /// Well-formed plain lists always take the fast path.
        #[test]
        fn plain_lists_take_the_fast_path(
            list in proptest::collection::vec(
                (
                    proptest::option::of(prop_oneof![
                        "[A-Za-z]{1,8}( [A-Za-z0-9]{1,8}){0,2}",
                        "\"[ -!#-\\[\\]-~]{1,20}\"",
                    ]),
                    "[a-z0-9]{1,8}(\\.[a-z0-9+_-]{1,5}){0,2}",
                    "[a-z0-9]{1,8}(\\.[a-z0-9-]{1,8}){0,3}",
                ),
                1..4,
            ),
        ) {
            let input = list
                .iter()
                .map(|(name, local, domain)| match name {
                    Some(name) => format!("{name} <{local}@{domain}>"),
                    None => format!("{local}@{domain}"),
                })
                .collect::<Vec<_>>()
                .join(", ");
            prop_assert!(agrees(&input), "{:?}", input);
        }
    }
}
