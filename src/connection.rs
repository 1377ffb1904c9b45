//! The model connection as the user set it up: preset, base URL, key (memory by default),
//! listed models, and the run settings. Persisted without the key unless the user opts in.
//! Also applies the embedded default (`?llm=<url>` or `./ethos-config.json`).

use crate::browser::{self, Area};
use ethos_engine::settings::RunSettings;
use ethos_providers::client::CapabilityCache;
use ethos_providers::web::WebTransport;
use ethos_providers::{preset, Client, Endpoint, Protocol};
use leptos::prelude::*;
use serde::Deserialize;

use ethos_engine::chat::{ChatError, ChatModel, ChatRequest, ChatResponse};
use ethos_local::proxy::{Progress, WorkerModel};

const ENDPOINT_KEY: &str = "ethos.endpoint";
const SETTINGS_KEY: &str = "ethos.settings";
const KEY_KEY: &str = "ethos.apikey";
pub const DEFAULT_PRESET: &str = "openai";
/// The "In this browser" choice: not an HTTP preset, the model runs in a Web Worker of this tab.
pub const LOCAL_PRESET: &str = "local";
pub const LOCAL_PRESET_LABEL: &str = "In this browser (tiny model, no key)";
/// Where the worker script is served (Trunk's post-build hook copies it into dist/local-model/).
const LOCAL_WORKER_URL: &str = "./local-model/worker.js";
/// The model shipped beside the page, when the deployment has one.
pub const DEFAULT_LOCAL_MODEL_URL: &str = "./models/SmolLM2-135M-Instruct.Q4_1.gguf";
/// Where the model comes from when none ships beside the page: HuggingFaceTB's own GGUF of
/// SmolLM2-360M-Instruct, Q8_0 (every matrix Q8_0: the runtime's fast path), Apache-2.0.
pub const HUB_LOCAL_MODEL_URL: &str = "https://huggingface.co/HuggingFaceTB/SmolLM2-360M-Instruct-GGUF/resolve/main/smollm2-360m-instruct-q8_0.gguf";
const LOCAL_URL_KEY: &str = "ethos.local_model_url";

/// What the pipeline talks to: the provider over HTTP, or the model in this tab's worker.
pub enum AppModel {
    Http(Client<WebTransport>),
    Local(Option<WorkerModel>),
}

impl ChatModel for AppModel {
    async fn chat(
        &self,
        req: &ChatRequest,
        on_delta: &mut dyn FnMut(&str),
    ) -> Result<ChatResponse, ChatError> {
        match self {
            AppModel::Http(c) => c.chat(req, on_delta).await,
            AppModel::Local(Some(w)) => w.chat(req, on_delta).await,
            AppModel::Local(None) => Err(ChatError::Other(
                "The in-browser model is not loaded: press Load model in panel 2 first.".into(),
            )),
        }
    }
}

/// State of the in-tab model (only used with [`LOCAL_PRESET`]).
#[derive(Clone, Copy)]
pub struct LocalState {
    pub url: RwSignal<String>,
    /// The loaded model's name, once loaded.
    pub loaded: RwSignal<Option<String>>,
    pub busy: RwSignal<bool>,
    /// Progress / result line.
    pub status: RwSignal<Option<(bool, String)>>,
    /// Started lazily, on the first load.
    worker: StoredValue<Option<WorkerModel>, LocalStorage>,
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1_000_000.0)
}

/// "Downloading 12.0 MB of 80.0 MB" from a worker progress event.
pub fn progress_text(p: &Progress) -> String {
    let what = match p.phase.as_str() {
        "download" => "Downloading",
        "cache" => "Reading from this browser's cache",
        "file" => "Reading the file",
        "load" => "Building the model",
        _ => "Loading",
    };
    match p.total {
        Some(t) if t > 0 => format!(
            "{what}: {} of {} ({}%)",
            mb(p.loaded),
            mb(t),
            p.loaded.saturating_mul(100) / t
        ),
        _ if p.loaded > 0 => format!("{what}: {}", mb(p.loaded)),
        _ => format!("{what}…"),
    }
}

/// `url` resolved against the page (a relative URL means "beside index.html").
fn absolute_url(url: &str) -> String {
    web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.base_uri().ok().flatten())
        .and_then(|base| web_sys::Url::new_with_base(url, &base).ok())
        .map(|u| u.href())
        .unwrap_or_else(|| url.to_string())
}

