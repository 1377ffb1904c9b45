//! The command line of `ethos run`, parsed into [`RunArgs`].

use super::store::{method_name, Paths};
use super::RunError;
use ethos_engine::batch::{Pick, Slice};
use ethos_engine::settings::{DistSetting, Method};
use ethos_providers::Protocol;
use std::collections::HashMap;
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

const VALUED: [&str; 26] = [
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
    "--batch-export",
    "--batch-import",
    "--batch-poll",
    "--state-import",
    "--state-export",
    "--preset",
];
const FLAGS: [&str; 5] = [
    "--judge",
    "--fresh",
    "--batch-api",
    "--batch-cancel",
    "--score-failed",
];

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
    let mut base_urls: Vec<String> = Vec::new();
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
        if *key == "--base-url" {
            let url = value.trim().to_string();
            if url.is_empty() {
                return Err(usage("--base-url is empty".into()));
            }
            if base_urls.contains(&url) {
                return Err(usage(format!("--base-url {url} given twice")));
            }
            base_urls.push(url);
            continue;
        }
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
    if base_urls.is_empty() {
        return Err(usage("missing --base-url".into()));
    }
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
    // By default as many items as all endpoints together take calls.
    let items_in_flight = size("--items-in-flight", (concurrency * base_urls.len()) as u64)?;
    if items_in_flight == 0 {
        return Err(usage("--items-in-flight must be at least 1".into()));
    }
    let key_env = map.get("--key-env").map(|s| s.trim().to_string());
    let api = flags.contains(&"--batch-api");
    let cancel = flags.contains(&"--batch-cancel");
    let export = map.get("--batch-export").map(PathBuf::from);
    let import = map.get("--batch-import").map(PathBuf::from);
    if api && export.is_some() {
        return Err(usage(
            "choose --batch-api or --batch-export (the provider runs the batch, or you do)".into(),
        ));
    }
    if (cancel || map.contains_key("--batch-poll")) && !api {
        return Err(usage(
            "--batch-cancel and --batch-poll go with --batch-api".into(),
        ));
    }
    if api && base_urls.len() > 1 {
        return Err(usage("--batch-api takes one --base-url".into()));
    }
    let poll_ms = match map.get("--batch-poll") {
        None => 30_000,
        Some(v) => match v.trim().parse::<f64>() {
            Ok(s) if s.is_finite() && (0.0..=86_400.0).contains(&s) => (s * 1000.0).round() as u64,
            _ => {
                return Err(usage(format!(
                    "--batch-poll must be seconds (0 to 86400), got {v:?}"
                )))
            }
        },
    };
    let preset = match map
        .get("--preset")
        .map(|s| s.trim().to_ascii_lowercase())
        .as_deref()
    {
        None => false,
        Some("reference") => true,
        Some(other) => {
            return Err(usage(format!(
                "unknown --preset {other:?} (reference: every decision as in the authors' code)"
            )))
        }
    };
    let given: Vec<&'static str> = ["--k", "--dist", "--perspectives"]
        .into_iter()
        .filter(|k| map.contains_key(k))
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
        k: size("--k", 6)?,
        seed: number("--seed", 0)?,
        concurrency,
        items_in_flight,
        dist,
        structured_perspectives,
        judge: flags.contains(&"--judge"),
        preset,
        given,
        score_failed: flags.contains(&"--score-failed"),
        out,
        fresh: flags.contains(&"--fresh"),
        batch,
        state_import: map.get("--state-import").map(PathBuf::from),
        state_export: map.get("--state-export").map(PathBuf::from),
    })
}
