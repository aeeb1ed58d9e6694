//! `postie send`.

use std::io::Write;
use std::time::Duration;

use postie_mime::builder::MessageBuilder;
use postie_mime::Message;
use postie_smtp::data::DataEncoder;
use postie_smtp::{
    envelope, Credentials, LocalEnv, Secret, SendOptions, Timeouts, TlsDecision, TlsMode,
    TlsSettings,
};

use crate::args::{PolicyArg, SendArgs, TlsArg};
use crate::stdin_spool::Spooled;
use crate::{exit, report};

/// The reply to the end of data gets at least this long (RFC 5321
/// §4.5.3.2.6 asks for 10 minutes): servers scan messages before they answer.
const END_OF_DATA_MIN: Duration = Duration::from_secs(600);

pub(crate) fn run(args: SendArgs) -> u8 {
    run_keeping(args).code
}

/// How a send ended.
pub(crate) struct Ran {
    /// The exit code (the outcome's, also for a message kept in the spool).
    pub(crate) code: u8,
    /// The message failed and is kept in the spool, written and fsynced.
    pub(crate) kept: bool,
}

/// `postie send`, telling whether a failed message was kept (sendmail
/// mode exits 0 for one that was, as a mail server that queued it).
pub(crate) fn run_keeping(args: SendArgs) -> Ran {
    let code = |code| Ran { code, kept: false };
    // Keeps a spooled standard input alive while the message refers to it.
    let mut spool = None;
    let message = match load_message(&args, &mut spool) {
        Ok(message) => message,
        Err((c, text)) => return code(fail_input(&args, c, &text)),
    };
    let account = match crate::config::load(args.config.as_deref(), args.account.as_deref()) {
        Ok(account) => account,
        Err(text) => return code(fail_input(&args, exit::CONFIG, &text)),
    };
    let spool_on_failure = !args.dry_run
        && (args.spool_on_failure || account.as_ref().is_some_and(|a| a.spool_on_failure));
    // Taken before the account fills in the flags: a retry reads the
    // account (and its secret) again.
    let retry = spool_on_failure.then(|| crate::spool::Retry::new(&args, account.as_ref()));
    let mut args = args;
    if let Some(account) = &account {
        apply_account(&mut args, account);
    }
    let credentials = match credentials(&args, account.as_ref()) {
        Ok(credentials) => credentials,
        Err((c, text)) => return code(fail_input(&args, c, &text)),
    };
    let options = match options(&args, credentials, None) {
        Ok(options) => options,
        Err(text) => return code(fail_input(&args, exit::USAGE, &text)),
    };
    let env = LocalEnv::from_system();
    let prepared = match envelope::prepare(&message, &options, &env) {
        Ok(prepared) => prepared,
        Err(e) => return code(fail_input(&args, exit::DATAERR, &e.to_string())),
    };
    if args.dry_run {
        return code(dry_run(&message, &prepared));
    }
    match postie_smtp::blocking::send_prepared(&message, &prepared, &options) {
        Ok(sent) => {
            let dsn_asked =
                args.dsn_notify.is_some() || args.dsn_ret.is_some() || args.envid.is_some();
            if dsn_asked && !sent.dsn() {
                eprintln!(
                    "postie: warning: {} does not offer DSN: sent without --dsn-notify, --dsn-ret and --envid",
                    sent.server()
                );
            }
            if args.json {
                println!("{}", report::sent_json(&sent));
            } else {
                print!("{}", report::refusal_lines(sent.refused()));
            }
            code(exit::OK)
        }
        Err(error) => {
            // Kept before anything is printed, so that the JSON can name it.
            let kept = match retry {
                Some(retry) if crate::spool::keeps(&error) => {
                    Some(crate::spool::keep(retry, &message, &prepared, &error))
                }
                _ => None,
            };
            if args.json {
                let mut json = report::error_json(&error);
                if let (Some(Ok(kept)), Some(object)) = (&kept, json.as_object_mut()) {
                    object.insert("spooled".to_owned(), kept.id.clone().into());
                }
                println!("{json}");
            } else {
                print!("{}", report::refusal_lines(error.refused()));
                eprintln!("{}", report::error_line(&error));
            }
            let is_kept = matches!(kept, Some(Ok(_)));
            match kept {
                Some(Ok(kept)) => eprintln!("{}", kept.notice()),
                Some(Err(text)) => {
                    eprintln!("postie: the message could not be kept in the spool: {text}")
                }
                None => {}
            }
            Ran {
                code: exit::for_error(&error),
                kept: is_kept,
            }
        }
    }
}

/// Why a message from the spool was not sent.
pub(crate) enum Failure {
    /// Before anything was sent: the exit code `postie send` would give,
    /// and the reason.
    Input(u8, String),
    /// The send failed.
    Send(postie_smtp::Error),
}

