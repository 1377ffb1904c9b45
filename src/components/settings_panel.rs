//! Panel 2, the run settings: k, decoding per stage, seed, distribution method, limits.

use crate::connection::conn;
use crate::settings::settings;
use ethos_engine::reference::{changed_since_preset, reference_settings};
use ethos_engine::settings::{DistSetting, JudgeMethod, RunSettings};
use leptos::prelude::*;

type Getter = fn(&RunSettings) -> String;
type Setter = fn(&mut RunSettings, &str) -> bool;

/// A numeric setting bound to the run settings; unparsable input is refused with a message.
fn number(
    id: &'static str,
    label: &'static str,
    step: &'static str,
    get: Getter,
    set: Setter,
) -> impl IntoView {
    let settings = settings();
    let bad = RwSignal::new(false);
    view! {
        <div class="field">
            <label for=id>{label}</label>
            <input
                id=id
                type="number"
                step=step
                min="0"
                aria-invalid=move || bad.get().to_string()
                prop:value=move || settings.with(get)
                on:change=move |ev| {
                    let v = event_target_value(&ev);
                    // Parse into a copy: a refused value must not re-render (and reset) the field
                    // while the user is still typing.
                    let mut next = settings.get_untracked();
                    let ok = set(&mut next, v.trim());
                    bad.set(!ok);
                    if ok {
                        settings.edit(|s| *s = next);
                    }
                }
            />
        </div>
    }
}

/// A yes/no setting bound to the run settings.
fn checkbox(
    id: &'static str,
    label: &'static str,
    get: fn(&RunSettings) -> bool,
    set: fn(&mut RunSettings, bool),
) -> impl IntoView {
    let settings = settings();
    view! {
        <label class="inline">
            <input
                type="checkbox"
                id=id
                prop:checked=move || settings.with(get)
                on:change=move |ev| {
                    let on = event_target_checked(&ev);
                    settings.edit(|s| set(s, on));
                }
            />
            {label}
        </label>
    }
}

fn parse<T: std::str::FromStr>(v: &str, slot: &mut T) -> bool {
    match v.parse::<T>() {
        Ok(x) => {
            *slot = x;
            true
        }
        Err(_) => false,
    }
}

