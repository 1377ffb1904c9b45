//! Retry policy, error mapping, key redaction, network diagnosis and presets.

use ethos_engine::ChatError;
use ethos_providers::errors::{
    body_message, diagnose_network_error, error_from_object, error_from_status,
    error_from_status_for, redact, redact_key_like,
};
use ethos_providers::presets::{preset, Support, PRESETS};
use ethos_providers::retry::{parse_retry_after, parse_retry_after_at, RetryPolicy};
use ethos_providers::{join_url, Endpoint, Protocol};

fn server(status: u16) -> ChatError {
    ChatError::Server {
        status,
        message: "x".into(),
    }
}

#[test]
fn retry_after_values() {
    assert_eq!(parse_retry_after("7"), Some(7000));
    assert_eq!(parse_retry_after(" 0 "), Some(0));
    assert_eq!(parse_retry_after("1.5"), Some(1500));
    assert_eq!(parse_retry_after("-3"), None);
    assert_eq!(parse_retry_after(""), None);
    assert_eq!(parse_retry_after("soon"), None);
    assert_eq!(parse_retry_after("NaN"), None);
    assert_eq!(parse_retry_after("inf"), None);
    assert_eq!(parse_retry_after("99999999999999999999999"), None);
    let now = 1_445_412_480_000.0; // Wed, 21 Oct 2015 07:28:00 GMT
    assert_eq!(
        parse_retry_after_at("Wed, 21 Oct 2015 07:28:30 GMT", now),
        Some(30_000)
    );
    assert_eq!(
        parse_retry_after_at("Wed, 21 Oct 2015 07:27:00 GMT", now),
        Some(0),
        "past dates: no wait"
    );
    assert_eq!(
        parse_retry_after_at("Thu, 29 Feb 2024 00:00:00 GMT", 1_709_164_800_000.0),
        Some(0)
    );
    assert_eq!(
        parse_retry_after_at("Sun, 01 Mar 2026 00:00:01 GMT", 1_772_323_200_000.0),
        Some(1000)
    );
    assert_eq!(parse_retry_after_at("12", now), Some(12_000));
    assert_eq!(
        parse_retry_after_at("Wed, 21 Foo 2015 07:28:30 GMT", now),
        None
    );
    assert_eq!(
        parse_retry_after_at("Wed, 21 Oct 2015 07:28:30 PST", now),
        None
    );
    assert_eq!(
        parse_retry_after_at("Wed, 21 Oct 2015 07:28 GMT", now),
        None
    );
}

#[test]
fn backoff_is_exponential_with_bounded_jitter() {
    let p = RetryPolicy {
        max_attempts: 10,
        base_ms: 1000,
        max_ms: 30_000,
        quick_retries_5xx: 2,
        network_retries: 3,
    };
    let rl = ChatError::RateLimited { waited_ms: 0 };
    for attempt in 1..10u32 {
        let step = (1000u64 << (attempt - 1)).min(30_000);
        let lo = p.decide(attempt, &rl, None, 0.0).unwrap();
        let hi = p.decide(attempt, &rl, None, 0.999_999).unwrap();
        assert_eq!(lo, step / 2, "attempt {attempt}");
        assert_eq!(hi, step, "attempt {attempt}");
        for j in [0.1, 0.37, 0.5, 0.8] {
            let d = p.decide(attempt, &rl, None, j).unwrap();
            assert!(
                d >= step / 2 && d <= step,
                "attempt {attempt} jitter {j}: {d}"
            );
        }
        // 503 and 529 back off like 429.
        assert_eq!(p.decide(attempt, &server(503), None, 0.0), Some(step / 2));
        assert_eq!(p.decide(attempt, &server(529), None, 0.0), Some(step / 2));
    }
    // Out-of-range jitter is clamped, NaN taken as the middle.
    assert_eq!(p.decide(1, &rl, None, 7.0), Some(1000));
    assert_eq!(p.decide(1, &rl, None, -1.0), Some(500));
    assert_eq!(p.decide(1, &rl, None, f64::NAN), Some(750));
    assert_eq!(p.decide(40, &rl, None, 0.0), None, "max_attempts");
}

#[test]
fn retry_after_is_honoured() {
    let p = RetryPolicy::default();
    let rl = ChatError::RateLimited { waited_ms: 0 };
    assert_eq!(p.decide(1, &rl, Some(4000), 0.0), Some(4000));
    assert_eq!(p.decide(1, &rl, Some(4000), 1.0), Some(4500));
    assert_eq!(p.decide(3, &server(503), Some(0), 0.0), Some(0));
    assert_eq!(
        p.decide(1, &rl, Some(p.max_ms + 1), 0.0),
        None,
        "longer than the policy's longest wait: give up"
    );
}

