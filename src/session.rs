//! The run on screen: its record (shown part by part, each part redrawn only when it changed),
//! per-call live text for streaming cards, baselines, cancel, and saving to this device on every
//! change. The pipeline itself is the engine's; this module only starts it and mirrors its record.

use crate::settings::Settings;
use crate::browser;
use crate::storage::key::CURRENT_RUN;
use crate::storage::{self, Area, StorageError, Store};
use crate::connection::Conn;
use crate::state::Ui;
use ethos_engine::chat::ChatModel;
use ethos_engine::persona::Perspective;
use ethos_engine::pipeline::{Observer, Phase, Pipeline, PipelineError, SharedRecord, Stages};
use ethos_engine::record::{
    records_to_json, CallRecord, CommentRecord, RunRecord, RunResult, RunStatus,
};
use ethos_engine::settings::{Method, SettingsError};
use futures::future::{abortable, AbortHandle};
use leptos::prelude::*;
use leptos::task::spawn_local;
use std::cell::Cell;
use std::collections::HashMap;
use std::rc::Rc;

mod mirror;
mod parts;
mod saved;

use mirror::{RecordMirror, PERSIST_EVERY_MS};
pub use parts::{RunParts, RunTotals};

/// What to (re-)run.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// A new EthosAgents run of the selected item with the current settings.
    Full,
    /// Stage 1 again, then everything after it.
    Regenerate,
    /// Comments that are missing or failed (after edits, additions, failures), then combine.
    Dependents,
    /// Stage 1 again for perspective i alone (one call; it is replaced by a new one), then what
    /// depends on it as [`Op::Dependents`] does: the missing comments, then combine.
    RegenerateOne(usize),
    /// Retry one comment, then combine if every comment is there.
    Comment(usize),
    /// Vanilla and prompting baselines on the same item and settings.
    Baselines,
    /// LLM-judge coverage of the Overton answer.
    Judge,
}

#[derive(Clone, Copy)]
pub struct Session {
    /// The run on screen, part by part (the record itself is `shared`).
    pub run: RunParts,
    pub baselines: RwSignal<Vec<RunRecord>>,
    pub busy: RwSignal<bool>,
    pub phase: RwSignal<Option<Phase>>,
    pub error: RwSignal<Option<String>>,
    /// Storage id of the run on screen.
    pub id: RwSignal<Option<String>>,
    /// The saved runs, newest first: id, and the list line or why the entry could not be read.
    pub saved: RwSignal<Vec<(String, Result<String, String>)>>,
    /// Saves and deletions on their way to the database (`#run-panel[data-unsaved]`).
    pub unsaved: RwSignal<u32>,
    /// Two runs shown side by side (the compare view) instead of the panels.
    pub compare: RwSignal<Option<(RunRecord, RunRecord)>>,
    live: StoredValue<HashMap<u32, ArcRwSignal<String>>, LocalStorage>,
    shared: StoredValue<Option<SharedRecord>, LocalStorage>,
    abort: StoredValue<Option<AbortHandle>, LocalStorage>,
    /// When the running record was last saved, and whether a trailing save is scheduled.
    last_saved_ms: StoredValue<f64>,
    save_scheduled: StoredValue<bool>,
    /// The run settings of panel 2: a run starts with a copy of them.
    settings: Settings,
}

/// "Distributional · #C_001 · done · <title>": a saved run in the list.
fn saved_line(r: &RunRecord) -> String {
    let status = match &r.status {
        RunStatus::Done => "done",
        RunStatus::Failed { .. } => "failed",
        RunStatus::Cancelled => "cancelled",
        RunStatus::Running => "running",
        RunStatus::Partial => "partial",
        RunStatus::NotStarted => "not started",
    };
    let title: String = r.item.title().chars().take(90).collect();
    format!(
        "{} · #{} · {} · {status} · {title}",
        r.mode().label(),
        r.item.id(),
        run_label(r)
    )
}

/// Newest first: ids are creation times (a damaged or foreign entry sorts by its text).
fn sort_saved(list: &mut [(String, Result<String, String>)]) {
    list.sort_unstable_by(|(a, _), (b, _)| {
        b.parse::<u64>()
            .unwrap_or(0)
            .cmp(&a.parse::<u64>().unwrap_or(0))
            .then(b.cmp(a))
    });
}

/// "EthosAgents, smollm2, k = 6": what tells two runs of one scenario apart.
pub fn run_label(r: &RunRecord) -> String {
    let m = &r.settings.models;
    let model = if m.is_single() {
        m.combine.clone()
    } else {
        format!("{} / {} / {}", m.perspectives, m.comments, m.combine)
    };
    match r.method {
        Method::EthosAgents => format!("{}, {model}, k = {}", r.method.label(), r.settings.k),
        other => format!("{}, {model}", other.label()),
    }
}

fn new_id() -> String {
    format!("{}", browser::now_ms() as u64)
}

