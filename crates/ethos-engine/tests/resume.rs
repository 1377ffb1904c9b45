//! The resume model: any [`BatchStore`] (here one in memory) holds a batch's finished calls and
//! outcomes; [`BatchState`] moves them to another store, and a batch resumed there makes no call.
#[path = "scripted.rs"]
mod scripted;

use ethos_engine::batch::{
    self, BatchObserver, BatchRun, BatchSpec, BatchState, BatchStore, CallCache, Outcome, Slice,
    Stored,
};
use ethos_engine::chat::ChatResponse;
use ethos_engine::record::RunRecord;
use ethos_engine::settings::Method;
use ethos_engine::vital::{self, Item, Source};
use futures::executor::block_on;
use scripted::{settings, ScriptedModel, Ticks};
use std::cell::RefCell;

#[derive(Default)]
struct Memory {
    stored: Stored,
    records: usize,
}

impl BatchStore for Memory {
    fn load(&mut self) -> Result<Stored, String> {
        Ok(self.stored.clone())
    }
    fn put_call(&mut self, key: &str, response: &ChatResponse) -> Result<(), String> {
        self.stored.cache.insert(key.to_string(), response.clone());
        Ok(())
    }
    fn put_outcome(&mut self, outcome: &Outcome, record: Option<&RunRecord>) -> Result<(), String> {
        self.records += usize::from(record.is_some());
        self.stored.outcomes.push(outcome.clone());
        Ok(())
    }
}

/// Persists every call and task into the store as it finishes.
struct Persist<'a>(RefCell<&'a mut Memory>);
impl BatchObserver for Persist<'_> {
    fn call_stored(&self, key: &str, response: &ChatResponse) {
        let _ = self.0.borrow_mut().put_call(key, response);
    }
    fn task_finished(&self, outcome: &Outcome, record: &RunRecord) {
        let _ = self.0.borrow_mut().put_outcome(outcome, Some(record));
    }
}

const FILE: &str = "vital_distributional_globalopinionqa.json";

fn run(
    model: &ScriptedModel,
    items: &[Item],
    spec: &BatchSpec,
    store: &mut Memory,
) -> Vec<Outcome> {
    let stored = store.load().expect("load");
    let todo = batch::pending(&spec.all_tasks(items.len()), &stored.outcomes);
    let cache = RefCell::new(stored.cache);
    let clock = Ticks::new();
    let observer = Persist(RefCell::new(store));
    let run = BatchRun {
        model,
        items,
        spec,
        cache: &cache,
        clock: &clock,
        observer: &observer,
    };
    block_on(run.run(&todo))
}

#[test]
fn a_state_moves_between_stores_and_the_batch_resumes_without_a_call() {
    let path = format!("{}/../../public/vital/{FILE}", env!("CARGO_MANIFEST_DIR"));
    let all = vital::load(
        &std::fs::read_to_string(&path).expect("file"),
        Source::from_file_name(FILE),
    )
    .expect("loads");
    let items: Vec<Item> = all.into_iter().take(4).collect();
    let ids: Vec<String> = items.iter().map(|i| i.id().to_string()).collect();
    let spec = BatchSpec {
        file: FILE.into(),
        slice: Slice::first(4),
        methods: vec![Method::EthosAgents, Method::Vanilla],
        settings: settings(3, 2),
        items_in_flight: 2,
        judge: false,
        models: Vec::new(),
    };
    let (first, mut here) = (ScriptedModel::default(), Memory::default());
    let outcomes = run(&first, &items, &spec, &mut here);
    assert_eq!((outcomes.len(), here.records), (8, 8));

    let state = BatchState::export(&spec, ids.clone(), &mut here).expect("export");
    let json = serde_json::to_string(&state).expect("serialise");
    let back: BatchState = serde_json::from_str(&json).expect("read back");
    assert_eq!(back, state);
    assert_eq!(back.calls.len(), first.total());

    let mut there = Memory::default();
    assert_eq!(
        back.import_into(&mut there).expect("import"),
        (first.total(), 8)
    );
    assert_eq!(there.records, 0, "an imported outcome has no record");
    let second = ScriptedModel::default();
    assert!(
        run(&second, &items, &spec, &mut there).is_empty(),
        "every task done"
    );
    assert_eq!(second.total(), 0, "no call made again");
    let mut there_cache = CallCache::new();
    for c in &back.calls {
        there_cache.insert(c.key.clone(), c.response.clone());
    }
    assert_eq!(there_cache.to_jsonl(), here.stored.cache.to_jsonl());

    // Concurrency may differ; other items or settings may not.
    let mut faster = spec.clone();
    faster.settings.concurrency = 8;
    faster.items_in_flight = 4;
    assert_eq!(back.mismatch(&faster, &ids), None);
    assert!(back
        .mismatch(&spec, &ids[..3])
        .is_some_and(|m| m.contains("items")));
    let mut other = spec.clone();
    other.settings.k = 4;
    assert!(back.mismatch(&other, &ids).is_some());
}

#[test]
fn a_state_from_a_stranger_is_read_or_refused_with_a_reason() {
    let spec = BatchSpec {
        file: FILE.into(),
        slice: Slice::first(2),
        methods: vec![Method::Vanilla],
        settings: settings(3, 2),
        items_in_flight: 2,
        judge: false,
        models: Vec::new(),
    };
    let outcome = |item: usize, method: Method, model: usize| Outcome {
        task: batch::Task { item, method, model },
        result: None,
        error: Some("failed".into()),
        calls: 1,
        cached_calls: 0,
        prompt_tokens: 0,
        completion_tokens: 0,
        ms: 1.0,
    };
    let state = |outcomes: Vec<Outcome>| BatchState {
        ethos_batch_state: batch::STATE_FORMAT,
        spec: spec.clone(),
        items: vec!["a".into(), "b".into()],
        calls: Vec::new(),
        outcomes,
    };
    let json = |s: &BatchState| serde_json::to_string(s).expect("serialise");

    let good = state(vec![outcome(1, Method::Vanilla, 0)]);
    assert_eq!(BatchState::parse(&json(&good)), Ok(good.clone()));

    let refused = |text: &str, words: &str| {
        let e = BatchState::parse(text).expect_err(text);
        assert!(e.contains(words), "{text:.80}: {e}");
    };
    refused("", "not a batch state");
    refused("not json", "not a batch state");
    refused("[1, 2]", "not a batch state");
    refused(r#"{"ethos_run": 1}"#, "no `ethos_batch_state` field");
    refused(
        &json(&good).replacen(
            &format!("\"ethos_batch_state\":{}", batch::STATE_FORMAT),
            "\"ethos_batch_state\":99",
            1,
        ),
        "format 99",
    );
    refused(&json(&good)[..json(&good).len() / 2], "not a batch state");
    refused(r#"{"ethos_batch_state": 1, "spec": 3}"#, "damaged");
    // Results of tasks that are not the batch's: another item, method or model.
    refused(&json(&state(vec![outcome(2, Method::Vanilla, 0)])), "not a task of its batch");
    refused(&json(&state(vec![outcome(0, Method::EthosAgents, 0)])), "not a task of its batch");
    refused(&json(&state(vec![outcome(0, Method::Vanilla, 1)])), "not a task of its batch");
    let mut no_method = good.clone();
    no_method.spec.methods.clear();
    refused(&json(&no_method), "no method");
    let mut bad_k = good.clone();
    bad_k.spec.settings.k = 0;
    refused(&json(&bad_k), "settings are invalid");
}