/// k, decoding per stage, seed, distribution method, concurrency.
#[component]
pub fn SettingsPanel() -> impl IntoView {
    let conn = conn();
    let settings = settings();
    let problem = move || {
        settings
            .with(|s| s.validate().err().map(|e| e.to_string()))
    };
    let preset_on = move || {
        settings
            .with(|s| s.preset.is_some() && changed_since_preset(s).is_empty())
    };
    view! {
        <details class="settings" open>
            <summary>"Run settings"</summary>
            <label class="inline">
                <input
                    type="checkbox"
                    id="reference-preset"
                    prop:checked=preset_on
                    on:change=move |ev| {
                        let on = event_target_checked(&ev);
                        let facts = conn.provider_facts();
                        settings.edit(|s| {
                            if on {
                                *s = reference_settings(s, facts);
                            } else {
                                s.preset = None;
                            }
                        });
                    }
                />
                "Reproduce the reference (every decision as in the authors' code, for what this provider offers: test the connection with the probe first)"
            </label>
            {move || settings.with(|s| s.preset.as_ref().map(|p| {
                let changed = changed_since_preset(s);
                view! {
                    <div id="preset-deviations" class="muted small">
                        <p>"Still differs from the reference:"</p>
                        <ul>{p.deviations.iter().map(|d| view! { <li>{d.clone()}</li> }).collect_view()}</ul>
                        {(!changed.is_empty()).then(|| view! { <p class="warning">{format!("Changed since the preset: {}", changed.join(", "))}</p> })}
                    </div>
                }
            }))}
            <div class="grid2">
                {number("k", "Perspectives (k)", "1", |s| s.k.to_string(), |s, v| parse(v, &mut s.k))}
                {number("concurrency", "Calls at once", "1", |s| s.concurrency.to_string(), |s, v| parse(v, &mut s.concurrency))}
                {number("call-timeout", "Give up on a call after (s; 0: never)", "1", |s| s.call_timeout_s.to_string(), |s, v| parse(v, &mut s.call_timeout_s))}
                {number("seed", "Seed", "1", |s| s.seed.to_string(), |s, v| parse(v, &mut s.seed))}
                {number("top-logprobs", "Top log-probs read", "1", |s| s.top_logprobs.to_string(), |s, v| parse(v, &mut s.top_logprobs))}
                {number("fallback-samples", "Answers sampled when a read falls back", "1", |s| s.fallback_samples.to_string(), |s, v| parse(v, &mut s.fallback_samples))}
            </div>
            {checkbox("keep-extra", "Keep perspectives beyond k (as the reference does)", |s| s.keep_extra, |s, on| s.keep_extra = on)}
            {checkbox("send-seed", "Send the seed to the provider", |s| s.send_seed, |s, on| s.send_seed = on)}
            {checkbox("per-item-seed", "A seed per item, derived from the seed and the item id (items with the same text get fresh replies, as in the reference; off: one seed for every item)", |s| s.per_item_seed, |s, on| s.per_item_seed = on)}
            {checkbox(
                "structured-perspectives",
                "Ask for perspectives as schema-checked JSON (not the reference format; helps small local models)",
                |s| s.structured_perspectives,
                |s, on| s.structured_perspectives = on,
            )}
            {checkbox(
                "reference-parsing",
                "Reference parsing of perspectives: only lines starting with #, asking again while fewer than k come (off: numbered lists, bullets, bold and JSON are read too)",
                |s| s.reference_parsing,
                |s, on| s.reference_parsing = on,
            )}
            {checkbox(
                "judge-per-sentence",
                "Overton judge in the reference direction: does each explanation entail each sentence of the output (an LLM estimate of the NLI score, one call per explanation; off: one call, does the whole output entail each explanation)",
                |s| s.judge == JudgeMethod::PerSentence,
                |s, on| s.judge = if on { JudgeMethod::PerSentence } else { JudgeMethod::WholeOutput },
            )}
            {checkbox(
                "raw-completion",
                "Raw completion for stage 3 and the baselines: plain prompts to /v1/completions, read right after \"Answer:\" as the reference does (llama.cpp, vLLM; the probe says whether the server offers it)",
                |s| s.raw_completion.combine,
                |s, on| s.raw_completion.combine = on,
            )}
            <label for="dist-setting">"Distribution method"</label>
            <select
                id="dist-setting"
                prop:value=move || settings.with(|s| s.distribution.id())
                on:change=move |ev| {
                    let d = DistSetting::from_id(&event_target_value(&ev), 10)
                        .unwrap_or(DistSetting::Auto);
                    settings.edit(|s| s.distribution = d);
                }
            >
                <option value="auto">"Auto: log-probabilities where the model gives them, else the comments' votes"</option>
                <option value="logprobs">"Log-probabilities of the answer letter (reference)"</option>
                <option value="votes">"Votes: the letters the comments start with"</option>
                <option value="sampling">"Sampling: 10 answers, letter frequencies"</option>
                <option value="verbalised">"Verbalised: the model states percentages"</option>
            </select>
            <fieldset>
                <legend>"Temperature and output tokens per stage"</legend>
                <div class="grid2">
                    {number("temp-perspectives", "Stage 1 temperature", "0.1", |s| s.decoding.perspectives.temperature.to_string(), |s, v| parse(v, &mut s.decoding.perspectives.temperature))}
                    {number("max-perspectives", "Stage 1 max tokens", "1", |s| s.decoding.perspectives.max_tokens.to_string(), |s, v| parse(v, &mut s.decoding.perspectives.max_tokens))}
                    {number("temp-comments", "Stage 2 temperature", "0.1", |s| s.decoding.comments.temperature.to_string(), |s, v| parse(v, &mut s.decoding.comments.temperature))}
                    {number("max-comments", "Stage 2 max tokens", "1", |s| s.decoding.comments.max_tokens.to_string(), |s, v| parse(v, &mut s.decoding.comments.max_tokens))}
                    {number("temp-overton", "Overton combine temperature", "0.1", |s| s.decoding.overton.temperature.to_string(), |s, v| parse(v, &mut s.decoding.overton.temperature))}
                    {number("max-overton", "Overton combine max tokens", "1", |s| s.decoding.overton.max_tokens.to_string(), |s, v| parse(v, &mut s.decoding.overton.max_tokens))}
                    {number("temp-short", "Selection / answer temperature", "0.1", |s| s.decoding.short.temperature.to_string(), |s, v| parse(v, &mut s.decoding.short.temperature))}
                    {number("max-short", "Selection / answer max tokens", "1", |s| s.decoding.short.max_tokens.to_string(), |s, v| parse(v, &mut s.decoding.short.max_tokens))}
                </div>
            </fieldset>
            <div class="row">
                <button
                    type="button"
                    id="reset-settings"
                    on:click=move |_| {
                        settings.edit(|s| {
                            let models = s.models.clone();
                            let templates = s.templates.clone();
                            let concurrency = s.concurrency;
                            *s = RunSettings { models, templates, concurrency, ..RunSettings::default() };
                        });
                    }
                >
                    "Reference values"
                </button>
            </div>
            {move || problem().map(|p| view! { <p class="error" role="alert" id="settings-error">{p}</p> })}
        </details>
    }
}
