//! The log of sent mail: one line per message tried (time, account,
//! server, TLS, AUTH mechanism, envelope, size, the server's reply, queue
//! id, exit status) to a file, to syslog, or both, as msmtp's `logfile`
//! and `syslog`. Never a secret: the line is made only of what the
//! transcript shows in clear, and the server's words lose their control
//! characters so a reply cannot forge a line.
//!
//! A log that cannot be written is a warning on standard error, never a
//! failure: the mail has gone (or not) whatever the log says.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use postie_smtp::{Error, Sent};

/// syslog's facilities by name (RFC 5424 §6.2.1), as msmtp takes them.
const FACILITIES: &[(&str, u8)] = &[
    ("LOG_USER", 1),
    ("LOG_MAIL", 2),
    ("LOG_LOCAL0", 16),
    ("LOG_LOCAL1", 17),
    ("LOG_LOCAL2", 18),
    ("LOG_LOCAL3", 19),
    ("LOG_LOCAL4", 20),
    ("LOG_LOCAL5", 21),
    ("LOG_LOCAL6", 22),
    ("LOG_LOCAL7", 23),
];

/// The local syslog socket.
pub(crate) const DEV_LOG: &str = "/dev/log";

/// Where the lines go.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct LogTarget {
    /// A file, appended to.
    pub(crate) file: Option<PathBuf>,
    /// syslog: the facility and the socket.
    pub(crate) syslog: Option<Syslog>,
}

/// A syslog destination.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Syslog {
    /// The facility number (1 = LOG_USER, msmtp's default).
    pub(crate) facility: u8,
    /// The datagram socket (`/dev/log` unless configured).
    pub(crate) socket: PathBuf,
}

impl Syslog {
    /// `off`: none; `on` (LOG_USER, as msmtp) or a facility name
    /// (`LOG_MAIL`...): on `socket`.
    pub(crate) fn parse_switch(value: &str, socket: Option<&Path>) -> Result<Option<Self>, String> {
        if value.eq_ignore_ascii_case("off") || value.eq_ignore_ascii_case("false") {
            return Ok(None);
        }
        Self::parse(value, socket).map(Some)
    }

    /// `on` (LOG_USER, as msmtp) or a facility name (`LOG_MAIL`...), on
    /// `socket`.
    pub(crate) fn parse(value: &str, socket: Option<&Path>) -> Result<Self, String> {
        let facility = if value.eq_ignore_ascii_case("on") || value.eq_ignore_ascii_case("true") {
            1
        } else {
            FACILITIES
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(value))
                .map(|&(_, n)| n)
                .ok_or_else(|| {
                    format!(
                        "syslog: {value:?} is not on, off or a facility (LOG_USER, LOG_MAIL, LOG_LOCAL0 ... LOG_LOCAL7)"
                    )
                })?
        };
        Ok(Self {
            facility,
            socket: socket.map_or_else(|| PathBuf::from(DEV_LOG), Path::to_owned),
        })
    }
}

/// One message's outcome, as the log shows it.
pub(crate) struct Entry<'a> {
    pub(crate) account: Option<&'a str>,
    pub(crate) from: &'a str,
    pub(crate) recipients: &'a [String],
    pub(crate) size: Option<u64>,
    pub(crate) outcome: Result<&'a Sent, &'a Error>,
    pub(crate) exit: u8,
}

impl LogTarget {
    /// Whether there is anywhere to log.
    pub(crate) fn is_on(&self) -> bool {
        self.file.is_some() || self.syslog.is_some()
    }

    /// Writes `entry`'s line wherever the target says; a failure is a
    /// warning.
    pub(crate) fn record(&self, entry: &Entry<'_>) {
        if !self.is_on() {
            return;
        }
        let line = line(entry);
        if let Some(path) = &self.file {
            let stamped = format!(
                "{} {line}\n",
                postie_mime::date::now().format("%Y-%m-%dT%H:%M:%S%:z")
            );
            if let Err(e) = append(path, stamped.as_bytes()) {
                eprintln!(
                    "postie: warning: cannot write the log {}: {e}",
                    path.display()
                );
            }
        }
        if let Some(syslog) = &self.syslog {
            let severity = if entry.outcome.is_ok() { 6 } else { 3 };
            if let Err(e) = send_syslog(syslog, severity, &line) {
                eprintln!(
                    "postie: warning: cannot log to syslog at {}: {e}",
                    syslog.socket.display()
                );
            }
        }
    }
}

