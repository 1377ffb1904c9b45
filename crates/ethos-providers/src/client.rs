//! [`Client`]: an [`ethos_engine::ChatModel`] over an [`Endpoint`] and a [`Transport`].
//!
//! Per call: build the request for the endpoint's protocol, acquire a slot of the per-endpoint
//! concurrency [`Limiter`], send, stream the body through the protocol's decoder (text pieces go
//! to `on_delta` as they arrive), map failures to [`ChatError`] (keys redacted), and retry per
//! the [`RetryPolicy`] (the slot is released while waiting).
//!
//! **Retries after partial output.** If an attempt had already passed text pieces to
//! `on_delta` and is then retried (stream cut, server error mid-stream, parameter dropped), the
//! client first calls `on_delta(RESET_DELTA)` — the empty string — meaning "discard the text
//! streamed so far; the reply starts over". Real pieces are never empty. The returned
//! [`ChatResponse`] always holds only the final attempt's text.
//!
//! **Capabilities.** A 400 whose message is about log-probabilities makes the client drop
//! `top_logprobs` and retry once (not counted against the retry policy), and records
//! `logprobs: Rejected` for (base URL, model) so later calls omit the parameter up front; the
//! same for `json_schema` (`response_format`). A success records whether logprobs came back
//! (`Yes` / `No` = silently ignored) and whether `n > 1` was honoured. A 400 about `n` records
//! `n: Rejected` and is returned (the caller decides to make separate calls).

use crate::errors::{
    error_from_status_for, mentions_json_schema, mentions_logprobs, mentions_n_parameter,
    redact_error,
};
use crate::http::HttpRequest;
use crate::retry::{parse_retry_after_at, RetryPolicy};
use crate::transport::Transport;
use crate::{anthropic, completions, openai, presets, Endpoint, Protocol};
use ethos_engine::{ChatError, ChatModel, ChatRequest, ChatResponse, SentParams};
use serde::{Deserialize, Serialize};
use async_lock::{Semaphore, SemaphoreGuard};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

/// Passed to `on_delta` before a retry that follows partial output: discard what was streamed.
pub const RESET_DELTA: &str = "";

/// Bytes of a streamed body kept for reading an error message.
const ERROR_BODY_CAP: usize = 64 * 1024;
/// Largest non-streamed body accepted.
const MAX_BODY: usize = 32 * 1024 * 1024;
/// Longest reply text accepted (all choices together). Replies are a few hundred words; a
/// server that streams without end must not exhaust the page's memory.
pub const MAX_TEXT: usize = 4 * 1024 * 1024;

/// What is known about one feature of one (base URL, model).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Capability {
    /// Not tried yet.
    #[default]
    Unknown,
    /// Requested and delivered.
    Yes,
    /// Accepted but silently not delivered (e.g. LM Studio logprobs, Ollama `n`).
    No,
    /// Refused with an error (e.g. Groq/Gemini logprobs: HTTP 400).
    Rejected,
}

