//! The run settings of panel 2 (k, decoding per stage, seed, distribution method, limits, the
//! model of each stage, prompt templates): one store, kept on this device, and its only writer.
//!
//! Two ways in, named by intent: [`Settings::edit`] is the user's change, applied and saved at
//! once; [`Settings::suggest`] is a change the user did not make (a page's server, a provider
//! preset's limit, what the in-tab model needs), applied in memory and saved with the user's
//! next edit ([`Settings::keep`] saves what is shown when the user adopts a suggestion).

use crate::storage::{self, Area};
use ethos_engine::settings::RunSettings;
use leptos::prelude::*;

#[derive(Clone, Copy)]
pub struct Settings {
    current: RwSignal<RunSettings>,
}

impl Settings {
    /// The settings saved on this device; a corrupted entry falls back to the defaults instead
    /// of blocking the app.
    pub fn load() -> Self {
        let saved: RunSettings = storage::get(Area::Local, storage::key::SETTINGS)
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
        Self {
            current: RwSignal::new(saved),
        }
    }

    /// Read the settings (tracked: a view that reads them follows them).
    pub fn with<O>(&self, f: impl FnOnce(&RunSettings) -> O) -> O {
        self.current.with(f)
    }

    pub fn with_untracked<O>(&self, f: impl FnOnce(&RunSettings) -> O) -> O {
        self.current.with_untracked(f)
    }

    /// A copy, as a run or a benchmark freezes them.
    pub fn get_untracked(&self) -> RunSettings {
        self.current.get_untracked()
    }

    /// The user's change: applied and kept on this device.
    pub fn edit(&self, f: impl FnOnce(&mut RunSettings)) {
        self.current.update(f);
        self.keep();
    }

    /// A change the user did not make: applied, saved only with their next edit.
    pub fn suggest(&self, f: impl FnOnce(&mut RunSettings)) {
        self.current.update(f);
    }

    /// Keep the settings as they are on this device.
    pub fn keep(&self) {
        if let Ok(t) = self.current.with_untracked(serde_json::to_string) {
            let _ = storage::set(Area::Local, storage::key::SETTINGS, &t);
        }
    }
}

pub fn settings() -> Settings {
    expect_context::<Settings>()
}
