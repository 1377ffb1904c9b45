//! Every fault of the fault server driven through the real client over the native transport:
//! the number of HTTP requests the server counted (retries), the user-facing message, no panics,
//! and the key never in a message.
//!
//! Run: `cargo test -p ethos-providers --features native --test faults`

#![cfg(feature = "native")]

use ethos_engine::{ChatError, ChatModel, ChatRequest, ChatResponse, Message};
use ethos_providers::native::{NativeTransport, Timeouts};
use ethos_providers::{Capability, Client, Endpoint, Protocol, RetryPolicy, RESET_DELTA};
use ethos_testkit::{Fault, FaultServer};
use std::time::Duration;

const KEY: &str = "sk-test-SECRET-0123456789";

fn policy() -> RetryPolicy {
    // Short steps so the retries are quick; the counts are what the tests check.
    RetryPolicy {
        max_attempts: 4,
        base_ms: 4,
        max_ms: 5_000,
        quick_retries_5xx: 2,
        network_retries: 2,
    }
}

fn client_with(
    server: &FaultServer,
    protocol: Protocol,
    stream: bool,
    timeouts: Timeouts,
) -> Client<NativeTransport> {
    let base = match protocol {
        Protocol::OpenAi => server.base_url(),
        Protocol::Anthropic => server.url(),
    };
    let transport = match NativeTransport::with_timeouts(timeouts) {
        Ok(t) => t.with_jitter_seed(1),
        Err(e) => panic!("transport: {e}"),
    };
    Client::new(
        Endpoint::new(protocol, base, Some(KEY.into()), "custom"),
        transport,
    )
    .with_policy(policy())
    .with_streaming(stream)
    .with_concurrency(4)
}

fn client(server: &FaultServer, protocol: Protocol, stream: bool) -> Client<NativeTransport> {
    client_with(server, protocol, stream, Timeouts::default())
}

fn request(model: &str) -> ChatRequest {
    ChatRequest::new(
        model,
        vec![Message::user(
            "Question: Is it right?\nOptions: A. yes B. no\nAnswer:",
        )],
        0.0,
        8,
    )
}

/// One call; returns the result and the deltas seen (RESET_DELTA included).
async fn call(
    c: &Client<NativeTransport>,
    req: &ChatRequest,
) -> (Result<ChatResponse, ChatError>, Vec<String>) {
    let mut deltas = Vec::new();
    let res = c.chat(req, &mut |d: &str| deltas.push(d.to_string())).await;
    (res, deltas)
}

fn assert_no_key(e: &ChatError) {
    let shown = e.to_string();
    assert!(
        !shown.contains(KEY) && !shown.contains("SECRET"),
        "key leaked: {shown}"
    );
}

/// (fault model, expected requests, check of the error) for the final-error faults,
/// each through both protocols and both body modes.
#[tokio::test]
async fn final_errors_are_counted_and_explained() {
    let server = FaultServer::start().expect("fault server");
    type Check = fn(&ChatError) -> bool;
    let cases: Vec<(&str, u64, Check)> = vec![
        ("fault:401", 1, |e| {
            matches!(e, ChatError::BadKey) && e.to_string().contains("rejected the API key")
        }),
        (
            "fault:403",
            1,
            |e| matches!(e, ChatError::Forbidden(m) if m.contains("not allowed")),
        ),
        (
            "fault:404",
            1,
            |e| matches!(e, ChatError::NotFound(m) if m.contains("does not exist")),
        ),
        // 408 is a timeout: retried like a network error (1 + network_retries).
        ("fault:408", 3, |e| matches!(e, ChatError::Timeout(_))),
        // 429 without Retry-After: exponential backoff until max_attempts.
        ("fault:429", 4, |e| {
            matches!(e, ChatError::RateLimited { waited_ms } if *waited_ms > 0)
                && e.to_string().contains("Rate limited")
        }),
        // other 5xx: 1 + quick_retries_5xx
        (
            "fault:500",
            3,
            |e| matches!(e, ChatError::Server { status: 500, message } if message.contains("server had an error")),
        ),
        ("fault:502", 3, |e| {
            matches!(e, ChatError::Server { status: 502, .. })
        }),
        // 503 is "overloaded": backoff like 429, until max_attempts
        ("fault:503", 4, |e| {
            matches!(e, ChatError::Server { status: 503, .. })
        }),
        ("fault:invalid-json", 1, |e| {
            matches!(e, ChatError::Malformed(_))
        }),
        ("fault:empty-choices", 1, |e| {
            matches!(e, ChatError::Malformed(_))
        }),
    ];
    for protocol in [Protocol::OpenAi, Protocol::Anthropic] {
        for stream in [true, false] {
            let c = client(&server, protocol, stream);
            for (model, want, check) in &cases {
                if protocol == Protocol::Anthropic && *model == "fault:empty-choices" {
                    continue; // its own test below
                }
                server.reset();
                let (res, _) = call(&c, &request(model)).await;
                let label = format!("{model} {protocol:?} stream={stream}");
                match &res {
                    Ok(r) => panic!("{label}: expected an error, got {r:?}"),
                    Err(e) => {
                        assert!(check(e), "{label}: unexpected error {e:?}");
                        assert_no_key(e);
                    }
                }
                assert_eq!(
                    server.stats().model(model),
                    *want,
                    "{label}: requests counted by the server"
                );
            }
        }
    }
}

