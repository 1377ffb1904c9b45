//! Batch runs: slices, the call cache, resuming without repeating a finished call, the stop on
//! an error that would hit every task, scores per method and per attribute, and the exports.
#[path = "scripted.rs"]
mod scripted;

use ethos_engine::batch::{
    self, BatchObserver, BatchRun, BatchSpec, CachedModel, CallCache, Outcome, Pick, Slice, Task,
};
use ethos_engine::chat::{ChatError, ChatModel, ChatRequest, ChatResponse, Message};
use ethos_engine::metrics::score_distributions;
use ethos_engine::provenance::{MethodCounts, PRED_METHOD};
use ethos_engine::record::RunRecord;
use ethos_engine::settings::Method;
use ethos_engine::vital::{self, Item, Source};
use futures::executor::block_on;
use scripted::{poll_until, settings, ScriptedModel, Ticks};
use std::cell::RefCell;
use std::collections::HashSet;

fn shipped(file: &str) -> Vec<Item> {
    let path = format!("{}/../../public/vital/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    vital::load(&text, Source::from_file_name(file)).expect("shipped file loads")
}

const GLOBAL: &str = "vital_distributional_globalopinionqa.json";

#[test]
fn slices_pick_first_random_ids_and_filter() {
    let items = shipped(GLOBAL);
    assert_eq!(
        batch::select(&items, &Slice::first(5)).unwrap(),
        vec![0, 1, 2, 3, 4]
    );
    let all = batch::select(
        &items,
        &Slice {
            pick: Pick::All,
            attribute: String::new(),
        },
    )
    .unwrap();
    assert_eq!(all.len(), items.len());

    let random = |seed| {
        batch::select(
            &items,
            &Slice {
                pick: Pick::Random { n: 20, seed },
                attribute: String::new(),
            },
        )
        .unwrap()
    };
    let a = random(7);
    assert_eq!(a.len(), 20);
    assert_eq!(a, random(7), "same seed, same slice");
    assert_ne!(a, random(8), "another seed, another slice");
    assert!(a.windows(2).all(|w| w[0] < w[1]), "file order, no repeats");
    assert!(a.iter().any(|&i| i >= 20), "not just the first items");

    // The attribute filter applies first, case-insensitively.
    let country = items[0].attribute().unwrap().to_string();
    let filtered = batch::select(
        &items,
        &Slice {
            pick: Pick::First { n: 1000 },
            attribute: country.to_uppercase(),
        },
    )
    .unwrap();
    assert!(!filtered.is_empty());
    assert!(filtered
        .iter()
        .all(|&i| items[i].attribute() == Some(country.as_str())
            || items[i].attribute().unwrap().contains(country.as_str())));
    let expected = items
        .iter()
        .filter(|i| {
            i.attribute()
                .unwrap()
                .to_lowercase()
                .contains(&country.to_lowercase())
        })
        .count();
    assert_eq!(filtered.len(), expected);

    let id2 = items[2].id().to_string();
    let id9 = items[9].id().to_string();
    let ids = batch::select(
        &items,
        &Slice {
            pick: Pick::Ids {
                ids: vec![id9.clone(), format!(" {id2} ")],
            },
            attribute: String::new(),
        },
    )
    .unwrap();
    assert_eq!(ids, vec![9, 2], "ids in the order given");
    let err = batch::select(
        &items,
        &Slice {
            pick: Pick::Ids {
                ids: vec![id2, "no-such-id".into()],
            },
            attribute: String::new(),
        },
    )
    .unwrap_err();
    assert!(err.to_string().contains("no-such-id"), "{err}");
    let err = batch::select(
        &items,
        &Slice {
            pick: Pick::All,
            attribute: "Atlantis".into(),
        },
    )
    .unwrap_err();
    assert!(err.to_string().contains("Atlantis"), "{err}");
}

#[test]
fn slices_round_trip_through_json() {
    for s in [
        Slice::first(3),
        Slice {
            pick: Pick::Random { n: 4, seed: 9 },
            attribute: "Japan".into(),
        },
        Slice {
            pick: Pick::Ids {
                ids: vec!["1".into(), "x".into()],
            },
            attribute: String::new(),
        },
        Slice {
            pick: Pick::All,
            attribute: String::new(),
        },
    ] {
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<Slice>(&json).unwrap(), s, "{json}");
    }
}

