//! Response bodies in the two protocols: normal replies (streamed or not, with logprobs) and
//! every fault, as a list of [`Step`]s.

use crate::fault::Fault;
use crate::http::{chunk, head, trickle, Step, LAST_CHUNK};
use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    OpenAi,
    Anthropic,
}

/// What a chat request asked for, as far as the fault server cares.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ChatCall {
    pub protocol: Protocol,
    pub model: String,
    /// (role, text) pairs; Anthropic's `system` comes first as role "system".
    pub messages: Vec<(String, String)>,
    pub stream: bool,
    /// `logprobs: true` or a `top_logprobs` field was present.
    pub logprobs: bool,
    pub top_logprobs: u32,
    pub n: u32,
    pub include_usage: bool,
    pub max_tokens: Option<u64>,
    pub json_schema: bool,
    /// A `seed` field was sent.
    #[serde(default)]
    pub seed: bool,
    /// The `seed` value sent, when it is a whole number.
    #[serde(default)]
    pub seed_value: Option<u64>,
    /// A `temperature` field was sent.
    #[serde(default)]
    pub temperature: bool,
}

impl ChatCall {
    pub fn from_json(protocol: Protocol, v: &Value) -> ChatCall {
        let text_of = |c: &Value| -> String {
            match c {
                Value::String(s) => s.clone(),
                Value::Array(parts) => parts
                    .iter()
                    .filter_map(|p| p.get("text").and_then(Value::as_str))
                    .collect::<Vec<_>>()
                    .join(""),
                _ => String::new(),
            }
        };
        let mut messages = Vec::new();
        if let Some(sys) = v.get("system") {
            messages.push(("system".to_string(), text_of(sys)));
        }
        if let Some(arr) = v.get("messages").and_then(Value::as_array) {
            for m in arr {
                let role = m
                    .get("role")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                messages.push((role, m.get("content").map(text_of).unwrap_or_default()));
            }
        }
        let top = v.get("top_logprobs").and_then(Value::as_u64);
        let logprobs = v.get("logprobs").and_then(Value::as_bool).unwrap_or(false) || top.is_some();
        ChatCall {
            protocol,
            model: v
                .get("model")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            messages,
            stream: v.get("stream").and_then(Value::as_bool).unwrap_or(false),
            logprobs,
            top_logprobs: top
                .map(|t| t.min(20) as u32)
                .unwrap_or(if logprobs { 1 } else { 0 }),
            n: v.get("n")
                .and_then(Value::as_u64)
                .map(|n| n.clamp(1, 16) as u32)
                .unwrap_or(1),
            include_usage: v
                .pointer("/stream_options/include_usage")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            max_tokens: v
                .get("max_tokens")
                .or_else(|| v.get("max_completion_tokens"))
                .and_then(Value::as_u64),
            json_schema: v.get("response_format").is_some(),
            seed: v.get("seed").is_some(),
            seed_value: v.get("seed").and_then(Value::as_u64),
            temperature: v.get("temperature").is_some(),
        }
    }

    pub fn prompt_chars(&self) -> usize {
        self.messages.iter().map(|(_, t)| t.len()).sum()
    }
}

/// The content of a normal ("ok") reply.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OkReply {
    /// One text per choice (cycled when `n` exceeds it). Must not be empty.
    pub texts: Vec<String>,
    /// Probabilities (not logs) offered as the first token's top alternatives, best first.
    pub first_token_top: Vec<(String, f64)>,
}

impl Default for OkReply {
    fn default() -> Self {
        OkReply {
            texts: vec!["A".to_string()],
            first_token_top: vec![
                ("A".into(), 0.5),
                ("B".into(), 0.3),
                ("C".into(), 0.15),
                ("D".into(), 0.05),
            ],
        }
    }
}

impl OkReply {
    pub fn text(&self, choice: usize) -> &str {
        if self.texts.is_empty() {
            return "";
        }
        self.texts
            .get(choice % self.texts.len())
            .map(String::as_str)
            .unwrap_or("")
    }
}

