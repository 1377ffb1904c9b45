//! Faults in the middle of an EthosAgents run: the engine pipeline over the native client against
//! the fault server. Transient faults are retried inside the client (counted by the server) and
//! the run completes; a fatal fault fails the run but the record keeps every finished call; a
//! cancelled run (future dropped) keeps what finished too.
//!
//! Run: `cargo test -p ethos-providers --features native --test faults_engine`

#![cfg(feature = "native")]

use ethos_engine::distribution::DistMethod;
use ethos_engine::pipeline::{NoObserver, Pipeline, PipelineError, SharedRecord, Stages};
use ethos_engine::record::{RunRecord, RunResult, RunStatus, Stage};
use ethos_engine::settings::{DistSetting, Method, RunSettings};
use ethos_engine::vital::Item;
use ethos_engine::ChatError;
use ethos_providers::native::NativeTransport;
use ethos_providers::{Client, Endpoint, Protocol, RetryPolicy};
use ethos_testkit::{Fault, FaultServer};

/// One reply that serves every stage: three `#` perspectives, a leading option letter.
const REPLY: &str = "A. We should keep the promise.\n\
#Carer: compassion, ethics of care, right to care, empathy, nurse\n\
#Jurist: justice, deontology, duty of fairness, calm, judge\n\
#Planner: welfare, consequentialism, right to resources, worry, administrator";

fn item() -> Item {
    Item::custom(
        "q1",
        "Should a nurse keep a patient's secret?",
        &["Yes".to_string(), "No".to_string()],
        Some(vec![0.5, 0.5]),
    )
    .expect("custom item")
}

fn setup(protocol: Protocol) -> (FaultServer, Client<NativeTransport>) {
    let server = FaultServer::start().expect("fault server");
    server.set_texts(vec![REPLY.into()]);
    let base = match protocol {
        Protocol::OpenAi => server.base_url(),
        Protocol::Anthropic => server.url(),
    };
    let transport = NativeTransport::new()
        .expect("transport")
        .with_jitter_seed(3);
    let client = Client::new(
        Endpoint::new(protocol, base, Some("sk-engine-SECRET".into()), "custom"),
        transport,
    )
    .with_policy(RetryPolicy {
        max_attempts: 4,
        base_ms: 4,
        max_ms: 2_000,
        quick_retries_5xx: 2,
        network_retries: 2,
    })
    .with_concurrency(1);
    (server, client)
}

fn settings(dist: DistSetting) -> RunSettings {
    let mut s = RunSettings::with_model("m");
    s.k = 3;
    s.concurrency = 1; // calls in a fixed order, so a scripted fault lands on a known call
    s.distribution = dist;
    s
}

