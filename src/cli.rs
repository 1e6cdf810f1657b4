//! The command line of CONTRACT section 4, defined once: `--help`, man page and shell
//! completions are all generated from these types.

use crate::filter::FilterSpec;
use crate::output::{ColorChoice, Format};
use crate::store::DEFAULT_MAX_LINE_BYTES;
use crate::writer::Durability;

/// `--durability`: the command line's names for [`Durability`] (the library has no clap).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum DurabilityArg {
    /// Written to the operating system (survives the process, not a power cut).
    #[default]
    Flush,
    /// On disk (fdatasync); concurrent appends share one sync (group commit).
    Fsync,
    /// Queued in memory; a background thread writes at least every second and on close.
    Buffered,
}

impl From<DurabilityArg> for Durability {
    fn from(d: DurabilityArg) -> Durability {
        match d {
            DurabilityArg::Flush => Durability::Flush,
            DurabilityArg::Fsync => Durability::Fsync,
            DurabilityArg::Buffered => Durability::Buffered,
        }
    }
}
use clap::builder::PossibleValuesParser;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Default log directory when neither `--dir` nor `ACTLOG_DIR` is given.
pub const DEFAULT_DIR: &str = "./logs";

/// actlog: activity logs in daily JSON Lines files, shared by many processes.
#[derive(Debug, Parser)]
#[command(name = "actlog", version, about, max_term_width = 100)]
pub struct Cli {
    /// Log directory [default: ./logs; for demo: ./demo-logs]
    #[arg(long, global = true, env = "ACTLOG_DIR", value_name = "DIR")]
    pub dir: Option<PathBuf>,

    /// Pretend the current time is TIME (any form --since takes: RFC 3339, 2026-11-24 13:45, @EPOCH, …), for tests and reproducible reports
    #[arg(long, global = true, env = "ACTLOG_NOW", value_name = "TIME")]
    pub now: Option<String>,

    /// No warnings and no progress bars on stderr (errors still print; damage still sets the exit status, --strict still fails)
    #[arg(short = 'q', long, global = true)]
    pub quiet: bool,

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
    /// Print matching records in stored order: days ascending; within a day the compressed
    /// file first, then the plain file; within a file, line order
    Query(QueryArgs),
    /// Print the last N matching records, in stored order; with -f, keep printing new ones
    Tail(TailArgs),
    /// Compress finished days and delete days older than --keep-days
    Maintain(MaintainArgs),
    /// Check every file; list each bad line or damaged file (exit 0 clean, 1 problems, 2 error)
    Verify(VerifyArgs),
    /// Days, records, bytes plain and compressed, first and last timestamp
    Stats(StatsArgs),
    /// Write a demo log directory from several processes at once and check every line
    Demo(DemoArgs),
    /// Serve the HTTP API (docs/openapi.yaml) for services that cannot link the library
    Serve(ServeArgs),
    /// Ask the sidecar on this machine whether it is alive (/healthz) or ready (/readyz): exit 0 yes, 1 no
    Probe(ProbeArgs),
    /// Export records into PostgreSQL (`export postgres`), or to standard output as CSV, JSON Lines or COPY text (`export --format`)
    Export(Box<ExportArgs>),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    Completions(CompletionsArgs),
    /// Print the manual page (roff), or write one page per command into a directory
    Man(ManArgs),
}

/// `actlog completions`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  actlog completions bash > /etc/bash_completion.d/actlog\n  actlog completions zsh > \"${fpath[1]}/_actlog\"\n  actlog completions fish > ~/.config/fish/completions/actlog.fish\n\nExit status: 0 printed, 2 error."
)]
pub struct CompletionsArgs {
    /// The shell to complete for
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `actlog man`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  actlog man | man -l -\n  actlog man query | man -l -\n  actlog man --out-dir /usr/local/share/man/man1\n\nExit status: 0 printed, 2 error."
)]
pub struct ManArgs {
    /// The page of this subcommand (e.g. query) instead of the main page
    #[arg(value_name = "SUBCOMMAND", conflicts_with = "out_dir")]
    pub subcommand: Option<String>,

