//! Property tests: the parsers and the VITAL loaders never panic on arbitrary input, and their
//! results keep their invariants.
//!
//! Cases per property: the `PROPTEST_CASES` environment variable, default 20,000. There are
//! eight properties, so a default run (and CI, which sets PROPTEST_CASES=20000) checks 160,000
//! cases in all.

use ethos_engine::answer::{parse_reference, parse_selection, parse_strict};
use ethos_engine::distribution::{
    from_samples, from_top_logprobs, from_verbalised, from_votes, leading_letter,
};
use ethos_engine::metrics::{
    js_distance, parse_judge_probability, parse_judge_scores, split_sentences,
};
use ethos_engine::persona::{parse_perspectives, reference_lines, split_fields};
use ethos_engine::vital::{load, load_value, to_vital_json, Source};
use ethos_engine::TokenLogprob;
use proptest::prelude::*;
use serde_json::{Map, Number, Value};

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(20_000)
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

const PIECES: &[&str] = &[
    "#",
    "## ",
    "1. ",
    "2) ",
    "(3) ",
    "- ",
    "* ",
    "• ",
    "**",
    ": ",
    ", ",
    "; ",
    " — ",
    "\n",
    "\n",
    "```json\n",
    "{",
    "}",
    "[",
    "]",
    "\"",
    "\"name\": ",
    "\"A\": ",
    "Core value: ",
    "Emotion:",
    "Perspective 2:",
    "| ",
    "|---",
    "Name: ",
    " – ",
    "A",
    "B",
    "(C)",
    "D",
    " E ",
    "the answer is ",
    "Answer: ",
    "support",
    "oppose",
    "it depends",
    "%",
    "0.5",
    "12",
    "3",
    "é",
    "🙂",
    " ",
    "Nurse",
    "as a",
];

/// Arbitrary text: any chars (cheap to generate, unlike a regex strategy in a debug build).
fn any_text() -> impl Strategy<Value = String> {
    prop::collection::vec(any::<char>(), 0..64).prop_map(|v| v.into_iter().collect())
}

/// Text built from pieces that matter to the parsers, plus arbitrary characters.
fn texty() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => prop::sample::select(PIECES).prop_map(str::to_string),
        1 => any::<char>().prop_map(String::from),
        1 => prop::sample::select(&['a', 'Z', '0', '9', ' ', '.', '\'', '(', ')'][..]).prop_map(String::from),
    ];
    prop_oneof![
        3 => prop::collection::vec(piece, 0..32).prop_map(|v| v.concat()),
        1 => any_text(),
    ]
}

fn short_string() -> impl Strategy<Value = Value> {
    prop::collection::vec(
        prop::sample::select(&['a', 'B', ' ', '_', '1', 'é', '"', '\\'][..]),
        0..8,
    )
    .prop_map(|v| Value::String(v.into_iter().collect()))
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-1e3f64..1e3).prop_map(|f| Number::from_f64(f)
            .map(Value::Number)
            .unwrap_or(Value::Null)),
        any::<f64>().prop_map(|f| Number::from_f64(f)
            .map(Value::Number)
            .unwrap_or(Value::Null)),
        prop_oneof![Just(0.0), Just(1.0), Just(0.5), Just(-0.0)].prop_map(Value::from),
        short_string(),
        prop_oneof![
            Just("A"),
            Just("B"),
            Just("C"),
            Just(" C "),
            Just("D"),
            Just("low_ambiguity"),
            Just("POLPARTY_Democrat"),
            Just("Kenya")
        ]
        .prop_map(|s| Value::String(s.to_string())),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop::sample::select(&["a", "b", "vrd", "options", "A", ""][..])
                        .prop_map(str::to_string),
                    inner
                ),
                0..5
            )
            .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

fn id_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        (0i64..100).prop_map(Value::from),
        short_string()
    ]
}

fn strings(range: std::ops::Range<usize>) -> impl Strategy<Value = Vec<Value>> {
    prop::collection::vec(short_string(), range)
}

fn prob() -> impl Strategy<Value = Value> {
    prop_oneof![
        (0i64..3).prop_map(Value::from),
        (0.0f64..1.0).prop_map(Value::from),
        Just(Value::from(0.5))
    ]
}

