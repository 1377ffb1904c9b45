//! The EthosAgents pipeline per mode (spec/method.md), generic over [`ChatModel`].
//!
//! Three stages: perspectives (1 call, capped retries), comments (k independent calls, run
//! concurrently under a limit), combine per mode. Baselines (vanilla, prompting) and the Overton
//! LLM judge live here too. No clock, timer or runtime of its own: time comes from an injected
//! [`Clock`], concurrency from `futures` combinators, so it runs single-threaded in wasm.
//!
//! The run record lives in a [`SharedRecord`] (`Rc<RefCell<RunRecord>>`) that is updated as
//! every call starts and finishes. If a run's future is dropped (cancel), the record keeps every
//! call that finished; calls still in flight are marked cancelled and the status becomes
//! `Cancelled`.

use crate::answer;
use crate::chat::{ChatError, ChatModel, ChatRequest, ChatResponse, Message};
use crate::distribution::{self, DistMethod, Distribution};
use crate::metrics::{self, CoverageJudgement};
use crate::persona::{self, Perspective};
use crate::record::{
    compute_totals, CallRecord, CommentRecord, DistResult, OvertonResult, RunRecord, RunResult,
    RunStatus, Selection, Stage, ValueResult,
};
use crate::settings::{Decoding, DistSetting, Method, RunSettings, SettingsError};
use crate::template::{render, split_attribute, TemplateError};
use crate::vital::{question_stem, Item, ItemId, Mode, Source, LETTERS};
use futures::stream::{self, StreamExt};
use std::cell::RefCell;
use std::rc::Rc;

mod baselines;
mod cleaning;
mod combine;
mod comments;
mod judge;
mod perspectives;
mod planning;
mod prompts;
#[cfg(test)]
mod tests;

pub use cleaning::{choose_replacement, clean_comment, strip_preamble};
use combine::{single_read_result, value_result};
pub use perspectives::{perspectives_schema, stage1_max_tokens, structured_min_tokens};
pub(crate) use planning::fnv1a;
pub use planning::{fallback_index, item_seed, planned_calls, splitmix64, stage3_calls, CallPlan};
use prompts::{country_line, letters_list, verbalised_example, with_system};

/// Milliseconds from some fixed origin (`performance.now()` in a browser, a counter in tests).
pub trait Clock {
    fn now_ms(&self) -> f64;
}

/// Said with a distribution read from a model's full next-token distribution.
pub const EXACT_READ_NOTE: &str =
    "read over the whole vocabulary (each option letter's most probable token), not a top-N list";

impl<F: Fn() -> f64> Clock for F {
    fn now_ms(&self) -> f64 {
        self()
    }
}

/// What the pipeline is doing, for progress displays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Perspectives,
    Comments,
    Combine,
    Baseline,
    Judge,
    Finished,
}

/// Live updates for a UI. Every method has an empty default.
pub trait Observer {
    fn stage_changed(&self, _phase: Phase) {}
    fn call_started(&self, _call: &CallRecord) {}
    /// A streamed piece of the reply of call `call_id`.
    fn delta(&self, _call_id: u32, _text: &str) {}
    fn call_finished(&self, _call: &CallRecord) {}
    fn perspectives_ready(&self, _perspectives: &[Perspective]) {}
    fn comment_ready(&self, _comment: &CommentRecord) {}
    fn result(&self, _result: &RunResult) {}
}

/// An observer that ignores everything.
pub struct NoObserver;
impl Observer for NoObserver {}

/// The model of each stage (they may all be the same).
pub struct Stages<'a, M> {
    pub perspectives: &'a M,
    pub comments: &'a M,
    /// Stage 3, the baselines and (by default) the judge.
    pub combine: &'a M,
}

impl<'a, M> Stages<'a, M> {
    /// One model for all stages.
    pub fn same(model: &'a M) -> Self {
        Self {
            perspectives: model,
            comments: model,
            combine: model,
        }
    }
}

impl<M> Clone for Stages<'_, M> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<M> Copy for Stages<'_, M> {}

/// A run record shared between the running pipeline and its viewers.
#[derive(Debug, Clone)]
pub struct SharedRecord(Rc<RefCell<RunRecord>>);

impl SharedRecord {
    pub fn new(record: RunRecord) -> Self {
        Self(Rc::new(RefCell::new(record)))
    }

