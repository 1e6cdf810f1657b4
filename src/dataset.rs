//! A deterministic dataset for benchmarks and demos: N gzipped days of M records each,
//! written the way maintenance writes a finished day (gzip members of about 1 MiB of
//! JSON each, with summaries), from a fixed seed so every run produces the same bytes.
//! Two shapes: uniform (every user everywhere, the worst case for an index) and realistic
//! (few heavy users, many rare ones, in sessions), see [`Shape`].

use crate::dayfile::FILE_MODE;
use crate::error::{Error, Result};
use crate::layout::{FileKind, file_name};
use crate::record::Activity;
use crate::store::{Options, Store};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use std::fs::{OpenOptions, Permissions};
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// JSON bytes per gzip member: what maintenance writes, so the data reads as a real store.
use crate::maintain::MEMBER_BYTES;

const ACTIONS: [&str; 12] = [
    "report.view",
    "report.export",
    "report.share",
    "dashboard.view",
    "dashboard.edit",
    "auth.login",
    "auth.logout",
    "auth.refresh",
    "settings.update",
    "property.create",
    "property.delete",
    "chat.message",
];
const AGENTS: [&str; 4] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_2) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "okhttp/4.12.0",
];

/// What the records of a `--days` dataset look like.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Shape {
    /// 500 users `user000`…`user499` picked uniformly, so every user is in every member:
    /// the case no per-member index can help.
    #[default]
    Uniform,
    /// 20,000 users `u00000`…`u19999` with Zipf-like activity (rank r weighs 1/r^1.1), in
    /// sessions of 3–30 actions a few minutes long from one address and user agent.
    Realistic,
}

/// Users in a [`Shape::Realistic`] dataset; user rank r (from 1) is `u{r-1:05}`.
pub const REALISTIC_USERS: usize = 20_000;
/// The most active user of a realistic dataset (rank 1, about 15% of all records).
pub const HEAVY_USER: &str = "u00000";
/// A rare user of a realistic dataset: in about 1.5% of the members of 200,000-record
/// days (one or two sessions a day), so an index on users should skip nearly all members.
pub const RARE_USER: &str = "u01199";

/// Zipf exponent of user and action popularity.
const ZIPF_S: f64 = 1.1;
/// A session's actions are this far apart at most, so a whole session spans minutes.
const MAX_GAP_MS: i64 = 15_000;
const MAX_SESSION: u32 = 30;
const DAY_MS: i64 = 86_400_000;

/// Actions after a session's `auth.login`, most popular first (weighted by Zipf rank).
const SESSION_ACTIONS: [&str; 20] = [
    "report.view",
    "dashboard.view",
    "report.export",
    "search.query",
    "report.filter",
    "dashboard.edit",
    "auth.refresh",
    "report.share",
    "chat.message",
    "notification.read",
    "settings.view",
    "property.view",
    "file.download",
    "file.upload",
    "settings.update",
    "comment.create",
    "property.create",
    "user.invite",
    "report.delete",
    "property.delete",
];
/// The uniform agents plus mobile ones; each user mostly keeps one.
const REAL_AGENTS: [&str; 6] = [
    AGENTS[0],
    AGENTS[1],
    AGENTS[2],
    AGENTS[3],
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Mobile Safari/537.36",
];
/// Relative activity per UTC hour: sessions cluster in working hours.
const HOUR_WEIGHTS: [f64; 24] = [
    1.0, 1.0, 1.0, 1.0, 1.0, 2.0, 3.0, 5.0, 8.0, 10.0, 10.0, 10.0, 9.0, 10.0, 10.0, 10.0, 9.0, 7.0,
    5.0, 4.0, 3.0, 2.0, 2.0, 1.0,
];

/// A user's own addresses (1–3) and usual user agent.
struct Home {
    ips: [IpAddr; 3],
    n: usize,
    agent: usize,
}

/// The tables every realistic day draws from, built once from a fixed seed.
struct Model {
    users: Vec<f64>,
    actions: Vec<f64>,
    hours: Vec<f64>,
    homes: Vec<Home>,
}

/// Cumulative weights of `weights`, for [`pick`].
fn cumulative(weights: impl Iterator<Item = f64>) -> Vec<f64> {
    weights
        .scan(0.0, |sum, w| {
            *sum += w;
            Some(*sum)
        })
        .collect()
}

fn zipf(n: usize) -> Vec<f64> {
    cumulative((1..=n).map(|r| (r as f64).powf(-ZIPF_S)))
}

/// An index drawn with the weights behind cumulative `table` (binary search).
fn pick(table: &[f64], rng: &mut fastrand::Rng) -> usize {
    let total = table.last().copied().unwrap_or(0.0);
    let x = rng.f64() * total;
    table
        .partition_point(|&c| c <= x)
        .min(table.len().saturating_sub(1))
}

