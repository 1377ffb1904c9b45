//! Performance harness: the real release app (dist/) in headless Chromium against the latency
//! server (crates/ethos-testkit/src/latency.rs), every call taking a fixed L (a streamed reply's
//! first byte at L/2, its last at L; a whole reply at L). Prints, measured side by side in one run:
//! - critical-path efficiency per mode and k, over HTTP/2 + TLS and over HTTP/1.1:
//!   wall / (3 × L), wall / (d × L) with d the mode's dependent calls, the HTTP/1.1 limit, and
//!   wall against the sequential pattern (1 + k + 1) × L;
//! - streaming latency: a comment card's first text on screen minus the server's first byte of
//!   that call (median);
//! - main-thread health during the largest-k run: the longest task (PerformanceObserver
//!   'longtask') and the worst timer lateness.
//!
//! Wall time is measured in the page: `performance.timeOrigin + performance.now()` when Run is
//! clicked (by script) to when a MutationObserver first sees the result element (`#js-distance`,
//! `#overton-answer`, `#value-answer`) of this run.
//!
//! Run: `bench/run.sh` (builds dist/ first) or `cargo bench -p ethos-e2e --bench perf`.
//! Options (environment): PERF_LATENCY_MS (400), PERF_REPS (3), PERF_KS ("6,12,24").

#[cfg(not(target_arch = "wasm32"))]
#[path = "../tests/support/mod.rs"]
mod support;

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    perf::main().await;
}

#[cfg(not(target_arch = "wasm32"))]
mod perf {
    use super::support::{self, Browser, StaticServer};
    use ethos_testkit::{LatencyServer, LatencyStats};
    use serde_json::{json, Value};
    use std::time::Duration;

    const RUN_TIMEOUT: Duration = Duration::from_secs(180);
    const VALUE_FILE: &str = "vital_steerable_valuekaleidoscope.json";

    #[derive(Clone, Copy, PartialEq)]
    enum Transport {
        H2,
        H1,
    }

