//! What the benchmark-mode benches (`batch.rs`, `batch_scale.rs`) share: their settings from
//! the environment, deterministic replies, waiting for a batch state, and counting the finished
//! calls a resumed batch made again.

use super::support::Browser;
use ethos_testkit::latency::{ethos_reply, CallTiming};
use std::collections::HashMap;
use std::time::Duration;

/// A number from the environment, or `default`.
pub fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Stage-aware replies without the call number, so that two runs send the same requests.
pub fn deterministic(call: &ethos_testkit::ChatCall) -> ethos_testkit::OkReply {
    let mut r = ethos_reply(call);
    for t in &mut r.texts {
        *t = t.replace("[call {seq}] ", "");
    }
    r
}

/// Wait until the batch's state (`#bench-counts[data-state]`) is `state`.
pub async fn wait_state(b: &Browser, state: &str, timeout: Duration) {
    b.wait_js(
        &format!("(document.querySelector('#bench-counts') || {{dataset: {{}}}}).dataset.state === '{state}'"),
        timeout,
        &format!("the batch to be {state}"),
    )
    .await;
}

/// Of the calls of a run reloaded at `reload_ms` and resumed (`calls`), how many repeat a call
/// that had finished before the reload, and how many were cut off by it; `straight` counts each
/// prompt's calls in a straight run of the same batch (replies are deterministic, so both runs
/// send the same multiset of requests).
///
/// Per prompt: finished at the server before the reload (F), made after it (A); a finished call
/// made again shows as A > straight − F. "Finished" is the server's view (last byte sent): a reply
/// whose last byte left in the final `margin_ms` before the reload counts as cut off, since it may
/// not have reached the page's storage.
pub fn repeated_calls(
    calls: &[CallTiming],
    straight: &HashMap<String, u64>,
    reload_ms: f64,
    margin_ms: f64,
) -> (u64, usize) {
    let mut finished: HashMap<&str, u64> = HashMap::new();
    let mut after: HashMap<&str, u64> = HashMap::new();
    let mut cut = 0;
    for t in calls {
        match t.last_byte_ms {
            // Never answered in full: cut off by the reload (also requests the old page sent
            // while the reload was under way).
            None => cut += 1,
            Some(_) if t.received_ms >= reload_ms => *after.entry(&t.prompt_hash).or_default() += 1,
            Some(e) if e < reload_ms - margin_ms => {
                *finished.entry(&t.prompt_hash).or_default() += 1
            }
            Some(_) => cut += 1,
        }
    }
    let repeated = after
        .iter()
        .map(|(h, a)| {
            let left = straight
                .get(*h)
                .copied()
                .unwrap_or(0)
                .saturating_sub(finished.get(h).copied().unwrap_or(0));
            a.saturating_sub(left)
        })
        .sum();
    (repeated, cut)
}
