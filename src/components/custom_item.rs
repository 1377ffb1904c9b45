//! Write your own multiple-choice question, with an optional human distribution.

use crate::browser;
use crate::state::ui;
use ethos_engine::vital::{LoadError, LETTERS};
use ethos_engine::Item;
use leptos::prelude::*;

/// Write your own multiple-choice question, with an optional human distribution (percentages).
#[component]
pub fn CustomItem() -> impl IntoView {
    let ui = ui();
    let question = RwSignal::new(String::new());
    let options: [RwSignal<String>; 5] = std::array::from_fn(|_| RwSignal::new(String::new()));
    let gold: [RwSignal<String>; 5] = std::array::from_fn(|_| RwSignal::new(String::new()));
    let error = RwSignal::new(None::<String>);

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let filled: Vec<(String, String)> = options
            .iter()
            .zip(gold.iter())
            .map(|(o, g)| {
                (
                    o.get_untracked().trim().to_string(),
                    g.get_untracked().trim().to_string(),
                )
            })
            .filter(|(o, _)| !o.is_empty())
            .collect();
        let opts: Vec<String> = filled.iter().map(|(o, _)| o.clone()).collect();
        let any_gold = filled.iter().any(|(_, g)| !g.is_empty());
        let gold_values = if any_gold {
            let mut v = Vec::new();
            for (i, (_, g)) in filled.iter().enumerate() {
                let letter = LETTERS.get(i).copied().unwrap_or('?');
                match g.trim_end_matches('%').trim().parse::<f64>() {
                    Ok(x) if x.is_finite() && x >= 0.0 => v.push(x),
                    _ if g.is_empty() => v.push(0.0),
                    _ => {
                        error.set(Some(format!(
                            "The human share for option {letter} is not a number: {g:?}"
                        )));
                        return;
                    }
                }
            }
            Some(v)
        } else {
            None
        };
        let id = format!("custom-{}", browser::now_ms() as u64);
        match Item::custom(&id, &question.get_untracked(), &opts, gold_values) {
            Ok(item) => {
                error.set(None);
                ui.item.set(Some(item));
                ui.say("Your question is selected. Check the model, then press Run.");
            }
            Err(e) => error.set(Some(match e {
                LoadError::Field { field, problem, .. } => {
                    let what = match field {
                        "question" => "The question",
                        "options" => "The options",
                        "gold_distribution" => "The human shares",
                        other => other,
                    };
                    format!("{what} {problem}.")
                }
                other => other.to_string(),
            })),
        }
    };

    view! {
        <form class="custom-item" on:submit=submit>
            <label for="custom-question">"Question"</label>
            <textarea
                id="custom-question"
                rows="3"
                placeholder="Should a hospital share anonymised patient records with researchers without asking each patient?"
                prop:value=move || question.get()
                on:input=move |ev| question.set(event_target_value(&ev))
            ></textarea>
            <fieldset>
                <legend>"Options (1 to 5) and, optionally, how people answered (percent)"</legend>
                {options
                    .into_iter()
                    .zip(gold)
                    .enumerate()
                    .map(|(i, (o, g))| {
                        let letter = LETTERS.get(i).copied().unwrap_or('?');
                        view! {
                            <div class="option-row">
                                <label for=format!("custom-opt-{i}")>{letter.to_string()}</label>
                                <input
                                    id=format!("custom-opt-{i}")
                                    type="text"
                                    prop:value=move || o.get()
                                    on:input=move |ev| o.set(event_target_value(&ev))
                                />
                                <input
                                    id=format!("custom-gold-{i}")
                                    class="gold-input"
                                    type="text"
                                    inputmode="decimal"
                                    aria-label=format!("Human share for option {letter} (percent, optional)")
                                    placeholder="%"
                                    prop:value=move || g.get()
                                    on:input=move |ev| g.set(event_target_value(&ev))
                                />
                            </div>
                        }
                    })
                    .collect_view()}
            </fieldset>
            <Show when=move || error.with(|e| e.is_some())>
                <p class="error" role="alert">{move || error.get().unwrap_or_default()}</p>
            </Show>
            <button type="submit" id="custom-use">"Use this question"</button>
            <p class="muted">"Your question runs in Distributional mode: each perspective's comment votes for an option."</p>
        </form>
    }
}
