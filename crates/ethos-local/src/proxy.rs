//! The main-thread side: a [`ChatModel`] that forwards calls to the model worker over
//! `postMessage`. No model code here, so the app shell does not grow: the worker script, its
//! wasm and the GGUF are fetched only when [`WorkerModel::spawn`] / `load_*` are called.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use ethos_engine::chat::{ChatError, ChatModel, ChatRequest, ChatResponse};
use futures::channel::mpsc::{unbounded, UnboundedReceiver, UnboundedSender};
use futures::StreamExt;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{MessageEvent, Worker, WorkerOptions, WorkerType};

use crate::protocol::{CachedModel, FromWorker, LetterDistribution, ModelInfo, Timings, ToWorker};

/// A finished load: what was loaded, whether it came from this browser's copy, and what the
/// user should know about keeping it.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub info: ModelInfo,
    pub from_cache: bool,
    pub note: Option<String>,
}

/// Download / read progress of a load.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// "download", "cache", "file" or "load" (building the model after the bytes are in).
    pub phase: String,
    pub loaded: u64,
    pub total: Option<u64>,
}

struct Inner {
    worker: Worker,
    next_id: Cell<u32>,
    calls: RefCell<HashMap<u32, UnboundedSender<FromWorker>>>,
    failed: RefCell<Option<String>>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_error: Closure<dyn FnMut(web_sys::ErrorEvent)>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.worker.terminate();
    }
}

/// The in-tab model. Cheap to clone (one worker behind it).
#[derive(Clone)]
pub struct WorkerModel {
    inner: Rc<Inner>,
}

fn event_id(ev: &FromWorker) -> Option<u32> {
    match ev {
        FromWorker::Ready { .. } => None,
        FromWorker::Progress { id, .. }
        | FromWorker::Loaded { id, .. }
        | FromWorker::Delta { id, .. }
        | FromWorker::Done { id, .. }
        | FromWorker::Dist { id, .. }
        | FromWorker::Cached { id, .. }
        | FromWorker::Deleted { id, .. } => Some(*id),
        FromWorker::Error { id, .. } => *id,
    }
}

/// Sends `cancel` if the call's future is dropped before it finished.
struct CallGuard {
    inner: Rc<Inner>,
    id: u32,
    finished: bool,
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        self.inner.calls.borrow_mut().remove(&self.id);
        if !self.finished {
            if let Ok(s) = serde_json::to_string(&ToWorker::Cancel { id: self.id }) {
                let _ = self.inner.worker.post_message(&JsValue::from_str(&s));
            }
        }
    }
}

