//! Thin, panic-free wrappers over the browser APIs the UI needs (storage is `crate::storage`): fetch of static files,
//! clipboard, file download and upload, the URL fragment. Every failure becomes a `BrowserError`
//! with a message a user can read; nothing here unwraps.

use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BrowserError {
    #[error("This browser blocks local storage (private mode or site data disabled).")]
    NoStorage,
    #[error("Local storage is full or refused the write: {0}")]
    StorageWrite(String),
    #[error("Could not load {url}: {reason}")]
    Fetch { url: String, reason: String },
    #[error("Could not read the file: {0}")]
    FileRead(String),
    #[error("The clipboard is not available here ({0}); copy the link from the box instead.")]
    Clipboard(String),
    #[error("The browser refused to create the download: {0}")]
    Download(String),
}

pub(crate) fn js_text(v: &JsValue) -> String {
    v.as_string()
        .or_else(|| {
            v.dyn_ref::<js_sys::Error>()
                .map(|e| String::from(e.message()))
        })
        .unwrap_or_else(|| "unknown error".to_string())
}

pub fn window() -> Option<web_sys::Window> {
    web_sys::window()
}

/// Fetch a same-origin static file (relative URL) as text.
pub async fn fetch_text(url: &str) -> Result<String, BrowserError> {
    let fail = |reason: String| BrowserError::Fetch {
        url: url.to_string(),
        reason,
    };
    let w = window().ok_or_else(|| fail("no window".into()))?;
    let resp = JsFuture::from(w.fetch_with_str(url))
        .await
        .map_err(|e| fail(js_text(&e)))?;
    let resp: web_sys::Response = resp.dyn_into().map_err(|_| fail("not a response".into()))?;
    if !resp.ok() {
        return Err(fail(format!("HTTP {}", resp.status())));
    }
    let text = JsFuture::from(resp.text().map_err(|e| fail(js_text(&e)))?)
        .await
        .map_err(|e| fail(js_text(&e)))?;
    text.as_string()
        .ok_or_else(|| fail("the body is not text".into()))
}

/// Read a user-picked file as text.
pub async fn read_file(file: &web_sys::File) -> Result<String, BrowserError> {
    let text = JsFuture::from(file.text())
        .await
        .map_err(|e| BrowserError::FileRead(js_text(&e)))?;
    text.as_string()
        .ok_or_else(|| BrowserError::FileRead("the file is not text".into()))
}

/// The first file of an `<input type=file>` change event.
pub fn first_file(ev: &web_sys::Event) -> Option<web_sys::File> {
    let input: web_sys::HtmlInputElement = ev.target()?.dyn_into().ok()?;
    input.files()?.get(0)
}

/// Reset an `<input type=file>` so picking the same file again fires `change`.
pub fn clear_file_input(ev: &web_sys::Event) {
    if let Some(input) = ev
        .target()
        .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
    {
        input.set_value("");
    }
}

/// Offer `content` as a file download.
pub fn download(filename: &str, mime: &str, content: &str) -> Result<(), BrowserError> {
    let err = |e: JsValue| BrowserError::Download(js_text(&e));
    let parts = js_sys::Array::of1(&JsValue::from_str(content));
    let opts = web_sys::BlobPropertyBag::new();
    opts.set_type(mime);
    let blob = web_sys::Blob::new_with_str_sequence_and_options(&parts, &opts).map_err(err)?;
    let url = web_sys::Url::create_object_url_with_blob(&blob).map_err(err)?;
    let doc = window()
        .and_then(|w| w.document())
        .ok_or_else(|| BrowserError::Download("no document".into()))?;
    let a: web_sys::HtmlAnchorElement = doc
        .create_element("a")
        .map_err(err)?
        .dyn_into()
        .map_err(|_| BrowserError::Download("no anchor".into()))?;
    a.set_href(&url);
    a.set_download(filename);
    a.click();
    let _ = web_sys::Url::revoke_object_url(&url);
    Ok(())
}

