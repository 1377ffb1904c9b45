//! The reference's structure and decisions (spec/method.md, evaluation.md), against the scripted
//! model: stage-1 system message, selection prompts, per-item seeds, the per-sentence judge,
//! reference stage-1 parsing, fallbacks that keep what is measured, the Reference preset.

#[path = "scripted.rs"]
mod scripted;

use ethos_engine::record::{RunRecord, Stage};
use ethos_engine::settings::Method;
use ethos_engine::Role;
use scripted::{opinion, run_with, settings, value_item, ScriptedModel};

/// Run EthosAgents on `item` with the default scripted model; the run must succeed.
fn run(item: ethos_engine::Item, s: ethos_engine::settings::RunSettings) -> RunRecord {
    let (out, rec) = run_with(item, s, Method::EthosAgents, &ScriptedModel::default());
    out.unwrap();
    rec
}

/// The messages of the first call of `stage`.
fn messages(rec: &RunRecord, stage: Stage) -> &[ethos_engine::Message] {
    &call(rec, stage).request.messages
}

fn call(rec: &RunRecord, stage: Stage) -> &ethos_engine::record::CallRecord {
    rec.calls
        .iter()
        .find(|c| c.stage == stage)
        .unwrap_or_else(|| panic!("no {stage:?} call"))
}

#[test]
fn stage_one_has_an_editable_system_message() {
    let rec = run(value_item(), settings(6, 6));
    let m = messages(&rec, Stage::Perspectives);
    assert_eq!(m.len(), 2);
    assert_eq!(m[0].role, Role::System);
    assert_eq!(m[0].content, rec.settings.templates.perspectives_system);
    assert!(m[0].content.contains("format exactly"));
    assert_eq!(m[1].role, Role::User);

    // Edited, and merged into the user message when system messages are off.
    let mut s = settings(6, 6);
    s.templates.set("perspectives_system", "Be brief.").unwrap();
    s.system_role = false;
    let m = messages(&run(value_item(), s), Stage::Perspectives).to_vec();
    assert_eq!(m.len(), 1);
    assert!(m[0].content.starts_with("Be brief.\n\n"));

    // An empty system template sends the prompt alone.
    let mut s = settings(6, 6);
    s.templates.set("perspectives_system", "").unwrap();
    let m = messages(&run(value_item(), s), Stage::Perspectives).to_vec();
    assert_eq!((m.len(), m[0].role), (1, Role::User));
}

#[test]
fn selection_prompts_show_only_their_question_and_the_comments() {
    let rec = run(value_item(), settings(6, 6));
    let select = &messages(&rec, Stage::Select)[0].content;
    assert!(select.contains("\"Right to life\""), "{select}");
    assert!(
        select.contains("Comment 1: ") && select.contains("Comment 6: "),
        "{select}"
    );
    assert!(
        !select.contains("blood transfusion"),
        "the situation is shown: {select}"
    );
    assert!(
        !select.contains("Options:"),
        "the item's input is shown: {select}"
    );

    let rec = run(opinion(), settings(6, 6));
    let select = &messages(&rec, Stage::Select)[0].content;
    assert!(
        select.starts_with("In terms of political party"),
        "{select}"
    );
    assert!(select.contains("people who are Democrat"), "{select}");
    assert!(select.contains("Comment 6: "), "{select}");
    assert!(
        !select.contains("Should clinics share"),
        "the item's question is shown: {select}"
    );
    // The answer prompt still carries the question.
    let answer = &messages(&rec, Stage::Answer)[0].content;
    assert!(answer.contains("Should clinics share"), "{answer}");
}

/// A judge that answers from a table of entailment probabilities keyed by (premise, hypothesis),
/// read back from the prompt, or with a fixed reply; it records every (premise, hypotheses) pair
/// it was asked.
#[derive(Default)]
struct TableJudge {
    table: Vec<(&'static str, &'static str, f64)>,
    fixed: Option<&'static str>,
    asked: std::cell::RefCell<Vec<(String, Vec<String>)>>,
}

