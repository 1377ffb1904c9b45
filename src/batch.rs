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
use ethos_engine::vital::{self, Item, Source};
use ethos_engine::ChatResponse;
use futures::future::{abortable, AbortHandle};
use leptos::prelude::*;
use leptos::task::spawn_local;
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::sync::Arc;

mod arms;
mod live;
mod mirror;
mod persist;
mod restore;
mod store;

pub use arms::{arms, Arm};
pub use live::{BatchState, CellState, Live};
use mirror::ProgressMirror;
pub use restore::load_file;
pub use store::ImportError;

/// Keys in `Store::BatchMeta`.
const SPEC_KEY: &str = "spec";
const STATE_KEY: &str = "state";
/// Characters a stored call takes before any is stored (a k = 6 comment with its usage).
const CALL_CHARS_GUESS: f64 = 1500.0;

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
    /// Bumped a task after `results_version`: the per-attribute breakdown is scored then.
    pub breakdown_version: RwSignal<u32>,
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
            breakdown_version: RwSignal::new(0),
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

    /// After a change of many tasks at once (a restore, a start): every cell again, and the
    /// results scored again.
    fn refresh_cells(&self) {
        self.show_cells();
        self.bump_results();
    }

    /// Every shown cell again from the outcomes and the running set.
    fn show_cells(&self) {
        // Only the shown cells' outcomes are cloned (a whole file has thousands of outcomes).
        self.outcomes.with_untracked(|o| {
            let last: HashMap<Task, &Outcome> = o.iter().map(|x| (x.task, x)).collect();
            self.running.with_untracked(|running| {
                self.cells.with_value(|c| {
                    for (task, s) in c {
                        let outcome = last.get(task).copied();
                        let is_running = running.contains(task);
                        let same = s.with_untracked(|old| {
                            old.running == is_running && old.outcome.as_ref() == outcome
                        });
                        if !same {
                            s.set(CellState {
                                outcome: outcome.cloned(),
                                running: is_running,
                            });
                        }
                    }
                });
            });
        });
    }

    /// Ask for the results to be scored again.
    fn bump_results(&self) {
        self.results_version.update(|v| *v = v.wrapping_add(1));
        // The breakdown (a row per attribute: 128 countries) in the next task: scored and
        // drawn together with the results, a whole file's end made a long task.
        let b = *self;
        spawn_local(async move {
            gloo_timers::future::TimeoutFuture::new(0).await;
            b.breakdown_version.update(|v| *v = v.wrapping_add(1));
        });
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
        let limit = conn.call_limit();
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
        let model = conn.model_for_batch();
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
            let end = browser::now_ms();
            // The run's own list of outcomes (clones of those stored) is freed last, in a task
            // of its own: freeing a whole file's takes several milliseconds.
            let run_outcomes = out.ok();
            b.abort.set_value(None);
            b.running.set(HashSet::new());
            b.show_cells();
            b.elapsed.update_value(|e| *e += end - now);
            b.live.update(|l| {
                l.advance(end);
                l.calls_in_flight = 0;
                l.ended_ms = end;
            });
            // The results are scored in a task of their own: together with the cells, scoring
            // a whole file at the end of a batch made a long task (`bench/batch_scale.rs`).
            gloo_timers::future::TimeoutFuture::new(0).await;
            b.bump_results();
            // The new state (and what it redraws) in the next task again.
            gloo_timers::future::TimeoutFuture::new(0).await;
            // (Not when a pause or cancel aborted the run: they set the state.)
            if run_outcomes.is_some() {
                let left = b
                    .outcomes
                    .with_untracked(|o| batch::pending(&b.all_tasks(), o).len());
                let stopped = b
                    .state
                    .with_untracked(|s| matches!(s, BatchState::Stopped(_)));
                if stopped {
                    ui.say("The benchmark stopped: see the message above.");
                } else if b.is_running() {
                    // (Not paused or cancelled in the moment before the scoring.)
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
            b.save_state();
            gloo_timers::future::TimeoutFuture::new(0).await;
            drop(run_outcomes);
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

pub fn batch() -> Batch {
    expect_context::<Batch>()
}
