//! Benchmark mode's state: the batch on this device (spec, selected items, outcomes, call cache),
//! its live progress, and start / pause / resume / cancel. The batch itself is the engine's
//! (`ethos_engine::batch`); this module only starts it, mirrors its progress into signals and
//! stores every finished call and task in the browser's database (`crate::storage`) as it
//! happens, so that a reload loses nothing that finished and a resumed batch repeats no finished
//! call. A write the browser refuses (storage full) pauses the batch and keeps the unstored
//! results in the tab until Resume stores them.

use crate::browser;
use crate::connection::Conn;
use crate::state::Ui;
use crate::storage::{self, Op, StorageError, Store};
use ethos_engine::batch::{self, BatchObserver, BatchRun, BatchSpec, CallCache, Outcome, Task};
use ethos_engine::record::RunRecord;
use ethos_engine::settings::Method;
use ethos_engine::vital::{self, Item, Source};
use ethos_engine::ChatResponse;
use futures::future::{abortable, AbortHandle};
use leptos::prelude::*;
use leptos::task::spawn_local;
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::sync::Arc;

mod mirror;
mod store;

use mirror::ProgressMirror;
pub use store::ImportError;

/// Keys in `Store::BatchMeta`.
const SPEC_KEY: &str = "spec";
const STATE_KEY: &str = "state";
/// Characters a stored call takes before any is stored (a k = 6 comment with its usage).
const CALL_CHARS_GUESS: f64 = 1500.0;

/// Where the batch is.
#[derive(Debug, Clone, PartialEq)]
pub enum BatchState {
    /// No batch on this device.
    Empty,
    /// Loading the file of a stored batch.
    Loading,
    Ready,
    Running,
    Paused,
    /// Stopped by an error that would hit every item (bad key, unknown model).
    Stopped(String),
    Cancelled,
    Done,
}

impl BatchState {
    fn stored(&self) -> &'static str {
        match self {
            BatchState::Running => "running",
            BatchState::Paused => "paused",
            BatchState::Done => "done",
            BatchState::Cancelled => "cancelled",
            _ => "ready",
        }
    }
}

/// Live counters of the run in progress (reset on every start).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Live {
    pub calls_in_flight: u32,
    pub calls_done: u32,
    pub calls_failed: u32,
    pub calls_from_cache: u32,
    pub started_ms: f64,
    /// Elapsed before this start (earlier sessions of the same batch).
    pub earlier_ms: f64,
    /// ∫ calls in flight dt, for the busy-slot share.
    busy_integral: f64,
    last_change_ms: f64,
    pub limit: u32,
    /// When the last start ended (0 while running).
    pub ended_ms: f64,
}

impl Live {
    fn advance(&mut self, now: f64) {
        if self.last_change_ms > 0.0 {
            // Calls started by the pipeline, at most the client's limit (more wait for a slot).
            self.busy_integral += f64::from(self.calls_in_flight.min(self.limit))
                * (now - self.last_change_ms).max(0.0);
        }
        self.last_change_ms = now;
    }
    /// Wall time of the batch so far (all starts).
    pub fn elapsed_ms(&self, now: f64) -> f64 {
        let end = if self.ended_ms > 0.0 {
            self.ended_ms
        } else {
            now
        };
        self.earlier_ms
            + if self.started_ms > 0.0 {
                (end - self.started_ms).max(0.0)
            } else {
                0.0
            }
    }

    /// Share of the call slots (the concurrency limit) busy since the start, 0..1, as the app
    /// sees it: a call counts from its start in the pipeline, so one waiting for a slot of the
    /// client counts too (the latency benchmark measures the server's view).
    pub fn busy_share(&self, now: f64) -> Option<f64> {
        let now = if self.ended_ms > 0.0 {
            self.ended_ms
        } else {
            now
        };
        let span = now - self.started_ms;
        if self.started_ms <= 0.0 || span <= 0.0 || self.limit == 0 {
            return None;
        }
        let pending =
            f64::from(self.calls_in_flight.min(self.limit)) * (now - self.last_change_ms).max(0.0);
        Some(((self.busy_integral + pending) / (span * f64::from(self.limit))).clamp(0.0, 1.0))
    }
}

/// What one cell of the items table shows: the task's outcome, if any, and whether it runs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CellState {
    pub outcome: Option<Outcome>,
    pub running: bool,
}