/// A multiple-choice record (OpinionQA / GlobalOpinionQA / MoralChoice shape).
fn choice_record() -> impl Strategy<Value = Value> {
    (
        1usize..=5,
        short_string(),
        id_value(),
        prop::sample::select(
            &[
                "low_ambiguity",
                "high_ambiguity",
                "POLPARTY_Democrat",
                "Kenya",
                "_x",
                "",
            ][..],
        ),
    )
        .prop_flat_map(|(n, question, id, attribute)| {
            (
                Just((question, id, attribute)),
                strings(n..n + 1),
                prop::collection::vec(prob(), n..n + 1),
                prop::option::of(prop::collection::vec(prob(), n..n + 1)),
            )
        })
        .prop_map(|((question, id, attribute), options, gold, pred)| {
            serde_json::json!({
                "question": question, "options": options, "attribute": attribute,
                "gold_distribution": gold, "pred_distribution": pred, "id": id,
            })
        })
}

/// A steerable-value record (the fifth file's shape).
fn value_record() -> impl Strategy<Value = Value> {
    (
        short_string(),
        short_string(),
        short_string(),
        prop::sample::select(&["A", "B", "C", " C ", "D", ""][..]),
        short_string(),
        prop::option::of(short_string()),
        id_value(),
    )
        .prop_map(|(situation, vrd, label_text, label, input, output, id)| {
            serde_json::json!({
                "situation": situation, "vrd": vrd, "label_text": label_text, "label": label,
                "input": input, "output": output, "id": id,
            })
        })
}

/// An Overton record (vrd and explanation usually of equal length).
fn overton_record() -> impl Strategy<Value = Value> {
    (
        0usize..5,
        prop::bool::weighted(0.9),
        short_string(),
        short_string(),
        prop::option::of(short_string()),
        id_value(),
    )
        .prop_flat_map(|(m, equal, situation, input, output, id)| {
            let e = if equal { m } else { m + 1 };
            (
                Just((situation, input, output, id)),
                strings(m..m + 1),
                strings(e..e + 1),
            )
        })
        .prop_map(|((situation, input, output, id), vrd, explanation)| {
            serde_json::json!({
                "situation": situation, "vrd": vrd, "explanation": explanation,
                "input": input, "output": output, "id": id,
            })
        })
}

/// A record of one of the schemas, sometimes damaged: a field removed, or replaced by an
/// arbitrary value, or a foreign field added.
fn record() -> impl Strategy<Value = Value> {
    let base = prop_oneof![choice_record(), value_record(), overton_record()];
    let damage = prop::option::weighted(
        0.3,
        (
            prop::sample::select(
                &[
                    "question",
                    "options",
                    "gold_distribution",
                    "pred_distribution",
                    "attribute",
                    "situation",
                    "vrd",
                    "explanation",
                    "label",
                    "output",
                    "id",
                    "input",
                ][..],
            ),
            prop::option::of(json_value()),
        ),
    );
    (base, damage).prop_map(|(mut rec, damage)| {
        if let (Some((field, replacement)), Some(obj)) = (damage, rec.as_object_mut()) {
            match replacement {
                Some(v) => {
                    obj.insert(field.to_string(), v);
                }
                None => {
                    obj.remove(field);
                }
            }
        }
        rec
    })
}

fn records() -> impl Strategy<Value = Value> {
    prop_oneof![
        8 => prop::collection::vec(record(), 0..4).prop_map(Value::Array),
        1 => json_value(),
    ]
}

fn source() -> impl Strategy<Value = Option<Source>> {
    prop_oneof![
        4 => Just(None),
        1 => prop_oneof![
            Just(Source::OvertonValueKaleidoscope),
            Just(Source::SteerableValueKaleidoscope),
            Just(Source::OpinionQa),
            Just(Source::GlobalOpinionQa),
            Just(Source::MoralChoice),
            Just(Source::Custom),
        ]
        .prop_map(Some),
    ]
}

