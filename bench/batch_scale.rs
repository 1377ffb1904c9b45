//! Benchmark mode at whole-file scale: every GlobalOpinionQA item × the three methods at k = 6
//! (about 25,000 calls), through the release app in headless Chromium against the latency server
//! (HTTP/2 + TLS):
//!
//! 1. straight through: wall time, calls, the longest main-thread task and how many reached
//!    50 ms, peak JS heap (`performance.memory`, Chromium; the wasm memory is not in it), and
//!    the storage the finished batch takes (`navigator.storage.estimate()`);
//! 2. the page reopened with the finished batch stored: time to the first paint, time until the
//!    stored batch is on screen (`ethos:bench-restored`), and the longest task meanwhile;
//! 3. the same batch set up again, reloaded at 50 % of the tasks and resumed: finished calls made
//!    again, counted by the server from the prompt hashes against the straight run.
//!
//! Every long animation frame of the straight run is printed with what it was made of (the
//! scripts that ran, by invoker; style and layout): a long task is then either the page's own
//! work or a garbage collection (time in no script).
//!
//! `cargo bench -p ethos-e2e --bench batch_scale` (about 5 min on a quiet 2-core machine, 15–30
//! under load; not part of bench/run.sh). Environment: `ETHOS_SCALE_N` (all items),
//! `ETHOS_SCALE_C` (32, concurrency and items in flight), `ETHOS_SCALE_K` (6),
//! `ETHOS_SCALE_L_MS` (20, server latency per call), `ETHOS_SCALE_PROFILE` (a file: a sampled CPU
//! profile of the straight run, for DevTools).

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
    use ethos_testkit::latency::epoch_ms;
    use ethos_testkit::LatencyServer;
    use serde_json::json;
    use std::collections::HashMap;
    use std::time::{Duration, Instant};

    async fn set_up(b: &Browser, n: Option<u64>, k: u64, c: u64) {
        b.type_into("#k", &k.to_string()).await;
        b.type_into("#concurrency", &c.to_string()).await;
        b.click("#view-bench").await;
        let file = b.wait_for("#bench-file", Duration::from_secs(10)).await;
        file.select_by_value(GLOBALOPINION)
            .await
            .expect("choose the file");
        if let Some(n) = n {
            b.type_into("#bench-n", &n.to_string()).await;
        } else {
            let how = b.wait_for("#bench-pick", Duration::from_secs(10)).await;
            how.select_by_value("all").await.expect("all items");
        }
        b.type_into("#bench-in-flight", &c.to_string()).await;
        b.click("#bench-create").await;
        b.wait_for("#bench-summary", Duration::from_secs(60)).await;
    }

    /// Record long tasks (and, in Chromium, the peak JS heap once a second) from now on.
    async fn watch(b: &Browser) {
        b.js("(() => { window.__lt = []; new PerformanceObserver(l => { for (const e of l.getEntries()) window.__lt.push([e.startTime, e.duration]); }).observe({type: 'longtask'}); window.__loaf = []; try { new PerformanceObserver(l => { for (const e of l.getEntries()) if (e.duration >= 50) window.__loaf.push({at: Math.round(e.startTime), ms: Math.round(e.duration), blocking: Math.round(e.blockingDuration), render: e.renderStart ? Math.round(e.startTime + e.duration - e.renderStart) : 0, layout: e.styleAndLayoutStart ? Math.round(e.startTime + e.duration - e.styleAndLayoutStart) : 0, scripts: e.scripts.map(s => [s.invoker, s.invokerType, Math.round(s.duration), Math.round(s.forcedStyleAndLayoutDuration), s.sourceFunctionName])}); }).observe({type: 'long-animation-frame'}); } catch (_) {} window.__heap = 0; const m = () => { if (performance.memory) window.__heap = Math.max(window.__heap, performance.memory.usedJSHeapSize); }; m(); setInterval(m, 1000); return true; })()").await;
    }

    /// (longest task ms, tasks ≥ 50 ms, peak JS heap bytes).
    async fn watched(b: &Browser) -> (f64, u64, f64) {
        let v = b
            .js("[Math.max(0, ...window.__lt.map(x => x[1])), window.__lt.filter(x => x[1] >= 50).length, window.__heap]")
            .await;
        let f = |i: usize| v.get(i).and_then(|x| x.as_f64()).unwrap_or(f64::NAN);
        (f(0), f(1) as u64, f(2))
    }

    pub async fn main() {
        let n = std::env::var("ETHOS_SCALE_N").ok().and_then(|v| v.parse().ok());
        let c = env_num("ETHOS_SCALE_C", 32);
        let k = env_num("ETHOS_SCALE_K", 6);
        let l = env_num("ETHOS_SCALE_L_MS", 20);
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
        let timeout = Duration::from_secs(3600);

        // 1. Straight through.
        let b = Browser::start().await;
        b.open(&app.url()).await;
        set_up(&b, n, k, c).await;
        let tasks: u64 = b
            .bench_counts()
            .await
            .get("total")
            .and_then(|t| t.parse().ok())
            .unwrap_or(0);
        latency.reset();
        watch(&b).await;
        let t0 = Instant::now();
        let started = b.js("performance.now()").await.as_f64().unwrap_or(0.0);
        // `ETHOS_SCALE_PROFILE=FILE`: a sampled CPU profile of the straight run (DevTools'
        // `.cpuprofile`; wasm function names need a build with `data-keep-debug`).
        let profile = std::env::var("ETHOS_SCALE_PROFILE").ok();
        if profile.is_some() {
            b.cdp("Profiler.enable", json!({})).await;
            b.cdp("Profiler.setSamplingInterval", json!({"interval": 200})).await;
            b.cdp("Profiler.start", json!({})).await;
        }
        b.click("#bench-start").await;
        wait_state(&b, "done", timeout).await;
        if let Some(file) = &profile {
            let p = b.cdp("Profiler.stop", json!({})).await;
            let body = p.get("profile").unwrap_or(&p).to_string();
            std::fs::write(file, body).expect("write the profile");
            eprintln!("CPU profile written to {file}");
        }
        let wall = t0.elapsed().as_secs_f64();
        let ended = b.js("performance.now()").await.as_f64().unwrap_or(0.0);
        // Where the long tasks were: ms after Start (the run took until `ended`).
        let when = b.js("window.__lt.filter(x => x[1] >= 50)").await;
        eprintln!("long tasks (start ms since page load, ms): {when}; Start at {started:.0}, done seen at {ended:.0}");
        // What each long frame was made of (Long Animation Frames: the scripts that ran, by what
        // invoked them, and the style/layout and render time); time in none of them is the
        // browser's own (garbage collection, storage).
        let frames = b.js("window.__loaf").await;
        if let Some(frames) = frames.as_array() {
            for f in frames {
                eprintln!("long frame: {f}");
            }
        }
        b.wait_js("document.querySelector('#bench-counts').dataset.unsaved === '0'", Duration::from_secs(120), "everything stored").await;
        let (longest, over_50, heap) = watched(&b).await;
        let done = b.bench_counts().await;
        let straight = latency.stats();
        let storage = b
            .js("navigator.storage.estimate().then(e => [e.usage, (e.usageDetails || {}).indexedDB || null])")
            .await;
        let used = storage.get(0).and_then(|v| v.as_f64()).unwrap_or(f64::NAN);
        let idb = storage.get(1).and_then(|v| v.as_f64());
        b.screenshot_at("#bench-panel", "bench-scale-done").await;

        // 2. Reopen with the finished batch stored.
        b.client.refresh().await.expect("reload");
        wait_state(&b, "done", Duration::from_secs(120)).await;
        let reopen = b
            .js("(() => { const at = n => { const e = performance.getEntriesByName(n)[0]; return e ? e.startTime : null; }; return [at('first-contentful-paint'), at('ethos:bench-restored'), at('ethos:bench-shown')]; })()")
            .await;
        let fcp = reopen.get(0).and_then(|v| v.as_f64()).unwrap_or(f64::NAN);
        let restored = reopen.get(1).and_then(|v| v.as_f64()).unwrap_or(f64::NAN);
        let shown = reopen.get(2).and_then(|v| v.as_f64()).unwrap_or(f64::NAN);
        let reopen_tasks = b
            .js("new Promise(ok => { const d = []; new PerformanceObserver(l => { for (const e of l.getEntries()) d.push([e.startTime, e.duration]); }).observe({type: 'longtask', buffered: true}); setTimeout(() => ok([Math.max(0, ...d.map(x => x[1])), d.length, Math.max(0, ...d.map(x => x[0] + x[1])), d]), 500); })")
            .await;
        let reopen_longest = reopen_tasks.get(0).and_then(|v| v.as_f64()).unwrap_or(f64::NAN);
        let reopen_count = reopen_tasks.get(1).and_then(|v| v.as_u64()).unwrap_or(0);
        // Interactive from the end of the last long task (a main thread free of tasks ≥ 50 ms).
        let reopen_quiet = reopen_tasks.get(2).and_then(|v| v.as_f64()).unwrap_or(f64::NAN);
        eprintln!("reopen long tasks (start ms, ms): {}", reopen_tasks.get(3).cloned().unwrap_or_default());

        // 3. Again, reloaded at 50 % and resumed.
        let m0: HashMap<String, u64> = straight.by_prompt.clone().into_iter().collect();
        b.click("#bench-create").await; // set up again: replaces the results and stored calls
        b.wait_for("#bench-summary", Duration::from_secs(60)).await;
        b.wait_js("document.querySelector('#bench-counts').dataset.unsaved === '0' && document.querySelector('#bench-counts').dataset.done === '0'", Duration::from_secs(120), "the batch set up again").await;
        latency.reset();
        b.click("#bench-start").await;
        let half = (tasks / 2).max(1);
        b.wait_js(
            &format!("Number(document.querySelector('#bench-counts').dataset.done) >= {half}"),
            timeout,
            "50 % of the tasks",
        )
        .await;
        // The moment of the reload is chosen, not timed: from now on the server answers no new
        // call (they wait an hour), and the reload comes once the page has taken in every call
        // the server answered. So "finished" means the same for the server and the page, and
        // any finished call made again after the reload is a repeat.
        let before_switch = epoch_ms();
        latency.set_latency_ms(3_600_000);
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let log = latency.stats().calls_log;
            // Every call that came before the switch has been answered…
            let short_done = log
                .iter()
                .all(|t| t.received_ms >= before_switch || t.last_byte_ms.is_some());
            let answered = log.iter().filter(|t| t.last_byte_ms.is_some()).count();
            // … and the page has taken in every answer.
            let page: usize = b
                .bench_counts()
                .await
                .get("calls")
                .and_then(|c| c.parse().ok())
                .unwrap_or(0);
            if short_done && page == answered {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the page never caught up with the server: {page} of {answered} answers taken in"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let unsaved_at_reload = b
            .bench_counts()
            .await
            .get("unsaved")
            .cloned()
            .unwrap_or_default();
        let reload_ms = epoch_ms();
        b.client.refresh().await.expect("reload");
        wait_state(&b, "paused", Duration::from_secs(120)).await;
        latency.set_latency_ms(l);
        let kept: u64 = b
            .bench_counts()
            .await
            .get("done")
            .and_then(|d| d.parse().ok())
            .unwrap_or(0);
        b.click("#bench-start").await;
        wait_state(&b, "done", timeout).await;
        let resumed = b.bench_counts().await;
        let calls2 = latency.stats().calls_log;
        let (repeated, cut) = repeated_calls(&calls2, &m0, reload_ms, 0.0);
        let (repeated_100, cut_100) = repeated_calls(&calls2, &m0, reload_ms, 100.0);
        b.close().await;

        let mb = |b: f64| b / 1e6;
        println!(
            "\n## Benchmark mode at whole-file scale (GlobalOpinionQA × 3 methods, k = {k}, C = {c}, L = {l} ms, HTTP/2 + TLS)"
        );
        println!("| figure | value | target |");
        println!("|---|---:|---:|");
        println!(
            "| tasks done (straight run) | {} of {tasks} (failed {}) | all |",
            done.get("done").map(String::as_str).unwrap_or("?"),
            done.get("failed").map(String::as_str).unwrap_or("?")
        );
        println!("| calls (straight run) | {} | — |", straight.calls);
        println!("| wall time (straight run) | {wall:.0} s ({:.0} calls/s) | — |", straight.calls as f64 / wall);
        println!("| longest main-thread task during the run | {longest:.0} ms | < 50 ms |");
        println!("| main-thread tasks ≥ 50 ms during the run | {over_50} | 0 |");
        println!("| peak JS heap (performance.memory; wasm memory not included) | {:.1} MB | — |", mb(heap));
        println!(
            "| storage used with the batch stored (site; IndexedDB) | {:.1} MB; {} | — |",
            mb(used),
            idb.map(|v| format!("{:.1} MB", mb(v))).unwrap_or_else(|| "not reported".into())
        );
        println!("| reopen with the batch stored: first contentful paint | {fcp:.0} ms | — |");
        println!("| reopen: stored results and items on screen (`ethos:bench-shown`) | {shown:.0} ms | ≤ 1000 ms |");
        println!("| reopen: every stored call loaded, Resume possible (`ethos:bench-restored`) | {restored:.0} ms | — |");
        println!("| reopen: longest task ({reopen_count} long tasks) | {reopen_longest:.0} ms | — |");
        println!("| reopen: interactive (the last long task over) | {:.0} ms | ≤ 1000 ms |", reopen_quiet.max(fcp));
        println!("| reload at 50 %: changes not yet in the database at the reload (in the journal) | {unsaved_at_reload} | — |");
        println!("| reload at 50 %: tasks kept | {kept} of {tasks} | ≥ {half} |");
        println!("| reload at 50 %: calls cut off by the reload (made again, not repeats) | {cut} | — |");
        println!("| reload at 50 %: calls finished at the server before the reload, made again | {repeated} | 0 |");
        println!("| … finished ≥ 100 ms before the reload, made again ({cut_100} in flight or just finishing) | {repeated_100} | 0 |");
        println!(
            "| resumed batch done | {} of {tasks} (failed {}) | all |",
            resumed.get("done").map(String::as_str).unwrap_or("?"),
            resumed.get("failed").map(String::as_str).unwrap_or("?")
        );
    }
}
