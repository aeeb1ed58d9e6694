//! The send rate a pool keeps to, shared by every thread or task that uses
//! it: at most so many messages per period, as a provider's sending limit
//! says ("100 messages a minute"). Sans-IO: the time is passed in and the
//! answer is how long to wait, so both drivers' pools pace alike (the
//! blocking one sleeps, the tokio one awaits a timer).
//!
//! The messages are spaced evenly (a generic cell rate: each send reserves
//! the next slot, one interval after the last), so no window of the period
//! ever holds more than the limit, and waiting senders go in the order they
//! asked.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// At most `messages` per `period`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// How many messages.
    pub messages: u32,
    /// In how long.
    pub period: Duration,
}

impl RateLimit {
    /// At most `messages` (at least 1) per `period`.
    pub fn new(messages: u32, period: Duration) -> Self {
        Self {
            messages: messages.max(1),
            period,
        }
    }

    /// The time between two sends, rounded up to the nanosecond so that
    /// `messages` intervals never add up to less than the period.
    fn interval(self) -> Duration {
        // (The fields are public: a limit of 0 built by hand means 1.)
        let nanos = self
            .period
            .as_nanos()
            .div_ceil(u128::from(self.messages.max(1)));
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }
}

/// The next free slot of a [`RateLimit`].
#[derive(Debug)]
pub(crate) struct Pacer {
    interval: Duration,
    /// When the next send may start (none yet: at once).
    next: Mutex<Option<Instant>>,
}

impl Pacer {
    pub(crate) fn new(limit: RateLimit) -> Self {
        Self {
            interval: limit.interval(),
            next: Mutex::new(None),
        }
    }

    /// Takes the next slot for a send asked for at `now`: how long to wait
    /// before it starts.
    pub(crate) fn reserve(&self, now: Instant) -> Duration {
        let mut next = self.next.lock().unwrap_or_else(PoisonError::into_inner);
        // A slot left unused in the past is not saved up: no bursts.
        let slot = next.map_or(now, |next| next.max(now));
        *next = Some(slot + self.interval);
        slot - now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_are_spaced_by_the_interval_and_idle_time_is_not_saved_up() {
        let pacer = Pacer::new(RateLimit::new(4, Duration::from_secs(1)));
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        // Four asked at once: the first goes, the others wait their turn.
        let waits: Vec<Duration> = (0..4).map(|_| pacer.reserve(t0)).collect();
        assert_eq!(waits, [ms(0), ms(250), ms(500), ms(750)]);
        // Asked later than the next slot: at once, and no burst after a
        // quiet second.
        let later = t0 + Duration::from_secs(3);
        assert_eq!(pacer.reserve(later), ms(0));
        assert_eq!(pacer.reserve(later), ms(250));
        assert_eq!(pacer.reserve(later + ms(100)), ms(400));
    }

    #[test]
    fn any_window_of_the_period_holds_at_most_the_limit() {
        let limit = RateLimit::new(7, Duration::from_secs(1));
        let pacer = Pacer::new(limit);
        let t0 = Instant::now();
        // Senders asking at irregular times; the start of each send.
        let mut starts = Vec::new();
        for i in 0..200u64 {
            let asked = t0 + Duration::from_millis(i * i % 97 + i * 30);
            starts.push(asked + pacer.reserve(asked));
        }
        starts.sort();
        for (i, start) in starts.iter().enumerate() {
            let in_window = starts[i..]
                .iter()
                .take_while(|s| **s < *start + limit.period)
                .count();
            assert!(in_window <= 7, "{in_window} sends within a second");
        }
        assert_eq!(RateLimit::new(0, Duration::from_secs(1)).messages, 1);
    }
}