impl Capability {
    pub fn is_usable(self) -> bool {
        self == Capability::Yes
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    pub logprobs: Capability,
    pub n: Capability,
    pub json_schema: Capability,
    /// The model wants `max_completion_tokens` instead of `max_tokens` (OpenAI reasoning models).
    #[serde(default)]
    pub max_completion_tokens: bool,
    /// The model accepts only its default temperature: `temperature` is not sent.
    #[serde(default)]
    pub fixed_temperature: bool,
    /// The server rejected `seed`: it is not sent.
    #[serde(default)]
    pub no_seed: bool,
    /// The server rejected `stream_options`: it is not sent.
    #[serde(default)]
    pub no_stream_options: bool,
    /// Raw completion (`/completions`): `Yes` with first-token log-probabilities, `No` served
    /// without them, `Rejected` not served (404, or the Anthropic protocol).
    #[serde(default)]
    pub raw_completion: Capability,
}

impl Capabilities {
    /// The OpenAI wire adjustments these capabilities call for.
    pub fn wire_options(&self) -> openai::WireOptions {
        openai::WireOptions {
            max_completion_tokens: self.max_completion_tokens,
            omit_temperature: self.fixed_temperature,
            omit_seed: self.no_seed,
            omit_stream_options: self.no_stream_options,
        }
    }
}

/// Shared capability cache keyed by (base URL, model).
pub type CapabilityCache = Arc<Mutex<HashMap<(String, String), Capabilities>>>;

fn normalize_base(base_url: &str) -> String {
    base_url.trim().trim_end_matches('/').to_ascii_lowercase()
}

/// The capability cache shared by every [`Client::shared`] in this process (browser tab).
pub fn shared_capability_cache() -> CapabilityCache {
    static CACHE: OnceLock<CapabilityCache> = OnceLock::new();
    CACHE.get_or_init(CapabilityCache::default).clone()
}

/// The limiter shared by every [`Client::shared`] for this base URL in this process (browser
/// tab). If one exists with a different limit it is replaced (holders of the old one finish).
pub fn shared_limiter(base_url: &str, limit: usize) -> Arc<Limiter> {
    static LIMITERS: OnceLock<Mutex<HashMap<String, Arc<Limiter>>>> = OnceLock::new();
    let mut map = lock(LIMITERS.get_or_init(Default::default));
    let entry = map
        .entry(normalize_base(base_url))
        .or_insert_with(|| Arc::new(Limiter::new(limit)));
    if entry.limit() != limit.max(1) {
        *entry = Arc::new(Limiter::new(limit));
    }
    entry.clone()
}

fn lock<X>(m: &Mutex<X>) -> MutexGuard<'_, X> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The per-endpoint concurrency limit: `async-lock`'s semaphore (no runtime of its own, so it
/// works in a browser and natively; waiters are served in order), counting the slots held for
/// tests and benchmarks.
#[derive(Debug)]
pub struct Limiter {
    limit: usize,
    slots: Semaphore,
    in_use: AtomicUsize,
    peak: AtomicUsize,
}

impl Limiter {
    /// A limiter admitting `limit` holders at once (at least 1).
    pub fn new(limit: usize) -> Self {
        let limit = limit.max(1);
        Self {
            limit,
            slots: Semaphore::new(limit),
            in_use: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
        }
    }
    pub fn limit(&self) -> usize {
        self.limit
    }
    /// Slots currently held.
    pub fn in_use(&self) -> usize {
        self.in_use.load(Ordering::SeqCst)
    }
    /// Most slots ever held at once.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }
    /// Wait for a slot; the slot is released when the [`Permit`] is dropped.
    pub async fn acquire(&self) -> Permit<'_> {
        let slot = self.slots.acquire().await;
        let held = self.in_use.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(held, Ordering::SeqCst);
        Permit {
            limiter: self,
            _slot: slot,
        }
    }
}

/// A held slot of a [`Limiter`].
pub struct Permit<'a> {
    limiter: &'a Limiter,
    _slot: SemaphoreGuard<'a>,
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.limiter.in_use.fetch_sub(1, Ordering::SeqCst);
    }
}

enum Decoder {
    OpenAi(openai::StreamDecoder),
    Anthropic(anthropic::StreamDecoder),
}

impl Decoder {
    fn new(p: Protocol) -> Self {
        match p {
            Protocol::OpenAi => Decoder::OpenAi(openai::StreamDecoder::new()),
            Protocol::Anthropic => Decoder::Anthropic(anthropic::StreamDecoder::new()),
        }
    }
    fn feed(&mut self, bytes: &[u8]) -> Result<Vec<String>, ChatError> {
        match self {
            Decoder::OpenAi(d) => d.feed(bytes),
            Decoder::Anthropic(d) => d.feed(bytes),
        }
    }
    fn saw_event(&self) -> bool {
        match self {
            Decoder::OpenAi(d) => d.saw_event(),
            Decoder::Anthropic(d) => d.saw_event(),
        }
    }
    fn finish(self) -> Result<ChatResponse, ChatError> {
        match self {
            Decoder::OpenAi(d) => d.finish(),
            Decoder::Anthropic(d) => d.finish(),
        }
    }
}

