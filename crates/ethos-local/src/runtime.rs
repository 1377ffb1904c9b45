//! The model runtime: candle's quantized llama over a GGUF held in memory, the GGUF's own
//! tokenizer and chat template, token-by-token generation (seeded sampling, temperature, max
//! tokens, stop at end-of-turn) and the exact full-vocabulary next-token distribution.
//!
//! Everything is synchronous and single-threaded: natively the caller owns the thread; in the
//! browser it runs inside a Web Worker, driven one token at a time (see `worker.rs`) so that a
//! cancel message can be seen between tokens.

use std::io::Cursor;

use candle_core::quantized::{gguf_file, GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use candle_transformers::models::quantized_llama::{ModelWeights, MAX_SEQ_LEN};
use ethos_engine::chat::{ChatRequest, ChatResponse, Message, TokenLogprob, Usage};
use serde::{Deserialize, Serialize};

use crate::protocol::{LetterDistribution, ModelInfo};
use crate::template::{ChatTemplate, TemplateUnsupported};
use crate::tokenizer::{PreTokenizer, StreamDecoder, Tokenizer, TokenizerError};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LocalError {
    #[error("The model file could not be read: {0}")]
    Gguf(String),
    #[error("This model is not supported in the browser runtime: {0}")]
    Unsupported(String),
    #[error(transparent)]
    Tokenizer(#[from] TokenizerError),
    #[error(transparent)]
    Template(#[from] TemplateUnsupported),
    #[error("The model failed while running: {0}")]
    Runtime(String),
    #[error("The prompt is too long for this model: {needed} tokens, at most {limit}.")]
    ContextFull { needed: usize, limit: usize },
    #[error("No model is loaded.")]
    NotLoaded,
    #[error("Cancelled.")]
    Cancelled,
}

fn rt(e: candle_core::Error) -> LocalError {
    LocalError::Runtime(e.to_string())
}

/// Which forward pass runs the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// [`crate::fast::FastLlama`] when the file is covered (llama, Q4_0/Q4_1/Q8_0), else candle.
    #[default]
    Auto,
    /// Our own single-sequence forward pass with integer SIMD kernels.
    Fast,
    /// candle-transformers' quantized llama.
    Candle,
}

/// How to load a GGUF.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadOptions {
    #[serde(default)]
    pub backend: Backend,
    /// Requantize Q4_1 (and Q5_0/Q5_1) tensors to Q8_0 at load. candle has SIMD kernels (AVX,
    /// NEON, wasm simd128) for Q8_0 but only scalar code for Q4_1, which is several times slower.
    /// This changes the numbers slightly compared with running the Q4_1 file itself.
    /// Only the candle backend requantizes (the fast one has a Q4_1 kernel).
    pub requantize_to_q8_0: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            backend: Backend::Auto,
            requantize_to_q8_0: true,
        }
    }
}

impl LoadOptions {
    pub fn candle(requantize_to_q8_0: bool) -> Self {
        Self {
            backend: Backend::Candle,
            requantize_to_q8_0,
        }
    }
    pub fn fast() -> Self {
        Self {
            backend: Backend::Fast,
            requantize_to_q8_0: false,
        }
    }
}

enum Net {
    Candle(Box<ModelWeights>),
    Fast(Box<crate::fast::FastLlama>),
}

/// The exact next-token distribution after a prompt.
#[derive(Debug, Clone, PartialEq)]
pub struct NextToken {
    /// Natural-log probability of every vocabulary entry (softmax over all logits, in f64).
    pub logprobs: Vec<f64>,
}

impl NextToken {
    pub fn from_logits(logits: &[f32]) -> Self {
        let max = logits
            .iter()
            .fold(f64::NEG_INFINITY, |m, &x| m.max(f64::from(x)));
        let sum: f64 = logits.iter().map(|&x| libm::exp(f64::from(x) - max)).sum();
        let lse = max + libm::log(sum);
        Self {
            logprobs: logits.iter().map(|&x| f64::from(x) - lse).collect(),
        }
    }

    /// Token ids of the `n` most probable tokens, best first (ties by lower id).
    pub fn top_ids(&self, n: usize) -> Vec<u32> {
        let mut idx: Vec<u32> = (0..self.logprobs.len() as u32).collect();
        let key = |i: &u32| {
            self.logprobs
                .get(*i as usize)
                .copied()
                .unwrap_or(f64::NEG_INFINITY)
        };
        let n = n.min(idx.len());
        if n == 0 {
            return Vec::new();
        }
        idx.select_nth_unstable_by(n - 1, |a, b| key(b).total_cmp(&key(a)).then(a.cmp(b)));
        idx.truncate(n);
        idx.sort_by(|a, b| key(b).total_cmp(&key(a)).then(a.cmp(b)));
        idx
    }
}

/// The option letters of the reference mapping.
const LETTERS: [&str; 5] = ["A", "B", "C", "D", "E"];

