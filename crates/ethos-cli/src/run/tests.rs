//! Tests of `ethos run` in-process against the fault server.
use super::*;
use ethos_engine::answer::AnswerParser;
use ethos_engine::batch::{Pick, Slice};
use ethos_engine::record::{RunRecord, RunStatus};
use ethos_engine::settings::Method;
use ethos_engine::ChatError;
use ethos_testkit::{Fault, FaultServer};
use serde_json::Value;
use std::path::Path;
use std::path::PathBuf;

const REPLY: &str = "A. We should follow the procedure.\n\
#Carer: compassion, ethics of care, right to care, empathy, nurse\n\
#Jurist: justice, deontology, duty of fairness, calm, judge\n\
#Planner: welfare, consequentialism, right to resources, worry, administrator";

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

fn vital_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../public/vital/{name}"))
}

const MORAL: &str = "vital_distributional_moralchoice.json";

fn server() -> FaultServer {
    let s = FaultServer::start().expect("fault server");
    s.set_texts(vec![REPLY.into()]);
    s
}

fn tmp_out(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ethos-run-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("tmp dir");
    dir.join("out.json")
}

fn cleanup(out: &Path) {
    if let Some(dir) = out.parent() {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// `ethos run` arguments against `server` on `file`, with `extra` (slice, methods, ...).
fn args_on(server: &FaultServer, file: &Path, out: &Path, extra: &[&str]) -> RunArgs {
    let mut a = strings(&[
        "--file",
        &file.to_string_lossy(),
        "--provider",
        "openai",
        "--base-url",
        &server.base_url(),
        "--out",
        &out.to_string_lossy(),
    ]);
    a.extend(strings(extra));
    for (k, v) in [("--method", "ethosagents"), ("--model", "m"), ("--k", "3")] {
        if !extra.contains(&k) {
            a.extend(strings(&[k, v]));
        }
    }
    parse_args(&a).expect("args")
}

fn args_for(server: &FaultServer, ids: &str, out: &Path, extra: &[&str]) -> RunArgs {
    let mut e = vec!["--ids", ids];
    e.extend_from_slice(extra);
    args_on(server, &vital_file(MORAL), out, &e)
}

fn block<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

fn run_report(args: &RunArgs) -> Report {
    block(run(args, &mut Display::silent())).expect("the batch runs")
}

/// A run in which every task finishes; its summary.
fn run_ok(args: &RunArgs) -> Value {
    let r = run_report(args);
    assert_eq!(r.problem, None, "{}", r.summary);
    r.summary
}

fn run_err(args: &RunArgs) -> RunError {
    match block(run(args, &mut Display::silent())) {
        Ok(r) => panic!("the run should be refused; it ran: {}", r.summary),
        Err(e) => e,
    }
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

fn records(path: &Path) -> Vec<RunRecord> {
    lines(path)
        .iter()
        .map(|l| RunRecord::from_json(l).expect("record line"))
        .collect()
}

fn loaded(path: &Path) -> Vec<Item> {
    vital::load(&std::fs::read_to_string(path).expect("output file"), None).expect("VITAL shape")
}

/// `ethos score` on the filled file of `method` equals the summary's scores for it.
fn assert_summary_is_score(summary: &Value, args: &RunArgs, method: Method) {
    let entry = &summary["results"][method.id()];
    let path = args.filled_path(method);
    assert_eq!(entry["out"], path.display().to_string());
    let text = std::fs::read_to_string(&path).expect("filled file");
    let scored: Value = serde_json::from_str(
        &crate::score::score_text(&text, None, AnswerParser::Reference).expect("scores"),
    )
    .expect("score json");
    // Items that failed are in the file with a `pred_error`, left out and counted in both.
    assert_eq!(
        entry["failed"], scored["failed"],
        "{method:?}: failed items"
    );
    if scored.get("mean_js").is_some() {
        for k in ["records", "mean_js", "most_likely"] {
            assert_eq!(
                entry["dist"][k], scored[k],
                "{method:?} {k}: summary = ethos score"
            );
        }
        assert_eq!(
            entry["pred_methods"], scored["pred_methods"],
            "{method:?}: methods"
        );
    } else {
        let v = &entry["value_reference"];
        for k in [
            "records",
            "unparsed",
            "accuracy",
            "balanced_accuracy",
            "macro_f1",
            "binary_records",
            "binary_accuracy",
            "binary_balanced_accuracy",
            "binary_macro_f1",
        ] {
            assert_eq!(v[k], scored[k], "{method:?} {k}: summary = ethos score");
        }
    }
}

#[test]
fn usage_errors_are_clear() {
    let e = parse_args(&strings(&["--file", "x.json"]))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        e.contains("required arguments were not provided") && e.contains("--method"),
        "{e}"
    );
    let e = parse_args(&strings(&["--bogus", "1"]))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.contains("unexpected argument '--bogus'"), "{e}");
    let base = [
        "--file",
        "x.json",
        "--method",
        "vanilla",
        "--provider",
        "openai",
        "--base-url",
        "u",
        "--model",
        "m",
    ];
    let with = |extra: &[&str]| {
        let mut v = strings(&base);
        v.extend(strings(extra));
        parse_args(&v)
    };
    let usage = |extra: &[&str], needle: &str| match with(extra) {
        Err(RunError::Usage(m)) => assert!(m.contains(needle), "{extra:?}: {m}"),
        other => panic!("{extra:?}: expected a usage error, got {other:?}"),
    };
    usage(&["--dist", "magic"], "--dist");
    usage(&["--k", "six"], "--k");
    usage(&["--provider", "x"], "provider");
    usage(&["--out", "x.json"], "never overwritten");
    usage(&["--first", "3", "--ids", "a"], "cannot be used with");
    usage(&["--slice-seed", "3"], "--random");
    usage(&["--judge=1"], "unexpected value '1' for '--judge'");
    usage(&["--fresh", "--fresh"], "cannot be used multiple times");
    usage(&["--k", "6", "--k", "7"], "cannot be used multiple times");
    usage(&["--base-url", "u"], "--base-url u given twice");
    usage(&["--batch-cancel"], "--batch-api");
    usage(
        &["--batch-poll", "100000", "--batch-api"],
        "--batch-poll must be seconds",
    );
    usage(&["--items-in-flight", "0"], "at least 1");
    assert!(matches!(
        parse_args(&strings(&[
            "--file", "x.json", "--method", "vanilla,bogus", "--provider", "openai",
            "--base-url", "u", "--model", "m"
        ])),
        Err(RunError::Usage(m)) if m.contains("unknown method \"bogus\"")
    ));

    let a = with(&["--dist=sampling", "--samples", "7", "--ids", "C_001, H_010"]).expect("args");
    assert_eq!(a.dist, DistSetting::Sampling { n: 7 });
    assert_eq!(
        a.slice.pick,
        Pick::Ids {
            ids: vec!["C_001".to_string(), "H_010".to_string()]
        }
    );
    assert_eq!(a.out, PathBuf::from("x.vanilla.json"));
    assert_eq!(
        a.filled_path(Method::Vanilla),
        PathBuf::from("x.vanilla.json")
    );
    assert_eq!(
        a.paths().records,
        PathBuf::from("x.vanilla.json.records.jsonl")
    );
    assert_eq!(a.paths().calls, PathBuf::from("x.vanilla.json.calls.jsonl"));
    assert_eq!((a.concurrency, a.items_in_flight), (4, 4));
    assert!(!a.judge && !a.fresh);

    let a = with(&[
        "--random",
        "5",
        "--slice-seed",
        "9",
        "--attribute",
        " Japan ",
        "--concurrency",
        "3",
        "--judge",
        "--fresh",
    ])
    .expect("args");
    assert_eq!(a.slice.pick, Pick::Random { n: 5, seed: 9 });
    assert_eq!(a.slice.attribute, "Japan");
    assert_eq!(
        (a.concurrency, a.items_in_flight),
        (3, 3),
        "in flight = concurrency"
    );
    assert!(a.judge && a.fresh);

    // Several methods: one filled file per method beside OUT.
    let mut v = strings(&base);
    v[3] = "ethosagents,vanilla,prompting,vanilla".into();
    let a = parse_args(&v).expect("args");
    assert_eq!(
        a.methods,
        vec![Method::EthosAgents, Method::Vanilla, Method::Prompting]
    );
    assert_eq!(a.out, PathBuf::from("x.batch.json"));
    assert_eq!(
        a.filled_path(Method::Prompting),
        PathBuf::from("x.batch.prompting.json")
    );
    v.extend(strings(&["--out", "dir/res.json", "--first", "10"]));
    let a = parse_args(&v).expect("args");
    assert_eq!(a.slice, Slice::first(10));
    assert_eq!(
        a.filled_path(Method::EthosAgents),
        PathBuf::from("dir/res.ethosagents.json")
    );
    assert_eq!(a.paths().csv, PathBuf::from("dir/res.json.scores.csv"));
}

#[test]
fn runs_items_writes_vital_shape_and_records_and_resumes() {
    let server = server();
    let out = tmp_out("resume");
    std::env::set_var("ETHOS_RUN_TEST_KEY", "sk-run-test-SECRET-42");
    let args = args_for(
        &server,
        "C_001,H_010",
        &out,
        &["--key-env", "ETHOS_RUN_TEST_KEY"],
    );
    let v = run_ok(&args);
    assert_eq!(
        (v["ran"].as_u64(), v["done"].as_u64(), v["failed"].as_u64()),
        (Some(2), Some(2), Some(0))
    );
    assert_eq!(
        v["distribution"][0],
        "distribution: logprobs (the endpoint returned them)"
    );
    // 1 perspectives + 3 comments + 3 reads per item
    assert_eq!(server.stats().model("m"), 14);
    assert_eq!(v["calls"].as_u64(), Some(14));
    let items = loaded(&out);
    assert_eq!(
        items.iter().map(|i| i.id().to_string()).collect::<Vec<_>>(),
        vec!["C_001", "H_010"]
    );
    for it in &items {
        let Item::Choice { item, .. } = it else {
            panic!("choice item")
        };
        let p = item.pred_distribution.clone().expect("pred filled");
        assert_eq!(p.len(), 2);
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        // the server's first-token logprobs: A 0.5, B 0.3 -> 0.625 / 0.375
        assert!((p[0] - 0.625).abs() < 1e-9, "{p:?}");
    }
    let paths = args.paths();
    let recs = records(&paths.records);
    assert_eq!(recs.len(), 2);
    assert!(recs
        .iter()
        .all(|r| r.status == RunStatus::Done && r.calls.len() == 7));
    assert_eq!(lines(&paths.calls).len(), 14, "every call is stored");
    assert_eq!(lines(&paths.outcomes).len(), 2);
    // the key went to the server but is in no file
    for path in [
        &out,
        &paths.records,
        &paths.calls,
        &paths.outcomes,
        &paths.spec,
        &paths.csv,
    ] {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        assert!(!text.is_empty(), "{}", path.display());
        assert!(!text.contains("SECRET-42"), "{}", path.display());
    }
    assert!(server
        .stats()
        .requests
        .iter()
        .all(|r| r.header_names.contains(&"authorization".to_string())));
    assert_summary_is_score(&v, &args, Method::EthosAgents);
    let csv = std::fs::read_to_string(&paths.csv).unwrap_or_default();
    assert_eq!(csv.lines().count(), 3, "{csv}");
    assert!(
        csv.lines().nth(1).unwrap_or("").starts_with("C_001,"),
        "{csv}"
    );

    // The same command again: nothing is sent; the outputs are the same.
    let first_out = std::fs::read_to_string(&out).unwrap_or_default();
    let v2 = run_ok(&args);
    assert_eq!(
        (v2["ran"].as_u64(), v2["reused"].as_u64()),
        (Some(0), Some(2))
    );
    assert_eq!(server.stats().model("m"), 14);
    assert_eq!(v2["results"], v["results"]);
    assert_eq!(std::fs::read_to_string(&out).unwrap_or_default(), first_out);

    // Another slice on the same OUT is refused, naming what differs.
    let wider = args_for(&server, "C_001,H_010,C_020", &out, &[]);
    let e = run_err(&wider);
    assert_eq!(e.code(), 1);
    let msg = e.to_string();
    assert!(
        msg.contains("another batch") && msg.contains("slice") && msg.contains("--fresh"),
        "{msg}"
    );
    assert_eq!(server.stats().model("m"), 14);

    // --fresh starts over.
    let fresh = args_for(&server, "C_001,H_010,C_020", &out, &["--fresh"]);
    let v3 = run_ok(&fresh);
    assert_eq!(
        (v3["ran"].as_u64(), v3["reused"].as_u64()),
        (Some(3), Some(0))
    );
    assert_eq!(server.stats().model("m"), 35);
    assert_eq!(records(&paths.records).len(), 3);
    assert_eq!(lines(&paths.calls).len(), 21);
    cleanup(&out);
}

#[test]
fn a_fatal_fault_mid_run_stops_and_resumes_from_the_finished_calls() {
    let server = server();
    let out = tmp_out("fatal");
    // item 1: 7 good calls; item 2: perspectives and one comment fine, then the key is refused.
    let mut script = vec![Fault::Ok; 7];
    script.extend([
        Fault::Ok,
        Fault::Ok,
        Fault::Unauthorized,
        Fault::Unauthorized,
    ]);
    server.script(script);
    let args = args_for(&server, "C_001,H_010,C_020", &out, &["--concurrency", "1"]);
    let r = run_report(&args);
    let msg = r.problem.clone().unwrap_or_default();
    assert!(
        msg.contains("stopped") && msg.contains("rejected the API key") && msg.contains("H_010"),
        "{msg}"
    );
    assert_eq!(
        r.summary["stopped"].as_str().map(|s| s.contains("401")),
        Some(true)
    );
    assert_eq!(
        (
            r.summary["done"].as_u64(),
            r.summary["failed"].as_u64(),
            r.summary["not_run"].as_u64()
        ),
        (Some(1), Some(1), Some(1))
    );
    // 401 is never retried; C_020 never ran.
    let stats = server.stats();
    assert_eq!(stats.fault("401"), 2, "{:?}", stats.by_fault);
    assert_eq!(stats.total, 11);
    let paths = args.paths();
    let recs = records(&paths.records);
    assert_eq!(recs.len(), 2);
    let failed = &recs[1];
    assert!(
        matches!(failed.status, RunStatus::Failed { .. }),
        "{:?}",
        failed.status
    );
    assert_eq!(failed.calls.iter().filter(|c| c.is_ok()).count(), 2);
    assert_eq!(
        failed
            .calls
            .iter()
            .filter(|c| c.error == Some(ChatError::BadKey))
            .count(),
        2
    );
    assert_eq!(lines(&paths.calls).len(), 9, "7 + perspectives + comment 1");
    // the output lists the finished item and the failed one (null prediction, its error);
    // `ethos score` scores the first and counts the second, as the summary did
    let items = loaded(&out);
    assert_eq!(items.len(), 2);
    let file: Value =
        serde_json::from_str(&std::fs::read_to_string(&out).expect("output")).expect("JSON");
    assert_eq!(file[0]["pred_method"], "logprobs", "{}", file[0]);
    assert_eq!(file[1]["pred_distribution"], Value::Null);
    assert!(
        file[1]["pred_error"]
            .as_str()
            .is_some_and(|e| e.contains("key")),
        "{}",
        file[1]
    );
    assert_eq!(r.summary["results"]["ethosagents"]["failed"], 1);
    assert_eq!(r.summary["results"]["ethosagents"]["not_run"], 1);
    assert_summary_is_score(&r.summary, &args, Method::EthosAgents);

    // The resume re-runs H_010 from its two finished calls, then C_020.
    server.reset();
    let v = run_ok(&args);
    assert_eq!(
        (v["reused"].as_u64(), v["ran"].as_u64()),
        (Some(1), Some(2))
    );
    assert_eq!(
        server.stats().total,
        21 - 9,
        "no finished call is made again"
    );
    assert_eq!(v["cached_calls"].as_u64(), Some(2));
    let outcomes: Vec<Outcome> = lines(&paths.outcomes)
        .iter()
        .map(|l| serde_json::from_str(l).expect("outcome"))
        .collect();
    let h010 = outcomes
        .iter()
        .rev()
        .find(|o| o.task.item == 1)
        .expect("H_010");
    assert_eq!((h010.calls, h010.cached_calls), (5, 2));
    assert_eq!(loaded(&out).len(), 3);
    assert_summary_is_score(&v, &args, Method::EthosAgents);
    cleanup(&out);
}

#[test]
fn auto_falls_back_to_votes_without_logprobs_and_says_so() {
    let server = server();
    let out = tmp_out("votes");
    // The provider rejects logprobs with a 400, like Groq or Gemini.
    let args = args_for(&server, "C_001", &out, &["--model", "fault:400-logprobs"]);
    let v = run_ok(&args);
    assert!(
        v["distribution"][0]
            .as_str()
            .is_some_and(|s| s.contains("fell back to votes")),
        "{v}"
    );
    let items = loaded(&out);
    let Some(Item::Choice { item, .. }) = items.first() else {
        panic!("choice item")
    };
    assert_eq!(
        item.pred_distribution,
        Some(vec![1.0, 0.0]),
        "all three comments start with A"
    );
    cleanup(&out);
}

#[test]
fn bad_input_is_refused_before_any_call() {
    let server = server();
    let out = tmp_out("input");
    let msg = |a: &RunArgs| {
        let e = run_err(a);
        assert_eq!(e.code(), 1, "{e}");
        e.to_string()
    };
    let e = msg(&args_for(&server, "C_001,NOPE", &out, &[]));
    assert!(e.contains("no item with id NOPE"), "{e}");
    let e = msg(&args_on(
        &server,
        &vital_file(MORAL),
        &out,
        &["--attribute", "Atlantis"],
    ));
    assert!(
        e.contains("slice is empty") && e.contains("Atlantis"),
        "{e}"
    );
    let e = msg(&args_on(
        &server,
        &vital_file(MORAL),
        &out,
        &["--first", "0"],
    ));
    assert!(e.contains("slice is empty"), "{e}");
    let e = msg(&args_for(
        &server,
        "C_001",
        &out,
        &["--key-env", "ETHOS_RUN_TEST_UNSET_VAR"],
    ));
    assert!(
        e.contains("ETHOS_RUN_TEST_UNSET_VAR") && e.contains("not set"),
        "{e}"
    );
    let e = msg(&args_on(
        &server,
        &out.with_file_name("missing.json"),
        &out,
        &[],
    ));
    assert!(
        e.contains("cannot read") && e.contains("missing.json"),
        "{e}"
    );
    // State written by something else (no batch description) is not taken over.
    std::fs::write(
        args_for(&server, "C_001", &out, &[]).paths().records,
        "{}\n",
    )
    .expect("write");
    let e = msg(&args_for(&server, "C_001", &out, &[]));
    assert!(
        e.contains("records.jsonl exists") && e.contains("--fresh"),
        "{e}"
    );
    assert_eq!(server.stats().total, 0);
    cleanup(&out);
}

#[test]
fn another_model_k_seed_file_or_judge_is_refused_and_fresh_starts_over() {
    let server = server();
    let out = tmp_out("mismatch");
    let base = args_for(&server, "C_001", &out, &["--method", "vanilla"]);
    run_ok(&base);
    assert_eq!(server.stats().total, 1);
    let refused = |extra: &[&str], needle: &str| {
        let mut e = vec!["--method", "vanilla"];
        e.extend_from_slice(extra);
        let msg = run_err(&args_for(&server, "C_001", &out, &e)).to_string();
        assert!(
            msg.contains("another batch") && msg.contains(needle),
            "{extra:?}: {msg}"
        );
    };
    refused(&["--model", "m2"], "model \"m\" -> \"m2\"");
    refused(&["--k", "4"], "k 3 -> 4");
    refused(&["--seed", "1"], "seed 0 -> 1");
    refused(&["--dist", "votes"], "distribution");
    refused(&["--judge"], "judge");
    let msg = run_err(&args_for(
        &server,
        "C_001",
        &out,
        &["--method", "vanilla,prompting"],
    ))
    .to_string();
    assert!(
        msg.contains("methods vanilla -> vanilla,prompting"),
        "{msg}"
    );
    // Another file, or the same file name with other content.
    let dir = out.parent().expect("dir").join("copy");
    std::fs::create_dir_all(&dir).expect("dir");
    let text = std::fs::read_to_string(vital_file(MORAL)).expect("read");
    let renamed = dir.join("mine.json");
    std::fs::write(&renamed, &text).expect("write");
    let msg = run_err(&args_on(
        &server,
        &renamed,
        &out,
        &["--ids", "C_001", "--method", "vanilla"],
    ))
    .to_string();
    assert!(msg.contains("input file"), "{msg}");
    let mut records: Vec<Value> = serde_json::from_str(&text).expect("json");
    records.truncate(5);
    let edited = dir.join(MORAL);
    std::fs::write(&edited, serde_json::to_string(&records).expect("json")).expect("write");
    let msg = run_err(&args_on(
        &server,
        &edited,
        &out,
        &["--ids", "C_001", "--method", "vanilla"],
    ))
    .to_string();
    assert!(msg.contains("content"), "{msg}");
    // The unchanged file elsewhere is the same batch.
    std::fs::write(&edited, &text).expect("write");
    run_ok(&args_on(
        &server,
        &edited,
        &out,
        &["--ids", "C_001", "--method", "vanilla"],
    ));
    assert_eq!(
        server.stats().total,
        1,
        "nothing was run by refused commands"
    );

    // Concurrency may change on a resume (said, not refused).
    let v = run_ok(&args_for(
        &server,
        "C_001",
        &out,
        &["--method", "vanilla", "--concurrency", "1"],
    ));
    assert_eq!(v["reused"].as_u64(), Some(1));
    // --fresh discards the stored batch and runs the new one.
    let v = run_ok(&args_for(
        &server,
        "C_001",
        &out,
        &["--method", "vanilla", "--model", "m2", "--fresh"],
    ));
    assert_eq!(v["ran"].as_u64(), Some(1));
    assert_eq!(server.stats().model("m2"), 1);
    cleanup(&out);
}

#[test]
fn unreadable_state_lines_are_named_and_a_cut_last_line_is_repaired() {
    let server = server();
    let out = tmp_out("lines");
    let args = args_for(&server, "C_001", &out, &[]);
    run_ok(&args);
    let paths = args.paths();
    let calls = std::fs::read_to_string(&paths.calls).expect("calls");
    assert_eq!(calls.lines().count(), 7);

    // A crash cut the last line: it is dropped, nothing else is lost or made again.
    std::fs::write(&paths.calls, format!("{calls}{{\"key\": \"0123")).expect("write");
    std::fs::write(&paths.outcomes, "").expect("write");
    let v = run_ok(&args);
    assert_eq!((v["ran"].as_u64(), v["calls"].as_u64()), (Some(1), Some(0)));
    assert_eq!(v["cached_calls"].as_u64(), Some(7));
    assert_eq!(std::fs::read_to_string(&paths.calls).expect("calls"), calls);
    assert_eq!(server.stats().total, 7);

    // A damaged line in the middle is an error that names the file and line.
    let mut damaged: Vec<&str> = calls.lines().collect();
    damaged.insert(2, "not a call");
    std::fs::write(&paths.calls, damaged.join("\n") + "\n").expect("write");
    let e = run_err(&args);
    assert_eq!(e.code(), 1);
    let msg = e.to_string();
    assert!(
        msg.contains("calls.jsonl line 3") && msg.contains("--fresh"),
        "{msg}"
    );
    std::fs::write(&paths.calls, &calls).expect("write");
    std::fs::write(&paths.outcomes, "{\"task\": 3}\n").expect("write");
    let msg = run_err(&args).to_string();
    assert!(msg.contains("outcomes.jsonl line 1"), "{msg}");
    assert_eq!(server.stats().total, 7);
    cleanup(&out);
}

#[test]
fn several_methods_on_a_random_slice_score_like_ethos_score() {
    let server = server();
    let out = tmp_out("methods");
    // OUT in a directory that does not exist yet: it is made.
    let res = out.with_file_name("sub").join("res.json");
    let args = args_on(
        &server,
        &vital_file(MORAL),
        &res,
        &[
            "--random",
            "4",
            "--slice-seed",
            "3",
            "--method",
            "ethosagents,vanilla,prompting",
            "--items-in-flight",
            "2",
        ],
    );
    let v = run_ok(&args);
    assert_eq!(v["tasks"].as_u64(), Some(12));
    assert_eq!(server.stats().total, 4 * 7 + 4 + 4);
    assert_eq!(
        args.filled_path(Method::Vanilla),
        out.with_file_name("sub").join("res.vanilla.json")
    );
    let ids: Vec<String> = loaded(&args.filled_path(Method::Vanilla))
        .iter()
        .map(|i| i.id().to_string())
        .collect();
    assert_eq!(ids.len(), 4);
    for m in [Method::EthosAgents, Method::Vanilla, Method::Prompting] {
        assert_summary_is_score(&v, &args, m);
        let e = &v["results"][m.id()];
        assert_eq!(e["done"].as_u64(), Some(4));
        let parts = e["breakdown"].as_array().expect("breakdown");
        assert!(!parts.is_empty());
        let sum: u64 = parts.iter().filter_map(|p| p["done"].as_u64()).sum();
        assert_eq!(sum, 4, "the breakdown adds up: {parts:?}");
        assert!(parts.iter().all(|p| p["attribute"].as_str().is_some()));
    }
    let csv = std::fs::read_to_string(args.paths().csv).unwrap_or_default();
    assert_eq!(csv.lines().count(), 13, "header + one row per task:\n{csv}");
    // The slice is the engine's: the same seed picks the same ids.
    let all = vital::load(
        &std::fs::read_to_string(vital_file(MORAL)).unwrap_or_default(),
        None,
    )
    .expect("file");
    let want: Vec<String> = batch::select(&all, &args.slice)
        .expect("slice")
        .into_iter()
        .map(|i| all[i].id().to_string())
        .collect();
    assert_eq!(ids, want);
    cleanup(&out);
}

#[test]
fn value_items_score_like_ethos_score() {
    let server = server();
    let out = tmp_out("value");
    let file = out.with_file_name("vital_steerable_valuekaleidoscope.json");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../ethos-engine/tests/fixtures/vital_steerable_valuekaleidoscope_sample.json"),
        &file,
    )
    .expect("copy fixture");
    server.set_texts(vec!["A".into()]);
    let args = args_on(
        &server,
        &file,
        &out,
        &["--first", "6", "--method", "vanilla"],
    );
    let v = run_ok(&args);
    assert_eq!(server.stats().total, 6);
    let e = &v["results"]["vanilla"];
    assert_eq!(e["value_reference"]["records"].as_u64(), Some(6));
    assert_summary_is_score(&v, &args, Method::Vanilla);
    cleanup(&out);
}

