//! VITAL files (bundled, uploaded or fetched): the loaders on any text, detected or with each
//! source forced. Never a panic; a file that loads can be written back and loaded again.
#![no_main]
use ethos_engine::vital::{self, Source};
use ethos_fuzz::text;
use libfuzzer_sys::fuzz_target;

const SOURCES: [Option<Source>; 6] = [
    None,
    Some(Source::OvertonValueKaleidoscope),
    Some(Source::SteerableValueKaleidoscope),
    Some(Source::OpinionQa),
    Some(Source::GlobalOpinionQa),
    Some(Source::MoralChoice),
];

fuzz_target!(|data: &[u8]| {
    let t = text(data);
    let Ok(value) = serde_json::from_str::<serde_json::Value>(&t) else {
        let _ = vital::load(&t, None);
        return;
    };
    if let Some(records) = value.as_array() {
        for r in records.iter().take(8) {
            let _ = vital::detect(r);
        }
    }
    for source in SOURCES {
        if let Ok(items) = vital::load_value(&value, source) {
            for item in &items {
                let _ = (item.title(), item.options(), item.attribute(), item.mode());
                let _ = vital::question_stem(item.perspective_input());
            }
            if let Some(first) = items.first() {
                let back = vital::to_vital_json(&items);
                let again = vital::load_value(&back, Some(first.source()));
                assert!(again.is_ok(), "a loaded file does not load again: {again:?}");
            }
        }
    }
});
