//! A chat model that runs in-process: natively (tests, benchmarks) or inside a browser Web
//! Worker (the "In this browser" provider). candle's quantized llama over a GGUF, with the
//! GGUF's own byte-level BPE tokenizer and ChatML template, streaming generation and the exact
//! full-vocabulary next-token distribution.
//!
//! Features: `runtime` (default) is the model itself; `worker` adds the wasm-bindgen entry used
//! by `js/worker.js`; `proxy` adds the main-thread [`proxy::WorkerModel`] (no candle: the app
//! shell stays small, the runtime is fetched lazily by the worker).

// The threaded worker build (nightly features through RUSTC_BOOTSTRAP, see build-worker.sh)
// blocks helper threads with memory.atomic.wait32.
#![cfg_attr(
    all(target_arch = "wasm32", target_feature = "atomics"),
    feature(stdarch_wasm_atomic_wait)
)]

pub mod constrain;
#[cfg(feature = "runtime")]
pub mod template;
pub mod tokenizer;
pub mod spm;

#[cfg(feature = "runtime")]
pub mod arch;
#[cfg(feature = "runtime")]
mod chat;
#[cfg(feature = "runtime")]
pub mod fast;
#[cfg(feature = "runtime")]
pub mod gguf_header;
#[cfg(feature = "runtime")]
pub mod pool;
#[cfg(all(feature = "kernels", target_arch = "wasm32", target_feature = "simd128"))]
mod kquant_simd;
#[cfg(feature = "kernels")]
pub mod quants;
#[cfg(feature = "runtime")]
pub mod runtime;
#[cfg(feature = "runtime")]
pub mod stream;
#[cfg(feature = "runtime")]
pub use chat::LocalChat;
#[cfg(feature = "runtime")]
pub use protocol::{LetterDistribution, ModelInfo};
#[cfg(feature = "runtime")]
pub use runtime::{Backend, LoadOptions, LocalError, LocalModel, NextToken};

#[cfg(all(feature = "worker", target_arch = "wasm32"))]
mod worker;

#[cfg(all(feature = "proxy", target_arch = "wasm32"))]
pub mod proxy;

/// The wire format between the main thread and the worker (shared by both sides).
pub mod protocol;
