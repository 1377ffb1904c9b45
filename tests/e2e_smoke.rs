//! The release build loads under a sub-path in headless Chromium and says what it is.
mod support;
use std::time::Duration;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_loads_under_a_sub_path() {
    if !enabled() {
        return;
    }
    let server = StaticServer::start(&dist()).await;
    let b = Browser::start().await;
    b.client.goto(&server.url()).await.expect("open app");
    b.wait_for("main", Duration::from_secs(30)).await;
    let text = b.js("document.body.innerText").await;
    assert!(text.as_str().unwrap_or("").contains("EthosAgents"), "page text: {text}");
    b.screenshot("smoke").await;
    b.close().await;
}

/// The built page carries a Content-Security-Policy (scripts/csp.py): the app starts under it,
/// while eval and an injected inline script are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_content_security_policy_holds() {
    if !enabled() {
        return;
    }
    let server = StaticServer::start(&dist()).await;
    let b = Browser::start().await;
    b.open(&server.url()).await;
    let policy = b
        .js("document.querySelector('meta[http-equiv=\"Content-Security-Policy\"]')?.content || ''")
        .await;
    let policy = policy.as_str().unwrap_or("");
    assert!(
        policy.contains("script-src 'self' 'wasm-unsafe-eval' 'sha256-"),
        "policy: {policy}"
    );
    // A string timer is evaluated by the page itself (code typed in through WebDriver is exempt
    // from the eval rule), and an injected inline script: both refused and reported.
    b.js("(() => { setTimeout('window.__evaluated = true', 0); const s = document.createElement('script'); s.textContent = 'window.__injected = true'; document.body.appendChild(s); return true; })()")
        .await;
    b.wait_js(
        "window.__csp.some((v) => v.startsWith('script-src-elem')) && window.__csp.some((v) => v.startsWith('script-src') && v.includes('eval'))",
        Duration::from_secs(5),
        "both violations to be reported",
    )
    .await;
    assert_eq!(
        b.js("[window.__evaluated === true, window.__injected === true]")
            .await,
        serde_json::json!([false, false]),
        "neither the string timer nor the injected script ran"
    );
    // Both refusals were the test's own doing; anything else would fail close().
    b.js("(() => { window.__csp = []; return true; })()").await;
    b.close().await;
}

/// The release build is split: the scenario list is in the shell, panels 2 and 3 come from
/// chunks fetched on first use. A chunk that cannot be fetched (a host half-way through a
/// deployment, a lost connection) is an error message in its panel's place, never a dead page:
/// the rest of the page keeps working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunk_that_cannot_be_fetched_is_a_message_in_its_place() {
    if !enabled() {
        return;
    }
    let dist = dist();
    let folder = std::fs::read_dir(&dist)
        .expect("read dist")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| n.starts_with("wasm-"))
        .expect("dist/wasm-<hash>/ (scripts/build-wasm.sh)");
    assert!(
        dist.join(&folder).join("split_run.wasm").exists(),
        "the release build has a run chunk"
    );
    let server = StaticServer::start(&dist).await;
    server.hide_file(&format!("{folder}/split_run.wasm"));
    let b = Browser::start().await;
    b.client.goto(&server.url()).await.expect("open app");
    b.wait_for("#file-select", Duration::from_secs(30)).await;
    b.wait_js(
        "document.querySelector('#run-panel [role=alert]') !== null",
        Duration::from_secs(30),
        "the run panel's error",
    )
    .await;
    let text = b.text("#run-panel [role=alert]").await;
    assert!(text.contains("could not be loaded") && text.contains("reload"), "message: {text}");
    // The page lives on: panel 2 came from its own chunk, and the scenario list still answers.
    b.wait_for("#preset", Duration::from_secs(30)).await;
    b.click(".item-row").await;
    b.wait_for(".item-row[aria-pressed=true]", Duration::from_secs(10)).await;
    let status = b.text("#status").await;
    assert!(status.contains("Selected scenario"), "status line: {status}");
    assert_eq!(b.count("#run").await, 0, "no Run button without its chunk");
    b.close().await;
}
