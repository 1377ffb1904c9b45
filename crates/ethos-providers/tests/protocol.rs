//! Wire-protocol tests on recorded byte streams: every 2-way split, byte-by-byte feeding, CRLF
//! and CR line endings, invalid UTF-8, truncation, missing end markers, in-stream errors; and
//! the request builders.

use ethos_engine::{ChatError, ChatRequest, ChatResponse, Message, TokenLogprob, Usage};
use ethos_providers::{anthropic, openai, Endpoint, Protocol};
use serde_json::Value;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

type Decoded = (Vec<String>, Result<ChatResponse, ChatError>);

trait Decoder: Sized {
    fn new() -> Self;
    fn feed(&mut self, b: &[u8]) -> Result<Vec<String>, ChatError>;
    fn finish(self) -> Result<ChatResponse, ChatError>;
}

impl Decoder for openai::StreamDecoder {
    fn new() -> Self {
        openai::StreamDecoder::new()
    }
    fn feed(&mut self, b: &[u8]) -> Result<Vec<String>, ChatError> {
        openai::StreamDecoder::feed(self, b)
    }
    fn finish(self) -> Result<ChatResponse, ChatError> {
        openai::StreamDecoder::finish(self)
    }
}

impl Decoder for anthropic::StreamDecoder {
    fn new() -> Self {
        anthropic::StreamDecoder::new()
    }
    fn feed(&mut self, b: &[u8]) -> Result<Vec<String>, ChatError> {
        anthropic::StreamDecoder::feed(self, b)
    }
    fn finish(self) -> Result<ChatResponse, ChatError> {
        anthropic::StreamDecoder::finish(self)
    }
}

/// Feed the chunks in order; the first error ends decoding (as the client does).
fn decode<D: Decoder>(chunks: &[&[u8]]) -> Decoded {
    let mut d = D::new();
    let mut deltas = Vec::new();
    for c in chunks {
        match d.feed(c) {
            Ok(ds) => deltas.extend(ds),
            Err(e) => return (deltas, Err(e)),
        }
    }
    let res = d.finish();
    (deltas, res)
}

/// Decoding whole, at every 2-way split, and byte by byte gives identical results.
fn assert_split_invariant<D: Decoder>(bytes: &[u8]) -> Decoded {
    let whole = decode::<D>(&[bytes]);
    for i in 0..=bytes.len() {
        let (a, b) = bytes.split_at(i);
        assert_eq!(decode::<D>(&[a, b]), whole, "split at byte {i}");
    }
    let singles: Vec<&[u8]> = bytes.chunks(1).collect();
    assert_eq!(decode::<D>(&singles), whole, "byte by byte");
    // Three-way splits at a coarse grid too.
    let step = (bytes.len() / 23).max(1);
    for i in (0..bytes.len()).step_by(step) {
        for j in (i..bytes.len()).step_by(step) {
            let (a, rest) = bytes.split_at(i);
            let (b, c) = rest.split_at(j - i);
            assert_eq!(decode::<D>(&[a, b, c]), whole, "split at {i},{j}");
        }
    }
    whole
}

fn crlf(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for &b in bytes {
        if b == b'\n' {
            out.extend_from_slice(b"\r\n");
        } else {
            out.push(b);
        }
    }
    out
}

fn cr_only(bytes: &[u8]) -> Vec<u8> {
    bytes
        .iter()
        .map(|&b| if b == b'\n' { b'\r' } else { b })
        .collect()
}

fn lp(token: &str, logprob: f64) -> TokenLogprob {
    TokenLogprob {
        token: token.into(),
        logprob,
    }
}

fn find(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len())
        .position(|w| w == needle)
        .expect("needle in fixture")
}

// ---------------------------------------------------------------- OpenAI streams

