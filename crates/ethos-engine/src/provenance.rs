//! Where each prediction came from, and what was left out of a score.
//!
//! A filled VITAL file (see [`crate::batch::filled_file`]) carries, per record, besides the
//! prediction (`pred_distribution` / `output`):
//! - `pred_method` (multiple-choice records): how the distribution was produced, one of
//!   `logprobs`, `votes`, `sampling`, `verbalised` ([`crate::distribution::DistMethod`] in
//!   snake case), or `uniform_fallback` when no read found anything usable;
//! - `pred_error` (records whose run failed): the error, with the prediction null. Such records
//!   are left out of every score and counted as failed next to it; with the setting "score failed
//!   items as the reference does" ([`crate::attrition`]) the prediction is filled as the
//!   reference scores it instead (uniform distribution with `pred_method` `failed_uniform`, empty
//!   `output`), the `pred_error` kept.
//!
//! [`MethodCounts`] counts the methods of a set of predictions (records without `pred_method`
//! count as `unknown`), so that every aggregate can say "logprobs 98, votes 2, uniform
//! fallback 1" and whether its items mix methods.

use crate::distribution::DistMethod;
use crate::record::DistResult;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The filled file's per-record field naming how the prediction was produced.
pub const PRED_METHOD: &str = "pred_method";
/// The filled file's per-record field holding the error of a failed item (prediction null).
pub const PRED_ERROR: &str = "pred_error";
/// `pred_method` of a prediction that is the uniform distribution because nothing was read.
pub const UNIFORM_FALLBACK: &str = "uniform_fallback";
/// `pred_method` of a failed item scored with the uniform distribution, as the reference does.
pub const FAILED_UNIFORM: &str = "failed_uniform";
/// The count key of records that do not say how their prediction was produced.
pub const UNKNOWN: &str = "unknown";

/// The snake-case name of a distribution method, as `pred_method` writes it.
pub fn method_name(method: DistMethod) -> String {
    match serde_json::to_value(method) {
        Ok(serde_json::Value::String(s)) => s,
        _ => format!("{method:?}").to_lowercase(),
    }
}

/// How the prediction of a distribution result was produced: [`UNIFORM_FALLBACK`] when it has
/// reads and every one of them fell back to uniform, else the result's method.
pub fn pred_method(d: &DistResult) -> String {
    let mut reads = d.per_read.iter().flatten().peekable();
    if reads.peek().is_some() && reads.all(|r| r.uniform_fallback) {
        UNIFORM_FALLBACK.to_string()
    } else {
        method_name(d.method)
    }
}

/// Counts of predictions per method (`pred_method` value, or [`UNKNOWN`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MethodCounts(pub BTreeMap<String, usize>);

impl MethodCounts {
    /// Count one prediction; `None` (no method recorded) counts as [`UNKNOWN`].
    pub fn add(&mut self, method: Option<&str>) {
        *self
            .0
            .entry(method.unwrap_or(UNKNOWN).to_string())
            .or_default() += 1;
    }

    /// The predictions counted.
    pub fn total(&self) -> usize {
        self.0.values().sum()
    }

    /// True when the predictions were produced by more than one method (the uniform fallback and
    /// "unknown" count as methods of their own).
    pub fn is_mixed(&self) -> bool {
        self.0.values().filter(|n| **n > 0).count() > 1
    }

    /// E.g. "logprobs 98, votes 2, uniform fallback 1": the reference method first, the uniform
    /// fallback, failed items scored uniform and unknown last, the rest in between by name.
    pub fn describe(&self) -> String {
        let rank = |k: &str| match k {
            "logprobs" => 0,
            UNIFORM_FALLBACK => 2,
            FAILED_UNIFORM => 3,
            UNKNOWN => 4,
            _ => 1,
        };
        let mut list: Vec<(&String, &usize)> = self.0.iter().filter(|(_, n)| **n > 0).collect();
        list.sort_by_key(|(k, _)| (rank(k), k.as_str()));
        list.iter()
            .map(|(k, n)| format!("{} {n}", k.replace('_', " ")))
            .collect::<Vec<_>>()
            .join(", ")
    }
}
