//! Two saved runs side by side: differing settings, both predictions, both scores.

use crate::browser;
use crate::components::dist_chart::DistChart;
use crate::components::result_view::ResultBody;
use crate::session::{run_label, session};
use crate::share::{self, LinkError, Shared};
use crate::state::ui;
use ethos_engine::compare::{js_between, prediction, runs_diff};
use ethos_engine::record::{RunRecord, RunResult};
use leptos::prelude::*;
use leptos::task::spawn_local;

fn js_text(js: Option<f64>) -> String {
    js.map(|j| format!("{j:.4}")).unwrap_or_else(|| "—".into())
}

fn run_js(r: &RunRecord) -> Option<f64> {
    match &r.result {
        Some(RunResult::Distribution(d)) => d.js,
        _ => None,
    }
}

/// One run's column: what it is, its answer, its perspectives with their comments.
fn column(side: &'static str, r: RunRecord) -> impl IntoView {
    let name = format!("Run {} · {}", side.to_uppercase(), run_label(&r));
    let status = match &r.result {
        Some(_) => "done".to_string(),
        None => "no result".to_string(),
    };
    let dist_method = match &r.result {
        Some(RunResult::Distribution(d)) => Some(d.method.label().to_string()),
        _ => None,
    };
    let rows = r
        .perspectives
        .perspectives
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let comment = r
                .comments
                .get(i)
                .and_then(Option::as_ref)
                .map(|c| c.cleaned.clone())
                .unwrap_or_default();
            view! {
                <li class="compare-persp">
                    <strong class="llm-text">{p.name.clone()}</strong>
                    <p class="llm-text small">{comment}</p>
                </li>
            }
        })
        .collect_view();
    let n = r.perspectives.perspectives.len();
    view! {
        <section class="compare-col" data-side=side aria-labelledby=format!("compare-{side}-h")>
            <h3 id=format!("compare-{side}-h")>{name}</h3>
            <p class="muted small">
                {format!("{} · #{} · {status}", r.mode().label(), r.item.id())}
                {dist_method.map(|m| format!(" · distribution: {m}"))}
            </p>
            <div class="compare-result">
                <ResultBody record=r.clone() />
            </div>
            {(n > 0).then(|| view! {
                <h4>{format!("Perspectives and comments ({n})")}</h4>
                <ol class="compare-persps">{rows}</ol>
            })}
        </section>
    }
}

