//! Where exported records go: the [`Target`] the export loop feeds, and [`Postgres`],
//! which sends each batch with `COPY` into a staging table and `INSERT … ON CONFLICT DO
//! NOTHING` into the table, in one transaction that also saves the batch's progress.

use crate::connect::{Database, error_text};
use crate::error::ExportError;
use crate::progress::Mark;
use crate::row::Row;
use crate::schema::{self, Names, Unfit};
use actlog_core::record::Record;
use chrono::NaiveDate;
use postgres::{Client, Statement};
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::time::Duration;
use uuid::Uuid;

/// A receiver of batches of records.
pub trait Target {
    /// The progress saved by earlier runs (none for a target that keeps none).
    fn saved(&mut self) -> Result<HashMap<NaiveDate, Mark>, ExportError>;
    /// Takes one record, to go with the next commit.
    fn add(&mut self, line: &[u8], record: &Record) -> Result<(), ExportError>;
    /// Records taken since the last commit.
    fn pending(&self) -> usize;
    /// Sends what was taken, with the days' new marks, all or nothing. It may still be
    /// on its way when this returns (its failure then comes from the next call); returns
    /// how many rows the batches confirmed meanwhile were new to the target.
    fn commit(&mut self, marks: &[(NaiveDate, Mark)]) -> Result<u64, ExportError>;
    /// Waits for every batch sent to be confirmed; returns how many rows they added.
    fn finish(&mut self) -> Result<u64, ExportError>;
}

/// What an export into PostgreSQL writes to.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// `--table`.
    pub table: String,
    /// `--create-schema`.
    pub create_schema: bool,
    /// The name the store's progress is kept under (`--source`).
    pub source: String,
    /// The selection's key ([`crate::select::Selection::key`]).
    pub selection: String,
}

/// How long a second export of the same store and selection waits for the first one's lock.
pub const LOCK_WAIT: Duration = Duration::from_secs(15);

/// An open export into a PostgreSQL table. Batches are sent by a thread of their own,
/// so the next batch is read and encoded while the server takes the last one.
pub struct Postgres {
    names: Names,
    /// The batch as `COPY` text.
    copy: Vec<u8>,
    /// The batch's records, for naming one the server refuses.
    batch: Vec<(Uuid, NaiveDate)>,
    /// Ids in the batch: a repeat (a client's retry) is left out, keeping the first.
    ids: HashSet<Uuid>,
    batches: u64,
    /// The progress the database held when the export began.
    saved: Option<HashMap<NaiveDate, Mark>>,
    jobs: Option<std::sync::mpsc::SyncSender<Job>>,
    results: std::sync::mpsc::Receiver<Result<u64, ExportError>>,
    in_flight: bool,
    sender: Option<std::thread::JoinHandle<()>>,
}

/// One batch for the sending thread.
struct Job {
    copy: Vec<u8>,
    batch: Vec<(Uuid, NaiveDate)>,
    marks: Vec<(NaiveDate, Mark)>,
    number: u64,
}

/// The sending thread's side: the connection and its statements.
struct Sender {
    db: Database,
    client: Client,
    options: PgOptions,
    insert: Statement,
    upsert: Statement,
    /// Rows committed by this run.
    committed: u64,
}

