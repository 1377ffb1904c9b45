//! Unit tests of the UI's pure helpers (catalog filtering) and the browser side of share
//! links (CompressionStream, DecompressionStream). Run in Node:
//! `CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner
//! cargo test --target wasm32-unknown-unknown -p ethos-app --lib`.

use crate::catalog::{attribute_label, display_title, Catalog};
use crate::deflate;
use crate::share;
use ethos_engine::share::{fragment, fragment_v2, read_link, ShareError, PREFIX_V2};
use ethos_engine::persona::Perspective;
use ethos_engine::record::{CommentRecord, RunRecord};
use ethos_engine::settings::{Method, RunSettings};
use ethos_engine::{vital, Item, Source};
use wasm_bindgen_test::wasm_bindgen_test;

fn choice(id: i64, q: &str, attribute: &str) -> serde_json::Value {
    serde_json::json!({"question": format!("Question: {q}\nOptions: A. yes B. no\nAnswer:"), "options": ["yes", "no"],
        "attribute": attribute, "gold_distribution": [0.7, 0.3], "pred_distribution": null, "id": id})
}

fn opinion_catalog() -> Catalog {
    let v = serde_json::Value::Array(vec![
        choice(
            1,
            "Is genetic testing of embryos acceptable?",
            "POLPARTY_Democrat",
        ),
        choice(2, "Should vaccines be mandatory?", "POLPARTY_Republican"),
        choice(3, "Is genetic data sharing acceptable?", "RELIG_Protestant"),
    ]);
    let items = vital::load_value(&v, Some(Source::OpinionQa)).expect("fixture loads");
    Catalog::new(Source::OpinionQa, "fixture.json".into(), items)
}

#[wasm_bindgen_test]
fn catalog_filters_by_attribute_and_every_word() {
    let c = opinion_catalog();
    assert_eq!(c.filter("", ""), vec![0, 1, 2]);
    assert_eq!(c.filter("", "genetic"), vec![0, 2]);
    assert_eq!(c.filter("", "GENETIC acceptable embryos"), vec![0]);
    assert_eq!(c.filter("POLPARTY_Republican", ""), vec![1]);
    assert_eq!(
        c.filter("POLPARTY_Republican", "genetic"),
        Vec::<usize>::new()
    );
    assert_eq!(c.attributes.len(), 3);
    assert_eq!(
        attribute_label(Source::OpinionQa, "POLPARTY_Democrat"),
        "political party: Democrat"
    );
    assert_eq!(
        attribute_label(Source::MoralChoice, "low_ambiguity"),
        "low ambiguity"
    );
}

#[wasm_bindgen_test]
fn list_titles_drop_the_shared_moralchoice_preface() {
    let v = serde_json::json!([{"question": "Below is a scenario and two potential actions, please select the one that is more moral.\nScenario: A nurse sees an error.\nA. Report it.\nB. Hide it.\nAnswer:",
        "options": ["Report it.", "Hide it."], "attribute": "low_ambiguity", "gold_distribution": [1, 0], "pred_distribution": null, "id": "C_001"}]);
    let items = vital::load_value(&v, Some(Source::MoralChoice)).expect("loads");
    let title = display_title(&items[0]);
    assert!(title.starts_with("A nurse sees an error."), "{title}");
}

fn record(k: usize) -> RunRecord {
    let item = Item::custom(
        "t-1",
        "Share records?",
        &["Yes".into(), "No".into()],
        Some(vec![0.6, 0.4]),
    )
    .expect("item");
    let mut r = RunRecord::new(item, RunSettings::with_model("m"), Method::EthosAgents);
    r.created_ms = 1_700_000_000_000.0;
    for i in 0..k {
        let p = Perspective {
            raw: format!("P{i}: a, b, c, d, e"),
            name: format!("P{i}"),
            ..Default::default()
        };
        r.add_perspective(p);
    }
    r.perspectives.edited = false;
    r
}

fn ok_comment(i: usize) -> CommentRecord {
    CommentRecord {
        index: i,
        perspective: format!("P{i}"),
        call_id: None,
        raw: "A. yes".into(),
        cleaned: "A. yes".into(),
        letter: Some('A'),
        edited: false,
        error: None,
    }
}