    /// A copy of the record as it is now.
    pub fn snapshot(&self) -> RunRecord {
        self.0.borrow().clone()
    }

    /// Read the record without copying it.
    pub fn with<R>(&self, f: impl FnOnce(&RunRecord) -> R) -> R {
        f(&self.0.borrow())
    }

    /// Change the record (edits between stages: perspectives, comments, settings).
    pub fn update<R>(&self, f: impl FnOnce(&mut RunRecord) -> R) -> R {
        f(&mut self.0.borrow_mut())
    }

    /// Mark a stopped run: calls in flight get a `Cancelled` error, status becomes `Cancelled`.
    /// Called automatically when a run's future is dropped; safe to call more than once.
    pub fn mark_cancelled(&self, now_ms: f64) {
        let Ok(mut r) = self.0.try_borrow_mut() else {
            return;
        };
        let mut any = false;
        for c in r.calls.iter_mut().filter(|c| !c.is_finished()) {
            c.error = Some(ChatError::Cancelled);
            c.duration_ms = Some((now_ms - c.started_ms).max(0.0));
            any = true;
        }
        if any || r.status == RunStatus::Running {
            r.status = RunStatus::Cancelled;
            r.finished_ms = Some(now_ms);
        }
        r.totals = compute_totals(&r.calls);
    }
}

/// Why a stage could not complete. The record keeps whatever finished.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PipelineError {
    #[error("invalid settings: {0}")]
    Settings(#[from] SettingsError),
    #[error("prompt template: {0}")]
    Template(#[from] TemplateError),
    #[error("the {stage} call failed: {error}")]
    Call { stage: String, error: ChatError },
    #[error("only {got} of {wanted} perspectives could be read after {tries} tries; the ones that came are kept (edit or add perspectives, or generate again)")]
    TooFewPerspectives {
        got: usize,
        wanted: usize,
        tries: u32,
    },
    #[error("there are no perspectives yet: generate or write them first")]
    NoPerspectives,
    #[error("there is no perspective {number} (there are {count})")]
    NoSuchPerspective { number: usize, count: usize },
    #[error("the new reply for perspective {number} held no perspective that could be read; perspective {number} is unchanged (the reply is in the Inspector: try again, or edit it by hand)")]
    NoReplacement { number: usize },
    #[error("{} of {total} comments failed ({}); the other comments are kept, re-run the failed ones", failed.len(), list_failures(failed))]
    CommentsFailed {
        failed: Vec<(usize, ChatError)>,
        total: usize,
    },
    #[error(
        "comment(s) {} missing or failed: write them before combining",
        list_numbers(indices)
    )]
    CommentsMissing { indices: Vec<usize> },
    #[error("{} of {total} distribution reads failed ({})", failed.len(), list_failures(failed))]
    ReadsFailed {
        failed: Vec<(usize, ChatError)>,
        total: usize,
    },
    #[error("{0}")]
    NotApplicable(String),
    #[error("the judge's reply could not be read: {0}")]
    Judge(String),
}

fn list_numbers(indices: &[usize]) -> String {
    indices
        .iter()
        .map(|i| (i + 1).to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn list_failures(failed: &[(usize, ChatError)]) -> String {
    failed
        .iter()
        .map(|(i, e)| format!("#{}: {e}", i + 1))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Marks the record cancelled if the future holding it is dropped before `disarm`.
struct CancelGuard<'a> {
    record: &'a SharedRecord,
    clock: &'a dyn Clock,
    armed: bool,
}

impl CancelGuard<'_> {
    fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for CancelGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.record.mark_cancelled(self.clock.now_ms());
        }
    }
}

/// What one distribution read produced.
struct ReadOutcome {
    /// None when the setting is Auto and no logprobs came back (the caller falls back).
    dist: Option<Distribution>,
    text: String,
    note: Option<String>,
}

/// The EthosAgents pipeline over one shared record.
pub struct Pipeline<'a, M> {
    stages: Stages<'a, M>,
    clock: &'a dyn Clock,
    observer: &'a dyn Observer,
    record: SharedRecord,
}

impl<'a, M: ChatModel> Pipeline<'a, M> {
    pub fn new(
        stages: Stages<'a, M>,
        clock: &'a dyn Clock,
        observer: &'a dyn Observer,
        record: SharedRecord,
    ) -> Self {
        Self {
            stages,
            clock,
            observer,
            record,
        }
    }

