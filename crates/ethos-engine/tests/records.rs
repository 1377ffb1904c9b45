//! Run records: JSON round trip, validation with clear messages, exports, edits.

#[path = "scripted.rs"]
mod scripted;

use ethos_engine::record::{
    summary_csv, RecordError, RunRecord, RunResult, RunStatus, Stage, RECORD_VERSION,
};
use ethos_engine::settings::{Method, RunSettings};
use scripted::{global, moral, opinion, overton, run_with, settings, value_item, ScriptedModel};

fn done(item: ethos_engine::Item, method: Method) -> RunRecord {
    let (out, rec) = run_with(item, settings(4, 4), method, &ScriptedModel::default());
    out.unwrap();
    rec
}

#[test]
fn json_round_trip_for_every_mode_and_method() {
    for item in [overton(), value_item(), opinion(), global(), moral()] {
        for method in [Method::EthosAgents, Method::Vanilla, Method::Prompting] {
            let rec = done(item.clone(), method);
            assert_eq!(rec.version, RECORD_VERSION);
            let back = scripted::assert_round_trip(&rec);
            assert_eq!(back.calls.len(), rec.calls.len());
            assert_eq!(back.item, rec.item);
            assert_eq!(back.settings, rec.settings);
        }
    }
}

#[test]
fn records_keep_prompts_replies_usage_and_timings() {
    let rec = done(opinion(), Method::EthosAgents);
    assert_eq!(rec.status, RunStatus::Done);
    for c in &rec.calls {
        assert!(!c.request.messages.is_empty());
        assert!(c.reply.is_some());
        assert!(c.usage.is_some());
        assert!(c.duration_ms.unwrap() > 0.0);
        assert_eq!(c.model, "scripted-model");
    }
    let answer = rec.calls.iter().find(|c| c.stage == Stage::Answer).unwrap();
    assert!(answer
        .first_token_top_logprobs
        .as_ref()
        .is_some_and(|t| !t.is_empty()));
    let sum: u64 = rec
        .calls
        .iter()
        .map(|c| u64::from(c.usage.as_ref().unwrap().prompt_tokens))
        .sum();
    assert_eq!(rec.totals.prompt_tokens, sum);
    assert!(rec.finished_ms.unwrap() > rec.created_ms);
}

#[test]
fn from_json_rejects_with_clear_messages() {
    let rec = done(moral(), Method::EthosAgents);

    let err = RunRecord::from_json("{not json").unwrap_err();
    assert!(matches!(err, RecordError::Json(_)));
    assert!(err.to_string().contains("not a run record"));

    let err = RunRecord::from_json("[1, 2]").unwrap_err();
    assert!(err.to_string().contains("version"), "{err}");

    let mut v: serde_json::Value = serde_json::from_str(&rec.to_json()).unwrap();
    v["version"] = serde_json::json!(99);
    let err = RunRecord::from_json(&v.to_string()).unwrap_err();
    assert_eq!(
        err,
        RecordError::Version {
            found: 99,
            supported: RECORD_VERSION
        }
    );
    assert!(err.to_string().contains("version 99"));

    let mut bad = rec.clone();
    bad.totals.calls += 1;
    let err = RunRecord::from_json(&bad.to_json()).unwrap_err();
    assert!(err.to_string().contains("totals"), "{err}");

    let mut bad = rec.clone();
    if let Some(RunResult::Distribution(d)) = &mut bad.result {
        d.distribution.push(0.0);
    }
    let err = RunRecord::from_json(&bad.to_json()).unwrap_err();
    assert!(err.to_string().contains("3 values for 2 options"), "{err}");

    let mut bad = rec.clone();
    bad.calls.swap(0, 1);
    assert!(RunRecord::from_json(&bad.to_json())
        .unwrap_err()
        .to_string()
        .contains("ids must be"));

    let mut bad = rec.clone();
    bad.settings.k = 0;
    assert!(RunRecord::from_json(&bad.to_json())
        .unwrap_err()
        .to_string()
        .contains("settings: k must be"));

    let mut bad = rec;
    bad.result = Some(RunResult::Overton(ethos_engine::record::OvertonResult {
        text: "x".into(),
        coverage: None,
    }));
    assert!(RunRecord::from_json(&bad.to_json())
        .unwrap_err()
        .to_string()
        .contains("does not fit"));

    // A field of the wrong type names itself.
    let mut v: serde_json::Value =
        serde_json::from_str(&done(overton(), Method::Vanilla).to_json()).unwrap();
    v["settings"]["k"] = serde_json::json!("six");
    let err = RunRecord::from_json(&v.to_string())
        .unwrap_err()
        .to_string();
    assert!(err.contains("invalid type"), "{err}");
}