#[test]
fn overton_outputs_are_judged_with_judge() {
    let server = server();
    let out = tmp_out("judge");
    // Every reply (the answer, then the judge's) rates up to 20 values at 0.5.
    let scores: Vec<String> = (1..=20).map(|i| format!("\"{i}\": 0.5")).collect();
    server.set_texts(vec![format!("{{{}}}", scores.join(", "))]);
    let file = vital_file("vital_overton_valuekaleidoscope.json");
    let args = args_on(
        &server,
        &file,
        &out,
        &["--first", "2", "--method", "vanilla", "--judge"],
    );
    let v = run_ok(&args);
    // The default judge (the reference direction) makes one call per explanation.
    let items =
        vital::load(&std::fs::read_to_string(&file).unwrap_or_default(), None).expect("file");
    let judge_calls: u64 = items
        .iter()
        .take(2)
        .map(|i| match i {
            Item::Overton(o) => o.explanation.len() as u64,
            _ => 0,
        })
        .sum();
    assert_eq!(
        server.stats().total,
        2 + judge_calls,
        "an answer per item, a judge call per explanation"
    );
    let c = &v["results"]["vanilla"]["coverage"];
    assert_eq!(c["judged"].as_u64(), Some(2), "{v}");
    assert_eq!(c["mean_item_score"].as_f64(), Some(0.5));
    assert_eq!(loaded(&out).len(), 2);
    cleanup(&out);
}

