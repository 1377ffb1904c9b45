//! `ethos run --batch-api` (OpenAI Batch API, Anthropic Message Batches) and `--batch-export` /
//! `--batch-import`, as the built binary, against the fault server's Batch APIs: the same slice
//! scores exactly as a live run, each pipeline stage is one batch, a killed command re-attaches
//! to its batch in flight instead of submitting it again, and `--batch-cancel` keeps what the
//! cancelled batch finished. Progress of a batch is driven by polls (never by time).

mod common;

use common::{ethos, four_items as args, server, text, FOUR_ITEMS_CALLS as CALLS};
use ethos_testkit::http::blocking_exchange;
use ethos_testkit::{BatchControl, FaultServer};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn tmp_dir(name: &str) -> PathBuf {
    common::tmp_dir("ethos-batch-api", name)
}

fn summary(out: &Output) -> Value {
    serde_json::from_str(text(&out.stdout).trim())
        .unwrap_or_else(|_| panic!("one JSON summary on stdout; stderr: {}", text(&out.stderr)))
}

fn run_ok(args: &[String]) -> (Value, String) {
    let out = ethos(args);
    assert!(
        out.status.success(),
        "exit {:?}\nstderr: {}",
        out.status.code(),
        text(&out.stderr)
    );
    (summary(&out), text(&out.stderr))
}

/// The live run of the same slice on a fresh server: the reference summary.
fn live_reference(provider: &str, dir: &Path) -> Value {
    live_reference_calls(provider, dir).0
}

/// [`live_reference`] and how many calls the live run made. Over OpenAI's protocol the fault
/// server gives log-probabilities ([`CALLS`] calls); over Anthropic's there are none, so the
/// vanilla answers are sampled, one call per sample.
fn live_reference_calls(provider: &str, dir: &Path) -> (Value, u64) {
    let live = server();
    let (v, _) = run_ok(&args(&live, provider, &dir.join("live.json"), &[]));
    let calls = live.stats().total;
    if provider == "openai" {
        assert_eq!(calls, CALLS);
    }
    (v, calls)
}

/// The same scores (and, with `all_calls_here`, the same call and token counts: when every call
/// was made by this command, none answered from a previous command's stored calls).
fn assert_same_scores(got: &Value, want: &Value, all_calls_here: bool) {
    for m in ["ethosagents", "vanilla"] {
        let (g, w) = (&got["results"][m], &want["results"][m]);
        assert!(w["dist"].is_object(), "{want}");
        assert_eq!(g["done"].as_u64(), Some(4), "{got}");
        let mut keys = vec!["dist", "done", "failed", "breakdown"];
        if all_calls_here {
            keys.extend(["calls", "prompt_tokens", "completion_tokens"]);
        }
        for k in keys {
            if k == "breakdown" && !all_calls_here {
                continue;
            }
            assert_eq!(g[k], w[k], "{m} {k}: the batch run scores as the live run");
        }
    }
}

fn submitted_ids(out: &Path) -> Vec<String> {
    std::fs::read_to_string(format!("{}.batches.jsonl", out.display()))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v["submitted"].as_str().map(str::to_string))
        .collect()
}

