//! actlog's format and the primitives every other actlog crate builds on: a record and
//! its one-line JSON encoding, the names of day files, the index actlog keeps in gzip
//! member headers, the locked append of CONTRACT section 3, the clock, time expressions,
//! the read-thread policy and the one error type.

#![warn(missing_docs)]

pub mod clock;
pub mod error;
pub mod layout;
pub mod progress;
pub mod record;
pub mod summary;
pub mod timeexpr;

// Shared by the other actlog crates (and reached by their tests, benchmarks and fuzz
// targets), but not an API of their own: hidden from the documentation, free to change.
#[doc(hidden)]
pub mod dayfile;
#[doc(hidden)]
pub mod extra;
#[doc(hidden)]
pub mod gzmeta;
#[doc(hidden)]
pub mod number;
#[doc(hidden)]
pub mod threads;

pub use clock::{Clock, FixedClock, SystemClock};
pub use error::{Error, Result, ValidationError};
pub use record::{Activity, Record};