/// The agreed decoder contract (providers-api.md: `finish` errors when the stream "had no
/// content"): an Anthropic reply with `content: []` is an error, as an OpenAI reply with
/// `choices: []` is.
#[tokio::test]
async fn anthropic_reply_without_content_is_an_error() {
    let server = FaultServer::start().expect("fault server");
    for stream in [true, false] {
        server.reset();
        let c = client(&server, Protocol::Anthropic, stream);
        let (res, _) = call(&c, &request("fault:empty-choices")).await;
        assert!(
            matches!(res, Err(ChatError::Malformed(_))),
            "stream={stream}: {res:?}"
        );
        assert_eq!(server.stats().total, 1);
    }
}

#[tokio::test]
async fn transient_faults_then_success() {
    let server = FaultServer::start().expect("fault server");
    server.set_texts(vec!["A. Yes".into()]);
    for protocol in [Protocol::OpenAi, Protocol::Anthropic] {
        for stream in [true, false] {
            let c = client(&server, protocol, stream);
            for (model, want) in [
                ("fault:503,ok", 2),
                ("fault:500,502,ok", 3),
                ("fault:429,429,ok", 3),
                ("fault:429-retry-after=1,ok", 2),
                ("fault:408,ok", 2),
            ] {
                server.reset();
                let (res, _) = call(&c, &request(model)).await;
                let label = format!("{model} {protocol:?} stream={stream}");
                assert_eq!(
                    res.map(|r| r.text).ok().as_deref(),
                    Some("A. Yes"),
                    "{label}"
                );
                assert_eq!(server.stats().model(model), want, "{label}");
            }
        }
    }
}

#[tokio::test]
async fn retry_after_longer_than_the_policy_allows_is_final() {
    let server = FaultServer::start().expect("fault server");
    let c = client(&server, Protocol::OpenAi, true);
    // Retry-After 3600 s > max_ms: give up at once, with the rate-limit message.
    let (res, _) = call(&c, &request("fault:429-retry-after=3600")).await;
    assert!(matches!(res, Err(ChatError::RateLimited { .. })), "{res:?}");
    assert_eq!(server.stats().total, 1);
}

#[tokio::test]
async fn logprobs_rejected_with_400_is_dropped_and_remembered() {
    let server = FaultServer::start().expect("fault server");
    let c = client(&server, Protocol::OpenAi, true);
    let model = "fault:400-logprobs";
    let mut req = request(model);
    req.top_logprobs = Some(5);
    let (res, _) = call(&c, &req).await;
    let r = res.expect("succeeds without logprobs");
    assert_eq!(r.text, "A");
    assert!(r.first_token_top_logprobs.is_none());
    let stats = server.stats();
    assert_eq!(
        stats.model(model),
        2,
        "one refused request, one without logprobs"
    );
    assert_eq!(
        stats
            .requests
            .iter()
            .map(|r| r.logprobs)
            .collect::<Vec<_>>(),
        vec![true, false]
    );
    assert_eq!(c.capabilities(model).logprobs, Capability::Rejected);
    // Later calls leave the parameter out up front.
    let (res, _) = call(&c, &req).await;
    assert!(res.is_ok());
    assert_eq!(server.stats().model(model), 3);
    assert_eq!(
        server.stats().requests.last().map(|r| r.logprobs),
        Some(false)
    );
}

