//! Random bytes for ids, from the operating system's generator a block at
//! a time: one `getrandom` call per 256 ids instead of one per id (the call
//! costs more than the rest of making an id). The bytes are the system's
//! own, each handed out once, so ids stay as unguessable and as unique as
//! with a call apiece.
//!
//! Each thread has its own block, and a block is thrown away in a child
//! process: after `fork` the child holds a copy of its parent's block, and
//! handing out the same bytes in both would give both the same ids. The
//! child learns it is one from a counter that a handler registered with
//! `pthread_atfork` bumps in every child of the C library's `fork` (through
//! which `libc::fork`, `nix::unistd::fork` and every fork that goes on
//! running Rust code passes): one load per id where asking for the process
//! id was a system call per id, the largest single cost of building a
//! small message (README, Performance: W5). Should the handler not be
//! registered (the C library out of memory), the process id is compared
//! instead.

use std::cell::RefCell;

use crate::Error;

/// Bytes fetched per call: 256 ids.
const BLOCK: usize = 4096;

struct Pool {
    bytes: [u8; BLOCK],
    /// `bytes[used..]` has not been handed out.
    used: usize,
    /// Tells a child process that `bytes` are its parent's; `None` until
    /// the thread's first id.
    fork: Option<ForkWatch>,
}

/// Whether the process forked since the last look.
enum ForkWatch {
    /// The atfork handler's counter.
    #[cfg(unix)]
    Handler(forkguard::atfork::Guard),
    /// The process id (where no handler could be registered, and where
    /// there is no fork: asking is cheap there).
    Pid(forkguard::pid::Guard),
}

impl ForkWatch {
    fn new() -> ForkWatch {
        #[cfg(unix)]
        if let Ok(guard) = forkguard::atfork::Guard::try_new() {
            return ForkWatch::Handler(guard);
        }
        ForkWatch::Pid(forkguard::pid::Guard::default())
    }

    fn forked(&mut self) -> bool {
        match self {
            #[cfg(unix)]
            ForkWatch::Handler(guard) => guard.detected_fork(),
            ForkWatch::Pid(guard) => guard.detected_fork(),
        }
    }
}

thread_local! {
    static POOL: RefCell<Pool> = const {
        RefCell::new(Pool {
            bytes: [0; BLOCK],
            used: BLOCK,
            fork: None,
        })
    };
}

/// 16 random bytes never handed out before, in this process or another.
pub(crate) fn take16() -> Result<[u8; 16], Error> {
    POOL.with_borrow_mut(|pool| {
        // The watch starts before the first fetch, so a fork after it is
        // seen; `used` starts at BLOCK, so the first id fetches.
        let forked = match &mut pool.fork {
            Some(watch) => watch.forked(),
            None => {
                pool.fork = Some(ForkWatch::new());
                false
            }
        };
        if forked || pool.used + 16 > BLOCK {
            getrandom::fill(&mut pool.bytes).map_err(|e| Error::Random(e.to_string()))?;
            pool.used = 0;
        }
        let mut out = [0u8; 16];
        if let Some(next) = pool.bytes.get(pool.used..pool.used + 16) {
            out.copy_from_slice(next);
        }
        // Wiped once handed out: what is left in memory is never an id
        // already given.
        if let Some(next) = pool.bytes.get_mut(pool.used..pool.used + 16) {
            next.fill(0);
        }
        pool.used += 16;
        Ok(out)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_refilled_and_bytes_never_repeat() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..(3 * BLOCK / 16 + 5) {
            assert!(seen.insert(take16().unwrap()));
        }
    }

    #[test]
    fn threads_draw_their_own_bytes() {
        let handles: Vec<_> = (0..4)
            .map(|_| std::thread::spawn(|| (0..100).map(|_| take16().unwrap()).collect::<Vec<_>>()))
            .collect();
        let mut seen = std::collections::HashSet::new();
        for handle in handles {
            for bytes in handle.join().unwrap() {
                assert!(seen.insert(bytes));
            }
        }
    }
}
