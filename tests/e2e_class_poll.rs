//! The class flow in headless Chromium against the fault server (deterministic replies): a
//! question of the teacher's own and a GlobalOpinionQA item, the class's votes typed (with the
//! validation messages), a run, the chart with two / three series and its legend, the JS
//! distances equal to the engine's, a reload, a share link in a fresh profile, and projector
//! mode's font minima read from the computed styles of every visible text element.
mod support;
use ethos_engine::metrics::js_distance;
use ethos_engine::poll::{scores, PollScores};
use ethos_engine::record::{RunRecord, RunResult};
use ethos_testkit::FaultServer;
use std::time::Duration;
use support::*;

const WAIT: Duration = Duration::from_secs(60);
/// Projector mode's minima (README, "Projector mode"): body text and any visible text.
const BODY_MIN_PX: f64 = 24.0;
const TEXT_MIN_PX: f64 = 20.0;

async fn start() -> (FaultServer, StaticServer, Browser) {
    let faults = FaultServer::start().expect("fault server");
    faults.set_responder(staged_reply);
    let server = app_pointing_at(&faults.base_url(), "fault-server-model").await;
    // 1280 × 800: the most common classroom projector resolution (WXGA).
    let b = Browser::start_sized(1280, 800).await;
    b.open(&server.url()).await;
    (faults, server, b)
}

/// The record on screen, as the app saved it on this device.
async fn saved_record(b: &Browser) -> RunRecord {
    let text = b.stored_run().await.expect("a saved run");
    RunRecord::from_json(&text).expect("the saved run reads back")
}

fn model_of(r: &RunRecord) -> Vec<f64> {
    match &r.result {
        Some(RunResult::Distribution(d)) => d.distribution.clone(),
        other => panic!("no distributional result: {other:?}"),
    }
}

/// The legend entries and the distinct bar series of the result's chart.
async fn chart_series(b: &Browser) -> (Vec<String>, Vec<String>) {
    let v = b
        .js("[[...document.querySelectorAll('#result .dist-chart figcaption .legend')].map(e => e.textContent.replace('■', '').trim()), \
             [...new Set([...document.querySelectorAll('#result .dist-chart rect[data-series]')].map(r => r.dataset.series))]]")
        .await;
    let list = |x: &serde_json::Value| -> Vec<String> {
        x.as_array().map(|a| a.iter().filter_map(|s| s.as_str().map(String::from)).collect()).unwrap_or_default()
    };
    (list(&v[0]), list(&v[1]))
}

/// The shown distances equal the engine's, computed here from the saved record (and, for model ↔
/// class, from the metric itself on the typed votes).
async fn assert_scores(b: &Browser, votes: &[f64]) -> PollScores {
    let rec = saved_record(b).await;
    let s = scores(&rec).expect("the saved run has its class poll");
    let model_class = js_distance(&model_of(&rec), votes);
    assert_eq!(s.model_class, Some(model_class), "engine poll score vs metric");
    assert_eq!(b.text("#js-class").await, format!("{model_class:.4}"), "JS model ↔ class shown");
    match s.model_survey {
        Some(v) => assert_eq!(b.text("#js-survey").await, format!("{v:.4}"), "JS model ↔ survey shown"),
        None => assert_eq!(b.count("#js-survey").await, 0, "no survey, no model ↔ survey line"),
    }
    s
}

/// Type the votes (one text per option) and press "Use these votes".
async fn type_votes(b: &Browser, votes: &[&str]) {
    for (i, v) in votes.iter().enumerate() {
        let css = format!("#poll-{i}");
        if v.is_empty() {
            // Select what is there and delete it, as a user would.
            let el = b.wait_for(&css, Duration::from_secs(10)).await;
            b.js(&format!("(document.querySelector({css:?}).focus(), document.querySelector({css:?}).select(), true)")).await;
            el.send_keys("\u{E003}").await.expect("backspace");
            assert_eq!(b.js(&format!("document.querySelector({css:?}).value")).await.as_str(), Some(""));
        } else {
            b.type_into(&css, v).await;
        }
    }
    b.click("#poll-use").await;
}