#[derive(Clone, Copy)]
pub struct Batch {
    pub spec: RwSignal<Option<BatchSpec>>,
    /// The selected items (`Task::item` indexes this).
    pub items: RwSignal<Arc<Vec<Item>>>,
    pub outcomes: RwSignal<Vec<Outcome>>,
    pub running: RwSignal<HashSet<Task>>,
    pub state: RwSignal<BatchState>,
    pub live: RwSignal<Live>,
    /// A problem to show (storage full, a file that would not load, …).
    pub notice: RwSignal<Option<String>>,
    /// Finished calls and tasks not yet in the database (being written, or refused).
    pub unsaved: RwSignal<usize>,
    /// Bumped when the storage used changes a lot (the panel asks the browser again).
    pub storage_version: RwSignal<u32>,
    /// Whether the browser agreed to keep this site's data under pressure (asked on Start).
    pub persisted: RwSignal<Option<bool>>,
    /// Changes waiting for the database, in order (each is also in the journal until then).
    pending: StoredValue<Vec<Op>, LocalStorage>,
    /// A transaction is under way: it takes what `pending` holds when it ends.
    flushing: StoredValue<bool>,
    /// Changes written in this tab (paces the storage estimate).
    written: StoredValue<usize>,
    /// Bumped by discard: a transaction of a discarded batch that completes later counts for
    /// nothing.
    generation: StoredValue<u64>,
    /// The browser refused a write: the batch paused, the changes wait in `pending`.
    refused: StoredValue<bool>,
    /// The browser has no database for the app: results live in this tab only.
    no_db: StoredValue<bool>,
    /// Characters and count of the calls stored, for what the rest will need.
    stored_calls: StoredValue<(f64, f64)>,
    /// The status line of the last start (a refused write announces the pause there).
    ui: StoredValue<Option<Ui>>,
    /// One signal per task shown in the items table: a finished task changes its own cell only.
    cells: StoredValue<HashMap<Task, ArcRwSignal<CellState>>, LocalStorage>,
    /// Bumped when the results should be scored again: when a batch is loaded, starts, pauses
    /// or ends; not while it runs (scoring a whole file's tasks takes 50–120 ms of the page
    /// each time: measured by `bench/batch_scale.rs`, once a second it made a long task a
    /// second).
    pub results_version: RwSignal<u32>,
    /// The drill-down target after a reload (replayed from the cache).
    records: StoredValue<HashMap<Task, RunRecord>, LocalStorage>,
    cache: StoredValue<Rc<RefCell<CallCache>>, LocalStorage>,
    abort: StoredValue<Option<AbortHandle>, LocalStorage>,
    /// Wall time of the earlier starts of this batch in this tab.
    elapsed: StoredValue<f64>,
}

impl Batch {
    pub fn new() -> Self {
        Self {
            spec: RwSignal::new(None),
            items: RwSignal::new(Arc::new(Vec::new())),
            outcomes: RwSignal::new(Vec::new()),
            running: RwSignal::new(HashSet::new()),
            state: RwSignal::new(BatchState::Empty),
            live: RwSignal::new(Live::default()),
            notice: RwSignal::new(None),
            unsaved: RwSignal::new(0),
            storage_version: RwSignal::new(0),
            persisted: RwSignal::new(None),
            pending: StoredValue::new_local(Vec::new()),
            flushing: StoredValue::new(false),
            written: StoredValue::new(0),
            generation: StoredValue::new(0),
            refused: StoredValue::new(false),
            no_db: StoredValue::new(false),
            stored_calls: StoredValue::new((0.0, 0.0)),
            ui: StoredValue::new(None),
            cells: StoredValue::new_local(HashMap::new()),
            results_version: RwSignal::new(0),
            records: StoredValue::new_local(HashMap::new()),
            cache: StoredValue::new_local(Rc::new(RefCell::new(CallCache::new()))),
            abort: StoredValue::new_local(None),
            elapsed: StoredValue::new(0.0),
        }
    }

