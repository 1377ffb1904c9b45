//! [`NativeTransport`]: the [`Transport`] for native code (tests, the `ethos` command line),
//! on reqwest + tokio. `http://` and `https://` (rustls; the trusted roots are the operating
//! system's store as read by rustls-native-certs, so `SSL_CERT_FILE` / `SSL_CERT_DIR` are
//! honoured: a company proxy's or a test's own CA works). A certificate that does not chain to a
//! trusted root is an error that says so and names `SSL_CERT_FILE` (not retried).
//!
//! Timeouts: `connect_timeout` for the TCP connection, `first_byte_timeout` until the response
//! head arrives, `idle_timeout` between two body chunks. A stalled server therefore surfaces as
//! [`ChatError::Timeout`], never as a hang. Dropping the future returned by `send` drops the
//! connection (that is how a run is cancelled natively).

use crate::client::Client;
use crate::http::HttpRequest;
use crate::transport::{HttpStatus, Transport};
use crate::Endpoint;
use ethos_engine::ChatError;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Timeouts of a [`NativeTransport`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub connect: Duration,
    /// Until the status line and headers arrive (a local model may take long on a big prompt).
    pub first_byte: Duration,
    /// Between two body chunks.
    pub idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(10),
            first_byte: Duration::from_secs(300),
            idle: Duration::from_secs(120),
        }
    }
}

pub struct NativeTransport {
    http: reqwest::Client,
    timeouts: Timeouts,
    rng: AtomicU64,
}

impl std::fmt::Debug for NativeTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NativeTransport")
            .field("timeouts", &self.timeouts)
            .finish()
    }
}

impl NativeTransport {
    /// Default timeouts, jitter seeded from the clock.
    pub fn new() -> Result<Self, ChatError> {
        Self::with_timeouts(Timeouts::default())
    }

    pub fn with_timeouts(timeouts: Timeouts) -> Result<Self, ChatError> {
        let http = reqwest::Client::builder()
            .connect_timeout(timeouts.connect)
            .user_agent(concat!("ethos-agents/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ChatError::Other(format!("could not set up the HTTP client: {e}")))?;
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9E37_79B9_7F4A_7C15);
        Ok(Self {
            http,
            timeouts,
            rng: AtomicU64::new(seed),
        })
    }

    /// Make the retry jitter reproducible (tests, seeded runs).
    pub fn with_jitter_seed(self, seed: u64) -> Self {
        self.rng.store(seed, Ordering::Relaxed);
        self
    }

    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }
}

/// A native [`Client`] for an endpoint, with default timeouts and retry policy.
pub fn native_client(endpoint: Endpoint) -> Result<Client<NativeTransport>, ChatError> {
    Ok(Client::new(endpoint, NativeTransport::new()?))
}

impl Client<NativeTransport> {
    /// Same as [`native_client`].
    pub fn native(endpoint: Endpoint) -> Result<Self, ChatError> {
        native_client(endpoint)
    }
}

/// The URL without query string (a query could carry a key, e.g. Gemini's `?key=`).
fn url_for_message(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}

/// The messages of `e` and of every error under it.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = next {
        let text = err.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = err.source();
    }
    parts.join(": ")
}

/// A TLS failure: an untrusted certificate (or one that does not name the host) is
/// [`ChatError::Other`], which is not retried (it cannot pass on a second try); a failed
/// handshake is a [`ChatError::Network`] error. `None` when `chain` is not about TLS.
fn tls_problem(chain: &str, at: &str) -> Option<ChatError> {
    let lower = chain.to_ascii_lowercase();
    let cert = lower.contains("certificate") || lower.contains("unknownissuer");
    if !cert && !lower.contains("tls") && !lower.contains("handshake") {
        return None;
    }
    let store = match std::env::var("SSL_CERT_FILE") {
        Ok(f) if !f.trim().is_empty() => {
            format!("the trusted certificates are those in SSL_CERT_FILE={f}")
        }
        _ => "the trusted certificates are the system's (set SSL_CERT_FILE to a PEM file of \
              CA certificates to trust another CA, e.g. a company proxy's or a local server's)"
            .to_string(),
    };
    Some(if cert {
        ChatError::Other(format!(
            "the TLS certificate of {at} is not trusted ({chain}); {store}"
        ))
    } else {
        ChatError::Network(format!(
            "the TLS handshake with {at} failed ({chain}); is it an https server?"
        ))
    })
}

