//! What per-member summaries (issue 14) buy and cost, on a realistic store and on the
//! uniform one where no index can help, with and without summaries in one run.
//!
//! `cargo bench --bench index` generates (once, cached under target/bench-data) 30 gzipped
//! days of 200,000 records of each shape with `actlog demo --days 30` (`--shape
//! realistic`: `realistic-30x200000`; uniform: `ds2-30x200000`, the set benches/query.rs
//! uses), then times, median of 3 runs, each actlog run a child process whose peak RSS
//! comes from wait4: the floor (inflate every file in-process on all cores, count lines),
//! and six queries each with summaries and with `ACTLOG_IGNORE_SUMMARIES=1` (today's full
//! scan), asserting both settings give the same answers. Then the header bytes summaries
//! add (as % of the .gz size) and in-process compression time with and without them over
//! the members of 3 days. It ends with a markdown table of the targets, met or NOT
//! MET. `ACTLOG_BENCH_QUICK=1`: 3 days of 20,000 (for CI; the targets mean little there).

use actlog::dataset::{HEAVY_USER, RARE_USER};
use actlog::gzmeta;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

const START: &str = "2026-10-01";
/// Of a command's stdout only this much is kept (to compare answers); the rest is counted.
const KEEP: usize = 1 << 20;

fn actlog() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_actlog"));
    c.env_remove("ACTLOG_DIR")
        .env_remove("ACTLOG_IGNORE_SUMMARIES");
    c
}

/// One run of a command.
#[derive(Clone, Default)]
struct Run {
    secs: f64,
    /// User plus system CPU seconds (all threads), which other load on the machine
    /// changes far less than wall time.
    cpu: f64,
    rss_kib: u64,
    lines: u64,
    bytes: u64,
    /// The start of stdout (all of it when shorter than [`KEEP`]).
    head: String,
}

/// Runs `cmd` to completion, counting its stdout in chunks rather than keeping it (an
/// unfiltered `-o json` writes gigabytes).
// The child is reaped by wait4 (which also reports its peak RSS), not by Child::wait.
#[allow(clippy::zombie_processes)]
fn measure(mut cmd: Command, to_null: bool) -> Run {
    let start = Instant::now();
    let out = if to_null {
        Stdio::from(std::fs::File::create("/dev/null").expect("/dev/null"))
    } else {
        Stdio::piped()
    };
    let mut child = cmd
        .stdout(out)
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut run = Run::default();
    let mut head = Vec::new();
    if let Some(mut so) = child.stdout.take() {
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = so.read(&mut buf).expect("read stdout");
            if n == 0 {
                break;
            }
            run.bytes += n as u64;
            run.lines += memchr::memchr_iter(b'\n', &buf[..n]).count() as u64;
            let room = KEEP.saturating_sub(head.len()).min(n);
            head.extend_from_slice(&buf[..room]);
        }
    }
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child, with valid pointers to locals.
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    assert!(pid > 0, "wait4 failed");
    // Exit 1 is "nothing matched" (as grep), an answer like any other.
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) <= 1,
        "{cmd:?} failed (status {status})"
    );
    run.secs = start.elapsed().as_secs_f64();
    run.rss_kib = usage.ru_maxrss as u64;
    run.cpu = seconds(usage.ru_utime) + seconds(usage.ru_stime);
    run.head = String::from_utf8_lossy(&head).into_owned();
    run
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn seconds(t: libc::timeval) -> f64 {
    t.tv_sec as f64 + t.tv_usec as f64 / 1e6
}

