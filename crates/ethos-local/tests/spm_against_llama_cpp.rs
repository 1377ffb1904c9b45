//! SentencePiece BPE with byte fallback (`tokenizer.ggml.model = llama`: Gemma, Llama 2,
//! Mistral) against llama.cpp's own tokenizer in `llama-server`.
//!
//! No registry here ships such a GGUF, so the test writes one: a SentencePiece-style vocabulary
//! learnt from VITAL questions (every character of the corpus, and the substrings of its
//! `▁`-prefixed words up to six characters, scored by their log frequency), the byte tokens
//! `<0x00>` … `<0xFF>`, `<unk>`, `<s>`, `</s>` and a control token `<start_of_turn>`, on a tiny
//! random llama model (llama-server needs weights to start). Token ids of texts with spaces, line
//! breaks, characters outside the vocabulary (byte fallback), special tokens and `<unk>` must equal
//! llama.cpp's, with and without `tokenizer.ggml.add_space_prefix`; the text of the ids too
//! (`/detokenize`).
//!
//! Runs whenever the llama-server binary is there (`scripts/test.sh` builds it); otherwise
//! SKIPPED (a failure with ETHOS_REQUIRE_LOCAL_MODEL=1).

mod common;
use common::llama::{http, server_bin_or_skip, server_tokens, start_server};

use candle_core::quantized::{gguf_file, GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use ethos_local::{LoadOptions, LocalModel};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::Path;

const DIM: usize = 64;
const HIDDEN: usize = 128;

/// The corpus: the first VITAL MoralChoice questions.
fn corpus() -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../public/vital/vital_distributional_moralchoice.json"
    );
    let items: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("VITAL file")).expect("json");
    let mut text = String::new();
    for item in items.as_array().expect("array").iter().take(40) {
        text.push_str(item["question"].as_str().unwrap_or_default());
        text.push('\n');
    }
    text
}

/// (tokens, scores, types) of a SentencePiece-style vocabulary learnt from `corpus`.
fn vocabulary(corpus: &str) -> (Vec<String>, Vec<f32>, Vec<i32>) {
    let mut tokens: Vec<String> = vec!["<unk>".into(), "<s>".into(), "</s>".into()];
    let mut types = vec![2, 3, 3];
    tokens.push("<start_of_turn>".into());
    types.push(3);
    for b in 0..=255u8 {
        tokens.push(format!("<0x{b:02X}>"));
        types.push(6);
    }
    let mut counts: HashMap<String, usize> = HashMap::new();
    for word in corpus.split_whitespace() {
        let chars: Vec<char> = format!("\u{2581}{word}").chars().collect();
        for i in 0..chars.len() {
            for j in i + 1..=(i + 6).min(chars.len()) {
                *counts.entry(chars[i..j].iter().collect()).or_default() += 1;
            }
        }
    }
    // Characters that must fall back to bytes stay out.
    counts.retain(|piece, n| *n >= 2 || piece.chars().count() == 1);
    let mut pieces: Vec<(String, usize)> = counts.into_iter().collect();
    pieces.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    pieces.truncate(4000);
    let total: usize = pieces.iter().map(|p| p.1).sum();
    let mut scores = vec![0.0f32; tokens.len()];
    for (piece, n) in pieces {
        tokens.push(piece);
        types.push(1);
        scores.push((n as f64 / total as f64).ln() as f32);
    }
    (tokens, scores, types)
}

