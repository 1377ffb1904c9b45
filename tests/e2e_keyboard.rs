//! Keyboard-only walkthrough of the whole flow: choose the scenario file, pick an item, type the
//! class poll's votes, set k, Run, read the result, open the inspector, export — with only Tab,
//! Shift+Tab, Enter, Space, the arrow keys and digits, sent as WebDriver key actions to whatever
//! has focus. At every step the focused
//! control must show a focus ring; a full Tab pass must reach every visible, enabled control in
//! document order, and Shift+Tab must walk back the same way.
mod support;
use ethos_testkit::FaultServer;
use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use std::time::Duration;
use support::*;

const TAB: char = '\u{e004}';
const SHIFT: char = '\u{e008}';
const ENTER: char = '\u{e007}';
const SPACE: char = '\u{e00d}';
const DOWN: char = '\u{e015}';
const UP: char = '\u{e013}';

/// Every control a keyboard user must reach, in document order: visible, enabled, not taken out
/// of the Tab order; of a radio group only its checked radio (the arrow keys move inside the
/// group). A control's number is its place in this list, computed afresh at every step: a part of
/// the page that re-renders the same controls (the saved-runs list after a save) keeps their
/// numbers, where marks on the elements would be lost with the old elements.
const CONTROLS: &str = "[...document.querySelectorAll('a[href], button, input, select, textarea, summary, [tabindex]')] \
      .filter(e => e.tabIndex >= 0 && !e.disabled && e.checkVisibility() && e.getClientRects().length > 0) \
      .filter(e => !(e.type === 'radio' && e.name && !e.checked && document.querySelector(`input[type=radio][name=\"${e.name}\"]:checked`)))";

/// How many controls there are.
fn count_controls() -> String {
    format!("({CONTROLS}).length")
}

/// The focused element: its number, a description, and whether a focus ring shows.
fn focused() -> String {
    format!(
        "(() => {{ const e = document.activeElement; \
    if (!e || e === document.body) return {{n: -1, what: 'body', ring: false}}; \
    const s = getComputedStyle(e); \
    const ring = (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2) || s.boxShadow !== 'none'; \
    const r = e.getBoundingClientRect(); \
    return {{n: ({CONTROLS}).indexOf(e), \
      what: e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.className && typeof e.className === 'string' ? '.' + e.className.split(' ')[0] : ''), \
      ring: ring && e.matches(':focus-visible'), onscreen: r.width > 0 && r.height > 0}}; }})()"
    )
}

struct Focus {
    n: i64,
    what: String,
}

async fn press(b: &Browser, keys: &[char]) {
    let mut seq = KeyActions::new("keyboard".into());
    for &k in keys {
        seq = seq.then(KeyAction::Down { value: k });
    }
    for &k in keys.iter().rev() {
        seq = seq.then(KeyAction::Up { value: k });
    }
    b.client.perform_actions(seq).await.expect("key action");
}

/// Press `keys`, then check the newly focused control shows a focus ring.
async fn step(b: &Browser, keys: &[char]) -> Focus {
    press(b, keys).await;
    let f = b.js(&focused()).await;
    let focus = Focus { n: f["n"].as_i64().unwrap_or(-1), what: f["what"].as_str().unwrap_or("").to_string() };
    if focus.what != "body" {
        assert!(f["ring"].as_bool() == Some(true), "no visible focus ring on {}", focus.what);
        assert!(f["onscreen"].as_bool() == Some(true), "{} has focus but no box", focus.what);
    }
    focus
}

/// Tab forward until the focused element matches `css` (at most `max` presses).
async fn tab_to(b: &Browser, css: &str, max: usize) {
    for _ in 0..max {
        step(b, &[TAB]).await;
        if b.js(&format!("document.activeElement.matches({css:?})")).await.as_bool() == Some(true) {
            return;
        }
    }
    b.screenshot(&format!("keyboard-{}", css.replace(|c: char| !c.is_ascii_alphanumeric(), "_"))).await;
    panic!("{max} Tab presses never reached {css}");
}

/// Move the sequential focus starting point to the top of the page (as a reload would): a
/// throwaway element before everything takes focus, so the next Tab goes to the first control.
async fn to_top(b: &Browser) {
    b.js("(() => { const t = document.createElement('span'); t.tabIndex = -1; t.id = 'kbd-top'; document.body.prepend(t); t.focus(); t.addEventListener('blur', () => t.remove()); window.scrollTo(0, 0); return true; })()").await;
}