/// CPU seconds this process has used so far, all threads.
fn own_cpu() -> f64 {
    // SAFETY: an all-zero rusage is a valid value for getrusage to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a valid pointer to a local.
    let ok = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    assert_eq!(ok, 0, "getrusage failed");
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// Times a command 3 times: median seconds (wall and CPU), max peak RSS, the last run's
/// output. With `to_null` the timed runs write to /dev/null, as `> /dev/null` does, and
/// one more run through a pipe gives the output.
fn bench(make: impl Fn() -> Command, to_null: bool) -> Run {
    let runs: Vec<Run> = (0..3).map(|_| measure(make(), to_null)).collect();
    let mut last = if to_null {
        measure(make(), false)
    } else {
        runs[2].clone()
    };
    last.secs = median(runs.iter().map(|r| r.secs).collect());
    last.cpu = median(runs.iter().map(|r| r.cpu).collect());
    last.rss_kib = runs.iter().map(|r| r.rss_kib).max().unwrap_or(0);
    last
}

/// The cached data set of `shape` ("uniform" or "realistic"), generated when missing.
fn dataset(shape: &str, days: u32, per_day: u32) -> PathBuf {
    let name = match shape {
        "uniform" => format!("ds2-{days}x{per_day}"),
        _ => format!("{shape}-{days}x{per_day}"),
    };
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target/bench-data")
        .join(name);
    let last_day = START.parse::<chrono::NaiveDate>().expect("date")
        + chrono::Duration::days(i64::from(days) - 1);
    if !data.join(format!("activity-{last_day}.json.gz")).exists() {
        let _ = std::fs::remove_dir_all(&data);
        let mut c = actlog();
        c.arg("--dir").arg(&data).args([
            "demo",
            "--days",
            &days.to_string(),
            "--per-day",
            &per_day.to_string(),
        ]);
        // The uniform set is made exactly as benches/query.rs makes it, so either reuses it.
        if shape != "uniform" {
            c.args(["--shape", shape]);
        }
        let out = c.output().expect("generate dataset");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        print!("{}", String::from_utf8_lossy(&out.stdout));
    }
    data
}

fn gz_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("data dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "gz"))
        .collect();
    files.sort();
    files
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// Runs `work` over `items` on every core, summing what it returns.
fn on_all_cores<T: Sync>(items: &[T], work: impl Fn(&T) -> u64 + Sync) -> u64 {
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..cores())
            .map(|_| {
                s.spawn(|| {
                    let mut sum = 0;
                    while let Some(item) = items.get(next.fetch_add(1, Ordering::Relaxed)) {
                        sum += work(item);
                    }
                    sum
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().expect("worker")).sum()
    })
}

/// The floor: every file inflated in-process on all cores, its lines counted.
fn floor_once(files: &[PathBuf]) -> (f64, f64, u64) {
    let (start, cpu) = (Instant::now(), own_cpu());
    let lines = on_all_cores(files, |path| {
        let file = std::fs::File::open(path).expect("open");
        let mut gz =
            flate2::read::MultiGzDecoder::new(std::io::BufReader::with_capacity(1 << 18, file));
        let mut buf = vec![0u8; 1 << 20];
        let mut n = 0u64;
        loop {
            let got = gz.read(&mut buf).expect("inflate");
            if got == 0 {
                return n;
            }
            n += memchr::memchr_iter(b'\n', &buf[..got]).count() as u64;
        }
    });
    (start.elapsed().as_secs_f64(), own_cpu() - cpu, lines)
}

/// The floor's median wall and CPU seconds, and the lines it counted.
fn floor(files: &[PathBuf]) -> (f64, f64, u64) {
    let runs: Vec<(f64, f64, u64)> = (0..3).map(|_| floor_once(files)).collect();
    (
        median(runs.iter().map(|r| r.0).collect()),
        median(runs.iter().map(|r| r.1).collect()),
        runs[0].2,
    )
}

/// Every member of every file, by its header.
fn members(files: &[PathBuf]) -> Vec<(PathBuf, gzmeta::Member)> {
    let mut out = Vec::new();
    for path in files {
        let file = std::fs::File::open(path).expect("open");
        let index = gzmeta::member_index(&file)
            .expect("read headers")
            .unwrap_or_else(|| panic!("{}: members without lengths", path.display()));
        out.extend(index.into_iter().map(|m| (path.clone(), m)));
    }
    out
}

/// One member's JSON.
fn inflate_member(path: &Path, m: &gzmeta::Member) -> Vec<u8> {
    let file = std::fs::File::open(path).expect("open");
    let mut gz = vec![0u8; m.len as usize];
    file.read_exact_at(&mut gz, m.offset).expect("read member");
    let mut data = Vec::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_end(&mut data)
        .expect("inflate member");
    data
}

/// Header bytes the summary subfields add: each member's extra field minus its
/// `AS`/`AT`/`AL` subfields (what a header held before summaries); and the total .gz size.
fn overhead(files: &[PathBuf]) -> (u64, u64) {
    let mut extra_bytes = 0u64;
    for (path, m) in members(files) {
        let file = std::fs::File::open(&path).expect("open");
        let mut head = [0u8; 12];
        file.read_exact_at(&mut head, m.offset).expect("header");
        let xlen = usize::from(u16::from_le_bytes([head[10], head[11]]));
        let mut extra = vec![0u8; xlen];
        file.read_exact_at(&mut extra, m.offset + 12)
            .expect("extra");
        let mut old = 0usize;
        let mut at = 0usize;
        while at + 4 <= extra.len() {
            let len = usize::from(u16::from_le_bytes([extra[at + 2], extra[at + 3]]));
            if [*b"AS", *b"AT", *b"AL"].contains(&[extra[at], extra[at + 1]]) {
                old += 4 + len;
            }
            at += 4 + len;
        }
        extra_bytes += xlen.saturating_sub(old) as u64;
    }
    let gz = files
        .iter()
        .map(|f| f.metadata().map_or(0, |m| m.len()))
        .sum();
    (extra_bytes, gz)
}

/// Seconds to compress the members of `files` (one thread) with summaries
/// (`encode_lines`, what maintenance writes now) and without (`encode_member`, before),
/// median of 3, the two interleaved so drift hits both alike.
fn compression(files: &[PathBuf]) -> (f64, f64, u64) {
    let datas: Vec<Vec<u8>> = members(files)
        .iter()
        .map(|(p, m)| inflate_member(p, m))
        .collect();
    let level = flate2::Compression::default();
    let (mut new, mut old) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        let t = Instant::now();
        for d in &datas {
            std::hint::black_box(gzmeta::encode_lines(d, level, None).expect("encode"));
        }
        new.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        for d in &datas {
            let bounds = gzmeta::time_bounds(d);
            std::hint::black_box(gzmeta::encode_member(d, level, None, bounds).expect("encode"));
        }
        old.push(t.elapsed().as_secs_f64());
    }
    let json = datas.iter().map(|d| d.len() as u64).sum();
    (median(new), median(old), json)
}

/// Members holding `user` (found by inflating each), and members whose summary cannot
/// rule it out; asserts that no summary rules out a member that holds it.
fn presence(files: &[PathBuf], user: &str) -> (u64, u64, u64) {
    let all = members(files);
    let needle = format!("\"username\":\"{user}\"");
    let finder = memchr::memmem::Finder::new(needle.as_bytes());
    let holding = on_all_cores(&all, |(path, m)| {
        let has = finder.find(&inflate_member(path, m)).is_some();
        let may = m
            .summary
            .as_ref()
            .and_then(|s| s.users.as_ref())
            .is_none_or(|u| u.may_contain(user));
        assert!(
            may || !has,
            "{}: a summary rules out {user}, whom the member holds",
            path.display()
        );
        u64::from(has)
    });
    let may = all
        .iter()
        .filter(|(_, m)| {
            m.summary
                .as_ref()
                .and_then(|s| s.users.as_ref())
                .is_none_or(|u| u.may_contain(user))
        })
        .count() as u64;
    (holding, may, all.len() as u64)
}

/// How two runs' answers are compared.
#[derive(Clone, Copy, PartialEq)]
enum Answer {
    /// The whole (short) output, line order aside.
    Text,
    /// The number of lines only.
    Lines,
}

struct Case {
    label: String,
    args: Vec<String>,
    answer: Answer,
}

struct Row {
    case: Case,
    with: Run,
    without: Run,
}

fn cases(heavy: &str, rare: &str, realistic: bool) -> Vec<Case> {
    let (rare_is, heavy_is) = if realistic {
        ("rare user", "heavy user")
    } else {
        ("user", "user")
    };
    let case = |label: &str, args: &[&str], answer| Case {
        label: label.to_owned(),
        args: args.iter().map(|s| (*s).to_owned()).collect(),
        answer,
    };
    vec![
        case("count", &["-c"], Answer::Text),
        case(
            "count by action",
            &["--count-by", "action", "-o", "json"],
            Answer::Text,
        ),
        case(
            &format!("{rare_is} {rare}"),
            &["-c", "--user", rare],
            Answer::Text,
        ),
        case(
            &format!("{heavy_is} {heavy}"),
            &["-c", "--user", heavy],
            Answer::Text,
        ),
        case("all records as JSON", &["-o", "json"], Answer::Lines),
        case(
            "numeric where",
            &["-c", "--where", "details.durationMs>400"],
            Answer::Text,
        ),
    ]
}

fn run_cases(dir: &Path, cases: Vec<Case>, records: u64) -> Vec<Row> {
    let q = |args: &[String], ignore: bool| {
        let args = args.to_vec();
        let dir = dir.to_owned();
        move || {
            let mut c = actlog();
            c.arg("--dir").arg(&dir).arg("query").args(&args);
            if ignore {
                c.env("ACTLOG_IGNORE_SUMMARIES", "1");
            }
            c
        }
    };
    let mut rows = Vec::new();
    for case in cases {
        let to_null = case.answer == Answer::Lines;
        let with = bench(q(&case.args, false), to_null);
        let without = bench(q(&case.args, true), to_null);
        let what = format!("{} in {}", case.label, dir.display());
        assert_eq!(
            with.lines, without.lines,
            "{what}: output lines differ with and without summaries"
        );
        if case.answer == Answer::Text {
            let sorted = |s: &str| {
                let mut v: Vec<String> = s.lines().map(str::to_owned).collect();
                v.sort();
                v
            };
            assert_eq!(
                sorted(&with.head),
                sorted(&without.head),
                "{what}: answers differ with and without summaries"
            );
        }
        rows.push(Row {
            case,
            with,
            without,
        });
    }
    // Whole-store answers must match the floor's line count (every line is a record).
    let count: u64 = rows[0].with.head.trim().parse().expect("count");
    assert_eq!(count, records, "query -c and the floor disagree");
    let by_action: u64 = rows[1]
        .with
        .head
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).expect("json")["count"]
                .as_u64()
                .expect("count")
        })
        .sum();
    assert_eq!(by_action, records, "--count-by must see every record");
    assert_eq!(
        rows[4].with.lines, records,
        "-o json must print every record"
    );
    rows
}

