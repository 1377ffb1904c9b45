//! How each prediction was produced: `pred_method` of a distribution result, and the counts.

use ethos_engine::distribution::{DistMethod, Distribution};
use ethos_engine::provenance::{pred_method, MethodCounts, UNIFORM_FALLBACK};
use ethos_engine::record::DistResult;

fn read(method: DistMethod, uniform_fallback: bool) -> Option<Distribution> {
    Some(Distribution {
        probs: vec![0.5, 0.5],
        method,
        uniform_fallback,
    })
}

fn result(method: DistMethod, per_read: Vec<Option<Distribution>>) -> DistResult {
    DistResult {
        selection: None,
        answer: None,
        per_read,
        distribution: vec![0.5, 0.5],
        method,
        note: None,
        js: None,
        argmax_match: None,
    }
}

#[test]
fn the_method_of_a_prediction() {
    let logprobs = DistMethod::Logprobs;
    let r = result(logprobs, vec![read(logprobs, false), read(logprobs, true)]);
    assert_eq!(
        pred_method(&r),
        "logprobs",
        "one usable read keeps the method"
    );
    let r = result(
        logprobs,
        vec![read(logprobs, true), None, read(logprobs, true)],
    );
    assert_eq!(pred_method(&r), UNIFORM_FALLBACK, "every read fell back");
    let r = result(DistMethod::Votes, vec![]);
    assert_eq!(pred_method(&r), "votes", "no reads: the result's method");
    let r = result(
        DistMethod::Verbalised,
        vec![read(DistMethod::Verbalised, false)],
    );
    assert_eq!(pred_method(&r), "verbalised");
    let r = result(
        DistMethod::Sampling,
        vec![read(DistMethod::Sampling, false)],
    );
    assert_eq!(pred_method(&r), "sampling");
}

#[test]
fn counts_say_when_methods_mix() {
    let mut c = MethodCounts::default();
    assert!(!c.is_mixed());
    assert_eq!(c.describe(), "");
    for _ in 0..98 {
        c.add(Some("logprobs"));
    }
    assert!(!c.is_mixed());
    assert_eq!(c.describe(), "logprobs 98");
    c.add(Some("votes"));
    c.add(Some("votes"));
    c.add(Some(UNIFORM_FALLBACK));
    c.add(None);
    assert!(c.is_mixed());
    assert_eq!(c.total(), 102);
    assert_eq!(
        c.describe(),
        "logprobs 98, votes 2, uniform fallback 1, unknown 1"
    );
    assert_eq!(
        serde_json::to_value(&c).unwrap(),
        serde_json::json!({"logprobs": 98, "votes": 2, "uniform_fallback": 1, "unknown": 1})
    );
}
