//! Reading option distributions: the reference top-logprobs letter mapping and the fallbacks.

use crate::chat::TokenLogprob;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::vital::LETTERS;

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

impl DistMethod {
    pub fn label(self) -> &'static str {
        match self {
            DistMethod::Logprobs => "first-token logprobs (reference)",
            DistMethod::Votes => "votes of the comments' option letters",
            DistMethod::Sampling => "repeated sampling",
            DistMethod::Verbalised => "verbalised percentages",
        }
    }
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
///
/// Options beyond the fifth have no letter and get probability 0. Logprobs are clamped to ≤ 0;
/// NaN counts as probability 0. If the list is not sorted best-first, the most probable matching
/// token counts (on a sorted list that is the first one, as in the reference).
pub fn from_top_logprobs(top: &[TokenLogprob], n_options: usize) -> Distribution {
    let n = n_options.max(1);
    let mut probs = vec![0.0; n];
    for (slot, letter) in probs.iter_mut().zip(LETTERS) {
        let mut buf = [0u8; 4];
        let letter: &str = letter.encode_utf8(&mut buf);
        // The reference takes the first match in a best-first list, i.e. the most probable
        // one; taking the maximum gives the same on sorted lists and stays right on unsorted.
        let best = top
            .iter()
            .filter(|t| t.token.trim() == letter)
            .map(|t| {
                if t.logprob.is_nan() {
                    0.0
                } else {
                    t.logprob.min(0.0).exp()
                }
            })
            .fold(None, |acc: Option<f64>, p| {
                Some(acc.map_or(p, |a| a.max(p)))
            });
        if let Some(p) = best {
            *slot = p;
        }
    }
    normalised_or_uniform(probs, DistMethod::Logprobs)
}

/// The same mapping over the whole vocabulary: `raw[i]` is the probability of option letter i's
/// most probable token (a model that sees the full next-token distribution gives it).
/// Renormalised over the options; uniform (flagged) when none has any probability.
pub fn from_letter_probs(raw: &[f64], n_options: usize) -> Distribution {
    let n = n_options.max(1);
    let probs = (0..n)
        .map(|i| {
            raw.get(i)
                .copied()
                .filter(|p| p.is_finite() && *p > 0.0)
                .unwrap_or(0.0)
        })
        .collect();
    normalised_or_uniform(probs, DistMethod::Logprobs)
}

/// Votes: each comment's leading option letter is one vote. Letters outside the options (or
/// `None`) are not counted; with no valid vote the result is uniform and flagged.
pub fn from_votes(letters: &[Option<char>], n_options: usize) -> Distribution {
    counts_to_distribution(letters.iter().copied(), n_options, DistMethod::Votes)
}

/// Sampling: frequency of each letter over sampled answers (read with [`leading_letter`]).
pub fn from_samples(texts: &[String], n_options: usize) -> Distribution {
    counts_to_distribution(
        texts.iter().map(|t| leading_letter(t, n_options)),
        n_options,
        DistMethod::Sampling,
    )
}

fn counts_to_distribution(
    letters: impl Iterator<Item = Option<char>>,
    n_options: usize,
    method: DistMethod,
) -> Distribution {
    let n = n_options.max(1);
    let mut counts = vec![0.0; n];
    for c in letters.flatten() {
        if let Some(i) = letter_index(c) {
            if let Some(slot) = counts.get_mut(i) {
                *slot += 1.0;
            }
        }
    }
    normalised_or_uniform(counts, method)
}

fn letter_index(c: char) -> Option<usize> {
    LETTERS.iter().position(|l| *l == c.to_ascii_uppercase())
}

fn normalised_or_uniform(mut probs: Vec<f64>, method: DistMethod) -> Distribution {
    let sum: f64 = probs.iter().sum();
    if sum > 0.0 && sum.is_finite() {
        probs.iter_mut().for_each(|p| *p /= sum);
        Distribution {
            probs,
            method,
            uniform_fallback: false,
        }
    } else {
        uniform(probs.len(), method)
    }
}

