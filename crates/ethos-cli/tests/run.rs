//! `ethos run`, as the built binary, against the fault server: a batch killed midway resumes
//! without repeating a finished call (counted by the server), its summary equals what
//! `ethos score` prints for the written files, and bad input exits with a clear message and code.

mod common;

use common::{ethos, four_items, server, text, FOUR_ITEMS_CALLS as CALLS};
use ethos_testkit::{Fault, FaultServer};
use serde_json::Value;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn tmp_dir(name: &str) -> PathBuf {
    common::tmp_dir("ethos-run-bin", name)
}

/// The batch of these tests: 4 items × EthosAgents (k = 3: 7 calls) and vanilla (1 call).
fn batch_args(server: &FaultServer, out: &Path) -> Vec<String> {
    four_items(
        server,
        "openai",
        out,
        &[
            "--concurrency",
            &IN_FLIGHT.to_string(),
            "--items-in-flight",
            "2",
        ],
    )
}

/// Run to the end; the summary printed on stdout.
fn run_ok(args: &[String]) -> Value {
    let out = ethos(args);
    assert!(
        out.status.success(),
        "exit {:?}\nstderr: {}\nstdout: {}",
        out.status.code(),
        text(&out.stderr),
        text(&out.stdout)
    );
    serde_json::from_str(text(&out.stdout).trim()).expect("one JSON summary on stdout")
}

