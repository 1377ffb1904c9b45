//! Metrics: the spec's JS test vectors, the regression table on the shipped VITAL files, the
//! value-steering scores and the Overton coverage aggregation.

use ethos_engine::metrics::*;
use ethos_engine::vital::{self, Item, Source};

fn close(a: f64, b: f64, tol: f64) {
    assert!((a - b).abs() <= tol, "{a} vs {b} (tolerance {tol})");
}

#[test]
fn js_test_vectors_from_the_spec() {
    close(
        js_distance(&[1.0, 0.0], &[0.0, 1.0]),
        0.8325546111576977,
        1e-12,
    );
    close(
        js_distance(&[1.0, 0.0], &[0.5, 0.5]),
        0.46450140402245893,
        1e-12,
    );
    close(
        js_distance(&[0.64, 0.27, 0.08, 0.01, 0.0], &[0.2; 5]),
        0.4455188951468513,
        1e-12,
    );
    close(
        js_distance(
            &[0.4491413474, 0.3434610304, 0.2073976222],
            &[0.7, 0.2, 0.1],
        ),
        0.1815589334030074,
        1e-12,
    );
}

#[test]
fn js_properties() {
    // Maximum is sqrt(ln 2), symmetric, zero on identical inputs, normalises its inputs.
    close(JS_MAX, std::f64::consts::LN_2.sqrt(), 1e-15);
    close(js_distance(&[1.0, 0.0], &[0.0, 1.0]), JS_MAX, 1e-12);
    let p = [0.1, 0.2, 0.7];
    let q = [0.3, 0.3, 0.4];
    close(js_distance(&p, &q), js_distance(&q, &p), 1e-15);
    assert_eq!(js_distance(&p, &p), 0.0);
    close(
        js_distance(&[2.0, 0.0], &[5.0, 5.0]),
        0.46450140402245893,
        1e-12,
    );
    close(
        js_distance(&[64.0, 27.0, 8.0, 1.0, 0.0], &[1.0; 5]),
        0.4455188951468513,
        1e-12,
    );
    // Unusable input: NaN (SciPy) / None, never a panic.
    assert!(js_distance(&[1.0], &[0.5, 0.5]).is_nan());
    assert!(js_distance(&[0.0, 0.0], &[0.5, 0.5]).is_nan());
    assert!(js_distance(&[-1.0, 2.0], &[0.5, 0.5]).is_nan());
    assert!(js_distance(&[f64::NAN, 1.0], &[0.5, 0.5]).is_nan());
    assert!(js_distance(&[], &[]).is_nan());
    assert_eq!(try_js_distance(&[1.0], &[1.0, 0.0]), None);
    assert_eq!(try_js_distance(&[1.0], &[3.0]), Some(0.0));
}

#[test]
fn argmax_breaks_ties_toward_the_first() {
    assert_eq!(argmax_first(&[0.25, 0.25, 0.25, 0.25]), 0);
    assert_eq!(argmax_first(&[0.1, 0.45, 0.45]), 1);
    assert_eq!(argmax_first(&[0.0, 0.0, 1.0]), 2);
    assert_eq!(argmax_first(&[]), 0);
    assert_eq!(argmax_first(&[f64::NAN, 0.2, 0.1]), 1);
}

