//! Accessibility audit with axe-core (the engine most auditors' tools use), injected into the real
//! app in headless Chromium, in every view and state a user reaches: home, item picked, a run in
//! progress (the fault server holds its replies), each mode's result, the inspector open, the
//! benchmark set-up, progress and results, projector mode, a class poll (refused votes, the
//! result with class, model and survey, in projector mode) and a 320 px wide screen.
//! Rules: WCAG 2.0/2.1/2.2 A and AA plus axe's best practices; every state must have 0 violations.
//! axe-core is installed by scripts/setup.sh (pinned in scripts/env.sh).
mod support;
use ethos_testkit::FaultServer;
use std::time::Duration;
use support::*;

const TAGS: &[&str] = &["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa", "best-practice"];

/// Inject axe-core into the page (once per page load) and audit the whole document. Prints the
/// state, its violation count and the rules checked; fails with each violation's rule, help text
/// and offending elements.
async fn audit(b: &Browser, state: &str) {
    let loaded = b.js("typeof window.axe === 'object'").await.as_bool() == Some(true);
    if !loaded {
        let src = std::fs::read_to_string(a11y_tool("ETHOS_AXE_JS", "axe-core/axe.min.js")).expect("read axe.min.js");
        b.client.execute(&format!("{src}\n;return true;"), vec![]).await.expect("inject axe-core");
    }
    let script = "const done = arguments[arguments.length - 1]; \
        axe.run(document, {runOnly: {type: 'tag', values: arguments[0]}, resultTypes: ['violations']}) \
          .then(r => done({ \
            violations: r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help, \
              nodes: v.nodes.slice(0, 5).map(n => n.target.join(' ') + ' — ' + (n.failureSummary || '').replace(/\\s+/g, ' '))})), \
            applied: [...new Set(r.passes.concat(r.violations, r.incomplete).map(v => v.id))].sort(), \
            inapplicable: r.inapplicable.length, incomplete: r.incomplete.map(v => v.id)})) \
          .catch(e => done({error: String(e)}));";
    let r = b.client.execute_async(script, vec![serde_json::json!(TAGS)]).await.expect("axe.run");
    assert!(r.get("error").is_none(), "axe.run failed in {state}: {r}");
    let violations = r["violations"].as_array().cloned().unwrap_or_default();
    let applied: Vec<&str> = r["applied"].as_array().map(|a| a.iter().filter_map(|v| v.as_str()).collect()).unwrap_or_default();
    println!(
        "axe {state}: {} violation(s); {} rules checked ({} applied here, {} not applicable); needs review: {}; applied: {}",
        violations.len(),
        applied.len() + r["inapplicable"].as_u64().unwrap_or(0) as usize,
        applied.len(),
        r["inapplicable"],
        r["incomplete"],
        applied.join(" ")
    );
    if !violations.is_empty() {
        b.screenshot(&format!("a11y-{}", state.replace(' ', "-"))).await;
        let text: Vec<String> = violations
            .iter()
            .map(|v| format!("  [{}] {} ({}):\n    {}", v["impact"], v["id"], v["help"], v["nodes"].as_array().map(|n| n.iter().filter_map(|x| x.as_str()).collect::<Vec<_>>().join("\n    ")).unwrap_or_default()))
            .collect();
        panic!("axe-core found {} violation(s) in `{state}`:\n{}", violations.len(), text.join("\n"));
    }
}

async fn start(width: u32, height: u32) -> (FaultServer, StaticServer, Browser) {
    let faults = FaultServer::start().expect("fault server");
    faults.set_responder(staged_reply);
    let server = app_pointing_at(&faults.base_url(), "fault-server-model").await;
    let b = Browser::start_sized(width, height).await;
    b.open(&server.url()).await;
    (faults, server, b)
}

