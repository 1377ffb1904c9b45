//! Raw completion over the OpenAI-style completions endpoint (`POST {base}/completions`), served
//! by llama.cpp's `llama-server`, vLLM and OpenAI's legacy completion models: the prompt is sent
//! as plain text (no chat template), as the reference fed its models, and the distribution is
//! read from the first generated token right after the prompt's "Answer:".
//!
//! Pure: builds the [`HttpRequest`] and parses the body; no I/O. Replies are not streamed.
//!
//! Log-probabilities come back in one of two shapes, both read:
//! - OpenAI's legacy completions: `choices[0].logprobs.top_logprobs[0]` is a map token →
//!   logprob (vLLM too);
//! - the chat-style list (llama.cpp's OpenAI-compatible endpoint):
//!   `choices[0].logprobs.content[0].top_logprobs` = `[{token, logprob}, …]`.

use crate::http::HttpRequest;
use crate::openai::{entry_top_logprobs, headers, parse_choices, WireOptions};
use crate::{join_url, Endpoint};
use ethos_engine::{ChatError, ChatRequest, ChatResponse, TokenLogprob};
use serde_json::{json, Map, Value};

/// The largest `logprobs` the legacy completions API accepts (OpenAI: 5; llama.cpp and vLLM
/// take more, and the reference reads 10, so the requested number is sent up to 20).
pub const MAX_LOGPROBS: u8 = 20;

/// The JSON body of a raw-completion request.
pub fn completion_body(req: &ChatRequest, opts: WireOptions) -> Value {
    let mut b = Map::new();
    b.insert("model".into(), json!(req.model));
    b.insert("prompt".into(), json!(req.raw_prompt()));
    b.insert("max_tokens".into(), json!(req.max_tokens));
    if req.temperature.is_finite() && !opts.omit_temperature {
        b.insert("temperature".into(), json!(req.temperature));
    }
    if let Some(seed) = req.seed.filter(|_| !opts.omit_seed) {
        b.insert("seed".into(), json!(seed));
    }
    if let Some(k) = req.top_logprobs {
        b.insert("logprobs".into(), json!(k.min(MAX_LOGPROBS)));
    }
    if let Some(n) = req.n {
        b.insert("n".into(), json!(n));
    }
    b.insert("stream".into(), json!(false));
    Value::Object(b)
}

/// `POST {base}/completions` with the request's messages as one raw prompt.
pub fn build_completion(ep: &Endpoint, req: &ChatRequest, opts: WireOptions) -> HttpRequest {
    HttpRequest {
        method: "POST".into(),
        url: join_url(&ep.base_url, "completions"),
        headers: headers(ep, "application/json"),
        body: Some(completion_body(req, opts).to_string()),
    }
}

/// The first generated token's top log-probabilities, best first, from either shape.
fn first_top_logprobs(logprobs: Option<&Value>) -> Option<Vec<TokenLogprob>> {
    let lp = logprobs?;
    // llama.cpp's shape: `content[0]` is the first generated position, even when its token is
    // the end of the text ("" — the read is then its top list, not its text).
    if let Some(first) = lp.get("content").and_then(Value::as_array).and_then(|c| c.first()) {
        return entry_top_logprobs(first);
    }
    let first = lp.get("top_logprobs")?.as_array()?.first()?.as_object()?;
    let mut list: Vec<TokenLogprob> = first
        .iter()
        .filter_map(|(token, v)| {
            Some(TokenLogprob {
                token: token.clone(),
                logprob: v.as_f64()?,
            })
        })
        .collect();
    list.sort_by(|a, b| b.logprob.total_cmp(&a.logprob));
    Some(list)
}

/// Parse a completions reply: the choices' texts, the first token's top log-probabilities,
/// usage and finish reason.
pub fn parse_completion(body: &[u8]) -> Result<ChatResponse, ChatError> {
    parse_choices(
        body,
        |c| {
            c.get("text")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        },
        first_top_logprobs,
    )
}
