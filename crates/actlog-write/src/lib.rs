//! Writing an actlog store: a [`Store`] hands out [`Writer`]s that append records to the
//! day file of their timestamp under its lock (each call, group commit or buffered), and
//! [`maintain`] compresses finished days into indexed gzip members and applies retention.
//!
//! Modules, from the bottom up: `encode` (a batch into lines), `days` (the open day
//! files), `group` and `buffered` (two ways of handing lines to `days`), `hook` (what a
//! writer calls on a new UTC day), `writer`, [`maintain`], `auto` (maintenance as a
//! day-change hook), [`store`] (options, and the wiring of all of the above).

#![warn(missing_docs)]

mod auto;
mod buffered;
mod days;
mod encode;
mod group;
mod hook;
pub mod maintain;
pub mod store;
pub mod writer;

pub use encode::Stamp;
pub use store::{DEFAULT_MAX_FUTURE_SKEW, DEFAULT_MAX_LINE_BYTES, DIR_MODE, Options, Store};
pub use writer::{Durability, Writer};
