//! `ethos run`: a batch of VITAL items × methods (EthosAgents and the baselines) against an LLM
//! endpoint, natively: the command-line twin of the app's benchmark mode, on the engine's batch
//! module ([`ethos_engine::batch`]).
//!
//! ```text
//! ethos run --file F --method ethosagents[,vanilla,prompting] --provider openai|anthropic
//!           --base-url URL --model M [--key-env VAR]
//!           [--ids ID[,ID…] | --first N | --random N [--slice-seed S]] [--attribute TEXT]
//!           [--k N] [--seed S] [--concurrency C] [--items-in-flight N]
//!           [--dist auto|logprobs|votes|sampling|verbalised] [--samples N]
//!           [--perspectives lines|json] [--judge] [--out FILE] [--fresh]
//! ```
//!
//! - Slice: all items, or `--ids`, `--first N`, `--random N` (seeded by `--slice-seed`, default
//!   0); `--attribute TEXT` first keeps the items whose attribute (country, group, value kind)
//!   contains TEXT, case-insensitively.
//! - Outputs (OUT = `--out`, default `<input stem>.<method>.json`, or `<input stem>.batch.json`
//!   with several methods): the filled VITAL file per method (`OUT` itself with one method,
//!   `OUT` with `.<method>` before its extension with several), `OUT.scores.csv` (per-item
//!   scores), and the state in [`store`]: `OUT.batch.json`, `OUT.calls.jsonl`,
//!   `OUT.outcomes.jsonl`, `OUT.records.jsonl` (full run records). stdout gets one JSON summary
//!   with each method's scores (exactly what `ethos score` prints for its file) and a
//!   per-attribute breakdown.
//! - Resumable: every finished call and task is appended as it finishes; the same command run
//!   again makes only the calls that had not finished (failed tasks run again, reusing their
//!   finished calls). A command whose answers would differ (another model, k, seed, file, slice,
//!   methods, distribution, judge) is refused; `--fresh` discards the stored batch instead.
//! - The key is read only from the environment variable named by `--key-env`, and never printed
//!   or written.
//! - A fault that would hit every task (bad key, forbidden, unknown model) stops the batch: no
//!   further task starts.
//!
//! - Ctrl-C stops the batch (calls in flight are dropped, finished ones are stored) and writes
//!   the outputs and the summary for what is done.
//!
//! Exit codes: 0 every task done; 1 a task failed, the batch stopped, or bad input (the message
//! says which); 2 usage; 130 interrupted by Ctrl-C.

mod progress;
pub mod store;

use ethos_engine::batch::{self, BatchRun, BatchSpec, Outcome, Pick, Slice};
use ethos_engine::distribution::DistMethod;
use ethos_engine::record::RunResult;
use ethos_engine::settings::{DistSetting, Method, RunSettings};
use ethos_engine::vital::{self, Item, Source};
use ethos_providers::native::NativeTransport;
use ethos_providers::{Client, Endpoint, Protocol};
pub use progress::Display;
use progress::{Live, Sinks, Tally};
use std::cell::RefCell;
use std::collections::HashMap;
use std::path::PathBuf;
use store::{method_name, Paths, StoredSpec};

pub const USAGE: &str = "\
usage: ethos run --file F --method ethosagents[,vanilla,prompting]
                 --provider openai|anthropic --base-url URL --model M [--key-env VAR]
                 [--ids ID[,ID...] | --first N | --random N [--slice-seed S]] [--attribute TEXT]
                 [--k N] [--seed S] [--concurrency C] [--items-in-flight N]
                 [--dist auto|logprobs|votes|sampling|verbalised] [--samples N]
                 [--perspectives lines|json] [--judge] [--out FILE] [--fresh]
  Runs the slice of F through each method against the endpoint. Writes the filled VITAL file
  per method (FILE with one method, FILE with .<method> before its extension with several; for
  `ethos score`), FILE.scores.csv, and the state it resumes from: FILE.batch.json,
  FILE.calls.jsonl (every finished call), FILE.outcomes.jsonl, FILE.records.jsonl (full run
  records). Prints a JSON summary with the scores per method and per attribute.
  Run the same command again to resume: finished calls are not made again. Another model, k,
  seed, file, slice, methods, --dist or --judge for the same FILE is refused; --fresh starts
  over. --concurrency (default 4) bounds the calls in flight, --items-in-flight (default: the
  concurrency) the items. --judge scores Overton outputs with the LLM judge (one more call).
  The key is read from the environment variable named by --key-env (never from the command line).
  --perspectives json asks stage 1 for schema-checked JSON (not the reference format; for small
  local models that cannot follow the `#` line format).
  Ctrl-C writes the outputs for what is done (run the same command again to go on).
  Exit codes: 0 all done, 1 a task failed / the batch stopped / bad input, 2 usage,
  130 interrupted.";

#[derive(Debug)]
pub enum RunError {
    Usage(String),
    Input(String),
}

impl RunError {
    pub fn code(&self) -> i32 {
        match self {
            RunError::Usage(_) => 2,
            RunError::Input(_) => 1,
        }
    }
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::Usage(m) => write!(f, "{m}\n{USAGE}"),
            RunError::Input(m) => f.write_str(m),
        }
    }
}

/// What a batch run leaves: the summary (printed on stdout) and, when a task failed or did not
/// run, why (printed on stderr, exit code 1).
#[derive(Debug)]
pub struct Report {
    pub summary: serde_json::Value,
    pub problem: Option<String>,
    /// Stopped by Ctrl-C (exit code 130).
    pub interrupted: bool,
}

