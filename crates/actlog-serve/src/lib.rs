//! `actlog serve`: the HTTP sidecar of CONTRACT section 5, for apps that would rather not
//! write files themselves. It binds to loopback, appends through one shared writer and
//! reads with the same readers as the command line.

#![warn(missing_docs)]

pub mod once;
pub mod probe;
pub mod serve;
pub mod ui;
