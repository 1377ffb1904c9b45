//! `ethos run`: run VITAL items through EthosAgents (or a baseline) against an LLM endpoint,
//! natively, and write the predictions in the VITAL file shape so `ethos score` can score them.
//!
//! ```text
//! ethos run --file F [--ids ID[,ID…]] --method ethosagents|vanilla|prompting
//!           --provider openai|anthropic --base-url URL --model M [--key-env VAR]
//!           [--k N] [--seed S] [--concurrency C]
//!           [--dist auto|logprobs|votes|sampling|verbalised] [--samples N] [--out FILE]
//! ```
//!
//! - Output: `--out FILE` (default `<input stem>.<method>.json` in the current directory) holds
//!   the selected items (all when `--ids` is omitted) with `pred_distribution` / `output` filled;
//!   `FILE.records.jsonl` beside it gets one full run record per item (every prompt, reply,
//!   usage, timing, the distribution method), appended as each item finishes — a failed item's
//!   record keeps the calls that finished.
//! - Resumable: items whose record in `FILE.records.jsonl` has a result (same method and model)
//!   are not run again; their result is reused. Failed items are run again.
//! - The key is read only from the environment variable named by `--key-env`, and never printed.
//! - A fault that will hit every item (bad key, forbidden, unknown model) stops the run after the
//!   item it happened in.
//!
//! Exit codes: 0 all items done, 1 some item failed or bad input, 2 usage.

use ethos_engine::distribution::DistMethod;
use ethos_engine::pipeline::{Observer, Phase, Pipeline, PipelineError, SharedRecord, Stages};
use ethos_engine::record::{CallRecord, RunRecord, RunResult};
use ethos_engine::settings::{DistSetting, Method, RunSettings};
use ethos_engine::vital::{self, Item, Source};
use ethos_engine::ChatError;
use ethos_providers::native::NativeTransport;
use ethos_providers::{Client, Endpoint, Protocol};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

pub const USAGE: &str = "\
usage: ethos run --file F [--ids ID[,ID...]] --method ethosagents|vanilla|prompting
                 --provider openai|anthropic --base-url URL --model M [--key-env VAR]
                 [--k N] [--seed S] [--concurrency C]
                 [--dist auto|logprobs|votes|sampling|verbalised] [--samples N]
                 [--perspectives lines|json] [--out FILE]
  Runs the items through the method against the endpoint and writes FILE (the VITAL shape with
  pred_distribution/output filled, for `ethos score`) and FILE.records.jsonl (run records).
  The key is read from the environment variable named by --key-env (never from the command line).
  --perspectives json asks stage 1 for schema-checked JSON (not the reference format; for small
  local models that cannot follow the `#` line format).";

#[derive(Debug)]
pub enum RunError {
    Usage(String),
    Input(String),
    /// Items failed (the message says which); outputs were written.
    Failed(String),
}

impl RunError {
    fn code(&self) -> i32 {
        match self {
            RunError::Usage(_) => 2,
            RunError::Input(_) | RunError::Failed(_) => 1,
        }
    }
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::Usage(m) => write!(f, "{m}\n{USAGE}"),
            RunError::Input(m) | RunError::Failed(m) => f.write_str(m),
        }
    }
}

pub fn main(args: &[String]) -> i32 {
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        return 0;
    }
    let parsed = match parse_args(args) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("ethos run: {e}");
            return e.code();
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ethos run: cannot start the async runtime: {e}");
            return 1;
        }
    };
    match rt.block_on(run(&parsed, &mut Progress::stderr())) {
        Ok(summary) => {
            println!("{summary}");
            0
        }
        Err(e) => {
            eprintln!("ethos run: {e}");
            e.code()
        }
    }
}

/// Parsed command line.
#[derive(Debug, Clone, PartialEq)]
pub struct RunArgs {
    pub file: PathBuf,
    pub ids: Option<Vec<String>>,
    pub method: Method,
    pub protocol: Protocol,
    pub base_url: String,
    pub model: String,
    pub key_env: Option<String>,
    pub k: usize,
    pub seed: u64,
    pub concurrency: usize,
    pub dist: DistSetting,
    /// Stage 1 as schema-constrained JSON (`--perspectives json`) instead of `#` lines.
    pub structured_perspectives: bool,
    pub out: PathBuf,
}