    /// The signal of one task's cell, made on first use from the outcomes and the running set.
    pub fn cell(&self, task: Task) -> ArcRwSignal<CellState> {
        if let Some(s) = self.cells.with_value(|c| c.get(&task).cloned()) {
            return s;
        }
        let state = CellState {
            outcome: self
                .outcomes
                .with_untracked(|o| o.iter().rev().find(|x| x.task == task).cloned()),
            running: self.running.with_untracked(|r| r.contains(&task)),
        };
        let s = ArcRwSignal::new(state);
        self.cells.update_value(|c| {
            c.insert(task, s.clone());
        });
        s
    }

    /// Change one task's cell (if it is shown).
    fn set_cell(&self, task: Task, f: impl FnOnce(&mut CellState)) {
        if let Some(s) = self.cells.with_value(|c| c.get(&task).cloned()) {
            s.update(f);
        }
    }

    /// After a change of many tasks at once (a restore, a start, an end): every cell again.
    fn refresh_cells(&self) {
        let outcomes: HashMap<Task, Outcome> = self
            .outcomes
            .with_untracked(|o| o.iter().map(|x| (x.task, x.clone())).collect());
        let running = self.running.get_untracked();
        self.cells.with_value(|c| {
            for (task, s) in c {
                let state = CellState {
                    outcome: outcomes.get(task).cloned(),
                    running: running.contains(task),
                };
                if s.with_untracked(|old| *old != state) {
                    s.set(state);
                }
            }
        });
        self.bump_results();
    }

    /// Ask for the results to be scored again.
    fn bump_results(&self) {
        self.results_version.update(|v| *v = v.wrapping_add(1));
    }

    /// All tasks of the batch (items × methods).
    pub fn all_tasks(&self) -> Vec<Task> {
        let n = self.items.with(|i| i.len());
        self.spec
            .with(|s| s.as_ref().map(|s| s.all_tasks(n)).unwrap_or_default())
    }

    pub fn is_running(&self) -> bool {
        self.state.with(|s| *s == BatchState::Running)
    }

    /// Queue a change for the database; it is written with the others queued in the same turn
    /// of the event loop, in one transaction (a task's last call and its outcome land together).
    fn store(&self, op: Op) {
        if self.no_db.get_value() {
            return;
        }
        if let Op::Put {
            store: Store::BatchCalls,
            ..
        } = &op
        {
            let chars = op.chars() as f64;
            self.stored_calls.update_value(|(c, n)| {
                *c += chars;
                *n += 1.0;
            });
        }
        // Also written at once to the journal (localStorage, synchronous): a reload before the
        // transaction commits loses nothing; the next start moves it into the database.
        storage::journal(&op);
        self.pending.update_value(|p| p.push(op));
        self.unsaved.update(|n| *n += 1);
        self.flush();
    }

    /// Write what is queued, in one transaction, unless one is under way (it takes the rest when
    /// it ends: under load the transactions grow instead of queueing up). After a refusal,
    /// nothing is written until Resume.
    fn flush(&self) {
        if self.flushing.get_value() || self.refused.get_value() {
            return;
        }
        self.flushing.set_value(true);
        let b = *self;
        let generation = self.generation.get_value();
        spawn_local(async move {
            loop {
                if b.generation.get_value() != generation || b.refused.get_value() {
                    break;
                }
                let ops = b.pending.try_update_value(std::mem::take).unwrap_or_default();
                if ops.is_empty() {
                    break;
                }
                let written = storage::write(&ops).await;
                if b.generation.get_value() != generation {
                    // Discarded meanwhile: these belonged to the old batch.
                    break;
                }
                match written {
                    Ok(()) => {
                        storage::journal_done(&ops);
                        let n = ops.len();
                        b.unsaved.update(|u| *u = u.saturating_sub(n));
                        // The panel asks the browser again every 200 changes or so.
                        let before = b.written.get_value();
                        b.written.set_value(before + n);
                        if (before + n) / 200 != before / 200 {
                            b.storage_version.update(|v| *v = v.wrapping_add(1));
                        }
                    }
                    Err(e) => {
                        // Back to the front of the queue, in order: nothing is dropped.
                        b.pending.update_value(|p| {
                            let later = std::mem::replace(p, ops);
                            p.extend(later);
                        });
                        b.write_refused(e);
                        break;
                    }
                }
            }
            if b.generation.get_value() == generation {
                b.flushing.set_value(false);
                // Changes queued by a discard while this one ran.
            }
        });
    }

