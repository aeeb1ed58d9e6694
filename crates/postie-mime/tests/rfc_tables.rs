//! The RFCs' own examples as tables of cases, one a line in a data file:
//! RFC 5322 Appendix A addresses through `parse_address_list`
//! (`data/rfc5322_addresses.txt`), RFC 2047 §8 encoded-words through
//! `decode_rfc2047` (`data/rfc2047.txt`), and RFC 2231 parameters through
//! `ContentType::parse` and `ContentDisposition::parse`
//! (`data/rfc2231.txt`). Each file's header comment gives its format.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod tables;

use postie_mime::address::{parse_address_list, Address, Mailbox};
use postie_mime::content_type::{ContentDisposition, ContentType};
use postie_mime::decode::decode_rfc2047;
use tables::unescape;

const ADDRESSES: &str = include_str!("data/rfc5322_addresses.txt");
const RFC2047: &str = include_str!("data/rfc2047.txt");
const RFC2231: &str = include_str!("data/rfc2231.txt");

/// The cases of a table: line number and its `columns` tab-separated
/// columns, unescaped. Empty lines and `#` comments are skipped; a line
/// with another number of columns is a mistake in the table.
fn rows(table: &str, columns: usize) -> Vec<(usize, Vec<String>)> {
    let mut rows = Vec::new();
    for (index, line) in table.lines().enumerate() {
        let number = index + 1;
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<String> = line
            .split('\t')
            .map(|field| unescape(field).unwrap_or_else(|e| panic!("line {number}: {e}")))
            .collect();
        assert_eq!(
            fields.len(),
            columns,
            "line {number}: {columns} tab-separated columns wanted in {line:?}"
        );
        rows.push((number, fields));
    }
    rows
}

// ------------------------------------------------------------ RFC 5322

/// A mailbox as the address table writes it: `name <local@domain>`, or
/// `<local@domain>` without a name, `<local>` without a domain.
fn render_mailbox(mailbox: &Mailbox) -> String {
    let mut addr = mailbox.local().to_owned();
    if let Some(domain) = mailbox.domain() {
        addr.push('@');
        addr.push_str(domain);
    }
    match mailbox.name() {
        Some(name) => format!("{name} <{addr}>"),
        None => format!("<{addr}>"),
    }
}

/// A list as the address table writes it: entries separated by ` | `, a
/// group as `name: entry, entry;` (`name:;` when empty), an empty list as
/// `(empty)`.
fn render_list(list: &[Address]) -> String {
    if list.is_empty() {
        return "(empty)".to_owned();
    }
    let entries: Vec<String> = list
        .iter()
        .map(|address| match address {
            Address::Mailbox(mailbox) => render_mailbox(mailbox),
            Address::Group { name, members } if members.is_empty() => format!("{name}:;"),
            Address::Group { name, members } => {
                let members: Vec<String> = members.iter().map(render_mailbox).collect();
                format!("{name}: {};", members.join(", "))
            }
        })
        .collect();
    entries.join(" | ")
}

#[test]
fn rfc5322_address_table() {
    let rows = rows(ADDRESSES, 2);
    let mut failures = Vec::new();
    let mut errors = 0;
    for (number, fields) in &rows {
        let (input, expected) = (&fields[0], &fields[1]);
        let got = parse_address_list(input);
        let want_error = if expected == "error" {
            Some(None)
        } else if let Some(at) = expected.strip_prefix("error@") {
            let at: usize = at
                .parse()
                .unwrap_or_else(|e| panic!("line {number}: bad position {at:?}: {e}"));
            Some(Some(at))
        } else {
            None
        };
        if want_error.is_some() {
            errors += 1;
        }
        match (&want_error, &got) {
            (None, Ok(list)) => {
                let have = render_list(list);
                if have != *expected {
                    failures.push(format!(
                        "line {number}: {input:?}: want {expected:?}, got {have:?}"
                    ));
                    continue;
                }
                // What the parser read, written back, reads the same.
                let written: Vec<String> = list.iter().map(ToString::to_string).collect();
                let written = written.join(", ");
                match parse_address_list(&written) {
                    Ok(again) if again == *list => {}
                    again => failures.push(format!(
                        "line {number}: {input:?}: written back as {written:?}, \
                         which reads as {again:?}"
                    )),
                }
            }
            (Some(None), Err(_)) => {}
            (Some(Some(at)), Err(e)) if e.position() == *at => {}
            (None, Err(e)) => failures.push(format!(
                "line {number}: {input:?}: want {expected:?}, got {e} (position {})",
                e.position()
            )),
            (Some(_), _) => failures.push(format!(
                "line {number}: {input:?}: want {expected}, got {}",
                match &got {
                    Ok(list) => render_list(list),
                    Err(e) => format!("{e} (position {})", e.position()),
                }
            )),
        }
        if let Err(e) = &got {
            assert_eq!(e.input(), input, "line {number}");
            assert!(e.position() <= input.len(), "line {number}");
            assert!(e.to_string().contains("at byte"), "line {number}: {e}");
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // Guard against a truncated or mangled table.
    assert!(rows.len() >= 140, "only {} cases", rows.len());
    assert!(errors >= 35, "only {errors} error cases");
}

// ------------------------------------------------------------ RFC 2047

#[test]
fn rfc2047_table() {
    let rows = rows(RFC2047, 2);
    let mut failures = Vec::new();
    for (number, fields) in &rows {
        let (input, expected) = (&fields[0], &fields[1]);
        let got = decode_rfc2047(input);
        if got != *expected {
            failures.push(format!(
                "line {number}: {input:?}: want {expected:?}, got {got:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(rows.len() >= 40, "only {} cases", rows.len());
}

// ------------------------------------------------------------ RFC 2231

#[test]
fn rfc2231_table() {
    let rows = rows(RFC2231, 3);
    let mut failures = Vec::new();
    for (number, fields) in &rows {
        let (kind, input, expected) = (&fields[0], &fields[1], &fields[2]);
        let (name, want) = expected
            .split_once('=')
            .unwrap_or_else(|| panic!("line {number}: no '=' in {expected:?}"));
        let got = match kind.as_str() {
            "type" => ContentType::parse(input)
                .map(|ct| ct.param(name).map(str::to_owned))
                .map_err(|e| e.to_string()),
            "disposition" => ContentDisposition::parse(input)
                .map(|cd| cd.param(name).map(str::to_owned))
                .map_err(|e| e.to_string()),
            other => panic!("line {number}: unknown header {other:?}"),
        };
        if got != Ok(Some(want.to_owned())) {
            failures.push(format!(
                "line {number}: {kind} {input:?}: want {name}={want:?}, got {got:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(rows.len() >= 35, "only {} cases", rows.len());
}