impl RunArgs {
    pub fn records_path(&self) -> PathBuf {
        let mut p = self.out.clone().into_os_string();
        p.push(".records.jsonl");
        PathBuf::from(p)
    }
}

fn method_name(m: Method) -> &'static str {
    match m {
        Method::EthosAgents => "ethosagents",
        Method::Vanilla => "vanilla",
        Method::Prompting => "prompting",
    }
}

pub fn parse_args(args: &[String]) -> Result<RunArgs, RunError> {
    let usage = |m: String| RunError::Usage(m);
    let mut map: HashMap<&str, String> = HashMap::new();
    let known = [
        "--file",
        "--ids",
        "--method",
        "--provider",
        "--base-url",
        "--model",
        "--key-env",
        "--k",
        "--seed",
        "--concurrency",
        "--dist",
        "--samples",
        "--perspectives",
        "--out",
    ];
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
            _ => (a.as_str(), None),
        };
        let Some(key) = known.iter().find(|k| **k == name) else {
            return Err(usage(format!("unknown argument {a:?}")));
        };
        let value = match inline {
            Some(v) => v,
            None => it
                .next()
                .cloned()
                .ok_or_else(|| usage(format!("{name} needs a value")))?,
        };
        if map.insert(key, value).is_some() {
            return Err(usage(format!("{name} given twice")));
        }
    }
    let need = |k: &str| {
        map.get(k)
            .cloned()
            .ok_or_else(|| usage(format!("missing {k}")))
    };
    let number = |k: &str, default: u64| -> Result<u64, RunError> {
        match map.get(k) {
            None => Ok(default),
            Some(v) => v
                .trim()
                .parse::<u64>()
                .map_err(|_| usage(format!("{k} must be a whole number, got {v:?}"))),
        }
    };
    let file = PathBuf::from(need("--file")?);
    let method = match need("--method")?.to_ascii_lowercase().as_str() {
        "ethosagents" | "ethos" => Method::EthosAgents,
        "vanilla" => Method::Vanilla,
        "prompting" => Method::Prompting,
        other => {
            return Err(usage(format!(
                "unknown method {other:?} (ethosagents, vanilla or prompting)"
            )))
        }
    };
    let protocol = match need("--provider")?.to_ascii_lowercase().as_str() {
        "openai" => Protocol::OpenAi,
        "anthropic" => Protocol::Anthropic,
        other => {
            return Err(usage(format!(
                "unknown provider {other:?} (openai or anthropic)"
            )))
        }
    };
    let base_url = need("--base-url")?.trim().to_string();
    let model = need("--model")?.trim().to_string();
    if model.is_empty() {
        return Err(usage("--model is empty".into()));
    }
    let samples = u32::try_from(number("--samples", 5)?)
        .map_err(|_| usage("--samples is too large".into()))?;
    let dist = match map.get("--dist").map(|s| s.to_ascii_lowercase()).as_deref() {
        None | Some("auto") => DistSetting::Auto,
        Some("logprobs") => DistSetting::Logprobs,
        Some("votes") => DistSetting::Votes,
        Some("sampling") => DistSetting::Sampling { n: samples },
        Some("verbalised" | "verbalized") => DistSetting::Verbalised,
        Some(other) => {
            return Err(usage(format!(
                "unknown --dist {other:?} (auto, logprobs, votes, sampling, verbalised)"
            )))
        }
    };
    let structured_perspectives = match map.get("--perspectives").map(|s| s.to_ascii_lowercase()).as_deref() {
        None | Some("lines") => false,
        Some("json") => true,
        Some(other) => return Err(usage(format!("unknown --perspectives {other:?} (lines, json)"))),
    };
    let ids = map.get("--ids").map(|s| {
        s.split(',')
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect::<Vec<_>>()
    });
    if ids.as_ref().is_some_and(Vec::is_empty) {
        return Err(usage("--ids is empty".into()));
    }
    let out = match map.get("--out") {
        Some(o) => PathBuf::from(o),
        None => {
            let stem = file
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "items".into());
            PathBuf::from(format!("{stem}.{}.json", method_name(method)))
        }
    };
    if out == file {
        return Err(usage(
            "--out must differ from --file (the input is never overwritten)".into(),
        ));
    }
    let key_env = map.get("--key-env").map(|s| s.trim().to_string());
    Ok(RunArgs {
        file,
        ids,
        method,
        protocol,
        base_url,
        model,
        key_env,
        k: usize::try_from(number("--k", 6)?).map_err(|_| usage("--k is too large".into()))?,
        seed: number("--seed", 0)?,
        concurrency: usize::try_from(number("--concurrency", 4)?)
            .map_err(|_| usage("--concurrency is too large".into()))?,
        dist,
        structured_perspectives,
        out,
    })
}

