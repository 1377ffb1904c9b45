//! Metrics, exactly as spec/evaluation.md defines them.
//!
//! - [`js_distance`]: Jensen–Shannon distance with SciPy's semantics (natural log).
//! - [`score_distributions`]: mean JS distance and most-likely correctness over items.
//! - [`score_value`]: accuracy, balanced accuracy, macro-F1 (scikit-learn's semantics, "unparsed"
//!   a class of its own) and the same three on the binary variant.
//! - Overton coverage aggregation: [`max_over_sentences`], [`coverage_item`],
//!   [`coverage_accuracy`], [`split_sentences`], and [`CoverageJudgement`] for judge outputs.

use serde::{Deserialize, Serialize};

/// The log base used by [`js_distance`], for labels in the UI and exports.
pub const JS_LOG_BASE: &str = "natural log (base e), as SciPy's default";

/// The largest possible JS distance with the natural log: sqrt(ln 2).
pub const JS_MAX: f64 = 0.832_554_611_157_697_7;

/// Jensen–Shannon distance, natural log, SciPy semantics (normalise, no smoothing).
///
/// Returns NaN (like SciPy) when the input is unusable: lengths differ, a vector is empty, has a
/// negative or non-finite value, or sums to zero. Use [`try_js_distance`] to get `None` instead.
pub fn js_distance(p: &[f64], q: &[f64]) -> f64 {
    try_js_distance(p, q).unwrap_or(f64::NAN)
}

/// [`js_distance`] that returns `None` for unusable input instead of NaN.
pub fn try_js_distance(p: &[f64], q: &[f64]) -> Option<f64> {
    if p.len() != q.len() || p.is_empty() {
        return None;
    }
    let valid = |v: &[f64]| v.iter().all(|x| x.is_finite() && *x >= 0.0);
    if !valid(p) || !valid(q) {
        return None;
    }
    let sp: f64 = p.iter().sum();
    let sq: f64 = q.iter().sum();
    if !(sp > 0.0 && sq > 0.0 && sp.is_finite() && sq.is_finite()) {
        return None;
    }
    let mut left = 0.0;
    let mut right = 0.0;
    for (&a, &b) in p.iter().zip(q) {
        let pi = a / sp;
        let qi = b / sq;
        let mi = (pi + qi) / 2.0;
        left += rel_entr(pi, mi);
        right += rel_entr(qi, mi);
    }
    let js = (left + right) / 2.0;
    // Rounding can make a zero divergence come out as a tiny negative number.
    Some(js.max(0.0).sqrt())
}

/// SciPy's `rel_entr`: x ln(x/y), 0 when x = 0, +inf when x > 0 and y = 0.
fn rel_entr(x: f64, y: f64) -> f64 {
    if x == 0.0 {
        0.0
    } else if y > 0.0 {
        x * (x / y).ln()
    } else {
        f64::INFINITY
    }
}

/// Index of the maximum, ties broken toward the first. NaN values are ignored; an empty slice
/// (or one of only NaN) gives 0.
pub fn argmax_first(p: &[f64]) -> usize {
    let mut best: Option<(usize, f64)> = None;
    for (i, &v) in p.iter().enumerate() {
        if v.is_nan() {
            continue;
        }
        match best {
            Some((_, b)) if v <= b => {}
            _ => best = Some((i, v)),
        }
    }
    best.map(|(i, _)| i).unwrap_or(0)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DistScores {
    pub records: usize,
    pub mean_js: f64,
    pub most_likely: f64,
}

/// Mean JS distance and most-likely correctness (argmax(gold) == argmax(pred), ties toward the
/// first option on both sides) over (gold, pred) pairs. With no pairs both means are 0 and
/// `records` is 0. A pair with unusable vectors makes `mean_js` NaN (validate first; the VITAL
/// loader does).
pub fn score_distributions<I, G, P>(pairs: I) -> DistScores
where
    I: IntoIterator<Item = (G, P)>,
    G: AsRef<[f64]>,
    P: AsRef<[f64]>,
{
    let mut n = 0usize;
    let mut js_sum = 0.0;
    let mut hits = 0usize;
    for (g, p) in pairs {
        let (g, p) = (g.as_ref(), p.as_ref());
        n += 1;
        js_sum += js_distance(g, p);
        if argmax_first(g) == argmax_first(p) {
            hits += 1;
        }
    }
    if n == 0 {
        return DistScores {
            records: 0,
            mean_js: 0.0,
            most_likely: 0.0,
        };
    }
    DistScores {
        records: n,
        mean_js: js_sum / n as f64,
        most_likely: hits as f64 / n as f64,
    }
}

/// Steerable-value scores with scikit-learn's semantics (the reference evaluation script calls
/// `accuracy_score`, `balanced_accuracy_score` and `f1_score(average="macro")`), on all items and
/// on the binary variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValueScores {
    pub records: usize,
    /// Items whose answer the parser could not read (the class "unparsed", always wrong).
    #[serde(default)]
    pub unparsed: usize,
    pub accuracy: f64,
    pub balanced_accuracy: f64,
    pub macro_f1: f64,
    /// Items left after dropping those whose gold or prediction is C.
    pub binary_records: usize,
    pub binary_accuracy: f64,
    #[serde(default)]
    pub binary_balanced_accuracy: f64,
    #[serde(default)]
    pub binary_macro_f1: f64,
}