/// Counts calls that reach it; replies by the request's last message.
struct Echo {
    calls: RefCell<Vec<String>>,
}

impl ChatModel for Echo {
    async fn chat(
        &self,
        req: &ChatRequest,
        on_delta: &mut dyn FnMut(&str),
    ) -> Result<ChatResponse, ChatError> {
        let n = self.calls.borrow().len();
        let text = format!(
            "reply {n} to {}",
            req.messages
                .last()
                .map(|m| m.content.as_str())
                .unwrap_or("")
        );
        self.calls.borrow_mut().push(text.clone());
        on_delta(&text);
        Ok(ChatResponse {
            text,
            ..Default::default()
        })
    }
}

#[test]
fn the_cache_answers_repeats_and_keeps_identical_requests_apart() {
    let echo = Echo {
        calls: RefCell::new(Vec::new()),
    };
    let cache = RefCell::new(CallCache::new());
    let stored = RefCell::new(Vec::new());
    let on_store = |k: &str, _: &ChatResponse| stored.borrow_mut().push(k.to_string());
    let req = ChatRequest::new("m", vec![Message::user("same")], 1.0, 5);
    let other = ChatRequest::new("m", vec![Message::user("other")], 1.0, 5);

    let first: Vec<String> = {
        let m = CachedModel::new(&echo, &cache, "task", &on_store);
        let out = [&req, &req, &other].map(|r| block_on(m.chat(r, &mut |_| {})).unwrap().text);
        assert_eq!((m.fresh(), m.hits()), (3, 0));
        out.to_vec()
    };
    assert_ne!(
        first[0], first[1],
        "two identical requests are two calls (two samples)"
    );
    assert_eq!(stored.borrow().len(), 3);
    assert_eq!(cache.borrow().len(), 3);

    // The same task again: every answer from the cache, in the same order, streamed once.
    let m = CachedModel::new(&echo, &cache, "task", &on_store);
    let mut streamed = String::new();
    let again: Vec<String> = [&req, &req, &other]
        .iter()
        .map(|r| {
            block_on(m.chat(r, &mut |d| streamed.push_str(d)))
                .unwrap()
                .text
        })
        .collect();
    assert_eq!(again, first);
    assert_eq!((m.fresh(), m.hits()), (0, 3));
    assert_eq!(echo.calls.borrow().len(), 3, "no call reached the model");
    assert_eq!(
        streamed,
        first.concat(),
        "cached replies are shown as if streamed"
    );

    // Another scope is another task: nothing shared.
    let m = CachedModel::new(&echo, &cache, "another task", &on_store);
    block_on(m.chat(&req, &mut |_| {})).unwrap();
    assert_eq!(m.fresh(), 1);

    // The cache survives its JSON-lines form; a cut last line is skipped and counted.
    let lines = cache.borrow().to_jsonl();
    let mut back = CallCache::new();
    assert_eq!(
        back.extend_from_jsonl(&format!("{lines}{{\"key\": \"cut")),
        1
    );
    assert_eq!(back, *cache.borrow());
}

#[test]
fn call_keys_depend_on_every_part_of_the_request() {
    let base = ChatRequest::new("m", vec![Message::user("q")], 0.0, 5);
    let k = batch::call_key("s", &base, 0);
    let mut seeded = base.clone();
    seeded.seed = Some(1);
    let mut longer = base.clone();
    longer.max_tokens = 6;
    let mut other_model = base.clone();
    other_model.model = "n".into();
    for (what, key) in [
        ("seed", batch::call_key("s", &seeded, 0)),
        ("max tokens", batch::call_key("s", &longer, 0)),
        ("model", batch::call_key("s", &other_model, 0)),
        ("scope", batch::call_key("t", &base, 0)),
        ("occurrence", batch::call_key("s", &base, 1)),
    ] {
        assert_ne!(key, k, "{what} changes the key");
    }
    assert_eq!(batch::call_key("s", &base.clone(), 0), k);
}

