//! A tiny fork-join pool for the matrix products: the calling thread and up to [`MAX_HELPERS`]
//! helper threads share the chunks of one job.
//!
//! In the browser the helpers are extra Web Workers running [`helper_loop`] on the same shared
//! wasm memory (the threaded build: `+atomics`, served cross-origin isolated); natively they are
//! `std::thread`s (tests). With no helper registered, [`par_chunks`] simply runs every chunk on
//! the caller, so the single-thread builds behave exactly as before.
//!
//! Every chunk computes the same numbers whichever thread runs it, so results are bit-identical
//! to the single-thread run (tested in `fast`).
//!
//! Protocol: the caller publishes a job (closure pointer + chunk count), bumps `EPOCH` and wakes
//! the helpers; everybody claims chunks with `fetch_add` on `NEXT` until none is left, and each
//! helper, once it has run its last chunk, reports the epoch it has left in its own `LEFT` slot.
//! The caller, after its own chunks, returns only when every active helper has left the job:
//! then every chunk is done (each was claimed by the caller or by a helper that has left), the
//! borrowed closure outlives every use, and a late helper can never claim a chunk of the next
//! job with the old closure. One atomic write per chunk, and each shared value on cache lines
//! of its own.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::Mutex;

/// More would not help on the 2–8 cores of the machines this runs on.
pub const MAX_HELPERS: usize = 7;

type JobFn = dyn Fn(usize) + Sync;

struct Slot(UnsafeCell<Option<(*const JobFn, usize)>>);
// SAFETY: the slot is written only by the caller holding `CALLER` while no helper is inside a
// job (every helper has left the previous epoch), and read by helpers only after they observe
// the new `EPOCH` with Acquire ordering (the caller bumps it with Release after writing).
unsafe impl Sync for Slot {}

/// A value alone on its cache lines (128 bytes: x86 fetches lines in pairs), so that threads
/// writing one of these do not take the others' lines away from the threads reading them.
#[repr(align(128))]
struct Line<T>(T);

static JOB: Line<Slot> = Line(Slot(UnsafeCell::new(None)));
static EPOCH: Line<AtomicU32> = Line(AtomicU32::new(0));
/// The next chunk to claim: the only value every thread writes during a job.
static NEXT: Line<AtomicUsize> = Line(AtomicUsize::new(0));
static ACTIVE: Line<AtomicUsize> = Line(AtomicUsize::new(0));
static LEFT: [Line<AtomicU32>; MAX_HELPERS] = [const { Line(AtomicU32::new(0)) }; MAX_HELPERS];
/// One job at a time (the model runs one forward pass at a time; this makes it sound anyway).
static CALLER: Mutex<()> = Mutex::new(());

/// How many helper threads have joined.
pub fn helpers() -> usize {
    ACTIVE.0.load(Ordering::Acquire)
}

/// Run `f(0) … f(n-1)`, spread over the caller and the helpers; returns when all are done.
pub fn par_chunks<'a>(n: usize, f: &'a (dyn Fn(usize) + Sync + 'a)) {
    if helpers() == 0 || n < 2 {
        (0..n).for_each(f);
        return;
    }
    let Ok(_guard) = CALLER.lock() else {
        (0..n).for_each(f);
        return;
    };
    let active = helpers();
    // SAFETY: see `Slot`. The pointer's lifetime is erased; it is used only until this call
    // returns (we wait below for every helper to leave the epoch).
    let ptr: *const JobFn = unsafe {
        std::mem::transmute::<&'a (dyn Fn(usize) + Sync + 'a), &'static JobFn>(f)
    };
    unsafe { *JOB.0 .0.get() = Some((ptr, n)) };
    NEXT.0.store(0, Ordering::Relaxed);
    let epoch = EPOCH.0.load(Ordering::Relaxed).wrapping_add(1);
    EPOCH.0.store(epoch, Ordering::Release);
    wake(&EPOCH.0);
    run_chunks(f, n);
    let mut spins = 0u32;
    while LEFT
        .iter()
        .take(active)
        .any(|l| l.0.load(Ordering::Acquire) != epoch)
    {
        spins = spins.wrapping_add(1);
        std::hint::spin_loop();
        if spins.is_multiple_of(4096) {
            yield_briefly();
        }
    }
    unsafe { *JOB.0 .0.get() = None };
}

