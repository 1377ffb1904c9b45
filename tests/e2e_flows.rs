//! End-to-end runs in headless Chromium against the real local llama.cpp server (SmolLM2-135M):
//! one full run per mode from picking a VITAL item to the result and scores on screen, cancel,
//! reload, export/import, share link in a fresh profile, where the key may (not) go, and two saved
//! runs compared side by side (chart, JS distances, settings diff, print, one share link).
mod support;
use std::time::Duration;
use support::*;

const RUN_TIMEOUT: Duration = Duration::from_secs(600);

/// Small k and short outputs: the tiny model is slow on a busy 2-core machine.
async fn configure_fast(b: &Browser, k: usize) {
    // Room for three JSON perspectives even when the tiny model rambles (it got cut at 400).
    b.short_outputs(k, 700).await;
    b.type_into("#max-overton", "48").await;
}

/// The local server must be up (scripts/test.sh starts it); say so plainly if it is not.
async fn require_llm() {
    let url = llm_url();
    let up = tokio::net::TcpStream::connect(llm_host()).await.is_ok();
    assert!(up, "the local LLM server at {url} is not running: start it with `scripts/llama-server.sh start` (scripts/test.sh does)");
}

async fn start(file: &str, nth: usize, k: usize) -> (StaticServer, Browser) {
    require_llm().await;
    start_at(&llm_url(), file, nth, k).await
}

/// `host:port` of the local LLM server.
fn llm_host() -> String {
    llm_url().trim_start_matches("http://").split('/').next().unwrap_or("").to_string()
}

