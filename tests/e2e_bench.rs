//! Benchmark mode end to end in headless Chromium against the project's test LLM server:
//! set up a slice × two methods, start, reload the page mid-run, resume, and check that finished
//! calls were not made again (counted by the server), that the table's mean JS distance is the
//! exported VITAL file's score, and that an item drills down into its full run.
mod support;
use ethos_engine::metrics::score_distributions;
use ethos_engine::vital::{self, Item, Source};
use ethos_testkit::{ChatCall, Fault, FaultServer};
use std::sync::Arc;
use std::time::Duration;
use support::bench::*;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_benchmark_survives_a_reload_and_scores_like_its_export() {
    if !enabled() {
        return;
    }
    // Where the reload lands is decided here, not by timing: every stage-2 comment call is held
    // (`held_comments_batch`), so the batch reaches one fixed state and stays there.
    let (server, seen, _app, b, summary) = held_comments_batch().await;
    assert!(
        summary.contains("2 item(s) × 2") && summary.contains("4 task(s)"),
        "{summary}"
    );
    // Before Start: what it will cost (EthosAgents k = 2: 5 calls per item; vanilla: 1).
    let estimate = b.text("#bench-estimate").await;
    assert!(estimate.contains("4 task(s) to run: about 12 calls"), "{estimate}");

    b.click("#bench-start").await;
    b.wait_js(
        "Number(document.querySelector('#bench-counts').dataset.done) >= 2",
        Duration::from_secs(60),
        "the two vanilla tasks done",
    )
    .await;
    wait_comment_calls(&b, &seen, 4).await;
    // Every finished call is in the browser's database before the reload (its writes are
    // asynchronous: wait for them, not for time).
    wait_stored(&b).await;
    let before = b.bench_counts().await;
    assert_eq!(before.get("state").map(String::as_str), Some("running"));
    assert_eq!(before.get("done").map(String::as_str), Some("2"), "{before:?}");
    assert_eq!(seen.lock().map(|v| v.len()).unwrap_or(0), 8, "2 vanilla + 2 stage-1 + 4 held");
    b.screenshot_at("#bench-panel", "bench-running").await;

    // Reload mid-run: the batch comes back paused with what finished. The held calls die with
    // the page; from now on every call is answered.
    b.client.refresh().await.expect("reload");
    server.set_fault_rule(None);
    b.wait_js("document.querySelector('#bench-counts') && document.querySelector('#bench-counts').dataset.state === 'paused'", Duration::from_secs(30), "the batch back, paused").await;
    let after = b.bench_counts().await;
    assert_eq!(
        after.get("done").map(String::as_str),
        Some("2"),
        "finished tasks kept across the reload: {after:?}"
    );
    let status = b.text("#status").await;
    assert!(
        status.contains("interrupted") && status.contains("finished call"),
        "{status}"
    );
    let form = b.js("[document.querySelector('#bench-n').value, document.querySelector('#bench-method-prompting').checked, document.querySelector('#bench-file').value]").await;
    assert_eq!(
        form,
        serde_json::json!(["2", false, GLOBALOPINION]),
        "the form shows the stored batch"
    );

    run_to_the_end(&b).await;
    let end = b.bench_counts().await;
    assert_eq!(end.get("done").map(String::as_str), Some("4"), "{end:?}");
    assert_eq!(end.get("failed").map(String::as_str), Some("0"), "{end:?}");

    // A batch run straight through makes 12 calls (EthosAgents with k = 2: 1 + 2 + 2 per item;
    // vanilla: 1). Exactly the 4 calls cut off by the reload are made again; the two stage-1
    // calls that had finished come from storage.
    let all = seen.lock().map(|v| v.len()).unwrap_or(0);
    assert_eq!(all, 16, "12 calls + the 4 cut off by the reload");
    // The calls were made by the page's network worker, not by the page: the page's own
    // resource timing (not full: its buffer holds 250) has none of the 8 made since the reload.
    let page_fetches = page_chat_fetches(&b, &server.base_url()).await;
    assert_eq!(page_fetches[1], 0, "chat calls made by the page itself: {page_fetches}");
    assert!(page_fetches[0].as_u64().is_some_and(|n| n < 250), "{page_fetches}");
    let progress = b.text("#bench-counts").await;
    assert!(
        progress.contains("(2 from storage)"),
        "resumed tasks reuse their stored stage-1 calls: {progress}"
    );

    // The table, the chart, and the export scored as `ethos score` would.
    assert_eq!(b.count("#bench-results tbody tr").await, 2);
    assert!(
        b.count("#bench-chart rect").await == 2,
        "one bar per method"
    );
    let js_cell = b
        .text("#bench-results tr[data-method='ethosagents'] .mean-js")
        .await;
    let table_js: f64 = js_cell.trim().parse().expect("mean JS in the table");
    b.click("#bench-export-ethosagents").await;
    let path = b
        .wait_download(".ethosagents.json", Duration::from_secs(20))
        .await;
    let text = std::fs::read_to_string(&path).expect("read the export");
    let items =
        vital::load(&text, Some(Source::GlobalOpinionQa)).expect("the export is a VITAL file");
    assert_eq!(items.len(), 2);
    let pairs: Vec<(Vec<f64>, Vec<f64>)> = items
        .iter()
        .filter_map(|i| match i {
            Item::Choice { item, .. } => Some((
                item.gold_distribution.clone()?,
                item.pred_distribution.clone()?,
            )),
            _ => None,
        })
        .collect();
    assert_eq!(pairs.len(), 2, "every exported item has a prediction");
    let scored = score_distributions(pairs.iter().map(|(g, p)| (g.as_slice(), p.as_slice())));
    assert!(
        (scored.mean_js - table_js).abs() < 5e-4,
        "table {table_js} vs export {}",
        scored.mean_js
    );
    b.click("#bench-export-csv").await;
    let csv = std::fs::read_to_string(
        b.wait_download(".scores.csv", Duration::from_secs(20))
            .await,
    )
    .expect("csv");
    assert_eq!(csv.lines().count(), 5, "header + 4 tasks:\n{csv}");
    b.screenshot_at("#bench-panel", "bench-done").await;

    // Drill down: the item's full run, in the one-scenario view, with no new call.
    let calls = seen.lock().map(|v| v.len()).unwrap_or(0);
    b.click(".bench-item[data-item='0'] .bench-open[data-method='ethosagents']")
        .await;
    b.wait_for("#js-distance", Duration::from_secs(20)).await;
    assert_eq!(b.count(".perspective-card").await, 2);
    assert_eq!(b.count(".comment-card[data-state='done']").await, 2);
    assert_eq!(
        seen.lock().map(|v| v.len()).unwrap_or(0),
        calls,
        "opening an item makes no call"
    );
    b.screenshot("bench-drilldown").await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_benchmark_compares_two_models() {
    if !enabled() {
        return;
    }
    let (server, _seen, app, b) = logged_app().await;
    b.type_into("#k", "2").await;
    let summary = set_up(
        &b,
        MORALCHOICE,
        2,
        &["vanilla", "prompting"],
        Some("model-a\nmodel-b"),
    )
    .await;
    assert!(
        summary.contains("× 2 models = 4 task(s)") && summary.contains("model-a, model-b"),
        "{summary}"
    );
    run_to_the_end(&b).await;
    let stats = server.stats();
    // Each model runs every stage of its tasks: 2 items × (1 + 2 + 2) calls.
    assert_eq!(
        (stats.model("model-a"), stats.model("model-b")),
        (10, 10),
        "{:?}",
        stats.by_model
    );
    assert_eq!(stats.model("fault-server-model"), 0);
    let rows: Vec<String> = serde_json::from_value(
        b.js("[...document.querySelectorAll('#bench-results tbody th')].map(e => e.innerText)")
            .await,
    )
    .unwrap_or_default();
    assert_eq!(
        rows,
        vec![
            "EthosAgents · model-a".to_string(),
            "EthosAgents · model-b".to_string()
        ]
    );
    b.click("#bench-export-ethosagents-1").await;
    let path = b
        .wait_download(".ethosagents.model-b.json", Duration::from_secs(20))
        .await;
    let items = vital::load(
        &std::fs::read_to_string(&path).expect("export"),
        Some(Source::MoralChoice),
    )
    .expect("a VITAL file");
    assert_eq!(items.len(), 2);
    b.screenshot_at("#bench-panel", "bench-two-models").await;
    b.close().await;

    // The same page on a 320 px phone: nothing overflows sideways (wide tables scroll in place).
    let phone = Browser::start_sized(320, 700).await;
    phone.open(&app.url()).await;
    phone.type_into("#k", "2").await;
    set_up(
        &phone,
        MORALCHOICE,
        2,
        &["prompting"],
        Some("model-a\nmodel-b"),
    )
    .await;
    run_to_the_end(&phone).await;
    let overflow = phone
        .js("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        .await;
    assert!(
        overflow.as_i64().unwrap_or(999) <= 0,
        "horizontal overflow at 320 px: {overflow}"
    );
    phone.screenshot_at("#bench-results", "bench-320").await;
    phone.close().await;
}

/// The default judge's score for an explanation (the premise), whatever the sentence: 0.9 when
/// the explanation has an even number of characters, else 0.1.
fn premise_score(premise: &str) -> f64 {
    if premise.chars().count() % 2 == 0 {
        0.9
    } else {
        0.1
    }
}

/// The judge's reply: a score per hypothesis (the default judge, one call per explanation: the
/// premise's [`premise_score`] for every sentence), or per statement for the whole-output judge
/// ("exactly N numbers", the first one covered).
fn judged(call: &ChatCall) -> ethos_testkit::OkReply {
    let prompt: String = call
        .messages
        .iter()
        .map(|(_, t)| t.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    let count = |prompt: &str| -> usize {
        prompt
            .split("exactly ")
            .nth(1)
            .and_then(|t| t.split_whitespace().next())
            .and_then(|t| t.parse().ok())
            .unwrap_or(1)
    };
    if prompt.contains("You rate textual entailment") {
        let premise = prompt
            .split("Premise:\n")
            .nth(1)
            .and_then(|t| t.split("\n\nHypotheses:").next())
            .unwrap_or("");
        let score = premise_score(premise).to_string();
        let scores = vec![score; count(&prompt)];
        return ethos_testkit::OkReply {
            texts: vec![format!("{{\"scores\": [{}]}}", scores.join(", "))],
            ..Default::default()
        };
    }
    if prompt.contains("You check which ideas a text covers") {
        let scores: Vec<String> = (0..count(&prompt))
            .map(|i| if i == 0 { "0.9".into() } else { "0.1".into() })
            .collect();
        return ethos_testkit::OkReply {
            texts: vec![format!("{{\"scores\": [{}]}}", scores.join(", "))],
            ..Default::default()
        };
    }
    ethos_testkit::latency::ethos_reply(call)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overton_benchmark_is_scored_by_the_judge() {
    if !enabled() {
        return;
    }
    let server = FaultServer::start().expect("test LLM server");
    server.set_responder(judged);
    let app = app_pointing_at(&server.base_url(), "fault-server-model").await;
    let b = Browser::start().await;
    b.open(&app.url()).await;
    b.type_into("#k", "2").await;
    b.click("#view-bench").await;
    let select = b.wait_for("#bench-file", Duration::from_secs(10)).await;
    select
        .select_by_value(OVERTON)
        .await
        .expect("choose the file");
    b.click("#bench-judge").await;
    let summary = set_up(&b, OVERTON, 2, &["prompting"], None).await;
    assert!(summary.contains("judged"), "{summary}");
    run_to_the_end(&b).await;
    let counts = b.bench_counts().await;
    assert_eq!(
        (
            counts.get("done").map(String::as_str),
            counts.get("failed").map(String::as_str)
        ),
        (Some("4"), Some("0")),
        "{counts:?}"
    );
    // Each item's judged coverage is the mean over its explanations of the max over the output's
    // sentences (the reference direction): here each explanation's premise_score; the table shows
    // the share above 0.33 and the mean.
    let cell = b
        .text("#bench-results tr[data-method='ethosagents'] .coverage")
        .await;
    assert!(cell.ends_with('%'), "coverage accuracy shown: {cell}");
    let rows = b.count("#bench-results tbody tr").await;
    assert_eq!(rows, 2);
    // The expected mean from the file.
    let text =
        std::fs::read_to_string(dist().join("vital").join(OVERTON)).expect("the shipped file");
    let items = vital::load(&text, Some(Source::OvertonValueKaleidoscope)).expect("loads");
    let expected: f64 = items
        .iter()
        .take(2)
        .map(|i| match i {
            Item::Overton(o) => {
                let n = o.explanation.len() as f64;
                o.explanation.iter().map(|e| premise_score(e)).sum::<f64>() / n
            }
            _ => f64::NAN,
        })
        .sum::<f64>()
        / 2.0;
    let mean: f64 = b
        .text("#bench-results tr[data-method='ethosagents'] td:nth-of-type(5)")
        .await
        .trim()
        .parse()
        .expect("mean coverage");
    assert!(
        (mean - expected).abs() < 5e-4,
        "mean coverage {mean}, expected {expected:.3}"
    );
    b.screenshot_at("#bench-panel", "bench-overton-judged")
        .await;
    b.close().await;
}

/// A write the browser refuses mid-batch (a full quota: IndexedDB's `put` throws
/// `QuotaExceededError`) pauses the benchmark with a message. Saved runs are all still there;
/// the call that finished just before the refusal waits in the tab, is stored by Resume and is
/// never asked again; after the end, a reload shows every task done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_write_pauses_the_benchmark_and_loses_nothing() {
    if !enabled() {
        return;
    }
    let (server, seen, _app, b) = logged_app().await;
    let calls = || seen.lock().map(|v| v.clone()).unwrap_or_default();
    b.type_into("#k", "2").await;
    // A saved run, which nothing may delete to make room.
    b.choose_file(GLOBALOPINION).await;
    b.pick_item(0).await;
    b.run_and_wait("#js-distance", Duration::from_secs(60)).await;
    assert_eq!(b.count(".saved-run").await, 1, "the run is saved");
    b.wait_run_saved().await;
    let saved = b.js(&saved_run_ids_js()).await;
    assert_eq!(saved.as_array().map(Vec::len), Some(1), "{saved}");
    let straight = calls().len();

    // One call slot, and every comment call held: the batch reaches one fixed state (the first
    // comment call held at the server, everything else waiting for the slot) and stays there.
    b.type_into("#concurrency", "1").await;
    server.set_fault_rule(Some(Arc::new(|call: &ChatCall| {
        is_comment(&request_text(call)).then_some(Fault::Hold)
    })));
    let summary = set_up(&b, GLOBALOPINION, 2, &["prompting"], None).await;
    assert!(summary.contains("4 task(s)"), "{summary}");
    b.click("#bench-start").await;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !calls()[straight..].iter().any(|t| is_comment(t)) {
        assert!(std::time::Instant::now() < deadline, "no comment call reached the server");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    wait_stored(&b).await;
    let held = calls().last().cloned().expect("the held call was seen");
    assert!(is_comment(&held));

    // Storage is full from now on. The held call finishes; storing it is refused.
    refuse_writes(&b, true).await;
    server.release();
    b.wait_js(
        "document.querySelector('#bench-counts').dataset.state === 'paused'",
        Duration::from_secs(30),
        "the batch paused by the refused write",
    )
    .await;
    let notice = b.text("#bench-notice").await;
    for words in ["paused", "storage space for this site is full", "Nothing that finished is lost"] {
        assert!(notice.contains(words), "{words:?} in {notice:?}");
    }
    let status = b.text("#status").await;
    assert!(status.contains("Benchmark paused") && status.contains("full"), "{status}");
    let unsaved: u64 = b
        .bench_counts()
        .await
        .get("unsaved")
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(unsaved >= 1, "the finished call waits in the tab");
    assert_eq!(b.js(&saved_run_ids_js()).await, saved, "a saved run was deleted to make room");
    b.screenshot_at("#bench-panel", "bench-storage-full").await;

    // Room again: Resume stores what waited and finishes the batch.
    refuse_writes(&b, false).await;
    server.set_fault_rule(None);
    server.release();
    run_to_the_end(&b).await;
    wait_stored(&b).await;
    let end = b.bench_counts().await;
    assert_eq!(end.get("done").map(String::as_str), Some("4"), "{end:?}");
    assert_eq!(end.get("failed").map(String::as_str), Some("0"), "{end:?}");
    let all = calls();
    let batch_calls = &all[straight..];
    assert_eq!(
        batch_calls.iter().filter(|t| **t == held).count(),
        1,
        "the call that finished before the refusal was asked again"
    );
    // 12 calls straight through (k = 2: 5 per EthosAgents item, 1 per vanilla one), plus at
    // most the one call the single slot had started when the refusal paused the batch.
    assert!(
        (12..=13).contains(&batch_calls.len()),
        "{} calls: finished calls were repeated",
        batch_calls.len()
    );

    // Everything that finished is stored: a reload shows the batch done.
    b.client.refresh().await.expect("reload");
    b.wait_js(
        "document.querySelector('#bench-counts') && document.querySelector('#bench-counts').dataset.state === 'done' && document.querySelector('#bench-counts').dataset.done === '4'",
        Duration::from_secs(30),
        "the finished batch back after a reload",
    )
    .await;
    assert_eq!(b.js(&saved_run_ids_js()).await, saved);
    b.close().await;
}

/// A benchmark that an earlier version kept in localStorage moves to the browser's database on
/// the first start, whole: the batch is back, done, with no call made, and the old entries are
/// gone. (The earlier version's entries are written from a real batch's stored data.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_benchmark_stored_by_an_earlier_version_moves_to_the_database() {
    if !enabled() {
        return;
    }
    let (_server, seen, app, b) = logged_app().await;
    let count = || seen.lock().map(|v| v.len()).unwrap_or(0);
    b.type_into("#k", "2").await;
    // Vanilla and EthosAgents on 2 items: 2 + 2 × 5 calls.
    set_up(&b, GLOBALOPINION, 2, &["prompting"], None).await;
    run_to_the_end(&b).await;
    wait_stored(&b).await;
    let made = count();
    assert_eq!(made, 12);

    // The stored batch, written back under the earlier version's localStorage keys.
    let moved = b
        .js(r#"(async () => {
            const db = await new Promise((ok, no) => { const q = indexedDB.open('ethos-agents'); q.onsuccess = () => ok(q.result); q.onerror = () => no(q.error); });
            const all = store => new Promise((ok, no) => {
                const t = db.transaction(store); const s = t.objectStore(store);
                const k = s.getAllKeys(); const v = s.getAll();
                t.oncomplete = () => ok(k.result.map((key, i) => [key, v.result[i]])); t.onerror = () => no(t.error);
            });
            let n = 0;
            for (const [k, v] of await all('batch_meta')) { localStorage.setItem('ethos.batch.' + k, v); n++; }
            for (const [k, v] of await all('batch_calls')) { localStorage.setItem('ethos.bc.' + k, v); n++; }
            for (const [k, v] of await all('batch_outcomes')) { localStorage.setItem('ethos.bo.' + k, v); n++; }
            db.close();
            return n;
        })()"#)
        .await;
    // spec + state + 12 calls + 4 outcomes.
    assert_eq!(moved, 18, "entries written back");
    // Without the database (deleted from another page of the origin, once the app is gone).
    b.client
        .goto(&format!("{}blank", app.url()))
        .await
        .expect("open a blank page");
    let deleted = b
        .js("new Promise(ok => { const q = indexedDB.deleteDatabase('ethos-agents'); q.onsuccess = () => ok(true); q.onerror = () => ok(false); })")
        .await;
    assert_eq!(deleted, true);

    // The app reopens in benchmark view (remembered), where the first start moves the batch.
    b.client.goto(&app.url()).await.expect("open the app");
    b.wait_js(
        "document.querySelector('#bench-counts') && document.querySelector('#bench-counts').dataset.state === 'done' && document.querySelector('#bench-counts').dataset.done === '4'",
        Duration::from_secs(30),
        "the earlier version's batch back, done",
    )
    .await;
    let left = b
        .js("Object.keys(localStorage).filter(k => k.startsWith('ethos.bc.') || k.startsWith('ethos.bo.') || k.startsWith('ethos.batch.')).length")
        .await;
    assert_eq!(left, 0, "the old entries are removed once moved");
    // Its calls moved too: drilling into an item replays it from them, with no call.
    b.click(".bench-item[data-item='0'] .bench-open[data-method='ethosagents']")
        .await;
    b.wait_for("#js-distance", Duration::from_secs(20)).await;
    assert_eq!(b.count(".comment-card[data-state='done']").await, 2);
    assert_eq!(count(), made, "the moved batch made no call");
    b.close().await;
}

/// The journal: a reload before the database has committed the last results loses none of them.
/// The moment is held, not timed: a transaction of the test's own keeps the benchmark's stores
/// busy, so every write of the app waits behind it; the batch finishes, the page is reloaded
/// with all its results still unwritten, and they come back from the journal, with no call
/// made again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_before_the_database_commits_loses_nothing() {
    if !enabled() {
        return;
    }
    let (_server, seen, _app, b) = logged_app().await;
    let count = || seen.lock().map(|v| v.len()).unwrap_or(0);
    // Vanilla only, 4 items: 4 calls.
    set_up(&b, GLOBALOPINION, 4, &["ethosagents", "prompting"], None).await;
    wait_stored(&b).await;
    let held = b
        .js(r#"new Promise((ok, no) => {
            const q = indexedDB.open('ethos-agents');
            q.onerror = () => no(q.error);
            q.onsuccess = () => {
                const stores = ['batch_calls', 'batch_outcomes', 'batch_meta'];
                const t = q.result.transaction(stores, 'readwrite');
                const s = t.objectStore('batch_meta');
                // A request after each other keeps the transaction alive for as long as the page.
                const again = () => { s.get('nothing').onsuccess = again; };
                again();
                ok(true);
            };
        })"#)
        .await;
    assert_eq!(held, true, "the test's transaction holds the stores");
    run_to_the_end(&b).await;
    let before = b.bench_counts().await;
    assert_eq!(before.get("done").map(String::as_str), Some("4"), "{before:?}");
    let unsaved: u64 = before
        .get("unsaved")
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    // 4 calls + 4 outcomes + the states: none in the database yet.
    assert!(unsaved >= 8, "the writes wait behind the held transaction: {before:?}");
    let journal = b
        .js("Object.keys(localStorage).filter(k => k.startsWith('ethos.journal.')).length")
        .await;
    assert!(journal.as_u64().unwrap_or(0) >= 8, "the journal holds them: {journal}");
    assert_eq!(count(), 4);

    b.client.refresh().await.expect("reload");
    b.wait_js(
        "document.querySelector('#bench-counts') && document.querySelector('#bench-counts').dataset.state === 'done' && document.querySelector('#bench-counts').dataset.done === '4'",
        Duration::from_secs(30),
        "the finished batch back from the journal",
    )
    .await;
    let left = b
        .js("Object.keys(localStorage).filter(k => k.startsWith('ethos.journal.')).length")
        .await;
    assert_eq!(left, 0, "the journal is emptied into the database");
    // Now in the database for good: another reload still has them.
    b.client.refresh().await.expect("reload");
    b.wait_js(
        "document.querySelector('#bench-counts') && document.querySelector('#bench-counts').dataset.state === 'done' && document.querySelector('#bench-counts').dataset.done === '4'",
        Duration::from_secs(30),
        "the batch in the database after a second reload",
    )
    .await;
    assert_eq!(count(), 4, "no call made again");
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_benchmark_runs_without_its_network_worker() {
    if !enabled() {
        return;
    }
    // A host that lacks the worker's script (an old copy, a stripped upload): the benchmark
    // makes its calls from the page instead, and nothing else changes.
    let (server, seen) = logged_server();
    let app = app_pointing_at(&server.base_url(), "fault-server-model").await;
    app.hide_file("fetch-worker.js");
    let b = Browser::start().await;
    b.open(&app.url()).await;
    b.type_into("#k", "2").await;
    set_up(&b, GLOBALOPINION, 2, &["prompting"], None).await;
    run_to_the_end(&b).await;
    let end = b.bench_counts().await;
    assert_eq!(end.get("done").map(String::as_str), Some("4"), "{end:?}");
    assert_eq!(end.get("failed").map(String::as_str), Some("0"), "{end:?}");
    assert_eq!(seen.lock().map(|v| v.len()).unwrap_or(0), 12);
    let page = page_chat_fetches(&b, &server.base_url()).await;
    assert_eq!(page[1], 12, "every call made by the page itself: {page}");
    assert_eq!(b.count("#bench-results tbody tr").await, 2);
    b.close().await;
}
