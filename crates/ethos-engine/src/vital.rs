//! VITAL data: the five record schemas, a user-defined item, and loaders that name the record and
//! field of any defect instead of panicking.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;

/// Record ids are integers in most files and strings in MoralChoice.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ItemId {
    Int(i64),
    Str(String),
}

impl fmt::Display for ItemId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ItemId::Int(i) => write!(f, "{i}"),
            ItemId::Str(s) => f.write_str(s),
        }
    }
}

/// Which dataset an item comes from. It decides the mode and some prompt details.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    OvertonValueKaleidoscope,
    SteerableValueKaleidoscope,
    OpinionQa,
    GlobalOpinionQa,
    MoralChoice,
    /// A question written by the user.
    Custom,
}

impl Source {
    pub fn mode(self) -> Mode {
        match self {
            Source::OvertonValueKaleidoscope => Mode::Overton,
            Source::SteerableValueKaleidoscope => Mode::SteerableValue,
            Source::OpinionQa => Mode::SteerableGroup,
            Source::GlobalOpinionQa | Source::MoralChoice | Source::Custom => Mode::Distributional,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Source::OvertonValueKaleidoscope => "ValueKaleidoscope (Overton)",
            Source::SteerableValueKaleidoscope => "ValueKaleidoscope (Steerable, value)",
            Source::OpinionQa => "OpinionQA (Steerable, group)",
            Source::GlobalOpinionQa => "GlobalOpinionQA (Distributional)",
            Source::MoralChoice => "MoralChoice (Distributional)",
            Source::Custom => "Your own question",
        }
    }

    /// The file name in the VITAL repository.
    pub fn file_name(self) -> Option<&'static str> {
        match self {
            Source::OvertonValueKaleidoscope => Some("vital_overton_valuekaleidoscope.json"),
            Source::SteerableValueKaleidoscope => Some("vital_steerable_valuekaleidoscope.json"),
            Source::OpinionQa => Some("vital_steerable_opinionqa.json"),
            Source::GlobalOpinionQa => Some("vital_distributional_globalopinionqa.json"),
            Source::MoralChoice => Some("vital_distributional_moralchoice.json"),
            Source::Custom => None,
        }
    }

    pub fn from_file_name(name: &str) -> Option<Source> {
        let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
        [
            Source::OvertonValueKaleidoscope,
            Source::SteerableValueKaleidoscope,
            Source::OpinionQa,
            Source::GlobalOpinionQa,
            Source::MoralChoice,
        ]
        .into_iter()
        .find(|s| s.file_name() == Some(base))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Overton,
    SteerableValue,
    SteerableGroup,
    Distributional,
}

impl Mode {
    pub fn label(self) -> &'static str {
        match self {
            Mode::Overton => "Overton",
            Mode::SteerableValue => "Steerable (value)",
            Mode::SteerableGroup => "Steerable (group)",
            Mode::Distributional => "Distributional",
        }
    }
}

/// An Overton record: a situation with the values, rights and duties (vrd) it touches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OvertonItem {
    pub id: ItemId,
    pub situation: String,
    pub vrd: Vec<String>,
    pub explanation: Vec<String>,
    pub input: String,
    pub output: Option<String>,
}

/// A steerable value record: does `vrd` support, oppose or neither the situation (A/B/C)?
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValueItem {
    pub id: ItemId,
    pub situation: String,
    pub vrd: String,
    pub label_text: String,
    /// Gold letter, "A", "B" or "C".
    pub label: String,
    pub input: String,
    pub output: Option<String>,
}

/// A multiple-choice record (OpinionQA, GlobalOpinionQA, MoralChoice, or the user's own).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChoiceItem {
    pub id: ItemId,
    /// Full prompt text: "Question: …\nOptions: A. … B. …\nAnswer:".
    pub question: String,
    pub options: Vec<String>,
    /// `CATEGORY_Group` (OpinionQA), a country (GlobalOpinionQA), an ambiguity class (MoralChoice).
    pub attribute: String,
    pub gold_distribution: Option<Vec<f64>>,
    pub pred_distribution: Option<Vec<f64>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Item {
    Overton(OvertonItem),
    Value(ValueItem),
    Choice { source: Source, item: ChoiceItem },
}

pub const LETTERS: [char; 5] = ['A', 'B', 'C', 'D', 'E'];