#[test]
fn llamacpp_stream_with_logprobs_and_usage_chunk() {
    let bytes = fixture("openai_llamacpp_stream.sse");
    let (deltas, res) = assert_split_invariant::<openai::StreamDecoder>(&bytes);
    assert_eq!(deltas, vec!["Yes", ", café", " — naïve ✓ 😀"]);
    let r = res.expect("decodes");
    assert_eq!(r.text, "Yes, café — naïve ✓ 😀");
    assert!(r.more_texts.is_empty());
    assert_eq!(r.finish_reason.as_deref(), Some("stop"));
    assert_eq!(
        r.usage,
        Some(Usage {
            prompt_tokens: 31,
            completion_tokens: 4
        })
    );
    let tops = r.first_token_top_logprobs.expect("logprobs");
    assert_eq!(tops.len(), 5);
    assert_eq!(tops[0], lp("Yes", -0.07121));
    assert_eq!(tops[1], lp("No", -2.71234));
    assert_eq!(tops[4], lp("\"", -9.5));
}

#[test]
fn official_stream_skips_empty_first_token_reasoning_and_empty_choices() {
    let bytes = fixture("openai_official_stream.sse");
    let (deltas, res) = assert_split_invariant::<openai::StreamDecoder>(&bytes);
    assert_eq!(deltas, vec!["B", "ecause"]);
    let r = res.expect("decodes");
    assert_eq!(
        r.text, "Because",
        "reasoning_content is not part of the text"
    );
    assert_eq!(r.finish_reason.as_deref(), Some("length"));
    assert_eq!(
        r.usage,
        Some(Usage {
            prompt_tokens: 57,
            completion_tokens: 2
        })
    );
    assert_eq!(
        r.first_token_top_logprobs,
        Some(vec![lp("B", -0.3285), lp("A", -1.2785), lp("C", -3.0285)])
    );
}

#[test]
fn n2_stream_keeps_choices_apart_and_streams_only_the_first() {
    let bytes = fixture("openai_n2_stream.sse");
    let (deltas, res) = assert_split_invariant::<openai::StreamDecoder>(&bytes);
    assert_eq!(deltas, vec!["First", " one"]);
    let r = res.expect("decodes");
    assert_eq!(r.text, "First one");
    assert_eq!(r.more_texts, vec!["Second one"]);
    assert_eq!(r.first_token_top_logprobs, None);
    assert_eq!(
        r.usage,
        Some(Usage {
            prompt_tokens: 20,
            completion_tokens: 8
        })
    );
}

#[test]
fn crlf_and_cr_line_endings_decode_identically() {
    for name in [
        "openai_llamacpp_stream.sse",
        "openai_official_stream.sse",
        "openai_n2_stream.sse",
    ] {
        let lf = fixture(name);
        let want = decode::<openai::StreamDecoder>(&[&lf]);
        assert!(want.1.is_ok());
        let c = crlf(&lf);
        assert_eq!(
            assert_split_invariant::<openai::StreamDecoder>(&c),
            want,
            "{name} CRLF"
        );
        assert_eq!(
            assert_split_invariant::<openai::StreamDecoder>(&cr_only(&lf)),
            want,
            "{name} CR"
        );
    }
    let lf = fixture("anthropic_stream.sse");
    let want = decode::<anthropic::StreamDecoder>(&[&lf]);
    assert!(want.1.is_ok());
    assert_eq!(
        assert_split_invariant::<anthropic::StreamDecoder>(&crlf(&lf)),
        want
    );
    assert_eq!(
        assert_split_invariant::<anthropic::StreamDecoder>(&cr_only(&lf)),
        want
    );
}

#[test]
fn invalid_utf8_is_a_clean_error() {
    let mut bytes = fixture("openai_llamacpp_stream.sse");
    let at = find(&bytes, b"caf") + 3;
    bytes[at] = 0xFF; // was the first byte of "\u00e9"'s escape; now invalid UTF-8
    for i in [0, at, at + 1, bytes.len()] {
        let (a, b) = bytes.split_at(i);
        let (_, res) = decode::<openai::StreamDecoder>(&[a, b]);
        assert!(
            matches!(res, Err(ChatError::Malformed(ref m)) if m.contains("UTF-8")),
            "split {i}: {res:?}"
        );
    }
    // Inside a multi-byte character of the Anthropic stream: a truncated sequence.
    let mut a = fixture("anthropic_stream.sse");
    let at = find(&a, "😀".as_bytes());
    a.remove(at + 1);
    let (_, res) = decode::<anthropic::StreamDecoder>(&[&a]);
    assert!(matches!(res, Err(ChatError::Malformed(_))), "{res:?}");
}

