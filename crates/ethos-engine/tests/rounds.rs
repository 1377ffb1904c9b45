//! Round-based batch runs (how a provider's Batch API is driven): each round runs the pending
//! tasks from the cache and queues the calls that are not there; the queue is answered as one
//! batch and stored, then the next round runs. The rounds follow the pipeline's stages, and the
//! outcomes (results, calls, tokens) are those of a live run.
#[path = "scripted.rs"]
mod scripted;

use ethos_engine::batch::{
    self, BatchObserver, BatchRun, BatchSpec, CallCache, Outcome, Rounds, Slice,
};
use ethos_engine::chat::{ChatError, ChatModel};
use ethos_engine::settings::Method;
use ethos_engine::vital::{self, Item, Source};
use futures::executor::block_on;
use scripted::{settings, Kind, ScriptedModel, Ticks};
use std::cell::RefCell;

const GLOBAL: &str = "vital_distributional_globalopinionqa.json";

struct Quiet;
impl BatchObserver for Quiet {}

fn items(spec: &BatchSpec) -> Vec<Item> {
    let path = format!(
        "{}/../../public/vital/{}",
        env!("CARGO_MANIFEST_DIR"),
        spec.file
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let all = vital::load(&text, Source::from_file_name(&spec.file)).expect("file loads");
    batch::select(&all, &spec.slice)
        .expect("slice")
        .into_iter()
        .map(|i| all[i].clone())
        .collect()
}

fn spec(file: &str, methods: Vec<Method>, judge: bool) -> BatchSpec {
    BatchSpec {
        file: file.into(),
        slice: Slice::first(5),
        methods,
        settings: settings(3, 2),
        items_in_flight: 2,
        judge,
        models: Vec::new(),
    }
}

fn runner<'a>(
    model: &'a ScriptedModel,
    items: &'a [Item],
    spec: &'a BatchSpec,
    cache: &'a RefCell<CallCache>,
    clock: &'a Ticks,
) -> BatchRun<'a, ScriptedModel> {
    BatchRun {
        model,
        items,
        spec,
        cache,
        clock,
        observer: &Quiet,
    }
}

/// What is compared between a live and a round-based run (not the wall time).
fn essentials(outcomes: &[Outcome]) -> Vec<String> {
    let mut v: Vec<String> = outcomes
        .iter()
        .map(|o| {
            format!(
                "{:?} {:?} {:?} calls {} cached {} tokens {}+{}",
                o.task,
                o.result,
                o.error,
                o.calls,
                o.cached_calls,
                o.prompt_tokens,
                o.completion_tokens
            )
        })
        .collect();
    v.sort();
    v
}

/// Run every task in rounds, answering each round's queue with `model` (a call whose index in
/// the whole sequence of queued calls is in `fail` gets a 500 instead). Returns the outcomes,
/// the size of every round's queue, and the cache.
fn run_in_rounds(
    model: &ScriptedModel,
    items: &[Item],
    spec: &BatchSpec,
    fail: &[usize],
) -> (Vec<Outcome>, Vec<usize>, CallCache) {
    let cache = RefCell::new(CallCache::new());
    let rounds = RefCell::new(Rounds::default());
    let clock = Ticks::new();
    let run = runner(model, items, spec, &cache, &clock);
    let mut pending = spec.all_tasks(items.len());
    let (mut outcomes, mut sizes, mut sent) = (Vec::new(), Vec::new(), 0usize);
    for _ in 0..10 {
        rounds.borrow_mut().queued.clear();
        let done = block_on(run.run_round(&pending, &rounds));
        let finished: Vec<_> = done.iter().map(|o| o.task).collect();
        pending.retain(|t| !finished.contains(t));
        outcomes.extend(done);
        let queued = std::mem::take(&mut rounds.borrow_mut().queued);
        if queued.is_empty() {
            assert!(pending.is_empty(), "every task finished: {pending:?}");
            return (outcomes, sizes, cache.into_inner());
        }
        sizes.push(queued.len());
        for (key, req) in queued {
            let mut r = rounds.borrow_mut();
            if fail.contains(&sent) {
                r.failed.insert(
                    key,
                    ChatError::Server {
                        status: 500,
                        message: "batch line failed".into(),
                    },
                );
            } else {
                let resp = block_on(model.chat(&req, &mut |_| {})).expect("scripted reply");
                cache.borrow_mut().insert(key.clone(), resp);
                r.fetched.insert(key);
            }
            sent += 1;
        }
    }
    panic!("the rounds did not end");
}