impl Item {
    pub fn id(&self) -> &ItemId {
        match self {
            Item::Overton(i) => &i.id,
            Item::Value(i) => &i.id,
            Item::Choice { item, .. } => &item.id,
        }
    }

    pub fn source(&self) -> Source {
        match self {
            Item::Overton(_) => Source::OvertonValueKaleidoscope,
            Item::Value(_) => Source::SteerableValueKaleidoscope,
            Item::Choice { source, .. } => *source,
        }
    }

    pub fn mode(&self) -> Mode {
        self.source().mode()
    }

    /// The text stage 1 invents perspectives for: the situation (Overton, value items) or the
    /// whole question with its options (multiple-choice items).
    pub fn perspective_input(&self) -> &str {
        match self {
            Item::Overton(i) => &i.situation,
            Item::Value(i) => &i.situation,
            Item::Choice { item, .. } => &item.question,
        }
    }

    /// A one-line title for lists.
    pub fn title(&self) -> String {
        let text = match self {
            Item::Overton(i) => i.situation.as_str(),
            Item::Value(i) => i.situation.as_str(),
            Item::Choice { item, .. } => question_stem(&item.question),
        };
        text.trim().to_string()
    }

    /// Options for multiple-choice items; A/B/C Support/Oppose/Either for value items.
    pub fn options(&self) -> Vec<String> {
        match self {
            Item::Overton(_) => Vec::new(),
            Item::Value(_) => vec!["Supports".into(), "Opposes".into(), "Either".into()],
            Item::Choice { item, .. } => item.options.clone(),
        }
    }

    pub fn gold_distribution(&self) -> Option<&[f64]> {
        match self {
            Item::Choice { item, .. } => item.gold_distribution.as_deref(),
            _ => None,
        }
    }

    pub fn attribute(&self) -> Option<&str> {
        match self {
            Item::Choice { item, .. } => Some(&item.attribute),
            Item::Value(i) => Some(&i.vrd),
            Item::Overton(_) => None,
        }
    }

    /// A user-defined item: own question and options, optional human distribution.
    pub fn custom(
        id: &str,
        question: &str,
        options: &[String],
        gold: Option<Vec<f64>>,
    ) -> Result<Item, LoadError> {
        let at = |field: &'static str, problem: String| LoadError::Field {
            index: 0,
            id: Some(id.to_string()),
            field,
            problem,
        };
        if question.trim().is_empty() {
            return Err(at("question", "is empty".into()));
        }
        let options: Vec<String> = options
            .iter()
            .map(|o| o.trim().to_string())
            .filter(|o| !o.is_empty())
            .collect();
        if options.is_empty() || options.len() > LETTERS.len() {
            return Err(at(
                "options",
                format!(
                    "needs 1 to {} options, got {}",
                    LETTERS.len(),
                    options.len()
                ),
            ));
        }
        if let Some(g) = &gold {
            check_distribution(g, options.len()).map_err(|p| at("gold_distribution", p))?;
        }
        let mut text = format!("Question: {}\nOptions:", question.trim());
        for (letter, option) in LETTERS.iter().zip(&options) {
            text.push_str(&format!(" {letter}. {option}"));
        }
        text.push_str("\nAnswer:");
        Ok(Item::Choice {
            source: Source::Custom,
            item: ChoiceItem {
                id: ItemId::Str(id.to_string()),
                question: text,
                options,
                attribute: String::new(),
                gold_distribution: gold,
                pred_distribution: None,
            },
        })
    }
}

/// The question text without the "Question:" prefix and the options/answer tail.
pub fn question_stem(question: &str) -> &str {
    let q = question.trim_start();
    let q = q.strip_prefix("Question:").unwrap_or(q);
    let end = q.find("\nOptions:").unwrap_or(q.len());
    q[..end].trim()
}