    /// Write actlog.1 and one page per subcommand (actlog-query.1, …) into DIR
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

/// `actlog serve`.
#[derive(Debug, Args)]
#[command(
    after_help = "Stops on SIGTERM or SIGINT: stops accepting, answers the requests in flight, ends streams, flushes, exits 0.\nWarns (unless -q) when the token file is readable by group or others or the token is shorter than 32 bytes.\n\nExit status: 0 after a clean shutdown, 2 error (bad flag, unreadable token file, address in use).\n\nExamples:\n  actlog --dir /var/log/activity serve --token-file /run/secrets/actlog-token --durability fsync\n  ACTLOG_LISTEN=127.0.0.1:9000 actlog serve\n  curl -s 'localhost:8417/v1/activity?user=alice&limit=20'"
)]
pub struct ServeArgs {
    /// Address and port to listen on (keep it on loopback: the API is for the pod's own app)
    #[arg(
        long,
        value_name = "ADDR",
        env = "ACTLOG_LISTEN",
        default_value = "127.0.0.1:8417",
        value_parser = parse_listen
    )]
    pub listen: std::net::SocketAddr,

    /// Require `Authorization: Bearer <token>` on /v1 routes, the token read from FILE
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,

    /// When a POST is answered 201: flush (written to the OS), fsync (on disk), buffered (queued; written within 1 s and at shutdown)
    #[arg(long, value_enum, default_value_t = DurabilityArg::Flush)]
    pub durability: DurabilityArg,

    /// Longest a request (other than a stream) may take before it is answered 408 (e.g. 30s)
    #[arg(long, value_name = "INTERVAL", default_value = "30s")]
    pub request_timeout: String,

    /// Longest a connection may take to send a request's headers, or stay idle between requests, before it is closed (e.g. 10s)
    #[arg(long, value_name = "INTERVAL", default_value = "10s")]
    pub header_timeout: String,

    /// Most connections served at once (at most half the open-file limit); more wait to be accepted
    #[arg(long, value_name = "N", default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,

    /// How many recent record ids to remember (under 100 bytes each): a POSTed record whose id is among them is acknowledged with the stored timestamp and not written again; 0 turns this off
    #[arg(long, value_name = "N", default_value_t = crate::once::DEFAULT_WINDOW)]
    pub dedupe_window: usize,

    /// Do not serve the browser page at /ui (its data comes through /v1 and the token either way)
    #[arg(long)]
    pub no_ui: bool,
}

/// `actlog probe`.
#[derive(Debug, Args)]
#[command(
    after_help = "For Kubernetes exec probes, which run inside the container (an httpGet probe comes from the node, whose loopback is not the pod's), with no curl needed in the image. A wildcard --listen (0.0.0.0, ::) is probed on loopback. Prints nothing when healthy; otherwise one line on stderr saying why.\n\nExit status: 0 healthy (or ready), 1 not (nothing listening, no answer in time, another status), 2 bad flag.\n\nExamples:\n  actlog probe\n  actlog probe --ready --timeout 2s\n  ACTLOG_LISTEN=127.0.0.1:9000 actlog probe"
)]
pub struct ProbeArgs {
    /// Address the sidecar listens on (as `serve --listen`)
    #[arg(
        long,
        value_name = "ADDR",
        env = "ACTLOG_LISTEN",
        default_value = "127.0.0.1:8417",
        value_parser = parse_listen
    )]
    pub listen: std::net::SocketAddr,

    /// Ask /readyz (the store takes a lock and a probe write) instead of /healthz (the process answers)
    #[arg(long)]
    pub ready: bool,

    /// Longest to wait for the whole answer (e.g. 2s, 500ms)
    #[arg(long, value_name = "INTERVAL", default_value = "2s")]
    pub timeout: String,
}

/// Parses `--listen`: `IP:PORT`, `[IPv6]:PORT` or `HOST:PORT` (e.g. `localhost:8417`),
/// a host name taking its first address, IPv4 preferred.
pub fn parse_listen(text: &str) -> Result<std::net::SocketAddr, String> {
    use std::net::ToSocketAddrs;
    if let Ok(addr) = text.parse() {
        return Ok(addr);
    }
    if text
        .rsplit_once(':')
        .is_none_or(|(_, port)| port.parse::<u16>().is_err())
    {
        return Err("expected IP:PORT or HOST:PORT, e.g. 127.0.0.1:8417 or localhost:8417".into());
    }
    let addrs: Vec<std::net::SocketAddr> = text
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve the host: {e}"))?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(|| "the host has no address".to_owned())
}