impl Model {
    fn new() -> Model {
        let mut rng = fastrand::Rng::with_seed(0x0a11_ce00);
        let homes = (0..REALISTIC_USERS)
            .map(|_| {
                let mut ip = || match rng.u8(0..5) {
                    // Addresses of one's own: private IPv4 or documentation IPv6, so two
                    // users rarely share one.
                    0..3 => IpAddr::V4(Ipv4Addr::new(10, rng.u8(..), rng.u8(..), rng.u8(1..255))),
                    _ => IpAddr::V6(Ipv6Addr::new(
                        0x2001,
                        0xdb8,
                        rng.u16(..),
                        rng.u16(..),
                        0,
                        0,
                        0,
                        rng.u16(1..0xffff),
                    )),
                };
                let ips = [ip(), ip(), ip()];
                Home {
                    ips,
                    n: rng.usize(1..=3),
                    agent: rng.usize(0..REAL_AGENTS.len()),
                }
            })
            .collect();
        Model {
            users: zipf(REALISTIC_USERS),
            actions: zipf(SESSION_ACTIONS.len()),
            hours: cumulative(HOUR_WEIGHTS.into_iter()),
            homes,
        }
    }
}

/// Writes `days` gzipped days of `per_day` records from `start` into `dir`, two days at a
/// time, shaped by `shape`; returns the JSON size.
pub fn generate(
    dir: &Path,
    start: NaiveDate,
    days: u32,
    per_day: u32,
    shape: Shape,
) -> Result<u64> {
    // Day file names carry a four-digit year, as records do.
    let last = start.checked_add_signed(Duration::days(i64::from(days.max(1)) - 1));
    if last.is_none_or(|d| chrono::Datelike::year(&d) > 9999) {
        let problem = format!("{days} days from {start} go past the last date a day file can name");
        return Err(crate::error::ValidationError::new("--days", problem).into());
    }
    Store::open(dir, Options::default())?;
    let model = (shape == Shape::Realistic).then(Model::new);
    let next = std::sync::atomic::AtomicU32::new(0);
    let total = std::sync::atomic::AtomicU64::new(0);
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| -> Result<()> {
                    loop {
                        let d = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if d >= days {
                            return Ok(());
                        }
                        let Some(day) = start.checked_add_signed(Duration::days(i64::from(d)))
                        else {
                            return Ok(());
                        };
                        let bytes = match &model {
                            None => write_day(dir, day, per_day, u64::from(d))?,
                            Some(m) => write_realistic_day(dir, day, per_day, u64::from(d), m)?,
                        };
                        total.fetch_add(bytes, std::sync::atomic::Ordering::Relaxed);
                    }
                })
            })
            .collect();
        workers.into_iter().try_for_each(|w| {
            w.join().unwrap_or(Err(Error::Panicked {
                what: "writing benchmark data",
            }))
        })
    })?;
    Ok(total.into_inner())
}

/// A day file being written: records gathered into members, renamed into place at the end.
struct DayFile {
    out: std::io::BufWriter<std::fs::File>,
    tmp: PathBuf,
    path: PathBuf,
    member: Vec<u8>,
    json: u64,
}

impl DayFile {
    fn create(dir: &Path, day: NaiveDate) -> Result<DayFile> {
        let path = dir.join(file_name(day, FileKind::Gzip));
        let tmp = dir.join(format!(".{}.tmp", file_name(day, FileKind::Gzip)));
        // A leftover of an interrupted run is ours to replace.
        let _ = std::fs::remove_file(&tmp);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(FILE_MODE)
            .custom_flags(crate::dayfile::OPEN_FLAGS)
            .open(&tmp)
            .map_err(|e| Error::io(&tmp, "create", e))?;
        file.set_permissions(Permissions::from_mode(FILE_MODE))
            .map_err(|e| Error::io(&tmp, "chmod", e))?;
        Ok(DayFile {
            out: std::io::BufWriter::new(file),
            tmp,
            path,
            member: Vec::with_capacity(MEMBER_BYTES + 4096),
            json: 0,
        })
    }

    fn push(&mut self, activity: &Activity, id: uuid::Uuid, at: DateTime<Utc>) -> Result<()> {
        activity.write_json(id, at, &mut self.member);
        self.member.push(b'\n');
        if self.member.len() >= MEMBER_BYTES {
            self.json += flush_member(&mut self.out, &mut self.member, &self.tmp)?;
        }
        Ok(())
    }

    /// Writes the last member, syncs and renames; returns the JSON size.
    fn finish(mut self) -> Result<u64> {
        self.json += flush_member(&mut self.out, &mut self.member, &self.tmp)?;
        let tmp = self.tmp;
        let file = self
            .out
            .into_inner()
            .map_err(|e| Error::io(&tmp, "write", e.into_error()))?;
        file.sync_all().map_err(|e| Error::io(&tmp, "fsync", e))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| Error::io(&self.path, "rename", e))?;
        Ok(self.json)
    }
}

/// The details every generated record carries (the same in both shapes).
fn details(rng: &mut fastrand::Rng) -> serde_json::Value {
    serde_json::json!({
        "reportId": format!("r-{:06}", rng.u32(0..1_000_000)),
        "durationMs": rng.u32(1..5000),
        "property": format!("properties/{}", rng.u32(100_000..100_050)),
    })
}

