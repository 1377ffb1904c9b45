//! Class poll: part of the run record (JSON, validation, Markdown, CSV, both share-link formats),
//! and the Jensen–Shannon distances model ↔ class ↔ survey.

#[path = "scripted.rs"]
mod scripted;

use ethos_engine::metrics::js_distance;
use ethos_engine::poll::{reference_label, scores, ClassPoll, PollError};
use ethos_engine::record::{summary_csv, RecordError, RunRecord, RunResult};
use ethos_engine::settings::Method;
use ethos_engine::share::{decode_all, fragment, from_payload, payload, Shared};
use ethos_engine::Item;
use scripted::{global, run_with, settings, ScriptedModel};

fn done(item: Item) -> RunRecord {
    let (out, rec) = run_with(
        item,
        settings(4, 4),
        Method::EthosAgents,
        &ScriptedModel::default(),
    );
    out.expect("run");
    rec
}

fn model_dist(r: &RunRecord) -> Vec<f64> {
    match &r.result {
        Some(RunResult::Distribution(d)) => d.distribution.clone(),
        other => panic!("not a distribution: {other:?}"),
    }
}

fn custom() -> Item {
    let opts = [
        "Always ask".to_string(),
        "Never ask".into(),
        "It depends".into(),
    ];
    Item::custom(
        "custom-1",
        "Should a hospital ask each patient first?",
        &opts,
        None,
    )
    .expect("item")
}

#[test]
fn a_poll_scores_against_the_model_and_the_survey() {
    let mut rec = done(global());
    assert_eq!(scores(&rec), None, "no poll, no poll scores");
    rec.set_poll(Some(ClassPoll::parse(&["9", "3"]).unwrap()))
        .unwrap();
    let model = model_dist(&rec);
    let s = scores(&rec).unwrap();
    // The distances are SciPy's, computed on the shares (checked against the metric itself and,
    // for class ↔ survey, a value worked out by hand).
    assert_eq!(s.model_class, Some(js_distance(&model, &[0.75, 0.25])));
    assert_eq!(s.model_survey, Some(js_distance(&model, &[0.7, 0.3])));
    let (p, q) = ([0.75, 0.25], [0.7, 0.3]);
    let m = [0.725, 0.275];
    let kl = |a: &[f64; 2]| a[0] * (a[0] / m[0]).ln() + a[1] * (a[1] / m[1]).ln();
    let by_hand = ((kl(&p) + kl(&q)) / 2.0).sqrt();
    assert!(
        (s.class_survey.unwrap() - by_hand).abs() < 1e-12,
        "{s:?} vs {by_hand}"
    );
    assert_eq!(reference_label(&rec.item), Some("Survey population"));

    // A poll on a question of the user's own without shares: only model ↔ class.
    let mut own = done(custom());
    own.set_poll(Some(ClassPoll {
        votes: vec![0, 4, 0],
    }))
    .unwrap();
    let s = scores(&own).unwrap();
    assert_eq!(
        s.model_class,
        Some(js_distance(&model_dist(&own), &[0.0, 1.0, 0.0]))
    );
    assert_eq!((s.model_survey, s.class_survey), (None, None));
    assert_eq!(reference_label(&own.item), None);
}

#[test]
fn setting_a_poll_keeps_the_result_and_refuses_a_misfit() {
    let mut rec = done(global());
    let result = rec.result.clone();
    assert_eq!(
        rec.set_poll(Some(ClassPoll {
            votes: vec![1, 2, 3]
        })),
        Err(PollError::Length { got: 3, options: 2 })
    );
    assert_eq!(rec.poll, None);
    rec.set_poll(Some(ClassPoll { votes: vec![1, 2] })).unwrap();
    assert_eq!(rec.result, result, "the poll does not touch the run");
    assert_eq!(
        rec.fresh().poll,
        rec.poll,
        "a re-run keeps the class's votes"
    );
    rec.set_poll(None).unwrap();
    assert_eq!(rec.poll, None);
}

#[test]
fn the_poll_survives_json_and_a_bad_one_is_refused_with_a_message() {
    let mut rec = done(global());
    let plain = rec.to_json();
    assert!(
        !plain.contains("poll"),
        "no poll, no field (older builds read the record)"
    );
    rec.set_poll(Some(ClassPoll { votes: vec![12, 5] }))
        .unwrap();
    let back = RunRecord::from_json(&rec.to_json()).unwrap();
    assert_eq!(back, rec);

    let mut v: serde_json::Value = serde_json::from_str(&rec.to_json()).unwrap();
    for (bad, says) in [
        (serde_json::json!({"votes": [0, 0]}), "at least one vote"),
        (
            serde_json::json!({"votes": [1, 2, 3]}),
            "3 counts but the question has 2",
        ),
        (
            serde_json::json!({"votes": [2000000, 1]}),
            "more than 1000000",
        ),
    ] {
        v["poll"] = bad;
        let err = RunRecord::from_json(&v.to_string()).unwrap_err();
        assert!(matches!(err, RecordError::Invalid(_)), "{err}");
        assert!(err.to_string().contains(says), "{err}");
    }
    for bad in [
        serde_json::json!({"votes": [-1, 2]}),
        serde_json::json!({"votes": [1.5, 2]}),
        serde_json::json!("x"),
    ] {
        v["poll"] = bad;
        let err = RunRecord::from_json(&v.to_string()).unwrap_err();
        assert!(matches!(err, RecordError::Json(_)), "{err}");
    }
}

