//! The fault server: routing, fault selection, counting, and the handle tests hold.

use crate::batches::{BatchControl, BatchStats, Batches};
use crate::fault::{Fault, MODEL_PREFIX};
use crate::http::{read_request, ReadError, Request, Step};
use crate::reply::{
    chat_response, cors_headers, error_body, json_response, models_body, ChatCall, OkReply,
    Protocol,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{SocketAddr, TcpListener as StdListener};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One answered request, as recorded in the stats (never any header value: keys stay out).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestLog {
    pub seq: u64,
    pub method: String,
    pub path: String,
    /// "openai", "anthropic", "models", "control", "preflight" or "unknown".
    pub kind: String,
    pub model: Option<String>,
    /// The fault answered, with its parameter (`429-retry-after=1`).
    pub fault: Option<String>,
    pub stream: bool,
    pub logprobs: bool,
    pub top_logprobs: u32,
    pub n: u32,
    /// Lower-cased names of the request headers (values are never recorded).
    pub header_names: Vec<String>,
    pub origin: Option<String>,
}

/// Counts for tests to assert on. Control requests and CORS preflights are not counted in
/// `total` / `by_model` / `by_fault`, only in `preflights`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// API requests (chat and models).
    pub total: u64,
    /// Chat requests per model name.
    pub by_model: BTreeMap<String, u64>,
    /// API requests per fault kind (`Fault::kind`).
    pub by_fault: BTreeMap<String, u64>,
    pub by_path: BTreeMap<String, u64>,
    pub preflights: u64,
    /// The first [`MAX_LOGGED`] API requests, in arrival order (counts above cover them all).
    pub requests: Vec<RequestLog>,
}

/// How many requests `Stats::requests` keeps (a long benchmark must not grow memory forever).
pub const MAX_LOGGED: usize = 10_000;

impl Stats {
    pub fn model(&self, model: &str) -> u64 {
        self.by_model.get(model).copied().unwrap_or(0)
    }
    pub fn fault(&self, kind: &str) -> u64 {
        self.by_fault.get(kind).copied().unwrap_or(0)
    }
}

/// Picks a fault from the request's content (e.g. fail only the calls of one perspective); it is
/// consulted when neither the script nor a `fault:` model name chose a fault.
pub type FaultRule = Arc<dyn Fn(&ChatCall) -> Option<Fault> + Send + Sync>;

/// Decides the normal reply from the request (e.g. answer by stage in engine tests).
pub type Responder = Arc<dyn Fn(&ChatCall) -> OkReply + Send + Sync>;

/// Settings that can be changed at run time (`POST /_control/config`, or the handle).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// The reply used for `ok` when no responder is set.
    pub reply: OkReply,
    /// Latency added to every `ok` reply (benchmarks).
    pub latency_ms: u64,
    /// Models listed by `/v1/models`.
    pub models: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            reply: OkReply::default(),
            latency_ms: 0,
            models: vec!["fault-server-model".into(), "fault:ok".into()],
        }
    }
}

#[derive(Default)]
struct Inner {
    script: VecDeque<Fault>,
    per_model_seen: HashMap<String, usize>,
    stats: Stats,
    config: Config,
    seq: u64,
}