    impl Transport {
        fn label(self) -> &'static str {
            match self {
                Transport::H2 => "HTTP/2+TLS",
                Transport::H1 => "HTTP/1.1",
            }
        }
    }

    #[derive(Clone, Copy)]
    struct Mode {
        name: &'static str,
        /// A shipped file, or None for the steerable-value file served by the bench.
        file: Option<&'static str>,
        result: &'static str,
        /// Dependent calls on the critical path.
        depth: u64,
    }

    impl Mode {
        /// Calls of one item.
        fn calls(&self, k: u64) -> u64 {
            match self.name {
                "Distributional" => 1 + 2 * k,
                "Overton" => 1 + k + 1,
                _ => 1 + k + 2,
            }
        }
        /// The fewest L-long waves over 6 HTTP/1.1 connections (Chromium's per-host limit).
        fn h1_waves(&self, k: u64) -> u64 {
            let w = |n: u64| n.div_ceil(6);
            match self.name {
                "Distributional" => 1 + w(2 * k).max(2),
                "Overton" => 1 + w(k) + 1,
                _ => 1 + w(k) + 2,
            }
        }
    }

    const MODES: [Mode; 4] = [
        Mode {
            name: "Distributional",
            file: Some(support::MORALCHOICE),
            result: "#js-distance",
            depth: 3,
        },
        Mode {
            name: "Overton",
            file: Some(support::OVERTON),
            result: "#overton-answer",
            depth: 3,
        },
        Mode {
            name: "Steerable value",
            file: None,
            result: "#value-answer",
            depth: 4,
        },
        Mode {
            name: "Steerable group",
            file: Some(support::OPINIONQA),
            result: "#js-distance",
            depth: 4,
        },
    ];

    /// One measured run.
    struct Run {
        transport: Transport,
        mode: &'static str,
        k: u64,
        wall_ms: f64,
        calls: u64,
        /// (card first text on screen − server first byte) per comment, ms.
        stream_ms: Vec<f64>,
        /// The same, to the animation frame that paints the text.
        stream_paint_ms: Vec<f64>,
        longest_task_ms: f64,
        long_tasks: usize,
        /// localStorage writes during the run: count, characters, ms spent in setItem.
        saves: (u64, f64, f64),
        /// Where the longest task fell, and the long animation frames with their scripts.
        attribution: String,
        timer_lateness_ms: f64,
        peak_in_flight: usize,
        connections: u64,
        versions: String,
    }

    fn env_num(name: &str, default: u64) -> u64 {
        std::env::var(name)
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(default)
    }

    fn median(v: &[f64]) -> f64 {
        let mut s: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
        if s.is_empty() {
            return f64::NAN;
        }
        s.sort_by(f64::total_cmp);
        let n = s.len();
        if n % 2 == 1 {
            s[n / 2]
        } else {
            (s[n / 2 - 1] + s[n / 2]) / 2.0
        }
    }

    fn percentile(v: &[f64], p: f64) -> f64 {
        let mut s: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
        if s.is_empty() {
            return f64::NAN;
        }
        s.sort_by(f64::total_cmp);
        let i = ((s.len() - 1) as f64 * p).round() as usize;
        s[i.min(s.len() - 1)]
    }

    /// Chromium through a wrapper that makes it accept the latency server's test certificate
    /// (by its public key hash) without treating the page as having a certificate error.
    fn chromium_wrapper(spki: &str) -> std::path::PathBuf {
        let real = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let dir = std::env::temp_dir().join(format!("ethos-perf-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("chromium");
        let script = format!(
            "#!/bin/sh\nexec {real:?} --ignore-certificate-errors-spki-list={spki} \"$@\"\n"
        );
        std::fs::write(&path, script).expect("write the chromium wrapper");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755));
        }
        path
    }

    fn value_file() -> String {
        let item = |id: u32, situation: &str, value: &str| {
            json!({
                "id": id, "situation": situation, "vrd": format!("Value: {value}"),
                "label_text": "supports", "label": "A",
                "input": format!("Does the action \"{situation}\" support or oppose the value {value}?\nOptions: A. Supports B. Opposes C. Either\nAnswer:"),
                "output": null
            })
        };
        json!([
            item(
                1,
                "Telling a patient a hard diagnosis without delay",
                "honesty"
            ),
            item(
                2,
                "Sharing a patient's records with their family",
                "privacy"
            ),
        ])
        .to_string()
    }

    async fn open_app(transport: Transport, latency: &LatencyServer) -> (StaticServer, Browser) {
        let base = match transport {
            Transport::H2 => latency.https_base_url(),
            Transport::H1 => latency.http_base_url(),
        };
        let server = StaticServer::start(&support::dist()).await;
        let cfg = json!({"preset": "llamacpp", "base_url": base, "model": "latency-model", "concurrency": 16, "structured_perspectives": false, "note": "performance harness"});
        server.set_file("ethos-config.json", "application/json", cfg.to_string());
        server.set_file(VALUE_FILE, "application/json", value_file());
        let b = Browser::start().await;
        b.open(&server.url()).await;
        // Enough calls at once for every k measured (the embedded config caps at 16).
        b.type_into("#concurrency", "64").await;
        (server, b)
    }

    /// The cost of saving the run on screen once, as the app does after every call start and
    /// end: the size of its stored record, and the time to parse, re-serialise and store that
    /// JSON in the page (a JavaScript stand-in for the app's serde + localStorage write).
    async fn persist_probe(b: &Browser) -> (f64, f64, usize) {
        // The saved record from the database; the timed write is the journal's (localStorage),
        // which every save makes at once.
        let js = format!(
            r#"Promise.all([{}, {}]).then(([rec, ids]) => {{
                if (!rec) return [0, 0, 0];
                const t = performance.now();
                for (let i = 0; i < 10; i++) localStorage.setItem('ethos.perf-probe', JSON.stringify(JSON.parse(rec)));
                const ms = (performance.now() - t) / 10;
                localStorage.removeItem('ethos.perf-probe');
                return [rec.length, ms, ids.length];
            }})"#,
            crate::support::stored_run_js(),
            crate::support::saved_run_ids_js()
        );
        let v = b.js(&js).await;
        (
            v[0].as_f64().unwrap_or(0.0),
            v[1].as_f64().unwrap_or(0.0),
            v[2].as_u64().unwrap_or(0) as usize,
        )
    }

    async fn choose_mode(b: &Browser, mode: &Mode) {
        match mode.file {
            Some(f) => b.choose_file(f).await,
            None => {
                let sel = b.wait_for("#file-select", Duration::from_secs(10)).await;
                sel.select_by_value("disk")
                    .await
                    .expect("choose 'a file from your computer'");
                b.type_into("#vital-url", &format!("./{VALUE_FILE}")).await;
                b.click("#vital-url-load").await;
                b.wait_js(
                    "document.querySelectorAll('.item-row').length === 2",
                    Duration::from_secs(30),
                    "the steerable-value file's two items",
                )
                .await;
            }
        }
        b.pick_item(0).await;
    }

    /// Set k; returns the k in force (the app may refuse large k: then its maximum, 20).
    async fn set_k(b: &Browser, k: u64) -> u64 {
        b.type_into("#k", &k.to_string()).await;
        if b.count("#settings-error").await > 0 {
            let msg = b.text("#settings-error").await;
            eprintln!("note: the app refuses k = {k} ({msg}); measuring k = 20 instead");
            b.type_into("#k", "20").await;
            return 20;
        }
        k
    }

    /// Install the observers, click Run, wait for the result; returns the page's measurements.
    async fn measured_run(b: &Browser, result: &str) -> Value {
        let install = format!(
            r#"
            const sel = {result:?};
            const old = document.querySelector(sel); if (old) old.dataset.stale = '1';
            document.querySelectorAll('.comment-card p.llm-text').forEach(e => e.dataset.stale = '1');
            const p = window.__perf = {{ t0: 0, done: 0, first: {{}}, paint: {{}}, longtasks: [], lag: 0, stop: false }};
            const clock = () => performance.timeOrigin + performance.now();
            p.obs = new MutationObserver(() => {{
                const now = clock();
                if (!p.done) {{ const r = document.querySelector(sel); if (r && !r.dataset.stale) p.done = now; }}
                for (const card of document.querySelectorAll('.comment-card')) {{
                    const i = card.dataset.index;
                    if (p.first[i] !== undefined) continue;
                    const t = card.querySelector('p.llm-text');
                    if (t && !t.dataset.stale && t.textContent.length > 0) {{
                        p.first[i] = now;
                        // The frame that paints it: requestAnimationFrame runs just before paint.
                        requestAnimationFrame(() => {{ p.paint[i] = clock(); }});
                    }}
                }}
            }});
            p.obs.observe(document.body, {{ subtree: true, childList: true, characterData: true }});
            p.lt = new PerformanceObserver(list => {{ for (const e of list.getEntries()) p.longtasks.push([e.startTime, e.duration]); }});
            p.lt.observe({{ type: 'longtask', buffered: true }});
            // Long animation frames, with the scripts that ran in them (attribution of long tasks).
            p.loaf = [];
            try {{
                p.lf = new PerformanceObserver(list => {{ for (const e of list.getEntries()) p.loaf.push({{
                    start: e.startTime, dur: e.duration, blocking: e.blockingDuration,
                    layout: e.styleAndLayoutStart > 0 ? e.startTime + e.duration - e.styleAndLayoutStart : 0,
                    scripts: e.scripts.map(x => [x.invoker, x.sourceFunctionName, Math.round(x.duration), Math.round(x.forcedStyleAndLayoutDuration)]),
                }}); }});
                p.lf.observe({{ type: 'long-animation-frame', buffered: true }});
            }} catch (_) {{ p.lf = null; }}
            // Count and time the app's localStorage writes during the run (wasm-bindgen calls
            // Storage.prototype.setItem through the object, so the wrapper sees them).
            p.saves = 0; p.saveMs = 0; p.saveBytes = 0; p.origSet = Storage.prototype.setItem;
            Storage.prototype.setItem = function (k, v) {{
                const t = performance.now();
                try {{ return p.origSet.call(this, k, v); }}
                finally {{ p.saveMs += performance.now() - t; p.saves += 1; p.saveBytes += String(v).length; }}
            }};
            let last = performance.now();
            const tick = () => {{ const now = performance.now(); p.lag = Math.max(p.lag, now - last - 4); last = now; if (!p.stop) p.timer = setTimeout(tick, 4); }};
            p.timer = setTimeout(tick, 4);
            p.t0 = clock();
            document.querySelector('#run').click();
            "#
        );
        b.client
            .execute(&install, vec![])
            .await
            .expect("install observers and click Run");
        b.wait_js(
            "window.__perf.done > 0 || (document.querySelector('#run-error') !== null && !document.querySelector('#run').disabled)",
            RUN_TIMEOUT,
            "the run's result",
        )
        .await;
        let done = b.js("window.__perf.done").await.as_f64().unwrap_or(0.0);
        if done <= 0.0 {
            let err = b.text("#run-error").await;
            let _ = b.screenshot("perf-run-error").await;
            panic!("the run ended without {result}: {err}");
        }
        // The run is over when Run is enabled again (the record is saved after the result shows).
        b.wait_js(
            "!document.querySelector('#run').disabled",
            RUN_TIMEOUT,
            "the end of the run",
        )
        .await;
        b.js(
            r#"(() => {
                const p = window.__perf; p.stop = true; clearTimeout(p.timer); p.obs.disconnect(); p.lt.disconnect(); if (p.lf) p.lf.disconnect();
                Storage.prototype.setItem = p.origSet;
                const cards = {};
                document.querySelectorAll('.comment-card').forEach(c => { const m = c.textContent.match(/\[call (\d+)\]/); if (m) cards[c.dataset.index] = +m[1]; });
                const t0rel = p.t0 - performance.timeOrigin, donerel = p.done - performance.timeOrigin;
                const tasks = p.longtasks.filter(([s, d]) => s + d >= t0rel && s <= donerel).map(([s, d]) => d);
                // The longest task with its place in the run, and the long frames of the run.
                const worst = p.longtasks.filter(([s, d]) => s + d >= t0rel && s <= donerel).sort((a, b) => b[1] - a[1])[0];
                const where = worst ? `${Math.round(worst[1])} ms task starting ${Math.round(worst[0] - t0rel)} ms after Run, ${Math.round(worst[0] + worst[1] - donerel)} ms from the result` : '';
                const frames = p.loaf.filter(f => f.start + f.dur >= t0rel && f.start <= donerel && f.dur >= 50)
                    .sort((a, b) => b.dur - a.dur).slice(0, 2)
                    .map(f => `frame ${Math.round(f.dur)} ms at +${Math.round(f.start - t0rel)} (style+layout+paint ${Math.round(f.layout)}): ` + f.scripts.map(x => `${x[0]}${x[1] ? ' ' + x[1] : ''} ${x[2]} ms${x[3] ? ' (forced layout ' + x[3] + ')' : ''}`).join('; '));
                return { t0: p.t0, done: p.done, first: p.first, paint: p.paint, cards, tasks, lag: p.lag, where, frames, saves: [p.saves, p.saveBytes, p.saveMs] };
            })()"#,
        )
        .await
    }

    fn run_from(
        transport: Transport,
        mode: &Mode,
        k: u64,
        page: &Value,
        stats: &LatencyStats,
    ) -> Run {
        let wall_ms =
            page["done"].as_f64().unwrap_or(f64::NAN) - page["t0"].as_f64().unwrap_or(f64::NAN);
        // Card index -> that call's first byte on the server (the card's text names its call).
        let server_first = |i: &str| {
            page["cards"][i]
                .as_u64()
                .and_then(|seq| stats.call(seq))
                .and_then(|c| c.first_byte_ms)
        };
        let deltas = |key: &str| -> Vec<f64> {
            let mut out = Vec::new();
            for (i, t) in page[key].as_object().into_iter().flatten() {
                if let (Some(t), Some(s)) = (t.as_f64(), server_first(i)) {
                    out.push(t - s);
                }
            }
            out
        };
        let (stream_ms, stream_paint_ms) = (deltas("first"), deltas("paint"));
        let tasks: Vec<f64> = page["tasks"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_f64).collect())
            .unwrap_or_default();
        Run {
            transport,
            mode: mode.name,
            k,
            wall_ms,
            calls: stats.calls,
            stream_ms,
            stream_paint_ms,
            longest_task_ms: tasks.iter().copied().fold(0.0, f64::max),
            long_tasks: tasks.len(),
            saves: (
                page["saves"][0].as_u64().unwrap_or(0),
                page["saves"][1].as_f64().unwrap_or(0.0),
                page["saves"][2].as_f64().unwrap_or(0.0),
            ),
            attribution: {
                let mut a = page["where"].as_str().unwrap_or("").to_string();
                for f in page["frames"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                {
                    a.push_str("\n      ");
                    a.push_str(f);
                }
                a
            },
            timer_lateness_ms: page["lag"].as_f64().unwrap_or(f64::NAN),
            peak_in_flight: stats.peak_in_flight(),
            connections: stats.connections,
            versions: stats
                .by_version
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join("+"),
        }
    }

    fn machine() -> String {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0);
        let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        let load = load
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ");
        let chromium = std::process::Command::new(
            std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
        )
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
        format!("{cores} cores, load {load}, {chromium}")
    }

    pub async fn main() {
        let l = env_num("PERF_LATENCY_MS", 400);
        let reps = env_num("PERF_REPS", 3).max(1);
        let ks: Vec<u64> = std::env::var("PERF_KS")
            .unwrap_or_else(|_| "6,12,24".into())
            .split(',')
            .filter_map(|s| s.trim().parse().ok())
            .collect();
        let latency = LatencyServer::start(l).expect("start the latency server");
        // The browser accepts the test certificate through its key hash (Browser reads CHROMIUM).
        std::env::set_var("CHROMIUM", chromium_wrapper(latency.spki_sha256_base64()));
        println!("# Performance harness: critical path, streaming, main thread");
        println!("machine: {}", machine());
        println!("latency server: L = {l} ms per call (stream: first byte at L/2, last at L; whole reply at L); {reps} runs per cell, median");

        let mut runs: Vec<Run> = Vec::new();
        let mut probes: Vec<(&str, (f64, f64, usize))> = Vec::new();
        for transport in [Transport::H2, Transport::H1] {
            let (_static_server, b) = open_app(transport, &latency).await;
            if transport == Transport::H2 {
                let ok = b.watch_long_tasks().await;
                println!(
                    "long-task observer check (an 80 ms busy task is reported): {}",
                    if ok {
                        "yes"
                    } else {
                        "NO: long-task figures below mean nothing"
                    }
                );
            }
            for mode in &MODES {
                choose_mode(&b, mode).await;
                // Warm-up (connection, TLS, preflight cache, code paths): not measured.
                set_k(&b, 6).await;
                let _ = measured_run(&b, mode.result).await;
                for &k in &ks {
                    let k = set_k(&b, k).await;
                    for _ in 0..reps {
                        latency.reset();
                        let page = measured_run(&b, mode.result).await;
                        let run = run_from(transport, mode, k, &page, &latency.stats());
                        eprintln!(
                            "  {} {} k={} wall {:.0} ms, {} calls, peak {} in flight, {} connection(s) {}, longest task {:.0} ms",
                            transport.label(), mode.name, k, run.wall_ms, run.calls, run.peak_in_flight, run.connections, run.versions, run.longest_task_ms
                        );
                        runs.push(run);
                    }
                }
                if transport == Transport::H2 {
                    probes.push((mode.name, persist_probe(&b).await));
                }
            }
            b.close().await;
        }
        report(&runs, l as f64);
        let k_max = runs.iter().map(|r| r.k).max().unwrap_or(0);
        println!("\nCost of one save of the run record (the last record at k = {k_max}, HTTP/2 runs). A running record is saved at most every 500 ms; saving it at every call start and end, as the app once did, costs k such saves in one task at each stage boundary.");
        for (mode, (bytes, ms, saved)) in probes {
            println!(
                "  {mode}: record {:.0} KB; parse + serialise + store it in JavaScript {ms:.2} ms (× {k_max} ≈ {:.0} ms); {saved} saved runs on the device",
                bytes / 1024.0,
                ms * k_max as f64
            );
        }
    }

    fn report(runs: &[Run], l: f64) {
        let cell = |t: Transport, m: &str, k: u64| -> Vec<&Run> {
            runs.iter()
                .filter(|r| r.transport == t && r.mode == m && r.k == k)
                .collect()
        };
        let mut ks: Vec<u64> = runs.iter().map(|r| r.k).collect();
        ks.sort_unstable();
        ks.dedup();
        let (k_min, k_max) = (
            ks.first().copied().unwrap_or(6),
            ks.last().copied().unwrap_or(6),
        );

        println!("\n## Critical-path efficiency (item wall time in the page, median of the runs)");
        println!("d = dependent calls on the mode's critical path (3: Overton, Distributional; 4: Steerable, whose stage 3 is two calls).");
        println!("| transport | mode | k | calls | wall ms | wall/(3L) | wall/(dL) | target or limit | verdict | wall/((1+k+1)L) |");
        println!("|---|---|---:|---:|---:|---:|---:|---:|---|---:|");
        for t in [Transport::H2, Transport::H1] {
            for mode in &MODES {
                for &k in &ks {
                    let c = cell(t, mode.name, k);
                    if c.is_empty() {
                        continue;
                    }
                    let wall = median(&c.iter().map(|r| r.wall_ms).collect::<Vec<_>>());
                    let calls = c.first().map(|r| r.calls).unwrap_or(0);
                    let r3 = wall / (3.0 * l);
                    let rd = wall / (mode.depth as f64 * l);
                    let seq = wall / ((2 + k) as f64 * l);
                    let (target, verdict) = match t {
                        Transport::H2 => {
                            let target = if k == k_min && k <= 6 {
                                Some(1.10)
                            } else if k == k_max {
                                Some(1.25)
                            } else {
                                None
                            };
                            match target {
                                Some(x) => (
                                    format!("≤ {x:.2} (d·L)"),
                                    if rd <= x { "met" } else { "MISSED" }.to_string(),
                                ),
                                None => ("—".into(), "—".into()),
                            }
                        }
                        Transport::H1 => {
                            let limit = mode.h1_waves(k) as f64 / mode.depth as f64;
                            (
                                format!("limit {limit:.2} (d·L)"),
                                format!("{:.2} × limit", rd / limit),
                            )
                        }
                    };
                    println!(
                        "| {} | {} | {k} | {calls} | {wall:.0} | {r3:.2} | {rd:.2} | {target} | {verdict} | {seq:.2} |",
                        t.label(),
                        mode.name
                    );
                    if mode.calls(k) != calls {
                        println!(
                            "|  |  |  | (expected {} calls) |  |  |  |  |  |  |",
                            mode.calls(k)
                        );
                    }
                }
            }
        }

        println!("\n## Streaming latency (comment card's first text in the DOM − server's first body byte of that call)");
        for t in [Transport::H2, Transport::H1] {
            let s: Vec<f64> = runs
                .iter()
                .filter(|r| r.transport == t && r.k == k_min)
                .flat_map(|r| r.stream_ms.iter().copied())
                .collect();
            let first20: Vec<f64> = s.iter().copied().take(20).collect();
            let m = median(&first20);
            println!(
                "{}: median {m:.1} ms over the first {} comment streams at k = {k_min} (all {}: median {:.1}, p90 {:.1}, max {:.1}); target 50 ms: ratio {:.2} {}",
                t.label(),
                first20.len(),
                s.len(),
                median(&s),
                percentile(&s, 0.9),
                s.iter().copied().fold(f64::NAN, f64::max),
                m / 50.0,
                if t == Transport::H2 { if m <= 50.0 { "(met)" } else { "(MISSED)" } } else { "" }
            );
            let painted: Vec<f64> = runs
                .iter()
                .filter(|r| r.transport == t && r.k == k_min)
                .flat_map(|r| r.stream_paint_ms.iter().copied())
                .collect();
            let first20: Vec<f64> = painted.iter().copied().take(20).collect();
            println!(
                "    to the frame that paints it (requestAnimationFrame): median {:.1} ms over the first {} (all {}: p90 {:.1})",
                median(&first20),
                first20.len(),
                painted.len(),
                percentile(&painted, 0.9)
            );
        }

        println!(
            "\n## Main-thread health (runs at k = {k_max}: {k_max} concurrent comment streams)"
        );
        for t in [Transport::H2, Transport::H1] {
            for mode in &MODES {
                let c = cell(t, mode.name, k_max);
                if c.is_empty() {
                    continue;
                }
                let longest = c.iter().map(|r| r.longest_task_ms).fold(0.0, f64::max);
                let count: usize = c.iter().map(|r| r.long_tasks).sum();
                let lag = c.iter().map(|r| r.timer_lateness_ms).fold(0.0, f64::max);
                let (figure, ratio) = if count == 0 {
                    (
                        "< 50 ms (no long task reported)".to_string(),
                        "< 1.00".to_string(),
                    )
                } else {
                    (format!("{longest:.0} ms"), format!("{:.2}", longest / 50.0))
                };
                println!(
                    "{} {}: longest task {figure} ({count} long task(s) in {} runs); target 50 ms: ratio {ratio} {}; worst lateness of a 4 ms timer {lag:.0} ms",
                    t.label(),
                    mode.name,
                    c.len(),
                    if longest <= 50.0 { "(met)" } else { "(MISSED)" }
                );
                let n = c.len().max(1) as f64;
                let (saves, chars, ms) = c.iter().fold((0u64, 0.0, 0.0), |a, r| {
                    (a.0 + r.saves.0, a.1 + r.saves.1, a.2 + r.saves.2)
                });
                println!(
                    "    per run: the app wrote localStorage {:.0} times, {:.1} MB, {:.0} ms inside setItem",
                    saves as f64 / n,
                    chars / n / 1e6,
                    ms / n
                );
                if let Some(worst) = c
                    .iter()
                    .filter(|r| r.long_tasks > 0)
                    .max_by(|a, b| a.longest_task_ms.total_cmp(&b.longest_task_ms))
                {
                    println!("    worst run: {}", worst.attribution);
                }
            }
        }
        println!("Longest task at every k (all modes):");
        for t in [Transport::H2, Transport::H1] {
            let per_k: Vec<String> = ks
                .iter()
                .map(|&k| {
                    let c: Vec<&Run> = runs
                        .iter()
                        .filter(|r| r.transport == t && r.k == k)
                        .collect();
                    let n: usize = c.iter().map(|r| r.long_tasks).sum();
                    let longest = c.iter().map(|r| r.longest_task_ms).fold(0.0, f64::max);
                    if n == 0 {
                        format!("k = {k}: none ≥ 50 ms in {} runs", c.len())
                    } else {
                        format!(
                            "k = {k}: {longest:.0} ms ({n} long task(s) in {} runs)",
                            c.len()
                        )
                    }
                })
                .collect();
            println!("  {}: {}", t.label(), per_k.join("; "));
        }
        let h2 = runs.iter().filter(|r| r.transport == Transport::H2);
        let conns: Vec<String> = h2.map(|r| format!("{}", r.connections)).collect();
        println!(
            "\nHTTP/2 runs: connections opened per run {:?} (0 = the warm connection was reused), peak calls in flight at k = {k_max}: {:?}",
            conns,
            runs.iter().filter(|r| r.transport == Transport::H2 && r.k == k_max).map(|r| r.peak_in_flight).collect::<Vec<_>>()
        );
    }
}
