//! The browser fault matrix's harness: one fault server, one static server for `dist/` and one
//! headless Chromium session shared by every case. Each case starts from a fresh page (storage
//! cleared, the fault server reset), drives the real app, and is then checked for what every
//! case must show: no wasm panic, no Content-Security-Policy violation, no markup from outside
//! data turned into elements. Cases run one after another in their own task, so one failing case
//! is reported and the others still run.
#![allow(dead_code)]

pub mod data;
pub mod net;

use crate::support::*;
use ethos_testkit::{ChatCall, Fault, FaultServer, OkReply};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// How long a step of a case may take before the case fails (never a timed assertion: only a
/// bound on a wait for a state on screen).
pub const WAIT: Duration = Duration::from_secs(60);

pub const STAGE_ONE: &str = "#Patient Advocate: Autonomy, Deontology, Right to consent, Concern, Patient\n\
     #Hospital Manager: Efficiency, Utilitarianism, Duty to allocate, Calm, Administrator\n\
     #Family Carer: Care, Care ethics, Duty of loyalty, Anxiety, Relative\n";

/// The comment every perspective writes, with text outside ASCII (split across chunks by the
/// trickle case).
pub const COMMENT: &str = "A. Consent comes first — café, naïve, 患者: we should respect it and must avoid harm 😀.";

pub fn prompt(call: &ChatCall) -> String {
    call.messages.iter().map(|(_, t)| t.as_str()).collect::<Vec<_>>().join("\n")
}

pub fn is_stage_one(call: &ChatCall) -> bool {
    prompt(call).to_lowercase().contains("contrasting ethical perspectives")
}

/// A stage-2 call of the perspective whose name contains `name`.
pub fn is_comment_of(call: &ChatCall, name: &str) -> bool {
    let p = prompt(call);
    p.contains("Your perspective") && p.contains(name)
}

/// Stage-aware replies: three perspectives, one comment each, letter reads for stage 3.
pub fn responder(call: &ChatCall) -> OkReply {
    let lower = prompt(call).to_lowercase();
    let text = if lower.contains("contrasting ethical perspectives") {
        STAGE_ONE.to_string()
    } else if lower.contains("your perspective") {
        COMMENT.to_string()
    } else if lower.contains("select one number") {
        "2".to_string()
    } else if lower.contains("with the help of the following passages") {
        "A combined comment that weighs consent, care and fairness.".to_string()
    } else {
        "A".to_string()
    };
    OkReply { texts: vec![text], first_token_top: vec![("A".into(), 0.6), ("B".into(), 0.4)] }
}

/// `responder`, with the stage-1 reply replaced.
pub fn with_stage_one(text: String) -> impl Fn(&ChatCall) -> OkReply + Send + Sync + 'static {
    move |call| {
        let mut r = responder(call);
        if is_stage_one(call) {
            r.texts = vec![text.clone()];
        }
        r
    }
}

/// Words that must never be the whole story of a message a user reads.
const UNCLEAR: &[&str] = &["TypeError", "Failed to fetch", "JsValue", "panicked", "undefined", "[object", "<html", "<!DOCTYPE", "NetworkError"];

/// Fail unless `msg` is a plain message that mentions one of `words` (case-insensitive).
pub fn assert_plain(what: &str, msg: &str, words: &[&str]) {
    let lower = msg.to_lowercase();
    assert!(!msg.trim().is_empty(), "{what}: no message");
    assert!(words.iter().any(|w| lower.contains(&w.to_lowercase())), "{what}: none of {words:?} in: {msg}");
    for u in UNCLEAR {
        assert!(!msg.contains(u), "{what}: unclear message (contains {u:?}): {msg}");
    }
}