impl WorkerModel {
    /// Start the worker. `worker_url` is where `js/worker.js` is served (with `ethos_local.js`
    /// and `ethos_local_bg.wasm` beside it), e.g. `"local-model/worker.js"` relative to the page.
    pub fn spawn(worker_url: &str) -> Result<Self, ChatError> {
        let opts = WorkerOptions::new();
        opts.set_type(WorkerType::Module);
        let worker = Worker::new_with_options(worker_url, &opts)
            .map_err(|e| ChatError::Other(format!("could not start the model worker: {e:?}")))?;
        let calls: RefCell<HashMap<u32, UnboundedSender<FromWorker>>> =
            RefCell::new(HashMap::new());
        let inner = Rc::new_cyclic(|weak: &std::rc::Weak<Inner>| {
            let w = weak.clone();
            let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
                let Some(inner) = w.upgrade() else { return };
                let Some(text) = ev.data().as_string() else {
                    return;
                };
                let Ok(msg) = serde_json::from_str::<FromWorker>(&text) else {
                    return;
                };
                match event_id(&msg) {
                    Some(id) => {
                        let tx = inner.calls.borrow().get(&id).cloned();
                        if let Some(tx) = tx {
                            let _ = tx.unbounded_send(msg);
                        }
                    }
                    None => {
                        if let FromWorker::Error { error, .. } = msg {
                            inner.fail_all(error.to_string());
                        }
                    }
                }
            });
            let w = weak.clone();
            let on_error =
                Closure::<dyn FnMut(web_sys::ErrorEvent)>::new(move |ev: web_sys::ErrorEvent| {
                    if let Some(inner) = w.upgrade() {
                        inner.fail_all(format!(
                            "the model worker failed to start or crashed: {}",
                            ev.message()
                        ));
                    }
                });
            worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
            worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
            Inner {
                worker,
                next_id: Cell::new(1),
                calls,
                failed: RefCell::new(None),
                _on_message: on_message,
                _on_error: on_error,
            }
        });
        Ok(Self { inner })
    }

    fn begin(
        &self,
        make: impl FnOnce(u32) -> ToWorker,
        file: Option<&web_sys::File>,
    ) -> Result<(CallGuard, UnboundedReceiver<FromWorker>), ChatError> {
        if let Some(f) = self.inner.failed.borrow().as_ref() {
            return Err(ChatError::Other(f.clone()));
        }
        let id = self.inner.next_id.get();
        self.inner.next_id.set(id.wrapping_add(1).max(1));
        let (tx, rx) = unbounded();
        self.inner.calls.borrow_mut().insert(id, tx);
        let guard = CallGuard {
            inner: self.inner.clone(),
            id,
            finished: false,
        };
        let json = serde_json::to_string(&make(id)).map_err(|e| ChatError::Other(e.to_string()))?;
        let posted = match file {
            None => self.inner.worker.post_message(&JsValue::from_str(&json)),
            Some(f) => {
                let o = js_sys::Object::new();
                let _ = js_sys::Reflect::set(&o, &"json".into(), &JsValue::from_str(&json));
                let _ = js_sys::Reflect::set(&o, &"file".into(), f);
                self.inner.worker.post_message(&o)
            }
        };
        posted.map_err(|e| ChatError::Other(format!("could not reach the model worker: {e:?}")))?;
        Ok((guard, rx))
    }

    async fn next(rx: &mut UnboundedReceiver<FromWorker>) -> Result<FromWorker, ChatError> {
        match rx.next().await {
            Some(FromWorker::Error { error, .. }) => Err(error),
            Some(ev) => Ok(ev),
            None => Err(ChatError::Other("the model worker stopped".into())),
        }
    }

    async fn load(
        &self,
        msg: impl FnOnce(u32) -> ToWorker,
        file: Option<&web_sys::File>,
        on_progress: &mut dyn FnMut(Progress),
    ) -> Result<Loaded, ChatError> {
        let (mut guard, mut rx) = self.begin(msg, file)?;
        loop {
            match Self::next(&mut rx).await? {
                FromWorker::Progress {
                    phase,
                    loaded,
                    total,
                    ..
                } => on_progress(Progress {
                    phase,
                    loaded,
                    total,
                }),
                FromWorker::Loaded {
                    info,
                    from_cache,
                    note,
                    ..
                } => {
                    guard.finished = true;
                    return Ok(Loaded {
                        info,
                        from_cache,
                        note,
                    });
                }
                _ => {}
            }
        }
    }

    /// Load a GGUF from a URL (Cache Storage first when `cache`; downloads are then kept).
    /// Returns the model's description and whether it came from the cache.
    pub async fn load_url(
        &self,
        url: &str,
        cache: bool,
        on_progress: &mut dyn FnMut(Progress),
    ) -> Result<Loaded, ChatError> {
        let url = url.to_string();
        self.load(
            move |id| ToWorker::Load {
                id,
                url: Some(url),
                file_name: None,
                cache,
                requantize: true,
                backend: None,
                sha256: None,
            },
            None,
            on_progress,
        )
        .await
    }

    /// Load a GGUF the user picked (kept in Cache Storage as `file:NAME` when `cache`).
    pub async fn load_file(
        &self,
        file: &web_sys::File,
        cache: bool,
        on_progress: &mut dyn FnMut(Progress),
    ) -> Result<Loaded, ChatError> {
        let name = file.name();
        self.load(
            move |id| ToWorker::Load {
                id,
                url: None,
                file_name: Some(name),
                cache,
                requantize: true,
                backend: None,
                sha256: None,
            },
            Some(file),
            on_progress,
        )
        .await
    }

    /// Models kept in Cache Storage.
    pub async fn cached(&self) -> Result<Vec<CachedModel>, ChatError> {
        let (mut guard, mut rx) = self.begin(|id| ToWorker::ListCached { id }, None)?;
        loop {
            if let FromWorker::Cached { entries, .. } = Self::next(&mut rx).await? {
                guard.finished = true;
                return Ok(entries);
            }
        }
    }

    /// Delete a cached model by its key (a URL, or `file:NAME`).
    pub async fn delete_cached(&self, key: &str) -> Result<bool, ChatError> {
        let key = key.to_string();
        let (mut guard, mut rx) = self.begin(move |id| ToWorker::DeleteCached { id, key }, None)?;
        loop {
            if let FromWorker::Deleted { deleted, .. } = Self::next(&mut rx).await? {
                guard.finished = true;
                return Ok(deleted);
            }
        }
    }

    /// The exact option distribution at the answer position of `req`'s prompt (full softmax).
    pub async fn distribution(
        &self,
        req: &ChatRequest,
        n_options: usize,
        top_n: usize,
    ) -> Result<(LetterDistribution, Timings), ChatError> {
        let request = req.clone();
        let (mut guard, mut rx) = self.begin(
            move |id| ToWorker::Distribution {
                id,
                request,
                n_options,
                top_n,
            },
            None,
        )?;
        loop {
            if let FromWorker::Dist { dist, timings, .. } = Self::next(&mut rx).await? {
                guard.finished = true;
                return Ok((dist, timings));
            }
        }
    }

    /// A chat call with the worker's timings. Dropping the future cancels the generation.
    pub async fn chat_timed(
        &self,
        req: &ChatRequest,
        on_delta: &mut dyn FnMut(&str),
    ) -> Result<(ChatResponse, Timings), ChatError> {
        let request = req.clone();
        let (mut guard, mut rx) = self.begin(
            move |id| ToWorker::Generate {
                id,
                request,
                fresh: false,
            },
            None,
        )?;
        loop {
            match Self::next(&mut rx).await? {
                FromWorker::Delta { text, .. } => on_delta(&text),
                FromWorker::Done {
                    response, timings, ..
                } => {
                    guard.finished = true;
                    return Ok((response, timings));
                }
                _ => {}
            }
        }
    }

    /// Stop the worker (frees the model's memory). Pending calls fail.
    pub fn terminate(&self) {
        self.inner.worker.terminate();
        self.inner.fail_all("the model worker was stopped".into());
    }
}

impl Inner {
    fn fail_all(&self, why: String) {
        *self.failed.borrow_mut() = Some(why.clone());
        let calls: Vec<UnboundedSender<FromWorker>> =
            self.calls.borrow().values().cloned().collect();
        for tx in calls {
            let _ = tx.unbounded_send(FromWorker::Error {
                id: None,
                error: ChatError::Other(why.clone()),
            });
        }
    }
}

impl ChatModel for WorkerModel {
    async fn chat(
        &self,
        req: &ChatRequest,
        on_delta: &mut dyn FnMut(&str),
    ) -> Result<ChatResponse, ChatError> {
        self.chat_timed(req, on_delta).await.map(|(r, _)| r)
    }
}