fn check_distribution(d: &[f64], n_options: usize) -> Result<(), String> {
    if d.len() != n_options {
        return Err(format!("has {} values for {} options", d.len(), n_options));
    }
    if d.iter().any(|v| !v.is_finite() || *v < 0.0) {
        return Err("has a negative or non-finite value".into());
    }
    let sum = d.iter().sum::<f64>();
    if !sum.is_finite() {
        return Err("sums to more than a number can hold".into());
    }
    if sum <= 0.0 {
        return Err("sums to zero".into());
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LoadError {
    #[error("not valid JSON: {0}")]
    Json(String),
    #[error("expected a JSON array of records")]
    NotArray,
    #[error("the file is empty (no records)")]
    Empty,
    #[error("record {index}{}: field `{field}` {problem}", id.as_ref().map(|i| format!(" (id {i})")).unwrap_or_default())]
    Field {
        index: usize,
        id: Option<String>,
        field: &'static str,
        problem: String,
    },
    #[error("cannot tell which VITAL file this is: record 0 is not an object with a `situation` or `question` field")]
    UnknownSchema,
}

/// Load a VITAL JSON file. `source` may be given (from the file name); otherwise the schema is
/// detected from the first record's fields. Every record must then follow that schema.
pub fn load(text: &str, source: Option<Source>) -> Result<Vec<Item>, LoadError> {
    let value: Value = serde_json::from_str(text).map_err(|e| LoadError::Json(e.to_string()))?;
    load_value(&value, source)
}

pub fn load_value(value: &Value, source: Option<Source>) -> Result<Vec<Item>, LoadError> {
    let records = value.as_array().ok_or(LoadError::NotArray)?;
    if records.is_empty() {
        return Err(LoadError::Empty);
    }
    let source = match source {
        Some(s) => s,
        None => detect(&records[0]).ok_or(LoadError::UnknownSchema)?,
    };
    records
        .iter()
        .enumerate()
        .map(|(i, r)| parse_record(i, r, source))
        .collect()
}

/// Guess the schema from one record's fields.
pub fn detect(record: &Value) -> Option<Source> {
    let obj = record.as_object()?;
    if obj.contains_key("situation") {
        return Some(if obj.get("vrd").is_some_and(Value::is_array) {
            Source::OvertonValueKaleidoscope
        } else {
            Source::SteerableValueKaleidoscope
        });
    }
    if obj.contains_key("question") {
        let attr = obj.get("attribute").and_then(Value::as_str).unwrap_or("");
        return Some(if attr.ends_with("_ambiguity") {
            Source::MoralChoice
        } else if attr
            .split_once('_')
            .is_some_and(|(c, _)| !c.is_empty() && c.chars().all(|ch| ch.is_ascii_uppercase()))
        {
            Source::OpinionQa
        } else {
            Source::GlobalOpinionQa
        });
    }
    None
}

struct Rec<'a> {
    index: usize,
    obj: &'a Map<String, Value>,
    id: Option<String>,
}

impl<'a> Rec<'a> {
    fn err(&self, field: &'static str, problem: impl Into<String>) -> LoadError {
        LoadError::Field {
            index: self.index,
            id: self.id.clone(),
            field,
            problem: problem.into(),
        }
    }
    fn get(&self, field: &'static str) -> Result<&'a Value, LoadError> {
        self.obj
            .get(field)
            .ok_or_else(|| self.err(field, "is missing"))
    }
    fn string(&self, field: &'static str) -> Result<String, LoadError> {
        match self.get(field)? {
            Value::String(s) => Ok(s.clone()),
            other => Err(self.err(field, format!("should be a string, found {}", kind(other)))),
        }
    }
    fn opt_string(&self, field: &'static str) -> Result<Option<String>, LoadError> {
        match self.obj.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(self.err(
                field,
                format!("should be a string or null, found {}", kind(other)),
            )),
        }
    }
    fn strings(&self, field: &'static str) -> Result<Vec<String>, LoadError> {
        let arr = self
            .get(field)?
            .as_array()
            .ok_or_else(|| self.err(field, "should be an array of strings"))?;
        arr.iter()
            .enumerate()
            .map(|(j, v)| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| self.err(field, format!("element {j} is not a string")))
            })
            .collect()
    }
    fn numbers(&self, field: &'static str, required: bool) -> Result<Option<Vec<f64>>, LoadError> {
        let v = match self.obj.get(field) {
            None | Some(Value::Null) if !required => return Ok(None),
            None => return Err(self.err(field, "is missing")),
            Some(v) => v,
        };
        let arr = v.as_array().ok_or_else(|| {
            self.err(
                field,
                format!("should be an array of numbers, found {}", kind(v)),
            )
        })?;
        let nums = arr
            .iter()
            .enumerate()
            .map(|(j, x)| {
                x.as_f64()
                    .filter(|f| f.is_finite())
                    .ok_or_else(|| self.err(field, format!("element {j} is not a number")))
            })
            .collect::<Result<Vec<f64>, _>>()?;
        Ok(Some(nums))
    }
    fn id(&self) -> Result<ItemId, LoadError> {
        match self.get("id")? {
            Value::String(s) => Ok(ItemId::Str(s.clone())),
            Value::Number(n) => n
                .as_i64()
                .map(ItemId::Int)
                .ok_or_else(|| self.err("id", "is not an integer")),
            other => Err(self.err(
                "id",
                format!("should be an integer or string, found {}", kind(other)),
            )),
        }
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn parse_record(index: usize, record: &Value, source: Source) -> Result<Item, LoadError> {
    let obj = record.as_object().ok_or(LoadError::Field {
        index,
        id: None,
        field: "record",
        problem: "is not a JSON object".into(),
    })?;
    let id = obj.get("id").map(|v| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    });
    let r = Rec { index, obj, id };
    match source {
        Source::OvertonValueKaleidoscope => {
            let vrd = r.strings("vrd")?;
            let explanation = r.strings("explanation")?;
            if vrd.len() != explanation.len() {
                return Err(r.err(
                    "explanation",
                    format!(
                        "has {} entries but vrd has {}",
                        explanation.len(),
                        vrd.len()
                    ),
                ));
            }
            Ok(Item::Overton(OvertonItem {
                id: r.id()?,
                situation: r.string("situation")?,
                vrd,
                explanation,
                input: r.string("input")?,
                output: r.opt_string("output")?,
            }))
        }
        Source::SteerableValueKaleidoscope => {
            let label = r.string("label")?;
            if !matches!(label.trim(), "A" | "B" | "C") {
                return Err(r.err("label", format!("should be A, B or C, found {label:?}")));
            }
            Ok(Item::Value(ValueItem {
                id: r.id()?,
                situation: r.string("situation")?,
                vrd: r.string("vrd")?,
                label_text: r.string("label_text")?,
                label: label.trim().to_string(),
                input: r.string("input")?,
                output: r.opt_string("output")?,
            }))
        }
        Source::OpinionQa | Source::GlobalOpinionQa | Source::MoralChoice | Source::Custom => {
            let options = r.strings("options")?;
            if options.is_empty() || options.len() > LETTERS.len() {
                return Err(r.err(
                    "options",
                    format!(
                        "needs 1 to {} options, found {}",
                        LETTERS.len(),
                        options.len()
                    ),
                ));
            }
            let gold = r.numbers("gold_distribution", source != Source::Custom)?;
            if let Some(g) = &gold {
                check_distribution(g, options.len()).map_err(|p| r.err("gold_distribution", p))?;
            }
            let pred = r.numbers("pred_distribution", false)?;
            if let Some(p) = &pred {
                check_distribution(p, options.len()).map_err(|p| r.err("pred_distribution", p))?;
            }
            Ok(Item::Choice {
                source,
                item: ChoiceItem {
                    id: r.id()?,
                    question: r.string("question")?,
                    options,
                    attribute: r.string("attribute")?,
                    gold_distribution: gold,
                    pred_distribution: pred,
                },
            })
        }
    }
}

/// Write items back in the VITAL file shape (with `pred_distribution` / `output` as filled).
pub fn to_vital_json(items: &[Item]) -> Value {
    Value::Array(
        items
            .iter()
            .map(|it| match it {
                Item::Overton(i) => serde_json::json!({
                    "situation": i.situation, "vrd": i.vrd, "explanation": i.explanation,
                    "input": i.input, "output": i.output, "id": i.id,
                }),
                Item::Value(i) => serde_json::json!({
                    "situation": i.situation, "vrd": i.vrd, "label_text": i.label_text, "label": i.label,
                    "input": i.input, "output": i.output, "id": i.id,
                }),
                Item::Choice { item, .. } => serde_json::json!({
                    "question": item.question, "options": item.options, "attribute": item.attribute,
                    "gold_distribution": item.gold_distribution, "pred_distribution": item.pred_distribution,
                    "id": item.id,
                }),
            })
            .collect(),
    )
}
