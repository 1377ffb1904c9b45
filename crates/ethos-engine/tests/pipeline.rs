//! Pipeline tests against the scripted model: calls per stage and mode (spec table), stage order,
//! peak concurrency (counted), cancellation, reproducibility, failures, fallbacks, baselines.

#[path = "scripted.rs"]
mod scripted;

use ethos_engine::distribution::DistMethod;
use ethos_engine::estimate::estimate_method;
use ethos_engine::pipeline::{
    clean_comment, fallback_index, planned_calls, NoObserver, Observer, Phase, Pipeline,
    PipelineError, SharedRecord, Stages,
};
use ethos_engine::record::{CallRecord, RunRecord, RunResult, RunStatus, Stage};
use ethos_engine::settings::{DistSetting, Method};
use ethos_engine::vital::{Item, ItemId};
use futures::executor::block_on;
use scripted::{
    global, moral, opinion, overton, poll_until, run_with, settings, value_item, Ticks,
};
use scripted::{Event, Kind, Script, ScriptedModel};
use std::cell::RefCell;

fn count(rec: &RunRecord, f: impl Fn(Stage) -> bool) -> usize {
    rec.calls.iter().filter(|c| f(c.stage)).count()
}

fn is_comment(s: Stage) -> bool {
    matches!(s, Stage::Comment(_))
}
fn is_read(s: Stage) -> bool {
    matches!(s, Stage::Read(_))
}

/// Calls per stage: (stage 1, stage 2, stage-3 breakdown).
fn stage_counts(rec: &RunRecord) -> (usize, usize, usize, usize, usize, usize) {
    (
        count(rec, |s| s == Stage::Perspectives),
        count(rec, is_comment),
        count(rec, |s| s == Stage::Combine),
        count(rec, |s| s == Stage::Select),
        count(rec, |s| s == Stage::Answer),
        count(rec, is_read),
    )
}

// ----- calls per item (spec table) -----

#[test]
fn overton_calls_match_the_table() {
    let model = ScriptedModel::default();
    let (out, rec) = run_with(overton(), settings(6, 6), Method::EthosAgents, &model);
    let RunResult::Overton(o) = out.unwrap() else {
        panic!("not an Overton result")
    };
    assert!(o.text.contains("balanced"));
    assert_eq!(stage_counts(&rec), (1, 6, 1, 0, 0, 0));
    assert_eq!(rec.calls.len(), 8);
    assert_eq!(model.total(), 8);
    assert_eq!(rec.status, RunStatus::Done);
    // Every comment index written exactly once.
    for i in 0..6 {
        assert_eq!(count(&rec, |s| s == Stage::Comment(i)), 1, "comment {i}");
    }
    // The combine prompt lists Passage 1..6 and ends with "Comment:".
    let combine = rec
        .calls
        .iter()
        .find(|c| c.stage == Stage::Combine)
        .unwrap();
    let prompt = &combine.request.messages[0].content;
    for n in 1..=6 {
        assert!(prompt.contains(&format!("Passage {n}: ")), "{prompt}");
    }
    assert!(prompt.trim_end().ends_with("Comment:"));
    assert_eq!(combine.request.temperature, 0.1);
    assert_eq!(combine.request.max_tokens, 200);
    // Stage decodings.
    let p1 = rec
        .calls
        .iter()
        .find(|c| c.stage == Stage::Perspectives)
        .unwrap();
    assert_eq!((p1.request.temperature, p1.request.max_tokens), (1.0, 450));
    let c2 = rec.calls.iter().find(|c| is_comment(c.stage)).unwrap();
    assert_eq!((c2.request.temperature, c2.request.max_tokens), (1.0, 200));
    assert_eq!(c2.request.messages[0].role, ethos_engine::Role::System);
    assert_eq!(rec.totals.calls, 8);
    assert!(rec.totals.prompt_tokens > 0);
    rec.validate().unwrap();
}

#[test]
fn value_calls_match_the_table_and_score() {
    let model = ScriptedModel::default();
    let (out, rec) = run_with(value_item(), settings(6, 6), Method::EthosAgents, &model);
    let RunResult::Value(v) = out.unwrap() else {
        panic!("not a value result")
    };
    assert_eq!(stage_counts(&rec), (1, 6, 0, 1, 1, 0));
    let sel = v.selection.as_ref().unwrap();
    // "Comment 2 fits best." -> the first i in 1..k occurring is 2 -> index 1.
    assert_eq!((sel.index, sel.fallback), (1, false));
    assert_eq!(v.letter_reference, Some('B'));
    assert_eq!(v.letter_strict, Some('B'));
    assert!(v.correct_reference && v.correct_strict);
    let answer = rec.calls.iter().find(|c| c.stage == Stage::Answer).unwrap();
    assert_eq!(
        (answer.request.temperature, answer.request.max_tokens),
        (0.1, 20)
    );
    // The answer prompt carries the selected comment (comment 2) as the passage.
    let comment2 = rec.comments[1].as_ref().unwrap().cleaned.clone();
    assert!(answer.request.messages[0].content.contains(&comment2));
    let select = rec.calls.iter().find(|c| c.stage == Stage::Select).unwrap();
    assert!(select.request.messages[0].content.contains("Right to life"));
    assert!(select.request.messages[0].content.contains("Comment 6: "));
}

#[test]
fn planned_calls_match_the_calls_made() {
    for item in [overton(), value_item(), opinion(), global(), moral()] {
        for (k, dist) in [
            (6, DistSetting::Auto),
            (3, DistSetting::Votes),
            (4, DistSetting::Sampling { n: 3 }),
            (2, DistSetting::Verbalised),
        ] {
            for method in [Method::EthosAgents, Method::Vanilla, Method::Prompting] {
                let mut s = settings(k, 4);
                s.distribution = dist;
                let plan = planned_calls(&item, &s, method);
                // The estimate shown before Run counts the same calls.
                let shown = estimate_method(&item, &s, method).calls;
                let (out, rec) = run_with(item.clone(), s, method, &ScriptedModel::default());
                out.unwrap();
                assert_eq!(
                    plan.total(),
                    rec.calls.len(),
                    "{:?} {method:?} {dist:?}",
                    item.source()
                );
                assert_eq!(
                    shown,
                    rec.calls.len(),
                    "{:?} {method:?} {dist:?}",
                    item.source()
                );
                assert_eq!(plan.comments, count(&rec, is_comment));
                assert_eq!(plan.stage3, count(&rec, |s| s.number() == 3));
            }
        }
    }
}

