//! Progress on a terminal: one line on standard error, redrawn in place,
//! for a large upload or a flush of many messages. Never when standard
//! error is not a terminal (a pipe, a log, cron) or with `--quiet`.

use std::io::{IsTerminal as _, Write as _};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use postie_smtp::Progress;

/// Uploads smaller than this finish before a bar would be seen.
const WORTH_SHOWING: u64 = 1 << 20;
/// Redraw at most this often.
const EVERY: Duration = Duration::from_millis(100);

/// Whether progress is shown at all.
pub(crate) fn enabled(quiet: bool) -> bool {
    !quiet && std::io::stderr().is_terminal()
}

/// Draws `line` over the current one.
pub(crate) fn show(line: &str) {
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "\r\x1b[K{line}");
    let _ = err.flush();
}

/// Removes the line, so what is printed next starts clean.
pub(crate) fn clear() {
    show("");
}

/// The upload callback for `postie send`, when progress is shown.
pub(crate) fn upload(quiet: bool) -> Option<impl Fn(Progress) + Send + Sync + 'static> {
    if !enabled(quiet) {
        return None;
    }
    let last: Mutex<Option<Instant>> = Mutex::new(None);
    Some(move |p: Progress| {
        let Some(total) = p.total.filter(|&t| t >= WORTH_SHOWING) else {
            return;
        };
        if p.sent >= total {
            clear();
            return;
        }
        let Ok(mut last) = last.lock() else {
            return;
        };
        if last.is_some_and(|at| at.elapsed() < EVERY) {
            return;
        }
        *last = Some(Instant::now());
        let mib = |n: u64| n as f64 / f64::from(1u32 << 20);
        show(&format!(
            "postie: sending {:.1} of {:.1} MiB ({}%)",
            mib(p.sent),
            mib(total),
            p.sent * 100 / total
        ));
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_drawn_when_quiet_or_not_on_a_terminal() {
        assert!(upload(true).is_none());
        assert!(!enabled(true));
        // Without -q it follows the real standard error (a pipe in CI; the
        // terminal case is tested on a pty in tests/cli.rs).
        let terminal = std::io::stderr().is_terminal();
        assert_eq!(enabled(false), terminal);
        assert_eq!(upload(false).is_some(), terminal);
    }
}