/// Found by the `openai_stream` fuzz target: text that arrived before an invalid line was
/// returned when the line came in a later chunk but dropped when it came in the same chunk.
#[test]
fn text_before_an_invalid_line_does_not_depend_on_chunking() {
    for (name, piece) in [
        ("openai_n2_stream.sse", &b"\" one\"}"[..]),
        ("anthropic_stream.sse", &b"\"Autonomy\"}}\n\n"[..]),
    ] {
        let mut bytes = fixture(name);
        let at = find(&bytes, piece) + piece.len();
        bytes[at] = 0xD5; // a lead byte followed by ASCII: invalid UTF-8 mid-stream
        let (text, res) = if name.starts_with("openai") {
            assert_split_invariant::<openai::StreamDecoder>(&bytes)
        } else {
            assert_split_invariant::<anthropic::StreamDecoder>(&bytes)
        };
        assert!(!text.is_empty(), "{name}: the text before the damage is kept");
        assert!(
            matches!(res, Err(ChatError::Malformed(ref m)) if m.contains("UTF-8")),
            "{name}: {res:?}"
        );
    }
}

#[test]
fn stream_cut_anywhere_before_done_is_an_error() {
    let bytes = fixture("openai_llamacpp_stream.sse");
    let done = find(&bytes, b"data: [DONE]");
    assert!(
        matches!(
            decode::<openai::StreamDecoder>(&[b""]).1,
            Err(ChatError::Malformed(_))
        ),
        "empty"
    );
    // Before the finish reason: truncation (retryable). After it: the reply was whole but the
    // marker is missing (a server quirk, not retried) unless the cut left a partial line.
    let fin = find(&bytes, b"\"finish_reason\":\"stop\"");
    let mut quirks = 0;
    for cut in 1..done + "data: [DONE".len() {
        let (_, res) = decode::<openai::StreamDecoder>(&[&bytes[..cut]]);
        match res {
            Err(ChatError::Network(ref m)) if m.contains("ended early") => {}
            Err(ChatError::Malformed(ref m)) if cut > fin && m.contains("without [DONE]") => {
                quirks += 1
            }
            other => panic!("cut at {cut}: {other:?}"),
        }
    }
    assert!(quirks > 0);
    // [DONE] without its trailing blank line is accepted (lenient end of stream).
    let (_, res) = decode::<openai::StreamDecoder>(&[&bytes[..done + "data: [DONE]".len()]]);
    assert!(res.is_ok());

    let a = fixture("anthropic_stream.sse");
    let stop = find(&a, b"event: message_stop");
    let fin = find(&a, b"\"stop_reason\":\"end_turn\"");
    for cut in 1..stop + 10 {
        let (_, res) = decode::<anthropic::StreamDecoder>(&[&a[..cut]]);
        match res {
            Err(ChatError::Network(ref m)) if m.contains("message_stop") => {}
            Err(ChatError::Malformed(ref m)) if cut > fin && m.contains("without message_stop") => {
            }
            other => panic!("anthropic cut at {cut}: {other:?}"),
        }
    }
}

#[test]
fn missing_done_is_an_error() {
    let bytes = fixture("openai_official_stream.sse");
    let done = find(&bytes, b"data: [DONE]");
    let (deltas, res) = decode::<openai::StreamDecoder>(&[&bytes[..done]]);
    assert_eq!(deltas, vec!["B", "ecause"]);
    assert!(
        matches!(res, Err(ChatError::Malformed(ref m)) if m.contains("without [DONE]")),
        "{res:?}"
    );
    // Cut before the finish reason: truncation.
    let fin = find(&bytes, b"\"finish_reason\":\"length\"");
    let line_start = bytes[..fin].iter().rposition(|&b| b == b'\n').unwrap() + 1;
    let (_, res) = decode::<openai::StreamDecoder>(&[&bytes[..line_start]]);
    assert!(
        matches!(res, Err(ChatError::Network(ref m)) if m.contains("[DONE]")),
        "{res:?}"
    );
    // An empty body is an error too.
    assert!(decode::<openai::StreamDecoder>(&[b""]).1.is_err());
    // [DONE] alone: no reply.
    assert!(matches!(
        decode::<openai::StreamDecoder>(&[b"data: [DONE]\n\n"]).1,
        Err(ChatError::Malformed(_))
    ));
}

