//! The latency server: an OpenAI-compatible (and Anthropic-compatible) chat server that answers
//! every call after a fixed latency L, over **HTTP/2 with TLS** (ALPN `h2`, `http/1.1`; a test
//! CA and a certificate issued by it made at start with rcgen, [`LatencyServer::ca_pem`]) and over plain **HTTP/1.1** (keep-alive), both at once
//! and sharing one set of counts. It is the server of the performance harness (`bench/perf.rs`).
//!
//! Timing of one call, measured from the moment its request head arrived (time 0):
//! - a **streamed** reply (`stream: true`): the response head and the first body chunk (the role
//!   event and the first text token together, so the first byte carries text) at **L/2**; the
//!   remaining SSE events spread evenly over ticks of about 10 ms; the last event (`[DONE]`) at
//!   **L**;
//! - a **whole** reply: head and body together at **L**.
//!
//! So every call takes L from request to last byte, whatever its kind, and an item whose
//! critical path is d dependent calls cannot finish before d × L: `wall / (d × L)` measures what
//! the client adds (scheduling, connection limits, rendering) on top of the server.
//!
//! For every call the server records the unix-epoch time (ms, f64) of its arrival, of its first
//! body byte (when the first chunk was handed to the HTTP connection) and of its last byte, its
//! HTTP version and connection number, and a hash of its prompt (model + messages), so repeated
//! calls can be counted ([`LatencyStats::repeated_calls`]).
//!
//! Replies come from a responder (default [`ethos_reply`], stage-aware so that a whole
//! EthosAgents run works); `{seq}` in a reply text is replaced by the call's sequence number, so
//! a client can tell which call produced a text it shows.
//!
//! Control endpoints (CORS-enabled, not counted as calls): `GET /_control/stats`,
//! `POST /_control/reset`, `GET|POST /_control/config` (`{"latency_ms": 400}`).

use crate::reply::{
    cors_headers, models_body, ok_body, ok_stream_events, ChatCall, OkReply, Protocol,
};
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::{Request, Response, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr, TcpListener as StdListener};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::Instant;

/// Streamed replies are written in ticks of about this many milliseconds between L/2 and L.
pub const TICK_MS: u64 = 10;

/// How many calls [`LatencyStats::calls_log`] keeps (counts stay exact beyond it).
pub const MAX_LOGGED_CALLS: usize = 100_000;

/// Request bodies above this are refused (413).
const MAX_REQUEST_BODY: usize = 32 * 1024 * 1024;

/// One chat call as the server saw it. Times are unix-epoch milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallTiming {
    /// 1, 2, 3… in arrival order (also the `{seq}` of its reply text).
    pub seq: u64,
    /// FNV-1a 64 of the model name and the messages, hex.
    pub prompt_hash: String,
    pub model: String,
    pub stream: bool,
    pub logprobs: bool,
    /// "HTTP/2.0" or "HTTP/1.1".
    pub version: String,
    /// Which accepted connection carried it (1, 2, … per server).
    pub connection: u64,
    pub tls: bool,
    pub received_ms: f64,
    /// When the first body chunk was handed to the connection.
    pub first_byte_ms: Option<f64>,
    /// When the body ended.
    pub last_byte_ms: Option<f64>,
}

/// Counts and per-call timings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencyStats {
    /// Chat calls (not models, control or preflight requests).
    pub calls: u64,
    /// Chat calls per prompt hash (a count above 1 is a repeated call).
    pub by_prompt: BTreeMap<String, u64>,
    /// Chat calls per HTTP version ("HTTP/2.0", "HTTP/1.1").
    pub by_version: BTreeMap<String, u64>,
    /// Connections accepted (TLS and plain).
    pub connections: u64,
    pub preflights: u64,
    /// `/models` requests.
    pub models: u64,
    /// The first [`MAX_LOGGED_CALLS`] calls, in arrival order.
    pub calls_log: Vec<CallTiming>,
}

impl LatencyStats {
    /// Calls whose prompt had been seen before (sum over prompts of count − 1).
    pub fn repeated_calls(&self) -> u64 {
        self.by_prompt.values().map(|c| c.saturating_sub(1)).sum()
    }

