//! Share links: the run record (item, settings, prompts, replies, scores; never a key: the
//! record has no field for one) in the URL fragment, so it never reaches a server. Encoding and
//! decoding live in the engine (`ethos_engine::share`, fuzzed natively); this adds the page.

use crate::browser;
use ethos_engine::record::RunRecord;
pub use ethos_engine::share::{decode_all, fragment, ShareError, PREFIX};
#[cfg(test)]
pub use ethos_engine::share::{decode, encode};

pub fn link_for(r: &RunRecord, baselines: &[RunRecord]) -> String {
    format!(
        "{}{}",
        browser::page_url_without_hash(),
        fragment(r, baselines)
    )
}

/// A run shared through the page's fragment, if there is one.
pub fn from_page() -> Option<Result<(RunRecord, Vec<RunRecord>), ShareError>> {
    let hash = browser::hash();
    hash.starts_with(PREFIX).then(|| decode_all(&hash))
}
