//! The baselines the paper compares with: vanilla (one call) and prompting (one call asking
//! for pluralism), scored like EthosAgents.

use super::*;

impl<M: ChatModel> Pipeline<'_, M> {
    pub(super) async fn baseline_inner(&self, method: Method) -> Result<RunResult, PipelineError> {
        if method == Method::EthosAgents {
            return Err(PipelineError::NotApplicable(
                "EthosAgents is not a baseline: use run_item".into(),
            ));
        }
        self.observer.stage_changed(Phase::Baseline);
        let settings = self.settings();
        let item = self.item();
        let t = &settings.templates;
        let vanilla = method == Method::Vanilla;
        let result = match &item {
            Item::Overton(o) => {
                let tpl = if vanilla {
                    &t.vanilla
                } else {
                    &t.prompting_overton
                };
                let prompt = render(tpl, &[("input", o.input.as_str())])?;
                let resp = self
                    .generate(
                        &settings,
                        Stage::Baseline,
                        prompt,
                        settings.decoding.overton,
                    )
                    .await?;
                RunResult::Overton(OvertonResult {
                    text: resp.text,
                    coverage: None,
                })
            }
            Item::Value(v) => {
                let prompt = if vanilla {
                    render(&t.vanilla, &[("input", v.input.as_str())])?
                } else {
                    render(
                        &t.prompting_value,
                        &[("input", v.input.as_str()), ("value", v.vrd.as_str())],
                    )?
                };
                let resp = self
                    .generate(&settings, Stage::Baseline, prompt, settings.decoding.short)
                    .await?;
                RunResult::Value(value_result(None, resp.text, &v.label))
            }
            Item::Choice { source, item: c } => {
                let input = c.question.as_str();
                let prompt = if vanilla {
                    render(&t.vanilla, &[("input", input)])?
                } else {
                    match source {
                        Source::OpinionQa => {
                            let (category, group) = split_attribute(&c.attribute);
                            render(
                                &t.prompting_group,
                                &[
                                    ("category", category.as_str()),
                                    ("group", group.as_str()),
                                    ("input", input),
                                ],
                            )?
                        }
                        Source::GlobalOpinionQa => render(
                            &t.prompting_country,
                            &[("country", c.attribute.as_str()), ("input", input)],
                        )?,
                        _ => render(&t.prompting_distribution, &[("input", input)])?,
                    }
                };
                let n = c.options.len();
                let samples = settings.fallback_samples;
                let failed = |error| PipelineError::Call {
                    stage: Stage::Baseline.label(),
                    error,
                };
                // Under votes a baseline has no comments to vote: it samples answers, as it does
                // when the provider gives no logprobs (not one answer's letter, which would
                // compare a one-hot guess with EthosAgents' k-vote histogram).
                let votes = settings.distribution == DistSetting::Votes;
                let out = if votes {
                    None
                } else {
                    Some(
                        self.read(&settings, Stage::Baseline, prompt.clone(), n)
                            .await
                            .map_err(failed)?,
                    )
                };
                let (dist, note, text) = match out {
                    Some(ReadOutcome {
                        dist: Some(d),
                        note,
                        text,
                    }) => (d, note, text),
                    out => {
                        let s = self
                            .sample(&settings, Stage::Baseline, prompt, n, samples)
                            .await
                            .map_err(failed)?;
                        let why = if votes {
                            "a baseline has no comments to vote"
                        } else {
                            "the provider returned no logprobs"
                        };
                        let mut note = format!("{why}: sampled {samples} answers");
                        if let Some(more) = s.note {
                            note = format!("{note}; {more}");
                        }
                        let d = s
                            .dist
                            .unwrap_or_else(|| distribution::uniform(n, DistMethod::Sampling));
                        (d, Some(note), out.map_or(s.text, |o| o.text))
                    }
                };
                let mut r = single_read_result(&item, dist, note);
                r.answer = Some(text);
                RunResult::Distribution(r)
            }
        };
        self.finish(result)
    }
}
