//! `ethos run --preset reference` and `--score-failed`, as the built binary, against the fault
//! server: what the preset sends on the wire (k = 6, the reference templates, the stage-1 system
//! message, a seed per item), that the batch and every run record name the preset and its
//! deviations, and that failed items are scored as the reference does, exactly as
//! `ethos score --score-failed` scores the written file.

mod common;

use common::{ethos, moralchoice, moralchoice_run, text, tmp_dir};
use ethos_engine::pipeline::item_seed;
use ethos_engine::template::{render, Templates};
use ethos_engine::vital::{self, Item, Source};
use ethos_testkit::{ChatCall, FaultServer, OkReply};
use serde_json::Value;
use std::sync::{Arc, Mutex};

/// Six `#` perspective lines (the reference parsing reads only those), after an answer letter.
const SIX: &str = "A. We should follow the procedure.\n\
#Carer: compassion, ethics of care, right to care, empathy, nurse\n\
#Jurist: justice, deontology, duty of fairness, calm, judge\n\
#Planner: welfare, consequentialism, right to resources, worry, administrator\n\
#Patient: autonomy, deontology, right to consent, fear, patient\n\
#Ethicist: truth, virtue ethics, duty of honesty, resolve, adviser\n\
#Relative: trust, care ethics, right to know, anger, family member";

/// A fault server answering every call with [`SIX`] (and logprobs when asked), keeping each
/// call as it reached the wire.
fn recording_server() -> (FaultServer, Arc<Mutex<Vec<ChatCall>>>) {
    let server = FaultServer::start().expect("fault server");
    let calls: Arc<Mutex<Vec<ChatCall>>> = Arc::default();
    let seen = calls.clone();
    server.set_responder(move |call| {
        seen.lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(call.clone());
        OkReply {
            texts: vec![SIX.into()],
            ..OkReply::default()
        }
    });
    (server, calls)
}

fn run_args(server: &FaultServer, out: &std::path::Path, extra: &[&str]) -> Vec<String> {
    moralchoice_run(server, "openai", 2, "ethosagents", out, extra)
}

fn items() -> Vec<Item> {
    let text = std::fs::read_to_string(moralchoice()).expect("MoralChoice");
    vital::load(&text, Some(Source::MoralChoice)).expect("loads")
}

