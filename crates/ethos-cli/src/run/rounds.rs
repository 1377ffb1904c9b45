//! `ethos run --batch-api | --batch-export DIR | --batch-import FILE`: the batch made in rounds
//! ([`ethos_engine::batch::Rounds`]): each round runs the pending tasks from the stored calls and
//! collects the calls still to make (every item's stage 1, then every stage 2, then stage 3),
//! which go to the provider as one batch ([`batch_api`]) or to a JSONL file; the results are
//! appended to `OUT.calls.jsonl` like live calls, and the next round runs. The outcomes, the
//! stored calls and the scores are those of a live run.
//!
//! Resuming: the batches submitted are recorded in `OUT.batches.jsonl` (id and the calls' keys);
//! a command restarted while one is in flight re-attaches to it instead of submitting it again.

use super::args::BatchMode;
use super::batch_api::{self, Answer, BatchApi, State};
use super::progress::Live;
use super::store::{self, Appender, Paths};
use ethos_engine::batch::{BatchObserver, BatchRun, BatchSpec, CallCache, Outcome, Rounds, Task};
use ethos_engine::chat::{ChatModel, ChatRequest, ChatResponse};
use ethos_engine::pipeline::Clock;
use ethos_engine::record::RunRecord;
use ethos_engine::vital::Item;
use ethos_providers::Endpoint;
use serde_json::{json, Value};
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::path::Path;

/// What the rounds did, for the summary.
#[derive(Debug, Default)]
pub struct Report {
    /// Why the batch is not complete (files to run, cancelled, refused, …).
    pub problem: Option<String>,
    /// Results stored (successes) and results that were errors, in this command.
    pub stored: u64,
    pub errors: u64,
    /// The batches of this command: id, round, calls, final status.
    pub batches: Vec<Value>,
}

/// Forwards what the state files and the progress need; a queued call is not a call.
struct Rounded<'a, 'b>(&'a Live<'b>);

impl BatchObserver for Rounded<'_, '_> {
    fn task_started(&self, task: Task) {
        self.0.task_started(task)
    }
    fn call_stored(&self, key: &str, response: &ChatResponse) {
        self.0.call_stored(key, response)
    }
    fn task_finished(&self, outcome: &Outcome, record: &RunRecord) {
        self.0.task_finished(outcome, record)
    }
    fn stopped(&self, reason: &str) {
        self.0.stopped(reason)
    }
}

/// Everything the rounds need.
pub struct Drive<'a, 'b, M> {
    pub mode: &'a BatchMode,
    pub model: &'a M,
    pub items: &'a [Item],
    pub spec: &'a BatchSpec,
    pub cache: &'a RefCell<CallCache>,
    pub clock: &'a dyn Clock,
    pub live: &'a Live<'b>,
    pub todo: &'a [Task],
    pub paths: &'a Paths,
    /// The endpoint (with its key) for the Batch API and for reading error results.
    pub endpoint: Endpoint,
}

/// The submitted-batches ledger (`OUT.batches.jsonl`).
struct Ledger {
    file: Option<Appender>,
    /// Batches submitted and not collected: (id, keys).
    open: Vec<(String, HashSet<String>)>,
}

impl Ledger {
    fn load(path: &Path, provider: &str) -> Result<Ledger, String> {
        let mut open: Vec<(String, HashSet<String>)> = Vec::new();
        for (n, line) in store::lines(path)? {
            let v: Value = serde_json::from_str(&line)
                .map_err(|_| format!("{} line {n} is not a batch entry", path.display()))?;
            if let Some(id) = v.get("collected").and_then(Value::as_str) {
                open.retain(|(o, _)| o != id);
            } else if let Some(id) = v.get("submitted").and_then(Value::as_str) {
                if v.get("provider").and_then(Value::as_str) == Some(provider) {
                    let keys = v
                        .get("keys")
                        .and_then(Value::as_array)
                        .map(|a| {
                            a.iter()
                                .filter_map(Value::as_str)
                                .map(str::to_string)
                                .collect()
                        })
                        .unwrap_or_default();
                    open.push((id.to_string(), keys));
                }
            }
        }
        Ok(Ledger { file: None, open })
    }

    fn write(&mut self, path: &Path, v: Value) -> Result<(), String> {
        if self.file.is_none() {
            self.file = Some(Appender::open(path)?);
        }
        match self.file.as_mut() {
            Some(f) => f.line(&v.to_string()),
            None => Ok(()),
        }
    }

