//! `actlog stats`: per day and in total, records, JSON bytes, file sizes, compression
//! ratio, first and last timestamp. Days are read in parallel with the light parse.

use crate::scan::{Damage, Loc, Sink, scan_day};
use actlog_core::error::Result;
use actlog_core::layout::{FileKind, file_name, list_days};
use actlog_core::progress::{NoProgress, Progress};
use actlog_core::record::{LiteRecord, format_timestamp};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use std::ops::ControlFlow;
use std::path::Path;

/// Figures for one day (or, in [`Stats::total`], all of them).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DayStats {
    /// The day (`None` for the total).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub day: Option<NaiveDate>,
    /// Valid records.
    pub records: u64,
    /// Damaged lines or files skipped.
    pub damaged: u64,
    /// Bytes of JSON lines, plain and inflated.
    pub json_bytes: u64,
    /// Size of the plain file.
    pub plain_bytes: u64,
    /// Size of the `.gz`.
    pub gz_bytes: u64,
    /// JSON bytes held in the `.gz` per compressed byte, to two decimals.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratio: Option<f64>,
    /// Earliest record.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "ts")]
    pub first: Option<DateTime<Utc>>,
    /// Latest record.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "ts")]
    pub last: Option<DateTime<Utc>>,
    #[serde(skip)]
    gz_json_bytes: u64,
}

fn ts<S: serde::Serializer>(
    t: &Option<DateTime<Utc>>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&format_timestamp(*t)),
        None => s.serialize_none(),
    }
}

/// Every day's figures and the total.
#[derive(Debug, Default, Serialize)]
pub struct Stats {
    /// Per day, oldest first.
    pub days: Vec<DayStats>,
    /// All days together.
    pub total: DayStats,
}

impl DayStats {
    fn add(&mut self, other: &DayStats) {
        self.records += other.records;
        self.damaged += other.damaged;
        self.json_bytes += other.json_bytes;
        self.plain_bytes += other.plain_bytes;
        self.gz_bytes += other.gz_bytes;
        self.gz_json_bytes += other.gz_json_bytes;
        self.first = match (self.first, other.first) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.last = self.last.max(other.last);
        self.finish();
    }

    fn finish(&mut self) {
        self.ratio = (self.gz_bytes > 0)
            .then(|| (self.gz_json_bytes as f64 / self.gz_bytes as f64 * 100.0).round() / 100.0);
    }
}

struct Count<'a> {
    stats: &'a mut DayStats,
    gz_path: std::path::PathBuf,
}

impl Sink for Count<'_> {
    fn line(&mut self, line: &[u8], loc: Loc<'_>) -> ControlFlow<()> {
        let bytes = line.len() as u64 + 1;
        self.stats.json_bytes += bytes;
        if loc.path == self.gz_path {
            self.stats.gz_json_bytes += bytes;
        }
        match LiteRecord::parse(line).map(|r| r.timestamp).or_else(|| {
            actlog_core::record::Record::parse_line(line)
                .ok()
                .map(|r| r.timestamp)
        }) {
            Some(t) => {
                self.stats.records += 1;
                self.stats.first = Some(self.stats.first.map_or(t, |f| f.min(t)));
                self.stats.last = Some(self.stats.last.map_or(t, |l| l.max(t)));
            }
            None => self.stats.damaged += 1,
        }
        ControlFlow::Continue(())
    }

    fn damage(&mut self, _: Damage) {
        self.stats.damaged += 1;
    }
}

/// Reads every day of `dir`, days in parallel as the thread policy allows.
pub fn stats(dir: &Path) -> Result<Stats> {
    stats_with(dir, &NoProgress)
}

/// [`stats`], telling `progress` of each day done (from whichever thread read it).
pub fn stats_with(dir: &Path, progress: &dyn Progress) -> Result<Stats> {
    let days: Vec<NaiveDate> = list_days(dir)?.into_keys().collect();
    progress.begin("counting", days.len() as u64);
    let day_stats = |day: NaiveDate| {
        let r = day_stats(dir, day);
        progress.step();
        r
    };
    let workers = actlog_core::threads::threads()?.min(days.len());
    let per_day: Vec<Result<DayStats>> = if workers <= 1 {
        days.iter().map(|&day| day_stats(day)).collect()
    } else {
        let next = std::sync::atomic::AtomicUsize::new(0);
        let mut done: Vec<(usize, Result<DayStats>)> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..workers)
                .map(|_| {
                    s.spawn(|| {
                        let mut mine = Vec::new();
                        loop {
                            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let Some(&day) = days.get(i) else {
                                return mine;
                            };
                            mine.push((i, day_stats(day)));
                        }
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        });
        done.sort_by_key(|(i, _)| *i);
        done.into_iter().map(|(_, r)| r).collect()
    };
    progress.end();
    let mut stats = Stats::default();
    for day in per_day {
        let day = day?;
        stats.total.add(&day);
        stats.days.push(day);
    }
    Ok(stats)
}

fn day_stats(dir: &Path, day: NaiveDate) -> Result<DayStats> {
    let size =
        |kind| std::fs::symlink_metadata(dir.join(file_name(day, kind))).map_or(0, |m| m.len());
    let mut stats = DayStats {
        day: Some(day),
        plain_bytes: size(FileKind::Plain),
        gz_bytes: size(FileKind::Gzip),
        ..Default::default()
    };
    let gz_path = dir.join(file_name(day, FileKind::Gzip));
    let _ = scan_day(
        dir,
        day,
        false,
        &mut Count {
            stats: &mut stats,
            gz_path,
        },
    )?;
    stats.finish();
    Ok(stats)
}
