//! Which accounts file is read: the first that exists of
//!
//! 1. the file `--config` names (postie's TOML or msmtp's, told apart by
//!    [`sniff`]), and then no other;
//! 2. postie's user file, `$XDG_CONFIG_HOME/postie/config.toml`
//!    (`~/.config/postie/config.toml`);
//! 3. msmtp's user files, in msmtp's own order: `~/.msmtprc`, then
//!    `$XDG_CONFIG_HOME/msmtp/config` (`~/.config/msmtp/config`);
//! 4. postie's system file, [`SYSTEM_TOML`];
//! 5. msmtp's system file, [`SYSTEM_MSMTPRC`].
//!
//! Files are never merged: the first found is the only one read. A user
//! file must be yours (or root's) and writable by no one else; a system
//! file must be root's and writable by no one else, in a folder that is
//! root's and writable by no one else (a link is followed, and what it
//! leads to must pass): any of them can name a command that runs as you.
//!
//! The system paths are constants: no variable moves them, since one could
//! point a daemon at a file someone else wrote. Tests of the lookup give
//! their own [`Place`]s; the end-to-end tests put files at these very paths
//! inside a private mount namespace (`crates/postie/tests/msmtprc.rs`).

use std::io::Read as _;
use std::path::{Path, PathBuf};

/// postie's system-wide accounts file.
pub(crate) const SYSTEM_TOML: &str = "/etc/postie/config.toml";
/// msmtp's system-wide configuration file (Debian's SYSCONFDIR).
pub(crate) const SYSTEM_MSMTPRC: &str = "/etc/msmtprc";

/// How a file is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    /// postie's accounts file.
    Toml,
    /// msmtp's configuration file.
    Msmtp,
}

/// Who may have written a file, and so which ownership rule it passes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scope {
    /// Named by `--config` (or a spooled message): the user's rule.
    Named,
    /// In the user's home or config folder.
    User,
    /// In `/etc`: root's alone.
    System,
}

/// A place to look.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Place {
    pub(crate) path: PathBuf,
    /// `None`: told from the text ([`sniff`]).
    pub(crate) format: Option<Format>,
    pub(crate) scope: Scope,
}

/// A file found and read (checked through the handle it was read from).
pub(crate) struct Found {
    pub(crate) path: PathBuf,
    pub(crate) format: Format,
    pub(crate) text: String,
    pub(crate) meta: std::fs::Metadata,
}

/// The places to look, in order: `config` alone when given, else the
/// user's (from `$XDG_CONFIG_HOME` and `$HOME`; none without `$HOME` and
/// `$XDG_CONFIG_HOME`) and the system's.
pub(crate) fn places(config: Option<&Path>) -> Vec<Place> {
    if let Some(path) = config {
        return vec![Place {
            path: path.to_owned(),
            format: None,
            scope: Scope::Named,
        }];
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from);
    let config_home = match std::env::var_os("XDG_CONFIG_HOME") {
        Some(dir) if !dir.is_empty() => Some(PathBuf::from(dir)),
        _ => home.as_ref().map(|h| h.join(".config")),
    };
    let user = |path: PathBuf, format| Place {
        path,
        format: Some(format),
        scope: Scope::User,
    };
    let system = |path: &str, format| Place {
        path: PathBuf::from(path),
        format: Some(format),
        scope: Scope::System,
    };
    let mut places = Vec::new();
    if let Some(dir) = &config_home {
        places.push(user(dir.join("postie/config.toml"), Format::Toml));
    }
    if let Some(home) = &home {
        places.push(user(home.join(".msmtprc"), Format::Msmtp));
    }
    if let Some(dir) = &config_home {
        places.push(user(dir.join("msmtp/config"), Format::Msmtp));
    }
    places.push(system(SYSTEM_TOML, Format::Toml));
    places.push(system(SYSTEM_MSMTPRC, Format::Msmtp));
    places
}

/// The first of `places` that exists, read; `Ok(None)` when none does.
/// One that exists but cannot be read, or is not to be trusted, is an
/// error: a file further down is not read in its place.
pub(crate) fn first_found(places: &[Place]) -> Result<Option<Found>, String> {
    for place in places {
        match read(place) {
            Ok(found) => return Ok(Some(found)),
            Err(Unread::Missing) if place.scope != Scope::Named => continue,
            Err(Unread::Missing) => {
                return Err(format!(
                    "cannot read the accounts file {}: no such file",
                    place.path.display()
                ))
            }
            Err(Unread::Refused(text)) => return Err(text),
        }
    }
    Ok(None)
}

/// Why a place gave no file.
enum Unread {
    /// Nothing there (or a link to nothing).
    Missing,
    /// The whole message.
    Refused(String),
}

