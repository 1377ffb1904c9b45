//! End-to-end harness: a static server for `dist/` (mounted under a sub-path, as a static host
//! would), chromedriver + headless Debian Chromium (and geckodriver + headless Firefox ESR)
//! driven through fantoccini, and helpers.
#![allow(dead_code)]

use fantoccini::{Client, ClientBuilder, Locator};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::process::{Child, Command};

pub mod bench;
mod proxy;
#[allow(unused_imports)]
pub use proxy::HoldingProxy;

pub const PREFIX: &str = "/ethos/";

/// Whether the e2e tests should run (scripts/test.sh sets ETHOS_E2E=1 after building dist/).
pub fn enabled() -> bool {
    if std::env::var("ETHOS_E2E").as_deref() == Ok("1") {
        return true;
    }
    eprintln!("SKIP: end-to-end tests run from scripts/test.sh (set ETHOS_E2E=1 after `trunk build --release`)");
    false
}

pub fn root() -> PathBuf {
    // This file is compiled into crates/ethos-e2e: the repository is two folders up.
    let root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    std::fs::canonicalize(&root).unwrap_or(root)
}

pub fn artifacts_dir() -> PathBuf {
    let dir = std::env::var("ETHOS_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root().join(".artifacts"));
    let _ = std::fs::create_dir_all(&dir);
    dir
}

/// Serves files of `dir` under [`PREFIX`], plus in-memory overrides (e.g. `ethos-config.json`).
pub struct StaticServer {
    pub addr: std::net::SocketAddr,
    overrides: Arc<Mutex<HashMap<String, (String, Vec<u8>)>>>,
    isolated: Arc<std::sync::atomic::AtomicBool>,
    down: Arc<std::sync::atomic::AtomicBool>,
    downloads: Arc<Mutex<Downloads>>,
}

/// How the served files answer `Range` requests, whether a download is cut off, and what was
/// sent: to test that an interrupted model download resumes where it stopped.
#[derive(Default)]
pub struct Downloads {
    /// Close the connection once a response body has sent this many bytes (of its file:
    /// counted from the start of the file, whatever range was asked).
    pub cut_at: Option<usize>,
    /// Every GET of a file under `models/`: (range start asked, bytes sent).
    pub log: Vec<(Option<usize>, usize)>,
}

impl StaticServer {
    pub async fn start(dir: &Path) -> StaticServer {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind static server");
        let addr = listener.local_addr().expect("local addr");
        let overrides: Arc<Mutex<HashMap<String, (String, Vec<u8>)>>> = Arc::default();
        let dir = dir.to_path_buf();
        let ov = overrides.clone();
        let isolated: Arc<std::sync::atomic::AtomicBool> = Arc::default();
        let iso = isolated.clone();
        let down: Arc<std::sync::atomic::AtomicBool> = Arc::default();
        let is_down = down.clone();
        let downloads: Arc<Mutex<Downloads>> = Arc::default();
        let dl = downloads.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    continue;
                };
                if is_down.load(std::sync::atomic::Ordering::Relaxed) {
                    // Unreachable: the connection closes before any answer.
                    drop(sock);
                    continue;
                }
                let dir = dir.clone();
                let ov = ov.clone();
                let dl = dl.clone();
                let coi = if iso.load(std::sync::atomic::Ordering::Relaxed) {
                    "Cross-Origin-Opener-Policy: same-origin\r\nCross-Origin-Embedder-Policy: require-corp\r\n"
                } else {
                    ""
                };
                tokio::spawn(async move {
                    // The fault server's request reader (path without the query string).
                    let Ok(Some(req)) = ethos_testkit::http::read_request(&mut sock).await else {
                        return;
                    };
                    let (mut status, ctype, body) = respond(&dir, &ov, &req.path);
                    // "Range: bytes=N-" on a file: 206 with the rest of it.
                    let start = req
                        .header("range")
                        .and_then(|r| r.strip_prefix("bytes="))
                        .and_then(|r| r.strip_suffix('-'))
                        .and_then(|n| n.parse::<usize>().ok())
                        .filter(|n| status == "200 OK" && *n < body.len());
                    let mut range_header = String::new();
                    if let Some(n) = start {
                        status = "206 Partial Content";
                        range_header = format!(
                            "Content-Range: bytes {n}-{}/{}\r\n",
                            body.len() - 1,
                            body.len()
                        );
                    }
                    let from = start.unwrap_or(0);
                    let part = body.get(from..).unwrap_or(&[]);
                    let resp = format!(
                        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nAccept-Ranges: bytes\r\nCache-Control: no-store\r\n{range_header}{coi}Connection: close\r\n\r\n",
                        part.len()
                    );
                    let cut = dl.lock().unwrap().cut_at;
                    let send = match cut {
                        Some(c) if c < body.len() => part.get(..c.saturating_sub(from)).unwrap_or(&[]),
                        _ => part,
                    };
                    let head = req.method.eq_ignore_ascii_case("HEAD");
                    let _ = sock.write_all(resp.as_bytes()).await;
                    if !head {
                        let _ = sock.write_all(send).await;
                        if req.path.contains("/models/") {
                            dl.lock().unwrap().log.push((start, send.len()));
                        }
                    }
                    let _ = sock.shutdown().await;
                });
            }
        });
        StaticServer {
            addr,
            overrides,
            isolated,
            down,
            downloads,
        }
    }

    /// Send the cross-origin isolation headers (COOP same-origin, COEP require-corp) that
    /// `scripts/serve.sh` sends, so the in-tab model can use its threaded build. Off by default:
    /// a plain static host sends neither.
    pub fn set_isolated(&self, on: bool) {
        self.isolated
            .store(on, std::sync::atomic::Ordering::Relaxed);
    }

    /// Cut every download of a file larger than `at` after byte `at` of the file (None: whole).
    pub fn cut_downloads_at(&self, at: Option<usize>) {
        self.downloads.lock().unwrap().cut_at = at;
    }

    /// (range start asked, bytes sent) of every GET under `models/`, in order.
    pub fn download_log(&self) -> Vec<(Option<usize>, usize)> {
        self.downloads.lock().unwrap().log.clone()
    }

    /// Make the host unreachable (every connection closes unanswered), or reachable again.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn url(&self) -> String {
        format!("http://{}{}", self.addr, PREFIX)
    }

    /// Answer 404 for `name` even if `dist/` has it (e.g. an `ethos-config.json` that
    /// `scripts/serve.sh` wrote there).
    pub fn hide_file(&self, name: &str) {
        self.set_file(name, HIDDEN, Vec::new());
    }

    /// Serve the GGUF beside the app, at `models/{GGUF}` (the model URL field's default).
    pub fn serve_model(&self, gguf: Vec<u8>) {
        self.set_file(&format!("models/{GGUF}"), "application/octet-stream", gguf);
    }

    pub fn set_file(&self, name: &str, content_type: &str, body: impl Into<Vec<u8>>) {
        self.overrides
            .lock()
            .unwrap()
            .insert(name.to_string(), (content_type.to_string(), body.into()));
    }
}

