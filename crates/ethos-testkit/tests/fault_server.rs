//! The fault server, driven over real sockets with a tiny blocking HTTP client.

use ethos_testkit::{Fault, FaultServer, OkReply};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpStream;

struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    /// The raw body after the head (still chunk-framed when chunked).
    raw: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    /// The body with chunk framing removed; `None` when the chunked body never ended.
    fn body(&self) -> Option<Vec<u8>> {
        if !self
            .header("transfer-encoding")
            .is_some_and(|v| v.contains("chunked"))
        {
            return Some(self.raw.clone());
        }
        let mut out = Vec::new();
        let mut rest = self.raw.as_slice();
        loop {
            let line_end = rest.windows(2).position(|w| w == b"\r\n")?;
            let size =
                usize::from_str_radix(std::str::from_utf8(&rest[..line_end]).ok()?.trim(), 16)
                    .ok()?;
            rest = &rest[line_end + 2..];
            if size == 0 {
                return Some(out);
            }
            if rest.len() < size + 2 {
                return None;
            }
            out.extend_from_slice(&rest[..size]);
            rest = &rest[size + 2..];
        }
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body().unwrap_or_default()).unwrap_or(Value::Null)
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body().unwrap_or_default()).into_owned()
    }
}

fn request(
    server: &FaultServer,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> Resp {
    let mut s = TcpStream::connect(server.addr()).expect("connect");
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(&body);
    s.write_all(req.as_bytes()).expect("write");
    let mut all = Vec::new();
    let _ = s.read_to_end(&mut all);
    let head_end = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let head = String::from_utf8_lossy(&all[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .expect("status");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    Resp {
        status,
        headers,
        raw: all[head_end + 4..].to_vec(),
    }
}

fn chat(server: &FaultServer, model: &str, stream: bool, extra: Value) -> Resp {
    let mut body = json!({"model": model, "messages": [{"role": "user", "content": "Question: x\nOptions: A. yes B. no\nAnswer:"}], "stream": stream, "max_tokens": 5});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    request(
        server,
        "POST",
        "/v1/chat/completions",
        &[
            ("Content-Type", "application/json"),
            ("Authorization", "Bearer sk-secret"),
        ],
        Some(&body),
    )
}

fn messages(server: &FaultServer, model: &str, stream: bool) -> Resp {
    let body = json!({"model": model, "system": "be brief", "messages": [{"role": "user", "content": "hi"}], "stream": stream, "max_tokens": 5});
    request(
        server,
        "POST",
        "/v1/messages",
        &[
            ("x-api-key", "sk-ant-secret"),
            ("anthropic-version", "2023-06-01"),
        ],
        Some(&body),
    )
}

/// `data:` payloads of an SSE body.
fn sse_data(text: &str) -> Vec<String> {
    text.split("\n\n")
        .flat_map(|ev| {
            ev.lines()
                .filter_map(|l| l.strip_prefix("data: ").map(str::to_string))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn ok_non_streamed_openai_with_logprobs() {
    let server = FaultServer::start().expect("start");
    server.set_texts(vec!["B. Because".into()]);
    let r = chat(
        &server,
        "m",
        false,
        json!({"logprobs": true, "top_logprobs": 3}),
    );
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["choices"][0]["message"]["content"], "B. Because");
    let top = &v["choices"][0]["logprobs"]["content"][0]["top_logprobs"];
    assert_eq!(top.as_array().map(Vec::len), Some(3));
    assert_eq!(top[0]["token"], "A");
    let p: f64 = top
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["logprob"].as_f64())
        .map(f64::exp)
        .sum();
    assert!((p - 0.95).abs() < 1e-9, "{p}");
    assert_eq!(v["choices"][0]["logprobs"]["content"][0]["token"], "B");
    // no logprobs unless asked
    let v = chat(&server, "m", false, json!({})).json();
    assert!(v["choices"][0]["logprobs"].is_null());
    assert_eq!(server.stats().model("m"), 2);
}

#[test]
fn ok_streamed_openai_ends_with_done_and_usage() {
    let server = FaultServer::start().expect("start");
    server.set_texts(vec!["A. Yes we should".into()]);
    let r = chat(
        &server,
        "m",
        true,
        json!({"stream_options": {"include_usage": true}, "logprobs": true, "top_logprobs": 2, "n": 2}),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    let data = sse_data(&r.text());
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
    let chunks: Vec<Value> = data
        .iter()
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).expect("json chunk"))
        .collect();
    let text: String = chunks
        .iter()
        .flat_map(|c| c["choices"].as_array().cloned().unwrap_or_default())
        .filter(|c| c["index"] == 1)
        .filter_map(|c| c["delta"]["content"].as_str().map(str::to_string))
        .collect();
    assert_eq!(text, "A. Yes we should");
    assert!(chunks
        .last()
        .is_some_and(|c| c["usage"]["completion_tokens"].as_u64() == Some(10)));
    assert!(chunks.iter().any(
        |c| c["choices"][0]["logprobs"]["content"][0]["top_logprobs"]
            .as_array()
            .map(Vec::len)
            == Some(2)
    ));
}

#[test]
fn ok_anthropic_streamed_and_not() {
    let server = FaultServer::start().expect("start");
    server.set_texts(vec!["Hello there".into()]);
    let v = messages(&server, "claude-x", false).json();
    assert_eq!(v["content"][0]["text"], "Hello there");
    assert_eq!(v["stop_reason"], "end_turn");
    let t = messages(&server, "claude-x", true).text();
    assert!(t.starts_with("event: message_start\n"));
    assert!(t.ends_with("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"));
    let deltas: String = sse_data(&t)
        .iter()
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter(|v| v["type"] == "content_block_delta")
        .filter_map(|v| v["delta"]["text"].as_str().map(str::to_string))
        .collect();
    assert_eq!(deltas, "Hello there");
    let stats = server.stats();
    assert_eq!(stats.model("claude-x"), 2);
    assert!(stats
        .requests
        .iter()
        .all(|r| r.kind == "anthropic" && r.header_names.contains(&"x-api-key".to_string())));
    // header values (keys) are never recorded
    let dump = serde_json::to_string(&stats).unwrap_or_default();
    assert!(!dump.contains("sk-ant-secret"));
}

#[test]
fn status_faults_in_both_protocols() {
    let server = FaultServer::start().expect("start");
    for (name, status) in [
        ("401", 401),
        ("403", 403),
        ("404", 404),
        ("408", 408),
        ("429", 429),
        ("500", 500),
        ("502", 502),
        ("503", 503),
    ] {
        let model = format!("fault:{name}");
        let r = chat(&server, &model, false, json!({}));
        assert_eq!(r.status, status, "{name}");
        assert_eq!(r.header("retry-after"), None);
        if status == 502 {
            assert!(r.text().contains("<h1>502 Bad Gateway</h1>"));
        } else {
            assert!(
                r.json()["error"]["message"].is_string(),
                "{name}: {}",
                r.text()
            );
        }
        let r = messages(&server, &model, true);
        assert_eq!(r.status, status, "{name}");
        if status != 502 {
            assert_eq!(r.json()["type"], "error");
        }
    }
    let r = chat(&server, "fault:429-retry-after=2", false, json!({}));
    assert_eq!((r.status, r.header("retry-after")), (429, Some("2")));
    let r = chat(&server, "fault:503-retry-after", true, json!({}));
    assert_eq!((r.status, r.header("retry-after")), (503, Some("1")));
    let r = chat(&server, "fault:404", false, json!({}));
    assert!(r.text().contains("fault:404"), "404 names the model");
    assert_eq!(server.stats().fault("429"), 2);
    assert_eq!(server.stats().fault("502"), 2);
}

#[test]
fn logprobs_400_only_when_logprobs_are_asked() {
    let server = FaultServer::start().expect("start");
    let r = chat(
        &server,
        "fault:400-logprobs",
        false,
        json!({"logprobs": true, "top_logprobs": 5}),
    );
    assert_eq!(r.status, 400);
    assert!(r.json()["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("logprobs")));
    let r = chat(&server, "fault:400-logprobs", false, json!({}));
    assert_eq!(r.status, 200);
    assert!(r.json()["choices"][0]["logprobs"].is_null());
    let r = chat(
        &server,
        "fault:400-logprobs",
        true,
        json!({"top_logprobs": 2}),
    );
    assert_eq!(r.status, 400);
}

#[test]
fn model_name_sequences_and_scripted_queue() {
    let server = FaultServer::start().expect("start");
    let codes: Vec<u16> = (0..4)
        .map(|_| chat(&server, "fault:503,500,ok", false, json!({})).status)
        .collect();
    assert_eq!(codes, vec![503, 500, 200, 200]);
    // the queue wins over the model name, then the model name applies again
    server.script([
        Fault::TooManyRequests {
            retry_after_s: None,
        },
        Fault::Ok,
    ]);
    let codes: Vec<u16> = (0..3)
        .map(|_| chat(&server, "fault:401", false, json!({})).status)
        .collect();
    assert_eq!(codes, vec![429, 200, 401]);
    // over HTTP
    let r = request(
        &server,
        "POST",
        "/_control/script",
        &[],
        Some(&json!(["502", "ok"])),
    );
    assert_eq!(r.json()["queued"], 2);
    assert_eq!(chat(&server, "plain", false, json!({})).status, 502);
    assert_eq!(chat(&server, "plain", false, json!({})).status, 200);
    let r = request(
        &server,
        "POST",
        "/_control/script",
        &[],
        Some(&json!({"faults": ["teapot"]})),
    );
    assert_eq!(r.status, 400);
    assert!(r.text().contains("teapot"));
    let stats = request(&server, "GET", "/_control/stats", &[], None).json();
    assert_eq!(stats["total"], 9);
    assert_eq!(stats["by_model"]["fault:503,500,ok"], 4);
    assert_eq!(stats["by_model"]["plain"], 2);
    assert_eq!(stats["by_fault"]["ok"], 4);
    request(&server, "POST", "/_control/reset", &[], None);
    assert_eq!(server.stats().total, 0);
    assert_eq!(
        chat(&server, "fault:503,500,ok", false, json!({})).status,
        503,
        "reset restarts sequences"
    );
    // a bad fault name in the model is a clear 400
    let r = chat(&server, "fault:nope", false, json!({}));
    assert_eq!(r.status, 400);
    assert!(r.text().contains("unknown fault"));
}

#[test]
fn body_faults_streamed() {
    let server = FaultServer::start().expect("start");
    server.set_texts(vec!["A. one two three".into()]);
    // cut: the chunked body never ends and the last event is partial
    let r = chat(&server, "fault:cut", true, json!({}));
    assert_eq!(r.status, 200);
    assert!(r.body().is_none(), "a cut stream has no chunk terminator");
    assert!(String::from_utf8_lossy(&r.raw).contains("\"choi"));
    assert!(!String::from_utf8_lossy(&r.raw).contains("[DONE]"));
    // invalid JSON chunk, then the stream goes on and ends
    let data = sse_data(&chat(&server, "fault:invalid-json", true, json!({})).text());
    assert_eq!(
        data.iter()
            .filter(|d| serde_json::from_str::<Value>(d).is_err() && *d != "[DONE]")
            .count(),
        1
    );
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
    // empty choices
    let data = sse_data(&chat(&server, "fault:empty-choices", true, json!({})).text());
    assert!(data
        .iter()
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .all(|v| v["choices"].as_array().is_some_and(Vec::is_empty)));
    // invalid UTF-8 bytes inside a content delta
    let r = chat(&server, "fault:invalid-utf8", true, json!({}));
    let body = r.body().unwrap_or_default();
    assert!(std::str::from_utf8(&body).is_err());
    assert!(body.windows(3).any(|w| w == [0xff, 0xfe, 0xc3]));
    // no [DONE]
    let r = chat(&server, "fault:no-done", true, json!({}));
    assert!(r.body().is_some(), "the stream ends cleanly");
    assert!(!r.text().contains("[DONE]"));
    assert!(r.text().contains("\"finish_reason\":\"stop\""));
    // anthropic without message_stop
    let t = messages(&server, "fault:no-done", true).text();
    assert!(t.contains("message_delta") && !t.contains("message_stop"));
    // trickle still delivers the whole normal reply
    let data = sse_data(&chat(&server, "fault:trickle=1", true, json!({})).text());
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
}

#[test]
fn body_faults_not_streamed() {
    let server = FaultServer::start().expect("start");
    let r = chat(&server, "fault:cut", false, json!({}));
    let declared: usize = r
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(r.raw.len() < declared, "{} < {declared}", r.raw.len());
    let r = chat(&server, "fault:invalid-json", false, json!({}));
    assert_eq!(r.status, 200);
    assert!(serde_json::from_slice::<Value>(&r.raw).is_err());
    let v = chat(&server, "fault:empty-choices", false, json!({})).json();
    assert_eq!(v["choices"], json!([]));
    let v = messages(&server, "fault:empty-choices", false).json();
    assert_eq!(v["content"], json!([]));
    let r = chat(&server, "fault:invalid-utf8", false, json!({}));
    assert!(std::str::from_utf8(&r.raw).is_err());
    let r = chat(&server, "fault:huge", false, json!({}));
    let v = r.json();
    let len = v["choices"][0]["message"]["content"]
        .as_str()
        .map(str::len)
        .unwrap_or(0);
    assert_eq!(len, 10 * 1024 * 1024);
    let data = sse_data(&chat(&server, "fault:huge=4000", true, json!({})).text());
    assert_eq!(
        data.len(),
        500 + 3,
        "one delta per 8-byte word, role chunk, finish chunk, [DONE]"
    );
    // 10 MB streamed in 4 KB deltas: the stream stays about as large as the text
    let r = chat(&server, "fault:huge", true, json!({}));
    let body = r.body().unwrap_or_default();
    assert!(body.len() < 11 * 1024 * 1024, "{}", body.len());
    let data = sse_data(&String::from_utf8_lossy(&body));
    assert_eq!(data.len(), 2560 + 3);
}

#[test]
fn slow_first_byte_and_latency_still_answer() {
    let server = FaultServer::start().expect("start");
    assert_eq!(
        chat(&server, "fault:slow-first-byte=50", false, json!({})).status,
        200
    );
    let mut c = server.config();
    c.latency_ms = 20;
    server.set_config(c);
    assert_eq!(chat(&server, "m", true, json!({})).status, 200);
    assert_eq!(server.stats().fault("latency"), 1);
    assert_eq!(server.stats().fault("slow-first-byte"), 1);
}

#[test]
fn cors_preflight_and_echoed_origin() {
    let server = FaultServer::start().expect("start");
    let r = request(
        &server,
        "OPTIONS",
        "/v1/chat/completions",
        &[
            ("Origin", "http://localhost:8080"),
            ("Access-Control-Request-Method", "POST"),
            (
                "Access-Control-Request-Headers",
                "content-type, authorization",
            ),
        ],
        None,
    );
    assert_eq!(r.status, 204);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("http://localhost:8080")
    );
    assert_eq!(
        r.header("access-control-allow-headers"),
        Some("content-type, authorization")
    );
    assert!(r
        .header("access-control-allow-methods")
        .is_some_and(|m| m.contains("POST")));
    let r = request(
        &server,
        "POST",
        "/v1/chat/completions",
        &[("Origin", "https://app.example")],
        Some(&json!({"model": "fault:429-retry-after"})),
    );
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert!(r
        .header("access-control-expose-headers")
        .is_some_and(|h| h.contains("Retry-After")));
    let stats = server.stats();
    assert_eq!((stats.preflights, stats.total), (1, 1));
}

#[test]
fn models_in_both_shapes_and_bad_requests() {
    let server = FaultServer::start().expect("start");
    let v = request(&server, "GET", "/v1/models", &[], None).json();
    assert_eq!(v["data"][0]["id"], "fault-server-model");
    let v = request(
        &server,
        "GET",
        "/v1/models",
        &[("anthropic-version", "2023-06-01")],
        None,
    )
    .json();
    assert_eq!(v["data"][0]["type"], "model");
    server.script([Fault::Unauthorized]);
    assert_eq!(request(&server, "GET", "/v1/models", &[], None).status, 401);
    let r = request(&server, "POST", "/v1/chat/completions", &[], None);
    assert_eq!(r.status, 400);
    assert!(r.text().contains("not JSON"));
    assert_eq!(
        request(&server, "GET", "/v1/nothing", &[], None).status,
        404
    );
}

#[test]
fn responder_decides_ok_replies() {
    let server = FaultServer::start().expect("start");
    server.set_responder(|call| {
        let last = call
            .messages
            .last()
            .map(|(_, t)| t.clone())
            .unwrap_or_default();
        OkReply {
            texts: vec![format!("echo:{}", last.len())],
            ..OkReply::default()
        }
    });
    let v = chat(&server, "m", false, json!({})).json();
    assert_eq!(v["choices"][0]["message"]["content"], "echo:41");
}

#[test]
fn hostile_faults_answer_as_named() {
    let server = FaultServer::start().expect("start");
    assert_eq!(chat(&server, "fault:413", false, json!({})).status, 413);
    // Parameter refusals only when the parameter is sent.
    assert_eq!(chat(&server, "fault:400-seed", false, json!({})).status, 200);
    let r = chat(&server, "fault:400-seed", false, json!({"seed": 7}));
    assert_eq!((r.status, r.json()["error"]["param"].as_str()), (400, Some("seed")));
    assert_eq!(chat(&server, "fault:400-temperature", false, json!({})).status, 200);
    let r = chat(&server, "fault:400-temperature", false, json!({"temperature": 0.7}));
    assert!(r.text().contains("temperature"), "{}", r.text());
    let r = chat(&server, "fault:400-markup", false, json!({}));
    assert!(r.json()["error"]["message"].as_str().is_some_and(|m| m.contains("<script>")));
    let r = chat(&server, "fault:429-retry-date=5", false, json!({}));
    assert_eq!(r.status, 429);
    assert!(r.header("retry-after").is_some_and(|v| v.ends_with(" GMT")), "{:?}", r.headers);
    let r = chat(&server, "fault:503-html", false, json!({}));
    assert_eq!(r.status, 503);
    assert!(r.header("content-type").is_some_and(|v| v.starts_with("text/html")));
    let r = chat(&server, "fault:no-cors", false, json!({}));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), None);
    let r = chat(&server, "fault:sse-error", true, json!({}));
    let text = r.text();
    assert!(text.contains("\"error\"") && !text.contains("[DONE]"), "{text}");
    let r = chat(&server, "fault:cut-mid-utf8", true, json!({}));
    assert_eq!(r.body(), None, "the chunked body never ends");
    assert!(r.raw.windows(5).any(|w| w == [b' ', b'c', b'a', b'f', 0xc3]));
    let r = chat(&server, "fault:cut-mid-token", true, json!({}));
    assert_eq!(r.body(), None);
}

#[test]
fn a_held_reply_waits_for_release_and_a_stalled_one_for_the_client() {
    let server = FaultServer::start().expect("start");
    server.script([Fault::Hold]);
    let addr = server.addr();
    let client = std::thread::spawn(move || {
        let mut s = TcpStream::connect(addr).expect("connect");
        let body = json!({"model": "m", "messages": [{"role": "user", "content": "x"}]}).to_string();
        let req = format!("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}", body.len());
        s.write_all(req.as_bytes()).expect("write");
        let mut all = Vec::new();
        let _ = s.read_to_end(&mut all);
        all
    });
    // The reply is held until the request is counted and then released.
    while server.stats().fault("hold") == 0 {
        std::thread::yield_now();
    }
    server.release();
    let reply = client.join().expect("client thread");
    assert!(reply.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&reply));

    // A stalled stream sends its head and some text, then nothing until the client leaves.
    server.script([Fault::Stall]);
    let mut s = stream_request(&server);
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains("\"content\":\"A\"") {
        let n = s.read(&mut buf).expect("read");
        assert!(n > 0, "the stalled stream ended: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    assert!(!String::from_utf8_lossy(&got).contains("[DONE]"));
}

#[test]
fn a_dripped_stream_sends_one_piece_of_text_per_release() {
    let server = FaultServer::start().expect("start");
    server.script([Fault::Drip]);
    server.set_texts(vec!["Patients first, always and everywhere.".into()]);
    let mut s = stream_request(&server);
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let pieces = |got: &[u8]| {
        let t = String::from_utf8_lossy(got);
        t.matches("\"content\":\"").count() - t.matches("\"content\":\"\"").count()
    };
    let ended = |got: &[u8]| got.ends_with(b"\r\n0\r\n\r\n");
    // The head and the role event come at once; no text before the first release.
    while !String::from_utf8_lossy(&got).contains("\"role\"") {
        let n = s.read(&mut buf).expect("read");
        assert!(n > 0);
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(pieces(&got), 0, "{}", String::from_utf8_lossy(&got));
    // Each release lets exactly one more piece through. The end of the stream follows the last
    // piece without a release, so it may arrive in a later read: one release may be spare.
    let mut released = 0;
    while !ended(&got) {
        server.release();
        released += 1;
        while pieces(&got) < released && !ended(&got) {
            let n = s.read(&mut buf).expect("read");
            assert!(n > 0, "the stream ended early: {}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&buf[..n]);
        }
        assert!(pieces(&got) <= released, "at most one piece per release");
        if !ended(&got) {
            assert_eq!(pieces(&got), released, "one piece per release");
        }
        assert!(released < 1000);
    }
    let text = String::from_utf8_lossy(&got);
    assert!(pieces(&got) + 1 >= released, "{released} releases: {text}");
    assert!(pieces(&got) > 3, "several pieces: {text}");
    assert!(text.contains("everywhere"), "{text}");
}

/// A streamed chat request written on a raw connection (the reply is read by the test).
fn stream_request(server: &FaultServer) -> TcpStream {
    let mut s = TcpStream::connect(server.addr()).expect("connect");
    let body = json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": "x"}]}).to_string();
    let req = format!("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}", body.len());
    s.write_all(req.as_bytes()).expect("write");
    s
}
