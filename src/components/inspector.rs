//! The inspector: every call's rendered prompt, raw reply, tokens and time.

use crate::session::{session, RunTotals};
use ethos_engine::record::CallRecord;
use ethos_engine::Role;
use leptos::prelude::*;

fn call_view(c: CallRecord) -> impl IntoView {
    let prompt = c
        .request
        .messages
        .iter()
        .map(|m| {
            let role = match m.role {
                Role::System => "system",
                Role::User => "user",
                Role::Assistant => "assistant",
            };
            format!("[{role}]\n{}", m.content)
        })
        .collect::<Vec<_>>()
        .join("\n\n");
    let tokens = c
        .usage
        .as_ref()
        .map(|u| {
            format!(
                "{} prompt + {} output tokens",
                u.prompt_tokens, u.completion_tokens
            )
        })
        .unwrap_or_else(|| "tokens not reported".into());
    let time = c
        .duration_ms
        .map(|d| format!("{:.1} s", d / 1000.0))
        .unwrap_or_else(|| "running".into());
    let params = format!(
        "model {} · temperature {} · max {} tokens{}{}",
        c.request.model,
        c.request.temperature,
        c.request.max_tokens,
        c.request
            .seed
            .map(|s| format!(" · seed {s}"))
            .unwrap_or_default(),
        c.request
            .top_logprobs
            .map(|n| format!(" · top_logprobs {n}"))
            .unwrap_or_default()
    );
    let top = c.first_token_top_logprobs.clone().map(|t| {
        t.iter()
            .map(|l| format!("{:?} {:.3}", l.token, l.logprob.exp()))
            .collect::<Vec<_>>()
            .join(", ")
    });
    // The in-tab model's exact letter probabilities (what a distributional read uses).
    let letters = c.first_token_letter_probs.clone().map(|p| {
        p.iter()
            .zip(['A', 'B', 'C', 'D', 'E'])
            .map(|(v, l)| format!("{l} {v:.4}"))
            .collect::<Vec<_>>()
            .join(", ")
    });
    // What the run took from the reply, when it is not the reply itself (a cleaned comment, the
    // perspective chosen from a regenerated reply).
    let used = c.cleaned.clone().filter(|t| Some(t) != c.reply.as_ref());
    let status = match (&c.error, c.is_finished()) {
        (Some(e), _) => format!("failed: {e}"),
        (None, true) => "ok".to_string(),
        (None, false) => "in progress".to_string(),
    };
    view! {
        <details class="call" data-call=c.id>
            <summary>{format!("#{} {} — {} — {} — {}", c.id + 1, c.stage.label(), time, tokens, status)}</summary>
            <p class="muted small">{params} {(c.attempt > 1).then(|| format!(" · attempt {}", c.attempt))}</p>
            <p class="small"><strong>"Prompt"</strong></p>
            <pre class="prompt" tabindex="0">{prompt}</pre>
            <p class="small"><strong>"Raw reply"</strong></p>
            <pre class="prompt" tabindex="0">{c.reply.clone().unwrap_or_default()}</pre>
            {(!c.more_replies.is_empty()).then(|| view! { <pre class="prompt" tabindex="0">{c.more_replies.join("\n---\n")}</pre> })}
            {used.map(|t| view! { <p class="small"><strong>"Used by the run"</strong></p><pre class="prompt" tabindex="0">{t}</pre> })}
            {top.map(|t| view! { <p class="small">"First-token top probabilities: " {t}</p> })}
            {letters.map(|t| view! { <p class="small letter-probs">"Option letters over the whole vocabulary (used by the read): " {t}</p> })}
        </details>
    }
}

fn is_open(ev: &leptos::ev::Event) -> bool {
    ev.target()
        .and_then(|t| js_sys::Reflect::get(&t, &"open".into()).ok())
        .and_then(|v| v.as_bool())
        .unwrap_or(false)
}

/// Every call: rendered prompt, raw reply, tokens, time. Also the run's totals.
#[component]
pub fn Inspector() -> impl IntoView {
    let session = session();
    let open = RwSignal::new(false);
    let totals = move || {
        let RunTotals { totals: t, elapsed_ms } = session.run.totals.get();
        let time = elapsed_ms.unwrap_or(0.0);
        format!(
            "{} calls ({} failed), {} prompt + {} output tokens{}",
            t.calls,
            t.failed_calls,
            t.prompt_tokens,
            t.completion_tokens,
            if time > 0.0 {
                format!(", {:.1} s", time / 1000.0)
            } else {
                String::new()
            }
        )
    };
    view! {
        <Show when=move || session.has_run()>
            <details class="inspector" id="inspector" on:toggle=move |ev| open.set(is_open(&ev))>
                <summary>"Inspector: every prompt and reply"</summary>
                <p id="totals">{totals}</p>
                // Calls are only copied into the view while the inspector is open.
                <Show when=move || open.get()>
                <For
                    each=move || {
                        session.run.track_calls();
                        let mut calls: Vec<(usize, CallRecord)> = session
                            .with_record(|r| r.calls.iter().map(|c| (0, c.clone())).collect())
                            .unwrap_or_default();
                        session.baselines.with(|b| {
                            for (i, r) in b.iter().enumerate() {
                                calls.extend(r.calls.iter().map(|c| (i + 1, c.clone())));
                            }
                        });
                        calls
                    }
                    key=|(src, c)| (*src, c.id, c.started_ms.to_bits(), c.is_finished())
                    children=|(_, c)| call_view(c)
                />
                </Show>
            </details>
        </Show>
    }
}
