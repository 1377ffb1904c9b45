//! API keys, one per endpoint origin (scheme, host and port, as the browser's own URL parser
//! reads them): a key typed or remembered for one server is only ever handed to a request whose
//! base URL has that origin, so neither a link, a config file nor a change of provider can send
//! it anywhere else. Remembered keys live in localStorage under [`STORE_KEY`], as a JSON object
//! `{origin: key}`; the rest stay in this tab's memory.

use std::collections::BTreeMap;

/// The origin of `url` (`https://api.openai.com`), read by the browser's own URL parser, so it is
/// the origin `fetch` will connect to; `None` for anything but a valid http(s) URL.
pub fn origin_of(url: &str) -> Option<String> {
    let u = web_sys::Url::new(url.trim()).ok()?;
    let scheme = u.protocol();
    if scheme != "http:" && scheme != "https:" {
        return None;
    }
    let origin = u.origin();
    (!origin.is_empty() && origin != "null").then_some(origin)
}

/// Keys by origin: those typed in this tab, and those remembered on this device.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeyRing {
    typed: BTreeMap<String, String>,
    remembered: BTreeMap<String, String>,
}

impl KeyRing {
    /// The ring as stored (`{origin: key}`); anything unreadable in storage is dropped, never
    /// trusted: a damaged entry costs the user a re-typed key, nothing more.
    pub fn from_stored(json: Option<&str>) -> Self {
        let remembered: BTreeMap<String, String> = json
            .and_then(|t| serde_json::from_str::<BTreeMap<String, serde_json::Value>>(t).ok())
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(origin, v)| {
                let key = v.as_str()?.trim().to_string();
                (!key.is_empty() && origin_of(&origin).as_deref() == Some(origin.as_str()))
                    .then_some((origin, key))
            })
            .collect();
        Self {
            typed: remembered.clone(),
            remembered,
        }
    }

    /// What to store: `None` when nothing is remembered (the entry is then removed).
    pub fn stored(&self) -> Option<String> {
        (!self.remembered.is_empty())
            .then(|| serde_json::to_string(&self.remembered).ok())
            .flatten()
    }

    /// The key for requests to `origin`, if one was typed or remembered for exactly it.
    pub fn key_for(&self, origin: Option<&str>) -> Option<&str> {
        self.typed
            .get(origin?)
            .map(|k| k.trim())
            .filter(|k| !k.is_empty())
    }

    pub fn is_remembered(&self, origin: Option<&str>) -> bool {
        origin.is_some_and(|o| self.remembered.contains_key(o))
    }

    /// The user typed `key` for `origin` (blank removes it); remembered when `remember` is on.
    pub fn set(&mut self, origin: &str, key: &str, remember: bool) {
        let key = key.trim();
        if key.is_empty() {
            self.typed.remove(origin);
            self.remembered.remove(origin);
            return;
        }
        self.typed.insert(origin.to_string(), key.to_string());
        if remember {
            self.remembered.insert(origin.to_string(), key.to_string());
        } else {
            self.remembered.remove(origin);
        }
    }

    /// Turn "remember on this device" on or off for `origin`'s key.
    pub fn set_remember(&mut self, origin: &str, on: bool) {
        match self.typed.get(origin) {
            Some(k) if on => {
                self.remembered.insert(origin.to_string(), k.clone());
            }
            _ => {
                self.remembered.remove(origin);
            }
        }
    }

    /// A key kept before keys were per origin belongs to the endpoint saved beside it (the one
    /// it was sent to); without a readable saved endpoint it is dropped.
    pub fn adopt_legacy(&mut self, key: &str, saved_base_url: Option<&str>) {
        if let Some(origin) = saved_base_url.and_then(origin_of) {
            self.set(&origin, key, true);
        }
    }

    pub fn clear(&mut self) {
        self.typed.clear();
        self.remembered.clear();
    }
}
