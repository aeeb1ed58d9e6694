//! Standard input copied to a temporary file, so that a message can be read
//! twice (once to count its size, once to send it) without holding it in
//! memory.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

/// A temporary file removed when dropped.
pub(crate) struct Spooled {
    path: PathBuf,
}

impl Spooled {
    /// Copies all of standard input into a new private file.
    pub(crate) fn from_stdin() -> io::Result<Self> {
        Self::from_reader(io::stdin().lock())
    }

    /// Copies all of `input` into a new private file.
    pub(crate) fn from_reader(mut input: impl io::Read) -> io::Result<Self> {
        let dir = std::env::temp_dir();
        let mut attempt = 0u32;
        let (path, mut file) = loop {
            let path = dir.join(format!(
                "postie-stdin-{}-{}-{attempt}",
                std::process::id(),
                nanos()
            ));
            match create_private(&path) {
                Ok(file) => break (path, file),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 100 => attempt += 1,
                Err(e) => return Err(e),
            }
        };
        let spooled = Self { path };
        io::copy(&mut input, &mut file)?;
        file.sync_all()?;
        Ok(spooled)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Spooled {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

fn nanos() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default()
}

#[cfg(unix)]
fn create_private(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn create_private(path: &Path) -> io::Result<File> {
    OpenOptions::new().write(true).create_new(true).open(path)
}
