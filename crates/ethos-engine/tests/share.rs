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
        .map(|item| {
            run_with(
                item,
                settings(4, 4),
                Method::EthosAgents,
                &ScriptedModel::default(),
            )
            .1
        })
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
    assert!(
        !compact.contains('\n') && compact.contains("  spaced  "),
        "{compact}"
    );
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
    assert_eq!(
        decode(&format!("{encoded}==")),
        Ok(r.clone()),
        "padding is accepted"
    );
    assert_eq!(decode("#run=***"), Err(ShareError::Encoding));
    assert_eq!(
        decode(&URL_SAFE_NO_PAD.encode([0xff, 0xfe])),
        Err(ShareError::NotText)
    );
    let not_a_record = decode(&format!(
        "#run={}",
        URL_SAFE_NO_PAD.encode("{\"version\":1}")
    ));
    assert!(
        matches!(not_a_record, Err(ShareError::Record(_))),
        "{not_a_record:?}"
    );
    assert!(decode(&encoded[..encoded.len() / 2]).is_err(), "cut short");
    // With baselines, through the page's reader: a damaged baseline is dropped.
    let mut b = r.fresh();
    b.method = Method::Vanilla;
    let frag = fragment(&r, &[b.clone()]);
    assert_eq!(decode_all(&frag), Ok((r.clone(), vec![b.clone()])));
    assert_eq!(open(&frag), Ok(Shared::run(r.clone(), vec![b])));
    assert_eq!(
        decode_all(&format!("{frag}~bad!")).map(|(_, bs)| bs.len()),
        Ok(1)
    );
    assert!(
        matches!(open("#run=~"), Err(ShareError::Record(_))),
        "an empty run"
    );
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
    assert!(
        matches!(not_ours, Err(ShareError::Format(_))),
        "{not_ours:?}"
    );
    let rec = compact_json(&r.to_json());
    let three = format!("ethos-share 2 compare\n{rec}\n{rec}\n{rec}");
    assert!(matches!(
        from_payload(three.as_bytes()),
        Err(ShareError::Format(_))
    ));
    let empty = from_payload(b"ethos-share 2 run");
    assert!(matches!(empty, Err(ShareError::Format(_))), "{empty:?}");
    let bad_record = from_payload(format!("ethos-share 2 run\n{rec}\n{{}}").as_bytes());
    assert!(
        matches!(&bad_record, Err(ShareError::Record(m)) if m.contains("record 2")),
        "{bad_record:?}"
    );
    assert_eq!(from_payload(&[0xff, 0xfe]), Err(ShareError::NotText));
}

#[test]
fn repeated_strings_travel_once_and_come_back_exactly() {
    let mut r = finished_runs().remove(0);
    let long = format!("n{}", "why \\ \"quoted\" é/ ".repeat(20));
    r.perspectives.raw = vec![
        long.clone(),
        long.clone(),
        format!("a\n{}", &long[1..]),
        format!("a\\{long} and more"),
        format!("{long}\\"),
    ];
    let shared = Shared::run(r, Vec::new());
    let p = payload(&shared);
    assert!(p.len() < compact_json(&shared_json(&shared)).len(), "references make it shorter");
    assert!(p.contains("\"\\/"), "a reference is written");
    assert_eq!(from_payload(p.as_bytes()), Ok(shared));
    // References to nothing, cut short or pointing outside: refused with a message.
    for bad in [r#"{"a":"\/99"}"#, r#"{"a":"\/x"}"#, r#"{"a":"\/0,9,ab"}"#, r#"{"a":"never ends"#] {
        let e = from_payload(format!("ethos-share 2 run\n{bad}").as_bytes());
        assert!(matches!(e, Err(ShareError::Format(_))), "{bad}: {e:?}");
    }
}