impl Report {
    /// 0 every task done, 130 interrupted, 1 otherwise.
    pub fn code(&self) -> i32 {
        match (&self.problem, self.interrupted) {
            (_, true) => 130,
            (None, false) => 0,
            (Some(_), false) => 1,
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
    match rt.block_on(run(&parsed, &mut Display::stderr())) {
        Ok(report) => {
            println!("{}", report.summary);
            if let Some(p) = &report.problem {
                eprintln!("ethos run: {p}");
            }
            report.code()
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
    pub slice: Slice,
    pub methods: Vec<Method>,
    pub protocol: Protocol,
    pub base_url: String,
    pub model: String,
    pub key_env: Option<String>,
    pub k: usize,
    pub seed: u64,
    pub concurrency: usize,
    pub items_in_flight: usize,
    pub dist: DistSetting,
    /// Stage 1 as schema-constrained JSON (`--perspectives json`) instead of `#` lines.
    pub structured_perspectives: bool,
    pub judge: bool,
    pub out: PathBuf,
    /// Discard the stored batch beside `out` and start over.
    pub fresh: bool,
}

impl RunArgs {
    pub fn paths(&self) -> Paths {
        Paths::new(&self.out)
    }
    /// The filled VITAL file of `method`.
    pub fn filled_path(&self, method: Method) -> PathBuf {
        self.paths().filled(method, self.methods.len())
    }
}

const VALUED: [&str; 20] = [
    "--file",
    "--ids",
    "--first",
    "--random",
    "--slice-seed",
    "--attribute",
    "--method",
    "--provider",
    "--base-url",
    "--model",
    "--key-env",
    "--k",
    "--seed",
    "--concurrency",
    "--items-in-flight",
    "--dist",
    "--samples",
    "--perspectives",
    "--out",
    "--methods",
];
const FLAGS: [&str; 2] = ["--judge", "--fresh"];

fn parse_method(name: &str) -> Option<Method> {
    match name.trim().to_ascii_lowercase().as_str() {
        "ethosagents" | "ethos" => Some(Method::EthosAgents),
        "vanilla" => Some(Method::Vanilla),
        "prompting" => Some(Method::Prompting),
        _ => None,
    }
}

pub fn parse_args(args: &[String]) -> Result<RunArgs, RunError> {
    let usage = |m: String| RunError::Usage(m);
    let mut map: HashMap<&str, String> = HashMap::new();
    let mut flags: Vec<&str> = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if let Some(flag) = FLAGS.iter().find(|f| **f == a.as_str()) {
            if flags.contains(flag) {
                return Err(usage(format!("{a} given twice")));
            }
            flags.push(flag);
            continue;
        }
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
            _ => (a.as_str(), None),
        };
        if FLAGS.contains(&name) {
            return Err(usage(format!("{name} takes no value")));
        }
        // `--methods` is accepted as a spelling of `--method`.
        let name = if name == "--methods" {
            "--method"
        } else {
            name
        };
        let Some(key) = VALUED.iter().find(|k| **k == name) else {
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
    let size = |k: &str, default: u64| -> Result<usize, RunError> {
        usize::try_from(number(k, default)?).map_err(|_| usage(format!("{k} is too large")))
    };
    let file = PathBuf::from(need("--file")?);
    let mut methods: Vec<Method> = Vec::new();
    for name in need("--method")?
        .split(',')
        .filter(|s| !s.trim().is_empty())
    {
        let m = parse_method(name).ok_or_else(|| {
            usage(format!(
                "unknown method {:?} (ethosagents, vanilla or prompting)",
                name.trim()
            ))
        })?;
        if !methods.contains(&m) {
            methods.push(m);
        }
    }
    if methods.is_empty() {
        return Err(usage("--method is empty".into()));
    }
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
    let structured_perspectives = match map
        .get("--perspectives")
        .map(|s| s.to_ascii_lowercase())
        .as_deref()
    {
        None | Some("lines") => false,
        Some("json") => true,
        Some(other) => {
            return Err(usage(format!(
                "unknown --perspectives {other:?} (lines, json)"
            )))
        }
    };

    let picks = ["--ids", "--first", "--random"]
        .into_iter()
        .filter(|k| map.contains_key(k))
        .collect::<Vec<_>>();
    if picks.len() > 1 {
        return Err(usage(format!(
            "choose one of --ids, --first, --random (got {})",
            picks.join(" and ")
        )));
    }
    if map.contains_key("--slice-seed") && !map.contains_key("--random") {
        return Err(usage("--slice-seed goes with --random N".into()));
    }
    let pick = if let Some(ids) = map.get("--ids") {
        let ids: Vec<String> = ids
            .split(',')
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect();
        if ids.is_empty() {
            return Err(usage("--ids is empty".into()));
        }
        Pick::Ids { ids }
    } else if map.contains_key("--first") {
        Pick::First {
            n: size("--first", 0)?,
        }
    } else if map.contains_key("--random") {
        Pick::Random {
            n: size("--random", 0)?,
            seed: number("--slice-seed", 0)?,
        }
    } else {
        Pick::All
    };
    let slice = Slice {
        pick,
        attribute: map
            .get("--attribute")
            .map(|s| s.trim().to_string())
            .unwrap_or_default(),
    };

    let out = match map.get("--out") {
        Some(o) => PathBuf::from(o),
        None => {
            let stem = file
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "items".into());
            match methods.as_slice() {
                [one] => PathBuf::from(format!("{stem}.{}.json", method_name(*one))),
                _ => PathBuf::from(format!("{stem}.batch.json")),
            }
        }
    };
    let paths = Paths::new(&out);
    let mut written: Vec<PathBuf> = methods
        .iter()
        .map(|m| paths.filled(*m, methods.len()))
        .collect();
    written.extend([paths.csv.clone()]);
    written.extend(paths.state().into_iter().cloned());
    let same_file = |p: &PathBuf| {
        *p == file || matches!((p.canonicalize(), file.canonicalize()), (Ok(a), Ok(b)) if a == b)
    };
    if written.iter().any(same_file) {
        return Err(usage(
            "--out must differ from --file (the input is never overwritten)".into(),
        ));
    }
    let concurrency = size("--concurrency", 4)?.max(1);
    let items_in_flight = size("--items-in-flight", concurrency as u64)?;
    if items_in_flight == 0 {
        return Err(usage("--items-in-flight must be at least 1".into()));
    }
    let key_env = map.get("--key-env").map(|s| s.trim().to_string());
    Ok(RunArgs {
        file,
        slice,
        methods,
        protocol,
        base_url,
        model,
        key_env,
        k: size("--k", 6)?,
        seed: number("--seed", 0)?,
        concurrency,
        items_in_flight,
        dist,
        structured_perspectives,
        judge: flags.contains(&"--judge"),
        out,
        fresh: flags.contains(&"--fresh"),
    })
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

fn input(m: impl Into<String>) -> RunError {
    RunError::Input(m.into())
}

/// The stored batch beside `OUT`: check that it is this batch (or discard it with `--fresh`),
/// then write this command's description.
fn claim(
    args: &RunArgs,
    paths: &Paths,
    stored: &StoredSpec,
    display: &mut Display,
) -> Result<(), RunError> {
    if args.fresh {
        for p in paths.state() {
            store::remove(p).map_err(input)?;
        }
    } else {
        match store::read_spec(&paths.spec).map_err(input)? {
            Some(old) => {
                let diff = store::compare(&old, stored);
                if !diff.refused.is_empty() {
                    return Err(input(format!(
                        "{} belongs to another batch ({}). Resuming it would mix results: use \
                         another --out, or --fresh to discard its finished calls and start over",
                        paths.spec.display(),
                        diff.refused.join("; ")
                    )));
                }
                for n in diff.notes {
                    display.line(&format!("note: {n}"));
                }
            }
            None => {
                if let Some(p) = [&paths.calls, &paths.outcomes, &paths.records]
                    .into_iter()
                    .find(|p| p.exists())
                {
                    return Err(input(format!(
                        "{} exists but {} does not (written by an older `ethos run` or by hand): \
                         use another --out, or --fresh to start over",
                        p.display(),
                        paths.spec.display()
                    )));
                }
            }
        }
    }
    store::write_spec(&paths.spec, stored).map_err(input)
}

/// Run the batch; returns the summary, and what went wrong with tasks if anything did.
pub async fn run(args: &RunArgs, display: &mut Display) -> Result<Report, RunError> {
    let bytes = std::fs::read(&args.file)
        .map_err(|e| input(format!("cannot read {}: {e}", args.file.display())))?;
    let text = String::from_utf8_lossy(&bytes);
    let file_path = args.file.to_string_lossy().into_owned();
    let file_name = args
        .file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| file_path.clone());
    let all_items = vital::load(&text, Source::from_file_name(&file_name))
        .map_err(|e| input(format!("{file_path}: {e}")))?;
    let picked =
        batch::select(&all_items, &args.slice).map_err(|e| input(format!("{file_path}: {e}")))?;
    let items: Vec<Item> = picked
        .iter()
        .filter_map(|&i| all_items.get(i).cloned())
        .collect();

    let key = match &args.key_env {
        None => None,
        Some(var) => match std::env::var(var) {
            Ok(v) if !v.trim().is_empty() => Some(v),
            _ => {
                return Err(input(format!(
                    "the environment variable {var} (named by --key-env) is not set or empty"
                )))
            }
        },
    };
    let mut settings = RunSettings::with_model(args.model.clone());
    settings.k = args.k;
    settings.seed = args.seed;
    settings.concurrency = args.concurrency;
    settings.distribution = args.dist;
    settings.structured_perspectives = args.structured_perspectives;
    settings
        .validate()
        .map_err(|e| RunError::Usage(format!("invalid settings: {e}")))?;
    let spec = BatchSpec {
        file: file_name,
        slice: args.slice.clone(),
        methods: args.methods.clone(),
        settings,
        items_in_flight: args.items_in_flight,
        judge: args.judge,
        models: Vec::new(),
    };
    let stored = StoredSpec {
        ethos_batch: store::FORMAT,
        file_path: file_path.clone(),
        file_hash: store::content_hash(&bytes),
        provider: match args.protocol {
            Protocol::OpenAi => "openai".into(),
            Protocol::Anthropic => "anthropic".into(),
        },
        base_url: args.base_url.clone(),
        items: items.iter().map(|i| i.id().to_string()).collect(),
        spec: spec.clone(),
    };
    let paths = args.paths();
    if let Some(dir) = paths.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| input(format!("cannot create {}: {e}", dir.display())))?;
    }
    claim(args, &paths, &stored, display)?;
    let loaded = store::load(&paths, items.len(), &spec.methods).map_err(input)?;
    for n in &loaded.notes {
        display.line(&format!("note: {n}"));
    }

    let all = batch::tasks(items.len(), &spec.methods);
    let todo = batch::pending(&all, &loaded.outcomes);
    let reused = all.len() - todo.len();
    if reused > 0 {
        display.line(&format!(
            "resuming {}: {reused} of {} tasks already done, {} finished calls stored",
            paths.spec.display(),
            all.len(),
            loaded.cache.len()
        ));
    }

    let transport = NativeTransport::new().map_err(|e| input(e.to_string()))?;
    let endpoint = Endpoint::new(args.protocol, args.base_url.clone(), key, "custom");
    let client = Client::new(endpoint, transport).with_concurrency(args.concurrency);
    let sinks = Sinks {
        calls: store::Appender::open(&paths.calls).map_err(input)?,
        outcomes: store::Appender::open(&paths.outcomes).map_err(input)?,
        records: store::Appender::open(&paths.records).map_err(input)?,
    };
    let cache = RefCell::new(loaded.cache);
    let start = std::time::Instant::now();
    let clock = move || start.elapsed().as_secs_f64() * 1000.0;
    let (tally, interrupted) = {
        let live = Live::new(
            &items,
            &all,
            spec.items_in_flight,
            loaded.outcomes,
            sinks,
            display,
        );
        let runner = BatchRun {
            model: &client,
            items: &items,
            spec: &spec,
            cache: &cache,
            clock: &clock,
            observer: &live,
        };
        live.draw(true);
        let work = runner.run(&todo);
        // On a terminal the bar's clock keeps ticking between events.
        let ticker = async {
            loop {
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                live.draw(true);
            }
        };
        // Ctrl-C stops the batch (the calls in flight are dropped; every finished one is
        // stored) and the outputs are written for what is done.
        let interrupt = async {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        let mut interrupted = false;
        tokio::select! {
            _ = work => {}
            _ = ticker => {}
            _ = interrupt => {
                interrupted = true;
                live.line("interrupted: writing what is done; run the same command again to resume");
            }
        }
        // The bar's last state stays on screen (and ends the per-task lines otherwise).
        live.line(&live.status());
        (live.tally(), interrupted)
    };
    finish(FinishInput {
        args,
        paths: &paths,
        spec: &spec,
        items: &items,
        all: &all,
        reused,
        tally,
        interrupted,
    })
}

struct FinishInput<'a> {
    args: &'a RunArgs,
    paths: &'a Paths,
    spec: &'a BatchSpec,
    items: &'a [Item],
    all: &'a [batch::Task],
    /// Tasks done before this run.
    reused: usize,
    tally: Tally,
    interrupted: bool,
}

/// Write the filled files and the CSV; build the summary.
fn finish(f: FinishInput<'_>) -> Result<Report, RunError> {
    let FinishInput {
        args,
        paths,
        spec,
        items,
        all,
        ..
    } = f;
    let t = &f.tally;
    let outcomes = t.outcomes.as_slice();
    let mut results = serde_json::Map::new();
    for &m in &spec.methods {
        let path = args.filled_path(m);
        let json = serde_json::to_string_pretty(&batch::filled_file(items, outcomes, m))
            .map_err(|e| input(format!("cannot serialise the output: {e}")))?;
        store::write_atomic(&path, &(json + "\n")).map_err(input)?;
        let mut entry = serde_json::to_value(batch::summarize(items, outcomes, m))
            .map_err(|e| input(format!("cannot serialise the summary: {e}")))?;
        let parts: Vec<serde_json::Value> = batch::breakdown(items, outcomes, m)
            .into_iter()
            .filter_map(|(attr, s)| {
                let mut v = serde_json::to_value(s).ok()?;
                if let Some(o) = v.as_object_mut() {
                    o.insert("attribute".into(), attr.into());
                }
                Some(v)
            })
            .collect();
        if let Some(o) = entry.as_object_mut() {
            o.insert("out".into(), path.display().to_string().into());
            o.insert("breakdown".into(), parts.into());
        }
        results.insert(method_name(m).into(), entry);
    }
    store::write_atomic(
        &paths.csv,
        &batch::scores_csv(items, outcomes, &spec.methods, &[]),
    )
    .map_err(input)?;

    let c = batch::counts(all, outcomes, &Default::default());
    let mut notes: Vec<String> = Vec::new();
    for o in outcomes {
        if let Some(d) = o.result.as_ref().and_then(|r| describe_dist(r, args.dist)) {
            if !notes.contains(&d) {
                notes.push(d);
            }
        }
    }
    let summary = serde_json::json!({
        "file": args.file.display().to_string(),
        "slice": spec.slice.describe(),
        "items": items.len(),
        "methods": spec.methods.iter().map(|m| method_name(*m)).collect::<Vec<_>>(),
        "tasks": all.len(),
        "done": c.done,
        "failed": c.failed,
        "not_run": c.remaining,
        "reused": f.reused,
        "ran": t.ran,
        "calls": t.fresh_calls,
        "cached_calls": t.cached_calls,
        "elapsed_ms": t.elapsed_ms.round(),
        "stopped": t.stopped,
        "interrupted": f.interrupted,
        "distribution": notes,
        "results": results,
        "csv": paths.csv.display().to_string(),
        "records": paths.records.display().to_string(),
        "calls_file": paths.calls.display().to_string(),
    });

    let mut problems: Vec<String> = Vec::new();
    if let Some(e) = &t.write_error {
        problems.push(format!("the state could not be saved: {e}"));
    }
    if f.interrupted {
        problems.push("interrupted (Ctrl-C)".into());
    }
    if let Some(s) = &t.stopped {
        problems.push(format!("the batch stopped: {s}"));
    }
    if c.failed > 0 {
        let mut last: HashMap<batch::Task, &Outcome> = HashMap::new();
        for o in outcomes {
            last.insert(o.task, o);
        }
        let mut failed: Vec<&Outcome> = last.into_values().filter(|o| !o.ok()).collect();
        failed.sort_by_key(|o| (o.task.item, method_name(o.task.method)));
        let listed: Vec<String> = failed
            .iter()
            .take(5)
            .map(|o| {
                format!(
                    "id {} {}: {}",
                    items
                        .get(o.task.item)
                        .map(|i| i.id().to_string())
                        .unwrap_or_else(|| "?".into()),
                    o.task.method.label(),
                    o.error.as_deref().unwrap_or("no result")
                )
            })
            .collect();
        let more = failed.len().saturating_sub(listed.len());
        problems.push(format!(
            "{} task(s) failed: {}{}",
            c.failed,
            listed.join("; "),
            if more > 0 {
                format!("; and {more} more (see {})", paths.csv.display())
            } else {
                String::new()
            }
        ));
    }
    if c.remaining + c.running > 0 {
        problems.push(format!(
            "{} task(s) did not finish",
            c.remaining + c.running
        ));
    }
    let problem = (!problems.is_empty()).then(|| {
        format!(
            "{}. Run the same command again to retry: finished calls are reused.",
            problems.join(". ")
        )
    });
    Ok(Report {
        summary,
        problem,
        interrupted: f.interrupted,
    })
}
#[cfg(test)]
mod tests {
    use super::*;
    use ethos_engine::answer::AnswerParser;
    use ethos_engine::record::{RunRecord, RunStatus};
    use ethos_engine::ChatError;
    use ethos_testkit::{Fault, FaultServer};
    use serde_json::Value;
    use std::path::Path;