/// `actlog verify`.
#[derive(Debug, Args)]
#[command(
    after_help = "Checks every day file: damaged lines and gzip, unterminated last lines, leftovers already in the .gz, member indexes, modes, symlinks and stale temporary files; and in the records: duplicate ids (across days too), records stored in the file of another day, and timestamps not in the canonical form (2026-11-24T13:45:12.123Z).\nEach problem is one line on stdout (FILE:LINE: problem: detail); the summary and what to do about each kind of problem go to stderr. With -o json, each problem is an object with a stable `kind` (README lists them) and a `hint`.\n\nExit status: 0 no problems, 1 problems found, 2 error.\n\nExamples:\n  actlog verify\n  actlog verify -o json | jq -r 'select(.kind == \"duplicate-id\") | .file'\n  actlog --dir /var/log/activity verify -q || alert"
)]
pub struct VerifyArgs {
    /// Output: text (one problem per line) or json (one object per line)
    #[arg(short = 'o', long = "output", value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,
}

/// `actlog stats`.
#[derive(Debug, Args)]
#[command(
    after_help = "Columns:\n  day          the UTC day (the last row: all days)\n  records      valid records\n  damaged      lines or gzip members that are not valid records (actlog verify lists them)\n  json bytes   size of the records' JSON lines, plain and inflated together\n  plain bytes  size of the day's plain file (activity-DAY.json)\n  gz bytes     size of the day's compressed file (activity-DAY.json.gz)\n  ratio        JSON bytes held in the .gz per byte of .gz ('-' when there is none)\n  first, last  the earliest and latest timestamp\nSizes are in binary units (1.2 GiB = 1.2 x 1024^3 bytes) on a terminal, exact bytes otherwise, with --bytes, and always in JSON; ratio is a number in JSON.\n\nExit status: 0 done (damage is counted, not an error), 2 error.\n\nExamples:\n  actlog stats\n  actlog stats --bytes | sort -k4 -n\n  actlog stats -o json | jq '.total.gz_bytes'"
)]
pub struct StatsArgs {
    /// Output: text (a header, a line per day, then the total) or json (one object: days and total)
    #[arg(short = 'o', long = "output", value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,

    /// Sizes as exact byte counts, also on a terminal (the default when stdout is not one)
    #[arg(long)]
    pub bytes: bool,
}

/// Formats for `verify` and `stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    /// For people.
    Text,
    /// JSON, for machines.
    Json,
}

/// `actlog maintain`.
#[derive(Debug, Args)]
#[command(
    after_help = "Safe while writers, readers and other pods run, and after a crash at any point.\nA second run at the same moment reports that another holds the lock and exits 0.\nWhat was done goes to stdout, one line each (\"compressed\", \"reindexed\", \"deleted\", \"removed\"; with --dry-run \"would compress\", \"would reindex\", \"would delete\", \"would remove\"), or one line saying there was nothing to do (not with -q); warnings and refusals go to stderr.\n\nExit status: 0 done (or nothing to do, or another run holds the lock), 2 a day was refused or an error.\n\nExamples:\n  actlog maintain --dry-run\n  actlog maintain --keep-days 30\n  actlog maintain --max-bytes 20G\n  actlog maintain --reindex --dry-run"
)]
pub struct MaintainArgs {
    /// Delete days older than N days (by the date in the file name; never today or a future day)
    #[arg(long, value_name = "N", default_value_t = 90, allow_negative_numbers = true,
          value_parser = parse_days)]
    pub keep_days: u32,

    /// Compress days more than N days before today (1: every day before yesterday)
    #[arg(long, value_name = "N", default_value_t = 1, allow_negative_numbers = true,
          value_parser = parse_days)]
    pub grace_days: u32,

    /// Then delete the oldest days (never today or a future one) until day files take at most SIZE: bytes (1000000) or a number with K, M, G or T, powers of 1024 as in du -h (512M, 20G, 1.5GiB)
    #[arg(long, value_name = "SIZE", allow_hyphen_values = true, value_parser = crate::units::parse_size)]
    pub max_bytes: Option<u64>,

    /// Show what would be done; change nothing
    #[arg(long)]
    pub dry_run: bool,

    /// Also rewrite finished days' .gz files whose members lack summaries (written by an older actlog, gzip or cat) into members with them, so counts and filtered queries skip work; the content stays byte for byte the same, and a day with a plain file is left until it is compressed
    #[arg(long)]
    pub reindex: bool,
}