/// Whether `url` answers a HEAD request with a 2xx status.
async fn url_exists(url: &str) -> bool {
    use wasm_bindgen::JsCast;
    let Some(w) = web_sys::window() else {
        return false;
    };
    let init = web_sys::RequestInit::new();
    init.set_method("HEAD");
    match wasm_bindgen_futures::JsFuture::from(w.fetch_with_str_and_init(url, &init)).await {
        Ok(r) => r.dyn_into::<web_sys::Response>().is_ok_and(|r| r.ok()),
        Err(_) => false,
    }
}

impl LocalState {
    fn new() -> Self {
        let url = browser::get(Area::Local, LOCAL_URL_KEY)
            .filter(|u| !u.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_LOCAL_MODEL_URL.to_string());
        Self {
            url: RwSignal::new(url),
            loaded: RwSignal::new(None),
            busy: RwSignal::new(false),
            status: RwSignal::new(None),
            worker: StoredValue::new_local(None),
        }
    }

    /// When the URL field holds the default and no model ships beside the page, point it at the
    /// public hub's model instead and say what pressing Load will download.
    pub async fn check_default(self) {
        if self.url.get_untracked().trim() != DEFAULT_LOCAL_MODEL_URL
            || self.loaded.with_untracked(|l| l.is_some())
        {
            return;
        }
        if !url_exists(&absolute_url(DEFAULT_LOCAL_MODEL_URL)).await
            && self.url.get_untracked().trim() == DEFAULT_LOCAL_MODEL_URL
        {
            self.url.set(HUB_LOCAL_MODEL_URL.to_string());
            self.status.set(Some((
                true,
                "No model ships with this page. Load downloads SmolLM2-360M-Instruct (Q8_0, about 386 MB, Apache-2.0) from Hugging Face once and keeps it in this browser; or paste the URL of another GGUF file (a small ChatML model, served with CORS), or pick one from this computer.".into(),
            )));
        }
    }

    pub fn save_url(&self) {
        let _ = browser::set(Area::Local, LOCAL_URL_KEY, self.url.get_untracked().trim());
    }

    fn worker(&self) -> Result<WorkerModel, ChatError> {
        if let Some(w) = self.worker.get_value() {
            return Ok(w);
        }
        let w = WorkerModel::spawn(LOCAL_WORKER_URL)?;
        self.worker.set_value(Some(w.clone()));
        Ok(w)
    }

    /// The model for runs: `None` until a model was loaded.
    pub fn model(&self) -> Option<WorkerModel> {
        self.loaded
            .with_untracked(|l| l.is_some())
            .then(|| self.worker.get_value())
            .flatten()
    }

    /// Load from the URL field (`file` = a GGUF the user picked instead). Downloads are kept in
    /// Cache Storage. On success the model name becomes the model for all stages.
    pub async fn load(self, conn: Conn, file: Option<web_sys::File>) {
        self.busy.set(true);
        self.status
            .set(Some((true, "Starting the model worker…".into())));
        let result = async {
            let w = self.worker()?;
            let status = self.status;
            let mut on_progress = move |p: Progress| status.set(Some((true, progress_text(&p))));
            match &file {
                Some(f) => w.load_file(f, true, &mut on_progress).await,
                None => {
                    let url = self.url.get_untracked();
                    let url = url.trim();
                    if url.is_empty() {
                        return Err(ChatError::Other(
                            "Paste a GGUF URL or pick a file first.".into(),
                        ));
                    }
                    // The worker resolves relative URLs against its own script: resolve here.
                    w.load_url(&absolute_url(url), true, &mut on_progress).await
                }
            }
        }
        .await;
        match result {
            Ok((info, from_cache)) => {
                let name = if info.name.trim().is_empty() {
                    "local-model".to_string()
                } else {
                    info.name.clone()
                };
                conn.set_model_all(&name);
                conn.save();
                self.loaded.set(Some(name.clone()));
                self.status.set(Some((
                    true,
                    format!(
                        "Loaded {name} ({}, {} layers{}{}).",
                        mb(info.file_bytes as u64),
                        info.n_layers,
                        if info.threads > 1 {
                            format!(", {} threads", info.threads)
                        } else {
                            String::new()
                        },
                        if from_cache {
                            ", from this browser's cache"
                        } else {
                            ", kept in this browser's cache"
                        }
                    ),
                )));
            }
            Err(e) => {
                // A worker that failed to start is useless: start a fresh one next time.
                if let Some(w) = self.worker.get_value() {
                    w.terminate();
                }
                self.worker.set_value(None);
                self.loaded.set(None);
                self.status.set(Some((
                    false,
                    format!("Could not load the model: {e}. Check the URL (or pick a GGUF file)."),
                )));
            }
        }
        self.busy.set(false);
    }