pub struct LocalModel {
    net: Net,
    tokenizer: Tokenizer,
    template: ChatTemplate,
    eog: Vec<u32>,
    info: ModelInfo,
    device: Device,
    ctx_limit: usize,
    /// Token ids whose trimmed text is each option letter A–E.
    letter_ids: Vec<Vec<u32>>,
    /// The BOS token put before every chat prompt that does not start with it (llama.cpp's
    /// `add_bos`), `None` when the file does not ask for one.
    add_bos: Option<u32>,
    /// Every token's bytes, grouped by first byte (built on the first constrained request).
    by_first_byte: std::sync::OnceLock<Vec<Vec<(u32, Vec<u8>)>>>,
}

fn md_string(ct: &gguf_file::Content, key: &str) -> Option<String> {
    ct.metadata
        .get(key)
        .and_then(|v| v.to_string().ok())
        .cloned()
}

fn md_usize(ct: &gguf_file::Content, key: &str) -> Option<usize> {
    let v = ct.metadata.get(key)?;
    v.to_u32()
        .map(|x| x as usize)
        .or_else(|_| v.to_u64().map(|x| x as usize))
        .or_else(|_| v.to_i32().map(|x| x.max(0) as usize))
        .ok()
}

fn md_string_array(ct: &gguf_file::Content, key: &str) -> Result<Vec<String>, LocalError> {
    let v = ct
        .metadata
        .get(key)
        .ok_or_else(|| LocalError::Tokenizer(TokenizerError::Missing(format!("no {key}"))))?;
    let arr = v
        .to_vec()
        .map_err(|_| LocalError::Gguf(format!("{key} is not an array")))?;
    arr.iter()
        .map(|x| {
            x.to_string()
                .cloned()
                .map_err(|_| LocalError::Gguf(format!("{key} holds a non-string")))
        })
        .collect()
}

fn md_i32_array(ct: &gguf_file::Content, key: &str) -> Vec<i32> {
    let Some(Ok(arr)) = ct.metadata.get(key).map(|v| v.to_vec()) else {
        return Vec::new();
    };
    arr.iter()
        .map(|x| {
            x.to_i32()
                .or_else(|_| x.to_u32().map(|u| u as i32))
                .unwrap_or(0)
        })
        .collect()
}

/// The file's tokenizer: byte-level BPE (`gpt2`) or SentencePiece (`llama`); others are refused.
fn tokenizer_of(ct: &gguf_file::Content) -> Result<Tokenizer, LocalError> {
    let tok_model = md_string(ct, "tokenizer.ggml.model").unwrap_or_default();
    let tokens = md_string_array(ct, "tokenizer.ggml.tokens")?;
    let types = md_i32_array(ct, "tokenizer.ggml.token_type");
    match tok_model.as_str() {
        "gpt2" => {
            let pre = PreTokenizer::from_gguf_name(
                &md_string(ct, "tokenizer.ggml.pre").unwrap_or_else(|| "gpt2".into()),
            )?;
            let merges = md_string_array(ct, "tokenizer.ggml.merges")?;
            Ok(Tokenizer::new(tokens, &types, &merges, pre)?)
        }
        "llama" => {
            let Some(Ok(scores)) = ct.metadata.get("tokenizer.ggml.scores").map(|v| v.to_vec())
            else {
                return Err(LocalError::Tokenizer(TokenizerError::Missing(
                    "no tokenizer.ggml.scores (SentencePiece needs them)".into(),
                )));
            };
            let scores = scores
                .iter()
                .map(|x| x.to_f32())
                .collect::<Result<Vec<f32>, _>>()
                .map_err(|_| LocalError::Gguf("tokenizer.ggml.scores holds a non-f32".into()))?;
            let prefix = match ct.metadata.get("tokenizer.ggml.add_space_prefix") {
                None => true,
                Some(v) => v.to_bool().map_err(|_| {
                    LocalError::Gguf("tokenizer.ggml.add_space_prefix is not a bool".into())
                })?,
            };
            Ok(Tokenizer::new_spm(tokens, &types, scores, prefix)?)
        }
        other => Err(LocalError::Tokenizer(TokenizerError::Unsupported(format!(
            "tokenizer model '{other}' (implemented: byte-level BPE 'gpt2' and SentencePiece 'llama')"
        )))),
    }
}

/// The BOS token llama.cpp puts before a chat prompt: it renders the template, takes a leading
/// BOS text off, and tokenizes with BOS added when the vocabulary says so
/// (`tokenizer.ggml.add_bos_token`, else its default: SentencePiece and Llama 3's pre-tokenizer
/// add one). The result is one BOS first, whether or not the template writes `bos_token`.
fn bos_to_add(ct: &gguf_file::Content, vocab_size: usize) -> Result<Option<u32>, LocalError> {
    let model = md_string(ct, "tokenizer.ggml.model").unwrap_or_default();
    let pre = md_string(ct, "tokenizer.ggml.pre").unwrap_or_default();
    let default = model == "llama"
        || (model == "gpt2" && matches!(pre.as_str(), "llama-bpe" | "llama3" | "llama-v3"));
    let add = match ct.metadata.get("tokenizer.ggml.add_bos_token") {
        None => default,
        Some(v) => v
            .to_bool()
            .map_err(|_| LocalError::Gguf("tokenizer.ggml.add_bos_token is not a bool".into()))?,
    };
    Ok(md_usize(ct, "tokenizer.ggml.bos_token_id")
        .filter(|id| add && *id < vocab_size)
        .map(|id| id as u32))
}

