//! Fault cases of content and state: odd stage-1 replies, markup in every displayed field,
//! broken imports and share links, damaged or refused storage, a reload mid-stream.

use super::*;
use crate::case;
use ethos_testkit::hostile::MARKUP_MESSAGE;

pub fn cases() -> Vec<Case> {
    vec![
        case!("persona reply with 0 perspectives", zero_perspectives),
        case!("persona reply with 3 of 5 perspectives: kept, completed by hand", three_of_five),
        case!("persona reply with 40 perspectives: all kept by default; trimmed to k, the page says so", forty_perspectives),
        case!("comments without option letters", no_option_letters),
        case!("HTML/script/Markdown in names, dimensions, comments and the Inspector", markup_in_run),
        case!("HTML/script/Markdown in an Overton summary", markup_in_summary),
        case!("HTML/script/Markdown in model names from /v1/models", markup_in_model_names),
        case!("malformed import file", malformed_import),
        case!("oversized import file", oversized_import),
        case!("share link truncated", share_truncated),
        case!("share link tampered", share_tampered),
        case!("share link 1 MB long", share_huge),
        case!("corrupted localStorage entries", corrupted_storage),
        case!("storage quota refused mid-run", quota_refused),
        case!("tab reloaded mid-stream", reload_mid_stream),
    ]
}

async fn zero_perspectives(m: Arc<Matrix>) {
    m.fresh().await;
    m.f.set_responder(with_stage_one("I would rather not invent anything today.".into()));
    let err = m.run().await.unwrap_or_default();
    assert_plain("0 perspectives", &err, &["0 of 3 perspectives"]);
    assert_eq!(m.count(".perspective-card").await, 0);
    // What a user does next: write the three by hand, then "Re-run what changed".
    m.b.complete_perspectives(3).await;
    m.b.click("#rerun-dependents").await;
    m.b.wait_js("document.querySelector('#js-distance') !== null", WAIT, "the result").await;
    m.wait_idle().await;
    m.assert_usable().await;
}

async fn three_of_five(m: Arc<Matrix>) {
    m.fresh_with(MORALCHOICE, 5).await;
    let err = m.run().await.unwrap_or_default();
    assert_plain("3 of 5 perspectives", &err, &["only 3 of 5 perspectives"]);
    assert_eq!(m.count(".perspective-card").await, 3, "the three that came are kept");
    m.b.complete_perspectives(5).await;
    m.b.click("#rerun-dependents").await;
    m.b.wait_js("document.querySelector('#js-distance') !== null", WAIT, "the result").await;
    m.wait_idle().await;
    assert_eq!(m.count(".comment-card[data-state='done']").await, 5);
}

async fn forty_perspectives(m: Arc<Matrix>) {
    m.fresh().await;
    let lines: String = (1..=40).map(|n| format!("#Voice {n}: Value {n}, Framework {n}, Duty {n}, Calm, Group {n}\n")).collect();
    m.f.set_responder(with_stage_one(lines));
    // Extra perspectives are kept by default (as the reference does): 40 cards, 40 comments.
    assert!(m.run().await.is_none());
    assert_eq!(m.count(".perspective-card").await, 40);
    assert_eq!(m.count(".comment-card[data-state='done']").await, 40);
    assert_eq!(m.count("#js-distance").await, 1);
    assert_plain("the heading", &m.text("#perspectives-h").await, &["Perspectives (40)"]);
    // Trimmed to k: the first 3, and the page says how many came.
    m.b.js("(() => { const c = document.querySelector('#keep-extra'); if (c.checked) c.click(); return true; })()").await;
    assert!(m.run().await.is_none());
    m.assert_finished("40 perspectives trimmed to 3").await;
    assert_eq!(m.count(".perspective-card").await, 3);
    assert_plain("the trimmed note", &m.text("#perspectives-trimmed").await, &["gave 40 perspectives; the first 3 are used"]);
}

