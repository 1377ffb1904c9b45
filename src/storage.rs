//! Everything the app keeps on the device, and every key it keeps it under: localStorage and
//! sessionStorage for runs and preferences (small), IndexedDB for what grows (a benchmark's
//! finished calls, task outcomes and state), the journal between the two, the one-time move of a
//! benchmark that an earlier version kept in localStorage, and the browser's storage estimate and
//! persistence request. Every failure is an error with a message a user can read; nothing here
//! unwraps.

use crate::browser::{self, js_text, BrowserError};
use idb::{Database, DatabaseEvent, Factory, KeyRange, ObjectStoreParams, Query, TransactionMode};
use idb::TransactionResult;
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

mod journal;
mod legacy;

pub use journal::{journal, journal_done};
use journal::replay_journal;
pub use legacy::migrate_legacy_runs;
use legacy::migrate_legacy_batch;

/// Every localStorage / sessionStorage key of the app (IndexedDB's names are [`Store`]).
pub mod key {
    /// The VITAL file last browsed.
    pub const LAST_FILE: &str = "ethos.file";
    pub const PROJECTOR: &str = "ethos.projector";
    /// `bench` when the benchmark view was open.
    pub const VIEW: &str = "ethos.view";
    /// The in-tab model's GGUF URL.
    pub const LOCAL_MODEL_URL: &str = "ethos.local_model_url";
    /// Remembered API keys, per endpoint origin (`crate::keys`).
    pub const KEYS: &str = "ethos.keys";
    /// The one key of versions before keys were kept per origin (moved once, then removed).
    pub const LEGACY_API_KEY: &str = "ethos.apikey";
    /// The user's own endpoint.
    pub const ENDPOINT: &str = "ethos.endpoint";
    pub const SETTINGS: &str = "ethos.settings";
    /// Where versions before the database kept a saved run, by id, and its baselines (moved once).
    pub const RUN_PREFIX: &str = "ethos.run.";
    pub const BASELINE_PREFIX: &str = "ethos.runb.";
    /// The id of the run on screen.
    pub const CURRENT_RUN: &str = "ethos.current";
    /// The offline copy switched off by the user.
    pub const OFFLINE_OFF: &str = "ethos.offline_off";
    /// Cross-origin isolation asked of the service worker (the in-tab model's threads).
    pub const SW_ISOLATION: &str = "ethos.sw_isolation";
}

/// Which storage area: `Local` survives restarts, `Session` lives with the tab.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    Local,
    Session,
}

thread_local! {
    /// The page's localStorage, asked for once: a benchmark touches it several times per call,
    /// and each `window.localStorage` made a new object for the garbage collector.
    static LOCAL: std::cell::OnceCell<Option<web_sys::Storage>> = const { std::cell::OnceCell::new() };
}

fn storage(area: Area) -> Result<web_sys::Storage, BrowserError> {
    let s = match area {
        Area::Local => LOCAL.with(|l| {
            l.get_or_init(|| browser::window().and_then(|w| w.local_storage().ok().flatten()))
                .clone()
        }),
        Area::Session => browser::window().and_then(|w| w.session_storage().ok().flatten()),
    };
    s.ok_or(BrowserError::NoStorage)
}

pub fn get(area: Area, key: &str) -> Option<String> {
    storage(area).ok()?.get_item(key).ok().flatten()
}

pub fn set(area: Area, key: &str, value: &str) -> Result<(), BrowserError> {
    storage(area)?
        .set_item(key, value)
        .map_err(|e| BrowserError::StorageWrite(js_text(&e)))
}

pub fn remove(area: Area, key: &str) {
    if let Ok(s) = storage(area) {
        let _ = s.remove_item(key);
    }
}

/// All keys of a storage area that start with `prefix`.
pub fn keys_with_prefix(area: Area, prefix: &str) -> Vec<String> {
    let Ok(s) = storage(area) else {
        return Vec::new();
    };
    let n = s.length().unwrap_or(0);
    (0..n)
        .filter_map(|i| s.key(i).ok().flatten())
        .filter(|k| k.starts_with(prefix))
        .collect()
}

const DB_NAME: &str = "ethos-agents";
/// 1: the benchmark's stores; 2: saved runs and their baselines (missing stores are made on
/// every upgrade, so any older database opens).
const DB_VERSION: u32 = 2;
/// Records read per transaction when loading a store (a stored benchmark can hold 25,000
/// calls: reading them in slices, with a yield between, keeps every main-thread task short).
const READ_CHUNK: u32 = 400;

/// The object stores. Keys and values are strings (values are JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Store {
    /// One entry per finished call of the benchmark, keyed by the engine's call key.
    BatchCalls,
    /// One entry per finished task (`item.model.method`).
    BatchOutcomes,
    /// The benchmark's spec (`spec`) and state (`state`).
    BatchMeta,
    /// Saved runs (the run record's JSON), by id.
    Runs,
    /// A saved run's baselines (a JSON array of records), by the run's id.
    RunBaselines,
}

