//! Random bytes for ids, from the operating system's generator a block at
//! a time: one `getrandom` call per 256 ids instead of one per id (the call
//! costs more than the rest of making an id). The bytes are the system's
//! own, each handed out once, so ids stay as unguessable and as unique as
//! with a call apiece.
//!
//! Each thread has its own block, and a block is thrown away in a child
//! process: after a fork the child holds a copy of its parent's block, and
//! handing out the same bytes in both would give both the same ids. The
//! child learns it is one from a counter that a handler registered with
//! `pthread_atfork` bumps in every child of the C library's `fork()`: one
//! load per id, where asking for the process id was a system call per id
//! (about 3% of building a W5 message; README, Performance). `libc::fork`,
//! `nix::unistd::fork` and `std::process::Command` (whose child execs
//! before any id) all go through it. A child made otherwise, by `_Fork()`
//! or a raw `clone` system call, runs no handler: it calls
//! [`crate::after_fork`] before its first id. Should the handler not be
//! registered (the C library out of memory), the process id is compared
//! instead. (The registration runs once per process, under a lock: a
//! process that forks from one thread while another makes the process's
//! very first id could leave the child waiting on that lock, as with any
//! lazily set up state.)

use std::cell::RefCell;

use crate::Error;

/// Bytes fetched per call: 256 ids.
const BLOCK: usize = 4096;

struct Pool {
    /// Empty until the thread's first id (threads that make none hold
    /// nothing), then `BLOCK` bytes.
    bytes: Vec<u8>,
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
            bytes: Vec::new(),
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
        let watch = pool.fork.get_or_insert_with(ForkWatch::new);
        if watch.forked() {
            // The watch reports a fork once: the block is dropped now, so
            // that a fetch failing below is tried again next time rather
            // than the parent's bytes handed out.
            pool.used = BLOCK;
        }
        if pool.used + 16 > BLOCK {
            pool.bytes.resize(BLOCK, 0);
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

/// Drops this thread's block: the next id fetches a new one.
pub(crate) fn forget() {
    POOL.with_borrow_mut(|pool| {
        pool.bytes.fill(0);
        pool.used = BLOCK;
    });
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

    #[cfg(unix)]
    #[test]
    fn a_fork_is_noticed_without_a_system_call() {
        // The process id is the fallback, and a system call per id.
        assert!(matches!(ForkWatch::new(), ForkWatch::Handler(_)));
    }

    #[test]
    fn a_forgotten_block_is_fetched_again() {
        let first = take16().unwrap();
        let left = POOL.with_borrow(|pool| pool.bytes.get(16..32).map(<[u8]>::to_vec));
        forget();
        assert!(POOL.with_borrow(|pool| pool.used == BLOCK && pool.bytes.iter().all(|&b| b == 0)));
        let next = take16().unwrap();
        assert_ne!(next, first);
        assert_ne!(
            Some(next.to_vec()),
            left,
            "the old block's next bytes were handed out"
        );
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
