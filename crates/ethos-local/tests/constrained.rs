//! JSON-schema-constrained decoding on the real SmolLM2-135M GGUF: asked for the engine's
//! structured perspectives (k = 3), the tiny model writes a document the engine reads as three
//! perspectives, at a temperature where unconstrained it rarely does. Needs the GGUF
//! (`scripts/llama-server.sh model`); skipped without it unless ETHOS_REQUIRE_LOCAL_MODEL=1.
use ethos_engine::chat::{ChatRequest, Message};
use ethos_local::runtime::{LoadOptions, LocalModel};
mod common;
use common::{gguf_path, skip};

#[test]
fn structured_perspectives_come_back_complete() {
    let Some(gguf) = gguf_path() else {
        skip("no SmolLM2 GGUF (scripts/llama-server.sh model)");
        return;
    };
    let mut model = LocalModel::from_path(&gguf, LoadOptions::fast()).expect("load the GGUF");
    let k = 3;
    for seed in [1u64] {
        let mut req = ChatRequest::new(
            "smollm2",
            vec![Message::user(
                "Read the text below and invent 3 clearly contrasting ethical perspectives from which a person could judge it. \
                 Give each a name, a core value, an ethical framework, a right or duty, an emotion and a stakeholder, as JSON.\n\n\
                 Text: A hospital wants to share patients' records with a research company.",
            )],
            1.0,
            400,
        );
        req.seed = Some(seed);
        req.json_schema = Some(ethos_engine::pipeline::perspectives_schema(k));
        let resp = model.run(&req, &mut |_| true).expect("generate");
        let v: serde_json::Value = serde_json::from_str(resp.text.trim())
            .unwrap_or_else(|e| panic!("seed {seed}: not JSON ({e}): {}", resp.text));
        let list = v["perspectives"]
            .as_array()
            .unwrap_or_else(|| panic!("seed {seed}: {v}"));
        assert_eq!(list.len(), k, "seed {seed}: {v}");
        for p in list {
            for field in [
                "name",
                "core_value",
                "ethical_framework",
                "right_duty",
                "emotion",
                "stakeholder",
            ] {
                assert!(p[field].is_string(), "seed {seed}: {field} in {p}");
            }
        }
        let parsed = ethos_engine::persona::parse_perspectives(&resp.text);
        assert_eq!(
            parsed.len(),
            k,
            "seed {seed}: the engine reads {} perspectives",
            parsed.len()
        );
        eprintln!(
            "seed {seed}: {} tokens, finish {:?}",
            resp.usage
                .as_ref()
                .map(|u| u.completion_tokens)
                .unwrap_or(0),
            resp.finish_reason
        );
    }
}
