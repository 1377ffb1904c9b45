//! The in-tab model picker: the short catalog (name, size, licence, what it is good for, the
//! speed to expect here) or any GGUF URL or file.

use crate::browser;
use crate::connection::conn;
use crate::local_catalog::{by_id, by_url, CATALOG};
use crate::offline::{self, Isolation};
use leptos::prelude::*;

/// Threads the in-tab model gets on this page: one per core (at most 4) when the page is
/// cross-origin isolated, else one (the worker's own rule, js/worker.js).
fn threads_here() -> usize {
    match offline::isolation() {
        Isolation::ByHost | Isolation::ByServiceWorker => browser::window()
            .map(|w| w.navigator().hardware_concurrency())
            .filter(|n| n.is_finite() && *n >= 1.0)
            .map_or(1, |n| (n as usize).min(4)),
        Isolation::Possible | Isolation::Impossible => 1,
    }
}

#[component]
pub fn ModelPicker() -> impl IntoView {
    let local = conn().local;
    let threads = threads_here();
    let chosen = move || local.url.with(|u| by_url(u).map_or("other", |m| m.id));
    view! {
        <label for="local-model-pick">"Model to load in this tab"</label>
        <select
            id="local-model-pick"
            on:change=move |ev| {
                if let Some(m) = by_id(&event_target_value(&ev)) {
                    local.url.set(m.url.to_string());
                    local.save_url();
                }
            }
        >
            {CATALOG
                .iter()
                .map(|m| {
                    let id = m.id;
                    view! { <option value=id selected=move || chosen() == id>{m.name}</option> }
                })
                .collect_view()}
            <option value="other" selected=move || chosen() == "other">
                "Any GGUF file: its URL or a file from this computer (below)"
            </option>
        </select>
        <p class="note small" id="local-model-about">
            {move || {
                local.url.with(|u| {
                    by_url(u).map_or_else(
                        || "Any GGUF file: paste its URL (the host must allow CORS) or pick it below. Llama (with Llama 3's RoPE scaling), Qwen2/2.5, Qwen3 and Gemma 3 files with Q4_0, Q4_1, Q5_0, Q8_0, Q4_K, Q5_K or Q6_K weights run here; anything else is refused with its reason.".to_string(),
                        |m| m.describe(threads),
                    )
                })
            }}
        </p>
    }
}