/// The three steerable-value classes.
pub const VALUE_CLASSES: [char; 3] = ['A', 'B', 'C'];

/// Accuracy, balanced accuracy and macro-F1 of (gold, prediction) pairs, as scikit-learn computes
/// them; a prediction of `None` is the class "unparsed".
///
/// - accuracy: share of pairs with prediction == gold;
/// - balanced accuracy: mean recall over the labels present in gold;
/// - macro-F1: mean over every label present in gold or prediction, "unparsed" included, of
///   F1 = 2tp / (2tp + fp + fn) (so "unparsed", never a gold label, has F1 = 0).
///
/// With no pairs all three are 0 (scikit-learn has no value there).
pub fn classification_scores(pairs: &[(char, Option<char>)]) -> (f64, f64, f64) {
    if pairs.is_empty() {
        return (0.0, 0.0, 0.0);
    }
    // The labels, sorted, with "unparsed" last (the reference codes it as 3 after A/B/C = 0/1/2).
    let mut labels: Vec<Option<char>> = pairs.iter().flat_map(|(g, p)| [Some(*g), *p]).collect();
    labels.sort_unstable_by_key(|l| (l.is_none(), *l));
    labels.dedup();
    let correct = pairs.iter().filter(|(g, p)| Some(*g) == *p).count();
    let (mut recall_sum, mut recalls) = (0.0, 0usize);
    let mut f1_sum = 0.0;
    for &label in &labels {
        let in_gold = pairs.iter().filter(|(g, _)| Some(*g) == label).count();
        let in_pred = pairs.iter().filter(|(_, p)| *p == label).count();
        let tp = pairs
            .iter()
            .filter(|(g, p)| Some(*g) == label && *p == label)
            .count();
        if in_gold > 0 {
            recall_sum += tp as f64 / in_gold as f64;
            recalls += 1;
        }
        // in_gold + in_pred > 0 for every label in the union: 2tp + fp + fn = in_gold + in_pred.
        f1_sum += 2.0 * tp as f64 / (in_gold + in_pred) as f64;
    }
    (
        correct as f64 / pairs.len() as f64,
        recall_sum / recalls as f64,
        f1_sum / labels.len() as f64,
    )
}