/// Parses a number of days for `--keep-days` and `--grace-days`: a whole number, 0 or more.
pub fn parse_days(text: &str) -> Result<u32, String> {
    text.trim()
        .parse()
        .map_err(|_| match text.trim().parse::<u128>() {
            Ok(_) => format!("more days than the most, {}", u32::MAX),
            Err(_) => "must be a whole number of days, 0 or more".to_owned(),
        })
}

/// The filters shared by `query` and `tail`. All given filters must match; a repeated
/// `--user`, `--action` or `--ip` matches any of its values; repeated `--where` and `-g`
/// must all hold.
#[derive(Debug, Args, Clone, Default)]
pub struct FilterArgs {
    /// Records at or after TIME: RFC 3339, a date, '2026-11-24 13:45[:12]' (UTC), @EPOCH, now, today, yesterday, tomorrow, or 15m, -2h, 7d ago
    #[arg(short = 'S', long, value_name = "TIME", allow_hyphen_values = true)]
    pub since: Option<String>,

    /// Records before TIME (same forms as --since; at or before --since is refused as an empty range)
    #[arg(short = 'U', long, value_name = "TIME", allow_hyphen_values = true)]
    pub until: Option<String>,

    /// Exact user name, case-sensitive unless -i (repeat for any of several)
    #[arg(long = "user", value_name = "NAME")]
    pub users: Vec<String>,

    /// Action glob on characters: * ? [éa] [!x] [a-z] {a,b}, \ escapes; e.g. 'report.*' (repeat for any of several)
    #[arg(long = "action", value_name = "GLOB")]
    pub actions: Vec<String>,

    /// Client address or CIDR network such as 203.0.113.0/24, compared canonically (::ffff:a.b.c.d is IPv4) (repeat for any of several)
    #[arg(long = "ip", value_name = "ADDR")]
    pub ips: Vec<String>,

    /// 'FIELD OP VALUE' with OP one of = != ~ !~ > >= < <=, FIELD such as details.reportId (repeat: all must hold)
    #[arg(long = "where", value_name = "COND")]
    pub wheres: Vec<String>,

    /// Regular expression searched in the stored line (repeat: all must match; with -v, none may)
    #[arg(short = 'g', long = "grep", value_name = "REGEX")]
    pub greps: Vec<String>,

    /// -g, --user and --action ignore case (Unicode simple case folding: é=É, ж=Ж, σ=Σ=ς)
    #[arg(short = 'i', long)]
    pub ignore_case: bool,

    /// Records whose stored line matches none of the -g patterns (other filters still apply)
    #[arg(short = 'v', long)]
    pub invert_grep: bool,

    /// -g patterns are literal text, not regular expressions (. ( [ \ and the rest match themselves)
    #[arg(short = 'F', long)]
    pub fixed_strings: bool,

    /// Any damaged line or file is an error (exit 2); every line is fully validated
    #[arg(long)]
    pub strict: bool,
}

impl FilterArgs {
    /// The filter flags as a specification for [`crate::filter::Filter::new`].
    pub fn spec(&self) -> FilterSpec {
        FilterSpec {
            since: self.since.clone(),
            until: self.until.clone(),
            users: self.users.clone(),
            actions: self.actions.clone(),
            ips: self.ips.clone(),
            wheres: self.wheres.clone(),
            greps: self.greps.clone(),
            ignore_case: self.ignore_case,
            invert_grep: self.invert_grep,
            fixed_strings: self.fixed_strings,
        }
    }
}

/// How results are printed, shared by `query` and `tail`.
#[derive(Debug, Args, Clone, Default)]
pub struct OutputArgs {
    /// Output format: json (the stored lines), json-pretty, pretty, table, csv [default: pretty on a terminal, else json]
    #[arg(short = 'o', long = "output", value_enum, value_name = "FORMAT")]
    pub format: Option<Format>,

    /// Colour: auto (terminal only, not with NO_COLOR or TERM=dumb), always, never
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,

