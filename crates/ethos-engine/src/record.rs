//! Run records: everything a run did (item, settings, every rendered prompt and raw reply, usage,
//! timings, the distribution method, the scores), versioned, re-importable and validated, with
//! Markdown and CSV exports.

use crate::chat::{ChatError, ChatRequest, SentParams, TokenLogprob, Usage};
use crate::distribution::{DistMethod, Distribution};
use crate::metrics::CoverageJudgement;
use crate::persona::Perspective;
use crate::poll::{ClassPoll, PollError};
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
    /// Stage 1 again for perspective i (0-based) alone: the call that regenerated it.
    Regenerate(usize),
    /// Stage 2, the comment of perspective i (0-based).
    Comment(usize),
    /// Stage 3 Overton generation.
    Combine,
    /// Stage 3 selection (steerable modes).
    Select,
    /// Stage 3 answer (steerable modes; for groups it is also the distribution read).
    Answer,
    /// Stage 3 distributional read with comment i (0-based) as the passage.
    Read(usize),
    /// The vanilla or prompting baseline call.
    Baseline,
    /// LLM-judge coverage, whole output (one call).
    Judge,
    /// LLM-judge coverage, reference direction: explanation i (0-based) against every output
    /// sentence.
    JudgeValue(usize),
    /// A capability probe.
    Probe,
}

impl Stage {
    pub fn label(self) -> String {
        match self {
            Stage::Perspectives => "perspectives".into(),
            Stage::Regenerate(i) => format!("perspective {}, regenerated", i + 1),
            Stage::Comment(i) => format!("comment {}", i + 1),
            Stage::Combine => "combine".into(),
            Stage::Select => "selection".into(),
            Stage::Answer => "answer".into(),
            Stage::Read(i) => format!("read {}", i + 1),
            Stage::Baseline => "baseline".into(),
            Stage::Judge => "judge".into(),
            Stage::JudgeValue(i) => format!("judge, value {}", i + 1),
            Stage::Probe => "probe".into(),
        }
    }

    /// 1, 2 or 3 for pipeline stages; 0 for baseline, judge and probe calls.
    pub fn number(self) -> u8 {
        match self {
            Stage::Perspectives | Stage::Regenerate(_) => 1,
            Stage::Comment(_) => 2,
            Stage::Combine | Stage::Select | Stage::Answer | Stage::Read(_) => 3,
            Stage::Baseline | Stage::Judge | Stage::JudgeValue(_) | Stage::Probe => 0,
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
    /// See [`crate::chat::ChatResponse::first_token_letter_probs`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_token_letter_probs: Option<Vec<f64>>,
    #[serde(default)]
    pub usage: Option<Usage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
    /// The parameters really sent, where the provider client reported them (it may have dropped
    /// some after a 400): see [`CallRecord::not_sent`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent: Option<SentParams>,
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
    /// The requested parameters that did not reach the model ("temperature", "seed", "logprobs",
    /// "n", "json_schema"); empty when everything was sent or the client did not say.
    pub fn not_sent(&self) -> Vec<&'static str> {
        self.sent
            .as_ref()
            .map(|s| s.dropped(&self.request))
            .unwrap_or_default()
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OvertonResult {
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coverage: Option<CoverageJudgement>,
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

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum RunResult {
    Overton(OvertonResult),
    Value(ValueResult),
    Distribution(DistResult),
}

// Hand-written (same format as the internally tagged derive): see `serde_tagged`.
crate::serde_tagged::internally_tagged!(
    RunResult,
    "mode",
    ["overton", "value", "distribution"],
    |index, rest| {
        match index {
            0 => OvertonResult::deserialize(rest).map(RunResult::Overton),
            1 => ValueResult::deserialize(rest).map(RunResult::Value),
            _ => DistResult::deserialize(rest).map(RunResult::Distribution),
        }
    }
);

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

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
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

// Hand-written (same format as the internally tagged derive): see `serde_tagged`.
crate::serde_tagged::internally_tagged!(
    RunStatus,
    "state",
    [
        "not_started",
        "running",
        "partial",
        "done",
        "cancelled",
        "failed"
    ],
    |index, rest| {
        use crate::serde_tagged::unit_variant;
        #[derive(Deserialize)]
        #[serde(expecting = "struct variant RunStatus::Failed")]
        struct Failed {
            message: String,
        }
        match index {
            0 => unit_variant(rest, RunStatus::NotStarted),
            1 => unit_variant(rest, RunStatus::Running),
            2 => unit_variant(rest, RunStatus::Partial),
            3 => unit_variant(rest, RunStatus::Done),
            4 => unit_variant(rest, RunStatus::Cancelled),
            _ => Failed::deserialize(rest).map(|f| RunStatus::Failed { message: f.message }),
        }
    }
);

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
    /// A class's votes on the item's options (the class poll), drawn and scored beside the
    /// model's prediction. Independent of the run: setting it keeps the result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll: Option<ClassPoll>,
}

/// The `version` of a JSON document when it is an object whose `version` is a non-negative
/// integer (as `Value::as_u64` would say), else None. Any other JSON is accepted and skipped;
/// invalid JSON is an error.
struct VersionProbe(Option<u64>);

impl<'de> Deserialize<'de> for VersionProbe {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(Probe { top: true }).map(VersionProbe)
    }
}

/// The value of `version` inside the top-level object.
struct VersionValue(Option<u64>);

impl<'de> Deserialize<'de> for VersionValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(Probe { top: false }).map(VersionValue)
    }
}

