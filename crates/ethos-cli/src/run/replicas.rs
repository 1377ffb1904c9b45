//! Several endpoints serving one model (`--base-url` repeated): replicas of a local server, a
//! lab's GPU boxes. Each has its own client and its own concurrency limit; every call goes to the
//! replica with the fewest calls in flight (ties taken in turn), so the load follows the speed of
//! each box and a slow one does not hold up the others.

use ethos_engine::chat::{ChatError, ChatModel, ChatRequest, ChatResponse};
use ethos_providers::{Client, Transport};
use std::cell::Cell;

pub struct Replicas<T> {
    clients: Vec<Client<T>>,
    /// Where the next tie-break starts.
    turn: Cell<usize>,
    /// Calls sent to each replica.
    sent: Vec<Cell<u64>>,
}

impl<T: Transport> Replicas<T> {
    /// `clients` must not be empty (the command line requires one `--base-url` at least).
    pub fn new(clients: Vec<Client<T>>) -> Self {
        let sent = clients.iter().map(|_| Cell::new(0)).collect();
        Replicas {
            clients,
            turn: Cell::new(0),
            sent,
        }
    }

    /// Calls sent to each replica, with its base URL.
    pub fn counts(&self) -> Vec<(String, u64)> {
        self.clients
            .iter()
            .zip(&self.sent)
            .map(|(c, n)| (c.endpoint().base_url.clone(), n.get()))
            .collect()
    }

    /// The replica with the fewest calls in flight relative to its limit (a full one only when
    /// all are full), ties in turn.
    fn pick(&self) -> Option<usize> {
        let n = self.clients.len();
        let start = self.turn.get() % n.max(1);
        let load = |i: usize| {
            let l = self.clients[i].limiter();
            (l.in_use() >= l.limit(), l.in_use())
        };
        let best = (0..n).map(|o| (start + o) % n).min_by_key(|&i| load(i))?;
        self.turn.set(best + 1);
        Some(best)
    }
}

impl<T: Transport> ChatModel for Replicas<T> {
    async fn chat(
        &self,
        req: &ChatRequest,
        on_delta: &mut dyn FnMut(&str),
    ) -> Result<ChatResponse, ChatError> {
        let i = self
            .pick()
            .ok_or_else(|| ChatError::Other("no endpoint is configured".into()))?;
        self.sent[i].set(self.sent[i].get() + 1);
        self.clients[i].chat(req, on_delta).await
    }
}