/// Records what the batch tells its observer.
#[derive(Default)]
struct Log {
    stored: RefCell<Vec<(String, ChatResponse)>>,
    finished: RefCell<Vec<Outcome>>,
    stopped: RefCell<Vec<String>>,
    running_calls: std::cell::Cell<i64>,
    peak_calls: std::cell::Cell<i64>,
}

impl BatchObserver for Log {
    fn call_started(&self, _t: Task) {
        self.running_calls.set(self.running_calls.get() + 1);
        self.peak_calls
            .set(self.peak_calls.get().max(self.running_calls.get()));
    }
    fn call_finished(&self, _t: Task, _ok: bool) {
        self.running_calls.set(self.running_calls.get() - 1);
    }
    fn call_stored(&self, key: &str, response: &ChatResponse) {
        self.stored
            .borrow_mut()
            .push((key.to_string(), response.clone()));
    }
    fn task_finished(&self, outcome: &Outcome, _record: &RunRecord) {
        self.finished.borrow_mut().push(outcome.clone());
    }
    fn stopped(&self, reason: &str) {
        self.stopped.borrow_mut().push(reason.to_string());
    }
}

fn spec(methods: Vec<Method>, in_flight: usize) -> BatchSpec {
    BatchSpec {
        file: GLOBAL.into(),
        slice: Slice::first(6),
        methods,
        settings: settings(3, 3),
        items_in_flight: in_flight,
        judge: false,
        models: Vec::new(),
    }
}

/// Run every task of the spec (items × models × methods) with a fresh cache; the outcomes, what
/// the observer saw, and the cache.
fn run_all(
    model: &impl ChatModel,
    items: &[Item],
    spec: &BatchSpec,
) -> (Vec<Outcome>, Log, CallCache) {
    let cache = RefCell::new(CallCache::new());
    let (log, clock) = (Log::default(), Ticks::new());
    let run = BatchRun {
        model,
        items,
        spec,
        cache: &cache,
        clock: &clock,
        observer: &log,
    };
    let outcomes = block_on(run.run(&spec.all_tasks(items.len())));
    (outcomes, log, cache.into_inner())
}

fn selected(spec: &BatchSpec) -> Vec<Item> {
    let all = shipped(&spec.file);
    batch::select(&all, &spec.slice)
        .unwrap()
        .into_iter()
        .map(|i| all[i].clone())
        .collect()
}

