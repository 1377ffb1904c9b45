//! The model connection as the user set it up: preset, base URL, keys (one per endpoint origin,
//! in memory unless the user opts in: `keys.rs`) and listed models. What a page suggests
//! (`?llm=`, `ethos-config.json`) is decided in `suggestion.rs`; the run settings are a store of
//! their own (`settings.rs`), which the connection reads for its limits and model names.

use crate::browser;
use crate::storage::{self, Area};
use crate::keys::{self, KeyRing};
use crate::suggestion::{EmbeddedConfig, Suggestion};
use crate::settings::Settings;
use ethos_providers::client::CapabilityCache;
use ethos_providers::web::worker::WorkerTransport;
use ethos_providers::web::WebTransport;
use ethos_providers::{preset, Client, Endpoint, Protocol, Transport};
use leptos::prelude::*;
use serde::Deserialize;

use ethos_engine::chat::{ChatError, ChatModel, ChatRequest, ChatResponse};
use crate::local_model::LocalState;
use ethos_local::proxy::WorkerModel;

pub const DEFAULT_PRESET: &str = "openai";
/// The network worker's script, beside the page (index.html copies it from the providers crate).
pub const FETCH_WORKER_URL: &str = "./fetch-worker.js";
/// The "In this browser" choice: not an HTTP preset, the model runs in a Web Worker of this tab.
pub const LOCAL_PRESET: &str = "local";
pub const LOCAL_PRESET_LABEL: &str = "In this browser (tiny model, no key)";

/// What the pipeline talks to: the provider over HTTP, or the model in this tab's worker.
pub enum AppModel {
    Http(Client<WebTransport>),
    /// A benchmark's client: its requests go through the page's network worker
    /// ([`Conn::model_for_batch`]), and the dozens of calls its first items start at once are
    /// spread over several tasks ([`browser::yield_if_busy`]).
    Batch(Client<WorkerTransport>),
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
            AppModel::Batch(c) => {
                browser::yield_if_busy().await;
                c.chat(req, on_delta).await
            }
            AppModel::Local(Some(w)) => w.chat(req, on_delta).await,
            AppModel::Local(None) => Err(ChatError::Other(
                "The in-browser model is not loaded: press Load model in panel 2 first.".into(),
            )),
        }
    }
}

pub const TINY_MODEL_NOTE: &str = "This page is pointed at a small local model so you can try the whole flow without a key. A tiny model says little about the method: judge EthosAgents with a capable model.";

#[derive(Clone, Copy)]
pub struct Conn {
    pub preset: RwSignal<String>,
    pub base_url: RwSignal<String>,
    /// The key field: the key for the current base URL's origin (see [`KeyRing`]).
    pub key: RwSignal<String>,
    /// Whether the current origin's key is remembered on this device.
    pub remember: RwSignal<bool>,
    pub models: RwSignal<Vec<String>>,
    /// Result of the last connection test: (ok, message).
    pub report: RwSignal<Option<(bool, String)>>,
    /// Shown when the embedded default is in use.
    pub embedded_note: RwSignal<Option<String>>,
    /// The endpoint in use came from the page (link or config) and is not saved as the user's
    /// own until they keep it or change it themselves.
    pub page_suggested: RwSignal<bool>,
    /// A server the page suggests instead of the user's own: shown, applied only on acceptance.
    pub offer: RwSignal<Option<Suggestion>>,
    /// The run settings (their own store): the connection reads its limits and the model name
    /// from them, and a preset or a page's server suggests values.
    settings: Settings,
    pub local: LocalState,
    keys: StoredValue<KeyRing>,
    caps: StoredValue<CapabilityCache>,
}

#[derive(Debug, Clone, serde::Serialize, Deserialize)]
pub struct SavedEndpoint {
    pub preset: String,
    pub base_url: String,
}

