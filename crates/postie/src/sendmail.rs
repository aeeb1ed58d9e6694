//! `sendmail`: the interface mail(1), cron, git send-email and most scripts
//! call. Invoked as `sendmail` (a symlink to postie: argv[0]) or as
//! `postie sendmail`. The flags are sendmail's, translated into `postie
//! send` and sent with the accounts file's default account (or the one
//! `--account` names).
//!
//! Accepted: `-t` / `--read-recipients` (recipients from To, Cc and Bcc,
//! added to those given), `--read-envelope-from` (msmtp's: the envelope
//! sender from the message's From), `-i` / `-oi` (a line holding only `.`
//! does not end the message), `-f ADDR` / `-r ADDR` (envelope sender), `-F
//! NAME` (full name, for a From the message lacks), `-v`, `-N LIST` (DSN
//! notify), `-R full|hdrs`, `-V ID` (envelope id), `-C FILE` (the accounts
//! file), `--account NAME` / `-a NAME` (msmtp's), `--config FILE` (a long
//! flag also as `--flag=VALUE`), `--`, and, accepted and ignored as
//! meaningless here:
//! `-bm`, `-o*` (`-oem`, `-odi`, `-om`...; but `-odq` and `-odd`, queue
//! only, keep the message in the spool for a relayer: `postie send
//! --defer`), `-B TYPE`, `-h N`, `-L TAG`,
//! `-O OPT`, `-X FILE`, `-n`, `-U`, `-G`. Other modes (`-bs`, `-bp`, `-q`,
//! `-bv`...) are refused (exit 64). The message comes on standard input.
//!
//! Exit codes are `postie send`'s, but a failed message that was kept in
//! the spool (written and fsynced) exits 0, as a mail server that queued
//! it; one that could not be kept keeps the failure's code, so the caller
//! (mail(1)'s dead.letter) still has it.

use std::ffi::OsString;
use std::io::{self, BufRead, Read};

use clap::Parser as _;
use postie_mime::Message;

use crate::args::{Cli, Command};
use crate::exit;
use crate::header_end::HeaderEnded;
use crate::stdin_spool::Spooled;

/// What the flags asked for.
#[derive(Debug, Default, PartialEq, Eq)]
struct Flags {
    from_headers: bool,
    /// msmtp's `--read-envelope-from`.
    sender_from_header: bool,
    ignore_dots: bool,
    sender: Option<String>,
    full_name: Option<String>,
    verbose: bool,
    /// `-odq` / `-odd`: kept in the spool, not sent now.
    defer: bool,
    notify: Option<String>,
    ret: Option<String>,
    envid: Option<String>,
    config: Option<String>,
    account: Option<String>,
    /// `--help`: the flags, and nothing sent.
    help: bool,
    /// msmtp's `--logfile`, `--syslog[=FACILITY]` and `--aliases`.
    log_file: Option<String>,
    syslog: Option<String>,
    aliases: Option<String>,
    recipients: Vec<String>,
}

/// Whether this process was called as `sendmail` (by a symlink's name).
pub(crate) fn called_as_sendmail(argv0: &std::ffi::OsStr) -> bool {
    std::path::Path::new(argv0)
        .file_name()
        .is_some_and(|name| name == "sendmail")
}