#[test]
fn the_reference_preset_sends_the_reference_and_records_itself() {
    let (server, calls) = recording_server();
    let dir = tmp_dir("ethos-preset", "reference");
    let out = dir.join("p.json");
    let o = ethos(&run_args(&server, &out, &["--preset", "reference"]));
    assert!(o.status.success(), "{}", text(&o.stderr));
    let summary: Value = serde_json::from_str(text(&o.stdout).trim()).expect("summary");

    let defaults = Templates::default();
    let calls = calls.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let system = |c: &ChatCall, text: &str| {
        c.messages
            .first()
            .is_some_and(|(r, t)| r == "system" && t == text)
    };
    let stage1: Vec<&ChatCall> = calls
        .iter()
        .filter(|c| system(c, &defaults.perspectives_system))
        .collect();
    let stage2 = calls
        .iter()
        .filter(|c| system(c, &defaults.comment_system))
        .count();
    // The probe asked first; then per item one stage-1 call, k = 6 comments and 6 reads.
    assert!(
        calls[0]
            .messages
            .iter()
            .any(|(_, t)| t.contains("Is honesty important?")),
        "{:?}",
        calls[0]
    );
    assert_eq!(stage1.len(), 2, "one stage-1 call per item: {calls:?}");
    assert_eq!(stage2, 12, "k = 6 comments per item");
    let reads = calls
        .iter()
        .filter(|c| c.logprobs && c.top_logprobs == 10)
        .count();
    assert_eq!(reads, 12, "6 reads per item, 10 top logprobs each");
    for (call, item) in stage1.iter().zip(items()) {
        // The reference's stage-1 system message and template, for k = 6.
        let want = render(
            &defaults.perspectives,
            &[("k", "6"), ("input", item.perspective_input())],
        )
        .expect("renders");
        assert_eq!(call.messages.len(), 2);
        assert_eq!(call.messages[1], ("user".to_string(), want));
        // A seed per item, derived from the seed (0) and the item id.
        assert_eq!(
            call.seed_value,
            Some(item_seed(0, item.id())),
            "{}",
            item.id()
        );
    }
    assert_ne!(stage1[0].seed_value, stage1[1].seed_value);

    // The summary, the stored batch and every run record name the preset and its deviations.
    let preset = summary["preset"]
        .as_str()
        .expect("the summary names the preset");
    assert!(
        preset.starts_with("Reproduce the reference; deviations: "),
        "{preset}"
    );
    // The fault server serves no raw completion: a deviation the provider forces, named.
    assert!(preset.contains("no raw completion"), "{preset}");
    assert_eq!(summary["changed_since_preset"], serde_json::json!([]));
    assert_eq!(summary["score_failed_as_reference"], true);
    let spec: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("p.json.batch.json")).expect("batch spec"),
    )
    .expect("JSON");
    let settings = &spec["spec"]["settings"];
    assert_eq!(settings["preset"]["name"], "Reproduce the reference");
    assert_eq!(settings["k"], 6);
    assert_eq!(settings["score_failed_as_reference"], true);
    assert_eq!(settings["preset"]["facts"]["logprobs"], true);
    let records = std::fs::read_to_string(dir.join("p.json.records.jsonl")).expect("records");
    assert_eq!(records.lines().count(), 2);
    for line in records.lines() {
        let r: Value = serde_json::from_str(line).expect("a record");
        assert_eq!(r["settings"]["preset"], settings["preset"], "{line}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_setting_given_with_the_preset_is_recorded_as_changed() {
    let (server, _) = recording_server();
    let dir = tmp_dir("ethos-preset", "changed");
    let o = ethos(&run_args(
        &server,
        &dir.join("c.json"),
        &["--preset", "reference", "--k", "3"],
    ));
    assert!(o.status.success(), "{}", text(&o.stderr));
    let summary: Value = serde_json::from_str(text(&o.stdout).trim()).expect("summary");
    assert_eq!(summary["changed_since_preset"], serde_json::json!(["k"]));
    assert!(summary["preset"]
        .as_str()
        .unwrap_or("")
        .contains("(then changed: k)"));
    let o = ethos(&run_args(
        &server,
        &dir.join("x.json"),
        &["--preset", "nope"],
    ));
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("invalid value 'nope' for '--preset"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn failed_items_are_scored_as_the_reference_does_with_score_failed() {
    let (server, _) = recording_server();
    // Every call about the second item fails (its stage 1 names its scenario).
    let second = match &items()[1] {
        Item::Choice { item, .. } => item.question.lines().nth(1).unwrap_or("").to_string(),
        _ => panic!("a choice item"),
    };
    server.set_fault_rule(Some(Arc::new(move |call: &ChatCall| {
        call.messages
            .iter()
            .any(|(_, t)| t.contains(&second))
            .then_some(ethos_testkit::Fault::EmptyChoices)
    })));
    let dir = tmp_dir("ethos-preset", "failed");
    let args = |out: &str, extra: &[&str]| {
        let mut a = run_args(&server, &dir.join(out), &["--k", "3"]);
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let left = ethos(&args("left.json", &[]));
    let scored = ethos(&args("scored.json", &["--score-failed"]));
    // A task failed: exit 1, the summary still on stdout.
    assert_eq!(
        (left.status.code(), scored.status.code()),
        (Some(1), Some(1))
    );
    let left: Value = serde_json::from_str(text(&left.stdout).trim()).expect("summary");
    let scored: Value = serde_json::from_str(text(&scored.stdout).trim()).expect("summary");
    let (l, s) = (
        &left["results"]["ethosagents"],
        &scored["results"]["ethosagents"],
    );
    assert_eq!(
        (l["failed"].as_u64(), s["failed"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(l["attrition"], "1 failed item left out");
    assert_eq!(
        s["attrition"],
        "failed items scored as the reference does: 1"
    );
    assert_eq!(l["dist"]["records"], 1);
    assert_eq!(s["dist"]["records"], 2);
    assert_eq!(s["pred_methods"]["failed_uniform"], 1);
    // The second item's gold is [1, 0]: the uniform prediction adds JS 0.4645… to the mean.
    let (ljs, sjs) = (
        l["dist"]["mean_js"].as_f64().unwrap(),
        s["dist"]["mean_js"].as_f64().unwrap(),
    );
    assert!(
        (sjs - (ljs + 0.464_501_404_022_458_93) / 2.0).abs() < 1e-12,
        "{ljs} {sjs}"
    );
    // `ethos score --score-failed` on the written file prints the summary's scores.
    let file = s["out"].as_str().expect("out");
    let o = ethos(&["score".into(), "--score-failed".into(), file.into()]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let printed: Value = serde_json::from_str(text(&o.stdout).trim()).expect("score JSON");
    for k in ["records", "mean_js", "most_likely"] {
        assert_eq!(printed[k], s["dist"][k], "{k}");
    }
    assert_eq!(printed["pred_methods"], s["pred_methods"]);
    assert_eq!(printed["failed_scored"], s["failed_scored"]);
    // Without the flag the same file scores as the left-out summary.
    let o = ethos(&["score".into(), file.into()]);
    let printed: Value = serde_json::from_str(text(&o.stdout).trim()).expect("score JSON");
    assert_eq!(printed["mean_js"], l["dist"]["mean_js"]);

    // The same batch scored the other way is the same batch: resumed, not refused.
    let again = ethos(&args("left.json", &["--score-failed"]));
    let err = text(&again.stderr);
    assert!(
        err.contains("note: failed items are now scored as the reference does"),
        "{err}"
    );
    let again: Value = serde_json::from_str(text(&again.stdout).trim()).expect("summary");
    assert_eq!(again["results"]["ethosagents"]["dist"], s["dist"]);
    let _ = std::fs::remove_dir_all(&dir);
}
