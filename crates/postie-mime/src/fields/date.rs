//! RFC 5322 date-time (§3.3): writing one in the sender's own zone, and
//! reading one back, including the obsolete forms of §4.3 and what real mail
//! has.

use crate::fields::excerpt::excerpt;
use crate::fields::lexer::{LexErrorKind, Lexer, Strictness};
use std::fmt;

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveTime, TimeZone, Timelike, Weekday};

/// Writes `when` as an RFC 5322 date-time, e.g. `Sat, 28 Nov 2026 18:41:39 +0000`,
/// in the zone `when` carries.
///
/// ```
/// use chrono::DateTime;
/// let when = DateTime::parse_from_rfc3339("2026-11-28T18:41:39-05:00").unwrap();
/// assert_eq!(postie_mime::date::format(&when), "Sat, 28 Nov 2026 18:41:39 -0500");
/// ```
pub fn format(when: &DateTime<FixedOffset>) -> String {
    let mut out = String::with_capacity(31);
    if !write_common(when, &mut out) {
        out = when.format(STRFTIME).to_string();
    }
    out
}

/// What [`format`] writes, in chrono's terms; used as it is for the dates
/// [`write_common`] leaves to it.
const STRFTIME: &str = "%a, %d %b %Y %H:%M:%S %z";

/// Writes `when` as [`STRFTIME`] would, digit by digit, for every date a
/// message gets (years 0 to 9999, no leap second, an offset of whole
/// minutes): a Date field per message should not parse a format string
/// each time. False, with `out` untouched, for the rest.
fn write_common(when: &DateTime<FixedOffset>, out: &mut String) -> bool {
    let local = when.naive_local();
    let offset = when.offset().local_minus_utc();
    let year = local.year();
    let (Some(day), Some(month)) = (
        DAYS.get(local.weekday().num_days_from_monday() as usize),
        month_index(local.month()).and_then(|i| MONTHS.get(i)),
    ) else {
        return false;
    };
    if !(0..=9999).contains(&year) || local.nanosecond() >= 1_000_000_000 || offset % 60 != 0 {
        return false;
    }
    let push_two = |out: &mut String, n: u32| {
        out.push(char::from(b'0' + (n / 10 % 10) as u8));
        out.push(char::from(b'0' + (n % 10) as u8));
    };
    let year = year.unsigned_abs();
    let minutes = offset.unsigned_abs() / 60;
    out.push_str(day.0);
    out.push_str(", ");
    push_two(out, local.day());
    out.push(' ');
    out.push_str(month.0);
    out.push(' ');
    push_two(out, year / 100);
    push_two(out, year % 100);
    out.push(' ');
    push_two(out, local.hour());
    out.push(':');
    push_two(out, local.minute());
    out.push(':');
    push_two(out, local.second());
    out.push_str(if offset < 0 { " -" } else { " +" });
    push_two(out, minutes / 60);
    push_two(out, minutes % 60);
    true
}

/// The current time in the local zone (the `TZ` variable or `/etc/localtime`).
pub fn now() -> DateTime<FixedOffset> {
    chrono::Local::now().fixed_offset()
}

/// [`format()`] of [`now()`]: the Date field for a message sent now.
///
/// A Date has whole seconds, so its text is the same for every message of
/// one second: each thread keeps the text of the last second it wrote, and
/// reads only the clock while that second lasts (working out the local
/// time and writing it costs several times more, on every message). The
/// zone is looked up again each new second, as [`now`] itself does.
///
/// ```
/// let text = postie_mime::date::now_text();
/// assert_eq!(postie_mime::date::parse(&text)?.timestamp(), postie_mime::date::now().timestamp());
/// # Ok::<(), postie_mime::date::DateError>(())
/// ```
pub fn now_text() -> String {
    thread_local! {
        /// The second (since the epoch) and its text.
        static LAST: std::cell::RefCell<(i64, String)> =
            const { std::cell::RefCell::new((i64::MIN, String::new())) };
    }
    let second = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .and_then(|since| i64::try_from(since.as_secs()).ok());
    let Some(second) = second else {
        // Before 1970, or past what a second count holds: no cache.
        return format(&now());
    };
    LAST.with_borrow_mut(|(kept, text)| {
        if *kept != second {
            let when = match chrono::Local.timestamp_opt(second, 0) {
                chrono::LocalResult::Single(when) => when.fixed_offset(),
                _ => now(),
            };
            *text = format(&when);
            *kept = second;
        }
        text.clone()
    })
}

