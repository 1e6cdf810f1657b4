//! The table the export fills and the one keeping its progress: their names, creating
//! them (`--create-schema`), and checking that an existing table can take the rows.
//!
//! The table is the seed's `activity_logs` with types that fit a record (docs/EXPORT.md):
//! `id uuid PRIMARY KEY` where the seed has `SERIAL`, since the id is the record's own,
//! given by the writer on every pod, and the key that makes a rerun insert nothing.

use crate::progress::Mark;
use chrono::NaiveDate;
use postgres::Client;
use std::collections::HashMap;

/// Longest table name part taken, leaving room for the progress table's suffix within
/// PostgreSQL's 63 bytes.
pub const MAX_NAME: usize = 40;

/// The SQL names of an export's tables.
#[derive(Debug, Clone)]
pub struct Names {
    /// The table as given, lower-cased (as SQL folds unquoted names).
    pub table_text: String,
    /// The table, quoted for SQL.
    pub table: String,
    /// The progress table, quoted for SQL: `<table>_export_progress` in the same schema.
    pub progress: String,
    /// The progress table's name as text.
    pub progress_text: String,
    /// Index name prefix: the seed's `idx_activity` for `activity_logs`.
    index_prefix: String,
}

impl Names {
    /// Names for `--table NAME` or `SCHEMA.NAME`; `None` when it is not a plain identifier.
    pub fn new(table: &str) -> Option<Names> {
        let lower = table.to_ascii_lowercase();
        let parts: Vec<&str> = lower.split('.').collect();
        let ok = |p: &&str| {
            !p.is_empty()
                && p.len() <= MAX_NAME
                && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                && !p.as_bytes()[0].is_ascii_digit()
        };
        if parts.len() > 2 || !parts.iter().all(ok) {
            return None;
        }
        let name = *parts.last()?;
        let schema = (parts.len() == 2).then(|| parts[0]);
        let quote = |n: &str| match schema {
            Some(s) => format!("\"{s}\".\"{n}\""),
            None => format!("\"{n}\""),
        };
        let text = |n: &str| match schema {
            Some(s) => format!("{s}.{n}"),
            None => n.to_owned(),
        };
        let progress = format!("{name}_export_progress");
        Some(Names {
            table_text: text(name),
            table: quote(name),
            progress: quote(&progress),
            progress_text: text(&progress),
            index_prefix: if name == "activity_logs" {
                "idx_activity".into()
            } else {
                format!("idx_{name}")
            },
        })
    }

    /// The statements creating the table and its indexes (the seed's, on `username`,
    /// `timestamp DESC` and `action`).
    pub fn table_sql(&self) -> String {
        let (t, i) = (&self.table, &self.index_prefix);
        format!(
            "CREATE TABLE {t} (
    id uuid PRIMARY KEY,
    \"timestamp\" timestamptz NOT NULL,
    username varchar(255) NOT NULL,
    action varchar(255) NOT NULL,
    details jsonb,
    ip_address inet,
    user_agent text,
    raw text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX {i}_username ON {t} (username);
CREATE INDEX {i}_timestamp ON {t} (\"timestamp\" DESC);
CREATE INDEX {i}_action ON {t} (action);"
        )
    }

    /// The statement creating the progress table.
    pub fn progress_sql(&self) -> String {
        format!(
            "CREATE TABLE {} (
    source text NOT NULL,
    selection text NOT NULL,
    day date NOT NULL,
    records bigint NOT NULL,
    prefix_hash bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, selection, day)
);",
            self.progress
        )
    }
}

/// Creates what is missing, one creator at a time across pods.
pub fn create(client: &mut Client, names: &Names) -> Result<(), postgres::Error> {
    let mut tx = client.transaction()?;
    // Two `CREATE TABLE IF NOT EXISTS` at the same moment can both try to create it.
    tx.execute("SELECT pg_advisory_xact_lock(7310516093614850401)", &[])?;
    // A table that exists is left as it is (its owner's to change): only what is
    // missing is created.
    if oid_tx(&mut tx, &names.table)?.is_none() {
        tx.batch_execute(&names.table_sql())?;
    }
    if oid_tx(&mut tx, &names.progress)?.is_none() {
        tx.batch_execute(&names.progress_sql())?;
    }
    tx.commit()
}

/// Why a table cannot be used.
#[derive(Debug)]
pub enum Unfit {
    /// It does not exist.
    Missing(String),
    /// It exists with a column or key that does not fit.
    Shape(String, String),
    /// The role lacks a privilege on it.
    Privilege(String),
}

/// How rows go into a table that fits.
#[derive(Debug, Clone)]
pub struct Fit {
    /// The `ON CONFLICT` target: `(id)`, or `(id, "timestamp")` for a table partitioned by
    /// time (whose unique keys must hold the partition key).
    pub conflict: &'static str,
}

/// The columns the export fills and the types each may have.
const WANTED: [(&str, &[&str]); 8] = [
    ("id", &["uuid"]),
    ("timestamp", &["timestamp with time zone"]),
    ("username", &["text", "character varying"]),
    ("action", &["text", "character varying"]),
    ("details", &["jsonb"]),
    ("ip_address", &["inet"]),
    ("user_agent", &["text", "character varying"]),
    ("raw", &["text"]),
];

