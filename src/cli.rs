//! The command line of CONTRACT section 4, defined once: `--help`, man page and shell
//! completions are all generated from these types.

use crate::writer::{DEFAULT_MAX_LINE_BYTES, Durability};
use clap::builder::PossibleValuesParser;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Default log directory when neither `--dir` nor `ACTLOG_DIR` is given.
pub const DEFAULT_DIR: &str = "./logs";

/// actlog: activity logs in daily JSON Lines files, shared by many processes.
#[derive(Debug, Parser)]
#[command(name = "actlog", version, about, max_term_width = 100)]
pub struct Cli {
    /// Log directory [default: ./logs]
    #[arg(long, global = true, env = "ACTLOG_DIR", value_name = "DIR")]
    pub dir: Option<PathBuf>,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// The log directory: `--dir`, else `ACTLOG_DIR`, else `default`.
    pub fn dir_or(&self, default: &str) -> PathBuf {
        self.dir.clone().unwrap_or_else(|| PathBuf::from(default))
    }
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Append one record, or JSON Lines from standard input with `append -`
    Append(AppendArgs),
    /// Write a demo log directory from several processes at once and check every line
    Demo(DemoArgs),
}

/// `actlog append`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  actlog append --user alice --action report.view --details '{\"reportId\":\"r-8812\"}'\n  producer | actlog append - --batch 500 --durability fsync"
)]
pub struct AppendArgs {
    /// Read JSON Lines (one record per line) from standard input
    #[arg(value_name = "-", value_parser = PossibleValuesParser::new(["-"]),
          conflicts_with_all = ["user", "action", "details", "ip", "user_agent", "at"])]
    pub stdin: Option<String>,

    /// Who did it (1–255 characters)
    #[arg(long, value_name = "U", required_unless_present = "stdin")]
    pub user: Option<String>,

    /// What was done, e.g. report.view (1–255 characters)
    #[arg(long, value_name = "A", required_unless_present = "stdin")]
    pub action: Option<String>,

    /// Details as a JSON object, e.g. '{"reportId":"r-8812"}'
    #[arg(long, value_name = "JSON")]
    pub details: Option<String>,

    /// Client IPv4 or IPv6 address
    #[arg(long, value_name = "IP")]
    pub ip: Option<String>,

    /// Client user agent
    #[arg(long, value_name = "UA")]
    pub user_agent: Option<String>,

    /// When it happened, RFC 3339 with Z or an offset [default: now]
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,

    /// When append returns: flush (written to the OS), fsync (on disk), buffered (batched in memory, written within 1 s and at exit)
    #[arg(long, value_enum, default_value_t = Durability::Flush)]
    pub durability: Durability,

    /// Standard-input mode: records validated and written per batch
    #[arg(long, value_name = "N", default_value_t = 1000,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub batch: u32,

    /// Longest record line in bytes (128 B to 1 GiB); longer records are refused, never cut
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_LINE_BYTES as u64,
          value_parser = clap::value_parser!(u64).range(128..=(1 << 30)))]
    pub max_line_bytes: u64,
}

/// `actlog demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Writer processes to run at once
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub processes: u32,

    /// Records each process appends
    #[arg(long, default_value_t = 2500, value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    pub records: u32,
}
