//! The tab's side of the engine's resume model: the batch on this device as a
//! [`BatchStore`] (its calls and outcomes in memory, each change queued for the browser's
//! database), the same trait `ethos run` keeps its JSON-lines files behind; and a batch's whole
//! state exported and imported ([`batch::BatchState`]), so that a batch moves between this
//! browser, another one and the command line without a finished call made again.

use super::*;
use crate::catalog::SHIPPED;
use ethos_engine::batch::{BatchStore, Stored};

/// The batch on this device, as the engine's store.
pub(super) struct TabStore(pub(super) Batch);

impl BatchStore for TabStore {
    fn load(&mut self) -> Result<Stored, String> {
        Ok(Stored {
            cache: self.0.cache.get_value().borrow().clone(),
            outcomes: self.0.outcomes.get_untracked(),
        })
    }

    fn put_call(&mut self, key: &str, response: &ChatResponse) -> Result<(), String> {
        let json = serde_json::to_string(response).map_err(|e| e.to_string())?;
        self.0
            .cache
            .get_value()
            .borrow_mut()
            .insert(key.to_string(), response.clone());
        self.0.store(Op::put(Store::BatchCalls, key, json));
        Ok(())
    }

    /// The outcome replaces an earlier one of its task; the list's readers are told by the caller
    /// (once per task while running, once for a whole import).
    fn put_outcome(&mut self, outcome: &Outcome, record: Option<&RunRecord>) -> Result<(), String> {
        let b = self.0;
        if let Some(r) = record {
            b.records.update_value(|m| {
                m.insert(outcome.task, r.clone());
            });
        }
        b.outcomes.update_untracked(|o| {
            o.retain(|x| x.task != outcome.task);
            o.push(outcome.clone());
        });
        b.set_cell(outcome.task, |c| {
            c.outcome = Some(outcome.clone());
            c.running = false;
        });
        b.save_outcome(outcome);
        Ok(())
    }
}

/// Why a batch state was not imported.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ImportError {
    /// The file is not a usable batch state (its reason in words).
    #[error("This file cannot be imported: {0}")]
    Unreadable(String),
    #[error("Pause the benchmark before importing into it.")]
    Running,
    #[error("The benchmark on this device is still loading; import it in a moment.")]
    Loading,
    /// Another batch with results is on this device: importing would replace it.
    #[error("This file is the state of another benchmark ({0}). Importing it replaces the benchmark on this device and its {1} result(s): export that one first if you want to keep it, then choose Replace.")]
    WouldReplace(String, usize),
    #[error("The file's benchmark could not be set up here: {0}")]
    SetUp(String),
}

impl Batch {
    /// The ids of the selected items, in order (what a state's `items` lists).
    fn item_ids(&self) -> Vec<String> {
        self.items
            .with_untracked(|i| i.iter().map(|x| x.id().to_string()).collect())
    }

    /// This batch's whole state (what it is, its items, every finished call and result) as one
    /// JSON document: `ethos run --state-import FILE` continues it, and so does Import state in
    /// another browser.
    pub fn export_state(&self) -> Result<String, String> {
        let spec = self
            .spec
            .get_untracked()
            .ok_or_else(|| "Set up a benchmark first.".to_string())?;
        let ids = self.item_ids();
        let state = batch::BatchState::export(&spec, ids, &mut TabStore(*self))?;
        serde_json::to_string(&state).map_err(|e| e.to_string())
    }

    /// Add a batch state (from Export state or `ethos run --state-export`) to this device: into
    /// the batch set up here when it is the same batch, or as a new batch set up from the
    /// state's description (only with `replace` when another batch with results is here).
    /// Returns what was added, in words.
    pub async fn import_state(&self, text: &str, replace: bool) -> Result<String, ImportError> {
        let state = batch::BatchState::parse(text).map_err(ImportError::Unreadable)?;
        match self.state.get_untracked() {
            BatchState::Running => return Err(ImportError::Running),
            BatchState::Loading => return Err(ImportError::Loading),
            _ => {}
        }
        if !SHIPPED
            .iter()
            .any(|s| s.file_name() == Some(state.spec.file.as_str()))
        {
            return Err(ImportError::Unreadable(format!(
                "its VITAL file {:?} is not one this app ships",
                state.spec.file
            )));
        }
        let here = self
            .spec
            .get_untracked()
            .map(|spec| state.mismatch(&spec, &self.item_ids()));
        let same = matches!(here, Some(None));
        if !same {
            let results = self.outcomes.with_untracked(Vec::len);
            if let (Some(Some(why)), false, true) = (&here, replace, results > 0) {
                return Err(ImportError::WouldReplace(why.clone(), results));
            }
            self.create(state.spec.clone())
                .await
                .map_err(ImportError::SetUp)?;
            if let Some(why) = state.mismatch(&state.spec, &self.item_ids()) {
                return Err(ImportError::SetUp(format!("its items are not the ones its slice picks in the shipped file ({why})")));
            }
        }
        let (calls, outcomes) = state
            .import_into(&mut TabStore(*self))
            .map_err(ImportError::Unreadable)?;
        self.outcomes.notify();
        self.refresh_cells();
        let left = batch::pending(&self.all_tasks(), &self.outcomes.get_untracked()).len();
        self.state.set(if left == 0 {
            BatchState::Done
        } else if outcomes > 0 || calls > 0 {
            BatchState::Paused
        } else {
            BatchState::Ready
        });
        self.save_state();
        Ok(format!(
            "Imported {calls} finished call(s) and {outcomes} result(s); {left} task(s) left{}.",
            if left > 0 { ": press Resume to run them" } else { "" }
        ))
    }
}
