//! Stage 1: invent k perspectives in one call (capped retries), and regenerate one of them.

use super::*;

/// The least token budget of a structured stage-1 reply for k perspectives: about 100 tokens per
/// perspective object (measured: Qwen2.5-Coder-0.5B writes 75–90 with its keys and indentation)
/// and 100 for the wrapper.
pub fn structured_min_tokens(k: usize) -> u32 {
    (100 * k as u32).saturating_add(100)
}

/// The stage-1 token budget the request carries (and the estimate counts): the configured one
/// (its own for Distributional items), raised to [`structured_min_tokens`] when stage 1 asks
/// for JSON, whose keys, quotes and indentation a budget set for k `#` lines would cut off.
pub fn stage1_max_tokens(settings: &RunSettings, mode: Mode) -> u32 {
    let d = &settings.decoding;
    let configured = if mode == Mode::Distributional {
        d.perspectives_max_tokens_distributional
    } else {
        d.perspectives.max_tokens
    };
    if settings.structured_perspectives {
        configured.max(structured_min_tokens(settings.k))
    } else {
        configured
    }
}

/// The JSON schema of a structured stage-1 reply: exactly k perspectives with the five dimensions.
pub fn perspectives_schema(k: usize) -> serde_json::Value {
    let field = serde_json::json!({"type": "string"});
    serde_json::json!({
        "type": "object",
        "properties": {
            "perspectives": {
                "type": "array",
                "minItems": k,
                "maxItems": k,
                "items": {
                    "type": "object",
                    "properties": {
                        "name": field, "core_value": field, "ethical_framework": field,
                        "right_duty": field, "emotion": field, "stakeholder": field
                    },
                    "required": ["name", "core_value", "ethical_framework", "right_duty", "emotion", "stakeholder"]
                }
            }
        },
        "required": ["perspectives"]
    })
}

impl<M: ChatModel> Pipeline<'_, M> {
    /// The stage-1 request: the perspectives template rendered for k and the item's input.
    pub(super) fn perspectives_request(
        &self,
        settings: &RunSettings,
        item: &Item,
    ) -> Result<ChatRequest, PipelineError> {
        let k = settings.k;
        let prompt = render(
            &settings.templates.perspectives,
            &[("k", &k.to_string()), ("input", item.perspective_input())],
        )?;
        let mut dec = settings.decoding.perspectives;
        dec.max_tokens = stage1_max_tokens(settings, item.mode());
        let messages = with_system(settings, &settings.templates.perspectives_system, prompt);
        let mut req = self.request(settings, &settings.models.perspectives, messages, dec);
        if settings.structured_perspectives {
            req.json_schema = Some(perspectives_schema(k));
        }
        Ok(req)
    }

    pub(super) async fn perspectives_inner(&self) -> Result<Vec<Perspective>, PipelineError> {
        self.observer.stage_changed(Phase::Perspectives);
        let settings = self.settings();
        let item = self.item();
        let k = settings.k;
        let req = self.perspectives_request(&settings, &item)?;
        self.record.update(|r| {
            r.perspectives = Default::default();
            r.comments.clear();
            r.result = None;
        });
        let mut best: Vec<Perspective> = Vec::new();
        let mut failure: Option<ChatError> = None;
        let mut tries = 0;
        for attempt in 1..=settings.max_perspective_tries {
            tries = attempt;
            // A retry with the same seed would repeat the same reply: vary it per try.
            let mut req = req.clone();
            req.seed = req.seed.map(|s| s.wrapping_add(u64::from(attempt - 1)));
            match self
                .call(
                    self.stages.perspectives,
                    Stage::Perspectives,
                    None,
                    attempt,
                    req,
                )
                .await
            {
                Ok(resp) => {
                    let parsed = persona::from_stage1_reply(&resp.text, settings.reference_parsing);
                    self.record.update(|r| {
                        r.perspectives.raw.push(resp.text.clone());
                        r.perspectives.tries = attempt;
                    });
                    if parsed.len() > best.len() {
                        best = parsed;
                    }
                    if best.len() >= k {
                        break;
                    }
                }
                Err(e) => {
                    self.record.update(|r| r.perspectives.tries = attempt);
                    failure = Some(e);
                    break;
                }
            }
        }
        let mut trimmed = 0;
        if !settings.keep_extra && best.len() > k {
            trimmed = best.len() - k;
            best.truncate(k);
        }
        let got = best.len();
        let shortfall = (got < k).then(|| match &failure {
            Some(e) => format!("only {got} of {k} perspectives; the stage-1 call failed: {e}"),
            None => format!("only {got} of {k} perspectives could be read after {tries} tries"),
        });
        self.record.update(|r| {
            r.perspectives.perspectives = best.clone();
            r.perspectives.trimmed = trimmed;
            r.perspectives.shortfall = shortfall;
            r.comments = vec![None; best.len()];
        });
        self.observer.perspectives_ready(&best);
        if got < k {
            return Err(match failure {
                Some(error) if got == 0 => PipelineError::Call {
                    stage: Stage::Perspectives.label(),
                    error,
                },
                _ => PipelineError::TooFewPerspectives {
                    got,
                    wanted: k,
                    tries,
                },
            });
        }
        Ok(best)
    }

    pub(super) async fn regenerate_inner(
        &self,
        index: usize,
    ) -> Result<Perspective, PipelineError> {
        let count = self.record.with(|r| r.perspectives.perspectives.len());
        if index >= count {
            return Err(PipelineError::NoSuchPerspective {
                number: index + 1,
                count,
            });
        }
        let settings = self.settings();
        let item = self.item();
        let mut req = self.perspectives_request(&settings, &item)?;
        // Stage-1 tries use seed, seed + 1, …: past every stage-1 call made so far is fresh.
        let earlier = self
            .record
            .with(|r| r.calls.iter().filter(|c| c.stage.number() == 1).count() as u64);
        req.seed = req.seed.map(|s| s.wrapping_add(earlier));
        self.observer.stage_changed(Phase::Perspectives);
        let stage = Stage::Regenerate(index);
        let resp = self
            .call(self.stages.perspectives, stage, None, 1, req)
            .await
            .map_err(|error| PipelineError::Call {
                stage: stage.label(),
                error,
            })?;
        let board = self.record.with(|r| r.perspectives.perspectives.clone());
        let chosen = choose_replacement(
            persona::from_stage1_reply(&resp.text, settings.reference_parsing),
            &board,
        )
        .ok_or(PipelineError::NoReplacement { number: index + 1 })?;
        let call_id = self.record.with(|r| r.calls_of(stage).last().map(|c| c.id));
        if let Some(id) = call_id {
            self.set_cleaned(id, &chosen.raw);
        }
        let all = self.record.update(|r| {
            r.replace_perspective(index, chosen.clone())
                .map(|()| r.perspectives.perspectives.clone())
                .map_err(|_| PipelineError::NoSuchPerspective {
                    number: index + 1,
                    count: r.perspectives.perspectives.len(),
                })
        })?;
        self.observer.perspectives_ready(&all);
        Ok(chosen)
    }
}