    pub fn call(&self, seq: u64) -> Option<&CallTiming> {
        self.calls_log.iter().find(|c| c.seq == seq)
    }

    /// Calls that were in flight at once, at most (from the logged arrival and last-byte times).
    pub fn peak_in_flight(&self) -> usize {
        let mut edges: Vec<(f64, i32)> = Vec::new();
        for c in &self.calls_log {
            edges.push((c.received_ms, 1));
            edges.push((c.last_byte_ms.unwrap_or(f64::INFINITY), -1));
        }
        // Ends before starts at the same instant.
        edges.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let (mut cur, mut peak) = (0i32, 0i32);
        for (_, d) in edges {
            cur += d;
            peak = peak.max(cur);
        }
        usize::try_from(peak).unwrap_or(0)
    }
}

/// Decides the reply text of each call.
pub type LatencyResponder = Arc<dyn Fn(&ChatCall) -> OkReply + Send + Sync>;

/// Settings that can change at run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LatencyConfig {
    pub latency_ms: u64,
}

impl Default for LatencyConfig {
    fn default() -> Self {
        LatencyConfig { latency_ms: 400 }
    }
}

struct Inner {
    config: LatencyConfig,
    stats: LatencyStats,
    seq: u64,
    connections: u64,
}

struct Shared {
    inner: Mutex<Inner>,
    responder: Mutex<LatencyResponder>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn responder(&self) -> LatencyResponder {
        self.responder
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn mark(&self, seq: u64, first: bool) {
        let now = epoch_ms();
        let mut g = self.lock();
        if let Some(c) = g.stats.calls_log.iter_mut().rev().find(|c| c.seq == seq) {
            if first {
                c.first_byte_ms.get_or_insert(now);
            } else {
                c.last_byte_ms.get_or_insert(now);
            }
        }
    }
}

/// Unix-epoch milliseconds (the same clock as the browser's `performance.timeOrigin + now()`).
pub fn epoch_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}

/// FNV-1a 64 of the model and the messages (roles and texts), as 16 hex digits.
pub fn prompt_hash(call: &ChatCall) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for b in bytes.iter().chain(std::iter::once(&0u8)) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    eat(call.model.as_bytes());
    for (role, text) in &call.messages {
        eat(role.as_bytes());
        eat(text.as_bytes());
    }
    format!("{h:016x}")
}

/// A response body that records when its first chunk is handed to the connection and when it
/// ends: either one whole chunk, or chunks from a channel (a stream written over time).
pub struct TimedBody {
    whole: Option<Bytes>,
    rx: Option<tokio::sync::mpsc::Receiver<Bytes>>,
    track: Option<(Arc<Shared>, u64)>,
    first_sent: bool,
    ended: bool,
}

impl TimedBody {
    fn whole(bytes: impl Into<Bytes>, track: Option<(Arc<Shared>, u64)>) -> Self {
        TimedBody {
            whole: Some(bytes.into()),
            rx: None,
            track,
            first_sent: false,
            ended: false,
        }
    }

    fn empty() -> Self {
        TimedBody {
            whole: None,
            rx: None,
            track: None,
            first_sent: false,
            ended: false,
        }
    }

    fn on_chunk(&mut self) {
        if !self.first_sent {
            self.first_sent = true;
            if let Some((s, seq)) = &self.track {
                s.mark(*seq, true);
            }
        }
    }

    fn on_end(&mut self) {
        if !self.ended {
            self.ended = true;
            if let Some((s, seq)) = &self.track {
                s.mark(*seq, false);
            }
        }
    }
}

impl Body for TimedBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        if let Some(b) = this.whole.take() {
            this.on_chunk();
            return Poll::Ready(Some(Ok(Frame::data(b))));
        }
        let polled = match this.rx.as_mut() {
            Some(rx) => rx.poll_recv(cx),
            None => Poll::Ready(None),
        };
        match polled {
            Poll::Ready(Some(b)) => {
                this.on_chunk();
                Poll::Ready(Some(Ok(Frame::data(b))))
            }
            Poll::Ready(None) => {
                this.on_end();
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        // A whole body is not reported as ended before it was polled, so its end is recorded.
        self.whole.is_none() && self.rx.is_none() && self.track.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        match (&self.whole, &self.rx) {
            (Some(b), None) => SizeHint::with_exact(b.len() as u64),
            (None, None) => SizeHint::with_exact(0),
            _ => SizeHint::default(),
        }
    }
}

