//! `ethos score FILE...`: score VITAL-format files with their predictions filled in, one JSON
//! line per file, in order.
//!
//! - distributional / OpinionQA files (`pred_distribution`): `{"records", "failed", "mean_js",
//!   "most_likely", "pred_methods", "mixed_methods"}` (JS distance with the natural log, SciPy
//!   semantics; `pred_methods` counts the records' `pred_method`, "unknown" where absent, and
//!   `mixed_methods` says whether they differ);
//! - steerable-value files (`output`): `{"records", "failed", "unparsed", "accuracy",
//!   "balanced_accuracy", "macro_f1", "binary_records", "binary_accuracy",
//!   "binary_balanced_accuracy", "binary_macro_f1", "parser"}` with scikit-learn's semantics and
//!   the reference answer parser (or `--parser strict`);
//! - Overton files: coverage needs a judge model, so this refuses with a message.
//!
//! A record with a `pred_error` (its run failed; prediction null) is left out of the scores and
//! counted in `failed`; a null prediction without one is an error. With `--score-failed`, every
//! record with a `pred_error` or without a prediction counts as failed and is scored as the
//! reference does (see `ethos_engine::attrition`): the uniform distribution (`pred_method`
//! `failed_uniform`) or an unparsed answer; `failed_scored` says how many.
//!
//! Exit codes: 0 ok, 1 bad input in some file (the message names the file and the record; the
//! other files are still scored), 2 usage.

use clap::{CommandFactory, Parser, ValueEnum};
use ethos_engine::answer::AnswerParser;
use ethos_engine::attrition::uniform;
use ethos_engine::metrics::{
    score_distributions, score_value, try_js_distance, DistScores, ValueScores,
};
use ethos_engine::provenance::{MethodCounts, FAILED_UNIFORM, PRED_ERROR, PRED_METHOD};
use ethos_engine::vital::{self, Item, Source};
use serde::Serialize;
use serde_json::Value;
use std::borrow::Cow;

/// Why scoring failed, and the exit code that goes with it.
#[derive(Debug)]
pub enum ScoreError {
    Input(String),
}

impl ScoreError {
    fn code(&self) -> i32 {
        match self {
            ScoreError::Input(_) => 1,
        }
    }
}

impl std::fmt::Display for ScoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScoreError::Input(m) => f.write_str(m),
        }
    }
}

/// `ethos score`'s command line.
#[derive(Debug, Parser)]
#[command(after_help = DETAILS)]
pub struct ScoreCli {
    /// The answer parser for steerable-value files.
    #[arg(long, value_enum, ignore_case = true, default_value = "reference")]
    parser: ParserArg,
    /// The same as --parser strict.
    #[arg(long, hide = true)]
    strict: bool,
    /// Score a record whose run failed (or without a prediction) as the reference does.
    #[arg(long = "score-failed")]
    score_failed: bool,
    /// The files to score, in order (`-` reads stdin, once).
    #[arg(value_name = "FILE", required = true)]
    files: Vec<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ParserArg {
    Reference,
    Strict,
}

/// What `ethos score --help` says after the options.
const DETAILS: &str = "\
Prints one JSON object per file, in order: the scores (scikit-learn's semantics for accuracy,
balanced accuracy, macro-F1 and their binary variant; SciPy's JS distance with the natural log),
the records left out because their run failed (`failed`), and for distributions how many
predictions each method produced (`pred_methods`, `mixed_methods`). With --score-failed, a
record whose run failed (`pred_error`) or without a prediction is scored as the reference does
instead (uniform distribution, `pred_method` failed_uniform; an unparsed answer); `failed_scored`
counts them. Exit codes: 0 ok, 1 bad input in some file, 2 usage.";

pub fn main(cli: ScoreCli) -> i32 {
    if cli.files.iter().filter(|f| *f == "-").count() > 1 {
        let e = ScoreCli::command().error(
            clap::error::ErrorKind::ValueValidation,
            "stdin (-) can be read only once",
        );
        let _ = e.print();
        return e.exit_code();
    }
    let parser = match (cli.parser, cli.strict) {
        (ParserArg::Strict, _) | (_, true) => AnswerParser::Strict,
        (ParserArg::Reference, false) => AnswerParser::Reference,
    };
    let mut code = 0;
    for file in &cli.files {
        match score_file(file, parser, cli.score_failed) {
            Ok(json) => println!("{json}"),
            Err(e) => {
                eprintln!("ethos score: {e}");
                code = code.max(e.code());
            }
        }
    }
    code
}

#[derive(Serialize)]
struct ValueOut {
    #[serde(flatten)]
    scores: ValueScores,
    failed: usize,
    #[serde(skip_serializing_if = "is_zero")]
    failed_scored: usize,
    parser: AnswerParser,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

#[derive(Serialize)]
struct DistOut {
    #[serde(flatten)]
    scores: DistScores,
    failed: usize,
    #[serde(skip_serializing_if = "is_zero")]
    failed_scored: usize,
    pred_methods: MethodCounts,
    mixed_methods: bool,
}

/// Score one file (`-` = stdin); returns the JSON line to print. `score_failed`: failed records
/// are scored as the reference does instead of left out.
pub fn score_file(
    file: &str,
    parser: AnswerParser,
    score_failed: bool,
) -> Result<String, ScoreError> {
    let text = if file == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
            .map_err(|e| ScoreError::Input(format!("cannot read stdin: {e}")))?;
        s
    } else {
        std::fs::read_to_string(file)
            .map_err(|e| ScoreError::Input(format!("cannot read {file}: {e}")))?
    };
    score_text_with(&text, Source::from_file_name(file), parser, score_failed)
        .map_err(|m| ScoreError::Input(format!("{file}: {m}")))
}

/// A record's `pred_error` (its run failed) and `pred_method`, from the raw JSON record.
fn provenance(record: &Value) -> Result<(bool, Option<&str>), String> {
    let text = |key: &str| match record.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(format!("`{key}` should be a string or null")),
    };
    Ok((text(PRED_ERROR)?.is_some(), text(PRED_METHOD)?))
}

