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

mod cache;
mod resume;

pub use cache::*;
pub use resume::*;

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
