//! Shell completions and the man page, generated from the clap definitions
//! at run time, so they can never drift from the flags.

use std::io::{self, Write};
use std::path::Path;

use clap::CommandFactory as _;

use crate::args::Cli;
use crate::exit;

/// `postie completions SHELL`: the completion script on standard output.
pub(crate) fn completions(shell: clap_complete::Shell) -> u8 {
    let mut command = Cli::command();
    // Generated into memory first: the generator panics when its writer
    // fails (a closed pipe), and a Vec never fails.
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, "postie", &mut script);
    let mut out = io::stdout().lock();
    match out.write_all(&script).and_then(|()| out.flush()) {
        Ok(()) => exit::OK,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => exit::OK,
        Err(e) => {
            eprintln!("postie completions: {e}");
            exit::OS_ERR
        }
    }
}

/// `postie man [--dir DIR]`: postie(1) on standard output, or postie(1)
/// and one page per subcommand (postie-send(1)...) written into DIR.
pub(crate) fn man(dir: Option<&Path>) -> u8 {
    let result = match dir {
        None => render(&Cli::command(), &mut io::stdout().lock()),
        Some(dir) => write_pages(dir),
    };
    match result {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!("postie man: {e}");
            exit::CANTCREAT
        }
    }
}

fn render(command: &clap::Command, out: &mut dyn Write) -> io::Result<()> {
    clap_mangen::Man::new(command.clone()).render(out)?;
    out.flush()
}

fn write_pages(dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let command = Cli::command();
    let mut page = std::fs::File::create(dir.join("postie.1"))?;
    render(&command, &mut page)?;
    for sub in command.get_subcommands() {
        // clap_mangen names a subcommand's page after its own name; give it
        // the parent's prefix, as man(1) expects for `man postie-send`.
        let name = format!("postie-{}", sub.get_name());
        let sub = sub
            .clone()
            .name(name.clone())
            .bin_name(name.replace('-', " "));
        let mut page = std::fs::File::create(dir.join(format!("{name}.1")))?;
        render(&sub, &mut page)?;
    }
    Ok(())
}
