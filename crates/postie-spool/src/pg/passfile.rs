//! Passwords from a password file in libpq's format (`~/.pgpass`,
//! `PGPASSFILE`): the store's contract keeps passwords out of URLs and
//! command lines, and this is the file PostgreSQL's own tools read.
//!
//! Each line is `host:port:database:user:password`; `*` in any of the
//! first four matches anything, `\:` and `\\` stand for `:` and `\`, and
//! lines starting with `#` are comments. The first line that matches
//! wins. As libpq does, a file others can read or write is not used.

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

/// What a password is looked up for.
pub(crate) struct Lookup<'a> {
    /// The host as given (a name or an address).
    pub(crate) host: &'a str,
    /// The port.
    pub(crate) port: u16,
    /// The database.
    pub(crate) database: &'a str,
    /// The role.
    pub(crate) user: &'a str,
}

/// The password file to read: `explicit`, else `$PGPASSFILE`, else
/// `~/.pgpass`; `None` when none of them is named.
pub(crate) fn location(explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(path) = explicit {
        return Some(path.to_owned());
    }
    let set = |var: &str| std::env::var_os(var).filter(|v| !v.is_empty());
    set("PGPASSFILE")
        .map(PathBuf::from)
        .or_else(|| set("HOME").map(|home| PathBuf::from(home).join(".pgpass")))
}

/// The password for `lookup` in the file at `path`: `Ok(None)` when the
/// file is missing or has no line for it; an error when it cannot be read
/// or others may read it.
pub(crate) fn password(path: &Path, lookup: &Lookup<'_>) -> io::Result<Option<Zeroizing<String>>> {
    let mut file = match crate::trust::open_read(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = file.metadata()?.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!(
                    "{}: others may read it (mode {:o}): chmod 600 it",
                    path.display(),
                    mode & 0o777
                ),
            ));
        }
    }
    let mut text = Zeroizing::new(String::new());
    file.read_to_string(&mut text)?;
    Ok(find(&text, lookup))
}

/// The password of the first line of `text` that matches `lookup`.
pub(crate) fn find(text: &str, lookup: &Lookup<'_>) -> Option<Zeroizing<String>> {
    let port = lookup.port.to_string();
    let wanted = [lookup.host, port.as_str(), lookup.database, lookup.user];
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .map(fields)
        .find(|fields| {
            fields.len() == 5
                && fields
                    .iter()
                    .zip(wanted)
                    .all(|(field, want)| field.as_str() == "*" || field.as_str() == want)
        })
        .and_then(|mut fields| fields.pop())
}

/// A line cut at the unescaped colons, the escapes undone; each field
/// wiped when dropped (the last one is the password).
fn fields(line: &str) -> Vec<Zeroizing<String>> {
    let mut fields = vec![Zeroizing::new(String::new())];
    let mut chars = line.trim_end_matches('\r').chars();
    while let Some(c) = chars.next() {
        let c = match c {
            '\\' => chars.next().unwrap_or('\\'),
            ':' => {
                fields.push(Zeroizing::new(String::new()));
                continue;
            }
            c => c,
        };
        if let Some(field) = fields.last_mut() {
            field.push(c);
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_matching_line_wins_with_wildcards_and_escapes() {
        let text = "# comment\n\
            db.example:5432:other:alice:nope\n\
            127.0.0.1:10065:postie:alice:p\\:w\\\\d\n\
            *:*:*:alice:fallback\n";
        let lookup = |host, port, database| Lookup {
            host,
            port,
            database,
            user: "alice",
        };
        let found = |l: Lookup<'_>| find(text, &l).map(|p| p.to_string());
        assert_eq!(
            found(lookup("127.0.0.1", 10065, "postie")).as_deref(),
            Some("p:w\\d")
        );
        assert_eq!(
            found(lookup("127.0.0.1", 10066, "postie")).as_deref(),
            Some("fallback")
        );
        let bob = Lookup {
            user: "bob",
            ..lookup("127.0.0.1", 10065, "postie")
        };
        assert_eq!(find(text, &bob).map(|p| p.to_string()), None);
    }

    #[test]
    fn a_file_others_can_read_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let path = std::env::temp_dir().join(format!("postie-pgpass-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        std::fs::write(&path, "*:*:*:*:secret\n").unwrap_or_default();
        let lookup = Lookup {
            host: "h",
            port: 1,
            database: "d",
            user: "u",
        };
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap_or_default();
        assert!(password(&path, &lookup).is_err());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap_or_default();
        let found = password(&path, &lookup).ok().flatten();
        assert_eq!(found.as_deref().map(String::as_str), Some("secret"));
        let _ = std::fs::remove_file(&path);
        assert!(matches!(password(&path, &lookup), Ok(None)));
    }
}
