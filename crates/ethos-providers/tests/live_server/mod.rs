//! The real llama.cpp `llama-server` shared by the live tests (live_llama.rs, live_anthropic.rs):
//! found through `ETHOS_LLM_URL`, else started with `scripts/llama-server.sh start` (unless
//! `ETHOS_LLM_AUTOSTART=0`); `None` after printing why the tests are skipped.

use ethos_providers::RetryPolicy;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

pub fn model() -> String {
    std::env::var("ETHOS_LLM_MODEL")
        .ok()
        .filter(|m| !m.trim().is_empty())
        .unwrap_or_else(|| "smollm2".into())
}

/// The server's base URL (without `/v1`), or None after printing why the test is skipped.
pub fn server_url() -> Option<String> {
    static URL: OnceLock<Option<String>> = OnceLock::new();
    URL.get_or_init(|| {
        if let Ok(u) = std::env::var("ETHOS_LLM_URL") {
            let u = u.trim().trim_end_matches('/').trim_end_matches("/v1").to_string();
            if !u.is_empty() {
                return Some(u);
            }
        }
        if std::env::var("ETHOS_LLM_AUTOSTART").is_ok_and(|v| v.trim() == "0") {
            eprintln!("SKIP live llama-server tests: ETHOS_LLM_URL is unset and ETHOS_LLM_AUTOSTART=0");
            return None;
        }
        let port = std::env::var("ETHOS_LLM_PORT").unwrap_or_else(|_| "8088".into());
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/llama-server.sh");
        eprintln!("ETHOS_LLM_URL is unset: starting llama-server with {} start (PORT={port})", script.display());
        match Command::new("bash").arg(&script).arg("start").env("PORT", &port).status() {
            Ok(s) if s.success() => Some(format!("http://127.0.0.1:{port}")),
            Ok(s) => {
                eprintln!("SKIP live llama-server tests: ETHOS_LLM_URL is unset and `{} start` failed ({s})", script.display());
                None
            }
            Err(e) => {
                eprintln!("SKIP live llama-server tests: ETHOS_LLM_URL is unset and the start script could not run: {e}");
                None
            }
        }
    })
    .clone()
}

/// The live tests' retry policy: a few quick retries (the server is local).
pub fn policy() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        base_ms: 200,
        max_ms: 5_000,
        quick_retries_5xx: 2,
        network_retries: 2,
    }
}
