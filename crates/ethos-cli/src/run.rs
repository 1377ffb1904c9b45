//! `ethos run`: a batch of VITAL items × methods (EthosAgents and the baselines) against an LLM
//! endpoint, natively: the command-line twin of the app's benchmark mode, on the engine's batch
//! module ([`ethos_engine::batch`]).
//!
//! ```text
//! ethos run --file F --method ethosagents[,vanilla,prompting] --provider openai|anthropic
//!           --base-url URL [--base-url URL2 …] --model M [--key-env VAR]
//!           [--ids ID[,ID…] | --first N | --random N [--slice-seed S]] [--attribute TEXT]
//!           [--k N] [--seed S] [--concurrency C] [--items-in-flight N]
//!           [--dist auto|logprobs|votes|sampling|verbalised] [--samples N]
//!           [--perspectives lines|json] [--judge] [--preset reference] [--score-failed]
//!           [--out FILE] [--fresh]
//!           [--batch-api [--batch-poll S] [--batch-cancel]] [--batch-export DIR]
//!           [--batch-import FILE] [--state-export FILE] [--state-import FILE]
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
//! - `http://` and `https://` endpoints; https trusts the operating system's certificates, or
//!   those in `SSL_CERT_FILE` / `SSL_CERT_DIR`.
//! - `--base-url` repeated: replicas of one model share the calls ([`replicas`]), each with its own
//!   `--concurrency` limit.
//! - `--batch-api`: the calls go through the provider's Batch API (OpenAI Batch API, Anthropic
//!   Message Batches), one batch per pipeline stage ([`rounds`], [`batch_api`]);
//!   `--batch-export DIR` / `--batch-import FILE` do the same through JSONL files (OpenAI batch
//!   format, which vLLM's `run_batch` reads and writes).
//! - The state lives behind the engine's [`ethos_engine::batch::BatchStore`] (here
//!   [`store::JsonlStore`]); `--state-export FILE` / `--state-import FILE` move a batch's whole
//!   state ([`ethos_engine::batch::BatchState`], one JSON document) to another OUT or machine;
//!   `--state-import` without `--method` and `--model` continues the state's own batch (the
//!   app's Export state: the browser implements the same trait).
//! - `--preset reference`: every decision as the reference's, for what the endpoint offers (the
//!   app's "Reproduce the reference", [`preset`]); `--k`, `--dist`, `--perspectives` given too
//!   apply over it. The batch's settings (OUT.batch.json, every run record) name the preset, its
//!   deviations and what was changed since; so does the summary (`preset`).
//! - `--score-failed` (on with the preset): failed items are scored as the reference does
//!   (uniform distribution / unparsed answer / coverage 0) instead of left out; each method's
//!   `attrition` says which. The filled files then carry those predictions, and
//!   `ethos score --score-failed` scores them as the summary does.
//! - A fault that would hit every task (bad key, forbidden, unknown model) stops the batch: no
//!   further task starts.
//!
//! - Ctrl-C stops the batch (calls in flight are dropped, finished ones are stored) and writes
//!   the outputs and the summary for what is done.
//!
//! Exit codes: 0 every task done; 1 a task failed, the batch stopped, or bad input (the message
//! says which); 2 usage; 130 interrupted by Ctrl-C.

mod args;
mod batch_api;
mod preset;
mod progress;
mod replicas;
mod rounds;
pub mod store;
#[cfg(test)]
mod tests;

#[cfg(test)]
pub use args::parse_args;
pub use args::{args_from, RunArgs, RunCli};
use ethos_engine::batch::{self, BatchRun, BatchSpec, Outcome};
use ethos_engine::batch::{BatchState, BatchStore, Scoring};
use ethos_engine::distribution::DistMethod;
use ethos_engine::record::RunResult;
use ethos_engine::reference::{changed_since_preset, preset_summary};
use ethos_engine::settings::DistSetting;
use ethos_engine::vital::{self, Item, Source};
use ethos_providers::native::NativeTransport;
use ethos_providers::{Client, Endpoint, Protocol};
pub use progress::Display;
use progress::{Live, Tally};
use replicas::Replicas;
use std::cell::RefCell;
use std::collections::HashMap;
use store::{Paths, StoredSpec};

