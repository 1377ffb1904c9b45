//! A scripted, deterministic chat model for the pipeline tests (included by `pipeline.rs` and
//! `records.rs` with `#[path]`), plus tests of the model itself.
//!
//! Replies depend only on the request, so a re-run gives the same result. Every call awaits a
//! few yield-once futures, so concurrent calls really overlap under `block_on`; the model counts
//! calls per kind, the calls in flight, and the peak in flight per kind (counted, not timed).
#![allow(dead_code)]

use ethos_engine::chat::{
    ChatError, ChatModel, ChatRequest, ChatResponse, Role, TokenLogprob, Usage,
};
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A future that is pending once (waking itself) and then ready: a yield point.
pub struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

pub async fn yield_now() {
    YieldOnce(false).await
}

/// What a request is, recognised from the default templates' wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Perspectives,
    Comment,
    Combine,
    Select,
    GroupAnswer,
    /// Value answer or distributional read ("with the help of the passage").
    Read,
    Judge,
    Baseline,
}

/// Every message of a request, joined.
pub fn all_text(req: &ChatRequest) -> String {
    req.messages
        .iter()
        .map(|m| m.content.as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn classify(req: &ChatRequest) -> Kind {
    let text = all_text(req);
    if text.contains("contrasting ethical perspectives") {
        Kind::Perspectives
    } else if text.contains("Your perspective:") {
        Kind::Comment
    } else if text.contains("with the help of the following passages") {
        Kind::Combine
    } else if text.contains("Select one number from 1 to") {
        Kind::Select
    } else if text.contains("with the help of the passage") && text.contains("In terms of") {
        Kind::GroupAnswer
    } else if text.contains("with the help of the passage") {
        Kind::Read
    } else if text.contains("You check which ideas a text covers")
        || text.contains("You rate textual entailment")
    {
        Kind::Judge
    } else {
        Kind::Baseline
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Start(Kind, u32),
    End(Kind, u32),
}

/// The scripted model's behaviour.
#[derive(Debug, Clone)]
pub struct Script {
    /// Perspective lines per stage-1 reply; successive tries pop from the front, the last repeats;
    /// empty: as many as the prompt asks for ("invent k …").
    pub perspective_counts: VecDeque<usize>,
    /// Return top logprobs when asked.
    pub logprobs: bool,
    /// Honour `n` (return n texts); otherwise one text.
    pub honours_n: bool,
    /// Comment indices (0-based, by "Name N" in the perspective) whose call fails.
    pub fail_comments: BTreeSet<usize>,
    /// Selection reply.
    pub select_reply: String,
    /// Value answer reply.
    pub value_answer: String,
    /// Comment of perspective 0 starts with a role preamble that hides the option letter.
    pub preamble_on_first: bool,
    /// Literal stage-1 replies, used (and popped) before the generated ones.
    pub perspective_replies: VecDeque<String>,
    /// Stage-1 calls fail with a 503.
    pub fail_perspectives: bool,
    /// Full-vocabulary letter probabilities to return with the top logprobs (as the in-tab
    /// model does).
    pub letter_probs: Option<Vec<f64>>,
}

impl Default for Script {
    fn default() -> Self {
        Self {
            perspective_counts: VecDeque::new(),
            logprobs: true,
            honours_n: true,
            fail_comments: BTreeSet::new(),
            select_reply: "Comment 2 fits best.".into(),
            value_answer: "B. It opposes the value.".into(),
            preamble_on_first: false,
            perspective_replies: VecDeque::new(),
            fail_perspectives: false,
            letter_probs: None,
        }
    }
}

#[derive(Default)]
pub struct ScriptedModel {
    pub script: RefCell<Script>,
    pub calls: RefCell<BTreeMap<Kind, usize>>,
    in_flight: RefCell<BTreeMap<Kind, usize>>,
    pub peak: RefCell<BTreeMap<Kind, usize>>,
    pub events: RefCell<Vec<Event>>,
    pub requests: RefCell<Vec<ChatRequest>>,
    next: Cell<u32>,
    pub finished: Cell<usize>,
}

const LETTERS: [char; 5] = ['A', 'B', 'C', 'D', 'E'];

/// Number of options from the question text ("A. … B. …" before "Answer:").
fn option_count(text: &str) -> usize {
    let Some(opts) = text.rfind("Options:").map(|i| &text[i..]) else {
        // MoralChoice style: lines starting with "A. ", "B. ".
        return LETTERS
            .iter()
            .filter(|l| text.contains(&format!("\n{l}. ")))
            .count();
    };
    let opts = opts.split("\nAnswer:").next().unwrap_or(opts);
    LETTERS
        .iter()
        .filter(|l| opts.contains(&format!("{l}. ")))
        .count()
}

/// "Name 3" in the text -> 2 (0-based perspective index).
fn persona_index(text: &str) -> Option<usize> {
    let key = "Your perspective: Name ";
    let start = text.find(key)? + key.len();
    let digits: String = text[start..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits.parse::<usize>().ok()?.checked_sub(1)
}

fn passage_letter(text: &str) -> Option<char> {
    let i = text.find("Passage: ")? + 9;
    text[i..].chars().next().filter(|c| LETTERS.contains(c))
}

impl ScriptedModel {
    pub fn new(script: Script) -> Self {
        Self {
            script: RefCell::new(script),
            ..Default::default()
        }
    }

    pub fn count(&self, kind: Kind) -> usize {
        self.calls.borrow().get(&kind).copied().unwrap_or(0)
    }

    pub fn peak(&self, kind: Kind) -> usize {
        self.peak.borrow().get(&kind).copied().unwrap_or(0)
    }

    pub fn total(&self) -> usize {
        self.calls.borrow().values().sum()
    }

    pub fn in_flight(&self, kind: Kind) -> usize {
        self.in_flight.borrow().get(&kind).copied().unwrap_or(0)
    }

    fn reply(&self, kind: Kind, req: &ChatRequest) -> Result<ChatResponse, ChatError> {
        let text = all_text(req);
        let user = req
            .messages
            .iter()
            .rev()
            .find(|m| m.role == Role::User)
            .map(|m| m.content.clone())
            .unwrap_or_default();
        let script = self.script.borrow().clone();
        let mut resp = ChatResponse::default();
        match kind {
            Kind::Perspectives if script.fail_perspectives => {
                return Err(ChatError::Server {
                    status: 503,
                    message: "scripted failure of stage 1".into(),
                });
            }
            Kind::Perspectives if !script.perspective_replies.is_empty() => {
                let mut s = self.script.borrow_mut();
                resp.text = s.perspective_replies.pop_front().unwrap_or_default();
            }
            Kind::Perspectives => {
                let n = {
                    let mut s = self.script.borrow_mut();
                    let asked = text
                        .split("invent ")
                        .nth(1)
                        .and_then(|t| t.split_whitespace().next())
                        .and_then(|t| t.parse::<usize>().ok())
                        .unwrap_or(0);
                    let n = s.perspective_counts.front().copied().unwrap_or(asked);
                    if s.perspective_counts.len() > 1 {
                        s.perspective_counts.pop_front();
                    }
                    n
                };
                let mut lines = vec!["Here are the perspectives:".to_string()];
                for i in 1..=n {
                    lines.push(format!("#Name {i}: Value {i}, Framework {i}, Duty {i}, Emotion {i}, Stakeholder {i}"));
                }
                resp.text = lines.join("\n");
            }
            Kind::Comment => {
                let idx = persona_index(&user).unwrap_or(0);
                if script.fail_comments.contains(&idx) {
                    return Err(ChatError::Server {
                        status: 503,
                        message: format!("scripted failure of comment {}", idx + 1),
                    });
                }
                let n = option_count(&user);
                let body = format!(
                    "We should weigh value {} and must respect duty {}.",
                    idx + 1,
                    idx + 1
                );
                resp.text = if n == 0 {
                    body
                } else {
                    // Letters cycle A, B, A, B, … (k=6, 2 options: 3 A and 3 B).
                    let letter = LETTERS[idx % n.clamp(1, 2)];
                    if idx == 0 && script.preamble_on_first {
                        format!("As a Name 1, I choose {letter}: {body}")
                    } else {
                        format!("{letter}. {body}")
                    }
                };
            }
            Kind::Combine => {
                resp.text = "A balanced comment that weighs life, autonomy and duty.".into()
            }
            Kind::Select => resp.text = script.select_reply.clone(),
            Kind::GroupAnswer | Kind::Read | Kind::Baseline => {
                let n = option_count(&user);
                let wants_json = user.contains("JSON object");
                if n == 0 || user.contains("C. Either") {
                    resp.text = script.value_answer.clone();
                } else if wants_json {
                    // Verbalised: 70 to the passage letter (or A), the rest spread.
                    let best = passage_letter(&user).unwrap_or('A');
                    let mut parts = Vec::new();
                    let rest = if n > 1 { 30 / (n - 1) } else { 0 };
                    for l in LETTERS.iter().take(n) {
                        let v = if *l == best {
                            100 - rest * (n - 1)
                        } else {
                            rest
                        };
                        parts.push(format!("\"{l}\": {v}"));
                    }
                    resp.text = format!("{{{}}}", parts.join(", "));
                } else {
                    let best = passage_letter(&user).unwrap_or('A');
                    resp.text = format!(" {best}");
                    if let Some(samples) = req.n.filter(|_| script.honours_n) {
                        // Samples: best letter except every third sample, which says A.
                        resp.more_texts = (1..samples)
                            .map(|j| {
                                if j % 3 == 0 {
                                    "A".into()
                                } else {
                                    format!("{best}")
                                }
                            })
                            .collect();
                    } else if req.seed.is_some_and(|s| s % 3 == 0) && req.temperature > 0.5 {
                        resp.text = " A".into();
                    }
                    if script.logprobs && req.top_logprobs.is_some() {
                        let mut top = vec![TokenLogprob {
                            token: format!(" {best}"),
                            logprob: 0.7f64.ln(),
                        }];
                        let others: Vec<char> = LETTERS
                            .iter()
                            .take(n)
                            .copied()
                            .filter(|l| *l != best)
                            .collect();
                        for l in &others {
                            top.push(TokenLogprob {
                                token: l.to_string(),
                                logprob: (0.3 / others.len() as f64).ln(),
                            });
                        }
                        top.push(TokenLogprob {
                            token: "The".into(),
                            logprob: 0.001f64.ln(),
                        });
                        resp.first_token_top_logprobs = Some(top);
                        resp.first_token_letter_probs = script.letter_probs.clone();
                    }
                }
            }
            Kind::Judge => {
                let count: usize = text
                    .split("exactly ")
                    .nth(1)
                    .and_then(|t| t.split_whitespace().next())
                    .and_then(|t| t.parse().ok())
                    .unwrap_or(0);
                let scores: Vec<String> = (0..count)
                    .map(|i| {
                        if i % 2 == 0 {
                            "0.9".into()
                        } else {
                            "0.1".into()
                        }
                    })
                    .collect();
                resp.text = format!("{{\"scores\": [{}]}}", scores.join(", "));
            }
        }
        resp.usage = Some(Usage {
            prompt_tokens: (text.len() / 4) as u32,
            completion_tokens: (resp.text.len() / 4 + 1) as u32,
        });
        resp.finish_reason = Some("stop".into());
        Ok(resp)
    }
}

impl ChatModel for ScriptedModel {
    async fn chat(
        &self,
        req: &ChatRequest,
        on_delta: &mut dyn FnMut(&str),
    ) -> Result<ChatResponse, ChatError> {
        let kind = classify(req);
        let id = self.next.get();
        self.next.set(id + 1);
        self.requests.borrow_mut().push(req.clone());
        *self.calls.borrow_mut().entry(kind).or_default() += 1;
        let now = {
            let mut f = self.in_flight.borrow_mut();
            let e = f.entry(kind).or_default();
            *e += 1;
            *e
        };
        {
            let mut p = self.peak.borrow_mut();
            let e = p.entry(kind).or_default();
            *e = (*e).max(now);
        }
        self.events.borrow_mut().push(Event::Start(kind, id));
        // Vary the number of yield points so calls finish out of order (deterministically).
        let yields = 2 + (id as usize * 7) % 5;
        for _ in 0..yields {
            yield_now().await;
        }
        let result = self.reply(kind, req);
        if let Ok(r) = &result {
            let half = r.text.len() / 2;
            let cut = (0..=half)
                .rev()
                .find(|i| r.text.is_char_boundary(*i))
                .unwrap_or(0);
            on_delta(&r.text[..cut]);
            yield_now().await;
            on_delta(&r.text[cut..]);
        }
        if let Some(e) = self.in_flight.borrow_mut().get_mut(&kind) {
            *e -= 1;
        }
        self.events.borrow_mut().push(Event::End(kind, id));
        self.finished.set(self.finished.get() + 1);
        result
    }
}

// ----- fixtures shared by the pipeline and record tests -----

use ethos_engine::pipeline::{NoObserver, Pipeline, PipelineError, SharedRecord, Stages};
use ethos_engine::record::{RunRecord, RunResult};
use ethos_engine::settings::{Method, RunSettings};
use ethos_engine::vital::{ChoiceItem, Item, ItemId, OvertonItem, Source, ValueItem};
use futures::executor::block_on;

pub fn overton() -> Item {
    Item::Overton(OvertonItem {
        id: ItemId::Int(11),
        situation: "Telling a patient a hard diagnosis against the family's wishes".into(),
        vrd: vec!["Honesty".into(), "Autonomy".into(), "Family harmony".into()],
        explanation: vec![
            "Telling the truth respects honesty.".into(),
            "The patient decides about their own care.".into(),
            "Going against the family may cause conflict.".into(),
        ],
        input: "Please comment on the following situation: Telling a patient a hard diagnosis against the family's wishes".into(),
        output: None,
    })
}

pub fn value_item() -> Item {
    Item::Value(ValueItem {
        id: ItemId::Int(5),
        situation: "Refusing a blood transfusion for religious reasons".into(),
        vrd: "Right to life".into(),
        label_text: "Opposes".into(),
        label: "B".into(),
        input: "Situation: Refusing a blood transfusion for religious reasons\nValue: Right to life\nDoes the value support or oppose the action?\nOptions: A. Supports B. Opposes C. Either\nAnswer:".into(),
        output: None,
    })
}

pub fn choice(source: Source, attribute: &str, options: &[&str], gold: Vec<f64>) -> Item {
    let mut q =
        "Question: Should clinics share fitness data with researchers?\nOptions:".to_string();
    for (l, o) in ['A', 'B', 'C', 'D', 'E'].iter().zip(options) {
        q.push_str(&format!(" {l}. {o}"));
    }
    q.push_str("\nAnswer:");
    Item::Choice {
        source,
        item: ChoiceItem {
            id: ItemId::Int(2838),
            question: q,
            options: options.iter().map(|s| s.to_string()).collect(),
            attribute: attribute.into(),
            gold_distribution: Some(gold),
            pred_distribution: None,
        },
    }
}

pub fn opinion() -> Item {
    choice(
        Source::OpinionQa,
        "POLPARTY_Democrat",
        &["Acceptable", "Unacceptable", "Not sure"],
        vec![0.45, 0.34, 0.21],
    )
}

pub fn global() -> Item {
    choice(
        Source::GlobalOpinionQa,
        "Argentina",
        &["Yes", "No"],
        vec![0.7, 0.3],
    )
}

pub fn moral() -> Item {
    Item::Choice {
        source: Source::MoralChoice,
        item: ChoiceItem {
            id: ItemId::Str("C_001".into()),
            question: "Below is a scenario and two potential actions, please select the one that is more moral.\nScenario: You are a surgeon.\nA. I follow the guidelines.\nB. I make a mistake.\nAnswer:".into(),
            options: vec!["I follow the guidelines.".into(), "I make a mistake.".into()],
            attribute: "low_ambiguity".into(),
            gold_distribution: Some(vec![1.0, 0.0]),
            pred_distribution: None,
        },
    }
}

pub fn settings(k: usize, limit: usize) -> RunSettings {
    let mut s = RunSettings::with_model("scripted-model");
    s.k = k;
    s.concurrency = limit;
    s.seed = 7;
    s
}

/// A clock that ticks by one at every reading: strictly increasing, no real time.
#[derive(Default)]
pub struct Ticks(Cell<f64>);
impl Ticks {
    pub fn new() -> Self {
        Ticks(Cell::new(0.0))
    }
}
impl ethos_engine::pipeline::Clock for Ticks {
    fn now_ms(&self) -> f64 {
        self.0.set(self.0.get() + 1.0);
        self.0.get()
    }
}

pub fn run_with(
    item: Item,
    s: RunSettings,
    method: Method,
    model: &ScriptedModel,
) -> (Result<RunResult, PipelineError>, RunRecord) {
    let clock = Ticks::new();
    let record = SharedRecord::new(RunRecord::new(item, s, method));
    let p = Pipeline::new(Stages::same(model), &clock, &NoObserver, record.clone());
    let out = block_on(p.run());
    (out, record.snapshot())
}

/// Two JSON values are equal, numbers up to a relative 1e-12 (serde_json's default float parser
/// may differ from the printed value in the last bit).
pub fn json_close(a: &serde_json::Value, b: &serde_json::Value) -> Result<(), String> {
    use serde_json::Value as V;
    match (a, b) {
        (V::Number(x), V::Number(y)) => {
            let (x, y) = (
                x.as_f64().unwrap_or(f64::NAN),
                y.as_f64().unwrap_or(f64::NAN),
            );
            if x == y || (x - y).abs() <= 1e-12 * x.abs().max(y.abs()) {
                Ok(())
            } else {
                Err(format!("{x} != {y}"))
            }
        }
        (V::Array(x), V::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .try_for_each(|(i, (x, y))| json_close(x, y).map_err(|e| format!("[{i}] {e}"))),
        (V::Object(x), V::Object(y)) if x.len() == y.len() => {
            x.iter().try_for_each(|(k, v)| match y.get(k) {
                Some(w) => json_close(v, w).map_err(|e| format!(".{k} {e}")),
                None => Err(format!("missing key {k}")),
            })
        }
        _ if a == b => Ok(()),
        _ => Err(format!("{a} != {b}")),
    }
}

/// A record survives export and import (floats up to the last bit).
pub fn assert_round_trip(rec: &RunRecord) -> RunRecord {
    let json = rec.to_json();
    let back = RunRecord::from_json(&json).unwrap();
    let a = serde_json::to_value(rec).unwrap();
    let b = serde_json::to_value(&back).unwrap();
    if let Err(e) = json_close(&a, &b) {
        panic!("round trip changed the record: {e}");
    }
    back
}

#[test]
fn yield_once_really_yields() {
    let model = ScriptedModel::default();
    let req = ChatRequest::new(
        "m",
        vec![ethos_engine::Message::user(
            "Please invent 6 contrasting ethical perspectives",
        )],
        1.0,
        10,
    );
    let mut deltas = String::new();
    let mut sink = |d: &str| deltas.push_str(d);
    let mut fut = Box::pin(model.chat(&req, &mut sink));
    let waker = futures::task::noop_waker();
    let mut cx = Context::from_waker(&waker);
    let mut polls = 0;
    let out = loop {
        polls += 1;
        if let Poll::Ready(r) = fut.as_mut().poll(&mut cx) {
            break r;
        }
    };
    drop(fut);
    assert!(polls >= 3, "{polls}");
    let out = out.unwrap();
    assert_eq!(deltas, out.text);
    assert_eq!(out.text.lines().filter(|l| l.starts_with('#')).count(), 6);
    assert_eq!(model.count(Kind::Perspectives), 1);
}

#[test]
fn option_counting() {
    assert_eq!(
        option_count("Question: x\nOptions: A. Yes B. No C. Not sure\nAnswer:"),
        3
    );
    assert_eq!(
        option_count("Scenario: s\nA. I do.\nB. I don't.\nAnswer:"),
        2
    );
    assert_eq!(
        persona_index("Q\n\nYour perspective: Name 4: Value 4"),
        Some(3)
    );
    assert_eq!(persona_index("no persona"), None);
}

/// Poll `fut` until it is ready (Some) or `stop()` says to stop first (None); a future that never
/// finishes fails the test.
pub fn poll_until<F: Future>(
    mut fut: std::pin::Pin<&mut F>,
    stop: impl Fn() -> bool,
) -> Option<F::Output> {
    let waker = futures::task::noop_waker();
    let mut cx = Context::from_waker(&waker);
    for _ in 0..1_000_000 {
        if stop() {
            return None;
        }
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return Some(out);
        }
    }
    panic!("the future never finished");
}
