//! Benchmark mode's test helpers: the logged test server, setting a batch up, waiting for its
//! writes, refusing them.

use super::{Browser, StaticServer, app_pointing_at};
use ethos_testkit::{ChatCall, FaultServer};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A stage-2 comment call of the Distributional pipeline.
pub fn is_comment(text: &str) -> bool {
    text.to_lowercase().contains("your perspective")
}

pub fn request_text(call: &ChatCall) -> String {
    call.messages
        .iter()
        .map(|(r, t)| format!("{r}:{t}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Benchmark view: choose `file`, the first `n` items, switch off `off` methods, optionally list
/// models, and set the batch up.
pub async fn set_up(b: &Browser, file: &str, n: usize, off: &[&str], models: Option<&str>) -> String {
    b.click("#view-bench").await;
    let select = b.wait_for("#bench-file", Duration::from_secs(10)).await;
    select.select_by_value(file).await.expect("choose the file");
    b.type_into("#bench-n", &n.to_string()).await;
    for m in off {
        b.click(&format!("#bench-method-{m}")).await;
    }
    if let Some(list) = models {
        b.type_into("#bench-models", list).await;
    }
    b.click("#bench-create").await;
    b.text("#bench-summary").await
}

/// The test LLM server answering as the pipeline expects, with every request's text logged.
pub fn logged_server() -> (FaultServer, Arc<Mutex<Vec<String>>>) {
    let server = FaultServer::start().expect("test LLM server");
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = seen.clone();
    server.set_responder(move |call| {
        log.lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(request_text(call));
        ethos_testkit::latency::ethos_reply(call)
    });
    (server, seen)
}

/// [`logged_server`], the app pointed at it, and a browser showing the app.
pub async fn logged_app() -> (FaultServer, Arc<Mutex<Vec<String>>>, StaticServer, Browser) {
    let (server, seen) = logged_server();
    let app = app_pointing_at(&server.base_url(), "fault-server-model").await;
    let b = Browser::start().await;
    b.open(&app.url()).await;
    (server, seen, app, b)
}

/// Wait until every finished call and task of the batch is in the browser's database.
pub async fn wait_stored(b: &Browser) {
    b.wait_js(
        "document.querySelector('#bench-counts').dataset.unsaved === '0'",
        Duration::from_secs(30),
        "every finished call stored",
    )
    .await;
}

/// Make IndexedDB refuse (or accept again) every write, as a full quota does.
pub async fn refuse_writes(b: &Browser, on: bool) {
    let js = if on {
        "(() => { window.__put = window.__put || IDBObjectStore.prototype.put; IDBObjectStore.prototype.put = function () { throw new DOMException('The quota has been exceeded.', 'QuotaExceededError'); }; return true; })()"
    } else {
        "(() => { if (window.__put) IDBObjectStore.prototype.put = window.__put; return true; })()"
    };
    b.js(js).await;
}

/// Start the batch and wait until it is done.
pub async fn run_to_the_end(b: &Browser) {
    b.click("#bench-start").await;
    b.wait_js(
        "document.querySelector('#bench-counts').dataset.state === 'done'",
        Duration::from_secs(120),
        "the batch to finish",
    )
    .await;
}


/// A batch that stops at one fixed point, whatever the machine's speed: every stage-2 comment
/// call is held at the server (its reply never comes until `release`), so once started, both
/// vanilla tasks finish and both EthosAgents tasks get past stage 1 with their 2 + 2 comment
/// calls held (4 held calls fit in Chromium's 6 connections per host). Set up here: the first 2
/// GlobalOpinionQA items × EthosAgents (k = 2) and vanilla; returns the setup's summary too.
pub async fn held_comments_batch() -> (FaultServer, Arc<Mutex<Vec<String>>>, StaticServer, Browser, String) {
    let (server, seen) = logged_server();
    server.set_fault_rule(Some(Arc::new(|call: &ChatCall| {
        is_comment(&request_text(call)).then_some(ethos_testkit::Fault::Hold)
    })));
    let app = app_pointing_at(&server.base_url(), "fault-server-model").await;
    let b = Browser::start().await;
    b.open(&app.url()).await;
    b.type_into("#k", "2").await;
    b.type_into("#concurrency", "4").await;
    let summary = set_up(&b, super::GLOBALOPINION, 2, &["prompting"], None).await;
    (server, seen, app, b, summary)
}

/// Wait until `n` comment calls have reached the server.
pub async fn wait_comment_calls(b: &Browser, seen: &Mutex<Vec<String>>, n: usize) {
    let comments = || {
        seen.lock()
            .map(|v| v.iter().filter(|t| is_comment(t)).count())
            .unwrap_or(0)
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while comments() < n {
        assert!(
            std::time::Instant::now() < deadline,
            "only {} of {n} comment calls reached the server: {:?}",
            comments(),
            b.bench_counts().await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The page's own chat calls to `base`, as its resource timing lists them: `[entries, chat
/// calls]` (a benchmark's are made by the network worker, whose timing is its own).
pub async fn page_chat_fetches(b: &Browser, base: &str) -> serde_json::Value {
    b.js(&format!(
        "(() => {{ const e = performance.getEntriesByType('resource'); \
         return [e.length, e.filter(x => x.name.startsWith({base:?}) && x.name.includes('/chat/completions')).length]; }})()"
    ))
    .await
}