/// Why a date did not parse: what was expected and at which byte.
///
/// ```
/// use postie_mime::date::{parse, DateErrorKind};
///
/// let err = parse("Sat, 28 Nox 2026 18:41:39 +0000").unwrap_err();
/// assert_eq!(err.position(), 8);
/// assert!(matches!(err.reason(), DateErrorKind::Unexpected { .. }));
/// assert_eq!(
///     err.to_string(),
///     r#"invalid date "Sat, 28 Nox 2026 18:41:39 +0000" at byte 8: unexpected "Nox" (expected a month name, Jan to Dec)"#
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid date {} at byte {position}: {reason}", excerpt(.input, *.position))]
pub struct DateError {
    input: String,
    position: usize,
    reason: DateErrorKind,
}

impl DateError {
    fn new(input: &str, position: usize, reason: DateErrorKind) -> DateError {
        DateError {
            input: input.to_owned(),
            position,
            reason,
        }
    }

    /// The text that was being parsed.
    pub fn input(&self) -> &str {
        &self.input
    }

    /// The byte offset in [`input`](DateError::input) where the problem was
    /// found: the start of the offending field, or the input's length when it
    /// ended too early.
    pub fn position(&self) -> usize {
        self.position
    }

    /// Why the date was refused.
    pub fn reason(&self) -> &DateErrorKind {
        &self.reason
    }
}

/// Why a date was refused; see [`DateError::reason`].
///
/// The first four kinds are about the shape of the text; the last three about
/// values that are well formed but impossible.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DateErrorKind {
    /// Something that cannot stand here: a word, a run of digits of the wrong
    /// length, or a single character.
    Unexpected {
        /// The text found (a whole word or number, or one character).
        found: String,
        /// What could have stood here, in words.
        expected: &'static str,
    },
    /// The input ended too early (an empty input ends at byte 0).
    UnexpectedEnd {
        /// What was still needed, in words.
        expected: &'static str,
    },
    /// A `(` with no closing `)`; the position is that of the `(`.
    UnclosedComment,
    /// A CR or LF that is not part of folding white space (a line break
    /// followed by a space or tab), or a CR without its LF.
    BareLineBreak,
    /// A number outside the range its field allows: hour 24, minute 60, a
    /// year before 1900, zone minutes of 60 or more.
    OutOfRange {
        /// The field, e.g. `"hour"`.
        field: &'static str,
        /// The value the text gives (for a year, after widening a two- or
        /// three-digit year).
        value: u32,
        /// The values allowed, in words, e.g. `"00 to 23"`.
        allowed: &'static str,
    },
    /// A day the month does not have: 30 February, 29 February in a common
    /// year, 31 April, day 0.
    NoSuchDay {
        /// The year.
        year: i32,
        /// The month, 1 to 12.
        month: u32,
        /// The day of the month as given.
        day: u32,
    },
    /// The day of the week the text names is not the day the date falls on
    /// (RFC 5322 §3.3: it "MUST be the day implied by the date").
    WeekdayMismatch {
        /// The day the text names.
        given: Weekday,
        /// The date.
        date: NaiveDate,
        /// The day the date falls on.
        actual: Weekday,
    },
}

impl fmt::Display for DateErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DateErrorKind::Unexpected { found, expected } => {
                write!(f, "unexpected {found:?} (expected {expected})")
            }
            DateErrorKind::UnexpectedEnd { expected } => {
                write!(f, "unexpected end of input (expected {expected})")
            }
            DateErrorKind::UnclosedComment => f.write_str("unbalanced '(' (no closing ')')"),
            DateErrorKind::BareLineBreak => {
                f.write_str("CR or LF that is not part of folding white space")
            }
            DateErrorKind::OutOfRange {
                field,
                value,
                allowed,
            } => write!(f, "{field} {value} is out of range (allowed: {allowed})"),
            DateErrorKind::NoSuchDay { year, month, day } => {
                let name = month_index(*month)
                    .and_then(|i| MONTHS.get(i))
                    .map_or("month", |m| m.1);
                write!(f, "{name} {year} has no day {day}")
            }
            DateErrorKind::WeekdayMismatch {
                given,
                date,
                actual,
            } => write!(
                f,
                "the text says {} but {} is a {}",
                weekday_name(*given),
                date.format("%-d %b %Y"),
                weekday_name(*actual)
            ),
        }
    }
}