    /// The browser would not store a change. With no database at all the batch runs on in this
    /// tab; a refused write (storage full) pauses it with what waits kept in the tab.
    fn write_refused(&self, e: StorageError) {
        if e.is_unavailable() {
            self.no_db.set_value(true);
            self.pending.update_value(Vec::clear);
            self.unsaved.set(0);
            self.notice.set(Some(format!(
                "Results are kept in this tab only and will not survive a reload ({e}): export them when the batch ends."
            )));
            return;
        }
        self.refused.set_value(true);
        if self.is_running() {
            self.state.set(BatchState::Paused);
            self.stop_task();
            if let Some(ui) = self.ui.get_value() {
                ui.say("Benchmark paused: this browser's storage for the site is full (see the benchmark panel).");
            }
        }
        let waiting = self.unsaved.get_untracked();
        self.notice.set(Some(format!(
            "The benchmark is paused: {e}. Nothing that finished is lost: {waiting} result(s) wait in this tab to be stored (keep it open), and saved runs were not touched. Make room (export and discard an old benchmark, delete saved runs, or clear other sites' data), then press Resume."
        )));
        self.storage_version.update(|v| *v = v.wrapping_add(1));
    }

    /// About how many bytes the calls still to make will add to storage.
    pub fn storage_needed(&self, calls: usize) -> f64 {
        let (chars, n) = self.stored_calls.get_value();
        let per_call = if n > 0.0 { chars / n } else { CALL_CHARS_GUESS };
        per_call * calls as f64
    }

    fn save_outcome(&self, outcome: &Outcome) {
        let t = outcome.task;
        let key = format!("{}.{}.{:?}", t.item, t.model, t.method);
        let json = serde_json::to_string(outcome).unwrap_or_default();
        self.store(Op::put(Store::BatchOutcomes, key, json));
    }

    fn save_state(&self) {
        let s = self.state.with_untracked(|s| s.stored());
        self.store(Op::put(Store::BatchMeta, STATE_KEY, s));
    }

    /// Load the file, select the items and make a new batch (replacing any stored one).
    pub async fn create(&self, spec: BatchSpec) -> Result<(), String> {
        if spec.methods.is_empty() {
            return Err(batch::BatchError::NoMethod.to_string());
        }
        let items = load_file(&spec.file).await?;
        let picked = batch::select(&items, &spec.slice).map_err(|e| e.to_string())?;
        let selected: Vec<Item> = picked
            .into_iter()
            .filter_map(|i| items.get(i).cloned())
            .collect();
        self.discard();
        let json = serde_json::to_string(&spec).map_err(|e| e.to_string())?;
        self.store(Op::put(Store::BatchMeta, SPEC_KEY, json));
        self.items.set(Arc::new(selected));
        self.spec.set(Some(spec));
        self.state.set(BatchState::Ready);
        self.save_state();
        Ok(())
    }

    /// Score failed items as the reference does, or leave them out. Scoring only (no answer
    /// depends on it), so the batch keeps its results and is stored again with the setting.
    pub fn set_score_failed(&self, on: bool) -> Result<(), String> {
        let Some(mut spec) = self.spec.get_untracked() else {
            return Ok(());
        };
        spec.settings.score_failed_as_reference = on;
        let json = serde_json::to_string(&spec).map_err(|e| e.to_string())?;
        self.spec.set(Some(spec));
        self.store(Op::put(Store::BatchMeta, SPEC_KEY, json));
        Ok(())
    }

    /// Remove the batch and everything stored for it.
    pub fn discard(&self) {
        self.stop_task();
        // What waits for the database belongs to this batch: it goes with it.
        self.generation.update_value(|g| *g += 1);
        self.pending.update_value(Vec::clear);
        self.flushing.set_value(false);
        self.unsaved.set(0);
        self.refused.set_value(false);
        self.stored_calls.set_value((0.0, 0.0));
        for store in [Store::BatchCalls, Store::BatchOutcomes, Store::BatchMeta] {
            self.store(Op::Clear(store));
        }
        self.cache.get_value().borrow_mut().clear();
        self.records.update_value(HashMap::clear);
        self.outcomes.set(Vec::new());
        self.running.set(HashSet::new());
        self.cells.update_value(HashMap::clear);
        self.bump_results();
        self.items.set(Arc::new(Vec::new()));
        self.spec.set(None);
        self.live.set(Live::default());
        self.elapsed.set_value(0.0);
        self.notice.set(None);
        self.state.set(BatchState::Empty);
    }

