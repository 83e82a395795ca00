//! Who runs a call's work items: the calling thread alone, rayon's global
//! pool, or a [`Team`] of spinning worker threads owned by a `Context`.
//!
//! Why a team and not a private rayon pool: a 4096 × 4096 GEMV takes ~90 µs
//! on one core, and a rayon pool's parked workers took tens of µs to wake
//! (a futex wake per worker, and one more for `install`'s caller, each an
//! inter-processor interrupt in a VM). Measured on the 2-core Zen 4 guest,
//! 200 calls each, `Context::with_threads(2)` on a rayon pool: mad_avx512
//! n = 1 median 85 µs with p10/p90 71/137 µs (one thread: 90.6 µs), and
//! lut_g4_avx512 233 µs (one thread: 100 µs). A team's workers spin on an
//! epoch counter for [`SPIN`] after each call (so back-to-back calls, as an
//! inference engine makes them, start in well under a µs) and only then
//! sleep on a condition variable; the calling thread does a worker's share
//! itself instead of waiting for a hop into the pool.

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long an idle worker spins before it sleeps. Long enough to cover
/// the gap between the matmuls of one transformer layer; short enough that
/// an idle context gives its cores back within milliseconds.
const SPIN: Duration = Duration::from_millis(2);

/// A job: `f(slot)` for the slots that join before it closes.
type Job<'a> = dyn Fn(usize) + Sync + 'a;

/// Who runs the items of a call.
#[derive(Clone, Copy)]
pub(crate) enum Workers<'a> {
    /// The calling thread alone.
    Serial,
    /// `threads` workers of the current rayon pool (the caller is one).
    Rayon(usize),
    /// A context's own team (the caller is slot 0).
    Team(&'a Team),
}

impl Workers<'_> {
    /// Worker slots: every `f(slot)` of [`Workers::broadcast`] has
    /// `slot < threads()`.
    pub fn threads(&self) -> usize {
        match self {
            Workers::Serial => 1,
            Workers::Rayon(t) => (*t).max(1),
            Workers::Team(t) => t.threads(),
        }
    }

    /// Runs `f(0)` on the calling thread and `f(slot)` for some of the
    /// other slots (each at most once, concurrently), and returns when all
    /// of them have returned. A slot that is not ready by the time `f(0)`
    /// returns may be skipped, so `f` must share its work dynamically (as
    /// [`crate::exec::run_items`] does): whatever `f(0)` leaves unclaimed
    /// is claimed by the slots that did join.
    pub fn broadcast(&self, f: &Job) {
        match self {
            Workers::Serial => f(0),
            Workers::Rayon(t) => rayon::scope(|s| {
                for slot in 1..*t {
                    s.spawn(move |_| f(slot));
                }
                f(0);
            }),
            Workers::Team(team) => team.run(f),
        }
    }
}

/// Worker threads that spin between jobs. Slot 0 is the caller's.
pub(crate) struct Team {
    shared: Arc<Shared>,
    handles: Vec<JoinHandle<()>>,
}

struct Shared {
    /// Bumped once per job, after `job` and `open` are set.
    epoch: AtomicUsize,
    /// The epoch of the job that workers may still join, or 0.
    open: AtomicUsize,
    /// The open job (a `*const &Job`; valid while `open` names it and for
    /// as long as a worker that saw it open is counted in `active`).
    job: AtomicPtr<()>,
    /// Workers inside the current job.
    active: AtomicUsize,
    /// A worker's `f` panicked during the current job.
    panicked: AtomicBool,
    stop: AtomicBool,
    sleepers: AtomicUsize,
    lock: Mutex<()>,
    wake: Condvar,
}

impl Team {
    /// A team of `threads` slots: `threads − 1` new worker threads.
    pub fn new(threads: usize) -> std::io::Result<Team> {
        let shared = Arc::new(Shared {
            epoch: AtomicUsize::new(0),
            open: AtomicUsize::new(0),
            job: AtomicPtr::new(std::ptr::null_mut()),
            active: AtomicUsize::new(0),
            panicked: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            sleepers: AtomicUsize::new(0),
            lock: Mutex::new(()),
            wake: Condvar::new(),
        });
        let mut team = Team {
            shared,
            handles: Vec::new(),
        };
        for slot in 1..threads.max(1) {
            let shared = Arc::clone(&team.shared);
            let h = std::thread::Builder::new()
                .name(format!("lutgemm-{slot}"))
                .spawn(move || worker(&shared, slot))?;
            // On an error, `team` is dropped and stops the ones started.
            team.handles.push(h);
        }
        Ok(team)
    }

    pub fn threads(&self) -> usize {
        self.handles.len() + 1
    }