/// Score a VITAL JSON text, failed records left out (pure; used by the tests).
#[cfg(test)]
pub fn score_text(
    text: &str,
    source: Option<Source>,
    parser: AnswerParser,
) -> Result<String, String> {
    score_text_with(text, source, parser, false)
}

/// Score a VITAL JSON text; with `score_failed`, a record with a `pred_error` or without a
/// prediction is failed and scored as the reference does (pure; used by `score_file`).
pub fn score_text_with(
    text: &str,
    source: Option<Source>,
    parser: AnswerParser,
    score_failed: bool,
) -> Result<String, String> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| vital::LoadError::Json(e.to_string()).to_string())?;
    let items = vital::load_value(&value, source).map_err(|e| e.to_string())?;
    let records = value.as_array().map(Vec::as_slice).unwrap_or_default();
    let first = items.first().ok_or("the file is empty (no records)")?;
    let label = |index: usize, item: &Item| format!("record {index} (id {})", item.id());
    let mut failed = 0usize;
    let json = match first {
        Item::Overton(_) => {
            return Err("this is an Overton file: its outputs are scored by value coverage, which needs a judge model \
                 (the reference NLI model microsoft/deberta-v2-xlarge-mnli, or an LLM judge in the app). \
                 `ethos score` cannot score Overton outputs on its own."
                .into())
        }
        Item::Value(_) => {
            let mut golds = Vec::with_capacity(items.len());
            let mut preds = Vec::with_capacity(items.len());
            for (i, (item, record)) in items.iter().zip(records).enumerate() {
                let Item::Value(v) = item else {
                    return Err(format!("{}: not a steerable-value record", label(i, item)));
                };
                let (is_failed, _) = provenance(record).map_err(|m| format!("{}: {m}", label(i, item)))?;
                let is_failed = is_failed || (score_failed && v.output.is_none());
                if is_failed {
                    failed += 1;
                    if !score_failed {
                        continue;
                    }
                }
                let gold = v.label.chars().next().ok_or_else(|| format!("{}: empty label", label(i, item)))?;
                golds.push(gold);
                if is_failed {
                    // Scored as the reference does: an unparsed answer.
                    preds.push(None);
                    continue;
                }
                let output = v.output.as_deref().ok_or_else(|| format!("{}: no prediction (`output` is null or missing; --score-failed scores it as failed)", label(i, item)))?;
                preds.push(parser.parse(output));
            }
            nothing_left(golds.len(), failed)?;
            serde_json::to_string(&ValueOut {
                scores: score_value(&golds, &preds),
                failed,
                failed_scored: if score_failed { failed } else { 0 },
                parser,
            })
        }
        Item::Choice { .. } => {
            let mut pairs = Vec::with_capacity(items.len());
            let mut methods = MethodCounts::default();
            for (i, (item, record)) in items.iter().zip(records).enumerate() {
                let Item::Choice { item: c, .. } = item else {
                    return Err(format!("{}: not a multiple-choice record", label(i, item)));
                };
                let (is_failed, method) = provenance(record).map_err(|m| format!("{}: {m}", label(i, item)))?;
                let is_failed = is_failed || (score_failed && c.pred_distribution.is_none());
                if is_failed {
                    failed += 1;
                    if !score_failed {
                        continue;
                    }
                }
                let gold = c.gold_distribution.as_deref().ok_or_else(|| format!("{}: no gold_distribution", label(i, item)))?;
                if is_failed {
                    // Scored as the reference does: the uniform distribution.
                    pairs.push((gold, Cow::Owned(uniform(gold.len()))));
                    methods.add(Some(FAILED_UNIFORM));
                    continue;
                }
                let pred = c
                    .pred_distribution
                    .as_deref()
                    .ok_or_else(|| format!("{}: no prediction (`pred_distribution` is null or missing; --score-failed scores it as failed)", label(i, item)))?;
                // The loader checks lengths and signs; this also catches sums that overflow.
                if try_js_distance(gold, pred).is_none() {
                    return Err(format!(
                        "{}: gold_distribution or pred_distribution cannot be normalised (its sum is not a finite positive number)",
                        label(i, item)
                    ));
                }
                pairs.push((gold, Cow::Borrowed(pred)));
                methods.add(method);
            }
            nothing_left(pairs.len(), failed)?;
            serde_json::to_string(&DistOut {
                scores: score_distributions(pairs),
                failed,
                failed_scored: if score_failed { failed } else { 0 },
                mixed_methods: methods.is_mixed(),
                pred_methods: methods,
            })
        }
    };
    json.map_err(|e| format!("cannot write the result: {e}"))
}

/// A file whose every record failed has nothing to score: say so rather than print zeros.
fn nothing_left(scored: usize, failed: usize) -> Result<(), String> {
    if scored == 0 {
        Err(format!(
            "nothing to score: every record ({failed}) failed (has a `pred_error`)"
        ))
    } else {
        Ok(())
    }
}
