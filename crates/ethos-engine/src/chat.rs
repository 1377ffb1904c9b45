//! The chat-model trait the pipeline is generic over, and its plain-data request/response.
//!
//! A provider (OpenAI-compatible, Anthropic, an in-tab model, a scripted test model) implements
//! [`ChatModel`]. Requests carry everything a provider needs; responses carry the text, the
//! first generated token's top log-probabilities when the provider gives them, and usage.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: String,
}

impl Message {
    pub fn system(content: impl Into<String>) -> Self {
        Self {
            role: Role::System,
            content: content.into(),
        }
    }
    pub fn user(content: impl Into<String>) -> Self {
        Self {
            role: Role::User,
            content: content.into(),
        }
    }
    pub fn assistant(content: impl Into<String>) -> Self {
        Self {
            role: Role::Assistant,
            content: content.into(),
        }
    }
}

/// One chat call. `model` names the model at the provider; the provider itself (endpoint, key)
/// is the implementor's business and never appears here, so a request can be recorded safely.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    pub model: String,
    pub messages: Vec<Message>,
    pub temperature: f64,
    pub max_tokens: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Ask for the top-N log-probabilities of each generated token (N ≤ 20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_logprobs: Option<u8>,
    /// Number of samples (n > 1 for the sampling distribution method).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    /// A JSON schema the reply must follow (verbalised distributions), where supported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json_schema: Option<serde_json::Value>,
    /// Raw completion: send [`ChatRequest::raw_prompt`] as a plain prompt to the completions
    /// endpoint (no chat template), as the reference fed its models; the first generated token
    /// then follows the prompt's last word ("Answer:") directly.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub raw: bool,
}

impl ChatRequest {
    pub fn new(
        model: impl Into<String>,
        messages: Vec<Message>,
        temperature: f64,
        max_tokens: u32,
    ) -> Self {
        Self {
            model: model.into(),
            messages,
            temperature,
            max_tokens,
            seed: None,
            top_logprobs: None,
            n: None,
            json_schema: None,
            raw: false,
        }
    }

    /// The text of a raw-completion prompt: every message's content, in order, separated by a
    /// blank line (a system template first, then the prompt).
    pub fn raw_prompt(&self) -> String {
        self.messages
            .iter()
            .map(|m| m.content.as_str())
            .collect::<Vec<_>>()
            .join("\n\n")
    }
}

/// The decoding parameters a provider client really sent for a call (after the last adaptation:
/// after a 400 a client may stop sending `temperature`, `seed`, `top_logprobs` or a JSON schema,
/// and some protocols never carry some of them). A run record keeps it beside the request, so
/// that what was asked for and what reached the model can both be read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SentParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_logprobs: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    #[serde(default)]
    pub json_schema: bool,
    /// Sent as a raw prompt to the completions endpoint.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub raw: bool,
}

impl SentParams {
    /// Everything the request asks for, sent as it is.
    pub fn of(req: &ChatRequest) -> Self {
        Self {
            temperature: Some(req.temperature),
            seed: req.seed,
            top_logprobs: req.top_logprobs,
            n: req.n,
            json_schema: req.json_schema.is_some(),
            raw: req.raw,
        }
    }

    /// The parameters `req` asks for that were not sent (in a fixed order).
    pub fn dropped(&self, req: &ChatRequest) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.temperature.is_none() {
            out.push("temperature");
        }
        if req.seed.is_some() && self.seed.is_none() {
            out.push("seed");
        }
        if req.top_logprobs.is_some() && self.top_logprobs.is_none() {
            out.push("logprobs");
        }
        if req.n.is_some_and(|n| n > 1) && self.n.is_none_or(|n| n <= 1) {
            out.push("n");
        }
        if req.json_schema.is_some() && !self.json_schema {
            out.push("json_schema");
        }
        if req.raw && !self.raw {
            out.push("raw completion");
        }
        out
    }
}

/// One entry of a top-logprobs list: the token's text and its natural-log probability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenLogprob {
    pub token: String,
    pub logprob: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatResponse {
    /// The text of the first choice.
    pub text: String,
    /// Texts of further choices when `n > 1` was honoured.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub more_texts: Vec<String>,
    /// Top log-probabilities at the first generated content token, best first, if returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_token_top_logprobs: Option<Vec<TokenLogprob>>,
    /// At the same position, over the WHOLE vocabulary: for each option letter A–E the
    /// probability of its most probable token whose trimmed text is the letter (unnormalised).
    /// Only a model that sees the full distribution gives it (the in-tab runtime); the
    /// distributional read then uses it instead of the top-N list (the same mapping, exact).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_token_letter_probs: Option<Vec<f64>>,
    #[serde(default)]
    pub usage: Option<Usage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
    /// What was really sent, when the client knows it (None: as requested).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent: Option<SentParams>,
}

/// What can go wrong in a call, in terms a user can act on. Messages never contain a key.
#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "kind", content = "detail", rename_all = "snake_case")]
pub enum ChatError {
    #[error(
        "The provider rejected the API key (HTTP 401). Check the key, or whether it has expired."
    )]
    BadKey,
    #[error("The provider refused the request (HTTP 403): {0}")]
    Forbidden(String),
    #[error("Unknown model or endpoint (HTTP 404): {0}")]
    NotFound(String),
    #[error("The provider does not support a parameter of this request (HTTP 400): {0}")]
    Unsupported(String),
    #[error("Bad request (HTTP {status}): {message}")]
    BadRequest { status: u16, message: String },
    #[error("Rate limited (HTTP 429); gave up after waiting {waited_ms} ms.")]
    RateLimited { waited_ms: u64 },
    #[error("The server had an error (HTTP {status}): {message}")]
    Server { status: u16, message: String },
    #[error("Could not reach the server: {0}")]
    Network(String),
    #[error("The request timed out: {0}")]
    Timeout(String),
    #[error("The reply could not be understood: {0}")]
    Malformed(String),
    #[error("Cancelled.")]
    Cancelled,
    #[error("{0}")]
    Other(String),
}

impl ChatError {
    /// Whether a fresh attempt could succeed (used by transports for retries).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ChatError::RateLimited { .. }
                | ChatError::Server { .. }
                | ChatError::Network(_)
                | ChatError::Timeout(_)
        )
    }
}

/// A chat model. `on_delta` receives streamed text pieces as they arrive (implementations that
/// do not stream call it once with the whole text, or not at all). Futures need not be `Send`:
/// in a browser everything runs on one thread.
#[allow(async_fn_in_trait)]
pub trait ChatModel {
    async fn chat(
        &self,
        req: &ChatRequest,
        on_delta: &mut dyn FnMut(&str),
    ) -> Result<ChatResponse, ChatError>;
}

impl<T: ChatModel + ?Sized> ChatModel for &T {
    async fn chat(
        &self,
        req: &ChatRequest,
        on_delta: &mut dyn FnMut(&str),
    ) -> Result<ChatResponse, ChatError> {
        (**self).chat(req, on_delta).await
    }
}
