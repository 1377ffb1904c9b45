//! End-to-end runs in headless Chromium against the project's fault-injecting LLM server:
//! 429 then success, a bad key, a stream cut on one card while the others finish, and LLM text
//! that contains HTML (it must show as text and never execute), and regenerating one
//! perspective (a different stage-1 reply the second time).
mod support;
use ethos_testkit::{ChatCall, Fault, FaultServer, OkReply};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use support::*;

const XSS: &str = "<img src=x onerror=\"window.__xss=1\">";

/// Stage-aware replies, so a whole EthosAgents run works against the fault server.
fn responder(call: &ChatCall) -> OkReply {
    let prompt: String = call.messages.iter().map(|(_, t)| t.as_str()).collect::<Vec<_>>().join("\n");
    let lower = prompt.to_lowercase();
    let text = if lower.contains("contrasting ethical perspectives") {
        "#Patient Advocate: Autonomy, Deontology, Right to consent, Concern, Patient\n\
         #Hospital Manager: Efficiency, Utilitarianism, Duty to allocate, Calm, Administrator\n\
         #Family Carer: Care, Care ethics, Duty of loyalty, Anxiety, Relative\n"
            .to_string()
    } else if lower.contains("your perspective") {
        format!("A. {XSS} We should respect consent and must avoid harm.")
    } else if lower.contains("select one number") {
        "2".to_string()
    } else {
        "A".to_string()
    };
    OkReply { texts: vec![text], first_token_top: vec![("A".into(), 0.6), ("B".into(), 0.4)] }
}

/// `responder`, except that stage-1 calls get `replies` in turn (the last one repeats).
fn stage_one_in_turn(replies: &'static [&'static str]) -> impl Fn(&ChatCall) -> OkReply + Send + Sync {
    let made = AtomicUsize::new(0);
    move |call| {
        let mut reply = responder(call);
        let stage_one = call.messages.iter().any(|(_, t)| t.to_lowercase().contains("contrasting ethical perspectives"));
        if stage_one {
            let n = made.fetch_add(1, Ordering::SeqCst).min(replies.len() - 1);
            reply.texts = vec![replies[n].to_string()];
        }
        reply
    }
}

async fn start_with_faults() -> (FaultServer, StaticServer, Browser) {
    start_with_faults_sized(1280, 900).await
}

async fn start_with_faults_sized(width: u32, height: u32) -> (FaultServer, StaticServer, Browser) {
    let faults = FaultServer::start().expect("fault server");
    faults.set_responder(responder);
    let server = app_pointing_at(&faults.base_url(), "fault-server-model").await;
    let b = Browser::start_sized(width, height).await;
    b.open(&server.url()).await;
    b.choose_file(MORALCHOICE).await;
    b.pick_item(0).await;
    b.type_into("#k", "3").await;
    (faults, server, b)
}