/// Parses an RFC 5322 §3.3 date-time, its §4.3 obsolete forms and what real
/// mail has, keeping the zone the text gives.
///
/// Accepted, beyond the strict `Sat, 28 Nov 2026 18:41:39 +0000`:
///
/// - no day of the week (`28 Nov 2026 18:41:39 +0000`); full day names
///   (`Saturday`); a day name without its comma;
/// - a one- or two-digit day; a one-digit hour, minute or second; no
///   seconds (`18:41`);
/// - day, month and zone names in any case (`sat`, `NOV`, `gmt`), and full
///   month names (`November`);
/// - comments in parentheses wherever RFC 5322 allows CFWS, nested and with
///   quoted-pairs (`09(comment):55 : 06`), extra spaces and tabs, folding
///   (a CRLF or a bare LF followed by a space or tab) and a final line break;
/// - two-digit years (00–49 mean 2000–2049, 50–99 mean 1950–1999) and
///   three-digit years (1900 added), as §4.3 says;
/// - the zones `+hhmm` and `-hhmm` (hours 00–23, minutes 00–59), `UT`,
///   `GMT` and `UTC` (+0000), `EST` (-0500), `EDT` (-0400), `CST` (-0600),
///   `CDT` (-0500), `MST` (-0700), `MDT` (-0600), `PST` (-0800), `PDT`
///   (-0700), and the military letters `A`–`I`, `K`–`Z`, all read as +0000
///   because RFC 822 defined their signs backwards (§4.3);
/// - a second of 60 (a leap second), read as 59.
///
/// `-0000` gives an offset of zero like `+0000`, but in RFC 5322 it means the
/// sender's zone is unknown; the returned value cannot tell the two apart.
///
/// Refused, with the byte where the trouble starts: a missing or unsigned
/// zone, an unknown day, month or zone name (`CET`, `J`), a day the month
/// does not have (29 February only in leap years), hour 24, minute 60, second
/// 61, a year before 1900 or of one or more than four digits, a zone of 24
/// hours or more (RFC 5322 allows up to ±9959, but no zone is that far and
/// `FixedOffset` cannot hold it), text after the zone other than comments
/// (including a second zone, as in `+0100 CET`), an unclosed comment, a
/// line break not followed by a space or tab,
/// and a day of the week that is not the day the date falls on (RFC 5322
/// says it must be; a mismatch means the date is wrong, so it is an error
/// naming both days, [`DateErrorKind::WeekdayMismatch`]).
///
/// ```
/// use postie_mime::date::parse;
///
/// let when = parse("Fri, 21 Nov 1997 09(comment):   55  :  06 -0600")?;
/// assert_eq!(when.to_rfc3339(), "1997-11-21T09:55:06-06:00");
///
/// let when = parse("21 nov 97 9:55 EST (Eastern)")?;
/// assert_eq!(when.to_rfc3339(), "1997-11-21T09:55:00-05:00");
///
/// assert!(parse("Sat, 30 Feb 2026 12:00:00 +0000").is_err());
/// # Ok::<(), postie_mime::date::DateError>(())
/// ```
pub fn parse(input: &str) -> Result<DateTime<FixedOffset>, DateError> {
    let mut cur = Cursor {
        lex: Lexer::new(input, Strictness::Folding),
    };

    // [ day-of-week "," ]
    cur.cfws()?;
    let mut weekday = None;
    if cur.peek().is_some_and(|b| b.is_ascii_alphabetic()) {
        let (at, word) = cur.word();
        let Some(day) = day_name(word) else {
            return Err(cur.unexpected(at, "a day name (Mon to Sun) or a day of the month"));
        };
        weekday = Some((at, day));
        cur.cfws()?;
        if cur.peek() == Some(b',') {
            cur.lex.bump();
            cur.cfws()?;
        }
    }

    // date = day month year
    let (day_at, day) = cur.number(1, 2, "a day of the month, 1 or 2 digits")?;
    cur.cfws()?;
    let (month_at, word) = cur.word();
    let Some(month) = month_name(word) else {
        return Err(cur.unexpected(month_at, "a month name, Jan to Dec"));
    };
    cur.cfws()?;
    let (year_at, year) = cur.number(2, 4, "a year of 4 digits (or 2 or 3, obsolete)")?;
    let year = match cur.lex.pos - year_at {
        2 if year < 50 => year + 2000,
        2 | 3 => year + 1900,
        _ => year,
    };
    cur.cfws()?;

    // time-of-day = hour ":" minute [ ":" second ]
    let (hour_at, hour) = cur.number(1, 2, "an hour, 1 or 2 digits")?;
    cur.cfws()?;
    cur.literal(b':', "':' between hour and minute")?;
    cur.cfws()?;
    let (minute_at, minute) = cur.number(1, 2, "a minute, 1 or 2 digits")?;
    cur.cfws()?;
    let mut second = None;
    if cur.peek() == Some(b':') {
        cur.lex.bump();
        cur.cfws()?;
        second = Some(cur.number(1, 2, "a second, 1 or 2 digits")?);
        cur.cfws()?;
    }

    // zone, then nothing but CFWS
    let zone = cur.zone()?;
    cur.cfws()?;
    if cur.lex.pos < input.len() {
        return Err(cur.unexpected(cur.lex.pos, "the end of the date after the zone"));
    }

    // The text has the right shape; now the values.
    let out_of_range = |at, field, value, allowed| {
        DateError::new(
            input,
            at,
            DateErrorKind::OutOfRange {
                field,
                value,
                allowed,
            },
        )
    };
    if year < 1900 {
        return Err(out_of_range(year_at, "year", year, "1900 or later"));
    }
    let year =
        i32::try_from(year).map_err(|_| out_of_range(year_at, "year", year, "1900 to 9999"))?;
    let Some(date) = NaiveDate::from_ymd_opt(year, month, day) else {
        return Err(DateError::new(
            input,
            day_at,
            DateErrorKind::NoSuchDay { year, month, day },
        ));
    };
    if hour > 23 {
        return Err(out_of_range(hour_at, "hour", hour, "00 to 23"));
    }
    if minute > 59 {
        return Err(out_of_range(minute_at, "minute", minute, "00 to 59"));
    }
    let second = match second {
        Some((at, s)) if s > 60 => return Err(out_of_range(at, "second", s, "00 to 60")),
        // A leap second: chrono would need a fraction, mail has none.
        Some((_, s)) => s.min(59),
        None => 0,
    };
    let offset = zone.offset(input)?;
    if let Some((at, given)) = weekday {
        let actual = date.weekday();
        if given != actual {
            return Err(DateError::new(
                input,
                at,
                DateErrorKind::WeekdayMismatch {
                    given,
                    date,
                    actual,
                },
            ));
        }
    }
    let time = NaiveTime::from_hms_opt(hour, minute, second)
        .ok_or_else(|| out_of_range(hour_at, "time", hour, "00:00:00 to 23:59:60"))?;
    offset
        .from_local_datetime(&date.and_time(time))
        .single()
        .ok_or_else(|| out_of_range(year_at, "year", year.unsigned_abs(), "1900 to 9999"))
}

