use crate::components::attribution::Attribution;
use crate::components::header::Header;
use crate::components::item_view::ItemView;
use crate::components::scenario_panel::ScenarioPanel;
use crate::components::status_line::StatusLine;
use crate::state::Ui;
use leptos::prelude::*;

/// The page: header, three panels (Scenario | Model & settings | Run), status line, credits.
#[component]
pub fn App() -> impl IntoView {
    let ui = Ui::new();
    provide_context(ui);
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
