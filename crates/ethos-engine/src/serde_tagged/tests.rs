//! Unit tests of `serde_tagged`.

//! Each hand-written impl against serde's derive of the same enum: the same inputs are
//! accepted with the same value, the same inputs are rejected, with the same message.
use crate::chat::ChatError;
use crate::distribution::{DistMethod, Distribution};
use crate::record::{DistResult, OvertonResult, RunResult, RunStatus, Selection, ValueResult};
use crate::settings::DistSetting;
use crate::vital::{ChoiceItem, Item, ItemId, OvertonItem, Source, ValueItem};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::fmt::Debug;

#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum DerivedItem {
    Overton(OvertonItem),
    Value(ValueItem),
    Choice { source: Source, item: ChoiceItem },
}
impl From<DerivedItem> for Item {
    fn from(d: DerivedItem) -> Item {
        match d {
            DerivedItem::Overton(i) => Item::Overton(i),
            DerivedItem::Value(i) => Item::Value(i),
            DerivedItem::Choice { source, item } => Item::Choice { source, item },
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum DerivedItemId {
    Int(i64),
    Str(String),
}
impl From<DerivedItemId> for ItemId {
    fn from(d: DerivedItemId) -> ItemId {
        match d {
            DerivedItemId::Int(i) => ItemId::Int(i),
            DerivedItemId::Str(s) => ItemId::Str(s),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
enum DerivedRunResult {
    Overton(OvertonResult),
    Value(ValueResult),
    Distribution(DistResult),
}
impl From<DerivedRunResult> for RunResult {
    fn from(d: DerivedRunResult) -> RunResult {
        match d {
            DerivedRunResult::Overton(r) => RunResult::Overton(r),
            DerivedRunResult::Value(r) => RunResult::Value(r),
            DerivedRunResult::Distribution(r) => RunResult::Distribution(r),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
enum DerivedRunStatus {
    NotStarted,
    Running,
    Partial,
    Done,
    Cancelled,
    Failed { message: String },
}
impl From<DerivedRunStatus> for RunStatus {
    fn from(d: DerivedRunStatus) -> RunStatus {
        match d {
            DerivedRunStatus::NotStarted => RunStatus::NotStarted,
            DerivedRunStatus::Running => RunStatus::Running,
            DerivedRunStatus::Partial => RunStatus::Partial,
            DerivedRunStatus::Done => RunStatus::Done,
            DerivedRunStatus::Cancelled => RunStatus::Cancelled,
            DerivedRunStatus::Failed { message } => RunStatus::Failed { message },
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
enum DerivedDistSetting {
    Auto,
    Logprobs,
    Votes,
    Sampling { n: u32 },
    Verbalised,
}
impl From<DerivedDistSetting> for DistSetting {
    fn from(d: DerivedDistSetting) -> DistSetting {
        match d {
            DerivedDistSetting::Auto => DistSetting::Auto,
            DerivedDistSetting::Logprobs => DistSetting::Logprobs,
            DerivedDistSetting::Votes => DistSetting::Votes,
            DerivedDistSetting::Sampling { n } => DistSetting::Sampling { n },
            DerivedDistSetting::Verbalised => DistSetting::Verbalised,
        }
    }
}

/// serde_json's message without its " at line L column C" suffix.
fn message(e: &serde_json::Error) -> String {
    let m = e.to_string();
    let position = format!(" at line {} column {}", e.line(), e.column());
    m.strip_suffix(position.as_str()).unwrap_or(&m).to_string()
}

/// Parse `text` as `T` (hand-written) and as `Derived`; both must agree. Returns T's result.
fn same<T, Derived>(text: &str) -> Result<T, String>
where
    T: DeserializeOwned + PartialEq + Debug,
    Derived: DeserializeOwned + Into<T>,
{
    let ours = serde_json::from_str::<T>(text).map_err(|e| message(&e));
    let derived = serde_json::from_str::<Derived>(text)
        .map(Into::into)
        .map_err(|e| message(&e).replace("Derived", ""));
    assert_eq!(ours, derived, "input: {text}");
    // And through serde_json::Value (another deserializer, no text positions).
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(text) {
        let ours = serde_json::from_value::<T>(value.clone()).map_err(|e| message(&e));
        let derived = serde_json::from_value::<Derived>(value)
            .map(Into::into)
            .map_err(|e| message(&e).replace("Derived", ""));
        assert_eq!(ours, derived, "input as Value: {text}");
    }
    ours
}

fn choice() -> Item {
    Item::Choice {
        source: Source::GlobalOpinionQa,
        item: ChoiceItem {
            id: ItemId::Int(7),
            question: "Question: q?\nOptions: A. yes B. no\nAnswer:".into(),
            options: vec!["yes".into(), "no".into()],
            attribute: "France".into(),
            gold_distribution: Some(vec![0.1, 0.9]),
            pred_distribution: None,
        },
    }
}

fn all_items() -> Vec<Item> {
    vec![
        Item::Overton(OvertonItem {
            id: ItemId::Str("a-1".into()),
            situation: "s".into(),
            vrd: vec!["Value: x".into()],
            explanation: vec!["e".into()],
            input: "i".into(),
            output: None,
        }),
        Item::Value(ValueItem {
            id: ItemId::Int(-3),
            situation: "s".into(),
            vrd: "Right: y".into(),
            label_text: "supports".into(),
            label: "A".into(),
            input: "i".into(),
            output: Some("o".into()),
        }),
        choice(),
    ]
}

/// The object's entries as JSON texts, in order.
fn entries(v: &serde_json::Value) -> Vec<String> {
    v.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{}:{}", serde_json::Value::from(k.as_str()), v))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn items_round_trip_in_any_key_order() {
    for item in all_items() {
        let text = serde_json::to_string(&item).unwrap();
        assert!(text.starts_with("{\"kind\":"), "{text}");
        assert_eq!(same::<Item, DerivedItem>(&text).as_ref(), Ok(&item));
        let pretty = serde_json::to_string_pretty(&item).unwrap();
        assert_eq!(same::<Item, DerivedItem>(&pretty).as_ref(), Ok(&item));
        // Tag last, then tag in the middle.
        let mut e = entries(&serde_json::to_value(&item).unwrap());
        let tag = e.remove(0);
        e.push(tag);
        let last = format!("{{{}}}", e.join(","));
        assert_eq!(
            same::<Item, DerivedItem>(&last).as_ref(),
            Ok(&item),
            "{last}"
        );
        let tag = e.pop().unwrap();
        e.insert(1, tag);
        let middle = format!("{{{}}}", e.join(","));
        assert_eq!(
            same::<Item, DerivedItem>(&middle).as_ref(),
            Ok(&item),
            "{middle}"
        );
    }
}

#[test]
fn malformed_items_are_rejected_like_the_derive() {
    let overton = r#""id":1,"situation":"s","vrd":[],"explanation":[],"input":"i","output":null"#;
    let cases = [
        "null".to_string(),
        "\"overton\"".into(),
        "3".into(),
        "[]".into(),
        "{}".into(),
        format!("{{{overton}}}"),
        format!("{{\"kind\":\"nope\",{overton}}}"),
        format!("{{{overton},\"kind\":\"nope\"}}"),
        format!("{{\"kind\":\"overton\",{overton},\"kind\":\"overton\"}}"),
        format!("{{{overton},\"kind\":\"overton\",\"kind\":\"overton\"}}"),
        format!("{{\"kind\":\"value\",{overton}}}"),
        format!("{{\"kind\":7,{overton}}}"),
        format!("{{\"kind\":null,{overton}}}"),
        format!("{{\"kind\":\"overton\",{overton},\"id\":2}}"),
        format!("{{\"kind\":\"overton\",{overton},\"extra\":{{\"x\":[1,2]}}}}"),
        format!("{{\"extra\":true,{overton},\"kind\":\"overton\"}}"),
        r#"{"kind":"choice","source":"opinion_qa"}"#.into(),
        r#"{"kind":"choice","source":"nowhere","item":{}}"#.into(),
        r#"{"item":{"id":"x","question":"q","options":[],"attribute":"","gold_distribution":null,"pred_distribution":null},"kind":"choice","source":"custom"}"#.into(),
        r#"["choice","custom",{"id":"x","question":"q","options":[],"attribute":"","gold_distribution":null,"pred_distribution":null}]"#.into(),
        r#"["overton",1,"s",[],[],"i",null]"#.into(),
        r#"["overton",1,"s"]"#.into(),
    ];
    let mut accepted = 0;
    for text in &cases {
        accepted += usize::from(same::<Item, DerivedItem>(text).is_ok());
    }
    // The extra-field, reordered and sequence forms are valid; the rest are not (serde_json
    // reads a tag only as a string).
    assert_eq!(accepted, 5);
    // Messages name the problem as the derive does.
    assert_eq!(
        serde_json::from_str::<Item>("{}").map_err(|e| message(&e)),
        Err("missing field `kind`".into())
    );
    let unknown =
        serde_json::from_str::<Item>(&format!("{{{overton},\"kind\":\"nope\"}}")).unwrap_err();
    assert_eq!(
        message(&unknown),
        "unknown variant `nope`, expected one of `overton`, `value`, `choice`"
    );
}

#[test]
fn item_ids_match_the_untagged_derive() {
    for text in [
        "0",
        "-12",
        "9223372036854775807",
        "\"MC-1\"",
        "\"with \\\"escapes\\\"\"",
    ] {
        assert!(same::<ItemId, DerivedItemId>(text).is_ok(), "{text}");
    }
    for text in [
        "9223372036854775808",
        "1.5",
        "true",
        "null",
        "[1]",
        "{\"a\":1}",
    ] {
        let e = same::<ItemId, DerivedItemId>(text).unwrap_err();
        assert_eq!(e, "data did not match any variant of untagged enum ItemId");
    }
}

fn all_results() -> Vec<RunResult> {
    let selection = Some(Selection {
        index: 1,
        reply: "2".into(),
        fallback: false,
    });
    vec![
        RunResult::Overton(OvertonResult {
            text: "t".into(),
            coverage: None,
        }),
        RunResult::Value(ValueResult {
            selection: selection.clone(),
            answer: "A. yes".into(),
            letter_reference: Some('A'),
            letter_strict: None,
            gold: "A".into(),
            correct_reference: true,
            correct_strict: false,
        }),
        RunResult::Distribution(DistResult {
            selection,
            answer: None,
            per_read: vec![
                Some(Distribution {
                    probs: vec![0.1, 0.9000000000000001],
                    method: DistMethod::Logprobs,
                    uniform_fallback: false,
                }),
                None,
            ],
            distribution: vec![1.0 / 3.0, 2.0 / 3.0],
            method: DistMethod::Votes,
            note: Some("n".into()),
            js: Some(0.123456789012345),
            argmax_match: Some(true),
        }),
    ]
}

#[test]
fn results_statuses_and_dist_settings_round_trip_in_any_key_order() {
    fn check<T, D>(values: Vec<T>)
    where
        T: serde::Serialize + DeserializeOwned + PartialEq + Debug,
        D: DeserializeOwned + Into<T>,
    {
        for v in values {
            let value = serde_json::to_value(&v).unwrap();
            let text = value.to_string();
            assert_eq!(same::<T, D>(&text).as_ref(), Ok(&v));
            let mut e = entries(&value);
            e.rotate_left(1);
            let reordered = format!("{{{}}}", e.join(","));
            assert_eq!(same::<T, D>(&reordered).as_ref(), Ok(&v), "{reordered}");
        }
    }
    check::<RunResult, DerivedRunResult>(all_results());
    check::<RunStatus, DerivedRunStatus>(vec![
        RunStatus::NotStarted,
        RunStatus::Running,
        RunStatus::Partial,
        RunStatus::Done,
        RunStatus::Cancelled,
        RunStatus::Failed {
            message: "boom".into(),
        },
    ]);
    check::<DistSetting, DerivedDistSetting>(vec![
        DistSetting::Auto,
        DistSetting::Logprobs,
        DistSetting::Votes,
        DistSetting::Sampling { n: 5 },
        DistSetting::Verbalised,
    ]);
}

#[test]
fn malformed_results_statuses_and_settings_are_rejected_like_the_derive() {
    let results = [
        r#"{"mode":"overton"}"#,
        r#"{"text":"t","mode":"value"}"#,
        r#"{"mode":"distribution","per_read":[],"distribution":[0.5],"method":"nope"}"#,
        r#"{"mode":"overton","text":"t","text":"u"}"#,
        r#"{"mode":"overton","text":5}"#,
        r#"{"mode":"Overton","text":"t"}"#,
    ];
    for text in results {
        assert!(same::<RunResult, DerivedRunResult>(text).is_err(), "{text}");
    }
    let statuses = [
        (r#"{"state":"failed"}"#, false),
        (r#"{"state":"failed","message":3}"#, false),
        (
            r#"{"message":"m","state":"failed","state":"failed"}"#,
            false,
        ),
        (r#"{"state":"done","message":"ignored"}"#, true),
        (r#"{"extra":[1,{"a":null}],"state":"running"}"#, true),
        (r#"{"state":4}"#, false),
        (r#"{"state":5}"#, false),
        (r#"{"state":6}"#, false),
        (r#"["failed","why"]"#, true),
        (r#"["done"]"#, true),
        (r#"[]"#, false),
        (r#""done""#, false),
    ];
    for (text, ok) in statuses {
        assert_eq!(
            same::<RunStatus, DerivedRunStatus>(text).is_ok(),
            ok,
            "{text}"
        );
    }
    let settings = [
        (r#"{"method":"sampling"}"#, false),
        (r#"{"method":"sampling","n":-1}"#, false),
        (r#"{"n":3,"method":"sampling"}"#, true),
        (r#"{"method":"votes","n":3}"#, true),
        (r#"{"method":"guess"}"#, false),
        (r#"{}"#, false),
    ];
    for (text, ok) in settings {
        assert_eq!(
            same::<DistSetting, DerivedDistSetting>(text).is_ok(),
            ok,
            "{text}"
        );
    }
}

#[test]
fn whole_records_still_round_trip_with_reordered_nested_tags() {
    let mut settings = crate::settings::RunSettings::default();
    settings.models.perspectives = "m".into();
    settings.models.comments = "m".into();
    settings.models.combine = "m".into();
    let mut record =
        crate::record::RunRecord::new(choice(), settings, crate::settings::Method::EthosAgents);
    record.status = RunStatus::Failed {
        message: "x".into(),
    };
    record.result = all_results().pop().map(|r| match r {
        RunResult::Distribution(d) => RunResult::Distribution(DistResult {
            selection: None,
            ..d
        }),
        other => other,
    });
    let json = record.to_json();
    assert_eq!(
        crate::record::RunRecord::from_json(&json),
        Ok(record.clone())
    );
    // Move every tag to the end of its object: still the same record.
    let mut value: serde_json::Value = serde_json::from_str(&json).unwrap();
    fn tags_last(v: &mut serde_json::Value) {
        if let Some(map) = v.as_object_mut() {
            for tag in ["kind", "mode", "state", "method"] {
                if let Some(t) = map.remove(tag) {
                    map.insert(tag.to_string(), t);
                }
            }
            map.values_mut().for_each(tags_last);
        } else if let Some(items) = v.as_array_mut() {
            items.iter_mut().for_each(tags_last);
        }
    }
    tags_last(&mut value);
    let text = value.to_string();
    assert!(!text.contains("{\"kind\""), "{text}");
    assert_eq!(crate::record::RunRecord::from_json(&text), Ok(record));
}

#[derive(Debug, Deserialize)]
#[serde(tag = "kind", content = "detail", rename_all = "snake_case")]
enum DerivedChatError {
    BadKey,
    Forbidden(String),
    NotFound(String),
    Unsupported(String),
    BadRequest { status: u16, message: String },
    RateLimited { waited_ms: u64 },
    Server { status: u16, message: String },
    Network(String),
    Timeout(String),
    Malformed(String),
    Cancelled,
    Other(String),
}
impl From<DerivedChatError> for ChatError {
    fn from(d: DerivedChatError) -> ChatError {
        use DerivedChatError as D;
        match d {
            D::BadKey => ChatError::BadKey,
            D::Forbidden(s) => ChatError::Forbidden(s),
            D::NotFound(s) => ChatError::NotFound(s),
            D::Unsupported(s) => ChatError::Unsupported(s),
            D::BadRequest { status, message } => ChatError::BadRequest { status, message },
            D::RateLimited { waited_ms } => ChatError::RateLimited { waited_ms },
            D::Server { status, message } => ChatError::Server { status, message },
            D::Network(s) => ChatError::Network(s),
            D::Timeout(s) => ChatError::Timeout(s),
            D::Malformed(s) => ChatError::Malformed(s),
            D::Cancelled => ChatError::Cancelled,
            D::Other(s) => ChatError::Other(s),
        }
    }
}

fn all_errors() -> Vec<ChatError> {
    vec![
        ChatError::BadKey,
        ChatError::Forbidden("f".into()),
        ChatError::NotFound("nf".into()),
        ChatError::Unsupported("u".into()),
        ChatError::BadRequest {
            status: 400,
            message: "bad".into(),
        },
        ChatError::RateLimited { waited_ms: 12_000 },
        ChatError::Server {
            status: 503,
            message: "down".into(),
        },
        ChatError::Network("net".into()),
        ChatError::Timeout("slow".into()),
        ChatError::Malformed("junk".into()),
        ChatError::Cancelled,
        ChatError::Other("\"quoted\" \u{e9}".into()),
    ]
}

#[test]
fn chat_errors_round_trip_in_any_key_order() {
    for error in all_errors() {
        let value = serde_json::to_value(&error).unwrap();
        let text = value.to_string();
        assert_eq!(
            same::<ChatError, DerivedChatError>(&text).as_ref(),
            Ok(&error),
            "{text}"
        );
        let mut e = entries(&value);
        e.reverse();
        e.insert(1, r#""note":{"ignored":[1,2]}"#.into());
        let reordered = format!("{{{}}}", e.join(","));
        assert_eq!(
            same::<ChatError, DerivedChatError>(&reordered).as_ref(),
            Ok(&error),
            "{reordered}"
        );
    }
}

#[test]
fn malformed_chat_errors_are_rejected_like_the_derive() {
    let cases = [
        (r#"{}"#, false),
        (r#"{"detail":"x"}"#, false),
        (r#"{"kind":"network"}"#, false),
        (r#"{"kind":"bad_request","detail":{"status":400}}"#, false),
        (
            r#"{"kind":"bad_request","detail":{"status":70000,"message":"m"}}"#,
            false,
        ),
        (
            r#"{"detail":{"status":"400","message":"m"},"kind":"server"}"#,
            false,
        ),
        (r#"{"kind":"nope","detail":"x"}"#, false),
        (r#"{"detail":"x","kind":"nope"}"#, false),
        (r#"{"kind":"network","kind":"network","detail":"x"}"#, false),
        (r#"{"kind":"network","detail":"x","detail":"y"}"#, false),
        (r#"{"detail":"x","detail":"y","kind":"network"}"#, false),
        (r#"{"detail":"x","kind":"network","kind":"timeout"}"#, false),
        (r#"{"kind":"network","detail":"x","kind":"network"}"#, false),
        (r#"{"kind":"network","detail":5}"#, false),
        (r#"{"kind":"cancelled","detail":"x"}"#, false),
        (r#"{"kind":"cancelled","detail":null}"#, true),
        (r#"{"kind":"cancelled"}"#, true),
        (r#"{"x":1,"kind":"bad_key","y":2}"#, true),
        (r#"["network","x"]"#, true),
        (r#"["network"]"#, false),
        (r#"[]"#, false),
        (r#""network""#, false),
        (r#"null"#, false),
    ];
    for (text, ok) in cases {
        assert_eq!(
            same::<ChatError, DerivedChatError>(text).is_ok(),
            ok,
            "{text}"
        );
    }
}