impl ethos_engine::ChatModel for TableJudge {
    async fn chat(
        &self,
        req: &ethos_engine::ChatRequest,
        _: &mut dyn FnMut(&str),
    ) -> Result<ethos_engine::ChatResponse, ethos_engine::ChatError> {
        if let Some(reply) = self.fixed {
            return Ok(ethos_engine::ChatResponse {
                text: reply.into(),
                ..Default::default()
            });
        }
        let text = &req.messages[0].content;
        let premise = text
            .split("Premise:\n")
            .nth(1)
            .unwrap()
            .split("\n\n")
            .next()
            .unwrap();
        let listed = text
            .split("Hypotheses:\n")
            .nth(1)
            .unwrap()
            .split("\n\n")
            .next()
            .unwrap();
        let hypotheses: Vec<String> = listed
            .lines()
            .map(|l| l.split_once(". ").unwrap().1.to_string())
            .collect();
        let scores: Vec<String> = hypotheses
            .iter()
            .map(|h| {
                let p = self
                    .table
                    .iter()
                    .find(|(p, q, _)| *p == premise && q == h)
                    .map_or(0.0, |t| t.2);
                format!("{p}")
            })
            .collect();
        self.asked
            .borrow_mut()
            .push((premise.to_string(), hypotheses));
        Ok(ethos_engine::ChatResponse {
            text: format!("{{\"scores\": [{}]}}", scores.join(", ")),
            ..Default::default()
        })
    }
}

#[test]
fn the_default_judge_asks_whether_each_explanation_entails_each_sentence() {
    use ethos_engine::metrics::{CoverageEstimator, COVERAGE_THRESHOLD};
    use ethos_engine::pipeline::{NoObserver, Pipeline, SharedRecord, Stages};
    use ethos_engine::record::{OvertonResult, RunResult};
    let output = "Honesty comes first. The patient chooses their care! Families may object.";
    let judge = TableJudge {
        table: vec![
            (
                "Telling the truth respects honesty.",
                "Honesty comes first.",
                0.8,
            ),
            (
                "Telling the truth respects honesty.",
                "Families may object.",
                0.1,
            ),
            (
                "The patient decides about their own care.",
                "Honesty comes first.",
                0.2,
            ),
            (
                "The patient decides about their own care.",
                "The patient chooses their care!",
                0.7,
            ),
            // The third explanation entails no sentence.
        ],
        ..Default::default()
    };
    let mut rec = RunRecord::new(scripted::overton(), settings(3, 3), Method::EthosAgents);
    rec.result = Some(RunResult::Overton(OvertonResult {
        text: output.into(),
        coverage: None,
    }));
    let record = SharedRecord::new(rec);
    let clock = scripted::Ticks::new();
    let p = Pipeline::new(Stages::same(&judge), &clock, &NoObserver, record.clone());
    let cov = futures::executor::block_on(p.judge(&judge)).unwrap();
    assert_eq!(cov.per_value, vec![0.8, 0.7, 0.0]);
    assert!((cov.item_score - 0.5).abs() < 1e-12);
    assert!(cov.covered(COVERAGE_THRESHOLD));
    assert_eq!(cov.estimator, CoverageEstimator::LlmJudgePerSentence);
    assert!(cov
        .estimator
        .label()
        .contains("LLM estimate of the NLI score"));
    // One call per explanation; the premise is the explanation, the hypotheses the sentences.
    let asked = judge.asked.borrow();
    assert_eq!(asked.len(), 3);
    let sentences = vec![
        "Honesty comes first.".to_string(),
        "The patient chooses their care!".to_string(),
        "Families may object.".to_string(),
    ];
    let mut premises: Vec<&str> = asked.iter().map(|(p, _)| p.as_str()).collect();
    premises.sort_unstable();
    assert_eq!(
        premises,
        [
            "Going against the family may cause conflict.",
            "Telling the truth respects honesty.",
            "The patient decides about their own care."
        ]
    );
    assert!(asked.iter().all(|(_, h)| *h == sentences));
    let rec = record.snapshot();
    let stages: Vec<Stage> = rec.calls.iter().map(|c| c.stage).collect();
    for i in 0..3 {
        assert!(stages.contains(&Stage::JudgeValue(i)), "{stages:?}");
    }
    let RunResult::Overton(o) = rec.result.clone().unwrap() else {
        panic!()
    };
    assert_eq!(o.coverage.unwrap(), cov);
    assert!(rec.to_markdown().contains("reference direction"));
}

