//! The command line of `ethos run`, parsed into [`RunArgs`].

use super::store::Paths;
use super::RunError;
use clap::error::ErrorKind;
use clap::{CommandFactory, Parser, ValueEnum};
use ethos_engine::batch::{Pick, Slice};
use ethos_engine::settings::{DistSetting, Method};
use ethos_providers::Protocol;
use std::path::PathBuf;

/// Parsed command line.
#[derive(Debug, Clone, PartialEq)]
pub struct RunArgs {
    pub file: PathBuf,
    pub slice: Slice,
    pub methods: Vec<Method>,
    pub protocol: Protocol,
    /// One or more endpoints (`--base-url` repeated): replicas of one model that share the calls.
    pub base_urls: Vec<String>,
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
    /// `--preset reference`: every decision set to the reference's for what the endpoint offers
    /// (the app's "Reproduce the reference"; see [`super::preset`]).
    pub preset: bool,
    /// The settings options given on the command line (`--k`, `--dist`, `--perspectives`):
    /// with `--preset` they are applied over the preset, and recorded as changed since it.
    pub given: Vec<&'static str>,
    /// Score failed items as the reference does (uniform distribution / unparsed answer /
    /// coverage 0) instead of leaving them out; on with `--preset reference`.
    pub score_failed: bool,
    pub out: PathBuf,
    /// Discard the stored batch beside `out` and start over.
    pub fresh: bool,
    /// Make the calls in rounds through a Batch API or files instead of live.
    pub batch: Option<BatchMode>,
    /// Add the finished calls and outcomes of a batch state file (another machine's, the app's)
    /// before running.
    pub state_import: Option<PathBuf>,
    /// Write the batch's state (everything finished) to this file at the end.
    pub state_export: Option<PathBuf>,
    /// The batch (methods, slice, model, settings) is the imported state's (set by `run::adopt`
    /// when `--state-import` comes without --method and --model).
    pub state_adopted: bool,
}

/// `--batch-api`, `--batch-export DIR`, `--batch-import FILE`: the calls are made in rounds
/// (one per pipeline stage) through the provider's Batch API or through JSONL files.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchMode {
    /// Submit each round to the provider's Batch API (OpenAI Batch API, Anthropic Message
    /// Batches) and wait for it.
    pub api: bool,
    /// Write the next round's calls to a JSONL file in this directory (OpenAI batch input).
    pub export: Option<PathBuf>,
    /// Read results (OpenAI batch output format) from this file first.
    pub import: Option<PathBuf>,
    /// Cancel the batch in flight (with `api`), keep what it finished, and stop.
    pub cancel: bool,
    /// Wait between two polls of a batch, ms.
    pub poll_ms: u64,
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

