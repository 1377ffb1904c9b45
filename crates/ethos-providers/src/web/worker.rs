//! A browser transport whose requests are made by a Web Worker (`js/fetch-worker.js`, which the
//! app serves beside its page): the page's thread only posts a request and receives its reply.
//!
//! Why: at a benchmark's rate (300+ calls a second) each `fetch` leaves the page's thread a
//! request, a response, headers, an abort signal, body promises, and the loader's work; their
//! garbage made the page's collector pause for 50–90 ms now and then (`bench/batch_scale.rs`).
//! In the worker that garbage belongs to the worker's own heap and thread.
//!
//! Same contract as [`WebTransport`] (whose diagnoses it reuses): dropping a `send` aborts the
//! request (the worker aborts its fetch), short whole replies arrive in one message, others piece
//! by piece. If the worker cannot start (no script, a browser without workers), requests go
//! through the page's own `fetch` instead, so nothing is lost but the gain.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use ethos_engine::ChatError;
use futures::channel::mpsc::{unbounded, UnboundedSender};
use futures::channel::oneshot;
use futures::StreamExt;
use js_sys::{Array, Object, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{Event, MessageEvent, Worker};

use super::{prop, WebTransport};
use crate::http::HttpRequest;
use crate::transport::{HttpStatus, Transport};
use crate::Endpoint;

/// Whether the worker started, is starting, or could not.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Start {
    Pending,
    Ready,
    Failed,
}

struct Inner {
    worker: Worker,
    start: Cell<Start>,
    /// Who waits for the worker's first message.
    waiting: RefCell<Vec<oneshot::Sender<bool>>>,
    next_id: Cell<u32>,
    calls: RefCell<HashMap<u32, UnboundedSender<JsValue>>>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_error: Closure<dyn FnMut(Event)>,
}

impl Inner {
    fn started(&self, ok: bool) {
        if self.start.get() == Start::Pending {
            self.start.set(if ok { Start::Ready } else { Start::Failed });
            for w in self.waiting.borrow_mut().drain(..) {
                let _ = w.send(ok);
            }
        }
    }

    /// The worker failed to load or crashed: whoever waits for it is told, requests go through
    /// the page from now on, and every call in flight ends (their senders are dropped).
    fn failed(&self) {
        self.started(false);
        self.start.set(Start::Failed);
        self.calls.borrow_mut().clear();
    }

    async fn ready(&self) -> bool {
        match self.start.get() {
            Start::Ready => true,
            Start::Failed => false,
            Start::Pending => {
                let (tx, rx) = oneshot::channel();
                self.waiting.borrow_mut().push(tx);
                rx.await.unwrap_or(false)
            }
        }
    }

    fn post_abort(&self, id: u32) {
        let msg = Object::new();
        let _ = Reflect::set(&msg, &"abort".into(), &id.into());
        let _ = self.worker.post_message(&msg);
    }
}

/// The page's network worker, shared by every transport of this thread (started on first use).
#[derive(Clone)]
pub struct FetchWorker {
    inner: Rc<Inner>,
}

thread_local! {
    static SHARED: RefCell<Option<Option<FetchWorker>>> = const { RefCell::new(None) };
}

impl FetchWorker {
    /// The worker at `url` (relative to the page), started once per page; `None` if this
    /// browser cannot start it at all.
    pub fn shared(url: &str) -> Option<FetchWorker> {
        SHARED.with(|s| {
            s.borrow_mut()
                .get_or_insert_with(|| FetchWorker::spawn(url))
                .clone()
        })
    }

    fn spawn(url: &str) -> Option<FetchWorker> {
        let worker = Worker::new(url).ok()?;
        let inner = Rc::new_cyclic(|weak: &std::rc::Weak<Inner>| {
            let w = weak.clone();
            let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
                let Some(inner) = w.upgrade() else { return };
                let data = ev.data();
                let id = prop(&data, "id").as_f64();
                match id {
                    Some(id) => {
                        let tx = inner.calls.borrow().get(&(id as u32)).cloned();
                        if let Some(tx) = tx {
                            let _ = tx.unbounded_send(data);
                        }
                    }
                    None => inner.started(prop(&data, "t").as_string().as_deref() == Some("ready")),
                }
            });
            let w = weak.clone();
            let on_error = Closure::<dyn FnMut(Event)>::new(move |ev: Event| {
                // A script that failed to load or threw: requests go through the page again.
                ev.prevent_default();
                if let Some(inner) = w.upgrade() {
                    inner.failed();
                }
            });
            worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
            worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
            Inner {
                worker,
                start: Cell::new(Start::Pending),
                waiting: RefCell::new(Vec::new()),
                next_id: Cell::new(1),
                calls: RefCell::new(HashMap::new()),
                _on_message: on_message,
                _on_error: on_error,
            }
        });
        Some(FetchWorker { inner })
    }
}

