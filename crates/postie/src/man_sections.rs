//! The man-page sections clap cannot make from the flags: EXAMPLES, EXIT
//! STATUS, ENVIRONMENT, FILES and SEE ALSO, written as roff. Every page
//! gets them, so `man postie-spool-flush` answers "what does exit 75 mean"
//! and "where is the spool" as well as postie(1) does.

use std::io::{self, Write};

/// The exit codes (sendmail's sysexits, as the command contract has them).
const EXIT_STATUS: &[(&str, &str)] = &[
    ("0", "Sent (with --at-least-one, some recipients may have been refused); for sendmail, also a message kept in the spool; for postie dkim verify, every signature passed."),
    ("1", "postie dkim verify: the message has no DKIM-Signature."),
    ("64", "Bad flags (EX_USAGE)."),
    ("65", "Bad message, address or header: CR or LF where none may be, an unparseable header, no recipients, larger than the server's SIZE (EX_DATAERR); for postie dkim verify, a signature that fails."),
    ("66", "An input file cannot be read (EX_NOINPUT)."),
    ("67", "Not sent: recipients refused, at least one of them permanently (EX_NOUSER)."),
    ("68", "The host name does not resolve (EX_NOHOST)."),
    ("69", "Permanent failure: a 5xx at MAIL, DATA or the end of data, TLS required but impossible, a certificate refused, a port that speaks implicit TLS reached without --tls implicit (EX_UNAVAILABLE); postie dkim keygen --algorithm rsa2048, which prints the openssl command instead of writing a key."),
    ("70", "An internal error (EX_SOFTWARE)."),
    ("71", "A system error, e.g. a thread or the resolver could not start (EX_OSERR)."),
    ("73", "An output file cannot be written (EX_CANTCREAT)."),
    ("74", "An I/O error, e.g. a damaged spool entry (EX_IOERR)."),
    ("75", "Temporary failure: no server reachable, a 4xx, a timeout; or the connection was lost after the final dot, so the outcome is unknown (EX_TEMPFAIL). With --spool-on-failure the message is kept and sent again by `postie spool flush`."),
    ("77", "Authentication failed, or no usable mechanism (EX_NOPERM)."),
    ("78", "A bad accounts file; a spool store named wrongly: a password in its URL, another scheme, a PostgreSQL store in a postie built without it, a login the database refuses (EX_CONFIG)."),
];

/// The environment variables postie reads.
const ENVIRONMENT: &[(&str, &str)] = &[
    ("XDG_CONFIG_HOME", "Where the accounts file is looked for: $XDG_CONFIG_HOME/postie/config.toml (default ~/.config)."),
    ("XDG_STATE_HOME", "Where the spool is: $XDG_STATE_HOME/postie/spool (default ~/.local/state)."),
    ("POSTIE_SPOOL_STORE", "The spool when --store does not name one: a folder's path or postgres://ROLE@HOST[:PORT]/DB (no password in it)."),
    ("POSTIE_SPOOL_DIR", "The spool folder, when neither --store nor POSTIE_SPOOL_STORE names a spool; else the account's spool_store, else the folder under XDG_STATE_HOME."),
    ("PGPASSWORD, PGPASSFILE", "A PostgreSQL spool's password: PGPASSWORD, else the password file PGPASSFILE, else ~/.pgpass (libpq's format; readable by you alone)."),
    ("HOME", "The base of the default locations above."),
    ("USER, LOGNAME", "The local part of the default envelope sender ($USER@ the host name)."),
    ("(any name)", "The variable named by --password-env or --oauth-token-env holds the secret; secrets never come from the command line."),
];

/// The files postie reads and writes. The accounts files are looked for in
/// this order; the first found is the only one read.
const FILES: &[(&str, &str)] = &[
    ("~/.config/postie/config.toml", "The accounts file (postie's TOML; --config FILE for another). It must belong to you or root and be writable by no one else."),
    ("~/.msmtprc, ~/.config/msmtp/config", "msmtp's files, read when postie has none of its own: a user of msmtp switches by a link alone."),
    ("/etc/postie/config.toml, /etc/msmtprc", "The system's accounts files, read when the user has none (or HOME is not set); they must belong to root and be writable by no one else."),
    ("~/.local/state/postie/spool/", "The spool: messages kept after a temporary failure, one directory each. It must belong to you, with mode 0700."),
    ("the account's log_file, aliases", "The sent-mail log (created 0600, one line per message, never a secret) and the aliases file (/etc/aliases form), only where the account or a flag names them."),
];

/// The other pages, for SEE ALSO.
const PAGES: &[&str] = &[
    "postie(1)",
    "postie-send(1)",
    "postie-sendmail(1)",
    "postie-probe(1)",
    "postie-spool(1)",
    "postie-dkim(1)",
    "postie-sink(1)",
    "postie-demo(1)",
    "postie-completions(1)",
    "postie-man(1)",
];

