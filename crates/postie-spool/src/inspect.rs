//! Whether an entry on disk can be used: every folder and file in it
//! trusted (see [`trust`]), its `meta.json` readable in this version's
//! format, and (when asked) its message the bytes that were kept.
//!
//! What is found wrong is a [`Damage`]: `spool list` shows it as state
//! `damaged` with the reason, and `spool flush` moves the entry out of its
//! way (see [`Damage`] for where) instead of failing at every run.

use std::fs;
use std::io;
use std::path::Path;

use crate::digest;
use crate::meta::{Meta, Unreadable};
use crate::trust::{self, Kind};

/// An entry's message, as prepared for the first attempt.
pub const MESSAGE: &str = "message.eml";
/// An entry's record ([`Meta`]).
pub const META: &str = "meta.json";

/// What is wrong with an entry.
#[derive(Debug, PartialEq)]
#[non_exhaustive]
pub enum Damage {
    /// A link, or a folder or file of the wrong type, owner or mode:
    /// planted, or made by someone else. Moved, unread, to `quarantine/`.
    Untrusted(String),
    /// `meta.json` or `message.eml` missing, or `meta.json` damaged:
    /// nothing can be known about it. Moved to `quarantine/`.
    Unreadable(String),
    /// `meta.json` of a newer postie, or of a format this program cannot
    /// read (format 1 without the command's reader): left where it is,
    /// for a postie that can.
    Newer(String),
    /// The message is not the bytes that were kept (cut short or
    /// changed): to `dead/`, with the reason in its record.
    Mismatch(Box<Meta>, String),
}

impl Damage {
    /// Why, in words that name the path.
    pub fn reason(&self) -> &str {
        match self {
            Self::Untrusted(reason)
            | Self::Unreadable(reason)
            | Self::Newer(reason)
            | Self::Mismatch(_, reason) => reason,
        }
    }
}

/// Looks at the entry at `entry`, following no link. `Err` only when it
/// cannot be looked at (it moved away, say); with `message`, the
/// message's size and hash are checked against the record too.
pub fn inspect(entry: &Path, message: bool) -> io::Result<Result<Meta, Damage>> {
    if let Err(reason) = trust::check(entry, Kind::Dir)? {
        return Ok(Err(Damage::Untrusted(reason)));
    }
    // Every file in it: a planted link under any name (a marker, a
    // record being replaced) would be written through.
    for child in fs::read_dir(entry)? {
        let child = child?;
        let path = child.path();
        let meta = match fs::symlink_metadata(&path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        if let Err(reason) = trust::judge(&path, Kind::File, &meta) {
            return Ok(Err(Damage::Untrusted(reason)));
        }
    }
    let meta = match read_meta(entry) {
        Ok(Ok(meta)) => meta,
        Ok(Err(damage)) => return Ok(Err(damage)),
        Err(e) => return Err(e),
    };
    let message_path = entry.join(MESSAGE);
    match fs::symlink_metadata(&message_path) {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            still_there(entry)?;
            return Ok(Err(Damage::Unreadable(format!(
                "{} is missing",
                message_path.display()
            ))));
        }
        Err(e) => return Err(e),
    }
    if message {
        match digest::mismatch(&message_path, meta.size, meta.sha256.as_deref()) {
            Ok(None) => {}
            Ok(Some(reason)) => return Ok(Err(Damage::Mismatch(Box::new(meta), reason))),
            Err(e) if trust::is_untrusted(&e) => return Ok(Err(Damage::Untrusted(e.to_string()))),
            Err(e) => return Err(e),
        }
    }
    Ok(Ok(meta))
}

/// A file found missing: damage only if the entry is still there (a
/// flush may have claimed it, or `spool remove` deleted it, meanwhile).
fn still_there(entry: &Path) -> io::Result<()> {
    fs::symlink_metadata(entry).map(drop)
}

/// The entry's record, read without following a link.
fn read_meta(entry: &Path) -> io::Result<Result<Meta, Damage>> {
    let path = entry.join(META);
    let bytes = match trust::open_read(&path).and_then(|mut f| {
        let mut bytes = Vec::new();
        io::Read::read_to_end(&mut f, &mut bytes)?;
        Ok(bytes)
    }) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            still_there(entry)?;
            return Ok(Err(Damage::Unreadable(format!(
                "{} is missing",
                path.display()
            ))));
        }
        Err(e) if trust::is_untrusted(&e) => return Ok(Err(Damage::Untrusted(e.to_string()))),
        Err(e) => return Err(e),
    };
    Ok(match Meta::from_json(&bytes) {
        Ok(meta) => Ok(meta),
        Err(e @ (Unreadable::Newer(_) | Unreadable::NeedsCommand)) => {
            Err(Damage::Newer(format!("{}: {e}", path.display())))
        }
        Err(e @ Unreadable::Damaged(_)) => {
            Err(Damage::Unreadable(format!("{}: {e}", path.display())))
        }
    })
}
