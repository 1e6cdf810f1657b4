//! Which records an export takes, and the name its progress is kept under.
//!
//! Progress counts, per UTC day, the records matching the selection's conditions (every
//! filter but the time window) in stored order. The time window only decides which of
//! them are sent, so one progress serves any window: `--since 7d` run every day, a wider
//! window later, or none. The window's edge days are read whole and the records outside
//! the window passed over without being counted as exported.

use actlog_read::filter::{Filter, FilterError, FilterSpec};
use actlog_read::query::Query;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};

/// A resolved selection.
#[derive(Debug, Clone)]
pub struct Selection {
    /// What the readers run: the conditions, over the whole days the window touches.
    pub query: Query,
    /// `[since, until)`, applied to each record the query hands over.
    pub window: (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
    /// The conditions as text, naming the progress kept for them ("all" for none).
    pub key: String,
}

impl Selection {
    /// Resolves `spec` against `now`; `strict` validates every line fully (all damage seen).
    pub fn new(spec: &FilterSpec, now: DateTime<Utc>, strict: bool) -> Result<Self, FilterError> {
        // The whole filter first, so a bad --since or an empty range is refused as
        // `query` refuses it.
        let whole = Filter::new(spec, now)?;
        let window = whole.window();
        let conditions = FilterSpec {
            since: None,
            until: None,
            ..spec.clone()
        };
        let (first, last) = whole.days();
        let filter = Filter::new(&conditions, now)?.narrowed(
            first.and_then(day_start),
            last.and_then(|d| d.succ_opt()).and_then(day_start),
        );
        Ok(Selection {
            query: Query {
                filter,
                limit: None,
                reverse: false,
                strict,
                ignore_summaries: false,
            },
            window,
            key: key_of(&conditions),
        })
    }

    /// Whether `t` is inside the window.
    pub fn in_window(&self, t: DateTime<Utc>) -> bool {
        self.window.0.is_none_or(|s| t >= s) && self.window.1.is_none_or(|u| t < u)
    }
}

fn day_start(day: NaiveDate) -> Option<DateTime<Utc>> {
    day.and_hms_opt(0, 0, 0).map(|t| Utc.from_utc_datetime(&t))
}

/// The conditions as stable text: the flags in a fixed order, each value as given.
fn key_of(c: &FilterSpec) -> String {
    let mut parts: Vec<(&str, serde_json::Value)> = Vec::new();
    let list = |v: &Vec<String>| serde_json::Value::from(v.clone());
    for (name, values) in [
        ("user", &c.users),
        ("action", &c.actions),
        ("ip", &c.ips),
        ("where", &c.wheres),
        ("grep", &c.greps),
    ] {
        if !values.is_empty() {
            parts.push((name, list(values)));
        }
    }
    for (name, on) in [
        ("ignore_case", c.ignore_case),
        ("invert_grep", c.invert_grep),
        ("fixed_strings", c.fixed_strings),
    ] {
        if on {
            parts.push((name, serde_json::Value::Bool(true)));
        }
    }
    if parts.is_empty() {
        return "all".to_owned();
    }
    let map: serde_json::Map<String, serde_json::Value> =
        parts.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    serde_json::Value::Object(map).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_ignores_the_window_and_names_the_conditions() {
        let now = Utc::now();
        let a = Selection::new(
            &FilterSpec {
                since: Some("7d".into()),
                ..FilterSpec::default()
            },
            now,
            false,
        )
        .unwrap();
        assert_eq!(a.key, "all");
        let b = Selection::new(
            &FilterSpec {
                users: vec!["alice".into()],
                ignore_case: true,
                ..FilterSpec::default()
            },
            now,
            false,
        )
        .unwrap();
        assert_eq!(b.key, r#"{"user":["alice"],"ignore_case":true}"#);
    }
}
