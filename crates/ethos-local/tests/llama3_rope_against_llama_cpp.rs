//! Llama 3's RoPE scaling (`rope_freqs.weight`, the per-pair factors llama.cpp's converter
//! writes for Llama 3.x models) in this runtime against llama.cpp's own `llama-server`.
//!
//! No registry ships a Llama 3.x GGUF, so the test writes one: the real SmolLM2-135M file (llama
//! architecture) with a `rope_freqs.weight` tensor added, its factors computed by the Llama 3
//! rule (factor 32, low/high frequency factors 1 and 4, as Llama 3.2) with a short original
//! context (64 positions) so that most rotary pairs are scaled within the prompt. Both runtimes
//! then read the same file. Over forced decoding of a VITAL prompt:
//! - top-1 agreement with llama.cpp and the largest difference of the log-probabilities of
//!   llama.cpp's top 10 tokens, compared with the same figures for the original file in both
//!   runtimes (the baseline: SmolLM2 is chaotic under 8-bit activations, see the asserts);
//! - the same file read while ignoring the factors (the original SmolLM2 file) must agree
//!   clearly worse with llama.cpp on the scaled file: the factors change the result, and this
//!   runtime applies them as llama.cpp does.
//!
//! The copy also declares Llama 3's pre-tokenizer (`tokenizer.ggml.pre = llama-bpe`; SmolLM2's
//! vocabulary and merges): token ids of texts with numbers, contractions and line breaks must
//! equal llama.cpp's.
//!
//! Runs whenever the SmolLM2 GGUF and the llama-server binary are there (`scripts/test.sh` gets
//! both); otherwise SKIPPED (a failure with ETHOS_REQUIRE_LOCAL_MODEL=1).

mod common;
use common::llama::{
    agreement, completion_top10, forced_logprobs, server_bin_or_skip, server_tokens, start_server,
    Agreement,
};
use common::{gguf_path, skip};