impl Conn {
    pub fn new(settings: Settings) -> Self {
        let saved = Self::saved_endpoint();
        let (p, url) = match &saved {
            Some(s) => (s.preset.clone(), s.base_url.clone()),
            None => {
                let p = preset(DEFAULT_PRESET)
                    .map(|p| p.default_base_url)
                    .unwrap_or("");
                (DEFAULT_PRESET.to_string(), p.to_string())
            }
        };
        let mut ring = KeyRing::from_stored(storage::get(Area::Local, storage::key::KEYS).as_deref());
        let legacy = storage::get(Area::Local, storage::key::LEGACY_API_KEY);
        if let Some(k) = &legacy {
            ring.adopt_legacy(k, saved.as_ref().map(|s| s.base_url.as_str()));
        }
        let origin = keys::origin_of(&url);
        let conn = Self {
            preset: RwSignal::new(p),
            base_url: RwSignal::new(url),
            remember: RwSignal::new(ring.is_remembered(origin.as_deref())),
            key: RwSignal::new(ring.key_for(origin.as_deref()).unwrap_or_default().to_string()),
            models: RwSignal::new(Vec::new()),
            report: RwSignal::new(None),
            embedded_note: RwSignal::new(None),
            page_suggested: RwSignal::new(false),
            offer: RwSignal::new(None),
            settings,
            local: LocalState::new(),
            keys: StoredValue::new(ring),
            caps: StoredValue::new(CapabilityCache::default()),
        };
        // The single key of earlier versions now belongs to its endpoint's origin: moved once
        // (and kept where it was if the new entry cannot be written).
        if legacy.is_some() && conn.persist_keys() {
            storage::remove(Area::Local, storage::key::LEGACY_API_KEY);
        }
        conn
    }

    /// The endpoint the user saved on this device, if it can be read.
    pub fn saved_endpoint() -> Option<SavedEndpoint> {
        storage::get(Area::Local, storage::key::ENDPOINT).and_then(|t| serde_json::from_str(&t).ok())
    }

    /// The origin requests go to (`None` while the base URL is not a valid http(s) URL).
    fn origin(&self) -> Option<String> {
        keys::origin_of(&self.base_url.get_untracked())
    }

    /// Write the remembered keys; false when storage refused (the key then stays in memory).
    fn persist_keys(&self) -> bool {
        match self.keys.with_value(KeyRing::stored) {
            Some(text) => match storage::set(Area::Local, storage::key::KEYS, &text) {
                Ok(()) => true,
                Err(e) => {
                    self.report.set(Some((false, format!("The key could not be remembered: {e} It stays in this tab's memory."))));
                    false
                }
            },
            None => {
                storage::remove(Area::Local, storage::key::KEYS);
                true
            }
        }
    }

    /// Show the key (and its remember box) that belongs to the current base URL's origin.
    fn show_key_for_origin(&self) {
        let origin = self.origin();
        let (key, remembered) = self.keys.with_value(|r| {
            (
                r.key_for(origin.as_deref()).unwrap_or_default().to_string(),
                r.is_remembered(origin.as_deref()),
            )
        });
        self.key.set(key);
        self.remember.set(remembered);
    }

    /// The user typed a key: it belongs to the current origin (and nothing else).
    pub fn set_key(&self, text: &str) {
        self.key.set(text.to_string());
        if let Some(origin) = self.origin() {
            let remember = self.remember.get_untracked();
            self.keys.update_value(|r| r.set(&origin, text, remember));
            if remember {
                self.persist_keys();
            }
        }
    }

    /// "Remember the key on this device" for the current origin's key.
    pub fn set_remember(&self, on: bool) {
        self.remember.set(on);
        if let Some(origin) = self.origin() {
            self.keys.update_value(|r| r.set_remember(&origin, on));
            self.persist_keys();
        }
    }

    /// The user typed a base URL: it becomes their own endpoint, with its origin's key.
    pub fn set_base_url(&self, url: &str) {
        self.base_url.set(url.trim().to_string());
        self.models.set(Vec::new());
        self.page_suggested.set(false);
        self.show_key_for_origin();
        self.save();
    }

    /// Keep the server the page chose as the user's own on this device.
    pub fn keep_page_endpoint(&self) {
        self.page_suggested.set(false);
        self.save();
    }

    pub fn protocol(&self) -> Protocol {
        self.preset
            .with_untracked(|p| preset(p).map(|p| p.protocol))
            .unwrap_or(Protocol::OpenAi)
    }

    /// The endpoint, with the key typed or remembered for exactly its origin (never another's).
    pub fn endpoint(&self) -> Endpoint {
        let origin = self.origin();
        let key = self
            .keys
            .with_value(|r| r.key_for(origin.as_deref()).map(str::to_string));
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
        self.configure(ep, transport)
    }

    /// How many calls the endpoint is given at once (the run settings' concurrency).
    pub fn call_limit(&self) -> usize {
        self.settings.with_untracked(|s| s.concurrency).max(1)
    }