/// Build the HTTP request of a chat call for an endpoint (either protocol).
pub fn build_chat(ep: &Endpoint, req: &ChatRequest, stream: bool) -> HttpRequest {
    build_chat_with(ep, req, stream, &Capabilities::default())
}

/// [`build_chat`] adjusted to what is known about the model.
pub fn build_chat_with(
    ep: &Endpoint,
    req: &ChatRequest,
    stream: bool,
    caps: &Capabilities,
) -> HttpRequest {
    match ep.protocol {
        Protocol::OpenAi => openai::build_chat_with(ep, req, stream, caps.wire_options()),
        Protocol::Anthropic => anthropic::build_chat(ep, req, stream),
    }
}

/// The decoding parameters [`build_chat_with`] puts on the wire for `req` (the request as the
/// client finally sends it, after any adaptation) with what is known about the model.
pub fn sent_params(protocol: Protocol, req: &ChatRequest, caps: &Capabilities) -> SentParams {
    let mut sent = SentParams::of(req);
    sent.temperature = sent.temperature.filter(|t| t.is_finite());
    match protocol {
        Protocol::OpenAi => {
            if caps.fixed_temperature {
                sent.temperature = None;
            }
            if caps.no_seed {
                sent.seed = None;
            }
            sent.top_logprobs = sent.top_logprobs.map(|k| k.min(openai::MAX_TOP_LOGPROBS));
        }
        Protocol::Anthropic => {
            sent.raw = false;
            sent.temperature = sent.temperature.map(|t| t.clamp(0.0, 1.0));
            sent.seed = None;
            sent.top_logprobs = None;
            sent.json_schema = false;
        }
    }
    sent
}

/// Parse a non-streamed chat body for a protocol.
pub fn parse_chat(protocol: Protocol, body: &[u8]) -> Result<ChatResponse, ChatError> {
    match protocol {
        Protocol::OpenAi => openai::parse_chat(body),
        Protocol::Anthropic => anthropic::parse_chat(body),
    }
}

/// Build the model-list request for an endpoint (either protocol).
pub fn build_models(ep: &Endpoint) -> HttpRequest {
    match ep.protocol {
        Protocol::OpenAi => openai::build_models(ep),
        Protocol::Anthropic => anthropic::build_models(ep),
    }
}

/// Parse a model-list body for a protocol.
pub fn parse_models(protocol: Protocol, body: &[u8]) -> Result<Vec<String>, ChatError> {
    match protocol {
        Protocol::OpenAi => openai::parse_models(body),
        Protocol::Anthropic => anthropic::parse_models(body),
    }
}

/// Which body handling an attempt needs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum BodyKind {
    Stream,
    Whole,
}

pub struct Client<T> {
    endpoint: Endpoint,
    transport: T,
    policy: RetryPolicy,
    limiter: Arc<Limiter>,
    caps: CapabilityCache,
    stream: bool,
    timeout_ms: Option<u64>,
    attempts: AtomicU64,
}