fn line_count(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

fn beside(out: &Path, suffix: &str) -> PathBuf {
    PathBuf::from(format!("{}{suffix}", out.display()))
}

/// `ethos score FILE`, parsed.
fn score(file: &str) -> Value {
    let out = ethos(&["score".to_string(), file.to_string()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_str(text(&out.stdout).trim()).expect("score JSON")
}

/// `ethos score` on a method's filled file prints the summary entry's scores, its failed count
/// and its distribution methods.
fn assert_scored_as_summary(entry: &Value, what: &str) {
    let file = entry["out"].as_str().expect("out path");
    let scored = score(file);
    for k in ["records", "mean_js", "most_likely"] {
        assert_eq!(
            scored[k], entry["dist"][k],
            "{what} {k}: summary = ethos score {file}"
        );
    }
    assert_eq!(scored["failed"], entry["failed"], "{what}: failed");
    assert_eq!(
        scored["pred_methods"], entry["pred_methods"],
        "{what}: methods"
    );
}

/// The batch's `--concurrency`: how many calls it has in flight at most.
const IN_FLIGHT: usize = 2;

/// Start the batch on `out` with the server answering `answered` calls and letting every
/// further call hang; return once those calls are stored and every slot holds a hung call.
/// Waiting for all the slots (not just one hung call) means no request of this process is still
/// on its way to the server when the test kills it: such a request would be counted after the
/// test's `reset`, as if the next run had made it.
/// The child's stderr goes to `<out>.stderr`.
fn start_hung(
    server: &FaultServer,
    out: &Path,
    answered: usize,
    stdout: Stdio,
) -> std::process::Child {
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    server.set_fault_rule(Some(Arc::new(move |_call| {
        (counter.fetch_add(1, Ordering::SeqCst) >= answered)
            .then_some(Fault::SlowFirstByte { ms: 600_000 })
    })));
    let log = beside(out, ".stderr");
    let mut child = Command::new(env!("CARGO_BIN_EXE_ethos"))
        .args(batch_args(server, out))
        .stdout(stdout)
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("spawn ethos run");
    let calls_file = beside(out, ".calls.jsonl");
    let t0 = Instant::now();
    while line_count(&calls_file) < answered || seen.load(Ordering::SeqCst) < answered + IN_FLIGHT {
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "ethos run ended before it was stopped ({status}): {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "the batch did not get to {answered} stored calls and {IN_FLIGHT} hung ones"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

#[test]
fn a_killed_batch_resumes_without_repeating_a_finished_call() {
    let server = server();
    let dir = tmp_dir("kill");

    // The reference: the whole batch, uninterrupted.
    let reference = run_ok(&batch_args(&server, &dir.join("ref.json")));
    assert_eq!(server.stats().total, CALLS);

    // Run 1: the server answers 13 calls, then every further call hangs; the process is killed
    // while calls are in flight.
    server.reset();
    const ANSWERED: usize = 13;
    let out = dir.join("batch.json");
    let calls_file = beside(&out, ".calls.jsonl");
    let mut child = start_hung(&server, &out, ANSWERED, Stdio::null());
    child.kill().expect("kill");
    let _ = child.wait();
    assert_eq!(
        line_count(&calls_file),
        ANSWERED,
        "every answered call was stored as it finished, and no other"
    );
    let outcomes_before = line_count(&beside(&out, ".outcomes.jsonl"));
    assert!(
        outcomes_before < 8,
        "the batch was killed before its end ({outcomes_before} tasks finished)"
    );
    assert!(
        !dir.join("batch.vanilla.json").exists(),
        "the filled files are written at the end of a run"
    );

    // Run 2: the same command finishes the batch, making only the calls that had not finished.
    server.set_fault_rule(None);
    server.reset();
    let summary = run_ok(&batch_args(&server, &out));
    assert_eq!(
        server.stats().total,
        CALLS - ANSWERED as u64,
        "the server saw each unfinished call once and no finished one"
    );
    assert_eq!(summary["calls"].as_u64(), Some(CALLS - ANSWERED as u64));
    assert_eq!(summary["reused"].as_u64(), Some(outcomes_before as u64));
    assert_eq!(
        (summary["done"].as_u64(), summary["failed"].as_u64()),
        (Some(8), Some(0))
    );
    let keys: HashSet<String> = std::fs::read_to_string(&calls_file)
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("a stored call per line");
            v["key"].as_str().unwrap_or_default().to_string()
        })
        .collect();
    assert_eq!(keys.len() as u64, CALLS, "each call stored once");

    // The same scores as the uninterrupted run, and exactly what `ethos score` prints.
    for m in ["ethosagents", "vanilla"] {
        let got = &summary["results"][m];
        assert_eq!(got["dist"], reference["results"][m]["dist"], "{m}");
        assert_eq!(got["done"].as_u64(), Some(4));
        assert_scored_as_summary(got, m);
    }
    assert_eq!(
        summary["results"]["vanilla"]["out"],
        dir.join("batch.vanilla.json").display().to_string()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_input_exits_with_a_clear_message_and_code() {
    let server = server();
    let dir = tmp_dir("bad");
    let out = dir.join("b.json");
    let base = batch_args(&server, &out);
    let with = |pairs: &[(&str, &str)]| {
        let mut a = base.clone();
        for (k, v) in pairs {
            match a.iter().position(|x| x == k) {
                Some(i) => a[i + 1] = v.to_string(),
                None => a.extend([k.to_string(), v.to_string()]),
            }
        }
        a
    };
    let fails = |args: &[String], code: i32, needle: &str| {
        let o = ethos(args);
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(code), "{args:?}: {err}");
        assert!(err.contains(needle), "{needle:?} not in: {err}");
        (text(&o.stdout), err)
    };

    // Usage (2): an unknown option, a missing value.
    fails(
        &with(&[("--bogus", "1")]),
        2,
        "unexpected argument '--bogus'",
    );
    let mut no_model = base.clone();
    let i = no_model.iter().position(|x| x == "--model").unwrap_or(0);
    no_model.drain(i..i + 2);
    fails(&no_model, 2, "--model");
    // Input (1): an unknown id, an empty slice; nothing was sent.
    let mut ids = base.clone();
    let i = ids.iter().position(|x| x == "--first").unwrap_or(0);
    ids[i] = "--ids".into();
    ids[i + 1] = "C_001,NOPE".into();
    fails(&ids, 1, "no item with id NOPE");
    fails(
        &with(&[("--attribute", "Atlantis")]),
        1,
        "the slice is empty",
    );
    assert_eq!(server.stats().total, 0);

    // A batch, then: another model on the same OUT is refused; a damaged stored call is named.
    let v = run_ok(&with(&[("--method", "vanilla")]));
    assert_eq!(v["done"].as_u64(), Some(4));
    fails(
        &with(&[("--method", "vanilla"), ("--model", "other")]),
        1,
        "belongs to another batch (model \"m\" -> \"other\")",
    );
    let calls = beside(&out, ".calls.jsonl");
    let mut lines: Vec<String> = std::fs::read_to_string(&calls)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect();
    lines.insert(1, "{\"key\": 7}".into());
    std::fs::write(&calls, lines.join("\n") + "\n").expect("write");
    fails(&with(&[("--method", "vanilla")]), 1, "calls.jsonl line 2");
    assert_eq!(server.stats().total, 4);

    // A task that fails: exit 1, and the summary still on stdout.
    let (stdout, err) = fails(
        &with(&[
            ("--method", "vanilla"),
            ("--model", "fault:401"),
            ("--out", &dir.join("f.json").to_string_lossy()),
        ]),
        1,
        "rejected the API key",
    );
    assert!(err.contains("Run the same command again"), "{err}");
    let v: Value = serde_json::from_str(stdout.trim()).expect("summary on stdout");
    // Two items were in flight when the key was refused; no other started.
    assert_eq!(
        (v["failed"].as_u64(), v["not_run"].as_u64()),
        (Some(2), Some(2))
    );
    assert!(
        v["stopped"].as_str().is_some_and(|s| s.contains("401")),
        "{v}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn ctrl_c_writes_what_is_done_and_the_same_command_resumes() {
    let server = server();
    let dir = tmp_dir("sigint");
    const ANSWERED: usize = 17;
    let out = dir.join("c.json");
    let calls_file = beside(&out, ".calls.jsonl");
    let child = start_hung(&server, &out, ANSWERED, Stdio::piped());
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill -INT");
    assert!(sent.success());
    let done = child.wait_with_output().expect("ethos run ends");
    let err = std::fs::read_to_string(beside(&out, ".stderr")).unwrap_or_default();
    assert_eq!(done.status.code(), Some(130), "{err}");
    assert!(err.contains("interrupted"), "{err}");
    // Not a terminal: one line per finished task on stderr.
    assert_eq!(
        err.lines().filter(|l| l.contains(": done (")).count() as u64,
        line_count(&beside(&out, ".outcomes.jsonl")) as u64,
        "{err}"
    );
    let summary: Value =
        serde_json::from_str(text(&done.stdout).trim()).expect("the summary on stdout");
    assert_eq!(summary["interrupted"], Value::Bool(true));
    let finished = line_count(&beside(&out, ".outcomes.jsonl")) as u64;
    assert!(finished > 0 && finished < 8, "{summary}");
    assert_eq!(summary["done"].as_u64(), Some(finished));
    assert_eq!(line_count(&calls_file), ANSWERED);
    // What is done is written and scored like `ethos score` scores it.
    for m in ["ethosagents", "vanilla"] {
        let got = &summary["results"][m];
        if got["done"].as_u64().unwrap_or(0) > 0 {
            assert_scored_as_summary(got, m);
        }
    }

    server.set_fault_rule(None);
    server.reset();
    let v = run_ok(&batch_args(&server, &out));
    assert_eq!(server.stats().total, CALLS - ANSWERED as u64);
    assert_eq!(v["reused"].as_u64(), Some(finished));
    assert_eq!(v["done"].as_u64(), Some(8));
    let _ = std::fs::remove_dir_all(&dir);
}