    /// A client for `ep` over `transport`, with the run settings' limits.
    fn configure<T: Transport>(&self, ep: Endpoint, transport: T) -> Client<T> {
        let limit = self.call_limit();
        let timeout_s = self.settings.with_untracked(|s| s.call_timeout_s);
        Client::new(ep, transport)
            .with_concurrency(limit)
            .with_timeout_ms((timeout_s > 0).then(|| u64::from(timeout_s) * 1000))
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

    /// The model a benchmark runs against: as for a run, but replies are read whole and the
    /// requests are made by the page's network worker ([`FETCH_WORKER_URL`]). Nobody watches a
    /// benchmark's replies arrive, and at its rate (300+ calls a second) the objects of each
    /// `fetch` and of a streamed reply's reads, collected on the page's thread, made collector
    /// pauses of 50 ms and more (`bench/batch_scale.rs`).
    pub fn model_for_batch(&self) -> AppModel {
        if self.is_local() {
            AppModel::Local(self.local.model())
        } else {
            let ep = self.endpoint();
            let transport = WorkerTransport::for_endpoint(&ep, FETCH_WORKER_URL);
            AppModel::Batch(self.configure(ep, transport).with_streaming(false))
        }
    }

    /// The user acted on the connection (chose a preset, typed a URL, tested, kept a page's
    /// server): persist the endpoint unless it is a page's suggestion the user has not kept, and
    /// the settings as they are (what a preset or page suggested becomes theirs). Keys are stored
    /// apart (`persist_keys`), only with the user's opt-in.
    pub fn save(&self) {
        if !self.page_suggested.get_untracked() {
            let ep = SavedEndpoint {
                preset: self.preset.get_untracked(),
                base_url: self.base_url.get_untracked(),
            };
            if let Ok(t) = serde_json::to_string(&ep) {
                let _ = storage::set(Area::Local, storage::key::ENDPOINT, &t);
            }
        }
        self.settings.keep();
    }

    /// Remove every key from memory and storage.
    pub fn forget_keys(&self) {
        self.keys.update_value(KeyRing::clear);
        self.key.set(String::new());
        self.remember.set(false);
        storage::remove(Area::Local, storage::key::KEYS);
        storage::remove(Area::Local, storage::key::LEGACY_API_KEY);
        storage::remove(Area::Session, storage::key::LEGACY_API_KEY);
    }

    /// What the in-tab model needs: one worker computes one thing at a time, and the runtime
    /// follows JSON schemas, so stage 1 asks for structured perspectives.
    pub(crate) fn use_local_settings(&self) {
        self.settings.suggest(|s| {
            s.concurrency = 1;
            s.structured_perspectives = true;
        });
    }

    /// Choose a preset: its default base URL and a concurrency it can take.
    pub fn choose_preset(&self, id: &str) {
        self.preset.set(id.to_string());
        self.page_suggested.set(false);
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
                .suggest(|s| s.concurrency = p.max_concurrency.max(1));
        }
        self.models.set(Vec::new());
        self.report.set(None);
        self.show_key_for_origin();
        self.save();
    }

    /// The model used when one model runs all stages.
    pub fn model(&self) -> String {
        self.settings.with_untracked(|s| s.models.combine.clone())
    }

    /// One model for every stage, the user's choice (saved).
    pub fn set_model_all(&self, name: &str) {
        self.settings.edit(|s| {
            s.models = ethos_engine::settings::StageModels::all(name.trim());
        });
    }

    /// Put a page's suggestion (checked by `suggestion.rs`) in use, in memory: the caller decides
    /// whether it counts as the user's own (`page_suggested`) and saves only then.
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
        // The shipped local server serves four requests at once; streams then run side by side.
        let conc = cfg.concurrency.unwrap_or(4).clamp(1, 16);
        let model = cfg.model.as_deref().map(str::trim).filter(|m| !m.is_empty());
        self.settings.suggest(|s| {
            if let Some(m) = model {
                s.models = ethos_engine::settings::StageModels::all(m);
            }
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
        self.models.set(Vec::new());
        self.show_key_for_origin();
    }

    /// Test the connection: list models (and fill the model field if it is empty); with `probe`,
    /// also make one tiny call to the chosen model to learn what it supports (log-probabilities,
    /// several samples), which later runs use.
    pub async fn test(self, probe: bool) {
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
    }
}

pub fn conn() -> Conn {
    expect_context::<Conn>()
}