/// Wait until the fault server holds at least one chat request.
async fn wait_held(f: &FaultServer, what: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while f.held_requests() == 0 {
        assert!(std::time::Instant::now() < deadline, "no request reached the held server: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Pick `file`'s first item, set k = 3, run to `result_css`, audit the result.
async fn mode_result(file: &str, result_css: &str, state: &str) {
    let (_f, _s, b) = start(1280, 900).await;
    b.choose_file(file).await;
    b.pick_item(0).await;
    b.type_into("#k", "3").await;
    b.run_and_wait(result_css, Duration::from_secs(60)).await;
    audit(&b, state).await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_single_run_flow_has_no_violations() {
    if !enabled() {
        return;
    }
    let (f, _s, b) = start(1280, 900).await;
    audit(&b, "home").await;
    b.choose_file(MORALCHOICE).await;
    b.pick_item(0).await;
    b.type_into("#k", "3").await;
    audit(&b, "item picked").await;
    f.hold(true);
    b.click("#run").await;
    wait_held(&f, "the run's first call").await;
    b.wait_js("document.querySelector('#run').disabled", Duration::from_secs(10), "the run in progress").await;
    audit(&b, "running").await;
    f.hold(false);
    b.wait_run_end("#js-distance", Duration::from_secs(60)).await;
    audit(&b, "distributional result").await;
    b.click("#inspector > summary").await;
    b.wait_js("document.querySelector('#inspector').open", Duration::from_secs(5), "the inspector open").await;
    audit(&b, "inspector open").await;
    b.click("#projector").await;
    b.wait_for(".app.projector", Duration::from_secs(5)).await;
    audit(&b, "projector mode").await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_steerable_result_has_no_violations() {
    if enabled() {
        mode_result(OPINIONQA, "#selection", "steerable result").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overton_result_has_no_violations() {
    if enabled() {
        mode_result(OVERTON, "#overton-answer", "overton result").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_benchmark_views_have_no_violations() {
    if !enabled() {
        return;
    }
    let (f, _s, b) = start(1280, 900).await;
    b.click("#view-bench").await;
    let select = b.wait_for("#bench-file", Duration::from_secs(10)).await;
    audit(&b, "benchmark set-up").await;
    select.select_by_value(GLOBALOPINION).await.expect("choose the file");
    b.type_into("#bench-n", "2").await;
    b.click("#bench-create").await;
    b.wait_for("#bench-start", Duration::from_secs(10)).await;
    audit(&b, "benchmark created").await;
    f.hold(true);
    b.click("#bench-start").await;
    wait_held(&f, "the batch's first call").await;
    b.wait_js("document.querySelector('#bench-counts').dataset.state === 'running'", Duration::from_secs(10), "the batch running").await;
    audit(&b, "benchmark progress").await;
    f.hold(false);
    b.wait_js("document.querySelector('#bench-counts').dataset.state === 'done'", Duration::from_secs(120), "the batch to finish").await;
    b.wait_for("#bench-results tbody tr", Duration::from_secs(10)).await;
    audit(&b, "benchmark results").await;
    b.click("#projector").await;
    b.wait_for(".app.projector", Duration::from_secs(5)).await;
    audit(&b, "benchmark results, projector mode").await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_320_px_screen_has_no_violations() {
    if !enabled() {
        return;
    }
    let (_f, _s, b) = start(320, 800).await;
    audit(&b, "home at 320 px").await;
    b.choose_file(MORALCHOICE).await;
    b.pick_item(0).await;
    b.type_into("#k", "3").await;
    b.run_and_wait("#js-distance", Duration::from_secs(60)).await;
    audit(&b, "result at 320 px").await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_class_poll_has_no_violations() {
    if !enabled() {
        return;
    }
    let (_f, _s, b) = start(1280, 900).await;
    b.choose_file(GLOBALOPINION).await;
    b.pick_item(0).await;
    b.type_into("#poll-0", "three").await;
    b.click("#poll-use").await;
    b.wait_for("#poll-error", Duration::from_secs(5)).await;
    audit(&b, "class poll, votes refused").await;
    b.type_into("#poll-0", "12").await;
    b.type_into("#poll-1", "7").await;
    b.click("#poll-use").await;
    b.wait_js("document.querySelector('#poll-error') === null", Duration::from_secs(5), "the poll accepted").await;
    b.type_into("#k", "3").await;
    b.run_and_wait("#js-class", Duration::from_secs(60)).await;
    audit(&b, "class poll result (class, model, survey)").await;
    b.click("#projector").await;
    b.wait_for(".app.projector", Duration::from_secs(5)).await;
    audit(&b, "class poll result, projector mode").await;
    b.close().await;
}
