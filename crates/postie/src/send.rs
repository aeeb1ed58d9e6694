//! `postie send`.

use std::io::Write;

use postie_mime::Message;
use postie_smtp::data::DataEncoder;
use postie_smtp::{envelope, LocalEnv};

use crate::args::SendArgs;
use crate::deliver::load_message;
use crate::{exit, report};

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
    let chosen = match crate::config::find(
        args.config.as_deref(),
        args.account.as_deref(),
        args.originator.as_deref(),
    ) {
        Ok(chosen) => chosen,
        Err(text) => return code(fail_input(&args, exit::CONFIG, &text)),
    };
    let account = chosen.account().cloned();
    let spool_on_failure = !args.dry_run
        && (args.spool_on_failure || account.as_ref().is_some_and(|a| a.spool_on_failure));
    let settings = match args.transport.settings() {
        Ok(settings) => settings,
        Err(text) => return code(fail_input(&args, exit::USAGE, &text)),
    };
    // Sent without an account to the contract's default server: a failure
    // then says why no account was used, and where postie looked.
    let no_account = settings
        .servers
        .is_empty()
        .then(|| chosen.why_none())
        .flatten();
    // Kept as the flags made them, before the account fills them in: a
    // retry reads the account (and its secret) again.
    let retry = (spool_on_failure || args.defer)
        .then(|| crate::spool::Retry::new(&args, &settings, account.as_ref()));
    // Where a failed message goes, chosen before it is sent: a store named
    // wrongly (even by a `--store` alone) stops here, exit 78.
    let store = if spool_on_failure || args.defer || args.store.store.is_some() {
        match crate::spool::store_for_send(args.store.store.as_deref(), account.as_ref()) {
            Ok(store) => Some(store),
            Err((c, text)) => return code(fail_input(&args, c, &text)),
        }
    } else {
        None
    };
    let mut args = args;
    if account.as_ref().is_some_and(|a| a.undisclosed_recipients) {
        // The recipients are fixed (and qualified) there: aliases first.
        if let Err((c, text)) = crate::deliver::apply_aliases(&mut args, account.as_ref()) {
            return code(fail_input(&args, c, &text));
        }
        if let Err((c, text)) = crate::deliver::hide_recipients(&mut args, &message) {
            return code(fail_input(&args, c, &text));
        }
    }
    // A deferred message is kept, not sent: its secret is read by whoever
    // sends it (a relayer, on its own host), not here.
    let secrets = if args.defer {
        crate::deliver::Secrets::Later
    } else {
        crate::deliver::Secrets::Now
    };
    let options =
        match crate::deliver::options_reading(&mut args, settings, account.as_ref(), None, secrets)
        {
            Ok(options) => options,
            Err((c, text)) => return code(fail_input(&args, c, &text)),
        };
    let env = LocalEnv::from_system();
    let prepared = match envelope::prepare(&message, &options, &env) {
        Ok(prepared) => prepared,
        Err(e) => return code(fail_input(&args, exit::DATAERR, &e.to_string())),
    };
    if args.dry_run {
        return code(dry_run(&message, &prepared));
    }
    if let (true, Some(retry), Some(store)) = (args.defer, &retry, &store) {
        return defer(&args, retry.clone(), store, &message, &prepared);
    }
    let log = match crate::deliver::log_target(&args, account.as_ref()) {
        Ok(log) => log,
        Err((c, text)) => return code(fail_input(&args, c, &text)),
    };
    let result = postie_smtp::blocking::send_prepared(&message, &prepared, &options);
    crate::deliver::log_outcome(&log, account.as_ref(), &message, &prepared, result.as_ref());
    match result {
        Ok(sent) => {
            if options.transport_settings().dsn.is_asked() && !sent.dsn() {
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
            let kept = match (retry, &store) {
                (Some(retry), Some(store)) if crate::spool::keeps(&error) => Some(
                    crate::spool::keep(retry, store, &message, &prepared, Some(&error)),
                ),
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
                eprintln!("{}", report::error_lines(&error));
            }
            if let Some(why) = &no_account {
                eprintln!("postie: {why}");
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

/// `--defer`: kept, not sent. Exit 0 once it is in the spool, durably
/// (sendmail mode's `-odq` too); 71 when it could not be kept.
fn defer(
    args: &SendArgs,
    retry: crate::spool::Retry,
    store: &crate::spool::Store,
    message: &postie_mime::Message,
    prepared: &postie_smtp::Prepared,
) -> Ran {
    match crate::spool::keep(retry, store, message, prepared, None) {
        Ok(kept) => {
            if args.json {
                println!("{}", report::queued_json(&kept.id));
            }
            eprintln!("{}", kept.notice());
            Ran {
                code: exit::OK,
                kept: true,
            }
        }
        Err(text) => Ran {
            code: fail_input(
                args,
                exit::OS_ERR,
                &format!("the message could not be kept in the spool: {text}"),
            ),
            kept: false,
        },
    }
}

fn fail_input(args: &SendArgs, code: u8, text: &str) -> u8 {
    // The contract: with --json, one object for every exit code.
    if args.json {
        println!("{}", report::input_error_json(code, text));
    }
    eprintln!("postie: {}", text.replace(['\r', '\n'], " "));
    code
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
