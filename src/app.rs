use crate::components::attribution::Attribution;
use crate::components::header::Header;
use crate::components::item_view::ItemView;
use crate::components::scenario_panel::ScenarioPanel;
use crate::components::status_line::StatusLine;
use crate::components::model_panel::ModelPanel;
use crate::components::settings_panel::SettingsPanel;
use crate::components::templates_editor::TemplatesEditor;
use crate::connection::{load_embedded_default, Conn};
use crate::state::Ui;
use leptos::task::spawn_local;
use leptos::prelude::*;

/// The page: header, three panels (Scenario | Model & settings | Run), status line, credits.
#[component]
pub fn App() -> impl IntoView {
    let ui = Ui::new();
    provide_context(ui);
    let conn = Conn::new();
    provide_context(conn);
    spawn_local(load_embedded_default(conn));
    view! {
        <div class="app" class:projector=move || ui.projector.get()>
            <a class="skip-link" href="#run-panel">"Skip to the run"</a>
            <Header />
            <StatusLine />
            <main class="panels">
                <section class="panel scenario" aria-labelledby="scenario-h">
                    <h2 id="scenario-h">"1. Scenario"</h2>
                    <ScenarioPanel />
                </section>
                <section class="panel model" aria-labelledby="model-h">
                    <h2 id="model-h">"2. Model & settings"</h2>
                    <ModelPanel />
                    <SettingsPanel />
                    <TemplatesEditor />
                </section>
                <section class="panel run" id="run-panel" aria-labelledby="run-h" tabindex="-1">
                    <h2 id="run-h">"3. Run"</h2>
                    <ItemView />
                </section>
            </main>
            <Attribution />
        </div>
    }
}
