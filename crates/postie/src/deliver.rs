//! One message, prepared and sent: read from a file or standard input, or
//! built from the flags; the account's From filled in; the send options
//! made from the settings. `postie send` and `postie spool flush` both
//! stand on this, so the spool does not reach up into the command.

use postie_mime::builder::MessageBuilder;
use postie_mime::Message;
use postie_smtp::{envelope, Credentials, LocalEnv, SendOptions};

use crate::args::SendArgs;
use crate::exit;
use crate::stdin_spool::Spooled;

pub(crate) use postie_spool::Failure;

/// `postie send` once more for `postie spool flush`: `args` hold the kept
/// message and its envelope, `settings` how it was to be sent (as the flags
/// made them), `account` the account as it reads now. `on_trace` sees the
/// dialogue as it happens.
pub(crate) fn resend(
    args: SendArgs,
    settings: postie_smtp::TransportSettings,
    account: Option<&crate::config::Account>,
    on_trace: postie_smtp::TraceFn,
) -> Result<postie_smtp::Sent, Failure> {
    let mut spool = None;
    let message =
        load_message(&args, &mut spool).map_err(|(code, text)| Failure::Input(code, text))?;
    let mut args = args;
    let options = options_with_account(&mut args, settings, account, Some(on_trace))
        .map_err(|(code, text)| Failure::Input(code, text))?;
    let prepared = envelope::prepare(&message, &options, &LocalEnv::from_system())
        .map_err(|e| Failure::Input(exit::DATAERR, e.to_string()))?;
    let log = log_target(&args, account).map_err(|(code, text)| Failure::Input(code, text))?;
    let result = postie_smtp::blocking::send_prepared(&message, &prepared, &options);
    log_outcome(&log, account, &message, &prepared, result.as_ref());
    result.map_err(Failure::Send)
}

/// The send options once the account has filled in what the flags left
/// out (of `settings` and of `args`' message flags), with the credentials
/// read from the secret's source (unless `secrets` is `Secrets::Later`: a
/// message kept for a relayer, which reads them on its own host); an error
/// is an exit code and its reason.
pub(crate) fn options_with_account(
    args: &mut SendArgs,
    settings: postie_smtp::TransportSettings,
    account: Option<&crate::config::Account>,
    extra_trace: Option<postie_smtp::TraceFn>,
) -> Result<SendOptions, (u8, String)> {
    options_reading(args, settings, account, extra_trace, Secrets::Now)
}

/// Whether the secrets are read now (to send) or later (by whoever sends
/// a kept message).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Secrets {
    Now,
    Later,
}

/// [`options_with_account`], reading the secrets as `secrets` says.
pub(crate) fn options_reading(
    args: &mut SendArgs,
    mut settings: postie_smtp::TransportSettings,
    account: Option<&crate::config::Account>,
    extra_trace: Option<postie_smtp::TraceFn>,
    secrets: Secrets,
) -> Result<SendOptions, (u8, String)> {
    let by_flag = settings.accept_invalid_certificates;
    if let Some(account) = account {
        crate::settings::fill_from_account(&mut settings, account);
        apply_account(args, account);
    }
    apply_aliases(args, account)?;
    name_the_sender(args);
    if account.is_some_and(|a| a.from_header_always) {
        set_from_header(args);
    }
    if by_flag {
        eprintln!(
            "postie: warning: --insecure-skip-verify accepts any certificate: anyone on the path can read and change this mail"
        );
    } else if settings.accept_invalid_certificates {
        eprintln!(
            "postie: warning: the account's tls_certcheck off accepts any certificate: anyone on the path can read and change this mail"
        );
    }
    let (credentials, proxy_password) = match secrets {
        Secrets::Now => (
            crate::settings::credentials(&settings, account)?,
            crate::settings::proxy_password(&settings)?,
        ),
        Secrets::Later => (None, None),
    };
    let options =
        options(args, settings, credentials, extra_trace).map_err(|text| (exit::USAGE, text))?;
    Ok(match proxy_password {
        Some(password) => options.proxy_password(password),
        None => options,
    })
}

