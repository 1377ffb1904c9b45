//! CSV exports: every call of one run, and one summary row per run.

use super::export::*;
use super::*;

impl RunRecord {
    /// Every call of the run as CSV, one row per call (with the rendered prompt and raw reply).
    pub fn to_csv(&self) -> String {
        let mut out = csv_row(
            &[
                "item_id",
                "method",
                "call",
                "stage",
                "sample",
                "model",
                "attempt",
                "started_ms",
                "duration_ms",
                "prompt_tokens",
                "completion_tokens",
                "error",
                "prompt",
                "reply",
            ]
            .iter()
            .chain(&crate::poll::CSV_HEADS)
            .map(|h| h.to_string())
            .collect::<Vec<_>>(),
        );
        let poll = crate::poll::csv_fields(self);
        for c in &self.calls {
            let prompt = c
                .request
                .messages
                .iter()
                .map(|m| m.content.as_str())
                .collect::<Vec<_>>()
                .join("\n\n");
            out.push_str(&csv_row(&[
                self.item.id().to_string(),
                self.method.label().to_string(),
                c.id.to_string(),
                c.stage.label(),
                c.sample.map(|s| s.to_string()).unwrap_or_default(),
                c.model.clone(),
                c.attempt.to_string(),
                format!("{}", c.started_ms),
                c.duration_ms.map(|d| format!("{d}")).unwrap_or_default(),
                c.usage
                    .as_ref()
                    .map(|u| u.prompt_tokens.to_string())
                    .unwrap_or_default(),
                c.usage
                    .as_ref()
                    .map(|u| u.completion_tokens.to_string())
                    .unwrap_or_default(),
                c.error.as_ref().map(|e| e.to_string()).unwrap_or_default(),
                prompt,
                c.reply.clone().unwrap_or_default(),
                poll[0].clone(),
                poll[1].clone(),
                poll[2].clone(),
                poll[3].clone(),
            ]));
        }
        out
    }
}

/// One row per record: the scores and the settings that decide them.
pub fn summary_csv(records: &[RunRecord]) -> String {
    let mut out = csv_row(
        &[
            "item_id",
            "source",
            "mode",
            "method",
            "status",
            "models",
            "k",
            "distribution_setting",
            "distribution_method",
            "js_distance",
            "argmax_match",
            "correct_reference",
            "correct_strict",
            "coverage",
            "coverage_estimator",
            "calls",
            "prompt_tokens",
            "completion_tokens",
            "preset",
        ]
        .iter()
        .chain(&crate::poll::CSV_HEADS)
        .map(|h| h.to_string())
        .collect::<Vec<_>>(),
    );
    for r in records {
        let m = &r.settings.models;
        let models = if m.is_single() {
            m.combine.clone()
        } else {
            format!("{} / {} / {}", m.perspectives, m.comments, m.combine)
        };
        let method = match &r.result {
            Some(RunResult::Distribution(d)) => format!("{:?}", d.method).to_lowercase(),
            _ => String::new(),
        };
        let cells = ScoreCells::of(r.result.as_ref(), yes_no);
        out.push_str(&csv_row(
            &[
                r.item.id().to_string(),
                r.item.source().label().to_string(),
                r.mode().label().to_string(),
                r.method.label().to_string(),
                status_label(&r.status),
                models,
                r.settings.k.to_string(),
                r.settings.distribution.label(),
                method,
                cells.js,
                cells.argmax_match,
                cells.correct_reference,
                cells.correct_strict,
                cells.coverage,
                cells.estimator,
                r.totals.calls.to_string(),
                r.totals.prompt_tokens.to_string(),
                r.totals.completion_tokens.to_string(),
                crate::reference::preset_summary(&r.settings).unwrap_or_default(),
            ]
            .into_iter()
            .chain(crate::poll::csv_fields(r))
            .collect::<Vec<_>>(),
        ));
    }
    out
}