#[test]
fn a_batch_runs_items_together_and_scores_like_the_exported_file() {
    let spec = spec(vec![Method::EthosAgents, Method::Vanilla], 3);
    let items = selected(&spec);
    let model = ScriptedModel::default();
    let all = batch::tasks(items.len(), &spec.methods);
    assert_eq!(all.len(), 12);
    let (outcomes, log, _) = run_all(&model, &items, &spec);
    assert_eq!(outcomes.len(), 12);
    assert!(
        outcomes.iter().all(Outcome::ok),
        "{:?}",
        outcomes.iter().find(|o| !o.ok())
    );
    // EthosAgents distributional with k = 3: 1 + 3 + 3 calls; vanilla: 1.
    assert_eq!(model.total(), 6 * 7 + 6);
    assert_eq!(
        log.stored.borrow().len(),
        model.total(),
        "every call was stored as it finished"
    );
    // Three items in flight with up to three calls each: more calls overlap than one item allows.
    assert!(
        log.peak_calls.get() > 3,
        "peak calls in flight {}",
        log.peak_calls.get()
    );
    assert!(batch::pending(&all, &outcomes).is_empty());

    for method in [Method::EthosAgents, Method::Vanilla] {
        let s = batch::summarize(&items, &outcomes, method);
        assert_eq!((s.done, s.failed), (6, 0));
        // Score the exported VITAL file the way `ethos score` does.
        let file = batch::filled_file(&items, &outcomes, method);
        let back = vital::load_value(&file, Some(Source::GlobalOpinionQa))
            .expect("the export loads as a VITAL file");
        assert_eq!(back.len(), 6);
        // Every record says how its distribution was produced; the summary counts the same.
        let mut from_file = MethodCounts::default();
        for rec in file.as_array().expect("array") {
            let m = rec[PRED_METHOD].as_str();
            assert!(m.is_some(), "{method:?}: no pred_method in {rec}");
            from_file.add(m);
        }
        assert_eq!(s.pred_methods.as_ref(), Some(&from_file), "{method:?}");
        assert_eq!(from_file.total(), 6);
        let pairs: Vec<(Vec<f64>, Vec<f64>)> = back
            .iter()
            .map(|i| match i {
                Item::Choice { item, .. } => (
                    item.gold_distribution.clone().unwrap(),
                    item.pred_distribution.clone().expect("prediction filled"),
                ),
                _ => panic!("not a choice item"),
            })
            .collect();
        let scored = score_distributions(pairs.iter().map(|(g, p)| (g.as_slice(), p.as_slice())));
        assert_eq!(
            s.dist.as_ref(),
            Some(&scored),
            "{method:?}: the table equals the exported file's score"
        );
    }

    // Per attribute: the breakdown's items add up to the whole.
    let parts = batch::breakdown(&items, &outcomes, Method::EthosAgents);
    assert!(!parts.is_empty());
    assert_eq!(parts.iter().map(|(_, s)| s.done).sum::<usize>(), 6);
    for (attr, s) in &parts {
        let n = items
            .iter()
            .filter(|i| i.attribute() == Some(attr.as_str()))
            .count();
        assert_eq!(s.done, n, "{attr}");
    }

    let csv = batch::scores_csv(&items, &outcomes, &spec.methods, &[]);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 13, "header + one row per task");
    assert!(lines[0].starts_with("item_id,attribute,method,status,js_distance,most_likely_correct,pred_method,"));
    let row = lines[1];
    // Each row says how its distribution was produced, as the filled file does.
    let file = batch::filled_file(&items, &outcomes, Method::EthosAgents);
    let first_method = file[0]["pred_method"].as_str().expect("pred_method");
    assert_eq!(row.split(',').nth(6), Some(first_method), "{row}");
    let js = batch::summarize(&items, &outcomes, Method::EthosAgents)
        .dist
        .unwrap();
    assert!(
        js.records == 6 && row.contains("EthosAgents") && row.contains(",done,"),
        "{row}"
    );
}

#[test]
fn a_resumed_batch_repeats_no_finished_call() {
    let spec = spec(vec![Method::EthosAgents, Method::Prompting], 2);
    let items = selected(&spec);
    let all = batch::tasks(items.len(), &spec.methods);

    // The reference: one uninterrupted run.
    let reference = ScriptedModel::default();
    let (ref_outcomes, _, _) = run_all(&reference, &items, &spec);

    // Run 1: stopped (the page reloaded) after 20 calls finished; what was persisted survives.
    let first = ScriptedModel::default();
    let log1 = Log::default();
    {
        let cache = RefCell::new(CallCache::new());
        let clock = Ticks::new();
        let run = BatchRun {
            model: &first,
            items: &items,
            spec: &spec,
            cache: &cache,
            clock: &clock,
            observer: &log1,
        };
        let mut fut = Box::pin(run.run(&all));
        assert!(
            poll_until(fut.as_mut(), || first.finished.get() >= 20).is_none(),
            "finished too early"
        );
    }
    let persisted_cache: String = log1
        .stored
        .borrow()
        .iter()
        .filter_map(|(k, r)| batch::entry_line(k, r))
        .map(|l| l + "\n")
        .collect();
    let persisted_outcomes = log1.finished.borrow().clone();
    assert!(!persisted_outcomes.is_empty() && persisted_outcomes.len() < all.len());

    // Run 2, "after the reload": the cache and the outcomes come back from storage.
    let mut cache = CallCache::new();
    assert_eq!(cache.extend_from_jsonl(&persisted_cache), 0);
    let cache = RefCell::new(cache);
    let second = ScriptedModel::default();
    let log2 = Log::default();
    let clock = Ticks::new();
    let run = BatchRun {
        model: &second,
        items: &items,
        spec: &spec,
        cache: &cache,
        clock: &clock,
        observer: &log2,
    };
    let todo = batch::pending(&all, &persisted_outcomes);
    assert_eq!(todo.len(), all.len() - persisted_outcomes.len());
    let outcomes2 = block_on(run.run(&todo));

    let before: HashSet<String> = log1
        .stored
        .borrow()
        .iter()
        .map(|(k, _)| k.clone())
        .collect();
    let again: Vec<String> = log2
        .stored
        .borrow()
        .iter()
        .map(|(k, _)| k.clone())
        .filter(|k| before.contains(k))
        .collect();
    assert!(
        again.is_empty(),
        "finished calls were made again: {again:?}"
    );
    assert_eq!(
        second.total() + before.len(),
        reference.total(),
        "only the unfinished calls were made"
    );

    // Same results as the uninterrupted run.
    let mut outcomes = persisted_outcomes;
    outcomes.extend(outcomes2);
    assert!(batch::pending(&all, &outcomes).is_empty());
    for m in &spec.methods {
        assert_eq!(
            batch::summarize(&items, &outcomes, *m).dist,
            batch::summarize(&items, &ref_outcomes, *m).dist
        );
    }
    // The drill-down after a reload: the full record comes back from the cache alone.
    let cache = cache.into_inner();
    let cache = RefCell::new(cache);
    let rec = block_on(batch::replay(
        &BadKey,
        &items[1],
        &spec,
        TASK1,
        &cache,
        &Ticks::new(),
    ));
    let o = outcomes.iter().find(|o| o.task == TASK1).unwrap();
    assert_eq!(rec.result, o.result, "replayed result equals the run's");
    assert_eq!(rec.calls.len(), 7);
    assert!(rec.calls.iter().all(|c| c.is_ok()));
    let empty = RefCell::new(CallCache::new());
    let rec = block_on(batch::replay(
        &BadKey,
        &items[1],
        &spec,
        TASK1,
        &empty,
        &Ticks::new(),
    ));
    assert!(rec.result.is_none());
    assert!(rec.calls[0]
        .error
        .as_ref()
        .is_some_and(|e| e.to_string().contains("not kept")));
    // Resumed tasks say how many calls came from the cache.
    assert!(outcomes.iter().any(|o| o.cached_calls > 0));
}

