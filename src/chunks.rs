//! What the first paint leaves out: the parts of the page that are fetched on first use, and the
//! wasm chunk each goes to (see `deferred`). The scenario list, the header and the status line
//! stay in the shell.

use crate::batch::Batch;
use crate::components::bench_items::BenchItems;
use crate::components::bench_progress::BenchProgress;
use crate::components::bench_results::BenchResults;
use crate::components::bench_setup::BenchSetup;
use crate::components::bench_transfer::BenchTransfer;
use crate::components::compare_view::CompareView;
use crate::components::model_panel::ModelPanel;
use crate::components::run_panel::RunPanel;
use crate::components::settings_panel::SettingsPanel;
use crate::components::templates_editor::TemplatesEditor;
use crate::connection::Conn;
use crate::deferred::deferred;
use crate::session::Session;
use crate::state::Ui;
use leptos::prelude::*;
use std::future::Future;
use std::pin::Pin;

/// A task a chunk hands back to run in the shell's executor.
pub type Task = Pin<Box<dyn Future<Output = ()>>>;

deferred! { bench: pub fn bench_setup() -> AnyView {
    view! { <BenchSetup /> <BenchTransfer /> }.into_any()
} }

deferred! { bench: pub fn bench_progress() -> AnyView {
    view! { <BenchProgress /> <BenchResults /> <BenchItems /> }.into_any()
} }

deferred! { bench: pub fn restore_batch(batch: Batch, ui: Ui) -> Task {
    Box::pin(async move { batch.restore(ui).await })
} }

deferred! { run: pub fn run_panel() -> AnyView {
    view! { <RunPanel /> }.into_any()
} }

deferred! { model: pub fn model_panel() -> AnyView {
    view! { <ModelPanel /> <SettingsPanel /> <TemplatesEditor /> }.into_any()
} }

deferred! { compare: pub fn compare_view() -> AnyView {
    view! { <CompareView /> }.into_any()
} }

deferred! { run: pub fn open_page(session: Session, ui: Ui) -> Task {
    Box::pin(async move { session.open_page(ui).await })
} }

deferred! { run: pub fn load_saved_list(session: Session) -> Task {
    Box::pin(async move { session.load_saved_list().await })
} }

deferred! { model: pub fn load_embedded_default(conn: Conn) -> Task {
    Box::pin(crate::suggestion::load_embedded_default(conn))
} }