/// The line for `entry`, without a time stamp: `key=value` pairs, a value
/// with white space in double quotes.
pub(crate) fn line(entry: &Entry<'_>) -> String {
    let mut out = String::new();
    let mut field = |key: &str, value: &str| {
        let value = clean(value);
        if !out.is_empty() {
            out.push(' ');
        }
        if value.is_empty() || value.contains([' ', '"']) {
            let _ = write!(out, "{key}=\"{}\"", value.replace('"', "'"));
        } else {
            let _ = write!(out, "{key}={value}");
        }
    };
    field("account", entry.account.unwrap_or("-"));
    let (server, tls, auth) = match entry.outcome {
        Ok(sent) => (
            sent.server().to_string(),
            sent.tls()
                .map_or_else(|| "off".to_owned(), |t| t.version.clone()),
            sent.auth().unwrap_or("off").to_owned(),
        ),
        Err(error) => (
            error
                .server()
                .map_or_else(|| "-".to_owned(), ToString::to_string),
            "-".to_owned(),
            "-".to_owned(),
        ),
    };
    field("server", &server);
    field("tls", &tls);
    field("auth", &auth);
    field("from", entry.from);
    field("recipients", &entry.recipients.join(","));
    field(
        "size",
        &entry.size.map_or_else(|| "-".to_owned(), |s| s.to_string()),
    );
    match entry.outcome {
        Ok(sent) => {
            field("code", &sent.reply().code().to_string());
            field(
                "queue_id",
                &sent.queue_id().unwrap_or_else(|| "-".to_owned()),
            );
            if !sent.refused().is_empty() {
                let refused: Vec<&str> = sent.refused().iter().map(|r| r.address()).collect();
                field("refused", &refused.join(","));
            }
        }
        Err(error) => {
            field(
                "code",
                &error
                    .code()
                    .map_or_else(|| "-".to_owned(), |c| c.to_string()),
            );
            field("error", &error.to_string());
        }
    }
    field("exit", &entry.exit.to_string());
    out
}

/// `text` on one line: control characters (a CR or LF in a server's
/// reply, say) become spaces.
fn clean(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Appends `bytes` to the log at `path` in one write (lines of several
/// postie processes do not mix), creating it private (0600); `-` is
/// standard output (msmtp's `logfile -`). A symbolic link is refused
/// (`O_NOFOLLOW`), a FIFO planted at the path cannot block (`O_NONBLOCK`,
/// then refused), and so is a file of someone else or one group or others
/// can write (they could forge lines). One others can read is the user's
/// choice (msmtp makes its log 0644).
fn append(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
    if path == Path::new("-") {
        let mut out = std::io::stdout().lock();
        return out.write_all(bytes).and_then(|()| out.flush());
    }
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    let meta = file.metadata()?;
    let me = rustix::process::geteuid().as_raw();
    if !meta.is_file() || meta.uid() != me {
        return Err(std::io::Error::other(format!(
            "not a regular file of yours (uid {me})"
        )));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(std::io::Error::other(format!(
            "group or others can write it (mode {:03o}): run chmod go-w {}",
            meta.mode() & 0o777,
            path.display()
        )));
    }
    file.write_all(bytes)
}

/// One datagram to the local syslog, in the form the C library's
/// syslog(3) writes: `<PRI>Mmm dd hh:mm:ss postie[pid]: message`.
fn send_syslog(syslog: &Syslog, severity: u8, line: &str) -> std::io::Result<()> {
    let socket = std::os::unix::net::UnixDatagram::unbound()?;
    let priority = u16::from(syslog.facility) * 8 + u16::from(severity);
    let message = format!(
        "<{priority}>{} postie[{}]: {line}",
        postie_mime::date::now().format("%b %e %H:%M:%S"),
        std::process::id()
    );
    socket.send_to(message.as_bytes(), &syslog.socket)?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn facilities_by_name_or_on() {
        assert_eq!(Syslog::parse("on", None).unwrap().facility, 1);
        assert_eq!(Syslog::parse("LOG_MAIL", None).unwrap().facility, 2);
        assert_eq!(Syslog::parse("log_local7", None).unwrap().facility, 23);
        assert_eq!(
            Syslog::parse("on", None).unwrap().socket,
            PathBuf::from(DEV_LOG)
        );
        assert!(Syslog::parse("LOG_KERN", None).is_err());
    }

    #[test]
    fn a_reply_cannot_forge_a_line() {
        assert_eq!(clean("250 ok\r\nfake line"), "250 ok  fake line");
    }

    #[test]
    fn the_log_is_private_and_never_followed_through_a_link() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = std::env::temp_dir().join(format!("postie-sent-log-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("sent.log");
        append(&log, b"one\n").unwrap();
        append(&log, b"two\n").unwrap();
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "one\ntwo\n");
        assert_eq!(
            std::fs::metadata(&log).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let target = dir.join("target");
        std::fs::write(&target, "").unwrap();
        let link = dir.join("link.log");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(append(&link, b"x\n").is_err());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "");
        // One others could write, or a FIFO someone planted: refused, and
        // the FIFO does not block.
        std::fs::set_permissions(&log, std::fs::Permissions::from_mode(0o622)).unwrap();
        assert!(append(&log, b"forged?\n").is_err());
        let fifo = dir.join("fifo.log");
        assert!(std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success());
        assert!(append(&fifo, b"x\n").is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
