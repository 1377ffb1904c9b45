use crate::state::ui;
use leptos::prelude::*;

/// What this is, where the data comes from, and the projector switch.
#[component]
pub fn Header() -> impl IntoView {
    let ui = ui();
    view! {
        <header class="app-header">
            <div class="brand">
                <h1>"EthosAgents"</h1>
                <p class="tagline">
                    "Pluralistic answers to health-ethics questions: a model invents contrasting "
                    "ethical perspectives, writes one comment from each, and combines them. "
                    "Runs in your browser against the model you choose."
                </p>
            </div>
            <nav class="header-actions no-print" aria-label="Page">
                <a href="#attribution">"Data & credits"</a>
                <button
                    type="button"
                    id="projector"
                    aria-pressed=move || ui.projector.get().to_string()
                    on:click=move |_| ui.toggle_projector()
                >
                    "Projector mode"
                </button>
            </nav>
        </header>
    }
}