impl Postgres {
    /// Connects, creates the tables if asked, checks them, and takes the lock that keeps
    /// one export per store, selection and table.
    pub fn open(db: Database, options: PgOptions) -> Result<Postgres, ExportError> {
        let names = Names::new(&options.table)
            .ok_or_else(|| ExportError::BadTableName(options.table.clone()))?;
        let mut client = db.connect()?;
        let fault = |e: postgres::Error, doing: &str| fault(&db, e, doing, 0, None);
        if options.create_schema {
            schema::create(&mut client, &names).map_err(|e| fault(e, "creating the tables"))?;
        }
        let fit = match schema::check(&mut client, &names)
            .map_err(|e| fault(e, "checking the table"))?
        {
            Ok(fit) => fit,
            Err(Unfit::Missing(table)) => {
                return Err(ExportError::NoTable {
                    table,
                    database: db.name(),
                });
            }
            Err(Unfit::Shape(table, problem)) => return Err(ExportError::Shape { table, problem }),
            Err(Unfit::Privilege(message)) => {
                return Err(ExportError::Permission {
                    endpoint: db.endpoint().to_owned(),
                    message,
                    needs: PRIVILEGES,
                });
            }
        };
        let key = xxhash_rust::xxh3::xxh3_64(
            format!(
                "{}\0{}\0{}",
                names.table_text, options.source, options.selection
            )
            .as_bytes(),
        ) as i64;
        client
            .batch_execute(&format!("SET lock_timeout = '{}s'", LOCK_WAIT.as_secs()))
            .map_err(|e| fault(e, "setting the lock timeout"))?;
        if let Err(e) = client.execute("SELECT pg_advisory_lock($1)", &[&key]) {
            if e.code() == Some(&postgres::error::SqlState::LOCK_NOT_AVAILABLE) {
                return Err(ExportError::Busy {
                    table: names.table_text.clone(),
                    source_name: options.source.clone(),
                    waited_s: LOCK_WAIT.as_secs(),
                });
            }
            return Err(fault(e, "taking the export lock"));
        }
        client
            .batch_execute(
                "RESET lock_timeout;
                 CREATE TEMP TABLE actlog_staging (
                     id uuid, \"timestamp\" timestamptz, username text, action text,
                     details jsonb, ip_address inet, user_agent text, raw text
                 ) ON COMMIT DELETE ROWS",
            )
            .map_err(|e| fault(e, "creating the staging table"))?;
        let insert = client
            .prepare(&format!(
                "INSERT INTO {} (id, \"timestamp\", username, action, details, ip_address, user_agent, raw)
                 SELECT id, \"timestamp\", username, action, details, ip_address, user_agent, raw
                 FROM pg_temp.actlog_staging
                 ON CONFLICT {} DO NOTHING",
                names.table, fit.conflict
            ))
            .map_err(|e| fault(e, "preparing the insert"))?;
        let upsert = client
            .prepare(&format!(
                "INSERT INTO {} (source, selection, day, records, prefix_hash) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (source, selection, day) DO UPDATE
                 SET records = EXCLUDED.records, prefix_hash = EXCLUDED.prefix_hash, updated_at = now()",
                names.progress
            ))
            .map_err(|e| fault(e, "preparing the progress update"))?;
        let saved = schema::load_marks(&mut client, &names, &options.source, &options.selection)
            .map_err(|e| fault(e, "reading the export's progress"))?;
        let mut sender = Sender {
            db,
            client,
            options,
            insert,
            upsert,
            committed: 0,
        };
        let (jobs, inbox) = std::sync::mpsc::sync_channel::<Job>(0);
        let (outbox, results) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("actlog-export-pg".into())
            .spawn(move || {
                for job in inbox {
                    if outbox.send(sender.run(job)).is_err() {
                        return;
                    }
                }
            })
            .map_err(|e| ExportError::Database {
                endpoint: String::new(),
                doing: "starting the sending thread".into(),
                message: e.to_string(),
            })?;
        Ok(Postgres {
            names,
            copy: Vec::with_capacity(1 << 20),
            batch: Vec::new(),
            ids: HashSet::new(),
            batches: 0,
            saved: Some(saved),
            jobs: Some(jobs),
            results,
            in_flight: false,
            sender: Some(thread),
        })
    }

    /// The table's name as text (unquoted), for messages.
    pub fn table_name(&self) -> &str {
        &self.names.table_text
    }

    /// Waits for the batch in flight, if any: the rows it added.
    fn settle(&mut self) -> Result<u64, ExportError> {
        if !std::mem::take(&mut self.in_flight) {
            return Ok(0);
        }
        match self.results.recv() {
            Ok(result) => result,
            Err(_) => Err(ExportError::Database {
                endpoint: String::new(),
                doing: "sending a batch".into(),
                message: "the sending thread stopped".into(),
            }),
        }
    }
}

impl Sender {
    fn run(&mut self, job: Job) -> Result<u64, ExportError> {
        match self.send(&job.copy, &job.marks) {
            Ok(n) => {
                self.committed += n;
                Ok(n)
            }
            Err(e) => {
                let doing = format!("sending batch {} ({} records)", job.number, job.batch.len());
                Err(fault(&self.db, e, &doing, self.committed, Some(&job.batch)))
            }
        }
    }

    fn send(&mut self, copy: &[u8], marks: &[(NaiveDate, Mark)]) -> Result<u64, postgres::Error> {
        let mut tx = self.client.transaction()?;
        let mut w = tx.copy_in("COPY pg_temp.actlog_staging FROM STDIN")?;
        // A write fails only with the connection; `finish` reports it as the server saw it.
        let _ = w.write_all(copy);
        w.finish()?;
        let inserted = tx.execute(&self.insert, &[])?;
        for (day, mark) in marks {
            tx.execute(
                &self.upsert,
                &[
                    &self.options.source,
                    &self.options.selection,
                    day,
                    &(mark.records as i64),
                    &(mark.hash as i64),
                ],
            )?;
        }
        tx.commit()?;
        Ok(inserted)
    }
}

