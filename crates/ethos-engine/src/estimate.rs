//! A pre-run estimate of calls and tokens (upper bounds for output, rough for prompts: about
//! four characters per token). Shown before Run so a user knows what a run will cost.

use crate::pipeline::{stage1_max_tokens, stage3_calls};
use crate::settings::{DistSetting, Method, RunSettings};
use crate::vital::{Item, Mode};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Estimate {
    pub calls: usize,
    /// Calls on the critical path (what decides the wall time with enough concurrency).
    pub sequential: usize,
    pub prompt_tokens: usize,
    pub max_output_tokens: usize,
}

fn tokens(chars: usize) -> usize {
    chars.div_ceil(4)
}

/// The estimate for an EthosAgents run. Its calls are the pipeline's own plan
/// ([`crate::pipeline::stage3_calls`]), which a test checks against the calls a run makes; a
/// provider that ignores `n` makes `n` calls per sampling read instead of one.
pub fn estimate(item: &Item, s: &RunSettings) -> Estimate {
    let k = s.k.max(1);
    let d = &s.decoding;
    let input = item.perspective_input().chars().count();
    let t = &s.templates;
    let mode = item.mode();
    let stage3 = stage3_calls(mode, s.distribution, k);
    let p1_max = stage1_max_tokens(s, mode) as usize;
    let comment_tpl = if mode == Mode::Overton {
        t.comment_overton.len()
    } else {
        t.comment_choice.len()
    };
    let comments_total = k * d.comments.max_tokens as usize;
    let short = d.short.max_tokens as usize;
    // What one distribution read may write: n answers when sampling.
    let read_out = match s.distribution {
        DistSetting::Sampling { n } => n.max(1) as usize * short,
        DistSetting::Verbalised => d.verbalised.max_tokens as usize,
        _ => short,
    };
    // Stage 1 and stage 2.
    let mut prompt = tokens(t.perspectives_system.len() + t.perspectives.len() + input)
        + k * tokens(t.comment_system.len() + comment_tpl + input + 120);
    let mut out = p1_max + comments_total;
    // Stage 3: reads run side by side; a selection comes before its answer.
    let depth = match mode {
        Mode::Overton => {
            prompt += tokens(t.combine_overton.len() + input) + comments_total;
            out += d.overton.max_tokens as usize;
            1
        }
        Mode::SteerableValue => {
            prompt += tokens(t.select_value.len()) + comments_total;
            prompt += tokens(t.answer_value.len() + input) + d.comments.max_tokens as usize;
            out += 2 * short;
            2
        }
        Mode::SteerableGroup => {
            prompt += tokens(t.select_group.len()) + comments_total;
            out += short;
            if stage3 > 1 {
                prompt += tokens(t.answer_group.len() + input) + d.comments.max_tokens as usize;
                out += read_out;
            }
            stage3
        }
        Mode::Distributional => {
            prompt += stage3 * (tokens(t.read.len() + input) + d.comments.max_tokens as usize);
            out += stage3 * read_out;
            usize::from(stage3 > 0)
        }
    };
    Estimate {
        calls: 1 + k + stage3,
        sequential: 2 + depth,
        prompt_tokens: prompt,
        max_output_tokens: out,
    }
}

/// The estimate for one method: the pipeline, or a baseline (one call on stage-3 decoding).
pub fn estimate_method(item: &Item, s: &RunSettings, method: Method) -> Estimate {
    if method == Method::EthosAgents {
        return estimate(item, s);
    }
    let t = &s.templates;
    let input = item.perspective_input().chars().count();
    let template = match (method, item.mode()) {
        (Method::Vanilla, _) => t.vanilla.len(),
        (_, Mode::Overton) => t.prompting_overton.len(),
        (_, Mode::SteerableValue) => t.prompting_value.len(),
        (_, Mode::SteerableGroup) => t.prompting_group.len(),
        (_, Mode::Distributional) => t.prompting_distribution.len() + t.prompting_country.len(),
    };
    let out = if item.mode() == Mode::Overton {
        s.decoding.overton.max_tokens
    } else {
        s.decoding.short.max_tokens
    };
    Estimate {
        calls: 1,
        sequential: 1,
        prompt_tokens: tokens(template + input),
        max_output_tokens: out as usize,
    }
}

