//! The page: header, three panels (Scenario | Model & settings | Run), status line, credits.

use crate::batch::Batch;
use crate::chunks;
use crate::components::attribution::Attribution;
use crate::components::endpoint_offer::EndpointOffer;
use crate::components::header::Header;
use crate::components::offline_bar::UpdateOffer;
use crate::components::scenario_panel::ScenarioPanel;
use crate::components::status_line::StatusLine;
use crate::connection::Conn;
use crate::deferred::{deferred_view, run_deferred};
use crate::offline::Offline;
use crate::session::Session;
use crate::settings::Settings;
use crate::state::Ui;
use leptos::prelude::*;
use leptos::task::spawn_local;

/// The page: header, three panels (Scenario | Model & settings | Run), status line, credits.
///
/// Stable hooks for the end-to-end tests: `#file-select`, `.item-row[data-id]`, `#attr-filter`,
/// `#item-search`, `#item-count`, `#selected-item`, `#preset`, `#base-url`, `#api-key`,
/// `#remember-key`, `#remember-warning`, `#forget-keys`, `#test-connection`,
/// `#connection-report`, `#endpoint-offer` (`#offer-url`, `#accept-endpoint`,
/// `#dismiss-endpoint`), `#keep-endpoint`, `#key-origin`, `#model`, `#k`, `#concurrency`, `#max-*`/`#temp-*`, `#dist-method`
/// (select), `#run`, `#cancel`, `#estimate`, `#run-error`, `.perspective-card`,
/// `.comment-card[data-state=pending|streaming|done|error]` (`.retry` on failed ones),
/// `#rerun-dependents`, `#add-perspective`, `#regenerate`, `#result`, `#js-distance`, `#argmax`,
/// `#dist-method` (result label), `#selection`, `#overton-answer`, `#value-answer`, `#correct`,
/// `#judge`, `#coverage`, `#run-baselines`, `.baseline[data-method]`, `#inspector`, `#totals`,
/// `#export-json`, `#export-md`, `#export-csv`, `#import-file`, `#import-error`, `#share-link`,
/// `#share-url`, `#share-too-long`, `#share-json`, `#print`, `.saved-run[data-id]`, `#saved-notice`, `#status`, `#projector`,
/// `#update-offer` (`#update-reload`), `#offline-status[data-state][data-version]`
/// (`#offline-forget`, `#offline-keep`).
#[component]
pub fn App() -> impl IntoView {
    let ui = Ui::new();
    provide_context(ui);
    let settings = Settings::load();
    provide_context(settings);
    let conn = Conn::new(settings);
    provide_context(conn);
    spawn_local(run_deferred(ui, chunks::load_embedded_default(conn)));
    let session = Session::new(settings);
    provide_context(session);
    let batch = Batch::new();
    provide_context(batch);
    // The batch stored on this device comes back when benchmark mode is first shown (at start
    // if the page opens in it): until then its chunk is not fetched.
    let restored = StoredValue::new(false);
    Effect::new(move |_| {
        if ui.bench.get() && !restored.get_value() {
            restored.set_value(true);
            spawn_local(run_deferred(ui, chunks::restore_batch(batch, ui)));
        }
    });
    spawn_local(run_deferred(ui, chunks::load_saved_list(session)));
    // The service worker: the offline copy, and new builds offered (never forced).
    let offline = Offline::new();
    provide_context(offline);
    spawn_local(offline.start());
    // A share link wins; otherwise reopen the run that was on screen before a reload.
    spawn_local(run_deferred(ui, chunks::open_page(session, ui)));
    view! {
        <div class="app" class:projector=move || ui.projector.get()>
            // The skip link's target is the third panel of the view shown (a missing target
            // would leave keyboard users nowhere).
            <a class="skip-link" href=move || if ui.bench.get() { "#bench-panel" } else { "#run-panel" }>
                {move || if ui.bench.get() { "Skip to the benchmark's progress" } else { "Skip to the run" }}
            </a>
            <Header />
            <StatusLine />
            <UpdateOffer />
            <EndpointOffer />
            <Show when=move || session.compare.with(Option::is_some)>
                <main class="compare-main">
                    {deferred_view(chunks::compare_view)}
                </main>
            </Show>
            // Hidden, not removed, while comparing: the panels keep their state.
            <main class="panels" hidden=move || session.compare.with(Option::is_some)>
                <Show
                    when=move || ui.bench.get()
                    fallback=|| view! {
                        <section class="panel scenario" aria-labelledby="scenario-h">
                            <h2 id="scenario-h">"1. Scenario"</h2>
                            <ScenarioPanel />
                        </section>
                    }
                >
                    <section class="panel scenario" aria-labelledby="bench-setup-h">
                        <h2 id="bench-setup-h">"1. Benchmark"</h2>
                        {deferred_view(chunks::bench_setup)}
                    </section>
                </Show>
                <section class="panel model" aria-labelledby="model-h">
                    <h2 id="model-h">"2. Model & settings"</h2>
                    {deferred_view(chunks::model_panel)}
                </section>
                <Show
                    when=move || ui.bench.get()
                    fallback=move || view! {
                        <section class="panel run" id="run-panel" aria-labelledby="run-h" tabindex="-1" data-unsaved=move || session.unsaved.get() data-busy=move || session.busy.get().to_string()>
                            <h2 id="run-h">"3. Run"</h2>
                            {deferred_view(chunks::run_panel)}
                        </section>
                    }
                >
                    <section class="panel run" id="bench-panel" aria-labelledby="bench-h" tabindex="-1">
                        <h2 id="bench-h">"3. Progress & results"</h2>
                        {deferred_view(chunks::bench_progress)}
                    </section>
                </Show>
            </main>
            <Attribution />
        </div>
    }
}
