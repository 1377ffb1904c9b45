//! Share links: a run record (item, settings, prompts, replies, scores; never a key: the record
//! has no field for one) as base64url JSON in a URL fragment, `#run=<run>~<baseline>~…`. The app
//! (src/share.rs) only adds the page URL; decoding reads outside data, so it never panics.

use crate::record::RunRecord;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

pub const PREFIX: &str = "#run=";

/// Separates the run from its baselines in a link (not in the base64url alphabet).
pub const SEP: char = '~';

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ShareError {
    #[error("the share link is damaged (not valid base64; was it cut short when copied?)")]
    Encoding,
    #[error("the share link does not hold text")]
    NotText,
    #[error("the shared run could not be read: {0}")]
    Record(String),
}

/// One record as base64url (no padding) of its JSON.
pub fn encode(r: &RunRecord) -> String {
    URL_SAFE_NO_PAD.encode(r.to_json().as_bytes())
}

/// One record from [`encode`]'s text, with or without the `#run=` prefix and padding.
pub fn decode(fragment: &str) -> Result<RunRecord, ShareError> {
    let data = fragment.trim_start_matches(PREFIX).trim();
    let bytes = URL_SAFE_NO_PAD
        .decode(data.trim_end_matches('='))
        .map_err(|_| ShareError::Encoding)?;
    let text = String::from_utf8(bytes).map_err(|_| ShareError::NotText)?;
    RunRecord::from_json(&text).map_err(|e| ShareError::Record(e.to_string()))
}

/// The fragment for a run and its baselines: `#run=<run>~<baseline>~<baseline>`.
pub fn fragment(r: &RunRecord, baselines: &[RunRecord]) -> String {
    let mut f = format!("{PREFIX}{}", encode(r));
    for b in baselines {
        f.push(SEP);
        f.push_str(&encode(b));
    }
    f
}

/// Decode a fragment made by [`fragment`]: the run, and the baselines that could be read.
pub fn decode_all(fragment: &str) -> Result<(RunRecord, Vec<RunRecord>), ShareError> {
    let mut parts = fragment.trim_start_matches(PREFIX).split(SEP);
    let run = decode(parts.next().unwrap_or(""))?;
    let baselines = parts.filter_map(|p| decode(p).ok()).collect();
    Ok((run, baselines))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::persona::Perspective;
    use crate::settings::{Method, RunSettings};
    use crate::vital::Item;

    fn record(k: usize) -> RunRecord {
        let item = Item::custom("t-1", "Share records?", &["Yes".into(), "No".into()], None)
            .expect("item");
        let mut r = RunRecord::new(item, RunSettings::with_model("m"), Method::EthosAgents);
        for i in 0..k {
            r.add_perspective(Perspective {
                raw: format!("P{i}: a, b, c, d, e"),
                name: format!("P{i}"),
                ..Default::default()
            });
        }
        r
    }

    #[test]
    fn links_round_trip_and_report_damage() {
        let r = record(2);
        let encoded = encode(&r);
        assert!(!encoded.contains(['+', '/', '=', SEP]), "URL-safe");
        assert_eq!(decode(&format!("{PREFIX}{encoded}")), Ok(r.clone()));
        assert_eq!(decode(&format!("{encoded}==")), Ok(r.clone()), "padding is accepted");
        assert_eq!(decode("#run=***"), Err(ShareError::Encoding));
        assert_eq!(decode(&URL_SAFE_NO_PAD.encode([0xff, 0xfe])), Err(ShareError::NotText));
        let not_a_record = decode(&format!("#run={}", URL_SAFE_NO_PAD.encode("{\"version\":1}")));
        assert!(matches!(not_a_record, Err(ShareError::Record(_))), "{not_a_record:?}");
        // Cut short when copied: damaged, never a panic.
        assert!(decode(&encoded[..encoded.len() / 2]).is_err());
    }

    #[test]
    fn baselines_travel_after_the_run_and_a_damaged_one_is_dropped() {
        let r = record(2);
        let mut b = record(0);
        b.method = Method::Vanilla;
        let frag = fragment(&r, &[b.clone()]);
        assert_eq!(decode_all(&frag), Ok((r.clone(), vec![b])));
        assert_eq!(decode_all(&format!("{frag}~bad!")).map(|(_, bs)| bs.len()), Ok(1));
        assert!(matches!(decode_all("#run=~"), Err(ShareError::Record(_))), "an empty run");
        assert!(decode_all("").is_err());
    }
}