/// Writes the sections after clap's own for the page of `command`:
/// EXAMPLES when its after-help text is examples, then EXIT STATUS,
/// ENVIRONMENT, FILES and SEE ALSO.
pub(crate) fn write(command: &clap::Command, page: &str, out: &mut dyn Write) -> io::Result<()> {
    let text = command
        .get_after_help()
        .map(|t| t.to_string())
        .unwrap_or_default();
    write_after_help(&text, page, out)
}

/// The same from an after-help text: its notes and examples, then the
/// sections every page has.
pub(crate) fn write_after_help(text: &str, page: &str, out: &mut dyn Write) -> io::Result<()> {
    let (notes, examples) = after_help(text);
    if let Some(notes) = notes {
        writeln!(out, ".SH NOTES")?;
        for paragraph in notes.split("\n\n") {
            writeln!(out, ".PP")?;
            writeln!(out, "{}", escape(&paragraph.replace('\n', " ")))?;
        }
    }
    if let Some(examples) = examples {
        writeln!(out, ".SH EXAMPLES")?;
        writeln!(out, ".nf")?;
        for line in examples.lines() {
            writeln!(out, "{}", escape(line))?;
        }
        writeln!(out, ".fi")?;
    }
    tagged(out, "EXIT STATUS", EXIT_STATUS)?;
    tagged(out, "ENVIRONMENT", ENVIRONMENT)?;
    tagged(out, "FILES", FILES)?;
    writeln!(out, ".SH \"SEE ALSO\"")?;
    let others: Vec<String> = PAGES
        .iter()
        .filter(|p| p.trim_end_matches("(1)") != page)
        .map(|p| format!("\\fB{}\\fR{}", escape(p.trim_end_matches("(1)")), "(1)"))
        .collect();
    writeln!(out, "{}", others.join(", "))
}

/// An after-help text, split into its notes and its examples (what
/// follows a line "Examples:", without that line and the indent).
fn after_help(text: &str) -> (Option<String>, Option<String>) {
    let (notes, examples) = match text.split_once("Examples:") {
        Some((notes, examples)) => (notes.trim(), Some(examples)),
        None => (text.trim(), None),
    };
    let examples = examples.map(|body| {
        body.lines()
            .skip_while(|l| l.trim().is_empty())
            .map(|l| l.strip_prefix("  ").unwrap_or(l))
            .collect::<Vec<_>>()
            .join("\n")
    });
    ((!notes.is_empty()).then(|| notes.to_owned()), examples)
}

/// A section of `.TP` paragraphs: the tag in bold, then its text.
fn tagged(out: &mut dyn Write, title: &str, items: &[(&str, &str)]) -> io::Result<()> {
    if title.contains(' ') {
        writeln!(out, ".SH \"{title}\"")?;
    } else {
        writeln!(out, ".SH {title}")?;
    }
    for (tag, text) in items {
        writeln!(out, ".TP")?;
        writeln!(out, "\\fB{}\\fR", escape(tag))?;
        writeln!(out, "{}", escape(text))?;
    }
    Ok(())
}

/// `text` safe as a roff line: backslashes doubled (as `\e`), and a line
/// that would start with a control character (`.` or `'`) or a hyphen
/// protected with `\&`.
pub(crate) fn escape(text: &str) -> String {
    let text = text.replace('\\', "\\e").replace('-', "\\-");
    if text.starts_with(['.', '\'']) {
        format!("\\&{text}")
    } else {
        text
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn roff_control_characters_are_escaped() {
        assert_eq!(escape(".dot first"), "\\&.dot first");
        assert_eq!(escape("'quote first"), "\\&'quote first");
        assert_eq!(escape("a \\ b --tls"), "a \\e b \\-\\-tls");
    }

    #[test]
    fn every_exit_code_of_the_command_is_described() {
        let described: Vec<u8> = EXIT_STATUS
            .iter()
            .map(|(c, _)| c.parse().unwrap())
            .collect();
        for code in [
            crate::exit::OK,
            crate::exit::UNSIGNED,
            crate::exit::USAGE,
            crate::exit::DATAERR,
            crate::exit::NOINPUT,
            crate::exit::NOUSER,
            crate::exit::NOHOST,
            crate::exit::UNAVAILABLE,
            crate::exit::SOFTWARE,
            crate::exit::OS_ERR,
            crate::exit::CANTCREAT,
            crate::exit::IO_ERR,
            crate::exit::TEMPFAIL,
            crate::exit::NOPERM,
            crate::exit::CONFIG,
        ] {
            assert!(
                described.contains(&code),
                "exit {code} is not in EXIT STATUS"
            );
        }
    }
}