/// Checks that the table and the progress table exist, fit, and may be written.
pub fn check(client: &mut Client, names: &Names) -> Result<Result<Fit, Unfit>, postgres::Error> {
    let Some(table) = oid(client, &names.table)? else {
        return Ok(Err(Unfit::Missing(names.table_text.clone())));
    };
    let shape = |problem: String| Ok(Err(Unfit::Shape(names.table_text.clone(), problem)));
    let columns = client.query(
        "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), a.attnotnull,
                a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> ''
         FROM pg_attribute a WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped",
        &[&table],
    )?;
    let types: HashMap<String, String> = columns
        .iter()
        .map(|r| (r.get::<_, String>(0), r.get::<_, String>(1)))
        .collect();
    for (name, allowed) in WANTED {
        let Some(ty) = types.get(name) else {
            return shape(format!("it has no column {name}"));
        };
        if !type_fits(name, ty, allowed) {
            let seed = if name == "id" && ty == "integer" {
                " (the seed's SERIAL id: actlog ids are UUIDs)"
            } else {
                ""
            };
            return shape(format!(
                "column {name} is {ty}{seed}, the export needs {}",
                allowed.join(" or ")
            ));
        }
    }
    for r in &columns {
        let (name, not_null, default): (String, bool, bool) = (r.get(0), r.get(2), r.get(3));
        if not_null && !default && !WANTED.iter().any(|(w, _)| *w == name) {
            return shape(format!(
                "column {name} is NOT NULL without a default, and the export does not fill it"
            ));
        }
    }
    let keys = client.query(
        "SELECT array(SELECT a.attname::text FROM unnest(i.indkey) k
                      JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k
                      ORDER BY 1)
         FROM pg_index i
         WHERE i.indrelid = $1 AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL",
        &[&table],
    )?;
    let keys: Vec<Vec<String>> = keys.iter().map(|r| r.get(0)).collect();
    let conflict = if keys.iter().any(|k| k == &["id"]) {
        "(id)"
    } else if keys.iter().any(|k| k == &["id", "timestamp"]) {
        "(id, \"timestamp\")"
    } else {
        return shape(
            "it has no primary key or unique index on id (or on id and timestamp, for a table partitioned by time), which ON CONFLICT needs".into(),
        );
    };
    let Some(progress) = oid(client, &names.progress)? else {
        return Ok(Err(Unfit::Missing(names.progress_text.clone())));
    };
    let progress_columns: Vec<String> = client
        .query(
            "SELECT attname::text FROM pg_attribute WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped",
            &[&progress],
        )?
        .iter()
        .map(|r| r.get(0))
        .collect();
    for c in ["source", "selection", "day", "records", "prefix_hash"] {
        if !progress_columns.iter().any(|p| p == c) {
            return Ok(Err(Unfit::Shape(
                names.progress_text.clone(),
                format!("it has no column {c}"),
            )));
        }
    }
    let row = client.query_one(
        "SELECT has_table_privilege($1::oid, 'INSERT'), has_table_privilege($2::oid, 'SELECT, INSERT, UPDATE')",
        &[&table, &progress],
    )?;
    if !row.get::<_, bool>(0) {
        return Ok(Err(Unfit::Privilege(format!(
            "no INSERT privilege on {}",
            names.table_text
        ))));
    }
    if !row.get::<_, bool>(1) {
        return Ok(Err(Unfit::Privilege(format!(
            "no SELECT, INSERT and UPDATE privilege on {}",
            names.progress_text
        ))));
    }
    Ok(Ok(Fit { conflict }))
}

fn oid_tx(
    tx: &mut postgres::Transaction<'_>,
    quoted: &str,
) -> Result<Option<u32>, postgres::Error> {
    Ok(tx
        .query_one("SELECT to_regclass($1)::oid", &[&quoted])?
        .get::<_, Option<u32>>(0))
}

fn oid(client: &mut Client, quoted: &str) -> Result<Option<u32>, postgres::Error> {
    Ok(client
        .query_one("SELECT to_regclass($1)::oid", &[&quoted])?
        .get::<_, Option<u32>>(0))
}

/// Whether `ty` (as `format_type` writes it) can hold the column: names need room for
/// 255 characters, addresses for 45.
fn type_fits(name: &str, ty: &str, allowed: &[&str]) -> bool {
    if allowed.contains(&ty) {
        return true;
    }
    let Some(n) = ty
        .strip_prefix("character varying(")
        .and_then(|t| t.strip_suffix(')'))
        .and_then(|n| n.parse::<u32>().ok())
    else {
        return false;
    };
    matches!(name, "username" | "action") && n >= 255
}

/// The marks saved for `source` and `selection`.
pub fn load_marks(
    client: &mut Client,
    names: &Names,
    source: &str,
    selection: &str,
) -> Result<HashMap<NaiveDate, Mark>, postgres::Error> {
    let rows = client.query(
        &format!(
            "SELECT day, records, prefix_hash FROM {} WHERE source = $1 AND selection = $2",
            names.progress
        ),
        &[&source, &selection],
    )?;
    Ok(rows
        .iter()
        .map(|r| {
            let (day, records, hash): (NaiveDate, i64, i64) = (r.get(0), r.get(1), r.get(2));
            (
                day,
                Mark {
                    records: records as u64,
                    hash: hash as u64,
                },
            )
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_are_plain_identifiers_only() {
        let n = Names::new("Reports.Activity_2026").unwrap();
        assert_eq!(n.table, "\"reports\".\"activity_2026\"");
        assert_eq!(n.progress, "\"reports\".\"activity_2026_export_progress\"");
        for bad in ["", "a.b.c", "1abc", "a;drop", "a\"b", "x.", &"a".repeat(41)] {
            assert!(Names::new(bad).is_none(), "{bad}");
        }
    }
}