impl<T: Transport> Client<T> {
    /// A client with the default retry policy, streaming on, and a concurrency limit from the
    /// endpoint's preset (1 for local servers; 2 if the preset is unknown).
    pub fn new(endpoint: Endpoint, transport: T) -> Self {
        let limit = presets::preset(&endpoint.preset)
            .map(|p| p.max_concurrency)
            .unwrap_or(2);
        Self {
            endpoint,
            transport,
            policy: RetryPolicy::default(),
            limiter: Arc::new(Limiter::new(limit)),
            caps: CapabilityCache::default(),
            stream: true,
            timeout_ms: None,
            attempts: AtomicU64::new(0),
        }
    }
    /// Like [`Client::new`], but sharing the per-endpoint limiter ([`shared_limiter`], limit
    /// `concurrency` or the preset's) and the capability cache ([`shared_capability_cache`]) with
    /// every other client made this way: a UI that builds a client per run still keeps the
    /// per-endpoint limit and learns each model's capabilities once.
    pub fn shared(endpoint: Endpoint, transport: T, concurrency: Option<usize>) -> Self {
        let limit = concurrency
            .or_else(|| presets::preset(&endpoint.preset).map(|p| p.max_concurrency))
            .unwrap_or(2);
        let limiter = shared_limiter(&endpoint.base_url, limit);
        Self::new(endpoint, transport)
            .with_limiter(limiter)
            .with_capability_cache(shared_capability_cache())
    }
    pub fn with_policy(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }
    /// A fresh limiter admitting `limit` concurrent requests.
    pub fn with_concurrency(mut self, limit: usize) -> Self {
        self.limiter = Arc::new(Limiter::new(limit));
        self
    }
    /// Share a limiter between clients of the same endpoint.
    pub fn with_limiter(mut self, limiter: Arc<Limiter>) -> Self {
        self.limiter = limiter;
        self
    }
    /// Share a capability cache between clients.
    pub fn with_capability_cache(mut self, cache: CapabilityCache) -> Self {
        self.caps = cache;
        self
    }
    /// Streamed (`true`, default) or whole-body replies.
    pub fn with_streaming(mut self, stream: bool) -> Self {
        self.stream = stream;
        self
    }
    /// Give up on an attempt that has not finished (whole reply received) after `ms`
    /// milliseconds: `ChatError::Timeout`, retried like a network error. `None` (the default):
    /// wait as long as the server keeps the connection open (the user can cancel).
    pub fn with_timeout_ms(mut self, ms: Option<u64>) -> Self {
        self.timeout_ms = ms;
        self
    }
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }
    pub fn transport(&self) -> &T {
        &self.transport
    }
    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }
    pub fn limiter(&self) -> &Arc<Limiter> {
        &self.limiter
    }
    pub fn capability_cache(&self) -> &CapabilityCache {
        &self.caps
    }
    /// HTTP requests sent so far by this client (every attempt counts).
    pub fn attempts(&self) -> u64 {
        self.attempts.load(Ordering::Relaxed)
    }
    /// What is known about this endpoint's `model`.
    pub fn capabilities(&self, model: &str) -> Capabilities {
        lock(&self.caps)
            .get(&self.cap_key(model))
            .copied()
            .unwrap_or_default()
    }
    pub fn set_capabilities(&self, model: &str, caps: Capabilities) {
        lock(&self.caps).insert(self.cap_key(model), caps);
    }
    fn update_caps(&self, model: &str, f: impl FnOnce(&mut Capabilities)) {
        let mut m = lock(&self.caps);
        f(m.entry(self.cap_key(model)).or_default());
    }
    fn cap_key(&self, model: &str) -> (String, String) {
        (normalize_base(&self.endpoint.base_url), model.to_string())
    }

    /// The endpoint's model ids (one attempt per policy step; same error mapping as chat).
    pub async fn list_models(&self) -> Result<Vec<String>, ChatError> {
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let http = build_models(&self.endpoint);
            let (res, retry_after) = self
                .attempt(http, BodyKind::Whole, &mut |_| {}, &mut 0)
                .await;
            let err = match res {
                Ok(Body::Whole(body)) => {
                    return parse_models(self.endpoint.protocol, &body)
                        .map_err(|e| redact_error(e, self.endpoint.key()))
                }
                Ok(Body::Streamed(_)) => {
                    return Err(ChatError::Other(
                        "internal: unexpected streamed model list".into(),
                    ))
                }
                Err(e) => e,
            };
            let ra = retry_after
                .as_deref()
                .and_then(|v| parse_retry_after_at(v, self.transport.now_ms()));
            match self
                .policy
                .decide(attempt, &err, ra, self.transport.jitter())
            {
                Some(ms) => self.transport.sleep(ms).await,
                None => return Err(err),
            }
        }
    }

    /// One HTTP exchange holding a limiter slot. Returns the parsed result and the raw
    /// Retry-After header (for the retry decision).
    async fn attempt(
        &self,
        http: HttpRequest,
        kind: BodyKind,
        on_delta: &mut dyn FnMut(&str),
        emitted: &mut usize,
    ) -> (Result<Body, ChatError>, Option<String>) {
        let _permit = self.limiter.acquire().await;
        self.attempts.fetch_add(1, Ordering::Relaxed);
        let mut decoder = (kind == BodyKind::Stream).then(|| Decoder::new(self.endpoint.protocol));
        let mut body: Vec<u8> = Vec::new();
        let mut decode_err: Option<ChatError> = None;
        let sent = {
            let mut on_chunk = |bytes: &[u8]| -> Result<(), ChatError> {
                match decoder.as_mut() {
                    None => {
                        if body.len().saturating_add(bytes.len()) > MAX_BODY {
                            return Err(ChatError::Malformed(format!(
                                "the reply is larger than {MAX_BODY} bytes"
                            )));
                        }
                        body.extend_from_slice(bytes);
                    }
                    Some(d) => {
                        if body.len() < ERROR_BODY_CAP {
                            let room = ERROR_BODY_CAP - body.len();
                            body.extend_from_slice(
                                bytes.get(..room.min(bytes.len())).unwrap_or(bytes),
                            );
                        }
                        match &decode_err {
                            None => match d.feed(bytes) {
                                Ok(pieces) => {
                                    for p in pieces {
                                        on_delta(&p);
                                        *emitted += p.len();
                                    }
                                    if *emitted > MAX_TEXT {
                                        return Err(crate::errors::too_long(MAX_TEXT));
                                    }
                                }
                                // Keep reading a little: if the status turns out to be an error,
                                // its body explains more than the decoder's complaint.
                                Err(e) => decode_err = Some(e),
                            },
                            Some(e) if body.len() >= ERROR_BODY_CAP => return Err(e.clone()),
                            Some(_) => {}
                        }
                    }
                }
                Ok(())
            };
            let send = self.transport.send(http, &mut on_chunk);
            match self.timeout_ms {
                None => send.await,
                Some(ms) => {
                    let send = std::pin::pin!(send);
                    let timer = std::pin::pin!(self.transport.sleep(ms));
                    match futures::future::select(send, timer).await {
                        futures::future::Either::Left((res, _)) => res,
                        // Dropping the send future aborts the request.
                        futures::future::Either::Right(((), _)) => Err(ChatError::Timeout(
                            format!("no complete reply within {} s", ms.div_ceil(1000)),
                        )),
                    }
                }
            }
        };
        let key = self.endpoint.key();
        match sent {
            Err(e) => (Err(redact_error(e, key)), None),
            Ok(st) if !st.ok() => {
                let err = error_from_status_for(
                    &self.endpoint,
                    st.status,
                    &body,
                    st.retry_after.as_deref(),
                );
                (Err(err), st.retry_after)
            }
            Ok(_) => {
                let res = match (decode_err, decoder) {
                    (Some(e), _) => Err(e),
                    (None, Some(d)) => {
                        let saw_event = d.saw_event();
                        match d.finish() {
                            Ok(r) => Ok(Body::Streamed(r)),
                            // Not an event stream at all but a whole JSON body (a server that
                            // ignores `stream: true`, or a 200 carrying an error object):
                            // read it as such when it was kept whole.
                            Err(_)
                                if !saw_event && body.len() < ERROR_BODY_CAP && is_json(&body) =>
                            {
                                parse_chat(self.endpoint.protocol, &body).map(Body::Streamed)
                            }
                            Err(e) => Err(e),
                        }
                    }
                    (None, None) => Ok(Body::Whole(body)),
                };
                (res.map_err(|e| redact_error(e, key)), None)
            }
        }
    }
}