/// The content type that marks a hidden file.
const HIDDEN: &str = "x-hidden";

fn respond(
    dir: &Path,
    ov: &Mutex<HashMap<String, (String, Vec<u8>)>>,
    path: &str,
) -> (&'static str, String, Vec<u8>) {
    let Some(rel) = path.strip_prefix(PREFIX) else {
        return (
            "404 Not Found",
            "text/plain".into(),
            b"outside the app's sub-path".to_vec(),
        );
    };
    let rel = if rel.is_empty() { "index.html" } else { rel };
    if let Some((ct, body)) = ov.lock().unwrap().get(rel) {
        if ct == HIDDEN {
            return ("404 Not Found", "text/plain".into(), b"not found".to_vec());
        }
        return ("200 OK", ct.clone(), body.clone());
    }
    if rel.split('/').any(|seg| seg == "..") {
        return ("403 Forbidden", "text/plain".into(), Vec::new());
    }
    match std::fs::read(dir.join(rel)) {
        Ok(body) => ("200 OK", content_type(rel).into(), body),
        Err(_) => ("404 Not Found", "text/plain".into(), b"not found".to_vec()),
    }
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript",
        "wasm" => "application/wasm",
        "css" => "text/css",
        "json" => "application/json",
        "md" => "text/markdown; charset=utf-8",
        "svg" => "image/svg+xml",
        _ => "application/octet-stream",
    }
}