#[test]
fn value_selection_fallback_is_seeded_and_recorded() {
    let script = Script {
        select_reply: "none of them".into(),
        value_answer: "Certainly".into(),
        ..Script::default()
    };
    let model = ScriptedModel::new(script.clone());
    let (out, rec) = run_with(value_item(), settings(6, 6), Method::EthosAgents, &model);
    let RunResult::Value(v) = out.unwrap() else {
        panic!()
    };
    let sel = v.selection.unwrap();
    assert!(sel.fallback);
    assert_eq!(sel.index, fallback_index(7, &ItemId::Int(5), 6));
    // "Certainly" reads as C under the reference parser (a known quirk), none under strict.
    assert_eq!(v.letter_reference, Some('C'));
    assert_eq!(v.letter_strict, None);
    assert!(!v.correct_reference && !v.correct_strict);
    // Same seed, same fallback; the markdown says it happened.
    let (out2, _) = run_with(
        value_item(),
        settings(6, 6),
        Method::EthosAgents,
        &ScriptedModel::new(script),
    );
    let RunResult::Value(v2) = out2.unwrap() else {
        panic!()
    };
    assert_eq!(v2.selection.unwrap().index, sel.index);
    assert!(rec.to_markdown().contains("seeded random fallback"));
}

#[test]
fn group_calls_match_the_table() {
    let model = ScriptedModel::default();
    let (out, rec) = run_with(opinion(), settings(6, 6), Method::EthosAgents, &model);
    let RunResult::Distribution(d) = out.unwrap() else {
        panic!()
    };
    assert_eq!(stage_counts(&rec), (1, 6, 0, 1, 1, 0));
    assert_eq!(d.method, DistMethod::Logprobs);
    assert_eq!(d.per_read.len(), 1);
    let answer = rec.calls.iter().find(|c| c.stage == Stage::Answer).unwrap();
    let prompt = &answer.request.messages[0].content;
    assert!(
        prompt.contains("In terms of political party, you are Democrat"),
        "{prompt}"
    );
    assert_eq!(answer.request.top_logprobs, Some(10));
    let select = &rec
        .calls
        .iter()
        .find(|c| c.stage == Stage::Select)
        .unwrap()
        .request
        .messages[0]
        .content;
    assert!(
        select.contains("political party")
            && select.contains("Democrat")
            && select.contains("from 1 to 6")
    );
    // Selected comment 2 starts with B (letters cycle A, B): 0.7 on B, 0.15 elsewhere.
    assert!(
        (d.distribution[1] - 0.7).abs() < 1e-9,
        "{:?}",
        d.distribution
    );
    assert!(d.js.is_some());
    assert_eq!(d.argmax_match, Some(false));
}

#[test]
fn distributional_calls_match_the_table() {
    let model = ScriptedModel::default();
    let (out, rec) = run_with(moral(), settings(6, 6), Method::EthosAgents, &model);
    let RunResult::Distribution(d) = out.unwrap() else {
        panic!()
    };
    assert_eq!(stage_counts(&rec), (1, 6, 0, 0, 0, 6));
    for i in 0..6 {
        assert_eq!(count(&rec, |s| s == Stage::Read(i)), 1);
    }
    let p1 = rec
        .calls
        .iter()
        .find(|c| c.stage == Stage::Perspectives)
        .unwrap();
    assert_eq!(
        p1.request.max_tokens, 500,
        "distributional items get 500 stage-1 tokens"
    );
    // Reads: 3 comments start with A (0.7/0.3) and 3 with B (0.3/0.7): the mean is 0.5/0.5.
    assert_eq!(d.method, DistMethod::Logprobs);
    assert_eq!(d.per_read.len(), 6);
    assert!(
        (d.distribution[0] - 0.5).abs() < 1e-9 && (d.distribution[1] - 0.5).abs() < 1e-9,
        "{:?}",
        d.distribution
    );
    let js = d.js.unwrap();
    assert!((js - ethos_engine::metrics::js_distance(&[1.0, 0.0], &[0.5, 0.5])).abs() < 1e-12);
    assert_eq!(d.argmax_match, Some(true));
    // MoralChoice: no country line anywhere.
    assert!(rec.calls.iter().all(|c| c
        .request
        .messages
        .iter()
        .all(|m| !m.content.contains("from the country of"))));
}

#[test]
fn global_opinion_gets_the_country_line_in_comments_and_reads() {
    let model = ScriptedModel::default();
    let (out, rec) = run_with(global(), settings(3, 8), Method::EthosAgents, &model);
    out.unwrap();
    assert_eq!(stage_counts(&rec), (1, 3, 0, 0, 0, 3));
    for c in rec
        .calls
        .iter()
        .filter(|c| is_comment(c.stage) || is_read(c.stage))
    {
        let user = &c.request.messages.last().unwrap().content;
        assert!(
            user.contains("You are from the country of Argentina."),
            "{user}"
        );
    }
}

// ----- order and concurrency -----

/// Every stage-3 call starts after every stage-2 call finished, in the record and in the model's
/// event log; and every stage-2 call starts after stage 1 finished.
fn assert_stage_order(rec: &RunRecord, model: &ScriptedModel) {
    let end = |c: &CallRecord| c.started_ms + c.duration_ms.unwrap();
    let last_p = rec
        .calls
        .iter()
        .filter(|c| c.stage == Stage::Perspectives)
        .map(end)
        .fold(0.0, f64::max);
    let last_c = rec
        .calls
        .iter()
        .filter(|c| is_comment(c.stage))
        .map(end)
        .fold(0.0, f64::max);
    for c in &rec.calls {
        if is_comment(c.stage) {
            assert!(c.started_ms > last_p);
        }
        if c.stage.number() == 3 {
            assert!(
                c.started_ms > last_c,
                "stage-3 call {} started before the comments were done",
                c.id
            );
        }
    }
    let events = model.events.borrow();
    let comment_ends = events
        .iter()
        .filter(|e| matches!(e, Event::End(Kind::Comment, _)))
        .count();
    let first_s3 = events
        .iter()
        .position(|e| {
            matches!(
                e,
                Event::Start(
                    Kind::Read | Kind::Select | Kind::Combine | Kind::GroupAnswer,
                    _
                )
            )
        })
        .unwrap();
    let ends_before = events[..first_s3]
        .iter()
        .filter(|e| matches!(e, Event::End(Kind::Comment, _)))
        .count();
    assert_eq!(ends_before, comment_ends);
}

