//! Benchmark panel 3, results: each method's metrics, the chart, the breakdown, the exports.

use crate::batch::{arms, batch, Arm};
use crate::browser;
use crate::catalog::attribute_label;
use crate::state::ui;
use ethos_engine::batch::{self as engine, Headline, MethodSummary, Scoring};
use ethos_engine::{Mode, Source};
use leptos::prelude::*;

fn f3(x: f64) -> String {
    format!("{x:.3}")
}

fn pct(x: f64) -> String {
    format!("{:.1} %", x * 100.0)
}

/// Benchmark panel 3, results: one row per method with the file's metrics, a chart comparing the
/// methods, the per-attribute breakdown, and the exports.
///
/// Hooks: `#bench-results` (rows `tr[data-method]` with `.attrition` (failed items: "N failed
/// items left out" or "failed items scored as the reference does: N"), `.mean-js`,
/// `.most-likely`, `.pred-methods`, `.accuracy`, `.coverage` cells), `#bench-chart`, `#bench-breakdown`,
/// `#bench-export-<method>`, `#bench-export-csv`.
#[component]
pub fn BenchResults() -> impl IntoView {
    let (ui, batch) = (ui(), batch());
    let mode = move || {
        batch.spec.with(|s| {
            s.as_ref()
                .and_then(|s| Source::from_file_name(&s.file))
                .map(|s| s.mode())
        })
    };
    let source = move || {
        batch
            .spec
            .with(|s| s.as_ref().and_then(|s| Source::from_file_name(&s.file)))
    };
    // How failed items are scored: left out and counted, or as the reference does.
    let scoring = move || batch.spec.with(|s| s.as_ref().map(Scoring::of).unwrap_or_default());
    let arm_list = move || {
        batch
            .spec
            .with(|s| s.as_ref().map(arms).unwrap_or_default())
    };
    // One summary per arm (model × method), with the arm.
    // The outcomes are read untracked: the batch says when to score again (`results_version`:
    // at once when loaded or ended, at most once a second while running).
    let summaries = Memo::new(move |_| {
        batch.results_version.track();
        let list = arm_list();
        let scoring = scoring();
        batch.items.with(|items| {
            batch.outcomes.with_untracked(|o| {
                list.into_iter()
                    .map(|a| {
                        let s = engine::summarize_scored(items, o, a.method, a.model, scoring);
                        (a, s)
                    })
                    .collect::<Vec<(Arm, MethodSummary)>>()
            })
        })
    });
    let any_done = move || summaries.with(|s| s.iter().any(|(_, x)| x.done > 0));

    let table = move || {
        let mode = mode()?;
        let rows = summaries.get();
        let head = match mode {
            Mode::Distributional | Mode::SteerableGroup => view! { <tr><th scope="col">"Method"</th><th scope="col">"Items"</th><th scope="col">"Failed"</th><th scope="col">"Mean JS distance ↓"</th><th scope="col">"Most-likely correct ↑"</th><th scope="col">"Distributions from"</th><th scope="col">"Calls"</th><th scope="col">"Tokens"</th></tr> }.into_any(),
            Mode::SteerableValue => view! { <tr><th scope="col">"Method"</th><th scope="col">"Items"</th><th scope="col">"Failed"</th><th scope="col">"Accuracy ↑"</th><th scope="col">"Balanced acc."</th><th scope="col">"Macro-F1 (unparsed a class)"</th><th scope="col">"Binary acc."</th><th scope="col">"Binary bal. acc."</th><th scope="col">"Binary macro-F1"</th><th scope="col">"Accuracy (strict parser)"</th><th scope="col">"Calls"</th><th scope="col">"Tokens"</th></tr> }.into_any(),
            Mode::Overton => view! { <tr><th scope="col">"Method"</th><th scope="col">"Items"</th><th scope="col">"Failed"</th><th scope="col">"Judged"</th><th scope="col">"Coverage accuracy ↑ (> 0.33)"</th><th scope="col">"Mean coverage"</th><th scope="col">"Calls"</th><th scope="col">"Tokens"</th></tr> }.into_any(),
        };
        let body = rows
            .into_iter()
            .map(|(arm, s)| {
                let tokens = s.prompt_tokens + s.completion_tokens;
                let cells = match mode {
                    Mode::Distributional | Mode::SteerableGroup => {
                        let (js, ml) = s.dist.as_ref().map(|d| (f3(d.mean_js), pct(d.most_likely))).unwrap_or_default();
                        let methods = s.pred_methods.as_ref().map(|m| {
                            let mixed = if m.is_mixed() { " (mixed methods)" } else { "" };
                            format!("{}{mixed}", m.describe())
                        });
                        view! { <td class="mean-js">{js}</td><td class="most-likely">{ml}</td><td class="pred-methods">{methods}</td> }.into_any()
                    }
                    Mode::SteerableValue => {
                        let v = s.value_reference.clone();
                        let strict = s.value_strict.as_ref().map(|v| pct(v.accuracy)).unwrap_or_default();
                        let (a, b, f) = v.as_ref().map(|v| (pct(v.accuracy), pct(v.balanced_accuracy), f3(v.macro_f1))).unwrap_or_default();
                        let (bin, bin_b, bin_f) = v.map(|v| (pct(v.binary_accuracy), pct(v.binary_balanced_accuracy), f3(v.binary_macro_f1))).unwrap_or_default();
                        view! { <td class="accuracy">{a}</td><td>{b}</td><td>{f}</td><td>{bin}</td><td>{bin_b}</td><td>{bin_f}</td><td>{strict}</td> }.into_any()
                    }
                    Mode::Overton => {
                        let (j, acc, mean) = s.coverage.as_ref().map(|c| (c.judged.to_string(), pct(c.accuracy), f3(c.mean_item_score))).unwrap_or_default();
                        view! { <td>{j}</td><td class="coverage">{acc}</td><td>{mean}</td> }.into_any()
                    }
                };
                view! {
                    <tr data-method=arm.slug data-model=arm.model>
                        <th scope="row">{arm.label}</th>
                        <td>{s.done}</td>
                        <td class="attrition">{s.attrition().unwrap_or_else(|| "0".into())}</td>
                        {cells}
                        <td>{s.calls}</td>
                        <td>{tokens}</td>
                    </tr>
                }
            })
            .collect_view();
        Some(view! {
            <div class="table-wrap" tabindex="0" role="region" aria-label="Benchmark results by method">
                <table id="bench-results" class="data">
                    <caption>{if scoring().failed_as_reference {
                        "Scores over every item that ran: failed items are scored as the reference does (uniform distribution / unparsed answer / coverage 0 when judged) and counted (natural log for JS; scikit-learn's metrics; the exported file scores the same with `ethos score --score-failed`)"
                    } else {
                        "Scores over the finished items: failed items are left out and counted (natural log for JS; scikit-learn's metrics; the exported file scores the same with `ethos score`)"
                    }}</caption>
                    <thead>{head}</thead>
                    <tbody>{body}</tbody>
                </table>
            </div>
        })
    };

    let chart = move || {
        let mode = mode()?;
        let rows: Vec<(String, Headline)> = summaries.with(|s| {
            s.iter()
                .filter_map(|(arm, x)| {
                    x.headline(mode).map(|h| (arm.label.clone(), h))
                })
                .collect()
        });
        if rows.is_empty() {
            return None;
        }
        let Headline {
            label,
            lower_is_better: lower,
            max: top,
            ..
        } = rows[0].1;
        let bar_h = 26.0;
        // Room for the longest label (about 7 px per character at 12 px).
        let left = 10.0 + 7.0 * rows.iter().map(|r| r.0.chars().count()).max().unwrap_or(8) as f64;
        let height = 20.0 + bar_h * rows.len() as f64;
        let bars = rows
            .iter()
            .enumerate()
            .map(|(i, (name, h))| {
                let v = &h.value;
                let y = 10.0 + bar_h * i as f64;
                let w = (v / top).clamp(0.0, 1.0) * 300.0;
                view! {
                    <g>
                        <text x="0" y=y + 16.0>{name.clone()}</text>
                        <rect x=left y=y + 4.0 width=w height="16" class="bar-model"></rect>
                        <text x=left + 5.0 + w y=y + 16.0>{f3(*v)}</text>
                    </g>
                }
            })
            .collect_view();
        let attrition: Vec<String> = summaries.with(|s| {
            s.iter()
                .filter_map(|(arm, x)| x.attrition().map(|a| format!("{}: {a}", arm.label)))
                .collect()
        });
        let mixed: Vec<String> = summaries.with(|s| {
            s.iter()
                .filter(|(_, x)| x.pred_methods.as_ref().is_some_and(|m| m.is_mixed()))
                .map(|(arm, _)| arm.label.clone())
                .collect()
        });
        let title = format!(
            "{label} by method ({}){}",
            if lower {
                "lower is better"
            } else {
                "higher is better"
            },
            if mixed.is_empty() {
                String::new()
            } else {
                format!("; mixed distribution methods: {}", mixed.join(", "))
            },
        ) + &attrition.iter().map(|a| format!("; {a}")).collect::<String>();
        Some(view! {
            <figure class="bench-chart">
                <svg id="bench-chart" class="chart" viewBox=format!("0 0 {} {height}", left + 360.0) role="img" aria-label=title.clone()>
                    {bars}
                </svg>
                <figcaption class="muted small">{title}</figcaption>
            </figure>
        })
    };

    let breakdown = move || {
        let mode = mode()?;
        let src = source()?;
        if mode == Mode::Overton {
            return None;
        }
        batch.breakdown_version.track();
        let list = arm_list();
        let scoring = scoring();
        let parts: Vec<(Arm, Vec<(String, MethodSummary)>)> = batch.items.with(|items| {
            batch.outcomes.with_untracked(|o| {
                list.into_iter()
                    .map(|a| {
                        let b = engine::breakdown_scored(items, o, a.method, a.model, scoring);
                        (a, b)
                    })
                    .collect()
            })
        });
        let mut attrs: Vec<String> = Vec::new();
        for (_, list) in &parts {
            for (a, _) in list {
                if !attrs.contains(a) {
                    attrs.push(a.clone());
                }
            }
        }
        if attrs.len() < 2 {
            return None;
        }
        let metric = Headline::label(mode);
        let head = parts
            .iter()
            .map(|(a, _)| view! { <th scope="col">{format!("{} ({metric})", a.label)}</th> })
            .collect_view();
        let rows = attrs
            .into_iter()
            .map(|a| {
                let cells = parts
                    .iter()
                    .map(|(_, list)| {
                        let cell = list
                            .iter()
                            .find(|(x, _)| *x == a)
                            .and_then(|(_, s)| {
                                s.headline(mode)
                                    .map(|h| format!("{} (n = {})", f3(h.value), s.done + s.failed_scored))
                            })
                            .unwrap_or_default();
                        view! { <td>{cell}</td> }
                    })
                    .collect_view();
                view! { <tr><th scope="row">{attribute_label(src, &a)}</th>{cells}</tr> }
            })
            .collect_view();
        Some(view! {
            <details class="bench-breakdown" open>
                <summary>"By attribute"</summary>
                <div class="table-wrap" tabindex="0" role="region" aria-label="Benchmark results by attribute">
                    <table id="bench-breakdown" class="data">
                        <thead><tr><th scope="col">{crate::catalog::attribute_kind(src)}</th>{head}</tr></thead>
                        <tbody>{rows}</tbody>
                    </table>
                </div>
            </details>
        })
    };

    let export_file = move |arm: &Arm| {
        let scoring = batch.spec.with_untracked(|s| s.as_ref().map(Scoring::of).unwrap_or_default());
        let json = batch.items.with_untracked(|items| {
            batch
                .outcomes
                .with_untracked(|o| engine::filled_file_scored(items, o, arm.method, arm.model, scoring))
        });
        let name = format!("{}.{}.json", batch.stem(), arm.file_tag);
        match serde_json::to_string_pretty(&json) {
            Ok(text) => match browser::download(&name, "application/json", &(text + "\n")) {
                Ok(()) => ui.say(format!(
                    "Exported {name}: score it with `ethos score {}{name}`.",
                    if scoring.failed_as_reference { "--score-failed " } else { "" }
                )),
                Err(e) => ui.say(e.to_string()),
            },
            Err(e) => ui.say(format!("Could not export: {e}")),
        }
    };
    let export_csv = move |_| {
        let scoring = batch.spec.with_untracked(|s| s.as_ref().map(Scoring::of).unwrap_or_default());
        let (methods, models) = batch.spec.with_untracked(|s| {
            s.as_ref()
                .map(|s| (s.methods.clone(), s.model_names()))
                .unwrap_or_default()
        });
        let csv = batch.items.with_untracked(|items| {
            batch
                .outcomes
                .with_untracked(|o| engine::scores_csv_scored(items, o, &methods, &models, scoring))
        });
        let name = format!("{}.scores.csv", batch.stem());
        match browser::download(&name, "text/csv", &csv) {
            Ok(()) => ui.say(format!("Exported {name}.")),
            Err(e) => ui.say(e.to_string()),
        }
    };

    view! {
        <Show when=move || batch.is_running()>
            <p class="muted small" id="bench-results-note">"Scores are computed when the batch pauses or ends (scoring while it runs would slow the page); the items below fill in as they finish."</p>
        </Show>
        <Show when=any_done fallback=|| view! { <p class="muted small">"Scores appear here when the batch pauses or ends."</p> }>
            {table}
            {chart}
            {breakdown}
            <div class="row no-print">
                {move || {
                    arm_list()
                        .into_iter()
                        .map(|arm| {
                            let (id, label) = (format!("bench-export-{}", arm.slug), format!("Export {} (VITAL file)", arm.label));
                            view! {
                                <button type="button" id=id on:click=move |_| export_file(&arm)>
                                    {label}
                                </button>
                            }
                        })
                        .collect_view()
                }}
                <button type="button" id="bench-export-csv" on:click=export_csv>"Export per-item CSV"</button>
            </div>
        </Show>
    }
}
