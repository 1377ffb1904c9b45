//! WebTransport under Node (`wasm-bindgen-test-runner`), with `globalThis.fetch` replaced by a
//! stub that serves recorded bytes as a ReadableStream and records what it was asked and
//! whether the request was aborted. Run with:
//! `CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner cargo test -p ethos-providers --target wasm32-unknown-unknown --test web`
#![cfg(target_arch = "wasm32")]

use ethos_engine::{ChatError, ChatModel, ChatRequest, Message};
use ethos_providers::web::WebTransport;
use ethos_providers::{preset, Client, HttpRequest, RetryPolicy, Transport};
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::wasm_bindgen_test;

#[wasm_bindgen(inline_js = r#"
export function install_fetch_stub(status, chunks, mode) {
  const log = { calls: 0, aborted: false, url: null, method: null, body: null, headers: null };
  globalThis.__fetchLog = log;
  globalThis.fetch = (url, init) => {
    log.calls++;
    log.url = url;
    log.method = init.method;
    log.body = init.body;
    log.headers = JSON.stringify(Object.fromEntries(init.headers.entries()));
    if (mode === 'typeerror') return Promise.reject(new TypeError('Failed to fetch'));
    if (mode === 'notanerror') return Promise.reject('blocked by an extension');
    init.signal.addEventListener('abort', () => { log.aborted = true; });
    let i = 0;
    const stream = new ReadableStream({
      pull(controller) {
        if (i < chunks.length) { controller.enqueue(chunks[i++]); return; }
        if (mode === 'hang') return new Promise(() => {});
        if (mode === 'whole-cut') { controller.error(new TypeError('network error')); return; }
        controller.close();
      }
    });
    const headers = { 'retry-after': '3' };
    // 'whole…': a reply that states its length (as a non-streamed JSON reply does); 'sse-length':
    // an event stream that states one too.
    const length = chunks.reduce((n, c) => n + c.length, 0) + (mode === 'whole-cut' ? 10 : 0);
    if (mode.startsWith('whole')) { headers['content-type'] = 'application/json'; headers['content-length'] = String(length); }
    if (mode === 'sse-length') { headers['content-type'] = 'text/event-stream'; headers['content-length'] = String(length); }
    return Promise.resolve(new Response(stream, { status, headers }));
  };
}
export function fetch_log(field) { return globalThis.__fetchLog[field]; }
export function install_timer_log() {
  if (globalThis.__timers) return;
  const live = new Set();
  const set = globalThis.setTimeout, clear = globalThis.clearTimeout;
  globalThis.__timers = live;
  globalThis.setTimeout = (f, ms, ...rest) => {
    const id = set((...a) => { live.delete(id); f(...a); }, ms, ...rest);
    live.add(id);
    return id;
  };
  globalThis.clearTimeout = (id) => { live.delete(id); clear(id); };
}
export function live_timers() { return globalThis.__timers.size; }
"#)]
extern "C" {
    fn install_fetch_stub(status: u16, chunks: &js_sys::Array, mode: &str);
    fn fetch_log(field: &str) -> JsValue;
    fn install_timer_log();
    fn live_timers() -> u32;
}

const OFFICIAL: &[u8] = include_bytes!("fixtures/openai_official_stream.sse");
const ANTHROPIC: &[u8] = include_bytes!("fixtures/anthropic_stream.sse");

fn stub(status: u16, body: &[u8], chunk: usize, mode: &str) {
    let chunks = js_sys::Array::new();
    for c in body.chunks(chunk.max(1)) {
        chunks.push(&js_sys::Uint8Array::from(c));
    }
    install_fetch_stub(status, &chunks, mode);
}

fn req() -> ChatRequest {
    ChatRequest::new(
        "m",
        vec![Message::system("s"), Message::user("Which?")],
        0.0,
        8,
    )
}

