//! tcllib's `mime::parseaddress`: one record per mailbox with its comments, route and group.

use super::*;

/// One mailbox of an address list as tcllib's `mime::parseaddress` describes
/// it: the parts, the comments and source route the other parsers drop, the
/// group it belongs to, and the renderings tcllib derives from them. Built by
/// [`parse_address_details`].
///
/// Where tcllib gives an empty string, this gives `None`; tcllib's `error`
/// key is the `Err` side of the `Result` this comes in.
///
/// ```
/// use postie_mime::address::parse_address_details;
///
/// let list = parse_address_details("fred@example.org (Fred Smith)");
/// let fred = list[0].as_ref().unwrap();
/// assert_eq!(fred.comment.as_deref(), Some("Fred Smith"));
/// assert_eq!(fred.phrase, None);
/// assert_eq!(fred.friendly, "Fred Smith");
/// assert_eq!(fred.proper, "fred@example.org");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ParsedAddress {
    /// `local@domain`, the local part quoted when it is not a dot-atom (as
    /// [`Mailbox::addr_spec`] writes it); the local part alone when there is
    /// no domain (tcllib appends `@` and its host name there; see
    /// [`Mailbox::with_default_domain`]).
    pub address: String,
    /// The text of the mailbox's comments, wherever they stood (`a@b (Fred)`
    /// gives `Fred`), without their outer parentheses, quoted-pairs
    /// unescaped, joined by a space; `None` when there are none or they are
    /// blank.
    pub comment: Option<String>,
    /// The domain (a dot-atom or a `[domain literal]`), if any.
    pub domain: Option<String>,
    /// The best name to show a person: the phrase, else the comment, else
    /// the local part (tcllib's choice, not the whole address), an X.400
    /// local part (`/G=Fred/S=Smith/`) giving its personal name.
    pub friendly: String,
    /// The name of the group this mailbox is a member of. (tcllib sets it on
    /// a group's first member only; here every member has it.)
    pub group: Option<String>,
    /// The local part, unquoted: `john doe` for `"john doe"@x`.
    pub local: String,
    /// Whether the mailbox is a member of a group (tcllib's `memberP`).
    pub member_of_group: bool,
    /// The display name (`Fred Smith` of `Fred Smith <fred@x>`), decoded;
    /// never one taken from a comment.
    pub phrase: Option<String>,
    /// The canonical form: `phrase <address>`, the phrase quoted when it is
    /// not a run of atoms, or the address alone when there is no phrase.
    /// Comments and the route are left out.
    pub proper: String,
    /// The obsolete source route of `<@a,@b:local@domain>`, as `@a,@b` (tcllib
    /// writes `@a,@b:`).
    pub route: Option<String>,
}

/// Parses an address list as tcllib's `mime::parseaddress` does: one entry
/// per mailbox, in order, each a [`ParsedAddress`] or the [`AddressError`]
/// that refused it.
///
/// The list is first split at the commas that stand outside quoted-strings,
/// comments, angle brackets and domain literals, and at the commas and `;`
/// inside a group, so that a bad member costs its own entry only; each
/// member is then parsed by the same rules as [`parse_address_list`].
/// Errors give byte positions in the whole input. Empty members and empty
/// groups (`undisclosed-recipients:;`) give no entry; a group with a bad
/// name gives one `Err` for the whole group, and anything but white space
/// and comments between a group's `;` and the next comma gives one `Err`.
///
/// An input that [`parse_address_list`] accepts gives the same mailboxes here,
/// all `Ok`; one it refuses gives at least one `Err`.
///
/// ```
/// use postie_mime::address::parse_address_details;
///
/// let list = parse_address_details("a@x.test, Fred Smith, friends: b@y.test;");
/// assert_eq!(list.len(), 3);
/// assert_eq!(list[0].as_ref().unwrap().address, "a@x.test");
/// assert_eq!(list[1].as_ref().unwrap_err().position(), 20); // the ',' after `Smith`
/// let b = list[2].as_ref().unwrap();
/// assert!(b.member_of_group);
/// assert_eq!(b.group.as_deref(), Some("friends"));
/// ```
pub fn parse_address_details(input: &str) -> Vec<Result<ParsedAddress, AddressError>> {
    let mut out = Vec::new();
    for member in split_members(input) {
        match member {
            Member::Single(range) => {
                let mut parser = Parser::detailed(input, range);
                let entry = parser.member_details(AddressErrorKind::GroupNotAllowed, None);
                out.extend(entry.transpose());
            }
            Member::Group {
                name,
                members,
                after,
            } => {
                let name = match Parser::detailed(input, name).group_name() {
                    Ok(name) => name,
                    Err(err) => {
                        out.push(Err(err));
                        continue;
                    }
                };
                for range in members {
                    let mut parser = Parser::detailed(input, range);
                    let entry = parser.member_details(AddressErrorKind::NestedGroup, Some(&name));
                    out.extend(entry.transpose());
                }
                if let Some(range) = after {
                    let mut parser = Parser::detailed(input, range);
                    match parser.skip_cfws() {
                        Err(err) => out.push(Err(err)),
                        Ok(_) if parser.peek().is_some() => out.push(Err(parser.junk())),
                        Ok(_) => {}
                    }
                }
            }
        }
    }
    out
}

