//! `postie send`.

use std::io::Write;
use std::time::Duration;

use postie_mime::Message;
use postie_smtp::{envelope, LocalEnv, SendOptions, Timeouts};

use crate::args::SendArgs;
use crate::stdin_spool::Spooled;
use crate::{exit, report};

/// The reply to the end of data gets at least this long (RFC 5321
/// §4.5.3.2.6 asks for 10 minutes): servers scan messages before they answer.
const END_OF_DATA_MIN: Duration = Duration::from_secs(600);

pub(crate) fn run(args: SendArgs) -> u8 {
    // Keeps a spooled standard input alive while the message refers to it.
    let mut spool = None;
    let message = match load_message(&args, &mut spool) {
        Ok(message) => message,
        Err((code, text)) => return fail_input(&args, code, &text),
    };
    let options = match options(&args) {
        Ok(options) => options,
        Err(text) => return fail_input(&args, exit::USAGE, &text),
    };
    let env = LocalEnv::from_system();
    let prepared = match envelope::prepare(&message, &options, &env) {
        Ok(prepared) => prepared,
        Err(e) => return fail_input(&args, exit::DATAERR, &e.to_string()),
    };
    if args.dry_run {
        return dry_run(&message, &prepared);
    }
    match postie_smtp::blocking::send_prepared(&message, &prepared, &options) {
        Ok(sent) => {
            if args.json {
                println!("{}", report::sent_json(&sent));
            } else {
                print!("{}", report::refusal_lines(sent.refused()));
            }
            exit::OK
        }
        Err(error) => {
            if args.json {
                println!("{}", report::error_json(&error));
            } else {
                print!("{}", report::refusal_lines(error.refused()));
                eprintln!("{}", report::error_line(&error));
            }
            exit::for_error(&error)
        }
    }
}

fn fail_input(args: &SendArgs, code: u8, text: &str) -> u8 {
    if args.json && code != exit::USAGE && code != exit::NOINPUT {
        println!("{}", report::input_error_json(text));
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
        return build_message(args).map_err(|e| (exit::DATAERR, e.to_string()));
    }
    let path = match args.message.as_deref() {
        Some(path) if path.as_os_str() != "-" => path.to_owned(),
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

fn build_message(args: &SendArgs) -> Result<Message, postie_mime::Error> {
    let mut message = Message::text(args.body.clone().unwrap_or_default());
    let headers = message.headers_mut();
    if let Some(from) = &args.from {
        headers.set("From", from)?;
    }
    for (name, values) in [("To", &args.to), ("Cc", &args.cc), ("Bcc", &args.bcc)] {
        if !values.is_empty() {
            headers.set(name, &values.join(", "))?;
        }
    }
    if let Some(subject) = &args.subject {
        headers.set("Subject", subject)?;
    }
    Ok(message)
}

fn seconds(flag: &str, secs: f64) -> Result<Duration, String> {
    Duration::try_from_secs_f64(secs)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("{flag} takes a positive number of seconds, not {secs}"))
}

fn options(args: &SendArgs) -> Result<SendOptions, String> {
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
    let stage = seconds("--timeout", args.timeout)?;
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
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if let Err(e) = prepared
        .write_message(message, &mut out)
        .and_then(|()| out.flush().map_err(Into::into))
    {
        eprintln!("postie: cannot write the message: {e}");
        return exit::OS_ERR;
    }
    eprintln!("MAIL FROM:<{}>", prepared.reverse_path());
    for rcpt in prepared.recipients() {
        eprintln!("RCPT TO:<{rcpt}>");
    }
    exit::OK
}