    const REPLY: &str = "A. We should follow the procedure.\n\
#Carer: compassion, ethics of care, right to care, empathy, nurse\n\
#Jurist: justice, deontology, duty of fairness, calm, judge\n\
#Planner: welfare, consequentialism, right to resources, worry, administrator";

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    fn vital_file(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../public/vital/{name}"))
    }

    const MORAL: &str = "vital_distributional_moralchoice.json";

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

    fn cleanup(out: &Path) {
        if let Some(dir) = out.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }

    /// `ethos run` arguments against `server` on `file`, with `extra` (slice, methods, ...).
    fn args_on(server: &FaultServer, file: &Path, out: &Path, extra: &[&str]) -> RunArgs {
        let mut a = strings(&[
            "--file",
            &file.to_string_lossy(),
            "--provider",
            "openai",
            "--base-url",
            &server.base_url(),
            "--out",
            &out.to_string_lossy(),
        ]);
        a.extend(strings(extra));
        for (k, v) in [("--method", "ethosagents"), ("--model", "m"), ("--k", "3")] {
            if !extra.contains(&k) {
                a.extend(strings(&[k, v]));
            }
        }
        parse_args(&a).expect("args")
    }

    fn args_for(server: &FaultServer, ids: &str, out: &Path, extra: &[&str]) -> RunArgs {
        let mut e = vec!["--ids", ids];
        e.extend_from_slice(extra);
        args_on(server, &vital_file(MORAL), out, &e)
    }