/// Verbalised: parse a JSON object of option → percentage (letters as keys).
///
/// Same as [`from_verbalised_with_options`] without option texts.
pub fn from_verbalised(text: &str, n_options: usize) -> Result<Distribution, String> {
    from_verbalised_impl(text, n_options, &[])
}

/// Verbalised, also accepting the option texts as keys. Tolerates code fences and text around
/// the JSON, keys like "A", "A.", "(A)", "Option A" or the option text (case-insensitive),
/// values as numbers or strings like "45%" or "0.45", percentages or fractions (the result is
/// renormalised), an object wrapped in one more object (`{"distribution": {…}}`), and a plain
/// array of n numbers. Missing options get 0. Errors say what was wrong.
pub fn from_verbalised_with_options(
    text: &str,
    options: &[String],
) -> Result<Distribution, String> {
    from_verbalised_impl(text, options.len(), options)
}

fn from_verbalised_impl(
    text: &str,
    n_options: usize,
    options: &[String],
) -> Result<Distribution, String> {
    let n = n_options.max(1);
    let value = find_json(text)
        .ok_or_else(|| "the reply contains no JSON object with option percentages".to_string())?;
    let probs = read_value(&value, n, options, 0)?;
    if probs.iter().any(|p| *p < 0.0) {
        return Err("the reply gives a negative percentage".into());
    }
    let sum: f64 = probs.iter().sum();
    if !(sum > 0.0 && sum.is_finite()) {
        return Err("the percentages in the reply are all zero".into());
    }
    Ok(Distribution {
        probs: probs.iter().map(|p| p / sum).collect(),
        method: DistMethod::Verbalised,
        uniform_fallback: false,
    })
}

/// The first JSON object or array in a text (after code fences, with text around it).
pub(crate) fn find_json(text: &str) -> Option<Value> {
    // Try at most 64 candidate starts, so odd replies cannot make this quadratic.
    for (i, _) in text
        .char_indices()
        .filter(|(_, c)| *c == '{' || *c == '[')
        .take(64)
    {
        {
            let mut stream = serde_json::Deserializer::from_str(&text[i..]).into_iter::<Value>();
            if let Some(Ok(v)) = stream.next() {
                if v.is_object() || v.is_array() {
                    return Some(v);
                }
            }
        }
    }
    None
}

fn read_value(
    value: &Value,
    n: usize,
    options: &[String],
    depth: usize,
) -> Result<Vec<f64>, String> {
    match value {
        Value::Array(arr) => {
            if arr.len() == n {
                if let Some(nums) = arr.iter().map(marked_number).collect::<Option<Vec<_>>>() {
                    return Ok(to_fractions(nums));
                }
            }
            // An array holding one object (e.g. `[{"A": 40, …}]`).
            if depth == 0 {
                if let Some(obj) = arr.iter().find(|v| v.is_object()) {
                    return read_value(obj, n, options, depth + 1);
                }
            }
            Err(format!("the reply's JSON array is not {n} numbers"))
        }
        Value::Object(map) => {
            let mut probs = vec![(0.0, false); n];
            let mut found = false;
            for (key, v) in map {
                let Some(i) = key_index(key, n, options) else {
                    continue;
                };
                let Some(x) = marked_number(v) else {
                    return Err(format!("the value for option {key:?} is not a number"));
                };
                if let Some(slot) = probs.get_mut(i) {
                    *slot = x;
                    found = true;
                }
            }
            if found {
                return Ok(to_fractions(probs));
            }
            if depth < 2 {
                for v in map.values() {
                    if v.is_object() || v.is_array() {
                        if let Ok(p) = read_value(v, n, options, depth + 1) {
                            return Ok(p);
                        }
                    }
                }
            }
            Err(format!(
                "the reply's JSON has no keys naming the options (expected {})",
                expected_keys(n)
            ))
        }
        _ => Err("the reply's JSON is not an object".into()),
    }
}

