//! The fault server's Batch APIs over plain HTTP: the published request shapes are required
//! (multipart upload with `purpose=batch`, the chat endpoint, a 24 h window, unique and
//! well-formed custom ids, no streaming), batches move one step per poll, and the result lines
//! carry each request's reply or error.

use ethos_testkit::http::blocking_exchange;
use ethos_testkit::{BatchControl, Fault, FaultServer};
use serde_json::{json, Value};
use std::sync::Arc;

fn http(s: &FaultServer, method: &str, path: &str, ct: &str, body: &str) -> (u16, String) {
    blocking_exchange(s.addr(), method, path, ct, body).expect("HTTP exchange")
}

fn json_of(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON: {body}"))
}

fn upload(s: &FaultServer, purpose: &str, jsonl: &str) -> (u16, String) {
    let b = "XyZ";
    let body = format!(
        "--{b}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\n{purpose}\r\n--{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"in.jsonl\"\r\nContent-Type: application/jsonl\r\n\r\n{jsonl}\r\n--{b}--\r\n"
    );
    http(
        s,
        "POST",
        "/v1/files",
        &format!("multipart/form-data; boundary={b}"),
        &body,
    )
}

fn line(id: &str, text: &str, stream: bool) -> String {
    json!({"custom_id": id, "method": "POST", "url": "/v1/chat/completions",
           "body": {"model": "m", "messages": [{"role": "user", "content": text}], "stream": stream}})
    .to_string()
}