struct Shared {
    inner: Mutex<Inner>,
    batches: Mutex<Batches>,
    /// Bumped by `FaultServer::release`: held replies wait for the next change.
    release: tokio::sync::watch::Sender<u64>,
    responder: Mutex<Option<Responder>>,
    fault_rule: Mutex<Option<FaultRule>>,
    /// While true, chat requests wait after being read (see [`FaultServer::hold`]).
    held: tokio::sync::watch::Sender<bool>,
    waiting: std::sync::atomic::AtomicUsize,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
    fn batches(&self) -> MutexGuard<'_, Batches> {
        self.batches.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running fault server. Dropping the handle stops it.
pub struct FaultServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FaultServer {
    /// Start on 127.0.0.1 with an ephemeral port, on its own thread (works from any context:
    /// a tokio test, a plain test, a futures executor).
    pub fn start() -> std::io::Result<FaultServer> {
        FaultServer::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), Config::default())
    }

    pub fn start_on(addr: SocketAddr, config: Config) -> std::io::Result<FaultServer> {
        let listener = StdListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner {
                config,
                ..Inner::default()
            }),
            batches: Mutex::new(Batches::default()),
            responder: Mutex::new(None),
            fault_rule: Mutex::new(None),
            release: tokio::sync::watch::channel(0).0,
            held: tokio::sync::watch::channel(false).0,
            waiting: Default::default(),
        });
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let state = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("fault-server-{}", addr.port()))
            .spawn(move || {
                rt.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => l,
                    Err(e) => {
                        eprintln!("fault server: cannot listen: {e}");
                        return;
                    }
                };
                tokio::pin!(rx);
                loop {
                    tokio::select! {
                        _ = &mut rx => break,
                        accepted = listener.accept() => {
                            if let Ok((stream, _)) = accepted {
                                let state = state.clone();
                                tokio::spawn(async move { handle_connection(stream, state).await });
                            }
                        }
                    }
                }
            });
            })?;
        Ok(FaultServer {
            addr,
            shared,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://127.0.0.1:PORT/v1`, the base URL a client is configured with.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Replace the scripted queue: successive API requests get these faults, then the
    /// model-name rule applies again.
    pub fn script(&self, faults: impl IntoIterator<Item = Fault>) {
        self.shared.lock().script = faults.into_iter().collect();
    }

    pub fn stats(&self) -> Stats {
        self.shared.lock().stats.clone()
    }

    /// Clear the script, the counts and the per-model sequence positions (keeps the config).
    pub fn reset(&self) {
        let mut g = self.shared.lock();
        g.script.clear();
        g.per_model_seen.clear();
        g.stats = Stats::default();
    }

    pub fn set_config(&self, config: Config) {
        self.shared.lock().config = config;
    }

    pub fn config(&self) -> Config {
        self.shared.lock().config.clone()
    }

    /// Set the default reply texts (one per choice).
    pub fn set_texts(&self, texts: Vec<String>) {
        if !texts.is_empty() {
            self.shared.lock().config.reply.texts = texts;
        }
    }

    /// Decide each `ok` reply from the request (overrides the configured reply).
    pub fn set_responder(&self, f: impl Fn(&ChatCall) -> OkReply + Send + Sync + 'static) {
        *self
            .shared
            .responder
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(f));
    }

    /// Choose faults from each request's content (`None` clears the rule).
    pub fn set_fault_rule(&self, rule: Option<FaultRule>) {
        *self
            .shared
            .fault_rule
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = rule;
    }

    /// What the Batch APIs ([`crate::batches`]) saw.
    pub fn batch_stats(&self) -> BatchStats {
        self.shared.batches().stats.clone()
    }

    /// How batches progress (lines answered per poll, hold).
    pub fn set_batch_control(&self, control: BatchControl) {
        self.shared.batches().control = control;
    }

    /// Let every reply held by the `hold` fault go (those that arrived before this call).
    pub fn release(&self) {
        self.shared.release.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Hold every chat request (`/chat/completions`, `/messages`) once read, until `hold(false)`
    /// releases them all; model lists and preflights still answer. Shows a run in progress.
    pub fn hold(&self, on: bool) {
        self.shared.held.send_replace(on);
    }

    /// How many chat requests are being held now.
    pub fn held_requests(&self) -> usize {
        self.shared.waiting.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Block the calling thread until the server stops (for the binary).
    pub fn wait(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for FaultServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Wait until the release count differs from `since` (at once if it already does); the new
/// count, or None when the client went away (or sent something it should not) first.
async fn release_after(
    shared: &Shared,
    stream: &mut tokio::net::TcpStream,
    since: u64,
) -> Option<u64> {
    let mut released = shared.release.subscribe();
    let mut byte = [0u8; 1];
    if *released.borrow_and_update() == since {
        tokio::select! {
            _ = released.changed() => {}
            _ = stream.read(&mut byte) => return None,
        }
    }
    let now = *released.borrow();
    Some(now)
}

async fn handle_connection(mut stream: tokio::net::TcpStream, shared: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    // Releases from now on free this request's held reply (the test sees it counted after this).
    let generation = *shared.release.borrow();
    let steps = match read_request(&mut stream).await {
        Ok(Some(req)) => {
            let path = req.path.trim_end_matches('/');
            if req.method == "POST" && (path.ends_with("/chat/completions") || path.ends_with("/messages")) {
                let mut held = shared.held.subscribe();
                shared.waiting.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let _ = held.wait_for(|h| !*h).await;
                shared.waiting.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            }
            route(&shared, &req)
        }
        Ok(None) | Err(ReadError::Closed) => return,
        Err(ReadError::Bad(status, msg)) => json_response(
            status,
            &error_body(Protocol::OpenAi, status, &msg, None),
            None,
            &[],
        ),
    };
    // The release count this reply has seen (`Step::WaitNextRelease`).
    let mut seen = generation;
    for step in steps {
        match step {
            Step::Write(bytes) => {
                if stream.write_all(&bytes).await.is_err() {
                    return;
                }
                if stream.flush().await.is_err() {
                    return;
                }
            }
            Step::Sleep(ms) => tokio::time::sleep(std::time::Duration::from_millis(ms)).await,
            // Close without finishing the body framing (chunked terminator or Content-Length):
            // the client gets what was sent, then an incomplete-body error.
            Step::Abort => return,
            Step::WaitRelease => match release_after(&shared, &mut stream, generation).await {
                Some(_) => {}
                None => return,
            },
            Step::WaitNextRelease => match release_after(&shared, &mut stream, seen).await {
                Some(now) => seen = now,
                None => return,
            },
            Step::WaitClose => {
                let mut buf = [0u8; 256];
                while let Ok(n) = stream.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                }
                return;
            }
        }
    }
    let _ = stream.shutdown().await;
}

fn protocol_of(req: &Request) -> Protocol {
    if req.header("anthropic-version").is_some() || req.header("x-api-key").is_some() {
        Protocol::Anthropic
    } else {
        Protocol::OpenAi
    }
}

fn route(shared: &Shared, req: &Request) -> Vec<Step> {
    let origin = req.header("origin").map(str::to_string);
    let origin = origin.as_deref();
    let path = req.path.trim_end_matches('/');
    let mut log = RequestLog {
        seq: 0,
        method: req.method.clone(),
        path: req.path.clone(),
        kind: "unknown".into(),
        model: None,
        fault: None,
        stream: false,
        logprobs: false,
        top_logprobs: 0,
        n: 1,
        header_names: req.headers.iter().map(|(n, _)| n.clone()).collect(),
        origin: origin.map(str::to_string),
    };

    if req.method == "OPTIONS" {
        shared.lock().stats.preflights += 1;
        let mut headers = cors_headers(origin);
        headers.push((
            "Access-Control-Allow-Methods".into(),
            "GET, POST, OPTIONS".into(),
        ));
        let allow = req.header("access-control-request-headers").unwrap_or("content-type, authorization, x-api-key, anthropic-version, anthropic-dangerous-direct-browser-access");
        headers.push(("Access-Control-Allow-Headers".into(), allow.to_string()));
        headers.push(("Access-Control-Max-Age".into(), "600".into()));
        headers.push(("Access-Control-Allow-Private-Network".into(), "true".into()));
        headers.push(("Content-Length".into(), "0".into()));
        return vec![Step::Write(crate::http::head(204, &headers))];
    }

    if let Some(ctl) = path.strip_prefix("/_control/") {
        return control(shared, req, ctl, origin);
    }
    if crate::batches::is_batch_path(path) {
        return batch_route(shared, req, origin);
    }

    let protocol = protocol_of(req);
    if path.ends_with("/models") && req.method == "GET" {
        log.kind = "models".into();
        let fault = next_fault(shared, None);
        let fault = match fault {
            Ok(f) => f,
            Err(e) => {
                return json_response(
                    400,
                    &error_body(protocol, 400, &e, Some("model")),
                    origin,
                    &[],
                )
            }
        };
        log.fault = Some(fault.to_string());
        count(shared, log, fault, None);
        let models = shared.lock().config.models.clone();
        return match fault {
            Fault::Ok
            | Fault::LogprobsUnsupported
            | Fault::NoDone
            | Fault::Trickle { .. }
            | Fault::Huge { .. }
            | Fault::InvalidUtf8 => {
                json_response(200, &models_body(protocol, &models), origin, &[])
            }
            Fault::SlowFirstByte { ms } | Fault::Latency { ms } => {
                let mut s = vec![Step::Sleep(ms)];
                s.extend(json_response(
                    200,
                    &models_body(protocol, &models),
                    origin,
                    &[],
                ));
                s
            }
            Fault::EmptyChoices => json_response(200, &models_body(protocol, &[]), origin, &[]),
            Fault::InvalidJson => json_response(200, b"{\"data\": [", origin, &[]),
            Fault::Cut => {
                let mut s = json_response(200, &models_body(protocol, &models), origin, &[]);
                if let Some(Step::Write(b)) = s.first_mut() {
                    let keep = b.len().saturating_sub(10);
                    b.truncate(keep);
                }
                s.push(Step::Abort);
                s
            }
            other => {
                let call = ChatCall::from_json(protocol, &json!({"model": ""}));
                chat_response(other, &call, &OkReply::default(), "models", origin)
            }
        };
    }

    let is_chat = path.ends_with("/chat/completions") || path.ends_with("/messages");
    if !is_chat || req.method != "POST" {
        return json_response(
            404,
            &error_body(
                protocol,
                404,
                &format!("no route for {} {}", req.method, req.path),
                None,
            ),
            origin,
            &[],
        );
    }
    let protocol = if path.ends_with("/messages") {
        Protocol::Anthropic
    } else {
        Protocol::OpenAi
    };
    let body: Value = match serde_json::from_slice(&req.body) {
        Ok(v) => v,
        Err(e) => {
            return json_response(
                400,
                &error_body(
                    protocol,
                    400,
                    &format!("request body is not JSON: {e}"),
                    None,
                ),
                origin,
                &[],
            )
        }
    };
    let call = ChatCall::from_json(protocol, &body);
    log.kind = match protocol {
        Protocol::OpenAi => "openai".into(),
        Protocol::Anthropic => "anthropic".into(),
    };
    log.model = Some(call.model.clone());
    log.stream = call.stream;
    log.logprobs = call.logprobs;
    log.top_logprobs = call.top_logprobs;
    log.n = call.n;
    let fault = match next_fault(shared, Some(&call.model)) {
        Ok(f) => f,
        Err(e) => {
            return json_response(
                400,
                &error_body(protocol, 400, &e, Some("model")),
                origin,
                &[],
            )
        }
    };
    let fault = match fault {
        Fault::Ok => {
            let rule = shared
                .fault_rule
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            rule.and_then(|r| r(&call)).unwrap_or(Fault::Ok)
        }
        f => f,
    };
    let (reply, latency) = {
        let g = shared.lock();
        (g.config.reply.clone(), g.config.latency_ms)
    };
    let fault = match fault {
        Fault::Ok if latency > 0 => Fault::Latency { ms: latency },
        f => f,
    };
    log.fault = Some(fault.to_string());
    let seq = count(shared, log, fault, Some(&call.model));
    let responder = shared
        .responder
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let reply = match responder {
        Some(f) => f(&call),
        None => reply,
    };
    let id = match protocol {
        Protocol::OpenAi => format!("chatcmpl-fs-{seq}"),
        Protocol::Anthropic => format!("msg_fs_{seq}"),
    };
    chat_response(fault, &call, &reply, &id, origin)
}

/// A Batch-API request; each request line is answered as a live call would be (fault rule,
/// responder or configured reply).
fn batch_route(shared: &Shared, req: &Request, origin: Option<&str>) -> Vec<Step> {
    let answer = |call: &ChatCall| -> Result<OkReply, (u16, String)> {
        let rule = shared
            .fault_rule
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(f) = rule.and_then(|r| r(call)).filter(|f| f.status() >= 400) {
            return Err((f.status(), format!("fault {f}")));
        }
        let responder = shared
            .responder
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        Ok(match responder {
            Some(f) => f(call),
            None => shared.lock().config.reply.clone(),
        })
    };
    let (status, body) = shared.batches().route(
        &req.method,
        &req.path,
        req.header("content-type"),
        &req.body,
        &answer,
    );
    json_response(status, &body, origin, &[])
}

/// The fault for the next API request: the scripted queue first, then a `fault:` model name
/// (the n-th request with that name gets the n-th listed fault, the last one repeating),
/// else `ok`.
fn next_fault(shared: &Shared, model: Option<&str>) -> Result<Fault, String> {
    let mut g = shared.lock();
    if let Some(f) = g.script.pop_front() {
        return Ok(f);
    }
    let Some(spec) = model.and_then(|m| m.strip_prefix(MODEL_PREFIX)) else {
        return Ok(Fault::Ok);
    };
    let list = Fault::parse_list(spec).map_err(|e| e.to_string())?;
    let key = model.unwrap_or_default().to_string();
    let seen = g.per_model_seen.entry(key).or_insert(0);
    let idx = (*seen).min(list.len().saturating_sub(1));
    *seen += 1;
    list.get(idx)
        .copied()
        .ok_or_else(|| "empty fault list".to_string())
}

fn count(shared: &Shared, mut log: RequestLog, fault: Fault, model: Option<&str>) -> u64 {
    let mut g = shared.lock();
    g.seq += 1;
    log.seq = g.seq;
    let st = &mut g.stats;
    st.total += 1;
    if let Some(m) = model {
        *st.by_model.entry(m.to_string()).or_insert(0) += 1;
    }
    *st.by_fault.entry(fault.kind().to_string()).or_insert(0) += 1;
    *st.by_path.entry(log.path.clone()).or_insert(0) += 1;
    if st.requests.len() < MAX_LOGGED {
        st.requests.push(log);
    }
    g.seq
}

fn control(shared: &Shared, req: &Request, ctl: &str, origin: Option<&str>) -> Vec<Step> {
    let ok = |v: Value| json_response(200, v.to_string().as_bytes(), origin, &[]);
    let bad = |msg: String| {
        json_response(
            400,
            &error_body(Protocol::OpenAi, 400, &msg, None),
            origin,
            &[],
        )
    };
    match (req.method.as_str(), ctl) {
        ("GET", "stats") => {
            let stats = shared.lock().stats.clone();
            json_response(
                200,
                &serde_json::to_vec(&stats).unwrap_or_default(),
                origin,
                &[],
            )
        }
        ("POST", "script") => {
            // Either ["503", "ok"] or {"faults": ["503", "ok"]}.
            let v: Value = match serde_json::from_slice(&req.body) {
                Ok(v) => v,
                Err(e) => return bad(format!("script body is not JSON: {e}")),
            };
            let list = v.get("faults").cloned().unwrap_or(v);
            let Some(arr) = list.as_array() else {
                return bad("script must be a JSON list of fault names".into());
            };
            let mut faults = VecDeque::new();
            for item in arr {
                let Some(s) = item.as_str() else {
                    return bad(format!("script entry {item} is not a string"));
                };
                match Fault::parse(s) {
                    Ok(f) => faults.push_back(f),
                    Err(e) => return bad(e.to_string()),
                }
            }
            let n = faults.len();
            shared.lock().script = faults;
            ok(json!({"queued": n}))
        }
        ("POST", "reset") => {
            let mut g = shared.lock();
            g.script.clear();
            g.per_model_seen.clear();
            g.stats = Stats::default();
            drop(g);
            ok(json!({"reset": true}))
        }
        ("GET", "config") => {
            let c = shared.lock().config.clone();
            json_response(
                200,
                &serde_json::to_vec(&c).unwrap_or_default(),
                origin,
                &[],
            )
        }
        ("POST", "config") => match serde_json::from_slice::<Config>(&req.body) {
            Ok(c) if c.reply.texts.is_empty() => bad("reply.texts must not be empty".into()),
            Ok(c) => {
                shared.lock().config = c;
                ok(json!({"configured": true}))
            }
            Err(e) => bad(format!("bad config: {e}")),
        },
        ("GET", "faults") => ok(json!(Fault::all()
            .iter()
            .map(|f| f.to_string())
            .collect::<Vec<_>>())),
        _ => json_response(
            404,
            &error_body(
                Protocol::OpenAi,
                404,
                &format!("no control route {} {}", req.method, req.path),
                None,
            ),
            origin,
            &[],
        ),
    }
}
