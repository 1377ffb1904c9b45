//! The fault server's Batch APIs, in the providers' published request and response formats:
//!
//! - OpenAI's Batch API: `POST /v1/files` (multipart/form-data, `purpose=batch`, a JSONL `file` of
//!   `{custom_id, method: "POST", url: "/v1/chat/completions", body}` lines), `POST /v1/batches`
//!   `{input_file_id, endpoint, completion_window: "24h"}`, `GET /v1/batches/{id}` (status
//!   validating → in_progress → finalizing → completed, or failed / cancelling → cancelled,
//!   `request_counts`, `output_file_id`, `error_file_id`), `GET /v1/files/{id}/content` (JSONL of
//!   `{id, custom_id, response: {status_code, request_id, body}, error}`), and
//!   `POST /v1/batches/{id}/cancel`;
//! - Anthropic's Message Batches: `POST /v1/messages/batches` `{requests: [{custom_id, params}]}`,
//!   `GET /v1/messages/batches/{id}` (`processing_status` in_progress → canceling → ended,
//!   `request_counts`, `results_url`), `GET /v1/messages/batches/{id}/results` (JSONL of
//!   `{custom_id, result: {type: succeeded | errored | canceled | expired, message | error}}`),
//!   and `POST /v1/messages/batches/{id}/cancel`.
//!
//! Every request line is answered like a live call to the server: the responder or configured
//! reply, and the fault rule (a fault with an error status makes that line an error result).
//! Progress is driven by polls, never by time: each `GET` of a batch moves it one step, and while
//! it is in progress answers up to `per_poll` more lines (all by default; none while
//! [`BatchControl::hold`] is set). A cancel ends it at the next poll with what was answered.

use crate::reply::{error_body, ok_body, ChatCall, OkReply, Protocol};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// What the Batch APIs saw (for tests to assert on).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BatchStats {
    pub files_uploaded: u64,
    pub batches_created: u64,
    pub polls: u64,
    pub cancels: u64,
    pub result_downloads: u64,
    /// Request lines answered (each line once), and per prompt hash (model + messages): a count
    /// above 1 is a call made twice.
    pub answered: u64,
    pub by_prompt: BTreeMap<String, u64>,
    /// Requests refused as malformed (4xx).
    pub refused: u64,
}

impl BatchStats {
    pub fn repeated_calls(&self) -> u64 {
        self.by_prompt.values().map(|c| c.saturating_sub(1)).sum()
    }
}

/// How batches progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchControl {
    /// Lines answered per poll while in progress.
    pub per_poll: usize,
    /// Answer nothing (a batch stays in progress until released or cancelled).
    pub hold: bool,
}

impl Default for BatchControl {
    fn default() -> Self {
        BatchControl {
            per_poll: usize::MAX,
            hold: false,
        }
    }
}

struct Batch {
    protocol: Protocol,
    id: String,
    input_file_id: String,
    /// (custom_id, request body)
    lines: Vec<(String, Value)>,
    /// The result line of each request line, once answered.
    results: Vec<Option<(bool, Value)>>,
    status: &'static str,
    errors: Option<Value>,
    output_file_id: Option<String>,
    error_file_id: Option<String>,
}

/// The Batch APIs' state, kept inside the fault server.
#[derive(Default)]
pub struct Batches {
    files: BTreeMap<String, Vec<u8>>,
    batches: BTreeMap<String, Batch>,
    next: u64,
    pub control: BatchControl,
    pub stats: BatchStats,
}

/// How one request line is answered: the reply, or an error status and message.
pub type LineAnswer<'a> = &'a dyn Fn(&ChatCall) -> Result<OkReply, (u16, String)>;

/// A response: status and JSON (or JSONL) body.
pub type Reply = (u16, Vec<u8>);

const CREATED_AT: u64 = 1_767_225_600;

fn err(protocol: Protocol, status: u16, msg: &str) -> Reply {
    (status, error_body(protocol, status, msg, None))
}

fn json_reply(v: Value) -> Reply {
    (200, v.to_string().into_bytes())
}

/// Whether `path` (query cut off) is a Batch-API route.
pub fn is_batch_path(path: &str) -> bool {
    path.ends_with("/v1/files")
        || path.contains("/v1/files/")
        || path.ends_with("/v1/batches")
        || path.contains("/v1/batches/")
        || path.contains("/v1/messages/batches")
}

