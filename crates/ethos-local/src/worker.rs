//! The Web Worker side (wasm-bindgen exports driven by `js/worker.js`). The JS glue does the
//! fetching, caching and message loop; this owns the model and runs one token per `step()` so
//! the worker can look at its message queue (cancel) between tokens.

use ethos_engine::chat::{ChatError, ChatRequest};
use wasm_bindgen::prelude::*;

use crate::chat::to_chat_error;
use crate::runtime::{Job, LoadOptions, LocalError, LocalModel, Step};
use crate::stream::StreamLoader;

/// An error for JS: the JSON of a [`ChatError`] (the worker forwards it as is).
fn js_err(e: ChatError) -> JsValue {
    JsValue::from_str(
        &serde_json::to_string(&e)
            .unwrap_or_else(|_| "{\"kind\":\"other\",\"detail\":\"error\"}".into()),
    )
}

fn local_err(e: LocalError) -> JsValue {
    js_err(to_chat_error(e))
}

fn parse_request(json: &str) -> Result<ChatRequest, JsValue> {
    serde_json::from_str(json).map_err(|e| js_err(ChatError::Malformed(format!("request: {e}"))))
}

#[wasm_bindgen]
pub struct Engine {
    model: Option<LocalModel>,
    job: Option<Job>,
    loader: Option<StreamLoader>,
}

impl Default for Engine {
    fn default() -> Self {
        Self::new()
    }
}

#[wasm_bindgen]
impl Engine {
    #[wasm_bindgen(constructor)]
    pub fn new() -> Engine {
        Engine {
            model: None,
            job: None,
            loader: None,
        }
    }

    /// Start loading a model streamed in chunks (`push`, then `finish_load`): the file's bytes
    /// go straight into the tensors' own buffers, never held whole. The loaded model, if any,
    /// is dropped first, so its memory is reused. `total`: the file's size, when known.
    pub fn begin_load(&mut self, total: Option<f64>) {
        self.model = None;
        self.job = None;
        let total = total.filter(|t| t.is_finite() && *t >= 0.0).map(|t| t as u64);
        self.loader = Some(StreamLoader::new(total));
    }

