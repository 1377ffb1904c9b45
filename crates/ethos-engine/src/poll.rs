//! Class poll: a teacher types how many students chose each option of a multiple-choice
//! question; the counts become a human distribution, "Class (N votes)", drawn beside the model's
//! prediction and (where the item has one) the survey population's, with the Jensen–Shannon
//! distances between them. The poll is part of the run record ([`crate::record::RunRecord::poll`]),
//! so it is saved, exported and shared with the run.

use crate::metrics::try_js_distance;
use crate::record::{RunRecord, RunResult};
use crate::vital::{Item, Source, LETTERS};
use serde::{Deserialize, Serialize};

/// The most votes one option may have (a class, or a whole school, is far below this).
pub const MAX_VOTES_PER_OPTION: u64 = 1_000_000;

/// Votes per option, in option order (A, B, …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassPoll {
    pub votes: Vec<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PollError {
    #[error("The votes for option {letter} must be a whole number (0, 1, 2, …), not {text:?}.")]
    NotWhole { letter: char, text: String },
    #[error("The votes for option {letter} cannot be negative ({text}).")]
    Negative { letter: char, text: String },
    #[error(
        "The votes for option {letter} ({text}) are more than {MAX_VOTES_PER_OPTION}: type the \
         number of students who chose it."
    )]
    TooMany { letter: char, text: String },
    #[error("Type at least one vote: every option has 0.")]
    NoVotes,
    #[error("The poll has {got} counts but the question has {options} options.")]
    Length { got: usize, options: usize },
    #[error(
        "This scenario has no options to vote on (a class poll needs a multiple-choice question)."
    )]
    NoOptions,
}

fn letter(i: usize) -> char {
    LETTERS.get(i).copied().unwrap_or('?')
}

impl ClassPoll {
    /// Read the counts a teacher typed, one text per option: blank means 0; anything else must
    /// be a whole number from 0 to [`MAX_VOTES_PER_OPTION`]; at least one vote in all.
    pub fn parse<S: AsRef<str>>(inputs: &[S]) -> Result<ClassPoll, PollError> {
        if inputs.is_empty() {
            return Err(PollError::NoOptions);
        }
        let mut votes = Vec::with_capacity(inputs.len());
        for (i, raw) in inputs.iter().enumerate() {
            let text = raw.as_ref().trim();
            let bad = |make: fn(char, String) -> PollError| make(letter(i), text.to_string());
            if text.is_empty() {
                votes.push(0);
                continue;
            }
            let digits = text.strip_prefix('+').unwrap_or(text);
            if let Some(rest) = text.strip_prefix('-') {
                // "-0" is still not a count a teacher means; say it is negative if it is a number.
                return Err(
                    if !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()) {
                        bad(|letter, text| PollError::Negative { letter, text })
                    } else {
                        bad(|letter, text| PollError::NotWhole { letter, text })
                    },
                );
            }
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad(|letter, text| PollError::NotWhole { letter, text }));
            }
            match digits.parse::<u64>() {
                Ok(n) if n <= MAX_VOTES_PER_OPTION => votes.push(n),
                // Too many digits for u64, or over the cap.
                _ => return Err(bad(|letter, text| PollError::TooMany { letter, text })),
            }
        }
        let poll = ClassPoll { votes };
        poll.validate(inputs.len())?;
        Ok(poll)
    }

    /// Check a poll (typed, or read from a file or link) against a question with `options`
    /// options.
    pub fn validate(&self, options: usize) -> Result<(), PollError> {
        if options == 0 {
            return Err(PollError::NoOptions);
        }
        if self.votes.len() != options {
            return Err(PollError::Length {
                got: self.votes.len(),
                options,
            });
        }
        if let Some((i, v)) = self
            .votes
            .iter()
            .enumerate()
            .find(|(_, v)| **v > MAX_VOTES_PER_OPTION)
        {
            return Err(PollError::TooMany {
                letter: letter(i),
                text: v.to_string(),
            });
        }
        if self.total() == 0 {
            return Err(PollError::NoVotes);
        }
        Ok(())
    }

    pub fn total(&self) -> u64 {
        self.votes.iter().fold(0u64, |a, v| a.saturating_add(*v))
    }

    /// Each option's share of the votes (all 0 when there are none).
    pub fn distribution(&self) -> Vec<f64> {
        let total = self.total();
        self.votes
            .iter()
            .map(|v| {
                if total == 0 {
                    0.0
                } else {
                    *v as f64 / total as f64
                }
            })
            .collect()
    }

    /// "Class (28 votes)": the series name in charts, tables and exports.
    pub fn label(&self) -> String {
        let n = self.total();
        format!("Class ({n} vote{})", if n == 1 { "" } else { "s" })
    }
}

