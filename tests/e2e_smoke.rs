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
