//! `RecordMirror`: the pipeline's observer in the browser. Once per animation frame it brings the
//! parts of the run on screen in line with the running record (a baseline's record is copied
//! whole: it is one call), streams text into per-call signals, and saves.

use super::*;

/// Mirrors pipeline events into signals. `slot` is None for the main record, or the baseline's
/// position in `baselines`.
pub(super) struct RecordMirror {
    session: Session,
    ui: Ui,
    shared: SharedRecord,
    slot: Option<usize>,
    /// A refresh is scheduled for the next animation frame.
    pending: Rc<Cell<bool>>,
}

/// Saves of a running record are at most this often (and once more when the run ends).
pub(super) const PERSIST_EVERY_MS: f64 = 500.0;

impl RecordMirror {
    pub(super) fn new(session: Session, ui: Ui, shared: SharedRecord, slot: Option<usize>) -> Self {
        Self {
            session,
            ui,
            shared,
            slot,
            pending: Rc::new(Cell::new(false)),
        }
    }

    /// Mirror the record into the signals. Events come in bursts (k calls start or end
    /// together): however many arrive, the record is cloned, rendered and saved once per
    /// animation frame, and saved at most every [`PERSIST_EVERY_MS`].
    fn refresh(&self) {
        if self.pending.replace(true) {
            return;
        }
        let (session, shared, slot, pending) = (
            self.session,
            self.shared.clone(),
            self.slot,
            self.pending.clone(),
        );
        request_animation_frame(move || {
            pending.set(false);
            match slot {
                None => shared.with(|r| session.run.sync(r)),
                Some(i) => {
                    let snap = shared.snapshot();
                    session.baselines.update(|b| {
                        if let Some(x) = b.get_mut(i) {
                            *x = snap;
                        }
                    })
                }
            }
            session.persist_soon();
        });
    }
}

impl Observer for RecordMirror {
    fn stage_changed(&self, phase: Phase) {
        if self.slot.is_some() {
            // Baselines: mirror the final status (set just before `Finished`).
            self.refresh();
        } else {
            self.session.phase.set(Some(phase));
            let msg = match phase {
                Phase::Perspectives => "Stage 1: inventing perspectives…",
                Phase::Comments => "Stage 2: writing one comment per perspective…",
                Phase::Combine => "Stage 3: combining the comments…",
                Phase::Baseline => "Running a baseline…",
                Phase::Judge => "The LLM judge is rating coverage…",
                Phase::Finished => "Finished.",
            };
            self.ui.say(msg);
        }
    }
    fn call_started(&self, call: &CallRecord) {
        self.session.live.update_value(|m| {
            m.insert(call.id, ArcRwSignal::new(String::new()));
        });
        self.refresh();
    }
    fn delta(&self, call_id: u32, text: &str) {
        let slot = self.session.live.with_value(|m| m.get(&call_id).cloned());
        if let Some(s) = slot {
            if text.is_empty() {
                // The client retries after partial output: start the text again.
                s.set(String::new());
            } else {
                s.update(|t| t.push_str(text));
            }
        }
    }
    fn call_finished(&self, _call: &CallRecord) {
        self.refresh();
    }
    fn perspectives_ready(&self, perspectives: &[Perspective]) {
        self.refresh();
        self.ui.say(format!(
            "{} perspectives ready; writing comments…",
            perspectives.len()
        ));
    }
    fn comment_ready(&self, comment: &CommentRecord) {
        self.refresh();
        let (done, total) = self.shared.with(|r| {
            (
                r.comments.iter().flatten().filter(|c| c.is_ok()).count(),
                r.comments.len(),
            )
        });
        let n = comment.index + 1;
        match &comment.error {
            None => self
                .ui
                .say(format!("Comment {n} finished ({done} of {total} done).")),
            Some(e) => self.ui.say(format!("Comment {n} failed: {e}")),
        }
    }
    fn result(&self, _result: &RunResult) {
        self.refresh();
    }
}