/// `postie send` once more for `postie spool flush`: `args` are the stored
/// flags with the envelope and the kept message, `account` the account as
/// it reads now. `on_trace` sees the dialogue as it happens.
pub(crate) fn resend(
    args: SendArgs,
    account: Option<&crate::config::Account>,
    on_trace: postie_smtp::TraceFn,
) -> Result<postie_smtp::Sent, Failure> {
    let mut spool = None;
    let message =
        load_message(&args, &mut spool).map_err(|(code, text)| Failure::Input(code, text))?;
    let mut args = args;
    if let Some(account) = account {
        apply_account(&mut args, account);
    }
    let credentials =
        credentials(&args, account).map_err(|(code, text)| Failure::Input(code, text))?;
    let options = options(&args, credentials, Some(on_trace))
        .map_err(|text| Failure::Input(exit::USAGE, text))?;
    let prepared = envelope::prepare(&message, &options, &LocalEnv::from_system())
        .map_err(|e| Failure::Input(exit::DATAERR, e.to_string()))?;
    postie_smtp::blocking::send_prepared(&message, &prepared, &options).map_err(Failure::Send)
}

fn fail_input(args: &SendArgs, code: u8, text: &str) -> u8 {
    // The contract: with --json, one object for every exit code.
    if args.json {
        println!("{}", report::input_error_json(code, text));
    }
    eprintln!("postie: {}", text.replace(['\r', '\n'], " "));
    code
}

fn load_message(args: &SendArgs, spool: &mut Option<Spooled>) -> Result<Message, (u8, String)> {
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

fn seconds(flag: &str, secs: f64) -> Result<Duration, String> {
    Duration::try_from_secs_f64(secs)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("{flag} takes a positive number of seconds, not {secs}"))
}

