//! The browser transport: `fetch` with an `AbortController`, the body read chunk by chunk with
//! its own reader ([`BodyReader`]), `setTimeout` for sleeping (`gloo-timers`: a dropped wait clears its
//! timer), `Date.now()` for the clock and `Math.random()` for jitter. Works in a window, a
//! worker, and other JavaScript hosts with `fetch` (Node 18+, where its tests run).
//!
//! `fetch` itself is called directly rather than through `gloo-net` 0.6: its `Request::send`
//! panics (`unreachable!`) when `fetch` rejects with something that is not an `Error`, and its
//! `Headers::set` throws on a value that is not a byte string (a pasted key with a `€` in it);
//! either would kill the page. Here both become messages.
//!
//! Dropping the future returned by [`WebTransport::send`] aborts the request (a guard calls
//! `AbortController.abort()` on drop), so cancelling a run is dropping its futures.

pub mod worker;

use crate::errors::diagnose_network_error;
use crate::http::HttpRequest;
use crate::transport::{HttpStatus, Transport};
use crate::{Endpoint, Protocol};
use ethos_engine::ChatError;
use js_sys::{Promise, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    AbortController, Headers, ReadableStream, ReadableStreamDefaultReader, ReadableStreamReadResult,
    RequestInit, RequestMode, Response,
};

/// Browser fetch transport. Create one per endpoint with [`WebTransport::for_endpoint`] so
/// network failures are diagnosed with the endpoint's preset (the key is not kept).
#[derive(Debug, Clone, Default)]
pub struct WebTransport {
    endpoint: Option<Endpoint>,
    page_origin: String,
}

/// Aborts the fetch when dropped unless disarmed (the request finished normally).
struct AbortGuard {
    ctrl: AbortController,
    armed: bool,
}

impl Drop for AbortGuard {
    fn drop(&mut self) {
        if self.armed {
            self.ctrl.abort();
        }
    }
}

/// Bodies with a stated length up to this are read whole; longer ones, and bodies of unknown
/// length, piece by piece, so the client's caps stop a server that sends without end.
const WHOLE_BODY_MAX: u64 = 1024 * 1024;

/// Whether a reply is read whole: not an event stream, and its stated length is small. A
/// benchmark's replies are (they are not streamed): one promise each instead of a reader and a
/// read per piece, less for the page's garbage collector.
fn reads_whole(head: &Headers) -> bool {
    let streamed = head
        .get("content-type")
        .ok()
        .flatten()
        .is_some_and(|t| t.to_ascii_lowercase().contains("event-stream"));
    let length = head
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|l| l.trim().parse::<u64>().ok());
    !streamed && length.is_some_and(|l| l <= WHOLE_BODY_MAX)
}

/// What a failure while the body arrives means to the user.
fn body_error(e: &JsValue) -> ChatError {
    if is_abort(e) {
        return ChatError::Cancelled;
    }
    // The browser's words only ("network error"), not the script error's type name, which
    // tells a user nothing.
    let said = prop(e, "message").as_string().filter(|m| !m.trim().is_empty());
    ChatError::Network(match said {
        Some(m) => format!("the connection broke while the reply was arriving (the browser says: {m})"),
        None => "the connection broke while the reply was arriving".to_string(),
    })
}

/// Reads a response body chunk by chunk with the stream's own reader. Unlike `wasm-streams`, it
/// never releases the reader's lock: releasing it makes the browser build an error object with a
/// stack trace for the reader's `closed` promise, for every response. Over a whole VITAL file
/// that was a third of all the page allocated (`bench/batch_scale.rs`, sampled), and the
/// collector pauses it caused were the page's longest tasks. The reader goes with the body; a
/// body left unread is ended by aborting the fetch ([`AbortGuard`]).
struct BodyReader {
    reader: Option<ReadableStreamDefaultReader>,
}

impl BodyReader {
    /// `None` when the body has no default reader.
    fn new(body: &ReadableStream) -> Option<Self> {
        let reader = body.get_reader().dyn_into::<ReadableStreamDefaultReader>().ok()?;
        Some(Self {
            reader: Some(reader),
        })
    }

    /// The next chunk; `None` at the end of the body.
    async fn next(&mut self) -> Option<Result<JsValue, JsValue>> {
        let read = self.reader.as_ref()?.read();
        match JsFuture::from(read).await {
            Ok(r) => {
                let r: ReadableStreamReadResult = r.unchecked_into();
                if r.get_done().unwrap_or(true) {
                    self.reader = None;
                    None
                } else {
                    Some(Ok(r.get_value()))
                }
            }
            Err(e) => {
                self.reader = None;
                Some(Err(e))
            }
        }
    }
}

/// A function of the global object (`fetch`): works in a window, a worker and
/// other JavaScript hosts (Node, Deno).
fn global_fn(name: &str) -> Result<js_sys::Function, ChatError> {
    js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str(name))
        .ok()
        .and_then(|f| f.dyn_into::<js_sys::Function>().ok())
        .ok_or_else(|| ChatError::Other(format!("this browser has no {name}()")))
}

fn prop(v: &JsValue, name: &str) -> JsValue {
    js_sys::Reflect::get(v, &JsValue::from_str(name)).unwrap_or(JsValue::UNDEFINED)
}

