//! Shared by the tests that need the real SmolLM2 GGUF.
#![allow(dead_code)]
use std::path::PathBuf;

pub mod llama;

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

/// A file named by the environment variable `var`, else at `rel` under the project cache
/// (ETHOS_CACHE, default ~/.cache/ethos-agents), if it exists.
pub fn env_or_cache_file(var: &str, rel: &str) -> Option<PathBuf> {
    let mut c: Vec<PathBuf> = Vec::new();
    if let Ok(p) = std::env::var(var) {
        c.push(p.into());
    }
    let cache = std::env::var("ETHOS_CACHE")
        .map(PathBuf::from)
        .or_else(|_| std::env::var("HOME").map(|h| PathBuf::from(h).join(".cache/ethos-agents")));
    if let Ok(cache) = cache {
        c.push(cache.join(rel));
    }
    c.into_iter().find(|p| p.is_file())
}

/// Qwen2.5-Coder-0.5B-Instruct (`scripts/llama-server.sh qwen`): ETHOS_QWEN_GGUF or its cache path.
pub fn qwen_gguf_path() -> Option<PathBuf> {
    env_or_cache_file(
        "ETHOS_QWEN_GGUF",
        "qwen2.5-coder-0.5b-0.9.0/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    )
}

/// The Distributional read prompt (the engine's `read` template) of VITAL MoralChoice item `i`
/// with `passage` as the perspective's comment, and the item's number of options.
pub fn read_messages(i: usize, passage: &str) -> (Vec<ethos_engine::chat::Message>, usize) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../public/vital/vital_distributional_moralchoice.json"
    );
    let items: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("VITAL MoralChoice file"))
            .expect("json");
    let item = &items[i];
    let question = item["question"].as_str().expect("question");
    let n = item["options"].as_array().expect("options").len();
    let templates = ethos_engine::template::Templates::default();
    let prompt = ethos_engine::template::render(
        &templates.read,
        &[
            ("country_line", ""),
            ("passage", passage),
            ("question", question),
        ],
    )
    .expect("read template");
    (vec![ethos_engine::chat::Message::user(prompt)], n)
}
