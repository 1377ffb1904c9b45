//! The app's service worker (`sw.js`, beside index.html): registering it, the state of the
//! offline copy, the update offer (a new build waits until the user reloads: never forced), and
//! the cross-origin isolation switch the same worker serves ("Use every core").
//!
//! Every browser call that can fail is checked; without service workers (an insecure context, a
//! browser that blocks them) the app runs as before and says so.

use crate::browser;
use crate::storage::{self, Area};
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::{closure::Closure, JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{ServiceWorker, ServiceWorkerContainer, ServiceWorkerRegistration, ServiceWorkerState};

/// The worker, beside index.html: its scope is the app's directory, under any sub-path.
const SW_URL: &str = "./sw.js";
/// How often an open page asks the host for a new build (also when it comes back online or
/// into view).
const UPDATE_CHECK_MS: i32 = 60 * 60 * 1000;
/// How long to wait for the worker's answer to a message, and to one that fetches the files.
const ANSWER_MS: i32 = 20_000;
const FILL_MS: i32 = 10 * 60 * 1000;

#[derive(Debug, Clone, PartialEq)]
pub enum OfflineState {
    /// No service workers here (the reason in words).
    Unavailable(String),
    /// The user removed the offline copy.
    Off,
    /// The worker is being installed (fetching the files it keeps).
    Preparing,
    /// Everything the app needs offline is kept (the build's version).
    Ready(String),
    Failed(String),
}

/// The offline copy and the update offer (a context of the whole page).
#[derive(Clone, Copy)]
pub struct Offline {
    pub state: RwSignal<OfflineState>,
    /// A new build is installed and waits for the user's reload.
    pub update: RwSignal<bool>,
    /// The user pressed reload: the next change of worker reloads the page.
    reloading: StoredValue<bool>,
}

pub fn offline() -> Offline {
    expect_context::<Offline>()
}

fn js_text(v: &JsValue) -> String {
    v.as_string()
        .or_else(|| v.dyn_ref::<js_sys::Error>().map(|e| String::from(e.message())))
        .unwrap_or_else(|| "unknown error".to_string())
}

/// `navigator.serviceWorker`, when this page may use it.
fn container() -> Option<ServiceWorkerContainer> {
    let nav = browser::window()?.navigator();
    js_sys::Reflect::get(&nav, &"serviceWorker".into())
        .ok()
        .filter(|v| !v.is_undefined() && !v.is_null())
        .and_then(|v| v.dyn_into().ok())
}

fn controller() -> Option<ServiceWorker> {
    container().and_then(|c| c.controller())
}

async fn await_promise(p: Result<js_sys::Promise, JsValue>) -> Result<JsValue, String> {
    let p = p.map_err(|e| js_text(&e))?;
    JsFuture::from(p).await.map_err(|e| js_text(&e))
}

/// Register `sw.js` (a no-op when it is already registered and unchanged).
async fn register() -> Result<ServiceWorkerRegistration, String> {
    let c = container().ok_or("service workers are not available here")?;
    let opts = web_sys::RegistrationOptions::new();
    opts.set_scope("./");
    opts.set_update_via_cache(web_sys::ServiceWorkerUpdateViaCache::None);
    let reg = await_promise(Ok(c.register_with_options(SW_URL, &opts))).await?;
    reg.dyn_into().map_err(|_| "the browser returned no registration".to_string())
}

/// The active worker, once there is one.
async fn ready_worker() -> Result<ServiceWorker, String> {
    let c = container().ok_or("service workers are not available here")?;
    let reg: ServiceWorkerRegistration = await_promise(c.ready())
        .await?
        .dyn_into()
        .map_err(|_| "the browser returned no registration".to_string())?;
    reg.active().ok_or_else(|| "the service worker is not active".to_string())
}

/// Send `msg` to `worker` and wait for its answer (an object; `{error}` becomes an error).
async fn ask(worker: &ServiceWorker, msg: serde_json::Value) -> Result<serde_json::Value, String> {
    ask_within(worker, msg, ANSWER_MS).await
}

async fn ask_within(
    worker: &ServiceWorker,
    msg: serde_json::Value,
    within_ms: i32,
) -> Result<serde_json::Value, String> {
    let channel = web_sys::MessageChannel::new().map_err(|e| js_text(&e))?;
    let port = channel.port1();
    let answer = js_sys::Promise::new(&mut |resolve, reject| {
        let on_message = Closure::once_into_js(move |e: web_sys::MessageEvent| {
            let _ = resolve.call1(&JsValue::NULL, &e.data());
        });
        port.set_onmessage(Some(on_message.unchecked_ref()));
        // A worker that never answers (e.g. an older build's) must not leave the page waiting.
        let give_up = Closure::once_into_js(move || {
            let _ = reject.call1(&JsValue::NULL, &"the service worker did not answer".into());
        });
        if let Some(w) = browser::window() {
            let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(give_up.unchecked_ref(), within_ms);
        }
    });
    let text = serde_json::to_string(&msg).map_err(|e| e.to_string())?;
    let msg = js_sys::JSON::parse(&text).map_err(|e| js_text(&e))?;
    worker
        .post_message_with_transferable(&msg, &js_sys::Array::of1(&channel.port2()))
        .map_err(|e| js_text(&e))?;
    let reply = JsFuture::from(answer).await.map_err(|e| js_text(&e))?;
    let text = js_sys::JSON::stringify(&reply)
        .ok()
        .and_then(|s| s.as_string())
        .ok_or("the service worker's answer is not JSON")?;
    let reply: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("the service worker's answer: {e}"))?;
    match reply.get("error").and_then(|e| e.as_str()) {
        Some(e) => Err(format!("the service worker says: {e}")),
        None => Ok(reply),
    }
}

