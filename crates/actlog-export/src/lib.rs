//! Exporting an actlog store: into PostgreSQL with `COPY` into a staging table and
//! `INSERT … ON CONFLICT DO NOTHING`, one transaction per batch that also records how far
//! each day is exported (so a killed export resumes, and a rerun inserts nothing), or to
//! standard output as CSV, JSON Lines or `COPY` text for people who load data themselves.
//!
//! Records are chosen by the readers' own filters and read by their own query and
//! follower ([`actlog_read::query`], [`actlog_read::follow`]); damaged lines are skipped
//! and counted as they count them.

#![warn(missing_docs)]

pub mod connect;
pub mod error;
pub mod progress;
pub mod row;
pub mod run;
pub mod schema;
pub mod select;
pub mod stdout;
pub mod target;

pub use error::ExportError;