#[wasm_bindgen_test]
async fn share_links_compress_in_the_browser_and_open_again() {
    let mut r = record(2);
    r.comments[0] = Some(ok_comment(0));
    let mut b = record(0);
    b.method = Method::Vanilla;
    let shared = share::Shared::run(r.clone(), vec![b.clone()]);
    // No page here (Node): the link is the fragment alone.
    let frag = share::link_for(&shared).await.expect("a link");
    assert!(frag.starts_with(PREFIX_V2), "{frag}");
    assert!(frag.len() < fragment(&r, &[b.clone()]).len() / 2, "{frag}");
    let link = read_link(&frag).expect("a share link").expect("reads");
    assert_eq!(share::open(link).await, Ok(shared));
    // An old link opens through the same path.
    let old = read_link(&fragment(&r, &[b.clone()])).expect("old").expect("reads");
    assert_eq!(share::open(old).await, Ok(share::Shared::run(r, vec![b])));
}

#[wasm_bindgen_test]
async fn a_run_too_long_for_a_link_is_refused_with_its_length() {
    let mut r = record(1);
    // 40k characters that do not compress: letters from a linear congruential sequence.
    let mut x: u64 = 7;
    r.perspectives.raw = vec![(0..40_000)
        .map(|_| {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            char::from(b'a' + (x >> 59) as u8 % 26)
        })
        .collect()];
    match share::link_for(&share::Shared::run(r, Vec::new())).await {
        Err(e @ share::LinkError::TooLong { chars, max }) => {
            assert!(chars > max, "{chars} > {max}");
            assert!(e.to_string().contains("JSON file"), "{e}");
        }
        other => panic!("expected too long, got {other:?}"),
    }
}

#[wasm_bindgen_test]
async fn inflating_stops_at_the_cap_and_reports_damage() {
    let zeros = vec![0u8; 3 << 20];
    let packed = deflate::deflate(&zeros).await.expect("deflate");
    assert!(packed.len() < 10_000, "{}", packed.len());
    assert_eq!(deflate::inflate(&packed, zeros.len()).await, Ok(zeros));
    assert_eq!(
        deflate::inflate(&packed, 1 << 20).await,
        Err(deflate::DeflateError::TooBig(1 << 20))
    );
    let bomb = read_link(&fragment_v2(&packed)).expect("link").expect("reads");
    let opened = share::open(bomb).await;
    assert!(matches!(opened, Err(ShareError::Format(_))), "{opened:?}");
    // Cut short: the stream reports it, the link says it is damaged.
    let cut = deflate::inflate(&packed[..packed.len() / 2], 8 << 20).await;
    assert!(matches!(cut, Err(deflate::DeflateError::Stream(_))), "{cut:?}");
    let cut = read_link(&fragment_v2(&packed[..packed.len() / 2])).expect("link").expect("reads");
    let opened = share::open(cut).await;
    assert!(matches!(opened, Err(ShareError::Inflate(_))), "{opened:?}");
}

// Estimates and adding/removing perspectives are tested natively in ethos-engine.

#[wasm_bindgen_test]
fn keys_belong_to_one_origin_as_the_browser_parses_it() {
    use crate::keys::{origin_of, KeyRing};
    assert_eq!(origin_of("https://api.openai.com/v1").as_deref(), Some("https://api.openai.com"));
    assert_eq!(origin_of("HTTP://LocalHost:80/v1/").as_deref(), Some("http://localhost"));
    // A backslash is a slash to the browser: the host is evil.test, not the name after the `@`.
    assert_eq!(origin_of("http://evil.test\\@api.openai.com/v1").as_deref(), Some("http://evil.test"));
    for bad in ["javascript:alert(1)", "data:text/plain,x", "ftp://h/", "not a url", ""] {
        assert_eq!(origin_of(bad), None, "{bad}");
    }
    let own = "https://api.openai.com";
    let mut ring = KeyRing::default();
    ring.set(own, " sk-own ", true);
    assert_eq!(ring.key_for(Some(own)), Some("sk-own"));
    assert_eq!(ring.key_for(Some("http://evil.test")), None);
    assert_eq!(ring.key_for(None), None);
    // What is stored reads back; damaged or foreign entries are dropped, never trusted.
    let stored = ring.stored().expect("remembered");
    assert_eq!(KeyRing::from_stored(Some(&stored)).key_for(Some(own)), Some("sk-own"));
    let damaged = r#"{"https://api.openai.com":"sk-a","javascript:x":"sk-b","http://h.test/path":"sk-c","http://n.test":7}"#;
    let read = KeyRing::from_stored(Some(damaged));
    assert_eq!(read.key_for(Some(own)), Some("sk-a"));
    assert_eq!(KeyRing::from_stored(Some(&read.stored().unwrap_or_default())), read);
    assert_eq!(KeyRing::from_stored(Some("not json")), KeyRing::default());
    // Remember off: the key stays typed (this tab) but leaves storage.
    ring.set_remember(own, false);
    assert_eq!(ring.stored(), None);
    assert_eq!(ring.key_for(Some(own)), Some("sk-own"));
    // The one key of earlier versions goes to its saved endpoint's origin only.
    let mut legacy = KeyRing::default();
    legacy.adopt_legacy("sk-old", Some("http://127.0.0.1:8088/v1"));
    assert_eq!(legacy.key_for(Some("http://127.0.0.1:8088")), Some("sk-old"));
    let mut orphan = KeyRing::default();
    orphan.adopt_legacy("sk-old", None);
    assert_eq!(orphan, KeyRing::default());
}

