//! Unit tests of run records: JSON round trips, validation, edits and exports.

use super::*;

fn record(k: usize) -> RunRecord {
    let item =
        Item::custom("t-1", "Share records?", &["Yes".into(), "No".into()], None).expect("item");
    let mut r = RunRecord::new(item, RunSettings::with_model("m"), Method::EthosAgents);
    for i in 0..k {
        r.add_perspective(Perspective {
            raw: format!("P{i}: a, b, c, d, e"),
            name: format!("P{i}"),
            ..Default::default()
        });
    }
    r.perspectives.edited = false;
    r
}

fn ok_comment(i: usize, text: &str) -> CommentRecord {
    CommentRecord {
        index: i,
        perspective: format!("P{i}"),
        call_id: None,
        raw: text.into(),
        cleaned: text.into(),
        letter: Some('A'),
        edited: false,
        error: None,
    }
}

#[test]
fn removing_a_perspective_keeps_and_renumbers_the_other_comments() {
    let mut r = record(3);
    assert_eq!(r.comments, vec![None, None, None]);
    r.comments = vec![
        Some(ok_comment(0, "A. zero")),
        None,
        Some(ok_comment(2, "A. two")),
    ];
    r.result = Some(RunResult::Overton(OvertonResult {
        text: "x".into(),
        coverage: None,
    }));
    assert_eq!(r.missing_comments(), vec![1]);
    assert!(r.needs_rerun(), "a comment is missing");
    r.remove_perspective(1);
    assert!(r.perspectives.edited);
    assert!(r.result.is_none());
    let names: Vec<_> = r
        .perspectives
        .perspectives
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(names, ["P0", "P2"]);
    let kept: Vec<_> = r
        .comments
        .iter()
        .flatten()
        .map(|c| (c.index, c.raw.as_str()))
        .collect();
    assert_eq!(kept, [(0, "A. zero"), (1, "A. two")]);
    assert!(r.missing_comments().is_empty());
    assert!(r.validate().is_ok(), "{:?}", r.validate());

    r.remove_perspective(99); // out of range: nothing removed, no panic
    assert_eq!(r.perspectives.perspectives.len(), 2);
    assert_eq!(r.comments.len(), 2);
}

#[test]
fn adding_a_perspective_keeps_the_comments_and_leaves_a_slot_to_write() {
    let mut r = record(2);
    // Fewer comment slots than perspectives (comments never written): padded, not shifted.
    r.comments = vec![Some(ok_comment(0, "A. zero"))];
    r.add_perspective(Perspective::default());
    assert_eq!(r.perspectives.perspectives.len(), 3);
    assert_eq!(r.comments.len(), 3);
    assert_eq!(
        r.comments[0].as_ref().map(|c| c.raw.as_str()),
        Some("A. zero")
    );
    assert!(r.perspectives.edited);
    assert_eq!(r.missing_comments(), vec![1, 2]);
    // A failed comment counts as missing.
    r.comments[1] = Some(CommentRecord {
        error: Some(ChatError::Cancelled),
        ..ok_comment(1, "")
    });
    r.comments[2] = Some(ok_comment(2, "A. two"));
    assert_eq!(r.missing_comments(), vec![1]);
}