/// A headless Chromium session through its own chromedriver and a fresh profile.
pub struct Browser {
    pub client: Client,
    driver: Child,
    profile: PathBuf,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A WebDriver session with the driver listening on `port` (it may still be starting).
async fn connect(
    port: u16,
    caps: serde_json::Map<String, serde_json::Value>,
    wait: Duration,
    driver: &str,
) -> Client {
    let deadline = Instant::now() + wait;
    loop {
        match ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(c) => return c,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("could not connect to {driver}: {e}"),
        }
    }
}

impl Browser {
    pub async fn start() -> Browser {
        Self::start_sized(1280, 900).await
    }

    pub async fn start_sized(width: u32, height: u32) -> Browser {
        let port = free_port();
        let driver =
            Command::new(std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into()))
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .expect("start chromedriver (scripts/setup.sh installs it)");
        let profile =
            std::env::temp_dir().join(format!("ethos-e2e-{}-{}", std::process::id(), port));
        let _ = std::fs::create_dir_all(&profile);
        let downloads = profile.join("downloads");
        let _ = std::fs::create_dir_all(&downloads);
        let caps = serde_json::json!({
            "goog:chromeOptions": {
                "prefs": {
                    "download.default_directory": downloads.display().to_string(),
                    "download.prompt_for_download": false
                },
                "binary": std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage",
                    format!("--window-size={},{height}", width.max(500)),
                    format!("--user-data-dir={}", profile.display()),
                ]
            }
        });
        let mut caps = caps.as_object().cloned().unwrap_or_default();
        // Extra Chromium flags, space-separated (the benchmarks trust their test certificate).
        if let Ok(extra) = std::env::var("ETHOS_CHROMIUM_ARGS") {
            if let Some(args) = caps
                .get_mut("goog:chromeOptions")
                .and_then(|o| o.get_mut("args"))
                .and_then(|a| a.as_array_mut())
            {
                args.extend(
                    extra
                        .split_whitespace()
                        .map(|a| serde_json::Value::from(a.to_string())),
                );
            }
        }
        // Chromium windows are at least 500 px wide: narrower views use mobile emulation.
        if width < 500 {
            if let Some(opts) = caps
                .get_mut("goog:chromeOptions")
                .and_then(|o| o.as_object_mut())
            {
                opts.insert(
                    "mobileEmulation".into(),
                    serde_json::json!({"deviceMetrics": {"width": width, "height": height, "pixelRatio": 1.0}}),
                );
            }
        }
        let client = connect(port, caps, Duration::from_secs(30), "chromedriver").await;
        Browser {
            client,
            driver,
            profile,
        }
    }

    /// A headless Firefox ESR session through geckodriver (`GECKODRIVER`, else `geckodriver` on
    /// PATH; `FIREFOX`, else Debian's `/usr/bin/firefox-esr`), with a fresh profile.
    pub async fn firefox() -> Browser {
        let port = free_port();
        let profile =
            std::env::temp_dir().join(format!("ethos-e2e-ff-{}-{}", std::process::id(), port));
        let downloads = profile.join("downloads");
        let _ = std::fs::create_dir_all(&downloads);
        let driver =
            Command::new(std::env::var("GECKODRIVER").unwrap_or_else(|_| "geckodriver".into()))
                .arg(format!("--port={port}"))
                // Its own Marionette port, so that several sessions can run at once.
                .arg("--marionette-port")
                .arg(free_port().to_string())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .expect("start geckodriver (scripts/setup.sh installs it)");
        let caps = serde_json::json!({
            "moz:firefoxOptions": {
                "binary": std::env::var("FIREFOX").unwrap_or_else(|_| "/usr/bin/firefox-esr".into()),
                "args": ["-headless", "--width=1280", "--height=900"],
                "prefs": {
                    "browser.download.folderList": 2,
                    "browser.download.dir": downloads.display().to_string(),
                    "browser.download.useDownloadDir": true,
                    "browser.download.always_ask_before_handling_new_types": false,
                    "browser.helperApps.neverAsk.saveToDisk": "application/json,text/csv,text/markdown,text/plain,application/octet-stream",
                    "app.update.enabled": false,
                    "browser.shell.checkDefaultBrowser": false,
                    "datareporting.policy.dataSubmissionEnabled": false,
                    "toolkit.telemetry.enabled": false,
                    "network.captive-portal-service.enabled": false
                }
            }
        });
        let caps = caps.as_object().cloned().unwrap_or_default();
        let client = connect(port, caps, Duration::from_secs(60), "geckodriver").await;
        Browser {
            client,
            driver,
            profile,
        }
    }

    /// Where this browser's downloads land.
    pub fn downloads(&self) -> PathBuf {
        self.profile.join("downloads")
    }

    /// Wait for a downloaded file whose name ends with `suffix`; returns its path.
    pub async fn wait_download(&self, suffix: &str, timeout: Duration) -> PathBuf {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(rd) = std::fs::read_dir(self.downloads()) {
                for e in rd.flatten() {
                    let name = e.file_name().to_string_lossy().to_string();
                    if name.ends_with(suffix) && e.metadata().map(|m| m.len() > 0).unwrap_or(false)
                    {
                        return e.path();
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "no download ending in {suffix} within {timeout:?}"
            );
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    /// Wait until `css` matches an element (polling), or fail the test with `what`.
    pub async fn wait_for(&self, css: &str, timeout: Duration) -> fantoccini::elements::Element {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(el) = self.client.find(Locator::Css(css)).await {
                return el;
            }
            if Instant::now() > deadline {
                let _ = self.screenshot(&format!("timeout-{}", sanitize(css))).await;
                panic!("timed out after {timeout:?} waiting for `{css}`");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Wait until a JS expression returns true.
    pub async fn wait_js(&self, expr: &str, timeout: Duration, what: &str) {
        let deadline = Instant::now() + timeout;
        loop {
            let v = self
                .client
                .execute(&format!("return !!({expr});"), vec![])
                .await;
            if matches!(v, Ok(serde_json::Value::Bool(true))) {
                return;
            }
            if Instant::now() > deadline {
                let _ = self
                    .screenshot(&format!("timeout-{}", sanitize(what)))
                    .await;
                panic!("timed out after {timeout:?} waiting for {what}");
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    pub async fn js(&self, expr: &str) -> serde_json::Value {
        self.client
            .execute(&format!("return ({expr});"), vec![])
            .await
            .expect("execute js")
    }

    /// An asynchronous script: it calls its last argument with the result.
    pub async fn js_async(&self, script: &str) -> serde_json::Value {
        self.client
            .execute_async(script, vec![])
            .await
            .expect("execute async js")
    }

    /// Scroll `css` to the top of the view, then take a screenshot.
    pub async fn screenshot_at(&self, css: &str, name: &str) -> PathBuf {
        let _ = self.client.execute(&format!("const e = document.querySelector({css:?}); if (e) e.scrollIntoView({{block: 'start'}});"), vec![]).await;
        self.screenshot(name).await
    }

    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let path = artifacts_dir().join(format!("{name}.png"));
        if let Ok(png) = self.client.screenshot().await {
            let _ = std::fs::write(&path, png);
        }
        path
    }

    pub async fn close(self) {
        let csp = self
            .client
            .execute("return (window.__csp || []).join('\\n');", vec![])
            .await
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let _ = self.client.close().await;
        drop(self.driver);
        let _ = std::fs::remove_dir_all(&self.profile);
        assert!(
            csp.is_empty(),
            "the page broke its Content-Security-Policy:\n{csp}"
        );
    }
}

/// chromedriver's `POST /session/{id}/goog/cdp/execute`.
#[derive(Debug)]
struct Cdp {
    cmd: String,
    params: serde_json::Value,
}

impl fantoccini::wd::WebDriverCompatibleCommand for Cdp {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!(
            "session/{}/goog/cdp/execute",
            session.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        let body = serde_json::json!({"cmd": self.cmd, "params": self.params});
        (http::Method::POST, Some(body.to_string()))
    }
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// The built app, or a clear failure telling how to build it.
pub fn dist() -> PathBuf {
    let d = root().join("dist");
    assert!(
        d.join("index.html").exists(),
        "dist/ is missing: run `trunk build --release` (scripts/test.sh does)"
    );
    d
}

// ---- flows shared by the end-to-end tests -------------------------------------------------

/// JavaScript (a promise) for every entry of one of the app's IndexedDB stores (`runs`,
/// `run_baselines`, `batch_calls`, `batch_outcomes`, `batch_meta`): `[[key, value], …]`.
pub fn idb_entries_js(store: &str) -> String {
    format!(
        r#"new Promise(ok => {{
            const q = indexedDB.open('ethos-agents');
            q.onerror = () => ok([]);
            q.onsuccess = () => {{
                const db = q.result;
                if (!db.objectStoreNames.contains({store:?})) {{ db.close(); return ok([]); }}
                const t = db.transaction({store:?});
                const s = t.objectStore({store:?});
                const k = s.getAllKeys(), v = s.getAll();
                t.oncomplete = () => {{ db.close(); ok(k.result.map((key, i) => [key, v.result[i]])); }};
                t.onerror = () => {{ db.close(); ok([]); }};
            }};
        }})"#
    )
}

/// JavaScript (a promise): the saved record of the run on screen as the app stored it (its JSON
/// text), or null.
pub fn stored_run_js() -> String {
    format!(
        "({}).then(e => {{ const id = localStorage.getItem('ethos.current'); const f = e.find(x => x[0] === id); return f ? f[1] : null; }})",
        idb_entries_js("runs")
    )
}

/// JavaScript (a promise): the ids of the saved runs, sorted.
pub fn saved_run_ids_js() -> String {
    format!("({}).then(e => e.map(x => x[0]).sort())", idb_entries_js("runs"))
}

/// JavaScript (a promise): everything the app keeps on the device as one string (localStorage,
/// sessionStorage and every IndexedDB store), to search for what must never be kept.
pub fn all_stored_js() -> String {
    let stores = ["runs", "run_baselines", "batch_calls", "batch_outcomes", "batch_meta"]
        .map(idb_entries_js)
        .join(", ");
    format!("Promise.all([{stores}]).then(all => JSON.stringify(Object.assign({{}}, localStorage)) + JSON.stringify(Object.assign({{}}, sessionStorage)) + JSON.stringify(all))")
}

pub const MORALCHOICE: &str = "vital_distributional_moralchoice.json";
pub const GLOBALOPINION: &str = "vital_distributional_globalopinionqa.json";
pub const OPINIONQA: &str = "vital_steerable_opinionqa.json";
pub const OVERTON: &str = "vital_overton_valuekaleidoscope.json";

/// The SmolLM2 GGUF that `scripts/llama-server.sh model` fetches.
pub const GGUF: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";

/// Where `scripts/llama-server.sh model` puts the GGUF (`ETHOS_CACHE`, else
/// `~/.cache/ethos-agents`).
pub fn gguf_path() -> PathBuf {
    let cache = std::env::var("ETHOS_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/ethos-agents")
        });
    cache.join("smollm2-0.1.2").join(GGUF)
}

/// The GGUF's bytes; a clear failure when `scripts/llama-server.sh model` has not fetched it.
pub fn gguf_bytes() -> Vec<u8> {
    let path = gguf_path();
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run `scripts/llama-server.sh model`)",
            path.display()
        )
    })
}

