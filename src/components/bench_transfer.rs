//! Benchmark panel 1, bottom: move a batch's whole state between this browser, another one and
//! `ethos run` (Export state / Import state).

use crate::batch::{batch, BatchState, ImportError};
use crate::browser;
use crate::state::ui;
use leptos::prelude::*;
use leptos::task::spawn_local;

/// A whole-file batch state is tens of MB; a file far beyond that is not one (and reading it
/// whole could exhaust the tab's memory).
const MAX_STATE_BYTES: f64 = 200e6;

/// Export state / Import state, and what an import did.
///
/// Hooks: `#bench-export-state`, `#bench-import-state` (file input), `#bench-import-note`
/// (what was added), `#bench-import-error`, `#bench-import-replace` (shown when the file is
/// another batch and this device's batch has results).
#[component]
pub fn BenchTransfer() -> impl IntoView {
    let (ui, batch) = (ui(), batch());
    let note = RwSignal::new(None::<String>);
    let error = RwSignal::new(None::<String>);
    // A file that would replace this device's batch, kept until the user says Replace.
    let waiting = StoredValue::new_local(None::<(String, String)>);
    let can_replace = RwSignal::new(false);

    let import = move |name: String, text: String, replace: bool| {
        spawn_local(async move {
            match batch.import_state(&text, replace).await {
                Ok(done) => {
                    waiting.set_value(None);
                    can_replace.set(false);
                    error.set(None);
                    let msg = format!("{name}: {done}");
                    ui.say(msg.clone());
                    note.set(Some(msg));
                }
                Err(e) => {
                    let would_replace = matches!(e, ImportError::WouldReplace(..));
                    waiting.set_value(would_replace.then(|| (name.clone(), text)));
                    can_replace.set(would_replace);
                    note.set(None);
                    let msg = format!("{name}: {e}");
                    ui.say(msg.clone());
                    error.set(Some(msg));
                }
            }
        });
    };
    let on_file = move |ev: leptos::ev::Event| {
        let Some(file) = browser::first_file(&ev) else {
            return;
        };
        browser::clear_file_input(&ev);
        let name = file.name();
        if file.size() > MAX_STATE_BYTES {
            error.set(Some(format!(
                "{name} is too large to be a batch state ({:.0} MB; a whole VITAL file's state is far smaller than {:.0} MB).",
                file.size() / 1e6,
                MAX_STATE_BYTES / 1e6
            )));
            return;
        }
        spawn_local(async move {
            match browser::read_file(&file).await {
                Ok(text) => import(name, text, false),
                Err(e) => error.set(Some(format!("{name} could not be read: {e}"))),
            }
        });
    };
    let replace = move |_| {
        if let Some((name, text)) = waiting.get_value() {
            import(name, text, true);
        }
    };
    let export = move |_| match batch.export_state() {
        Ok(json) => {
            let name = format!("{}.state.json", batch.stem());
            match browser::download(&name, "application/json", &(json + "\n")) {
                Ok(()) => ui.say(format!("Exported the benchmark's state as {name}.")),
                Err(e) => ui.say(format!("Could not export the state: {e}")),
            }
        }
        Err(e) => ui.say(format!("Could not export the state: {e}")),
    };
    let has_batch = move || !matches!(batch.state.get(), BatchState::Empty | BatchState::Loading);
    let busy = move || matches!(batch.state.get(), BatchState::Running | BatchState::Loading);
    view! {
        <details class="bench-transfer" id="bench-transfer">
            <summary>"Move this benchmark (to another browser or to "<code>"ethos run"</code>")"</summary>
            <p class="muted small">
                "The state holds what the benchmark is and everything that finished. Imported here or by "
                <code>"ethos run --state-import FILE --file VITAL_FILE --provider … --base-url …"</code>
                ", the benchmark goes on without making a finished call again. It holds no key."
            </p>
            <div class="row">
                <button type="button" id="bench-export-state" disabled=move || !has_batch() on:click=export>
                    "Export state"
                </button>
                <label for="bench-import-state">"Import state"</label>
                <input id="bench-import-state" type="file" accept=".json,application/json" disabled=busy on:change=on_file />
            </div>
            {move || note.get().map(|n| view! { <p class="small" role="status" id="bench-import-note">{n}</p> })}
            {move || error.get().map(|e| view! { <p class="error small" role="alert" id="bench-import-error">{e}</p> })}
            {move || can_replace.get().then(|| view! {
                <button type="button" id="bench-import-replace" class="danger" on:click=replace>
                    "Replace the benchmark on this device"
                </button>
            })}
        </details>
    }
}