fn chat_calls(f: &FaultServer) -> u64 {
    f.stats().by_path.get("/v1/chat/completions").copied().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn html_in_a_reply_renders_as_text() {
    if !enabled() {
        return;
    }
    let (_f, _s, b) = start_with_faults().await;
    b.run_and_wait("#js-distance", Duration::from_secs(60)).await;
    let xss = b.js("window.__xss === undefined").await;
    assert_eq!(xss.as_bool(), Some(true), "the onerror handler ran");
    assert_eq!(b.count(".comment-card img").await, 0, "an <img> element was created from LLM text");
    let card = b.text(".comment-card[data-state='done']").await;
    assert!(card.contains("<img src=x"), "the HTML shows as text: {card}");
    b.screenshot("xss-as-text").await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_then_success_finishes_the_run() {
    if !enabled() {
        return;
    }
    let (f, _s, b) = start_with_faults().await;
    b.type_into("#concurrency", "1").await;
    f.reset();
    // Stage 1 ok, then the first comment call is rate limited once (Retry-After: 1 s).
    f.script([Fault::Ok, Fault::TooManyRequests { retry_after_s: Some(1) }]);
    b.run_and_wait("#js-distance", Duration::from_secs(90)).await;
    assert_eq!(b.count(".comment-card[data-state='done']").await, 3);
    let stats = f.stats();
    assert_eq!(stats.fault("429-retry-after"), 1, "one 429 answered: {:?}", stats.by_fault);
    // 1 perspectives + 3 comments + 1 retry + 3 distribution reads.
    assert_eq!(chat_calls(&f), 8, "calls: {:?}", stats.by_fault);
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_key_gets_a_plain_message_and_no_retry() {
    if !enabled() {
        return;
    }
    let (f, _s, b) = start_with_faults().await;
    f.reset();
    f.script([Fault::Unauthorized]);
    b.click("#run").await;
    let err = b.wait_for("#run-error", Duration::from_secs(30)).await;
    let msg = err.text().await.unwrap_or_default();
    assert!(msg.contains("API key"), "plain message for 401: {msg}");
    assert_eq!(chat_calls(&f), 1, "401 is not retried");
    b.screenshot("fault-401").await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_stream_fails_its_card_and_the_others_finish() {
    if !enabled() {
        return;
    }
    let (f, _s, b) = start_with_faults().await;
    f.reset();
    // Every attempt of the second perspective's comment is cut mid-stream.
    f.set_fault_rule(Some(std::sync::Arc::new(|call: &ChatCall| {
        let prompt: String = call.messages.iter().map(|(_, t)| t.as_str()).collect();
        (prompt.contains("Your perspective") && prompt.contains("Hospital Manager")).then_some(Fault::Cut)
    })));
    b.click("#run").await;
    b.wait_for(".comment-card[data-state='error']", Duration::from_secs(60)).await;
    b.wait_js(
        "document.querySelectorAll(\".comment-card[data-state='done']\").length == 2",
        Duration::from_secs(60),
        "the other two comments finish",
    )
    .await;
    assert_eq!(f.stats().fault("cut"), 3, "a cut stream is retried twice, then fails its card");
    let card = b.text(".comment-card[data-state='error']").await;
    assert!(card.to_lowercase().contains("retry"), "the failed card offers Retry: {card}");
    b.screenshot("fault-stream-cut").await;
    // Retry the failed card: the server answers normally now, and the run can finish.
    f.set_fault_rule(None);
    b.click(".comment-card[data-state='error'] .retry").await;
    b.wait_js(
        "document.querySelectorAll(\".comment-card[data-state='done']\").length == 3",
        Duration::from_secs(60),
        "the retried comment finishes",
    )
    .await;
    b.close().await;
}

/// The first stage-1 reply (as `responder`'s), then one that repeats two names on the board
/// before a new one, then one with no perspective in it.
const STAGE_ONE: &[&str] = &[
    "#Patient Advocate: Autonomy, Deontology, Right to consent, Concern, Patient\n\
     #Hospital Manager: Efficiency, Utilitarianism, Duty to allocate, Calm, Administrator\n\
     #Family Carer: Care, Care ethics, Duty of loyalty, Anxiety, Relative\n",
    "#Patient Advocate: Autonomy, Deontology, Right to consent, Concern, Patient\n\
     #Hospital Manager: Efficiency, Utilitarianism, Duty to allocate, Calm, Administrator\n\
     #Ethics Officer: Justice, Principlism, Duty of fairness, Resolve, Ethics committee\n",
    "Sorry, I would rather not invent anything today.",
];

fn card(n: usize) -> String {
    format!(".perspective-card[data-index='{n}']")
}

/// The perspective names on the board, in order.
async fn card_names(b: &Browser) -> Vec<String> {
    let v = b.js("Array.from(document.querySelectorAll('.perspective-card h4')).map(h => h.textContent)").await;
    v.as_array().map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect()).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regenerating_one_perspective_replaces_it_and_reruns_what_depends_on_it() {
    if !enabled() {
        return;
    }
    let (f, _s, b) = start_with_faults().await;
    f.set_responder(stage_one_in_turn(STAGE_ONE));
    b.run_and_wait("#js-distance", Duration::from_secs(60)).await;
    // 1 perspectives + 3 comments + 3 distribution reads.
    let before = chat_calls(&f);
    assert_eq!(before, 7);
    assert_eq!(card_names(&b).await, ["1. Patient Advocate", "2. Hospital Manager", "3. Family Carer"]);
    assert_eq!(b.count(".regenerate-perspective").await, 3, "one Regenerate button per card");
    b.screenshot_at(".perspectives", "perspective-card-regenerate").await;

    // Regenerate card 2: its buttons (and every card's) are disabled while it runs.
    let button = format!("{} .regenerate-perspective", card(1));
    let disabled = b
        .js(&format!(
            "new Promise(r => {{ document.querySelector({button:?}).click(); setTimeout(() => r(document.querySelectorAll('.regenerate-perspective:disabled, .edit-perspective:disabled').length), 0); }})"
        ))
        .await;
    assert_eq!(disabled.as_u64(), Some(6), "Regenerate and Edit are disabled while a run is busy");
    b.wait_js(
        &format!("document.querySelector(\"{} h4\")?.textContent.includes('Ethics Officer') && document.querySelector('#js-distance') !== null && !document.querySelector('#run').disabled", card(1)),
        Duration::from_secs(60),
        "perspective 2 replaced and the result made again",
    )
    .await;
    assert_eq!(card_names(&b).await, ["1. Patient Advocate", "2. Ethics Officer", "3. Family Carer"]);
    assert_eq!(b.count("#run-error").await, 0);
    assert_eq!(b.count(".comment-card[data-state='done']").await, 3);
    // 1 stage-1 call, its comment only, then stage 3 again (3 reads).
    assert_eq!(chat_calls(&f), before + 5);
    // The call is in the Inspector like every other.
    b.click("#inspector > summary").await;
    b.wait_js(
        "Array.from(document.querySelectorAll('#inspector .call summary')).some(s => s.textContent.includes('perspective 2, regenerated'))",
        Duration::from_secs(10),
        "the regeneration call in the Inspector",
    )
    .await;
    let call = b.js("Array.from(document.querySelectorAll('#inspector .call')).find(c => c.querySelector('summary').textContent.includes('perspective 2, regenerated')).textContent").await;
    let call = call.as_str().unwrap_or_default();
    assert!(call.contains("contrasting ethical perspectives") && call.contains("#Ethics Officer"), "prompt and raw reply: {call}");
    b.screenshot_at(".perspectives", "perspective-card-regenerated").await;

    // From the keyboard, a reply with no perspective: a clear error, the card and result stay.
    let el = b.wait_for(&button, Duration::from_secs(10)).await;
    el.send_keys("\u{E007}").await.expect("press Enter on Regenerate");
    let err = b.wait_for("#run-error", Duration::from_secs(30)).await;
    b.wait_js("!document.querySelector('#run').disabled", Duration::from_secs(30), "the end of the run").await;
    let msg = err.text().await.unwrap_or_default();
    assert!(msg.contains("perspective 2 is unchanged"), "{msg}");
    assert_eq!(card_names(&b).await, ["1. Patient Advocate", "2. Ethics Officer", "3. Family Carer"]);
    assert_eq!(b.count("#js-distance").await, 1, "the result is kept");
    assert_eq!(chat_calls(&f), before + 6, "one call, nothing re-run");
    b.screenshot_at("#run-error", "perspective-regenerate-unreadable").await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_perspective_buttons_fit_at_320_px() {
    if !enabled() {
        return;
    }
    let (_f, _s, b) = start_with_faults_sized(320, 800).await;
    b.run_and_wait("#js-distance", Duration::from_secs(60)).await;
    let overflow = b.js("document.documentElement.scrollWidth - document.documentElement.clientWidth").await;
    assert!(overflow.as_i64().unwrap_or(999) <= 0, "horizontal overflow at 320 px: {overflow}");
    let outside = b
        .js("Array.from(document.querySelectorAll('.perspective-card')).filter(c => { const r = c.getBoundingClientRect(); return Array.from(c.querySelectorAll('button')).some(x => { const q = x.getBoundingClientRect(); return q.left < r.left || q.right > r.right; }); }).length")
        .await;
    assert_eq!(outside.as_u64(), Some(0), "a card's button sticks out of its card");
    b.screenshot_at(&card(0), "perspective-card-320").await;
    b.close().await;
}
