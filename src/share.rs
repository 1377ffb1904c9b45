//! Share links: the run record (item, settings, prompts, replies, scores; never a key: the
//! record has no field for one) in the URL fragment, so it never reaches a server.

use crate::browser;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ethos_engine::record::RunRecord;

pub const PREFIX: &str = "#run=";

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ShareError {
    #[error("the share link is damaged (not valid base64; was it cut short when copied?)")]
    Encoding,
    #[error("the share link does not hold text")]
    NotText,
    #[error("the shared run could not be read: {0}")]
    Record(String),
}

pub fn encode(r: &RunRecord) -> String {
    URL_SAFE_NO_PAD.encode(r.to_json().as_bytes())
}

pub fn decode(fragment: &str) -> Result<RunRecord, ShareError> {
    let data = fragment.trim_start_matches(PREFIX).trim();
    let bytes = URL_SAFE_NO_PAD
        .decode(data.trim_end_matches('='))
        .map_err(|_| ShareError::Encoding)?;
    let text = String::from_utf8(bytes).map_err(|_| ShareError::NotText)?;
    RunRecord::from_json(&text).map_err(|e| ShareError::Record(e.to_string()))
}

/// Separates the run from its baselines in a link (not in the base64url alphabet).
const SEP: char = '~';

/// The fragment for a run and its baselines: `#run=<run>~<baseline>~<baseline>`.
pub fn fragment(r: &RunRecord, baselines: &[RunRecord]) -> String {
    let mut f = format!("{PREFIX}{}", encode(r));
    for b in baselines {
        f.push(SEP);
        f.push_str(&encode(b));
    }
    f
}

pub fn link_for(r: &RunRecord, baselines: &[RunRecord]) -> String {
    format!(
        "{}{}",
        browser::page_url_without_hash(),
        fragment(r, baselines)
    )
}

/// Decode a fragment made by [`fragment`]: the run, and the baselines that could be read.
pub fn decode_all(fragment: &str) -> Result<(RunRecord, Vec<RunRecord>), ShareError> {
    let mut parts = fragment.trim_start_matches(PREFIX).split(SEP);
    let run = decode(parts.next().unwrap_or(""))?;
    let baselines = parts.filter_map(|p| decode(p).ok()).collect();
    Ok((run, baselines))
}

/// A run shared through the page's fragment, if there is one.
pub fn from_page() -> Option<Result<(RunRecord, Vec<RunRecord>), ShareError>> {
    let hash = browser::hash();
    hash.starts_with(PREFIX).then(|| decode_all(&hash))
}
