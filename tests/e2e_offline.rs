//! Offline after the first load, under a sub-path: the app's service worker (`sw.js`) keeps the
//! app shell and the VITAL files, and the in-tab model's worker files once used; the in-tab model
//! keeps its GGUF. With the host unreachable a reload still opens the app, the scenario list, a
//! saved run and the in-tab model. Back online, a new build is offered, never forced.
//!
//! "Offline" is two things at once: the static server closes every connection unanswered (the
//! host is really unreachable, for the page, the service worker and the model's worker alike,
//! whatever Chrome's emulation covers), and Chrome DevTools network emulation (chromedriver's
//! `goog/cdp/execute`, `Network.emulateNetworkConditions`) tells the page it is offline and,
//! later, online again (`navigator.onLine`, the `online` event the page checks for updates on).
//!
//!     ETHOS_E2E=1 cargo test -p ethos-e2e --test e2e_offline   (after `trunk build --release`)
mod support;
use ethos_testkit::FaultServer;
use std::path::Path;
use std::time::{Duration, Instant};
use support::*;

/// Poll `expr` (a promise is awaited by WebDriver) until it is `true`.
async fn wait_async(b: &Browser, expr: &str, timeout: Duration, what: &str) {
    let deadline = Instant::now() + timeout;
    loop {
        if b.js(expr).await == serde_json::Value::Bool(true) {
            return;
        }
        if Instant::now() > deadline {
            b.screenshot("offline-timeout").await;
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn run_item(b: &Browser, nth: usize) -> (String, String) {
    b.choose_file(MORALCHOICE).await;
    b.pick_item(nth).await;
    b.type_into("#k", "3").await;
    b.run_and_wait("#js-distance", Duration::from_secs(120)).await;
    let js = b.text("#js-distance").await;
    let id = b.js("localStorage.getItem('ethos.current')").await;
    (id.as_str().expect("the run is saved").to_string(), js)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read dist").flatten() {
        let target = to.join(e.file_name());
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).expect("copy");
        }
    }
}

