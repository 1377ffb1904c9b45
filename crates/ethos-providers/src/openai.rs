//! The OpenAI Chat Completions wire protocol (also spoken by OpenRouter, Groq, Together,
//! Mistral, DeepSeek, Gemini's OpenAI endpoint, Ollama `/v1`, llama.cpp, LM Studio, vLLM).
//!
//! Pure: builds [`HttpRequest`]s and parses bodies / streamed bytes; no I/O.

use crate::errors::{error_from_object, require_text};
use crate::http::HttpRequest;
use crate::sse::{EventHandler, Framed, SseEvent};
use crate::{join_url, Endpoint};
use ethos_engine::{ChatError, ChatRequest, ChatResponse, TokenLogprob, Usage};
use serde_json::{json, Map, Value};

/// Largest `top_logprobs` the API accepts.
pub const MAX_TOP_LOGPROBS: u8 = 20;

pub(crate) fn headers(ep: &Endpoint, accept: &str) -> Vec<(String, String)> {
    let mut h = vec![
        ("Content-Type".to_string(), "application/json".to_string()),
        ("Accept".to_string(), accept.to_string()),
    ];
    if let Some(k) = ep.key() {
        h.push(("Authorization".to_string(), format!("Bearer {k}")));
    }
    h
}

/// Per-model wire adjustments learnt from 400 replies (OpenAI reasoning models want
/// `max_completion_tokens` instead of `max_tokens` and accept only the default temperature).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WireOptions {
    /// Send the token limit as `max_completion_tokens`.
    pub max_completion_tokens: bool,
    /// Do not send `temperature` (the model only accepts its default).
    pub omit_temperature: bool,
    /// Do not send `seed` (the server rejects it).
    pub omit_seed: bool,
    /// Do not send `stream_options` (the server rejects it; usage may then be missing).
    pub omit_stream_options: bool,
}

/// The JSON body of a chat request. Fields that are `None` are omitted (Gemini rejects unknown
/// or null fields).
pub fn chat_body(req: &ChatRequest, stream: bool) -> Value {
    chat_body_with(req, stream, WireOptions::default())
}

/// [`chat_body`] with wire adjustments.
pub fn chat_body_with(req: &ChatRequest, stream: bool, opts: WireOptions) -> Value {
    let mut b = Map::new();
    b.insert("model".into(), json!(req.model));
    let messages: Vec<Value> = req
        .messages
        .iter()
        .map(|m| json!({ "role": m.role, "content": m.content }))
        .collect();
    b.insert("messages".into(), Value::Array(messages));
    if req.temperature.is_finite() && !opts.omit_temperature {
        b.insert("temperature".into(), json!(req.temperature));
    }
    let limit_field = if opts.max_completion_tokens {
        "max_completion_tokens"
    } else {
        "max_tokens"
    };
    b.insert(limit_field.into(), json!(req.max_tokens));
    if let Some(seed) = req.seed.filter(|_| !opts.omit_seed) {
        b.insert("seed".into(), json!(seed));
    }
    if let Some(k) = req.top_logprobs {
        b.insert("logprobs".into(), json!(true));
        b.insert("top_logprobs".into(), json!(k.min(MAX_TOP_LOGPROBS)));
    }
    if let Some(n) = req.n {
        b.insert("n".into(), json!(n));
    }
    if let Some(schema) = &req.json_schema {
        b.insert(
            "response_format".into(),
            json!({ "type": "json_schema", "json_schema": { "name": "reply", "schema": schema } }),
        );
    }
    if stream {
        b.insert("stream".into(), json!(true));
        if !opts.omit_stream_options {
            b.insert("stream_options".into(), json!({ "include_usage": true }));
        }
    }
    Value::Object(b)
}

/// `POST {base}/chat/completions`.
pub fn build_chat(ep: &Endpoint, req: &ChatRequest, stream: bool) -> HttpRequest {
    build_chat_with(ep, req, stream, WireOptions::default())
}

/// [`build_chat`] with wire adjustments.
pub fn build_chat_with(
    ep: &Endpoint,
    req: &ChatRequest,
    stream: bool,
    opts: WireOptions,
) -> HttpRequest {
    HttpRequest {
        method: "POST".into(),
        url: join_url(&ep.base_url, "chat/completions"),
        headers: headers(
            ep,
            if stream {
                "text/event-stream"
            } else {
                "application/json"
            },
        ),
        body: Some(chat_body_with(req, stream, opts).to_string()),
    }
}