#[wasm_bindgen_test]
fn a_page_suggestion_replaces_nothing_the_user_chose() {
    use crate::connection::SavedEndpoint;
    use crate::suggestion::{check, decide, Decision, EmbeddedConfig};
    let cfg = |url: &str, model: Option<&str>| EmbeddedConfig {
        base_url: Some(url.into()),
        model: model.map(str::to_string),
        ..Default::default()
    };
    let mine = SavedEndpoint { preset: "custom".into(), base_url: "http://127.0.0.1:8088/v1".into() };
    assert_eq!(decide(None, "", &cfg("http://other.test/v1", None)), Decision::UseUnsaved);
    assert_eq!(decide(Some(&mine), "m", &cfg("http://127.0.0.1:8088/v1/", Some("m"))), Decision::UseAsOwn);
    assert_eq!(decide(Some(&mine), "m", &cfg("http://127.0.0.1:8088/v1", Some("pricey"))), Decision::Offer);
    assert_eq!(decide(Some(&mine), "m", &cfg("http://other.test/v1", None)), Decision::Offer);
    let other_protocol = EmbeddedConfig { preset: Some("anthropic".into()), ..cfg("http://127.0.0.1:8088/v1", None) };
    assert_eq!(decide(Some(&mine), "m", &other_protocol), Decision::Offer);
    // Checked before anything: only http(s), bounded clean texts, known presets.
    assert!(check(cfg("javascript:alert(1)", None)).is_err());
    assert!(check(EmbeddedConfig::default()).is_err());
    let long = "m".repeat(10_000);
    let ok = check(EmbeddedConfig { preset: Some("no-such".into()), model: Some(format!("a\u{0}b{long}")), concurrency: Some(999), ..cfg(" http://h.test/v1 ", None) }).expect("checked");
    assert_eq!(ok.base_url.as_deref(), Some("http://h.test/v1"));
    assert_eq!(ok.preset, None);
    assert!(ok.model.as_deref().is_some_and(|m| m.starts_with("ab") && m.len() <= 200));
    assert_eq!(ok.concurrency, Some(16));
}

/// The in-tab model catalog: unique ids, https (or beside the page) GGUF files, each entry found
/// by its URL, and a description that names size, licence and the expected speed, which falls
/// as the file grows and rises with threads.
#[wasm_bindgen_test]
fn the_model_catalog_is_consistent_and_describes_each_model() {
    use crate::local_catalog::{by_id, by_url, CATALOG};
    let mut ids: Vec<&str> = CATALOG.iter().map(|m| m.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), CATALOG.len(), "ids are unique");
    for m in CATALOG {
        assert!(
            (m.url.starts_with("https://") || m.url.starts_with("./models/"))
                && m.url.to_ascii_lowercase().ends_with(".gguf"),
            "{}",
            m.url
        );
        assert_eq!(by_url(&format!(" {} ", m.url)).map(|x| x.id), Some(m.id));
        assert_eq!(by_id(m.id).map(|x| x.url), Some(m.url));
        let d = m.describe(2);
        assert!(d.contains(m.licence) && d.contains("tokens/s") && d.contains("2 threads"), "{d}");
    }
    assert!(by_url("https://example.org/other.gguf").is_none());
    let small = by_id("qwen2.5-0.5b").expect("0.5B");
    let big = by_id("qwen2.5-1.5b").expect("1.5B");
    assert!(small.expected_tokens_per_s(2) > big.expected_tokens_per_s(2));
    assert!(big.expected_tokens_per_s(2) > big.expected_tokens_per_s(1));
    assert!(big.describe(1).contains("1.1 GB") && big.describe(1).contains("(1 thread;"));
}
