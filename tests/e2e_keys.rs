//! Where a key may go, tried as an attacker would in headless Chromium: the user works with their
//! own server (a fault server that records the names of the headers it receives) and a
//! remembered key; then a link (`?llm=`), the site's `ethos-config.json`, an imported run and a
//! share link each name another server (a second recording server). That server must receive
//! nothing until the user accepts it, and never the key; the saved endpoint must not change.
mod support;
use ethos_testkit::FaultServer;
use std::time::Duration;
use support::*;

const KEY: &str = "sk-e2e-own-server-only-5151";
const WAIT: Duration = Duration::from_secs(20);

/// Whether any request that reached `server` carried a credential header.
fn got_a_key(server: &FaultServer) -> bool {
    server.stats().requests.iter().any(|r| {
        r.header_names
            .iter()
            .any(|h| h == "authorization" || h == "x-api-key")
    })
}

/// Wait until `server` has answered more than `n` API requests.
async fn wait_requests(server: &FaultServer, n: u64, what: &str) {
    let t0 = std::time::Instant::now();
    while server.stats().total <= n {
        assert!(t0.elapsed() < WAIT, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn saved_endpoint_js() -> &'static str {
    "localStorage.getItem('ethos.endpoint') || ''"
}

/// A user sets up their own server with a remembered key and tests the connection (which proves
/// the recording server does see a key when one is sent).
async fn set_up_own_server(b: &Browser, own: &FaultServer) {
    b.js("(() => { const s = document.querySelector('#preset'); s.value = 'custom'; s.dispatchEvent(new Event('change', {bubbles: true})); return true; })()").await;
    b.type_into("#base-url", &own.base_url()).await;
    b.js("document.querySelector('#base-url').dispatchEvent(new Event('change', {bubbles: true}))").await;
    b.type_into("#api-key", KEY).await;
    b.click("#remember-key").await;
    b.wait_js(
        &format!("(localStorage.getItem('ethos.keys') || '').includes({KEY:?})"),
        WAIT,
        "the key remembered",
    )
    .await;
    let before = own.stats().total;
    b.click("#test-connection").await;
    wait_requests(own, before, "the connection test at the user's own server").await;
    assert!(got_a_key(own), "the user's own server receives the key");
    let saved = b.js(saved_endpoint_js()).await;
    assert!(saved.as_str().unwrap_or("").contains(&own.base_url()), "own endpoint saved: {saved}");
}

/// After the offer is on screen, a fresh request to the user's own server proves the page has
/// done whatever it does at load; the other server must have seen nothing by then.
async fn assert_offered_and_nothing_sent(b: &Browser, own: &FaultServer, other: &FaultServer, source: &str) {
    b.wait_for("#endpoint-offer", WAIT).await;
    let offer = b.text("#endpoint-offer").await;
    assert!(offer.contains(&other.base_url()), "the offer names the suggested server: {offer}");
    assert!(offer.contains(source), "the offer says who suggests it: {offer}");
    let field = b.js("document.querySelector('#base-url').value").await;
    assert_eq!(field.as_str(), Some(own.base_url().as_str()), "the endpoint in use is unchanged");
    let key = b.js("document.querySelector('#api-key').value").await;
    assert_eq!(key.as_str(), Some(KEY), "the user's remembered key is still theirs");
    let before = own.stats().total;
    b.click("#test-connection").await;
    wait_requests(own, before, "a request to the user's own server").await;
    assert_eq!(other.stats().total, 0, "the suggested server received a request without consent");
    assert_eq!(other.stats().preflights, 0, "the suggested server received a preflight");
    let saved = b.js(saved_endpoint_js()).await;
    let saved = saved.as_str().unwrap_or("");
    assert!(saved.contains(&own.base_url()) && !saved.contains(&other.base_url()), "saved endpoint changed: {saved}");
}

/// The app on a plain static host, the user's own server set up with a remembered key, and
/// another recording server that nobody chose.
async fn start_with_own_server() -> (FaultServer, FaultServer, StaticServer, Browser) {
    let own = FaultServer::start().expect("own server");
    let other = FaultServer::start().expect("another server");
    let app = StaticServer::start(&dist()).await;
    app.hide_file("ethos-config.json");
    let b = Browser::start().await;
    b.open(&app.url()).await;
    set_up_own_server(&b, &own).await;
    (own, other, app, b)
}

fn link(app: &StaticServer, other: &FaultServer, model: &str) -> String {
    let enc = |s: &str| s.bytes().map(|c| match c {
        b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (c as char).to_string(),
        _ => format!("%{c:02X}"),
    }).collect::<String>();
    format!("{}?llm={}&model={}", app.url(), enc(&other.base_url()), enc(model))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_naming_another_server_gets_no_key_and_changes_nothing_until_accepted() {
    if !enabled() {
        return;
    }
    let (own, other, app, b) = start_with_own_server().await;

    // The attack: a link naming another server (and a model), opened later in the same profile.
    b.open(&link(&app, &other, "expensive-model")).await;
    assert_offered_and_nothing_sent(&b, &own, &other, "This link").await;
    b.screenshot("key-link-offer").await;

    // "Keep mine": the offer goes, nothing changed.
    b.click("#dismiss-endpoint").await;
    b.wait_js("!document.querySelector('#endpoint-offer')", WAIT, "the offer dismissed").await;
    assert_eq!(other.stats().total, 0);

    // Accepting: the server is used and saved, but it gets no key (it was typed for another).
    b.open(&link(&app, &other, "expensive-model")).await;
    b.wait_for("#endpoint-offer", WAIT).await;
    b.click("#accept-endpoint").await;
    b.wait_js(&format!("document.querySelector('#base-url').value === {:?}", other.base_url()), WAIT, "the suggested server in use").await;
    let key = b.js("document.querySelector('#api-key').value").await;
    assert_eq!(key.as_str(), Some(""), "no key shown for the new server");
    b.click("#test-connection").await;
    wait_requests(&other, 0, "a request to the accepted server").await;
    assert!(!got_a_key(&other), "the accepted server received the other server's key");
    b.wait_js(&format!("(localStorage.getItem('ethos.endpoint') || '').includes({:?})", other.base_url()), WAIT, "the accepted server saved").await;

    // Back to the user's own server: its remembered key comes back with it.
    b.type_into("#base-url", &own.base_url()).await;
    b.js("document.querySelector('#base-url').dispatchEvent(new Event('change', {bubbles: true}))").await;
    b.wait_js(&format!("document.querySelector('#api-key').value === {KEY:?}"), WAIT, "the own server's key back").await;
    assert!(!got_a_key(&other), "no key ever reached the link's server");
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_site_config_naming_another_server_is_offered_not_applied() {
    if !enabled() {
        return;
    }
    let (own, other, app, b) = start_with_own_server().await;

    let cfg = serde_json::json!({"preset": "llamacpp", "base_url": other.base_url(), "model": "m"});
    app.set_file("ethos-config.json", "application/json", cfg.to_string());
    b.open(&app.url()).await;
    assert_offered_and_nothing_sent(&b, &own, &other, "ethos-config.json").await;

    // A config (or link) that is not an http(s) URL is refused in words, and changes nothing.
    let bad = serde_json::json!({"base_url": "javascript:alert(1)"});
    app.set_file("ethos-config.json", "application/json", bad.to_string());
    b.open(&app.url()).await;
    b.wait_js("(document.querySelector('#connection-report') || {}).textContent?.includes('not an http(s) URL')", WAIT, "the bad config refused").await;
    assert_eq!(b.count("#endpoint-offer").await, 0);
    assert_eq!(other.stats().total, 0);
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imported_runs_and_share_links_cannot_choose_where_requests_go() {
    if !enabled() {
        return;
    }
    let (own, other, app, b) = start_with_own_server().await;

    // A stranger's run file, with the stranger's server written wherever a field might be read.
    let item = ethos_engine::vital::Item::custom("stranger-1", "Should the clinic share data?", &["Yes".into(), "No".into()], None).expect("item");
    let settings = ethos_engine::settings::RunSettings::with_model("stranger-model");
    let record = ethos_engine::record::RunRecord::new(item, settings, ethos_engine::settings::Method::EthosAgents);
    let mut json: serde_json::Value = serde_json::from_str(&record.to_json()).expect("record json");
    json["settings"]["base_url"] = other.base_url().into();
    json["endpoint"] = serde_json::json!({"base_url": other.base_url(), "protocol": "openai"});
    let path = artifacts_dir().join("stranger-run.json");
    std::fs::write(&path, json.to_string()).expect("write run file");
    let input = b.wait_for("#import-file", WAIT).await;
    input.send_keys(&path.display().to_string()).await.expect("choose import file");
    b.wait_js("document.querySelector('#import-error') || document.querySelectorAll('.saved-run').length >= 1", WAIT, "the import read").await;

    // The share link of the same run, opened in the same profile.
    // (`?shared` makes it a new page load rather than a jump within the page.)
    let fragment = ethos_engine::share::fragment(&record, &[]);
    b.open(&format!("{}?shared=1{}", app.url(), fragment)).await;
    b.wait_js("document.body.textContent.includes('Should the clinic share data?')", WAIT, "the shared run opened").await;

    let field = b.js("document.querySelector('#base-url').value").await;
    assert_eq!(field.as_str(), Some(own.base_url().as_str()), "the endpoint in use is unchanged");
    let before = own.stats().total;
    b.click("#test-connection").await;
    wait_requests(&own, before, "a request to the user's own server").await;
    assert_eq!(other.stats().total + other.stats().preflights, 0, "a run file or link sent a request elsewhere");
    let saved = b.js(saved_endpoint_js()).await;
    assert!(saved.as_str().unwrap_or("").contains(&own.base_url()), "saved endpoint changed: {saved}");
    b.close().await;
}
