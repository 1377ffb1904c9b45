//! The app's shared reactive state: plain data in signals, provided once through context.
//! Components read and write these; the work itself is done by the engine and providers.

use crate::browser::{self, Area};
use crate::catalog::Catalog;
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
}

const PROJECTOR_KEY: &str = "ethos.projector";
const VIEW_KEY: &str = "ethos.view";

impl Ui {
    pub fn new() -> Self {
        let projector = browser::get(Area::Local, PROJECTOR_KEY).as_deref() == Some("1");
        Self {
            item: RwSignal::new(None),
            catalog: RwSignal::new(CatalogState::Empty),
            status: RwSignal::new(
                "Ready. Pick a scenario, check the model, then press Run.".into(),
            ),
            projector: RwSignal::new(projector),
            bench: RwSignal::new(browser::get(Area::Local, VIEW_KEY).as_deref() == Some("bench")),
        }
    }

    pub fn say(&self, message: impl Into<String>) {
        self.status.set(message.into());
    }

    /// Switch between one scenario and benchmark mode (remembered on this device).
    pub fn show_bench(&self, on: bool) {
        self.bench.set(on);
        let _ = browser::set(Area::Local, VIEW_KEY, if on { "bench" } else { "single" });
    }

    pub fn toggle_projector(&self) {
        let on = !self.projector.get_untracked();
        self.projector.set(on);
        let _ = browser::set(Area::Local, PROJECTOR_KEY, if on { "1" } else { "0" });
    }
}

pub fn ui() -> Ui {
    expect_context::<Ui>()
}