pub(crate) fn load_message(
    args: &SendArgs,
    spool: &mut Option<Spooled>,
) -> Result<Message, (u8, String)> {
    if args.builds_message() {
        if args.message.is_some() {
            return Err((
                exit::USAGE,
                "give either a MESSAGE file or the message flags (--from, --to, --subject, --body ...), not both".to_owned(),
            ));
        }
        return build_message(args);
    }
    // A pipe or FIFO cannot be read twice (once to count, once to send):
    // those are spooled like standard input.
    // A directory or a device (`/dev/zero` never ends) is no message.
    let named = args
        .message
        .as_deref()
        .filter(|path| path.as_os_str() != "-");
    let kind = named.map(|path| std::fs::metadata(path).map(|m| m.file_type()));
    let path = match (named, kind) {
        (Some(path), Some(Ok(kind))) if kind.is_file() => path.to_owned(),
        (Some(path), Some(Ok(kind))) if !is_pipe(kind) => {
            return Err((
                exit::NOINPUT,
                format!(
                    "cannot read {}: not a regular file (a directory or a device)",
                    path.display()
                ),
            ));
        }
        (Some(path), _) => {
            let file = std::fs::File::open(path).map_err(|e| {
                (
                    exit::NOINPUT,
                    format!("cannot read {}: {e}", path.display()),
                )
            })?;
            let spooled = Spooled::from_reader(file).map_err(|e| {
                (
                    exit::NOINPUT,
                    format!("cannot read {}: {e}", path.display()),
                )
            })?;
            let spooled_path = spooled.path().to_owned();
            *spool = Some(spooled);
            spooled_path
        }
        _ => {
            let spooled = Spooled::from_stdin()
                .map_err(|e| (exit::NOINPUT, format!("cannot read standard input: {e}")))?;
            let path = spooled.path().to_owned();
            *spool = Some(spooled);
            path
        }
    };
    if let Err(e) = std::fs::File::open(&path) {
        return Err((
            exit::NOINPUT,
            format!("cannot read {}: {e}", path.display()),
        ));
    }
    Message::parse_file(&path).map_err(|e| match e {
        postie_mime::ParseError::Io(io) => (
            exit::NOINPUT,
            format!("cannot read {}: {io}", path.display()),
        ),
        other => (exit::DATAERR, format!("{}: {other}", path.display())),
    })
}

/// A FIFO or socket: read once, to its end, like standard input.
fn is_pipe(kind: std::fs::FileType) -> bool {
    use std::os::unix::fs::FileTypeExt;
    kind.is_fifo() || kind.is_socket()
}

fn build_message(args: &SendArgs) -> Result<Message, (u8, String)> {
    // An attachment that cannot be read, or is no regular file (a
    // directory, a device, a FIFO: see postie_mime::regular_file), is an
    // input error found here, before connecting; the rest is the data's.
    let data_error = |e: postie_mime::Error| match e {
        postie_mime::Error::Io(io) => (exit::NOINPUT, io.to_string()),
        other => (exit::DATAERR, other.to_string()),
    };
    let mut builder = MessageBuilder::new();
    if let Some(from) = &args.from {
        builder = builder.from(from);
    }
    for to in &args.to {
        builder = builder.to(to);
    }
    for cc in &args.cc {
        builder = builder.cc(cc);
    }
    for bcc in &args.bcc {
        builder = builder.bcc(bcc);
    }
    if let Some(reply_to) = &args.reply_to {
        builder = builder.reply_to(reply_to);
    }
    if let Some(subject) = &args.subject {
        builder = builder.subject(subject);
    }
    let html = html_content(args)?;
    let has_html = html.is_some();
    if let Some(html) = html {
        builder = builder.html(html);
    }
    if args.body.is_some() || !has_html {
        builder = builder.text(args.body.clone().unwrap_or_default());
    }
    for file in &args.attach {
        builder = builder.attach_file(file);
    }
    for file in &args.inline {
        let id = file
            .file_name()
            .map(|n| n.to_string_lossy().replace([' ', '<', '>', '"', '\\'], "_"))
            .unwrap_or_else(|| "inline".to_owned());
        builder = builder.inline_file(file, id);
    }
    builder.build().map_err(data_error)
}