/// What `ethos run --help` says after the options.
pub const DETAILS: &str = "\
  Runs the slice of F through each method against the endpoint. Writes the filled VITAL file
  per method (FILE with one method, FILE with .<method> before its extension with several; for
  `ethos score`), FILE.scores.csv, and the state it resumes from: FILE.batch.json,
  FILE.calls.jsonl (every finished call), FILE.outcomes.jsonl, FILE.records.jsonl (full run
  records). Prints a JSON summary with the scores per method and per attribute.
  Run the same command again to resume: finished calls are not made again. Another model, k,
  seed, file, slice, methods, --dist or --judge for the same FILE is refused; --fresh starts
  over. --concurrency (default 4) bounds the calls in flight per endpoint, --items-in-flight
  (default: the concurrency times the endpoints) the items. Several --base-url: replicas of the
  same model share the calls (each call goes to the least busy one). https endpoints are
  verified against the system's certificates, or those in SSL_CERT_FILE / SSL_CERT_DIR.
  --judge scores Overton outputs with the LLM judge (one more call).
  --preset reference sets every decision to the reference's (the app's \"Reproduce the
  reference\": k = 6, the reference templates and stage-1 system message, `#`-line parsing with
  retries, per-item seeds, logprobs read from raw completions where the endpoint serves them,
  failed items scored), for what the endpoint offers: a capability probe (two or three tiny
  calls) asks it first. --k, --dist, --perspectives given too apply over the preset. The
  records and the summary name the preset, each deviation and what was changed since.
  --score-failed scores failed items as the reference does (uniform distribution, unparsed
  answer, coverage 0) instead of leaving them out (on with --preset reference); the filled
  files carry those predictions (score them with `ethos score --score-failed`).
  The key is read from the environment variable named by --key-env (never from the command line).
  --perspectives json asks stage 1 for schema-checked JSON (not the reference format; for small
  local models that cannot follow the `#` line format).
  Ctrl-C writes the outputs for what is done (run the same command again to go on).
  --batch-api sends the calls through the provider's Batch API (OpenAI /v1/batches, Anthropic
  Message Batches): one batch per pipeline stage for all items, polled every S seconds
  (--batch-poll, default 30); results are stored like live calls and score the same. A command
  restarted while a batch is in flight picks it up (FILE.batches.jsonl); --batch-cancel cancels
  it and keeps what it finished. --batch-export DIR writes the next stage's calls as an OpenAI
  batch JSONL file (vLLM: python -m vllm.entrypoints.openai.run_batch -i F -o R --model M);
  --batch-import R reads the results back (then the next stage is exported, and so on).
  --state-export FILE writes the batch's whole state (everything finished) as one JSON file at
  the end; --state-import FILE adds such a state (the same batch: file, slice, methods,
  settings) before running, so a batch moves to another OUT or machine without a call made
  again. Without --method and --model the batch is the state's own (its file name, slice,
  methods, model and settings, e.g. from the app's Export state): give --file (the same VITAL
  file), --provider and --base-url, and optionally --key-env, --concurrency and --out.
  Exit codes: 0 all done, 1 a task failed / the batch stopped / bad input, 2 usage,
  130 interrupted.";

#[derive(Debug)]
pub enum RunError {
    /// `--help`: the help text (printed on stdout, exit code 0).
    Help(String),
    Usage(String),
    Input(String),
}