/// A [`ParsedAddress`] from a mailbox and what the detailed mode kept of it.
pub(super) fn parsed_address(
    mailbox: Mailbox,
    details: Details,
    group: Option<&str>,
) -> ParsedAddress {
    let comment = comment_name(&details.comments);
    let phrase = details.phrase;
    let address = mailbox.addr_spec();
    let proper = match &phrase {
        Some(phrase) => format!("{} <{address}>", phrase_form(phrase)),
        None => address.clone(),
    };
    let friendly = phrase
        .clone()
        .or_else(|| comment.clone())
        .unwrap_or_else(|| x400_friendly(&mailbox.local));
    ParsedAddress {
        address,
        comment,
        domain: mailbox.domain,
        friendly,
        group: group.map(str::to_owned),
        local: mailbox.local,
        member_of_group: group.is_some(),
        phrase,
        proper,
        route: details.route.filter(|route| !route.is_empty()),
    }
}

/// tcllib's friendly name for a local part: the local part itself, except
/// that an X.400 one (`/G=Fred/S=Smith/`) gives its `PN` field, else its `S`
/// field after its `G` field.
pub(super) fn x400_friendly(local: &str) -> String {
    if !local.starts_with('/') {
        return local.to_owned();
    }
    if let Some(pn) = x400_field(local, "PN") {
        return pn.to_owned();
    }
    match (x400_field(local, "S"), x400_field(local, "G")) {
        (Some(surname), Some(given)) => format!("{given} {surname}"),
        (Some(surname), None) => surname.to_owned(),
        _ => local.to_owned(),
    }
}

/// The value of field `key` (`/KEY=value/`, key in any case) of an X.400
/// local part, quotes trimmed; `None` when absent or empty.
pub(super) fn x400_field<'s>(local: &'s str, key: &str) -> Option<&'s str> {
    let pattern = format!("/{key}=");
    // ASCII uppercasing keeps byte offsets.
    let at = local.to_ascii_uppercase().find(&pattern)?;
    let value = local.get(at + pattern.len()..)?;
    let value = match value.find('/') {
        Some(end) => value.get(..end)?,
        None => value,
    };
    let value = value.trim_matches('"');
    (!value.is_empty()).then_some(value)
}

/// One top-level member of an address list, as byte ranges of the input.
pub(super) enum Member {
    /// A mailbox (or an empty member, or junk).
    Single(Range<usize>),
    /// A group: its name (before the `:`), its members (between the `:`,
    /// the commas and the `;`), and what came after its `;` up to the next
    /// comma, if it had one.
    Group {
        name: Range<usize>,
        members: Vec<Range<usize>>,
        after: Option<Range<usize>>,
    },
}

/// Splits an address list into its members, tolerantly: only quoted-strings,
/// comments, angle brackets and domain literals are recognized (each running
/// to the end when unclosed), so that every member can be parsed, and fail,
/// on its own.
pub(super) fn split_members(input: &str) -> Vec<Member> {
    let s = input.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    loop {
        let stop = scan_to(s, start, b",:");
        let next = if s.get(stop) == Some(&b':') {
            let name = start..stop;
            let mut members = Vec::new();
            let mut at = stop + 1;
            let (after, next) = loop {
                let end = scan_to(s, at, b",;");
                members.push(at..end);
                match s.get(end) {
                    Some(b',') => at = end + 1,
                    Some(_) => {
                        let next = scan_to(s, end + 1, b",");
                        break (Some(end + 1..next), next);
                    }
                    None => break (None, end),
                }
            };
            out.push(Member::Group {
                name,
                members,
                after,
            });
            next
        } else {
            out.push(Member::Single(start..stop));
            stop
        };
        // `next` is on a comma or at the end.
        if next >= s.len() {
            return out;
        }
        start = next + 1;
    }
}

/// The offset of the first byte of `stops` at or after `i` that is not
/// inside a quoted-string, comment, angle-addr or domain literal; the
/// input's length when there is none. All the bytes looked for are ASCII, so
/// the offset is a char boundary.
pub(super) fn scan_to(s: &[u8], mut i: usize, stops: &[u8]) -> usize {
    while let Some(&b) = s.get(i) {
        if stops.contains(&b) {
            return i;
        }
        i = match b {
            b'"' | b'(' | b'[' | b'<' => skip_enclosed(s, i),
            _ => i + 1,
        };
    }
    s.len()
}

/// The offset just past the quoted-string, comment, domain literal or
/// angle-addr that opens at `start`, or the input's length when it does not
/// close. Backslash escapes the next byte inside all but angle brackets;
/// comments nest (counted, not recursed).
pub(super) fn skip_enclosed(s: &[u8], start: usize) -> usize {
    let Some(&open) = s.get(start) else {
        return s.len();
    };
    let close = match open {
        b'"' => b'"',
        b'(' => b')',
        b'[' => b']',
        b'<' => b'>',
        _ => return start + 1,
    };
    let mut depth: usize = 1;
    let mut i = start + 1;
    while let Some(&b) = s.get(i) {
        i = match b {
            b'\\' if open != b'<' => i + 2,
            b'"' | b'(' | b'[' if open == b'<' => skip_enclosed(s, i),
            b'(' if open == b'(' => {
                depth += 1;
                i + 1
            }
            b if b == close => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
                i + 1
            }
            _ => i + 1,
        };
    }
    s.len()
}
