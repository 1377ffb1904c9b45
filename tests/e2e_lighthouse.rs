//! Lighthouse's accessibility and best-practices scores of the release app, on the home page and
//! on a result page (a finished run opened from its share link in Lighthouse's own fresh
//! Chromium profile). Bar: accessibility = 100, best practices ≥ 95. Lighthouse is installed by
//! scripts/setup.sh (npm, pinned in scripts/env.sh); its JSON reports go to `.artifacts/`.
mod support;
use ethos_testkit::FaultServer;
use std::time::Duration;
use support::*;

/// Run Lighthouse on `url`; returns (accessibility, best practices) as 0–100 and prints both
/// with the audits that did not pass.
async fn lighthouse(url: &str, name: &str) -> (f64, f64) {
    let report = artifacts_dir().join(format!("lighthouse-{name}.json"));
    let profile = std::env::temp_dir().join(format!("ethos-lighthouse-{}-{name}", std::process::id()));
    let out = tokio::process::Command::new(a11y_tool("ETHOS_LIGHTHOUSE", ".bin/lighthouse"))
        .arg(url)
        .args(["--only-categories=accessibility,best-practices", "--output=json", "--quiet"])
        .arg(format!("--output-path={}", report.display()))
        .arg(format!("--chrome-flags=--headless=new --no-sandbox --disable-gpu --user-data-dir={}", profile.display()))
        .env("CHROME_PATH", std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()))
        .output()
        .await
        .expect("start lighthouse (scripts/setup.sh installs it)");
    let _ = std::fs::remove_dir_all(&profile);
    assert!(out.status.success(), "lighthouse failed on {name}: {}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report).expect("lighthouse report")).expect("report JSON");
    let score = |cat: &str| json["categories"][cat]["score"].as_f64().unwrap_or(-1.0) * 100.0;
    let (a11y, bp) = (score("accessibility"), score("best-practices"));
    let failed: Vec<String> = json["audits"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(_, a)| a["score"].as_f64().is_some_and(|s| s < 1.0) && a["scoreDisplayMode"] == "binary")
                .map(|(id, a)| format!("{id} ({})", a["title"].as_str().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default();
    println!("lighthouse {name}: accessibility {a11y:.0}, best practices {bp:.0}; failed audits: {failed:?} (report: {})", report.display());
    (a11y, bp)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn home_and_result_pages_score_100_and_at_least_95() {
    if !enabled() {
        return;
    }
    let faults = FaultServer::start().expect("fault server");
    faults.set_responder(staged_reply);
    let server = app_pointing_at(&faults.base_url(), "fault-server-model").await;
    let home = lighthouse(&server.url(), "home").await;

    // A finished run's share link: the result page as a visitor opens it.
    let b = Browser::start().await;
    b.open(&server.url()).await;
    b.choose_file(MORALCHOICE).await;
    b.pick_item(1).await;
    b.type_into("#k", "3").await;
    b.run_and_wait("#js-distance", Duration::from_secs(60)).await;
    b.click("#share-link").await;
    b.wait_js("document.querySelector('#share-url') && document.querySelector('#share-url').value.length > 0", Duration::from_secs(10), "the share link").await;
    let link = b.js("document.querySelector('#share-url').value").await.as_str().unwrap_or("").to_string();
    b.close().await;
    let result = lighthouse(&link, "result").await;

    for (name, (a11y, bp)) in [("home", home), ("result", result)] {
        assert_eq!(a11y, 100.0, "Lighthouse accessibility on the {name} page");
        assert!(bp >= 95.0, "Lighthouse best practices on the {name} page: {bp}");
    }
}
