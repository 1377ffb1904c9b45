//! The browser transport: `fetch` with an `AbortController`, the body read chunk by chunk as a
//! Stream (`wasm-streams`), `setTimeout` for sleeping (`gloo-timers`: a dropped wait clears its
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

use crate::errors::diagnose_network_error;
use crate::http::HttpRequest;
use crate::transport::{HttpStatus, Transport};
use crate::{Endpoint, Protocol};
use ethos_engine::ChatError;
use js_sys::{Promise, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use futures::StreamExt;
use web_sys::{AbortController, Headers, RequestInit, RequestMode, Response};

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
        let retry_after = resp.headers().get("retry-after").ok().flatten();
        if let Some(body) = resp.body() {
            // Dropping the stream (an error below, or a cancelled run) cancels the body.
            let mut chunks = wasm_streams::ReadableStream::from_raw(body)
                .try_into_stream()
                .map_err(|_| {
                    ChatError::Other("the response body cannot be read as a stream".into())
                })?;
            while let Some(chunk) = chunks.next().await {
                let value = match chunk {
                    Ok(v) => v,
                    Err(e) if is_abort(&e) => return Err(ChatError::Cancelled),
                    Err(e) => {
                        // The browser's words only ("network error"), not the script
                        // error's type name, which tells a user nothing.
                        let said = prop(&e, "message").as_string().filter(|m| !m.trim().is_empty());
                        return Err(ChatError::Network(match said {
                            Some(m) => format!("the connection broke while the reply was arriving (the browser says: {m})"),
                            None => "the connection broke while the reply was arriving".to_string(),
                        }));
                    }
                };
                if value.is_undefined() || value.is_null() {
                    continue;
                }
                let bytes = Uint8Array::new(&value).to_vec();
                // On an error the stream is dropped (the body cancelled) and the guard aborts
                // the fetch.
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