#[test]
fn stage_three_waits_for_all_inputs() {
    for item in [overton(), value_item(), opinion(), moral()] {
        let model = ScriptedModel::default();
        let (out, rec) = run_with(item, settings(6, 3), Method::EthosAgents, &model);
        out.unwrap();
        assert_stage_order(&rec, &model);
    }
}

#[test]
fn peak_in_flight_is_min_of_k_and_limit() {
    for (k, limit) in [(6, 6), (6, 2), (3, 8), (5, 1)] {
        let model = ScriptedModel::default();
        let s = settings(k, limit);
        let (out, rec) = run_with(moral(), s, Method::EthosAgents, &model);
        out.unwrap();
        let want = k.min(limit);
        assert_eq!(
            model.peak(Kind::Comment),
            want,
            "stage 2, k={k} limit={limit}"
        );
        assert_eq!(
            model.peak(Kind::Read),
            want,
            "stage-3 reads, k={k} limit={limit}"
        );
        assert_eq!(model.count(Kind::Comment), k);
        assert_eq!(model.count(Kind::Read), k);
        assert_eq!(model.peak(Kind::Perspectives), 1);
        assert_stage_order(&rec, &model);
    }
}

#[test]
fn comments_finish_out_of_order_but_land_in_their_slots() {
    let model = ScriptedModel::default();
    let (out, rec) = run_with(overton(), settings(6, 6), Method::EthosAgents, &model);
    out.unwrap();
    let ends: Vec<u32> = model
        .events
        .borrow()
        .iter()
        .filter_map(|e| {
            if let Event::End(Kind::Comment, id) = e {
                Some(*id)
            } else {
                None
            }
        })
        .collect();
    let mut sorted = ends.clone();
    sorted.sort();
    assert_ne!(
        ends, sorted,
        "the scripted model should finish comments out of order"
    );
    for (i, slot) in rec.comments.iter().enumerate() {
        let c = slot.as_ref().unwrap();
        assert_eq!(c.index, i);
        assert!(c.cleaned.contains(&format!("value {}", i + 1)));
        assert!(c.perspective.starts_with(&format!("Name {}", i + 1)));
    }
}

// ----- cancellation -----

#[test]
fn dropping_the_run_keeps_finished_calls() {
    let model = ScriptedModel::default();
    let clock = Ticks::new();
    let record = SharedRecord::new(RunRecord::new(moral(), settings(6, 6), Method::EthosAgents));
    {
        let p = Pipeline::new(Stages::same(&model), &clock, &NoObserver, record.clone());
        let mut fut = Box::pin(p.run_item());
        // Poll until stage 1 and three comments have finished, then cancel by dropping.
        let early = poll_until(fut.as_mut(), || model.finished.get() >= 4);
        assert!(early.is_none(), "finished too early");
        assert_eq!(record.with(|r| r.status.clone()), RunStatus::Running);
        drop(fut);
    }
    let rec = record.snapshot();
    assert_eq!(rec.status, RunStatus::Cancelled);
    assert_eq!(rec.perspectives.perspectives.len(), 6);
    let ok = rec.calls.iter().filter(|c| c.is_ok()).count();
    assert_eq!(ok, 4, "stage 1 and three comments are kept");
    let done_comments = rec.comments.iter().flatten().filter(|c| c.is_ok()).count();
    assert_eq!(done_comments, 3);
    // The three comment calls still in flight are marked cancelled, none is left open.
    let cancelled = rec
        .calls
        .iter()
        .filter(|c| c.error == Some(ethos_engine::ChatError::Cancelled))
        .count();
    assert_eq!(cancelled, 3);
    assert!(rec.calls.iter().all(|c| c.is_finished()));
    assert!(rec.result.is_none());
    rec.validate().unwrap();
    // The record survives a JSON round trip in this state too.
    scripted::assert_round_trip(&rec);
}

#[test]
fn a_cancelled_run_can_be_resumed_from_its_record() {
    let model = ScriptedModel::default();
    let clock = Ticks::new();
    let record = SharedRecord::new(RunRecord::new(
        overton(),
        settings(6, 2),
        Method::EthosAgents,
    ));
    let p = Pipeline::new(Stages::same(&model), &clock, &NoObserver, record.clone());
    {
        let mut fut = Box::pin(p.run_item());
        assert!(poll_until(fut.as_mut(), || model.finished.get() >= 3).is_none());
    }
    let missing: Vec<usize> = record.with(|r| {
        (0..6)
            .filter(|&i| {
                !r.comments
                    .get(i)
                    .and_then(|c| c.as_ref())
                    .is_some_and(|c| c.is_ok())
            })
            .collect()
    });
    assert_eq!(missing.len(), 4);
    // Stage 3 refuses while inputs are missing, naming them.
    let err = block_on(p.combine()).unwrap_err();
    assert!(
        matches!(&err, PipelineError::CommentsMissing { indices } if *indices == missing),
        "{err}"
    );
    assert_eq!(count(&record.snapshot(), |s| s.number() == 3), 0);
    block_on(p.write_comments(Some(&missing))).unwrap();
    block_on(p.combine()).unwrap();
    let rec = record.snapshot();
    assert_eq!(rec.status, RunStatus::Done);
    assert_eq!(model.count(Kind::Perspectives), 1);
    assert_eq!(count(&rec, |s| s == Stage::Combine), 1);
}

// ----- failures -----

