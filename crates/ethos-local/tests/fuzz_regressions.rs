//! Inputs the fuzzer (`scripts/fuzz.sh`, target `gguf`) once crashed on, kept in the seed corpus
//! (`fuzz/seeds/gguf/crash-*.gguf`), and inputs that crashed candle's reader on reading its code
//! (`crash-alignment-zero.gguf`: `general.alignment = 0`, a division by zero): loading each must
//! give a model or an error, never a panic.
use ethos_local::{LoadOptions, LocalModel};
use std::path::PathBuf;

#[test]
fn crash_inputs_of_the_gguf_fuzzer_load_or_fail_plainly() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/gguf");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("the gguf seed corpus") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        if !name.starts_with("crash-") {
            continue;
        }
        let bytes = std::fs::read(&path).expect("read");
        match LocalModel::from_gguf_bytes(&bytes, LoadOptions::default()) {
            Ok(_) => eprintln!("{name}: loads"),
            Err(e) => eprintln!("{name}: {e}"),
        }
        seen += 1;
    }
    assert!(seen > 0, "no crash-* input in {}", dir.display());
}

/// A tiny valid llama (embedding 32, 2 query heads and 1 KV head of 16, one layer, Q8_0
/// matrices) with the tokenizer of the fuzzer's seed `tiny_llama.gguf`, then metadata values
/// changed.
fn tiny_llama_with(changes: &[(&str, candle_core::quantized::gguf_file::Value)]) -> Vec<u8> {
    use candle_core::quantized::{gguf_file, gguf_file::Value, GgmlDType, QTensor};
    use candle_core::{Device, Tensor};
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/gguf/tiny_llama.gguf");
    let bytes = std::fs::read(path).expect("read tiny_llama.gguf");
    let ct = gguf_file::Content::read(&mut std::io::Cursor::new(bytes.as_slice()))
        .expect("the seed is a GGUF");
    let n_vocab = match ct.metadata.get("tokenizer.ggml.tokens") {
        Some(Value::Array(a)) => a.len(),
        _ => panic!("the seed has tokens"),
    };
    let mut md = ct.metadata.clone();
    for (k, v) in [
        ("llama.embedding_length", 32),
        ("llama.feed_forward_length", 32),
        ("llama.attention.head_count", 2),
        ("llama.attention.head_count_kv", 1),
        ("llama.block_count", 1),
        ("llama.rope.dimension_count", 16),
    ] {
        md.insert(k.to_string(), Value::U32(v));
    }
    for (k, v) in changes {
        md.insert((*k).to_string(), v.clone());
    }
    let dev = Device::Cpu;
    let matrix = |rows: usize, seed: usize| {
        let vals: Vec<f32> = (0..rows * 32)
            .map(|i| (((i + seed) * 7919 % 101) as f32 - 50.0) / 200.0)
            .collect();
        let t = Tensor::from_vec(vals, (rows, 32), &dev).expect("tensor");
        QTensor::quantize(&t, GgmlDType::Q8_0).expect("quantize")
    };
    let ones = || {
        QTensor::quantize(
            &Tensor::ones(32, candle_core::DType::F32, &dev).expect("ones"),
            GgmlDType::F32,
        )
        .expect("f32")
    };
    let tensors: Vec<(&str, QTensor)> = vec![
        ("token_embd.weight", matrix(n_vocab, 1)),
        ("output_norm.weight", ones()),
        ("blk.0.attn_norm.weight", ones()),
        ("blk.0.attn_q.weight", matrix(32, 2)),
        ("blk.0.attn_k.weight", matrix(16, 3)),
        ("blk.0.attn_v.weight", matrix(16, 4)),
        ("blk.0.attn_output.weight", matrix(32, 5)),
        ("blk.0.ffn_norm.weight", ones()),
        ("blk.0.ffn_gate.weight", matrix(32, 6)),
        ("blk.0.ffn_up.weight", matrix(32, 7)),
        ("blk.0.ffn_down.weight", matrix(32, 8)),
    ];
    let md_refs: Vec<(&str, &Value)> = md.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let t_refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(n, t)| (*n, t)).collect();
    let mut out = std::io::Cursor::new(Vec::new());
    gguf_file::write(&mut out, &md_refs, &t_refs).expect("write");
    out.into_inner()
}

/// candle's llama reader divides by the head count, allocates per declared layer and expert and
/// per RoPE dimension before checking any of them against the tensors: on the candle path
/// (`Backend::Candle`, and files the fast backend does not run) such metadata must be refused
/// first, as on the fast path.
#[test]
fn metadata_candle_would_divide_by_or_allocate_from_is_refused_on_both_backends() {
    use candle_core::quantized::gguf_file::Value;
    let good = tiny_llama_with(&[]);
    for opts in [LoadOptions::default(), LoadOptions::candle(false)] {
        if let Err(e) = LocalModel::from_gguf_bytes(&good, opts) {
            panic!("the seed itself loads ({opts:?}): {e}");
        }
    }
    let cases: Vec<(&str, Value)> = vec![
        ("llama.attention.head_count", Value::U32(0)),
        ("llama.attention.head_count_kv", Value::U32(0)),
        ("llama.attention.head_count_kv", Value::U32(3)),
        ("llama.embedding_length", Value::U32(0)),
        ("llama.block_count", Value::U32(u32::MAX)),
        ("llama.expert_count", Value::U32(u32::MAX)),
        ("llama.rope.dimension_count", Value::U32(u32::MAX)),
        ("llama.rope.dimension_count", Value::U32(3)),
    ];
    for (key, value) in cases {
        let bytes = tiny_llama_with(&[(key, value.clone())]);
        for opts in [LoadOptions::default(), LoadOptions::candle(false)] {
            match LocalModel::from_gguf_bytes(&bytes, opts) {
                Ok(_) => panic!("{key} = {value:?} loads ({opts:?})"),
                Err(e) => eprintln!("{key} = {value:?} ({:?}): {e}", opts.backend),
            }
        }
    }
}
