//! The app's shared reactive state: plain data in signals, provided once through context.
//! Components read and write these; the work itself is done by the engine and providers.

use crate::storage::{self, Area};
use crate::catalog::Catalog;
use ethos_engine::poll::ClassPoll;
use ethos_engine::Item;
use leptos::prelude::*;
use std::sync::Arc;

/// Loading state of the scenario file being browsed.
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
    pub catalog: RwSignal<CatalogState>,
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
        Self {
            item: RwSignal::new(None),
            catalog: RwSignal::new(CatalogState::Empty),
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

    pub fn say(&self, message: impl Into<String>) {
        self.status.set(message.into());
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