#[test]
fn one_failed_comment_keeps_the_others_and_says_which() {
    let mut script = Script::default();
    script.fail_comments.insert(2);
    let model = ScriptedModel::new(script);
    let (out, rec) = run_with(overton(), settings(6, 6), Method::EthosAgents, &model);
    let err = out.unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(&err, PipelineError::CommentsFailed { failed, total: 6 } if failed.len() == 1 && failed[0].0 == 2)
    );
    assert!(
        msg.contains("1 of 6 comments failed") && msg.contains("#3") && msg.contains("503"),
        "{msg}"
    );
    assert_eq!(
        rec.comments.iter().flatten().filter(|c| c.is_ok()).count(),
        5
    );
    assert!(rec.comments[2].as_ref().unwrap().error.is_some());
    assert_eq!(
        count(&rec, |s| s.number() == 3),
        0,
        "no stage 3 with a missing comment"
    );
    assert!(matches!(&rec.status, RunStatus::Failed { message } if message.contains("#3")));
    assert_eq!(rec.totals.failed_calls, 1);
    rec.validate().unwrap();

    // Fix the provider, re-run only the failed comment, then combine.
    model.script.borrow_mut().fail_comments.clear();
    let clock = Ticks::new();
    let record = SharedRecord::new(rec);
    let p = Pipeline::new(Stages::same(&model), &clock, &NoObserver, record.clone());
    block_on(p.write_comments(Some(&[2]))).unwrap();
    block_on(p.combine()).unwrap();
    let rec = record.snapshot();
    assert_eq!(count(&rec, |s| s == Stage::Comment(2)), 2);
    assert_eq!(count(&rec, |s| s == Stage::Comment(0)), 1);
    assert_eq!(rec.status, RunStatus::Done);
}

#[test]
fn too_few_perspectives_after_capped_retries() {
    let script = Script {
        perspective_counts: [3, 4, 2].into(),
        ..Script::default()
    };
    let model = ScriptedModel::new(script);
    let (out, rec) = run_with(overton(), settings(6, 6), Method::EthosAgents, &model);
    let err = out.unwrap_err();
    assert_eq!(
        err,
        PipelineError::TooFewPerspectives {
            got: 4,
            wanted: 6,
            tries: 3
        }
    );
    assert!(err.to_string().contains("only 4 of 6"));
    assert_eq!(model.count(Kind::Perspectives), 3);
    assert_eq!(model.count(Kind::Comment), 0);
    // Keeps the best try, all raw replies, and the attempts are numbered.
    assert_eq!(rec.perspectives.perspectives.len(), 4);
    assert_eq!(rec.perspectives.raw.len(), 3);
    assert_eq!(rec.perspectives.tries, 3);
    assert!(rec
        .perspectives
        .shortfall
        .as_deref()
        .unwrap()
        .contains("only 4 of 6"));
    let attempts: Vec<u32> = rec.calls.iter().map(|c| c.attempt).collect();
    assert_eq!(attempts, vec![1, 2, 3]);
    // Each try gets its own seed: the same seed would only repeat the same reply.
    let seeds: Vec<Option<u64>> = rec.calls.iter().map(|c| c.request.seed).collect();
    let base = ethos_engine::pipeline::item_seed(7, rec.item.id());
    assert_eq!(
        seeds,
        vec![
            Some(base),
            Some(base.wrapping_add(1)),
            Some(base.wrapping_add(2))
        ],
        "test settings use seed 7, per item"
    );
}

#[test]
fn structured_perspectives_ask_for_a_schema_of_k_objects() {
    let model = ScriptedModel::new(Script::default());
    let mut s = settings(4, 4);
    let (_, rec) = run_with(overton(), s.clone(), Method::EthosAgents, &model);
    assert!(
        rec.calls[0].request.json_schema.is_none(),
        "reference mode asks for free lines"
    );
    assert_eq!(rec.calls[0].request.max_tokens, s.decoding.perspectives.max_tokens);
    assert!(s.decoding.perspectives.max_tokens < 500);
    s.structured_perspectives = true;
    let model = ScriptedModel::new(Script::default());
    let (_, rec) = run_with(overton(), s, Method::EthosAgents, &model);
    let schema = rec.calls[0]
        .request
        .json_schema
        .clone()
        .expect("schema sent");
    assert_eq!(schema["properties"]["perspectives"]["minItems"], 4);
    assert_eq!(schema["properties"]["perspectives"]["maxItems"], 4);
    // The JSON form gets a budget for k objects; the line form keeps the configured one.
    assert_eq!(rec.calls[0].request.max_tokens, 500, "100 per object and 100");
    assert_eq!(ethos_engine::pipeline::structured_min_tokens(4), 500);
    assert_eq!(
        ethos_engine::persona::parse_perspectives(
            r#"{"perspectives":[{"name":"Nurse","core_value":"Care","ethical_framework":"Care ethics","right_duty":"Duty of care","emotion":"Concern","stakeholder":"Clinician"}]}"#
        )[0]
        .raw,
        "Nurse: Care, Care ethics, Duty of care, Concern, Clinician"
    );
}

#[test]
fn retry_stops_as_soon_as_k_parse_and_extras_are_trimmed_or_kept() {
    let script = Script {
        perspective_counts: [2, 8].into(),
        ..Script::default()
    };
    let model = ScriptedModel::new(script.clone());
    let (out, rec) = run_with(overton(), settings(6, 6), Method::EthosAgents, &model);
    out.unwrap();
    assert_eq!(model.count(Kind::Perspectives), 2);
    assert_eq!(
        rec.perspectives.perspectives.len(),
        8,
        "keep_extra is the reference default"
    );
    assert_eq!(model.count(Kind::Comment), 8);

    let mut s = settings(6, 6);
    s.keep_extra = false;
    let model = ScriptedModel::new(script);
    let (out, rec) = run_with(overton(), s, Method::EthosAgents, &model);
    out.unwrap();
    assert_eq!(rec.perspectives.perspectives.len(), 6);
    assert_eq!(rec.perspectives.trimmed, 2);
    assert_eq!(model.count(Kind::Comment), 6);
}

// ----- distribution methods -----

#[test]
fn auto_falls_back_to_votes_without_logprobs() {
    let script = Script {
        logprobs: false,
        ..Script::default()
    };
    let model = ScriptedModel::new(script);
    let (out, rec) = run_with(moral(), settings(6, 6), Method::EthosAgents, &model);
    let RunResult::Distribution(d) = out.unwrap() else {
        panic!()
    };
    assert_eq!(
        stage_counts(&rec),
        (1, 6, 0, 0, 0, 6),
        "the reads were still made (they asked for logprobs)"
    );
    assert_eq!(d.method, DistMethod::Votes);
    assert!(d.note.as_deref().unwrap().contains("no logprobs"));
    // Votes: A, B, A, B, A, B.
    assert_eq!(d.distribution, vec![0.5, 0.5]);
    assert!(rec
        .to_markdown()
        .contains("votes of the comments' leading letters"));
}