/// The progress line: rewritten in place on a terminal, one line per item otherwise.
pub struct Progress {
    sink: Option<Box<dyn Write>>,
    tty: bool,
}

impl Progress {
    pub fn stderr() -> Self {
        Progress {
            tty: std::io::stderr().is_terminal(),
            sink: Some(Box::new(std::io::stderr())),
        }
    }
    /// No output (tests).
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn silent() -> Self {
        Progress {
            sink: None,
            tty: false,
        }
    }
    fn live(&mut self, line: &str) {
        if self.tty {
            if let Some(s) = self.sink.as_mut() {
                let _ = write!(s, "\r\x1b[2K{line}");
                let _ = s.flush();
            }
        }
    }
    fn line(&mut self, line: &str) {
        if let Some(s) = self.sink.as_mut() {
            if self.tty {
                let _ = write!(s, "\r\x1b[2K");
            }
            let _ = writeln!(s, "{line}");
        }
    }
}

/// Counts calls for the live progress line.
struct CallCounter<'a> {
    started: Cell<u32>,
    finished: Cell<u32>,
    failed: Cell<u32>,
    phase: Cell<Option<Phase>>,
    prefix: String,
    progress: &'a RefCell<&'a mut Progress>,
}

impl CallCounter<'_> {
    fn show(&self) {
        let phase = match self.phase.get() {
            Some(Phase::Perspectives) => "perspectives",
            Some(Phase::Comments) => "comments",
            Some(Phase::Combine) => "combine",
            Some(Phase::Baseline) => "baseline",
            Some(Phase::Judge) => "judge",
            Some(Phase::Finished) => "finished",
            None => "starting",
        };
        let line = format!(
            "{} {phase}: {} calls done, {} running, {} failed",
            self.prefix,
            self.finished.get(),
            self.started.get().saturating_sub(self.finished.get()),
            self.failed.get()
        );
        if let Ok(mut p) = self.progress.try_borrow_mut() {
            p.live(&line);
        }
    }
}

impl Observer for CallCounter<'_> {
    fn stage_changed(&self, phase: Phase) {
        self.phase.set(Some(phase));
        self.show();
    }
    fn call_started(&self, _call: &CallRecord) {
        self.started.set(self.started.get() + 1);
        self.show();
    }
    fn call_finished(&self, call: &CallRecord) {
        self.finished.set(self.finished.get() + 1);
        if call.error.is_some() {
            self.failed.set(self.failed.get() + 1);
        }
        self.show();
    }
}

/// Errors that will hit every further item too: stop the run.
fn fatal(e: &PipelineError) -> Option<&ChatError> {
    let is_fatal = |c: &ChatError| {
        matches!(
            c,
            ChatError::BadKey | ChatError::Forbidden(_) | ChatError::NotFound(_)
        )
    };
    match e {
        PipelineError::Call { error, .. } if is_fatal(error) => Some(error),
        PipelineError::CommentsFailed { failed, .. }
        | PipelineError::ReadsFailed { failed, .. } => {
            failed.iter().map(|(_, c)| c).find(|c| is_fatal(c))
        }
        _ => None,
    }
}