impl Drop for TimedBody {
    fn drop(&mut self) {
        // A client that went away still ends the call (its last byte is when it was dropped).
        self.on_end();
    }
}

/// A server certificate and the test CA that issued it.
pub struct Issued {
    /// The server's certificate (DER), its public key (SPKI DER) and private key (PKCS#8 DER).
    pub leaf_der: Vec<u8>,
    pub leaf_spki: Vec<u8>,
    pub leaf_key_der: Vec<u8>,
    /// The CA's certificate (PEM).
    pub ca_pem: String,
}

/// Make a test CA and a server certificate for `names` (host names and IP addresses) issued by
/// it, both fresh at every call.
pub fn issue_certificate(names: &[String]) -> std::io::Result<Issued> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
        KeyUsagePurpose,
    };
    let bad = |what: &str, e: rcgen::Error| other(format!("cannot make the test {what}: {e}"));
    let ca_key = KeyPair::generate().map_err(|e| bad("CA key", e))?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(|e| bad("CA", e))?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "ethos-testkit test CA");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca.self_signed(&ca_key).map_err(|e| bad("CA", e))?;
    let leaf_key = KeyPair::generate().map_err(|e| bad("server key", e))?;
    let mut leaf = CertificateParams::new(names.to_vec()).map_err(|e| bad("certificate", e))?;
    leaf.distinguished_name
        .push(DnType::CommonName, "ethos-testkit server");
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let leaf_cert = leaf
        .signed_by(&leaf_key, &ca_cert, &ca_key)
        .map_err(|e| bad("certificate", e))?;
    Ok(Issued {
        leaf_der: leaf_cert.der().to_vec(),
        leaf_spki: leaf_key.public_key_der(),
        leaf_key_der: leaf_key.serialize_der(),
        ca_pem: ca_cert.pem(),
    })
}

/// A running latency server (TLS and plain listeners). Dropping the handle stops it.
pub struct LatencyServer {
    tls_addr: SocketAddr,
    plain_addr: SocketAddr,
    shared: Arc<Shared>,
    cert_der: Vec<u8>,
    ca_pem: String,
    spki_sha256: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn other(msg: String) -> std::io::Error {
    std::io::Error::other(msg)
}

impl LatencyServer {
    /// Start on 127.0.0.1, both listeners on ephemeral ports, on its own thread.
    pub fn start(latency_ms: u64) -> std::io::Result<LatencyServer> {
        LatencyServer::start_on(
            IpAddr::from([127, 0, 0, 1]),
            0,
            0,
            LatencyConfig { latency_ms },
        )
    }

