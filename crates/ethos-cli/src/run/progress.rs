//! The batch's observer: persists every finished call and task as it happens, and shows progress
//! on stderr (a bar redrawn in place on a terminal, one line per finished task otherwise).

use ethos_engine::batch::{self, BatchObserver, BatchStore, Outcome, Task};
use ethos_engine::chat::ChatResponse;
use ethos_engine::record::RunRecord;
use ethos_engine::vital::Item;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::io::Write;
use std::time::{Duration, Instant};

/// Where progress goes: on a terminal an indicatif bar (permanent lines printed above it),
/// otherwise one line per event on the sink.
pub struct Display {
    /// The bar, when stderr is a terminal.
    bar: Option<ProgressBar>,
    /// Where lines go when there is no bar (None: silent).
    sink: Option<Box<dyn Write>>,
}

impl Display {
    pub fn stderr() -> Self {
        use std::io::IsTerminal;
        if std::io::stderr().is_terminal() {
            Self::with_bar(ProgressDrawTarget::stderr())
        } else {
            Display {
                bar: None,
                sink: Some(Box::new(std::io::stderr())),
            }
        }
    }
    /// A bar drawn on `target` (stderr, or an in-memory terminal in tests).
    fn with_bar(target: ProgressDrawTarget) -> Self {
        let bar = ProgressBar::with_draw_target(None, target);
        bar.set_style(
            ProgressStyle::with_template("{msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        Display {
            bar: Some(bar),
            sink: None,
        }
    }
    /// No output (tests).
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn silent() -> Self {
        Display {
            bar: None,
            sink: None,
        }
    }
    pub fn is_tty(&self) -> bool {
        self.bar.is_some()
    }
    /// A permanent line (above the bar on a terminal).
    pub fn line(&mut self, text: &str) {
        if let Some(bar) = &self.bar {
            bar.println(text);
        } else if let Some(s) = self.sink.as_mut() {
            let _ = writeln!(s, "{text}");
            let _ = s.flush();
        }
    }
    fn bar(&mut self, text: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(text.to_string());
        }
    }
}

/// What a run did (see [`Live::tally`]).
pub struct Tally {
    /// Every outcome: loaded at the start, then this run's in finishing order.
    pub outcomes: Vec<Outcome>,
    /// Tasks finished in this run.
    pub ran: usize,
    /// Calls that reached the provider / were answered from the stored calls.
    pub fresh_calls: u64,
    pub cached_calls: u64,
    /// Why the batch stopped launching tasks, if it did.
    pub stopped: Option<String>,
    /// The first error writing a state file.
    pub write_error: Option<String>,
    pub elapsed_ms: f64,
}

pub struct Live<'a> {
    items: &'a [Item],
    all: &'a [Task],
    in_flight: usize,
    display: RefCell<&'a mut Display>,
    store: RefCell<Box<dyn BatchStore + 'a>>,
    /// Outcomes loaded at the start, then those of this run.
    outcomes: RefCell<Vec<Outcome>>,
    /// Outcomes of this run.
    ran: Cell<usize>,
    running: RefCell<HashSet<Task>>,
    /// Calls of this run: started / finished (fresh or cached) / failed / fresh and stored.
    calls_started: Cell<u64>,
    calls_finished: Cell<u64>,
    calls_failed: Cell<u64>,
    stored: Cell<u64>,
    tokens: Cell<u64>,
    started: Instant,
    last_bar: Cell<Option<Instant>>,
    /// The first error writing a state file (the run goes on; the end reports it).
    write_error: RefCell<Option<String>>,
    stopped: RefCell<Option<String>>,
}

/// `1234` -> "1234", `45_200` -> "45.2k", `3_100_000` -> "3.1M".
pub fn compact(n: u64) -> String {
    match n {
        0..=9_999 => n.to_string(),
        10_000..=999_999 => format!("{:.1}k", n as f64 / 1e3),
        _ => format!("{:.1}M", n as f64 / 1e6),
    }
}