/// Split a text into token-like pieces: words with their leading space, single punctuation.
pub fn tokens(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut prev: Option<char> = None;
    for ch in text.chars() {
        let join = match prev {
            None => false,
            Some(p) => {
                ch.is_alphanumeric()
                    && (p.is_alphanumeric()
                        || (p.is_whitespace() && cur.chars().all(char::is_whitespace)))
            }
        };
        if !join && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        cur.push(ch);
        prev = Some(ch);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Pieces a stream sends: tokens, or for very long texts (the `huge` fault) 4 KB slices, so
/// the stream is about as large as the text rather than a hundred times larger.
fn stream_pieces(text: &str) -> Vec<String> {
    const SLICE: usize = 4096;
    if text.len() <= 64 * 1024 {
        return tokens(text);
    }
    let mut out = Vec::with_capacity(text.len() / SLICE + 1);
    let mut rest = text;
    while !rest.is_empty() {
        let mut cut = SLICE.min(rest.len());
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        let (head, tail) = rest.split_at(cut);
        out.push(head.to_string());
        rest = tail;
    }
    out
}

fn lp(p: f64) -> f64 {
    if p > 0.0 {
        p.ln()
    } else {
        -9999.0
    }
}

/// OpenAI `logprobs.content` entries for the tokens of a text.
fn openai_logprobs(toks: &[String], reply: &OkReply, top_n: u32) -> Vec<Value> {
    toks.iter()
        .enumerate()
        .map(|(i, t)| {
            let tops: Vec<Value> = if i == 0 {
                let mut alts: Vec<(String, f64)> = reply.first_token_top.clone();
                if !alts.iter().any(|(a, _)| a == t) {
                    alts.insert(0, (t.clone(), 0.9));
                }
                alts.into_iter()
                    .take(top_n as usize)
                    .map(
                        |(tok, p)| json!({"token": tok, "logprob": lp(p), "bytes": tok.as_bytes()}),
                    )
                    .collect()
            } else {
                vec![json!({"token": t, "logprob": -0.01, "bytes": t.as_bytes()})]
                    .into_iter()
                    .take(top_n as usize)
                    .collect()
            };
            let own = if i == 0 {
                reply
                    .first_token_top
                    .iter()
                    .find(|(a, _)| a == t)
                    .map(|(_, p)| lp(*p))
                    .unwrap_or(lp(0.9))
            } else {
                -0.01
            };
            json!({"token": t, "logprob": own, "bytes": t.as_bytes(), "top_logprobs": tops})
        })
        .collect()
}

fn usage_openai(call: &ChatCall, completion: usize) -> Value {
    json!({"prompt_tokens": call.prompt_chars() / 4 + 1, "completion_tokens": completion, "total_tokens": call.prompt_chars() / 4 + 1 + completion})
}

pub fn cors_headers(origin: Option<&str>) -> Vec<(String, String)> {
    vec![
        (
            "Access-Control-Allow-Origin".into(),
            origin.unwrap_or("*").to_string(),
        ),
        ("Vary".into(), "Origin".into()),
        (
            "Access-Control-Expose-Headers".into(),
            "Retry-After, Content-Type".into(),
        ),
    ]
}

pub(crate) fn json_headers(origin: Option<&str>, extra: &[(&str, String)]) -> Vec<(String, String)> {
    let mut h = vec![("Content-Type".to_string(), "application/json".to_string())];
    h.extend(cors_headers(origin));
    h.extend(extra.iter().map(|(n, v)| (n.to_string(), v.clone())));
    h
}

/// A complete JSON response with Content-Length.
pub fn json_response(
    status: u16,
    body: &[u8],
    origin: Option<&str>,
    extra: &[(&str, String)],
) -> Vec<Step> {
    let mut headers = json_headers(origin, extra);
    headers.push(("Content-Length".into(), body.len().to_string()));
    let mut bytes = head(status, &headers);
    bytes.extend_from_slice(body);
    vec![Step::Write(bytes)]
}

/// A protocol-shaped error body.
pub fn error_body(protocol: Protocol, status: u16, message: &str, param: Option<&str>) -> Vec<u8> {
    let v = match protocol {
        Protocol::OpenAi => {
            let (ty, code) = match status {
                401 => ("invalid_request_error", "invalid_api_key"),
                403 => ("permission_error", "forbidden"),
                404 => ("invalid_request_error", "model_not_found"),
                408 => ("timeout_error", "timeout"),
                429 => ("requests", "rate_limit_exceeded"),
                400 => ("invalid_request_error", "unsupported_parameter"),
                _ => ("server_error", "server_error"),
            };
            json!({"error": {"message": message, "type": ty, "param": param, "code": code}})
        }
        Protocol::Anthropic => {
            let ty = match status {
                400 => "invalid_request_error",
                401 => "authentication_error",
                403 => "permission_error",
                404 => "not_found_error",
                408 => "timeout_error",
                429 => "rate_limit_error",
                503 => "overloaded_error",
                _ => "api_error",
            };
            json!({"type": "error", "error": {"type": ty, "message": message}})
        }
    };
    v.to_string().into_bytes()
}

pub(crate) fn sse_openai(v: &Value) -> Vec<u8> {
    format!("data: {v}\n\n").into_bytes()
}

pub(crate) fn sse_anthropic(event: &str, v: &Value) -> Vec<u8> {
    format!("event: {event}\ndata: {v}\n\n").into_bytes()
}

/// The SSE events of a normal OpenAI stream (without `[DONE]`), per choice.
pub(crate) fn openai_stream_events(call: &ChatCall, reply: &OkReply, id: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut completion = 0;
    for i in 0..call.n as usize {
        let base = |choices: Value| json!({"id": id, "object": "chat.completion.chunk", "created": 0, "model": call.model, "choices": choices});
        out.push(sse_openai(&base(json!([{"index": i, "delta": {"role": "assistant", "content": ""}, "logprobs": null, "finish_reason": null}]))));
        let toks = stream_pieces(reply.text(i));
        completion += toks.len();
        let lps = if call.logprobs {
            openai_logprobs(&toks, reply, call.top_logprobs)
        } else {
            Vec::new()
        };
        for (j, t) in toks.iter().enumerate() {
            let logprobs = match lps.get(j) {
                Some(entry) => json!({"content": [entry]}),
                None => Value::Null,
            };
            out.push(sse_openai(&base(json!([{"index": i, "delta": {"content": t}, "logprobs": logprobs, "finish_reason": null}]))));
        }
        out.push(sse_openai(&base(
            json!([{"index": i, "delta": {}, "logprobs": null, "finish_reason": "stop"}]),
        )));
    }
    if call.include_usage {
        out.push(sse_openai(&json!({"id": id, "object": "chat.completion.chunk", "created": 0, "model": call.model, "choices": [], "usage": usage_openai(call, completion)})));
    }
    out
}

pub(crate) fn anthropic_stream_events(
    call: &ChatCall,
    reply: &OkReply,
    id: &str,
    with_content: bool,
) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let input = call.prompt_chars() / 4 + 1;
    out.push(sse_anthropic(
        "message_start",
        &json!({"type": "message_start", "message": {"id": id, "type": "message", "role": "assistant", "model": call.model, "content": [], "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": input, "output_tokens": 1}}}),
    ));
    let toks = stream_pieces(reply.text(0));
    if with_content {
        out.push(sse_anthropic("content_block_start", &json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})));
        out.push(sse_anthropic("ping", &json!({"type": "ping"})));
        for t in &toks {
            out.push(sse_anthropic("content_block_delta", &json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": t}})));
        }
        out.push(sse_anthropic(
            "content_block_stop",
            &json!({"type": "content_block_stop", "index": 0}),
        ));
    }
    out.push(sse_anthropic(
        "message_delta",
        &json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {"output_tokens": if with_content { toks.len() } else { 0 }}}),
    ));
    out
}

