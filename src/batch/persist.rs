//! How the batch reaches the browser's database: every change is queued and journalled, written
//! in one transaction at a time (growing under load), and a refused write pauses the batch with
//! the unstored results kept in the tab.

use super::*;

impl Batch {
    /// Queue a change for the database; it is written with the others queued in the same turn
    /// of the event loop, in one transaction (a task's last call and its outcome land together).
    pub(super) fn store(&self, op: Op) {
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
    pub(super) fn flush(&self) {
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
    pub(super) fn write_refused(&self, e: StorageError) {
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

    pub(super) fn save_outcome(&self, outcome: &Outcome) {
        let t = outcome.task;
        let key = format!("{}.{}.{:?}", t.item, t.model, t.method);
        let json = serde_json::to_string(outcome).unwrap_or_default();
        self.store(Op::put(Store::BatchOutcomes, key, json));
    }

    pub(super) fn save_state(&self) {
        let s = self.state.with_untracked(|s| s.stored());
        self.store(Op::put(Store::BatchMeta, STATE_KEY, s));
    }
}