fn shared_json(s: &Shared) -> String {
    match s {
        Shared::Run { run, .. } => run.to_json(),
        Shared::Compare { left, .. } => left.to_json(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_strings_survive_the_references(
        parts in prop::collection::vec("[a-c\\\\\"n/u0é ]{0,300}", 1..6),
        picks in prop::collection::vec((0usize..6, 0usize..6, "[a\\\\n\"]{0,3}"), 0..8),
    ) {
        let mut r = finished_runs().remove(0);
        let mut texts = parts.clone();
        for (i, j, glue) in picks {
            let (a, b) = (&parts[i % parts.len()], &parts[j % parts.len()]);
            texts.push(format!("{a}{glue}{b}"));
        }
        r.perspectives.raw = texts;
        let shared = Shared::run(r, Vec::new());
        prop_assert_eq!(from_payload(payload(&shared).as_bytes()), Ok(shared));
    }

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

/// A model whose replies are natural prose and numbers of the kind a real server sends, made by
/// the real pipeline (real templates and prompts): stage 1 names 24 perspectives after VITAL's
/// own value lists, each comment is a different VITAL Overton item's human-written explanations
/// (about 100–150 words, no two alike), and every read returns ten top log-probabilities with
/// full-precision values, usage and finish reasons.
struct ProseModel {
    overton: Vec<ethos_engine::vital::OvertonItem>,
    calls: std::cell::Cell<u64>,
}

impl ProseModel {
    fn new() -> Self {
        let overton = shipped("vital_overton_valuekaleidoscope.json")
            .into_iter()
            .filter_map(|i| match i {
                ethos_engine::Item::Overton(o) => Some(o),
                _ => None,
            })
            .collect();
        ProseModel {
            overton,
            calls: std::cell::Cell::new(0),
        }
    }

    /// A deterministic value in [0, 1) per call and salt (no two reads alike).
    fn noise(&self, salt: u64) -> f64 {
        let mut x = self.calls.get().wrapping_mul(6364136223846793005) ^ salt;
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51afd7ed558ccd);
        x ^= x >> 33;
        (x % 1_000_000) as f64 / 1_000_000.0
    }
}

fn shipped(file: &str) -> Vec<ethos_engine::Item> {
    let path = format!("{}/../../public/vital/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    ethos_engine::vital::load(&text, ethos_engine::Source::from_file_name(file)).expect("loads")
}

impl ethos_engine::ChatModel for ProseModel {
    async fn chat(
        &self,
        req: &ethos_engine::ChatRequest,
        on_delta: &mut dyn FnMut(&str),
    ) -> Result<ethos_engine::ChatResponse, ethos_engine::ChatError> {
        use scripted::{all_text, classify, Kind};
        let n = self.calls.get();
        self.calls.set(n + 1);
        let item = &self.overton[(n as usize * 37) % self.overton.len()];
        let mut resp = ethos_engine::ChatResponse::default();
        match classify(req) {
            Kind::Perspectives => {
                let lines: Vec<String> = (0..24)
                    .map(|i| {
                        let o = &self.overton[(i * 53 + 11) % self.overton.len()];
                        let v = |j: usize| o.vrd.get(j % o.vrd.len().max(1)).cloned().unwrap_or_default();
                        format!("#{} Advocate: {}, {}, {}, Concern, {}", v(0), v(1), v(2), v(3), v(4))
                    })
                    .collect();
                resp.text = lines.join("\n");
            }
            Kind::Comment => resp.text = format!("A. {}", item.explanation.join(" ")),
            _ => {
                resp.text = "A".into();
                let (a, b) = (self.noise(1), self.noise(2));
                let mut top = vec![
                    ("A", -(0.05 + a)),
                    ("B", -(0.4 + b)),
                    (" A", -(2.0 + a * 3.0)),
                    (" B", -(2.5 + b * 3.0)),
                ];
                for (i, t) in ["The", "I", "Option", "**", "Answer", "C"].iter().enumerate() {
                    top.push((t, -(4.0 + i as f64 + self.noise(10 + i as u64) * 2.0)));
                }
                resp.first_token_top_logprobs = Some(
                    top.into_iter()
                        .map(|(t, l)| ethos_engine::TokenLogprob { token: t.into(), logprob: l })
                        .collect(),
                );
            }
        }
        on_delta(&resp.text);
        resp.usage = Some(ethos_engine::Usage {
            prompt_tokens: (all_text(req).len() / 4) as u32,
            completion_tokens: (resp.text.len() / 4).max(1) as u32,
        });
        resp.finish_reason = Some("stop".into());
        Ok(resp)
    }
}

/// Wall-clock-like times: epoch milliseconds with microsecond fractions, never repeating.
struct WallClock(std::cell::Cell<f64>);

impl ethos_engine::pipeline::Clock for WallClock {
    fn now_ms(&self) -> f64 {
        let t = self.0.get();
        let step = 37.0 + (t * 7.31).sin().abs() * 900.0;
        self.0.set(t + (step * 1000.0).round() / 1000.0);
        t
    }
}

fn k24_run() -> RunRecord {
    use ethos_engine::pipeline::{NoObserver, Pipeline, SharedRecord, Stages};
    let item = shipped("vital_distributional_moralchoice.json").remove(0);
    let mut s = ethos_engine::settings::RunSettings::with_model("smollm2");
    s.k = 24;
    s.seed = 7;
    let model = ProseModel::new();
    let clock = WallClock(std::cell::Cell::new(1_764_960_000_000.25));
    let mut r = RunRecord::new(item, s, Method::EthosAgents);
    r.created_ms = 1_764_959_999_000.5;
    let record = SharedRecord::new(r);
    let p = Pipeline::new(Stages::same(&model), &clock, &NoObserver, record.clone());
    futures::executor::block_on(p.run()).expect("the run finishes");
    record.snapshot()
}

#[test]
fn a_k24_runs_link_is_at_most_a_fifth_of_the_old_one_and_fits_a_url() {
    let r = k24_run();
    assert_eq!(r.perspectives.perspectives.len(), 24);
    assert_eq!(r.ok_comments().len(), 24);
    let old = fragment(&r, &[]);
    let new = link(&Shared::run(r.clone(), Vec::new()));
    let page = "https://example.org/ethos/";
    let ratio = new.len() as f64 / old.len() as f64;
    eprintln!(
        "k = 24 run ({} calls, {} bytes of pretty JSON): old #run= link {} characters, new #r2= link {} characters ({:.1} %)",
        r.calls.len(),
        r.to_json().len(),
        page.len() + old.len(),
        page.len() + new.len(),
        ratio * 100.0
    );
    assert!(old.len() > 100_000, "a realistic k = 24 record: {}", old.len());
    assert!(ratio <= 0.20, "{:.3}", ratio);
    assert!(page.len() + new.len() <= MAX_LINK_CHARS);
    assert_eq!(open(&new), Ok(Shared::run(r, Vec::new())), "lossless");
}