    /// Show only these fields, in this order, e.g. timestamp,username,details.reportId (dotted paths reach into details and unknown fields; with -o json, objects of just these fields)
    #[arg(long, value_name = "LIST", value_parser = crate::output::Columns::parse)]
    pub fields: Option<crate::output::Columns>,

    /// Pretty and table output show timestamps in this machine's time zone (TZ), with their offset; JSON and CSV stay UTC
    #[arg(long, conflicts_with = "timezone")]
    pub local: bool,

    /// Pretty and table output show timestamps in ZONE, an IANA name such as Europe/Berlin, with their offset; JSON and CSV stay UTC
    #[arg(short = 'Z', long, value_name = "ZONE", value_parser = crate::output::parse_zone)]
    pub timezone: Option<crate::output::Zone>,

    /// Never page: on a terminal, output otherwise goes through ACTLOG_PAGER, else PAGER, else `less -FRX`
    #[arg(long)]
    pub no_pager: bool,

    /// CSV cells exactly as stored: no leading ' before cells starting with = + - @ tab CR,
    /// no escaping of control characters and bidi overrides (still escaped on a terminal)
    #[arg(long)]
    pub csv_raw: bool,
}

impl OutputArgs {
    /// The zone pretty and table output show timestamps in.
    pub fn zone(&self) -> crate::output::Zone {
        match (self.local, self.timezone) {
            (true, _) => crate::output::Zone::Local,
            (false, Some(zone)) => zone,
            (false, None) => crate::output::Zone::Utc,
        }
    }
}

/// `actlog query`.
#[derive(Debug, Args)]
#[command(
    after_help = "Exit status: 0 something matched, 1 nothing matched, 2 error.\n\nExamples:\n  actlog query --user alice --since yesterday --until today\n  actlog query --action 'report.*' --where 'details.durationMs>400' -o table\n  actlog query --since 7d --count-by action\n  actlog query -S '2026-11-24 13:00' -U '2026-11-24 14:00' --fields timestamp,username,details.reportId -Z Europe/Berlin\n  actlog query --user alice -o json --fields id,timestamp,action > alice.jsonl"
)]
pub struct QueryArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub filters: FilterArgs,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub output: OutputArgs,

    /// Stop after N matches (-c and --count-by count only the first N)
    #[arg(short = 'n', long, value_name = "N")]
    pub limit: Option<u64>,

    /// Newest first (exactly the reverse of stored order)
    #[arg(short = 'r', long)]
    pub reverse: bool,

    /// Print only the number of matches
    #[arg(short = 'c', long, conflicts_with = "count_by")]
    pub count: bool,

    /// Print each value of FIELD (e.g. action, details.property) with its count, most frequent first
    #[arg(long, value_name = "FIELD")]
    pub count_by: Option<String>,
}

/// `actlog tail`.
#[derive(Debug, Args)]
#[command(
    after_help = "Exit status: 0 something matched, 1 nothing matched, 2 error. With -f it runs until --until has passed (then 0 or 1 as above), the reader of its output goes away (0), or it is interrupted.\n\nExamples:\n  actlog tail -n 50 --user alice\n  actlog tail -f --action 'auth.*' -o table\n  actlog tail -f --poll 2s --where 'details.durationMs>400'    # on a network volume\n  actlog tail -f --until '2026-11-24 18:00' -Z Europe/Berlin"
)]
pub struct TailArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub filters: FilterArgs,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub output: OutputArgs,

    /// How many of the last matching records to print
    #[arg(short = 'n', long = "lines", value_name = "N", default_value_t = 10)]
    pub lines: u64,

    /// Keep printing new matching records as they are appended, across day rollover
    #[arg(short = 'f', long)]
    pub follow: bool,

    /// With -f: check for new records every INTERVAL (e.g. 500ms, 2s) instead of waiting
    /// for file-system events; automatic where events are unavailable. Needed on network
    /// volumes, where other machines' writes raise no events
    #[arg(long, value_name = "INTERVAL", requires = "follow")]
    pub poll: Option<String>,
}

