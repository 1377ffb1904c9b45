//! Share links: the `#r2=` format (compact payload, raw deflate with flate2 here as the browser's
//! CompressionStream does in the app), old `#run=` links, damage and size limits, and the length
//! of a real k = 24 run's link in both formats.

#[path = "scripted.rs"]
mod scripted;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ethos_engine::record::RunRecord;
use ethos_engine::settings::Method;
use ethos_engine::share::{
    compact_json, decode, decode_all, encode, fragment, fragment_v2, from_payload, payload,
    read_link, Link, ShareError, Shared, MAX_FRAGMENT_CHARS, MAX_LINK_CHARS, MAX_PAYLOAD_BYTES,
    PREFIX, SEP,
};
use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;
use flate2::Compression;
use proptest::prelude::*;
use std::io::{Read, Write};

fn deflate(bytes: &[u8]) -> Vec<u8> {
    let mut e = DeflateEncoder::new(Vec::new(), Compression::best());
    e.write_all(bytes).expect("deflate");
    e.finish().expect("deflate")
}

/// Inflate at most [`MAX_PAYLOAD_BYTES`] (what the app's DecompressionStream reader does).
fn inflate(bytes: &[u8]) -> Result<Vec<u8>, ShareError> {
    let mut out = Vec::new();
    DeflateDecoder::new(bytes)
        .take(MAX_PAYLOAD_BYTES as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| ShareError::Inflate(e.to_string()))?;
    if out.len() > MAX_PAYLOAD_BYTES {
        return Err(ShareError::TooBig {
            max: MAX_PAYLOAD_BYTES,
        });
    }
    Ok(out)
}

fn link(shared: &Shared) -> String {
    fragment_v2(&deflate(payload(shared).as_bytes()))
}

/// Open a fragment of either format as the app does.
fn open(fragment: &str) -> Result<Shared, ShareError> {
    match read_link(fragment).expect("a share fragment")? {
        Link::Plain(s) => Ok(s),
        Link::Deflated(bytes) => from_payload(&inflate(&bytes)?),
    }
}

/// A finished run of every mode from the scripted model (prompts, replies, logprobs, scores).
fn finished_runs() -> Vec<RunRecord> {
    use scripted::*;
    [overton(), value_item(), opinion(), global(), moral()]
        .into_iter()
        .map(|item| run_with(item, settings(4, 4), Method::EthosAgents, &ScriptedModel::default()).1)
        .collect()
}

#[test]
fn compressed_links_carry_runs_baselines_and_comparisons_losslessly() {
    let runs = finished_runs();
    for r in &runs {
        let mut vanilla = r.fresh();
        vanilla.method = Method::Vanilla;
        let shared = Shared::run(r.clone(), vec![vanilla]);
        let frag = link(&shared);
        assert!(frag.starts_with("#r2="), "{}", &frag[..10]);
        assert!(!frag[4..].contains(['+', '/', '=', SEP, '#']), "URL-safe");
        assert_eq!(open(&frag), Ok(shared));
    }
    let cmp = Shared::Compare {
        left: runs[2].clone(),
        right: runs[3].clone(),
    };
    assert_eq!(open(&link(&cmp)), Ok(cmp));
}

#[test]
fn compact_json_is_the_same_value_without_layout() {
    let tricky = r#"{ "a" : "x \" y\\", "b": [ 1, 2 ,
        { "c": "  spaced  \\\" } {", "d": "é\u00a0 ok" } ], "e" : "\\" }"#;
    let compact = compact_json(tricky);
    let a: serde_json::Value = serde_json::from_str(tricky).expect("tricky");
    let b: serde_json::Value = serde_json::from_str(&compact).expect("compact");
    assert_eq!(a, b);
    assert!(!compact.contains('\n') && compact.contains("  spaced  "), "{compact}");
    for r in finished_runs() {
        let c = compact_json(&r.to_json());
        assert!(!c.contains('\n') && c.len() < r.to_json().len());
        assert_eq!(RunRecord::from_json(&c), Ok(r));
    }
}

