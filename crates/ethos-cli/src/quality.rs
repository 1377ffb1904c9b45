//! `ethos quality FILE...`: how well the model of finished runs played the method's parts (see
//! `ethos_engine::quality`), one JSON line per file. A file is `ethos run`'s `OUT.records.jsonl`
//! (one run record per line; a task recorded twice counts once, its last record) or a run
//! exported from the app (a JSON record, or an array of records).
//!
//! Exit codes: 0 ok, 1 a file could not be read (the message names it and the line; the other
//! files are still read), 2 usage.

use clap::Parser;
use ethos_engine::quality::Quality;
use ethos_engine::record::RunRecord;
use ethos_engine::settings::Method;
use ethos_engine::vital::{ItemId, Source};
use serde_json::{json, Value};
use std::collections::HashMap;

/// `ethos quality`'s command line.
#[derive(Debug, Parser)]
#[command(after_help = DETAILS)]
pub struct QualityCli {
    /// Run records: OUT.records.jsonl from `ethos run`, or a run exported from the app (JSON).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<std::path::PathBuf>,
}

const DETAILS: &str = "\
  For each file, one JSON line: runs (EthosAgents runs read; baselines are left out),
  k_distinct (share of runs whose stage 1 gave k perspectives with k different names),
  filled (share of perspectives whose five dimensions hold values, not empty, not N/A, not the
  field names), lettered (share of the comments on items with options that start with an
  option letter), seconds_per_run (mean time from a run's start to its finish), and the counts
  behind each share. A share is null when nothing was there to count.";

/// The runs in `text`: JSON lines of records, or one JSON record or array of records.
fn read_records(text: &str) -> Result<Vec<RunRecord>, String> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('[') {
        let list: Vec<Value> = serde_json::from_str(trimmed).map_err(|e| e.to_string())?;
        return list
            .iter()
            .enumerate()
            .map(|(i, v)| {
                RunRecord::from_json(&v.to_string()).map_err(|e| format!("record {}: {e}", i + 1))
            })
            .collect();
    }
    if let Ok(r) = RunRecord::from_json(trimmed) {
        return Ok(vec![r]);
    }
    // One record per line; the last record of a task (item and method) is the one that counts.
    let mut last: HashMap<(Source, ItemId, Method), usize> = HashMap::new();
    let mut records = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let r = RunRecord::from_json(line).map_err(|e| format!("line {}: {e}", n + 1))?;
        let key = (r.item.source(), r.item.id().clone(), r.method);
        match last.get(&key) {
            Some(&i) => records[i] = r,
            None => {
                last.insert(key, records.len());
                records.push(r);
            }
        }
    }
    Ok(records)
}

fn summary(file: &str, q: &Quality) -> Value {
    json!({
        "file": file,
        "runs": q.runs,
        "k_distinct": q.k_distinct_share(),
        "filled": q.filled_share(),
        "lettered": q.lettered_share(),
        "seconds_per_run": q.seconds_per_run(),
        "counts": q,
    })
}

pub fn main(args: QualityCli) -> i32 {
    let mut code = 0;
    for path in &args.files {
        let name = path.display().to_string();
        let records = std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|t| read_records(&t));
        match records {
            Ok(records) => println!("{}", summary(&name, &Quality::of(&records))),
            Err(e) => {
                eprintln!("ethos quality: {name}: {e}");
                code = 1;
            }
        }
    }
    code
}

#[cfg(test)]
mod tests {
    use super::*;
    use ethos_engine::settings::RunSettings;
    use ethos_engine::vital::Item;

    fn record(id: &str, k: usize) -> RunRecord {
        let item =
            Item::custom(id, "Share records?", &["Yes".into(), "No".into()], None).expect("item");
        let mut s = RunSettings::with_model("m");
        s.k = k;
        RunRecord::new(item, s, Method::EthosAgents)
    }

    #[test]
    fn reads_json_lines_keeping_a_tasks_last_record_and_app_exports() {
        let first = record("a", 2);
        let mut again = record("a", 2);
        again.created_ms = 1.0;
        again.finished_ms = Some(3001.0);
        let other = record("b", 2);
        let line = |r: &RunRecord| serde_json::to_string(r).expect("json");
        let lines = format!("{}\n{}\n\n{}\n", line(&first), line(&other), line(&again));
        let got = read_records(&lines).expect("jsonl");
        assert_eq!(got, vec![again.clone(), other.clone()]);
        assert_eq!(Quality::of(&got).seconds_per_run(), Some(3.0));
        // The app's exports: one record, or an array.
        assert_eq!(
            read_records(&first.to_json()).expect("one"),
            vec![first.clone()]
        );
        let array = ethos_engine::record::records_to_json(&[first.clone(), other.clone()]);
        assert_eq!(read_records(&array).expect("array"), vec![first, other]);
    }

    #[test]
    fn a_bad_line_is_named() {
        let text = format!(
            "{}\nnot json\n",
            serde_json::to_string(&record("a", 2)).expect("json")
        );
        let e = read_records(&text).expect_err("bad line");
        assert!(e.starts_with("line 2:"), "{e}");
    }
}
