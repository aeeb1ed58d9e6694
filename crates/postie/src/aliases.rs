//! Aliases for recipients without a domain, as msmtp has them: cron mails
//! `root`, which without an alias becomes `root@` this host and goes
//! nowhere. The file is in `/etc/aliases` form and is read only when the
//! account (or `--aliases`) names one; postie never reads a system file on
//! its own.
//!
//! ```text
//! # comment
//! root: admin@example.org
//! www-data: web@example.org, admin@example.org
//! default: catch-all@example.org
//! ```
//!
//! A local part is looked up in any case; `default` stands for every local
//! part not listed. One pass, as msmtp: an alias's addresses are not
//! looked up again. Addresses that have a domain are never changed.

use std::collections::HashMap;
use std::path::Path;

/// The aliases of one file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Aliases {
    /// Local part (lower case) to its addresses.
    map: HashMap<String, Vec<String>>,
}

impl Aliases {
    /// Reads `path`, after checking that no one but its owner (the user or
    /// root) can change it: whoever can write it decides where mail goes.
    pub(crate) fn load(path: &Path) -> Result<Self, String> {
        use std::io::Read as _;
        let shown = path.display();
        let mut file = std::fs::File::open(path)
            .map_err(|e| format!("cannot read the aliases file {shown}: {e}"))?;
        let meta = file
            .metadata()
            .map_err(|e| format!("cannot read the aliases file {shown}: {e}"))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt as _;
            if meta.mode() & 0o022 != 0 {
                return Err(format!(
                    "the aliases file {shown} can be written by group or others (mode {:03o}), who could redirect your mail: run chmod go-w {shown}",
                    meta.mode() & 0o777
                ));
            }
            if let Some(problem) = crate::config::foreign_owner(meta.uid()) {
                return Err(format!(
                    "the aliases file {shown} {problem}, and its owner could redirect your mail"
                ));
            }
        }
        let mut text = String::new();
        file.read_to_string(&mut text)
            .map_err(|e| format!("cannot read the aliases file {shown}: {e}"))?;
        Self::parse(&text).map_err(|(line, why)| format!("{shown}:{line}: {why}"))
    }

    /// Parses the `/etc/aliases` form: `name: address, address`, `#`
    /// comments, lines starting with white space continuing the one
    /// before. An error is the line number and what is wrong.
    pub(crate) fn parse(text: &str) -> Result<Self, (usize, String)> {
        let mut map: HashMap<String, Vec<String>> = HashMap::new();
        // Logical lines (continuations joined), each with its first number.
        let mut logical: Vec<(usize, String)> = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or_default();
            if line.trim().is_empty() {
                continue;
            }
            match logical.last_mut() {
                Some((_, joined)) if line.starts_with([' ', '\t']) => {
                    joined.push(' ');
                    joined.push_str(line.trim());
                }
                _ if line.starts_with([' ', '\t']) => {
                    return Err((
                        i + 1,
                        "a continuation line with no alias before it".to_owned(),
                    ));
                }
                _ => logical.push((i + 1, line.trim().to_owned())),
            }
        }
        for (number, line) in logical {
            let Some((name, targets)) = line.split_once(':') else {
                return Err((number, "expected 'name: address, ...'".to_owned()));
            };
            let name = name.trim().to_ascii_lowercase();
            if name.is_empty() || name.contains(char::is_whitespace) || name.contains('@') {
                return Err((number, format!("{name:?} is not a local part")));
            }
            let targets: Vec<String> = targets
                .split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect();
            if targets.is_empty() {
                return Err((number, format!("the alias {name} names no address")));
            }
            if let Some(bad) = targets
                .iter()
                .find(|t| t.contains(char::is_whitespace) || t.contains('\0'))
            {
                return Err((
                    number,
                    format!("{bad:?} is not one address (separate addresses with commas)"),
                ));
            }
            map.entry(name).or_default().extend(targets);
        }
        Ok(Self { map })
    }

    /// `recipients` with every address that has no domain replaced by its
    /// alias (or `default`'s); the others as they are.
    pub(crate) fn apply(&self, recipients: &[String]) -> Vec<String> {
        let mut out = Vec::with_capacity(recipients.len());
        for recipient in recipients {
            let targets = bare_local_part(recipient).and_then(|local| {
                self.map
                    .get(&local.to_ascii_lowercase())
                    .or_else(|| self.map.get("default"))
            });
            match targets {
                Some(targets) => out.extend(targets.iter().cloned()),
                None => out.push(recipient.clone()),
            }
        }
        out
    }

    /// A recipient list as given (`--recipients`, sendmail's arguments and
    /// `-t`'s To, Cc and Bcc, names and all) with its addresses that have
    /// no domain replaced; the rest, names, groups and quoted commas
    /// included, as it was.
    pub(crate) fn apply_to_list(&self, list: &str) -> String {
        let pieces: Vec<String> = split_list(list).into_iter().map(str::to_owned).collect();
        self.apply(&pieces).join(",")
    }
}