/// The real local LLM server (scripts/test.sh starts it and sets ETHOS_LLM_URL).
pub fn llm_url() -> String {
    std::env::var("ETHOS_LLM_URL").unwrap_or_else(|_| "http://127.0.0.1:8088/v1".into())
}

/// Serve the app with an embedded default pointing at `base_url` (as scripts/serve.sh does).
pub async fn app_pointing_at(base_url: &str, model: &str) -> StaticServer {
    let server = StaticServer::start(&dist()).await;
    let cfg = serde_json::json!({"preset": "llamacpp", "base_url": base_url, "model": model, "concurrency": 6, "structured_perspectives": true});
    server.set_file("ethos-config.json", "application/json", cfg.to_string());
    server
}

impl Browser {
    pub async fn open(&self, url: &str) {
        self.client.goto(url).await.expect("open app");
        self.wait_for("#file-select", Duration::from_secs(30)).await;
        self.wait_parts().await;
        self.watch_csp().await;
    }

    /// Wait until the parts of the page that load on first use (src/chunks.rs) are there: no
    /// "Loading…" placeholder (`.deferred-loading`) is left.
    pub async fn wait_parts(&self) {
        self.wait_js(
            "document.querySelector('#file-select') !== null && document.querySelector('.deferred-loading') === null",
            Duration::from_secs(30),
            "the page's parts to load",
        )
        .await;
    }

