//! End to end with the "In this browser" provider: the app serves the SmolLM2-135M GGUF beside
//! itself (`./models/…`, the URL field's default), the user picks the preset, loads the model in
//! the tab's Web Worker and runs a Distributional MoralChoice item with k = 3. No LLM server.
//!
//!     ETHOS_E2E=1 cargo test -p ethos-e2e --test e2e_local_model   (after `trunk build --release`)
mod support;
use std::time::Duration;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_browser_model_runs_a_distributional_item() {
    if !enabled() {
        return;
    }
    // Served as scripts/serve.sh serves the app (cross-origin isolated): the worker runs its
    // threaded build.
    distributional_item_in_the_tab(true).await;
}

/// The same on a plain static host (no COOP/COEP): the single-thread build, same numbers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_isolation_the_single_thread_build_runs_the_same_item() {
    if !enabled() {
        return;
    }
    distributional_item_in_the_tab(false).await;
}

async fn distributional_item_in_the_tab(isolated: bool) {
    let dist = dist();
    assert!(
        dist.join("local-model/worker.js").exists(),
        "dist/local-model/ is missing: the Trunk post_build hook builds it"
    );
    let bytes = gguf_bytes();
    let size = bytes.len();
    let server = StaticServer::start(&dist).await;
    server.set_isolated(isolated);
    server.serve_model(bytes.clone());

    let b = Browser::start().await;
    b.open(&server.url()).await;
    b.choose_local().await;
    b.wait_for("#local-model-note", Duration::from_secs(10))
        .await;
    let url = b
        .js("document.querySelector('#local-model-url').value")
        .await;
    assert_eq!(
        url.as_str(),
        Some(format!("./models/{GGUF}").as_str()),
        "the URL field defaults to the model beside the page"
    );
    // The HTTP fields are hidden for this preset.
    let shown = b.js("getComputedStyle(document.querySelector('#base-url')).display !== 'none' && document.querySelector('#base-url').offsetParent !== null").await;
    assert_eq!(
        shown.as_bool(),
        Some(false),
        "base URL hidden for the in-browser model"
    );

    let status = b.load_local_model().await;
    assert_eq!(
        b.count("#local-status.error").await,
        0,
        "load failed: {status}"
    );
    let mb = format!("{:.1} MB", size as f64 / 1_000_000.0);
    assert!(
        status.contains("Loaded") && status.contains(&mb),
        "status names the model and its size {mb}: {status}"
    );
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if isolated && cores >= 2 {
        assert!(
            status.contains(" threads"),
            "cross-origin isolated on {cores} cores: the threaded build runs: {status}"
        );
    }
    if !isolated {
        assert!(
            !status.contains(" threads"),
            "no cross-origin isolation: one thread: {status}"
        );
    }
    let model = b.js("document.querySelector('#model').value").await;
    assert!(
        model.as_str().is_some_and(|m| !m.trim().is_empty()),
        "the loaded model becomes the model field: {model}"
    );

    b.choose_file(MORALCHOICE).await;
    b.pick_item(0).await;
    b.short_outputs(3, 400).await;
    // The preset asks for structured perspectives and the in-tab runtime decodes under the JSON
    // schema, so stage 1 should give all three. Should it come up short all the same,
    // run_and_wait completes the perspectives by hand and re-runs, as a user would.
    b.run_and_wait("#js-distance", Duration::from_secs(1200))
        .await;
    let perspectives = b.count(".perspective-card").await;
    if b.count("#run-error").await > 0 {
        let err = b.text("#run-error").await;
        b.screenshot("local-model-error").await;
        panic!("the run failed ({perspectives} perspectives): {err}");
    }
    assert_eq!(perspectives, 3, "three perspective cards");
    assert_eq!(
        b.count(".comment-card[data-state='done']").await,
        3,
        "three finished comments"
    );
    let js = b.js_distance().await;
    assert!(
        (0.0..=0.8326).contains(&js),
        "JS distance {js} out of range"
    );
    let method = b.text("#dist-method").await;
    assert!(
        method.to_lowercase().contains("log") && method.contains("whole vocabulary"),
        "the in-tab model gives logprobs, read over the whole vocabulary: {method}"
    );
    b.screenshot_at(
        "#result",
        if isolated {
            "run-local-model"
        } else {
            "run-local-model-single-thread"
        },
    )
    .await;
    same_as_native(&b, &bytes).await;
    // The Inspector shows what each read used: the letters' probabilities over the vocabulary.
    b.click("#inspector > summary").await;
    b.wait_js(
        "document.querySelectorAll('#inspector .letter-probs').length === 3",
        Duration::from_secs(10),
        "the three reads' letter probabilities in the Inspector",
    )
    .await;
    // The download was kept in Cache Storage; "Delete cached model" removes it.
    b.click("#local-delete-cache").await;
    b.wait_js("(document.querySelector('#local-status') || {}).innerText?.includes('Deleted') || document.querySelector('#local-status.error') !== null", Duration::from_secs(30), "the cache deletion").await;
    let status = b.text("#local-status").await;
    assert!(
        status.contains("Deleted 1 cached model") && status.contains(&mb),
        "one cached model of {mb} deleted: {status}"
    );
    b.close().await;
}

