//! Shared by the tests that need the real SmolLM2 GGUF.
#![allow(dead_code)]
use std::path::PathBuf;

/// ETHOS_REQUIRE_LOCAL_MODEL=1: a missing model fails the test instead of skipping it.
pub fn required() -> bool {
    std::env::var("ETHOS_REQUIRE_LOCAL_MODEL").is_ok_and(|v| v == "1")
}

pub fn skip(why: &str) {
    assert!(!required(), "ETHOS_REQUIRE_LOCAL_MODEL=1 but {why}");
    eprintln!("SKIPPED: {why}");
}

pub fn gguf_path() -> Option<PathBuf> {
    let mut c: Vec<PathBuf> = Vec::new();
    if let Ok(p) = std::env::var("ETHOS_LLM_GGUF") {
        c.push(p.into());
    }
    c.push("/work/cache/SmolLM2-135M-Instruct.Q4_1.gguf".into());
    if let Ok(h) = std::env::var("HOME") {
        c.push(
            PathBuf::from(h)
                .join(".cache/ethos-agents/smollm2-0.1.2/SmolLM2-135M-Instruct.Q4_1.gguf"),
        );
    }
    c.into_iter().find(|p| p.is_file())
}