    /// Chrome DevTools network emulation (through chromedriver's `goog/cdp/execute`): offline
    /// or back online, as the page sees it (`navigator.onLine`, the `offline`/`online` events).
    pub async fn set_network_offline(&self, offline: bool) {
        self.cdp("Network.enable", serde_json::json!({})).await;
        self.cdp(
            "Network.emulateNetworkConditions",
            serde_json::json!({"offline": offline, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}),
        )
        .await;
    }

    /// A Chrome DevTools Protocol command on the page's target.
    pub async fn cdp(&self, cmd: &str, params: serde_json::Value) -> serde_json::Value {
        self.client
            .issue_cmd(Cdp {
                cmd: cmd.to_string(),
                params,
            })
            .await
            .unwrap_or_else(|e| panic!("CDP {cmd}: {e}"))
    }

    /// Record Content-Security-Policy violations from now on (until the page reloads);
    /// [`Browser::close`] fails the test if there were any.
    pub async fn watch_csp(&self) {
        let _ = self
            .client
            .execute(
                "window.__csp = window.__csp || []; document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI)); return true;",
                vec![],
            )
            .await;
    }

    /// Choose the "In this browser" preset as a user does (the select's change event).
    pub async fn choose_local(&self) {
        // After a reload the page may not be mounted yet: wait for the select first.
        self.wait_for("#preset", Duration::from_secs(30)).await;
        self.js("(() => { const s = document.querySelector('#preset'); s.value = 'local'; s.dispatchEvent(new Event('change', {bubbles: true})); return true; })()").await;
    }

