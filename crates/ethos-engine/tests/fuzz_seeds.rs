//! The fuzz corpus's run records and share links (fuzz/seeds/record, fuzz/seeds/share) are real
//! exports of this engine: each imports, and each is what the scripted pipeline produces today.
//! After a change to the record format, rewrite them with
//! `ETHOS_WRITE_FUZZ_SEEDS=1 cargo test -p ethos-engine --test fuzz_seeds`.

#[path = "scripted.rs"]
mod scripted;

use ethos_engine::record::RunRecord;
use ethos_engine::settings::Method;
use ethos_engine::share;
use scripted::{global, moral, opinion, overton, run_with, settings, value_item, ScriptedModel};
use std::path::PathBuf;

fn seeds() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds")
}

/// (file name, content) of every record and share-link seed.
fn expected() -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let items = [
        ("overton", overton()),
        ("value", value_item()),
        ("opinion", opinion()),
        ("global", global()),
        ("moral", moral()),
    ];
    for (name, item) in items {
        // k = 2 keeps the seeds small (a few KB): the fuzzer runs faster on short inputs.
        let (res, run) = run_with(item.clone(), settings(2, 2), Method::EthosAgents, &ScriptedModel::default());
        res.expect("the scripted run finishes");
        let (res, base) = run_with(item, settings(2, 2), Method::Vanilla, &ScriptedModel::default());
        res.expect("the scripted baseline finishes");
        out.push(("record".into(), format!("{name}.json"), run.to_json()));
        out.push(("record".into(), format!("{name}.vanilla.json"), base.to_json()));
        // One link with a baseline; the others carry the baseline alone.
        let link = if name == "moral" {
            share::fragment(&run, &[base])
        } else {
            share::fragment(&base, &[])
        };
        out.push(("share".into(), format!("{name}.txt"), link));
        // An `#r2=` link's payload as the browser inflates it (header, string table, records).
        if name == "moral" || name == "opinion" {
            let payload = share::payload(&share::Shared::run(run, vec![]));
            out.push(("share".into(), format!("{name}.r2-payload.txt"), payload));
        }
    }
    out
}

#[test]
fn fuzz_seed_records_and_links_are_current_exports() {
    let write = std::env::var_os("ETHOS_WRITE_FUZZ_SEEDS").is_some();
    for (dir, name, content) in expected() {
        let path = seeds().join(&dir).join(&name);
        if write {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &content).unwrap();
        }
        let on_disk = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (write the seeds: see this file's header)", path.display()));
        assert_eq!(on_disk, content, "{} is stale (rewrite the seeds: see this file's header)", path.display());
        if dir == "record" {
            RunRecord::from_json(&on_disk).expect("a record seed imports");
        } else if name.ends_with(".r2-payload.txt") {
            share::from_payload(on_disk.as_bytes()).expect("an #r2= payload seed reads");
        } else {
            let (_, baselines) = share::decode_all(&on_disk).expect("a share seed decodes");
            assert_eq!(baselines.len(), usize::from(name == "moral.txt"));
        }
    }
}