/// Put a result into the item, in the VITAL file's fields.
pub fn fill(item: &mut Item, result: &RunResult) {
    match (item, result) {
        (Item::Choice { item, .. }, RunResult::Distribution(d)) => {
            item.pred_distribution = Some(d.distribution.clone())
        }
        (Item::Overton(i), RunResult::Overton(o)) => i.output = Some(o.text.clone()),
        (Item::Value(i), RunResult::Value(v)) => i.output = Some(v.answer.clone()),
        _ => {}
    }
}

/// Records already in the records file that can be reused: item id -> record with a result.
fn load_done(
    path: &Path,
    args: &RunArgs,
    progress: &mut Progress,
) -> Result<HashMap<String, RunRecord>, RunError> {
    let mut done = HashMap::new();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(done),
        Err(e) => {
            return Err(RunError::Input(format!(
                "cannot read {}: {e}",
                path.display()
            )))
        }
    };
    let mut bad = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        match RunRecord::from_json(line) {
            Ok(r)
                if r.result.is_some()
                    && r.method == args.method
                    && r.settings.models.combine == args.model =>
            {
                done.insert(r.item.id().to_string(), r);
            }
            Ok(_) => {}
            Err(_) => bad += 1,
        }
    }
    if bad > 0 {
        progress.line(&format!(
            "note: {bad} unreadable line(s) in {} were ignored",
            path.display()
        ));
    }
    Ok(done)
}

fn append_record(path: &Path, record: &RunRecord) -> Result<(), RunError> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| RunError::Input(format!("cannot write {}: {e}", path.display())))?;
    let line = serde_json::to_string(record)
        .map_err(|e| RunError::Input(format!("cannot serialise a run record: {e}")))?;
    writeln!(f, "{line}")
        .map_err(|e| RunError::Input(format!("cannot write {}: {e}", path.display())))
}

fn describe_dist(result: &RunResult, setting: DistSetting) -> Option<String> {
    let RunResult::Distribution(d) = result else {
        return None;
    };
    let method = match d.method {
        DistMethod::Logprobs => "logprobs",
        DistMethod::Votes => "votes",
        DistMethod::Sampling => "sampling",
        DistMethod::Verbalised => "verbalised",
    };
    match (setting, d.method) {
        (DistSetting::Auto, DistMethod::Logprobs) => {
            Some("distribution: logprobs (the endpoint returned them)".into())
        }
        (DistSetting::Auto, _) => Some(format!(
            "distribution: fell back to {method}{}",
            d.note
                .as_deref()
                .map(|n| format!(" ({n})"))
                .unwrap_or_default()
        )),
        _ => Some(format!("distribution: {method}")),
    }
}

