//! Attrition: failed items left out of the scores (the default) or scored as the reference does
//! (uniform distribution / unparsed answer / coverage 0), in the summary, the breakdown, the
//! filled VITAL file and the per-item CSV. Expected figures are computed by hand (JS distances
//! checked against SciPy's `jensenshannon`).
#[path = "scripted.rs"]
mod scripted;

use ethos_engine::batch::{self, BatchRun, BatchSpec, CallCache, Outcome, Scoring, Slice, Task};
use ethos_engine::chat::{ChatError, ChatModel, ChatRequest, ChatResponse};
use ethos_engine::distribution::DistMethod;
use ethos_engine::metrics::{score_distributions, CoverageEstimator, CoverageJudgement};
use ethos_engine::provenance::{FAILED_UNIFORM, PRED_ERROR, PRED_METHOD};
use ethos_engine::record::{DistResult, OvertonResult, RunResult, ValueResult};
use ethos_engine::settings::Method;
use ethos_engine::vital::{self, ChoiceItem, Item, ItemId, Source};
use futures::executor::block_on;
use scripted::{all_text, settings, ScriptedModel, Ticks};
use std::cell::RefCell;

/// JS([0.2, 0.8], [0.5, 0.5]), natural log (SciPy: 0.22510405812771547).
const JS_02_UNIFORM: f64 = 0.225_104_058_127_715_45;
/// JS([1, 0], [0.5, 0.5]) (spec/evaluation.md).
const JS_10_UNIFORM: f64 = 0.464_501_404_022_458_93;

const LEFT_OUT: Scoring = Scoring {
    failed_as_reference: false,
    judged: true,
};
const AS_REFERENCE: Scoring = Scoring {
    failed_as_reference: true,
    judged: true,
};

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

fn choice(id: i64, gold: Vec<f64>) -> Item {
    Item::Choice {
        source: Source::GlobalOpinionQa,
        item: ChoiceItem {
            id: ItemId::Int(id),
            question: "Question: Q?\nOptions: A. Yes B. No\nAnswer:".into(),
            options: vec!["Yes".into(), "No".into()],
            attribute: "Argentina".into(),
            gold_distribution: Some(gold),
            pred_distribution: None,
        },
    }
}

fn outcome(item: usize, result: Option<RunResult>) -> Outcome {
    Outcome {
        task: Task {
            item,
            method: Method::EthosAgents,
            model: 0,
        },
        error: result
            .is_none()
            .then(|| "stage 1: fewer than k perspectives".into()),
        result,
        calls: 1,
        cached_calls: 0,
        prompt_tokens: 0,
        completion_tokens: 0,
        ms: 0.0,
    }
}

fn dist(pred: Vec<f64>) -> RunResult {
    RunResult::Distribution(DistResult {
        selection: None,
        answer: None,
        per_read: Vec::new(),
        distribution: pred,
        method: DistMethod::Logprobs,
        note: None,
        js: Some(0.0),
        argmax_match: Some(true),
    })
}

