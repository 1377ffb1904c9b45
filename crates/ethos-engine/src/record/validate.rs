//! Checking an imported record for internal consistency (every index, count and score must
//! agree with the rest of the record), so a hand-edited or hostile file is refused with a reason.

use super::*;

impl RunRecord {
    /// Check internal consistency; the message names the first problem.
    pub fn validate(&self) -> Result<(), RecordError> {
        let bad = |m: String| Err(RecordError::Invalid(m));
        if self.version != RECORD_VERSION {
            return Err(RecordError::Version {
                found: self.version,
                supported: RECORD_VERSION,
            });
        }
        if let Err(e) = self.settings.validate() {
            return bad(format!("settings: {e}"));
        }
        for (i, call) in self.calls.iter().enumerate() {
            if call.id as usize != i {
                return bad(format!(
                    "call {i} has id {} (ids must be 0, 1, 2, … in order)",
                    call.id
                ));
            }
            if let Some(d) = call.duration_ms {
                if !d.is_finite() || d < 0.0 {
                    return bad(format!("call {i} has an invalid duration {d}"));
                }
            }
        }
        if self.comments.len() > self.perspectives.perspectives.len() {
            return bad(format!(
                "{} comment slots for {} perspectives",
                self.comments.len(),
                self.perspectives.perspectives.len()
            ));
        }
        for (i, slot) in self.comments.iter().enumerate() {
            if let Some(c) = slot {
                if c.index != i {
                    return bad(format!(
                        "comment slot {} holds comment {}",
                        i + 1,
                        c.index + 1
                    ));
                }
                if let Some(id) = c.call_id {
                    if id as usize >= self.calls.len() {
                        return bad(format!(
                            "comment {} refers to call {id}, which is not in the record",
                            i + 1
                        ));
                    }
                }
            }
        }
        let n_options = self.item.options().len();
        if let Some(p) = &self.poll {
            if let Err(e) = p.validate(n_options) {
                return bad(format!("class poll: {e}"));
            }
        }
        if let Some(result) = &self.result {
            if !result.fits(self.mode()) {
                return bad(format!(
                    "the result does not fit a {} item",
                    self.mode().label()
                ));
            }
            match result {
                RunResult::Distribution(d) => {
                    if d.distribution.len() != n_options {
                        return bad(format!(
                            "the distribution has {} values for {} options",
                            d.distribution.len(),
                            n_options
                        ));
                    }
                    if d.distribution.iter().any(|p| !p.is_finite() || *p < 0.0) {
                        return bad("the distribution has a negative or non-finite value".into());
                    }
                    for (j, r) in d.per_read.iter().enumerate() {
                        if let Some(r) = r {
                            if r.probs.len() != n_options {
                                return bad(format!(
                                    "read {} has {} values for {} options",
                                    j + 1,
                                    r.probs.len(),
                                    n_options
                                ));
                            }
                        }
                    }
                    if let Some(s) = &d.selection {
                        if s.index >= self.comments.len() {
                            return bad(format!(
                                "selection {} is beyond the {} comments",
                                s.index + 1,
                                self.comments.len()
                            ));
                        }
                    }
                }
                RunResult::Value(v) => {
                    if let Some(s) = &v.selection {
                        if s.index >= self.comments.len() {
                            return bad(format!(
                                "selection {} is beyond the {} comments",
                                s.index + 1,
                                self.comments.len()
                            ));
                        }
                    }
                }
                RunResult::Overton(_) => {}
            }
        }
        let totals = compute_totals(&self.calls);
        if totals != self.totals {
            return bad(format!(
                "totals say {} calls / {} tokens but the calls add up to {} / {}",
                self.totals.calls,
                self.totals.prompt_tokens + self.totals.completion_tokens,
                totals.calls,
                totals.prompt_tokens + totals.completion_tokens
            ));
        }
        Ok(())
    }
}
