//! Batch throughput of benchmark mode, through the release app in headless Chromium against the
//! latency server over HTTP/2 + TLS (how cloud providers are reached):
//!
//! 1. a straight run of N GlobalOpinionQA items × EthosAgents with concurrency C: busy-slot share
//!    (server side: Σ call durations / (C × span of the calls); and the app's own figure), wall
//!    time against the ideal (calls × L / C);
//! 2. the same batch again, reloaded mid-run and resumed: calls made again that had finished
//!    before the reload, counted by the server from the prompt hashes of the two runs (replies are
//!    deterministic, so both runs send the same multiset of requests).
//!
//! `cargo bench -p ethos-e2e --bench batch` (bench/run.sh runs it). Environment: `ETHOS_BATCH_N`
//! (100), `ETHOS_BATCH_C` (16), `ETHOS_BATCH_K` (6), `ETHOS_BATCH_L_MS` (250).

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
#[path = "../tests/support/mod.rs"]
mod support;

#[cfg(not(target_arch = "wasm32"))]
mod batch_common;

#[cfg(not(target_arch = "wasm32"))]
#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    native::main().await
}

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use super::batch_common::*;
    use super::support::*;
    use ethos_testkit::latency::CallTiming;
    use ethos_testkit::LatencyServer;
    use serde_json::json;
    use std::collections::HashMap;
    use std::time::Duration;

    async fn set_up(b: &Browser, n: u64, k: u64, c: u64) {
        b.type_into("#k", &k.to_string()).await;
        b.type_into("#concurrency", &c.to_string()).await;
        b.click("#view-bench").await;
        let file = b.wait_for("#bench-file", Duration::from_secs(10)).await;
        file.select_by_value(GLOBALOPINION)
            .await
            .expect("choose the file");
        b.type_into("#bench-n", &n.to_string()).await;
        b.click("#bench-method-vanilla").await;
        b.click("#bench-method-prompting").await;
        b.type_into("#bench-in-flight", &c.to_string()).await;
        b.click("#bench-create").await;
        b.wait_for("#bench-summary", Duration::from_secs(30)).await;
    }

    /// Σ call durations / (C × (last end − first arrival)).
    fn busy_share(calls: &[CallTiming], c: u64) -> (f64, f64) {
        let start = calls
            .iter()
            .map(|t| t.received_ms)
            .fold(f64::INFINITY, f64::min);
        let end = calls
            .iter()
            .filter_map(|t| t.last_byte_ms)
            .fold(0.0, f64::max);
        let busy: f64 = calls
            .iter()
            .filter_map(|t| t.last_byte_ms.map(|e| e - t.received_ms))
            .sum();
        let span = (end - start).max(1.0);
        (busy / (c as f64 * span), span)
    }

    pub async fn main() {
        let n = env_num("ETHOS_BATCH_N", 100);
        let c = env_num("ETHOS_BATCH_C", 16);
        let k = env_num("ETHOS_BATCH_K", 6);
        let l = env_num("ETHOS_BATCH_L_MS", 250);
        let latency = LatencyServer::start(l).expect("latency server");
        latency.set_responder(deterministic);
        std::env::set_var(
            "ETHOS_CHROMIUM_ARGS",
            format!(
                "--ignore-certificate-errors-spki-list={}",
                latency.spki_sha256_base64()
            ),
        );
        let app = StaticServer::start(&dist()).await;
        let cfg = json!({"preset": "llamacpp", "base_url": latency.https_base_url(), "model": "latency-model", "concurrency": c, "structured_perspectives": false});
        app.set_file("ethos-config.json", "application/json", cfg.to_string());
        let timeout = Duration::from_secs(900);

        // 1. Straight through.
        let b = Browser::start().await;
        b.open(&app.url()).await;
        set_up(&b, n, k, c).await;
        latency.reset();
        b.click("#bench-start").await;
        wait_state(&b, "done", timeout).await;
        let done = b.bench_counts().await;
        let app_share: f64 = b
            .js("Number(document.querySelector('#bench-busy').dataset.share)")
            .await
            .as_f64()
            .unwrap_or(f64::NAN);
        let straight = latency.stats();
        let calls = straight.calls_log.clone();
        let (server_share, span) = busy_share(&calls, c);
        let ideal = calls.len() as f64 * l as f64 / c as f64;
        let mut m0: HashMap<String, u64> = HashMap::new();
        for t in &calls {
            *m0.entry(t.prompt_hash.clone()).or_default() += 1;
        }
        b.screenshot_at("#bench-panel", "bench-batch-straight")
            .await;

        // 2. Again, with a reload when about 40 % of the items are done.
        b.click("#bench-create").await; // set up again: replaces the results and stored calls
        b.wait_for("#bench-summary", Duration::from_secs(30)).await;
        latency.reset();
        b.click("#bench-start").await;
        let at = (n * 2 / 5).max(1);
        b.wait_js(
            &format!("Number(document.querySelector('#bench-counts').dataset.done) >= {at}"),
            timeout,
            "40 % of the items",
        )
        .await;
        let reload_ms = ethos_testkit::latency::epoch_ms();
        b.client.refresh().await.expect("reload");
        wait_state(&b, "paused", Duration::from_secs(60)).await;
        b.click("#bench-start").await;
        wait_state(&b, "done", timeout).await;
        let resumed = b.bench_counts().await;
        let calls2 = latency.stats().calls_log;
        // Diagnostics: every prompt seen more often than in the straight run.
        let mut seen2: HashMap<&str, Vec<&CallTiming>> = HashMap::new();
        for t in &calls2 {
            seen2.entry(t.prompt_hash.as_str()).or_default().push(t);
        }
        for (h, list) in &seen2 {
            let expected = m0.get(*h).copied().unwrap_or(0);
            if list.len() as u64 > expected {
                let when: Vec<String> = list
                    .iter()
                    .map(|t| {
                        format!(
                            "#{} in {:+.0} ms, done {:+.0} ms",
                            t.seq,
                            t.received_ms - reload_ms,
                            t.last_byte_ms.map(|e| e - reload_ms).unwrap_or(f64::NAN)
                        )
                    })
                    .collect();
                eprintln!(
                    "prompt {h}: {} calls, {expected} in the straight run: {}",
                    list.len(),
                    when.join("; ")
                );
            }
        }
        let (repeated, cut) = repeated_calls(&calls2, &m0, reload_ms, 0.0);
        let (repeated_100, cut_100) = repeated_calls(&calls2, &m0, reload_ms, 100.0);
        b.close().await;

        println!(
            "\n## Batch throughput (benchmark mode, HTTP/2 + TLS, L = {l} ms, C = {c}, k = {k})"
        );
        println!("| figure | value | target | ratio |");
        println!("|---|---:|---:|---:|");
        println!(
            "| items × EthosAgents done | {} of {n} | — | — |",
            done.get("done").map(String::as_str).unwrap_or("?")
        );
        println!("| calls | {} | {} | — |", calls.len(), n * (1 + 2 * k));
        println!(
            "| busy-slot share (server: Σ call time / (C × span)) | {:.1} % | ≥ 90 % | {:.3} |",
            server_share * 100.0,
            server_share / 0.9
        );
        println!(
            "| busy-slot share (the app's own figure: calls started, capped at C) | {:.1} % | ≥ 90 % | {:.3} |",
            app_share * 100.0,
            app_share / 0.9
        );
        println!(
            "| wall time of the calls vs ideal (calls × L / C) | {:.1} s vs {:.1} s | — | {:.3} |",
            span / 1000.0,
            ideal / 1000.0,
            span / ideal
        );
        println!("| reload mid-run: calls cut off by the reload, never answered in full (made again, not repeats) | {cut} | — | — |");
        println!("| reload mid-run: calls finished at the server before the reload, made again | {repeated} | 0 | — |");
        println!("| … finished ≥ 100 ms before the reload, made again ({cut_100} in flight or just finishing) | {repeated_100} | 0 | — |");
        println!(
            "| resumed batch done | {} of {n} (failed {}) | — | — |",
            resumed.get("done").map(String::as_str).unwrap_or("?"),
            resumed.get("failed").map(String::as_str).unwrap_or("?")
        );
    }
}
