//! The reference's structure and decisions (spec/method.md, evaluation.md), against the scripted
//! model: stage-1 system message, selection prompts, per-item seeds, the per-sentence judge,
//! reference stage-1 parsing, fallbacks that keep what is measured, the Reference preset.

#[path = "scripted.rs"]
mod scripted;

use ethos_engine::record::{RunRecord, Stage};
use ethos_engine::settings::Method;
use ethos_engine::Role;
use scripted::{opinion, run_with, settings, value_item, ScriptedModel};

/// Run EthosAgents on `item` with the default scripted model; the run must succeed.
fn run(item: ethos_engine::Item, s: ethos_engine::settings::RunSettings) -> RunRecord {
    let (out, rec) = run_with(item, s, Method::EthosAgents, &ScriptedModel::default());
    out.unwrap();
    rec
}

/// The messages of the first call of `stage`.
fn messages(rec: &RunRecord, stage: Stage) -> &[ethos_engine::Message] {
    &call(rec, stage).request.messages
}

fn call<'a>(rec: &'a RunRecord, stage: Stage) -> &'a ethos_engine::record::CallRecord {
    rec.calls
        .iter()
        .find(|c| c.stage == stage)
        .unwrap_or_else(|| panic!("no {stage:?} call"))
}

#[test]
fn stage_one_has_an_editable_system_message() {
    let rec = run(value_item(), settings(6, 6));
    let m = messages(&rec, Stage::Perspectives);
    assert_eq!(m.len(), 2);
    assert_eq!(m[0].role, Role::System);
    assert_eq!(m[0].content, rec.settings.templates.perspectives_system);
    assert!(m[0].content.contains("format exactly"));
    assert_eq!(m[1].role, Role::User);

    // Edited, and merged into the user message when system messages are off.
    let mut s = settings(6, 6);
    s.templates.set("perspectives_system", "Be brief.").unwrap();
    s.system_role = false;
    let m = messages(&run(value_item(), s), Stage::Perspectives).to_vec();
    assert_eq!(m.len(), 1);
    assert!(m[0].content.starts_with("Be brief.\n\n"));

    // An empty system template sends the prompt alone.
    let mut s = settings(6, 6);
    s.templates.set("perspectives_system", "").unwrap();
    let m = messages(&run(value_item(), s), Stage::Perspectives).to_vec();
    assert_eq!((m.len(), m[0].role), (1, Role::User));
}

#[test]
fn selection_prompts_show_only_their_question_and_the_comments() {
    let rec = run(value_item(), settings(6, 6));
    let select = &messages(&rec, Stage::Select)[0].content;
    assert!(select.contains("\"Right to life\""), "{select}");
    assert!(
        select.contains("Comment 1: ") && select.contains("Comment 6: "),
        "{select}"
    );
    assert!(
        !select.contains("blood transfusion"),
        "the situation is shown: {select}"
    );
    assert!(
        !select.contains("Options:"),
        "the item's input is shown: {select}"
    );

    let rec = run(opinion(), settings(6, 6));
    let select = &messages(&rec, Stage::Select)[0].content;
    assert!(
        select.starts_with("In terms of political party"),
        "{select}"
    );
    assert!(select.contains("people who are Democrat"), "{select}");
    assert!(select.contains("Comment 6: "), "{select}");
    assert!(
        !select.contains("Should clinics share"),
        "the item's question is shown: {select}"
    );
    // The answer prompt still carries the question.
    let answer = &messages(&rec, Stage::Answer)[0].content;
    assert!(answer.contains("Should clinics share"), "{answer}");
}