/// Fills what the message flags left out from the account: its From, as
/// the envelope sender and for a message built from flags. (How to send is
/// filled in by [`crate::settings::fill_from_account`].)
fn apply_account(args: &mut SendArgs, account: &crate::config::Account) {
    if let Some(from) = &account.from {
        if args.originator.is_none() && !args.headers.iter().any(|h| is_field(h, "from")) {
            args.originator = Some(from.clone());
        }
        if args.from.is_none() && args.builds_message() {
            args.from = Some(from.clone());
        }
    }
}

/// Recipients without a domain replaced by their aliases, from the file
/// `--aliases` or the account names (none by default, as msmtp): in the
/// envelope recipients given (`--recipients`: sendmail's arguments and
/// `-t`'s To, Cc and Bcc). Once only: a second call changes nothing, so
/// an alias's own targets are never looked up again.
pub(crate) fn apply_aliases(
    args: &mut SendArgs,
    account: Option<&crate::config::Account>,
) -> Result<(), (u8, String)> {
    if args.aliases_applied {
        return Ok(());
    }
    let Some(path) = args
        .aliases
        .clone()
        .or_else(|| account.and_then(|a| a.aliases.clone()))
    else {
        return Ok(());
    };
    let aliases = crate::aliases::Aliases::load(&path).map_err(|e| (exit::CONFIG, e))?;
    if let Some(recipients) = &args.recipients {
        args.recipients = Some(aliases.apply_to_list(recipients));
    }
    args.aliases_applied = true;
    Ok(())
}

/// Where this send's outcome is logged: the flags, else the account.
pub(crate) fn log_target(
    args: &SendArgs,
    account: Option<&crate::config::Account>,
) -> Result<crate::sent_log::LogTarget, (u8, String)> {
    let mut target = account.map(|a| a.log.clone()).unwrap_or_default();
    if let Some(file) = &args.log_file {
        target.file = Some(file.clone());
    }
    if let Some(facility) = &args.syslog {
        target.syslog =
            Some(crate::sent_log::Syslog::parse(facility, None).map_err(|e| (exit::USAGE, e))?);
    }
    Ok(target)
}

/// Logs the outcome of sending `message` as `prepared` says.
pub(crate) fn log_outcome(
    target: &crate::sent_log::LogTarget,
    account: Option<&crate::config::Account>,
    message: &Message,
    prepared: &postie_smtp::Prepared,
    outcome: Result<&postie_smtp::Sent, &postie_smtp::Error>,
) {
    if !target.is_on() {
        return;
    }
    let recipients = prepared.recipients();
    let from = prepared.reverse_path();
    target.record(&crate::sent_log::Entry {
        account: account.map(|a| a.name.as_str()),
        from: &from,
        recipients: &recipients,
        size: prepared.size(message).ok(),
        outcome,
        exit: match outcome {
            Ok(_) => exit::OK,
            Err(error) => exit::for_error(error),
        },
    });
}

/// msmtp's `undisclosed_recipients on`: the envelope recipients are fixed
/// first (by postie's usual rules: `--recipients`, else the To, Cc and Bcc
/// given and the message's), then To becomes `undisclosed-recipients:;`,
/// and so does a Cc (postie replaces fields, it does not remove them; Bcc
/// is never sent). A message kept in the spool is kept as sent, hidden.
pub(crate) fn hide_recipients(args: &mut SendArgs, message: &Message) -> Result<(), (u8, String)> {
    let mut probe = SendOptions::new();
    if let Some(recipients) = &args.recipients {
        probe = probe.recipients(recipients.clone());
    }
    for header in &args.headers {
        if let Some((name, value)) = header.split_once(':') {
            probe = probe.header(name.trim(), value.trim());
        }
    }
    let prepared = envelope::prepare(message, &probe, &LocalEnv::from_system())
        .map_err(|e| (exit::DATAERR, e.to_string()))?;
    args.recipients = Some(prepared.recipients().join(", "));
    let had_cc = message.headers().contains("Cc") || args.headers.iter().any(|h| is_field(h, "cc"));
    args.headers
        .retain(|h| !is_field(h, "to") && !is_field(h, "cc"));
    args.headers.push("To: undisclosed-recipients:;".to_owned());
    if had_cc {
        args.headers.push("Cc: undisclosed-recipients:;".to_owned());
    }
    Ok(())
}

