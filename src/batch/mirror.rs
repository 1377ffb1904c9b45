//! `ProgressMirror`: the batch's observer in the browser. It moves the progress signals and stores
//! every finished call and task outcome as it happens, through the batch's [`TabStore`] (the
//! engine's `BatchStore`, as the command line's).

use super::store::TabStore;
use ethos_engine::batch::BatchStore;
use super::*;

/// Mirrors batch events into the progress signals and stores every finished call and task.
pub(super) struct ProgressMirror {
    pub(super) batch: Batch,
}

impl BatchObserver for ProgressMirror {
    fn task_started(&self, task: Task) {
        self.batch.running.update(|r| {
            r.insert(task);
        });
        self.batch.set_cell(task, |c| c.running = true);
    }
    fn call_started(&self, _task: Task) {
        let now = browser::now_ms();
        self.batch.live.update(|l| {
            l.advance(now);
            l.calls_in_flight += 1;
        });
    }
    fn call_finished(&self, _task: Task, ok: bool) {
        let now = browser::now_ms();
        self.batch.live.update(|l| {
            l.advance(now);
            l.calls_in_flight = l.calls_in_flight.saturating_sub(1);
            l.calls_done += 1;
            if !ok {
                l.calls_failed += 1;
            }
        });
    }
    fn call_stored(&self, key: &str, response: &ChatResponse) {
        // The store refuses nothing here: a write the browser refuses pauses the batch later.
        let _ = TabStore(self.batch).put_call(key, response);
    }
    fn task_finished(&self, outcome: &Outcome, record: &RunRecord) {
        let b = self.batch;
        b.running.update(|r| {
            r.remove(&outcome.task);
        });
        b.live
            .update(|l| l.calls_from_cache += outcome.cached_calls);
        let _ = TabStore(b).put_outcome(outcome, Some(record));
        b.outcomes.notify();
    }
    fn stopped(&self, reason: &str) {
        self.batch
            .state
            .set(BatchState::Stopped(reason.to_string()));
    }
}
