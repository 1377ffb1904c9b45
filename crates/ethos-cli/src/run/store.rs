//! The files a batch keeps beside its output, so that a stopped or crashed `ethos run` resumes
//! without repeating a finished call:
//!
//! - `OUT.batch.json`: what the batch is (file, slice, methods, model, settings, endpoint); a
//!   later run with other answers-changing options is refused instead of mixing results;
//! - `OUT.calls.jsonl`: one line per finished call ([`batch::entry_line`]), appended as each
//!   call finishes;
//! - `OUT.outcomes.jsonl`: one [`Outcome`] per finished task (result or error, calls, tokens);
//! - `OUT.records.jsonl`: one full [`RunRecord`] per finished task (every prompt and reply), the
//!   inspectable trace; a task run twice (failed, then done) has two, the last one counts;
//! - `OUT.batches.jsonl` (`--batch-api`): each batch submitted to the provider (its id and its
//!   calls' keys) and, once its results are stored, that it was collected: a restarted command
//!   picks up a batch still in flight instead of submitting it again.
//!
//! A crash can cut the last line of a file in the middle: such a line (no newline at its end) is
//! dropped from the file before anything is appended. Any other unreadable line is an error
//! that names the file and the line.

use ethos_engine::batch::{self, BatchSpec, BatchStore, CallCache, Outcome, Stored};
use ethos_engine::chat::ChatResponse;
use ethos_engine::record::RunRecord;
use ethos_engine::settings::Method;
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The format version written in `OUT.batch.json`.
pub const FORMAT: u32 = 1;

/// Where a batch's files go, from the `--out` path.
#[derive(Debug, Clone, PartialEq)]
pub struct Paths {
    pub out: PathBuf,
    pub spec: PathBuf,
    pub calls: PathBuf,
    pub outcomes: PathBuf,
    pub records: PathBuf,
    pub csv: PathBuf,
    /// The batches submitted to a provider's Batch API and whether their results were stored.
    pub batches: PathBuf,
}

fn beside(out: &Path, suffix: &str) -> PathBuf {
    let mut p = out.as_os_str().to_os_string();
    p.push(suffix);
    PathBuf::from(p)
}

impl Paths {
    pub fn new(out: &Path) -> Self {
        Paths {
            out: out.to_path_buf(),
            spec: beside(out, ".batch.json"),
            calls: beside(out, ".calls.jsonl"),
            outcomes: beside(out, ".outcomes.jsonl"),
            records: beside(out, ".records.jsonl"),
            csv: beside(out, ".scores.csv"),
            batches: beside(out, ".batches.jsonl"),
        }
    }

    /// The filled VITAL file of `method`: `OUT` itself when the batch has one method, else
    /// `OUT` with `.<method>` before its extension (`res.json` -> `res.vanilla.json`).
    pub fn filled(&self, method: Method, methods: usize) -> PathBuf {
        if methods <= 1 {
            return self.out.clone();
        }
        let name = self
            .out
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (stem, ext) = match name.rsplit_once('.') {
            Some((s, e)) if !s.is_empty() => (s.to_string(), format!(".{e}")),
            _ => (name, String::new()),
        };
        self.out
            .with_file_name(format!("{stem}.{}{ext}", method.id()))
    }

    /// The state a fresh start removes (the outputs are rewritten at the end anyway).
    pub fn state(&self) -> [&PathBuf; 5] {
        [
            &self.spec,
            &self.calls,
            &self.outcomes,
            &self.records,
            &self.batches,
        ]
    }
}

/// FNV-1a of the input file's bytes: an edited input is another batch.
pub fn content_hash(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// `OUT.batch.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredSpec {
    pub ethos_batch: u32,
    /// The input as given on the command line (informative; the name and content count).
    pub file_path: String,
    pub file_hash: String,
    /// "openai" or "anthropic".
    pub provider: String,
    pub base_url: String,
    /// The ids of the selected items, in order (`Task::item` indexes this list).
    pub items: Vec<String>,
    pub spec: BatchSpec,
}

/// What differs between the stored batch and this command: answers-changing differences
/// (refused) and others (said, then the stored batch is updated).
#[derive(Debug, Default, PartialEq)]
pub struct Diff {
    pub refused: Vec<String>,
    pub notes: Vec<String>,
}

fn names(methods: &[Method]) -> String {
    methods.iter().map(|m| m.id()).collect::<Vec<_>>().join(",")
}