    /// Start with the TLS (HTTP/2 + HTTP/1.1) listener on `tls_port` and the plain HTTP/1.1
    /// one on `plain_port` (0: ephemeral).
    pub fn start_on(
        host: IpAddr,
        tls_port: u16,
        plain_port: u16,
        config: LatencyConfig,
    ) -> std::io::Result<LatencyServer> {
        let issued = issue_certificate(&[
            "localhost".to_string(),
            host.to_string(),
            "127.0.0.1".to_string(),
        ])?;
        let cert_der = issued.leaf_der.clone();
        let spki_sha256 = {
            use base64::Engine;
            let d = ring::digest::digest(&ring::digest::SHA256, &issued.leaf_spki);
            base64::engine::general_purpose::STANDARD.encode(d.as_ref())
        };
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(
            rustls::pki_types::PrivatePkcs8KeyDer::from(issued.leaf_key_der.clone()),
        );
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut tls = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| other(format!("TLS versions: {e}")))?
            .with_no_client_auth()
            .with_single_cert(
                vec![rustls::pki_types::CertificateDer::from(cert_der.clone())],
                key,
            )
            .map_err(|e| other(format!("TLS certificate: {e}")))?;
        tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));

        let tls_listener = StdListener::bind(SocketAddr::new(host, tls_port))?;
        tls_listener.set_nonblocking(true)?;
        let plain_listener = StdListener::bind(SocketAddr::new(host, plain_port))?;
        plain_listener.set_nonblocking(true)?;
        let (tls_addr, plain_addr) = (tls_listener.local_addr()?, plain_listener.local_addr()?);

        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner {
                config,
                stats: LatencyStats::default(),
                seq: 0,
                connections: 0,
            }),
            responder: Mutex::new(Arc::new(ethos_reply)),
        });
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let state = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("latency-server-{}", tls_addr.port()))
            .spawn(move || {
                rt.block_on(async move {
                    let (tls_l, plain_l) = match (
                        tokio::net::TcpListener::from_std(tls_listener),
                        tokio::net::TcpListener::from_std(plain_listener),
                    ) {
                        (Ok(a), Ok(b)) => (a, b),
                        (Err(e), _) | (_, Err(e)) => {
                            eprintln!("latency server: cannot listen: {e}");
                            return;
                        }
                    };
                    tokio::spawn(accept_loop(tls_l, Some(acceptor), state.clone()));
                    tokio::spawn(accept_loop(plain_l, None, state));
                    let _ = rx.await;
                });
            })?;
        Ok(LatencyServer {
            tls_addr,
            plain_addr,
            shared,
            cert_der,
            ca_pem: issued.ca_pem,
            spki_sha256,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }

    pub fn tls_addr(&self) -> SocketAddr {
        self.tls_addr
    }

    pub fn plain_addr(&self) -> SocketAddr {
        self.plain_addr
    }

    /// `https://127.0.0.1:PORT/v1` (HTTP/2 when the client offers h2 in ALPN).
    pub fn https_base_url(&self) -> String {
        format!("https://{}/v1", self.tls_addr)
    }

    /// `http://127.0.0.1:PORT/v1` (HTTP/1.1, keep-alive).
    pub fn http_base_url(&self) -> String {
        format!("http://{}/v1", self.plain_addr)
    }

    /// The test certificate (DER), for a client that pins it.
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// The certificate (PEM) of the test CA that issued the server's certificate: what a client
    /// trusts to verify the server the usual way (e.g. `SSL_CERT_FILE` pointing at it).
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// Base64 SHA-256 of the certificate's public key, for Chromium's
    /// `--ignore-certificate-errors-spki-list`.
    pub fn spki_sha256_base64(&self) -> &str {
        &self.spki_sha256
    }

    pub fn stats(&self) -> LatencyStats {
        self.shared.lock().stats.clone()
    }

    /// Clear counts and timings (the connection numbering goes on).
    pub fn reset(&self) {
        self.shared.lock().stats = LatencyStats::default();
    }

    pub fn latency_ms(&self) -> u64 {
        self.shared.lock().config.latency_ms
    }

    pub fn set_latency_ms(&self, ms: u64) {
        self.shared.lock().config.latency_ms = ms;
    }

    /// Decide each reply from the request (replaces [`ethos_reply`]).
    pub fn set_responder(&self, f: impl Fn(&ChatCall) -> OkReply + Send + Sync + 'static) {
        *self
            .shared
            .responder
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Arc::new(f);
    }

    /// Block the calling thread until the server stops (for the binary).
    pub fn wait(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for LatencyServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

async fn accept_loop(
    listener: tokio::net::TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shared: Arc<Shared>,
) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let conn = {
            let mut g = shared.lock();
            g.connections += 1;
            g.stats.connections += 1;
            g.connections
        };
        let shared = shared.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                Some(acceptor) => {
                    if let Ok(stream) = acceptor.accept(tcp).await {
                        serve(stream, shared, conn, true).await;
                    }
                }
                None => serve(tcp, shared, conn, false).await,
            }
        });
    }
}

async fn serve<S>(io: S, shared: Arc<Shared>, conn: u64, tls: bool)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
        let shared = shared.clone();
        async move { Ok::<_, Infallible>(handle(req, shared, conn, tls).await) }
    });
    let mut builder =
        hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
    builder.http2().max_concurrent_streams(256);
    let _ = builder
        .serve_connection(hyper_util::rt::TokioIo::new(io), service)
        .await;
}