/// Scores for the steerable value task. `golds[i]` is the gold letter (A/B/C), `preds[i]` the
/// parsed answer (`None` = unparsed, which counts as wrong and is a class of its own). Pairs
/// beyond the shorter slice are ignored. Letters are compared upper-cased.
///
/// The three figures of [`classification_scores`] on all pairs, and on the binary variant: the
/// pairs whose gold and prediction are both not C (an unparsed prediction stays). With no pairs
/// (or no binary pairs) those scores are 0.
pub fn score_value(golds: &[char], preds: &[Option<char>]) -> ValueScores {
    let pairs: Vec<(char, Option<char>)> = golds
        .iter()
        .zip(preds)
        .map(|(g, p)| (g.to_ascii_uppercase(), p.map(|c| c.to_ascii_uppercase())))
        .collect();
    let binary: Vec<(char, Option<char>)> = pairs
        .iter()
        .copied()
        .filter(|(g, p)| *g != 'C' && *p != Some('C'))
        .collect();
    let (accuracy, balanced_accuracy, macro_f1) = classification_scores(&pairs);
    let (binary_accuracy, binary_balanced_accuracy, binary_macro_f1) =
        classification_scores(&binary);
    ValueScores {
        records: pairs.len(),
        unparsed: pairs.iter().filter(|(_, p)| p.is_none()).count(),
        accuracy,
        balanced_accuracy,
        macro_f1,
        binary_records: binary.len(),
        binary_accuracy,
        binary_balanced_accuracy,
        binary_macro_f1,
    }
}

// ---------------------------------------------------------------------------------------------
// Overton coverage
// ---------------------------------------------------------------------------------------------

/// The reference threshold for Overton "accuracy at 0.33".
pub const COVERAGE_THRESHOLD: f64 = 0.33;

/// Which estimator produced coverage scores. The reference NLI model cannot run in a browser;
/// an LLM judge is a different estimator and every figure must say which one it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CoverageEstimator {
    /// Entailment probability of microsoft/deberta-v2-xlarge-mnli (premise = explanation,
    /// hypothesis = output sentence), max over sentences. The reference.
    ReferenceNli,
    /// An LLM judge rating, per output sentence, whether it entails the explanation; max over
    /// sentences.
    LlmJudgePerSentence,
    /// An LLM judge rating directly, per explanation, whether the whole output entails it.
    LlmJudgeDirect,
}

impl CoverageEstimator {
    pub fn label(self) -> &'static str {
        match self {
            CoverageEstimator::ReferenceNli => "reference NLI (deberta-v2-xlarge-mnli)",
            CoverageEstimator::LlmJudgePerSentence => {
                "an LLM estimate of the NLI score, per sentence (not the reference NLI model)"
            }
            CoverageEstimator::LlmJudgeDirect => {
                "an LLM estimate, whole output entails each explanation (reverse direction; not the reference NLI model)"
            }
        }
    }
}

/// A judge's verdict for one Overton item: one score in [0, 1] per vrd/explanation, plus the
/// aggregated item score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CoverageJudgement {
    pub estimator: CoverageEstimator,
    /// Judge model name (empty for the reference NLI).
    #[serde(default)]
    pub judge_model: String,
    /// coverage_i for each explanation i (already max-ed over sentences where applicable).
    pub per_value: Vec<f64>,
    /// mean of `per_value`.
    pub item_score: f64,
}

impl CoverageJudgement {
    /// Build from direct per-value scores (values are clamped into [0, 1], NaN -> 0).
    pub fn from_per_value(
        estimator: CoverageEstimator,
        judge_model: impl Into<String>,
        per_value: Vec<f64>,
    ) -> Self {
        let per_value: Vec<f64> = per_value.into_iter().map(clamp01).collect();
        let item_score = coverage_item(&per_value);
        Self {
            estimator,
            judge_model: judge_model.into(),
            per_value,
            item_score,
        }
    }

    /// Build from a matrix `scores[value][sentence]` (max over sentences per value).
    pub fn from_sentence_matrix(
        estimator: CoverageEstimator,
        judge_model: impl Into<String>,
        scores: &[Vec<f64>],
    ) -> Self {
        let per_value = scores.iter().map(|row| max_over_sentences(row)).collect();
        Self::from_per_value(estimator, judge_model, per_value)
    }

    /// Whether the item counts as covered at `threshold` (strictly above).
    pub fn covered(&self, threshold: f64) -> bool {
        self.item_score > threshold
    }
}

fn clamp01(x: f64) -> f64 {
    if x.is_nan() {
        0.0
    } else {
        x.clamp(0.0, 1.0)
    }
}

/// coverage_i = max over sentence scores (NaN ignored; empty -> 0).
pub fn max_over_sentences(sentence_scores: &[f64]) -> f64 {
    sentence_scores
        .iter()
        .copied()
        .filter(|x| !x.is_nan())
        .fold(None, |acc: Option<f64>, x| {
            Some(acc.map_or(x, |a| a.max(x)))
        })
        .unwrap_or(0.0)
}

