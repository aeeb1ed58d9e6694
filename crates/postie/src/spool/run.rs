//! `postie spool run`: postie-spool's relayer as a command. Signals
//! stop it cleanly (SIGTERM, SIGINT: sends in flight finish; a second
//! signal exits at once), `--metrics` serves its counters, and what it
//! does goes to standard error (and with `--json`, one object per message
//! and a summary to standard output).

use std::io;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use postie_spool::metrics::{self, Counters};
use postie_spool::{judge, Relayer, Report, Settings, Tally};

use super::relay::AccountRoutes;
use crate::args::RunArgs;
use crate::exit;

/// Runs `postie spool run` on `store`.
pub(crate) fn run(args: &RunArgs, store: &super::Store) -> u8 {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        // The second signal ends the process at once (exit 1): for a
        // relayer stuck on a server that does not answer.
        let registered =
            signal_hook::flag::register_conditional_shutdown(signal, 1, Arc::clone(&stop))
                .and_then(|_| signal_hook::flag::register(signal, Arc::clone(&stop)));
        if let Err(e) = registered {
            eprintln!("postie: cannot handle signal {signal}: {e}");
            return exit::OS_ERR;
        }
    }
    // A lease shorter than a second is held by nothing (claims would run
    // out before a message is sent); a poll of nothing would spin.
    if args.lease < Duration::from_secs(1) || args.poll < Duration::from_millis(100) {
        eprintln!("postie: spool run: --lease must be at least 1s and --poll at least 100ms");
        return exit::USAGE;
    }
    let counters = Arc::new(Counters::default());
    if let Some(addr) = &args.metrics {
        let served = metrics::loopback(addr).and_then(|addr| {
            metrics::serve(addr, Arc::clone(&counters))
                .map_err(|e| format!("--metrics {addr}: {e}"))
        });
        match served {
            Ok(addr) => {
                if !args.quiet {
                    eprintln!("postie: spool run: metrics at http://{addr}/metrics");
                }
            }
            Err(text) => {
                eprintln!("postie: {text}");
                return exit::USAGE;
            }
        }
    }
    // A relayer that runs on made the folder if there was none; one that
    // runs once has nothing to do without it.
    let spool = match super::open_store_leasing(store, !args.once, args.lease) {
        Ok(Some((spool, _))) => spool,
        Ok(None) => return exit::OK,
        Err((code, text)) => {
            eprintln!("postie: {text}");
            return code;
        }
    };
    let routes = AccountRoutes {
        verbose: args.verbose,
    };
    let mut relayer = Relayer::new(spool.as_ref(), settings(args), routes)
        .report(Said {
            quiet: args.quiet,
            json: args.json,
        })
        .counters(counters);
    let tally = relayer.run(&stop);
    summary(&tally, args);
    if !args.once {
        // Stopped as asked.
        return exit::OK;
    }
    tally.exit_code()
}

/// The relayer's settings, as the flags say.
fn settings(args: &RunArgs) -> Settings {
    let mut settings = Settings::default();
    settings.once = args.once;
    settings.batch = usize::try_from(args.batch).unwrap_or(1);
    settings.batch_bytes = args.batch_bytes;
    settings.connections = usize::try_from(args.connections).unwrap_or(1);
    settings.account.clone_from(&args.account);
    settings.max_age = args.max_age;
    settings.poll = args.poll;
    settings.keep_sent = args.keep_sent;
    settings.trust_rows = args.trust_rows;
    settings.own_accounts_file = crate::config::default_path();
    settings.count_spool = args.metrics.is_some();
    settings
}

/// Says what the relayer does: lines on standard error unless `--quiet`,
/// and with `--json` each message's object on standard output.
struct Said {
    quiet: bool,
    json: bool,
}

impl Report for Said {
    fn message(&mut self, id: &str, outcome: &str, line: &str) {
        if self.json {
            println!("{}", judge::event(id, outcome, line));
        }
        self.note(line);
    }

    fn note(&mut self, line: &str) {
        if !self.quiet {
            eprintln!("postie: {line}");
        }
    }

    fn store_error(&mut self, error: &io::Error) {
        eprintln!("postie: spool: {error}");
    }
}

/// The last lines: how the messages went.
fn summary(t: &Tally, args: &RunArgs) {
    if !args.quiet {
        let mut line = format!(
            "postie: spool run: {} sent, {} kept, {} given up",
            t.sent, t.kept, t.dead
        );
        if t.damaged > 0 {
            line.push_str(&format!("; {} damaged (moved aside)", t.damaged));
        }
        if t.newer > 0 {
            line.push_str(&format!("; {} left for a newer postie", t.newer));
        }
        if t.errors > 0 {
            line.push_str(&format!("; {} errors of the store", t.errors));
        }
        eprintln!("{line}");
    }
    if args.json {
        println!(
            "{}",
            serde_json::json!({"summary": {
                "sent": t.sent, "kept": t.kept, "given_up": t.dead, "damaged": t.damaged,
                "left_for_newer": t.newer, "store_errors": t.errors,
            }})
        );
    }
}
