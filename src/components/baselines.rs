//! The baselines (vanilla, prompting) on the run's item, side by side, on demand.

use crate::components::result_view::ResultBody;
use crate::connection::conn;
use crate::session::{session, Op};
use crate::state::ui;
use ethos_engine::record::RunStatus;
use leptos::prelude::*;

/// Vanilla and prompting baselines on the same item, side by side, on demand.
#[component]
pub fn Baselines() -> impl IntoView {
    let (ui, conn, session) = (ui(), conn(), session());
    let has_run = move || session.has_run();
    view! {
        <Show when=has_run>
            <section class="baselines-section" aria-labelledby="baselines-h">
                <h3 id="baselines-h">"Baselines"</h3>
                <button
                    type="button"
                    id="run-baselines"
                    class="no-print"
                    disabled=move || session.busy.get()
                    on:click=move |_| session.start(Op::Baselines, ui, conn)
                >
                    "Run vanilla and prompting baselines"
                </button>
                <div class="baselines">
                    <For
                        each=move || session.baselines.get()
                        key=|r| (r.method.label(), r.created_ms.to_bits(), r.calls.len(), r.result.is_some(), format!("{:?}", r.status))
                        let:r
                    >
                        <article class="card baseline" data-method=r.method.label()>
                            <h4>{r.method.label()}</h4>
                            {match &r.status {
                                RunStatus::Failed { message } => view! { <p class="error-text">{message.clone()}</p> }.into_any(),
                                RunStatus::Running => view! { <p class="muted">"Running…"</p> }.into_any(),
                                RunStatus::Cancelled => view! { <p class="muted">"Cancelled."</p> }.into_any(),
                                _ => ().into_any(),
                            }}
                            <ResultBody record=r.clone() />
                        </article>
                    </For>
                </div>
            </section>
        </Show>
    }
}
