//! Client tests with a scripted in-memory transport: attempts are counted, sleeps recorded
//! (never actually slept), concurrency measured by counting requests in flight.

use ethos_engine::{ChatError, ChatModel, ChatRequest, Message};
use ethos_providers::client::{Capabilities, Capability, RESET_DELTA};
use ethos_providers::probe::{probe_capabilities, test_connection};
use ethos_providers::{
    Client, Endpoint, HttpRequest, HttpStatus, Limiter, Protocol, RetryPolicy, Transport,
};
use futures::executor::block_on;
use futures::future::join_all;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

#[derive(Clone, Debug)]
enum Reply {
    /// A response: status, Retry-After, body chunks.
    Http(u16, Option<&'static str>, Vec<Vec<u8>>),
    /// Some body chunks of a 200, then a transport error (connection cut).
    CutAfter(Vec<Vec<u8>>, ChatError),
    /// The transport fails before any response.
    Fail(ChatError),
    /// The server never answers.
    Hang,
}

fn ok(body: Vec<u8>) -> Reply {
    // Deliver in small uneven chunks, like a network would.
    let chunks = body.chunks(37).map(<[u8]>::to_vec).collect();
    Reply::Http(200, None, chunks)
}

fn status(code: u16, body: &str) -> Reply {
    Reply::Http(code, None, vec![body.as_bytes().to_vec()])
}

struct Yield(bool);
impl Future for Yield {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

#[derive(Default)]
struct Scripted {
    replies: RefCell<VecDeque<Reply>>,
    /// Used when the script is exhausted (for the concurrency test).
    fallback: Option<Reply>,
    requests: RefCell<Vec<HttpRequest>>,
    sleeps: RefCell<Vec<u64>>,
    in_flight: Cell<usize>,
    peak: Cell<usize>,
    jitter: f64,
    /// If set, `sleep` records how many limiter slots are held.
    limiter: Option<Arc<Limiter>>,
    in_use_at_sleep: RefCell<Vec<usize>>,
    /// `sleep` completes after this many polls (so a timer can lose a race against a reply).
    sleep_polls: usize,
}

impl Scripted {
    fn new(replies: Vec<Reply>) -> Self {
        Self {
            replies: RefCell::new(replies.into()),
            jitter: 0.5,
            ..Self::default()
        }
    }
    fn bodies(&self) -> Vec<serde_json::Value> {
        self.requests
            .borrow()
            .iter()
            .map(|r| serde_json::from_str(r.body.as_deref().unwrap_or("null")).unwrap())
            .collect()
    }
}

struct InFlight<'a>(&'a Cell<usize>);
impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

impl Transport for Scripted {
    async fn send(
        &self,
        req: HttpRequest,
        on_chunk: &mut dyn FnMut(&[u8]) -> Result<(), ChatError>,
    ) -> Result<HttpStatus, ChatError> {
        self.requests.borrow_mut().push(req);
        self.in_flight.set(self.in_flight.get() + 1);
        self.peak.set(self.peak.get().max(self.in_flight.get()));
        let _guard = InFlight(&self.in_flight);
        // Let every other ready future run before answering.
        Yield(false).await;
        Yield(false).await;
        let reply = self
            .replies
            .borrow_mut()
            .pop_front()
            .or_else(|| self.fallback.clone());
        match reply {
            None => Err(ChatError::Other("script exhausted".into())),
            Some(Reply::Fail(e)) => Err(e),
            Some(Reply::Hang) => {
                futures::future::pending::<()>().await;
                Err(ChatError::Other("unreachable".into()))
            }
            Some(Reply::CutAfter(chunks, e)) => {
                for c in &chunks {
                    on_chunk(c)?;
                    Yield(false).await;
                }
                Err(e)
            }
            Some(Reply::Http(code, ra, chunks)) => {
                for c in &chunks {
                    on_chunk(c)?;
                    Yield(false).await;
                }
                Ok(HttpStatus {
                    status: code,
                    retry_after: ra.map(str::to_string),
                })
            }
        }
    }
    async fn sleep(&self, ms: u64) {
        self.sleeps.borrow_mut().push(ms);
        if let Some(l) = &self.limiter {
            self.in_use_at_sleep.borrow_mut().push(l.in_use());
        }
        for _ in 0..self.sleep_polls {
            Yield(false).await;
        }
    }
    fn now_ms(&self) -> f64 {
        1_445_412_480_000.0 // Wed, 21 Oct 2015 07:28:00 GMT
    }
    fn jitter(&self) -> f64 {
        self.jitter
    }
}

const KEY: &str = "hunter2-very-secret";

fn openai_client(replies: Vec<Reply>) -> Client<Scripted> {
    let ep = Endpoint::new(
        Protocol::OpenAi,
        "https://api.example.com/v1/",
        Some(KEY.into()),
        "openai",
    );
    Client::new(ep, Scripted::new(replies))
}

fn req() -> ChatRequest {
    let mut r = ChatRequest::new("model-a", vec![Message::user("Which value?")], 0.0, 16);
    r.top_logprobs = Some(5);
    r
}

/// Run a chat, collecting on_delta calls.
fn chat(
    c: &Client<Scripted>,
    r: &ChatRequest,
) -> (Vec<String>, Result<ethos_engine::ChatResponse, ChatError>) {
    let mut deltas = Vec::new();
    let res = block_on(c.chat(r, &mut |d| deltas.push(d.to_string())));
    (deltas, res)
}

#[test]
fn streams_deltas_and_records_logprobs_capability() {
    let c = openai_client(vec![ok(fixture("openai_llamacpp_stream.sse"))]);
    let (deltas, res) = chat(&c, &req());
    let r = res.unwrap();
    assert_eq!(deltas, vec!["Yes", ", café", " — naïve ✓ 😀"]);
    assert_eq!(r.text, deltas.concat());
    assert_eq!(r.first_token_top_logprobs.unwrap().len(), 5);
    assert_eq!(c.attempts(), 1);
    assert_eq!(c.capabilities("model-a").logprobs, Capability::Yes);
    let sent = &c.transport().requests.borrow()[0];
    assert_eq!(sent.url, "https://api.example.com/v1/chat/completions");
    let b = &c.transport().bodies()[0];
    assert_eq!(b["stream"], true);
    assert_eq!(b["top_logprobs"], 5);
}

#[test]
fn whole_body_mode_calls_on_delta_once() {
    let c = openai_client(vec![ok(fixture("openai_chat.json"))]).with_streaming(false);
    let (deltas, res) = chat(&c, &req());
    assert_eq!(res.unwrap().more_texts, vec!["C"]);
    assert_eq!(deltas, vec!["B"]);
    assert!(c.transport().bodies()[0].get("stream").is_none());
}

#[test]
fn rate_limit_honours_retry_after_then_succeeds() {
    let c = openai_client(vec![
        Reply::Http(
            429,
            Some("2"),
            vec![br#"{"error":{"message":"Rate limit reached"}}"#.to_vec()],
        ),
        Reply::Http(429, Some("Wed, 21 Oct 2015 07:28:03 GMT"), vec![]),
        ok(fixture("openai_official_stream.sse")),
    ]);
    let (_, res) = chat(&c, &req());
    assert_eq!(res.unwrap().text, "Because");
    assert_eq!(c.attempts(), 3);
    let sleeps = c.transport().sleeps.borrow().clone();
    assert_eq!(sleeps.len(), 2);
    // Retry-After 2 s / a date 3 s ahead, plus at most base/2 of jitter (0.5 * 500).
    assert_eq!(sleeps, vec![2000 + 250, 3000 + 250]);
}

#[test]
fn rate_limit_gives_up_after_max_attempts_reporting_the_wait() {
    let c = openai_client(vec![]).with_policy(RetryPolicy {
        max_attempts: 4,
        base_ms: 100,
        max_ms: 10_000,
        ..RetryPolicy::default()
    });
    let c = Client::new(
        c.endpoint().clone(),
        Scripted {
            fallback: Some(status(429, "slow down")),
            jitter: 0.0,
            ..Scripted::default()
        },
    )
    .with_policy(c.policy().clone());
    let (_, res) = chat(&c, &req());
    assert_eq!(c.attempts(), 4);
    let sleeps = c.transport().sleeps.borrow().clone();
    // Exponential steps 100, 200, 400 with jitter 0 -> the lower half-bound.
    assert_eq!(sleeps, vec![50, 100, 200]);
    assert_eq!(res, Err(ChatError::RateLimited { waited_ms: 350 }));
}

#[test]
fn no_retry_on_401_400_403_404() {
    for (code, body) in [
        (401, r#"{"error":{"message":"Incorrect API key provided"}}"#),
        (400, r#"{"error":{"message":"messages: field required"}}"#),
        (403, r#"{"error":{"message":"Country not supported"}}"#),
        (
            404,
            r#"{"error":{"message":"The model `nope` does not exist"}}"#,
        ),
    ] {
        let c = openai_client(vec![
            status(code, body),
            ok(fixture("openai_official_stream.sse")),
        ]);
        let (deltas, res) = chat(&c, &req());
        assert_eq!(c.attempts(), 1, "HTTP {code}");
        assert!(deltas.is_empty());
        assert!(c.transport().sleeps.borrow().is_empty());
        let e = res.unwrap_err();
        match code {
            401 => assert_eq!(e, ChatError::BadKey),
            400 => assert!(
                matches!(e, ChatError::BadRequest { status: 400, ref message } if message == "messages: field required")
            ),
            403 => assert_eq!(e, ChatError::Forbidden("Country not supported".into())),
            _ => assert!(matches!(e, ChatError::NotFound(ref m) if m.contains("does not exist"))),
        }
    }
}

#[test]
fn attempts_time_out_and_are_retried_like_network_errors() {
    let script = vec![
        Reply::Hang,
        Reply::Hang,
        ok(fixture("openai_official_stream.sse")),
    ];
    let t = Scripted {
        sleep_polls: 1000,
        ..Scripted::new(script)
    };
    let c = Client::new(openai_client(vec![]).endpoint().clone(), t).with_timeout_ms(Some(60_000));
    let (_, res) = chat(&c, &req());
    assert_eq!(res.unwrap().text, "Because");
    assert_eq!(c.attempts(), 3);
    // A 60 s timer per attempt (never really slept; the last one lost the race) and two
    // backoffs.
    let sleeps = c.transport().sleeps.borrow().clone();
    assert_eq!(
        sleeps.iter().filter(|&&ms| ms == 60_000).count(),
        3,
        "{sleeps:?}"
    );
    assert_eq!(sleeps.len(), 5, "{sleeps:?}");
    assert_eq!(
        c.transport().in_flight.get(),
        0,
        "the hung requests were dropped"
    );
    let c = openai_client(vec![Reply::Hang, Reply::Hang, Reply::Hang, Reply::Hang])
        .with_timeout_ms(Some(1500));
    let (_, res) = chat(&c, &req());
    assert!(
        matches!(res, Err(ChatError::Timeout(ref m)) if m.contains("2 s")),
        "{res:?}"
    );
    assert_eq!(c.attempts(), 3, "1 + network_retries");
}

#[test]
fn reasoning_model_rejections_switch_parameters_once() {
    let mct = r#"{"error":{"message":"Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.","type":"invalid_request_error","param":"max_tokens","code":"unsupported_parameter"}}"#;
    let temp = r#"{"error":{"message":"Unsupported value: 'temperature' does not support 0 with this model. Only the default (1) value is supported.","type":"invalid_request_error","param":"temperature","code":"unsupported_value"}}"#;
    let c = openai_client(vec![
        status(400, mct),
        status(400, temp),
        ok(fixture("openai_official_stream.sse")),
        ok(fixture("openai_official_stream.sse")),
    ]);
    let mut r = req();
    r.top_logprobs = None;
    assert!(chat(&c, &r).1.is_ok());
    assert_eq!(c.attempts(), 3);
    let b = c.transport().bodies();
    assert!(b[0].get("max_tokens").is_some() && b[0].get("temperature").is_some());
    assert!(b[1].get("max_tokens").is_none() && b[1]["max_completion_tokens"] == 16);
    assert!(b[2].get("temperature").is_none() && b[2]["max_completion_tokens"] == 16);
    let caps = c.capabilities("model-a");
    assert!(caps.max_completion_tokens && caps.fixed_temperature);
    assert!(chat(&c, &r).1.is_ok());
    assert_eq!(c.attempts(), 4, "remembered: no more 400s");
    // The same rejection again is final (no loop).
    let c = openai_client(vec![
        status(400, mct),
        status(400, mct),
        ok(fixture("openai_official_stream.sse")),
    ]);
    assert!(matches!(
        chat(&c, &r).1,
        Err(ChatError::BadRequest { status: 400, .. })
    ));
    assert_eq!(c.attempts(), 2);
}

#[test]
fn seed_and_stream_options_rejections_are_dropped_once() {
    let gem_seed = r#"[{"error":{"code":400,"message":"Invalid JSON payload received. Unknown name \"seed\": Cannot find field.","status":"INVALID_ARGUMENT"}}]"#;
    let so = r#"{"error":{"message":"Unrecognized request argument supplied: stream_options"}}"#;
    let c = openai_client(vec![
        status(400, so),
        status(400, gem_seed),
        ok(fixture("openai_official_stream.sse")),
    ]);
    let mut r = req();
    r.top_logprobs = None;
    r.seed = Some(42);
    assert!(chat(&c, &r).1.is_ok());
    let b = c.transport().bodies();
    assert_eq!(b.len(), 3);
    assert!(b[0].get("stream_options").is_some() && b[0]["seed"] == 42);
    assert!(b[1].get("stream_options").is_none() && b[1]["seed"] == 42);
    assert!(b[2].get("stream_options").is_none() && b[2].get("seed").is_none());
    let caps = c.capabilities("model-a");
    assert!(caps.no_seed && caps.no_stream_options);
    assert!(!caps.max_completion_tokens && !caps.fixed_temperature);
}

/// The response's `sent` is exactly what the last request body carried.
fn sent_matches(sent: &ethos_engine::SentParams, body: &serde_json::Value) {
    let get = |k: &str| body.get(k).and_then(serde_json::Value::as_f64);
    assert_eq!(sent.temperature, get("temperature"), "{body}");
    assert_eq!(sent.seed.map(|s| s as f64), get("seed"), "{body}");
    assert_eq!(
        sent.top_logprobs.map(f64::from),
        get("top_logprobs"),
        "{body}"
    );
}

#[test]
fn the_response_says_which_parameters_were_really_sent() {
    let temp = r#"{"error":{"message":"Unsupported value: 'temperature' does not support 0 with this model. Only the default (1) value is supported."}}"#;
    let seed = r#"{"error":{"message":"Unrecognized request argument supplied: seed"}}"#;
    let lp = r#"{"error":{"message":"logprobs are not supported by this model"}}"#;
    let mut r = req();
    r.seed = Some(42);
    for (rejection, dropped) in [
        (None, vec![]),
        (Some(temp), vec!["temperature"]),
        (Some(seed), vec!["seed"]),
        (Some(lp), vec!["logprobs"]),
    ] {
        let mut replies: Vec<Reply> = rejection.map(|m| status(400, m)).into_iter().collect();
        replies.push(ok(fixture("openai_official_stream.sse")));
        replies.push(ok(fixture("openai_official_stream.sse")));
        let c = openai_client(replies);
        let resp = chat(&c, &r).1.unwrap();
        let sent = resp.sent.expect("the client says what it sent");
        assert_eq!(sent.dropped(&r), dropped, "{rejection:?}");
        sent_matches(&sent, c.transport().bodies().last().unwrap());
        // Remembered for the model: the next call sends the same and says so.
        let again = chat(&c, &r).1.unwrap().sent.unwrap();
        assert_eq!(again, sent);
    }
}

#[test]
fn raw_requests_go_to_the_completions_endpoint() {
    let c = openai_client(vec![ok(fixture("llamacpp_completion_logprobs.json"))]);
    let mut r = req();
    r.raw = true;
    r.seed = Some(5);
    let (deltas, res) = chat(&c, &r);
    let resp = res.unwrap();
    assert_eq!(resp.text, " A");
    assert_eq!(deltas.concat(), " A");
    assert_eq!(resp.first_token_top_logprobs.unwrap()[0].token, " A");
    let sent = resp.sent.unwrap();
    assert!(sent.raw && sent.dropped(&r).is_empty());
    let h = &c.transport().requests.borrow()[0];
    assert_eq!(h.url, "https://api.example.com/v1/completions");
    let b = &c.transport().bodies()[0];
    assert_eq!(
        (b["prompt"].as_str(), b["logprobs"].as_u64()),
        (Some("Which value?"), Some(5))
    );
    let caps = c.capabilities("model-a");
    assert_eq!(caps.raw_completion, Capability::Yes);
    assert_eq!(
        caps.logprobs,
        Capability::Unknown,
        "the chat read is another question"
    );

    // The Anthropic API has no raw completion: a clear refusal, nothing sent.
    let ep = Endpoint::new(
        Protocol::Anthropic,
        "https://api.anthropic.com",
        Some("k-1".into()),
        "anthropic",
    );
    let c = Client::new(ep, Scripted::new(vec![]));
    let err = block_on(c.chat(&r, &mut |_| {})).unwrap_err();
    assert!(
        matches!(err, ChatError::Unsupported(ref m) if m.contains("raw completion")),
        "{err}"
    );
    assert_eq!(c.attempts(), 0);
    assert_eq!(
        c.capabilities("model-a").raw_completion,
        Capability::Rejected
    );
}

#[test]
fn shared_clients_share_limiter_and_capabilities() {
    let ep = Endpoint::new(
        Protocol::OpenAi,
        "http://LOCALHOST:9999/v1/",
        None,
        "llamacpp",
    );
    let ep2 = Endpoint::new(
        Protocol::OpenAi,
        "http://localhost:9999/v1",
        None,
        "llamacpp",
    );
    let a = Client::shared(
        ep,
        Scripted::new(vec![ok(fixture("openai_llamacpp_stream.sse"))]),
        None,
    );
    let b = Client::shared(ep2, Scripted::new(vec![]), None);
    assert!(Arc::ptr_eq(a.limiter(), b.limiter()));
    assert_eq!(a.limiter().limit(), 1, "llama.cpp preset: one at a time");
    assert!(chat(&a, &req()).1.is_ok());
    assert_eq!(
        b.capabilities("model-a").logprobs,
        Capability::Yes,
        "learnt through a"
    );
    let other = Endpoint::new(
        Protocol::OpenAi,
        "http://localhost:9998/v1",
        None,
        "llamacpp",
    );
    let c = Client::shared(other, Scripted::new(vec![]), Some(3));
    assert!(!Arc::ptr_eq(a.limiter(), c.limiter()));
    assert_eq!(c.limiter().limit(), 3);
}

#[test]
fn a_whole_json_reply_to_a_stream_request_is_accepted() {
    // A server that ignores `stream: true`.
    let c = openai_client(vec![ok(fixture("openai_chat.json"))]);
    let (deltas, res) = chat(&c, &req());
    assert_eq!(res.unwrap().text, "B");
    assert_eq!(deltas, vec!["B"]);
    // A 200 carrying an error object: mapped like the status it names (and retried as such).
    let c = openai_client(vec![
        ok(br#"{"error":{"message":"upstream failed","code":502}}"#.to_vec()),
        ok(fixture("openai_official_stream.sse")),
    ]);
    let (_, res) = chat(&c, &req());
    assert_eq!(res.unwrap().text, "Because");
    assert_eq!(c.attempts(), 2);
    // Plain text that is neither: the stream error stands.
    let c = openai_client(vec![ok(b"hello".to_vec())]).with_policy(RetryPolicy::none());
    assert!(matches!(chat(&c, &req()).1, Err(ChatError::Network(_))));
}

#[test]
fn cancel_is_never_retried() {
    let c = openai_client(vec![
        Reply::Fail(ChatError::Cancelled),
        ok(fixture("openai_official_stream.sse")),
    ]);
    let (_, res) = chat(&c, &req());
    assert_eq!(res, Err(ChatError::Cancelled));
    assert_eq!(c.attempts(), 1);
}

#[test]
fn server_errors_get_quick_retries_then_fail() {
    let c = openai_client(vec![
        status(500, "oops"),
        status(502, "<html><body>Bad gateway</body></html>"),
        ok(fixture("openai_official_stream.sse")),
    ]);
    assert!(chat(&c, &req()).1.is_ok());
    assert_eq!(c.attempts(), 3);
    let c = Client::new(
        c.endpoint().clone(),
        Scripted {
            fallback: Some(status(500, "oops")),
            jitter: 1.0,
            ..Scripted::default()
        },
    );
    let (_, res) = chat(&c, &req());
    assert_eq!(c.attempts(), 3, "1 + quick_retries_5xx (2)");
    assert_eq!(*c.transport().sleeps.borrow(), vec![1000, 1000]);
    assert!(
        matches!(res, Err(ChatError::Server { status: 500, ref message }) if message == "oops")
    );
}

#[test]
fn logprobs_rejected_with_400_are_dropped_retried_once_and_remembered() {
    let groq = String::from_utf8(fixture("groq_logprobs_400.json")).unwrap();
    let c = openai_client(vec![
        status(400, &groq),
        ok(fixture("openai_n2_stream.sse")),
        ok(fixture("openai_n2_stream.sse")),
    ]);
    let (_, res) = chat(&c, &req());
    assert_eq!(res.unwrap().text, "First one");
    assert_eq!(c.attempts(), 2);
    let bodies = c.transport().bodies();
    assert_eq!(bodies[0]["logprobs"], true);
    assert!(bodies[1].get("logprobs").is_none() && bodies[1].get("top_logprobs").is_none());
    assert!(
        c.transport().sleeps.borrow().is_empty(),
        "dropping a parameter needs no wait"
    );
    assert_eq!(c.capabilities("model-a").logprobs, Capability::Rejected);
    // The next call omits logprobs up front: one attempt.
    let (_, res) = chat(&c, &req());
    assert!(res.is_ok());
    assert_eq!(c.attempts(), 3);
    assert!(c.transport().bodies()[2].get("top_logprobs").is_none());
    // Other models at the same endpoint are unaffected.
    assert_eq!(c.capabilities("model-b"), Capabilities::default());
}

#[test]
fn gemini_style_400_on_logprobs_also_drops_them_but_a_second_400_is_final() {
    let gem = String::from_utf8(fixture("gemini_logprobs_400.json")).unwrap();
    let c = openai_client(vec![status(400, &gem), status(400, &gem)]);
    let (_, res) = chat(&c, &req());
    assert_eq!(c.attempts(), 2, "dropped once, then the error is returned");
    assert!(matches!(res, Err(ChatError::Unsupported(_))), "{res:?}");
}

#[test]
fn logprobs_silently_missing_are_recorded_as_no() {
    let c = openai_client(vec![ok(fixture("openai_n2_stream.sse"))]);
    assert!(chat(&c, &req()).1.is_ok());
    assert_eq!(c.capabilities("model-a").logprobs, Capability::No);
}

#[test]
fn retry_after_partial_output_sends_a_reset_marker() {
    let bytes = fixture("openai_llamacpp_stream.sse");
    let cut = bytes.len() / 2;
    let c = openai_client(vec![
        Reply::CutAfter(
            vec![bytes[..cut].to_vec()],
            ChatError::Network("connection reset".into()),
        ),
        ok(bytes.clone()),
    ]);
    let (deltas, res) = chat(&c, &req());
    let r = res.unwrap();
    assert_eq!(c.attempts(), 2);
    let reset_at = deltas
        .iter()
        .position(|d| d == RESET_DELTA)
        .expect("a reset marker");
    assert!(reset_at > 0, "some text streamed before the cut");
    assert_eq!(deltas[reset_at + 1..].concat(), r.text);
    assert_eq!(deltas.iter().filter(|d| d.is_empty()).count(), 1);
}

#[test]
fn stream_ended_without_done_is_retried_as_a_network_error() {
    // A 200 whose body ends early without [DONE] (a proxy closed it): retried.
    let bytes = fixture("openai_official_stream.sse");
    let c = openai_client(vec![
        ok(bytes[..bytes.len() / 2].to_vec()),
        ok(bytes.clone()),
    ]);
    let (deltas, res) = chat(&c, &req());
    assert_eq!(res.unwrap().text, "Because");
    assert_eq!(c.attempts(), 2);
    assert_eq!(c.transport().sleeps.borrow().len(), 1);
    assert_eq!(deltas.last().map(String::as_str), Some("ecause"));
    // Invalid JSON in a complete event is not retried.
    let bad =
        b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\ndata: {nope\n\n"
            .to_vec();
    let c = openai_client(vec![ok(bad), ok(bytes)]);
    assert!(matches!(chat(&c, &req()).1, Err(ChatError::Malformed(_))));
    assert_eq!(c.attempts(), 1);
}

#[test]
fn error_status_with_sse_looking_garbage_still_reports_the_status() {
    let c = openai_client(vec![Reply::Http(
        503,
        None,
        vec![b"\xff\xfe upstream down".to_vec()],
    )])
    .with_policy(RetryPolicy::none());
    let (_, res) = chat(&c, &req());
    assert!(
        matches!(res, Err(ChatError::Server { status: 503, .. })),
        "{res:?}"
    );
}

#[test]
fn keys_never_appear_in_errors() {
    let echo = format!(r#"{{"error":{{"message":"Invalid key {KEY}; header was Bearer {KEY}"}}}}"#);
    for code in [400, 403, 404, 500, 422] {
        let c = openai_client(vec![status(code, &echo)]).with_policy(RetryPolicy::none());
        let (_, res) = chat(&c, &req());
        let e = res.unwrap_err();
        let shown = format!("{e} {e:?} {}", serde_json::to_string(&e).unwrap());
        assert!(!shown.contains(KEY), "HTTP {code}: {shown}");
        assert!(!shown.contains("hunter2"), "HTTP {code}: {shown}");
    }
    // Transport errors and in-stream errors are redacted too.
    let c = openai_client(vec![Reply::Fail(ChatError::Network(format!(
        "proxy said {KEY}"
    )))])
    .with_policy(RetryPolicy::none());
    assert!(!chat(&c, &req()).1.unwrap_err().to_string().contains(KEY));
    let s = format!("data: {{\"error\":{{\"message\":\"bad {KEY}\",\"code\":500}}}}\n\n");
    let c = openai_client(vec![ok(s.into_bytes())]).with_policy(RetryPolicy::none());
    assert!(!chat(&c, &req()).1.unwrap_err().to_string().contains(KEY));
    // The endpoint never shows or serialises its key.
    let ep = c.endpoint();
    assert!(!format!("{ep:?}").contains(KEY));
    let json = serde_json::to_string(ep).unwrap();
    assert!(!json.contains(KEY));
    let back: Endpoint = serde_json::from_str(&json).unwrap();
    assert_eq!(back.api_key, None);
}

#[test]
fn concurrency_limit_peak_is_counted() {
    for limit in [1usize, 2, 3] {
        let t = Scripted {
            fallback: Some(ok(fixture("openai_official_stream.sse"))),
            ..Scripted::default()
        };
        let c = openai_client(vec![]);
        let c = Client::new(c.endpoint().clone(), t).with_concurrency(limit);
        let r = req();
        let results = block_on(join_all(
            (0..7).map(|_| async { c.chat(&r, &mut |_| {}).await }),
        ));
        assert!(results.iter().all(Result::is_ok));
        assert_eq!(c.attempts(), 7);
        assert_eq!(
            c.transport().peak.get(),
            limit,
            "requests in flight at once"
        );
        assert_eq!(c.limiter().peak(), limit);
        assert_eq!(c.limiter().in_use(), 0, "all slots released");
    }
}

#[test]
fn limiter_slot_is_released_while_waiting_to_retry() {
    // Limit 1, shared limiter: when the client sleeps before a retry it holds no slot.
    let limiter = Arc::new(Limiter::new(1));
    let t = Scripted {
        limiter: Some(limiter.clone()),
        ..Scripted::new(vec![
            status(429, ""),
            status(500, ""),
            ok(fixture("openai_official_stream.sse")),
        ])
    };
    let c = openai_client(vec![]);
    let c = Client::new(c.endpoint().clone(), t).with_limiter(limiter.clone());
    assert!(chat(&c, &req()).1.is_ok());
    assert_eq!(c.attempts(), 3);
    assert_eq!(*c.transport().in_use_at_sleep.borrow(), vec![0, 0]);
    assert_eq!(limiter.in_use(), 0);
}

#[test]
fn anthropic_through_the_client() {
    let ep = Endpoint::new(
        Protocol::Anthropic,
        "https://api.anthropic.com",
        Some("sk-ant-api03-abcdefghijklmnop".into()),
        "anthropic",
    );
    let c = Client::new(
        ep,
        Scripted::new(vec![
            ok(fixture("anthropic_stream.sse")),
            status(
                401,
                &String::from_utf8(fixture("anthropic_401.json")).unwrap(),
            ),
        ]),
    );
    let (deltas, res) = chat(&c, &req());
    assert_eq!(deltas.concat(), res.unwrap().text);
    assert_eq!(
        c.transport().requests.borrow()[0].url,
        "https://api.anthropic.com/v1/messages"
    );
    assert!(c.transport().bodies()[0].get("top_logprobs").is_none());
    assert_eq!(c.capabilities("model-a").logprobs, Capability::No);
    assert_eq!(chat(&c, &req()).1, Err(ChatError::BadKey));
    // n > 1 is refused before any request.
    let mut r = req();
    r.n = Some(3);
    let before = c.attempts();
    assert!(matches!(chat(&c, &r).1, Err(ChatError::Unsupported(_))));
    assert_eq!(c.attempts(), before);
}

#[test]
fn connection_test_and_probe() {
    let c = openai_client(vec![ok(fixture("openai_models.json"))]);
    let rep = block_on(test_connection(&c, "https://app.example"));
    assert!(rep.ok && rep.reachable);
    assert_eq!(rep.models, vec!["gpt-4.1", "gpt-4.1-mini"]);
    assert_eq!(
        c.transport().requests.borrow()[0].url,
        "https://api.example.com/v1/models"
    );

    let ep = Endpoint::new(
        Protocol::OpenAi,
        "http://localhost:11434/v1",
        None,
        "ollama",
    );
    let c = Client::new(
        ep,
        Scripted::new(vec![Reply::Fail(ChatError::Network(
            "error sending request".into(),
        ))]),
    )
    .with_policy(RetryPolicy::none());
    let rep = block_on(test_connection(&c, "https://app.example"));
    assert!(!rep.ok && !rep.reachable);
    assert!(rep.message.contains("OLLAMA_ORIGINS"), "{}", rep.message);

    // Probe: Groq-like server rejects logprobs, then rejects n, then answers.
    let groq = String::from_utf8(fixture("groq_logprobs_400.json")).unwrap();
    let n_err =
        r#"{"error":{"message":"'n' : number must be at most 1","type":"invalid_request_error"}}"#;
    // It serves no /completions (404): raw completion is not available.
    let c = openai_client(vec![
        status(400, &groq),
        status(400, n_err),
        ok(fixture("openai_official_stream.sse")),
        status(
            404,
            r#"{"error":{"message":"Unknown request URL: POST /v1/completions"}}"#,
        ),
    ]);
    let rep = block_on(probe_capabilities(&c, "model-a")).unwrap();
    assert_eq!(rep.capabilities.logprobs, Capability::Rejected);
    assert_eq!(rep.capabilities.n, Capability::Rejected);
    assert_eq!(rep.capabilities.raw_completion, Capability::Rejected);
    assert!(
        rep.summary.contains("Raw completion (a plain prompt"),
        "{}",
        rep.summary
    );
    assert_eq!(rep.sample, "Because");
    assert_eq!(c.attempts(), 4);

    // Probe: vLLM-like server honours both, and serves raw completions with logprobs.
    let c = openai_client(vec![
        ok(fixture("openai_n2_stream.sse")),
        ok(fixture("openai_completion_logprobs.json")),
    ]);
    let rep = block_on(probe_capabilities(&c, "model-a")).unwrap();
    assert_eq!(rep.capabilities.n, Capability::Yes);
    assert_eq!(rep.capabilities.logprobs, Capability::No);
    assert_eq!(rep.capabilities.raw_completion, Capability::Yes);
    let raw = &c.transport().requests.borrow()[1];
    assert!(raw.url.ends_with("/v1/completions"), "{}", raw.url);
    // Probe: Anthropic needs one call and reports no logprobs, no n.
    let ep = Endpoint::new(
        Protocol::Anthropic,
        "https://api.anthropic.com",
        Some("k-1234".into()),
        "anthropic",
    );
    let c = Client::new(ep, Scripted::new(vec![ok(fixture("anthropic_stream.sse"))]));
    let rep = block_on(probe_capabilities(&c, "claude")).unwrap();
    assert_eq!(c.attempts(), 1);
    assert_eq!(
        (rep.capabilities.logprobs, rep.capabilities.n),
        (Capability::No, Capability::Rejected)
    );
    assert!(rep.summary.contains("log-probabilities"), "{}", rep.summary);
}