/// Where the parser stands in the text: the shared [`Lexer`], reading
/// line breaks as folding only ([`Strictness::Folding`]).
struct Cursor<'a> {
    lex: Lexer<'a>,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.lex.peek_byte()
    }

    fn error(&self, at: usize, reason: DateErrorKind) -> DateError {
        DateError::new(self.lex.input(), at, reason)
    }

    /// `expected` was wanted at `at`: report what stands there instead (a
    /// whole word or number, else one character) or the end of the input.
    fn unexpected(&self, at: usize, expected: &'static str) -> DateError {
        let rest = self.lex.input().get(at..).unwrap_or_default();
        let token: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric())
            .take(24)
            .collect();
        let found = if token.is_empty() {
            match rest.chars().next() {
                Some(c) => c.to_string(),
                None => return self.error(at, DateErrorKind::UnexpectedEnd { expected }),
            }
        } else {
            token
        };
        self.error(at, DateErrorKind::Unexpected { found, expected })
    }

    /// Skips CFWS: spaces, tabs, folding line breaks and comments (nested,
    /// with quoted-pairs). A line break must be followed by a space or tab,
    /// or end the input.
    fn cfws(&mut self) -> Result<(), DateError> {
        match self.lex.cfws(None) {
            Ok(_) => Ok(()),
            Err(e) => Err(self.error(
                e.at,
                match e.kind {
                    LexErrorKind::UnclosedComment => DateErrorKind::UnclosedComment,
                    // The folding reader refuses nothing else; a date has
                    // no quoted-strings, and a comment's content is not
                    // looked at.
                    LexErrorKind::BareLineBreak
                    | LexErrorKind::UnclosedQuote
                    | LexErrorKind::Control(_) => DateErrorKind::BareLineBreak,
                },
            )),
        }
    }

    /// A run of ASCII letters (maybe empty), with where it starts.
    fn word(&mut self) -> (usize, &str) {
        let start = self.lex.pos;
        (start, self.lex.run(|c| c.is_ascii_alphabetic()))
    }

    /// A run of `min..=max` ASCII digits, with where it starts.
    fn number(
        &mut self,
        min: usize,
        max: usize,
        expected: &'static str,
    ) -> Result<(usize, u32), DateError> {
        let start = self.lex.pos;
        let digits = self.lex.run(|c| c.is_ascii_digit()).as_bytes();
        if digits.len() < min || digits.len() > max {
            return Err(self.unexpected(start, expected));
        }
        // At most four digits here, so no overflow.
        let value = digits
            .iter()
            .fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
        Ok((start, value))
    }

    fn literal(&mut self, byte: u8, expected: &'static str) -> Result<(), DateError> {
        if self.peek() == Some(byte) {
            self.lex.bump();
            Ok(())
        } else {
            Err(self.unexpected(self.lex.pos, expected))
        }
    }

    /// `zone = (FWS ("+" / "-") 4DIGIT) / obs-zone`.
    fn zone(&mut self) -> Result<Zone, DateError> {
        const EXPECTED: &str = "a zone: +hhmm, -hhmm or a zone name such as GMT";
        let at = self.lex.pos;
        match self.peek() {
            Some(sign @ (b'+' | b'-')) => {
                self.lex.bump();
                let (_, hhmm) = self.number(4, 4, "four digits (hhmm) after the zone's sign")?;
                Ok(Zone::Numeric {
                    at,
                    negative: sign == b'-',
                    hours: hhmm / 100,
                    minutes: hhmm % 100,
                })
            }
            Some(b) if b.is_ascii_alphabetic() => {
                let (_, word) = self.word();
                match zone_name(word) {
                    Some(hours) => Ok(Zone::Named { at, hours }),
                    None => Err(self.unexpected(at, EXPECTED)),
                }
            }
            _ => Err(self.unexpected(at, EXPECTED)),
        }
    }
}

