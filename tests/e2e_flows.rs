//! End-to-end runs in headless Chromium against the real local llama.cpp server (SmolLM2-135M):
//! one full run per mode from picking a VITAL item to the result and scores on screen, cancel,
//! reload, export/import, share link in a fresh profile, and where the key may (not) go.
mod support;
use std::time::Duration;
use support::*;

const RUN_TIMEOUT: Duration = Duration::from_secs(600);

/// Small k and short outputs: the tiny model is slow on a busy 2-core machine.
async fn configure_fast(b: &Browser, k: usize) {
    b.type_into("#k", &k.to_string()).await;
    // Room for three JSON perspectives even when the tiny model rambles (it got cut at 400).
    b.type_into("#max-perspectives", "700").await;
    b.type_into("#max-comments", "48").await;
    b.type_into("#max-overton", "48").await;
    b.type_into("#max-short", "8").await;
}

/// The local server must be up (scripts/test.sh starts it); say so plainly if it is not.
async fn require_llm() {
    let url = llm_url();
    let addr = url.trim_start_matches("http://").split('/').next().unwrap_or("").to_string();
    let up = tokio::net::TcpStream::connect(&addr).await.is_ok();
    assert!(up, "the local LLM server at {url} is not running: start it with `scripts/llama-server.sh start` (scripts/test.sh does)");
}

