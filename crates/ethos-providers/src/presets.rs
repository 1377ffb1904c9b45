//! Known providers: defaults and the facts the UI shows (CORS fix, key page, capabilities).

use crate::{Endpoint, Protocol};
use serde::{Deserialize, Serialize};

/// Whether a provider supports a feature: known yes/no, or to be probed at run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Support {
    Yes,
    No,
    Probe,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Preset {
    /// Stable id stored in settings (`Endpoint::preset`).
    pub id: &'static str,
    pub label: &'static str,
    pub protocol: Protocol,
    pub default_base_url: &'static str,
    pub needs_key: bool,
    /// Token log-probabilities (`top_logprobs`).
    pub logprobs: Support,
    /// Several samples per request (`n > 1`).
    pub n: Support,
    /// Whether (and how) a browser page can call it.
    pub cors_note: &'static str,
    /// The exact fix if CORS blocks the page (empty if nothing to do on the user's side).
    pub cors_fix: &'static str,
    /// Where to get a key (empty for local servers).
    pub key_page: &'static str,
    /// Suggested concurrent requests for this endpoint (local servers serve one at a time).
    pub max_concurrency: usize,
}

impl Preset {
    /// An endpoint at the default base URL with the given key.
    pub fn endpoint(&self, api_key: Option<String>) -> Endpoint {
        Endpoint::new(self.protocol, self.default_base_url, api_key, self.id)
    }
    pub fn is_local(&self) -> bool {
        self.default_base_url.starts_with("http://localhost")
    }
}

/// Shown next to every key field.
pub const SPEND_CAP_ADVICE: &str = "Use a key with a spend limit (most providers let you cap a key or a project): the app calls the provider directly from this tab, and a run can make many calls.";

/// Shown next to the key field: where keys live.
pub const KEY_STORAGE_NOTE: &str = "Keys stay in this tab's memory unless you choose \"remember on this device\". They are sent only to the provider, never put in URLs, exports, logs or error messages.";

const CLOUD_CORS: &str = "Allows calls from web pages.";
const NO_KEY: &str = "";

