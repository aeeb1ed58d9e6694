//! The date parser against a table of cases (`data/dates.txt`), round trips
//! through `format`, and pseudo-random garbage that must not panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod tables;

use chrono::{DateTime, FixedOffset, NaiveDate, TimeZone};
use postie_mime::date::{format, parse};
use tables::unescape;

const TABLE: &str = include_str!("data/dates.txt");

enum Expected {
    Date(DateTime<FixedOffset>),
    Error(Option<usize>),
}

/// The table's cases: line number, input, expected.
fn cases() -> Vec<(usize, String, Expected)> {
    let mut cases = Vec::new();
    for (index, line) in TABLE.lines().enumerate() {
        let number = index + 1;
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (input, expected) = line
            .rsplit_once('\t')
            .unwrap_or_else(|| panic!("line {number}: no tab in {line:?}"));
        let input = unescape(input).unwrap_or_else(|e| panic!("line {number}: {e}"));
        let expected = if expected == "error" {
            Expected::Error(None)
        } else if let Some(at) = expected.strip_prefix("error@") {
            Expected::Error(Some(
                at.parse()
                    .unwrap_or_else(|e| panic!("line {number}: bad position {at:?}: {e}")),
            ))
        } else {
            Expected::Date(
                DateTime::parse_from_rfc3339(expected)
                    .unwrap_or_else(|e| panic!("line {number}: bad timestamp {expected:?}: {e}")),
            )
        };
        cases.push((number, input, expected));
    }
    cases
}

#[test]
fn table() {
    let cases = cases();
    let mut failures = Vec::new();
    for (number, input, expected) in &cases {
        let got = parse(input);
        match (expected, &got) {
            // Compare the RFC 3339 text: `==` on DateTime ignores the offset.
            (Expected::Date(want), Ok(have)) if want.to_rfc3339() == have.to_rfc3339() => {}
            (Expected::Error(None), Err(_)) => {}
            (Expected::Error(Some(at)), Err(e)) if e.position() == *at => {}
            (Expected::Date(want), _) => failures.push(format!(
                "line {number}: {input:?}: want {}, got {got:?}",
                want.to_rfc3339()
            )),
            (Expected::Error(at), _) => failures.push(format!(
                "line {number}: {input:?}: want an error at {at:?}, got {}",
                match &got {
                    Ok(t) => t.to_rfc3339(),
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
    let errors = cases
        .iter()
        .filter(|c| matches!(c.2, Expected::Error(_)))
        .count();
    assert!(cases.len() >= 180, "only {} cases", cases.len());
    assert!(errors >= 60, "only {errors} error cases");
}

/// A small deterministic generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `low..=high`.
    fn range(&mut self, low: i64, high: i64) -> i64 {
        let span = u64::try_from(high - low + 1).unwrap();
        low + i64::try_from(self.next() % span).unwrap()
    }
}

fn days_in_month(year: i32, month: u32) -> u32 {
    let (next_year, next_month) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    let first = NaiveDate::from_ymd_opt(year, month, 1).unwrap();
    let next = NaiveDate::from_ymd_opt(next_year, next_month, 1).unwrap();
    u32::try_from((next - first).num_days()).unwrap()
}

#[test]
fn round_trip_through_format() {
    let mut rng = Rng(0x5EED_DA7E);
    for _ in 0..2000 {
        let year = i32::try_from(rng.range(1900, 9999)).unwrap();
        let month = u32::try_from(rng.range(1, 12)).unwrap();
        let day = u32::try_from(rng.range(1, i64::from(days_in_month(year, month)))).unwrap();
        let hour = u32::try_from(rng.range(0, 23)).unwrap();
        let minute = u32::try_from(rng.range(0, 59)).unwrap();
        let second = u32::try_from(rng.range(0, 59)).unwrap();
        // Whole minutes: the written form has no seconds in its zone.
        let offset_minutes = i32::try_from(rng.range(-(23 * 60 + 59), 23 * 60 + 59)).unwrap();
        let offset = FixedOffset::east_opt(offset_minutes * 60).unwrap();
        let local = NaiveDate::from_ymd_opt(year, month, day)
            .unwrap()
            .and_hms_opt(hour, minute, second)
            .unwrap();
        let when = offset.from_local_datetime(&local).single().unwrap();

        let text = format(&when);
        let back = parse(&text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        assert_eq!(back, when, "{text:?}");
        assert_eq!(back.offset(), when.offset(), "{text:?}");
        assert_eq!(back.to_rfc3339(), when.to_rfc3339(), "{text:?}");
    }
}

const ALPHABET: &[u8] =
    b"0123456789 :,+-()\tABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz\r\n";

fn pick(rng: &mut Rng) -> char {
    let index = usize::try_from(rng.next() % ALPHABET.len() as u64).unwrap();
    char::from(ALPHABET[index])
}

/// Whatever comes back must be consistent: an error names a position inside
/// the input, and a date prints and parses back to itself.
fn check_no_panic(input: &str) {
    match parse(input) {
        Ok(when) => {
            let again = parse(&format(&when)).unwrap_or_else(|e| panic!("{input:?}: {e}"));
            assert_eq!(again.to_rfc3339(), when.to_rfc3339(), "{input:?}");
        }
        Err(e) => {
            assert!(e.position() <= input.len(), "{input:?}: {e}");
            assert!(input.is_char_boundary(e.position()), "{input:?}: {e}");
            let _ = e.to_string();
        }
    }
}

#[test]
fn random_strings_do_not_panic() {
    let mut rng = Rng(0x0DD_BA11);
    for _ in 0..4000 {
        let len = usize::try_from(rng.range(0, 48)).unwrap();
        let input: String = (0..len).map(|_| pick(&mut rng)).collect();
        check_no_panic(&input);
    }
}

#[test]
fn mutated_dates_do_not_panic() {
    // Random strings rarely get far into the grammar; small edits to valid
    // dates reach every field and every check.
    let valid: Vec<String> = cases()
        .into_iter()
        .filter(|c| matches!(c.2, Expected::Date(_)))
        .map(|c| c.1)
        .collect();
    let mut rng = Rng(0xFACE_FEED);
    for _ in 0..4000 {
        let index = usize::try_from(rng.next() % valid.len() as u64).unwrap();
        let mut chars: Vec<char> = valid[index].chars().collect();
        for _ in 0..rng.range(1, 3) {
            let at = usize::try_from(rng.range(0, chars.len() as i64)).unwrap();
            match rng.range(0, 2) {
                0 if at < chars.len() => chars[at] = pick(&mut rng),
                1 if at < chars.len() => {
                    chars.remove(at);
                }
                _ => chars.insert(at, pick(&mut rng)),
            }
        }
        let input: String = chars.into_iter().collect();
        check_no_panic(&input);
    }
}
