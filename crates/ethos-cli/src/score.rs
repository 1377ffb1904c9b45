//! `ethos score FILE`: score a VITAL-format file with its predictions filled in.
//!
//! - distributional / OpinionQA files (`pred_distribution`): `{"records", "mean_js", "most_likely"}`
//!   (JS distance with the natural log, SciPy semantics);
//! - steerable-value files (`output`): `{"records", "accuracy", "balanced_accuracy", "macro_f1",
//!   "binary_accuracy", "binary_records", "parser"}` with the reference answer parser (or
//!   `--parser strict`);
//! - Overton files: coverage needs a judge model, so this refuses with a message.
//!
//! Exit codes: 0 ok, 1 bad input (the message names the record), 2 usage.

use ethos_engine::answer::AnswerParser;
use ethos_engine::metrics::{score_distributions, score_value, try_js_distance};
use ethos_engine::vital::{self, Item, Source};
use serde::Serialize;

/// Why scoring failed, and the exit code that goes with it.
#[derive(Debug)]
pub enum ScoreError {
    Usage(String),
    Input(String),
}

impl ScoreError {
    fn code(&self) -> i32 {
        match self {
            ScoreError::Usage(_) => 2,
            ScoreError::Input(_) => 1,
        }
    }
}

impl std::fmt::Display for ScoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScoreError::Usage(m) | ScoreError::Input(m) => f.write_str(m),
        }
    }
}

pub fn main(args: &[String]) -> i32 {
    match run(args) {
        Ok(json) => {
            println!("{json}");
            0
        }
        Err(e) => {
            eprintln!("ethos score: {e}");
            e.code()
        }
    }
}

struct Args {
    file: String,
    parser: AnswerParser,
}

fn parse_args(args: &[String]) -> Result<Args, ScoreError> {
    let usage = |m: &str| {
        ScoreError::Usage(format!(
            "{m}\nusage: ethos score [--parser reference|strict] FILE"
        ))
    };
    let mut file = None;
    let mut parser = AnswerParser::Reference;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let value = match a.as_str() {
            "--parser" => Some(
                it.next()
                    .ok_or_else(|| usage("--parser needs a value"))?
                    .as_str(),
            ),
            s if s.starts_with("--parser=") => s.strip_prefix("--parser="),
            "--strict" => Some("strict"),
            s if s.starts_with('-') && s != "-" => {
                return Err(usage(&format!("unknown option {s:?}")))
            }
            s => {
                if file.replace(s.to_string()).is_some() {
                    return Err(usage("give exactly one FILE"));
                }
                None
            }
        };
        if let Some(v) = value {
            parser = match v {
                "reference" => AnswerParser::Reference,
                "strict" => AnswerParser::Strict,
                other => {
                    return Err(usage(&format!(
                        "unknown parser {other:?} (reference or strict)"
                    )))
                }
            };
        }
    }
    let file = file.ok_or_else(|| usage("missing FILE"))?;
    Ok(Args { file, parser })
}

#[derive(Serialize)]
struct ValueOut {
    records: usize,
    accuracy: f64,
    balanced_accuracy: f64,
    macro_f1: f64,
    binary_accuracy: f64,
    binary_records: usize,
    parser: AnswerParser,
}

/// Score the file named in `args`; returns the JSON line to print.
pub fn run(args: &[String]) -> Result<String, ScoreError> {
    let args = parse_args(args)?;
    let text = if args.file == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
            .map_err(|e| ScoreError::Input(format!("cannot read stdin: {e}")))?;
        s
    } else {
        std::fs::read_to_string(&args.file)
            .map_err(|e| ScoreError::Input(format!("cannot read {}: {e}", args.file)))?
    };
    score_text(&text, Source::from_file_name(&args.file), args.parser)
        .map_err(|m| ScoreError::Input(format!("{}: {m}", args.file)))
}

/// Score a VITAL JSON text (pure; used by `run` and the tests).
pub fn score_text(
    text: &str,
    source: Option<Source>,
    parser: AnswerParser,
) -> Result<String, String> {
    let items = vital::load(text, source).map_err(|e| e.to_string())?;
    let first = items.first().ok_or("the file is empty (no records)")?;
    let label = |index: usize, item: &Item| format!("record {index} (id {})", item.id());
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
            for (i, item) in items.iter().enumerate() {
                let Item::Value(v) = item else {
                    return Err(format!("{}: not a steerable-value record", label(i, item)));
                };
                let gold = v.label.chars().next().ok_or_else(|| format!("{}: empty label", label(i, item)))?;
                let output = v.output.as_deref().ok_or_else(|| format!("{}: no prediction (`output` is null or missing)", label(i, item)))?;
                golds.push(gold);
                preds.push(parser.parse(output));
            }
            let s = score_value(&golds, &preds);
            serde_json::to_string(&ValueOut {
                records: s.records,
                accuracy: s.accuracy,
                balanced_accuracy: s.balanced_accuracy,
                macro_f1: s.macro_f1,
                binary_accuracy: s.binary_accuracy,
                binary_records: s.binary_records,
                parser,
            })
        }
        Item::Choice { .. } => {
            let mut pairs = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let Item::Choice { item: c, .. } = item else {
                    return Err(format!("{}: not a multiple-choice record", label(i, item)));
                };
                let gold = c.gold_distribution.as_deref().ok_or_else(|| format!("{}: no gold_distribution", label(i, item)))?;
                let pred = c
                    .pred_distribution
                    .as_deref()
                    .ok_or_else(|| format!("{}: no prediction (`pred_distribution` is null or missing)", label(i, item)))?;
                // The loader checks lengths and signs; this also catches sums that overflow.
                if try_js_distance(gold, pred).is_none() {
                    return Err(format!(
                        "{}: gold_distribution or pred_distribution cannot be normalised (its sum is not a finite positive number)",
                        label(i, item)
                    ));
                }
                pairs.push((gold, pred));
            }
            serde_json::to_string(&score_distributions(pairs))
        }
    };
    json.map_err(|e| format!("cannot write the result: {e}"))
}