pub(crate) const ANTHROPIC_STOP: &str = "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
pub(crate) const OPENAI_DONE: &str = "data: [DONE]\n\n";

fn openai_full(
    call: &ChatCall,
    reply: &OkReply,
    id: &str,
    choices_override: Option<Vec<Value>>,
) -> Value {
    let mut completion = 0;
    let choices = choices_override.unwrap_or_else(|| {
        (0..call.n as usize)
            .map(|i| {
                let text = reply.text(i);
                let toks = tokens(text);
                completion += toks.len();
                let logprobs = if call.logprobs { json!({"content": openai_logprobs(&toks, reply, call.top_logprobs)}) } else { Value::Null };
                json!({"index": i, "message": {"role": "assistant", "content": text}, "logprobs": logprobs, "finish_reason": "stop"})
            })
            .collect()
    });
    json!({"id": id, "object": "chat.completion", "created": 0, "model": call.model, "choices": choices, "usage": usage_openai(call, completion)})
}

fn anthropic_full(call: &ChatCall, reply: &OkReply, id: &str, with_content: bool) -> Value {
    let text = reply.text(0);
    let content = if with_content {
        json!([{"type": "text", "text": text}])
    } else {
        json!([])
    };
    json!({"id": id, "type": "message", "role": "assistant", "model": call.model, "content": content, "stop_reason": "end_turn", "stop_sequence": null,
        "usage": {"input_tokens": call.prompt_chars() / 4 + 1, "output_tokens": tokens(text).len()}})
}