    /// Press "Load model" (the in-tab model) and wait until it has loaded or failed; returns
    /// the status line.
    pub async fn load_local_model(&self) -> String {
        self.click("#local-load").await;
        self.wait_js(
            "document.querySelector('#local-status[data-loaded=\"true\"]') !== null || document.querySelector('#local-status.error') !== null",
            Duration::from_secs(600),
            "the model to load",
        )
        .await;
        self.text("#local-status").await
    }

    /// The Jensen–Shannon distance the result shows (`#js-distance`).
    pub async fn js_distance(&self) -> f64 {
        let text = self.text("#js-distance").await;
        text.trim()
            .parse()
            .unwrap_or_else(|_| panic!("JS distance is a number: {text:?}"))
    }

    pub async fn choose_file(&self, file: &str) {
        let sel = self.wait_for("#file-select", Duration::from_secs(10)).await;
        sel.select_by_value(file).await.expect("choose file");
        // The list belongs to the chosen file once its count line names it (a wait on the
        // page's state, not on time: rows of the previous file may still be on screen).
        self.wait_js(
            &format!("document.querySelector('#item-count') && document.querySelector('#item-count').textContent.includes({file:?}) && document.querySelector('.item-row') !== null"),
            Duration::from_secs(30),
            &format!("the scenarios of {file}"),
        )
        .await;
    }

    pub async fn pick_item(&self, nth: usize) {
        let rows = self
            .client
            .find_all(Locator::Css(".item-row"))
            .await
            .expect("rows");
        assert!(rows.len() > nth, "only {} item rows", rows.len());
        rows[nth].clone().click().await.expect("click item");
        self.wait_for("#selected-item", Duration::from_secs(10))
            .await;
    }

    /// Small k and short outputs, for the tiny models of the tests on a busy 2-core machine.
    pub async fn short_outputs(&self, k: usize, max_perspectives: usize) {
        self.type_into("#k", &k.to_string()).await;
        self.type_into("#max-perspectives", &max_perspectives.to_string())
            .await;
        self.type_into("#max-comments", "48").await;
        self.type_into("#max-short", "8").await;
    }

    /// Replace the text of an input as a user would: select all, type over it.
    pub async fn type_into(&self, css: &str, text: &str) {
        let el = self.wait_for(css, Duration::from_secs(10)).await;
        let _ = self.client.execute(&format!("const e = document.querySelector({css:?}); e.scrollIntoView({{block: 'center'}}); e.focus(); e.select();"), vec![]).await;
        el.send_keys(text).await.expect("type");
        // Commit the value (inputs that listen to `change`).
        let _ = self.client.execute(&format!("document.querySelector({css:?}).dispatchEvent(new Event('change', {{bubbles: true}}));"), vec![]).await;
        let got = self
            .js(&format!("document.querySelector({css:?}).value"))
            .await;
        assert_eq!(got.as_str(), Some(text), "typing into {css}");
    }

