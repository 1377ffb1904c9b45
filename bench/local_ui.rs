//! The page's main thread while the in-tab model works: the release app in headless Chromium
//! loads SmolLM2-135M (served beside the page) into its Web Worker and runs a Distributional
//! MoralChoice item (k = 3); a PerformanceObserver records every long task (≥ 50 ms) from the
//! Load click to the result. Target: the longest task ≤ 50 ms.
//!
//! `cargo bench -p ethos-e2e --bench local_ui` (bench/run.sh runs it). Needs `dist/` with
//! `local-model/` (trunk build) and the GGUF (`scripts/llama-server.sh model`).
//!
//! Seconds per item in the tab for another model: `ETHOS_BENCH_GGUF=path/to/file.gguf
//! ETHOS_BENCH_K=6 ETHOS_BENCH_BUDGETS=app cargo bench -p ethos-e2e --bench local_ui` serves
//! that file in SmolLM2's place (the panel's default URL), runs the item with k = 6 and the app's
//! own token budgets, and prints the seconds the item took.

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
#[path = "../tests/support/mod.rs"]
mod support;

#[cfg(not(target_arch = "wasm32"))]
#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    use std::time::Duration;
    use support::*;
    let server = StaticServer::start(&dist()).await;
    // As scripts/serve.sh serves it (cross-origin isolated): the worker runs its threaded build,
    // so helper threads work beside the page too.
    server.set_isolated(true);
    server.hide_file("ethos-config.json");
    let model_file = std::env::var("ETHOS_BENCH_GGUF").ok();
    let k: u32 = std::env::var("ETHOS_BENCH_K")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let app_budgets = std::env::var("ETHOS_BENCH_BUDGETS").is_ok_and(|v| v == "app");
    server.serve_model(match &model_file {
        Some(path) => std::fs::read(path).unwrap_or_else(|e| panic!("ETHOS_BENCH_GGUF {path}: {e}")),
        None => gguf_bytes(),
    });
    let b = Browser::start().await;
    b.open(&server.url()).await;
    // No server and no key: "In this browser" is the default provider.
    b.wait_js(
        "document.querySelector('#preset').value === 'local'",
        Duration::from_secs(30),
        "the in-browser preset",
    )
    .await;
    assert!(
        b.watch_long_tasks().await,
        "this browser does not report long tasks; the figure would mean nothing"
    );
    b.js("(() => { window.__lt = []; window.__t0 = performance.now(); return true; })()")
        .await;
    b.click("#local-load").await;
    b.wait_js("document.querySelector('#local-status[data-loaded=\"true\"]') !== null || document.querySelector('#local-status.error') !== null", Duration::from_secs(600), "the model to load").await;
    let status = b.text("#local-status").await;
    println!("model status: {status}");
    let loaded_ms = b
        .js("performance.now() - window.__t0")
        .await
        .as_f64()
        .unwrap_or(f64::NAN);
    b.choose_file(MORALCHOICE).await;
    b.pick_item(0).await;
    b.type_into("#k", &k.to_string()).await;
    if !app_budgets {
        b.type_into("#max-perspectives", "400").await;
        b.type_into("#max-comments", "48").await;
        b.type_into("#max-short", "8").await;
    }
    b.js("(() => { window.__t1 = performance.now(); return true; })()")
        .await;
    b.run_and_wait("#js-distance", Duration::from_secs(1200))
        .await;
    let v = b.js("[performance.now() - window.__t1, window.__lt.filter(x => x[0] >= window.__t0), window.__t1 - window.__t0]").await;
    let run_ms = v[0].as_f64().unwrap_or(f64::NAN);
    let tasks: Vec<(f64, f64)> = v[1]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| Some((x[0].as_f64()?, x[1].as_f64()?)))
                .collect()
        })
        .unwrap_or_default();
    let t1 = v[2].as_f64().unwrap_or(0.0);
    let during_load: Vec<f64> = tasks.iter().filter(|(s, _)| *s < t1).map(|t| t.1).collect();
    let during_run: Vec<f64> = tasks
        .iter()
        .filter(|(s, _)| *s >= t1)
        .map(|t| t.1)
        .collect();
    let max = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
    b.close().await;
    let model = model_file.as_deref().unwrap_or("SmolLM2-135M Q4_1");
    let budgets = if app_budgets { "the app's token budgets" } else { "budgets 400 / 48 / 8 tokens" };
    println!("\n## Main thread while the in-tab model works ({model}, Distributional item, k = {k}, {budgets})");
    println!("| phase | duration | long tasks (≥ 50 ms) | longest | target | ratio |");
    println!("|---|---:|---:|---:|---:|---:|");
    println!("| load and set-up (download from the page server, parse, build; pick the item) | {:.1} s | {} | {:.0} ms | ≤ 50 ms | {:.2} |", loaded_ms / 1000.0, during_load.len(), max(&during_load), max(&during_load) / 50.0);
    println!("| run (every generation and the distribution reads) | {:.1} s | {} | {:.0} ms | ≤ 50 ms | {:.2} |", run_ms / 1000.0, during_run.len(), max(&during_run), max(&during_run) / 50.0);
}