/// `GET {base}/models`.
pub fn build_models(ep: &Endpoint) -> HttpRequest {
    HttpRequest {
        method: "GET".into(),
        url: join_url(&ep.base_url, "models"),
        headers: headers(ep, "application/json"),
        body: None,
    }
}

/// Model ids from a `/models` body (`{"data":[{"id":…}]}`; also tolerates `{"models":[…]}` and
/// a bare array), sorted and de-duplicated.
pub fn parse_models(body: &[u8]) -> Result<Vec<String>, ChatError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| ChatError::Malformed(format!("model list is not JSON: {e}")))?;
    if let Some(err) = v.get("error").filter(|e| !e.is_null()) {
        return Err(error_from_object(err));
    }
    let list = v
        .get("data")
        .or_else(|| v.get("models"))
        .or(Some(&v))
        .and_then(Value::as_array)
        .ok_or_else(|| ChatError::Malformed("model list has no \"data\" array".into()))?;
    let mut ids: Vec<String> = list
        .iter()
        .filter_map(|m| match m {
            Value::String(s) => Some(s.clone()),
            other => other
                .get("id")
                .or_else(|| other.get("name"))
                .or_else(|| other.get("model"))
                .and_then(Value::as_str)
                .map(str::to_string),
        })
        .filter(|s| !s.trim().is_empty())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

fn text_of(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        // Content given as parts: [{"type":"text","text":…}, …].
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.as_str().or_else(|| p.get("text").and_then(Value::as_str)))
            .collect::<Vec<_>>()
            .concat(),
        _ => String::new(),
    }
}

/// The top-logprobs of the first content token in a `logprobs` object (entries whose token is
/// empty are skipped). `None` if there is no such token (yet).
pub(crate) fn first_content_top_logprobs(logprobs: Option<&Value>) -> Option<Vec<TokenLogprob>> {
    let content = logprobs?.get("content")?.as_array()?;
    let first = content.iter().find(|t| {
        t.get("token")
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty())
    })?;
    entry_top_logprobs(first)
}

/// One position's `top_logprobs` list (`[{token, logprob, …}]`).
pub(crate) fn entry_top_logprobs(entry: &Value) -> Option<Vec<TokenLogprob>> {
    let tops = entry.get("top_logprobs")?.as_array()?;
    let list: Vec<TokenLogprob> = tops
        .iter()
        .filter_map(|t| {
            let token = t.get("token")?.as_str()?.to_string();
            let logprob = t.get("logprob")?.as_f64()?;
            Some(TokenLogprob { token, logprob })
        })
        .collect();
    Some(list)
}

fn usage_of(v: &Value) -> Option<Usage> {
    let u = v.get("usage").filter(|u| u.is_object())?;
    let num = |k: &str| {
        u.get(k)
            .and_then(Value::as_u64)
            .map(|x| x.min(u32::MAX as u64) as u32)
            .unwrap_or(0)
    };
    Some(Usage {
        prompt_tokens: num("prompt_tokens"),
        completion_tokens: num("completion_tokens"),
    })
}

fn choice_index(c: &Value) -> usize {
    c.get("index")
        .and_then(Value::as_u64)
        .map(|i| i.min(1024) as usize)
        .unwrap_or(0)
}

/// Parse a non-streamed reply.
pub fn parse_chat(body: &[u8]) -> Result<ChatResponse, ChatError> {
    parse_choices(
        body,
        |c| text_of(c.get("message").and_then(|m| m.get("content"))),
        first_content_top_logprobs,
    )
}

/// A reply with `choices` (chat or completions): `text` reads one choice's text, `top` the first
/// token's top log-probabilities from its `logprobs`; an `error` object becomes its error.
pub(crate) fn parse_choices(
    body: &[u8],
    text: impl Fn(&Value) -> String,
    top: impl Fn(Option<&Value>) -> Option<Vec<TokenLogprob>>,
) -> Result<ChatResponse, ChatError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| ChatError::Malformed(format!("the reply is not JSON: {e}")))?;
    if let Some(err) = v.get("error").filter(|e| !e.is_null()) {
        return Err(error_from_object(err));
    }
    let choices = v
        .get("choices")
        .and_then(Value::as_array)
        .filter(|c| !c.is_empty())
        .ok_or_else(|| ChatError::Malformed("the reply has no choices".into()))?;
    let mut sorted: Vec<&Value> = choices.iter().collect();
    sorted.sort_by_key(|c| choice_index(c));
    let mut texts = sorted.iter().map(|c| text(c));
    let first_text = texts.next().unwrap_or_default();
    let more_texts: Vec<String> = texts.collect();
    let first = sorted.first().copied();
    require_text(ChatResponse {
        text: first_text,
        more_texts,
        first_token_top_logprobs: first.and_then(|c| top(c.get("logprobs"))),
        first_token_letter_probs: None,
        usage: usage_of(&v),
        sent: None,
        finish_reason: first
            .and_then(|c| c.get("finish_reason"))
            .and_then(Value::as_str)
            .map(str::to_string),
    })
}

