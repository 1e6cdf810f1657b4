//! Long output on a terminal goes through a pager, as git and journalctl do:
//! `ACTLOG_PAGER`, else `PAGER`, else `less -FRX` (which prints short output and exits).

use std::io::{self, Write};
use std::process::{Child, ChildStdin, Command, Stdio};

/// The pager when neither `ACTLOG_PAGER` nor `PAGER` names one: `-F` quits when the
/// output fits one screen, `-R` shows colours, `-X` leaves the text on the screen.
const DEFAULT_PAGER: &str = "less -FRX";

/// Where printed records go: standard output, or the standard input of a pager.
pub enum Out {
    /// Straight to standard output.
    Stdout(io::StdoutLock<'static>),
    /// Into a pager, waited for when output ends.
    Pager {
        /// The pager's standard input (taken to close it).
        stdin: Option<ChildStdin>,
        /// The pager itself.
        child: Child,
    },
}

impl Out {
    /// A pager when `page` (standard output is a terminal and paging was not turned off)
    /// and one is configured and starts; else standard output. A pager that cannot be
    /// started is named in one warning (unless `quiet`) and output goes to the terminal.
    pub fn open(page: bool, quiet: bool) -> Out {
        let stdout = || Out::Stdout(io::stdout().lock());
        if !page {
            return stdout();
        }
        let Some(command) = pager_command() else {
            return stdout();
        };
        match spawn(&command) {
            Ok(mut child) => match child.stdin.take() {
                Some(stdin) => Out::Pager {
                    stdin: Some(stdin),
                    child,
                },
                None => stdout(),
            },
            Err(e) => {
                if !quiet {
                    eprintln!(
                        "actlog: warning: cannot start the pager {command:?}: {e}; printing to the terminal (set ACTLOG_PAGER, or use --no-pager)"
                    );
                }
                stdout()
            }
        }
    }

    /// Ends the output: closes the pager's input and waits until the person quits it,
    /// so that what is printed next (the damage summary, the shell prompt) comes after.
    pub fn close(self) -> io::Result<()> {
        match self {
            Out::Stdout(mut out) => out.flush(),
            Out::Pager { stdin, mut child } => {
                drop(stdin);
                child.wait().map(|_| ())
            }
        }
    }
}

impl Write for Out {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Out::Stdout(out) => out.write(buf),
            Out::Pager { stdin, .. } => match stdin {
                Some(s) => s.write(buf),
                None => Err(io::ErrorKind::BrokenPipe.into()),
            },
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Out::Stdout(out) => out.flush(),
            Out::Pager { stdin, .. } => stdin.as_mut().map_or(Ok(()), Write::flush),
        }
    }
}

/// The pager command: `ACTLOG_PAGER`, else `PAGER`, else the default; `None` when it is
/// `cat` (or set empty), which means no pager, as for git.
fn pager_command() -> Option<String> {
    let chosen = ["ACTLOG_PAGER", "PAGER"]
        .iter()
        .find_map(|name| std::env::var(name).ok())
        .unwrap_or_else(|| DEFAULT_PAGER.to_owned());
    let chosen = chosen.trim();
    (!chosen.is_empty() && chosen != "cat").then(|| chosen.to_owned())
}

/// Starts `command`: run directly when it is a program and plain words, so that a
/// missing program is an error here rather than an empty page; through `sh -c` when it
/// uses the shell (quotes, pipes, variables).
fn spawn(command: &str) -> io::Result<Child> {
    let shell_syntax = command.contains(|c: char| "\"'\\$|&;<>()`*?[]{}~#=".contains(c));
    let mut cmd = if shell_syntax {
        let mut sh = Command::new("sh");
        sh.args(["-c", command]);
        sh
    } else {
        let mut words = command.split_whitespace();
        let mut direct = Command::new(words.next().unwrap_or("less"));
        direct.args(words);
        direct
    };
    // As git does: `less` without `LESS` set quits on one screen and shows colours.
    if std::env::var_os("LESS").is_none() {
        cmd.env("LESS", "FRX");
    }
    cmd.stdin(Stdio::piped()).spawn()
}
