//! The model architectures the fast forward pass implements, and what each file must (not)
//! contain. Metadata or tensors that would change the computation in a way this runtime does
//! not implement are refused with their name, never guessed.

use candle_core::quantized::gguf_file::Content;

use crate::runtime::LocalError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    /// Llama / SmolLM2 / Llama 3.x: adjacent-pair RoPE, no biases, Llama 3's RoPE scaling
    /// factors when the file has them (`rope_freqs.weight`).
    Llama,
    /// Qwen2 / Qwen2.5: Q/K/V biases, GPT-NeoX RoPE (pairs i and i + head_dim/2).
    Qwen2,
    /// Qwen3: no biases, an RMS norm of each head of Q and K before RoPE (QK-norm), GPT-NeoX
    /// RoPE, the head size from `attention.key_length` (Q is wider than the embedding).
    Qwen3,
    /// Gemma 3: QK-norm, norms after the attention and after the FFN, GELU, the embedding
    /// scaled by sqrt(width), sliding-window layers with their own RoPE base, NeoX RoPE.
    Gemma3,
}

/// Per-layer tensors (after `blk.N.`) the forward pass reads.
const LAYER_TENSORS: [&str; 12] = [
    "attn_norm.weight",
    "attn_q.weight",
    "attn_k.weight",
    "attn_v.weight",
    "attn_q.bias",
    "attn_k.bias",
    "attn_v.bias",
    "attn_output.weight",
    "ffn_norm.weight",
    "ffn_gate.weight",
    "ffn_up.weight",
    "ffn_down.weight",
];

/// Architecture keys (after `<arch>.`) that are read, or known not to change the result.
const KNOWN_KEYS: [&str; 13] = [
    "block_count",
    "context_length",
    "embedding_length",
    "feed_forward_length",
    "attention.head_count",
    "attention.head_count_kv",
    "attention.layer_norm_rms_epsilon",
    "attention.key_length",
    "attention.value_length",
    "rope.freq_base",
    "rope.dimension_count",
    "vocab_size",
    // Which rotary type llama.cpp's converter saw; the architecture fixes it.
    "rope.scaling.original_context_length",
];

