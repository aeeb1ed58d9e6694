//! `postie spool stats [--json]`: postie-spool's numbers of a store,
//! printed.

use postie_spool::stats::Stats;

use crate::exit;

/// `postie spool stats [--json]`.
pub(crate) fn run(store: &super::Store, json: bool) -> u8 {
    let (spool, location) = match super::open_store(store, false) {
        Ok(Some(opened)) => opened,
        // No folder yet: nothing was ever kept.
        Ok(None) => {
            return print(&Stats::empty(None), &store.describe(), json);
        }
        Err((code, text)) => {
            eprintln!("postie: {text}");
            return code;
        }
    };
    match spool.stats() {
        Ok(stats) => print(&stats, &location, json),
        Err(e) => {
            eprintln!("postie: spool: {location}: {e}");
            exit::OS_ERR
        }
    }
}

fn print(stats: &Stats, location: &str, json: bool) -> u8 {
    if json {
        println!("{}", stats.json(location));
    } else {
        print!("{}", stats.text(location));
    }
    exit::OK
}
