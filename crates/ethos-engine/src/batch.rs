//! Batch runs ("benchmark mode"): a slice of a VITAL file × the methods to compare, run item by
//! item with several items in flight, resumable without repeating a finished call, and scored
//! per method (with a per-attribute breakdown) exactly as `ethos score` scores the exported file.
//!
//! - [`Slice`] picks the items: all, the first N, N at random with a seed, or given ids; an
//!   optional attribute filter (case-insensitive substring of the item's attribute) applies first.
//! - [`CachedModel`] wraps any [`ChatModel`]: a call whose exact request (within one task) was
//!   answered before is answered from the [`CallCache`] without reaching the provider. The UI and
//!   the command line persist every stored call as it finishes, so a batch resumed after a reload
//!   or a crash re-makes only the calls that had not finished.
//! - [`run_batch`] runs the pending tasks (item × method) under an item window; the pipeline's and
//!   the client's own limits bound the calls.
//! - [`summarize`] / [`breakdown`] score the outcomes; [`filled_file`] writes the VITAL file with
//!   `pred_distribution` / `output` filled; [`scores_csv`] lists per-item scores. Their `_scored`
//!   forms take a [`Scoring`] (failed items left out, or scored as the reference does: see
//!   [`crate::attrition`]); the plain forms leave failed items out. They live in
//!   [`crate::scores`] and are re-exported here.

pub use crate::attrition::Scoring;
use crate::chat::{ChatError, ChatModel, ChatRequest, ChatResponse};
use crate::pipeline::{
    fnv1a, splitmix64, Clock, Observer, Pipeline, PipelineError, SharedRecord, Stages,
};
use crate::record::{CallRecord, RunRecord, RunResult};
pub use crate::scores::*;
use crate::settings::{Method, RunSettings};
use crate::vital::Item;
use futures::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};

/// The Overton coverage threshold of the reference (an item counts as covered above it).
pub const COVERAGE_THRESHOLD: f64 = 0.33;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BatchError {
    #[error("no item with id {0}")]
    UnknownIds(String),
    #[error("the slice is empty: no item matches{0}")]
    Empty(String),
    #[error("choose at least one method")]
    NoMethod,
}

/// Which items of the file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "pick", rename_all = "snake_case")]
pub enum Pick {
    All,
    First { n: usize },
    Random { n: usize, seed: u64 },
    Ids { ids: Vec<String> },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Slice {
    #[serde(flatten)]
    pub pick: Pick,
    /// Keep only items whose attribute contains this text (case-insensitive); empty = all.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub attribute: String,
}

impl Slice {
    pub fn first(n: usize) -> Self {
        Slice {
            pick: Pick::First { n },
            attribute: String::new(),
        }
    }

