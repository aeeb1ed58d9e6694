//! The key records `postie dkim verify --txt FILE` reads, in the forms a
//! user has at hand:
//!
//! - `NAME VALUE`: a name, then the record's text (quoted strings are
//!   joined, as DNS joins them; anything else is taken as written);
//! - zone-file records, `NAME [TTL] [CLASS] TXT "..." "..."`, with
//!   parentheses across lines and `;` comments, as `dig +noall +answer`
//!   and `postie dkim keygen` print them; a CNAME record (a selector
//!   delegated to a provider) is followed, and other types are skipped;
//! - quoted strings alone, as `dig +short TXT NAME` prints them: a record
//!   with no name, which answers for any name the file does not name.
//!
//! Blank lines and lines starting with `#`, `;` or `$` are skipped.

use std::path::Path;

/// Why the file cannot be used.
#[derive(Debug)]
pub(crate) enum Error {
    /// It cannot be read.
    Io(std::io::Error),
    /// A line is not a record in any of the forms.
    Syntax {
        /// The line's number, from 1.
        line: usize,
        /// What is wrong there.
        reason: String,
    },
}

/// The records of a `--txt` file.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct TxtFile {
    /// TXT records by (normalized) name, in the file's order.
    named: Vec<(String, String)>,
    /// CNAME records: name, target.
    aliases: Vec<(String, String)>,
    /// Records without a name (`dig +short`).
    nameless: Vec<String>,
}

/// The largest file read: key records are a few hundred bytes each.
const MAX_FILE: u64 = 1024 * 1024;

/// How many CNAMEs are followed before giving up (a loop).
const MAX_ALIASES: usize = 8;

/// A name as compared: lower case, without the final dot.
fn normal(name: &str) -> String {
    name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase()
}

impl TxtFile {
    /// Reads and parses the file at `path`.
    pub(crate) fn read(path: &Path) -> Result<Self, Error> {
        use std::io::Read as _;
        let file = std::fs::File::open(path).map_err(Error::Io)?;
        let mut bytes = Vec::new();
        file.take(MAX_FILE)
            .read_to_end(&mut bytes)
            .map_err(Error::Io)?;
        Self::parse(&String::from_utf8_lossy(&bytes))
    }

    /// Parses a file's text.
    pub(crate) fn parse(text: &str) -> Result<Self, Error> {
        let lines: Vec<&str> = text.lines().collect();
        let mut out = Self::default();
        let mut i = 0;
        while i < lines.len() {
            let number = i + 1;
            let syntax = |reason: String| Error::Syntax {
                line: number,
                reason,
            };
            let line = lines[i].trim();
            i += 1;
            if line.is_empty() || line.starts_with(['#', ';', '$']) {
                continue;
            }
            if line.starts_with(['"', '(']) {
                let (strings, next) = strings(&lines, i, line).map_err(syntax)?;
                i = next;
                out.nameless.push(strings);
                continue;
            }
            let (name, rest) = line
                .split_once([' ', '\t'])
                .ok_or_else(|| syntax(format!("{line:?} is a name without a record")))?;
            let name = normal(name);
            let rest = rest.trim_start();
            match record_type(rest).map_err(syntax)? {
                Some((kind, rdata)) if kind.eq_ignore_ascii_case("txt") => {
                    let (value, next) = value(&lines, i, rdata).map_err(syntax)?;
                    i = next;
                    out.named.push((name, value));
                }
                Some((kind, rdata)) if kind.eq_ignore_ascii_case("cname") => {
                    let target = rdata
                        .split_whitespace()
                        .next()
                        .ok_or_else(|| syntax("a CNAME record without its target".to_owned()))?;
                    out.aliases.push((name, normal(target)));
                }
                // Another type (an A, an RRSIG of dig +dnssec): no key there.
                Some(_) => {}
                None => {
                    let (value, next) = value(&lines, i, rest).map_err(syntax)?;
                    i = next;
                    out.named.push((name, value));
                }
            }
        }
        Ok(out)
    }

    /// The record for `name` (CNAMEs followed): a named one first, else
    /// one without a name. Among several, one with a key (`p=`) first.
    pub(crate) fn lookup(&self, name: &str) -> Option<String> {
        let mut name = normal(name);
        for _ in 0..MAX_ALIASES {
            match self.aliases.iter().find(|(alias, _)| *alias == name) {
                Some((_, target)) => name = target.clone(),
                None => break,
            }
        }
        let named: Vec<&String> = self
            .named
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, record)| record)
            .collect();
        let candidates = if named.is_empty() {
            self.nameless.iter().collect()
        } else {
            named
        };
        candidates
            .iter()
            .find(|record| record.contains("p="))
            .or_else(|| candidates.first())
            .map(|record| (*record).clone())
    }
}

