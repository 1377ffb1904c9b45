//! HTTP failures -> [`ChatError`] with user-facing messages; key redaction; the plain-language
//! diagnosis of an opaque browser network error (CORS, server down, mixed content, Local
//! Network Access permission, wrong URL).

use crate::presets;
use crate::{Endpoint, Protocol};
use ethos_engine::{ChatError, ChatResponse};

/// Longest provider message quoted in an error.
const MAX_MESSAGE_CHARS: usize = 400;

/// Map a non-2xx response to a [`ChatError`]. `body` is the (possibly partial) response body;
/// messages are extracted from JSON error objects (`error.message`, `error` string, `message`,
/// `detail`), HTML pages are not quoted, and anything that looks like an API key is masked.
/// `preset` is the endpoint's preset id (adds hints, e.g. `ollama pull` on 404).
/// 401 BadKey, 403 Forbidden, 404 NotFound, 400/422 mentioning an unsupported parameter
/// (logprobs, n, response_format, …) Unsupported, 408 Timeout, 429 RateLimited (waited 0 so
/// far), other 4xx BadRequest, 5xx Server.
pub fn error_from_status(
    status: u16,
    body: &[u8],
    retry_after: Option<&str>,
    preset: &str,
) -> ChatError {
    let _ = retry_after; // The delay is the retry policy's business; kept for the agreed signature.
    let message = redact_key_like(&body_message(body));
    let with_default = |m: &str, default: &str| {
        if m.is_empty() {
            default.to_string()
        } else {
            m.to_string()
        }
    };
    match status {
        401 => ChatError::BadKey,
        403 => {
            let mut m = with_default(&message, "access denied");
            if preset == "ollama" {
                m.push_str(". Ollama answers 403 to pages from origins it does not allow: set OLLAMA_ORIGINS (e.g. OLLAMA_ORIGINS=\"*\" or this page's origin) and restart Ollama.");
            }
            ChatError::Forbidden(m)
        }
        404 => {
            let mut m = with_default(&message, "check the model name and the base URL");
            if preset == "ollama" {
                m.push_str(". If the model is not installed, run `ollama pull <model>`.");
            }
            ChatError::NotFound(m)
        }
        400 | 422 if mentions_unsupported_parameter(&message) => ChatError::Unsupported(message),
        408 => ChatError::Timeout(with_default(
            &message,
            "the server gave up waiting (HTTP 408)",
        )),
        429 => ChatError::RateLimited { waited_ms: 0 },
        400..=499 => ChatError::BadRequest {
            status,
            message: with_default(&message, "no details given"),
        },
        500..=599 => ChatError::Server {
            status,
            message: with_default(&message, "no details given"),
        },
        _ => ChatError::Other(format!(
            "Unexpected HTTP status {status}: {}",
            with_default(&message, "no details given")
        )),
    }
}

/// As [`error_from_status`], for an endpoint: also removes the endpoint's own key, verbatim,
/// from the message (some servers echo the request, or the key, in their error bodies).
pub fn error_from_status_for(
    ep: &Endpoint,
    status: u16,
    body: &[u8],
    retry_after: Option<&str>,
) -> ChatError {
    redact_error(
        error_from_status(status, body, retry_after, &ep.preset),
        ep.key(),
    )
}

/// A reply stream that ended before its end marker: the connection was cut (retryable).
pub fn truncated(end_marker: &str) -> ChatError {
    ChatError::Network(format!(
        "the reply stream ended early, before {end_marker}; the connection was probably cut"
    ))
}

/// A reply longer than `limit` bytes of text: refused, not retried.
pub fn too_long(limit: usize) -> ChatError {
    ChatError::Malformed(format!(
        "the reply is longer than {} MB of text, far more than was asked for; the server may be repeating itself without end",
        limit / (1024 * 1024)
    ))
}

/// A reply without any text.
pub fn no_text(finish_reason: Option<&str>) -> ChatError {
    let why = match finish_reason {
        Some("length") | Some("max_tokens") => {
            " (it hit the token limit first; a reasoning model may need a larger limit)".to_string()
        }
        Some(r) => format!(" (finish reason: {r})"),
        None => String::new(),
    };
    ChatError::Malformed(format!("the model returned no text{why}"))
}

