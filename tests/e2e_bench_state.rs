//! One resume model on both sides, end to end: a benchmark stopped part-way in the app is
//! exported (Export state), continued by `ethos run --state-import` (which makes only the calls
//! that had not finished: counted by its server), and the state the command line writes is
//! imported back into the app, which then shows the finished batch with the command line's scores.
//! Import refuses a file that is not a state, and asks before replacing another batch.
mod support;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;
use support::bench::*;
use support::*;

/// The `ethos` command built beside this test (`cargo test --workspace` builds it before any test
/// runs).
fn ethos_cli() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    let bin = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(|dir| dir.join("ethos"))
        .expect("target directory");
    assert!(
        bin.exists(),
        "{} is missing: build it with `cargo build -p ethos-cli` (scripts/test.sh builds it)",
        bin.display()
    );
    bin
}

async fn open_transfer(b: &Browser) {
    b.js("(() => { document.querySelector('#bench-transfer').open = true; return true; })()")
        .await;
}

async fn import(b: &Browser, path: &std::path::Path) {
    let input = b.wait_for("#bench-import-state", Duration::from_secs(10)).await;
    input
        .send_keys(&path.display().to_string())
        .await
        .expect("choose the state file");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_moves_from_the_app_to_ethos_run_and_back() {
    if !enabled() {
        return;
    }
    let ethos = ethos_cli();
    let dir = artifacts_dir().join("bench-state");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch directory");

    // 1. In the app, the batch stops at one fixed point: every comment call is held, so both
    //    vanilla tasks are done and both EthosAgents tasks have only their stage 1.
    let (server, seen, _app, b, summary) = held_comments_batch().await;
    assert!(summary.contains("4 task(s)"), "{summary}");
    b.click("#bench-start").await;
    wait_comment_calls(&b, &seen, 4).await;
    wait_stored(&b).await;
    b.click("#bench-pause").await;
    b.wait_js(
        "document.querySelector('#bench-counts').dataset.state === 'paused'",
        Duration::from_secs(30),
        "the batch paused",
    )
    .await;
    server.release();
    let finished_in_app: Vec<String> = seen
        .lock()
        .map(|v| v.iter().filter(|t| !is_comment(t)).cloned().collect())
        .unwrap_or_default();
    assert_eq!(finished_in_app.len(), 4, "2 vanilla + 2 stage-1 calls finished in the app");
    assert_eq!(b.bench_counts().await.get("done").map(String::as_str), Some("2"));

    // 2. Export the state.
    open_transfer(&b).await;
    b.click("#bench-export-state").await;
    let exported = b.wait_download(".state.json", Duration::from_secs(20)).await;
    let from_app = dir.join("from-app.state.json");
    std::fs::copy(&exported, &from_app).expect("keep the state");
    let text = std::fs::read_to_string(&from_app).expect("read the state");
    assert!(!text.contains("sk-"), "no key in the state");

    // 3. `ethos run` continues it against another server, with nothing but the state, the file
    //    and the endpoint: only the calls that had not finished are made.
    let (cli_server, cli_seen) = logged_server();
    let back = dir.join("from-cli.state.json");
    let out = Command::new(&ethos)
        .arg("run")
        .arg("--file")
        .arg(root().join("public/vital").join(GLOBALOPINION))
        .args(["--provider", "openai", "--base-url", &cli_server.base_url()])
        .arg("--state-import")
        .arg(&from_app)
        .arg("--state-export")
        .arg(&back)
        .arg("--out")
        .arg(dir.join("cli.batch.json"))
        .output()
        .expect("run ethos");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "ethos run failed: {stderr}");
    let summary: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("the summary is JSON");
    let made: Vec<String> = cli_seen.lock().map(|v| v.clone()).unwrap_or_default();
    assert_eq!(
        made.len(),
        8,
        "2 EthosAgents items × (2 comments + 2 answers): {made:#?}"
    );
    assert!(
        made.iter().all(|t| !finished_in_app.contains(t)),
        "no call that finished in the app was made again"
    );
    assert_eq!(summary["reused"].as_u64(), Some(2), "{summary}");
    assert_eq!(summary["ran"].as_u64(), Some(2), "{summary}");

    // 4. Back in the app: the command line's state completes the batch, scored the same.
    import(&b, &back).await;
    b.wait_for("#bench-import-note", Duration::from_secs(30)).await;
    let note = b.text("#bench-import-note").await;
    assert!(note.contains("0 task(s) left"), "{note}");
    let counts = b.bench_counts().await;
    assert_eq!(counts.get("done").map(String::as_str), Some("4"), "{counts:?}");
    assert_eq!(counts.get("state").map(String::as_str), Some("done"), "{counts:?}");
    for m in ["ethosagents", "vanilla"] {
        let cell = b
            .text(&format!("#bench-results tr[data-method='{m}'] .mean-js"))
            .await;
        let table: f64 = cell.trim().parse().expect("mean JS in the table");
        let cli = summary["results"][m]["dist"]["mean_js"]
            .as_f64()
            .expect("the command line's mean JS");
        assert!((table - cli).abs() < 5e-4, "{m}: app {table} vs ethos run {cli}");
    }
    wait_stored(&b).await;
    b.screenshot_at("#bench-transfer", "bench-state-imported").await;

    // 5. Stranger files: not a state; a state of another batch (asks before replacing).
    let vital = root().join("public/vital").join(GLOBALOPINION);
    import(&b, &vital).await;
    b.wait_for("#bench-import-error", Duration::from_secs(30)).await;
    let err = b.text("#bench-import-error").await;
    assert!(err.contains("not a batch state"), "{err}");
    assert_eq!(b.bench_counts().await.get("done").map(String::as_str), Some("4"));

    let mut other: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&back).expect("state")).expect("json");
    other["spec"]["settings"]["k"] = serde_json::json!(3);
    let other_path = dir.join("other.state.json");
    std::fs::write(&other_path, other.to_string()).expect("write");
    import(&b, &other_path).await;
    b.wait_for("#bench-import-replace", Duration::from_secs(30)).await;
    let err = b.text("#bench-import-error").await;
    assert!(err.contains("another benchmark") && err.contains("4 result(s)"), "{err}");
    assert_eq!(b.bench_counts().await.get("done").map(String::as_str), Some("4"), "nothing replaced yet");
    b.screenshot_at("#bench-transfer", "bench-state-would-replace").await;
    b.click("#bench-import-replace").await;
    b.wait_for("#bench-import-note", Duration::from_secs(30)).await;
    assert_eq!(b.count("#bench-import-replace").await, 0);
    assert_eq!(b.count("#bench-import-error").await, 0);
    wait_stored(&b).await;
    let spec = b.js(&idb_entries_js("batch_meta")).await.to_string();
    assert!(spec.contains(r#"\"k\":3"#), "the batch on this device is now the file's: {spec:.300}");
    b.close().await;
}