fn naive_selection(reply: &str, k: usize) -> Option<usize> {
    (1..=k)
        .find(|i| reply.contains(&i.to_string()))
        .map(|i| i - 1)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn persona_parser_never_panics(text in texty()) {
        let found = parse_perspectives(&text);
        for p in &found {
            prop_assert!(!p.name.is_empty() || p.has_dims() || !p.raw.is_empty());
        }
        let refs = reference_lines(&text);
        prop_assert_eq!(refs.len(), text.lines().filter(|l| l.starts_with('#')).count());
        for line in text.lines() {
            let _ = split_fields(line);
        }
    }

    #[test]
    fn answer_parsers_never_panic(text in texty()) {
        let r = parse_reference(&text);
        prop_assert!(matches!(r, None | Some('A' | 'B' | 'C')));
        let s = parse_strict(&text);
        prop_assert!(matches!(s, None | Some('A' | 'B' | 'C')));
        // Whatever the strict parser reads in the first space-separated token, the reference
        // reads too (its rule 1 sees that letter, or an earlier one, in the same token; D/E cannot
        // come first since the strict letter is A–C).
        if let Some(c) = s {
            let first = text.trim().split(' ').next().unwrap_or("");
            if first.contains(c) {
                prop_assert!(r.is_some(), "strict {c} but reference None for {text:?}");
            }
        }
        let _ = split_sentences(&text);
    }

    #[test]
    fn selection_parser_matches_the_definition(text in texty(), k in 0usize..40, big in any::<usize>()) {
        prop_assert_eq!(parse_selection(&text, k), naive_selection(&text, k));
        // The judge-reply readers share the number scanning: never panic, stay in [0, 1].
        if let Some(p) = parse_judge_probability(&text) {
            prop_assert!((0.0..=1.0).contains(&p));
        }
        if let Ok(v) = parse_judge_scores(&text, k) {
            prop_assert_eq!(v.len(), k);
            prop_assert!(v.iter().all(|p| (0.0..=1.0).contains(p)));
        }
        if let Some(i) = parse_selection(&text, big) {
            prop_assert!(i < big);
            prop_assert!(text.contains(&(i + 1).to_string()));
        }
    }

    #[test]
    fn verbalised_parser_never_panics(
        text in texty(),
        entries in prop::collection::vec((prop_oneof![Just("A"), Just("B"), Just("C"), Just("Option D"), Just("x")], leaf()), 0..6),
        n in 0usize..7,
    ) {
        let obj: Map<String, Value> = entries.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        let json = format!("{text}{}", Value::Object(obj));
        for t in [&text, &json] {
            if let Ok(d) = from_verbalised(t, n) {
                prop_assert_eq!(d.probs.len(), n.max(1));
                prop_assert!(d.probs.iter().all(|p| p.is_finite() && *p >= 0.0));
                prop_assert!((d.probs.iter().sum::<f64>() - 1.0).abs() < 1e-9);
            }
        }
    }

    #[test]
    fn letter_readers_give_distributions(
        tokens in prop::collection::vec((prop_oneof![prop::sample::select(&["A", " B", "C\n", "D ", " E", "a", "Answer", ""][..]).prop_map(str::to_string), prop::collection::vec(any::<char>(), 0..6).prop_map(|v| v.into_iter().collect::<String>())], prop_oneof![any::<f64>(), -20.0f64..0.0]), 0..10),
        texts in prop::collection::vec(texty(), 0..3),
        n in 0usize..8,
    ) {
        let top: Vec<TokenLogprob> = tokens.into_iter().map(|(token, logprob)| TokenLogprob { token, logprob }).collect();
        let letters: Vec<Option<char>> = texts.iter().map(|t| leading_letter(t, n)).collect();
        for d in [from_top_logprobs(&top, n), from_votes(&letters, n), from_samples(&texts, n)] {
            prop_assert_eq!(d.probs.len(), n.max(1));
            prop_assert!(d.probs.iter().all(|p| p.is_finite() && *p >= 0.0));
            prop_assert!((d.probs.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        }
    }

    #[test]
    fn js_distance_is_bounded(p in prop::collection::vec(0.0f64..10.0, 1..6), q in prop::collection::vec(0.0f64..10.0, 1..6)) {
        let d = js_distance(&p, &q);
        let usable = p.len() == q.len() && p.iter().sum::<f64>() > 0.0 && q.iter().sum::<f64>() > 0.0;
        if usable {
            prop_assert!((0.0..=0.832_554_611_157_698).contains(&d), "{d}");
            prop_assert!((d - js_distance(&q, &p)).abs() < 1e-12);
        } else {
            prop_assert!(d.is_nan());
        }
    }

    #[test]
    fn vital_load_never_panics_on_strings(text in prop_oneof![any_text(), texty()], src in source()) {
        let _ = load(&text, src);
    }

    #[test]
    fn vital_load_never_panics_on_record_shaped_json(value in records(), src in source()) {
        let text = value.to_string();
        let from_text = load(&text, src);
        let from_value = load_value(&value, src);
        prop_assert_eq!(from_text.is_ok(), from_value.is_ok());
        if let Ok(items) = from_value {
            prop_assert_eq!(items.len(), value.as_array().map_or(0, Vec::len));
            // Written back in the VITAL shape, the items read back the same.
            let back = to_vital_json(&items);
            let hint = src.or_else(|| items.first().map(|i| i.source()));
            let again = load_value(&back, hint);
            prop_assert_eq!(again, Ok(items));
        }
    }
}