#[test]
fn full_vocabulary_letter_probs_are_preferred_to_the_top_list() {
    // The in-tab model gives each letter's probability over the whole vocabulary: the read uses
    // it (the same mapping, exact) rather than the top-N list, and the record keeps it.
    let script = Script {
        letter_probs: Some(vec![0.3, 0.1, 0.05, 0.0, 0.0]),
        ..Script::default()
    };
    let model = ScriptedModel::new(script);
    let (out, rec) = run_with(moral(), settings(3, 3), Method::EthosAgents, &model);
    let RunResult::Distribution(d) = out.unwrap() else {
        panic!()
    };
    assert_eq!(d.method, DistMethod::Logprobs);
    for read in &d.per_read {
        let p = &read.as_ref().expect("a distribution per read").probs;
        assert!(
            (p[0] - 0.75).abs() < 1e-12 && (p[1] - 0.25).abs() < 1e-12,
            "{p:?}"
        );
    }
    assert!((d.distribution[0] - 0.75).abs() < 1e-12);
    assert_eq!(
        d.note.as_deref(),
        Some(ethos_engine::pipeline::EXACT_READ_NOTE),
        "the result says how the reads were made"
    );
    let kept = rec
        .calls
        .iter()
        .filter(|c| c.first_token_letter_probs.is_some())
        .count();
    assert_eq!(
        kept, 3,
        "every read's letter probabilities are in the record"
    );
    // With the votes method they are ignored.
    let script = Script {
        letter_probs: Some(vec![0.3, 0.1]),
        ..Script::default()
    };
    let model = ScriptedModel::new(script);
    let mut s = settings(3, 3);
    s.distribution = DistSetting::Votes;
    let (out, _) = run_with(moral(), s, Method::EthosAgents, &model);
    let RunResult::Distribution(d) = out.unwrap() else {
        panic!()
    };
    assert_eq!(d.method, DistMethod::Votes);
}

#[test]
fn logprobs_setting_without_logprobs_is_uniform_and_labelled() {
    let script = Script {
        logprobs: false,
        ..Script::default()
    };
    let mut s = settings(4, 4);
    s.distribution = DistSetting::Logprobs;
    let (out, _) = run_with(
        global(),
        s,
        Method::EthosAgents,
        &ScriptedModel::new(script),
    );
    let RunResult::Distribution(d) = out.unwrap() else {
        panic!()
    };
    assert_eq!(d.method, DistMethod::Logprobs);
    assert_eq!(d.distribution, vec![0.5, 0.5]);
    assert!(d.note.unwrap().contains("uniform"));
}

#[test]
fn votes_setting_makes_no_read_calls() {
    let mut s = settings(6, 6);
    s.distribution = DistSetting::Votes;
    let model = ScriptedModel::default();
    let (out, rec) = run_with(moral(), s, Method::EthosAgents, &model);
    let RunResult::Distribution(d) = out.unwrap() else {
        panic!()
    };
    assert_eq!(stage_counts(&rec), (1, 6, 0, 0, 0, 0));
    assert_eq!(d.method, DistMethod::Votes);
}

#[test]
fn sampling_uses_n_or_repeated_calls() {
    let mut s = settings(2, 2);
    s.distribution = DistSetting::Sampling { n: 6 };
    let model = ScriptedModel::default();
    let (out, rec) = run_with(moral(), s.clone(), Method::EthosAgents, &model);
    let RunResult::Distribution(d) = out.unwrap() else {
        panic!()
    };
    assert_eq!(d.method, DistMethod::Sampling);
    assert_eq!(count(&rec, is_read), 2, "n honoured: one call per read");
    assert!(rec
        .calls
        .iter()
        .filter(|c| is_read(c.stage))
        .all(|c| c.request.n == Some(6) && c.request.temperature == 1.0));
    // Read 1 (passage A): all A. Read 2 (passage B): samples B,B,B,A,B,B -> 5/6 B.
    assert!(
        (d.distribution[1] - (5.0 / 6.0) / 2.0).abs() < 1e-9,
        "{:?}",
        d.distribution
    );

    let script = Script {
        honours_n: false,
        ..Script::default()
    };
    let model = ScriptedModel::new(script);
    let (out, rec) = run_with(moral(), s, Method::EthosAgents, &model);
    let RunResult::Distribution(d) = out.unwrap() else {
        panic!()
    };
    assert_eq!(count(&rec, is_read), 12, "n ignored: six calls per read");
    assert_eq!(rec.calls.iter().filter(|c| c.sample.is_some()).count(), 10);
    assert!(d.note.unwrap().contains("one call at a time"));
}

#[test]
fn verbalised_reads_json_percentages() {
    let mut s = settings(2, 2);
    s.distribution = DistSetting::Verbalised;
    let model = ScriptedModel::default();
    let (out, rec) = run_with(moral(), s, Method::EthosAgents, &model);
    let RunResult::Distribution(d) = out.unwrap() else {
        panic!()
    };
    assert_eq!(d.method, DistMethod::Verbalised);
    assert_eq!(count(&rec, is_read), 2);
    assert!(
        (d.distribution[0] - 0.5).abs() < 1e-9,
        "{:?}",
        d.distribution
    );
    let prompt = &rec
        .calls
        .iter()
        .find(|c| is_read(c.stage))
        .unwrap()
        .request
        .messages[0]
        .content;
    assert!(
        prompt.contains("JSON object") && prompt.contains("(A, B)"),
        "{prompt}"
    );
}

// ----- comments -----

#[test]
fn role_preamble_is_stripped_and_the_letter_kept() {
    let script = Script {
        preamble_on_first: true,
        ..Script::default()
    };
    let (out, rec) = run_with(
        moral(),
        settings(2, 2),
        Method::EthosAgents,
        &ScriptedModel::new(script),
    );
    out.unwrap();
    let c = rec.comments[0].as_ref().unwrap();
    assert!(c.raw.starts_with("As a Name 1, I choose A:"));
    assert_eq!(c.letter, Some('A'));
    assert!(c.cleaned.starts_with("A. We should"), "{}", c.cleaned);
    let call = &rec.calls[c.call_id.unwrap() as usize];
    assert_eq!(call.reply.as_deref(), Some(c.raw.as_str()));
    assert_eq!(call.cleaned.as_deref(), Some(c.cleaned.as_str()));
}