/// Every tensor's size and place checked against the file before anything reads one: candle
/// multiplies a tensor's dimensions unchecked, so a crafted file could overflow there (found by
/// the `gguf` fuzz target; the input is in `fuzz/seeds/gguf/crash-*.gguf`).
fn check_tensors(ct: &gguf_file::Content, bytes: &[u8]) -> Result<(), LocalError> {
    for name in ct.tensor_infos.keys() {
        crate::fast::tensor_bytes(ct, bytes, name)?;
    }
    Ok(())
}

/// candle's quantized llama reader divides by the head counts, and allocates per declared layer,
/// expert and RoPE dimension before it compares any of them with the tensors: a stranger's file
/// could make it panic or ask for gigabytes. These checks come first (found by
/// `tests/fuzz_regressions.rs`).
fn check_candle_llama(ct: &gguf_file::Content) -> Result<(), LocalError> {
    let get = |k: &str| md_usize(ct, &format!("llama.{k}"));
    let bad = |what: String| Err(LocalError::Unsupported(what));
    let heads = get("attention.head_count");
    let kv_heads = get("attention.head_count_kv");
    let dim = get("embedding_length");
    if let Some(h) = heads {
        if h == 0 {
            return bad("a head count of 0".into());
        }
        if let Some(d) = dim {
            if d == 0 || d % h != 0 {
                return bad(format!("an embedding of {d} over {h} heads"));
            }
            if let Some(r) = get("rope.dimension_count") {
                if r > d / h || r % 2 != 0 {
                    return bad(format!("{r} rotary dimensions for heads of {}", d / h));
                }
            }
        }
        if let Some(kv) = kv_heads {
            if kv == 0 || h % kv != 0 {
                return bad(format!("{h} query heads over {kv} key/value heads"));
            }
        }
    }
    // Each expert has at least 3 tensors (the layer count is bounded for every backend in
    // `from_parts`).
    let tensors = ct.tensor_infos.len();
    let experts = get("expert_count").unwrap_or(0);
    if experts.saturating_mul(3) > tensors || get("expert_used_count").unwrap_or(0) > experts.max(1) {
        return bad(format!("{experts} experts in a file of {tensors} tensors"));
    }
    Ok(())
}

fn dtype_name(t: GgmlDType) -> String {
    format!("{t:?}")
}

/// Rewrite a GGUF with Q4_1/Q5_0/Q5_1 tensors requantized to Q8_0 (everything else, metadata
/// included, unchanged). Also used to produce the Q8_0 file llama.cpp is compared against.
pub fn requantize_gguf_to_q8_0(bytes: &[u8]) -> Result<Vec<u8>, LocalError> {
    let mut reader = Cursor::new(bytes);
    let ct = crate::gguf_header::read_content(&mut reader)?;
    check_tensors(&ct, bytes)?;
    let device = Device::Cpu;
    let mut names: Vec<(&String, u64)> =
        ct.tensor_infos.iter().map(|(n, i)| (n, i.offset)).collect();
    names.sort_by_key(|(_, off)| *off);
    let mut tensors: Vec<(String, QTensor)> = Vec::with_capacity(names.len());
    for (name, _) in names {
        let q = ct
            .tensor(&mut reader, name, &device)
            .map_err(|e| LocalError::Gguf(e.to_string()))?;
        let q = match q.dtype() {
            GgmlDType::Q4_1 | GgmlDType::Q5_0 | GgmlDType::Q5_1
                if q.shape().dims().last().is_some_and(|d| d % 32 == 0) =>
            {
                let f = q.dequantize(&device).map_err(rt)?;
                QTensor::quantize(&f, GgmlDType::Q8_0).map_err(rt)?
            }
            _ => q,
        };
        tensors.push((name.clone(), q));
    }
    let mut keys: Vec<&String> = ct.metadata.keys().collect();
    keys.sort();
    let mut metadata: Vec<(&str, &gguf_file::Value)> = Vec::with_capacity(keys.len());
    for k in keys {
        if k == "general.file_type" {
            continue; // no longer accurate
        }
        if let Some(v) = ct.metadata.get(k) {
            metadata.push((k.as_str(), v));
        }
    }
    let file_type = gguf_file::Value::U32(7); // LLAMA_FTYPE_MOSTLY_Q8_0
    metadata.push(("general.file_type", &file_type));
    let tensor_refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let mut out = Cursor::new(Vec::with_capacity(bytes.len() * 3 / 2));
    gguf_file::write(&mut out, &metadata, &tensor_refs).map_err(rt)?;
    Ok(out.into_inner())
}

