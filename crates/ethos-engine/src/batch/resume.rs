//! The resume model: one store trait for the browser's and the command line's stores, one
//! portable state (export/import), and the counts, pending tasks and ETA a progress view shows.

use super::*;

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

    /// Read a batch state from a file someone sent (`ethos run --state-export`, the app's Export
    /// state): this format, valid settings, and outcomes that are tasks of its own batch.
    pub fn parse(text: &str) -> Result<Self, String> {
        #[derive(Deserialize)]
        struct Head {
            ethos_batch_state: Option<u32>,
        }
        let head: Head = serde_json::from_str(text)
            .map_err(|e| format!("this is not a batch state (not the JSON it should be: {e})"))?;
        match head.ethos_batch_state {
            None => return Err("this is not a batch state (it has no `ethos_batch_state` field: a run or a VITAL file?)".into()),
            Some(STATE_FORMAT) => {}
            Some(n) => {
                return Err(format!(
                    "this batch state has format {n}; this version reads format {STATE_FORMAT}"
                ))
            }
        }
        let state: BatchState = serde_json::from_str(text)
            .map_err(|e| format!("this batch state is damaged: {e}"))?;
        if state.spec.methods.is_empty() {
            return Err("this batch state names no method".into());
        }
        state
            .spec
            .settings
            .validate()
            .map_err(|e| format!("this batch state's settings are invalid: {e}"))?;
        if let Some(o) = state.outcomes.iter().find(|o| !state.has_task(o.task)) {
            return Err(format!(
                "this batch state is damaged: a result of task {:?} is not a task of its batch",
                o.task
            ));
        }
        Ok(state)
    }

    /// Whether `task` is one of this batch's tasks.
    fn has_task(&self, task: Task) -> bool {
        task.item < self.items.len()
            && self.spec.methods.contains(&task.method)
            && task.model < self.spec.models.len().max(1)
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
            if !self.has_task(o.task) {
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