pub fn compare(old: &StoredSpec, new: &StoredSpec) -> Diff {
    let mut d = Diff::default();
    let (o, n) = (&old.spec, &new.spec);
    let mut refuse = |what: &str, a: String, b: String| {
        if a != b {
            d.refused.push(format!("{what} {a} -> {b}"));
        }
    };
    refuse(
        "format",
        old.ethos_batch.to_string(),
        new.ethos_batch.to_string(),
    );
    refuse("input file", o.file.clone(), n.file.clone());
    if o.file == n.file {
        refuse(
            "input file content (hash)",
            old.file_hash.clone(),
            new.file_hash.clone(),
        );
    }
    refuse("slice", o.slice.describe(), n.slice.describe());
    if o.slice == n.slice && old.items != new.items {
        refuse(
            "selected items",
            format!("{} items", old.items.len()),
            format!("{} items", new.items.len()),
        );
    }
    refuse("methods", names(&o.methods), names(&n.methods));
    refuse("provider", old.provider.clone(), new.provider.clone());
    let (os, ns) = (&o.settings, &n.settings);
    refuse(
        "model",
        format!("{:?}", os.models.combine),
        format!("{:?}", ns.models.combine),
    );
    if os.models.combine == ns.models.combine && os.models != ns.models {
        refuse(
            "stage models",
            format!("{:?}", os.models),
            format!("{:?}", ns.models),
        );
    }
    refuse("k", os.k.to_string(), ns.k.to_string());
    refuse("seed", os.seed.to_string(), ns.seed.to_string());
    refuse(
        "distribution",
        format!("{:?}", os.distribution),
        format!("{:?}", ns.distribution),
    );
    refuse(
        "perspectives",
        if os.structured_perspectives {
            "json"
        } else {
            "lines"
        }
        .into(),
        if ns.structured_perspectives {
            "json"
        } else {
            "lines"
        }
        .into(),
    );
    refuse("judge", o.judge.to_string(), n.judge.to_string());
    // Anything else that shapes the requests (templates, decoding, ...).
    let mut os_rest = os.clone();
    os_rest.concurrency = ns.concurrency;
    // How failed items are scored changes no answer: the same batch, scored the other way.
    os_rest.score_failed_as_reference = ns.score_failed_as_reference;
    if os.score_failed_as_reference != ns.score_failed_as_reference {
        d.notes.push(format!(
            "failed items are now {}",
            if ns.score_failed_as_reference {
                "scored as the reference does"
            } else {
                "left out of the scores"
            }
        ));
    }
    if d.refused.is_empty() && os_rest != *ns {
        d.refused.push("other run settings".into());
    }
    if old.base_url != new.base_url {
        d.notes.push(format!(
            "the base URL changed ({} -> {}); the model name is the same, so finished calls are reused",
            old.base_url, new.base_url
        ));
    }
    if os.concurrency != ns.concurrency || o.items_in_flight != n.items_in_flight {
        d.notes.push(format!(
            "concurrency {} -> {}, items in flight {} -> {} (results do not depend on them)",
            os.concurrency, ns.concurrency, o.items_in_flight, n.items_in_flight
        ));
    }
    d
}

fn io_err(path: &Path, what: &str, e: impl std::fmt::Display) -> String {
    format!("cannot {what} {}: {e}", path.display())
}

/// Write a whole file through a temporary file and a rename (never half written).
pub fn write_atomic(path: &Path, text: &str) -> Result<(), String> {
    let tmp = beside(path, ".tmp");
    std::fs::write(&tmp, text).map_err(|e| io_err(&tmp, "write", e))?;
    std::fs::rename(&tmp, path).map_err(|e| io_err(path, "write", e))
}

pub fn read_spec(path: &Path) -> Result<Option<StoredSpec>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(path, "read", e)),
    };
    serde_json::from_str(&text).map(Some).map_err(|e| {
        format!(
            "{} is not a batch description ({e}); use another --out, or --fresh to start over",
            path.display()
        )
    })
}

pub fn write_spec(path: &Path, spec: &StoredSpec) -> Result<(), String> {
    let text = serde_json::to_string_pretty(spec)
        .map_err(|e| format!("cannot serialise the batch description: {e}"))?;
    write_atomic(path, &(text + "\n"))
}

/// Remove a file if it is there.
pub fn remove(path: &Path) -> Result<(), String> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err(path, "remove", e)),
    }
}

/// The complete lines of a JSON-lines file with their 1-based numbers (blank lines skipped). A
/// last line without its newline was cut by a crash: it is cut off the file, and a note says so.
fn read_lines(path: &Path, notes: &mut Vec<String>) -> Result<Vec<(usize, String)>, String> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(path, "read", e)),
    };
    let complete = match bytes.iter().rposition(|b| *b == b'\n') {
        Some(i) => i + 1,
        None => 0,
    };
    if complete < bytes.len() {
        let f = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| io_err(path, "repair", e))?;
        f.set_len(complete as u64)
            .map_err(|e| io_err(path, "repair", e))?;
        notes.push(format!(
            "the last line of {} was cut (the run was interrupted while writing it); it was dropped",
            path.display()
        ));
    }
    let text = String::from_utf8_lossy(bytes.get(..complete).unwrap_or_default());
    Ok(text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| (i + 1, l.to_string()))
        .collect())
}

fn unreadable(path: &Path, line: usize, what: &str) -> String {
    format!(
        "{} line {line} is not {what}: the file was edited or damaged; delete that line (its work is \
         then done again), or start over with --fresh",
        path.display()
    )
}