fn expected_keys(n: usize) -> String {
    LETTERS
        .iter()
        .take(n)
        .map(|l| format!("\"{l}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

fn key_index(key: &str, n: usize, options: &[String]) -> Option<usize> {
    let k = key.trim();
    let lower = k.to_lowercase();
    let stripped = lower
        .strip_prefix("option")
        .or_else(|| lower.strip_prefix("answer"))
        .unwrap_or(&lower)
        .trim_matches(|c: char| {
            c.is_whitespace() || matches!(c, '(' | ')' | '.' | ':' | '[' | ']' | '*')
        });
    let mut chars = stripped.chars();
    if let (Some(c), None) = (chars.next(), chars.next()) {
        if let Some(i) = letter_index(c) {
            return (i < n).then_some(i);
        }
    }
    let norm = |s: &str| s.trim().trim_end_matches('.').to_lowercase();
    options
        .iter()
        .position(|o| norm(o) == norm(k))
        .filter(|i| *i < n)
}

/// A number, or a string like "45%" / "0.45". A value marked with `%` is divided by 100 here;
/// other values are returned as they are, with a flag saying whether they were marked.
fn marked_number(v: &Value) -> Option<(f64, bool)> {
    let (x, pct) = match v {
        Value::Number(n) => (n.as_f64()?, false),
        Value::String(s) => {
            let t = s.trim();
            let pct = t.ends_with('%');
            (t.trim_end_matches('%').trim().parse::<f64>().ok()?, pct)
        }
        _ => return None,
    };
    x.is_finite()
        .then_some(if pct { (x / 100.0, true) } else { (x, false) })
}

/// Put values on one scale: `%`-marked values are fractions already; unmarked values are
/// percentages if any of them exceeds 1, else fractions.
fn to_fractions(values: Vec<(f64, bool)>) -> Vec<f64> {
    let percent_scale = values.iter().any(|(x, pct)| !pct && *x > 1.0);
    values
        .into_iter()
        .map(|(x, pct)| if !pct && percent_scale { x / 100.0 } else { x })
        .collect()
}

/// The option letter an answer or comment starts with (after whitespace, quotes, `(`, `**`).
///
/// Also skips a leading "Answer:", "Option" or "The answer is". The letter must be a capital
/// among the first `n_options` letters and must not be followed by another letter or digit
/// ("As a nurse" is not A).
pub fn leading_letter(text: &str, n_options: usize) -> Option<char> {
    let skip = |s: &str| -> String {
        let mut s = s.trim_start().to_string();
        loop {
            let before = s.len();
            s = s
                .trim_start_matches(['(', '[', '*', '_', '"', '\'', '“', '‘', '`', '#', '>'])
                .trim_start()
                .to_string();
            for prefix in [
                "the answer is",
                "my answer is",
                "answer:",
                "answer is",
                "option",
            ] {
                if s.len() >= prefix.len()
                    && s.is_char_boundary(prefix.len())
                    && s[..prefix.len()].eq_ignore_ascii_case(prefix)
                {
                    s = s[prefix.len()..].trim_start().to_string();
                }
            }
            if s.len() == before {
                return s;
            }
        }
    };
    let s = skip(text);
    let mut chars = s.chars();
    let letter = chars.next()?;
    let i = LETTERS.iter().position(|l| *l == letter)?;
    if i >= n_options {
        return None;
    }
    match chars.next() {
        Some(c) if c.is_alphanumeric() => None,
        _ => Some(letter),
    }
}

/// Unweighted mean of distributions of equal length. Empty input gives an empty vector; if the
/// lengths differ, the result has the longest length and shorter vectors count as 0 there.
pub fn mean(dists: &[Vec<f64>]) -> Vec<f64> {
    let len = dists.iter().map(Vec::len).max().unwrap_or(0);
    let mut out = vec![0.0; len];
    for d in dists {
        for (o, x) in out.iter_mut().zip(d) {
            *o += x;
        }
    }
    let k = dists.len().max(1) as f64;
    out.iter_mut().for_each(|o| *o /= k);
    out
}

pub fn uniform(n_options: usize, method: DistMethod) -> Distribution {
    let n = n_options.max(1);
    Distribution {
        probs: vec![1.0 / n as f64; n],
        method,
        uniform_fallback: true,
    }
}
