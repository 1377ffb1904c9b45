//! Run settings: every decision that changes the numbers (spec/method.md, "Decisions that change
//! the numbers") is an explicit, serialisable, recorded setting.

use crate::template::{TemplateError, Templates};
use serde::{Deserialize, Serialize};

/// What produces the answer for an item: the EthosAgents pipeline or one of the two baselines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Perspectives -> comments -> combine.
    EthosAgents,
    /// The item's input (or question) alone.
    Vanilla,
    /// The same with a steering sentence in front.
    Prompting,
}

impl Method {
    pub fn label(self) -> &'static str {
        match self {
            Method::EthosAgents => "EthosAgents",
            Method::Vanilla => "Vanilla",
            Method::Prompting => "Prompting",
        }
    }
    /// The method's id in file names, exports and on the command line.
    pub fn id(self) -> &'static str {
        match self {
            Method::EthosAgents => "ethosagents",
            Method::Vanilla => "vanilla",
            Method::Prompting => "prompting",
        }
    }
    /// A method from its id (any case, spaces around ignored; "ethos" also names EthosAgents).
    pub fn from_id(id: &str) -> Option<Method> {
        match id.trim().to_ascii_lowercase().as_str() {
            "ethosagents" | "ethos" => Some(Method::EthosAgents),
            "vanilla" => Some(Method::Vanilla),
            "prompting" => Some(Method::Prompting),
            _ => None,
        }
    }
}

/// The model name used for each stage (the provider decides what a name means).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageModels {
    pub perspectives: String,
    pub comments: String,
    /// Stage 3 (combine, selection, answers, distribution reads) and the baselines.
    pub combine: String,
    /// The LLM judge for Overton coverage; `None` means the combine model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge: Option<String>,
}

impl StageModels {
    /// One model for all stages.
    pub fn all(name: impl Into<String>) -> Self {
        let name = name.into();
        Self {
            perspectives: name.clone(),
            comments: name.clone(),
            combine: name,
            judge: None,
        }
    }

    /// Whether every stage uses the same model.
    pub fn is_single(&self) -> bool {
        self.perspectives == self.comments
            && self.comments == self.combine
            && self.judge.as_ref().is_none_or(|j| *j == self.combine)
    }

    pub fn judge_model(&self) -> &str {
        self.judge.as_deref().unwrap_or(&self.combine)
    }
}

impl Default for StageModels {
    fn default() -> Self {
        Self::all("")
    }
}

/// Temperature and output-token cap of one kind of call.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Decoding {
    pub temperature: f64,
    pub max_tokens: u32,
}

impl Decoding {
    pub const fn new(temperature: f64, max_tokens: u32) -> Self {
        Self {
            temperature,
            max_tokens,
        }
    }
}

/// Decoding per stage, with the reference values as defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StageDecoding {
    /// Stage 1: reference 1.0 / 450.
    pub perspectives: Decoding,
    /// Stage 1 output cap for distributional items (MoralChoice, GlobalOpinionQA): reference 500.
    pub perspectives_max_tokens_distributional: u32,
    /// Stage 2: reference 1.0 / 200.
    pub comments: Decoding,
    /// Stage 3 Overton combine and the Overton baselines: reference 0.1 / 200.
    pub overton: Decoding,
    /// Stage 3 short generations (selection, answers, distribution reads) and the multiple-choice
    /// baselines: reference 0.1 / 20.
    pub short: Decoding,
    /// Temperature of the answers sampled by the sampling distribution method.
    pub sampling_temperature: f64,
    /// Verbalised distributions (JSON percentages).
    pub verbalised: Decoding,
    /// LLM-judge coverage calls.
    pub judge: Decoding,
}

impl Default for StageDecoding {
    fn default() -> Self {
        Self {
            perspectives: Decoding::new(1.0, 450),
            perspectives_max_tokens_distributional: 500,
            comments: Decoding::new(1.0, 200),
            overton: Decoding::new(0.1, 200),
            short: Decoding::new(0.1, 20),
            sampling_temperature: 1.0,
            verbalised: Decoding::new(0.1, 120),
            judge: Decoding::new(0.0, 600),
        }
    }
}

