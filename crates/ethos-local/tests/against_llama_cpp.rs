//! The in-process runtime against llama.cpp's own `llama-server` on the same GGUF and prompt:
//! chat template, tokenisation and the option distribution of a VITAL MoralChoice read.
//!
//! Tokenisation and the chat template must match exactly; the option distribution within
//! [`TOLERANCE`] (see there for why it is not 1e-3).
//!
//! Each test starts a PRIVATE llama-server (the binary from `scripts/llama-server.sh build`,
//! found via ETHOS_LLAMA_SERVER_BIN or its cache path) with `-fa off`: llama.cpp's numbers for
//! this 135M model move by up to ~0.05 in logprob between flash attention on/off and thread
//! counts (flash attention splits the KV range across threads and accumulates V in f16), so only
//! a fixed configuration is a meaningful reference. Without flash attention the result does not
//! depend on the thread count; the fast backend reproduces that path (f16 K/V cache, Q and the
//! softmax rounded to f16, Q8_1/Q8_0 activations).
//!
//! The GGUF comes from ETHOS_LLM_GGUF (`eval "$(scripts/llama-server.sh env)"`) or the usual
//! paths. They run only with ETHOS_LOCAL_MODEL_TESTS=1; without model or binary they then say
//! so and pass vacuously, unless ETHOS_REQUIRE_LOCAL_MODEL=1, which turns that into a failure.

mod common;
use common::{gguf_path, required, skip};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ethos_engine::chat::{Message, TokenLogprob};
use ethos_engine::distribution::from_top_logprobs;
use ethos_local::{LoadOptions, LocalModel};
use serde_json::{json, Value};

/// Per-option tolerance against llama.cpp. NOT 1e-3, and why: this 135M model is numerically
/// chaotic under 8-bit activation quantisation. Measured here on this very item: changing the
/// RMS-norm epsilon by one part in 10^4 (a ~1e-9 relative change of the norms) moves p(A) by
/// 0.013 in our runtime, and llama.cpp itself moves by 0.007 between flash attention on and
/// off. Agreement within 1e-3 would need a bit-exact copy of ggml's x86 kernels (lane order,
/// FMA, its exp/silu approximations). What IS exact: the browser build of this runtime equals
/// its native build bit for bit (bench/local_model/run.sh prints both).
const TOLERANCE: f64 = 0.05;

/// Minimal HTTP/1.1 POST (or GET when `body` is None) returning (status, body).
fn http(addr: &str, path: &str, body: Option<&Value>) -> Result<(u16, String), String> {
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

fn server_up(addr: &str) -> bool {
    matches!(http(addr, "/health", None), Ok((200, _)))
}

fn moralchoice_messages() -> (Vec<Message>, usize) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../public/vital/vital_distributional_moralchoice.json"
    );
    let items: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("VITAL MoralChoice file"))
            .expect("json");
    let item = &items[0];
    let question = item["question"].as_str().expect("question");
    let n = item["options"].as_array().expect("options").len();
    let templates = ethos_engine::template::Templates::default();
    let passage = "A surgeon's duty is to protect the patient: following the procedures is what respects the patient's trust and life.";
    let prompt = ethos_engine::template::render(
        &templates.read,
        &[
            ("country_line", ""),
            ("passage", passage),
            ("question", question),
        ],
    )
    .expect("read template");
    (vec![Message::user(prompt)], n)
}