pub async fn copy_text(text: &str) -> Result<(), BrowserError> {
    let w = window().ok_or_else(|| BrowserError::Clipboard("no window".into()))?;
    let clip = w.navigator().clipboard();
    JsFuture::from(clip.write_text(text))
        .await
        .map(|_| ())
        .map_err(|e| BrowserError::Clipboard(js_text(&e)))
}

/// The page URL without its fragment (the base a share link is built on).
pub fn page_url_without_hash() -> String {
    let Some(loc) = window().map(|w| w.location()) else {
        return String::new();
    };
    let href = loc.href().unwrap_or_default();
    href.split('#').next().unwrap_or("").to_string()
}

pub fn hash() -> String {
    window()
        .and_then(|w| w.location().hash().ok())
        .unwrap_or_default()
}

/// A query parameter of the page URL (`?llm=…`).
pub fn query_param(name: &str) -> Option<String> {
    let href = window()?.location().href().ok()?;
    let url = web_sys::Url::new(&href).ok()?;
    url.search_params().get(name)
}

pub fn origin() -> String {
    window()
        .and_then(|w| w.location().origin().ok())
        .unwrap_or_default()
}

pub fn print() {
    if let Some(w) = window() {
        let _ = w.print();
    }
}

pub fn now_ms() -> f64 {
    js_sys::Date::now()
}

thread_local! {
    /// When the task the page is running now began doing work that may yield (see
    /// [`yield_if_busy`]); cleared by a timer that runs after that task.
    static TURN_START: std::cell::Cell<Option<f64>> = const { std::cell::Cell::new(None) };
}

/// How long one task may start calls before the rest wait for the next one.
const TURN_BUDGET_MS: f64 = 10.0;

/// Yield to the event loop once the current task has run [`TURN_BUDGET_MS`]. Work that many
/// futures start in one task (a benchmark's first 32 items) is spread over several tasks, so the
/// page never blocks for 50 ms; in a task that has time left it costs nothing.
pub async fn yield_if_busy() {
    let now = now_ms();
    let started = TURN_START.with(|t| match t.get() {
        Some(s) => s,
        None => {
            t.set(Some(now));
            // Runs after the current task: the next work starts a new turn.
            leptos::prelude::set_timeout(
                || TURN_START.with(|t| t.set(None)),
                std::time::Duration::ZERO,
            );
            now
        }
    });
    if now - started >= TURN_BUDGET_MS {
        gloo_timers::future::TimeoutFuture::new(0).await;
    }
}

/// `performance.mark(name)` at the next animation frame, the one that paints what was just
/// rendered (benchmarks read these marks).
pub fn mark_after_paint(name: &'static str) {
    use wasm_bindgen::{closure::Closure, JsCast};
    let Some(w) = window() else { return };
    let cb = Closure::once_into_js(move || {
        if let Some(perf) =
            window().and_then(|w| js_sys::Reflect::get(&w, &"performance".into()).ok())
        {
            if let Ok(mark) = js_sys::Reflect::get(&perf, &"mark".into()) {
                if let Some(f) = mark.dyn_ref::<js_sys::Function>() {
                    let _ = f.call1(&perf, &name.into());
                }
            }
        }
    });
    let _ = w.request_animation_frame(cb.unchecked_ref());
}

/// After the next frame (once the view has updated), move keyboard focus to an element by id
/// if focus was lost, e.g. because the focused button became disabled.
pub fn focus_later(id: &'static str) {
    leptos::prelude::request_animation_frame(move || {
        let Some(doc) = window().and_then(|w| w.document()) else {
            return;
        };
        // Only when focus was lost (on the body, or on a button that is now disabled).
        let lost = match doc.active_element() {
            None => true,
            Some(a) => a.tag_name().eq_ignore_ascii_case("body") || a.has_attribute("disabled"),
        };
        if !lost {
            return;
        }
        if let Some(el) = doc.get_element_by_id(id) {
            if let Ok(el) = el.dyn_into::<web_sys::HtmlElement>() {
                let _ = el.focus();
            }
        }
    });
}