    /// A short description, e.g. "random 50 (seed 7) where attribute contains \"Japan\"".
    pub fn describe(&self) -> String {
        let pick = match &self.pick {
            Pick::All => "all items".to_string(),
            Pick::First { n } => format!("first {n}"),
            Pick::Random { n, seed } => format!("random {n} (seed {seed})"),
            Pick::Ids { ids } => format!("ids {}", ids.join(", ")),
        };
        if self.attribute.trim().is_empty() {
            pick
        } else {
            format!(
                "{pick} where attribute contains {:?}",
                self.attribute.trim()
            )
        }
    }
}

/// The indices (into `items`, in file order) that the slice selects.
pub fn select(items: &[Item], slice: &Slice) -> Result<Vec<usize>, BatchError> {
    let needle = slice.attribute.trim().to_lowercase();
    let pool: Vec<usize> = (0..items.len())
        .filter(|&i| {
            needle.is_empty()
                || items[i]
                    .attribute()
                    .is_some_and(|a| a.to_lowercase().contains(&needle))
        })
        .collect();
    let filter_note = if needle.is_empty() {
        String::new()
    } else {
        format!(" the attribute filter {:?}", slice.attribute.trim())
    };
    let picked = match &slice.pick {
        Pick::All => pool,
        Pick::First { n } => pool.into_iter().take(*n).collect(),
        Pick::Random { n, seed } => {
            // Seeded Fisher–Yates over the pool, then back to file order.
            let mut pool = pool;
            let mut state = *seed;
            for i in (1..pool.len()).rev() {
                state = splitmix64(state);
                let j = (state % (i as u64 + 1)) as usize;
                pool.swap(i, j);
            }
            pool.truncate(*n);
            pool.sort_unstable();
            pool
        }
        Pick::Ids { ids } => {
            let mut by_id: HashMap<String, usize> = HashMap::new();
            for &i in &pool {
                by_id.entry(items[i].id().to_string()).or_insert(i);
            }
            let wanted: Vec<&str> = ids
                .iter()
                .map(|s| s.trim())
                .filter(|s| !s.is_empty())
                .collect();
            let missing: Vec<&str> = wanted
                .iter()
                .copied()
                .filter(|id| !by_id.contains_key(*id))
                .collect();
            if !missing.is_empty() {
                return Err(BatchError::UnknownIds(missing.join(", ")));
            }
            let mut out: Vec<usize> = wanted
                .iter()
                .filter_map(|id| by_id.get(*id).copied())
                .collect();
            out.dedup();
            out
        }
    };
    if picked.is_empty() {
        return Err(BatchError::Empty(filter_note));
    }
    Ok(picked)
}

// ---------------------------------------------------------------------------------------------
// The call cache.

/// The cache key of the `occurrence`-th identical request within `scope` (one task). Two keys are
/// equal only if the scope and the whole request (model, messages, decoding, seed, schema) are.
pub fn call_key(scope: &str, req: &ChatRequest, occurrence: u32) -> String {
    let body = serde_json::to_string(req).unwrap_or_default();
    let mut text = String::with_capacity(scope.len() + body.len() + 1);
    text.push_str(scope);
    text.push('\u{1f}');
    text.push_str(&body);
    // Two 64-bit hashes (of the text and of the text behind a marker) make collisions moot.
    let h1 = fnv1a(&text);
    text.insert(0, '\u{2}');
    format!("{h1:016x}{:016x}-{occurrence}", fnv1a(&text))
}

/// Finished calls by key.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CallCache {
    entries: HashMap<String, ChatResponse>,
}

impl CallCache {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn len(&self) -> usize {
        self.entries.len()
    }
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
    pub fn get(&self, key: &str) -> Option<&ChatResponse> {
        self.entries.get(key)
    }
    pub fn insert(&mut self, key: String, response: ChatResponse) {
        self.entries.insert(key, response);
    }
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// One JSON line per entry: `{"key": …, "response": …}`.
    pub fn to_jsonl(&self) -> String {
        let mut keys: Vec<&String> = self.entries.keys().collect();
        keys.sort_unstable();
        let mut out = String::new();
        for k in keys {
            if let Some(line) = self.entries.get(k).and_then(|r| entry_line(k, r)) {
                out.push_str(&line);
                out.push('\n');
            }
        }
        out
    }

    /// Every entry, by key.
    pub fn entries(&self) -> Vec<CacheLine> {
        let mut v: Vec<CacheLine> = self
            .entries
            .iter()
            .map(|(key, response)| CacheLine {
                key: key.clone(),
                response: response.clone(),
            })
            .collect();
        v.sort_unstable_by(|a, b| a.key.cmp(&b.key));
        v
    }

    /// Read lines written by [`entry_line`] / [`CallCache::to_jsonl`]; unreadable lines (a line cut
    /// by a crash) are skipped and counted.
    pub fn extend_from_jsonl(&mut self, text: &str) -> usize {
        let mut bad = 0;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            match serde_json::from_str::<CacheLine>(line) {
                Ok(e) => {
                    self.entries.insert(e.key, e.response);
                }
                Err(_) => bad += 1,
            }
        }
        bad
    }
}

/// One finished call: its cache key and reply (a line of [`CallCache::to_jsonl`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CacheLine {
    pub key: String,
    pub response: ChatResponse,
}

#[derive(Serialize)]
struct CacheLineRef<'a> {
    key: &'a str,
    response: &'a ChatResponse,
}

/// One cache entry as a JSON line (no trailing newline).
pub fn entry_line(key: &str, response: &ChatResponse) -> Option<String> {
    serde_json::to_string(&CacheLineRef { key, response }).ok()
}

