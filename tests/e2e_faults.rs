//! End-to-end runs in headless Chromium against the project's fault-injecting LLM server:
//! 429 then success, a bad key, a stream cut on one card while the others finish, and LLM text
//! that contains HTML (it must show as text and never execute).
mod support;
use ethos_testkit::{ChatCall, Fault, FaultServer, OkReply};
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

async fn start_with_faults() -> (FaultServer, StaticServer, Browser) {
    let faults = FaultServer::start().expect("fault server");
    faults.set_responder(responder);
    let server = app_pointing_at(&faults.base_url(), "fault-server-model").await;
    let b = Browser::start().await;
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
