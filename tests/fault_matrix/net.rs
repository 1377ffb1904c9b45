//! Fault cases of the wire: HTTP statuses, unreachable servers, slow, cut and broken streams.

use super::*;
use crate::{card_case, case};
use std::sync::atomic::{AtomicU32, Ordering};

pub fn cases() -> Vec<Case> {
    vec![
        case!("400 logprobs refused: dropped, the run finishes", logprobs_refused),
        case!("400 seed refused: dropped, the run finishes", seed_refused),
        case!("400 temperature refused: dropped, the run finishes", temperature_refused),
        case!("400 with HTML/script/Markdown in the error body: shown as text", markup_error_body),
        case!("401 bad key: the run stops, no retry", bad_key),
        card_case!("403 forbidden: the card fails, Retry finishes", Fault::Forbidden, &["refused the request (HTTP 403)"]),
        case!("404 unknown model: the run stops", unknown_model),
        case!("408 request timeout: retried, then the card fails", request_timeout),
        card_case!("413 request too large: the card fails", Fault::PayloadTooLarge, &["HTTP 413"]),
        case!("429 without Retry-After: waited out, the run finishes", rate_limited_then_ok),
        card_case!("429 with Retry-After in seconds: gives up with a plain message", Fault::TooManyRequests { retry_after_s: Some(1) }, &["Rate limited (HTTP 429)"]),
        card_case!("429 with Retry-After as an HTTP date: gives up with a plain message", Fault::RetryAfterDate { s: 1 }, &["Rate limited (HTTP 429)"]),
        card_case!("500 server error: retried, then the card fails", Fault::InternalError, &["server had an error (HTTP 500)"]),
        case!("502 with an HTML page: not quoted", bad_gateway_html),
        case!("503 with an HTML page and a script: not quoted, never run", unavailable_html),
        case!("connection refused", connection_refused),
        case!("CORS refused (no Access-Control-Allow-Origin)", cors_refused),
        case!("DNS-like failure (a host name that does not resolve)", dns_failure),
        case!("slow first byte: the card waits, then finishes", slow_first_byte),
        case!("trickle: 3-byte writes split UTF-8 characters, text intact", trickle),
        card_case!("stream cut mid-event", Fault::Cut, &["ended early", "connection broke"]),
        card_case!("stream cut mid-token", Fault::CutMidToken, &["ended early", "connection broke"]),
        card_case!("stream cut inside a UTF-8 character", Fault::CutMidUtf8, &["ended early", "connection broke"]),
        card_case!("invalid JSON chunk", Fault::InvalidJson, &["could not be understood"]),
        card_case!("SSE error event mid-stream", Fault::SseError, &["server had an error"]),
        card_case!("empty choices", Fault::EmptyChoices, &["no text", "could not be understood"]),
        card_case!("stream without [DONE]", Fault::NoDone, &["without [DONE]"]),
        card_case!("10 MB reply", Fault::Huge { bytes: ethos_testkit::fault::DEFAULT_HUGE_BYTES }, &["longer than 4 MB"]),
        case!("a reply that never ends: Cancel keeps what finished", never_ends),
        case!("a reply that never ends: the call gives up after the time limit", never_ends_time_limit),
    ]
}

/// Every call that sends `param` is refused by name; the client drops it and the run finishes.
async fn parameter_refused(m: &Matrix, kind: &'static str, refuse: fn(&ChatCall) -> Option<Fault>) {
    m.fresh().await;
    m.f.set_fault_rule(Some(Arc::new(refuse)));
    let err = m.run().await;
    m.assert_finished(kind).await;
    assert!(err.is_none());
    assert!(m.f.stats().fault(kind) >= 1, "no call was refused: {:?}", m.f.stats().by_fault);
    m.assert_usable().await;
}

async fn logprobs_refused(m: Arc<Matrix>) {
    parameter_refused(&m, "400-logprobs", |c| c.logprobs.then_some(Fault::LogprobsUnsupported)).await;
    // The distribution is still there, and says how it was made.
    assert_plain("distribution method", &m.text(".dist-method").await, &["distribution method"]);
}

async fn seed_refused(m: Arc<Matrix>) {
    parameter_refused(&m, "400-seed", |c| c.seed.then_some(Fault::SeedUnsupported)).await;
}

async fn temperature_refused(m: Arc<Matrix>) {
    parameter_refused(&m, "400-temperature", |c| c.temperature.then_some(Fault::TemperatureUnsupported)).await;
}

async fn markup_error_body(m: Arc<Matrix>) {
    m.fresh().await;
    let msg = m.one_card_fails(Fault::MarkupError, &["HTTP 400"]).await;
    assert!(msg.contains("<script>") && msg.contains("**bold**"), "the markup shows as text: {msg}");
}

async fn bad_key(m: Arc<Matrix>) {
    m.fresh().await;
    m.run_fails(Fault::Unauthorized, &["API key"]).await;
}

async fn unknown_model(m: Arc<Matrix>) {
    m.fresh().await;
    m.run_fails(Fault::NotFound, &["Unknown model"]).await;
}