/// The item score: mean of the per-value coverages (empty -> 0).
pub fn coverage_item(per_value_scores: &[f64]) -> f64 {
    if per_value_scores.is_empty() {
        return 0.0;
    }
    per_value_scores.iter().sum::<f64>() / per_value_scores.len() as f64
}

/// Share of items whose score is strictly above `threshold` (reference: 0.33). Empty -> 0.
pub fn coverage_accuracy(item_scores: &[f64], threshold: f64) -> f64 {
    if item_scores.is_empty() {
        return 0.0;
    }
    item_scores.iter().filter(|s| **s > threshold).count() as f64 / item_scores.len() as f64
}

/// Split a text into sentences: at `.`, `!`, `?` (and runs of them, plus closing quotes or
/// brackets) followed by whitespace, and at line breaks. Common abbreviations (e.g., i.e., Dr.,
/// Mr., Mrs., Ms., vs., etc., St., Prof., No., cf.) do not end a sentence. Empty pieces and
/// list markers alone are dropped; every returned sentence is trimmed.
pub fn split_sentences(text: &str) -> Vec<String> {
    const ABBREV: [&str; 12] = [
        "e.g.", "i.e.", "dr.", "mr.", "mrs.", "ms.", "vs.", "etc.", "st.", "prof.", "no.", "cf.",
    ];
    let mut out = Vec::new();
    for line in text.lines() {
        let chars: Vec<char> = line.chars().collect();
        let mut start = 0usize;
        let mut i = 0usize;
        while i < chars.len() {
            let c = chars[i];
            if matches!(c, '.' | '!' | '?') {
                let mut j = i + 1;
                while j < chars.len()
                    && matches!(
                        chars[j],
                        '.' | '!' | '?' | '"' | '\'' | ')' | ']' | '”' | '’'
                    )
                {
                    j += 1;
                }
                let at_break = j >= chars.len() || chars[j].is_whitespace();
                if at_break && !(c == '.' && ends_with_abbreviation(&chars[start..j], &ABBREV)) {
                    push_sentence(&mut out, &chars[start..j]);
                    start = j;
                }
                i = j;
            } else {
                i += 1;
            }
        }
        if start < chars.len() {
            push_sentence(&mut out, &chars[start..]);
        }
    }
    out
}

fn ends_with_abbreviation(piece: &[char], abbrev: &[&str]) -> bool {
    let s: String = piece.iter().collect();
    let last = s.split_whitespace().last().unwrap_or("").to_lowercase();
    let last = last.trim_start_matches(['(', '"', '\'', '“', '‘']);
    abbrev.contains(&last)
}

fn push_sentence(out: &mut Vec<String>, piece: &[char]) {
    let s: String = piece.iter().collect();
    let s = s.trim();
    if s.chars().any(char::is_alphanumeric) {
        out.push(s.to_string());
    }
}

// ---------------------------------------------------------------------------------------------
// Reading an LLM judge's reply (the in-app coverage estimator)
// ---------------------------------------------------------------------------------------------

/// The numbers in a text, in order, each with whether a `%` follows it. Signs are ignored.
fn numbers_in(text: &str) -> Vec<(f64, bool)> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let starts =
            b[i].is_ascii_digit() || (b[i] == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit));
        if !starts {
            i += 1;
            continue;
        }
        let start = i;
        let mut seen_dot = false;
        while i < b.len()
            && (b[i].is_ascii_digit()
                || (b[i] == b'.' && !seen_dot && b.get(i + 1).is_some_and(u8::is_ascii_digit)))
        {
            seen_dot |= b[i] == b'.';
            i += 1;
        }
        let pct = text[i..].trim_start().starts_with('%');
        if let Ok(x) = text[start..i].parse::<f64>() {
            out.push((x, pct));
        }
    }
    out
}

/// A probability from a number: `%`-marked or in (1, 100] means percent; above 100 is unusable.
fn as_probability(x: f64, pct: bool) -> Option<f64> {
    let p = if pct || x > 1.0 { x / 100.0 } else { x };
    (p.is_finite() && (0.0..=1.0).contains(&p)).then_some(p)
}

