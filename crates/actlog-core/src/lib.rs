//! actlog's format and the primitives every other actlog crate builds on: a record and
//! its one-line JSON encoding, the names of day files, the index actlog keeps in gzip
//! member headers, the locked append of CONTRACT section 3, the clock, time expressions,
//! the read-thread policy and the one error type.

#![warn(missing_docs)]

pub mod clock;
pub mod dayfile;
pub mod error;
pub mod gzmeta;
pub mod layout;
pub mod number;
pub mod record;
pub mod threads;
pub mod timeexpr;

pub use clock::{Clock, FixedClock, SystemClock};
pub use error::{Error, Result, ValidationError};
pub use record::{Activity, Record};