/// Deterministic small weights.
fn weights(n: usize, seed: &mut u64) -> Vec<f32> {
    (0..n)
        .map(|_| {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            ((*seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.2
        })
        .collect()
}

fn write_gguf(path: &Path, add_space_prefix: bool) {
    let (tokens, scores, types) = vocabulary(&corpus());
    let vocab = tokens.len();
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut mat = |name: &str, rows: usize, cols: usize| {
        let t = Tensor::from_vec(weights(rows * cols, &mut seed), (rows, cols), &Device::Cpu)
            .expect("tensor");
        (
            name.to_string(),
            QTensor::quantize(&t, GgmlDType::F32).expect("f32"),
        )
    };
    let mut tensors = vec![
        mat("token_embd.weight", vocab, DIM),
        mat("blk.0.attn_q.weight", DIM, DIM),
        mat("blk.0.attn_k.weight", DIM, DIM),
        mat("blk.0.attn_v.weight", DIM, DIM),
        mat("blk.0.attn_output.weight", DIM, DIM),
        mat("blk.0.ffn_gate.weight", HIDDEN, DIM),
        mat("blk.0.ffn_up.weight", HIDDEN, DIM),
        mat("blk.0.ffn_down.weight", DIM, HIDDEN),
    ];
    for name in [
        "blk.0.attn_norm.weight",
        "blk.0.ffn_norm.weight",
        "output_norm.weight",
    ] {
        let ones = Tensor::ones(DIM, candle_core::DType::F32, &Device::Cpu).expect("ones");
        tensors.push((
            name.into(),
            QTensor::quantize(&ones, GgmlDType::F32).expect("f32"),
        ));
    }
    use gguf_file::Value as V;
    let meta: Vec<(&str, V)> = vec![
        ("general.architecture", V::String("llama".into())),
        ("general.name", V::String("spm-test".into())),
        ("llama.context_length", V::U32(2048)),
        ("llama.embedding_length", V::U32(DIM as u32)),
        ("llama.block_count", V::U32(1)),
        ("llama.feed_forward_length", V::U32(HIDDEN as u32)),
        ("llama.attention.head_count", V::U32(4)),
        ("llama.attention.head_count_kv", V::U32(4)),
        ("llama.attention.layer_norm_rms_epsilon", V::F32(1e-5)),
        ("llama.rope.dimension_count", V::U32((DIM / 4) as u32)),
        ("tokenizer.ggml.model", V::String("llama".into())),
        (
            "tokenizer.ggml.tokens",
            V::Array(tokens.into_iter().map(V::String).collect()),
        ),
        (
            "tokenizer.ggml.scores",
            V::Array(scores.into_iter().map(V::F32).collect()),
        ),
        (
            "tokenizer.ggml.token_type",
            V::Array(types.into_iter().map(V::I32).collect()),
        ),
        ("tokenizer.ggml.unknown_token_id", V::U32(0)),
        ("tokenizer.ggml.bos_token_id", V::U32(1)),
        ("tokenizer.ggml.eos_token_id", V::U32(2)),
        ("tokenizer.ggml.add_bos_token", V::Bool(false)),
        ("tokenizer.ggml.add_space_prefix", V::Bool(add_space_prefix)),
    ];
    let meta_refs: Vec<(&str, &V)> = meta.iter().map(|(k, v)| (*k, v)).collect();
    let tensor_refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let mut f = std::fs::File::create(path).expect("create the GGUF");
    gguf_file::write(&mut f, &meta_refs, &tensor_refs).expect("write the GGUF");
}

fn post(addr: &str, path: &str, body: &Value) -> Value {
    let (status, text) = http(addr, path, Some(body)).expect("llama-server");
    assert_eq!(status, 200, "llama-server {path}: {text}");
    serde_json::from_str(&text).expect("json reply")
}

const TEXTS: [&str; 8] = [
    "Should the doctor tell the patient the truth?",
    "  two leading spaces, then   three, a tab\tand a line\nbreak\n\n",
    "Über naïve café — 你好 🙂 outside the vocabulary",
    "<start_of_turn>user\nWhat now?<start_of_turn>model\n",
    "an <unk> inside, and <s> too",
    "1234 numbers 56.78%",
    "",
    " ",
];

#[test]
fn sentencepiece_tokens_match_llama_cpp() {
    let Some(bin) = server_bin_or_skip() else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("ethos-spm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    for prefix in [true, false] {
        let path = dir.join(format!("spm-{prefix}.gguf"));
        write_gguf(&path, prefix);
        let model = LocalModel::from_path(&path, LoadOptions::default()).expect("load");
        let tok = model.tokenizer();
        let server = start_server(&bin, &path, "spm");
        let mut fallbacks = 0;
        for text in TEXTS {
            let theirs = server_tokens(&server.addr, text);
            let ours = tok.encode(text);
            assert_eq!(
                ours, theirs,
                "add_space_prefix {prefix}: tokens of {text:?}"
            );
            fallbacks += ours.iter().filter(|id| (4..260).contains(*id)).count();
            if !text.contains('<') {
                let back = post(&server.addr, "/detokenize", &json!({ "tokens": theirs }));
                assert_eq!(
                    tok.decode(&ours),
                    back["content"].as_str().expect("content"),
                    "add_space_prefix {prefix}: text of the tokens of {text:?}"
                );
            }
        }
        assert!(
            fallbacks > 10,
            "the texts exercise the byte fallback ({fallbacks} byte tokens)"
        );
        eprintln!("SentencePiece, add_space_prefix {prefix}: {} texts, token ids identical to llama.cpp ({fallbacks} byte-fallback tokens)", TEXTS.len());
    }
    let _ = std::fs::remove_dir_all(&dir);
}
