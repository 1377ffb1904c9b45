//! The Anthropic Messages API wire protocol. Pure: builds [`HttpRequest`]s, parses bodies and
//! the named-event stream; no I/O.
//!
//! Differences from the OpenAI protocol that callers see: system messages go to the top-level
//! `system` field; temperature is clamped to Anthropic's range [0, 1]; there are no
//! log-probabilities (`top_logprobs` is ignored, `first_token_top_logprobs` is always `None`);
//! `seed` and `json_schema` are not sent (the API rejects unknown fields); `n > 1` is not
//! supported ([`check_request`] says so; the client calls it before sending).

use crate::errors::{error_from_object, require_text};
use crate::http::HttpRequest;
use crate::sse::{EventHandler, Framed, SseEvent};
use crate::{join_url, Endpoint};
use ethos_engine::{ChatError, ChatRequest, ChatResponse, Role, Usage};
use serde_json::{json, Map, Value};

pub const API_VERSION: &str = "2023-06-01";

/// `{base}/v1/{path}`, tolerating a base that already ends in `/v1`.
fn url(ep: &Endpoint, path: &str) -> String {
    let base = ep.base_url.trim().trim_end_matches('/');
    if base.ends_with("/v1") {
        join_url(base, path)
    } else {
        join_url(&join_url(base, "v1"), path)
    }
}

/// The `anthropic-compatible` preset: a server of the user's own that speaks the Messages API.
pub const COMPATIBLE_PRESET: &str = "anthropic-compatible";

/// Anthropic's own API wants the key in `x-api-key`, a version header, and (from a page) the
/// direct-browser-access header. A compatible server's CORS preflight (llama-server's) allows
/// only `Content-Type` and `Authorization`, so it gets the key as a bearer token and nothing else.
fn headers(ep: &Endpoint) -> Vec<(String, String)> {
    let mut h = vec![("content-type".to_string(), "application/json".to_string())];
    if ep.preset == COMPATIBLE_PRESET {
        if let Some(k) = ep.key() {
            h.push(("authorization".to_string(), format!("Bearer {k}")));
        }
        return h;
    }
    h.push(("anthropic-version".to_string(), API_VERSION.to_string()));
    h.push((
        "anthropic-dangerous-direct-browser-access".to_string(),
        "true".to_string(),
    ));
    if let Some(k) = ep.key() {
        h.push(("x-api-key".to_string(), k.to_string()));
    }
    h
}

/// Requests this protocol cannot serve: `n > 1`.
pub fn check_request(req: &ChatRequest) -> Result<(), ChatError> {
    match req.n {
        Some(n) if n > 1 => Err(ChatError::Unsupported(format!(
            "n = {n}: Anthropic's Messages API returns one sample per call; make {n} separate calls instead"
        ))),
        _ => Ok(()),
    }
}

/// The JSON body of a chat request.
pub fn chat_body(req: &ChatRequest, stream: bool) -> Value {
    let mut b = Map::new();
    b.insert("model".into(), json!(req.model));
    b.insert("max_tokens".into(), json!(req.max_tokens.max(1)));
    let system: Vec<&str> = req
        .messages
        .iter()
        .filter(|m| m.role == Role::System)
        .map(|m| m.content.as_str())
        .collect();
    if !system.is_empty() {
        b.insert("system".into(), json!(system.join("\n\n")));
    }
    let messages: Vec<Value> = req
        .messages
        .iter()
        .filter(|m| m.role != Role::System)
        .map(|m| json!({ "role": if m.role == Role::Assistant { "assistant" } else { "user" }, "content": m.content }))
        .collect();
    b.insert("messages".into(), Value::Array(messages));
    if req.temperature.is_finite() {
        b.insert("temperature".into(), json!(req.temperature.clamp(0.0, 1.0)));
    }
    if stream {
        b.insert("stream".into(), json!(true));
    }
    Value::Object(b)
}

/// `POST {base}/v1/messages`.
pub fn build_chat(ep: &Endpoint, req: &ChatRequest, stream: bool) -> HttpRequest {
    HttpRequest {
        method: "POST".into(),
        url: url(ep, "messages"),
        headers: headers(ep),
        body: Some(chat_body(req, stream).to_string()),
    }
}

/// `GET {base}/v1/models`.
pub fn build_models(ep: &Endpoint) -> HttpRequest {
    HttpRequest {
        method: "GET".into(),
        url: url(ep, "models"),
        headers: headers(ep),
        body: None,
    }
}

/// Model ids from `{"data":[{"id":…}]}`.
pub fn parse_models(body: &[u8]) -> Result<Vec<String>, ChatError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| ChatError::Malformed(format!("model list is not JSON: {e}")))?;
    if let Some(err) = error_of(&v) {
        return Err(err);
    }
    crate::openai::parse_models(body)
}

fn error_of(v: &Value) -> Option<ChatError> {
    if v.get("type").and_then(Value::as_str) == Some("error")
        || v.get("error").is_some_and(|e| !e.is_null())
    {
        return Some(error_from_object(v.get("error").unwrap_or(&Value::Null)));
    }
    None
}

fn usage_num(u: Option<&Value>, k: &str) -> Option<u32> {
    u?.get(k)?.as_u64().map(|x| x.min(u32::MAX as u64) as u32)
}

