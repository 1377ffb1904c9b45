//! The distribution chart: the model's prediction beside the human one, per option.

use ethos_engine::vital::LETTERS;
use leptos::prelude::*;

fn normalised(v: &[f64]) -> Vec<f64> {
    let sum: f64 = v.iter().filter(|x| x.is_finite() && **x > 0.0).sum();
    v.iter()
        .map(|x| {
            if sum > 0.0 && x.is_finite() && *x > 0.0 {
                x / sum
            } else {
                0.0
            }
        })
        .collect()
}

/// Grouped bars per option: the model's prediction (and, comparing two runs, a second one on the
/// same axis), the class poll's votes and people (survey / gold), always followed by the same
/// numbers as a table.
#[component]
pub fn DistChart(
    options: Vec<String>,
    model: Vec<f64>,
    human: Option<Vec<f64>>,
    caption: String,
    /// A second prediction drawn beside the first (the compare view).
    #[prop(optional)]
    second: Option<Vec<f64>>,
    /// Names of the two predictions in the legend and table (default "model").
    #[prop(optional)]
    names: Option<(String, String)>,
    /// The class poll: its legend name ("Class (28 votes)") and its votes per option.
    #[prop(optional_no_strip)]
    class: Option<(String, Vec<f64>)>,
    /// What `human` is, for the legend and table ("Survey population", …).
    #[prop(optional_no_strip)]
    human_name: Option<String>,
) -> impl IntoView {
    let (first_name, second_name) = names.unwrap_or_else(|| ("model".into(), "model 2".into()));
    // (legend name, colour, class, values) per bar of a row, people last.
    let mut series = vec![(
        first_name,
        "var(--model)",
        "legend-model",
        normalised(&model),
    )];
    if let Some(s) = &second {
        series.push((second_name, "var(--model2)", "legend-model2", normalised(s)));
    }
    if let Some((name, votes)) = &class {
        series.push((
            name.clone(),
            "var(--class)",
            "legend-class",
            normalised(votes),
        ));
    }
    let has_human = human.is_some();
    if let Some(h) = &human {
        series.push((
            human_name.unwrap_or_else(|| "people (survey / gold)".into()),
            "var(--human)",
            "legend-human",
            normalised(h),
        ));
    }
    let names_said = series
        .iter()
        .map(|(name, ..)| name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let n = options.len().max(model.len()).max(1);
    let (bar_h, gap, label_w, bar_w) = (16.0, 3.0, 40.0, 300.0);
    let row_h = (bar_h + gap) * series.len() as f64 + 6.0;
    let height = row_h * n as f64 + 10.0;
    let bars = (0..n)
        .map(|i| {
            let y = 5.0 + row_h * i as f64;
            let letter = LETTERS.get(i).copied().unwrap_or('?').to_string();
            let rects = series
                .iter()
                .enumerate()
                .map(|(j, (name, colour, _, values))| {
                    let v = values.get(i).copied().unwrap_or(0.0);
                    let top = y + (bar_h + gap) * j as f64;
                    let w = (v * bar_w).max(0.5);
                    view! {
                        <rect x=label_w y=top width=w height=bar_h fill=*colour data-series=name.clone()></rect>
                        <text x=label_w + w + 4.0 y=top + 13.0>{format!("{:.0}%", v * 100.0)}</text>
                    }
                })
                .collect_view();
            view! {
                <g>
                    <text x="4" y=y + row_h / 2.0 + 4.0>{letter}</text>
                    {rects}
                </g>
            }
        })
        .collect_view();
    let rows = (0..n)
        .map(|i| {
            let letter = LETTERS.get(i).copied().unwrap_or('?').to_string();
            let opt = options.get(i).cloned().unwrap_or_default();
            let cells = series
                .iter()
                .map(|(_, _, _, values)| {
                    let v = values.get(i).copied().unwrap_or(0.0);
                    view! { <td class="num">{format!("{:.1}%", v * 100.0)}</td> }
                })
                .collect_view();
            view! {
                <tr>
                    <th scope="row">{letter}</th>
                    <td>{opt}</td>
                    {cells}
                    {(!has_human).then(|| view! { <td class="num">"—"</td> })}
                </tr>
            }
        })
        .collect_view();
    let legend = series
        .iter()
        .map(|(name, _, class, _)| view! { <span class=format!("legend {class}")>{format!("■ {name}")}</span> " " })
        .collect_view();
    let heads = series
        .iter()
        .map(|(name, _, _, _)| {
            let head = if name.starts_with("people (") {
                "People".to_string()
            } else {
                capitalised(name)
            };
            view! { <th scope="col">{head}</th> }
        })
        .collect_view();
    view! {
        <figure class="dist-chart">
            // The legend first: on a projector it is read before the bars.
            <figcaption>{legend} " · " {caption.clone()}</figcaption>
            <svg
                class="chart"
                viewBox=format!("0 0 {} {height}", label_w + bar_w + 60.0)
                role="img"
                aria-label=format!("{caption}. Bars per option, in this order: {names_said}. The same numbers are in the table below.")
            >
                {bars}
            </svg>
            <div class="table-wrap">
                <table class="dist-table">
                    <caption class="visually-hidden">{caption}</caption>
                    <thead>
                        <tr>
                            <th scope="col">"Option"</th>
                            <th scope="col">"Text"</th>
                            {heads}
                            {(!has_human).then(|| view! { <th scope="col">"People"</th> })}
                        </tr>
                    </thead>
                    <tbody>{rows}</tbody>
                </table>
            </div>
        </figure>
    }
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}
