//! Which process owns a claimed or half-written spool entry, and whether it
//! still runs.
//!
//! Rust's standard library has no stable file locks, and a lock would not
//! survive in a form another process could inspect after a crash anyway.
//! Instead an entry being worked on is renamed to a name that carries its
//! owner: the process id and the process's start time (from
//! `/proc/<pid>/stat`). The start time makes a reused pid harmless: a new
//! process with the same pid has a different start time, so an entry of a
//! dead flush is never taken for a live one's.

use std::fmt;

/// A process, as named in the spool: `<pid>-<start time>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Owner {
    pid: u32,
    /// Clock ticks after boot when the process started; 0 where `/proc`
    /// cannot tell.
    start: u64,
}

impl Owner {
    /// This process.
    pub fn me() -> Self {
        let pid = std::process::id();
        let start = stat(pid).map_or(0, |s| s.start);
        Self { pid, start }
    }

    /// Reads `<pid>-<start>` back.
    pub fn parse(text: &str) -> Option<Self> {
        let (pid, start) = text.split_once('-')?;
        Some(Self {
            pid: pid.parse().ok()?,
            start: start.parse().ok()?,
        })
    }

    /// The process id.
    pub fn pid(self) -> u32 {
        self.pid
    }

    /// Whether the process still runs. Where `/proc` is not there to ask
    /// (not Linux), every owner counts as alive: an entry is then never
    /// taken from under a flush that might still be sending it, at the
    /// price of needing `postie spool remove` after a crash.
    pub fn is_alive(self) -> bool {
        if std::fs::metadata("/proc/self/stat").is_err() {
            return true;
        }
        match stat(self.pid) {
            None => false,
            // A zombie has ended; it only waits to be reaped.
            Some(s) => !matches!(s.state, 'Z' | 'X' | 'x') && s.start == self.start,
        }
    }
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.pid, self.start)
    }
}

struct Stat {
    state: char,
    start: u64,
}

/// Fields 3 (state) and 22 (start time) of `/proc/<pid>/stat`. The command
/// name (field 2) is in parentheses and may hold spaces and parentheses
/// itself, so the fields are counted from the last `)`.
fn stat(pid: u32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = text.rsplit_once(')')?;
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    // Field 3 was the first after ')'; field 22 is 19 further on.
    let start = fields.nth(18)?.parse().ok()?;
    Some(Stat { state, start })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn this_process_is_alive_and_round_trips() {
        let me = Owner::me();
        assert_eq!(Owner::parse(&me.to_string()), Some(me));
        assert!(me.is_alive());
    }

    #[test]
    fn a_reused_pid_or_an_ended_process_is_dead() {
        if std::fs::metadata("/proc/self/stat").is_err() {
            return;
        }
        let me = Owner::me();
        let reused = Owner {
            start: me.start + 1,
            ..me
        };
        assert!(!reused.is_alive());
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        let start = stat(pid).map_or(0, |s| s.start);
        child.wait().unwrap();
        assert!(!Owner { pid, start }.is_alive());
    }
}
