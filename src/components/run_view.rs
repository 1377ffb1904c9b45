//! The run on screen: perspectives, comments, result, baselines and the inspector.

use crate::components::baselines::Baselines;
use crate::components::comment_card::CommentCard;
use crate::components::inspector::Inspector;
use crate::components::perspective_card::PerspectiveCard;
use crate::components::result_view::ResultPanel;
use crate::connection::conn;
use crate::session::{session, Op};
use crate::state::ui;
use ethos_engine::persona::Perspective;
use leptos::prelude::*;

/// Perspectives, comments, result, baselines and inspector of the run on screen.
#[component]
pub fn RunView() -> impl IntoView {
    let (ui, conn, session) = (ui(), conn(), session());
    let run = session.run;
    let perspectives = move || {
        run.perspectives.with(|p| {
            p.perspectives
                .iter()
                .cloned()
                .enumerate()
                .collect::<Vec<_>>()
        })
    };
    let count = Memo::new(move |_| run.perspectives.with(|p| p.perspectives.len()));
    // The cards drawn: a jump from none to 24 perspectives is drawn over a few frames.
    let shown = revealed(count);
    let shortfall = move || run.perspectives.with(|p| p.shortfall.clone());
    let trimmed = move || {
        run.perspectives
            .with(|p| (p.trimmed > 0).then(|| (p.trimmed, p.perspectives.len())))
    };
    let stale = move || run.stale.get();
    let header = move || {
        run.head.with(|h| {
            h.as_ref().map(|h| {
                format!(
                    "{} · {} · #{}",
                    h.method.label(),
                    h.item.mode().label(),
                    h.item.id()
                )
            })
        })
    };
    view! {
        <Show when=move || session.has_run()>
            <p class="muted small" id="run-of">{header}</p>
            <Show when=move || {
                let shown = run.head.with(|h| h.as_ref().map(|h| (h.item.source(), h.item.id().clone())));
                let picked = ui.item.with(|i| i.as_ref().map(|i| (i.source(), i.id().clone())));
                picked.is_some() && shown != picked
            }>
                <p class="note small no-print" id="other-item">
                    "The run below is for another scenario than the one selected above: press Run to run the selected one."
                </p>
            </Show>
            <section aria-labelledby="perspectives-h">
                <h3 id="perspectives-h">{move || format!("Perspectives ({})", count.get())}</h3>
                {move || shortfall().map(|s| view! { <p class="warning small">{s}</p> })}
                {move || trimmed().map(|(extra, kept)| view! {
                    <p class="note small" id="perspectives-trimmed">
                        {format!("The model gave {} perspectives; the first {kept} are used.", extra + kept)}
                    </p>
                })}
                <Show when=move || stale() && !session.busy.get() && session.error.with(|e| e.is_some())>
                    <p class="note small no-print" id="continue-hint">
                        "You can continue with the perspectives shown: edit or add some if you like, then press "
                        <strong>"Re-run what changed"</strong>
                        " (only the missing comments and the combined answer are made)."
                    </p>
                </Show>
                <ol class="cards perspectives">
                    <For
                        each=move || { let mut p = perspectives(); p.truncate(shown.get()); p }
                        key=|(i, p)| (*i, p.raw.clone(), p.name.clone())
                        children=|(i, p)| view! { <PerspectiveCard index=i perspective=p /> }
                    />
                </ol>
                <div class="row no-print">
                    <button
                        type="button"
                        id="add-perspective"
                        disabled=move || session.busy.get()
                        on:click=move |_| session.edit(|r| r.add_perspective(Perspective::default()))
                    >
                        "Add perspective"
                    </button>
                    <button
                        type="button"
                        id="regenerate"
                        disabled=move || session.busy.get()
                        on:click=move |_| session.start(Op::Regenerate, ui, conn)
                    >
                        "Regenerate all"
                    </button>
                    <button
                        type="button"
                        id="rerun-dependents"
                        class=move || if stale() { "primary" } else { "" }
                        disabled=move || session.busy.get() || !stale()
                        on:click=move |_| session.start(Op::Dependents, ui, conn)
                    >
                        "Re-run what changed"
                    </button>
                </div>
            </section>
            <section aria-labelledby="comments-h">
                <h3 id="comments-h">"Comments"</h3>
                <ol class="cards comments">
                    <For
                        each={move || (0..shown.get()).collect::<Vec<_>>()}
                        key={|i: &usize| *i}
                        children={|i| view! { <CommentCard index=i /> }}
                    />
                </ol>
            </section>
            <ResultPanel />
            <Baselines />
            <Inspector />
        </Show>
    }
}

/// How many cards a frame adds at most (a perspective card and a comment card each).
const CARDS_PER_FRAME: usize = 8;

/// A count that follows `target` down at once and up by at most [`CARDS_PER_FRAME`] per animation
/// frame, so that 24 perspectives arriving together never make one long frame.
fn revealed(target: Memo<usize>) -> ReadSignal<usize> {
    let shown = RwSignal::new(target.get_untracked().min(CARDS_PER_FRAME));
    let scheduled = StoredValue::new(false);
    Effect::new(move |_| {
        let want = target.get();
        if want < shown.get_untracked() {
            shown.set(want);
        } else {
            grow(target, shown, scheduled);
        }
    });
    shown.read_only()
}

/// One step of [`revealed`]: add a frame's cards, and ask for the next frame while some are
/// missing. A step after the view is gone does nothing.
fn grow(target: Memo<usize>, shown: RwSignal<usize>, scheduled: StoredValue<bool>) {
    let (Some(want), Some(now)) = (target.try_get_untracked(), shown.try_get_untracked()) else {
        return;
    };
    if now < want {
        shown.set((now + CARDS_PER_FRAME).min(want));
    }
    if now + CARDS_PER_FRAME < want && scheduled.try_get_value() == Some(false) {
        scheduled.set_value(true);
        request_animation_frame(move || {
            if scheduled.try_set_value(false).is_none() {
                grow(target, shown, scheduled);
            }
        });
    }
}