fn print_rows(set: &str, rows: &[Row]) {
    for r in rows {
        let answer = match r.case.answer {
            Answer::Lines => format!(
                "{} lines, {:.0} MB",
                r.with.lines,
                r.with.bytes as f64 / 1e6
            ),
            Answer::Text if r.with.lines == 1 => r.with.head.trim().to_owned(),
            Answer::Text => format!("{} lines", r.with.lines),
        };
        let null = if r.case.answer == Answer::Lines {
            " > /dev/null"
        } else {
            ""
        };
        println!(
            "| {set} | {} `query {}{null}` | {:.3} | {:.2} | {} MB | {:.3} | {:.2} | {} MB | {:.1}x | {answer} |",
            r.case.label,
            r.case.args.join(" "),
            r.with.secs,
            r.with.cpu,
            r.with.rss_kib / 1024,
            r.without.secs,
            r.without.cpu,
            r.without.rss_kib / 1024,
            r.without.secs / r.with.secs,
        );
    }
}

fn main() {
    let quick = std::env::var_os("ACTLOG_BENCH_QUICK").is_some();
    let (days, per_day) = if quick {
        (3u32, 20_000u32)
    } else {
        (30, 200_000)
    };
    let records = u64::from(days) * u64::from(per_day);
    let real_dir = dataset("realistic", days, per_day);
    let uni_dir = dataset("uniform", days, per_day);
    let real_files = gz_files(&real_dir);
    let uni_files = gz_files(&uni_dir);

    let (floor_t, floor_cpu, floor_n) = floor(&real_files);
    assert_eq!(floor_n, records, "the realistic set holds {floor_n} lines");
    let (uni_floor_t, uni_floor_cpu, uni_floor_n) = floor(&uni_files);
    assert_eq!(
        uni_floor_n, records,
        "the uniform set holds {uni_floor_n} lines"
    );

    let real = run_cases(&real_dir, cases(HEAVY_USER, RARE_USER, true), records);
    let uni = run_cases(&uni_dir, cases("user000", "user042", false), records);

    let (rare_in, rare_may, members_n) = presence(&real_files, RARE_USER);
    let (real_extra, real_gz) = overhead(&real_files);
    let (uni_extra, uni_gz) = overhead(&uni_files);
    let three = |f: &[PathBuf]| f[..f.len().min(3)].to_vec();
    let (real_new, real_old, real_json) = compression(&three(&real_files));
    let (uni_new, uni_old, uni_json) = compression(&three(&uni_files));

    println!(
        "\nactlog index benchmark: {days} gzipped days x {per_day} records per set, median of 3, {} cores",
        cores()
    );
    println!(
        "realistic set: {members_n} members, {:.0} MB compressed; uniform set: {:.0} MB",
        real_gz as f64 / 1e6,
        uni_gz as f64 / 1e6
    );
    println!(
        "rare user {RARE_USER}: in {rare_in} of {members_n} members ({:.2}%; meant to be 1-2% at 30x200000), summaries rule out all but {rare_may} ({:.2}%)\n",
        100.0 * rare_in as f64 / members_n as f64,
        100.0 * rare_may as f64 / members_n as f64,
    );
    println!(
        "| set | query | with summaries s | CPU s | peak RSS | ACTLOG_IGNORE_SUMMARIES=1 s | CPU s | peak RSS | speed-up | answer |"
    );
    println!("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    println!(
        "| realistic | floor: inflate in-process ({} threads), count lines | {floor_t:.3} | {floor_cpu:.2} | | | | | | {floor_n} |",
        cores()
    );
    print_rows("realistic", &real);
    println!(
        "| uniform | floor: inflate in-process ({} threads), count lines | {uni_floor_t:.3} | {uni_floor_cpu:.2} | | | | | | {uni_floor_n} |",
        cores()
    );
    print_rows("uniform", &uni);
    println!();
    println!(
        "| header bytes of summaries | realistic {real_extra} B = {:.2}% of .gz | uniform {uni_extra} B = {:.2}% of .gz |",
        100.0 * real_extra as f64 / real_gz as f64,
        100.0 * uni_extra as f64 / uni_gz as f64
    );
    println!(
        "| compression, 3 days, 1 thread | realistic {:.0} MB: {real_new:.2} s with, {real_old:.2} s without | uniform {:.0} MB: {uni_new:.2} s with, {uni_old:.2} s without |",
        real_json as f64 / 1e6,
        uni_json as f64 / 1e6
    );

    let check = |ok: bool| if ok { "met" } else { "NOT MET" };
    let speedup = |r: &Row| r.without.secs / r.with.secs;
    let pct =
        (100.0 * real_extra as f64 / real_gz as f64).max(100.0 * uni_extra as f64 / uni_gz as f64);
    let comp = (real_new / real_old).max(uni_new / uni_old);
    println!("\n| target (issue 14, realistic set) | measured | verdict |");
    println!("| --- | ---: | --- |");
    let target = |what: &str, measured: String, ok: bool| {
        println!("| {what} | {measured} | {} |", check(ok));
    };
    target(
        "`query -c`, all days: >= 50x faster than the full scan",
        format!("{:.1}x", speedup(&real[0])),
        speedup(&real[0]) >= 50.0,
    );
    target(
        "`query --count-by action`: >= 20x faster than the full scan",
        format!("{:.1}x", speedup(&real[1])),
        speedup(&real[1]) >= 20.0,
    );
    let rare = floor_t / real[2].with.secs;
    target(
        &format!("`query -c --user {RARE_USER}` (rare): >= 10x faster than the floor"),
        format!("{rare:.1}x"),
        rare >= 10.0,
    );
    let json = real[4].with.secs / floor_t;
    target(
        "`query -o json > /dev/null`: <= 1.3x the floor",
        format!(
            "{json:.2}x (CPU {:.2}x)",
            real[4].with.cpu / floor_cpu.max(1e-9)
        ),
        json <= 1.3,
    );
    let wh = real[5].with.secs / real[2].without.secs;
    target(
        "`query -c --where 'details.durationMs>400'`: <= 1.5x today's `-c --user` (rare user, summaries ignored)",
        format!(
            "{wh:.2}x (CPU {:.2}x)",
            real[5].with.cpu / real[2].without.cpu.max(1e-9)
        ),
        wh <= 1.5,
    );
    target(
        "summary header bytes: <= 3% of the .gz size (worse of the two sets)",
        format!("{pct:.2}%"),
        pct <= 3.0,
    );
    target(
        "compression time: <= 1.2x today's (worse of the two sets)",
        format!("{comp:.2}x"),
        comp <= 1.2,
    );
    // Run-to-run noise on this VM is about 10%; slower than that counts. CPU time, as
    // wall time on a shared 2-core machine moves by more than that.
    let slowest = uni
        .iter()
        .map(|r| (r.with.cpu / r.without.cpu.max(1e-9), r.case.label.as_str()))
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .unwrap_or((0.0, ""));
    target(
        "uniform set: no query slower with summaries (each <= 1.1x its full scan, CPU time)",
        format!("worst {:.2}x ({})", slowest.0, slowest.1),
        slowest.0 <= 1.1,
    );
}