#[test]
fn clean_comment_cases() {
    assert_eq!(
        clean_comment("B. We must act.", 2),
        ("B. We must act.".into(), Some('B'))
    );
    assert_eq!(
        clean_comment("As a nurse: A. We must.", 2),
        ("A. We must.".into(), Some('A'))
    );
    assert_eq!(
        clean_comment("Speaking as a son; we must.", 2),
        ("we must.".into(), None)
    );
    assert_eq!(
        clean_comment("As a nurse: care matters.", 0),
        ("care matters.".into(), None)
    );
}

// ----- baselines, judge -----

#[test]
fn baselines_make_one_call_with_the_steering_sentence() {
    let cases: Vec<(Item, &str)> = vec![
        (overton(), "diverse values and perspectives"),
        (value_item(), "specified value, right or duty"),
        (opinion(), "In terms of political party, you are Democrat."),
        (
            global(),
            "You are from the country of Argentina, respond to the following instruction.",
        ),
        (moral(), "real-world distribution"),
    ];
    for (item, steer) in cases {
        for method in [Method::Vanilla, Method::Prompting] {
            let model = ScriptedModel::default();
            let (out, rec) = run_with(item.clone(), settings(6, 6), method, &model);
            let result = out.unwrap();
            assert!(result.fits(item.mode()));
            assert_eq!(rec.calls.len(), 1, "{:?} {method:?}", item.source());
            let call = &rec.calls[0];
            assert_eq!(call.stage, Stage::Baseline);
            assert_eq!(call.request.temperature, 0.1);
            let prompt = &call.request.messages[0].content;
            assert_eq!(
                prompt.contains(steer),
                method == Method::Prompting,
                "{prompt}"
            );
        }
    }
}

#[test]
fn baseline_without_logprobs_samples_answers() {
    let script = Script {
        logprobs: false,
        ..Script::default()
    };
    let (out, rec) = run_with(
        opinion(),
        settings(6, 6),
        Method::Vanilla,
        &ScriptedModel::new(script),
    );
    let RunResult::Distribution(d) = out.unwrap() else {
        panic!()
    };
    // The read without logprobs, then 10 samples in one request (the script honours n): the
    // scripted answers say A, except every third sample.
    assert_eq!(rec.calls.len(), 2);
    assert_eq!(rec.calls[1].request.n, Some(10));
    assert_eq!(d.method, DistMethod::Sampling);
    assert_eq!(d.distribution, vec![1.0, 0.0, 0.0]);
    let note = d.note.unwrap();
    assert!(note.contains("no logprobs: sampled 10 answers"), "{note}");
}

#[test]
fn judge_scores_coverage_with_the_llm_estimator() {
    let model = ScriptedModel::default();
    let clock = Ticks::new();
    // The whole-output judge (the alternative; the reference direction is in tests/reference.rs).
    let mut s = settings(3, 3);
    s.judge = ethos_engine::settings::JudgeMethod::WholeOutput;
    let record = SharedRecord::new(RunRecord::new(overton(), s, Method::EthosAgents));
    let p = Pipeline::new(Stages::same(&model), &clock, &NoObserver, record.clone());
    // No answer yet: a clear refusal, no call.
    assert!(matches!(
        block_on(p.judge(&model)),
        Err(PipelineError::NotApplicable(_))
    ));
    block_on(p.run_item()).unwrap();
    let cov = block_on(p.judge(&model)).unwrap();
    assert_eq!(cov.per_value, vec![0.9, 0.1, 0.9]);
    assert!((cov.item_score - 1.9 / 3.0).abs() < 1e-12);
    assert!(cov.covered(0.33));
    assert!(cov.estimator.label().contains("not the reference NLI"));
    let rec = record.snapshot();
    assert_eq!(count(&rec, |s| s == Stage::Judge), 1);
    let RunResult::Overton(o) = rec.result.unwrap() else {
        panic!()
    };
    assert_eq!(o.coverage.unwrap(), cov);
    assert_eq!(rec.status, RunStatus::Done);
}

// ----- reproducibility and observer -----

#[test]
fn a_run_is_reproducible_from_its_record() {
    for item in [overton(), value_item(), opinion(), moral(), global()] {
        let (out, rec) = run_with(
            item,
            settings(6, 3),
            Method::EthosAgents,
            &ScriptedModel::default(),
        );
        let result = out.unwrap();
        let imported = scripted::assert_round_trip(&rec);
        let fresh = imported.fresh();
        let (again, rec2) = run_with(
            fresh.item,
            fresh.settings,
            fresh.method,
            &ScriptedModel::default(),
        );
        assert_eq!(again.unwrap(), result);
        let prompts = |r: &RunRecord| {
            let mut v: Vec<(String, ethos_engine::ChatRequest)> = r
                .calls
                .iter()
                .map(|c| (c.stage.label(), c.request.clone()))
                .collect();
            v.sort_by(|a, b| a.0.cmp(&b.0));
            v
        };
        assert_eq!(prompts(&rec2), prompts(&imported));
    }
}

#[derive(Default)]
struct Log {
    events: RefCell<Vec<String>>,
    deltas: RefCell<String>,
}

impl Observer for Log {
    fn stage_changed(&self, phase: Phase) {
        self.events.borrow_mut().push(format!("phase {phase:?}"));
    }
    fn call_started(&self, call: &CallRecord) {
        self.events
            .borrow_mut()
            .push(format!("start {}", call.stage.label()));
    }
    fn delta(&self, _call_id: u32, text: &str) {
        self.deltas.borrow_mut().push_str(text);
    }
    fn call_finished(&self, call: &CallRecord) {
        assert!(call.reply.is_some() && call.duration_ms.is_some());
        self.events
            .borrow_mut()
            .push(format!("end {}", call.stage.label()));
    }
    fn perspectives_ready(&self, p: &[ethos_engine::persona::Perspective]) {
        self.events
            .borrow_mut()
            .push(format!("perspectives {}", p.len()));
    }
    fn result(&self, _r: &RunResult) {
        self.events.borrow_mut().push("result".into());
    }
}

#[test]
fn observer_sees_the_run_live() {
    let model = ScriptedModel::default();
    let clock = Ticks::new();
    let log = Log::default();
    let record = SharedRecord::new(RunRecord::new(
        overton(),
        settings(2, 2),
        Method::EthosAgents,
    ));
    let p = Pipeline::new(Stages::same(&model), &clock, &log, record.clone());
    block_on(p.run_item()).unwrap();
    let events = log.events.borrow().clone();
    assert_eq!(
        events.first().map(String::as_str),
        Some("phase Perspectives")
    );
    assert_eq!(events.last().map(String::as_str), Some("phase Finished"));
    let pos = |s: &str| events.iter().position(|e| e == s).unwrap();
    assert!(pos("perspectives 2") < pos("phase Comments"));
    assert!(pos("phase Comments") < pos("phase Combine"));
    assert!(pos("end combine") < pos("result"));
    let replies: String = record
        .snapshot()
        .calls
        .iter()
        .filter_map(|c| c.reply.clone())
        .collect();
    assert_eq!(log.deltas.borrow().len(), replies.len());
}

