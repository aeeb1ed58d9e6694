//! What the spool trusts on disk: a folder or file that is what it claims
//! to be (never a symbolic link), owned by the user running postie (the
//! effective uid), and writable by nobody else.
//!
//! The spool holds mail and says which accounts file to read and so which
//! `password_command` to run: whoever can write in it could make postie
//! mail a private file, overwrite one through a planted link, or run a
//! command as this user. So every use checks the root, its folders and
//! each entry, and every file is opened with `O_NOFOLLOW`.

use std::fs::{self, File, Metadata, OpenOptions};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

/// What a path must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A directory.
    Dir,
    /// A regular file, with no other hard link (a second name for one of
    /// the user's files, planted in the spool, would be mailed).
    File,
}

/// The user postie runs as, who must own the spool.
pub fn me() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// Checks `path` without following a link: `Ok(Ok(metadata))` when it is
/// trusted, `Ok(Err(reason))` when it is not (the reason says what to
/// fix), `Err` when it cannot be looked at (not there, say).
pub fn check(path: &Path, kind: Kind) -> io::Result<Result<Metadata, String>> {
    let meta = fs::symlink_metadata(path)?;
    Ok(judge(path, kind, &meta).map(|()| meta))
}

/// The same, for metadata already read without following a link.
pub fn judge(path: &Path, kind: Kind, meta: &Metadata) -> Result<(), String> {
    let shown = path.display();
    let file_type = meta.file_type();
    if file_type.is_symlink() {
        return Err(format!(
            "{shown} is a symbolic link, which the spool never follows: remove it (rm {shown})"
        ));
    }
    match kind {
        Kind::Dir if !file_type.is_dir() => {
            return Err(format!("{shown} is not a directory: remove it"));
        }
        Kind::File if !file_type.is_file() => {
            return Err(format!("{shown} is not a regular file: remove it"));
        }
        _ => {}
    }
    let me = me();
    if meta.uid() != me {
        return Err(format!(
            "{shown} is owned by uid {}, not by you (uid {me}): chown {me} {shown} if it is yours, else remove it",
            meta.uid()
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(format!(
            "{shown} is writable by group or others (mode {:o}): chmod go-w {shown}",
            meta.mode() & 0o7777
        ));
    }
    if kind == Kind::File && meta.nlink() > 1 {
        return Err(format!(
            "{shown} has {} hard links, so it is another file's name too: remove it",
            meta.nlink()
        ));
    }
    Ok(())
}

/// The error for an untrusted path, as an `io::Error` that
/// [`is_untrusted`] recognises.
pub fn untrusted(reason: String) -> io::Error {
    io::Error::new(io::ErrorKind::PermissionDenied, Untrusted(reason))
}

/// Whether `error` came from [`untrusted`].
pub fn is_untrusted(error: &io::Error) -> bool {
    error.get_ref().is_some_and(|e| e.is::<Untrusted>())
}

/// A path the spool does not trust, and why.
#[derive(Debug)]
struct Untrusted(String);

impl std::fmt::Display for Untrusted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Untrusted {}

/// Opens a file to read, never through a link; then checks what was
/// opened (the open file, so nothing can be swapped in between).
pub fn open_read(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| link_error(path, e))?;
    judge(path, Kind::File, &file.metadata()?).map_err(untrusted)?;
    Ok(file)
}

/// Creates a new private file (mode 0600): never one that exists, never
/// through a link.
pub fn create_new(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

/// The accounts file a spooled message names, checked before it is read:
/// its `password_command` runs as this user, so it must be a file this
/// user (or root) owns and nobody else can write, in a folder nobody else can write
/// (who could put another file in its place). Returns the path to read.
///
/// A link is resolved and the file it leads to is checked, and that path
/// (not the link) is what is read, so what was checked is what is loaded.
/// Links are not refused: accounts files kept in a dotfiles repository
/// are commonly linked into `~/.config`, and the target's owner and mode
/// say all that matters.
///
/// This stands on its own, whatever the general loader checks: a spooled
/// record is data on disk, and must never be a way to run a command.
pub fn accounts_file(named: &Path) -> Result<std::path::PathBuf, String> {
    let refuse = |path: &Path, why: String| {
        format!(
            "the accounts file {} (named by the spooled message) is not read: {why}",
            path.display()
        )
    };
    let real = fs::canonicalize(named)
        .map_err(|e| format!("cannot read the accounts file {}: {e}", named.display()))?;
    let meta = fs::metadata(&real).map_err(|e| refuse(named, e.to_string()))?;
    let shown = real.display();
    let me = me();
    if !meta.is_file() {
        return Err(refuse(named, format!("{shown} is not a regular file")));
    }
    // Root's is allowed too: a system file (/etc/postie/config.toml,
    // /etc/msmtprc) may be where the account came from, and root can
    // change any of the user's files anyway.
    if meta.uid() != me && meta.uid() != 0 {
        return Err(refuse(
            named,
            format!(
                "{shown} is owned by uid {}, not by you (uid {me}) or root, and its password_command would run as you: chown {me} {shown} if it is yours",
                meta.uid()
            ),
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(refuse(
            named,
            format!(
                "{shown} is writable by group or others (mode {:o}), who could make it run any command as you: chmod go-w {shown}",
                meta.mode() & 0o7777
            ),
        ));
    }
    if let Some(dir) = real.parent() {
        let dir_meta = fs::metadata(dir).map_err(|e| refuse(named, e.to_string()))?;
        if (dir_meta.uid() != me && dir_meta.uid() != 0) || dir_meta.mode() & 0o022 != 0 {
            return Err(refuse(
                named,
                format!(
                    "its folder {} is not yours or is writable by others (uid {}, mode {:o}), who could put another file there: chmod go-w {}",
                    dir.display(),
                    dir_meta.uid(),
                    dir_meta.mode() & 0o7777,
                    dir.display()
                ),
            ));
        }
    }
    Ok(real)
}

/// `O_NOFOLLOW` fails with `ELOOP` on a link: said in words.
fn link_error(path: &Path, error: io::Error) -> io::Error {
    if error.raw_os_error() == Some(libc::ELOOP) {
        untrusted(format!(
            "{} is a symbolic link, which the spool never follows: remove it",
            path.display()
        ))
    } else {
        error
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn links_shared_folders_and_hard_links_are_not_trusted() {
        let dir = std::env::temp_dir().join(format!("postie-trust-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
        assert!(check(&dir, Kind::Dir).unwrap().is_ok());
        let file = dir.join("f");
        fs::write(&file, "x").unwrap();
        fs::set_permissions(&file, fs::Permissions::from_mode(0o600)).unwrap();
        assert!(check(&file, Kind::File).unwrap().is_ok());
        assert!(check(&file, Kind::Dir).unwrap().is_err());
        std::os::unix::fs::symlink(&file, dir.join("link")).unwrap();
        let why = check(&dir.join("link"), Kind::File).unwrap().unwrap_err();
        assert!(why.contains("symbolic link"), "{why}");
        let opened = open_read(&dir.join("link")).unwrap_err();
        assert!(is_untrusted(&opened), "{opened}");
        fs::hard_link(&file, dir.join("hard")).unwrap();
        let why = check(&file, Kind::File).unwrap().unwrap_err();
        assert!(why.contains("hard links"), "{why}");
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o1777)).unwrap();
        let why = check(&dir, Kind::Dir).unwrap().unwrap_err();
        assert!(why.contains("chmod go-w"), "{why}");
        assert!(create_new(&dir.join("link")).is_err());
        fs::remove_dir_all(&dir).unwrap();
    }
}
