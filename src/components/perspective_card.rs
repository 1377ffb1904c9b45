//! One perspective card: name and five dimensions, edit, regenerate, remove.

use crate::connection::conn;
use crate::session::{session, Op};
use crate::state::ui;
use ethos_engine::persona::Perspective;
use leptos::prelude::*;

/// One perspective: name and five dimensions, editable; regenerate (one new stage-1 call for
/// this card, then its comment and the combined answer); remove.
#[component]
pub fn PerspectiveCard(index: usize, perspective: Perspective) -> impl IntoView {
    let (ui, conn, session) = (ui(), conn(), session());
    // A new, empty perspective opens in edit mode.
    let editing = RwSignal::new(perspective.name.trim().is_empty());
    let draft = RwSignal::new(perspective.clone());
    let field = move |label: &'static str,
                      get: fn(&Perspective) -> String,
                      set: fn(&mut Perspective, String)| {
        view! {
            <label>
                {label}
                <input
                    type="text"
                    prop:value=move || draft.with(get)
                    on:input=move |ev| {
                        let v = event_target_value(&ev);
                        draft.update(|p| set(p, v));
                    }
                />
            </label>
        }
    };
    let p = perspective.clone();
    view! {
        <li class="card perspective-card" data-index=index>
            <Show
                when=move || editing.get()
                fallback=move || {
                    let p = p.clone();
                    view! {
                        <h4>{format!("{}. ", index + 1)} <span class="llm-text">{p.name.clone()}</span></h4>
                        <dl>
                            <dt>"Core value"</dt>
                            <dd class="llm-text">{p.core_value.clone()}</dd>
                            <dt>"Framework"</dt>
                            <dd class="llm-text">{p.framework.clone()}</dd>
                            <dt>"Right / duty"</dt>
                            <dd class="llm-text">{p.right_duty.clone()}</dd>
                            <dt>"Emotion"</dt>
                            <dd class="llm-text">{p.emotion.clone()}</dd>
                            <dt>"Stakeholder"</dt>
                            <dd class="llm-text">{p.stakeholder.clone()}</dd>
                        </dl>
                        <div class="row no-print">
                            <button type="button" class="edit-perspective" disabled=move || session.busy.get() on:click=move |_| editing.set(true)>
                                "Edit"
                            </button>
                            <button
                                type="button"
                                class="regenerate-perspective"
                                aria-label=format!("Regenerate perspective {}", index + 1)
                                title="Ask the model for a new perspective in place of this one, then rewrite its comment and the combined answer"
                                disabled=move || session.busy.get()
                                on:click=move |_| session.start(Op::RegenerateOne(index), ui, conn)
                            >
                                "Regenerate"
                            </button>
                            <button
                                type="button"
                                class="remove-perspective danger"
                                disabled=move || session.busy.get()
                                on:click=move |_| session.edit(|r| r.remove_perspective(index))
                            >
                                "Remove"
                            </button>
                        </div>
                    }
                }
            >
                {field("Name", |p| p.name.clone(), |p, v| p.name = v)}
                {field("Core value", |p| p.core_value.clone(), |p, v| p.core_value = v)}
                {field("Ethical framework", |p| p.framework.clone(), |p, v| p.framework = v)}
                {field("Right or duty", |p| p.right_duty.clone(), |p, v| p.right_duty = v)}
                {field("Emotion", |p| p.emotion.clone(), |p, v| p.emotion = v)}
                {field("Stakeholder", |p| p.stakeholder.clone(), |p, v| p.stakeholder = v)}
                <div class="row">
                    <button
                        type="button"
                        class="primary save-perspective"
                        on:click=move |_| {
                            let p = draft.get_untracked();
                            session.edit(|r| {
                                let _ = r.edit_perspective(index, p);
                            });
                            editing.set(false);
                        }
                    >
                        "Save"
                    </button>
                    <button type="button" on:click=move |_| editing.set(false)>"Cancel edit"</button>
                </div>
            </Show>
        </li>
    }
}
