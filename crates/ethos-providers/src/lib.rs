//! LLM providers: wire protocols as pure request builders and response/stream parsers
//! (tested on recorded bytes), presets, capability probing, retry policy, and transports
//! (browser: fetch + ReadableStream + AbortController; native: reqwest, behind `native`).

pub mod http;
