//! Run records: everything a run did (item, settings, every rendered prompt and raw reply, usage,
//! timings, the distribution method, the scores), versioned, re-importable and validated, with
//! Markdown and CSV exports.

use crate::chat::{ChatError, ChatRequest, TokenLogprob, Usage};
use crate::distribution::{DistMethod, Distribution};
use crate::persona::Perspective;
use crate::settings::{Method, RunSettings};
use crate::vital::{Item, Mode};
use serde::{Deserialize, Serialize};

/// The record format version this build writes and reads.
pub const RECORD_VERSION: u32 = 1;

/// Which step a call belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Stage 1 (one call per try).
    Perspectives,
    /// Stage 2, the comment of perspective i (0-based).
    Comment(usize),
    /// Stage 3 selection (steerable modes).
    Select,
    /// Stage 3 answer (steerable modes; for groups it is also the distribution read).
    Answer,
    /// Stage 3 distributional read with comment i (0-based) as the passage.
    Read(usize),
    /// The vanilla or prompting baseline call.
    Baseline,
    /// LLM-judge coverage.
    Judge,
    /// A capability probe.
    Probe,
}

impl Stage {
    pub fn label(self) -> String {
        match self {
            Stage::Perspectives => "perspectives".into(),
            Stage::Comment(i) => format!("comment {}", i + 1),
            Stage::Select => "selection".into(),
            Stage::Answer => "answer".into(),
            Stage::Read(i) => format!("read {}", i + 1),
            Stage::Baseline => "baseline".into(),
            Stage::Judge => "judge".into(),
            Stage::Probe => "probe".into(),
        }
    }

    /// 1, 2 or 3 for pipeline stages; 0 for baseline, judge and probe calls.
    pub fn number(self) -> u8 {
        match self {
            Stage::Perspectives => 1,
            Stage::Comment(_) => 2,
            Stage::Select | Stage::Answer | Stage::Read(_) => 3,
            Stage::Baseline | Stage::Judge | Stage::Probe => 0,
        }
    }
}

/// One model call, exactly as sent and as answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallRecord {
    /// Sequential within the record, starting at 0.
    pub id: u32,
    pub stage: Stage,
    /// For repeated sampling calls (sampling method, provider ignoring `n`): sample 1, 2, ….
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample: Option<u32>,
    pub model: String,
    /// The exact rendered request.
    pub request: ChatRequest,
    /// The raw reply text (None while running or on error).
    #[serde(default)]
    pub reply: Option<String>,
    /// Further sampled texts when `n > 1` was honoured.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub more_replies: Vec<String>,
    /// Post-processed text where the pipeline cleans replies (stage-2 preamble stripping).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cleaned: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_token_top_logprobs: Option<Vec<TokenLogprob>>,
    #[serde(default)]
    pub usage: Option<Usage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
    /// Clock time (ms) when the call started.
    pub started_ms: f64,
    /// None while the call is in flight.
    #[serde(default)]
    pub duration_ms: Option<f64>,
    /// 1 for the first try; stage-1 retries count up.
    pub attempt: u32,
    #[serde(default)]
    pub error: Option<ChatError>,
}

impl CallRecord {
    pub fn is_finished(&self) -> bool {
        self.duration_ms.is_some() || self.error.is_some()
    }
    pub fn is_ok(&self) -> bool {
        self.reply.is_some() && self.error.is_none()
    }
}

/// Stage-1 output.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PerspectivesRecord {
    /// Raw reply of every try, in order.
    #[serde(default)]
    pub raw: Vec<String>,
    /// The perspectives stage 2 uses (`raw` of each is the line passed on).
    #[serde(default)]
    pub perspectives: Vec<Perspective>,
    /// How many stage-1 calls were made.
    #[serde(default)]
    pub tries: u32,
    /// Perspectives beyond k that were dropped (when trimming to k).
    #[serde(default)]
    pub trimmed: usize,
    /// True when the user edited the perspectives after generation.
    #[serde(default)]
    pub edited: bool,
    /// Why fewer than k perspectives are here, if so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shortfall: Option<String>,
}