#[test]
fn old_links_still_open_and_report_damage() {
    let r = finished_runs().remove(4);
    let encoded = encode(&r);
    assert!(!encoded.contains(['+', '/', '=', SEP]), "URL-safe");
    assert_eq!(decode(&format!("{PREFIX}{encoded}")), Ok(r.clone()));
    assert_eq!(decode(&format!("{encoded}==")), Ok(r.clone()), "padding is accepted");
    assert_eq!(decode("#run=***"), Err(ShareError::Encoding));
    assert_eq!(decode(&URL_SAFE_NO_PAD.encode([0xff, 0xfe])), Err(ShareError::NotText));
    let not_a_record = decode(&format!("#run={}", URL_SAFE_NO_PAD.encode("{\"version\":1}")));
    assert!(matches!(not_a_record, Err(ShareError::Record(_))), "{not_a_record:?}");
    assert!(decode(&encoded[..encoded.len() / 2]).is_err(), "cut short");
    // With baselines, through the page's reader: a damaged baseline is dropped.
    let mut b = r.fresh();
    b.method = Method::Vanilla;
    let frag = fragment(&r, &[b.clone()]);
    assert_eq!(decode_all(&frag), Ok((r.clone(), vec![b.clone()])));
    assert_eq!(open(&frag), Ok(Shared::run(r.clone(), vec![b])));
    assert_eq!(decode_all(&format!("{frag}~bad!")).map(|(_, bs)| bs.len()), Ok(1));
    assert!(matches!(open("#run=~"), Err(ShareError::Record(_))), "an empty run");
    assert!(read_link("").is_none() && read_link("#section-2").is_none());
}

#[test]
fn damaged_tampered_huge_and_crafted_links_are_refused_with_a_message() {
    let r = finished_runs().remove(2);
    let frag = link(&Shared::run(r.clone(), Vec::new()));
    // Cut short anywhere: an error, never a panic.
    for cut in (5..frag.len()).step_by(frag.len() / 40) {
        let e = open(&frag[..cut]).expect_err("cut link");
        assert!(!e.to_string().is_empty());
    }
    // Tampered: characters changed, bytes flipped inside the compressed data.
    for at in (5..frag.len()).step_by(frag.len() / 40) {
        let mut t: Vec<u8> = frag.clone().into_bytes();
        t[at] = if t[at] == b'A' { b'z' } else { b'A' };
        let _ = open(std::str::from_utf8(&t).expect("ascii"));
    }
    assert_eq!(open("#r2=%%%"), Err(ShareError::Encoding));
    // A 1 MB link is refused before it is decoded.
    let huge = format!("#r2={}", "A".repeat(1 << 20));
    let e = open(&huge).expect_err("huge");
    assert_eq!(
        e,
        ShareError::TooLong {
            chars: huge.len(),
            max: MAX_FRAGMENT_CHARS
        }
    );
    assert!(e.to_string().contains("JSON file"), "{e}");
    // A zip bomb: 64 MB of spaces is a ~64 kB link; inflating stops at the cap.
    let bomb = fragment_v2(&deflate(&vec![b' '; 64 << 20]));
    assert!(bomb.len() < MAX_FRAGMENT_CHARS, "{}", bomb.len());
    assert_eq!(
        open(&bomb),
        Err(ShareError::TooBig {
            max: MAX_PAYLOAD_BYTES
        })
    );
    // Well compressed, but not this app's payload.
    let not_ours = open(&fragment_v2(&deflate(b"hello")));
    assert!(matches!(not_ours, Err(ShareError::Format(_))), "{not_ours:?}");
    let rec = compact_json(&r.to_json());
    let three = format!("ethos-share 2 compare\n{rec}\n{rec}\n{rec}");
    assert!(matches!(from_payload(three.as_bytes()), Err(ShareError::Format(_))));
    let empty = from_payload(b"ethos-share 2 run");
    assert!(matches!(empty, Err(ShareError::Format(_))), "{empty:?}");
    let bad_record = from_payload(format!("ethos-share 2 run\n{rec}\n{{}}").as_bytes());
    assert!(
        matches!(&bad_record, Err(ShareError::Record(m)) if m.contains("record 2")),
        "{bad_record:?}"
    );
    assert_eq!(from_payload(&[0xff, 0xfe]), Err(ShareError::NotText));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn link_readers_never_panic(text in ".{0,400}", bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        for prefix in ["#r2=", "#run="] {
            let _ = read_link(&format!("{prefix}{text}"));
            let _ = open(&format!("{prefix}{}", URL_SAFE_NO_PAD.encode(&bytes)));
        }
        let _ = from_payload(&bytes);
        let _ = from_payload(format!("ethos-share 2 run\n{text}").as_bytes());
    }
}
