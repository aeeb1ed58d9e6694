//! The routes of `postie spool run`: what a kept message's settings mean
//! on this host, made as `postie send` makes them (the account read from
//! its accounts file, its secret read from its source, the sent log), for
//! postie-spool's relayer to keep a pool for.

use clap::Parser as _;
use postie_smtp::{envelope, LocalEnv};
use postie_spool::relay::Outcome;
use postie_spool::{Failure, Meta, Route};

use crate::args::{Cli, Command, SendArgs};
use crate::exit;

/// Makes routes with the accounts files, as `postie send` would send.
pub(super) struct AccountRoutes {
    /// `--verbose`: the dialogue on standard error.
    pub(super) verbose: bool,
}

impl postie_spool::MakeRoute for AccountRoutes {
    fn make_route(&mut self, meta: &Meta) -> Result<Route, Failure> {
        let input = |(code, text): (u8, String)| Failure::Input(code, text);
        let account = match &meta.account {
            Some(name) => super::flush::read_account(meta.config.as_deref(), name)
                .map_err(|text| Failure::Input(exit::CONFIG, text))?,
            None => None,
        };
        let mut args = send_args(self.verbose)?;
        let options = crate::deliver::options_with_account(
            &mut args,
            meta.transport.clone(),
            account.as_ref(),
            None,
        )
        .map_err(input)?;
        let log = crate::deliver::log_target(&args, account.as_ref()).map_err(input)?;
        let mut route = Route::new(options);
        if let Some(max_age) = account.as_ref().and_then(|a| a.spool_max_age) {
            route = route.max_age(max_age);
        }
        if log.is_on() {
            route = route.on_outcome(move |sent: &Outcome<'_>| {
                let options = sent
                    .options
                    .clone()
                    .originator(sent.envelope.originator())
                    .recipients(sent.envelope.recipients());
                if let Ok(prepared) =
                    envelope::prepare(sent.message, &options, &LocalEnv::from_system())
                {
                    crate::deliver::log_outcome(
                        &log,
                        account.as_ref(),
                        sent.message,
                        &prepared,
                        sent.result,
                    );
                }
            });
        }
        Ok(route)
    }
}

/// The flags of `postie send` a relayer sends with: none but `--verbose`
/// (the settings are the kept ones), and no progress bar (many messages
/// go at once).
fn send_args(verbose: bool) -> Result<SendArgs, Failure> {
    let mut argv = vec!["postie", "send", "--quiet"];
    if verbose {
        argv.push("--verbose");
    }
    match Cli::try_parse_from(argv) {
        Ok(Cli {
            command: Command::Send(args),
        }) => Ok(*args),
        Ok(_) => Err(Failure::Input(exit::SOFTWARE, "not a send".to_owned())),
        Err(e) => Err(Failure::Input(exit::SOFTWARE, e.to_string())),
    }
}