async fn no_option_letters(m: Arc<Matrix>) {
    m.fresh().await;
    m.f.set_responder(|call: &ChatCall| {
        let mut r = responder(call);
        if prompt(call).contains("Your perspective") {
            r.texts = vec!["We should respect consent and must avoid harm, whatever the options say.".into()];
        }
        r
    });
    assert!(m.run().await.is_none());
    m.assert_finished("comments without letters").await;
    assert_eq!(m.count(".letter-badge").await, 0, "no letter is made up");
}

/// Stage-1 lines whose every field holds markup, and comments that do.
const MARKUP_STAGE_ONE: &str = "#<img src=x onerror=\"window.__xss=1\"> **Advocate**: <script>window.__xss=2</script>, [link](javascript:window.__xss=3), <b>Duty</b>, <i>Calm</i>, # Patients\n\
#<script>window.__xss=4</script> Manager: Efficiency, Utilitarianism, Duty to allocate, Calm, Administrator\n\
#Carer <svg onload=\"window.__xss=5\">: Care, Care ethics, Duty of loyalty, Anxiety, Relative\n";

async fn markup_in_run(m: Arc<Matrix>) {
    m.fresh().await;
    m.f.set_responder(|call: &ChatCall| {
        let mut r = responder(call);
        if is_stage_one(call) {
            r.texts = vec![MARKUP_STAGE_ONE.into()];
        } else if prompt(call).contains("Your perspective") {
            r.texts = vec![format!("A. {MARKUP_MESSAGE}")];
        }
        r
    });
    assert!(m.run().await.is_none());
    m.assert_finished("markup everywhere").await;
    let cards = m.text(".perspectives").await;
    // As text (the perspective parser drops Markdown emphasis, `**` and `__`).
    assert!(cards.contains("<img src=x") && cards.contains("<script>window.xss=2</script>") && cards.contains("<b>Duty</b>") && cards.contains("[link](javascript:"), "{cards}");
    let comment = m.text(".comment-card[data-index='0']").await;
    assert!(comment.contains("bold") && comment.contains("<script>"), "{comment}");
    m.b.click("#inspector > summary").await;
    m.b.wait_js("document.querySelector('#inspector').textContent.includes('window.__xss=4')", WAIT, "the raw replies in the Inspector").await;
}

async fn markup_in_summary(m: Arc<Matrix>) {
    m.fresh_with(OVERTON, 3).await;
    m.f.set_responder(|call: &ChatCall| {
        let mut r = responder(call);
        if prompt(call).contains("with the help of the following passages") {
            r.texts = vec![MARKUP_MESSAGE.into()];
        }
        r
    });
    assert!(m.run().await.is_none());
    let answer = m.wait_text("#overton-answer").await;
    assert!(answer.contains("<script>window.__xss=2</script>") && answer.contains("**bold**"), "{answer}");
}

async fn markup_in_model_names(m: Arc<Matrix>) {
    const NAME: &str = "<img src=x onerror=\"window.__xss=6\">**m**";
    m.server_normal();
    let mut cfg = m.f.config();
    cfg.models = vec![NAME.into(), "fault-server-model".into()];
    m.f.set_config(cfg);
    // No model named by the page: the app lists the server's models and takes the first.
    m.app_config(&m.f.base_url(), "");
    m.fresh_page(&m.app.url()).await;
    m.b.wait_js(&format!("document.querySelector('#model').value === {NAME:?}"), WAIT, "the first listed model chosen").await;
    m.b.click("#test-connection").await;
    let report = m.wait_text("#connection-report").await;
    assert!(report.contains(NAME), "{report}");
    m.pick(MORALCHOICE, 3).await;
    assert!(m.run().await.is_none());
    m.assert_finished("a model named with markup").await;
    m.app_config(&m.f.base_url(), "fault-server-model");
}

/// A finished run on screen, to check that what follows keeps it.
async fn a_finished_run(m: &Matrix) {
    m.fresh().await;
    assert!(m.run().await.is_none());
    m.assert_finished("the first run").await;
}

