//! Stage-1 perspectives: parsing model output into name + five dimensions.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

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

// ---------------------------------------------------------------------------------------------
// Fields and labels
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Name,
    CoreValue,
    Framework,
    RightDuty,
    Emotion,
    Stakeholder,
}

const DIM_ORDER: [Field; 5] = [
    Field::CoreValue,
    Field::Framework,
    Field::RightDuty,
    Field::Emotion,
    Field::Stakeholder,
];

fn norm_label(label: &str) -> String {
    label
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Exact label names (after [`norm_label`]) for each field.
fn label_field(label: &str) -> Option<Field> {
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
fn json_key_field(key: &str) -> Option<Field> {
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
fn labelled(piece: &str) -> Option<(Field, &str)> {
    let (label, value) = piece.split_once(':')?;
    if label.chars().count() > 40 {
        return None;
    }
    Some((label_field(label)?, value))
}

fn strip_bold(s: &str) -> String {
    s.replace("**", "").replace("__", "")
}

fn clean_value(s: &str) -> String {
    let t = s
        .trim()
        .trim_matches(|c: char| matches!(c, '"' | '\'' | '`' | '“' | '”' | '*' | '_'))
        .trim();
    let t = t.strip_suffix('.').unwrap_or(t).trim();
    t.to_string()
}

/// Drop a "Perspective 3:" / "Agent 2 -" style prefix.
fn strip_numbered_label(s: &str) -> String {
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

fn split_name(body: &str) -> (&str, &str) {
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
fn strip_leading_number(name: &str) -> &str {
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

fn pick_separator(s: &str) -> char {
    let mut best = (',', s.matches(',').count());
    for c in [';', '|'] {
        let n = s.matches(c).count();
        if n > best.1 {
            best = (c, n);
        }
    }
    best.0
}

fn assign_dims(p: &mut Perspective, rest: &str) {
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

// ---------------------------------------------------------------------------------------------
// Line-based parsing
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Marker {
    /// A single `#` (the reference form).
    Hash,
    /// `##` or more.
    Heading,
    Numbered,
    Bullet,
    /// `**Name**…` with no other marker.
    Bold,
    None,
}

/// Strip list/heading markers. Returns the outermost marker, the content, and for a single
/// `#` the reference raw text (after one `#`, trimmed).
fn strip_marker(line: &str) -> (Marker, &str) {
    let mut s = line.trim();
    let mut first = Marker::None;
    loop {
        let (m, rest) = strip_one_marker(s);
        if m == Marker::None {
            break;
        }
        if first == Marker::None {
            first = m;
        }
        s = rest.trim_start();
    }
    if first == Marker::None && (s.starts_with("**") || s.starts_with("__")) {
        first = Marker::Bold;
    }
    (first, s.trim())
}

fn strip_one_marker(s: &str) -> (Marker, &str) {
    if let Some(rest) = s.strip_prefix('#') {
        let hashes = 1 + rest.chars().take_while(|c| *c == '#').count();
        let rest = rest.trim_start_matches('#');
        return (
            if hashes == 1 {
                Marker::Hash
            } else {
                Marker::Heading
            },
            rest,
        );
    }
    for b in ['-', '*', '•', '+', '–', '—', '·'] {
        if let Some(rest) = s.strip_prefix(b) {
            if rest.starts_with(char::is_whitespace) {
                return (Marker::Bullet, rest);
            }
        }
    }
    // (1) / 1. / 1) / 1:
    let inner = s.strip_prefix('(').unwrap_or(s);
    let digits = inner.chars().take_while(char::is_ascii_digit).count();
    if (1..=3).contains(&digits) {
        let after = &inner[digits..];
        for close in ['.', ')', ':'] {
            if let Some(rest) = after.strip_prefix(close) {
                if rest.is_empty()
                    || rest.starts_with(char::is_whitespace)
                    || rest.starts_with("**")
                {
                    return (Marker::Numbered, rest);
                }
            }
        }
    }
    (Marker::None, s)
}

struct Block {
    p: Perspective,
    marker: Marker,
    filled: bool,
}

fn finish(block: Option<Block>, out: &mut Vec<Perspective>) {
    let Some(mut b) = block else { return };
    if b.filled {
        b.p.raw = b.p.compose_raw();
        if !b.p.raw.is_empty() {
            out.push(b.p);
        }
    } else if matches!(b.marker, Marker::Hash | Marker::Numbered | Marker::Bullet)
        && !b.p.name.is_empty()
        && !looks_like_title(&b.p)
    {
        out.push(b.p);
    }
}

/// A name-only line such as "# Perspectives:" or "1. Six ethical perspectives" is a title.
fn looks_like_title(p: &Perspective) -> bool {
    p.raw.trim_end().ends_with(':') || p.name.to_lowercase().contains("perspective")
}

fn parse_marked_lines(text: &str) -> Vec<Perspective> {
    let mut out = Vec::new();
    let mut block: Option<Block> = None;
    for line in text.lines() {
        let (marker, content) = strip_marker(line);
        if content.is_empty() {
            continue;
        }
        let clean = strip_bold(content);
        // A `Label: value` line fills the open block (or names a new one). `#` lines are always
        // perspectives, as in the reference.
        let field_line = if matches!(marker, Marker::Hash | Marker::Heading) {
            None
        } else {
            labelled(&clean)
        };
        if let Some((field, value)) = field_line {
            let value = clean_value(value);
            if field == Field::Name {
                // "Name: Nurse, Core value: Care, …" is a whole perspective on one line.
                let whole = split_fields(&clean);
                if whole.has_dims() {
                    finish(block.take(), &mut out);
                    out.push(Perspective {
                        raw: content.to_string(),
                        ..whole
                    });
                    continue;
                }
                let reuse = block.as_ref().is_some_and(|b| b.p.name.is_empty());
                if !reuse {
                    finish(block.take(), &mut out);
                    block = Some(Block {
                        p: Perspective::default(),
                        marker: Marker::Bold,
                        filled: false,
                    });
                }
                if let Some(b) = block.as_mut() {
                    b.p.raw = value.clone();
                    b.p.name = value;
                }
            } else if let Some(b) = block.as_mut() {
                let target = b.p.field_mut(field);
                if target.is_empty() {
                    *target = value;
                } else if !value.is_empty() {
                    target.push_str(&format!("; {value}"));
                }
                b.filled = true;
            }
            continue;
        }
        if marker == Marker::None {
            continue;
        }
        let raw = if marker == Marker::Hash {
            // Exactly the reference's raw text.
            line.trim_start()
                .strip_prefix('#')
                .unwrap_or(content)
                .trim()
        } else {
            content
        };
        let mut p = split_fields(content);
        p.raw = raw.to_string();
        finish(block.take(), &mut out);
        if p.has_dims() {
            out.push(p);
        } else if !p.name.is_empty() {
            block = Some(Block {
                p,
                marker,
                filled: false,
            });
        }
    }
    finish(block, &mut out);
    out
}

fn table_cells(line: &str) -> Option<Vec<String>> {
    let t = line.trim();
    let inner = t.strip_prefix('|')?;
    let inner = inner.strip_suffix('|').unwrap_or(inner);
    Some(
        inner
            .split('|')
            .map(|c| clean_value(&strip_bold(c)))
            .collect(),
    )
}

fn is_rule_row(cells: &[String]) -> bool {
    cells
        .iter()
        .all(|c| !c.is_empty() && c.chars().all(|ch| matches!(ch, '-' | ':' | ' ')))
}

/// Markdown tables: the first `|` row is the header; its cells name the fields.
fn parse_table(text: &str) -> Vec<Perspective> {
    let rows: Vec<Vec<String>> = text.lines().filter_map(table_cells).collect();
    let Some((header, body)) = rows.split_first() else {
        return Vec::new();
    };
    let columns: Vec<Option<Field>> = header.iter().map(|h| json_key_field(h)).collect();
    if columns.iter().flatten().count() < 2 {
        return Vec::new();
    }
    body.iter()
        .filter(|r| !is_rule_row(r))
        .filter_map(|row| {
            let mut p = Perspective::default();
            for (cell, col) in row.iter().zip(&columns) {
                if let Some(f) = col {
                    let target = p.field_mut(*f);
                    if target.is_empty() {
                        *target = cell.clone();
                    }
                }
            }
            p.raw = p.compose_raw();
            (!p.raw.is_empty()).then_some(p)
        })
        .collect()
}

fn parse_unmarked_lines(text: &str) -> Vec<Perspective> {
    text.lines()
        .map(str::trim)
        .filter(|l| l.contains(':'))
        .map(split_fields)
        .filter(|p| {
            !p.name.is_empty()
                && p.name.chars().count() <= 80
                && p.dims().iter().filter(|d| !d.is_empty()).count() >= 2
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// JSON
// ---------------------------------------------------------------------------------------------

fn parse_json_text(text: &str) -> Vec<Perspective> {
    match crate::distribution::find_json(text) {
        Some(v) => from_json(&v, 0),
        None => Vec::new(),
    }
}

fn from_json(v: &Value, depth: usize) -> Vec<Perspective> {
    if depth > 3 {
        return Vec::new();
    }
    match v {
        Value::Array(arr) => arr
            .iter()
            .filter_map(|e| match e {
                Value::Object(o) => from_object(o, ""),
                Value::String(s) => {
                    let (_, content) = strip_marker(s);
                    let p = split_fields(content);
                    (!p.name.is_empty() || p.has_dims()).then_some(p)
                }
                _ => None,
            })
            .collect(),
        Value::Object(obj) => {
            // {"perspectives": [...]} or any key holding a list.
            if let Some(list) = obj.values().find(|x| {
                x.as_array()
                    .is_some_and(|a| a.iter().any(|e| e.is_object() || e.is_string()))
            }) {
                let found = from_json(list, depth + 1);
                if !found.is_empty() {
                    return found;
                }
            }
            let has_field_keys = obj.keys().any(|k| label_field(k).is_some());
            if !has_field_keys && !obj.is_empty() && obj.values().all(Value::is_object) {
                // {"Patient Advocate": {...}, ...}
                return obj
                    .iter()
                    .filter_map(|(k, x)| x.as_object().and_then(|o| from_object(o, k)))
                    .collect();
            }
            if !has_field_keys && !obj.is_empty() && obj.values().all(Value::is_string) {
                // {"Patient Advocate": "Autonomy, Deontology, …", ...}
                return obj
                    .iter()
                    .map(|(k, x)| {
                        let mut p = Perspective {
                            name: clean_value(k),
                            ..Default::default()
                        };
                        assign_dims(&mut p, x.as_str().unwrap_or(""));
                        p.raw = p.compose_raw();
                        p
                    })
                    .collect();
            }
            from_object(obj, "").into_iter().collect()
        }
        _ => Vec::new(),
    }
}

fn json_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.trim().to_string(),
        Value::Array(a) => a
            .iter()
            .map(json_text)
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(", "),
        Value::Object(_) => String::new(),
        other => other.to_string(),
    }
}

fn from_object(obj: &Map<String, Value>, default_name: &str) -> Option<Perspective> {
    let mut p = Perspective::default();
    for (k, v) in obj {
        let Some(field) = json_key_field(k) else {
            continue;
        };
        let target = p.field_mut(field);
        if target.is_empty() {
            *target = json_text(v);
        }
    }
    if p.name.is_empty() {
        p.name = clean_value(default_name);
    }
    if p.name.is_empty() && !p.has_dims() {
        return None;
    }
    p.raw = p.compose_raw();
    Some(p)
}