/// Forgets a call when its `send` ends, and tells the worker to abort it if it had not finished.
struct CallGuard {
    inner: Rc<Inner>,
    id: u32,
    finished: bool,
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        self.inner.calls.borrow_mut().remove(&self.id);
        if !self.finished {
            self.inner.post_abort(self.id);
        }
    }
}

/// [`Transport`] through the page's network worker; through the page's `fetch` if that worker
/// did not start.
#[derive(Clone)]
pub struct WorkerTransport {
    worker: Option<FetchWorker>,
    direct: WebTransport,
}

impl WorkerTransport {
    /// A transport for `ep` through the worker served at `worker_url` (relative to the page).
    pub fn for_endpoint(ep: &Endpoint, worker_url: &str) -> Self {
        Self {
            worker: FetchWorker::shared(worker_url),
            direct: WebTransport::for_endpoint(ep),
        }
    }

    fn request_message(id: u32, req: &HttpRequest) -> JsValue {
        let headers = Array::new();
        for (name, value) in &req.headers {
            headers.push(&Array::of2(&name.into(), &value.into()));
        }
        let msg = Object::new();
        let set = |k: &str, v: &JsValue| {
            let _ = Reflect::set(&msg, &k.into(), v);
        };
        set("id", &id.into());
        set("method", &req.method.as_str().into());
        set("url", &req.url.as_str().into());
        set("headers", &headers);
        set(
            "body",
            &req.body.as_deref().map(JsValue::from_str).unwrap_or(JsValue::NULL),
        );
        msg.into()
    }

    fn status_of(msg: &JsValue) -> HttpStatus {
        HttpStatus {
            status: prop(msg, "status").as_f64().unwrap_or(0.0) as u16,
            retry_after: prop(msg, "retryAfter").as_string(),
        }
    }

    /// The worker's error message as the page's own `fetch` would have reported it.
    fn error_of(&self, msg: &JsValue, url: &str) -> ChatError {
        let kind = prop(msg, "kind").as_string().unwrap_or_default();
        match kind.as_str() {
            "abort" => ChatError::Cancelled,
            "header" => ChatError::Other(format!(
                "the browser refused the request header \"{}\" (invalid characters in its value?)",
                prop(msg, "name").as_string().unwrap_or_default()
            )),
            "body" => super::body_error(msg),
            _ => ChatError::Network(self.direct.diagnosis(url)),
        }
    }
}

impl Transport for WorkerTransport {
    async fn send(
        &self,
        req: HttpRequest,
        on_chunk: &mut dyn FnMut(&[u8]) -> Result<(), ChatError>,
    ) -> Result<HttpStatus, ChatError> {
        let worker = match &self.worker {
            Some(w) if w.inner.ready().await => w.inner.clone(),
            _ => return self.direct.send(req, on_chunk).await,
        };
        let id = worker.next_id.get();
        worker.next_id.set(id.wrapping_add(1));
        let (tx, mut rx) = unbounded();
        worker.calls.borrow_mut().insert(id, tx);
        let mut guard = CallGuard {
            inner: worker.clone(),
            id,
            finished: false,
        };
        if worker.worker.post_message(&Self::request_message(id, &req)).is_err() {
            guard.finished = true;
            return Err(ChatError::Other("the request could not be handed to the network worker".into()));
        }
        let mut status = None;
        while let Some(msg) = rx.next().await {
            match prop(&msg, "t").as_string().as_deref() {
                Some("done") => {
                    guard.finished = true;
                    on_chunk(&Uint8Array::new(&prop(&msg, "body")).to_vec())?;
                    return Ok(Self::status_of(&msg));
                }
                Some("head") => status = Some(Self::status_of(&msg)),
                // On an error the guard aborts the request.
                Some("chunk") => on_chunk(&Uint8Array::new(&prop(&msg, "body")).to_vec())?,
                Some("end") => {
                    guard.finished = true;
                    return Ok(status.unwrap_or_default());
                }
                Some("error") => {
                    guard.finished = true;
                    return Err(self.error_of(&msg, &req.url));
                }
                _ => {}
            }
        }
        // The worker failed while this request was out: it may or may not have reached the server.
        guard.finished = true;
        Err(ChatError::Network(
            "the page's network worker stopped while the reply was arriving".into(),
        ))
    }

    async fn sleep(&self, ms: u64) {
        self.direct.sleep(ms).await
    }

    fn now_ms(&self) -> f64 {
        self.direct.now_ms()
    }

    fn jitter(&self) -> f64 {
        self.direct.jitter()
    }
}
