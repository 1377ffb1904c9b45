//! Benchmark panel 3, bottom: every item with each method's outcome, and its drill-down.

use crate::batch::{arms, batch};
use crate::catalog::display_title;
use crate::session::{id_for, session};
use crate::state::ui;
use ethos_engine::batch::{Outcome, Task};
use ethos_engine::record::RunResult;
use ethos_engine::settings::Method;
use leptos::prelude::*;
use leptos::task::spawn_local;

/// Rows shown at once (the rest are counted, and in the CSV export).
const SHOWN: usize = 200;

fn cell_text(o: Option<&Outcome>, running: bool) -> (String, &'static str) {
    if running {
        return ("running…".into(), "running");
    }
    let Some(o) = o else {
        return ("—".into(), "pending");
    };
    if !o.ok() {
        return ("failed".into(), "failed");
    }
    let text = match &o.result {
        Some(RunResult::Distribution(d)) => match (d.js, d.argmax_match) {
            (Some(js), Some(m)) => format!("JS {js:.3}{}", if m { " ✓" } else { "" }),
            _ => "done".into(),
        },
        Some(RunResult::Value(v)) => format!(
            "{} {}",
            v.letter_reference
                .map(String::from)
                .unwrap_or_else(|| "?".into()),
            if v.correct_reference { "✓" } else { "✗" }
        ),
        Some(RunResult::Overton(r)) => r
            .coverage
            .as_ref()
            .map(|c| format!("coverage {:.2}", c.item_score))
            .unwrap_or_else(|| "done".into()),
        None => "done".into(),
    };
    (text, "done")
}

/// Benchmark panel 3, bottom: every item with each method's outcome; "Open" shows the full run
/// (every prompt and reply) in the single-scenario view, the other methods as its baselines.
///
/// Hooks: `#bench-items`, rows `tr.bench-item[data-item]`, cells `td[data-method][data-state]`,
/// buttons `.bench-open[data-method]`.
#[component]
pub fn BenchItems() -> impl IntoView {
    let (ui, batch, session) = (ui(), batch(), session());
    let open = move |task: Task| {
        spawn_local(async move {
            let Some(record) = batch.record(task).await else {
                ui.say("This item is no longer in the benchmark.");
                return;
            };
            let methods = batch
                .spec
                .with_untracked(|s| s.as_ref().map(|s| s.methods.clone()).unwrap_or_default());
            let mut others = Vec::new();
            for m in methods
                .into_iter()
                .filter(|m| *m != task.method && *m != Method::EthosAgents)
            {
                let other = Task { method: m, ..task };
                let has = batch
                    .outcomes
                    .with_untracked(|o| o.iter().any(|x| x.task == other));
                if has {
                    if let Some(r) = batch.record(other).await {
                        others.push(r);
                    }
                }
            }
            let id = id_for(&record);
            session.open(ui, record, others, id);
            ui.bench.set(false);
            ui.say(format!(
                "Opened benchmark item {} ({}). Back to the benchmark with the Benchmark tab.",
                task.item + 1,
                task.method.label()
            ));
        });
    };
    let rows = move || {
        let arms = batch
            .spec
            .with(|s| s.as_ref().map(arms).unwrap_or_default());
        let items = batch.items.get();
        let total = items.len();
        let body = items
            .iter()
            .take(SHOWN)
            .enumerate()
            .map(|(i, item)| {
                let cells = arms
                    .iter()
                    .map(|arm| {
                        let (m, slug, label) = (arm.method, arm.slug.clone(), arm.label.clone());
                        let task = Task { item: i, method: m, model: arm.model };
                        // This cell follows its own task only: a task that finishes changes
                        // one cell, not the table.
                        let cell = batch.cell(task);
                        let button_slug = slug.clone();
                        let shown = Memo::new(move |_| {
                            cell.with(|c| {
                                let (text, state) = cell_text(c.outcome.as_ref(), c.running);
                                (text, state, c.outcome.is_some())
                            })
                        });
                        view! {
                            <td data-method=slug.clone() data-state=move || shown.with(|s| s.1)>
                                {move || shown.with(|s| s.0.clone())}
                                {move || shown.with(|s| s.2).then(|| view! {
                                    " "
                                    <button type="button" class="bench-open link" data-method=button_slug.clone() on:click=move |_| open(task) aria-label=format!("Open item {} with {}", i + 1, label.clone())>
                                        "Open"
                                    </button>
                                })}
                            </td>
                        }
                    })
                    .collect_view();
                let mut title = display_title(item);
                if title.chars().count() > 90 {
                    title = title.chars().take(88).collect::<String>() + "…";
                }
                view! {
                    <tr class="bench-item" data-item=i>
                        <td class="muted small">{item.id().to_string()}</td>
                        <td class="small">{title}</td>
                        <td class="muted small">{item.attribute().unwrap_or("").to_string()}</td>
                        {cells}
                    </tr>
                }
            })
            .collect_view();
        let head = arms
            .iter()
            .map(|a| view! { <th scope="col">{a.label.clone()}</th> })
            .collect_view();
        view! {
            <div class="table-wrap" tabindex="0" role="region" aria-label="Benchmark items">
                <table id="bench-items" class="data">
                    <thead><tr><th scope="col">"Id"</th><th scope="col">"Item"</th><th scope="col">"Attribute"</th>{head}</tr></thead>
                    <tbody>{body}</tbody>
                </table>
            </div>
            {(total > SHOWN).then(|| view! { <p class="muted small">{format!("Showing the first {SHOWN} of {total} items; the CSV export has all of them.")}</p> })}
        }
    };
    view! {
        <details class="bench-items" open>
            <summary>"Items"</summary>
            {rows}
        </details>
    }
}