pub const PRESETS: &[Preset] = &[
    Preset {
        id: "openai",
        label: "OpenAI",
        protocol: Protocol::OpenAi,
        default_base_url: "https://api.openai.com/v1",
        needs_key: true,
        logprobs: Support::Yes,
        n: Support::Yes,
        cors_note: CLOUD_CORS,
        cors_fix: "",
        key_page: "https://platform.openai.com/api-keys",
        max_concurrency: 4,
    },
    Preset {
        id: "openrouter",
        label: "OpenRouter",
        protocol: Protocol::OpenAi,
        default_base_url: "https://openrouter.ai/api/v1",
        needs_key: true,
        logprobs: Support::Probe,
        n: Support::Probe,
        cors_note: "Allows calls from web pages; log-probabilities depend on the routed model.",
        cors_fix: "",
        key_page: "https://openrouter.ai/settings/keys",
        max_concurrency: 4,
    },
    Preset {
        id: "groq",
        label: "Groq",
        protocol: Protocol::OpenAi,
        default_base_url: "https://api.groq.com/openai/v1",
        needs_key: true,
        logprobs: Support::No,
        n: Support::No,
        cors_note: "Allows calls from web pages; rejects logprobs (HTTP 400) and n > 1.",
        cors_fix: "",
        key_page: "https://console.groq.com/keys",
        max_concurrency: 4,
    },
    Preset {
        id: "together",
        label: "Together AI",
        protocol: Protocol::OpenAi,
        default_base_url: "https://api.together.xyz/v1",
        needs_key: true,
        logprobs: Support::Yes,
        n: Support::Probe,
        cors_note: CLOUD_CORS,
        cors_fix: "",
        key_page: "https://api.together.ai/settings/api-keys",
        max_concurrency: 4,
    },
    Preset {
        id: "mistral",
        label: "Mistral",
        protocol: Protocol::OpenAi,
        default_base_url: "https://api.mistral.ai/v1",
        needs_key: true,
        logprobs: Support::Probe,
        n: Support::Probe,
        cors_note: CLOUD_CORS,
        cors_fix: "",
        key_page: "https://console.mistral.ai/api-keys",
        max_concurrency: 2,
    },
    Preset {
        id: "deepseek",
        label: "DeepSeek",
        protocol: Protocol::OpenAi,
        default_base_url: "https://api.deepseek.com/v1",
        needs_key: true,
        logprobs: Support::Probe,
        n: Support::Probe,
        cors_note: CLOUD_CORS,
        cors_fix: "",
        key_page: "https://platform.deepseek.com/api_keys",
        max_concurrency: 4,
    },
    Preset {
        id: "gemini",
        label: "Google Gemini (OpenAI-compatible endpoint)",
        protocol: Protocol::OpenAi,
        default_base_url: "https://generativelanguage.googleapis.com/v1beta/openai",
        needs_key: true,
        logprobs: Support::No,
        n: Support::Probe,
        cors_note: "Browser calls: probe with the connection test. Rejects logprobs (HTTP 400) and unknown fields.",
        cors_fix: "if the connection test fails with a network error, this endpoint does not accept calls from web pages: use another provider",
        key_page: "https://aistudio.google.com/apikey",
        max_concurrency: 2,
    },
    Preset {
        id: "ollama",
        label: "Ollama (local)",
        protocol: Protocol::OpenAi,
        default_base_url: "http://localhost:11434/v1",
        needs_key: false,
        logprobs: Support::Probe,
        n: Support::No,
        cors_note: "Only accepts pages served from localhost unless OLLAMA_ORIGINS is set; ignores n.",
        cors_fix: "set OLLAMA_ORIGINS to this page's origin (or \"*\") in Ollama's environment, e.g. `OLLAMA_ORIGINS=\"*\" ollama serve` (on macOS: `launchctl setenv OLLAMA_ORIGINS \"*\"`), then restart Ollama",
        key_page: NO_KEY,
        max_concurrency: 1,
    },
    Preset {
        id: "llamacpp",
        label: "llama.cpp server (local)",
        protocol: Protocol::OpenAi,
        default_base_url: "http://localhost:8080/v1",
        needs_key: false,
        logprobs: Support::Yes,
        n: Support::Probe,
        cors_note: "Accepts calls from any page by default.",
        cors_fix: "llama-server allows any origin by default; if you put a proxy in front of it, make the proxy send Access-Control-Allow-Origin",
        key_page: NO_KEY,
        max_concurrency: 1,
    },
    Preset {
        id: "lmstudio",
        label: "LM Studio (local)",
        protocol: Protocol::OpenAi,
        default_base_url: "http://localhost:1234/v1",
        needs_key: false,
        logprobs: Support::No,
        n: Support::Probe,
        cors_note: "CORS is off unless the server is started with it enabled; returns no log-probabilities.",
        cors_fix: "start the LM Studio server with CORS enabled: `lms server start --cors`, or turn on \"Enable CORS\" in the Developer tab's server settings",
        key_page: NO_KEY,
        max_concurrency: 1,
    },
    Preset {
        id: "vllm",
        label: "vLLM (local)",
        protocol: Protocol::OpenAi,
        default_base_url: "http://localhost:8000/v1",
        needs_key: false,
        logprobs: Support::Yes,
        n: Support::Yes,
        cors_note: "Accepts calls from any page by default.",
        cors_fix: "vLLM allows any origin by default; if you changed it, start it with `--allowed-origins '[\"*\"]'`",
        key_page: NO_KEY,
        max_concurrency: 4,
    },
    Preset {
        id: "anthropic",
        label: "Anthropic",
        protocol: Protocol::Anthropic,
        default_base_url: "https://api.anthropic.com",
        needs_key: true,
        logprobs: Support::No,
        n: Support::No,
        cors_note: "Accepts browser calls carrying the anthropic-dangerous-direct-browser-access header, which this app adds automatically. No log-probabilities; one sample per call.",
        cors_fix: "",
        key_page: "https://console.anthropic.com/settings/keys",
        max_concurrency: 2,
    },
    Preset {
        id: "anthropic-compatible",
        label: "Anthropic-compatible server (llama.cpp /v1/messages, local)",
        protocol: Protocol::Anthropic,
        default_base_url: "http://localhost:8080",
        needs_key: false,
        logprobs: Support::No,
        n: Support::No,
        cors_note: "Anthropic's Messages API on a server of your own (llama.cpp's llama-server serves it at /v1/messages). Such servers let pages send only the Content-Type and Authorization headers, so the app sends a key, if you give one, as Authorization: Bearer and leaves out Anthropic's own headers.",
        cors_fix: "llama-server allows any origin by default; another server must allow this page's origin and the Content-Type and Authorization headers",
        key_page: NO_KEY,
        max_concurrency: 1,
    },
    Preset {
        id: "custom",
        label: "Other OpenAI-compatible server",
        protocol: Protocol::OpenAi,
        default_base_url: "http://localhost:8080/v1",
        needs_key: false,
        logprobs: Support::Probe,
        n: Support::Probe,
        cors_note: "Must allow calls from this page's origin (CORS).",
        cors_fix: "enable CORS on the server for this page's origin (Access-Control-Allow-Origin, and allow the Authorization and Content-Type headers)",
        key_page: NO_KEY,
        max_concurrency: 1,
    },
];

/// The preset with this id.
pub fn preset(id: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.id == id)
}
