//! The models kept in this browser (origin-private file system or Cache Storage): each with its
//! size (or how much of an interrupted download is kept) and its own Delete button.

use crate::connection::conn;
use crate::local_model::{kept_name, kept_size};
use crate::state::ui;
use ethos_local::protocol::CachedModel;
use leptos::prelude::*;

#[component]
pub fn KeptModels() -> impl IntoView {
    let ui = ui();
    let local = conn().local;
    // The list is read each time it is opened or closed, and again after each delete.
    let listing = Action::new_local(move |_: &()| local.kept());
    let deleting = Action::new_local(move |e: &CachedModel| local.delete_kept(e.key.clone(), e.bytes));
    ui.announce(deleting);
    Effect::new(move |_| {
        if deleting.version().get() > 0 {
            listing.dispatch_local(());
        }
    });
    let busy = move || listing.pending().get() || deleting.pending().get();
    view! {
        <details
            class="kept-models"
            id="kept-models"
            data-reads=move || listing.version().get().to_string()
            on:toggle=move |_| {
                listing.dispatch_local(());
            }
        >
            <summary>"Models kept in this browser"</summary>
            {move || match listing.value().get() {
                None => view! { <p class="muted small">"Reading…"</p> }.into_any(),
                Some(Err(e)) => view! { <p class="error small" role="alert">{e}</p> }.into_any(),
                Some(Ok(list)) if list.is_empty() => {
                    view! { <p class="muted small" id="kept-none">"No model is kept in this browser."</p> }.into_any()
                }
                Some(Ok(list)) => view! {
                    <ul class="kept-list">
                        {list
                            .into_iter()
                            .map(|e| {
                                let name = kept_name(&e.key);
                                let size = kept_size(e.bytes, e.complete);
                                let label = format!("Delete {name}");
                                let entry = e.clone();
                                view! {
                                    <li class="kept-model" data-complete=e.complete.to_string()>
                                        <span class="kept-name" title=e.key.clone()>{name}</span>
                                        " "
                                        <span class="muted small">{size}</span>
                                        " "
                                        <button
                                            type="button"
                                            class="danger small kept-delete"
                                            aria-label=label
                                            disabled=busy
                                            on:click=move |_| {
                                                deleting.dispatch_local(entry.clone());
                                            }
                                        >
                                            "Delete"
                                        </button>
                                    </li>
                                }
                            })
                            .collect_view()}
                    </ul>
                }
                .into_any(),
            }}
        </details>
    }
}