use candle_core::quantized::{gguf_file, GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use ethos_local::{LoadOptions, LocalModel};
use std::path::{Path, PathBuf};

const POSITIONS: usize = 160;

/// Llama 3's factor per rotary pair (llama.cpp's convert_hf_to_gguf.py, `rope_freqs`).
fn llama3_factors(base: f64, head_dim: usize, original_context: f64) -> Vec<f32> {
    let (factor, low, high) = (32.0f64, 1.0f64, 4.0f64);
    let (low_wavelen, high_wavelen) = (original_context / low, original_context / high);
    (0..head_dim / 2)
        .map(|i| {
            let freq = 1.0 / base.powf((2 * i) as f64 / head_dim as f64);
            let wavelen = 2.0 * std::f64::consts::PI / freq;
            let f = if wavelen < high_wavelen {
                1.0
            } else if wavelen > low_wavelen {
                factor
            } else {
                let smooth = (original_context / wavelen - low) / (high - low);
                1.0 / ((1.0 - smooth) / factor + smooth)
            };
            f as f32
        })
        .collect()
}

/// The SmolLM2 file with `rope_freqs.weight` added and the `llama-bpe` pre-tokenizer (every other
/// tensor and key unchanged).
/// Returns (scaled pairs, pairs).
fn write_scaled_copy(src: &Path, dst: &Path) -> (usize, usize) {
    let mut f = std::fs::File::open(src).expect("open the GGUF");
    let ct = gguf_file::Content::read(&mut f).expect("read the GGUF");
    let get = |k: &str| {
        ct.metadata
            .get(k)
            .unwrap_or_else(|| panic!("{k} in the GGUF"))
    };
    let dim = get("llama.embedding_length").to_u32().expect("u32") as usize;
    let heads = get("llama.attention.head_count").to_u32().expect("u32") as usize;
    let base = get("llama.rope.freq_base").to_f32().unwrap_or(10000.0) as f64;
    let head_dim = dim / heads;
    let factors = llama3_factors(base, head_dim, 64.0);
    let scaled = factors.iter().filter(|f| **f != 1.0).count();
    assert!(scaled > head_dim / 8, "factors {factors:?}");
    let freqs = Tensor::new(factors.as_slice(), &Device::Cpu).expect("tensor");
    let freqs = QTensor::quantize(&freqs, GgmlDType::F32).expect("f32 tensor");
    // Llama 3's pre-tokenizer (numbers in groups of three, whole-word lookup before merges).
    let pre = gguf_file::Value::String("llama-bpe".into());
    write_copy(
        src,
        dst,
        &[("tokenizer.ggml.pre", Some(pre))],
        vec![("rope_freqs.weight".into(), freqs)],
    );
    (scaled, head_dim / 2)
}

#[test]
fn llama3_rope_scaling_matches_llama_cpp() {
    let Some(gguf) = gguf_path() else {
        skip("no SmolLM2 GGUF (scripts/llama-server.sh model, or set ETHOS_LLM_GGUF)");
        return;
    };
    let Some(bin) = server_bin_or_skip() else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("ethos-llama3-rope-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let scaled_path: PathBuf = dir.join("smollm2-llama3-rope.gguf");
    let (scaled_pairs, pairs) = write_scaled_copy(&gguf, &scaled_path);

    let mut scaled =
        LocalModel::from_path(&scaled_path, LoadOptions::default()).expect("load the scaled copy");
    assert_eq!(scaled.info().backend, "fast");
    // The candle backend would ignore the factors: it refuses the file instead.
    let e = LocalModel::from_path(&scaled_path, LoadOptions::candle(false))
        .err()
        .expect("the candle backend refuses rope_freqs");
    assert!(e.to_string().contains("RoPE scaling"), "{e}");
    let mut plain = LocalModel::from_path(&gguf, LoadOptions::default()).expect("load SmolLM2");

    // A VITAL prompt and a plausible answer, cut to POSITIONS tokens (well past the 64-position
    // original context of the factors).
    let mut tokens = Vec::new();
    for i in 0.. {
        let (messages, _) = common::read_messages(i, "Duty first.");
        tokens.extend(scaled.prompt_tokens(&messages).expect("template"));
        tokens.extend(
            scaled
                .tokenizer()
                .encode("A. The patient's wishes come first.<|im_end|>\n"),
        );
        if tokens.len() >= POSITIONS {
            break;
        }
    }
    tokens.truncate(POSITIONS);
    let ours = forced_logprobs(&mut scaled, &tokens);
    let unscaled = forced_logprobs(&mut plain, &tokens);

    let server = start_server(&bin, &scaled_path, "scaled");
    for text in [
        "In 2024, 12345 patients (about 1.5%) weren't told; they'd 7 days.\n\n  Why?\r\nBecause 0042 isn't 42!",
        "Question: Should a doctor lie?\nOptions: A. Yes B. No\nAnswer:",
        "Numbers: 1 12 123 1234 12345 123456 ٣٤٥ and ½; spaces   \t tabs.",
    ] {
        let theirs = server_tokens(&server.addr, text);
        assert_eq!(scaled.tokenizer().encode(text), theirs, "llama-bpe tokens of {text:?}");
    }
    let theirs: Vec<Vec<(u32, f64)>> = (0..POSITIONS)
        .map(|pos| completion_top10(&server.addr, &tokens[..=pos]))
        .collect();
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
    // The baseline: the original file in both runtimes (how close they are without scaling).
    let server = start_server(&bin, &gguf, "plain");
    let theirs_plain: Vec<Vec<(u32, f64)>> = (0..POSITIONS)
        .map(|pos| completion_top10(&server.addr, &tokens[..=pos]))
        .collect();
    drop(server);
    let Agreement {
        top1: agree_base,
        worst: worst_base,
        ..
    } = agreement(&unscaled, &theirs_plain);

    let Agreement {
        top1: agree, worst, ..
    } = agreement(&ours, &theirs);
    let Agreement {
        top1: agree_plain,
        worst: worst_plain,
        ..
    } = agreement(&unscaled, &theirs);
    eprintln!(
        "Llama 3 RoPE scaling ({scaled_pairs} of {pairs} pairs scaled), {POSITIONS} positions against \
         llama.cpp on the scaled file: with the factors top-1 {agree}/{POSITIONS}, max |Δ log-prob| \
         {worst:.4}; ignoring them top-1 {agree_plain}/{POSITIONS}, max |Δ log-prob| {worst_plain:.4}; \
         the unscaled file in both runtimes: top-1 {agree_base}/{POSITIONS}, max |Δ log-prob| \
         {worst_base:.4}",
    );
    // SmolLM2 under 8-bit activations is chaotic (against_llama_cpp.rs): the two runtimes differ
    // on the unscaled file too (measured: top-1 156/160, max |Δ| 0.92). The bar is relative to
    // that baseline: as close with the factors as without, within 5 % of the positions and twice
    // the baseline's largest difference; and far closer than a runtime that ignores them.
    assert!(
        agree + POSITIONS / 20 >= agree_base,
        "top-1 agreement with the factors {agree}/{POSITIONS}, baseline {agree_base}"
    );
    assert!(
        worst <= 2.0 * worst_base.max(0.05),
        "max |Δ log-prob| with the factors {worst}, baseline {worst_base}"
    );
    assert!(
        agree > agree_plain + POSITIONS / 10 && worst * 4.0 < worst_plain,
        "the factors must matter: ignoring them gives top-1 {agree_plain} and max |Δ| \
         {worst_plain} against {agree} and {worst}"
    );
}

/// Llama 3's chat template (the `bos_token` at the start of the first message).
const LLAMA3_TEMPLATE: &str = "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}";

/// The SmolLM2 file with metadata keys replaced (`Some`) or removed (`None`) and `extra` tensors
/// added.
fn write_copy(
    src: &Path,
    dst: &Path,
    changes: &[(&str, Option<gguf_file::Value>)],
    extra: Vec<(String, QTensor)>,
) {
    let mut f = std::fs::File::open(src).expect("open the GGUF");
    let ct = gguf_file::Content::read(&mut f).expect("read the GGUF");
    let mut md = ct.metadata.clone();
    for (k, v) in changes {
        match v {
            Some(v) => md.insert((*k).to_string(), v.clone()),
            None => md.remove(*k),
        };
    }
    let mut names: Vec<&String> = ct.tensor_infos.keys().collect();
    names.sort();
    let mut tensors: Vec<(String, QTensor)> = names
        .into_iter()
        .map(|n| {
            (
                n.clone(),
                ct.tensor(&mut f, n, &Device::Cpu).expect("tensor"),
            )
        })
        .collect();
    tensors.extend(extra);
    let mut keys: Vec<(&str, &gguf_file::Value)> =
        md.iter().map(|(k, v)| (k.as_str(), v)).collect();
    keys.sort_by_key(|(k, _)| *k);
    let refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let mut out = std::fs::File::create(dst).expect("create the copy");
    gguf_file::write(&mut out, &keys, &refs).expect("write the copy");
}

/// A chat prompt's token ids as llama-server makes them for a chat completion: the template
/// rendered (`/apply-template`, a leading BOS text taken off when the vocabulary adds BOS), then
/// tokenized with special tokens parsed and BOS added as the vocabulary says.
fn server_chat_tokens(addr: &str, messages: &[ethos_engine::chat::Message]) -> Vec<u32> {
    use common::llama::http;
    use serde_json::{json, Value};
    let prompt = common::llama::apply_template(addr, messages);
    let body = json!({ "content": prompt, "add_special": true, "parse_special": true });
    let (st, text) = http(addr, "/tokenize", Some(&body)).expect("tokenize");
    assert_eq!(st, 200, "{text}");
    serde_json::from_str::<Value>(&text).expect("json")["tokens"]
        .as_array()
        .expect("tokens")
        .iter()
        .filter_map(|t| t.as_u64().map(|x| x as u32))
        .collect()
}

/// Llama 3 files ask for a BOS before every prompt (`llama-bpe`'s default, or
/// `tokenizer.ggml.add_bos_token`), and llama.cpp puts exactly one there whether or not the
/// template writes `bos_token`. The chat prompt's token ids must equal llama-server's on three
/// copies of SmolLM2 with the Llama 3 pre-tokenizer: its own template (no `bos_token`) and no
/// add_bos key; Llama 3's template (which writes it) and no key; Llama 3's template with
/// add_bos_token = false (the BOS text stays, nothing is added).
#[test]
fn llama3_chat_prompts_start_with_one_bos_as_in_llama_cpp() {
    use gguf_file::Value as V;
    let Some(gguf) = gguf_path() else {
        skip("no SmolLM2 GGUF (scripts/llama-server.sh model, or set ETHOS_LLM_GGUF)");
        return;
    };
    let Some(bin) = server_bin_or_skip() else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("ethos-llama3-bos-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let pre = ("tokenizer.ggml.pre", Some(V::String("llama-bpe".into())));
    let llama3 = (
        "tokenizer.chat_template",
        Some(V::String(LLAMA3_TEMPLATE.into())),
    );
    // SmolLM2's BOS is <|im_start|>, which its template writes first anyway: the copies use
    // <|endoftext|> (id 0) instead, so that a missing or doubled BOS shows.
    let bos = 0u32;
    let bos_id = ("tokenizer.ggml.bos_token_id", Some(V::U32(bos)));
    let no_key = ("tokenizer.ggml.add_bos_token", None);
    let variants: Vec<(&str, Vec<(&str, Option<V>)>)> = vec![
        (
            "own template, default add_bos",
            vec![pre.clone(), bos_id.clone(), no_key.clone()],
        ),
        (
            "Llama 3 template, default add_bos",
            vec![pre.clone(), bos_id.clone(), llama3.clone(), no_key],
        ),
        (
            "Llama 3 template, add_bos false",
            vec![
                pre,
                bos_id,
                llama3,
                ("tokenizer.ggml.add_bos_token", Some(V::Bool(false))),
            ],
        ),
    ];
    for (label, changes) in variants {
        let path = dir.join("copy.gguf");
        write_copy(&gguf, &path, &changes, Vec::new());
        let model = LocalModel::from_path(&path, LoadOptions::default()).expect("load the copy");
        let server = start_server(&bin, &path, "bos");
        for i in 0..3 {
            let (messages, _) = common::read_messages(i, "Duty first.");
            let ours = model.prompt_tokens(&messages).expect("template");
            let theirs = server_chat_tokens(&server.addr, &messages);
            assert_eq!(ours, theirs, "{label}: chat prompt {i}");
            // One BOS first, not two.
            assert_eq!(ours.first(), Some(&bos), "{label}: {ours:?}");
            assert_ne!(ours.get(1), Some(&bos), "{label}: {ours:?}");
        }
        eprintln!(
            "{label}: chat prompt token ids identical to llama-server's, BOS ({bos}) once first"
        );
        drop(server);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