/// Marks the page as watched and records panics, uncaught errors and CSP violations.
const WATCH: &str = r#"
if (!window.__watched) {
  window.__watched = true;
  window.__errs = [];
  window.__csp = window.__csp || [];
  const orig = console.error.bind(console);
  console.error = (...a) => { window.__errs.push(a.map(x => String((x && x.stack) || x)).join(' ')); orig(...a); };
  window.addEventListener('error', e => window.__errs.push('uncaught: ' + (e.message || String(e.error))));
  window.addEventListener('unhandledrejection', e => window.__errs.push('rejection: ' + String((e.reason && (e.reason.stack || e.reason.message)) || e.reason)));
  document.addEventListener('securitypolicyviolation', e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
}
return true;
"#;

/// What every case checks at its end.
const HEALTH: &str = r#"return {
  watched: window.__watched === true,
  errs: (window.__errs || []).filter(e => /panicked at|RuntimeError|unreachable/.test(e)),
  csp: window.__csp || [],
  xss: window.__xss === undefined ? null : String(window.__xss),
  injected: document.querySelectorAll('img[src="x"], a[href^="javascript:"], [onerror], [onload], .llm-text *:not(.letter-badge), .error-text *, #run-error *, #status *').length
    + Array.from(document.scripts).filter(s => s.textContent.includes('__xss')).length,
};"#;

pub type CaseFn = fn(Arc<Matrix>) -> Pin<Box<dyn Future<Output = ()> + Send>>;

pub struct Case {
    pub name: &'static str,
    pub run: CaseFn,
}

/// `case!("name", function)`: a matrix case running `async fn function(m: Arc<Matrix>)`.
#[macro_export]
macro_rules! case {
    ($name:expr, $f:path) => {
        $crate::fault_matrix::Case { name: $name, run: |m| Box::pin($f(m)) }
    };
}

/// `card_case!("name", fault, &["words"])`: a fresh page, then [`Matrix::one_card_fails`].
#[macro_export]
macro_rules! card_case {
    ($name:expr, $fault:expr, $words:expr) => {
        $crate::fault_matrix::Case {
            name: $name,
            run: |m| {
                Box::pin(async move {
                    m.fresh().await;
                    m.one_card_fails($fault, $words).await;
                })
            },
        }
    };
}

pub struct Matrix {
    pub f: FaultServer,
    pub app: StaticServer,
    pub b: Browser,
}

impl Matrix {
    pub async fn start() -> Arc<Matrix> {
        let f = FaultServer::start().expect("fault server");
        let app = app_pointing_at(&f.base_url(), "fault-server-model").await;
        let b = Browser::start().await;
        Arc::new(Matrix { f, app, b })
    }

