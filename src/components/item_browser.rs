//! Panel 1's item list: filters, search and one page of the loaded file's items.

use crate::catalog::{attribute_label, Catalog};
use crate::state::{ui, CatalogState};
use ethos_engine::Item;
use leptos::prelude::*;
use std::sync::Arc;

const PAGE: usize = 20;

/// Filters, search and a paged list of the loaded file's items (only one page is rendered).
#[component]
pub fn ItemBrowser() -> impl IntoView {
    let ui = ui();
    let attribute = RwSignal::new(String::new());
    let query = RwSignal::new(String::new());
    let page = RwSignal::new(0usize);

    let catalog = Signal::derive(move || match ui.catalog() {
        CatalogState::Ready(c) => Some(c),
        _ => None,
    });
    // A new file resets the filters.
    Effect::new(move |_| {
        catalog.track();
        attribute.set(String::new());
        query.set(String::new());
        page.set(0);
    });
    let matches = Memo::new(move |_| {
        let (a, q) = (attribute.get(), query.get());
        catalog.with(|c| {
            c.as_ref()
                .map(|c| Arc::new(c.filter(&a, &q)))
                .unwrap_or_default()
        })
    });
    let pages = move || matches.with(|m| m.len().div_ceil(PAGE).max(1));
    let visible = move || {
        let Some(cat) = catalog.get() else {
            return Vec::new();
        };
        let p = page.get();
        matches.with(|m| {
            m.iter()
                .skip(p * PAGE)
                .take(PAGE)
                .filter_map(|&i| cat.items.get(i).cloned())
                .collect::<Vec<Item>>()
        })
    };
    // Mark the first frame that shows the scenario list (read by bench/app.rs).
    let marked = StoredValue::new(false);
    Effect::new(move |_| {
        if !marked.get_value() && matches.with(|m| !m.is_empty()) {
            marked.set_value(true);
            crate::browser::mark_after_paint("ethos:scenario-list");
        }
    });
    let state_view = move || match ui.catalog() {
        CatalogState::Loading(name) => {
            view! { <p class="muted" aria-busy="true">"Loading " {name} "…"</p> }.into_any()
        }
        CatalogState::Failed(e) => view! { <p class="error" role="alert">{e}</p> }.into_any(),
        _ => ().into_any(),
    };

    view! {
        <div class="item-browser">
            {state_view}
            <Show when=move || catalog.with(|c| c.is_some())>
                <div class="filters">
                    <Show when=move || catalog.with(|c| c.as_ref().is_some_and(|c| !c.attributes.is_empty()))>
                        <label>
                            {move || catalog.with(|c| c.as_ref().map(|c| c.attribute_name()).unwrap_or(""))}
                            <select
                                id="attr-filter"
                                prop:value=move || attribute.get()
                                on:change=move |ev| {
                                    attribute.set(event_target_value(&ev));
                                    page.set(0);
                                }
                            >
                                <option value="">"All"</option>
                                {move || attribute_options(catalog.get())}
                            </select>
                        </label>
                    </Show>
                    <label>
                        "Search"
                        <input
                            id="item-search"
                            type="search"
                            placeholder="words in the question"
                            prop:value=move || query.get()
                            on:input=move |ev| {
                                query.set(event_target_value(&ev));
                                page.set(0);
                            }
                        />
                    </label>
                </div>
                <p class="muted count" id="item-count">
                    {move || {
                        let n = matches.with(|m| m.len());
                        let total = catalog.with(|c| c.as_ref().map(|c| c.items.len()).unwrap_or(0));
                        if n == 0 {
                            format!("No scenario matches (of {total}).")
                        } else {
                            let from = page.get() * PAGE + 1;
                            let to = (from + PAGE - 1).min(n);
                            let name = catalog.with(|c| c.as_ref().map(|c| c.name.clone()).unwrap_or_default());
                            format!("Showing {from}–{to} of {n} in {name} ({total} in the file).")
                        }
                    }}
                </p>
                <ul class="item-list" aria-label="Scenarios">
                    <For each=visible key=|it: &Item| it.id().to_string() let:it>
                        <ItemRow item=it />
                    </For>
                </ul>
                <nav class="pager" aria-label="Pages">
                    <button type="button" id="page-prev" disabled=move || page.get() == 0 on:click=move |_| page.update(|p| *p = p.saturating_sub(1))>
                        "‹ Previous"
                    </button>
                    <span>{move || format!("Page {} of {}", page.get() + 1, pages())}</span>
                    <button
                        type="button"
                        id="page-next"
                        disabled={move || page.get() + 1 >= pages()}
                        on:click=move |_| {
                            let last = pages() - 1;
                            page.update(|p| *p = (*p + 1).min(last));
                        }
                    >
                        "Next ›"
                    </button>
                </nav>
            </Show>
        </div>
    }
}

fn attribute_options(catalog: Option<Arc<Catalog>>) -> impl IntoView {
    let Some(cat) = catalog else {
        return Vec::new();
    };
    cat.attributes
        .iter()
        .map(|(a, n)| {
            let label = format!("{} ({n})", attribute_label(cat.source, a));
            view! { <option value=a.clone()>{label}</option> }
        })
        .collect::<Vec<_>>()
}

#[component]
fn ItemRow(item: Item) -> impl IntoView {
    let ui = ui();
    let id = item.id().to_string();
    let title = crate::catalog::display_title(&item);
    let short: String = if title.chars().count() > 160 {
        format!("{}…", title.chars().take(160).collect::<String>())
    } else {
        title
    };
    let attr = item
        .attribute()
        .map(|a| attribute_label(item.source(), a))
        .unwrap_or_default();
    let key = id.clone();
    let source = item.source();
    let selected = move || {
        ui.item.with(|s| {
            s.as_ref()
                .is_some_and(|s| s.id().to_string() == key && s.source() == source)
        })
    };
    let pick = item.clone();
    view! {
        <li>
            <button
                type="button"
                class="item-row"
                data-id=id.clone()
                aria-pressed=move || selected().to_string()
                on:click=move |_| {
                    ui.item.set(Some(pick.clone()));
                    ui.say(format!("Selected scenario {}.", pick.id()));
                }
            >
                <span class="item-id">"#" {id.clone()}</span>
                <span class="item-title">{short}</span>
                <Show when={
                    let a = attr.clone();
                    move || !a.is_empty()
                }>
                    <span class="item-attr">{attr.clone()}</span>
                </Show>
            </button>
        </li>
    }
}