impl LocalModel {
    /// Load a GGUF from memory (the browser path: bytes from a download or a picked file).
    pub fn from_gguf_bytes(bytes: &[u8], opts: LoadOptions) -> Result<Self, LocalError> {
        let mut reader = Cursor::new(bytes);
        let ct =
            crate::gguf_header::read_content(&mut reader)?;
        check_tensors(&ct, bytes)?;
        Self::from_parts(ct, crate::fast::Tensors::File(bytes), bytes.len(), Some(bytes), None, opts)
    }

    /// Build from a parsed header and its tensors. `whole` is the whole file when it is in memory
    /// (candle's backend reads from it); a streamed file ([`crate::stream::StreamLoader`]) has
    /// only its tensors, and runs on the fast backend.
    pub(crate) fn from_parts(
        ct: gguf_file::Content,
        tensors: crate::fast::Tensors,
        file_bytes: usize,
        whole: Option<&[u8]>,
        sha256: Option<String>,
        opts: LoadOptions,
    ) -> Result<Self, LocalError> {
        let arch = md_string(&ct, "general.architecture").unwrap_or_default();
        let kind = crate::arch::Arch::from_gguf(&arch)?;
        let tokenizer = tokenizer_of(&ct)?;
        let add_bos = bos_to_add(&ct, tokenizer.vocab_size())?;
        let special_text = |key: &str| {
            md_usize(&ct, key)
                .map(|id| tokenizer.token_text(id as u32))
                .unwrap_or_default()
        };
        let template = ChatTemplate::from_jinja(
            md_string(&ct, "tokenizer.chat_template").as_deref(),
            &special_text("tokenizer.ggml.bos_token_id"),
            &special_text("tokenizer.ggml.eos_token_id"),
        )?;

        let mut eog: Vec<u32> = Vec::new();
        if let Some(e) = md_usize(&ct, "tokenizer.ggml.eos_token_id") {
            eog.push(e as u32);
        }
        if let Some(e) = md_usize(&ct, "tokenizer.ggml.eot_token_id") {
            eog.push(e as u32);
        }
        for t in [
            "<|im_end|>",
            "<|endoftext|>",
            "<|eot_id|>",
            "<end_of_turn>",
            "<|end|>",
        ] {
            if let Some(id) = tokenizer.token_id(t) {
                if tokenizer.is_special(id) {
                    eog.push(id);
                }
            }
        }
        eog.sort_unstable();
        eog.dedup();

        let mut file_types: Vec<String> = ct
            .tensor_infos
            .values()
            .map(|i| dtype_name(i.ggml_dtype))
            .collect();
        file_types.sort();
        file_types.dedup();
        let needs_requant = ct.tensor_infos.values().any(|i| {
            matches!(
                i.ggml_dtype,
                GgmlDType::Q4_1 | GgmlDType::Q5_0 | GgmlDType::Q5_1
            )
        });
        let context_length = md_usize(&ct, &format!("{arch}.context_length")).unwrap_or(2048);
        let n_layers = md_usize(&ct, &format!("{arch}.block_count")).unwrap_or(0);
        // Each layer has at least 9 tensors: a larger count is a stranger's, not a reason for
        // either backend to reserve memory for it.
        if n_layers.saturating_mul(9) > ct.tensor_infos.len() {
            return Err(LocalError::Unsupported(format!(
                "{n_layers} layers in a file of {} tensors",
                ct.tensor_infos.len()
            )));
        }
        let ctx_limit = context_length.min(MAX_SEQ_LEN);
        // candle's quantized llama covers the llama architecture only, without Llama 3's RoPE
        // scaling (it would ignore the factors and compute something else).
        let candle_can = kind == crate::arch::Arch::Llama
            && !ct.tensor_infos.contains_key("rope_freqs.weight");
        let fast = match (opts.backend, whole) {
            (Backend::Candle, _) if !candle_can => {
                return Err(LocalError::Unsupported(format!(
                    "the candle backend runs llama models without Llama 3 RoPE scaling only, not this {arch} file"
                )))
            }
            (Backend::Candle, None) => {
                return Err(LocalError::Unsupported(
                    "the candle backend needs the whole file in memory, not a streamed one".into(),
                ))
            }
            (Backend::Candle, Some(_)) => None,
            (Backend::Auto, Some(_)) if candle_can => {
                crate::fast::FastLlama::new(&ct, tensors, ctx_limit).ok()
            }
            (Backend::Fast | Backend::Auto, _) => {
                Some(crate::fast::FastLlama::new(&ct, tensors, ctx_limit)?)
            }
        };
        let requantized = fast.is_none() && opts.requantize_to_q8_0 && needs_requant;
        let info = ModelInfo {
            name: md_string(&ct, "general.name").unwrap_or_else(|| "model".into()),
            architecture: arch,
            license: md_string(&ct, "general.license"),
            vocab_size: tokenizer.vocab_size(),
            context_length,
            n_layers,
            file_types,
            requantized,
            file_bytes,
            backend: if fast.is_some() {
                "fast".into()
            } else {
                "candle".into()
            },
            threads: if fast.is_some() {
                1 + crate::pool::helpers()
            } else {
                1
            },
            sha256,
        };
        let device = Device::Cpu;
        let net = if let Some(f) = fast {
            Net::Fast(Box::new(f))
        } else if let (true, Some(bytes)) = (requantized, whole) {
            let converted = requantize_gguf_to_q8_0(bytes)?;
            let mut r = Cursor::new(converted.as_slice());
            let ct2 =
                crate::gguf_header::read_content(&mut r)?;
            check_candle_llama(&ct2)?;
            Net::Candle(Box::new(
                ModelWeights::from_gguf(ct2, &mut r, &device)
                    .map_err(|e| LocalError::Gguf(e.to_string()))?,
            ))
        } else if let Some(bytes) = whole {
            check_candle_llama(&ct)?;
            Net::Candle(Box::new(
                ModelWeights::from_gguf(ct, &mut Cursor::new(bytes), &device)
                    .map_err(|e| LocalError::Gguf(e.to_string()))?,
            ))
        } else {
            return Err(LocalError::Unsupported("no backend can run this streamed file".into()));
        };
        // One pass over the vocabulary (each token's text is built once).
        let mut letter_ids: Vec<Vec<u32>> = vec![Vec::new(); LETTERS.len()];
        for id in 0..tokenizer.vocab_size() as u32 {
            let text = tokenizer.token_text(id);
            if let Some(ids) = LETTERS
                .iter()
                .position(|l| *l == text.trim())
                .and_then(|i| letter_ids.get_mut(i))
            {
                ids.push(id);
            }
        }
        Ok(Self {
            letter_ids,
            add_bos,
            net,
            tokenizer,
            template,
            eog,
            info,
            device,
            ctx_limit,
            by_first_byte: std::sync::OnceLock::new(),
        })
    }