/// A zone as the text gives it.
enum Zone {
    /// `+hhmm` or `-hhmm`, not yet checked.
    Numeric {
        at: usize,
        negative: bool,
        hours: u32,
        minutes: u32,
    },
    /// An obsolete name, as whole hours east of UT.
    Named { at: usize, hours: i32 },
}

impl Zone {
    fn offset(&self, input: &str) -> Result<FixedOffset, DateError> {
        let (at, seconds) = match *self {
            Zone::Numeric {
                at,
                negative,
                hours,
                minutes,
            } => {
                let range = |field, value, allowed| {
                    DateError::new(
                        input,
                        at,
                        DateErrorKind::OutOfRange {
                            field,
                            value,
                            allowed,
                        },
                    )
                };
                if minutes > 59 {
                    return Err(range("zone minutes", minutes, "00 to 59"));
                }
                if hours > 23 {
                    return Err(range("zone hours", hours, "00 to 23"));
                }
                // Both bounded above, so the arithmetic cannot overflow.
                let seconds = i32::try_from((hours * 60 + minutes) * 60).unwrap_or(0);
                (at, if negative { -seconds } else { seconds })
            }
            Zone::Named { at, hours } => (at, hours * 3600),
        };
        FixedOffset::east_opt(seconds).ok_or_else(|| {
            DateError::new(
                input,
                at,
                DateErrorKind::OutOfRange {
                    field: "zone offset",
                    value: seconds.unsigned_abs(),
                    allowed: "-2359 to +2359",
                },
            )
        })
    }
}

