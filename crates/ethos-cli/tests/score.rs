//! `ethos score`, run as the built binary.

use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output};

fn vital_file(name: &str) -> PathBuf {
    PathBuf::from(format!(
        "{}/../../public/vital/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(format!(
        "{}/../ethos-engine/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
}

/// A temp file unique to this test process and tag (no extra crate needed).
fn temp_file(tag: &str, contents: &str) -> PathBuf {
    let path =
        std::env::temp_dir().join(format!("ethos-cli-test-{}-{tag}.json", std::process::id()));
    std::fs::write(&path, contents).expect("write temp file");
    path
}

fn ethos(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ethos"))
        .args(args)
        .output()
        .expect("run ethos")
}

fn score_ok(args: &[&str]) -> Value {
    let out = ethos(args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "exit {:?}; stderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout.lines().count(),
        1,
        "one JSON object on one line: {stdout}"
    );
    serde_json::from_str(&stdout).expect("stdout is JSON")
}

fn num(v: &Value, key: &str) -> f64 {
    v.get(key)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("no number {key:?} in {v}"))
}

/// The shipped file with every pred_distribution set by `f(gold)`.
fn filled(name: &str, f: impl Fn(&[f64]) -> Vec<f64>) -> Value {
    let text = std::fs::read_to_string(vital_file(name)).expect("read shipped file");
    let mut v: Value = serde_json::from_str(&text).expect("parse shipped file");
    for rec in v.as_array_mut().expect("array") {
        let gold: Vec<f64> = rec["gold_distribution"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        rec["pred_distribution"] = serde_json::json!(f(&gold));
    }
    v
}

fn uniform(g: &[f64]) -> Vec<f64> {
    vec![1.0 / g.len() as f64; g.len()]
}

#[test]
fn uniform_moralchoice() {
    let path = temp_file(
        "uniform-moralchoice",
        &filled("vital_distributional_moralchoice.json", uniform).to_string(),
    );
    let v = score_ok(&["score", path.to_str().unwrap()]);
    let _ = std::fs::remove_file(&path);
    assert_eq!(v["records"], 181);
    assert!((num(&v, "mean_js") - 0.169376).abs() < 1e-6, "{v}");
    assert_eq!(num(&v, "most_likely"), 1.0);
    // No record failed; none says how it was produced.
    assert_eq!(v["failed"], 0);
    assert_eq!(v["pred_methods"], serde_json::json!({"unknown": 181}));
    assert_eq!(v["mixed_methods"], false);
    assert_eq!(v.as_object().unwrap().len(), 6, "{v}");
}

#[test]
fn methods_and_failed_records_are_counted() {
    let mut v = filled("vital_distributional_moralchoice.json", uniform);
    let recs = v.as_array_mut().unwrap();
    for (i, rec) in recs.iter_mut().enumerate() {
        rec["pred_method"] = match i % 10 {
            0 => "votes".into(),
            1 => "uniform_fallback".into(),
            _ => "logprobs".into(),
        };
    }
    // Two failed records: null prediction and the error; left out and counted.
    for i in [3, 4] {
        recs[i]["pred_distribution"] = Value::Null;
        recs[i]["pred_error"] = "the model server answered 500".into();
        recs[i].as_object_mut().unwrap().remove("pred_method");
    }
    let path = temp_file("methods", &v.to_string());
    let out = score_ok(&["score", path.to_str().unwrap()]);
    let _ = std::fs::remove_file(&path);
    assert_eq!(out["records"], 179);
    assert_eq!(out["failed"], 2);
    assert_eq!(
        out["pred_methods"],
        serde_json::json!({"logprobs": 142, "votes": 19, "uniform_fallback": 18})
    );
    assert_eq!(out["mixed_methods"], true);

    // A file where every record failed has nothing to score.
    let mut v = filled("vital_distributional_moralchoice.json", uniform);
    for rec in v.as_array_mut().unwrap() {
        rec["pred_distribution"] = Value::Null;
        rec["pred_error"] = "timed out".into();
    }
    let path = temp_file("all-failed", &v.to_string());
    fails_with(
        &["score", path.to_str().unwrap()],
        1,
        &["nothing to score", "181"],
    );
    let _ = std::fs::remove_file(&path);
}

#[test]
fn several_files_one_line_each() {
    let a = temp_file(
        "several-a",
        &filled("vital_distributional_moralchoice.json", uniform).to_string(),
    );
    let b = fixture("vital_steerable_valuekaleidoscope_sample.json");
    let out = ethos(&["score", a.to_str().unwrap(), b.to_str().unwrap()]);
    let _ = std::fs::remove_file(&a);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["records"], 181);
    assert_eq!(lines[1]["records"], 10);
    assert_eq!(lines[1]["parser"], "reference");

    // A bad file among good ones: the good ones are still scored, the exit code says 1.
    let out = ethos(&["score", b.to_str().unwrap(), "/nonexistent/file.json"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"));
}

#[test]
fn one_hot_a_opinionqa_and_uniform_globalopinionqa() {
    let one_hot = |g: &[f64]| {
        let mut p = vec![0.0; g.len()];
        p[0] = 1.0;
        p
    };
    let path = temp_file(
        "onehot-opinionqa",
        &filled("vital_steerable_opinionqa.json", one_hot).to_string(),
    );
    let v = score_ok(&["score", path.to_str().unwrap()]);
    let _ = std::fs::remove_file(&path);
    assert_eq!(v["records"], 3388);
    assert!((num(&v, "mean_js") - 0.5360).abs() < 5e-5, "{v}");
    assert!((num(&v, "most_likely") - 0.3946).abs() < 5e-5, "{v}");

    let path = temp_file(
        "uniform-globalopinionqa",
        &filled("vital_distributional_globalopinionqa.json", uniform).to_string(),
    );
    let v = score_ok(&["score", path.to_str().unwrap()]);
    let _ = std::fs::remove_file(&path);
    assert_eq!(v["records"], 1676);
    assert!((num(&v, "mean_js") - 0.356699).abs() < 1e-6, "{v}");
    assert!((num(&v, "most_likely") - 0.7106).abs() < 5e-5, "{v}");
}

#[test]
fn steerable_value_fixture() {
    let path = fixture("vital_steerable_valuekaleidoscope_sample.json");
    let v = score_ok(&["score", path.to_str().unwrap()]);
    assert_eq!(v["records"], 10);
    assert!((num(&v, "accuracy") - 0.7).abs() < 1e-12, "{v}");
    assert!((num(&v, "balanced_accuracy") - 0.75).abs() < 1e-12, "{v}");
    // scikit-learn's macro-F1: "unparsed" (one answer) is a label of its own, with F1 = 0.
    assert!((num(&v, "macro_f1") - 39.0 / 70.0).abs() < 1e-12, "{v}");
    assert!(
        (num(&v, "binary_accuracy") - 5.0 / 7.0).abs() < 1e-12,
        "{v}"
    );
    assert_eq!(v["binary_records"], 7);
    assert!(
        (num(&v, "binary_balanced_accuracy") - 17.0 / 24.0).abs() < 1e-12,
        "{v}"
    );
    assert!(
        (num(&v, "binary_macro_f1") - 32.0 / 63.0).abs() < 1e-12,
        "{v}"
    );
    assert_eq!(v["unparsed"], 1);
    assert_eq!(v["failed"], 0);
    assert_eq!(v["parser"], "reference");

    let v = score_ok(&["score", "--parser", "strict", path.to_str().unwrap()]);
    assert!((num(&v, "accuracy") - 0.2).abs() < 1e-12, "{v}");
    assert_eq!(v["parser"], "strict");
}

fn fails_with(args: &[&str], code: i32, needles: &[&str]) {
    let out = ethos(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "stderr: {stderr}");
    assert!(out.stdout.is_empty(), "nothing on stdout on failure");
    for n in needles {
        assert!(stderr.contains(n), "stderr should mention {n:?}: {stderr}");
    }
}

#[test]
fn malformed_files_name_the_record() {
    // A prediction of the wrong length in record 5.
    let mut v = filled("vital_distributional_moralchoice.json", uniform);
    let id5 = v[5]["id"].as_str().unwrap().to_string();
    v[5]["pred_distribution"] = serde_json::json!([0.5]);
    let path = temp_file("bad-length", &v.to_string());
    fails_with(
        &["score", path.to_str().unwrap()],
        1,
        &["record 5", &id5, "pred_distribution"],
    );
    let _ = std::fs::remove_file(&path);

    // No prediction in record 3.
    let mut v = filled("vital_distributional_moralchoice.json", uniform);
    let id3 = v[3]["id"].as_str().unwrap().to_string();
    v[3]["pred_distribution"] = Value::Null;
    let path = temp_file("no-pred", &v.to_string());
    fails_with(
        &["score", path.to_str().unwrap()],
        1,
        &["record 3", &id3, "no prediction"],
    );
    let _ = std::fs::remove_file(&path);

    // The shipped file itself has no predictions at all.
    let shipped = vital_file("vital_distributional_moralchoice.json");
    fails_with(
        &["score", shipped.to_str().unwrap()],
        1,
        &["record 0", "C_001", "no prediction"],
    );

    // A value record without output.
    let text =
        std::fs::read_to_string(fixture("vital_steerable_valuekaleidoscope_sample.json")).unwrap();
    let mut v: Value = serde_json::from_str(&text).unwrap();
    v[2]["output"] = Value::Null;
    let path = temp_file("no-output", &v.to_string());
    fails_with(
        &["score", path.to_str().unwrap()],
        1,
        &["record 2", "9002", "output"],
    );
    let _ = std::fs::remove_file(&path);

    // Values whose sum overflows (the loader lets them through).
    let mut v = filled("vital_distributional_moralchoice.json", uniform);
    v[7]["gold_distribution"] = serde_json::json!([1e308, 1e308]);
    let path = temp_file("overflow", &v.to_string());
    fails_with(
        &["score", path.to_str().unwrap()],
        1,
        &[
            "record 7",
            "gold_distribution",
            "sums to more than a number can hold",
        ],
    );
    let _ = std::fs::remove_file(&path);

    // Not JSON.
    let path = temp_file("not-json", "[{\"question\": ");
    fails_with(&["score", path.to_str().unwrap()], 1, &["not valid JSON"]);
    let _ = std::fs::remove_file(&path);
}

#[test]
fn overton_needs_a_judge() {
    let path = vital_file("vital_overton_valuekaleidoscope.json");
    fails_with(&["score", path.to_str().unwrap()], 1, &["Overton", "judge"]);
}

#[test]
fn usage_errors() {
    fails_with(&[], 2, &["Usage: ethos <COMMAND>", "score"]);
    fails_with(
        &["score"],
        2,
        &["required arguments were not provided", "FILE"],
    );
    fails_with(&["score", "-", "-"], 2, &["only once"]);
    fails_with(
        &["score", "--parser", "loose", "a.json"],
        2,
        &["invalid value 'loose' for '--parser"],
    );
    fails_with(
        &["frobnicate"],
        2,
        &["unrecognized subcommand 'frobnicate'"],
    );
    fails_with(&["score", "/nonexistent/file.json"], 1, &["cannot read"]);
    let out = ethos(&["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("score") && help.contains("run"), "{help}");
    let out = ethos(&["score", "--help"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("--score-failed"));
}

#[test]
fn score_failed_scores_records_without_a_prediction_as_the_reference_does() {
    // The shipped files as they come: no prediction at all. Left out, that is an error; with
    // --score-failed every record is scored with the uniform distribution, which gives the
    // reference values of spec/evaluation.md.
    let cases = [
        ("vital_distributional_moralchoice.json", 181, 0.169376, 1.0),
        ("vital_steerable_opinionqa.json", 3388, 0.230906, 0.3946),
    ];
    for (name, n, js, most_likely) in cases {
        let file = vital_file(name);
        let file = file.to_str().unwrap();
        fails_with(&["score", file], 1, &["no prediction", "--score-failed"]);
        let v = score_ok(&["score", "--score-failed", file]);
        assert_eq!(
            (v["records"].as_u64(), v["failed"].as_u64()),
            (Some(n), Some(n))
        );
        assert_eq!(v["failed_scored"].as_u64(), Some(n));
        assert!((num(&v, "mean_js") - js).abs() < 1e-6, "{name}: {v}");
        assert!(
            (num(&v, "most_likely") - most_likely).abs() < 1e-4,
            "{name}: {v}"
        );
        assert_eq!(
            v["pred_methods"],
            serde_json::json!({ "failed_uniform": n })
        );
    }

    // Two failed records among predictions that are all one-hot on the gold's argmax: left out,
    // the rest are perfect; scored, the two add their uniform distances (MoralChoice
    // low_ambiguity gold [1, 0]: JS = 0.46450140402245893 each, argmax A still right).
    let mut v = filled("vital_distributional_moralchoice.json", |g| g.to_vec());
    let recs = v.as_array_mut().unwrap();
    assert_eq!(recs[0]["gold_distribution"], serde_json::json!([1, 0]));
    assert_eq!(recs[1]["gold_distribution"], serde_json::json!([1, 0]));
    recs[0]["pred_distribution"] = Value::Null;
    recs[0]["pred_error"] = "the model server answered 500".into();
    // No `pred_error`, no prediction: failed only under --score-failed.
    recs[1]["pred_distribution"] = Value::Null;
    let path = temp_file("score-failed", &v.to_string());
    let p = path.to_str().unwrap();
    fails_with(&["score", p], 1, &["record 1", "no prediction"]);
    let out = score_ok(&["score", "--score-failed", p]);
    let _ = std::fs::remove_file(&path);
    assert_eq!(
        (out["records"].as_u64(), out["failed"].as_u64()),
        (Some(181), Some(2))
    );
    let want = 2.0 * 0.464_501_404_022_458_93 / 181.0;
    assert!((num(&out, "mean_js") - want).abs() < 1e-12, "{out}");
    assert_eq!(num(&out, "most_likely"), 1.0);
    assert_eq!(
        out["pred_methods"],
        serde_json::json!({"unknown": 179, "failed_uniform": 2})
    );

    // Steerable value: a failed record is an unparsed answer.
    let text =
        std::fs::read_to_string(fixture("vital_steerable_valuekaleidoscope_sample.json")).unwrap();
    let mut v: Value = serde_json::from_str(&text).unwrap();
    let recs = v.as_array_mut().unwrap();
    for r in recs.iter_mut() {
        let gold = r["label"].as_str().unwrap().to_string();
        r["output"] = gold.into();
    }
    let n = recs.len() as u64;
    recs[0]["output"] = Value::Null;
    recs[0]["pred_error"] = "timed out".into();
    let path = temp_file("score-failed-value", &v.to_string());
    let p = path.to_str().unwrap();
    let left = score_ok(&["score", p]);
    let scored = score_ok(&["score", "--score-failed", p]);
    let _ = std::fs::remove_file(&path);
    assert_eq!(
        (left["records"].as_u64(), left["accuracy"].as_f64()),
        (Some(n - 1), Some(1.0))
    );
    assert!(left.get("failed_scored").is_none());
    assert_eq!(
        (scored["records"].as_u64(), scored["unparsed"].as_u64()),
        (Some(n), Some(1))
    );
    assert!(
        (num(&scored, "accuracy") - (n - 1) as f64 / n as f64).abs() < 1e-12,
        "{scored}"
    );
    assert_eq!(scored["failed_scored"].as_u64(), Some(1));
}