fn live(model: &ScriptedModel, items: &[Item], spec: &BatchSpec) -> (Vec<Outcome>, CallCache) {
    let cache = RefCell::new(CallCache::new());
    let clock = Ticks::new();
    let run = runner(model, items, spec, &cache, &clock);
    let outcomes = block_on(run.run(&spec.all_tasks(items.len())));
    (outcomes, cache.into_inner())
}

#[test]
fn each_stage_is_one_round_and_the_outcomes_are_a_live_runs() {
    let spec = spec(GLOBAL, vec![Method::EthosAgents, Method::Vanilla], false);
    let items = items(&spec);
    let (live_model, round_model) = (ScriptedModel::default(), ScriptedModel::default());
    let (live_outcomes, live_cache) = live(&live_model, &items, &spec);
    let (outcomes, sizes, cache) = run_in_rounds(&round_model, &items, &spec, &[]);
    // Round 1: every item's perspectives and vanilla answer; 2: k comments each; 3: k reads.
    assert_eq!(sizes, vec![5 + 5, 5 * 3, 5 * 3]);
    assert_eq!(
        round_model.total(),
        live_model.total(),
        "no call made twice"
    );
    assert_eq!(round_model.count(Kind::Perspectives), 5);
    assert_eq!(essentials(&outcomes), essentials(&live_outcomes));
    assert_eq!(
        cache.to_jsonl(),
        live_cache.to_jsonl(),
        "the same stored calls"
    );
    for m in [Method::EthosAgents, Method::Vanilla] {
        assert_eq!(
            batch::summarize(&items, &outcomes, m),
            batch::summarize(&items, &live_outcomes, m)
        );
    }
}

#[test]
fn judged_overton_items_take_one_more_round() {
    let spec = spec(
        "vital_overton_valuekaleidoscope.json",
        vec![Method::EthosAgents],
        true,
    );
    let items = items(&spec);
    let (live_model, round_model) = (ScriptedModel::default(), ScriptedModel::default());
    let (live_outcomes, _) = live(&live_model, &items, &spec);
    let (outcomes, sizes, _) = run_in_rounds(&round_model, &items, &spec, &[]);
    // Perspectives, comments, the combine, the judge (one call per explanation: the default
    // judge asks, per value, how likely its explanation entails each output sentence).
    let explanations: usize = items
        .iter()
        .map(|i| match i {
            Item::Overton(o) => o.explanation.len(),
            _ => 0,
        })
        .sum();
    assert_eq!(sizes, vec![5, 5 * 3, 5, explanations]);
    assert_eq!(essentials(&outcomes), essentials(&live_outcomes));
}

#[test]
fn a_call_the_batch_failed_fails_its_task_as_live() {
    let spec = spec(GLOBAL, vec![Method::Vanilla], false);
    let items = items(&spec);
    let model = ScriptedModel::default();
    // The third queued call (item 3's answer) fails.
    let (outcomes, sizes, cache) = run_in_rounds(&model, &items, &spec, &[2]);
    assert_eq!(sizes, vec![5]);
    assert_eq!(cache.len(), 4);
    let failed: Vec<&Outcome> = outcomes.iter().filter(|o| !o.ok()).collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].task.item, 2);
    assert!(
        failed[0]
            .error
            .as_deref()
            .is_some_and(|e| e.contains("batch line failed")),
        "{:?}",
        failed[0].error
    );
    assert_eq!((failed[0].calls, failed[0].cached_calls), (1, 0));
    assert!(outcomes
        .iter()
        .filter(|o| o.ok())
        .all(|o| o.calls == 1 && o.cached_calls == 0));
}
