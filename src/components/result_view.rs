//! The combined answer of a record, per mode (main run and baselines).

use crate::components::dist_chart::DistChart;
use crate::connection::conn;
use crate::session::{session, Op};
use crate::state::ui;
use ethos_engine::metrics::COVERAGE_THRESHOLD;
use ethos_engine::poll;
use ethos_engine::record::{
    DistResult, OvertonResult, RunRecord, RunResult, Selection, ValueResult,
};
use ethos_engine::vital::LETTERS;
use ethos_engine::{Item, Mode};
use leptos::prelude::*;

/// The combined answer of a record, per mode. Used for the main run and for baselines.
#[component]
pub fn ResultBody(record: RunRecord, #[prop(optional)] main: bool) -> impl IntoView {
    // Element ids only on the main result (baselines render the same view beside it).
    let id = Ids(main);
    match record.result.clone() {
        None => view! { <p class="muted">"No result yet."</p> }.into_any(),
        Some(RunResult::Overton(o)) => overton(&record, o, id).into_any(),
        Some(RunResult::Value(v)) => value(&record, v, id).into_any(),
        Some(RunResult::Distribution(d)) => distribution(&record, d, id).into_any(),
    }
}

#[derive(Clone, Copy)]
struct Ids(bool);

impl Ids {
    fn get(self, id: &'static str) -> Option<&'static str> {
        self.0.then_some(id)
    }
}

fn selection_view(record: &RunRecord, sel: Option<Selection>, ids: Ids) -> impl IntoView {
    sel.map(|s| {
        let name = record.perspectives.perspectives.get(s.index).map(|p| p.name.clone()).unwrap_or_default();
        view! {
            <p id=ids.get("selection") class="selection">
                "Selected comment: " <strong>{format!("{} ", s.index + 1)}</strong> <span class="llm-text">{name}</span>
                {s.fallback.then(|| view! { " " <span class="warning small">"(no number in the reply: chosen by the seeded fallback)"</span> })}
            </p>
            <p class="muted small">"Why (the selection reply): " <span class="llm-text">{s.reply}</span></p>
        }
    })
}

fn overton(record: &RunRecord, o: OvertonResult, ids: Ids) -> impl IntoView {
    let coverage = o.coverage.map(|c| {
        let covered = c.covered(COVERAGE_THRESHOLD);
        let labels: Vec<String> = match &record.item {
            Item::Overton(i) => i.vrd.clone(),
            _ => Vec::new(),
        };
        let rows = c
            .per_value
            .iter()
            .enumerate()
            .map(|(i, s)| view! { <tr><td>{labels.get(i).cloned().unwrap_or_default()}</td><td class="num">{format!("{s:.2}")}</td></tr> })
            .collect_view();
        view! {
            <div id=ids.get("coverage") class="coverage">
                <p>
                    <span class="score">{format!("Coverage {:.2}", c.item_score)}</span>
                    " — " {if covered { "covered" } else { "not covered" }} {format!(" at the {COVERAGE_THRESHOLD} threshold.")}
                </p>
                <p class="warning small">
                    "Estimated by an LLM judge (" {c.estimator.label()} {(!c.judge_model.is_empty()).then(|| format!(", model {}", c.judge_model))}
                    "), not by the reference NLI model: not comparable with published coverage figures."
                </p>
                <div class="table-wrap" tabindex="0" role="region" aria-label="Judge scores per value, right and duty">
                    <table>
                        <thead><tr><th scope="col">"Value / right / duty"</th><th scope="col">"Judge score"</th></tr></thead>
                        <tbody>{rows}</tbody>
                    </table>
                </div>
            </div>
        }
    });
    view! {
        <h4>"Combined answer (Overton)"</h4>
        <p class="llm-text overton-answer" id=ids.get("overton-answer")>{o.text}</p>
        {coverage}
    }
}

fn value(record: &RunRecord, v: ValueResult, ids: Ids) -> impl IntoView {
    let letter = v
        .letter_reference
        .map(|c| c.to_string())
        .unwrap_or_else(|| "none".into());
    view! {
        {selection_view(record, v.selection.clone(), ids)}
        <h4>"Answer"</h4>
        <p class="llm-text value-answer" id=ids.get("value-answer")>{v.answer.clone()}</p>
        <p>
            "Read as " <strong>{letter}</strong> "; correct answer " <strong>{v.gold.clone()}</strong> ": "
            <span id=ids.get("correct") class=if v.correct_reference { "correct" } else { "wrong" }>
                {if v.correct_reference { "correct" } else { "not correct" }}
            </span>
            <span class="muted small">
                {format!(" (reference parser; strict parser: {})", if v.correct_strict { "correct" } else { "not correct" })}
            </span>
        </p>
    }
}

fn distribution(record: &RunRecord, d: DistResult, ids: Ids) -> impl IntoView {
    let options = record.item.options();
    let gold = record.item.gold_distribution().map(<[f64]>::to_vec);
    let method = d.method.label().to_string();
    let caption = format!("Answer distribution, method: {method}");
    let argmax = |p: &[f64]| ethos_engine::metrics::argmax_first(p);
    let model_pick = LETTERS.get(argmax(&d.distribution)).copied().unwrap_or('?');
    let gold_pick = gold.as_ref().and_then(|g| LETTERS.get(argmax(g)).copied());
    // Per-perspective letters (votes) and per-read distributions.
    let per = record
        .comments
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let name = record
                .perspectives
                .perspectives
                .get(i)
                .map(|p| p.name.clone())
                .unwrap_or_default();
            let letter = c
                .as_ref()
                .and_then(|c| c.letter)
                .map(|l| l.to_string())
                .unwrap_or_else(|| "—".into());
            let read = d.per_read.get(i).and_then(|r| r.as_ref()).map(|r| {
                r.probs
                    .iter()
                    .enumerate()
                    .map(|(j, p)| {
                        format!(
                            "{} {:.0}%",
                            LETTERS.get(j).copied().unwrap_or('?'),
                            p * 100.0
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(" · ")
            });
            view! {
                <tr>
                    <td>{i + 1}</td>
                    <td class="llm-text">{name}</td>
                    <td>{letter}</td>
                    <td>{read.unwrap_or_else(|| "—".into())}</td>
                </tr>
            }
        })
        .collect_view();
    let is_group = record.mode() == Mode::SteerableGroup;
    let class = record.poll.as_ref().map(|p| (p.label(), p.distribution()));
    let class_pick = class
        .as_ref()
        .and_then(|(_, c)| LETTERS.get(argmax(c)).copied());
    let human_name = poll::reference_label(&record.item).map(String::from);
    let poll_scores = poll_scores(record, ids);
    view! {
        {selection_view(record, d.selection.clone(), ids)}
        {d.answer.clone().map(|a| view! { <p>"Answer: " <span class="llm-text">{a}</span></p> })}
        <DistChart
            options=options
            model=d.distribution.clone()
            human=gold.clone()
            caption=caption
            class=class.clone()
            human_name=human_name.clone()
        />
        {poll_scores}
        <p>
            {d.js.map(|js| view! {
                "Jensen–Shannon distance to people: " <span class="score js-distance" id=ids.get("js-distance")>{format!("{js:.4}")}</span>
                <span class="muted small">" (natural log; 0 = identical, 0.833 = opposite)"</span>
            })}
        </p>
        <p id=ids.get("argmax") class="argmax">
            "Most likely answer: model " <strong>{model_pick.to_string()}</strong>
            {gold_pick.map(|g| view! { ", people " <strong>{g.to_string()}</strong> })}
            {class_pick.map(|c| view! { ", class " <strong>{c.to_string()}</strong> })}
            {d.argmax_match.map(|m| view! {
                " — " <span class=if m { "correct" } else { "wrong" }>{if m { "match" } else { "no match" }}</span>
            })}
        </p>
        <p class="muted small dist-method" id=ids.get("dist-method")>"Distribution method: " {method} {d.note.clone().map(|n| format!(" — {n}"))}</p>
        {(!is_group || !record.comments.is_empty()).then(|| view! {
            <details open>
                <summary>"Per perspective: letter voted and distribution read"</summary>
                <div class="table-wrap" tabindex="0" role="region" aria-label="Per perspective: letter voted and distribution read">
                    <table>
                        <thead><tr><th scope="col">"#"</th><th scope="col">"Perspective"</th><th scope="col">"Letter"</th><th scope="col">"Read"</th></tr></thead>
                        <tbody>{per}</tbody>
                    </table>
                </div>
            </details>
        })}
    }
}

/// The class poll's Jensen–Shannon distances (model ↔ class, and ↔ the item's survey or gold
/// distribution where it has one), as the engine computes them.
fn poll_scores(record: &RunRecord, ids: Ids) -> Option<impl IntoView> {
    let s = poll::scores(record)?;
    let class = record.poll.as_ref()?.label();
    let survey = poll::reference_label(&record.item).unwrap_or("survey");
    let line = move |what: String, id: &'static str, v: Option<f64>| {
        v.map(|v| view! { <li>{what} ": " <span class="score" id=ids.get(id)>{format!("{v:.4}")}</span></li> })
    };
    Some(view! {
        <div class="poll-scores" id=ids.get("poll-scores")>
            <p>"Jensen–Shannon distance (natural log; 0 = identical, 0.833 = opposite):"</p>
            <ul>
                {line(format!("model ↔ {class}"), "js-class", s.model_class)}
                {line(format!("model ↔ {survey}"), "js-survey", s.model_survey)}
                {line(format!("{class} ↔ {survey}"), "js-class-survey", s.class_survey)}
            </ul>
        </div>
    })
}

/// The main run's result panel, with the judge button for Overton items.
#[component]
pub fn ResultPanel() -> impl IntoView {
    let (ui, conn, session) = (ui(), conn(), session());
    let run = session.run;
    let has_result = move || run.result.with(Option::is_some);
    let is_overton = move || run.head.with(|h| h.as_ref().is_some_and(|h| h.item.mode() == Mode::Overton));
    view! {
        <Show when=has_result>
            <section id="result" aria-labelledby="result-h">
                <h3 id="result-h">"Result"</h3>
                {move || run.result.get().map(|r| view! { <ResultBody record=r main=true /> })}
                <Show when=is_overton>
                    <button
                        type="button"
                        id="judge"
                        class="no-print"
                        disabled=move || session.busy.get()
                        on:click=move |_| session.start(Op::Judge, ui, conn)
                    >
                        "Estimate value coverage (LLM judge)"
                    </button>
                </Show>
            </section>
        </Show>
    }
}