/// The sum over a batch: every item under every method (and model, `models` times). `sequential`
/// is the longest critical path of one item.
pub fn estimate_batch<'a>(
    items: impl IntoIterator<Item = &'a Item>,
    s: &RunSettings,
    methods: &[Method],
    models: usize,
) -> Estimate {
    let mut total = Estimate {
        calls: 0,
        sequential: 0,
        prompt_tokens: 0,
        max_output_tokens: 0,
    };
    for item in items {
        for &m in methods {
            let e = estimate_method(item, s, m);
            total.calls += e.calls * models;
            total.prompt_tokens += e.prompt_tokens * models;
            total.max_output_tokens += e.max_output_tokens * models;
            total.sequential = total.sequential.max(e.sequential);
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vital::{self, Source};

    #[test]
    fn a_batch_estimate_adds_methods_items_and_models() {
        let a =
            Item::custom("a", "Share records?", &["Yes".into(), "No".into()], None).expect("item");
        let b = Item::custom("b", "Tell the family?", &["Yes".into(), "No".into()], None)
            .expect("item");
        let mut s = RunSettings::with_model("m");
        s.k = 4;
        let one = estimate(&a, &s);
        let vanilla = estimate_method(&a, &s, Method::Vanilla);
        assert_eq!((vanilla.calls, vanilla.sequential), (1, 1));
        assert_eq!(
            vanilla.max_output_tokens,
            s.decoding.short.max_tokens as usize
        );
        assert!(vanilla.prompt_tokens > 0 && vanilla.prompt_tokens < one.prompt_tokens);
        let methods = [Method::EthosAgents, Method::Vanilla, Method::Prompting];
        let total = estimate_batch([&a, &b], &s, &methods, 2);
        assert_eq!(total.calls, 2 * 2 * (1 + 4 + 4 + 1 + 1));
        assert_eq!(total.sequential, one.sequential);
        let single = estimate_batch([&a], &s, &[Method::EthosAgents], 1);
        assert_eq!(single, one);
    }

    #[test]
    fn estimates_count_calls_per_mode() {
        let choice_item = Item::custom("t-1", "Share records?", &["Yes".into(), "No".into()], None)
            .expect("item");
        let mut s = RunSettings::with_model("m");
        s.k = 6;
        s.distribution = DistSetting::Auto;
        let e = estimate(&choice_item, &s);
        assert_eq!(
            (e.calls, e.sequential),
            (1 + 6 + 6, 3),
            "distributional: k reads"
        );
        s.distribution = DistSetting::Votes;
        let e = estimate(&choice_item, &s);
        assert_eq!((e.calls, e.sequential), (1 + 6, 2), "votes: no reads");
        assert_eq!(
            e.max_output_tokens,
            s.decoding.perspectives_max_tokens_distributional as usize
                + 6 * s.decoding.comments.max_tokens as usize
        );
        // JSON perspectives: stage 1 counts the budget its request carries (700 for k = 6).
        s.structured_perspectives = true;
        let json = estimate(&choice_item, &s);
        assert_eq!(
            json.max_output_tokens,
            700 + 6 * s.decoding.comments.max_tokens as usize
        );
        s.structured_perspectives = false;
        s.distribution = DistSetting::Sampling { n: 5 };
        let five = estimate(&choice_item, &s);
        assert_eq!(
            five.calls,
            1 + 6 + 6,
            "one call per read, asking for n answers"
        );
        s.distribution = DistSetting::Sampling { n: 1 };
        let one = estimate(&choice_item, &s);
        assert_eq!(one.calls, five.calls);
        assert_eq!(
            five.max_output_tokens - one.max_output_tokens,
            6 * 4 * s.decoding.short.max_tokens as usize,
            "five answers per read"
        );
        s.distribution = DistSetting::Sampling { n: 0 };
        assert_eq!(
            estimate(&choice_item, &s).max_output_tokens,
            one.max_output_tokens,
            "n is at least 1"
        );

        let overton = vital::load_value(
            &serde_json::json!([{"situation": "s", "vrd": ["a"], "explanation": ["e"], "input": "i", "output": null, "id": 1}]),
            Some(Source::OvertonValueKaleidoscope),
        )
        .expect("overton");
        let e = estimate(&overton[0], &s);
        assert_eq!((e.calls, e.sequential), (1 + 6 + 1, 3));
        assert!(e.max_output_tokens >= 450 + 6 * 200 + 200);

        // k = 0 counts as one perspective; prompts grow with the question.
        s.k = 0;
        let small = estimate(&overton[0], &s);
        assert_eq!(small.calls, 1 + 1 + 1);
        let mut long = s.clone();
        long.templates.perspectives.push_str(&"x".repeat(4000));
        assert_eq!(
            estimate(&overton[0], &long).prompt_tokens,
            small.prompt_tokens + 1000
        );
    }
}