#[test]
fn markdown_and_csv_carry_the_poll() {
    let mut rec = done(global());
    rec.set_poll(Some(ClassPoll { votes: vec![9, 3] })).unwrap();
    let s = scores(&rec).unwrap();
    let md = rec.to_markdown();
    assert!(md.contains("## Class poll: Class (12 votes)"), "{md}");
    assert!(
        md.contains("| option | | votes | class | model | Survey population |"),
        "{md}"
    );
    assert!(md.contains("| A | Yes | 9 | 75.0% |"), "{md}");
    assert!(
        md.contains(&format!(
            "- **model ↔ class:** {:.4}",
            s.model_class.unwrap()
        )),
        "{md}"
    );
    assert!(
        md.contains(&format!(
            "- **model ↔ Survey population:** {:.4}",
            s.model_survey.unwrap()
        )),
        "{md}"
    );

    let csv = rec.to_csv();
    let header = csv.lines().next().unwrap();
    assert!(
        header.ends_with("reply,class_votes,js_model_class,js_model_survey,js_class_survey"),
        "{header}"
    );
    let tail = format!(
        ",A=9;B=3,{:.4},{:.4},{:.4}\r\n",
        s.model_class.unwrap(),
        s.model_survey.unwrap(),
        s.class_survey.unwrap()
    );
    assert_eq!(
        csv.matches(&tail).count(),
        rec.calls.len(),
        "every call row ends with the poll"
    );

    let plain = done(custom());
    let summary = summary_csv(&[rec.clone(), plain]);
    let rows: Vec<&str> = summary.trim_end().split("\r\n").collect();
    assert!(rows[0].ends_with(",class_votes,js_model_class,js_model_survey,js_class_survey"));
    assert!(rows[1].ends_with(&tail.trim_end()[..]), "{}", rows[1]);
    assert!(
        rows[2].ends_with(",,,,"),
        "no poll, empty columns: {}",
        rows[2]
    );
    assert!(!done(custom()).to_markdown().contains("Class poll"));
}

#[test]
fn share_links_carry_the_poll_in_both_formats() {
    let mut rec = done(global());
    rec.set_poll(Some(ClassPoll { votes: vec![9, 3] })).unwrap();
    let shared = Shared::run(rec.clone(), Vec::new());
    assert_eq!(from_payload(payload(&shared).as_bytes()), Ok(shared));
    let (back, _) = decode_all(&fragment(&rec, &[])).unwrap();
    assert_eq!(back.poll, rec.poll);
    // A link made before polls existed (no field) still opens, without a poll.
    let mut old = rec.clone();
    old.poll = None;
    let (back, _) = decode_all(&fragment(&old, &[])).unwrap();
    assert_eq!(back, old);
}

mod properties {
    use ethos_engine::poll::{ClassPoll, MAX_VOTES_PER_OPTION};
    use proptest::prelude::*;

    proptest! {
        /// Whatever is typed, reading it never panics; what is accepted is a usable poll.
        #[test]
        fn typed_votes_never_panic(
            inputs in prop::collection::vec(prop_oneof![".{0,12}", "[0-9 +.-]{0,9}"], 0..6)
        ) {
            if let Ok(p) = ClassPoll::parse(&inputs) {
                prop_assert_eq!(p.votes.len(), inputs.len());
                prop_assert!(p.total() > 0);
                prop_assert!(p.validate(inputs.len()).is_ok());
                let sum: f64 = p.distribution().iter().sum();
                prop_assert!((sum - 1.0).abs() < 1e-9, "{}", sum);
            }
        }

        /// Counts written as numbers read back as those counts.
        #[test]
        fn counts_read_back(votes in prop::collection::vec(0..=MAX_VOTES_PER_OPTION, 1..6)) {
            let typed: Vec<String> = votes.iter().map(|v| format!(" {v} ")).collect();
            match ClassPoll::parse(&typed) {
                Ok(p) => prop_assert_eq!(p.votes, votes),
                Err(e) => prop_assert!(votes.iter().all(|v| *v == 0), "{}", e),
            }
        }
    }
}