#[test]
fn failed_choice_items_score_as_the_uniform_distribution() {
    let items = vec![
        choice(1, vec![1.0, 0.0]),
        choice(2, vec![0.2, 0.8]),
        choice(3, vec![1.0, 0.0]),
    ];
    let outcomes = vec![
        outcome(0, Some(dist(vec![1.0, 0.0]))),
        outcome(1, None),
        outcome(2, None),
    ];
    let m = Method::EthosAgents;

    // Left out: one item scored, two counted as failed.
    let s = batch::summarize_scored(&items, &outcomes, m, 0, LEFT_OUT);
    assert_eq!(s, batch::summarize(&items, &outcomes, m));
    let d = s.dist.clone().unwrap();
    assert_eq!((d.records, s.failed, s.failed_scored), (1, 2, 0));
    assert!(close(d.mean_js, 0.0) && close(d.most_likely, 1.0));
    assert_eq!(s.attrition().as_deref(), Some("2 failed items left out"));

    // As the reference: every item scored; the failed ones with [0.5, 0.5], which "predicts" A.
    let s = batch::summarize_scored(&items, &outcomes, m, 0, AS_REFERENCE);
    let d = s.dist.clone().unwrap();
    assert_eq!((d.records, s.done, s.failed, s.failed_scored), (3, 1, 2, 2));
    assert!(
        close(d.mean_js, (0.0 + JS_02_UNIFORM + JS_10_UNIFORM) / 3.0),
        "{}",
        d.mean_js
    );
    assert!(close(d.most_likely, 2.0 / 3.0), "{}", d.most_likely);
    let methods = s.pred_methods.clone().unwrap();
    assert_eq!(methods.describe(), "logprobs 1, failed uniform 2");
    assert!(methods.is_mixed());
    assert_eq!(
        s.attrition().as_deref(),
        Some("failed items scored as the reference does: 2")
    );
    // The breakdown (one attribute here) scores the same way.
    let parts = batch::breakdown_scored(&items, &outcomes, m, 0, AS_REFERENCE);
    assert_eq!(parts.len(), 1);
    assert_eq!(parts[0].1.dist, s.dist);

    // The filled file: the failed records carry the uniform prediction, say so and keep the error.
    let file = batch::filled_file_scored(&items, &outcomes, m, 0, AS_REFERENCE);
    let records = file.as_array().unwrap();
    assert_eq!(
        records[1]["pred_distribution"],
        serde_json::json!([0.5, 0.5])
    );
    assert_eq!(records[1][PRED_METHOD], FAILED_UNIFORM);
    assert!(records[1][PRED_ERROR].as_str().unwrap().contains("stage 1"));
    assert_eq!(records[0][PRED_METHOD], "logprobs");
    // Left out, the prediction stays null.
    let file = batch::filled_file_scored(&items, &outcomes, m, 0, LEFT_OUT);
    assert!(file[1]["pred_distribution"].is_null());
    assert!(file[1].get(PRED_METHOD).is_none());
    // Read back, the filled file scores as the summary does.
    let back = vital::load_value(
        &batch::filled_file_scored(&items, &outcomes, m, 0, AS_REFERENCE),
        Some(Source::GlobalOpinionQa),
    )
    .unwrap();
    let pairs: Vec<(Vec<f64>, Vec<f64>)> = back
        .iter()
        .map(|i| match i {
            Item::Choice { item, .. } => (
                item.gold_distribution.clone().unwrap(),
                item.pred_distribution.clone().unwrap(),
            ),
            _ => panic!("a choice item"),
        })
        .collect();
    assert_eq!(Some(score_distributions(pairs)), s.dist);

    // The CSV: the failed rows carry the figures they are scored with, their status and error.
    let csv = batch::scores_csv_scored(&items, &outcomes, &[m], &[], AS_REFERENCE);
    let row: Vec<&str> = csv.lines().nth(2).unwrap().split(',').collect();
    assert_eq!(row[3], "failed");
    assert!(close(row[4].parse().unwrap(), JS_02_UNIFORM), "{csv}");
    assert_eq!((row[5], row[6]), ("false", FAILED_UNIFORM));
    assert!(row[14].contains("stage 1"));
    let plain = batch::scores_csv(&items, &outcomes, &[m], &[]);
    let row: Vec<&str> = plain.lines().nth(2).unwrap().split(',').collect();
    assert_eq!((row[3], row[4], row[6]), ("failed", "", ""));
}

fn value(id: i64, gold: &str) -> Item {
    Item::Value(vital::ValueItem {
        id: ItemId::Int(id),
        situation: "S".into(),
        vrd: "Right to life".into(),
        label_text: String::new(),
        label: gold.into(),
        input: "Options: A. Supports B. Opposes C. Either\nAnswer:".into(),
        output: None,
    })
}