fn is_json(body: &[u8]) -> bool {
    serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok()
}

/// The successful outcome of one exchange.
enum Body {
    Streamed(ChatResponse),
    Whole(Vec<u8>),
}

impl<T: Transport> ChatModel for Client<T> {
    async fn chat(
        &self,
        req: &ChatRequest,
        on_delta: &mut dyn FnMut(&str),
    ) -> Result<ChatResponse, ChatError> {
        let protocol = self.endpoint.protocol;
        let mut req = req.clone();
        let caps = self.capabilities(&req.model);
        if req.raw && protocol == Protocol::Anthropic {
            self.update_caps(&req.model, |c| c.raw_completion = Capability::Rejected);
            return Err(ChatError::Unsupported(
                "raw completion (a plain prompt without the chat template) is not offered by the Anthropic API: turn raw completion off for this provider".into(),
            ));
        }
        if protocol == Protocol::Anthropic {
            if anthropic::check_request(&req).is_err() {
                // One sample per call on this API: send one; the pipeline samples the rest one
                // call at a time (it does so whenever fewer samples come back than it asked for).
                self.update_caps(&req.model, |c| c.n = Capability::Rejected);
                req.n = None;
            }
            req.top_logprobs = None;
            req.json_schema = None;
            req.seed = None;
        }
        if caps.logprobs == Capability::Rejected {
            req.top_logprobs = None;
        }
        if caps.json_schema == Capability::Rejected {
            req.json_schema = None;
        }
        if caps.n == Capability::Rejected && req.n.is_some_and(|n| n > 1) {
            return Err(ChatError::Unsupported(format!(
                "this provider refused n > 1 for {} earlier; make separate calls instead",
                req.model
            )));
        }
        // Raw completions are read whole (their log-probabilities come with the body).
        let kind = if self.stream && !req.raw {
            BodyKind::Stream
        } else {
            BodyKind::Whole
        };
        let mut attempt: u32 = 0;
        let mut waited_ms: u64 = 0;
        loop {
            attempt += 1;
            let caps = self.capabilities(&req.model);
            let http = if req.raw {
                completions::build_completion(&self.endpoint, &req, caps.wire_options())
            } else {
                build_chat_with(&self.endpoint, &req, self.stream, &caps)
            };
            // Bytes of text passed to on_delta by this attempt.
            let mut emitted: usize = 0;
            let (res, retry_after) = self.attempt(http, kind, on_delta, &mut emitted).await;
            let res = match res {
                Ok(Body::Streamed(r)) => Ok(r),
                Ok(Body::Whole(body)) => if req.raw {
                    completions::parse_completion(&body)
                } else {
                    parse_chat(protocol, &body)
                }
                .map_err(|e| redact_error(e, self.endpoint.key())),
                Err(e) => Err(e),
            };
            let res = res.and_then(|r| {
                if r.text.len() > MAX_TEXT {
                    Err(crate::errors::too_long(MAX_TEXT))
                } else {
                    Ok(r)
                }
            });
            let err = match res {
                Ok(mut resp) => {
                    resp.sent = Some(sent_params(protocol, &req, &caps));
                    // Whole bodies, and text the stream's last unterminated event carried.
                    if let Some(tail) = resp.text.get(emitted..).filter(|t| !t.is_empty()) {
                        on_delta(tail);
                    }
                    self.record_success(&req, &resp);
                    return Ok(resp);
                }
                Err(e) => e,
            };
            if req.raw && matches!(err, ChatError::NotFound(_)) {
                self.update_caps(&req.model, |c| c.raw_completion = Capability::Rejected);
            }
            let reset = |on_delta: &mut dyn FnMut(&str)| {
                if emitted > 0 {
                    on_delta(RESET_DELTA);
                }
            };
            if self.adapt_to_rejection(&mut req, &err) {
                // A parameter was dropped or renamed: try again at once (not a policy retry).
                reset(on_delta);
                attempt -= 1;
                continue;
            }
            let ra = retry_after
                .as_deref()
                .and_then(|v| parse_retry_after_at(v, self.transport.now_ms()));
            match self
                .policy
                .decide(attempt, &err, ra, self.transport.jitter())
            {
                Some(ms) => {
                    reset(on_delta);
                    self.transport.sleep(ms).await;
                    waited_ms = waited_ms.saturating_add(ms);
                }
                None => {
                    return Err(match err {
                        ChatError::RateLimited { .. } => ChatError::RateLimited { waited_ms },
                        e => e,
                    })
                }
            }
        }
    }
}

