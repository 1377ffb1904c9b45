//! Benchmark panel 3, top: Start / Pause / Resume / Cancel and the batch's progress.

use crate::batch::{batch, BatchState};
use crate::browser;
use crate::connection::conn;
use crate::state::ui;
use crate::storage;
use ethos_engine::batch as engine;
use leptos::prelude::*;
use std::time::Duration;

fn clock(ms: f64) -> String {
    let s = (ms / 1000.0).max(0.0).round() as u64;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// Benchmark panel 3, top: Start / Pause / Resume / Cancel and the progress of the batch.
///
/// Hooks: `#bench-start`, `#bench-pause`, `#bench-cancel`, `#bench-progress`, `#bench-counts`
/// (with `data-done`, `data-failed`, `data-running`, `data-remaining`, `data-total`,
/// `data-state`, `data-unsaved`, `data-calls`: calls finished since the last start), `#bench-busy` (`data-share`), `#bench-storage` (`data-usage`,
/// `data-quota`, `data-needed`), `#bench-notice`, `#bench-error`.
#[component]
pub fn BenchProgress() -> impl IntoView {
    let (ui, conn, batch) = (ui(), conn(), batch());
    // A one-second tick for the clocks while running.
    let now = RwSignal::new(browser::now_ms());
    if let Ok(handle) = set_interval_with_handle(
        move || now.set(browser::now_ms()),
        Duration::from_millis(1000),
    ) {
        on_cleanup(move || handle.clear());
    }
    // While a batch runs, its calls change the counters hundreds of times a second, and each
    // redraw counts every task again: they are drawn at most every 100 ms (`drawn`), and at
    // once when the batch changes state or many tasks change together (`results_version`).
    let drawn = RwSignal::new(0u32);
    let waiting = StoredValue::new(false);
    Effect::new(move |_| {
        batch.outcomes.track();
        batch.running.track();
        batch.live.track();
        if waiting.get_value() {
            return;
        }
        waiting.set_value(true);
        set_timeout(
            move || {
                let _ = waiting.try_update_value(|w| *w = false);
                let _ = drawn.try_update(|v| *v = v.wrapping_add(1));
            },
            Duration::from_millis(100),
        );
    });
    let counts = Memo::new(move |_| {
        drawn.track();
        batch.state.track();
        batch.results_version.track();
        let all = batch.all_tasks();
        let c = batch
            .outcomes
            .with_untracked(|o| batch.running.with_untracked(|r| engine::counts(&all, o, r)));
        (c, all.len())
    });
    // The live counters as last drawn.
    let live = move || {
        drawn.track();
        batch.state.track();
        batch.live.get_untracked()
    };
    let tokens = move || {
        batch.outcomes.with_untracked(|o| {
            o.iter()
                .map(|x| x.prompt_tokens + x.completion_tokens)
                .sum::<u64>()
        })
    };
    let start_label = move || match batch.state.get() {
        BatchState::Paused | BatchState::Cancelled | BatchState::Stopped(_) => "Resume",
        BatchState::Done if counts.get().0.failed > 0 => "Run failed again",
        _ => "Start",
    };
    let can_start = move || {
        matches!(
            batch.state.get(),
            BatchState::Ready | BatchState::Paused | BatchState::Cancelled | BatchState::Stopped(_)
        ) || (batch.state.get() == BatchState::Done && counts.get().0.failed > 0)
    };
    let state_name = move || match batch.state.get() {
        BatchState::Empty => "empty",
        BatchState::Loading => "loading",
        BatchState::Ready => "ready",
        BatchState::Running => "running",
        BatchState::Paused => "paused",
        BatchState::Stopped(_) => "stopped",
        BatchState::Cancelled => "cancelled",
        BatchState::Done => "done",
    };
    let line = move || {
        let (c, total) = counts.get();
        let t = now.get();
        let live = live();
        let elapsed = live.elapsed_ms(t);
        let in_flight = batch
            .spec
            .with(|s| s.as_ref().map(|s| s.items_in_flight).unwrap_or(1));
        let eta = if batch.is_running() {
            batch
                .outcomes
                .with_untracked(|o| engine::eta_ms(o, c.remaining + c.running, in_flight))
                .map(|ms| format!(" · about {} left", clock(ms)))
                .unwrap_or_default()
        } else {
            String::new()
        };
        format!(
            "{} of {total} done · {} running · {} failed · {} remaining · {} tokens · {} calls ({} from storage) · elapsed {}{eta}",
            c.done,
            c.running,
            c.failed,
            c.remaining,
            tokens(),
            live.calls_done,
            live.calls_from_cache,
            clock(elapsed)
        )
    };
    // What the tasks still to run will cost, before pressing Start (tokens: rough for prompts,
    // upper bounds for output): tasks, calls, prompt tokens, output tokens.
    let cost = Memo::new(move |prev: Option<&Option<(usize, usize, usize, usize)>>| {
        // Not while running: a task finishes many times a second, and estimating thousands of
        // pending tasks each time would block the page (the figures are for before Start).
        if batch.is_running() {
            if let Some(prev) = prev {
                return *prev;
            }
        }
        let spec = batch.spec.get()?;
        let all = batch.all_tasks();
        let todo = batch.outcomes.with(|o| engine::pending(&all, o));
        if todo.is_empty() {
            return None;
        }
        let (mut calls, mut prompt, mut out) = (0usize, 0usize, 0usize);
        batch.items.with(|items| {
            for t in &todo {
                if let Some(item) = items.get(t.item) {
                    let e = ethos_engine::estimate::estimate_method(item, &spec.settings_for(t.model), t.method);
                    calls += e.calls;
                    prompt += e.prompt_tokens;
                    out += e.max_output_tokens;
                }
            }
        });
        Some((todo.len(), calls, prompt, out))
    });
    let estimate = move || {
        cost.get().map(|(tasks, calls, prompt, out)| format!(
            "{tasks} task(s) to run: about {calls} calls, roughly {prompt} prompt tokens and at most {out} output tokens."
        ))
    };
    // What the browser says this site stores and may store, asked again when the batch changes
    // state and after every large write.
    let usage = LocalResource::new(move || {
        batch.storage_version.track();
        batch.state.track();
        storage::estimate()
    });
    let needed = move || {
        let calls = cost.with(|c| c.map(|c| c.1).unwrap_or(0));
        batch.storage_needed(calls)
    };
    let storage_line = move || {
        let est = usage.get().flatten();
        let need = needed();
        let mut line = match est {
            Some(e) => format!(
                "Storage: {} used of {} this site may use",
                storage::size_text(e.usage),
                storage::size_text(e.quota)
            ),
            None => "Storage: this browser does not say how much this site may use".to_string(),
        };
        if need > 0.0 {
            line.push_str(&format!(" · the tasks left need about {} more", storage::size_text(need)));
            if let Some(e) = est {
                if e.usage + need > e.quota {
                    line.push_str(" (more than is free: the batch will pause when storage is full)");
                }
            }
        }
        match batch.persisted.get() {
            Some(true) => line.push_str(" · kept under storage pressure."),
            Some(false) => line.push_str(" · the browser may clear it under storage pressure (it did not grant persistent storage)."),
            None => line.push('.'),
        }
        line
    };
    let busy = move || {
        let t = now.get();
        live().busy_share(t)
    };
    view! {
        <div class="bench-progress">
            <div class="row">
                <button type="button" id="bench-start" class="primary" disabled=move || !can_start() on:click=move |_| batch.start(ui, conn)>
                    {start_label}
                </button>
                <button type="button" id="bench-pause" disabled=move || !batch.is_running() on:click=move |_| batch.pause(ui)>
                    "Pause"
                </button>
                <button type="button" id="bench-cancel" disabled=move || !matches!(batch.state.get(), BatchState::Running | BatchState::Paused) on:click=move |_| batch.cancel(ui)>
                    "Cancel"
                </button>
            </div>
            {move || estimate().map(|e| view! { <p class="muted small" id="bench-estimate">{e}</p> })}
            <progress
                id="bench-progress"
                class="progress"
                aria-label="Tasks finished"
                max=move || counts.get().1.max(1)
                value=move || { let (c, _) = counts.get(); c.done + c.failed }
            ></progress>
            <p
                class="small"
                id="bench-counts"
                aria-live="polite"
                data-state=state_name
                data-done=move || counts.get().0.done
                data-failed=move || counts.get().0.failed
                data-running=move || counts.get().0.running
                data-remaining=move || counts.get().0.remaining
                data-total=move || counts.get().1
                data-unsaved=move || batch.unsaved.get()
                data-calls=move || live().calls_done
            >
                {line}
            </p>
            <p class="muted small" id="bench-busy" data-share=move || busy().map(|b| format!("{b:.4}")).unwrap_or_default()>
                {move || busy().map(|b| format!("Call slots busy: {:.0} % of {} since the last start.", b * 100.0, live().limit))}
            </p>
            <p
                class="muted small"
                id="bench-storage"
                data-usage=move || usage.get().flatten().map(|e| e.usage).unwrap_or(-1.0)
                data-quota=move || usage.get().flatten().map(|e| e.quota).unwrap_or(-1.0)
                data-needed=move || needed().round()
            >
                {storage_line}
            </p>
            {move || match batch.state.get() {
                BatchState::Stopped(reason) => Some(view! { <p class="error" role="alert" id="bench-error">{format!("Stopped: {reason}")}</p> }),
                _ => None,
            }}
            {move || batch.notice.get().map(|n| view! { <p class="warning small" role="status" id="bench-notice">{n}</p> })}
        </div>
    }
}
