//! The providers' Batch APIs, as `ethos run --batch-api` uses them: submit a round's calls as one
//! batch, poll it, read its results, cancel it.
//!
//! - OpenAI (and servers that copy it): `POST {base}/files` (multipart, `purpose=batch`, a JSONL
//!   file of `{custom_id, method, url, body}` lines, [`openai_jsonl`]), `POST {base}/batches`
//!   `{input_file_id, endpoint: "/v1/chat/completions", completion_window: "24h"}`,
//!   `GET {base}/batches/{id}` until `completed` (or `failed`, `expired`, `cancelled`), then
//!   `GET {base}/files/{output_file_id | error_file_id}/content` ([`parse_openai_results`]);
//!   `POST {base}/batches/{id}/cancel`.
//! - Anthropic: `POST {base}/v1/messages/batches` `{requests: [{custom_id, params}]}`,
//!   `GET …/batches/{id}` until `processing_status` is `ended`, then the JSONL at `results_url`;
//!   `POST …/batches/{id}/cancel`.
//!
//! A call's `custom_id` is its cache key, so each result lands on its call. Request bodies are
//! the live ones without streaming.

use ethos_engine::chat::{ChatError, ChatRequest, ChatResponse, Message};
use ethos_providers::errors::{error_from_object, error_from_status_for};
use ethos_providers::native::NativeTransport;
use ethos_providers::{anthropic, client, join_url, openai, Endpoint, HttpRequest, Protocol};
use ethos_providers::{RetryPolicy, Transport};
use serde_json::{json, Value};

/// A batch's state at the provider.
#[derive(Debug, Clone, PartialEq)]
pub enum State {
    /// Still running: the provider's status and the calls done so far of the total.
    Running {
        status: String,
        done: u64,
        total: u64,
    },
    /// Ended (completed, cancelled, expired): the status and where the results are.
    Ended {
        status: String,
        result_urls: Vec<String>,
    },
    /// The provider refused the batch as a whole (e.g. validation failed).
    Failed(String),
}

/// One result line: the call's key and its reply or error.
pub type Answer = (String, Result<ChatResponse, ChatError>);

pub struct BatchApi {
    endpoint: Endpoint,
    transport: NativeTransport,
    policy: RetryPolicy,
}

/// The body of one call in a batch (the live body, not streamed).
pub fn line_body(protocol: Protocol, req: &ChatRequest) -> Result<Value, ChatError> {
    Ok(match protocol {
        Protocol::OpenAi => openai::chat_body(req, false),
        Protocol::Anthropic => {
            anthropic::check_request(req)?;
            anthropic::chat_body(req, false)
        }
    })
}

/// OpenAI's batch input file (also what vLLM's `run_batch` reads): one
/// `{custom_id, method: "POST", url: "/v1/chat/completions", body}` line per call.
pub fn openai_jsonl(calls: &[(String, ChatRequest)]) -> Result<String, ChatError> {
    let mut out = String::new();
    for (key, req) in calls {
        let line = json!({
            "custom_id": key,
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": line_body(Protocol::OpenAi, req)?,
        });
        out.push_str(&line.to_string());
        out.push('\n');
    }
    Ok(out)
}

fn malformed(what: &str, e: impl std::fmt::Display) -> ChatError {
    ChatError::Malformed(format!("{what}: {e}"))
}

/// The JSON lines of a results file with their numbers and `custom_id`s.
fn result_lines(text: &str) -> Result<Vec<(usize, String, Value)>, ChatError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let n = i + 1;
        let v: Value = serde_json::from_str(line)
            .map_err(|e| malformed(&format!("result line {n} is not JSON"), e))?;
        let Some(id) = v
            .get("custom_id")
            .and_then(Value::as_str)
            .map(str::to_string)
        else {
            return Err(malformed(&format!("result line {n}"), "no custom_id"));
        };
        out.push((n, id, v));
    }
    Ok(out)
}

/// OpenAI-format result lines (`{custom_id, response: {status_code, body}, error}`), as the
/// Batch API's output and error files and vLLM's `run_batch` write them. An unreadable line is
/// an error that names it.
pub fn parse_openai_results(ep: &Endpoint, text: &str) -> Result<Vec<Answer>, ChatError> {
    let mut out = Vec::new();
    for (n, id, v) in result_lines(text)? {
        let response = v.get("response").filter(|r| !r.is_null());
        let result = match (response, v.get("error").filter(|e| !e.is_null())) {
            (Some(r), _) => {
                let status = r.get("status_code").and_then(Value::as_u64).unwrap_or(0);
                let body = r.get("body").map(Value::to_string).unwrap_or_default();
                if (200..300).contains(&status) {
                    client::parse_chat(Protocol::OpenAi, body.as_bytes())
                } else {
                    let status = u16::try_from(status).unwrap_or(500);
                    Err(error_from_status_for(ep, status, body.as_bytes(), None))
                }
            }
            (None, Some(e)) => Err(ChatError::Other(format!(
                "the batch did not make this call ({}: {})",
                e.get("code").and_then(Value::as_str).unwrap_or("error"),
                e.get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("no message")
            ))),
            (None, None) => Err(malformed(
                &format!("result line {n}"),
                "neither response nor error",
            )),
        };
        out.push((id, result));
    }
    Ok(out)
}

