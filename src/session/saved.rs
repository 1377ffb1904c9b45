//! Keeping the run on screen on this device: saving it (at most every half second while it
//! runs), the saved runs' list, deleting, and reopening the run after a reload.

use super::*;
use crate::share::Shared;

impl Session {
    /// Save now if the last save is old enough, else once a little later (a running record
    /// changes many times a second; every finished call is in the next save).
    pub(super) fn persist_soon(&self) {
        let now = browser::now_ms();
        let wait = self.last_saved_ms.get_value() + PERSIST_EVERY_MS - now;
        if wait <= 0.0 {
            self.persist();
        } else if !self.save_scheduled.get_value() {
            self.save_scheduled.set_value(true);
            let session = *self;
            set_timeout(
                move || {
                    session.save_scheduled.set_value(false);
                    session.persist();
                },
                std::time::Duration::from_millis(wait.ceil() as u64),
            );
        }
    }

    /// Save the run on screen (record and baselines) to this device: written at once to the
    /// journal, then to the database (a reload in between loses nothing).
    pub fn persist(&self) {
        self.last_saved_ms.set_value(browser::now_ms());
        let Some(id) = self.id.get_untracked() else {
            return;
        };
        let Some((json, line)) = self
            .shared
            .with_value(|s| s.as_ref().map(|s| s.with(|r| (r.to_json(), saved_line(r)))))
        else {
            return;
        };
        let baselines = self.baselines.get_untracked();
        let ops = vec![
            storage::Op::put(Store::Runs, &id, json),
            if baselines.is_empty() {
                storage::Op::Delete {
                    store: Store::RunBaselines,
                    key: id.clone(),
                }
            } else {
                storage::Op::put(Store::RunBaselines, &id, records_to_json(&baselines))
            },
        ];
        self.set_saved_line(id, Ok(line));
        self.write(ops, |session, e| async move {
            // A refused write (storage full, or blocked) deletes nothing: the user's other saved
            // runs are theirs to remove, and the run stays on screen.
            session.error.set(Some(format!(
                "This run could not be saved on this device ({e}). It stays on screen: export it, or delete old saved runs below to make room."
            )));
        });
    }

    /// Write `ops` to this device: at once to the journal (a reload before the database has them
    /// loses nothing), then to the database in one transaction, counted in `unsaved` until it is
    /// in. A refused write goes to `failed`.
    fn write<F, Fut>(&self, ops: Vec<storage::Op>, failed: F)
    where
        F: FnOnce(Session, StorageError) -> Fut + 'static,
        Fut: std::future::Future<Output = ()> + 'static,
    {
        for op in &ops {
            storage::journal(op);
        }
        let session = *self;
        self.unsaved.update(|n| *n += 1);
        spawn_local(async move {
            let written = storage::write(&ops).await;
            session.unsaved.update(|n| *n = n.saturating_sub(1));
            match written {
                Ok(()) => storage::journal_done(&ops),
                Err(e) => failed(session, e).await,
            }
        });
    }

    /// Put one entry of the saved list (new or changed), keeping the list newest first.
    fn set_saved_line(&self, id: String, line: Result<String, String>) {
        self.saved.update(|list| {
            match list.iter_mut().find(|(i, _)| *i == id) {
                Some(entry) => entry.1 = line,
                None => list.push((id, line)),
            }
            sort_saved(list);
        });
    }