/// A zone-file record's type and what follows it, after an optional TTL
/// and class: `None` when the text does not start so (a `NAME VALUE`
/// line).
fn record_type(rest: &str) -> Result<Option<(&str, &str)>, String> {
    let mut text = rest;
    let mut skipped = Vec::new();
    for _ in 0..3 {
        let (word, after) = text
            .split_once([' ', '\t'])
            .map_or((text, ""), |(w, a)| (w, a.trim_start()));
        let is_ttl = !word.is_empty() && word.bytes().all(|b| b.is_ascii_digit());
        let is_class = ["IN", "CH", "HS", "CS"]
            .iter()
            .any(|c| word.eq_ignore_ascii_case(c));
        if is_ttl || is_class {
            skipped.push(word);
            text = after;
            continue;
        }
        if word.eq_ignore_ascii_case("txt") || word.eq_ignore_ascii_case("cname") {
            return Ok(Some((word, after)));
        }
        if skipped.is_empty() {
            return Ok(None);
        }
        let is_type = word.bytes().all(|b| b.is_ascii_alphanumeric())
            && word.bytes().any(|b| b.is_ascii_alphabetic());
        if is_type {
            return Ok(Some((word, after)));
        }
        return Err(format!(
            "{word:?} after {:?} is not a record type",
            skipped.join(" ")
        ));
    }
    Err(format!("no record type after {:?}", skipped.join(" ")))
}

/// A record's text: quoted strings (with parentheses across lines) joined,
/// or the rest of the line as written. `next` is the index of the first
/// line after it.
fn value(lines: &[&str], next: usize, text: &str) -> Result<(String, usize), String> {
    let text = text.trim();
    if text.starts_with(['"', '(']) {
        return strings(lines, next, text);
    }
    if text.is_empty() {
        return Err("a name without a record".to_owned());
    }
    Ok((text.to_owned(), next))
}

/// Quoted (or bare) strings, joined, taking more lines while a `(` is
/// open.
fn strings(lines: &[&str], mut next: usize, first: &str) -> Result<(String, usize), String> {
    let mut text = first.to_owned();
    loop {
        match scan(&text) {
            Ok(strings) => {
                let joined: Vec<u8> = strings.concat();
                return Ok((String::from_utf8_lossy(&joined).into_owned(), next));
            }
            Err(None) if next < lines.len() => {
                text.push('\n');
                text.push_str(lines[next]);
                next += 1;
            }
            Err(None) => return Err("a '(' that is never closed".to_owned()),
            Err(Some(reason)) => return Err(reason),
        }
    }
}

