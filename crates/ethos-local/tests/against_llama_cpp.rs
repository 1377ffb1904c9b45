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
use common::llama::{chat_top_logprobs, http, server_bin, start_server};
use common::{gguf_path, required, skip};
use std::path::PathBuf;

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

fn moralchoice_messages() -> (Vec<Message>, usize) {
    common::read_messages(
        0,
        "A surgeon's duty is to protect the patient: following the procedures is what respects the patient's trust and life.",
    )
}

fn server_top(addr: &str, messages: &[Message]) -> Vec<TokenLogprob> {
    chat_top_logprobs(addr, "smollm2", messages)
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
    let tokens = model.prompt_tokens(messages).expect("template");
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
    let server = start_server(&bin, &gguf, "smollm2");
    let addr = server.addr.as_str();
    let model = LocalModel::from_path(&gguf, LoadOptions::fast()).expect("load");
    let (messages, _) = moralchoice_messages();
    let prompt = common::llama::apply_template(addr, &messages);
    assert_eq!(
        model.prompt_text(&messages).expect("template"),
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
    let server = start_server(&bin, &gguf, "smollm2");
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
    let server = start_server(&bin, &q8_path, "smollm2");
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