/// How option distributions are read (spec/method.md, "Reading an option distribution").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum DistSetting {
    /// Ask for logprobs; when the provider returns none: distributional items use the comments'
    /// votes (the whole item, never mixed with logprob reads), the OpinionQA answer and the
    /// baselines sample `fallback_samples` answers (recorded).
    Auto,
    /// Next-token top-logprobs only (the reference); uniform where none came back.
    Logprobs,
    /// The option letters the k comments start with; no stage-3 read calls are made.
    Votes,
    /// `n` sampled answers per read, letter frequencies.
    Sampling { n: u32 },
    /// The model states percentages as JSON.
    Verbalised,
}

impl DistSetting {
    pub fn label(self) -> String {
        match self {
            DistSetting::Auto => "auto (logprobs, else votes or sampling)".into(),
            DistSetting::Logprobs => "logprobs".into(),
            DistSetting::Votes => "votes".into(),
            DistSetting::Sampling { n } => format!("sampling (n = {n})"),
            DistSetting::Verbalised => "verbalised".into(),
        }
    }
    /// The setting's id (the app's select, the command line's `--dist`).
    pub fn id(self) -> &'static str {
        match self {
            DistSetting::Auto => "auto",
            DistSetting::Logprobs => "logprobs",
            DistSetting::Votes => "votes",
            DistSetting::Sampling { .. } => "sampling",
            DistSetting::Verbalised => "verbalised",
        }
    }
    /// A setting from its id (any case; "verbalized" too); `samples` is n for sampling.
    pub fn from_id(id: &str, samples: u32) -> Option<DistSetting> {
        Some(match id.trim().to_ascii_lowercase().as_str() {
            "auto" => DistSetting::Auto,
            "logprobs" => DistSetting::Logprobs,
            "votes" => DistSetting::Votes,
            "sampling" => DistSetting::Sampling { n: samples },
            "verbalised" | "verbalized" => DistSetting::Verbalised,
            _ => return None,
        })
    }
}

/// How the Overton LLM judge estimates value coverage (spec/evaluation.md). Both are LLM
/// estimates, not the reference NLI model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JudgeMethod {
    /// The reference direction: for each explanation (premise), the probability that it entails
    /// each sentence of the output (hypothesis); coverage = max over sentences. One call per
    /// explanation, listing the output's sentences.
    #[default]
    PerSentence,
    /// The reverse direction, one call: the probability that the whole output entails each
    /// explanation.
    WholeOutput,
}

impl JudgeMethod {
    pub fn label(self) -> &'static str {
        match self {
            JudgeMethod::PerSentence => {
                "explanation entails each output sentence, max over sentences (reference direction)"
            }
            JudgeMethod::WholeOutput => "whole output entails each explanation (reverse direction)",
        }
    }
}

/// Which stages send raw prompts to the completions endpoint instead of chat messages (the
/// reference fed raw prompts to completion models). Needs a provider that serves
/// `/v1/completions` (llama.cpp's llama-server, vLLM); the capability probe says whether it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RawCompletion {
    pub perspectives: bool,
    pub comments: bool,
    /// Stage 3 (combine, selection, answers, distribution reads) and the baselines.
    pub combine: bool,
}

impl RawCompletion {
    /// Every pipeline stage and baseline.
    pub const ALL: RawCompletion = RawCompletion {
        perspectives: true,
        comments: true,
        combine: true,
    };

    pub fn any(self) -> bool {
        self.perspectives || self.comments || self.combine
    }

    /// Whether calls of `stage` go out as raw prompts (never the judge or a probe).
    pub fn applies(self, stage: crate::record::Stage) -> bool {
        use crate::record::Stage as S;
        match stage {
            S::Perspectives | S::Regenerate(_) => self.perspectives,
            S::Comment(_) => self.comments,
            S::Combine | S::Select | S::Answer | S::Read(_) | S::Baseline => self.combine,
            S::Judge | S::JudgeValue(_) | S::Probe => false,
        }
    }
}