async fn malformed_import(m: Arc<Matrix>) {
    a_finished_run(&m).await;
    m.import("broken-run.json", b"{\"item\": {\"source\": 3, ").await;
    let msg = m.wait_text("#import-error").await;
    assert_plain("a malformed import", &msg, &["broken-run.json could not be imported"]);
    assert_eq!(m.count("#js-distance").await, 1, "the run on screen is kept");
    m.assert_usable().await;
}

async fn oversized_import(m: Arc<Matrix>) {
    a_finished_run(&m).await;
    let mut big = b"{\"pad\": \"".to_vec();
    big.resize(40 * 1024 * 1024, b'x');
    big.extend_from_slice(b"\"}");
    m.import("huge-run.json", &big).await;
    let msg = m.wait_text("#import-error").await;
    assert_plain("an oversized import", &msg, &["too large"]);
    assert_eq!(m.count("#js-distance").await, 1, "the run on screen is kept");
    m.assert_usable().await;
}

/// A finished run, its share link, then `damage(link)` opened in the same tab: a plain message
/// in the status line, the run that was on screen still there, and the app usable.
async fn damaged_link(m: &Matrix, damage: fn(&str) -> String) {
    a_finished_run(m).await;
    m.b.click("#share-link").await;
    m.b.wait_for("#share-url", WAIT).await;
    let link = m.b.js("document.querySelector('#share-url').value").await.as_str().unwrap_or_default().to_string();
    assert!(link.contains("#r2=") || link.contains("#run="), "{link}");
    m.load(&damage(&link)).await;
    let alert = m.wait_text("#run-error").await;
    assert_plain("a damaged share link", &alert, &["share link could not be opened"]);
    assert_eq!(m.count("#js-distance").await, 1, "the run that was on screen is reopened");
    assert_eq!(m.count(".saved-run").await, 1, "the saved run is kept");
    m.pick(MORALCHOICE, 3).await;
    m.assert_usable().await;
}

async fn share_truncated(m: Arc<Matrix>) {
    damaged_link(&m, |l| l.get(..l.len() * 2 / 3).unwrap_or(l).to_string()).await;
}

async fn share_tampered(m: Arc<Matrix>) {
    damaged_link(&m, |l| {
        // Just after `#r2=` (or an old `#run=`): the payload.
        let at = l.find('#').and_then(|h| l[h..].find('=').map(|e| h + e + 1)).unwrap_or(0);
        let mid = at + (l.len() - at) / 2;
        format!("{}{}{}", &l[..mid], "____", &l[mid + 4..])
    })
    .await;
}

async fn share_huge(m: Arc<Matrix>) {
    damaged_link(&m, |l| {
        let page = l.split('#').next().unwrap_or(l);
        format!("{page}#run={}", "QUFB".repeat(256 * 1024))
    })
    .await;
}

async fn corrupted_storage(m: Arc<Matrix>) {
    m.fresh().await;
    m.b.js(r#"(() => {
        localStorage.setItem('ethos.run.1700000000000', '{"broken');
        localStorage.setItem('ethos.runb.1700000000000', '[{');
        localStorage.setItem('ethos.current', '1700000000000');
        localStorage.setItem('ethos.run.1700000000001', '{"item": 42}');
        localStorage.setItem('ethos.settings', '{"k": "many", "concurrency": -1}');
        localStorage.setItem('ethos.batch.spec', 'not json');
        localStorage.setItem('ethos.projector', '\u0000');
        localStorage.setItem('ethos.file', '../../../etc/passwd');
        return true; })()"#)
        .await;
    // And in the database: a run that is not JSON, one that is not even text, a result and a
    // call that do not read.
    let put = m
        .b
        .js(r#"new Promise(ok => {
            const q = indexedDB.open('ethos-agents');
            q.onerror = () => ok(false);
            q.onsuccess = () => {
                const db = q.result;
                const t = db.transaction(['runs', 'batch_outcomes', 'batch_calls'], 'readwrite');
                t.objectStore('runs').put('{"x": ', '1700000000002');
                t.objectStore('runs').put(42, '1700000000003');
                t.objectStore('batch_outcomes').put('nope', '0.0.Vanilla');
                t.objectStore('batch_calls').put('{"choices": 7}', 'deadbeef-0');
                t.oncomplete = () => { db.close(); ok(true); };
                t.onerror = () => { db.close(); ok(false); };
            };
        })"#)
        .await;
    assert_eq!(put, true, "the damaged database entries written");
    m.load(&m.app.url()).await;
    let notice = m.wait_text("#saved-notice").await;
    assert_plain("damaged saved runs", &notice, &["4 saved run(s) could not be read"]);
    m.pick(MORALCHOICE, 3).await;
    m.assert_usable().await;
}