    fn block<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(f)
    }

    fn run_report(args: &RunArgs) -> Report {
        block(run(args, &mut Display::silent())).expect("the batch runs")
    }

    /// A run in which every task finishes; its summary.
    fn run_ok(args: &RunArgs) -> Value {
        let r = run_report(args);
        assert_eq!(r.problem, None, "{}", r.summary);
        r.summary
    }

    fn run_err(args: &RunArgs) -> RunError {
        match block(run(args, &mut Display::silent())) {
            Ok(r) => panic!("the run should be refused; it ran: {}", r.summary),
            Err(e) => e,
        }
    }

    fn lines(path: &Path) -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn records(path: &Path) -> Vec<RunRecord> {
        lines(path)
            .iter()
            .map(|l| RunRecord::from_json(l).expect("record line"))
            .collect()
    }

    fn loaded(path: &Path) -> Vec<Item> {
        vital::load(&std::fs::read_to_string(path).expect("output file"), None)
            .expect("VITAL shape")
    }

    /// `ethos score` on the filled file of `method` equals the summary's scores for it.
    fn assert_summary_is_score(summary: &Value, args: &RunArgs, method: Method) {
        let entry = &summary["results"][method_name(method)];
        let path = args.filled_path(method);
        assert_eq!(entry["out"], path.display().to_string());
        let text = std::fs::read_to_string(&path).expect("filled file");
        let scored: Value = serde_json::from_str(
            &crate::score::score_text(&text, None, AnswerParser::Reference).expect("scores"),
        )
        .expect("score json");
        if scored.get("mean_js").is_some() {
            assert_eq!(entry["dist"], scored, "{method:?}: summary = ethos score");
        } else {
            let v = &entry["value_reference"];
            for k in [
                "records",
                "accuracy",
                "balanced_accuracy",
                "macro_f1",
                "binary_accuracy",
                "binary_records",
            ] {
                assert_eq!(v[k], scored[k], "{method:?} {k}: summary = ethos score");
            }
        }
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
        let usage = |extra: &[&str], needle: &str| match with(extra) {
            Err(RunError::Usage(m)) => assert!(m.contains(needle), "{extra:?}: {m}"),
            other => panic!("{extra:?}: expected a usage error, got {other:?}"),
        };
        usage(&["--dist", "magic"], "--dist");
        usage(&["--k", "six"], "--k");
        usage(&["--provider", "x"], "provider");
        usage(&["--out", "x.json"], "never overwritten");
        usage(&["--first", "3", "--ids", "a"], "choose one of");
        usage(&["--slice-seed", "3"], "--random");
        usage(&["--judge=1"], "takes no value");
        usage(&["--fresh", "--fresh"], "twice");
        usage(&["--items-in-flight", "0"], "at least 1");
        assert!(matches!(
            parse_args(&strings(&[
                "--file", "x.json", "--method", "vanilla,bogus", "--provider", "openai",
                "--base-url", "u", "--model", "m"
            ])),
            Err(RunError::Usage(m)) if m.contains("unknown method \"bogus\"")
        ));

        let a =
            with(&["--dist=sampling", "--samples", "7", "--ids", "C_001, H_010"]).expect("args");
        assert_eq!(a.dist, DistSetting::Sampling { n: 7 });
        assert_eq!(
            a.slice.pick,
            Pick::Ids {
                ids: vec!["C_001".to_string(), "H_010".to_string()]
            }
        );
        assert_eq!(a.out, PathBuf::from("x.vanilla.json"));
        assert_eq!(
            a.filled_path(Method::Vanilla),
            PathBuf::from("x.vanilla.json")
        );
        assert_eq!(
            a.paths().records,
            PathBuf::from("x.vanilla.json.records.jsonl")
        );
        assert_eq!(a.paths().calls, PathBuf::from("x.vanilla.json.calls.jsonl"));
        assert_eq!((a.concurrency, a.items_in_flight), (4, 4));
        assert!(!a.judge && !a.fresh);

        let a = with(&[
            "--random",
            "5",
            "--slice-seed",
            "9",
            "--attribute",
            " Japan ",
            "--concurrency",
            "3",
            "--judge",
            "--fresh",
        ])
        .expect("args");
        assert_eq!(a.slice.pick, Pick::Random { n: 5, seed: 9 });
        assert_eq!(a.slice.attribute, "Japan");
        assert_eq!(
            (a.concurrency, a.items_in_flight),
            (3, 3),
            "in flight = concurrency"
        );
        assert!(a.judge && a.fresh);

        // Several methods: one filled file per method beside OUT.
        let mut v = strings(&base);
        v[3] = "ethosagents,vanilla,prompting,vanilla".into();
        let a = parse_args(&v).expect("args");
        assert_eq!(
            a.methods,
            vec![Method::EthosAgents, Method::Vanilla, Method::Prompting]
        );
        assert_eq!(a.out, PathBuf::from("x.batch.json"));
        assert_eq!(
            a.filled_path(Method::Prompting),
            PathBuf::from("x.batch.prompting.json")
        );
        v.extend(strings(&["--out", "dir/res.json", "--first", "10"]));
        let a = parse_args(&v).expect("args");
        assert_eq!(a.slice, Slice::first(10));
        assert_eq!(
            a.filled_path(Method::EthosAgents),
            PathBuf::from("dir/res.ethosagents.json")
        );
        assert_eq!(a.paths().csv, PathBuf::from("dir/res.json.scores.csv"));
    }