    /// Run every case in turn; each prints `fault case N/M: <name>: ok|FAILED`. Fails at the end
    /// with the list of failed cases.
    pub async fn run_all(self: &Arc<Self>, cases: Vec<Case>) {
        let total = cases.len();
        let mut failed = Vec::new();
        for (n, case) in cases.into_iter().enumerate() {
            let m = self.clone();
            let outcome = tokio::spawn(async move {
                (case.run)(m.clone()).await;
                m.assert_healthy(case.name).await;
            })
            .await;
            match outcome {
                Ok(()) => eprintln!("fault case {}/{total}: {}: ok", n + 1, case.name),
                Err(e) => {
                    let why = e
                        .try_into_panic()
                        .ok()
                        .and_then(|p| p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string())))
                        .unwrap_or_default();
                    eprintln!("fault case {}/{total}: {}: FAILED: {why}", n + 1, case.name);
                    let _ = self.b.screenshot(&format!("fault-matrix-{}", n + 1)).await;
                    failed.push(format!("{} ({why})", case.name));
                }
            }
        }
        assert!(failed.is_empty(), "fault matrix: {} of {total} cases failed:\n{}", failed.len(), failed.join("\n"));
        eprintln!("fault matrix: {total} cases passed");
    }

    /// The server back to normal: no script, no rule, stage-aware replies, the usual model list.
    pub fn server_normal(&self) {
        self.f.reset();
        self.f.set_fault_rule(None);
        self.f.set_responder(responder);
        self.f.set_config(ethos_testkit::Config::default());
        self.f.release();
    }

    /// A fresh page of the app at `url` (storage cleared first), watched for panics and CSP
    /// violations.
    pub async fn fresh_page(&self, url: &str) {
        self.clear_storage().await;
        self.load(url).await;
    }

    /// Clear this origin's storage from a page of the origin that is not the app.
    pub async fn clear_storage(&self) {
        let blank = format!("http://{}{}blank", self.app.addr, PREFIX);
        self.b.client.goto(&blank).await.expect("open a blank page");
        // The database goes once the app's page (its last connection) is gone; the next open waits.
        self.b.js("(() => { localStorage.clear(); sessionStorage.clear(); indexedDB.deleteDatabase('ethos-agents'); return true; })()").await;
    }

    /// Open `url` (a new document, even when only the fragment differs) and watch it.
    pub async fn load(&self, url: &str) {
        let blank = format!("http://{}{}blank", self.app.addr, PREFIX);
        self.b.client.goto(&blank).await.expect("open a blank page");
        self.b.client.goto(url).await.expect("open the app");
        self.b.wait_for("#file-select", WAIT).await;
        self.watch().await;
    }

    pub async fn watch(&self) {
        self.b.client.execute(WATCH, vec![]).await.expect("install the watchers");
    }

    /// The standard start of a case: normal server, fresh app pointing at it, a Distributional
    /// scenario picked, k = 3.
    pub async fn fresh(&self) {
        self.fresh_with(MORALCHOICE, 3).await;
    }

    pub async fn fresh_with(&self, file: &str, k: usize) {
        self.server_normal();
        self.app_config(&self.f.base_url(), "fault-server-model");
        self.fresh_page(&self.app.url()).await;
        self.pick(file, k).await;
    }

    /// Serve `ethos-config.json` pointing at `base_url` with `model` ("" for none).
    pub fn app_config(&self, base_url: &str, model: &str) {
        let cfg = serde_json::json!({"preset": "llamacpp", "base_url": base_url, "model": model, "concurrency": 6, "structured_perspectives": true});
        self.app.set_file("ethos-config.json", "application/json", cfg.to_string());
    }

    pub async fn pick(&self, file: &str, k: usize) {
        self.b.choose_file(file).await;
        self.b.pick_item(0).await;
        self.b.type_into("#k", &k.to_string()).await;
    }

    /// Panics, CSP violations and markup turned into elements, checked after every case.
    pub async fn assert_healthy(&self, case: &str) {
        let h = self.b.client.execute(HEALTH, vec![]).await.expect("read the page's health");
        assert_eq!(h["watched"], true, "{case}: the page was not watched (reloaded without watch())");
        assert_eq!(h["errs"].as_array().map(Vec::len), Some(0), "{case}: the app panicked: {}", h["errs"]);
        assert_eq!(h["csp"].as_array().map(Vec::len), Some(0), "{case}: CSP violations: {}", h["csp"]);
        assert_eq!(h["xss"], serde_json::Value::Null, "{case}: a script from outside data ran");
        assert_eq!(h["injected"], 0, "{case}: markup from outside data became elements");
    }

    pub async fn count(&self, css: &str) -> usize {
        self.b.count(css).await
    }

    pub async fn text(&self, css: &str) -> String {
        self.b.text(css).await
    }

    /// Wait until no operation runs (Run is enabled again).
    pub async fn wait_idle(&self) {
        self.b
            .wait_js("document.querySelector('#run') && !document.querySelector('#run').disabled && document.querySelector('#cancel').disabled", WAIT, "the end of the run")
            .await;
    }

    pub async fn wait_cards(&self, state: &str, n: usize) {
        self.b
            .wait_js(&format!("document.querySelectorAll(\".comment-card[data-state='{state}']\").length === {n}"), WAIT, &format!("{n} comment cards {state}"))
            .await;
    }

    /// Press Run and wait until the run has started (however fast it ends) or was refused.
    pub async fn click_run(&self) {
        self.b
            .js("(() => { window.__started = false; const run = document.querySelector('#run'); new MutationObserver(() => { if (run.disabled) window.__started = true; }).observe(run, {attributes: true}); const old = document.querySelector('#run-error'); if (old) old.dataset.old = '1'; return true; })()")
            .await;
        self.b.click("#run").await;
        self.b.wait_js("window.__started || document.querySelector('#run-error:not([data-old])') !== null", WAIT, "the run to start").await;
    }

    /// Press Run and wait for its end; the error shown, if any.
    pub async fn run(&self) -> Option<String> {
        self.click_run().await;
        self.wait_idle().await;
        match self.count("#run-error").await {
            0 => None,
            _ => Some(self.text("#run-error").await),
        }
    }

    /// The run finishes: three comments and the result.
    pub async fn assert_finished(&self, what: &str) {
        self.wait_idle().await;
        let err = if self.count("#run-error").await > 0 { self.text("#run-error").await } else { String::new() };
        assert_eq!(self.count("#js-distance").await, 1, "{what}: no result ({err})");
        assert_eq!(self.count(".comment-card[data-state='done']").await, 3, "{what}: not every comment is done ({err})");
        assert!(err.is_empty(), "{what}: an error is shown: {err}");
    }

    /// The app is still usable: with the server answering normally, a new run finishes.
    pub async fn assert_usable(&self) {
        self.server_normal();
        let err = self.run().await;
        assert!(err.is_none(), "the next run failed: {err:?}");
        self.assert_finished("the next run").await;
    }

    /// Every comment call of one perspective answers with `fault` (every attempt): that card
    /// fails with a plain message naming one of `words`, the other two finish, and Retry on the
    /// card finishes the run once the server behaves. Returns the card's message.
    pub async fn one_card_fails(&self, fault: Fault, words: &[&str]) -> String {
        self.f.set_fault_rule(Some(Arc::new(move |call: &ChatCall| is_comment_of(call, "Hospital Manager").then_some(fault))));
        self.click_run().await;
        self.wait_cards("error", 1).await;
        self.wait_cards("done", 2).await;
        self.wait_idle().await;
        let msg = self.text(".comment-card[data-state='error'] .error-text").await;
        assert_plain(&format!("the card failed by {fault}"), &msg, words);
        // Partial results: the two comments that finished stay on screen.
        assert_eq!(self.count(".comment-card[data-state='done']").await, 2);
        self.f.set_fault_rule(None);
        self.b.click(".comment-card[data-state='error'] .retry").await;
        self.b.wait_js("document.querySelector('#js-distance') !== null", WAIT, "the result after Retry").await;
        self.assert_finished("after Retry").await;
        msg
    }

    /// Every chat call answers with `fault`: the run stops with a plain message naming one of
    /// `words`; then the app is usable again. Returns the message.
    pub async fn run_fails(&self, fault: Fault, words: &[&str]) -> String {
        self.f.set_fault_rule(Some(Arc::new(move |_: &ChatCall| Some(fault))));
        let err = self.run().await.unwrap_or_default();
        assert_plain(&format!("the run under {fault}"), &err, words);
        self.assert_usable().await;
        err
    }

    /// Write `bytes` to a temporary file and choose it in `#import-file`.
    pub async fn import(&self, name: &str, bytes: &[u8]) {
        // Inside the browser's profile directory, which closing the browser removes.
        let dir = self.b.downloads().with_file_name("imports");
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join(name);
        std::fs::write(&path, bytes).expect("write the import file");
        let input = self.b.wait_for("#import-file", WAIT).await;
        input.send_keys(&path.display().to_string()).await.expect("choose the import file");
    }

    /// Wait until `css` exists and return its text.
    pub async fn wait_text(&self, css: &str) -> String {
        self.b.wait_for(css, WAIT).await;
        self.text(css).await
    }

    pub fn chat_calls(&self) -> u64 {
        self.f.stats().by_path.get("/v1/chat/completions").copied().unwrap_or(0)
    }

    /// Wait until the fault server has answered (or is holding) `n` requests with `kind`.
    pub async fn wait_server(&self, kind: &str, n: u64) {
        let deadline = std::time::Instant::now() + WAIT;
        while self.f.stats().fault(kind) < n {
            assert!(std::time::Instant::now() < deadline, "the server never saw {n} `{kind}` requests: {:?}", self.f.stats().by_fault);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