    pub fn from_path(path: &std::path::Path, opts: LoadOptions) -> Result<Self, LocalError> {
        let bytes = std::fs::read(path)
            .map_err(|e| LocalError::Gguf(format!("{}: {e}", path.display())))?;
        Self::from_gguf_bytes(&bytes, opts)
    }

    /// Forget the cached positions, so the next prompt is computed whole (a prompt sharing a
    /// prefix with the previous one otherwise reuses it: benchmarks of prompt speed clear it).
    pub fn clear_cache(&mut self) {
        match &mut self.net {
            Net::Fast(f) => f.clear(),
            Net::Candle(w) => w.clear_kv_cache(),
        }
    }

    pub(crate) fn set_sha256(&mut self, sha256: Option<String>) {
        self.info.sha256 = sha256;
    }

    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// The chat prompt text (template applied, ending with the assistant header).
    pub fn prompt_text(&self, messages: &[Message]) -> Result<String, LocalError> {
        Ok(self.template.render(messages)?)
    }

    /// The chat prompt's tokens as llama.cpp's server makes them: the template rendered and
    /// tokenized (special tokens parsed), with one BOS first when the file asks for it.
    pub fn prompt_tokens(&self, messages: &[Message]) -> Result<Vec<u32>, LocalError> {
        let mut tokens = self.tokenizer.encode(&self.prompt_text(messages)?);
        if let Some(bos) = self.add_bos {
            if tokens.first() != Some(&bos) {
                tokens.insert(0, bos);
            }
        }
        Ok(tokens)
    }

    pub fn is_eog(&self, id: u32) -> bool {
        self.eog.contains(&id)
    }

    /// Run `tokens` starting at position `pos` (0 clears the cache) and return the logits after
    /// the last one.
    fn forward(&mut self, tokens: &[u32], pos: usize) -> Result<Vec<f32>, LocalError> {
        if tokens.is_empty() {
            return Err(LocalError::Runtime("empty input".into()));
        }
        if pos + tokens.len() > self.ctx_limit {
            return Err(LocalError::ContextFull {
                needed: pos + tokens.len(),
                limit: self.ctx_limit,
            });
        }
        let weights = match &mut self.net {
            Net::Fast(f) => return f.forward_from(tokens, pos),
            Net::Candle(w) => w,
        };
        if pos == 0 {
            weights.clear_kv_cache();
        }
        let input = Tensor::new(tokens, &self.device)
            .and_then(|t| t.unsqueeze(0))
            .map_err(rt)?;
        let logits = weights.forward(&input, pos).map_err(rt)?;
        logits
            .squeeze(0)
            .and_then(|l| l.to_dtype(candle_core::DType::F32))
            .and_then(|l| l.to_vec1::<f32>())
            .map_err(rt)
    }