    pub fn record(&self) -> &SharedRecord {
        &self.record
    }

    // ----- public entry points (each sets the status and survives cancellation) -----

    /// Run what the record's method asks for: the full pipeline or a baseline.
    pub async fn run(&self) -> Result<RunResult, PipelineError> {
        match self.record.with(|r| r.method) {
            Method::EthosAgents => self.run_item().await,
            m => self.run_baseline(m).await,
        }
    }

    /// All three stages.
    pub async fn run_item(&self) -> Result<RunResult, PipelineError> {
        let guard = self.begin();
        let out = async {
            self.check_settings()?;
            self.perspectives_inner().await?;
            self.comments_inner(None).await?;
            self.combine_inner().await
        }
        .await;
        self.end(guard, &out, true);
        out
    }

    /// Stage 1 only. Replaces perspectives and clears comments and result.
    pub async fn generate_perspectives(&self) -> Result<Vec<Perspective>, PipelineError> {
        let guard = self.begin();
        let out = async {
            self.check_settings()?;
            self.perspectives_inner().await
        }
        .await;
        self.end(guard, &out, false);
        out
    }

    /// Stage 1 again for perspective `index` (0-based) alone: one call with the method's
    /// perspectives prompt (as for the whole set) and a seed no earlier stage-1 call of the record
    /// used; the reply's first perspective whose name is not on the board replaces it
    /// ([`choose_replacement`]). Its comment and the result are cleared: write the missing
    /// comments, then combine. If the call fails or the reply holds no perspective, nothing
    /// changes and the record keeps its status (the call is recorded either way).
    pub async fn regenerate_perspective(&self, index: usize) -> Result<Perspective, PipelineError> {
        let before = self.record.with(|r| r.status.clone());
        let guard = self.begin();
        let out = async {
            self.check_settings()?;
            self.regenerate_inner(index).await
        }
        .await;
        self.end(guard, &out, false);
        if out.is_err() {
            self.record.update(|r| r.status = before);
        }
        out
    }

    /// Stage 2 for the given perspective indices (0-based), or all of them with `None`.
    /// Clears the result (it depends on the comments).
    pub async fn write_comments(&self, which: Option<&[usize]>) -> Result<(), PipelineError> {
        let guard = self.begin();
        let out = async {
            self.check_settings()?;
            self.comments_inner(which).await
        }
        .await;
        self.end(guard, &out, false);
        out
    }

    /// Stage 3 from the record's comments (all must be present and without error).
    pub async fn combine(&self) -> Result<RunResult, PipelineError> {
        let guard = self.begin();
        let out = async {
            self.check_settings()?;
            self.combine_inner().await
        }
        .await;
        self.end(guard, &out, true);
        out
    }

    /// The vanilla or prompting baseline (one call, on the combine model, stage-3 decoding).
    pub async fn run_baseline(&self, method: Method) -> Result<RunResult, PipelineError> {
        let guard = self.begin();
        let out = async {
            self.check_settings()?;
            self.baseline_inner(method).await
        }
        .await;
        self.end(guard, &out, true);
        out
    }

    /// LLM-judge coverage of an Overton result (EthosAgents or baseline), by the setting
    /// `judge`: by default an LLM estimate of the NLI score in the reference direction (each
    /// explanation against each output sentence, max over sentences; one call per explanation),
    /// else the whole output against each explanation (one call). Score = mean over values,
    /// covered = score > 0.33. Labelled as an LLM estimate, not the reference NLI model.
    pub async fn judge(&self, judge: &M) -> Result<CoverageJudgement, PipelineError> {
        let guard = self.begin();
        let out = self.judge_inner(judge).await;
        // A judge failure does not make the run itself failed.
        let restore = out.is_err();
        self.end(guard, &out, true);
        if restore {
            self.record.update(|r| {
                if r.result.is_some() {
                    r.status = RunStatus::Done;
                }
            });
        }
        out
    }

    // ----- status handling -----

