//! `cargo bench -p ethos-cli --bench scale`: the whole GlobalOpinionQA file (1,676 items) ×
//! EthosAgents, vanilla and prompting at k = 6 (about 25,000 calls) through the `ethos` binary,
//! three ways:
//!
//! 1. live over HTTPS (HTTP/2 + TLS) against the latency server, its test CA trusted through
//!    `SSL_CERT_FILE`;
//! 2. through `--batch-api` against the fault server's OpenAI Batch API (same stage-aware
//!    replies), one batch per pipeline stage;
//! 3. live on two latency servers at once (`--base-url` twice, plain HTTP).
//!
//! Prints per way: wall time, calls (against the plan: 15 per item), calls per second, the share
//! of each endpoint, and whether the scores equal run 1's exactly. (The servers' count of
//! identical prompts is not a count of repeated calls: items that share a question with another
//! country's item send the same comment prompts.)
//! Environment: `ETHOS_SCALE_ITEMS` (first N items; default all), `ETHOS_SCALE_LATENCY_MS`
//! (default 50), `ETHOS_SCALE_CONCURRENCY` (calls in flight per endpoint, default 32).

use ethos_testkit::latency::ethos_reply;
use ethos_testkit::{FaultServer, LatencyServer};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const METHODS: [&str; 3] = ["ethosagents", "vanilla", "prompting"];

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

struct Setup {
    file: PathBuf,
    dir: PathBuf,
    items: Option<u64>,
    concurrency: u64,
}

/// `ethos run` on the setup's slice against `urls`, with `extra`; the summary and the wall time.
fn ethos_run(
    s: &Setup,
    name: &str,
    urls: &[String],
    extra: &[&str],
    ca: Option<&Path>,
) -> (Value, f64) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ethos"));
    cmd.args(["run", "--file"]).arg(&s.file);
    if let Some(n) = s.items {
        cmd.args(["--first", &n.to_string()]);
    }
    cmd.args([
        "--method",
        &METHODS.join(","),
        "--provider",
        "openai",
        "--model",
        "m",
    ]);
    cmd.args(["--k", "6", "--concurrency", &s.concurrency.to_string()]);
    for u in urls {
        cmd.args(["--base-url", u]);
    }
    cmd.arg("--out").arg(s.dir.join(format!("{name}.json")));
    cmd.args(extra);
    cmd.env_remove("SSL_CERT_FILE").env_remove("SSL_CERT_DIR");
    if let Some(ca) = ca {
        cmd.env("SSL_CERT_FILE", ca);
    }
    let t0 = Instant::now();
    let out = cmd.output().expect("run ethos");
    let secs = t0.elapsed().as_secs_f64();
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = err.lines().rev().take(5).collect();
        panic!(
            "{name}: ethos run failed ({:?}): {}",
            out.status.code(),
            tail.join(" | ")
        );
    }
    (serde_json::from_str(stdout.trim()).expect("summary"), secs)
}

fn same_scores(a: &Value, b: &Value) -> bool {
    METHODS.iter().all(|m| {
        a["results"][m]["dist"].is_object() && a["results"][m]["dist"] == b["results"][m]["dist"]
    })
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let file = root.join("public/vital/vital_distributional_globalopinionqa.json");
    let dir = std::env::temp_dir().join(format!("ethos-scale-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let latency = env_num("ETHOS_SCALE_LATENCY_MS", 50);
    let s = Setup {
        file,
        dir: dir.clone(),
        items: std::env::var("ETHOS_SCALE_ITEMS")
            .ok()
            .and_then(|v| v.trim().parse().ok()),
        concurrency: env_num("ETHOS_SCALE_CONCURRENCY", 32),
    };
    println!(
        "scale: GlobalOpinionQA {} × {} at k = 6, latency {latency} ms, {} calls in flight per endpoint",
        s.items.map(|n| format!("first {n} items")).unwrap_or_else(|| "all items".into()),
        METHODS.join(", "),
        s.concurrency
    );

    // 1. Live over HTTPS with the latency server's CA.
    let tls = LatencyServer::start(latency).expect("latency server");
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, tls.ca_pem()).expect("CA file");
    let (live, secs) = ethos_run(&s, "https", &[tls.https_base_url()], &[], Some(&ca));
    let st = tls.stats();
    let calls = st.calls;
    let planned = live["items"].as_u64().unwrap_or(0) * 15;
    println!(
        "1. live, HTTPS (HTTP/2 + TLS, SSL_CERT_FILE = test CA): {} of {} tasks done, {calls} calls (plan {planned}) in {secs:.1} s ({:.0} calls/s), {} connection(s), versions {:?}",
        live["done"],
        live["tasks"],
        calls as f64 / secs,
        st.connections,
        st.by_version
    );
    drop(tls);

    // 2. The OpenAI Batch API of the fault server, same replies.
    let batch = FaultServer::start().expect("fault server");
    batch.set_responder(ethos_reply);
    let (via_batch, secs) = ethos_run(
        &s,
        "batch",
        &[batch.base_url()],
        &["--batch-api", "--batch-poll", "0.2"],
        None,
    );
    let b = batch.batch_stats();
    let sizes: Vec<u64> = via_batch["batches"]
        .as_array()
        .map(|a| a.iter().filter_map(|x| x["calls"].as_u64()).collect())
        .unwrap_or_default();
    println!(
        "2. --batch-api (OpenAI Batch API of the fault server): {} of {} tasks done, {} batches of {sizes:?} calls, {} lines answered in {secs:.1} s, {} live calls, {} polls; scores equal run 1's: {}",
        via_batch["done"],
        via_batch["tasks"],
        b.batches_created,
        b.answered,
        batch.stats().total,
        b.polls,
        same_scores(&via_batch, &live)
    );
    drop(batch);

    // 3. Two endpoints at once.
    let (a, bsrv) = (
        LatencyServer::start(latency).expect("latency server"),
        LatencyServer::start(latency).expect("latency server"),
    );
    let (two, secs) = ethos_run(
        &s,
        "two",
        &[a.http_base_url(), bsrv.http_base_url()],
        &[],
        None,
    );
    let (na, nb) = (a.stats().calls, bsrv.stats().calls);
    let total = (na + nb).max(1);
    println!(
        "3. two endpoints (HTTP/1.1, {} in flight each): {} of {} tasks done, {} calls (plan {planned}) in {secs:.1} s ({:.0} calls/s); shares {:.1} % / {:.1} %; scores equal run 1's: {}",
        s.concurrency,
        two["done"],
        two["tasks"],
        na + nb,
        (na + nb) as f64 / secs,
        100.0 * na as f64 / total as f64,
        100.0 * nb as f64 / total as f64,
        same_scores(&two, &live)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
