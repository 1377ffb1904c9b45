//! The app's shared reactive state: plain data in signals, provided once through context.
//! Components read and write these; the work itself is done by the engine and providers.

use crate::storage::{self, Area};
use crate::catalog::{Catalog, CatalogWanted};
use ethos_engine::poll::ClassPoll;
use ethos_engine::Item;
use leptos::prelude::*;
use std::sync::Arc;

/// Loading state of the scenario file being browsed ([`Ui::catalog`]).
#[derive(Clone)]
pub enum CatalogState {
    Empty,
    Loading(String),
    Ready(Arc<Catalog>),
    Failed(String),
}

#[derive(Clone, Copy)]
pub struct Ui {
    /// The scenario the next run uses.
    pub item: RwSignal<Option<Item>>,
    /// The scenario file the user asked for, numbered: the list shows the newest request's
    /// file, whatever order the loads finish in.
    pub catalog_wanted: RwSignal<(u32, CatalogWanted), LocalStorage>,
    /// That file, loaded and parsed (tagged with its request's number).
    pub catalog_loaded: LocalResource<(u32, Result<Option<Arc<Catalog>>, String>)>,
    /// The polite status line (also carries "comment finished" announcements).
    pub status: RwSignal<String>,
    /// Large type for classrooms.
    pub projector: RwSignal<bool>,
    /// Benchmark mode (a slice of a file × methods) instead of one scenario.
    pub bench: RwSignal<bool>,
    /// The class's votes typed for a scenario ([`item_key`] of it): the next run of that
    /// scenario carries them, and so does its record on screen.
    pub poll: RwSignal<Option<(String, ClassPoll)>>,
}

/// Names one scenario (its file and id), to tell whether a poll or a record belongs to it.
pub fn item_key(item: &Item) -> String {
    format!("{}|{}", item.source().label(), item.id())
}

impl Ui {
    pub fn new() -> Self {
        let projector = storage::get(Area::Local, storage::key::PROJECTOR).as_deref() == Some("1");
        let catalog_wanted = RwSignal::new_local((0, CatalogWanted::None));
        let catalog_loaded = LocalResource::new(move || {
            let (n, wanted) = catalog_wanted.get();
            async move { (n, wanted.load().await.map(|c| c.map(Arc::new))) }
        });
        Self {
            item: RwSignal::new(None),
            catalog_wanted,
            catalog_loaded,
            status: RwSignal::new(
                "Ready. Pick a scenario, check the model, then press Run.".into(),
            ),
            projector: RwSignal::new(projector),
            bench: RwSignal::new(storage::get(Area::Local, storage::key::VIEW).as_deref() == Some("bench")),
            poll: RwSignal::new(None),
        }
    }

    /// The class poll typed for `item`, if any.
    pub fn poll_for(&self, item: &Item) -> Option<ClassPoll> {
        let key = item_key(item);
        self.poll.with_untracked(|p| {
            p.as_ref()
                .filter(|(k, _)| *k == key)
                .map(|(_, p)| p.clone())
        })
    }

    /// Show `wanted` in the scenario list (loaded in the background).
    pub fn open_catalog(&self, wanted: CatalogWanted) {
        self.catalog_wanted.update(|(n, w)| {
            *n += 1;
            *w = wanted;
        });
    }

    /// The scenario list's file: loading until the newest request's load is in.
    pub fn catalog(&self) -> CatalogState {
        let (n, label, none) = self
            .catalog_wanted
            .with(|(n, w)| (*n, w.label(), matches!(w, CatalogWanted::None)));
        if none {
            return CatalogState::Empty;
        }
        match self.catalog_loaded.get() {
            Some((m, Ok(Some(c)))) if m == n => CatalogState::Ready(c),
            Some((m, Ok(None))) if m == n => CatalogState::Empty,
            Some((m, Err(e))) if m == n => CatalogState::Failed(e),
            _ => CatalogState::Loading(label),
        }
    }

    pub fn say(&self, message: impl Into<String>) {
        self.status.set(message.into());
    }

    /// Say each outcome of `action` on the status line as it comes.
    pub fn announce<I: 'static>(&self, action: Action<I, String>) {
        let ui = *self;
        Effect::new(move |_| {
            if let Some(message) = action.value().get() {
                ui.say(message);
            }
        });
    }

    /// Switch between one scenario and benchmark mode (remembered on this device).
    pub fn show_bench(&self, on: bool) {
        self.bench.set(on);
        let _ = storage::set(Area::Local, storage::key::VIEW, if on { "bench" } else { "single" });
    }

    pub fn toggle_projector(&self) {
        let on = !self.projector.get_untracked();
        self.projector.set(on);
        let _ = storage::set(Area::Local, storage::key::PROJECTOR, if on { "1" } else { "0" });
    }
}

pub fn ui() -> Ui {
    expect_context::<Ui>()
}
