//! Stage 3: combine the comments per mode: the Overton summary, the Steerable selection and
//! answer, the Distributional reads (one per comment, averaged) and their scores.

use super::*;

impl<M: ChatModel> Pipeline<'_, M> {
    pub(super) async fn combine_inner(&self) -> Result<RunResult, PipelineError> {
        let settings = self.settings();
        let item = self.item();
        let (comments, missing) = self.record.with(|r| {
            (
                r.ok_comments().into_iter().cloned().collect::<Vec<_>>(),
                r.missing_comments(),
            )
        });
        if comments.is_empty() && missing.is_empty() {
            return Err(PipelineError::NoPerspectives);
        }
        if !missing.is_empty() {
            return Err(PipelineError::CommentsMissing { indices: missing });
        }
        self.observer.stage_changed(Phase::Combine);
        let result = match &item {
            Item::Overton(o) => {
                let mut passages = Vec::with_capacity(comments.len());
                for (n, c) in comments.iter().enumerate() {
                    passages.push(render(
                        &settings.templates.passage_item,
                        &[("n", &(n + 1).to_string()), ("text", c.cleaned.as_str())],
                    )?);
                }
                let prompt = render(
                    &settings.templates.combine_overton,
                    &[
                        ("situation", o.situation.as_str()),
                        ("passages", &passages.join("\n\n")),
                        ("k", &comments.len().to_string()),
                    ],
                )?;
                let resp = self
                    .generate(&settings, Stage::Combine, prompt, settings.decoding.overton)
                    .await?;
                RunResult::Overton(OvertonResult {
                    text: resp.text,
                    coverage: None,
                })
            }
            Item::Value(v) => {
                let list = self.comment_list(&settings, &comments)?;
                let prompt = render(
                    &settings.templates.select_value,
                    &[
                        ("situation", v.situation.as_str()),
                        ("value", v.vrd.as_str()),
                        ("comments", list.as_str()),
                        ("k", &comments.len().to_string()),
                    ],
                )?;
                let (selection, passage) = self.select(&settings, &item, prompt, &comments).await?;
                let prompt = render(
                    &settings.templates.answer_value,
                    &[
                        ("passage", passage.as_str()),
                        ("input", v.input.as_str()),
                        ("value", v.vrd.as_str()),
                    ],
                )?;
                let resp = self
                    .generate(&settings, Stage::Answer, prompt, settings.decoding.short)
                    .await?;
                RunResult::Value(value_result(Some(selection), resp.text, &v.label))
            }
            Item::Choice {
                source: Source::OpinionQa,
                item: c,
            } => {
                let (category, group) = split_attribute(&c.attribute);
                let list = self.comment_list(&settings, &comments)?;
                let prompt = render(
                    &settings.templates.select_group,
                    &[
                        ("stem", question_stem(&c.question)),
                        ("question", c.question.as_str()),
                        ("category", category.as_str()),
                        ("group", group.as_str()),
                        ("comments", list.as_str()),
                        ("k", &comments.len().to_string()),
                    ],
                )?;
                let (selection, passage) = self.select(&settings, &item, prompt, &comments).await?;
                let prompt = render(
                    &settings.templates.answer_group,
                    &[
                        ("category", category.as_str()),
                        ("group", group.as_str()),
                        ("passage", passage.as_str()),
                        ("question", c.question.as_str()),
                    ],
                )?;
                let n = c.options.len();
                let letters: Vec<Option<char>> = comments.iter().map(|c| c.letter).collect();
                let (dist, text, note) = if settings.distribution == DistSetting::Votes {
                    (
                        distribution::from_votes(&letters, n),
                        None,
                        Some("votes of the comments' leading letters".to_string()),
                    )
                } else {
                    let out = self
                        .read(&settings, Stage::Answer, prompt.clone(), n)
                        .await
                        .map_err(|error| PipelineError::Call {
                            stage: Stage::Answer.label(),
                            error,
                        })?;
                    match out.dist {
                        Some(d) => (d, Some(out.text), out.note),
                        None => {
                            // Votes of every comment would ignore the selection (and the
                            // group): sample answers with the selected comment as passage.
                            let samples = settings.fallback_samples;
                            let s = self
                                .sample(&settings, Stage::Answer, prompt, n, samples)
                                .await
                                .map_err(|error| PipelineError::Call {
                                    stage: Stage::Answer.label(),
                                    error,
                                })?;
                            let why = format!("the provider returned no logprobs: sampled {samples} answers with the selected comment as passage");
                            let note = match s.note {
                                Some(more) => format!("{why}; {more}"),
                                None => why,
                            };
                            let d = s
                                .dist
                                .unwrap_or_else(|| distribution::uniform(n, DistMethod::Sampling));
                            (d, Some(out.text), Some(note))
                        }
                    }
                };
                let mut r = single_read_result(&item, dist, note);
                r.selection = Some(selection);
                r.answer = text;
                RunResult::Distribution(r)
            }
            Item::Choice { item: c, .. } => {
                let n = c.options.len();
                let letters: Vec<Option<char>> = comments.iter().map(|c| c.letter).collect();
                let votes = |note: String| {
                    let per: Vec<Option<Distribution>> = letters
                        .iter()
                        .map(|l| Some(distribution::from_votes(&[*l], n)))
                        .collect();
                    let d = distribution::from_votes(&letters, n);
                    dist_result(
                        item.gold_distribution(),
                        per,
                        d.probs,
                        DistMethod::Votes,
                        Some(note),
                    )
                };
                if settings.distribution == DistSetting::Votes {
                    RunResult::Distribution(votes(
                        "votes of the comments' leading letters (no read calls)".into(),
                    ))
                } else {
                    let country = country_line(&settings, &item)?;
                    let mut jobs = Vec::with_capacity(comments.len());
                    for (j, cm) in comments.iter().enumerate() {
                        let prompt = render(
                            &settings.templates.read,
                            &[
                                ("country_line", country.as_str()),
                                ("passage", cm.cleaned.as_str()),
                                ("question", c.question.as_str()),
                            ],
                        )?;
                        jobs.push((j, prompt));
                    }
                    let total = jobs.len();
                    let settings_ref = &settings;
                    let mut outcomes: Vec<(usize, Result<ReadOutcome, ChatError>)> =
                        stream::iter(jobs)
                            .map(|(j, prompt)| async move {
                                (j, self.read(settings_ref, Stage::Read(j), prompt, n).await)
                            })
                            .buffer_unordered(settings.concurrency.max(1))
                            .collect()
                            .await;
                    outcomes.sort_unstable_by_key(|(j, _)| *j);
                    let mut failed = Vec::new();
                    let mut reads = Vec::new();
                    for (j, o) in outcomes {
                        match o {
                            Ok(o) => reads.push(o),
                            Err(e) => failed.push((j, e)),
                        }
                    }
                    if !failed.is_empty() {
                        return Err(PipelineError::ReadsFailed { failed, total });
                    }
                    let missing = reads.iter().filter(|o| o.dist.is_none()).count();
                    if missing > 0 {
                        RunResult::Distribution(votes(format!(
                            "the provider returned no logprobs for {missing} of {total} reads: used the votes of the comments' leading letters"
                        )))
                    } else {
                        let per: Vec<Option<Distribution>> =
                            reads.iter().map(|o| o.dist.clone()).collect();
                        let probs: Vec<Vec<f64>> =
                            per.iter().flatten().map(|d| d.probs.clone()).collect();
                        let method = per
                            .iter()
                            .flatten()
                            .next()
                            .map(|d| d.method)
                            .unwrap_or(DistMethod::Logprobs);
                        let notes: Vec<String> =
                            reads.iter().filter_map(|o| o.note.clone()).collect();
                        let uniform = per.iter().flatten().filter(|d| d.uniform_fallback).count();
                        let mut note = notes.first().cloned();
                        if uniform > 0 {
                            note = Some(format!(
                                "{uniform} of {total} reads found no option letter and count as uniform{}",
                                note.map(|n| format!("; {n}")).unwrap_or_default()
                            ));
                        }
                        let mean = distribution::mean(&probs);
                        let mean = if mean.len() == n {
                            mean
                        } else {
                            distribution::uniform(n, method).probs
                        };
                        RunResult::Distribution(dist_result(
                            item.gold_distribution(),
                            per,
                            mean,
                            method,
                            note,
                        ))
                    }
                }
            }
        };
        self.finish(result)
    }

    pub(super) fn comment_list(
        &self,
        settings: &RunSettings,
        comments: &[CommentRecord],
    ) -> Result<String, PipelineError> {
        let mut items = Vec::with_capacity(comments.len());
        for (n, c) in comments.iter().enumerate() {
            items.push(render(
                &settings.templates.comment_item,
                &[("n", &(n + 1).to_string()), ("text", c.cleaned.as_str())],
            )?);
        }
        Ok(items.join("\n\n"))
    }

    /// The selection call and its reference parse, with the seeded fallback; returns the
    /// selection and the chosen comment's text (the passage for the answer).
    pub(super) async fn select(
        &self,
        settings: &RunSettings,
        item: &Item,
        prompt: String,
        comments: &[CommentRecord],
    ) -> Result<(Selection, String), PipelineError> {
        let k = comments.len();
        let resp = self
            .generate(settings, Stage::Select, prompt, settings.decoding.short)
            .await?;
        let selection = match answer::parse_selection(&resp.text, k).filter(|&i| i < k) {
            Some(index) => Selection {
                index,
                reply: resp.text,
                fallback: false,
            },
            None => Selection {
                index: fallback_index(settings.seed, item.id(), k),
                reply: resp.text,
                fallback: true,
            },
        };
        let passage = comments
            .get(selection.index)
            .map(|c| c.cleaned.clone())
            .unwrap_or_default();
        Ok((selection, passage))
    }

    /// `samples` answers sampled from `prompt` (one request with `n` where the provider honours
    /// it, else one call per missing sample, each with its own seed); the letter frequencies.
    pub(super) async fn sample(
        &self,
        settings: &RunSettings,
        stage: Stage,
        prompt: String,
        n: usize,
        samples: u32,
    ) -> Result<ReadOutcome, ChatError> {
        let model = &settings.models.combine;
        let dec = Decoding::new(
            settings.decoding.sampling_temperature,
            settings.decoding.short.max_tokens,
        );
        let mut req = self.request(settings, model, vec![Message::user(prompt)], dec);
        if samples > 1 {
            req.n = Some(samples);
        }
        let resp = self
            .call(self.stages.combine, stage, None, 1, req.clone())
            .await?;
        let mut texts = vec![resp.text.clone()];
        texts.extend(resp.more_texts.iter().cloned());
        let mut note = None;
        if (texts.len() as u32) < samples {
            note = Some(format!(
                "the provider returned {} of {samples} samples per request: sampled the rest one call at a time",
                texts.len()
            ));
            req.n = None;
            let mut j = texts.len() as u32;
            while (texts.len() as u32) < samples {
                let mut r = req.clone();
                if let Some(seed) = r.seed {
                    r.seed = Some(seed.wrapping_add(u64::from(j)));
                }
                let resp = self
                    .call(self.stages.combine, stage, Some(j + 1), 1, r)
                    .await?;
                texts.push(resp.text);
                j += 1;
            }
        }
        texts.truncate(samples as usize);
        Ok(ReadOutcome {
            dist: Some(distribution::from_samples(&texts, n)),
            text: resp.text,
            note,
        })
    }

    /// One distribution read by the configured method. Votes are decided by the caller.
    pub(super) async fn read(
        &self,
        settings: &RunSettings,
        stage: Stage,
        prompt: String,
        n: usize,
    ) -> Result<ReadOutcome, ChatError> {
        let model = &settings.models.combine;
        match settings.distribution {
            DistSetting::Auto | DistSetting::Logprobs | DistSetting::Votes => {
                let mut req = self.request(
                    settings,
                    model,
                    vec![Message::user(prompt)],
                    settings.decoding.short,
                );
                if settings.distribution != DistSetting::Votes {
                    req.top_logprobs = Some(settings.top_logprobs);
                }
                let resp = self.call(self.stages.combine, stage, None, 1, req).await?;
                let exact = resp
                    .first_token_letter_probs
                    .as_deref()
                    .filter(|_| settings.distribution != DistSetting::Votes);
                if let Some(raw) = exact {
                    return Ok(ReadOutcome {
                        dist: Some(distribution::from_letter_probs(raw, n)),
                        text: resp.text,
                        note: Some(EXACT_READ_NOTE.into()),
                    });
                }
                match resp.first_token_top_logprobs.as_deref() {
                    Some(top) if !top.is_empty() => Ok(ReadOutcome {
                        dist: Some(distribution::from_top_logprobs(top, n)),
                        text: resp.text,
                        note: None,
                    }),
                    _ if settings.distribution == DistSetting::Logprobs => Ok(ReadOutcome {
                        dist: Some(distribution::uniform(n, DistMethod::Logprobs)),
                        text: resp.text,
                        note: Some("the provider returned no logprobs: uniform".into()),
                    }),
                    _ => Ok(ReadOutcome {
                        dist: None,
                        text: resp.text,
                        note: None,
                    }),
                }
            }
            DistSetting::Sampling { n: samples } => {
                self.sample(settings, stage, prompt, n, samples).await
            }
            DistSetting::Verbalised => {
                let prompt = render(
                    &settings.templates.verbalised,
                    &[
                        ("prompt", prompt.as_str()),
                        ("letters", &letters_list(n)),
                        ("example", &verbalised_example(n)),
                    ],
                )
                .map_err(|e| ChatError::Other(format!("verbalised template: {e}")))?;
                let req = self.request(
                    settings,
                    model,
                    vec![Message::user(prompt)],
                    settings.decoding.verbalised,
                );
                let resp = self.call(self.stages.combine, stage, None, 1, req).await?;
                Ok(match distribution::from_verbalised(&resp.text, n) {
                    Ok(d) => ReadOutcome {
                        dist: Some(d),
                        text: resp.text,
                        note: None,
                    },
                    Err(e) => ReadOutcome {
                        dist: Some(distribution::uniform(n, DistMethod::Verbalised)),
                        text: resp.text,
                        note: Some(format!(
                            "a verbalised reply could not be read ({e}): uniform"
                        )),
                    },
                })
            }
        }
    }

    pub(super) fn finish(&self, result: RunResult) -> Result<RunResult, PipelineError> {
        self.record.update(|r| r.result = Some(result.clone()));
        self.observer.result(&result);
        Ok(result)
    }
}