    /// Forced decoding: feed `tokens` one at a time from an empty context and hand the logits
    /// after each (the prediction for the next position) to `each(position, logits)`.
    pub fn forced_logits(
        &mut self,
        tokens: &[u32],
        each: &mut dyn FnMut(usize, &[f32]),
    ) -> Result<(), LocalError> {
        for (i, t) in tokens.iter().enumerate() {
            let logits = self.forward(&[*t], i)?;
            each(i, &logits);
        }
        Ok(())
    }

    /// The exact next-token distribution after `tokens` (fresh context).
    pub fn next_token(&mut self, tokens: &[u32]) -> Result<NextToken, LocalError> {
        let logits = self.forward(tokens, 0)?;
        Ok(NextToken::from_logits(&logits))
    }

    /// Top-`n` (text, logprob) pairs of a distribution.
    pub fn top_logprobs(&self, dist: &NextToken, n: usize) -> Vec<TokenLogprob> {
        dist.top_ids(n)
            .into_iter()
            .map(|id| TokenLogprob {
                token: self.tokenizer.token_text(id),
                logprob: dist
                    .logprobs
                    .get(id as usize)
                    .copied()
                    .unwrap_or(f64::NEG_INFINITY),
            })
            .collect()
    }

    /// The reference letter mapping computed over the WHOLE vocabulary: for each option letter
    /// the probability of the most probable token whose trimmed text is that capital letter,
    /// renormalised over the options (uniform when none has any probability).
    pub fn letter_distribution(
        &self,
        dist: &NextToken,
        n_options: usize,
        top_n: usize,
    ) -> LetterDistribution {
        let n = n_options.max(1);
        let mut raw = self.letter_probs(dist);
        raw.resize(n, 0.0);
        let sum: f64 = raw.iter().sum();
        let probs = if sum > 0.0 && sum.is_finite() {
            raw.iter().map(|p| p / sum).collect()
        } else {
            vec![1.0 / n as f64; n]
        };
        LetterDistribution {
            probs,
            raw,
            top: self.top_logprobs(dist, top_n),
        }
    }

    /// For each letter A–E the probability of its most probable token (trimmed text = the
    /// letter) over the whole vocabulary.
    pub fn letter_probs(&self, dist: &NextToken) -> Vec<f64> {
        let mut raw = vec![0.0f64; LETTERS.len()];
        for (i, ids) in self.letter_ids.iter().enumerate() {
            let best = ids
                .iter()
                .filter_map(|id| dist.logprobs.get(*id as usize))
                .map(|lp| libm::exp(*lp))
                .fold(0.0f64, f64::max);
            if let Some(slot) = raw.get_mut(i) {
                *slot = best;
            }
        }
        raw
    }

    /// Start a chat job (all `n` samples of one request). Runs nothing yet.
    pub fn start_job(&mut self, req: &ChatRequest) -> Result<Job, LocalError> {
        let prompt = self.prompt_tokens(&req.messages)?;
        let limit = self.ctx_limit;
        if prompt.len() >= limit {
            return Err(LocalError::ContextFull {
                needed: prompt.len() + 1,
                limit,
            });
        }
        let max_tokens = req.max_tokens.max(1).min((limit - prompt.len()) as u32);
        Ok(Job {
            prompt,
            temperature: req.temperature,
            max_tokens,
            seed: req.seed.unwrap_or(0),
            top_n: req.top_logprobs.map(|n| usize::from(n.min(20))),
            n: req.n.unwrap_or(1).clamp(1, 16),
            sample: 0,
            current: None,
            texts: Vec::new(),
            first_top: None,
            first_letters: None,
            completion_tokens: 0,
            finish_reason: None,
            schema: req
                .json_schema
                .as_ref()
                .and_then(crate::constrain::Schema::compile),
            json: None,
        })
    }