fn respond(
    status: u16,
    content_type: &str,
    origin: Option<&str>,
    extra: &[(&str, String)],
    body: TimedBody,
) -> Response<TimedBody> {
    let mut b = Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR));
    if !content_type.is_empty() {
        b = b.header("content-type", content_type);
    }
    for (n, v) in cors_headers(origin) {
        b = b.header(n, v);
    }
    for (n, v) in extra {
        b = b.header(*n, v.as_str());
    }
    b.body(body)
        .unwrap_or_else(|_| Response::new(TimedBody::empty()))
}

fn json_reply(status: u16, v: &Value, origin: Option<&str>) -> Response<TimedBody> {
    respond(
        status,
        "application/json",
        origin,
        &[],
        TimedBody::whole(v.to_string(), None),
    )
}

fn error_reply(status: u16, message: &str, origin: Option<&str>) -> Response<TimedBody> {
    json_reply(
        status,
        &json!({"error": {"message": message, "type": "invalid_request_error", "param": null, "code": null}}),
        origin,
    )
}

fn version_name(v: hyper::Version) -> &'static str {
    match v {
        hyper::Version::HTTP_2 => "HTTP/2.0",
        hyper::Version::HTTP_11 => "HTTP/1.1",
        hyper::Version::HTTP_10 => "HTTP/1.0",
        _ => "other",
    }
}

async fn handle(
    req: Request<hyper::body::Incoming>,
    shared: Arc<Shared>,
    conn: u64,
    tls: bool,
) -> Response<TimedBody> {
    let arrival = Instant::now();
    // The latency in force when the request arrived (not once its body is in), read with the
    // arrival time under one lock: a call that arrived before a change of latency is answered
    // with the old one, as its `received_ms` says.
    let (received_ms, latency) = {
        let g = shared.lock();
        (epoch_ms(), g.config.latency_ms)
    };
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let origin = header("origin");
    let origin = origin.as_deref();
    let method = req.method().as_str().to_string();
    let path = req.uri().path().trim_end_matches('/').to_string();
    let version = version_name(req.version());

    if method == "OPTIONS" {
        shared.lock().stats.preflights += 1;
        let allow = header("access-control-request-headers").unwrap_or_else(|| {
            "content-type, authorization, x-api-key, anthropic-version, anthropic-dangerous-direct-browser-access".into()
        });
        return respond(
            204,
            "",
            origin,
            &[
                ("access-control-allow-methods", "GET, POST, OPTIONS".into()),
                ("access-control-allow-headers", allow),
                ("access-control-max-age", "600".into()),
                ("access-control-allow-private-network", "true".into()),
            ],
            TimedBody::empty(),
        );
    }
    let protocol = if header("anthropic-version").is_some() || header("x-api-key").is_some() {
        Protocol::Anthropic
    } else {
        Protocol::OpenAi
    };
    let body = match http_body_util::Limited::new(req.into_body(), MAX_REQUEST_BODY)
        .collect()
        .await
    {
        Ok(b) => b.to_bytes(),
        Err(_) => return error_reply(413, "request body too large or cut", origin),
    };

    if let Some(ctl) = path.strip_prefix("/_control/") {
        return control(&shared, &method, ctl, &body, origin);
    }
    if method == "GET" && path.ends_with("/models") {
        shared.lock().stats.models += 1;
        let body = models_body(protocol, &["latency-model".to_string()]);
        return respond(
            200,
            "application/json",
            origin,
            &[],
            TimedBody::whole(body, None),
        );
    }
    let is_chat = path.ends_with("/chat/completions") || path.ends_with("/messages");
    if method != "POST" || !is_chat {
        return error_reply(404, &format!("no route {method} {path}"), origin);
    }
    let v: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return error_reply(400, &format!("request body is not JSON: {e}"), origin),
    };
    let call = ChatCall::from_json(protocol, &v);
    let hash = prompt_hash(&call);
    let seq = {
        let mut g = shared.lock();
        g.seq += 1;
        let seq = g.seq;
        let st = &mut g.stats;
        st.calls += 1;
        *st.by_prompt.entry(hash.clone()).or_insert(0) += 1;
        *st.by_version.entry(version.to_string()).or_insert(0) += 1;
        if st.calls_log.len() < MAX_LOGGED_CALLS {
            st.calls_log.push(CallTiming {
                seq,
                prompt_hash: hash,
                model: call.model.clone(),
                stream: call.stream,
                logprobs: call.logprobs,
                version: version.to_string(),
                connection: conn,
                tls,
                received_ms,
                first_byte_ms: None,
                last_byte_ms: None,
            });
        }
        seq
    };
    let mut reply = (shared.responder())(&call);
    let marker = seq.to_string();
    for t in reply.texts.iter_mut() {
        if t.contains("{seq}") {
            *t = t.replace("{seq}", &marker);
        }
    }
    if reply.texts.is_empty() {
        reply.texts.push(String::new());
    }
    let id = format!("chatcmpl-lat-{seq}");
    let track = Some((shared.clone(), seq));
    if !call.stream {
        tokio::time::sleep_until(arrival + Duration::from_millis(latency)).await;
        let body = ok_body(&call, &reply, &id);
        return respond(
            200,
            "application/json",
            origin,
            &[],
            TimedBody::whole(body, track),
        );
    }

    let events = ok_stream_events(&call, &reply, &id);
    // The first chunk carries the first text token (OpenAI: role event + first delta;
    // Anthropic: message_start, content_block_start, ping, first delta).
    let lead = match protocol {
        Protocol::OpenAi => 2,
        Protocol::Anthropic => 4,
    }
    .min(events.len());
    let (first, rest) = events.split_at(lead);
    let half = latency / 2;
    tokio::time::sleep_until(arrival + Duration::from_millis(half)).await;
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(256);
    let _ = tx.try_send(Bytes::from(first.concat()));
    let rest: Vec<Vec<u8>> = rest.to_vec();
    let span = latency.saturating_sub(half);
    tokio::spawn(async move {
        let ticks = (span / TICK_MS).max(1).min(rest.len().max(1) as u64);
        let n = rest.len();
        for j in 1..=ticks {
            let at = arrival + Duration::from_millis(half + span * j / ticks);
            tokio::time::sleep_until(at).await;
            let lo = usize::try_from(n as u64 * (j - 1) / ticks).unwrap_or(n);
            let hi = usize::try_from(n as u64 * j / ticks).unwrap_or(n);
            let chunk: Vec<u8> = rest.get(lo..hi).unwrap_or(&[]).concat();
            if !chunk.is_empty() && tx.send(Bytes::from(chunk)).await.is_err() {
                return;
            }
        }
    });
    let body = TimedBody {
        whole: None,
        rx: Some(rx),
        track,
        first_sent: false,
        ended: false,
    };
    respond(
        200,
        "text/event-stream",
        origin,
        &[("cache-control", "no-cache".into())],
        body,
    )
}

