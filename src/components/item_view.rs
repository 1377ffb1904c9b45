//! The selected scenario as a reader sees it (also what a printed handout shows).

use crate::catalog::attribute_label;
use crate::state::ui;
use ethos_engine::vital::LETTERS;
use ethos_engine::Item;
use leptos::prelude::*;

/// The selected scenario as a reader sees it (also what a printed handout shows).
#[component]
pub fn ItemView() -> impl IntoView {
    let ui = ui();
    move || {
        match ui.item.get() {
        None => view! { <p class="muted" id="no-item">"No scenario selected yet: pick one in panel 1."</p> }.into_any(),
        Some(item) => item_body(&item).into_any(),
    }
    }
}

fn item_body(item: &Item) -> impl IntoView {
    let source = item.source();
    let header = format!(
        "{} · {} · #{}",
        item.mode().label(),
        source.label(),
        item.id()
    );
    let attribute = item
        .attribute()
        .filter(|a| !a.is_empty())
        .map(|a| attribute_label(source, a));
    let gold = item.gold_distribution().map(<[f64]>::to_vec);
    let options = item.options();
    let (text, extra) = match item {
        Item::Overton(o) => (
            o.situation.clone(),
            Some(format!(
                "Values at stake (gold, {}): {}",
                o.vrd.len(),
                o.vrd.join("; ")
            )),
        ),
        Item::Value(v) => (
            v.situation.clone(),
            Some(format!(
                "Value: {} · gold answer {} ({})",
                v.vrd, v.label, v.label_text
            )),
        ),
        // The options are listed below: show the question without its inline options.
        Item::Choice { item: c, .. } => {
            let stem = item.title();
            let cut = if c.options.is_empty() {
                None
            } else {
                stem.find("\nA. ").or_else(|| stem.find("\nA) "))
            };
            (
                cut.map(|at| stem[..at].trim_end().to_string())
                    .unwrap_or(stem),
                None,
            )
        }
    };
    view! {
        <article class="item-view" id="selected-item" aria-label="Selected scenario">
            <p class="muted">{header}</p>
            <p class="item-text">{text}</p>
            {attribute.map(|a| view! { <p class="muted">"Attribute: " {a}</p> })}
            {extra.map(|e| view! { <p class="muted">{e}</p> })}
            {(!options.is_empty())
                .then(|| {
                    view! {
                        <ul class="options">
                            {options
                                .iter()
                                .enumerate()
                                .map(|(i, o)| {
                                    let share = gold
                                        .as_ref()
                                        .and_then(|g| {
                                            let sum: f64 = g.iter().sum();
                                            g.get(i).map(|x| if sum > 0.0 { x / sum } else { 0.0 })
                                        })
                                        .map(|x| format!(" — people: {:.0}%", x * 100.0))
                                        .unwrap_or_default();
                                    let letter = LETTERS.get(i).copied().unwrap_or('?');
                                    view! { <li><strong>{letter.to_string()}</strong> ". " {o.clone()} <span class="muted">{share}</span></li> }
                                })
                                .collect_view()}
                        </ul>
                    }
                })}
        </article>
    }
}