/// `75_000` ms -> "1m15s".
pub fn duration(ms: f64) -> String {
    let s = (ms.max(0.0) / 1000.0).round() as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

impl<'a> Live<'a> {
    pub fn new(
        items: &'a [Item],
        all: &'a [Task],
        in_flight: usize,
        loaded: Vec<Outcome>,
        store: Box<dyn BatchStore + 'a>,
        display: &'a mut Display,
    ) -> Self {
        Live {
            items,
            all,
            in_flight,
            display: RefCell::new(display),
            store: RefCell::new(store),
            outcomes: RefCell::new(loaded),
            ran: Cell::new(0),
            running: RefCell::new(HashSet::new()),
            calls_started: Cell::new(0),
            calls_finished: Cell::new(0),
            calls_failed: Cell::new(0),
            stored: Cell::new(0),
            tokens: Cell::new(0),
            started: Instant::now(),
            last_bar: Cell::new(None),
            write_error: RefCell::new(None),
            stopped: RefCell::new(None),
        }
    }

    /// Whether an error that would hit every task stopped the batch.
    pub fn is_stopped(&self) -> bool {
        self.stopped.borrow().is_some()
    }

    /// What the run did, for the summary.
    pub fn tally(&self) -> Tally {
        Tally {
            outcomes: self.outcomes.borrow().clone(),
            ran: self.ran.get(),
            fresh_calls: self.fresh_calls(),
            cached_calls: self.cached_calls(),
            stopped: self.stopped.borrow().clone(),
            write_error: self.write_error.borrow().clone(),
            elapsed_ms: self.started.elapsed().as_secs_f64() * 1000.0,
        }
    }
    /// Calls of this run that reached the provider (stored, and failed ones).
    fn fresh_calls(&self) -> u64 {
        self.stored.get() + self.calls_failed.get()
    }
    /// Calls of this run answered from the cache.
    fn cached_calls(&self) -> u64 {
        (self.calls_finished.get() - self.calls_failed.get()).saturating_sub(self.stored.get())
    }

    fn persist(&self, result: Result<(), String>) {
        if let Err(e) = result {
            let mut slot = self.write_error.borrow_mut();
            if slot.is_none() {
                if let Ok(mut d) = self.display.try_borrow_mut() {
                    d.line(&format!(
                        "ethos run: {e} (the run goes on, but cannot resume from here)"
                    ));
                }
                *slot = Some(e);
            }
        }
    }

    /// The progress line: done / running / failed / remaining, calls, tokens, elapsed, time left.
    pub fn status(&self) -> String {
        let outcomes = self.outcomes.borrow();
        let c = batch::counts(self.all, &outcomes, &self.running.borrow());
        let total = self.all.len().max(1);
        let width = 20;
        let filled = (c.done + c.failed) * width / total;
        let bar: String = (0..width)
            .map(|i| if i < filled { '#' } else { '.' })
            .collect();
        let left = Some(c.remaining + c.running)
            .filter(|n| *n > 0)
            .and_then(|n| batch::eta_ms(&outcomes, n, self.in_flight))
            .map(|ms| format!(", ~{} left", duration(ms)))
            .unwrap_or_default();
        let cached = self.cached_calls();
        format!(
            "[{bar}] {}/{} done, {} running, {} failed, {} remaining | {} calls{} ({} open), {} tokens | {}{left}",
            c.done,
            self.all.len(),
            c.running,
            c.failed,
            c.remaining,
            self.fresh_calls(),
            if cached > 0 {
                format!(" + {cached} from cache")
            } else {
                String::new()
            },
            self.calls_started.get() - self.calls_finished.get(),
            compact(self.tokens.get()),
            duration(self.started.elapsed().as_secs_f64() * 1000.0),
        )
    }

    /// A permanent line (above the bar on a terminal).
    pub fn line(&self, text: &str) {
        if let Ok(mut d) = self.display.try_borrow_mut() {
            d.line(text);
        }
    }

    /// Redraw the bar (a terminal only), at most every 100 ms unless `force`.
    pub fn draw(&self, force: bool) {
        let Ok(mut d) = self.display.try_borrow_mut() else {
            return;
        };
        if !d.is_tty() {
            return;
        }
        let now = Instant::now();
        if !force
            && self
                .last_bar
                .get()
                .is_some_and(|t| now.duration_since(t) < Duration::from_millis(100))
        {
            return;
        }
        self.last_bar.set(Some(now));
        let line = self.status();
        d.bar(&line);
    }

    fn task_line(&self, o: &Outcome) -> String {
        let id = self
            .items
            .get(o.task.item)
            .map(|i| i.id().to_string())
            .unwrap_or_else(|| "?".into());
        let c = {
            let outcomes = self.outcomes.borrow();
            batch::counts(self.all, &outcomes, &self.running.borrow())
        };
        let head = format!(
            "[{}/{}] id {id} {}",
            c.done + c.failed,
            self.all.len(),
            o.task.method.label()
        );
        let cost = format!(
            "{} calls{}, {} tokens, {:.1} s",
            o.calls,
            if o.cached_calls > 0 {
                format!(" + {} from cache", o.cached_calls)
            } else {
                String::new()
            },
            compact(o.prompt_tokens + o.completion_tokens),
            o.ms / 1000.0
        );
        match &o.error {
            None => format!("{head}: done ({cost})"),
            Some(e) => format!("{head}: FAILED: {e} ({cost}; its finished calls are kept)"),
        }
    }
}

impl BatchObserver for Live<'_> {
    fn task_started(&self, task: Task) {
        self.running.borrow_mut().insert(task);
        self.draw(false);
    }
    fn call_started(&self, _task: Task) {
        self.calls_started.set(self.calls_started.get() + 1);
        self.draw(false);
    }
    fn call_finished(&self, _task: Task, ok: bool) {
        self.calls_finished.set(self.calls_finished.get() + 1);
        if !ok {
            self.calls_failed.set(self.calls_failed.get() + 1);
        }
        self.draw(false);
    }
    fn call_stored(&self, key: &str, response: &ChatResponse) {
        self.stored.set(self.stored.get() + 1);
        if let Some(u) = &response.usage {
            self.tokens.set(
                self.tokens.get() + u64::from(u.prompt_tokens) + u64::from(u.completion_tokens),
            );
        }
        let res = self.store.borrow_mut().put_call(key, response);
        self.persist(res);
    }
    fn task_finished(&self, outcome: &Outcome, record: &RunRecord) {
        let res = self.store.borrow_mut().put_outcome(outcome, Some(record));
        self.persist(res);
        self.running.borrow_mut().remove(&outcome.task);
        self.outcomes.borrow_mut().push(outcome.clone());
        self.ran.set(self.ran.get() + 1);
        let tty = self
            .display
            .try_borrow()
            .map(|d| d.is_tty())
            .unwrap_or(false);
        // On a terminal only failures get a line of their own; the bar shows the rest.
        if !tty || outcome.error.is_some() {
            let line = self.task_line(outcome);
            if let Ok(mut d) = self.display.try_borrow_mut() {
                d.line(&line);
            }
        }
        self.draw(true);
    }
    fn stopped(&self, reason: &str) {
        let msg =
            format!("stopping: {reason} (this would fail every further task; none is started)");
        if let Ok(mut d) = self.display.try_borrow_mut() {
            d.line(&msg);
        }
        let mut s = self.stopped.borrow_mut();
        if s.is_none() {
            *s = Some(reason.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{compact, duration, Display};
    use indicatif::{InMemoryTerm, ProgressDrawTarget};

    #[test]
    fn on_a_terminal_lines_go_above_the_bar() {
        let term = InMemoryTerm::new(10, 100);
        let mut d = Display::with_bar(ProgressDrawTarget::term_like(Box::new(term.clone())));
        assert!(d.is_tty());
        d.bar("[#...] 1/4 done");
        d.line("[1/4] id C_001 EthosAgents: done (13 calls, 2.1k tokens, 4.0 s)");
        d.bar("[##..] 2/4 done");
        let screen = term.contents();
        let lines: Vec<&str> = screen.lines().collect();
        assert_eq!(
            lines,
            [
                "[1/4] id C_001 EthosAgents: done (13 calls, 2.1k tokens, 4.0 s)",
                "[##..] 2/4 done"
            ],
            "{screen}"
        );
    }

    #[test]
    fn figures_are_short() {
        assert_eq!(compact(812), "812");
        assert_eq!(compact(45_200), "45.2k");
        assert_eq!(compact(3_100_000), "3.1M");
        assert_eq!(duration(400.0), "0s");
        assert_eq!(duration(75_000.0), "1m15s");
        assert_eq!(duration(3_725_000.0), "1h02m");
        assert_eq!(duration(-5.0), "0s");
    }
}
