//! The sendmail interface described for `sendmail --help` and the
//! postie-sendmail(1) page. The parser itself is `sendmail.rs`'s own:
//! sendmail's flags (`-oi`, `-fADDR`, `-h N`, `-bm`) do not fit clap, so
//! this description is kept beside it, and a test checks that every flag
//! it lists is one the parser takes.

/// The flags, as `(names, value, help)`; `names` as the parser spells them.
pub(crate) const FLAGS: &[(&str, Option<&str>, &str)] = &[
    (
        "-t, --read-recipients",
        None,
        "Also send to the To, Cc and Bcc of the message (Bcc is never sent as a field)",
    ),
    (
        "--read-envelope-from",
        None,
        "The envelope sender is the address of the message's From (-f wins over it)",
    ),
    (
        "-i, -oi",
        None,
        "A line holding only '.' does not end the message (without it, it does, as in sendmail)",
    ),
    (
        "-f, -r",
        Some("ADDR"),
        "The envelope sender; also chooses the msmtp account whose from matches",
    ),
    (
        "-F",
        Some("NAME"),
        "The full name for a From the message lacks",
    ),
    (
        "-a, --account",
        Some("NAME"),
        "The account of the accounts file (default: its default)",
    ),
    (
        "-C, --config",
        Some("FILE"),
        "The accounts file (postie's TOML, or an msmtp file)",
    ),
    (
        "-N",
        Some("LIST"),
        "DSN: never, or a comma list of success, failure, delay",
    ),
    ("-R", Some("full|hdrs"), "DSN: what a report returns"),
    ("-V", Some("ID"), "DSN: the envelope identifier"),
    (
        "--logfile",
        Some("FILE"),
        "Log the outcome to FILE, one line (msmtp's --logfile)",
    ),
    (
        "--syslog[=FACILITY]",
        None,
        "Log the outcome to syslog: LOG_USER, or the facility given",
    ),
    (
        "--aliases",
        Some("FILE"),
        "Replace recipients without a domain by their aliases from FILE",
    ),
    (
        "-v",
        None,
        "Print the SMTP dialogue on standard error (AUTH exchanges redacted)",
    ),
    ("--help", None, "Print this help"),
];

const ABOUT: &str = "Send the message on standard input, as sendmail does, with the accounts file's default account";

const AFTER_HELP: &str = "Called as sendmail (ln -s \"$(command -v postie)\" /usr/sbin/sendmail) or as `postie sendmail`. \
Accepted and ignored, as meaningless here: -bm, -o* (-oem, -odi...), -B TYPE, -h N, -L TAG, -O OPT, -X FILE, -n, -U, -G. \
Other modes (-bs, -bp, -q, -bv...) are refused, exit 64. A message with no header, or with one that stops short, \
is sent as Postfix would (the header ends at the first line that is no field). \
Exit codes are postie send's, but a failed message kept in the spool exits 0, as a mail server that queued it.

Examples:
  echo \"disk full\" | sendmail admin@example.org
  sendmail -t -i < message.eml
  sendmail -FCronDaemon -i -B8BITMIME -oem root
  git send-email --sendmail-cmd=sendmail 0001-fix.patch";

/// The postie-sendmail(1) page, in roff: written by hand (the flags are
/// not clap's), with the same sections as every other page.
pub(crate) fn write_man(out: &mut dyn std::io::Write) -> std::io::Result<()> {
    use crate::man_sections::escape;
    writeln!(
        out,
        ".TH postie-sendmail 1 \"postie-sendmail {}\"",
        env!("CARGO_PKG_VERSION")
    )?;
    writeln!(out, ".SH NAME")?;
    writeln!(
        out,
        "postie\\-sendmail, sendmail \\- {}",
        escape(&ABOUT.to_ascii_lowercase())
    )?;
    writeln!(out, ".SH SYNOPSIS")?;
    writeln!(out, "\\fBsendmail\\fR [FLAGS] [\\-\\-] RECIPIENT...")?;
    writeln!(out, ".br")?;
    writeln!(out, "\\fBpostie sendmail\\fR [FLAGS] [\\-\\-] RECIPIENT...")?;
    writeln!(out, ".SH DESCRIPTION")?;
    writeln!(out, "{}", escape(ABOUT))?;
    writeln!(out, ".SH OPTIONS")?;
    for &(names, value, help) in FLAGS {
        writeln!(out, ".TP")?;
        match value {
            Some(value) => writeln!(out, "\\fB{}\\fR \\fI{}\\fR", escape(names), escape(value))?,
            None => writeln!(out, "\\fB{}\\fR", escape(names))?,
        }
        writeln!(out, "{}", escape(help))?;
    }
    writeln!(out, ".TP")?;
    writeln!(out, "\\fIRECIPIENT\\fR...")?;
    writeln!(out, "The envelope recipients")?;
    crate::man_sections::write_after_help(AFTER_HELP, "postie-sendmail", out)
}

/// `sendmail --help`, on standard output.
pub(crate) fn print() {
    println!("{ABOUT}\n\nUsage: sendmail [FLAGS] [--] RECIPIENT...\n\nFlags:");
    for &(names, value, help) in FLAGS {
        let left = match value {
            Some(value) => format!("{names} {value}"),
            None => names.to_owned(),
        };
        println!("  {left:<26} {help}");
    }
    println!("\n{AFTER_HELP}");
}