/// `top`: looking at the whole document (only an object carries a version); else at the value
/// of `version` (only a non-negative integer is one).
struct Probe {
    top: bool,
}

impl<'de> serde::de::Visitor<'de> for Probe {
    type Value = Option<u64>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("JSON")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut version = None;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if self.top && key == "version" {
                version = map.next_value::<VersionValue>()?.0;
            } else {
                map.next_value::<serde::de::IgnoredAny>()?;
            }
        }
        Ok(version)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok((!self.top).then_some(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(u64::try_from(v).ok().filter(|_| !self.top))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
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
            poll: None,
        }
    }

    pub fn mode(&self) -> Mode {
        self.item.mode()
    }

    /// A new, empty record with this record's item, settings and method: run it to reproduce
    /// this run.
    pub fn fresh(&self) -> RunRecord {
        let mut r = RunRecord::new(self.item.clone(), self.settings.clone(), self.method);
        r.poll = self.poll.clone();
        r
    }

    /// Set or clear the class poll; a poll that does not fit the item's options is refused.
    pub fn set_poll(&mut self, poll: Option<ClassPoll>) -> Result<(), PollError> {
        if let Some(p) = &poll {
            p.validate(self.item.options().len())?;
        }
        self.poll = poll;
        Ok(())
    }

    /// Parse and validate a record exported by this app.
    pub fn from_json(text: &str) -> Result<Self, RecordError> {
        // A cheap first pass reads only `version` (skipping the rest); the record is then parsed
        // straight from the text. (Going through `serde_json::Value` would make the compiler emit
        // a second copy of every deserializer, which the browser build pays for in size.)
        let VersionProbe(found) =
            serde_json::from_str(text).map_err(|e| RecordError::Json(e.to_string()))?;
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
            serde_json::from_str(text).map_err(|e| RecordError::Json(e.to_string()))?;
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
        if let Some(p) = &self.poll {
            if let Err(e) = p.validate(n_options) {
                return bad(format!("class poll: {e}"));
            }
        }
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
        self.replace_perspective(index, perspective)?;
        self.perspectives.edited = true;
        Ok(())
    }

    /// Put `perspective` in slot `index` (a regenerated one, or an edit); only its comment and
    /// the result are cleared. Does not mark the perspectives as edited by the user.
    pub fn replace_perspective(
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
        if let Some(c) = self.comments.get_mut(index) {
            *c = None;
        }
        self.result = None;
        Ok(())
    }

    /// Add a perspective at the end; its comment is to be written. The other comments are kept;
    /// the result is cleared.
    pub fn add_perspective(&mut self, perspective: Perspective) {
        let n = self.perspectives.perspectives.len();
        self.comments.resize(n, None);
        self.perspectives.perspectives.push(perspective);
        self.comments.push(None);
        self.perspectives.edited = true;
        self.result = None;
    }

    /// Remove perspective `index` and its comment, keeping the other comments (re-numbered to
    /// their new positions); the result is cleared. An index out of range removes nothing.
    pub fn remove_perspective(&mut self, index: usize) {
        if index < self.perspectives.perspectives.len() {
            self.perspectives.perspectives.remove(index);
        }
        if index < self.comments.len() {
            self.comments.remove(index);
        }
        for (i, c) in self.comments.iter_mut().enumerate() {
            if let Some(c) = c {
                c.index = i;
            }
        }
        self.perspectives.edited = true;
        self.result = None;
    }

    /// Indices of perspectives whose comment is missing or failed (what a "continue" run writes).
    pub fn missing_comments(&self) -> Vec<usize> {
        (0..self.perspectives.perspectives.len())
            .filter(|&i| {
                !self
                    .comments
                    .get(i)
                    .and_then(Option::as_ref)
                    .is_some_and(CommentRecord::is_ok)
            })
            .collect()
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

/// A JSON array of records, each as [`RunRecord::to_json`] writes it (so the browser build
/// carries one record serializer, not a compact one besides the pretty one).
pub fn records_to_json(records: &[RunRecord]) -> String {
    let parts: Vec<String> = records.iter().map(RunRecord::to_json).collect();
    format!("[{}]", parts.join(",\n"))
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

// ---------------------------------------------------------------------------------------------
// Exports
// ---------------------------------------------------------------------------------------------

/// Quote a CSV field when needed (RFC 4180).
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn csv_row(fields: &[String]) -> String {
    let mut row = fields
        .iter()
        .map(|f| csv_field(f))
        .collect::<Vec<_>>()
        .join(",");
    row.push_str("\r\n");
    row
}

fn fmt_prob(p: f64) -> String {
    format!("{p:.4}")
}

fn opt_bool(b: Option<bool>) -> String {
    b.map(|b| if b { "yes" } else { "no" }.to_string())
        .unwrap_or_default()
}

/// Markdown-safe inline text: one line, pipes escaped (for tables).
fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\r', '\n'], " ")
}

/// A Markdown block quote of possibly multi-line text.
fn md_quote(s: &str) -> String {
    s.lines()
        .map(|l| format!("> {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn status_label(s: &RunStatus) -> String {
    match s {
        RunStatus::NotStarted => "not started".into(),
        RunStatus::Running => "running".into(),
        RunStatus::Partial => "partial (no result yet)".into(),
        RunStatus::Done => "done".into(),
        RunStatus::Cancelled => "cancelled".into(),
        RunStatus::Failed { message } => format!("failed: {message}"),
    }
}

fn method_label(m: DistMethod) -> &'static str {
    match m {
        DistMethod::Logprobs => "next-token logprobs (reference)",
        DistMethod::Votes => "votes of the comments' leading letters",
        DistMethod::Sampling => "repeated sampling",
        DistMethod::Verbalised => "verbalised percentages",
    }
}

impl RunRecord {
    /// A readable report of the run (item, settings, perspectives, comments, result, calls and
    /// the exact prompts), suitable as a class handout.
    pub fn to_markdown(&self) -> String {
        let mut md = String::new();
        let item = &self.item;
        let s = &self.settings;
        md.push_str(&format!(
            "# {} on {} — item {}\n\n",
            self.method.label(),
            item.source().label(),
            item.id()
        ));
        md.push_str(&format!(
            "- **Mode:** {}\n- **Status:** {}\n- **Calls:** {} ({} failed), tokens {} in / {} out\n\n",
            self.mode().label(),
            status_label(&self.status),
            self.totals.calls,
            self.totals.failed_calls,
            self.totals.prompt_tokens,
            self.totals.completion_tokens
        ));

        md.push_str("## Item\n\n");
        match item {
            Item::Overton(o) => {
                md.push_str(&md_quote(&o.situation));
                md.push_str("\n\nValues, rights and duties in the reference annotation:\n\n");
                for (v, e) in o.vrd.iter().zip(&o.explanation) {
                    md.push_str(&format!("- **{}**: {}\n", v.trim(), e.trim()));
                }
            }
            Item::Value(v) => {
                md.push_str(&md_quote(&v.situation));
                md.push_str(&format!(
                    "\n\n- **Value, right or duty:** {}\n- **Gold:** {} ({})\n",
                    v.vrd, v.label, v.label_text
                ));
            }
            Item::Choice { item: c, .. } => {
                md.push_str(&md_quote(crate::vital::question_stem(&c.question)));
                md.push_str("\n\n");
                if !c.attribute.is_empty() {
                    let attr = match item.source() {
                        crate::vital::Source::OpinionQa => {
                            let (category, group) = crate::template::split_attribute(&c.attribute);
                            format!("{group} (in terms of {category})")
                        }
                        crate::vital::Source::GlobalOpinionQa => {
                            format!("{} (country)", c.attribute)
                        }
                        _ => c.attribute.clone(),
                    };
                    md.push_str(&format!("- **Attribute:** {attr}\n"));
                }
                for (l, o) in crate::vital::LETTERS.iter().zip(&c.options) {
                    md.push_str(&format!("- **{l}.** {o}\n"));
                }
            }
        }

        md.push_str("\n## Settings\n\n| setting | value |\n|---|---|\n");
        if let Some(line) = crate::reference::preset_summary(s) {
            md.push_str(&format!("| preset | {} |\n", md_cell(&line)));
        }
        let m = &s.models;
        let models = if m.is_single() {
            m.combine.clone()
        } else {
            format!(
                "perspectives: {}; comments: {}; combine: {}",
                m.perspectives, m.comments, m.combine
            )
        };
        let d = &s.decoding;
        for (k, v) in [
            ("models", models),
            (
                "k",
                format!(
                    "{} ({} extra perspectives)",
                    s.k,
                    if s.keep_extra { "keep" } else { "trim" }
                ),
            ),
            ("stage-1 tries (cap)", s.max_perspective_tries.to_string()),
            (
                "stage-1 parsing",
                if s.reference_parsing {
                    "reference (`#` lines only)"
                } else if s.structured_perspectives {
                    "structured JSON (not the reference format)"
                } else {
                    "tolerant (lists, bullets, bold, JSON too)"
                }
                .to_string(),
            ),
            ("concurrency limit", s.concurrency.to_string()),
            (
                "decoding (temperature / max tokens)",
                format!(
                    "stage 1 {:?}/{} ({} distributional); stage 2 {:?}/{}; Overton {:?}/{}; short {:?}/{}",
                    d.perspectives.temperature,
                    d.perspectives.max_tokens,
                    d.perspectives_max_tokens_distributional,
                    d.comments.temperature,
                    d.comments.max_tokens,
                    d.overton.temperature,
                    d.overton.max_tokens,
                    d.short.temperature,
                    d.short.max_tokens
                ),
            ),
            ("distribution method", s.distribution.label()),
            ("top logprobs", s.top_logprobs.to_string()),
            (
                "failed items in batch scores",
                if s.score_failed_as_reference {
                    "scored as the reference does (uniform / unparsed / coverage 0)"
                } else {
                    "left out and counted"
                }
                .to_string(),
            ),
            (
                "raw completion (no chat template)",
                {
                    let r = s.raw_completion;
                    let on: Vec<&str> = [
                        (r.perspectives, "stage 1"),
                        (r.comments, "stage 2"),
                        (r.combine, "stage 3 and baselines"),
                    ]
                    .iter()
                    .filter(|(b, _)| *b)
                    .map(|(_, n)| *n)
                    .collect();
                    if on.is_empty() {
                        "no (chat messages)".to_string()
                    } else {
                        on.join(", ")
                    }
                },
            ),
            (
                "seed",
                if s.per_item_seed {
                    format!(
                        "{} (this item: {}, derived from the seed and the item id)",
                        s.seed,
                        crate::pipeline::item_seed(s.seed, self.item.id())
                    )
                } else {
                    format!("{} (the same for every item)", s.seed)
                },
            ),
            (
                "Overton judge (an LLM estimate of the NLI score)",
                s.judge.label().to_string(),
            ),
            (
                "system message",
                if s.system_role {
                    "yes"
                } else {
                    "merged into the user message"
                }
                .to_string(),
            ),
        ] {
            md.push_str(&format!("| {k} | {} |\n", md_cell(&v)));
        }
        let edited: Vec<&str> = crate::template::TEMPLATE_SPECS
            .iter()
            .filter(|t| !s.templates.is_default(t.name))
            .map(|t| t.name)
            .collect();
        md.push_str(&format!(
            "| templates | {} |\n",
            if edited.is_empty() {
                "defaults".to_string()
            } else {
                format!("edited: {}", edited.join(", "))
            }
        ));

        if !self.perspectives.perspectives.is_empty() || self.perspectives.shortfall.is_some() {
            md.push_str(&format!(
                "\n## Perspectives ({})\n\n",
                self.perspectives.perspectives.len()
            ));
            if let Some(sf) = &self.perspectives.shortfall {
                md.push_str(&format!("*{sf}*\n\n"));
            }
            if self.perspectives.edited {
                md.push_str("*Edited by the user after generation.*\n\n");
            }
            for (i, p) in self.perspectives.perspectives.iter().enumerate() {
                let fields: Vec<&str> = [
                    &p.core_value,
                    &p.framework,
                    &p.right_duty,
                    &p.emotion,
                    &p.stakeholder,
                ]
                .iter()
                .map(|f| f.as_str())
                .filter(|f| !f.is_empty())
                .collect();
                if p.name.is_empty() || fields.is_empty() {
                    md.push_str(&format!("{}. {}\n", i + 1, p.raw));
                } else {
                    md.push_str(&format!(
                        "{}. **{}**: {}\n",
                        i + 1,
                        p.name,
                        fields.join("; ")
                    ));
                }
            }
        }

        if self.comments.iter().any(Option::is_some) {
            md.push_str("\n## Comments\n\n");
            for (i, slot) in self.comments.iter().enumerate() {
                let name = self
                    .perspectives
                    .perspectives
                    .get(i)
                    .map(|p| {
                        if p.name.is_empty() {
                            p.raw.clone()
                        } else {
                            p.name.clone()
                        }
                    })
                    .unwrap_or_default();
                md.push_str(&format!("### {}. {}\n\n", i + 1, name));
                match slot {
                    None => md.push_str("*Not written.*\n\n"),
                    Some(c) if c.error.is_some() => md.push_str(&format!(
                        "*Failed: {}*\n\n",
                        c.error.as_ref().map(|e| e.to_string()).unwrap_or_default()
                    )),
                    Some(c) => {
                        if let Some(l) = c.letter {
                            md.push_str(&format!("Chosen option: **{l}**\n\n"));
                        }
                        md.push_str(&md_quote(&c.cleaned));
                        md.push_str("\n\n");
                        if c.raw != c.cleaned && !c.edited {
                            md.push_str("*A role preamble was removed from the start of the reply (the raw reply is in the record).*\n\n");
                        }
                        if c.edited {
                            md.push_str("*Edited by the user.*\n\n");
                        }
                    }
                }
            }
        }

        md.push_str("\n## Result\n\n");
        match &self.result {
            None => md.push_str("*No result.*\n"),
            Some(RunResult::Overton(o)) => {
                md.push_str(&md_quote(&o.text));
                md.push('\n');
                if let Some(c) = &o.coverage {
                    md.push_str(&format!(
                        "\n**Value coverage** ({}, judge {}): {:.3} — {} the 0.33 threshold.\n\n| value | score |\n|---|---|\n",
                        c.estimator.label(),
                        c.judge_model,
                        c.item_score,
                        if c.covered(crate::metrics::COVERAGE_THRESHOLD) { "above" } else { "not above" }
                    ));
                    if let Item::Overton(it) = item {
                        for (v, p) in it.vrd.iter().zip(&c.per_value) {
                            md.push_str(&format!("| {} | {:.2} |\n", md_cell(v), p));
                        }
                    }
                }
            }
            Some(RunResult::Value(v)) => {
                if let Some(sel) = &v.selection {
                    md.push_str(&format!(
                        "- **Selected comment:** {}{}\n",
                        sel.index + 1,
                        if sel.fallback {
                            " (no number in the reply: seeded random fallback)"
                        } else {
                            ""
                        }
                    ));
                }
                md.push_str(&format!("- **Answer:** {}\n", md_cell(&v.answer)));
                md.push_str(&format!(
                    "- **Parsed (reference parser):** {} — {}\n- **Parsed (strict parser):** {} — {}\n- **Gold:** {}\n",
                    v.letter_reference.map(String::from).unwrap_or_else(|| "none".into()),
                    if v.correct_reference { "correct" } else { "wrong" },
                    v.letter_strict.map(String::from).unwrap_or_else(|| "none".into()),
                    if v.correct_strict { "correct" } else { "wrong" },
                    v.gold
                ));
            }
            Some(RunResult::Distribution(d)) => {
                if let Some(sel) = &d.selection {
                    md.push_str(&format!(
                        "- **Selected comment:** {}{}\n",
                        sel.index + 1,
                        if sel.fallback {
                            " (no number in the reply: seeded random fallback)"
                        } else {
                            ""
                        }
                    ));
                }
                md.push_str(&format!(
                    "- **Distribution method:** {}\n",
                    method_label(d.method)
                ));
                if let Some(n) = &d.note {
                    md.push_str(&format!("- **Note:** {}\n", md_cell(n)));
                }
                if let Some(js) = d.js {
                    md.push_str(&format!(
                        "- **Jensen–Shannon distance (natural log):** {js:.4}\n"
                    ));
                }
                if let Some(a) = d.argmax_match {
                    md.push_str(&format!(
                        "- **Most likely option matches the gold:** {}\n",
                        opt_bool(Some(a))
                    ));
                }
                let gold = item.gold_distribution();
                md.push_str("\n| option | | predicted | gold |\n|---|---|---|---|\n");
                for (i, o) in item.options().iter().enumerate() {
                    let letter = crate::vital::LETTERS.get(i).copied().unwrap_or('?');
                    let p = d
                        .distribution
                        .get(i)
                        .copied()
                        .map(fmt_prob)
                        .unwrap_or_default();
                    let g = gold
                        .and_then(|g| g.get(i))
                        .copied()
                        .map(fmt_prob)
                        .unwrap_or_default();
                    md.push_str(&format!("| {letter} | {} | {p} | {g} |\n", md_cell(o)));
                }
            }
        }

        md.push_str(&crate::poll::markdown(self));

        if !self.calls.is_empty() {
            md.push_str("\n## Calls\n\n| # | stage | model | try | tokens in/out | ms | outcome |\n|---|---|---|---|---|---|---|\n");
            for c in &self.calls {
                let (pin, pout) = c
                    .usage
                    .as_ref()
                    .map(|u| (u.prompt_tokens, u.completion_tokens))
                    .unwrap_or((0, 0));
                let mut outcome = match (&c.error, &c.reply) {
                    (Some(e), _) => md_cell(&e.to_string()),
                    (None, Some(_)) => "ok".into(),
                    (None, None) => "in flight".into(),
                };
                let dropped = c.not_sent();
                if !dropped.is_empty() {
                    outcome.push_str(&format!("; not sent: {}", dropped.join(", ")));
                }
                md.push_str(&format!(
                    "| {} | {}{} | {} | {} | {pin}/{pout} | {} | {outcome} |\n",
                    c.id,
                    c.stage.label(),
                    c.sample
                        .map(|s| format!(" (sample {s})"))
                        .unwrap_or_default(),
                    md_cell(&c.model),
                    c.attempt,
                    c.duration_ms.map(|d| format!("{d:.0}")).unwrap_or_default()
                ));
            }
            md.push_str("\n## Prompts and replies\n\n");
            for c in &self.calls {
                md.push_str(&format!(
                    "<details><summary>Call {}: {}</summary>\n\n",
                    c.id,
                    c.stage.label()
                ));
                for msg in &c.request.messages {
                    md.push_str(&format!(
                        "**{:?}:**\n\n```text\n{}\n```\n\n",
                        msg.role,
                        msg.content.replace("```", "'''")
                    ));
                }
                if let Some(r) = &c.reply {
                    md.push_str(&format!(
                        "**Reply:**\n\n```text\n{}\n```\n\n",
                        r.replace("```", "'''")
                    ));
                }
                md.push_str("</details>\n\n");
            }
        }
        md
    }

    /// Every call of the run as CSV, one row per call (with the rendered prompt and raw reply).
    pub fn to_csv(&self) -> String {
        let mut out = csv_row(
            &[
                "item_id",
                "method",
                "call",
                "stage",
                "sample",
                "model",
                "attempt",
                "started_ms",
                "duration_ms",
                "prompt_tokens",
                "completion_tokens",
                "error",
                "prompt",
                "reply",
            ]
            .iter()
            .chain(&crate::poll::CSV_HEADS)
            .map(|h| h.to_string())
            .collect::<Vec<_>>(),
        );
        let poll = crate::poll::csv_fields(self);
        for c in &self.calls {
            let prompt = c
                .request
                .messages
                .iter()
                .map(|m| m.content.as_str())
                .collect::<Vec<_>>()
                .join("\n\n");
            out.push_str(&csv_row(&[
                self.item.id().to_string(),
                self.method.label().to_string(),
                c.id.to_string(),
                c.stage.label(),
                c.sample.map(|s| s.to_string()).unwrap_or_default(),
                c.model.clone(),
                c.attempt.to_string(),
                format!("{}", c.started_ms),
                c.duration_ms.map(|d| format!("{d}")).unwrap_or_default(),
                c.usage
                    .as_ref()
                    .map(|u| u.prompt_tokens.to_string())
                    .unwrap_or_default(),
                c.usage
                    .as_ref()
                    .map(|u| u.completion_tokens.to_string())
                    .unwrap_or_default(),
                c.error.as_ref().map(|e| e.to_string()).unwrap_or_default(),
                prompt,
                c.reply.clone().unwrap_or_default(),
                poll[0].clone(),
                poll[1].clone(),
                poll[2].clone(),
                poll[3].clone(),
            ]));
        }
        out
    }
}

/// One row per record: the scores and the settings that decide them.
pub fn summary_csv(records: &[RunRecord]) -> String {
    let mut out = csv_row(
        &[
            "item_id",
            "source",
            "mode",
            "method",
            "status",
            "models",
            "k",
            "distribution_setting",
            "distribution_method",
            "js_distance",
            "argmax_match",
            "correct_reference",
            "correct_strict",
            "coverage",
            "coverage_estimator",
            "calls",
            "prompt_tokens",
            "completion_tokens",
            "preset",
        ]
        .iter()
        .chain(&crate::poll::CSV_HEADS)
        .map(|h| h.to_string())
        .collect::<Vec<_>>(),
    );
    for r in records {
        let m = &r.settings.models;
        let models = if m.is_single() {
            m.combine.clone()
        } else {
            format!("{} / {} / {}", m.perspectives, m.comments, m.combine)
        };
        let (mut method, mut js, mut am, mut cr, mut cs, mut cov, mut est) = (
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
        );
        match &r.result {
            Some(RunResult::Distribution(d)) => {
                method = format!("{:?}", d.method).to_lowercase();
                js = d.js.map(|x| format!("{x}")).unwrap_or_default();
                am = opt_bool(d.argmax_match);
            }
            Some(RunResult::Value(v)) => {
                cr = opt_bool(Some(v.correct_reference));
                cs = opt_bool(Some(v.correct_strict));
            }
            Some(RunResult::Overton(o)) => {
                if let Some(c) = &o.coverage {
                    cov = format!("{}", c.item_score);
                    est = c.estimator.label().to_string();
                }
            }
            None => {}
        }
        out.push_str(&csv_row(
            &[
                r.item.id().to_string(),
                r.item.source().label().to_string(),
                r.mode().label().to_string(),
                r.method.label().to_string(),
                status_label(&r.status),
                models,
                r.settings.k.to_string(),
                r.settings.distribution.label(),
                method,
                js,
                am,
                cr,
                cs,
                cov,
                est,
                r.totals.calls.to_string(),
                r.totals.prompt_tokens.to_string(),
                r.totals.completion_tokens.to_string(),
                crate::reference::preset_summary(&r.settings).unwrap_or_default(),
            ]
            .into_iter()
            .chain(crate::poll::csv_fields(r))
            .collect::<Vec<_>>(),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(k: usize) -> RunRecord {
        let item = Item::custom("t-1", "Share records?", &["Yes".into(), "No".into()], None)
            .expect("item");
        let mut r = RunRecord::new(item, RunSettings::with_model("m"), Method::EthosAgents);
        for i in 0..k {
            r.add_perspective(Perspective {
                raw: format!("P{i}: a, b, c, d, e"),
                name: format!("P{i}"),
                ..Default::default()
            });
        }
        r.perspectives.edited = false;
        r
    }

    fn ok_comment(i: usize, text: &str) -> CommentRecord {
        CommentRecord {
            index: i,
            perspective: format!("P{i}"),
            call_id: None,
            raw: text.into(),
            cleaned: text.into(),
            letter: Some('A'),
            edited: false,
            error: None,
        }
    }

    #[test]
    fn removing_a_perspective_keeps_and_renumbers_the_other_comments() {
        let mut r = record(3);
        assert_eq!(r.comments, vec![None, None, None]);
        r.comments = vec![
            Some(ok_comment(0, "A. zero")),
            None,
            Some(ok_comment(2, "A. two")),
        ];
        r.result = Some(RunResult::Overton(OvertonResult {
            text: "x".into(),
            coverage: None,
        }));
        assert_eq!(r.missing_comments(), vec![1]);
        r.remove_perspective(1);
        assert!(r.perspectives.edited);
        assert!(r.result.is_none());
        let names: Vec<_> = r
            .perspectives
            .perspectives
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        assert_eq!(names, ["P0", "P2"]);
        let kept: Vec<_> = r
            .comments
            .iter()
            .flatten()
            .map(|c| (c.index, c.raw.as_str()))
            .collect();
        assert_eq!(kept, [(0, "A. zero"), (1, "A. two")]);
        assert!(r.missing_comments().is_empty());
        assert!(r.validate().is_ok(), "{:?}", r.validate());

        r.remove_perspective(99); // out of range: nothing removed, no panic
        assert_eq!(r.perspectives.perspectives.len(), 2);
        assert_eq!(r.comments.len(), 2);
    }

    #[test]
    fn adding_a_perspective_keeps_the_comments_and_leaves_a_slot_to_write() {
        let mut r = record(2);
        // Fewer comment slots than perspectives (comments never written): padded, not shifted.
        r.comments = vec![Some(ok_comment(0, "A. zero"))];
        r.add_perspective(Perspective::default());
        assert_eq!(r.perspectives.perspectives.len(), 3);
        assert_eq!(r.comments.len(), 3);
        assert_eq!(
            r.comments[0].as_ref().map(|c| c.raw.as_str()),
            Some("A. zero")
        );
        assert!(r.perspectives.edited);
        assert_eq!(r.missing_comments(), vec![1, 2]);
        // A failed comment counts as missing.
        r.comments[1] = Some(CommentRecord {
            error: Some(ChatError::Cancelled),
            ..ok_comment(1, "")
        });
        r.comments[2] = Some(ok_comment(2, "A. two"));
        assert_eq!(r.missing_comments(), vec![1]);
    }

    #[test]
    fn version_is_checked_before_the_record_is_read() {
        let no_version = |_: &str| RecordError::Json("no `version` field".into());
        for text in [
            "[1, 2]",
            "\"x\"",
            "3",
            "null",
            "{}",
            r#"{"version": "1"}"#,
            r#"{"version": -1}"#,
            r#"{"version": 1.0}"#,
            r#"{"a": {"version": 1}, "version": [1]}"#,
        ] {
            assert_eq!(RunRecord::from_json(text), Err(no_version(text)), "{text}");
        }
        assert_eq!(
            RunRecord::from_json(r#"{"other": [1, {"x": null}], "version": 7}"#),
            Err(RecordError::Version {
                found: 7,
                supported: RECORD_VERSION
            })
        );
        // Right version, but not a record: the field error, from the text itself.
        let err = RunRecord::from_json(r#"{"version": 1}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing field"), "{err}");
        assert!(matches!(
            RunRecord::from_json("{\"version\": 1"),
            Err(RecordError::Json(_))
        ));
        let r = record(2);
        assert_eq!(RunRecord::from_json(&r.to_json()), Ok(r));
    }

    #[test]
    fn a_list_of_records_is_a_json_array_of_records() {
        assert_eq!(records_to_json(&[]), "[]");
        let (a, mut b) = (record(1), record(2));
        b.method = Method::Vanilla;
        let text = records_to_json(&[a.clone(), b.clone()]);
        let values: Vec<serde_json::Value> = serde_json::from_str(&text).expect("array");
        let back: Vec<RunRecord> = values
            .iter()
            .map(|v| RunRecord::from_json(&v.to_string()).expect("record"))
            .collect();
        assert_eq!(back, [a, b]);
    }
}
