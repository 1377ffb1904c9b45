//! Benchmark panel 1: which file, which items, which methods, and the estimate.

use crate::batch::{batch, BatchState};
use crate::catalog::SHIPPED;
use crate::settings::settings;
use crate::state::ui;
use ethos_engine::batch::{BatchSpec, Pick, Slice};
use ethos_engine::settings::Method;
use ethos_engine::Source;
use leptos::prelude::*;

const METHODS: [Method; 3] = [Method::EthosAgents, Method::Vanilla, Method::Prompting];

/// Benchmark panel 1: which file, which items, which methods. The batch takes the model and
/// settings of panel 2 as they are when it is set up, and keeps them for its whole life; only how
/// failed items are scored (`#bench-score-failed`, scoring only) can change afterwards.
///
/// Hooks: `#bench-file`, `#bench-pick` (first|random|ids|all), `#bench-n`, `#bench-seed`,
/// `#bench-ids`, `#bench-attribute`, `#bench-method-<ethosagents|vanilla|prompting>`,
/// `#bench-in-flight`, `#bench-judge`, `#bench-score-failed`, `#bench-create`, `#bench-discard`, `#bench-setup-error`,
/// `#bench-summary`.
#[component]
pub fn BenchSetup() -> impl IntoView {
    let (ui, batch, run_settings) = (ui(), batch(), settings());
    let file = RwSignal::new(
        Source::GlobalOpinionQa
            .file_name()
            .unwrap_or_default()
            .to_string(),
    );
    let pick = RwSignal::new("first".to_string());
    let n = RwSignal::new("20".to_string());
    let seed = RwSignal::new("1".to_string());
    let ids = RwSignal::new(String::new());
    let attribute = RwSignal::new(String::new());
    let methods = RwSignal::new(vec![
        Method::EthosAgents,
        Method::Vanilla,
        Method::Prompting,
    ]);
    let in_flight = RwSignal::new(String::new());
    let judge = RwSignal::new(false);
    let models = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    // Setting up reads the file and replaces the stored batch (a database write): the form is
    // locked meanwhile, and the outcome lands in the status line or the form's error.
    let set_up = Action::new_local(move |spec: &BatchSpec| {
        let spec = spec.clone();
        async move { batch.create(spec).await }
    });
    Effect::new(move |_| match set_up.value().get() {
        Some(Ok(())) => ui.say("Benchmark set up: press Start in panel 3."),
        Some(Err(e)) => error.set(Some(e)),
        None => {}
    });
    let locked = move || batch.is_running() || set_up.pending().get();
    let has_batch = move || !matches!(batch.state.get(), BatchState::Empty);
    let is_overton =
        move || file.with(|f| Source::from_file_name(f) == Some(Source::OvertonValueKaleidoscope));

    // The form shows the batch on this device (after a reload too).
    Effect::new(move |_| {
        batch.spec.with(|s| {
            let Some(s) = s else { return };
            file.set(s.file.clone());
            match &s.slice.pick {
                Pick::All => pick.set("all".into()),
                Pick::First { n: x } => {
                    pick.set("first".into());
                    n.set(x.to_string());
                }
                Pick::Random { n: x, seed: sd } => {
                    pick.set("random".into());
                    n.set(x.to_string());
                    seed.set(sd.to_string());
                }
                Pick::Ids { ids: list } => {
                    pick.set("ids".into());
                    ids.set(list.join(", "));
                }
            }
            attribute.set(s.slice.attribute.clone());
            methods.set(s.methods.clone());
            in_flight.set(s.items_in_flight.to_string());
            judge.set(s.judge);
            models.set(s.models.join("\n"));
        })
    });

    let build = move || -> Result<BatchSpec, String> {
        let number = |s: &str, what: &str| {
            s.trim()
                .parse::<u64>()
                .map_err(|_| format!("{what} must be a whole number"))
        };
        let slice_pick = match pick.get_untracked().as_str() {
            "all" => Pick::All,
            "random" => Pick::Random {
                n: number(&n.get_untracked(), "N")? as usize,
                seed: number(&seed.get_untracked(), "The seed")?,
            },
            "ids" => {
                let list: Vec<String> = ids
                    .get_untracked()
                    .split([',', ' ', '\n', '\t'])
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect();
                if list.is_empty() {
                    return Err("List the ids to run (separated by commas or spaces).".into());
                }
                Pick::Ids { ids: list }
            }
            _ => Pick::First {
                n: number(&n.get_untracked(), "N")? as usize,
            },
        };
        if matches!(slice_pick, Pick::First { n: 0 } | Pick::Random { n: 0, .. }) {
            return Err("N must be at least 1.".into());
        }
        let settings = run_settings.get_untracked();
        settings
            .validate()
            .map_err(|e| format!("Check the settings in panel 2: {e}"))?;
        let flight = match in_flight.get_untracked().trim() {
            "" => settings.concurrency.max(1),
            t => t
                .parse::<usize>()
                .ok()
                .filter(|x| *x >= 1)
                .ok_or("Items at once must be a whole number ≥ 1")?,
        };
        let chosen = methods.get_untracked();
        if chosen.is_empty() {
            return Err("Choose at least one method.".into());
        }
        Ok(BatchSpec {
            file: file.get_untracked(),
            slice: Slice {
                pick: slice_pick,
                attribute: attribute.get_untracked().trim().to_string(),
            },
            methods: chosen,
            settings,
            items_in_flight: flight,
            judge: judge.get_untracked() && is_overton(),
            models: {
                let mut list: Vec<String> = Vec::new();
                for m in models
                    .get_untracked()
                    .split(['\n', ','])
                    .map(str::trim)
                    .filter(|m| !m.is_empty())
                {
                    if !list.iter().any(|x| x == m) {
                        list.push(m.to_string());
                    }
                }
                list
            },
        })
    };

    let create = move |_| {
        let spec = match build() {
            Ok(s) => s,
            Err(e) => {
                error.set(Some(e));
                return;
            }
        };
        error.set(None);
        set_up.dispatch_local(spec);
    };

    let summary = move || {
        batch.spec.with(|s| {
            s.as_ref().map(|s| {
                let n = batch.items.with(|i| i.len());
                let methods: Vec<&str> = s.methods.iter().map(|m| m.label()).collect();
                let label = Source::from_file_name(&s.file).map(|x| x.label()).unwrap_or("?");
                let names = s.model_names();
                let per_model = if names.len() > 1 { format!(" × {} models", names.len()) } else { String::new() };
                format!(
                    "Set up: {label}, {} → {n} item(s) × {} ({}){per_model} = {} task(s); model {}, k = {}, seed {}, {} item(s) at once{}{}.",
                    s.slice.describe(),
                    methods.len(),
                    methods.join(", "),
                    n * s.methods.len() * names.len(),
                    names.join(", "),
                    s.settings.k,
                    s.settings.seed,
                    s.items_in_flight,
                    if s.judge { ", Overton judged by the same model" } else { "" },
                    if s.settings.score_failed_as_reference { ", failed items scored as the reference does" } else { "" }
                )
            })
        })
    };

    view! {
        <div class="bench-setup">
            <p class="muted small">
                "Run a slice of a VITAL file through EthosAgents and the two baselines, with the model and settings of panel 2, and compare the scores."
            </p>
            <div class="field">
                <label for="bench-file">"VITAL file"</label>
                <select id="bench-file" prop:value=move || file.get() disabled=locked on:change=move |ev| file.set(event_target_value(&ev))>
                    {SHIPPED
                        .iter()
                        .filter_map(|s| s.file_name().map(|f| (f, s.label())))
                        .map(|(f, label)| view! { <option value=f>{label}</option> })
                        .collect_view()}
                </select>
            </div>
            <div class="filters">
                <div class="field">
                    <label for="bench-pick">"Items"</label>
                    <select id="bench-pick" prop:value=move || pick.get() disabled=locked on:change=move |ev| pick.set(event_target_value(&ev))>
                        <option value="first">"First N"</option>
                        <option value="random">"N at random (seeded)"</option>
                        <option value="ids">"These ids"</option>
                        <option value="all">"All"</option>
                    </select>
                </div>
                <Show when=move || pick.with(|p| p == "first" || p == "random")>
                    <div class="field">
                        <label for="bench-n">"N"</label>
                        <input id="bench-n" type="number" min="1" prop:value=move || n.get() disabled=locked on:change=move |ev| n.set(event_target_value(&ev)) />
                    </div>
                </Show>
                <Show when=move || pick.with(|p| p == "random")>
                    <div class="field">
                        <label for="bench-seed">"Seed"</label>
                        <input id="bench-seed" type="number" min="0" prop:value=move || seed.get() disabled=locked on:change=move |ev| seed.set(event_target_value(&ev)) />
                    </div>
                </Show>
            </div>
            <Show when=move || pick.with(|p| p == "ids")>
                <div class="field">
                    <label for="bench-ids">"Ids (commas or spaces)"</label>
                    <textarea id="bench-ids" rows="2" prop:value=move || ids.get() disabled=locked on:change=move |ev| ids.set(event_target_value(&ev))></textarea>
                </div>
            </Show>
            <div class="field">
                <label for="bench-attribute">"Only items whose attribute contains (country, group, …)"</label>
                <input id="bench-attribute" type="text" placeholder="e.g. Japan, Democrat" prop:value=move || attribute.get() disabled=locked on:change=move |ev| attribute.set(event_target_value(&ev)) />
            </div>
            <fieldset class="methods">
                <legend>"Methods to compare"</legend>
                {METHODS
                    .iter()
                    .map(|&m| {
                        let id = format!("bench-method-{}", m.id());
                        view! {
                            <label class="inline">
                                <input
                                    type="checkbox"
                                    id=id
                                    disabled=locked
                                    prop:checked=move || methods.with(|v| v.contains(&m))
                                    on:change=move |ev| {
                                        let on = event_target_checked(&ev);
                                        methods.update(|v| {
                                            v.retain(|x| *x != m);
                                            if on {
                                                v.push(m);
                                                v.sort_unstable_by_key(|x| METHODS.iter().position(|y| y == x));
                                            }
                                        });
                                    }
                                />
                                {m.label()}
                            </label>
                        }
                    })
                    .collect_view()}
            </fieldset>
            <div class="field">
                <label for="bench-models">"Models to compare (one per line; empty: the model of panel 2)"</label>
                <textarea id="bench-models" rows="2" placeholder="e.g. gpt-4o-mini" prop:value=move || models.get() disabled=locked on:change=move |ev| models.set(event_target_value(&ev))></textarea>
            </div>
            <div class="field">
                <label for="bench-in-flight">"Items at once (empty: the concurrency of panel 2)"</label>
                <input id="bench-in-flight" type="number" min="1" prop:value=move || in_flight.get() disabled=locked on:change=move |ev| in_flight.set(event_target_value(&ev)) />
            </div>
            <Show when=is_overton>
                <label class="inline">
                    <input type="checkbox" id="bench-judge" prop:checked=move || judge.get() disabled=locked on:change=move |ev| judge.set(event_target_checked(&ev)) />
                    "Score coverage with the model as judge (an LLM estimate of the NLI score, not the reference NLI model; one call per explanation, item and method, or one per item and method with the whole-output judge)"
                </label>
            </Show>
            <label class="inline">
                <input
                    type="checkbox"
                    id="bench-score-failed"
                    prop:checked=move || {
                        batch
                            .spec
                            .with(|s| s.as_ref().map(|s| s.settings.score_failed_as_reference))
                            .unwrap_or_else(|| run_settings.with(|s| s.score_failed_as_reference))
                    }
                    on:change=move |ev| {
                        let on = event_target_checked(&ev);
                        run_settings.edit(|s| s.score_failed_as_reference = on);
                        if let Err(e) = batch.set_score_failed(on) {
                            ui.say(format!("The benchmark could not be stored with this setting: {e}"));
                        }
                    }
                />
                "Score failed items as the reference does (uniform distribution, unparsed answer, coverage 0), so every method is scored on the same items; off: failed items are left out and counted"
            </label>
            <div class="row">
                <button type="button" id="bench-create" class="primary" disabled=locked on:click=create>
                    {move || if has_batch() { "Set up again (replaces the results)" } else { "Set up benchmark" }}
                </button>
                <Show when=has_batch>
                    <button type="button" id="bench-discard" disabled=locked on:click=move |_| {
                        batch.discard();
                        ui.say("Benchmark discarded.");
                    }>
                        "Discard"
                    </button>
                </Show>
            </div>
            {move || error.get().map(|e| view! { <p class="error" role="alert" id="bench-setup-error">{e}</p> })}
            {move || summary().map(|s| view! { <p class="note small" id="bench-summary">{s}</p> })}
        </div>
    }
}
