//! Run / Cancel, the pre-run estimate, and the run's progress.

use crate::connection::conn;
use crate::settings::settings;
use ethos_engine::estimate::estimate;
use crate::session::{session, Op};
use crate::state::ui;
use ethos_engine::pipeline::Phase;
use leptos::prelude::*;

/// Run / Cancel, the pre-run estimate, and progress of the run on screen.
#[component]
pub fn RunControls() -> impl IntoView {
    let (ui, conn, session, settings) = (ui(), conn(), session(), settings());
    let est = move || {
        let item = ui.item.get()?;
        let e = settings.with(|s| estimate(&item, s));
        Some(format!(
            "This run makes about {} calls ({} one after another), roughly {} prompt tokens and at most {} output tokens.",
            e.calls, e.sequential, e.prompt_tokens, e.max_output_tokens
        ))
    };
    let needs_key = move || {
        conn.preset
            .with(|p| ethos_providers::preset(p).is_some_and(|p| p.needs_key))
            && conn.key.with(|k| k.trim().is_empty())
    };
    let progress = move || session.has_run().then(|| session.run.progress.get());
    view! {
        <div class="run-controls">
            <div class="row">
                <button
                    type="button"
                    id="run"
                    class="primary"
                    disabled=move || session.busy.get() || ui.item.with(|i| i.is_none())
                    on:click=move |_| session.start(Op::Full, ui, conn)
                >
                    "Run"
                </button>
                <button type="button" id="cancel" disabled=move || !session.busy.get() on:click=move |_| session.cancel()>
                    "Cancel"
                </button>
                <span class="muted small" id="phase">
                    {move || {
                        session.phase.get().map(|p| match p {
                            Phase::Perspectives => "stage 1 of 3",
                            Phase::Comments => "stage 2 of 3",
                            Phase::Combine => "stage 3 of 3",
                            Phase::Baseline => "baselines",
                            Phase::Judge => "judge",
                            Phase::Finished => "finished",
                        })
                    }}
                </span>
            </div>
            <p class="muted small" id="estimate">{est}</p>
            <Show when=needs_key>
                <p class="warning small">"This provider needs an API key (panel 2)."</p>
            </Show>
            <Show when=move || session.busy.get()>
                {move || {
                    progress()
                        .map(|(done, total)| {
                            view! {
                                <progress class="progress" max=total.max(1) value=done aria-label="Calls finished"></progress>
                            }
                        })
                }}
            </Show>
            {move || session.error.get().map(|e| view! { <p class="error" role="alert" id="run-error">{e}</p> })}
        </div>
    }
}