/// Stage-2 output for one perspective.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommentRecord {
    pub index: usize,
    /// The perspective line the comment was written from.
    pub perspective: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_id: Option<u32>,
    /// The reply as received.
    pub raw: String,
    /// After stripping a role preamble (`As a …:`), with the option letter kept.
    pub cleaned: String,
    /// The option letter the comment starts with (multiple-choice and value items).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub letter: Option<char>,
    /// True when the user edited the comment text.
    #[serde(default)]
    pub edited: bool,
    /// The call failed; `raw`/`cleaned` are empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ChatError>,
}

impl CommentRecord {
    pub fn is_ok(&self) -> bool {
        self.error.is_none()
    }
}

/// The stage-3 selection of the steerable modes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Selection {
    /// 0-based comment index.
    pub index: usize,
    /// The selection reply (empty if the fallback was used without a reply).
    pub reply: String,
    /// No number 1..k was found in the reply and the seeded random fallback chose.
    pub fallback: bool,
}

/// Overton value coverage by the LLM-judge estimator (not the reference NLI).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Coverage {
    /// Labels the estimator, e.g. "LLM judge (model-name)".
    pub estimator: String,
    /// Per vrd: the judged entailment probability.
    pub per_value: Vec<f64>,
    /// Mean of `per_value`.
    pub score: f64,
    /// 0.33 in the reference.
    pub threshold: f64,
    /// score > threshold.
    pub covered: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OvertonResult {
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coverage: Option<Coverage>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValueResult {
    /// None for baselines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selection: Option<Selection>,
    pub answer: String,
    /// The reference parser's letter (None counts as wrong).
    pub letter_reference: Option<char>,
    /// The strict parser's letter (letter at the start of the answer).
    pub letter_strict: Option<char>,
    pub gold: String,
    pub correct_reference: bool,
    pub correct_strict: bool,
}

/// Distributional and group-steering results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DistResult {
    /// Group steering only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selection: Option<Selection>,
    /// The answer text of the group read or baseline, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
    /// One distribution per read (k for distributional, 1 for group and baselines); None where
    /// the read failed.
    pub per_read: Vec<Option<Distribution>>,
    /// The prediction: the unweighted mean of the reads (or the one read).
    pub distribution: Vec<f64>,
    /// The method that produced `distribution` (label every chart with it).
    pub method: DistMethod,
    /// How the method was arrived at, e.g. "no logprobs returned: fell back to votes".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Jensen–Shannon distance (natural log) to the gold distribution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub js: Option<f64>,
    /// argmax(gold) == argmax(prediction), ties toward the first option.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub argmax_match: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum RunResult {
    Overton(OvertonResult),
    Value(ValueResult),
    Distribution(DistResult),
}