#[test]
fn what_is_never_retried() {
    let p = RetryPolicy::default();
    for e in [
        ChatError::BadKey,
        ChatError::Forbidden("f".into()),
        ChatError::NotFound("n".into()),
        ChatError::Unsupported("logprobs".into()),
        ChatError::BadRequest {
            status: 400,
            message: "b".into(),
        },
        ChatError::BadRequest {
            status: 413,
            message: "b".into(),
        },
        ChatError::Malformed("m".into()),
        ChatError::Cancelled,
        ChatError::Other("o".into()),
    ] {
        for attempt in 1..4 {
            assert_eq!(p.decide(attempt, &e, Some(10), 0.5), None, "{e:?}");
        }
    }
}

#[test]
fn quick_5xx_and_network_retries_are_counted() {
    let p = RetryPolicy {
        max_attempts: 10,
        base_ms: 1000,
        max_ms: 30_000,
        quick_retries_5xx: 2,
        network_retries: 3,
    };
    let quick: Vec<Option<u64>> = (1..5)
        .map(|a| p.decide(a, &server(500), None, 0.0))
        .collect();
    assert_eq!(quick, vec![Some(500), Some(500), None, None]);
    let quick: Vec<Option<u64>> = (1..3)
        .map(|a| p.decide(a, &server(502), None, 1.0))
        .collect();
    assert_eq!(quick, vec![Some(1000), Some(1000)]);
    let net: Vec<Option<u64>> = (1..6)
        .map(|a| p.decide(a, &ChatError::Network("x".into()), None, 0.0))
        .collect();
    assert_eq!(net, vec![Some(500), Some(1000), Some(2000), None, None]);
    assert_eq!(
        p.decide(1, &ChatError::Timeout("t".into()), None, 1.0),
        Some(1000)
    );
    assert_eq!(RetryPolicy::none().decide(1, &server(503), None, 0.0), None);
}