/// sendmail's `-F NAME`: the envelope sender (`-f`, else the account's
/// `from`, else `$USER@host`) with that name, which `postie send` writes
/// as the From of a message that lacks one; the envelope keeps the bare
/// address. The null sender stays as it is.
fn name_the_sender(args: &mut SendArgs) {
    let Some(name) = args.full_name.take() else {
        return;
    };
    let address = match args.originator.as_deref() {
        Some(given) if given.trim().is_empty() => return,
        Some(given) => match postie_mime::address::parse_mailbox(given) {
            Ok(mailbox) => mailbox.addr_spec(),
            Err(_) => return,
        },
        None => {
            let env = LocalEnv::from_system();
            format!("{}@{}", env.user, env.hostname)
        }
    };
    let name = name.replace(['\\', '"'], "");
    args.originator = Some(format!("\"{name}\" <{address}>"));
}

/// msmtp's `set_from_header on`: From is the envelope sender, whatever the
/// message says (a From given by a flag still wins).
fn set_from_header(args: &mut SendArgs) {
    let sender = args.originator.as_deref().filter(|o| !o.trim().is_empty());
    let given = args.from.is_some() || args.headers.iter().any(|h| is_field(h, "from"));
    if let (Some(sender), false) = (sender, given) {
        args.headers.push(format!("From: {sender}"));
    }
}

fn is_field(header: &str, name: &str) -> bool {
    header
        .split_once(':')
        .is_some_and(|(field, _)| field.trim().eq_ignore_ascii_case(name))
}

/// The send options: how to send as `settings` say, the envelope and
/// header flags, the credentials and the callbacks; `extra_trace` also sees
/// the dialogue (the spool records there when the data goes out).
fn options(
    args: &SendArgs,
    settings: postie_smtp::TransportSettings,
    credentials: Option<Credentials>,
    extra_trace: Option<postie_smtp::TraceFn>,
) -> Result<SendOptions, String> {
    let token = settings.auth.token;
    let mut options = SendOptions::from(settings);
    if let Some(originator) = &args.originator {
        options = options.originator(originator.clone());
    }
    if let Some(recipients) = &args.recipients {
        options = options.recipients(recipients.clone());
    }
    for header in &args.headers {
        let Some((name, value)) = header.split_once(':') else {
            return Err(format!("--header takes 'Name: value', not {header:?}"));
        };
        options = options.header(name.trim(), value.trim());
    }
    if let Some(credentials) = credentials {
        options = if token {
            options.oauth_token(credentials)
        } else {
            options.credentials(credentials)
        };
    }
    if let Some(callback) = crate::progress::upload(args.quiet) {
        options = options.on_progress(callback);
    }
    Ok(match (args.verbose, extra_trace) {
        (true, Some(extra)) => options.on_trace(move |line| {
            eprintln!("{line}");
            extra(line);
        }),
        (true, None) => options.on_trace(|line| eprintln!("{line}")),
        (false, Some(extra)) => options.on_trace(move |line| extra(line)),
        (false, None) => options,
    })
}

/// The HTML alternative: `--html-file`'s contents, or `--html`'s (a file's
/// contents when it names one, else the text). A value of one word ending
/// in `.html` or `.htm` that names no file is a mistyped file name, not
/// HTML: sending the name as the message would be wrong, so it is an error.
fn html_content(args: &SendArgs) -> Result<Option<String>, (u8, String)> {
    let read = |path: &std::path::Path| {
        std::fs::read_to_string(path).map_err(|e| {
            (
                exit::NOINPUT,
                format!("cannot read {}: {e}", path.display()),
            )
        })
    };
    if let Some(path) = &args.html_file {
        return read(path).map(Some);
    }
    let Some(html) = &args.html else {
        return Ok(None);
    };
    let path = std::path::Path::new(html);
    if path.is_file() {
        return read(path).map(Some);
    }
    if looks_like_a_file_name(html) {
        return Err((
            exit::NOINPUT,
            format!("--html {html}: no such file (for HTML text give the markup; for a file, --html-file FILE)"),
        ));
    }
    Ok(Some(html.clone()))
}

/// One word ending in `.html` or `.htm`.
fn looks_like_a_file_name(value: &str) -> bool {
    let lower = value.to_ascii_lowercase();
    !value.is_empty()
        && !value.contains(char::is_whitespace)
        && !value.contains('<')
        && (lower.ends_with(".html") || lower.ends_with(".htm"))
}
