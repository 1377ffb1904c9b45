//! Parts of the page that the first paint does not need, loaded on first use. Built with the
//! `split` feature (scripts/build-wasm.sh, the release build), each `deferred!` function goes to
//! a wasm chunk of its own (wasm-split) that the page fetches when the function is first called;
//! without it (debug builds, unit tests) they are plain async functions in the one wasm.

use leptos::prelude::*;
use std::future::Future;

/// A chunk of the page could not be fetched (offline without the offline copy, or a new build
/// replaced the files on the host): said where the part would be, never a panic.
#[derive(Debug, Clone, thiserror::Error)]
#[error("this part of the page could not be loaded (a network error, or a new version was published): reload the page")]
pub struct ChunkError;

#[cfg(feature = "split")]
impl From<leptos::wasm_split::SplitLoaderError> for ChunkError {
    fn from(_: leptos::wasm_split::SplitLoaderError) -> Self {
        ChunkError
    }
}

/// `deferred! { chunk: fn name(args) -> T { body } }` defines `async fn name(args) ->
/// Result<T, ChunkError>`. With the `split` feature the body and everything only it uses live in
/// the wasm chunk `chunk`; the body runs untracked, so building a view there never subscribes
/// the caller to the signals the view's components read while being built.
#[cfg(feature = "split")]
macro_rules! deferred {
    ($chunk:ident: $(#[$m:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) -> $ret:ty $body:block) => {
        $(#[$m])*
        #[leptos::wasm_split::wasm_split($chunk, fallible, wasm_split_path = ::leptos::wasm_split)]
        $vis fn $name($($arg: $ty),*) -> Result<$ret, $crate::deferred::ChunkError> {
            Ok(leptos::prelude::untrack(move || $body))
        }
    };
}

#[cfg(not(feature = "split"))]
macro_rules! deferred {
    ($chunk:ident: $(#[$m:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) -> $ret:ty $body:block) => {
        $(#[$m])*
        $vis async fn $name($($arg: $ty),*) -> Result<$ret, $crate::deferred::ChunkError> {
            Ok(leptos::prelude::untrack(move || $body))
        }
    };
}
pub(crate) use deferred;

/// Shows the view that `load` fetches (a deferred part): "Loading…" until it is there, and the
/// chunk error in its place if it cannot be fetched. A plain signal rather than `<Suspense>`: the
/// part is fetched once, and the boundary would otherwise stay around the panel for its life.
pub fn deferred_view<F, Fut>(load: F) -> impl IntoView
where
    F: FnOnce() -> Fut + 'static,
    Fut: Future<Output = Result<AnyView, ChunkError>> + 'static,
{
    let slot = RwSignal::new_local(None::<Result<AnyView, ChunkError>>);
    // Under this owner (the part's components read their context), observed by nothing, and
    // dropped if the part leaves the page before its chunk is there.
    untrack(|| {
        leptos::task::spawn_local_scoped_with_cancellation(async move {
            let part = load().await;
            let _ = slot.try_set(Some(part));
        })
    });
    move || {
        slot.track();
        // Taken out once: the view moves into the page, and nothing else sets the slot again.
        match slot.try_update_untracked(Option::take).flatten() {
            None => view! { <p class="muted deferred-loading" aria-busy="true">"Loading…"</p> }.into_any(),
            Some(Ok(view)) => view,
            Some(Err(e)) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
        }
    }
}

/// Runs a deferred task (a future the chunk builds), reporting a chunk that cannot be fetched
/// on the status line.
pub async fn run_deferred<Fut>(ui: crate::state::Ui, task: impl Future<Output = Result<Fut, ChunkError>>)
where
    Fut: Future<Output = ()>,
{
    match task.await {
        Ok(work) => work.await,
        Err(e) => ui.say(e.to_string()),
    }
}
