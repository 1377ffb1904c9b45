//! Small formatting rules shared by the Markdown and CSV exports.

use super::*;

/// Quote a CSV field when needed (RFC 4180).
pub(super) fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

pub(super) fn csv_row(fields: &[String]) -> String {
    let mut row = fields
        .iter()
        .map(|f| csv_field(f))
        .collect::<Vec<_>>()
        .join(",");
    row.push_str("\r\n");
    row
}

pub(super) fn fmt_prob(p: f64) -> String {
    format!("{p:.4}")
}

pub(super) fn opt_bool(b: Option<bool>) -> String {
    b.map(yes_no).unwrap_or_default()
}

/// "yes" or "no".
pub(super) fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_string()
}

/// Markdown-safe inline text: one line, pipes escaped (for tables).
pub(super) fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\r', '\n'], " ")
}

/// A Markdown block quote of possibly multi-line text.
pub(super) fn md_quote(s: &str) -> String {
    s.lines()
        .map(|l| format!("> {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

pub(super) fn status_label(s: &RunStatus) -> String {
    match s {
        RunStatus::NotStarted => "not started".into(),
        RunStatus::Running => "running".into(),
        RunStatus::Partial => "partial (no result yet)".into(),
        RunStatus::Done => "done".into(),
        RunStatus::Cancelled => "cancelled".into(),
        RunStatus::Failed { message } => format!("failed: {message}"),
    }
}

pub(super) fn method_label(m: DistMethod) -> &'static str {
    match m {
        DistMethod::Logprobs => "next-token logprobs (reference)",
        DistMethod::Votes => "votes of the comments' leading letters",
        DistMethod::Sampling => "repeated sampling",
        DistMethod::Verbalised => "verbalised percentages",
    }
}

/// The score columns of one result as CSV cells (empty where the mode has no such score): the
/// run summary and the benchmark's per-item scores write the same cells, each file with its own
/// way of writing a yes/no (`bool_cell`).
#[derive(Default)]
pub(crate) struct ScoreCells {
    pub js: String,
    pub argmax_match: String,
    pub correct_reference: String,
    pub correct_strict: String,
    pub coverage: String,
    pub estimator: String,
}

impl ScoreCells {
    pub fn of(result: Option<&RunResult>, bool_cell: fn(bool) -> String) -> Self {
        let mut c = Self::default();
        match result {
            Some(RunResult::Distribution(d)) => {
                c.js = d.js.map(|x| format!("{x}")).unwrap_or_default();
                c.argmax_match = d.argmax_match.map(bool_cell).unwrap_or_default();
            }
            Some(RunResult::Value(v)) => {
                c.correct_reference = bool_cell(v.correct_reference);
                c.correct_strict = bool_cell(v.correct_strict);
            }
            Some(RunResult::Overton(o)) => {
                if let Some(j) = &o.coverage {
                    c.coverage = format!("{}", j.item_score);
                    c.estimator = j.estimator.label().to_string();
                }
            }
            None => {}
        }
        c
    }
}
