//! Test tools for the EthosAgents providers and engine.
//!
//! [`FaultServer`] is a small HTTP/1.1 server speaking both LLM protocols (OpenAI-compatible
//! `/v1/chat/completions` + `/v1/models`, Anthropic `/v1/messages`), with CORS, that answers each
//! request with a chosen [`Fault`] and counts what it answered, so tests can assert retry counts
//! and error messages without timing anything.
//!
//! Choosing the fault, first match wins:
//! 1. the scripted queue (`FaultServer::script`, or `POST /_control/script` with `["503","ok"]`):
//!    successive API requests take the next fault;
//! 2. a model name `fault:SPEC` where SPEC is a comma list (`fault:503,503,ok`): the n-th request
//!    with that model name gets the n-th fault, the last one repeating;
//! 3. otherwise `ok` (or `latency=MS` when a latency is configured).
//!
//! [`LatencyServer`] (module [`latency`]) answers every call after a fixed latency over HTTP/2 +
//! TLS and plain HTTP/1.1, and records per-call timings: the performance harness's server.
//!
//! The fault server also speaks OpenAI's Batch API and Anthropic's Message Batches (module
//! [`batches`]), answering each request line as it would a live call.
//!
//! Control endpoints (also CORS-enabled): `GET /_control/stats`, `POST /_control/script`,
//! `POST /_control/reset`, `GET|POST /_control/config`, `GET /_control/faults`.

pub mod batches;
pub mod cli;
pub mod fault;
pub mod http;
pub mod latency;
pub mod reply;
pub mod server;

pub use batches::{BatchControl, BatchStats};
pub use fault::{Fault, FaultParseError, MODEL_PREFIX};
pub use latency::{CallTiming, LatencyConfig, LatencyServer, LatencyStats};
pub use reply::{ChatCall, OkReply, Protocol};
pub use server::{Config, FaultRule, FaultServer, RequestLog, Responder, Stats};