#[wasm_bindgen_test]
async fn streams_a_recorded_reply_through_the_client() {
    stub(200, OFFICIAL, 7, "");
    let ep = preset("openai")
        .unwrap()
        .endpoint(Some("sk-test-key".into()));
    let c = Client::new(ep.clone(), WebTransport::for_endpoint(&ep));
    let mut deltas = Vec::new();
    let r = c
        .chat(&req(), &mut |d| deltas.push(d.to_string()))
        .await
        .unwrap();
    assert_eq!(r.text, "Because");
    assert_eq!(deltas, vec!["B", "ecause"]);
    assert_eq!(r.first_token_top_logprobs.map(|l| l.len()), Some(3));
    assert_eq!(
        fetch_log("url").as_string().unwrap(),
        "https://api.openai.com/v1/chat/completions"
    );
    assert_eq!(fetch_log("method").as_string().unwrap(), "POST");
    let headers = fetch_log("headers").as_string().unwrap();
    assert!(
        headers.contains("\"authorization\":\"Bearer sk-test-key\""),
        "{headers}"
    );
    let body: serde_json::Value =
        serde_json::from_str(&fetch_log("body").as_string().unwrap()).unwrap();
    assert_eq!(body["stream"], true);
    assert_eq!(fetch_log("aborted"), JsValue::FALSE);
}

#[wasm_bindgen_test]
async fn anthropic_byte_by_byte() {
    stub(200, ANTHROPIC, 1, "");
    let ep = preset("anthropic").unwrap().endpoint(Some("k".into()));
    let c = Client::new(ep.clone(), WebTransport::for_endpoint(&ep));
    let r = c.chat(&req(), &mut |_| {}).await.unwrap();
    assert!(r.text.starts_with("Autonomy matters — naïve café ✓ 😀"));
    let headers = fetch_log("headers").as_string().unwrap();
    assert!(
        headers.contains("\"anthropic-dangerous-direct-browser-access\":\"true\""),
        "{headers}"
    );
}

