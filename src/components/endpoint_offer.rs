//! The offer of a server that a link or the site's configuration suggests instead of the user's
//! own: shown with what it would change, applied only when the user accepts.

use crate::connection::conn;
use crate::state::ui;
use crate::suggestion;
use leptos::prelude::*;
use leptos::task::spawn_local;

#[component]
pub fn EndpointOffer() -> impl IntoView {
    let conn = conn();
    let ui = ui();
    move || {
        conn.offer.get().map(|s| {
            let url = s.cfg.base_url.clone().unwrap_or_else(|| "its preset's default server".into());
            let model = s.cfg.model.clone();
            let current = conn.base_url.get_untracked();
            view! {
                <div class="offer no-print" id="endpoint-offer" role="alert">
                    <p>
                        {s.source.label()} " suggests the model server " <code id="offer-url">{url}</code>
                        {model.map(|m| view! { " with the model " <code>{m}</code> })}
                        " — use it instead of yours (" <code>{current}</code> ")?"
                    </p>
                    <p class="small muted">
                        "Nothing changes until you accept. Keys are sent only to the server they were entered for: "
                        "a key you typed for your own server is never sent to a suggested one."
                    </p>
                    <div class="row">
                        <button type="button" id="accept-endpoint" on:click=move |_| {
                            ui.say("Using the suggested server.");
                            spawn_local(suggestion::accept(conn));
                        }>"Use this server"</button>
                        <button type="button" id="dismiss-endpoint" on:click=move |_| {
                            conn.offer.set(None);
                            ui.say("Kept your own server.");
                        }>"Keep mine"</button>
                    </div>
                </div>
            }
        })
    }
}
