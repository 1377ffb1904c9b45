//! The browser fault matrix: every fault of `fault_matrix::net` (the wire) and
//! `fault_matrix::data` (content and state) driven through the real app in one headless
//! Chromium session. Each case must end with a plain message on screen (or a finished run where
//! the app recovers by itself), what finished kept, the app usable afterwards, no wasm panic, no
//! Content-Security-Policy violation and no markup from outside data turned into elements. The
//! output counts the cases: `fault case N/M: <name>: ok`, then `fault matrix: M cases passed`.
mod fault_matrix;
mod support;

use fault_matrix::Matrix;
use support::enabled;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fault_matrix() {
    if !enabled() {
        return;
    }
    let m = Matrix::start().await;
    let mut cases = fault_matrix::net::cases();
    cases.extend(fault_matrix::data::cases());
    // ETHOS_FAULT_CASES=word,word runs only the cases whose names contain one of the words.
    if let Ok(only) = std::env::var("ETHOS_FAULT_CASES") {
        let words: Vec<&str> = only.split(',').map(str::trim).filter(|w| !w.is_empty()).collect();
        cases.retain(|c| words.iter().any(|w| c.name.contains(w)));
    }
    m.run_all(cases).await;
    if let Ok(m) = std::sync::Arc::try_unwrap(m) {
        m.b.close().await;
    }
}
