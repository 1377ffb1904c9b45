//! Saved runs across versions of the storage, end to end in headless Chromium: a run that a
//! version before the database kept in localStorage (written here from a real run's saved
//! record) moves to IndexedDB on the first start, is reopened and listed, and the old entries go.
mod support;
use std::time::Duration;
use support::bench::logged_app;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saved_runs_of_an_earlier_version_move_to_the_database() {
    if !enabled() {
        return;
    }
    let (_server, _seen, app, b) = logged_app().await;
    b.type_into("#k", "2").await;
    b.choose_file(GLOBALOPINION).await;
    b.pick_item(0).await;
    b.run_and_wait("#js-distance", Duration::from_secs(60)).await;
    let js = b.text("#js-distance").await;
    let record = b.stored_run().await.expect("the run is saved");
    let id = b.js("localStorage.getItem('ethos.current')").await;
    let id = id.as_str().expect("the run on screen has an id").to_string();

    // As an earlier version kept it: the record under `ethos.run.<id>`, no database.
    b.js(&format!(
        "(() => {{ localStorage.setItem('ethos.run.' + {id:?}, {record}); return true; }})()",
        record = serde_json::Value::from(record.clone())
    ))
    .await;
    b.client
        .goto(&format!("{}blank", app.url()))
        .await
        .expect("open a blank page");
    let deleted = b
        .js("new Promise(ok => { const q = indexedDB.deleteDatabase('ethos-agents'); q.onsuccess = () => ok(true); q.onerror = () => ok(false); })")
        .await;
    assert_eq!(deleted, true);

    b.open(&app.url()).await;
    b.wait_for("#js-distance", Duration::from_secs(30)).await;
    assert_eq!(b.text("#js-distance").await, js, "the run on screen again");
    assert_eq!(b.count(".saved-run").await, 1, "listed");
    assert_eq!(
        b.js("Object.keys(localStorage).filter(k => k.startsWith('ethos.run')).length")
            .await,
        0,
        "the old entry is removed once moved"
    );
    assert_eq!(
        b.js(&saved_run_ids_js()).await,
        serde_json::json!([id]),
        "in the database"
    );
    let now: serde_json::Value =
        serde_json::from_str(&b.stored_run().await.expect("saved")).expect("JSON");
    let before: serde_json::Value = serde_json::from_str(&record).expect("JSON");
    assert_eq!(now["result"], before["result"], "the same result");
    assert_eq!(now["comments"], before["comments"], "the same comments");
    b.close().await;
}