/// Run everything; returns the summary to print (JSON).
pub async fn run(args: &RunArgs, progress: &mut Progress) -> Result<String, RunError> {
    let text = std::fs::read_to_string(&args.file)
        .map_err(|e| RunError::Input(format!("cannot read {}: {e}", args.file.display())))?;
    let file_name = args.file.to_string_lossy();
    let items = vital::load(&text, Source::from_file_name(&file_name))
        .map_err(|e| RunError::Input(format!("{file_name}: {e}")))?;
    let selected: Vec<Item> = match &args.ids {
        None => items,
        Some(ids) => {
            let by_id: HashMap<String, &Item> =
                items.iter().map(|i| (i.id().to_string(), i)).collect();
            let missing: Vec<&str> = ids
                .iter()
                .filter(|id| !by_id.contains_key(id.as_str()))
                .map(String::as_str)
                .collect();
            if !missing.is_empty() {
                return Err(RunError::Input(format!(
                    "{file_name}: no item with id {}",
                    missing.join(", ")
                )));
            }
            ids.iter()
                .filter_map(|id| by_id.get(id.as_str()).map(|i| (*i).clone()))
                .collect()
        }
    };

    let key = match &args.key_env {
        None => None,
        Some(var) => match std::env::var(var) {
            Ok(v) if !v.trim().is_empty() => Some(v),
            _ => {
                return Err(RunError::Input(format!(
                    "the environment variable {var} (named by --key-env) is not set or empty"
                )))
            }
        },
    };
    let mut settings = RunSettings::with_model(args.model.clone());
    settings.k = args.k;
    settings.seed = args.seed;
    settings.concurrency = args.concurrency.max(1);
    settings.distribution = args.dist;
    settings.structured_perspectives = args.structured_perspectives;
    settings
        .validate()
        .map_err(|e| RunError::Usage(format!("invalid settings: {e}")))?;

    let transport = NativeTransport::new().map_err(|e| RunError::Input(e.to_string()))?;
    let endpoint = Endpoint::new(args.protocol, args.base_url.clone(), key, "custom");
    let client = Client::new(endpoint, transport).with_concurrency(settings.concurrency);

    let records_path = args.records_path();
    let done = load_done(&records_path, args, progress)?;
    let start = std::time::Instant::now();
    let clock = move || start.elapsed().as_secs_f64() * 1000.0;

    let total = selected.len();
    let mut out_items = Vec::with_capacity(total);
    let mut failures: Vec<String> = Vec::new();
    let mut reused = 0;
    let mut ran = 0;
    let mut stopped: Option<String> = None;
    let mut notes: Vec<String> = Vec::new();
    for (n, item) in selected.into_iter().enumerate() {
        let id = item.id().to_string();
        let mut item = item;
        if stopped.is_some() {
            out_items.push(item);
            continue;
        }
        if let Some(rec) = done.get(&id) {
            if let Some(result) = &rec.result {
                fill(&mut item, result);
            }
            reused += 1;
            progress.line(&format!(
                "[{}/{total}] id {id}: already in {} (skipped)",
                n + 1,
                records_path.display()
            ));
            out_items.push(item);
            continue;
        }
        ran += 1;
        let record = SharedRecord::new(RunRecord::new(item.clone(), settings.clone(), args.method));
        let result = {
            let cell = RefCell::new(&mut *progress);
            let observer = CallCounter {
                started: Cell::new(0),
                finished: Cell::new(0),
                failed: Cell::new(0),
                phase: Cell::new(None),
                prefix: format!("[{}/{total}] id {id}", n + 1),
                progress: &cell,
            };
            let pipeline = Pipeline::new(Stages::same(&client), &clock, &observer, record.clone());
            pipeline.run().await
        };
        let snapshot = record.snapshot();
        append_record(&records_path, &snapshot)?;
        match result {
            Ok(res) => {
                fill(&mut item, &res);
                let dist = describe_dist(&res, args.dist);
                if let Some(d) = &dist {
                    if !notes.contains(d) {
                        notes.push(d.clone());
                    }
                }
                progress.line(&format!(
                    "[{}/{total}] id {id}: done, {} calls{}",
                    n + 1,
                    snapshot.totals.calls,
                    dist.map(|d| format!("; {d}")).unwrap_or_default()
                ));
            }
            Err(e) => {
                let kept = snapshot.calls.iter().filter(|c| c.is_ok()).count();
                progress.line(&format!(
                    "[{}/{total}] id {id}: FAILED: {e} ({kept} finished calls kept in the record)",
                    n + 1
                ));
                failures.push(format!("id {id}: {e}"));
                if let Some(f) = fatal(&e) {
                    stopped = Some(format!("stopped after id {id}: {f}"));
                }
            }
        }
        out_items.push(item);
    }

    let json = serde_json::to_string_pretty(&vital::to_vital_json(&out_items))
        .map_err(|e| RunError::Input(format!("cannot serialise the output: {e}")))?;
    std::fs::write(&args.out, json + "\n")
        .map_err(|e| RunError::Input(format!("cannot write {}: {e}", args.out.display())))?;
    let summary = serde_json::json!({
        "items": total,
        "ran": ran,
        "not_run": total - ran - reused,
        "reused": reused,
        "failed": failures.len(),
        "stopped": stopped,
        "distribution": notes,
        "out": args.out.display().to_string(),
        "records": records_path.display().to_string(),
    });
    if let Some(s) = &stopped {
        return Err(RunError::Failed(format!("{s}\n{summary}")));
    }
    if !failures.is_empty() {
        return Err(RunError::Failed(format!(
            "{} item(s) failed: {}\n{summary}",
            failures.len(),
            failures.join("; ")
        )));
    }
    Ok(summary.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ethos_engine::record::RunStatus;
    use ethos_testkit::{Fault, FaultServer};

    const REPLY: &str = "A. We should follow the procedure.\n\
#Carer: compassion, ethics of care, right to care, empathy, nurse\n\
#Jurist: justice, deontology, duty of fairness, calm, judge\n\
#Planner: welfare, consequentialism, right to resources, worry, administrator";

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    fn vital_file() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../public/vital/vital_distributional_moralchoice.json")
    }

    fn server() -> FaultServer {
        let s = FaultServer::start().expect("fault server");
        s.set_texts(vec![REPLY.into()]);
        s
    }

    fn tmp_out(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("ethos-run-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("tmp dir");
        dir.join("out.json")
    }

    fn args_for(
        server: &FaultServer,
        model: &str,
        ids: &str,
        out: &Path,
        extra: &[&str],
    ) -> RunArgs {
        let mut a = strings(&[
            "--file",
            &vital_file().to_string_lossy(),
            "--ids",
            ids,
            "--method",
            "ethosagents",
            "--provider",
            "openai",
            "--base-url",
            &server.base_url(),
            "--model",
            model,
            "--k",
            "3",
            "--out",
            &out.to_string_lossy(),
        ]);
        a.extend(strings(extra));
        parse_args(&a).expect("args")
    }

    fn block<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(f)
    }

    fn records(path: &Path) -> Vec<RunRecord> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(|l| RunRecord::from_json(l).expect("record line"))
            .collect()
    }

    #[test]
    fn usage_errors_are_clear() {
        let e = parse_args(&strings(&["--file", "x.json"]))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("missing --method"), "{e}");
        let e = parse_args(&strings(&["--bogus", "1"]))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("unknown argument"), "{e}");
        let base = [
            "--file",
            "x.json",
            "--method",
            "vanilla",
            "--provider",
            "openai",
            "--base-url",
            "u",
            "--model",
            "m",
        ];
        let with = |extra: &[&str]| {
            let mut v = strings(&base);
            v.extend(strings(extra));
            parse_args(&v)
        };
        assert!(
            matches!(with(&["--dist", "magic"]), Err(RunError::Usage(m)) if m.contains("--dist"))
        );
        assert!(matches!(with(&["--k", "six"]), Err(RunError::Usage(m)) if m.contains("--k")));
        assert!(matches!(
            with(&["--provider", "x"]),
            Err(RunError::Usage(_))
        ));
        assert!(
            matches!(with(&["--out", "x.json"]), Err(RunError::Usage(m)) if m.contains("never overwritten"))
        );
        let a =
            with(&["--dist=sampling", "--samples", "7", "--ids", "C_001, H_010"]).expect("args");
        assert_eq!(a.dist, DistSetting::Sampling { n: 7 });
        assert_eq!(a.ids, Some(vec!["C_001".to_string(), "H_010".to_string()]));
        assert_eq!(a.out, PathBuf::from("x.vanilla.json"));
        assert_eq!(
            a.records_path(),
            PathBuf::from("x.vanilla.json.records.jsonl")
        );
    }

    #[test]
    fn runs_items_writes_vital_shape_and_records_and_resumes() {
        let server = server();
        let out = tmp_out("resume");
        std::env::set_var("ETHOS_RUN_TEST_KEY", "sk-run-test-SECRET-42");
        let args = args_for(
            &server,
            "m",
            "C_001,H_010",
            &out,
            &["--key-env", "ETHOS_RUN_TEST_KEY"],
        );
        let summary = block(run(&args, &mut Progress::silent())).expect("run succeeds");
        let v: serde_json::Value = serde_json::from_str(&summary).expect("summary json");
        assert_eq!(
            (v["ran"].as_u64(), v["failed"].as_u64()),
            (Some(2), Some(0))
        );
        assert_eq!(
            v["distribution"][0],
            "distribution: logprobs (the endpoint returned them)"
        );
        // 1 perspectives + 3 comments + 3 reads per item
        assert_eq!(server.stats().model("m"), 14);
        let items =
            vital::load(&std::fs::read_to_string(&out).expect("out"), None).expect("VITAL shape");
        assert_eq!(
            items.iter().map(|i| i.id().to_string()).collect::<Vec<_>>(),
            vec!["C_001", "H_010"]
        );
        for it in &items {
            let Item::Choice { item, .. } = it else {
                panic!("choice item")
            };
            let p = item.pred_distribution.clone().expect("pred filled");
            assert_eq!(p.len(), 2);
            assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-9);
            // the server's first-token logprobs: A 0.5, B 0.3 -> 0.625 / 0.375
            assert!((p[0] - 0.625).abs() < 1e-9, "{p:?}");
        }
        let recs = records(&args.records_path());
        assert_eq!(recs.len(), 2);
        assert!(recs
            .iter()
            .all(|r| r.status == RunStatus::Done && r.calls.len() == 7));
        // the key went to the server but is in no output file
        for path in [&out, &args.records_path()] {
            assert!(!std::fs::read_to_string(path)
                .unwrap_or_default()
                .contains("SECRET-42"));
        }
        assert!(server
            .stats()
            .requests
            .iter()
            .all(|r| r.header_names.contains(&"authorization".to_string())));
        // `ethos score` reads the output
        let scored = crate::score::score_text(
            &std::fs::read_to_string(&out).unwrap_or_default(),
            None,
            ethos_engine::answer::AnswerParser::Reference,
        )
        .expect("scores");
        assert!(scored.contains("mean_js"), "{scored}");

        // Resume: nothing is sent again; a third id runs.
        let args = args_for(&server, "m", "C_001,H_010,C_020", &out, &[]);
        let summary = block(run(&args, &mut Progress::silent())).expect("resume succeeds");
        let v: serde_json::Value = serde_json::from_str(&summary).expect("summary json");
        assert_eq!(
            (v["reused"].as_u64(), v["ran"].as_u64()),
            (Some(2), Some(1))
        );
        assert_eq!(server.stats().model("m"), 21);
        assert_eq!(records(&args.records_path()).len(), 3);
        let _ = std::fs::remove_dir_all(out.parent().unwrap_or(Path::new("/nonexistent")));
    }

    #[test]
    fn a_fatal_fault_mid_run_stops_and_keeps_finished_calls() {
        let server = server();
        let out = tmp_out("fatal");
        // item 1: 7 good calls; item 2: perspectives and one comment fine, then the key is refused.
        let mut script = vec![Fault::Ok; 7];
        script.extend([
            Fault::Ok,
            Fault::Ok,
            Fault::Unauthorized,
            Fault::Unauthorized,
        ]);
        server.script(script);
        let args = args_for(
            &server,
            "m",
            "C_001,H_010,C_020",
            &out,
            &["--concurrency", "1"],
        );
        let Err(err) = block(run(&args, &mut Progress::silent())) else {
            panic!("the run should fail")
        };
        let msg = err.to_string();
        assert!(
            msg.contains("stopped after id H_010") && msg.contains("rejected the API key"),
            "{msg}"
        );
        assert_eq!(err.code(), 1);
        // 401 is never retried; C_020 never ran.
        let stats = server.stats();
        assert_eq!(stats.fault("401"), 2, "{:?}", stats.by_fault);
        assert_eq!(stats.total, 11);
        let recs = records(&args.records_path());
        assert_eq!(recs.len(), 2);
        let failed = &recs[1];
        assert!(
            matches!(failed.status, RunStatus::Failed { .. }),
            "{:?}",
            failed.status
        );
        let ok_calls = failed.calls.iter().filter(|c| c.is_ok()).count();
        assert_eq!(ok_calls, 2, "perspectives + comment 1 are kept");
        assert_eq!(
            failed
                .calls
                .iter()
                .filter(|c| c.error == Some(ChatError::BadKey))
                .count(),
            2
        );
        assert_eq!(failed.perspectives.perspectives.len(), 3);
        // the output still has all three ids; only the first is filled
        let items =
            vital::load(&std::fs::read_to_string(&out).expect("out"), None).expect("VITAL shape");
        let filled: Vec<bool> = items
            .iter()
            .map(|i| matches!(i, Item::Choice { item, .. } if item.pred_distribution.is_some()))
            .collect();
        assert_eq!(filled, vec![true, false, false]);
        // a resume re-runs the failed item and the rest
        server.reset();
        let summary = block(run(&args, &mut Progress::silent())).expect("resume succeeds");
        assert!(summary.contains("\"reused\":1"), "{summary}");
        assert_eq!(server.stats().total, 14);
        let _ = std::fs::remove_dir_all(out.parent().unwrap_or(Path::new("/nonexistent")));
    }

    #[test]
    fn auto_falls_back_to_votes_without_logprobs_and_says_so() {
        let server = server();
        let out = tmp_out("votes");
        // The provider rejects logprobs with a 400, like Groq or Gemini.
        let args = args_for(&server, "fault:400-logprobs", "C_001", &out, &[]);
        let summary = block(run(&args, &mut Progress::silent())).expect("run succeeds");
        assert!(summary.contains("fell back to votes"), "{summary}");
        let items =
            vital::load(&std::fs::read_to_string(&out).expect("out"), None).expect("VITAL shape");
        let Some(Item::Choice { item, .. }) = items.first() else {
            panic!("choice item")
        };
        assert_eq!(
            item.pred_distribution,
            Some(vec![1.0, 0.0]),
            "all three comments start with A"
        );
        let _ = std::fs::remove_dir_all(out.parent().unwrap_or(Path::new("/nonexistent")));
    }

    #[test]
    fn unknown_ids_and_missing_keys_are_input_errors() {
        let server = server();
        let out = tmp_out("input");
        let args = args_for(&server, "m", "C_001,NOPE", &out, &[]);
        let e = block(run(&args, &mut Progress::silent()))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("no item with id NOPE"), "{e}");
        let args = args_for(
            &server,
            "m",
            "C_001",
            &out,
            &["--key-env", "ETHOS_RUN_TEST_UNSET_VAR"],
        );
        let e = block(run(&args, &mut Progress::silent()))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.contains("ETHOS_RUN_TEST_UNSET_VAR") && e.contains("not set"),
            "{e}"
        );
        assert_eq!(server.stats().total, 0);
        let _ = std::fs::remove_dir_all(out.parent().unwrap_or(Path::new("/nonexistent")));
    }

    /// `ethos run` + `ethos score` against the real llama-server (CI sets ETHOS_LLM_URL, see
    /// scripts/llama-server.sh); a vanilla run is one call per item, so this stays quick.
    #[test]
    fn live_vanilla_run_is_scored() {
        let Some(url) = std::env::var("ETHOS_LLM_URL")
            .ok()
            .filter(|u| !u.trim().is_empty())
        else {
            eprintln!("SKIP live_vanilla_run_is_scored: ETHOS_LLM_URL is unset (start one with scripts/llama-server.sh start)");
            return;
        };
        let url = url
            .trim()
            .trim_end_matches('/')
            .trim_end_matches("/v1")
            .to_string();
        let model = std::env::var("ETHOS_LLM_MODEL").unwrap_or_else(|_| "smollm2".into());
        let out = tmp_out("live");
        let args = parse_args(&strings(&[
            "--file",
            &vital_file().to_string_lossy(),
            "--ids",
            "C_001,H_010",
            "--method",
            "vanilla",
            "--provider",
            "openai",
            "--base-url",
            &format!("{url}/v1"),
            "--model",
            &model,
            "--dist",
            "auto",
            "--out",
            &out.to_string_lossy(),
        ]))
        .expect("args");
        let summary = block(run(&args, &mut Progress::silent())).expect("live run");
        assert!(summary.contains("distribution: logprobs"), "{summary}");
        let text = std::fs::read_to_string(&out).expect("out");
        let scored =
            crate::score::score_text(&text, None, ethos_engine::answer::AnswerParser::Reference)
                .expect("scores");
        let v: serde_json::Value = serde_json::from_str(&scored).expect("score json");
        let js = v["mean_js"].as_f64().expect("mean_js");
        assert!((0.0..=0.8326).contains(&js), "{scored}");
        assert_eq!(records(&args.records_path()).len(), 2);
        eprintln!("live vanilla run on C_001, H_010: {scored}");
        let _ = std::fs::remove_dir_all(out.parent().unwrap_or(Path::new("/nonexistent")));
    }
}
