//! Panel 2, the model: provider, base URL, key, connection test, model choice, the in-tab model.

use crate::components::kept_models::KeptModels;
use crate::components::model_picker::ModelPicker;
use crate::offline::{self, Isolation};
use crate::connection::{conn, LOCAL_PRESET, LOCAL_PRESET_LABEL};
use crate::settings::settings;
use crate::state::ui;
use ethos_providers::presets::{KEY_STORAGE_NOTE, SPEND_CAP_ADVICE};
use ethos_providers::{preset, PRESETS};
use leptos::prelude::*;
use leptos::task::spawn_local;

/// Provider, base URL, key, connection test and model choice (one for all stages or per stage).
#[component]
pub fn ModelPanel() -> impl IntoView {
    let conn = conn();
    let ui = ui();
    let current = move || conn.preset.with(|p| preset(p));
    let is_local = move || conn.preset.with(|p| p == LOCAL_PRESET);
    let settings = settings();
    let single = RwSignal::new(settings.with_untracked(|s| s.models.is_single()));
    // Test connection: list the models and probe the chosen one; its report goes to the status
    // line too.
    let testing = Action::new_local(move |_: &()| async move {
        conn.test(true).await;
        conn.report.get_untracked().map(|(_, m)| m).unwrap_or_default()
    });
    ui.announce(testing);

    let stage_field =
        move |id: &'static str,
              label: &'static str,
              get: fn(&ethos_engine::settings::StageModels) -> String,
              set: fn(&mut ethos_engine::settings::StageModels, String)| {
            view! {
                <label for=id>{label}</label>
                <input
                    id=id
                    type="text"
                    list="model-list"
                    autocomplete="off"
                    prop:value=move || settings.with(|s| get(&s.models))
                    on:change=move |ev| {
                        let v = event_target_value(&ev);
                        settings.edit(|s| set(&mut s.models, v.trim().to_string()));
                    }
                />
            }
        };

    view! {
        <div class="model-panel">
            <Show when=move || conn.embedded_note.with(|n| n.is_some())>
                <p class="note" id="embedded-note">{move || conn.embedded_note.get().unwrap_or_default()}</p>
                <Show when=move || conn.page_suggested.get()>
                    <p class="small">
                        "The server below was chosen by this page, not by you: it is used now but not saved on this device. "
                        <button type="button" id="keep-endpoint" on:click=move |_| conn.keep_page_endpoint()>"Keep it as mine"</button>
                    </p>
                </Show>
            </Show>
            <label for="preset">"Provider"</label>
            <select
                id="preset"
                prop:value=move || conn.preset.get()
                on:change=move |ev| conn.choose_preset(&event_target_value(&ev))
            >
                {PRESETS
                    .iter()
                    .map(|p| view! { <option value=p.id selected=move || conn.preset.get() == p.id>{p.label}</option> })
                    .collect_view()}
                <option value=LOCAL_PRESET selected=move || conn.preset.get() == LOCAL_PRESET>{LOCAL_PRESET_LABEL}</option>
            </select>
            <Show when=is_local>
                <LocalModelFields />
            </Show>
            <div class="http-provider" style:display=move || if is_local() { "none" } else { "" }>
            <p class="muted small">{move || current().map(|p| p.cors_note).unwrap_or("")}</p>

            <label for="base-url">"Base URL"</label>
            <input
                id="base-url"
                type="url"
                autocomplete="off"
                spellcheck="false"
                prop:value=move || conn.base_url.get()
                on:change=move |ev| conn.set_base_url(&event_target_value(&ev))
            />

            <label for="api-key">
                "API key"
                {move || if current().is_some_and(|p| !p.needs_key) { " (not needed for this server)" } else { "" }}
            </label>
            <input
                id="api-key"
                type="password"
                autocomplete="off"
                spellcheck="false"
                prop:value=move || conn.key.get()
                on:input=move |ev| conn.set_key(&event_target_value(&ev))
            />
            <p class="muted small" id="key-origin">
                {move || match crate::keys::origin_of(&conn.base_url.get()) {
                    Some(o) => format!("The key is sent only to {o}; each server has its own key field."),
                    None => "Enter a valid http(s) base URL: no key is sent without one.".to_string(),
                }}
            </p>
            <p class="muted small">
                {KEY_STORAGE_NOTE} " " {SPEND_CAP_ADVICE}
                {move || {
                    current()
                        .filter(|p| !p.key_page.is_empty())
                        .map(|p| view! { " " <a href=p.key_page target="_blank" rel="noopener noreferrer">"Get a key"</a> })
                }}
            </p>
            <label class="inline">
                <input
                    type="checkbox"
                    id="remember-key"
                    prop:checked=move || conn.remember.get()
                    on:change=move |ev| conn.set_remember(event_target_checked(&ev))
                />
                "Remember the key on this device"
            </label>
            <Show when=move || conn.remember.get()>
                <p class="warning small" id="remember-warning">
                    "The key will be stored unencrypted in this browser's local storage: anyone using this browser profile, "
                    "and any script running on this site, can read it. Use a spend-capped key, and press Forget keys on shared computers."
                </p>
            </Show>
            <div class="row">
                <button
                    type="button"
                    id="test-connection"
                    disabled=move || testing.pending().get()
                    on:click=move |_| {
                        ui.say("Testing the connection…");
                        testing.dispatch_local(());
                    }
                >
                    {move || if testing.pending().get() { "Testing…" } else { "Test connection" }}
                </button>
                <button
                    type="button"
                    id="forget-keys"
                    class="danger"
                    on:click=move |_| {
                        conn.forget_keys();
                        ui.say("All keys forgotten (memory and this device).");
                    }
                >
                    "Forget keys"
                </button>
            </div>
            {move || {
                conn.report
                    .get()
                    .map(|(ok, msg)| {
                        view! {
                            <p id="connection-report" class=if ok { "ok" } else { "error" }>
                                {msg.clone()}
                                {(!ok)
                                    .then(|| current().map(|p| p.cors_fix).filter(|f| !f.is_empty() && !msg.contains(*f)))
                                    .flatten()
                                    .map(|f| view! { <br /><span class="small">"If it is a CORS problem: " {f}</span> })}
                            </p>
                        }
                    })
            }}

            </div>

            <datalist id="model-list">
                {move || conn.models.get().into_iter().map(|m| view! { <option value=m></option> }).collect_view()}
            </datalist>
            <label for="model">"Model"</label>
            <input
                id="model"
                type="text"
                list="model-list"
                autocomplete="off"
                spellcheck="false"
                placeholder="e.g. gpt-4o-mini"
                prop:value=move || settings.with(|s| s.models.combine.clone())
                on:change=move |ev| {
                    let v = event_target_value(&ev);
                    if single.get_untracked() {
                        conn.set_model_all(&v);
                    } else {
                        settings.edit(|s| s.models.combine = v.trim().to_string());
                    }
                }
            />
            <label class="inline">
                <input
                    type="checkbox"
                    id="single-model"
                    prop:checked=move || single.get()
                    on:change=move |ev| {
                        let on = event_target_checked(&ev);
                        single.set(on);
                        if on {
                            let m = conn.model();
                            conn.set_model_all(&m);
                        }
                    }
                />
                "One model for all stages"
            </label>
            <Show when=move || !single.get()>
                <fieldset class="stage-models">
                    <legend>"Model per stage (the field above is the combine model)"</legend>
                    {stage_field("model-perspectives", "Stage 1: perspectives", |m| m.perspectives.clone(), |m, v| m.perspectives = v)}
                    {stage_field("model-comments", "Stage 2: comments", |m| m.comments.clone(), |m, v| m.comments = v)}
                    {stage_field("model-judge", "Coverage judge (empty: the combine model)", |m| m.judge.clone().unwrap_or_default(), |m, v| m.judge = (!v.is_empty()).then_some(v))}
                </fieldset>
            </Show>
        </div>
    }
}