#[test]
fn failed_value_items_score_as_unparsed_answers() {
    let items = vec![value(1, "A"), value(2, "B"), value(3, "C")];
    let answer_a = RunResult::Value(ValueResult {
        selection: None,
        answer: "A".into(),
        letter_reference: Some('A'),
        letter_strict: Some('A'),
        gold: "A".into(),
        correct_reference: true,
        correct_strict: true,
    });
    let outcomes = vec![
        outcome(0, Some(answer_a)),
        outcome(1, None),
        outcome(2, None),
    ];
    let m = Method::EthosAgents;
    let left = batch::summarize_scored(&items, &outcomes, m, 0, LEFT_OUT);
    let v = left.value_reference.unwrap();
    assert_eq!((v.records, v.unparsed), (1, 0));
    assert!(close(v.accuracy, 1.0) && close(v.macro_f1, 1.0));

    let s = batch::summarize_scored(&items, &outcomes, m, 0, AS_REFERENCE);
    assert_eq!(s.failed_scored, 2);
    for v in [s.value_reference.unwrap(), s.value_strict.unwrap()] {
        // Predictions A, unparsed, unparsed against gold A, B, C.
        assert_eq!((v.records, v.unparsed), (3, 2));
        assert!(close(v.accuracy, 1.0 / 3.0));
        // Recall over the gold labels A, B, C: 1, 0, 0.
        assert!(close(v.balanced_accuracy, 1.0 / 3.0));
        // F1 over A, B, C and "unparsed": 1, 0, 0, 0.
        assert!(close(v.macro_f1, 0.25));
        // Binary: (A, A) and (B, unparsed) remain.
        assert_eq!(v.binary_records, 2);
        assert!(close(v.binary_accuracy, 0.5) && close(v.binary_balanced_accuracy, 0.5));
        assert!(close(v.binary_macro_f1, 1.0 / 3.0));
    }
    // The filled file's failed outputs are empty (the reference parser reads nothing there).
    let file = batch::filled_file_scored(&items, &outcomes, m, 0, AS_REFERENCE);
    assert_eq!(file[1]["output"], "");
    assert!(file[1].get(PRED_METHOD).is_none());
    let csv = batch::scores_csv_scored(&items, &outcomes, &[m], &[], AS_REFERENCE);
    let row: Vec<&str> = csv.lines().nth(2).unwrap().split(',').collect();
    assert_eq!((row[7], row[8]), ("false", "false"));
}

#[test]
fn failed_overton_items_score_coverage_zero_when_judged() {
    let overton = |id: i64| {
        Item::Overton(vital::OvertonItem {
            id: ItemId::Int(id),
            situation: "S".into(),
            vrd: vec!["Value: care".into(), "Duty: honesty".into()],
            explanation: vec!["Care matters.".into(), "Honesty matters.".into()],
            input: "S".into(),
            output: None,
        })
    };
    let items = vec![overton(1), overton(2)];
    let judged = RunResult::Overton(OvertonResult {
        text: "Care matters here.".into(),
        coverage: Some(CoverageJudgement::from_per_value(
            CoverageEstimator::LlmJudgePerSentence,
            "judge",
            vec![1.0, 0.0],
        )),
    });
    let outcomes = vec![outcome(0, Some(judged)), outcome(1, None)];
    let m = Method::EthosAgents;
    let c = batch::summarize_scored(&items, &outcomes, m, 0, AS_REFERENCE)
        .coverage
        .unwrap();
    // Item scores 0.5 and 0: mean 0.25, one of two above 0.33.
    assert_eq!(c.judged, 2);
    assert!(close(c.mean_item_score, 0.25) && close(c.accuracy, 0.5));
    let c = batch::summarize_scored(&items, &outcomes, m, 0, LEFT_OUT)
        .coverage
        .unwrap();
    assert_eq!(c.judged, 1);
    assert!(close(c.mean_item_score, 0.5) && close(c.accuracy, 1.0));
    // Not judged: no coverage figure, so a failed item adds nothing and is only counted.
    let unjudged = Scoring {
        failed_as_reference: true,
        judged: false,
    };
    let s = batch::summarize_scored(&items, &outcomes, m, 0, unjudged);
    assert_eq!((s.failed, s.failed_scored), (1, 0));
    assert_eq!(s.attrition().as_deref(), Some("1 failed item left out"));
    let file = batch::filled_file_scored(&items, &outcomes, m, 0, AS_REFERENCE);
    assert_eq!(file[1]["output"], "");
}

/// Fails every call that mentions `needle`; the rest go to the scripted model.
struct FailOn<'a> {
    inner: ScriptedModel,
    needle: &'a str,
}