async fn start(file: &str, nth: usize, k: usize) -> (StaticServer, Browser) {
    require_llm().await;
    let server = app_pointing_at(&llm_url(), "smollm2").await;
    // Served as scripts/serve.sh serves the embedded default: cross-origin isolated (COOP/COEP),
    // which must not get in the way of the calls to the LLM server on another origin.
    server.set_isolated(true);
    let b = Browser::start().await;
    b.open(&server.url()).await;
    assert_eq!(
        b.js("self.crossOriginIsolated").await.as_bool(),
        Some(true),
        "the page is cross-origin isolated"
    );
    b.choose_file(file).await;
    b.pick_item(nth).await;
    configure_fast(&b, k).await;
    (server, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distributional_run_shows_chart_and_scores() {
    if !enabled() {
        return;
    }
    let (_server, b) = start(MORALCHOICE, 0, 3).await;
    b.run_and_wait("#js-distance", RUN_TIMEOUT).await;
    assert_eq!(b.count(".perspective-card").await, 3, "three perspective cards");
    assert_eq!(b.count(".comment-card[data-state='done']").await, 3, "three finished comments");
    let js: f64 = b.text("#js-distance").await.trim().parse().expect("JS distance is a number");
    assert!((0.0..=0.8326).contains(&js), "JS distance {js} out of range");
    let method = b.text("#dist-method").await;
    assert!(method.to_lowercase().contains("log"), "llama.cpp gives logprobs: {method}");
    let result = b.text("#result").await;
    assert!(result.contains("natural log"), "log base stated: {result}");
    assert!(b.count("#result table").await >= 1, "the chart has a data table");
    assert!(b.count("#result svg").await >= 1, "the chart is drawn");
    b.screenshot_at(".comment-card", "run-distributional-comments").await;
    b.screenshot_at("#result", "run-distributional").await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overton_run_shows_the_combined_answer() {
    if !enabled() {
        return;
    }
    let (_server, b) = start(OVERTON, 0, 3).await;
    b.run_and_wait("#overton-answer", RUN_TIMEOUT).await;
    assert_eq!(b.count(".comment-card[data-state='done']").await, 3);
    let answer = b.text("#overton-answer").await;
    assert!(!answer.trim().is_empty(), "an Overton answer is shown");
    b.screenshot_at("#result", "run-overton").await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steerable_group_run_shows_selection_answer_and_scores() {
    if !enabled() {
        return;
    }
    let (_server, b) = start(OPINIONQA, 0, 3).await;
    b.run_and_wait("#js-distance", RUN_TIMEOUT).await;
    let sel = b.text("#selection").await;
    assert!(sel.contains("Selected comment"), "selection shown: {sel}");
    let argmax = b.text("#argmax").await;
    assert!(!argmax.trim().is_empty(), "most-likely match shown");
    b.screenshot_at("#result", "run-steerable-group").await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_mid_run_keeps_finished_comments() {
    if !enabled() {
        return;
    }
    let (_server, b) = start(OVERTON, 1, 3).await;
    // Longer comments and one call at a time, so that the run is surely mid-way when cancelled.
    b.type_into("#max-comments", "120").await;
    b.type_into("#concurrency", "1").await;
    b.click("#run").await;
    b.wait_for(".comment-card[data-state='done']", RUN_TIMEOUT).await;
    b.click("#cancel").await;
    b.wait_js("!document.querySelector('#run').disabled", Duration::from_secs(30), "run enabled after cancel").await;
    let done = b.count(".comment-card[data-state='done']").await;
    assert!(done >= 1 && done < 3, "finished comments kept after cancel: {done}");
    assert_eq!(b.count("#overton-answer").await, 0, "no combined answer after cancel");
    let status = b.text("#status").await.to_lowercase();
    assert!(status.contains("cancel"), "status says cancelled: {status}");
    b.screenshot("run-cancelled").await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_survive_reload_export_import_and_share_without_the_key() {
    if !enabled() {
        return;
    }
    let (server, b) = start(MORALCHOICE, 2, 3).await;
    const KEY: &str = "sk-e2e-SECRET-never-stored-4242";
    b.type_into("#api-key", KEY).await;
    b.run_and_wait("#js-distance", RUN_TIMEOUT).await;
    let js = b.text("#js-distance").await;

    // The key is nowhere but in memory: not in storage, not in the URL.
    let stored = b.js("JSON.stringify(Object.assign({}, localStorage)) + JSON.stringify(Object.assign({}, sessionStorage))").await;
    assert!(!stored.as_str().unwrap_or("").contains(KEY), "key leaked into storage");
    let url = b.client.current_url().await.expect("url").to_string();
    assert!(!url.contains(KEY));

    // Export JSON, Markdown, CSV: none contains the key.
    for (button, suffix) in [("#export-json", ".json"), ("#export-md", ".md"), ("#export-csv", ".csv")] {
        b.click(button).await;
        let path = b.wait_download(suffix, Duration::from_secs(20)).await;
        let text = std::fs::read_to_string(&path).expect("read export");
        assert!(!text.contains(KEY), "key in {suffix} export");
        assert!(text.len() > 100, "{suffix} export has content");
    }
    // Keep a copy: the browser's profile (and its downloads) goes when it closes.
    let exported = artifacts_dir().join("export-roundtrip.json");
    std::fs::copy(b.wait_download(".json", Duration::from_secs(5)).await, &exported).expect("keep export");

    // Share link: no key in it; a fresh profile reproduces the view.
    b.click("#share-link").await;
    b.wait_js("document.querySelector('#share-url') && document.querySelector('#share-url').value.length > 0", Duration::from_secs(10), "share url").await;
    let link = b.js("document.querySelector('#share-url').value").await.as_str().unwrap_or("").to_string();
    assert!(!link.contains(KEY) && !link.contains("SECRET"), "key in share link");

    // Reload: the run is kept and listed.
    b.client.refresh().await.expect("reload");
    b.wait_for(".saved-run", Duration::from_secs(30)).await;
    let stored = b.js("JSON.stringify(Object.assign({}, localStorage))").await;
    assert!(!stored.as_str().unwrap_or("").contains(KEY), "key leaked into storage after reload");
    b.screenshot("after-reload").await;
    b.close().await;

    let fresh = Browser::start().await;
    fresh.client.goto(&link).await.expect("open share link");
    fresh.wait_for("#js-distance", Duration::from_secs(30)).await;
    assert_eq!(fresh.text("#js-distance").await, js, "share link reproduces the JS distance");
    assert_eq!(fresh.count(".comment-card").await, 3, "share link reproduces the comments");
    fresh.screenshot("share-link-fresh-profile").await;

    // Import the exported JSON in the fresh profile: it becomes a saved run with the same score.
    let input = fresh.wait_for("#import-file", Duration::from_secs(10)).await;
    input.send_keys(&exported.display().to_string()).await.expect("choose import file");
    fresh
        .wait_js("document.querySelectorAll('.saved-run').length >= 1", Duration::from_secs(20), "imported run listed")
        .await;
    assert_eq!(fresh.count("#import-error").await, 0, "import accepted");
    assert_eq!(fresh.text("#js-distance").await, js, "import round-trips the result");
    let _ = server;
    fresh.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remembered_key_is_stored_only_after_opt_in_and_forgotten_on_request() {
    if !enabled() {
        return;
    }
    let server = app_pointing_at(&llm_url(), "smollm2").await;
    // Served as scripts/serve.sh serves the embedded default: cross-origin isolated (COOP/COEP),
    // which must not get in the way of the calls to the LLM server on another origin.
    server.set_isolated(true);
    let b = Browser::start().await;
    b.open(&server.url()).await;
    const KEY: &str = "sk-e2e-remember-7777";
    b.type_into("#api-key", KEY).await;
    let storage = || b.js("JSON.stringify(Object.assign({}, localStorage))");
    assert!(!storage().await.as_str().unwrap_or("").contains(KEY));
    b.click("#remember-key").await;
    b.wait_for("#remember-warning", Duration::from_secs(5)).await;
    b.wait_js(&format!("JSON.stringify(Object.assign({{}}, localStorage)).includes({KEY:?})"), Duration::from_secs(5), "key remembered").await;
    b.click("#forget-keys").await;
    b.wait_js(&format!("!JSON.stringify(Object.assign({{}}, localStorage)).includes({KEY:?})"), Duration::from_secs(5), "key forgotten").await;
    let field = b.js("document.querySelector('#api-key').value").await;
    assert_eq!(field.as_str(), Some(""), "key field cleared");
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_works_at_320_px() {
    if !enabled() {
        return;
    }
    let server = app_pointing_at(&llm_url(), "smollm2").await;
    let b = Browser::start_sized(320, 800).await;
    b.open(&server.url()).await;
    b.wait_for(".item-row", Duration::from_secs(30)).await;
    let overflow = b.js("document.documentElement.scrollWidth - document.documentElement.clientWidth").await;
    assert!(overflow.as_i64().unwrap_or(999) <= 0, "horizontal overflow at 320 px: {overflow}");
    b.screenshot("narrow-320").await;
    b.close().await;
}