/// The response, or [`no_text`] if its (first) text is empty and it carries no first-token
/// log-probabilities either (a one-token read whose most likely token is the end of the text,
/// as llama-server's `/completions` gives, is still a read: its log-probabilities are the answer).
pub fn require_text(r: ChatResponse) -> Result<ChatResponse, ChatError> {
    let has_read = r
        .first_token_top_logprobs
        .as_ref()
        .is_some_and(|l| !l.is_empty());
    if r.text.is_empty() && !has_read {
        Err(no_text(r.finish_reason.as_deref()))
    } else {
        Ok(r)
    }
}

/// Map an error object found inside a response body or stream (OpenAI `{"error": {...}}`,
/// Anthropic `{"type":"error","error":{"type":"overloaded_error",...}}`).
pub fn error_from_object(err: &serde_json::Value) -> ChatError {
    let body = serde_json::json!({ "error": err });
    let bytes = body.to_string();
    let kind = err.get("type").and_then(|t| t.as_str()).unwrap_or("");
    let code = err.get("code").and_then(|c| {
        c.as_u64()
            .or_else(|| c.as_str().and_then(|s| s.parse().ok()))
    });
    let status: u16 = match kind {
        "authentication_error" => 401,
        "permission_error" => 403,
        "not_found_error" => 404,
        "invalid_request_error" => 400,
        "request_too_large" => 413,
        "rate_limit_error" | "rate_limit_exceeded" => 429,
        "overloaded_error" => 529,
        "api_error" | "server_error" => 500,
        _ => match code {
            Some(c) if (400..600).contains(&c) => c as u16,
            _ => 500,
        },
    };
    error_from_status(status, bytes.as_bytes(), None, "")
}

/// Remove `key` (verbatim) and anything that looks like an API key from every message an
/// error carries.
pub fn redact_error(err: ChatError, key: Option<&str>) -> ChatError {
    let r = |s: String| redact(&s, key);
    match err {
        ChatError::Forbidden(m) => ChatError::Forbidden(r(m)),
        ChatError::NotFound(m) => ChatError::NotFound(r(m)),
        ChatError::Unsupported(m) => ChatError::Unsupported(r(m)),
        ChatError::BadRequest { status, message } => ChatError::BadRequest {
            status,
            message: r(message),
        },
        ChatError::Server { status, message } => ChatError::Server {
            status,
            message: r(message),
        },
        ChatError::Network(m) => ChatError::Network(r(m)),
        ChatError::Timeout(m) => ChatError::Timeout(r(m)),
        ChatError::Malformed(m) => ChatError::Malformed(r(m)),
        ChatError::Other(m) => ChatError::Other(r(m)),
        e @ (ChatError::BadKey | ChatError::RateLimited { .. } | ChatError::Cancelled) => e,
    }
}

/// Remove `key` verbatim (if it is at least 4 characters) and mask key-like tokens.
pub fn redact(text: &str, key: Option<&str>) -> String {
    let mut s = text.to_string();
    if let Some(k) = key.map(str::trim).filter(|k| k.len() >= 4) {
        s = s.replace(k, "[key]");
    }
    redact_key_like(&s)
}

/// Mask tokens that look like API keys: `sk-…`, `sk-ant-…`, `gsk_…`, `AIza…`, `Bearer …`,
/// `x-api-key: …`, and long runs (≥ 32) of letters mixed with digits without `-` or `.` (model
/// names have those).
pub fn redact_key_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let mut mask_next = false;
    let flush = |word: &mut String, out: &mut String, mask_next: &mut bool| {
        if word.is_empty() {
            return;
        }
        let lower = word.to_ascii_lowercase();
        if *mask_next || looks_like_key(word) {
            out.push_str("[key]");
            // Keep sentence punctuation that ended up in the word.
            out.push_str(&".".repeat(word.len() - word.trim_end_matches('.').len()));
            *mask_next = false;
        } else {
            out.push_str(word);
        }
        if lower == "bearer" || lower == "x-api-key" || lower == "x-goog-api-key" {
            *mask_next = true;
        }
        word.clear();
    };
    for ch in text.chars() {
        if ch.is_ascii_alphanumeric() || ch == '-' || ch == '_' || ch == '.' {
            word.push(ch);
        } else {
            flush(&mut word, &mut out, &mut mask_next);
            if mask_next && !(ch == ':' || ch == ' ' || ch == '=' || ch == '"' || ch == '\'') {
                mask_next = false;
            }
            out.push(ch);
        }
    }
    flush(&mut word, &mut out, &mut mask_next);
    out
}