fn stream_head(origin: Option<&str>) -> Vec<u8> {
    let mut h = vec![
        ("Content-Type".to_string(), "text/event-stream".to_string()),
        ("Cache-Control".to_string(), "no-cache".to_string()),
        ("Transfer-Encoding".to_string(), "chunked".to_string()),
    ];
    h.extend(cors_headers(origin));
    head(200, &h)
}

/// Frame events as chunks; `end` closes the chunked body properly, else the connection is dropped.
pub(crate) fn stream_steps(origin: Option<&str>, events: Vec<Vec<u8>>, end: bool) -> Vec<Step> {
    let mut steps = vec![Step::Write(stream_head(origin))];
    for e in events {
        steps.push(Step::Write(chunk(&e)));
    }
    if end {
        steps.push(Step::Write(LAST_CHUNK.to_vec()));
    } else {
        steps.push(Step::Abort);
    }
    steps
}

fn huge_reply(bytes: usize) -> OkReply {
    // Words of 8 bytes (" lorem12"), so the text is exactly `bytes` long (rounded down to 8).
    let words = bytes / 8;
    let mut text = String::with_capacity(words * 8);
    for _ in 0..words {
        text.push_str(" lorem12");
    }
    OkReply {
        texts: vec![text],
        first_token_top: Vec::new(),
    }
}