/// The calls of a round-based run ([`BatchRun::run_round`]): the way a provider's Batch API is
/// driven. A round runs every pending task from the cache; a call not in the cache is not made
/// but queued here (its task stops there and runs again next round), the caller sends the queue
/// as one batch, stores the answers in the cache, and runs the next round. The pipeline's stages
/// make the rounds: perspectives, then comments, then reads (then a judge call), each stage of
/// every item in one round. The results, the stored calls and the outcomes are those of a live
/// run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rounds {
    /// Calls to send in the next batch: (cache key, request), in the order they were asked.
    pub queued: Vec<(String, ChatRequest)>,
    /// Calls the provider's batch answered with an error: given to the pipeline as that call's
    /// error, as a live call's would be.
    pub failed: HashMap<String, ChatError>,
    /// Calls answered by a batch of this run: counted as fresh calls of their task (not as calls
    /// from the cache), as a live run counts them.
    pub fetched: HashSet<String>,
}

/// A chat model that answers repeated requests of one task from the cache and stores every
/// successful fresh reply (then tells `on_store`, so that the caller can persist it at once).
pub struct CachedModel<'a, M> {
    inner: &'a M,
    cache: &'a RefCell<CallCache>,
    scope: String,
    on_store: &'a dyn Fn(&str, &ChatResponse),
    seen: RefCell<HashMap<String, u32>>,
    hits: Cell<u32>,
    fresh: Cell<u32>,
    /// Answer only from the cache: a miss is an error, the model is never called (replays).
    offline: bool,
    /// Round-based: a miss is queued in [`Rounds`] instead of calling the model.
    rounds: Option<&'a RefCell<Rounds>>,
    queued: Cell<u32>,
}

impl<'a, M> CachedModel<'a, M> {
    pub fn new(
        inner: &'a M,
        cache: &'a RefCell<CallCache>,
        scope: impl Into<String>,
        on_store: &'a dyn Fn(&str, &ChatResponse),
    ) -> Self {
        Self {
            inner,
            cache,
            scope: scope.into(),
            on_store,
            seen: RefCell::new(HashMap::new()),
            hits: Cell::new(0),
            fresh: Cell::new(0),
            offline: false,
            rounds: None,
            queued: Cell::new(0),
        }
    }

    /// Queue the calls not in the cache in `rounds` instead of making them.
    pub fn queue_misses(mut self, rounds: &'a RefCell<Rounds>) -> Self {
        self.rounds = Some(rounds);
        self
    }
    /// Calls queued for the next round by this model.
    pub fn queued(&self) -> u32 {
        self.queued.get()
    }

    /// Never call the model: a request not in the cache fails with a message that says so.
    pub fn offline(mut self) -> Self {
        self.offline = true;
        self
    }
    /// Calls answered from the cache.
    pub fn hits(&self) -> u32 {
        self.hits.get()
    }
    /// Calls that reached the model and succeeded.
    pub fn fresh(&self) -> u32 {
        self.fresh.get()
    }

    fn key_for(&self, req: &ChatRequest) -> String {
        let base = call_key(&self.scope, req, 0);
        let mut seen = self.seen.borrow_mut();
        let n = seen.entry(base.clone()).or_insert(0);
        let key = if *n == 0 {
            base
        } else {
            call_key(&self.scope, req, *n)
        };
        *n += 1;
        key
    }
}

impl<M: ChatModel> ChatModel for CachedModel<'_, M> {
    async fn chat(
        &self,
        req: &ChatRequest,
        on_delta: &mut dyn FnMut(&str),
    ) -> Result<ChatResponse, ChatError> {
        let key = self.key_for(req);
        let cached = self.cache.borrow().get(&key).cloned();
        if let Some(resp) = cached {
            let fetched = self
                .rounds
                .is_some_and(|r| r.borrow().fetched.contains(&key));
            if fetched {
                self.fresh.set(self.fresh.get() + 1);
            } else {
                self.hits.set(self.hits.get() + 1);
            }
            if !resp.text.is_empty() {
                on_delta(&resp.text);
            }
            return Ok(resp);
        }
        if self.offline {
            return Err(ChatError::Other(
                "this call had not finished when the batch stopped, so it was not kept".into(),
            ));
        }
        if let Some(rounds) = self.rounds {
            let mut r = rounds.borrow_mut();
            if let Some(e) = r.failed.get(&key) {
                return Err(e.clone());
            }
            r.queued.push((key, req.clone()));
            self.queued.set(self.queued.get() + 1);
            return Err(ChatError::Other("queued for the next batch round".into()));
        }
        let resp = self.inner.chat(req, on_delta).await?;
        self.fresh.set(self.fresh.get() + 1);
        self.cache.borrow_mut().insert(key.clone(), resp.clone());
        (self.on_store)(&key, &resp);
        Ok(resp)
    }
}

