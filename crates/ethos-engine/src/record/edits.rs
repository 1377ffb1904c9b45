//! Edits a user makes to a finished or stopped run: perspectives set, edited, replaced, added or
//! removed, comments edited; each clears what depended on it.

use super::*;

impl RunRecord {
    /// Replace the perspectives by user-edited ones; comments and result are cleared (they depend
    /// on them).
    pub fn set_perspectives(&mut self, perspectives: Vec<Perspective>) {
        self.perspectives.perspectives = perspectives;
        self.perspectives.edited = true;
        self.perspectives.shortfall = None;
        self.comments.clear();
        self.result = None;
    }

    /// Replace one perspective by a user-edited one; only its comment and the result are
    /// cleared. Its raw line (what stage 2 receives) is rebuilt from the edited fields, as the
    /// reference's `#` line without the `#`.
    pub fn edit_perspective(
        &mut self,
        index: usize,
        mut perspective: Perspective,
    ) -> Result<(), RecordError> {
        perspective.raw = perspective
            .to_line()
            .trim_start_matches('#')
            .trim()
            .to_string();
        self.replace_perspective(index, perspective)?;
        self.perspectives.edited = true;
        Ok(())
    }

    /// Put `perspective` in slot `index` (a regenerated one, or an edit); only its comment and
    /// the result are cleared. Does not mark the perspectives as edited by the user.
    pub fn replace_perspective(
        &mut self,
        index: usize,
        perspective: Perspective,
    ) -> Result<(), RecordError> {
        let n = self.perspectives.perspectives.len();
        let slot = self
            .perspectives
            .perspectives
            .get_mut(index)
            .ok_or_else(|| {
                RecordError::Invalid(format!(
                    "there is no perspective {} (there are {n})",
                    index + 1
                ))
            })?;
        *slot = perspective;
        if let Some(c) = self.comments.get_mut(index) {
            *c = None;
        }
        self.result = None;
        Ok(())
    }

    /// Add a perspective at the end; its comment is to be written. The other comments are kept;
    /// the result is cleared.
    pub fn add_perspective(&mut self, perspective: Perspective) {
        let n = self.perspectives.perspectives.len();
        self.comments.resize(n, None);
        self.perspectives.perspectives.push(perspective);
        self.comments.push(None);
        self.perspectives.edited = true;
        self.result = None;
    }

    /// Remove perspective `index` and its comment, keeping the other comments (re-numbered to
    /// their new positions); the result is cleared. An index out of range removes nothing.
    pub fn remove_perspective(&mut self, index: usize) {
        if index < self.perspectives.perspectives.len() {
            self.perspectives.perspectives.remove(index);
        }
        if index < self.comments.len() {
            self.comments.remove(index);
        }
        for (i, c) in self.comments.iter_mut().enumerate() {
            if let Some(c) = c {
                c.index = i;
            }
        }
        self.perspectives.edited = true;
        self.result = None;
    }

    /// Indices of perspectives whose comment is missing or failed (what a "continue" run writes).
    pub fn missing_comments(&self) -> Vec<usize> {
        (0..self.perspectives.perspectives.len())
            .filter(|&i| {
                !self
                    .comments
                    .get(i)
                    .and_then(Option::as_ref)
                    .is_some_and(CommentRecord::is_ok)
            })
            .collect()
    }

    /// Replace one comment's text by the user's; the result is cleared.
    pub fn edit_comment(&mut self, index: usize, text: &str) -> Result<(), RecordError> {
        let n_persp = self.perspectives.perspectives.len();
        let perspective = self
            .perspectives
            .perspectives
            .get(index)
            .map(|p| p.raw.clone())
            .ok_or_else(|| {
                RecordError::Invalid(format!(
                    "there is no perspective {} (there are {n_persp})",
                    index + 1
                ))
            })?;
        if self.comments.len() < n_persp {
            self.comments.resize(n_persp, None);
        }
        let n_options = self.item.options().len();
        let letter = if n_options > 0 {
            crate::distribution::leading_letter(text, n_options)
        } else {
            None
        };
        if let Some(slot) = self.comments.get_mut(index) {
            *slot = Some(CommentRecord {
                index,
                perspective,
                call_id: None,
                raw: text.to_string(),
                cleaned: text.to_string(),
                letter,
                edited: true,
                error: None,
            });
        }
        self.result = None;
        Ok(())
    }

    /// Whether the run on screen is out of date: it has perspectives, and a comment is missing or
    /// failed, or there is no result ("Re-run what changed").
    pub fn needs_rerun(&self) -> bool {
        !self.perspectives.perspectives.is_empty()
            && (self.result.is_none() || !self.missing_comments().is_empty())
    }
}