    fn begin(&self) -> CancelGuard<'_> {
        let now = self.clock.now_ms();
        self.record.update(|r| {
            if r.calls.is_empty() && r.created_ms == 0.0 {
                r.created_ms = now;
            }
            r.status = RunStatus::Running;
            r.finished_ms = None;
        });
        CancelGuard {
            record: &self.record,
            clock: self.clock,
            armed: true,
        }
    }

    fn end<T>(&self, guard: CancelGuard<'_>, out: &Result<T, PipelineError>, final_stage: bool) {
        guard.disarm();
        let now = self.clock.now_ms();
        self.record.update(|r| {
            r.status = match out {
                Err(e) => RunStatus::Failed {
                    message: e.to_string(),
                },
                Ok(_) if final_stage || r.result.is_some() => RunStatus::Done,
                Ok(_) => RunStatus::Partial,
            };
            r.finished_ms = Some(now);
            r.totals = compute_totals(&r.calls);
        });
        if out.is_ok() && final_stage {
            self.observer.stage_changed(Phase::Finished);
        }
    }

    fn check_settings(&self) -> Result<(), PipelineError> {
        self.record
            .with(|r| r.settings.validate())
            .map_err(PipelineError::from)
    }

    fn settings(&self) -> RunSettings {
        self.record.with(|r| r.settings.clone())
    }

    fn item(&self) -> Item {
        self.record.with(|r| r.item.clone())
    }

    // ----- calls -----

    fn request(
        &self,
        settings: &RunSettings,
        model: &str,
        messages: Vec<Message>,
        dec: Decoding,
    ) -> ChatRequest {
        let mut req = ChatRequest::new(model, messages, dec.temperature, dec.max_tokens);
        if settings.send_seed {
            req.seed = Some(if settings.per_item_seed {
                self.record.with(|r| item_seed(settings.seed, r.item.id()))
            } else {
                settings.seed
            });
        }
        req
    }

    /// Make one call, recording it as it starts and finishes.
    async fn call(
        &self,
        model: &M,
        stage: Stage,
        sample: Option<u32>,
        attempt: u32,
        mut req: ChatRequest,
    ) -> Result<ChatResponse, ChatError> {
        req.raw = self
            .record
            .with(|r| r.settings.raw_completion.applies(stage));
        let started = self.clock.now_ms();
        let call = self.record.update(|r| {
            let id = u32::try_from(r.calls.len()).unwrap_or(u32::MAX);
            let call = CallRecord::started(id, stage, sample, req.clone(), started, attempt);
            r.calls.push(call.clone());
            r.totals = compute_totals(&r.calls);
            call
        });
        let id = call.id;
        self.observer.call_started(&call);
        let observer = self.observer;
        let mut on_delta = |text: &str| observer.delta(id, text);
        let result = model.chat(&req, &mut on_delta).await;
        let now = self.clock.now_ms();
        let finished = self.record.update(|r| {
            let c = r.calls.get_mut(id as usize)?;
            c.duration_ms = Some((now - c.started_ms).max(0.0));
            match &result {
                Ok(resp) => {
                    c.reply = Some(resp.text.clone());
                    c.more_replies = resp.more_texts.clone();
                    c.first_token_top_logprobs = resp.first_token_top_logprobs.clone();
                    c.first_token_letter_probs = resp.first_token_letter_probs.clone();
                    c.usage = resp.usage.clone();
                    c.finish_reason = resp.finish_reason.clone();
                    c.sent = resp.sent.clone();
                }
                Err(e) => c.error = Some(e.clone()),
            }
            let c = c.clone();
            r.totals = compute_totals(&r.calls);
            Some(c)
        });
        if let Some(c) = finished {
            self.observer.call_finished(&c);
        }
        result
    }

    /// One user-message call on the combine model, failures named by stage.
    async fn generate(
        &self,
        settings: &RunSettings,
        stage: Stage,
        prompt: String,
        dec: Decoding,
    ) -> Result<ChatResponse, PipelineError> {
        let req = self.request(
            settings,
            &settings.models.combine,
            vec![Message::user(prompt)],
            dec,
        );
        self.call(self.stages.combine, stage, None, 1, req)
            .await
            .map_err(|error| PipelineError::Call {
                stage: stage.label(),
                error,
            })
    }

    fn set_cleaned(&self, call_id: u32, cleaned: &str) {
        self.record.update(|r| {
            if let Some(c) = r.calls.get_mut(call_id as usize) {
                c.cleaned = Some(cleaned.to_string());
            }
        });
    }
}
