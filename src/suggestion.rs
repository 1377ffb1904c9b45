//! What a page may suggest about the model server: `?llm=URL&model=NAME&preset=ID` in a link, and
//! `ethos-config.json` beside index.html (`scripts/serve.sh` writes one). Both are written by
//! someone else. A suggestion is checked first; it is put in use, unsaved, only when the user has
//! no server of their own on this device (or names exactly theirs); otherwise it is offered and
//! nothing changes until the user accepts. Keys are per origin (`keys.rs`), so whatever a page
//! suggests, a key typed for another server is never sent to it.

use crate::browser;
use crate::connection::{Conn, SavedEndpoint, LOCAL_PRESET};
use crate::keys;
use ethos_providers::preset;
use leptos::prelude::*;
use serde::Deserialize;

/// The optional `ethos-config.json` served beside index.html (also built from `?llm=`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
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

/// Who suggests: a link the user opened, or the site that serves the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Link,
    PageConfig,
}

impl Source {
    pub fn label(self) -> &'static str {
        match self {
            Source::Link => "This link",
            Source::PageConfig => "This site's configuration (ethos-config.json)",
        }
    }
}

/// A checked suggestion, waiting for the user's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Suggestion {
    pub cfg: EmbeddedConfig,
    pub source: Source,
}

const MAX_URL: usize = 2048;
const MAX_MODEL: usize = 200;
const MAX_NOTE: usize = 1000;

/// A suggestion made safe to show and use: an http(s) base URL, a known preset (else
/// "custom"), bounded texts without control characters. `Err` says what is wrong, in words.
pub fn check(mut cfg: EmbeddedConfig) -> Result<EmbeddedConfig, String> {
    if let Some(url) = cfg.base_url.as_deref().map(str::trim) {
        if url.len() > MAX_URL || keys::origin_of(url).is_none() {
            return Err("its server address is not an http(s) URL".into());
        }
        cfg.base_url = Some(url.to_string());
    }
    cfg.preset = cfg
        .preset
        .filter(|p| preset(p).is_some() || p == LOCAL_PRESET);
    let clean = |t: String, max: usize| -> Option<String> {
        let t: String = t.chars().filter(|c| !c.is_control() || *c == '\n').take(max).collect();
        let t = t.trim().to_string();
        (!t.is_empty()).then_some(t)
    };
    cfg.model = cfg.model.and_then(|m| clean(m, MAX_MODEL));
    cfg.note = cfg.note.and_then(|n| clean(n, MAX_NOTE));
    cfg.concurrency = cfg.concurrency.map(|c| c.clamp(1, 16));
    if cfg.base_url.is_none() && cfg.preset.is_none() {
        return Err("it names no server".into());
    }
    Ok(cfg)
}

/// What to do with a checked suggestion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The user has no server of their own here: use it for now, unsaved.
    UseUnsaved,
    /// It names the user's own server (and model, if any): use it as theirs.
    UseAsOwn,
    /// It differs from the user's own: ask.
    Offer,
}

fn same_url(a: &str, b: &str) -> bool {
    a.trim().trim_end_matches('/') == b.trim().trim_end_matches('/')
}

/// The rule: a suggestion replaces nothing the user chose without their answer.
pub fn decide(saved: Option<&SavedEndpoint>, current_model: &str, cfg: &EmbeddedConfig) -> Decision {
    let Some(saved) = saved else {
        return Decision::UseUnsaved;
    };
    let url = cfg
        .base_url
        .clone()
        .or_else(|| cfg.preset.as_deref().and_then(preset).map(|p| p.default_base_url.to_string()))
        .unwrap_or_default();
    let same_server = same_url(&url, &saved.base_url)
        && cfg.preset.as_deref().is_none_or(|p| p == saved.preset);
    let same_model = cfg
        .model
        .as_deref()
        .is_none_or(|m| m.trim() == current_model.trim());
    if same_server && same_model {
        Decision::UseAsOwn
    } else {
        Decision::Offer
    }
}

/// Read `?llm=` (a link) or `./ethos-config.json` (the site) and apply, offer or refuse it.
pub async fn load_embedded_default(conn: Conn) {
    let suggestion = if let Some(url) = browser::query_param("llm").filter(|u| !u.trim().is_empty()) {
        let cfg = EmbeddedConfig {
            preset: browser::query_param("preset"),
            base_url: Some(url),
            model: browser::query_param("model"),
            ..Default::default()
        };
        Some((cfg, Source::Link))
    } else if let Ok(text) = browser::fetch_text("./ethos-config.json").await {
        match serde_json::from_str::<EmbeddedConfig>(&text) {
            Ok(cfg) => Some((cfg, Source::PageConfig)),
            Err(e) => {
                conn.report.set(Some((false, format!("ethos-config.json beside the page is not valid ({e}); using your own settings."))));
                return;
            }
        }
    } else {
        None
    };
    let Some((cfg, source)) = suggestion else {
        // No server named by the page and none chosen on this device, no key: the model in this
        // tab is the one thing that works (nothing is downloaded until the user presses Load).
        if Conn::saved_endpoint().is_none() && conn.key.with_untracked(|k| k.trim().is_empty()) {
            conn.preset.set(LOCAL_PRESET.to_string());
            conn.use_local_settings();
        }
        return;
    };
    let cfg = match check(cfg) {
        Ok(cfg) => cfg,
        Err(why) => {
            conn.report.set(Some((
                false,
                format!("{} suggests a model server, but {why}: ignored; your own settings stay.", source.label()),
            )));
            return;
        }
    };
    match decide(Conn::saved_endpoint().as_ref(), &conn.model(), &cfg) {
        Decision::UseUnsaved => {
            conn.page_suggested.set(true);
            conn.apply_embedded(&cfg);
        }
        Decision::UseAsOwn => conn.apply_embedded(&cfg),
        Decision::Offer => {
            conn.offer.set(Some(Suggestion { cfg, source }));
            return;
        }
    }
    if conn.model().trim().is_empty() {
        conn.test(false).await;
    }
}

/// The user accepted the offer: the suggested server becomes theirs (saved), with no key unless
/// they typed one for its origin before.
pub async fn accept(conn: Conn) {
    let Some(s) = conn.offer.get_untracked() else {
        return;
    };
    conn.offer.set(None);
    conn.page_suggested.set(false);
    conn.apply_embedded(&s.cfg);
    conn.save();
    if conn.model().trim().is_empty() {
        conn.test(false).await;
    }
}