impl Batches {
    fn id(&mut self, prefix: &str) -> String {
        self.next += 1;
        format!("{prefix}{:06}", self.next)
    }

    /// Answer one Batch-API request.
    pub fn route(
        &mut self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: &[u8],
        answer: LineAnswer<'_>,
    ) -> Reply {
        let path = path.trim_end_matches('/');
        let tail = |p: &str| path.split_once(p).map(|(_, t)| t.to_string());
        let reply = if let Some(rest) = tail("/v1/messages/batches") {
            let parts: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
            match (method, parts.as_slice()) {
                ("POST", []) => self.anthropic_create(body),
                ("GET", [id]) => self.poll(id, Protocol::Anthropic, answer),
                ("GET", [id, "results"]) => self.anthropic_results(id),
                ("POST", [id, "cancel"]) => self.cancel(id, Protocol::Anthropic),
                _ => err(Protocol::Anthropic, 404, "no such route"),
            }
        } else if let Some(rest) = tail("/v1/batches") {
            let parts: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
            match (method, parts.as_slice()) {
                ("POST", []) => self.openai_create(body),
                ("GET", [id]) => self.poll(id, Protocol::OpenAi, answer),
                ("POST", [id, "cancel"]) => self.cancel(id, Protocol::OpenAi),
                _ => err(Protocol::OpenAi, 404, "no such route"),
            }
        } else if let Some(rest) = tail("/v1/files") {
            let parts: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
            match (method, parts.as_slice()) {
                ("POST", []) => self.upload(content_type, body),
                ("GET", [id, "content"]) => match self.files.get(*id) {
                    Some(bytes) => {
                        self.stats.result_downloads += 1;
                        (200, bytes.clone())
                    }
                    None => err(Protocol::OpenAi, 404, &format!("no file {id}")),
                },
                _ => err(Protocol::OpenAi, 404, "no such route"),
            }
        } else {
            err(Protocol::OpenAi, 404, "no such route")
        };
        if (400..500).contains(&reply.0) {
            self.stats.refused += 1;
        }
        reply
    }

    fn upload(&mut self, content_type: Option<&str>, body: &[u8]) -> Reply {
        let bad = |m: &str| err(Protocol::OpenAi, 400, m);
        let Some(boundary) = content_type
            .filter(|c| c.to_ascii_lowercase().starts_with("multipart/form-data"))
            .and_then(|c| c.split("boundary=").nth(1))
            .map(|b| b.trim_matches('"').to_string())
        else {
            return bad("the upload must be multipart/form-data with a boundary");
        };
        let parts = match multipart(body, &boundary) {
            Ok(p) => p,
            Err(m) => return bad(&m),
        };
        let field = |n: &str| parts.iter().find(|p| p.0 == n);
        match field("purpose") {
            Some((_, _, v)) if v.as_slice() == b"batch" => {}
            _ => return bad("purpose must be \"batch\""),
        }
        let Some((_, Some(filename), content)) = field("file") else {
            return bad("a `file` part with a filename is required");
        };
        let (filename, content) = (filename.clone(), content.clone());
        let id = self.id("file-");
        self.stats.files_uploaded += 1;
        let bytes = content.len();
        self.files.insert(id.clone(), content);
        json_reply(json!({
            "id": id, "object": "file", "bytes": bytes, "created_at": CREATED_AT,
            "filename": filename, "purpose": "batch", "status": "processed",
        }))
    }

    fn openai_create(&mut self, body: &[u8]) -> Reply {
        let bad = |m: &str| err(Protocol::OpenAi, 400, m);
        let Ok(v) = serde_json::from_slice::<Value>(body) else {
            return bad("the body is not JSON");
        };
        let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        if s("endpoint") != "/v1/chat/completions" {
            return bad("endpoint must be /v1/chat/completions");
        }
        if s("completion_window") != "24h" {
            return bad("completion_window must be 24h");
        }
        let file_id = s("input_file_id");
        let Some(content) = self.files.get(&file_id) else {
            return err(Protocol::OpenAi, 404, &format!("no file {file_id:?}"));
        };
        let (lines, errors) = openai_lines(content);
        let id = self.id("batch_");
        let batch = Batch {
            protocol: Protocol::OpenAi,
            id: id.clone(),
            input_file_id: file_id,
            results: vec![None; lines.len()],
            lines,
            status: "validating",
            errors: (!errors.is_empty()).then(|| json!({"object": "list", "data": errors})),
            output_file_id: None,
            error_file_id: None,
        };
        self.stats.batches_created += 1;
        let v = openai_object(&batch);
        self.batches.insert(id, batch);
        json_reply(v)
    }