    /// Bring back the batch stored on this device (after a reload). A batch that was running is
    /// shown paused: Resume continues it without repeating any finished call.
    pub async fn restore(&self, ui: Ui) {
        let ready = storage::prepare().await;
        if let Err(e) = &ready.journal {
            if !e.is_unavailable() {
                self.notice.set(Some(format!("The results of the last moments before the page closed could not be moved to this browser's database ({e}); their calls are made again.")));
            }
        }
        match ready.legacy_batch {
            Ok(0) => {}
            Ok(n) => ui.say(format!("The benchmark stored by an earlier version ({n} entries) moved to this browser's database.")),
            Err(e) if e.is_unavailable() => {
                self.no_db.set_value(true);
                return;
            }
            Err(e) => {
                self.notice.set(Some(format!("The benchmark stored by an earlier version could not be moved to this browser's database ({e}); it stays where it was.")));
            }
        }
        let text = match storage::get_entry(Store::BatchMeta, SPEC_KEY).await {
            Ok(Some(text)) => text,
            Ok(None) => return,
            Err(e) => {
                self.notice.set(Some(format!(
                    "The benchmark stored on this device could not be read: {e}"
                )));
                return;
            }
        };
        let spec: BatchSpec = match serde_json::from_str(&text) {
            Ok(s) => s,
            Err(e) => {
                self.notice.set(Some(format!("The benchmark stored on this device could not be read ({e}); it was set aside.")));
                self.store(Op::Delete {
                    store: Store::BatchMeta,
                    key: SPEC_KEY.into(),
                });
                return;
            }
        };
        self.state.set(BatchState::Loading);
        let items = match load_file(&spec.file).await {
            Ok(items) => items,
            Err(e) => {
                self.notice.set(Some(format!(
                    "The stored benchmark's file could not be loaded: {e}"
                )));
                self.state.set(BatchState::Empty);
                return;
            }
        };
        let selected: Vec<Item> = match batch::select(&items, &spec.slice) {
            Ok(p) => p
                .into_iter()
                .filter_map(|i| items.get(i).cloned())
                .collect(),
            Err(e) => {
                self.notice.set(Some(format!(
                    "The stored benchmark's slice no longer fits its file: {e}"
                )));
                self.state.set(BatchState::Empty);
                return;
            }
        };
        let (stored_outcomes, foreign_outcomes) = match storage::read_all(Store::BatchOutcomes).await {
            Ok(v) => v,
            Err(e) => {
                self.notice.set(Some(format!("The stored benchmark's results could not be read: {e}")));
                self.state.set(BatchState::Empty);
                return;
            }
        };
        let mut outcomes: Vec<Outcome> = Vec::new();
        let mut bad_outcomes = foreign_outcomes;
        for (_, text) in &stored_outcomes {
            match serde_json::from_str::<Outcome>(text) {
                Ok(o) => outcomes.push(o),
                Err(_) => bad_outcomes += 1,
            }
        }
        drop(stored_outcomes);
        outcomes.sort_unstable_by_key(|o| (o.task.item, o.task.model));
        if bad_outcomes > 0 {
            self.notice.set(Some(format!("{bad_outcomes} stored result(s) could not be read; their tasks run again, and their finished calls are still kept, so resuming repeats none of them.")));
        }
        // What finished is on screen now (results, items); Resume waits for the calls below
        // (the state stays `Loading` until then).
        let all = spec.all_tasks(selected.len());
        let left = batch::pending(&all, &outcomes).len();
        self.items.set(Arc::new(selected));
        self.spec.set(Some(spec));
        self.outcomes.set(outcomes);
        self.refresh_cells();
        browser::mark_after_paint("ethos:bench-shown");
        let (stored_calls, mut bad) = match storage::read_all(Store::BatchCalls).await {
            Ok(v) => v,
            Err(e) => {
                self.notice.set(Some(format!("The stored benchmark's calls could not be read ({e}): resuming makes them again.")));
                (Vec::new(), 0)
            }
        };
        let mut cache = CallCache::new();
        let mut chars = 0.0;
        for (i, (key, text)) in stored_calls.into_iter().enumerate() {
            if i % 500 == 499 {
                // Parsing thousands of calls: let the page breathe between slices.
                gloo_timers::future::TimeoutFuture::new(0).await;
            }
            chars += (key.len() + text.len()) as f64;
            match serde_json::from_str::<ChatResponse>(&text) {
                Ok(r) => cache.insert(key, r),
                Err(_) => bad += 1,
            }
        }
        if bad > 0 {
            self.notice.set(Some(format!(
                "{bad} stored call(s) could not be read and will be made again."
            )));
        }
        self.stored_calls.set_value((chars, cache.len() as f64));
        let n_cached = cache.len();
        *self.cache.get_value().borrow_mut() = cache;
        let was = storage::get_entry(Store::BatchMeta, STATE_KEY)
            .await
            .ok()
            .flatten()
            .unwrap_or_default();
        let state = match was.as_str() {
            "running" | "paused" if left > 0 => {
                ui.say(format!("The benchmark was interrupted: {left} task(s) left, {n_cached} finished call(s) kept. Press Resume to continue."));
                BatchState::Paused
            }
            "cancelled" => BatchState::Cancelled,
            _ if left == 0 && !all.is_empty() => BatchState::Done,
            _ => BatchState::Ready,
        };
        self.state.set(state);
        self.save_state();
        browser::mark_after_paint("ethos:bench-restored");
    }