/// `ethos run` + `ethos score` against the real llama-server (CI sets ETHOS_LLM_URL, see
/// scripts/llama-server.sh); a vanilla run is one call per item, so this stays quick.
#[test]
fn live_vanilla_run_is_scored() {
    let Some(url) = std::env::var("ETHOS_LLM_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
    else {
        eprintln!("SKIP live_vanilla_run_is_scored: ETHOS_LLM_URL is unset (start one with scripts/llama-server.sh start)");
        return;
    };
    let url = url
        .trim()
        .trim_end_matches('/')
        .trim_end_matches("/v1")
        .to_string();
    let model = std::env::var("ETHOS_LLM_MODEL").unwrap_or_else(|_| "smollm2".into());
    let out = tmp_out("live");
    let args = parse_args(&strings(&[
        "--file",
        &vital_file(MORAL).to_string_lossy(),
        "--ids",
        "C_001,H_010",
        "--method",
        "vanilla",
        "--provider",
        "openai",
        "--base-url",
        &format!("{url}/v1"),
        "--model",
        &model,
        "--dist",
        "auto",
        "--out",
        &out.to_string_lossy(),
    ]))
    .expect("args");
    let v = run_ok(&args);
    assert!(
        v["distribution"][0]
            .as_str()
            .is_some_and(|s| s.contains("distribution: logprobs")),
        "{v}"
    );
    assert_summary_is_score(&v, &args, Method::Vanilla);
    let js = v["results"]["vanilla"]["dist"]["mean_js"]
        .as_f64()
        .expect("mean_js");
    assert!((0.0..=0.8326).contains(&js), "{v}");
    assert_eq!(records(&args.paths().records).len(), 2);
    eprintln!(
        "live vanilla run on C_001, H_010: {}",
        v["results"]["vanilla"]["dist"]
    );
    cleanup(&out);
}

#[test]
fn two_endpoints_share_the_calls_and_score_like_one() {
    let (one, a, b) = (server(), server(), server());
    let (out1, out2) = (tmp_out("one-endpoint"), tmp_out("two-endpoints"));
    let extra = [
        "--first",
        "6",
        "--method",
        "ethosagents,vanilla",
        "--concurrency",
        "2",
    ];
    let single = run_ok(&args_on(&one, &vital_file(MORAL), &out1, &extra));
    let second = b.base_url();
    let mut both = extra.to_vec();
    both.extend(["--base-url", second.as_str()]);
    let args = args_on(&a, &vital_file(MORAL), &out2, &both);
    assert_eq!(args.base_urls, vec![a.base_url(), b.base_url()]);
    assert_eq!(
        args.items_in_flight, 4,
        "default: both endpoints' concurrency"
    );
    let shared = run_ok(&args);

    let (na, nb) = (a.stats().total, b.stats().total);
    let total = one.stats().total;
    assert_eq!(total, 6 * 7 + 6);
    assert_eq!(na + nb, total, "every call made once, on one endpoint");
    assert!(
        na * 10 >= total * 4 && nb * 10 >= total * 4,
        "both endpoints busy (>= 40 % each): {na} and {nb} of {total}"
    );
    let counts: Vec<(String, u64)> = shared["endpoints"]
        .as_array()
        .expect("endpoints")
        .iter()
        .map(|e| {
            (
                e["base_url"].as_str().unwrap_or("").to_string(),
                e["calls"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(counts, vec![(a.base_url(), na), (b.base_url(), nb)]);
    for m in ["ethosagents", "vanilla"] {
        let (s, t) = (&single["results"][m], &shared["results"][m]);
        assert!(s["dist"].is_object(), "{single}");
        for k in ["dist", "breakdown", "done", "calls", "prompt_tokens"] {
            assert_eq!(s[k], t[k], "{m} {k}: two endpoints score like one");
        }
    }
    cleanup(&out1);
    cleanup(&out2);
}

#[test]
fn a_batch_state_moves_to_another_out_and_resumes_there_without_a_call() {
    let (a, b) = (server(), server());
    let (out1, out2) = (tmp_out("state-from"), tmp_out("state-to"));
    let state = out1.with_file_name("state.json");
    let state_arg = state.to_string_lossy().to_string();
    let v1 = run_ok(&args_for(
        &a,
        "C_001,H_010",
        &out1,
        &[
            "--method",
            "ethosagents,vanilla",
            "--state-export",
            &state_arg,
        ],
    ));
    assert_eq!(a.stats().total, 2 * 7 + 2);
    let exported: batch::BatchState =
        serde_json::from_str(&std::fs::read_to_string(&state).expect("state file")).expect("state");
    assert_eq!((exported.calls.len(), exported.outcomes.len()), (16, 4));
    assert_eq!(
        exported.items,
        vec!["C_001".to_string(), "H_010".to_string()]
    );

    // Another OUT (another machine) continues from the state: nothing is made again.
    let v2 = run_ok(&args_for(
        &b,
        "C_001,H_010",
        &out2,
        &[
            "--method",
            "ethosagents,vanilla",
            "--state-import",
            &state_arg,
        ],
    ));
    assert_eq!(b.stats().total, 0, "every call came from the state");
    assert_eq!(
        (v2["reused"].as_u64(), v2["ran"].as_u64()),
        (Some(4), Some(0))
    );
    for m in ["ethosagents", "vanilla"] {
        assert_eq!(v2["results"][m]["dist"], v1["results"][m]["dist"], "{m}");
    }
    // The state of another batch is refused before anything is stored or sent.
    let out3 = tmp_out("state-other");
    for (ids, extra, needle) in [
        (
            "C_001",
            vec!["--method", "ethosagents,vanilla"],
            "selected items",
        ),
        (
            "C_001,H_010",
            vec!["--method", "ethosagents,vanilla", "--k", "4"],
            "another batch description",
        ),
    ] {
        let mut e = extra.clone();
        e.extend(["--state-import", state_arg.as_str()]);
        let msg = run_err(&args_for(&b, ids, &out3, &e)).to_string();
        assert!(
            msg.contains("state of another batch") && msg.contains(needle),
            "{msg}"
        );
    }
    assert_eq!(b.stats().total, 0);

    // The state alone (no --method, --model, slice or settings, as the app exports it): the
    // batch is the state's own.
    let out4 = tmp_out("state-alone");
    let alone = |extra: &[&str]| {
        let mut a = strings(&[
            "--file",
            &vital_file(MORAL).to_string_lossy(),
            "--provider",
            "openai",
            "--base-url",
            &b.base_url(),
            "--out",
            &out4.to_string_lossy(),
            "--state-import",
            &state_arg,
        ]);
        a.extend(strings(extra));
        parse_args(&a)
    };
    let v4 = run_ok(&alone(&[]).expect("args"));
    assert_eq!(b.stats().total, 0, "every call came from the state");
    assert_eq!(
        (v4["reused"].as_u64(), v4["ran"].as_u64()),
        (Some(4), Some(0))
    );
    for m in ["ethosagents", "vanilla"] {
        assert_eq!(v4["results"][m]["dist"], v1["results"][m]["dist"], "{m}");
    }
    let msg = run_err(&alone(&["--k", "4"]).expect("args")).to_string();
    assert!(msg.contains("brings its batch's settings"), "{msg}");
    assert!(
        alone(&["--method", "vanilla"]).is_err(),
        "--method needs --model"
    );
    let other_file = args_on(&b, &vital_file(MORAL), &out4, &[]);
    let mut other_file = other_file;
    other_file.file = out4.with_file_name("vital_overton_valuekaleidoscope.json");
    std::fs::copy(
        vital_file("vital_overton_valuekaleidoscope.json"),
        &other_file.file,
    )
    .expect("copy");
    other_file.methods.clear();
    other_file.state_import = Some(state.clone());
    let msg = run_err(&other_file).to_string();
    assert!(msg.contains("is a batch over"), "{msg}");
    assert_eq!(b.stats().total, 0);
    cleanup(&out2);
    cleanup(&out3);
    cleanup(&out4);
    cleanup(&out1);
}