fn map_reqwest_error(e: &reqwest::Error, url: &str, during_body: bool) -> ChatError {
    let at = url_for_message(url);
    if e.is_timeout() {
        return ChatError::Timeout(format!("no answer from {at} in time"));
    }
    if e.is_builder() {
        return ChatError::Network(format!("the URL {at} is not valid: check the base URL (it should look like http://127.0.0.1:8080/v1)"));
    }
    if e.is_connect() {
        // The causes under reqwest's own error (whose text carries the whole URL, query and all).
        let chain = std::error::Error::source(e)
            .map(error_chain)
            .unwrap_or_default();
        if let Some(e) = tls_problem(&chain, at) {
            return e;
        }
        return ChatError::Network(format!(
            "could not connect to {at}: connection refused or host unreachable. Is the server running, and is the base URL (host and port) right?"
        ));
    }
    if during_body || e.is_body() || e.is_decode() {
        return ChatError::Network(format!("the connection to {at} was cut while the reply was being read (the reply is incomplete)"));
    }
    ChatError::Network(format!("the request to {at} failed: the server closed the connection or sent an invalid HTTP response"))
}

impl Transport for NativeTransport {
    async fn send(
        &self,
        req: HttpRequest,
        on_chunk: &mut dyn FnMut(&[u8]) -> Result<(), ChatError>,
    ) -> Result<HttpStatus, ChatError> {
        let url = req.url.trim().to_string();
        let lower = url.to_ascii_lowercase();
        if !lower.starts_with("http://") && !lower.starts_with("https://") {
            return Err(ChatError::Network(format!(
                "the URL {:?} does not start with http:// or https:// (check the base URL, e.g. http://127.0.0.1:8080/v1)",
                url_for_message(&url)
            )));
        }
        let method = reqwest::Method::from_bytes(req.method.trim().to_ascii_uppercase().as_bytes())
            .map_err(|_| ChatError::Other(format!("invalid HTTP method {:?}", req.method)))?;
        let mut builder = self.http.request(method, url.as_str());
        for (name, value) in &req.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        if let Some(body) = req.body {
            builder = builder.body(body);
        }
        let mut resp = match tokio::time::timeout(self.timeouts.first_byte, builder.send()).await {
            Err(_) => {
                return Err(ChatError::Timeout(format!(
                    "no response from {} within {} s",
                    url_for_message(&url),
                    self.timeouts.first_byte.as_secs_f64()
                )))
            }
            Ok(Err(e)) => return Err(map_reqwest_error(&e, &url, false)),
            Ok(Ok(r)) => r,
        };
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().to_string());
        loop {
            match tokio::time::timeout(self.timeouts.idle, resp.chunk()).await {
                Err(_) => {
                    return Err(ChatError::Timeout(format!(
                        "the reply from {} stalled for {} s",
                        url_for_message(&url),
                        self.timeouts.idle.as_secs_f64()
                    )))
                }
                Ok(Err(e)) => return Err(map_reqwest_error(&e, &url, true)),
                Ok(Ok(None)) => break,
                Ok(Ok(Some(bytes))) => on_chunk(&bytes)?,
            }
        }
        Ok(HttpStatus {
            status,
            retry_after,
        })
    }

    async fn sleep(&self, ms: u64) {
        tokio::time::sleep(Duration::from_millis(ms)).await
    }

    fn now_ms(&self) -> f64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64() * 1000.0)
            .unwrap_or(0.0)
    }

    fn jitter(&self) -> f64 {
        // splitmix64 over an atomic counter: cheap, thread-safe, reproducible with a seed.
        let mut z = self
            .rng
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
            .wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_is_in_range_and_seedable() {
        let a = NativeTransport::new().map(|t| t.with_jitter_seed(7));
        let b = NativeTransport::new().map(|t| t.with_jitter_seed(7));
        let (Ok(a), Ok(b)) = (a, b) else {
            panic!("transport")
        };
        let xs: Vec<f64> = (0..100).map(|_| a.jitter()).collect();
        let ys: Vec<f64> = (0..100).map(|_| b.jitter()).collect();
        assert_eq!(xs, ys);
        assert!(xs.iter().all(|x| (0.0..1.0).contains(x)));
        assert!(xs.windows(2).any(|w| w[0] != w[1]));
    }

    #[tokio::test]
    async fn bad_urls_fail_clearly() {
        let Ok(t) = NativeTransport::new() else {
            panic!("transport")
        };
        let req = |url: &str| HttpRequest {
            method: "GET".into(),
            url: url.into(),
            headers: vec![],
            body: None,
        };
        let e = t.send(req("localhost:8080/v1"), &mut |_| Ok(())).await;
        assert!(
            matches!(e, Err(ChatError::Network(ref m)) if m.contains("http:// or https://")),
            "{e:?}"
        );
        // nothing listens on port 1
        let e = t
            .send(req("http://127.0.0.1:1/v1/models"), &mut |_| Ok(()))
            .await;
        assert!(
            matches!(e, Err(ChatError::Network(ref m)) if m.contains("Is the server running")),
            "{e:?}"
        );
    }
}