/// The storage id of an opened record: its creation time, so opening the same shared link or
/// importing the same file twice updates one entry instead of piling up copies.
pub fn id_for(record: &RunRecord) -> String {
    if record.created_ms.is_finite() && record.created_ms > 0.0 {
        format!("{}", record.created_ms as u64)
    } else {
        new_id()
    }
}

impl Session {
    pub fn new(settings: Settings) -> Self {
        Self {
            settings,
            run: RunParts::new(),
            baselines: RwSignal::new(Vec::new()),
            busy: RwSignal::new(false),
            phase: RwSignal::new(None),
            error: RwSignal::new(None),
            id: RwSignal::new(None),
            saved: RwSignal::new(Vec::new()),
            unsaved: RwSignal::new(0),
            compare: RwSignal::new(None),
            live: StoredValue::new_local(HashMap::new()),
            shared: StoredValue::new_local(None),
            abort: StoredValue::new_local(None),
            last_saved_ms: StoredValue::new(0.0),
            save_scheduled: StoredValue::new(false),
        }
    }

    /// Streaming text of a call, if it is (or was) streamed in this tab.
    pub fn live_text(&self, call_id: u32) -> Option<ArcRwSignal<String>> {
        self.live.with_value(|m| m.get(&call_id).cloned())
    }

    /// Make `record` the run on screen.
    fn show(&self, record: RunRecord) -> SharedRecord {
        let shared = SharedRecord::new(record);
        shared.with(|r| self.run.sync(r));
        self.shared.set_value(Some(shared.clone()));
        shared
    }

    /// Bring the parts on screen in line with the record (after the pipeline or an edit).
    fn redraw(&self) {
        if let Some(shared) = self.shared.get_value() {
            shared.with(|r| self.run.sync(r));
        }
    }

    /// Read the run on screen, if there is one (not tracked: for handlers and exports).
    pub fn with_record<R>(&self, f: impl FnOnce(&RunRecord) -> R) -> Option<R> {
        self.shared.with_value(|s| s.as_ref().map(|s| s.with(f)))
    }

    /// Whether a run is on screen (tracked).
    pub fn has_run(&self) -> bool {
        self.run.head.with(Option::is_some)
    }

    /// Show a record (opened from the saved list, an import or a share link).
    pub fn open(&self, ui: Ui, mut record: RunRecord, baselines: Vec<RunRecord>, id: String) {
        if self.busy.get_untracked() {
            self.cancel();
        }
        if record.status == RunStatus::Running {
            // Interrupted by a reload: finished calls are kept, the rest is marked cancelled.
            let shared = SharedRecord::new(record);
            shared.mark_cancelled(browser::now_ms());
            record = shared.snapshot();
        }
        // The class poll of the run opened is the one its scenario shows.
        ui.poll.set(
            record
                .poll
                .clone()
                .map(|p| (crate::state::item_key(&record.item), p)),
        );
        ui.item.set(Some(record.item.clone()));
        self.show(record);
        self.baselines.set(baselines);
        self.error.set(None);
        self.phase.set(None);
        self.id.set(Some(id.clone()));
        let _ = storage::set(Area::Local, CURRENT_RUN, &id);
        self.persist();
    }

    /// Change the record between runs (perspective edits), then mirror and save it.
    pub fn edit(&self, f: impl FnOnce(&mut RunRecord)) {
        let Some(shared) = self.shared.get_value() else {
            return;
        };
        shared.update(f);
        self.redraw();
        self.persist();
    }

    pub fn cancel(&self) {
        if let Some(h) = self.abort.get_value() {
            h.abort();
        }
    }