    /// Delete every model kept in this browser's Cache Storage.
    pub async fn delete_cached(self) {
        self.busy.set(true);
        let result = async {
            let w = self.worker()?;
            let entries = w.cached().await?;
            let mut freed = 0u64;
            let mut n = 0usize;
            for e in entries {
                if w.delete_cached(&e.key).await? {
                    freed = freed.saturating_add(e.bytes);
                    n += 1;
                }
            }
            Ok::<_, ChatError>((n, freed))
        }
        .await;
        self.status.set(Some(match result {
            Ok((0, _)) => (true, "No model is cached in this browser.".to_string()),
            Ok((n, freed)) => (true, format!("Deleted {n} cached model(s), {} freed. The loaded model stays in memory until you reload the page.", mb(freed))),
            Err(e) => (false, format!("Could not delete the cached model: {e}")),
        }));
        self.busy.set(false);
    }
}

/// The optional `ethos-config.json` served beside index.html.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct EmbeddedConfig {
    #[serde(default)]
    pub preset: Option<String>,
    #[serde(default)]
    pub base_url: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
    #[serde(default)]
    pub concurrency: Option<usize>,
    /// Ask stage 1 for schema-constrained JSON (tiny local models cannot follow the line format).
    #[serde(default)]
    pub structured_perspectives: Option<bool>,
}

pub const TINY_MODEL_NOTE: &str = "This page is pointed at a small local model so you can try the whole flow without a key. A tiny model says little about the method: judge EthosAgents with a capable model.";

#[derive(Clone, Copy)]
pub struct Conn {
    pub preset: RwSignal<String>,
    pub base_url: RwSignal<String>,
    /// Held in memory; written to localStorage only with `remember`.
    pub key: RwSignal<String>,
    pub remember: RwSignal<bool>,
    pub models: RwSignal<Vec<String>>,
    /// Result of the last connection test: (ok, message).
    pub report: RwSignal<Option<(bool, String)>>,
    pub testing: RwSignal<bool>,
    /// Shown when the embedded default is in use.
    pub embedded_note: RwSignal<Option<String>>,
    pub settings: RwSignal<RunSettings>,
    pub local: LocalState,
    caps: StoredValue<CapabilityCache>,
}

#[derive(serde::Serialize, Deserialize)]
struct SavedEndpoint {
    preset: String,
    base_url: String,
}

impl Conn {
    pub fn new() -> Self {
        let saved: Option<SavedEndpoint> =
            browser::get(Area::Local, ENDPOINT_KEY).and_then(|t| serde_json::from_str(&t).ok());
        let (p, url) = match saved {
            Some(s) => (s.preset, s.base_url),
            None => {
                let p = preset(DEFAULT_PRESET)
                    .map(|p| p.default_base_url)
                    .unwrap_or("");
                (DEFAULT_PRESET.to_string(), p.to_string())
            }
        };
        // A corrupted settings entry falls back to the defaults instead of blocking the app.
        let settings: RunSettings = browser::get(Area::Local, SETTINGS_KEY)
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
        let stored_key = browser::get(Area::Local, KEY_KEY);
        Self {
            preset: RwSignal::new(p),
            base_url: RwSignal::new(url),
            remember: RwSignal::new(stored_key.is_some()),
            key: RwSignal::new(stored_key.unwrap_or_default()),
            models: RwSignal::new(Vec::new()),
            report: RwSignal::new(None),
            testing: RwSignal::new(false),
            embedded_note: RwSignal::new(None),
            settings: RwSignal::new(settings),
            local: LocalState::new(),
            caps: StoredValue::new(CapabilityCache::default()),
        }
    }

    /// Whether an endpoint was saved by an earlier visit (the user's choice beats the default).
    pub fn has_saved_endpoint() -> bool {
        browser::get(Area::Local, ENDPOINT_KEY).is_some()
    }