/// The credentials from --username and the secret's source; the secret
/// itself is never taken from the command line, where `ps` shows it.
/// Fills what the flags left out from the account (flags win).
pub(crate) fn apply_account(args: &mut SendArgs, account: &crate::config::Account) {
    if args.servers.is_empty() {
        args.servers = account.hosts.clone();
        if args.ports.is_empty() {
            args.ports = account.ports.clone();
        }
    }
    args.tls = args.tls.or(account.tls);
    args.ca_file.extend(account.ca_files.iter().cloned());
    if args.username.is_none() {
        args.username = account.username.clone();
    }
    if args.auth.is_empty() {
        args.auth = account.auth.clone();
    }
    args.timeout = args.timeout.or(account.timeout);
    if args.client.is_none() {
        args.client = account.client.clone();
    }
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

/// The credentials from --username and the secret's source (a flag, else
/// the account). A source that cannot be read, or a password file others
/// could read, is EX_CONFIG (78), named with the account; a username
/// without any source is a usage error (64).
fn credentials(
    args: &SendArgs,
    account: Option<&crate::config::Account>,
) -> Result<Option<Credentials>, (u8, String)> {
    let Some(username) = args.username.clone() else {
        return Ok(None);
    };
    let from_account = account
        .and_then(|a| Some((&a.name, a.secret.as_ref()?)))
        .filter(|_| {
            args.password_env.is_none()
                && args.password_file.is_none()
                && args.oauth_token_env.is_none()
        });
    // Before the secret is in memory: no core file may hold it.
    crate::hardening::no_core_dumps();
    let config = |text: String| (exit::CONFIG, text);
    let secret = if let Some((name, source)) = from_account {
        source
            .read()
            .map_err(|e| config(format!("account {name:?}: {e}")))?
    } else if let Some(var) = &args.oauth_token_env {
        env_secret(var).map_err(|e| config(format!("--oauth-token-env {e}")))?
    } else if let Some(var) = &args.password_env {
        env_secret(var).map_err(|e| config(format!("--password-env {e}")))?
    } else if let Some(file) = &args.password_file {
        crate::config::read_password_file(file)
            .map_err(|e| config(format!("--password-file {e}")))?
    } else {
        return Err((
            exit::USAGE,
            "--username needs --password-env, --password-file or --oauth-token-env".to_owned(),
        ));
    };
    Ok(Some(Credentials {
        username,
        // Copied once into the Secret, which wipes it when dropped; the
        // buffer it came from is wiped as it goes out of scope.
        secret: Secret::new(secret.as_str()),
        authzid: None,
    }))
}

/// An environment variable's value, wiped on drop.
fn env_secret(var: &str) -> Result<zeroize::Zeroizing<String>, String> {
    std::env::var(var)
        .map(zeroize::Zeroizing::new)
        .map_err(|_| format!("{var} is not set"))
}

/// The send options from the flags; `extra_trace` also sees the dialogue
/// (the spool records there when the data goes out).
fn options(
    args: &SendArgs,
    credentials: Option<Credentials>,
    extra_trace: Option<postie_smtp::TraceFn>,
) -> Result<SendOptions, String> {
    let mut options = SendOptions::new();
    if !args.servers.is_empty() {
        options = options.servers(args.servers.iter().map(|s| s.trim().to_owned()));
    }
    options = options.ports(args.ports.iter().copied());
    if let Some(client) = &args.client {
        options = options.client(client.clone());
    }
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
    options = options.tls_mode(match args.tls.unwrap_or(TlsArg::Starttls) {
        TlsArg::Starttls => TlsMode::StartTls,
        TlsArg::None => TlsMode::None,
        TlsArg::Required => TlsMode::Required,
        TlsArg::Implicit => TlsMode::Implicit,
    });
    if let Some(policy) = args.tls_policy {
        let decision = match policy {
            PolicyArg::Secure => TlsDecision::Secure,
            PolicyArg::Insecure => TlsDecision::Insecure,
        };
        options = options.tls_policy(move |_| decision);
    }
    if args.insecure_skip_verify {
        eprintln!(
            "postie: warning: --insecure-skip-verify accepts any certificate: anyone on the path can read and change this mail"
        );
    }
    options = options.tls_settings(TlsSettings {
        ca_files: args.ca_file.clone(),
        accept_invalid_certificates: args.insecure_skip_verify,
        client_certificate: args.client_cert.clone().zip(args.client_key.clone()),
        client_config: None,
    });
    if let Some(credentials) = credentials {
        options = if args.oauth_token_env.is_some() {
            options.oauth_token(credentials)
        } else {
            options.credentials(credentials)
        };
        if !args.auth.is_empty() {
            options = options.auth_mechanisms(args.auth.iter().map(|m| m.trim().to_owned()));
        }
        options = options.allow_plaintext_auth(args.allow_plaintext_auth);
    } else if !args.auth.is_empty() || args.password_env.is_some() || args.password_file.is_some() {
        return Err("--auth and the password flags need --username".to_owned());
    }
    options = options.queue(args.queue).pipelining(!args.no_pipelining);
    options = options
        .require_tls(args.requiretls)
        .lmtp(args.lmtp)
        .chunking(!args.no_chunking);
    if let Some(notify) = args.dsn_notify {
        options = options.dsn_notify(notify);
    }
    if let Some(ret) = args.dsn_ret {
        options = options.dsn_ret(ret);
    }
    if let Some(envid) = &args.envid {
        options = options.envid(envid);
    }
    if let Some(callback) = crate::progress::upload(args.quiet) {
        options = options.on_progress(callback);
    }
    options = match (args.verbose, extra_trace) {
        (true, Some(extra)) => options.on_trace(move |line| {
            eprintln!("{line}");
            extra(line);
        }),
        (true, None) => options.on_trace(|line| eprintln!("{line}")),
        (false, Some(extra)) => options.on_trace(move |line| extra(line)),
        (false, None) => options,
    };
    let stage = seconds("--timeout", args.timeout.unwrap_or(60.0))?;
    let deadline = args
        .deadline
        .map(|d| seconds("--deadline", d))
        .transpose()?;
    Ok(options.at_least_one(args.at_least_one).timeouts(Timeouts {
        connect: stage,
        command: stage,
        end_of_data: stage.max(END_OF_DATA_MIN),
        deadline,
    }))
}

fn dry_run(message: &Message, prepared: &postie_smtp::Prepared) -> u8 {
    let mut out = CrlfWriter {
        inner: std::io::stdout().lock(),
        encoder: DataEncoder::line_endings_only(),
        buf: Vec::new(),
    };
    let written = prepared
        .write_message(message, &mut out)
        .map_err(|e| e.to_string())
        .and_then(|()| out.finish().map_err(|e| e.to_string()));
    if let Err(e) = written {
        eprintln!("postie: cannot write the message: {e}");
        return exit::OS_ERR;
    }
    eprintln!("MAIL FROM:<{}>", prepared.reverse_path());
    for rcpt in prepared.recipients() {
        eprintln!("RCPT TO:<{rcpt}>");
    }
    exit::OK
}

/// Shows the message with the line endings it has on the wire (CRLF
/// everywhere), before dot-stuffing.
struct CrlfWriter<W: Write> {
    inner: W,
    encoder: DataEncoder,
    buf: Vec<u8>,
}

impl<W: Write> CrlfWriter<W> {
    fn finish(mut self) -> std::io::Result<()> {
        self.buf.clear();
        self.encoder.finish_lines(&mut self.buf);
        self.inner.write_all(&self.buf)?;
        self.inner.flush()
    }
}

impl<W: Write> Write for CrlfWriter<W> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.clear();
        self.encoder.encode(data, &mut self.buf);
        self.inner.write_all(&self.buf)?;
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