    /// Start an operation. Only one runs at a time; Cancel drops it and keeps what finished.
    pub fn start(&self, op: Op, ui: Ui, conn: Conn) {
        if self.busy.get_untracked() {
            return;
        }
        let session = *self;
        let settings = self.settings.get_untracked();
        if let Err(e) = settings.validate() {
            let msg = match e {
                SettingsError::EmptyModel(_) if conn.is_local() => {
                    "Load the in-browser model in panel 2 first.".to_string()
                }
                SettingsError::EmptyModel(_) => {
                    "Choose a model in panel 2 first (Test connection lists the server's models)."
                        .to_string()
                }
                other => format!("Check the settings: {other}"),
            };
            self.error.set(Some(msg.clone()));
            ui.say(format!("Not started: {msg}"));
            return;
        }
        let main = if op == Op::Full {
            let Some(item) = ui.item.get_untracked() else {
                ui.say("Pick a scenario first.");
                return;
            };
            let poll = ui.poll_for(&item);
            let mut record = RunRecord::new(item, settings.clone(), Method::EthosAgents);
            // Typed for this scenario's options, so it fits; a misfit is left out, not fatal.
            let _ = record.set_poll(poll);
            record.created_ms = browser::now_ms();
            self.live.update_value(HashMap::clear);
            let shared = self.show(record);
            self.baselines.set(Vec::new());
            let id = shared.with(id_for);
            self.id.set(Some(id.clone()));
            let _ = storage::set(Area::Local, CURRENT_RUN, &id);
            shared
        } else {
            match self.shared.get_value() {
                Some(s) => s,
                None => {
                    ui.say("Run a scenario first.");
                    return;
                }
            }
        };
        let mut baseline_records: Vec<(usize, SharedRecord, Method)> = Vec::new();
        if op == Op::Baselines {
            let (item, base_settings) = main.with(|r| (r.item.clone(), r.settings.clone()));
            let mut list = Vec::new();
            for (i, m) in [Method::Vanilla, Method::Prompting].into_iter().enumerate() {
                let mut r = RunRecord::new(item.clone(), base_settings.clone(), m);
                r.created_ms = browser::now_ms();
                baseline_records.push((i, SharedRecord::new(r.clone()), m));
                list.push(r);
            }
            self.baselines.set(list);
        }
        let baseline_mirrors: Vec<(usize, SharedRecord)> = baseline_records
            .iter()
            .map(|(i, s, _)| (*i, s.clone()))
            .collect();
        self.error.set(None);
        self.busy.set(true);
        self.persist();
        let client = conn.model_for_run();
        let task = async move {
            let clock = browser::now_ms;
            let observer = RecordMirror::new(session, ui, main.clone(), None);
            let p = Pipeline::new(Stages::same(&client), &clock, &observer, main.clone());
            match op {
                Op::Full => p.run_item().await.map(|_| ()),
                Op::Regenerate => {
                    p.generate_perspectives().await?;
                    p.write_comments(None).await?;
                    p.combine().await.map(|_| ())
                }
                Op::Dependents => rerun_dependents(&p, &main).await,
                Op::RegenerateOne(i) => {
                    p.regenerate_perspective(i).await?;
                    rerun_dependents(&p, &main).await
                }
                Op::Comment(i) => {
                    p.write_comments(Some(&[i])).await?;
                    if main.with(RunRecord::missing_comments).is_empty() {
                        p.combine().await?;
                    }
                    Ok(())
                }
                Op::Judge => p.judge(&client).await.map(|_| ()),
                Op::Baselines => {
                    let observers: Vec<(RecordMirror, SharedRecord, Method)> = baseline_records
                        .into_iter()
                        .map(|(i, s, m)| (RecordMirror::new(session, ui, s.clone(), Some(i)), s, m))
                        .collect();
                    let runs = observers.iter().map(|(o, s, m)| {
                        let client = &client;
                        async move {
                            let bp = Pipeline::new(Stages::same(client), &clock, o, s.clone());
                            bp.run_baseline(*m).await.map(|_| ())
                        }
                    });
                    let results = futures::future::join_all(runs).await;
                    results
                        .into_iter()
                        .find_map(Result::err)
                        .map_or(Ok(()), Err)
                }
            }
        };
        // The focused button is disabled while running: keep keyboard users on Cancel.
        browser::focus_later("cancel");
        let (task, handle) = abortable(task);
        self.abort.set_value(Some(handle));
        spawn_local(async move {
            let out = task.await;
            session.abort.set_value(None);
            session.redraw();
            // Final state of the baselines (failed or cancelled ones included).
            for (i, shared) in &baseline_mirrors {
                let snap = shared.snapshot();
                session.baselines.update(|b| {
                    if let Some(x) = b.get_mut(*i) {
                        *x = snap;
                    }
                });
            }
            session.busy.set(false);
            session.phase.set(None);
            browser::focus_later("run");
            match out {
                Err(_aborted) => {
                    ui.say("Cancelled. Everything that finished is kept.");
                }
                Ok(Err(e)) => {
                    let msg = e.to_string();
                    session.error.set(Some(msg.clone()));
                    ui.say(format!("Stopped: {msg}"));
                }
                Ok(Ok(())) => ui.say(session.with_record(done_message).unwrap_or_else(|| "Finished.".into())),
            }
            session.persist();
        });
    }
}

/// The comments that are missing or failed, then stage 3 ("Re-run what changed").
async fn rerun_dependents<M: ChatModel>(
    p: &Pipeline<'_, M>,
    main: &SharedRecord,
) -> Result<(), PipelineError> {
    let todo = main.with(RunRecord::missing_comments);
    if !todo.is_empty() {
        p.write_comments(Some(&todo)).await?;
    }
    p.combine().await.map(|_| ())
}

fn done_message(r: &RunRecord) -> String {
    match &r.result {
        Some(RunResult::Distribution(d)) => match d.js {
            Some(js) => format!(
                "Finished. Jensen–Shannon distance to people's answers: {js:.3} (natural log)."
            ),
            None => "Finished.".into(),
        },
        Some(RunResult::Value(v)) => format!(
            "Finished. The answer is {}.",
            if v.correct_reference {
                "correct"
            } else {
                "not correct"
            }
        ),
        Some(RunResult::Overton(_)) => "Finished. The combined answer is below.".into(),
        None => "Finished.".into(),
    }
}

pub fn session() -> Session {
    expect_context::<Session>()
}
