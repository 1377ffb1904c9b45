//! Keep and share a run: save, export (JSON, Markdown, CSV), import, print, share link.

use crate::browser;
use crate::session::session;
use crate::share;
use crate::state::ui;
use ethos_engine::record::RunRecord;
use leptos::prelude::*;
use leptos::task::spawn_local;

fn file_stem(r: &RunRecord) -> String {
    let id: String = r
        .item
        .id()
        .to_string()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    format!(
        "ethos-{}-{}",
        r.item
            .source()
            .file_name()
            .map(|f| f.trim_end_matches(".json"))
            .unwrap_or("custom"),
        id
    )
}

/// Largest run file accepted for import.
const MAX_IMPORT_BYTES: f64 = 16e6;

/// Export (JSON, Markdown, CSV), import, share link and print.
#[component]
pub fn ShareBar() -> impl IntoView {
    let (ui, session) = (ui(), session());
    let link = RwSignal::new(None::<Result<String, share::LinkError>>);
    let import_error = RwSignal::new(None::<String>);
    let export = move |kind: &'static str| {
        let Some(r) = session.with_record(RunRecord::clone) else {
            return;
        };
        let (name, mime, body) = match kind {
            "json" => (
                format!("{}.json", file_stem(&r)),
                "application/json",
                r.to_json(),
            ),
            "md" => (
                format!("{}.md", file_stem(&r)),
                "text/markdown",
                r.to_markdown(),
            ),
            _ => (format!("{}.csv", file_stem(&r)), "text/csv", r.to_csv()),
        };
        match browser::download(&name, mime, &body) {
            Ok(()) => ui.say(format!("Exported {name}.")),
            Err(e) => ui.say(e.to_string()),
        }
    };
    let on_import = move |ev: leptos::ev::Event| {
        let Some(file) = browser::first_file(&ev) else {
            return;
        };
        browser::clear_file_input(&ev);
        let name = file.name();
        // A run exported by this app is well under a megabyte; reading a huge file whole could
        // exhaust the tab's memory.
        if file.size() > MAX_IMPORT_BYTES {
            let msg = format!(
                "{name} could not be imported: it is too large ({:.0} MB; a run exported by this app is far smaller than {} MB).",
                file.size() / 1e6,
                MAX_IMPORT_BYTES / 1e6
            );
            import_error.set(Some(msg.clone()));
            ui.say(msg);
            return;
        }
        spawn_local(async move {
            let text = match browser::read_file(&file).await {
                Ok(t) => t,
                Err(e) => {
                    import_error.set(Some(e.to_string()));
                    return;
                }
            };
            match RunRecord::from_json(&text) {
                Ok(r) => {
                    import_error.set(None);
                    let id = crate::session::id_for(&r);
                    session.open(ui, r, Vec::new(), id);
                    ui.say(format!("Imported {name}."));
                }
                Err(e) => {
                    let msg = format!("{name} could not be imported: {e}");
                    import_error.set(Some(msg.clone()));
                    ui.say(msg);
                }
            }
        });
    };
    let make_link = move |_| {
        let Some(r) = session.with_record(RunRecord::clone) else {
            return;
        };
        let shared = share::Shared::run(r, session.baselines.get_untracked());
        link.set(None);
        spawn_local(async move {
            match share::link_for(&shared).await {
                Ok(url) => {
                    link.set(Some(Ok(url.clone())));
                    match browser::copy_text(&url).await {
                        Ok(()) => ui.say(
                            "Share link copied. It holds the settings and results, never your key.",
                        ),
                        Err(_) => ui.say(
                            "Share link ready below: copy it from the box. It never contains your key.",
                        ),
                    }
                }
                Err(e) => {
                    ui.say(e.to_string());
                    link.set(Some(Err(e)));
                }
            }
        });
    };
    let has = move || session.has_run();
    view! {
        <div class="share-box no-print">
            <div class="row">
                <button type="button" id="export-json" disabled=move || !has() on:click=move |_| export("json")>"Export JSON"</button>
                <button type="button" id="export-md" disabled=move || !has() on:click=move |_| export("md")>"Export Markdown"</button>
                <button type="button" id="export-csv" disabled=move || !has() on:click=move |_| export("csv")>"Export CSV"</button>
                <button type="button" id="share-link" disabled=move || !has() on:click=make_link>"Share link"</button>
                <button type="button" id="print" on:click=move |_| browser::print()>"Print handout"</button>
            </div>
            <label for="import-file">"Import a run (JSON exported by this app)"</label>
            <input id="import-file" type="file" accept=".json,application/json" on:change=on_import />
            {move || import_error.get().map(|e| view! { <p class="error" role="alert" id="import-error">{e}</p> })}
            {move || link.get().map(|made| match made {
                Ok(url) => view! {
                    <label for="share-url">"Share link (settings and results, no key)"</label>
                    <input id="share-url" type="text" readonly prop:value=url on:focus=move |ev| {
                        use wasm_bindgen::JsCast;
                        if let Some(i) = ev.target().and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok()) {
                            i.select();
                        }
                    } />
                }.into_any(),
                Err(e) => view! {
                    <p class="warning" id="share-too-long" role="alert">{e.to_string()}</p>
                    <button type="button" id="share-json" on:click=move |_| export("json")>"Save the run as JSON"</button>
                }.into_any(),
            })}
        </div>
    }
}
