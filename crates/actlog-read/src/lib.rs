//! Reading an actlog store: each day's `.gz` and plain file scanned forwards or backwards
//! with bounded memory and every record once while maintenance folds them, filters and
//! the queries built on them (records, counts, paging), following new records, `verify`
//! and `stats`.

#![warn(missing_docs)]

pub mod filter;
pub mod follow;
pub mod histogram;
pub mod jsonscan;
pub mod page;
pub mod query;
pub mod resume;
pub mod scan;
pub mod stats;
pub mod verify;