/// As [`start`], with the app pointed at `base_url` (the local server, or a proxy in front of it).
async fn start_at(base_url: &str, file: &str, nth: usize, k: usize) -> (StaticServer, Browser) {
    let server = app_pointing_at(base_url, "smollm2").await;
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
    let js = b.js_distance().await;
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
    require_llm().await;
    // Where the cancel lands is decided here, not by the model's speed: the real server sits
    // behind a holding proxy that passes the first comment call and holds every later one. With
    // one call at a time the run then stays with one comment done and the next one asked.
    let mut comments = 0;
    let proxy = HoldingProxy::start(
        &llm_host(),
        Box::new(move |_path, body| {
            let is_comment = body.to_lowercase().contains("your perspective");
            comments += usize::from(is_comment);
            is_comment && comments > 1
        }),
    )
    .await;
    let (_server, b) = start_at(&proxy.base_url(), OVERTON, 1, 3).await;
    b.type_into("#concurrency", "1").await;
    b.click("#run").await;
    b.wait_js(
        "document.querySelector(\".comment-card[data-state='done']\") !== null || (document.querySelector('#run-error') !== null && !document.querySelector('#run').disabled)",
        RUN_TIMEOUT,
        "a finished comment (or the end of stage 1)",
    )
    .await;
    if b.count(".comment-card[data-state='done']").await == 0 {
        // The tiny model read fewer than 3 perspectives: complete them as a user would.
        let err = b.text("#run-error").await;
        assert!(err.contains("perspectives could be read"), "the run ended: {err}");
        b.complete_perspectives(3).await;
        b.click("#rerun-dependents").await;
        b.wait_for(".comment-card[data-state='done']", RUN_TIMEOUT).await;
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while proxy.held() < 1 {
        assert!(std::time::Instant::now() < deadline, "the second comment call never came");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    b.click("#cancel").await;
    b.wait_js("!document.querySelector('#run').disabled", Duration::from_secs(30), "run enabled after cancel").await;
    proxy.release();
    assert_eq!(b.count(".comment-card[data-state='done']").await, 1, "the finished comment kept after cancel");
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
    let stored = b.js(&all_stored_js()).await;
    assert!(stored.as_str().unwrap_or("").contains("ethos.current"), "the storage dump is read");
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
    let stored = b.js(&all_stored_js()).await;
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

/// Lay the page out as it prints: every `@media print` rule of the stylesheets is appended as a
/// plain rule (through the CSSOM, which the Content-Security-Policy allows). Returns how many.
const APPLY_PRINT_RULES: &str = r#"
const rules = [];
let target = null;
for (const s of document.styleSheets) {
  let list;
  try { list = s.cssRules; } catch (e) { continue; }
  target = target || s;
  for (const r of list) {
    if (r.media && r.media.mediaText.includes('print')) for (const inner of r.cssRules) rules.push(inner.cssText);
  }
}
for (const t of rules) target.insertRule(t, target.cssRules.length);
return rules.length;
"#;

/// What is on the page, laid out: the compare view alone, its two columns side by side.
const HANDOUT_STATE: &str = r#"
const shown = (sel) => [...document.querySelectorAll(sel)].some(e => e.getClientRects().length > 0);
const tops = [...document.querySelectorAll('.compare-col')].map(e => Math.round(e.getBoundingClientRect().top));
return {
  compare: shown('#compare'), chart: shown('#compare-chart svg'), diff: shown('#settings-diff'),
  panels: shown('main.panels'), buttons: shown('#compare button'), header_actions: shown('.header-actions'),
  status: shown('#status'), side_by_side: tops.length === 2 && tops[0] === tops[1],
};
"#;

/// The `#r2=` fragment of a link, opened natively (flate2 inflates what the browser deflated).
fn open_natively(link: &str) -> ethos_engine::share::Shared {
    use ethos_engine::share::{from_payload, read_link, Link};
    use std::io::Read;
    let fragment = &link[link.find('#').expect("a fragment")..];
    let Link::Deflated(bytes) = read_link(fragment).expect("a share link").expect("reads") else {
        panic!("not a compressed link: {}", &fragment[..20.min(fragment.len())]);
    };
    let mut text = Vec::new();
    flate2::read::DeflateDecoder::new(&bytes[..]).read_to_end(&mut text).expect("inflates");
    from_payload(&text).expect("a payload")
}

/// The same comparison deflated natively (flate2's bytes, not the browser's).
fn link_made_natively(page: &str, shared: &ethos_engine::share::Shared) -> String {
    use std::io::Write;
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(ethos_engine::share::payload(shared).as_bytes()).expect("deflate");
    let page = page.split('#').next().unwrap_or(page);
    format!("{page}{}", ethos_engine::share::fragment_v2(&e.finish().expect("deflate")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_saved_runs_compare_side_by_side_print_and_share_as_one_link() {
    if !enabled() {
        return;
    }
    // Run B's model: the project's fault server with stage-aware replies (another provider).
    let faults = ethos_testkit::FaultServer::start().expect("fault server");
    faults.set_responder(ethos_testkit::latency::ethos_reply);
    let (server, b) = start(MORALCHOICE, 1, 2).await;
    b.run_and_wait("#js-distance", RUN_TIMEOUT).await;
    let js_a = b.text("#js-distance").await;
    b.type_into("#base-url", &faults.base_url()).await;
    b.type_into("#model", "fault-server-model").await;
    b.run_and_wait("#js-distance", RUN_TIMEOUT).await;
    // Run A's result was on screen when Run was pressed: wait for run B's to be saved as done.
    b.wait_js(
        "[...document.querySelectorAll('.saved-run')].some(e => e.textContent.includes('fault-server-model') && e.textContent.includes('· done ·')) && !document.querySelector('#run').disabled",
        RUN_TIMEOUT,
        "run B done",
    )
    .await;
    let js_b = b.text("#js-distance").await;

    // Tick both saved runs (newest first: run A is the second row) and compare them.
    b.wait_js("document.querySelectorAll('.saved-run').length === 2", Duration::from_secs(10), "two saved runs").await;
    assert_eq!(b.js("document.querySelector('#compare-open').disabled").await.as_bool(), Some(true));
    b.click(".saved-run:nth-child(2) .compare-pick").await;
    b.click(".saved-run:nth-child(1) .compare-pick").await;
    b.click("#compare-open").await;
    b.wait_for("#compare-chart", Duration::from_secs(10)).await;
    assert_eq!(b.text("#compare-js-a").await, js_a, "run A's JS distance");
    assert_eq!(b.text("#compare-js-b").await, js_b, "run B's JS distance");
    let between: f64 = b.text("#compare-js-ab").await.parse().expect("JS between the runs");
    assert!((0.0..=0.8326).contains(&between), "{between}");
    assert_eq!(b.count("#compare-chart svg rect").await, 6, "2 options × (run A, run B, people)");
    let model = b.text("#settings-diff tr[data-setting='model']").await;
    assert!(model.contains("smollm2") && model.contains("fault-server-model"), "{model}");
    assert_eq!(b.count(".compare-col[data-side='a'] .compare-persp").await, 2);
    assert_eq!(b.count(".compare-col[data-side='b'] .compare-persp").await, 2);
    let screen = b.js(&format!("(() => {{ {HANDOUT_STATE} }})()")).await;
    assert_eq!(screen["panels"], false, "the panels give way to the comparison: {screen}");
    b.screenshot("compare").await;

    // Projector mode: the same view in large type.
    b.click("#projector").await;
    b.wait_for(".app.projector #compare-chart", Duration::from_secs(5)).await;
    b.screenshot("compare-projector").await;
    b.click("#projector").await;

    // Share: one link with both runs; flate2 reads the browser's deflate.
    b.click("#compare-share").await;
    b.wait_js("document.querySelector('#compare-url') && document.querySelector('#compare-url').value.length > 0", Duration::from_secs(10), "compare url").await;
    let link = b.js("document.querySelector('#compare-url').value").await.as_str().unwrap_or("").to_string();
    let shared = open_natively(&link);
    let ethos_engine::share::Shared::Compare { left, right } = &shared else {
        panic!("the link holds a comparison: {shared:?}");
    };
    assert_eq!((left.settings.models.combine.as_str(), right.settings.models.combine.as_str()), ("smollm2", "fault-server-model"));
    eprintln!("compare link: {} characters", link.len());

    // Print: the handout is the comparison alone, columns side by side; a PDF is made of it.
    let applied = b.js(&format!("(() => {{ {APPLY_PRINT_RULES} }})()")).await;
    assert!(applied.as_u64().unwrap_or(0) > 0, "print rules found: {applied}");
    let print = b.js(&format!("(() => {{ {HANDOUT_STATE} }})()")).await;
    for (key, want) in [("compare", true), ("chart", true), ("diff", true), ("side_by_side", true), ("panels", false), ("buttons", false), ("header_actions", false), ("status", false)] {
        assert_eq!(print[key], want, "printed page, {key}: {print}");
    }
    b.screenshot("compare-handout").await;
    let pdf = b.client.print(fantoccini::wd::PrintConfiguration::default()).await.expect("print to PDF");
    assert!(pdf.starts_with(b"%PDF"), "a PDF");
    std::fs::write(artifacts_dir().join("compare-handout.pdf"), &pdf).expect("keep the PDF");
    b.close().await;

    // A fresh profile opens the same view from the browser's link and from flate2's.
    for (name, url) in [("browser", link.clone()), ("flate2", link_made_natively(&link, &shared))] {
        let fresh = Browser::start().await;
        fresh.client.goto(&url).await.expect("open compare link");
        fresh.wait_for("#compare-chart", Duration::from_secs(30)).await;
        assert_eq!(fresh.text("#compare-js-a").await, js_a, "{name} link");
        assert_eq!(fresh.text("#compare-js-b").await, js_b, "{name} link");
        assert_eq!(fresh.text("#settings-diff tr[data-setting='model']").await, model, "{name} link");
        fresh.screenshot(&format!("compare-fresh-profile-{name}")).await;
        fresh.close().await;
    }
    let _ = server;
}