impl Store {
    const ALL: [Store; 5] = [
        Store::BatchCalls,
        Store::BatchOutcomes,
        Store::BatchMeta,
        Store::Runs,
        Store::RunBaselines,
    ];

    fn name(self) -> &'static str {
        match self {
            Store::BatchCalls => "batch_calls",
            Store::BatchOutcomes => "batch_outcomes",
            Store::BatchMeta => "batch_meta",
            Store::Runs => "runs",
            Store::RunBaselines => "run_baselines",
        }
    }
}

/// One change; a list of them is written in one transaction, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    Put {
        store: Store,
        key: String,
        value: String,
    },
    Delete {
        store: Store,
        key: String,
    },
    Clear(Store),
}

impl Op {
    pub fn put(store: Store, key: impl Into<String>, value: impl Into<String>) -> Self {
        Op::Put {
            store,
            key: key.into(),
            value: value.into(),
        }
    }

    fn store(&self) -> Store {
        match self {
            Op::Put { store, .. } | Op::Delete { store, .. } | Op::Clear(store) => *store,
        }
    }

    /// Characters this change stores (what it adds to the storage used, roughly).
    pub fn chars(&self) -> usize {
        match self {
            Op::Put { key, value, .. } => key.len() + value.len(),
            _ => 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StorageError {
    #[error("this browser gives the app no database here (IndexedDB is off or blocked, as in some private windows): {0}")]
    Unavailable(String),
    #[error("the browser refused to store more ({0})")]
    Refused(String),
    #[error("the browser's database failed to read: {0}")]
    Read(String),
}

impl StorageError {
    /// The browser has no database for the app at all (as opposed to refusing one write).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StorageError::Unavailable(_))
    }
}

/// A user's words for an IndexedDB failure: a full quota is named as such.
fn describe(e: &idb::Error) -> String {
    let text = e.to_string();
    if text.contains("QuotaExceeded") || text.to_lowercase().contains("quota") {
        "the storage space for this site is full".to_string()
    } else {
        text
    }
}

thread_local! {
    static DB: RefCell<Option<Rc<Database>>> = const { RefCell::new(None) };
}

/// The app's database, opened (and created or upgraded) on first use.
async fn db() -> Result<Rc<Database>, StorageError> {
    if let Some(db) = DB.with(|d| d.borrow().clone()) {
        return Ok(db);
    }
    let factory = Factory::new().map_err(|e| StorageError::Unavailable(e.to_string()))?;
    let mut request = factory
        .open(DB_NAME, Some(DB_VERSION))
        .map_err(|e| StorageError::Unavailable(e.to_string()))?;
    request.on_upgrade_needed(|event| {
        let Ok(db) = event.database() else {
            return;
        };
        let have = db.store_names();
        for store in Store::ALL {
            if !have.iter().any(|n| n == store.name()) {
                let _ = db.create_object_store(store.name(), ObjectStoreParams::new());
            }
        }
    });
    let db = Rc::new(
        request
            .await
            .map_err(|e| StorageError::Unavailable(e.to_string()))?,
    );
    // Two first uses may open it at once: keep the first.
    Ok(DB.with(|d| d.borrow_mut().get_or_insert(db).clone()))
}

/// Write the changes in one transaction: all of them are stored, or none (a refusal rolls the
/// transaction back, and the caller keeps the changes to try again).
pub async fn write(ops: &[Op]) -> Result<(), StorageError> {
    if ops.is_empty() {
        return Ok(());
    }
    let db = db().await?;
    let mut names: Vec<Store> = ops.iter().map(Op::store).collect();
    names.sort_unstable();
    names.dedup();
    let names: Vec<&str> = names.into_iter().map(Store::name).collect();
    let tx = db
        .transaction(&names, TransactionMode::ReadWrite)
        .map_err(|e| StorageError::Refused(describe(&e)))?;
    for op in ops {
        let store = tx
            .object_store(op.store().name())
            .map_err(|e| StorageError::Refused(describe(&e)))?;
        let issued = match op {
            Op::Put { key, value, .. } => store
                .put(&JsValue::from_str(value), Some(&JsValue::from_str(key)))
                .map(drop),
            Op::Delete { key, .. } => store.delete(Query::Key(JsValue::from_str(key))).map(drop),
            Op::Clear(_) => store.clear().map(drop),
        };
        if let Err(e) = issued {
            let _ = tx.abort();
            return Err(StorageError::Refused(describe(&e)));
        }
    }
    match tx.await {
        Ok(TransactionResult::Committed) => Ok(()),
        Ok(TransactionResult::Aborted) => Err(StorageError::Refused(
            "the write was rolled back, most likely because the storage space for this site is full".into(),
        )),
        Err(e) => Err(StorageError::Refused(describe(&e))),
    }
}

/// Every entry of a store, in key order, read a slice at a time with a yield to the page
/// between slices. Entries that are not strings (written by something else) are counted in
/// the second value and left out.
pub async fn read_all(store: Store) -> Result<(Vec<(String, String)>, usize), StorageError> {
    let db = db().await?;
    let read = |e: idb::Error| StorageError::Read(e.to_string());
    let mut out: Vec<(String, String)> = Vec::new();
    let mut foreign = 0usize;
    let mut after: Option<JsValue> = None;
    loop {
        let tx = db
            .transaction(&[store.name()], TransactionMode::ReadOnly)
            .map_err(read)?;
        let s = tx.object_store(store.name()).map_err(read)?;
        let range = match &after {
            Some(k) => Some(Query::KeyRange(
                KeyRange::lower_bound(k, Some(true)).map_err(read)?,
            )),
            None => None,
        };
        let keys = s
            .get_all_keys(range.clone(), Some(READ_CHUNK))
            .map_err(read)?
            .await
            .map_err(read)?;
        let values = s
            .get_all(range, Some(READ_CHUNK))
            .map_err(read)?
            .await
            .map_err(read)?;
        let n = keys.len();
        after = keys.last().cloned();
        for (k, v) in keys.into_iter().zip(values) {
            match (k.as_string(), v.as_string()) {
                (Some(k), Some(v)) => out.push((k, v)),
                _ => foreign += 1,
            }
        }
        if n < READ_CHUNK as usize {
            break;
        }
        gloo_timers::future::TimeoutFuture::new(0).await;
    }
    Ok((out, foreign))
}

/// One entry, if stored.
pub async fn get_entry(store: Store, key: &str) -> Result<Option<String>, StorageError> {
    let db = db().await?;
    let read = |e: idb::Error| StorageError::Read(e.to_string());
    let tx = db
        .transaction(&[store.name()], TransactionMode::ReadOnly)
        .map_err(read)?;
    let s = tx.object_store(store.name()).map_err(read)?;
    let v = s
        .get(Query::Key(JsValue::from_str(key)))
        .map_err(read)?
        .await
        .map_err(read)?;
    Ok(v.and_then(|v| v.as_string()))
}

/// What getting the database ready found (once per page; see [`prepare`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    /// Changes of the last page's final moments moved from the journal.
    pub journal: Result<usize, StorageError>,
    /// Entries of an earlier version's benchmark moved from localStorage.
    pub legacy_batch: Result<usize, StorageError>,
    /// Entries of an earlier version's saved runs moved from localStorage.
    pub legacy_runs: Result<usize, StorageError>,
}

thread_local! {
    static PREPARED: RefCell<Option<futures::future::Shared<futures::future::LocalBoxFuture<'static, Prepared>>>> =
        const { RefCell::new(None) };
}

/// Get the database ready before anything reads it: the journal replayed, then what earlier
/// versions kept in localStorage moved. Done once per page; every caller waits for the same.
pub async fn prepare() -> Prepared {
    use futures::FutureExt;
    let fut = PREPARED.with(|p| {
        p.borrow_mut()
            .get_or_insert_with(|| {
                async {
                    let journal = replay_journal().await;
                    let legacy_batch = migrate_legacy_batch().await;
                    let legacy_runs = migrate_legacy_runs().await;
                    Prepared {
                        journal,
                        legacy_batch,
                        legacy_runs,
                    }
                }
                .boxed_local()
                .shared()
            })
            .clone()
    });
    fut.await
}

/// What the browser says this site uses and may use, in bytes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    pub usage: f64,
    pub quota: f64,
}

