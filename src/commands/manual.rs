//! `actlog completions` and `actlog man`: shell completion scripts and manual pages,
//! generated from the one clap definition so that they agree with `--help`.

use super::stdout;
use actlog::cli::{Cli, CompletionsArgs, ManArgs};
use anyhow::{Context, Result, anyhow};
use clap::CommandFactory;
use std::process::ExitCode;

/// Prints the completion script for the chosen shell.
pub fn completions(args: &CompletionsArgs) -> Result<ExitCode> {
    let mut cmd = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "actlog", &mut script);
    stdout::write(&script)?;
    Ok(ExitCode::SUCCESS)
}

/// Prints the main page or a subcommand's, or writes every page into `--out-dir`.
pub fn man(args: &ManArgs) -> Result<ExitCode> {
    let mut cmd = Cli::command();
    // Built, so that global flags (--dir, --now, -q) appear on every subcommand's page.
    cmd.build();
    if let Some(dir) = &args.out_dir {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("--out-dir {}: cannot create the directory", dir.display()))?;
        for page in pages(&cmd) {
            let path = dir.join(format!("{}.1", page.get_display_name().unwrap_or("actlog")));
            let mut roff = Vec::new();
            clap_mangen::Man::new(page)
                .render(&mut roff)
                .context("rendering the manual page")?;
            std::fs::write(&path, roff)
                .with_context(|| format!("{}: cannot write the page", path.display()))?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut all = pages(&cmd);
    let page = match &args.subcommand {
        None => all.swap_remove(0),
        Some(name) => {
            let wanted = format!("actlog-{name}");
            let names: Vec<&str> = cmd
                .get_subcommands()
                .map(|s| s.get_name())
                .filter(|&n| n != "help")
                .collect();
            let found = all
                .iter()
                .position(|p| p.get_display_name() == Some(wanted.as_str()));
            let index = found.ok_or_else(|| {
                anyhow!(
                    "man {name:?}: no such subcommand (one of {})",
                    names.join(", ")
                )
            })?;
            all.swap_remove(index)
        }
    };
    let mut roff = Vec::new();
    clap_mangen::Man::new(page)
        .render(&mut roff)
        .context("rendering the manual page")?;
    stdout::write(&roff)?;
    Ok(ExitCode::SUCCESS)
}

/// The main page, then one per subcommand named `actlog-query` as git names its pages,
/// and one per nested subcommand (`actlog-export-postgres`; clap's own `help`
/// subcommands have none).
fn pages(cmd: &clap::Command) -> Vec<clap::Command> {
    let main = cmd.clone().display_name("actlog");
    let mut pages = vec![main];
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let full = format!("actlog-{}", sub.get_name());
        pages.push(
            sub.clone()
                .display_name(full.clone())
                .bin_name(full.clone()),
        );
        for nested in sub.get_subcommands().filter(|s| s.get_name() != "help") {
            let name = format!("{full}-{}", nested.get_name());
            pages.push(nested.clone().display_name(name.clone()).bin_name(name));
        }
    }
    pages
}
