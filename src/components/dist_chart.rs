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

/// Grouped bars, model vs people, per option, always followed by the same numbers as a table.
#[component]
pub fn DistChart(
    options: Vec<String>,
    model: Vec<f64>,
    human: Option<Vec<f64>>,
    caption: String,
) -> impl IntoView {
    let model = normalised(&model);
    let human = human.map(|h| normalised(&h));
    let n = options.len().max(model.len()).max(1);
    let (row_h, label_w, bar_w) = (44.0, 40.0, 300.0);
    let height = row_h * n as f64 + 10.0;
    let bars = (0..n)
        .map(|i| {
            let y = 5.0 + row_h * i as f64;
            let letter = LETTERS.get(i).copied().unwrap_or('?').to_string();
            let m = model.get(i).copied().unwrap_or(0.0);
            let h = human.as_ref().and_then(|h| h.get(i).copied());
            view! {
                <g>
                    <text x="4" y=y + 24.0>{letter}</text>
                    <rect x=label_w y=y width=(m * bar_w).max(0.5) height="16" fill="var(--model)"></rect>
                    <text x=label_w + (m * bar_w).max(0.5) + 4.0 y=y + 13.0>{format!("{:.0}%", m * 100.0)}</text>
                    {h.map(|h| view! {
                        <rect x=label_w y=y + 19.0 width=(h * bar_w).max(0.5) height="16" fill="var(--human)"></rect>
                        <text x=label_w + (h * bar_w).max(0.5) + 4.0 y=y + 32.0>{format!("{:.0}%", h * 100.0)}</text>
                    })}
                </g>
            }
        })
        .collect_view();
    let rows = (0..n)
        .map(|i| {
            let letter = LETTERS.get(i).copied().unwrap_or('?').to_string();
            let opt = options.get(i).cloned().unwrap_or_default();
            let m = model.get(i).copied().unwrap_or(0.0);
            let h = human.as_ref().and_then(|h| h.get(i).copied());
            view! {
                <tr>
                    <th scope="row">{letter}</th>
                    <td>{opt}</td>
                    <td class="num">{format!("{:.1}%", m * 100.0)}</td>
                    <td class="num">{h.map(|h| format!("{:.1}%", h * 100.0)).unwrap_or_else(|| "—".into())}</td>
                </tr>
            }
        })
        .collect_view();
    let has_human = human.is_some();
    view! {
        <figure class="dist-chart">
            <svg
                class="chart"
                viewBox=format!("0 0 {} {height}", label_w + bar_w + 60.0)
                role="img"
                aria-label=format!("{caption}. The same numbers are in the table below.")
            >
                {bars}
            </svg>
            <figcaption>
                <span class="legend-model">"■ model"</span>
                {has_human.then(|| view! { " " <span class="legend-human">"■ people (survey / gold)"</span> })}
                " · " {caption.clone()}
            </figcaption>
            <div class="table-wrap">
                <table class="dist-table">
                    <caption class="visually-hidden">{caption}</caption>
                    <thead>
                        <tr>
                            <th scope="col">"Option"</th>
                            <th scope="col">"Text"</th>
                            <th scope="col">"Model"</th>
                            <th scope="col">"People"</th>
                        </tr>
                    </thead>
                    <tbody>{rows}</tbody>
                </table>
            </div>
        </figure>
    }
}