fn json_probability(v: &serde_json::Value) -> Option<f64> {
    use serde_json::Value;
    match v {
        Value::Number(n) => as_probability(n.as_f64()?, false),
        Value::String(s) => parse_judge_probability(s),
        Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        Value::Object(map) => map
            .iter()
            .find(|(k, _)| {
                let k = k.to_lowercase();
                ["prob", "score", "entail", "coverage", "confidence"]
                    .iter()
                    .any(|w| k.contains(w))
            })
            .and_then(|(_, v)| json_probability(v)),
        _ => None,
    }
}

/// One probability from a judge's reply: a JSON number or object with a probability/score field,
/// else the first number in the text ("0.8", "80%", "Probability: 80"), else a leading yes/no.
/// Returns None when nothing usable is found (a number above 100, or no number and no yes/no).
pub fn parse_judge_probability(text: &str) -> Option<f64> {
    if let Some(v) = crate::distribution::find_json(text) {
        if let Some(p) = json_probability(&v) {
            return Some(p);
        }
    }
    if let Some(&(x, pct)) = numbers_in(text).first() {
        return as_probability(x, pct);
    }
    let t = text
        .trim_start()
        .trim_start_matches(|c: char| !c.is_alphanumeric())
        .to_lowercase();
    if t.starts_with("yes") {
        Some(1.0)
    } else if t.starts_with("no") {
        Some(0.0)
    } else {
        None
    }
}

/// `n` probabilities from one judge reply that rates n explanations: a JSON array of n numbers
/// (or of objects with a score field), a JSON object keyed "1".."n", or n lines each holding a
/// number (the last number on the line is the score, so "2. 0.7" and "Explanation 2: 70%" work;
/// with more such lines than n, the lines starting with their index 1..n).
/// Errors say how many were found.
pub fn parse_judge_scores(text: &str, n: usize) -> Result<Vec<f64>, String> {
    use serde_json::Value;
    let bad = |found: usize| {
        format!("expected {n} scores between 0 and 1 in the judge's reply, found {found}")
    };
    match crate::distribution::find_json(text) {
        Some(Value::Array(arr)) if arr.len() == n => {
            return arr
                .iter()
                .map(json_probability)
                .collect::<Option<Vec<f64>>>()
                .ok_or_else(|| bad(0));
        }
        Some(Value::Object(map)) => {
            let by_index: Option<Vec<f64>> = (1..=n)
                .map(|i| map.get(&i.to_string()).and_then(json_probability))
                .collect();
            if let Some(v) = by_index {
                return Ok(v);
            }
            if let Some(Value::Array(arr)) = map
                .values()
                .find(|v| v.as_array().is_some_and(|a| a.len() == n))
            {
                if let Some(v) = arr
                    .iter()
                    .map(json_probability)
                    .collect::<Option<Vec<f64>>>()
                {
                    return Ok(v);
                }
            }
        }
        _ => {}
    }
    let scores: Vec<Option<f64>> = text
        .lines()
        .filter_map(|l| numbers_in(l).last().copied())
        .map(|(x, pct)| as_probability(x, pct))
        .collect();
    if scores.len() == n {
        if let Some(v) = scores.iter().copied().collect::<Option<Vec<f64>>>() {
            return Ok(v);
        }
    }
    // Extra lines with numbers ("Here are the 3 scores:"): keep the lines that start with their
    // index, 1 to n, and hold a score after it.
    if scores.len() > n {
        let mut next = 1usize;
        let mut indexed = Vec::new();
        for line in text.lines() {
            let nums = numbers_in(line);
            if let (Some(&(first, false)), Some(&(x, pct)), true) =
                (nums.first(), nums.last(), nums.len() >= 2)
            {
                if first == next as f64 {
                    indexed.push(as_probability(x, pct));
                    next += 1;
                }
            }
        }
        if indexed.len() == n {
            if let Some(v) = indexed.into_iter().collect::<Option<Vec<f64>>>() {
                return Ok(v);
            }
        }
    }
    Err(bad(scores.iter().flatten().count()))
}
