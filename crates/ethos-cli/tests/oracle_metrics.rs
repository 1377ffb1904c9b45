//! Every figure `ethos score` prints, against independent implementations: SciPy's
//! `jensenshannon` and scikit-learn's `accuracy_score`, `balanced_accuracy_score` and
//! `f1_score(average="macro")` (`crates/ethos-engine/tests/oracle/metrics_oracle.py`), on 10,000
//! seeded random prediction files, equal to 1e-12; and the same files scored with
//! `--score-failed` (failed records, with a `pred_error` or without a prediction, filled as the
//! reference scores them: uniform distribution / unparsed answer).
//!
//! The Python is `$ETHOS_ORACLE_PYTHON`: the venv with the pinned SciPy and scikit-learn that
//! scripts/setup.sh installs and scripts/test.sh names. Without it the test skips, loudly.

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use support::{run_python, Rng};

#[path = "../../ethos-engine/tests/oracle/support.rs"]
mod support;

const DIST_FILES: usize = 7_500;
const VALUE_FILES: usize = 2_500;
const TOLERANCE: f64 = 1e-12;

/// A random distribution over `n` options: shares with zeros, integer counts, ties, one-hot,
/// uniform, or unnormalised weights; never all zero.
fn distribution(rng: &mut Rng, n: usize) -> Vec<f64> {
    let mut v: Vec<f64> = match rng.below(6) {
        0 => (0..n)
            .map(|_| if rng.chance(3) { 0.0 } else { rng.unit() })
            .collect(),
        1 => (0..n).map(|_| rng.below(4) as f64).collect(),
        2 => {
            let tie = rng.unit();
            (0..n)
                .map(|_| if rng.chance(2) { tie } else { rng.unit() * tie })
                .collect()
        }
        3 => {
            let mut v = vec![0.0; n];
            v[rng.below(n)] = 1.0;
            v
        }
        4 => vec![1.0 / n as f64; n],
        _ => (0..n).map(|_| rng.unit() * 100.0).collect(),
    };
    if v.iter().sum::<f64>() <= 0.0 {
        v[rng.below(n)] = 1.0;
    }
    v
}

const METHODS: [&str; 5] = [
    "logprobs",
    "votes",
    "sampling",
    "verbalised",
    "uniform_fallback",
];

fn dist_file(rng: &mut Rng, f: usize) -> Value {
    let records = 1 + rng.below(12);
    let one_method = rng.chance(2).then(|| METHODS[rng.below(METHODS.len())]);
    let list: Vec<Value> = (0..records)
        .map(|i| {
            let n = 1 + rng.below(5);
            let options: Vec<String> = (0..n).map(|o| format!("option {o}")).collect();
            let mut rec = json!({
                "question": format!("Question: file {f} item {i}?\nOptions: ...\nAnswer:"),
                "options": options,
                "attribute": "oracle",
                "gold_distribution": distribution(rng, n),
                "pred_distribution": distribution(rng, n),
                "id": format!("F{f}_{i}"),
            });
            // Some records failed (never all: the first one always ran).
            if i > 0 && rng.chance(8) {
                rec["pred_distribution"] = Value::Null;
                rec["pred_error"] = "the server answered 500".into();
            } else if let Some(m) =
                one_method.or_else(|| (!rng.chance(6)).then(|| METHODS[rng.below(METHODS.len())]))
            {
                rec["pred_method"] = m.into();
            }
            rec
        })
        .collect();
    Value::Array(list)
}

/// Answers for every path of the reference parser, and unparsed ones.
const ANSWERS: &[&str] = &[
    "A",
    "B",
    "C",
    "D",
    "E",
    "A. Supports",
    "B. Opposes",
    "C. Either",
    "(A)",
    "**B**",
    "Because it respects autonomy",
    "Certainly, the value supports it",
    "Answer: B",
    "I pick Because",
    "The value supports patient Compassion",
    "the answer is b",
    "answer: c",
    "so it is B.",
    "x C: y",
    "i think A",
    "it depends",
    "either way",
    "they oppose this",
    "no idea",
    "",
    "d",
    "Definitely",
    "Definitely opposes",
    "E.",
    "n/a",
    "\nBecause",
    "The value of Compassion",
    "it (C) is",
    "Opposes",
    "well, hmm",
];

fn value_file(rng: &mut Rng, f: usize) -> Value {
    let records = 1 + rng.below(30);
    let list: Vec<Value> = (0..records)
        .map(|i| {
            let label = ["A", "B", "C"][rng.below(3)];
            let mut rec = json!({
                "situation": format!("situation {f}-{i}"),
                "vrd": "Value: Autonomy",
                "label_text": "Supports",
                "label": label,
                "input": "Does the value support the situation?",
                "output": ANSWERS[rng.below(ANSWERS.len())],
                "id": f * 100 + i,
            });
            if i > 0 && rng.chance(10) {
                rec["output"] = Value::Null;
                rec["pred_error"] = "timed out".into();
            }
            rec
        })
        .collect();
    Value::Array(list)
}