    pub async fn click(&self, css: &str) {
        let el = self.wait_for(css, Duration::from_secs(10)).await;
        let _ = self
            .client
            .execute(
                &format!("document.querySelector({css:?}).scrollIntoView({{block: 'center'}});"),
                vec![],
            )
            .await;
        el.click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    pub async fn text(&self, css: &str) -> String {
        let el = self.wait_for(css, Duration::from_secs(10)).await;
        el.text().await.unwrap_or_default()
    }

    pub async fn count(&self, css: &str) -> usize {
        self.js(&format!("document.querySelectorAll({css:?}).length"))
            .await
            .as_u64()
            .unwrap_or(0) as usize
    }

    /// Press Run and wait for the result panel of a finished run. A run that ends without it
    /// fails the test at once with the app's own error message, except for one case a user
    /// recovers from: stage 1 read fewer perspectives than asked (the tiny test model sometimes
    /// rambles past its token budget). Then the test does what the app offers: adds the missing
    /// perspectives by hand and presses "Re-run what changed", once.
    pub async fn run_and_wait(&self, result_css: &str, timeout: Duration) {
        self.click("#run").await;
        if self.wait_run_end(result_css, timeout).await {
            return;
        }
        let err = self.text("#run-error").await;
        let cards = self.count(".perspective-card").await;
        let k = self
            .js("parseInt(document.querySelector('#k').value, 10)")
            .await
            .as_u64()
            .unwrap_or(0) as usize;
        // None at all is recovered the same way when the page offers to add them by hand.
        let can_add = self.count("#add-perspective").await > 0;
        if !(err.contains("perspectives could be read") && cards < k && (cards >= 1 || can_add)) {
            let _ = self
                .screenshot(&format!("run-error-{}", sanitize(result_css)))
                .await;
            panic!("the run ended without `{result_css}`: {err}");
        }
        eprintln!("stage 1 gave {cards} of {k} perspectives ({err}); completing them by hand");
        self.complete_perspectives(k).await;
        self.click("#rerun-dependents").await;
        if !self.wait_run_end(result_css, timeout).await {
            let err = self.text("#run-error").await;
            let _ = self
                .screenshot(&format!("run-error-{}", sanitize(result_css)))
                .await;
            panic!("the re-run ended without `{result_css}`: {err}");
        }
    }

    /// Start recording long tasks into `window.__lt` (`[startTime, duration]` pairs) and say
    /// whether this browser reports them at all: an 80 ms busy task of its own must be seen.
    /// The list is emptied again before returning.
    pub async fn watch_long_tasks(&self) -> bool {
        self.js("(() => { window.__lt = []; new PerformanceObserver(l => { for (const e of l.getEntries()) window.__lt.push([e.startTime, e.duration]); }).observe({type: 'longtask'}); setTimeout(() => { const end = performance.now() + 80; while (performance.now() < end) {} }, 0); return true; })()").await;
        // Entries are delivered some time after the task: poll for it (a browser that reports
        // long tasks does so well within 10 s even on a busy machine).
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut seen = false;
        while !seen && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
            seen = self
                .js("window.__lt.some(x => x[1] >= 80)")
                .await
                .as_bool()
                .unwrap_or(false);
        }
        self.js("(() => { window.__lt = []; return true; })()")
            .await;
        seen
    }

    /// Wait until no run is going and every save of the run panel is in the database (its
    /// writes are asynchronous; the last one is made in the same step as the run's end).
    pub async fn wait_run_saved(&self) {
        self.wait_js(
            "(p => p && p.dataset.busy === 'false' && p.dataset.unsaved === '0')(document.querySelector('#run-panel'))",
            Duration::from_secs(30),
            "the run saved on this device",
        )
        .await;
    }

    /// The run on screen as saved on this device (its record's JSON), once every save is in.
    pub async fn stored_run(&self) -> Option<String> {
        self.wait_run_saved().await;
        self.js(&stored_run_js())
            .await
            .as_str()
            .map(String::from)
    }