/// The prompt's tokens: `input_tokens` counts only what was not read from or written to the
/// prompt cache, so the cache's counts are added (llama-server reports a cached prompt as
/// `"input_tokens":1,"cache_read_input_tokens":31`, as Anthropic's API does).
pub fn input_total(u: Option<&Value>) -> Option<u32> {
    let parts = [
        "input_tokens",
        "cache_read_input_tokens",
        "cache_creation_input_tokens",
    ]
    .map(|k| usage_num(u, k));
    parts
        .iter()
        .any(Option::is_some)
        .then(|| parts.iter().flatten().fold(0u32, |a, b| a.saturating_add(*b)))
}

/// Parse a non-streamed reply (`{"content":[{"type":"text","text":…}], "stop_reason", "usage"}`).
pub fn parse_chat(body: &[u8]) -> Result<ChatResponse, ChatError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| ChatError::Malformed(format!("the reply is not JSON: {e}")))?;
    if let Some(err) = error_of(&v) {
        return Err(err);
    }
    let content = v
        .get("content")
        .and_then(Value::as_array)
        .ok_or_else(|| ChatError::Malformed("the reply has no content".into()))?;
    let text: String = content
        .iter()
        .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
        .filter_map(|b| b.get("text").and_then(Value::as_str))
        .collect::<Vec<_>>()
        .concat();
    let usage = v.get("usage").map(|u| Usage {
        prompt_tokens: input_total(Some(u)).unwrap_or(0),
        completion_tokens: usage_num(Some(u), "output_tokens").unwrap_or(0),
    });
    require_text(ChatResponse {
        text,
        more_texts: Vec::new(),
        first_token_top_logprobs: None,
        first_token_letter_probs: None,
        usage,
        sent: None,
        finish_reason: v
            .get("stop_reason")
            .and_then(Value::as_str)
            .map(str::to_string),
    })
}

/// Incremental decoder of the named-event stream.
#[derive(Debug)]
pub struct StreamDecoder(Framed<State>);

#[derive(Debug, Default)]
struct State {
    text: String,
    input_tokens: Option<u32>,
    output_tokens: Option<u32>,
    stop_reason: Option<String>,
    started: bool,
    stopped: bool,
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

    /// Feed bytes; returns the new text pieces (never empty strings). An error is reported
    /// once the text pieces before it have been returned.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Vec<String>, ChatError> {
        self.0.feed(bytes)
    }

    /// Whether any event-stream event has arrived (a body without any is not a stream: e.g. a
    /// server that ignored `stream: true` and sent a whole JSON reply).
    pub fn saw_event(&self) -> bool {
        self.0.saw_event()
    }

    /// The stream ended: the final response, or an error if it ended without `message_stop`
    /// (`Network`: truncated) or never started a message (`Malformed`).
    pub fn finish(self) -> Result<ChatResponse, ChatError> {
        let st = self.0.finish("message_stop")?;
        if !st.started {
            return Err(ChatError::Malformed("the stream carried no message".into()));
        }
        let usage = (st.input_tokens.is_some() || st.output_tokens.is_some()).then(|| Usage {
            prompt_tokens: st.input_tokens.unwrap_or(0),
            completion_tokens: st.output_tokens.unwrap_or(0),
        });
        require_text(ChatResponse {
            text: st.text,
            more_texts: Vec::new(),
            first_token_top_logprobs: None,
            first_token_letter_probs: None,
            usage,
            finish_reason: st.stop_reason,
            sent: None,
        })
    }
}

impl EventHandler for State {
    fn complete(&self) -> bool {
        self.stopped
    }
    fn reply_finished(&self) -> bool {
        self.stop_reason.is_some()
    }

    fn handle(&mut self, events: Vec<SseEvent>, deltas: &mut Vec<String>) -> Result<(), ChatError> {
        for ev in events {
            if self.stopped {
                continue;
            }
            let v: Value = serde_json::from_str(&ev.data)
                .map_err(|e| ChatError::Malformed(format!("a stream event is not JSON: {e}")))?;
            // The event name and the data's "type" agree; use whichever is present.
            let kind = ev
                .event
                .clone()
                .or_else(|| v.get("type").and_then(Value::as_str).map(str::to_string))
                .unwrap_or_default();
            match kind.as_str() {
                "message_start" => {
                    self.started = true;
                    let u = v.get("message").and_then(|m| m.get("usage"));
                    if let Some(n) = input_total(u) {
                        self.input_tokens = Some(n);
                    }
                    if let Some(n) = usage_num(u, "output_tokens") {
                        self.output_tokens = Some(n);
                    }
                }
                "content_block_delta" => {
                    let d = v.get("delta");
                    if d.and_then(|d| d.get("type")).and_then(Value::as_str) == Some("text_delta") {
                        if let Some(t) = d.and_then(|d| d.get("text")).and_then(Value::as_str) {
                            if !t.is_empty() {
                                self.text.push_str(t);
                                deltas.push(t.to_string());
                            }
                        }
                    }
                }
                "message_delta" => {
                    if let Some(r) = v
                        .get("delta")
                        .and_then(|d| d.get("stop_reason"))
                        .and_then(Value::as_str)
                    {
                        self.stop_reason = Some(r.to_string());
                    }
                    let u = v.get("usage");
                    if let Some(n) = usage_num(u, "output_tokens") {
                        self.output_tokens = Some(n);
                    }
                    if let Some(n) = input_total(u) {
                        self.input_tokens = Some(n);
                    }
                }
                "message_stop" => self.stopped = true,
                "error" => return Err(error_from_object(v.get("error").unwrap_or(&v))),
                // content_block_start / content_block_stop / ping / unknown future events.
                _ => {}
            }
        }
        Ok(())
    }
}
