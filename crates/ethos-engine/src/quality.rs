//! How well a model plays the method's parts, read off finished EthosAgents runs: does stage 1
//! give k different perspectives whose five dimensions hold values (not the field names), and do
//! the comments of choice items start with an option letter as asked. A model too small for the
//! method fails these before any score means anything (`ethos quality`, `bench/default_model/`).

use crate::persona::Perspective;
use crate::record::RunRecord;
use crate::settings::Method;
use crate::Mode;
use serde::Serialize;
use std::collections::HashSet;

/// Counts over a set of runs (baseline runs are left out: they have no perspectives).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Quality {
    /// EthosAgents runs read.
    pub runs: usize,
    /// Runs whose stage 1 gave k perspectives with k different names.
    pub runs_k_distinct: usize,
    pub perspectives: usize,
    /// Perspectives whose five dimensions all hold a value.
    pub perspectives_filled: usize,
    /// Comments written for items with options (Steerable, Distributional).
    pub choice_comments: usize,
    /// Of those, the comments that start with an option letter.
    pub choice_comments_lettered: usize,
    /// Finished runs (for the time per item).
    pub timed_runs: usize,
    /// Their time from start to finish, summed (seconds).
    pub seconds: f64,
}

/// `part / whole`, or None when there is no whole.
fn share(part: usize, whole: usize) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// k names that differ (ignoring case and the spaces around them).
fn k_distinct(perspectives: &[Perspective], k: usize) -> bool {
    let names: HashSet<String> = perspectives
        .iter()
        .map(|p| p.name.trim().to_lowercase())
        .filter(|n| !n.is_empty())
        .collect();
    perspectives.len() == k && names.len() == k
}

impl Quality {
    /// Count one run (a baseline run is skipped).
    pub fn add(&mut self, r: &RunRecord) {
        if r.method != Method::EthosAgents {
            return;
        }
        self.runs += 1;
        let ps = &r.perspectives.perspectives;
        if k_distinct(ps, r.settings.k) {
            self.runs_k_distinct += 1;
        }
        self.perspectives += ps.len();
        self.perspectives_filled += ps.iter().filter(|p| p.dims_filled()).count();
        if r.mode() != Mode::Overton {
            for c in r.comments.iter().flatten().filter(|c| c.error.is_none()) {
                self.choice_comments += 1;
                if c.letter.is_some() {
                    self.choice_comments_lettered += 1;
                }
            }
        }
        if let Some(end) = r.finished_ms {
            if end.is_finite() && r.created_ms.is_finite() && end >= r.created_ms {
                self.timed_runs += 1;
                self.seconds += (end - r.created_ms) / 1000.0;
            }
        }
    }

    pub fn of<'a>(records: impl IntoIterator<Item = &'a RunRecord>) -> Quality {
        let mut q = Quality::default();
        for r in records {
            q.add(r);
        }
        q
    }

    /// Share of runs with k distinct perspective names.
    pub fn k_distinct_share(&self) -> Option<f64> {
        share(self.runs_k_distinct, self.runs)
    }

    /// Share of perspectives whose five dimensions hold values.
    pub fn filled_share(&self) -> Option<f64> {
        share(self.perspectives_filled, self.perspectives)
    }

    /// Share of choice comments that start with an option letter.
    pub fn lettered_share(&self) -> Option<f64> {
        share(self.choice_comments_lettered, self.choice_comments)
    }

    /// Mean seconds from a run's start to its finish.
    pub fn seconds_per_run(&self) -> Option<f64> {
        (self.timed_runs > 0).then(|| self.seconds / self.timed_runs as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::CommentRecord;
    use crate::settings::RunSettings;
    use crate::vital::Item;

    fn perspective(name: &str, dims: [&str; 5]) -> Perspective {
        Perspective {
            raw: String::new(),
            name: name.into(),
            core_value: dims[0].into(),
            framework: dims[1].into(),
            right_duty: dims[2].into(),
            emotion: dims[3].into(),
            stakeholder: dims[4].into(),
        }
    }

    fn comment(i: usize, letter: Option<char>) -> Option<CommentRecord> {
        Some(CommentRecord {
            index: i,
            perspective: String::new(),
            call_id: None,
            raw: String::new(),
            cleaned: String::new(),
            letter,
            edited: false,
            error: None,
        })
    }

    fn run(options: bool, ps: Vec<Perspective>, k: usize) -> RunRecord {
        let item = if options {
            Item::custom("q", "Share records?", &["Yes".into(), "No".into()], None).expect("item")
        } else {
            Item::Overton(crate::vital::OvertonItem {
                id: crate::vital::ItemId::Str("o".into()),
                situation: "Share records?".into(),
                vrd: Vec::new(),
                explanation: Vec::new(),
                input: "Share records?".into(),
                output: None,
            })
        };
        let mut settings = RunSettings::with_model("m");
        settings.k = k;
        let mut r = RunRecord::new(item, settings, Method::EthosAgents);
        r.perspectives.perspectives = ps;
        r
    }

    #[test]
    fn field_names_and_placeholders_are_not_values() {
        let good = perspective("Nurse", ["Care", "Care ethics", "Duty of care", "Worry", "Patient"]);
        assert!(good.dims_filled());
        // What SmolLM2-135M wrote: the field names as values.
        let names = perspective("Me", ["Ethical Framework", "Core value", "Right/Duty", "Emotion", "Stakeholder"]);
        assert!(!names.dims_filled());
        let placeholder = perspective("Nurse", ["Care", "N/A", "Duty of care", "Worry", "Patient"]);
        assert!(!placeholder.dims_filled());
        let empty = perspective("Nurse", ["Care", "", "Duty of care", "Worry", "Patient"]);
        assert!(!empty.dims_filled());
        let dots = perspective("Nurse", ["Care", "…", "Duty of care", "Worry", "Patient"]);
        assert!(!dots.dims_filled());
    }

    #[test]
    fn counts_distinct_names_filled_fields_letters_and_time() {
        let dims = ["Care", "Care ethics", "Duty of care", "Worry", "Patient"];
        let mut a = run(true, vec![perspective("Nurse", dims), perspective("Doctor", dims)], 2);
        a.comments = vec![comment(0, Some('A')), comment(1, None)];
        a.created_ms = 1000.0;
        a.finished_ms = Some(5000.0);
        // Same name twice (case and spaces differ): not k distinct; one field is a field name.
        let b = run(
            true,
            vec![
                perspective("Me", dims),
                perspective(" me ", ["Care", "Emotion", "Duty of care", "Worry", "Patient"]),
            ],
            2,
        );
        // Fewer perspectives than k; an Overton item's comments have no letters to count.
        let mut c = run(false, vec![perspective("Nurse", dims)], 2);
        c.comments = vec![comment(0, None), None];
        c.created_ms = 0.0;
        c.finished_ms = Some(2000.0);
        let mut baseline = run(true, Vec::new(), 2);
        baseline.method = Method::Vanilla;
        let q = Quality::of([&a, &b, &c, &baseline]);
        assert_eq!(q.runs, 3);
        assert_eq!(q.runs_k_distinct, 1);
        assert_eq!(q.perspectives, 5);
        assert_eq!(q.perspectives_filled, 4);
        assert_eq!((q.choice_comments, q.choice_comments_lettered), (2, 1));
        assert_eq!(q.k_distinct_share(), Some(1.0 / 3.0));
        assert_eq!(q.filled_share(), Some(0.8));
        assert_eq!(q.lettered_share(), Some(0.5));
        assert_eq!(q.seconds_per_run(), Some(3.0));
        assert_eq!(Quality::default().filled_share(), None);
    }
}