#[tokio::test]
async fn transient_faults_mid_run_are_retried_and_the_run_completes() {
    for protocol in [Protocol::OpenAi, Protocol::Anthropic] {
        let (server, client) = setup(protocol);
        // calls: perspectives, 3 comments, 3 reads (Anthropic has no logprobs: auto falls back to votes)
        server.script([
            Fault::Ok,
            Fault::Unavailable {
                retry_after_s: Some(0),
            },
            Fault::Ok,
            Fault::Cut,
            Fault::Ok,
            Fault::InternalError,
            Fault::Ok,
        ]);
        let dist = if protocol == Protocol::OpenAi {
            DistSetting::Logprobs
        } else {
            DistSetting::Auto
        };
        let record = SharedRecord::new(RunRecord::new(item(), settings(dist), Method::EthosAgents));
        let clock = || 0.0;
        let pipeline = Pipeline::new(Stages::same(&client), &clock, &NoObserver, record.clone());
        let result = pipeline
            .run_item()
            .await
            .unwrap_or_else(|e| panic!("{protocol:?}: {e}"));
        let RunResult::Distribution(d) = result else {
            panic!("distribution")
        };
        assert!((d.distribution.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        let calls = 1 + 3 + 3;
        let want = if protocol == Protocol::OpenAi {
            DistMethod::Logprobs
        } else {
            DistMethod::Votes
        };
        assert_eq!(d.method, want, "{protocol:?}");
        // three faults, each retried once
        assert_eq!(server.stats().model("m"), calls + 3, "{protocol:?}");
        let rec = record.snapshot();
        assert_eq!(rec.status, RunStatus::Done);
        assert_eq!(
            rec.calls.len() as u64,
            calls,
            "retries happen inside the client: one record per call"
        );
        assert!(rec.calls.iter().all(|c| c.is_ok()));
        // the comment after the cut stream holds the whole reply, not the cut piece + the retry
        assert!(rec
            .calls
            .iter()
            .filter(|c| matches!(c.stage, Stage::Comment(_)))
            .all(|c| c.reply.as_deref() == Some(REPLY)));
    }
}

#[tokio::test]
async fn a_fatal_fault_mid_run_fails_it_and_keeps_the_finished_calls() {
    let (server, client) = setup(Protocol::OpenAi);
    // perspectives ok, comment 1 ok, comment 2 refused (bad key), comment 3 refused
    server.script([
        Fault::Ok,
        Fault::Ok,
        Fault::Unauthorized,
        Fault::Unauthorized,
    ]);
    let record = SharedRecord::new(RunRecord::new(
        item(),
        settings(DistSetting::Logprobs),
        Method::EthosAgents,
    ));
    let clock = || 0.0;
    let pipeline = Pipeline::new(Stages::same(&client), &clock, &NoObserver, record.clone());
    let Err(err) = pipeline.run_item().await else {
        panic!("the run should fail")
    };
    match &err {
        PipelineError::CommentsFailed { failed, total } => {
            assert_eq!(*total, 3);
            assert!(
                failed.iter().all(|(_, e)| *e == ChatError::BadKey),
                "{failed:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("rejected the API key"), "{err}");
    assert!(!err.to_string().contains("SECRET"));
    assert_eq!(server.stats().total, 4, "401 is not retried; no stage 3");
    let rec = record.snapshot();
    assert!(
        matches!(rec.status, RunStatus::Failed { .. }),
        "{:?}",
        rec.status
    );
    assert_eq!(
        rec.calls.iter().filter(|c| c.is_ok()).count(),
        2,
        "perspectives + comment 1 kept"
    );
    assert_eq!(rec.perspectives.perspectives.len(), 3);
    assert!(rec
        .comments
        .first()
        .and_then(|c| c.as_ref())
        .is_some_and(|c| c.is_ok() && c.raw == REPLY));
    // the kept record is a valid, re-importable run record
    let back = RunRecord::from_json(&rec.to_json()).expect("record round trip");
    assert_eq!(back.calls.len(), rec.calls.len());
}

#[tokio::test]
async fn a_cancelled_run_keeps_what_finished() {
    let (server, client) = setup(Protocol::OpenAi);
    // The second call never answers in time: the run is dropped while it waits.
    server.script([Fault::Ok, Fault::SlowFirstByte { ms: 10_000 }]);
    let record = SharedRecord::new(RunRecord::new(
        item(),
        settings(DistSetting::Logprobs),
        Method::EthosAgents,
    ));
    let clock = || 0.0;
    let pipeline = Pipeline::new(Stages::same(&client), &clock, &NoObserver, record.clone());
    let run = pipeline.run_item();
    // Cancel as soon as the stalled call has been received by the server.
    let watch = async {
        while server.stats().total < 2 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    };
    tokio::select! {
        r = run => panic!("the run should not finish: {r:?}"),
        _ = watch => {}
    }
    let rec = record.snapshot();
    assert_eq!(rec.status, RunStatus::Cancelled);
    assert_eq!(
        rec.calls.iter().filter(|c| c.is_ok()).count(),
        1,
        "the perspectives call is kept"
    );
    assert!(rec
        .calls
        .iter()
        .any(|c| c.error == Some(ChatError::Cancelled)));
    assert_eq!(server.stats().total, 2);
}