    pub fn protocol(&self) -> Protocol {
        self.preset
            .with_untracked(|p| preset(p).map(|p| p.protocol))
            .unwrap_or(Protocol::OpenAi)
    }

    /// The endpoint with the in-memory key.
    pub fn endpoint(&self) -> Endpoint {
        let key = self.key.get_untracked();
        let key = (!key.trim().is_empty()).then(|| key.trim().to_string());
        Endpoint::new(
            self.protocol(),
            self.base_url.get_untracked().trim(),
            key,
            self.preset.get_untracked(),
        )
    }

    /// A client for the current endpoint. Capabilities learnt are shared across clients.
    pub fn client(&self) -> Client<WebTransport> {
        let ep = self.endpoint();
        let transport = WebTransport::for_endpoint(&ep);
        let limit = self.settings.with_untracked(|s| s.concurrency).max(1);
        Client::new(ep, transport)
            .with_concurrency(limit)
            .with_capability_cache(self.caps.get_value())
    }

    /// What the capability probe learnt about the combine model (all false before a probe, and
    /// for the in-tab model, which the Reference preset cannot drive over HTTP).
    pub fn provider_facts(&self) -> ethos_engine::reference::ProviderFacts {
        use ethos_providers::{Capability, Protocol};
        if self.is_local() {
            return Default::default();
        }
        let model = self.settings.with_untracked(|s| s.models.combine.clone());
        let caps = self.client().capabilities(model.trim());
        ethos_engine::reference::ProviderFacts {
            logprobs: caps.logprobs == Capability::Yes,
            raw_completion: caps.raw_completion == Capability::Yes,
            seed: self.protocol() == Protocol::OpenAi && !caps.no_seed,
        }
    }

    pub fn is_local(&self) -> bool {
        self.preset.with_untracked(|p| p == LOCAL_PRESET)
    }

    /// The model the pipeline runs against: the HTTP client, or the in-tab model.
    pub fn model_for_run(&self) -> AppModel {
        if self.is_local() {
            AppModel::Local(self.local.model())
        } else {
            AppModel::Http(self.client())
        }
    }

    /// Persist the endpoint (never the key) and the settings; the key only with `remember`.
    pub fn save(&self) {
        let ep = SavedEndpoint {
            preset: self.preset.get_untracked(),
            base_url: self.base_url.get_untracked(),
        };
        if let Ok(t) = serde_json::to_string(&ep) {
            let _ = browser::set(Area::Local, ENDPOINT_KEY, &t);
        }
        if let Ok(t) = serde_json::to_string(&self.settings.get_untracked()) {
            let _ = browser::set(Area::Local, SETTINGS_KEY, &t);
        }
        if self.remember.get_untracked() && !self.key.get_untracked().trim().is_empty() {
            let _ = browser::set(Area::Local, KEY_KEY, self.key.get_untracked().trim());
        } else {
            browser::remove(Area::Local, KEY_KEY);
        }
    }

    /// Remove every key from memory and storage.
    pub fn forget_keys(&self) {
        self.key.set(String::new());
        self.remember.set(false);
        browser::remove(Area::Local, KEY_KEY);
        browser::remove(Area::Session, KEY_KEY);
    }

    /// What the in-tab model needs: one worker computes one thing at a time, and the runtime
    /// follows JSON schemas, so stage 1 asks for structured perspectives.
    fn use_local_settings(&self) {
        self.settings.update(|s| {
            s.concurrency = 1;
            s.structured_perspectives = true;
        });
    }

    /// Choose a preset: its default base URL and a concurrency it can take.
    pub fn choose_preset(&self, id: &str) {
        self.preset.set(id.to_string());
        if id == LOCAL_PRESET {
            // The model name comes from the file.
            self.use_local_settings();
            if let Some(name) = self.local.loaded.get_untracked() {
                self.set_model_all(&name);
            }
        }
        if let Some(p) = preset(id) {
            if !p.default_base_url.is_empty() {
                self.base_url.set(p.default_base_url.to_string());
            }
            self.settings
                .update(|s| s.concurrency = p.max_concurrency.max(1));
        }
        self.models.set(Vec::new());
        self.report.set(None);
        self.save();
    }

    /// The model used when one model runs all stages.
    pub fn model(&self) -> String {
        self.settings.with_untracked(|s| s.models.combine.clone())
    }

