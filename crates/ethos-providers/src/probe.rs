//! Connection test and capability probe.
//!
//! - [`test_connection`]: lists the endpoint's models; a failure comes back as a plain-language
//!   message (network failures with the CORS / server-down / mixed-content / permission
//!   diagnosis for the preset).
//! - [`probe_capabilities`]: one tiny chat call asking for `top_logprobs` and (OpenAI protocol)
//!   `n = 2`, to learn whether log-probabilities come back, are silently dropped, or are
//!   rejected with a 400, and whether `n` is honoured. Results land in the client's capability
//!   cache, keyed by (base URL, model), and later calls adapt (see [`crate::client`]). On the
//!   OpenAI protocol one more one-token call learns whether raw completion (`/completions`, the
//!   reference's read) is served with log-probabilities ([`probe_raw_completion`]).

use crate::client::{Capabilities, Capability, Client};
use crate::errors::diagnose_network_error;
use crate::transport::Transport;
use crate::Protocol;
use ethos_engine::{ChatError, ChatModel, ChatRequest, Message, TokenLogprob};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectionReport {
    /// The server answered (even if with an error status).
    pub reachable: bool,
    /// The key was accepted and the model list was read.
    pub ok: bool,
    pub models: Vec<String>,
    /// One plain-language sentence or paragraph for the UI.
    pub message: String,
}

/// List models to check URL, CORS and key. `page_origin` is the app's origin (e.g.
/// `window.location.origin`), used by the network-error diagnosis.
pub async fn test_connection<T: Transport>(
    client: &Client<T>,
    page_origin: &str,
) -> ConnectionReport {
    match client.list_models().await {
        Ok(models) => {
            let message = if models.is_empty() {
                "Connected, but the server lists no models: type the model name.".to_string()
            } else {
                format!("Connected: {} model(s) available.", models.len())
            };
            ConnectionReport {
                reachable: true,
                ok: true,
                models,
                message,
            }
        }
        Err(e) => {
            let reachable = !matches!(
                e,
                ChatError::Network(_) | ChatError::Timeout(_) | ChatError::Cancelled
            );
            let message = match &e {
                ChatError::Network(m) if m.starts_with("Could not reach") => m.clone(),
                ChatError::Network(_) => diagnose_network_error(client.endpoint(), page_origin),
                ChatError::NotFound(_) => format!(
                    "The server answered but has no model list at this address ({e}). If chat calls work, type the model name; otherwise check that the base URL ends where the API starts (often /v1)."
                ),
                other => other.to_string(),
            };
            ConnectionReport {
                reachable,
                ok: false,
                models: Vec::new(),
                message,
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeReport {
    pub model: String,
    pub capabilities: Capabilities,
    /// The probe reply's text (shows the model works).
    pub sample: String,
    /// The first token's top log-probabilities, if they came back.
    pub first_token_top_logprobs: Option<Vec<TokenLogprob>>,
    /// Plain-language summary for the UI.
    pub summary: String,
}

/// The request the probe sends.
pub fn probe_request(model: &str, protocol: Protocol, with_n: bool) -> ChatRequest {
    let mut req = ChatRequest::new(
        model,
        vec![Message::user(
            "Is honesty important? Answer with one word, yes or no.",
        )],
        0.7,
        5,
    );
    req.top_logprobs = Some(5);
    if with_n && protocol == Protocol::OpenAi {
        req.n = Some(2);
    }
    req
}

/// Probe `model` at the client's endpoint (one or two small calls; a 400 on logprobs is handled
/// by the client's drop-and-retry). Errors that are not about a capability (bad key, unknown
/// model, network) are returned.
pub async fn probe_capabilities<T: Transport>(
    client: &Client<T>,
    model: &str,
) -> Result<ProbeReport, ChatError> {
    let protocol = client.endpoint().protocol;
    let mut first = client
        .chat(&probe_request(model, protocol, true), &mut |_| {})
        .await;
    if protocol == Protocol::OpenAi {
        if let Err(ChatError::Unsupported(_) | ChatError::BadRequest { .. }) = &first {
            // Most likely `n`; try once more without it.
            let second = client
                .chat(&probe_request(model, protocol, false), &mut |_| {})
                .await;
            if second.is_ok() {
                let mut caps = client.capabilities(model);
                if caps.n != Capability::Yes {
                    caps.n = Capability::Rejected;
                }
                client.set_capabilities(model, caps);
            }
            first = second;
        }
    } else {
        let mut caps = client.capabilities(model);
        caps.n = Capability::Rejected;
        caps.logprobs = Capability::No;
        client.set_capabilities(model, caps);
    }
    let resp = first?;
    if protocol == Protocol::OpenAi {
        probe_raw_completion(client, model).await;
    }
    let caps = client.capabilities(model);
    let summary = summarize(&caps);
    Ok(ProbeReport {
        model: model.to_string(),
        capabilities: caps,
        sample: resp.text,
        first_token_top_logprobs: resp.first_token_top_logprobs,
        summary,
    })
}

/// The request the raw-completion probe sends: a plain prompt ending in "Answer:", one token,
/// with the top log-probabilities of that token.
pub fn raw_probe_request(model: &str) -> ChatRequest {
    let mut req = ChatRequest::new(
        model,
        vec![Message::user(
            "Question: Is honesty important?\nOptions: A. Yes B. No\nAnswer:",
        )],
        0.0,
        1,
    );
    req.top_logprobs = Some(5);
    req.raw = true;
    req
}

/// Whether the endpoint serves raw completions (`/completions`) with first-token
/// log-probabilities: one one-token call. The answer lands in the capability cache
/// (`raw_completion`); a reply that is not a usable completion counts as not served, while a
/// bad key or an unreachable server leaves it unknown.
pub async fn probe_raw_completion<T: Transport>(client: &Client<T>, model: &str) -> Capability {
    match client.chat(&raw_probe_request(model), &mut |_| {}).await {
        Ok(_) => {}
        Err(
            ChatError::BadKey
            | ChatError::Network(_)
            | ChatError::Timeout(_)
            | ChatError::Cancelled
            | ChatError::RateLimited { .. },
        ) => {}
        Err(_) => {
            let mut caps = client.capabilities(model);
            caps.raw_completion = Capability::Rejected;
            client.set_capabilities(model, caps);
        }
    }
    client.capabilities(model).raw_completion
}

fn summarize(c: &Capabilities) -> String {
    let lp = match c.logprobs {
        Capability::Yes => "returns token log-probabilities (distributions can be read from them)",
        Capability::No => "accepts but does not return log-probabilities (distributions will be verbalised or sampled)",
        Capability::Rejected => "does not support log-probabilities (distributions will be verbalised or sampled)",
        Capability::Unknown => "log-probability support unknown",
    };
    let n = match c.n {
        Capability::Yes => "honours n > 1 (several samples per call)",
        Capability::No => "ignores n > 1 (samples need separate calls)",
        Capability::Rejected => "refuses n > 1 (samples need separate calls)",
        Capability::Unknown => "n > 1 support unknown",
    };
    let raw = match c.raw_completion {
        Capability::Yes => " Raw completion (a plain prompt, the reference's read) is served with log-probabilities.",
        Capability::No => " Raw completion is served, without log-probabilities.",
        Capability::Rejected => " Raw completion (a plain prompt without the chat template) is not served.",
        Capability::Unknown => "",
    };
    format!("This model {lp}; it {n}.{raw}")
}