    fn anthropic_create(&mut self, body: &[u8]) -> Reply {
        let bad = |m: String| err(Protocol::Anthropic, 400, &m);
        let Ok(v) = serde_json::from_slice::<Value>(body) else {
            return bad("the body is not JSON".into());
        };
        let Some(reqs) = v.get("requests").and_then(Value::as_array) else {
            return bad("requests: a list is required".into());
        };
        let mut lines: Vec<(String, Value)> = Vec::new();
        for (i, r) in reqs.iter().enumerate() {
            let id = r.get("custom_id").and_then(Value::as_str).unwrap_or("");
            let ok_id = (1..=64).contains(&id.len())
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !ok_id {
                return bad(format!(
                    "requests.{i}.custom_id must match ^[a-zA-Z0-9_-]{{1,64}}$"
                ));
            }
            if lines.iter().any(|(c, _)| c == id) {
                return bad(format!("requests.{i}.custom_id {id:?} is not unique"));
            }
            let params = r.get("params").cloned().unwrap_or(Value::Null);
            for k in ["model", "max_tokens", "messages"] {
                if params.get(k).is_none() {
                    return bad(format!("requests.{i}.params.{k}: field required"));
                }
            }
            if params.get("stream").and_then(Value::as_bool) == Some(true) {
                return bad(format!(
                    "requests.{i}.params.stream: not supported in batches"
                ));
            }
            lines.push((id.to_string(), params));
        }
        if lines.is_empty() {
            return bad("requests must not be empty".into());
        }
        let id = self.id("msgbatch_");
        let batch = Batch {
            protocol: Protocol::Anthropic,
            id: id.clone(),
            input_file_id: String::new(),
            results: vec![None; lines.len()],
            lines,
            status: "in_progress",
            errors: None,
            output_file_id: None,
            error_file_id: None,
        };
        self.stats.batches_created += 1;
        let v = anthropic_object(&batch);
        self.batches.insert(id, batch);
        json_reply(v)
    }

    fn poll(&mut self, id: &str, protocol: Protocol, answer: LineAnswer<'_>) -> Reply {
        self.stats.polls += 1;
        let control = self.control;
        let Some(b) = self.batches.get_mut(id).filter(|b| b.protocol == protocol) else {
            return err(protocol, 404, &format!("no batch {id}"));
        };
        let mut answered: Vec<String> = Vec::new();
        let mut step = |b: &mut Batch, n: usize| {
            for i in 0..b.lines.len() {
                if answered.len() >= n {
                    break;
                }
                if b.results[i].is_none() {
                    let (custom_id, body) = &b.lines[i];
                    let call = ChatCall::from_json(protocol, body);
                    answered.push(crate::latency::prompt_hash(&call));
                    b.results[i] = Some(result_line(protocol, i, custom_id, &call, answer));
                }
            }
        };
        let all_done = |b: &Batch| b.results.iter().all(Option::is_some);
        b.status = match (protocol, b.status) {
            (Protocol::OpenAi, "validating") if b.errors.is_some() => "failed",
            (Protocol::OpenAi, "validating") => "in_progress",
            (_, "in_progress") => {
                if !control.hold {
                    step(b, control.per_poll);
                }
                match (protocol, all_done(b)) {
                    (Protocol::OpenAi, true) => "finalizing",
                    (Protocol::Anthropic, true) => "ended",
                    _ => "in_progress",
                }
            }
            (Protocol::OpenAi, "finalizing") => "completed",
            (Protocol::OpenAi, "cancelling") => "cancelled",
            (Protocol::Anthropic, "canceling") => "ended",
            (_, s) => s,
        };
        for h in answered {
            self.stats.answered += 1;
            *self.stats.by_prompt.entry(h).or_insert(0) += 1;
        }
        let Some(b) = self.batches.get_mut(id) else {
            return err(protocol, 404, &format!("no batch {id}"));
        };
        if protocol == Protocol::OpenAi
            && matches!(b.status, "completed" | "cancelled")
            && b.output_file_id.is_none()
            && b.error_file_id.is_none()
        {
            let (mut out, mut errs) = (Vec::new(), Vec::new());
            for (ok, line) in b.results.iter().flatten() {
                let text = format!("{line}\n");
                if *ok { &mut out } else { &mut errs }.extend_from_slice(text.as_bytes());
            }
            let (oid, eid) = (
                format!("file-{}-output", b.id),
                format!("file-{}-errors", b.id),
            );
            if !out.is_empty() {
                b.output_file_id = Some(oid.clone());
                self.files.insert(oid, out);
            }
            if !errs.is_empty() {
                b.error_file_id = Some(eid.clone());
                self.files.insert(eid, errs);
            }
        }
        let Some(b) = self.batches.get(id) else {
            return err(protocol, 404, &format!("no batch {id}"));
        };
        json_reply(match protocol {
            Protocol::OpenAi => openai_object(b),
            Protocol::Anthropic => anthropic_object(b),
        })
    }