    #[test]
    fn runs_items_writes_vital_shape_and_records_and_resumes() {
        let server = server();
        let out = tmp_out("resume");
        std::env::set_var("ETHOS_RUN_TEST_KEY", "sk-run-test-SECRET-42");
        let args = args_for(
            &server,
            "C_001,H_010",
            &out,
            &["--key-env", "ETHOS_RUN_TEST_KEY"],
        );
        let v = run_ok(&args);
        assert_eq!(
            (v["ran"].as_u64(), v["done"].as_u64(), v["failed"].as_u64()),
            (Some(2), Some(2), Some(0))
        );
        assert_eq!(
            v["distribution"][0],
            "distribution: logprobs (the endpoint returned them)"
        );
        // 1 perspectives + 3 comments + 3 reads per item
        assert_eq!(server.stats().model("m"), 14);
        assert_eq!(v["calls"].as_u64(), Some(14));
        let items = loaded(&out);
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
        let paths = args.paths();
        let recs = records(&paths.records);
        assert_eq!(recs.len(), 2);
        assert!(recs
            .iter()
            .all(|r| r.status == RunStatus::Done && r.calls.len() == 7));
        assert_eq!(lines(&paths.calls).len(), 14, "every call is stored");
        assert_eq!(lines(&paths.outcomes).len(), 2);
        // the key went to the server but is in no file
        for path in [
            &out,
            &paths.records,
            &paths.calls,
            &paths.outcomes,
            &paths.spec,
            &paths.csv,
        ] {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            assert!(!text.is_empty(), "{}", path.display());
            assert!(!text.contains("SECRET-42"), "{}", path.display());
        }
        assert!(server
            .stats()
            .requests
            .iter()
            .all(|r| r.header_names.contains(&"authorization".to_string())));
        assert_summary_is_score(&v, &args, Method::EthosAgents);
        let csv = std::fs::read_to_string(&paths.csv).unwrap_or_default();
        assert_eq!(csv.lines().count(), 3, "{csv}");
        assert!(
            csv.lines().nth(1).unwrap_or("").starts_with("C_001,"),
            "{csv}"
        );

        // The same command again: nothing is sent; the outputs are the same.
        let first_out = std::fs::read_to_string(&out).unwrap_or_default();
        let v2 = run_ok(&args);
        assert_eq!(
            (v2["ran"].as_u64(), v2["reused"].as_u64()),
            (Some(0), Some(2))
        );
        assert_eq!(server.stats().model("m"), 14);
        assert_eq!(v2["results"], v["results"]);
        assert_eq!(std::fs::read_to_string(&out).unwrap_or_default(), first_out);

        // Another slice on the same OUT is refused, naming what differs.
        let wider = args_for(&server, "C_001,H_010,C_020", &out, &[]);
        let e = run_err(&wider);
        assert_eq!(e.code(), 1);
        let msg = e.to_string();
        assert!(
            msg.contains("another batch") && msg.contains("slice") && msg.contains("--fresh"),
            "{msg}"
        );
        assert_eq!(server.stats().model("m"), 14);

        // --fresh starts over.
        let fresh = args_for(&server, "C_001,H_010,C_020", &out, &["--fresh"]);
        let v3 = run_ok(&fresh);
        assert_eq!(
            (v3["ran"].as_u64(), v3["reused"].as_u64()),
            (Some(3), Some(0))
        );
        assert_eq!(server.stats().model("m"), 35);
        assert_eq!(records(&paths.records).len(), 3);
        assert_eq!(lines(&paths.calls).len(), 21);
        cleanup(&out);
    }

