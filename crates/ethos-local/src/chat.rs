//! [`ethos_engine::ChatModel`] over an in-process [`LocalModel`].

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use ethos_engine::chat::{ChatError, ChatModel, ChatRequest, ChatResponse};

use crate::runtime::{LocalError, LocalModel};

/// A local model as a chat model. Calls run one at a time (the model has one KV cache); the
/// future completes synchronously. `cancel()` stops a running call between two tokens.
pub struct LocalChat {
    model: RefCell<LocalModel>,
    cancel: Arc<AtomicBool>,
}

impl LocalChat {
    pub fn new(model: LocalModel) -> Self {
        Self {
            model: RefCell::new(model),
            cancel: Arc::new(AtomicBool::new(false)),
        }
    }

    /// A handle that cancels the running call when set (reset at the start of each call).
    pub fn cancel_handle(&self) -> Arc<AtomicBool> {
        self.cancel.clone()
    }

    pub fn with_model<R>(&self, f: impl FnOnce(&mut LocalModel) -> R) -> Result<R, ChatError> {
        let mut m = self
            .model
            .try_borrow_mut()
            .map_err(|_| ChatError::Other("the local model is busy with another call".into()))?;
        Ok(f(&mut m))
    }
}

pub(crate) fn to_chat_error(e: LocalError) -> ChatError {
    match e {
        LocalError::Cancelled => ChatError::Cancelled,
        LocalError::ContextFull { .. } => ChatError::BadRequest {
            status: 400,
            message: e.to_string(),
        },
        other => ChatError::Other(other.to_string()),
    }
}

impl ChatModel for LocalChat {
    async fn chat(
        &self,
        req: &ChatRequest,
        on_delta: &mut dyn FnMut(&str),
    ) -> Result<ChatResponse, ChatError> {
        self.cancel.store(false, Ordering::SeqCst);
        let cancel = self.cancel.clone();
        self.with_model(|m| {
            m.run(req, &mut |piece| {
                on_delta(piece);
                !cancel.load(Ordering::SeqCst)
            })
        })?
        .map_err(to_chat_error)
    }
}
