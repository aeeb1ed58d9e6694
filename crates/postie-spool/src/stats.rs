//! `postie spool stats`, and the numbers a relayer's metrics endpoint
//! serves: how many messages are in each state, how old the oldest one of
//! each is, and how many were sent and failed lately.

use serde_json::{json, Value};

use crate::backoff;

/// The states counted, in the order shown.
pub const STATES: [&str; 5] = ["queued", "sending", "unknown", "dead", "damaged"];

/// The spool's numbers at one moment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Per state of [`STATES`]: how many, and the age in seconds of the
    /// oldest (`None`: none there, or a damaged entry's age unknown).
    pub states: Vec<(&'static str, u64, Option<u64>)>,
    /// Messages sent in the last minute and the last hour (`None`: the
    /// store keeps nothing of sent messages: the folder store).
    pub sent: Option<(u64, u64)>,
    /// Attempts that failed (the message kept for later, unknown, or
    /// given up) in the last minute and the last hour.
    pub failed: (u64, u64),
}

impl Stats {
    /// Nothing in any state; `sent` as [`Stats::sent`] (`Some` zeros for a
    /// store that keeps sent messages).
    pub fn empty(sent: Option<(u64, u64)>) -> Self {
        Self {
            states: STATES.iter().map(|s| (*s, 0, None)).collect(),
            sent,
            failed: (0, 0),
        }
    }

    /// The JSON object of `postie spool stats --json`.
    pub fn json(&self, location: &str) -> Value {
        let states: serde_json::Map<String, Value> = self
            .states
            .iter()
            .map(|(name, count, oldest)| {
                (
                    (*name).to_owned(),
                    json!({"count": count, "oldest_age": oldest}),
                )
            })
            .collect();
        json!({
            "location": location,
            "states": states,
            "sent_last_minute": self.sent.map(|s| s.0),
            "sent_last_hour": self.sent.map(|s| s.1),
            "failed_last_minute": self.failed.0,
            "failed_last_hour": self.failed.1,
        })
    }

    /// The lines of `postie spool stats`.
    pub fn text(&self, location: &str) -> String {
        let mut out = format!("spool: {location}\n");
        for (name, count, oldest) in &self.states {
            let oldest = oldest.map_or_else(String::new, |age| {
                format!(" (oldest {})", backoff::span(age))
            });
            out.push_str(&format!("{name:<8} {count}{oldest}\n"));
        }
        let sent = self.sent.map_or_else(
            || "- (the folder store keeps nothing of sent messages)".to_owned(),
            |(minute, hour)| format!("{minute} in the last minute, {hour} in the last hour"),
        );
        out.push_str(&format!("sent     {sent}\n"));
        out.push_str(&format!(
            "failed   {} in the last minute, {} in the last hour\n",
            self.failed.0, self.failed.1
        ));
        out
    }

    /// The Prometheus text lines of these numbers.
    pub fn prometheus(&self) -> String {
        let mut out = String::from(
            "# HELP postie_spool_messages Messages in the spool, by state.\n\
             # TYPE postie_spool_messages gauge\n",
        );
        for (name, count, _) in &self.states {
            out.push_str(&format!(
                "postie_spool_messages{{state=\"{name}\"}} {count}\n"
            ));
        }
        out.push_str(
            "# HELP postie_spool_oldest_seconds Age of the oldest message in each state.\n\
             # TYPE postie_spool_oldest_seconds gauge\n",
        );
        for (name, _, oldest) in &self.states {
            out.push_str(&format!(
                "postie_spool_oldest_seconds{{state=\"{name}\"}} {}\n",
                oldest.unwrap_or(0)
            ));
        }
        if let Some((minute, _)) = self.sent {
            out.push_str(
                "# HELP postie_spool_sent_last_minute Messages sent in the last minute, by any relayer.\n\
                 # TYPE postie_spool_sent_last_minute gauge\n",
            );
            out.push_str(&format!("postie_spool_sent_last_minute {minute}\n"));
        }
        out.push_str(
            "# HELP postie_spool_failed_last_minute Attempts that failed in the last minute, by any relayer.\n\
             # TYPE postie_spool_failed_last_minute gauge\n",
        );
        out.push_str(&format!(
            "postie_spool_failed_last_minute {}\n",
            self.failed.0
        ));
        out
    }
}