fn load_shipped(name: &str) -> Vec<Item> {
    let path = format!("{}/../../public/vital/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
    vital::load(&text, Source::from_file_name(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn golds(items: &[Item]) -> Vec<Vec<f64>> {
    items
        .iter()
        .map(|i| i.gold_distribution().expect("gold").to_vec())
        .collect()
}

fn uniform_scores(items: &[Item]) -> DistScores {
    let g = golds(items);
    score_distributions(
        g.iter()
            .map(|g| (g.clone(), vec![1.0 / g.len() as f64; g.len()])),
    )
}

fn one_hot_a_scores(items: &[Item]) -> DistScores {
    let g = golds(items);
    score_distributions(g.iter().map(|g| {
        let mut p = vec![0.0; g.len()];
        p[0] = 1.0;
        (g.clone(), p)
    }))
}

#[test]
fn regression_table_moralchoice() {
    let items = load_shipped("vital_distributional_moralchoice.json");
    assert_eq!(items.len(), 181);
    let u = uniform_scores(&items);
    assert_eq!(u.records, 181);
    close(u.mean_js, 0.169376, 1e-6);
    close(u.most_likely, 1.0, 1e-12);
    let a = one_hot_a_scores(&items);
    close(a.mean_js, 0.2951, 5e-5);
    close(a.most_likely, 1.0, 1e-12);
}

#[test]
fn regression_table_globalopinionqa() {
    let items = load_shipped("vital_distributional_globalopinionqa.json");
    assert_eq!(items.len(), 1676);
    let u = uniform_scores(&items);
    close(u.mean_js, 0.356699, 1e-6);
    close(u.most_likely, 0.7106, 5e-5);
    let a = one_hot_a_scores(&items);
    close(a.mean_js, 0.4305, 5e-5);
    // One-hot A and uniform both "predict" A, so most-likely correctness agrees.
    assert_eq!(a.most_likely, u.most_likely);
}

#[test]
fn regression_table_opinionqa() {
    let items = load_shipped("vital_steerable_opinionqa.json");
    assert_eq!(items.len(), 3388);
    let u = uniform_scores(&items);
    close(u.mean_js, 0.230906, 1e-6);
    close(u.most_likely, 0.3946, 5e-5);
    let a = one_hot_a_scores(&items);
    close(a.mean_js, 0.5360, 5e-5);
    assert_eq!(a.most_likely, u.most_likely);
}

#[test]
fn score_distributions_small_cases() {
    let s = score_distributions(Vec::<(Vec<f64>, Vec<f64>)>::new());
    assert_eq!(
        s,
        DistScores {
            records: 0,
            mean_js: 0.0,
            most_likely: 0.0
        }
    );
    let pairs = [
        (vec![1.0, 0.0], vec![0.0, 1.0]),
        (vec![0.2, 0.8], vec![0.2, 0.8]),
    ];
    let s = score_distributions(pairs.iter().map(|(g, p)| (g.as_slice(), p.as_slice())));
    assert_eq!(s.records, 2);
    close(s.mean_js, 0.8325546111576977 / 2.0, 1e-12);
    close(s.most_likely, 0.5, 1e-15);
}

#[test]
fn value_scores_hand_computed() {
    // gold:  A A A B B C
    // pred:  A B - B C C   (- = unparsed)
    let golds = ['A', 'A', 'A', 'B', 'B', 'C'];
    let preds = [Some('A'), Some('B'), None, Some('B'), Some('C'), Some('C')];
    let s = score_value(&golds, &preds);
    assert_eq!(s.records, 6);
    close(s.accuracy, 3.0 / 6.0, 1e-15);
    // recall A 1/3, B 1/2, C 1/1
    close(s.balanced_accuracy, (1.0 / 3.0 + 0.5 + 1.0) / 3.0, 1e-15);
    // A: tp1 fp0 fn2 -> 2/4; B: tp1 fp1 fn1 -> 2/4; C: tp1 fp1 fn0 -> 2/3; unparsed: 0. sklearn
    // averages over every label in gold or prediction, "unparsed" included.
    close(s.macro_f1, (0.5 + 0.5 + 2.0 / 3.0 + 0.0) / 4.0, 1e-15);
    assert_eq!(s.unparsed, 1);
    // binary: drop items 4 (pred C) and 5 (gold C): A/A, A/B, A/-, B/B -> 2 of 4
    assert_eq!(s.binary_records, 4);
    close(s.binary_accuracy, 0.5, 1e-15);
    // recall A 1/3, B 1/1
    close(s.binary_balanced_accuracy, (1.0 / 3.0 + 1.0) / 2.0, 1e-15);
    // A: tp1 fp0 fn2 -> 2/4; B: tp1 fp1 fn0 -> 2/3; unparsed 0
    close(s.binary_macro_f1, (0.5 + 2.0 / 3.0 + 0.0) / 3.0, 1e-15);
}

#[test]
fn value_scores_edge_cases() {
    let s = score_value(&[], &[]);
    assert_eq!(
        (
            s.records,
            s.accuracy,
            s.balanced_accuracy,
            s.macro_f1,
            s.binary_accuracy,
            s.binary_records
        ),
        (0, 0.0, 0.0, 0.0, 0.0, 0)
    );
    // Only class A in gold and pred: perfect, macro-F1 over the classes present.
    let s = score_value(&['A', 'A'], &[Some('A'), Some('A')]);
    assert_eq!(
        (
            s.accuracy,
            s.balanced_accuracy,
            s.macro_f1,
            s.binary_accuracy
        ),
        (1.0, 1.0, 1.0, 1.0)
    );
    // All unparsed: everything wrong, no false positives.
    let s = score_value(&['A', 'B', 'C'], &[None, None, None]);
    assert_eq!(
        (
            s.accuracy,
            s.balanced_accuracy,
            s.macro_f1,
            s.binary_accuracy,
            s.binary_records,
            s.binary_balanced_accuracy,
            s.binary_macro_f1,
            s.unparsed
        ),
        (0.0, 0.0, 0.0, 0.0, 2, 0.0, 0.0, 3)
    );
    // One unparsed answer among perfect ones: macro-F1 gains a class with F1 = 0.
    let s = score_value(&['A', 'B', 'A'], &[Some('A'), Some('B'), None]);
    close(s.macro_f1, (2.0 / 3.0 + 1.0 + 0.0) / 3.0, 1e-15);
    close(s.balanced_accuracy, (0.5 + 1.0) / 2.0, 1e-15);
    // Everything is C: no binary item, binary scores 0.
    let s = score_value(&['C', 'A'], &[Some('A'), Some('C')]);
    assert_eq!(
        (s.binary_records, s.binary_accuracy, s.binary_macro_f1),
        (0, 0.0, 0.0)
    );
    // Lower-case letters are accepted; extra preds are ignored.
    let s = score_value(&['a', 'b'], &[Some('A'), Some('b'), Some('C')]);
    assert_eq!((s.records, s.accuracy), (2, 1.0));
}

#[test]
fn coverage_aggregation() {
    assert_eq!(max_over_sentences(&[0.1, 0.7, 0.3]), 0.7);
    assert_eq!(max_over_sentences(&[]), 0.0);
    assert_eq!(max_over_sentences(&[f64::NAN, 0.2]), 0.2);
    close(coverage_item(&[0.9, 0.0, 0.3]), 0.4, 1e-15);
    assert_eq!(coverage_item(&[]), 0.0);
    // strictly above 0.33
    assert_eq!(
        coverage_accuracy(&[0.33, 0.34, 0.1, 0.9], COVERAGE_THRESHOLD),
        0.5
    );
    assert_eq!(coverage_accuracy(&[], COVERAGE_THRESHOLD), 0.0);

    let j = CoverageJudgement::from_sentence_matrix(
        CoverageEstimator::LlmJudgePerSentence,
        "m",
        &[vec![0.1, 0.5], vec![0.2], vec![]],
    );
    assert_eq!(j.per_value, vec![0.5, 0.2, 0.0]);
    close(j.item_score, 0.7 / 3.0, 1e-15);
    assert!(!j.covered(COVERAGE_THRESHOLD));
    let j = CoverageJudgement::from_per_value(
        CoverageEstimator::LlmJudgeDirect,
        "m",
        vec![1.5, f64::NAN, 0.5],
    );
    assert_eq!(j.per_value, vec![1.0, 0.0, 0.5]);
    assert!(j.covered(COVERAGE_THRESHOLD));
    assert_ne!(
        CoverageEstimator::ReferenceNli.label(),
        CoverageEstimator::LlmJudgeDirect.label()
    );
}

#[test]
fn sentence_splitting() {
    assert_eq!(
        split_sentences(
            "Patients must consent. Doctors should, e.g. in emergencies, act! Is it fair?  Yes"
        ),
        vec![
            "Patients must consent.",
            "Doctors should, e.g. in emergencies, act!",
            "Is it fair?",
            "Yes"
        ]
    );
    assert_eq!(
        split_sentences("Dr. Smith said \"no.\" Then he left."),
        vec!["Dr. Smith said \"no.\"", "Then he left."]
    );
    assert_eq!(
        split_sentences("Costs rose 3.5 percent.\n- Access matters\n\n"),
        vec!["Costs rose 3.5 percent.", "- Access matters"]
    );
    assert_eq!(
        split_sentences("I pick A. It is right..."),
        vec!["I pick A.", "It is right..."]
    );
    assert!(split_sentences("   \n ... \n").is_empty());
}

#[test]
fn judge_replies() {
    assert_eq!(parse_judge_probability("0.8"), Some(0.8));
    assert_eq!(parse_judge_probability("Probability: 80%"), Some(0.8));
    assert_eq!(parse_judge_probability("I'd say 65"), Some(0.65));
    assert_eq!(
        parse_judge_probability("{\"entailment_probability\": 0.25}"),
        Some(0.25)
    );
    assert_eq!(parse_judge_probability("Yes, it is entailed."), Some(1.0));
    assert_eq!(parse_judge_probability("No."), Some(0.0));
    assert_eq!(parse_judge_probability("150"), None);
    assert_eq!(parse_judge_probability("maybe"), None);
    assert_eq!(parse_judge_probability(""), None);

    assert_eq!(
        parse_judge_scores("[0.1, 0.9, 0.5]", 3),
        Ok(vec![0.1, 0.9, 0.5])
    );
    assert_eq!(
        parse_judge_scores("```json\n{\"1\": 0.2, \"2\": \"40%\"}\n```", 2),
        Ok(vec![0.2, 0.4])
    );
    assert_eq!(
        parse_judge_scores("{\"scores\": [1, 0]}", 2),
        Ok(vec![1.0, 0.0])
    );
    assert_eq!(
        parse_judge_scores("1. 0.7\n2. 0.2\n3: 90%", 3),
        Ok(vec![0.7, 0.2, 0.9])
    );
    assert_eq!(
        parse_judge_scores("Explanation 1: 0.7\nExplanation 2: 0.1", 2),
        Ok(vec![0.7, 0.1])
    );
    assert_eq!(
        parse_judge_scores("Here are the 2 scores:\n1. 0.7\n2: 40%\nOverall 0.5", 2),
        Ok(vec![0.7, 0.4])
    );
    let err = parse_judge_scores("1. 0.7", 3).unwrap_err();
    assert!(
        err.contains("expected 3") && err.contains("found 1"),
        "{err}"
    );
    assert!(parse_judge_scores("", 1).is_err());
}