fn looks_like_key(word: &str) -> bool {
    let w = word.trim_matches('.');
    let prefixed = [
        "sk-", "sk_", "gsk_", "AIza", "xai-", "pk-", "rk-", "or-", "sk-or-", "sk-ant-",
    ]
    .iter()
    .any(|p| w.starts_with(p) && w.len() >= p.len() + 12);
    let long_mixed = w.len() >= 32
        && w.chars().any(|c| c.is_ascii_digit())
        && w.chars().any(|c| c.is_ascii_alphabetic())
        && !w.contains('.')
        && !w.contains('-');
    prefixed || long_mixed
}

fn mentions_unsupported_parameter(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("logprob") || mentions_json_schema(&m) || mentions_n_parameter(&m)
}

/// Whether an error message is about log-probabilities (drop `top_logprobs` and retry).
pub fn mentions_logprobs(message: &str) -> bool {
    message.to_ascii_lowercase().contains("logprob")
}

/// Whether an error message is about `response_format` / JSON schema output.
pub fn mentions_json_schema(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("response_format")
        || m.contains("json_schema")
        || m.contains("json schema")
        || m.contains("structured output")
}

/// Whether an error message is about the `n` parameter (several choices per request): the
/// letter n standing alone as a word (`'n' : number must be at most 1`, `Invalid 'n'`), or a
/// mention of multiple choices.
pub fn mentions_n_parameter(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    let standalone_n = m
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .any(|w| w == "n");
    standalone_n || m.contains("multiple choices")
}

/// The human-readable message of an error body: the JSON error object's message when there is
/// one, else the text (HTML pages summarised), trimmed and shortened. Empty if nothing useful.
pub fn body_message(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return String::new();
    }
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(text) {
        if let Some(m) = json_message(&v) {
            return shorten(&m);
        }
        return shorten(text);
    }
    let lower = text
        .get(..text.len().min(200))
        .unwrap_or("")
        .to_ascii_lowercase();
    if lower.starts_with("<!doctype") || lower.starts_with("<html") || lower.contains("<html") {
        return "the server answered with an HTML page (is the base URL right?)".to_string();
    }
    shorten(text)
}

fn json_message(v: &serde_json::Value) -> Option<String> {
    let as_text = |x: &serde_json::Value| -> Option<String> {
        match x {
            serde_json::Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
            _ => None,
        }
    };
    // OpenAI/Anthropic/llama.cpp: {"error": {"message": ...}}; some: {"error": "..."};
    // Gemini via OpenAI endpoint: [{"error": {...}}]; FastAPI/vLLM: {"detail": ...} or {"message": ...}.
    let v = match v {
        serde_json::Value::Array(a) => a.first()?,
        other => other,
    };
    if let Some(e) = v.get("error") {
        if let Some(s) = as_text(e) {
            return Some(s);
        }
        if let Some(s) = e.get("message").and_then(as_text) {
            return Some(s);
        }
        if let Some(inner) = e.get("error") {
            if let Some(s) = inner
                .get("message")
                .and_then(as_text)
                .or_else(|| as_text(inner))
            {
                return Some(s);
            }
        }
    }
    if let Some(s) = v.get("message").and_then(as_text) {
        return Some(s);
    }
    match v.get("detail") {
        Some(d @ serde_json::Value::String(_)) => as_text(d),
        Some(serde_json::Value::Array(items)) => {
            let parts: Vec<String> = items
                .iter()
                .filter_map(|i| i.get("msg").and_then(as_text).or_else(|| as_text(i)))
                .collect();
            (!parts.is_empty()).then(|| parts.join("; "))
        }
        _ => None,
    }
}

fn shorten(s: &str) -> String {
    let one_line: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= MAX_MESSAGE_CHARS {
        one_line
    } else {
        let mut t: String = one_line.chars().take(MAX_MESSAGE_CHARS).collect();
        t.push('…');
        t
    }
}