/// A new deployment of the same app: index.html changed, sw.js's manifest written again by the
/// build's own script. Returns (index.html, sw.js, the new version).
fn next_build(dist: &Path) -> (String, String, String) {
    let dir = std::env::temp_dir().join(format!("ethos-offline-build-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    copy_dir(dist, &dir);
    let index = std::fs::read_to_string(dir.join("index.html"))
        .expect("index.html")
        .replace("</body>", "<!-- offline-e2e-build-2 --></body>");
    std::fs::write(dir.join("index.html"), &index).expect("write index.html");
    let out = std::process::Command::new("python3")
        .arg(root().join("scripts/sw_manifest.py"))
        .arg(&dir)
        .output()
        .expect("run scripts/sw_manifest.py");
    assert!(out.status.success(), "sw_manifest.py: {}", String::from_utf8_lossy(&out.stderr));
    let sw = std::fs::read_to_string(dir.join("sw.js")).expect("sw.js");
    let _ = std::fs::remove_dir_all(&dir);
    (index, sw.clone(), version_of(&sw))
}

fn version_of(sw: &str) -> String {
    let at = sw.find("\"version\":\"").expect("a manifest in sw.js") + 11;
    sw[at..at + 16].to_string()
}

/// How many models the in-tab worker keeps whole in the origin-private file system.
const KEPT_MODELS_JS: &str = "navigator.storage.getDirectory().then((r) => r.getDirectoryHandle('ethos-local-models')).then(async (d) => { let n = 0; for await (const [name, h] of d.entries()) { if (!name.endsWith('.json')) continue; const m = JSON.parse(await (await h.getFile()).text()); if (m.complete === true) n++; } return n; }, () => 0)";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_one_visit_the_app_runs_and_tab_model_work_offline_and_a_new_build_is_offered() {
    if !enabled() {
        return;
    }
    let dist = dist();
    let built = std::fs::read_to_string(dist.join("sw.js")).expect("dist/sw.js");
    let version = version_of(&built);
    let faults = FaultServer::start().expect("fault server");
    faults.set_responder(staged_reply);
    let server = app_pointing_at(&faults.base_url(), "fault-server-model").await;
    server.serve_model(gguf_bytes());
    let b = Browser::start().await;
    b.open(&server.url()).await;

    // First visit, online: two runs saved on this device, the in-tab model loaded once.
    let (first, first_js) = run_item(&b, 0).await;
    let (second, _) = run_item(&b, 1).await;
    assert_ne!(first, second, "two saved runs");
    b.choose_local().await;
    let status = b.load_local_model().await;
    assert!(status.contains("Loaded") && status.contains("kept in this browser's cache"), "{status}");
    b.wait_for(&format!("#offline-status[data-state='ready'][data-version='{version}']"), Duration::from_secs(120))
        .await;
    let note = b.text("#offline-status").await;
    assert!(note.contains("Works offline"), "{note}");
    // The shell and the VITAL files are precached; the model's worker files were kept when used.
    let kept = b
        .js(&format!("caches.open('ethos-app-{version}').then(c => c.keys()).then(k => k.map(r => r.url.slice(new URL('./', location.href).href.length)))"))
        .await;
    let kept: Vec<String> = serde_json::from_value(kept).expect("cache keys");
    for f in ["index.html", &format!("vital/{MORALCHOICE}"), "local-model/worker.js"] {
        assert!(kept.iter().any(|k| k == f), "{f} kept: {kept:?}");
    }
    assert!(kept.iter().all(|k| !k.ends_with(".gguf")), "the GGUF is kept once, by the model's worker: {kept:?}");
    assert_eq!(b.js(KEPT_MODELS_JS).await, serde_json::json!(1), "the model's worker keeps it whole");
    b.screenshot_at("#attribution", "offline-ready").await;

    // Offline: the host unreachable and the browser told so.
    server.set_down(true);
    b.set_network_offline(true).await;
    assert_eq!(b.js("navigator.onLine").await, serde_json::json!(false));
    b.client.refresh().await.expect("reload offline");
    b.wait_for("#file-select", Duration::from_secs(30)).await;
    b.watch_csp().await;
    assert_eq!(b.js("!!navigator.serviceWorker.controller").await, serde_json::json!(true));
    // Really offline: a file the worker does not keep cannot be fetched.
    let probe = b.js("fetch('./not-kept.txt').then(() => 'reached', () => 'unreachable')").await;
    assert_eq!(probe.as_str(), Some("unreachable"), "the host must be unreachable");
    // The scenario list.
    b.choose_file(MORALCHOICE).await;
    assert!(b.count(".item-row").await > 10, "the scenario list shows offline");
    // A saved run (not the one on screen).
    b.wait_for(&format!(".saved-run[data-id='{first}']"), Duration::from_secs(10)).await;
    b.click(&format!(".saved-run[data-id='{first}'] .open-run")).await;
    b.wait_js(
        &format!("localStorage.getItem('ethos.current') === {first:?} && document.querySelector('#js-distance') !== null"),
        Duration::from_secs(10),
        "the first saved run to open",
    )
    .await;
    assert_eq!(b.text("#js-distance").await, first_js, "the saved run opens with its result");
    // The in-tab model, from this browser's cache (its URL field kept the model beside the page:
    // the worker answers the page's check that the file exists from the kept copy).
    b.choose_local().await;
    let status = b.load_local_model().await;
    assert_eq!(b.count("#local-status.error").await, 0, "offline model load failed: {status}");
    assert!(status.contains("Loaded") && status.contains("from this browser's cache"), "{status}");
    b.screenshot("offline-reload").await;

    // A new build is deployed while the class is offline; back online, it is offered.
    let (index2, sw2, version2) = next_build(&dist);
    assert_ne!(version, version2, "a changed index.html is a new version");
    server.set_file("index.html", "text/html; charset=utf-8", index2);
    server.set_file("sw.js", "text/javascript", sw2);
    b.js("(() => { window.__same_page = true; return true; })()").await;
    server.set_down(false);
    b.set_network_offline(false).await;
    b.wait_for("#update-offer", Duration::from_secs(60)).await;
    let offer = b.text("#update-offer").await;
    assert!(offer.contains("A new version of this app is ready"), "{offer}");
    wait_async(
        &b,
        "navigator.serviceWorker.getRegistration().then(r => !!r && !!r.waiting)",
        Duration::from_secs(10),
        "the new build waiting",
    )
    .await;
    // Nothing reloaded by itself: the same page, still the old build.
    assert_eq!(b.js("window.__same_page === true").await, serde_json::json!(true), "the page reloaded by itself");
    let shown = b.js("document.querySelector('#offline-status').dataset.version").await;
    assert_eq!(shown.as_str(), Some(version.as_str()), "still the old build until the user reloads");
    b.screenshot_at("#update-offer", "offline-update-offer").await;

    // The user's reload: the new build takes over, the old copy goes, the models stay.
    b.click("#update-reload").await;
    b.wait_for(&format!("#offline-status[data-state='ready'][data-version='{version2}']"), Duration::from_secs(60))
        .await;
    b.watch_csp().await;
    assert_eq!(b.js("window.__same_page === undefined").await, serde_json::json!(true));
    assert_eq!(
        b.js("document.documentElement.innerHTML.includes('offline-e2e-build-2')").await,
        serde_json::json!(true),
        "the new build's index.html"
    );
    let names = b.js("caches.keys()").await;
    let names: Vec<String> = serde_json::from_value(names).expect("cache names");
    let app: Vec<_> = names.iter().filter(|n| n.starts_with("ethos-app-")).collect();
    assert_eq!(app, vec![&format!("ethos-app-{version2}")], "only the new build's copy: {names:?}");
    assert_eq!(b.js(KEPT_MODELS_JS).await, serde_json::json!(1), "the kept model stays");
    // The model's worker files were unchanged: carried over, so the model still works offline.
    let carried = b
        .js(&format!("caches.open('ethos-app-{version2}').then(c => c.match(new URL('local-model/worker.js', location.href).href)).then(r => !!r)"))
        .await;
    assert_eq!(carried, serde_json::json!(true), "the in-tab model's worker files carried over");
    assert_eq!(b.count("#update-offer").await, 0, "no offer after updating");

    // "Remove the offline copy" clears the worker's copy and the worker, not the models; "Keep
    // one for offline use" brings it back.
    b.click("#offline-forget").await;
    b.wait_for("#offline-status[data-state='off']", Duration::from_secs(30)).await;
    let names: Vec<String> = serde_json::from_value(b.js("caches.keys()").await).expect("cache names");
    assert!(names.iter().all(|n| !n.starts_with("ethos-app-")), "the copy is deleted: {names:?}");
    assert_eq!(b.js(KEPT_MODELS_JS).await, serde_json::json!(1), "the kept model stays");
    let regs = b.js("navigator.serviceWorker.getRegistrations().then(r => r.length)").await;
    assert_eq!(regs, serde_json::json!(0), "the worker is unregistered");
    b.click("#offline-keep").await;
    b.wait_for(&format!("#offline-status[data-state='ready'][data-version='{version2}']"), Duration::from_secs(60))
        .await;
    let kept = b.js(&format!("caches.open('ethos-app-{version2}').then(c => c.match(new URL('index.html', location.href).href)).then(r => !!r)")).await;
    assert_eq!(kept, serde_json::json!(true), "the copy is made again");
    b.close().await;
}

/// The same worker serves cross-origin isolation (the in-tab model's threaded build): headers the
/// host sends itself stay on the kept copies, and those the worker adds on request ("Use every
/// core" on a plain host) are added to the kept copies too, so an offline reload stays isolated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_origin_isolation_holds_offline() {
    if !enabled() {
        return;
    }
    for by_host in [true, false] {
        let server = StaticServer::start(&dist()).await;
        server.hide_file("ethos-config.json");
        server.set_isolated(by_host);
        let b = Browser::start().await;
        b.open(&server.url()).await;
        b.wait_for("#offline-status[data-state='ready']", Duration::from_secs(120)).await;
        if !by_host {
            b.choose_local().await;
            b.click("#coi-enable").await;
            b.wait_js(
                "self.crossOriginIsolated === true && !!navigator.serviceWorker.controller",
                Duration::from_secs(30),
                "the page to come back isolated by the service worker",
            )
            .await;
            b.wait_for("#offline-status[data-state='ready']", Duration::from_secs(30)).await;
        }
        assert_eq!(b.js("self.crossOriginIsolated").await, serde_json::json!(true), "isolated online (by host: {by_host})");

        server.set_down(true);
        b.set_network_offline(true).await;
        b.client.refresh().await.expect("reload offline");
        b.wait_for("#file-select", Duration::from_secs(30)).await;
        b.watch_csp().await;
        assert_eq!(
            b.js("self.crossOriginIsolated").await,
            serde_json::json!(true),
            "still isolated offline (by host: {by_host})"
        );
        b.choose_file(OPINIONQA).await;
        b.choose_local().await;
        b.wait_for("#local-model-note", Duration::from_secs(10)).await;
        let note = b.js("document.querySelector('#cores-note')?.dataset.isolation ?? 'none shown'").await;
        let want = if by_host { "none shown" } else { "service-worker" };
        assert_eq!(note.as_str(), Some(want), "who isolates the page (by host: {by_host})");
        b.close().await;
    }
}