/// `ethos score [--score-failed]` and the oracle on `paths`: every figure equal; our lines.
fn check(python: &str, paths: &[PathBuf], score_failed: bool) -> Vec<Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_ethos"))
        .arg("score")
        .args(score_failed.then_some("--score-failed"))
        .args(paths)
        .output()
        .expect("run ethos score");
    assert!(
        out.status.success(),
        "ethos score failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ours: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();

    let script = format!(
        "{}/../ethos-engine/tests/oracle/metrics_oracle.py",
        env!("CARGO_MANIFEST_DIR")
    );
    let input = json!({ "paths": paths, "score_failed": score_failed }).to_string();
    let theirs: Vec<Value> =
        serde_json::from_str(&run_python(python, &script, &input)).expect("oracle JSON");

    assert_eq!(ours.len(), paths.len(), "one line per file");
    assert_eq!(theirs.len(), paths.len());
    let mut problems = Vec::new();
    for ((path, o), t) in paths.iter().zip(&ours).zip(&theirs) {
        compare(path, o, t, &mut problems);
        // Keys only we print would go unchecked: failed_scored must be the oracle's too.
        if o.get("failed_scored").is_some() != t.get("failed_scored").is_some() {
            problems.push(format!(
                "{}: failed_scored only on one side",
                path.display()
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "{} differences{}, e.g.:\n{}",
        problems.len(),
        if score_failed {
            " (--score-failed)"
        } else {
            ""
        },
        problems[..problems.len().min(20)].join("\n")
    );
    ours
}

/// Compare one file's figures: numbers to 1e-12, the rest exactly.
fn compare(path: &Path, ours: &Value, theirs: &Value, problems: &mut Vec<String>) {
    let theirs = theirs.as_object().expect("oracle object");
    for (key, want) in theirs {
        let got = &ours[key];
        let same = match (got.as_f64(), want.as_f64()) {
            (Some(g), Some(w)) if want.is_f64() || got.is_f64() => (g - w).abs() <= TOLERANCE,
            _ => got == want,
        };
        if !same {
            problems.push(format!(
                "{}: {key}: ethos score {got}, oracle {want}",
                path.display()
            ));
        }
    }
    // The binary scores exist only with binary items (scikit-learn has no value without).
    if ours.get("binary_records") == Some(&json!(0)) {
        for key in [
            "binary_accuracy",
            "binary_balanced_accuracy",
            "binary_macro_f1",
        ] {
            if ours[key] != json!(0.0) {
                problems.push(format!("{}: {key} without binary items", path.display()));
            }
        }
    }
}

#[test]
fn ethos_score_equals_scipy_and_scikit_learn() {
    let Ok(python) = std::env::var("ETHOS_ORACLE_PYTHON") else {
        eprintln!(
            "\n\n*** SKIP ethos_score_equals_scipy_and_scikit_learn: ETHOS_ORACLE_PYTHON is unset. \
             scripts/setup.sh installs SciPy and scikit-learn and scripts/test.sh sets it; by hand: \
             ETHOS_ORACLE_PYTHON=\"$(source scripts/env.sh; oracle_venv)/bin/python\" ***\n\n"
        );
        return;
    };
    let dir = std::env::temp_dir().join(format!("ethos-oracle-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut rng = Rng(0x0ac1_e5ee_d5);
    let mut paths: Vec<PathBuf> = Vec::with_capacity(DIST_FILES + VALUE_FILES);
    for f in 0..DIST_FILES + VALUE_FILES {
        let (name, file) = if f < DIST_FILES {
            (format!("d{f}.json"), dist_file(&mut rng, f))
        } else {
            (format!("v{f}.json"), value_file(&mut rng, f))
        };
        let path = dir.join(name);
        std::fs::write(&path, file.to_string()).expect("write a file");
        paths.push(path);
    }

    let ours = check(&python, &paths, false);

    // Scored as the reference does: the same files, where some failed records lost their
    // `pred_error` (a prediction missing without a word: failed only under --score-failed).
    let mut dropped = 0usize;
    let scored_paths: Vec<PathBuf> = paths
        .iter()
        .map(|p| {
            let mut file: Value =
                serde_json::from_str(&std::fs::read_to_string(p).expect("read")).expect("JSON");
            for r in file.as_array_mut().expect("records") {
                if r.get("pred_error").is_some() && rng.chance(2) {
                    r.as_object_mut().expect("record").remove("pred_error");
                    dropped += 1;
                }
            }
            let path = p.with_file_name(format!(
                "failed-{}",
                p.file_name().expect("name").to_string_lossy()
            ));
            std::fs::write(&path, file.to_string()).expect("write a file");
            path
        })
        .collect();
    assert!(
        dropped >= 100,
        "only {dropped} predictions missing without a pred_error"
    );
    let scored = check(&python, &scored_paths, true);
    let _ = std::fs::remove_dir_all(&dir);
    let with_failed = scored
        .iter()
        .filter(|v| v["failed_scored"].as_u64() > Some(0))
        .count();
    assert!(
        with_failed >= 500,
        "only {with_failed} files with failed records scored"
    );

    // The files reach the cases that matter.
    let count = |f: &dyn Fn(&Value) -> bool| ours.iter().filter(|v| f(v)).count();
    let reached = [
        ("mixed methods", count(&|v| v["mixed_methods"] == true)),
        ("one method", count(&|v| v["mixed_methods"] == false)),
        ("failed records", count(&|v| v["failed"].as_u64() > Some(0))),
        (
            "unparsed answers",
            count(&|v| v["unparsed"].as_u64() > Some(0)),
        ),
        ("no binary items", count(&|v| v["binary_records"] == 0)),
        ("perfect JS", count(&|v| v["mean_js"] == 0.0)),
    ];
    for (what, n) in reached {
        assert!(n >= 20, "only {n} files with {what}");
    }
    eprintln!(
        "{} files ({DIST_FILES} distribution, {VALUE_FILES} value) agree to {TOLERANCE}, left out and (in {with_failed}) failed records scored as the reference does; {reached:?}",
        paths.len()
    );
}
