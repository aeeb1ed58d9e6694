//! Tag lists (RFC 6376 §3.2): `name=value; name=value`, with folding white
//! space anywhere around the names, the equals signs and the values. Both
//! the DKIM-Signature field and the key record are written so.

use std::ops::Range;

/// One `name=value` of a tag list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Tag<'a> {
    /// The tag's name, as written (names are case-sensitive).
    pub(super) name: &'a str,
    /// The value, white space around it trimmed.
    pub(super) value: &'a [u8],
    /// Where the value was, with the white space around it: from after
    /// the `=` to the `;` or the end. What a verifier empties for `b=`.
    pub(super) span: Range<usize>,
}

impl Tag<'_> {
    /// The value as text (a value is ASCII; anything else is shown as the
    /// replacement character).
    pub(super) fn text(&self) -> String {
        String::from_utf8_lossy(self.value).into_owned()
    }

    /// The value with every white space character taken out, as base64
    /// values (`b=`, `bh=`, `p=`) and lists (`h=`) are read.
    pub(super) fn compact(&self) -> String {
        self.text()
            .chars()
            .filter(|c| !matches!(c, ' ' | '\t' | '\r' | '\n'))
            .collect()
    }
}

/// Folding white space: spaces, tabs and the line breaks of folding.
fn is_fws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// `bytes` without folding white space at either end, and where that
/// starts in `bytes`.
fn trim(bytes: &[u8]) -> (&[u8], usize) {
    let start = bytes
        .iter()
        .position(|&b| !is_fws(b))
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|&b| !is_fws(b))
        .map_or(start, |i| i + 1);
    (&bytes[start..end], start)
}

/// The tags of `list`, in order. A list may end with a `;`; a tag without
/// `=`, a name that is not one (a letter, then letters, digits and `_`) and
/// a name given twice make the whole list unusable, as RFC 6376 §3.2 says.
pub(super) fn parse(list: &[u8]) -> Result<Vec<Tag<'_>>, String> {
    let mut tags: Vec<Tag<'_>> = Vec::new();
    let mut start = 0;
    let pieces: Vec<&[u8]> = list.split(|&b| b == b';').collect();
    let last = pieces.len() - 1;
    for (n, piece) in pieces.into_iter().enumerate() {
        let here = start;
        start += piece.len() + 1;
        if trim(piece).0.is_empty() {
            if n == last {
                break;
            }
            return Err("an empty tag between two semicolons".to_owned());
        }
        let Some(eq) = memchr::memchr(b'=', piece) else {
            return Err(format!(
                "{:?} is not a tag (no =)",
                String::from_utf8_lossy(trim(piece).0)
            ));
        };
        let name = std::str::from_utf8(trim(&piece[..eq]).0)
            .ok()
            .filter(|name| is_tag_name(name))
            .ok_or_else(|| {
                format!(
                    "{:?} is not a tag name",
                    String::from_utf8_lossy(trim(&piece[..eq]).0)
                )
            })?;
        if tags.iter().any(|t| t.name == name) {
            return Err(format!("the tag {name}= appears twice"));
        }
        let (value, _) = trim(&piece[eq + 1..]);
        tags.push(Tag {
            name,
            value,
            span: here + eq + 1..here + piece.len(),
        });
    }
    Ok(tags)
}

/// `ALPHA *(ALPHA / DIGIT / "_")`.
fn is_tag_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The tag called `name`, if the list has it.
pub(super) fn find<'t, 'a>(tags: &'t [Tag<'a>], name: &str) -> Option<&'t Tag<'a>> {
    tags.iter().find(|t| t.name == name)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn names_values_and_spans_with_folding_white_space() {
        let list = b" v=1; a = rsa-sha256 ;\r\n\tb=ab\r\n cd ;";
        let tags = parse(list).unwrap();
        let names: Vec<&str> = tags.iter().map(|t| t.name).collect();
        assert_eq!(names, ["v", "a", "b"]);
        assert_eq!(tags[1].value, b"rsa-sha256");
        assert_eq!(tags[2].value, b"ab\r\n cd");
        assert_eq!(tags[2].compact(), "abcd");
        // The span runs from after '=' to the ';', white space included.
        assert_eq!(&list[tags[2].span.clone()], b"ab\r\n cd ");
        assert_eq!(&list[tags[1].span.clone()], b" rsa-sha256 ");
        // Without a final ';' the span runs to the end.
        let tags = parse(b"b=xyz \r\n").unwrap();
        assert_eq!(tags[0].span, 2..8);
        assert!(parse(b"").unwrap().is_empty());
        assert_eq!(parse(b"k=").unwrap()[0].value, b"");
    }

    #[test]
    fn broken_lists_are_refused_with_the_reason() {
        let err = |list: &[u8]| parse(list).unwrap_err();
        assert!(err(b"v=1; a=x; v=2").contains("appears twice"));
        assert!(err(b"v=1;; a=x").contains("empty tag"));
        assert!(err(b"v=1; junk").contains("no ="));
        assert!(err(b"1v=1").contains("not a tag name"));
        assert!(err(b"a b=1").contains("not a tag name"));
        // Names are case-sensitive: V= and v= are two tags.
        assert_eq!(parse(b"v=1; V=2").unwrap().len(), 2);
    }
}
