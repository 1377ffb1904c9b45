//! The project's Anthropic Messages client against an implementation no one here wrote: the
//! real llama.cpp `llama-server`, which also serves `POST /v1/messages` (streamed and not).
//! Found or started as in live_llama.rs (`ETHOS_LLM_URL`, else `scripts/llama-server.sh start`).
//!
//! Run: `cargo test -p ethos-providers --features native --test live_anthropic -- --test-threads 1`

#![cfg(feature = "native")]

mod live_server;

use ethos_engine::pipeline::{NoObserver, Pipeline, SharedRecord, Stages};
use ethos_engine::record::{RunRecord, RunResult, Stage};
use ethos_engine::settings::{Decoding, Method, RunSettings};
use ethos_engine::vital::{self, Item, Source};
use ethos_engine::{ChatModel, ChatRequest, Message};
use ethos_providers::native::NativeTransport;
use ethos_providers::{Client, Endpoint, Protocol};
use live_server::{model, policy, server_url};

/// One test at a time on the shared server: llama-server batches requests that overlap, and a
/// batch's make-up changes the arithmetic, so a greedy reply is only reproducible alone. The full
/// item's stage 1 by SmolLM2 (k = 3) once lost a perspective when it overlapped the other tests.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn alone() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// The Anthropic preset's client, pointed at llama-server's base URL (no `/v1`: the protocol
/// adds it, as for api.anthropic.com).
fn client(url: &str, stream: bool) -> Client<NativeTransport> {
    client_as(url, stream, "anthropic")
}

/// The same with another preset's headers (`anthropic-compatible`: the key as a bearer token).
fn client_as(url: &str, stream: bool, preset: &str) -> Client<NativeTransport> {
    Client::new(
        Endpoint::new(Protocol::Anthropic, url.to_string(), Some("sk-ant-test".into()), preset),
        NativeTransport::new().expect("native transport"),
    )
    .with_policy(policy())
    .with_streaming(stream)
    .with_concurrency(4)
}

/// An Anthropic stop reason (llama-server maps its own to these).
fn assert_stop_reason(r: &ethos_engine::ChatResponse) {
    assert!(
        matches!(r.finish_reason.as_deref(), Some("end_turn" | "max_tokens" | "stop_sequence")),
        "{:?}",
        r.finish_reason
    );
}

fn hello() -> ChatRequest {
    ChatRequest::new(
        model(),
        vec![
            Message::system("You are a friendly hospital receptionist."),
            Message::user("Say hello to a nurse in one short sentence."),
        ],
        0.0,
        16,
    )
}

#[tokio::test]
async fn anthropic_streamed_message() {
    let Some(url) = server_url() else { return };
    let _alone = alone();
    let mut deltas: Vec<String> = Vec::new();
    let r = client(&url, true)
        .chat(&hello(), &mut |d: &str| deltas.push(d.to_string()))
        .await
        .expect("streamed message from llama-server's /v1/messages");
    assert!(!r.text.trim().is_empty(), "empty reply");
    assert!(deltas.len() > 1, "the reply came in several pieces: {deltas:?}");
    assert_eq!(deltas.concat(), r.text);
    assert!(r.first_token_top_logprobs.is_none(), "the protocol has no logprobs");
    assert_stop_reason(&r);
    let usage = r.usage.expect("usage (message_start / message_delta)");
    assert!(usage.completion_tokens > 0 && usage.completion_tokens <= 16, "{usage:?}");
    assert!(usage.prompt_tokens > 5, "{usage:?}");
}

#[tokio::test]
async fn anthropic_non_streamed_message_matches_the_stream() {
    let Some(url) = server_url() else { return };
    let _alone = alone();
    let r = client_as(&url, false, ethos_providers::anthropic::COMPATIBLE_PRESET)
        .chat(&hello(), &mut |_| {})
        .await
        .expect("message from llama-server's /v1/messages");
    assert!(!r.text.trim().is_empty());
    assert_stop_reason(&r);
    let usage = r.usage.expect("usage");
    assert!(usage.completion_tokens > 0 && usage.completion_tokens <= 16, "{usage:?}");
    // Temperature 0: the streamed reply is the same text.
    let s = client(&url, true)
        .chat(&hello(), &mut |_| {})
        .await
        .expect("streamed message");
    assert_eq!(s.text, r.text);
}

#[tokio::test]
async fn anthropic_full_ethosagents_item() {
    let Some(url) = server_url() else { return };
    let _alone = alone();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../public/vital/vital_distributional_moralchoice.json");
    let text = std::fs::read_to_string(&path).expect("public/vital MoralChoice file");
    let it = vital::load(&text, Some(Source::MoralChoice))
        .expect("MoralChoice loads")
        .into_iter()
        .find(|i| i.id().to_string() == "H_010")
        .expect("H_010 in the file");
    let Item::Choice { item: choice, .. } = &it else {
        panic!("a choice item")
    };
    let c = client(&url, true);
    let mut settings = RunSettings::with_model(model());
    settings.k = 3;
    settings.keep_extra = false;
    settings.concurrency = 3;
    // No seed travels over this protocol: greedy decoding keeps the run reproducible.
    settings.decoding.perspectives = Decoding::new(0.0, 300);
    settings.decoding.perspectives_max_tokens_distributional = 300;
    settings.decoding.comments = Decoding::new(0.0, 48);
    let record = SharedRecord::new(RunRecord::new(it.clone(), settings, Method::EthosAgents));
    let clock = || 0.0;
    let result = Pipeline::new(Stages::same(&c), &clock, &NoObserver, record.clone())
        .run_item()
        .await
        .unwrap_or_else(|e| panic!("a full run over the Anthropic protocol: {e}"));
    let RunResult::Distribution(d) = result else {
        panic!("a distribution result")
    };
    assert_eq!(d.distribution.len(), choice.options.len());
    assert!((d.distribution.iter().sum::<f64>() - 1.0).abs() < 1e-9, "{:?}", d.distribution);
    let js = d.js.expect("JS distance vs gold");
    assert!((0.0..=0.8326).contains(&js), "{js}");
    let rec = record.snapshot();
    assert!(rec.calls.iter().all(|c| c.error.is_none()), "every call answered");
    assert!(rec.calls_of(Stage::Perspectives).count() >= 1);
    let comments: usize = (0..3).map(|i| rec.calls_of(Stage::Comment(i)).count()).sum();
    assert_eq!(comments, 3);
    eprintln!(
        "H_010 over /v1/messages: {:?} by {:?}, JS {js:.4}",
        d.distribution, d.method
    );
}