const TASK1: Task = Task {
    item: 1,
    method: Method::EthosAgents,
    model: 0,
};

/// Rejects every call with a bad key.
struct BadKey;
impl ChatModel for BadKey {
    async fn chat(
        &self,
        _req: &ChatRequest,
        _on_delta: &mut dyn FnMut(&str),
    ) -> Result<ChatResponse, ChatError> {
        Err(ChatError::BadKey)
    }
}

#[test]
fn an_error_that_hits_every_task_stops_the_batch() {
    let spec = spec(vec![Method::Vanilla], 1);
    let items = selected(&spec);
    let all = batch::tasks(items.len(), &spec.methods);
    let (outcomes, log, _) = run_all(&BadKey, &items, &spec);
    assert_eq!(outcomes.len(), 1, "no task started after the bad key");
    assert!(
        outcomes[0].error.as_deref().unwrap_or("").contains("401"),
        "{:?}",
        outcomes[0].error
    );
    assert_eq!(log.stopped.borrow().len(), 1);
    let s = batch::summarize(&items, &outcomes, Method::Vanilla);
    assert_eq!((s.done, s.failed), (0, 1));
    let c = batch::counts(&all, &outcomes, &HashSet::new());
    assert_eq!((c.done, c.failed, c.running, c.remaining), (0, 1, 0, 5));
    assert_eq!(
        batch::pending(&all, &outcomes).len(),
        6,
        "failed tasks run again"
    );
}

