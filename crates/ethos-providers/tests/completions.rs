//! Raw completion (`/completions`): the pure request builder and the reply parser, on recorded
//! bodies of both log-probability shapes (OpenAI's legacy token → logprob maps; llama.cpp's
//! chat-style lists).

use ethos_engine::distribution::from_top_logprobs;
use ethos_engine::{ChatError, ChatRequest, Message};
use ethos_providers::completions::{build_completion, parse_completion};
use ethos_providers::openai::WireOptions;
use ethos_providers::{Endpoint, Protocol};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

fn raw_request() -> ChatRequest {
    let mut r = ChatRequest::new(
        "smollm2",
        vec![
            Message::system("Be concise."),
            Message::user("Question: Q?\nOptions: A. Yes B. No\nAnswer:"),
        ],
        0.1,
        20,
    );
    r.top_logprobs = Some(10);
    r.seed = Some(3);
    r.raw = true;
    r
}

#[test]
fn the_request_is_a_plain_prompt_to_the_completions_endpoint() {
    let ep = Endpoint::new(
        Protocol::OpenAi,
        "http://127.0.0.1:8088/v1/",
        Some("sk-x".into()),
        "llamacpp",
    );
    let h = build_completion(&ep, &raw_request(), WireOptions::default());
    assert_eq!(h.method, "POST");
    assert_eq!(h.url, "http://127.0.0.1:8088/v1/completions");
    assert!(h
        .headers
        .iter()
        .any(|(k, v)| k == "Authorization" && v == "Bearer sk-x"));
    let b: serde_json::Value = serde_json::from_str(h.body.as_deref().unwrap()).unwrap();
    assert_eq!(
        b["prompt"],
        "Be concise.\n\nQuestion: Q?\nOptions: A. Yes B. No\nAnswer:"
    );
    assert!(b.get("messages").is_none());
    assert_eq!(
        (b["logprobs"].as_u64(), b["max_tokens"].as_u64()),
        (Some(10), Some(20))
    );
    assert_eq!(
        (b["temperature"].as_f64(), b["seed"].as_u64()),
        (Some(0.1), Some(3))
    );
    assert_eq!(b["stream"], false);
    // Adaptations learnt from 400s apply as for chat.
    let opts = WireOptions {
        omit_temperature: true,
        omit_seed: true,
        ..WireOptions::default()
    };
    let h = build_completion(&ep, &raw_request(), opts);
    let b: serde_json::Value = serde_json::from_str(h.body.as_deref().unwrap()).unwrap();
    assert!(b.get("temperature").is_none() && b.get("seed").is_none());
}

#[test]
fn legacy_token_maps_are_read_best_first() {
    let r = parse_completion(&fixture("openai_completion_logprobs.json")).unwrap();
    assert_eq!(r.text, " B");
    let top = r.first_token_top_logprobs.unwrap();
    let tokens: Vec<&str> = top.iter().map(|t| t.token.as_str()).collect();
    assert_eq!(tokens, [" B", " A", "A", "B", " C"]);
    assert_eq!(r.usage.unwrap().prompt_tokens, 21);
    assert_eq!(r.finish_reason.as_deref(), Some("length"));
    // The reference mapping: per letter the most probable trimmed match, renormalised.
    let d = from_top_logprobs(&top, 3);
    let (a, b, c) = ((-1.6f64).exp(), (-0.4f64).exp(), (-4.0f64).exp());
    let z = a + b + c;
    for (got, want) in d.probs.iter().zip([a / z, b / z, c / z]) {
        assert!((got - want).abs() < 1e-12, "{:?}", d.probs);
    }
}

#[test]
fn llama_cpp_content_lists_are_read() {
    let r = parse_completion(&fixture("llamacpp_completion_logprobs.json")).unwrap();
    assert_eq!(r.text, " A");
    let top = r.first_token_top_logprobs.unwrap();
    assert_eq!(top.len(), 4);
    assert_eq!((top[0].token.as_str(), top[0].logprob), (" A", -0.5978));
    let d = from_top_logprobs(&top, 2);
    let (a, b) = ((-0.5978f64).exp(), (-0.9453f64).exp());
    assert!((d.probs[0] - a / (a + b)).abs() < 1e-12, "{:?}", d.probs);
}

#[test]
fn odd_replies_are_clear_errors_never_panics() {
    for (body, want) in [
        (&b"not json"[..], "not JSON"),
        (br#"{"choices": []}"#, "has no choices"),
        (br#"{"object": "text_completion"}"#, "has no choices"),
    ] {
        match parse_completion(body) {
            Err(ChatError::Malformed(m)) => assert!(m.contains(want), "{m}"),
            other => panic!("{other:?}"),
        }
    }
    let err = parse_completion(br#"{"error": {"message": "model not found", "code": 404}}"#);
    assert!(err.is_err());
    // Without logprobs: the text alone; odd logprob objects are ignored.
    let r =
        parse_completion(br#"{"choices":[{"text":"A","logprobs":{"top_logprobs":[7]}}]}"#).unwrap();
    assert_eq!((r.text.as_str(), r.first_token_top_logprobs), ("A", None));
    let r =
        parse_completion(br#"{"choices":[{"text":"A","logprobs":{"top_logprobs":[{"A":"x"}]}}]}"#)
            .unwrap();
    assert_eq!(r.first_token_top_logprobs, Some(vec![]));
}