    /// The next chunk of the file being loaded.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), JsValue> {
        self.loader
            .as_mut()
            .ok_or_else(|| js_err(ChatError::Other("no load started".into())))?
            .push(chunk)
            .map_err(local_err)
    }

    /// SHA-256 (hex) of the bytes pushed so far.
    pub fn sha256(&self) -> String {
        self.loader
            .as_ref()
            .map_or_else(String::new, StreamLoader::sha256_hex)
    }

    /// Drop a started load (cancelled, or its source failed).
    pub fn abort_load(&mut self) {
        self.loader = None;
    }

    /// Build the model from the pushed file; returns the [`crate::ModelInfo`] JSON (with the
    /// file's SHA-256). `expected_sha256`: a file whose hash differs is refused, nothing built.
    pub fn finish_load(
        &mut self,
        requantize: bool,
        backend: Option<String>,
        expected_sha256: Option<String>,
    ) -> Result<String, JsValue> {
        let loader = self
            .loader
            .take()
            .ok_or_else(|| js_err(ChatError::Other("no load started".into())))?;
        let model = loader
            .finish(
                LoadOptions {
                    backend: backend_of(backend.as_deref()),
                    requantize_to_q8_0: requantize,
                },
                expected_sha256.as_deref().filter(|s| !s.is_empty()),
            )
            .map_err(local_err)?;
        let info = serde_json::to_string(model.info())
            .map_err(|e| js_err(ChatError::Other(e.to_string())))?;
        self.model = Some(model);
        Ok(info)
    }

    /// Build the model from GGUF bytes; returns the [`crate::ModelInfo`] JSON. `backend`:
    /// "fast", "candle" or anything else for automatic.
    pub fn load(
        &mut self,
        bytes: &[u8],
        requantize: bool,
        backend: Option<String>,
    ) -> Result<String, JsValue> {
        self.model = None;
        self.job = None;
        let backend = backend_of(backend.as_deref());
        let model = LocalModel::from_gguf_bytes(
            bytes,
            LoadOptions {
                backend,
                requantize_to_q8_0: requantize,
            },
        )
        .map_err(local_err)?;
        let info = serde_json::to_string(model.info())
            .map_err(|e| js_err(ChatError::Other(e.to_string())))?;
        self.model = Some(model);
        Ok(info)
    }

    pub fn loaded(&self) -> bool {
        self.model.is_some()
    }

    fn model(&mut self) -> Result<&mut LocalModel, JsValue> {
        self.model
            .as_mut()
            .ok_or_else(|| local_err(LocalError::NotLoaded))
    }

    /// Start a chat request (JSON of a `ChatRequest`); returns its prompt length in tokens.
    pub fn start(&mut self, request_json: &str) -> Result<u32, JsValue> {
        let req = parse_request(request_json)?;
        let job = self.model()?.start_job(&req).map_err(local_err)?;
        let n = u32::try_from(job.prompt_tokens()).unwrap_or(u32::MAX);
        self.job = Some(job);
        Ok(n)
    }

    /// Process the prompt of the started request (timed apart from generation by the caller).
    pub fn prefill(&mut self) -> Result<(), JsValue> {
        let mut job = self
            .job
            .take()
            .ok_or_else(|| js_err(ChatError::Other("no request started".into())))?;
        let r = self.model()?.prefill(&mut job).map_err(local_err);
        self.job = Some(job);
        r
    }

    /// One token: the new text of the first sample ("" for other samples or an incomplete
    /// character), or `undefined` when every sample is finished.
    pub fn step(&mut self) -> Result<Option<String>, JsValue> {
        let mut job = self
            .job
            .take()
            .ok_or_else(|| js_err(ChatError::Other("no request started".into())))?;
        let r = self.model()?.step(&mut job).map_err(local_err);
        let out = match r {
            Ok(Step::Done) => None,
            Ok(Step::Text { sample, text } | Step::Finished { sample, text }) => {
                Some(if sample == 0 { text } else { String::new() })
            }
            Err(e) => {
                return Err(e);
            }
        };
        self.job = Some(job);
        Ok(out)
    }

    /// Tokens generated so far by the started request.
    pub fn generated(&self) -> u32 {
        self.job.as_ref().map_or(0, Job::completion_tokens)
    }

    /// The `ChatResponse` JSON of the finished request.
    pub fn finish(&mut self) -> Result<String, JsValue> {
        let job = self
            .job
            .take()
            .ok_or_else(|| js_err(ChatError::Other("no request started".into())))?;
        serde_json::to_string(&job.into_response())
            .map_err(|e| js_err(ChatError::Other(e.to_string())))
    }

    /// Forget the cached prompt positions (the next prompt is computed whole).
    pub fn clear_cache(&mut self) {
        if let Some(m) = self.model.as_mut() {
            m.clear_cache();
        }
    }

    /// Drop the started request.
    pub fn cancel(&mut self) {
        self.job = None;
    }

    /// The exact option-letter distribution at the answer position of the request's prompt:
    /// `LetterDistribution` JSON. Also returns the prompt length via `prompt_tokens_of`.
    pub fn distribution(
        &mut self,
        request_json: &str,
        n_options: usize,
        top_n: usize,
    ) -> Result<String, JsValue> {
        let req = parse_request(request_json)?;
        let model = self.model()?;
        let tokens = model.prompt_tokens(&req.messages).map_err(local_err)?;
        let dist = model.next_token(&tokens).map_err(local_err)?;
        let letters = model.letter_distribution(&dist, n_options, top_n.min(50));
        serde_json::to_string(&letters).map_err(|e| js_err(ChatError::Other(e.to_string())))
    }

    /// Prompt length in tokens of a request (template applied).
    pub fn prompt_tokens_of(&mut self, request_json: &str) -> Result<u32, JsValue> {
        let req = parse_request(request_json)?;
        let n = self
            .model()?
            .prompt_tokens(&req.messages)
            .map_err(local_err)?
            .len();
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }
}

/// "fast", "candle" or anything else for automatic.
fn backend_of(name: Option<&str>) -> crate::runtime::Backend {
    use crate::runtime::Backend;
    match name {
        Some("fast") => Backend::Fast,
        Some("candle") => Backend::Candle,
        _ => Backend::Auto,
    }
}

/// Run on a helper Web Worker of the threaded build (shared memory): joins the matrix-product
/// pool and never returns. `js/helper.js` calls it after instantiating the module on the
/// model worker's memory.
#[wasm_bindgen]
pub fn helper_loop() {
    crate::pool::helper_loop();
}

/// How many helper threads have joined the pool (0 in the single-thread builds).
#[wasm_bindgen]
pub fn helper_threads() -> usize {
    crate::pool::helpers()
}
