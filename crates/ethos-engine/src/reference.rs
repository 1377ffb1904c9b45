//! The Reference preset: one switch that sets every decision to the reference's (the
//! EthosAgents scripts plus Modular Pluralism's stage 3), and the list of what cannot be matched
//! over the chosen provider or in this implementation. Every run record carries the preset and
//! its deviations in its settings ([`RunSettings::preset`]).

use crate::settings::{DistSetting, JudgeMethod, RawCompletion, RunSettings, StageDecoding};
use crate::template::Templates;
use serde::{Deserialize, Serialize};

/// The preset's name as shown and recorded.
pub const REFERENCE_PRESET: &str = "Reproduce the reference";

/// What is known about the provider and model (from the capability probe).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderFacts {
    /// The chat endpoint returns first-token log-probabilities.
    pub logprobs: bool,
    /// The completions endpoint serves raw prompts with first-token log-probabilities.
    pub raw_completion: bool,
    /// The provider accepts `seed`.
    pub seed: bool,
}

/// A preset applied to a run's settings, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresetRecord {
    pub name: String,
    /// What the provider was known to offer when the preset was applied.
    pub facts: ProviderFacts,
    /// Every decision that still differs from the reference, with the reason.
    pub deviations: Vec<String>,
}

/// Deviations of this implementation whatever the provider.
const ALWAYS: [&str; 3] = [
    "stage 1 asks again at most max_perspective_tries times (3); the reference retries without limit",
    "Overton coverage is an LLM estimate of the NLI score (explanation entails each output sentence), not the reference NLI model (deberta-v2-xlarge-mnli)",
    "the selection fallback (no number in the reply) is seeded, not random",
];

/// `base` with every decision set to the reference's, for a provider with `facts`; the models,
/// concurrency and seed of `base` are kept. The returned settings name the preset and list every
/// deviation: those of this implementation and those the provider forces.
pub fn reference_settings(base: &RunSettings, facts: ProviderFacts) -> RunSettings {
    let mut s = RunSettings {
        models: base.models.clone(),
        concurrency: base.concurrency,
        seed: base.seed,
        ..RunSettings::default()
    };
    s.templates = Templates::default();
    s.decoding = StageDecoding::default();
    s.k = 6;
    s.keep_extra = true;
    s.reference_parsing = true;
    s.structured_perspectives = false;
    s.system_role = true;
    s.per_item_seed = true;
    s.send_seed = true;
    s.judge = JudgeMethod::PerSentence;
    s.top_logprobs = 10;
    s.score_failed_as_reference = true;
    let mut deviations: Vec<String> = ALWAYS.iter().map(|d| d.to_string()).collect();
    // Stage 3 read raw prompts at "Answer:"; stages 1 and 2 had system messages (chat).
    if facts.raw_completion {
        s.raw_completion = RawCompletion {
            combine: true,
            ..RawCompletion::default()
        };
        s.distribution = DistSetting::Logprobs;
    } else {
        deviations.push(
            "the provider serves no raw completion: stage 3 and the baselines go through the chat template".into(),
        );
        if facts.logprobs {
            s.distribution = DistSetting::Logprobs;
        } else {
            s.distribution = DistSetting::Auto;
            deviations.push(
                "the provider returns no log-probabilities: distributions fall back (distributional items: the comments' votes; OpinionQA answers and baselines: sampled answers), each labelled".into(),
            );
        }
    }
    if !facts.seed {
        deviations.push(
            "the provider does not accept a seed: the per-item seeds are recorded but not sent"
                .into(),
        );
    }
    s.preset = Some(PresetRecord {
        name: REFERENCE_PRESET.into(),
        facts,
        deviations,
    });
    s
}

/// The decisions of `s` that were changed after the preset was applied (empty when `s` still is
/// what the preset gave, or has no preset).
pub fn changed_since_preset(s: &RunSettings) -> Vec<&'static str> {
    let Some(p) = &s.preset else {
        return Vec::new();
    };
    let want = reference_settings(s, p.facts);
    let mut out = Vec::new();
    let checks: [(&'static str, bool); 14] = [
        ("k", s.k == want.k),
        ("extra perspectives", s.keep_extra == want.keep_extra),
        (
            "stage-1 parsing",
            s.reference_parsing == want.reference_parsing,
        ),
        (
            "structured perspectives",
            s.structured_perspectives == want.structured_perspectives,
        ),
        ("templates", s.templates == want.templates),
        ("decoding", s.decoding == want.decoding),
        ("distribution method", s.distribution == want.distribution),
        ("top logprobs", s.top_logprobs == want.top_logprobs),
        ("raw completion", s.raw_completion == want.raw_completion),
        ("per-item seeds", s.per_item_seed == want.per_item_seed),
        ("seed sent", s.send_seed == want.send_seed),
        ("system messages", s.system_role == want.system_role),
        ("Overton judge", s.judge == want.judge),
        (
            "failed items scored",
            s.score_failed_as_reference == want.score_failed_as_reference,
        ),
    ];
    for (name, same) in checks {
        if !same {
            out.push(name);
        }
    }
    out
}

/// One line for exports: the preset, what changed since, and every deviation.
pub fn preset_summary(s: &RunSettings) -> Option<String> {
    let p = s.preset.as_ref()?;
    let changed = changed_since_preset(s);
    let mut line = p.name.clone();
    if !changed.is_empty() {
        line.push_str(&format!(" (then changed: {})", changed.join(", ")));
    }
    line.push_str(&format!("; deviations: {}", p.deviations.join("; ")));
    Some(line)
}
