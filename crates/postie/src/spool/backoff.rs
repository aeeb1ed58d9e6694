//! When to try again, when to give up, and how long ago things were.

use std::time::Duration;

/// The wait after the first failed flush attempt.
const FIRST: u64 = 60;
/// The longest wait between attempts.
const LONGEST: u64 = 4 * 3600;
/// Messages older than this are given up after their next failure
/// (`--max-age`, `spool_max_age_days`).
pub(crate) const DEFAULT_MAX_AGE: Duration = Duration::from_secs(5 * 24 * 3600);

/// Seconds to wait after the `attempts`-th failed attempt: 1 minute,
/// doubling, at most 4 hours.
pub(crate) fn delay(attempts: u32) -> u64 {
    let doublings = attempts.saturating_sub(1).min(20);
    FIRST.saturating_mul(1 << doublings).min(LONGEST)
}

/// Seconds since the Unix epoch.
pub(crate) fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// `--max-age`: a number with a unit, `s`, `m`, `h` or `d` (`5d`, `36h`),
/// or a plain number of seconds.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&text[..i], c.to_ascii_lowercase()),
        _ => (text, 's'),
    };
    let scale = match unit {
        's' => 1.0,
        'm' => 60.0,
        'h' => 3600.0,
        'd' => 86400.0,
        _ => return Err(format!("{text:?}: the unit must be s, m, h or d")),
    };
    number
        .trim()
        .parse::<f64>()
        .ok()
        .and_then(|n| Duration::try_from_secs_f64(n * scale).ok())
        .ok_or_else(|| format!("{text:?} is not a duration like 5d, 36h, 90m or 3600"))
}

/// A span of seconds, roughly, in its largest unit: `42s`, `5m`, `3h`, `2d`.
pub(crate) fn span(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m", secs / 60),
        3600..86400 => format!("{}h", secs / 3600),
        _ => format!("{}d", secs / 86400),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn backoff_doubles_from_a_minute_to_four_hours() {
        let waits: Vec<u64> = (1..=10).map(delay).collect();
        assert_eq!(
            waits,
            [60, 120, 240, 480, 960, 1920, 3840, 7680, 14400, 14400]
        );
        assert_eq!(delay(0), 60);
        assert_eq!(delay(u32::MAX), 14400);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5d").unwrap(), DEFAULT_MAX_AGE);
        assert_eq!(parse_duration("36h").unwrap().as_secs(), 36 * 3600);
        assert_eq!(parse_duration("90m").unwrap().as_secs(), 5400);
        assert_eq!(parse_duration("3600").unwrap().as_secs(), 3600);
        assert_eq!(parse_duration("0").unwrap().as_secs(), 0);
        assert_eq!(parse_duration("1.5h").unwrap().as_secs(), 5400);
        for bad in ["", "d", "5w", "-1d", "x"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(span(59), "59s");
        assert_eq!(span(3599), "59m");
        assert_eq!(span(7200), "2h");
        assert_eq!(span(3 * 86400), "3d");
    }
}
