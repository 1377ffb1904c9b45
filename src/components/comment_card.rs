//! One perspective's comment card: streams in, then the cleaned text; Retry on failure.

use crate::connection::conn;
use crate::session::{session, Op};
use crate::state::ui;
use ethos_engine::record::CommentState;
use leptos::prelude::*;

/// Characters of a streaming reply shown while it streams.
const LIVE_TAIL_CHARS: usize = 2000;

/// The last [`LIVE_TAIL_CHARS`] characters of `text`, after an ellipsis when cut.
fn live_tail(text: &str) -> String {
    let cut = text
        .char_indices()
        .rev()
        .nth(LIVE_TAIL_CHARS)
        .map(|(i, c)| i + c.len_utf8());
    match cut.and_then(|i| text.get(i..)) {
        Some(tail) => format!("…{tail}"),
        None => text.to_string(),
    }
}

/// One perspective's comment: streams in, then shows the cleaned text (as text, never HTML).
/// A failed call shows its error and a Retry button.
#[component]
pub fn CommentCard(index: usize) -> impl IntoView {
    let (ui, conn, session) = (ui(), conn(), session());
    let run = session.run;
    let state = Memo::new(move |_| run.comment(index));
    let data_state = move || match state.get() {
        CommentState::Pending => "pending",
        CommentState::Streaming(_) => "streaming",
        CommentState::Done { .. } => "done",
        CommentState::Error(_) => "error",
    };
    let name = move || {
        run.perspectives
            .with(|p| p.perspectives.get(index).map(|p| p.name.clone()))
            .unwrap_or_default()
    };
    let body = move || {
        match state.get() {
        CommentState::Pending => view! { <p class="muted">"Waiting…"</p> }.into_any(),
        CommentState::Streaming(id) => {
            let live = session.live_text(id);
            // Only the tail while streaming: re-rendering the whole text on every piece would
            // cost the square of a long reply's length (the full text shows when it is done).
            view! { <p class="llm-text" aria-busy="true">{move || live.as_ref().map(|s| s.with(|t| live_tail(t))).unwrap_or_default()}</p> }.into_any()
        }
        CommentState::Done { text, letter, edited } => view! {
            <p class="llm-text">
                {letter.map(|l| view! { <span class="letter-badge" title="Option letter this comment starts with">{l.to_string()}</span> })}
                {text}
            </p>
            {edited.then(|| view! { <p class="muted small">"Edited by you."</p> })}
        }
        .into_any(),
        CommentState::Error(e) => view! {
            <p class="error-text">{e}</p>
            <button
                type="button"
                class="retry no-print"
                disabled=move || session.busy.get()
                on:click=move |_| session.start(Op::Comment(index), ui, conn)
            >
                "Retry"
            </button>
        }
        .into_any(),
    }
    };
    view! {
        <li class="card comment-card" data-index=index data-state=data_state>
            <span class="state-badge">{data_state}</span>
            <h4>{move || format!("Comment {}: ", index + 1)} <span class="llm-text">{name}</span></h4>
            {body}
        </li>
    }
}
