//! What a record says about one of its parts while the run goes on (for the views).

use super::*;

/// The state of one perspective's comment.
#[derive(Debug, Clone, PartialEq)]
pub enum CommentState {
    /// Not started yet (or its last try failed and a retry is coming).
    Pending,
    /// Its call `id` is streaming.
    Streaming(u32),
    Done {
        text: String,
        letter: Option<char>,
        edited: bool,
    },
    Error(String),
}

impl RunRecord {
    /// The state of the comment of perspective `index`: its stored comment if there is one,
    /// else the latest call for it.
    pub fn comment_state(&self, index: usize) -> CommentState {
        if let Some(Some(c)) = self.comments.get(index) {
            return match &c.error {
                Some(e) => CommentState::Error(e.to_string()),
                None => CommentState::Done {
                    text: c.cleaned.clone(),
                    letter: c.letter,
                    edited: c.edited,
                },
            };
        }
        match self
            .calls
            .iter()
            .rev()
            .find(|c| c.stage == Stage::Comment(index))
        {
            Some(c) if !c.is_finished() => CommentState::Streaming(c.id),
            Some(c) => match &c.error {
                Some(e) => CommentState::Error(e.to_string()),
                None => CommentState::Pending,
            },
            None => CommentState::Pending,
        }
    }
}