// ---------------------------------------------------------------------------------------------
// Plan, outcomes and the runner.

/// What a batch is: which file, which items, which methods, with which settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchSpec {
    /// The VITAL file name (e.g. `vital_distributional_globalopinionqa.json`).
    pub file: String,
    pub slice: Slice,
    pub methods: Vec<Method>,
    pub settings: RunSettings,
    /// Items run at once (each item's calls are further bounded by the settings' concurrency and
    /// the provider client's limit).
    pub items_in_flight: usize,
    /// Score Overton outputs with the LLM judge (by default one call per explanation, item and
    /// method; one per item and method with the whole-output judge).
    #[serde(default)]
    pub judge: bool,
    /// Models to compare, each running every stage; empty: the settings' own models.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<String>,
}

impl BatchSpec {
    /// The models compared: `models`, or the settings' stage-3 model when none are listed.
    pub fn model_names(&self) -> Vec<String> {
        if self.models.is_empty() {
            vec![self.settings.models.combine.clone()]
        } else {
            self.models.clone()
        }
    }

    /// The settings of the `model`-th model (all stages on it when models are listed).
    pub fn settings_for(&self, model: usize) -> RunSettings {
        let mut s = self.settings.clone();
        if let Some(name) = self.models.get(model) {
            s.models = crate::settings::StageModels::all(name.clone());
        }
        s
    }

    /// Every task: item by item, then model, then method.
    pub fn all_tasks(&self, n_items: usize) -> Vec<Task> {
        let n_models = self.models.len().max(1);
        (0..n_items)
            .flat_map(|item| {
                (0..n_models).flat_map(move |model| {
                    self.methods.iter().map(move |&method| Task {
                        item,
                        method,
                        model,
                    })
                })
            })
            .collect()
    }

    /// The cache scope of a task: the file, the item's id, the method, and the model when
    /// several are compared.
    pub fn scope(&self, item: &Item, task: Task) -> String {
        let base = task_scope(&self.file, item, task.method);
        match self.models.get(task.model) {
            Some(m) => format!("{base}|{m}"),
            None => base,
        }
    }

    /// "EthosAgents", or "EthosAgents · model" when several models are compared.
    pub fn arm_label(&self, method: Method, model: usize) -> String {
        match self.models.get(model) {
            Some(m) if self.models.len() > 1 => format!("{} · {m}", method.label()),
            _ => method.label().to_string(),
        }
    }
}

/// One task: the `item`-th selected item (index into the selection) under `method`, with the
/// `model`-th model of [`BatchSpec::model_names`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Task {
    pub item: usize,
    pub method: Method,
    #[serde(default)]
    pub model: usize,
}

/// Tasks item by item (all methods of an item next to each other), one model.
pub fn tasks(n_items: usize, methods: &[Method]) -> Vec<Task> {
    (0..n_items)
        .flat_map(|item| {
            methods.iter().map(move |&method| Task {
                item,
                method,
                model: 0,
            })
        })
        .collect()
}

/// The cache scope of a task: the file, the item's id and the method.
pub fn task_scope(file: &str, item: &Item, method: Method) -> String {
    format!("{file}|{}|{method:?}", item.id())
}

/// What a finished task left: the result or the error, and what it cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub task: Task,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<RunResult>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Calls made to the provider in the run that finished the task (fresh) and answered from
    /// the cache (resumed).
    pub calls: u32,
    pub cached_calls: u32,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// Wall time of the task, ms.
    pub ms: f64,
}

impl Outcome {
    pub fn ok(&self) -> bool {
        self.result.is_some() && self.error.is_none()
    }
}