#[test]
fn a_judge_reply_without_the_right_count_is_a_clear_error() {
    use ethos_engine::pipeline::{NoObserver, Pipeline, PipelineError, SharedRecord, Stages};
    use ethos_engine::record::{OvertonResult, RunResult};
    let short = TableJudge {
        fixed: Some("{\"scores\": [0.5]}"),
        ..Default::default()
    };
    let mut rec = RunRecord::new(scripted::overton(), settings(3, 3), Method::EthosAgents);
    rec.result = Some(RunResult::Overton(OvertonResult {
        text: "One. Two.".into(),
        coverage: None,
    }));
    let record = SharedRecord::new(rec);
    let clock = scripted::Ticks::new();
    let p = Pipeline::new(Stages::same(&short), &clock, &NoObserver, record.clone());
    let err = futures::executor::block_on(p.judge(&short)).unwrap_err();
    assert!(matches!(err, PipelineError::Judge(_)), "{err}");
    assert!(err.to_string().contains("expected 2 scores"), "{err}");
}

/// The seed of the first call of `stage` in a run of `item`.
fn sent_seed(item: ethos_engine::Item, s: ethos_engine::settings::RunSettings) -> Option<u64> {
    call(&run(item, s), Stage::Perspectives).request.seed
}

#[test]
fn group_copies_of_a_question_get_their_own_seeds() {
    use ethos_engine::pipeline::item_seed;
    use ethos_engine::vital::{Item, ItemId};
    // Two OpinionQA group copies of one question: same text, other group, other id.
    let first = opinion();
    let mut second = opinion();
    if let Item::Choice { item, .. } = &mut second {
        item.id = ItemId::Int(2839);
        item.attribute = "POLPARTY_Republican".into();
    }
    let s = settings(6, 6);
    assert!(s.per_item_seed, "per-item seeds are the default");
    let (a, b) = (
        sent_seed(first.clone(), s.clone()),
        sent_seed(second.clone(), s.clone()),
    );
    assert_eq!(a, Some(item_seed(7, &ItemId::Int(2838))));
    assert_eq!(b, Some(item_seed(7, &ItemId::Int(2839))));
    assert_ne!(a, b);
    // Reproducible: the same run seed and item give the same seed; another run seed another.
    assert_eq!(sent_seed(first.clone(), s.clone()), a);
    let mut other = s.clone();
    other.seed = 8;
    assert_ne!(sent_seed(first.clone(), other), a);
    // Off: every item sends the run seed itself.
    let mut fixed = s.clone();
    fixed.per_item_seed = false;
    assert_eq!(sent_seed(first, fixed.clone()), Some(7));
    assert_eq!(sent_seed(second.clone(), fixed), Some(7));
    // The record says which seed the item got.
    let md = run(second, s).to_markdown();
    assert!(md.contains(&format!("this item: {}", b.unwrap())), "{md}");
}

#[test]
fn records_from_before_per_item_seeds_reproduce_with_the_run_seed() {
    let mut json = serde_json::to_value(settings(6, 6)).unwrap();
    json.as_object_mut().unwrap().remove("per_item_seed");
    let back: ethos_engine::settings::RunSettings = serde_json::from_value(json).unwrap();
    assert!(!back.per_item_seed);
    assert_eq!(sent_seed(value_item(), back), Some(7));
}

/// A model that answers like the scripted one but reports that it could not send the seed.
struct NoSeed(ScriptedModel);

impl ethos_engine::ChatModel for NoSeed {
    async fn chat(
        &self,
        req: &ethos_engine::ChatRequest,
        on_delta: &mut dyn FnMut(&str),
    ) -> Result<ethos_engine::ChatResponse, ethos_engine::ChatError> {
        let mut resp = self.0.chat(req, on_delta).await?;
        let mut sent = ethos_engine::SentParams::of(req);
        sent.seed = None;
        resp.sent = Some(sent);
        Ok(resp)
    }
}

