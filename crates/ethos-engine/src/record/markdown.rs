//! The Markdown report of a run (the class handout).

use super::export::*;
use super::*;

impl RunRecord {
    /// A readable report of the run (item, settings, perspectives, comments, result, calls and
    /// the exact prompts), suitable as a class handout.
    pub fn to_markdown(&self) -> String {
        let mut md = String::new();
        let item = &self.item;
        let s = &self.settings;
        md.push_str(&format!(
            "# {} on {} — item {}\n\n",
            self.method.label(),
            item.source().label(),
            item.id()
        ));
        md.push_str(&format!(
            "- **Mode:** {}\n- **Status:** {}\n- **Calls:** {} ({} failed), tokens {} in / {} out\n\n",
            self.mode().label(),
            status_label(&self.status),
            self.totals.calls,
            self.totals.failed_calls,
            self.totals.prompt_tokens,
            self.totals.completion_tokens
        ));

        md.push_str("## Item\n\n");
        match item {
            Item::Overton(o) => {
                md.push_str(&md_quote(&o.situation));
                md.push_str("\n\nValues, rights and duties in the reference annotation:\n\n");
                for (v, e) in o.vrd.iter().zip(&o.explanation) {
                    md.push_str(&format!("- **{}**: {}\n", v.trim(), e.trim()));
                }
            }
            Item::Value(v) => {
                md.push_str(&md_quote(&v.situation));
                md.push_str(&format!(
                    "\n\n- **Value, right or duty:** {}\n- **Gold:** {} ({})\n",
                    v.vrd, v.label, v.label_text
                ));
            }
            Item::Choice { item: c, .. } => {
                md.push_str(&md_quote(crate::vital::question_stem(&c.question)));
                md.push_str("\n\n");
                if !c.attribute.is_empty() {
                    let attr = match item.source() {
                        crate::vital::Source::OpinionQa => {
                            let (category, group) = crate::template::split_attribute(&c.attribute);
                            format!("{group} (in terms of {category})")
                        }
                        crate::vital::Source::GlobalOpinionQa => {
                            format!("{} (country)", c.attribute)
                        }
                        _ => c.attribute.clone(),
                    };
                    md.push_str(&format!("- **Attribute:** {attr}\n"));
                }
                for (l, o) in crate::vital::LETTERS.iter().zip(&c.options) {
                    md.push_str(&format!("- **{l}.** {o}\n"));
                }
            }
        }

        md.push_str("\n## Settings\n\n| setting | value |\n|---|---|\n");
        if let Some(line) = crate::reference::preset_summary(s) {
            md.push_str(&format!("| preset | {} |\n", md_cell(&line)));
        }
        let m = &s.models;
        let models = if m.is_single() {
            m.combine.clone()
        } else {
            format!(
                "perspectives: {}; comments: {}; combine: {}",
                m.perspectives, m.comments, m.combine
            )
        };
        let d = &s.decoding;
        for (k, v) in [
            ("models", models),
            (
                "k",
                format!(
                    "{} ({} extra perspectives)",
                    s.k,
                    if s.keep_extra { "keep" } else { "trim" }
                ),
            ),
            ("stage-1 tries (cap)", s.max_perspective_tries.to_string()),
            (
                "stage-1 parsing",
                if s.reference_parsing {
                    "reference (`#` lines only)"
                } else if s.structured_perspectives {
                    "structured JSON (not the reference format)"
                } else {
                    "tolerant (lists, bullets, bold, JSON too)"
                }
                .to_string(),
            ),
            ("concurrency limit", s.concurrency.to_string()),
            (
                "decoding (temperature / max tokens)",
                format!(
                    "stage 1 {:?}/{} ({} distributional); stage 2 {:?}/{}; Overton {:?}/{}; short {:?}/{}",
                    d.perspectives.temperature,
                    d.perspectives.max_tokens,
                    d.perspectives_max_tokens_distributional,
                    d.comments.temperature,
                    d.comments.max_tokens,
                    d.overton.temperature,
                    d.overton.max_tokens,
                    d.short.temperature,
                    d.short.max_tokens
                ),
            ),
            ("distribution method", s.distribution.label()),
            ("top logprobs", s.top_logprobs.to_string()),
            (
                "failed items in batch scores",
                if s.score_failed_as_reference {
                    "scored as the reference does (uniform / unparsed / coverage 0)"
                } else {
                    "left out and counted"
                }
                .to_string(),
            ),
            (
                "raw completion (no chat template)",
                {
                    let r = s.raw_completion;
                    let on: Vec<&str> = [
                        (r.perspectives, "stage 1"),
                        (r.comments, "stage 2"),
                        (r.combine, "stage 3 and baselines"),
                    ]
                    .iter()
                    .filter(|(b, _)| *b)
                    .map(|(_, n)| *n)
                    .collect();
                    if on.is_empty() {
                        "no (chat messages)".to_string()
                    } else {
                        on.join(", ")
                    }
                },
            ),
            (
                "seed",
                if s.per_item_seed {
                    format!(
                        "{} (this item: {}, derived from the seed and the item id)",
                        s.seed,
                        crate::pipeline::item_seed(s.seed, self.item.id())
                    )
                } else {
                    format!("{} (the same for every item)", s.seed)
                },
            ),
            (
                "Overton judge (an LLM estimate of the NLI score)",
                s.judge.label().to_string(),
            ),
            (
                "system message",
                if s.system_role {
                    "yes"
                } else {
                    "merged into the user message"
                }
                .to_string(),
            ),
        ] {
            md.push_str(&format!("| {k} | {} |\n", md_cell(&v)));
        }
        let edited: Vec<&str> = crate::template::TEMPLATE_SPECS
            .iter()
            .filter(|t| !s.templates.is_default(t.name))
            .map(|t| t.name)
            .collect();
        md.push_str(&format!(
            "| templates | {} |\n",
            if edited.is_empty() {
                "defaults".to_string()
            } else {
                format!("edited: {}", edited.join(", "))
            }
        ));

        if !self.perspectives.perspectives.is_empty() || self.perspectives.shortfall.is_some() {
            md.push_str(&format!(
                "\n## Perspectives ({})\n\n",
                self.perspectives.perspectives.len()
            ));
            if let Some(sf) = &self.perspectives.shortfall {
                md.push_str(&format!("*{sf}*\n\n"));
            }
            if self.perspectives.edited {
                md.push_str("*Edited by the user after generation.*\n\n");
            }
            for (i, p) in self.perspectives.perspectives.iter().enumerate() {
                let fields: Vec<&str> = [
                    &p.core_value,
                    &p.framework,
                    &p.right_duty,
                    &p.emotion,
                    &p.stakeholder,
                ]
                .iter()
                .map(|f| f.as_str())
                .filter(|f| !f.is_empty())
                .collect();
                if p.name.is_empty() || fields.is_empty() {
                    md.push_str(&format!("{}. {}\n", i + 1, p.raw));
                } else {
                    md.push_str(&format!(
                        "{}. **{}**: {}\n",
                        i + 1,
                        p.name,
                        fields.join("; ")
                    ));
                }
            }
        }

        if self.comments.iter().any(Option::is_some) {
            md.push_str("\n## Comments\n\n");
            for (i, slot) in self.comments.iter().enumerate() {
                let name = self
                    .perspectives
                    .perspectives
                    .get(i)
                    .map(|p| {
                        if p.name.is_empty() {
                            p.raw.clone()
                        } else {
                            p.name.clone()
                        }
                    })
                    .unwrap_or_default();
                md.push_str(&format!("### {}. {}\n\n", i + 1, name));
                match slot {
                    None => md.push_str("*Not written.*\n\n"),
                    Some(c) if c.error.is_some() => md.push_str(&format!(
                        "*Failed: {}*\n\n",
                        c.error.as_ref().map(|e| e.to_string()).unwrap_or_default()
                    )),
                    Some(c) => {
                        if let Some(l) = c.letter {
                            md.push_str(&format!("Chosen option: **{l}**\n\n"));
                        }
                        md.push_str(&md_quote(&c.cleaned));
                        md.push_str("\n\n");
                        if c.raw != c.cleaned && !c.edited {
                            md.push_str("*A role preamble was removed from the start of the reply (the raw reply is in the record).*\n\n");
                        }
                        if c.edited {
                            md.push_str("*Edited by the user.*\n\n");
                        }
                    }
                }
            }
        }

        md.push_str("\n## Result\n\n");
        match &self.result {
            None => md.push_str("*No result.*\n"),
            Some(RunResult::Overton(o)) => {
                md.push_str(&md_quote(&o.text));
                md.push('\n');
                if let Some(c) = &o.coverage {
                    md.push_str(&format!(
                        "\n**Value coverage** ({}, judge {}): {:.3} — {} the 0.33 threshold.\n\n| value | score |\n|---|---|\n",
                        c.estimator.label(),
                        c.judge_model,
                        c.item_score,
                        if c.covered(crate::metrics::COVERAGE_THRESHOLD) { "above" } else { "not above" }
                    ));
                    if let Item::Overton(it) = item {
                        for (v, p) in it.vrd.iter().zip(&c.per_value) {
                            md.push_str(&format!("| {} | {:.2} |\n", md_cell(v), p));
                        }
                    }
                }
            }
            Some(RunResult::Value(v)) => {
                if let Some(sel) = &v.selection {
                    md.push_str(&selected_line(sel));
                }
                md.push_str(&format!("- **Answer:** {}\n", md_cell(&v.answer)));
                md.push_str(&format!(
                    "- **Parsed (reference parser):** {} — {}\n- **Parsed (strict parser):** {} — {}\n- **Gold:** {}\n",
                    v.letter_reference.map(String::from).unwrap_or_else(|| "none".into()),
                    if v.correct_reference { "correct" } else { "wrong" },
                    v.letter_strict.map(String::from).unwrap_or_else(|| "none".into()),
                    if v.correct_strict { "correct" } else { "wrong" },
                    v.gold
                ));
            }
            Some(RunResult::Distribution(d)) => {
                if let Some(sel) = &d.selection {
                    md.push_str(&selected_line(sel));
                }
                md.push_str(&format!(
                    "- **Distribution method:** {}\n",
                    method_label(d.method)
                ));
                if let Some(n) = &d.note {
                    md.push_str(&format!("- **Note:** {}\n", md_cell(n)));
                }
                if let Some(js) = d.js {
                    md.push_str(&format!(
                        "- **Jensen–Shannon distance (natural log):** {js:.4}\n"
                    ));
                }
                if let Some(a) = d.argmax_match {
                    md.push_str(&format!(
                        "- **Most likely option matches the gold:** {}\n",
                        opt_bool(Some(a))
                    ));
                }
                let gold = item.gold_distribution();
                md.push_str("\n| option | | predicted | gold |\n|---|---|---|---|\n");
                for (i, o) in item.options().iter().enumerate() {
                    let letter = crate::vital::LETTERS.get(i).copied().unwrap_or('?');
                    let p = d
                        .distribution
                        .get(i)
                        .copied()
                        .map(fmt_prob)
                        .unwrap_or_default();
                    let g = gold
                        .and_then(|g| g.get(i))
                        .copied()
                        .map(fmt_prob)
                        .unwrap_or_default();
                    md.push_str(&format!("| {letter} | {} | {p} | {g} |\n", md_cell(o)));
                }
            }
        }

        md.push_str(&crate::poll::markdown(self));

        if !self.calls.is_empty() {
            md.push_str("\n## Calls\n\n| # | stage | model | try | tokens in/out | ms | outcome |\n|---|---|---|---|---|---|---|\n");
            for c in &self.calls {
                let (pin, pout) = c
                    .usage
                    .as_ref()
                    .map(|u| (u.prompt_tokens, u.completion_tokens))
                    .unwrap_or((0, 0));
                let mut outcome = match (&c.error, &c.reply) {
                    (Some(e), _) => md_cell(&e.to_string()),
                    (None, Some(_)) => "ok".into(),
                    (None, None) => "in flight".into(),
                };
                let dropped = c.not_sent();
                if !dropped.is_empty() {
                    outcome.push_str(&format!("; not sent: {}", dropped.join(", ")));
                }
                md.push_str(&format!(
                    "| {} | {}{} | {} | {} | {pin}/{pout} | {} | {outcome} |\n",
                    c.id,
                    c.stage.label(),
                    c.sample
                        .map(|s| format!(" (sample {s})"))
                        .unwrap_or_default(),
                    md_cell(&c.model),
                    c.attempt,
                    c.duration_ms.map(|d| format!("{d:.0}")).unwrap_or_default()
                ));
            }
            md.push_str("\n## Prompts and replies\n\n");
            for c in &self.calls {
                md.push_str(&format!(
                    "<details><summary>Call {}: {}</summary>\n\n",
                    c.id,
                    c.stage.label()
                ));
                for msg in &c.request.messages {
                    md.push_str(&format!(
                        "**{:?}:**\n\n```text\n{}\n```\n\n",
                        msg.role,
                        msg.content.replace("```", "'''")
                    ));
                }
                if let Some(r) = &c.reply {
                    md.push_str(&format!(
                        "**Reply:**\n\n```text\n{}\n```\n\n",
                        r.replace("```", "'''")
                    ));
                }
                md.push_str("</details>\n\n");
            }
        }
        md
    }
}

/// The report's line naming the selected comment (Steerable runs).
fn selected_line(sel: &Selection) -> String {
    let fallback = if sel.fallback {
        " (no number in the reply: seeded random fallback)"
    } else {
        ""
    };
    format!("- **Selected comment:** {}{fallback}\n", sel.index + 1)
}
