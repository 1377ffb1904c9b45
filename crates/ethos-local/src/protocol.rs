//! Messages between the main thread ([`crate::proxy`]) and the model worker (`js/worker.js` +
//! `worker.rs`). Every message is one JSON string; a load from a user-picked file is posted as
//! `{ json, file }` with the `File` object beside the JSON.

use ethos_engine::chat::{ChatError, ChatRequest, ChatResponse, TokenLogprob};
use serde::{Deserialize, Serialize};

/// What was loaded, for the UI and the run record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    pub name: String,
    pub architecture: String,
    pub license: Option<String>,
    pub vocab_size: usize,
    pub context_length: usize,
    pub n_layers: usize,
    /// Tensor types in the file, e.g. `["F32", "Q4_1", "Q8_0"]`.
    pub file_types: Vec<String>,
    /// Whether tensors were requantized to Q8_0 at load.
    pub requantized: bool,
    pub file_bytes: usize,
    /// "fast" (own kernels) or "candle".
    pub backend: String,
    /// Threads doing the matrix products (1 unless the threaded build runs with helpers).
    #[serde(default = "one")]
    pub threads: usize,
    /// SHA-256 of the file (hex), when it was computed: a streamed load computes it on the way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

fn one() -> usize {
    1
}

/// The option-letter distribution read from the full next-token distribution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LetterDistribution {
    /// Renormalised over the options (uniform if no letter token had any probability).
    pub probs: Vec<f64>,
    /// The unnormalised probability of each letter (its most probable token over the vocabulary).
    pub raw: Vec<f64>,
    /// The most probable tokens (text, logprob), best first.
    pub top: Vec<TokenLogprob>,
}

/// Wall-clock figures of one call, measured in the worker.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Timings {
    pub prompt_tokens: u32,
    pub prompt_ms: f64,
    pub generated_tokens: u32,
    pub generation_ms: f64,
}

impl Timings {
    pub fn prompt_tokens_per_s(&self) -> f64 {
        if self.prompt_ms > 0.0 {
            f64::from(self.prompt_tokens) * 1000.0 / self.prompt_ms
        } else {
            0.0
        }
    }
    pub fn generation_tokens_per_s(&self) -> f64 {
        if self.generation_ms > 0.0 {
            f64::from(self.generated_tokens) * 1000.0 / self.generation_ms
        } else {
            0.0
        }
    }
}

/// A model kept in this browser (the origin-private file system, or Cache Storage).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CachedModel {
    /// The URL it was downloaded from, or `file:NAME` for a picked file.
    pub key: String,
    /// Bytes kept (of a partial download: the bytes that arrived, which a new load resumes from).
    pub bytes: u64,
    /// Whether the whole file is kept (false: an interrupted download).
    #[serde(default = "yes")]
    pub complete: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToWorker {
    /// Load a GGUF: from `url` (Cache Storage first, then the network), or from the `File` posted
    /// beside this message (`file_name` set). `cache` keeps the bytes in Cache Storage.
    /// `backend`: "auto" (default), "fast" or "candle".
    Load {
        id: u32,
        url: Option<String>,
        file_name: Option<String>,
        cache: bool,
        requantize: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        backend: Option<String>,
        /// The file's expected SHA-256 (hex): a file whose hash differs is refused and not kept.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sha256: Option<String>,
    },
    Generate {
        id: u32,
        request: ChatRequest,
        /// Compute the whole prompt, not only what differs from the previous prompt (for
        /// measuring prompt speed).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        fresh: bool,
    },
    /// The exact letter distribution at the answer position of `request`'s prompt.
    Distribution {
        id: u32,
        request: ChatRequest,
        n_options: usize,
        top_n: usize,
    },
    /// Stop call `id` (a generation stops between two tokens).
    Cancel {
        id: u32,
    },
    ListCached {
        id: u32,
    },
    DeleteCached {
        id: u32,
        key: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FromWorker {
    /// The worker's wasm is initialised and it accepts messages; which build it loaded.
    Ready {
        #[serde(default)]
        relaxed_simd: bool,
    },
    /// `phase`: "download", "cache" (read from Cache Storage), "file", "load" (building the model).
    Progress {
        id: u32,
        phase: String,
        loaded: u64,
        total: Option<u64>,
    },
    Loaded {
        id: u32,
        info: ModelInfo,
        from_cache: bool,
        /// What the user should know about keeping the file (not kept: no room; resumed from
        /// a partial download…).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    Delta {
        id: u32,
        text: String,
    },
    Done {
        id: u32,
        response: ChatResponse,
        timings: Timings,
    },
    Dist {
        id: u32,
        dist: LetterDistribution,
        timings: Timings,
    },
    Cached {
        id: u32,
        entries: Vec<CachedModel>,
    },
    Deleted {
        id: u32,
        deleted: bool,
    },
    Error {
        id: Option<u32>,
        error: ChatError,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_as_tagged_json() {
        let m = ToWorker::Cancel { id: 3 };
        let s = serde_json::to_string(&m).expect("json");
        assert_eq!(s, r#"{"type":"cancel","id":3}"#);
        let r: FromWorker =
            serde_json::from_str(r#"{"type":"ready","relaxed_simd":true}"#).expect("ready");
        assert_eq!(r, FromWorker::Ready { relaxed_simd: true });
        let e: FromWorker =
            serde_json::from_str(r#"{"type":"error","id":1,"error":{"kind":"cancelled"}}"#)
                .expect("parse");
        assert_eq!(
            e,
            FromWorker::Error {
                id: Some(1),
                error: ChatError::Cancelled
            }
        );
        let t = Timings {
            prompt_tokens: 10,
            prompt_ms: 500.0,
            generated_tokens: 4,
            generation_ms: 200.0,
        };
        assert!(
            (t.prompt_tokens_per_s() - 20.0).abs() < 1e-9
                && (t.generation_tokens_per_s() - 20.0).abs() < 1e-9
        );
    }
}
