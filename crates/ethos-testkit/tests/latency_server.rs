//! The latency server driven by a real hyper client: HTTP/2 over TLS (ALPN h2, the server's
//! test certificate pinned), HTTP/1.1 over TLS, and plain HTTP/1.1 with keep-alive.

use bytes::Bytes;
use ethos_testkit::LatencyServer;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::{http1, http2};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use serde_json::{json, Value};
use std::sync::Arc;

const ORIGIN: &str = "http://127.0.0.1:9999";

/// Accepts exactly the server's test certificate (and checks the handshake signatures).
#[derive(Debug)]
struct Pinned {
    der: Vec<u8>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.der.as_slice() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(
                "not the pinned test certificate".into(),
            ))
        }
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

async fn tls_stream(
    server: &LatencyServer,
    alpn: &[&[u8]],
) -> (
    tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
    Option<Vec<u8>>,
) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Pinned {
            der: server.cert_der().to_vec(),
            provider,
        }))
        .with_no_client_auth();
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let tcp = tokio::net::TcpStream::connect(server.tls_addr())
        .await
        .expect("connect");
    let name = ServerName::try_from("localhost").expect("name");
    let tls = tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(name, tcp)
        .await
        .expect("TLS handshake");
    let alpn = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
    (tls, alpn)
}

fn chat(uri: &str, body: Value) -> Request<Full<Bytes>> {
    Request::post(uri)
        .header("content-type", "application/json")
        .header("origin", ORIGIN)
        .header("host", "localhost")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("request")
}