    #[test]
    fn a_fatal_fault_mid_run_stops_and_resumes_from_the_finished_calls() {
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
        let args = args_for(&server, "C_001,H_010,C_020", &out, &["--concurrency", "1"]);
        let r = run_report(&args);
        let msg = r.problem.clone().unwrap_or_default();
        assert!(
            msg.contains("stopped")
                && msg.contains("rejected the API key")
                && msg.contains("H_010"),
            "{msg}"
        );
        assert_eq!(
            r.summary["stopped"].as_str().map(|s| s.contains("401")),
            Some(true)
        );
        assert_eq!(
            (
                r.summary["done"].as_u64(),
                r.summary["failed"].as_u64(),
                r.summary["not_run"].as_u64()
            ),
            (Some(1), Some(1), Some(1))
        );
        // 401 is never retried; C_020 never ran.
        let stats = server.stats();
        assert_eq!(stats.fault("401"), 2, "{:?}", stats.by_fault);
        assert_eq!(stats.total, 11);
        let paths = args.paths();
        let recs = records(&paths.records);
        assert_eq!(recs.len(), 2);
        let failed = &recs[1];
        assert!(
            matches!(failed.status, RunStatus::Failed { .. }),
            "{:?}",
            failed.status
        );
        assert_eq!(failed.calls.iter().filter(|c| c.is_ok()).count(), 2);
        assert_eq!(
            failed
                .calls
                .iter()
                .filter(|c| c.error == Some(ChatError::BadKey))
                .count(),
            2
        );
        assert_eq!(lines(&paths.calls).len(), 9, "7 + perspectives + comment 1");
        // the output has the finished item only, so `ethos score` scores what the summary did
        let items = loaded(&out);
        assert_eq!(items.len(), 1);
        assert_summary_is_score(&r.summary, &args, Method::EthosAgents);

        // The resume re-runs H_010 from its two finished calls, then C_020.
        server.reset();
        let v = run_ok(&args);
        assert_eq!(
            (v["reused"].as_u64(), v["ran"].as_u64()),
            (Some(1), Some(2))
        );
        assert_eq!(
            server.stats().total,
            21 - 9,
            "no finished call is made again"
        );
        assert_eq!(v["cached_calls"].as_u64(), Some(2));
        let outcomes: Vec<Outcome> = lines(&paths.outcomes)
            .iter()
            .map(|l| serde_json::from_str(l).expect("outcome"))
            .collect();
        let h010 = outcomes
            .iter()
            .rev()
            .find(|o| o.task.item == 1)
            .expect("H_010");
        assert_eq!((h010.calls, h010.cached_calls), (5, 2));
        assert_eq!(loaded(&out).len(), 3);
        assert_summary_is_score(&v, &args, Method::EthosAgents);
        cleanup(&out);
    }

    #[test]
    fn auto_falls_back_to_votes_without_logprobs_and_says_so() {
        let server = server();
        let out = tmp_out("votes");
        // The provider rejects logprobs with a 400, like Groq or Gemini.
        let args = args_for(&server, "C_001", &out, &["--model", "fault:400-logprobs"]);
        let v = run_ok(&args);
        assert!(
            v["distribution"][0]
                .as_str()
                .is_some_and(|s| s.contains("fell back to votes")),
            "{v}"
        );
        let items = loaded(&out);
        let Some(Item::Choice { item, .. }) = items.first() else {
            panic!("choice item")
        };
        assert_eq!(
            item.pred_distribution,
            Some(vec![1.0, 0.0]),
            "all three comments start with A"
        );
        cleanup(&out);
    }