#[test]
fn per_stage_models_are_used() {
    let a = ScriptedModel::default();
    let b = ScriptedModel::default();
    let c = ScriptedModel::default();
    let mut s = settings(3, 3);
    s.models.perspectives = "big".into();
    s.models.comments = "small".into();
    s.models.combine = "mid".into();
    let clock = Ticks::new();
    let record = SharedRecord::new(RunRecord::new(overton(), s, Method::EthosAgents));
    let p = Pipeline::new(
        Stages {
            perspectives: &a,
            comments: &b,
            combine: &c,
        },
        &clock,
        &NoObserver,
        record.clone(),
    );
    block_on(p.run_item()).unwrap();
    assert_eq!((a.total(), b.total(), c.total()), (1, 3, 1));
    let rec = record.snapshot();
    let model_of = |st: Stage| {
        rec.calls
            .iter()
            .find(|x| x.stage == st)
            .unwrap()
            .model
            .clone()
    };
    assert_eq!(model_of(Stage::Perspectives), "big");
    assert_eq!(model_of(Stage::Comment(0)), "small");
    assert_eq!(model_of(Stage::Combine), "mid");
}

#[test]
fn invalid_settings_and_templates_make_no_calls() {
    let model = ScriptedModel::default();
    let mut s = settings(6, 6);
    s.templates.comment_overton = "Situation: {situaton}".into();
    let (out, rec) = run_with(overton(), s, Method::EthosAgents, &model);
    let msg = out.unwrap_err().to_string();
    assert!(
        msg.contains("comment_overton") && msg.contains("{situaton}"),
        "{msg}"
    );
    assert!(rec.calls.is_empty());
    let mut s = settings(6, 0);
    s.concurrency = 0;
    let (out, _) = run_with(overton(), s, Method::EthosAgents, &model);
    assert!(out.unwrap_err().to_string().contains("concurrency"));
    assert_eq!(model.total(), 0);
}

/// The future of a run is `!Send` but needs no runtime: polling it by hand works (as in wasm).
#[test]
fn runs_on_a_hand_rolled_executor() {
    let model = ScriptedModel::default();
    let clock = Ticks::new();
    let record = SharedRecord::new(RunRecord::new(moral(), settings(6, 6), Method::EthosAgents));
    let p = Pipeline::new(Stages::same(&model), &clock, &NoObserver, record.clone());
    let fut = Box::pin(p.run_item());
    let mut fut = fut;
    let out = poll_until(fut.as_mut(), || false).unwrap();
    assert!(out.is_ok());
    assert_eq!(record.snapshot().status, RunStatus::Done);
}

#[test]
fn group_without_logprobs_samples_with_the_selected_comment() {
    let script = Script {
        logprobs: false,
        ..Script::default()
    };
    let (out, rec) = run_with(
        opinion(),
        settings(6, 6),
        Method::EthosAgents,
        &ScriptedModel::new(script),
    );
    let RunResult::Distribution(d) = out.unwrap() else {
        panic!()
    };
    // The answer read, then 10 answers sampled with the selected comment (comment 2, option B)
    // as passage: the script says B, except every third sample (A). Not the votes of every
    // comment, which would ignore the selection and the group.
    assert_eq!(stage_counts(&rec), (1, 6, 0, 1, 2, 0));
    assert_eq!(d.method, DistMethod::Sampling);
    assert_eq!(d.distribution, vec![0.3, 0.7, 0.0]);
    assert_eq!(d.answer.as_deref(), Some(" B"));
    let note = d.note.unwrap();
    assert!(
        note.contains("no logprobs: sampled 10 answers with the selected comment"),
        "{note}"
    );
    let sampled = rec
        .calls
        .iter()
        .filter(|c| c.stage == Stage::Answer)
        .nth(1)
        .unwrap();
    let passage = &rec.comments[d.selection.unwrap().index]
        .as_ref()
        .unwrap()
        .cleaned;
    assert!(sampled.request.messages[0]
        .content
        .contains(passage.as_str()));
}

#[test]
fn k_up_to_the_cap_is_accepted() {
    use ethos_engine::settings::MAX_K;
    let mut s = settings(MAX_K, 4);
    assert!(s.validate().is_ok(), "k = {MAX_K}");
    s.k = MAX_K + 1;
    assert!(s
        .validate()
        .unwrap_err()
        .to_string()
        .contains(&format!("between 1 and {MAX_K}")));
    s.k = 0;
    assert!(s.validate().is_err());
    // A run at k = 24 makes 1 + 24 + 24 calls (distributional).
    let model = ScriptedModel::default();
    let (res, rec) = run_with(moral(), settings(24, 24), Method::EthosAgents, &model);
    assert!(res.is_ok(), "{res:?}");
    assert_eq!(rec.calls.len(), 49);
}

// ----- regenerating one perspective -----

/// A finished Overton run at k = 3 (perspectives "Name 1" … "Name 3") and the model that made it.
fn finished_overton(script: Script) -> (ScriptedModel, SharedRecord) {
    let model = ScriptedModel::new(script);
    let (out, rec) = run_with(overton(), settings(3, 3), Method::EthosAgents, &model);
    assert!(out.is_ok(), "{out:?}");
    (model, SharedRecord::new(rec))
}

fn names(rec: &RunRecord) -> Vec<String> {
    rec.perspectives
        .perspectives
        .iter()
        .map(|p| p.name.clone())
        .collect()
}

