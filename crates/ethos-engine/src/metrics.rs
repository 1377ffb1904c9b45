//! Metrics, exactly as spec/evaluation.md defines them. OWNER: engine-functions helper.

use serde::{Deserialize, Serialize};

/// Jensen–Shannon distance, natural log, SciPy semantics (normalise, no smoothing).
pub fn js_distance(p: &[f64], q: &[f64]) -> f64 {
    let _ = (p, q);
    0.0
}

/// Index of the maximum, ties broken toward the first.
pub fn argmax_first(p: &[f64]) -> usize {
    let _ = p;
    0
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DistScores {
    pub records: usize,
    pub mean_js: f64,
    pub most_likely: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValueScores {
    pub records: usize,
    pub accuracy: f64,
    pub balanced_accuracy: f64,
    pub macro_f1: f64,
    pub binary_accuracy: f64,
    pub binary_records: usize,
}
