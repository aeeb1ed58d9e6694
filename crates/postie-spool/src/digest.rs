//! The size and SHA-256 of a kept message: recorded in `meta.json` when it
//! is kept, and checked before it is sent again, so a message cut short
//! (a full disk, a crash of the file system, someone's editor) or changed
//! is never sent and reported as sent.

use std::io::{self, Write};
use std::path::Path;

use aws_lc_rs::digest::{Context, SHA256};

use crate::trust;

/// What a message's bytes were.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Digest {
    /// Its size in bytes.
    pub size: u64,
    /// SHA-256 of its bytes, in lower-case hex.
    pub sha256: String,
}

/// The digest of `bytes` (a message held in memory).
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
pub fn of_bytes(bytes: &[u8]) -> Digest {
    let mut hasher = Context::new(&SHA256);
    hasher.update(bytes);
    Digest {
        size: bytes.len() as u64,
        sha256: hex(hasher.finish().as_ref()),
    }
}

/// A writer that passes everything on and digests it.
pub struct Digesting<W> {
    inner: W,
    hasher: Context,
    size: u64,
}

impl<W: Write> Digesting<W> {
    /// Digests what goes to `inner`.
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Context::new(&SHA256),
            size: 0,
        }
    }

    /// The writer back, and the digest of what went through.
    pub fn finish(self) -> (W, Digest) {
        let digest = Digest {
            size: self.size,
            sha256: hex(self.hasher.finish().as_ref()),
        };
        (self.inner, digest)
    }
}

impl<W: Write> Write for Digesting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        let written = buf.get(..n).unwrap_or(buf);
        self.hasher.update(written);
        self.size += written.len() as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The digest of the file at `path`, opened without following a link.
pub fn of_file(path: &Path) -> io::Result<Digest> {
    let mut file = trust::open_read(path)?;
    let mut digesting = Digesting::new(io::sink());
    io::copy(&mut file, &mut digesting)?;
    Ok(digesting.finish().1)
}

/// Why the message at `path` is not what was kept (its size, and its hash
/// where one was recorded: records of older postie versions have none),
/// or `None` when it is.
pub fn mismatch(path: &Path, size: u64, sha256: Option<&str>) -> io::Result<Option<String>> {
    let found = of_file(path)?;
    if found.size != size {
        return Ok(Some(format!(
            "{} is {} bytes but {size} were kept: damaged, not sent",
            path.display(),
            found.size
        )));
    }
    match sha256 {
        Some(kept) if !kept.eq_ignore_ascii_case(&found.sha256) => Ok(Some(format!(
            "{} does not have the SHA-256 it was kept with: changed or damaged, not sent",
            path.display()
        ))),
        _ => Ok(None),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn written_and_read_back_agree_and_a_change_is_found() {
        let path = std::env::temp_dir().join(format!("postie-digest-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let file = trust::create_new(&path).unwrap();
        let mut out = Digesting::new(file);
        out.write_all(b"hello").unwrap();
        let (_, written) = out.finish();
        assert_eq!(written.size, 5);
        assert_eq!(
            written.sha256,
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(of_file(&path).unwrap(), written);
        assert_eq!(mismatch(&path, 5, Some(&written.sha256)).unwrap(), None);
        assert!(mismatch(&path, 6, None).unwrap().is_some());
        std::fs::write(&path, "hallo").unwrap();
        assert!(mismatch(&path, 5, Some(&written.sha256)).unwrap().is_some());
        assert_eq!(mismatch(&path, 5, None).unwrap(), None);
        std::fs::remove_file(&path).unwrap();
    }
}
