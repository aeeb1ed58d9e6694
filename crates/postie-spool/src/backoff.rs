//! When to try again, when to give up, and how long ago things were.

use std::time::Duration;

/// The wait after the first failed flush attempt.
const FIRST: u64 = 60;
/// The longest wait between attempts.
const LONGEST: u64 = 4 * 3600;
/// Messages older than this are given up after their next failure
/// (`--max-age`, `spool_max_age_days`).
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(5 * 24 * 3600);

/// Seconds to wait after the `attempts`-th failed attempt: 1 minute,
/// doubling, at most 4 hours.
pub fn delay(attempts: u32) -> u64 {
    let doublings = attempts.saturating_sub(1).min(20);
    FIRST.saturating_mul(1 << doublings).min(LONGEST)
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// A span of seconds, roughly, in its largest unit: `42s`, `5m`, `3h`, `2d`.
pub fn span(secs: u64) -> String {
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
    fn spans() {
        assert_eq!(DEFAULT_MAX_AGE, std::time::Duration::from_secs(5 * 86400));
        assert_eq!(span(59), "59s");
        assert_eq!(span(3599), "59m");
        assert_eq!(span(7200), "2h");
        assert_eq!(span(3 * 86400), "3d");
    }
}