/// What an item's own human distribution is, for a legend: a survey population (OpinionQA,
/// GlobalOpinionQA), MoralChoice's annotation (not survey data), or the shares a user typed
/// with a question of their own. None when the item has no distribution.
pub fn reference_label(item: &Item) -> Option<&'static str> {
    item.gold_distribution()?;
    Some(match item.source() {
        Source::OpinionQa | Source::GlobalOpinionQa => "Survey population",
        Source::MoralChoice => "Gold (annotation, not a survey)",
        Source::Custom => "People (the shares you typed)",
        Source::OvertonValueKaleidoscope | Source::SteerableValueKaleidoscope => "Gold",
    })
}

/// Jensen–Shannon distances (natural log) between the model's prediction, the class and the
/// item's survey (or gold) distribution; None where a side is missing.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PollScores {
    pub model_class: Option<f64>,
    pub model_survey: Option<f64>,
    pub class_survey: Option<f64>,
}

/// The distances of a record with a class poll (None without a poll). The model side needs a
/// distributional result; the survey side needs the item's distribution.
pub fn scores(record: &RunRecord) -> Option<PollScores> {
    let class = record.poll.as_ref()?.distribution();
    let model = match &record.result {
        Some(RunResult::Distribution(d)) => Some(d.distribution.as_slice()),
        _ => None,
    };
    let survey = record.item.gold_distribution();
    let js = |a: Option<&[f64]>, b: Option<&[f64]>| try_js_distance(a?, b?);
    Some(PollScores {
        model_class: js(model, Some(&class)),
        model_survey: js(model, survey),
        class_survey: js(Some(&class), survey),
    })
}

fn share(v: Option<&[f64]>, i: usize) -> String {
    v.and_then(|v| {
        let sum: f64 = v.iter().filter(|x| x.is_finite() && **x > 0.0).sum();
        v.get(i)
            .filter(|_| sum > 0.0)
            .map(|x| format!("{:.1}%", x.max(0.0) / sum * 100.0))
    })
    .unwrap_or_default()
}

fn fmt_js(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.4}")).unwrap_or_default()
}

/// The class poll section of the Markdown report (empty without a poll).
pub(crate) fn markdown(record: &RunRecord) -> String {
    let (Some(poll), Some(s)) = (&record.poll, scores(record)) else {
        return String::new();
    };
    let model = match &record.result {
        Some(RunResult::Distribution(d)) => Some(d.distribution.as_slice()),
        _ => None,
    };
    let survey = record.item.gold_distribution();
    let survey_name = reference_label(&record.item);
    let mut md = format!(
        "\n## Class poll: {}\n\n| option | | votes | class | model |{}\n|---|---|---|---|---|{}\n",
        poll.label(),
        survey_name.map(|n| format!(" {n} |")).unwrap_or_default(),
        if survey.is_some() { "---|" } else { "" }
    );
    let class = poll.distribution();
    for (i, o) in record.item.options().iter().enumerate() {
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} |{}\n",
            letter(i),
            o.replace('|', "\\|").replace(['\r', '\n'], " "),
            poll.votes.get(i).copied().unwrap_or(0),
            share(Some(&class), i),
            share(model, i),
            survey
                .map(|g| format!(" {} |", share(Some(g), i)))
                .unwrap_or_default()
        ));
    }
    md.push_str("\nJensen–Shannon distance (natural log; 0 = identical, 0.833 = opposite):\n\n");
    for (name, v) in [
        ("model ↔ class", s.model_class),
        ("model ↔ survey", s.model_survey),
        ("class ↔ survey", s.class_survey),
    ] {
        if let Some(v) = v {
            let name = name.replace("survey", survey_name.unwrap_or("survey"));
            md.push_str(&format!("- **{name}:** {v:.4}\n"));
        }
    }
    md
}