    fn cancel(&mut self, id: &str, protocol: Protocol) -> Reply {
        let Some(b) = self.batches.get_mut(id).filter(|b| b.protocol == protocol) else {
            return err(protocol, 404, &format!("no batch {id}"));
        };
        self.stats.cancels += 1;
        b.status = match (protocol, b.status) {
            (Protocol::OpenAi, "validating" | "in_progress" | "finalizing") => "cancelling",
            (Protocol::Anthropic, "in_progress") => "canceling",
            (_, s) => s,
        };
        json_reply(match protocol {
            Protocol::OpenAi => openai_object(b),
            Protocol::Anthropic => anthropic_object(b),
        })
    }

    fn anthropic_results(&mut self, id: &str) -> Reply {
        let Some(b) = self
            .batches
            .get(id)
            .filter(|b| b.protocol == Protocol::Anthropic)
        else {
            return err(Protocol::Anthropic, 404, &format!("no batch {id}"));
        };
        if b.status != "ended" {
            return err(Protocol::Anthropic, 400, "the batch has not ended yet");
        }
        let mut out = String::new();
        for (i, (custom_id, _)) in b.lines.iter().enumerate() {
            let line = match b.results.get(i).and_then(Option::as_ref) {
                Some((_, l)) => l.clone(),
                None => json!({"custom_id": custom_id, "result": {"type": "canceled"}}),
            };
            out.push_str(&line.to_string());
            out.push('\n');
        }
        self.stats.result_downloads += 1;
        (200, out.into_bytes())
    }
}

/// The result line of request line `i`: (succeeded, line).
fn result_line(
    protocol: Protocol,
    i: usize,
    custom_id: &str,
    call: &ChatCall,
    answer: LineAnswer<'_>,
) -> (bool, Value) {
    let outcome = if call.stream {
        Err((400, "stream is not supported in batches".to_string()))
    } else {
        answer(call)
    };
    let body = |bytes: Vec<u8>| serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null);
    match (protocol, outcome) {
        (Protocol::OpenAi, r) => {
            let (ok, status, b) = match r {
                Ok(reply) => (
                    true,
                    200,
                    body(ok_body(call, &reply, &format!("chatcmpl-b{i}")).into_bytes()),
                ),
                Err((st, m)) => (false, st, body(error_body(protocol, st, &m, None))),
            };
            (
                ok,
                json!({"id": format!("batch_req_{i}"), "custom_id": custom_id,
                       "response": {"status_code": status, "request_id": format!("req_{i}"), "body": b},
                       "error": null}),
            )
        }
        (Protocol::Anthropic, Ok(reply)) => (
            true,
            json!({"custom_id": custom_id, "result": {"type": "succeeded",
                   "message": body(ok_body(call, &reply, &format!("msg_b{i}")).into_bytes())}}),
        ),
        (Protocol::Anthropic, Err((st, m))) => (
            false,
            json!({"custom_id": custom_id, "result": {"type": "errored",
                   "error": body(error_body(protocol, st, &m, None))}}),
        ),
    }
}