#[test]
fn settings_missing_from_an_older_record_take_defaults() {
    let rec = done(overton(), Method::Vanilla);
    let mut v: serde_json::Value = serde_json::from_str(&rec.to_json()).unwrap();
    v["settings"].as_object_mut().unwrap().remove("templates");
    v["settings"]
        .as_object_mut()
        .unwrap()
        .remove("top_logprobs");
    let back = RunRecord::from_json(&v.to_string()).unwrap();
    assert_eq!(back.settings.templates, RunSettings::default().templates);
    assert_eq!(back.settings.top_logprobs, 10);
}

#[test]
fn markdown_handout_has_every_section() {
    let rec = done(overton(), Method::EthosAgents);
    let md = rec.to_markdown();
    for needle in [
        "# EthosAgents on ValueKaleidoscope (Overton) — item 11",
        "## Item",
        "## Settings",
        "| k | 4 (keep extra perspectives) |",
        "## Perspectives (4)",
        "1. **Name 1**: ",
        "## Comments",
        "## Result",
        "balanced comment",
        "## Calls",
        "| 0 | perspectives | scripted-model | 1 |",
        "<details><summary>Call 5: combine</summary>",
        "Passage 4: ",
    ] {
        assert!(md.contains(needle), "missing {needle:?} in\n{md}");
    }
    let md = done(global(), Method::EthosAgents).to_markdown();
    assert!(md.contains("Jensen–Shannon distance (natural log)"));
    assert!(md.contains("next-token logprobs"));
    assert!(md.contains("| A | Yes |"));
    let md = done(value_item(), Method::EthosAgents).to_markdown();
    assert!(
        md.contains("Parsed (reference parser):** B — correct"),
        "{md}"
    );
}

#[test]
fn csv_exports_quote_fields() {
    let rec = done(opinion(), Method::EthosAgents);
    let csv = rec.to_csv();
    let mut lines = csv.split("\r\n");
    assert!(lines
        .next()
        .unwrap()
        .starts_with("item_id,method,call,stage"));
    // Prompts contain newlines and commas: quoted, so the record count is still calls + header.
    let mut reader_rows = 0;
    let mut in_quotes = false;
    for ch in csv.chars() {
        match ch {
            '"' => in_quotes = !in_quotes,
            '\n' if !in_quotes => reader_rows += 1,
            _ => {}
        }
    }
    assert_eq!(reader_rows, rec.calls.len() + 1);
    // The selection prompt (starts with its question, holds a comma) is one quoted field.
    assert!(csv.contains("\"In terms of political party, which of the comments"));

    let records = vec![
        rec,
        done(value_item(), Method::Prompting),
        done(overton(), Method::Vanilla),
    ];
    let summary = summary_csv(&records);
    let rows: Vec<&str> = summary.trim_end().split("\r\n").collect();
    assert_eq!(rows.len(), 4);
    assert!(rows[0].contains("js_distance"));
    assert!(rows[1].contains("Steerable (group)") && rows[1].contains("logprobs"));
    assert!(
        rows[2].contains("Prompting") && rows[2].contains(",yes,yes,"),
        "{}",
        rows[2]
    );
}

#[test]
fn edits_clear_what_depends_on_them() {
    let mut rec = done(moral(), Method::EthosAgents);
    assert!(rec.result.is_some());
    rec.edit_comment(1, "A. I changed my mind: follow the guidelines.")
        .unwrap();
    assert!(rec.result.is_none());
    let c = rec.comments[1].as_ref().unwrap();
    assert!(c.edited && c.letter == Some('A'));
    assert!(rec
        .edit_comment(9, "x")
        .unwrap_err()
        .to_string()
        .contains("no perspective 10"));

    let mut p = rec.perspectives.perspectives[0].clone();
    p.name = "The Patient".into();
    p.raw = "stale".into();
    rec.edit_perspective(0, p.clone()).unwrap();
    assert!(rec.needs_rerun());
    assert_eq!(
        rec.perspectives.perspectives[0].raw,
        p.to_line().trim_start_matches('#').trim(),
        "the raw line stage 2 receives is rebuilt from the edited fields"
    );
    assert!(rec.perspectives.perspectives[0]
        .raw
        .starts_with("The Patient: "));
    assert!(rec.comments[0].is_none());
    assert!(rec.comments[2].is_some());
    assert!(rec.perspectives.edited);
    rec.validate().unwrap();

    let ps = rec.perspectives.perspectives[..2].to_vec();
    rec.set_perspectives(ps);
    assert!(rec.comments.is_empty());
    rec.validate().unwrap();
}

#[test]
#[ignore = "prints a sample handout: cargo test -p ethos-engine --test records print_sample -- --ignored --nocapture"]
fn print_sample() {
    println!("{}", done(opinion(), Method::EthosAgents).to_markdown());
}
