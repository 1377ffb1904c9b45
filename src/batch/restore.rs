//! Bringing back the batch stored on this device after a reload, and loading a shipped VITAL file.

use super::*;

impl Batch {
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
}

/// A shipped VITAL file, loaded and parsed.
pub async fn load_file(file: &str) -> Result<Vec<Item>, String> {
    let text = browser::fetch_text(&format!("vital/{file}"))
        .await
        .map_err(|e| e.to_string())?;
    vital::load(&text, Source::from_file_name(file)).map_err(|e| format!("{file}: {e}"))
}
