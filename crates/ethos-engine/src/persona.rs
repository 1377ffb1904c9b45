//! Stage-1 perspectives: parsing model output into name + five dimensions.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

mod fields;
mod json;
mod lines;

use fields::*;
use json::*;
use lines::*;

/// One perspective. `raw` is what stage 2 receives (the reference passes the raw `#` line).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Perspective {
    pub raw: String,
    pub name: String,
    pub core_value: String,
    pub framework: String,
    pub right_duty: String,
    pub emotion: String,
    pub stakeholder: String,
}

impl Perspective {
    /// The reference line form `#Name: Core Value, Ethical Framework, Right/Duty, Emotion, Stakeholder`,
    /// used when a user edits or adds a perspective.
    pub fn to_line(&self) -> String {
        format!(
            "#{}: {}, {}, {}, {}, {}",
            self.name,
            self.core_value,
            self.framework,
            self.right_duty,
            self.emotion,
            self.stakeholder
        )
    }

    /// The five dimensions in order: core value, framework, right/duty, emotion, stakeholder.
    pub fn dims(&self) -> [&str; 5] {
        [
            &self.core_value,
            &self.framework,
            &self.right_duty,
            &self.emotion,
            &self.stakeholder,
        ]
    }

    /// True when at least one of the five dimensions is filled.
    pub fn has_dims(&self) -> bool {
        self.dims().iter().any(|d| !d.is_empty())
    }

    /// True when all five dimensions hold a value: not empty, not a placeholder ("N/A", "…")
    /// and not a field's own name (a small model's "Core value: Ethical Framework").
    pub fn dims_filled(&self) -> bool {
        self.dims().iter().all(|d| is_value(d))
    }

    /// `Name: dim, dim, …` with the empty dimensions left out (the `raw` of perspectives that
    /// were assembled from JSON or from several lines).
    pub fn compose_raw(&self) -> String {
        let dims: Vec<&str> = self.dims().into_iter().filter(|d| !d.is_empty()).collect();
        match (self.name.is_empty(), dims.is_empty()) {
            (_, true) => self.name.clone(),
            (true, false) => dims.join(", "),
            (false, false) => format!("{}: {}", self.name, dims.join(", ")),
        }
    }

    fn field_mut(&mut self, f: Field) -> &mut String {
        match f {
            Field::Name => &mut self.name,
            Field::CoreValue => &mut self.core_value,
            Field::Framework => &mut self.framework,
            Field::RightDuty => &mut self.right_duty,
            Field::Emotion => &mut self.emotion,
            Field::Stakeholder => &mut self.stakeholder,
        }
    }
}

/// Reference parsing: keep lines whose first character is `#`, text after the `#` trimmed.
pub fn reference_lines(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix('#'))
        .map(|l| l.trim().to_string())
        .collect()
}

/// Tolerant parsing (`#` lines, numbered lists, bullets, Markdown headings, JSON, missing fields).
/// Never panics; returns what it could read.
///
/// - Marked lines (`#`, `## heading`, `1.`/`1)`/`(1)`, bullets `-`/`*`/`•`/`+`, `**Name**: …`)
///   with a name and dimensions become one perspective each, `raw` being the line after its
///   marker, trimmed (for a single `#` exactly what [`reference_lines`] gives).
/// - A marked line with only a name (e.g. `### 1. The Patient Advocate`) opens a block; the
///   following `Core value: …`, `Emotion: …` lines fill its fields. A name-only heading or bold
///   line without field lines (e.g. `## Perspectives`) is dropped; a name-only `#`, numbered or
///   bulleted line is kept with empty fields, unless it looks like a title (ends with `:` or
///   mentions "perspective").
/// - A Markdown table whose header names the fields (`| Name | Core value | … |`).
/// - JSON (an array of objects or strings, `{"perspectives": […]}`, or an object mapping names
///   to objects), also inside code fences, with keys like name, core_value, ethical_framework,
///   right_duty, emotion, stakeholder (missing ones become empty strings).
/// - If none of this finds anything, unmarked `Name: dim, dim, …` lines with at least two
///   dimensions are used.
pub fn parse_perspectives(text: &str) -> Vec<Perspective> {
    let looks_json = {
        let t = text.trim_start();
        t.starts_with('[') || t.starts_with('{') || text.contains("```")
    };
    if looks_json {
        let found = parse_json_text(text);
        if !found.is_empty() {
            return found;
        }
    }
    let found = parse_table(text);
    if !found.is_empty() {
        return found;
    }
    let found = parse_marked_lines(text);
    if !found.is_empty() {
        return found;
    }
    if !looks_json {
        let found = parse_json_text(text);
        if !found.is_empty() {
            return found;
        }
    }
    parse_unmarked_lines(text)
}

/// The perspectives a run takes from a stage-1 reply. Reference parsing: exactly the reference's lines (those
/// whose first character is `#`, text after it trimmed), each split into fields for display
/// only. Otherwise the tolerant parser, or the reference `#` lines when they give more.
pub fn from_stage1_reply(text: &str, reference: bool) -> Vec<Perspective> {
    if reference {
        return reference_lines(text)
            .iter()
            .map(|l| split_fields(l))
            .collect();
    }
    let tolerant = parse_perspectives(text);
    let reference = reference_lines(text);
    if reference.len() > tolerant.len() {
        reference
            .iter()
            .filter(|l| !l.is_empty())
            .map(|l| split_fields(l))
            .collect()
    } else {
        tolerant
    }
}

/// Split one perspective line (without its marker) into name + five dimensions: the name is the
/// text before the first `:` (else before a spaced dash ` - `/` – `/` — `; else, with six or more
/// comma-separated pieces, the first piece; else the whole line). The rest is split on `,` (or on
/// `;` or `|` when those are more frequent). Pieces labelled like `Emotion: fear` go to their
/// field; the others fill core value, framework, right/duty, emotion, stakeholder in order, and
/// extra pieces are joined into the last field (stakeholder). `raw` is the trimmed line.
pub fn split_fields(line: &str) -> Perspective {
    let line = line.trim();
    let body = strip_numbered_label(&strip_bold(line));
    let (name, rest) = split_name(&body);
    let mut p = Perspective {
        raw: line.to_string(),
        name: clean_value(strip_leading_number(name)),
        ..Default::default()
    };
    assign_dims(&mut p, rest);
    p
}

/// Whether a dimension's text is a value: not empty, not a placeholder, not a field name.
pub fn is_value(text: &str) -> bool {
    let norm = fields::norm_label(text);
    !norm.is_empty()
        && fields::label_field(text).is_none()
        && !matches!(
            norm.as_str(),
            "na" | "none" | "unknown" | "tbd" | "null" | "nil" | "notapplicable"
        )
}
