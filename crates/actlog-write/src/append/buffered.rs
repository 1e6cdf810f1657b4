//! `buffered` durability: appends go into a bounded in-memory queue; a background thread
//! takes the whole queue and writes it at least every flush interval, when it grows large,
//! on `flush`, and on close.
//!
//! The queue is a mutex-guarded list of per-day runs that the thread swaps out in one go,
//! so an append costs a short critical section, not a message per record, and the caller
//! serializes on one core while the thread writes on another.

use super::days::OpenDays;
use super::encode::Run;
use actlog_core::error::{Error, Result};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Queued bytes that wake the thread before the interval is up.
const WRITE_AT_BYTES: usize = 1 << 20;

/// The handle to the background writer thread.
#[derive(Debug)]
pub(crate) struct Background {
    inner: Arc<Inner>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Debug)]
struct Inner {
    state: Mutex<State>,
    /// Tells the thread there is work: a large queue, a flush request, or closing.
    wake: Condvar,
    /// Tells callers that the queue shrank or a flush finished.
    drained: Condvar,
    capacity_bytes: usize,
    interval: Duration,
}

#[derive(Debug, Default)]
struct State {
    queue: Vec<Run>,
    queued_bytes: usize,
    /// Set while queued records cannot be written. Appends are refused meanwhile, so a
    /// failing disk pushes back on callers instead of growing memory or dropping records.
    failing: Option<Error>,
    flush_requested: u64,
    flushed: u64,
    closing: bool,
    /// False once the thread has exited (or could not start).
    alive: bool,
    /// Records that could not be written before shutdown, and why.
    lost: Option<(usize, Error)>,
}

impl Inner {
    /// Queued bytes that wake the thread early: a large batch, or a full queue.
    fn write_at(&self) -> usize {
        WRITE_AT_BYTES.min(self.capacity_bytes)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Background {
    /// Starts the thread; appends block while `capacity_bytes` are queued.
    pub(crate) fn start(
        days: Arc<OpenDays>,
        capacity_bytes: usize,
        interval: Duration,
    ) -> Background {
        let inner = Arc::new(Inner {
            state: Mutex::new(State {
                alive: true,
                ..State::default()
            }),
            wake: Condvar::new(),
            drained: Condvar::new(),
            capacity_bytes: capacity_bytes.max(1),
            interval,
        });
        let for_thread = Arc::clone(&inner);
        let thread = std::thread::Builder::new()
            .name("actlog-buffered".into())
            .spawn(move || {
                let _exit = ExitGuard(&for_thread);
                run(&days, &for_thread);
            });
        let thread = match thread {
            Ok(t) => Some(t),
            Err(_) => {
                // Every append then reports `Closed` instead of queueing.
                inner.lock().alive = false;
                None
            }
        };
        Background { inner, thread }
    }

    /// Queues runs, blocking while the queue is full.
    pub(crate) fn send(&self, runs: Vec<Run>) -> Result<()> {
        let mut state = self.inner.lock();
        loop {
            if let Some(e) = &state.failing {
                return Err(e.duplicate());
            }
            if !state.alive || state.closing {
                return Err(Error::Closed);
            }
            if state.queued_bytes < self.inner.capacity_bytes {
                break;
            }
            self.inner.wake.notify_one();
            state = self
                .inner
                .drained
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        for run in runs {
            state.queued_bytes += run.bytes.len();
            let leftover = match state.queue.last_mut() {
                Some(last) => last.absorb(run),
                None => Some(run),
            };
            if let Some(run) = leftover {
                state.queue.push(run);
            }
        }
        if state.queued_bytes >= self.inner.write_at() {
            self.inner.wake.notify_one();
        }
        Ok(())
    }

    /// Writes everything queued before this call.
    pub(crate) fn flush(&self) -> Result<()> {
        let mut state = self.inner.lock();
        if !state.alive {
            return Err(Error::Closed);
        }
        state.flush_requested += 1;
        let wanted = state.flush_requested;
        self.inner.wake.notify_one();
        while state.flushed < wanted && state.alive {
            state = self
                .inner
                .drained
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        match &state.failing {
            Some(e) => Err(e.duplicate()),
            None if state.flushed < wanted => Err(Error::Closed),
            None => Ok(()),
        }
    }

    /// Stops the thread after it wrote what it could; reports what it could not.
    pub(crate) fn close(mut self) -> Result<()> {
        match self.stop() {
            Some((count, source)) => Err(Error::Lost {
                count,
                source: Box::new(source),
            }),
            None => Ok(()),
        }
    }

    fn stop(&mut self) -> Option<(usize, Error)> {
        self.inner.lock().closing = true;
        self.inner.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.inner.lock().lost.take()
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some((count, e)) = self.stop() {
            // A library should not print, but losing accepted records silently is worse;
            // call `Writer::close` to receive this as an error instead.
            let records = if count == 1 { "record" } else { "records" };
            eprintln!("actlog: {count} buffered {records} could not be written: {e}");
        }
    }
}

/// Marks the thread gone however it ends, so no caller waits for it forever.
struct ExitGuard<'a>(&'a Inner);

impl Drop for ExitGuard<'_> {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.alive = false;
        if state.lost.is_none() && !state.queue.is_empty() {
            let count = state.queue.iter().map(|r| r.count).sum();
            let why = state.failing.take().unwrap_or(Error::Closed);
            state.lost = Some((count, why));
        }
        self.0.drained.notify_all();
    }
}

fn run(days: &OpenDays, inner: &Inner) {
    let mut deadline = Instant::now() + inner.interval;
    let mut state = inner.lock();
    loop {
        // Sleep until there is a reason to write. While writes fail, only the interval,
        // a flush or closing retries them, so a full disk is not hammered.
        let write_at = inner.write_at();
        state = inner
            .wake
            .wait_timeout_while(
                state,
                deadline.saturating_duration_since(Instant::now()),
                |s| {
                    let large = s.queued_bytes >= write_at && s.failing.is_none();
                    !(s.closing || s.flush_requested > s.flushed || large)
                },
            )
            .unwrap_or_else(PoisonError::into_inner)
            .0;
        let generation = state.flush_requested;
        let closing = state.closing;
        let runs = std::mem::take(&mut state.queue);
        state.queued_bytes = 0;
        drop(state);

        let (written, error) = write_in_order(days, &runs);

        state = inner.lock();
        match error {
            None => state.failing = None,
            Some(e) => {
                // Put the unwritten runs back in front of anything queued meanwhile.
                let mut unwritten: Vec<Run> = runs.into_iter().skip(written).collect();
                state.queued_bytes += unwritten.iter().map(|r| r.bytes.len()).sum::<usize>();
                unwritten.append(&mut state.queue);
                state.queue = unwritten;
                state.failing = Some(e);
            }
        }
        state.flushed = generation;
        inner.drained.notify_all();
        if Instant::now() >= deadline {
            deadline = Instant::now() + inner.interval;
        }
        if closing && (state.queue.is_empty() || state.failing.is_some()) {
            if let Some(e) = state.failing.take() {
                let count = state.queue.iter().map(|r| r.count).sum();
                state.lost = Some((count, e));
            }
            return;
        }
    }
}

/// Writes runs in order; returns how many were written and the error that stopped it.
fn write_in_order(days: &OpenDays, runs: &[Run]) -> (usize, Option<Error>) {
    for (i, run) in runs.iter().enumerate() {
        if let Err((_, e)) = days.write_runs(std::slice::from_ref(run), false) {
            return (i, Some(e));
        }
    }
    (runs.len(), None)
}
