//! The model in this tab ("In this browser"): its URL or file, loading with progress, the
//! browser's cache of downloaded models, and the default model beside the page or on the hub.

use crate::storage::{self, Area};
use crate::connection::Conn;
use ethos_engine::chat::ChatError;
use ethos_local::protocol::CachedModel;
use ethos_local::proxy::{Progress, WorkerModel};
use leptos::prelude::*;

/// Where the worker script is served (Trunk's post-build hook copies it into dist/local-model/).
const LOCAL_WORKER_URL: &str = "./local-model/worker.js";
/// The model shipped beside the page, when the deployment has one.
pub const DEFAULT_LOCAL_MODEL_URL: &str = "./models/SmolLM2-135M-Instruct.Q4_1.gguf";
/// Where the model comes from when none ships beside the page: HuggingFaceTB's own GGUF of
/// SmolLM2-360M-Instruct, Q8_0 (every matrix Q8_0: the runtime's fast path), Apache-2.0.
pub const HUB_LOCAL_MODEL_URL: &str = "https://huggingface.co/HuggingFaceTB/SmolLM2-360M-Instruct-GGUF/resolve/main/smollm2-360m-instruct-q8_0.gguf";

/// State of the in-tab model (only used with [`LOCAL_PRESET`]).
#[derive(Clone, Copy)]
pub struct LocalState {
    pub url: RwSignal<String>,
    /// The loaded model's name, once loaded.
    pub loaded: RwSignal<Option<String>>,
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
    pub fn new() -> Self {
        let url = storage::get(Area::Local, storage::key::LOCAL_MODEL_URL)
            .filter(|u| !u.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_LOCAL_MODEL_URL.to_string());
        Self {
            url: RwSignal::new(url),
            loaded: RwSignal::new(None),
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
                "No model ships with this page. Load downloads SmolLM2-360M-Instruct (Q8_0, about 386 MB, Apache-2.0) from Hugging Face once and keeps it in this browser; or paste the URL of another GGUF file (a small Llama, Qwen or Gemma model, served with CORS), or pick one from this computer.".into(),
            )));
        }
    }

    pub fn save_url(&self) {
        let _ = storage::set(Area::Local, storage::key::LOCAL_MODEL_URL, self.url.get_untracked().trim());
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
    /// this browser (the origin-private file system). On success the model name becomes the model for all stages. Progress and
    /// the outcome go to the status line; the outcome is also returned.
    pub async fn load(self, conn: Conn, file: Option<web_sys::File>) -> String {
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
            Ok(ethos_local::proxy::Loaded {
                info,
                from_cache,
                note,
            }) => {
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
                        "Loaded {name} ({}, {} layers{}{}).{}",
                        mb(info.file_bytes as u64),
                        info.n_layers,
                        if info.threads > 1 {
                            format!(", {} threads", info.threads)
                        } else {
                            String::new()
                        },
                        match (from_cache, &note) {
                            (true, _) => ", from this browser's cache",
                            (false, None) => ", kept in this browser's cache",
                            (false, Some(_)) => "",
                        },
                        note.as_deref().map(|n| format!(" {n}")).unwrap_or_default()
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
        self.status_text()
    }

    fn status_text(&self) -> String {
        self.status
            .with_untracked(|s| s.as_ref().map(|(_, m)| m.clone()))
            .unwrap_or_default()
    }

    /// The models kept in this browser (whole, or an interrupted download that a Load resumes).
    pub async fn kept(self) -> Result<Vec<CachedModel>, String> {
        let w = self.worker().map_err(|e| e.to_string())?;
        w.cached().await.map_err(|e| format!("Could not list the kept models: {e}"))
    }

    /// Delete one kept model; the outcome goes to the status line and is returned.
    pub async fn delete_kept(self, key: String, bytes: u64) -> String {
        let result = async { self.worker()?.delete_cached(&key).await }.await;
        let name = kept_name(&key);
        self.status.set(Some(match result {
            Ok(true) => (true, format!("Deleted {name} ({} freed).", mb(bytes))),
            Ok(false) => (true, format!("{name} was not kept any more.")),
            Err(e) => (false, format!("Could not delete {name}: {e}")),
        }));
        self.status_text()
    }

    /// Delete every model kept in this browser's Cache Storage; the outcome goes to the status
    /// line and is returned.
    pub async fn delete_cached(self) -> String {
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
        self.status_text()
    }
}

/// A kept model's name for people: the file name of its URL, or the picked file's name.
pub fn kept_name(key: &str) -> String {
    let name = key
        .strip_prefix("file:")
        .unwrap_or_else(|| key.split(['?', '#']).next().unwrap_or(key).rsplit('/').next().unwrap_or(key));
    if name.is_empty() {
        key.to_string()
    } else {
        name.to_string()
    }
}

/// "98.4 MB" or "49.2 MB of an interrupted download".
pub fn kept_size(bytes: u64, complete: bool) -> String {
    if complete {
        mb(bytes)
    } else {
        format!("{} of an interrupted download (Load resumes it)", mb(bytes))
    }
}