fn on(target: &web_sys::EventTarget, event: &str, f: impl FnMut() + 'static) {
    let f = Closure::<dyn FnMut()>::new(f);
    let _ = target.add_event_listener_with_callback(event, f.as_ref().unchecked_ref());
    f.forget(); // listeners of the page's whole life
}

fn check_for_update(reg: &ServiceWorkerRegistration) {
    let p = reg.update();
    // Offline or the host unreachable: the check fails quietly and runs again later.
    spawn_local(async move {
        let _ = await_promise(p).await;
    });
}

impl Offline {
    pub fn new() -> Self {
        Self {
            state: RwSignal::new(OfflineState::Preparing),
            update: RwSignal::new(false),
            reloading: StoredValue::new(false),
        }
    }

    /// Register the worker (unless the user removed the offline copy) and follow it: the copy's
    /// state, and new builds, which are offered and never forced.
    pub async fn start(self) {
        if storage::get(Area::Local, storage::key::OFFLINE_OFF).as_deref() == Some("1") {
            self.state.set(OfflineState::Off);
            return;
        }
        let Some(c) = container() else {
            self.state.set(OfflineState::Unavailable(
                "this browser offers no service workers on this page (they need https or localhost, and site data allowed)".into(),
            ));
            return;
        };
        let reg = match register().await {
            Ok(r) => r,
            Err(e) => {
                self.state.set(OfflineState::Failed(e));
                return;
            }
        };
        let this = self;
        let r = reg.clone();
        let on_found = Closure::<dyn FnMut()>::new(move || {
            if let Some(w) = r.installing() {
                this.watch(w);
            }
        });
        reg.set_onupdatefound(Some(on_found.as_ref().unchecked_ref()));
        on_found.forget();
        if let Some(w) = reg.installing() {
            self.watch(w);
        }
        if reg.waiting().is_some() && c.controller().is_some() {
            self.update.set(true);
        }
        // A new worker took over: after the user's reload request, reload; the first worker of
        // a fresh visit taking over only means the copy is ready.
        let on_change = Closure::<dyn FnMut()>::new(move || {
            if this.reloading.get_value() {
                if let Some(w) = browser::window() {
                    let _ = w.location().reload();
                }
            } else {
                spawn_local(this.refresh());
            }
        });
        c.set_oncontrollerchange(Some(on_change.as_ref().unchecked_ref()));
        on_change.forget();
        if let Some(w) = browser::window() {
            let r = reg.clone();
            on(&w, "online", move || check_for_update(&r));
            if let Some(doc) = w.document() {
                let r = reg.clone();
                let d = doc.clone();
                on(&doc, "visibilitychange", move || {
                    if d.visibility_state() == web_sys::VisibilityState::Visible {
                        check_for_update(&r);
                    }
                });
            }
            let r = reg.clone();
            let tick = Closure::<dyn FnMut()>::new(move || check_for_update(&r));
            let _ = w.set_interval_with_callback_and_timeout_and_arguments_0(
                tick.as_ref().unchecked_ref(),
                UPDATE_CHECK_MS,
            );
            tick.forget();
        }
        self.refresh().await;
    }

    /// Follow a worker being installed: a newer build beside the one running this page is
    /// offered; a first install that fails is reported.
    fn watch(self, w: ServiceWorker) {
        let w2 = w.clone();
        let on_state = Closure::<dyn FnMut()>::new(move || match w2.state() {
            ServiceWorkerState::Installed if controller().is_some() => self.update.set(true),
            ServiceWorkerState::Redundant if controller().is_none() => self.state.set(OfflineState::Failed(
                "the files could not all be fetched; it is tried again at the next visit".into(),
            )),
            _ => {}
        });
        w.set_onstatechange(Some(on_state.as_ref().unchecked_ref()));
        on_state.forget();
    }

