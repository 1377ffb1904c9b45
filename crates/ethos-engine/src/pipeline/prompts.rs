//! Small pieces every stage's prompt is built from: option letter lists, the verbalised
//! example, the GlobalOpinionQA country line, and the system message rule.

use super::*;

/// Letters of `n` options, "A, B, C".
pub(super) fn letters_list(n: usize) -> String {
    LETTERS
        .iter()
        .take(n)
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn verbalised_example(n: usize) -> String {
    let n = n.clamp(1, LETTERS.len());
    let base = 100 / n;
    let mut parts = Vec::new();
    for (i, l) in LETTERS.iter().take(n).enumerate() {
        let v = if i == 0 { 100 - base * (n - 1) } else { base };
        parts.push(format!("\"{l}\": {v}"));
    }
    format!("{{{}}}", parts.join(", "))
}

/// The GlobalOpinionQA country line (empty for every other source, MoralChoice included).
pub(super) fn country_line(settings: &RunSettings, item: &Item) -> Result<String, TemplateError> {
    match item {
        Item::Choice {
            source: Source::GlobalOpinionQa,
            item,
        } => render(
            &settings.templates.country_line,
            &[("country", item.attribute.as_str())],
        ),
        _ => Ok(String::new()),
    }
}

/// A system template and a user prompt as messages: a system message, or (with system messages
/// off) the system text in front of the prompt; just the prompt when the template is empty.
pub(super) fn with_system(settings: &RunSettings, system: &str, prompt: String) -> Vec<Message> {
    let system = system.trim();
    if system.is_empty() {
        vec![Message::user(prompt)]
    } else if settings.system_role {
        vec![Message::system(system), Message::user(prompt)]
    } else {
        vec![Message::user(format!("{system}\n\n{prompt}"))]
    }
}
