//! Writing an actlog store: a [`Store`] hands out [`Writer`]s that append records to the
//! day file of their timestamp under its lock (each call, group commit or buffered), and
//! [`maintain`] compresses finished days into indexed gzip members and applies retention.
//!
//! Folders: `append/` is where a record is written (a batch encoded into lines, the open
//! day files, group commit, the buffered writer, the [`Writer`]); [`maintain`] is where
//! a day is compressed (`maintain/compress.rs`) or deleted (`maintain/retention.rs`).
//! `auto` makes maintenance a writer's day-change hook, and [`store`] wires it all from
//! the [`Options`].

#![warn(missing_docs)]

mod append;
mod auto;
pub mod maintain;
pub mod store;

pub use append::encode::Stamp;
pub use append::writer;
pub use store::{DEFAULT_MAX_FUTURE_SKEW, DEFAULT_MAX_LINE_BYTES, DIR_MODE, Options, Store};
pub use writer::{Durability, Writer};