pub(super) fn value_result(
    selection: Option<Selection>,
    answer_text: String,
    gold: &str,
) -> ValueResult {
    let letter_reference = answer::parse_reference(&answer_text);
    let letter_strict = answer::parse_strict(&answer_text);
    let gold_letter = gold.trim().chars().next();
    ValueResult {
        selection,
        correct_reference: letter_reference.is_some() && letter_reference == gold_letter,
        correct_strict: letter_strict.is_some() && letter_strict == gold_letter,
        answer: answer_text,
        letter_reference,
        letter_strict,
        gold: gold.trim().to_string(),
    }
}

pub(super) fn dist_result(
    gold: Option<&[f64]>,
    per_read: Vec<Option<Distribution>>,
    distribution: Vec<f64>,
    method: DistMethod,
    note: Option<String>,
) -> DistResult {
    let (js, argmax_match) = match gold {
        Some(g) if g.len() == distribution.len() && !g.is_empty() => (
            Some(metrics::js_distance(g, &distribution)),
            Some(metrics::argmax_first(g) == metrics::argmax_first(&distribution)),
        ),
        _ => (None, None),
    };
    DistResult {
        selection: None,
        answer: None,
        per_read,
        distribution,
        method,
        note,
        js,
        argmax_match,
    }
}

/// The result of a distribution read once (a selected comment, or a baseline): that read is the
/// whole distribution.
pub(super) fn single_read_result(
    item: &Item,
    dist: Distribution,
    note: Option<String>,
) -> DistResult {
    dist_result(
        item.gold_distribution(),
        vec![Some(dist.clone())],
        dist.probs,
        dist.method,
        note,
    )
}