/// Plain-language diagnosis of an opaque network failure (a browser's "TypeError: Failed to
/// fetch" says nothing): lists the likely causes for this endpoint and page, with the exact fix
/// for the preset. `page_origin` is the app's origin (e.g. `https://example.org`), or "" natively.
pub fn diagnose_network_error(ep: &Endpoint, page_origin: &str) -> String {
    let base = ep.base_url.trim();
    let lower = base.to_ascii_lowercase();
    let page_https = page_origin.to_ascii_lowercase().starts_with("https://");
    let target_http = lower.starts_with("http://");
    let host = host_of(&lower);
    let is_loopback = host == "localhost"
        || host.ends_with(".localhost")
        || host.starts_with("127.")
        || host == "[::1]";
    let is_private = is_loopback
        || host.starts_with("10.")
        || host.starts_with("192.168.")
        || (host.starts_with("172.")
            && host
                .split('.')
                .nth(1)
                .and_then(|o| o.parse::<u8>().ok())
                .is_some_and(|o| (16..=31).contains(&o)))
        || host.ends_with(".local");
    let page_is_local = {
        let po = page_origin.to_ascii_lowercase();
        let ph = host_of(&po);
        ph == "localhost" || ph.starts_with("127.") || ph == "[::1]"
    };
    let preset = presets::preset(&ep.preset);
    let label = preset.map(|p| p.label).unwrap_or("the server");

    if !(lower.starts_with("http://") || lower.starts_with("https://")) || host.is_empty() {
        return format!(
            "Could not reach {label}: the base URL \"{base}\" is not a valid http(s) address. It should look like {}.",
            preset.map(|p| p.default_base_url).unwrap_or("https://api.example.com/v1")
        );
    }
    let mut causes: Vec<String> = Vec::new();
    if page_https && target_http && !is_loopback {
        causes.push(format!(
            "Mixed content: this page is served over https, and browsers block calls from it to plain-http addresses such as {base}. Serve the model over https (e.g. a reverse proxy), use http://localhost, or open the app from http://localhost."
        ));
    }
    if is_private {
        causes.push(format!("The server is not running or not listening at {base}. Check that {label} is started and the port is right."));
        let cors_fix = preset.map(|p| p.cors_fix).filter(|f| !f.is_empty()).unwrap_or(
            "enable CORS on the server for this page's origin (Access-Control-Allow-Origin, and allow the Authorization and Content-Type headers)",
        );
        causes.push(format!(
            "The server does not allow calls from this page (CORS): {cors_fix}."
        ));
        if !page_is_local && page_https {
            causes.push(
                "Your browser blocked this page from reaching a local-network address (Chrome 142+ asks for Local Network Access permission): allow it in the prompt or in the site settings (the icon left of the address bar), then retry."
                    .to_string(),
            );
        }
    } else {
        causes.push(format!("Check the base URL ({base}) and your internet connection; a typo in the host name fails like this."));
        match ep.protocol {
            Protocol::Anthropic => causes.push(
                "The Anthropic API only accepts browser calls that carry the anthropic-dangerous-direct-browser-access header; this app adds it, so a failure here usually means a wrong base URL or a network problem."
                    .to_string(),
            ),
            Protocol::OpenAi => {
                let cors = preset.map(|p| p.cors_fix).filter(|f| !f.is_empty()).unwrap_or(
                    "this provider may not allow calls from web pages (CORS); use a provider that does, or a proxy",
                );
                causes.push(format!("The provider refused the call from a web page (CORS): {cors}."));
            }
        }
        causes.push(
            "A browser extension (ad or privacy blocker) may have blocked the request.".to_string(),
        );
    }
    let mut out =
        format!("Could not reach {label} at {base}. The browser does not say why; likely causes:");
    for (i, c) in causes.iter().enumerate() {
        out.push_str(&format!(" ({}) {}", i + 1, c));
    }
    out
}

fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or("");
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority
        .rsplit_once('@')
        .map(|(_, h)| h)
        .unwrap_or(authority);
    if authority.starts_with('[') {
        return authority
            .split_once(']')
            .map(|(h, _)| format!("{h}]"))
            .unwrap_or_default();
    }
    authority.split(':').next().unwrap_or("").to_string()
}