/// Live progress hooks. All have empty defaults.
pub trait BatchObserver {
    fn task_started(&self, _task: Task) {}
    fn call_started(&self, _task: Task) {}
    fn call_finished(&self, _task: Task, _ok: bool) {}
    /// A fresh reply was stored in the cache under `key`: persist it now.
    fn call_stored(&self, _key: &str, _response: &ChatResponse) {}
    fn task_finished(&self, _outcome: &Outcome, _record: &RunRecord) {}
    /// The batch stops launching tasks: an error that would hit every task (bad key, forbidden,
    /// unknown model).
    fn stopped(&self, _reason: &str) {}
}

struct TaskObserver<'a> {
    task: Task,
    outer: &'a dyn BatchObserver,
}

impl Observer for TaskObserver<'_> {
    fn call_started(&self, _call: &CallRecord) {
        self.outer.call_started(self.task);
    }
    fn call_finished(&self, call: &CallRecord) {
        self.outer.call_finished(self.task, call.error.is_none());
    }
}

/// Errors that will hit every further task too.
pub fn fatal_error(e: &PipelineError) -> Option<&ChatError> {
    let is_fatal = |c: &ChatError| {
        matches!(
            c,
            ChatError::BadKey | ChatError::Forbidden(_) | ChatError::NotFound(_)
        )
    };
    match e {
        PipelineError::Call { error, .. } if is_fatal(error) => Some(error),
        PipelineError::CommentsFailed { failed, .. }
        | PipelineError::ReadsFailed { failed, .. } => {
            failed.iter().map(|(_, c)| c).find(|c| is_fatal(c))
        }
        _ => None,
    }
}

/// Everything a batch run needs.
pub struct BatchRun<'a, M> {
    pub model: &'a M,
    /// The selected items (in selection order; `Task::item` indexes this).
    pub items: &'a [Item],
    pub spec: &'a BatchSpec,
    pub cache: &'a RefCell<CallCache>,
    pub clock: &'a dyn Clock,
    pub observer: &'a dyn BatchObserver,
}

impl<M: ChatModel> BatchRun<'_, M> {
    /// Run `pending` tasks, `items_in_flight` at a time, and return their outcomes in the order
    /// they finished. After an error that would hit every task, no further task is started (the
    /// tasks not started get no outcome). Dropping the future cancels the run; every call that
    /// finished is already in the cache.
    pub async fn run(&self, pending: &[Task]) -> Vec<Outcome> {
        let stop = Cell::new(false);
        let window = self.spec.items_in_flight.max(1);
        let mut outs = Vec::with_capacity(pending.len());
        let mut runs = stream::iter(pending.iter().copied())
            .map(|t| self.run_task(t, &stop, None))
            .buffer_unordered(window);
        while let Some(done) = runs.next().await {
            if let Some((outcome, record)) = done {
                self.observer.task_finished(&outcome, &record);
                outs.push(outcome);
            }
        }
        outs
    }

    /// One round of a round-based run (see [`Rounds`]): run `pending` tasks answering from the
    /// cache, queue every call that is not there in `rounds.queued`, and return the outcomes of
    /// the tasks that finished without queuing a call (those are told to the observer as in
    /// [`BatchRun::run`]); a task that queued a call gets no outcome and runs again next round.
    /// All tasks run (queued calls take no time), so the window does not matter here.
    pub async fn run_round(&self, pending: &[Task], rounds: &RefCell<Rounds>) -> Vec<Outcome> {
        let stop = Cell::new(false);
        let mut outs = Vec::with_capacity(pending.len());
        let mut runs = stream::iter(pending.iter().copied())
            .map(|t| self.run_task(t, &stop, Some(rounds)))
            .buffer_unordered(pending.len().max(1));
        while let Some(done) = runs.next().await {
            if let Some((outcome, record)) = done {
                self.observer.task_finished(&outcome, &record);
                outs.push(outcome);
            }
        }
        outs
    }

    /// Run one task; `None` when it did not run (stopped) or, with `rounds`, queued a call.
    async fn run_task(
        &self,
        task: Task,
        stop: &Cell<bool>,
        rounds: Option<&RefCell<Rounds>>,
    ) -> Option<(Outcome, RunRecord)> {
        if stop.get() {
            return None;
        }
        let item = self.items.get(task.item)?.clone();
        self.observer.task_started(task);
        let on_store = |key: &str, resp: &ChatResponse| self.observer.call_stored(key, resp);
        let mut model = CachedModel::new(
            self.model,
            self.cache,
            self.spec.scope(&item, task),
            &on_store,
        );
        if let Some(r) = rounds {
            model = model.queue_misses(r);
        }
        let record = SharedRecord::new(RunRecord::new(
            item,
            self.spec.settings_for(task.model),
            task.method,
        ));
        let observer = TaskObserver {
            task,
            outer: self.observer,
        };
        let started = self.clock.now_ms();
        let pipeline = Pipeline::new(Stages::same(&model), self.clock, &observer, record.clone());
        let mut res = pipeline.run().await;
        if self.spec.judge {
            if let Ok(RunResult::Overton(_)) = &res {
                if let Err(e) = pipeline.judge(&model).await {
                    // The answer stands; the missing judgement is said in the outcome.
                    res = Err(e);
                }
            }
        }
        if model.queued() > 0 {
            return None;
        }
        let snapshot = record.snapshot();
        let mut error = None;
        if let Err(e) = &res {
            if let Some(f) = fatal_error(e) {
                stop.set(true);
                self.observer.stopped(&f.to_string());
            }
            error = Some(e.to_string());
        }
        let outcome = Outcome {
            task,
            result: snapshot.result.clone(),
            error,
            calls: model.fresh() + snapshot.totals.failed_calls,
            cached_calls: model.hits(),
            prompt_tokens: snapshot.totals.prompt_tokens,
            completion_tokens: snapshot.totals.completion_tokens,
            ms: self.clock.now_ms() - started,
        };
        Some((outcome, snapshot))
    }
}

