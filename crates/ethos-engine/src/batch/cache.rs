//! The call cache: a call whose exact request (within one task) was answered before is answered
//! from the cache, so a resumed batch re-makes only the calls that had not finished.

use super::*;

/// The cache key of the `occurrence`-th identical request within `scope` (one task). Two keys are
/// equal only if the scope and the whole request (model, messages, decoding, seed, schema) are.
pub fn call_key(scope: &str, req: &ChatRequest, occurrence: u32) -> String {
    let body = serde_json::to_string(req).unwrap_or_default();
    let mut text = String::with_capacity(scope.len() + body.len() + 1);
    text.push_str(scope);
    text.push('\u{1f}');
    text.push_str(&body);
    // Two 64-bit hashes (of the text and of the text behind a marker) make collisions moot.
    let h1 = fnv1a(&text);
    text.insert(0, '\u{2}');
    format!("{h1:016x}{:016x}-{occurrence}", fnv1a(&text))
}

/// Finished calls by key.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CallCache {
    entries: HashMap<String, ChatResponse>,
}

impl CallCache {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn len(&self) -> usize {
        self.entries.len()
    }
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
    pub fn get(&self, key: &str) -> Option<&ChatResponse> {
        self.entries.get(key)
    }
    pub fn insert(&mut self, key: String, response: ChatResponse) {
        self.entries.insert(key, response);
    }
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// One JSON line per entry: `{"key": …, "response": …}`.
    pub fn to_jsonl(&self) -> String {
        let mut keys: Vec<&String> = self.entries.keys().collect();
        keys.sort_unstable();
        let mut out = String::new();
        for k in keys {
            if let Some(line) = self.entries.get(k).and_then(|r| entry_line(k, r)) {
                out.push_str(&line);
                out.push('\n');
            }
        }
        out
    }

    /// Every entry, by key.
    pub fn entries(&self) -> Vec<CacheLine> {
        let mut v: Vec<CacheLine> = self
            .entries
            .iter()
            .map(|(key, response)| CacheLine {
                key: key.clone(),
                response: response.clone(),
            })
            .collect();
        v.sort_unstable_by(|a, b| a.key.cmp(&b.key));
        v
    }

    /// Read lines written by [`entry_line`] / [`CallCache::to_jsonl`]; unreadable lines (a line cut
    /// by a crash) are skipped and counted.
    pub fn extend_from_jsonl(&mut self, text: &str) -> usize {
        let mut bad = 0;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            match serde_json::from_str::<CacheLine>(line) {
                Ok(e) => {
                    self.entries.insert(e.key, e.response);
                }
                Err(_) => bad += 1,
            }
        }
        bad
    }
}

/// One finished call: its cache key and reply (a line of [`CallCache::to_jsonl`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CacheLine {
    pub key: String,
    pub response: ChatResponse,
}

#[derive(Serialize)]
pub(super) struct CacheLineRef<'a> {
    key: &'a str,
    response: &'a ChatResponse,
}

/// One cache entry as a JSON line (no trailing newline).
pub fn entry_line(key: &str, response: &ChatResponse) -> Option<String> {
    serde_json::to_string(&CacheLineRef { key, response }).ok()
}

/// The calls of a round-based run ([`BatchRun::run_round`]): the way a provider's Batch API is
/// driven. A round runs every pending task from the cache; a call not in the cache is not made
/// but queued here (its task stops there and runs again next round), the caller sends the queue
/// as one batch, stores the answers in the cache, and runs the next round. The pipeline's stages
/// make the rounds: perspectives, then comments, then reads (then a judge call), each stage of
/// every item in one round. The results, the stored calls and the outcomes are those of a live
/// run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rounds {
    /// Calls to send in the next batch: (cache key, request), in the order they were asked.
    pub queued: Vec<(String, ChatRequest)>,
    /// Calls the provider's batch answered with an error: given to the pipeline as that call's
    /// error, as a live call's would be.
    pub failed: HashMap<String, ChatError>,
    /// Calls answered by a batch of this run: counted as fresh calls of their task (not as calls
    /// from the cache), as a live run counts them.
    pub fetched: HashSet<String>,
}

