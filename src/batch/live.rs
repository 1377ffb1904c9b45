//! The batch's state as the panel shows it: where the batch is ([`BatchState`]), the live
//! counters of the run in progress ([`Live`]) and what one cell of the items table shows.

use ethos_engine::batch::Outcome;

/// Where the batch is.
#[derive(Debug, Clone, PartialEq)]
pub enum BatchState {
    /// No batch on this device.
    Empty,
    /// Loading the file of a stored batch.
    Loading,
    Ready,
    Running,
    Paused,
    /// Stopped by an error that would hit every item (bad key, unknown model).
    Stopped(String),
    Cancelled,
    Done,
}

impl BatchState {
    pub(super) fn stored(&self) -> &'static str {
        match self {
            BatchState::Running => "running",
            BatchState::Paused => "paused",
            BatchState::Done => "done",
            BatchState::Cancelled => "cancelled",
            _ => "ready",
        }
    }
}

/// Live counters of the run in progress (reset on every start).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Live {
    pub calls_in_flight: u32,
    pub calls_done: u32,
    pub calls_failed: u32,
    pub calls_from_cache: u32,
    pub started_ms: f64,
    /// Elapsed before this start (earlier sessions of the same batch).
    pub earlier_ms: f64,
    /// ∫ calls in flight dt, for the busy-slot share.
    pub(super) busy_integral: f64,
    pub(super) last_change_ms: f64,
    pub limit: u32,
    /// When the last start ended (0 while running).
    pub ended_ms: f64,
}

impl Live {
    pub(super) fn advance(&mut self, now: f64) {
        if self.last_change_ms > 0.0 {
            // Calls started by the pipeline, at most the client's limit (more wait for a slot).
            self.busy_integral += f64::from(self.calls_in_flight.min(self.limit))
                * (now - self.last_change_ms).max(0.0);
        }
        self.last_change_ms = now;
    }
    /// Wall time of the batch so far (all starts).
    pub fn elapsed_ms(&self, now: f64) -> f64 {
        let end = if self.ended_ms > 0.0 {
            self.ended_ms
        } else {
            now
        };
        self.earlier_ms
            + if self.started_ms > 0.0 {
                (end - self.started_ms).max(0.0)
            } else {
                0.0
            }
    }

    /// Share of the call slots (the concurrency limit) busy since the start, 0..1, as the app
    /// sees it: a call counts from its start in the pipeline, so one waiting for a slot of the
    /// client counts too (the latency benchmark measures the server's view).
    pub fn busy_share(&self, now: f64) -> Option<f64> {
        let now = if self.ended_ms > 0.0 {
            self.ended_ms
        } else {
            now
        };
        let span = now - self.started_ms;
        if self.started_ms <= 0.0 || span <= 0.0 || self.limit == 0 {
            return None;
        }
        let pending =
            f64::from(self.calls_in_flight.min(self.limit)) * (now - self.last_change_ms).max(0.0);
        Some(((self.busy_integral + pending) / (span * f64::from(self.limit))).clamp(0.0, 1.0))
    }
}

/// What one cell of the items table shows: the task's outcome, if any, and whether it runs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CellState {
    pub outcome: Option<Outcome>,
    pub running: bool,
}