/// Runs with sendmail's arguments (without the program name).
pub(crate) fn run(args: Vec<OsString>) -> u8 {
    let args: Vec<String> = match args.into_iter().map(OsString::into_string).collect() {
        Ok(args) => args,
        Err(_) => return usage("arguments must be UTF-8"),
    };
    let flags = match parse(&args) {
        Ok(flags) => flags,
        Err(text) => return usage(&text),
    };
    if flags.help {
        crate::sendmail_help::print();
        return exit::OK;
    }
    let input = io::stdin().lock();
    let spooled = match spool(input, flags.ignore_dots) {
        Ok(spooled) => spooled,
        Err(e) => {
            eprintln!("sendmail: cannot read standard input: {e}");
            return exit::NOINPUT;
        }
    };
    let message = match Message::parse_file(spooled.path()) {
        Ok(message) => message,
        Err(e) => {
            eprintln!("sendmail: the message does not parse: {e}");
            return exit::DATAERR;
        }
    };
    let argv = match send_argv(&flags, &message, spooled.path()) {
        Ok(argv) => argv,
        Err(text) => return usage(&text),
    };
    match Cli::try_parse_from(argv) {
        // Kept in the spool (written and fsynced: `keep` returns only
        // then) is accepted, as a mail server that queued it: exit 0. Not
        // kept, the failure's code, so the caller (mail(1)'s dead.letter,
        // cron's log) still has the message.
        Ok(Cli {
            command: Command::Send(send),
        }) => match crate::send::run_keeping(*send) {
            ran if ran.kept => exit::OK,
            ran => ran.code,
        },
        Ok(_) => exit::SOFTWARE,
        Err(e) => usage(&e.to_string()),
    }
}

fn usage(text: &str) -> u8 {
    eprintln!("sendmail: {}", text.trim_end());
    exit::USAGE
}

fn parse(args: &[String]) -> Result<Flags, String> {
    let mut flags = Flags::default();
    let mut it = args.iter();
    // A flag's value: attached (`-fADDR`) or the next argument.
    fn value<'a>(
        attached: &'a str,
        it: &mut std::slice::Iter<'a, String>,
        flag: &str,
    ) -> Result<String, String> {
        if attached.is_empty() {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))
        } else {
            Ok(attached.to_owned())
        }
    }
    while let Some(arg) = it.next() {
        if arg == "--" {
            flags.recipients.extend(it.by_ref().cloned());
            break;
        }
        if let Some(long) = arg.strip_prefix("--") {
            // `--flag VALUE` or `--flag=VALUE`.
            let (name, attached) = match long.split_once('=') {
                Some((name, value)) => (name, Some(value.to_owned())),
                None => (long, None),
            };
            let mut value_of = |flag: &str| match attached.clone() {
                Some(value) => Ok(value),
                None => value("", &mut it, flag),
            };
            match name {
                "account" => flags.account = Some(value_of("--account")?),
                "config" => flags.config = Some(value_of("--config")?),
                "logfile" => flags.log_file = Some(value_of("--logfile")?),
                "aliases" => flags.aliases = Some(value_of("--aliases")?),
                // An optional value, attached only (as msmtp's).
                "syslog" => {
                    flags.syslog = Some(attached.clone().unwrap_or_else(|| "on".to_owned()))
                }
                "help" if attached.is_none() => flags.help = true,
                "read-recipients" if attached.is_none() => flags.from_headers = true,
                "read-envelope-from" if attached.is_none() => flags.sender_from_header = true,
                other => return Err(format!("unknown option --{other}")),
            }
            continue;
        }
        let Some(flag) = arg.strip_prefix('-') else {
            flags.recipients.push(arg.clone());
            continue;
        };
        let (letter, rest) = flag.split_at(flag.chars().next().map_or(0, char::len_utf8));
        match letter {
            "t" if rest.is_empty() => flags.from_headers = true,
            "i" if rest.is_empty() => flags.ignore_dots = true,
            "v" if rest.is_empty() => flags.verbose = true,
            "f" | "r" => flags.sender = Some(value(rest, &mut it, "-f")?),
            "F" => flags.full_name = Some(value(rest, &mut it, "-F")?),
            "N" => flags.notify = Some(value(rest, &mut it, "-N")?),
            "R" => flags.ret = Some(value(rest, &mut it, "-R")?),
            "V" => flags.envid = Some(value(rest, &mut it, "-V")?),
            "C" => flags.config = Some(value(rest, &mut it, "-C")?),
            "a" => flags.account = Some(value(rest, &mut it, "-a")?),
            "o" if rest == "i" => flags.ignore_dots = true,
            // Delivery mode queue-only or deferred: kept in the spool for a
            // relayer (`postie send --defer`).
            "o" if rest == "dq" || rest == "dd" => flags.defer = true,
            // Other delivery and error modes, queue options: this client
            // sends at once and reports by exit code.
            "o" => {}
            "b" if rest == "m" => {}
            "b" => return Err(format!("-b{rest} is not supported (only -bm, to send)")),
            "B" | "h" | "L" | "O" | "X" => {
                value(rest, &mut it, arg)?;
            }
            "n" | "U" | "G" if rest.is_empty() => {}
            _ => return Err(format!("unknown option {arg}")),
        }
    }
    if flags.recipients.is_empty() && !flags.from_headers && !flags.help {
        return Err(
            "no recipients: give them as arguments, or -t to read To, Cc and Bcc".to_owned(),
        );
    }
    Ok(flags)
}

