//! Progress of a long run (verify, stats, maintain), reported to whoever drives it: the
//! libraries only count; the binary decides whether and how to draw a bar, so no library
//! depends on a terminal crate.

/// Receives the progress of a run. Shared by `&self` across the threads a run may use,
/// hence `Sync`; every method does nothing by default.
pub trait Progress: Sync {
    /// A run of `total` steps (days) begins; `what` names it ("verifying", "stats").
    fn begin(&self, what: &str, total: u64) {
        let _ = (what, total);
    }
    /// Work on the step named `label` (a day, "compressing 2026-11-24") starts.
    fn working(&self, label: &str) {
        let _ = label;
    }
    /// One more step is done.
    fn step(&self) {}
    /// The run is over: a bar must be gone before the report is printed.
    fn end(&self) {}
}

/// Reports nothing: what the libraries' plain entry points pass.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {}