/// The header of the poll columns in the CSV exports.
pub(crate) const CSV_HEADS: [&str; 4] = [
    "class_votes",
    "js_model_class",
    "js_model_survey",
    "js_class_survey",
];

/// The poll columns of a record's CSV rows ("A=12;B=5", then the distances); empty without a poll.
pub(crate) fn csv_fields(record: &RunRecord) -> [String; 4] {
    let Some(poll) = &record.poll else {
        return Default::default();
    };
    let s = scores(record).unwrap_or_default();
    let votes = poll
        .votes
        .iter()
        .enumerate()
        .map(|(i, v)| format!("{}={v}", letter(i)))
        .collect::<Vec<_>>()
        .join(";");
    [
        votes,
        fmt_js(s.model_class),
        fmt_js(s.model_survey),
        fmt_js(s.class_survey),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_reads_counts_and_blanks() {
        let p = ClassPoll::parse(&["12", " 5 ", "", "+3"]).unwrap();
        assert_eq!(p.votes, vec![12, 5, 0, 3]);
        assert_eq!(p.total(), 20);
        assert_eq!(p.label(), "Class (20 votes)");
        assert_eq!(p.distribution(), vec![0.6, 0.25, 0.0, 0.15]);
        assert_eq!(
            ClassPoll::parse(&["1", "0"]).unwrap().label(),
            "Class (1 vote)"
        );
    }

    #[test]
    fn parse_says_what_is_wrong() {
        let e = |inputs: &[&str]| ClassPoll::parse(inputs).unwrap_err();
        assert_eq!(
            e(&["3", "2.5"]),
            PollError::NotWhole {
                letter: 'B',
                text: "2.5".into()
            }
        );
        assert_eq!(
            e(&["-4", "1"]),
            PollError::Negative {
                letter: 'A',
                text: "-4".into()
            }
        );
        assert!(matches!(
            e(&["1", "-"]),
            PollError::NotWhole { letter: 'B', .. }
        ));
        assert!(matches!(e(&["1", "-x"]), PollError::NotWhole { .. }));
        assert!(matches!(e(&["1", "+"]), PollError::NotWhole { .. }));
        assert!(matches!(e(&["1", "٣"]), PollError::NotWhole { .. }));
        assert!(matches!(e(&["1", "1e3"]), PollError::NotWhole { .. }));
        assert!(matches!(
            e(&["99999999999999999999999", "1"]),
            PollError::TooMany { letter: 'A', .. }
        ));
        assert!(matches!(e(&["1000001"]), PollError::TooMany { .. }));
        assert_eq!(e(&["0", "", " "]), PollError::NoVotes);
        assert_eq!(e(&[]), PollError::NoOptions);
        assert!(e(&["x"]).to_string().contains("whole number"));
        assert!(e(&["0"]).to_string().contains("at least one vote"));
    }

    #[test]
    fn validate_checks_length_and_caps() {
        let p = ClassPoll { votes: vec![1, 2] };
        assert!(p.validate(2).is_ok());
        assert_eq!(p.validate(3), Err(PollError::Length { got: 2, options: 3 }));
        assert_eq!(p.validate(0), Err(PollError::NoOptions));
        let huge = ClassPoll {
            votes: vec![u64::MAX, u64::MAX],
        };
        assert!(matches!(huge.validate(2), Err(PollError::TooMany { .. })));
        assert_eq!(huge.total(), u64::MAX, "the sum saturates");
    }
}
