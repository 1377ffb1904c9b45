//! The page header: what this is, where the data comes from, the projector switch.

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
                <div class="view-switch" role="group" aria-label="View">
                    <button type="button" id="view-single" aria-pressed=move || (!ui.bench.get()).to_string() on:click=move |_| ui.show_bench(false)>
                        "One scenario"
                    </button>
                    <button type="button" id="view-bench" aria-pressed=move || ui.bench.get().to_string() on:click=move |_| ui.show_bench(true)>
                        "Benchmark"
                    </button>
                </div>
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