fn control(
    shared: &Shared,
    method: &str,
    ctl: &str,
    body: &[u8],
    origin: Option<&str>,
) -> Response<TimedBody> {
    match (method, ctl) {
        ("GET", "stats") => {
            let stats = shared.lock().stats.clone();
            json_reply(
                200,
                &serde_json::to_value(&stats).unwrap_or(Value::Null),
                origin,
            )
        }
        ("POST", "reset") => {
            shared.lock().stats = LatencyStats::default();
            json_reply(200, &json!({"reset": true}), origin)
        }
        ("GET", "config") => {
            let c = shared.lock().config;
            json_reply(200, &serde_json::to_value(c).unwrap_or(Value::Null), origin)
        }
        ("POST", "config") => match serde_json::from_slice::<LatencyConfig>(body) {
            Ok(c) => {
                shared.lock().config = c;
                json_reply(200, &json!({"configured": true}), origin)
            }
            Err(e) => error_reply(400, &format!("bad config: {e}"), origin),
        },
        _ => error_reply(
            404,
            &format!("no control route {method} /_control/{ctl}"),
            origin,
        ),
    }
}

/// The filler of a comment: `words` words of plain prose.
fn prose(words: usize) -> String {
    const WORDS: [&str; 16] = [
        "we", "should", "respect", "the", "patient", "and", "must", "weigh", "harm", "against",
        "benefit", "because", "duty", "matters", "here", "too",
    ];
    let mut out = String::new();
    for i in 0..words {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(WORDS.get(i % WORDS.len()).copied().unwrap_or("x"));
        if i % 12 == 11 {
            out.push('.');
        }
    }
    out.push('.');
    out
}

