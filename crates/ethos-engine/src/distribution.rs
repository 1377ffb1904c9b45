//! Reading option distributions: the reference top-logprobs letter mapping and the fallbacks.
//! OWNER: engine-functions helper. Signatures are shared with the pipeline; keep them.

use crate::chat::TokenLogprob;
use serde::{Deserialize, Serialize};

/// How a distribution was obtained. Every chart and export is labelled with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DistMethod {
    /// Next-token top-logprobs at the answer position (the reference method).
    Logprobs,
    /// The option letters the k comments start with, one vote each.
    Votes,
    /// Frequencies of the letter over n sampled answers.
    Sampling,
    /// The model states percentages as JSON.
    Verbalised,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Distribution {
    pub probs: Vec<f64>,
    pub method: DistMethod,
    /// True when nothing usable was found and the uniform distribution was used.
    pub uniform_fallback: bool,
}

/// Reference mapping: for each option letter the probability of the first top-token whose trimmed
/// text equals the capital letter; renormalise over options; uniform if no letter was found.
pub fn from_top_logprobs(top: &[TokenLogprob], n_options: usize) -> Distribution {
    let _ = top;
    uniform(n_options, DistMethod::Logprobs)
}

/// Votes: each comment's leading option letter is one vote.
pub fn from_votes(letters: &[Option<char>], n_options: usize) -> Distribution {
    let _ = letters;
    uniform(n_options, DistMethod::Votes)
}

/// Sampling: frequency of each letter over sampled answers (read with [`leading_letter`]).
pub fn from_samples(texts: &[String], n_options: usize) -> Distribution {
    let _ = texts;
    uniform(n_options, DistMethod::Sampling)
}

/// Verbalised: parse a JSON object of option → percentage (letters as keys).
pub fn from_verbalised(text: &str, n_options: usize) -> Result<Distribution, String> {
    let _ = text;
    Ok(uniform(n_options, DistMethod::Verbalised))
}

/// The option letter an answer or comment starts with (after whitespace, quotes, `(`, `**`).
pub fn leading_letter(text: &str, n_options: usize) -> Option<char> {
    let _ = (text, n_options);
    None
}

/// Unweighted mean of distributions of equal length.
pub fn mean(dists: &[Vec<f64>]) -> Vec<f64> {
    let _ = dists;
    Vec::new()
}

pub fn uniform(n_options: usize, method: DistMethod) -> Distribution {
    let n = n_options.max(1);
    Distribution { probs: vec![1.0 / n as f64; n], method, uniform_fallback: true }
}