/// A chat model that answers repeated requests of one task from the cache and stores every
/// successful fresh reply (then tells `on_store`, so that the caller can persist it at once).
pub struct CachedModel<'a, M> {
    inner: &'a M,
    cache: &'a RefCell<CallCache>,
    scope: String,
    on_store: &'a dyn Fn(&str, &ChatResponse),
    seen: RefCell<HashMap<String, u32>>,
    hits: Cell<u32>,
    fresh: Cell<u32>,
    /// Answer only from the cache: a miss is an error, the model is never called (replays).
    offline: bool,
    /// Round-based: a miss is queued in [`Rounds`] instead of calling the model.
    rounds: Option<&'a RefCell<Rounds>>,
    queued: Cell<u32>,
}

impl<'a, M> CachedModel<'a, M> {
    pub fn new(
        inner: &'a M,
        cache: &'a RefCell<CallCache>,
        scope: impl Into<String>,
        on_store: &'a dyn Fn(&str, &ChatResponse),
    ) -> Self {
        Self {
            inner,
            cache,
            scope: scope.into(),
            on_store,
            seen: RefCell::new(HashMap::new()),
            hits: Cell::new(0),
            fresh: Cell::new(0),
            offline: false,
            rounds: None,
            queued: Cell::new(0),
        }
    }

    /// Queue the calls not in the cache in `rounds` instead of making them.
    pub fn queue_misses(mut self, rounds: &'a RefCell<Rounds>) -> Self {
        self.rounds = Some(rounds);
        self
    }
    /// Calls queued for the next round by this model.
    pub fn queued(&self) -> u32 {
        self.queued.get()
    }

    /// Never call the model: a request not in the cache fails with a message that says so.
    pub fn offline(mut self) -> Self {
        self.offline = true;
        self
    }
    /// Calls answered from the cache.
    pub fn hits(&self) -> u32 {
        self.hits.get()
    }
    /// Calls that reached the model and succeeded.
    pub fn fresh(&self) -> u32 {
        self.fresh.get()
    }

    fn key_for(&self, req: &ChatRequest) -> String {
        let base = call_key(&self.scope, req, 0);
        let mut seen = self.seen.borrow_mut();
        let n = seen.entry(base.clone()).or_insert(0);
        let key = if *n == 0 {
            base
        } else {
            call_key(&self.scope, req, *n)
        };
        *n += 1;
        key
    }
}

impl<M: ChatModel> ChatModel for CachedModel<'_, M> {
    async fn chat(
        &self,
        req: &ChatRequest,
        on_delta: &mut dyn FnMut(&str),
    ) -> Result<ChatResponse, ChatError> {
        let key = self.key_for(req);
        let cached = self.cache.borrow().get(&key).cloned();
        if let Some(resp) = cached {
            let fetched = self
                .rounds
                .is_some_and(|r| r.borrow().fetched.contains(&key));
            if fetched {
                self.fresh.set(self.fresh.get() + 1);
            } else {
                self.hits.set(self.hits.get() + 1);
            }
            if !resp.text.is_empty() {
                on_delta(&resp.text);
            }
            return Ok(resp);
        }
        if self.offline {
            return Err(ChatError::Other(
                "this call had not finished when the batch stopped, so it was not kept".into(),
            ));
        }
        if let Some(rounds) = self.rounds {
            let mut r = rounds.borrow_mut();
            if let Some(e) = r.failed.get(&key) {
                return Err(e.clone());
            }
            r.queued.push((key, req.clone()));
            self.queued.set(self.queued.get() + 1);
            return Err(ChatError::Other("queued for the next batch round".into()));
        }
        let resp = self.inner.chat(req, on_delta).await?;
        self.fresh.set(self.fresh.get() + 1);
        self.cache.borrow_mut().insert(key.clone(), resp.clone());
        (self.on_store)(&key, &resp);
        Ok(resp)
    }
}
