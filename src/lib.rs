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

/// The README's Rust examples, compiled and run as doc-tests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

mod buffered;
pub mod cli;
pub mod clock;
pub mod dataset;
mod dayfile;
pub mod demo;
pub mod error;
pub mod filter;
pub mod follow;
mod group;
pub mod gzmeta;
pub mod ingest;
pub mod layout;
pub mod maintain;
pub mod number;
pub mod output;
pub mod page;
pub mod query;
pub mod record;
pub mod scan;
pub mod serve;
pub mod stats;
pub mod threads;
pub mod timeexpr;
pub mod verify;
pub mod writer;

pub use clock::{Clock, FixedClock, SystemClock};
pub use error::{Error, Result, ValidationError};
pub use record::{Activity, Record};
pub use writer::{Durability, Options, Stamp, Store, Writer};