/// `ethos run`'s command line as clap reads it (names, values, repeats, what goes with what);
/// [`parse_args`] then checks what clap cannot and builds [`RunArgs`].
#[derive(Debug, Parser)]
#[command(
    name = "ethos run",
    about = "Run a slice of a VITAL file through EthosAgents and the baselines against an LLM endpoint.",
    after_help = super::DETAILS,
    disable_version_flag = true
)]
pub struct RunCli {
    /// The VITAL file.
    #[arg(long, value_name = "F")]
    file: PathBuf,
    /// Methods, comma-separated: ethosagents, vanilla, prompting (with --state-import alone:
    /// the state's).
    #[arg(
        long,
        alias = "methods",
        value_name = "ethosagents[,vanilla,prompting]",
        required_unless_present = "state_import",
        requires = "model"
    )]
    method: Option<String>,
    /// The wire protocol: OpenAI-compatible chat completions, or Anthropic's Messages API.
    #[arg(long, value_enum, ignore_case = true)]
    provider: ProviderArg,
    /// An endpoint; repeat for replicas of the same model that share the calls.
    #[arg(long = "base-url", value_name = "URL", required = true)]
    base_url: Vec<String>,
    /// The model's name at the endpoint (with --state-import alone: the state's).
    #[arg(
        long,
        value_name = "M",
        required_unless_present = "state_import",
        requires = "method"
    )]
    model: Option<String>,
    /// The environment variable holding the key (never the key itself).
    #[arg(long = "key-env", value_name = "VAR")]
    key_env: Option<String>,
    /// Items by id, comma-separated.
    #[arg(long, value_name = "ID[,ID...]", group = "pick")]
    ids: Option<String>,
    /// The first N items.
    #[arg(long, value_name = "N", group = "pick")]
    first: Option<u64>,
    /// N items at random (seeded by --slice-seed).
    #[arg(long, value_name = "N", group = "pick")]
    random: Option<u64>,
    #[arg(long = "slice-seed", value_name = "S", requires = "random")]
    slice_seed: Option<u64>,
    /// Keep the items whose attribute contains TEXT (case-insensitive), first.
    #[arg(long, value_name = "TEXT")]
    attribute: Option<String>,
    /// Perspectives per item (default 6).
    #[arg(long, value_name = "N")]
    k: Option<u64>,
    #[arg(long, value_name = "S", default_value_t = 0)]
    seed: u64,
    /// Calls in flight per endpoint.
    #[arg(long, value_name = "C", default_value_t = 4)]
    concurrency: u64,
    /// Items in flight (default: the concurrency times the endpoints).
    #[arg(long = "items-in-flight", value_name = "N")]
    items_in_flight: Option<u64>,
    #[arg(long, value_enum, ignore_case = true)]
    dist: Option<DistArg>,
    /// Answers per read with --dist sampling.
    #[arg(long, value_name = "N", default_value_t = 5)]
    samples: u32,
    #[arg(long, value_enum, ignore_case = true)]
    perspectives: Option<PerspectivesArg>,
    /// Score Overton outputs with the LLM judge.
    #[arg(long)]
    judge: bool,
    #[arg(long, value_enum, ignore_case = true)]
    preset: Option<PresetArg>,
    /// Score failed items as the reference does instead of leaving them out.
    #[arg(long = "score-failed")]
    score_failed: bool,
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Discard the stored batch beside OUT and start over.
    #[arg(long)]
    fresh: bool,
    /// Send the calls through the provider's Batch API, one batch per stage.
    #[arg(long = "batch-api", conflicts_with = "batch_export")]
    batch_api: bool,
    /// Seconds between two polls of a batch (0 to 86400, default 30).
    #[arg(long = "batch-poll", value_name = "S", requires = "batch_api")]
    batch_poll: Option<f64>,
    /// Cancel the batch in flight, keep what it finished, and stop.
    #[arg(long = "batch-cancel", requires = "batch_api")]
    batch_cancel: bool,
    /// Write the next stage's calls as an OpenAI batch JSONL file in DIR.
    #[arg(long = "batch-export", value_name = "DIR")]
    batch_export: Option<PathBuf>,
    /// Read a stage's results (OpenAI batch output format) from FILE.
    #[arg(long = "batch-import", value_name = "FILE")]
    batch_import: Option<PathBuf>,
    /// Add the finished work of a batch state file before running.
    #[arg(long = "state-import", value_name = "FILE")]
    state_import: Option<PathBuf>,
    /// Write the batch's whole state to FILE at the end.
    #[arg(long = "state-export", value_name = "FILE")]
    state_export: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ProviderArg {
    Openai,
    Anthropic,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum DistArg {
    Auto,
    Logprobs,
    Votes,
    Sampling,
    #[value(alias = "verbalized")]
    Verbalised,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum PerspectivesArg {
    /// `#` lines (the reference format).
    Lines,
    /// Schema-checked JSON (for small local models).
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum PresetArg {
    /// Every decision as in the authors' code.
    Reference,
}

/// Parse `ethos run`'s arguments (without the program and subcommand names). `--help` comes back
/// as a [`RunError::Help`] holding the help text. (The command itself parses with clap in
/// `main.rs`; the tests call this.)
#[cfg(test)]
pub fn parse_args(args: &[String]) -> Result<RunArgs, RunError> {
    let program = std::iter::once("ethos run");
    let cli = RunCli::try_parse_from(program.chain(args.iter().map(String::as_str)))
        .map_err(clap_error)?;
    args_from(cli)
}

/// A clap error as a [`RunError`]: help text, or a usage error in clap's words.
fn clap_error(e: clap::Error) -> RunError {
    let text = e.render().to_string();
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            RunError::Help(text)
        }
        _ => RunError::Usage(text.trim_start_matches("error: ").trim_end().to_string()),
    }
}

/// A usage error found after clap (values that do not fit together), in clap's format.
fn usage(message: String) -> RunError {
    clap_error(RunCli::command().error(ErrorKind::ValueValidation, message))
}

/// Check what clap cannot and build the run's arguments.
pub fn args_from(cli: RunCli) -> Result<RunArgs, RunError> {
    let mut base_urls: Vec<String> = Vec::new();
    for url in &cli.base_url {
        let url = url.trim().to_string();
        if url.is_empty() {
            return Err(usage("--base-url is empty".into()));
        }
        if base_urls.contains(&url) {
            return Err(usage(format!("--base-url {url} given twice")));
        }
        base_urls.push(url);
    }
    let size = |k: &str, v: u64| -> Result<usize, RunError> {
        usize::try_from(v).map_err(|_| usage(format!("{k} is too large")))
    };
    let file = cli.file.clone();
    let mut methods: Vec<Method> = Vec::new();
    // None: the batch comes from the state to import (`run::adopt`).
    let adopting = cli.method.is_none();
    for name in cli
        .method
        .as_deref()
        .unwrap_or("")
        .split(',')
        .filter(|s| !s.trim().is_empty())
    {
        let m = Method::from_id(name).ok_or_else(|| {
            usage(format!(
                "unknown method {:?} (ethosagents, vanilla or prompting)",
                name.trim()
            ))
        })?;
        if !methods.contains(&m) {
            methods.push(m);
        }
    }
    if methods.is_empty() && !adopting {
        return Err(usage("--method is empty".into()));
    }
    let protocol = match cli.provider {
        ProviderArg::Openai => Protocol::OpenAi,
        ProviderArg::Anthropic => Protocol::Anthropic,
    };
    let model = cli.model.as_deref().unwrap_or("").trim().to_string();
    if model.is_empty() && !adopting {
        return Err(usage("--model is empty".into()));
    }
    let dist = match cli.dist.unwrap_or(DistArg::Auto) {
        DistArg::Auto => DistSetting::Auto,
        DistArg::Logprobs => DistSetting::Logprobs,
        DistArg::Votes => DistSetting::Votes,
        DistArg::Sampling => DistSetting::Sampling { n: cli.samples },
        DistArg::Verbalised => DistSetting::Verbalised,
    };
    let structured_perspectives = matches!(cli.perspectives, Some(PerspectivesArg::Json));

    let pick = if let Some(ids) = &cli.ids {
        let ids: Vec<String> = ids
            .split(',')
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect();
        if ids.is_empty() {
            return Err(usage("--ids is empty".into()));
        }
        Pick::Ids { ids }
    } else if let Some(n) = cli.first {
        Pick::First {
            n: size("--first", n)?,
        }
    } else if let Some(n) = cli.random {
        Pick::Random {
            n: size("--random", n)?,
            seed: cli.slice_seed.unwrap_or(0),
        }
    } else {
        Pick::All
    };
    let slice = Slice {
        pick,
        attribute: cli
            .attribute
            .as_deref()
            .map(|s| s.trim().to_string())
            .unwrap_or_default(),
    };

    let out = match &cli.out {
        Some(o) => o.clone(),
        None => {
            let stem = file
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "items".into());
            match methods.as_slice() {
                [one] => PathBuf::from(format!("{stem}.{}.json", one.id())),
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
    let concurrency = size("--concurrency", cli.concurrency)?.max(1);
    // By default as many items as all endpoints together take calls.
    let items_in_flight = match cli.items_in_flight {
        Some(n) => size("--items-in-flight", n)?,
        None => concurrency * base_urls.len(),
    };
    if items_in_flight == 0 {
        return Err(usage("--items-in-flight must be at least 1".into()));
    }
    let key_env = cli.key_env.as_deref().map(|s| s.trim().to_string());
    let (api, cancel) = (cli.batch_api, cli.batch_cancel);
    let (export, import) = (cli.batch_export.clone(), cli.batch_import.clone());
    if api && base_urls.len() > 1 {
        return Err(usage("--batch-api takes one --base-url".into()));
    }
    let poll_ms = match cli.batch_poll {
        None => 30_000,
        Some(s) if s.is_finite() && (0.0..=86_400.0).contains(&s) => (s * 1000.0).round() as u64,
        Some(s) => {
            return Err(usage(format!(
                "--batch-poll must be seconds (0 to 86400), got {s}"
            )))
        }
    };
    let preset = matches!(cli.preset, Some(PresetArg::Reference));
    let given: Vec<&'static str> = [
        ("--k", cli.k.is_some()),
        ("--dist", cli.dist.is_some()),
        ("--perspectives", cli.perspectives.is_some()),
    ]
    .into_iter()
    .filter_map(|(k, given)| given.then_some(k))
    .collect();
    let batch = (api || export.is_some() || import.is_some()).then_some(BatchMode {
        api,
        export,
        import,
        cancel,
        poll_ms,
    });
    Ok(RunArgs {
        file,
        slice,
        methods,
        protocol,
        base_urls,
        model,
        key_env,
        k: size("--k", cli.k.unwrap_or(6))?,
        seed: cli.seed,
        concurrency,
        items_in_flight,
        dist,
        structured_perspectives,
        judge: cli.judge,
        preset,
        given,
        score_failed: cli.score_failed,
        out,
        fresh: cli.fresh,
        batch,
        state_import: cli.state_import,
        state_export: cli.state_export,
        state_adopted: false,
    })
}