fn uuid_at(at: DateTime<Utc>, rng: &mut fastrand::Rng) -> uuid::Uuid {
    let mut random = [0u8; 10];
    rng.fill(&mut random);
    uuid::Builder::from_unix_timestamp_millis(at.timestamp_millis() as u64, &random).into_uuid()
}

/// One uniform day; returns its JSON size. The order of draws from `rng` fixes the bytes
/// that earlier benchmark results were measured on: keep it.
fn write_day(dir: &Path, day: NaiveDate, per_day: u32, seed: u64) -> Result<u64> {
    let mut rng = fastrand::Rng::with_seed(0x5eed_0000 + seed);
    let mut file = DayFile::create(dir, day)?;
    let midnight = day.and_time(chrono::NaiveTime::MIN).and_utc();
    let step_ms = DAY_MS / i64::from(per_day.max(1));
    for i in 0..per_day {
        let at =
            midnight + Duration::milliseconds(i64::from(i) * step_ms + rng.i64(0..step_ms.max(1)));
        let id = uuid_at(at, &mut rng);
        let ip = match rng.u8(0..3) {
            0 => IpAddr::V4(Ipv4Addr::new(203, 0, 113, rng.u8(1..255))),
            1 => IpAddr::V4(Ipv4Addr::new(198, 51, 100, rng.u8(1..255))),
            _ => IpAddr::V6(Ipv6Addr::new(
                0x2001,
                0xdb8,
                0,
                0,
                0,
                0,
                0,
                rng.u16(1..0xffff),
            )),
        };
        let activity = Activity::new(
            format!("user{:03}", rng.u32(0..500)),
            ACTIONS[rng.usize(0..ACTIONS.len())],
        )
        .with_details(details(&mut rng))?
        .with_ip(ip)
        .with_user_agent(AGENTS[rng.usize(0..AGENTS.len())]);
        file.push(&activity, id, at)?;
    }
    file.finish()
}

/// One user's burst of actions.
struct Session {
    user: usize,
    len: u32,
    ip: IpAddr,
    agent: usize,
}

/// One realistic day: sessions drawn first, their actions then written in time order.
fn write_realistic_day(
    dir: &Path,
    day: NaiveDate,
    per_day: u32,
    seed: u64,
    model: &Model,
) -> Result<u64> {
    let mut rng = fastrand::Rng::with_seed(0x5e55_1000 + seed);
    let mut sessions = Vec::new();
    // (milliseconds into the day, session, step): sorting gives time order, ties broken
    // the same way every run.
    let mut events: Vec<(i64, u32, u32)> = Vec::with_capacity(per_day as usize);
    let mut left = per_day;
    while left > 0 {
        // Short sessions are the common ones; the day's last may be cut below 3.
        let len = (3 + (rng.f64().powi(2) * 28.0) as u32)
            .min(MAX_SESSION)
            .min(left);
        let user = pick(&model.users, &mut rng);
        let home = &model.homes[user];
        let ip = home.ips[rng.usize(0..home.n)];
        let agent = if rng.u8(0..100) < 85 {
            home.agent
        } else {
            rng.usize(0..REAL_AGENTS.len())
        };
        let hour = pick(&model.hours, &mut rng) as i64;
        let mut at = hour * 3_600_000 + rng.i64(0..3_600_000);
        // A session never runs past midnight: its records belong to this day's file.
        let span = i64::from(MAX_SESSION) * MAX_GAP_MS;
        if at > DAY_MS - span {
            at -= span;
        }
        let id = sessions.len() as u32;
        for step in 0..len {
            events.push((at, id, step));
            at += rng.i64(2_000..MAX_GAP_MS);
        }
        sessions.push(Session {
            user,
            len,
            ip,
            agent,
        });
        left -= len;
    }
    events.sort_unstable();
    let mut file = DayFile::create(dir, day)?;
    let midnight = day.and_time(chrono::NaiveTime::MIN).and_utc();
    for (ms, id, step) in events {
        let Some(session) = sessions.get(id as usize) else {
            continue;
        };
        let at = midnight + Duration::milliseconds(ms);
        let action = if step == 0 {
            "auth.login"
        } else if step + 1 == session.len && rng.u8(0..100) < 30 {
            "auth.logout"
        } else {
            SESSION_ACTIONS[pick(&model.actions, &mut rng)]
        };
        let id = uuid_at(at, &mut rng);
        let activity = Activity::new(format!("u{:05}", session.user), action)
            .with_details(details(&mut rng))?
            .with_ip(session.ip)
            .with_user_agent(REAL_AGENTS[session.agent]);
        file.push(&activity, id, at)?;
    }
    file.finish()
}

fn flush_member(out: &mut impl Write, member: &mut Vec<u8>, path: &Path) -> Result<u64> {
    if member.is_empty() {
        return Ok(0);
    }
    let gz = crate::gzmeta::encode_lines(member, flate2::Compression::default(), None)
        .map_err(|e| Error::io(path, "compress", e))?;
    out.write_all(&gz)
        .map_err(|e| Error::io(path, "write", e))?;
    let n = member.len() as u64;
    member.clear();
    Ok(n)
}