async fn request_timeout(m: Arc<Matrix>) {
    m.fresh().await;
    m.one_card_fails(Fault::RequestTimeout, &["timed out"]).await;
    // One try and two retries.
    assert_eq!(m.f.stats().fault("408"), 3);
}

async fn rate_limited_then_ok(m: Arc<Matrix>) {
    m.fresh().await;
    let seen = AtomicU32::new(0);
    // The Hospital Manager's comment is refused twice, then answered.
    m.f.set_fault_rule(Some(Arc::new(move |call: &ChatCall| {
        (is_comment_of(call, "Hospital Manager") && seen.fetch_add(1, Ordering::SeqCst) < 2).then_some(Fault::TooManyRequests { retry_after_s: None })
    })));
    let err = m.run().await;
    assert!(err.is_none(), "{err:?}");
    m.assert_finished("429 then ok").await;
    assert_eq!(m.f.stats().fault("429"), 2);
}

async fn bad_gateway_html(m: Arc<Matrix>) {
    m.fresh().await;
    let msg = m.one_card_fails(Fault::BadGateway, &["HTTP 502"]).await;
    assert!(!msg.contains('<'), "HTML quoted: {msg}");
}

async fn unavailable_html(m: Arc<Matrix>) {
    m.fresh().await;
    let msg = m.one_card_fails(Fault::UnavailableHtml, &["HTTP 503"]).await;
    assert!(!msg.contains('<'), "HTML quoted: {msg}");
}

/// Point the app at `base_url` as a user would (panel 2), run, read the message; then put the
/// right URL back and run again.
async fn unreachable(m: &Matrix, base_url: &str, words: &[&str]) {
    m.fresh().await;
    m.b.type_into("#base-url", base_url).await;
    let err = m.run().await.unwrap_or_default();
    assert_plain(&format!("the run against {base_url}"), &err, words);
    m.b.type_into("#base-url", &m.f.base_url()).await;
    m.assert_usable().await;
}

async fn connection_refused(m: Arc<Matrix>) {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port");
    unreachable(&m, &format!("http://{closed}/v1"), &["not running or not listening"]).await;
}

async fn cors_refused(m: Arc<Matrix>) {
    m.fresh().await;
    m.run_fails(Fault::NoCors, &["CORS"]).await;
}

async fn dns_failure(m: Arc<Matrix>) {
    unreachable(&m, "http://no-such-host.invalid/v1", &["Check the base URL"]).await;
}

async fn slow_first_byte(m: Arc<Matrix>) {
    m.fresh().await;
    m.f.set_fault_rule(Some(Arc::new(|call: &ChatCall| is_comment_of(call, "Hospital Manager").then_some(Fault::Hold))));
    m.click_run().await;
    m.wait_cards("done", 2).await;
    m.wait_server("hold", 1).await;
    // Still waiting: the card says so, Run is disabled, Cancel is offered.
    assert_eq!(m.count(".comment-card[data-state='streaming']").await, 1);
    assert_eq!(m.b.js("document.querySelector('#cancel').disabled").await, false);
    m.f.release();
    m.assert_finished("after the first byte").await;
}

async fn trickle(m: Arc<Matrix>) {
    m.fresh().await;
    m.f.set_fault_rule(Some(Arc::new(|call: &ChatCall| is_comment_of(call, "Hospital Manager").then_some(Fault::Trickle { ms: 1 }))));
    m.run().await;
    m.assert_finished("a trickled reply").await;
    let card = m.text(".comment-card[data-index='1'] p.llm-text").await;
    assert!(card.contains("café, naïve, 患者") && card.contains('😀'), "text mangled: {card}");
}

/// The same reply with a 3 s limit per call (panel 2): the call gives up by itself, is retried
/// as a network failure, and then the card fails with a message naming the limit. (The other
/// calls are answered at once; 3 s leaves room for a busy machine.)
async fn never_ends_time_limit(m: Arc<Matrix>) {
    m.fresh().await;
    m.b.type_into("#call-timeout", "3").await;
    m.one_card_fails(Fault::Stall, &["no complete reply within 3 s"]).await;
}

async fn never_ends(m: Arc<Matrix>) {
    m.fresh().await;
    m.f.set_fault_rule(Some(Arc::new(|call: &ChatCall| is_comment_of(call, "Hospital Manager").then_some(Fault::Stall))));
    m.click_run().await;
    m.wait_cards("done", 2).await;
    // Some text of the stalled reply is on screen.
    m.b.wait_js("(document.querySelector(\".comment-card[data-state='streaming'] p.llm-text\") || {}).textContent", WAIT, "the stalled card's first text").await;
    m.b.click("#cancel").await;
    m.wait_idle().await;
    assert_plain("the status after Cancel", &m.text("#status").await, &["Cancelled"]);
    assert_eq!(m.count(".comment-card[data-state='done']").await, 2, "what finished is kept");
    m.f.set_fault_rule(None);
    m.b.click(".comment-card[data-state='error'] .retry").await;
    m.b.wait_js("document.querySelector('#js-distance') !== null", WAIT, "the result after Retry").await;
    m.assert_finished("after Cancel and Retry").await;
}
