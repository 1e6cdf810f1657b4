//! What can go wrong in an export, each variant saying what happened in words an operator
//! can act on. No message ever holds the database password.

use std::path::PathBuf;

/// An export that stopped. Everything committed before it stays; the batch in flight
/// was rolled back.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// No database was named.
    #[error(
        "no PostgreSQL database given: use --url postgres://USER@HOST:PORT/DB, ACTLOG_PG_URL, or POSTGRES_HOST with POSTGRES_PORT, POSTGRES_DB, POSTGRES_USER and POSTGRES_PASSWORD"
    )]
    NoDatabase,
    /// The URL (or a POSTGRES_* variable) does not parse.
    #[error("{what} is not a usable PostgreSQL connection setting: {problem}")]
    BadSetting {
        /// Which flag or variable.
        what: String,
        /// Why, without the value (it may hold the password).
        problem: String,
    },
    /// Connecting failed below PostgreSQL: refused, unreachable, name not found, timeout.
    #[error("cannot connect to PostgreSQL at {endpoint}: {problem}")]
    Connect {
        /// Host, port, database and user (never the password).
        endpoint: String,
        /// The operating system's or driver's words.
        problem: String,
    },
    /// The server refused the login.
    #[error("PostgreSQL at {endpoint} refused the login: {message}")]
    Auth {
        /// Host, port, database and user.
        endpoint: String,
        /// The server's words.
        message: String,
    },
    /// The role lacks a privilege the export needs.
    #[error("PostgreSQL at {endpoint}: permission denied: {message} ({needs})")]
    Permission {
        /// Host, port, database and user.
        endpoint: String,
        /// The server's words.
        message: String,
        /// What the export needs.
        needs: &'static str,
    },
    /// The table or the progress table is missing.
    #[error(
        "table {table} does not exist in database {database}: run with --create-schema, or create it as docs/EXPORT.md shows"
    )]
    NoTable {
        /// The missing table.
        table: String,
        /// The database.
        database: String,
    },
    /// The table exists with a shape the export cannot fill.
    #[error("table {table} cannot take actlog records: {problem} (docs/EXPORT.md gives the shape)")]
    Shape {
        /// The table.
        table: String,
        /// The first column or key that does not fit.
        problem: String,
    },
    /// A `--table` name that is not a plain SQL identifier.
    #[error(
        "--table {0:?}: expected NAME or SCHEMA.NAME of letters, digits and _ (not starting with a digit), at most 40 characters each"
    )]
    BadTableName(String),
    /// Another export of the same store and selection into the same table holds the lock.
    #[error(
        "another actlog export into {table} from {source_name} with this selection is running (waited {waited_s} s for its lock); stop it first"
    )]
    Busy {
        /// The table.
        table: String,
        /// The `--source` label.
        source_name: String,
        /// How long this run waited.
        waited_s: u64,
    },
    /// The server refused a record's value (a partition missing for its month, say).
    #[error(
        "PostgreSQL refused the batch holding record {id} of {day}: {message}; nothing of that batch was committed"
    )]
    Rejected {
        /// The record the server named, or the batch's first.
        id: String,
        /// Its UTC day.
        day: String,
        /// The server's words, with its detail and hint.
        message: String,
    },
    /// The connection broke or the server shut down in the middle of the export.
    #[error(
        "lost the connection to PostgreSQL at {endpoint} ({problem}) while {doing}; the rows committed before it stay ({committed} new in this run), and running the export again resumes without losing or repeating a record"
    )]
    Lost {
        /// Host, port, database and user.
        endpoint: String,
        /// The driver's or server's words.
        problem: String,
        /// What the export was doing.
        doing: String,
        /// Rows committed by this run before the loss.
        committed: u64,
    },
    /// Any other error the server reported.
    #[error("PostgreSQL at {endpoint} failed while {doing}: {message}")]
    Database {
        /// Host, port, database and user.
        endpoint: String,
        /// What the export was doing.
        doing: String,
        /// The server's words with the SQLSTATE.
        message: String,
    },
    /// Reading the store failed (an unreadable day file, a bad ACTLOG_THREADS).
    #[error(transparent)]
    Store(#[from] actlog_core::error::Error),
    /// A filter flag is wrong.
    #[error(transparent)]
    Filter(#[from] actlog_read::filter::FilterError),
    /// Writing to standard output failed.
    #[error("writing to standard output: {0}")]
    Output(#[source] std::io::Error),
    /// The store directory cannot be named as a source.
    #[error("{path}: {problem}")]
    Dir {
        /// The directory.
        path: PathBuf,
        /// Why.
        problem: String,
    },
}

impl ExportError {
    /// Whether this is standard output's reader going away (`| head`), which ends an
    /// export to standard output quietly.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, ExportError::Output(e) if e.kind() == std::io::ErrorKind::BrokenPipe)
    }
}
