//! Fields and labels: which of the five dimensions a labelled piece names, and how an
//! unlabelled line is split into a name and its dimensions.

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Field {
    Name,
    CoreValue,
    Framework,
    RightDuty,
    Emotion,
    Stakeholder,
}

pub(super) const DIM_ORDER: [Field; 5] = [
    Field::CoreValue,
    Field::Framework,
    Field::RightDuty,
    Field::Emotion,
    Field::Stakeholder,
];

pub(super) fn norm_label(label: &str) -> String {
    label
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Exact label names (after [`norm_label`]) for each field.
pub(super) fn label_field(label: &str) -> Option<Field> {
    let l = norm_label(label);
    let f = match l.as_str() {
        "name" | "perspective" | "perspectivename" | "persona" | "personaname" | "title"
        | "agent" | "role" | "rolename" | "character" => Field::Name,
        "corevalue" | "corevalues" | "value" | "values" | "keyvalue" | "primaryvalue" => {
            Field::CoreValue
        }
        "ethicalframework" | "ethicalframeworks" | "framework" | "ethics" | "ethicaltheory"
        | "moralframework" | "theory" => Field::Framework,
        "rightduty"
        | "rightsduties"
        | "rightorduty"
        | "rightsorduties"
        | "rightandduty"
        | "rightsandduties"
        | "keyrightorduty"
        | "keyrightduty"
        | "keyright"
        | "keyduty"
        | "right"
        | "rights"
        | "duty"
        | "duties"
        | "rightdutyemphasised"
        | "rightdutyemphasized"
        | "keyrightordutyemphasised"
        | "keyrightordutyemphasized" => Field::RightDuty,
        "emotion" | "emotions" | "emotionaltone" | "emotionalstance" | "feeling" | "feelings"
        | "tone" => Field::Emotion,
        "stakeholder" | "stakeholders" | "stakeholderrole" | "stakeholderroles" => {
            Field::Stakeholder
        }
        _ => return None,
    };
    Some(f)
}

/// JSON keys: exact labels, then looser containment.
pub(super) fn json_key_field(key: &str) -> Option<Field> {
    if let Some(f) = label_field(key) {
        return Some(f);
    }
    let l = norm_label(key);
    if l.contains("framework") || l.contains("ethic") {
        Some(Field::Framework)
    } else if l.contains("emotion") || l.contains("feeling") {
        Some(Field::Emotion)
    } else if l.contains("stakeholder") {
        Some(Field::Stakeholder)
    } else if l.contains("right") || l.contains("dut") || l.contains("obligation") {
        Some(Field::RightDuty)
    } else if l.contains("value") {
        Some(Field::CoreValue)
    } else if l.contains("name")
        || l.contains("perspective")
        || l.contains("persona")
        || l.contains("role")
    {
        Some(Field::Name)
    } else {
        None
    }
}

/// `Label: value` where Label is a known field label.
pub(super) fn labelled(piece: &str) -> Option<(Field, &str)> {
    let (label, value) = piece.split_once(':')?;
    if label.chars().count() > 40 {
        return None;
    }
    Some((label_field(label)?, value))
}

pub(super) fn strip_bold(s: &str) -> String {
    s.replace("**", "").replace("__", "")
}

pub(super) fn clean_value(s: &str) -> String {
    let t = s
        .trim()
        .trim_matches(|c: char| matches!(c, '"' | '\'' | '`' | '“' | '”' | '*' | '_'))
        .trim();
    let t = t.strip_suffix('.').unwrap_or(t).trim();
    t.to_string()
}

/// Drop a "Perspective 3:" / "Agent 2 -" style prefix.
pub(super) fn strip_numbered_label(s: &str) -> String {
    let t = s.trim_start();
    for word in ["perspective", "persona", "agent", "role"] {
        let Some(head) = t.get(..word.len()) else {
            continue;
        };
        if !head.eq_ignore_ascii_case(word) {
            continue;
        }
        let after = t[word.len()..].trim_start();
        let digits = after.chars().take_while(char::is_ascii_digit).count();
        if digits == 0 {
            continue;
        }
        if let Some(rest) = after[digits..]
            .trim_start()
            .strip_prefix([':', '.', ')', '-', '–', '—'])
        {
            return rest.trim().to_string();
        }
    }
    t.to_string()
}

pub(super) fn split_name(body: &str) -> (&str, &str) {
    if let Some((name, rest)) = body.split_once(':') {
        // "The Patient – Core Value: Autonomy; …": the dash ends the name when a field label
        // sits between it and the colon.
        for sep in [" — ", " – ", " - "] {
            if let Some((before, label)) = name.split_once(sep) {
                if label_field(label).is_some_and(|f| f != Field::Name) {
                    let rest_start = before.len() + sep.len();
                    return (before, body.get(rest_start..).unwrap_or(rest));
                }
            }
        }
        // "Name: Nurse, Care, …": the name is the first piece.
        if label_field(name) == Some(Field::Name) {
            let sep = pick_separator(rest);
            return rest.split_once(sep).unwrap_or((rest, ""));
        }
        return (name, rest);
    }
    for sep in [" — ", " – ", " - "] {
        if let Some((name, rest)) = body.split_once(sep) {
            return (name, rest);
        }
    }
    let sep = pick_separator(body);
    if body.matches(sep).count() >= 5 {
        if let Some((name, rest)) = body.split_once(sep) {
            return (name, rest);
        }
    }
    (body, "")
}

/// "1. The Nurse" / "3) Nurse" / "2 Nurse" as a name: drop the number.
pub(super) fn strip_leading_number(name: &str) -> &str {
    let t = name.trim_start();
    let digits = t.chars().take_while(char::is_ascii_digit).count();
    if digits == 0 || digits > 2 {
        return t;
    }
    let after = &t[digits..];
    let after = after.strip_prefix(['.', ')']).unwrap_or(after);
    if after.starts_with(char::is_whitespace) && after.trim_start().starts_with(char::is_alphabetic)
    {
        after.trim_start()
    } else {
        t
    }
}

pub(super) fn pick_separator(s: &str) -> char {
    let mut best = (',', s.matches(',').count());
    for c in [';', '|'] {
        let n = s.matches(c).count();
        if n > best.1 {
            best = (c, n);
        }
    }
    best.0
}

pub(super) fn assign_dims(p: &mut Perspective, rest: &str) {
    let rest = rest.trim();
    if rest.is_empty() {
        return;
    }
    let sep = pick_separator(rest);
    let mut pieces: Vec<&str> = rest.split(sep).map(str::trim).collect();
    while pieces.last().is_some_and(|s| s.is_empty()) {
        pieces.pop();
    }
    let mut slot = 0usize;
    for piece in pieces {
        if let Some((field, value)) = labelled(piece).filter(|(f, _)| *f != Field::Name) {
            let v = clean_value(value);
            let target = p.field_mut(field);
            if target.is_empty() {
                *target = v;
            } else if !v.is_empty() {
                target.push_str(&format!("{sep} {v}"));
            }
            continue;
        }
        let v = clean_value(piece);
        // Next positional field that is still empty (labelled pieces may have filled some).
        while slot < DIM_ORDER.len() && !p.field_mut(DIM_ORDER[slot]).is_empty() {
            slot += 1;
        }
        match DIM_ORDER.get(slot) {
            Some(f) => {
                *p.field_mut(*f) = v;
                slot += 1;
            }
            None => {
                if !v.is_empty() {
                    let last = &mut p.stakeholder;
                    if last.is_empty() {
                        *last = v;
                    } else {
                        last.push_str(&format!("{sep} {v}"));
                    }
                }
            }
        }
    }
}