/// Rebuild the full run record of a task (every prompt and reply) from the cache, making no
/// call (`model` is only there for its type): the drill-down into a batch item after a reload. Calls that were never stored show up
/// as failed with a message that says so.
pub async fn replay<M: ChatModel>(
    model: &M,
    item: &Item,
    spec: &BatchSpec,
    task: Task,
    cache: &RefCell<CallCache>,
    clock: &dyn Clock,
) -> RunRecord {
    // `model` is never called (offline); taking the batch's own model type keeps one compiled
    // copy of the pipeline for runs and replays.
    let noop = |_: &str, _: &ChatResponse| {};
    let model = CachedModel::new(model, cache, spec.scope(item, task), &noop).offline();
    let record = SharedRecord::new(RunRecord::new(
        item.clone(),
        spec.settings_for(task.model),
        task.method,
    ));
    let observer = crate::pipeline::NoObserver;
    let pipeline = Pipeline::new(Stages::same(&model), clock, &observer, record.clone());
    if let Ok(RunResult::Overton(_)) = pipeline.run().await {
        if spec.judge {
            let _ = pipeline.judge(&model).await;
        }
    }
    record.snapshot()
}

// ---------------------------------------------------------------------------------------------
// The resume model: one store trait, one portable state.

/// What a [`BatchStore`] holds: the finished calls, and the task outcomes in the order they
/// were stored (a later outcome of the same task counts).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stored {
    pub cache: CallCache,
    pub outcomes: Vec<Outcome>,
}

/// Where a batch's finished work is kept so that it resumes without repeating a finished call
/// (the command line's JSON-lines files; the app's storage): every call and task is put as it
/// finishes, and the whole is loaded to resume.
pub trait BatchStore {
    fn load(&mut self) -> Result<Stored, String>;
    fn put_call(&mut self, key: &str, response: &ChatResponse) -> Result<(), String>;
    /// A finished task, with its full record when there is one (an imported outcome has none).
    fn put_outcome(&mut self, outcome: &Outcome, record: Option<&RunRecord>) -> Result<(), String>;
}

/// The format version of [`BatchState`].
pub const STATE_FORMAT: u32 = 1;

