//! Stage 2: each perspective writes its moral comment; k independent calls run concurrently
//! under the run's limit, and a failed comment fails only its own card.

use super::*;

impl<M: ChatModel> Pipeline<'_, M> {
    pub(super) async fn comments_inner(
        &self,
        which: Option<&[usize]>,
    ) -> Result<(), PipelineError> {
        let settings = self.settings();
        let item = self.item();
        let perspectives = self.record.with(|r| r.perspectives.perspectives.clone());
        if perspectives.is_empty() {
            return Err(PipelineError::NoPerspectives);
        }
        let count = perspectives.len();
        let indices: Vec<usize> = match which {
            Some(list) => list.to_vec(),
            None => (0..count).collect(),
        };
        if let Some(&bad) = indices.iter().find(|&&i| i >= count) {
            return Err(PipelineError::NoSuchPerspective {
                number: bad + 1,
                count,
            });
        }
        // Render every prompt before the first call so a template error makes no call.
        let country = country_line(&settings, &item)?;
        let mut jobs = Vec::with_capacity(indices.len());
        for &i in &indices {
            let line = perspectives
                .get(i)
                .map(|p| p.raw.clone())
                .unwrap_or_default();
            let prompt = match &item {
                Item::Overton(o) => render(
                    &settings.templates.comment_overton,
                    &[
                        ("situation", o.situation.as_str()),
                        ("perspective", line.as_str()),
                    ],
                )?,
                Item::Value(v) => render(
                    &settings.templates.comment_choice,
                    &[
                        ("country_line", ""),
                        ("question", v.input.as_str()),
                        ("perspective", line.as_str()),
                    ],
                )?,
                Item::Choice { item: c, .. } => render(
                    &settings.templates.comment_choice,
                    &[
                        ("country_line", country.as_str()),
                        ("question", c.question.as_str()),
                        ("perspective", line.as_str()),
                    ],
                )?,
            };
            let messages = with_system(&settings, &settings.templates.comment_system, prompt);
            let req = self.request(
                &settings,
                &settings.models.comments,
                messages,
                settings.decoding.comments,
            );
            jobs.push((i, line, req));
        }
        self.record.update(|r| {
            if r.comments.len() != count {
                r.comments.resize(count, None);
            }
            for &i in &indices {
                if let Some(slot) = r.comments.get_mut(i) {
                    *slot = None;
                }
            }
            r.result = None;
        });
        self.observer.stage_changed(Phase::Comments);
        let n_options = item.options().len();
        let limit = settings.concurrency.max(1);
        let outcomes: Vec<(usize, Result<(), ChatError>)> =
            stream::iter(jobs)
                .map(|(i, line, req)| async move {
                    (i, self.comment_one(i, line, req, n_options).await)
                })
                .buffer_unordered(limit)
                .collect()
                .await;
        let mut failed: Vec<(usize, ChatError)> = outcomes
            .into_iter()
            .filter_map(|(i, r)| r.err().map(|e| (i, e)))
            .collect();
        failed.sort_unstable_by_key(|(i, _)| *i);
        if failed.is_empty() {
            Ok(())
        } else {
            Err(PipelineError::CommentsFailed {
                failed,
                total: indices.len(),
            })
        }
    }

    pub(super) async fn comment_one(
        &self,
        index: usize,
        line: String,
        req: ChatRequest,
        n_options: usize,
    ) -> Result<(), ChatError> {
        let result = self
            .call(self.stages.comments, Stage::Comment(index), None, 1, req)
            .await;
        let call_id = self.record.with(|r| {
            r.calls
                .iter()
                .rev()
                .find(|c| c.stage == Stage::Comment(index))
                .map(|c| c.id)
        });
        let comment = match &result {
            Ok(resp) => {
                let (cleaned, letter) = clean_comment(&resp.text, n_options);
                if let Some(id) = call_id {
                    self.set_cleaned(id, &cleaned);
                }
                CommentRecord {
                    index,
                    perspective: line,
                    call_id,
                    raw: resp.text.clone(),
                    cleaned,
                    letter,
                    edited: false,
                    error: None,
                }
            }
            Err(e) => CommentRecord {
                index,
                perspective: line,
                call_id,
                raw: String::new(),
                cleaned: String::new(),
                letter: None,
                edited: false,
                error: Some(e.clone()),
            },
        };
        self.record.update(|r| {
            if let Some(slot) = r.comments.get_mut(index) {
                *slot = Some(comment.clone());
            }
        });
        self.observer.comment_ready(&comment);
        result.map(|_| ())
    }
}