    fn stop_task(&self) {
        if let Some(h) = self.abort.get_value() {
            h.abort();
        }
        self.abort.set_value(None);
    }

    /// Start (or resume) the tasks without a result.
    pub fn start(&self, ui: Ui, conn: Conn) {
        if self.is_running() {
            return;
        }
        self.ui.set_value(Some(ui));
        let Some(mut spec) = self.spec.get_untracked() else {
            ui.say("Set up a benchmark first.");
            return;
        };
        // The batch keeps its own settings (the comparison must not change mid-way); only the
        // connection (provider, key, limit) is today's.
        if let Err(e) = spec.settings.validate() {
            self.notice
                .set(Some(format!("The benchmark's settings are invalid: {e}")));
            return;
        }
        let limit = conn.settings.with_untracked(|s| s.concurrency).max(1);
        spec.settings.concurrency = spec.settings.concurrency.max(1);
        let items = self.items.get_untracked();
        let all = self.all_tasks();
        let todo = self.outcomes.with_untracked(|o| batch::pending(&all, o));
        if todo.is_empty() {
            self.state.set(BatchState::Done);
            self.save_state();
            ui.say("Every task of this benchmark is done.");
            return;
        }
        let now = browser::now_ms();
        let earlier = self.elapsed.get_value();
        self.live.set(Live {
            started_ms: now,
            last_change_ms: now,
            earlier_ms: earlier,
            limit: limit as u32,
            ..Live::default()
        });
        self.running.set(HashSet::new());
        self.refresh_cells();
        self.state.set(BatchState::Running);
        // After a refused write: try again what waits (a second refusal pauses again).
        if self.refused.get_value() {
            self.refused.set_value(false);
            self.notice.set(None);
        }
        self.save_state();
        let b = *self;
        if self.persisted.get_untracked() != Some(true) {
            spawn_local(async move {
                let granted = storage::persist().await;
                b.persisted.set(granted);
            });
        }
        let model = conn.model_for_run();
        let cache = self.cache.get_value();
        let n = todo.len();
        ui.say(format!("Benchmark running: {n} task(s) to go."));
        let task = async move {
            let observer = ProgressMirror { batch: b };
            let clock = browser::now_ms;
            let run = BatchRun {
                model: &model,
                items: &items,
                spec: &spec,
                cache: &cache,
                clock: &clock,
                observer: &observer,
            };
            run.run(&todo).await
        };
        let (task, handle) = abortable(task);
        self.abort.set_value(Some(handle));
        spawn_local(async move {
            let out = task.await;
            b.abort.set_value(None);
            b.running.set(HashSet::new());
            b.refresh_cells();
            let end = browser::now_ms();
            b.elapsed.update_value(|e| *e += end - now);
            b.live.update(|l| {
                l.advance(end);
                l.calls_in_flight = 0;
                l.ended_ms = end;
            });
            match out {
                Err(_aborted) => {} // pause or cancel set the state
                Ok(_) => {
                    let left = b
                        .outcomes
                        .with_untracked(|o| batch::pending(&b.all_tasks(), o).len());
                    let stopped = b
                        .state
                        .with_untracked(|s| matches!(s, BatchState::Stopped(_)));
                    if stopped {
                        ui.say("The benchmark stopped: see the message above.");
                    } else {
                        let failed = b
                            .outcomes
                            .with_untracked(|o| o.iter().filter(|o| !o.ok()).count());
                        b.state.set(BatchState::Done);
                        ui.say(if left == 0 {
                            "Benchmark finished.".to_string()
                        } else {
                            format!("Benchmark finished with {failed} failed task(s): Resume runs them again.")
                        });
                    }
                }
            }
            b.save_state();
        });
    }