#[test]
fn version_is_checked_before_the_record_is_read() {
    let no_version = |_: &str| RecordError::Json("no `version` field".into());
    for text in [
        "[1, 2]",
        "\"x\"",
        "3",
        "null",
        "{}",
        r#"{"version": "1"}"#,
        r#"{"version": -1}"#,
        r#"{"version": 1.0}"#,
        r#"{"a": {"version": 1}, "version": [1]}"#,
    ] {
        assert_eq!(RunRecord::from_json(text), Err(no_version(text)), "{text}");
    }
    assert_eq!(
        RunRecord::from_json(r#"{"other": [1, {"x": null}], "version": 7}"#),
        Err(RecordError::Version {
            found: 7,
            supported: RECORD_VERSION
        })
    );
    // Right version, but not a record: the field error, from the text itself.
    let err = RunRecord::from_json(r#"{"version": 1}"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing field"), "{err}");
    assert!(matches!(
        RunRecord::from_json("{\"version\": 1"),
        Err(RecordError::Json(_))
    ));
    let r = record(2);
    assert_eq!(RunRecord::from_json(&r.to_json()), Ok(r));
}

#[test]
fn a_list_of_records_is_a_json_array_of_records() {
    assert_eq!(records_to_json(&[]), "[]");
    let (a, mut b) = (record(1), record(2));
    b.method = Method::Vanilla;
    let text = records_to_json(&[a.clone(), b.clone()]);
    let values: Vec<serde_json::Value> = serde_json::from_str(&text).expect("array");
    let back: Vec<RunRecord> = values
        .iter()
        .map(|v| RunRecord::from_json(&v.to_string()).expect("record"))
        .collect();
    assert_eq!(back, [a, b]);
}

#[test]
fn a_comment_is_pending_then_streaming_then_done_or_failed() {
    let mut r = record(2);
    assert_eq!(r.comment_state(0), CommentState::Pending);
    let request = ChatRequest::new("m", vec![crate::chat::Message::user("x")], 1.0, 200);
    r.calls.push(CallRecord::started(
        4,
        Stage::Comment(0),
        None,
        request,
        1.0,
        1,
    ));
    assert_eq!(r.comment_state(0), CommentState::Streaming(4));
    assert_eq!(r.comment_state(1), CommentState::Pending, "another card");
    r.calls[0].error = Some(ChatError::BadKey);
    assert!(matches!(r.comment_state(0), CommentState::Error(e) if e.contains("401")));
    r.comments[0] = Some(ok_comment(0, "A. zero"));
    assert_eq!(
        r.comment_state(0),
        CommentState::Done {
            text: "A. zero".into(),
            letter: Some('A'),
            edited: false
        }
    );
}

#[test]
fn a_copy_without_calls_is_the_record_with_no_calls() {
    let mut r = record(2);
    r.comments[1] = Some(ok_comment(1, "A. one"));
    r.result = Some(RunResult::Overton(OvertonResult {
        text: "x".into(),
        coverage: None,
    }));
    let request = ChatRequest::new("m", vec![crate::chat::Message::user("x")], 1.0, 200);
    r.calls.push(CallRecord::started(
        0,
        Stage::Comment(1),
        None,
        request,
        1.0,
        1,
    ));
    r.totals.calls = 1;
    r.created_ms = 5.0;
    let light = r.without_calls();
    assert!(light.calls.is_empty());
    let mut expected = r.clone();
    expected.calls.clear();
    assert_eq!(light, expected);
}

#[test]
fn a_run_needs_a_rerun_until_every_comment_and_the_result_are_there() {
    let mut r = record(2);
    assert!(r.needs_rerun());
    r.comments = vec![
        Some(ok_comment(0, "A. zero")),
        Some(ok_comment(1, "A. one")),
    ];
    assert!(r.needs_rerun(), "no result yet");
    r.result = Some(RunResult::Overton(OvertonResult {
        text: "x".into(),
        coverage: None,
    }));
    assert!(!r.needs_rerun());
    assert!(
        !record(0).needs_rerun(),
        "nothing to re-run without perspectives"
    );
}

#[test]
fn a_record_reads_back_whatever_the_order_of_its_keys() {
    // Every tagged enum of a record: the item's kind, the result's mode, the status' state, the
    // distribution setting's method, a comment error's kind (adjacently tagged).
    let mut r = record(2);
    r.settings.distribution = crate::settings::DistSetting::Sampling { n: 3 };
    r.status = RunStatus::Failed {
        message: "x".into(),
    };
    let mut failed = ok_comment(1, "");
    failed.error = Some(ChatError::RateLimited { waited_ms: 5 });
    r.comments = vec![Some(ok_comment(0, "A. zero")), Some(failed)];
    let read = Distribution {
        probs: vec![0.25, 0.75],
        method: DistMethod::Sampling,
        uniform_fallback: false,
    };
    r.result = Some(RunResult::Distribution(DistResult {
        selection: None,
        answer: None,
        per_read: vec![Some(read), None],
        distribution: vec![0.25, 0.75],
        method: DistMethod::Sampling,
        note: None,
        js: Some(0.1),
        argmax_match: Some(true),
    }));
    let json = r.to_json();
    assert_eq!(RunRecord::from_json(&json), Ok(r.clone()));

    /// Move every tag (and the adjacent content) to the end of its object.
    fn tags_last(v: &mut serde_json::Value) {
        if let Some(map) = v.as_object_mut() {
            for tag in ["kind", "mode", "state", "method", "detail"] {
                if let Some(t) = map.remove(tag) {
                    map.insert(tag.to_string(), t);
                }
            }
            map.values_mut().for_each(tags_last);
        } else if let Some(items) = v.as_array_mut() {
            items.iter_mut().for_each(tags_last);
        }
    }
    let mut value: serde_json::Value = serde_json::from_str(&json).expect("json");
    tags_last(&mut value);
    let text = value.to_string();
    assert!(text.contains("\"kind\":\"rate_limited\"}"), "{text}");
    assert_eq!(RunRecord::from_json(&text), Ok(r));
}
