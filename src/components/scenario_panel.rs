//! Panel 1: load a shipped VITAL file (or write a scenario) and pick an item.

use crate::browser;
use crate::storage::{self, Area};
use crate::catalog::{CatalogWanted, SHIPPED};
use crate::components::custom_item::CustomItem;
use crate::components::item_browser::ItemBrowser;
use crate::state::{ui, CatalogState};
use ethos_engine::Source;
use leptos::prelude::*;

const CUSTOM: &str = "custom";
const DISK: &str = "disk";

/// Choose what to run: a shipped VITAL file, a VITAL-format file from disk, or your own question.
#[component]
pub fn ScenarioPanel() -> impl IntoView {
    let ui = ui();
    let initial = storage::get(Area::Local, storage::key::LAST_FILE)
        .unwrap_or_else(|| "vital_distributional_moralchoice.json".into());
    let choice = RwSignal::new(initial);

    let open = move |value: String| {
        let _ = storage::set(Area::Local, storage::key::LAST_FILE, &value);
        ui.open_catalog(match Source::from_file_name(&value) {
            Some(source) => CatalogWanted::Shipped(source),
            None => CatalogWanted::None,
        });
    };
    open(choice.get_untracked());
    // Say once what each request's load gave.
    let said = StoredValue::new(0u32);
    Effect::new(move |_| {
        let n = ui.catalog_wanted.with(|(n, _)| *n);
        let state = ui.catalog();
        if said.get_value() == n {
            return;
        }
        let (name, shipped) = ui
            .catalog_wanted
            .with_untracked(|(_, w)| (w.label(), matches!(w, CatalogWanted::Shipped(_))));
        match state {
            CatalogState::Ready(cat) => {
                ui.say(format!("Loaded {} scenarios from {name}.", cat.items.len()))
            }
            CatalogState::Failed(e) if shipped => ui.say(format!("Could not load the scenarios: {e}")),
            CatalogState::Failed(e) => ui.say(format!("Could not load that file: {e}")),
            CatalogState::Empty | CatalogState::Loading(_) => return,
        }
        said.set_value(n);
    });

    let on_disk_file = move |ev: leptos::ev::Event| {
        let Some(file) = browser::first_file(&ev) else {
            return;
        };
        browser::clear_file_input(&ev);
        ui.open_catalog(CatalogWanted::Disk(file));
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
        ui.open_catalog(CatalogWanted::Url { name, url });
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