/// A batch's whole state as one JSON document, so that a batch moves between stores (between
/// machines, between the app and `ethos run`): what the batch is, which items, and everything
/// that finished.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchState {
    pub ethos_batch_state: u32,
    pub spec: BatchSpec,
    /// The ids of the selected items, in order (`Task::item` indexes this list).
    pub items: Vec<String>,
    pub calls: Vec<CacheLine>,
    pub outcomes: Vec<Outcome>,
}

impl BatchState {
    /// The state of the batch `spec` over the items `items` held in `store`.
    pub fn export(
        spec: &BatchSpec,
        items: Vec<String>,
        store: &mut dyn BatchStore,
    ) -> Result<Self, String> {
        let stored = store.load()?;
        Ok(BatchState {
            ethos_batch_state: STATE_FORMAT,
            spec: spec.clone(),
            items,
            calls: stored.cache.entries(),
            outcomes: stored.outcomes,
        })
    }

    /// Why this state cannot continue the batch `spec` over `items`, if it cannot: another
    /// format, other items, or other settings that change the answers (concurrency and items in
    /// flight, and how failed items are scored, may differ).
    pub fn mismatch(&self, spec: &BatchSpec, items: &[String]) -> Option<String> {
        if self.ethos_batch_state != STATE_FORMAT {
            return Some(format!(
                "state format {} (this build reads {STATE_FORMAT})",
                self.ethos_batch_state
            ));
        }
        if self.items != items {
            return Some(format!(
                "{} selected items, not the same as these {}",
                self.items.len(),
                items.len()
            ));
        }
        let mut theirs = self.spec.clone();
        theirs.settings.concurrency = spec.settings.concurrency;
        // Scoring only: no answer depends on it.
        theirs.settings.score_failed_as_reference = spec.settings.score_failed_as_reference;
        theirs.items_in_flight = spec.items_in_flight;
        (theirs != *spec).then(|| {
            "another batch description (file, slice, methods, model or settings)".to_string()
        })
    }

    /// Put every call and outcome into `store`; how many of each.
    pub fn import_into(&self, store: &mut dyn BatchStore) -> Result<(usize, usize), String> {
        for c in &self.calls {
            store.put_call(&c.key, &c.response)?;
        }
        for o in &self.outcomes {
            if o.task.item >= self.items.len() || !self.spec.methods.contains(&o.task.method) {
                return Err(format!(
                    "an outcome of task {:?} is not a task of this batch",
                    o.task
                ));
            }
            store.put_outcome(o, None)?;
        }
        Ok((self.calls.len(), self.outcomes.len()))
    }
}

/// Progress counts over a plan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub done: usize,
    pub failed: usize,
    pub running: usize,
    pub remaining: usize,
}

/// Done / failed / running / remaining over `all` tasks, given the latest outcomes and the tasks
/// running now.
pub fn counts(all: &[Task], outcomes: &[Outcome], running: &HashSet<Task>) -> Counts {
    let mut last: HashMap<Task, bool> = HashMap::new();
    for o in outcomes {
        last.insert(o.task, o.ok());
    }
    let mut c = Counts::default();
    for t in all {
        if running.contains(t) {
            c.running += 1;
        } else {
            match last.get(t) {
                Some(true) => c.done += 1,
                Some(false) => c.failed += 1,
                None => c.remaining += 1,
            }
        }
    }
    c
}

/// Tasks still to run: those without a successful outcome (failed ones run again).
pub fn pending(all: &[Task], outcomes: &[Outcome]) -> Vec<Task> {
    let done: HashSet<Task> = outcomes.iter().filter(|o| o.ok()).map(|o| o.task).collect();
    all.iter().copied().filter(|t| !done.contains(t)).collect()
}

/// Estimated time left (ms) from the mean wall time per finished task and the items in flight.
pub fn eta_ms(outcomes: &[Outcome], remaining: usize, in_flight: usize) -> Option<f64> {
    let fresh: Vec<f64> = outcomes
        .iter()
        .filter(|o| o.calls > 0)
        .map(|o| o.ms)
        .collect();
    if fresh.is_empty() || remaining == 0 {
        return if remaining == 0 { Some(0.0) } else { None };
    }
    let mean = fresh.iter().sum::<f64>() / fresh.len() as f64;
    Some(mean * remaining as f64 / in_flight.max(1) as f64)
}