impl ChatModel for FailOn<'_> {
    async fn chat(
        &self,
        req: &ChatRequest,
        on_delta: &mut dyn FnMut(&str),
    ) -> Result<ChatResponse, ChatError> {
        if all_text(req).contains(self.needle) {
            return Err(ChatError::Server {
                status: 500,
                message: "scripted failure".into(),
            });
        }
        self.inner.chat(req, on_delta).await
    }
}

#[test]
fn a_batch_with_failed_items_scores_every_method_on_the_same_items() {
    let file = "vital_distributional_globalopinionqa.json";
    let path = format!("{}/../../public/vital/{file}", env!("CARGO_MANIFEST_DIR"));
    let all = vital::load(
        &std::fs::read_to_string(&path).unwrap(),
        Source::from_file_name(file),
    )
    .unwrap();
    let mut spec = BatchSpec {
        file: file.into(),
        slice: Slice::first(6),
        methods: vec![Method::EthosAgents, Method::Vanilla],
        settings: settings(3, 3),
        items_in_flight: 2,
        judge: false,
        models: Vec::new(),
    };
    let items: Vec<Item> = batch::select(&all, &spec.slice)
        .unwrap()
        .into_iter()
        .map(|i| all[i].clone())
        .collect();
    // Every call about the second item's country fails: EthosAgents fails there (its stage 1
    // names the country), the vanilla baseline (the question alone) does not.
    let country = items[1].attribute().unwrap().to_string();
    let model = FailOn {
        inner: ScriptedModel::default(),
        needle: &country,
    };
    let cache = RefCell::new(CallCache::new());
    let clock = Ticks::new();
    let run = BatchRun {
        model: &model,
        items: &items,
        spec: &spec,
        cache: &cache,
        clock: &clock,
        observer: &NoBatchObserver,
    };
    let outcomes = block_on(run.run(&spec.all_tasks(items.len())));
    let ea = batch::summarize(&items, &outcomes, Method::EthosAgents);
    let va = batch::summarize(&items, &outcomes, Method::Vanilla);
    assert!(ea.failed > 0, "some EthosAgents items failed");
    assert_eq!(va.failed, 0);
    assert_ne!(
        ea.dist.as_ref().unwrap().records,
        va.dist.as_ref().unwrap().records,
        "left out, the two methods are scored on different items"
    );

    spec.settings.score_failed_as_reference = true;
    let scoring = Scoring::of(&spec);
    assert!(scoring.failed_as_reference);
    let scored = batch::summarize_scored(&items, &outcomes, Method::EthosAgents, 0, scoring);
    assert_eq!(scored.failed_scored, ea.failed);
    assert_eq!(scored.dist.as_ref().unwrap().records, items.len());
    // By hand: each item's prediction, or the uniform distribution where the task failed.
    let pairs: Vec<(Vec<f64>, Vec<f64>)> = items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let Item::Choice { item: c, .. } = item else {
                panic!("a choice item")
            };
            let gold = c.gold_distribution.clone().unwrap();
            let o = outcomes
                .iter()
                .find(|o| o.task.item == i && o.task.method == Method::EthosAgents)
                .unwrap();
            let pred = match (&o.result, o.ok()) {
                (Some(RunResult::Distribution(d)), true) => d.distribution.clone(),
                _ => vec![1.0 / gold.len() as f64; gold.len()],
            };
            (gold, pred)
        })
        .collect();
    assert_eq!(scored.dist, Some(score_distributions(pairs)));
    assert_ne!(scored.dist, ea.dist);
    // The vanilla baseline had no failure: its scores do not change.
    let va_scored = batch::summarize_scored(&items, &outcomes, Method::Vanilla, 0, scoring);
    assert_eq!(va_scored.dist, va.dist);

    // A stored state continues the batch whichever way its failed items are scored.
    let ids: Vec<String> = items.iter().map(|i| i.id().to_string()).collect();
    let state = batch::BatchState {
        ethos_batch_state: batch::STATE_FORMAT,
        spec: spec.clone(),
        items: ids.clone(),
        calls: Vec::new(),
        outcomes,
    };
    spec.settings.score_failed_as_reference = false;
    assert_eq!(state.mismatch(&spec, &ids), None);
    spec.settings.k = 4;
    assert!(state.mismatch(&spec, &ids).is_some());
}

struct NoBatchObserver;
impl batch::BatchObserver for NoBatchObserver {}