    #[test]
    fn bad_input_is_refused_before_any_call() {
        let server = server();
        let out = tmp_out("input");
        let msg = |a: &RunArgs| {
            let e = run_err(a);
            assert_eq!(e.code(), 1, "{e}");
            e.to_string()
        };
        let e = msg(&args_for(&server, "C_001,NOPE", &out, &[]));
        assert!(e.contains("no item with id NOPE"), "{e}");
        let e = msg(&args_on(
            &server,
            &vital_file(MORAL),
            &out,
            &["--attribute", "Atlantis"],
        ));
        assert!(
            e.contains("slice is empty") && e.contains("Atlantis"),
            "{e}"
        );
        let e = msg(&args_on(
            &server,
            &vital_file(MORAL),
            &out,
            &["--first", "0"],
        ));
        assert!(e.contains("slice is empty"), "{e}");
        let e = msg(&args_for(
            &server,
            "C_001",
            &out,
            &["--key-env", "ETHOS_RUN_TEST_UNSET_VAR"],
        ));
        assert!(
            e.contains("ETHOS_RUN_TEST_UNSET_VAR") && e.contains("not set"),
            "{e}"
        );
        let e = msg(&args_on(
            &server,
            &out.with_file_name("missing.json"),
            &out,
            &[],
        ));
        assert!(
            e.contains("cannot read") && e.contains("missing.json"),
            "{e}"
        );
        // State written by something else (no batch description) is not taken over.
        std::fs::write(
            args_for(&server, "C_001", &out, &[]).paths().records,
            "{}\n",
        )
        .expect("write");
        let e = msg(&args_for(&server, "C_001", &out, &[]));
        assert!(
            e.contains("records.jsonl exists") && e.contains("--fresh"),
            "{e}"
        );
        assert_eq!(server.stats().total, 0);
        cleanup(&out);
    }

    #[test]
    fn another_model_k_seed_file_or_judge_is_refused_and_fresh_starts_over() {
        let server = server();
        let out = tmp_out("mismatch");
        let base = args_for(&server, "C_001", &out, &["--method", "vanilla"]);
        run_ok(&base);
        assert_eq!(server.stats().total, 1);
        let refused = |extra: &[&str], needle: &str| {
            let mut e = vec!["--method", "vanilla"];
            e.extend_from_slice(extra);
            let msg = run_err(&args_for(&server, "C_001", &out, &e)).to_string();
            assert!(
                msg.contains("another batch") && msg.contains(needle),
                "{extra:?}: {msg}"
            );
        };
        refused(&["--model", "m2"], "model \"m\" -> \"m2\"");
        refused(&["--k", "4"], "k 3 -> 4");
        refused(&["--seed", "1"], "seed 0 -> 1");
        refused(&["--dist", "votes"], "distribution");
        refused(&["--judge"], "judge");
        let msg = run_err(&args_for(
            &server,
            "C_001",
            &out,
            &["--method", "vanilla,prompting"],
        ))
        .to_string();
        assert!(
            msg.contains("methods vanilla -> vanilla,prompting"),
            "{msg}"
        );
        // Another file, or the same file name with other content.
        let dir = out.parent().expect("dir").join("copy");
        std::fs::create_dir_all(&dir).expect("dir");
        let text = std::fs::read_to_string(vital_file(MORAL)).expect("read");
        let renamed = dir.join("mine.json");
        std::fs::write(&renamed, &text).expect("write");
        let msg = run_err(&args_on(
            &server,
            &renamed,
            &out,
            &["--ids", "C_001", "--method", "vanilla"],
        ))
        .to_string();
        assert!(msg.contains("input file"), "{msg}");
        let mut records: Vec<Value> = serde_json::from_str(&text).expect("json");
        records.truncate(5);
        let edited = dir.join(MORAL);
        std::fs::write(&edited, serde_json::to_string(&records).expect("json")).expect("write");
        let msg = run_err(&args_on(
            &server,
            &edited,
            &out,
            &["--ids", "C_001", "--method", "vanilla"],
        ))
        .to_string();
        assert!(msg.contains("content"), "{msg}");
        // The unchanged file elsewhere is the same batch.
        std::fs::write(&edited, &text).expect("write");
        run_ok(&args_on(
            &server,
            &edited,
            &out,
            &["--ids", "C_001", "--method", "vanilla"],
        ));
        assert_eq!(
            server.stats().total,
            1,
            "nothing was run by refused commands"
        );

        // Concurrency may change on a resume (said, not refused).
        let v = run_ok(&args_for(
            &server,
            "C_001",
            &out,
            &["--method", "vanilla", "--concurrency", "1"],
        ));
        assert_eq!(v["reused"].as_u64(), Some(1));
        // --fresh discards the stored batch and runs the new one.
        let v = run_ok(&args_for(
            &server,
            "C_001",
            &out,
            &["--method", "vanilla", "--model", "m2", "--fresh"],
        ));
        assert_eq!(v["ran"].as_u64(), Some(1));
        assert_eq!(server.stats().model("m2"), 1);
        cleanup(&out);
    }

