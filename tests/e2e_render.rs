//! A streamed token re-renders only its own comment card. The test server drips one comment's
//! reply, one piece of text per release (the test decides when each token arrives); a
//! MutationObserver on the whole page records where the page changes while those tokens arrive.
mod support;
use ethos_testkit::{ChatCall, Fault, FaultServer};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use support::*;

fn is_comment(call: &ChatCall) -> bool {
    call.messages
        .iter()
        .any(|(_, t)| t.to_lowercase().contains("your perspective"))
}

/// Start recording, for every DOM mutation, where it happened: `card-N` inside comment card N,
/// else the changed element's tag, id and classes. Left out: what the run's periodic save
/// changes (at most every 500 ms, whatever the tokens do): the saved-runs list and the
/// `data-unsaved` count on the run panel. A save can land between two tokens.
const WATCH: &str = r#"(() => {
  window.__mut = [];
  const where = n => {
    const el = n.nodeType === 1 ? n : n.parentElement;
    if (!el) return '?';
    const card = el.closest('.comment-card');
    if (card) return 'card-' + card.dataset.index;
    return el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
      (typeof el.className === 'string' && el.className ? '.' + el.className.trim().split(/\s+/).join('.') : '');
  };
  const bySave = m => {
    const el = m.target.nodeType === 1 ? m.target : m.target.parentElement;
    if (m.type === 'attributes' && m.attributeName === 'data-unsaved') return true;
    return !!(el && el.closest('#saved-runs'));
  };
  window.__obs = new MutationObserver(list => { for (const m of list) if (!bySave(m)) window.__mut.push(where(m.target)); });
  window.__obs.observe(document.body, {subtree: true, childList: true, characterData: true, attributes: true});
  return true;
})()"#;

const STREAMING_TEXT: &str =
    "(document.querySelector('.comment-card[data-state=streaming] .llm-text[aria-busy]') || {textContent: ''}).textContent.length";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_token_re_renders_only_its_own_comment() {
    if !enabled() {
        return;
    }
    let server = FaultServer::start().expect("test LLM server");
    server.set_responder(|call| ethos_testkit::latency::ethos_reply(call));
    // The first comment call drips; every other call is answered at once.
    let taken = Arc::new(AtomicBool::new(false));
    let first = taken.clone();
    server.set_fault_rule(Some(Arc::new(move |call: &ChatCall| {
        (is_comment(call) && !first.swap(true, Ordering::SeqCst)).then_some(Fault::Drip)
    })));
    let app = app_pointing_at(&server.base_url(), "fault-server-model").await;
    let b = Browser::start().await;
    b.open(&app.url()).await;
    b.choose_file(MORALCHOICE).await;
    b.pick_item(0).await;
    b.type_into("#k", "3").await;
    b.click("#run").await;
    b.wait_js(
        "document.querySelectorAll('.comment-card[data-state=done]').length === 2 && document.querySelectorAll('.comment-card[data-state=streaming]').length === 1",
        Duration::from_secs(60),
        "two comments done and the dripped one streaming",
    )
    .await;
    let card = b
        .js("document.querySelector('.comment-card[data-state=streaming]').dataset.index")
        .await;
    let card = format!("card-{}", card.as_str().unwrap_or("?"));

    b.js(WATCH).await;
    let mut tokens = 0;
    let mut len = b.js(STREAMING_TEXT).await.as_u64().unwrap_or(0);
    // Token after token, each one on screen before the next is released; the last ones end
    // the reply, so stop a few tokens before.
    while tokens < 4 {
        server.release();
        b.wait_js(
            &format!("{STREAMING_TEXT} > {len}"),
            Duration::from_secs(30),
            "the released token on its card",
        )
        .await;
        len = b.js(STREAMING_TEXT).await.as_u64().unwrap_or(0);
        tokens += 1;
    }
    let seen = b
        .js("(() => { window.__obs.disconnect(); return window.__mut; })()")
        .await;
    let seen: Vec<String> = seen
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    assert!(
        seen.len() >= tokens,
        "each token changed its card: {seen:?}"
    );
    let elsewhere: Vec<&String> = seen.iter().filter(|w| **w != card).collect();
    assert!(
        elsewhere.is_empty(),
        "{tokens} streamed tokens changed the page outside {card}: {elsewhere:?}"
    );

    // Closing the page drops the held reply (the server stops at once).
    b.close().await;
}