impl<T: Transport> Client<T> {
    /// Learn from a 400/422 naming a parameter: drop `top_logprobs` / `json_schema`, switch to
    /// `max_completion_tokens`, stop sending `temperature`, `seed` or `stream_options`. Returns whether the request changed
    /// (each adaptation happens at most once, so this cannot loop). A refusal of `n` is recorded
    /// but not adapted (fewer samples would silently change the method).
    fn adapt_to_rejection(&self, req: &mut ChatRequest, err: &ChatError) -> bool {
        let m = match err {
            ChatError::Unsupported(m) => m,
            ChatError::BadRequest {
                status: 400 | 422,
                message,
            } => message,
            _ => return false,
        };
        let lower = m.to_ascii_lowercase();
        let model = req.model.clone();
        let caps = self.capabilities(&model);
        if req.top_logprobs.is_some() && mentions_logprobs(m) {
            self.update_caps(&model, |c| c.logprobs = Capability::Rejected);
            req.top_logprobs = None;
            return true;
        }
        if req.json_schema.is_some() && mentions_json_schema(m) {
            self.update_caps(&model, |c| c.json_schema = Capability::Rejected);
            req.json_schema = None;
            return true;
        }
        if self.endpoint.protocol == Protocol::OpenAi {
            if !caps.max_completion_tokens && lower.contains("max_completion_tokens") {
                self.update_caps(&model, |c| c.max_completion_tokens = true);
                return true;
            }
            if !caps.fixed_temperature
                && lower.contains("temperature")
                && (lower.contains("unsupported")
                    || lower.contains("not support")
                    || lower.contains("only the default"))
            {
                self.update_caps(&model, |c| c.fixed_temperature = true);
                return true;
            }
        }
        if self.endpoint.protocol == Protocol::OpenAi {
            let names = |field: &str| {
                lower
                    .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .any(|w| w == field)
            };
            if !caps.no_stream_options && self.stream && names("stream_options") {
                self.update_caps(&model, |c| c.no_stream_options = true);
                return true;
            }
            if !caps.no_seed && req.seed.is_some() && names("seed") {
                self.update_caps(&model, |c| c.no_seed = true);
                return true;
            }
        }
        if req.n.is_some_and(|n| n > 1) && mentions_n_parameter(m) {
            self.update_caps(&model, |c| c.n = Capability::Rejected);
        }
        false
    }

    fn record_success(&self, req: &ChatRequest, resp: &ChatResponse) {
        let protocol = self.endpoint.protocol;
        let got_logprobs = resp
            .first_token_top_logprobs
            .as_ref()
            .is_some_and(|l| !l.is_empty());
        self.update_caps(&req.model, |c| {
            if protocol == Protocol::Anthropic {
                c.logprobs = Capability::No;
            } else if req.top_logprobs.is_some() && !req.raw {
                c.logprobs = if got_logprobs {
                    Capability::Yes
                } else {
                    Capability::No
                };
            }
            if req.raw {
                c.raw_completion = if req.top_logprobs.is_none() || got_logprobs {
                    Capability::Yes
                } else {
                    Capability::No
                };
            }
            if let Some(n) = req.n.filter(|&n| n > 1) {
                c.n = if resp.more_texts.len() + 1 >= n as usize {
                    Capability::Yes
                } else {
                    Capability::No
                };
            }
            if req.json_schema.is_some() {
                c.json_schema = Capability::Yes;
            }
        });
    }
}