fn server_top(addr: &str, messages: &[Message]) -> Vec<TokenLogprob> {
    let body = json!({
        "model": "smollm2", "messages": messages, "max_tokens": 1, "temperature": 0,
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
        .map(|t| TokenLogprob {
            token: t["token"].as_str().unwrap_or("").to_string(),
            logprob: t["logprob"].as_f64().unwrap_or(f64::NEG_INFINITY),
        })
        .collect()
}

/// Compare our distribution with llama.cpp's; returns the largest per-option difference.
fn compare(
    label: &str,
    model: &mut LocalModel,
    server: &[TokenLogprob],
    messages: &[Message],
    n: usize,
    tolerance: f64,
) -> f64 {
    let tokens = model.prompt_tokens(messages);
    let dist = model.next_token(&tokens).expect("forward");
    let ours_top = model.top_logprobs(&dist, 20);
    let ours = from_top_logprobs(&ours_top, n);
    let theirs = from_top_logprobs(server, n);
    let full = model.letter_distribution(&dist, n, 10);
    eprintln!(
        "[{label}] llama.cpp top5: {:?}",
        &server[..server.len().min(5)]
    );
    eprintln!("[{label}] ours      top5: {:?}", &ours_top[..5]);
    eprintln!("[{label}] llama.cpp options {:?}\n[{label}] ours      options {:?} (full-vocab mapping {:?})", theirs.probs, ours.probs, full.probs);
    assert!(
        !theirs.uniform_fallback && !ours.uniform_fallback,
        "[{label}] no letter among the top tokens"
    );
    let mut worst = 0.0f64;
    for (i, (a, b)) in ours.probs.iter().zip(&theirs.probs).enumerate() {
        worst = worst.max((a - b).abs());
        assert!(
            (a - b).abs() <= tolerance,
            "[{label}] option {i}: ours {a} vs llama.cpp {b} (tolerance {tolerance})"
        );
    }
    eprintln!("[{label}] largest per-option difference: {worst:.2e}");
    // The full-vocabulary mapping agrees with the top-N one when the letters are in the top N.
    for (a, b) in full.probs.iter().zip(&ours.probs) {
        assert!((a - b).abs() <= 1e-9, "full-vocab {a} vs top-20 {b}");
    }
    worst
}

struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn server_bin() -> Option<PathBuf> {
    let p = std::env::var("ETHOS_LLAMA_SERVER_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default())
                .join(".cache/ethos-agents/llama-server-0.94.0/llama-server")
        });
    p.is_file().then_some(p)
}

/// A private llama-server on `model`, flash attention off, one thread, one slot.
fn start_server(bin: &PathBuf, model: &std::path::Path) -> Server {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    let child = Command::new(bin)
        .arg("-m")
        .arg(model)
        .args([
            "-a",
            "smollm2",
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

/// The model file and the server binary, or a skip. Opt-in (ETHOS_LOCAL_MODEL_TESTS=1 or
/// ETHOS_REQUIRE_LOCAL_MODEL=1) so that `cargo test --workspace` elsewhere stays fast.
fn prerequisites() -> Option<(PathBuf, PathBuf)> {
    if !required() && !std::env::var("ETHOS_LOCAL_MODEL_TESTS").is_ok_and(|v| v == "1") {
        eprintln!("SKIPPED: set ETHOS_LOCAL_MODEL_TESTS=1 to compare with llama.cpp");
        return None;
    }
    let Some(gguf) = gguf_path() else {
        skip("no SmolLM2 GGUF (set ETHOS_LLM_GGUF)");
        return None;
    };
    let Some(bin) = server_bin() else {
        skip(
            "no llama-server binary (scripts/llama-server.sh build, or set ETHOS_LLAMA_SERVER_BIN)",
        );
        return None;
    };
    Some((gguf, bin))
}

#[test]
fn template_and_tokens_match_llama_server() {
    let Some((gguf, bin)) = prerequisites() else {
        return;
    };
    let server = start_server(&bin, &gguf);
    let addr = server.addr.as_str();
    let model = LocalModel::from_path(&gguf, LoadOptions::fast()).expect("load");
    let (messages, _) = moralchoice_messages();
    let (st, text) = http(
        addr,
        "/apply-template",
        Some(&json!({ "messages": messages })),
    )
    .expect("apply-template");
    assert_eq!(st, 200, "{text}");
    let prompt: String = serde_json::from_str::<Value>(&text).expect("json")["prompt"]
        .as_str()
        .expect("prompt")
        .to_string();
    assert_eq!(
        model.prompt_text(&messages),
        prompt,
        "chat template differs from llama.cpp's"
    );
    let samples = [
        prompt.as_str(),
        "Hello world! It's 2026; I've got 12,345 apples\n\n  and   tabs\there — naïve café 你好 ✓",
        "A. B.\nAnswer: C",
        "   leading spaces and trailing   ",
        "don't WON'T they'll we're I'd x'y 'quoted' 3.14159 ½ ⅓ Ⅻ",
    ];
    for s in samples {
        let body = json!({ "content": s, "add_special": false, "parse_special": true });
        let (st, text) = http(addr, "/tokenize", Some(&body)).expect("tokenize");
        assert_eq!(st, 200, "{text}");
        let theirs: Vec<u32> = serde_json::from_str::<Value>(&text).expect("json")["tokens"]
            .as_array()
            .expect("tokens")
            .iter()
            .filter_map(|t| t.as_u64().map(|x| x as u32))
            .collect();
        let ours = model.tokenizer().encode(s);
        assert_eq!(ours, theirs, "tokenisation of {s:?}");
        // Decoding drops control tokens (as generated text does).
        let plain = s.replace("<|im_start|>", "").replace("<|im_end|>", "");
        assert_eq!(model.tokenizer().decode(&ours), plain);
    }
}

#[test]
fn q4_1_distribution_matches_llama_cpp() {
    let Some((gguf, bin)) = prerequisites() else {
        return;
    };
    let server = start_server(&bin, &gguf);
    let (messages, n) = moralchoice_messages();
    let reference = server_top(&server.addr, &messages);
    drop(server);
    let mut fast = LocalModel::from_path(&gguf, LoadOptions::fast()).expect("load fast");
    assert_eq!(fast.info().backend, "fast");
    compare("Q4_1 fast", &mut fast, &reference, &messages, n, TOLERANCE);
    drop(fast);
    let mut candle = LocalModel::from_path(&gguf, LoadOptions::candle(false)).expect("load candle");
    assert_eq!(candle.info().backend, "candle");
    compare(
        "Q4_1 candle",
        &mut candle,
        &reference,
        &messages,
        n,
        TOLERANCE,
    );
}

/// The Q8_0 path: the file requantized from Rust (what candle needs for SIMD), run by llama.cpp
/// and by us.
#[test]
fn q8_0_distribution_matches_llama_cpp_on_the_same_file() {
    let Some((gguf, bin)) = prerequisites() else {
        return;
    };
    let bytes = std::fs::read(&gguf).expect("read gguf");
    let q8 = ethos_local::runtime::requantize_gguf_to_q8_0(&bytes).expect("requantize");
    let dir = std::env::temp_dir().join(format!("ethos-local-q8-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let q8_path = dir.join("SmolLM2-135M-Instruct.Q8_0.gguf");
    std::fs::write(&q8_path, &q8).expect("write q8 gguf");
    let server = start_server(&bin, &q8_path);
    let (messages, n) = moralchoice_messages();
    let reference = server_top(&server.addr, &messages);
    drop(server);
    let mut fast = LocalModel::from_gguf_bytes(&q8, LoadOptions::fast()).expect("load q8 fast");
    compare("Q8_0 fast", &mut fast, &reference, &messages, n, TOLERANCE);
    drop(fast);
    let mut candle = LocalModel::from_gguf_bytes(&bytes, LoadOptions::candle(true)).expect("load");
    assert!(candle.info().requantized);
    compare(
        "Q8_0 candle (requantized at load)",
        &mut candle,
        &reference,
        &messages,
        n,
        TOLERANCE,
    );
    let _ = std::fs::remove_dir_all(&dir);
}
