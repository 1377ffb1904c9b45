//! The one polite live region: progress and finished-comment announcements.

use crate::state::ui;
use leptos::prelude::*;

/// The single polite live region: progress and finished-comment announcements, no token chatter.
#[component]
pub fn StatusLine() -> impl IntoView {
    let ui = ui();
    view! {
        <p id="status" class="status-line" role="status" aria-live="polite">
            {move || ui.status.get()}
        </p>
    }
}