fn run_chunks(f: &(dyn Fn(usize) + Sync + '_), n: usize) {
    loop {
        let c = NEXT.0.fetch_add(1, Ordering::Relaxed);
        if c >= n {
            break;
        }
        f(c);
    }
}

/// The body of a helper thread: joins the pool and runs chunks of every job, forever.
pub fn helper_loop() {
    // Join between jobs (the caller holds CALLER during one): a job published before we joined
    // does not count on us, and we start from its epoch.
    let Ok(guard) = CALLER.lock() else { return };
    let me = ACTIVE.0.load(Ordering::Acquire);
    if me >= MAX_HELPERS {
        return;
    }
    let mut seen = EPOCH.0.load(Ordering::Acquire);
    if let Some(l) = LEFT.get(me) {
        l.0.store(seen, Ordering::Release);
    }
    ACTIVE.0.store(me + 1, Ordering::Release);
    drop(guard);
    loop {
        let mut spins = 0u32;
        let epoch = loop {
            let e = EPOCH.0.load(Ordering::Acquire);
            if e != seen {
                break e;
            }
            spins = spins.wrapping_add(1);
            if spins < SPINS_BEFORE_SLEEP {
                std::hint::spin_loop();
            } else {
                sleep_until_changed(&EPOCH.0, seen);
            }
        };
        // SAFETY: the caller wrote the slot before bumping EPOCH (Release; we Acquired it) and
        // keeps it (and the closure) alive until we store `epoch` in LEFT below.
        if let Some((ptr, n)) = unsafe { *JOB.0 .0.get() } {
            let f: &JobFn = unsafe { &*ptr };
            run_chunks(f, n);
        }
        seen = epoch;
        // Release: this helper's chunks (their writes) happen before the caller sees it left.
        if let Some(l) = LEFT.get(me) {
            l.0.store(epoch, Ordering::Release);
        }
    }
}

/// About 50–100 µs of spinning before a helper blocks: a forward pass publishes jobs every few
/// microseconds, a pause between tokens is much longer.
const SPINS_BEFORE_SLEEP: u32 = 200_000;

#[cfg(all(target_arch = "wasm32", target_feature = "atomics"))]
fn wake(a: &AtomicU32) {
    // SAFETY: a valid, aligned i32 in shared memory.
    unsafe {
        core::arch::wasm32::memory_atomic_notify(a.as_ptr().cast::<i32>(), u32::MAX);
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "atomics"))]
fn sleep_until_changed(a: &AtomicU32, seen: u32) {
    // SAFETY: as above; returns at once when the value already differs. 10 ms cap, so a missed
    // wake-up costs at most that.
    unsafe {
        core::arch::wasm32::memory_atomic_wait32(
            a.as_ptr().cast::<i32>(),
            seen as i32,
            10_000_000,
        );
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "atomics"))]
fn yield_briefly() {}

#[cfg(not(all(target_arch = "wasm32", target_feature = "atomics")))]
fn wake(_: &AtomicU32) {}

#[cfg(not(all(target_arch = "wasm32", target_feature = "atomics")))]
fn sleep_until_changed(_: &AtomicU32, _: u32) {
    #[cfg(not(target_arch = "wasm32"))]
    std::thread::sleep(std::time::Duration::from_micros(50));
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "atomics")))]
fn yield_briefly() {
    #[cfg(not(target_arch = "wasm32"))]
    std::thread::yield_now();
}

/// A raw output pointer that chunks on several threads write through, each into its own rows.
pub struct Out<T = f32>(pub *mut T, pub usize);
impl<T> Clone for Out<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Out<T> {}
// SAFETY: used only for disjoint writes inside one `par_chunks` call, which returns after all.
unsafe impl<T: Send> Send for Out<T> {}
unsafe impl<T: Send> Sync for Out<T> {}

impl<T> Out<T> {
    pub fn of(v: &mut [T]) -> Self {
        Out(v.as_mut_ptr(), v.len())
    }

    /// Elements `start .. start + len` as a slice (empty when out of range).
    ///
    /// # Safety
    /// No other thread uses these elements during the same job, and the slice outlives the job.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn slice<'a>(self, start: usize, len: usize) -> &'a mut [T] {
        match start.checked_add(len) {
            Some(end) if end <= self.1 => std::slice::from_raw_parts_mut(self.0.add(start), len),
            _ => &mut [],
        }
    }

    /// Write `value` at `i` (ignored when out of range).
    ///
    /// # Safety
    /// No other thread writes index `i` during the same job, and the slice outlives the job.
    pub unsafe fn set(self, i: usize, value: T) {
        if i < self.1 {
            *self.0.add(i) = value;
        }
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[test]
    fn helpers_share_the_chunks_and_every_chunk_runs_once() {
        std::thread::spawn(helper_loop);
        while helpers() == 0 {
            std::thread::yield_now();
        }
        let counts: Vec<AtomicUsize> = (0..500).map(|_| AtomicUsize::new(0)).collect();
        let by_helper = AtomicUsize::new(0);
        let me = std::thread::current().id();
        for round in 0..200 {
            let n = 1 + round % 37;
            par_chunks(n, &|c| {
                counts[c].fetch_add(1, Ordering::Relaxed);
                if std::thread::current().id() != me {
                    by_helper.fetch_add(1, Ordering::Relaxed);
                }
            });
            // Every chunk of this job ran exactly once before par_chunks returned.
            let total: usize = counts.iter().map(|c| c.swap(0, Ordering::Relaxed)).sum();
            assert_eq!(total, n, "round {round}");
        }
        // The helper takes part. Held, not timed (on a loaded machine the caller may well run
        // every chunk of the rounds above before the helper is scheduled): in this job a chunk
        // on the caller waits until the helper has run one, so the other chunk is left to it.
        // A pool whose helpers never run a chunk fails here after a minute instead of hanging.
        by_helper.store(0, Ordering::Relaxed);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        par_chunks(2, &|_| {
            if std::thread::current().id() != me {
                by_helper.fetch_add(1, Ordering::Release);
                return;
            }
            while by_helper.load(Ordering::Acquire) == 0 {
                assert!(std::time::Instant::now() < deadline, "the helper never took a chunk");
                std::thread::yield_now();
            }
        });
        assert!(by_helper.load(Ordering::Relaxed) > 0, "the helper never took a chunk");
    }
}