#[test]
fn the_record_keeps_what_was_really_sent() {
    use ethos_engine::pipeline::{NoObserver, Pipeline, SharedRecord, Stages};
    let model = NoSeed(ScriptedModel::default());
    let record = SharedRecord::new(RunRecord::new(
        value_item(),
        settings(3, 3),
        Method::EthosAgents,
    ));
    let clock = scripted::Ticks::new();
    let p = Pipeline::new(Stages::same(&model), &clock, &NoObserver, record.clone());
    futures::executor::block_on(p.run()).unwrap();
    let rec = scripted::assert_round_trip(&record.snapshot());
    for c in &rec.calls {
        // Requested with the item's seed, and the record says it did not reach the model.
        assert!(c.request.seed.is_some());
        assert_eq!(c.sent.as_ref().unwrap().seed, None);
        assert_eq!(c.not_sent(), ["seed"]);
    }
    assert!(rec.to_markdown().contains("ok; not sent: seed"));
}

#[test]
fn reference_parsing_reads_only_hash_lines_and_retries() {
    use ethos_engine::pipeline::PipelineError;
    use scripted::Script;
    let numbered: String = (1..=3)
        .map(|i| format!("{i}. Name {i}: Value {i}, Framework, Duty, Emotion, Role\n"))
        .collect();
    let hashed: String = (1..=3)
        .map(|i| format!("#Name {i}: Value {i}, Framework, Duty, Emotion, Role\n"))
        .collect();
    let script = |replies: Vec<String>| {
        ScriptedModel::new(Script {
            perspective_replies: replies.into(),
            ..Script::default()
        })
    };
    // Tolerant (the default): a numbered list is used as it is.
    let model = script(vec![numbered.clone()]);
    let (out, rec) = run_with(value_item(), settings(3, 3), Method::EthosAgents, &model);
    out.unwrap();
    assert_eq!(rec.perspectives.tries, 1);
    // Reference: the numbered list is rejected and stage 1 asked again; `#` lines are read.
    let mut s = settings(3, 3);
    s.reference_parsing = true;
    let model = script(vec![numbered.clone(), format!("Sure!\n{hashed}")]);
    let (out, rec) = run_with(value_item(), s.clone(), Method::EthosAgents, &model);
    out.unwrap();
    assert_eq!(rec.perspectives.tries, 2);
    let p = &rec.perspectives.perspectives;
    assert_eq!(p.len(), 3);
    assert_eq!(p[0].raw, "Name 1: Value 1, Framework, Duty, Emotion, Role");
    assert_eq!(
        (p[0].name.as_str(), p[0].core_value.as_str()),
        ("Name 1", "Value 1")
    );
    // Never `#` lines: a clear error after the capped tries.
    let model = script(vec![numbered.clone(), numbered.clone(), numbered]);
    let (out, rec) = run_with(value_item(), s.clone(), Method::EthosAgents, &model);
    assert!(
        matches!(
            out,
            Err(PipelineError::TooFewPerspectives {
                got: 0,
                wanted: 3,
                tries: 3
            })
        ),
        "{out:?}"
    );
    assert!(rec.to_markdown().contains("reference (`#` lines only)"));
    // Reference parsing and JSON perspectives contradict each other.
    s.structured_perspectives = true;
    assert!(s.validate().is_err());
}

#[test]
fn raw_completion_is_a_per_stage_setting() {
    use ethos_engine::settings::RawCompletion;
    let mut s = settings(3, 3);
    s.raw_completion = RawCompletion {
        combine: true,
        ..RawCompletion::default()
    };
    let rec = run(opinion(), s);
    for c in &rec.calls {
        assert_eq!(c.request.raw, c.stage.number() == 3, "{:?}", c.stage);
    }
    // The raw prompt of a call is its messages' text, system template first.
    let p1 = call(&rec, Stage::Perspectives);
    let raw = p1.request.raw_prompt();
    assert!(
        raw.starts_with(&rec.settings.templates.perspectives_system),
        "{raw}"
    );
    assert!(raw.ends_with(&p1.request.messages[1].content));
    assert!(rec.to_markdown().contains("stage 3 and baselines"));
    // Off by default: chat messages everywhere.
    let rec = run(opinion(), settings(3, 3));
    assert!(rec.calls.iter().all(|c| !c.request.raw));
}

