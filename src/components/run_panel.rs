//! Panel 3: the selected scenario and its class poll, Run/Cancel, the run, keep and share.

use crate::components::class_poll::ClassPollPanel;
use crate::components::item_view::ItemView;
use crate::components::run_controls::RunControls;
use crate::components::run_view::RunView;
use crate::components::saved_runs::SavedRuns;
use crate::components::share_bar::ShareBar;
use leptos::prelude::*;

/// Panel 3: the selected scenario (and its class poll), Run/Cancel, the run, keep & share.
#[component]
pub fn RunPanel() -> impl IntoView {
    view! {
        <ItemView />
        <ClassPollPanel />
        <RunControls />
        <RunView />
        <ShareBar />
        <SavedRuns />
    }
}