/// The "In this browser" provider: GGUF URL or file, load with progress, delete the cached copy.
#[component]
fn LocalModelFields() -> impl IntoView {
    let conn = conn();
    let ui = ui();
    let local = conn.local;
    spawn_local(local.check_default());
    // Loading a model (from the URL field or a picked file) and deleting the cached copies are
    // this panel's actions: while either is pending, both buttons and the file field wait. The
    // status line shows progress; the outcome is also announced.
    let loading = Action::new_local(move |file: &Option<web_sys::File>| local.load(conn, file.clone()));
    let deleting = Action::new_local(move |_: &()| local.delete_cached());
    let busy = move || loading.pending().get() || deleting.pending().get();
    ui.announce(loading);
    ui.announce(deleting);
    view! {
        <div class="local-model">
            <p class="note small" id="local-model-note">
                "The model runs inside this tab (a Web Worker): no key, nothing leaves your browser. "
                "It is tiny, so it is for trying the whole flow, not for judging EthosAgents: its "
                "answers say little about the method. Use a capable model for that."
            </p>
            <Cores />
            <ModelPicker />
            <label for="local-model-url">"Model file URL (GGUF)"</label>
            <input
                id="local-model-url"
                type="text"
                autocomplete="off"
                spellcheck="false"
                prop:value=move || local.url.get()
                on:change=move |ev| {
                    local.url.set(event_target_value(&ev).trim().to_string());
                    local.save_url();
                }
            />
            <label for="local-model-file">"…or pick a GGUF file from this computer"</label>
            <input
                id="local-model-file"
                type="file"
                accept=".gguf"
                disabled=busy
                on:change=move |ev| {
                    use wasm_bindgen::JsCast;
                    let file = ev
                        .target()
                        .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
                        .and_then(|i| i.files())
                        .and_then(|f| f.get(0));
                    if let Some(file) = file {
                        ui.say("Loading the picked model file…");
                        loading.dispatch_local(Some(file));
                    }
                }
            />
            <div class="row">
                <button
                    type="button"
                    id="local-load"
                    disabled=busy
                    on:click=move |_| {
                        ui.say("Loading the in-browser model…");
                        loading.dispatch_local(None);
                    }
                >
                    {move || if busy() { "Working…" } else { "Load model" }}
                </button>
                <button
                    type="button"
                    id="local-delete-cache"
                    class="danger"
                    disabled=busy
                    on:click=move |_| {
                        deleting.dispatch_local(());
                    }
                >
                    "Delete cached model"
                </button>
            </div>
            {move || {
                local.status.get().map(|(ok, msg)| {
                    view! { <p id="local-status" class=if ok { "ok" } else { "error" } data-loaded=move || local.loaded.get().is_some().to_string()>{msg}</p> }
                })
            }}
            <KeptModels />
        </div>
    }
}

