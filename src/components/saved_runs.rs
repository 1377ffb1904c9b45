//! The runs saved on this device: open, compare, delete.

use crate::session::{session, Session};
use crate::state::ui;
use leptos::prelude::*;
use leptos::task::spawn_local;

/// Runs saved on this device (newest first). A corrupted entry is skipped with a notice.
#[component]
pub fn SavedRuns() -> impl IntoView {
    let (ui, session) = (ui(), session());
    let entries = session.saved;
    // Ticked for comparing (the last two ticked).
    let picked = RwSignal::new(Vec::<String>::new());
    let toggle = move |id: String, on: bool| {
        picked.update(|p| {
            p.retain(|x| *x != id);
            if on {
                p.push(id);
                if p.len() > 2 {
                    p.remove(0);
                }
            }
        })
    };
    let compare = move |_| {
        let ids = picked.get_untracked();
        spawn_local(async move {
            let mut runs = Vec::new();
            for id in &ids {
                if let Some(r) = Session::load_saved(id).await {
                    runs.push(r);
                }
            }
            match runs.as_slice() {
                [Ok(a), Ok(b)] => {
                    session.compare.set(Some((a.clone(), b.clone())));
                    ui.say("Comparing the two ticked runs.");
                    crate::browser::focus_later("compare");
                }
                _ => ui.say("Tick two saved runs to compare (one of them could not be read)."),
            }
        });
    };
    let bad = move || entries.with(|e| e.iter().filter(|(_, r)| r.is_err()).count());
    view! {
        <details class="saved" id="saved-runs" open>
            <summary>{move || format!("Saved runs on this device ({})", entries.with(|e| e.iter().filter(|(_, r)| r.is_ok()).count()))}</summary>
            <Show when=move || { bad() > 0 }>
                <p class="warning small" id="saved-notice">
                    {move || format!("{} saved run(s) could not be read (damaged or from an incompatible version) and were skipped.", bad())}
                </p>
            </Show>
            <ul class="saved-runs">
                <For
                    each={move || entries.get().into_iter().filter_map(|(id, r)| r.ok().map(|t| (id, t))).collect::<Vec<_>>()}
                    key={|(id, t): &(String, String)| (id.clone(), t.clone())}
                    children={move |entry: (String, String)| {
                        let (id, title) = entry;
                        let (open_id, del_id) = (id.clone(), id.clone());
                        let current = {
                            let id = id.clone();
                            move || session.id.with(|c| c.as_deref() == Some(id.as_str()))
                        };
                        view! {
                            <li class="saved-run" data-id=id.clone() class:current=current>
                                <input
                                    type="checkbox"
                                    class="compare-pick"
                                    id=format!("pick-{id}")
                                    prop:checked={
                                        let id = id.clone();
                                        move || picked.with(|p| p.contains(&id))
                                    }
                                    on:change={
                                        let id = id.clone();
                                        move |ev| toggle(id.clone(), event_target_checked(&ev))
                                    }
                                />
                                <label class="title" for=format!("pick-{id}")>{title}</label>
                                <button
                                    type="button"
                                    class="open-run"
                                    on:click=move |_| {
                                        let id = open_id.clone();
                                        spawn_local(async move {
                                            match Session::load_saved(&id).await {
                                                Some(Ok(r)) => {
                                                    let b = Session::saved_baselines(&id).await;
                                                    session.open(ui, r, b, id);
                                                    ui.say("Saved run opened.");
                                                }
                                                Some(Err(e)) => ui.say(format!("This saved run could not be read: {e}")),
                                                None => ui.say("This run is no longer saved on this device."),
                                            }
                                        });
                                    }
                                >
                                    "Open"
                                </button>
                                <button type="button" class="delete-run danger" on:click=move |_| session.delete_saved(&del_id)>
                                    "Delete"
                                </button>
                            </li>
                        }
                    }}
                />
            </ul>
            <p class="row">
                <button
                    type="button"
                    id="compare-open"
                    disabled=move || picked.with(|p| p.len() != 2)
                    on:click=compare
                >
                    "Compare the two ticked runs"
                </button>
                <span class="muted small">"Tick two runs (the same scenario with two models, two k, or a baseline)."</span>
            </p>
        </details>
    }
}
