//! Group commit for `fsync` durability: while one thread writes and syncs, others queue;
//! the next leader writes everything queued under one lock and covers it with one fsync.

use super::days::{OpenDays, partial};
use super::encode::Run;
use actlog_core::error::{Error, Result};
use std::collections::HashMap;
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Upper bound on how long a new leader waits for the previous group's callers to queue
/// again; the actual wait is at most half the last sync, so it never dominates.
const MAX_GATHER: Duration = Duration::from_millis(2);

/// The queue of appends waiting for a sync, and the results handed back.
#[derive(Debug, Default)]
pub(crate) struct GroupCommit {
    state: Mutex<State>,
    /// Signalled when a group's results are in.
    done: Condvar,
    /// Signalled when a caller queues, for a leader gathering its group.
    arrived: Condvar,
}

#[derive(Debug, Default)]
struct State {
    queue: Vec<Waiting>,
    leader_active: bool,
    next_ticket: u64,
    results: HashMap<u64, Result<()>>,
    /// How long the last group's write + fsync took.
    last_sync: Duration,
}

#[derive(Debug)]
struct Waiting {
    ticket: u64,
    runs: Vec<Run>,
    total: usize,
}

impl GroupCommit {
    /// Writes and fsyncs `runs` (one caller's batch of `total` records), possibly together
    /// with other threads' batches, and returns once they are on disk or have failed.
    pub(crate) fn commit(&self, days: &OpenDays, runs: Vec<Run>, total: usize) -> Result<()> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        state.queue.push(Waiting {
            ticket,
            runs,
            total,
        });
        self.arrived.notify_one();
        loop {
            if let Some(result) = state.results.remove(&ticket) {
                return result;
            }
            if state.leader_active {
                state = self
                    .done
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            state.leader_active = true;
            state = self.gather(state);
            let group = std::mem::take(&mut state.queue);
            drop(state);
            let started = Instant::now();
            let results = write_group(days, group);
            let took = started.elapsed();
            state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            state.results.extend(results);
            state.last_sync = took;
            state.leader_active = false;
            self.done.notify_all();
        }
    }
}

impl GroupCommit {
    /// Waits briefly for the callers of the previous group to queue again.
    ///
    /// Without this, threads split into two cohorts that take turns: one syncs while the
    /// other queues, halving the group size. Callers whose results are still waiting to be
    /// picked up are about to return and, under load, to append again; the leader waits
    /// for that many arrivals, at most half the last sync. A lone thread has no such
    /// callers and never waits.
    fn gather<'a>(
        &self,
        state: std::sync::MutexGuard<'a, State>,
    ) -> std::sync::MutexGuard<'a, State> {
        let expected = state.queue.len() + state.results.len();
        if expected <= state.queue.len() {
            return state;
        }
        let wait = (state.last_sync / 2).min(MAX_GATHER);
        self.arrived
            .wait_timeout_while(state, wait, |s| s.queue.len() < expected)
            .unwrap_or_else(PoisonError::into_inner)
            .0
    }
}

/// Writes a group, merging adjacent runs of the same day into one locked write + fsync.
/// Stops at the first failure; each caller learns how much of its own batch (a prefix)
/// was written.
fn write_group(days: &OpenDays, group: Vec<Waiting>) -> Vec<(u64, Result<()>)> {
    // Merged runs, each with the (caller index, record count) it holds.
    let mut merged: Vec<(Run, Vec<(usize, usize)>)> = Vec::new();
    let totals: Vec<(u64, usize)> = group.iter().map(|w| (w.ticket, w.total)).collect();
    for (caller, waiting) in group.into_iter().enumerate() {
        for run in waiting.runs {
            let count = run.count;
            let leftover = match merged.last_mut() {
                Some((last, _)) => last.absorb(run),
                None => Some(run),
            };
            match leftover {
                Some(run) => merged.push((run, vec![(caller, count)])),
                None => {
                    if let Some((_, members)) = merged.last_mut() {
                        members.push((caller, count));
                    }
                }
            }
        }
    }
    let mut written = vec![0usize; totals.len()];
    let mut failure: Option<Error> = None;
    for (run, members) in &merged {
        if let Err((_, e)) = days.write_runs(std::slice::from_ref(run), true) {
            failure = Some(e);
            break;
        }
        for &(caller, count) in members {
            written[caller] += count;
        }
    }
    totals
        .into_iter()
        .zip(written)
        .map(|((ticket, total), written)| {
            let result = match &failure {
                Some(e) if written < total => Err(partial(written, total, e.duplicate())),
                _ => Ok(()),
            };
            (ticket, result)
        })
        .collect()
}
