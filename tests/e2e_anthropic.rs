//! The Anthropic protocol in the browser against an implementation no one here wrote: the real
//! llama.cpp `llama-server` (SmolLM2-135M, started by scripts/test.sh) also serves Anthropic's
//! Messages API at `/v1/messages`. The app is set to the "Anthropic-compatible server" preset with
//! the server's root as base URL, and one full Distributional run goes from the item to the chart
//! and the scores, every call over `/v1/messages` (the page's own resource timing lists the URLs it
//! fetched). The browser is the judge of the headers: llama-server's CORS preflight allows only
//! Content-Type and Authorization, so a call with Anthropic's own headers never leaves the page.
mod support;
use std::time::Duration;
use support::*;

const RUN_TIMEOUT: Duration = Duration::from_secs(600);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_distributional_run_over_anthropic_messages_against_llama_server() {
    if !enabled() {
        return;
    }
    // http://127.0.0.1:PORT/v1 → http://127.0.0.1:PORT (the Anthropic client adds /v1/messages).
    let url = llm_url();
    let root = url.trim_end_matches('/').trim_end_matches("/v1").to_string();
    let addr = root.trim_start_matches("http://").to_string();
    assert!(
        tokio::net::TcpStream::connect(&addr).await.is_ok(),
        "the local LLM server at {url} is not running: start it with `scripts/llama-server.sh start` (scripts/test.sh does)"
    );
    let server = StaticServer::start(&dist()).await;
    let cfg = serde_json::json!({"preset": "anthropic-compatible", "base_url": root, "model": "smollm2", "concurrency": 2});
    server.set_file("ethos-config.json", "application/json", cfg.to_string());
    let b = Browser::start().await;
    b.open(&server.url()).await;
    let preset = b.js("document.querySelector('#preset').value").await;
    assert_eq!(preset.as_str(), Some("anthropic-compatible"), "the site's default names the preset");
    let base = b.js("document.querySelector('#base-url').value").await;
    assert_eq!(base.as_str(), Some(root.as_str()));

    b.choose_file(MORALCHOICE).await;
    b.pick_item(0).await;
    b.short_outputs(2, 700).await;
    // The Messages API takes no JSON schema, so stage 1 is free text, and the tiny model may
    // write dozens of `#` lines: keep the first k (off: "Keep perspectives beyond k"), so the run
    // has exactly two comments whatever it writes.
    let keep = b.js("document.querySelector('#keep-extra').checked").await;
    if keep.as_bool() == Some(true) {
        b.click("#keep-extra").await;
    }
    assert_eq!(b.js("document.querySelector('#keep-extra').checked").await.as_bool(), Some(false));
    b.run_and_wait("#js-distance", RUN_TIMEOUT).await;

    assert_eq!(b.count(".perspective-card").await, 2, "two perspective cards");
    assert_eq!(b.count(".comment-card[data-state='done']").await, 2, "two finished comments");
    let js = b.js_distance().await;
    assert!((0.0..=0.8326).contains(&js), "JS distance {js} out of range");
    // The Messages API has no log-probabilities: the distribution is read another way, and the
    // page says which.
    let method = b.text("#dist-method").await.to_lowercase();
    assert!(
        method.contains("votes") || method.contains("sampl"),
        "no logprobs over the Messages API: votes or samples, and the page says so: {method}"
    );

    let urls = b
        .js("performance.getEntriesByType('resource').map(e => e.name).filter(n => !n.startsWith(location.origin))")
        .await;
    let urls: Vec<String> = urls
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    let messages = urls.iter().filter(|u| u.ends_with("/v1/messages")).count();
    // Stage 1 (1) + stage 2 (2) + at least one read per comment.
    assert!(messages >= 5, "the run's calls went to /v1/messages: {urls:?}");
    assert!(
        !urls.iter().any(|u| u.contains("/chat/completions") || u.contains("/completions")),
        "no call over the OpenAI protocol: {urls:?}"
    );
    b.screenshot_at("#result", "run-anthropic-llama-server").await;
    b.close().await;
}