/// Every visible text element of the page in projector mode: its rendered font size (an SVG
/// label's computed size times the chart's scale on screen). Returns the checked count per
/// region and the elements below the minima.
const FONT_AUDIT: &str = r#"
const [bodyMin, textMin] = arguments;
const small = '.small, small, table, .card dl, .item-attr, .item-id, .state-badge, .chart, pre, .template-editor, .attribution, .visually-hidden';
const bodySel = 'p, li, label, button, input, select, textarea, summary, legend, h1, h2, h3, h4';
const region = el => {
  const r = el.closest('#result, .class-poll, .panel, .app-header, .status-line, .attribution');
  return !r ? 'other' : r.id === 'result' ? 'result' : r.classList.contains('panel') ? [...r.classList].join(' ') : r.classList[0];
};
const shown = el => {
  if (el.closest('.visually-hidden')) return false;
  const r = el.getBoundingClientRect();
  if (r.width < 2 || r.height < 2) return false;
  const cs = getComputedStyle(el);
  return cs.visibility === 'visible' && cs.display !== 'none' && parseFloat(cs.opacity) > 0;
};
const px = el => {
  let s = parseFloat(getComputedStyle(el).fontSize);
  if (el instanceof SVGElement) { const m = el.getScreenCTM(); s *= Math.hypot(m.a, m.b); }
  return s;
};
const els = new Set();
const w = document.createTreeWalker(document.querySelector('.app'), NodeFilter.SHOW_TEXT);
while (w.nextNode()) { if (w.currentNode.textContent.trim() && w.currentNode.parentElement) els.add(w.currentNode.parentElement); }
// Controls show text of their own (a check box or radio button shows none: its label does).
document.querySelectorAll('.app input:not([type=checkbox]):not([type=radio]), .app select, .app textarea').forEach(e => els.add(e));
const out = {app: parseFloat(getComputedStyle(document.querySelector('.app')).fontSize), checked: {}, min: {}, low: []};
for (const el of els) {
  if (!shown(el)) continue;
  const size = px(el), where = region(el);
  const isBody = el.matches(bodySel) && !el.closest(small);
  out.checked[where] = (out.checked[where] || 0) + 1;
  out.min[where] = Math.min(out.min[where] || 1e9, Math.round(size * 10) / 10);
  if (size < textMin - 0.01 || (isBody && size < bodyMin - 0.01)) {
    out.low.push(`${where}: <${el.tagName.toLowerCase()} class="${el.getAttribute('class') || ''}" id="${el.id}"> ${size.toFixed(1)}px ${isBody ? '(body)' : ''} "${(el.textContent || el.value || '').trim().slice(0, 40)}"`);
  }
}
return out;
"#;

