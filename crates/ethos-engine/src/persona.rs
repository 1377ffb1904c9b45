//! Stage-1 perspectives: parsing model output into name + five dimensions.
//! OWNER: engine-functions helper. Signatures are shared with the pipeline; keep them.

use serde::{Deserialize, Serialize};

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
            self.name, self.core_value, self.framework, self.right_duty, self.emotion, self.stakeholder
        )
    }
}

/// Reference parsing: keep lines whose first character is `#`, text after the `#` trimmed.
pub fn reference_lines(text: &str) -> Vec<String> {
    text.lines().filter_map(|l| l.strip_prefix('#')).map(|l| l.trim().to_string()).collect()
}

/// Tolerant parsing (`#` lines, numbered lists, bullets, Markdown headings, JSON, missing fields).
/// Never panics; returns what it could read.
pub fn parse_perspectives(text: &str) -> Vec<Perspective> {
    let _ = text;
    Vec::new()
}