#[test]
fn status_mapping() {
    assert_eq!(
        error_from_status(401, b"{\"error\":{\"message\":\"bad\"}}", None, "openai"),
        ChatError::BadKey
    );
    assert_eq!(
        error_from_status(403, b"", None, "openai"),
        ChatError::Forbidden("access denied".into())
    );
    assert!(
        matches!(error_from_status(403, b"", None, "ollama"), ChatError::Forbidden(ref m) if m.contains("OLLAMA_ORIGINS"))
    );
    let ollama = std::fs::read(format!(
        "{}/tests/fixtures/ollama_404.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    match error_from_status(404, &ollama, None, "ollama") {
        ChatError::NotFound(m) => {
            assert!(m.starts_with("model \"llama9\" not found"), "{m}");
            assert!(m.contains("ollama pull"));
        }
        e => panic!("{e:?}"),
    }
    let groq = std::fs::read(format!(
        "{}/tests/fixtures/groq_logprobs_400.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    assert_eq!(
        error_from_status(400, &groq, None, "groq"),
        ChatError::Unsupported("`logprobs` is not supported with this model".into())
    );
    let gem = std::fs::read(format!(
        "{}/tests/fixtures/gemini_logprobs_400.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    assert!(
        matches!(error_from_status(400, &gem, None, "gemini"), ChatError::Unsupported(ref m) if m.contains("top_logprobs"))
    );
    assert!(matches!(
        error_from_status(
            400,
            b"{\"error\":{\"message\":\"'n' : number must be at most 1\"}}",
            None,
            "groq"
        ),
        ChatError::Unsupported(_)
    ));
    assert!(matches!(
        error_from_status(
            400,
            b"{\"error\":{\"message\":\"Invalid schema for response_format 'reply'\"}}",
            None,
            ""
        ),
        ChatError::Unsupported(_)
    ));
    assert_eq!(
        error_from_status(
            400,
            b"{\"error\":{\"message\":\"max_tokens too large\"}}",
            None,
            ""
        ),
        ChatError::BadRequest {
            status: 400,
            message: "max_tokens too large".into()
        }
    );
    assert!(matches!(
        error_from_status(408, b"", None, ""),
        ChatError::Timeout(_)
    ));
    assert_eq!(
        error_from_status(429, b"{}", Some("3"), ""),
        ChatError::RateLimited { waited_ms: 0 }
    );
    assert!(
        matches!(error_from_status(422, b"{\"detail\":[{\"msg\":\"field required\"},{\"msg\":\"bad type\"}]}", None, ""), ChatError::BadRequest { status: 422, ref message } if message == "field required; bad type")
    );
    assert_eq!(
        error_from_status(503, b"", None, ""),
        ChatError::Server {
            status: 503,
            message: "no details given".into()
        }
    );
    assert!(matches!(
        error_from_status(302, b"", None, ""),
        ChatError::Other(_)
    ));
    // Anthropic typed error objects.
    let obj = |t: &str| serde_json::json!({"type": t, "message": "m"});
    assert_eq!(
        error_from_object(&obj("authentication_error")),
        ChatError::BadKey
    );
    assert!(matches!(
        error_from_object(&obj("overloaded_error")),
        ChatError::Server { status: 529, .. }
    ));
    assert!(matches!(
        error_from_object(&obj("rate_limit_error")),
        ChatError::RateLimited { .. }
    ));
    assert!(matches!(
        error_from_object(&obj("not_found_error")),
        ChatError::NotFound(_)
    ));
    assert!(matches!(
        error_from_object(&obj("invalid_request_error")),
        ChatError::BadRequest { status: 400, .. }
    ));
    assert!(matches!(
        error_from_object(&serde_json::json!({"message":"x","code":"503"})),
        ChatError::Server { status: 503, .. }
    ));
}

#[test]
fn body_messages() {
    assert_eq!(
        body_message(b"{\"error\":\"plain string\"}"),
        "plain string"
    );
    assert_eq!(body_message(b"{\"message\":\"top level\"}"), "top level");
    assert_eq!(body_message(b"{\"detail\":\"fastapi\"}"), "fastapi");
    assert_eq!(
        body_message(b"{\"error\":{\"error\":{\"message\":\"nested\"}}}"),
        "nested"
    );
    assert_eq!(
        body_message(b"  upstream\n  timed   out "),
        "upstream timed out"
    );
    assert!(body_message(b"<!DOCTYPE html><html><body>502</body></html>").contains("HTML page"));
    assert_eq!(body_message(b""), "");
    assert!(
        body_message(&[0xff, 0xfe, b'a']).contains('a'),
        "lossy, no panic"
    );
    let long = "x ".repeat(1000);
    assert!(body_message(long.as_bytes()).chars().count() <= 401);
    let multibyte = "é".repeat(1000);
    assert!(body_message(multibyte.as_bytes()).ends_with('…'));
}

#[test]
fn keys_are_redacted() {
    let key = "my-local-secret-42";
    let ep = Endpoint::new(
        Protocol::OpenAi,
        "https://api.example.com/v1",
        Some(key.into()),
        "openai",
    );
    let body = format!("{{\"error\":{{\"message\":\"Incorrect API key provided: {key}.\"}}}}");
    for status in [400, 403, 404, 408, 422, 500, 503] {
        let e = error_from_status_for(&ep, status, body.as_bytes(), None);
        let shown = format!("{e} {e:?}");
        assert!(!shown.contains(key), "{status}: {shown}");
    }
    // Key-like tokens are masked even without knowing the key.
    for k in [
        "sk-proj-abcdefghijklmnopqrstuvwxyz012345",
        "sk-ant-api03-AbCdEfGhIjKlMnOpQr",
        "gsk_abcdefghijklmnopqrstuv",
        "AIzaSyA1b2C3d4E5f6G7h8I9j0",
    ] {
        let e = error_from_status(
            400,
            format!("{{\"error\":{{\"message\":\"bad key {k} given\"}}}}").as_bytes(),
            None,
            "",
        );
        assert!(!e.to_string().contains(k), "{k}: {e}");
        assert!(e.to_string().contains("bad key [key] given"), "{e}");
    }
    assert_eq!(
        redact_key_like("Authorization: Bearer abc.def"),
        "Authorization: Bearer [key]"
    );
    assert_eq!(redact_key_like("x-api-key: zzz"), "x-api-key: [key]");
    assert_eq!(
        redact_key_like("model gpt-4.1-mini not found"),
        "model gpt-4.1-mini not found"
    );
    let model = "Qwen2-VL-72B-Instruct-AWQ-abcdefghijk12";
    assert_eq!(redact_key_like(model), model);
    assert_eq!(
        redact_key_like("tok 0123456789abcdef0123456789abcdef."),
        "tok [key]."
    );
    // "n" as a parameter vs. words ending in n.
    assert!(matches!(
        error_from_status(
            400,
            b"{\"error\":{\"message\":\"Validation: bad request\"}}",
            None,
            ""
        ),
        ChatError::BadRequest { .. }
    ));
    assert!(matches!(
        error_from_status(
            400,
            b"{\"error\":{\"message\":\"Invalid 'n': integer above maximum value\"}}",
            None,
            ""
        ),
        ChatError::Unsupported(_)
    ));
    assert_eq!(redact("a secret-abc b", Some("secret-abc")), "a [key] b");
    assert_eq!(redact("abc", Some("")), "abc");
}

#[test]
fn network_diagnoses_name_the_fix() {
    let ep = |id: &str| {
        let p = preset(id).unwrap();
        p.endpoint(None)
    };
    let d = diagnose_network_error(&ep("ollama"), "https://ethos.example.org");
    assert!(d.contains("OLLAMA_ORIGINS"), "{d}");
    assert!(d.contains("not running"), "{d}");
    assert!(d.contains("Local Network Access"), "{d}");
    assert!(
        !d.contains("Mixed content"),
        "http://localhost is allowed from https pages: {d}"
    );
    let d = diagnose_network_error(&ep("lmstudio"), "http://localhost:8080");
    assert!(d.contains("--cors"), "{d}");
    assert!(
        !d.contains("Local Network Access"),
        "a localhost page needs no permission: {d}"
    );
    let lan = Endpoint::new(
        Protocol::OpenAi,
        "http://192.168.1.20:8080/v1",
        None,
        "llamacpp",
    );
    let d = diagnose_network_error(&lan, "https://ethos.example.org");
    assert!(d.contains("Mixed content"), "{d}");
    let d = diagnose_network_error(&ep("anthropic"), "https://ethos.example.org");
    assert!(
        d.contains("anthropic-dangerous-direct-browser-access"),
        "{d}"
    );
    let d = diagnose_network_error(
        &Endpoint::new(Protocol::OpenAi, "localhost:11434", None, "ollama"),
        "",
    );
    assert!(d.contains("not a valid http(s) address"), "{d}");
    assert!(d.contains("http://localhost:11434/v1"), "{d}");
    let d = diagnose_network_error(&ep("openai"), "https://ethos.example.org");
    assert!(d.contains("https://api.openai.com/v1"), "{d}");
}

#[test]
fn presets_are_consistent() {
    let ids: Vec<&str> = PRESETS.iter().map(|p| p.id).collect();
    for id in [
        "openai",
        "openrouter",
        "groq",
        "together",
        "mistral",
        "deepseek",
        "gemini",
        "ollama",
        "llamacpp",
        "lmstudio",
        "vllm",
        "anthropic",
    ] {
        assert!(ids.contains(&id), "{id}");
    }
    let mut sorted = ids.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), ids.len(), "unique ids");
    for p in PRESETS {
        assert!(p.default_base_url.starts_with("http"), "{}", p.id);
        assert!(!p.default_base_url.ends_with('/'), "{}", p.id);
        assert!(p.max_concurrency >= 1);
        assert_eq!(p.needs_key, !p.key_page.is_empty(), "{}", p.id);
        if p.is_local() {
            assert!(!p.cors_fix.is_empty(), "{}", p.id);
        }
    }
    assert_eq!(preset("anthropic").unwrap().protocol, Protocol::Anthropic);
    assert_eq!(preset("groq").unwrap().logprobs, Support::No);
    assert_eq!(
        preset("ollama").unwrap().endpoint(Some("k".into())).preset,
        "ollama"
    );
    assert!(preset("nope").is_none());
}

#[test]
fn endpoint_serialises_without_its_key() {
    let ep = Endpoint::new(
        Protocol::OpenAi,
        "http://localhost:8080/v1",
        Some("sk-secret-123".into()),
        "llamacpp",
    );
    let json = serde_json::to_value(&ep).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"protocol": "openai", "base_url": "http://localhost:8080/v1", "preset": "llamacpp"})
    );
    let back: Endpoint = serde_json::from_value(
        serde_json::json!({"protocol": "anthropic", "base_url": "https://api.anthropic.com"}),
    )
    .unwrap();
    assert_eq!(
        (back.protocol, back.preset.as_str(), back.api_key),
        (Protocol::Anthropic, "custom", None)
    );
    assert!(!format!("{ep:?}").contains("sk-secret"));
    assert_eq!(ep.key(), Some("sk-secret-123"));
    assert_eq!(
        Endpoint::new(Protocol::OpenAi, "x", Some("  ".into()), "custom").key(),
        None
    );
}

#[test]
fn url_joining() {
    assert_eq!(
        join_url("https://a/v1", "/chat/completions"),
        "https://a/v1/chat/completions"
    );
    assert_eq!(
        join_url("https://a/v1/", "chat/completions"),
        "https://a/v1/chat/completions"
    );
    assert_eq!(
        join_url(" https://a/v1// ", "//models"),
        "https://a/v1/models"
    );
    assert_eq!(join_url("https://a", ""), "https://a");
}
