use crate::session::{session, Session};
use crate::state::ui;
use leptos::prelude::*;

/// Runs saved on this device (newest first). A corrupted entry is skipped with a notice.
#[component]
pub fn SavedRuns() -> impl IntoView {
    let (ui, session) = (ui(), session());
    let entries = Memo::new(move |_| {
        session.saved_version.track();
        Session::saved_lines()
    });
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
                                <span class="title">{title}</span>
                                <button
                                    type="button"
                                    class="open-run"
                                    on:click=move |_| {
                                        if let Some(Ok(r)) = Session::load_saved(&open_id) {
                                            session.open(ui, r, Session::saved_baselines(&open_id), open_id.clone());
                                            ui.say("Saved run opened.");
                                        }
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
        </details>
    }
}
