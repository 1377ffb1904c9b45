//! `RunParts`: the run on screen, part by part. Each part is a signal of its own, set only when
//! that part changed, so a finished call redraws its own comment card and the progress line,
//! and the result view is drawn again only when the result is.

use ethos_engine::record::{CommentState, PerspectivesRecord, RunRecord, Totals};
use ethos_engine::Item;
use leptos::prelude::*;
use ethos_engine::settings::Method;

/// What stays the same for a record on screen: which scenario (and so which mode) and method.
#[derive(Debug, Clone, PartialEq)]
pub struct RunHead {
    pub item: Item,
    pub method: Method,
}

/// The run's totals for the inspector: calls, tokens and its time (ms) once finished.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunTotals {
    pub totals: Totals,
    pub elapsed_ms: Option<f64>,
}

#[derive(Clone, Copy)]
pub struct RunParts {
    /// None: no run on screen.
    pub head: RwSignal<Option<RunHead>>,
    pub perspectives: RwSignal<PerspectivesRecord>,
    /// One signal per comment slot (as many as perspectives).
    comments: StoredValue<Vec<ArcRwSignal<CommentState>>, LocalStorage>,
    /// The perspectives changed since the comments or the result were made ("Re-run what changed").
    pub stale: RwSignal<bool>,
    /// Finished calls, all calls.
    pub progress: RwSignal<(usize, usize)>,
    pub totals: RwSignal<RunTotals>,
    /// The record without its calls while it has a result: what the result view draws from
    /// (item, perspectives, comments' letters, result, class poll).
    pub result: RwSignal<Option<RunRecord>>,
    /// Notified when a call is added or finishes, or another record is shown (the inspector reads
    /// the calls then): the record's creation time, finished calls, calls.
    calls: Trigger,
    calls_seen: StoredValue<(u64, usize, usize)>,
    /// Notified when comment slots are added or removed.
    slots: Trigger,
}

impl RunParts {
    pub fn new() -> Self {
        Self {
            head: RwSignal::new(None),
            perspectives: RwSignal::new(PerspectivesRecord::default()),
            comments: StoredValue::new_local(Vec::new()),
            stale: RwSignal::new(false),
            progress: RwSignal::new((0, 0)),
            totals: RwSignal::new(RunTotals::default()),
            result: RwSignal::new(None),
            calls: Trigger::new(),
            calls_seen: StoredValue::new((0, 0, 0)),
            slots: Trigger::new(),
        }
    }

    /// The state of comment `index` (pending while no slot exists yet). Also tracks the number
    /// of slots, so a card always reads the slot that is there now.
    pub fn comment(&self, index: usize) -> CommentState {
        self.slots.track();
        match self.comments.with_value(|c| c.get(index).cloned()) {
            Some(s) => s.get(),
            None => CommentState::Pending,
        }
    }

    /// Subscribe to "a call was added or finished".
    pub fn track_calls(&self) {
        self.calls.track();
    }

    /// Bring every part in line with `r`, setting only the parts that differ.
    pub fn sync(&self, r: &RunRecord) {
        let head = RunHead {
            item: r.item.clone(),
            method: r.method,
        };
        set_if_changed(self.head, Some(head));
        if self.perspectives.with_untracked(|p| *p != r.perspectives) {
            self.perspectives.set(r.perspectives.clone());
        }
        let slots = r.perspectives.perspectives.len().max(r.comments.len());
        let resized = self.comments.with_value(|list| list.len() != slots);
        self.comments.update_value(|list| {
            list.truncate(slots);
            for i in 0..slots {
                let state = r.comment_state(i);
                match list.get(i) {
                    Some(s) => {
                        if s.with_untracked(|now| *now != state) {
                            s.set(state);
                        }
                    }
                    None => list.push(ArcRwSignal::new(state)),
                }
            }
        });
        if resized {
            self.slots.notify();
        }
        set_if_changed(self.stale, r.needs_rerun());
        let done = r.calls.iter().filter(|c| c.is_finished()).count();
        set_if_changed(self.progress, (done, r.calls.len()));
        let seen = (r.created_ms.to_bits(), done, r.calls.len());
        if self.calls_seen.get_value() != seen {
            self.calls_seen.set_value(seen);
            self.calls.notify();
        }
        set_if_changed(
            self.totals,
            RunTotals {
                totals: r.totals.clone(),
                elapsed_ms: r.finished_ms.map(|f| (f - r.created_ms).max(0.0)),
            },
        );
        let shown_changed = self.result.with_untracked(|shown| match (shown, &r.result) {
            (None, None) => false,
            (Some(s), Some(_)) => {
                s.result != r.result
                    || s.poll != r.poll
                    || s.perspectives != r.perspectives
                    || s.comments != r.comments
                    || s.item != r.item
            }
            _ => true,
        });
        if shown_changed {
            self.result
                .set(r.result.is_some().then(|| r.without_calls()));
        }
    }
}

fn set_if_changed<T: PartialEq + Send + Sync + 'static>(signal: RwSignal<T>, value: T) {
    if signal.with_untracked(|now| *now != value) {
        signal.set(value);
    }
}
