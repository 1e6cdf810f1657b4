//! Where a record is written: `encode` turns a batch into lines, `days` keeps the day
//! files open and writes lines under their locks, `group` (fsync group commit) and
//! `buffered` (a background thread) are two ways of handing lines to `days`, `hook` is
//! what a writer calls on a new UTC day, and `writer` puts them together.

pub(crate) mod buffered;
pub(crate) mod days;
pub(crate) mod encode;
pub(crate) mod group;
pub(crate) mod hook;
pub mod writer;