fn storage_manager() -> Option<web_sys::StorageManager> {
    let nav = browser::window()?.navigator();
    let sm = js_sys::Reflect::get(&nav, &JsValue::from_str("storage")).ok()?;
    // Missing outside secure contexts (plain http on a LAN address).
    if !sm.is_object() {
        return None;
    }
    Some(sm.unchecked_into())
}

fn number(v: &JsValue, field: &str) -> Option<f64> {
    js_sys::Reflect::get(v, &JsValue::from_str(field))
        .ok()?
        .as_f64()
        .filter(|n| n.is_finite() && *n >= 0.0)
}

/// `navigator.storage.estimate()`, or `None` where the browser offers none.
pub async fn estimate() -> Option<Estimate> {
    let promise = storage_manager()?.estimate().ok()?;
    let v = JsFuture::from(promise).await.ok()?;
    Some(Estimate {
        usage: number(&v, "usage")?,
        quota: number(&v, "quota")?,
    })
}

/// Ask the browser to keep this site's data under storage pressure
/// (`navigator.storage.persist()`): `Some(granted)`, or `None` where it cannot be asked.
pub async fn persist() -> Option<bool> {
    let sm = storage_manager()?;
    if let Ok(p) = sm.persisted() {
        if JsFuture::from(p).await.ok()?.as_bool() == Some(true) {
            return Some(true);
        }
    }
    let p = sm.persist().ok()?;
    JsFuture::from(p).await.ok()?.as_bool()
}

/// "12.3 MB": bytes for people.
pub fn size_text(bytes: f64) -> String {
    let b = bytes.max(0.0);
    if b >= 1e9 {
        format!("{:.1} GB", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.1} MB", b / 1e6)
    } else if b >= 1e3 {
        format!("{:.0} kB", b / 1e3)
    } else {
        format!("{b:.0} B")
    }
}