/// All settings of a run. Stored in every run record; a run is reproducible from them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunSettings {
    /// Number of perspectives asked for (reference 6).
    pub k: usize,
    /// Keep perspectives beyond k (the reference does) or trim to the first k.
    pub keep_extra: bool,
    /// Stage-1 tries when fewer than k perspectives parse (the reference retries without limit).
    pub max_perspective_tries: u32,
    /// Calls in flight at once in stage 2 and the distributional stage 3.
    pub concurrency: usize,
    /// Give up on a call (and retry it as a network failure) when no complete reply has come
    /// within this many seconds; 0: wait as long as the server takes (Cancel still works).
    pub call_timeout_s: u32,
    pub models: StageModels,
    pub decoding: StageDecoding,
    /// Seeds the selection fallback and is passed to providers as `seed`.
    pub seed: u64,
    /// Send each item its own seed, derived from `seed` and the item's id
    /// ([`crate::pipeline::item_seed`]), so that items with the same text (the 22 OpinionQA group
    /// copies of a question) do not get identical stage-1/2 replies; the reference samples fresh
    /// ones. Off: every item sends `seed` itself. Records written before this setting existed
    /// read as off, so they reproduce as they ran.
    #[serde(default)]
    pub per_item_seed: bool,
    /// Pass `seed` in requests (some providers reject it).
    pub send_seed: bool,
    pub distribution: DistSetting,
    /// Answers sampled where a read must fall back to sampling: the OpinionQA answer (with the
    /// selected comment as passage) and the multiple-choice baselines when the provider gives no
    /// logprobs, and the baselines under `votes` (they have no comments to vote).
    pub fallback_samples: u32,
    /// How many top log-probabilities to request (reference reads 10).
    pub top_logprobs: u8,
    /// Send the stage-1 and stage-2 system templates as system messages (true) or prepend them to
    /// the user message.
    pub system_role: bool,
    /// Ask stage 1 for JSON constrained by a schema (k objects with the five dimensions) instead
    /// of free `#` lines. Not the reference method: for providers that enforce JSON schemas
    /// (llama.cpp, vLLM, OpenAI) and small models that cannot follow the line format.
    pub structured_perspectives: bool,
    /// Read stage-1 replies as the reference does: only lines starting with `#`, retrying (up to
    /// `max_perspective_tries`) while fewer than k come back. Off: the tolerant parser (numbered
    /// lists, bullets, bold, headings, JSON) also feeds the pipeline. Either way the perspectives
    /// are split into fields for display and editing.
    pub reference_parsing: bool,
    /// How the Overton judge estimates coverage.
    pub judge: JudgeMethod,
    /// Stages sent as raw prompts to the completions endpoint (the reference's own read).
    pub raw_completion: RawCompletion,
    /// Score failed items (no prediction: an error, a stage that did not parse, a provider that
    /// gave up) as the reference scores an item without a usable prediction (uniform
    /// distribution / unparsed answer / coverage 0; see [`crate::attrition`]), so that every
    /// method is scored on the same items. Off: they are left out of every score and counted
    /// next to it. Scoring only: no request depends on it.
    #[serde(default, skip_serializing_if = "is_false")]
    pub score_failed_as_reference: bool,
    /// The preset these settings came from ("Reproduce the reference") and its deviations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<crate::reference::PresetRecord>,
    pub templates: Templates,
}