/// Anthropic's results JSONL (`{custom_id, result: {type, message | error}}`).
pub fn parse_anthropic_results(text: &str) -> Result<Vec<Answer>, ChatError> {
    let mut out = Vec::new();
    for (_, id, v) in result_lines(text)? {
        let r = v.get("result").cloned().unwrap_or(Value::Null);
        let result = match r.get("type").and_then(Value::as_str).unwrap_or("") {
            "succeeded" => {
                let msg = r.get("message").map(Value::to_string).unwrap_or_default();
                client::parse_chat(Protocol::Anthropic, msg.as_bytes())
            }
            "errored" => {
                let e = r.get("error").cloned().unwrap_or(Value::Null);
                Err(error_from_object(e.get("error").unwrap_or(&e)))
            }
            other => Err(ChatError::Other(format!(
                "the batch did not make this call (its result is {:?})",
                if other.is_empty() { "missing" } else { other }
            ))),
        };
        out.push((id, result));
    }
    Ok(out)
}

impl BatchApi {
    pub fn new(endpoint: Endpoint) -> Result<Self, ChatError> {
        Ok(BatchApi {
            endpoint,
            transport: NativeTransport::new()?,
            policy: RetryPolicy::default(),
        })
    }

    pub fn protocol(&self) -> Protocol {
        self.endpoint.protocol
    }

    /// The provider's auth and version headers (as a live call sends them), and the base of
    /// the batch routes.
    fn headers_and_base(&self) -> (Vec<(String, String)>, String) {
        let probe = ChatRequest::new("m", vec![Message::user("")], 0.0, 1);
        let http = client::build_chat(&self.endpoint, &probe, false);
        let headers = http
            .headers
            .into_iter()
            .filter(|(n, _)| {
                !n.eq_ignore_ascii_case("content-type") && !n.eq_ignore_ascii_case("accept")
            })
            .collect();
        let base = match self.endpoint.protocol {
            Protocol::OpenAi => self
                .endpoint
                .base_url
                .trim()
                .trim_end_matches('/')
                .to_string(),
            Protocol::Anthropic => format!("{}/batches", http.url),
        };
        (headers, base)
    }

    /// One exchange with retries (the live policy: 429/5xx/network); the body of a 2xx reply.
    async fn exchange(
        &self,
        method: &str,
        url: &str,
        content_type: Option<&str>,
        body: Option<String>,
    ) -> Result<Vec<u8>, ChatError> {
        let (mut headers, _) = self.headers_and_base();
        if let Some(ct) = content_type {
            headers.push(("content-type".into(), ct.to_string()));
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            let req = HttpRequest {
                method: method.into(),
                url: url.into(),
                headers: headers.clone(),
                body: body.clone(),
            };
            let mut got: Vec<u8> = Vec::new();
            let res = self
                .transport
                .send(req, &mut |b| {
                    got.extend_from_slice(b);
                    Ok(())
                })
                .await;
            let (err, retry_after) = match res {
                Ok(st) if st.ok() => return Ok(got),
                Ok(st) => (
                    error_from_status_for(
                        &self.endpoint,
                        st.status,
                        &got,
                        st.retry_after.as_deref(),
                    ),
                    st.retry_after,
                ),
                Err(e) => (e, None),
            };
            let ra = retry_after
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(|s| s * 1000);
            match self
                .policy
                .decide(attempt, &err, ra, self.transport.jitter())
            {
                Some(ms) => self.transport.sleep(ms).await,
                None => return Err(err),
            }
        }
    }

    async fn json(&self, method: &str, url: &str, body: Option<Value>) -> Result<Value, ChatError> {
        let ct = body.as_ref().map(|_| "application/json");
        let bytes = self
            .exchange(method, url, ct, body.map(|b| b.to_string()))
            .await?;
        serde_json::from_slice(&bytes)
            .map_err(|e| malformed(&format!("the reply of {url} is not JSON"), e))
    }