/// The lines of an OpenAI batch input file, and the validation errors (`{code, message, line}`).
fn openai_lines(content: &[u8]) -> (Vec<(String, Value)>, Vec<Value>) {
    let (mut lines, mut errors): (Vec<(String, Value)>, Vec<Value>) = (Vec::new(), Vec::new());
    let text = String::from_utf8_lossy(content);
    for (n, l) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let mut fail =
            |m: &str| errors.push(json!({"code": "invalid_request", "message": m, "line": n + 1}));
        let Ok(v) = serde_json::from_str::<Value>(l) else {
            fail("the line is not JSON");
            continue;
        };
        let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("");
        if s("method") != "POST" || s("url") != "/v1/chat/completions" {
            fail("method must be POST and url /v1/chat/completions");
            continue;
        }
        let id = s("custom_id");
        if id.is_empty() || lines.iter().any(|(c, _)| c == id) {
            fail("custom_id must be present and unique");
            continue;
        }
        match v.get("body").filter(|b| b.is_object()) {
            Some(b) => lines.push((id.to_string(), b.clone())),
            None => fail("body must be an object"),
        }
    }
    if lines.is_empty() && errors.is_empty() {
        errors.push(
            json!({"code": "empty_file", "message": "the file has no requests", "line": null}),
        );
    }
    (lines, errors)
}

fn counts(b: &Batch) -> (usize, usize, usize) {
    let ok = b.results.iter().flatten().filter(|(ok, _)| *ok).count();
    let failed = b.results.iter().flatten().count() - ok;
    (b.lines.len(), ok, failed)
}

fn openai_object(b: &Batch) -> Value {
    let (total, completed, failed) = counts(b);
    json!({
        "id": b.id, "object": "batch", "endpoint": "/v1/chat/completions",
        "errors": b.errors, "input_file_id": b.input_file_id, "completion_window": "24h",
        "status": b.status, "output_file_id": b.output_file_id, "error_file_id": b.error_file_id,
        "created_at": CREATED_AT, "expires_at": CREATED_AT + 86_400,
        "request_counts": {"total": total, "completed": completed, "failed": failed},
        "metadata": null,
    })
}

fn anthropic_object(b: &Batch) -> Value {
    let (total, ok, failed) = counts(b);
    let ended = b.status == "ended";
    let canceled = if ended { total - ok - failed } else { 0 };
    json!({
        "id": b.id, "type": "message_batch", "processing_status": b.status,
        "request_counts": {"processing": total - ok - failed - canceled, "succeeded": ok,
                           "errored": failed, "canceled": canceled, "expired": 0},
        "created_at": "2026-01-01T00:00:00Z", "expires_at": "2026-01-02T00:00:00Z",
        "ended_at": if ended { json!("2026-01-01T01:00:00Z") } else { Value::Null },
        "cancel_initiated_at": null,
        "results_url": if ended { json!(format!("/v1/messages/batches/{}/results", b.id)) } else { Value::Null },
    })
}

/// The parts of a multipart/form-data body: (name, filename, content).
type Part = (String, Option<String>, Vec<u8>);

fn multipart(body: &[u8], boundary: &str) -> Result<Vec<Part>, String> {
    let delim = format!("--{boundary}").into_bytes();
    let mut parts = Vec::new();
    let mut rest = body;
    let find = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).position(|w| w == needle);
    let start = find(rest, &delim).ok_or("no multipart boundary in the body")?;
    rest = &rest[start + delim.len()..];
    loop {
        if rest.starts_with(b"--") {
            return Ok(parts);
        }
        rest = rest
            .strip_prefix(b"\r\n")
            .ok_or("a boundary line must end with CRLF")?;
        let head_end = find(rest, b"\r\n\r\n").ok_or("a part has no header end")?;
        let head = String::from_utf8_lossy(&rest[..head_end])
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("content-disposition:"))
            .unwrap_or("")
            .to_string();
        rest = &rest[head_end + 4..];
        let end =
            find(rest, &[b"\r\n".as_slice(), &delim].concat()).ok_or("a part is not closed")?;
        let content = rest[..end].to_vec();
        rest = &rest[end + 2 + delim.len()..];
        let attr = |k: &str| {
            head.split(';')
                .map(str::trim)
                .find_map(|p| p.strip_prefix(&format!("{k}=")))
                .map(|v| v.trim_matches('"').to_string())
        };
        let name = attr("name").ok_or("a part has no name")?;
        parts.push((name, attr("filename"), content));
    }
}