    /// A batch in flight that holds every queued call.
    fn attachable(&self, queued: &[(String, ChatRequest)]) -> Option<String> {
        self.open
            .iter()
            .rev()
            .find(|(_, keys)| queued.iter().all(|(k, _)| keys.contains(k)))
            .map(|(id, _)| id.clone())
    }
}

/// Read a results file (OpenAI batch output format, as vLLM's `run_batch` writes it).
fn import(path: &Path, endpoint: &Endpoint) -> Result<HashMap<String, Answer>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let answers = batch_api::parse_openai_results(endpoint, &text)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(answers.into_iter().map(|a| (a.0.clone(), a)).collect())
}

/// `DIR/<OUT name>.round-N.jsonl`, N one more than the files already there.
fn export_path(dir: &Path, out: &Path) -> std::path::PathBuf {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "batch".into());
    let mut n = 1;
    while dir.join(format!("{name}.round-{n}.jsonl")).exists() {
        n += 1;
    }
    dir.join(format!("{name}.round-{n}.jsonl"))
}

impl<M: ChatModel> Drive<'_, '_, M> {
    /// Store `answers` of the queued calls: replies in the cache and `OUT.calls.jsonl`, errors
    /// for the next round's pipeline. Returns how many answered a queued call.
    fn store(
        &self,
        rounds: &RefCell<Rounds>,
        queued: &HashSet<&str>,
        answers: Vec<Answer>,
        report: &mut Report,
    ) -> usize {
        let mut n = 0;
        let mut r = rounds.borrow_mut();
        for (key, result) in answers {
            if !queued.contains(key.as_str()) {
                continue;
            }
            n += 1;
            match result {
                Ok(resp) => {
                    self.cache.borrow_mut().insert(key.clone(), resp.clone());
                    self.live.call_stored(&key, &resp);
                    r.fetched.insert(key);
                    report.stored += 1;
                }
                Err(e) => {
                    r.failed.insert(key, e);
                    report.errors += 1;
                }
            }
        }
        n
    }

    pub async fn run(self) -> Report {
        let mut report = Report::default();
        if let Err(e) = self.rounds(&mut report).await {
            report.problem = Some(e);
        }
        report
    }