/// The full answer to a chat request under `fault`.
pub fn chat_response(
    fault: Fault,
    call: &ChatCall,
    reply: &OkReply,
    id: &str,
    origin: Option<&str>,
) -> Vec<Step> {
    let p = call.protocol;
    let err = |status: u16, msg: &str, param: Option<&str>, extra: &[(&str, String)]| {
        json_response(status, &error_body(p, status, msg, param), origin, extra)
    };
    match fault {
        Fault::Unauthorized => err(
            401,
            "Incorrect API key provided. You can find your API key in your account settings.",
            None,
            &[],
        ),
        Fault::Forbidden => err(403, "This key is not allowed to use this model.", None, &[]),
        Fault::NotFound => err(
            404,
            &format!(
                "The model `{}` does not exist or you do not have access to it.",
                call.model
            ),
            Some("model"),
            &[],
        ),
        Fault::LogprobsUnsupported if call.logprobs => err(
            400,
            "logprobs is not supported with this model",
            Some("logprobs"),
            &[],
        ),
        Fault::RequestTimeout => err(408, "Request timed out.", None, &[]),
        Fault::TooManyRequests { retry_after_s } => {
            let extra: Vec<(&str, String)> = retry_after_s
                .map(|s| ("Retry-After", s.to_string()))
                .into_iter()
                .collect();
            err(
                429,
                "Rate limit reached for requests. Please try again later.",
                None,
                &extra,
            )
        }
        Fault::InternalError => err(
            500,
            "The server had an error while processing your request.",
            None,
            &[],
        ),
        Fault::BadGateway => {
            // Real 502s usually come from a proxy, with an HTML body.
            let body = b"<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>";
            let mut headers = vec![
                ("Content-Type".to_string(), "text/html".to_string()),
                ("Content-Length".to_string(), body.len().to_string()),
            ];
            headers.extend(cors_headers(origin));
            let mut bytes = head(502, &headers);
            bytes.extend_from_slice(body);
            vec![Step::Write(bytes)]
        }
        Fault::Unavailable { retry_after_s } => {
            let extra: Vec<(&str, String)> = retry_after_s
                .map(|s| ("Retry-After", s.to_string()))
                .into_iter()
                .collect();
            err(
                503,
                "The server is overloaded. Please try again later.",
                None,
                &extra,
            )
        }
        Fault::SlowFirstByte { ms } | Fault::Latency { ms } => {
            let mut steps = vec![Step::Sleep(ms)];
            steps.extend(ok_steps(call, reply, id, origin));
            steps
        }
        Fault::Trickle { ms } => trickle(ok_steps(call, reply, id, origin), 3, ms),
        Fault::Cut => {
            if call.stream {
                let mut events = match p {
                    Protocol::OpenAi => openai_stream_events(call, reply, id),
                    Protocol::Anthropic => anthropic_stream_events(call, reply, id, true),
                };
                events.truncate(2);
                events.push(match p {
                    Protocol::OpenAi => format!(
                        "data: {{\"id\":\"{id}\",\"object\":\"chat.completion.chunk\",\"choi"
                    )
                    .into_bytes(),
                    Protocol::Anthropic => {
                        b"event: content_block_delta\ndata: {\"type\":\"content_block_del".to_vec()
                    }
                });
                stream_steps(origin, events, false)
            } else {
                let body = full_body(call, reply, id).into_bytes();
                let mut headers = json_headers(origin, &[]);
                headers.push(("Content-Length".into(), body.len().to_string()));
                let mut bytes = head(200, &headers);
                bytes.extend_from_slice(body.get(..body.len() / 2).unwrap_or(&[]));
                vec![Step::Write(bytes), Step::Abort]
            }
        }
        Fault::InvalidJson => {
            if call.stream {
                let mut events = match p {
                    Protocol::OpenAi => openai_stream_events(call, reply, id),
                    Protocol::Anthropic => anthropic_stream_events(call, reply, id, true),
                };
                let bad = match p {
                    Protocol::OpenAi => b"data: {\"choices\": [{\"delta\": {\"content\": \"oops\"}\n\n".to_vec(),
                    Protocol::Anthropic => b"event: content_block_delta\ndata: {\"type\": \"content_block_delta\", \"delta\": \n\n".to_vec(),
                };
                let at = events.len().min(2);
                events.insert(at, bad);
                events.push(match p {
                    Protocol::OpenAi => OPENAI_DONE.as_bytes().to_vec(),
                    Protocol::Anthropic => ANTHROPIC_STOP.as_bytes().to_vec(),
                });
                stream_steps(origin, events, true)
            } else {
                json_response(
                    200,
                    format!("{{\"id\": \"{id}\", \"choices\": [{{\"message\": ").as_bytes(),
                    origin,
                    &[],
                )
            }
        }
        Fault::EmptyChoices => {
            if call.stream {
                let events = match p {
                    Protocol::OpenAi => vec![
                        sse_openai(
                            &json!({"id": id, "object": "chat.completion.chunk", "created": 0, "model": call.model, "choices": []}),
                        ),
                        sse_openai(
                            &json!({"id": id, "object": "chat.completion.chunk", "created": 0, "model": call.model, "choices": [], "usage": usage_openai(call, 0)}),
                        ),
                        OPENAI_DONE.as_bytes().to_vec(),
                    ],
                    Protocol::Anthropic => {
                        let mut e = anthropic_stream_events(call, reply, id, false);
                        e.push(ANTHROPIC_STOP.as_bytes().to_vec());
                        e
                    }
                };
                stream_steps(origin, events, true)
            } else {
                let v = match p {
                    Protocol::OpenAi => openai_full(call, reply, id, Some(Vec::new())),
                    Protocol::Anthropic => anthropic_full(call, reply, id, false),
                };
                json_response(200, v.to_string().as_bytes(), origin, &[])
            }
        }
        Fault::InvalidUtf8 => {
            // Serialise a reply whose text holds a marker, then swap the marker for raw bytes.
            let marked = OkReply {
                texts: vec!["A \u{1F600}MARK".to_string()],
                first_token_top: reply.first_token_top.clone(),
            };
            let swap = |b: Vec<u8>| -> Vec<u8> {
                let s = String::from_utf8_lossy(&b).into_owned();
                let mut out = Vec::with_capacity(s.len());
                let mut rest = s.as_str();
                while let Some(pos) = rest.find("MARK") {
                    out.extend_from_slice(rest.get(..pos).unwrap_or("").as_bytes());
                    out.extend_from_slice(&[0xff, 0xfe, 0xc3]);
                    rest = rest.get(pos + 4..).unwrap_or("");
                }
                out.extend_from_slice(rest.as_bytes());
                out
            };
            if call.stream {
                let mut events = match p {
                    Protocol::OpenAi => openai_stream_events(call, &marked, id),
                    Protocol::Anthropic => anthropic_stream_events(call, &marked, id, true),
                };
                events = events.into_iter().map(swap).collect();
                events.push(match p {
                    Protocol::OpenAi => OPENAI_DONE.as_bytes().to_vec(),
                    Protocol::Anthropic => ANTHROPIC_STOP.as_bytes().to_vec(),
                });
                stream_steps(origin, events, true)
            } else {
                let body = swap(full_body(call, &marked, id).into_bytes());
                json_response(200, &body, origin, &[])
            }
        }
        Fault::Huge { bytes } => ok_steps(call, &huge_reply(bytes), id, origin),
        Fault::NoDone => {
            if call.stream {
                let events = match p {
                    Protocol::OpenAi => openai_stream_events(call, reply, id),
                    Protocol::Anthropic => anthropic_stream_events(call, reply, id, true),
                };
                stream_steps(origin, events, true)
            } else {
                ok_steps(call, reply, id, origin)
            }
        }
        Fault::Ok | Fault::LogprobsUnsupported => ok_steps(call, reply, id, origin),
        f @ (Fault::PayloadTooLarge
        | Fault::SeedUnsupported
        | Fault::TemperatureUnsupported
        | Fault::MarkupError
        | Fault::RetryAfterDate { .. }
        | Fault::UnavailableHtml
        | Fault::NoCors
        | Fault::SseError
        | Fault::CutMidToken
        | Fault::CutMidUtf8
        | Fault::Hold
        | Fault::Stall
        | Fault::Drip) => crate::hostile::response(f, call, reply, id, origin),
    }
}