    pub fn set_model_all(&self, name: &str) {
        self.settings.update(|s| {
            s.models = ethos_engine::settings::StageModels::all(name.trim());
        });
    }

    /// Apply the embedded default (from `?llm=` or `ethos-config.json`).
    pub fn apply_embedded(&self, cfg: &EmbeddedConfig) {
        let id = cfg
            .preset
            .clone()
            .filter(|p| preset(p).is_some())
            .unwrap_or_else(|| "custom".into());
        self.preset.set(id.clone());
        if let Some(url) = &cfg.base_url {
            self.base_url.set(url.clone());
        } else if let Some(p) = preset(&id) {
            self.base_url.set(p.default_base_url.to_string());
        }
        if let Some(m) = cfg.model.as_deref().filter(|m| !m.trim().is_empty()) {
            self.set_model_all(m);
        }
        // The shipped local server serves four requests at once; streams then run side by side.
        let conc = cfg.concurrency.unwrap_or(4).clamp(1, 16);
        self.settings.update(|s| {
            s.concurrency = conc;
            if let Some(on) = cfg.structured_perspectives {
                s.structured_perspectives = on;
            }
        });
        self.embedded_note.set(Some(
            cfg.note
                .clone()
                .unwrap_or_else(|| TINY_MODEL_NOTE.to_string()),
        ));
        self.save();
    }

    /// Test the connection: list models (and fill the model field if it is empty); with `probe`,
    /// also make one tiny call to the chosen model to learn what it supports (log-probabilities,
    /// several samples), which later runs use.
    pub async fn test(self, probe: bool) {
        self.testing.set(true);
        self.report.set(None);
        let client = self.client();
        let report = ethos_providers::probe::test_connection(&client, &browser::origin()).await;
        if report.ok {
            if !report.models.is_empty() && self.model().trim().is_empty() {
                if let Some(first) = report.models.first() {
                    self.set_model_all(first);
                }
            }
            self.models.set(report.models.clone());
            self.save();
        }
        let (mut ok, mut message) = (report.ok, report.message);
        let model = self.model();
        if probe && !model.trim().is_empty() && (report.ok || report.reachable) {
            match ethos_providers::probe::probe_capabilities(&client, model.trim()).await {
                Ok(p) => {
                    ok = true;
                    message = format!("{message} Model {}: {}", model.trim(), p.summary);
                }
                Err(e) => {
                    ok = false;
                    message = format!(
                        "{message} A test call to model {} failed: {e}",
                        model.trim()
                    );
                }
            }
        }
        self.report.set(Some((ok, message)));
        self.testing.set(false);
    }
}

/// Read `?llm=` / `?model=` or `./ethos-config.json` and apply it when the user has no saved
/// endpoint of their own (a `?llm=` parameter always applies).
pub async fn load_embedded_default(conn: Conn) {
    if let Some(url) = browser::query_param("llm").filter(|u| !u.trim().is_empty()) {
        let cfg = EmbeddedConfig {
            preset: browser::query_param("preset"),
            base_url: Some(url),
            model: browser::query_param("model"),
            ..Default::default()
        };
        conn.apply_embedded(&cfg);
    } else if let Ok(text) = browser::fetch_text("./ethos-config.json").await {
        match serde_json::from_str::<EmbeddedConfig>(&text) {
            Ok(cfg) if !Conn::has_saved_endpoint() || conn.embedded_matches(&cfg) => conn.apply_embedded(&cfg),
            Ok(_) => {}
            Err(e) => conn.report.set(Some((false, format!("ethos-config.json beside the page is not valid ({e}); using your own settings.")))),
        }
    } else {
        // No server named by the page and none chosen on this device, no key: the model in this
        // tab is the one thing that works (nothing is downloaded until the user presses Load).
        if !Conn::has_saved_endpoint() && conn.key.with_untracked(|k| k.trim().is_empty()) {
            conn.preset.set(LOCAL_PRESET.to_string());
            conn.use_local_settings();
        }
        return;
    }
    if conn.model().trim().is_empty() {
        conn.test(false).await;
    }
}

impl Conn {
    fn embedded_matches(&self, cfg: &EmbeddedConfig) -> bool {
        cfg.base_url
            .as_deref()
            .is_some_and(|u| u.trim() == self.base_url.get_untracked().trim())
    }
}

pub fn conn() -> Conn {
    expect_context::<Conn>()
}