/// From the top of the page, Tab until every numbered control has had focus: each in document
/// order; then Shift+Tab must come back through the same controls in reverse.
async fn full_pass(b: &Browser, state: &str) {
    let total = b.js(&count_controls()).await.as_i64().unwrap_or(0);
    assert!(total > 5, "{state}: only {total} controls");
    to_top(b).await;
    let mut seen: Vec<i64> = Vec::new();
    let mut path: Vec<String> = Vec::new();
    for _ in 0..(total as usize + 10) {
        let f = step(b, &[TAB]).await;
        if f.n >= 0 && !seen.contains(&f.n) {
            seen.push(f.n);
        }
        path.push(format!("{}:{}", f.n, f.what));
        if seen.len() as i64 == total {
            break;
        }
    }
    let missed: Vec<i64> = (0..total).filter(|n| !seen.contains(n)).collect();
    let names = b.js(&format!("(() => {{ const all = {CONTROLS}; return {missed:?}.map(n => (all[n] || {{outerHTML: '(gone)'}}).outerHTML.slice(0, 120)); }})()")).await;
    assert!(missed.is_empty(), "{state}: Tab never reached {} of {total} controls: {names}", missed.len());
    assert!(seen.windows(2).all(|w| w[0] < w[1]) && path.len() == seen.len(), "{state}: the Tab order leaves document order: {path:?}");
    // Back from the last control to the first.
    let mut back = vec![*seen.last().unwrap_or(&0)];
    while back.len() < seen.len() {
        back.push(step(b, &[SHIFT, TAB]).await.n);
    }
    back.reverse();
    assert_eq!(back, seen, "{state}: Shift+Tab does not retrace the Tab order");
    println!("keyboard {state}: {total} controls, all reached in document order (Tab and Shift+Tab), each with a visible focus ring");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_flow_works_with_the_keyboard_alone() {
    if !enabled() {
        return;
    }
    let faults = FaultServer::start().expect("fault server");
    faults.set_responder(staged_reply);
    let server = app_pointing_at(&faults.base_url(), "fault-server-model").await;
    let b = Browser::start().await;
    b.open(&server.url()).await;
    b.wait_for(".item-row", Duration::from_secs(30)).await;
    // The offline copy settled first: its footer button appears once the copy is complete, and
    // the passes count the controls on screen.
    b.wait_for("#offline-status[data-state='ready']", Duration::from_secs(120)).await;

    // The skip link comes first.
    to_top(&b).await;
    let first = step(&b, &[TAB]).await;
    assert_eq!(first.what, "a.skip-link", "the first Tab stop");
    full_pass(&b, "home").await;

    // Choose the file with the arrow keys.
    to_top(&b).await;
    tab_to(&b, "#file-select", 40).await;
    let options = b.js("document.querySelector('#file-select').options.length").await.as_u64().unwrap_or(0);
    for _ in 0..options {
        if b.js(&format!("document.querySelector('#file-select').value === {MORALCHOICE:?}")).await.as_bool() == Some(true) {
            break;
        }
        let at_end = b.js("document.querySelector('#file-select').selectedIndex === document.querySelector('#file-select').options.length - 1").await;
        step(&b, &[if at_end.as_bool() == Some(true) { UP } else { DOWN }]).await;
    }
    let got = b.js("[document.querySelector('#file-select').value, document.querySelector('#file-select').selectedIndex]").await;
    assert_eq!(got[0].as_str(), Some(MORALCHOICE), "the arrow keys chose the file: {got}");
    b.wait_for(".item-row", Duration::from_secs(30)).await;

    // Pick the first item with Enter.
    tab_to(&b, ".item-row", 40).await;
    step(&b, &[ENTER]).await;
    b.wait_for("#selected-item", Duration::from_secs(10)).await;
    full_pass(&b, "item picked").await;

    // The class poll: type the votes, then "Use these votes" with Enter.
    tab_to(&b, "#poll-0", 200).await;
    step(&b, &['8']).await;
    tab_to(&b, "#poll-1", 5).await;
    step(&b, &['4']).await;
    tab_to(&b, "#poll-use", 5).await;
    step(&b, &[ENTER]).await;
    b.wait_js("document.querySelector('#poll-status').textContent.includes('Class (12 votes)')", Duration::from_secs(5), "the poll set with the keyboard").await;

    // k = 3 with the arrow keys, then Run with Enter.
    to_top(&b).await;
    tab_to(&b, "#k", 200).await;
    for _ in 0..40 {
        let k = b.js("Number(document.querySelector('#k').value)").await.as_i64().unwrap_or(0);
        if k == 3 {
            break;
        }
        step(&b, &[if k > 3 { DOWN } else { UP }]).await;
    }
    assert_eq!(b.js("document.querySelector('#k').value").await.as_str(), Some("3"), "k set with the arrow keys");
    tab_to(&b, "#run", 200).await;
    step(&b, &[ENTER]).await;
    b.wait_for("#js-distance", Duration::from_secs(60)).await;
    assert_eq!(b.count("#js-class").await, 1, "the run carries the class poll");
    full_pass(&b, "result").await;

    // Open the inspector with Space, then export the run as JSON with Enter.
    to_top(&b).await;
    tab_to(&b, "#inspector > summary", 300).await;
    step(&b, &[SPACE]).await;
    b.wait_js("document.querySelector('#inspector').open", Duration::from_secs(5), "the inspector opened with Space").await;
    // Its calls render once it is open: count the controls after they are there.
    b.wait_js("document.querySelectorAll('#inspector details.call').length > 0", Duration::from_secs(10), "the inspector's calls").await;
    full_pass(&b, "inspector open").await;
    to_top(&b).await;
    tab_to(&b, "#export-json", 400).await;
    step(&b, &[ENTER]).await;
    let file = b.wait_download(".json", Duration::from_secs(20)).await;
    let text = std::fs::read_to_string(&file).expect("read the export");
    assert!(text.contains("Surgeon") && text.contains("Care ethics"), "the export has the run's perspectives: {} bytes", text.len());
    b.close().await;
}