/// `actlog append`.
#[derive(Debug, Args)]
#[command(
    after_help = "Exit status: 0 every record written, 2 error (one line naming the flag, or the input line and field; for `append -` also how many records were written and the line to rerun from).\n\nExamples:\n  actlog append --user alice --action report.view --details '{\"reportId\":\"r-8812\"}'\n  actlog append --user bob --action auth.login --ip 203.0.113.7 --at '2026-11-24 13:45'\n  producer | actlog append - --batch 500 --durability fsync"
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

    /// When it happened: any form --since takes (RFC 3339, a date, 2026-11-24 13:45[:12] in UTC, @EPOCH, now, yesterday, 2h …) [default: now]
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,

    /// When append returns: flush (written to the OS), fsync (on disk), buffered (batched in memory, written within 1 s and at exit)
    #[arg(long, value_enum, default_value_t = DurabilityArg::Flush)]
    pub durability: DurabilityArg,

    /// Standard-input mode: records validated and written per batch
    #[arg(long, value_name = "N", default_value_t = 1000,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub batch: u32,

    /// Longest record line in bytes (128 B to 16 MiB, the longest line readers read); longer records are refused, never cut
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_LINE_BYTES as u64,
          value_parser = clap::value_parser!(u64).range(128..=(crate::record::MAX_LINE_LIMIT as u64)))]
    pub max_line_bytes: u64,

    /// Refuse a record whose timestamp is more than this far ahead of this machine's clock (e.g. 1d, 2h, 30m, 0)
    #[arg(long, value_name = "SKEW", default_value = "1d", value_parser = crate::timeexpr::parse_skew)]
    pub max_future_skew: std::time::Duration,
}

/// `--shape`: the command line's names for [`crate::dataset::Shape`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ShapeArg {
    /// 500 users `user000`..`user499` picked uniformly (the worst case for indexes).
    #[default]
    Uniform,
    /// 20,000 users `u00000`..`u19999`, Zipf-like activity, sessions from one address each.
    Realistic,
}

impl From<ShapeArg> for crate::dataset::Shape {
    fn from(s: ShapeArg) -> crate::dataset::Shape {
        match s {
            ShapeArg::Uniform => crate::dataset::Shape::Uniform,
            ShapeArg::Realistic => crate::dataset::Shape::Realistic,
        }
    }
}

/// `actlog demo`.
#[derive(Debug, Args)]
#[command(
    after_help = "Refuses a directory that holds records it did not write (every demo record has \"demo\": true in its details), so ACTLOG_DIR=/prod actlog demo cannot mix fake records into a real store; --force overrides. A --days dataset carries no such mark: a directory holding one needs --force.\n\nExit status: 0 every line checked out, 2 error or a bad line.\n\nExamples:\n  actlog demo                                  # into ./demo-logs\n  actlog --dir /tmp/d demo --processes 8 --records 10000\n  actlog --dir /tmp/bench demo --days 30 --per-day 200000\n  actlog --dir /tmp/bench-real demo --days 30 --shape realistic"
)]
pub struct DemoArgs {
    /// Writer processes to run at once
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub processes: u32,

    /// Records each process appends
    #[arg(long, default_value_t = 2500, value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    pub records: u32,

    /// Instead: write a deterministic dataset of this many gzipped days (for benchmarks)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=3660))]
    pub days: Option<u32>,

    /// With --days: records per day
    #[arg(long, value_name = "M", default_value_t = 200_000, requires = "days",
          value_parser = clap::value_parser!(u32).range(1..=100_000_000))]
    pub per_day: u32,

    /// With --days: the first day
    #[arg(
        long,
        value_name = "DATE",
        default_value = "2026-10-01",
        requires = "days"
    )]
    pub start: chrono::NaiveDate,

    /// With --days: uniform (500 users, each in every gzip member) or realistic (20,000 users, a few heavy and many rare, in sessions of 3-30 actions)
    #[arg(long, value_enum, default_value_t = ShapeArg::Uniform, requires = "days")]
    pub shape: ShapeArg,

    /// Write even into a directory holding records the demo did not write (never needed for a new or demo-only directory)
    #[arg(long)]
    pub force: bool,
}