/// Install (or remove) a `localStorage.setItem` and an IndexedDB `put` that refuse every write
/// as a full quota does.
async fn refuse_storage(m: &Matrix, on: bool) {
    let js = if on {
        "(() => { const full = function () { throw new DOMException('The quota has been exceeded.', 'QuotaExceededError'); }; window.__setItem = window.__setItem || Storage.prototype.setItem; window.__put = window.__put || IDBObjectStore.prototype.put; Storage.prototype.setItem = full; IDBObjectStore.prototype.put = full; return true; })()"
    } else {
        "(() => { if (window.__setItem) Storage.prototype.setItem = window.__setItem; if (window.__put) IDBObjectStore.prototype.put = window.__put; return true; })()"
    };
    m.b.js(js).await;
}

async fn quota_refused(m: Arc<Matrix>) {
    a_finished_run(&m).await;
    m.f.set_fault_rule(Some(Arc::new(|call: &ChatCall| is_comment_of(call, "Hospital Manager").then_some(Fault::Hold))));
    m.click_run().await;
    m.wait_cards("done", 2).await;
    m.wait_server("hold", 1).await;
    // The first run and this one are saved; from now on every write is refused.
    m.b.wait_js("document.querySelector('#run-panel').dataset.unsaved === '0'", WAIT, "the saves in the database").await;
    let saved = m.b.js(&saved_run_ids_js()).await;
    assert_eq!(saved.as_array().map(Vec::len), Some(2), "{saved}");
    refuse_storage(&m, true).await;
    m.f.release();
    m.wait_idle().await;
    // The run is complete on screen; the page says it could not be saved.
    assert_eq!(m.count("#js-distance").await, 1);
    assert_eq!(m.count(".comment-card[data-state='done']").await, 3);
    assert_plain("storage refused", &m.text("#run-error").await, &["could not be saved on this device"]);
    refuse_storage(&m, false).await;
    let still = m.b.js(&saved_run_ids_js()).await;
    assert_eq!(still, saved, "a saved run was deleted to make room, and the save failed anyway");
    m.assert_usable().await;
}

async fn reload_mid_stream(m: Arc<Matrix>) {
    m.fresh().await;
    m.f.set_fault_rule(Some(Arc::new(|call: &ChatCall| is_comment_of(call, "Hospital Manager").then_some(Fault::Stall))));
    m.click_run().await;
    m.wait_cards("done", 2).await;
    // Reload once both finished comments are saved on this device.
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let saved = m.b.js(&stored_run_js()).await;
        let done = saved
            .as_str()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok())
            .and_then(|r| r["comments"].as_array().map(|c| c.iter().filter(|c| c.is_object() && c["error"].is_null()).count()))
            .unwrap_or(0);
        if done == 2 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the two finished comments were never saved");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    m.b.client.refresh().await.expect("reload");
    m.b.wait_for("#file-select", WAIT).await;
    m.watch().await;
    m.wait_cards("done", 2).await;
    let card = m.wait_text(".comment-card[data-state='error']").await;
    assert_plain("the interrupted card", &card, &["Cancelled"]);
    m.f.set_fault_rule(None);
    m.b.click(".comment-card[data-state='error'] .retry").await;
    m.b.wait_js("document.querySelector('#js-distance') !== null", WAIT, "the result after Retry").await;
    m.assert_finished("after the reload and Retry").await;
}
