//! Limits on steps that read and write more than once.

use std::time::{Duration, Instant};

/// A point in time a step must finish by; a limit too far off to compute
/// (a huge --timeout) is no limit.
pub(super) struct Deadline(Option<Instant>, Duration);

impl Deadline {
    pub(super) fn after(limit: Duration) -> Self {
        Self(Instant::now().checked_add(limit), limit)
    }

    /// What is left of the limit.
    pub(super) fn left(&self) -> Duration {
        match self.0 {
            Some(deadline) => deadline.saturating_duration_since(Instant::now()),
            None => self.1,
        }
    }
}
