//! The Overton LLM judge: an LLM estimate of value coverage (spec/evaluation.md), never the
//! reference NLI model.
//!
//! Default, the reference direction ([`JudgeMethod::PerSentence`]): the output is split into
//! sentences; for each explanation (premise) one call lists every sentence (hypotheses) and asks
//! for the probability that the explanation entails each; coverage_i = max over sentences. One
//! call per explanation rather than one per (explanation, sentence) pair: the same quantity with
//! about a tenth of the calls (VITAL's Overton items have 7.25 explanations and a 200-token output
//! of ~10 sentences), and the calls are independent, so they run concurrently.
//!
//! Alternative ([`JudgeMethod::WholeOutput`]): one call asking, per explanation, whether the whole
//! output entails it (the reverse direction), labelled as such.

use super::{Phase, Pipeline, PipelineError};
use crate::chat::{ChatError, ChatModel, Message};
use crate::metrics::{self, CoverageEstimator, CoverageJudgement};
use crate::record::{RunResult, Stage};
use crate::settings::{JudgeMethod, RunSettings};
use crate::template::render;
use crate::vital::{Item, OvertonItem};
use futures::stream::{self, StreamExt};

/// What one judgement needs: the judge, the settings, the item and the output to judge.
struct Task<'x, M> {
    judge: &'x M,
    settings: &'x RunSettings,
    item: &'x OvertonItem,
    output: &'x str,
}

/// A numbered list, "1. a\n2. b".
fn numbered(lines: &[String]) -> String {
    lines
        .iter()
        .enumerate()
        .map(|(i, l)| format!("{}. {l}", i + 1))
        .collect::<Vec<_>>()
        .join("\n")
}

impl<'a, M: ChatModel> Pipeline<'a, M> {
    pub(super) async fn judge_inner(&self, judge: &M) -> Result<CoverageJudgement, PipelineError> {
        let settings = self.settings();
        let item = self.item();
        let Item::Overton(o) = &item else {
            return Err(PipelineError::NotApplicable(
                "coverage is only scored for Overton items".into(),
            ));
        };
        let Some(RunResult::Overton(result)) = self.record.with(|r| r.result.clone()) else {
            return Err(PipelineError::NotApplicable(
                "there is no Overton answer to judge yet".into(),
            ));
        };
        self.observer.stage_changed(Phase::Judge);
        let task = Task {
            judge,
            settings: &settings,
            item: o,
            output: &result.text,
        };
        let coverage = match settings.judge {
            JudgeMethod::PerSentence => self.judge_sentences(&task).await?,
            JudgeMethod::WholeOutput => self.judge_whole(&task).await?,
        };
        let c = coverage.clone();
        self.record.update(|r| {
            if let Some(RunResult::Overton(res)) = &mut r.result {
                res.coverage = Some(c);
            }
        });
        if let Some(r) = self.record.with(|r| r.result.clone()) {
            self.observer.result(&r);
        }
        Ok(coverage)
    }

    /// The reference direction: one call per explanation over the output's sentences.
    async fn judge_sentences(&self, t: &Task<'_, M>) -> Result<CoverageJudgement, PipelineError> {
        let (judge, settings, o, output) = (t.judge, t.settings, t.item, t.output);
        let model = settings.models.judge_model().to_string();
        let sentences = metrics::split_sentences(output);
        let estimator = CoverageEstimator::LlmJudgePerSentence;
        if sentences.is_empty() {
            // No hypothesis can be entailed: every value is uncovered, no call is needed.
            let zeros = vec![0.0; o.explanation.len()];
            return Ok(CoverageJudgement::from_per_value(estimator, model, zeros));
        }
        let listed = numbered(&sentences);
        let count = sentences.len().to_string();
        let mut jobs = Vec::with_capacity(o.explanation.len());
        for (i, e) in o.explanation.iter().enumerate() {
            let prompt = render(
                &settings.templates.judge_sentences,
                &[
                    ("explanation", e.as_str()),
                    ("sentences", listed.as_str()),
                    ("count", count.as_str()),
                ],
            )?;
            let req = self.request(
                settings,
                &model,
                vec![Message::user(prompt)],
                settings.decoding.judge,
            );
            jobs.push((i, req));
        }
        let n = sentences.len();
        let mut rows: Vec<(usize, Result<Vec<f64>, PipelineError>)> = stream::iter(jobs)
            .map(|(i, req)| async move {
                let stage = Stage::JudgeValue(i);
                let row = match self.call(judge, stage, None, 1, req).await {
                    Ok(resp) => metrics::parse_judge_scores(&resp.text, n)
                        .map_err(|e| PipelineError::Judge(format!("value {}: {e}", i + 1))),
                    Err(error) => Err(PipelineError::Call {
                        stage: stage.label(),
                        error,
                    }),
                };
                (i, row)
            })
            .buffer_unordered(settings.concurrency.max(1))
            .collect()
            .await;
        rows.sort_unstable_by_key(|(i, _)| *i);
        let matrix = rows
            .into_iter()
            .map(|(_, r)| r)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(CoverageJudgement::from_sentence_matrix(
            estimator, model, &matrix,
        ))
    }

    /// The reverse direction: one call, the whole output against every explanation.
    async fn judge_whole(&self, t: &Task<'_, M>) -> Result<CoverageJudgement, PipelineError> {
        let (judge, settings, o, output) = (t.judge, t.settings, t.item, t.output);
        let prompt = render(
            &settings.templates.judge,
            &[
                ("output", output),
                ("explanations", &numbered(&o.explanation)),
                ("count", &o.explanation.len().to_string()),
            ],
        )?;
        let model = settings.models.judge_model().to_string();
        let req = self.request(
            settings,
            &model,
            vec![Message::user(prompt)],
            settings.decoding.judge,
        );
        let resp =
            self.call(judge, Stage::Judge, None, 1, req)
                .await
                .map_err(|error: ChatError| PipelineError::Call {
                    stage: Stage::Judge.label(),
                    error,
                })?;
        let per_value = metrics::parse_judge_scores(&resp.text, o.explanation.len())
            .map_err(PipelineError::Judge)?;
        Ok(CoverageJudgement::from_per_value(
            CoverageEstimator::LlmJudgeDirect,
            model,
            per_value,
        ))
    }
}