#[tokio::test]
async fn logprobs_come_back_when_served() {
    let server = FaultServer::start().expect("fault server");
    for stream in [true, false] {
        let c = client(&server, Protocol::OpenAi, stream);
        let mut req = request("plain");
        req.top_logprobs = Some(3);
        let (res, _) = call(&c, &req).await;
        let top = res
            .ok()
            .and_then(|r| r.first_token_top_logprobs)
            .unwrap_or_default();
        let tokens: Vec<&str> = top.iter().map(|t| t.token.as_str()).collect();
        assert_eq!(tokens, vec!["A", "B", "C"], "stream={stream}");
        assert!((top.first().map(|t| t.logprob.exp()).unwrap_or(0.0) - 0.5).abs() < 1e-9);
        assert_eq!(c.capabilities("plain").logprobs, Capability::Yes);
    }
}

#[tokio::test]
async fn a_cut_stream_is_retried_and_the_caller_told_to_discard() {
    let server = FaultServer::start().expect("fault server");
    server.set_texts(vec!["A. one two three four".into()]);
    let c = client(&server, Protocol::OpenAi, true);
    let (res, deltas) = call(&c, &request("fault:cut,ok")).await;
    assert_eq!(
        res.map(|r| r.text).ok().as_deref(),
        Some("A. one two three four")
    );
    assert_eq!(server.stats().model("fault:cut,ok"), 2);
    // partial text, then a reset marker, then the whole reply
    let reset_at = deltas
        .iter()
        .position(|d| d == RESET_DELTA)
        .expect("a reset marker before the retry");
    assert!(reset_at > 0, "some text came before the cut: {deltas:?}");
    assert_eq!(deltas[reset_at + 1..].concat(), "A. one two three four");
    // Always cut: network retries run out, with a plain message.
    server.reset();
    let (res, _) = call(&c, &request("fault:cut")).await;
    match res {
        Err(ChatError::Network(m)) => assert!(m.contains("cut"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(server.stats().model("fault:cut"), 3);
    // Anthropic and non-streamed bodies cut short behave the same.
    for (protocol, stream) in [
        (Protocol::Anthropic, true),
        (Protocol::OpenAi, false),
        (Protocol::Anthropic, false),
    ] {
        server.reset();
        let c = client(&server, protocol, stream);
        let (res, _) = call(&c, &request("fault:cut,ok")).await;
        assert!(res.is_ok(), "{protocol:?} stream={stream}: {res:?}");
        assert_eq!(server.stats().model("fault:cut,ok"), 2);
    }
}

#[tokio::test]
async fn a_stream_without_its_end_marker_is_an_error() {
    let server = FaultServer::start().expect("fault server");
    for protocol in [Protocol::OpenAi, Protocol::Anthropic] {
        server.reset();
        let c = client(&server, protocol, true);
        let (res, _) = call(&c, &request("fault:no-done")).await;
        match res {
            Err(e @ ChatError::Malformed(_)) => assert_no_key(&e),
            other => panic!("{protocol:?}: {other:?}"),
        }
        assert_eq!(server.stats().total, 1, "{protocol:?}: not retried");
    }
}

#[tokio::test]
async fn invalid_utf8_does_not_panic_and_is_reported_or_replaced() {
    let server = FaultServer::start().expect("fault server");
    for protocol in [Protocol::OpenAi, Protocol::Anthropic] {
        for stream in [true, false] {
            server.reset();
            let c = client(&server, protocol, stream);
            let (res, _) = call(&c, &request("fault:invalid-utf8")).await;
            match res {
                // Either the bad bytes are refused with a clear message…
                Err(ChatError::Malformed(m)) => assert!(!m.is_empty()),
                // …or replaced (U+FFFD), keeping the valid text around them.
                Ok(r) => assert!(
                    r.text.starts_with("A \u{1F600}") && r.text.contains('\u{FFFD}'),
                    "{:?}",
                    r.text
                ),
                Err(e) => panic!("{protocol:?} stream={stream}: {e:?}"),
            }
            assert_eq!(server.stats().total, 1);
        }
    }
}

#[tokio::test]
async fn trickled_and_large_replies_arrive_whole_and_huge_ones_are_refused() {
    let server = FaultServer::start().expect("fault server");
    server.set_texts(vec!["B. Because of duty, and so on.".into()]);
    for protocol in [Protocol::OpenAi, Protocol::Anthropic] {
        let c = client(&server, protocol, true);
        let (res, deltas) = call(&c, &request("fault:trickle=1")).await;
        assert_eq!(
            res.map(|r| r.text).ok().as_deref(),
            Some("B. Because of duty, and so on."),
            "{protocol:?}"
        );
        assert_eq!(deltas.concat(), "B. Because of duty, and so on.");
    }
    for stream in [true, false] {
        let c = client(&server, Protocol::OpenAi, stream);
        let (res, _) = call(&c, &request("fault:huge=3000000")).await;
        let text = res.map(|r| r.text).unwrap_or_default();
        assert_eq!(text.len(), 3_000_000, "stream={stream}");
        assert!(text.starts_with(" lorem12 lorem12"));
        // Past the limit: refused with a plain message, not retried.
        let before = server.stats().total;
        let (res, _) = call(&c, &request("fault:huge")).await;
        match res {
            Err(ChatError::Malformed(m)) => assert!(m.contains("longer than 4 MB"), "{m}"),
            other => panic!("stream={stream}: a 10 MB reply was not refused: {other:?}"),
        }
        assert_eq!(server.stats().total, before + 1, "stream={stream}: retried");
    }
}

#[tokio::test]
async fn a_slow_first_byte_times_out_and_is_retried() {
    let server = FaultServer::start().expect("fault server");
    let quick = Timeouts {
        connect: Duration::from_secs(5),
        first_byte: Duration::from_millis(150),
        idle: Duration::from_secs(5),
    };
    let c = client_with(&server, Protocol::OpenAi, true, quick);
    let (res, _) = call(&c, &request("fault:slow-first-byte=5000")).await;
    assert!(
        matches!(res, Err(ChatError::Timeout(ref m)) if m.contains("no response")),
        "{res:?}"
    );
    assert_eq!(server.stats().total, 3, "1 + network_retries");
    // a slow first byte within the timeout is fine
    server.reset();
    let c = client(&server, Protocol::OpenAi, true);
    let (res, _) = call(&c, &request("fault:slow-first-byte=200")).await;
    assert!(res.is_ok(), "{res:?}");
}

#[tokio::test]
async fn an_unreachable_server_is_a_network_error_with_a_hint() {
    let (addr, _) = {
        let s = FaultServer::start().expect("fault server");
        (s.addr(), ())
    };
    // the server is dropped: nothing listens there any more
    std::thread::sleep(Duration::from_millis(50));
    let transport = NativeTransport::new().expect("transport");
    let c = Client::new(
        Endpoint::new(
            Protocol::OpenAi,
            format!("http://{addr}/v1"),
            Some(KEY.into()),
            "custom",
        ),
        transport,
    )
    .with_policy(policy());
    let (res, _) = call(&c, &request("m")).await;
    match res {
        Err(e @ ChatError::Network(_)) => {
            assert!(e.to_string().contains("Is the server running"), "{e}");
            assert_no_key(&e);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(c.attempts(), 3, "1 + network_retries");
}

#[tokio::test]
async fn scripted_faults_and_headers_per_protocol() {
    let server = FaultServer::start().expect("fault server");
    server.script([
        Fault::InternalError,
        Fault::Unavailable {
            retry_after_s: Some(0),
        },
        Fault::Ok,
    ]);
    let c = client(&server, Protocol::Anthropic, true);
    let (res, _) = call(&c, &request("claude-test")).await;
    assert!(res.is_ok(), "{res:?}");
    let stats = server.stats();
    assert_eq!(stats.model("claude-test"), 3);
    let names = stats
        .requests
        .first()
        .map(|r| r.header_names.clone())
        .unwrap_or_default();
    assert!(
        names.contains(&"x-api-key".to_string())
            && names.contains(&"anthropic-version".to_string()),
        "{names:?}"
    );
    let c = client(&server, Protocol::OpenAi, false);
    server.reset();
    let (res, _) = call(&c, &request("gpt-test")).await;
    assert!(res.is_ok());
    let names = server
        .stats()
        .requests
        .first()
        .map(|r| r.header_names.clone())
        .unwrap_or_default();
    assert!(names.contains(&"authorization".to_string()), "{names:?}");
}

#[tokio::test]
async fn model_list_through_the_client() {
    let server = FaultServer::start().expect("fault server");
    let c = client(&server, Protocol::OpenAi, true);
    assert_eq!(
        c.list_models().await.ok(),
        Some(vec![
            "fault-server-model".to_string(),
            "fault:ok".to_string()
        ])
    );
    server.script([Fault::Unauthorized]);
    assert!(matches!(c.list_models().await, Err(ChatError::BadKey)));
    let c = client(&server, Protocol::Anthropic, true);
    assert_eq!(c.list_models().await.map(|m| m.len()).ok(), Some(2));
}