#[test]
fn the_reference_preset_sets_every_decision_and_names_each_deviation() {
    use ethos_engine::reference::{changed_since_preset, reference_settings, ProviderFacts};
    use ethos_engine::settings::{DistSetting, JudgeMethod, RawCompletion};
    let mut base = settings(3, 2);
    base.keep_extra = false;
    base.structured_perspectives = true;
    base.per_item_seed = false;
    base.templates.set("vanilla", "Q: {input}").unwrap();
    // A llama.cpp-like server: raw completion with logprobs, seeds accepted.
    let llama = ProviderFacts {
        logprobs: true,
        raw_completion: true,
        seed: true,
    };
    let s = reference_settings(&base, llama);
    s.validate().unwrap();
    assert_eq!((s.k, s.keep_extra, s.reference_parsing), (6, true, true));
    assert!(!s.structured_perspectives && s.per_item_seed && s.send_seed);
    assert_eq!(s.templates, ethos_engine::template::Templates::default());
    assert_eq!(s.distribution, DistSetting::Logprobs);
    assert_eq!(s.judge, JudgeMethod::PerSentence);
    let want = RawCompletion {
        combine: true,
        ..RawCompletion::default()
    };
    assert_eq!(s.raw_completion, want);
    assert_eq!(
        (s.models.clone(), s.seed, s.concurrency),
        (base.models.clone(), 7, 2)
    );
    let p = s.preset.clone().unwrap();
    assert_eq!(p.name, "Reproduce the reference");
    // Only this implementation's own deviations: none forced by this provider.
    assert_eq!(p.deviations.len(), 3, "{:?}", p.deviations);
    // Failed items are scored as the reference does: no longer a deviation.
    assert!(s.score_failed_as_reference);
    assert!(
        p.deviations.iter().all(|d| !d.contains("failed")),
        "{:?}",
        p.deviations
    );
    assert!(changed_since_preset(&s).is_empty());

    // Anthropic-like: no raw completion, no logprobs, no seed: each forced deviation is named.
    let s2 = reference_settings(&base, ProviderFacts::default());
    let d = s2.preset.as_ref().unwrap().deviations.join("\n");
    assert!(
        d.contains("no raw completion") && d.contains("no log-probabilities"),
        "{d}"
    );
    assert!(d.contains("does not accept a seed"), "{d}");
    assert_eq!(s2.distribution, DistSetting::Auto);
    assert_eq!(s2.raw_completion, RawCompletion::default());

    // A run under the preset: the record names it and its deviations, raw reads in stage 3.
    let rec = run(opinion(), s.clone());
    assert!(rec
        .calls
        .iter()
        .filter(|c| c.stage.number() == 3)
        .all(|c| c.request.raw));
    let md = rec.to_markdown();
    assert!(
        md.contains("| preset | Reproduce the reference; deviations: "),
        "{md}"
    );
    let summary = ethos_engine::record::summary_csv(std::slice::from_ref(&rec));
    assert!(
        summary.contains("Reproduce the reference; deviations"),
        "{summary}"
    );
    // Changing a decision afterwards is said.
    let mut edited = s;
    edited.k = 4;
    edited.judge = JudgeMethod::WholeOutput;
    assert_eq!(changed_since_preset(&edited), ["k", "Overton judge"]);
    let mut left_out = edited.clone();
    left_out.score_failed_as_reference = false;
    assert_eq!(
        changed_since_preset(&left_out),
        ["k", "Overton judge", "failed items scored"]
    );
    let rec = run(opinion(), edited);
    assert!(rec
        .to_markdown()
        .contains("(then changed: k, Overton judge)"));
}
