//! The library's typed errors: each names the file, field or limit at fault.

use std::io;
use std::path::PathBuf;

/// Result alias used throughout the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A record that breaks the schema of CONTRACT section 2, naming the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field `{field}`: {problem}")]
pub struct ValidationError {
    /// The JSON field at fault (`username`, `details`, …, or `line` for the whole line).
    pub field: String,
    /// What is wrong with it, in words a user can act on.
    pub problem: String,
}

impl ValidationError {
    /// Builds an error for `field` with a human-readable `problem`.
    pub fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        ValidationError {
            field: field.into(),
            problem: problem.into(),
        }
    }
}

/// Everything the store can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A record was refused before anything was written.
    #[error("invalid record: {0}")]
    Invalid(#[from] ValidationError),

    /// Record `index` of a batch was refused; nothing of the batch was written.
    #[error("record {index}: {source}")]
    InvalidAt {
        /// Position of the record in the batch, from 0.
        index: usize,
        /// What is wrong with it.
        #[source]
        source: Box<Error>,
    },

    /// The serialized record is longer than the configured line limit; it was not written.
    #[error("record is {len} bytes long, over the {max}-byte line limit; it was not written")]
    LineTooLong {
        /// Length of the serialized line, without its newline.
        len: usize,
        /// The configured limit.
        max: usize,
    },

    /// An operating-system call failed on `path`.
    #[error("{}: {op}: {source}", path.display())]
    Io {
        /// The file or directory the call was about.
        path: PathBuf,
        /// What we were doing (`open`, `write`, `fsync`, …).
        op: &'static str,
        /// The underlying error, with its errno.
        #[source]
        source: io::Error,
    },

    /// The day file's path is a symbolic link; actlog never writes through one.
    #[error("{}: is a symbolic link; refusing to follow it", path.display())]
    Symlink {
        /// The day file's path.
        path: PathBuf,
    },

    /// The day file has more than one hard link, so writing would change a file elsewhere.
    #[error("{}: has {links} hard links; refusing to write to a file that is linked elsewhere (a hard-link backup such as `cp -al` or some rsnapshot setups does this; back up with `cp -a`, or `rsync -a` without `--link-dest`)", path.display())]
    HardLinked {
        /// The day file's path.
        path: PathBuf,
        /// Its link count.
        links: u64,
    },

    /// The day file's path is a directory, FIFO, device or socket.
    #[error("{}: is not a regular file; refusing to write to it", path.display())]
    NotRegular {
        /// The offending path.
        path: PathBuf,
    },

    /// The file system refused the advisory lock; actlog never writes unlocked.
    #[error("{}: the file system refused the lock ({source}); refusing to write without it (see README: shared volumes)", path.display())]
    Lock {
        /// The day file's path.
        path: PathBuf,
        /// The error from `flock`.
        #[source]
        source: io::Error,
    },

    /// The day file kept being replaced while we tried to lock it.
    #[error("{}: replaced {attempts} times while taking its lock; giving up", path.display())]
    Unstable {
        /// The day file's path.
        path: PathBuf,
        /// How many times we reopened it.
        attempts: u32,
    },

    /// Part of a batch was written before a later part failed; `written` records (a prefix
    /// of the batch, in order) are stored, the rest are not.
    #[error("{written} of {total} {} written, then: {source}", if *total == 1 { "record" } else { "records" })]
    Partial {
        /// Records stored: always the first `written` of the batch.
        written: usize,
        /// Size of the batch.
        total: usize,
        /// Why the rest failed.
        #[source]
        source: Box<Error>,
    },

    /// The buffered writer's background thread is gone (it panicked, could not start, or
    /// the writer is closing); nothing more can be accepted.
    #[error("the buffered writer's background thread has stopped; the record was not accepted")]
    Closed,

    /// A thread doing `what` panicked, so its outcome is unknown (for maintenance, the
    /// next run or `actlog maintain` finishes the job: every step is safe to redo).
    #[error("{what} stopped with a panic")]
    Panicked {
        /// The thread's job, e.g. `automatic maintenance`.
        what: &'static str,
    },

    /// Reading a gzipped day backwards needs its records in a temporary file (they are too
    /// many for memory), and writing that file failed.
    #[error("{}: reading it backwards needs a temporary file, and writing one failed: {source}", path.display())]
    Spill {
        /// The day file being read.
        path: PathBuf,
        /// The error of the write.
        #[source]
        source: io::Error,
    },

    /// Starting `what` (its threads, its event loop) failed; nothing was served.
    #[error("could not start {what}: {source}")]
    Start {
        /// What was being started, e.g. `the HTTP server's runtime`.
        what: &'static str,
        /// The error of the start.
        #[source]
        source: io::Error,
    },

    /// Reading standard input failed.
    #[error("standard input: read: {source}")]
    Stdin {
        /// The error of the read.
        #[source]
        source: io::Error,
    },

    /// A store option is out of range; nothing was opened.
    #[error("option `{option}`: {problem}")]
    BadOption {
        /// The option's name, as in `actlog_write::Options`.
        option: &'static str,
        /// What is wrong with its value.
        problem: String,
    },

    /// Records accepted by the buffered writer could not be written before it shut down.
    #[error("{count} buffered {} could not be written: {source}", if *count == 1 { "record" } else { "records" })]
    Lost {
        /// How many accepted records were not written.
        count: usize,
        /// The last write error.
        #[source]
        source: Box<Error>,
    },

    /// Following ran out of file descriptors: it holds one per plain (uncompressed) day.
    #[error("{}: cannot follow {days} plain day {} at once: the open-file limit is reached ({source}); run `actlog maintain` to compress finished days, or raise `ulimit -n`", path.display(), if *days == 1 { "file" } else { "files" })]
    TooManyDays {
        /// The day file that could not be opened.
        path: PathBuf,
        /// How many plain day files there were to follow.
        days: usize,
        /// The error of the open.
        #[source]
        source: io::Error,
    },

    /// `ACTLOG_THREADS` is not a thread count readers can use.
    #[error("ACTLOG_THREADS={value:?}: expected a whole number of threads from 1 to {max}")]
    Threads {
        /// The value given.
        value: String,
        /// The most threads it may ask for.
        max: usize,
    },
}

