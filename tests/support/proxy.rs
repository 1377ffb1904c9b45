//! A holding proxy in front of a real server (the local llama-server): every request is passed on
//! unchanged, except that the ones a test picks wait at the proxy until the test releases them.
//! It lets a test decide where a run against a real model stands ("one comment finished, the next
//! one asked and not answered") instead of hoping the model is slower than a click.
//!
//! One request per connection: the request is passed on with `Connection: close`, and the
//! upstream's reply is copied back as it streams until the upstream closes.

use ethos_testkit::http::read_request;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Decides from a request's path and body whether it waits for [`HoldingProxy::release`]. It is
/// asked once per request, in arrival order, so it may count.
pub type HoldRule = Box<dyn FnMut(&str, &str) -> bool + Send>;

pub struct HoldingProxy {
    addr: SocketAddr,
    held: Arc<AtomicUsize>,
    release: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl HoldingProxy {
    /// Listen on 127.0.0.1 and pass requests on to `upstream` (`host:port`).
    pub async fn start(upstream: &str, rule: HoldRule) -> HoldingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let held = Arc::new(AtomicUsize::new(0));
        let (release, _) = tokio::sync::watch::channel(false);
        let rule = Arc::new(std::sync::Mutex::new(rule));
        let upstream = upstream.to_string();
        let (held2, release2) = (held.clone(), release.clone());
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (rule, held, upstream) = (rule.clone(), held.clone(), upstream.clone());
                let released = release2.subscribe();
                tokio::spawn(async move {
                    let _ = pass_on(client, &upstream, rule, held, released).await;
                });
            }
        });
        HoldingProxy {
            addr,
            held: held2,
            release,
            task,
        }
    }

    /// `http://127.0.0.1:PORT/v1`
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// How many requests are waiting (or have waited) at the proxy.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::SeqCst)
    }

    /// Let every held request (and every later one) through.
    pub fn release(&self) {
        self.release.send_replace(true);
    }
}

impl Drop for HoldingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn pass_on(
    mut client: TcpStream,
    upstream: &str,
    rule: Arc<std::sync::Mutex<HoldRule>>,
    held: Arc<AtomicUsize>,
    mut released: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()> {
    let Ok(Some(req)) = read_request(&mut client).await else {
        return Ok(());
    };
    let body = String::from_utf8_lossy(&req.body).to_string();
    let hold = {
        let mut rule = rule.lock().unwrap_or_else(|e| e.into_inner());
        req.method != "OPTIONS" && (*rule)(&req.path, &body)
    };
    if hold {
        held.fetch_add(1, Ordering::SeqCst);
        // Waits until released; a client that gives up (Cancel) just closes its end.
        let _ = released.wait_for(|r| *r).await;
    }
    let mut out = format!("{} {} HTTP/1.1\r\n", req.method, req.path);
    for (name, value) in &req.headers {
        if !matches!(name.as_str(), "connection" | "content-length" | "keep-alive") {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    out.push_str(&format!("content-length: {}\r\nconnection: close\r\n\r\n", req.body.len()));
    let mut up = TcpStream::connect(upstream).await?;
    up.write_all(out.as_bytes()).await?;
    up.write_all(&req.body).await?;
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = up.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        client.write_all(buf.get(..n).unwrap_or(&[])).await?;
    }
    client.shutdown().await
}