#[test]
fn openai_batches_validate_progress_per_poll_and_return_output_and_error_files() {
    let s = FaultServer::start().expect("server");
    s.set_texts(vec!["B".into()]);
    s.set_fault_rule(Some(Arc::new(|call| {
        call.messages
            .iter()
            .any(|(_, t)| t == "fail me")
            .then_some(Fault::InternalError)
    })));
    assert_eq!(
        upload(&s, "fine-tune", "{}").0,
        400,
        "purpose must be batch"
    );
    let jsonl = [
        line("a", "hi", false),
        line("b", "fail me", false),
        line("c", "hi", true),
    ]
    .join("\n");
    let (st, body) = upload(&s, "batch", &jsonl);
    assert_eq!(st, 200, "{body}");
    let file = json_of(&body)["id"].as_str().expect("file id").to_string();
    let create = |endpoint: &str, window: &str| {
        let b = json!({"input_file_id": file, "endpoint": endpoint, "completion_window": window});
        http(
            &s,
            "POST",
            "/v1/batches",
            "application/json",
            &b.to_string(),
        )
    };
    assert_eq!(create("/v1/embeddings", "24h").0, 400);
    assert_eq!(create("/v1/chat/completions", "1h").0, 400);
    let (st, body) = create("/v1/chat/completions", "24h");
    assert_eq!(st, 200, "{body}");
    let batch = json_of(&body);
    assert_eq!(
        (batch["object"].as_str(), batch["status"].as_str()),
        (Some("batch"), Some("validating"))
    );
    let id = batch["id"].as_str().expect("batch id").to_string();

    s.set_batch_control(BatchControl {
        per_poll: 2,
        hold: false,
    });
    let poll = || {
        json_of(
            &http(
                &s,
                "GET",
                &format!("/v1/batches/{id}"),
                "application/json",
                "",
            )
            .1,
        )
    };
    let statuses: Vec<(String, u64)> = (0..4)
        .map(|_| {
            let v = poll();
            (
                v["status"].as_str().unwrap_or("").to_string(),
                v["request_counts"]["completed"].as_u64().unwrap_or(0)
                    + v["request_counts"]["failed"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    let expect = [
        ("in_progress", 0),
        ("in_progress", 2),
        ("finalizing", 3),
        ("completed", 3),
    ];
    assert_eq!(
        statuses,
        expect
            .iter()
            .map(|(a, n)| (a.to_string(), *n))
            .collect::<Vec<_>>()
    );
    let done = poll();
    let content = |f: &str| {
        http(
            &s,
            "GET",
            &format!("/v1/files/{f}/content"),
            "application/json",
            "",
        )
        .1
    };
    let out = content(done["output_file_id"].as_str().expect("output file"));
    let errs = content(done["error_file_id"].as_str().expect("error file"));
    let out: Vec<Value> = out.lines().map(json_of).collect();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0]["custom_id"], "a");
    assert_eq!(out[0]["response"]["status_code"], 200);
    assert_eq!(
        out[0]["response"]["body"]["choices"][0]["message"]["content"],
        "B"
    );
    let errs: Vec<Value> = errs.lines().map(json_of).collect();
    let codes: Vec<(String, u64)> = errs
        .iter()
        .map(|e| {
            (
                e["custom_id"].as_str().unwrap_or("").into(),
                e["response"]["status_code"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        codes,
        vec![("b".into(), 500), ("c".into(), 400)],
        "a fault and a streamed line"
    );
    let st = s.batch_stats();
    assert_eq!(
        (st.files_uploaded, st.batches_created, st.answered),
        (1, 1, 3)
    );

    // A file whose lines break the format: the batch fails validation, naming the line.
    let bad = [line("x", "hi", false), line("x", "again", false)].join("\n");
    let file = json_of(&upload(&s, "batch", &bad).1)["id"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let b = json!({"input_file_id": file, "endpoint": "/v1/chat/completions", "completion_window": "24h"});
    let id = json_of(
        &http(
            &s,
            "POST",
            "/v1/batches",
            "application/json",
            &b.to_string(),
        )
        .1,
    )["id"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let v = json_of(
        &http(
            &s,
            "GET",
            &format!("/v1/batches/{id}"),
            "application/json",
            "",
        )
        .1,
    );
    assert_eq!(v["status"], "failed");
    assert_eq!(v["errors"]["data"][0]["line"], 2, "{v}");
}

#[test]
fn anthropic_message_batches_check_ids_and_end_with_results() {
    let s = FaultServer::start().expect("server");
    s.set_texts(vec!["C".into()]);
    let req = |id: &str| json!({"custom_id": id, "params": {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}});
    let post = |v: Value| {
        http(
            &s,
            "POST",
            "/v1/messages/batches",
            "application/json",
            &v.to_string(),
        )
    };
    assert_eq!(post(json!({"requests": [req("has space")]})).0, 400);
    assert_eq!(post(json!({"requests": [req("a"), req("a")]})).0, 400);
    assert_eq!(
        post(json!({"requests": [{"custom_id": "a", "params": {"model": "m", "messages": []}}]})).0,
        400,
        "max_tokens is required"
    );
    let (st, body) = post(json!({"requests": [req("a"), req("b-2"), req("c_3")]}));
    assert_eq!(st, 200, "{body}");
    let v = json_of(&body);
    assert_eq!(
        (v["type"].as_str(), v["processing_status"].as_str()),
        (Some("message_batch"), Some("in_progress"))
    );
    let id = v["id"].as_str().unwrap_or("").to_string();
    s.set_batch_control(BatchControl {
        per_poll: 1,
        hold: false,
    });
    let get = |p: &str| json_of(&http(&s, "GET", p, "application/json", "").1);
    let v = get(&format!("/v1/messages/batches/{id}"));
    assert_eq!(v["request_counts"]["succeeded"], 1);
    assert!(v["results_url"].is_null());
    // Cancel: the next poll ends it, the unanswered requests canceled.
    let (st, _) = http(
        &s,
        "POST",
        &format!("/v1/messages/batches/{id}/cancel"),
        "application/json",
        "",
    );
    assert_eq!(st, 200);
    let v = get(&format!("/v1/messages/batches/{id}"));
    assert_eq!(v["processing_status"], "ended");
    assert_eq!(
        (
            v["request_counts"]["succeeded"].as_u64(),
            v["request_counts"]["canceled"].as_u64()
        ),
        (Some(1), Some(2))
    );
    let url = v["results_url"].as_str().expect("results url");
    let (_, text) = http(&s, "GET", url, "application/json", "");
    let lines: Vec<Value> = text.lines().map(json_of).collect();
    let kinds: Vec<&str> = lines
        .iter()
        .map(|l| l["result"]["type"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(kinds, vec!["succeeded", "canceled", "canceled"]);
    assert_eq!(lines[0]["result"]["message"]["content"][0]["text"], "C");
    assert_eq!(s.batch_stats().cancels, 1);
}
