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

/// Press Load and wait for this load's outcome, not the status an earlier load left on screen:
/// a final status (an error, or "Loaded …") whose text differs from the one before.
async fn load_again(b: &Browser) -> String {
    let before = b
        .js("(() => { const s = document.querySelector('#local-status'); return s ? s.textContent : ''; })()")
        .await;
    let before = serde_json::to_string(before.as_str().unwrap_or("")).expect("json string");
    b.click("#local-load").await;
    b.wait_js(
        &format!("(() => {{ const s = document.querySelector('#local-status'); return s !== null && s.textContent !== {before} && (s.classList.contains('error') || s.textContent.startsWith('Loaded')); }})()"),
        Duration::from_secs(600),
        "this load's outcome",
    )
    .await;
    b.text("#local-status").await
}

/// A fresh browser profile on the app, the in-tab model chosen, and a first Load whose download
/// the server cuts after byte `cut`: the load fails.
async fn fresh_browser_with_a_cut_download(server: &StaticServer, cut: usize) -> Browser {
    let b = Browser::start().await;
    b.open(&server.url()).await;
    b.choose_local().await;
    b.wait_for("#local-model-note", Duration::from_secs(10)).await;
    server.cut_downloads_at(Some(cut));
    let status = load_again(&b).await;
    assert_eq!(b.count("#local-status.error").await, 1, "a cut download fails: {status}");
    b
}

/// A model download cut off half-way is kept (in the origin-private file system) up to its last
/// checkpoint; the next Load resumes there with an HTTP Range request, re-fetching none of what
/// was kept, and gives the same model (its SHA-256 is checked). A kept partial file whose bytes
/// were changed on disk is detected by the hash of its prefix and downloaded again, never loaded;
/// so is a complete kept copy whose bytes were changed (by its whole SHA-256).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_download_resumes_and_a_corrupted_partial_file_is_never_loaded() {
    if !enabled() {
        return;
    }
    let bytes = gguf_bytes();
    let size = bytes.len();
    let cut = size / 2;
    let server = StaticServer::start(&dist()).await;
    server.hide_file("ethos-config.json");
    server.serve_model(bytes);

    // 1. The download breaks off half-way: an error, and the part that arrived is kept.
    let b = fresh_browser_with_a_cut_download(&server, cut).await;
    let log = server.download_log();
    assert_eq!(log, vec![(None, cut)], "one full request, cut at {cut}");
    // The panel lists the partial file, and says a Load resumes it.
    let kept = kept_models(&b).await;
    assert!(
        kept.len() == 1 && kept[0].0 == "false" && kept[0].1.contains("interrupted download"),
        "{kept:?}"
    );

    // 2. Load again: the download resumes where the kept part ends.
    server.cut_downloads_at(None);
    let status = load_again(&b).await;
    assert!(status.contains("Loaded") && status.contains("Resumed the download at"), "{status}");
    let log = server.download_log();
    let Some((Some(from), sent)) = log.get(1).copied() else {
        panic!("the second request asks for a range: {log:?}");
    };
    assert!(
        from > 0 && from <= cut && from + sent == size && log.len() == 2,
        "resumed at {from} (the kept part; the cut was at {cut}), sent the remaining {sent} of {size}: {log:?}"
    );
    let kept = kept_models(&b).await;
    assert!(kept.len() == 1 && kept[0].0 == "true" && kept[0].1.contains("98.4 MB"), "{kept:?}");
    // The kept file is complete now: a reload of the model reads it, no request.
    let status = load_again(&b).await;
    assert!(status.contains("from this browser's cache"), "{status}");
    assert_eq!(server.download_log().len(), 2, "no download for a kept model");

    // 3. A fresh profile: cut again, then change bytes of the kept partial file on disk.
    b.close().await;
    let b = fresh_browser_with_a_cut_download(&server, cut).await;
    change_kept_file(&b).await;
    server.cut_downloads_at(None);
    let status = load_again(&b).await;
    assert!(
        status.contains("Loaded") && status.contains("was corrupted") && !status.contains("Resumed"),
        "the changed partial file is detected and the model downloaded again: {status}"
    );
    let log = server.download_log();
    assert_eq!(
        log.last().copied(),
        Some((None, size)),
        "downloaded whole again, from the start: {log:?}"
    );
    // 4. The kept copy is complete now: change bytes of it on disk. The next Load finds its
    // SHA-256 changed, never loads it, and downloads the model again from the start.
    change_kept_file(&b).await;
    let status = load_again(&b).await;
    assert!(
        status.contains("Loaded") && status.contains("copy kept in this browser was corrupted"),
        "the changed complete copy is detected and the model downloaded again: {status}"
    );
    let log = server.download_log();
    assert_eq!(log.last().copied(), Some((None, size)), "downloaded whole again: {log:?}");
    // And the new copy is kept and read at the next Load, with no request.
    let requests = log.len();
    let status = load_again(&b).await;
    assert!(status.contains("from this browser's cache"), "{status}");
    assert_eq!(server.download_log().len(), requests, "no download for a kept model");

    // Its own Delete button removes the kept model.
    assert_eq!(kept_models(&b).await.len(), 1);
    b.click(".kept-model .kept-delete").await;
    b.wait_for("#kept-none", Duration::from_secs(30)).await;
    let status = b.text("#local-status").await;
    assert!(status.starts_with("Deleted") && status.contains("98.4 MB"), "{status}");
    b.close().await;
}

/// Change 64 bytes (at 4096) of the model file kept in the browser's origin-private file system.
async fn change_kept_file(b: &Browser) {
    let changed = b
        .js_async(
            "const done = arguments[arguments.length - 1];
             (async () => {
               const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle('ethos-local-models');
               for await (const [name, h] of dir.entries()) {
                 if (!name.endsWith('.gguf')) continue;
                 const w = await h.createWritable({ keepExistingData: true });
                 await w.write({ type: 'write', position: 4096, data: new Uint8Array(64).fill(0x5a) });
                 await w.close();
                 return name;
               }
               return null;
             })().then(done, (e) => done('error: ' + e));",
        )
        .await;
    assert!(
        changed.as_str().is_some_and(|n| n.ends_with(".gguf")),
        "the kept file was changed: {changed}"
    );
}

/// (data-complete, text) of each model the panel lists as kept in this browser, read afresh:
/// the list is read each time it is opened or closed (`data-reads` counts the reads).
async fn kept_models(b: &Browser) -> Vec<(String, String)> {
    let reads = b
        .js("(() => { const d = document.querySelector('#kept-models'); const n = Number(d.dataset.reads); d.open = !d.open; return n; })()")
        .await;
    let reads = reads.as_u64().expect("data-reads");
    b.wait_js(
        &format!("Number(document.querySelector('#kept-models').dataset.reads) > {reads}"),
        Duration::from_secs(30),
        "the kept models to be read",
    )
    .await;
    b.js("(() => { const d = document.querySelector('#kept-models'); d.open = true; return true; })()")
        .await;
    let v = b
        .js("Array.from(document.querySelectorAll('#kept-models .kept-model')).map((li) => [li.dataset.complete, li.textContent])")
        .await;
    serde_json::from_value(v).expect("kept list")
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