    /// The benchmark progress counters (`#bench-counts` data attributes: state, done, failed,
    /// running, remaining, total).
    pub async fn bench_counts(&self) -> HashMap<String, String> {
        let v = self
            .js("Object.assign({}, document.querySelector('#bench-counts').dataset)")
            .await;
        v.as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Wait until `result_css` is shown (true) or the run has ended with an error (false).
    pub async fn wait_run_end(&self, result_css: &str, timeout: Duration) -> bool {
        let done = format!(
            "document.querySelector({result_css:?}) !== null || (document.querySelector('#run-error') !== null && !document.querySelector('#run').disabled)"
        );
        self.wait_js(
            &done,
            timeout,
            &format!("`{result_css}` or the end of the run"),
        )
        .await;
        self.count(result_css).await > 0
    }

    /// Add perspective cards until there are `k`, fill every empty field of the cards still in
    /// edit mode, and save them (as a user completing stage 1 by hand would).
    pub async fn complete_perspectives(&self, k: usize) {
        let have = self.count(".perspective-card").await;
        for n in have..k {
            self.click("#add-perspective").await;
            self.wait_js(
                &format!(
                    "document.querySelectorAll('.perspective-card').length === {}",
                    n + 1
                ),
                Duration::from_secs(10),
                "the new perspective card",
            )
            .await;
        }
        let values = [
            "Perspective",
            "autonomy",
            "deontology",
            "right to decide",
            "concern",
            "patient",
        ];
        let saved = self
            .js(&format!(
                "(() => {{ const v = {values:?}; let saved = 0; document.querySelectorAll('.perspective-card').forEach((card, n) => {{ const save = card.querySelector('.save-perspective'); if (!save) return; card.querySelectorAll('input[type=text]').forEach((e, i) => {{ if (e.value.trim() === '') {{ e.value = i === 0 ? v[0] + ' ' + (n + 1) : (v[i] || 'x'); e.dispatchEvent(new Event('input', {{bubbles: true}})); }} }}); save.click(); saved += 1; }}); return saved; }})()"
            ))
            .await;
        assert!(
            saved.as_u64().unwrap_or(0) >= (k - have) as u64,
            "the added perspective cards open in edit mode"
        );
        self.wait_js(
            "document.querySelectorAll('.perspective-card .save-perspective').length === 0",
            Duration::from_secs(10),
            "the perspective cards to be saved",
        )
        .await;
        assert_eq!(
            self.count(".perspective-card").await,
            k,
            "{k} perspectives after completing by hand"
        );
    }
}

/// One of the accessibility audit tools scripts/setup.sh installs with npm (pinned in
/// scripts/env.sh) under `$ETHOS_CACHE/a11y-axe-*/node_modules/`: `rel` is the path inside
/// node_modules; the environment variable `var` overrides it.
pub fn a11y_tool(var: &str, rel: &str) -> PathBuf {
    if let Ok(p) = std::env::var(var) {
        return PathBuf::from(p);
    }
    let cache = gguf_path()
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let mut found: Vec<PathBuf> = std::fs::read_dir(&cache)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("a11y-axe-"))
        .map(|e| e.path().join("node_modules").join(rel))
        .filter(|p| p.exists())
        .collect();
    found.sort();
    found.pop().unwrap_or_else(|| {
        panic!(
            "{rel} is not installed under {}: run scripts/setup.sh",
            cache.display()
        )
    })
}

/// Replies by pipeline stage, so that a run of any mode finishes against the fault server:
/// three perspectives, then a comment that answers "A", then "A" (or option 1) for the answers.
pub fn staged_reply(call: &ethos_testkit::ChatCall) -> ethos_testkit::OkReply {
    let prompt = call
        .messages
        .iter()
        .map(|(_, t)| t.to_lowercase())
        .collect::<Vec<_>>()
        .join("\n");
    let text = if prompt.contains("contrasting ethical perspectives") {
        "#Surgeon: Beneficence, Consequentialism, Duty to treat, Resolve, Patient\n#Lawyer: Legality, Deontology, Right to consent, Caution, Court\n#Sister: Love, Care ethics, Duty of loyalty, Grief, Family\n"
    } else if prompt.contains("your perspective") {
        "A. The patient's own wishes decide, and harm must be avoided."
    } else if prompt.contains("select one number") {
        "1"
    } else {
        "A"
    };
    ethos_testkit::OkReply {
        texts: vec![text.into()],
        first_token_top: vec![("A".into(), 0.7), ("B".into(), 0.3)],
    }
}