/// The page's origin (`location.origin`), or "" if unknown.
pub fn page_origin() -> String {
    prop(&prop(&js_sys::global(), "location"), "origin")
        .as_string()
        .unwrap_or_default()
}

fn js_error_text(e: &JsValue) -> String {
    match (prop(e, "name").as_string(), prop(e, "message").as_string()) {
        (Some(name), Some(msg)) => format!("{name}: {msg}"),
        (None, Some(msg)) => msg,
        _ => e.as_string().unwrap_or_else(|| "unknown error".to_string()),
    }
}

/// An abort rejects with a DOMException (not always `instanceof Error`) named AbortError.
fn is_abort(e: &JsValue) -> bool {
    prop(e, "name").as_string().as_deref() == Some("AbortError")
}

impl WebTransport {
    pub fn new() -> Self {
        Self {
            endpoint: None,
            page_origin: page_origin(),
        }
    }

    /// A transport that diagnoses network failures for `ep` (the key is dropped).
    pub fn for_endpoint(ep: &Endpoint) -> Self {
        Self {
            endpoint: Some(ep.without_key()),
            page_origin: page_origin(),
        }
    }

    fn diagnosis(&self, url: &str) -> String {
        let ep = match &self.endpoint {
            Some(ep) => ep.clone(),
            None => Endpoint::new(Protocol::OpenAi, url, None, "custom"),
        };
        diagnose_network_error(&ep, &self.page_origin)
    }
}

impl Transport for WebTransport {
    async fn send(
        &self,
        req: HttpRequest,
        on_chunk: &mut dyn FnMut(&[u8]) -> Result<(), ChatError>,
    ) -> Result<HttpStatus, ChatError> {
        // Start each request in a task of its own: k comment calls begin together, and building
        // and starting 24 fetches in one task held the page for over 50 ms (bench/perf.rs).
        gloo_timers::future::TimeoutFuture::new(0).await;
        let ctrl = AbortController::new().map_err(|e| {
            ChatError::Other(format!(
                "cannot create an AbortController: {}",
                js_error_text(&e)
            ))
        })?;
        let mut guard = AbortGuard {
            ctrl: ctrl.clone(),
            armed: true,
        };

        let headers = Headers::new().map_err(|e| {
            ChatError::Other(format!("cannot create headers: {}", js_error_text(&e)))
        })?;
        for (name, value) in &req.headers {
            // Never quote the value: it may be the key.
            headers
                .set(name, value)
                .map_err(|_| ChatError::Other(format!("the browser refused the request header \"{name}\" (invalid characters in its value?)")))?;
        }
        let init = RequestInit::new();
        init.set_method(&req.method);
        init.set_headers(&headers);
        init.set_mode(RequestMode::Cors);
        init.set_signal(Some(&ctrl.signal()));
        if let Some(body) = &req.body {
            init.set_body(&JsValue::from_str(body));
        }
        let fetch = global_fn("fetch")?;
        let called = fetch.call2(&js_sys::global(), &JsValue::from_str(&req.url), &init);
        // fetch throws synchronously on an unusable URL; otherwise it returns a promise.
        let promise: Promise = match called {
            Ok(p) => p.unchecked_into(),
            Err(_) => return Err(ChatError::Network(self.diagnosis(&req.url))),
        };
        let resp: Response = match JsFuture::from(promise).await {
            Ok(v) if v.is_object() => v.unchecked_into(),
            Ok(_) => return Err(ChatError::Other("fetch did not return a Response".into())),
            Err(e) if is_abort(&e) => return Err(ChatError::Cancelled),
            // A TypeError from fetch is opaque (CORS, DNS, refused connection, mixed content,
            // blocked local-network access all look alike): explain the likely causes.
            Err(_) => return Err(ChatError::Network(self.diagnosis(&req.url))),
        };
        let status = resp.status();
        let head = resp.headers();
        let retry_after = head.get("retry-after").ok().flatten();
        if reads_whole(&head) {
            // One promise for the whole body: no reader, no read per piece.
            let buf = resp
                .array_buffer()
                .map_err(|e| body_error(&e))?;
            let buf = JsFuture::from(buf).await.map_err(|e| body_error(&e))?;
            on_chunk(&Uint8Array::new(&buf).to_vec())?;
        } else if let Some(body) = resp.body() {
            let mut reader = BodyReader::new(&body).ok_or_else(|| {
                ChatError::Other("the response body cannot be read as a stream".into())
            })?;
            while let Some(chunk) = reader.next().await {
                let value = chunk.map_err(|e| body_error(&e))?;
                if value.is_undefined() || value.is_null() {
                    continue;
                }
                let bytes = Uint8Array::new(&value).to_vec();
                // On an error the guard aborts the fetch, which ends the body.
                on_chunk(&bytes)?;
            }
        }
        guard.armed = false;
        Ok(HttpStatus {
            status,
            retry_after,
        })
    }

    async fn sleep(&self, ms: u64) {
        // Dropping the wait (a cancelled run) clears the timer. Timers take at most 2^31 - 1 ms
        // (a longer delay would fire at once).
        let ms = ms.min(i32::MAX as u64) as u32;
        gloo_timers::future::TimeoutFuture::new(ms).await;
    }

    fn now_ms(&self) -> f64 {
        js_sys::Date::now()
    }

    fn jitter(&self) -> f64 {
        js_sys::Math::random()
    }
}
