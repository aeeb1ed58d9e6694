//! A forked child never hands out an id its parent hands out too, though
//! it starts with a copy of the parent's block of random bytes: the block
//! is fetched again in the child. Ids are taken in the parent first, so the
//! child inherits a block already in use (the case a check at fetch time
//! alone would miss), then in the child and its own child, then again in
//! the parent; every id of all three must be new.

// A test's `main` (harness = false, one thread for the fork), which clippy
// does not know for a test: a failure here is meant to panic.
#![allow(clippy::expect_used)]
// safe-fork is Linux-only; elsewhere `main` does nothing.
#![cfg_attr(not(target_os = "linux"), allow(dead_code, unused_imports))]

use std::collections::HashSet;
use std::path::Path;

const EACH: usize = 8;

fn ids(n: usize) -> Vec<String> {
    (0..n)
        .map(|_| postie_mime::new_message_id("example.org").expect("a Message-ID"))
        .collect()
}

#[cfg(target_os = "linux")]
/// Forks; the child writes `n` ids to `out` and exits, after forking a
/// child of its own that writes `n` ids to `grandchild`, if given.
fn ids_in_a_child(out: &Path, n: usize, grandchild: Option<&Path>) -> i32 {
    safe_fork::fork_join(|| {
        if let Some(file) = grandchild {
            if ids_in_a_child(file, n, None) != 0 {
                return 3;
            }
        }
        match std::fs::write(out, ids(n).join("\n")) {
            Ok(()) => 0,
            Err(_) => 2,
        }
    })
    .expect("fork")
}

#[cfg(not(target_os = "linux"))]
fn main() {}

#[cfg(target_os = "linux")]
fn main() {
    // Cargo's own scratch directory for tests, not a guessable name in a
    // shared /tmp; a directory left by an earlier run is replaced.
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fork-test");
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir(&dir).expect("a scratch directory");
    let (child, grandchild) = (dir.join("child"), dir.join("grandchild"));

    let mut all = ids(EACH);
    assert_eq!(
        ids_in_a_child(&child, EACH, Some(&grandchild)),
        0,
        "the child failed"
    );
    all.extend(ids(EACH));
    for file in [child, grandchild] {
        let text = std::fs::read_to_string(&file).expect("the child's ids");
        all.extend(text.lines().map(str::to_owned));
    }
    std::fs::remove_dir_all(&dir).ok();

    assert_eq!(all.len(), 4 * EACH);
    let unique: HashSet<&String> = all.iter().collect();
    assert_eq!(
        unique.len(),
        all.len(),
        "a parent and its forked children handed out the same id: {all:#?}"
    );
    println!(
        "fork: {} ids in three processes, all different: ok",
        all.len()
    );
}