impl Default for RunSettings {
    fn default() -> Self {
        Self {
            k: 6,
            keep_extra: true,
            max_perspective_tries: 3,
            concurrency: 6,
            // Ten minutes: a long Overton summary from a slow local CPU model takes a few.
            call_timeout_s: 600,
            models: StageModels::default(),
            decoding: StageDecoding::default(),
            seed: 0,
            per_item_seed: true,
            send_seed: true,
            distribution: DistSetting::Auto,
            fallback_samples: 10,
            top_logprobs: 10,
            system_role: true,
            structured_perspectives: false,
            reference_parsing: false,
            judge: JudgeMethod::PerSentence,
            raw_completion: RawCompletion::default(),
            score_failed_as_reference: false,
            preset: None,
            templates: Templates::default(),
        }
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// The largest k a run accepts.
pub const MAX_K: usize = 32;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SettingsError {
    #[error("k must be between 1 and {MAX_K}, got {0}")]
    K(usize),
    #[error("the concurrency limit must be at least 1")]
    Concurrency,
    #[error("at least one stage-1 try is needed")]
    Tries,
    #[error("top_logprobs must be between 1 and 20, got {0}")]
    TopLogprobs(u8),
    #[error("the sampling method needs n between 1 and 100, got {0}")]
    SamplingN(u32),
    #[error("the {0} model name is empty")]
    EmptyModel(&'static str),
    #[error("{name}: temperature must be between 0 and 2, got {value}")]
    Temperature { name: &'static str, value: f64 },
    #[error("{0}: max_tokens must be at least 1")]
    MaxTokens(&'static str),
    #[error("reference parsing reads `#` lines, structured perspectives ask for JSON: turn one of them off")]
    ParsingConflict,
    #[error("template `{name}`: {error}")]
    Template {
        name: &'static str,
        error: TemplateError,
    },
}

impl RunSettings {
    /// Reference settings with one model for every stage.
    pub fn with_model(name: impl Into<String>) -> Self {
        Self {
            models: StageModels::all(name),
            ..Self::default()
        }
    }

    /// Check everything a run depends on, with a message naming the bad setting.
    /// (k is capped at [`MAX_K`]: more perspectives than that stop being contrasting.)
    pub fn validate(&self) -> Result<(), SettingsError> {
        if self.k == 0 || self.k > MAX_K {
            return Err(SettingsError::K(self.k));
        }
        if self.concurrency == 0 {
            return Err(SettingsError::Concurrency);
        }
        if self.max_perspective_tries == 0 {
            return Err(SettingsError::Tries);
        }
        if self.reference_parsing && self.structured_perspectives {
            return Err(SettingsError::ParsingConflict);
        }
        if self.top_logprobs == 0 || self.top_logprobs > 20 {
            return Err(SettingsError::TopLogprobs(self.top_logprobs));
        }
        if let DistSetting::Sampling { n } = self.distribution {
            if n == 0 || n > 100 {
                return Err(SettingsError::SamplingN(n));
            }
        }
        if self.fallback_samples == 0 || self.fallback_samples > 100 {
            return Err(SettingsError::SamplingN(self.fallback_samples));
        }
        for (name, m) in [
            ("perspectives", &self.models.perspectives),
            ("comments", &self.models.comments),
            ("combine", &self.models.combine),
        ] {
            if m.trim().is_empty() {
                return Err(SettingsError::EmptyModel(name));
            }
        }
        let d = &self.decoding;
        for (name, dec) in [
            ("perspectives", d.perspectives),
            ("comments", d.comments),
            ("overton", d.overton),
            ("short", d.short),
            ("verbalised", d.verbalised),
            ("judge", d.judge),
        ] {
            if !(0.0..=2.0).contains(&dec.temperature) {
                return Err(SettingsError::Temperature {
                    name,
                    value: dec.temperature,
                });
            }
            if dec.max_tokens == 0 {
                return Err(SettingsError::MaxTokens(name));
            }
        }
        if !(0.0..=2.0).contains(&d.sampling_temperature) {
            return Err(SettingsError::Temperature {
                name: "sampling",
                value: d.sampling_temperature,
            });
        }
        if d.perspectives_max_tokens_distributional == 0 {
            return Err(SettingsError::MaxTokens("perspectives (distributional)"));
        }
        self.templates
            .validate()
            .map_err(|(name, error)| SettingsError::Template { name, error })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_read_back() {
        for m in [Method::EthosAgents, Method::Vanilla, Method::Prompting] {
            assert_eq!(Method::from_id(m.id()), Some(m));
            assert_eq!(
                Method::from_id(&format!(" {} ", m.id().to_uppercase())),
                Some(m)
            );
        }
        assert_eq!(Method::from_id("ethos"), Some(Method::EthosAgents));
        assert_eq!(Method::from_id("bogus"), None);
        for d in [
            DistSetting::Auto,
            DistSetting::Logprobs,
            DistSetting::Votes,
            DistSetting::Sampling { n: 7 },
            DistSetting::Verbalised,
        ] {
            assert_eq!(DistSetting::from_id(d.id(), 7), Some(d));
        }
        assert_eq!(
            DistSetting::from_id("Verbalized", 1),
            Some(DistSetting::Verbalised)
        );
        assert_eq!(DistSetting::from_id("magic", 1), None);
    }
}
