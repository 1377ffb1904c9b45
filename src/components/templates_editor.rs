//! The prompt templates, editable, with their placeholders and a reset.

use crate::connection::conn;
use ethos_engine::template::TEMPLATE_SPECS;
use leptos::prelude::*;

/// Every prompt template, editable, with its placeholders and a reset to the default wording.
#[component]
pub fn TemplatesEditor() -> impl IntoView {
    let conn = conn();
    view! {
        <details class="template-editor" id="templates">
            <summary>"Prompt templates"</summary>
            <p class="muted small">
                "Placeholders in braces are filled in for each call; write {{ and }} for literal braces. "
                "Every rendered prompt is kept in the run record (see Inspector)."
            </p>
            {TEMPLATE_SPECS
                .iter()
                .map(|spec| {
                    let name = spec.name;
                    let id = format!("tpl-{name}");
                    let error = RwSignal::new(None::<String>);
                    let placeholders = if spec.placeholders.is_empty() {
                        "no placeholders".to_string()
                    } else {
                        spec.placeholders.iter().map(|p| format!("{{{p}}}")).collect::<Vec<_>>().join(" ")
                    };
                    view! {
                        <div class="template">
                            <label for=id.clone()>
                                {spec.description}
                                {move || if conn.settings.with(|s| s.templates.is_default(name)) { "" } else { " (edited)" }}
                            </label>
                            <p class="muted small">{name} ": " {placeholders}</p>
                            <textarea
                                id=id
                                rows="5"
                                spellcheck="false"
                                prop:value=move || conn.settings.with(|s| s.templates.get(name).unwrap_or("").to_string())
                                on:change=move |ev| {
                                    let text = event_target_value(&ev);
                                    let mut result = Ok(());
                                    conn.settings.update(|s| result = s.templates.set(name, &text));
                                    match result {
                                        Ok(()) => {
                                            error.set(None);
                                            conn.save();
                                        }
                                        Err(e) => error.set(Some(e.to_string())),
                                    }
                                }
                            ></textarea>
                            {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
                            <button
                                type="button"
                                class="small"
                                disabled=move || conn.settings.with(|s| s.templates.is_default(name))
                                on:click=move |_| {
                                    conn.settings.update(|s| {
                                        let _ = s.templates.reset(name);
                                    });
                                    error.set(None);
                                    conn.save();
                                }
                            >
                                "Reset to default"
                            </button>
                        </div>
                    }
                })
                .collect_view()}
        </details>
    }
}