/// The character strings of a zone file's TXT data: quoted (with `\"`,
/// `\\` and `\DDD` escapes) or bare words, inside optional parentheses,
/// `;` starting a comment. `Err(None)` while a parenthesis is open.
fn scan(text: &str) -> Result<Vec<Vec<u8>>, Option<String>> {
    let bytes = text.as_bytes();
    let mut strings = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b'(' => {
                depth += 1;
                i += 1;
            }
            b')' => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| Some("a ')' without its '('".to_owned()))?;
                i += 1;
            }
            b';' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'"' => {
                let mut string = Vec::new();
                i += 1;
                loop {
                    match bytes.get(i) {
                        None | Some(b'\n') => {
                            return Err(Some("a quoted string that never ends".to_owned()))
                        }
                        Some(b'"') => {
                            i += 1;
                            break;
                        }
                        Some(b'\\') => {
                            let digits = bytes
                                .get(i + 1..i + 4)
                                .filter(|d| d.iter().all(u8::is_ascii_digit));
                            if let Some(digits) = digits {
                                let code = digits
                                    .iter()
                                    .fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
                                let byte = u8::try_from(code)
                                    .map_err(|_| Some(format!("\\{code} is not a byte")))?;
                                string.push(byte);
                                i += 4;
                            } else {
                                let escaped = bytes.get(i + 1).ok_or_else(|| {
                                    Some("a quoted string that never ends".to_owned())
                                })?;
                                string.push(*escaped);
                                i += 2;
                            }
                        }
                        Some(&b) => {
                            string.push(b);
                            i += 1;
                        }
                    }
                }
                strings.push(string);
            }
            _ => {
                let start = i;
                while i < bytes.len() && !b" \t\r\n();\"".contains(&bytes[i]) {
                    i += 1;
                }
                strings.push(bytes[start..i].to_vec());
            }
        }
    }
    if depth > 0 {
        return Err(None);
    }
    if strings.is_empty() {
        return Err(Some("no TXT data".to_owned()));
    }
    Ok(strings)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn syntax(text: &str) -> (usize, String) {
        match TxtFile::parse(text) {
            Err(Error::Syntax { line, reason }) => (line, reason),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_form_gives_the_record() {
        let file = TxtFile::parse(concat!(
            "# keys for the tests\n",
            "\n",
            "plain._domainkey.example.org v=DKIM1; k=ed25519; p=AAA\n",
            "quoted._domainkey.example.org \"v=DKIM1; k=rsa; \" \"p=BBB\"\n",
            "zone._domainkey.example.org. 3600 IN TXT \"v=DKIM1; k=rsa; p=CC\" \"C\" ; a comment\n",
            "Paren._domainkey.Example.org. IN TXT ( \"v=DKIM1; k=rsa; \"\n",
            "   \"p=DDD\" ) ; split across lines\n",
            "bare._domainkey.example.org TXT v=DKIM1;k=ed25519;p=EEE\n",
            "esc._domainkey.example.org IN TXT \"v=DKIM1; n=\\\"q\\\"\\059 p=F\"\n",
        ))
        .unwrap();
        let get = |name: &str| file.lookup(name);
        assert_eq!(
            get("plain._domainkey.example.org").unwrap(),
            "v=DKIM1; k=ed25519; p=AAA"
        );
        assert_eq!(
            get("quoted._domainkey.example.org").unwrap(),
            "v=DKIM1; k=rsa; p=BBB"
        );
        assert_eq!(
            get("zone._domainkey.example.org").unwrap(),
            "v=DKIM1; k=rsa; p=CCC"
        );
        assert_eq!(
            get("paren._domainkey.example.org.").unwrap(),
            "v=DKIM1; k=rsa; p=DDD"
        );
        assert_eq!(
            get("bare._domainkey.example.org").unwrap(),
            "v=DKIM1;k=ed25519;p=EEE"
        );
        assert_eq!(
            get("esc._domainkey.example.org").unwrap(),
            "v=DKIM1; n=\"q\"; p=F"
        );
        assert_eq!(get("other._domainkey.example.org"), None);
    }

    #[test]
    fn dig_short_output_answers_for_any_name_not_named() {
        let file =
            TxtFile::parse("\"v=DKIM1; k=rsa; \" \"p=XYZ\"\nnamed._domainkey.a.org p=N\n").unwrap();
        assert_eq!(
            file.lookup("sel._domainkey.b.org").unwrap(),
            "v=DKIM1; k=rsa; p=XYZ"
        );
        assert_eq!(file.lookup("named._domainkey.a.org").unwrap(), "p=N");
        // Several records at a name: the one holding a key.
        let file = TxtFile::parse("\"google-site-verification=abc\"\n\"v=DKIM1; p=K\"\n").unwrap();
        assert_eq!(file.lookup("x").unwrap(), "v=DKIM1; p=K");
    }

    #[test]
    fn dig_answers_with_a_cname_are_followed_and_other_types_skipped() {
        let file = TxtFile::parse(concat!(
            "s1._domainkey.example.org. 300 IN CNAME s1.dkim.provider.net.\n",
            "s1.dkim.provider.net. 300 IN TXT \"v=DKIM1; k=ed25519; p=PPP\"\n",
            "s1.dkim.provider.net. 300 IN RRSIG TXT 13 4 300 20260101000000 ...\n",
            "loop.example.org. CNAME loop.example.org.\n",
        ))
        .unwrap();
        assert_eq!(
            file.lookup("s1._domainkey.example.org").unwrap(),
            "v=DKIM1; k=ed25519; p=PPP"
        );
        assert_eq!(file.lookup("loop.example.org"), None);
    }

    #[test]
    fn broken_lines_are_named() {
        assert_eq!(syntax("# x\nlonely\n").0, 2);
        assert!(syntax("a.org \"unterminated\n").1.contains("never ends"));
        assert!(syntax("a.org IN TXT ( \"x\"\n").1.contains("never closed"));
        assert!(syntax("a.org 3600 IN \"x\"")
            .1
            .contains("not a record type"));
        assert!(syntax("a.org 3600 IN 60 IN").1.contains("no record type"));
        assert!(syntax("a.org IN TXT \"x\" )").1.contains("without its"));
        assert!(syntax("a.org IN TXT \"\\999\"").1.contains("not a byte"));
    }
}
