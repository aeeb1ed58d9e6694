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

/// Why a message from the spool was not sent.
pub(crate) enum Failure {
    /// Before anything was sent: the exit code `postie send` would give,
    /// and the reason.
    Input(u8, String),
    /// The send failed.
    Send(postie_smtp::Error),
}

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
    postie_smtp::blocking::send_prepared(&message, &prepared, &options).map_err(Failure::Send)
}

/// The send options once the account has filled in what the flags left
/// out (of `settings` and of `args`' message flags), with the credentials
/// read from the secret's source; an error is an exit code and its reason.
pub(crate) fn options_with_account(
    args: &mut SendArgs,
    mut settings: postie_smtp::TransportSettings,
    account: Option<&crate::config::Account>,
    extra_trace: Option<postie_smtp::TraceFn>,
) -> Result<SendOptions, (u8, String)> {
    if let Some(account) = account {
        crate::settings::fill_from_account(&mut settings, account);
        apply_account(args, account);
    }
    let credentials = crate::settings::credentials(&settings, account)?;
    let proxy_password = crate::settings::proxy_password(&settings)?;
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
    if let Some(html) = &args.html {
        let path = std::path::Path::new(html);
        let html = if path.is_file() {
            std::fs::read_to_string(path)
                .map_err(|e| (exit::NOINPUT, format!("cannot read {html}: {e}")))?
        } else {
            html.clone()
        };
        builder = builder.html(html);
    }
    if args.body.is_some() || args.html.is_none() {
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
    if settings.accept_invalid_certificates {
        eprintln!(
            "postie: warning: --insecure-skip-verify accepts any certificate: anyone on the path can read and change this mail"
        );
    }
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
