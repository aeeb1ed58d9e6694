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
        None => render(&Cli::command(), "postie", &mut io::stdout().lock()),
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

/// One page: clap's sections (title, NAME, SYNOPSIS, DESCRIPTION, OPTIONS,
/// SUBCOMMANDS), then postie's own ([`crate::man_sections`]), then the
/// version. `page` is the page's name (`postie-send`).
fn render(command: &clap::Command, page: &str, out: &mut dyn Write) -> io::Result<()> {
    let man = clap_mangen::Man::new(command.clone());
    man.render_title(out)?;
    man.render_name_section(out)?;
    man.render_synopsis_section(out)?;
    man.render_description_section(out)?;
    if command.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(out)?;
    }
    if command.has_subcommands() {
        man.render_subcommands_section(out)?;
    }
    // The after-help text becomes NOTES and EXAMPLES there.
    crate::man_sections::write(command, page, out)?;
    if command.get_version().is_some() {
        man.render_version_section(out)?;
    }
    out.flush()
}

fn write_pages(dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let command = Cli::command();
    write_page(dir, &command, "postie")?;
    for sub in command.get_subcommands() {
        write_tree(dir, sub, "postie")?;
    }
    // sendmail's flags are not clap's: its page is written by hand.
    let mut page = std::fs::File::create(dir.join("postie-sendmail.1"))?;
    crate::sendmail_help::write_man(&mut page)?;
    page.flush()
}

/// The page of `sub` (named `PARENT-SUB`, as man(1) expects for `man
/// postie-send`), and those of its own subcommands, which its page lists
/// (`postie-spool-list`...). clap's generated `help` subcommand gets none.
fn write_tree(dir: &Path, sub: &clap::Command, parent: &str) -> io::Result<()> {
    if sub.get_name() == "help" {
        return Ok(());
    }
    let name = format!("{parent}-{}", sub.get_name());
    let named = sub
        .clone()
        .name(name.clone())
        .bin_name(name.replace('-', " "));
    write_page(dir, &named, &name)?;
    for child in sub.get_subcommands() {
        write_tree(dir, child, &name)?;
    }
    Ok(())
}

fn write_page(dir: &Path, command: &clap::Command, name: &str) -> io::Result<()> {
    let mut page = std::fs::File::create(dir.join(format!("{name}.1")))?;
    render(command, name, &mut page)
}
