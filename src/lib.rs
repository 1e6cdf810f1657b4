//! actlog: a file-based activity-log store.
//!
//! Records (who did what, when, from where) are appended as JSON Lines to one file per UTC
//! day, `activity-YYYY-MM-DD.json`, in a directory that many processes on many machines
//! share. An exclusive advisory lock per append keeps every line whole; a crashed writer
//! leaves at most one torn line, which readers skip and the next writer steps past.
//!
//! ```
//! use actlog::{Activity, Options, Store};
//! use serde_json::json;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let store = Store::open(dir.path(), Options::default())?;
//! let writer = store.writer();
//! let stamp = writer.append(
//!     &Activity::new("alice", "report.view")
//!         .with_details(json!({"reportId": "r-8812"}))?
//!         .with_ip("203.0.113.7".parse()?),
//! )?;
//! let name = actlog::layout::file_name(stamp.timestamp.date_naive(), actlog::layout::FileKind::Plain);
//! let text = std::fs::read_to_string(dir.path().join(name))?;
//! assert!(text.ends_with("\"details\":{\"reportId\":\"r-8812\"},\"ip_address\":\"203.0.113.7\"}\n"));
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

pub use actlog_core::{clock, error, layout, progress, record, timeexpr};
#[doc(hidden)]
pub use actlog_core::{dayfile, gzmeta, number, summary, threads};
pub use actlog_export as export;
pub use actlog_read::{filter, follow, histogram, page, query, scan, stats, verify};
pub use actlog_serve::{once, probe, serve};
pub use actlog_write::{maintain, store, writer};

/// The README's Rust examples, compiled and run as doc-tests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

// The binary's parts, public only so that `main.rs` and the end-to-end tests reach
// them: not a library API, hidden from the documentation.
#[doc(hidden)]
pub mod cli;
#[doc(hidden)]
pub mod dataset;
#[doc(hidden)]
pub mod demo;
#[doc(hidden)]
pub mod ingest;
#[doc(hidden)]
pub mod output;
#[doc(hidden)]
pub mod units;

pub use actlog_write::{Durability, Options, Stamp, Store, Writer};
pub use clock::{Clock, FixedClock, SystemClock};
pub use error::{Error, Result, ValidationError};
pub use record::{Activity, Record};
