//! `postie`: send mail from the command line, tcllib's
//! `::smtp::sendmessage` as a command; plus a capture sink and a demo.
#![forbid(unsafe_code)]

mod aliases;
mod args;
mod config;
mod deliver;
mod demo;
mod dkim_cmd;
mod docs_gen;
mod exit;
mod hardening;
mod header_end;
mod man_sections;
mod probe;
mod progress;
mod report;
mod send;
mod sendmail;
mod sendmail_help;
mod sent_log;
mod settings;
mod sink;
mod spool;
mod stdin_spool;

use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, Command};

fn main() -> ExitCode {
    // Spool records written before format 2 name `postie send` flags,
    // which only this command can read.
    postie_spool::meta::read_format_1_with(spool::settings_from_flags);
    // sendmail's interface: as `sendmail` (a symlink) or `postie sendmail`.
    let mut argv = std::env::args_os();
    let argv0 = argv.next().unwrap_or_default();
    if sendmail::called_as_sendmail(&argv0) {
        return ExitCode::from(sendmail::run(argv.collect()));
    }
    let rest: Vec<_> = argv.collect();
    if rest.first().is_some_and(|a| a == "sendmail") {
        return ExitCode::from(sendmail::run(rest.into_iter().skip(1).collect()));
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp
                | clap::error::ErrorKind::DisplayVersion
                | clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                    ExitCode::SUCCESS
                }
                _ => {
                    // The contract: with --json anywhere in the arguments,
                    // one object for every exit code, flag errors included.
                    if rest.iter().any(|a| a == "--json") {
                        let text = first_error_line(&e);
                        println!("{}", report::input_error_json(exit::USAGE, &text));
                    }
                    ExitCode::from(exit::USAGE)
                }
            };
        }
    };
    let code = match cli.command {
        Command::Send(args) => send::run(*args),
        Command::Demo => demo::run(),
        Command::Sink(args) => sink_command(&args),
        Command::Probe(args) => probe::run(&args),
        Command::Completions { shell } => docs_gen::completions(shell),
        Command::Man { dir } => docs_gen::man(dir.as_deref()),
        Command::Spool(args) => spool::run(args),
        Command::Dkim(args) => dkim_cmd::run(args),
    };
    ExitCode::from(code)
}

/// clap's message without its `error: ` prefix, usage and tip lines.
fn first_error_line(error: &clap::Error) -> String {
    let rendered = error.render().to_string();
    let line = rendered.lines().next().unwrap_or_default();
    line.strip_prefix("error: ").unwrap_or(line).to_owned()
}

fn sink_command(args: &args::SinkArgs) -> u8 {
    let sink = match sink::Sink::bind(&args.listen, args.maildir.clone()) {
        Ok(sink) => sink,
        Err(e) => {
            eprintln!("postie sink: cannot listen on {}: {e}", args.listen);
            return exit::OS_ERR;
        }
    };
    let addr = sink
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| args.listen.clone());
    eprintln!("postie sink: listening on {addr}; messages are accepted and kept, never delivered");
    let observer = std::sync::Arc::new(report::SinkPrinter {
        verbose: args.verbose,
        maildir: args.maildir.clone(),
    });
    match sink.serve_forever(observer) {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!("postie sink: {e}");
            exit::OS_ERR
        }
    }
}