    /// Read the saved runs' list from the database (after anything earlier versions kept in
    /// localStorage has moved there). A damaged entry is listed as such, never a panic.
    pub async fn load_saved_list(&self) {
        let _ = storage::prepare().await;
        let (entries, foreign) = match storage::read_all(Store::Runs).await {
            Ok(v) => v,
            Err(e) => {
                if !e.is_unavailable() {
                    self.error.set(Some(format!("The saved runs could not be read: {e}")));
                }
                return;
            }
        };
        let mut list = Vec::with_capacity(entries.len() + foreign);
        for (i, (id, text)) in entries.into_iter().enumerate() {
            if i % 8 == 7 {
                // Many long runs: parse them a few at a time, with the page free between.
                gloo_timers::future::TimeoutFuture::new(0).await;
            }
            let line = RunRecord::from_json(&text)
                .map(|r| saved_line(&r))
                .map_err(|e| e.to_string());
            list.push((id, line));
        }
        for i in 0..foreign {
            list.push((format!("?{i}"), Err("not a saved run".to_string())));
        }
        // Runs saved in this tab meanwhile stay listed.
        self.saved.update(|now| {
            for entry in now.drain(..) {
                if !list.iter().any(|(id, _)| *id == entry.0) {
                    list.push(entry);
                }
            }
            sort_saved(&mut list);
            *now = list;
        });
    }

    /// One saved run, read and parsed (`None`: not saved).
    pub async fn load_saved(id: &str) -> Option<Result<RunRecord, String>> {
        match storage::get_entry(Store::Runs, id).await {
            Ok(Some(text)) => Some(RunRecord::from_json(&text).map_err(|e| e.to_string())),
            Ok(None) => None,
            Err(e) => Some(Err(e.to_string())),
        }
    }

    pub async fn saved_baselines(id: &str) -> Vec<RunRecord> {
        storage::get_entry(Store::RunBaselines, id)
            .await
            .ok()
            .flatten()
            .and_then(|t| serde_json::from_str::<Vec<serde_json::Value>>(&t).ok())
            .unwrap_or_default()
            .into_iter()
            .filter_map(|v| RunRecord::from_json(&v.to_string()).ok())
            .collect()
    }

    pub fn delete_saved(&self, id: &str) {
        let ops = vec![
            storage::Op::Delete {
                store: Store::Runs,
                key: id.to_string(),
            },
            storage::Op::Delete {
                store: Store::RunBaselines,
                key: id.to_string(),
            },
        ];
        if self.id.get_untracked().as_deref() == Some(id) {
            self.id.set(None);
            storage::remove(Area::Local, CURRENT_RUN);
        }
        self.saved.update(|list| list.retain(|(i, _)| i != id));
        self.write(ops, |session, e| async move {
            session
                .error
                .set(Some(format!("The run could not be deleted from this device: {e}")));
            session.load_saved_list().await;
        });
    }

    /// What the page opens with: the run or comparison of its share link, else the run that was
    /// on screen before a reload (also when the link is damaged: it must not hide the user's work).
    pub async fn open_page(&self, ui: Ui) {
        let opened = match crate::share::page_link() {
            None => return self.restore_current(ui).await,
            Some(Ok(link)) => crate::share::open(link).await.map_err(|e| e.to_string()),
            Some(Err(e)) => Err(e.to_string()),
        };
        match opened {
            Ok(Shared::Run { run, baselines }) => {
                let id = crate::session::id_for(&run);
                self.open(ui, run, baselines, id);
                ui.say("Opened the shared run (settings and results). Your own key and provider are not part of it.");
            }
            Ok(Shared::Compare { left, right }) => {
                self.compare.set(Some((left, right)));
                ui.say("Opened the shared comparison of two runs. Your own key and provider are not part of it.");
            }
            Err(e) => {
                // Keep the run that was on screen: a damaged link must not hide the user's own
                // work (reopened first: opening a run clears the alert).
                self.restore_current(ui).await;
                // In the alert of panel 3 too: the status line is soon taken by the scenario load.
                let msg = format!("This page's share link could not be opened: {e}");
                self.error.set(Some(msg.clone()));
                ui.say(msg);
            }
        }
    }

    /// Reopen the run that was on screen before a reload (unless a run was opened meanwhile).
    pub async fn restore_current(&self, ui: Ui) {
        let _ = storage::prepare().await;
        let Some(id) = storage::get(Area::Local, CURRENT_RUN) else {
            return;
        };
        let Some(Ok(r)) = Self::load_saved(&id).await else {
            return;
        };
        let b = Self::saved_baselines(&id).await;
        if self.id.get_untracked().is_none() {
            self.open(ui, r, b, id);
        }
    }
}
