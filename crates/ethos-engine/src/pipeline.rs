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

mod judge;

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

/// Strip a leading role preamble from the first line, as the reference does with the
/// case-insensitive pattern `^(As a|From the perspective|Speaking as).*?[:;]`. Returns the text
/// after the first `:` or `;` of the first line (trimmed at the start) and the removed preamble,
/// or the text unchanged and an empty preamble.
pub fn strip_preamble(text: &str) -> (String, String) {
    let t = text.trim_start();
    let first_line_end = t.find('\n').unwrap_or(t.len());
    let first = &t[..first_line_end];
    let lower = first.to_lowercase();
    let starts = ["as a", "from the perspective", "speaking as"]
        .iter()
        .any(|p| lower.starts_with(p));
    // `lower` is only used for the prefix test; positions are taken in the original line.
    if !starts {
        return (text.to_string(), String::new());
    }
    match first.find([':', ';']) {
        Some(pos) => {
            let preamble = &t[..=pos];
            (t[pos + 1..].trim_start().to_string(), preamble.to_string())
        }
        None => (text.to_string(), String::new()),
    }
}

/// A standalone option letter (not part of a word) in `text`, the last one found.
fn standalone_letter(text: &str, n_options: usize) -> Option<char> {
    let chars: Vec<char> = text.chars().collect();
    let allowed = &LETTERS[..n_options.min(LETTERS.len())];
    let mut found = None;
    for (i, c) in chars.iter().enumerate() {
        if !allowed.contains(c) {
            continue;
        }
        let before_ok = i == 0 || chars.get(i - 1).is_none_or(|b| !b.is_alphanumeric());
        let after_ok = chars
            .get(i + 1)
            .is_none_or(|a| !a.is_alphanumeric() && *a != '\'');
        if before_ok && after_ok {
            found = Some(*c);
        }
    }
    found
}

/// Clean a stage-2 reply: strip the role preamble and keep the option letter (multiple-choice
/// items). Returns (cleaned text, leading letter).
pub fn clean_comment(raw: &str, n_options: usize) -> (String, Option<char>) {
    let (cleaned, preamble) = strip_preamble(raw);
    if n_options == 0 {
        return (cleaned, None);
    }
    // When nothing was stripped, the comment's own leading letter; when a preamble was stripped
    // (it starts with "As a…", never with an option letter), the cleaned text's leading letter,
    // else the option letter named inside the preamble, put back in front.
    if let Some(l) = distribution::leading_letter(&cleaned, n_options) {
        return (cleaned, Some(l));
    }
    match standalone_letter(&preamble, n_options) {
        Some(l) if !preamble.is_empty() => (format!("{l}. {cleaned}"), Some(l)),
        _ => (cleaned, None),
    }
}

/// How many calls a run will make, per stage (spec/method.md, "Calls per item"), before it
/// starts: for a progress bar or a cost estimate. Assumes every stage-1 try succeeds at once and
/// that a sampling provider honours `n` (otherwise each read makes `n` calls).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CallPlan {
    pub perspectives: usize,
    pub comments: usize,
    pub stage3: usize,
    pub baseline: usize,
}

impl CallPlan {
    pub fn total(&self) -> usize {
        self.perspectives + self.comments + self.stage3 + self.baseline
    }
}

/// The planned calls for `item` under `settings` and `method` (k perspectives).
pub fn planned_calls(item: &Item, settings: &RunSettings, method: Method) -> CallPlan {
    if method != Method::EthosAgents {
        return CallPlan {
            baseline: 1,
            ..CallPlan::default()
        };
    }
    let k = settings.k;
    let votes = settings.distribution == DistSetting::Votes;
    let stage3 = match item.mode() {
        Mode::Overton => 1,
        Mode::SteerableValue => 2,
        Mode::SteerableGroup => {
            if votes {
                1
            } else {
                2
            }
        }
        Mode::Distributional => {
            if votes {
                0
            } else {
                k
            }
        }
    };
    CallPlan {
        perspectives: 1,
        comments: k,
        stage3,
        baseline: 0,
    }
}

