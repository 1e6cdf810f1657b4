//! How far each day is exported, and whether the store still holds what was exported.
//!
//! A day's progress is a [`Mark`]: how many of its records (those matching the
//! selection's conditions, in stored order) are exported, and a hash chained over their
//! stored lines. A run skips that many records of the day only if their chained hash is
//! the one saved; otherwise the store changed under the export (lines removed or edited,
//! a day deleted and written again, another store at the same table) and the whole day is
//! sent again, the database keeping the rows it has (`ON CONFLICT DO NOTHING`).

use chrono::NaiveDate;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// A day's position: records counted and the hash chained over their lines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Mark {
    /// Records counted.
    pub records: u64,
    /// `xxh3` of each line seeded with the hash before it (0 for none).
    pub hash: u64,
}

impl Mark {
    /// The mark after one more record.
    pub fn then(self, line: &[u8]) -> Mark {
        Mark {
            records: self.records + 1,
            hash: xxhash_rust::xxh3::xxh3_64_with_seed(line, self.hash),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Still inside the saved prefix, which is being checked.
    Checking,
    /// Past the saved prefix (checked, or none): each record sent moves the mark.
    Moving,
    /// A record was passed over (outside the window): no later mark is saved this run.
    Stuck,
    /// The saved prefix is not what the store holds: the day is sent again in full.
    Mismatch,
}

#[derive(Debug)]
struct Day {
    saved: Mark,
    seen: Mark,
    state: State,
}

impl Day {
    fn new(saved: Mark) -> Day {
        Day {
            saved,
            seen: Mark::default(),
            state: if saved.records == 0 {
                State::Moving
            } else {
                State::Checking
            },
        }
    }
}

/// What to do with a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Send it.
    Send,
    /// Exported by an earlier run (inside the checked prefix).
    Done,
    /// Outside the time window.
    Outside,
}

/// The progress of every day an export reads.
#[derive(Debug, Default)]
pub struct Tracker {
    /// What the database holds, for days not met yet.
    saved: HashMap<NaiveDate, Mark>,
    days: HashMap<NaiveDate, Day>,
    /// Marks moved since the last [`Tracker::take_marks`].
    moved: BTreeMap<NaiveDate, Mark>,
}

impl Tracker {
    /// Starts from the marks the database holds.
    pub fn new(saved: HashMap<NaiveDate, Mark>) -> Tracker {
        Tracker {
            saved,
            ..Tracker::default()
        }
    }

    fn day(&mut self, day: NaiveDate) -> &mut Day {
        let saved = &self.saved;
        self.days
            .entry(day)
            .or_insert_with(|| Day::new(saved.get(&day).copied().unwrap_or_default()))
    }

    /// One record of `day` in stored order, its stored `line`, whether it is inside the
    /// window, and whether it is `fresh` (appended since reading began, so never sent
    /// before): whether to send it.
    pub fn next(&mut self, day: NaiveDate, line: &[u8], in_window: bool, fresh: bool) -> Verdict {
        let d = self.day(day);
        d.seen = d.seen.then(line);
        let outside = |v: Verdict| if in_window { v } else { Verdict::Outside };
        match d.state {
            State::Checking if !fresh => {
                if d.seen.records == d.saved.records {
                    d.state = if d.seen.hash == d.saved.hash {
                        State::Moving
                    } else {
                        State::Mismatch
                    };
                }
                Verdict::Done
            }
            State::Checking => {
                // The day held fewer records than were exported: it changed.
                d.state = State::Mismatch;
                outside(Verdict::Send)
            }
            State::Moving if in_window => {
                let seen = d.seen;
                self.moved.insert(day, seen);
                Verdict::Send
            }
            State::Moving => {
                d.state = State::Stuck;
                Verdict::Outside
            }
            State::Stuck | State::Mismatch => outside(Verdict::Send),
        }
    }

    /// The marks moved since the last call, to be saved with the records sent meanwhile.
    pub fn take_marks(&mut self) -> Vec<(NaiveDate, Mark)> {
        std::mem::take(&mut self.moved).into_iter().collect()
    }

    /// At the end of a pass over the store: the days to send again in full, because
    /// what the store holds of them is not what was exported. Each is reset to be counted
    /// from its start. A day read with none of its records left (deleted by retention)
    /// is not among them: there is nothing to send.
    pub fn end_pass(&mut self) -> BTreeSet<NaiveDate> {
        let redo: BTreeSet<NaiveDate> = self
            .days
            .iter()
            .filter(|(_, d)| {
                d.state == State::Mismatch || (d.state == State::Checking && d.seen.records > 0)
            })
            .map(|(day, _)| *day)
            .collect();
        for day in &redo {
            self.saved.remove(day);
            self.days.insert(*day, Day::new(Mark::default()));
        }
        redo
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(n: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, n).unwrap()
    }

    #[test]
    fn a_saved_prefix_is_skipped_only_when_its_lines_are_the_same() {
        let lines: Vec<Vec<u8>> = (0..5).map(|i| format!("line {i}").into_bytes()).collect();
        let mut first = Tracker::new(HashMap::new());
        let sent: Vec<Verdict> = lines
            .iter()
            .map(|l| first.next(day(1), l, true, false))
            .collect();
        assert_eq!(sent, [Verdict::Send; 5]);
        let marks = first.take_marks();
        assert_eq!(marks.len(), 1);
        let saved: HashMap<_, _> = marks.into_iter().collect();

        let mut again = Tracker::new(saved.clone());
        let sent: Vec<Verdict> = lines
            .iter()
            .map(|l| again.next(day(1), l, true, false))
            .collect();
        assert_eq!(sent, [Verdict::Done; 5]);
        assert!(again.end_pass().is_empty());

        let mut edited = Tracker::new(saved.clone());
        for (i, l) in lines.iter().enumerate() {
            let l = if i == 2 {
                b"edited".to_vec()
            } else {
                l.clone()
            };
            assert_eq!(edited.next(day(1), &l, true, false), Verdict::Done);
        }
        assert_eq!(edited.end_pass(), [day(1)].into());

        let mut shorter = Tracker::new(saved.clone());
        for l in &lines[..3] {
            assert_eq!(shorter.next(day(1), l, true, false), Verdict::Done);
        }
        assert_eq!(shorter.end_pass(), [day(1)].into());
        assert_eq!(
            shorter.next(day(1), &lines[0], true, false),
            Verdict::Send,
            "counted afresh"
        );

        let mut gone = Tracker::new(saved);
        assert!(gone.end_pass().is_empty());
    }

    #[test]
    fn a_record_outside_the_window_stops_the_mark_but_not_the_sending() {
        let mut t = Tracker::new(HashMap::new());
        assert_eq!(t.next(day(2), b"a", true, false), Verdict::Send);
        assert_eq!(t.next(day(2), b"b", false, false), Verdict::Outside);
        assert_eq!(t.next(day(2), b"c", true, false), Verdict::Send);
        let marks = t.take_marks();
        assert_eq!(marks, [(day(2), Mark::default().then(b"a"))]);
    }
}