    /// Run the prompt of the job's current sample if not done yet (so it can be timed apart
    /// from generation). `step` calls it when needed.
    pub fn prefill(&mut self, job: &mut Job) -> Result<(), LocalError> {
        if job.current.is_some() || job.sample >= job.n {
            return Ok(());
        }
        let logits = self.forward(&job.prompt, 0)?;
        let seed = job
            .seed
            .wrapping_add(u64::from(job.sample).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        job.current = Some(Current {
            logits,
            pos: job.prompt.len(),
            produced: 0,
            rng: Rng::new(seed),
            decoder: StreamDecoder::default(),
            text: String::new(),
        });
        Ok(())
    }

    /// Advance a job by one token. Returns the text that became available (possibly empty), for
    /// the sample being generated, or `Done`.
    pub fn step(&mut self, job: &mut Job) -> Result<Step, LocalError> {
        if job.sample >= job.n {
            return Ok(Step::Done);
        }
        let sample = job.sample;
        self.prefill(job)?;
        let Some(mut cur) = job.current.take() else {
            return Err(LocalError::Runtime("no prompt state".into()));
        };
        if sample == 0 && cur.produced == 0 {
            if let Some(n) = job.top_n {
                let dist = NextToken::from_logits(&cur.logits);
                job.first_top = Some(self.top_logprobs(&dist, n));
                job.first_letters = Some(self.letter_probs(&dist));
            }
        }
        let token = match &job.schema {
            None => sample_token(&cur.logits, job.temperature, &mut cur.rng),
            Some(schema) => {
                let state = job.json.get_or_insert_with(|| schema.start());
                let t = self.constrained_token(
                    schema,
                    state,
                    &cur.logits,
                    job.temperature,
                    &mut cur.rng,
                );
                if !self.is_eog(t) {
                    schema.advance(state, &self.tokenizer.token_bytes(t, false));
                }
                t
            }
        };
        if self.is_eog(token) {
            return Ok(self.end_sample(job, cur, "stop"));
        }
        cur.produced += 1;
        job.completion_tokens += 1;
        let piece = cur.decoder.push(&self.tokenizer.token_bytes(token, false));
        cur.text.push_str(&piece);
        if cur.produced >= job.max_tokens {
            let mut step = self.end_sample(job, cur, "length");
            if let Step::Finished { text, .. } = &mut step {
                *text = piece;
            }
            return Ok(step);
        }
        cur.logits = self.forward(&[token], cur.pos)?;
        cur.pos += 1;
        job.current = Some(cur);
        Ok(Step::Text {
            sample,
            text: piece,
        })
    }

    /// A token that keeps the reply a prefix of a document of `schema`: the sampled one if it
    /// does, else the best allowed (masking refused tokens and sampling again, then a scan in
    /// logit order); the end of text once the document is complete (or if nothing fits).
    fn constrained_token(
        &self,
        schema: &crate::constrain::Schema,
        state: &crate::constrain::JsonState,
        logits: &[f32],
        temperature: f64,
        rng: &mut Rng,
    ) -> u32 {
        let eog = self.eog.first().copied().unwrap_or(0);
        if state.is_done() {
            return eog;
        }
        let allowed = |id: u32| -> bool {
            if self.is_eog(id) {
                return false;
            }
            let bytes = self.tokenizer.token_bytes(id, false);
            !bytes.is_empty() && schema.accepts(state, &bytes)
        };
        let mut masked: Option<Vec<f32>> = None;
        for _ in 0..4 {
            let l = masked.as_deref().unwrap_or(logits);
            let t = sample_token(l, temperature, rng);
            if allowed(t) {
                return t;
            }
            let m = masked.get_or_insert_with(|| logits.to_vec());
            if let Some(x) = m.get_mut(t as usize) {
                *x = f32::NEG_INFINITY;
            }
        }
        // Only tokens whose first byte can come next; among them the highest logit that fits.
        let table = self.by_first_byte.get_or_init(|| {
            let mut t: Vec<Vec<(u32, Vec<u8>)>> = vec![Vec::new(); 256];
            for id in 0..self.tokenizer.vocab_size() as u32 {
                if self.is_eog(id) {
                    continue;
                }
                let bytes = self.tokenizer.token_bytes(id, false);
                if let Some(&b) = bytes.first() {
                    t[usize::from(b)].push((id, bytes));
                }
            }
            t
        });
        let mut best: Option<(f32, u32)> = None;
        for first in 0..=255u8 {
            if !schema.accepts(state, &[first]) {
                continue;
            }
            for (id, bytes) in &table[usize::from(first)] {
                let l = logits
                    .get(*id as usize)
                    .copied()
                    .unwrap_or(f32::NEG_INFINITY);
                if best.is_some_and(|(b, _)| l <= b) {
                    continue;
                }
                if schema.accepts(state, bytes) {
                    best = Some((l, *id));
                }
            }
        }
        best.map(|(_, id)| id).unwrap_or(eog)
    }

    fn end_sample(&mut self, job: &mut Job, mut cur: Current, reason: &str) -> Step {
        let tail = cur.decoder.finish();
        cur.text.push_str(&tail);
        let sample = job.sample;
        job.json = None;
        job.texts.push(cur.text);
        if sample == 0 {
            job.finish_reason = Some(reason.to_string());
        }
        job.sample += 1;
        Step::Finished { sample, text: tail }
    }

    /// Run a whole job; `on_delta` sees the first sample's text as it is produced and may return
    /// `false` to cancel.
    pub fn run(
        &mut self,
        req: &ChatRequest,
        on_delta: &mut dyn FnMut(&str) -> bool,
    ) -> Result<ChatResponse, LocalError> {
        let mut job = self.start_job(req)?;
        loop {
            match self.step(&mut job)? {
                Step::Done => break,
                Step::Text { sample, text } | Step::Finished { sample, text } => {
                    if sample == 0 && !text.is_empty() && !on_delta(&text) {
                        return Err(LocalError::Cancelled);
                    }
                }
            }
        }
        Ok(job.into_response())
    }
}

/// One step of a job.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// A piece of text of sample `sample` (may be empty while a character is incomplete).
    Text { sample: u32, text: String },
    /// Sample `sample` ended; `text` is its last piece.
    Finished { sample: u32, text: String },
    /// All samples are done.
    Done,
}