/// What an export needs of its role.
const PRIVILEGES: &str = "the export needs INSERT on the table, SELECT, INSERT and UPDATE on its progress table, and TEMPORARY on the database; --create-schema also needs CREATE on the schema";

impl Drop for Postgres {
    fn drop(&mut self) {
        // Closing the queue ends the thread once the batch in flight is settled.
        self.jobs = None;
        if let Some(t) = self.sender.take() {
            let _ = t.join();
        }
    }
}

impl Target for Postgres {
    fn saved(&mut self) -> Result<HashMap<NaiveDate, Mark>, ExportError> {
        Ok(self.saved.take().unwrap_or_default())
    }

    fn add(&mut self, line: &[u8], record: &Record) -> Result<(), ExportError> {
        if !self.ids.insert(record.id) {
            return Ok(());
        }
        Row::new(line, record).write_copy(&mut self.copy);
        self.batch.push((record.id, record.day()));
        Ok(())
    }

    fn pending(&self) -> usize {
        self.batch.len()
    }

    fn commit(&mut self, marks: &[(NaiveDate, Mark)]) -> Result<u64, ExportError> {
        if self.batch.is_empty() {
            return Ok(0);
        }
        // One batch on its way at a time: the one before must be in before this goes.
        let before = self.settle()?;
        self.batches += 1;
        let job = Job {
            copy: std::mem::replace(&mut self.copy, Vec::with_capacity(1 << 20)),
            batch: std::mem::take(&mut self.batch),
            marks: marks.to_vec(),
            number: self.batches,
        };
        self.ids.clear();
        let sent = self
            .jobs
            .as_ref()
            .is_some_and(|jobs| jobs.send(job).is_ok());
        if !sent {
            return Err(ExportError::Database {
                endpoint: String::new(),
                doing: "sending a batch".into(),
                message: "the sending thread stopped".into(),
            });
        }
        self.in_flight = true;
        Ok(before)
    }

    fn finish(&mut self) -> Result<u64, ExportError> {
        self.settle()
    }
}

/// The error for a failed statement, in the export's words.
fn fault(
    db: &Database,
    e: postgres::Error,
    doing: &str,
    committed: u64,
    batch: Option<&[(Uuid, NaiveDate)]>,
) -> ExportError {
    let endpoint = db.endpoint().to_owned();
    let Some(d) = e.as_db_error() else {
        let problem = db.scrub(&error_text(&e));
        let io = std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>());
        if e.is_closed() || io {
            return ExportError::Lost {
                endpoint,
                problem,
                doing: doing.to_owned(),
                committed,
            };
        }
        return ExportError::Database {
            endpoint,
            doing: doing.to_owned(),
            message: problem,
        };
    };
    let code = d.code().code();
    let mut message = d.message().to_owned();
    if let Some(detail) = d.detail() {
        message = format!("{message} ({detail})");
    }
    if let Some(hint) = d.hint() {
        message = format!("{message}; {hint}");
    }
    let message = db.scrub(&message).replace(['\n', '\r'], " ");
    match &code[..2] {
        "57" | "08" => ExportError::Lost {
            endpoint,
            problem: format!("{message}, SQLSTATE {code}"),
            doing: doing.to_owned(),
            committed,
        },
        "42" if code == "42501" => ExportError::Permission {
            endpoint,
            message,
            needs: PRIVILEGES,
        },
        "22" | "23" if batch.is_some() => {
            let batch = batch.unwrap_or_default();
            // COPY names the line of its input: the batch's record of that index.
            let index = d
                .where_()
                .and_then(|w| w.split(", line ").nth(1))
                .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|n| n.parse::<usize>().ok())
                .and_then(|n| n.checked_sub(1))
                .unwrap_or(0);
            let (id, day) = batch
                .get(index)
                .map(|(id, day)| (id.to_string(), day.to_string()))
                .unwrap_or_default();
            ExportError::Rejected { id, day, message }
        }
        _ => ExportError::Database {
            endpoint,
            doing: doing.to_owned(),
            message: format!("{message} (SQLSTATE {code})"),
        },
    }
}