impl RunResult {
    /// The mode family this result belongs to (group and distributional share a shape).
    pub fn fits(&self, mode: Mode) -> bool {
        matches!(
            (self, mode),
            (RunResult::Overton(_), Mode::Overton)
                | (RunResult::Value(_), Mode::SteerableValue)
                | (
                    RunResult::Distribution(_),
                    Mode::SteerableGroup | Mode::Distributional
                )
        )
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum RunStatus {
    #[default]
    NotStarted,
    Running,
    /// Some stages are done; no result yet (e.g. perspectives generated for editing).
    Partial,
    Done,
    Cancelled,
    Failed {
        message: String,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    pub calls: u32,
    pub failed_calls: u32,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

/// A run of one method on one item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub version: u32,
    pub item: Item,
    pub settings: RunSettings,
    pub method: Method,
    #[serde(default)]
    pub perspectives: PerspectivesRecord,
    /// One slot per perspective; None = not written yet.
    #[serde(default)]
    pub comments: Vec<Option<CommentRecord>>,
    #[serde(default)]
    pub calls: Vec<CallRecord>,
    #[serde(default)]
    pub result: Option<RunResult>,
    #[serde(default)]
    pub status: RunStatus,
    #[serde(default)]
    pub totals: Totals,
    #[serde(default)]
    pub created_ms: f64,
    #[serde(default)]
    pub finished_ms: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RecordError {
    #[error("this is not a run record (invalid JSON or missing fields): {0}")]
    Json(String),
    #[error("run record version {found} is not supported (this app reads version {supported})")]
    Version { found: u32, supported: u32 },
    #[error("run record is inconsistent: {0}")]
    Invalid(String),
}

impl RunRecord {
    pub fn new(item: Item, settings: RunSettings, method: Method) -> Self {
        Self {
            version: RECORD_VERSION,
            item,
            settings,
            method,
            perspectives: PerspectivesRecord::default(),
            comments: Vec::new(),
            calls: Vec::new(),
            result: None,
            status: RunStatus::NotStarted,
            totals: Totals::default(),
            created_ms: 0.0,
            finished_ms: None,
        }
    }

    pub fn mode(&self) -> Mode {
        self.item.mode()
    }

    /// Parse and validate a record exported by this app.
    pub fn from_json(text: &str) -> Result<Self, RecordError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| RecordError::Json(e.to_string()))?;
        let found = value.get("version").and_then(serde_json::Value::as_u64);
        match found {
            None => return Err(RecordError::Json("no `version` field".into())),
            Some(v) if v != u64::from(RECORD_VERSION) => {
                return Err(RecordError::Version {
                    found: u32::try_from(v).unwrap_or(u32::MAX),
                    supported: RECORD_VERSION,
                })
            }
            Some(_) => {}
        }
        let record: RunRecord =
            serde_json::from_value(value).map_err(|e| RecordError::Json(e.to_string()))?;
        record.validate()?;
        Ok(record)
    }

    /// Pretty JSON (the export and share format).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }

    /// Check internal consistency; the message names the first problem.
    pub fn validate(&self) -> Result<(), RecordError> {
        let bad = |m: String| Err(RecordError::Invalid(m));
        if self.version != RECORD_VERSION {
            return Err(RecordError::Version {
                found: self.version,
                supported: RECORD_VERSION,
            });
        }
        if let Err(e) = self.settings.validate() {
            return bad(format!("settings: {e}"));
        }
        for (i, call) in self.calls.iter().enumerate() {
            if call.id as usize != i {
                return bad(format!(
                    "call {i} has id {} (ids must be 0, 1, 2, … in order)",
                    call.id
                ));
            }
            if let Some(d) = call.duration_ms {
                if !d.is_finite() || d < 0.0 {
                    return bad(format!("call {i} has an invalid duration {d}"));
                }
            }
            match call.stage {
                Stage::Comment(j)
                    if j >= self
                        .comments
                        .len()
                        .max(self.perspectives.perspectives.len()) =>
                {
                    return bad(format!(
                        "call {i} is for comment {} but there are only {} perspectives",
                        j + 1,
                        self.perspectives.perspectives.len()
                    ));
                }
                _ => {}
            }
        }
        if self.comments.len() > self.perspectives.perspectives.len() {
            return bad(format!(
                "{} comment slots for {} perspectives",
                self.comments.len(),
                self.perspectives.perspectives.len()
            ));
        }
        for (i, slot) in self.comments.iter().enumerate() {
            if let Some(c) = slot {
                if c.index != i {
                    return bad(format!(
                        "comment slot {} holds comment {}",
                        i + 1,
                        c.index + 1
                    ));
                }
                if let Some(id) = c.call_id {
                    if id as usize >= self.calls.len() {
                        return bad(format!(
                            "comment {} refers to call {id}, which is not in the record",
                            i + 1
                        ));
                    }
                }
            }
        }
        let n_options = self.item.options().len();
        if let Some(result) = &self.result {
            if !result.fits(self.mode()) {
                return bad(format!(
                    "the result does not fit a {} item",
                    self.mode().label()
                ));
            }
            match result {
                RunResult::Distribution(d) => {
                    if d.distribution.len() != n_options {
                        return bad(format!(
                            "the distribution has {} values for {} options",
                            d.distribution.len(),
                            n_options
                        ));
                    }
                    if d.distribution.iter().any(|p| !p.is_finite() || *p < 0.0) {
                        return bad("the distribution has a negative or non-finite value".into());
                    }
                    for (j, r) in d.per_read.iter().enumerate() {
                        if let Some(r) = r {
                            if r.probs.len() != n_options {
                                return bad(format!(
                                    "read {} has {} values for {} options",
                                    j + 1,
                                    r.probs.len(),
                                    n_options
                                ));
                            }
                        }
                    }
                    if let Some(s) = &d.selection {
                        if s.index >= self.comments.len() {
                            return bad(format!(
                                "selection {} is beyond the {} comments",
                                s.index + 1,
                                self.comments.len()
                            ));
                        }
                    }
                }
                RunResult::Value(v) => {
                    if let Some(s) = &v.selection {
                        if s.index >= self.comments.len() {
                            return bad(format!(
                                "selection {} is beyond the {} comments",
                                s.index + 1,
                                self.comments.len()
                            ));
                        }
                    }
                }
                RunResult::Overton(_) => {}
            }
        }
        let totals = compute_totals(&self.calls);
        if totals != self.totals {
            return bad(format!(
                "totals say {} calls / {} tokens but the calls add up to {} / {}",
                self.totals.calls,
                self.totals.prompt_tokens + self.totals.completion_tokens,
                totals.calls,
                totals.prompt_tokens + totals.completion_tokens
            ));
        }
        Ok(())
    }

    /// Recompute `totals` from `calls`.
    pub fn recompute_totals(&mut self) {
        self.totals = compute_totals(&self.calls);
    }

    /// Calls of one stage, in order.
    pub fn calls_of(&self, stage: Stage) -> impl Iterator<Item = &CallRecord> {
        self.calls.iter().filter(move |c| c.stage == stage)
    }

    /// The comments usable by stage 3: every slot filled without error, in order.
    pub fn ok_comments(&self) -> Vec<&CommentRecord> {
        self.comments
            .iter()
            .flatten()
            .filter(|c| c.is_ok())
            .collect()
    }

    /// Replace the perspectives by user-edited ones; comments and result are cleared (they depend
    /// on them).
    pub fn set_perspectives(&mut self, perspectives: Vec<Perspective>) {
        self.perspectives.perspectives = perspectives;
        self.perspectives.edited = true;
        self.perspectives.shortfall = None;
        self.comments.clear();
        self.result = None;
    }

    /// Replace one perspective by an edited one; only its comment and the result are cleared.
    pub fn edit_perspective(
        &mut self,
        index: usize,
        perspective: Perspective,
    ) -> Result<(), RecordError> {
        let n = self.perspectives.perspectives.len();
        let slot = self
            .perspectives
            .perspectives
            .get_mut(index)
            .ok_or_else(|| {
                RecordError::Invalid(format!(
                    "there is no perspective {} (there are {n})",
                    index + 1
                ))
            })?;
        *slot = perspective;
        self.perspectives.edited = true;
        if let Some(c) = self.comments.get_mut(index) {
            *c = None;
        }
        self.result = None;
        Ok(())
    }

    /// Replace one comment's text by the user's; the result is cleared.
    pub fn edit_comment(&mut self, index: usize, text: &str) -> Result<(), RecordError> {
        let n_persp = self.perspectives.perspectives.len();
        let perspective = self
            .perspectives
            .perspectives
            .get(index)
            .map(|p| p.raw.clone())
            .ok_or_else(|| {
                RecordError::Invalid(format!(
                    "there is no perspective {} (there are {n_persp})",
                    index + 1
                ))
            })?;
        if self.comments.len() < n_persp {
            self.comments.resize(n_persp, None);
        }
        let n_options = self.item.options().len();
        let letter = if n_options > 0 {
            crate::distribution::leading_letter(text, n_options)
        } else {
            None
        };
        if let Some(slot) = self.comments.get_mut(index) {
            *slot = Some(CommentRecord {
                index,
                perspective,
                call_id: None,
                raw: text.to_string(),
                cleaned: text.to_string(),
                letter,
                edited: true,
                error: None,
            });
        }
        self.result = None;
        Ok(())
    }
}

pub(crate) fn compute_totals(calls: &[CallRecord]) -> Totals {
    let mut t = Totals::default();
    for c in calls {
        t.calls += 1;
        if c.error.is_some() {
            t.failed_calls += 1;
        }
        if let Some(u) = &c.usage {
            t.prompt_tokens += u64::from(u.prompt_tokens);
            t.completion_tokens += u64::from(u.completion_tokens);
        }
    }
    t
}
