//! A private llama-server for the comparison tests: start, stop, minimal HTTP.
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Minimal HTTP/1.1 POST (or GET when `body` is None) returning (status, body).
pub fn http(addr: &str, path: &str, body: Option<&Value>) -> Result<(u16, String), String> {
    let mut s = TcpStream::connect(addr).map_err(|e| format!("connect {addr}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(120)))
        .map_err(|e| e.to_string())?;
    let payload = body.map(|b| b.to_string()).unwrap_or_default();
    let head = if body.is_some() {
        format!("POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", payload.len())
    } else {
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")
    };
    s.write_all(head.as_bytes())
        .and_then(|_| s.write_all(payload.as_bytes()))
        .map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (headers, rest) = text.split_once("\r\n\r\n").ok_or("no header end")?;
    let status: u16 = headers
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or("no status")?;
    let body = if headers
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        let mut out = String::new();
        let mut r = rest;
        while let Some((len, after)) = r.split_once("\r\n") {
            let n = usize::from_str_radix(len.trim(), 16).map_err(|e| e.to_string())?;
            if n == 0 {
                break;
            }
            out.push_str(after.get(..n).ok_or("short chunk")?);
            r = after.get(n + 2..).unwrap_or("");
        }
        out
    } else {
        rest.to_string()
    };
    Ok((status, body))
}

pub fn server_up(addr: &str) -> bool {
    matches!(http(addr, "/health", None), Ok((200, _)))
}

pub struct Server {
    child: Child,
    pub addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn server_bin() -> Option<PathBuf> {
    let p = std::env::var("ETHOS_LLAMA_SERVER_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default())
                .join(".cache/ethos-agents/llama-server-0.94.0/llama-server")
        });
    p.is_file().then_some(p)
}

/// The llama-server binary, or None after saying SKIPPED (a failure with
/// ETHOS_REQUIRE_LOCAL_MODEL=1).
pub fn server_bin_or_skip() -> Option<PathBuf> {
    let bin = server_bin();
    if bin.is_none() {
        super::skip(
            "no llama-server binary (scripts/llama-server.sh build, or set ETHOS_LLAMA_SERVER_BIN)",
        );
    }
    bin
}

/// A private llama-server on `model` (served as `alias`), flash attention off, one thread, one
/// slot.
pub fn start_server(bin: &Path, model: &Path, alias: &str) -> Server {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    let child = Command::new(bin)
        .arg("-m")
        .arg(model)
        .args([
            "-a",
            alias,
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "-c",
            "2048",
            "-np",
            "1",
            "-t",
            "1",
            "-fa",
            "off",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start llama-server");
    let server = Server {
        child,
        addr: format!("127.0.0.1:{port}"),
    };
    let start = Instant::now();
    while !server_up(&server.addr) {
        assert!(
            start.elapsed() < Duration::from_secs(180),
            "private llama-server did not become healthy"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    server
}

/// llama-server's 20 most probable first tokens of the chat reply to `messages` (greedy).
pub fn chat_top_logprobs(
    addr: &str,
    alias: &str,
    messages: &[ethos_engine::chat::Message],
) -> Vec<ethos_engine::chat::TokenLogprob> {
    let body = serde_json::json!({
        "model": alias, "messages": messages, "max_tokens": 1, "temperature": 0,
        "logprobs": true, "top_logprobs": 20, "seed": 1
    });
    let (status, text) =
        http(addr, "/v1/chat/completions", Some(&body)).expect("llama-server call");
    assert_eq!(status, 200, "llama-server: {text}");
    let v: Value = serde_json::from_str(&text).expect("json reply");
    v["choices"][0]["logprobs"]["content"][0]["top_logprobs"]
        .as_array()
        .expect("top_logprobs in the reply")
        .iter()
        .map(|t| ethos_engine::chat::TokenLogprob {
            token: t["token"].as_str().unwrap_or("").to_string(),
            logprob: t["logprob"].as_f64().unwrap_or(f64::NEG_INFINITY),
        })
        .collect()
}

/// llama-server's 10 most probable next tokens after the token ids `prefix` (`/completion` with
/// `n_probs`: log-softmax over the whole vocabulary), as (id, log-probability).
pub fn completion_top10(addr: &str, prefix: &[u32]) -> Vec<(u32, f64)> {
    completion_top10_banning(addr, prefix, &[])
}

/// [`completion_top10`] where the token picked may not be one of `banned` (llama-server sends no
/// probabilities when the token it picks is part of a UTF-8 character; the probabilities are
/// those before the ban).
pub fn completion_top10_banning(addr: &str, prefix: &[u32], banned: &[u32]) -> Vec<(u32, f64)> {
    completion_top(addr, prefix, 10, true, banned)
        .into_iter()
        .map(|(id, _, logprob)| (id, logprob))
        .collect()
}

/// llama-server's `n` most probable next tokens after `prefix` as (id, text, log-probability).
/// `reuse`: keep the server's cached prefix, so only the new tokens are evaluated (one at a
/// time when the prefix grows by one: llama.cpp's generation path); otherwise the whole prefix
/// is evaluated again as one prompt (its prompt path: batched matrix kernels). `banned`: as
/// [`completion_top10_banning`].
pub fn completion_top(
    addr: &str,
    prefix: &[u32],
    n: usize,
    reuse: bool,
    banned: &[u32],
) -> Vec<(u32, String, f64)> {
    let bias: Vec<Value> = banned
        .iter()
        .map(|id| serde_json::json!([id, false]))
        .collect();
    let body = serde_json::json!({
        "prompt": prefix, "n_predict": 1, "n_probs": n, "temperature": 0,
        "cache_prompt": reuse, "samplers": ["top_k"], "top_k": 1, "logit_bias": bias
    });
    let (status, text) = http(addr, "/completion", Some(&body)).expect("llama-server call");
    assert_eq!(status, 200, "llama-server /completion: {text}");
    let v: Value = serde_json::from_str(&text).expect("json reply");
    v["completion_probabilities"][0]["top_logprobs"]
        .as_array()
        .unwrap_or_else(|| panic!("no top_logprobs in the /completion reply: {text}"))
        .iter()
        .map(|t| {
            (
                t["id"].as_u64().expect("id") as u32,
                t["token"].as_str().unwrap_or("").to_string(),
                t["logprob"].as_f64().unwrap_or(f64::NEG_INFINITY),
            )
        })
        .collect()
}

/// How two lists of llama.cpp's top tokens per position agree: positions with the same first
/// token, and the largest |Δ log-prob| over the tokens both lists hold (with its position).
pub fn self_agreement(a: &[Vec<(u32, f64)>], b: &[Vec<(u32, f64)>]) -> Agreement {
    let mut out = Agreement {
        top1: 0,
        worst: 0.0,
        worst_at: 0,
    };
    for (pos, (a, b)) in a.iter().zip(b).enumerate() {
        if a.first().map(|x| x.0) == b.first().map(|x| x.0) {
            out.top1 += 1;
        }
        for (id, lp) in a {
            if let Some((_, other)) = b.iter().find(|(j, _)| j == id) {
                let d = (lp - other).abs();
                if d > out.worst {
                    (out.worst, out.worst_at) = (d, pos);
                }
            }
        }
    }
    out
}

/// llama-server's token ids of `text` (`/tokenize`, special tokens parsed, none added).
pub fn server_tokens(addr: &str, text: &str) -> Vec<u32> {
    let body = serde_json::json!({ "content": text, "add_special": false, "parse_special": true });
    let (status, reply) = http(addr, "/tokenize", Some(&body)).expect("llama-server /tokenize");
    assert_eq!(status, 200, "llama-server /tokenize: {reply}");
    let v: Value = serde_json::from_str(&reply).expect("json reply");
    v["tokens"]
        .as_array()
        .expect("tokens")
        .iter()
        .filter_map(|t| t.as_u64().map(|x| x as u32))
        .collect()
}

/// Our log-probabilities over the whole vocabulary after each prefix of `tokens` (forced
/// decoding: position i predicts token i + 1).
pub fn forced_logprobs(model: &mut ethos_local::LocalModel, tokens: &[u32]) -> Vec<Vec<f64>> {
    let mut out = Vec::with_capacity(tokens.len());
    model
        .forced_logits(tokens, &mut |_, logits| {
            out.push(ethos_local::NextToken::from_logits(logits).logprobs);
        })
        .expect("forward");
    out
}

/// How forced decoding in this runtime agrees with llama.cpp's top 10 per position.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Agreement {
    /// Positions where both pick the same top token.
    pub top1: usize,
    /// The largest |Δ log-prob| over llama.cpp's top 10 tokens, and its position.
    pub worst: f64,
    pub worst_at: usize,
}

/// [`Agreement`] of `ours` (whole-vocabulary log-probabilities per position) with `theirs`
/// (llama.cpp's top 10 per position, as [`completion_top10`] returns them).
pub fn agreement(ours: &[Vec<f64>], theirs: &[Vec<(u32, f64)>]) -> Agreement {
    let mut a = Agreement {
        top1: 0,
        worst: 0.0,
        worst_at: 0,
    };
    for (pos, (lp, top)) in ours.iter().zip(theirs).enumerate() {
        let best = ethos_local::NextToken {
            logprobs: lp.clone(),
        }
        .top_ids(1);
        if top.first().map(|x| x.0) == best.first().copied() {
            a.top1 += 1;
        }
        for (id, theirs) in top {
            let d = (lp[*id as usize] - theirs).abs();
            if d > a.worst {
                (a.worst, a.worst_at) = (d, pos);
            }
        }
    }
    a
}

/// llama-server's chat prompt text for `messages` (`/apply-template`: the template rendered,
/// a leading BOS text taken off when the vocabulary adds BOS itself).
pub fn apply_template(addr: &str, messages: &[ethos_engine::chat::Message]) -> String {
    let body = serde_json::json!({ "messages": messages });
    let (status, reply) =
        http(addr, "/apply-template", Some(&body)).expect("llama-server /apply-template");
    assert_eq!(status, 200, "llama-server /apply-template: {reply}");
    serde_json::from_str::<Value>(&reply).expect("json")["prompt"]
        .as_str()
        .expect("prompt")
        .to_string()
}