/// Start the batch with the server holding every batch in progress; return once the first
/// batch is submitted (and recorded) and in progress (polled twice), the process still polling.
fn start_held(server: &FaultServer, out: &Path) -> std::process::Child {
    server.set_batch_control(BatchControl {
        hold: true,
        ..BatchControl::default()
    });
    let mut child = Command::new(env!("CARGO_BIN_EXE_ethos"))
        .args(args(
            server,
            "openai",
            out,
            &["--batch-api", "--batch-poll", "0.02"],
        ))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn ethos run");
    let t0 = Instant::now();
    while submitted_ids(out).is_empty() || server.batch_stats().polls < 2 {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("ethos run ended before it was stopped ({status})");
        }
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "no batch was submitted"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

/// Start the batch (held at the provider), then kill the command while it polls.
fn submit_held_then_kill(server: &FaultServer, out: &Path) {
    let mut child = start_held(server, out);
    child.kill().expect("kill");
    let _ = child.wait();
}

/// One plain HTTP/1.1 exchange with the fault server; the status and the body.
fn http(server: &FaultServer, method: &str, path: &str, body: &str) -> (u16, String) {
    blocking_exchange(server.addr(), method, path, "application/json", body).expect("HTTP exchange")
}

#[test]
fn batch_api_scores_like_a_live_run_one_batch_per_stage() {
    let dir = tmp_dir("openai");
    let reference = live_reference("openai", &dir);
    let server = server();
    let out = dir.join("batch.json");
    let (v, stderr) = run_ok(&args(
        &server,
        "openai",
        &out,
        &["--batch-api", "--batch-poll", "0"],
    ));
    assert_eq!(server.stats().total, 0, "no live call");
    let b = server.batch_stats();
    assert_eq!(
        b.batches_created, 3,
        "stage 1 (and vanilla), stage 2, stage 3"
    );
    assert_eq!(
        (b.files_uploaded, b.answered),
        (3, CALLS),
        "each call made once"
    );
    assert_eq!(b.refused, 0, "every request followed the published format");
    let sizes: Vec<u64> = v["batches"]
        .as_array()
        .expect("batches")
        .iter()
        .map(|x| x["calls"].as_u64().unwrap_or(0))
        .collect();
    assert_eq!(sizes, vec![8, 12, 12]);
    assert!(
        stderr.contains("round 2: 12 calls submitted as batch"),
        "{stderr}"
    );
    assert_eq!(v["calls"].as_u64(), Some(CALLS));
    assert_same_scores(&v, &reference, true);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn anthropic_message_batches_score_like_a_live_run() {
    let dir = tmp_dir("anthropic");
    let (reference, live_calls) = live_reference_calls("anthropic", &dir);
    assert!(
        live_calls > CALLS,
        "vanilla answers sampled over Anthropic: {live_calls}"
    );
    let server = server();
    let (v, _) = run_ok(&args(
        &server,
        "anthropic",
        &dir.join("batch.json"),
        &["--batch-api", "--batch-poll", "0"],
    ));
    assert_eq!(server.stats().total, 0, "no live call");
    let b = server.batch_stats();
    // One batch per stage, then one per further round of samples; each live call made once.
    assert!(b.batches_created >= 3, "{b:?}");
    assert_eq!((b.answered, b.refused), (live_calls, 0));
    assert_same_scores(&v, &reference, true);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_killed_batch_run_re_attaches_instead_of_resubmitting() {
    let dir = tmp_dir("reattach");
    let reference = live_reference("openai", &dir);
    let server = server();
    let out = dir.join("batch.json");
    submit_held_then_kill(&server, &out);
    let ids = submitted_ids(&out);
    assert_eq!(ids.len(), 1);

    server.set_batch_control(BatchControl::default());
    let (v, stderr) = run_ok(&args(
        &server,
        "openai",
        &out,
        &["--batch-api", "--batch-poll", "0"],
    ));
    assert!(
        stderr.contains(&format!("picking up batch {}", ids[0])),
        "{stderr}"
    );
    let b = server.batch_stats();
    assert_eq!(
        b.batches_created, 3,
        "the batch in flight was not submitted again"
    );
    assert_eq!(b.answered, CALLS, "each call made once");
    assert_eq!(submitted_ids(&out)[0], ids[0]);
    assert_same_scores(&v, &reference, true);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn batch_cancel_keeps_what_finished_and_the_next_run_goes_on() {
    let dir = tmp_dir("cancel");
    let reference = live_reference("openai", &dir);
    let server = server();
    let out = dir.join("batch.json");
    submit_held_then_kill(&server, &out);
    let id = submitted_ids(&out).pop().expect("a batch id");
    // The provider makes 3 of the batch's 8 calls (one poll in progress), then the batch is
    // cancelled.
    server.set_batch_control(BatchControl {
        per_poll: 3,
        hold: false,
    });
    let (status, body) = http(&server, "GET", &format!("/v1/batches/{id}"), "");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"completed\":3"), "{body}");
    let cancel = ethos(&args(
        &server,
        "openai",
        &out,
        &["--batch-api", "--batch-cancel", "--batch-poll", "0"],
    ));
    let stderr = text(&cancel.stderr);
    assert_eq!(cancel.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("batch {id} was cancelled: 3 of its 8 calls")),
        "{stderr}"
    );
    let v = summary(&cancel);
    assert_eq!(v["batches"][0]["status"], "cancelled");
    assert_eq!(server.batch_stats().cancels, 1);
    let calls =
        std::fs::read_to_string(format!("{}.calls.jsonl", out.display())).unwrap_or_default();
    assert_eq!(calls.lines().count(), 3, "the finished calls are stored");

    // Nothing in flight now: another cancel says so.
    let again = ethos(&args(
        &server,
        "openai",
        &out,
        &["--batch-api", "--batch-cancel"],
    ));
    assert!(
        text(&again.stderr).contains("nothing to cancel"),
        "{}",
        text(&again.stderr)
    );

    server.set_batch_control(BatchControl::default());
    let (v, _) = run_ok(&args(
        &server,
        "openai",
        &out,
        &["--batch-api", "--batch-poll", "0"],
    ));
    let b = server.batch_stats();
    assert_eq!(b.answered, CALLS, "no call made twice");
    let made: u64 = v["batches"]
        .as_array()
        .expect("batches")
        .iter()
        .filter_map(|b| b["calls"].as_u64())
        .sum();
    assert_eq!(
        made,
        CALLS - 3,
        "only the calls the cancelled batch had not made"
    );
    assert_same_scores(&v, &reference, false);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn export_and_import_rounds_through_files_score_like_a_live_run() {
    let dir = tmp_dir("files");
    let reference = live_reference("openai", &dir);
    let server = server();
    let out = dir.join("batch.json");
    let files = dir.join("rounds");
    let mut import: Option<PathBuf> = None;
    let mut exported = Vec::new();
    let last = loop {
        let mut extra = vec!["--batch-export".to_string(), files.display().to_string()];
        if let Some(f) = &import {
            extra.extend(["--batch-import".to_string(), f.display().to_string()]);
        }
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        let o = ethos(&args(&server, "openai", &out, &extra));
        if o.status.success() {
            break summary(&o);
        }
        let stderr = text(&o.stderr);
        assert!(stderr.contains("--batch-import"), "{stderr}");
        assert!(exported.len() < 5, "the rounds did not end: {stderr}");
        // Run the round's file as vLLM's run_batch would: each line's body to the chat route.
        let round = files.join(format!("batch.json.round-{}.jsonl", exported.len() + 1));
        let input = std::fs::read_to_string(&round).expect("the round's file");
        let mut results = String::new();
        for (i, line) in input.lines().enumerate() {
            let v: Value = serde_json::from_str(line).expect("a JSON line");
            assert_eq!(
                (v["method"].as_str(), v["url"].as_str()),
                (Some("POST"), Some("/v1/chat/completions"))
            );
            let (status, body) = http(
                &server,
                "POST",
                "/v1/chat/completions",
                &v["body"].to_string(),
            );
            let body: Value = serde_json::from_str(&body).expect("a JSON reply");
            results.push_str(
                &serde_json::json!({"id": format!("vllm-{i}"), "custom_id": v["custom_id"],
                    "response": {"status_code": status, "request_id": format!("r{i}"), "body": body},
                    "error": null})
                .to_string(),
            );
            results.push('\n');
        }
        exported.push(input.lines().count());
        let f = dir.join(format!("results-{}.jsonl", exported.len()));
        std::fs::write(&f, results).expect("results");
        import = Some(f);
    };
    assert_eq!(exported, vec![8, 12, 12], "one file per stage");
    assert_eq!(server.stats().total, CALLS, "each call made once");
    assert_same_scores(&last, &reference, false);
    let _ = std::fs::remove_dir_all(&dir);
}
