//! The prompt templates, editable, with their placeholders and a reset.

use crate::settings::settings;
use ethos_engine::template::TEMPLATE_SPECS;
use leptos::prelude::*;

/// Every prompt template, editable, with its placeholders and a reset to the default wording.
#[component]
pub fn TemplatesEditor() -> impl IntoView {
    let settings = settings();
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
                                {move || if settings.with(|s| s.templates.is_default(name)) { "" } else { " (edited)" }}
                            </label>
                            <p class="muted small">{name} ": " {placeholders}</p>
                            <textarea
                                id=id
                                rows="5"
                                spellcheck="false"
                                prop:value=move || settings.with(|s| s.templates.get(name).unwrap_or("").to_string())
                                on:change=move |ev| {
                                    let text = event_target_value(&ev);
                                    // Checked on a copy: a refused template changes nothing.
                                    let mut next = settings.get_untracked();
                                    match next.templates.set(name, &text) {
                                        Ok(()) => {
                                            error.set(None);
                                            settings.edit(|s| *s = next);
                                        }
                                        Err(e) => error.set(Some(e.to_string())),
                                    }
                                }
                            ></textarea>
                            {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
                            <button
                                type="button"
                                class="small"
                                disabled=move || settings.with(|s| s.templates.is_default(name))
                                on:click=move |_| {
                                    settings.edit(|s| {
                                        let _ = s.templates.reset(name);
                                    });
                                    error.set(None);
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
