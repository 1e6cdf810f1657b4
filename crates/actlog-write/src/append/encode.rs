//! Turning a batch of activities into lines: validation, the future-skew check, ids and
//! timestamps from the injected clock, and one run of encoded lines per UTC day.

use actlog_core::clock::Clock;
use actlog_core::error::{Error, Result, ValidationError};
use actlog_core::record::{Activity, format_timestamp};
use chrono::{DateTime, NaiveDate, SubsecRound, TimeDelta, Utc};
use std::sync::{Arc, Mutex, PoisonError};
use uuid::{ContextV7, Timestamp, Uuid};

/// What the writer assigned to an appended record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// The record's id.
    pub id: Uuid,
    /// The record's timestamp, as stored (UTC, milliseconds).
    pub timestamp: DateTime<Utc>,
}

/// Encoded records of one day, in batch order, each line ending in `\n`.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) day: NaiveDate,
    pub(crate) bytes: Vec<u8>,
    pub(crate) count: usize,
}

impl Run {
    /// Adds `other` to this run if it is for the same day; otherwise hands it back.
    pub(crate) fn absorb(&mut self, other: Run) -> Option<Run> {
        if other.day == self.day {
            self.bytes.extend_from_slice(&other.bytes);
            self.count += other.count;
            None
        } else {
            Some(other)
        }
    }
}

/// The rules a writer encodes by, and the id generator that keeps its ids increasing.
#[derive(Debug)]
pub(crate) struct Encoder {
    max_line_bytes: usize,
    /// `None` when the configured skew is too large to add to a time: no limit.
    max_future_skew: Option<TimeDelta>,
    clock: Arc<dyn Clock>,
    ids: Mutex<ContextV7>,
}

impl Encoder {
    pub(crate) fn new(
        max_line_bytes: usize,
        max_future_skew: std::time::Duration,
        clock: Arc<dyn Clock>,
    ) -> Encoder {
        Encoder {
            max_line_bytes,
            max_future_skew: TimeDelta::from_std(max_future_skew).ok(),
            clock,
            ids: Mutex::new(ContextV7::new()),
        }
    }

    /// The writer's clock, read once per batch.
    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Validates, stamps and encodes a batch into per-day runs, in batch order, handing
    /// each record's stamp to `stamped`. One bad record refuses the whole batch
    /// ([`Error::InvalidAt`]).
    pub(crate) fn encode(
        &self,
        batch: &[Activity],
        now: DateTime<Utc>,
        mut stamped: impl FnMut(Stamp),
    ) -> Result<Vec<Run>> {
        let mut runs: Vec<Run> = Vec::with_capacity(1);
        for (index, activity) in batch.iter().enumerate() {
            let stamp = self
                .encode_into(activity, now, batch.len() - index, &mut runs)
                .map_err(|e| Error::InvalidAt {
                    index,
                    source: Box::new(e),
                })?;
            stamped(stamp);
        }
        Ok(runs)
    }

    /// Validates, stamps and encodes one record onto the run of its day in `runs`.
    pub(crate) fn encode_one(
        &self,
        activity: &Activity,
        now: DateTime<Utc>,
        runs: &mut Vec<Run>,
    ) -> Result<Stamp> {
        self.encode_into(activity, now, 1, runs)
    }

    /// Encodes `activity` onto the last run of `runs` (a new one when its day differs);
    /// `remaining` records, this one included, are still to come, to size a new run.
    fn encode_into(
        &self,
        activity: &Activity,
        now: DateTime<Utc>,
        remaining: usize,
        runs: &mut Vec<Run>,
    ) -> Result<Stamp> {
        activity.validate()?;
        let id = activity.id.unwrap_or_else(|| self.new_id(now));
        let timestamp = activity.timestamp.unwrap_or(now).trunc_subsecs(3);
        if let Some(skew) = self.max_future_skew
            && let Some(latest) = now.checked_add_signed(skew)
            && timestamp > latest
        {
            return Err(too_far_ahead(timestamp, now, skew).into());
        }
        let day = timestamp.naive_utc().date();
        let run = match runs.last_mut() {
            Some(run) if run.day == day => run,
            _ => {
                runs.push(Run {
                    day,
                    // About one typical line per remaining record, to spare regrowth.
                    bytes: Vec::with_capacity(384 * remaining),
                    count: 0,
                });
                let last = runs.len() - 1;
                &mut runs[last]
            }
        };
        let start = run.bytes.len();
        activity.write_json(id, timestamp, &mut run.bytes);
        let len = run.bytes.len() - start;
        if len > self.max_line_bytes {
            run.bytes.truncate(start);
            return Err(Error::LineTooLong {
                len,
                max: self.max_line_bytes,
            });
        }
        run.bytes.push(b'\n');
        run.count += 1;
        Ok(Stamp { id, timestamp })
    }

    /// A UUIDv7 from the injected clock; the shared context keeps ids from one writer
    /// strictly increasing even within a millisecond.
    fn new_id(&self, now: DateTime<Utc>) -> Uuid {
        let ctx = self.ids.lock().unwrap_or_else(PoisonError::into_inner);
        let secs = u64::try_from(now.timestamp()).unwrap_or(0);
        Uuid::new_v7(Timestamp::from_unix(
            &*ctx,
            secs,
            now.timestamp_subsec_nanos(),
        ))
    }
}

/// The refusal of a timestamp more than `skew` ahead of the writer's clock `now`.
fn too_far_ahead(timestamp: DateTime<Utc>, now: DateTime<Utc>, skew: TimeDelta) -> ValidationError {
    ValidationError::new(
        "timestamp",
        format!(
            "{} is more than {} ahead of this writer's clock ({}); refusing a record from the future (max_future_skew, --max-future-skew)",
            format_timestamp(timestamp),
            skew_text(skew),
            format_timestamp(now),
        ),
    )
}

/// `1d`, `2h`, `30m`, `45s` or `0`, as the skew was most likely given.
fn skew_text(skew: TimeDelta) -> String {
    let secs = skew.num_seconds();
    let ms = skew.num_milliseconds();
    match secs {
        _ if ms % 1000 != 0 => format!("{ms}ms"),
        0 => "0s".to_owned(),
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}