#[test]
fn regenerating_one_perspective_replaces_only_it_and_reruns_what_depends_on_it() {
    let (model, record) = finished_overton(Script::default());
    let before = record.snapshot();
    // The new reply repeats two names on the board (one is the card's own) before a new one.
    model.script.borrow_mut().perspective_replies.push_back(
        "#name  2: Value 2, Framework 2, Duty 2, Emotion 2, Stakeholder 2\n\
         #Name 1: Value 1, Framework 1, Duty 1, Emotion 1, Stakeholder 1\n\
         #Night Nurse: Care, Care ethics, Duty of presence, Tenderness, Nurse\n"
            .into(),
    );
    let clock = Ticks::new();
    let p = Pipeline::new(Stages::same(&model), &clock, &NoObserver, record.clone());
    let chosen = block_on(p.regenerate_perspective(1)).unwrap();
    assert_eq!(chosen.name, "Night Nurse");
    let rec = record.snapshot();
    assert_eq!(names(&rec), ["Name 1", "Night Nurse", "Name 3"]);
    assert_eq!(
        rec.perspectives.perspectives[0],
        before.perspectives.perspectives[0]
    );
    assert_eq!(
        rec.perspectives.perspectives[2],
        before.perspectives.perspectives[2]
    );
    assert!(!rec.perspectives.edited, "regenerated, not edited by hand");
    // Its comment and the result depend on it: cleared; the other comments are kept.
    assert_eq!(rec.missing_comments(), vec![1]);
    assert_eq!(rec.comments[0], before.comments[0]);
    assert_eq!(rec.comments[2], before.comments[2]);
    assert!(rec.result.is_none());
    assert_eq!(rec.status, RunStatus::Partial);
    // One stage-1 call, recorded like every other: prompt, reply, usage, timing, what was taken.
    assert_eq!(model.count(Kind::Perspectives), 2);
    let call = rec.calls.last().unwrap();
    assert_eq!(call.stage, Stage::Regenerate(1));
    assert_eq!(call.stage.label(), "perspective 2, regenerated");
    assert_eq!(call.stage.number(), 1);
    assert_eq!(
        call.request.messages, rec.calls[0].request.messages,
        "the method's own prompt"
    );
    assert!(call.reply.as_deref().unwrap().contains("Night Nurse"));
    assert!(call.usage.is_some() && call.duration_ms.is_some());
    assert_eq!(call.cleaned.as_deref(), Some(chosen.raw.as_str()));
    assert_eq!(rec.totals.calls, 6);
    rec.validate().unwrap();
    scripted::assert_round_trip(&rec);

    // What depends on it: its comment, then stage 3 (the other comments are not written again).
    block_on(p.write_comments(Some(&rec.missing_comments()))).unwrap();
    block_on(p.combine()).unwrap();
    let rec = record.snapshot();
    assert_eq!(rec.status, RunStatus::Done);
    assert_eq!(count(&rec, |s| s == Stage::Comment(1)), 2);
    assert_eq!(count(&rec, |s| s == Stage::Comment(0)), 1);
    assert_eq!(count(&rec, |s| s == Stage::Combine), 2);
    let comment = rec.comments[1].as_ref().unwrap();
    assert!(comment.perspective.contains("Night Nurse"), "{comment:?}");
    rec.validate().unwrap();
}

#[test]
fn each_regeneration_gets_a_fresh_seed() {
    let (model, record) = finished_overton(Script::default());
    let clock = Ticks::new();
    let p = Pipeline::new(Stages::same(&model), &clock, &NoObserver, record.clone());
    block_on(p.regenerate_perspective(0)).unwrap();
    block_on(p.regenerate_perspective(2)).unwrap();
    let seeds: Vec<Option<u64>> = record.with(|r| {
        r.calls
            .iter()
            .filter(|c| c.stage.number() == 1)
            .map(|c| c.request.seed)
            .collect()
    });
    let base = record.with(|r| ethos_engine::pipeline::item_seed(7, r.item.id()));
    assert_eq!(
        seeds,
        vec![
            Some(base),
            Some(base.wrapping_add(1)),
            Some(base.wrapping_add(2))
        ],
        "test settings use seed 7, per item"
    );
    // The scripted model repeats "Name 1" … "Name 3": every name is taken, so the first is used.
    assert_eq!(
        record.with(names),
        ["Name 1", "Name 2", "Name 1"],
        "the fallback is the reply's first perspective"
    );
}

#[test]
fn an_unreadable_or_failed_regeneration_changes_nothing() {
    let (model, record) = finished_overton(Script::default());
    let before = record.snapshot();
    model
        .script
        .borrow_mut()
        .perspective_replies
        .push_back("Sorry, I would rather not invent anything today.".into());
    let clock = Ticks::new();
    let p = Pipeline::new(Stages::same(&model), &clock, &NoObserver, record.clone());
    let err = block_on(p.regenerate_perspective(1)).unwrap_err();
    assert_eq!(err, PipelineError::NoReplacement { number: 2 });
    assert!(
        err.to_string().contains("perspective 2 is unchanged"),
        "{err}"
    );
    let rec = record.snapshot();
    assert_eq!(rec.perspectives, before.perspectives);
    assert_eq!(rec.comments, before.comments);
    assert_eq!(rec.result, before.result);
    assert_eq!(
        rec.status,
        RunStatus::Done,
        "the finished run stays finished"
    );
    // The call is in the record with its reply, for the Inspector.
    let call = rec.calls.last().unwrap();
    assert_eq!(call.stage, Stage::Regenerate(1));
    assert!(call.is_ok() && call.cleaned.is_none());

    model.script.borrow_mut().fail_perspectives = true;
    let err = block_on(p.regenerate_perspective(1)).unwrap_err();
    assert!(
        matches!(&err, PipelineError::Call { stage, .. } if stage == "perspective 2, regenerated"),
        "{err}"
    );
    let rec = record.snapshot();
    assert_eq!(rec.perspectives, before.perspectives);
    assert_eq!(rec.result, before.result);
    assert_eq!(rec.status, RunStatus::Done);
    assert!(rec.calls.last().unwrap().error.is_some());
    assert_eq!(rec.calls.len(), before.calls.len() + 2);
    rec.validate().unwrap();
}

#[test]
fn regenerating_a_perspective_that_is_not_there_makes_no_call() {
    let (model, record) = finished_overton(Script::default());
    let clock = Ticks::new();
    let p = Pipeline::new(Stages::same(&model), &clock, &NoObserver, record.clone());
    let err = block_on(p.regenerate_perspective(3)).unwrap_err();
    assert_eq!(
        err,
        PipelineError::NoSuchPerspective {
            number: 4,
            count: 3
        }
    );
    assert_eq!(model.count(Kind::Perspectives), 1);
    assert_eq!(record.with(|r| r.status.clone()), RunStatus::Done);
}