fn read(place: &Place) -> Result<Found, Unread> {
    let shown = place.path.display();
    let io = |e: std::io::Error| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Unread::Missing
        } else {
            Unread::Refused(format!("cannot read the accounts file {shown}: {e}"))
        }
    };
    let mut file = std::fs::File::open(&place.path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(Unread::Refused(format!(
            "the accounts file {shown} is not a regular file"
        )));
    }
    match place.scope {
        Scope::Named | Scope::User => {
            super::owner_problem(&place.path, &meta).map_err(Unread::Refused)?
        }
        Scope::System => system_problem(&place.path, &meta).map_err(Unread::Refused)?,
    }
    let mut text = String::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.read_to_string(&mut text).map_err(io)?;
    let format = place.format.unwrap_or_else(|| sniff(&place.path, &text));
    Ok(Found {
        path: place.path.clone(),
        format,
        text,
        meta,
    })
}

/// A file `--config` names: postie's TOML when its name ends in `.toml` or
/// its first setting looks like TOML (`[table]` or `key = value`), else
/// msmtp's (`key value`).
pub(crate) fn sniff(path: &Path, text: &str) -> Format {
    if path.extension().is_some_and(|e| e == "toml") {
        return Format::Toml;
    }
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'));
    let Some(first) = first else {
        return Format::Toml;
    };
    let key_len = first
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '"')))
        .unwrap_or(first.len());
    let after_key = first.get(key_len..).unwrap_or_default().trim_start();
    if first.starts_with('[') || (key_len > 0 && after_key.starts_with('=')) {
        Format::Toml
    } else {
        Format::Msmtp
    }
}