/// Copies the message into a private temporary file; without `-i`, a line
/// holding only `.` ends it (traditional sendmail), and the rest is read and
/// dropped so the writer does not fail on a closed pipe. A header that
/// stops short (or is missing) ends at its first line that is no field
/// ([`HeaderEnded`]).
fn spool(input: impl BufRead, ignore_dots: bool) -> io::Result<Spooled> {
    if ignore_dots {
        return Spooled::from_reader(HeaderEnded::new(input));
    }
    Spooled::from_reader(HeaderEnded::new(io::BufReader::new(DotTerminated {
        input,
        pending: Vec::new(),
        at: 0,
        done: false,
    })))
}

/// Reads lines until one is exactly `.` (LF or CRLF).
struct DotTerminated<R> {
    input: R,
    pending: Vec<u8>,
    at: usize,
    done: bool,
}

impl<R: BufRead> Read for DotTerminated<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at >= self.pending.len() {
            if self.done {
                return Ok(0);
            }
            self.pending.clear();
            self.at = 0;
            if self.input.read_until(b'\n', &mut self.pending)? == 0 {
                self.done = true;
                return Ok(0);
            }
            if matches!(self.pending.as_slice(), b".\n" | b".\r\n" | b".") {
                self.pending.clear();
                self.done = true;
                io::copy(&mut self.input, &mut io::sink())?;
                return Ok(0);
            }
        }
        let n = (self.pending.len() - self.at).min(buf.len());
        if let (Some(dst), Some(src)) = (buf.get_mut(..n), self.pending.get(self.at..self.at + n)) {
            dst.copy_from_slice(src);
        }
        self.at += n;
        Ok(n)
    }
}

/// The `postie send` command line for these flags.
fn send_argv(
    flags: &Flags,
    message: &Message,
    path: &std::path::Path,
) -> Result<Vec<String>, String> {
    let mut argv = vec!["postie".to_owned(), "send".to_owned()];
    // `--flag=value`, one argument: a value starting with `-` (an envid,
    // a sender, a full name) is then never read as a flag.
    let mut push = |flag: &str, value: &str| argv.push(format!("{flag}={value}"));
    if let Some(config) = &flags.config {
        push("--config", config);
    }
    if let Some(account) = &flags.account {
        push("--account", account);
    }
    if let Some(file) = &flags.log_file {
        push("--log-file", file);
    }
    if let Some(file) = &flags.aliases {
        push("--aliases", file);
    }
    if let Some(facility) = &flags.syslog {
        push("--syslog", facility);
    }
    let sender = match (&flags.sender, flags.sender_from_header) {
        (Some(sender), _) => Some(sender.clone()),
        (None, true) => Some(sender_from_header(message)?),
        (None, false) => None,
    };
    if let Some(sender) = &sender {
        push("--originator", sender);
    }
    let mut recipients = flags.recipients.clone();
    if flags.from_headers {
        // -t: To, Cc and Bcc, added to the arguments (as Postfix's does).
        for field in ["To", "Cc", "Bcc"] {
            for value in message.headers().get_all(field) {
                recipients.push(value.as_text().into_owned());
            }
        }
        if recipients.iter().all(|r| r.trim().is_empty()) {
            return Err("-t: the message has no To, Cc or Bcc".to_owned());
        }
    }
    push("--recipients", &recipients.join(", "));
    // The From is made by `postie send`, which knows the account's address.
    if let (Some(name), false) = (&flags.full_name, message.headers().contains("From")) {
        push("--full-name", name);
    }
    if let Some(notify) = &flags.notify {
        push("--dsn-notify", notify);
    }
    if let Some(ret) = &flags.ret {
        push("--dsn-ret", ret);
    }
    if let Some(envid) = &flags.envid {
        push("--envid", envid);
    }
    if flags.verbose {
        argv.push("-v".to_owned());
    }
    if flags.defer {
        argv.push("--defer".to_owned());
    }
    argv.push(path.display().to_string());
    Ok(argv)
}

