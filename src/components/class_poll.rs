//! The class poll of a multiple-choice scenario, and its projector view.

use crate::session::session;
use crate::state::{item_key, ui};
use ethos_engine::poll::ClassPoll;
use ethos_engine::vital::LETTERS;
use ethos_engine::Item;
use leptos::prelude::*;

/// The class poll of a multiple-choice scenario: the teacher types how many students chose each
/// option. The counts are read and checked by the engine ([`ClassPoll::parse`]); the next run of
/// the scenario, and its run on screen, carry them.
#[component]
pub fn ClassPollPanel() -> impl IntoView {
    let ui = ui();
    // Rebuilt when another scenario is picked, not on every change of the same one.
    let choice = Memo::new(move |_| {
        ui.item.with(|i| {
            i.as_ref()
                .filter(|i| matches!(i, Item::Choice { .. }) && !i.options().is_empty())
                .map(|i| (item_key(i), i.options()))
        })
    });
    move || {
        choice
            .get()
            .map(|(key, options)| view! { <PollForm key=key options=options /> })
    }
}

#[component]
fn PollForm(key: String, options: Vec<String>) -> impl IntoView {
    let (ui, session) = (ui(), session());
    let inputs: Vec<RwSignal<String>> = options
        .iter()
        .map(|_| RwSignal::new(String::new()))
        .collect();
    let error = RwSignal::new(None::<String>);
    let key = StoredValue::new(key);
    let is_mine = move |k: &str| key.with_value(|key| key == k);
    // The votes of this scenario's poll (typed here, or from a run opened from a file or link).
    let current = move || {
        ui.poll.with(|p| {
            p.as_ref()
                .filter(|(k, _)| is_mine(k))
                .map(|(_, p)| p.clone())
        })
    };
    {
        let inputs = inputs.clone();
        Effect::new(move |_| {
            if let Some(p) = current() {
                for (s, v) in inputs.iter().zip(&p.votes) {
                    s.set(v.to_string());
                }
            }
        });
    }
    // The run on screen takes the poll too when it is of this scenario.
    let apply = move |poll: Option<ClassPoll>| {
        let on_screen = session
            .with_record(|r| is_mine(&item_key(&r.item)))
            .unwrap_or(false);
        if on_screen {
            session.edit(|r| {
                let _ = r.set_poll(poll);
            });
        }
    };
    let submit = {
        let inputs = inputs.clone();
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            let typed: Vec<String> = inputs.iter().map(|s| s.get_untracked()).collect();
            match ClassPoll::parse(&typed) {
                Ok(poll) => {
                    error.set(None);
                    ui.say(format!(
                        "{} is set: it is drawn beside the model's answer.",
                        poll.label()
                    ));
                    ui.poll.set(Some((key.get_value(), poll.clone())));
                    apply(Some(poll));
                }
                Err(e) => {
                    let msg = e.to_string();
                    ui.say(format!("The class poll is not set: {msg}"));
                    error.set(Some(msg));
                }
            }
        }
    };
    let clear = {
        let inputs = inputs.clone();
        move |_| {
            for s in &inputs {
                s.set(String::new());
            }
            error.set(None);
            if current().is_some() {
                ui.poll.set(None);
                apply(None);
            }
            ui.say("The class poll is cleared.");
        }
    };
    let rows = options
        .iter()
        .zip(inputs)
        .enumerate()
        .map(|(i, (text, value))| {
            let letter = LETTERS.get(i).copied().unwrap_or('?');
            view! {
                <div class="poll-row">
                    <label for=format!("poll-{i}")>
                        <strong>{format!("{letter}.")}</strong> " " <span>{text.clone()}</span>
                    </label>
                    <input
                        id=format!("poll-{i}")
                        type="text"
                        inputmode="numeric"
                        autocomplete="off"
                        placeholder="0"
                        aria-describedby="poll-help"
                        prop:value=move || value.get()
                        on:input=move |ev| value.set(event_target_value(&ev))
                    />
                </div>
            }
        })
        .collect_view();
    view! {
        <section class="class-poll no-print" aria-labelledby="poll-h">
            <h3 id="poll-h">"Class poll"</h3>
            <form on:submit=submit>
                <p class="muted" id="poll-help">
                    "Ask the class before running: type how many students chose each option (whole numbers, blank = 0). Their votes are drawn beside the model's answer and scored against it."
                </p>
                {rows}
                <Show when=move || error.with(|e| e.is_some())>
                    <p class="error" role="alert" id="poll-error">{move || error.get().unwrap_or_default()}</p>
                </Show>
                <div class="row">
                    <button type="submit" id="poll-use">"Use these votes"</button>
                    <button type="button" id="poll-clear" on:click=clear>"Clear"</button>
                </div>
                <p id="poll-status" class="small">
                    {move || current().map(|p| format!("{} is set for this question.", p.label())).unwrap_or_else(|| "No class votes yet.".into())}
                </p>
            </form>
        </section>
    }
}