/// Month abbreviations and full names, January first.
const MONTHS: [(&str, &str); 12] = [
    ("Jan", "January"),
    ("Feb", "February"),
    ("Mar", "March"),
    ("Apr", "April"),
    ("May", "May"),
    ("Jun", "June"),
    ("Jul", "July"),
    ("Aug", "August"),
    ("Sep", "September"),
    ("Oct", "October"),
    ("Nov", "November"),
    ("Dec", "December"),
];

/// Day abbreviations and full names, Monday first (as `Weekday` numbers them).
const DAYS: [(&str, &str, Weekday); 7] = [
    ("Mon", "Monday", Weekday::Mon),
    ("Tue", "Tuesday", Weekday::Tue),
    ("Wed", "Wednesday", Weekday::Wed),
    ("Thu", "Thursday", Weekday::Thu),
    ("Fri", "Friday", Weekday::Fri),
    ("Sat", "Saturday", Weekday::Sat),
    ("Sun", "Sunday", Weekday::Sun),
];

fn month_index(month: u32) -> Option<usize> {
    usize::try_from(month).ok()?.checked_sub(1)
}

fn month_name(word: &str) -> Option<u32> {
    let index = MONTHS.iter().position(|(abbr, full)| {
        word.eq_ignore_ascii_case(abbr) || word.eq_ignore_ascii_case(full)
    })?;
    u32::try_from(index + 1).ok()
}

fn day_name(word: &str) -> Option<Weekday> {
    DAYS.iter()
        .find(|(abbr, full, _)| word.eq_ignore_ascii_case(abbr) || word.eq_ignore_ascii_case(full))
        .map(|d| d.2)
}

fn weekday_name(day: Weekday) -> &'static str {
    DAYS.iter().find(|d| d.2 == day).map_or("day", |d| d.1)
}

/// An obsolete zone name (RFC 5322 §4.3), as whole hours east of UT.
fn zone_name(word: &str) -> Option<i32> {
    const NAMES: [(&str, i32); 11] = [
        ("UT", 0),
        ("GMT", 0),
        // Not in RFC 5322, but common in real mail.
        ("UTC", 0),
        ("EST", -5),
        ("EDT", -4),
        ("CST", -6),
        ("CDT", -5),
        ("MST", -7),
        ("MDT", -6),
        ("PST", -8),
        ("PDT", -7),
    ];
    if let Some(&(_, hours)) = NAMES
        .iter()
        .find(|(name, _)| word.eq_ignore_ascii_case(name))
    {
        return Some(hours);
    }
    // Military zones: any single letter but J. RFC 822 gave their signs
    // backwards, so RFC 5322 says to read them as -0000 (zero, zone unknown).
    match word.as_bytes() {
        [b] if b.is_ascii_alphabetic() && !b.eq_ignore_ascii_case(&b'J') => Some(0),
        _ => None,
    }
}

#[cfg(test)]
mod format_tests {
    use super::*;
    use proptest::prelude::*;

    /// [`format`] as it was: chrono's strftime.
    fn strftime(when: &DateTime<FixedOffset>) -> String {
        when.format(STRFTIME).to_string()
    }

    fn at(seconds: i64, nanos: u32, offset: i32) -> Option<DateTime<FixedOffset>> {
        let utc = DateTime::from_timestamp(seconds, nanos)?;
        Some(utc.with_timezone(&FixedOffset::east_opt(offset)?))
    }