/// `--read-envelope-from`: the address of the message's From (its first,
/// when it names several authors).
fn sender_from_header(message: &Message) -> Result<String, String> {
    let from = message
        .headers()
        .get("From")
        .ok_or("--read-envelope-from: the message has no From")?
        .as_text()
        .into_owned();
    let list = postie_mime::address::parse_address_list(&from)
        .map_err(|e| format!("--read-envelope-from: the From {from:?}: {e}"))?;
    postie_mime::address::mailboxes(&list)
        .first()
        .map(|mailbox| mailbox.addr_spec())
        .ok_or_else(|| format!("--read-envelope-from: the From {from:?} holds no address"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn what_callers_pass_is_understood() {
        // mail(1), cron (cronie and Debian), git send-email.
        let mail = parse(&args("-i -- bob@example.org")).unwrap();
        assert!(mail.ignore_dots);
        assert_eq!(mail.recipients, ["bob@example.org"]);
        let cron = parse(&args("-FCronDaemon -i -B8BITMIME -oem root")).unwrap();
        assert_eq!(cron.full_name.as_deref(), Some("CronDaemon"));
        assert_eq!(cron.recipients, ["root"]);
        let git = parse(&args(
            "-i -f ann@example.org bob@example.org cy@example.org",
        ))
        .unwrap();
        assert_eq!(git.sender.as_deref(), Some("ann@example.org"));
        assert_eq!(git.recipients.len(), 2);
        let t = parse(&args("-t -oi -odi -om -bm")).unwrap();
        assert!(t.from_headers && t.ignore_dots);
        assert!(!t.defer, "-odi sends at once");
    }

    #[test]
    fn queue_only_delivery_modes_keep_the_message_for_a_relayer() {
        for mode in ["-odq", "-odd"] {
            let flags = parse(&args(&format!("{mode} bob@example.org"))).unwrap();
            assert!(flags.defer, "{mode}");
            let argv = send_argv(&flags, &Message::text("x"), std::path::Path::new("/m")).unwrap();
            assert!(argv.contains(&"--defer".to_owned()), "{mode}: {argv:?}");
        }
        let flags = parse(&args("-odb bob@example.org")).unwrap();
        assert!(!flags.defer);
    }

    #[test]
    fn values_that_start_with_a_dash_reach_postie_send_as_values() {
        use clap::Parser as _;
        let flags = parse(&args("-f -ann@example.org -V -odd -- -bob@example.org")).unwrap();
        let message = Message::text("hello");
        let argv = send_argv(&flags, &message, std::path::Path::new("/tmp/m.eml")).unwrap();
        let cli = crate::args::Cli::try_parse_from(&argv).unwrap();
        let crate::args::Command::Send(send) = cli.command else {
            panic!("{argv:?}")
        };
        assert_eq!(send.originator.as_deref(), Some("-ann@example.org"));
        assert_eq!(send.transport.envid.as_deref(), Some("-odd"));
        assert_eq!(send.recipients.as_deref(), Some("-bob@example.org"));
    }

    /// msmtp's long names, and `--flag=value`.
    #[test]
    fn msmtp_s_flags_are_understood() {
        let flags = parse(&args("--read-recipients --account=work --config=/x/rc")).unwrap();
        assert!(flags.from_headers && !flags.sender_from_header);
        assert_eq!(flags.account.as_deref(), Some("work"));
        assert_eq!(flags.config.as_deref(), Some("/x/rc"));
        let flags = parse(&args("--read-envelope-from -a home -- bob@example.org")).unwrap();
        assert!(flags.sender_from_header && !flags.from_headers);
        assert_eq!(flags.account.as_deref(), Some("home"));
        assert!(parse(&args("--read-recipients=yes")).is_err());
    }

    #[test]
    fn read_envelope_from_takes_the_from_s_address() {
        use clap::Parser as _;
        let sender = |flags: &Flags, fields: &[(&str, &str)]| {
            let mut message = Message::text("x");
            for (name, value) in fields {
                message.headers_mut().append(name, value).unwrap();
            }
            let argv = send_argv(flags, &message, std::path::Path::new("/tmp/m.eml"))?;
            let cli = crate::args::Cli::try_parse_from(&argv).unwrap();
            let crate::args::Command::Send(send) = cli.command else {
                panic!("{argv:?}")
            };
            Ok::<_, String>(send.originator)
        };
        let flags = parse(&args("--read-envelope-from bob@example.org")).unwrap();
        let from: &[(&str, &str)] = &[
            ("From", "\"Ann A.\" <ann@example.org>, cy@example.org"),
            ("Sender", "cy@example.org"),
        ];
        assert_eq!(
            sender(&flags, from).unwrap().as_deref(),
            Some("ann@example.org")
        );
        let err = sender(&flags, &[("Subject", "none")]).unwrap_err();
        assert!(err.contains("the message has no From"), "{err}");
        // -f wins.
        let flags = parse(&args(
            "--read-envelope-from -f dee@example.org bob@example.org",
        ))
        .unwrap();
        assert_eq!(
            sender(&flags, from).unwrap().as_deref(),
            Some("dee@example.org")
        );
        // Without the flag, no envelope sender is given: postie's rules
        // (the account's from, else the From) decide.
        let flags = parse(&args("bob@example.org")).unwrap();
        assert_eq!(sender(&flags, from).unwrap(), None);
    }

    #[test]
    fn every_flag_the_help_lists_is_one_the_parser_takes() {
        for &(names, value, _) in crate::sendmail_help::FLAGS {
            for name in names.split(", ") {
                let name = name.trim_end_matches("[=FACILITY]");
                let mut line = vec![name.to_owned()];
                if value.is_some() {
                    line.push("x@example.org".to_owned());
                }
                line.push("rcpt@example.org".to_owned());
                assert!(parse(&line).is_ok(), "{line:?}: {:?}", parse(&line).err());
            }
        }
        assert!(parse(&args("--help")).unwrap().help);
    }

    #[test]
    fn other_modes_and_unknown_flags_are_refused() {
        for line in ["-bs", "-bp", "-q", "-Z x@y", "", "-t --bogus"] {
            assert!(parse(&args(line)).is_err(), "{line:?}");
        }
    }

    #[test]
    fn without_i_a_lone_dot_ends_the_message() {
        let input = b"Subject: x\n\nbody\n.\nafter the dot\n";
        let mut out = Vec::new();
        DotTerminated {
            input: &input[..],
            pending: Vec::new(),
            at: 0,
            done: false,
        }
        .read_to_end(&mut out)
        .unwrap();
        assert_eq!(out, b"Subject: x\n\nbody\n");
        // ".." and ". " are data.
        let input = b"a\n..\n. \nb\n";
        let mut out = Vec::new();
        DotTerminated {
            input: &input[..],
            pending: Vec::new(),
            at: 0,
            done: false,
        }
        .read_to_end(&mut out)
        .unwrap();
        assert_eq!(out, input);
    }
}