struct Current {
    logits: Vec<f32>,
    pos: usize,
    produced: u32,
    rng: Rng,
    decoder: StreamDecoder,
    text: String,
}

/// One chat request in progress (all of its samples).
pub struct Job {
    prompt: Vec<u32>,
    temperature: f64,
    max_tokens: u32,
    seed: u64,
    top_n: Option<usize>,
    n: u32,
    sample: u32,
    current: Option<Current>,
    texts: Vec<String>,
    first_top: Option<Vec<TokenLogprob>>,
    /// [`LocalModel::letter_probs`] at the same position.
    first_letters: Option<Vec<f64>>,
    completion_tokens: u32,
    finish_reason: Option<String>,
    /// The reply must follow this JSON schema (`json_schema` of the request, when in the
    /// supported subset), and where the current sample is in it.
    schema: Option<crate::constrain::Schema>,
    json: Option<crate::constrain::JsonState>,
}

impl Job {
    pub fn prompt_tokens(&self) -> usize {
        self.prompt.len()
    }

    pub fn completion_tokens(&self) -> u32 {
        self.completion_tokens
    }

    pub fn into_response(self) -> ChatResponse {
        let mut texts = self.texts.into_iter();
        let text = texts.next().unwrap_or_default();
        ChatResponse {
            text,
            more_texts: texts.collect(),
            first_token_top_logprobs: self.first_top,
            first_token_letter_probs: self.first_letters,
            usage: Some(Usage {
                prompt_tokens: u32::try_from(self.prompt.len()).unwrap_or(u32::MAX),
                completion_tokens: self.completion_tokens,
            }),
            finish_reason: self.finish_reason,
            sent: None,
        }
    }
}

/// SplitMix64: small, seedable, identical natively and in wasm.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed)
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0usize;
    let mut best_v = f32::NEG_INFINITY;
    for (i, &v) in logits.iter().enumerate() {
        if v > best_v {
            best_v = v;
            best = i;
        }
    }
    best as u32
}

/// Greedy at temperature ≤ 0, else a draw from softmax(logits / temperature).
fn sample_token(logits: &[f32], temperature: f64, rng: &mut Rng) -> u32 {
    if temperature.is_nan() || temperature <= 1e-6 || !temperature.is_finite() {
        return argmax(logits);
    }
    let max = logits
        .iter()
        .fold(f64::NEG_INFINITY, |m, &x| m.max(f64::from(x)));
    let weights: Vec<f64> = logits
        .iter()
        .map(|&x| libm::exp((f64::from(x) - max) / temperature))
        .collect();
    let total: f64 = weights.iter().sum();
    if total.is_nan() || total <= 0.0 || !total.is_finite() {
        return argmax(logits);
    }
    let mut r = rng.next_f64() * total;
    for (i, w) in weights.iter().enumerate() {
        r -= w;
        if r < 0.0 {
            return i as u32;
        }
    }
    argmax(logits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_is_normalised_and_ordered() {
        let d = NextToken::from_logits(&[1.0, 3.0, 2.0, -1.0]);
        let s: f64 = d.logprobs.iter().map(|l| l.exp()).sum();
        assert!((s - 1.0).abs() < 1e-12);
        assert_eq!(d.top_ids(3), vec![1, 2, 0]);
        assert_eq!(d.top_ids(10).len(), 4);
    }

    #[test]
    fn greedy_and_seeded_sampling() {
        let logits = [0.0f32, 5.0, 1.0];
        let mut r = Rng::new(1);
        assert_eq!(sample_token(&logits, 0.0, &mut r), 1);
        let draws = |seed| {
            let mut r = Rng::new(seed);
            (0..50)
                .map(|_| sample_token(&logits, 5.0, &mut r))
                .collect::<Vec<_>>()
        };
        assert_eq!(draws(7), draws(7));
        assert_ne!(draws(7), draws(8));
        assert!(
            draws(7).iter().any(|t| *t != 1),
            "high temperature must sometimes leave the argmax"
        );
    }
}

#[cfg(test)]
mod load_tests {
    use super::*;

    #[test]
    fn garbage_and_truncated_files_are_errors_not_panics() {
        assert!(LocalModel::from_gguf_bytes(&[], LoadOptions::default()).is_err());
        assert!(LocalModel::from_gguf_bytes(
            b"GGUF\x03\x00\x00\x00garbage",
            LoadOptions::default()
        )
        .is_err());
        let path = std::env::var("ETHOS_LLM_GGUF")
            .unwrap_or_else(|_| "/work/cache/SmolLM2-135M-Instruct.Q4_1.gguf".into());
        if let Ok(bytes) = std::fs::read(path) {
            for cut in [16, 1000, 2_000_000, bytes.len() / 2] {
                let r = LocalModel::from_gguf_bytes(
                    bytes.get(..cut).unwrap_or(&[]),
                    LoadOptions::default(),
                );
                assert!(r.is_err(), "a file cut at {cut} bytes must be refused");
            }
        }
    }
}