#[wasm_bindgen_test]
async fn error_status_body_and_retry_after_reach_the_caller() {
    stub(429, br#"{"error":{"message":"slow down"}}"#, 5, "");
    let t = WebTransport::new();
    let mut body = Vec::new();
    let req = HttpRequest {
        method: "GET".into(),
        url: "http://localhost:1/x".into(),
        headers: vec![],
        body: None,
    };
    let st = t
        .send(req, &mut |b| {
            body.extend_from_slice(b);
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(st.status, 429);
    assert_eq!(st.retry_after.as_deref(), Some("3"));
    assert_eq!(body, br#"{"error":{"message":"slow down"}}"#);
}

#[wasm_bindgen_test]
async fn type_error_becomes_a_diagnosis() {
    stub(200, b"", 1, "typeerror");
    let ep = preset("ollama").unwrap().endpoint(None);
    let c =
        Client::new(ep.clone(), WebTransport::for_endpoint(&ep)).with_policy(RetryPolicy::none());
    match c.chat(&req(), &mut |_| {}).await {
        Err(ChatError::Network(m)) => {
            assert!(m.starts_with("Could not reach Ollama"), "{m}");
            assert!(m.contains("OLLAMA_ORIGINS"), "{m}");
        }
        other => panic!("{other:?}"),
    }
}

#[wasm_bindgen_test]
async fn a_rejection_that_is_not_an_error_is_a_diagnosis_not_a_crash() {
    // A browser extension or a patched fetch may reject with anything (gloo-net 0.6 panics here).
    stub(200, b"", 1, "notanerror");
    let ep = preset("ollama").unwrap().endpoint(None);
    let c =
        Client::new(ep.clone(), WebTransport::for_endpoint(&ep)).with_policy(RetryPolicy::none());
    match c.chat(&req(), &mut |_| {}).await {
        Err(ChatError::Network(m)) => assert!(m.starts_with("Could not reach Ollama"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[wasm_bindgen_test]
async fn a_key_that_is_not_a_byte_string_is_refused_with_a_message() {
    stub(200, OFFICIAL, 64, "");
    let ep = preset("openai").unwrap().endpoint(Some("sk-\u{20ac}pasted".into()));
    let c =
        Client::new(ep.clone(), WebTransport::for_endpoint(&ep)).with_policy(RetryPolicy::none());
    match c.chat(&req(), &mut |_| {}).await {
        Err(ChatError::Other(m)) => {
            assert!(m.contains("refused the request header"), "{m}");
            assert!(!m.contains("pasted"), "the key is never quoted: {m}");
        }
        other => panic!("{other:?}"),
    }
}

#[wasm_bindgen_test]
async fn dropping_the_request_aborts_the_fetch() {
    stub(200, &OFFICIAL[..100], 10, "hang");
    let ep = preset("openai").unwrap().endpoint(Some("k".into()));
    let c = Client::new(ep.clone(), WebTransport::for_endpoint(&ep))
        .with_policy(RetryPolicy::none())
        .with_timeout_ms(Some(30));
    let res = c.chat(&req(), &mut |_| {}).await;
    assert!(matches!(res, Err(ChatError::Timeout(_))), "{res:?}");
    assert_eq!(
        fetch_log("aborted"),
        JsValue::TRUE,
        "the timed-out fetch was aborted"
    );
}

#[wasm_bindgen_test]
async fn a_failing_chunk_handler_aborts_and_returns_its_error() {
    stub(200, OFFICIAL, 10, "hang");
    let t = WebTransport::new();
    let req = HttpRequest {
        method: "GET".into(),
        url: "http://localhost:1/x".into(),
        headers: vec![],
        body: None,
    };
    let mut seen = 0;
    let res = t
        .send(req, &mut |_| {
            seen += 1;
            if seen == 3 {
                Err(ChatError::Malformed("stop".into()))
            } else {
                Ok(())
            }
        })
        .await;
    assert_eq!(res, Err(ChatError::Malformed("stop".into())));
    assert_eq!(seen, 3);
    assert_eq!(fetch_log("aborted"), JsValue::TRUE);
}

#[wasm_bindgen_test]
async fn a_dropped_retry_wait_clears_its_timer() {
    install_timer_log();
    let t = WebTransport::new();
    let before = live_timers();
    let mut wait = Box::pin(t.sleep(60_000));
    assert!(futures::poll!(wait.as_mut()).is_pending());
    assert_eq!(live_timers(), before + 1, "the wait set a timer");
    drop(wait);
    assert_eq!(live_timers(), before, "dropping the wait cleared it");
}

#[wasm_bindgen_test]
async fn clock_sleep_and_jitter() {
    let t = WebTransport::new();
    let before = t.now_ms();
    assert!(before > 1.6e12, "Unix milliseconds");
    t.sleep(5).await;
    assert!(t.now_ms() >= before);
    for _ in 0..100 {
        let j = t.jitter();
        assert!((0.0..1.0).contains(&j));
    }
}

fn get(url: &str) -> HttpRequest {
    HttpRequest {
        method: "GET".into(),
        url: url.into(),
        headers: vec![],
        body: None,
    }
}

/// The chunks the transport hands on for a stubbed reply.
async fn chunks_of(mode: &str, body: &[u8]) -> (Result<u16, ChatError>, Vec<Vec<u8>>) {
    stub(200, body, 5, mode);
    let mut seen = Vec::new();
    let res = WebTransport::new()
        .send(get("http://localhost:1/x"), &mut |b| {
            seen.push(b.to_vec());
            Ok(())
        })
        .await
        .map(|s| s.status);
    (res, seen)
}

const WHOLE: &[u8] = br#"{"id":"c1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"Because"},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":1,"total_tokens":10}}"#;

#[wasm_bindgen_test]
async fn a_reply_that_states_its_length_is_read_in_one_piece() {
    let (res, seen) = chunks_of("whole", WHOLE).await;
    assert_eq!(res, Ok(200));
    assert_eq!(seen, vec![WHOLE.to_vec()], "one piece, not one per chunk sent");
    // Through the client, not streamed (as a benchmark asks).
    stub(200, WHOLE, 5, "whole");
    let ep = preset("openai").unwrap().endpoint(Some("k".into()));
    let c = Client::new(ep.clone(), WebTransport::for_endpoint(&ep)).with_streaming(false);
    let r = c.chat(&req(), &mut |_| {}).await.unwrap();
    assert_eq!(r.text, "Because");
    let body: serde_json::Value =
        serde_json::from_str(&fetch_log("body").as_string().unwrap()).unwrap();
    assert_ne!(body["stream"], true, "not asked to stream: {body}");
}

#[wasm_bindgen_test]
async fn an_event_stream_is_read_piece_by_piece_even_with_a_length() {
    let (res, seen) = chunks_of("sse-length", OFFICIAL).await;
    assert_eq!(res, Ok(200));
    assert!(seen.len() > 1, "{} piece(s)", seen.len());
    assert_eq!(seen.concat(), OFFICIAL.to_vec());
}

#[wasm_bindgen_test]
async fn a_whole_reply_cut_short_says_the_connection_broke() {
    let (res, seen) = chunks_of("whole-cut", WHOLE).await;
    match res {
        Err(ChatError::Network(m)) => assert!(m.contains("connection broke"), "{m}"),
        other => panic!("expected a network error, got {other:?}"),
    }
    assert!(seen.is_empty(), "nothing of a cut body is handed on");
}
