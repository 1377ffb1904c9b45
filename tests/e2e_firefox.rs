//! A second browser: Debian's Firefox ESR (headless, through geckodriver) runs the smoke test and
//! one full run per mode against the real llama.cpp server (SmolLM2-135M), on a host that sends
//! the cross-origin-isolation headers (the in-tab model's threaded build) and on a plain one (its
//! single-thread build).
//!
//!     ETHOS_E2E=1 cargo test -p ethos-e2e --test e2e_firefox   (after `trunk build --release`;
//!     scripts/setup.sh installs firefox-esr and geckodriver, scripts/test.sh points GECKODRIVER
//!     at it)
mod support;
use std::time::Duration;
use support::*;

const RUN_TIMEOUT: Duration = Duration::from_secs(900);

/// The app in Firefox, with the site default pointing at the real server; `isolated`: served
/// with COOP/COEP as scripts/serve.sh serves it.
async fn open(isolated: bool) -> (StaticServer, Browser) {
    let url = llm_url();
    let addr = url.trim_start_matches("http://").split('/').next().unwrap_or("").to_string();
    assert!(
        tokio::net::TcpStream::connect(&addr).await.is_ok(),
        "the local LLM server at {url} is not running: start it with `scripts/llama-server.sh start` (scripts/test.sh does)"
    );
    let server = app_pointing_at(&url, "smollm2").await;
    server.set_isolated(isolated);
    let b = Browser::firefox().await;
    b.open(&server.url()).await;
    let ua = b.js("navigator.userAgent").await;
    assert!(
        ua.as_str().is_some_and(|u| u.contains("Firefox")),
        "the session is Firefox: {ua}"
    );
    assert_eq!(
        b.js("self.crossOriginIsolated").await.as_bool(),
        Some(isolated),
        "cross-origin isolation as served"
    );
    (server, b)
}

/// Smoke: the scenario list, an item, the settings, and the in-tab model's worker loading its
/// threaded build (isolated) or its single-thread build (not) — then no CSP violation.
async fn smoke(isolated: bool) {
    let (server, b) = open(isolated).await;
    server.serve_model(gguf_bytes());
    b.choose_file(MORALCHOICE).await;
    b.pick_item(0).await;
    let item = b.text("#selected-item").await;
    assert!(!item.trim().is_empty(), "the picked item is shown");

    b.choose_local().await;
    let status = b.load_local_model().await;
    assert_eq!(b.count("#local-status.error").await, 0, "load failed in Firefox: {status}");
    assert!(status.contains("Loaded"), "{status}");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if isolated && cores >= 2 {
        assert!(status.contains(" threads"), "isolated: the threaded build: {status}");
    }
    if !isolated {
        assert!(!status.contains(" threads"), "not isolated: one thread: {status}");
    }
    b.screenshot(if isolated { "firefox-smoke" } else { "firefox-smoke-single-thread" }).await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn firefox_smoke_threaded() {
    if !enabled() {
        return;
    }
    smoke(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn firefox_smoke_single_thread() {
    if !enabled() {
        return;
    }
    smoke(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn firefox_distributional_run() {
    if !enabled() {
        return;
    }
    let (_server, b) = open(true).await;
    b.choose_file(MORALCHOICE).await;
    b.pick_item(0).await;
    b.short_outputs(2, 700).await;
    b.run_and_wait("#js-distance", RUN_TIMEOUT).await;
    assert_eq!(b.count(".comment-card[data-state='done']").await, 2);
    let js = b.js_distance().await;
    assert!((0.0..=0.8326).contains(&js), "JS distance {js} out of range");
    let method = b.text("#dist-method").await;
    assert!(method.to_lowercase().contains("log"), "llama.cpp gives logprobs: {method}");
    assert!(b.count("#result svg").await >= 1, "the chart is drawn");
    b.screenshot_at("#result", "firefox-run-distributional").await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn firefox_overton_run() {
    if !enabled() {
        return;
    }
    // A plain static host (no isolation headers).
    let (_server, b) = open(false).await;
    b.choose_file(OVERTON).await;
    b.pick_item(0).await;
    b.short_outputs(2, 700).await;
    b.type_into("#max-overton", "48").await;
    b.run_and_wait("#overton-answer", RUN_TIMEOUT).await;
    assert_eq!(b.count(".comment-card[data-state='done']").await, 2);
    let answer = b.text("#overton-answer").await;
    assert!(!answer.trim().is_empty(), "an Overton answer is shown");
    b.screenshot_at("#result", "firefox-run-overton").await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn firefox_steerable_run() {
    if !enabled() {
        return;
    }
    let (_server, b) = open(true).await;
    b.choose_file(OPINIONQA).await;
    b.pick_item(0).await;
    b.short_outputs(2, 700).await;
    b.run_and_wait("#js-distance", RUN_TIMEOUT).await;
    let sel = b.text("#selection").await;
    assert!(sel.contains("Selected comment"), "selection shown: {sel}");
    assert!(!b.text("#argmax").await.trim().is_empty(), "most-likely match shown");
    b.screenshot_at("#result", "firefox-run-steerable").await;
    b.close().await;
}

/// Benchmark mode in Firefox on a cross-origin-isolated host: the page's network worker makes
/// the calls (the page's own resource timing lists none of them), and the batch completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn firefox_benchmark_through_the_network_worker() {
    if !enabled() {
        return;
    }
    let (server, seen) = bench::logged_server();
    let app = app_pointing_at(&server.base_url(), "fault-server-model").await;
    app.set_isolated(true);
    let b = Browser::firefox().await;
    b.open(&app.url()).await;
    b.type_into("#k", "2").await;
    bench::set_up(&b, GLOBALOPINION, 2, &["prompting"], None).await;
    bench::run_to_the_end(&b).await;
    let end = b.bench_counts().await;
    assert_eq!(end.get("done").map(String::as_str), Some("4"), "{end:?}");
    assert_eq!(end.get("failed").map(String::as_str), Some("0"), "{end:?}");
    assert_eq!(seen.lock().map(|v| v.len()).unwrap_or(0), 12, "EthosAgents k = 2: 5 calls per item; vanilla: 1");
    let page = bench::page_chat_fetches(&b, &server.base_url()).await;
    assert_eq!(page[1], 0, "chat calls made by the page itself: {page}");
    assert!(page[0].as_u64().is_some_and(|n| n > 0 && n < 250), "the page's resource timing works and is not full: {page}");
    b.screenshot_at("#bench-panel", "firefox-bench-done").await;
    b.close().await;
}