#[test]
fn value_and_overton_batches_score_with_their_metrics() {
    let value = vital::load(
        &std::fs::read_to_string(format!(
            "{}/tests/fixtures/vital_steerable_valuekaleidoscope_sample.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap(),
        Some(Source::SteerableValueKaleidoscope),
    )
    .unwrap();
    let items: Vec<Item> = value.into_iter().take(4).collect();
    let spec = BatchSpec {
        file: "vital_steerable_valuekaleidoscope.json".into(),
        ..spec(vec![Method::EthosAgents], 2)
    };
    let model = ScriptedModel::default();
    let (outcomes, _, _) = run_all(&model, &items, &spec);
    let s = batch::summarize(&items, &outcomes, Method::EthosAgents);
    assert_eq!(s.done, 4);
    let v = s.value_reference.expect("value scores");
    assert_eq!(v.records, 4);
    // The scripted answer is always "B": accuracy is the share of gold B.
    let gold_b = items
        .iter()
        .filter(|i| matches!(i, Item::Value(v) if v.label.starts_with('B')))
        .count();
    assert!((v.accuracy - gold_b as f64 / 4.0).abs() < 1e-12);
    assert!(s.dist.is_none() && s.coverage.is_none());

    let overton = shipped("vital_overton_valuekaleidoscope.json");
    let items: Vec<Item> = overton.into_iter().take(3).collect();
    let spec = BatchSpec {
        file: "vital_overton_valuekaleidoscope.json".into(),
        judge: true,
        ..self::spec(vec![Method::EthosAgents, Method::Vanilla], 2)
    };
    let (outcomes, _, _) = run_all(&model, &items, &spec);
    for m in [Method::EthosAgents, Method::Vanilla] {
        let s = batch::summarize(&items, &outcomes, m);
        let c = s.coverage.expect("judged coverage");
        assert_eq!(c.judged, 3);
        assert!((0.0..=1.0).contains(&c.mean_item_score) && (0.0..=1.0).contains(&c.accuracy));
    }
}

#[test]
fn a_batch_compares_models() {
    let mut spec = spec(vec![Method::EthosAgents, Method::Vanilla], 2);
    spec.slice = Slice::first(3);
    spec.models = vec!["model-a".into(), "model-b".into()];
    let items = selected(&spec);
    let all = spec.all_tasks(items.len());
    assert_eq!(all.len(), 3 * 2 * 2);
    let model = ScriptedModel::default();
    let (outcomes, _, cache) = run_all(&model, &items, &spec);
    assert_eq!(outcomes.len(), all.len());
    assert!(outcomes.iter().all(Outcome::ok));
    let cache = RefCell::new(cache);
    // Every call of a task goes to its model, every stage.
    let per_model = |name: &str| {
        model
            .requests
            .borrow()
            .iter()
            .filter(|r| r.model == name)
            .count()
    };
    assert_eq!(per_model("model-a"), 3 * (1 + 3 + 3) + 3);
    assert_eq!(per_model("model-b"), per_model("model-a"));
    assert_eq!(per_model("scripted-model"), 0);
    // The same prompts under two models are two cache entries.
    assert_eq!(cache.borrow().len(), model.total());
    for m in 0..2 {
        let s = batch::summarize_model(&items, &outcomes, Method::EthosAgents, m);
        assert_eq!((s.done, s.model), (3, m));
        let file = batch::filled_file_model(&items, &outcomes, Method::Vanilla, m);
        assert_eq!(file.as_array().map(Vec::len), Some(3));
    }
    assert_eq!(spec.arm_label(Method::Vanilla, 1), "Vanilla · model-b");
    let csv = batch::scores_csv(&items, &outcomes, &spec.methods, &spec.model_names());
    assert!(csv.starts_with("item_id,attribute,method,model,status"));
    assert_eq!(csv.lines().count(), 13);
    assert_eq!(
        csv.lines().filter(|l| l.contains(",model-b,done,")).count(),
        6
    );
    let task = Task {
        item: 0,
        method: Method::EthosAgents,
        model: 1,
    };
    let rec = block_on(batch::replay(
        &BadKey,
        &items[0],
        &spec,
        task,
        &cache,
        &Ticks::new(),
    ));
    assert_eq!(rec.settings.models.comments, "model-b");
    assert!(
        rec.result.is_some() && rec.calls.iter().all(|c| c.is_ok()),
        "replayed from the cache"
    );
    // A spec stored before models existed still reads, as one model.
    let mut json = serde_json::to_value(&spec).unwrap();
    json.as_object_mut().unwrap().remove("models");
    let old: BatchSpec = serde_json::from_value(json).unwrap();
    assert_eq!(old.model_names(), vec!["scripted-model".to_string()]);
    let t: Task = serde_json::from_str(r#"{"item":2,"method":"vanilla"}"#).unwrap();
    assert_eq!(t.model, 0);
}