/// Two saved runs side by side: the settings that differ, both predictions on one chart with
/// their JS distances, and each run's answer, perspectives and comments. Prints as one handout;
/// its share link carries both runs.
///
/// Hooks for the end-to-end tests: `#compare`, `#settings-diff` (`tr.diff[data-setting]`),
/// `#compare-chart`, `#compare-js-a`, `#compare-js-b`, `#compare-js-ab`, `.compare-col[data-side]`,
/// `#compare-share`, `#compare-url`, `#compare-too-long`, `#compare-print`, `#compare-close`.
#[component]
pub fn CompareView() -> impl IntoView {
    let (ui, session) = (ui(), session());
    let link = RwSignal::new(None::<Result<String, LinkError>>);
    let make_link = move |_| {
        let Some((a, b)) = session.compare.get_untracked() else {
            return;
        };
        link.set(None);
        spawn_local(async move {
            let made = share::link_for(&Shared::Compare { left: a, right: b }).await;
            match &made {
                Ok(url) => match browser::copy_text(url).await {
                    Ok(()) => ui.say("Comparison link copied. It holds both runs, never your key."),
                    Err(_) => ui.say("Comparison link ready below: copy it from the box."),
                },
                Err(e) => ui.say(e.to_string()),
            }
            link.set(Some(made));
        });
    };
    let save_both = move |_| {
        let Some((a, b)) = session.compare.get_untracked() else {
            return;
        };
        for (side, r) in [("a", a), ("b", b)] {
            let name = format!("ethos-compare-{side}-{}.json", r.item.id());
            if let Err(e) = browser::download(&name, "application/json", &r.to_json()) {
                ui.say(e.to_string());
                return;
            }
        }
        ui.say("Both runs saved as JSON: import them on the other device and compare them there.");
    };
    let close = move |_| {
        session.compare.set(None);
        link.set(None);
        ui.say("Comparison closed.");
        browser::focus_later("compare-open");
    };
    let body = move || {
        session.compare.get().map(|(a, b)| {
            let diff = runs_diff(&a, &b);
            let diff_view = if diff.is_empty() {
                view! { <p id="settings-diff" class="no-diff">"The two runs have the same method, scenario and settings."</p> }.into_any()
            } else {
                let rows = diff
                    .into_iter()
                    .map(|d| {
                        let key = d.setting.clone();
                        view! {
                        <tr class="diff" data-setting=key>
                            <th scope="row"><code>{d.setting}</code></th>
                            <td class="llm-text">{d.left}</td>
                            <td class="llm-text">{d.right}</td>
                        </tr>
                        }
                    })
                    .collect_view();
                view! {
                    <div class="table-wrap">
                        <table class="data" id="settings-diff">
                            <caption>"Only what differs between the two runs is listed."</caption>
                            <thead><tr><th scope="col">"Setting"</th><th scope="col">"Run A"</th><th scope="col">"Run B"</th></tr></thead>
                            <tbody>{rows}</tbody>
                        </table>
                    </div>
                }.into_any()
            };
            let same_options = a.item.options() == b.item.options();
            let chart = match (prediction(&a), prediction(&b)) {
                (Some(pa), Some(pb)) if same_options => {
                    let human = (a.item == b.item)
                        .then(|| a.item.gold_distribution().map(<[f64]>::to_vec))
                        .flatten();
                    Some(view! {
                        <section id="compare-chart" aria-labelledby="compare-chart-h">
                            <h3 id="compare-chart-h">"Both predictions on one axis"</h3>
                            <DistChart
                                options=a.item.options()
                                model=pa.to_vec()
                                second=pb.to_vec()
                                human=human
                                names=(format!("run A ({})", run_label(&a)), format!("run B ({})", run_label(&b)))
                                caption="Answer distributions of run A and run B".to_string()
                            />
                            <p class="scores">
                                "Jensen–Shannon distance (natural log) to people's answers: run A "
                                <strong id="compare-js-a">{js_text(run_js(&a))}</strong>
                                ", run B " <strong id="compare-js-b">{js_text(run_js(&b))}</strong>
                                "; between the two runs " <strong id="compare-js-ab">{js_text(js_between(&a, &b))}</strong> "."
                            </p>
                        </section>
                    })
                }
                _ => None,
            };
            let scenario = (a.item == b.item).then(|| view! {
                <p id="compare-scenario">
                    "Scenario of both runs: " <strong>{format!("#{}", a.item.id())}</strong> " "
                    <span class="llm-text">{a.item.title()}</span>
                </p>
            });
            view! {
                {scenario}
                <section aria-labelledby="diff-h">
                    <h3 id="diff-h">"What differs"</h3>
                    {diff_view}
                </section>
                {chart}
                <div class="compare-cols">
                    {column("a", a)}
                    {column("b", b)}
                </div>
            }
        })
    };
    view! {
        <section class="compare" id="compare" aria-labelledby="compare-h" tabindex="-1">
            <h2 id="compare-h">"Compare two runs"</h2>
            <div class="row no-print">
                <button type="button" id="compare-close" on:click=close>"Close the comparison"</button>
                <button type="button" id="compare-share" on:click=make_link>"Share link"</button>
                <button type="button" id="compare-print" on:click=move |_| browser::print()>"Print handout"</button>
            </div>
            {move || link.get().map(|made| match made {
                Ok(url) => view! {
                    <div class="no-print">
                        <label for="compare-url">"Comparison link (both runs, no key)"</label>
                        <input id="compare-url" type="text" readonly prop:value=url />
                    </div>
                }.into_any(),
                Err(e) => view! {
                    <div class="no-print">
                        <p class="warning" id="compare-too-long" role="alert">{e.to_string()}</p>
                        <button type="button" id="compare-json" on:click=save_both>"Save both runs as JSON"</button>
                    </div>
                }.into_any(),
            })}
            {body}
        </section>
    }
}
