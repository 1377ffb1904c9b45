//! The offline copy's notices: a new version is ready, and the offline state.

use crate::batch::batch;
use crate::offline::{offline, OfflineState};
use crate::session::session;
use crate::state::ui;
use leptos::prelude::*;
use leptos::task::spawn_local;

/// "A new version is ready — Reload": shown when a new build of the app has been installed
/// beside the one on screen. Nothing reloads until the user presses the button; a run or
/// benchmark in progress is named first, since reloading stops it.
#[component]
pub fn UpdateOffer() -> impl IntoView {
    let (offline, session, batch) = (offline(), session(), batch());
    let busy = move || session.busy.get() || batch.is_running();
    view! {
        <Show when=move || offline.update.get()>
            <div id="update-offer" class="note update-offer no-print" role="status">
                "A new version of this app is ready — "
                <button type="button" id="update-reload" on:click=move |_| spawn_local(offline.apply_update())>
                    "Reload to use it"
                </button>
                {move || busy().then(|| view! {
                    <span class="small" id="update-busy">
                        " A run is in progress: reloading stops it (what finished is kept). You can reload when it is done."
                    </span>
                })}
            </div>
        </Show>
    }
}

/// The offline copy in the footer: its state, and the switch to remove it (or keep it again).
#[component]
pub fn OfflineNote() -> impl IntoView {
    let (offline, ui) = (offline(), ui());
    let state = move || offline.state.get();
    let name = move || match state() {
        OfflineState::Unavailable(_) => "unavailable",
        OfflineState::Off => "off",
        OfflineState::Preparing => "preparing",
        OfflineState::Ready(_) => "ready",
        OfflineState::Failed(_) => "failed",
    };
    let version = move || match state() {
        OfflineState::Ready(v) => v,
        _ => String::new(),
    };
    let forget = move |_| {
        spawn_local(async move {
            match offline.forget().await {
                Ok(()) => ui.say("The offline copy of this app is removed. Saved runs and cached models stay."),
                Err(e) => ui.say(format!("Could not remove the offline copy: {e}")),
            }
        })
    };
    let keep = move |_| {
        ui.say("Keeping a copy of this app for offline use…");
        spawn_local(offline.keep());
    };
    view! {
        <p id="offline-status" class="small" data-state=name data-version=version>
            {move || match state() {
                OfflineState::Ready(v) => view! {
                    {format!("Works offline: this browser keeps the app and the VITAL files (version {v}), and the in-tab model once loaded. ")}
                    <button type="button" id="offline-forget" class="link" on:click=forget>"Remove the offline copy"</button>
                }.into_any(),
                OfflineState::Preparing => view! { "Keeping a copy of this app for offline use…" }.into_any(),
                OfflineState::Off => view! {
                    "No offline copy is kept in this browser. "
                    <button type="button" id="offline-keep" class="link" on:click=keep>"Keep one for offline use"</button>
                }.into_any(),
                OfflineState::Unavailable(why) => view! { {format!("Offline use is not available: {why}.")} }.into_any(),
                OfflineState::Failed(why) => view! { {format!("No offline copy could be kept: {why}.")} }.into_any(),
            }}
        </p>
    }
}