/// `list` cut at the commas that separate addresses: not those inside a
/// quoted string, an angle-bracketed address, a comment or a group.
fn split_list(list: &str) -> Vec<&str> {
    let mut pieces = Vec::new();
    let (mut quoted, mut escaped) = (false, false);
    let (mut angle, mut comment, mut group) = (0u32, 0u32, false);
    let mut start = 0;
    for (i, c) in list.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted || comment > 0 => escaped = true,
            '"' if comment == 0 => quoted = !quoted,
            _ if quoted => {}
            '(' => comment += 1,
            ')' => comment = comment.saturating_sub(1),
            _ if comment > 0 => {}
            '<' => angle += 1,
            '>' => angle = angle.saturating_sub(1),
            ':' if angle == 0 => group = true,
            ';' if angle == 0 => group = false,
            ',' if angle == 0 && !group => {
                pieces.push(&list[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    pieces.push(&list[start..]);
    pieces
}

/// The local part of `recipient` when it is an address without a domain:
/// `root`, `Root <root>`, `root (Cron)`. `None` for an address with a
/// domain, a group (`undisclosed-recipients:;`), or anything else.
fn bare_local_part(recipient: &str) -> Option<&str> {
    let mut text = recipient.trim();
    // A trailing comment: `root (Cron)`.
    if let Some(open) = text.find('(') {
        if text.ends_with(')') {
            text = text[..open].trim_end();
        }
    }
    // `Name <addr>`: the address.
    if let (Some(open), true) = (text.rfind('<'), text.ends_with('>')) {
        text = text[open + 1..text.len() - 1].trim();
    }
    let plain =
        !text.is_empty() && !text.contains(|c: char| c.is_whitespace() || "@:;<>\"(),".contains(c));
    plain.then_some(text)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|&s| s.to_owned()).collect()
    }

    #[test]
    fn local_parts_get_their_alias_and_addresses_keep_theirs() {
        let aliases = Aliases::parse(
            "# cron's mail\nroot: admin@example.org\nwww-data: web@example.org,\n  admin@example.org # both\n\n",
        )
        .unwrap();
        assert_eq!(
            aliases.apply(&strings(&["ROOT", "www-data", "bob", "root@elsewhere.org"])),
            strings(&[
                "admin@example.org",
                "web@example.org",
                "admin@example.org",
                "bob",
                "root@elsewhere.org"
            ])
        );
    }

    #[test]
    fn a_list_as_written_keeps_its_names_groups_and_quoted_commas() {
        let aliases =
            Aliases::parse("root: admin@example.org\ndefault: all@example.org\n").unwrap();
        assert_eq!(
            aliases.apply_to_list(
                "\"Doe, John\" <j@x.org>, Root <root>, cron (daemon), undisclosed-recipients:;"
            ),
            "\"Doe, John\" <j@x.org>,admin@example.org,all@example.org, undisclosed-recipients:;"
        );
        assert_eq!(
            aliases.apply_to_list("team: a@x.org, b@x.org;, bob"),
            "team: a@x.org, b@x.org;,all@example.org"
        );
    }

    #[test]
    fn default_catches_every_other_local_part_once() {
        let aliases = Aliases::parse("default: all@example.org\nroot: default\n").unwrap();
        // One pass: root's alias is the word "default", not looked up again.
        assert_eq!(
            aliases.apply(&strings(&["bob", "root"])),
            strings(&["all@example.org", "default"])
        );
    }

    #[test]
    fn mistakes_name_their_line() {
        assert_eq!(Aliases::parse("root admin@example.org").unwrap_err().0, 1);
        assert_eq!(Aliases::parse("ok: a@b\n  \n root:").unwrap_err().0, 1);
        assert_eq!(Aliases::parse("  a@b").unwrap_err().0, 1);
        assert_eq!(Aliases::parse("a@b: c@d").unwrap_err().0, 1);
        assert_eq!(Aliases::parse("x: a@b\ny:\n").unwrap_err().0, 2);
    }

    #[test]
    fn a_file_others_can_change_is_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = std::env::temp_dir().join(format!("postie-aliases-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("aliases");
        std::fs::write(&path, "root: admin@example.org\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(Aliases::load(&path).is_ok());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o664)).unwrap();
        let err = Aliases::load(&path).unwrap_err();
        assert!(err.contains("chmod go-w"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
