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

mod csv;
mod edits;
mod export;
mod json;
mod markdown;
mod state;
#[cfg(test)]
mod tests;
mod validate;

pub use csv::summary_csv;
pub(crate) use export::ScoreCells;
pub use json::records_to_json;
pub use state::CommentState;

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
    /// A call that has just started: the request, nothing back yet.
    pub fn started(
        id: u32,
        stage: Stage,
        sample: Option<u32>,
        request: ChatRequest,
        started_ms: f64,
        attempt: u32,
    ) -> Self {
        Self {
            id,
            stage,
            sample,
            model: request.model.clone(),
            request,
            reply: None,
            more_replies: Vec::new(),
            cleaned: None,
            first_token_top_logprobs: None,
            first_token_letter_probs: None,
            usage: None,
            finish_reason: None,
            sent: None,
            started_ms,
            duration_ms: None,
            attempt,
            error: None,
        }
    }
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
    /// A class's votes on the item's options (the class poll), drawn and scored beside the
    /// model's prediction. Independent of the run: setting it keeps the result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll: Option<ClassPoll>,
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

    /// A copy without the calls (most of a record's bytes: every prompt and raw reply), for
    /// views that draw the result.
    pub fn without_calls(&self) -> RunRecord {
        RunRecord {
            version: self.version,
            item: self.item.clone(),
            settings: self.settings.clone(),
            method: self.method,
            perspectives: self.perspectives.clone(),
            comments: self.comments.clone(),
            calls: Vec::new(),
            result: self.result.clone(),
            status: self.status.clone(),
            totals: self.totals.clone(),
            created_ms: self.created_ms,
            finished_ms: self.finished_ms,
            poll: self.poll.clone(),
        }
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
