//! A deterministic dataset for benchmarks and demos: N gzipped days of M records each,
//! written the way maintenance writes a finished day (gzip members of about 1 MiB of
//! JSON each), from a fixed seed so every run produces the same bytes.

use crate::dayfile::FILE_MODE;
use crate::error::{Error, Result};
use crate::layout::{FileKind, file_name};
use crate::record::Activity;
use crate::store::{Options, Store};
use chrono::{Duration, NaiveDate};
use std::fs::{OpenOptions, Permissions};
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

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

/// Writes `days` gzipped days of `per_day` records from `start` into `dir`, two days at a
/// time. Users are `user000`…`user499`; `user042` is one of them, for benchmarks.
pub fn generate(dir: &Path, start: NaiveDate, days: u32, per_day: u32) -> Result<u64> {
    // Day file names carry a four-digit year, as records do.
    let last = start.checked_add_signed(Duration::days(i64::from(days.max(1)) - 1));
    if last.is_none_or(|d| chrono::Datelike::year(&d) > 9999) {
        let problem = format!("{days} days from {start} go past the last date a day file can name");
        return Err(crate::error::ValidationError::new("--days", problem).into());
    }
    Store::open(dir, Options::default())?;
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
                        let bytes = write_day(dir, day, per_day, u64::from(d))?;
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

/// One day; returns its JSON size.
fn write_day(dir: &Path, day: NaiveDate, per_day: u32, seed: u64) -> Result<u64> {
    let mut rng = fastrand::Rng::with_seed(0x5eed_0000 + seed);
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
    let mut out = std::io::BufWriter::new(file);
    let midnight = day.and_time(chrono::NaiveTime::MIN).and_utc();
    let step_ms = 86_400_000 / i64::from(per_day.max(1));
    let mut member = Vec::with_capacity(MEMBER_BYTES + 4096);
    let mut json = 0u64;
    for i in 0..per_day {
        let at =
            midnight + Duration::milliseconds(i64::from(i) * step_ms + rng.i64(0..step_ms.max(1)));
        let mut random = [0u8; 10];
        rng.fill(&mut random);
        let id = uuid::Builder::from_unix_timestamp_millis(at.timestamp_millis() as u64, &random)
            .into_uuid();
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
        .with_details(serde_json::json!({
            "reportId": format!("r-{:06}", rng.u32(0..1_000_000)),
            "durationMs": rng.u32(1..5000),
            "property": format!("properties/{}", rng.u32(100_000..100_050)),
        }))?
        .with_ip(ip)
        .with_user_agent(AGENTS[rng.usize(0..AGENTS.len())]);
        activity.write_json(id, at, &mut member);
        member.push(b'\n');
        if member.len() >= MEMBER_BYTES {
            json += flush_member(&mut out, &mut member, &tmp)?;
        }
    }
    json += flush_member(&mut out, &mut member, &tmp)?;
    let file = out
        .into_inner()
        .map_err(|e| Error::io(&tmp, "write", e.into_error()))?;
    file.sync_all().map_err(|e| Error::io(&tmp, "fsync", e))?;
    std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, "rename", e))?;
    Ok(json)
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