/// A system file: root's, writable by no one else, in a folder that is
/// root's and writable by no one else (who could put another file in its
/// place). `meta` is the open file's: a link has been followed, and the
/// file it leads to is what is judged. `Err` says what to run.
fn system_problem(path: &Path, meta: &std::fs::Metadata) -> Result<(), String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
        let shown = if real == path {
            path.display().to_string()
        } else {
            format!("{} (a link to {})", path.display(), real.display())
        };
        let refuse = |why: String| {
            format!("the system accounts file {shown} is not read: {why}: any of its commands would run as you")
        };
        if meta.uid() != 0 {
            return Err(refuse(format!(
                "it belongs to uid {}, not to root; run chown root {}",
                meta.uid(),
                real.display()
            )));
        }
        if meta.mode() & 0o022 != 0 {
            return Err(refuse(format!(
                "group or others can write it (mode {:03o}); run chmod go-w {}",
                meta.mode() & 0o777,
                real.display()
            )));
        }
        if let Some(dir) = real.parent() {
            let dir_meta = std::fs::metadata(dir)
                .map_err(|e| refuse(format!("its folder {}: {e}", dir.display())))?;
            if dir_meta.uid() != 0 || dir_meta.mode() & 0o022 != 0 {
                return Err(refuse(format!(
                    "its folder {} is not root's alone (uid {}, mode {:03o}), so another file could be put in its place; run chown root {1} and chmod go-w {1}",
                    dir.display(),
                    dir_meta.uid(),
                    dir_meta.mode() & 0o777,
                )));
            }
        }
    }
    #[cfg(not(unix))]
    let _ = (path, meta);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("postie-lookup-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        dir
    }

    fn write(path: &Path, text: &str, mode: u32) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    fn place(path: &Path, format: Format, scope: Scope) -> Place {
        Place {
            path: path.to_owned(),
            format: Some(format),
            scope,
        }
    }

    /// The order of the issue, first found wins, nothing merged.
    #[test]
    fn the_first_file_found_is_the_only_one_read() {
        let dir = scratch("order");
        let places = [
            place(&dir.join("postie.toml"), Format::Toml, Scope::User),
            place(&dir.join(".msmtprc"), Format::Msmtp, Scope::User),
            place(&dir.join("msmtp/config"), Format::Msmtp, Scope::User),
            place(&dir.join("etc/postie.toml"), Format::Toml, Scope::System),
            place(&dir.join("etc/msmtprc"), Format::Msmtp, Scope::System),
        ];
        assert!(first_found(&places).unwrap().is_none());
        // A system file must be root's: as another user, only the others.
        let root = rustix::process::geteuid().is_root();
        let places = if root { &places[..] } else { &places[..3] };
        for (i, p) in places.iter().enumerate().rev() {
            write(&p.path, &format!("# {i}\n"), 0o644);
            let found = first_found(places).unwrap().unwrap();
            assert_eq!(found.path, p.path);
            assert_eq!(found.format, p.format.unwrap());
            assert_eq!(found.text, format!("# {i}\n"));
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// msmtp's own order for its user files, and the places without HOME.
    #[test]
    fn the_default_places_follow_the_issue_and_msmtp() {
        let names: Vec<String> = places(None)
            .iter()
            .map(|p| p.path.display().to_string())
            .collect();
        let home = std::env::var("HOME").unwrap_or_default();
        if !home.is_empty() && std::env::var_os("XDG_CONFIG_HOME").is_none() {
            assert_eq!(
                names,
                [
                    format!("{home}/.config/postie/config.toml"),
                    format!("{home}/.msmtprc"),
                    format!("{home}/.config/msmtp/config"),
                    SYSTEM_TOML.to_owned(),
                    SYSTEM_MSMTPRC.to_owned(),
                ]
            );
        }
        assert_eq!(&names[names.len() - 2..], [SYSTEM_TOML, SYSTEM_MSMTPRC]);
        let named = places(Some(Path::new("/x/rc")));
        assert_eq!(named.len(), 1);
        assert_eq!(named[0].format, None);
    }

    /// A system file is root's alone, and so is its folder; the tests run
    /// as root (CI does), so only a file given away can be refused here.
    #[test]
    fn a_system_file_others_could_change_is_refused() {
        let dir = scratch("system");
        let rc = dir.join("etc/msmtprc");
        write(&rc, "account default\nhost h\n", 0o644);
        std::fs::set_permissions(rc.parent().unwrap(), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        let places = [place(&rc, Format::Msmtp, Scope::System)];
        let root = rustix::process::geteuid().is_root();
        if root {
            assert!(first_found(&places).unwrap().is_some());
        }
        for mode in [0o664, 0o646] {
            std::fs::set_permissions(&rc, std::fs::Permissions::from_mode(mode)).unwrap();
            let err = first_found(&places).err().unwrap();
            assert!(err.contains("group or others can write it"), "{err}");
            assert!(
                err.contains(&format!("chmod go-w {}", rc.display())),
                "{err}"
            );
        }
        std::fs::set_permissions(&rc, std::fs::Permissions::from_mode(0o644)).unwrap();
        // A link is followed, and what it leads to is judged.
        let link = dir.join("link-rc");
        std::os::unix::fs::symlink(&rc, &link).unwrap();
        let via_link = [place(&link, Format::Msmtp, Scope::System)];
        if root {
            assert!(first_found(&via_link).unwrap().is_some());
            std::os::unix::fs::chown(&rc, Some(65534), None).unwrap();
            let err = first_found(&via_link).err().unwrap();
            assert!(err.contains("belongs to uid 65534, not to root"), "{err}");
            assert!(err.contains("(a link to "), "{err}");
            std::os::unix::fs::chown(&rc, Some(0), None).unwrap();
            // A folder someone else may write in.
            std::fs::set_permissions(rc.parent().unwrap(), std::fs::Permissions::from_mode(0o777))
                .unwrap();
            let err = first_found(&places).err().unwrap();
            assert!(err.contains("its folder"), "{err}");
            std::fs::set_permissions(rc.parent().unwrap(), std::fs::Permissions::from_mode(0o755))
                .unwrap();
        } else {
            // Not root: the test's own file is not root's.
            let err = first_found(&places).err().unwrap();
            assert!(err.contains("not to root"), "{err}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// An existing file that cannot be read stops the search.
    #[test]
    fn a_file_that_exists_but_is_refused_is_not_skipped() {
        let dir = scratch("stop");
        let first = dir.join(".msmtprc");
        write(&first, "account default\nhost h\n", 0o666);
        let second = dir.join("config");
        write(&second, "account default\nhost h\n", 0o644);
        let places = [
            place(&first, Format::Msmtp, Scope::User),
            place(&second, Format::Msmtp, Scope::User),
        ];
        let err = first_found(&places).err().unwrap();
        assert!(err.contains("can be written by group or others"), "{err}");
        // A directory where a file is expected.
        std::fs::remove_file(&first).unwrap();
        std::fs::create_dir(&first).unwrap();
        let err = first_found(&places).err().unwrap();
        assert!(err.contains("not a regular file"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_named_file_is_told_apart_by_its_text() {
        let p = Path::new("/x/rc");
        for (text, want) in [
            ("default = \"a\"\n", Format::Toml),
            ("# c\n\n[accounts.a]\nhost = \"h\"\n", Format::Toml),
            ("\"quoted\" = 1\n", Format::Toml),
            ("defaults\nport 587\n", Format::Msmtp),
            ("# c\naccount default\nhost h\n", Format::Msmtp),
            ("passwordeval gpg --foo=bar\n", Format::Msmtp),
            ("host smtp.example.org\n", Format::Msmtp),
        ] {
            assert_eq!(sniff(p, text), want, "{text:?}");
        }
        assert_eq!(sniff(Path::new("/x/a.toml"), "account a\n"), Format::Toml);
    }
}
