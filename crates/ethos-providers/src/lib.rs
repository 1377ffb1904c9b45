//! LLM providers: wire protocols as pure request builders and response/stream parsers
//! (tested on recorded bytes), presets, capability probing, retry policy, and transports
//! (browser: fetch + ReadableStream + AbortController; native: reqwest, behind `native`).
//!
//! Layers, bottom up:
//! - [`sse`]: a byte-level Server-Sent-Events parser (any chunking, CRLF/LF/CR).
//! - [`openai`], [`anthropic`]: pure `build_chat` / `parse_chat` / `StreamDecoder` /
//!   `build_models` / `parse_models` per protocol.
//! - [`errors`]: HTTP status + body -> [`ethos_engine::ChatError`], key redaction, and the
//!   plain-language diagnosis of opaque browser network errors.
//! - [`retry`]: the retry policy (pure: decides a delay from attempt, error, Retry-After, jitter).
//! - [`transport`]: the [`transport::Transport`] trait (send bytes, stream the body, sleep, clock,
//!   jitter); implemented by `web::WebTransport` (wasm32) and `native::NativeTransport` (feature
//!   `native`), and by scripted in-memory transports in tests.
//! - [`client`]: [`client::Client`], the [`ethos_engine::ChatModel`] implementation tying it all
//!   together (retries, concurrency limit, capability cache, logprobs drop-and-retry).
//! - [`probe`]: connection test and capability probe; [`presets`]: known providers.

pub mod anthropic;
pub mod client;
pub mod completions;
pub mod errors;
pub mod http;
pub mod openai;
pub mod presets;
pub mod probe;
pub mod retry;
pub mod sse;
pub mod transport;

#[cfg(target_arch = "wasm32")]
pub mod web;

#[cfg(feature = "native")]
pub mod native;

use serde::{Deserialize, Serialize};

pub use client::{Capabilities, Capability, Client, Limiter, RESET_DELTA};
pub use http::HttpRequest;
pub use presets::{preset, Preset, PRESETS};
pub use retry::RetryPolicy;
pub use transport::{HttpStatus, Transport};

/// Which wire protocol an endpoint speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// OpenAI Chat Completions (`POST {base}/chat/completions`), also spoken by OpenRouter, Groq,
    /// Together, Mistral, DeepSeek, Gemini's OpenAI endpoint, Ollama, llama.cpp, LM Studio, vLLM.
    OpenAi,
    /// Anthropic Messages API (`POST {base}/v1/messages`).
    Anthropic,
}

/// Where to send chat calls. The key is never serialised (`#[serde(skip)]`) and never shown by
/// `Debug`; settings/exports can therefore hold an `Endpoint` safely.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Endpoint {
    pub protocol: Protocol,
    /// Base URL, e.g. `https://api.openai.com/v1`, `http://localhost:11434/v1`,
    /// `https://api.anthropic.com`. Trailing slashes are tolerated.
    pub base_url: String,
    /// The API key, if any. Never serialised, never logged, redacted from every error message.
    #[serde(skip)]
    pub api_key: Option<String>,
    /// Preset id (see [`presets::PRESETS`]), or `"custom"`. Used for capability defaults and for
    /// the exact fix in error diagnoses (e.g. `OLLAMA_ORIGINS`).
    #[serde(default = "custom_preset")]
    pub preset: String,
}

fn custom_preset() -> String {
    "custom".to_string()
}

impl Endpoint {
    pub fn new(
        protocol: Protocol,
        base_url: impl Into<String>,
        api_key: Option<String>,
        preset: impl Into<String>,
    ) -> Self {
        Self {
            protocol,
            base_url: base_url.into(),
            api_key,
            preset: preset.into(),
        }
    }

    /// The key if it is set and not blank.
    pub fn key(&self) -> Option<&str> {
        self.api_key
            .as_deref()
            .map(str::trim)
            .filter(|k| !k.is_empty())
    }

    /// The same endpoint without its key (for diagnostics, records, transports).
    pub fn without_key(&self) -> Self {
        Self {
            api_key: None,
            ..self.clone()
        }
    }
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("protocol", &self.protocol)
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("preset", &self.preset)
            .finish()
    }
}

/// Join a base URL and a path, tolerating trailing slashes on the base and a leading slash on
/// the path (`…/v1/` + `/chat/completions` -> `…/v1/chat/completions`).
pub fn join_url(base: &str, path: &str) -> String {
    let base = base.trim().trim_end_matches('/');
    let path = path.trim_start_matches('/');
    if path.is_empty() {
        base.to_string()
    } else {
        format!("{base}/{path}")
    }
}