    /// Stop now; finished calls and tasks are kept, Resume continues.
    pub fn pause(&self, ui: Ui) {
        if !self.is_running() {
            return;
        }
        self.state.set(BatchState::Paused);
        self.stop_task();
        self.save_state();
        ui.say("Benchmark paused. Finished calls are kept: Resume repeats none of them.");
    }

    pub fn cancel(&self, ui: Ui) {
        if !self.is_running() && !matches!(self.state.get_untracked(), BatchState::Paused) {
            return;
        }
        self.state.set(BatchState::Cancelled);
        self.stop_task();
        self.save_state();
        ui.say("Benchmark cancelled. The results so far are kept (Resume would continue).");
    }

    /// The full record of a task: from this tab's memory, or rebuilt from the stored calls.
    pub async fn record(&self, task: Task) -> Option<RunRecord> {
        if let Some(r) = self.records.with_value(|m| m.get(&task).cloned()) {
            return Some(r);
        }
        let spec = self.spec.get_untracked()?;
        let item = self.items.with_untracked(|i| i.get(task.item).cloned())?;
        let cache = self.cache.get_value();
        let clock = browser::now_ms;
        let model = crate::connection::AppModel::Local(None);
        let rec = batch::replay(&model, &item, &spec, task, &cache, &clock).await;
        self.records.update_value(|m| {
            m.insert(task, rec.clone());
        });
        Some(rec)
    }

    /// The file name stem for exports, e.g. `vital_distributional_moralchoice`.
    pub fn stem(&self) -> String {
        self.spec.with_untracked(|s| {
            s.as_ref()
                .map(|s| s.file.trim_end_matches(".json").to_string())
                .unwrap_or_else(|| "benchmark".into())
        })
    }
}

/// A shipped VITAL file, loaded and parsed.
pub async fn load_file(file: &str) -> Result<Vec<Item>, String> {
    let text = browser::fetch_text(&format!("vital/{file}"))
        .await
        .map_err(|e| e.to_string())?;
    vital::load(&text, Source::from_file_name(file)).map_err(|e| format!("{file}: {e}"))
}

/// One column of the comparison: a method with one of the batch's models.
#[derive(Debug, Clone, PartialEq)]
pub struct Arm {
    pub method: Method,
    pub model: usize,
    pub label: String,
    /// `ethosagents`, or `ethosagents-1` for the second model (element ids).
    pub slug: String,
    /// `ethosagents`, or `ethosagents.gpt-4o-mini` when models are compared (file names).
    pub file_tag: String,
}

/// The arms of a batch: every model × every method.
pub fn arms(spec: &BatchSpec) -> Vec<Arm> {
    let n = spec.models.len().max(1);
    (0..n)
        .flat_map(|model| {
            spec.methods.iter().map(move |&method| Arm {
                method,
                model,
                label: spec.arm_label(method, model),
                slug: if model == 0 {
                    Method::id(method).to_string()
                } else {
                    format!("{}-{model}", Method::id(method))
                },
                file_tag: match spec.models.get(model) {
                    Some(name) if spec.models.len() > 1 => {
                        let safe: String = name
                            .chars()
                            .map(|c| {
                                if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                                    c
                                } else {
                                    '_'
                                }
                            })
                            .collect();
                        format!("{}.{safe}", Method::id(method))
                    }
                    _ => Method::id(method).to_string(),
                },
            })
        })
        .collect()
}

pub fn batch() -> Batch {
    expect_context::<Batch>()
}