/// Whether the in-tab model can use every core (cross-origin isolation), and the switch that
/// installs the header-adding service worker on hosts that do not send the headers themselves.
#[component]
fn Cores() -> impl IntoView {
    let isolation = offline::isolation();
    let error = RwSignal::new(None::<String>);
    let switch = move |on: bool| {
        spawn_local(async move {
            let result = if on {
                offline::enable_isolation().await
            } else {
                offline::disable_isolation().await
            };
            if let Err(e) = result {
                error.set(Some(format!("Could not change it: {e}.")));
            }
        })
    };
    let body = match isolation {
        Isolation::ByHost | Isolation::Impossible => None,
        Isolation::ByServiceWorker => Some(view! {
            <p class="note small" id="cores-note" data-isolation="service-worker">
                "The model uses every core: the app's service worker adds the headers this host does not send. "
                <button type="button" id="coi-disable" class="link" on:click=move |_| switch(false)>"Stop using it"</button>
                " (reloads the page)."
            </p>
        }.into_any()),
        Isolation::Possible => Some(view! {
            <p class="note small" id="cores-note" data-isolation="none">
                "This host does not send the headers that let the model use every core, so it runs on one (slower). "
                <button type="button" id="coi-enable" on:click=move |_| switch(true)>"Use every core"</button>
                " has the app's service worker add them, and reloads the page once; your runs are kept."
            </p>
        }.into_any()),
    };
    view! {
        {body}
        {move || error.get().map(|e| view! { <p class="error small" role="alert">{e}</p> })}
    }
}