/// splitmix64 step.
pub fn splitmix64(state: u64) -> u64 {
    let mut z = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// 64-bit FNV-1a.
pub(crate) fn fnv1a(text: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The JSON schema of a structured stage-1 reply: exactly k perspectives with the five dimensions.
pub fn perspectives_schema(k: usize) -> serde_json::Value {
    let field = serde_json::json!({"type": "string"});
    serde_json::json!({
        "type": "object",
        "properties": {
            "perspectives": {
                "type": "array",
                "minItems": k,
                "maxItems": k,
                "items": {
                    "type": "object",
                    "properties": {
                        "name": field, "core_value": field, "ethical_framework": field,
                        "right_duty": field, "emotion": field, "stakeholder": field
                    },
                    "required": ["name", "core_value", "ethical_framework", "right_duty", "emotion", "stakeholder"]
                }
            }
        },
        "required": ["perspectives"]
    })
}

/// The seed of one item's calls under `per_item_seed`: derived from the run seed and the item's
/// id, so every item (and every group copy of a question) gets its own, reproducibly.
pub fn item_seed(seed: u64, item: &ItemId) -> u64 {
    splitmix64(seed.wrapping_add(fnv1a(&format!("item-seed:{item}"))))
}

/// The seeded selection fallback: a comment index in 0..k from the seed and the item id
/// (deterministic; the reference picks at random).
pub fn fallback_index(seed: u64, item: &ItemId, k: usize) -> usize {
    if k == 0 {
        return 0;
    }
    (splitmix64(seed ^ fnv1a(&item.to_string())) % k as u64) as usize
}

/// Letters of `n` options, "A, B, C".
fn letters_list(n: usize) -> String {
    LETTERS
        .iter()
        .take(n)
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn verbalised_example(n: usize) -> String {
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
fn country_line(settings: &RunSettings, item: &Item) -> Result<String, TemplateError> {
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
fn with_system(settings: &RunSettings, system: &str, prompt: String) -> Vec<Message> {
    let system = system.trim();
    if system.is_empty() {
        vec![Message::user(prompt)]
    } else if settings.system_role {
        vec![Message::system(system), Message::user(prompt)]
    } else {
        vec![Message::user(format!("{system}\n\n{prompt}"))]
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
            let call = CallRecord {
                id,
                stage,
                sample,
                model: req.model.clone(),
                request: req.clone(),
                reply: None,
                more_replies: Vec::new(),
                cleaned: None,
                first_token_top_logprobs: None,
                first_token_letter_probs: None,
                usage: None,
                finish_reason: None,
                sent: None,
                started_ms: started,
                duration_ms: None,
                attempt,
                error: None,
            };
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

    // ----- stage 1 -----

    /// The stage-1 request: the perspectives template rendered for k and the item's input.
    fn perspectives_request(
        &self,
        settings: &RunSettings,
        item: &Item,
    ) -> Result<ChatRequest, PipelineError> {
        let k = settings.k;
        let prompt = render(
            &settings.templates.perspectives,
            &[("k", &k.to_string()), ("input", item.perspective_input())],
        )?;
        let mut dec = settings.decoding.perspectives;
        if item.mode() == Mode::Distributional {
            dec.max_tokens = settings.decoding.perspectives_max_tokens_distributional;
        }
        let messages = with_system(settings, &settings.templates.perspectives_system, prompt);
        let mut req = self.request(settings, &settings.models.perspectives, messages, dec);
        if settings.structured_perspectives {
            req.json_schema = Some(perspectives_schema(k));
        }
        Ok(req)
    }

    async fn perspectives_inner(&self) -> Result<Vec<Perspective>, PipelineError> {
        self.observer.stage_changed(Phase::Perspectives);
        let settings = self.settings();
        let item = self.item();
        let k = settings.k;
        let req = self.perspectives_request(&settings, &item)?;
        self.record.update(|r| {
            r.perspectives = Default::default();
            r.comments.clear();
            r.result = None;
        });
        let mut best: Vec<Perspective> = Vec::new();
        let mut failure: Option<ChatError> = None;
        let mut tries = 0;
        for attempt in 1..=settings.max_perspective_tries {
            tries = attempt;
            // A retry with the same seed would repeat the same reply: vary it per try.
            let mut req = req.clone();
            req.seed = req.seed.map(|s| s.wrapping_add(u64::from(attempt - 1)));
            match self
                .call(
                    self.stages.perspectives,
                    Stage::Perspectives,
                    None,
                    attempt,
                    req,
                )
                .await
            {
                Ok(resp) => {
                    let parsed = parse_perspectives(&resp.text, settings.reference_parsing);
                    self.record.update(|r| {
                        r.perspectives.raw.push(resp.text.clone());
                        r.perspectives.tries = attempt;
                    });
                    if parsed.len() > best.len() {
                        best = parsed;
                    }
                    if best.len() >= k {
                        break;
                    }
                }
                Err(e) => {
                    self.record.update(|r| r.perspectives.tries = attempt);
                    failure = Some(e);
                    break;
                }
            }
        }
        let mut trimmed = 0;
        if !settings.keep_extra && best.len() > k {
            trimmed = best.len() - k;
            best.truncate(k);
        }
        let got = best.len();
        let shortfall = (got < k).then(|| match &failure {
            Some(e) => format!("only {got} of {k} perspectives; the stage-1 call failed: {e}"),
            None => format!("only {got} of {k} perspectives could be read after {tries} tries"),
        });
        self.record.update(|r| {
            r.perspectives.perspectives = best.clone();
            r.perspectives.trimmed = trimmed;
            r.perspectives.shortfall = shortfall;
            r.comments = vec![None; best.len()];
        });
        self.observer.perspectives_ready(&best);
        if got < k {
            return Err(match failure {
                Some(error) if got == 0 => PipelineError::Call {
                    stage: Stage::Perspectives.label(),
                    error,
                },
                _ => PipelineError::TooFewPerspectives {
                    got,
                    wanted: k,
                    tries,
                },
            });
        }
        Ok(best)
    }

    async fn regenerate_inner(&self, index: usize) -> Result<Perspective, PipelineError> {
        let count = self.record.with(|r| r.perspectives.perspectives.len());
        if index >= count {
            return Err(PipelineError::NoSuchPerspective {
                number: index + 1,
                count,
            });
        }
        let settings = self.settings();
        let item = self.item();
        let mut req = self.perspectives_request(&settings, &item)?;
        // Stage-1 tries use seed, seed + 1, …: past every stage-1 call made so far is fresh.
        let earlier = self
            .record
            .with(|r| r.calls.iter().filter(|c| c.stage.number() == 1).count() as u64);
        req.seed = req.seed.map(|s| s.wrapping_add(earlier));
        self.observer.stage_changed(Phase::Perspectives);
        let stage = Stage::Regenerate(index);
        let resp = self
            .call(self.stages.perspectives, stage, None, 1, req)
            .await
            .map_err(|error| PipelineError::Call {
                stage: stage.label(),
                error,
            })?;
        let board = self.record.with(|r| r.perspectives.perspectives.clone());
        let chosen = choose_replacement(
            parse_perspectives(&resp.text, settings.reference_parsing),
            &board,
        )
        .ok_or(PipelineError::NoReplacement { number: index + 1 })?;
        let call_id = self.record.with(|r| r.calls_of(stage).last().map(|c| c.id));
        if let Some(id) = call_id {
            self.set_cleaned(id, &chosen.raw);
        }
        let all = self.record.update(|r| {
            r.replace_perspective(index, chosen.clone())
                .map(|()| r.perspectives.perspectives.clone())
                .map_err(|_| PipelineError::NoSuchPerspective {
                    number: index + 1,
                    count: r.perspectives.perspectives.len(),
                })
        })?;
        self.observer.perspectives_ready(&all);
        Ok(chosen)
    }

    // ----- stage 2 -----

    async fn comments_inner(&self, which: Option<&[usize]>) -> Result<(), PipelineError> {
        let settings = self.settings();
        let item = self.item();
        let perspectives = self.record.with(|r| r.perspectives.perspectives.clone());
        if perspectives.is_empty() {
            return Err(PipelineError::NoPerspectives);
        }
        let count = perspectives.len();
        let indices: Vec<usize> = match which {
            Some(list) => list.to_vec(),
            None => (0..count).collect(),
        };
        if let Some(&bad) = indices.iter().find(|&&i| i >= count) {
            return Err(PipelineError::NoSuchPerspective {
                number: bad + 1,
                count,
            });
        }
        // Render every prompt before the first call so a template error makes no call.
        let country = country_line(&settings, &item)?;
        let mut jobs = Vec::with_capacity(indices.len());
        for &i in &indices {
            let line = perspectives
                .get(i)
                .map(|p| p.raw.clone())
                .unwrap_or_default();
            let prompt = match &item {
                Item::Overton(o) => render(
                    &settings.templates.comment_overton,
                    &[
                        ("situation", o.situation.as_str()),
                        ("perspective", line.as_str()),
                    ],
                )?,
                Item::Value(v) => render(
                    &settings.templates.comment_choice,
                    &[
                        ("country_line", ""),
                        ("question", v.input.as_str()),
                        ("perspective", line.as_str()),
                    ],
                )?,
                Item::Choice { item: c, .. } => render(
                    &settings.templates.comment_choice,
                    &[
                        ("country_line", country.as_str()),
                        ("question", c.question.as_str()),
                        ("perspective", line.as_str()),
                    ],
                )?,
            };
            let messages = with_system(&settings, &settings.templates.comment_system, prompt);
            let req = self.request(
                &settings,
                &settings.models.comments,
                messages,
                settings.decoding.comments,
            );
            jobs.push((i, line, req));
        }
        self.record.update(|r| {
            if r.comments.len() != count {
                r.comments.resize(count, None);
            }
            for &i in &indices {
                if let Some(slot) = r.comments.get_mut(i) {
                    *slot = None;
                }
            }
            r.result = None;
        });
        self.observer.stage_changed(Phase::Comments);
        let n_options = item.options().len();
        let limit = settings.concurrency.max(1);
        let outcomes: Vec<(usize, Result<(), ChatError>)> =
            stream::iter(jobs)
                .map(|(i, line, req)| async move {
                    (i, self.comment_one(i, line, req, n_options).await)
                })
                .buffer_unordered(limit)
                .collect()
                .await;
        let mut failed: Vec<(usize, ChatError)> = outcomes
            .into_iter()
            .filter_map(|(i, r)| r.err().map(|e| (i, e)))
            .collect();
        failed.sort_unstable_by_key(|(i, _)| *i);
        if failed.is_empty() {
            Ok(())
        } else {
            Err(PipelineError::CommentsFailed {
                failed,
                total: indices.len(),
            })
        }
    }

    async fn comment_one(
        &self,
        index: usize,
        line: String,
        req: ChatRequest,
        n_options: usize,
    ) -> Result<(), ChatError> {
        let result = self
            .call(self.stages.comments, Stage::Comment(index), None, 1, req)
            .await;
        let call_id = self.record.with(|r| {
            r.calls
                .iter()
                .rev()
                .find(|c| c.stage == Stage::Comment(index))
                .map(|c| c.id)
        });
        let comment = match &result {
            Ok(resp) => {
                let (cleaned, letter) = clean_comment(&resp.text, n_options);
                if let Some(id) = call_id {
                    self.set_cleaned(id, &cleaned);
                }
                CommentRecord {
                    index,
                    perspective: line,
                    call_id,
                    raw: resp.text.clone(),
                    cleaned,
                    letter,
                    edited: false,
                    error: None,
                }
            }
            Err(e) => CommentRecord {
                index,
                perspective: line,
                call_id,
                raw: String::new(),
                cleaned: String::new(),
                letter: None,
                edited: false,
                error: Some(e.clone()),
            },
        };
        self.record.update(|r| {
            if let Some(slot) = r.comments.get_mut(index) {
                *slot = Some(comment.clone());
            }
        });
        self.observer.comment_ready(&comment);
        result.map(|_| ())
    }

    // ----- stage 3 -----

    async fn combine_inner(&self) -> Result<RunResult, PipelineError> {
        let settings = self.settings();
        let item = self.item();
        let (comments, missing) = self.record.with(|r| {
            let missing: Vec<usize> = (0..r.perspectives.perspectives.len())
                .filter(|&i| {
                    !r.comments
                        .get(i)
                        .and_then(|c| c.as_ref())
                        .is_some_and(|c| c.is_ok())
                })
                .collect();
            (
                r.ok_comments().into_iter().cloned().collect::<Vec<_>>(),
                missing,
            )
        });
        if comments.is_empty() && missing.is_empty() {
            return Err(PipelineError::NoPerspectives);
        }
        if !missing.is_empty() {
            return Err(PipelineError::CommentsMissing { indices: missing });
        }
        self.observer.stage_changed(Phase::Combine);
        let result = match &item {
            Item::Overton(o) => {
                let mut passages = Vec::with_capacity(comments.len());
                for (n, c) in comments.iter().enumerate() {
                    passages.push(render(
                        &settings.templates.passage_item,
                        &[("n", &(n + 1).to_string()), ("text", c.cleaned.as_str())],
                    )?);
                }
                let prompt = render(
                    &settings.templates.combine_overton,
                    &[
                        ("situation", o.situation.as_str()),
                        ("passages", &passages.join("\n\n")),
                        ("k", &comments.len().to_string()),
                    ],
                )?;
                let resp = self
                    .generate(&settings, Stage::Combine, prompt, settings.decoding.overton)
                    .await?;
                RunResult::Overton(OvertonResult {
                    text: resp.text,
                    coverage: None,
                })
            }
            Item::Value(v) => {
                let list = self.comment_list(&settings, &comments)?;
                let prompt = render(
                    &settings.templates.select_value,
                    &[
                        ("situation", v.situation.as_str()),
                        ("value", v.vrd.as_str()),
                        ("comments", list.as_str()),
                        ("k", &comments.len().to_string()),
                    ],
                )?;
                let (selection, passage) = self.select(&settings, &item, prompt, &comments).await?;
                let prompt = render(
                    &settings.templates.answer_value,
                    &[
                        ("passage", passage.as_str()),
                        ("input", v.input.as_str()),
                        ("value", v.vrd.as_str()),
                    ],
                )?;
                let resp = self
                    .generate(&settings, Stage::Answer, prompt, settings.decoding.short)
                    .await?;
                RunResult::Value(value_result(Some(selection), resp.text, &v.label))
            }
            Item::Choice {
                source: Source::OpinionQa,
                item: c,
            } => {
                let (category, group) = split_attribute(&c.attribute);
                let list = self.comment_list(&settings, &comments)?;
                let prompt = render(
                    &settings.templates.select_group,
                    &[
                        ("stem", question_stem(&c.question)),
                        ("question", c.question.as_str()),
                        ("category", category.as_str()),
                        ("group", group.as_str()),
                        ("comments", list.as_str()),
                        ("k", &comments.len().to_string()),
                    ],
                )?;
                let (selection, passage) = self.select(&settings, &item, prompt, &comments).await?;
                let prompt = render(
                    &settings.templates.answer_group,
                    &[
                        ("category", category.as_str()),
                        ("group", group.as_str()),
                        ("passage", passage.as_str()),
                        ("question", c.question.as_str()),
                    ],
                )?;
                let n = c.options.len();
                let letters: Vec<Option<char>> = comments.iter().map(|c| c.letter).collect();
                let (dist, text, note) = if settings.distribution == DistSetting::Votes {
                    (
                        distribution::from_votes(&letters, n),
                        None,
                        Some("votes of the comments' leading letters".to_string()),
                    )
                } else {
                    let out = self
                        .read(&settings, Stage::Answer, prompt.clone(), n)
                        .await
                        .map_err(|error| PipelineError::Call {
                            stage: Stage::Answer.label(),
                            error,
                        })?;
                    match out.dist {
                        Some(d) => (d, Some(out.text), out.note),
                        None => {
                            // Votes of every comment would ignore the selection (and the
                            // group): sample answers with the selected comment as passage.
                            let samples = settings.fallback_samples;
                            let s = self
                                .sample(&settings, Stage::Answer, prompt, n, samples)
                                .await
                                .map_err(|error| PipelineError::Call {
                                    stage: Stage::Answer.label(),
                                    error,
                                })?;
                            let why = format!("the provider returned no logprobs: sampled {samples} answers with the selected comment as passage");
                            let note = match s.note {
                                Some(more) => format!("{why}; {more}"),
                                None => why,
                            };
                            let d = s
                                .dist
                                .unwrap_or_else(|| distribution::uniform(n, DistMethod::Sampling));
                            (d, Some(out.text), Some(note))
                        }
                    }
                };
                let mut r = dist_result(
                    item.gold_distribution(),
                    vec![Some(dist.clone())],
                    dist.probs.clone(),
                    dist.method,
                    note,
                );
                r.selection = Some(selection);
                r.answer = text;
                RunResult::Distribution(r)
            }
            Item::Choice { item: c, .. } => {
                let n = c.options.len();
                let letters: Vec<Option<char>> = comments.iter().map(|c| c.letter).collect();
                let votes = |note: String| {
                    let per: Vec<Option<Distribution>> = letters
                        .iter()
                        .map(|l| Some(distribution::from_votes(&[*l], n)))
                        .collect();
                    let d = distribution::from_votes(&letters, n);
                    dist_result(
                        item.gold_distribution(),
                        per,
                        d.probs,
                        DistMethod::Votes,
                        Some(note),
                    )
                };
                if settings.distribution == DistSetting::Votes {
                    RunResult::Distribution(votes(
                        "votes of the comments' leading letters (no read calls)".into(),
                    ))
                } else {
                    let country = country_line(&settings, &item)?;
                    let mut jobs = Vec::with_capacity(comments.len());
                    for (j, cm) in comments.iter().enumerate() {
                        let prompt = render(
                            &settings.templates.read,
                            &[
                                ("country_line", country.as_str()),
                                ("passage", cm.cleaned.as_str()),
                                ("question", c.question.as_str()),
                            ],
                        )?;
                        jobs.push((j, prompt));
                    }
                    let total = jobs.len();
                    let settings_ref = &settings;
                    let mut outcomes: Vec<(usize, Result<ReadOutcome, ChatError>)> =
                        stream::iter(jobs)
                            .map(|(j, prompt)| async move {
                                (j, self.read(settings_ref, Stage::Read(j), prompt, n).await)
                            })
                            .buffer_unordered(settings.concurrency.max(1))
                            .collect()
                            .await;
                    outcomes.sort_unstable_by_key(|(j, _)| *j);
                    let mut failed = Vec::new();
                    let mut reads = Vec::new();
                    for (j, o) in outcomes {
                        match o {
                            Ok(o) => reads.push(o),
                            Err(e) => failed.push((j, e)),
                        }
                    }
                    if !failed.is_empty() {
                        return Err(PipelineError::ReadsFailed { failed, total });
                    }
                    let missing = reads.iter().filter(|o| o.dist.is_none()).count();
                    if missing > 0 {
                        RunResult::Distribution(votes(format!(
                            "the provider returned no logprobs for {missing} of {total} reads: used the votes of the comments' leading letters"
                        )))
                    } else {
                        let per: Vec<Option<Distribution>> =
                            reads.iter().map(|o| o.dist.clone()).collect();
                        let probs: Vec<Vec<f64>> =
                            per.iter().flatten().map(|d| d.probs.clone()).collect();
                        let method = per
                            .iter()
                            .flatten()
                            .next()
                            .map(|d| d.method)
                            .unwrap_or(DistMethod::Logprobs);
                        let notes: Vec<String> =
                            reads.iter().filter_map(|o| o.note.clone()).collect();
                        let uniform = per.iter().flatten().filter(|d| d.uniform_fallback).count();
                        let mut note = notes.first().cloned();
                        if uniform > 0 {
                            note = Some(format!(
                                "{uniform} of {total} reads found no option letter and count as uniform{}",
                                note.map(|n| format!("; {n}")).unwrap_or_default()
                            ));
                        }
                        let mean = distribution::mean(&probs);
                        let mean = if mean.len() == n {
                            mean
                        } else {
                            distribution::uniform(n, method).probs
                        };
                        RunResult::Distribution(dist_result(
                            item.gold_distribution(),
                            per,
                            mean,
                            method,
                            note,
                        ))
                    }
                }
            }
        };
        self.finish(result)
    }

    fn comment_list(
        &self,
        settings: &RunSettings,
        comments: &[CommentRecord],
    ) -> Result<String, PipelineError> {
        let mut items = Vec::with_capacity(comments.len());
        for (n, c) in comments.iter().enumerate() {
            items.push(render(
                &settings.templates.comment_item,
                &[("n", &(n + 1).to_string()), ("text", c.cleaned.as_str())],
            )?);
        }
        Ok(items.join("\n\n"))
    }

    /// The selection call and its reference parse, with the seeded fallback; returns the
    /// selection and the chosen comment's text (the passage for the answer).
    async fn select(
        &self,
        settings: &RunSettings,
        item: &Item,
        prompt: String,
        comments: &[CommentRecord],
    ) -> Result<(Selection, String), PipelineError> {
        let k = comments.len();
        let resp = self
            .generate(settings, Stage::Select, prompt, settings.decoding.short)
            .await?;
        let selection = match answer::parse_selection(&resp.text, k).filter(|&i| i < k) {
            Some(index) => Selection {
                index,
                reply: resp.text,
                fallback: false,
            },
            None => Selection {
                index: fallback_index(settings.seed, item.id(), k),
                reply: resp.text,
                fallback: true,
            },
        };
        let passage = comments
            .get(selection.index)
            .map(|c| c.cleaned.clone())
            .unwrap_or_default();
        Ok((selection, passage))
    }

    /// `samples` answers sampled from `prompt` (one request with `n` where the provider honours
    /// it, else one call per missing sample, each with its own seed); the letter frequencies.
    async fn sample(
        &self,
        settings: &RunSettings,
        stage: Stage,
        prompt: String,
        n: usize,
        samples: u32,
    ) -> Result<ReadOutcome, ChatError> {
        let model = &settings.models.combine;
        let dec = Decoding::new(
            settings.decoding.sampling_temperature,
            settings.decoding.short.max_tokens,
        );
        let mut req = self.request(settings, model, vec![Message::user(prompt)], dec);
        if samples > 1 {
            req.n = Some(samples);
        }
        let resp = self
            .call(self.stages.combine, stage, None, 1, req.clone())
            .await?;
        let mut texts = vec![resp.text.clone()];
        texts.extend(resp.more_texts.iter().cloned());
        let mut note = None;
        if (texts.len() as u32) < samples {
            note = Some(format!(
                "the provider returned {} of {samples} samples per request: sampled the rest one call at a time",
                texts.len()
            ));
            req.n = None;
            let mut j = texts.len() as u32;
            while (texts.len() as u32) < samples {
                let mut r = req.clone();
                if let Some(seed) = r.seed {
                    r.seed = Some(seed.wrapping_add(u64::from(j)));
                }
                let resp = self
                    .call(self.stages.combine, stage, Some(j + 1), 1, r)
                    .await?;
                texts.push(resp.text);
                j += 1;
            }
        }
        texts.truncate(samples as usize);
        Ok(ReadOutcome {
            dist: Some(distribution::from_samples(&texts, n)),
            text: resp.text,
            note,
        })
    }

    /// One distribution read by the configured method. Votes are decided by the caller.
    async fn read(
        &self,
        settings: &RunSettings,
        stage: Stage,
        prompt: String,
        n: usize,
    ) -> Result<ReadOutcome, ChatError> {
        let model = &settings.models.combine;
        match settings.distribution {
            DistSetting::Auto | DistSetting::Logprobs | DistSetting::Votes => {
                let mut req = self.request(
                    settings,
                    model,
                    vec![Message::user(prompt)],
                    settings.decoding.short,
                );
                if settings.distribution != DistSetting::Votes {
                    req.top_logprobs = Some(settings.top_logprobs);
                }
                let resp = self.call(self.stages.combine, stage, None, 1, req).await?;
                let exact = resp
                    .first_token_letter_probs
                    .as_deref()
                    .filter(|_| settings.distribution != DistSetting::Votes);
                if let Some(raw) = exact {
                    return Ok(ReadOutcome {
                        dist: Some(distribution::from_letter_probs(raw, n)),
                        text: resp.text,
                        note: Some(EXACT_READ_NOTE.into()),
                    });
                }
                match resp.first_token_top_logprobs.as_deref() {
                    Some(top) if !top.is_empty() => Ok(ReadOutcome {
                        dist: Some(distribution::from_top_logprobs(top, n)),
                        text: resp.text,
                        note: None,
                    }),
                    _ if settings.distribution == DistSetting::Logprobs => Ok(ReadOutcome {
                        dist: Some(distribution::uniform(n, DistMethod::Logprobs)),
                        text: resp.text,
                        note: Some("the provider returned no logprobs: uniform".into()),
                    }),
                    _ => Ok(ReadOutcome {
                        dist: None,
                        text: resp.text,
                        note: None,
                    }),
                }
            }
            DistSetting::Sampling { n: samples } => {
                self.sample(settings, stage, prompt, n, samples).await
            }
            DistSetting::Verbalised => {
                let prompt = render(
                    &settings.templates.verbalised,
                    &[
                        ("prompt", prompt.as_str()),
                        ("letters", &letters_list(n)),
                        ("example", &verbalised_example(n)),
                    ],
                )
                .map_err(|e| ChatError::Other(format!("verbalised template: {e}")))?;
                let req = self.request(
                    settings,
                    model,
                    vec![Message::user(prompt)],
                    settings.decoding.verbalised,
                );
                let resp = self.call(self.stages.combine, stage, None, 1, req).await?;
                Ok(match distribution::from_verbalised(&resp.text, n) {
                    Ok(d) => ReadOutcome {
                        dist: Some(d),
                        text: resp.text,
                        note: None,
                    },
                    Err(e) => ReadOutcome {
                        dist: Some(distribution::uniform(n, DistMethod::Verbalised)),
                        text: resp.text,
                        note: Some(format!(
                            "a verbalised reply could not be read ({e}): uniform"
                        )),
                    },
                })
            }
        }
    }

    fn finish(&self, result: RunResult) -> Result<RunResult, PipelineError> {
        self.record.update(|r| r.result = Some(result.clone()));
        self.observer.result(&result);
        Ok(result)
    }

    // ----- baselines -----

    async fn baseline_inner(&self, method: Method) -> Result<RunResult, PipelineError> {
        if method == Method::EthosAgents {
            return Err(PipelineError::NotApplicable(
                "EthosAgents is not a baseline: use run_item".into(),
            ));
        }
        self.observer.stage_changed(Phase::Baseline);
        let settings = self.settings();
        let item = self.item();
        let t = &settings.templates;
        let vanilla = method == Method::Vanilla;
        let result = match &item {
            Item::Overton(o) => {
                let tpl = if vanilla {
                    &t.vanilla
                } else {
                    &t.prompting_overton
                };
                let prompt = render(tpl, &[("input", o.input.as_str())])?;
                let resp = self
                    .generate(
                        &settings,
                        Stage::Baseline,
                        prompt,
                        settings.decoding.overton,
                    )
                    .await?;
                RunResult::Overton(OvertonResult {
                    text: resp.text,
                    coverage: None,
                })
            }
            Item::Value(v) => {
                let prompt = if vanilla {
                    render(&t.vanilla, &[("input", v.input.as_str())])?
                } else {
                    render(
                        &t.prompting_value,
                        &[("input", v.input.as_str()), ("value", v.vrd.as_str())],
                    )?
                };
                let resp = self
                    .generate(&settings, Stage::Baseline, prompt, settings.decoding.short)
                    .await?;
                RunResult::Value(value_result(None, resp.text, &v.label))
            }
            Item::Choice { source, item: c } => {
                let input = c.question.as_str();
                let prompt = if vanilla {
                    render(&t.vanilla, &[("input", input)])?
                } else {
                    match source {
                        Source::OpinionQa => {
                            let (category, group) = split_attribute(&c.attribute);
                            render(
                                &t.prompting_group,
                                &[
                                    ("category", category.as_str()),
                                    ("group", group.as_str()),
                                    ("input", input),
                                ],
                            )?
                        }
                        Source::GlobalOpinionQa => render(
                            &t.prompting_country,
                            &[("country", c.attribute.as_str()), ("input", input)],
                        )?,
                        _ => render(&t.prompting_distribution, &[("input", input)])?,
                    }
                };
                let n = c.options.len();
                let samples = settings.fallback_samples;
                let failed = |error| PipelineError::Call {
                    stage: Stage::Baseline.label(),
                    error,
                };
                // Under votes a baseline has no comments to vote: it samples answers, as it does
                // when the provider gives no logprobs (not one answer's letter, which would
                // compare a one-hot guess with EthosAgents' k-vote histogram).
                let votes = settings.distribution == DistSetting::Votes;
                let out = if votes {
                    None
                } else {
                    Some(
                        self.read(&settings, Stage::Baseline, prompt.clone(), n)
                            .await
                            .map_err(failed)?,
                    )
                };
                let (dist, note, text) = match out {
                    Some(ReadOutcome {
                        dist: Some(d),
                        note,
                        text,
                    }) => (d, note, text),
                    out => {
                        let s = self
                            .sample(&settings, Stage::Baseline, prompt, n, samples)
                            .await
                            .map_err(failed)?;
                        let why = if votes {
                            "a baseline has no comments to vote"
                        } else {
                            "the provider returned no logprobs"
                        };
                        let mut note = format!("{why}: sampled {samples} answers");
                        if let Some(more) = s.note {
                            note = format!("{note}; {more}");
                        }
                        let d = s
                            .dist
                            .unwrap_or_else(|| distribution::uniform(n, DistMethod::Sampling));
                        (d, Some(note), out.map_or(s.text, |o| o.text))
                    }
                };
                let mut r = dist_result(
                    item.gold_distribution(),
                    vec![Some(dist.clone())],
                    dist.probs.clone(),
                    dist.method,
                    note,
                );
                r.answer = Some(text);
                RunResult::Distribution(r)
            }
        };
        self.finish(result)
    }
}

/// The perspective that replaces a regenerated one, from the perspectives parsed from its
/// stage-1 reply: the first whose name is not on the board (`board` holds every perspective,
/// the one being replaced included, so the new one differs from it), else the first. Names
/// compare case- and space-insensitively; a candidate with no text is skipped. None when the
/// reply held no usable perspective.
pub fn choose_replacement(
    candidates: Vec<Perspective>,
    board: &[Perspective],
) -> Option<Perspective> {
    let taken: Vec<String> = board.iter().map(|p| name_key(&p.name)).collect();
    let mut usable = candidates
        .into_iter()
        .filter(|p| !p.raw.trim().is_empty())
        .peekable();
    let first = usable.peek().cloned();
    usable
        .find(|p| {
            let key = name_key(&p.name);
            !key.is_empty() && !taken.contains(&key)
        })
        .or(first)
}

/// A perspective name for comparisons: lower case, words separated by one space.
fn name_key(name: &str) -> String {
    name.split_whitespace()
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Perspectives from a stage-1 reply. Reference parsing: exactly the reference's lines (those
/// whose first character is `#`, text after it trimmed), each split into fields for display
/// only. Otherwise the tolerant parser, or the reference `#` lines when they give more.
fn parse_perspectives(text: &str, reference: bool) -> Vec<Perspective> {
    if reference {
        return persona::reference_lines(text)
            .iter()
            .map(|l| persona::split_fields(l))
            .collect();
    }
    let tolerant = persona::parse_perspectives(text);
    let reference = persona::reference_lines(text);
    if reference.len() > tolerant.len() {
        reference
            .iter()
            .filter(|l| !l.is_empty())
            .map(|l| persona::split_fields(l))
            .collect()
    } else {
        tolerant
    }
}

fn value_result(selection: Option<Selection>, answer_text: String, gold: &str) -> ValueResult {
    let letter_reference = answer::parse_reference(&answer_text);
    let letter_strict = answer::parse_strict(&answer_text);
    let gold_letter = gold.trim().chars().next();
    ValueResult {
        selection,
        correct_reference: letter_reference.is_some() && letter_reference == gold_letter,
        correct_strict: letter_strict.is_some() && letter_strict == gold_letter,
        answer: answer_text,
        letter_reference,
        letter_strict,
        gold: gold.trim().to_string(),
    }
}

fn dist_result(
    gold: Option<&[f64]>,
    per_read: Vec<Option<Distribution>>,
    distribution: Vec<f64>,
    method: DistMethod,
    note: Option<String>,
) -> DistResult {
    let (js, argmax_match) = match gold {
        Some(g) if g.len() == distribution.len() && !g.is_empty() => (
            Some(metrics::js_distance(g, &distribution)),
            Some(metrics::argmax_first(g) == metrics::argmax_first(&distribution)),
        ),
        _ => (None, None),
    };
    DistResult {
        selection: None,
        answer: None,
        per_read,
        distribution,
        method,
        note,
        js,
        argmax_match,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preamble() {
        assert_eq!(strip_preamble("As a nurse: care first.").0, "care first.");
        assert_eq!(
            strip_preamble("  speaking AS the family; we must.").0,
            "we must."
        );
        assert_eq!(
            strip_preamble("From the perspective of X, Y: z\nmore").0,
            "z\nmore"
        );
        assert_eq!(
            strip_preamble("As a nurse, I think\nthat: x").0,
            "As a nurse, I think\nthat: x"
        );
        assert_eq!(strip_preamble("B. As a nurse: no").0, "B. As a nurse: no");
        assert_eq!(strip_preamble("Asking: no").0, "Asking: no");
    }

    #[test]
    fn fallback_is_deterministic_and_in_range() {
        let id = ItemId::Int(7);
        for k in 1..10 {
            let a = fallback_index(42, &id, k);
            assert!(a < k);
            assert_eq!(a, fallback_index(42, &id, k));
        }
        let picks: std::collections::HashSet<usize> =
            (0..50).map(|s| fallback_index(s, &id, 6)).collect();
        assert!(picks.len() > 3, "{picks:?}");
    }

    fn named(name: &str) -> Perspective {
        persona::split_fields(&format!(
            "{name}: value, framework, duty, emotion, stakeholder"
        ))
    }

    #[test]
    fn replacement_is_the_first_name_not_on_the_board() {
        let board = [named("Patient Advocate"), named("Hospital Manager")];
        let reply = vec![
            named("patient  ADVOCATE"),
            named("Hospital Manager"),
            named("Ethics Officer"),
            named("Family Carer"),
        ];
        let got = choose_replacement(reply, &board).map(|p| p.name);
        assert_eq!(got.as_deref(), Some("Ethics Officer"));
    }

    #[test]
    fn replacement_falls_back_to_the_first_usable_one() {
        let board = [named("A"), named("B")];
        let blank = Perspective::default();
        let got = choose_replacement(vec![blank.clone(), named("B"), named("A")], &board);
        assert_eq!(got.map(|p| p.name).as_deref(), Some("B"));
        assert_eq!(choose_replacement(vec![blank], &board), None);
        assert_eq!(choose_replacement(Vec::new(), &board), None);
        // A blank card on the board takes no name.
        let got = choose_replacement(vec![named("C")], &[Perspective::default()]);
        assert_eq!(got.map(|p| p.name).as_deref(), Some("C"));
    }

    #[test]
    fn standalone() {
        assert_eq!(standalone_letter("As a nurse, I choose B", 3), Some('B'));
        assert_eq!(standalone_letter("As a nurse", 3), None);
    }
}