/// `actlog export`.
#[derive(Debug, Args)]
#[command(
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    after_help = "Writes every selected record to standard output, in stored order; the filters are query's. With -f, goes on with new records until SIGTERM or SIGINT (then exits 0).\n\nExit status: 0 done, 2 error.\n\nExamples:\n  actlog export --format csv --since 2026-11-01 > november.csv\n  actlog export --format pg-copy > rows.copy && psql -c \"\\\\copy activity_logs (id, \\\"timestamp\\\", username, action, details, ip_address, user_agent, raw) FROM rows.copy\"\n  actlog export postgres --url postgres://actlog@db:5432/app --create-schema\n  actlog export postgres --follow        # as a Deployment; URL from ACTLOG_PG_URL or POSTGRES_*"
)]
pub struct ExportArgs {
    /// Into a PostgreSQL table
    #[command(subcommand)]
    pub target: Option<ExportTarget>,

    /// Standard output's format: csv (RFC 4180, a header), jsonl (the stored lines), pg-copy (COPY ... FROM STDIN text format)
    #[arg(long, value_enum, required = true)]
    pub format: Option<ExportFormat>,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub filters: FilterArgs,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub follow: FollowArgs,
}

/// `actlog export --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// RFC 4180 CSV with a header row; an absent field is an empty cell; cells exactly as stored (no spreadsheet escaping).
    Csv,
    /// JSON Lines: the stored lines, unchanged.
    Jsonl,
    /// PostgreSQL COPY text format (tab-separated, \\N for NULL), the columns of docs/EXPORT.md.
    PgCopy,
}

/// `--follow` and `--poll`, shared by both kinds of export.
#[derive(Debug, Args, Clone, Default)]
pub struct FollowArgs {
    /// Keep exporting records as they are appended (across midnight and maintenance) until SIGTERM or SIGINT, which finish the current batch and exit 0
    #[arg(short = 'f', long)]
    pub follow: bool,

    /// With -f: check for new records every INTERVAL (e.g. 2s) instead of waiting for file-system events; needed on network volumes
    #[arg(long, value_name = "INTERVAL", requires = "follow")]
    pub poll: Option<String>,
}

/// Where `actlog export` writes.
#[derive(Debug, Subcommand)]
pub enum ExportTarget {
    /// Into a PostgreSQL table: COPY into a staging table and INSERT ... ON CONFLICT DO NOTHING, one transaction per batch that also saves how far each day is exported
    Postgres(PostgresArgs),
}

/// `actlog export postgres`.
#[derive(Debug, Args)]
#[command(
    after_help = "The database: --url, else ACTLOG_PG_URL, else POSTGRES_HOST, POSTGRES_PORT, POSTGRES_DB, POSTGRES_USER and POSTGRES_PASSWORD (POSTGRES_PASSWORD also fills in a URL without a password). The password is never printed. Connections are not encrypted (no TLS): keep the database on the cluster network.\nProgress is kept in TABLE_export_progress, in the same transaction as the rows: a killed export resumes where it stopped, a rerun inserts nothing. docs/EXPORT.md has the columns and what happens when the store and the database disagree.\n\nExit status: 0 done (or stopped by SIGTERM/SIGINT with --follow), 2 error (one line; the batch in flight is not committed).\n\nExamples:\n  actlog export postgres --url postgres://actlog@db:5432/app --create-schema\n  ACTLOG_PG_URL=postgres://actlog@db/app actlog export postgres --since 2026-11-01 --follow\n  actlog export postgres --table reports.activity --user alice"
)]
pub struct PostgresArgs {
    /// postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE (a HOST starting with / is a Unix-socket directory: postgres://u@%2Frun%2Fpostgresql/db)
    #[arg(
        long,
        value_name = "URL",
        env = "ACTLOG_PG_URL",
        hide_env_values = true
    )]
    pub url: Option<String>,

    /// Create the table, its indexes (username, timestamp DESC, action) and the progress table, where missing
    #[arg(long)]
    pub create_schema: bool,

    /// The table: NAME or SCHEMA.NAME
    #[arg(long, value_name = "TABLE", default_value = "activity_logs")]
    pub table: String,

    /// Records per batch (one transaction each)
    #[arg(long, value_name = "N", default_value_t = 10_000,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub batch: u32,

    /// The name this store's progress is kept under [default: the log directory's absolute path]; give the same name where pods mount the volume at different paths
    #[arg(long, value_name = "NAME")]
    pub source: Option<String>,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub filters: FilterArgs,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub follow: FollowArgs,
}
