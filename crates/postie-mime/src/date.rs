//! RFC 5322 date-time (§3.3), written in the sender's own zone.

use chrono::{DateTime, FixedOffset};

/// Writes `when` as an RFC 5322 date-time, e.g. `Sat, 28 Nov 2026 18:41:39 +0000`,
/// in the zone `when` carries.
///
/// ```
/// use chrono::DateTime;
/// let when = DateTime::parse_from_rfc3339("2026-11-28T18:41:39-05:00").unwrap();
/// assert_eq!(postie_mime::date::format(&when), "Sat, 28 Nov 2026 18:41:39 -0500");
/// ```
pub fn format(when: &DateTime<FixedOffset>) -> String {
    when.format("%a, %d %b %Y %H:%M:%S %z").to_string()
}

/// The current time in the local zone (the `TZ` variable or `/etc/localtime`).
pub fn now() -> DateTime<FixedOffset> {
    chrono::Local::now().fixed_offset()
}