impl Arch {
    pub fn from_gguf(name: &str) -> Result<Self, LocalError> {
        match name {
            "llama" => Ok(Arch::Llama),
            "qwen2" => Ok(Arch::Qwen2),
            "qwen3" => Ok(Arch::Qwen3),
            "gemma3" => Ok(Arch::Gemma3),
            other => Err(LocalError::Unsupported(format!(
                "architecture '{other}' (this runtime runs llama, qwen2, qwen3 and gemma3 models)"
            ))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Arch::Llama => "llama",
            Arch::Qwen2 => "qwen2",
            Arch::Qwen3 => "qwen3",
            Arch::Gemma3 => "gemma3",
        }
    }

    pub fn rope_neox(self) -> bool {
        matches!(self, Arch::Qwen2 | Arch::Qwen3 | Arch::Gemma3)
    }

    pub fn is_gemma3(self) -> bool {
        self == Arch::Gemma3
    }

    pub fn has_qkv_bias(self) -> bool {
        self == Arch::Qwen2
    }

    /// Q and K are RMS-normed per head before RoPE (`attn_q_norm`, `attn_k_norm`).
    pub fn has_qk_norm(self) -> bool {
        matches!(self, Arch::Qwen3 | Arch::Gemma3)
    }
}

/// The per-layer QK-norm weights (qwen3, gemma3).
const QK_NORM_TENSORS: [&str; 2] = ["attn_q_norm.weight", "attn_k_norm.weight"];
/// The per-layer norms after the attention and after the FFN (gemma3).
const POST_NORM_TENSORS: [&str; 2] = ["post_attention_norm.weight", "post_ffw_norm.weight"];

fn is_layer_tensor(name: &str) -> bool {
    layer_part(name).is_some_and(|what| LAYER_TENSORS.contains(&what))
}

/// `blk.N.<what>` → what.
fn layer_part(name: &str) -> Option<&str> {
    let (n, what) = name.strip_prefix("blk.")?.split_once('.')?;
    n.parse::<usize>().is_ok().then_some(what)
}

/// Refuse a file whose metadata or tensors ask for something not implemented (RoPE scaling,
/// experts, QK-norm, extra biases, …), naming it.
pub fn refuse_unknown(ct: &Content, arch: Arch) -> Result<(), LocalError> {
    let a = arch.name();
    let mut keys: Vec<&String> = ct.metadata.keys().collect();
    keys.sort();
    for key in keys {
        let Some(rest) = key.strip_prefix(a).and_then(|r| r.strip_prefix('.')) else {
            continue;
        };
        if KNOWN_KEYS.contains(&rest) {
            continue;
        }
        let value = ct.metadata.get(key);
        let harmless = match rest {
            "rope.scaling.type" => value
                .and_then(|v| v.to_string().ok())
                .is_some_and(|s| s == "none"),
            "rope.scaling.factor" => value
                .and_then(|v| v.to_f32().ok())
                .is_some_and(|f| f == 1.0 || f == 0.0),
            // Gemma 3's sliding window (read by the forward pass).
            "attention.sliding_window"
            | "attention.sliding_window_pattern"
            | "rope.freq_base_swa"
                if arch.is_gemma3() =>
            {
                true
            }
            "final_logit_softcapping" | "attn_logit_softcapping" => value
                .and_then(|v| v.to_f32().ok())
                .is_some_and(|f| f == 0.0),
            "expert_count" | "expert_used_count" => value
                .and_then(|v| v.to_u32().ok())
                .is_some_and(|n| n <= 1),
            _ => false,
        };
        if !harmless {
            return Err(LocalError::Unsupported(format!(
                "the file sets {key}, which this runtime does not implement"
            )));
        }
    }
    let mut names: Vec<&String> = ct.tensor_infos.keys().collect();
    names.sort();
    for name in names {
        let known = matches!(
            name.as_str(),
            "token_embd.weight" | "output.weight" | "output_norm.weight"
        ) || is_layer_tensor(name)
            // Llama 3's RoPE scaling factors (llama.cpp reads them for llama models only).
            || (name == "rope_freqs.weight" && arch == Arch::Llama)
            || (arch.has_qk_norm()
                && layer_part(name).is_some_and(|w| QK_NORM_TENSORS.contains(&w)))
            || (arch.is_gemma3()
                && layer_part(name).is_some_and(|w| POST_NORM_TENSORS.contains(&w)));
        if !known {
            return Err(LocalError::Unsupported(format!(
                "the file has a tensor {name}, which this runtime does not use ({a})"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::quantized::gguf_file;

    #[test]
    fn architectures_are_named_or_refused() {
        assert_eq!(Arch::from_gguf("qwen2"), Ok(Arch::Qwen2));
        assert!(Arch::from_gguf("llama").is_ok_and(|a| !a.rope_neox()));
        assert_eq!(Arch::from_gguf("gemma3"), Ok(Arch::Gemma3));
        let e = Arch::from_gguf("phi3").expect_err("not implemented");
        assert!(e.to_string().contains("phi3"), "{e}");
    }

    fn content(meta: &[(&str, gguf_file::Value)]) -> Content {
        let refs: Vec<(&str, &gguf_file::Value)> = meta.iter().map(|(k, v)| (*k, v)).collect();
        let mut buf = std::io::Cursor::new(Vec::new());
        gguf_file::write(&mut buf, &refs, &[]).expect("write gguf");
        buf.set_position(0);
        Content::read(&mut buf).expect("read gguf")
    }

    #[test]
    fn unknown_architecture_keys_are_refused_by_name() {
        use gguf_file::Value;
        let ok = content(&[
            ("general.architecture", Value::String("qwen2".into())),
            ("qwen2.block_count", Value::U32(2)),
            ("qwen2.rope.freq_base", Value::F32(1e6)),
            ("qwen2.rope.scaling.type", Value::String("none".into())),
            ("llama.something_else", Value::U32(1)),
        ]);
        assert_eq!(refuse_unknown(&ok, Arch::Qwen2), Ok(()));
        for (key, value) in [
            ("qwen2.rope.scaling.type", Value::String("yarn".into())),
            ("qwen2.rope.scaling.factor", Value::F32(4.0)),
            ("qwen2.attention.sliding_window", Value::U32(4096)),
            ("qwen2.expert_count", Value::U32(8)),
        ] {
            let e = refuse_unknown(&content(&[(key, value)]), Arch::Qwen2).expect_err(key);
            assert!(e.to_string().contains(key), "{e}");
        }
    }

    #[test]
    fn rope_factors_are_read_for_llama_only() {
        let mut ct = content(&[]);
        ct.tensor_infos.insert(
            "rope_freqs.weight".into(),
            gguf_file::TensorInfo {
                ggml_dtype: candle_core::quantized::GgmlDType::F32,
                shape: candle_core::Shape::from(32usize),
                offset: 0,
            },
        );
        assert_eq!(refuse_unknown(&ct, Arch::Llama), Ok(()));
        let e = refuse_unknown(&ct, Arch::Qwen2).expect_err("qwen2 has no rope_freqs");
        assert!(e.to_string().contains("rope_freqs.weight"), "{e}");
    }

    #[test]
    fn qk_norms_are_read_for_qwen3_only() {
        let mut ct = content(&[]);
        ct.tensor_infos.insert(
            "blk.3.attn_k_norm.weight".into(),
            gguf_file::TensorInfo {
                ggml_dtype: candle_core::quantized::GgmlDType::F32,
                shape: candle_core::Shape::from(128usize),
                offset: 0,
            },
        );
        assert_eq!(refuse_unknown(&ct, Arch::Qwen3), Ok(()));
        for arch in [Arch::Qwen2, Arch::Llama] {
            let e = refuse_unknown(&ct, arch).expect_err("no QK-norm");
            assert!(e.to_string().contains("attn_k_norm"), "{e}");
        }
        assert!(Arch::Qwen3.rope_neox() && !Arch::Qwen3.has_qkv_bias());
    }

    #[test]
    fn layer_tensor_names() {
        assert!(is_layer_tensor("blk.12.attn_q.bias"));
        assert!(!is_layer_tensor("blk.0.attn_q_norm.weight"));
        assert!(!is_layer_tensor("blk.x.attn_q.weight"));
        assert!(!is_layer_tensor("rope_freqs.weight"));
    }
}