/// On a host that sends no COOP/COEP headers, "Use every core" asks the app's service worker to
/// add them: after one reload the page is isolated and the model runs on several threads;
/// "Stop using it" turns that off again (the worker stays: it also keeps the offline copy).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn use_every_core_on_a_plain_host_installs_the_service_worker() {
    if !enabled() {
        return;
    }
    let server = StaticServer::start(&dist()).await;
    server.hide_file("ethos-config.json");
    server.serve_model(gguf_bytes());
    let b = Browser::start().await;
    b.open(&server.url()).await;
    b.choose_local().await;
    b.wait_for("#coi-enable", Duration::from_secs(10)).await;
    assert_eq!(b.js("self.crossOriginIsolated").await.as_bool(), Some(false));
    b.screenshot_at(".local-model", "local-model-one-core").await;
    b.click("#coi-enable").await;
    b.wait_js(
        "self.crossOriginIsolated === true && !!navigator.serviceWorker.controller",
        Duration::from_secs(30),
        "the page to come back cross-origin isolated by the service worker",
    )
    .await;
    b.choose_local().await;
    b.wait_for("#cores-note[data-isolation='service-worker']", Duration::from_secs(10))
        .await;
    let status = b.load_local_model().await;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cores >= 2 {
        assert!(
            status.contains(" threads"),
            "the threaded build runs behind the service worker: {status}"
        );
    }
    b.screenshot_at(".local-model", "local-model-every-core").await;
    b.click("#coi-disable").await;
    b.wait_js(
        "self.crossOriginIsolated === false && !!navigator.serviceWorker.controller",
        Duration::from_secs(30),
        "the page to come back without the isolation headers",
    )
    .await;
    b.choose_local().await;
    b.wait_for("#cores-note[data-isolation='none']", Duration::from_secs(10))
        .await;
    b.close().await;
}

/// Without a model beside the page the URL field points at the public hub's model, and the user
/// is told its size and licence, and the alternatives. (The download itself is not tested: the
/// test machine has no internet.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_server_or_key_the_tab_model_is_the_default_and_points_at_the_hub_model() {
    if !enabled() {
        return;
    }
    let server = StaticServer::start(&dist()).await;
    server.hide_file("ethos-config.json");
    let b = Browser::start().await;
    b.open(&server.url()).await;
    // No server named by the page, none saved, no key: "In this browser" is the default.
    b.wait_js(
        "document.querySelector('#preset').value === 'local'",
        Duration::from_secs(30),
        "the in-browser preset to be chosen by default",
    )
    .await;
    b.wait_js(
        "document.querySelector('#local-model-url') !== null && document.querySelector('#local-model-url').value.startsWith('https://')",
        Duration::from_secs(30),
        "the URL field to point at the public model hub",
    )
    .await;
    let url = b
        .js("document.querySelector('#local-model-url').value")
        .await;
    assert_eq!(
        url.as_str(),
        Some("https://huggingface.co/HuggingFaceTB/SmolLM2-360M-Instruct-GGUF/resolve/main/smollm2-360m-instruct-q8_0.gguf"),
        "no model beside the page: the default is SmolLM2-360M-Instruct on Hugging Face"
    );
    let status = b.text("#local-status").await;
    assert!(
        status.contains("386 MB")
            && status.contains("Apache-2.0")
            && status.contains("paste the URL of another GGUF file"),
        "the user is told what Load downloads (size, licence) and the alternatives: {status}"
    );
    assert_eq!(
        b.count("#local-model-file").await,
        1,
        "a file can be picked instead"
    );
    b.close().await;
}

/// The bar: the tab's distribution equals the one computed natively from the same GGUF and the
/// same prompts (the same runtime's native build), within 1e-3 per option: each read, and the
/// averaged distribution the app shows.
async fn same_as_native(b: &Browser, gguf: &[u8]) {
    use ethos_engine::record::{RunRecord, RunResult, Stage};
    let text = serde_json::Value::from(b.stored_run().await.expect("the finished run is saved"));
    let _ = std::fs::write(
        artifacts_dir().join(format!(
            "run-local-model-{}.json",
            b.js("self.crossOriginIsolated ? 'threads' : 'single'").await.as_str().unwrap_or("x")
        )),
        text.as_str().unwrap_or_default(),
    );
    let record = RunRecord::from_json(text.as_str().expect("a saved run")).expect("the saved run reads back");
    let Some(RunResult::Distribution(shown)) = &record.result else {
        panic!("not a distribution result: {:?}", record.result);
    };
    let n = record.item.options().len();
    let mut model = ethos_local::LocalModel::from_gguf_bytes(
        gguf,
        ethos_local::LoadOptions {
            backend: ethos_local::Backend::Auto,
            requantize_to_q8_0: true,
        },
    )
    .expect("the GGUF loads natively");
    let mut mean = vec![0.0f64; n];
    let mut reads = 0;
    for (i, per_read) in shown.per_read.iter().enumerate() {
        let tab = per_read.as_ref().expect("every read has a distribution");
        let call = record
            .calls
            .iter()
            .rev()
            .find(|c| c.stage == Stage::Read(i) && c.error.is_none())
            .unwrap_or_else(|| panic!("read {i} is in the record"));
        let tokens = model
            .prompt_tokens(&call.request.messages)
            .expect("chat template");
        let next = model.next_token(&tokens).expect("native forward pass");
        let native = model.letter_distribution(&next, n, 20).probs;
        for (o, (t, w)) in tab.probs.iter().zip(&native).enumerate() {
            assert!(
                (t - w).abs() <= 1e-3,
                "read {i}, option {o}: tab {t} vs native {w}"
            );
        }
        eprintln!("read {i}: tab {:?} native {native:?}", tab.probs);
        mean.iter_mut().zip(&native).for_each(|(m, w)| *m += w);
        reads += 1;
    }
    assert_eq!(reads, 3, "three reads (k = 3)");
    for (o, (t, m)) in shown.distribution.iter().zip(&mean).enumerate() {
        let w = m / reads as f64;
        assert!(
            (t - w).abs() <= 1e-3,
            "averaged option {o}: tab {t} vs native {w}"
        );
    }
}