    /// Ask the worker in charge of this page whether its copy is complete.
    async fn refresh(self) {
        let Some(w) = controller() else {
            // Not yet in charge (a first visit): it takes over once its copy is complete.
            if !matches!(self.state.get_untracked(), OfflineState::Failed(_)) {
                self.state.set(OfflineState::Preparing);
            }
            return;
        };
        let mut answer = ask(&w, serde_json::json!({"type": "status"})).await;
        if matches!(&answer, Ok(s) if s.get("offline").and_then(|v| v.as_bool()) == Some(false)) {
            // In charge but its copy is incomplete (removed, or evicted by the browser): refill.
            self.state.set(OfflineState::Preparing);
            answer = ask_within(&w, serde_json::json!({"type": "fill"}), FILL_MS).await;
        }
        self.state.set(match answer {
            Ok(s) => {
                let version = s.get("version").and_then(|v| v.as_str()).unwrap_or("").to_string();
                if s.get("offline").and_then(|v| v.as_bool()) == Some(true) {
                    OfflineState::Ready(version)
                } else if version == "none" {
                    OfflineState::Failed("this build has no offline manifest (built without scripts/sw_manifest.py)".into())
                } else {
                    OfflineState::Preparing
                }
            }
            Err(e) => OfflineState::Failed(e),
        });
    }

    /// The user's "Reload": the waiting build takes over, then the page reloads.
    pub async fn apply_update(self) {
        self.reloading.set_value(true);
        let waiting = match container() {
            Some(c) => await_promise(Ok(c.get_registration()))
                .await
                .ok()
                .and_then(|r| r.dyn_into::<ServiceWorkerRegistration>().ok())
                .and_then(|r| r.waiting()),
            None => None,
        };
        match waiting {
            // controllerchange reloads the page.
            Some(w) => {
                if ask(&w, serde_json::json!({"type": "skip-waiting"})).await.is_err() {
                    reload();
                }
            }
            None => reload(),
        }
    }

    /// Remove the offline copy: the worker's caches (not the in-tab models': the model panel
    /// deletes those) and the worker itself; it is not registered again until the user asks.
    pub async fn forget(self) -> Result<(), String> {
        let _ = storage::set(Area::Local, storage::key::OFFLINE_OFF, "1");
        storage::remove(Area::Local, storage::key::SW_ISOLATION);
        let c = container().ok_or("service workers are not available here")?;
        if let Some(w) = c.controller() {
            ask(&w, serde_json::json!({"type": "forget"})).await?;
        }
        let regs = await_promise(Ok(c.get_registrations())).await?;
        for reg in js_sys::Array::from(&regs).iter() {
            if let Ok(reg) = reg.dyn_into::<ServiceWorkerRegistration>() {
                await_promise(reg.unregister()).await?;
            }
        }
        self.update.set(false);
        self.state.set(OfflineState::Off);
        Ok(())
    }

    /// Keep an offline copy again (after [`Offline::forget`]).
    pub async fn keep(self) {
        storage::remove(Area::Local, storage::key::OFFLINE_OFF);
        self.state.set(OfflineState::Preparing);
        self.start().await;
    }
}

fn reload() {
    if let Some(w) = browser::window() {
        let _ = w.location().reload();
    }
}

/// Whether the page is cross-origin isolated (SharedArrayBuffer: the in-tab model's threaded
/// build), and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// The host sends COOP/COEP itself.
    ByHost,
    /// The app's service worker adds them (the user asked for it).
    ByServiceWorker,
    /// Not isolated, but the service worker can make it so (after one reload).
    Possible,
    /// Not isolated and no service worker here (e.g. not a secure context).
    Impossible,
}

pub fn isolation() -> Isolation {
    let Some(w) = browser::window() else {
        return Isolation::Impossible;
    };
    let isolated = js_sys::Reflect::get(&w, &"crossOriginIsolated".into())
        .ok()
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    let asked = storage::get(Area::Local, storage::key::SW_ISOLATION).as_deref() == Some("1");
    match (isolated, container().is_some()) {
        (true, _) if asked && controller().is_some() => Isolation::ByServiceWorker,
        (true, _) => Isolation::ByHost,
        (false, true) => Isolation::Possible,
        (false, false) => Isolation::Impossible,
    }
}

/// Ask the service worker to add the isolation headers (registering it if the user had removed
/// the offline copy), then reload so that it serves the page with them.
pub async fn enable_isolation() -> Result<(), String> {
    storage::remove(Area::Local, storage::key::OFFLINE_OFF);
    register().await?;
    let w = ready_worker().await?;
    ask(&w, serde_json::json!({"type": "isolation", "on": true})).await?;
    storage::set(Area::Local, storage::key::SW_ISOLATION, "1").map_err(|e| e.to_string())?;
    reload();
    Ok(())
}

/// Stop adding the isolation headers and reload without them (the offline copy stays).
pub async fn disable_isolation() -> Result<(), String> {
    let w = ready_worker().await?;
    ask(&w, serde_json::json!({"type": "isolation", "on": false})).await?;
    storage::remove(Area::Local, storage::key::SW_ISOLATION);
    reload();
    Ok(())
}