impl RunError {
    pub fn code(&self) -> i32 {
        match self {
            RunError::Help(_) => 0,
            RunError::Usage(_) => 2,
            RunError::Input(_) => 1,
        }
    }
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::Help(m) | RunError::Usage(m) | RunError::Input(m) => f.write_str(m),
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

pub fn main(cli: RunCli) -> i32 {
    let parsed = match args_from(cli) {
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

/// Read a batch state file (written by `--state-export` or the app's Export state).
fn read_state(file: &std::path::Path) -> Result<BatchState, RunError> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| input(format!("cannot read {}: {e}", file.display())))?;
    BatchState::parse(&text).map_err(|e| input(format!("{}: {e}", file.display())))
}

/// The arguments of a run that continues the batch of `state`: its methods, slice, model and
/// settings; the endpoints, key, concurrency and outputs are this command's.
fn adopt(args: &RunArgs, file: &std::path::Path, state: &BatchState) -> Result<RunArgs, RunError> {
    let given = args
        .file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if given != state.spec.file {
        return Err(input(format!(
            "{} is a batch over {}, not over {given} (--file)",
            file.display(),
            state.spec.file
        )));
    }
    if args.preset || !args.given.is_empty() || args.judge {
        return Err(RunError::Usage(format!(
            "{} brings its batch's settings: without --method and --model, --preset, --k, --dist, --perspectives and --judge cannot be given",
            file.display()
        )));
    }
    let mut out = args.clone();
    out.methods = state.spec.methods.clone();
    out.slice = state.spec.slice.clone();
    out.model = state.spec.settings.models.combine.clone();
    out.k = state.spec.settings.k;
    out.judge = state.spec.judge;
    out.state_adopted = true;
    Ok(out)
}

/// Run the batch; returns the summary, and what went wrong with tasks if anything did.
pub async fn run(args: &RunArgs, display: &mut Display) -> Result<Report, RunError> {
    // A state to import is read (and checked) before anything is written.
    let imported = match &args.state_import {
        None => None,
        Some(file) => Some((file.clone(), read_state(file)?)),
    };
    // `--state-import` without --method and --model: the batch is the state's own (file name,
    // slice, methods, model and settings), as the app or another machine exported it.
    let adopted: RunArgs;
    let args = match &imported {
        Some((file, state)) if args.methods.is_empty() => {
            adopted = adopt(args, file, state)?;
            &adopted
        }
        _ => args,
    };
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
    let paths = args.paths();
    // One capability cache for the probe and the batch's clients.
    let caps = ethos_providers::client::shared_capability_cache();
    let facts = match args.preset {
        true => Some(
            preset::facts(args, &paths, key.clone(), &caps)
                .await
                .map_err(input)?,
        ),
        false => None,
    };
    let spec = match &imported {
        Some((_, state)) if args.state_adopted => {
            let mut spec = state.spec.clone();
            spec.settings.concurrency = args.concurrency;
            spec.settings.score_failed_as_reference |= args.score_failed;
            spec.items_in_flight = args.items_in_flight;
            spec
        }
        _ => {
            let settings = preset::settings(args, facts);
            settings
                .validate()
                .map_err(|e| RunError::Usage(format!("invalid settings: {e}")))?;
            BatchSpec {
                file: file_name,
                slice: args.slice.clone(),
                methods: args.methods.clone(),
                settings,
                items_in_flight: args.items_in_flight,
                judge: args.judge,
                models: Vec::new(),
            }
        }
    };
    let stored = StoredSpec {
        ethos_batch: store::FORMAT,
        file_path: file_path.clone(),
        file_hash: store::content_hash(&bytes),
        provider: match args.protocol {
            Protocol::OpenAi => "openai".into(),
            Protocol::Anthropic => "anthropic".into(),
        },
        base_url: args.base_urls.join(" "),
        items: items.iter().map(|i| i.id().to_string()).collect(),
        spec: spec.clone(),
    };
    if let Some(dir) = paths.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| input(format!("cannot create {}: {e}", dir.display())))?;
    }
    // A state to import is checked before anything is written.
    let ids: Vec<String> = stored.items.clone();
    let import = match imported {
        None => None,
        Some((file, state)) => {
            if let Some(why) = state.mismatch(&spec, &ids) {
                return Err(input(format!(
                    "{} is the state of another batch ({why})",
                    file.display()
                )));
            }
            Some((file, state))
        }
    };
    claim(args, &paths, &stored, display)?;
    let mut jsonl = store::JsonlStore::new(&paths, items.len(), &spec.methods);
    if let Some((file, state)) = import {
        // Load first: a cut last line is repaired before anything is appended.
        jsonl.load().map_err(input)?;
        let (calls, outcomes) = state.import_into(&mut jsonl).map_err(input)?;
        display.line(&format!(
            "imported {calls} finished calls and {outcomes} task outcomes from {}",
            file.display()
        ));
    }
    let loaded = jsonl.load().map_err(input)?;
    for n in &jsonl.notes {
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

    let call_timeout_ms =
        (spec.settings.call_timeout_s > 0).then(|| u64::from(spec.settings.call_timeout_s) * 1000);
    let mut clients = Vec::new();
    for url in &args.base_urls {
        let transport = NativeTransport::new().map_err(|e| input(e.to_string()))?;
        let endpoint = Endpoint::new(args.protocol, url.clone(), key.clone(), "custom");
        clients.push(
            Client::new(endpoint, transport)
                .with_concurrency(args.concurrency)
                .with_timeout_ms(call_timeout_ms)
                .with_capability_cache(caps.clone()),
        );
    }
    let client = Replicas::new(clients);
    let cache = RefCell::new(loaded.cache);
    let loaded_outcomes = loaded.outcomes.len();
    let start = std::time::Instant::now();
    let clock = move || start.elapsed().as_secs_f64() * 1000.0;
    let (tally, interrupted, rounds_report) = {
        let live = Live::new(
            &items,
            &all,
            spec.items_in_flight,
            loaded.outcomes,
            Box::new(jsonl),
            display,
        );
        // Ctrl-C stops the batch (the calls in flight are dropped; every finished one is
        // stored) and the outputs are written for what is done.
        let interrupt = async {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        let mut interrupted = false;
        let mut rounds_report = None;
        if let Some(mode) = &args.batch {
            let drive = rounds::Drive {
                mode,
                model: &client,
                items: &items,
                spec: &spec,
                cache: &cache,
                clock: &clock,
                live: &live,
                todo: &todo,
                paths: &paths,
                endpoint: Endpoint::new(
                    args.protocol,
                    args.base_urls.first().cloned().unwrap_or_default(),
                    key.clone(),
                    "custom",
                ),
            };
            tokio::select! {
                r = drive.run() => rounds_report = Some(r),
                _ = interrupt => {
                    interrupted = true;
                    live.line("interrupted: writing what is done; a batch in flight keeps running at \
                               the provider: run the same command again to pick up its results \
                               (add --batch-cancel to cancel it)");
                }
            }
        } else {
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
            tokio::select! {
                _ = work => {}
                _ = ticker => {}
                _ = interrupt => {
                    interrupted = true;
                    live.line("interrupted: writing what is done; run the same command again to resume");
                }
            }
        }
        // The bar's last state stays on screen (and ends the per-task lines otherwise).
        live.line(&live.status());
        let mut tally = live.tally();
        if let Some(r) = &rounds_report {
            // A queued call is not a call: count the batches' results and the stored calls used.
            tally.fresh_calls = r.stored + r.errors;
            tally.cached_calls = tally
                .outcomes
                .iter()
                .skip(loaded_outcomes)
                .map(|o| u64::from(o.cached_calls))
                .sum();
        }
        (tally, interrupted, rounds_report)
    };
    if let Some(file) = &args.state_export {
        let mut again = store::JsonlStore::new(&paths, items.len(), &spec.methods);
        let state = BatchState::export(&spec, ids, &mut again).map_err(input)?;
        let json = serde_json::to_string(&state)
            .map_err(|e| input(format!("cannot serialise the batch state: {e}")))?;
        store::write_atomic(file, &(json + "\n")).map_err(input)?;
    }
    finish(FinishInput {
        args,
        paths: &paths,
        spec: &spec,
        items: &items,
        all: &all,
        reused,
        tally,
        interrupted,
        endpoints: client.counts(),
        rounds: rounds_report,
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
    /// Calls sent to each endpoint in this run.
    endpoints: Vec<(String, u64)>,
    /// What the batch rounds did (`--batch-api`, `--batch-export`, `--batch-import`).
    rounds: Option<rounds::Report>,
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
    let scoring = Scoring::of(spec);
    let mut results = serde_json::Map::new();
    for &m in &spec.methods {
        let path = args.filled_path(m);
        let filled = batch::filled_file_scored(items, outcomes, m, 0, scoring);
        let json = serde_json::to_string_pretty(&filled)
            .map_err(|e| input(format!("cannot serialise the output: {e}")))?;
        store::write_atomic(&path, &(json + "\n")).map_err(input)?;
        let summary = batch::summarize_scored(items, outcomes, m, 0, scoring);
        let attrition = summary.attrition();
        // Attrition next to the scores: failed items (`failed`) and items not run yet.
        let not_run = items.len().saturating_sub(summary.done + summary.failed);
        let mut entry = serde_json::to_value(summary)
            .map_err(|e| input(format!("cannot serialise the summary: {e}")))?;
        let parts: Vec<serde_json::Value> = batch::breakdown_scored(items, outcomes, m, 0, scoring)
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
            o.insert("not_run".into(), not_run.into());
            o.insert("attrition".into(), attrition.into());
            o.insert("out".into(), path.display().to_string().into());
            o.insert("breakdown".into(), parts.into());
        }
        results.insert(m.id().into(), entry);
    }
    store::write_atomic(
        &paths.csv,
        &batch::scores_csv_scored(items, outcomes, &spec.methods, &[], scoring),
    )
    .map_err(input)?;

    let c = batch::counts(all, outcomes, &Default::default());
    let mut notes: Vec<String> = Vec::new();
    for o in outcomes {
        let dist = spec.settings.distribution;
        if let Some(d) = o.result.as_ref().and_then(|r| describe_dist(r, dist)) {
            if !notes.contains(&d) {
                notes.push(d);
            }
        }
    }
    let summary = serde_json::json!({
        "file": args.file.display().to_string(),
        "slice": spec.slice.describe(),
        "items": items.len(),
        "methods": spec.methods.iter().map(|m| m.id()).collect::<Vec<_>>(),
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
        "preset": preset_summary(&spec.settings),
        "changed_since_preset": changed_since_preset(&spec.settings),
        "score_failed_as_reference": spec.settings.score_failed_as_reference,
        "results": results,
        "batches": f.rounds.as_ref().map(|r| r.batches.clone()).unwrap_or_default(),
        "endpoints": f.endpoints.iter().map(|(url, calls)| serde_json::json!({
            "base_url": url,
            "calls": calls,
        })).collect::<Vec<_>>(),
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
    if let Some(p) = f.rounds.as_ref().and_then(|r| r.problem.clone()) {
        problems.push(p);
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
        failed.sort_by_key(|o| (o.task.item, o.task.method.id()));
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