#[test]
fn error_object_inside_the_stream() {
    let bytes = fixture("openai_stream_error.sse");
    let (deltas, res) = assert_split_invariant::<openai::StreamDecoder>(&bytes);
    assert_eq!(deltas, vec!["Par"]);
    match res {
        Err(ChatError::Server {
            status: 500,
            message,
        }) => assert_eq!(message, "Context size has been exceeded."),
        other => panic!("{other:?}"),
    }
    let (deltas, res) =
        assert_split_invariant::<anthropic::StreamDecoder>(&fixture("anthropic_stream_error.sse"));
    assert_eq!(deltas, vec!["Part"]);
    assert!(
        matches!(res, Err(ChatError::Server { status: 529, ref message }) if message == "Overloaded"),
        "{res:?}"
    );
    // A rate-limit error object maps to RateLimited.
    let s = b"data: {\"error\":{\"message\":\"Rate limit reached\",\"type\":\"rate_limit_exceeded\",\"code\":429}}\n\n";
    assert!(matches!(
        decode::<openai::StreamDecoder>(&[s]).1,
        Err(ChatError::RateLimited { .. })
    ));
}

#[test]
fn invalid_json_chunk_is_malformed() {
    let s = b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\ndata: {not json\n\ndata: [DONE]\n\n";
    let (deltas, res) = decode::<openai::StreamDecoder>(&[s]);
    assert_eq!(deltas, vec!["a"]);
    assert!(
        matches!(res, Err(ChatError::Malformed(ref m)) if m.contains("not JSON")),
        "{res:?}"
    );
    let a = b"event: message_start\ndata: {oops\n\n";
    assert!(matches!(
        decode::<anthropic::StreamDecoder>(&[a]).1,
        Err(ChatError::Malformed(_))
    ));
}

#[test]
fn events_after_done_are_ignored() {
    let s = b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\ndata: [DONE]\n\ndata: {garbage\n\n";
    let (deltas, res) = decode::<openai::StreamDecoder>(&[s]);
    assert_eq!(deltas, vec!["a"]);
    assert_eq!(res.map(|r| r.text).ok().as_deref(), Some("a"));
}

// ---------------------------------------------------------------- Anthropic streams

#[test]
fn anthropic_stream_named_events() {
    let bytes = fixture("anthropic_stream.sse");
    let (deltas, res) = assert_split_invariant::<anthropic::StreamDecoder>(&bytes);
    assert_eq!(
        deltas,
        vec![
            "Autonomy",
            " matters — naïve café ✓ 😀",
            "\n\nBeneficence too."
        ]
    );
    let r = res.expect("decodes");
    assert_eq!(
        r.text,
        "Autonomy matters — naïve café ✓ 😀\n\nBeneficence too."
    );
    assert_eq!(r.finish_reason.as_deref(), Some("end_turn"));
    assert_eq!(
        r.usage,
        Some(Usage {
            prompt_tokens: 472,
            completion_tokens: 15
        })
    );
    assert_eq!(r.first_token_top_logprobs, None);
}

#[test]
fn anthropic_stream_without_message_stop_or_start_is_an_error() {
    let bytes = fixture("anthropic_stream.sse");
    let stop = find(&bytes, b"event: message_stop");
    let (_, res) = decode::<anthropic::StreamDecoder>(&[&bytes[..stop]]);
    assert!(
        matches!(res, Err(ChatError::Malformed(ref m)) if m.contains("without message_stop")),
        "{res:?}"
    );
    let delta = find(&bytes, b"event: message_delta");
    let (_, res) = decode::<anthropic::StreamDecoder>(&[&bytes[..delta]]);
    assert!(
        matches!(res, Err(ChatError::Network(ref m)) if m.contains("message_stop")),
        "{res:?}"
    );
    // A message without any text is an error.
    let empty = b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":3}}}\n\nevent: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"max_tokens\"},\"usage\":{\"output_tokens\":0}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
    let (_, res) = decode::<anthropic::StreamDecoder>(&[empty]);
    assert!(
        matches!(res, Err(ChatError::Malformed(ref m)) if m.contains("no text") && m.contains("token limit")),
        "{res:?}"
    );
    let (_, res) = decode::<anthropic::StreamDecoder>(&[
        b"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
    ]);
    assert!(matches!(res, Err(ChatError::Malformed(_))));
}

// ---------------------------------------------------------------- whole bodies

#[test]
fn openai_whole_body_sorts_choices_and_skips_empty_first_token() {
    let r = openai::parse_chat(&fixture("openai_chat.json")).expect("parses");
    assert_eq!(r.text, "B");
    assert_eq!(r.more_texts, vec!["C"]);
    assert_eq!(r.finish_reason.as_deref(), Some("length"));
    assert_eq!(
        r.usage,
        Some(Usage {
            prompt_tokens: 57,
            completion_tokens: 2
        })
    );
    assert_eq!(
        r.first_token_top_logprobs,
        Some(vec![lp("B", -0.3285), lp("A", -1.2785), lp("C", -3.0285)])
    );
}

#[test]
fn openai_whole_body_edge_cases() {
    assert!(matches!(
        openai::parse_chat(b"{\"choices\":[]}"),
        Err(ChatError::Malformed(_))
    ));
    assert!(matches!(
        openai::parse_chat(b"<html>"),
        Err(ChatError::Malformed(_))
    ));
    assert!(matches!(
        openai::parse_chat(&[0xff, 0xfe]),
        Err(ChatError::Malformed(_))
    ));
    // null content (reasoning model ran out of tokens): an error that says why.
    let r = openai::parse_chat(br#"{"choices":[{"index":0,"message":{"role":"assistant","content":null,"reasoning_content":"..."},"finish_reason":"length"}]}"#);
    assert!(
        matches!(r, Err(ChatError::Malformed(ref m)) if m.contains("no text") && m.contains("token limit")),
        "{r:?}"
    );
    let r = anthropic::parse_chat(br#"{"type":"message","content":[],"stop_reason":"end_turn"}"#);
    assert!(
        matches!(r, Err(ChatError::Malformed(ref m)) if m.contains("no text") && m.contains("end_turn")),
        "{r:?}"
    );
    // Error object in a 200 body.
    assert!(matches!(
        openai::parse_chat(&fixture("ollama_404.json")),
        Err(ChatError::Server { .. } | ChatError::NotFound(_))
    ));
}

#[test]
fn anthropic_whole_body() {
    let r = anthropic::parse_chat(&fixture("anthropic_message.json")).expect("parses");
    assert_eq!(r.text, "Respect for autonomy.");
    assert_eq!(r.finish_reason.as_deref(), Some("end_turn"));
    assert_eq!(
        r.usage,
        Some(Usage {
            prompt_tokens: 2095,
            completion_tokens: 503
        })
    );
    assert_eq!(
        anthropic::parse_chat(&fixture("anthropic_401.json")),
        Err(ChatError::BadKey)
    );
}

#[test]
fn model_lists() {
    assert_eq!(
        openai::parse_models(&fixture("openai_models.json")).unwrap(),
        vec!["gpt-4.1", "gpt-4.1-mini"]
    );
    assert_eq!(
        anthropic::parse_models(&fixture("anthropic_models.json")).unwrap(),
        vec!["claude-haiku-4-5-20251001", "claude-sonnet-4-5-20250929"]
    );
    assert!(openai::parse_models(b"nope").is_err());
    assert!(openai::parse_models(b"{\"object\":\"list\"}").is_err());
    assert_eq!(
        anthropic::parse_models(&fixture("anthropic_401.json")),
        Err(ChatError::BadKey)
    );
}

// ---------------------------------------------------------------- request builders

fn request() -> ChatRequest {
    ChatRequest::new(
        "m-1",
        vec![
            Message::system("Be brief."),
            Message::user("Hi?"),
            Message::assistant("Hello."),
            Message::user("Again?"),
        ],
        0.7,
        64,
    )
}

fn body(req: &ethos_providers::HttpRequest) -> Value {
    serde_json::from_str(req.body.as_deref().expect("body")).expect("json")
}

fn header<'a>(req: &'a ethos_providers::HttpRequest, name: &str) -> Option<&'a str> {
    req.headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

#[test]
fn openai_request_minimal_omits_unset_fields() {
    let ep = Endpoint::new(
        Protocol::OpenAi,
        "https://generativelanguage.googleapis.com/v1beta/openai/",
        Some("k-123".into()),
        "gemini",
    );
    let h = openai::build_chat(&ep, &request(), false);
    assert_eq!(h.method, "POST");
    assert_eq!(
        h.url,
        "https://generativelanguage.googleapis.com/v1beta/openai/chat/completions"
    );
    assert_eq!(header(&h, "authorization"), Some("Bearer k-123"));
    assert_eq!(header(&h, "content-type"), Some("application/json"));
    let b = body(&h);
    let keys: Vec<&str> = b.as_object().unwrap().keys().map(String::as_str).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        vec!["max_tokens", "messages", "model", "temperature"]
    );
    assert_eq!(
        b["messages"][0],
        serde_json::json!({"role":"system","content":"Be brief."})
    );
    assert_eq!(b["messages"][2]["role"], "assistant");
    assert_eq!(b["temperature"], 0.7);
    assert_eq!(b["max_tokens"], 64);
}

#[test]
fn openai_request_all_options_and_streaming() {
    let mut r = request();
    r.seed = Some(7);
    r.top_logprobs = Some(25);
    r.n = Some(3);
    r.json_schema = Some(serde_json::json!({"type":"object","properties":{"a":{"type":"number"}}}));
    let ep = Endpoint::new(
        Protocol::OpenAi,
        "http://localhost:8080/v1///",
        None,
        "llamacpp",
    );
    let h = openai::build_chat(&ep, &r, true);
    assert_eq!(h.url, "http://localhost:8080/v1/chat/completions");
    assert_eq!(header(&h, "authorization"), None, "no key, no header");
    let b = body(&h);
    assert_eq!(b["seed"], 7);
    assert_eq!(b["logprobs"], true);
    assert_eq!(b["top_logprobs"], 20, "clamped to the API maximum");
    assert_eq!(b["n"], 3);
    assert_eq!(b["stream"], true);
    assert_eq!(
        b["stream_options"],
        serde_json::json!({"include_usage": true})
    );
    assert_eq!(b["response_format"]["type"], "json_schema");
    assert_eq!(b["response_format"]["json_schema"]["name"], "reply");
    assert_eq!(
        b["response_format"]["json_schema"]["schema"]["properties"]["a"]["type"],
        "number"
    );
    let m = openai::build_models(&ep);
    assert_eq!(
        (m.method.as_str(), m.url.as_str(), m.body.as_deref()),
        ("GET", "http://localhost:8080/v1/models", None)
    );
}

#[test]
fn anthropic_request_shape() {
    let mut r = request();
    r.top_logprobs = Some(5);
    r.seed = Some(1);
    r.temperature = 1.3;
    r.json_schema = Some(serde_json::json!({"type":"object"}));
    for base in [
        "https://api.anthropic.com",
        "https://api.anthropic.com/",
        "https://api.anthropic.com/v1/",
    ] {
        let ep = Endpoint::new(
            Protocol::Anthropic,
            base,
            Some("sk-ant-xyz".into()),
            "anthropic",
        );
        let h = anthropic::build_chat(&ep, &r, true);
        assert_eq!(h.url, "https://api.anthropic.com/v1/messages", "{base}");
        assert_eq!(header(&h, "x-api-key"), Some("sk-ant-xyz"));
        assert_eq!(header(&h, "anthropic-version"), Some("2023-06-01"));
        assert_eq!(
            header(&h, "anthropic-dangerous-direct-browser-access"),
            Some("true")
        );
        assert_eq!(header(&h, "content-type"), Some("application/json"));
        assert_eq!(header(&h, "authorization"), None);
        let b = body(&h);
        assert_eq!(b["system"], "Be brief.");
        assert_eq!(b["messages"].as_array().unwrap().len(), 3);
        assert_eq!(
            b["messages"][0],
            serde_json::json!({"role":"user","content":"Hi?"})
        );
        assert_eq!(b["temperature"], 1.0, "clamped to Anthropic's range");
        assert_eq!(b["stream"], true);
        for absent in [
            "logprobs",
            "top_logprobs",
            "seed",
            "n",
            "response_format",
            "stream_options",
        ] {
            assert!(b.get(absent).is_none(), "{absent} must not be sent");
        }
        assert_eq!(
            anthropic::build_models(&ep).url,
            "https://api.anthropic.com/v1/models"
        );
    }
    let mut r2 = request();
    r2.messages.retain(|m| m.role != ethos_engine::Role::System);
    let b = body(&anthropic::build_chat(
        &Endpoint::new(
            Protocol::Anthropic,
            "https://api.anthropic.com",
            None,
            "anthropic",
        ),
        &r2,
        false,
    ));
    assert!(b.get("system").is_none() && b.get("stream").is_none());
    r2.n = Some(2);
    assert!(
        matches!(anthropic::check_request(&r2), Err(ChatError::Unsupported(ref m)) if m.contains("one sample"))
    );
}

#[test]
fn anthropic_prompt_tokens_include_the_prompt_cache() {
    // As llama-server's /v1/messages sent it for a cached prompt (and Anthropic's API does).
    let body = br#"{"id":"msg_1","type":"message","role":"assistant","content":[{"type":"text","text":"Hi"}],"stop_reason":"end_turn","usage":{"input_tokens":1,"cache_read_input_tokens":31,"output_tokens":2}}"#;
    let r = ethos_providers::anthropic::parse_chat(body).expect("reply");
    assert_eq!(r.usage.map(|u| (u.prompt_tokens, u.completion_tokens)), Some((32, 2)));
    let plain = br#"{"content":[{"type":"text","text":"Hi"}],"usage":{"input_tokens":9,"output_tokens":2}}"#;
    let r = ethos_providers::anthropic::parse_chat(plain).expect("reply");
    assert_eq!(r.usage.map(|u| u.prompt_tokens), Some(9));
    assert_eq!(ethos_providers::anthropic::input_total(None), None);
}

#[test]
fn anthropic_compatible_servers_get_the_key_as_a_bearer_token_and_no_anthropic_headers() {
    // llama-server's CORS preflight allows only Content-Type and Authorization: any other header
    // makes the browser refuse the call before it is sent.
    let ep = Endpoint::new(
        Protocol::Anthropic,
        "http://127.0.0.1:8080",
        Some("local-key".into()),
        anthropic::COMPATIBLE_PRESET,
    );
    let h = anthropic::build_chat(&ep, &request(), true);
    assert_eq!(h.url, "http://127.0.0.1:8080/v1/messages");
    let mut names: Vec<&str> = h.headers.iter().map(|(n, _)| n.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["authorization", "content-type"]);
    assert_eq!(header(&h, "authorization"), Some("Bearer local-key"));
    // Without a key: Content-Type only.
    let ep = Endpoint::new(Protocol::Anthropic, "http://127.0.0.1:8080/v1", None, anthropic::COMPATIBLE_PRESET);
    let h = anthropic::build_chat(&ep, &request(), false);
    assert_eq!(h.url, "http://127.0.0.1:8080/v1/messages");
    assert_eq!(h.headers.len(), 1);
    // The body is the Messages API's, as for Anthropic itself.
    assert_eq!(body(&h)["system"], "Be brief.");
}
