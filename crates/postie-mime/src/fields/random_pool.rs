//! Random bytes for ids, from the operating system's generator a block at
//! a time: one `getrandom` call per 64 ids instead of one per id (the call
//! costs more than the rest of making an id). The bytes are the system's
//! own, each handed out once, so ids stay as unguessable and as unique as
//! with a call apiece.
//!
//! Each thread has its own block, and a block is thrown away in a child
//! process: after `fork` the child holds a copy of its parent's block, and
//! handing out the same bytes in both would give both the same ids.

use std::cell::RefCell;

use crate::Error;

/// Bytes fetched per call: 64 ids.
const BLOCK: usize = 1024;

struct Pool {
    bytes: [u8; BLOCK],
    /// `bytes[used..]` has not been handed out.
    used: usize,
    /// The process that fetched `bytes`.
    pid: u32,
}

thread_local! {
    static POOL: RefCell<Pool> = const {
        RefCell::new(Pool {
            bytes: [0; BLOCK],
            used: BLOCK,
            pid: 0,
        })
    };
}

/// 16 random bytes never handed out before, in this process or another.
pub(crate) fn take16() -> Result<[u8; 16], Error> {
    POOL.with_borrow_mut(|pool| {
        // getpid is a system call too, but a far cheaper one than getrandom.
        let pid = std::process::id();
        if pool.used + 16 > BLOCK || pool.pid != pid {
            getrandom::fill(&mut pool.bytes).map_err(|e| Error::Random(e.to_string()))?;
            pool.used = 0;
            pool.pid = pid;
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
