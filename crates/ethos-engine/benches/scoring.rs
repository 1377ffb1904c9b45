//! `cargo bench -p ethos-engine --bench scoring`: scoring a whole benchmark (all 1,676
//! GlobalOpinionQA items × EthosAgents, vanilla and prompting), as the app does when a batch
//! loads, pauses or ends: each method's summary and its per-attribute breakdown (128 countries).
//! The breakdown groups the outcomes in one pass; side by side, the same figures made by scanning
//! every outcome once per attribute (close to how it was done before, which scanned without copying), with the ratio. Median of 21 rounds.

use ethos_engine::batch::{self, Outcome, Scoring, Task};
use ethos_engine::distribution::DistMethod;
use ethos_engine::record::{DistResult, RunResult};
use ethos_engine::settings::Method;
use ethos_engine::vital::{self, Item, Source};
use std::time::Instant;

const METHODS: [Method; 3] = [Method::EthosAgents, Method::Vanilla, Method::Prompting];

fn median_ms(mut f: impl FnMut()) -> f64 {
    let mut t: Vec<f64> = (0..21)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}

fn main() {
    let file = "vital_distributional_globalopinionqa.json";
    let path = format!("{}/../../public/vital/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect("the shipped VITAL file");
    let items = vital::load(&text, Source::from_file_name(file)).expect("loads");
    let mut outcomes = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let n = match item {
            Item::Choice { item, .. } => item.options.len().max(1),
            _ => 2,
        };
        for method in METHODS {
            let mut d = vec![0.5 / n as f64; n];
            d[i % n] += 0.5;
            outcomes.push(Outcome {
                task: Task { item: i, method, model: 0 },
                result: Some(RunResult::Distribution(DistResult {
                    selection: None,
                    answer: None,
                    per_read: vec![None; 6],
                    distribution: d,
                    method: DistMethod::Logprobs,
                    note: None,
                    js: None,
                    argmax_match: None,
                })),
                error: None,
                calls: 13,
                cached_calls: 0,
                prompt_tokens: 0,
                completion_tokens: 0,
                ms: 0.0,
            });
        }
    }
    let scoring = Scoring::default();
    let summaries = median_ms(|| {
        for m in METHODS {
            std::hint::black_box(batch::summarize_scored(&items, &outcomes, m, 0, scoring));
        }
    });
    let mut groups = 0;
    let grouped = median_ms(|| {
        for m in METHODS {
            groups = std::hint::black_box(batch::breakdown_scored(&items, &outcomes, m, 0, scoring)).len();
        }
    });
    // The same breakdown by scanning every outcome once per attribute.
    let mut keys: Vec<String> = Vec::new();
    for item in &items {
        if let Some(k) = batch::breakdown_key(item) {
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
    }
    let rescan = || {
        METHODS
            .iter()
            .map(|&m| {
                keys.iter()
                    .map(|k| {
                        let mine: Vec<Outcome> = outcomes
                            .iter()
                            .filter(|o| {
                                items
                                    .get(o.task.item)
                                    .and_then(batch::breakdown_key)
                                    .as_deref()
                                    == Some(k.as_str())
                            })
                            .cloned()
                            .collect();
                        (k.clone(), batch::summarize_scored(&items, &mine, m, 0, scoring))
                    })
                    .collect::<Vec<_>>()
            })
            .collect::<Vec<_>>()
    };
    // Both ways give the same figures.
    let by_rescan = rescan();
    for (m, rows) in METHODS.iter().zip(&by_rescan) {
        assert_eq!(&batch::breakdown_scored(&items, &outcomes, *m, 0, scoring), rows);
    }
    let per_attribute = median_ms(|| {
        std::hint::black_box(rescan());
    });
    println!(
        "\n## Scoring a whole benchmark ({} items × 3 methods, {groups} attributes; median of 21)",
        items.len()
    );
    println!("| figure | ms | ratio |");
    println!("|---|---:|---:|");
    println!("| the three summaries | {summaries:.2} | — |");
    println!("| the three breakdowns, one grouping pass | {grouped:.2} | 1 |");
    println!(
        "| the three breakdowns, every outcome scanned (and copied) once per attribute | {per_attribute:.2} | {:.1} |",
        per_attribute / grouped
    );
}