async fn text_of(resp: Response<hyper::body::Incoming>) -> String {
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The text of an OpenAI stream: its deltas' content, joined.
fn sse_content(body: &str) -> String {
    body.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|v| {
            v.pointer("/choices/0/delta/content")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .collect()
}

fn comment_request(stream: bool) -> Value {
    json!({"model": "m", "stream": stream, "messages": [{"role": "user", "content": "Situation: s\n\nYour perspective: #P1: a, b, c, d, e"}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_over_tls_streams_counts_and_records_timings() {
    let latency = 60;
    let server = LatencyServer::start(latency).expect("start");
    let (tls, alpn) = tls_stream(&server, &[b"h2", b"http/1.1"]).await;
    assert_eq!(alpn.as_deref(), Some(&b"h2"[..]), "ALPN chose h2");
    let (sender, conn) = http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
        .await
        .expect("h2 handshake");
    tokio::spawn(conn);
    let uri = format!(
        "https://localhost:{}/v1/chat/completions",
        server.tls_addr().port()
    );

    // Two identical streamed calls at once on the one connection (multiplexed), one other call.
    let send = |body: Value| {
        let mut s = sender.clone();
        let req = chat(&uri, body);
        async move { s.send_request(req).await.expect("send") }
    };
    let (a, b) = tokio::join!(send(comment_request(true)), send(comment_request(true)));
    for resp in [a, b] {
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.version(), hyper::Version::HTTP_2);
        assert_eq!(
            resp.headers()
                .get("access-control-allow-origin")
                .and_then(|v| v.to_str().ok()),
            Some(ORIGIN)
        );
        assert_eq!(
            resp.headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("text/event-stream")
        );
        let text = text_of(resp).await;
        assert!(text.starts_with("data: "), "SSE body: {text:.80}");
        assert!(
            text.trim_end().ends_with("data: [DONE]"),
            "ends with [DONE]"
        );
        let content = sse_content(&text);
        assert!(
            content.starts_with("A. [call ") && content.len() > 500,
            "reply marker numbered: {content:.120}"
        );
        assert!(!content.contains("{seq}"), "marker substituted");
    }
    let resp = send(json!({"model": "m", "messages": [{"role": "user", "content": "Answer the question.\nAnswer:"}], "logprobs": true, "top_logprobs": 5})).await;
    let v: Value = serde_json::from_str(&text_of(resp).await).expect("JSON reply");
    assert_eq!(
        v.pointer("/choices/0/message/content")
            .and_then(Value::as_str),
        Some("A")
    );
    let tops = v
        .pointer("/choices/0/logprobs/content/0/top_logprobs")
        .and_then(Value::as_array)
        .map(Vec::len);
    assert_eq!(
        tops,
        Some(4),
        "top log-probabilities of the first token: {v}"
    );

    let stats = server.stats();
    assert_eq!(stats.calls, 3);
    assert_eq!(
        stats.repeated_calls(),
        1,
        "the two identical prompts are one repeat: {:?}",
        stats.by_prompt
    );
    assert_eq!(stats.by_version.get("HTTP/2.0"), Some(&3));
    assert_eq!(
        stats.connections, 1,
        "one TLS connection carried all three calls"
    );
    assert!(stats.calls_log.iter().all(|c| c.tls && c.connection == 1));
    for c in &stats.calls_log {
        let first = c.first_byte_ms.expect("first byte recorded");
        let last = c.last_byte_ms.expect("last byte recorded");
        assert!(first <= last, "first byte before last: {c:?}");
        // Never earlier than promised: a stream's first byte at L/2, a whole reply at L (2 ms for
        // rounding between the monotonic timer and the wall clock).
        let promised = if c.stream { latency / 2 } else { latency } as f64;
        assert!(
            first - c.received_ms >= promised - 2.0,
            "first byte too early: {c:?}"
        );
        if c.stream {
            assert!(
                last - c.received_ms >= latency as f64 - 2.0,
                "stream ended too early: {c:?}"
            );
        }
    }
    // Both streams were in flight together.
    assert!(
        stats.peak_in_flight() >= 2,
        "peak in flight {}",
        stats.peak_in_flight()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http1_over_tls_and_plain_keep_alive_with_cors() {
    let server = LatencyServer::start(20).expect("start");

    // TLS offering only http/1.1.
    let (tls, alpn) = tls_stream(&server, &[b"http/1.1"]).await;
    assert_eq!(alpn.as_deref(), Some(&b"http/1.1"[..]));
    let (mut s, conn) = http1::handshake(TokioIo::new(tls))
        .await
        .expect("h1 handshake");
    tokio::spawn(conn);
    let uri = "/v1/chat/completions";
    s.ready().await.expect("ready");
    let resp = s
        .send_request(chat(uri, comment_request(false)))
        .await
        .expect("send");
    assert_eq!(resp.version(), hyper::Version::HTTP_11);
    let v: Value = serde_json::from_str(&text_of(resp).await).expect("JSON");
    assert!(v
        .pointer("/choices/0/message/content")
        .and_then(Value::as_str)
        .is_some_and(|t| t.starts_with("A. [call 1]")));

    // Plain HTTP/1.1: a preflight, then two calls on the same kept-alive connection.
    let tcp = tokio::net::TcpStream::connect(server.plain_addr())
        .await
        .expect("connect");
    let (mut s, conn) = http1::handshake(TokioIo::new(tcp))
        .await
        .expect("h1 handshake");
    tokio::spawn(conn);
    let pre = Request::builder()
        .method("OPTIONS")
        .uri(uri)
        .header("host", "localhost")
        .header("origin", ORIGIN)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type, authorization",
        )
        .body(Full::new(Bytes::new()))
        .expect("preflight");
    s.ready().await.expect("ready");
    let resp = s.send_request(pre).await.expect("preflight");
    assert_eq!(resp.status(), 204);
    let h = |n: &str| {
        resp.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    assert_eq!(h("access-control-allow-origin").as_deref(), Some(ORIGIN));
    assert_eq!(
        h("access-control-allow-headers").as_deref(),
        Some("content-type, authorization")
    );
    assert!(h("access-control-allow-methods").is_some_and(|m| m.contains("POST")));
    let _ = text_of(resp).await;
    for _ in 0..2 {
        s.ready().await.expect("ready");
        let resp = s
            .send_request(chat(uri, comment_request(true)))
            .await
            .expect("send");
        assert_eq!(resp.status(), 200);
        assert!(text_of(resp).await.contains("[DONE]"));
    }
    let stats = server.stats();
    assert_eq!(stats.calls, 3);
    assert_eq!(stats.preflights, 1);
    assert_eq!(stats.by_version.get("HTTP/1.1"), Some(&3));
    assert_eq!(
        stats.connections, 2,
        "keep-alive: one TLS and one plain connection"
    );
    assert_eq!(
        stats.repeated_calls(),
        2,
        "the comment prompt was sent three times"
    );
    server.reset();
    assert_eq!(server.stats().calls, 0);
}