impl Error {
    /// Wraps an I/O error with the path and operation it came from.
    pub fn io(path: impl Into<PathBuf>, op: &'static str, source: io::Error) -> Self {
        Error::Io {
            path: path.into(),
            op,
            source,
        }
    }

    /// How many records of the failed call were stored anyway (a prefix, in input order).
    pub fn written(&self) -> usize {
        match self {
            Error::Partial { written, .. } => *written,
            _ => 0,
        }
    }

    /// A copy of this error for every caller that shared one failed group write.
    ///
    /// `io::Error` is not `Clone`; the copy keeps the errno and message, which is all a
    /// caller can act on.
    pub fn duplicate(&self) -> Error {
        fn dup_io(e: &io::Error) -> io::Error {
            match e.raw_os_error() {
                Some(code) => io::Error::from_raw_os_error(code),
                None => io::Error::new(e.kind(), e.to_string()),
            }
        }
        match self {
            Error::Invalid(v) => Error::Invalid(v.clone()),
            Error::LineTooLong { len, max } => Error::LineTooLong {
                len: *len,
                max: *max,
            },
            Error::Io { path, op, source } => Error::Io {
                path: path.clone(),
                op,
                source: dup_io(source),
            },
            Error::Symlink { path } => Error::Symlink { path: path.clone() },
            Error::HardLinked { path, links } => Error::HardLinked {
                path: path.clone(),
                links: *links,
            },
            Error::NotRegular { path } => Error::NotRegular { path: path.clone() },
            Error::Lock { path, source } => Error::Lock {
                path: path.clone(),
                source: dup_io(source),
            },
            Error::Unstable { path, attempts } => Error::Unstable {
                path: path.clone(),
                attempts: *attempts,
            },
            Error::Partial {
                written,
                total,
                source,
            } => Error::Partial {
                written: *written,
                total: *total,
                source: Box::new(source.duplicate()),
            },
            Error::InvalidAt { index, source } => Error::InvalidAt {
                index: *index,
                source: Box::new(source.duplicate()),
            },
            Error::TooManyDays { path, days, source } => Error::TooManyDays {
                path: path.clone(),
                days: *days,
                source: dup_io(source),
            },
            Error::Closed => Error::Closed,
            Error::Panicked { what } => Error::Panicked { what },
            Error::Spill { path, source } => Error::Spill {
                path: path.clone(),
                source: dup_io(source),
            },
            Error::Start { what, source } => Error::Start {
                what,
                source: dup_io(source),
            },
            Error::Stdin { source } => Error::Stdin {
                source: dup_io(source),
            },
            Error::BadOption { option, problem } => Error::BadOption {
                option,
                problem: problem.clone(),
            },
            Error::Lost { count, source } => Error::Lost {
                count: *count,
                source: Box::new(source.duplicate()),
            },
            Error::Threads { value, max } => Error::Threads {
                value: value.clone(),
                max: *max,
            },
        }
    }
}