    async fn rounds(&self, report: &mut Report) -> Result<(), String> {
        let provider = match self.endpoint.protocol {
            ethos_providers::Protocol::OpenAi => "openai",
            ethos_providers::Protocol::Anthropic => "anthropic",
        };
        let mut imported = match &self.mode.import {
            Some(p) => import(p, &self.endpoint)?,
            None => HashMap::new(),
        };
        let imported_lines = imported.len();
        let mut ledger = Ledger::load(&self.paths.batches, provider)?;
        let api = if self.mode.api {
            Some(BatchApi::new(self.endpoint.clone()).map_err(|e| e.to_string())?)
        } else {
            None
        };
        let observer = Rounded(self.live);
        let runner = BatchRun {
            model: self.model,
            items: self.items,
            spec: self.spec,
            cache: self.cache,
            clock: self.clock,
            observer: &observer,
        };
        let rounds = RefCell::new(Rounds::default());
        let mut pending = self.todo.to_vec();
        let mut round = 0;
        let mut cancelled = false;
        loop {
            rounds.borrow_mut().queued.clear();
            let done = runner.run_round(&pending, &rounds).await;
            let finished: HashSet<Task> = done.iter().map(|o| o.task).collect();
            pending.retain(|t| !finished.contains(t));
            let queued = std::mem::take(&mut rounds.borrow_mut().queued);
            if queued.is_empty() || cancelled || self.live.is_stopped() {
                break;
            }
            let keys: HashSet<&str> = queued.iter().map(|(k, _)| k.as_str()).collect();
            // Results read from --batch-import first.
            let from_file: Vec<Answer> = queued
                .iter()
                .filter_map(|(k, _)| imported.remove(k))
                .collect();
            if !from_file.is_empty() {
                let n = self.store(&rounds, &keys, from_file, report);
                self.live
                    .line(&format!("{n} results read from the imported file"));
                continue;
            }
            round += 1;
            if let Some(dir) = &self.mode.export {
                std::fs::create_dir_all(dir)
                    .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
                let path = export_path(dir, &self.paths.out);
                let jsonl = batch_api::openai_jsonl(&queued).map_err(|e| e.to_string())?;
                store::write_atomic(&path, &jsonl)?;
                report.problem = Some(format!(
                    "{} calls of the next round were written to {} (OpenAI batch input; e.g. vLLM: \
                     python -m vllm.entrypoints.openai.run_batch -i {} -o results.jsonl --model {}); \
                     run the same command with --batch-import results.jsonl to go on",
                    queued.len(),
                    path.display(),
                    path.display(),
                    self.spec.settings.models.combine
                ));
                break;
            }
            let Some(api) = &api else {
                report.problem = Some(format!(
                    "{} calls still to make are not in the imported file: add --batch-export DIR \
                     to write them, or --batch-api to send them to the provider",
                    queued.len()
                ));
                break;
            };
            let id = match ledger.attachable(&queued) {
                Some(id) => {
                    self.live.line(&format!(
                        "round {round}: picking up batch {id} (submitted before, still to collect)"
                    ));
                    id
                }
                None if self.mode.cancel => {
                    report.problem =
                        Some("no batch of this run is in flight: nothing to cancel".into());
                    break;
                }
                None => {
                    let id = api
                        .submit(&queued)
                        .await
                        .map_err(|e| format!("the batch could not be submitted: {e}"))?;
                    ledger.write(
                        &self.paths.batches,
                        json!({"submitted": id, "provider": provider, "round": round,
                               "keys": queued.iter().map(|(k, _)| k).collect::<Vec<_>>()}),
                    )?;
                    ledger
                        .open
                        .push((id.clone(), keys.iter().map(|k| k.to_string()).collect()));
                    self.live.line(&format!(
                        "round {round}: {} calls submitted as batch {id}",
                        queued.len()
                    ));
                    id
                }
            };
            if self.mode.cancel {
                api.cancel(&id)
                    .await
                    .map_err(|e| format!("batch {id} could not be cancelled: {e}"))?;
                self.live
                    .line(&format!("round {round}: cancelling batch {id}"));
                cancelled = true;
            }
            let mut last: Option<(String, u64)> = None;
            let (status, urls) = loop {
                match api
                    .poll(&id)
                    .await
                    .map_err(|e| format!("batch {id}: {e}"))?
                {
                    State::Running {
                        status,
                        done,
                        total,
                    } => {
                        if last.as_ref() != Some(&(status.clone(), done)) {
                            self.live.line(&format!(
                                "round {round}: batch {id} {status}, {done}/{total} calls done"
                            ));
                            last = Some((status, done));
                        }
                        api.pause(self.mode.poll_ms).await;
                    }
                    State::Ended {
                        status,
                        result_urls,
                    } => break (status, result_urls),
                    State::Failed(m) => {
                        ledger.write(&self.paths.batches, json!({"collected": id}))?;
                        return Err(m);
                    }
                }
            };
            let answers = api
                .results(&urls)
                .await
                .map_err(|e| format!("batch {id}'s results: {e}"))?;
            let got = self.store(&rounds, &keys, answers, report);
            ledger.write(&self.paths.batches, json!({"collected": id}))?;
            ledger.open.retain(|(o, _)| *o != id);
            self.live.line(&format!(
                "round {round}: batch {id} {status}: {got} of {} results stored",
                queued.len()
            ));
            report.batches.push(json!({"id": id, "round": round, "calls": queued.len(), "results": got, "status": status}));
            if cancelled {
                report.problem = Some(format!(
                    "batch {id} was cancelled: {got} of its {} calls had finished and are stored; \
                     run the same command without --batch-cancel to go on",
                    queued.len()
                ));
            } else if got < queued.len() {
                // Calls the batch ended without (expired): their tasks fail, as a live call's
                // error would make them; the same command makes them again.
                let mut r = rounds.borrow_mut();
                for (k, _) in &queued {
                    if !r.fetched.contains(k) && !r.failed.contains_key(k) {
                        r.failed.insert(
                            k.clone(),
                            ethos_engine::ChatError::Other(format!(
                                "batch {id} ended ({status}) without this call"
                            )),
                        );
                        report.errors += 1;
                    }
                }
            }
        }
        if imported_lines > 0 && !imported.is_empty() {
            self.live.line(&format!(
                "note: {} of the {imported_lines} imported results matched no call of this batch",
                imported.len()
            ));
        }
        Ok(())
    }
}
