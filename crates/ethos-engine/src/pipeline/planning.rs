//! Planning before a run: how many calls it will make, and the seeds that make its choices
//! reproducible (per-item seeds, the seeded selection fallback).

use super::*;

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
    let stage3 = stage3_calls(item.mode(), settings.distribution, k);
    CallPlan {
        perspectives: 1,
        comments: k,
        stage3,
        baseline: 0,
    }
}

/// Stage-3 calls of an EthosAgents run with k comments: Overton 1 (the summary); Steerable value
/// 2 (select, answer); Steerable group 2 (select, read), 1 with votes; Distributional k reads, 0
/// with votes. A sampling read is one call asking for `n` answers.
pub fn stage3_calls(mode: Mode, distribution: DistSetting, k: usize) -> usize {
    let votes = distribution == DistSetting::Votes;
    match mode {
        Mode::Overton => 1,
        Mode::SteerableValue => 2,
        Mode::SteerableGroup if votes => 1,
        Mode::SteerableGroup => 2,
        Mode::Distributional if votes => 0,
        Mode::Distributional => k,
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