/// A number of perspectives asked for in a stage-1 prompt ("invent 6 …", "exactly 6 lines").
fn asked_k(prompt: &str) -> usize {
    for key in ["invent ", "exactly "] {
        if let Some(pos) = prompt.find(key) {
            let digits: String = prompt
                .get(pos + key.len()..)
                .unwrap_or("")
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            if let Ok(k) = digits.parse::<usize>() {
                return k.clamp(1, 64);
            }
        }
    }
    6
}

/// Stage-aware replies for a whole EthosAgents run with the app's default templates:
/// stage 1 gets k `#` perspective lines, a comment gets "A. [call {seq}] …" (about 150 words),
/// a selection gets "1", the Overton combine a short comment, and every answer / distribution
/// read "A" with top log-probabilities A 50 %, B 30 %, C 15 %, D 5 %.
pub fn ethos_reply(call: &ChatCall) -> OkReply {
    let prompt: String = call
        .messages
        .iter()
        .map(|(_, t)| t.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    let lower = prompt.to_lowercase();
    let text = if lower.contains("contrasting ethical perspectives") {
        (1..=asked_k(&lower))
            .map(|i| format!("#Perspective {i}: Value {i}, Framework {i}, Duty {i}, Emotion {i}, Stakeholder {i}"))
            .collect::<Vec<_>>()
            .join("\n")
    } else if lower.contains("your perspective") {
        format!("A. [call {{seq}}] {}", prose(150))
    } else if lower.contains("select one number") {
        "1".to_string()
    } else if lower.trim_end().ends_with("comment:") {
        format!("[call {{seq}}] {}", prose(80))
    } else {
        "A".to_string()
    };
    OkReply {
        texts: vec![text],
        ..OkReply::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(text: &str) -> ChatCall {
        ChatCall::from_json(
            Protocol::OpenAi,
            &json!({"model": "m", "messages": [{"role": "user", "content": text}]}),
        )
    }

    #[test]
    fn replies_follow_the_stage() {
        let p = ethos_reply(&call("Read the text below and invent 7 clearly contrasting ethical perspectives … Write exactly 7 lines"));
        assert_eq!(p.text(0).lines().filter(|l| l.starts_with('#')).count(), 7);
        assert!(ethos_reply(&call("Your perspective: x"))
            .text(0)
            .starts_with("A. [call {seq}]"));
        assert_eq!(
            ethos_reply(&call("Select one number from 1 to 6")).text(0),
            "1"
        );
        assert!(ethos_reply(&call("Situation: s\n\nComment:")).text(0).len() > 100);
        assert_eq!(ethos_reply(&call("Answer the question")).text(0), "A");
    }

    #[test]
    fn prompt_hash_depends_on_messages_and_model() {
        let a = call("hello");
        let mut b = call("hello");
        assert_eq!(prompt_hash(&a), prompt_hash(&b));
        b.model = "other".into();
        assert_ne!(prompt_hash(&a), prompt_hash(&b));
        assert_ne!(prompt_hash(&a), prompt_hash(&call("hello!")));
    }

    #[test]
    fn repeated_calls_and_peak_in_flight() {
        let t = |seq: u64, a: f64, b: f64| CallTiming {
            seq,
            prompt_hash: String::new(),
            model: String::new(),
            stream: false,
            logprobs: false,
            version: String::new(),
            connection: 1,
            tls: false,
            received_ms: a,
            first_byte_ms: Some(b),
            last_byte_ms: Some(b),
        };
        let mut s = LatencyStats::default();
        s.by_prompt.insert("a".into(), 3);
        s.by_prompt.insert("b".into(), 1);
        assert_eq!(s.repeated_calls(), 2);
        s.calls_log = vec![
            t(1, 0.0, 10.0),
            t(2, 5.0, 15.0),
            t(3, 10.0, 20.0),
            t(4, 30.0, 40.0),
        ];
        assert_eq!(s.peak_in_flight(), 2);
    }
}