    fn run(&self, f: &Job) {
        let s = &*self.shared;
        let job: *const &Job = &f;
        s.job.store(job as *mut (), Ordering::Relaxed);
        // Epochs start at 1 so that `open == 0` means "none".
        let e = s.epoch.load(Ordering::Relaxed) + 1;
        s.open.store(e, Ordering::SeqCst);
        s.epoch.store(e, Ordering::SeqCst);
        if s.sleepers.load(Ordering::SeqCst) > 0 {
            // Taking the lock orders this wake-up after any sleeper's check
            // of the epoch (see `worker`), so none sleeps through it.
            let _g = s.lock.lock().unwrap_or_else(|p| p.into_inner());
            s.wake.notify_all();
        }
        let mine = panic::catch_unwind(AssertUnwindSafe(|| f(0)));
        // Close the job, then wait for the workers that joined it: a
        // worker counts itself in `active` before checking `open`, so
        // after this store every worker either is counted or skips.
        s.open.store(0, Ordering::SeqCst);
        let mut spins = 0u32;
        while s.active.load(Ordering::SeqCst) != 0 {
            spins += 1;
            if spins < 1 << 16 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        if let Err(p) = mine {
            panic::resume_unwind(p);
        }
        if s.panicked.swap(false, Ordering::SeqCst) {
            panic!("a lutgemm worker thread panicked");
        }
    }
}

impl Drop for Team {
    fn drop(&mut self) {
        let s = &*self.shared;
        s.stop.store(true, Ordering::SeqCst);
        {
            let _g = s.lock.lock().unwrap_or_else(|p| p.into_inner());
            s.wake.notify_all();
        }
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}

fn worker(s: &Shared, slot: usize) {
    let mut seen = 0;
    loop {
        // Spin for the next epoch, then sleep.
        let start = Instant::now();
        let mut spins = 0u32;
        let e = loop {
            let e = s.epoch.load(Ordering::SeqCst);
            if e != seen || s.stop.load(Ordering::Relaxed) {
                break e;
            }
            spins = spins.wrapping_add(1);
            if spins % 256 == 0 && start.elapsed() > SPIN {
                let mut g = s.lock.lock().unwrap_or_else(|p| p.into_inner());
                s.sleepers.fetch_add(1, Ordering::SeqCst);
                while s.epoch.load(Ordering::SeqCst) == seen && !s.stop.load(Ordering::SeqCst) {
                    g = s.wake.wait(g).unwrap_or_else(|p| p.into_inner());
                }
                s.sleepers.fetch_sub(1, Ordering::SeqCst);
                drop(g);
                continue;
            }
            std::hint::spin_loop();
        };
        if s.stop.load(Ordering::SeqCst) {
            return;
        }
        seen = e;
        s.active.fetch_add(1, Ordering::SeqCst);
        if s.open.load(Ordering::SeqCst) == e {
            // SAFETY: the job is open and this worker is counted in
            // `active`, so the caller of `run` is still inside it and `f`
            // (borrowed there) is alive.
            let f = unsafe { *s.job.load(Ordering::Relaxed).cast::<&Job>() };
            if panic::catch_unwind(AssertUnwindSafe(|| f(slot))).is_err() {
                s.panicked.store(true, Ordering::SeqCst);
            }
        }
        s.active.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_item_runs_once_and_slots_are_in_range() {
        let team = Team::new(3).unwrap();
        for round in 0..2000 {
            let items = round % 7 + 1;
            let next = AtomicUsize::new(0);
            let hits: Vec<AtomicUsize> = (0..items).map(|_| AtomicUsize::new(0)).collect();
            let bad_slot = AtomicBool::new(false);
            Workers::Team(&team).broadcast(&|slot| {
                if slot >= 3 {
                    bad_slot.store(true, Ordering::Relaxed);
                }
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= items {
                        break;
                    }
                    hits[i].fetch_add(1, Ordering::Relaxed);
                }
            });
            assert!(!bad_slot.load(Ordering::Relaxed));
            assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1));
            if round % 500 == 0 {
                // Let the workers fall asleep, then wake them with a job.
                std::thread::sleep(SPIN * 3);
            }
        }
    }

    #[test]
    fn a_worker_panic_reaches_the_caller() {
        let team = Team::new(2).unwrap();
        let r = panic::catch_unwind(AssertUnwindSafe(|| {
            Workers::Team(&team).broadcast(&|slot| {
                // Slot 0 waits so that slot 1 surely joins.
                if slot == 0 {
                    std::thread::sleep(Duration::from_millis(20));
                } else {
                    panic!("boom");
                }
            })
        }));
        assert!(r.is_err());
        // The team still works afterwards.
        let count = AtomicUsize::new(0);
        Workers::Team(&team).broadcast(&|_| {
            count.fetch_add(1, Ordering::Relaxed);
        });
        assert!(count.load(Ordering::Relaxed) >= 1);
    }
}
