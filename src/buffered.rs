//! `buffered` durability: appends go into a bounded queue; a background thread writes
//! them in large batches at least every flush interval, on `flush`, and on close.

use crate::error::{Error, Result};
use crate::writer::{Run, Shared};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Queued bytes that trigger a write before the interval is up.
const WRITE_AT_BYTES: usize = 1 << 20;

enum Msg {
    Runs(Vec<Run>),
    Flush(mpsc::Sender<Result<()>>),
}

/// The handle to the background writer thread.
#[derive(Debug)]
pub(crate) struct Background {
    tx: Option<SyncSender<Msg>>,
    thread: Option<JoinHandle<()>>,
    health: Arc<Health>,
}

/// What the thread tells the appenders.
#[derive(Debug, Default)]
struct Health {
    /// Set while queued records cannot be written; appends are refused meanwhile, so a
    /// failing disk pushes back on callers instead of growing memory or dropping records.
    failing: AtomicBool,
    last_error: Mutex<Option<Error>>,
    /// Records that could not be written before shutdown, and why.
    lost: Mutex<Option<(usize, Error)>>,
}

impl Health {
    fn error(&self) -> Error {
        match &*self.last_error.lock().unwrap_or_else(PoisonError::into_inner) {
            Some(e) => e.duplicate(),
            None => Error::Closed,
        }
    }
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Msg::Runs(runs) => write!(f, "Runs({})", runs.len()),
            Msg::Flush(_) => write!(f, "Flush"),
        }
    }
}

impl Background {
    /// Starts the thread; at most `capacity` appends wait in the queue.
    pub(crate) fn start(shared: Arc<Shared>, capacity: usize, interval: Duration) -> Background {
        let (tx, rx) = mpsc::sync_channel(capacity.max(1));
        let health = Arc::new(Health::default());
        let thread_health = Arc::clone(&health);
        let thread = std::thread::Builder::new()
            .name("actlog-buffered".into())
            .spawn(move || run(&shared, &rx, &thread_health, interval));
        match thread {
            Ok(thread) => Background {
                tx: Some(tx),
                thread: Some(thread),
                health,
            },
            // No thread, no sender: every append reports `Closed` instead of queueing.
            Err(_) => Background {
                tx: None,
                thread: None,
                health,
            },
        }
    }

    /// Queues runs, blocking while the queue is full.
    pub(crate) fn send(&self, runs: Vec<Run>) -> Result<()> {
        if self.health.failing.load(Ordering::Acquire) {
            return Err(self.health.error());
        }
        let tx = self.tx.as_ref().ok_or(Error::Closed)?;
        tx.send(Msg::Runs(runs)).map_err(|_| Error::Closed)
    }

    /// Writes everything queued before this call.
    pub(crate) fn flush(&self) -> Result<()> {
        let tx = self.tx.as_ref().ok_or(Error::Closed)?;
        let (reply, answer) = mpsc::channel();
        tx.send(Msg::Flush(reply)).map_err(|_| Error::Closed)?;
        answer.recv().map_err(|_| Error::Closed)?
    }

    /// Stops the thread after it wrote what it could; reports what it could not.
    pub(crate) fn close(mut self) -> Result<()> {
        self.stop();
        match self
            .health
            .lost
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            Some((count, source)) => Err(Error::Lost {
                count,
                source: Box::new(source),
            }),
            None => Ok(()),
        }
    }

    fn stop(&mut self) {
        // Closing the channel tells the thread to write what is left and exit.
        drop(self.tx.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.stop();
        let lost = self
            .health
            .lost
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some((count, e)) = lost {
            // A library should not print, but losing accepted records silently is worse;
            // call `Writer::close` to receive this as an error instead.
            eprintln!("actlog: {count} buffered records could not be written: {e}");
        }
    }
}

fn run(shared: &Shared, rx: &mpsc::Receiver<Msg>, health: &Health, interval: Duration) {
    let mut queue = Queue::default();
    let mut deadline = Instant::now() + interval;
    loop {
        let wait = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(wait) {
            Ok(Msg::Runs(runs)) => {
                queue.push(runs);
                if queue.bytes >= WRITE_AT_BYTES {
                    let _ = queue.write(shared, health);
                }
            }
            Ok(Msg::Flush(reply)) => {
                let _ = reply.send(queue.write(shared, health));
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                if let Err(e) = queue.write(shared, health) {
                    *health.lost.lock().unwrap_or_else(PoisonError::into_inner) =
                        Some((queue.records(), e));
                }
                return;
            }
        }
        // Checked after every message too: a steady stream never times out.
        if Instant::now() >= deadline {
            let _ = queue.write(shared, health);
            deadline = Instant::now() + interval;
        }
    }
}

/// Records accepted but not yet written, as per-day runs in arrival order.
#[derive(Default)]
struct Queue {
    runs: Vec<Run>,
    bytes: usize,
}

impl Queue {
    fn push(&mut self, runs: Vec<Run>) {
        for run in runs {
            self.bytes += run.bytes.len();
            let leftover = match self.runs.last_mut() {
                Some(last) => last.absorb(run),
                None => Some(run),
            };
            if let Some(run) = leftover {
                self.runs.push(run);
            }
        }
    }

    fn records(&self) -> usize {
        self.runs.iter().map(|r| r.count).sum()
    }

    /// Writes the queue in order. What fails stays queued (from the failed run on) and is
    /// retried at the next write; until then appends are refused.
    fn write(&mut self, shared: &Shared, health: &Health) -> Result<()> {
        let mut done = 0;
        let mut result = Ok(());
        for run in &self.runs {
            if let Err((_, e)) = shared.write_runs(std::slice::from_ref(run), false) {
                result = Err(e);
                break;
            }
            done += 1;
        }
        for run in self.runs.drain(..done) {
            self.bytes -= run.bytes.len();
        }
        match result {
            Ok(()) => {
                health.failing.store(false, Ordering::Release);
                Ok(())
            }
            Err(e) => {
                *health
                    .last_error
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = Some(e.duplicate());
                health.failing.store(true, Ordering::Release);
                Err(e)
            }
        }
    }
}