    #[test]
    fn unreadable_state_lines_are_named_and_a_cut_last_line_is_repaired() {
        let server = server();
        let out = tmp_out("lines");
        let args = args_for(&server, "C_001", &out, &[]);
        run_ok(&args);
        let paths = args.paths();
        let calls = std::fs::read_to_string(&paths.calls).expect("calls");
        assert_eq!(calls.lines().count(), 7);

        // A crash cut the last line: it is dropped, nothing else is lost or made again.
        std::fs::write(&paths.calls, format!("{calls}{{\"key\": \"0123")).expect("write");
        std::fs::write(&paths.outcomes, "").expect("write");
        let v = run_ok(&args);
        assert_eq!((v["ran"].as_u64(), v["calls"].as_u64()), (Some(1), Some(0)));
        assert_eq!(v["cached_calls"].as_u64(), Some(7));
        assert_eq!(std::fs::read_to_string(&paths.calls).expect("calls"), calls);
        assert_eq!(server.stats().total, 7);

        // A damaged line in the middle is an error that names the file and line.
        let mut damaged: Vec<&str> = calls.lines().collect();
        damaged.insert(2, "not a call");
        std::fs::write(&paths.calls, damaged.join("\n") + "\n").expect("write");
        let e = run_err(&args);
        assert_eq!(e.code(), 1);
        let msg = e.to_string();
        assert!(
            msg.contains("calls.jsonl line 3") && msg.contains("--fresh"),
            "{msg}"
        );
        std::fs::write(&paths.calls, &calls).expect("write");
        std::fs::write(&paths.outcomes, "{\"task\": 3}\n").expect("write");
        let msg = run_err(&args).to_string();
        assert!(msg.contains("outcomes.jsonl line 1"), "{msg}");
        assert_eq!(server.stats().total, 7);
        cleanup(&out);
    }

    #[test]
    fn several_methods_on_a_random_slice_score_like_ethos_score() {
        let server = server();
        let out = tmp_out("methods");
        // OUT in a directory that does not exist yet: it is made.
        let res = out.with_file_name("sub").join("res.json");
        let args = args_on(
            &server,
            &vital_file(MORAL),
            &res,
            &[
                "--random",
                "4",
                "--slice-seed",
                "3",
                "--method",
                "ethosagents,vanilla,prompting",
                "--items-in-flight",
                "2",
            ],
        );
        let v = run_ok(&args);
        assert_eq!(v["tasks"].as_u64(), Some(12));
        assert_eq!(server.stats().total, 4 * 7 + 4 + 4);
        assert_eq!(
            args.filled_path(Method::Vanilla),
            out.with_file_name("sub").join("res.vanilla.json")
        );
        let ids: Vec<String> = loaded(&args.filled_path(Method::Vanilla))
            .iter()
            .map(|i| i.id().to_string())
            .collect();
        assert_eq!(ids.len(), 4);
        for m in [Method::EthosAgents, Method::Vanilla, Method::Prompting] {
            assert_summary_is_score(&v, &args, m);
            let e = &v["results"][method_name(m)];
            assert_eq!(e["done"].as_u64(), Some(4));
            let parts = e["breakdown"].as_array().expect("breakdown");
            assert!(!parts.is_empty());
            let sum: u64 = parts.iter().filter_map(|p| p["done"].as_u64()).sum();
            assert_eq!(sum, 4, "the breakdown adds up: {parts:?}");
            assert!(parts.iter().all(|p| p["attribute"].as_str().is_some()));
        }
        let csv = std::fs::read_to_string(args.paths().csv).unwrap_or_default();
        assert_eq!(csv.lines().count(), 13, "header + one row per task:\n{csv}");
        // The slice is the engine's: the same seed picks the same ids.
        let all = vital::load(
            &std::fs::read_to_string(vital_file(MORAL)).unwrap_or_default(),
            None,
        )
        .expect("file");
        let want: Vec<String> = batch::select(&all, &args.slice)
            .expect("slice")
            .into_iter()
            .map(|i| all[i].id().to_string())
            .collect();
        assert_eq!(ids, want);
        cleanup(&out);
    }

    #[test]
    fn value_items_score_like_ethos_score() {
        let server = server();
        let out = tmp_out("value");
        let file = out.with_file_name("vital_steerable_valuekaleidoscope.json");
        std::fs::copy(
            Path::new(env!("CARGO_MANIFEST_DIR")).join(
                "../ethos-engine/tests/fixtures/vital_steerable_valuekaleidoscope_sample.json",
            ),
            &file,
        )
        .expect("copy fixture");
        server.set_texts(vec!["A".into()]);
        let args = args_on(
            &server,
            &file,
            &out,
            &["--first", "6", "--method", "vanilla"],
        );
        let v = run_ok(&args);
        assert_eq!(server.stats().total, 6);
        let e = &v["results"]["vanilla"];
        assert_eq!(e["value_reference"]["records"].as_u64(), Some(6));
        assert_summary_is_score(&v, &args, Method::Vanilla);
        cleanup(&out);
    }

    #[test]
    fn overton_outputs_are_judged_with_judge() {
        let server = server();
        let out = tmp_out("judge");
        // Every reply (the answer, then the judge's) rates up to 20 values at 0.5.
        let scores: Vec<String> = (1..=20).map(|i| format!("\"{i}\": 0.5")).collect();
        server.set_texts(vec![format!("{{{}}}", scores.join(", "))]);
        let file = vital_file("vital_overton_valuekaleidoscope.json");
        let args = args_on(
            &server,
            &file,
            &out,
            &["--first", "2", "--method", "vanilla", "--judge"],
        );
        let v = run_ok(&args);
        // The default judge (the reference direction) makes one call per explanation.
        let items =
            vital::load(&std::fs::read_to_string(&file).unwrap_or_default(), None).expect("file");
        let judge_calls: u64 = items
            .iter()
            .take(2)
            .map(|i| match i {
                Item::Overton(o) => o.explanation.len() as u64,
                _ => 0,
            })
            .sum();
        assert_eq!(
            server.stats().total,
            2 + judge_calls,
            "an answer per item, a judge call per explanation"
        );
        let c = &v["results"]["vanilla"]["coverage"];
        assert_eq!(c["judged"].as_u64(), Some(2), "{v}");
        assert_eq!(c["mean_item_score"].as_f64(), Some(0.5));
        assert_eq!(loaded(&out).len(), 2);
        cleanup(&out);
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
            &vital_file(MORAL).to_string_lossy(),
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
        let v = run_ok(&args);
        assert!(
            v["distribution"][0]
                .as_str()
                .is_some_and(|s| s.contains("distribution: logprobs")),
            "{v}"
        );
        assert_summary_is_score(&v, &args, Method::Vanilla);
        let js = v["results"]["vanilla"]["dist"]["mean_js"]
            .as_f64()
            .expect("mean_js");
        assert!((0.0..=0.8326).contains(&js), "{v}");
        assert_eq!(records(&args.paths().records).len(), 2);
        eprintln!(
            "live vanilla run on C_001, H_010: {}",
            v["results"]["vanilla"]["dist"]
        );
        cleanup(&out);
    }
}