/// What a resumed batch starts from.
#[derive(Debug, Default)]
pub struct Loaded {
    pub cache: CallCache,
    pub outcomes: Vec<Outcome>,
    pub notes: Vec<String>,
}

/// Load the finished calls and outcomes of the batch (`items` selected items, `methods`), and
/// repair a cut last line of the records file.
pub fn load(paths: &Paths, items: usize, methods: &[Method]) -> Result<Loaded, String> {
    let mut loaded = Loaded::default();
    for (n, line) in read_lines(&paths.calls, &mut loaded.notes)? {
        if loaded.cache.extend_from_jsonl(&line) != 0 {
            return Err(unreadable(&paths.calls, n, "a stored call"));
        }
    }
    for (n, line) in read_lines(&paths.outcomes, &mut loaded.notes)? {
        let o: Outcome = serde_json::from_str(&line)
            .map_err(|_| unreadable(&paths.outcomes, n, "a task outcome"))?;
        if o.task.item >= items || !methods.contains(&o.task.method) {
            return Err(unreadable(
                &paths.outcomes,
                n,
                "an outcome of this batch's tasks",
            ));
        }
        loaded.outcomes.push(o);
    }
    // The records are the trace, not state: only the cut tail matters before appending.
    read_lines(&paths.records, &mut loaded.notes)?;
    Ok(loaded)
}

/// A JSON-lines file that is appended to, one whole line per write.
pub struct Appender {
    path: PathBuf,
    file: File,
}

impl Appender {
    pub fn open(path: &Path) -> Result<Self, String> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| io_err(path, "open", e))?;
        Ok(Appender {
            path: path.to_path_buf(),
            file,
        })
    }

    /// Append `line` and its newline in one write, then flush.
    pub fn line(&mut self, line: &str) -> Result<(), String> {
        let mut buf = String::with_capacity(line.len() + 1);
        buf.push_str(line);
        buf.push('\n');
        self.file
            .write_all(buf.as_bytes())
            .and_then(|_| self.file.flush())
            .map_err(|e| io_err(&self.path, "write", e))
    }
}

pub fn record_line(record: &RunRecord) -> Result<String, String> {
    serde_json::to_string(record).map_err(|e| format!("cannot serialise a run record: {e}"))
}

/// The complete lines of a JSON-lines file (a cut last line repaired as [`load`] does).
pub fn lines(path: &Path) -> Result<Vec<(usize, String)>, String> {
    read_lines(path, &mut Vec::new())
}

pub fn outcome_line(outcome: &Outcome) -> Result<String, String> {
    serde_json::to_string(outcome).map_err(|e| format!("cannot serialise an outcome: {e}"))
}

/// The batch's files as the engine's [`BatchStore`]: calls, outcomes and records appended as
/// they finish (the files are opened at the first write, after [`BatchStore::load`] repaired a
/// cut last line).
pub struct JsonlStore {
    paths: Paths,
    items: usize,
    methods: Vec<Method>,
    calls: Option<Appender>,
    outcomes: Option<Appender>,
    records: Option<Appender>,
    /// What loading repaired.
    pub notes: Vec<String>,
}

impl JsonlStore {
    /// The store of a batch of `items` selected items × `methods`.
    pub fn new(paths: &Paths, items: usize, methods: &[Method]) -> Self {
        JsonlStore {
            paths: paths.clone(),
            items,
            methods: methods.to_vec(),
            calls: None,
            outcomes: None,
            records: None,
            notes: Vec::new(),
        }
    }
}

fn opened<'a>(slot: &'a mut Option<Appender>, path: &Path) -> Result<&'a mut Appender, String> {
    if slot.is_none() {
        *slot = Some(Appender::open(path)?);
    }
    slot.as_mut().ok_or_else(|| io_err(path, "open", "no file"))
}

impl BatchStore for JsonlStore {
    fn load(&mut self) -> Result<Stored, String> {
        let l = load(&self.paths, self.items, &self.methods)?;
        self.notes.extend(l.notes);
        Ok(Stored {
            cache: l.cache,
            outcomes: l.outcomes,
        })
    }

    fn put_call(&mut self, key: &str, response: &ChatResponse) -> Result<(), String> {
        let line = batch::entry_line(key, response)
            .ok_or_else(|| "cannot serialise a finished call".to_string())?;
        opened(&mut self.calls, &self.paths.calls)?.line(&line)
    }

    fn put_outcome(&mut self, outcome: &Outcome, record: Option<&RunRecord>) -> Result<(), String> {
        // The record first: an outcome on disk means the task is finished, and its trace is there.
        if let Some(r) = record {
            opened(&mut self.records, &self.paths.records)?.line(&record_line(r)?)?;
        }
        opened(&mut self.outcomes, &self.paths.outcomes)?.line(&outcome_line(outcome)?)
    }
}
