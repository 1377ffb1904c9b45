//! VITAL loaders (vital.rs): the shipped files, the fifth schema's fixture, and errors that name
//! the record and field.

use ethos_engine::answer::{parse_reference, parse_strict};
use ethos_engine::metrics::score_value;
use ethos_engine::vital::{
    self, load, load_value, to_vital_json, Item, ItemId, LoadError, Mode, Source,
};

fn shipped(name: &str) -> String {
    let path = format!("{}/../../public/vital/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

const FIXTURE: &str = "vital_steerable_valuekaleidoscope_sample.json";

fn fixture() -> String {
    let path = format!("{}/tests/fixtures/{FIXTURE}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

#[test]
fn shipped_files_load_and_detection_agrees_with_the_file_name() {
    for (name, count, source) in [
        (
            "vital_overton_valuekaleidoscope.json",
            1649,
            Source::OvertonValueKaleidoscope,
        ),
        ("vital_steerable_opinionqa.json", 3388, Source::OpinionQa),
        (
            "vital_distributional_globalopinionqa.json",
            1676,
            Source::GlobalOpinionQa,
        ),
        (
            "vital_distributional_moralchoice.json",
            181,
            Source::MoralChoice,
        ),
    ] {
        let text = shipped(name);
        assert_eq!(
            Source::from_file_name(&format!("some/dir/{name}")),
            Some(source)
        );
        let hinted = load(&text, Some(source)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let detected = load(&text, None).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(hinted.len(), count, "{name}");
        assert_eq!(
            hinted, detected,
            "{name}: detection differs from the file-name hint"
        );
        assert!(hinted.iter().all(|i| i.source() == source));
        // Writing back and re-reading gives the same items.
        assert_eq!(
            load_value(&to_vital_json(&hinted), None).unwrap(),
            hinted,
            "{name}"
        );
    }
}

#[test]
fn shipped_file_facts_from_the_spec() {
    let oqa = load(&shipped("vital_steerable_opinionqa.json"), None).unwrap();
    let degenerate = oqa
        .iter()
        .filter(|i| i.options() == ["Not selected"] && i.gold_distribution() == Some(&[1.0][..]))
        .count();
    assert_eq!(degenerate, 132);
    let mc = load(&shipped("vital_distributional_moralchoice.json"), None).unwrap();
    assert!(mc.iter().all(|i| matches!(i.id(), ItemId::Str(_))));
    for i in &mc {
        let g = i.gold_distribution().unwrap();
        match i.attribute() {
            Some("low_ambiguity") => assert_eq!(g, [1.0, 0.0]),
            Some("high_ambiguity") => assert_eq!(g, [0.5, 0.5]),
            other => panic!("unexpected attribute {other:?}"),
        }
    }
    let ov = load(&shipped("vital_overton_valuekaleidoscope.json"), None).unwrap();
    for i in &ov {
        let Item::Overton(o) = i else {
            panic!("not overton")
        };
        assert_eq!(o.vrd.len(), o.explanation.len());
        assert!((1..=17).contains(&o.vrd.len()));
        assert_eq!(o.output, None);
    }
    let goqa = load(&shipped("vital_distributional_globalopinionqa.json"), None).unwrap();
    assert_eq!(
        goqa.iter()
            .filter(|i| i.options().iter().any(|o| o == "DK/Refused"))
            .count(),
        372
    );
}

#[test]
fn fifth_schema_fixture_loads_and_scores() {
    let items = load(&fixture(), None).expect("fixture loads");
    assert_eq!(items.len(), 10);
    assert_eq!(
        Source::from_file_name(FIXTURE),
        None,
        "fixture name must not pass for the real file"
    );
    let Item::Value(first) = &items[0] else {
        panic!("detected as {:?}", items[0].source())
    };
    assert_eq!(first.id, ItemId::Int(9000));
    assert_eq!(first.vrd, "Right to information");
    assert_eq!(first.label, "A");
    assert_eq!(first.label_text, "Supports");
    assert_eq!(first.output.as_deref(), Some("A"));
    assert!(items.iter().all(|i| i.mode() == Mode::SteerableValue));
    assert_eq!(items[0].options(), ["Supports", "Opposes", "Either"]);
    assert_eq!(items[0].attribute(), Some("Right to information"));
    assert_eq!(load_value(&to_vital_json(&items), None).unwrap(), items);

    let golds: Vec<char> = items
        .iter()
        .map(|i| match i {
            Item::Value(v) => v.label.chars().next().unwrap(),
            _ => unreachable!(),
        })
        .collect();
    let outputs: Vec<&str> = items
        .iter()
        .map(|i| match i {
            Item::Value(v) => v.output.as_deref().unwrap(),
            _ => unreachable!(),
        })
        .collect();
    let reference: Vec<Option<char>> = outputs.iter().map(|o| parse_reference(o)).collect();
    assert_eq!(
        reference,
        [
            Some('A'),
            Some('B'),
            Some('C'),
            Some('A'),
            Some('A'),
            Some('C'),
            Some('C'),
            Some('B'),
            None,
            Some('B')
        ]
    );
    let s = score_value(&golds, &reference);
    assert!((s.accuracy - 0.7).abs() < 1e-12);
    assert!((s.balanced_accuracy - 0.75).abs() < 1e-12);
    // "unparsed" is a class of its own (F1 = 0): the mean of A/B/C's 26/35 over four labels.
    assert!((s.macro_f1 - 39.0 / 70.0).abs() < 1e-12);
    assert!((s.binary_accuracy - 5.0 / 7.0).abs() < 1e-12);
    assert_eq!(s.binary_records, 7);
    assert!((s.binary_balanced_accuracy - 17.0 / 24.0).abs() < 1e-12);
    assert!((s.binary_macro_f1 - 32.0 / 63.0).abs() < 1e-12);
    assert_eq!(s.unparsed, 1);
    let strict: Vec<Option<char>> = outputs.iter().map(|o| parse_strict(o)).collect();
    assert!((score_value(&golds, &strict).accuracy - 0.2).abs() < 1e-12);
}

fn field_error(
    result: Result<Vec<Item>, LoadError>,
) -> (usize, Option<String>, &'static str, String) {
    match result {
        Err(LoadError::Field {
            index,
            id,
            field,
            problem,
        }) => (index, id, field, problem),
        other => panic!("expected a field error, got {other:?}"),
    }
}

#[test]
fn errors_name_the_record_and_field() {
    assert!(matches!(load("not json", None), Err(LoadError::Json(_))));
    assert_eq!(load("{}", None), Err(LoadError::NotArray));
    assert_eq!(load("[]", None), Err(LoadError::Empty));
    assert_eq!(load("[{\"foo\": 1}]", None), Err(LoadError::UnknownSchema));
    assert_eq!(load("[1]", None), Err(LoadError::UnknownSchema));

    let two = r#"[{"question":"Q","options":["x","y"],"attribute":"low_ambiguity","gold_distribution":[1,0],"pred_distribution":null,"id":"C_1"},
                 {"question":"Q","options":["x","y"],"attribute":"low_ambiguity","gold_distribution":[1,0],"pred_distribution":[0.5],"id":"C_2"}]"#;
    let (index, id, field, problem) = field_error(load(two, None));
    assert_eq!(
        (index, id.as_deref(), field),
        (1, Some("C_2"), "pred_distribution")
    );
    assert!(problem.contains("1 values for 2 options"), "{problem}");
    let msg = load(two, None).unwrap_err().to_string();
    assert!(
        msg.contains("record 1") && msg.contains("C_2") && msg.contains("pred_distribution"),
        "{msg}"
    );

    let value = r#"[{"situation":"S","vrd":"V","label_text":"Supports","label":"D","input":"I","output":null,"id":7}]"#;
    let (index, id, field, _) = field_error(load(value, None));
    assert_eq!((index, id.as_deref(), field), (0, Some("7"), "label"));

    let missing =
        r#"[{"situation":"S","vrd":"V","label_text":"Supports","label":"A","output":null,"id":7}]"#;
    let (_, _, field, problem) = field_error(load(missing, None));
    assert_eq!((field, problem.as_str()), ("input", "is missing"));

    let overton = r#"[{"situation":"S","vrd":["a","b"],"explanation":["only one"],"input":"I","output":null,"id":1}]"#;
    let (_, _, field, _) = field_error(load(overton, None));
    assert_eq!(field, "explanation");

    let negative = r#"[{"question":"Q","options":["x","y"],"attribute":"Kenya","gold_distribution":[-1,2],"id":3}]"#;
    assert_eq!(field_error(load(negative, None)).2, "gold_distribution");
    let zero = r#"[{"question":"Q","options":["x","y"],"attribute":"Kenya","gold_distribution":[0,0],"id":3}]"#;
    assert_eq!(field_error(load(zero, None)).2, "gold_distribution");
    let six = r#"[{"question":"Q","options":["1","2","3","4","5","6"],"attribute":"Kenya","gold_distribution":[1,1,1,1,1,1],"id":3}]"#;
    assert_eq!(field_error(load(six, None)).2, "options");
    let float_id = r#"[{"question":"Q","options":["x"],"attribute":"Kenya","gold_distribution":[1],"id":3.5}]"#;
    assert_eq!(field_error(load(float_id, None)).2, "id");
    let not_object = r#"[{"question":"Q","options":["x"],"attribute":"Kenya","gold_distribution":[1],"id":3}, 5]"#;
    assert_eq!(field_error(load(not_object, None)).0, 1);
}

#[test]
fn detection_rules() {
    let rec = |attr: &str| serde_json::json!({"question": "Q", "attribute": attr});
    assert_eq!(
        vital::detect(&rec("POLPARTY_Democrat")),
        Some(Source::OpinionQa)
    );
    assert_eq!(
        vital::detect(&rec("high_ambiguity")),
        Some(Source::MoralChoice)
    );
    assert_eq!(
        vital::detect(&rec("Great Britain")),
        Some(Source::GlobalOpinionQa)
    );
    assert_eq!(
        vital::detect(&serde_json::json!({"situation": "S", "vrd": ["a"]})),
        Some(Source::OvertonValueKaleidoscope)
    );
    assert_eq!(
        vital::detect(&serde_json::json!({"situation": "S", "vrd": "a"})),
        Some(Source::SteerableValueKaleidoscope)
    );
    assert_eq!(vital::detect(&serde_json::json!([1])), None);
    // Integer and float gold values both parse.
    let ints = r#"[{"question":"Q","options":["x","y"],"attribute":"Kenya","gold_distribution":[1,0],"id":3}]"#;
    assert_eq!(
        load(ints, None).unwrap()[0].gold_distribution(),
        Some(&[1.0, 0.0][..])
    );
}

#[test]
fn custom_items() {
    let opts = vec!["Yes".to_string(), " No ".to_string(), "  ".to_string()];
    let item = Item::custom("mine", "Should X?", &opts, Some(vec![3.0, 1.0])).unwrap();
    assert_eq!(item.options(), ["Yes", "No"]);
    let Item::Choice { item: c, source } = &item else {
        panic!()
    };
    assert_eq!(*source, Source::Custom);
    assert_eq!(
        c.question,
        "Question: Should X?\nOptions: A. Yes B. No\nAnswer:"
    );
    assert_eq!(item.title(), "Should X?");
    assert!(Item::custom("e", "  ", &opts, None).is_err());
    assert!(Item::custom("e", "Q", &[], None).is_err());
    assert!(Item::custom("e", "Q", &opts, Some(vec![1.0])).is_err());
}

#[test]
fn loader_rejects_overflowing_gold_and_empty_categories() {
    let overflow = r#"[{"question":"Q","options":["a","b"],"attribute":"Chile","gold_distribution":[1e308,1e308],"pred_distribution":null,"id":1}]"#;
    let err = ethos_engine::vital::load(overflow, None).unwrap_err().to_string();
    assert!(err.contains("record 0") && err.contains("gold_distribution"), "{err}");
    let rec: serde_json::Value = serde_json::from_str(r#"{"question":"Q","options":["a"],"attribute":"_x","gold_distribution":[1]}"#).unwrap();
    assert_eq!(ethos_engine::vital::detect(&rec), Some(ethos_engine::Source::GlobalOpinionQa));
    let err = ethos_engine::vital::load("[1]", None).unwrap_err().to_string();
    assert!(err.contains("not an object"), "{err}");
}

#[test]
fn every_opinionqa_category_has_the_reference_phrase() {
    let text = std::fs::read_to_string(format!(
        "{}/../../public/vital/vital_steerable_opinionqa.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("shipped OpinionQA file");
    let items = load(&text, Some(Source::OpinionQa)).expect("loads");
    let mut phrases = std::collections::BTreeSet::new();
    for item in &items {
        let attribute = item.attribute().expect("an attribute");
        let (code, _) = attribute.split_once('_').expect("CATEGORY_Group");
        let phrase = ethos_engine::template::category_phrase(code)
            .unwrap_or_else(|| panic!("no phrase for {attribute}"));
        phrases.insert(phrase);
    }
    // The reference's map: "Sex" is the one capitalised phrase.
    assert_eq!(
        phrases.into_iter().collect::<Vec<_>>(),
        [
            "Sex",
            "education",
            "income",
            "political ideology",
            "political party",
            "race",
            "region in the United States",
            "religion"
        ]
    );
    assert_eq!(
        ethos_engine::template::split_attribute("SEX_Female"),
        ("Sex".to_string(), "Female".to_string())
    );
}