    #[test]
    fn edges_write_what_strftime_writes() {
        // Year 0 and 9999 at both ends, years past them (left to chrono),
        // zones of whole hours, minutes and seconds, a leap second.
        let seconds = [
            -62_167_219_200, // 0000-01-01T00:00:00Z
            -62_167_219_201,
            253_402_300_799, // 9999-12-31T23:59:59Z
            253_402_300_800,
            0,
            1_751_364_000,
            -1,
            951_782_400, // 2000-02-29
        ];
        for s in seconds {
            for offset in [
                0,
                3600,
                -3600,
                -5 * 3600,
                5 * 3600 + 45 * 60,
                -(9 * 3600 + 30 * 60),
                86_399,
                -86_399,
                61,
                -59,
            ] {
                for nanos in [0, 999_999_999, 1_500_000_000] {
                    if let Some(when) = at(s, nanos, offset) {
                        assert_eq!(format(&when), strftime(&when), "{s} {nanos} {offset}");
                    }
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn any_date_writes_what_strftime_writes(
            seconds in -8_334_601_228_800i64..8_210_266_876_799,
            nanos in prop_oneof![Just(0u32), 0u32..2_000_000_000],
            offset in prop_oneof![(-23i32..=23).prop_map(|h| h * 3600), (-1439i32..=1439).prop_map(|m| m * 60), -86_399i32..86_399],
        ) {
            if let Some(when) = at(seconds, nanos, offset) {
                prop_assert_eq!(format(&when), strftime(&when));
            }
        }

        #[test]
        fn dates_of_this_era_write_what_strftime_writes(
            seconds in 0i64..4_102_444_800,
            offset in (-1439i32..=1439).prop_map(|m| m * 60),
        ) {
            let when = at(seconds, 0, offset).unwrap();
            prop_assert_eq!(format(&when), strftime(&when));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn now_text_is_the_formatted_now_and_follows_the_clock() {
        let mut checked = 0;
        for _ in 0..1000 {
            let before = now();
            let text = now_text();
            let after = now();
            if before.timestamp() == after.timestamp() {
                assert_eq!(text, format(&before));
                checked += 1;
                if checked == 2 {
                    break;
                }
            }
        }
        assert_eq!(checked, 2, "the clock never held still for a second");
        // Across a second's change, the text changes with it.
        let first = now_text();
        std::thread::sleep(std::time::Duration::from_millis(1100));
        assert_ne!(now_text(), first);
    }

    fn reason(input: &str) -> DateErrorKind {
        parse(input).unwrap_err().reason().clone()
    }

    #[test]
    fn strict_form_keeps_the_zone() {
        let when = parse("Sat, 28 Nov 2026 18:41:39 -0500").unwrap();
        assert_eq!(when.to_rfc3339(), "2026-11-28T18:41:39-05:00");
        assert_eq!(when.offset().local_minus_utc(), -5 * 3600);
        assert_eq!(format(&when), "Sat, 28 Nov 2026 18:41:39 -0500");
    }

    #[test]
    fn unknown_zone_and_military_letters_are_zero() {
        for text in ["-0000", "+0000", "UT", "GMT", "Z", "a", "N", "y"] {
            let when = parse(&format!("28 Nov 2026 18:41:39 {text}")).unwrap();
            assert_eq!(when.offset().local_minus_utc(), 0, "{text}");
        }
        assert_eq!(
            parse("28 Nov 2026 18:41:39 pst")
                .unwrap()
                .offset()
                .local_minus_utc(),
            -8 * 3600
        );
    }

    #[test]
    fn leap_second_reads_as_59() {
        let when = parse("Wed, 31 Dec 2025 23:59:60 +0000").unwrap();
        assert_eq!(when.to_rfc3339(), "2025-12-31T23:59:59+00:00");
    }

    #[test]
    fn obsolete_years() {
        let year = |y: &str| {
            parse(&format!("1 Jan {y} 00:00 +0000"))
                .unwrap()
                .date_naive()
                .year()
        };
        assert_eq!(year("00"), 2000);
        assert_eq!(year("49"), 2049);
        assert_eq!(year("50"), 1950);
        assert_eq!(year("99"), 1999);
        assert_eq!(year("000"), 1900);
        assert_eq!(year("126"), 2026);
        assert_eq!(year("1900"), 1900);
    }

    #[test]
    fn error_accessors_and_message() {
        let input = "Sat, 28 Nov 2026 24:00:00 +0000";
        let err = parse(input).unwrap_err();
        assert_eq!(err.input(), input);
        assert_eq!(err.position(), 17);
        assert_eq!(
            err.reason(),
            &DateErrorKind::OutOfRange {
                field: "hour",
                value: 24,
                allowed: "00 to 23"
            }
        );
        assert_eq!(
            err.to_string(),
            r#"invalid date "Sat, 28 Nov 2026 24:00:00 +0000" at byte 17: hour 24 is out of range (allowed: 00 to 23)"#
        );
    }

    #[test]
    fn weekday_mismatch_names_both_days() {
        let err = parse("Fri, 28 Nov 2026 18:41:39 +0000").unwrap_err();
        assert_eq!(err.position(), 0);
        assert_eq!(
            err.reason(),
            &DateErrorKind::WeekdayMismatch {
                given: Weekday::Fri,
                date: NaiveDate::from_ymd_opt(2026, 11, 28).unwrap(),
                actual: Weekday::Sat,
            }
        );
        assert!(err
            .to_string()
            .ends_with("the text says Friday but 28 Nov 2026 is a Saturday"));
    }

    #[test]
    fn kinds() {
        assert_eq!(
            reason(""),
            DateErrorKind::UnexpectedEnd {
                expected: "a day of the month, 1 or 2 digits"
            }
        );
        assert_eq!(
            reason("28 Nov 2026 18:41:39 +0000 (open"),
            DateErrorKind::UnclosedComment
        );
        assert_eq!(
            reason("28 Nov 2026\r\n18:41:39 +0000"),
            DateErrorKind::BareLineBreak
        );
        assert_eq!(
            reason("29 Feb 2100 00:00 +0000"),
            DateErrorKind::NoSuchDay {
                year: 2100,
                month: 2,
                day: 29
            }
        );
        assert_eq!(
            reason("28 Nov 2026 18:41:39 CET"),
            DateErrorKind::Unexpected {
                found: "CET".into(),
                expected: "a zone: +hhmm, -hhmm or a zone name such as GMT"
            }
        );
    }

    #[test]
    fn non_ascii_is_reported_whole() {
        let err = parse("28 Növ 2026 18:41:39 +0000").unwrap_err();
        assert_eq!(err.position(), 3);
        assert_eq!(
            err.reason(),
            &DateErrorKind::Unexpected {
                found: "Növ".into(),
                expected: "a month name, Jan to Dec"
            }
        );
        // A quoted-pair may escape a multi-byte character.
        let when = parse("28 Nov 2026 18:41:39 +0000 (\\é \\) a quoted pair)").unwrap();
        assert_eq!(when.to_rfc3339(), "2026-11-28T18:41:39+00:00");
        let err = parse("28 Nov 2026 18:41:39 +0000 é").unwrap_err();
        assert_eq!(err.position(), 27);
    }

    #[test]
    fn deep_comments_and_long_inputs() {
        let deep = format!(
            "28 Nov 2026 18:41:39 +0000 {}{}",
            "(".repeat(100_000),
            ")".repeat(100_000)
        );
        assert!(parse(&deep).is_ok());
        let unclosed = format!("28 Nov 2026 18:41:39 +0000 {}", "(".repeat(100_000));
        assert_eq!(parse(&unclosed).unwrap_err().position(), 27);

        let digits = "9".repeat(10_000);
        let err = parse(&format!("{digits} Nov 2026 18:41:39 +0000")).unwrap_err();
        assert_eq!(err.position(), 0);
        // The message shows the part of a long input around the error.
        let long = format!("28 Nov 2026 18:41:39 +0000 {}x", " ".repeat(200));
        let err = parse(&long).unwrap_err();
        assert_eq!(err.position(), long.len() - 1);
        let message = err.to_string();
        assert!(message.starts_with("invalid date …\""), "{message}");
        assert!(message.len() < 200, "{message}");
    }
}
