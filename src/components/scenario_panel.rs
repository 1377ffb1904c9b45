//! Panel 1: load a shipped VITAL file (or write a scenario) and pick an item.

use crate::browser;
use crate::storage::{self, Area};
use crate::catalog::{Catalog, SHIPPED};
use crate::components::custom_item::CustomItem;
use crate::components::item_browser::ItemBrowser;
use crate::state::{ui, CatalogState};
use ethos_engine::{vital, Source};
use leptos::prelude::*;
use leptos::task::spawn_local;
use std::sync::Arc;

const CUSTOM: &str = "custom";
const DISK: &str = "disk";

/// Fetch and parse a shipped VITAL file (relative URL, so the app works under a sub-path).
async fn load_shipped(source: Source) -> Result<Catalog, String> {
    let name = source.file_name().ok_or("this source has no file")?;
    let text = browser::fetch_text(&format!("./vital/{name}"))
        .await
        .map_err(|e| e.to_string())?;
    let items = vital::load(&text, Some(source)).map_err(|e| format!("{name}: {e}"))?;
    Ok(Catalog::new(source, name.to_string(), items))
}

/// Choose what to run: a shipped VITAL file, a VITAL-format file from disk, or your own question.
#[component]
pub fn ScenarioPanel() -> impl IntoView {
    let ui = ui();
    let initial = storage::get(Area::Local, storage::key::LAST_FILE)
        .unwrap_or_else(|| "vital_distributional_moralchoice.json".into());
    let choice = RwSignal::new(initial);
    // Guards against a slow load overwriting a newer choice.
    let generation = StoredValue::new(0u32);

    let open = move |value: String| {
        let _ = storage::set(Area::Local, storage::key::LAST_FILE, &value);
        generation.update_value(|g| *g += 1);
        let my_gen = generation.get_value();
        let Some(source) = Source::from_file_name(&value) else {
            ui.catalog.set(CatalogState::Empty);
            return;
        };
        ui.catalog
            .set(CatalogState::Loading(source.label().to_string()));
        spawn_local(async move {
            let result = load_shipped(source).await;
            if generation.get_value() != my_gen {
                return;
            }
            match result {
                Ok(cat) => {
                    ui.say(format!(
                        "Loaded {} scenarios from {}.",
                        cat.items.len(),
                        source.label()
                    ));
                    ui.catalog.set(CatalogState::Ready(Arc::new(cat)));
                }
                Err(e) => {
                    ui.say(format!("Could not load the scenarios: {e}"));
                    ui.catalog.set(CatalogState::Failed(e));
                }
            }
        });
    };
    open(choice.get_untracked());

    // A user's own VITAL-format file, read from disk or fetched from a URL.
    let load_user_file = move |name: String,
                               text: StoredValue<Option<web_sys::File>, LocalStorage>,
                               url: Option<String>| {
        generation.update_value(|g| *g += 1);
        let my_gen = generation.get_value();
        ui.catalog.set(CatalogState::Loading(name.clone()));
        spawn_local(async move {
            let body = match (text.get_value(), url) {
                (Some(file), _) => browser::read_file(&file).await.map_err(|e| e.to_string()),
                (None, Some(url)) => browser::fetch_text(&url).await.map_err(|e| e.to_string()),
                (None, None) => Err("nothing to load".to_string()),
            };
            let result = body.and_then(|text| {
                let items = vital::load(&text, Source::from_file_name(&name))
                    .map_err(|e| format!("{name}: {e}"))?;
                let source = items
                    .first()
                    .map(|i| i.source())
                    .ok_or_else(|| format!("{name}: no records"))?;
                Ok(Catalog::new(source, name.clone(), items))
            });
            if generation.get_value() != my_gen {
                return;
            }
            match result {
                Ok(cat) => {
                    ui.say(format!(
                        "Loaded {} scenarios from {}.",
                        cat.items.len(),
                        name
                    ));
                    ui.catalog.set(CatalogState::Ready(Arc::new(cat)));
                }
                Err(e) => {
                    ui.say(format!("Could not load that file: {e}"));
                    ui.catalog.set(CatalogState::Failed(e));
                }
            }
        });
    };
    let on_disk_file = move |ev: leptos::ev::Event| {
        let Some(file) = browser::first_file(&ev) else {
            return;
        };
        browser::clear_file_input(&ev);
        let name = file.name();
        load_user_file(name, StoredValue::new_local(Some(file)), None);
    };
    let file_url = RwSignal::new(String::new());
    let on_url = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let url = file_url.get_untracked().trim().to_string();
        if url.is_empty() {
            ui.say("Type the address of a VITAL JSON file first.");
            return;
        }
        ui.say(format!("Loading {url}…"));
        let name = url.rsplit('/').next().unwrap_or(&url).to_string();
        load_user_file(name, StoredValue::new_local(None), Some(url));
    };

    view! {
        <div class="scenario-panel">
            <label for="file-select">"Scenarios"</label>
            <select
                id="file-select"
                prop:value=move || choice.get()
                on:change=move |ev| {
                    let v = event_target_value(&ev);
                    choice.set(v.clone());
                    open(v);
                }
            >
                {SHIPPED
                    .iter()
                    .map(|s| {
                        let file = s.file_name().unwrap_or_default();
                        view! { <option value=file selected=move || choice.get() == file>{s.label()}</option> }
                    })
                    .collect_view()}
                <option value=DISK selected=move || choice.get() == DISK>"A VITAL file from your computer…"</option>
                <option value=CUSTOM selected=move || choice.get() == CUSTOM>"Write your own question…"</option>
            </select>
            <Show when=move || choice.get() == DISK>
                <p>
                    <label for="vital-file">"VITAL JSON file (any of the five schemas)"</label>
                    <input id="vital-file" type="file" accept=".json,application/json" on:change=on_disk_file />
                </p>
                <form class="row" on:submit=on_url>
                    <label for="vital-url">"…or its URL (the server must allow this page to read it)"</label>
                    <input
                        id="vital-url"
                        type="text"
                        inputmode="url"
                        spellcheck="false"
                        placeholder="https://…/vital_steerable_valuekaleidoscope.json"
                        prop:value=move || file_url.get()
                        on:input=move |ev| file_url.set(event_target_value(&ev))
                    />
                    <button type="submit" id="vital-url-load">"Load"</button>
                </form>
            </Show>
            <Show when=move || choice.get() == CUSTOM fallback=|| view! { <ItemBrowser /> }>
                <CustomItem />
            </Show>
        </div>
    }
}