/// Incremental decoder of a streamed reply (`stream: true`).
#[derive(Debug)]
pub struct StreamDecoder(Framed<State>);

#[derive(Debug, Default)]
struct State {
    texts: Vec<String>,
    finish_reasons: Vec<Option<String>>,
    logprobs: Option<Vec<TokenLogprob>>,
    usage: Option<Usage>,
    done: bool,
    saw_choice: bool,
}

impl Default for StreamDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl StreamDecoder {
    pub fn new() -> Self {
        Self(Framed::new(State::default()))
    }

    /// Feed bytes; returns the new text pieces of the first choice (never empty strings).
    /// An error is reported once the text pieces before it have been returned.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Vec<String>, ChatError> {
        self.0.feed(bytes)
    }

    /// Whether any event-stream event has arrived (a body without any is not a stream: e.g. a
    /// server that ignored `stream: true` and sent a whole JSON reply).
    pub fn saw_event(&self) -> bool {
        self.0.saw_event()
    }

    /// The stream ended: the final response, or an error if it ended without `[DONE]`
    /// (`Network`: truncated) or carried no choices at all (`Malformed`).
    pub fn finish(self) -> Result<ChatResponse, ChatError> {
        let st = self.0.finish("[DONE]")?;
        if !st.saw_choice {
            return Err(ChatError::Malformed("the stream carried no reply".into()));
        }
        let mut texts = st.texts.into_iter();
        require_text(ChatResponse {
            text: texts.next().unwrap_or_default(),
            more_texts: texts.collect(),
            first_token_top_logprobs: st.logprobs,
            first_token_letter_probs: None,
            usage: st.usage,
            finish_reason: st.finish_reasons.into_iter().next().flatten(),
            sent: None,
        })
    }
}

impl EventHandler for State {
    fn complete(&self) -> bool {
        self.done
    }
    fn reply_finished(&self) -> bool {
        self.finish_reasons.first().is_some_and(Option::is_some)
    }

    fn handle(&mut self, events: Vec<SseEvent>, deltas: &mut Vec<String>) -> Result<(), ChatError> {
        for ev in events {
            if self.done {
                continue;
            }
            let data = ev.data.trim();
            if data == "[DONE]" {
                self.done = true;
                continue;
            }
            if data.is_empty() {
                continue;
            }
            let v: Value = serde_json::from_str(data)
                .map_err(|e| ChatError::Malformed(format!("a stream chunk is not JSON: {e}")))?;
            if let Some(err) = v.get("error").filter(|e| !e.is_null()) {
                return Err(error_from_object(err));
            }
            if ev.event.as_deref() == Some("error") {
                return Err(error_from_object(&v));
            }
            if let Some(u) = usage_of(&v) {
                self.usage = Some(u);
            }
            let Some(choices) = v.get("choices").and_then(Value::as_array) else {
                continue;
            };
            for c in choices {
                let idx = choice_index(c);
                if self.texts.len() <= idx {
                    self.texts.resize(idx + 1, String::new());
                    self.finish_reasons.resize(idx + 1, None);
                }
                self.saw_choice = true;
                let piece = text_of(c.get("delta").and_then(|d| d.get("content")));
                if !piece.is_empty() {
                    if let Some(t) = self.texts.get_mut(idx) {
                        t.push_str(&piece);
                    }
                    if idx == 0 {
                        deltas.push(piece);
                    }
                }
                if idx == 0 && self.logprobs.is_none() {
                    self.logprobs = first_content_top_logprobs(c.get("logprobs"));
                }
                if let Some(fr) = c.get("finish_reason").and_then(Value::as_str) {
                    if let Some(slot) = self.finish_reasons.get_mut(idx) {
                        *slot = Some(fr.to_string());
                    }
                }
            }
        }
        Ok(())
    }
}