pub(crate) fn full_body(call: &ChatCall, reply: &OkReply, id: &str) -> String {
    match call.protocol {
        Protocol::OpenAi => openai_full(call, reply, id, None).to_string(),
        Protocol::Anthropic => anthropic_full(call, reply, id, true).to_string(),
    }
}

/// The SSE events of a normal streamed reply, terminator (`[DONE]` / `message_stop`) included,
/// each event one element: for servers that frame the body themselves (the latency server).
pub fn ok_stream_events(call: &ChatCall, reply: &OkReply, id: &str) -> Vec<Vec<u8>> {
    let mut events = match call.protocol {
        Protocol::OpenAi => openai_stream_events(call, reply, id),
        Protocol::Anthropic => anthropic_stream_events(call, reply, id, true),
    };
    events.push(match call.protocol {
        Protocol::OpenAi => OPENAI_DONE.as_bytes().to_vec(),
        Protocol::Anthropic => ANTHROPIC_STOP.as_bytes().to_vec(),
    });
    events
}

/// The JSON body of a normal non-streamed reply.
pub fn ok_body(call: &ChatCall, reply: &OkReply, id: &str) -> String {
    full_body(call, reply, id)
}

/// A normal reply.
pub fn ok_steps(call: &ChatCall, reply: &OkReply, id: &str, origin: Option<&str>) -> Vec<Step> {
    if call.stream {
        stream_steps(origin, ok_stream_events(call, reply, id), true)
    } else {
        json_response(200, full_body(call, reply, id).as_bytes(), origin, &[])
    }
}

/// `/v1/models` in either protocol's shape.
pub fn models_body(protocol: Protocol, models: &[String]) -> Vec<u8> {
    let v = match protocol {
        Protocol::OpenAi => {
            json!({"object": "list", "data": models.iter().map(|m| json!({"id": m, "object": "model", "created": 0, "owned_by": "ethos-testkit"})).collect::<Vec<_>>()})
        }
        Protocol::Anthropic => {
            json!({"data": models.iter().map(|m| json!({"type": "model", "id": m, "display_name": m, "created_at": "2025-01-01T00:00:00Z"})).collect::<Vec<_>>(),
            "has_more": false, "first_id": models.first(), "last_id": models.last()})
        }
    };
    v.to_string().into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_keep_leading_spaces_and_split_punctuation() {
        assert_eq!(
            tokens("A. Because it is"),
            vec!["A", ".", " Because", " it", " is"]
        );
        assert_eq!(tokens(""), Vec::<String>::new());
        assert_eq!(tokens("  x"), vec![" ", " x"]);
        assert_eq!(tokens("héllo wörld").concat(), "héllo wörld");
    }
}