    fn id_of(v: &Value, what: &str) -> Result<String, ChatError> {
        v.get("id")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| malformed(what, "the reply has no id"))
    }

    /// Submit `calls` as one batch; its id.
    pub async fn submit(&self, calls: &[(String, ChatRequest)]) -> Result<String, ChatError> {
        let (_, base) = self.headers_and_base();
        match self.protocol() {
            Protocol::OpenAi => {
                let jsonl = openai_jsonl(calls)?;
                let boundary = format!(
                    "ethos-batch-{:016x}",
                    jsonl.len() as u64 ^ 0x9E37_79B9_7F4A_7C15
                );
                let body = format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n\
                     --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"ethos-batch.jsonl\"\r\n\
                     Content-Type: application/jsonl\r\n\r\n{jsonl}\r\n--{boundary}--\r\n"
                );
                let url = join_url(&base, "files");
                let ct = format!("multipart/form-data; boundary={boundary}");
                let bytes = self.exchange("POST", &url, Some(&ct), Some(body)).await?;
                let file: Value = serde_json::from_slice(&bytes)
                    .map_err(|e| malformed("the file upload's reply is not JSON", e))?;
                let file_id = Self::id_of(&file, "the file upload")?;
                let batch = self
                    .json(
                        "POST",
                        &join_url(&base, "batches"),
                        Some(json!({
                            "input_file_id": file_id,
                            "endpoint": "/v1/chat/completions",
                            "completion_window": "24h",
                        })),
                    )
                    .await?;
                Self::id_of(&batch, "the batch creation")
            }
            Protocol::Anthropic => {
                let mut requests = Vec::with_capacity(calls.len());
                for (key, req) in calls {
                    requests.push(
                        json!({"custom_id": key, "params": line_body(Protocol::Anthropic, req)?}),
                    );
                }
                let batch = self
                    .json("POST", &base, Some(json!({ "requests": requests })))
                    .await?;
                Self::id_of(&batch, "the batch creation")
            }
        }
    }

    fn batch_url(&self, id: &str) -> String {
        let (_, base) = self.headers_and_base();
        match self.protocol() {
            Protocol::OpenAi => join_url(&base, &format!("batches/{id}")),
            Protocol::Anthropic => join_url(&base, id),
        }
    }

    /// The batch's state now.
    pub async fn poll(&self, id: &str) -> Result<State, ChatError> {
        let v = self.json("GET", &self.batch_url(id), None).await?;
        let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let n = |p: &str| v.pointer(p).and_then(Value::as_u64).unwrap_or(0);
        match self.protocol() {
            Protocol::OpenAi => {
                let status = s("status");
                let (_, base) = self.headers_and_base();
                match status.as_str() {
                    "completed" | "cancelled" | "expired" => Ok(State::Ended {
                        result_urls: ["output_file_id", "error_file_id"]
                            .iter()
                            .filter_map(|k| v.get(*k).and_then(Value::as_str))
                            .map(|f| join_url(&base, &format!("files/{f}/content")))
                            .collect(),
                        status,
                    }),
                    "failed" => {
                        let errors: Vec<String> = v
                            .pointer("/errors/data")
                            .and_then(Value::as_array)
                            .map(|a| {
                                a.iter()
                                    .take(3)
                                    .map(|e| {
                                        format!(
                                            "{} (line {})",
                                            e.get("message").and_then(Value::as_str).unwrap_or("?"),
                                            e.get("line").map(Value::to_string).unwrap_or_default()
                                        )
                                    })
                                    .collect()
                            })
                            .unwrap_or_default();
                        Ok(State::Failed(format!(
                            "the provider refused batch {id}: {}",
                            if errors.is_empty() {
                                "no reason given".into()
                            } else {
                                errors.join("; ")
                            }
                        )))
                    }
                    _ => Ok(State::Running {
                        done: n("/request_counts/completed") + n("/request_counts/failed"),
                        total: n("/request_counts/total"),
                        status,
                    }),
                }
            }
            Protocol::Anthropic => {
                let status = s("processing_status");
                let done = ["succeeded", "errored", "canceled", "expired"]
                    .iter()
                    .map(|k| n(&format!("/request_counts/{k}")))
                    .sum::<u64>();
                if status == "ended" {
                    let url = s("results_url");
                    let url = if url.starts_with("http://") || url.starts_with("https://") {
                        url
                    } else {
                        // A relative results URL is taken against the endpoint's origin.
                        let origin: String = self
                            .endpoint
                            .base_url
                            .split('/')
                            .take(3)
                            .collect::<Vec<_>>()
                            .join("/");
                        join_url(&origin, &url)
                    };
                    Ok(State::Ended {
                        status,
                        result_urls: vec![url],
                    })
                } else {
                    Ok(State::Running {
                        total: done + n("/request_counts/processing"),
                        done,
                        status,
                    })
                }
            }
        }
    }

    /// Download and read an ended batch's results.
    pub async fn results(&self, urls: &[String]) -> Result<Vec<Answer>, ChatError> {
        let mut out = Vec::new();
        for url in urls {
            let bytes = self.exchange("GET", url, None, None).await?;
            let text = String::from_utf8_lossy(&bytes);
            out.extend(match self.protocol() {
                Protocol::OpenAi => parse_openai_results(&self.endpoint, &text)?,
                Protocol::Anthropic => parse_anthropic_results(&text)?,
            });
        }
        Ok(out)
    }

    /// Ask the provider to cancel the batch (it ends after the calls in progress).
    pub async fn cancel(&self, id: &str) -> Result<(), ChatError> {
        let url = format!("{}/cancel", self.batch_url(id));
        self.json("POST", &url, None).await.map(|_| ())
    }

    /// Wait `ms` between polls.
    pub async fn pause(&self, ms: u64) {
        self.transport.sleep(ms).await
    }
}