async fn assert_projector_fonts(b: &Browser, state: &str) {
    let r = b
        .client
        .execute(FONT_AUDIT, vec![serde_json::json!(BODY_MIN_PX), serde_json::json!(TEXT_MIN_PX)])
        .await
        .expect("font audit");
    println!("projector fonts, {state}: base {} px; visible text elements per region: {}; smallest per region (px): {}", r["app"], r["checked"], r["min"]);
    assert!(r["app"].as_f64().unwrap_or(0.0) >= BODY_MIN_PX, "projector base size: {r}");
    for region in ["result", "class-poll", "panel scenario", "panel model", "panel run", "app-header", "status-line", "attribution"] {
        assert!(r["checked"][region].as_u64().unwrap_or(0) > 0, "no visible text checked in {region}: {r}");
    }
    let low: Vec<&str> = r["low"].as_array().map(|a| a.iter().filter_map(|x| x.as_str()).collect()).unwrap_or_default();
    assert!(low.is_empty(), "text below the projector minima ({BODY_MIN_PX} px body, {TEXT_MIN_PX} px any) in {state}:\n  {}", low.join("\n  "));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_class_poll_on_an_own_question_is_charted_scored_kept_and_shared() {
    if !enabled() {
        return;
    }
    let (_f, _s, b) = start().await;
    let sel = b.wait_for("#file-select", Duration::from_secs(10)).await;
    sel.select_by_value("custom").await.expect("write your own");
    b.type_into("#custom-question", "Should the school nurse tell parents when a 15-year-old asks for contraception?").await;
    for (i, o) in ["Always tell the parents", "Never without the student's consent", "Only if there is a risk of harm"].iter().enumerate() {
        b.type_into(&format!("#custom-opt-{i}"), o).await;
    }
    b.click("#custom-use").await;
    b.wait_for("#poll-0", Duration::from_secs(10)).await;

    // Validation: clear messages, nothing set.
    type_votes(&b, &["4", "2.5", ""]).await;
    let err = b.text("#poll-error").await;
    assert!(err.contains("option B") && err.contains("whole number"), "{err}");
    type_votes(&b, &["0", "", "-3"]).await;
    let err = b.text("#poll-error").await;
    assert!(err.contains("option C") && err.contains("negative"), "{err}");
    type_votes(&b, &["0", "0", ""]).await;
    assert!(b.text("#poll-error").await.contains("at least one vote"));
    assert!(b.text("#poll-status").await.contains("No class votes"));

    type_votes(&b, &["6", "17", "5"]).await;
    assert_eq!(b.count("#poll-error").await, 0, "the error goes once the votes are fine");
    assert!(b.text("#poll-status").await.contains("Class (28 votes)"));
    b.type_into("#k", "3").await;
    b.run_and_wait("#js-class", WAIT).await;

    let (legend, series) = chart_series(&b).await;
    assert_eq!(legend, ["model", "Class (28 votes)"], "legend of a question without survey data");
    assert_eq!(series, legend, "one bar series per legend entry");
    let votes = [6.0, 17.0, 5.0];
    let s = assert_scores(&b, &votes).await;
    assert_eq!((s.model_survey, s.class_survey), (None, None));
    let js = b.text("#js-class").await;
    let table = b.text("#result .dist-table").await;
    assert!(table.contains("Class (28 votes)") && table.contains("60.7%"), "the class's shares in the table: {table}");
    b.screenshot_at("#result", "class-poll-own-question").await;

    // Reload: the run, its poll and the form's votes come back.
    b.client.refresh().await.expect("reload");
    b.wait_for("#js-class", WAIT).await;
    assert_eq!(b.text("#js-class").await, js, "reload keeps the poll's score");
    assert_eq!(b.js("document.querySelector('#poll-1').value").await.as_str(), Some("17"), "reload keeps the votes typed");

    // Changing the votes after the run updates the run on screen (and its saved record).
    type_votes(&b, &["6", "17", "7"]).await;
    b.wait_js("document.querySelector('#result figcaption').textContent.includes('Class (30 votes)')", WAIT, "the chart to show 30 votes").await;
    assert_scores(&b, &[6.0, 17.0, 7.0]).await;
    let js = b.text("#js-class").await;

    // A share link opens the same view, poll included, in a fresh profile.
    b.click("#share-link").await;
    b.wait_js("document.querySelector('#share-url') && document.querySelector('#share-url').value.includes('#r2=')", WAIT, "share url").await;
    let link = b.js("document.querySelector('#share-url').value").await.as_str().unwrap_or("").to_string();
    b.close().await;
    let fresh = Browser::start_sized(1280, 800).await;
    fresh.client.goto(&link).await.expect("open share link");
    fresh.wait_for("#js-class", WAIT).await;
    assert_eq!(fresh.text("#js-class").await, js, "the share link carries the poll and its score");
    assert_eq!(chart_series(&fresh).await.0, ["model", "Class (30 votes)"]);

    fresh.click("#projector").await;
    fresh.wait_for(".app.projector", Duration::from_secs(5)).await;
    assert_projector_fonts(&fresh, "own question with a class poll").await;
    fresh.screenshot_at("#result", "class-poll-own-question-projector").await;
    fresh.screenshot_at(".class-poll", "class-poll-form-projector").await;
    fresh.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_class_poll_on_a_survey_item_shows_class_model_and_survey() {
    if !enabled() {
        return;
    }
    let (_f, _s, b) = start().await;
    b.choose_file(GLOBALOPINION).await;
    b.pick_item(0).await;
    let n = b.count(".poll-row").await;
    assert!(n >= 2, "one vote box per option: {n}");
    let typed: Vec<String> = (0..n).map(|i| ((i * 7 + 3) % 11).to_string()).collect();
    let refs: Vec<&str> = typed.iter().map(String::as_str).collect();
    type_votes(&b, &refs).await;
    let total: u64 = typed.iter().map(|t| t.parse::<u64>().unwrap()).sum();
    b.type_into("#k", "3").await;
    b.run_and_wait("#js-class", WAIT).await;

    let (legend, series) = chart_series(&b).await;
    assert_eq!(legend, ["model".to_string(), format!("Class ({total} votes)"), "Survey population".into()]);
    assert_eq!(series, legend);
    let votes: Vec<f64> = typed.iter().map(|t| t.parse().unwrap()).collect();
    let s = assert_scores(&b, &votes).await;
    assert!(s.model_survey.is_some() && s.class_survey.is_some());
    assert_eq!(b.text("#js-class-survey").await, format!("{:.4}", s.class_survey.unwrap()));
    // The item's own JS distance (to the survey) is the poll's model ↔ survey.
    assert_eq!(b.text("#js-distance").await, b.text("#js-survey").await);
    let label = b.js("document.querySelector('#result svg.chart').getAttribute('aria-label')").await;
    assert!(label.as_str().unwrap_or("").contains(&format!("model, Class ({total} votes), Survey population")), "{label}");

    b.click("#projector").await;
    b.wait_for(".app.projector", Duration::from_secs(5)).await;
    assert_projector_fonts(&b, "survey item with a class poll").await;
    b.screenshot_at("#result", "class-poll-survey-projector").await;
    b.screenshot("class-poll-survey-projector-page").await;
    b.close().await;
}
